"""Move a whole stream through the engine with reused buffers: readinto, *_into, write.

The source is read into one buffer, the engine writes into another, and the
sink is handed views of it (a sink must use or copy what it is given before
returning). The buffers belong to the calling thread and serve its next call
too: a fresh 2 MiB buffer costs more page faults than encrypting a small file.
Memory stays at a few chunks per thread whatever the stream's size.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import IO, Final

from ..errors import UsageError
from .decryptor import MessageDecryptor
from .encryptor import MessageEncryptor

__all__ = ["STREAM_CHUNK_BYTES", "decrypt_stream", "encrypt_stream"]

#: Bytes read from the source per step (rounded to whole frames, and at least two frames so that
#: two threads can share a step).
STREAM_CHUNK_BYTES: Final = 2 << 20
#: The first read of a decryption, before the frame size is known (headers are usually small).
_FIRST_READ_BYTES: Final = 64 << 10


class _Buffers:
    """Named buffers, made anew only when too small, never resized in place (a view of one may
    still be alive, in a traceback say)."""

    def __init__(self) -> None:
        self._slots: dict[str, bytearray] = {}
        self.busy = False

    def view(self, slot: str, size: int) -> memoryview:
        buffer = self._slots.get(slot)
        if buffer is None or len(buffer) < size:
            buffer = self._slots[slot] = bytearray(size)
        return memoryview(buffer)[:size]


_scratch = threading.local()


@contextlib.contextmanager
def _thread_buffers() -> Iterator[_Buffers]:
    """This thread's buffers; a nested call (a source or sink that pumps too) gets its own."""
    buffers: _Buffers | None = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = _Buffers()
    if buffers.busy:
        yield _Buffers()
        return
    buffers.busy = True
    try:
        yield buffers
    finally:
        buffers.busy = False


def _read_full(source: IO[bytes], view: memoryview) -> int:
    """Fill ``view`` from ``source`` unless it ends first; return the bytes read."""
    filled = 0
    readinto = getattr(source, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            n = readinto(view[filled:])
        else:
            chunk = source.read(len(view) - filled)
            n = None if chunk is None else len(chunk)
            if n:
                view[filled : filled + n] = chunk
        if n is None:
            raise UsageError("the source is non-blocking and had no data; use a blocking stream")
        if n == 0:
            break
        filled += n
    return filled


def _write_all(sink: IO[bytes], view: memoryview) -> None:
    while len(view):
        n = sink.write(view)
        if n is None:  # a non-blocking raw sink that took nothing
            raise UsageError("the sink is non-blocking and took no data; use a blocking stream")
        view = view[n:]


def encrypt_stream(source: IO[bytes], sink: IO[bytes], encryptor: MessageEncryptor) -> int:
    """Encrypt everything ``source`` yields into ``sink``; return the plaintext length."""
    chunk = max(2, STREAM_CHUNK_BYTES // encryptor.frame_length) * encryptor.frame_length
    with _thread_buffers() as buffers:
        src = buffers.view("source", chunk)
        most = max(encryptor.update_size(chunk) + encryptor.frame_length, encryptor.finalize_size())
        out = buffers.view("output", most)
        total = 0
        while n := _read_full(source, src):
            total += n
            _write_all(sink, out[: encryptor.update_into(src[:n], out)])
        _write_all(sink, out[: encryptor.finalize_into(out)])
    return total


def decrypt_stream(source: IO[bytes], sink: IO[bytes], decryptor: MessageDecryptor) -> int:
    """Decrypt the message ``source`` yields into ``sink``; return the plaintext length.

    Only authenticated plaintext reaches ``sink``; if this raises, what reached
    it is a prefix of the plaintext and must be discarded. The header is read in
    a small step; once the frame size is known, each read takes whole frames.
    """
    with _thread_buffers() as buffers:
        src = buffers.view("source", _FIRST_READ_BYTES)
        out = buffers.view("output", 0)
        total = 0
        want = len(src)
        while n := _read_full(source, src[:want]):
            need = decryptor.output_bound(n)
            if len(out) < need:
                out = buffers.view("output", need)
            written = decryptor.update_into(src[:n], out)
            _write_all(sink, out[:written])
            total += written
            step = decryptor.frame_step
            if step is not None:  # read whole frames from here on, so that no frame straddles two reads
                size = max(2, STREAM_CHUNK_BYTES // step) * step
                if len(src) < size:
                    src = buffers.view("source", size)
                    out = buffers.view("output", size + 2 * step)
                want = size - decryptor.buffered
    decryptor.finalize()
    return total
