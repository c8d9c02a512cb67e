"""busta.bulk.run applies the policy of the busta client given as ``sdk=`` in every task
(``client=`` is the Dask client), on a real local Dask cluster."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from busta import AlgorithmSuite, Client, CommitmentPolicy, bulk
from busta.errors import UsageError
from busta.format import parse_header
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import aws_environment, local_cluster

VARIABLE, NAMESPACE = "BUSTA_TEST_BULK_SDK_KEY", "bulk-sdk-tests"
KEY = EnvKey(VARIABLE, NAMESPACE, "k")
V1_UNSIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
ALLOW = Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
FORBID = Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)


@pytest.fixture(scope="module")
def secret() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def dask_client(secret: bytes) -> Iterator[Any]:
    """One worker process that sees the key (set before it starts)."""
    with local_cluster({**aws_environment(), VARIABLE: base64.b64encode(secret).decode()}, workers=1) as client:
        yield client


def test_a_decrypt_job_applies_the_sdks_commitment_policy(dask_client: Any, secret: bytes, tmp_path: Path) -> None:
    keyring = RawAesKeyring(NAMESPACE, "k", secret)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "old.enc").write_bytes(FORBID.encrypt(b"v1 data", keyring=keyring, algorithm=V1_UNSIGNED))

    refused = bulk.run("decrypt", str(tmp_path / "in"), str(tmp_path / "strict"), keyring=KEY, client=dask_client)
    assert refused.count("failed") == 1
    assert "PolicyError" in refused.results[0].error
    assert not (tmp_path / "strict" / "old").exists()

    allowed = bulk.run(
        "decrypt", str(tmp_path / "in"), str(tmp_path / "out"), keyring=KEY, client=dask_client, sdk=ALLOW
    )
    assert allowed.ok, [r.error for r in allowed.results]
    assert (tmp_path / "out" / "old").read_bytes() == b"v1 data"


def test_an_encrypt_job_applies_the_sdks_commitment_policy(dask_client: Any, secret: bytes, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "file").write_bytes(b"data")
    report = bulk.run(
        "encrypt", str(tmp_path / "in"), str(tmp_path / "out"), keyring=KEY, client=dask_client, sdk=FORBID
    )
    assert report.ok, [r.error for r in report.results]
    message = (tmp_path / "out" / "file.enc").read_bytes()
    parsed = parse_header(message)
    assert parsed is not None
    assert not parsed.header.suite.committing  # FORBID's default suite, not busta's committing one
    assert ALLOW.decrypt(message, keyring=RawAesKeyring(NAMESPACE, "k", secret)).plaintext == b"data"


def test_an_sdk_that_is_not_a_busta_client_is_refused_before_any_task(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    not_a_client: Any = object()
    with pytest.raises(UsageError, match=r"busta\.Client"):
        bulk.run("encrypt", str(tmp_path / "in"), str(tmp_path / "out"), keyring=KEY, client=object(), sdk=not_a_client)
