"""The S3 calls busta.s3 exports for the layers above it (busta.bulk), against a real S3 server (moto)."""

from __future__ import annotations

from typing import Any

import pytest

from busta import s3
from busta.errors import S3Error

from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

REGION = "us-west-2"
BUCKET = "busta-public-calls"


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", REGION)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3_client


def _uploads(client: Any) -> list[str]:
    return sorted(upload["Key"] for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


def test_abort_uploads_aborts_the_uploads_to_exactly_that_key(client: Any) -> None:
    for key in ("jobs/a", "jobs/a", "jobs/ab", "jobs/b"):
        client.create_multipart_upload(Bucket=BUCKET, Key=key)
    s3.abort_uploads(client, BUCKET, "jobs/a")
    assert _uploads(client) == ["jobs/ab", "jobs/b"]  # "jobs/ab" shares the prefix and is left alone
    s3.abort_uploads(client, BUCKET, "jobs/ab")
    s3.abort_uploads(client, BUCKET, "jobs/b")
    assert _uploads(client) == []


def test_abort_uploads_in_a_missing_bucket_is_an_s3_error(client: Any) -> None:
    with pytest.raises(S3Error, match="ListMultipartUploads") as caught:
        s3.abort_uploads(client, "busta-no-such-bucket", "k")
    assert "NoSuchBucket" in str(caught.value)


def test_fetch_range_and_properties_of_read_a_pinned_object(client: Any) -> None:
    put = client.put_object(Bucket=BUCKET, Key="obj", Body=b"0123456789", ContentType="text/plain", Metadata={"a": "1"})
    etag = put["ETag"]
    assert s3.fetch_range(client, BUCKET, "obj", 2, 5, etag=etag, size=10) == b"234"
    kept = s3.properties_of(client, BUCKET, "obj", etag=etag)
    assert kept["ContentType"] == "text/plain" and kept["Metadata"] == {"a": "1"}
    client.put_object(Bucket=BUCKET, Key="obj", Body=b"replaced")
    with pytest.raises(S3Error, match="PreconditionFailed"):
        s3.fetch_range(client, BUCKET, "obj", 0, 4, etag=etag)


def test_s3_error_maps_any_exception_into_the_error_tree() -> None:
    error = s3.s3_error("ListObjectsV2", "bucket", "prefix/", ConnectionResetError("reset by peer"))
    assert isinstance(error, S3Error)
    assert "ConnectionResetError" in str(error) and "reset by peer" in str(error)
