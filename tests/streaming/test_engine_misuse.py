"""Failures that used to escape the error tree: short fetches in random access, engines shared by threads.

* Random access checks every answer of ``fetch`` against the range it asked for: a
  short answer is a TruncatedMessageError and a long one a MalformedMessageError,
  for the header, the tail that locates the final frame, and the frames of a
  read (a short tail used to reach AES-GCM and raise a bare ValueError). The
  decryptor's random-access calls refuse a frame shorter than its head says.
* One MessageEncryptor or MessageDecryptor serves one thread at a time: a call
  made while another thread's call runs raises UsageError (never BufferError),
  and the engine stays failed, so that no message missing part of its plaintext
  can be finished and no plaintext is released out of order.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite
from busta.crypto.frames import FrameCodec
from busta.errors import BustaError, MalformedMessageError, TruncatedMessageError, UsageError
from busta.format.body import parse_frame_head
from busta.keyrings import RawAesKeyring
from busta.materials import (
    DecryptionMaterials,
    DecryptionRequest,
    DefaultCryptoMaterialsManager,
    EncryptionMaterials,
    EncryptionRequest,
)
from busta.streaming.encryptor import MessageEncryptor
from busta.streaming.random_access import SeekableDecryptingReader

KEYRING = RawAesKeyring("misuse", "aes", bytes(range(32)))
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
FRAME = 4096
PLAINTEXT = os.urandom(10 * FRAME + 123)
MESSAGE = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)


# --- random access: every fetch is checked --------------------------------------------------------


def _fetch_that(lies: Callable[[int, int], bool], change: int) -> Callable[[int, int], bytes]:
    """A fetch that answers ``change`` bytes too many (or too few) for the ranges ``lies`` picks."""

    def fetch(start: int, end: int) -> bytes:
        data = MESSAGE[start:end]
        if not lies(start, end):
            return data
        return data[:change] if change < 0 else data + os.urandom(change)

    return fetch


def _open(fetch: Callable[[int, int], bytes]) -> SeekableDecryptingReader:
    return SeekableDecryptingReader(fetch, len(MESSAGE), busta.start_decryption(keyring=KEYRING))


RANGES = {
    "header": lambda start, end: start == 0,
    "tail": lambda start, end: end == len(MESSAGE) and start > 0,
    "frames": lambda start, end: start > 0 and end < len(MESSAGE),
}


@pytest.mark.parametrize("which", list(RANGES))
@pytest.mark.parametrize("change", [-1, -17, 1])
def test_a_fetch_that_answers_the_wrong_length_is_a_busta_error(which: str, change: int) -> None:
    expected = TruncatedMessageError if change < 0 else MalformedMessageError
    with pytest.raises(BustaError) as failed:
        _open(_fetch_that(RANGES[which], change)).read_range(FRAME + 5, 3 * FRAME)
    assert isinstance(failed.value, expected), repr(failed.value)


def test_a_seekable_file_shorter_than_it_says_fails_inside_the_tree() -> None:
    class Shrinking(io.BytesIO):
        """Reports the full size, then gives one byte less at the end (a file truncated meanwhile)."""

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            return data[:-1] if self.tell() >= len(MESSAGE) and data else data

    with pytest.raises(TruncatedMessageError):
        busta.open_seekable(Shrinking(MESSAGE), keyring=KEYRING)


def test_random_access_refuses_frames_shorter_than_their_head_says() -> None:
    materials = DefaultCryptoMaterialsManager(KEYRING).get_encryption_materials(
        EncryptionRequest(
            encryption_context={},
            commitment_policy=busta.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
            suite=UNSIGNED,
        )
    )
    encryptor = MessageEncryptor(materials, frame_length=FRAME)
    message = encryptor.update(PLAINTEXT) + encryptor.finalize()
    body = memoryview(message)[len(encryptor.header_bytes) :]
    decryptor = busta.start_decryption(keyring=KEYRING)
    decryptor.read_header(message)
    step = decryptor.frame_step
    assert step is not None
    out = memoryview(bytearray(2 * FRAME))
    with pytest.raises(TruncatedMessageError):
        decryptor.open_frames(1, body[: 2 * step - 1], out, 2, offset=0)
    final_at = 10 * step
    head = parse_frame_head(body, final_at, FRAME)
    assert head is not None and head.final
    with pytest.raises(TruncatedMessageError):
        decryptor.open_final_frame(body[final_at:-1], out, 11, offset=0)


# --- engines shared between threads -------------------------------------------------------------------


class _Blocking:
    """Wraps a frame codec so that sealing waits until released (one thread's call stays in progress)."""

    def __init__(self, codec: FrameCodec):
        self._codec = codec
        self.inside = threading.Event()
        self.release = threading.Event()

    def seal_regular(self, *args: Any) -> None:
        self.inside.set()
        assert self.release.wait(10)
        self._codec.seal_regular(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codec, name)


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_an_encryptor_used_by_a_second_thread_during_a_call_refuses_and_stays_failed() -> None:
    encryptor = busta.start_encryption(keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)
    blocking = _Blocking(encryptor._codec)
    encryptor._codec = blocking  # type: ignore[assignment]
    first, first_errors = _in_thread(lambda: encryptor.update(PLAINTEXT))
    assert blocking.inside.wait(10)
    with pytest.raises(UsageError, match="another thread"):
        encryptor.update(b"more plaintext")
    blocking.release.set()
    first.join(10)
    assert first_errors == []
    with pytest.raises(UsageError, match="another thread"):  # stays failed: this message is never finished
        encryptor.finalize()


class _BlockingManager:
    """A materials manager whose decrypt_materials waits until released."""

    def __init__(self) -> None:
        self._inner = DefaultCryptoMaterialsManager(KEYRING)
        self.inside = threading.Event()
        self.release = threading.Event()

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return self._inner.get_encryption_materials(request)

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        self.inside.set()
        assert self.release.wait(10)
        return self._inner.decrypt_materials(request)


@pytest.mark.parametrize("second", ["update", "update_into", "finalize", "read_header"])
def test_a_decryptor_used_by_a_second_thread_during_a_call_refuses_and_stays_failed(second: str) -> None:
    manager = _BlockingManager()
    decryptor = busta.start_decryption(materials_manager=manager)
    first, first_errors = _in_thread(lambda: decryptor.update(MESSAGE[:5000]))
    assert manager.inside.wait(10)
    calls: dict[str, Callable[[], object]] = {
        "update": lambda: decryptor.update(MESSAGE[5000:]),
        "update_into": lambda: decryptor.update_into(MESSAGE[5000:], memoryview(bytearray(len(MESSAGE)))),
        "finalize": decryptor.finalize,
        "read_header": lambda: decryptor.read_header(MESSAGE),
    }
    with pytest.raises(UsageError, match="another thread"):
        calls[second]()
    manager.release.set()
    first.join(10)
    assert first_errors == []  # the call in progress finishes
    with pytest.raises(UsageError, match="another thread"):
        decryptor.update(MESSAGE[5000:])


def _hammer(engine_call: Callable[[bytes], object], pieces: Sequence[bytes]) -> list[BaseException]:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        for piece in pieces:
            try:
                engine_call(piece)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_engines_hammered_by_two_threads_fail_only_inside_the_error_tree() -> None:
    data = os.urandom(3000)
    failures: list[BaseException] = []
    for _ in range(40):
        encryptor = busta.start_encryption(keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)
        failures += _hammer(encryptor.update, [data] * 1000)
        decryptor = busta.start_decryption(keyring=KEYRING)
        decryptor.update(MESSAGE[:2000])  # the header: the rest races
        failures += _hammer(decryptor.update, [MESSAGE[at : at + 100] for at in range(2000, len(MESSAGE), 100)])
    assert failures, "two threads never overlapped in 80 tries"
    strays = [exc for exc in failures if not isinstance(exc, BustaError)]
    assert not strays, f"{len(strays)} failures outside the error tree, e.g. {strays[0]!r}"


def test_an_encryptor_hammered_by_two_threads_fails_only_with_usage_errors() -> None:
    data = os.urandom(3000)
    failures: list[BaseException] = []
    for _ in range(40):
        encryptor = busta.start_encryption(keyring=KEYRING, algorithm=UNSIGNED, frame_length=FRAME)
        failures += _hammer(encryptor.update, [data] * 1000)
    strays = [exc for exc in failures if not isinstance(exc, UsageError)]
    assert not strays, f"{len(strays)} failures other than UsageError, e.g. {strays[0]!r}"


def test_an_interrupt_while_a_signed_run_is_sealed_and_hashed_leaves_no_worker_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal's KeyboardInterrupt can land anywhere in the calling thread, even right after the
    helper task was handed to the pool. The helper must never wait for the calling thread, or the
    pool and the interpreter's exit (which joins the pool) hang for good (seen as a CLI that
    never exited after SIGTERM)."""
    from busta.streaming import workers

    tasks: list[Any] = []

    def submit_then_interrupt(self: workers.Workers, task: Callable[[], None]) -> Any:
        tasks.append(self.executor.submit(task))
        raise KeyboardInterrupt

    monkeypatch.setattr(workers.Workers, "submit", submit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        busta.Client(threads=2).encrypt(
            os.urandom(9 << 20), keyring=KEYRING, algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        )
    assert len(tasks) == 1
    tasks[0].result(timeout=30)  # the helper finished on its own
