"""busta.aio.s3 when things go wrong: failures and cancellations leave nothing behind (no multipart
upload, no output file, no temporary file), a tampered or replaced object yields no plaintext, and
ranged reads fetch only what they must."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import s3
from busta.aio import s3 as aio_s3_api
from busta.errors import AuthenticationError, LimitExceededError, S3Error

from ..s3.test_s3 import (
    BUCKET,
    KEYRING,
    PART,
    UNSIGNED,
    assert_nothing_left,
    client,
    flipped,
    get_object,
    key,
    plaintext,
    put_object,
)
from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer
from .s3_support import aio_s3, ranged_bytes, ranges, requests

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find

SIZE = 2 * PART + 4321


@contextlib.asynccontextmanager
async def held(aio: Any, operation: str, *, after: int = 0) -> AsyncIterator[asyncio.Event]:
    """Hold every ``operation`` request past the first ``after`` forever; the event is set once one is held."""
    holding, seen = asyncio.Event(), [0]

    async def hold(**_: Any) -> None:
        seen[0] += 1
        if seen[0] > after:
            holding.set()
            await asyncio.Event().wait()

    aio.meta.events.register(f"before-call.s3.{operation}", hold, unique_id="busta-test-hold")
    try:
        yield holding
    finally:
        aio.meta.events.unregister(f"before-call.s3.{operation}", unique_id="busta-test-hold")


async def cancelled(task: asyncio.Task[Any], holding: asyncio.Event) -> None:
    """Cancel ``task`` once a request is held; it must end with CancelledError."""
    await asyncio.wait_for(holding.wait(), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_a_failure_mid_upload_aborts_the_multipart_upload(moto_server: MotoServer, client: Any, key: str) -> None:
    read = [0]

    def fail_late(n: int) -> None:
        read[0] += n
        if read[0] > 2 * PART:
            raise RuntimeError("the callback gave up")

    async with aio_s3(moto_server) as aio:
        with requests(aio) as seen, pytest.raises(RuntimeError, match="gave up"):
            await aio_s3_api.upload_fileobj(
                io.BytesIO(plaintext(SIZE)),
                BUCKET,
                key,
                client=aio,
                keyring=KEYRING,
                part_size=PART,
                Callback=fail_late,
            )
    assert [p["operation"] for p in seen].count("AbortMultipartUpload") == 1
    assert_nothing_left(client, key)


@pytest.mark.asyncio
async def test_cancelling_an_upload_with_parts_in_flight_aborts_it(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    async with aio_s3(moto_server) as aio, held(aio, "UploadPart") as holding:
        task = asyncio.create_task(
            aio_s3_api.upload_fileobj(
                io.BytesIO(plaintext(SIZE)), BUCKET, key, client=aio, keyring=KEYRING, part_size=PART
            )
        )
        await cancelled(task, holding)
    assert "Uploads" not in client.list_multipart_uploads(Bucket=BUCKET)  # no upload left, to any key
    assert_nothing_left(client, key)


@pytest.mark.asyncio
async def test_cancelling_an_upload_waiting_on_its_source_aborts_it(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    class Stalls:
        """Two parts and a bit, then nothing ever again."""

        def __init__(self) -> None:
            self.source, self.stalled = io.BytesIO(plaintext(SIZE)), asyncio.Event()

        async def read(self, size: int = -1) -> bytes:
            data = self.source.read(size)
            if not data:
                self.stalled.set()
                await asyncio.Event().wait()
            return data

    source = Stalls()
    async with aio_s3(moto_server) as aio:
        task = asyncio.create_task(
            aio_s3_api.upload_fileobj(source, BUCKET, key, client=aio, keyring=KEYRING, part_size=PART)
        )
        await asyncio.wait_for(source.stalled.wait(), 20)
        assert client.list_multipart_uploads(Bucket=BUCKET, Prefix=key)["Uploads"]  # it was under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert_nothing_left(client, key)


@pytest.fixture
def unsigned_object(client: Any, key: str) -> bytes:
    data = plaintext(SIZE)
    s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, keyring=KEYRING, part_size=PART, algorithm=UNSIGNED)
    return data


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_cancelling_a_download_leaves_no_file(
    moto_server: MotoServer, key: str, tmp_path: Path, unsigned_object: bytes, concurrency: int
) -> None:
    after = 0 if concurrency == 1 else 2  # streamed: its one GetObject; in ranges: past the header probe
    async with aio_s3(moto_server) as aio, held(aio, "GetObject", after=after) as holding:
        task = asyncio.create_task(
            aio_s3_api.download_file(
                BUCKET,
                key,
                tmp_path / "out",
                client=aio,
                keyring=KEYRING,
                part_size=PART,
                multipart_threshold=0,
                max_concurrency=concurrency,
            )
        )
        await cancelled(task, holding)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_tampered_object_writes_no_file(
    moto_server: MotoServer, client: Any, key: str, tmp_path: Path, unsigned_object: bytes, concurrency: int
) -> None:
    stored = get_object(client, key)
    put_object(client, key, flipped(stored, len(stored) - 100))  # in the final frame
    async with aio_s3(moto_server) as aio:
        with pytest.raises(AuthenticationError):
            await aio_s3_api.download_file(
                BUCKET,
                key,
                tmp_path / "out",
                client=aio,
                keyring=KEYRING,
                part_size=PART,
                multipart_threshold=0,
                max_concurrency=concurrency,
            )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.asyncio
async def test_get_range_fetches_what_the_sync_get_range_fetches(
    moto_server: MotoServer, client: Any, key: str, unsigned_object: bytes
) -> None:
    start, end = PART + 100, PART + 200
    with requests(client) as sync_seen:
        expected = s3.get_range(BUCKET, key, start, end, client=client, keyring=KEYRING)
    async with aio_s3(moto_server) as aio:
        with requests(aio) as seen:
            got = await aio_s3_api.get_range(BUCKET, key, start, end, client=aio, keyring=KEYRING)
    assert got == expected == unsigned_object[start:end]
    assert ranges(seen) == ranges(sync_seen) and len(ranges(seen)) >= 2
    assert ranged_bytes(seen) < 256 << 10  # the header, the tail and one frame: not the object's 10 MiB
    assert [p["operation"] for p in seen].count("HeadObject") == 1


@pytest.mark.asyncio
async def test_reading_the_header_of_a_large_object_fetches_only_the_header(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    message = busta.encrypt(b"x", keyring=KEYRING, encryption_context={"big": "v" * 9000})
    head = busta.start_decryption(keyring=KEYRING).read_header(message)
    put_object(client, key, message[:head] + bytes(20 << 20))  # a 20 MiB object
    async with aio_s3(moto_server) as aio:
        with requests(aio) as seen:
            header = await aio_s3_api.read_header(BUCKET, key, client=aio)
        assert header.encryption_context["big"] == "v" * 9000
        assert ranged_bytes(seen) < 64 << 10
        limited = busta.Client(max_header_bytes=8192)
        with requests(aio) as seen, pytest.raises(LimitExceededError):
            await aio_s3_api.read_header(BUCKET, key, client=aio, sdk=limited)
        assert ranged_bytes(seen) <= 8192


@pytest.mark.asyncio
async def test_an_object_replaced_mid_download_fails_with_precondition_failed(
    moto_server: MotoServer, client: Any, key: str, tmp_path: Path, unsigned_object: bytes
) -> None:
    replaced = [False]

    async def replace(**_: Any) -> None:
        if not replaced[0]:
            replaced[0] = True
            await asyncio.to_thread(put_object, client, key, b"another object")

    async with aio_s3(moto_server) as aio:
        aio.meta.events.register("before-call.s3.GetObject", replace, unique_id="busta-test-replace")
        with pytest.raises(S3Error) as caught:
            await aio_s3_api.download_file(
                BUCKET, key, tmp_path / "out", client=aio, keyring=KEYRING, part_size=PART, multipart_threshold=0
            )
        assert caught.value.code == "PreconditionFailed"
        s3.upload_fileobj(io.BytesIO(unsigned_object), BUCKET, key, client=client, keyring=KEYRING, algorithm=UNSIGNED)
        replaced[0] = False
        with pytest.raises(S3Error) as caught:
            await aio_s3_api.get_range(BUCKET, key, 0, 10, client=aio, keyring=KEYRING)
        assert caught.value.code == "PreconditionFailed"
    assert list(tmp_path.iterdir()) == []
