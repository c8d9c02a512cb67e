"""What an encrypting or decrypting writer hands its sink.

- Every byte, also to a raw sink that takes only part of each write (as
  ``RawIOBase.write`` may); a sink that takes nothing (non-blocking, ``None``) is a
  :class:`UsageError`.
- Views of one buffer of the writer's, reused from write to write, as io sinks
  are handed (they must use or copy a view before returning): a stream written in
  equal pieces makes no new output buffer per write.
- A write whose output is larger than
  :data:`~busta.limits.MAX_RETAINED_BUFFER_BYTES` has a buffer of its own, dropped
  after the write: the writer keeps no buffer that large.
"""

from __future__ import annotations

import os
import tracemalloc
from typing import Literal

import pytest

import busta
from busta import AlgorithmSuite
from busta.errors import UsageError
from busta.keyrings import RawAesKeyring
from busta.limits import MAX_RETAINED_BUFFER_BYTES

KEYRING = RawAesKeyring("writers", "aes-256", bytes(range(32)))
UNSIGNED = AlgorithmSuite.from_id(0x0478)
FRAME = 64 << 10
PIECE = 1 << 20
PLAINTEXT = os.urandom(6 << 20)
MESSAGE = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)

Direction = Literal["encrypt", "decrypt"]


class Sink:
    """A raw sink taking at most ``most`` bytes per write (``None`` if ``most`` is 0); it keeps the
    object under each view it is handed (so that no two of them can share an address)."""

    def __init__(self, most: int = 1 << 40):
        self.most = most
        self.received = bytearray()
        self.buffers: list[object] = []

    def write(self, data: memoryview) -> int | None:
        view = memoryview(data)
        self.buffers.append(view.obj)
        if not self.most:
            return None
        taken = view[: self.most]
        self.received += taken
        return len(taken)

    def flush(self) -> None:
        pass


def writer(direction: Direction, sink: Sink) -> busta.EncryptingWriter | busta.DecryptingWriter:
    if direction == "encrypt":
        return busta.encrypting_writer(sink, keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)  # type: ignore[arg-type]
    return busta.decrypting_writer(sink, keyring=KEYRING)  # type: ignore[arg-type]


def write_in_pieces(direction: Direction, sink: Sink) -> None:
    data = PLAINTEXT if direction == "encrypt" else MESSAGE
    with writer(direction, sink) as target:
        for at in range(0, len(data), PIECE):
            assert target.write(data[at : at + PIECE]) == len(data[at : at + PIECE])


def plaintext_of(direction: Direction, sink: Sink) -> bytes:
    if direction == "encrypt":
        return busta.decrypt(bytes(sink.received), keyring=KEYRING).plaintext
    return bytes(sink.received)


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
@pytest.mark.parametrize("most", [1, 1000, 70_000])
def test_a_sink_that_takes_part_of_each_write_gets_every_byte(direction: Direction, most: int) -> None:
    sink = Sink(most)
    if most == 1:  # a byte per call: a smaller stream
        data = PLAINTEXT[:5000] if direction == "encrypt" else busta.encrypt(PLAINTEXT[:5000], keyring=KEYRING)
        with writer(direction, sink) as target:
            target.write(data)
        expected = PLAINTEXT[:5000]
    else:
        write_in_pieces(direction, sink)
        expected = PLAINTEXT
    assert plaintext_of(direction, sink) == expected


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_a_sink_that_takes_nothing_is_a_usage_error(direction: Direction) -> None:
    target = writer(direction, Sink(most=0))
    with pytest.raises(UsageError, match="non-blocking"):
        target.write(PLAINTEXT[: 3 * FRAME] if direction == "encrypt" else MESSAGE[: 3 * FRAME])
    target.abort()


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_equal_writes_hand_the_sink_views_of_one_reused_buffer(direction: Direction) -> None:
    sink = Sink()
    write_in_pieces(direction, sink)
    assert plaintext_of(direction, sink) == PLAINTEXT
    writes = sink.buffers[:-1]  # the last is what close() wrote
    assert len(writes) >= 5
    # The first writes size the buffer (the header; a frame held back); from then on it is reused.
    assert all(buffer is writes[2] for buffer in writes[2:])


class Counting(Sink):
    """A sink that only counts what it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def write(self, data: memoryview) -> int:
        self.count += len(data)
        return len(data)


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_a_write_larger_than_the_retained_limit_leaves_no_buffer_that_large(direction: Direction) -> None:
    size = MAX_RETAINED_BUFFER_BYTES + (4 << 20)
    plaintext = os.urandom(size)
    data = plaintext if direction == "encrypt" else busta.encrypt(plaintext, keyring=KEYRING, algorithm=UNSIGNED)
    sink = Counting()
    target = writer(direction, sink)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        target.write(data)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert sink.count >= size - FRAME  # the write's output reached the sink (a frame may wait for close)
    target.close()
    assert kept < MAX_RETAINED_BUFFER_BYTES // 2, f"{kept} bytes kept by the writer after the write"
