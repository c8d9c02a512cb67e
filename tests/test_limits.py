"""Resource limits: a message that claims huge lengths fails fast, before anything that size is allocated.

Each limit of :mod:`busta.limits` is driven by a crafted message — header fields
by hand, or a header sealed under a known data key so that decryption gets past
header authentication to the body limits — through the one-shot
:func:`busta.decrypt` and through a streaming decrypting reader with small
reads. Each must raise the named busta error (LimitExceededError when a limit
is exceeded, MalformedMessageError when a field contradicts another,
TruncatedMessageError when the input ends before a claimed length), with a
tracemalloc peak of at most :data:`MEMORY_BOUND`, however large the claim.

"Fails fast" is checked with an endless source: a streaming reader fed the crafted
prefix and then filler bytes forever must raise after at most one more read,
instead of waiting for the gigabytes it was promised. A header of 65535 data keys
read in small pieces is parsed in linear, not quadratic, time.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

import busta
from busta import AlgorithmSuite, CommitmentPolicy, ContentType, EncryptedDataKey, Header, SecretBytes
from busta.crypto.frames import FrameCodec
from busta.crypto.kdf import DerivedKeys, derive_keys
from busta.errors import (
    AuthenticationError,
    BustaError,
    LimitExceededError,
    MalformedMessageError,
    TruncatedMessageError,
)
from busta.format import HeaderAuth, serialize_header, serialize_header_auth
from busta.format.body import frame_iv
from busta.format.header import MESSAGE_ID_BYTES
from busta.keyrings import RawAesKeyring
from busta.limits import (
    MAX_ENCRYPTION_CONTEXT_BYTES,
    MAX_FRAME_LENGTH,
    MAX_FRAMES,
    MAX_HEADER_BYTES,
    MAX_NONFRAMED_BUFFER_BYTES,
    MAX_NONFRAMED_CONTENT_LENGTH,
    MAX_UINT16,
)
from busta.materials import DecryptionMaterials
from busta.streaming.decryptor import MessageDecryptor

from .support.keyrings import KnownDataKeyKeyring

#: The most one decryption of any input here may allocate (tracemalloc peak above what was there before).
MEMORY_BOUND = 4 << 20
#: Crafted inputs must be rejected at least this fast (they are all tiny or fail at a limit).
TIME_BOUND = 5.0
READ_SIZE = 16
DATA_KEY = bytes(range(32))
KEYRING = KnownDataKeyKeyring(None, DATA_KEY)  # unwraps every data key to DATA_KEY
ALLOW_ALL = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
COMMITTING = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
LEGACY = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
EDK = EncryptedDataKey("known", b"", b"wrapped")
MODES = ("one-shot", "streaming")


# --- measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    plaintext: bytes | None
    error: BustaError | None
    peak: int  # bytes, tracemalloc
    seconds: float


def _measure(action: Callable[[], bytes]) -> Result:
    started_tracing = not tracemalloc.is_tracing()
    if started_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    plaintext, error = None, None
    try:
        plaintext = action()
    except BustaError as exc:
        error = exc
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] - base
        if started_tracing:
            tracemalloc.stop()
    return Result(plaintext, error, peak, seconds)


def _decrypt(
    data: bytes,
    mode: str,
    *,
    keyring: busta.Keyring = KEYRING,
    max_encrypted_data_keys: int | None = None,
    read_size: int = READ_SIZE,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
) -> Result:
    """Decrypt ``data`` one-shot or through a reader with small reads; the error is returned, not raised."""
    client = busta.Client(
        commitment_policy=ALLOW_ALL,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_nonframed_bytes=max_nonframed_bytes,
    )
    if mode == "one-shot":
        return _measure(lambda: client.decrypt(data, keyring=keyring).plaintext)

    def read() -> bytes:
        return client.decrypting_reader(io.BytesIO(data), keyring=keyring, read_size=read_size).read()

    return _measure(read)


def _rejected(
    data: bytes,
    mode: str,
    error: type[BustaError],
    max_encrypted_data_keys: int | None = None,
    read_size: int = READ_SIZE,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
) -> BustaError:
    """Assert ``data`` is rejected with ``error``, fast and within the memory bound; return the error."""
    result = _decrypt(
        data,
        mode,
        max_encrypted_data_keys=max_encrypted_data_keys,
        read_size=read_size,
        max_nonframed_bytes=max_nonframed_bytes,
    )
    assert type(result.error) is error, repr(result.error)
    assert result.peak < MEMORY_BOUND, f"peak {result.peak} bytes"
    assert result.seconds < TIME_BOUND
    return result.error


class EndlessSource(io.RawIOBase):
    """``prefix``, then ``filler`` bytes forever; fails the test if more than ``budget`` filler bytes are read."""

    def __init__(self, prefix: bytes, filler: int = 0, budget: int = 4 << 20):
        super().__init__()
        self.prefix = prefix
        self.filler = filler
        self.budget = budget
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        head = self.prefix[self.served : self.served + len(view)]
        view[: len(head)] = head
        view[len(head) :] = bytes([self.filler]) * (len(view) - len(head))
        self.served += len(view)
        assert self.served - len(self.prefix) <= self.budget, "the decryptor kept reading what it was promised"
        return len(view)


class DeadlineSource(io.BytesIO):
    """``data``, but a read after ``seconds`` fails the test (so a regression fails instead of hanging)."""

    def __init__(self, data: bytes, seconds: float):
        super().__init__(data)
        self.deadline = time.monotonic() + seconds

    def read(self, size: int | None = -1, /) -> bytes:
        assert time.monotonic() < self.deadline, f"still reading at offset {self.tell()} after the deadline"
        return super().read(size)


def _fails_without_waiting(
    prefix: bytes,
    error: type[BustaError],
    filler: int = 0,
    max_encrypted_data_keys: int | None = None,
    read_size: int = READ_SIZE,
) -> int:
    """Read ``prefix`` + endless filler through a reader: assert ``error`` comes; return the bytes read."""
    source = EndlessSource(prefix, filler)
    reader = busta.Client(
        commitment_policy=ALLOW_ALL, max_encrypted_data_keys=max_encrypted_data_keys
    ).decrypting_reader(source, keyring=KEYRING, read_size=read_size)  # type: ignore[arg-type]
    with pytest.raises(error):
        reader.read()
    return source.served


# --- crafting -----------------------------------------------------------------------------------


def _message_id(suite: AlgorithmSuite) -> bytes:
    return bytes(range(MESSAGE_ID_BYTES[suite.message_format]))


def _keys(suite: AlgorithmSuite) -> DerivedKeys:
    return derive_keys(suite, SecretBytes(DATA_KEY), _message_id(suite))


def sealed_header(
    suite: AlgorithmSuite,
    content_type: ContentType,
    frame_length: int,
    edks: Sequence[EncryptedDataKey] = (EDK,),
) -> bytes:
    """A header that authenticates under DATA_KEY, whatever its fields claim."""
    keys = _keys(suite)
    header = Header(suite, _message_id(suite), {}, tuple(edks), content_type, frame_length, keys.commitment)
    raw = serialize_header(header)
    iv = bytes(12)
    return raw + serialize_header_auth(suite, HeaderAuth(iv, keys.aead.encrypt(iv, b"", raw)))


def _v2_start(context: bytes = b"") -> bytes:
    """version, suite 0x0478, message id, context length and context."""
    return b"\x02\x04\x78" + _message_id(COMMITTING) + len(context).to_bytes(2, "big") + context


def _v1_start(context: bytes = b"") -> bytes:
    return b"\x01\x80\x01\x78" + _message_id(LEGACY) + len(context).to_bytes(2, "big") + context


def _u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _final_frame_head(sequence_number: int, content_length: int) -> bytes:
    return b"\xff\xff\xff\xff" + _u32(sequence_number) + frame_iv(sequence_number) + _u32(content_length)


# --- (a) header and context lengths -------------------------------------------------------------

# Each claims far more than it holds; all are under 1 KiB.
TINY_CLAIMS = {
    "v2 context length 65535": _v2_start()[:-2] + b"\xff\xff" + bytes(100),
    "v1 context length 65535": _v1_start()[:-2] + b"\xff\xff" + bytes(100),
    "65535 data keys": _v2_start() + b"\xff\xff" + b"\x00\x00" * 30,
    "a provider id of 65535 bytes": _v2_start() + b"\x00\x01\xff\xff" + b"p" * 200,
    "a provider info of 65535 bytes": _v2_start() + b"\x00\x01\x00\x01p\xff\xff" + b"i" * 200,
    "data key ciphertexts of 65535 bytes": _v2_start() + b"\x00\x02\x00\x01p\x00\x00\xff\xff" + b"c" * 500,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", TINY_CLAIMS.values(), ids=TINY_CLAIMS.keys())
def test_a_tiny_header_that_claims_long_fields_is_truncated_without_allocating_them(data: bytes, mode: str) -> None:
    assert len(data) < 1024
    _rejected(data, mode, TruncatedMessageError)


@pytest.mark.parametrize("mode", MODES)
def test_a_context_claiming_more_pairs_than_its_length_holds_is_malformed(mode: str) -> None:
    pairs = b"\xff\xff" + b"\x00\x01k\x00\x01v"  # 65535 pairs claimed, one present
    data = _v2_start(pairs) + b"\x00\x01\x00\x00\x00\x00\x00\x00" + bytes(100)
    error = _rejected(data, mode, MalformedMessageError)
    assert isinstance(error, MalformedMessageError)
    assert error.field == "encryption context key length"


# 65535 data keys; filled with 0x7F bytes, each claims 3 x 32639 bytes: about 6 GiB in all.
HUGE_HEADER_START = _v2_start() + b"\xff\xff"


@pytest.mark.parametrize("mode", MODES)
def test_a_header_longer_than_MAX_HEADER_BYTES_fails_at_the_limit_with_bounded_memory(mode: str) -> None:
    data = HUGE_HEADER_START + b"\x7f" * (MAX_HEADER_BYTES + 4096)
    error = _rejected(data, mode, LimitExceededError, read_size=4096)
    assert isinstance(error, LimitExceededError)
    assert (error.what, error.limit) == ("header size", MAX_HEADER_BYTES)


def test_a_streamed_header_longer_than_MAX_HEADER_BYTES_is_refused_before_more_is_read() -> None:
    served = _fails_without_waiting(HUGE_HEADER_START, LimitExceededError, filler=0x7F, read_size=1024)
    assert served <= MAX_HEADER_BYTES + 1024


def test_a_header_that_cannot_fit_the_decryptors_header_limit_fails_as_soon_as_its_counts_prove_it() -> None:
    # 65535 data keys take at least 6 bytes each: with a 64 KiB limit, the count alone proves the header too long.
    decryptor = MessageDecryptor(max_header_bytes=1 << 16)
    with pytest.raises(LimitExceededError) as caught:
        decryptor.update(HUGE_HEADER_START)
    assert caught.value.what == "header size"
    assert caught.value.value > 6 * 65535


def test_a_header_of_many_data_keys_streamed_in_small_reads_is_parsed_in_linear_time() -> None:
    # 20,000 data keys of 9 bytes, read 16 bytes at a time: 11,000 reads. Parsing the header again at every
    # read is quadratic (minutes); parsing only once it can be complete takes a fraction of a second.
    header = sealed_header(COMMITTING, ContentType.FRAMED, 4096, [EncryptedDataKey("a", b"b", b"c")] * 20_000)
    tampered = header[:-1] + bytes([header[-1] ^ 1])  # fails at the header tag, after the full parse
    reader = busta.Client(commitment_policy=ALLOW_ALL).decrypting_reader(
        DeadlineSource(tampered, seconds=30), keyring=KEYRING, read_size=READ_SIZE
    )
    with pytest.raises(AuthenticationError):
        reader.read()


@pytest.mark.parametrize("read_size", [1, 7, 1000])
def test_waiting_for_a_header_to_be_complete_still_reports_a_wrong_field_in_it(read_size: int) -> None:
    # 65535 data keys are claimed, so the header is parsed again only at 6 x 65535 bytes; the input ends
    # long before, and the bad provider id it did hold is still the error (not a truncation).
    data = HUGE_HEADER_START + b"\x00\x01\xff\x00\x00\x00\x00" + bytes(60)
    result = _decrypt(data, "streaming", read_size=read_size)
    assert isinstance(result.error, MalformedMessageError)
    assert not isinstance(result.error, TruncatedMessageError)
    assert result.error.field == "provider id"


# --- (b) encrypted data keys --------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("claimed", [11, 1000, MAX_UINT16])
def test_a_data_key_count_above_max_encrypted_data_keys_fails_at_the_count(claimed: int, mode: str) -> None:
    # The input ends right after the count: the limit must not wait for the data keys it counts.
    data = _v2_start() + claimed.to_bytes(2, "big")
    error = _rejected(data, mode, LimitExceededError, max_encrypted_data_keys=10)
    assert isinstance(error, LimitExceededError)
    assert (error.what, error.value, error.limit) == ("encrypted data key count", claimed, 10)
    _rejected(_v2_start() + b"\x00\x0a", mode, TruncatedMessageError, max_encrypted_data_keys=10)  # at the limit


def test_a_streamed_data_key_count_above_the_limit_is_refused_before_the_data_keys_are_read() -> None:
    prefix = _v2_start() + b"\xff\xff"
    served = _fails_without_waiting(prefix, LimitExceededError, filler=0xFF, max_encrypted_data_keys=3)
    assert served <= len(prefix) + READ_SIZE


def test_more_data_keys_than_the_uint16_count_holds_cannot_be_written() -> None:
    header = Header(COMMITTING, _message_id(COMMITTING), {}, (EDK,) * (MAX_UINT16 + 1), ContentType.FRAMED, 64)
    with pytest.raises(LimitExceededError, match="encrypted data key count"):
        serialize_header(header)


def test_a_data_key_count_of_65535_decrypts_when_no_limit_is_set() -> None:
    header = sealed_header(COMMITTING, ContentType.FRAMED, 64, [EncryptedDataKey("", b"", b"")] * MAX_UINT16)
    codec = FrameCodec(_keys(COMMITTING).aead, _message_id(COMMITTING), 64)
    final = bytearray(24 + 2 + 16)
    codec.seal_final(1, b"hi", memoryview(final))
    assert busta.decrypt(header + bytes(final), keyring=KEYRING).plaintext == b"hi"


# --- (c) encryption context size ----------------------------------------------------------------


def test_an_encryption_context_of_exactly_MAX_ENCRYPTION_CONTEXT_BYTES_round_trips_and_one_more_is_refused(
    aes_keyring: RawAesKeyring,
) -> None:
    overhead = 2 + 2 + 1 + 2  # pair count, key length, key "k", value length
    largest = {"k": "v" * (MAX_ENCRYPTION_CONTEXT_BYTES - overhead)}
    algorithm = COMMITTING  # unsigned: a signed suite adds its public key to the context
    message = busta.encrypt(b"x", keyring=aes_keyring, encryption_context=largest, algorithm=algorithm)
    assert busta.decrypt(message, keyring=aes_keyring).encryption_context == largest
    reader = busta.decrypting_reader(io.BytesIO(message), keyring=aes_keyring, read_size=READ_SIZE)
    assert reader.read() == b"x"
    too_large = {"k": "v" * (MAX_ENCRYPTION_CONTEXT_BYTES - overhead + 1)}
    with pytest.raises(LimitExceededError, match="serialized encryption context"):
        busta.encrypt(b"x", keyring=aes_keyring, encryption_context=too_large, algorithm=algorithm)


# --- (d) frame length ---------------------------------------------------------------------------


class CountingKeyring(KnownDataKeyKeyring):
    def __init__(self) -> None:
        super().__init__(None, DATA_KEY)
        self.calls = 0

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        self.calls += 1
        return super().on_decrypt(materials, encrypted_data_keys)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("suite", [COMMITTING, LEGACY], ids=lambda s: f"0x{s.id:04X}")
@pytest.mark.parametrize("frame_length", [MAX_FRAME_LENGTH + 1, 2**32 - 1])
def test_a_frame_length_above_MAX_FRAME_LENGTH_fails_at_the_header_before_any_keyring_runs(
    frame_length: int, suite: AlgorithmSuite, mode: str
) -> None:
    data = sealed_header(suite, ContentType.FRAMED, frame_length) + _final_frame_head(1, 1) + bytes(17)
    keyring = CountingKeyring()
    result = _decrypt(data, mode, keyring=keyring)
    assert isinstance(result.error, LimitExceededError)
    assert (result.error.what, result.error.value, result.error.limit) == (
        "frame length",
        frame_length,
        MAX_FRAME_LENGTH,
    )
    assert keyring.calls == 0
    assert result.peak < MEMORY_BOUND


@pytest.mark.parametrize("mode", MODES)
def test_a_tiny_message_with_the_largest_frame_length_decrypts_without_allocating_a_frame(
    aes_keyring: RawAesKeyring, mode: str
) -> None:
    message = busta.encrypt(b"tiny", keyring=aes_keyring, frame_length=MAX_FRAME_LENGTH)
    result = _decrypt(message, mode, keyring=aes_keyring)
    assert result.error is None
    assert result.plaintext == b"tiny"
    assert result.peak < MEMORY_BOUND


def test_encrypting_a_tiny_message_with_the_largest_frame_length_allocates_no_frame(
    aes_keyring: RawAesKeyring,
) -> None:
    result = _measure(lambda: busta.encrypt(b"tiny", keyring=aes_keyring, frame_length=MAX_FRAME_LENGTH))
    assert result.error is None
    assert result.peak < MEMORY_BOUND


@pytest.mark.parametrize("mode", MODES)
def test_a_regular_frame_of_2_GiB_claimed_by_a_tiny_message_is_truncated_without_allocating_it(mode: str) -> None:
    data = sealed_header(COMMITTING, ContentType.FRAMED, MAX_FRAME_LENGTH) + _u32(1) + frame_iv(1) + bytes(200)
    _rejected(data, mode, TruncatedMessageError)


# --- (e) frame count and sequence numbers -------------------------------------------------------


def _framed_header(frame_length: int = 64) -> bytes:
    return sealed_header(COMMITTING, ContentType.FRAMED, frame_length)


SEQUENCE_CLAIMS = {
    "first regular frame numbered 2": _framed_header() + _u32(2) + frame_iv(2) + bytes(64 + 16),
    "first regular frame numbered 2^32 - 2": _framed_header() + _u32(MAX_FRAMES - 1) + bytes(12 + 64 + 16),
    "first final frame numbered 2^32 - 1": _framed_header() + _final_frame_head(MAX_FRAMES, 4) + bytes(4 + 16),
    "first final frame numbered 0": _framed_header() + _final_frame_head(0, 4) + bytes(4 + 16),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("data", SEQUENCE_CLAIMS.values(), ids=SEQUENCE_CLAIMS.keys())
def test_a_frame_claiming_another_sequence_number_than_the_next_is_malformed(data: bytes, mode: str) -> None:
    error = _rejected(data, mode, MalformedMessageError)
    assert isinstance(error, MalformedMessageError)
    assert error.field == "sequence number"


def test_the_encryptor_numbers_at_most_MAX_FRAMES_frames_and_never_a_regular_one_0xFFFFFFFF(
    aes_keyring: RawAesKeyring,
) -> None:
    # 2^32 - 1 frames cannot be written in a test; the encryptor is started near the end of the range.
    def near_the_end(first: int) -> busta.MessageEncryptor:
        encryptor = busta.start_encryption(keyring=aes_keyring, frame_length=1, algorithm=COMMITTING)
        encryptor._sequence = first
        return encryptor

    encryptor = near_the_end(MAX_FRAMES - 1)  # one regular frame (0xFFFFFFFE), then the final frame (0xFFFFFFFF)
    message = encryptor.update(b"ab") + encryptor.finalize()
    body = message[len(encryptor.header_bytes) :]
    assert body[:4] == _u32(MAX_FRAMES - 1)
    assert body[4 + 12 + 1 + 16 :][:8] == b"\xff\xff\xff\xff" + _u32(MAX_FRAMES)
    encryptor = near_the_end(MAX_FRAMES - 1)
    with pytest.raises(LimitExceededError) as caught:
        encryptor.update(b"abc")  # two regular frames would number one 0xFFFFFFFF, the final-frame marker
    assert (caught.value.what, caught.value.limit) == ("frame count", MAX_FRAMES)
    encryptor = near_the_end(MAX_FRAMES)
    encryptor.update(b"a")
    assert encryptor.finalize()
    encryptor = near_the_end(MAX_FRAMES + 1)
    encryptor.update(b"a")
    with pytest.raises(LimitExceededError, match="frame count"):
        encryptor.finalize()


# --- (f) non-framed content length --------------------------------------------------------------


def _nonframed(content_length: int, rest: bytes = b"") -> bytes:
    header = sealed_header(COMMITTING, ContentType.NON_FRAMED, 0)
    return header + frame_iv(1) + content_length.to_bytes(8, "big") + rest


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("content_length", [MAX_NONFRAMED_CONTENT_LENGTH + 1, 2**64 - 1])
def test_a_non_framed_content_length_above_the_limit_fails_at_the_body_head(content_length: int, mode: str) -> None:
    error = _rejected(_nonframed(content_length, bytes(100)), mode, LimitExceededError)
    assert isinstance(error, LimitExceededError)
    assert (error.what, error.value, error.limit) == (
        "non-framed content length",
        content_length,
        MAX_NONFRAMED_CONTENT_LENGTH,
    )


def test_a_streamed_non_framed_content_length_above_the_limit_is_refused_before_the_body_is_read() -> None:
    prefix = _nonframed(MAX_NONFRAMED_CONTENT_LENGTH + 1)
    assert _fails_without_waiting(prefix, LimitExceededError) <= len(prefix) + READ_SIZE


@pytest.mark.parametrize("mode", MODES)
def test_a_non_framed_body_at_the_limit_in_a_tiny_message_is_truncated_without_allocating_it(mode: str) -> None:
    message = _nonframed(MAX_NONFRAMED_CONTENT_LENGTH, bytes(100))
    _rejected(message, mode, LimitExceededError)  # above the default buffer limit
    _rejected(message, mode, TruncatedMessageError, max_nonframed_bytes=MAX_NONFRAMED_CONTENT_LENGTH)


# --- (g) final frame content length -------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("content_length", [65, 2**32 - 1])
def test_a_final_frame_longer_than_the_frame_length_is_malformed(content_length: int, mode: str) -> None:
    data = _framed_header(64) + _final_frame_head(1, content_length) + bytes(100)
    error = _rejected(data, mode, MalformedMessageError)
    assert isinstance(error, MalformedMessageError)
    assert error.field == "final frame content length"


def test_a_streamed_final_frame_longer_than_the_frame_length_is_refused_before_its_ciphertext_is_read() -> None:
    prefix = _framed_header(64) + _final_frame_head(1, 2**32 - 1)
    assert _fails_without_waiting(prefix, MalformedMessageError) <= len(prefix) + READ_SIZE


@pytest.mark.parametrize("mode", MODES)
def test_a_final_frame_of_the_largest_frame_length_in_a_tiny_message_is_truncated(mode: str) -> None:
    data = sealed_header(COMMITTING, ContentType.FRAMED, MAX_FRAME_LENGTH)
    _rejected(data + _final_frame_head(1, MAX_FRAME_LENGTH) + bytes(100), mode, TruncatedMessageError)
