"""``decrypt_stream`` from a source that can seek reads the header alone, then seeks back to its end,
so that every later read starts at a frame and takes whole frames (issue 18: no frame is gathered from
two reads, a copy of up to 1 MiB into a buffer whose pages fault in)."""

from __future__ import annotations

import io
import os
from typing import IO, cast

import pytest

import busta
from busta._buffers import PendingBytes
from busta.errors import UsageError
from busta.format import parse_header
from busta.keyrings import RawAesKeyring
from busta.streaming import pump

KEYRING = RawAesKeyring("rewind", "aes-256", bytes(range(32)))
FRAME = 64 << 10


class Recording(io.BytesIO):
    """A seekable source that records where each read starts and how much it asks for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def readinto(self, buffer: object) -> int:
        view = memoryview(cast(bytearray, buffer))
        self.reads.append((self.tell(), len(view)))
        return super().readinto(view)


class Unseekable(io.RawIOBase):
    """A pipe: reads only."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        return self._data.readinto(cast(bytearray, buffer))


class LyingSeekable(Unseekable):
    """Says it can seek, and cannot."""

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("no seeking here")


def _message(size: int, context: dict[str, str] | None = None, frame: int = FRAME) -> bytes:
    return busta.encrypt(
        os.urandom(size), keyring=KEYRING, algorithm=0x0478, frame_length=frame, encryption_context=context
    )


@pytest.mark.parametrize("frame", [4 << 10, 64 << 10, 1 << 20])
def test_after_the_header_every_read_starts_at_a_frame_and_takes_whole_frames(frame: int) -> None:
    message = _message(5 * frame + 7, frame=frame)
    header = parse_header(message)
    assert header is not None
    step = 16 + frame + 16
    source, sink = Recording(message), io.BytesIO()
    busta.decrypt_stream(source, sink, keyring=KEYRING)
    assert sink.getvalue() == busta.decrypt(message, keyring=KEYRING).plaintext
    starts = [start for start, _ in source.reads]
    assert starts[0] == 0
    rewound = starts.index(header.length, 1)  # back at the end of the header after the first read
    frames = [(start, size) for start, size in source.reads[rewound:] if start < len(message)]
    assert frames and all((start - header.length) % step == 0 for start, _ in frames)
    *whole, (last_start, last_size) = frames
    assert all(size % step == 0 for _, size in whole)
    assert last_size % step == 0 or last_start + last_size == len(message)  # whole frames, or the rest


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
@pytest.mark.parametrize("frame", [64 << 10, 1 << 20])
@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_end_of_a_message_of_whole_frames_arrives_with_the_frames_before_it(
    frame: int, extra: int, signed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A final frame is 8 bytes longer than a regular frame of the same content, so a message of whole
    frames used to end 8 bytes into the read after its last step: the final frame was held back, copied
    and opened alone. From a source whose size is known, the step that leaves at most a frame and
    ``_TAIL_BYTES`` unread takes the rest (a signed suite's footer included)."""
    held: list[int] = []
    real_append = PendingBytes.append

    def append(self: PendingBytes, data: memoryview) -> None:
        held.append(len(data))
        real_append(self, data)

    monkeypatch.setattr(PendingBytes, "append", append)
    suite = 0x0578 if signed else 0x0478
    plaintext = os.urandom(4 * frame + extra)
    message = busta.encrypt(plaintext, keyring=KEYRING, algorithm=suite, frame_length=frame)
    source, sink = Recording(message), io.BytesIO()
    busta.decrypt_stream(source, sink, keyring=KEYRING)
    assert sink.getvalue() == plaintext
    assert sum(held) == 0, "no byte of the message was held back and copied"
    step = 16 + frame + 16
    largest = max(size for _, size in source.reads)
    assert largest <= pump._whole_frames(step) + step + pump._TAIL_BYTES  # bounded by the frame, not the file
    assert source.reads[-1][0] + source.reads[-1][1] >= len(message)  # the last read reached the end


def test_a_source_longer_than_a_step_and_a_frame_is_not_read_in_one_step() -> None:
    frame = 64 << 10
    message = _message(40 * frame, frame=frame)
    source = Recording(message)
    busta.decrypt_stream(source, io.BytesIO(), keyring=KEYRING)
    step = 16 + frame + 16
    assert max(size for _, size in source.reads) <= pump._whole_frames(step) + step + pump._TAIL_BYTES
    assert len(source.reads) >= 3


def test_a_header_longer_than_the_first_read_is_read_as_any_stream_is() -> None:
    context = {"big": "v" * 65000}  # with six data keys the header is above the first read
    keyring = busta.keyrings.MultiKeyring(
        generator=KEYRING, children=[RawAesKeyring("rewind", f"child-{i}", bytes([i]) * 32) for i in range(5)]
    )
    message = busta.encrypt(os.urandom(3 * FRAME), keyring=keyring, algorithm=0x0478, encryption_context=context)
    header = parse_header(message)
    assert header is not None and header.length > pump.FIRST_READ_BYTES
    source, sink = Recording(message), io.BytesIO()
    result = busta.decrypt_stream(source, sink, keyring=KEYRING)
    assert result.encryption_context == context
    assert source.reads[1][0] == 0  # it seeked back to where it started and read again


def test_a_source_that_cannot_seek_is_read_straight_through() -> None:
    message = _message(3 * FRAME + 1)
    sink = io.BytesIO()
    busta.decrypt_stream(cast(IO[bytes], Unseekable(message)), sink, keyring=KEYRING)
    assert sink.getvalue() == busta.decrypt(message, keyring=KEYRING).plaintext


def test_a_source_that_says_it_seeks_and_cannot_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="says it can seek"):
        busta.decrypt_stream(cast(IO[bytes], LyingSeekable(_message(10))), io.BytesIO(), keyring=KEYRING)


def test_a_message_that_starts_part_way_into_a_file_is_read_from_there() -> None:
    message = _message(2 * FRAME)
    source = Recording(b"prefix" + message)
    source.seek(6)
    sink = io.BytesIO()
    busta.decrypt_stream(source, sink, keyring=KEYRING)
    assert sink.getvalue() == busta.decrypt(message, keyring=KEYRING).plaintext
    header = parse_header(message)
    assert header is not None and source.reads[1][0] == 6 + header.length


@pytest.mark.parametrize("cut", [0, 1, 40, 200])
def test_a_cut_or_damaged_header_fails_as_before(cut: int) -> None:
    message = _message(100)
    with pytest.raises(busta.errors.BustaError):
        busta.decrypt_stream(io.BytesIO(message[:cut]), io.BytesIO(), keyring=KEYRING)
    damaged = bytearray(message)
    damaged[cut] ^= 0xFF
    with pytest.raises(busta.errors.BustaError):
        busta.decrypt_stream(io.BytesIO(bytes(damaged)), io.BytesIO(), keyring=KEYRING)


def test_a_decryptor_that_read_the_header_already_reads_on_from_where_the_source_is() -> None:
    message = _message(3 * FRAME + 5)
    header = parse_header(message)
    assert header is not None
    decryptor = busta.start_decryption(keyring=KEYRING)
    assert decryptor.read_header(message) == header.length  # as busta.bulk does before it pumps the rest
    source, sink = Recording(message), io.BytesIO()
    source.seek(header.length)
    pump.decrypt_stream(source, sink, decryptor)
    assert sink.getvalue() == busta.decrypt(message, keyring=KEYRING).plaintext
    assert source.reads[0][0] == header.length  # no header read, no seeking back
