"""Base64 armor: messages as text, streamed in bounded memory.

:class:`ArmorWriter` writes the base64 of what it is given as one line (as
aws-encryption-sdk-cli's ``--encode`` does) ended by a newline; :class:`ArmorReader`
reads base64 text back, skipping whitespace (line breaks of any width, a final
newline), and refuses anything else as soon as it is seen: a character outside
the alphabet, padding before the end, text after the padding, a last group cut
short. :func:`unarmored` tells the two apart: a binary message starts with its
version byte, 0x01 or 0x02, which is neither a base64 character nor whitespace.

Both hold at most one step of text at a time (:data:`STEP` bytes of message),
whatever the message's length.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import IO, Final, Protocol, TypeVar

from .errors import CliError

__all__ = ["STEP", "ArmorReader", "ArmorWriter", "armored", "unarmored"]

#: Message bytes encoded or decoded per step (a multiple of 3: every step but the last needs no padding).
STEP: Final = 3 << 18
_WHITESPACE: Final = b" \t\r\n\v\f"
_ALPHABET: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + _WHITESPACE)

T = TypeVar("T")


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


class ArmorWriter:
    """A writable that sends the base64 of everything written to ``sink``; :meth:`finish` ends it."""

    def __init__(self, sink: _Sink):
        self._sink = sink
        self._pending = bytearray()  # fewer than STEP bytes, not yet encoded

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % STEP
        if whole:
            self._sink.write(binascii.b2a_base64(self._pending[:whole], newline=False))
            del self._pending[:whole]
        return len(memoryview(data))

    def flush(self) -> None:
        """Nothing leaves before a whole step has arrived (or :meth:`finish`)."""

    def finish(self) -> None:
        """Encode what is left, with its padding, and end the line."""
        self._sink.write(binascii.b2a_base64(self._pending, newline=True))
        self._pending.clear()


def armored(stream: Callable[[IO[bytes]], T]) -> Callable[[IO[bytes]], T]:
    """``stream``, writing base64 text into the sink it is given instead of bytes."""

    def run(sink: IO[bytes]) -> T:
        writer = ArmorWriter(sink)
        result = stream(writer)  # type: ignore[arg-type]
        writer.finish()
        return result

    return run


class ArmorReader:
    """A readable giving the bytes that the base64 text in ``source`` encodes (``name`` is said in errors).

    ``read(n)`` returns ``n`` bytes unless the text ends first; any text that is not
    base64 raises :class:`~busta.cli.errors.CliError` when it is reached.
    """

    def __init__(self, source: IO[bytes], name: str):
        self._source, self._name = source, name
        self._text = bytearray()  # base64 characters not yet decoded: fewer than 4 between reads
        self._out = bytearray()  # decoded bytes not yet returned
        self._seen = 0  # characters of text read so far, whitespace included (for the error's position)
        self._padded = False  # the last group decoded had padding: nothing may follow it
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._out) < size) and not self._ended:
            self._fill(STEP if size < 0 else size - len(self._out))
        if size < 0:
            size = len(self._out)
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def _fill(self, wanted: int) -> None:
        """Read the text of about ``wanted`` more bytes (at most a step's) and decode what is whole."""
        chunk = self._source.read(-(-min(wanted, STEP) // 3) * 4)
        if not chunk:
            self._ended = True
            if self._text:
                raise self._error("it ends inside a group of four characters")
            return
        text = bytes(chunk).translate(None, _WHITESPACE)
        self._seen += len(chunk)
        if not text:
            return
        if self._padded:
            raise self._error("text follows the padding that ends it")
        self._text += text
        whole = len(self._text) - len(self._text) % 4
        try:
            self._out += binascii.a2b_base64(self._text[:whole], strict_mode=True)
        except binascii.Error as exc:
            raise self._error(str(exc).rstrip(".").lower()) from None
        self._padded = whole > 0 and self._text[whole - 1] == ord("=")
        del self._text[:whole]
        if not _ALPHABET.issuperset(self._text):  # the (at most 3) characters left wait for their group
            raise self._error("only base64 data is allowed")

    def _error(self, why: str) -> CliError:
        return CliError(f"{self._name}: not valid base64 ({why}), in the {self._seen} bytes read so far")


class _Prefixed:
    """``first`` (the one byte already read from ``source``), then the rest of ``source``."""

    def __init__(self, first: bytes, source: IO[bytes]):
        self._first, self._source = first, source

    def read(self, size: int = -1) -> bytes:
        if not self._first:
            return self._source.read(size)
        if size == 0:
            return b""
        first, self._first = self._first, b""
        return first + self._source.read(size - 1 if size > 0 else -1)


def unarmored(source: IO[bytes], name: str, *, decode: bool = False) -> IO[bytes]:
    """The message in ``source``: decoded when it is base64 text (or ``decode`` says it must be),
    else ``source`` itself. Only the first byte is looked at (peeked where the stream allows it)."""
    if decode:
        return ArmorReader(source, name)  # type: ignore[return-value]
    first, source = _first_byte(source)
    if first and first[0] in _ALPHABET:
        return ArmorReader(source, name)  # type: ignore[return-value]
    return source


def _first_byte(source: IO[bytes]) -> tuple[bytes, IO[bytes]]:
    """The first byte of ``source`` (empty at its end) and a stream that still starts with it."""
    peek = getattr(source, "peek", None)
    if peek is not None:
        return bytes(peek(1)[:1]), source
    first = source.read(1)
    return first, _Prefixed(first, source)  # type: ignore[return-value]
