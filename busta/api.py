"""The public entry points: one-shot encrypt/decrypt and the streaming constructors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from ._buffers import OutputBuffer
from ._executor import workers_for
from .context import check_expected, validate_for_encrypt
from .errors import MalformedMessageError, UsageError
from .format import ContentType, Header
from .format.layout import framed_plaintext_length
from .limits import DEFAULT_FRAME_LENGTH, MAX_HEADER_BYTES, MAX_NONFRAMED_BUFFER_BYTES
from .materials import (
    CryptoMaterialsManager,
    DefaultCryptoMaterialsManager,
    EncryptionRequest,
    Keyring,
    is_keyring,
    is_materials_manager,
)
from .streaming import pump
from .streaming._args import check_limit
from .streaming.decryptor import MessageDecryptor
from .streaming.driver import DrivenDecryptor
from .streaming.encryptor import MessageEncryptor
from .streaming.io import DEFAULT_READ_SIZE, DecryptingReader, DecryptingWriter, EncryptingReader, EncryptingWriter
from .streaming.random_access import SeekableDecryptingReader, file_fetch
from .suites import DEFAULT_COMMITMENT_POLICY, AlgorithmSuite, CommitmentPolicy

__all__ = [
    "DecryptResult",
    "StreamResult",
    "decrypt",
    "decrypt_message",
    "decrypt_stream",
    "decrypting_reader",
    "decrypting_writer",
    "encrypt",
    "encrypt_stream",
    "encrypting_reader",
    "encrypting_writer",
    "open_seekable",
    "start_decryption",
    "start_encryption",
]

Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What :func:`encrypt_stream` / :func:`decrypt_stream` did: the message header, the
    authenticated encryption context (stored and required pairs) and the plaintext length."""

    header: Header
    encryption_context: dict[str, str]
    plaintext_length: int


@dataclass(frozen=True, slots=True)
class DecryptResult:
    """A decrypted message: its plaintext, its header, and its authenticated encryption context
    (the stored pairs plus any required pairs the caller supplied)."""

    plaintext: bytes
    header: Header
    encryption_context: dict[str, str]


def _materials_manager(
    keyring: Keyring | None, materials_manager: CryptoMaterialsManager | None
) -> CryptoMaterialsManager:
    if (keyring is None) == (materials_manager is None):
        raise UsageError("pass exactly one of keyring= or materials_manager=")
    if materials_manager is not None:
        if not is_materials_manager(materials_manager):
            raise UsageError(f"{materials_manager!r} is not a crypto materials manager")
        return materials_manager
    if not is_keyring(keyring):
        raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")
    return DefaultCryptoMaterialsManager(keyring)


def _policy(commitment_policy: CommitmentPolicy | None) -> CommitmentPolicy:
    if commitment_policy is None:
        return DEFAULT_COMMITMENT_POLICY
    if not isinstance(commitment_policy, CommitmentPolicy):
        raise UsageError("commitment_policy must be a CommitmentPolicy member")
    return commitment_policy


def _suite(algorithm: AlgorithmSuite | int | None) -> AlgorithmSuite | None:
    if algorithm is None or isinstance(algorithm, AlgorithmSuite):
        return algorithm
    if isinstance(algorithm, int) and not isinstance(algorithm, bool):
        return AlgorithmSuite.from_id(algorithm)
    raise UsageError("algorithm must be an AlgorithmSuite member or a suite id")


def _positive(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise UsageError(f"{name} must be a positive int")


def _limits(**limits: int) -> None:
    """Check size limits before any keyring runs (each a positive int)."""
    for name, value in limits.items():
        check_limit(name, value)


def start_encryption(
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_encrypted_data_keys: int | None = None,
    plaintext_length: int | None = None,
    threads: int | None = None,
) -> MessageEncryptor:
    """Get materials and return a sans-I/O :class:`MessageEncryptor` for one message."""
    _positive("frame_length", frame_length)
    _positive("max_encrypted_data_keys", max_encrypted_data_keys)
    _limits(max_header_bytes=max_header_bytes)
    workers = workers_for(threads)
    cmm = _materials_manager(keyring, materials_manager)
    request = EncryptionRequest(
        encryption_context=validate_for_encrypt(encryption_context),
        commitment_policy=_policy(commitment_policy),
        suite=_suite(algorithm),
        plaintext_length=plaintext_length,
        max_encrypted_data_keys=max_encrypted_data_keys,
    )
    materials = cmm.get_encryption_materials(request)
    request.commitment_policy.check_encrypt(materials.suite)
    return MessageEncryptor(  # it checks max_encrypted_data_keys too: a custom or caching CMM may not have
        materials,
        frame_length=frame_length or DEFAULT_FRAME_LENGTH,
        workers=workers,
        plaintext_length=plaintext_length,
        max_header_bytes=max_header_bytes,
        max_encrypted_data_keys=max_encrypted_data_keys,
    )


def start_decryption(
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    threads: int | None = None,
) -> DrivenDecryptor:
    """Return a :class:`DrivenDecryptor` for one message: the sans-I/O :class:`MessageDecryptor`,
    whose materials the materials manager (or keyring) supplies when the header is parsed.

    ``max_header_bytes`` (default 1 MiB) bounds the header, and ``max_nonframed_bytes``
    (default 64 MiB) the plaintext of a non-framed body, which must be held whole
    until its tag verifies; either exceeded raises :class:`LimitExceededError`.
    """
    _positive("max_encrypted_data_keys", max_encrypted_data_keys)
    _limits(max_header_bytes=max_header_bytes, max_nonframed_bytes=max_nonframed_bytes)
    workers = workers_for(threads)
    engine = MessageDecryptor(
        encryption_context=check_expected(encryption_context, "encryption_context"),
        commitment_policy=_policy(commitment_policy),
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        workers=workers,
    )
    return DrivenDecryptor(engine, _materials_manager(keyring, materials_manager))


def _as_bytes(data: object, what: str) -> Bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UsageError(f"{what} must be bytes-like, not {type(data).__name__}")
    return data


def encrypt(
    plaintext: Bytes,
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_encrypted_data_keys: int | None = None,
    threads: int | None = None,
) -> bytes:
    """Encrypt ``plaintext`` into one message.

    Defaults: suite 0x0578 (committing, signed), frame length 64 KiB, commitment
    policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT. Raises :class:`UsageError` for bad
    arguments, :class:`PolicyError` for a suite the policy forbids,
    :class:`EncryptionContextError` for a bad context and :class:`KeyringError`
    if the keyring cannot make or wrap a data key. ``threads`` (default: one per
    core; 1: off) seals long runs of large frames in parallel; the output is the same.
    """
    data = memoryview(_as_bytes(plaintext, "plaintext")).cast("B")
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        max_header_bytes=max_header_bytes,
        max_encrypted_data_keys=max_encrypted_data_keys,
        plaintext_length=len(data),
        threads=threads,
    )
    out = OutputBuffer(encryptor.message_size(len(data)))
    try:
        written = encryptor.update_into(data, out.view)
        written += encryptor.finalize_into(out.view[written:])
    except BaseException:
        out.discard()
        raise
    return out.finish(written)


def decrypt_message(
    ciphertext: Bytes,
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    threads: int | None = None,
) -> DecryptResult:
    """Decrypt one whole message and return its plaintext, header and authenticated context.

    ``encryption_context`` is what the caller expects: every pair must match,
    and pairs the message does not store are authenticated as required pairs.
    Raises :class:`MalformedMessageError` (including truncation and trailing
    bytes), :class:`AuthenticationError`, :class:`NoDecryptingKeyError`,
    :class:`PolicyError`, :class:`EncryptionContextError` or :class:`LimitExceededError`.
    """
    data = memoryview(_as_bytes(ciphertext, "ciphertext")).cast("B")
    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        threads=threads,
    )
    plaintext = _decrypt_whole(decryptor, data)
    return DecryptResult(plaintext, *_header_and_context(decryptor))


def _header_and_context(decryptor: DrivenDecryptor) -> tuple[Header, dict[str, str]]:
    """The header and authenticated encryption context of a message the decryptor has read."""
    header, context = decryptor.header, decryptor.encryption_context
    assert header is not None and context is not None
    return header, context


def _decrypt_whole(decryptor: DrivenDecryptor, data: memoryview) -> bytes:
    """Decrypt a whole message into one buffer of the exact plaintext size when the layout tells it."""
    start = decryptor.read_header(data)
    length = None
    header = decryptor.header
    if start and header is not None and header.content_type is ContentType.FRAMED:
        length = framed_plaintext_length(data[start:], 0, header.frame_length, header.suite.signed)
    if length is None:  # not a well-laid-out framed message: let the engine find what is wrong
        plaintext = decryptor.update(data[start:])
        decryptor.finalize()
        return plaintext
    out = OutputBuffer(length)
    try:
        written = decryptor.update_into(data[start:], out.view)
        decryptor.finalize()
    except BaseException:
        out.discard()
        raise
    if written != length:  # pragma: no cover - the engine checks every frame against the layout
        raise MalformedMessageError("the message body does not match its layout")
    return out.finish()


def decrypt(
    ciphertext: Bytes,
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    threads: int | None = None,
) -> bytes:
    """Decrypt one whole message and return its plaintext (see :func:`decrypt_message`)."""
    return decrypt_message(
        ciphertext,
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        threads=threads,
    ).plaintext


def encrypting_reader(
    source: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    read_size: int = DEFAULT_READ_SIZE,
    threads: int | None = None,
) -> EncryptingReader:
    """Wrap a readable plaintext ``source``; reading the result yields the message."""
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        max_header_bytes=max_header_bytes,
        threads=threads,
    )
    return EncryptingReader(source, encryptor, read_size=read_size)


def encrypting_writer(
    sink: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    close_sink: bool = False,
    threads: int | None = None,
) -> EncryptingWriter:
    """Wrap a writable ``sink``; plaintext written to the result reaches it as a message."""
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        max_header_bytes=max_header_bytes,
        threads=threads,
    )
    return EncryptingWriter(sink, encryptor, close_sink=close_sink)


def decrypting_reader(
    source: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    read_size: int = DEFAULT_READ_SIZE,
    threads: int | None = None,
) -> DecryptingReader:
    """Wrap a readable message ``source``; reading the result yields authenticated plaintext."""
    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        threads=threads,
    )
    return DecryptingReader(source, decryptor, read_size=read_size)


def decrypting_writer(
    sink: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    close_sink: bool = False,
    threads: int | None = None,
) -> DecryptingWriter:
    """Wrap a writable ``sink``; a message written to the result reaches it as plaintext."""
    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        threads=threads,
    )
    return DecryptingWriter(sink, decryptor, close_sink=close_sink)


def encrypt_stream(
    source: IO[bytes],
    sink: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_encrypted_data_keys: int | None = None,
    threads: int | None = None,
) -> StreamResult:
    """Encrypt everything ``source`` yields into ``sink`` as one message, with reused buffers.

    The fastest way to encrypt a file or pipe: memory stays at a few MiB. If it
    raises, what reached ``sink`` is not a complete message.
    """
    encryptor = start_encryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        algorithm=algorithm,
        frame_length=frame_length,
        commitment_policy=commitment_policy,
        max_header_bytes=max_header_bytes,
        max_encrypted_data_keys=max_encrypted_data_keys,
        threads=threads,
    )
    length = pump.encrypt_stream(source, sink, encryptor)
    return StreamResult(encryptor.header, dict(encryptor.encryption_context), length)


def decrypt_stream(
    source: IO[bytes],
    sink: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    refuse_signed: bool = False,
    threads: int | None = None,
) -> StreamResult:
    """Decrypt the message ``source`` yields into ``sink``, with reused buffers.

    Only authenticated plaintext reaches ``sink``, but only a normal return
    proves the message was complete (and, for signed suites, its signature
    valid): if this raises, discard what reached ``sink``.
    """
    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        threads=threads,
    )
    length = pump.decrypt_stream(source, sink, decryptor)
    return StreamResult(*_header_and_context(decryptor), length)


def open_seekable(
    fileobj: IO[bytes],
    *,
    keyring: Keyring | None = None,
    materials_manager: CryptoMaterialsManager | None = None,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: CommitmentPolicy | None = None,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
    allow_unverified_signature: bool = False,
    threads: int | None = None,
) -> SeekableDecryptingReader:
    """Open a seekable plaintext view of the framed message in a seekable ``fileobj``.

    Reads fetch and authenticate only the frames they need. Signed messages are
    refused unless ``allow_unverified_signature`` (their signature needs the
    whole message; the frames are still authenticated).
    """
    decryptor = start_decryption(
        keyring=keyring,
        materials_manager=materials_manager,
        encryption_context=encryption_context,
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        threads=threads,
    )
    fetch, size = file_fetch(fileobj)
    return SeekableDecryptingReader(fetch, size, decryptor, allow_unverified_signature=allow_unverified_signature)
