"""busta.s3 against a real moto S3 server process, over HTTP on 127.0.0.1.

Each object is one ESDK message: the official SDK decrypts a plain GetObject
body. Uploads of more than one part go up as multipart uploads and leave
nothing behind when they fail; downloads to a path appear only when the whole
message authenticated; ranged reads fetch the header, a tail window and the
frames they need, and authenticate each frame.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import random
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

import busta
from busta import AlgorithmSuite, DefaultCryptoMaterialsManager, RequiredEncryptionContextCmm, s3
from busta.errors import (
    AuthenticationError,
    MalformedMessageError,
    NoDecryptingKeyError,
    PolicyError,
    S3Error,
    UsageError,
)
from busta.format.body import REGULAR_HEAD_BYTES
from busta.format.layout import final_frame_window, regular_frame_size
from busta.keyrings import RawAesKeyring
from busta.materials import DecryptionMaterials, DecryptionRequest, EncryptionMaterials, EncryptionRequest
from busta.streaming import header as header_module
from busta.streaming import workers

from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer, free_port
from ..support.oracle import AesKeySpec, official_decrypt, official_encrypt

__all__ = ["moto_server"]  # fixture, imported for pytest to find

REGION = "us-west-2"
BUCKET = "busta-test"
PART = s3.MIN_PART_SIZE  # 5 MiB, S3's smallest part
AES_KEY = AesKeySpec("s3-tests", "aes-256", bytes(range(0x60, 0x80)))
KEYRING = RawAesKeyring(AES_KEY.namespace, AES_KEY.name, AES_KEY.key)
OTHER_KEYRING = RawAesKeyring(AES_KEY.namespace, "other-key", bytes(32))
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.from_id(0x0578)
CONTEXT = {"purpose": "s3-tests", "tenant": "alpha"}


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", REGION)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3_client


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """An object key of this test's own."""
    return "objects/" + "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)


@functools.cache
def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def plaintext_length_for(message_size: int, suite: AlgorithmSuite) -> tuple[int, int]:
    """(plaintext length, frame length) whose message is exactly ``message_size`` bytes."""
    for frame in range(64 << 10, (64 << 10) - 64, -1):
        sizer = busta.start_encryption(keyring=KEYRING, algorithm=suite, frame_length=frame, encryption_context=CONTEXT)
        low, high = 0, message_size
        while low < high:  # the largest length whose message fits
            middle = (low + high + 1) // 2
            if sizer.message_size(middle) <= message_size:
                low = middle
            else:
                high = middle - 1
        if sizer.message_size(low) == message_size:
            return low, frame
    raise AssertionError(f"no plaintext length gives a message of {message_size} bytes")


def upload(client: Any, key: str, data: bytes, **options: Any) -> s3.UploadResult:
    options = {"keyring": KEYRING, "encryption_context": CONTEXT, "part_size": PART, **options}
    return s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, **options)


def get_object(client: Any, key: str) -> bytes:
    body: bytes = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body


def put_object(client: Any, key: str, body: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body)


def header_length(message: bytes) -> int:
    return busta.start_decryption(keyring=KEYRING).read_header(message)


def flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0x01
    return bytes(damaged)


def assert_nothing_left(client: Any, key: str) -> None:
    """No multipart upload in progress and no object under ``key``."""
    assert "Uploads" not in client.list_multipart_uploads(Bucket=BUCKET, Prefix=key)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        client.head_object(Bucket=BUCKET, Key=key)
    assert caught.value.response["Error"]["Code"] == "404"


@contextlib.contextmanager
def s3_calls(client: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Record (operation name, parsed response) of every S3 call the client makes."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, parsed))

    client.meta.events.register("after-call.s3", record, unique_id="busta-test-recorder")
    try:
        yield calls
    finally:
        client.meta.events.unregister("after-call.s3", unique_id="busta-test-recorder")


@contextlib.contextmanager
def failing(client: Any, operation: str, error: BaseException, *, part: int | None = None) -> Iterator[None]:
    """Make ``operation`` (only part ``part`` of an UploadPart) raise ``error`` before it is sent."""

    def inject(params: dict[str, Any], **_: Any) -> None:
        if part is None or params.get("PartNumber") == part:
            raise error

    event = f"before-parameter-build.s3.{operation}"
    client.meta.events.register(event, inject, unique_id="busta-test-fault")
    try:
        yield
    finally:
        client.meta.events.unregister(event, unique_id="busta-test-fault")


def client_error(code: str, operation: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "injected by the test"}}, operation)


class FailingSource(io.RawIOBase):
    """A plaintext source that raises OSError once ``fail_after`` bytes were read."""

    def __init__(self, data: bytes, fail_after: int):
        super().__init__()
        self._data = memoryview(data)
        self._position = 0
        self._fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._position >= self._fail_after:
            raise OSError("the source went away")
        n = min(len(buffer), self._fail_after - self._position)
        chunk = self._data[self._position : self._position + n]
        memoryview(buffer)[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


# --------------------------------------------------------------------------- round trips by size


SIZE_CASES = {
    # name: (message size or None for a plaintext length, plaintext length, expected parts)
    "empty": (None, 0, 0),
    "one byte": (None, 1, 0),
    "exactly one part": (PART, None, 0),
    "one part and one byte": (PART + 1, None, 2),
    "five parts and one byte": (5 * PART + 1, None, 6),
}


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["0x0478", "0x0578"])
@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_upload_then_download_and_official_sdk_decrypt(
    client: Any, key: str, tmp_path: Path, suite: AlgorithmSuite, case: str
) -> None:
    message_size, length, parts = SIZE_CASES[case]
    frame = None
    if message_size is not None:
        length, frame = plaintext_length_for(message_size, suite)
    assert length is not None
    data = plaintext(length)

    result = upload(client, key, data, algorithm=suite, frame_length=frame)

    assert (result.bucket, result.key, result.suite, result.plaintext_length) == (BUCKET, key, suite, length)
    assert result.parts == parts
    assert len(result.message_id) == 32
    assert client.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == result.object_size
    if message_size is not None:
        assert result.object_size == message_size
    out = io.BytesIO()
    streamed = s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == data
    assert streamed.plaintext_length == length
    assert streamed.header.message_id == result.message_id
    assert streamed.encryption_context.items() >= CONTEXT.items()
    target = tmp_path / "downloaded"
    s3.download_file(BUCKET, key, target, client=client, keyring=KEYRING)
    assert target.read_bytes() == data
    assert os.listdir(tmp_path) == ["downloaded"]
    whole = s3.get_range(BUCKET, key, 0, length + 1, client=client, keyring=KEYRING, allow_unverified_signature=True)
    assert whole == data
    official_plaintext, official_context = official_decrypt(get_object(client, key), keys=[AES_KEY])
    assert official_plaintext == data
    assert official_context.items() >= CONTEXT.items()


def test_upload_file_reads_a_local_path(client: Any, key: str, tmp_path: Path) -> None:
    source = tmp_path / "plain.bin"
    source.write_bytes(plaintext(PART + 12345))
    result = s3.upload_file(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART)
    assert result.parts == 2
    assert busta.decrypt(get_object(client, key), keyring=KEYRING).plaintext == plaintext(PART + 12345)


@pytest.mark.parametrize(("part_size", "concurrency"), [(PART - 1, 4), (PART, 0)])
def test_upload_refuses_too_small_parts_or_no_concurrency(
    client: Any, key: str, part_size: int, concurrency: int
) -> None:
    with pytest.raises(UsageError):
        upload(client, key, b"x", part_size=part_size, max_concurrency=concurrency)
    assert_nothing_left(client, key)


# --------------------------------------------------------------------------- ranged reads

RANGED_FRAME = 4096
RANGED_LENGTH = 3 * (1 << 20) + 1234  # several MiB: 769 frames


@pytest.fixture(scope="module")
def ranged_object(client: Any) -> str:
    key = "ranged/object"
    upload(client, key, plaintext(RANGED_LENGTH), algorithm=UNSIGNED, frame_length=RANGED_FRAME)
    return key


F, N = RANGED_FRAME, RANGED_LENGTH
RANGES = {
    "first frame": (0, F),
    "frame 1": (F, 2 * F),
    "frame 500": (500 * F, 501 * F),
    "last regular frame": ((N // F - 1) * F, (N // F) * F),
    "final frame": ((N // F) * F, N),
    "inside one frame": (10 * F + 5, 10 * F + 100),
    "one byte": (12345, 12346),
    "across two frames": (7 * F - 1, 7 * F + 1),
    "across many frames": (3 * F + 7, 40 * F + 9),
    "the end, clamped": (N - 10, N + 1000),
    "beyond the end": (N + 5, N + 10),
    "empty": (100, 100),
    "empty at the end": (N, N),
    "everything": (0, N),
}


@pytest.mark.parametrize("name", list(RANGES))
def test_get_range_returns_the_plaintext_slice(client: Any, ranged_object: str, name: str) -> None:
    start, end = RANGES[name]
    got = s3.get_range(BUCKET, ranged_object, start, end, client=client, keyring=KEYRING)
    assert got == plaintext(RANGED_LENGTH)[start:end]


def test_get_range_refuses_a_reversed_range(client: Any, ranged_object: str) -> None:
    with pytest.raises(UsageError):
        s3.get_range(BUCKET, ranged_object, 10, 9, client=client, keyring=KEYRING)


@pytest.mark.parametrize("start", [0, 1 << 20, RANGED_LENGTH - 1024, 5 * F - 512])
def test_a_small_range_fetches_only_the_header_a_tail_window_and_its_frames(
    client: Any, ranged_object: str, start: int
) -> None:
    size = client.head_object(Bucket=BUCKET, Key=ranged_object)["ContentLength"]
    with s3_calls(client) as calls:
        got = s3.get_range(BUCKET, ranged_object, start, start + 1024, client=client, keyring=KEYRING)
    assert got == plaintext(RANGED_LENGTH)[start : start + 1024]
    gets = [parsed["ContentLength"] for name, parsed in calls if name == "GetObject"]
    in_final_frame = start >= (RANGED_LENGTH - 1) // F * F  # the final frame came with the tail window
    assert len(gets) == (2 if in_final_frame else 3)  # header, tail window, the frames of the range
    bound = min(size, 16 << 10) + final_frame_window(F) + 2 * regular_frame_size(F)
    assert sum(gets) <= bound
    assert sum(gets) < size // 50


def test_an_empty_range_fetches_no_frames(client: Any, ranged_object: str) -> None:
    with s3_calls(client) as calls:
        assert s3.get_range(BUCKET, ranged_object, 500, 500, client=client, keyring=KEYRING) == b""
    assert [name for name, _ in calls] == ["HeadObject", "GetObject", "GetObject"]  # header and tail only


def test_a_damaged_middle_frame_fails_only_the_ranges_that_cover_it(client: Any, key: str) -> None:
    length, damaged = 10 * F + 100, 4
    upload(client, key, plaintext(length), algorithm=UNSIGNED, frame_length=F)
    message = get_object(client, key)
    offset = header_length(message) + damaged * regular_frame_size(F) + REGULAR_HEAD_BYTES + 17
    put_object(client, key, flipped(message, offset))
    expected = plaintext(length)
    for start, end in ((damaged * F, damaged * F + 1), ((damaged + 1) * F - 1, (damaged + 3) * F), (0, length)):
        with pytest.raises(AuthenticationError):
            s3.get_range(BUCKET, key, start, end, client=client, keyring=KEYRING)
    for start, end in ((0, damaged * F), ((damaged + 1) * F, length), (3 * F + 5, 3 * F + 50)):
        assert s3.get_range(BUCKET, key, start, end, client=client, keyring=KEYRING) == expected[start:end]
    with pytest.raises(AuthenticationError):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING)


def test_a_truncated_object_with_a_forged_empty_final_frame_fails_a_read_to_the_end(client: Any, key: str) -> None:
    upload(client, key, plaintext(10 * F + 100), algorithm=UNSIGNED, frame_length=F)
    message = get_object(client, key)
    kept = 4  # an attacker with write access keeps 4 frames and appends a final frame head of length 0
    forged_final = b"\xff" * 4 + (kept + 1).to_bytes(4, "big") + bytes(12) + bytes(4) + bytes(16)
    put_object(client, key, message[: header_length(message) + kept * regular_frame_size(F)] + forged_final)
    with pytest.raises(AuthenticationError):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING)  # streaming catches it
    with pytest.raises(AuthenticationError):
        s3.get_range(BUCKET, key, 0, 10 * F + 100, client=client, keyring=KEYRING)


def test_a_signed_object_is_read_by_range_only_when_an_unverified_signature_is_allowed(client: Any, key: str) -> None:
    length = 5 * F + 3
    upload(client, key, plaintext(length), algorithm=SIGNED, frame_length=F)
    with pytest.raises(PolicyError, match="allow_unverified_signature"):
        s3.get_range(BUCKET, key, 0, 10, client=client, keyring=KEYRING)
    for start, end in ((0, 10), (2 * F - 3, 4 * F + 1), (length - 2, length + 5)):
        got = s3.get_range(BUCKET, key, start, end, client=client, keyring=KEYRING, allow_unverified_signature=True)
        assert got == plaintext(length)[start:end]


def test_an_object_replaced_during_a_ranged_read_fails_with_s3_error_instead_of_mixing_two_objects(
    client: Any, key: str
) -> None:
    upload(client, key, plaintext(200_000), algorithm=UNSIGNED, frame_length=4096)
    replaced: list[bool] = []

    def replace_after_head(**_: Any) -> None:
        if not replaced:  # once HeadObject has given get_range the old ETag, a new object takes the key
            replaced.append(True)
            upload(client, key, plaintext(200_000)[::-1], algorithm=UNSIGNED, frame_length=4096)

    client.meta.events.register("after-call.s3.HeadObject", replace_after_head)
    try:
        with pytest.raises(S3Error) as caught:
            s3.get_range(BUCKET, key, 50_000, 60_000, client=client, keyring=KEYRING)
    finally:
        client.meta.events.unregister("after-call.s3.HeadObject", replace_after_head)
    assert replaced
    assert caught.value.operation == "GetObject"
    assert caught.value.code == "PreconditionFailed"


def test_get_range_with_a_wrong_key_is_refused(client: Any, ranged_object: str) -> None:
    with pytest.raises(NoDecryptingKeyError):
        s3.get_range(BUCKET, ranged_object, 0, 10, client=client, keyring=OTHER_KEYRING)


# --------------------------------------------------------------------------- failed uploads leave nothing


def test_an_unfinished_multipart_upload_is_seen_by_the_nothing_left_check(client: Any, key: str) -> None:
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    try:
        with pytest.raises(AssertionError):
            assert_nothing_left(client, key)
    finally:
        client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert_nothing_left(client, key)


def test_an_upload_whose_source_fails_is_aborted(client: Any, key: str) -> None:
    source = FailingSource(plaintext(20 << 20), fail_after=12 << 20)
    with s3_calls(client) as calls, pytest.raises(OSError, match="went away"):
        s3.upload_fileobj(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART)  # type: ignore[arg-type]
    names = [name for name, _ in calls]
    assert names.count("CreateMultipartUpload") == 1
    assert names.count("UploadPart") >= 1
    assert names[-1] == "AbortMultipartUpload"
    assert "CompleteMultipartUpload" not in names
    assert_nothing_left(client, key)


def test_a_small_upload_whose_source_fails_writes_nothing(client: Any, key: str) -> None:
    source = FailingSource(plaintext(1 << 20), fail_after=100)
    with s3_calls(client) as calls, pytest.raises(OSError):
        s3.upload_fileobj(source, BUCKET, key, client=client, keyring=KEYRING, part_size=PART)  # type: ignore[arg-type]
    assert calls == []
    assert_nothing_left(client, key)


@pytest.mark.parametrize(
    ("operation", "part", "error", "expected"),
    [
        ("UploadPart", 3, client_error("InternalError", "UploadPart"), S3Error),
        ("UploadPart", 1, client_error("SlowDown", "UploadPart"), S3Error),
        ("UploadPart", 3, RuntimeError("injected by the test"), RuntimeError),
        ("CompleteMultipartUpload", None, client_error("InternalError", "CompleteMultipartUpload"), S3Error),
    ],
    ids=["part-3-s3-error", "part-1-s3-error", "part-3-other-error", "complete-s3-error"],
)
def test_an_upload_that_s3_fails_midway_is_aborted(
    client: Any, key: str, operation: str, part: int | None, error: BaseException, expected: type[BaseException]
) -> None:
    with failing(client, operation, error, part=part), pytest.raises(expected) as caught:
        upload(client, key, plaintext(26 << 20), max_concurrency=2)
    if isinstance(caught.value, S3Error):
        code = error.response["Error"]["Code"]  # type: ignore[attr-defined]
        assert (caught.value.operation, caught.value.code) == (operation, code)
        assert (caught.value.bucket, caught.value.key) == (BUCKET, key)
        assert isinstance(caught.value.__cause__, botocore.exceptions.ClientError)
    assert_nothing_left(client, key)


def test_a_single_put_that_s3_fails_leaves_nothing(client: Any, key: str) -> None:
    with failing(client, "PutObject", client_error("InternalError", "PutObject")), pytest.raises(S3Error) as caught:
        upload(client, key, plaintext(1000))
    assert (caught.value.operation, caught.value.code) == ("PutObject", "InternalError")
    assert_nothing_left(client, key)


# --------------------------------------------------------------------------- download_file is all or nothing


def damaged_object(client: Any, key: str) -> bytes:
    """Upload a 3 MiB object whose last regular frame is damaged (so earlier frames decrypt first)."""
    length, frame = 3 << 20, 64 << 10
    upload(client, key, plaintext(length), algorithm=UNSIGNED, frame_length=frame)
    message = get_object(client, key)
    last_regular = length // frame - 1
    offset = header_length(message) + last_regular * regular_frame_size(frame) + REGULAR_HEAD_BYTES
    put_object(client, key, flipped(message, offset))
    return message


@pytest.mark.parametrize("cause", ["damaged frame", "wrong key", "missing object"])
@pytest.mark.parametrize("existing", [None, b"an earlier version of the file"], ids=["no-file", "existing-file"])
def test_a_failed_download_file_leaves_the_directory_as_it_was(
    client: Any, key: str, tmp_path: Path, cause: str, existing: bytes | None
) -> None:
    keyring = KEYRING
    expected: type[Exception] = AuthenticationError
    if cause == "damaged frame":
        damaged_object(client, key)
    elif cause == "wrong key":
        upload(client, key, plaintext(1000))
        keyring, expected = OTHER_KEYRING, NoDecryptingKeyError
    else:
        expected = S3Error
    target = tmp_path / "target.bin"
    if existing is not None:
        target.write_bytes(existing)
    with pytest.raises(expected):
        s3.download_file(BUCKET, key, target, client=client, keyring=keyring)
    if existing is None:
        assert os.listdir(tmp_path) == []
    else:
        assert os.listdir(tmp_path) == ["target.bin"]
        assert target.read_bytes() == existing


def test_a_successful_download_file_replaces_an_existing_file(client: Any, key: str, tmp_path: Path) -> None:
    upload(client, key, plaintext(100_000), frame_length=4096)
    target = tmp_path / "target.bin"
    target.write_bytes(b"old")
    result = s3.download_file(BUCKET, key, str(target), client=client, keyring=KEYRING)
    assert result.plaintext_length == 100_000
    assert target.read_bytes() == plaintext(100_000)
    assert os.listdir(tmp_path) == ["target.bin"]


# --------------------------------------------------------------------------- the context as metadata


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["0x0478", "0x0578"])
def test_record_context_stores_the_context_as_json_metadata(client: Any, key: str, suite: AlgorithmSuite) -> None:
    context = {**CONTEXT, "name": "café ☕ 🔑"}
    upload(client, key, plaintext(1000), algorithm=suite, encryption_context=context, record_context=True)
    metadata = client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    stored = metadata[s3.CONTEXT_METADATA_KEY]
    assert stored.isascii()
    recorded = json.loads(stored)
    assert recorded.items() >= context.items()
    assert ("aws-crypto-public-key" in recorded) is suite.signed
    assert recorded == busta.decrypt(get_object(client, key), keyring=KEYRING).encryption_context


def test_record_context_never_stores_required_pairs_kept_out_of_the_message(client: Any, key: str) -> None:
    cmm = RequiredEncryptionContextCmm(KEYRING, required_keys=["tenant"])
    upload(client, key, plaintext(1000), keyring=None, materials_manager=cmm, algorithm=UNSIGNED, record_context=True)
    recorded = json.loads(client.head_object(Bucket=BUCKET, Key=key)["Metadata"][s3.CONTEXT_METADATA_KEY])
    assert recorded == {"purpose": "s3-tests"}
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING, encryption_context={"tenant": "alpha"})
    assert out.getvalue() == plaintext(1000)


def test_without_record_context_no_metadata_is_stored(client: Any, key: str) -> None:
    upload(client, key, plaintext(1000))
    assert client.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {}


@pytest.mark.parametrize(
    "metadata", [{}, {s3.CONTEXT_METADATA_KEY: '{"tenant": "mallory"}'}, {s3.CONTEXT_METADATA_KEY: "not json"}]
)
def test_decryption_does_not_depend_on_the_metadata(client: Any, key: str, metadata: dict[str, str]) -> None:
    upload(client, key, plaintext(3 * 4096 + 1), algorithm=UNSIGNED, frame_length=4096, record_context=True)
    client.copy_object(
        Bucket=BUCKET,
        Key=key,
        CopySource={"Bucket": BUCKET, "Key": key},
        Metadata=metadata,
        MetadataDirective="REPLACE",
    )
    assert client.head_object(Bucket=BUCKET, Key=key)["Metadata"] == metadata
    out = io.BytesIO()
    result = s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == plaintext(3 * 4096 + 1)
    assert result.encryption_context == CONTEXT
    assert s3.get_range(BUCKET, key, 4000, 5000, client=client, keyring=KEYRING) == plaintext(3 * 4096 + 1)[4000:5000]


# --------------------------------------------------------------------------- parallel encryption


class ReplayingMaterials:
    """A materials manager that hands out the same encryption materials every time."""

    def __init__(self) -> None:
        self._inner = DefaultCryptoMaterialsManager(KEYRING)
        self._materials: EncryptionMaterials | None = None

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        if self._materials is None:
            self._materials = self._inner.get_encryption_materials(request)
        return self._materials

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        return self._inner.decrypt_materials(request)


@pytest.fixture
def sealed_in_parallel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the runs of frames the encryptor seals on several threads."""
    runs: list[int] = []
    original = workers.run_split  # what split_run calls, for the encryptor and the decryptor

    def counting(tasks: Any, pool: Any, *, spare: int = 0) -> None:
        runs.append(len(tasks))
        original(tasks, pool, spare=spare)

    monkeypatch.setattr(workers, "run_split", counting)
    return runs


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["0x0478", "0x0578"])
def test_an_upload_encrypted_on_two_threads_decrypts(client: Any, key: str, suite: AlgorithmSuite) -> None:
    data = plaintext(11 << 20)
    result = upload(client, key, data, algorithm=suite, frame_length=64 << 10, sdk=busta.Client(threads=2))
    assert result.parts == 3
    message = get_object(client, key)
    assert busta.Client(threads=1).decrypt(message, keyring=KEYRING).plaintext == data
    assert official_decrypt(message, keys=[AES_KEY])[0] == data


def test_an_upload_is_the_same_bytes_on_one_thread_and_on_two(
    client: Any, key: str, monkeypatch: pytest.MonkeyPatch, sealed_in_parallel: list[int]
) -> None:
    # the same materials and message id make the message a function of the plaintext alone
    monkeypatch.setattr(header_module, "os", types.SimpleNamespace(urandom=lambda n: b"\x5a" * n))
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1 << 20)  # split the pump's 2 MiB steps
    materials = ReplayingMaterials()
    data = plaintext(11 << 20)
    messages = {}
    for threads in (1, 2):
        sealed_in_parallel.clear()
        s3.upload_fileobj(
            io.BytesIO(data),
            BUCKET,
            f"{key}-{threads}",
            client=client,
            materials_manager=materials,
            algorithm=UNSIGNED,
            frame_length=64 << 10,
            part_size=PART,
            sdk=busta.Client(threads=threads),
        )
        assert bool(sealed_in_parallel) is (threads == 2)
        messages[threads] = get_object(client, f"{key}-{threads}")
    assert messages[1] == messages[2]
    assert busta.decrypt(messages[2], keyring=KEYRING).plaintext == data


# --------------------------------------------------------------------------- S3 errors


def test_an_upload_to_a_missing_bucket_is_an_s3_error(client: Any) -> None:
    for data, operation in ((b"small", "PutObject"), (plaintext(PART + 1), "CreateMultipartUpload")):
        with pytest.raises(S3Error) as caught:
            s3.upload_fileobj(io.BytesIO(data), "busta-missing", "k", client=client, keyring=KEYRING, part_size=PART)
        error = caught.value
        assert (error.operation, error.code, error.bucket, error.key) == (
            operation,
            "NoSuchBucket",
            "busta-missing",
            "k",
        )
        assert "s3://busta-missing/k" in str(error)


def test_a_download_of_a_missing_key_is_an_s3_error(client: Any, key: str) -> None:
    with pytest.raises(S3Error) as caught:
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING)
    error = caught.value
    assert (error.operation, error.code, error.bucket, error.key) == ("GetObject", "NoSuchKey", BUCKET, key)


def test_a_download_from_a_missing_bucket_is_an_s3_error(client: Any) -> None:
    with pytest.raises(S3Error) as caught:
        s3.download_fileobj("busta-missing", "k", io.BytesIO(), client=client, keyring=KEYRING)
    assert (caught.value.code, caught.value.bucket) == ("NoSuchBucket", "busta-missing")


def test_get_range_of_a_missing_key_is_an_s3_error(client: Any, key: str) -> None:
    with pytest.raises(S3Error) as caught:
        s3.get_range(BUCKET, key, 0, 10, client=client, keyring=KEYRING)
    error = caught.value
    # HEAD answers carry no body, so S3 gives only the status code
    assert (error.operation, error.code, error.bucket, error.key) == ("HeadObject", "404", BUCKET, key)


def test_an_unreachable_endpoint_is_an_s3_error(moto_server: MotoServer) -> None:
    unreachable = boto3.session.Session().client(
        "s3",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=moto_server.client_config(max_attempts=1),
    )
    with pytest.raises(S3Error) as caught:
        s3.download_fileobj(BUCKET, "k", io.BytesIO(), client=unreachable, keyring=KEYRING)
    assert (caught.value.operation, caught.value.code) == ("GetObject", "EndpointConnectionError")
    assert isinstance(caught.value.__cause__, botocore.exceptions.BotoCoreError)


@pytest.mark.parametrize("body", [b"", b"just some bytes, not a message"], ids=["empty", "garbage"])
def test_an_object_that_is_not_a_message_is_refused(client: Any, key: str, body: bytes) -> None:
    put_object(client, key, body)
    with pytest.raises(MalformedMessageError):
        s3.download_fileobj(BUCKET, key, io.BytesIO(), client=client, keyring=KEYRING)
    with pytest.raises(MalformedMessageError):
        s3.get_range(BUCKET, key, 0, 10, client=client, keyring=KEYRING)


@pytest.mark.parametrize("length", [0, 4096, 3 * 4096, 3 * 4096 + 7])
def test_objects_written_by_the_official_sdk_read_by_range_and_whole(client: Any, key: str, length: int) -> None:
    put_object(client, key, official_encrypt(plaintext(length), keys=[AES_KEY], suite_id=0x0478, frame_length=4096))
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == plaintext(length)
    for start, end in ((0, length), (4000, 4200), (max(0, length - 1), length + 1)):
        assert s3.get_range(BUCKET, key, start, end, client=client, keyring=KEYRING) == plaintext(length)[start:end]
