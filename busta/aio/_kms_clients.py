"""The async KMS client supplier: aiobotocore clients per region, made off the loop's critical path.

aiobotocore's session creation and its first client read files (the AWS config files, botocore's
JSON service models and endpoint data). :class:`AsyncClientCache` does that part in a worker
thread (``asyncio.to_thread``: the session is made, the config files parsed and the loader's
caches warmed), so making a client on the loop opens no file. What still runs on the loop is
aiobotocore's credential chain, once per session: environment variables, then (only when they
are absent) the shared credentials and config files, already parsed, and the container / instance
metadata endpoints over aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Self

import botocore.config

from ..errors import KeyringError, UsageError
from ..keyrings.kms_wire import cache_options, is_region
from ..limits import MAX_KMS_CLIENTS

__all__ = ["AsyncClientCache"]


def _prepared_session(session: Any) -> Any:
    """The aiobotocore session, its config files read and its KMS models loaded (blocking: a thread)."""
    if session is None:
        import aiobotocore.session  # noqa: PLC0415 - aiobotocore only when an async KMS keyring is used

        session = aiobotocore.session.get_session()
    session.get_scoped_config()
    session.warm_up_loader_caches("kms")
    return session


class AsyncClientCache:
    """The async keyrings' client supplier: ``await cache(region)`` is an aiobotocore KMS client.

    ``session`` (an ``aiobotocore.session.AioSession``; default: one made for this cache, in a
    thread), ``endpoint_url`` and ``config`` (a ``botocore.config.Config``: connect and read
    timeouts, retries; over busta's defaults, :data:`busta.keyrings.aws_kms.DEFAULT_CLIENT_CONFIG`)
    apply to every client. Clients are made once per region (concurrent first calls share one)
    and closed by :meth:`aclose` or ``async with``. At most ``max_clients`` regions: a client is
    never closed while the cache is open, so a further region is refused (:class:`KeyringError`)
    rather than a client in use evicted. Use a cache from one event loop.
    """

    def __init__(
        self,
        *,
        session: Any = None,
        endpoint_url: str | None = None,
        config: botocore.config.Config | None = None,
        max_clients: int = MAX_KMS_CLIENTS,
    ):
        self._config = cache_options(session, endpoint_url, config, max_clients)
        self._given_session = session
        self._session: Any = None
        self._endpoint_url = endpoint_url
        self.max_clients = max_clients
        self._clients: dict[str, Any] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock: asyncio.Lock | None = None
        self._closed = False

    async def __call__(self, region: str) -> Any:
        if not is_region(region):
            raise UsageError(f"{region!r:.60} is not an AWS region name")
        client = self._clients.get(region)
        if client is not None:
            return client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return self._clients.get(region) or await self._make(region)

    async def _make(self, region: str) -> Any:
        if self._closed:
            raise KeyringError("the KMS client cache is closed")
        if len(self._clients) >= self.max_clients:
            raise KeyringError(f"no KMS client for region {region}: the cache holds {self.max_clients} regions")
        if self._session is None:
            self._session = await asyncio.to_thread(_prepared_session, self._given_session)
        options = {"region_name": region, "endpoint_url": self._endpoint_url, "config": self._config}
        client = await self._stack.enter_async_context(self._session.create_client("kms", **options))
        self._clients[region] = client
        return client

    async def aclose(self) -> None:
        """Close every client made (their HTTP connections); later calls raise :class:`KeyringError`."""
        self._closed = True
        self._clients.clear()
        await self._stack.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClientCache(regions={list(self._clients)}, max_clients={self.max_clients})"
