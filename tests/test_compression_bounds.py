"""Bounds on decompression (``busta.compression``): pieces, totals, windows, zip bombs measured in a
subprocess, the frame walk fed a byte at a time, and any mutated frame."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta.compression import DECOMPRESS_PIECE_BYTES, Compressor, Decompressor, compress_whole, decompress_whole
from busta.errors import CompressionError, LimitExceededError
from busta.limits import MAX_DECOMPRESSED_BUFFER_BYTES, MAX_DECOMPRESSED_BYTES, MAX_ZSTD_WINDOW_BYTES

from .test_compression import DECRYPTS, GOOD, KEYRING, ROOT, _data, _decrypt_stream, _decrypt_whole, _marked_message

# -- bounds: pieces, totals, zip bombs --------------------------------------------------------------------


def _zeros_frame(size: int, *, declared: bool) -> bytes:
    compressor = Compressor(size if declared else None)
    chunk = bytes(1 << 20)
    return b"".join([*(compressor.compress(chunk) for _ in range(size >> 20)), compressor.flush()])


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """1 GiB of zeros as a zstd frame that does not declare its size: about 32 KiB."""
    return _zeros_frame(1 << 30, declared=False)


def test_a_bomb_is_small(bomb: bytes) -> None:
    assert len(bomb) < 64 << 10


def test_the_decoder_yields_bounded_pieces_one_at_a_time_whatever_it_is_fed(bomb: bytes) -> None:
    decompressor = Decompressor(max_output=1 << 40)
    pieces = decompressor.feed(bomb)  # the whole bomb at once
    first = next(pieces)
    assert len(first) <= DECOMPRESS_PIECE_BYTES
    assert decompressor.output == len(first)  # nothing more was decoded before the piece was taken
    total = len(first) + sum(len(piece) for piece in pieces if len(piece) <= DECOMPRESS_PIECE_BYTES)
    decompressor.finish()
    assert total == 1 << 30 == decompressor.output


def test_output_beyond_the_limit_is_refused_at_the_limit(bomb: bytes) -> None:
    decompressor = Decompressor(max_output=10 << 20)
    with pytest.raises(LimitExceededError, match="the decompressed plaintext") as caught:
        for _ in decompressor.feed(bomb):
            pass
    assert 10 << 20 < caught.value.value <= (10 << 20) + DECOMPRESS_PIECE_BYTES
    with pytest.raises(LimitExceededError):  # and it stays failed
        decompressor.finish()


def test_a_declared_size_above_the_limit_is_refused_before_decoding() -> None:
    frame = _zeros_frame(64 << 20, declared=True)
    with pytest.raises(LimitExceededError, match="declared decompressed plaintext"):
        next(Decompressor(max_output=1 << 20).feed(frame[:32]))


def test_a_frame_holding_more_than_its_header_declares_is_a_compression_error() -> None:
    frame = bytearray(compress_whole(b"a" * 200))
    assert frame[4] == 0x20 and frame[5] == 200  # single segment, one-byte content size
    frame[5] = 100
    for decrypt in (_decrypt_whole, _decrypt_stream):
        with pytest.raises(CompressionError):
            decrypt(_marked_message(bytes(frame)))


@pytest.mark.parametrize("step", [1, 2, 9])
def test_a_frame_holding_less_than_its_header_declares_is_a_compression_error_in_any_step(step: int) -> None:
    frame = b"(\xb5/\xfd \x01" + b"\x01\x00\x00"  # declares 1 byte; its last block is raw and empty
    decompressor = Decompressor(max_output=1 << 20)
    with pytest.raises(CompressionError, match=r"declares 1 bytes and holds 0|not a valid zstd frame"):
        for i in range(0, len(frame), step):
            for _ in decompressor.feed(frame[i : i + step]):
                pass
        decompressor.finish()


def test_the_limits_default_to_the_named_constants() -> None:
    assert MAX_DECOMPRESSED_BUFFER_BYTES < MAX_DECOMPRESSED_BYTES
    frame = _zeros_frame(MAX_DECOMPRESSED_BUFFER_BYTES + (1 << 20), declared=False)
    with pytest.raises(LimitExceededError) as caught:
        busta.decrypt(_marked_message(frame), keyring=KEYRING)
    assert caught.value.limit == MAX_DECOMPRESSED_BUFFER_BYTES
    out = io.BytesIO()  # streaming: the larger default; the same output decompresses
    busta.decrypt_stream(io.BytesIO(_marked_message(frame)), out, keyring=KEYRING)
    assert out.tell() == MAX_DECOMPRESSED_BUFFER_BYTES + (1 << 20)


@pytest.mark.parametrize("decrypt", sorted(DECRYPTS))
def test_max_decompressed_bytes_bounds_every_decrypt_entry_point(decrypt: str) -> None:
    message = _marked_message(_zeros_frame(8 << 20, declared=False))
    with pytest.raises(LimitExceededError) as caught:
        DECRYPTS[decrypt](message, busta.Client(max_decompressed_bytes=3 << 20))
    assert caught.value.limit == 3 << 20
    assert len(DECRYPTS[decrypt](message, busta.Client(max_decompressed_bytes=8 << 20))) == 8 << 20


_BOMB_PROBE = """
import io, sys
import busta
from busta.compression import Compressor, COMPRESSION_CONTEXT_KEY, _Marked
from busta.keyrings import RawAesKeyring

keyring = RawAesKeyring("compression-tests", "aes-256", bytes(range(32)))
compressor = Compressor()
chunk = bytes(1 << 20)
frame = b"".join([*(compressor.compress(chunk) for _ in range(1024)), compressor.flush()])
encryptor = busta.start_encryption(keyring=keyring, encryption_context=_Marked({COMPRESSION_CONTEXT_KEY: "zstd"}))
message = encryptor.update(frame) + encryptor.finalize()
del chunk, frame


class Null(io.RawIOBase):
    count = 0
    def writable(self): return True
    def write(self, data):
        self.count += len(data)
        return len(data)


def peak():  # peak RSS in MiB (VmHWM: ru_maxrss may carry the parent's over)
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) >> 10


before = peak()
mode = sys.argv[1]
try:
    if mode == "whole":
        busta.decrypt(message, keyring=keyring)
    elif mode == "stream":
        sink = Null()
        busta.Client(max_decompressed_bytes=512 << 20).decrypt_stream(io.BytesIO(message), sink, keyring=keyring)
    elif mode == "stream-all":
        sink = Null()
        busta.decrypt_stream(io.BytesIO(message), sink, keyring=keyring)
        print("decompressed", sink.count)
    elif mode == "declared":  # 128 MiB that the frame header declares: decompressed into one buffer
        compressor = Compressor(128 << 20)
        frame = b"".join([*(compressor.compress(bytes(1 << 20)) for _ in range(128)), compressor.flush()])
        marked = _Marked({COMPRESSION_CONTEXT_KEY: "zstd"})
        encryptor = busta.start_encryption(keyring=keyring, encryption_context=marked)
        small = encryptor.update(frame) + encryptor.finalize()
        print("decompressed", len(busta.decrypt(small, keyring=keyring).plaintext))
    elif mode == "reader":
        reader = busta.Client(max_decompressed_bytes=512 << 20).decrypting_reader(io.BytesIO(message), keyring=keyring)
        while reader.read(1 << 16):
            pass
except busta.errors.LimitExceededError as exc:
    print("refused", exc.value, exc.limit)
print("grew", peak() - before)
"""


@pytest.mark.parametrize("mode", ["whole", "stream", "reader", "stream-all", "declared"])
def test_a_zip_bomb_is_refused_or_streamed_with_bounded_memory(mode: str, tmp_path: Path) -> None:
    """1 GiB of zeros in a 33 KiB message: one-shot decrypt (which must hold what it returns) stops at
    its 256 MiB default; streams stop at their limit (here 512 MiB) or, under the 64 GiB default,
    stream it all through; memory grows by a few MiB in every stream mode. A one-shot decrypt of a
    frame that declares its size holds the output once."""
    done = subprocess.run(
        [sys.executable, "-c", _BOMB_PROBE, mode],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    grew = int(lines["grew"])
    if mode == "declared":  # held once, not once in pieces and once joined
        assert lines["decompressed"] == str(128 << 20)
        assert grew < 128 + 40, done.stdout
        return
    if mode == "stream-all":
        assert lines["decompressed"] == str(1 << 30)
    else:
        value, limit = map(int, lines["refused"].split())
        assert limit == (MAX_DECOMPRESSED_BUFFER_BYTES if mode == "whole" else 512 << 20)
        assert limit < value <= limit + DECOMPRESS_PIECE_BYTES
    bound = (MAX_DECOMPRESSED_BUFFER_BYTES >> 20) + 64 if mode == "whole" else 32
    assert grew < bound, done.stdout


# -- the frame walk, a byte at a time ---------------------------------------------------------------------


def _frames() -> Iterator[tuple[str, bytes, bytes]]:
    data = _data(300_000) + os.urandom(200_000) + bytes(200_000)
    yield "checksum", zstandard.ZstdCompressor(write_checksum=True).compress(data), data
    yield "no-size", zstandard.ZstdCompressor(write_content_size=False).compress(data), data
    yield "empty", zstandard.ZstdCompressor().compress(b""), b""
    yield "one-byte", zstandard.ZstdCompressor().compress(b"x"), b"x"
    yield "level-1", zstandard.ZstdCompressor(level=1).compress(data), data
    yield "raw-blocks", zstandard.ZstdCompressor(level=-5).compress(os.urandom(400_000)), b""


@pytest.mark.parametrize(("name", "frame", "data"), list(_frames()), ids=[name for name, _, _ in _frames()])
def test_frames_of_every_shape_decode_fed_in_any_step(name: str, frame: bytes, data: bytes) -> None:
    expected = data or zstandard.ZstdDecompressor().decompress(frame)
    for step in (1, 3, 4096, len(frame) or 1):
        decompressor = Decompressor()
        out = b"".join(piece for i in range(0, len(frame), step) for piece in decompressor.feed(frame[i : i + step]))
        decompressor.finish()
        assert out == expected, step


def test_a_frame_that_needs_a_dictionary_or_sets_a_reserved_bit_is_refused() -> None:
    frame = compress_whole(b"abc")
    assert frame[4] == 0x20  # single segment, a one-byte content size
    with_dict = frame[:4] + b"\x21\x07" + frame[5:]  # and a one-byte dictionary id, 7
    reserved = bytearray(frame)
    reserved[4] |= 0x08
    for frame, text in ((with_dict, "dictionary"), (bytes(reserved), "reserved")):
        with pytest.raises(CompressionError, match=text):
            decompress_whole(frame, 1 << 20)


# -- any bytes: an answer or an error of the tree ------------------------------------------------------------

_SEED_FRAMES = [GOOD, compress_whole(b""), zstandard.ZstdCompressor(write_checksum=True).compress(_data(70_000))]


@settings(max_examples=400, deadline=None)
@given(
    seed=st.sampled_from(_SEED_FRAMES),
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, 1 << 20),
    step=st.integers(1, 5000),
)
def test_a_mutated_frame_decodes_as_zstd_does_or_fails_inside_the_error_tree(
    seed: bytes, edits: list[tuple[int, int]], cut: int, step: int
) -> None:
    frame = bytearray(seed)
    for where, value in edits:
        if frame:
            frame[where % len(frame)] = value
    frame = frame[: cut % (len(frame) + 1)] if cut % 3 == 0 else frame
    decompressor = Decompressor(max_output=1 << 20)
    try:
        out = b"".join(piece for i in range(0, len(frame), step) for piece in decompressor.feed(frame[i : i + step]))
        decompressor.finish()
    except (CompressionError, LimitExceededError):
        return
    reference = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW_BYTES).decompressobj()
    assert reference.decompress(bytes(frame)) == out
    assert reference.eof and not reference.unused_data
