"""Memory follows the bytes a message delivers, never a length it declares.

A message of under 1 KiB may declare frames of any legal length (up to 2**31 - 1)
or a non-framed body of up to 2**36 - 32 bytes. Through every public entry point
(one-shot, reader, writer, ``decrypt_stream``, ``open_seekable``, S3 download and
ranged read against a moto server) it decrypts or fails with an BustaError
while the process grows by less than :data:`BOUND`. Each entry point runs in a
child process of its own (``python -m tests.streaming.test_memory_bounds``) that measures two
ways: the tracemalloc peak, and the peak resident set size (VmHWM, reset through
``/proc/self/clear_refs`` before each case), because buffers made through the C
API are not all seen by tracemalloc. The child's address space is capped, so
that a regression fails with MemoryError instead of taking the machine's memory.

Also here: a non-framed body is held up to ``max_nonframed_bytes`` (default
:data:`~busta.limits.MAX_NONFRAMED_BUFFER_BYTES`) and refused beyond it with
LimitExceededError, on every decrypt entry point; and the buffers a thread keeps
between streaming calls stay within :data:`~busta.limits.MAX_RETAINED_BUFFER_BYTES`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite, s3
from busta.errors import BustaError, LimitExceededError, UsageError
from busta.format import parse_header
from busta.keyrings import RawAesKeyring
from busta.limits import (
    MAX_FRAME_LENGTH,
    MAX_NONFRAMED_BUFFER_BYTES,
    MAX_NONFRAMED_CONTENT_LENGTH,
    MAX_RETAINED_BUFFER_BYTES,
)
from busta.streaming import pump
from fuzzing.seeds import nonframed_message

from ..support.entries import decrypt_through
from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

#: The most one decryption of a tiny message may add to the process (tracemalloc peak and peak RSS).
BOUND = 4 << 20
#: The child's address space may grow by this much above what it has mapped at start, and no more.
ADDRESS_SPACE_HEADROOM = 2 << 30
KEY = bytes(range(0x40, 0x60))
KEYRING = RawAesKeyring("memory-bounds", "aes", KEY)
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
FRAMES = (1, 4095, 4096, 65536, 1 << 20, (1 << 20) + 1, 1 << 24, 1 << 26, 1 << 30, MAX_FRAME_LENGTH)
NONFRAMED_CLAIMS = (MAX_NONFRAMED_BUFFER_BYTES, MAX_NONFRAMED_BUFFER_BYTES + 1, MAX_NONFRAMED_CONTENT_LENGTH)
ENTRY_POINTS = ("one-shot", "reader", "writer", "stream", "seekable", "s3-download", "s3-range")
REGION = "us-west-2"
BUCKET = "memory-bounds"


@dataclass(frozen=True)
class Case:
    """One message: its file, what decrypting it must give (plaintext hex, or any BustaError)."""

    name: str
    path: str
    plaintext: str | None  # hex; None: must fail with an BustaError


def _framed(frame: int, suite: AlgorithmSuite) -> tuple[bytes, bytes]:
    plaintext = os.urandom(16 if frame < 16 else 64)
    return busta.encrypt(plaintext, keyring=KEYRING, algorithm=suite, frame_length=frame), plaintext


def _cut_in_a_regular_frame(message: bytes) -> bytes:
    """The header of ``message`` and the start of a regular frame 1 that never ends."""
    parsed = parse_header(message)
    assert parsed is not None
    return message[: parsed.length] + (1).to_bytes(4, "big") + bytes(12) + os.urandom(100)


def _nonframed_claiming(content_length: int) -> bytes:
    """A non-framed message whose body claims ``content_length`` bytes and delivers 100."""
    message = nonframed_message(b"x" * 64, UNSIGNED, KEYRING)
    parsed = parse_header(message)
    assert parsed is not None
    at = parsed.length + 12
    return message[:at] + content_length.to_bytes(8, "big") + os.urandom(100)


def _messages() -> Iterator[tuple[str, bytes, bytes | None]]:
    for frame in FRAMES:
        for suite in (UNSIGNED, SIGNED):
            message, plaintext = _framed(frame, suite)
            yield f"frame {frame} {suite.name}", message, plaintext
        yield f"frame {frame} cut in a regular frame", _cut_in_a_regular_frame(message), None
    for claim in NONFRAMED_CLAIMS:
        yield f"non-framed claiming {claim}", _nonframed_claiming(claim), None


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    folder = tmp_path_factory.mktemp("tiny-messages")
    found = []
    for index, (name, message, plaintext) in enumerate(_messages()):
        assert len(message) < 1024, f"{name}: {len(message)} bytes"
        path = folder / f"{index}.msg"
        path.write_bytes(message)
        found.append(Case(name, str(path), None if plaintext is None else plaintext.hex()))
    return found


@pytest.fixture(scope="module")
def endpoint(moto_server: MotoServer, cases: list[Case]) -> str:
    """The S3 endpoint of a bucket holding every case under its file name."""
    client = moto_server.client("s3", REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for case in cases:
        client.put_object(Bucket=BUCKET, Key=Path(case.path).name, Body=Path(case.path).read_bytes())
    return moto_server.endpoint


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_tiny_message_declaring_any_length_stays_within_a_few_mib(
    entry: str, cases: list[Case], endpoint: str
) -> None:
    spec = {"entry": entry, "endpoint": endpoint, "cases": [asdict(case) for case in cases]}
    child = subprocess.run(
        [sys.executable, "-m", "tests.streaming.test_memory_bounds"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout)
    assert len(results) == len(cases)
    wrong = []
    for case, result in zip(cases, results, strict=True):
        if case.plaintext is not None:
            outcome_ok = result["plaintext"] == case.plaintext
        else:
            outcome_ok = result["error"] is not None and result["busta_error"]
        if not outcome_ok or result["tracemalloc_peak"] >= BOUND or result["rss_peak"] >= BOUND:
            wrong.append(f"{case.name}: {result}")
    assert not wrong, f"{entry}: {len(wrong)} of {len(cases)} cases wrong:\n" + "\n".join(wrong)


# --- the child ------------------------------------------------------------------------------------


def _s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client(
        "s3",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def _entry(entry: str, endpoint: str) -> Callable[[str], bytes]:
    """``decrypt(path)`` through ``entry``."""

    def one_shot(path: str) -> bytes:
        return busta.decrypt(Path(path).read_bytes(), keyring=KEYRING)

    def reader(path: str) -> bytes:
        with open(path, "rb") as source:
            return busta.decrypting_reader(source, keyring=KEYRING).read()

    def writer(path: str) -> bytes:
        data, sink = Path(path).read_bytes(), io.BytesIO()
        with busta.decrypting_writer(sink, keyring=KEYRING) as into:
            for at in range(0, len(data), 64):
                into.write(data[at : at + 64])
        return sink.getvalue()

    def stream(path: str) -> bytes:
        sink = io.BytesIO()
        with open(path, "rb") as source:
            busta.decrypt_stream(source, sink, keyring=KEYRING)
        return sink.getvalue()

    def seekable(path: str) -> bytes:
        with open(path, "rb") as source:
            return busta.open_seekable(source, keyring=KEYRING, allow_unverified_signature=True).read()

    client = _s3_client(endpoint) if entry.startswith("s3") else None

    def s3_download(path: str) -> bytes:
        sink = io.BytesIO()
        s3.download_fileobj(BUCKET, Path(path).name, sink, client=client, keyring=KEYRING)
        return sink.getvalue()

    def s3_range(path: str) -> bytes:
        return s3.get_range(
            BUCKET, Path(path).name, 0, 1 << 40, client=client, keyring=KEYRING, allow_unverified_signature=True
        )

    entries: dict[str, Callable[[str], bytes]] = {
        "one-shot": one_shot,
        "reader": reader,
        "writer": writer,
        "stream": stream,
        "seekable": seekable,
        "s3-download": s3_download,
        "s3-range": s3_range,
    }
    return entries[entry]


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _measure(decrypt: Callable[[str], bytes], path: str) -> dict[str, Any]:
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS starts again from the current RSS
    rss = _status("VmRSS")
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    plaintext, error, busta_error = None, None, False
    try:
        plaintext = decrypt(path).hex()
    except Exception as exc:
        error, busta_error = f"{type(exc).__name__}: {str(exc)[:120]}", isinstance(exc, BustaError)
    peak = tracemalloc.get_traced_memory()[1] - base
    return {
        "plaintext": plaintext,
        "error": error,
        "busta_error": busta_error,
        "tracemalloc_peak": peak,
        "rss_peak": _status("VmHWM") - rss,
    }


def _child() -> None:
    spec = json.load(sys.stdin)
    decrypt = _entry(spec["entry"], spec["endpoint"])
    for warm in spec["cases"][:4]:  # imports, first buffers, connection pools: not what is measured
        with contextlib.suppress(BustaError):
            decrypt(warm["path"])
    mapped = _status("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (mapped + ADDRESS_SPACE_HEADROOM, resource.RLIM_INFINITY))
    tracemalloc.start()
    results = [_measure(decrypt, case["path"]) for case in spec["cases"]]
    tracemalloc.stop()
    json.dump(results, sys.stdout)


# --- the non-framed buffer limit --------------------------------------------------------------------


def _decrypt_through(
    entry: str, message: bytes, client: Any, max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES
) -> bytes:
    if entry.startswith("s3."):
        client.put_object(Bucket=BUCKET, Key="nonframed", Body=message)
    s3_object = (client, BUCKET, "nonframed")
    return decrypt_through(entry, message, KEYRING, s3_object=s3_object, max_nonframed_bytes=max_nonframed_bytes)


NONFRAMED_ENTRIES = (
    "decrypt",
    "decrypt_message",
    "decrypting_reader",
    "decrypting_writer",
    "decrypt_stream",
    "start_decryption",
    "s3.download_fileobj",
)


@pytest.fixture(scope="module")
def s3_client(moto_server: MotoServer, endpoint: str) -> Any:
    return moto_server.client("s3", REGION)


@pytest.mark.parametrize("entry", NONFRAMED_ENTRIES)
def test_a_non_framed_body_is_held_up_to_its_limit_and_refused_beyond_it(entry: str, s3_client: Any) -> None:
    plaintext = os.urandom(256 << 10)
    message = nonframed_message(plaintext, UNSIGNED, KEYRING)
    assert _decrypt_through(entry, message, s3_client) == plaintext  # default: 64 MiB
    assert _decrypt_through(entry, message, s3_client, max_nonframed_bytes=len(plaintext)) == plaintext
    with pytest.raises(LimitExceededError) as refused:
        _decrypt_through(entry, message, s3_client, max_nonframed_bytes=len(plaintext) - 1)
    assert (refused.value.what, refused.value.value, refused.value.limit) == (
        "non-framed body length",
        len(plaintext),
        len(plaintext) - 1,
    )


@pytest.mark.parametrize("entry", NONFRAMED_ENTRIES)
def test_a_non_framed_body_above_the_default_limit_is_refused_at_its_head(entry: str, s3_client: Any) -> None:
    with pytest.raises(LimitExceededError) as refused:
        _decrypt_through(entry, _nonframed_claiming(MAX_NONFRAMED_BUFFER_BYTES + 1), s3_client)
    assert refused.value.limit == MAX_NONFRAMED_BUFFER_BYTES


class _Endless(io.RawIOBase):
    """``prefix``, then zeros for ever, counting what was read."""

    def __init__(self, prefix: bytes):
        self._prefix = prefix
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, view: Any) -> int:
        chunk = self._prefix[self.given : self.given + len(view)]
        n = len(view)
        memoryview(view)[: len(chunk)] = chunk
        memoryview(view)[len(chunk) : n] = bytes(n - len(chunk))
        self.given += n
        return n


def test_a_streamed_non_framed_body_is_refused_before_it_is_buffered() -> None:
    source = _Endless(_nonframed_claiming(MAX_NONFRAMED_BUFFER_BYTES + 1))
    with pytest.raises(LimitExceededError):
        busta.decrypt_stream(source, io.BytesIO(), keyring=KEYRING)  # type: ignore[arg-type]
    assert source.given <= 64 << 10  # the first read


@pytest.mark.parametrize("limit", [0, -1, None, 1.5, True])
def test_a_bad_limit_is_refused_at_the_call(limit: Any) -> None:
    for name in ("max_nonframed_bytes", "max_header_bytes"):
        with pytest.raises(UsageError):
            busta.start_decryption(keyring=KEYRING, **{name: limit})


# --- what a thread keeps between calls -----------------------------------------------------------------


def test_buffers_kept_between_streaming_calls_stay_within_their_limit() -> None:
    plaintext = os.urandom(24 << 20)
    message = busta.encrypt(plaintext, keyring=KEYRING, algorithm=UNSIGNED, frame_length=8 << 20)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        sink = io.BytesIO()
        busta.decrypt_stream(io.BytesIO(message), sink, keyring=KEYRING)
        assert sink.getvalue() == plaintext
        del sink
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept <= MAX_RETAINED_BUFFER_BYTES, f"{kept} bytes outlived the call"
    buffers = pump._scratch.buffers
    assert sum(len(buffer) for buffer in buffers._slots.values()) <= MAX_RETAINED_BUFFER_BYTES


def test_the_default_framing_keeps_its_buffers_for_the_next_call() -> None:
    message = busta.encrypt(os.urandom(8 << 20), keyring=KEYRING, algorithm=UNSIGNED)
    busta.decrypt_stream(io.BytesIO(message), io.BytesIO(), keyring=KEYRING)
    kept = dict(pump._scratch.buffers._slots)
    busta.decrypt_stream(io.BytesIO(message), io.BytesIO(), keyring=KEYRING)
    again = pump._scratch.buffers._slots
    assert kept and all(again[slot] is buffer for slot, buffer in kept.items())  # reused, not made anew


if __name__ == "__main__":
    _child()
