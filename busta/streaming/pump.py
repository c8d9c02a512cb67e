"""Move a whole stream through the engine with reused buffers: readinto, *_into, write.

The source is read into one buffer, the engine writes into another, and the
sink is handed views of it (a sink must use or copy what it is given before
returning). The buffers belong to the calling thread and serve its next call
too: a fresh 2 MiB buffer costs more page faults than encrypting a small file.

Memory follows what arrives, never what a message declares: a decryption's
first read is 64 KiB (from a source that can seek, only its header is taken and
the source seeks back to the header's end, so that no frame straddles two reads);
once the header authenticated, frames of up to 1 MiB are read whole, a step of
about 2 MiB at a time (a file's last step takes what remains when that is at most
a frame more, so that the final frame is not gathered from two reads either), and
larger frames arrive in reads
that grow to at most twice what has arrived (to 2 MiB; the decryptor gathers
them); the output buffer grows only when authenticated plaintext needs it.
What a thread keeps between calls is bounded by
:data:`~busta.limits.MAX_RETAINED_BUFFER_BYTES`; larger buffers are dropped
when the call returns.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from typing import IO, Final

from ..errors import UsageError
from ..format.layout import regular_frame_size
from ..limits import MAX_RETAINED_BUFFER_BYTES
from .driver import Decrypting
from .encryptor import MessageEncryptor

__all__ = [
    "FIRST_READ_BYTES",
    "STREAM_CHUNK_BYTES",
    "decrypt_stream",
    "encrypt_step",
    "encrypt_stream",
    "next_read",
    "write_all",
]

#: Bytes read from the source per step: whole frames (at least two, so that two threads can share a step)
#: when a frame is at most half of it, else this many bytes of a larger frame.
STREAM_CHUNK_BYTES: Final = 2 << 20
#: The first read of a decryption, before the frame size is known (headers are usually small).
FIRST_READ_BYTES: Final = 64 << 10
#: Frames of up to half a step (on the wire) are read whole.
_LARGEST_WHOLE_READ_FRAME: Final = regular_frame_size(STREAM_CHUNK_BYTES // 2)
#: A step of a source whose size is known takes the rest too when that is at most a frame and this
#: much more: the final frame (8 bytes longer than a regular frame of the same content) and a signed
#: suite's footer (a signature of at most 104 bytes and its length) then arrive with the frames before
#: them, instead of the final frame being held back, copied and opened alone on the calling thread (a
#: message of whole 1 MiB frames lost 8% to that).
_TAIL_BYTES: Final = 1 << 10


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

    def at_least(self, slot: str, size: int) -> memoryview:
        """A view of at least ``size`` bytes; a buffer made anew that may be kept gets a quarter more,
        to be reused (one that will be dropped after the call gets what it needs)."""
        buffer = self._slots.get(slot)
        if buffer is None or len(buffer) < size:
            spare = size // 4 if size <= MAX_RETAINED_BUFFER_BYTES // 2 else 0
            buffer = self._slots[slot] = bytearray(size + spare)
        return memoryview(buffer)

    def trim(self, limit: int) -> None:
        """Keep the buffers only if together they fit ``limit`` bytes."""
        if sum(len(buffer) for buffer in self._slots.values()) > limit:
            self._slots.clear()


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
        buffers.trim(MAX_RETAINED_BUFFER_BYTES)


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


def _never_waits(source: IO[bytes]) -> bool:
    """Whether reading ``source`` cannot wait for data to arrive: a regular file or memory (seekable)."""
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def write_all(sink: IO[bytes], view: memoryview) -> None:
    """Write all of ``view`` to ``sink`` (a raw sink may take part of it per call)."""
    while len(view):
        n = sink.write(view)
        if n is None:  # a non-blocking raw sink that took nothing
            raise UsageError("the sink is non-blocking and took no data; use a blocking stream")
        view = view[n:]


def _whole_frames(unit: int) -> int:
    """Bytes per read for units (frames) of ``unit`` bytes: as many whole ones as fill a step, at least two."""
    return max(2, STREAM_CHUNK_BYTES // unit) * unit


def encrypt_step(frame_length: int) -> int:
    """Plaintext bytes an encryption reads per step: whole frames (at least two) when a frame is at most
    half a step, else a step of a larger frame."""
    if frame_length <= STREAM_CHUNK_BYTES // 2:
        return _whole_frames(frame_length)
    return STREAM_CHUNK_BYTES


def _bytes_left(source: IO[bytes]) -> int | None:
    """The bytes from ``source``'s position to its end, if its reads never wait (a file, memory: it
    seeks); None for a pipe or socket, or a source that cannot tell."""
    if not _never_waits(source):
        return None
    try:
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
    except (AttributeError, OSError, ValueError):
        return None
    source.seek(here)  # not inside the try: a source that cannot go back must not be read from its end
    return max(0, end - here) if isinstance(end, int) else None


def encrypt_stream(source: IO[bytes], sink: IO[bytes], encryptor: MessageEncryptor) -> int:
    """Encrypt everything ``source`` yields into ``sink``; return the plaintext length."""
    chunk = encrypt_step(encryptor.frame_length)
    # Of a source whose size is known (a file, memory), a step before its end is sealed whole, and the
    # last step with the final frame, so no frame is held back and copied (a 1 MiB frame of each 2 MiB
    # step would be). Where the source should end, it is read once more to see that it did (a file
    # that grew is read on). Steps are sealed as soon as they are read, while they sit in the cache
    # (reading a step ahead cost 10% at 64 KiB frames). A pipe or socket, whose end is not known, has
    # what it gave written before it is read again, and its last frame held back for finalize.
    left = _bytes_left(source)
    sized = left is not None  # a known size promises more before its end (cut short meanwhile: an empty final frame)
    with _thread_buffers() as buffers:
        src, spare = buffers.view("source", chunk), None
        out = buffers.view("output", 0)
        total = 0
        n = _read_full(source, src)
        while n:
            total += n
            following = 0
            if left is not None and (left := left - n) <= 0:  # the end, unless the file grew: look
                spare = buffers.view("ahead", chunk) if spare is None else spare
                if not (following := _read_full(source, spare)):  # the last step, sealed with the final frame
                    if len(out) < (need := encryptor.finish_size(n)):
                        out = buffers.at_least("output", need)
                    write_all(sink, out[: encryptor.finish_into(src[:n], out)])
                    return total
            if len(out) < (need := encryptor.update_size(n, more=sized)):
                out = buffers.view("output", need)  # no spare: every later step needs at most this much
            write_all(sink, out[: encryptor.update_into(src[:n], out, more=sized)])
            if following:  # the file grew: what was read is the next step
                assert spare is not None
                src, spare, n = spare, src, following
            else:
                n = _read_full(source, src)
        if len(out) < (need := encryptor.finalize_size()):
            out = buffers.at_least("output", need)
        write_all(sink, out[: encryptor.finalize_into(out)])
    return total


def next_read(decryptor: Decrypting, arrived: int, left: int | None = None) -> int:
    """How many bytes to read next. Once the header authenticated and its frames are at most 1 MiB:
    whole frames, a step of them (so that none straddles two reads and is gathered by copying: the
    step is at most :data:`STREAM_CHUNK_BYTES` plus a frame, whatever the message declares), or of a
    source with ``left`` bytes still to read, all of them when that is at most a frame and
    :data:`_TAIL_BYTES` more (the message's end). Before that, or for larger frames: never more than
    twice what arrived, up to a step (the decryptor gathers what straddles reads)."""
    step = decryptor.frame_step
    if step is not None and step <= _LARGEST_WHOLE_READ_FRAME:
        want = _whole_frames(step) - decryptor.buffered
        return left if left is not None and want < left <= want + step + _TAIL_BYTES else want
    return min(max(FIRST_READ_BYTES, 2 * arrived), STREAM_CHUNK_BYTES)


def _header_then_rewind(source: IO[bytes], first: memoryview, decryptor: Decrypting) -> int:
    """From a source that can seek: read and authenticate the header, then seek back to its end, so
    that the frames are read whole from their first byte and none is gathered from two reads (a copy
    of up to a 1 MiB frame, into a buffer whose pages fault in). Returns the header's length; 0 if it
    did not fit in ``first`` (the source is back where it was, and the stream is read as any other)."""
    n = _read_full(source, first)
    length = decryptor.read_header(first[:n]) if n else 0
    try:
        source.seek(length - n, io.SEEK_CUR)
    except (OSError, ValueError) as exc:  # seekable() said it could
        raise UsageError(f"the source says it can seek but could not ({exc}); pass one that can") from None
    return length


def decrypt_stream(source: IO[bytes], sink: IO[bytes], decryptor: Decrypting) -> int:
    """Decrypt the message ``source`` yields into ``sink``; return the plaintext length.

    Only authenticated plaintext reaches ``sink``; if this raises, what reached
    it is a prefix of the plaintext and must be discarded. The header is read in
    a small step; once the frame size is known, each read takes whole frames
    (of frames up to 1 MiB), and from a source whose size is known the step before
    the end takes the rest when that is at most a frame more (``_TAIL_BYTES``); no
    buffer is sized by what the message declares.
    """
    with _thread_buffers() as buffers:
        want = FIRST_READ_BYTES
        src = buffers.view("source", want)
        out = buffers.view("output", 0)
        arrived = total = 0
        left = None  # the bytes still to read, of a source whose size is known
        fresh = decryptor.header is None and not decryptor.buffered  # not handed any of the message yet
        if fresh and _never_waits(source):  # a file: read the header alone, then the frames from its end
            arrived = _header_then_rewind(source, src[:want], decryptor)
            if arrived:
                left = _bytes_left(source)
                want = next_read(decryptor, arrived, left)
                src = buffers.at_least("source", want) if len(src) < want else src
        while n := _read_full(source, src[:want]):
            arrived += n
            left = None if left is None else left - n
            if len(out) < (need := decryptor.output_bound(n)):
                out = buffers.at_least("output", need)
            written = decryptor.update_into(src[:n], out)
            write_all(sink, out[:written])
            total += written
            if n < want:  # the source may have ended; reading on costs no memory until it gives more
                continue
            want = next_read(decryptor, arrived, left)
            if len(src) < want:
                src = buffers.at_least("source", want)
    decryptor.finalize()
    return total
