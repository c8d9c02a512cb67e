"""Streaming decryption does work linear in the message, for every frame length and read size.

No timing: the decryptor's state machine (``MessageDecryptor._process``) is
watched, and every distinct buffer it is handed other than the caller's own
input is counted once, with its whole size. Every such buffer was filled by copying, so the sum bounds from below the
bytes copied to hold back partial frames. Held-back bytes are gathered in a
buffer that grows by doubling, so the sum stays below a few times the message
size however small the pieces; re-copying the pending bytes on each update, as
``self._buffer = self._buffer[consumed:]`` did, makes it grow with the square of
the number of updates (the watcher stops such a run as soon as it passes the bound).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite
from busta.keyrings import RawAesKeyring
from busta.streaming.decryptor import MessageDecryptor
from fuzzing.seeds import nonframed_message

KiB, MiB = 1 << 10, 1 << 20
KEYRING = RawAesKeyring("linear", "aes", bytes(range(0x20, 0x40)))
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
#: Buffers handed to the state machine may add up to this many times the message, plus SLACK.
FACTOR = 4
SLACK = 4 * MiB


class CopyWatch:
    """Sums the sizes of the distinct buffers (not ``message``) the state machine is handed."""

    def __init__(self, message: bytes):
        self.message = message
        self.bound = FACTOR * len(message) + SLACK
        self.seen: dict[int, object] = {}  # kept alive, so that no id is reused: at most ``bound`` bytes
        self.total = 0

    def see(self, view: memoryview) -> None:
        held = view.obj
        if held is self.message or id(held) in self.seen:
            return
        self.seen[id(held)] = held
        self.total += len(memoryview(held))
        if self.total > self.bound:
            raise AssertionError(
                f"the decryptor was handed {len(self.seen)} buffers of {self.total} bytes in all "
                f"for a message of {len(self.message)} bytes: held-back bytes are copied again and again"
            )


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bytes], CopyWatch]]:
    watches: list[CopyWatch] = []
    process = MessageDecryptor._process

    def watched(self: MessageDecryptor, view: memoryview, out: memoryview) -> tuple[int, int]:
        for each in watches:
            each.see(view)
        return process(self, view, out)

    monkeypatch.setattr(MessageDecryptor, "_process", watched)

    def start(message: bytes) -> CopyWatch:
        watches.append(CopyWatch(message))
        return watches[-1]

    yield start


def _message(plaintext_length: int, frame: int, suite: AlgorithmSuite = UNSIGNED) -> tuple[bytes, bytes]:
    plaintext = os.urandom(plaintext_length)
    return busta.encrypt(plaintext, keyring=KEYRING, algorithm=suite, frame_length=frame), plaintext


def _feed(message: bytes, piece: int) -> bytes:
    """Decrypt through the engine, ``piece`` bytes per update (views of ``message``, never copies)."""
    decryptor = busta.start_decryption(keyring=KEYRING)
    view = memoryview(message)
    out = bytearray()
    for at in range(0, len(message), piece):
        out += decryptor.update(view[at : at + piece])
    decryptor.finalize()
    return bytes(out)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=["unsigned", "signed"])
def test_one_byte_updates_of_a_large_frame_message_copy_each_byte_a_few_times(
    watch: Callable[[bytes], CopyWatch], suite: AlgorithmSuite
) -> None:
    message, plaintext = _message(160 * KiB, 64 * KiB + 3, suite)
    seen = watch(message)
    assert _feed(message, 1) == plaintext
    assert seen.total <= FACTOR * len(message)


@pytest.mark.parametrize(
    ("frame", "piece"),
    [(32 * MiB, 4 * KiB), (32 * MiB, 64 * KiB + 1), (8 * MiB, 7), (MiB + 1, 1000), (MiB, 3 * MiB + 5)],
)
def test_updates_of_any_size_and_frames_of_any_length_copy_each_byte_a_few_times(
    watch: Callable[[bytes], CopyWatch], frame: int, piece: int
) -> None:
    size = frame + frame // 2 if frame > 4 * MiB else 3 * frame + 17
    if piece < 64:
        size = 300 * KiB  # one update per few bytes: keep the number of calls small
    message, plaintext = _message(size, frame)
    seen = watch(message)
    assert _feed(message, piece) == plaintext
    assert seen.total <= FACTOR * len(message) + SLACK


def test_a_non_framed_body_fed_in_small_pieces_is_gathered_in_linear_work(
    watch: Callable[[bytes], CopyWatch],
) -> None:
    plaintext = os.urandom(8 * MiB)
    message = nonframed_message(plaintext, UNSIGNED, KEYRING)
    seen = watch(message)
    assert _feed(message, 4 * KiB) == plaintext
    assert seen.total <= FACTOR * len(message)


class _Pieces(io.RawIOBase):
    """A source that gives at most ``piece`` bytes per read, as pipes and sockets do."""

    def __init__(self, data: bytes, piece: int):
        self._data = memoryview(data)
        self._piece = piece

    def readable(self) -> bool:
        return True

    def readinto(self, view: Any) -> int:
        n = min(len(view), self._piece, len(self._data))
        memoryview(view)[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


@pytest.mark.parametrize("piece", [1 << 40, 16 * KiB])
def test_decrypt_stream_of_large_frames_and_a_non_framed_body_is_linear(
    watch: Callable[[bytes], CopyWatch], piece: int
) -> None:
    framed, plaintext = _message(40 * MiB, 32 * MiB)
    nonframed = nonframed_message(plaintext[: 24 * MiB], UNSIGNED, KEYRING)
    for message, expected in ((framed, plaintext), (nonframed, plaintext[: 24 * MiB])):
        seen = watch(message)
        sink = io.BytesIO()
        busta.decrypt_stream(_Pieces(message, piece), sink, keyring=KEYRING)  # type: ignore[arg-type]
        assert sink.getvalue() == expected
        assert seen.total <= FACTOR * len(message) + SLACK


@pytest.mark.parametrize("read_size", [1000, 64 * KiB])
def test_readers_and_writers_of_large_frames_are_linear(watch: Callable[[bytes], CopyWatch], read_size: int) -> None:
    message, plaintext = _message(24 * MiB, 16 * MiB)
    seen = watch(message)
    reader = busta.decrypting_reader(io.BytesIO(message), keyring=KEYRING, read_size=read_size)
    assert reader.read() == plaintext  # the source's pieces are copies: they are counted too
    assert seen.total <= FACTOR * len(message) + SLACK
    seen = watch(message)
    sink = io.BytesIO()
    with busta.decrypting_writer(sink, keyring=KEYRING) as writer:
        view = memoryview(message)
        for at in range(0, len(message), read_size):
            writer.write(view[at : at + read_size])
    assert sink.getvalue() == plaintext
    assert seen.total <= FACTOR * len(message) + SLACK
