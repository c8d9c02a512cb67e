"""Issue 17: the async streaming API keeps the event loop free, at the sync streams' speed.

Rows ``17 aio``: ``busta.aio.encrypt_stream`` / ``decrypt_stream`` of 256 MiB (``Config.aio_bytes``;
8 MiB in ``--quick``) from an async iterable of 1 MiB chunks into an async sink that drops what it
gets, while a ticker task sleeps 1 ms at a time and records the longest gap between its ticks (the
longest the loop was held; goal < 50 ms), and the throughput as a ratio against the same run's sync
``encrypt_stream`` / ``decrypt_stream`` of the same plaintext (above 1: async is the faster).
Default threads (one per core), unsigned suite, 64 KiB frames; medians of interleaved rounds.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import busta
import busta.aio

from ._timing import interleaved
from .suite import UNSIGNED, Bench, Config, Row, _size

_CHUNK = 1 << 20
_TICK = 0.001


class _Discard:
    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


class _AsyncDiscard:
    async def write(self, data: bytes | memoryview) -> None:
        return None


async def _chunks(data: memoryview) -> AsyncIterator[bytes]:
    for start in range(0, len(data), _CHUNK):
        yield bytes(data[start : start + _CHUNK])


async def _with_ticker(work: Callable[[], Awaitable[object]]) -> float:
    """Run ``work`` beside a 1 ms ticker; return the longest gap between ticks beyond the tick, in ms."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(_TICK)
            now = time.perf_counter()
            longest = max(longest, now - last - _TICK)
            last = now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0)
    try:
        await work()
    finally:
        done = True
        await ticker
    return longest * 1000


def aio_rows(config: Config) -> list[Row]:
    size = config.aio_bytes
    bench = Bench(size)
    keyring, data = bench.keyring, bench.data
    message = busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED)
    gaps: dict[str, float] = {"enc": 0.0, "dec": 0.0}

    def sync_encrypt() -> None:
        busta.encrypt_stream(io.BytesIO(data), _Discard(), keyring=keyring, algorithm=UNSIGNED)  # type: ignore[arg-type]

    def sync_decrypt() -> None:
        busta.decrypt_stream(io.BytesIO(message), _Discard(), keyring=keyring)  # type: ignore[arg-type]

    def async_encrypt() -> None:
        async def work() -> object:
            return await busta.aio.encrypt_stream(_chunks(data), _AsyncDiscard(), keyring=keyring, algorithm=UNSIGNED)

        gaps["enc"] = max(gaps["enc"], asyncio.run(_with_ticker(work)))

    def async_decrypt() -> None:
        async def work() -> object:
            return await busta.aio.decrypt_stream(_chunks(memoryview(message)), _AsyncDiscard(), keyring=keyring)

        gaps["dec"] = max(gaps["dec"], asyncio.run(_with_ticker(work)))

    repeats = max(1, min(config.repeats, 3))
    t = interleaved({"enc": sync_encrypt, "aenc": async_encrypt, "dec": sync_decrypt, "adec": async_decrypt}, repeats)
    label = _size(size)
    return [
        Row("17 aio", f"async encrypt_stream {label}: longest loop gap", gaps["enc"], None, "ms (goal < 50)"),
        Row("17 aio", f"async decrypt_stream {label}: longest loop gap", gaps["dec"], None, "ms (goal < 50)"),
        Row("17 aio", f"async encrypt_stream {label} vs sync encrypt_stream", t.ratio("enc", "aenc"), None, "x"),
        Row("17 aio", f"async decrypt_stream {label} vs sync decrypt_stream", t.ratio("dec", "adec"), None, "x"),
        Row("17 aio", f"async encrypt_stream {label}, GB/s", size / t["aenc"] / 1e9, None, "GB/s"),
        Row("17 aio", f"async decrypt_stream {label}, GB/s", size / t["adec"] / 1e9, None, "GB/s"),
    ]


if __name__ == "__main__":  # pragma: no cover - python -m benchmarks.aio [--quick]
    import sys

    quick = "--quick" in sys.argv
    for row in aio_rows(Config.quick() if quick else Config.full()):
        print(f"{row.target:<8} {row.what:<62} {row.value:>10.2f}  {row.unit}")
