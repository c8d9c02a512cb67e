"""Faults: when KMS, S3, the disk or the process fail, nothing is lost and nothing is half-written.

Each network fault is injected on the wire by :class:`tests.support.fault_proxy.FaultProxy`,
a TCP proxy on 127.0.0.1 between boto3 and a real moto server process; disk-full is
an ``OSError(ENOSPC)`` from the file under the writer (and the real ``/dev/full``); the
process faults are real signals to a real ``python -m busta`` process. What is proven:

- KMS slow: an answer slower than the client's read timeout fails the encryption
  promptly with :class:`KmsError`, before a byte is written or an S3 request is made;
  a slow answer within the timeout succeeds.
- KMS down mid-job: a download whose KMS stops answering raises
  :class:`NoDecryptingKeyError` (the :class:`KmsError` inside names the key) and writes no
  plaintext; a CLI decrypt of several files keeps the outputs finished before KMS went
  down and writes none after.
- KMS throttling on the wire, through the CLI: throttled calls are retried and the
  output is correct; throttled beyond the retries, the CLI exits 1 and writes nothing.
- S3 connection dropped during an UploadPart (request or response): without retries the
  upload raises :class:`S3Error` and is aborted (no object, no multipart upload left);
  with retries one drop is absorbed and the object decrypts to the exact input. A lost
  CompleteMultipartUpload answer leaves either nothing or the complete object, never a
  partial one (without retries it raises although the object is complete).
- S3 connection dropped mid-download: ``download_file`` raises :class:`S3Error` and leaves
  the old file and no temporary file; ``download_fileobj`` has released only whole,
  authenticated frames: a frame-aligned prefix of the plaintext (docs/s3.md: "only a
  normal return proves that the object was complete").
- Disk full: ``encrypt_stream`` / ``decrypt_stream`` raise the sink's ``OSError(ENOSPC)``
  unwrapped (it is not an BustaError) and write nothing after it; ``download_file``
  and CLI outputs to a path leave no target, no temporary file, and an older file
  intact; CLI output to ``/dev/full`` exits 1 with one error line.
- Process killed during a CLI encrypt or decrypt: the target never exists half-written.
  SIGKILL leaves the temporary file ``.NAME.XXXXXXXX.tmp`` (mode 0600) beside the
  target, for the user to delete (a decrypt's holds a prefix of the plaintext); SIGINT
  and SIGTERM remove it and exit 130 and 143; a rerun completes and decrypts to the input.
- The proxy itself forwards bytes unchanged and cuts exactly after N bytes, only on the
  connection chosen.

Already covered elsewhere, not repeated here: the KMS server process stopped
(connection refused) and throttling answered by a botocore hook
(tests/keyrings/test_kms.py::test_a_kms_server_that_stops_mid_run_fails_with_the_key_and_region_named,
::test_throttling_is_retried_as_configured,
::test_decrypt_succeeds_through_the_reachable_region_when_the_other_is_down);
S3 errors raised before a request is sent, failing sources, damaged objects, wrong keys
and unreachable endpoints (tests/s3/test_s3.py::test_an_upload_that_s3_fails_midway_is_aborted,
::test_an_upload_whose_source_fails_is_aborted, ::test_a_failed_download_file_leaves_the_directory_as_it_was,
::test_an_unreachable_endpoint_is_an_s3_error); tampered or truncated CLI inputs
(tests/cli/test_cli.py::test_a_tampered_message_fails_and_leaves_neither_output_nor_temporary_file).

Each test records the faults it injected as the junit property ``faults_injected``.
"""

from __future__ import annotations

import errno
import functools
import io
import os
import random
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import botocore.retries.standard
import pytest

import busta
from busta import s3
from busta.cli import main
from busta.errors import BustaError, KmsError, NoDecryptingKeyError, S3Error, TruncatedMessageError
from busta.keyfile import read_record
from busta.keyrings import AwsKmsKeyring, RawAesKeyring

from .support.fault_proxy import Direction, Drop, FaultProxy, Respond, http_response, request_line_matches
from .support.feeding import feed_until_written
from .support.kms_fixtures import moto_server
from .support.moto_server import ACCESS_KEY, DEFAULT_REGION, PROJECT_ROOT, SECRET_KEY, MotoServer

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

BUCKET = "busta-faults"
PART = s3.MIN_PART_SIZE  # 5 MiB
FRAME = 64 << 10
KEYRING = RawAesKeyring("faults", "aes-256", bytes(range(32)))
ENOSPC_MESSAGE = os.strerror(errno.ENOSPC)  # "No space left on device"
#: The CLI's temporary output beside TARGET: tempfile.mkstemp(prefix=".TARGET.", suffix=".tmp").
TEMP_NAME = r"\.{name}\.[a-z0-9_]{{8}}\.tmp"


@functools.cache
def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


# --------------------------------------------------------------------------- harness


class Tally:
    """Counts the faults a test injected (proxy faults and disk-full refusals)."""

    def __init__(self) -> None:
        self.proxies: list[FaultProxy] = []
        self.other = 0

    @property
    def total(self) -> int:
        return sum(proxy.fired for proxy in self.proxies) + self.other


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    counted = Tally()
    yield counted
    request.node.user_properties.append(("faults_injected", counted.total))


@pytest.fixture(autouse=True)
def only_local_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients made inside busta (the CLI's) get the moto credentials and no environment proxy."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries without sleeping (its retry decisions are unchanged)."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


@pytest.fixture(scope="module")
def direct_s3(moto_server: MotoServer) -> Any:
    """An S3 client straight to moto, for setting up and inspecting (never faulted)."""
    client = moto_server.client("s3", DEFAULT_REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEFAULT_REGION})
    return client


@pytest.fixture(scope="module")
def kms_arn(moto_server: MotoServer) -> str:
    arn: str = moto_server.client("kms", DEFAULT_REGION).create_key(Description="faults")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture
def s3_proxy(moto_server: MotoServer, direct_s3: Any, tally: Tally) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as proxy:
        tally.proxies.append(proxy)
        yield proxy


@pytest.fixture
def kms_proxy(moto_server: MotoServer, kms_arn: str, tally: Tally) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as proxy:
        tally.proxies.append(proxy)
        yield proxy


def client_via(proxy: FaultProxy, service: str, *, max_attempts: int = 1, read_timeout: float = 5) -> Any:
    """A boto3 client that reaches moto only through ``proxy`` (bounded timeouts, no environment proxy)."""
    return boto3.session.Session().client(
        service,
        region_name=DEFAULT_REGION,
        endpoint_url=proxy.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(
            connect_timeout=2,
            read_timeout=read_timeout,
            proxies={},
            retries={"mode": "standard", "total_max_attempts": max_attempts},
        ),
    )


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """An object key of this test's own."""
    return "faults/" + "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)


def upload(client: Any, key: str, data: bytes, **options: Any) -> s3.UploadResult:
    options = {"keyring": KEYRING, "part_size": PART, "frame_length": FRAME, **options}
    return s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, **options)


def stored(direct_s3: Any, key: str) -> bytes | None:
    """The object at ``key``, or None when there is none."""
    try:
        body: bytes = direct_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchKey"
        return None
    return body


def multipart_uploads(direct_s3: Any, key: str) -> list[Any]:
    uploads: list[Any] = direct_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    return uploads


def part_request(number: int) -> Callable[[str], bool]:
    """Matches the request line of UploadPart number ``number``."""
    return request_line_matches(rf"^PUT \S*[?&]partNumber={number}(?:&|\s)")


COMPLETE_REQUEST = request_line_matches(r"^POST \S*\?uploadId=")
GET_REQUEST = request_line_matches(r"^GET ")


def throttling_response() -> bytes:
    body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    return http_response(400, "Bad Request", body, {"Content-Type": "application/x-amz-json-1.1"})


class FullDisk(io.RawIOBase):
    """A raw writable that passes ``capacity`` bytes to ``target``, then fails as a full disk does.

    The write that reaches the limit is short (like write(2)); every later one
    raises ``OSError(ENOSPC)``, counted in ``refused``.
    """

    def __init__(self, target: Any, capacity: int) -> None:
        super().__init__()
        self._target = target
        self.capacity = capacity
        self.accepted = 0
        self.refused = 0

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        view = memoryview(data).cast("B")
        room = self.capacity - self.accepted
        if room <= 0 and len(view):
            self.refused += 1
            raise OSError(errno.ENOSPC, ENOSPC_MESSAGE)
        n = min(room, len(view))
        self._target.write(view[:n])
        self.accepted += n
        return n

    def fileno(self) -> int:
        fileno: int = self._target.fileno()
        return fileno

    def close(self) -> None:
        if not self.closed:
            self._target.close()
        super().close()


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, capacity: int) -> list[FullDisk]:
    """Files opened for writing with ``os.fdopen`` (busta's temporary outputs) hold ``capacity`` bytes."""
    real_fdopen = os.fdopen
    made: list[FullDisk] = []

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" not in mode:
            return real_fdopen(fd, mode, *args, **kwargs)
        raw = FullDisk(io.FileIO(fd, "wb"), capacity)
        made.append(raw)
        return io.BufferedWriter(raw)

    monkeypatch.setattr(os, "fdopen", fdopen)
    return made


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


# =========================================================================== KMS


def test_a_kms_answer_slower_than_the_read_timeout_fails_promptly_and_nothing_is_written_or_uploaded(
    kms_proxy: FaultProxy, s3_proxy: FaultProxy, kms_arn: str, direct_s3: Any, key: str
) -> None:
    keyring = AwsKmsKeyring(kms_arn, client=client_via(kms_proxy, "kms", read_timeout=1))
    kms_proxy.delay = 2.5

    began = time.monotonic()
    with pytest.raises(KmsError) as caught:
        busta.encrypt(b"payload", keyring=keyring)
    assert time.monotonic() - began < 2.0  # the read timeout (1 s), not the server's delay
    assert (caught.value.code, caught.value.key_id) == ("ReadTimeoutError", kms_arn)
    assert isinstance(caught.value, BustaError)

    sink = io.BytesIO()
    with pytest.raises(KmsError):
        busta.encrypt_stream(io.BytesIO(plaintext(1 << 20)), sink, keyring=keyring)
    assert sink.getvalue() == b""

    with pytest.raises(KmsError):
        upload(client_via(s3_proxy, "s3"), key, plaintext(PART + 1), keyring=keyring)
    assert s3_proxy.requests == []  # no S3 request at all: the data key comes first
    assert stored(direct_s3, key) is None
    assert multipart_uploads(direct_s3, key) == []
    assert kms_proxy.delays == 3


def test_a_kms_answer_slow_but_within_the_read_timeout_succeeds(
    kms_proxy: FaultProxy, s3_proxy: FaultProxy, kms_arn: str, key: str, tmp_path: Path
) -> None:
    keyring = AwsKmsKeyring(kms_arn, client=client_via(kms_proxy, "kms", read_timeout=2))
    kms_proxy.delay = 0.5
    client = client_via(s3_proxy, "s3")
    data = plaintext(PART + 1)
    upload(client, key, data, keyring=keyring)
    s3.download_file(BUCKET, key, tmp_path / "back.bin", client=client, keyring=keyring)
    assert (tmp_path / "back.bin").read_bytes() == data
    assert kms_proxy.delays == 2  # GenerateDataKey, then Decrypt


def test_kms_going_down_before_a_download_fails_naming_the_key_and_writes_no_plaintext(
    kms_proxy: FaultProxy, s3_proxy: FaultProxy, kms_arn: str, key: str, tmp_path: Path
) -> None:
    keyring = AwsKmsKeyring(kms_arn, client=client_via(kms_proxy, "kms", max_attempts=2))
    client = client_via(s3_proxy, "s3")
    data = plaintext(300_000)
    upload(client, key, data, keyring=keyring)
    target = tmp_path / "target.bin"
    target.write_bytes(b"the previous version")

    kms_proxy.go_down()
    with pytest.raises(NoDecryptingKeyError) as caught:
        s3.download_file(BUCKET, key, target, client=client, keyring=keyring)
    (error,) = caught.value.errors
    assert isinstance(error, KmsError)
    assert (error.key_id, error.operation) == (kms_arn, "decrypt")
    sink = io.BytesIO()
    with pytest.raises(NoDecryptingKeyError):
        s3.download_fileobj(BUCKET, key, sink, client=client, keyring=keyring)
    assert sink.getvalue() == b""
    assert listing(tmp_path) == ["target.bin"]
    assert target.read_bytes() == b"the previous version"
    assert kms_proxy.refused >= 2  # each attempt of each download

    kms_proxy.come_up()  # and once KMS is back, the same call succeeds
    s3.download_file(BUCKET, key, target, client=client, keyring=keyring)
    assert target.read_bytes() == data


def test_kms_going_down_between_the_files_of_a_cli_decrypt_keeps_finished_outputs_and_writes_no_other(
    kms_proxy: FaultProxy,
    kms_arn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_backoff: None,
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("a", "b", "c"):
        (plain / f"{name}.txt").write_bytes(name.encode() * 100_000)
    kms = ["--kms-key", kms_arn, "--aws-endpoint-url", kms_proxy.endpoint]
    assert main(["encrypt", "-r", str(plain), "-o", str(tmp_path / "sealed"), *kms]) == 0

    real_decrypt_stream = busta.Client.decrypt_stream  # what the commands' client calls

    def decrypt_then_kms_goes_down(self: busta.Client, *args: Any, **kwargs: Any) -> busta.StreamResult:
        result = real_decrypt_stream(self, *args, **kwargs)
        kms_proxy.go_down()
        return result

    monkeypatch.setattr(busta.Client, "decrypt_stream", decrypt_then_kms_goes_down)
    restored = tmp_path / "restored"
    assert main(["decrypt", "-r", str(tmp_path / "sealed"), "-o", str(restored), *kms]) == 1
    error = capsys.readouterr().err
    assert error.startswith("busta: error:") and kms_arn in error
    assert listing(restored) == ["a.txt"]  # b failed, c was never started; no temporary file
    assert (restored / "a.txt").read_bytes() == (plain / "a.txt").read_bytes()
    assert kms_proxy.refused >= 1


@pytest.mark.parametrize(("throttled", "succeeds"), [(3, True), (None, False)], ids=["3-then-ok", "always"])
def test_kms_throttling_through_the_cli_is_retried_and_beyond_the_retries_writes_nothing(
    throttled: int | None,
    succeeds: bool,
    kms_proxy: FaultProxy,
    kms_arn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_backoff: None,
) -> None:
    """The CLI's KMS clients make 4 attempts (busta.keyrings.aws_kms.DEFAULT_CLIENT_CONFIG)."""
    source = tmp_path / "plain.bin"
    source.write_bytes(plaintext(200_000))
    kms = ["--kms-key", kms_arn, "--aws-endpoint-url", kms_proxy.endpoint]
    out = tmp_path / "out" / "plain.bin.enc"
    throttle = kms_proxy.add(Respond(throttling_response(), times=throttled))

    status = main(["encrypt", str(source), "-o", str(out), *kms])

    if succeeds:
        assert status == 0
        assert (throttle.fired, len(kms_proxy.requests)) == (3, 4)
        kms_proxy.clear()
        assert main(["decrypt", str(out), "-o", str(tmp_path / "back.bin"), *kms]) == 0
        assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    else:
        assert status == 1
        assert "ThrottlingException" in capsys.readouterr().err
        assert throttle.fired == 4
        assert not out.parent.exists() or listing(out.parent) == []  # no output, no temporary file


# =========================================================================== S3 uploads


@pytest.mark.parametrize("direction", ["upstream", "downstream"], ids=["request-cut", "answer-lost"])
def test_a_connection_dropped_during_an_upload_part_without_retries_aborts_the_upload_and_leaves_nothing(
    direction: Direction, s3_proxy: FaultProxy, direct_s3: Any, key: str
) -> None:
    """16 MiB in 5 MiB parts; part 2's connection is reset after 1 MiB of its request, or before its answer."""
    drop = s3_proxy.add(Drop(direction, (1 << 20) if direction == "upstream" else 0, match=part_request(2)))
    with pytest.raises(S3Error) as caught:
        upload(client_via(s3_proxy, "s3", max_attempts=1), key, plaintext(16 << 20))
    assert (caught.value.operation, caught.value.bucket, caught.value.key) == ("UploadPart", BUCKET, key)
    assert isinstance(caught.value.__cause__, botocore.exceptions.BotoCoreError)
    assert drop.fired == 1
    assert any(line.startswith("DELETE ") for line in s3_proxy.requests)  # AbortMultipartUpload
    assert not any(COMPLETE_REQUEST(line) for line in s3_proxy.requests)
    assert stored(direct_s3, key) is None
    assert multipart_uploads(direct_s3, key) == []


@pytest.mark.parametrize("direction", ["upstream", "downstream"], ids=["request-cut", "answer-lost"])
def test_a_connection_dropped_once_during_an_upload_part_is_retried_and_the_object_decrypts_to_the_input(
    direction: Direction, s3_proxy: FaultProxy, direct_s3: Any, key: str, no_backoff: None
) -> None:
    drop = s3_proxy.add(Drop(direction, (1 << 20) if direction == "upstream" else 0, match=part_request(3)))
    data = plaintext(16 << 20)
    result = upload(client_via(s3_proxy, "s3", max_attempts=3), key, data)
    assert result.parts == 4
    assert drop.fired == 1
    assert sum(part_request(3)(line) for line in s3_proxy.requests) == 2  # sent, dropped, sent again
    message = stored(direct_s3, key)
    assert message is not None and len(message) == result.object_size
    assert busta.decrypt(message, keyring=KEYRING).plaintext == data
    assert multipart_uploads(direct_s3, key) == []


@pytest.mark.parametrize(("attempts", "raises"), [(1, True), (3, False)], ids=["no-retries", "retried"])
def test_a_lost_complete_multipart_upload_answer_never_leaves_a_partial_object(
    attempts: int, raises: bool, s3_proxy: FaultProxy, direct_s3: Any, key: str, no_backoff: None
) -> None:
    """S3 completed the upload but its answer is lost: the object is whole, even when the call raises.

    The client cannot tell a lost answer from a failed request: without retries
    the upload raises S3Error (its abort finds no upload left) although the
    complete object is at the key; with retries the repeated Complete succeeds.
    """
    drop = s3_proxy.add(Drop("downstream", 0, match=COMPLETE_REQUEST))
    data = plaintext(PART + 1)
    client = client_via(s3_proxy, "s3", max_attempts=attempts)
    if raises:
        with pytest.raises(S3Error) as caught:
            upload(client, key, data)
        assert caught.value.operation == "CompleteMultipartUpload"
    else:
        upload(client, key, data)
    assert drop.fired == 1
    message = stored(direct_s3, key)
    assert message is not None
    assert busta.decrypt(message, keyring=KEYRING).plaintext == data
    assert multipart_uploads(direct_s3, key) == []


# =========================================================================== S3 downloads


def test_a_connection_dropped_mid_download_file_keeps_the_old_file_and_leaves_no_temporary_file(
    s3_proxy: FaultProxy, direct_s3: Any, key: str, tmp_path: Path
) -> None:
    data = plaintext(6 << 20)
    upload(direct_s3, key, data)
    target = tmp_path / "target.bin"
    target.write_bytes(b"the previous version")
    client = client_via(s3_proxy, "s3", max_attempts=3)  # a broken body is not retried
    drop = s3_proxy.add(Drop("downstream", 3 << 20, match=GET_REQUEST))

    with pytest.raises(S3Error) as caught:
        s3.download_file(BUCKET, key, target, client=client, keyring=KEYRING)
    assert (caught.value.operation, caught.value.key) == ("GetObject", key)
    assert isinstance(caught.value.__cause__, botocore.exceptions.BotoCoreError)
    assert drop.fired == 1
    assert listing(tmp_path) == ["target.bin"]
    assert target.read_bytes() == b"the previous version"

    s3.download_file(BUCKET, key, target, client=client, keyring=KEYRING)  # the fault was spent
    assert target.read_bytes() == data


def test_a_connection_dropped_mid_download_fileobj_has_released_only_whole_authenticated_frames(
    s3_proxy: FaultProxy, direct_s3: Any, key: str
) -> None:
    """download_fileobj writes only authenticated frames, but an error means "discard what was written"."""
    data = plaintext(6 << 20)
    upload(direct_s3, key, data)  # the default suite: signed, so the signature is never reached
    # Closed, not reset: an RST discards what the client had not read yet, so how much arrives
    # would depend on how far behind the reader was.
    drop = s3_proxy.add(Drop("downstream", 5 << 20, match=GET_REQUEST, reset=False))
    sink = io.BytesIO()
    with pytest.raises(S3Error) as caught:
        s3.download_fileobj(BUCKET, key, sink, client=client_via(s3_proxy, "s3"), keyring=KEYRING)
    assert caught.value.operation == "GetObject"
    assert drop.fired == 1
    written = sink.getvalue()
    assert 0 < len(written) < 5 << 20
    assert len(written) % FRAME == 0
    assert written == data[: len(written)]


# =========================================================================== disk full


@pytest.mark.parametrize("operation", ["encrypt_stream", "decrypt_stream"])
@pytest.mark.parametrize("capacity", [0, 100, 3 << 20])
def test_a_full_disk_under_a_stream_raises_enospc_unwrapped_and_nothing_is_written_after_it(
    operation: str, capacity: int, engine_mode: str, tally: Tally
) -> None:
    data = plaintext(5 << 20)
    target = io.BytesIO()
    disk = FullDisk(target, capacity)
    sink = cast("IO[bytes]", disk)
    call: Callable[[], busta.StreamResult]
    if operation == "encrypt_stream":
        call = functools.partial(busta.Client(threads=2).encrypt_stream, io.BytesIO(data), sink, keyring=KEYRING)
    else:
        message = busta.encrypt(data, keyring=KEYRING, frame_length=FRAME)
        call = functools.partial(busta.Client(threads=2).decrypt_stream, io.BytesIO(message), sink, keyring=KEYRING)
    with pytest.raises(OSError) as caught:
        call()
    tally.other += disk.refused
    assert caught.value.errno == errno.ENOSPC
    assert not isinstance(caught.value, BustaError)  # the caller's own I/O error, as raised
    assert disk.refused == 1  # the engine stopped at the first refusal
    assert len(target.getvalue()) == capacity
    if operation == "decrypt_stream":
        assert target.getvalue() == data[:capacity]


@pytest.mark.parametrize("capacity", [0, 1 << 20, (2 << 20) - 1000], ids=["at-once", "midway", "at-the-end"])
def test_a_full_disk_under_download_file_keeps_the_old_file_and_removes_the_temporary_file(
    capacity: int, s3_proxy: FaultProxy, direct_s3: Any, key: str, tmp_path: Path, tally: Tally
) -> None:
    data = plaintext(2 << 20)
    upload(direct_s3, key, data)
    target = tmp_path / "target.bin"
    target.write_bytes(b"the previous version")
    client = client_via(s3_proxy, "s3")
    with pytest.MonkeyPatch.context() as patch, pytest.raises(OSError) as caught:
        files = fill_disk_after(patch, capacity)
        s3.download_file(BUCKET, key, target, client=client, keyring=KEYRING)
    tally.other += sum(file.refused for file in files)
    assert caught.value.errno == errno.ENOSPC
    (file,) = files
    assert file.refused >= 1
    assert listing(tmp_path) == ["target.bin"]
    assert target.read_bytes() == b"the previous version"


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = tmp_path / "config" / "busta" / "default.key"
    assert main(["keygen"]) == 0
    return path


def keyring_of(key_file: Path) -> RawAesKeyring:
    record = read_record(key_file)
    return RawAesKeyring(record.namespace, record.name, record.key)


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
@pytest.mark.parametrize("capacity", [0, 1 << 20, (3 << 20) - 1000], ids=["at-once", "midway", "at-the-end"])
def test_a_full_disk_under_a_cli_output_exits_1_with_the_reason_and_leaves_no_output(
    command: str,
    capacity: int,
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tally: Tally,
) -> None:
    data = plaintext(3 << 20)
    source = tmp_path / "in.bin"
    source.write_bytes(data if command == "encrypt" else busta.encrypt(data, keyring=keyring_of(key_file)))
    outputs = tmp_path / "out"
    outputs.mkdir()
    (outputs / "existing.bin").write_bytes(b"the previous version")
    capsys.readouterr()

    with pytest.MonkeyPatch.context() as patch:
        files = fill_disk_after(patch, capacity)
        fresh = main([command, str(source), "-o", str(outputs / "fresh.bin")])
        forced = main([command, str(source), "-o", str(outputs / "existing.bin"), "--force"])
    tally.other += sum(file.refused for file in files)

    assert (fresh, forced) == (1, 1)
    assert capsys.readouterr().err == "".join(  # the line names the output the disk refused, not the input
        f"busta: error: {outputs / name}: {ENOSPC_MESSAGE}\n" for name in ("fresh.bin", "existing.bin")
    )
    assert len(files) == 2 and all(file.refused >= 1 for file in files)
    assert listing(outputs) == ["existing.bin"]  # no fresh.bin, no temporary file
    assert (outputs / "existing.bin").read_bytes() == b"the previous version"


def run_cli(args: list[str], tmp_path: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """``python -m busta ARGS`` in a fresh process, with the key store under tmp_path/config."""
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([sys.executable, "-m", "busta", *args], env=env, cwd=tmp_path, **popen)


@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="no writable /dev/full")
@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
@pytest.mark.parametrize("size", [100, 3 << 20], ids=["small", "3MiB"])
def test_cli_output_to_dev_full_exits_1_with_one_error_line(
    command: str, size: int, key_file: Path, tmp_path: Path, tally: Tally
) -> None:
    """The real ENOSPC: stdout is /dev/full (refused by the first flush or write)."""
    data = plaintext(size)
    source = tmp_path / "in.bin"
    source.write_bytes(data if command == "encrypt" else busta.encrypt(data, keyring=keyring_of(key_file)))
    with open("/dev/full", "wb") as full:
        process = run_cli([command, "in.bin", "-o", "-"], tmp_path, stdout=full, stderr=subprocess.PIPE)
        _, error = process.communicate(timeout=30)
    tally.other += 1
    assert (process.returncode, error.decode()) == (1, f"busta: error: standard output: {ENOSPC_MESSAGE}\n")


# =========================================================================== the process killed


def stop(process: subprocess.Popen[bytes], feeder: threading.Thread, signum: int) -> bytes:
    """Send ``signum``, wait for the feeder and the process to end; return stderr."""
    process.send_signal(signum)
    feeder.join(timeout=20)
    try:
        _, error = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _, error = process.communicate()
        raise AssertionError(f"the CLI did not end within 20 s of signal {signum}: {error!r}") from None
    return error


@pytest.fixture
def cli_key(tmp_path: Path) -> Path:
    """A key made by ``python -m busta keygen`` into tmp_path/config."""
    keygen = run_cli(["keygen"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, error = keygen.communicate(timeout=30)
    assert keygen.returncode == 0, error
    return tmp_path / "config" / "busta" / "default.key"


def test_a_cli_encrypt_killed_mid_stream_leaves_no_target_and_a_rerun_completes(
    cli_key: Path, tmp_path: Path, tally: Tally
) -> None:
    data = plaintext(12 << 20)
    out = tmp_path / "out"
    out.mkdir()
    args = ["encrypt", "-", "-o", "out/data.enc", "--key-file", str(cli_key)]
    process = run_cli(args, tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    temporary, feeder = feed_until_written(process, data[: 8 << 20], out, 2 << 20)
    stop(process, feeder, signal.SIGKILL)
    tally.other += 1

    assert process.returncode == -signal.SIGKILL
    assert not (out / "data.enc").exists()
    # SIGKILL leaves the temporary file, named for its target, owner-only, and incomplete
    assert listing(out) == [temporary.name]
    assert re.fullmatch(TEMP_NAME.format(name=re.escape("data.enc")), temporary.name)
    assert stat.S_IMODE(temporary.stat().st_mode) == 0o600
    with pytest.raises(TruncatedMessageError):
        busta.decrypt(temporary.read_bytes(), keyring=keyring_of(cli_key))
    temporary.unlink()

    rerun = run_cli(args, tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    _, error = rerun.communicate(data, timeout=30)
    assert rerun.returncode == 0, error
    assert listing(out) == ["data.enc"]
    assert busta.decrypt((out / "data.enc").read_bytes(), keyring=keyring_of(cli_key)).plaintext == data


def test_a_cli_decrypt_killed_mid_stream_leaves_no_target(cli_key: Path, tmp_path: Path, tally: Tally) -> None:
    data = plaintext(12 << 20)
    message = busta.encrypt(data, keyring=keyring_of(cli_key))
    out = tmp_path / "out"
    out.mkdir()
    args = ["decrypt", "-", "-o", "out/data.bin", "--key-file", str(cli_key)]
    process = run_cli(args, tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    temporary, feeder = feed_until_written(process, message[: 8 << 20], out, 2 << 20)
    stop(process, feeder, signal.SIGKILL)
    tally.other += 1

    assert not (out / "data.bin").exists()
    # the leftover holds authenticated plaintext of the frames before the kill: owner-only, to be deleted
    assert listing(out) == [temporary.name]
    assert re.fullmatch(TEMP_NAME.format(name=re.escape("data.bin")), temporary.name)
    assert stat.S_IMODE(temporary.stat().st_mode) == 0o600
    leftover = temporary.read_bytes()
    assert len(leftover) < len(data) and leftover == data[: len(leftover)]


@pytest.mark.parametrize(
    ("signum", "status", "message"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_an_interrupted_or_terminated_cli_encrypt_exits_with_its_status_and_removes_its_temporary_file(
    cli_key: Path, tmp_path: Path, tally: Tally, signum: signal.Signals, status: int, message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = ["encrypt", "-", "-o", "out/data.enc", "--key-file", str(cli_key)]
    process = run_cli(args, tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    _, feeder = feed_until_written(process, plaintext(12 << 20)[: 8 << 20], out, 2 << 20)
    error = stop(process, feeder, signum)
    tally.other += 1

    assert (process.returncode, error.decode()) == (status, f"busta: error: {message}\n")
    assert listing(out) == []


# =========================================================================== the harness itself


def read_until_closed(sock: socket.socket) -> bytes:
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return bytes(received)


def test_the_fault_proxy_forwards_unchanged_and_cuts_exactly_after_n_bytes_on_the_chosen_connection(
    moto_server: MotoServer, tally: Tally
) -> None:
    request = b"GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with FaultProxy(moto_server.endpoint) as proxy:
        tally.proxies.append(proxy)
        drop = proxy.add(Drop("downstream", 100, connection=2))
        answers = []
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                sock.sendall(request)
                answers.append(read_until_closed(sock))
    whole, cut, again = answers
    assert whole.startswith(b"HTTP/1.1 200") and len(whole) > 1000 and len(again) == len(whole)
    assert len(cut) == 100 and cut.startswith(b"HTTP/1.1 200")
    assert (drop.fired, proxy.fired, proxy.connections) == (1, 1, 3)
    assert proxy.requests == ["GET /moto-api/ HTTP/1.1"] * 3


def test_a_drop_without_reset_delivers_all_n_bytes_to_a_reader_that_fell_behind(
    s3_proxy: FaultProxy, direct_s3: Any, key: str
) -> None:
    """An RST drops what the proxy's kernel still held unsent (as much as the receiver's window kept
    back), so a slow reader sees the cut early; a FIN arrives after the last byte."""
    direct_s3.put_object(Bucket=BUCKET, Key=key, Body=plaintext(4 << 20))
    drop = s3_proxy.add(Drop("downstream", 1 << 20, reset=False))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)  # a small window, set before connecting
        sock.settimeout(5)
        sock.connect(("127.0.0.1", s3_proxy.port))
        url = urlsplit(direct_s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}))
        line = f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n\r\n"
        sock.sendall(line.encode())  # presigned for moto's own address: the proxy passes the bytes on as they are
        deadline = time.monotonic() + 5
        while not drop.fired and time.monotonic() < deadline:  # fall behind: the cut happens before reading
            time.sleep(0.01)
        time.sleep(0.1)
        received = bytearray()
        while chunk := sock.recv(65536):  # ends at EOF: a reset would raise ConnectionResetError
            received += chunk
    assert drop.fired == 1
    assert len(received) == 1 << 20 and received.startswith(b"HTTP/1.1 200")
