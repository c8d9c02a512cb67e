"""The engine and its io adapters: every boundary size, every step size, one message format."""

from __future__ import annotations

import io
import os

import pytest

import busta
from busta import AlgorithmSuite, EncryptionMaterials, MessageEncryptor
from busta.errors import MalformedMessageError, TruncatedMessageError, UsageError
from busta.keyrings import RawAesKeyring

from ..conftest import policy_for

F = 64
BOUNDARY_SIZES = [0, 1, F - 1, F, F + 1, 2 * F + 1, 3 * F]
STEPS = [1, 7, F, F + 3, 10_000]
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


def _plaintext(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def _materials(keyring: RawAesKeyring, suite: AlgorithmSuite) -> EncryptionMaterials:
    return keyring.on_encrypt(EncryptionMaterials(suite=suite, encryption_context={"k": "v"}))


def _encrypt_in_steps(encryptor: MessageEncryptor, data: bytes, step: int) -> bytes:
    out = [encryptor.update(data[i : i + step]) for i in range(0, len(data), step)]
    return b"".join(out) + encryptor.finalize()


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("step", STEPS)
def test_the_message_bytes_do_not_depend_on_how_the_plaintext_is_fed(
    aes_keyring: RawAesKeyring, size: int, step: int
) -> None:
    materials = _materials(aes_keyring, UNSIGNED)
    message_id = os.urandom(32)
    data = _plaintext(size)
    whole = MessageEncryptor(materials, frame_length=F, message_id=message_id)
    expected = whole.update(data) + whole.finalize()
    stepped = MessageEncryptor(materials, frame_length=F, message_id=message_id)
    assert _encrypt_in_steps(stepped, data, step) == expected


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_frames_are_full_and_the_final_frame_is_empty_only_for_empty_plaintext(
    aes_keyring: RawAesKeyring, size: int
) -> None:
    message = busta.encrypt(_plaintext(size), keyring=aes_keyring, algorithm=UNSIGNED, frame_length=F)
    header_len = len(busta.encrypt(b"", keyring=aes_keyring, algorithm=UNSIGNED, frame_length=F)) - 24 - 16
    regular = max(0, (size - 1) // F)
    final_len = size - regular * F
    assert len(message) == header_len + regular * (16 + F + 16) + 24 + final_len + 16
    assert (final_len == 0) == (size == 0)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=lambda s: s.name)
@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("step", STEPS)
def test_the_sans_io_decryptor_accepts_any_chunking(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite, size: int, step: int
) -> None:
    data = _plaintext(size)
    message = busta.encrypt(data, keyring=aes_keyring, algorithm=suite, frame_length=F)
    decryptor = busta.start_decryption(keyring=aes_keyring)
    out = b"".join(decryptor.update(message[i : i + step]) for i in range(0, len(message), step))
    decryptor.finalize()
    assert out == data
    assert decryptor.done


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=lambda s: s.name)
@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("step", [1, F + 3])
def test_encrypting_reader_and_decrypting_reader_round_trip(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite, size: int, step: int
) -> None:
    data = _plaintext(size)
    reader = busta.encrypting_reader(
        io.BytesIO(data), keyring=aes_keyring, algorithm=suite, frame_length=F, read_size=step
    )
    chunks = []
    while chunk := reader.read(step):
        chunks.append(chunk)
    message = b"".join(chunks)
    assert busta.decrypt(message, keyring=aes_keyring).plaintext == data
    plain = busta.decrypting_reader(io.BytesIO(message), keyring=aes_keyring, read_size=step)
    got = []
    while piece := plain.read(step):
        got.append(piece)
    assert b"".join(got) == data


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=lambda s: s.name)
@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("step", [1, F + 3])
def test_encrypting_writer_and_decrypting_writer_round_trip(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite, size: int, step: int
) -> None:
    data = _plaintext(size)
    sink = io.BytesIO()
    with busta.encrypting_writer(sink, keyring=aes_keyring, algorithm=suite, frame_length=F) as writer:
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
    message = sink.getvalue()
    assert busta.decrypt(message, keyring=aes_keyring).plaintext == data
    out = io.BytesIO()
    with busta.decrypting_writer(out, keyring=aes_keyring) as dec:
        for i in range(0, len(message), step):
            dec.write(message[i : i + step])
    assert out.getvalue() == data


def test_readinto_and_readall_follow_io_conventions(aes_keyring: RawAesKeyring) -> None:
    data = _plaintext(1000)
    message = busta.encrypt(data, keyring=aes_keyring, frame_length=F)
    reader = busta.decrypting_reader(io.BytesIO(message), keyring=aes_keyring)
    buf = bytearray(10)
    assert reader.readinto(buf) == 10
    assert bytes(buf) == data[:10]
    assert reader.readall() == data[10:]
    assert reader.read() == b""
    reader.close()
    with pytest.raises(ValueError):
        reader.read()


def test_a_buffered_reader_works_on_top(aes_keyring: RawAesKeyring) -> None:
    data = b"line one\nline two\n" * 50
    message = busta.encrypt(data, keyring=aes_keyring, frame_length=F)
    reader = io.BufferedReader(busta.decrypting_reader(io.BytesIO(message), keyring=aes_keyring))
    assert reader.readline() == b"line one\n"
    assert reader.read() == data[9:]


def test_the_decrypting_reader_reports_header_and_context_before_reading(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x" * 300, keyring=aes_keyring, encryption_context={"a": "b"}, algorithm=UNSIGNED)
    reader = busta.decrypting_reader(io.BytesIO(message), keyring=aes_keyring, read_size=5)
    assert reader.read_header().suite is UNSIGNED
    assert reader.encryption_context == {"a": "b"}
    assert reader.read() == b"x" * 300


def test_a_writer_left_by_an_exception_does_not_finish_the_message(aes_keyring: RawAesKeyring) -> None:
    sink = io.BytesIO()
    with (
        pytest.raises(RuntimeError),
        busta.encrypting_writer(sink, keyring=aes_keyring, frame_length=F) as writer,
    ):
        writer.write(_plaintext(500))
        raise RuntimeError("interrupted")
    with pytest.raises(TruncatedMessageError):
        busta.decrypt(sink.getvalue(), keyring=aes_keyring)


def test_a_decrypting_writer_closed_early_reports_truncation(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(_plaintext(500), keyring=aes_keyring, frame_length=F)
    writer = busta.decrypting_writer(io.BytesIO(), keyring=aes_keyring)
    writer.write(message[:-10])
    with pytest.raises(TruncatedMessageError):
        writer.close()


def test_a_non_seekable_pipe_source_works(aes_keyring: RawAesKeyring) -> None:
    data = _plaintext(5000)
    message = busta.encrypt(data, keyring=aes_keyring, frame_length=F)
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as w:
        w.write(message)  # fits in the pipe buffer
    with os.fdopen(read_fd, "rb", buffering=0) as r:
        assert not r.seekable()
        assert busta.decrypting_reader(r, keyring=aes_keyring).read() == data


def test_the_encryptor_refuses_use_after_finalize(aes_keyring: RawAesKeyring) -> None:
    encryptor = busta.start_encryption(keyring=aes_keyring)
    encryptor.finalize()
    with pytest.raises(UsageError):
        encryptor.update(b"more")
    with pytest.raises(UsageError):
        encryptor.finalize()


def test_the_decryptor_stays_failed_after_an_error(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"abc", keyring=aes_keyring)
    decryptor = busta.start_decryption(keyring=aes_keyring)
    with pytest.raises(MalformedMessageError):
        decryptor.update(message + b"\x00")
    with pytest.raises(MalformedMessageError):
        decryptor.update(b"")
    with pytest.raises(MalformedMessageError):
        decryptor.finalize()


def test_trailing_bytes_in_a_later_update_are_rejected(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"abc", keyring=aes_keyring)
    decryptor = busta.start_decryption(keyring=aes_keyring)
    assert decryptor.update(message) == b"abc"
    with pytest.raises(MalformedMessageError, match="after the end"):
        decryptor.update(b"\x00")


@pytest.mark.parametrize("suite", list(AlgorithmSuite), ids=lambda s: s.name)
def test_every_suite_streams(aes_keyring: RawAesKeyring, suite: AlgorithmSuite) -> None:
    data = _plaintext(3 * F + 5)
    policy = policy_for(suite)
    reader = busta.Client(commitment_policy=policy).encrypting_reader(
        io.BytesIO(data), keyring=aes_keyring, algorithm=suite, frame_length=F
    )
    message = reader.read()
    plain = busta.Client(commitment_policy=busta.CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT).decrypting_reader(
        io.BytesIO(message), keyring=aes_keyring
    )
    assert plain.read() == data


# Every test here runs against the serial and the parallel engine.
pytestmark = pytest.mark.usefixtures("engine_mode")


def test_stream_pumps_reuse_their_thread_buffers_so_a_small_stream_allocates_little(
    aes_keyring: RawAesKeyring,
) -> None:
    import tracemalloc

    data = os.urandom(4096)
    sealed = io.BytesIO()
    busta.encrypt_stream(io.BytesIO(data), sealed, keyring=aes_keyring)  # the first call makes the buffers
    busta.decrypt_stream(io.BytesIO(sealed.getvalue()), io.BytesIO(), keyring=aes_keyring)
    tracemalloc.start()
    try:
        again, plain = io.BytesIO(), io.BytesIO()
        busta.encrypt_stream(io.BytesIO(data), again, keyring=aes_keyring)
        busta.decrypt_stream(io.BytesIO(again.getvalue()), plain, keyring=aes_keyring)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plain.getvalue() == data
    assert peak < 512 * 1024  # a fresh 2 MiB chunk buffer per call would show here


def test_a_stream_pump_inside_another_ones_sink_gets_buffers_of_its_own(aes_keyring: RawAesKeyring) -> None:
    data = os.urandom(300_000)

    class PumpingSink:
        """A sink that runs another whole pump on the same thread before it keeps what it was given."""

        def __init__(self) -> None:
            self.kept = bytearray()

        def write(self, view: memoryview) -> int:
            busta.encrypt_stream(io.BytesIO(os.urandom(100_000)), io.BytesIO(), keyring=aes_keyring)
            self.kept += view  # had the inner pump used the same output buffer, this would be its bytes
            return len(view)

    sink = PumpingSink()
    busta.encrypt_stream(io.BytesIO(data), sink, keyring=aes_keyring)  # type: ignore[arg-type]
    assert busta.decrypt(bytes(sink.kept), keyring=aes_keyring).plaintext == data
