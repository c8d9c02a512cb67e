"""The sans-I/O message encryptor: plaintext bytes in, message bytes out."""

from __future__ import annotations

import os

from ..context import serialize_context
from ..crypto.kdf import derive_keys
from ..crypto.signing import Signer
from ..errors import EnvelopeError, LimitExceededError, UsageError
from ..format import ContentType, Header, HeaderAuth, serialize_header, serialize_header_auth
from ..format.body import (
    FINAL_FRAME_STRING,
    FINAL_HEAD_BYTES,
    FRAME_STRING,
    REGULAR_HEAD_BYTES,
    body_aad,
    final_frame_head,
    frame_iv,
    regular_frame_head,
    serialize_footer,
)
from ..format.header import MESSAGE_ID_BYTES
from ..limits import MAX_FRAME_LENGTH, MAX_FRAMES
from ..materials import EncryptionMaterials
from ..suites import IV_BYTES, TAG_BYTES

__all__ = ["MessageEncryptor", "framed_message_length"]

_ZERO_IV = bytes(IV_BYTES)


def framed_message_length(header_length: int, plaintext_length: int, frame_length: int, signature_bytes: int) -> int:
    """The exact length of the message envelope writes for ``plaintext_length`` bytes (footer excluded
    when ``signature_bytes`` is 0)."""
    regular = max(0, (plaintext_length - 1) // frame_length)
    final_content = plaintext_length - regular * frame_length
    body = regular * (REGULAR_HEAD_BYTES + frame_length + TAG_BYTES) + FINAL_HEAD_BYTES + final_content + TAG_BYTES
    footer = 2 + signature_bytes if signature_bytes else 0
    return header_length + body + footer


class MessageEncryptor:
    """Turns plaintext into one framed message, a frame at a time.

    ``update`` returns the header (on the first call) and every frame completed
    so far; ``finalize`` returns the final frame and, for signed suites, the
    footer. The last ``frame_length`` bytes of plaintext are held back until
    ``finalize`` so that the final frame is never empty unless the whole
    plaintext is. After an error every call raises that error again; after
    ``finalize`` every call raises :class:`UsageError`.
    """

    def __init__(self, materials: EncryptionMaterials, *, frame_length: int, message_id: bytes | None = None):
        if not 1 <= frame_length <= MAX_FRAME_LENGTH:
            raise UsageError(f"frame_length must be between 1 and {MAX_FRAME_LENGTH}, not {frame_length}")
        if materials.data_key is None or not materials.encrypted_data_keys:
            raise UsageError("encryption materials need a data key and at least one encrypted data key")
        suite = materials.suite
        if suite.signed and materials.signing_key is None:
            raise UsageError(f"{suite.name} needs a signing key in the materials")
        id_len = MESSAGE_ID_BYTES[suite.message_format]
        message_id = os.urandom(id_len) if message_id is None else message_id
        if len(message_id) != id_len:
            raise UsageError(f"message id must be {id_len} bytes for {suite.name}")
        keys = derive_keys(suite, materials.data_key, message_id)
        required = materials.required_context_keys
        stored = {k: v for k, v in materials.encryption_context.items() if k not in required}
        header = Header(
            suite, message_id, stored, materials.encrypted_data_keys, ContentType.FRAMED, frame_length, keys.commitment
        )
        raw = serialize_header(header)
        required_aad = serialize_context({k: materials.encryption_context[k] for k in required})
        tag = keys.aead.encrypt(_ZERO_IV, b"", raw + required_aad)
        self.header = header
        self.header_bytes = raw + serialize_header_auth(suite, HeaderAuth(_ZERO_IV, tag))
        self._aead = keys.aead
        self._signer = Signer(suite, materials.signing_key) if materials.signing_key is not None else None
        if self._signer is not None:
            self._signer.update(self.header_bytes)
        self._frame_length = frame_length
        self._buffer = bytearray()
        self._sequence = 1
        self._header_sent = False
        self._error: EnvelopeError | None = None
        self._finished = False

    @property
    def frame_length(self) -> int:
        return self._frame_length

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._finished:
            raise UsageError("the encryptor is finalized")

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Encrypt more plaintext; return the message bytes that are ready."""
        self._check_usable()
        try:
            return self._update(data)
        except EnvelopeError as exc:
            self._error = exc
            raise

    def _update(self, data: bytes | bytearray | memoryview) -> bytes:
        frame = self._frame_length
        out = bytearray()
        if not self._header_sent:
            out += self.header_bytes
            self._header_sent = True
        if len(self._buffer) + len(data) <= frame:
            self._buffer += data
            return bytes(out)
        src = memoryview(data)
        if self._buffer:
            need = frame - len(self._buffer)
            self._buffer += src[:need]
            src = src[need:]
            out += self._seal_frames(memoryview(self._buffer), 1)
            self._buffer = bytearray()
        count = max(0, (len(src) - 1) // frame)  # keep 1..frame bytes back for the final frame
        if count:
            out += self._seal_frames(src, count)
        self._buffer += src[count * frame :]
        return bytes(out)

    def _seal_frames(self, src: memoryview, count: int) -> bytearray:
        frame = self._frame_length
        if self._sequence + count > MAX_FRAMES:
            raise LimitExceededError("frame count", self._sequence + count, MAX_FRAMES)
        step = REGULAR_HEAD_BYTES + frame + TAG_BYTES
        out = bytearray(step * count)
        view = memoryview(out)
        message_id = self.header.message_id
        for i in range(count):
            seq = self._sequence
            iv = frame_iv(seq)
            base = i * step
            view[base : base + REGULAR_HEAD_BYTES] = regular_frame_head(seq, iv)
            aad = body_aad(message_id, FRAME_STRING, seq, frame)
            self._aead.encrypt_into(
                iv, src[i * frame : (i + 1) * frame], aad, view[base + REGULAR_HEAD_BYTES : base + step]
            )
            self._sequence = seq + 1
        if self._signer is not None:
            self._signer.update(out)
        return out

    def finalize(self) -> bytes:
        """Write the final frame (and footer); return the remaining message bytes."""
        self._check_usable()
        try:
            out = bytearray() if self._header_sent else bytearray(self.header_bytes)
            self._header_sent = True
            seq = self._sequence
            iv = frame_iv(seq)
            plain = bytes(self._buffer)
            aad = body_aad(self.header.message_id, FINAL_FRAME_STRING, seq, len(plain))
            final = final_frame_head(seq, iv, len(plain)) + self._aead.encrypt(iv, plain, aad)
            out += final
            if self._signer is not None:
                self._signer.update(final)
                out += serialize_footer(self._signer.sign())
        except EnvelopeError as exc:
            self._error = exc
            raise
        self._buffer = bytearray()
        self._finished = True
        return bytes(out)
