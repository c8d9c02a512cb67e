"""What a whole-message decryption and a streamed encryption or decryption return."""

from __future__ import annotations

from ._frozen import record
from .format import Header

__all__ = ["DecryptResult", "DecryptedInto", "StreamResult"]


@record
class StreamResult:
    """What :meth:`Client.encrypt_stream` / :meth:`Client.decrypt_stream` did: the message header,
    the authenticated encryption context (stored and required pairs) and the plaintext length."""

    header: Header
    encryption_context: dict[str, str]
    plaintext_length: int


@record
class DecryptResult:
    """A decrypted message: its plaintext, its header, and its authenticated encryption context
    (the stored pairs plus any required pairs the caller supplied)."""

    plaintext: bytes
    header: Header
    encryption_context: dict[str, str]


@record
class DecryptedInto:
    """What :meth:`Client.decrypt_into` did: the plaintext is the first ``length`` bytes of the caller's
    buffer; the header and the authenticated encryption context as for :class:`DecryptResult`."""

    length: int
    header: Header
    encryption_context: dict[str, str]
