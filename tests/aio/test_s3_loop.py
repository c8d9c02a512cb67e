"""busta.aio.s3 keeps the event loop free and is configurable: frame work and blocking file I/O off the
loop thread, no aiobotocore import until used, the ``config`` of a client it makes reaches the client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from busta.aio import s3 as aio_s3_api
from busta.errors import S3Error
from busta.format import EncryptedDataKey
from busta.materials import DecryptionMaterials, EncryptionMaterials
from busta.streaming.decryptor import MessageDecryptor
from busta.streaming.encryptor import MessageEncryptor

from ..s3.test_s3 import BUCKET, KEYRING, PART, UNSIGNED, client, key, plaintext
from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer, free_port
from .s3_support import aio_s3

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find


def test_importing_busta_aio_s3_imports_no_aiobotocore() -> None:
    code = (
        "import sys, busta.aio, busta.aio.s3; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiobotocore', 'aiohttp')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


@pytest.mark.asyncio
async def test_frame_work_never_runs_on_the_loop_thread(
    moto_server: MotoServer, client: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[int] = set()

    def recording(cls: Any, name: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            threads.add(threading.get_ident())
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    for cls, name in ((MessageEncryptor, "update_into"), (MessageEncryptor, "finalize_into")):
        recording(cls, name)
    for name in ("update_into", "open_frames", "open_final_frame"):
        recording(MessageDecryptor, name)
    data = plaintext(PART + 1)
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(io.BytesIO(data), BUCKET, key, client=aio, keyring=KEYRING, algorithm=UNSIGNED)
        out = io.BytesIO()
        await aio_s3_api.download_fileobj(BUCKET, key, out, client=aio, keyring=KEYRING)
        assert await aio_s3_api.get_range(BUCKET, key, 5, 50, client=aio, keyring=KEYRING) == data[5:50]
    assert out.getvalue() == data
    assert threads and threading.get_ident() not in threads


@pytest.mark.asyncio
async def test_the_config_of_a_client_made_here_reaches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiobotocore.config import AioConfig

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    config = AioConfig(connect_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}, proxies={})
    began = time.monotonic()
    with pytest.raises(S3Error) as caught:
        await aio_s3_api.read_header(BUCKET, "any", config=config)
    assert caught.value.code == "EndpointConnectionError"
    assert time.monotonic() - began < 5  # one attempt, not botocore's default retries


class ThreadedKeyring:
    """An async keyring that needs the loop's default executor (as one that makes a client in a thread does)."""

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return await asyncio.to_thread(KEYRING.on_encrypt, materials)

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return await asyncio.to_thread(KEYRING.on_decrypt, materials, encrypted_data_keys)


@pytest.mark.asyncio
async def test_more_transfers_than_default_executor_threads_do_not_deadlock(
    moto_server: MotoServer, client: Any, key: str
) -> None:
    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=2))
    keyring = ThreadedKeyring()
    async with aio_s3(moto_server) as aio:
        await aio_s3_api.upload_fileobj(
            io.BytesIO(b"0123456789"), BUCKET, key, client=aio, keyring=keyring, algorithm=UNSIGNED
        )
        reads = [aio_s3_api.get_range(BUCKET, key, n, n + 1, client=aio, keyring=keyring) for n in range(6)]
        assert await asyncio.wait_for(asyncio.gather(*reads), 30) == [b"0", b"1", b"2", b"3", b"4", b"5"]
