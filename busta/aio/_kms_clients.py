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

from ..errors import KeyringError, UsageError
from ..keyrings.kms_wire import CacheSettings, is_region

__all__ = ["AsyncClientCache", "AsyncClosing"]


def _prepared_session(session: Any) -> Any:
    """The aiobotocore session, its config files read and its KMS models loaded (blocking: a thread)."""
    if session is None:
        import aiobotocore.session  # noqa: PLC0415 - aiobotocore only when an async KMS keyring is used

        session = aiobotocore.session.get_session()
    session.get_scoped_config()
    session.warm_up_loader_caches("kms")
    return session


class AsyncClosing:
    """``async with`` closes what :meth:`aclose` closes."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class AsyncClientCache(AsyncClosing, CacheSettings):
    """The async keyrings' client supplier: ``await cache(region)`` is an aiobotocore KMS client.

    ``session`` (an ``aiobotocore.session.AioSession``; default: one made for this cache, in a
    thread), ``endpoint_url`` and ``config`` (a ``botocore.config.Config``: connect and read
    timeouts, retries; over busta's defaults, :data:`busta.keyrings.aws_kms.DEFAULT_CLIENT_CONFIG`)
    apply to every client. Clients are made once per region (concurrent first calls share one)
    and closed by :meth:`aclose` or ``async with``. At most ``max_clients`` regions: a client is
    never closed while the cache is open, so a further region is refused (:class:`KeyringError`)
    rather than a client in use evicted. Use a cache from one event loop.
    """

    _made_session: Any = None
    _making: asyncio.Lock | None = None
    _closed = False
    _stack: contextlib.AsyncExitStack | None = None

    async def __call__(self, region: str) -> Any:
        if not is_region(region):
            raise UsageError(f"{region!r:.60} is not an AWS region name")
        client = self._clients.get(region)
        if client is not None:
            return client
        if self._making is None:
            self._making = asyncio.Lock()
        async with self._making:
            return self._clients.get(region) or await self._make(region)

    async def _make(self, region: str) -> Any:
        if self._closed:
            raise KeyringError("the KMS client cache is closed")
        if len(self._clients) >= self.max_clients:
            raise KeyringError(f"no KMS client for region {region}: the cache holds {self.max_clients} regions")
        if self._made_session is None:
            self._made_session = await asyncio.to_thread(_prepared_session, self._session)
        if self._stack is None:
            self._stack = contextlib.AsyncExitStack()
        client = await self._stack.enter_async_context(self._made_session.create_client("kms", **self._options(region)))
        self._clients[region] = client
        return client

    async def aclose(self) -> None:
        """Close every client made (their HTTP connections); later calls raise :class:`KeyringError`."""
        self._closed = True
        self._clients.clear()
        if self._stack is not None:
            await self._stack.aclose()
