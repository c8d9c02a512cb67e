"""``download_file`` in ranges: several ranged GETs in flight, each range authenticated, renamed only when whole.

Against moto's S3 server on 127.0.0.1. Requests are recorded with botocore's event
hooks; a hook that holds each ranged GET for a moment makes their overlap certain.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite, s3
from busta.errors import (
    AuthenticationError,
    BustaError,
    EncryptionContextError,
    MalformedMessageError,
    NoDecryptingKeyError,
    S3Error,
    SignedMessageError,
)
from busta.format.layout import regular_frame_size
from fuzzing.seeds import nonframed_message

from ..support.kms_fixtures import moto_server
from .test_s3 import (
    BUCKET,
    CONTEXT,
    KEYRING,
    OTHER_KEYRING,
    PART,
    client,
    flipped,
    get_object,
    header_length,
    key,
    plaintext,
    put_object,
)

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.from_id(0x0578)


@contextlib.contextmanager
def gets(client: Any, *, hold: float = 0.0) -> Iterator[list[dict[str, Any]]]:
    """Record the parameters of every HeadObject / GetObject; hold each ranged GET ``hold`` seconds."""
    seen: list[dict[str, Any]] = []
    lock = threading.Lock()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        with lock:
            seen.append({"operation": model.name, **params})
        if hold and model.name == "GetObject" and "Range" in params:
            time.sleep(hold)

    client.meta.events.register("provide-client-params.s3", record, unique_id="busta-test-gets")
    try:
        yield seen
    finally:
        client.meta.events.unregister("provide-client-params.s3", unique_id="busta-test-gets")


@contextlib.contextmanager
def in_flight(client: Any) -> Iterator[list[int]]:
    """The most GetObjects in flight at once so far, as ``[most]``."""
    count, most = [0], [0]
    lock = threading.Lock()

    def started(**_: Any) -> None:
        with lock:
            count[0] += 1
            most[0] = max(most[0], count[0])

    def ended(**_: Any) -> None:
        with lock:
            count[0] -= 1

    client.meta.events.register("before-call.s3.GetObject", started, unique_id="busta-test-start")
    client.meta.events.register("after-call.s3.GetObject", ended, unique_id="busta-test-end")
    try:
        yield most
    finally:
        client.meta.events.unregister("before-call.s3.GetObject", unique_id="busta-test-start")
        client.meta.events.unregister("after-call.s3.GetObject", unique_id="busta-test-end")


def store(client: Any, key: str, data: bytes, *, non_framed: bool = False, **options: Any) -> bytes:
    """Encrypt ``data`` (unsigned, 64 KiB frames unless told) and put the message at ``key``; return it."""
    if non_framed:
        message = nonframed_message(data, UNSIGNED, KEYRING)
    else:
        message = busta.encrypt(data, keyring=KEYRING, **{"algorithm": UNSIGNED, **options})
    put_object(client, key, message)
    return message


def download(client: Any, key: str, target: Path, **options: Any) -> busta.StreamResult:
    options = {"keyring": KEYRING, "part_size": PART, "max_concurrency": 4, **options}
    return s3.download_file(BUCKET, key, target, client=client, **options)


def ranged(seen: list[dict[str, Any]]) -> list[str]:
    return [params["Range"] for params in seen if params["operation"] == "GetObject" and "Range" in params]


def whole(seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [params for params in seen if params["operation"] == "GetObject" and "Range" not in params]


def test_a_large_unsigned_object_comes_in_ranges_several_at_once(client: Any, key: str, tmp_path: Path) -> None:
    data = plaintext(4 * PART + 12345)
    store(client, key, data)
    target = tmp_path / "out"
    with gets(client, hold=0.2) as seen, in_flight(client) as most:
        result = download(client, key, target)
    assert target.read_bytes() == data
    assert result.plaintext_length == len(data) and result.header.suite is UNSIGNED
    assert whole(seen) == []
    # As many ranges as boto3 makes of that plaintext (five): the first holds the header, the last the
    # final frame (the last 12,345 bytes); no GET of their own for the header or the tail.
    assert [params["operation"] for params in seen] == ["HeadObject"] + ["GetObject"] * 5
    assert len(ranged(seen)) == 5
    etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert all(params["IfMatch"] == etag for params in seen if params["operation"] == "GetObject")
    assert most[0] >= 3  # held for 0.2 s each, four at once
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def spans(seen: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The byte ranges of the ranged GETs, in order of where they start, as ``(first, last)``."""
    found = [tuple(int(n) for n in r.removeprefix("bytes=").split("-")) for r in ranged(seen)]
    return sorted((first, last) for first, last in found)


@pytest.mark.parametrize("ranges", [1, 2, 3, 8])
def test_a_download_makes_the_requests_of_boto3s(client: Any, key: str, tmp_path: Path, ranges: int) -> None:
    """One HeadObject, then one ranged GET per range of plaintext, as boto3's download_file of the
    same plaintext: the first from byte 0 (its header is read from it), then ranges of whole frames,
    in order, the last ending where the object ends; together they cover the object once (the
    first and the second share at most the one frame the first range cuts)."""
    data = plaintext(ranges * PART)
    message = store(client, key, data)
    target = tmp_path / "out"
    with gets(client) as seen:
        download(client, key, target, multipart_threshold=0)
    assert target.read_bytes() == data
    assert [params["operation"] for params in seen] == ["HeadObject"] + ["GetObject"] * ranges
    got = spans(seen)
    assert got[0] == (0, (len(message) if ranges == 1 else PART) - 1)  # one range and its overhead: whole
    assert got[-1][1] == len(message) - 1
    step = regular_frame_size(64 << 10)
    for (_, last), (first, _) in itertools.pairwise(got):
        assert last - step < first <= last + 1  # no gap, and no more overlap than one frame
    frames = [(first - header_length(message)) % step for first, _ in got[1:]]
    assert frames == [0] * (ranges - 1)  # each after the first starts at a frame


def test_the_first_range_is_what_a_sequential_download_goes_on_from(client: Any, key: str, tmp_path: Path) -> None:
    """A signed object: the first range (its header says signed), then one GET of the rest; the same
    bytes are not fetched twice."""
    data = plaintext(3 * PART)
    message = store(client, key, data, algorithm=SIGNED)
    target = tmp_path / "out"
    with gets(client) as seen:
        download(client, key, target)
    assert target.read_bytes() == data
    assert spans(seen) == [(0, PART - 1), (PART, len(message) - 1)]


@pytest.mark.parametrize(
    "length",
    [0, 1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + 1],
    ids=["empty", "one", "range-1", "range", "range+1", "two-ranges", "two-ranges+1"],
)
def test_range_boundaries(client: Any, key: str, tmp_path: Path, length: int) -> None:
    data = plaintext(length)
    store(client, key, data, frame_length=4096)
    target = tmp_path / "out"
    with gets(client) as seen:
        result = download(client, key, target, multipart_threshold=0)
    assert target.read_bytes() == data and result.plaintext_length == length
    assert whole(seen) == []


def test_memory_is_bounded_by_the_ranges_in_flight(client: Any, key: str, tmp_path: Path) -> None:
    data = plaintext(16 * PART)  # 80 MiB
    store(client, key, data)
    tracemalloc.start()
    try:
        download(client, key, tmp_path / "out", max_concurrency=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * PART  # two ranges in flight, a few copies each; the object is 16 ranges
    assert (tmp_path / "out").read_bytes() == data


@pytest.mark.parametrize("where", ["middle", "final frame", "header"])
def test_a_tampered_object_leaves_no_file(client: Any, key: str, tmp_path: Path, where: str) -> None:
    data = plaintext(3 * PART)
    message = store(client, key, data)
    offset = {"middle": len(message) // 2, "final frame": len(message) - 20, "header": header_length(message) - 5}
    put_object(client, key, flipped(message, offset[where]))
    target = tmp_path / "out"
    target.write_bytes(b"the old file")
    with pytest.raises((AuthenticationError, MalformedMessageError)):
        download(client, key, target)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary file left
    assert target.read_bytes() == b"the old file"


def test_a_truncated_object_leaves_no_file(client: Any, key: str, tmp_path: Path) -> None:
    message = store(client, key, plaintext(3 * PART))
    step = regular_frame_size(64 << 10)
    put_object(client, key, message[: len(message) // 2] + message[len(message) // 2 + step :])  # a frame left out
    with pytest.raises(BustaError):
        download(client, key, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_an_object_replaced_during_the_download_fails(client: Any, key: str, tmp_path: Path) -> None:
    store(client, key, plaintext(3 * PART))
    replaced = threading.Event()
    seen = []

    def replace(params: dict[str, Any], **_: Any) -> None:
        seen.append(params.get("Range"))
        if len(seen) == 3:  # after the header and the tail: the first range of frames
            replaced.set()
            store(client, key, b"another object")

    client.meta.events.register("provide-client-params.s3.GetObject", replace, unique_id="busta-test-replace")
    try:
        with pytest.raises(S3Error) as caught:
            download(client, key, tmp_path / "out", max_concurrency=2)
    finally:
        client.meta.events.unregister("provide-client-params.s3.GetObject", unique_id="busta-test-replace")
    assert caught.value.code == "PreconditionFailed"
    assert replaced.is_set() and list(tmp_path.iterdir()) == []


def test_a_signed_object_is_downloaded_sequentially(client: Any, key: str, tmp_path: Path) -> None:
    data = plaintext(3 * PART)
    store(client, key, data, algorithm=SIGNED)
    target = tmp_path / "out"
    with gets(client) as seen:
        result = download(client, key, target)
    assert target.read_bytes() == data and result.header.suite is SIGNED
    assert len(ranged(seen)) == 2 and whole(seen) == []  # the first range (its header says signed), the rest
    etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert [params.get("IfMatch") for params in seen[1:]] == [etag, etag]  # both of that same object


def test_a_signed_object_with_a_bad_signature_leaves_no_file(client: Any, key: str, tmp_path: Path) -> None:
    message = store(client, key, plaintext(3 * PART), algorithm=SIGNED)
    put_object(client, key, flipped(message, len(message) - 3))  # inside the signature
    with pytest.raises(AuthenticationError):
        download(client, key, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_compressed_object_is_downloaded_sequentially(client: Any, key: str, tmp_path: Path) -> None:
    """Ranges of a compressed message cannot be decrypted apart (docs/compression.md): after the
    first range (whose header says compressed), one GET of the rest; decrypted and decompressed in order."""
    data = plaintext(3 * PART)
    message = busta.encrypt(data, keyring=KEYRING, algorithm=UNSIGNED, compression="zstd")
    put_object(client, key, message)
    target = tmp_path / "out"
    with gets(client) as seen:
        download(client, key, target)
    assert target.read_bytes() == data
    assert len(ranged(seen)) == 2 and whole(seen) == []


@pytest.mark.parametrize(
    ("options", "stored", "heads", "ranges"),
    [
        ({"max_concurrency": 1}, {}, 0, 0),  # no HeadObject, one GET, as before
        ({}, {"frame_length": PART + 1}, 1, 2),  # frames longer than a range: the first range, then the rest
        ({"multipart_threshold": 64 * PART}, {}, 1, 0),  # smaller than the threshold
        ({}, {"non_framed": True}, 1, 2),
    ],
    ids=["one-at-a-time", "long-frames", "below-threshold", "non-framed"],
)
def test_other_objects_are_downloaded_sequentially(
    client: Any, key: str, tmp_path: Path, options: dict[str, Any], stored: dict[str, Any], heads: int, ranges: int
) -> None:
    data = plaintext(2 * PART + 7)
    store(client, key, data, **stored)
    target = tmp_path / "out"
    with gets(client) as seen:
        download(client, key, target, **options)
    assert target.read_bytes() == data
    assert [params["operation"] for params in seen].count("HeadObject") == heads
    assert len(ranged(seen)) == ranges and len(whole(seen)) == (0 if ranges else 1)


RULES: dict[str, tuple[dict[str, Any], type[BustaError]]] = {
    "wrong context": ({"encryption_context": {"purpose": "other"}}, EncryptionContextError),
    "refuse_signed": ({"sdk": busta.Client(refuse_signed=True)}, SignedMessageError),
    "wrong key": ({"keyring": OTHER_KEYRING}, NoDecryptingKeyError),
}


@pytest.mark.parametrize("case", list(RULES))
def test_the_decryption_rules_hold_in_ranges(client: Any, key: str, tmp_path: Path, case: str) -> None:
    suite = SIGNED if case == "refuse_signed" else UNSIGNED
    store(client, key, plaintext(3 * PART), algorithm=suite, encryption_context=CONTEXT)
    options, error = RULES[case]
    with pytest.raises(error):
        download(client, key, tmp_path / "out", **options)
    assert list(tmp_path.iterdir()) == []


def test_a_hostile_header_cannot_make_it_allocate(client: Any, key: str, tmp_path: Path) -> None:
    """Frames of 2**31 - 1 bytes claimed by the header: the sequential download refuses the message
    when it ends; nothing sized by the claim is allocated."""
    message = busta.encrypt(b"tiny", keyring=KEYRING, algorithm=UNSIGNED, frame_length=2**31 - 1)
    put_object(client, key, message + bytes(PART))
    tracemalloc.start()
    try:
        with pytest.raises(BustaError):
            download(client, key, tmp_path / "out", multipart_threshold=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * PART
    assert list(tmp_path.iterdir()) == []


def test_the_ranges_match_a_plain_decrypt(client: Any, key: str, tmp_path: Path) -> None:
    """What the ranges write is byte for byte what one sequential decrypt of the object gives."""
    data = plaintext(3 * PART + 99)
    store(client, key, data, frame_length=1000)  # frames that do not divide a range
    download(client, key, tmp_path / "ranges", part_size=PART)
    sequential = busta.decrypt(get_object(client, key), keyring=KEYRING).plaintext
    assert (tmp_path / "ranges").read_bytes() == sequential == data
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == data


@pytest.mark.parametrize("where", ["final frame", "cut short"])
def test_nothing_is_written_before_the_final_frame_authenticated(
    client: Any, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The last range is fetched with the first ranges; a bad final frame (or a message cut short,
    which has none where the object's size puts it) fails before any range is written."""
    message = store(client, key, plaintext(6 * PART))
    bad = flipped(message, len(message) - 20) if where == "final frame" else message[: -regular_frame_size(64 << 10)]
    put_object(client, key, bad)
    writes: list[int] = []
    real = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        writes.append(offset)
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with gets(client, hold=0.05), pytest.raises((AuthenticationError, MalformedMessageError)):
        download(client, key, tmp_path / "out")
    assert writes == []
    assert list(tmp_path.iterdir()) == []
    put_object(client, key, message)  # the same download of the object as stored: every range written
    download(client, key, tmp_path / "out")
    assert len(writes) >= 6


def test_a_whole_object_checksum_asked_for_gets_the_whole_object(client: Any, key: str, tmp_path: Path) -> None:
    """ChecksumMode (a whole-object checksum, which no range carries): a signed object, after the first
    range, is fetched again in one whole GET so that the checksum can be checked."""
    data = plaintext(2 * PART)
    store(client, key, data, algorithm=SIGNED)
    with gets(client) as seen:
        download(client, key, tmp_path / "out", ExtraArgs={"ChecksumMode": "ENABLED"})
    assert (tmp_path / "out").read_bytes() == data
    assert len(ranged(seen)) == 1 and [params.get("ChecksumMode") for params in whole(seen)] == ["ENABLED"]
