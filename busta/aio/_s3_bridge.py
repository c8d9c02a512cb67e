"""The sync busta.s3 transfers run in a worker thread against the caller's aiobotocore client.

busta.s3 holds every S3 decision (request arguments, response checks, error mapping,
ranged plans, the part uploader, the atomic output); the message work is the engine's.
Here :class:`Bridge` lets that code, running in a worker thread, make each S3 request as
an aiobotocore coroutine on the event loop (:class:`SyncClient`, :class:`SyncBody`), so no
socket is touched and no frame is sealed or opened on the loop thread.

Cancelling the awaiting task stops the bridge: the requests in flight are cancelled, every
later one raises :class:`Stopped` (except the clean-up calls: AbortMultipartUpload), and the
thread unwinds through busta.s3's own failure paths (the multipart upload aborted, the
temporary file removed) before the task's CancelledError propagates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, TypeVar

__all__ = ["Bridge", "Stopped", "SyncClient", "run_in_thread"]

T = TypeVar("T")

#: Requests a stopped bridge still makes: the clean-up of a cancelled upload.
_CLEAN_UP: Final = frozenset({"abort_multipart_upload"})


class Stopped(Exception):
    """Raised in the worker thread by every request after the awaiting task was cancelled."""


class Bridge:
    """Runs coroutines on ``loop`` for a worker thread, and stops them all on cancellation."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self.stopped = False

    def run(self, make: Callable[[], Coroutine[Any, Any, T]], *, clean_up: bool = False) -> T:
        """``await make()`` on the loop, from a worker thread; its result or its exception here."""
        with self._lock:
            if self.stopped and not clean_up:
                raise Stopped("the awaiting task was cancelled")
            future = asyncio.run_coroutine_threadsafe(make(), self._loop)
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise Stopped("the awaiting task was cancelled") from None
        finally:
            with self._lock:
                self._pending.discard(future)

    def call(self, function: Callable[..., Any], *args: Any, clean_up: bool = False) -> Any:
        """``function(*args)`` on the loop thread (a user's callback, a sync or async writer's method)."""

        async def on_loop() -> Any:
            result = function(*args)
            return await result if inspect.isawaitable(result) else result

        return self.run(on_loop, clean_up=clean_up)

    def stop(self) -> None:
        with self._lock:
            self.stopped = True
            for future in self._pending:
                future.cancel()


async def run_in_thread(work: Callable[[Bridge], T], bridge: Bridge | None = None) -> T:
    """``work(bridge)`` in a worker thread (``bridge``: a new one by default); on cancellation, stop the
    bridge and wait for the thread to unwind (however often the task is cancelled meanwhile), then
    raise CancelledError."""
    loop = asyncio.get_running_loop()
    bridge = Bridge(loop) if bridge is None else bridge
    # A thread of its own, not the loop's default executor: a transfer waits on the loop for its
    # requests and async keyrings, which may themselves need the default executor (no deadlock
    # when many transfers run at once).
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="busta-aio-s3")
    done = loop.run_in_executor(pool, work, bridge)
    pool.shutdown(wait=False)  # the thread ends with the work
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        bridge.stop()
        await _outlive(done)
        raise


async def _outlive(done: Awaitable[Any]) -> None:
    """Wait for ``done`` to finish, whatever it ends with and however often this task is cancelled."""
    future = asyncio.ensure_future(done)
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
        except Exception:  # its outcome: the clean-up of the cancellation, already done
            break
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved"


class SyncBody:
    """An aiobotocore StreamingBody as the blocking body busta.s3 reads (in the worker thread)."""

    def __init__(self, body: Any, bridge: Bridge) -> None:
        self._body, self._bridge = body, bridge

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (``-1``: all), fewer only at the end, as a blocking body reads (aiohttp's
        ``read(n)`` returns what has arrived)."""
        import aiohttp  # noqa: PLC0415 - only once aiobotocore is in use

        async def read() -> bytes:
            if size < 0:
                return bytes(await self._body.read())
            data = bytearray()
            while len(data) < size and (chunk := await self._body.read(size - len(data))):
                data += chunk
            return bytes(data)

        try:
            return self._bridge.run(read)
        except aiohttp.ClientError as exc:  # busta.s3 maps OSError (TimeoutError too) to S3Error
            raise OSError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._bridge.call(self._body.close, clean_up=True)  # releases the connection, cancelled or not


class SyncClient:
    """An aiobotocore S3 client as the blocking boto3 client busta.s3 calls (in the worker thread):
    ``client.operation(**request)`` runs ``await aio_client.operation(**request)`` on the loop."""

    def __init__(self, client: Any, bridge: Bridge) -> None:
        self._client, self._bridge = client, bridge
        self.meta = client.meta  # config (request_checksum_calculation) and events, as boto3's

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        method = getattr(self._client, operation)
        clean_up = operation in _CLEAN_UP

        def request(**arguments: Any) -> Any:
            answer = self._bridge.run(lambda: method(**arguments), clean_up=clean_up)
            if isinstance(answer, dict) and "Body" in answer:
                answer["Body"] = SyncBody(answer["Body"], self._bridge)
            return answer

        return request
