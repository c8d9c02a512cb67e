"""Shared fixtures: keys and keyrings made fresh for each test session."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from busta import AlgorithmSuite, CommitmentPolicy
from busta.keyrings import RawAesKeyring
from busta.streaming import workers

ALL_SUITES = list(AlgorithmSuite)


def policy_for(suite: AlgorithmSuite) -> CommitmentPolicy:
    """The policy that lets ``suite`` encrypt (and decrypt)."""
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


@pytest.fixture(scope="session")
def aes_key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="session")
def aes_keyring(aes_key: bytes) -> RawAesKeyring:
    return RawAesKeyring("test-namespace", "test-key", aes_key)


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(params=["serial", "parallel"])
def engine_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test against the serial engine and against the parallel one.

    "parallel" lowers the thresholds so that even the smallest runs of frames
    are split across threads and signed runs are hashed on another thread;
    "serial" raises them so that nothing is.
    """
    low = request.param == "parallel"
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", 1 if low else 1 << 62)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1 if low else 1 << 62)
    monkeypatch.setattr(workers, "MIN_PARALLEL_STREAM_RUN_BYTES", 1 if low else 1 << 62)
    return str(request.param)
