"""Large objects in bulk jobs: one Dask task per part of the destination's multipart upload.

Against a real ``distributed.LocalCluster`` (worker processes) and moto's S3
server on 127.0.0.1. An object of at least twice ``split_part_size`` written to
S3 goes as begin -> parts -> finish tasks when its frames can be handled apart:

- encrypting with an unsigned suite gives the same bytes a one-task encryption
  would (same length, same layout) and the official SDK decrypts it;
- decrypting an unsigned message is split too; a damaged frame fails the object,
  and the multipart upload is aborted, so nothing is written and nothing is left;
- signed messages and encrypt-only keyrings fall back to one task per object.

The split path is proven to have run by the destination's part count: split
parts are ``split_part_size`` bytes of plaintext, one-task uploads ``part_size``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest

import busta
from busta import bulk
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import aws_environment, local_cluster
from ..support.moto_server import MotoServer
from ..support.oracle import AesKeySpec, official_decrypt

MiB = 1 << 20
SPLIT = 5 * MiB  # S3's smallest part: the smallest split
BUCKET = "bulk-split"
KEY_VARIABLE = "BUSTA_TEST_SPLIT_KEY"
NAMESPACE, NAME = "bulk-split", "key-1"


@pytest.fixture(scope="module")
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto.with_bucket(BUCKET, "us-west-2")


@pytest.fixture(scope="module")
def dask_client(key: bytes, server: MotoServer) -> Iterator[Any]:
    # Workers inherit the environment as it is when they start: the key and S3 credentials go in first.
    with local_cluster({KEY_VARIABLE: base64.b64encode(key).decode(), **aws_environment()}) as client:
        yield client


@pytest.fixture(scope="module")
def s3(server: MotoServer) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def sources(s3: Any) -> dict[str, bytes]:
    """Two objects that split (12 MiB; 15 MiB + 7 B) and two that do not (9 MiB; 100 B)."""
    data = {
        "a": os.urandom(12 * MiB),
        "b": os.urandom(15 * MiB + 7),
        "c": os.urandom(9 * MiB),
        "d": os.urandom(100),
    }
    for name, body in data.items():
        s3.put_object(Bucket=BUCKET, Key=f"raw/{name}", Body=body)
    return data


def _run(dask_client: Any, server: MotoServer, operation: str, src: str, dst: str, **options: Any) -> bulk.BulkReport:
    settings = bulk.S3Settings(endpoint_url=server.endpoint, region="us-west-2")
    keyring = EnvKey(KEY_VARIABLE, NAMESPACE, NAME)
    return bulk.run(
        operation,
        f"s3://{BUCKET}/{src}/",
        f"s3://{BUCKET}/{dst}/",
        keyring=keyring,
        client=dask_client,
        s3=settings,
        split_part_size=SPLIT,
        **options,
    )


def _get(s3: Any, key: str) -> bytes:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def _parts(s3: Any, key: str) -> int:
    """How many parts the object was uploaded in (1 for a single PutObject)."""
    return int(s3.head_object(Bucket=BUCKET, Key=key, PartNumber=1).get("PartsCount", 1))


def _no_uploads_left(s3: Any) -> bool:
    return not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


@pytest.mark.parametrize("frame_length", [4096, 65536, 1000])
def test_a_split_encryption_writes_the_message_one_task_would_and_the_split_decryption_restores_it(
    dask_client: Any, server: MotoServer, s3: Any, sources: dict[str, bytes], key: bytes, frame_length: int
) -> None:
    enc, dec = f"enc-{frame_length}", f"dec-{frame_length}"
    report = _run(dask_client, server, "encrypt", "raw", enc, algorithm=0x0478, frame_length=frame_length)
    assert report.ok, report.failures
    assert report.count("done") == 4
    keyring = RawAesKeyring(NAMESPACE, NAME, key)
    for name, plaintext in sources.items():
        message = _get(s3, f"{enc}/{name}.enc")
        assert busta.decrypt(message, keyring=keyring).plaintext == plaintext
        one_task = busta.encrypt(plaintext, keyring=keyring, algorithm=0x0478, frame_length=frame_length)
        assert len(message) == len(one_task)
    # 12 MiB and 15 MiB went as parts of 5 MiB of plaintext rounded up to whole frames;
    # 9 MiB (< 2 x 5 MiB) as one task's 8 MiB parts.
    per_part = -(-SPLIT // frame_length) * frame_length
    assert _parts(s3, f"{enc}/a.enc") == -(-len(sources["a"]) // per_part)
    assert _parts(s3, f"{enc}/b.enc") == -(-len(sources["b"]) // per_part) > 2
    assert _parts(s3, f"{enc}/c.enc") == 2

    report = _run(dask_client, server, "decrypt", enc, dec)
    assert report.ok, report.failures
    for name, plaintext in sources.items():
        assert _get(s3, f"{dec}/{name}") == plaintext
    assert _parts(s3, f"{dec}/b") == 4  # 15 MiB + 7 B of plaintext in 5 MiB parts
    assert _no_uploads_left(s3)


def test_the_official_sdk_decrypts_an_object_encrypted_in_parts(
    dask_client: Any, server: MotoServer, s3: Any, sources: dict[str, bytes], key: bytes
) -> None:
    report = _run(dask_client, server, "encrypt", "raw", "enc-official", algorithm=0x0478, frame_length=4096)
    assert report.ok, report.failures
    plaintext, _ = official_decrypt(_get(s3, "enc-official/b.enc"), keys=[AesKeySpec(NAMESPACE, NAME, key)])
    assert plaintext == sources["b"]


def test_a_rerun_of_a_split_job_skips_every_object(
    dask_client: Any, server: MotoServer, s3: Any, sources: dict[str, bytes]
) -> None:
    first = _run(dask_client, server, "encrypt", "raw", "enc-rerun", algorithm=0x0478)
    etags = {name: s3.head_object(Bucket=BUCKET, Key=f"enc-rerun/{name}.enc")["ETag"] for name in sources}
    again = _run(dask_client, server, "encrypt", "raw", "enc-rerun", algorithm=0x0478)
    assert first.count("done") == 4
    assert again.count("skipped") == 4
    assert {name: s3.head_object(Bucket=BUCKET, Key=f"enc-rerun/{name}.enc")["ETag"] for name in sources} == etags


def test_a_damaged_frame_fails_its_object_and_leaves_no_object_and_no_upload(
    dask_client: Any, server: MotoServer, s3: Any, sources: dict[str, bytes], key: bytes
) -> None:
    keyring = RawAesKeyring(NAMESPACE, NAME, key)
    message = bytearray(busta.encrypt(sources["a"], keyring=keyring, algorithm=0x0478))
    message[len(message) // 2] ^= 1  # a frame in the middle: one part task fails, the others succeed
    s3.put_object(Bucket=BUCKET, Key="damaged/a.enc", Body=bytes(message))
    s3.put_object(
        Bucket=BUCKET, Key="damaged/b.enc", Body=busta.encrypt(sources["b"], keyring=keyring, algorithm=0x0478)
    )
    report = _run(dask_client, server, "decrypt", "damaged", "damaged-out")
    assert not report.ok
    (failure,) = report.failures
    assert failure.source.endswith("damaged/a.enc")
    assert "AuthenticationError" in failure.error
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="damaged-out/").get("Contents", [])
    assert [item["Key"] for item in listed] == ["damaged-out/b"]
    assert _no_uploads_left(s3)


def test_signed_messages_are_decrypted_whole_by_one_task(
    dask_client: Any, server: MotoServer, s3: Any, sources: dict[str, bytes]
) -> None:
    report = _run(dask_client, server, "encrypt", "raw", "signed")  # the default suite is signed: one task each
    assert report.ok, report.failures
    assert _parts(s3, "signed/a.enc") == 2  # 8 MiB parts: not split
    report = _run(dask_client, server, "decrypt", "signed", "signed-out")
    assert report.ok, report.failures
    assert _get(s3, "signed-out/a") == sources["a"]
    assert _parts(s3, "signed-out/a") == 2
