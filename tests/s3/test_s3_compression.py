"""busta.s3 and compressed messages, against a real moto S3 server: downloads decompress, ranged reads
refuse (random access does not apply to a compressed message)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import Client, s3
from busta.errors import LimitExceededError, UsageError
from busta.keyrings import RawAesKeyring

from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

REGION = "us-west-2"
BUCKET = "busta-compression-test"
KEYRING = RawAesKeyring("s3-compression-tests", "k1", os.urandom(32))
TEXT = b"".join(b"row %d of a table that compresses well\n" % i for i in range(100_000))
UNSIGNED = busta.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", REGION)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    message = busta.encrypt(TEXT, keyring=KEYRING, algorithm=UNSIGNED, frame_length=4096, compression="zstd")
    s3_client.put_object(Bucket=BUCKET, Key="compressed", Body=message)
    return s3_client


def test_downloads_decompress_a_compressed_object(client: Any, tmp_path: Path) -> None:
    sink = io.BytesIO()
    result = s3.download_fileobj(BUCKET, "compressed", sink, client=client, keyring=KEYRING)
    assert sink.getvalue() == TEXT
    assert result.plaintext_length == len(TEXT)
    s3.download_file(BUCKET, "compressed", tmp_path / "out", client=client, keyring=KEYRING)
    assert (tmp_path / "out").read_bytes() == TEXT


def test_a_download_applies_the_sdks_decompression_limit(client: Any, tmp_path: Path) -> None:
    with pytest.raises(LimitExceededError):
        s3.download_file(
            BUCKET,
            "compressed",
            tmp_path / "out",
            client=client,
            keyring=KEYRING,
            sdk=Client(max_decompressed_bytes=1000),
        )
    assert not (tmp_path / "out").exists()


def test_a_ranged_read_of_a_compressed_object_is_refused(client: Any) -> None:
    with pytest.raises(UsageError, match="random access does not apply to a compressed message"):
        s3.get_range(BUCKET, "compressed", 0, 100, client=client, keyring=KEYRING)


def test_an_upload_with_compression_stores_a_smaller_message_recording_zstd(client: Any, tmp_path: Path) -> None:
    source = tmp_path / "table.txt"
    source.write_bytes(TEXT)
    result = s3.upload_file(source, BUCKET, "uploaded", client=client, keyring=KEYRING, compression="zstd")
    assert result.plaintext_length == len(TEXT) and result.object_size < len(TEXT) // 3
    stored = client.get_object(Bucket=BUCKET, Key="uploaded")["Body"].read()
    assert busta.decrypt(stored, keyring=KEYRING).plaintext == TEXT
    assert busta.decrypt(stored, keyring=KEYRING).encryption_context["busta-compression"] == "zstd"
    with pytest.raises(UsageError, match="compression"):
        s3.upload_file(source, BUCKET, "refused", client=client, keyring=KEYRING, compression="gzip")


def test_an_upload_declaring_its_length_refuses_a_stream_that_yields_more(client: Any) -> None:
    """plaintext_length is what the materials manager is told (a cache needs it): the stream must keep it."""
    with pytest.raises(busta.errors.BustaError):
        s3.upload_fileobj(io.BytesIO(TEXT), BUCKET, "short", client=client, keyring=KEYRING, plaintext_length=10)
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="short")
    done = s3.upload_fileobj(
        io.BytesIO(TEXT), BUCKET, "exact", client=client, keyring=KEYRING, plaintext_length=len(TEXT)
    )
    assert done.plaintext_length == len(TEXT)
