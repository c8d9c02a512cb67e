"""One-shot decryption of a whole message held in memory (``busta.decrypt``)."""

from __future__ import annotations

from .._buffers import OutputBuffer
from ..errors import MalformedMessageError
from ..format import ContentType, Header
from ..format.layout import framed_plaintext_length
from .decryptor import MessageDecryptor
from .driver import DrivenDecryptor

__all__ = ["decrypt_body", "decrypt_whole", "header_and_context"]


def header_and_context(decryptor: DrivenDecryptor | MessageDecryptor) -> tuple[Header, dict[str, str]]:
    """The header and authenticated encryption context of a message the decryptor has read."""
    header, context = decryptor.header, decryptor.encryption_context
    assert header is not None and context is not None
    return header, context


def decrypt_whole(decryptor: DrivenDecryptor, data: memoryview) -> bytes:
    """Decrypt a whole message into one buffer of the exact plaintext size when the layout tells it."""
    return decrypt_body(decryptor, data, decryptor.read_header(data))


def decrypt_body(decryptor: DrivenDecryptor | MessageDecryptor, data: memoryview, start: int) -> bytes:
    """:func:`decrypt_whole` once the header (``start`` bytes, 0: incomplete) was read and its materials supplied."""
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
        written = decryptor.open_rest_into(data[start:], out.view)
    except BaseException:
        out.discard()
        raise
    if written != length:  # pragma: no cover - the engine checks every frame against the layout
        raise MalformedMessageError("the message body does not match its layout")
    return out.finish()
