"""The async entry points: :class:`Client` (a :class:`busta.Client`'s settings, awaited) and the
module functions of a default one. Same arguments, errors and bytes as the sync calls."""

from __future__ import annotations

from collections.abc import Mapping

from .._arguments import Bytes, as_bytes
from .._frozen import field, record
from .._start import decryptor_engine, encryption_request, encryptor_for, seal_whole
from ..api import DEFAULT_CLIENT
from ..api import Client as SyncClient
from ..compression import Decompressor, compress_whole, compression_of, mark
from ..errors import UsageError
from ..limits import AIO_INLINE_BYTES
from ..results import DecryptResult, StreamResult
from ..streaming import compressed
from ..streaming.encryptor import MessageEncryptor
from ..streaming.whole import decrypt_body, header_and_context
from ..suites import AlgorithmSuite
from ._drive import AsyncDecryptor
from ._io import AsyncDecryptingReader, AsyncDecryptingWriter, AsyncEncryptingReader, AsyncEncryptingWriter
from ._offload import AnyKeyring, AnyMaterialsManager, async_materials_manager_for, frame_work, off_loop
from ._streams import CompressingSource, as_sink, as_source, decrypt_stream, encrypt_stream

__all__ = ["Client"]


@record
class Client:
    """The async form of ``sdk`` (a :class:`busta.Client`: policy, limits, threads; default ``busta.Client()``).

    Keyrings and materials managers may be sync or async; sync ones run in a thread. Frame work on
    more than :data:`~busta.limits.AIO_INLINE_BYTES` bytes runs in a thread too.
    """

    sdk: SyncClient = field(default=DEFAULT_CLIENT)

    def __post_init__(self) -> None:
        if not isinstance(self.sdk, SyncClient):
            raise UsageError(f"busta.aio.Client needs a busta.Client, not {type(self.sdk).__name__}")

    async def start_encryption(
        self,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        plaintext_length: int | None = None,
    ) -> MessageEncryptor:
        """Await the materials and return the sans-I/O encryptor (see :meth:`busta.Client.start_encryption`)."""
        return await self._start_encryption(
            keyring, materials_manager, encryption_context, algorithm, frame_length, plaintext_length, streaming=True
        )

    async def _start_encryption(  # noqa: PLR0917 - start_encryption's arguments, and what for
        self,
        keyring: AnyKeyring | None,
        materials_manager: AnyMaterialsManager | None,
        encryption_context: Mapping[str, str] | None,
        algorithm: AlgorithmSuite | int | None,
        frame_length: int | None,
        plaintext_length: int | None,
        *,
        streaming: bool,
    ) -> MessageEncryptor:
        sdk = self.sdk
        request = encryption_request(
            sdk.commitment_policy,
            sdk.max_encrypted_data_keys,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
            plaintext_length=plaintext_length,
        )
        cmm = async_materials_manager_for(keyring, materials_manager)
        materials = await cmm.get_encryption_materials(request)
        return encryptor_for(
            materials,
            request,
            frame_length=frame_length,
            threads=sdk.threads,
            max_header_bytes=sdk.max_header_bytes,
            streaming=streaming,
        )

    def start_decryption(
        self,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> AsyncDecryptor:
        """An :class:`AsyncDecryptor` for one message under this client's policy and limits."""
        cmm = async_materials_manager_for(keyring, materials_manager)
        engine = decryptor_engine(encryption_context, streaming=True, **self.sdk.decryption_settings())
        return AsyncDecryptor(engine, cmm)

    async def encrypt(
        self,
        plaintext: Bytes,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        compression: str | None = None,
    ) -> bytes:
        """:func:`busta.encrypt`, awaited: the same message, the same errors."""
        data = memoryview(as_bytes(plaintext, "plaintext")).cast("B")
        if compression is not None:
            encryption_context = mark(encryption_context, compression)
            data = memoryview(await frame_work(len(data), compress_whole, data))
        encryptor = await self._start_encryption(
            keyring, materials_manager, encryption_context, algorithm, frame_length, len(data), streaming=False
        )
        return await frame_work(len(data), seal_whole, encryptor, data)

    async def decrypt(
        self,
        ciphertext: Bytes,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> DecryptResult:
        """:func:`busta.decrypt`, awaited: the same plaintext, the same errors."""
        data = memoryview(as_bytes(ciphertext, "ciphertext")).cast("B")
        cmm = async_materials_manager_for(keyring, materials_manager)
        engine = decryptor_engine(encryption_context, streaming=False, **self.sdk.decryption_settings())
        decryptor = AsyncDecryptor(engine, cmm, inline_bytes=AIO_INLINE_BYTES if len(data) <= AIO_INLINE_BYTES else 0)
        start = await decryptor.read_header(data)
        limit = compressed.limit_for(self.sdk.max_decompressed_bytes, whole=True)
        return await frame_work(len(data), _decrypted, decryptor, data, start, limit)

    async def encrypt_stream(
        self,
        source: object,
        sink: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
        plaintext_length: int | None = None,
        compression: str | None = None,
    ) -> StreamResult:
        """Encrypt everything the async ``source`` yields into the async ``sink`` (see busta.aio's module doc);
        ``compression="zstd"`` compresses it first (``plaintext_length`` then does not apply)."""
        src, dst = as_source(source), as_sink(sink)
        encryptor = await self.start_encryption(
            keyring=keyring,
            materials_manager=materials_manager,
            encryption_context=mark(encryption_context, compression),
            algorithm=algorithm,
            frame_length=frame_length,
            plaintext_length=plaintext_length if compression is None else None,
        )
        if compression is None:
            length = await encrypt_stream(src, dst, encryptor)
        else:
            compressing = CompressingSource(src)
            await encrypt_stream(compressing, dst, encryptor)
            length = compressing.consumed
        return StreamResult(encryptor.header, dict(encryptor.encryption_context), length)

    async def decrypt_stream(
        self,
        source: object,
        sink: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> StreamResult:
        """Decrypt the message the async ``source`` yields into the async ``sink``: authenticated plaintext only.

        Only a normal return proves the message complete (and its signature valid): if it raises
        or is cancelled, discard what reached ``sink``. A compressed message is decompressed (in
        bounded pieces, within the client's ``max_decompressed_bytes``; docs/compression.md).
        """
        src, dst = as_source(source), as_sink(sink)
        decryptor = self.start_decryption(
            keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
        )
        plain = _Decompressing(dst, decryptor, compressed.limit_for(self.sdk.max_decompressed_bytes, whole=False))
        await decrypt_stream(src, plain, decryptor)
        plain.finish()
        header, context = decryptor.header, decryptor.encryption_context
        assert header is not None and context is not None
        return StreamResult(header, context, plain.written)

    async def encrypting_writer(
        self,
        sink: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
    ) -> AsyncEncryptingWriter:
        """An async writer (``async with await aio.encrypting_writer(sink, keyring=k) as w``) of plaintext
        into the async ``sink``; the materials are awaited here."""
        dst = as_sink(sink)
        encryptor = await self.start_encryption(
            keyring=keyring,
            materials_manager=materials_manager,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
        )
        return AsyncEncryptingWriter(dst, encryptor)

    def decrypting_reader(
        self,
        source: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> AsyncDecryptingReader:
        """An async reader (and async iterator) of the authenticated plaintext of the message in ``source``."""
        decryptor = self.start_decryption(
            keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
        )
        return AsyncDecryptingReader(as_source(source), decryptor)

    async def encrypting_reader(
        self,
        source: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
        algorithm: AlgorithmSuite | int | None = None,
        frame_length: int | None = None,
    ) -> AsyncEncryptingReader:
        """An async reader (and async iterator) of the message of the plaintext in the async ``source``."""
        src = as_source(source)
        encryptor = await self.start_encryption(
            keyring=keyring,
            materials_manager=materials_manager,
            encryption_context=encryption_context,
            algorithm=algorithm,
            frame_length=frame_length,
        )
        return AsyncEncryptingReader(src, encryptor)

    def decrypting_writer(
        self,
        sink: object,
        *,
        keyring: AnyKeyring | None = None,
        materials_manager: AnyMaterialsManager | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> AsyncDecryptingWriter:
        """An async writer of a message whose authenticated plaintext reaches the async ``sink``."""
        decryptor = self.start_decryption(
            keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
        )
        limit = compressed.limit_for(self.sdk.max_decompressed_bytes, whole=False)
        return AsyncDecryptingWriter(_Decompressing(sink, decryptor, limit), decryptor)


class _Decompressing:
    """The sink of an async decryption: plaintext passed through, or, if the authenticated context
    records a compression, decompressed in bounded pieces (each made in a thread) into ``sink``."""

    def __init__(self, sink: object, decryptor: AsyncDecryptor, max_output: int):
        self._sink = as_sink(sink)
        self._decryptor = decryptor
        self._max_output = max_output
        self._decompressor: Decompressor | None = None
        self._decided = False
        self.written = 0

    def _decide(self) -> Decompressor | None:
        if not self._decided:
            if compression_of(self._decryptor.encryption_context) is not None:
                self._decompressor = Decompressor(max_output=self._max_output)
            self._decided = True
        return self._decompressor

    async def write(self, data: bytes | memoryview, /) -> None:
        decompressor = self._decide()
        if decompressor is None:
            await self._sink.write(data)
            self.written += len(data)
            return
        pieces = decompressor.feed(data)  # ``data`` stays valid until this returns: the pump waits for it
        while (piece := await off_loop(next, pieces, None)) is not None:
            await self._sink.write(piece)
            self.written += len(piece)

    def finish(self) -> None:
        """The plaintext ended: a compressed one must have been one whole zstd frame (:class:`CompressionError`)."""
        decompressor = self._decide()
        if decompressor is not None:
            decompressor.finish()


def _decrypted(decryptor: AsyncDecryptor, data: memoryview, start: int, limit: int) -> DecryptResult:
    plaintext = decrypt_body(decryptor.engine, data, start)
    header, context = header_and_context(decryptor.engine)
    return DecryptResult(compressed.decompressed(plaintext, context, limit), header, context)
