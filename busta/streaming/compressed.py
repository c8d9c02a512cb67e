"""The adapters of compressed messages (``compression="zstd"``, see :mod:`busta.compression`).

Encryption compresses before the engine: a compressing source for readers and streams, a compressing
writer in front of the encrypting one. Decryption decompresses after it, once the authenticated
context says the message is compressed: a decompressing sink for streams and writers, a
decompressing reader. The engines are the same, and a message without the key passes through
untouched (one extra call per write or read).

What decompression releases follows what decryption releases: the output of frames that
authenticated, before the final frame (and, for signed suites, the signature) is checked. Each
step's output is bounded (:data:`~busta.compression.DECOMPRESS_PIECE_BYTES`) and written or handed
out before the next is made, and all of it by the client's ``max_decompressed_bytes``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import IO, Final, cast

from .._buffers import OutputBuffer
from ..compression import Compressor, Decompressor, compression_of
from ..errors import CompressionError, UsageError
from ..limits import MAX_DECOMPRESSED_BUFFER_BYTES, MAX_DECOMPRESSED_BYTES
from . import pump
from .driver import Decrypting
from .encryptor import MessageEncryptor
from .io import DEFAULT_READ_SIZE, DecryptingReader, EncryptingWriter, ReadByRead

__all__ = [
    "CompressingSource",
    "CompressingWriter",
    "DecompressingReader",
    "DecompressingSink",
    "decompressed",
    "decrypt_stream",
    "encrypt_stream",
    "limit_for",
]

#: Plaintext read per step when compressing a source.
_COMPRESS_READ_BYTES: Final = 1 << 20


def limit_for(configured: int | None, *, whole: bool) -> int:
    """The decompression limit: a client's ``max_decompressed_bytes``, else the default of the mode."""
    if configured is not None:
        return configured
    return MAX_DECOMPRESSED_BUFFER_BYTES if whole else MAX_DECOMPRESSED_BYTES


def decompressed(plaintext: bytes, context: dict[str, str], max_output: int) -> bytes:
    """The one-shot plaintext: ``plaintext`` itself, or its decompression if ``context`` records one.

    A frame that declares its size (busta's one-shot ``encrypt`` writes it) is decompressed into
    one buffer of that size, piece by piece; one that does not is joined from its pieces.
    """
    if compression_of(context) is None:
        return plaintext
    decompressor = Decompressor(max_output=max_output)
    pieces = decompressor.feed(plaintext)
    first = next(pieces, b"")  # the frame header is read by now
    if decompressor.declared is None:
        return _joined(decompressor, first, pieces)
    out = OutputBuffer(decompressor.declared)
    written = 0
    try:
        for piece in itertools.chain((first,), pieces):
            if written + len(piece) > out.size:
                raise CompressionError("the zstd frame holds more than its header declares")
            out.view[written : written + len(piece)] = piece
            written += len(piece)
        decompressor.finish()
    except BaseException:
        out.discard()
        raise
    return out.finish(written)


def _joined(decompressor: Decompressor, first: bytes, pieces: Iterator[bytes]) -> bytes:
    parts = [first, *pieces]
    decompressor.finish()
    return b"".join(parts)


class CompressingSource(ReadByRead):
    """Reads plaintext from ``source`` and yields it as one zstd frame; :attr:`consumed` counts the plaintext."""

    def __init__(self, source: IO[bytes], size: int | None = None):
        super().__init__()
        self._source = source
        self._compressor = Compressor(size)
        self._pending = b""
        self._offset = 0
        self._eof = False
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        self._checkClosed()
        if size is None or size < 0:
            parts = []
            while part := self.read(1 << 30):
                parts.append(part)
            return b"".join(parts)
        while self._offset >= len(self._pending) and not self._eof:
            chunk = self._source.read(_COMPRESS_READ_BYTES)
            if chunk is None:
                raise UsageError("the source is non-blocking and had no data; use a blocking stream")
            self.consumed += len(chunk)
            self._pending = self._compressor.compress(chunk) if chunk else self._compressor.flush()
            self._offset, self._eof = 0, not chunk
        start = self._offset
        self._offset = min(len(self._pending), start + size)
        return self._pending[start : self._offset]


def encrypt_stream(source: IO[bytes], sink: IO[bytes], encryptor: MessageEncryptor) -> int:
    """Compress everything ``source`` yields and encrypt it into ``sink``; return the plaintext length."""
    compressing = CompressingSource(source)
    pump.encrypt_stream(cast(IO[bytes], compressing), sink, encryptor)
    return compressing.consumed


class CompressingWriter(EncryptingWriter):
    """An :class:`EncryptingWriter` that compresses what is written to it (one zstd frame) first."""

    def __init__(self, sink: IO[bytes], encryptor: MessageEncryptor, *, close_sink: bool = False):
        super().__init__(sink, encryptor, close_sink=close_sink)
        self._compressor = Compressor()

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._checkClosed()
        super().write(self._compressor.compress(data))
        return len(memoryview(data).cast("B"))

    def close(self) -> None:
        if self.closed:
            return
        try:
            super().write(self._compressor.flush())
        except BaseException:
            self.abort()
            raise
        super().close()


class DecompressingSink:
    """A sink for the plaintext of ``decryptor``'s message: written through to ``sink``, or, if the
    authenticated context records a compression, decompressed into it in bounded pieces.

    :meth:`finish` (or ``flush()`` once the decryptor is done) checks that a compressed plaintext was
    exactly one zstd frame. :attr:`written` counts what reached ``sink``.
    """

    def __init__(self, sink: IO[bytes], decryptor: Decrypting, max_output: int):
        self._sink = sink
        self._decryptor = decryptor
        self._max_output = max_output
        self._decompressor: Decompressor | None = None
        self._decided = False
        self._finished = False
        self.written = 0

    def writable(self) -> bool:
        return True

    def _decide(self) -> Decompressor | None:
        if not self._decided:
            if compression_of(self._decryptor.encryption_context) is not None:
                self._decompressor = Decompressor(max_output=self._max_output)
            self._decided = True
        return self._decompressor

    def write(self, data: bytes | bytearray | memoryview) -> int:
        decompressor = self._decompressor if self._decided else self._decide()
        if decompressor is None:
            n = self._sink.write(data)
            self.written += n or 0
            return n
        for piece in decompressor.feed(data):
            pump.write_all(self._sink, memoryview(piece))
            self.written += len(piece)
        return len(memoryview(data).cast("B"))

    def finish(self) -> None:
        """The plaintext ended: a compressed one must have been one whole zstd frame."""
        decompressor = self._decide()
        if decompressor is not None and not self._finished:
            decompressor.finish()
        self._finished = True

    def flush(self) -> None:
        if getattr(self._decryptor, "done", False):
            self.finish()
        self._sink.flush()

    def close(self) -> None:
        self._sink.close()


def decrypt_stream(source: IO[bytes], sink: IO[bytes], decryptor: Decrypting, max_output: int) -> int:
    """:func:`pump.decrypt_stream`, decompressing a compressed message; return the plaintext length."""
    decompressing = DecompressingSink(sink, decryptor, max_output)
    pump.decrypt_stream(source, cast(IO[bytes], decompressing), decryptor)
    decompressing.finish()
    return decompressing.written


class DecompressingReader(DecryptingReader):
    """A :class:`DecryptingReader` that decompresses a compressed message's plaintext as it is read,
    in pieces of bounded size, and passes any other message's through."""

    def __init__(
        self, source: IO[bytes], decryptor: Decrypting, *, read_size: int = DEFAULT_READ_SIZE, max_output: int
    ):
        super().__init__(source, decryptor, read_size=read_size)
        self._decompressor: Decompressor | None = None
        self._decided = False
        self._pieces: Iterator[bytes] | None = None
        self._piece = b""
        self._piece_offset = 0
        self._max_output = max_output
        self._finished = False

    def read(self, size: int | None = -1) -> bytes:
        if not self._decided:
            self._checkClosed()
            self.read_header()
            if compression_of(self.encryption_context) is not None:
                self._decompressor = Decompressor(max_output=self._max_output)
            self._decided = True
        if self._decompressor is None:
            return super().read(size)
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 30), b""))
        if size == 0 or not self._next_piece(self._decompressor):
            return b""
        start = self._piece_offset
        self._piece_offset = min(len(self._piece), start + size)
        return self._piece[start : self._piece_offset]

    def _next_piece(self, decompressor: Decompressor) -> bool:
        """Make a decompressed piece pending; False at the end. A read's plaintext is decompressed a
        piece at a time, each only when the one before was read."""
        while self._piece_offset >= len(self._piece):
            piece = None if self._pieces is None else next(self._pieces, None)
            if piece is not None:
                self._piece, self._piece_offset = piece, 0
                continue
            if self._finished:
                return False
            chunk = super().read(self._read_size)
            if not chunk:
                decompressor.finish()
                self._finished = True
                return False
            self._pieces = decompressor.feed(chunk)
        return True
