"""busta.aio.s3 against busta.s3 (issue 17): upload_file of the same plaintext, both ways, in one run.

Both run against the same moto server on 127.0.0.1 (benchmarks.s3_transfer's set-up), in
alternation (median of ``repeats`` rounds after one untimed round each), 8 MiB parts, 4 at once,
suite 0x0478 with the default frames. The async upload runs on one event loop with a ticker task
beside it (every millisecond); the longest gap between its ticks is reported too: the loop stays
free while frames are sealed and parts go up.

Run on its own: ``python -m benchmarks.s3_async [--size MiB] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from busta import s3
from busta.aio import s3 as aio_s3
from busta.keyrings import RawAesKeyring
from tests.support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

from ._timing import interleaved
from .s3_transfer import UNSIGNED, _client
from .suite import Row, format_table, scratch_dir

MiB = 1 << 20
BUCKET = "busta-bench-async"


def s3_async_rows(size: int, repeats: int) -> list[Row]:
    """Upload of ``size`` bytes: busta.aio.s3.upload_file against busta.s3.upload_file."""
    keyring = RawAesKeyring("bench", "async-key", os.urandom(32))
    gaps: list[float] = []
    with MotoServer() as server, scratch_dir() as tmp, asyncio.Runner() as runner:
        client = _client(server)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": client.meta.region_name})
        source = tmp / "plain"
        source.write_bytes(os.urandom(size))
        options: dict[str, Any] = {"keyring": keyring, "algorithm": UNSIGNED, "max_concurrency": 4}
        clients = contextlib.AsyncExitStack()
        aio = runner.run(clients.enter_async_context(_aio_client(server)))
        try:

            async def ticked() -> None:
                async with _ticker() as longest:
                    await aio_s3.upload_file(source, BUCKET, "async", client=aio, **options)
                gaps.append(longest[0])

            t_up = interleaved(
                {
                    "sync": lambda: s3.upload_file(source, BUCKET, "sync", client=client, **options),
                    "async": lambda: runner.run(ticked()),
                },
                repeats,
            )
        finally:
            runner.run(clients.aclose())
        out = tmp / "back"
        s3.download_file(BUCKET, "async", out, client=client, keyring=keyring)
        assert out.read_bytes() == source.read_bytes()
    label = f"{size // MiB} MiB" if size >= MiB else f"{size} B"
    return [
        Row(
            "17 S3", f"async upload_file {label} vs sync busta.s3 (time ratio)", t_up.ratio("sync", "async"), None, "x"
        ),
        Row("info", f"upload sync, {label} (plaintext MB/s)", size / t_up["sync"] / 1e6, None, "MB/s"),
        Row("info", f"upload async, {label} (plaintext MB/s)", size / t_up["async"] / 1e6, None, "MB/s"),
        Row("info", f"async upload {label}: the loop's longest gap (ms)", max(gaps) * 1e3, None, "ms"),
    ]


@contextlib.asynccontextmanager
async def _aio_client(server: MotoServer) -> AsyncIterator[Any]:
    """An aiobotocore client of the server, with the long read timeout of benchmarks.s3_transfer's."""
    from aiobotocore.config import AioConfig  # noqa: PLC0415 - the async extra only when this runs
    from aiobotocore.session import get_session  # noqa: PLC0415

    config = AioConfig(connect_timeout=2, read_timeout=600, proxies={}, max_pool_connections=16)
    async with get_session().create_client(
        "s3",
        region_name=DEFAULT_REGION,
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    ) as made:
        yield made


@contextlib.asynccontextmanager
async def _ticker() -> AsyncIterator[list[float]]:
    """A task ticking every millisecond while the block runs; yields ``[longest gap in seconds]``."""
    longest = [0.0]

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest[0] = max(longest[0], now - last)
            last = now

    task = asyncio.create_task(tick())
    try:
        yield longest
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_async", description=__doc__)
    parser.add_argument("--size", type=int, default=256, help="object size in MiB (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of each, median (default 3)")
    args = parser.parse_args()
    print(format_table(s3_async_rows(args.size * MiB, args.repeats), verdicts=False))


if __name__ == "__main__":
    main()
