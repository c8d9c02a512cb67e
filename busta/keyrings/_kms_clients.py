"""The default KMS client supplier: one shared botocore session, a bounded cache of clients.

Every client the default supplier makes comes from one botocore session, made on
first use and shared by every :class:`ClientCache` that is not given its own: the
service model, endpoint rules and credentials are loaded once, so a client costs
a fraction of a MiB instead of a session's worth. Clients are kept per region, at
most ``max_clients`` (:data:`~busta.limits.MAX_KMS_CLIENTS`), least recently
used evicted first. Region names are checked before a client is made.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import botocore.config
import botocore.session

from ..errors import UsageError
from ..limits import MAX_KMS_CLIENTS
from ._arn import is_region

__all__ = ["DEFAULT_CLIENT_CONFIG", "CacheSettings", "ClientCache", "cache_options", "shared_session"]

#: Defaults for clients busta makes: bounded waits, a few retries of throttling and 5xx.
DEFAULT_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 4}
)

_shared: botocore.session.Session | None = None
#: botocore sessions are not thread-safe: clients are made from the shared one under this lock.
_shared_lock = threading.Lock()


def shared_session() -> botocore.session.Session:
    """The one botocore session behind every client the default suppliers make."""
    global _shared  # noqa: PLW0603 - one process-wide session, made on first use
    with _shared_lock:
        if _shared is None:
            _shared = botocore.session.get_session()
        return _shared


def _check_session(session: object) -> None:
    makes_clients = callable(getattr(session, "create_client", None)) or callable(getattr(session, "client", None))
    if session is None or makes_clients:
        return
    raise UsageError(f"session must be a botocore or boto3 session, not {type(session).__name__}")


def cache_options(session: object, endpoint_url: object, config: object, max_clients: object) -> botocore.config.Config:
    """Check a client cache's arguments; the config its clients get (``config`` over the defaults)."""
    _check_session(session)
    if endpoint_url is not None and (not isinstance(endpoint_url, str) or not endpoint_url):
        raise UsageError("endpoint_url must be a non-empty str")
    if config is not None and not isinstance(config, botocore.config.Config):
        raise UsageError(f"config must be a botocore.config.Config, not {type(config).__name__}")
    if not isinstance(max_clients, int) or isinstance(max_clients, bool) or max_clients < 1:
        raise UsageError("max_clients must be a positive int")
    return DEFAULT_CLIENT_CONFIG.merge(config) if config is not None else DEFAULT_CLIENT_CONFIG


class CacheSettings:
    """What a client cache applies to every client it makes (checked when it is made)."""

    def __init__(
        self,
        *,
        session: Any = None,
        endpoint_url: str | None = None,
        config: botocore.config.Config | None = None,
        max_clients: int = MAX_KMS_CLIENTS,
    ):
        self._config = cache_options(session, endpoint_url, config, max_clients)
        self._session = session
        self._endpoint_url = endpoint_url
        self.max_clients = max_clients
        self._clients: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()  # (a sync cache's: clients are made from many threads)
        self._start()

    def _start(self) -> None:
        """Set up what a kind of cache keeps besides its clients."""

    def _options(self, region: str) -> dict[str, Any]:
        return {"region_name": region, "endpoint_url": self._endpoint_url, "config": self._config}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(regions={list(self._clients)}, max_clients={self.max_clients})"


class ClientCache(CacheSettings):
    """The default client supplier: one KMS client per region, made on first use.

    ``session`` (a ``botocore.session.Session`` or a ``boto3.Session``; default: one
    botocore session shared by the process), ``endpoint_url`` and ``config`` (a
    ``botocore.config.Config``: retries, timeouts) apply to every client made. At
    most ``max_clients`` clients are kept, least recently used evicted first.
    Clients are thread-safe, so one per region serves every thread.
    """

    def __call__(self, region: str) -> Any:
        if not is_region(region):
            raise UsageError(f"{region!r:.60} is not an AWS region name")
        with self._lock:
            client = self._clients.get(region)
            if client is not None:
                self._clients.move_to_end(region)
                return client
            client = self._make(region)
            self._clients[region] = client
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)  # dropped, not closed: another thread may be using it
            return client

    def _make(self, region: str) -> Any:
        options = self._options(region)
        if self._session is None:
            session = shared_session()
            with _shared_lock:
                return session.create_client("kms", **options)
        if callable(getattr(self._session, "create_client", None)):
            return self._session.create_client("kms", **options)
        return self._session.client("kms", **options)
