"""Pure encoding and decoding of the message body and footer.

Regular frame::   sequence number(4) | IV(12) | ciphertext(frame length) | tag(16)
Final frame::     FFFFFFFF | sequence number(4) | IV(12) | content length(4) | ciphertext | tag(16)
Non-framed body:: IV(12) | content length(8) | ciphertext | tag(16)
Footer::          signature length(2) | DER ECDSA signature

Body AAD = message id | content string | UInt32 sequence number | UInt64 plaintext length.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import LimitExceededError, MalformedMessageError
from ..limits import MAX_NONFRAMED_CONTENT_LENGTH
from ..suites import IV_BYTES, TAG_BYTES
from ._cursor import Cursor, NeedMoreData, u16

__all__ = [
    "FINAL_FRAME_STRING",
    "FINAL_HEAD_BYTES",
    "FINAL_LENGTH_OFFSET",
    "FINAL_MARKER",
    "FINAL_MARKER_BYTES",
    "FRAME_STRING",
    "NONFRAMED_HEAD_BYTES",
    "NONFRAMED_LENGTH_OFFSET",
    "REGULAR_HEAD",
    "SINGLE_BLOCK_STRING",
    "FrameHead",
    "body_aad",
    "final_frame_head",
    "frame_iv",
    "parse_footer",
    "parse_frame_head",
    "parse_nonframed_head",
    "serialize_footer",
]

FRAME_STRING = b"AWSKMSEncryptionClient Frame"
FINAL_FRAME_STRING = b"AWSKMSEncryptionClient Final Frame"
SINGLE_BLOCK_STRING = b"AWSKMSEncryptionClient Single Block"
FINAL_MARKER = 0xFFFFFFFF
FINAL_MARKER_BYTES = FINAL_MARKER.to_bytes(4, "big")

_SEQ_LEN = struct.Struct(">IQ")
#: A regular frame's head as busta writes it: sequence number, then the IV (8 zero bytes and the
#: sequence number again), packed straight into the output buffer.
REGULAR_HEAD = struct.Struct(">I8xI")
_FINAL_HEAD = struct.Struct(">II12sI")
_IV_PAD = bytes(IV_BYTES - 4)

REGULAR_HEAD_BYTES = REGULAR_HEAD.size  # 16
FINAL_HEAD_BYTES = _FINAL_HEAD.size  # 24
NONFRAMED_HEAD_BYTES = IV_BYTES + 8  # 20
#: Where the content length lies in a final frame's head (UInt32) and a non-framed body's head (UInt64).
FINAL_LENGTH_OFFSET = FINAL_HEAD_BYTES - 4
NONFRAMED_LENGTH_OFFSET = IV_BYTES


def body_aad(message_id: bytes, content_string: bytes, sequence_number: int, length: int) -> bytes:
    """The additional authenticated data of one frame (or the single non-framed block)."""
    return message_id + content_string + _SEQ_LEN.pack(sequence_number, length)


def frame_iv(sequence_number: int) -> bytes:
    """The IV writers use for a frame: its sequence number, left-padded to 12 bytes."""
    return _IV_PAD + sequence_number.to_bytes(4, "big")


def final_frame_head(sequence_number: int, iv: bytes, content_length: int) -> bytes:
    return _FINAL_HEAD.pack(FINAL_MARKER, sequence_number, iv, content_length)


@dataclass(frozen=True, slots=True)
class FrameHead:
    """The fields in front of a frame's ciphertext."""

    sequence_number: int
    iv: bytes
    final: bool
    content_length: int
    head_length: int

    @property
    def total_length(self) -> int:
        """Bytes of the whole frame: head, ciphertext and tag."""
        return self.head_length + self.content_length + TAG_BYTES


def parse_frame_head(view: memoryview, pos: int, frame_length: int) -> FrameHead | None:
    """Parse the head of the frame at ``pos``; None if ``view`` ends first."""
    cur = Cursor(view, pos)
    try:
        first = cur.u32()
        if first != FINAL_MARKER:
            return FrameHead(first, bytes(cur.take(IV_BYTES)), False, frame_length, REGULAR_HEAD_BYTES)
        seq = cur.u32()
        iv = bytes(cur.take(IV_BYTES))
        length_offset = cur.pos
        length = cur.u32()
    except NeedMoreData:
        return None
    if length > frame_length:
        raise MalformedMessageError(
            f"final frame content length {length} exceeds the frame length {frame_length}",
            field="final frame content length",
            offset=length_offset,
        )
    return FrameHead(seq, iv, True, length, FINAL_HEAD_BYTES)


def parse_nonframed_head(view: memoryview, pos: int) -> FrameHead | None:
    """Parse the IV and content length of a non-framed body at ``pos``; None if ``view`` ends first."""
    cur = Cursor(view, pos)
    try:
        iv = bytes(cur.take(IV_BYTES))
        length = cur.u64()
    except NeedMoreData:
        return None
    if length > MAX_NONFRAMED_CONTENT_LENGTH:
        raise LimitExceededError("non-framed content length", length, MAX_NONFRAMED_CONTENT_LENGTH)
    return FrameHead(1, iv, True, length, NONFRAMED_HEAD_BYTES)


def serialize_footer(signature: bytes) -> bytes:
    return u16(len(signature)) + signature


def parse_footer(view: memoryview, pos: int) -> tuple[bytes, int] | None:
    """Return the signature at ``pos`` and the footer length; None if ``view`` ends first."""
    cur = Cursor(view, pos)
    try:
        signature = bytes(cur.take(cur.u16()))
    except NeedMoreData:
        return None
    return signature, cur.pos - pos
