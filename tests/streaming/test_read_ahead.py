"""``update(..., more=True)``: a caller that knows more plaintext follows has every full frame sealed
at once; ``finish_into(data, out)``: a caller that knows ``data`` is the last has its last frame sealed
as the final frame where it lies (issue 18: the streaming pump reads one step ahead, so no frame is
held back and copied)."""

from __future__ import annotations

import io
import os
from typing import IO, Any, cast

import pytest

import busta
from busta import AlgorithmSuite, MessageEncryptor
from busta.format import parse_header
from busta.format.layout import locate_final_frame
from busta.keyrings import RawAesKeyring
from busta.materials import DefaultCryptoMaterialsManager, EncryptionRequest
from busta.streaming import pump
from busta.suites import CommitmentPolicy
from tests.support.oracle import AesKeySpec, official_decrypt

FRAME = 4096
KEY = AesKeySpec("read-ahead", "aes-256", bytes(range(32)))
KEYRING = RawAesKeyring(KEY.namespace, KEY.name, KEY.key)


def _encryptors(count: int) -> list[MessageEncryptor]:
    """Encryptors of one message (same materials, same message id): they must write the same bytes."""
    request = EncryptionRequest(
        encryption_context={"purpose": "read-ahead"},
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        suite=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    )
    materials = DefaultCryptoMaterialsManager(KEYRING).get_encryption_materials(request)
    message_id = os.urandom(32)
    return [MessageEncryptor(materials, frame_length=FRAME, message_id=message_id) for _ in range(count)]


@pytest.mark.parametrize("first", [1, FRAME - 1, FRAME, 3 * FRAME, 3 * FRAME + 5])
def test_with_more_every_full_frame_is_sealed_now_and_the_message_is_unchanged(first: int) -> None:
    plaintext = os.urandom(first + 2 * FRAME + 3)
    held, ahead = _encryptors(2)
    expected = held.update(plaintext[:first]) + held.update(plaintext[first:]) + held.finalize()
    assert ahead.update_size(first, more=True) == len(ahead.header_bytes) + first // FRAME * ahead._codec.step
    now = ahead.update(plaintext[:first], more=True)
    assert len(now) == len(ahead.header_bytes) + first // FRAME * ahead._codec.step
    assert now + ahead.update(plaintext[first:]) + ahead.finalize() == expected


def test_a_broken_promise_ends_the_message_with_an_empty_final_frame_that_every_sdk_reads() -> None:
    plaintext = os.urandom(2 * FRAME)
    (encryptor,) = _encryptors(1)
    message = encryptor.update(plaintext, more=True) + encryptor.finalize()
    assert message[-16 - 4 : -16] == bytes(4)  # the final frame's content length
    assert busta.decrypt(message, keyring=KEYRING).plaintext == plaintext
    assert official_decrypt(message, keys=[KEY])[0] == plaintext


@pytest.mark.parametrize("length", [0, 1, FRAME, 5 * FRAME, (2 << 20) + 1, 4 << 20])
def test_the_streaming_pump_ends_its_messages_with_a_final_frame_that_is_not_empty(length: int) -> None:
    """The pump reads a step ahead and promises ``more`` only when the next step has bytes."""
    plaintext = os.urandom(length)
    sink = io.BytesIO()
    busta.Client(threads=1).encrypt_stream(
        io.BytesIO(plaintext), sink, keyring=KEYRING, frame_length=FRAME, algorithm=0x0478
    )
    message = memoryview(sink.getvalue())
    assert busta.decrypt(message, keyring=KEYRING).plaintext == plaintext
    parsed = parse_header(message)
    assert parsed is not None
    found = locate_final_frame(message, 0, len(message), parsed.length, FRAME, signed=False)
    assert found == ((length - 1) // FRAME, (length - 1) % FRAME + 1) if length else found == (0, 0)


class _Recording:
    """An encryptor's stand-in for the pump that records the ``more`` of each ``update_into``, and
    ``"finish"`` for a ``finish_into``."""

    def __init__(self, inner: MessageEncryptor):
        self.inner = inner
        self.promises: list[bool | str] = []
        self.frame_length = inner.frame_length

    def finish_size(self, length: int) -> int:
        return self.inner.finish_size(length)

    def finish_into(self, data: memoryview, out: memoryview) -> int:
        self.promises.append("finish")
        return self.inner.finish_into(data, out)

    def update_size(self, length: int, *, more: bool = False) -> int:
        return self.inner.update_size(length, more=more)

    def update_into(self, data: memoryview, out: memoryview, *, more: bool = False) -> int:
        self.promises.append(more)
        return self.inner.update_into(data, out, more=more)

    def finalize_size(self) -> int:
        return self.inner.finalize_size()

    def finalize_into(self, out: memoryview) -> int:
        return self.inner.finalize_into(out)


class _Logged(io.BytesIO):
    """A file in memory that logs each read into ``log``, and reports ``size`` as its end (a file that
    grew or shrank after the pump looked)."""

    def __init__(self, data: bytes, log: list[str], size: int | None = None):
        super().__init__(data)
        self.log, self.size = log, size

    def readinto(self, buffer: Any) -> int:
        self.log.append("read")
        return super().readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        end = super().seek(offset, whence)
        return self.size if whence == io.SEEK_END and self.size is not None else end


class _LoggedSink(io.BytesIO):
    def __init__(self, log: list[str]):
        super().__init__()
        self.log = log

    def write(self, data: Any) -> int:
        self.log.append("write")
        return super().write(data)


class _Pipe(io.RawIOBase):
    """A source that cannot seek, as a pipe or a socket: it may wait for data."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._data.readinto(buffer)


@pytest.mark.parametrize(("source", "promises"), [("file", [True, "finish"]), ("pipe", [False, False])])
def test_the_pump_promises_more_only_where_the_size_is_known(source: str, promises: list[bool | str]) -> None:
    """A file's steps before its end are sealed whole and its last step with the final frame; a
    pipe's last frame is held back for finalize (its data is written before it is read again, so a
    producer that pauses sees its output)."""
    plaintext = os.urandom((2 << 20) + 5)  # two steps of the pump
    encryptor = _Recording(_encryptors(1)[0])
    src = cast(IO[bytes], io.BytesIO(plaintext) if source == "file" else _Pipe(plaintext))
    sink = io.BytesIO()
    pump.encrypt_stream(src, sink, cast(MessageEncryptor, encryptor))
    assert encryptor.promises == promises
    assert busta.decrypt(sink.getvalue(), keyring=KEYRING).plaintext == plaintext


class _CountingSource(io.RawIOBase):
    """A source that records where each of its reads ended."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)
        self.ends: list[int] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._data.readinto(buffer)
        if n:
            self.ends.append(self._data.tell())
        return n


def test_after_the_header_decryption_reads_whole_frames_so_none_is_gathered_by_copying() -> None:
    """With 1 MiB frames, reads that grew from 64 KiB (128 KiB, 256 KiB ...) each held part of a frame,
    which the decryptor then copied together: 2 of every 16 frames of a 16 MiB message."""
    frame = 1 << 20
    message = busta.Client(threads=1).encrypt(
        os.urandom(16 * frame), keyring=KEYRING, frame_length=frame, algorithm=0x0478
    )
    parsed = parse_header(memoryview(message))
    assert parsed is not None
    source = _CountingSource(message)
    busta.Client(threads=1).decrypt_stream(cast(IO[bytes], source), io.BytesIO(), keyring=KEYRING)
    step = frame + 4 + 12 + 16  # sequence number, IV, tag
    assert source.ends[0] == 64 << 10  # the header's read
    body_ends = [end - parsed.length for end in source.ends[1:-1]]
    assert body_ends and all(end % step == 0 for end in body_ends)


@pytest.mark.parametrize("held", [0, 1, FRAME - 1, FRAME, FRAME + 7])
@pytest.mark.parametrize("last", [0, 1, FRAME - 1, FRAME, 3 * FRAME, 3 * FRAME + 5])
def test_finish_into_writes_what_update_and_finalize_write(held: int, last: int) -> None:
    plaintext = os.urandom(held + last)
    apart, together = _encryptors(2)
    expected = apart.update(plaintext[:held]) + apart.update(plaintext[held:]) + apart.finalize()
    before = together.update(plaintext[:held])
    out = bytearray(together.finish_size(last))
    assert together.finish_into(plaintext[held:], out) == len(out)
    assert before + out == expected


def test_finish_into_of_a_signed_message_is_read_by_the_official_sdk() -> None:
    plaintext = os.urandom(5 * FRAME + 3)
    encryptor = busta.Client(threads=1).start_encryption(keyring=KEYRING, frame_length=FRAME)
    out = bytearray(encryptor.finish_size(len(plaintext)))
    assert encryptor.finish_into(plaintext, out) == len(out)
    assert busta.decrypt(out, keyring=KEYRING).plaintext == plaintext
    assert official_decrypt(bytes(out), keys=[KEY])[0] == plaintext


def test_finish_into_ends_the_encryptor_and_refuses_a_small_buffer() -> None:
    (encryptor,) = _encryptors(1)
    with pytest.raises(busta.errors.UsageError, match="finish_size"):
        encryptor.finish_into(b"x" * FRAME, bytearray(encryptor.finish_size(FRAME) - 1))
    out = bytearray(encryptor.finish_size(FRAME))
    encryptor.finish_into(b"x" * FRAME, out)  # the refusal changed nothing
    assert busta.decrypt(out, keyring=KEYRING).plaintext == b"x" * FRAME
    with pytest.raises(busta.errors.UsageError, match="finalized"):
        encryptor.update(b"more")
    with pytest.raises(busta.errors.UsageError, match="finalized"):
        encryptor.finish_into(b"", bytearray(100))


def test_finish_into_counts_against_the_declared_length() -> None:
    encryptor = busta.Client(threads=1).start_encryption(keyring=KEYRING, plaintext_length=10, algorithm=0x0478)
    with pytest.raises(busta.errors.UsageError, match="more plaintext than the 10 bytes declared"):
        encryptor.finish_into(b"x" * 11, bytearray(encryptor.finish_size(11)))


STEP = pump.encrypt_step(FRAME)


def test_a_file_step_is_sealed_and_written_before_the_next_is_read() -> None:
    """No step is read ahead (it would leave the cache before it is sealed); only at the end is the
    file read once more, to see that it ended."""
    log: list[str] = []
    plaintext = os.urandom(3 * STEP)
    sink = _LoggedSink(log)
    pump.encrypt_stream(_Logged(plaintext, log), sink, _encryptors(1)[0])
    assert log == ["read", "write", "read", "write", "read", "read", "write"]
    assert busta.decrypt(sink.getvalue(), keyring=KEYRING).plaintext == plaintext


@pytest.mark.parametrize("seen", [0, 1, STEP - 1, STEP, STEP + 1, 2 * STEP])
def test_a_file_that_grew_after_the_pump_looked_is_read_to_its_end(seen: int) -> None:
    plaintext = os.urandom(4 * STEP + 5)
    sink = io.BytesIO()
    pump.encrypt_stream(_Logged(plaintext, [], size=seen), sink, _encryptors(1)[0])
    assert busta.decrypt(sink.getvalue(), keyring=KEYRING).plaintext == plaintext


@pytest.mark.parametrize("length", [0, 5, STEP, STEP + 5])
def test_a_file_that_shrank_after_the_pump_looked_ends_with_an_empty_final_frame(length: int) -> None:
    plaintext = os.urandom(length)
    sink = io.BytesIO()
    pump.encrypt_stream(_Logged(plaintext, [], size=length + 3 * STEP), sink, _encryptors(1)[0])
    message = sink.getvalue()
    assert busta.decrypt(message, keyring=KEYRING).plaintext == plaintext
    assert official_decrypt(message, keys=[KEY])[0] == plaintext


class _NoWayBack(io.BytesIO):
    """A file that goes to its end but cannot seek back (a broken file-like object)."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            raise OSError("cannot seek back")
        return super().seek(offset, whence)


def test_a_source_that_cannot_seek_back_after_measuring_fails_rather_than_encrypting_nothing() -> None:
    """Asking the size moves to the end: a source that cannot go back would otherwise be read from
    its end, and a message of no plaintext written without a word."""
    sink = io.BytesIO()
    with pytest.raises(OSError, match="cannot seek back"):
        pump.encrypt_stream(_NoWayBack(os.urandom(5000)), sink, _encryptors(1)[0])
    assert sink.getvalue() == b""


class _SeekSaysNothing(io.BytesIO):
    """A file-like object whose ``seek`` returns None (as some wrappers do): its size is unknown."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> None:  # type: ignore[override]
        super().seek(offset, whence)


def test_a_source_whose_seek_returns_nothing_is_read_from_where_it_was() -> None:
    plaintext = os.urandom(STEP + 7)
    source = _SeekSaysNothing(b"skip" + plaintext)
    source.read(4)
    sink = io.BytesIO()
    assert pump.encrypt_stream(source, sink, _encryptors(1)[0]) == len(plaintext)
    assert busta.decrypt(sink.getvalue(), keyring=KEYRING).plaintext == plaintext
