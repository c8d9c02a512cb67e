"""An unsigned message split across threads opens its final frame with the last part of the regular
frames before it, not after them all (issue 18: with 1 MiB frames, a 16 MiB message waited for a
seventeenth frame on one thread)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

import pytest

import busta
from busta import AlgorithmSuite
from busta.crypto.frames import FrameCodec
from busta.errors import AuthenticationError, MalformedMessageError
from busta.keyrings import RawAesKeyring
from busta.streaming import workers
from busta.streaming.workers import Workers

FRAME = 32 * 1024
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
TWO = busta.Client(threads=2)


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

    def run_split(tasks: Sequence[Callable[[], None]], workers: Workers | None) -> None:
        inside[0] = True
        try:
            real_run_split(tasks, workers)
        finally:
            inside[0] = False

    def open_block(self: FrameCodec, *args: object, **kwargs: object) -> None:
        opened.append(inside[0])
        real_open_block(self, *args, **kwargs)  # type: ignore[arg-type]

    real_run_split, real_open_block = workers.run_split, FrameCodec.open_block
    monkeypatch.setattr(workers, "run_split", run_split)
    monkeypatch.setattr(FrameCodec, "open_block", open_block)
    yield opened


@pytest.mark.parametrize("regular", [31, 32, 33, 64])  # runs of 1 MiB and more: split in two
def test_the_final_frame_opens_inside_the_split_run(
    aes_keyring: RawAesKeyring, where_the_final_frame_opened: list[bool], regular: int
) -> None:
    plaintext = os.urandom(regular * FRAME + 123)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    assert TWO.decrypt(message, keyring=aes_keyring).plaintext == plaintext
    assert where_the_final_frame_opened == [True]


def test_a_signed_message_opens_its_final_frame_after_the_run_it_hashes_in_order(
    aes_keyring: RawAesKeyring, where_the_final_frame_opened: list[bool]
) -> None:
    plaintext = os.urandom(40 * FRAME + 1)
    message = TWO.encrypt(plaintext, keyring=aes_keyring, algorithm=SIGNED, frame_length=FRAME)
    assert TWO.decrypt(message, keyring=aes_keyring).plaintext == plaintext
    assert where_the_final_frame_opened == [False]


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

    def run_split(tasks: Sequence[Callable[[], None]], pool: Workers | None) -> None:
        inside[0] = True
        try:
            real_run_split(tasks, pool)
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
