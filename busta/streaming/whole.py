"""One-shot decryption of a whole message held in memory (``busta.decrypt``)."""

from __future__ import annotations

from .._buffers import room_for
from ..compression import compression_of
from ..errors import TruncatedMessageError, UsageError
from ..format import ContentType, Header
from ..format.layout import framed_plaintext_length
from ..materials import CryptoMaterialsManager
from .decryptor import MessageDecryptor
from .driver import DrivenDecryptor

__all__ = ["decrypt_body", "decrypt_whole", "decrypt_whole_into", "header_and_context"]


def header_and_context(decryptor: DrivenDecryptor | MessageDecryptor) -> tuple[Header, dict[str, str]]:
    """The header and authenticated encryption context of a message the decryptor has read."""
    header, context = decryptor.header, decryptor.encryption_context
    assert header is not None and context is not None
    return header, context


def decrypt_whole(engine: MessageDecryptor, materials_manager: CryptoMaterialsManager, data: memoryview) -> bytes:
    """Decrypt a whole message into one buffer of the exact plaintext size when the layout tells it.

    The one-shot call's own engine, which nobody else holds: its materials are fetched here, on the
    calling thread, with no :class:`DrivenDecryptor` around it (that one's lock and sticky error
    serve decryptors a caller keeps and feeds; this one lives for this call only).
    """
    start = engine.read_header(data)
    request = engine.decryption_request
    if request is not None:  # the header is complete
        engine.supply_materials(materials_manager.decrypt_materials(request))
    return decrypt_body(engine, data, start)


def decrypt_body(engine: MessageDecryptor, data: memoryview, start: int) -> bytes:
    """:func:`decrypt_whole` once the header (``start`` bytes, 0: incomplete) was read and its materials supplied."""
    if not start:  # the header is incomplete or wrong: the state machine says which
        plaintext = engine.update(data)
        engine.finalize()
        return plaintext  # pragma: no cover - finalize raises
    return engine.open_rest(data[start:])


def decrypt_whole_into(decryptor: DrivenDecryptor, data: memoryview, out: object) -> int:
    """Decrypt a whole message into the caller's buffer ``out``; return the plaintext length.

    If it fails, the part of ``out`` it wrote is zeroed: nothing of a message that did not
    authenticate to its end (its signature included) is left there.
    """
    start = decryptor.read_header(data)
    header = decryptor.header
    if not start or header is None:
        decryptor.finalize()  # raises: the header is incomplete
        raise TruncatedMessageError("the message ended early, in the header")  # pragma: no cover
    if compression_of(decryptor.encryption_context) is not None:
        raise UsageError("a compressed message is decrypted by decrypt() or decrypt_stream(), not into a buffer")
    length = None
    if header.content_type is ContentType.FRAMED:
        length = framed_plaintext_length(data[start:], 0, header.frame_length, header.suite.signed)
    if length is None:  # non-framed, or not a well-laid-out framed message: at most the body's bytes
        length = len(data) - start
    view = room_for(out, length)
    try:
        return decryptor.open_rest_into(data[start:], view)
    except BaseException:
        view[:] = bytes(len(view))
        raise
