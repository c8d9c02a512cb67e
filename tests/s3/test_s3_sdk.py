"""busta.s3 applies the policy and limits of the busta client given as ``sdk=`` (``client=`` is boto3's),
in every call, against a real moto S3 server."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import pytest

from busta import AlgorithmSuite, Client, CommitmentPolicy, s3
from busta.errors import LimitExceededError, PolicyError, SignedMessageError, UsageError
from busta.format import parse_header
from busta.keyrings import MultiKeyring, RawAesKeyring

from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

REGION = "us-west-2"
BUCKET = "busta-sdk-test"
KEYRING = RawAesKeyring("s3-sdk-tests", "k1", os.urandom(32))
NEW_KEYRING = RawAesKeyring("s3-sdk-tests", "k2", os.urandom(32))
TWO_KEYS = MultiKeyring(generator=KEYRING, children=[NEW_KEYRING])
PLAINTEXT = os.urandom(10_000)
COMMITTING_UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
COMMITTING_SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
V1_UNSIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
ALLOW = Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
FORBID = Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", REGION)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3_client


def put(client: Any, key: str, suite: AlgorithmSuite = COMMITTING_UNSIGNED) -> bytes:
    """Store a message of ``suite`` at ``key`` and return it."""
    maker = FORBID if not suite.committing else Client()
    message = maker.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=suite, frame_length=4096)
    client.put_object(Bucket=BUCKET, Key=key, Body=message)
    return message


def suite_at(client: Any, key: str) -> AlgorithmSuite:
    parsed = parse_header(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert parsed is not None
    return parsed.header.suite


def download(client: Any, how: str, key: str, sdk: Client | None, tmp: Path) -> bytes:
    """The plaintext of ``key`` through download_fileobj, download_file or get_range, under ``sdk``."""
    if how == "get_range":
        return s3.get_range(
            BUCKET, key, 0, 1 << 30, client=client, sdk=sdk, keyring=KEYRING, allow_unverified_signature=True
        )
    if how == "download_file":
        s3.download_file(BUCKET, key, tmp / "out", client=client, sdk=sdk, keyring=KEYRING)
        return (tmp / "out").read_bytes()
    sink = io.BytesIO()
    s3.download_fileobj(BUCKET, key, sink, client=client, sdk=sdk, keyring=KEYRING)
    return sink.getvalue()


DOWNLOADS = ["download_fileobj", "download_file", "get_range"]


@pytest.mark.parametrize("how", ["upload_fileobj", "upload_file"])
def test_uploads_apply_the_sdks_commitment_policy_and_data_key_limit(client: Any, how: str, tmp_path: Path) -> None:
    source = tmp_path / "plain"
    source.write_bytes(PLAINTEXT)

    def upload(key: str, sdk: Client | None, keyring: Any = KEYRING) -> s3.UploadResult:
        if how == "upload_file":
            return s3.upload_file(source, BUCKET, key, client=client, sdk=sdk, keyring=keyring)
        return s3.upload_fileobj(io.BytesIO(PLAINTEXT), BUCKET, key, client=client, sdk=sdk, keyring=keyring)

    assert upload(f"{how}/default", None).suite.committing
    assert not upload(f"{how}/forbid", FORBID).suite.committing
    assert not suite_at(client, f"{how}/forbid").committing
    with pytest.raises(LimitExceededError):
        upload(f"{how}/two-keys", Client(max_encrypted_data_keys=1), TWO_KEYS)
    assert upload(f"{how}/two-keys", Client(max_encrypted_data_keys=2), TWO_KEYS).plaintext_length == len(PLAINTEXT)


@pytest.mark.parametrize("how", DOWNLOADS)
def test_downloads_apply_the_sdks_commitment_policy(client: Any, how: str, tmp_path: Path) -> None:
    put(client, "v1", V1_UNSIGNED)
    with pytest.raises(PolicyError):
        download(client, how, "v1", None, tmp_path)
    assert download(client, how, "v1", ALLOW, tmp_path) == PLAINTEXT


@pytest.mark.parametrize("how", DOWNLOADS)
def test_downloads_apply_the_sdks_limits_and_refuse_signed(client: Any, how: str, tmp_path: Path) -> None:
    message = put(client, "signed", COMMITTING_SIGNED)
    parsed = parse_header(message)
    assert parsed is not None
    with pytest.raises(LimitExceededError):
        download(client, how, "signed", Client(max_header_bytes=parsed.length - 1), tmp_path)
    with pytest.raises(SignedMessageError):
        download(client, how, "signed", Client(refuse_signed=True), tmp_path)
    assert download(client, how, "signed", Client(max_header_bytes=parsed.length), tmp_path) == PLAINTEXT


def test_a_one_key_limit_refuses_two_data_keys_in_a_download(client: Any, tmp_path: Path) -> None:
    message = Client().encrypt(PLAINTEXT, keyring=TWO_KEYS, algorithm=COMMITTING_UNSIGNED)
    client.put_object(Bucket=BUCKET, Key="two-keys", Body=message)
    for how in DOWNLOADS:
        with pytest.raises(LimitExceededError):
            download(client, how, "two-keys", Client(max_encrypted_data_keys=1), tmp_path)
        assert download(client, how, "two-keys", Client(max_encrypted_data_keys=2), tmp_path) == PLAINTEXT


def test_rewrap_object_applies_the_sdks_policy_and_data_key_limit(client: Any) -> None:
    put(client, "rotate-v1", V1_UNSIGNED)
    with pytest.raises(PolicyError):
        s3.rewrap_object(BUCKET, "rotate-v1", client=client, keyring=KEYRING, new_keyring=NEW_KEYRING)
    one_key = dataclasses.replace(ALLOW, max_encrypted_data_keys=1)
    with pytest.raises(LimitExceededError):
        s3.rewrap_object(BUCKET, "rotate-v1", client=client, sdk=one_key, keyring=KEYRING, new_keyring=TWO_KEYS)
    s3.rewrap_object(BUCKET, "rotate-v1", client=client, sdk=ALLOW, keyring=KEYRING, new_keyring=NEW_KEYRING)
    rotated = client.get_object(Bucket=BUCKET, Key="rotate-v1")["Body"].read()
    assert ALLOW.decrypt(rotated, keyring=NEW_KEYRING).plaintext == PLAINTEXT


def test_rewrap_object_applies_the_sdks_header_limit(client: Any) -> None:
    message = put(client, "rotate-limit")
    parsed = parse_header(message)
    assert parsed is not None
    small = Client(max_header_bytes=parsed.length - 1)
    with pytest.raises(LimitExceededError):
        s3.rewrap_object(BUCKET, "rotate-limit", client=client, sdk=small, keyring=KEYRING, new_keyring=NEW_KEYRING)
    assert client.get_object(Bucket=BUCKET, Key="rotate-limit")["Body"].read() == message  # left as it was


def test_an_sdk_that_is_not_a_busta_client_is_a_usage_error(client: Any, tmp_path: Path) -> None:
    put(client, "plain")
    boto3_by_mistake: Any = client
    with pytest.raises(UsageError, match=r"busta\.Client"):
        s3.download_fileobj(BUCKET, "plain", io.BytesIO(), client=client, sdk=boto3_by_mistake, keyring=KEYRING)
    with pytest.raises(UsageError, match=r"busta\.Client"):
        s3.upload_fileobj(io.BytesIO(b"x"), BUCKET, "x", client=client, sdk=boto3_by_mistake, keyring=KEYRING)
