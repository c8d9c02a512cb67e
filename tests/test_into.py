"""Whole messages sealed into and opened from a buffer the caller provides (issue 18, target 4)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

import busta
from busta import AlgorithmSuite
from busta.errors import AuthenticationError, MalformedMessageError, TruncatedMessageError, UsageError
from busta.keyrings import RawAesKeyring
from busta.materials import DefaultCryptoMaterialsManager, EncryptionRequest
from busta.streaming import workers
from busta.streaming.encryptor import MessageEncryptor
from busta.streaming.workers import Workers
from busta.suites import CommitmentPolicy

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
FRAME = 32 * 1024


@pytest.fixture(autouse=True)
def small_runs_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split runs of 32 KiB frames from 1 MiB (the shipped thresholds, 64 KiB and 8 MiB, are for speed)."""
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", FRAME)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1 << 20)


CLIENTS = {"one thread": busta.Client(threads=1), "two threads": busta.Client(threads=2)}


@pytest.fixture(params=list(CLIENTS))
def client(request: pytest.FixtureRequest) -> busta.Client:
    return CLIENTS[request.param]


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED])
@pytest.mark.parametrize("length", [0, 1, FRAME, FRAME + 1, 40 * FRAME, 40 * FRAME + 7])
def test_sealing_a_whole_message_in_one_call_writes_the_bytes_update_and_finalize_write(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite, length: int
) -> None:
    """The final frame is sealed beside the last regular frames (on another thread), not after them:
    the bytes are the same, at every frame count."""
    plaintext = os.urandom(length)
    request = EncryptionRequest(
        encryption_context={"a": "b"}, commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, suite=suite
    )
    materials = DefaultCryptoMaterialsManager(aes_keyring).get_encryption_materials(request)
    message_id = os.urandom(32)
    with ThreadPoolExecutor(1) as pool:

        def encryptor() -> MessageEncryptor:
            return MessageEncryptor(materials, frame_length=FRAME, message_id=message_id, workers=Workers(pool, 2))

        streamed = encryptor()
        expected = streamed.update(plaintext) + streamed.finalize()
        whole = encryptor()
        out = bytearray(whole.message_size(length))
        written = whole.seal_whole_into(plaintext, out)
    if suite.signed:  # the signature differs (ECDSA is randomized); everything before it is the same
        body = len(expected) - 2 - 103
        assert out[:body] == expected[:body] and written == len(out)
        assert busta.decrypt(bytes(out), keyring=aes_keyring).plaintext == plaintext
    else:
        assert bytes(out) == expected and written == len(expected)


def test_seal_whole_into_is_an_encryptors_only_call(aes_keyring: RawAesKeyring) -> None:
    encryptor = busta.Client(threads=1).start_encryption(keyring=aes_keyring, algorithm=UNSIGNED)
    encryptor.update(b"some")
    with pytest.raises(UsageError, match="only call"):
        encryptor.seal_whole_into(b"more", bytearray(1024))


def test_seal_whole_into_refuses_a_plaintext_other_than_the_declared_one(aes_keyring: RawAesKeyring) -> None:
    encryptor = busta.Client().start_encryption(keyring=aes_keyring, plaintext_length=10)
    with pytest.raises(UsageError, match="declared"):
        encryptor.seal_whole_into(b"nine byte", bytearray(2048))


@pytest.mark.parametrize("length", [0, 1000, 3 * FRAME + 5, (1 << 20) + 3])
def test_encrypt_into_writes_a_message_that_decrypts_and_returns_its_length(
    client: busta.Client, aes_keyring: RawAesKeyring, length: int
) -> None:
    plaintext = os.urandom(length)
    out = bytearray()
    written = client.encrypt_into(plaintext, out, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    assert written == len(out)
    assert client.decrypt(bytes(out[:written]), keyring=aes_keyring).plaintext == plaintext


def test_a_reused_bytearray_grows_once_and_is_never_shrunk(aes_keyring: RawAesKeyring) -> None:
    out = bytearray()
    big = busta.encrypt_into(os.urandom(100_000), out, keyring=aes_keyring, algorithm=UNSIGNED)
    assert len(out) == big
    small = busta.encrypt_into(b"tiny", out, keyring=aes_keyring, algorithm=UNSIGNED)
    assert small < big and len(out) == big
    assert busta.decrypt(bytes(out[:small]), keyring=aes_keyring).plaintext == b"tiny"


def test_a_fixed_buffer_too_small_is_refused_before_anything_is_written(aes_keyring: RawAesKeyring) -> None:
    out = bytearray(b"\x55" * 64)
    with pytest.raises(UsageError, match="needs"):
        busta.encrypt_into(b"x" * 100, memoryview(out), keyring=aes_keyring)
    assert out == b"\x55" * 64


def test_a_bytearray_that_cannot_grow_because_a_view_is_alive_is_refused(aes_keyring: RawAesKeyring) -> None:
    out = bytearray(8)
    with memoryview(out), pytest.raises(UsageError, match="view of it is alive"):
        busta.encrypt_into(b"x", out, keyring=aes_keyring)


def test_a_read_only_buffer_is_refused(aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(UsageError, match="read-only"):
        busta.encrypt_into(b"x", memoryview(bytes(4096)), keyring=aes_keyring)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED])
def test_decrypt_into_writes_the_plaintext_and_returns_its_length_header_and_context(
    client: busta.Client, aes_keyring: RawAesKeyring, suite: AlgorithmSuite
) -> None:
    plaintext = os.urandom(5 * FRAME + 11)
    message = client.encrypt(
        plaintext, keyring=aes_keyring, algorithm=suite, frame_length=FRAME, encryption_context={"k": "v"}
    )
    out = bytearray()
    result = client.decrypt_into(message, out, keyring=aes_keyring, encryption_context={"k": "v"})
    assert out[: result.length] == plaintext
    assert result.header.suite is suite
    assert result.encryption_context["k"] == "v"


def test_decrypt_into_a_non_framed_message(aes_keyring: RawAesKeyring) -> None:
    plaintext = os.urandom(3000)
    message = busta.encrypt(plaintext, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=4096)
    out = bytearray(len(message))
    assert out[: busta.decrypt_into(message, out, keyring=aes_keyring).length] == plaintext


def _flip(message: bytes, index: int) -> bytes:
    altered = bytearray(message)
    altered[index] ^= 1
    return bytes(altered)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED])
def test_a_message_that_fails_late_leaves_nothing_it_wrote_in_the_buffer(
    client: busta.Client, aes_keyring: RawAesKeyring, suite: AlgorithmSuite
) -> None:
    """The frames before the failing one did authenticate, but the message as a whole did not."""
    plaintext = b"\x77" * (8 * FRAME)
    message = client.encrypt(plaintext, keyring=aes_keyring, algorithm=suite, frame_length=FRAME)
    out = bytearray(len(plaintext))
    with pytest.raises(AuthenticationError):
        client.decrypt_into(_flip(message, len(message) - 1), out, keyring=aes_keyring)
    assert out == bytes(len(out))


def test_decrypt_into_reports_truncation_and_trailing_bytes_as_decrypt_does(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(os.urandom(3 * FRAME), keyring=aes_keyring, algorithm=UNSIGNED, frame_length=FRAME)
    for altered, error in ((message[:-20], TruncatedMessageError), (message + b"\x00", MalformedMessageError)):
        with pytest.raises(error) as one_shot:
            busta.decrypt(altered, keyring=aes_keyring)
        with pytest.raises(error) as into:
            busta.decrypt_into(altered, bytearray(), keyring=aes_keyring)
        assert str(into.value) == str(one_shot.value)
    with pytest.raises(TruncatedMessageError):
        busta.decrypt_into(message[:30], bytearray(), keyring=aes_keyring)


def test_decrypt_into_refuses_a_compressed_message(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"abc" * 1000, keyring=aes_keyring, compression="zstd")
    with pytest.raises(UsageError, match="compressed"):
        busta.decrypt_into(message, bytearray(), keyring=aes_keyring)


def test_a_fixed_buffer_too_small_for_the_plaintext_is_refused(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x" * 5000, keyring=aes_keyring)
    with pytest.raises(UsageError, match="needs 5000"):
        busta.decrypt_into(message, memoryview(bytearray(100)), keyring=aes_keyring)
