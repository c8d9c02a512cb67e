"""busta.aio.s3 against moto's S3 server over HTTP: round trips both ways with the sync busta.s3 and
the official SDK, ExtraArgs, Callback, async keyrings, the default client."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from busta import s3
from busta.aio import s3 as aio_s3_api
from busta.errors import S3Error, UsageError
from busta.format import EncryptedDataKey
from busta.materials import DecryptionMaterials, EncryptionMaterials

from ..s3.test_s3 import AES_KEY, BUCKET, CONTEXT, KEYRING, PART, UNSIGNED, client, get_object, key, plaintext
from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer
from ..support.oracle import official_decrypt
from .s3_support import aio_s3

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find

SIZE = 2 * PART + 12345  # three parts


@pytest.mark.asyncio
async def test_async_upload_decrypts_with_sync_download_and_the_official_sdk(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    data = plaintext(SIZE)
    async with aio_s3(moto_server) as aio:
        result = await aio_s3_api.upload_fileobj(
            io.BytesIO(data), BUCKET, key, client=aio, keyring=KEYRING, encryption_context=CONTEXT, part_size=PART
        )
    assert (result.parts, result.plaintext_length) == (3, SIZE)
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == data
    decrypted, context = official_decrypt(get_object(client, key), keys=[AES_KEY])
    assert decrypted == data and context.items() >= CONTEXT.items()


@pytest.mark.asyncio
async def test_sync_upload_decrypts_with_each_async_download(
    moto_server: MotoServer, client: Any, key: str, tmp_path: Path
) -> None:
    data = plaintext(SIZE)
    s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, keyring=KEYRING, part_size=PART, algorithm=UNSIGNED)
    async with aio_s3(moto_server) as aio:
        out = io.BytesIO()
        streamed = await aio_s3_api.download_fileobj(BUCKET, key, out, client=aio, keyring=KEYRING)
        ranged = await aio_s3_api.download_file(
            BUCKET, key, tmp_path / "ranged", client=aio, keyring=KEYRING, part_size=PART, multipart_threshold=0
        )
        sequential = await aio_s3_api.download_file(
            BUCKET, key, tmp_path / "sequential", client=aio, keyring=KEYRING, max_concurrency=1
        )
        middle = await aio_s3_api.get_range(BUCKET, key, PART - 10, PART + 10, client=aio, keyring=KEYRING)
    assert out.getvalue() == data and streamed.plaintext_length == SIZE
    assert (tmp_path / "ranged").read_bytes() == data == (tmp_path / "sequential").read_bytes()
    assert ranged.plaintext_length == sequential.plaintext_length == SIZE
    assert middle == data[PART - 10 : PART + 10]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ranged", "sequential"]  # no temporary file left


class AsyncReader:
    """An async readable (``await read(n)``) over bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    async def read(self, size: int = -1) -> bytes:
        await asyncio.sleep(0)
        return self._data.read(size)


class AsyncWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.threads: set[int] = set()

    async def write(self, chunk: bytes) -> None:
        self.threads.add(threading.get_ident())
        self.data += chunk


@pytest.mark.asyncio
async def test_async_readers_and_writers_move_through_the_loop(moto_server: MotoServer, key: str) -> None:
    data = plaintext(PART + 1)
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(AsyncReader(data), BUCKET, key, client=aio, keyring=KEYRING, part_size=PART)
        writer = AsyncWriter()
        await aio_s3_api.download_fileobj(BUCKET, key, writer, client=aio, keyring=KEYRING)
    assert bytes(writer.data) == data
    assert writer.threads == {threading.get_ident()}  # written on the loop thread


@pytest.mark.asyncio
async def test_extra_args_reach_the_object_and_bad_ones_are_refused_before_any_request(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    extra: s3.UploadExtraArgs = {"ContentType": "text/plain", "Metadata": {"owner": "alpha"}, "Tagging": "team=a"}
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(io.BytesIO(b"hello"), BUCKET, key, client=aio, keyring=KEYRING, ExtraArgs=extra)
        with pytest.raises(UsageError, match="ContentMD5"):
            await aio_s3_api.upload_fileobj(
                io.BytesIO(b"x"),
                BUCKET,
                key + "-no",
                client=aio,
                keyring=KEYRING,
                ExtraArgs={"ContentMD5": "x"},  # type: ignore[arg-type]
            )
        with pytest.raises(UsageError, match="did you mean 'VersionId'"):
            await aio_s3_api.get_range(BUCKET, key, 0, 1, client=aio, keyring=KEYRING, ExtraArgs={"Version": "x"})  # type: ignore[arg-type]
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"owner": "alpha"})
    assert client.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"] == [{"Key": "team", "Value": "a"}]
    assert client.list_objects_v2(Bucket=BUCKET, Prefix=key + "-no").get("KeyCount") == 0


@pytest.mark.asyncio
async def test_callback_counts_the_plaintext_on_the_loop_thread(
    client: Any, moto_server: MotoServer, key: str, tmp_path: Path
) -> None:  # ``client`` makes the bucket
    data = plaintext(PART + 3)
    counted: dict[str, list[int]] = {"up": [], "down": []}
    threads: set[int] = set()

    def counter(name: str) -> Any:
        def count(n: int) -> None:
            threads.add(threading.get_ident())
            counted[name].append(n)

        return count

    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(
            io.BytesIO(data), BUCKET, key, client=aio, keyring=KEYRING, part_size=PART, Callback=counter("up")
        )
        await aio_s3_api.download_file(
            BUCKET, key, tmp_path / "out", client=aio, keyring=KEYRING, Callback=counter("down")
        )
    assert sum(counted["up"]) == sum(counted["down"]) == len(data)
    assert threads == {threading.get_ident()}


class LoopKeyring:
    """An async keyring (busta.aio.AsyncKeyring) over a sync one, recording the thread it ran in."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.threads.append(threading.get_ident())
        return KEYRING.on_encrypt(materials)

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        self.threads.append(threading.get_ident())
        return KEYRING.on_decrypt(materials, encrypted_data_keys)


@pytest.mark.asyncio
async def test_an_async_keyring_is_awaited_on_the_loop(moto_server: MotoServer, client: Any, key: str) -> None:
    keyring = LoopKeyring()
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(
            io.BytesIO(b"secret"), BUCKET, key, client=aio, keyring=keyring, algorithm=UNSIGNED
        )
        assert await aio_s3_api.get_range(BUCKET, key, 0, 6, client=aio, keyring=keyring) == b"secret"
    assert keyring.threads == [threading.get_ident()] * 2
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, key, out, client=client, keyring=KEYRING)
    assert out.getvalue() == b"secret"


@pytest.mark.asyncio
async def test_without_a_client_one_is_made_from_the_environment_and_closed(
    moto_server: MotoServer, client: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    await aio_s3_api.upload_fileobj(io.BytesIO(b"made here"), BUCKET, key, keyring=KEYRING, algorithm=UNSIGNED)
    assert await aio_s3_api.get_range(BUCKET, key, 5, 9, keyring=KEYRING) == b"here"
    header = await aio_s3_api.read_header(BUCKET, key)
    assert header.encrypted_data_keys[0].provider_id == AES_KEY.namespace
    async with await aio_s3_api.open_object(BUCKET, key) as stored:
        assert await stored.read() == get_object(client, key)
        assert stored.size == len(get_object(client, key))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(S3Error) as caught:
        await aio_s3_api.get_range(BUCKET, key, 0, 1, keyring=KEYRING)
    assert caught.value.code in {"ProfileNotFound", "CreateClient"}


class DrainedWriter:
    """An asyncio.StreamWriter's shape: ``write`` (sync) buffers, ``await drain()`` flushes."""

    def __init__(self) -> None:
        self.buffered, self.data, self.drains = bytearray(), bytearray(), 0

    def write(self, chunk: bytes) -> None:
        self.buffered += chunk

    async def drain(self) -> None:
        self.drains += 1
        self.data += self.buffered
        self.buffered.clear()


@pytest.mark.asyncio
async def test_a_stream_writer_is_drained_after_each_write(moto_server: MotoServer, client: Any, key: str) -> None:
    data = plaintext(PART + 7)
    s3.upload_fileobj(io.BytesIO(data), BUCKET, key, client=client, keyring=KEYRING)
    writer = DrainedWriter()
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.download_fileobj(BUCKET, key, writer, client=aio, keyring=KEYRING)
    assert bytes(writer.data) == data and not writer.buffered and writer.drains >= 1
