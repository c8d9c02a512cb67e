"""Random access to the plaintext of a framed message whose bytes can be fetched by offset.

Only the header and the frames that cover the requested range are fetched, and
each of those frames is authenticated before any of its bytes is returned. A
signed message's signature covers the whole message, so random access cannot
check it: such messages are refused unless the caller accepts that explicitly.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, NoReturn

from .._secrets import refuse_pickling
from ..compression import compression_of
from ..errors import MalformedMessageError, SignedMessageError, TruncatedMessageError, UsageError
from ..format import ContentType, Header
from ..format.layout import final_frame_window, locate_final_frame, regular_frame_size
from .driver import Decrypting
from .io import ReadByRead

__all__ = ["Fetch", "SeekableDecryptingReader", "file_fetch"]

#: ``fetch(start, end)`` returns message bytes ``[start, end)`` (fewer only at the end of the message).
#: Every answer is checked against the range asked for: a short one is a :class:`TruncatedMessageError`.
Fetch = Callable[[int, int], bytes]

_FIRST_HEADER_READ = 16 << 10


def file_fetch(fileobj: IO[bytes]) -> tuple[Fetch, int]:
    """A :data:`Fetch` over a seekable file, and the file's size."""
    if not fileobj.seekable():
        raise UsageError("random access needs a seekable source")
    size = fileobj.seek(0, io.SEEK_END)

    def fetch(start: int, end: int) -> bytes:
        fileobj.seek(start)
        parts = []
        left = end - start
        while left > 0:
            chunk = fileobj.read(left)
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    return fetch, size


class SeekableDecryptingReader(ReadByRead):
    """Random access to the plaintext of one framed message of ``size`` bytes that ``fetch`` reads by offset.

    Readable and seekable (``read`` / ``seek`` / ``tell`` follow Python's io
    conventions), and :meth:`read_range` reads any plaintext range directly.
    Only the header and the frames that cover what is read are fetched, and each
    frame is authenticated before any of its bytes is returned. The header is
    fetched and authenticated here (``decryptor`` obtains its materials once),
    and so is the final frame, which proves the message's length:
    :attr:`length` is the plaintext length. A signed message's signature covers
    the whole message, so random access cannot check it: such messages are
    refused unless ``allow_unverified_signature``. A compressed message
    (:mod:`busta.compression`) is refused with :class:`UsageError`: its plaintext
    offsets are not the zstd stream's; ``allow_compressed`` reads the zstd stream
    itself (what checks of the frames, as rewrap's, need). :func:`file_fetch`
    makes ``fetch`` and ``size`` of a seekable file.
    """

    def __init__(
        self,
        fetch: Fetch,
        size: int,
        decryptor: Decrypting,
        *,
        allow_unverified_signature: bool = False,
        allow_compressed: bool = False,
    ):
        super().__init__()
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise UsageError("size must be a non-negative int")
        if not callable(fetch):
            raise UsageError("fetch must be a callable fetch(start, end) -> bytes (see file_fetch)")
        self._fetch = fetch
        self.size = size
        self._decryptor = decryptor
        self._body_start = self._read_header()
        header, context = decryptor.header, decryptor.encryption_context
        assert header is not None and context is not None
        if header.content_type is not ContentType.FRAMED:
            raise UsageError("random access needs a framed message; this one is non-framed")
        if not allow_compressed and compression_of(context) is not None:
            raise UsageError("random access does not apply to a compressed message; decrypt it as a stream")
        if header.suite.signed and not allow_unverified_signature:
            raise SignedMessageError(
                f"{header.suite.name} is signed and a partial read cannot check the signature; "
                "pass allow_unverified_signature=True to read it anyway (frames are still authenticated)"
            )
        self._header = header
        self.encryption_context = context
        self._frame = header.frame_length
        self._step = regular_frame_size(self._frame)
        self._regular, self._final_length = self._locate_final()
        self._length = self._regular * self._frame + self._final_length
        self._position = 0

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)  # its decryptor holds the message's keys

    @property
    def header(self) -> Header:
        """The message header (authenticated)."""
        return self._header

    @property
    def length(self) -> int:
        """The plaintext length."""
        return self._length

    def _get(self, start: int, end: int) -> memoryview:
        """Message bytes ``[start, end)``, all of them (``end`` is within the message's size)."""
        data = memoryview(self._fetch(start, end)).cast("B")
        if len(data) < end - start:
            raise TruncatedMessageError(
                f"the message is shorter than its size of {self.size} bytes: bytes {start} to {end} gave {len(data)}"
            )
        if len(data) > end - start:
            raise MalformedMessageError(f"a fetch of bytes {start} to {end} gave {len(data)} bytes")
        return data

    def _read_header(self) -> int:
        want = min(self.size, _FIRST_HEADER_READ)
        while True:
            consumed = self._decryptor.read_header(self._get(0, want))
            if consumed:
                return consumed
            if want >= min(self.size, self._decryptor.max_header_bytes + 1):
                raise TruncatedMessageError("the message ended in its header")
            want = min(self.size, want * 4)

    def _locate_final(self) -> tuple[int, int]:
        """Find the final frame from the message's tail and authenticate it now.

        Opening it here proves the message's length: a message cut short and
        given a forged final frame fails at once, not only when a read reaches the end.
        """
        start = max(self._body_start, self.size - final_frame_window(self._frame))
        tail = self._get(start, self.size)
        found = locate_final_frame(
            tail, start, self.size, self._body_start, self._frame, signed=self._header.suite.signed
        )
        if found is None:
            raise MalformedMessageError("the message body does not end with a well-formed final frame")
        regular, length = found
        position = self._body_start + regular * self._step
        self._final = bytearray(length)
        opened = self._decryptor.open_final_frame(
            tail[position - start :], memoryview(self._final), regular + 1, offset=position
        )
        if opened != length:
            raise MalformedMessageError("the final frame is not where the layout says", offset=position)
        return found

    def read_range(self, start: int, end: int) -> bytes:
        """Plaintext bytes ``[start, end)``, clamped to the message; every frame touched is authenticated.

        It does not move the position that :meth:`read` and :meth:`seek` use.
        """
        self._checkClosed()
        if start < 0 or end < start:
            raise UsageError("a range needs 0 <= start <= end")
        end = min(end, self._length)
        if start >= end:
            return b""
        frame, step = self._frame, self._step
        first, last = start // frame, (end - 1) // frame
        regular = max(0, min(last, self._regular - 1) - first + 1) if first < self._regular else 0
        takes_final = last >= self._regular
        fetch_start = self._body_start + first * step
        fetch_end = fetch_start + regular * step
        data = self._get(fetch_start, fetch_end) if regular else memoryview(b"")
        out = memoryview(bytearray(regular * frame + (self._final_length if takes_final else 0)))
        if regular:
            self._decryptor.open_frames(first + 1, data[: regular * step], out, regular, offset=fetch_start)
        if takes_final:
            out[regular * frame :] = self._final  # authenticated when the reader was made
        offset = first * frame
        return bytes(out[start - offset : end - offset])

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._checkClosed()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._checkClosed()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}.get(whence)
        if base is None:
            raise UsageError(f"unknown whence {whence}")
        if base + offset < 0:
            raise UsageError("cannot seek before the start")
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        end = self._length if size is None or size < 0 else self._position + size
        data = self.read_range(self._position, max(end, self._position))
        self._position += len(data)
        return data
