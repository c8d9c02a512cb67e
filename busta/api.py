"""The public entry points: :class:`Client`, whose methods encrypt and decrypt, and the quick-start
functions ``busta.encrypt`` ..., which are the methods of a default ``Client()``.

A client holds what the official SDKs set once on a client (commitment policy, limits, threads);
each call names only what belongs to one message: the keyring or materials manager, the encryption
context, the suite and frame length, and the streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any, cast

from ._arguments import Bytes, as_bytes, materials_manager_for
from ._executor import check_threads
from ._frozen import record
from ._start import decryptor_engine, encryption_request, encryptor_for, seal_into, seal_whole
from .compression import compress_whole, compression_of, mark
from .errors import UsageError
from .limits import MAX_HEADER_BYTES, MAX_NONFRAMED_BUFFER_BYTES
from .materials import CryptoMaterialsManager, Keyring
from .results import DecryptedInto, DecryptResult, StreamResult
from .streaming import compressed, pump
from .streaming._args import check_limit
from .streaming.driver import DrivenDecryptor
from .streaming.encryptor import MessageEncryptor
from .streaming.io import DEFAULT_READ_SIZE, DecryptingReader, DecryptingWriter, EncryptingReader, EncryptingWriter
from .streaming.random_access import SeekableDecryptingReader, file_fetch
from .streaming.whole import decrypt_whole, decrypt_whole_into, header_and_context
from .suites import DEFAULT_COMMITMENT_POLICY, AlgorithmSuite, CommitmentPolicy

__all__ = [
    "Client",
    "DecryptResult",
    "DecryptedInto",
    "StreamResult",
    "decrypt",
    "decrypt_into",
    "decrypt_stream",
    "decrypting_reader",
    "decrypting_writer",
    "encrypt",
    "encrypt_into",
    "encrypt_stream",
    "encrypting_reader",
    "encrypting_writer",
    "open_seekable",
    "start_decryption",
    "start_encryption",
]


@record(kw_only=True)
class Client:
    """What every message this client encrypts or decrypts shares; each argument is checked here.

    - ``commitment_policy`` (default REQUIRE_ENCRYPT_REQUIRE_DECRYPT): which suites it writes and reads.
    - ``max_encrypted_data_keys`` (default: no limit): a message with more data keys is refused
      (:class:`LimitExceededError`) before any is unwrapped; an encryption making more fails.
    - ``max_header_bytes`` (default 1 MiB) bounds a header, read or written.
    - ``max_nonframed_bytes`` (default 64 MiB) bounds the plaintext of a non-framed body, which
      must be held whole until its tag verifies.
    - ``refuse_signed`` (default False): decryption refuses signed messages
      (:class:`SignedMessageError`) as soon as their header is read, like the ESDK CLI's
      ``--decrypt-unsigned``: for readers of streams that act on plaintext before the signature
      at the end could be checked.
    - ``threads`` (default: one per core; 1: off) seals and opens long runs of large frames in
      parallel; the output is the same.
    - ``max_decompressed_bytes`` bounds the decompressed plaintext of a compressed message
      (:class:`LimitExceededError`); default None: 256 MiB for ``decrypt``, which holds it in
      memory, and 64 GiB for the streams (docs/compression.md).

    Bad values raise :class:`UsageError`. A client is immutable, hashable and cheap: make one per
    configuration (``dataclasses.replace`` derives another) and share it between threads.
    """

    commitment_policy: CommitmentPolicy = DEFAULT_COMMITMENT_POLICY
    max_encrypted_data_keys: int | None = None
    max_header_bytes: int = MAX_HEADER_BYTES
    max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES
    refuse_signed: bool = False
    threads: int | None = None
    max_decompressed_bytes: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.commitment_policy, CommitmentPolicy):
            raise UsageError("commitment_policy must be a CommitmentPolicy member")
        if self.max_encrypted_data_keys is not None:
            check_limit("max_encrypted_data_keys", self.max_encrypted_data_keys)
        check_limit("max_header_bytes", self.max_header_bytes)
        check_limit("max_nonframed_bytes", self.max_nonframed_bytes)
        if not isinstance(self.refuse_signed, bool):
            raise UsageError("refuse_signed must be a bool")
        check_threads(self.threads)
        if self.max_decompressed_bytes is not None:
            check_limit("max_decompressed_bytes", self.max_decompressed_bytes)

    def decryption_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`busta._start.decryptor_engine` this client decrypts with."""
        return {
            "commitment_policy": self.commitment_policy,
            "max_encrypted_data_keys": self.max_encrypted_data_keys,
            "max_header_bytes": self.max_header_bytes,
            "max_nonframed_bytes": self.max_nonframed_bytes,
            "refuse_signed": self.refuse_signed,
            "threads": self.threads,
        }

    def start_encryption(
        self,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        plaintext_length: int | None = None,
    ) -> MessageEncryptor:
        """Get materials and return a sans-I/O :class:`MessageEncryptor` for one message.

        ``plaintext_length``, if given, is what the message must hold (the encryptor refuses more
        or less) and is told to the materials manager.
        """
        return self._encryptor(
            keyring, materials_manager, encryption_context, algorithm, frame_length, plaintext_length=plaintext_length
        )

    def start_decryption(
        self,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> DrivenDecryptor:
        """Return a :class:`DrivenDecryptor` for one message, under this client's policy and limits
        (see :class:`Client`): the sans-I/O :class:`MessageDecryptor`, whose materials the materials
        manager (or keyring) supplies when the header is parsed."""
        return self._decryptor(keyring, materials_manager, encryption_context)

    def _encryptor(
        self,
        keyring: Keyring | None,
        materials_manager: CryptoMaterialsManager | None,
        encryption_context: Mapping[str, str] | None,
        algorithm: AlgorithmSuite | int | None,
        frame_length: int | None,
        *,
        plaintext_length: int | None = None,
        streaming: bool = True,
    ) -> MessageEncryptor:
        """:meth:`start_encryption`; ``streaming=False`` for a message sealed whole (see
        :func:`busta._executor.workers_for`)."""
        request = encryption_request(
            self.commitment_policy,
            self.max_encrypted_data_keys,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
            plaintext_length=plaintext_length,
        )
        materials = materials_manager_for(keyring, materials_manager).get_encryption_materials(request)
        return encryptor_for(
            materials,
            request,
            frame_length=frame_length,
            threads=self.threads,
            max_header_bytes=self.max_header_bytes,
            streaming=streaming,
        )

    def _whole(  # noqa: PLR0917 - encrypt's arguments, in their order
        self,
        data: memoryview,
        keyring: Keyring | None,
        materials_manager: CryptoMaterialsManager | None,
        encryption_context: Mapping[str, str] | None,
        algorithm: AlgorithmSuite | int | None,
        frame_length: int | None,
    ) -> MessageEncryptor:
        """The encryptor of a message sealed whole from ``data``: its length declared, its runs split as
        a message in memory is."""
        return self._encryptor(
            keyring,
            materials_manager,
            encryption_context,
            algorithm,
            frame_length,
            plaintext_length=len(data),
            streaming=False,
        )

    def _decryptor(
        self,
        keyring: Keyring | None,
        materials_manager: CryptoMaterialsManager | None,
        encryption_context: Mapping[str, str] | None,
        *,
        streaming: bool = True,
    ) -> DrivenDecryptor:
        """:meth:`start_decryption`; ``streaming=False`` for a message opened whole."""
        cmm = materials_manager_for(keyring, materials_manager)
        engine = decryptor_engine(encryption_context, streaming=streaming, **self.decryption_settings())
        return DrivenDecryptor(engine, cmm)

    def encrypt(
        self,
        plaintext: Bytes,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        compression: str | None = None,
    ) -> bytes:
        """Encrypt ``plaintext`` into one message (``compression="zstd"``: compressed first, see
        docs/compression.md for what its length then tells).

        Defaults: suite 0x0578 (committing, signed), frame length 64 KiB. Raises
        :class:`UsageError` for bad arguments, :class:`PolicyError` for a suite the policy
        forbids, :class:`EncryptionContextError` for a bad context and :class:`KeyringError`
        if the keyring cannot make or wrap a data key.
        """
        data = memoryview(as_bytes(plaintext, "plaintext")).cast("B")
        if compression is not None:
            encryption_context = mark(encryption_context, compression)
            data = memoryview(compress_whole(data))
        encryptor = self._whole(data, keyring, materials_manager, encryption_context, algorithm, frame_length)
        return seal_whole(encryptor, data)

    def decrypt(
        self,
        ciphertext: Bytes,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> DecryptResult:
        """Decrypt one whole message: its ``.plaintext``, ``.header`` and authenticated ``.encryption_context``.

        ``encryption_context`` is what the caller expects: every pair must match, and pairs the
        message does not store are authenticated as required pairs. Raises
        :class:`MalformedMessageError` (including truncation and trailing bytes),
        :class:`AuthenticationError`, :class:`NoDecryptingKeyError`, :class:`PolicyError`,
        :class:`EncryptionContextError` or :class:`LimitExceededError`. A compressed message is
        decompressed (:class:`CompressionError` if it does not; docs/compression.md).
        """
        data = memoryview(as_bytes(ciphertext, "ciphertext")).cast("B")
        cmm = materials_manager_for(keyring, materials_manager)
        engine = decryptor_engine(encryption_context, streaming=False, **self.decryption_settings())
        plaintext = decrypt_whole(engine, cmm, data)
        header, context = header_and_context(engine)
        if compression_of(context) is not None:
            limit = compressed.limit_for(self.max_decompressed_bytes, whole=True)
            plaintext = compressed.decompressed(plaintext, context, limit)
        return DecryptResult(plaintext, header, context)

    def encrypt_into(
        self,
        plaintext: Bytes,
        out: bytearray | memoryview,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
    ) -> int:
        """:meth:`encrypt` into the caller's buffer: the message is ``out[:length]``; returns ``length``.

        A ``bytearray`` too small grows to fit and keeps its size, so one reused from message to message
        stops growing and its pages are not faulted in again (see docs/benchmarks.md: for messages of
        tens of MiB a fresh ``bytes`` costs as much as the encryption). Any other writable buffer must be
        large enough (:class:`UsageError` otherwise, before anything is written). No compression here.
        """
        data = memoryview(as_bytes(plaintext, "plaintext")).cast("B")
        encryptor = self._whole(data, keyring, materials_manager, encryption_context, algorithm, frame_length)
        return seal_into(encryptor, data, out)

    def decrypt_into(
        self,
        ciphertext: Bytes,
        out: bytearray | memoryview,
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> DecryptedInto:
        """:meth:`decrypt` into the caller's buffer: the plaintext is ``out[:result.length]``.

        ``out`` grows as for :meth:`encrypt_into` (to the plaintext length the message's layout
        gives). If decryption fails, what was written into ``out`` is zeroed. A compressed message is
        refused (:class:`UsageError`): decompress with :meth:`decrypt` or :meth:`decrypt_stream`.
        """
        data = memoryview(as_bytes(ciphertext, "ciphertext")).cast("B")
        decryptor = self._decryptor(keyring, materials_manager, encryption_context, streaming=False)
        length = decrypt_whole_into(decryptor, data, out)
        header, context = header_and_context(decryptor)
        return DecryptedInto(length, header, context)

    def encrypting_reader(
        self,
        source: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        read_size: int = DEFAULT_READ_SIZE,
        compression: str | None = None,
    ) -> EncryptingReader:
        """Wrap a readable plaintext ``source``; reading the result yields the message (see :meth:`encrypt`)."""
        context = mark(encryption_context, compression)
        encryptor = self._encryptor(keyring, materials_manager, context, algorithm, frame_length)
        plain = source if compression is None else cast(IO[bytes], compressed.CompressingSource(source))
        return EncryptingReader(plain, encryptor, read_size=read_size)

    def encrypting_writer(
        self,
        sink: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        close_sink: bool = False,
        compression: str | None = None,
    ) -> EncryptingWriter:
        """Wrap a writable ``sink``; plaintext written to the result reaches it as a message (see :meth:`encrypt`)."""
        context = mark(encryption_context, compression)
        encryptor = self._encryptor(keyring, materials_manager, context, algorithm, frame_length)
        writer = EncryptingWriter if compression is None else compressed.CompressingWriter
        return writer(sink, encryptor, close_sink=close_sink)

    def decrypting_reader(
        self,
        source: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        read_size: int = DEFAULT_READ_SIZE,
    ) -> DecryptingReader:
        """Wrap a readable message ``source``; reading the result yields authenticated plaintext (decompressed)."""
        decryptor = self._decryptor(keyring, materials_manager, encryption_context)
        limit = compressed.limit_for(self.max_decompressed_bytes, whole=False)
        return compressed.DecompressingReader(source, decryptor, read_size=read_size, max_output=limit)

    def decrypting_writer(
        self,
        sink: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        close_sink: bool = False,
    ) -> DecryptingWriter:
        """Wrap a writable ``sink``; a message written to the result reaches it as plaintext (decompressed)."""
        decryptor = self._decryptor(keyring, materials_manager, encryption_context)
        limit = compressed.limit_for(self.max_decompressed_bytes, whole=False)
        plain = cast(IO[bytes], compressed.DecompressingSink(sink, decryptor, limit))
        return DecryptingWriter(plain, decryptor, close_sink=close_sink)

    def encrypt_stream(
        self,
        source: IO[bytes],
        sink: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        plaintext_length: int | None = None,
        compression: str | None = None,
    ) -> StreamResult:
        """Encrypt everything ``source`` yields into ``sink`` as one message, with reused buffers.

        Memory stays at a few MiB; if it raises, ``sink`` holds no complete message. Compressed:
        see :meth:`encrypt` (``plaintext_length`` then does not apply: the message holds fewer bytes)."""
        context = mark(encryption_context, compression)
        length_known = plaintext_length if compression is None else None
        encryptor = self._encryptor(
            keyring, materials_manager, context, algorithm, frame_length, plaintext_length=length_known
        )
        streamer = pump.encrypt_stream if compression is None else compressed.encrypt_stream
        length = streamer(source, sink, encryptor)
        return StreamResult(encryptor.header, dict(encryptor.encryption_context), length)

    def decrypt_stream(
        self,
        source: IO[bytes],
        sink: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> StreamResult:
        """Decrypt the message ``source`` yields into ``sink``, with reused buffers.

        Only authenticated plaintext reaches ``sink``, but only a normal return
        proves the message was complete (and, for signed suites, its signature
        valid): if this raises, discard what reached ``sink``.
        """
        decryptor = self._decryptor(keyring, materials_manager, encryption_context)
        limit = compressed.limit_for(self.max_decompressed_bytes, whole=False)
        length = compressed.decrypt_stream(source, sink, decryptor, limit)
        return StreamResult(*header_and_context(decryptor), length)

    def open_seekable(
        self,
        fileobj: IO[bytes],
        *,
        keyring: Keyring | None = None,
        materials_manager: CryptoMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        allow_unverified_signature: bool = False,
    ) -> SeekableDecryptingReader:
        """Open a seekable plaintext view of the framed message in a seekable ``fileobj``.

        Reads fetch and authenticate only the frames they need. Signed messages are
        refused unless ``allow_unverified_signature`` (their signature needs the
        whole message; the frames are still authenticated), and always by a client
        with ``refuse_signed``.
        """
        decryptor = self._decryptor(keyring, materials_manager, encryption_context)
        fetch, size = file_fetch(fileobj)
        return SeekableDecryptingReader(fetch, size, decryptor, allow_unverified_signature=allow_unverified_signature)


#: The client behind the quick-start functions: ``Client()``, every setting at its default.
DEFAULT_CLIENT: Client = Client()

# The one-line quick start: ``busta.encrypt(data, keyring=k)`` is ``busta.Client().encrypt(...)``.
encrypt = DEFAULT_CLIENT.encrypt
decrypt = DEFAULT_CLIENT.decrypt
encrypt_into = DEFAULT_CLIENT.encrypt_into
decrypt_into = DEFAULT_CLIENT.decrypt_into
encrypt_stream = DEFAULT_CLIENT.encrypt_stream
decrypt_stream = DEFAULT_CLIENT.decrypt_stream
encrypting_reader = DEFAULT_CLIENT.encrypting_reader
encrypting_writer = DEFAULT_CLIENT.encrypting_writer
decrypting_reader = DEFAULT_CLIENT.decrypting_reader
decrypting_writer = DEFAULT_CLIENT.decrypting_writer
open_seekable = DEFAULT_CLIENT.open_seekable
start_encryption = DEFAULT_CLIENT.start_encryption
start_decryption = DEFAULT_CLIENT.start_decryption


def client_or_default(sdk: Client | None) -> Client:
    """``sdk``, or the default client for None (``sdk=`` of :mod:`busta.s3`, :mod:`busta.bulk`)."""
    if sdk is None:
        return DEFAULT_CLIENT
    if not isinstance(sdk, Client):
        raise UsageError(f"sdk must be a busta.Client, not {type(sdk).__name__}")
    return sdk
