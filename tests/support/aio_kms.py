"""Async KMS test helpers: aiobotocore clients for the moto server, and whole messages from async keyrings.

Until ``busta.aio.encrypt`` / ``decrypt`` exist on main, a whole message is made by the sync engine in a
worker thread, with a sync keyring (:class:`OnLoop`) that hands each keyring call back to the event
loop, where the async keyring awaits KMS: the async keyring's calls run on the loop, the engine not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import botocore.config
import pytest
import pytest_asyncio

from busta import aio
from busta.format import EncryptedDataKey
from busta.materials import DecryptionMaterials, EncryptionMaterials

from .kms_fixtures import EAST, WEST
from .moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = [
    "Clients",
    "OnLoop",
    "aio_client",
    "aio_config",
    "aio_kms",
    "async_decrypt",
    "async_encrypt",
    "moto_credentials",
    "moto_env",
]


def aio_config(*, read_timeout: float = 5, max_attempts: int = 1) -> botocore.config.Config:
    """Bounded timeouts, ``max_attempts`` attempts, never an environment proxy (traffic stays on 127.0.0.1)."""
    return botocore.config.Config(
        connect_timeout=2,
        read_timeout=read_timeout,
        proxies={},
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )


@contextlib.asynccontextmanager
async def aio_client(endpoint: str, region: str, **config: Any) -> AsyncIterator[Any]:
    """An aiobotocore KMS client for ``endpoint`` (moto or a fault proxy) in ``region``, closed after."""
    import aiobotocore.session

    session = await asyncio.to_thread(aiobotocore.session.get_session)
    options = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY}
    context = session.create_client(
        "kms", region_name=region, endpoint_url=endpoint, config=aio_config(**config), **options
    )
    async with context as client:
        yield client


@pytest.fixture
def moto_env(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer, moto_credentials: None) -> None:
    """The default clients reach moto (AWS_ENDPOINT_URL_KMS)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", moto_server.endpoint)


@pytest.fixture
def moto_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients made inside busta (the default caches) get moto's credentials, and nothing from files or IMDS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


#: ``clients(region)``: a KMS client for that region.
Clients = Callable[[str], Any]


@pytest_asyncio.fixture
async def aio_kms(moto_server: MotoServer) -> AsyncIterator[Clients]:
    """``aio_kms(region)``: an aiobotocore client for moto in us-west-2 or us-east-1, closed after the test."""
    made: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        for region in (WEST, EAST):
            made[region] = await stack.enter_async_context(aio_client(moto_server.endpoint, region))
        yield made.__getitem__


class OnLoop:
    """A sync keyring that runs an async keyring's calls on ``loop`` (call it from another thread)."""

    def __init__(self, keyring: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._keyring = keyring
        self._loop = loop

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        result: EncryptionMaterials = asyncio.run_coroutine_threadsafe(
            self._keyring.on_encrypt(materials), self._loop
        ).result(timeout=20)
        return result

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        result: DecryptionMaterials = asyncio.run_coroutine_threadsafe(
            self._keyring.on_decrypt(materials, encrypted_data_keys), self._loop
        ).result(timeout=20)
        return result


async def async_encrypt(keyring: Any, plaintext: bytes, context: Mapping[str, str], **options: Any) -> bytes:
    """A message whose data key ``keyring`` (async) wrapped, by ``busta.aio.encrypt``."""
    return await aio.encrypt(plaintext, keyring=keyring, encryption_context=context, **options)


async def async_decrypt(keyring: Any, message: bytes, context: Mapping[str, str] | None = None) -> bytes:
    """The plaintext of ``message``, by ``busta.aio.decrypt`` with ``keyring`` (async)."""
    return (await aio.decrypt(message, keyring=keyring, encryption_context=context)).plaintext
