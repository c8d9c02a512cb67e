"""Random access to a framed message: open_seekable, SeekableDecryptingReader over a fetch and the final-frame layout.

A seekable reader must behave like ``io.BytesIO(plaintext)`` for every seek and
read, fetch and authenticate only the frames a read touches, refuse what it
cannot check (signed messages unless asked, non-framed messages, non-seekable
sources) and refuse a message whose layout does not add up when it is opened.
``locate_final_frame`` is pure arithmetic over the tail of a message and is
tested on hand-made layouts.
"""

from __future__ import annotations

import functools
import io
import random
import tempfile
from collections.abc import Callable, Iterator
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, CommitmentPolicy, SeekableDecryptingReader
from busta.errors import (
    AuthenticationError,
    EncryptionContextError,
    MalformedMessageError,
    NoDecryptingKeyError,
    PolicyError,
    TruncatedMessageError,
    UsageError,
)
from busta.format.body import FINAL_HEAD_BYTES, REGULAR_HEAD_BYTES, frame_iv
from busta.format.layout import (
    final_frame_overhead,
    final_frame_window,
    frame_split,
    locate_final_frame,
    regular_frame_size,
)
from busta.keyrings import RawAesKeyring

from ..support.oracle import AesKeySpec, official_encrypt

AES_KEY = AesKeySpec("random-access", "aes-256", bytes(range(0x20, 0x40)))
KEYRING = RawAesKeyring(AES_KEY.namespace, AES_KEY.name, AES_KEY.key)
OTHER_KEYRING = RawAesKeyring(AES_KEY.namespace, "other-key", bytes(32))
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.from_id(0x0578)
CONTEXT = {"purpose": "random-access", "tenant": "alpha"}

FRAME_LENGTHS = (1, 64, 4096)


def sizes_around(frame: int) -> list[int]:
    return sorted({0, 1, frame - 1, frame, frame + 1, 3 * frame + 5})


CASES = [(frame, size) for frame in FRAME_LENGTHS for size in sizes_around(frame)]
CASE_IDS = [f"F{frame}-n{size}" for frame, size in CASES]


@functools.cache
def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@functools.cache
def message(size: int, frame: int, suite: AlgorithmSuite = UNSIGNED) -> bytes:
    return busta.encrypt(
        plaintext(size), keyring=KEYRING, frame_length=frame, algorithm=suite, encryption_context=CONTEXT
    )


def header_length(data: bytes) -> int:
    return busta.start_decryption(keyring=KEYRING).read_header(data)


def frame_byte_offset(data: bytes, frame: int, index: int) -> int:
    """Offset of the first ciphertext byte of frame ``index`` (0-based; the final frame is index = regular count)."""
    regular, _ = frame_split(len(plaintext_of(data)), frame)
    head = REGULAR_HEAD_BYTES if index < regular else FINAL_HEAD_BYTES
    return header_length(data) + index * regular_frame_size(frame) + head


def plaintext_of(data: bytes) -> bytes:
    return busta.decrypt(data, keyring=KEYRING).plaintext


def flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0x01
    return bytes(damaged)


def open_reader(
    data: bytes,
    *,
    sdk: busta.Client = busta.api.DEFAULT_CLIENT,
    encryption_context: dict[str, str] | None = None,
    allow_unverified_signature: bool = False,
) -> SeekableDecryptingReader:
    return sdk.open_seekable(
        io.BytesIO(data),
        keyring=KEYRING,
        encryption_context=encryption_context,
        allow_unverified_signature=allow_unverified_signature,
    )


SourceFactory = Callable[[bytes], IO[bytes]]


@pytest.fixture(params=["bytesio", "temp-file"])
def make_source(request: pytest.FixtureRequest) -> Iterator[SourceFactory]:
    """Message bytes as an in-memory buffer or as a real file on disk."""
    opened: list[IO[bytes]] = []

    def make(data: bytes) -> IO[bytes]:
        if request.param == "bytesio":
            return io.BytesIO(data)
        handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed at teardown
        handle.write(data)
        handle.flush()
        opened.append(handle)
        return handle

    yield make
    for handle in opened:
        handle.close()


class NonSeekable(io.RawIOBase):
    """A readable stream that cannot seek, like a pipe or a socket."""

    def __init__(self, data: bytes):
        super().__init__()
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        memoryview(buffer)[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------- reads equal the plaintext


@pytest.mark.parametrize(("frame", "size"), CASES, ids=CASE_IDS)
def test_read_all_returns_the_plaintext_and_length_from_the_layout(
    make_source: SourceFactory, frame: int, size: int
) -> None:
    reader = busta.open_seekable(make_source(message(size, frame)), keyring=KEYRING)
    assert reader.length == size
    assert reader.header.frame_length == frame
    assert reader.read(-1) == plaintext(size)
    assert reader.tell() == size
    assert reader.read(-1) == b""
    assert reader.read(10) == b""


@pytest.mark.parametrize(("frame", "size"), CASES, ids=CASE_IDS)
def test_every_single_frame_and_every_frame_boundary_reads_its_slice(
    make_source: SourceFactory, frame: int, size: int
) -> None:
    reader = busta.open_seekable(make_source(message(size, frame)), keyring=KEYRING)
    expected = plaintext(size)
    for start in range(0, size + 1, frame):
        for end in (start + 1, start + frame, start + frame + 1):
            reader.seek(start)
            assert reader.read(end - start) == expected[start:end]
            assert reader.tell() == min(end, size)


@pytest.mark.parametrize(("frame", "size"), CASES, ids=CASE_IDS)
def test_readinto_fills_a_buffer_with_the_plaintext(make_source: SourceFactory, frame: int, size: int) -> None:
    reader = busta.open_seekable(make_source(message(size, frame)), keyring=KEYRING)
    expected = plaintext(size)
    buffer = bytearray(frame + 3)
    got = bytearray()
    while n := reader.readinto(buffer):
        got += buffer[:n]
    assert bytes(got) == expected
    assert reader.readinto(memoryview(bytearray(4))) == 0


@pytest.mark.parametrize(("frame", "size"), [(64, 3 * 64 + 5), (1, 6)], ids=["F64", "F1"])
def test_tell_and_seek_follow_io_conventions(frame: int, size: int) -> None:
    reader = open_reader(message(size, frame))
    expected = plaintext(size)
    assert reader.readable() and reader.seekable() and not reader.writable()
    assert reader.tell() == 0
    assert reader.seek(2) == 2
    assert reader.seek(3, io.SEEK_CUR) == 5
    assert reader.read(1) == expected[5:6]
    assert reader.seek(-2, io.SEEK_CUR) == 4
    assert reader.read(2) == expected[4:6]
    assert reader.seek(0, io.SEEK_END) == size
    assert reader.read(1) == b""
    assert reader.seek(-3, io.SEEK_END) == size - 3
    assert reader.read() == expected[-3:]
    assert reader.seek(-size, io.SEEK_END) == 0
    assert reader.readall() == expected


def test_a_buffered_reader_over_the_seekable_reader_reads_the_plaintext() -> None:
    buffered = io.BufferedReader(open_reader(message(3 * 64 + 5, 64)), buffer_size=50)
    assert buffered.read(7) == plaintext(3 * 64 + 5)[:7]
    buffered.seek(100)
    assert buffered.read() == plaintext(3 * 64 + 5)[100:]


@pytest.mark.parametrize("offset", [1, 64, 10_000])
def test_seek_beyond_the_end_then_a_sized_read_returns_nothing(offset: int) -> None:
    reader = open_reader(message(3 * 64 + 5, 64))
    assert reader.seek(offset, io.SEEK_END) == reader.length + offset
    assert reader.read(5) == b""
    assert reader.readinto(bytearray(5)) == 0
    assert reader.tell() == reader.length + offset


@pytest.mark.parametrize("read", ["read(-1)", "read(None)", "readall()"])
def test_seek_beyond_the_end_then_read_all_returns_nothing(read: str) -> None:
    reader = open_reader(message(3 * 64 + 5, 64))
    reader.seek(reader.length + 1)
    calls: dict[str, Callable[[], bytes]] = {
        "read(-1)": lambda: reader.read(-1),
        "read(None)": lambda: reader.read(None),
        "readall()": reader.readall,
    }
    assert calls[read]() == b""


@pytest.mark.parametrize(
    ("offset", "whence"),
    [(-1, io.SEEK_SET), (-11, io.SEEK_CUR), (-(3 * 64 + 6), io.SEEK_END)],
    ids=["SET", "CUR", "END"],
)
def test_a_seek_before_the_start_is_refused_and_keeps_the_position(offset: int, whence: int) -> None:
    reader = open_reader(message(3 * 64 + 5, 64))
    reader.seek(10)
    with pytest.raises(UsageError):
        reader.seek(offset, whence)
    assert reader.tell() == 10
    assert reader.read(3) == plaintext(3 * 64 + 5)[10:13]


def test_an_unknown_whence_is_refused() -> None:
    reader = open_reader(message(10, 64))
    with pytest.raises(UsageError):
        reader.seek(0, 7)


def test_a_closed_reader_refuses_reads_and_seeks() -> None:
    reader = open_reader(message(10, 64))
    reader.close()
    for call in (reader.read, reader.tell, lambda: reader.seek(0)):
        with pytest.raises(ValueError, match="closed"):
            call()


def apply_ops(reader: SeekableDecryptingReader, model: io.BytesIO, ops: list[tuple[str, int, int]]) -> None:
    """Run seeks and reads on ``reader`` and on a BytesIO of the plaintext; they must agree."""
    for op, a, b in ops:
        if op == "seek":
            base = {io.SEEK_SET: 0, io.SEEK_CUR: model.tell(), io.SEEK_END: len(model.getbuffer())}[b]
            if base + a < 0:
                with pytest.raises(UsageError):
                    reader.seek(a, b)
            else:
                assert reader.seek(a, b) == model.seek(a, b)
        elif op == "read":
            assert reader.read(a) == model.read(a)
        else:
            mine, theirs = bytearray(a), bytearray(a)
            assert reader.readinto(mine) == model.readinto(theirs)
            assert mine == theirs
        assert reader.tell() == model.tell()


def operations(limit: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    whence = st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
    seek = st.tuples(st.just("seek"), st.integers(-limit, limit), whence)
    read = st.tuples(st.sampled_from(["read", "readinto"]), st.integers(0, limit), st.just(0))
    return st.lists(st.one_of(seek, read), max_size=10)


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(CASES), on_disk=st.booleans(), data=st.data())
def test_random_seeks_and_reads_agree_with_bytesio_of_the_plaintext(
    case: tuple[int, int], on_disk: bool, data: st.DataObject
) -> None:
    frame, size = case
    ops = data.draw(operations(3 * frame + size + 2))
    model = io.BytesIO(plaintext(size))
    with tempfile.TemporaryFile() as handle:
        source: IO[bytes] = handle if on_disk else io.BytesIO()
        source.write(message(size, frame))
        apply_ops(busta.open_seekable(source, keyring=KEYRING), model, ops)


@settings(max_examples=60, deadline=None)
@given(case=st.sampled_from(CASES), data=st.data())
def test_random_access_decryptor_returns_any_range_clamped_to_the_plaintext(
    case: tuple[int, int], data: st.DataObject
) -> None:
    frame, size = case
    blob = message(size, frame)
    fetched: list[tuple[int, int]] = []

    def fetch(start: int, end: int) -> bytes:
        fetched.append((start, end))
        return blob[start:end]

    access = SeekableDecryptingReader(fetch, len(blob), busta.start_decryption(keyring=KEYRING))
    start = data.draw(st.integers(0, size + 2 * frame))
    end = data.draw(st.integers(start, size + 3 * frame))
    fetched.clear()
    assert access.read_range(start, end) == plaintext(size)[start:end]
    # one fetch of just the regular frames the range covers; the final frame was authenticated
    # (and kept) when the reader was made, so reads of it fetch nothing
    regular = max(0, (size - 1) // frame)
    last = min(end, size) - 1
    covered = len(range(start // frame, min(last // frame, regular - 1) + 1)) if start < min(end, size) else 0
    assert len(fetched) == (1 if covered else 0)
    assert sum(stop - first for first, stop in fetched) == covered * regular_frame_size(frame)


def test_random_access_decryptor_refuses_a_reversed_or_negative_range() -> None:
    blob = message(100, 64)
    access = SeekableDecryptingReader(lambda s, e: blob[s:e], len(blob), busta.start_decryption(keyring=KEYRING))
    for start, end in ((5, 4), (-1, 3)):
        with pytest.raises(UsageError):
            access.read_range(start, end)


# --------------------------------------------------------------------------- what is refused at open


def test_a_non_seekable_source_is_refused() -> None:
    with pytest.raises(UsageError, match="seekable"):
        busta.open_seekable(NonSeekable(message(100, 64)), keyring=KEYRING)  # type: ignore[arg-type]


@pytest.mark.parametrize(("frame", "size"), [(1, 0), (64, 3 * 64 + 5), (4096, 4097)], ids=["F1-n0", "F64", "F4096"])
def test_a_signed_message_is_refused_unless_an_unverified_signature_is_allowed(
    make_source: SourceFactory, frame: int, size: int
) -> None:
    blob = message(size, frame, SIGNED)
    with pytest.raises(PolicyError, match="allow_unverified_signature"):
        busta.open_seekable(make_source(blob), keyring=KEYRING)
    reader = busta.open_seekable(make_source(blob), keyring=KEYRING, allow_unverified_signature=True)
    assert reader.length == size
    assert reader.read() == plaintext(size)
    reader.seek(size // 2)
    assert reader.read(frame + 1) == plaintext(size)[size // 2 : size // 2 + frame + 1]


@pytest.mark.parametrize(
    ("suite_id", "policy"),
    [(0x0014, "FORBID_ENCRYPT_ALLOW_DECRYPT"), (0x0178, "FORBID_ENCRYPT_ALLOW_DECRYPT"), (0x0478, None)],
    ids=["0x0014", "0x0178", "0x0478"],
)
def test_a_non_framed_message_is_refused(suite_id: int, policy: str | None) -> None:
    options = {} if policy is None else {"commitment_policy": policy}
    blob = official_encrypt(b"x" * 300, keys=[AES_KEY], suite_id=suite_id, frame_length=0, **options)  # type: ignore[arg-type]
    assert (
        busta.Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
        .decrypt(blob, keyring=KEYRING)
        .plaintext
    )
    with pytest.raises(UsageError, match="non-framed"):
        open_reader(blob, sdk=busta.Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT))


@pytest.mark.parametrize("size", [0, 1, 127, 128, 129, 256, 3 * 128 + 5])
def test_official_sdk_messages_read_at_any_offset_including_an_empty_final_frame(size: int) -> None:
    blob = official_encrypt(plaintext(size), keys=[AES_KEY], suite_id=0x0478, frame_length=128)
    reader = open_reader(blob)
    assert reader.length == size
    assert reader.read() == plaintext(size)
    for start in range(0, size, 61):
        reader.seek(start)
        assert reader.read(130) == plaintext(size)[start : start + 130]


def test_a_wrong_key_is_refused_at_open() -> None:
    with pytest.raises(NoDecryptingKeyError):
        busta.open_seekable(io.BytesIO(message(100, 64)), keyring=OTHER_KEYRING)


def test_an_expected_encryption_context_that_does_not_match_is_refused_at_open() -> None:
    with pytest.raises(EncryptionContextError):
        open_reader(message(100, 64), encryption_context={"tenant": "beta"})
    reader = open_reader(message(100, 64), encryption_context={"tenant": "alpha"})
    assert reader.read() == plaintext(100)


def cut_at(where: str, blob: bytes, frame: int) -> int:
    body, step = header_length(blob), regular_frame_size(frame)
    return {
        "empty": 0,
        "in the header": 10,
        "just the header": body,
        "inside frame 1": body + step + 10,
        "at a frame boundary (no final frame)": body + 3 * step,
        "inside the final frame": body + 3 * step + 30,
        "last byte": len(blob) - 1,
        "the whole footer": len(blob) - (2 + 103),
        "inside the footer": len(blob) - 50,
    }[where]


CUTS = ["empty", "in the header", "just the header", "inside frame 1", "at a frame boundary (no final frame)"]
CUTS += ["inside the final frame", "last byte"]


@pytest.mark.parametrize(
    ("suite", "where"),
    [(UNSIGNED, where) for where in CUTS]
    + [(SIGNED, where) for where in [*CUTS, "the whole footer", "inside the footer"]],
    ids=lambda value: value.name if isinstance(value, AlgorithmSuite) else str(value),
)
def test_truncated_messages_are_refused_at_open(suite: AlgorithmSuite, where: str) -> None:
    blob = message(3 * 64 + 5, 64, suite)
    with pytest.raises(MalformedMessageError):
        open_reader(blob[: cut_at(where, blob, 64)], allow_unverified_signature=True)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
@pytest.mark.parametrize("extra", [b"\x00", bytes(40), bytes(regular_frame_size(64)), b"\xff" * 4])
def test_messages_with_bytes_appended_are_refused_at_open(suite: AlgorithmSuite, extra: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        open_reader(message(3 * 64 + 5, 64, suite) + extra, allow_unverified_signature=True)


def test_a_message_that_ends_in_its_header_is_truncated() -> None:
    blob = message(10, 64)
    with pytest.raises(TruncatedMessageError):
        open_reader(blob[: header_length(blob) - 1])


# --------------------------------------------------------------------------- damage is found where it is


def touches(start: int, end: int, frame: int, index: int) -> bool:
    return start < end and start // frame <= index <= (end - 1) // frame


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
@pytest.mark.parametrize("damaged", range(5))
def test_a_damaged_frame_fails_only_the_reads_that_touch_it(suite: AlgorithmSuite, damaged: int) -> None:
    frame, size = 64, 5 * 64 + 7  # five regular frames and a final frame of 7 bytes
    blob = message(size, frame, suite)
    bad = flipped(blob, frame_byte_offset(blob, frame, damaged) + 3)
    reader = open_reader(bad, allow_unverified_signature=True)
    expected = plaintext(size)
    ranges = [(i * frame, (i + 1) * frame) for i in range(6)]
    ranges += [(i * frame - 1, i * frame + 1) for i in range(1, 6)]
    ranges += [(0, size), (10, 11), (size - 1, size), (0, 0), (size, size + 5)]
    for start, end in ranges:
        reader.seek(start)
        if touches(start, min(end, size), frame, damaged):
            with pytest.raises(AuthenticationError):
                reader.read(end - start)
            assert reader.tell() == start  # a failed read does not move the position
        else:
            assert reader.read(end - start) == expected[start:end]


@pytest.mark.parametrize("field", ["tag", "iv", "sequence number"])
def test_damage_to_any_part_of_a_regular_frame_is_caught(field: str) -> None:
    frame, size = 64, 3 * 64 + 5
    blob = message(size, frame)
    start = header_length(blob) + regular_frame_size(frame)  # frame 1 (0-based)
    offset = {"sequence number": start + 3, "iv": start + 4 + 11, "tag": start + regular_frame_size(frame) - 1}[field]
    reader = open_reader(flipped(blob, offset))
    expected = MalformedMessageError if field == "sequence number" else AuthenticationError
    with pytest.raises(expected) as caught:
        reader.seek(frame)
        reader.read(1)
    if field == "sequence number":  # the engine's check, not the tag (the sequence number field is not in the AAD)
        assert isinstance(caught.value, MalformedMessageError)
        assert caught.value.field == "sequence number"
    reader.seek(0)
    assert reader.read(frame) == plaintext(size)[:frame]


def forged_truncation(kept: int) -> bytes:
    """A 3F+5 message cut after ``kept`` regular frames, ending in a forged empty final frame (no key needed)."""
    frame = 64
    blob = message(3 * frame + 5, frame)
    forged_final = b"\xff" * 4 + (kept + 1).to_bytes(4, "big") + frame_iv(kept + 1) + bytes(4) + bytes(16)
    return blob[: header_length(blob) + kept * regular_frame_size(frame)] + forged_final


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_a_truncated_message_with_a_forged_empty_final_frame_fails_whole_message_decryption(kept: int) -> None:
    with pytest.raises(AuthenticationError):
        busta.decrypt(forged_truncation(kept), keyring=KEYRING)


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_a_truncated_message_with_a_forged_empty_final_frame_is_refused_when_opened(kept: int) -> None:
    with pytest.raises(AuthenticationError):  # the final frame (and so the length) is checked up front
        open_reader(forged_truncation(kept))


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
def test_a_damaged_final_frame_is_refused_when_opened(suite: AlgorithmSuite) -> None:
    frame, size = 64, 5 * 64 + 7
    blob = message(size, frame, suite)
    with pytest.raises(AuthenticationError):
        open_reader(flipped(blob, frame_byte_offset(blob, frame, 5) + 3), allow_unverified_signature=True)


# --------------------------------------------------------------------------- locate_final_frame (pure)


def layout(
    regular: int,
    final_length: int,
    frame: int,
    *,
    header: int = 57,
    signature: int | None = None,
    seed: int = 1,
) -> bytes:
    """A message-shaped byte string: ``header`` random bytes, frames with real heads, an optional footer."""
    rng = random.Random(seed)
    parts = [rng.randbytes(header)]
    for sequence in range(1, regular + 1):
        parts.append(sequence.to_bytes(4, "big") + frame_iv(sequence) + rng.randbytes(frame + 16))
    last = regular + 1
    parts.append(b"\xff" * 4 + last.to_bytes(4, "big") + frame_iv(last) + final_length.to_bytes(4, "big"))
    parts.append(rng.randbytes(final_length + 16))
    if signature is not None:
        parts.append(signature.to_bytes(2, "big") + rng.randbytes(signature))
    return b"".join(parts)


def locate(data: bytes, frame: int, *, header: int = 57, signed: bool, windowed: bool = True) -> tuple[int, int] | None:
    tail_start = max(header, len(data) - final_frame_window(frame)) if windowed else 0
    return locate_final_frame(memoryview(data)[tail_start:], tail_start, len(data), header, frame, signed=signed)


LAYOUTS = [
    # (regular frames, final frame length, frame length)
    (0, 0, 64),  # empty plaintext
    (0, 1, 64),
    (0, 64, 64),  # exactly one frame, written as a full final frame (busta's form)
    (1, 0, 64),  # exactly one frame, written with an empty final frame (the official SDK's form)
    (3, 64, 64),
    (4, 0, 64),
    (3, 5, 64),
    (7, 1, 1),
    (8, 0, 1),
    (2, 4095, 4096),
]


@pytest.mark.parametrize("windowed", [True, False], ids=["tail-window", "whole-message"])
@pytest.mark.parametrize(("regular", "final_length", "frame"), LAYOUTS)
def test_locate_final_frame_finds_the_final_frame_of_an_unsigned_layout(
    regular: int, final_length: int, frame: int, windowed: bool
) -> None:
    data = layout(regular, final_length, frame)
    assert locate(data, frame, signed=False, windowed=windowed) == (regular, final_length)


@pytest.mark.parametrize("signature", [70, 71, 72, 102, 103, 104])
@pytest.mark.parametrize("windowed", [True, False], ids=["tail-window", "whole-message"])
@pytest.mark.parametrize(("regular", "final_length", "frame"), LAYOUTS)
def test_locate_final_frame_finds_the_final_frame_of_a_signed_layout(
    regular: int, final_length: int, frame: int, windowed: bool, signature: int
) -> None:
    data = layout(regular, final_length, frame, signature=signature)
    assert locate(data, frame, signed=True, windowed=windowed) == (regular, final_length)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
@pytest.mark.parametrize(("frame", "size"), CASES, ids=CASE_IDS)
def test_locate_final_frame_agrees_with_frame_split_on_real_messages(
    suite: AlgorithmSuite, frame: int, size: int
) -> None:
    blob = message(size, frame, suite)
    assert locate(blob, frame, header=header_length(blob), signed=suite.signed) == frame_split(size, frame)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_locate_final_frame_returns_none_for_layouts_that_do_not_add_up(signed: bool) -> None:
    frame = 64
    signature = 103 if signed else None
    good = layout(3, 5, frame, signature=signature)
    wrong_length = bytearray(good)
    final_at = 57 + 3 * regular_frame_size(frame)
    wrong_length[final_at + 20 : final_at + 24] = (6).to_bytes(4, "big")
    too_long = bytearray(good)
    too_long[final_at + 20 : final_at + 24] = (frame + 1).to_bytes(4, "big")
    no_marker = bytearray(good)
    no_marker[final_at] = 0x00
    garbage = [random.Random(seed).randbytes(n) for seed, n in enumerate((0, 1, 39, 40, 41, 96, 500, 5000), start=7)]
    bad = [good[:-1], good + b"\x00", bytes(wrong_length), bytes(too_long), bytes(no_marker), *garbage]
    for data in bad:
        for windowed in (True, False):
            assert locate(data, frame, signed=signed, windowed=windowed) is None


def test_locate_final_frame_returns_none_when_the_message_is_shorter_than_a_final_frame() -> None:
    header = 57
    for total in range(header, header + final_frame_overhead):
        data = bytes(total)
        assert locate_final_frame(memoryview(data), 0, total, header, 64, signed=False) is None
        assert locate_final_frame(memoryview(data), 0, total, header, 64, signed=True) is None


def test_locate_final_frame_returns_none_for_a_signed_footer_whose_length_does_not_match() -> None:
    data = bytearray(layout(3, 5, 64, signature=103))
    data[-105:-103] = (102).to_bytes(2, "big")
    assert locate(bytes(data), 64, signed=True) is None


def test_locate_final_frame_of_a_signed_layout_reads_a_footer_as_an_unsigned_final_frame_never() -> None:
    data = layout(3, 5, 64, signature=103)
    assert locate(data, 64, signed=False) is None


def test_locate_final_frame_skips_a_spurious_marker_inside_a_signed_footer() -> None:
    frame = 64
    data = bytearray(layout(3, 10, frame, header=0, signature=103))
    # total 443 bytes; candidates for the final frame start at 384, 288 (the real one) and 192
    assert len(data) == 3 * 96 + 40 + 10 + 105
    data[384:388] = b"\xff" * 4  # inside the signature: arbitrary bytes
    data[404:408] = (0x7FFFFFFF).to_bytes(4, "big")
    assert locate(bytes(data), frame, header=0, signed=True) == (3, 10)
