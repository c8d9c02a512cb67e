"""aiobotocore S3 clients on moto's server, and the recorders the async S3 tests share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

REGION = "us-west-2"


@contextlib.asynccontextmanager
async def aio_s3(server: MotoServer) -> AsyncIterator[Any]:
    """An aiobotocore S3 client that talks to ``server`` only (closed when the block ends)."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(connect_timeout=2, read_timeout=5, proxies={}, retries={"total_max_attempts": 2})
    async with get_session().create_client(
        "s3",
        region_name=REGION,
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    ) as client:
        yield client


@contextlib.contextmanager
def requests(client: Any) -> Iterator[list[dict[str, Any]]]:
    """Record the operation name and parameters of every request ``client`` (sync or async) makes."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        seen.append({"operation": model.name, **params})

    client.meta.events.register("provide-client-params.s3", record, unique_id="busta-test-requests")
    try:
        yield seen
    finally:
        client.meta.events.unregister("provide-client-params.s3", unique_id="busta-test-requests")


def ranges(seen: list[dict[str, Any]]) -> list[str]:
    """The Range of each ranged GetObject recorded."""
    return [params["Range"] for params in seen if params["operation"] == "GetObject" and "Range" in params]


def ranged_bytes(seen: list[dict[str, Any]]) -> int:
    """How many bytes the ranged GETs recorded asked for."""
    total = 0
    for text in ranges(seen):
        first, last = text.removeprefix("bytes=").split("-")
        total += int(last) - int(first) + 1
    return total
