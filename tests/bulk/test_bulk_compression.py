"""Bulk jobs and compressed messages, on a real local Dask cluster: decrypt decompresses, key rotation
keeps a compressed message compressed (header-only for unsigned suites, re-encrypted for signed)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import bulk
from busta.compression import COMPRESSION_CONTEXT_KEY
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import aws_environment, local_cluster

OLD, NEW, NAMESPACE = "BUSTA_TEST_BULK_ZSTD_OLD", "BUSTA_TEST_BULK_ZSTD_NEW", "bulk-zstd-tests"
OLD_KEY, NEW_KEY = EnvKey(OLD, NAMESPACE, "old"), EnvKey(NEW, NAMESPACE, "new")
TEXT = b"".join(b"%06d a line of a log file\n" % i for i in range(40_000))
SUITES = {"unsigned": 0x0478, "signed": 0x0578}


@pytest.fixture(scope="module")
def secrets() -> dict[str, bytes]:
    return {OLD: os.urandom(32), NEW: os.urandom(32)}


@pytest.fixture(scope="module")
def dask_client(secrets: dict[str, bytes]) -> Iterator[Any]:
    environment = {name: base64.b64encode(secret).decode() for name, secret in secrets.items()}
    with local_cluster({**aws_environment(), **environment}, workers=1) as client:
        yield client


def _keyring(secrets: dict[str, bytes], name: str) -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "old" if name == OLD else "new", secrets[name])


def test_a_decrypt_job_decompresses_and_a_rewrap_job_keeps_messages_compressed(
    dask_client: Any, secrets: dict[str, bytes], tmp_path: Path
) -> None:
    (tmp_path / "enc").mkdir()
    old = _keyring(secrets, OLD)
    for name, suite in SUITES.items():
        message = busta.encrypt(TEXT, keyring=old, algorithm=suite, frame_length=4096, compression="zstd")
        (tmp_path / "enc" / f"{name}.enc").write_bytes(message)

    decrypted = bulk.run("decrypt", str(tmp_path / "enc"), str(tmp_path / "dec"), keyring=OLD_KEY, client=dask_client)
    assert decrypted.ok, [r.error for r in decrypted.results]
    for name in SUITES:
        assert (tmp_path / "dec" / name).read_bytes() == TEXT

    rotated = bulk.run(
        "rewrap", str(tmp_path / "enc"), str(tmp_path / "rot"), keyring=OLD_KEY, new_keyring=NEW_KEY, client=dask_client
    )
    assert rotated.ok, [r.error for r in rotated.results]
    new = _keyring(secrets, NEW)
    for name in SUITES:
        message = (tmp_path / "rot" / f"{name}.enc").read_bytes()
        assert len(message) < len(TEXT) // 5  # still compressed
        result = busta.decrypt(message, keyring=new)
        assert result.plaintext == TEXT
        assert result.encryption_context[COMPRESSION_CONTEXT_KEY] == "zstd"
