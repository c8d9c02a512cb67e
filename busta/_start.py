"""The two halves of starting a message, either side of the materials: shared by the sync and async APIs.

:meth:`busta.Client.start_encryption` is ``encryption_request`` -> the materials manager ->
``encryptor_for``; ``busta.aio`` awaits the materials manager between the same two calls. Likewise
``decryptor_engine`` is the engine :meth:`busta.Client.start_decryption` drives, and ``seal_whole``
is the body of ``busta.encrypt``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._arguments import suite_for
from ._buffers import OutputBuffer, room_for
from ._executor import workers_for
from .compression import refuse_reserved
from .context import check_expected, validate_for_encrypt
from .limits import DEFAULT_FRAME_LENGTH
from .materials import EncryptionMaterials, EncryptionRequest
from .streaming._args import check_limit
from .streaming.decryptor import MessageDecryptor
from .streaming.encryptor import MessageEncryptor
from .suites import AlgorithmSuite, CommitmentPolicy

__all__ = ["decryptor_engine", "encryption_request", "encryptor_for", "seal_into", "seal_whole"]


def encryption_request(
    commitment_policy: CommitmentPolicy,
    max_encrypted_data_keys: int | None,
    *,
    encryption_context: Mapping[str, str] | None,
    algorithm: AlgorithmSuite | int | None,
    frame_length: int | None,
    plaintext_length: int | None,
) -> EncryptionRequest:
    """Check one message's arguments (:class:`UsageError`, context errors) and say what materials it needs."""
    if frame_length is not None:
        check_limit("frame_length", frame_length)
    refuse_reserved(encryption_context)  # only compression= sets it
    return EncryptionRequest(
        encryption_context=validate_for_encrypt(encryption_context),
        commitment_policy=commitment_policy,
        suite=suite_for(algorithm),
        plaintext_length=plaintext_length,
        max_encrypted_data_keys=max_encrypted_data_keys,
    )


def encryptor_for(
    materials: EncryptionMaterials,
    request: EncryptionRequest,
    *,
    frame_length: int | None,
    threads: int | None,
    max_header_bytes: int,
    streaming: bool,
) -> MessageEncryptor:
    """The encryptor of the message ``request`` asked for, once its materials came back (``streaming``:
    for a stream's steps, not a message sealed whole; see :func:`busta._executor.workers_for`)."""
    request.commitment_policy.check_encrypt(materials.suite)
    return MessageEncryptor(  # it checks max_encrypted_data_keys too: a custom or caching CMM may not have
        materials,
        frame_length=frame_length or DEFAULT_FRAME_LENGTH,
        workers=workers_for(threads, streaming=streaming),
        plaintext_length=request.plaintext_length,
        max_header_bytes=max_header_bytes,
        max_encrypted_data_keys=request.max_encrypted_data_keys,
    )


def decryptor_engine(
    encryption_context: Mapping[str, str] | None,
    *,
    commitment_policy: CommitmentPolicy,
    max_encrypted_data_keys: int | None,
    max_header_bytes: int,
    max_nonframed_bytes: int,
    refuse_signed: bool,
    threads: int | None,
    streaming: bool,
) -> MessageDecryptor:
    """The sans-I/O decryptor of one message under a client's policy and limits (``streaming``: as for
    :func:`encryptor_for`)."""
    return MessageDecryptor(
        encryption_context=check_expected(encryption_context, "encryption_context"),
        commitment_policy=commitment_policy,
        max_encrypted_data_keys=max_encrypted_data_keys,
        max_header_bytes=max_header_bytes,
        max_nonframed_bytes=max_nonframed_bytes,
        refuse_signed=refuse_signed,
        workers=workers_for(threads, streaming=streaming),
    )


def seal_whole(encryptor: MessageEncryptor, data: memoryview) -> bytes:
    """The whole message of ``data``, in one buffer of its exact size."""
    out = OutputBuffer(encryptor.message_size(len(data)))
    try:
        written = encryptor.seal_whole_into(data, out.view)
    except BaseException:
        out.discard()
        raise
    return out.finish(written)


def seal_into(encryptor: MessageEncryptor, data: memoryview, out: object) -> int:
    """The whole message of ``data`` at the start of the caller's buffer ``out``; its length."""
    return encryptor.seal_whole_into(data, room_for(out, encryptor.message_size(len(data))))
