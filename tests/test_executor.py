"""Frame work runs on the threads asked for: ``threads=`` is honoured by every public entry point.

The engines own no threads; the API layer (``busta._executor``) turns ``threads=N``
into Workers over a shared pool of N - 1 threads named ``busta-N-...`` (the calling
thread is the N-th). Each test lowers the parallel thresholds so that even a small
message is split, records the thread every frame task runs on, and checks that a
call with ``threads=N`` used the pool for N and at most N - 1 of its threads, and
that ``threads=1`` used none.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite
from busta._executor import workers_for
from busta.errors import UsageError
from busta.keyrings import RawAesKeyring
from busta.materials import DefaultCryptoMaterialsManager, EncryptionRequest
from busta.streaming import workers
from busta.streaming.decryptor import MessageDecryptor
from busta.streaming.encryptor import MessageEncryptor
from busta.streaming.workers import Workers

KEYRING = RawAesKeyring("threads", "aes", bytes(range(32)))
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
FRAME = 1024
PLAINTEXT = os.urandom(64 * FRAME + 17)
MESSAGE = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)
OPTIONS: dict[str, Any] = {"keyring": KEYRING}


@pytest.fixture
def frame_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, str]]]:
    """(threads of the Workers, name of the thread) for every frame task run off the calling thread.
    No task is dropped for having found no piece left to take (a message this small is all taken
    before a pool thread starts): each one runs and shows the thread it ran on."""
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_STREAM_RUN_BYTES", 1)
    real_run_split = workers.run_split
    monkeypatch.setattr(workers, "run_split", lambda tasks, pool, spare=0: real_run_split(tasks, pool))
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()
    real_submit = Workers.submit

    def recording_submit(self: Workers, task: Callable[[], None]) -> Future[None]:
        def run() -> None:
            with lock:
                seen.append((self.threads, threading.current_thread().name))
            task()

        return real_submit(self, run)

    monkeypatch.setattr(Workers, "submit", recording_submit)
    yield seen


def _encrypt(threads: int) -> None:
    message = busta.Client(threads=threads).encrypt(PLAINTEXT, **OPTIONS, frame_length=FRAME)
    assert busta.Client(threads=threads).decrypt(message, **OPTIONS).plaintext == PLAINTEXT


def _encrypt_stream(threads: int) -> None:
    busta.Client(threads=threads).encrypt_stream(io.BytesIO(PLAINTEXT), io.BytesIO(), **OPTIONS, frame_length=FRAME)


def _encrypting_reader(threads: int) -> None:
    reader = busta.Client(threads=threads).encrypting_reader(io.BytesIO(PLAINTEXT), **OPTIONS, frame_length=FRAME)
    assert busta.Client(threads=1).decrypt(reader.read(), **OPTIONS).plaintext == PLAINTEXT


def _encrypting_writer(threads: int) -> None:
    sink = io.BytesIO()
    with busta.Client(threads=threads).encrypting_writer(sink, **OPTIONS, frame_length=FRAME) as writer:
        writer.write(PLAINTEXT)
    assert busta.Client(threads=1).decrypt(sink.getvalue(), **OPTIONS).plaintext == PLAINTEXT


def _start_encryption(threads: int) -> None:
    encryptor = busta.Client(threads=threads).start_encryption(**OPTIONS, frame_length=FRAME)
    encryptor.update(PLAINTEXT)
    encryptor.finalize()


def _decrypt(threads: int) -> None:
    assert busta.Client(threads=threads).decrypt(MESSAGE, **OPTIONS).plaintext == PLAINTEXT


def _decrypt_stream(threads: int) -> None:
    out = io.BytesIO()
    busta.Client(threads=threads).decrypt_stream(io.BytesIO(MESSAGE), out, **OPTIONS)
    assert out.getvalue() == PLAINTEXT


def _decrypting_reader(threads: int) -> None:
    reader = busta.Client(threads=threads).decrypting_reader(io.BytesIO(MESSAGE), **OPTIONS, read_size=1 << 20)
    assert reader.read() == PLAINTEXT


def _decrypting_writer(threads: int) -> None:
    sink = io.BytesIO()
    with busta.Client(threads=threads).decrypting_writer(sink, **OPTIONS) as writer:
        writer.write(MESSAGE)
    assert sink.getvalue() == PLAINTEXT


def _open_seekable(threads: int) -> None:
    reader = busta.Client(threads=threads).open_seekable(io.BytesIO(MESSAGE), **OPTIONS)
    assert reader.read() == PLAINTEXT


def _start_decryption(threads: int) -> None:
    decryptor = busta.Client(threads=threads).start_decryption(**OPTIONS)
    assert decryptor.update(MESSAGE) == PLAINTEXT


ENTRY_POINTS: dict[str, Callable[[int], None]] = {
    "encrypt": _encrypt,
    "encrypt_stream": _encrypt_stream,
    "encrypting_reader": _encrypting_reader,
    "encrypting_writer": _encrypting_writer,
    "start_encryption": _start_encryption,
    "decrypt": _decrypt,
    "decrypt_stream": _decrypt_stream,
    "decrypting_reader": _decrypting_reader,
    "decrypting_writer": _decrypting_writer,
    "open_seekable": _open_seekable,
    "start_decryption": _start_decryption,
}


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_each_entry_point_uses_exactly_the_threads_asked(
    entry: str, threads: int, frame_threads: list[tuple[int, str]]
) -> None:
    ENTRY_POINTS[entry](threads)
    assert frame_threads, f"{entry}(threads={threads}) did no frame work off the calling thread"
    assert {budget for budget, _ in frame_threads} == {threads}
    names = {name for _, name in frame_threads}
    assert all(name.startswith(f"busta-{threads}_") for name in names), names
    assert len(names) <= threads - 1


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_each_entry_point_with_one_thread_stays_on_the_calling_thread(
    entry: str, frame_threads: list[tuple[int, str]]
) -> None:
    ENTRY_POINTS[entry](1)
    assert frame_threads == []


def test_the_default_pool_is_made_once_per_size_and_shared() -> None:
    first, second, other = (
        workers_for(2, streaming=True),
        workers_for(2, streaming=True),
        workers_for(3, streaming=True),
    )
    assert first is not None and second is not None and other is not None
    assert first.executor is second.executor
    assert other.executor is not first.executor
    assert workers_for(1, streaming=True) is None
    with pytest.raises(UsageError):
        workers_for(0, streaming=True)


class _CountingExecutor(Executor):
    """An executor a caller injects: every task the engines hand it is counted."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.tasks = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.tasks += 1
        return self.pool.submit(fn, *args, **kwargs)


def test_the_engines_run_frames_on_an_injected_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_STREAM_RUN_BYTES", 1)
    executor = _CountingExecutor()
    injected = Workers(executor, 2)
    cmm = DefaultCryptoMaterialsManager(KEYRING)
    materials = cmm.get_encryption_materials(
        EncryptionRequest({}, busta.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, UNSIGNED)
    )
    encryptor = MessageEncryptor(materials, frame_length=FRAME, workers=injected)
    message = encryptor.update(PLAINTEXT) + encryptor.finalize()
    sealed = executor.tasks
    assert sealed > 0
    decryptor = MessageDecryptor(workers=injected)
    decryptor.read_header(message)
    request = decryptor.decryption_request
    assert request is not None
    decryptor.supply_materials(cmm.decrypt_materials(request))
    header_length = len(encryptor.header_bytes)
    assert decryptor.update(memoryview(message)[header_length:]) == PLAINTEXT
    assert executor.tasks > sealed
    executor.pool.shutdown()


def test_workers_are_checked_when_made() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        for bad in (0, 1, workers.MAX_THREADS + 1, True):
            with pytest.raises(UsageError):
                Workers(pool, bad)
    with pytest.raises(UsageError):
        Workers(object(), 2)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        MessageDecryptor(workers=2)  # type: ignore[arg-type]
