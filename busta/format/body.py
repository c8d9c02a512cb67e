"""Pure encoding and decoding of the message body and footer.

Regular frame::   sequence number(4) | IV(12) | ciphertext(frame length) | tag(16)
Final frame::     FFFFFFFF | sequence number(4) | IV(12) | content length(4) | ciphertext | tag(16)
Non-framed body:: IV(12) | content length(8) | ciphertext | tag(16)
Footer::          signature length(2) | DER ECDSA signature

Body AAD = message id | content string | UInt32 sequence number | UInt64 plaintext length.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

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
    "FOOTER_LENGTH_BYTES",
    "FRAME_STRING",
    "IV_PREFIX",
    "NONFRAMED_HEAD_BYTES",
    "NONFRAMED_LENGTH_OFFSET",
    "REGULAR_HEAD",
    "REGULAR_HEAD_BYTES",
    "REGULAR_IV_OFFSET",
    "SEQUENCE_BYTES",
    "SEQUENCE_NUMBER",
    "SINGLE_BLOCK_STRING",
    "FrameHead",
    "body_aad",
    "final_frame_head",
    "frame_iv",
    "frame_sequence",
    "missing_bytes",
    "parse_footer",
    "parse_frame_head",
    "parse_nonframed_head",
    "read_sequence_number",
    "regular_aad_parts",
    "regular_frames_at",
    "serialize_footer",
]

FRAME_STRING = b"AWSKMSEncryptionClient Frame"
FINAL_FRAME_STRING = b"AWSKMSEncryptionClient Final Frame"
SINGLE_BLOCK_STRING = b"AWSKMSEncryptionClient Single Block"
FINAL_MARKER = 0xFFFFFFFF
FINAL_MARKER_BYTES = FINAL_MARKER.to_bytes(4, "big")

_SEQ_LEN = struct.Struct(">IQ")
_U16 = struct.Struct(">H")
#: A sequence number on the wire (UInt32).
SEQUENCE_NUMBER = struct.Struct(">I")
_U32 = SEQUENCE_NUMBER
_U64 = struct.Struct(">Q")
#: A regular frame's head as busta writes it: sequence number, then the IV (8 zero bytes and the
#: sequence number again), packed straight into the output buffer.
REGULAR_HEAD = struct.Struct(">I8xI")
#: ``read_sequence_number(buffer, pos)[0]``: the sequence number a regular frame at ``pos`` begins
#: with (a bound ``unpack_from``, for the loops that open frames: no call of a function of ours per frame).
read_sequence_number = SEQUENCE_NUMBER.unpack_from
_FINAL_HEAD = struct.Struct(">II12sI")
#: Bytes of a sequence number (and of the final-frame marker in front of a final frame's).
SEQUENCE_BYTES = 4
#: The IV writers use is these zero bytes and then the sequence number.
IV_PREFIX = bytes(IV_BYTES - SEQUENCE_BYTES)
FOOTER_LENGTH_BYTES = 2

REGULAR_HEAD_BYTES = REGULAR_HEAD.size  # 16
FINAL_HEAD_BYTES = _FINAL_HEAD.size  # 24
NONFRAMED_HEAD_BYTES = IV_BYTES + 8  # 20
#: Where the content length lies in a final frame's head (UInt32) and a non-framed body's head (UInt64).
FINAL_LENGTH_OFFSET = FINAL_HEAD_BYTES - 4
NONFRAMED_LENGTH_OFFSET = IV_BYTES
#: Where the IV lies in a regular frame's head.
REGULAR_IV_OFFSET = SEQUENCE_BYTES


def body_aad(message_id: bytes, content_string: bytes, sequence_number: int, length: int) -> bytes:
    """The additional authenticated data of one frame (or the single non-framed block)."""
    return message_id + content_string + _SEQ_LEN.pack(sequence_number, length)


def frame_iv(sequence_number: int) -> bytes:
    """The IV writers use for a frame: its sequence number, left-padded to 12 bytes."""
    return IV_PREFIX + sequence_number.to_bytes(SEQUENCE_BYTES, "big")


def regular_aad_parts(message_id: bytes, frame_length: int) -> tuple[bytes, bytes]:
    """A regular frame's AAD is ``prefix + UInt32 sequence number + suffix``: the two constant parts."""
    return message_id + FRAME_STRING, _SEQ_LEN.pack(0, frame_length)[SEQUENCE_BYTES:]


def frame_sequence(view: memoryview, pos: int) -> int:
    """The sequence number (or final-frame marker) that starts the frame at ``pos``."""
    return int(_U32.unpack_from(view, pos)[0])


def final_frame_head(sequence_number: int, iv: bytes, content_length: int) -> bytes:
    return _FINAL_HEAD.pack(FINAL_MARKER, sequence_number, iv, content_length)


class FrameHead(NamedTuple):
    """The fields in front of a frame's ciphertext (a named tuple: one is made for every message)."""

    sequence_number: int
    iv: bytes
    final: bool
    content_length: int
    head_length: int
    total_length: int  # bytes of the whole frame: head, ciphertext and tag


def _head(sequence_number: int, iv: bytes, final: bool, content_length: int, head_length: int) -> FrameHead:
    return FrameHead(sequence_number, iv, final, content_length, head_length, head_length + content_length + TAG_BYTES)


def parse_frame_head(view: memoryview, pos: int, frame_length: int) -> FrameHead | None:
    """Parse the head of the frame at ``pos``; None if ``view`` ends first."""
    have = len(view) - pos
    if have < SEQUENCE_BYTES:
        return None
    (first,) = _U32.unpack_from(view, pos)
    if first != FINAL_MARKER:
        if have < REGULAR_HEAD_BYTES:
            return None
        iv = bytes(view[pos + SEQUENCE_BYTES : pos + REGULAR_HEAD_BYTES])
        return _head(first, iv, False, frame_length, REGULAR_HEAD_BYTES)
    if have < FINAL_HEAD_BYTES:
        return None
    _, seq, iv, length = _FINAL_HEAD.unpack_from(view, pos)
    if length > frame_length:
        raise MalformedMessageError(
            f"final frame content length {length} exceeds the frame length {frame_length}",
            field="final frame content length",
            offset=pos + FINAL_LENGTH_OFFSET,
        )
    return _head(seq, iv, True, length, FINAL_HEAD_BYTES)


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
    return _head(1, iv, True, length, NONFRAMED_HEAD_BYTES)


def serialize_footer(signature: bytes) -> bytes:
    return u16(len(signature)) + signature


def parse_footer(view: memoryview, pos: int) -> tuple[bytes, int] | None:
    """Return the signature at ``pos`` and the footer length; None if ``view`` ends first."""
    cur = Cursor(view, pos)
    try:
        signature = cur.prefixed()
    except NeedMoreData:
        return None
    return signature, cur.pos - pos


def missing_bytes(held: memoryview, unit: str, step: int = 0) -> int:
    """How many more bytes the unit whose first ``len(held)`` bytes are ``held`` needs at most.

    ``unit`` is ``"frame"`` (a regular frame of ``step`` bytes on the wire, or a
    final frame), ``"nonframed"`` (a non-framed body) or ``"footer"``. Until a
    unit's length field has arrived, the bytes up to its end are asked for.
    """
    have = len(held)
    if unit == "footer":
        if have < FOOTER_LENGTH_BYTES:
            return FOOTER_LENGTH_BYTES - have
        return FOOTER_LENGTH_BYTES + int(_U16.unpack_from(held)[0]) - have
    if unit == "nonframed":
        if have < NONFRAMED_HEAD_BYTES:
            return NONFRAMED_HEAD_BYTES - have
        return NONFRAMED_HEAD_BYTES + int(_U64.unpack_from(held, NONFRAMED_LENGTH_OFFSET)[0]) + TAG_BYTES - have
    if have < SEQUENCE_BYTES:
        return SEQUENCE_BYTES - have
    if held[:SEQUENCE_BYTES] != FINAL_MARKER_BYTES:
        return step - have
    if have < FINAL_HEAD_BYTES:
        return FINAL_HEAD_BYTES - have
    return FINAL_HEAD_BYTES + int(_U32.unpack_from(held, FINAL_LENGTH_OFFSET)[0]) + TAG_BYTES - have


def regular_frames_at(view: memoryview, pos: int, step: int, limit: int) -> int:
    """How many complete regular frames (of ``step`` bytes) start at ``pos``, at most ``limit``,
    stopping at the final-frame marker.

    One C-level pass: the first byte of every frame, then a check only where that byte is 0xFF.
    """
    count = min(limit, (len(view) - pos) // step)
    if count <= 0:
        return 0
    firsts = view[pos : pos + count * step : step].tobytes()
    index = firsts.find(FINAL_MARKER_BYTES[0])
    while index != -1:
        start = pos + index * step
        if view[start : start + SEQUENCE_BYTES] == FINAL_MARKER_BYTES:
            return index
        index = firsts.find(FINAL_MARKER_BYTES[0], index + 1)
    return count
