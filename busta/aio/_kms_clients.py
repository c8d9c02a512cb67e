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
from collections.abc import AsyncIterator
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
    apply to every client. Clients are made once per region (concurrent first calls share one),
    at most ``max_clients``, least recently used evicted first, as in the sync cache; an evicted
    client is closed once no keyring call holds it (:meth:`lease`), so a message naming many regions
    cannot fill the cache for good. :meth:`aclose` or ``async with`` closes them all. A client
    from ``await cache(region)`` itself may be closed once evicted: keyrings lease theirs. Use a
    cache from one event loop.
    """

    _made_session: Any = None
    _making: asyncio.Lock | None = None
    _closed = False

    def _start(self) -> None:
        self._contexts: dict[int, Any] = {}  # id(client) -> its aiobotocore context, to close it
        self._users: dict[int, int] = {}  # id(client) -> leases held
        self._evicted: set[int] = set()  # ids of clients evicted while leased

    async def __call__(self, region: str) -> Any:
        if not is_region(region):
            raise UsageError(f"{region!r:.60} is not an AWS region name")
        client = self._clients.get(region)
        if client is None:
            if self._making is None:
                self._making = asyncio.Lock()
            async with self._making:
                client = self._clients.get(region) or await self._make(region)
        self._clients.move_to_end(region)
        return client

    async def lease(self, region: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """The client for ``region``, held (not closed if evicted) until the ``async with`` ends."""
        client = await self(region)
        self._users[id(client)] = self._users.get(id(client), 0) + 1  # no await since: not evicted yet
        return self._release(client)

    @contextlib.asynccontextmanager
    async def _release(self, client: Any) -> AsyncIterator[Any]:
        try:
            yield client
        finally:
            self._users[id(client)] -= 1
            if not self._users[id(client)]:
                del self._users[id(client)]
                if id(client) in self._evicted:
                    await self._close(id(client))

    async def _make(self, region: str) -> Any:
        if self._closed:
            raise KeyringError("the KMS client cache is closed")
        if self._made_session is None:
            self._made_session = await asyncio.to_thread(_prepared_session, self._session)
        opening = self._made_session.create_client("kms", **self._options(region))
        client = await opening.__aenter__()
        self._contexts[id(client)] = opening
        self._clients[region] = client
        while len(self._clients) > self.max_clients:
            _, old = self._clients.popitem(last=False)
            self._evicted.add(id(old))
            if id(old) not in self._users:
                await self._close(id(old))
        return client

    async def _close(self, key: int) -> None:
        self._evicted.discard(key)
        await self._contexts.pop(key).__aexit__(None, None, None)

    async def aclose(self) -> None:
        """Close every client made (their HTTP connections); later calls raise :class:`KeyringError`."""
        self._closed = True
        self._clients.clear()
        while self._contexts:
            await self._close(next(iter(self._contexts)))
