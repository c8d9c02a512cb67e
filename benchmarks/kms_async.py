"""Issue 17: concurrent 1 KiB encrypts through the async KMS keyring against the sync one on 32 threads.

``python -m benchmarks.kms_async [--count N]`` prints the rows. One moto server on 127.0.0.1 serves
both sides in the same run, alternately (sync, async, sync, async...; the median of each side).

- sync: ``busta.encrypt`` of N 1 KiB messages on a ``ThreadPoolExecutor`` of 32 threads, each with
  :class:`busta.keyrings.AwsKmsKeyring` over one boto3 client (a pool of 32 connections);
- async: N tasks on one event loop, each ``await busta.aio.encrypt(...)`` with
  :class:`busta.aio.AwsKmsKeyring` over one aiobotocore client (32 connections): GenerateDataKey
  on the loop, the 1 KiB message sealed inline (below ``busta.limits.AIO_INLINE_BYTES``).

Suite 0x0478 (unsigned) on both sides. moto (one Python process) answers every GenerateDataKey,
so on a small machine the server, not the client, bounds both rates: the client-CPU rows (this
process's CPU time per message, all threads) say what each side costs the application.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config

import busta
from busta import aio
from busta.keyrings import AwsKmsKeyring

from .suite import Row

SUITE = busta.AlgorithmSuite.from_id(0x0478)
CONTEXT = {"bench": "kms-async"}
THREADS = 32
_CONFIG = botocore.config.Config(
    proxies={}, max_pool_connections=THREADS, retries={"mode": "standard", "total_max_attempts": 4}
)


def _sync_seconds(keyring: AwsKmsKeyring, data: bytes, count: int) -> tuple[float, float]:
    def one(_: int) -> bytes:
        return busta.encrypt(data, keyring=keyring, encryption_context=CONTEXT, algorithm=SUITE)

    with ThreadPoolExecutor(THREADS) as pool:
        began, cpu = time.perf_counter(), time.process_time()
        messages = list(pool.map(one, range(count)))
        took = (time.perf_counter() - began, time.process_time() - cpu)
    assert len(messages) == count
    return took


async def _async_seconds(keyring: aio.AwsKmsKeyring, data: bytes, count: int) -> tuple[float, float]:
    async def one() -> bytes:
        return await aio.encrypt(data, keyring=keyring, encryption_context=CONTEXT, algorithm=SUITE)

    began, cpu = time.perf_counter(), time.process_time()
    messages = await asyncio.gather(*(one() for _ in range(count)))
    took = (time.perf_counter() - began, time.process_time() - cpu)
    assert len(messages) == count
    return took


async def _alternate(
    endpoint: str, arn: str, count: int, rounds: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    import aiobotocore.session  # noqa: PLC0415 - the async extra

    data = os.urandom(1024)
    client_options = {"region_name": "us-west-2", "endpoint_url": endpoint, "config": _CONFIG}
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sync = AwsKmsKeyring(arn, client=boto3.session.Session().client("kms", **client_options, **credentials))
    session = await asyncio.to_thread(aiobotocore.session.get_session)
    sync_times: list[tuple[float, float]] = []
    async_times: list[tuple[float, float]] = []
    async with session.create_client("kms", **client_options, **credentials) as client:
        keyring = aio.AwsKmsKeyring(arn, client=client)
        for _ in range(rounds):
            sync_times.append(await asyncio.to_thread(_sync_seconds, sync, data, count))
            async_times.append(await _async_seconds(keyring, data, count))
    return sync_times, async_times


def kms_async_rows(count: int, rounds: int) -> list[Row]:
    from tests.support.moto_server import DEFAULT_REGION, MotoServer  # noqa: PLC0415 - starts a server

    with MotoServer() as server:
        arn: str = server.client("kms", DEFAULT_REGION).create_key(Description="bench")["KeyMetadata"]["Arn"]
        sync_times, async_times = asyncio.run(_alternate(server.endpoint, arn, count, rounds))
    sync_rate = count / statistics.median(wall for wall, _ in sync_times)
    async_rate = count / statistics.median(wall for wall, _ in async_times)
    sync_cpu = statistics.median(cpu for _, cpu in sync_times) / count * 1000
    async_cpu = statistics.median(cpu for _, cpu in async_times) / count * 1000
    label = f"{count} concurrent 1 KiB encrypts, KMS on moto"
    return [
        Row("17 async KMS", f"{label}: async keyring, one loop", async_rate, None, "msg/s"),
        Row("17 async KMS", f"{label}: sync keyring, {THREADS} threads", sync_rate, None, "msg/s"),
        Row("17 async KMS", f"{label}: async vs sync", async_rate / sync_rate, None, "x"),
        Row("17 async KMS", "client CPU per message: async keyring", async_cpu, None, "ms"),
        Row("17 async KMS", f"client CPU per message: sync keyring, {THREADS} threads", sync_cpu, None, "ms"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kms_async", description=__doc__)
    parser.add_argument("--count", type=int, default=1000, help="messages per side and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median of each side)")
    args = parser.parse_args(argv)
    from .suite import format_table  # noqa: PLC0415

    print(format_table(kms_async_rows(args.count, args.rounds), verdicts=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
