"""Async downloads, ranged reads, opening and header-only reads of encrypted objects (see :mod:`busta.aio.s3`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any, Self

from .. import s3 as sync_s3
from ..api import Client, StreamResult
from ..format import Header
from ..s3 import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    DownloadExtraArgs,
    ProgressCallback,
)
from ._s3 import AnyKeyring, AnyMaterialsManager
from ._s3_bridge import Bridge, SyncClient, run_in_thread
from ._s3_client import aio_client, in_thread, keyed, sink_for

__all__ = ["AsyncObject", "download_file", "download_fileobj", "get_range", "open_object", "read_header"]


async def download_fileobj(
    bucket: str,
    key: str,
    fileobj: IO[bytes] | Any,
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    keyring: AnyKeyring | None = None,
    materials_manager: AnyMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> StreamResult:
    """Stream-decrypt an object into ``fileobj``: :func:`busta.s3.download_fileobj`, awaited.

    ``fileobj`` is a binary file (written in a worker thread) or an async writable (``await
    write(data)``, or an ``asyncio.StreamWriter``, drained after each write). ``client`` / ``config``
    and the keyrings are as for :func:`upload_fileobj`. Only authenticated plaintext reaches
    ``fileobj``, but only a normal return proves the object was complete (and its signature valid):
    on an error or a cancellation, discard what was written (:func:`download_file` does).
    """

    def work(s3: Any, bridge: Bridge) -> StreamResult:
        return sync_s3.download_fileobj(
            bucket,
            key,
            sink_for(fileobj, bridge),
            client=s3,
            sdk=sdk,
            encryption_context=encryption_context,
            ExtraArgs=ExtraArgs,
            **keyed(bridge, keyring, materials_manager, Callback),
        )

    return await in_thread(client, config, bucket, key, work)


async def download_file(
    bucket: str,
    key: str,
    path: str | os.PathLike[str],
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    keyring: AnyKeyring | None = None,
    materials_manager: AnyMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    part_size: int = DEFAULT_PART_SIZE,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> StreamResult:
    """Decrypt an object into ``path``: :func:`busta.s3.download_file`, awaited.

    The plaintext goes to a temporary file beside ``path``, renamed into place only when the whole
    message has authenticated; on any error, and when the awaiting task is cancelled, the temporary
    file is removed before the error propagates. Large framed, unsigned, uncompressed objects are
    fetched in ranges, ``max_concurrency`` GETs in flight, each range authenticated and written at
    its offset; the others are streamed (the same decisions as :func:`busta.s3.download_file`).
    """

    def work(s3: Any, bridge: Bridge) -> StreamResult:
        return sync_s3.download_file(
            bucket,
            key,
            path,
            client=s3,
            sdk=sdk,
            encryption_context=encryption_context,
            ExtraArgs=ExtraArgs,
            max_concurrency=max_concurrency,
            part_size=part_size,
            multipart_threshold=multipart_threshold,
            **keyed(bridge, keyring, materials_manager, Callback),
        )

    return await in_thread(client, config, bucket, key, work)


async def get_range(
    bucket: str,
    key: str,
    start: int,
    end: int,
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    keyring: AnyKeyring | None = None,
    materials_manager: AnyMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    allow_unverified_signature: bool = False,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> bytes:
    """Plaintext bytes ``[start, end)`` of an encrypted object: :func:`busta.s3.get_range`, awaited.

    Fetches only the header, the tail that locates the final frame and the frames covering the
    range, every GET pinned to the ETag HeadObject saw (a replaced object: ``PreconditionFailed``).
    """

    def work(s3: Any, bridge: Bridge) -> bytes:
        return sync_s3.get_range(
            bucket,
            key,
            start,
            end,
            client=s3,
            sdk=sdk,
            encryption_context=encryption_context,
            allow_unverified_signature=allow_unverified_signature,
            ExtraArgs=ExtraArgs,
            **keyed(bridge, keyring, materials_manager),
        )

    return await in_thread(client, config, bucket, key, work)


async def read_header(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> Header:
    """The header of an encrypted object, parsed but not authenticated: :func:`busta.s3.read_object_header`,
    awaited. Ranged GETs from the start, never more than ``sdk.max_header_bytes`` in all."""

    def work(s3: Any, _: Bridge) -> Header:
        return sync_s3.read_object_header(bucket, key, client=s3, sdk=sdk, ExtraArgs=ExtraArgs)

    return await in_thread(client, config, bucket, key, work)


class AsyncObject:
    """An S3 object as stored (not decrypted), opened by :func:`open_object`: ``await read(n)``,
    ``await aclose()`` (or ``async with``); ``size`` is its length. Read errors arrive as
    :class:`~busta.errors.S3Error`. A cancelled read closes it."""

    def __init__(self, body: Any, size: int, bridge: Bridge, owned: Any) -> None:
        self._body, self.size, self._bridge, self._owned = body, size, bridge, owned

    async def read(self, size: int = -1) -> bytes:
        data: bytes = await run_in_thread(lambda _: self._body.read(size), self._bridge)
        return data

    async def aclose(self) -> None:
        """Release the connection (and close the client :func:`open_object` made, if it made one)."""
        body, self._body = self._body, None
        if body is not None:
            await run_in_thread(lambda _: body.close(), self._bridge)
        owned, self._owned = self._owned, None
        if owned is not None:
            await asyncio.shield(owned.__aexit__(None, None, None))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def open_object(
    bucket: str,
    key: str,
    *,
    client: Any = None,
    config: Any = None,
    if_match: str | None = None,
    ExtraArgs: DownloadExtraArgs | None = None,
) -> AsyncObject:
    """Open an S3 object for reading as stored: :func:`busta.s3.open_object`, awaited; close the
    :class:`AsyncObject` when done (it closes the client made here when none was given)."""
    owned = None if client is not None else aio_client(None, config, bucket, key)
    s3 = client if owned is None else await owned.__aenter__()
    try:
        bridge = Bridge(asyncio.get_running_loop())
        opened = await run_in_thread(
            lambda _: sync_s3.open_object(
                bucket, key, client=SyncClient(s3, bridge), if_match=if_match, ExtraArgs=ExtraArgs
            ),
            bridge,
        )
    except BaseException:
        if owned is not None:
            await asyncio.shield(owned.__aexit__(None, None, None))
        raise
    return AsyncObject(opened[0], opened[1], bridge, owned)
