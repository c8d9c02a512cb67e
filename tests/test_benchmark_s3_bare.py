"""The S3 benchmark's bare request loops make busta.s3's requests and move the bytes unchanged.

They are the floor of busta's own transfers in ``benchmarks.s3_transfer`` (the same parts and
ranges, as many at once, without encryption), so they must store and fetch exactly what they are
given. Against moto's S3 server on 127.0.0.1; no timing here.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.s3_transfer import BARE_CONCURRENCY, BUCKET, PART, _counting, bare_download, bare_upload
from tests.support.moto_server import MotoServer

REGION = "us-west-2"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with MotoServer() as server:
        s3 = server.client("s3", REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


def test_the_bare_upload_stores_the_file_in_parts_of_busta_s_size(client: Any, tmp_path: Path) -> None:
    data = os.urandom(PART + 12_345)  # two parts: a whole one and the rest
    source = tmp_path / "plain"
    source.write_bytes(data)
    with _counting(client) as seen:
        bare_upload(client, source, BARE_CONCURRENCY)
    assert seen == collections.Counter(CreateMultipartUpload=1, UploadPart=2, CompleteMultipartUpload=1)
    assert client.get_object(Bucket=BUCKET, Key="bare")["Body"].read() == data


def test_the_bare_download_writes_each_range_at_its_offset(client: Any, tmp_path: Path) -> None:
    data = os.urandom(2 * PART + 777)  # three ranges, the last short
    client.put_object(Bucket=BUCKET, Key="boto3", Body=data)
    out = tmp_path / "out"
    out.write_bytes(b"x" * (3 * PART))  # longer than the object: cut to its size
    with _counting(client) as seen:
        bare_download(client, out, BARE_CONCURRENCY)
    assert seen == collections.Counter(HeadObject=1, GetObject=3)
    assert out.read_bytes() == data


def test_the_bare_download_pins_every_range_to_the_etag_as_busta_does(client: Any, tmp_path: Path) -> None:
    client.put_object(Bucket=BUCKET, Key="boto3", Body=os.urandom(PART + 1))
    pinned: list[str | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        pinned.append(params.get("IfMatch"))

    client.meta.events.register("provide-client-params.s3.GetObject", record, unique_id="bare-pinned")
    try:
        bare_download(client, tmp_path / "out", BARE_CONCURRENCY)
    finally:
        client.meta.events.unregister("provide-client-params.s3.GetObject", unique_id="bare-pinned")
    etag = client.head_object(Bucket=BUCKET, Key="boto3")["ETag"]
    assert pinned == [etag, etag]
