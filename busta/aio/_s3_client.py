"""The aiobotocore S3 client of a transfer, and a caller's async file objects as the worker thread's."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, TypeVar

import botocore.exceptions

from ..errors import S3Error
from ._s3_bridge import Bridge, SyncClient, run_in_thread
from ._s3_materials import for_thread

_T = TypeVar("_T")

__all__ = ["aio_client", "callback_on_loop", "in_thread", "keyed", "sink_for", "source_for"]

#: What making an S3 client loads (botocore's loader caches each), loaded in the session's thread.
_S3_MODELS: Final = ("service-2", "endpoint-rule-set-1")
_SHARED_DATA: Final = ("partitions", "endpoints", "sdk-default-configuration")


@contextlib.asynccontextmanager
async def aio_client(client: Any, config: Any, bucket: str, key: str) -> AsyncIterator[Any]:
    """``client`` (the caller's, left open), or a new aiobotocore S3 client closed when the block ends.

    The new one is made from an aiobotocore session created in a thread (it reads the config files),
    configured from the environment as ``boto3.client("s3")`` is, with ``config`` (an
    ``aiobotocore.config.AioConfig``: timeouts, retries, ...). A failure to make it is an S3Error.
    """
    if client is not None:
        yield client
        return
    import aiobotocore.session  # noqa: PLC0415 - aiobotocore only when S3 is used

    def new_session() -> Any:
        session = aiobotocore.session.get_session()
        session.get_scoped_config()  # the config files, read here rather than on the loop
        loader = session.get_component("data_loader")  # and the models (cached), which take ~0.1 s to load
        for model in _S3_MODELS:
            loader.load_service_model("s3", model)
        for data in _SHARED_DATA:
            loader.load_data(data)
        return session

    try:
        session = await asyncio.to_thread(new_session)
        creating = session.create_client("s3", config=config)
        made = await creating.__aenter__()
    except botocore.exceptions.BotoCoreError as exc:
        raise S3Error("CreateClient", type(exc).__name__, bucket, key, str(exc)) from exc
    try:
        yield made
    finally:
        await asyncio.shield(creating.__aexit__(None, None, None))


def _is_async(obj: object, name: str) -> bool:
    return inspect.iscoroutinefunction(getattr(obj, name, None))


class _AsyncSource:
    """An async readable (``await read(n)``) as the blocking source the worker thread reads."""

    def __init__(self, source: Any, bridge: Bridge) -> None:
        self._source, self._bridge = source, bridge

    def read(self, size: int = -1) -> bytes:
        return bytes(self._bridge.run(lambda: self._source.read(size)))


class _AsyncSink:
    """An async writable (``await write(data)``, or an asyncio.StreamWriter: ``write`` then ``await
    drain()``) as the blocking sink the worker thread writes; each write is a copy (the engine reuses
    its buffers)."""

    def __init__(self, sink: Any, bridge: Bridge) -> None:
        self._sink, self._bridge = sink, bridge

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytes(data)

        async def write() -> None:
            result = self._sink.write(chunk)
            if inspect.isawaitable(result):
                await result
            if _is_async(self._sink, "drain"):
                await self._sink.drain()

        self._bridge.run(write)
        return len(chunk)

    def flush(self) -> None:
        """Each write has been drained."""


def source_for(fileobj: Any, bridge: Bridge) -> Any:
    """An async readable bridged; a sync one as it is (read in the worker thread, off the loop)."""
    return _AsyncSource(fileobj, bridge) if _is_async(fileobj, "read") else fileobj


def sink_for(fileobj: Any, bridge: Bridge) -> Any:
    """An async writable (or asyncio.StreamWriter) bridged; a sync one as it is (written in the worker thread)."""
    if _is_async(fileobj, "write") or _is_async(fileobj, "drain"):
        return _AsyncSink(fileobj, bridge)
    return fileobj


def callback_on_loop(callback: Any, bridge: Bridge) -> Callable[[int], object] | None:
    """``Callback`` called on the loop thread (its exception stops the transfer); anything not callable
    as it is, for busta.s3 to refuse."""
    if callback is None or not callable(callback):
        return callback  # type: ignore[no-any-return]
    return lambda n: bridge.call(callback, n)


async def in_thread(client: Any, config: Any, bucket: str, key: str, work: Callable[[Any, Bridge], _T]) -> _T:
    """``work(sync_client, bridge)``: busta.s3's code in a worker thread, its S3 requests made by the
    aiobotocore client (:func:`aio_client`) on the loop through ``sync_client``."""
    async with aio_client(client, config, bucket, key) as s3:
        return await run_in_thread(lambda bridge: work(SyncClient(s3, bridge), bridge))


def keyed(bridge: Bridge, keyring: Any, materials_manager: Any, *callback: Any) -> dict[str, Any]:
    """The keyword arguments busta.s3 takes in the worker thread for an async call's keyring or
    materials manager (sync or async) and, if one is passed, its progress callback (called on the loop)."""
    ring, manager = for_thread(keyring, materials_manager, bridge)
    options: dict[str, Any] = {"keyring": ring, "materials_manager": manager}
    for given in callback:
        options["Callback"] = callback_on_loop(given, bridge)
    return options
