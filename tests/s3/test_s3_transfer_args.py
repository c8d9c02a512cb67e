"""busta.s3 at boto3's level: ``ExtraArgs`` routed to each S3 call, ``Callback`` progress, a default client.

Against moto's S3 server on 127.0.0.1. moto stores what it is given but does not
enforce SSE-C keys, RequestPayer or ExpectedBucketOwner, so for those the tests
record what each request carried.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite, s3
from busta.errors import S3Error, UsageError

from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, PROJECT_ROOT, SECRET_KEY, MotoServer
from .test_s3 import (
    BUCKET,
    CONTEXT,
    KEYRING,
    OTHER_KEYRING,
    PART,
    REGION,
    FailingSource,
    assert_nothing_left,
    client,
    get_object,
    key,
    plaintext,
)

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
MULTIPART = 2 * PART + 123  # three parts


@contextlib.contextmanager
def requests(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record (operation, parameters) of every S3 request the client builds."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append((model.name, dict(params)))

    client.meta.events.register("provide-client-params.s3", record, unique_id="busta-test-params")
    try:
        yield seen
    finally:
        client.meta.events.unregister("provide-client-params.s3", unique_id="busta-test-params")


def upload(client: Any, key: str, data: bytes, **options: Any) -> s3.UploadResult:
    options = {"keyring": KEYRING, "encryption_context": CONTEXT, "part_size": PART, **options}
    return s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, **options)


PROPERTIES: s3.UploadExtraArgs = {
    "ContentType": "application/x-busta",
    "ContentDisposition": "attachment; filename=export.bin",
    "ContentLanguage": "en",
    "CacheControl": "no-store",
    "StorageClass": "STANDARD_IA",
    "Tagging": "team=data&tier=gold",
    "ServerSideEncryption": "AES256",
    "WebsiteRedirectLocation": "/elsewhere",
    "Metadata": {"origin": "nightly"},
}


@pytest.mark.parametrize("size", [1000, MULTIPART], ids=["put-object", "multipart"])
def test_extra_args_reach_the_object(client: Any, key: str, size: int) -> None:
    data = plaintext(size)
    result = upload(client, key, data, ExtraArgs=PROPERTIES, metadata={"batch": "7"})
    assert result.parts == (0 if size < PART else 3)
    head = client.head_object(Bucket=BUCKET, Key=key)
    for name in ("ContentType", "ContentDisposition", "ContentLanguage", "CacheControl", "StorageClass"):
        assert head[name] == PROPERTIES[name]
    assert head["ServerSideEncryption"] == "AES256"
    assert head["WebsiteRedirectLocation"] == "/elsewhere"
    assert head["Metadata"] == {"origin": "nightly", "batch": "7"}  # ExtraArgs' Metadata joins metadata=
    tags = client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("team", "data"), ("tier", "gold")]
    assert busta.decrypt(get_object(client, key), keyring=KEYRING).plaintext == data


def test_sse_c_key_and_payer_go_to_every_part_and_the_completion(client: Any, key: str) -> None:
    sse_c: s3.UploadExtraArgs = {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": os.urandom(32),
        "RequestPayer": "requester",
        "ExpectedBucketOwner": "123456789012",
    }
    with requests(client) as seen:
        upload(client, key, plaintext(MULTIPART), ExtraArgs=sse_c, algorithm=UNSIGNED)
    by_operation: dict[str, list[dict[str, Any]]] = {}
    for operation, params in seen:
        by_operation.setdefault(operation, []).append(params)
    assert len(by_operation["UploadPart"]) == 3
    for operation in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
        for params in by_operation[operation]:
            assert {name: params.get(name) for name in sse_c} == sse_c, operation
    download: s3.DownloadExtraArgs = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": sse_c["SSECustomerKey"]}
    with requests(client) as seen:
        out = io.BytesIO()
        s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING, ExtraArgs=download)
    assert out.getvalue() == plaintext(MULTIPART)
    assert [op for op, _ in seen] == ["GetObject"]
    assert seen[0][1]["SSECustomerKey"] == sse_c["SSECustomerKey"]


def test_abort_carries_payer_and_owner(client: Any, key: str) -> None:
    extra: s3.UploadExtraArgs = {"RequestPayer": "requester", "ExpectedBucketOwner": "123456789012"}
    source = FailingSource(plaintext(3 * PART), fail_after=2 * PART + 1)
    with requests(client) as seen, pytest.raises(OSError, match="the source went away"):
        s3.upload_fileobj(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART, ExtraArgs=extra)  # type: ignore[arg-type]
    aborts = [params for op, params in seen if op == "AbortMultipartUpload"]
    assert len(aborts) == 1 and {k: aborts[0].get(k) for k in extra} == extra
    assert_nothing_left(client, key)


def test_checksum_algorithm_checksums_every_part(client: Any, key: str) -> None:
    with requests(client) as seen:
        upload(client, key, plaintext(MULTIPART), ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    parts = next(params for op, params in seen if op == "CompleteMultipartUpload")["MultipartUpload"]["Parts"]
    assert len(parts) == 3 and all(part.get("ChecksumSHA256") for part in parts)
    assert client.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED").get("ChecksumSHA256")


def test_parts_are_checksummed_with_crc32_by_default_as_boto3_does(client: Any, key: str) -> None:
    assert client.meta.config.request_checksum_calculation == "when_supported"  # botocore's default
    with requests(client) as seen:
        upload(client, key, plaintext(MULTIPART))
    create = next(params for op, params in seen if op == "CreateMultipartUpload")
    assert create["ChecksumAlgorithm"] == "CRC32"
    parts = next(params for op, params in seen if op == "CompleteMultipartUpload")["MultipartUpload"]["Parts"]
    assert all(part.get("ChecksumCRC32") for part in parts)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ContentTyp": "text/plain"}, r"no key 'ContentTyp' \(did you mean 'ContentType'\?\)"),
        ({"ContentMD5": "x"}, "ContentMD5.*refused.*ciphertext"),
        ({"ChecksumSHA256": "x"}, "ChecksumSHA256.*refused"),
        ({"ContentLength": 5}, "ContentLength.*refused"),
        ({"Body": b"x"}, "Body.*refused"),
        ({"BucketKeyEnabled": "yes"}, "BucketKeyEnabled.*must be bool"),
        ({"Metadata": {"a": 1}}, "Metadata.*str to str"),
        ({"Metadata": {"batch": "other"}}, "metadata key 'batch' is given twice"),
        ({"VersionId": "v"}, "no key 'VersionId'"),  # a download argument
    ],
)
def test_bad_extra_args_are_refused_before_any_request(client: Any, key: str, extra: Any, message: str) -> None:
    with requests(client) as seen, pytest.raises(UsageError, match=message):
        upload(client, key, b"data", ExtraArgs=extra, metadata={"batch": "7"})
    assert seen == []


def test_record_context_clashes_with_metadata_of_the_same_key(client: Any, key: str) -> None:
    extra: s3.UploadExtraArgs = {"Metadata": {s3.CONTEXT_METADATA_KEY: "mine"}}
    with requests(client) as seen, pytest.raises(UsageError, match="given twice"):
        upload(client, key, b"data", ExtraArgs=extra, record_context=True)
    assert seen == []


@pytest.mark.parametrize("extra", [{"ContentType": "x"}, {"Range": "bytes=0-1"}, {"IfMatch": "x"}])
def test_bad_download_extra_args_are_refused(client: Any, key: str, extra: Any) -> None:
    with requests(client) as seen, pytest.raises(UsageError, match="ExtraArgs of download has no key"):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING, ExtraArgs=extra)
    assert seen == []


def test_download_extra_args_pick_a_version(moto_server: MotoServer, client: Any) -> None:
    bucket = "busta-versions"
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.upload_fileobj(io.BytesIO(b"first"), bucket, "k", client=client, keyring=KEYRING)
    assert first.parts == 0
    versions = client.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]
    s3.upload_fileobj(io.BytesIO(b"second"), bucket, "k", client=client, keyring=KEYRING)
    out = io.BytesIO()
    old: s3.DownloadExtraArgs = {"VersionId": versions[0]["VersionId"]}
    s3.download_fileobj(bucket, "k", out, client=client, keyring=KEYRING, ExtraArgs=old)
    assert out.getvalue() == b"first"
    ranged = s3.get_range(
        bucket, "k", 1, 3, client=client, keyring=KEYRING, allow_unverified_signature=True,
        ExtraArgs=old,
    )  # fmt: skip
    assert ranged == b"ir"


# -- Callback ------------------------------------------------------------------------------------------------


class Progress:
    """A boto3-style Callback that records each call and the thread it ran on."""

    def __init__(self, fail_after: int | None = None):
        self.calls: list[int] = []
        self.threads: set[int] = set()
        self.fail_after = fail_after  # bytes

    def __call__(self, transferred: int) -> None:
        self.calls.append(transferred)
        self.threads.add(threading.get_ident())
        if self.fail_after is not None and sum(self.calls) >= self.fail_after:
            raise KeyboardInterrupt  # what a person pressing Ctrl-C in a progress bar raises


def test_upload_callback_counts_plaintext_bytes_read(client: Any, key: str, tmp_path: Path) -> None:
    data = plaintext(MULTIPART)
    progress = Progress()
    result = upload(client, key, data, Callback=progress)
    assert sum(progress.calls) == len(data) == result.plaintext_length < result.object_size
    assert all(n > 0 for n in progress.calls) and len(progress.calls) > 3
    assert progress.threads == {threading.get_ident()}  # never on the part uploaders' threads
    source = tmp_path / "plain"
    source.write_bytes(data)
    progress = Progress()
    s3.upload_file(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART, Callback=progress)
    assert sum(progress.calls) == len(data)


@pytest.mark.parametrize("how", ["fileobj", "file-sequential", "file-ranges"])
def test_download_callback_counts_plaintext_bytes_written(client: Any, key: str, tmp_path: Path, how: str) -> None:
    data = plaintext(MULTIPART)
    upload(client, key, data, algorithm=UNSIGNED)
    progress = Progress()
    if how == "fileobj":
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING, Callback=progress)
    else:
        concurrency = 1 if how == "file-sequential" else 3
        target = tmp_path / "out"
        s3.download_file(
            BUCKET, key, target, client=client, keyring=KEYRING, Callback=progress,
            max_concurrency=concurrency, part_size=PART,
        )  # fmt: skip
        assert target.read_bytes() == data
    assert sum(progress.calls) == len(data)
    assert progress.threads == {threading.get_ident()}
    if how == "file-ranges":
        assert len(progress.calls) == 3  # one call per range


def test_a_failing_upload_callback_aborts_and_propagates(client: Any, key: str) -> None:
    progress = Progress(fail_after=3 * PART)  # two parts are on their way by then
    with requests(client) as seen, pytest.raises(KeyboardInterrupt):
        upload(client, key, plaintext(4 * PART), Callback=progress)
    operations = [operation for operation, _ in seen]
    assert operations.count("CreateMultipartUpload") == 1 and operations[-1] == "AbortMultipartUpload"
    assert_nothing_left(client, key)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_failing_download_callback_leaves_no_file(client: Any, key: str, tmp_path: Path, concurrency: int) -> None:
    upload(client, key, plaintext(MULTIPART), algorithm=UNSIGNED)
    target = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        s3.download_file(
            BUCKET, key, target, client=client, keyring=KEYRING, Callback=Progress(fail_after=1),
            max_concurrency=concurrency, part_size=PART,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_callback_that_is_not_callable_is_refused(client: Any, key: str) -> None:
    with pytest.raises(UsageError, match="Callback must be callable"):
        upload(client, key, b"x", Callback=5)
    with pytest.raises(UsageError, match="Callback must be callable"):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING, Callback="progress")  # type: ignore[arg-type]


# -- the default client --------------------------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment with moto's credentials and no AWS configuration of this machine's."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    return monkeypatch


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
def test_without_a_client_one_is_made_from_the_environment(
    moto_server: MotoServer, client: Any, key: str, environment: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    environment.setenv(variable, moto_server.endpoint)
    data = plaintext(MULTIPART)
    s3.upload_fileobj(io.BytesIO(data), BUCKET, key, keyring=KEYRING, part_size=PART, algorithm=UNSIGNED)
    assert busta.decrypt(get_object(client, key), keyring=KEYRING).plaintext == data
    s3.download_file(BUCKET, key, tmp_path / "out", keyring=KEYRING, part_size=PART)
    assert (tmp_path / "out").read_bytes() == data
    assert s3.get_range(BUCKET, key, 10, 20, keyring=KEYRING) == data[10:20]
    body, length = s3.open_object(BUCKET, key)
    assert length == client.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    body.close()
    rotated = s3.rewrap_object(BUCKET, key, keyring=KEYRING, new_keyring=OTHER_KEYRING, dest_key=key + ".rotated")
    assert busta.decrypt(get_object(client, rotated.key), keyring=OTHER_KEYRING).plaintext == data
    with s3.object_writer(BUCKET, key + ".raw") as sink:
        sink.write(b"as it is")
    assert get_object(client, key + ".raw") == b"as it is"


def test_a_bad_profile_is_an_s3_error(environment: pytest.MonkeyPatch, key: str) -> None:
    environment.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(S3Error, match="ProfileNotFound"):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), keyring=KEYRING)


def test_importing_busta_s3_makes_no_client() -> None:
    probe = "import sys, busta.s3; print('boto3' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    assert found.stdout.strip() == "False"


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_each_part_arrives_with_the_checksum_of_its_own_bytes_computed_by_busta(
    client: Any, key: str, algorithm: str
) -> None:
    """busta computes a part's CRC32/SHA-256 in the uploading thread and hands it to botocore, which
    then computes none where it sends the request (for busta.aio.s3: on the event loop). S3 checks it."""
    with requests(client) as seen:
        upload(client, key, plaintext(MULTIPART), ExtraArgs={"ChecksumAlgorithm": algorithm})
    parts = [params for op, params in seen if op == "UploadPart"]
    assert len(parts) == 3
    for params in parts:
        body = params["Body"]
        raw = zlib.crc32(body).to_bytes(4, "big") if algorithm == "CRC32" else hashlib.sha256(body).digest()
        assert params[f"Checksum{algorithm}"] == base64.b64encode(raw).decode()
    assert s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING).plaintext_length == MULTIPART


def test_parts_in_flight_keep_their_bytes_and_memory_stays_at_a_few_parts(client: Any, key: str) -> None:
    """Part buffers are reused once their UploadPart returned, never while it is in flight: each part
    held back a while, the object is still the message; and what the upload allocates stays at about
    ``max_concurrency + 1`` parts for an object of eight."""
    data = plaintext(8 * PART)

    def hold(model: Any, **_: Any) -> None:
        if model.name == "UploadPart":
            time.sleep(0.05)

    client.meta.events.register("before-call.s3.UploadPart", hold, unique_id="busta-test-hold")
    tracemalloc.start()
    try:
        upload(client, key, data, algorithm=UNSIGNED, max_concurrency=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.meta.events.unregister("before-call.s3.UploadPart", unique_id="busta-test-hold")
    assert peak < 5 * PART  # two in flight, one filling, the stream's buffers (a fresh copy per part: 5.7)
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert busta.decrypt(body, keyring=KEYRING).plaintext == data


@pytest.mark.parametrize("parts", [1, 4])
def test_a_plaintext_of_n_parts_goes_up_in_n_parts_when_its_length_is_known(
    client: Any, key: str, tmp_path: Path, parts: int
) -> None:
    """boto3 sends a file of n parts in n parts; the frames' overhead would make busta's message one
    more, small, part: when the length is known (a file, or plaintext_length), the parts are a little
    larger instead (one part: a single PutObject). Not known (a stream): parts of part_size exactly."""
    data = plaintext(parts * PART)
    source = tmp_path / "plain"
    source.write_bytes(data)
    numbered: dict[int, int] = {}

    def record(params: dict[str, Any], **_: Any) -> None:
        numbered[params["PartNumber"]] = len(params["Body"])

    def sizes() -> list[int]:  # of every part but the last, in order
        return [numbered[number] for number in sorted(numbered)][:-1]

    client.meta.events.register("provide-client-params.s3.UploadPart", record, unique_id="busta-test-sizes")
    try:
        from_file = s3.upload_file(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART)
        assert from_file.parts == (0 if parts == 1 else parts)
        assert all(PART < size <= PART + PART // 64 for size in sizes())
        told = upload(client, key, data, plaintext_length=len(data))
        assert told.parts == from_file.parts
        numbered.clear()
        streamed = upload(client, key, data)
        assert streamed.parts == parts + 1 and sizes() == [PART] * parts
    finally:
        client.meta.events.unregister("provide-client-params.s3.UploadPart", unique_id="busta-test-sizes")
    assert busta.decrypt(get_object(client, key), keyring=KEYRING, encryption_context=CONTEXT).plaintext == data
