"""A message split across threads opens its final frame with the last part of the regular frames
before it, not after them all (issue 18: with 1 MiB frames, a 16 MiB message waited for a
seventeenth frame on one thread). A signed message whose run is hashed on another thread while it
is sealed or opened hands that thread the final frame too: only the hashing of the final frame's
bytes, never its sealing or a second pass over them, follows the run; its plaintext is held until the
signature verifies."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

import busta
from busta import AlgorithmSuite
from busta.crypto.frames import FrameCodec
from busta.crypto.signing import Verifier
from busta.errors import AuthenticationError, MalformedMessageError
from busta.keyrings import RawAesKeyring
from busta.streaming import workers
from busta.streaming.workers import Workers
from tests.support.oracle import AesKeySpec, official_decrypt

FRAME = 32 * 1024
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
TWO = busta.Client(threads=2)
KEY = AesKeySpec("final-beside", "aes-256", bytes(range(0x60, 0x80)))
KEYRING = RawAesKeyring(KEY.namespace, KEY.name, KEY.key)


@pytest.fixture(autouse=True)
def small_runs_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split runs of 32 KiB frames from 1 MiB (the shipped thresholds, 64 KiB and 8 MiB, are for speed)."""
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", FRAME)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1 << 20)


@pytest.fixture
def where_the_final_frame_opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """For each final frame opened: whether it was opened inside a split run of frames."""
    inside = [False]
    opened: list[bool] = []

    def run_split(tasks: Sequence[Callable[[], None]], workers: Workers | None, *, spare: int = 0) -> None:
        inside[0] = True
        try:
            real_run_split(tasks, workers, spare=spare)
        finally:
            inside[0] = False

    def open_block(self: FrameCodec, *args: object, **kwargs: object) -> None:
        opened.append(inside[0])
        real_open_block(self, *args, **kwargs)  # type: ignore[arg-type]

    real_run_split, real_open_block = workers.run_split, FrameCodec.open_block
    monkeypatch.setattr(workers, "run_split", run_split)
    monkeypatch.setattr(FrameCodec, "open_block", open_block)
    yield opened


@pytest.fixture
def sealed_here(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each final frame sealed: whether the calling (main) thread sealed it."""
    sealed: list[bool] = []
    real_seal_final = FrameCodec.seal_final

    def seal_final(self: FrameCodec, *args: object) -> int:
        sealed.append(threading.current_thread() is threading.main_thread())
        return real_seal_final(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(FrameCodec, "seal_final", seal_final)
    return sealed


@pytest.mark.parametrize("regular", [31, 32, 33, 64])  # runs of 1 MiB and more: split in two
def test_the_final_frame_opens_inside_the_split_run(
    aes_keyring: RawAesKeyring, where_the_final_frame_opened: list[bool], regular: int
) -> None:
    plaintext = os.urandom(regular * FRAME + 123)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    assert TWO.decrypt(message, keyring=aes_keyring).plaintext == plaintext
    assert where_the_final_frame_opened == [True]


def test_a_signed_message_hashes_each_byte_once_in_order_with_the_final_frame_on_the_other_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plaintext = os.urandom(40 * FRAME + 9)
    message = TWO.encrypt(plaintext, keyring=KEYRING, algorithm=SIGNED, frame_length=FRAME)
    fed: list[tuple[bytes, bool]] = []
    real_update = Verifier.update

    def update(self: Verifier, data: bytes | memoryview) -> None:
        fed.append((bytes(data), threading.current_thread() is threading.main_thread()))
        real_update(self, data)

    monkeypatch.setattr(Verifier, "update", update)
    assert TWO.decrypt(message, keyring=KEYRING).plaintext == plaintext
    assert b"".join(piece for piece, _ in fed) == message[: _footer_start(message)]
    assert [here for _, here in fed] == [True, False, False]  # the header here; the run, then the final frame


def test_a_signed_final_frame_that_fails_beside_the_run_fails_the_message_and_leaves_nothing(
    aes_keyring: RawAesKeyring,
) -> None:
    plaintext = os.urandom(40 * FRAME + 7)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=SIGNED, frame_length=FRAME)
    final = _footer_start(message) - 16 - 1  # the last byte of the final frame's content, before its tag
    out = bytearray(len(plaintext))
    with pytest.raises(AuthenticationError):
        TWO.decrypt_into(_flip(message, final), out, keyring=aes_keyring)
    assert out == bytes(len(out))


def test_a_signed_final_frame_opened_beside_the_run_is_not_written_before_the_signature_verifies(
    aes_keyring: RawAesKeyring,
) -> None:
    plaintext = os.urandom(40 * FRAME + 11)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=SIGNED, frame_length=FRAME)
    sink = io.BytesIO()
    with pytest.raises(AuthenticationError):
        TWO.decrypt_stream(io.BytesIO(_flip(message, len(message) - 1)), sink, keyring=aes_keyring)
    assert plaintext[-11:] not in sink.getvalue()  # the final frame's plaintext stayed held


@pytest.mark.parametrize("regular", [32, 40, 64])
def test_a_signed_message_seals_and_opens_its_final_frame_beside_the_run_hashed_meanwhile(
    sealed_here: list[bool], where_the_final_frame_opened: list[bool], regular: int
) -> None:
    plaintext = os.urandom(regular * FRAME + 3)
    message = TWO.encrypt(plaintext, keyring=KEYRING, algorithm=SIGNED, frame_length=FRAME)
    assert sealed_here == [False]  # by the worker that sealed the run, while this thread hashed it
    assert official_decrypt(message, keys=[KEY])[0] == plaintext
    assert TWO.decrypt(message, keyring=KEYRING).plaintext == plaintext  # the signature covers every byte
    assert where_the_final_frame_opened == [True]


def test_a_signed_message_below_the_split_size_keeps_everything_on_the_calling_thread(
    sealed_here: list[bool], where_the_final_frame_opened: list[bool]
) -> None:
    plaintext = os.urandom(8 * FRAME + 3)  # 256 KiB: under the 1 MiB that splits here
    message = TWO.encrypt(plaintext, keyring=KEYRING, algorithm=SIGNED, frame_length=FRAME)
    assert TWO.decrypt(message, keyring=KEYRING).plaintext == plaintext
    assert sealed_here == [True]
    assert where_the_final_frame_opened == [False]


def _footer_start(message: bytes) -> int:
    """Where a signed message's footer starts: its two-byte length, then that many bytes of signature."""
    (start,) = (
        at
        for at in range(len(message) - 120, len(message) - 2)
        if message[at] == 0 and at + 2 + message[at + 1] == len(message)
    )
    return start


def _flip(message: bytes, index: int) -> bytes:
    altered = bytearray(message)
    altered[index] ^= 1
    return bytes(altered)


def test_a_final_frame_that_fails_beside_the_run_fails_the_message(aes_keyring: RawAesKeyring) -> None:
    plaintext = os.urandom(40 * FRAME + 7)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    out = bytearray(len(plaintext))
    with pytest.raises(AuthenticationError, match="final frame"):
        TWO.decrypt_into(_flip(message, len(message) - 1), out, keyring=aes_keyring)
    assert out == bytes(len(out))


def test_a_final_frame_numbered_out_of_turn_is_refused_beside_the_run(aes_keyring: RawAesKeyring) -> None:
    message = bytearray(
        TWO.encrypt(os.urandom(40 * FRAME + 7), keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    )
    final = len(message) - (4 + 4 + 12 + 4 + 7 + 16)  # marker, sequence number, IV, length, content, tag
    assert message[final : final + 4] == b"\xff\xff\xff\xff"
    message[final + 7] ^= 1  # the sequence number's last byte
    with pytest.raises(MalformedMessageError, match="final frame"):
        TWO.decrypt(bytes(message), keyring=aes_keyring)


@pytest.mark.parametrize("regular", [31, 64])
def test_a_whole_unsigned_message_seals_its_final_frame_inside_the_split_run(
    aes_keyring: RawAesKeyring, monkeypatch: pytest.MonkeyPatch, regular: int
) -> None:
    inside = [False]
    sealed: list[bool] = []
    real_run_split, real_seal_final = workers.run_split, FrameCodec.seal_final

    def run_split(tasks: Sequence[Callable[[], None]], pool: Workers | None, *, spare: int = 0) -> None:
        inside[0] = True
        try:
            real_run_split(tasks, pool, spare=spare)
        finally:
            inside[0] = False

    def seal_final(self: FrameCodec, *args: object) -> int:
        sealed.append(inside[0])
        return real_seal_final(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "run_split", run_split)
    monkeypatch.setattr(FrameCodec, "seal_final", seal_final)
    plaintext = os.urandom(regular * FRAME + 5)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    assert sealed == [True]
    assert TWO.decrypt(message, keyring=aes_keyring).plaintext == plaintext
