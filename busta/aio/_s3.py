"""Async uploads of encrypted objects on aiobotocore (see :mod:`busta.aio.s3`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from .. import s3 as sync_s3
from ..api import Client
from ..materials import CryptoMaterialsManager, Keyring
from ..s3 import DEFAULT_MAX_CONCURRENCY, DEFAULT_PART_SIZE, ProgressCallback, UploadExtraArgs, UploadResult
from ..suites import AlgorithmSuite
from ._protocols import AsyncCryptoMaterialsManager, AsyncKeyring
from ._s3_bridge import Bridge
from ._s3_client import in_thread, keyed, source_for

__all__ = ["upload_file", "upload_fileobj"]

AnyKeyring = Keyring | AsyncKeyring
AnyMaterialsManager = CryptoMaterialsManager | AsyncCryptoMaterialsManager


async def upload_fileobj(
    fileobj: IO[bytes] | Any,
    bucket: str,
    key: str,
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    keyring: AnyKeyring | None = None,
    materials_manager: AnyMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    record_context: bool = False,
    metadata: Mapping[str, str] | None = None,
    compression: str | None = None,
    plaintext_length: int | None = None,
    ExtraArgs: UploadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> UploadResult:
    """Encrypt everything ``fileobj`` yields and upload it as one object: :func:`busta.s3.upload_fileobj`, awaited.

    ``fileobj`` is a binary file (read in a worker thread) or an async readable (``await read(n)``,
    e.g. an ``asyncio.StreamReader``). ``client`` is an aiobotocore S3 client, which the caller owns;
    without one, a client is made (``config``: an ``AioConfig``, for timeouts and retries) and closed
    before this returns. Keyrings and materials managers may be sync (called in a worker thread) or
    async (awaited on the loop). ``Callback(n)`` is called on the loop thread.

    Parts of ``part_size`` bytes go up ``max_concurrency`` at a time (memory: about
    ``max_concurrency + 1`` parts) while the next are encrypted off the loop. On any failure, and
    when the awaiting task is cancelled (or times out), the multipart upload is aborted before the
    error (or CancelledError) propagates: nothing is left behind.
    """

    def work(s3: Any, bridge: Bridge) -> UploadResult:
        return sync_s3.upload_fileobj(
            source_for(fileobj, bridge),
            bucket,
            key,
            client=s3,
            sdk=sdk,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
            part_size=part_size,
            max_concurrency=max_concurrency,
            record_context=record_context,
            metadata=metadata,
            compression=compression,
            plaintext_length=plaintext_length,
            ExtraArgs=ExtraArgs,
            **keyed(bridge, keyring, materials_manager, Callback),
        )

    return await in_thread(client, config, bucket, key, work)


async def upload_file(
    path: str | os.PathLike[str],
    bucket: str,
    key: str,
    *,
    client: Any = None,
    config: Any = None,
    sdk: Client | None = None,
    keyring: AnyKeyring | None = None,
    materials_manager: AnyMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    record_context: bool = False,
    metadata: Mapping[str, str] | None = None,
    compression: str | None = None,
    plaintext_length: int | None = None,
    ExtraArgs: UploadExtraArgs | None = None,
    Callback: ProgressCallback | None = None,
) -> UploadResult:
    """:func:`upload_fileobj` for a local file (opened and read in the worker thread; the options are the same)."""

    def work(s3: Any, bridge: Bridge) -> UploadResult:
        return sync_s3.upload_file(
            path,
            bucket,
            key,
            client=s3,
            sdk=sdk,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
            part_size=part_size,
            max_concurrency=max_concurrency,
            record_context=record_context,
            metadata=metadata,
            compression=compression,
            plaintext_length=plaintext_length,
            ExtraArgs=ExtraArgs,
            **keyed(bridge, keyring, materials_manager, Callback),
        )

    return await in_thread(client, config, bucket, key, work)
