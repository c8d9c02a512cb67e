"""Opt-in zstandard compression of the plaintext, recorded in the encryption context.

A compressed message is an ordinary message whose plaintext is one zstd frame (RFC 8878) and whose
encryption context holds ``"busta-compression": "zstd"`` (:data:`COMPRESSION_CONTEXT_KEY`): any
ESDK decrypts it to the zstd frame; busta decompresses it. Compression happens before encryption,
so the ciphertext's length follows the compressed length: compressing secrets together with data
an attacker chooses leaks the secrets through that length (CRIME, BREACH). See docs/compression.md.

Decompression is bounded (:mod:`busta.limits`): the output in all (:class:`LimitExceededError`),
the decoder's window (its memory), and the output of each step, :data:`DECOMPRESS_PIECE_BYTES`:
:class:`Decompressor` walks the frame's block headers (pure parsing, no decoding) and hands the
zstd decoder at most as many blocks as can produce one piece, whatever their ratio. The frame must
be exactly one zstd frame: a corrupt, truncated or trailing stream is a :class:`CompressionError`.

zstandard is imported only here, and only when compression is used (``pip install "busta[zstd]"``).
These pieces are sans-I/O: the sans-I/O engines (``busta.start_encryption`` ...) encrypt and yield
bytes as given, and a caller driving them composes a :class:`Compressor` or :class:`Decompressor`
with them, with :func:`mark` on the context and :func:`compression_of` on the authenticated one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any, Final

from .errors import CompressionError, LimitExceededError, UsageError
from .limits import MAX_DECOMPRESSED_BYTES, MAX_ZSTD_WINDOW_BYTES

__all__ = [
    "COMPRESSIONS",
    "COMPRESSION_CONTEXT_KEY",
    "DECOMPRESS_PIECE_BYTES",
    "ZSTD_LEVEL",
    "Compressor",
    "Decompressor",
    "check_compression",
    "compress_whole",
    "compression_of",
    "decompress_whole",
    "mark",
    "refuse_reserved",
]

#: The encryption-context key that records the compression (keys starting "aws-crypto-" are the ESDK's).
COMPRESSION_CONTEXT_KEY: Final = "busta-compression"
#: The compressions busta writes and reads, by their value under :data:`COMPRESSION_CONTEXT_KEY`.
COMPRESSIONS: Final = ("zstd",)
#: The zstd level busta compresses with: its window (2 MiB for large inputs) fits MAX_ZSTD_WINDOW_BYTES.
ZSTD_LEVEL: Final = 3
#: The most output one decoder step produces (and so holds): a multiple of zstd's largest block.
DECOMPRESS_PIECE_BYTES: Final = 1 << 20

_BLOCK_MAX = 128 << 10  # RFC 8878 Block_Maximum_Size: no block decodes to more
_MAGIC = b"\x28\xb5\x2f\xfd"
_INSTALL = 'zstd compression needs the zstandard package: pip install "busta[zstd]"'


def _zstandard() -> ModuleType:
    try:
        import zstandard  # noqa: PLC0415 - an optional extra, imported only when compression is used
    except ImportError as exc:
        raise UsageError(_INSTALL) from exc
    return zstandard


def check_compression(compression: object) -> str | None:
    """``compression`` if it is None or one busta knows (:data:`COMPRESSIONS`), else :class:`UsageError`;
    a known one also needs zstandard installed."""
    if compression is None:
        return None
    if not isinstance(compression, str) or compression not in COMPRESSIONS:
        raise UsageError(f"compression must be None or one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    _zstandard()
    return compression


class _Marked(dict[str, str]):
    """A context :func:`mark` made: the only kind that may hold :data:`COMPRESSION_CONTEXT_KEY` on encrypt."""


def mark(encryption_context: Mapping[str, str] | None, compression: str | None) -> Mapping[str, str] | None:
    """The context a message compressed with ``compression`` (None: not compressed) is encrypted under.

    A caller's context that already names :data:`COMPRESSION_CONTEXT_KEY` is a :class:`UsageError`:
    the key is busta's record of what it did, and a wrong one would make decryption fail.
    """
    refuse_reserved(encryption_context)
    if check_compression(compression) is None:
        return encryption_context
    return _Marked({**(encryption_context or {}), COMPRESSION_CONTEXT_KEY: str(compression)})


def refuse_reserved(encryption_context: object) -> None:
    """:class:`UsageError` if a caller's context names :data:`COMPRESSION_CONTEXT_KEY` (pass ``compression=``)."""
    if not encryption_context or type(encryption_context) is _Marked:
        return
    try:
        named = COMPRESSION_CONTEXT_KEY in encryption_context  # type: ignore[operator]
    except TypeError:
        return  # not a mapping: the context's own checks say so
    if named:
        raise UsageError(f"the encryption context key {COMPRESSION_CONTEXT_KEY!r} is busta's; pass compression=")


def compression_of(encryption_context: Mapping[str, str] | None) -> str | None:
    """The compression an authenticated context records (None: none); :class:`CompressionError` for
    one busta does not know (the message is authentic: its writer used a newer or another program)."""
    value = None if encryption_context is None else encryption_context.get(COMPRESSION_CONTEXT_KEY)
    if value is not None and value not in COMPRESSIONS:
        raise CompressionError(f"the message is compressed with {value!r}, which busta cannot decompress")
    return value


class Compressor:
    """Compresses one plaintext into one zstd frame: :meth:`compress` pieces, then :meth:`flush` once.

    ``size`` (the plaintext's length, if known) is written into the frame header.
    """

    __slots__ = ("_compressor",)

    def __init__(self, size: int | None = None):
        context = _zstandard().ZstdCompressor(level=ZSTD_LEVEL)
        self._compressor: Any = context.compressobj(size=-1 if size is None else size)

    def compress(self, data: bytes | bytearray | memoryview) -> bytes:
        """Compressed bytes that are ready (often none: zstd gathers whole blocks)."""
        return bytes(self._compressor.compress(data))

    def flush(self) -> bytes:
        """The rest of the frame; the compressor is then finished."""
        return bytes(self._compressor.flush())


def compress_whole(data: bytes | bytearray | memoryview) -> bytes:
    """``data`` as one zstd frame that records its length."""
    return bytes(_zstandard().ZstdCompressor(level=ZSTD_LEVEL).compress(data))


class Decompressor:
    """Decompresses one zstd frame fed in pieces, in bounded steps; at most ``max_output`` bytes in all.

    :meth:`feed` yields the output in pieces of at most :data:`DECOMPRESS_PIECE_BYTES`, each made
    only when the one before was taken; :meth:`finish` says the input ended. Refused, each as soon
    as it shows: a frame header that declares more than ``max_output`` bytes or a window above
    :data:`~busta.limits.MAX_ZSTD_WINDOW_BYTES` (:class:`LimitExceededError`, before the decoder
    allocates it), output beyond ``max_output`` (the same, before a piece beyond it is yielded),
    and anything but exactly one well-formed zstd frame (:class:`CompressionError`). After an
    error every call raises it again.
    """

    __slots__ = ("_decoder", "_error", "_frame", "_max_output", "_output")

    def __init__(self, *, max_output: int = MAX_DECOMPRESSED_BYTES):
        zstandard = _zstandard()
        self._max_output = max_output
        self._decoder: Any = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW_BYTES).decompressobj(
            write_size=_BLOCK_MAX
        )
        self._frame = _FrameWalk(max_output)
        self._output = 0
        self._error: Exception | None = None

    @property
    def output(self) -> int:
        """Bytes yielded so far."""
        return self._output

    @property
    def declared(self) -> int | None:
        """The size the frame header declares (at most ``max_output``), once it was fed; else None."""
        return self._frame.declared

    def feed(self, data: bytes | bytearray | memoryview) -> Iterator[bytes]:
        """Decompress more of the frame; yield its output in bounded pieces (take them all)."""
        view = memoryview(data).cast("B")
        while len(view):
            self._check()
            try:
                step = self._frame.step(view, DECOMPRESS_PIECE_BYTES)
                piece = self._decoder.decompress(view[:step])  # step > 0: every step takes a byte
            except (CompressionError, LimitExceededError) as exc:
                self._error = exc
                raise
            except _zstandard().ZstdError as exc:
                self._error = CompressionError(f"the compressed plaintext is not a valid zstd frame: {exc}")
                raise self._error from exc
            view = view[step:]
            if piece:
                yield self._count(piece)

    def _count(self, piece: bytes) -> bytes:
        self._output += len(piece)
        if self._output > self._max_output:
            self._error = LimitExceededError("the decompressed plaintext", self._output, self._max_output)
            raise self._error
        return piece

    def finish(self) -> None:
        """Say the input ended: :class:`CompressionError` unless it was exactly one whole frame."""
        self._check()
        if not self._frame.done or not self._decoder.eof:
            self._error = CompressionError("the compressed plaintext ended before its zstd frame did")
            raise self._error
        declared = self._frame.declared
        if declared is not None and self._output != declared:  # the decoder misses this when fed in pieces
            self._error = CompressionError(
                f"the zstd frame declares {declared} bytes and holds {self._output}: it is corrupt"
            )
            raise self._error

    def _check(self) -> None:
        if self._error is not None:
            raise self._error


def decompress_whole(data: bytes | bytearray | memoryview, max_output: int) -> bytes:
    """The plaintext of the whole zstd frame ``data``: at most ``max_output`` bytes (held twice when joined)."""
    decompressor = Decompressor(max_output=max_output)
    pieces = list(decompressor.feed(data))
    decompressor.finish()
    return b"".join(pieces)


class _FrameWalk:
    """Follows one zstd frame's structure (RFC 8878 3.1.1) as its bytes go past, without decoding it.

    :meth:`step` says how many of the next bytes the decoder may take: header bytes, and whole or
    partial blocks whose output is at most a budget in all (a block is counted in every step that
    feeds it a byte). The frame header is checked as soon as it is whole, before the decoder sees it.
    """

    __slots__ = ("_block_out", "_checksum", "_field", "_last", "_left", "_max_output", "_want", "declared", "done")

    def __init__(self, max_output: int):
        self._max_output = max_output
        self._field = bytearray()  # the frame header, a block header or the checksum, as it arrives
        self._want = 5  # bytes of the field being gathered (the frame header's first five tell its size)
        self._left = -1  # bytes of the current block's content still to come; -1: gathering a field
        self._block_out = 0
        self._last = self._checksum = False
        self.declared: int | None = None
        self.done = False

    def step(self, view: memoryview, budget: int) -> int:
        taken = spent = 0
        charged = False
        while taken < len(view):
            if self.done:
                raise CompressionError("the compressed plaintext goes on after its zstd frame")
            if self._left < 0:
                self._field.append(view[taken])
                taken += 1
                if len(self._field) == self._want:
                    self._field_complete()
                continue
            if not charged:
                if spent and spent + self._block_out > budget:
                    break
                spent += self._block_out
                charged = True
            n = min(self._left, len(view) - taken)
            taken, self._left = taken + n, self._left - n
            if self._left == 0:
                self._block_end()
                charged = False
        return taken

    def _field_complete(self) -> None:
        if self._want == 5:  # magic and descriptor: the frame header's size (always more than 5)
            if self._field[:4] != _MAGIC:
                raise CompressionError("the compressed plaintext does not start with a zstd frame")
            self._want = _frame_header_size(self._field[4])
            return
        field, want = bytes(self._field), self._want
        self._field.clear()
        self._want = 3
        if want == 4:
            self.done = True  # the content checksum, which the decoder checks
        elif want == 3:
            self._block_start(int.from_bytes(field, "little"))
        else:
            self._frame_header(field)

    def _frame_header(self, field: bytes) -> None:
        descriptor = field[4]
        if descriptor & 0x08:
            raise CompressionError("the zstd frame header sets a reserved bit")
        single, offset = descriptor & 0x20, 5
        window = 0
        if not single:
            exponent, mantissa = field[5] >> 3, field[5] & 7
            base = 1 << (10 + exponent)
            window, offset = base + (base >> 3) * mantissa, 6
        dictionary = (0, 1, 2, 4)[descriptor & 3]
        if int.from_bytes(field[offset : offset + dictionary], "little"):
            raise CompressionError("the zstd frame needs a dictionary")
        content = field[offset + dictionary :]
        declared = int.from_bytes(content, "little") + (256 if len(content) == 2 else 0) if content else None
        if single:
            window = declared or 0
        if window > MAX_ZSTD_WINDOW_BYTES:
            raise LimitExceededError("the zstd window", window, MAX_ZSTD_WINDOW_BYTES)
        if declared is not None and declared > self._max_output:
            raise LimitExceededError("the declared decompressed plaintext", declared, self._max_output)
        self._checksum = bool(descriptor & 0x04)
        self.declared = declared

    def _block_start(self, head: int) -> None:
        self._last, kind, size = bool(head & 1), (head >> 1) & 3, head >> 3
        if kind == 3 or size > _BLOCK_MAX:
            raise CompressionError("the zstd frame holds a malformed block")
        self._left = 1 if kind == 1 else size
        self._block_out = _BLOCK_MAX if kind == 2 else size
        if self._left == 0:
            self._block_end()

    def _block_end(self) -> None:
        self._left = -1
        if self._last:
            if self._checksum:
                self._want = 4
            else:
                self.done = True


def _frame_header_size(descriptor: int) -> int:
    """The frame header's length (magic included) from its descriptor byte (RFC 8878 3.1.1.1)."""
    single = bool(descriptor & 0x20)
    content = (1 if single else 0, 2, 4, 8)[descriptor >> 6]
    return 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3] + content
