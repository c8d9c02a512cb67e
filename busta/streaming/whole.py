"""One-shot decryption of a whole message held in memory (``busta.decrypt``)."""

from __future__ import annotations

from .._buffers import OutputBuffer, room_for
from ..compression import compression_of
from ..errors import MalformedMessageError, TruncatedMessageError, UsageError
from ..format import ContentType, Header
from ..format.layout import framed_plaintext_length
from .decryptor import MessageDecryptor
from .driver import DrivenDecryptor

__all__ = ["decrypt_body", "decrypt_whole", "decrypt_whole_into", "header_and_context"]


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
