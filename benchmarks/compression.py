"""Issue 16 section 4: what ``compression="zstd"`` costs and gains.

Rows ``16 zstd``: ``encrypt_stream`` / ``decrypt_stream`` of 64 MiB (``Config.large_message_bytes``;
8 MiB in ``--quick``) with compression, on text-like data (log lines, about 4:1) and on random
data (incompressible), each as a ratio against the same run's uncompressed ``encrypt_stream`` /
``decrypt_stream`` of the same plaintext, and against bare zstandard (level 3, the same 1 MiB
chunks) compressing / decompressing the same data without encryption. A ratio above 1 means the
compressed path is the faster. One thread, streams in memory into a sink that drops what it gets,
medians of interleaved rounds.
"""

from __future__ import annotations

import io
import os
import random

import zstandard

import busta
from busta.compression import ZSTD_LEVEL

from ._timing import interleaved
from .suite import UNSIGNED, Bench, Config, Row, _gbps, _size

_CHUNK = 1 << 20
_WORDS = [b"GET", b"PUT", b"/index.html", b"/api/v1/items", b"200", b"404", b"ok", b"cache-miss", b"eu-west-1"]


class _Discard:
    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


def text_like(size: int, seed: int = 16) -> bytes:
    """Log lines: timestamps, counters and a few words: about 4:1 at level 3 (microseconds, counters are random)."""
    rng = random.Random(seed)
    lines = []
    total = i = 0
    while total < size:
        words = b" ".join(rng.choice(_WORDS) for _ in range(4))
        line = b"2026-12-02T03:%02d:%02d.%06d host-%02d %s %d\n" % (
            i // 60 % 60,
            i % 60,
            rng.randrange(10**6),
            rng.randrange(40),
            words,
            rng.randrange(10**5),
        )
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)[:size]


def compression_rows(config: Config) -> list[Row]:
    size = config.large_message_bytes
    repeats = max(1, min(config.repeats, 3))
    bench = Bench(0)
    rows: list[Row] = []
    for kind, data in (("text", text_like(size)), ("random", os.urandom(size))):
        rows += _rows(bench, kind, data, repeats)
    return rows


def _rows(bench: Bench, kind: str, data: bytes, repeats: int) -> list[Row]:
    client = busta.Client(threads=1)
    keyring = bench.keyring

    def encrypt(compression: str | None) -> bytes:
        out = io.BytesIO()
        client.encrypt_stream(io.BytesIO(data), out, keyring=keyring, algorithm=UNSIGNED, compression=compression)
        return out.getvalue()

    def decrypt(message: bytes) -> None:
        client.decrypt_stream(io.BytesIO(message), _Discard(), keyring=keyring)  # type: ignore[arg-type]

    def bare_compress() -> bytes:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compressobj()
        parts = [compressor.compress(data[i : i + _CHUNK]) for i in range(0, len(data), _CHUNK)]
        return b"".join([*parts, compressor.flush()])

    plain, zstd, frame = encrypt(None), encrypt("zstd"), bare_compress()
    t = interleaved(
        {
            "enc": lambda: encrypt(None),
            "enc_zstd": lambda: encrypt("zstd"),
            "bare_compress": bare_compress,
            "dec": lambda: decrypt(plain),
            "dec_zstd": lambda: decrypt(zstd),
            "bare_decompress": lambda: zstandard.ZstdDecompressor().decompressobj().decompress(frame),
        },
        repeats,
    )
    label = f"{_size(len(data))} {kind}"
    return [
        Row("16 zstd", f"encrypt_stream {label}: zstd vs uncompressed", t.ratio("enc", "enc_zstd"), None, "x"),
        Row(
            "16 zstd",
            f"encrypt_stream {label}: zstd vs bare zstandard compress",
            t.ratio("bare_compress", "enc_zstd"),
            None,
            "x",
        ),
        Row("16 zstd", f"decrypt_stream {label}: zstd vs uncompressed", t.ratio("dec", "dec_zstd"), None, "x"),
        Row(
            "16 zstd",
            f"decrypt_stream {label}: zstd vs bare zstandard decompress",
            t.ratio("bare_decompress", "dec_zstd"),
            None,
            "x",
        ),
        Row("info", f"zstd message / uncompressed message, {label}", len(zstd) / len(plain), None, "ratio"),
        Row("info", f"encrypt_stream {label}, zstd, 1 thread", _gbps(len(data), t["enc_zstd"]), None, "GB/s"),
        Row("info", f"decrypt_stream {label}, zstd, 1 thread", _gbps(len(data), t["dec_zstd"]), None, "GB/s"),
    ]
