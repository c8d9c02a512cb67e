"""Pure arithmetic over the framed body layout: where frames start and how long things are."""

from __future__ import annotations

import struct

from ..suites import TAG_BYTES
from .body import (
    FINAL_HEAD_BYTES,
    FINAL_LENGTH_OFFSET,
    FINAL_MARKER_BYTES,
    FOOTER_LENGTH_BYTES,
    REGULAR_HEAD_BYTES,
    SEQUENCE_BYTES,
)

__all__ = [
    "final_frame_overhead",
    "final_frame_window",
    "frame_split",
    "framed_body_length",
    "framed_plaintext_length",
    "locate_final_frame",
    "regular_frame_size",
]

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
#: A footer is 2 bytes of length and a DER ECDSA signature of at most this many bytes (P-384).
_MAX_SIGNATURE_BYTES = 104
_MAX_FOOTER_BYTES = FOOTER_LENGTH_BYTES + _MAX_SIGNATURE_BYTES

final_frame_overhead = FINAL_HEAD_BYTES + TAG_BYTES


def regular_frame_size(frame_length: int) -> int:
    """Bytes of one regular frame on the wire."""
    return REGULAR_HEAD_BYTES + frame_length + TAG_BYTES


def frame_split(plaintext_length: int, frame_length: int) -> tuple[int, int]:
    """How busta frames ``plaintext_length`` bytes: (regular frame count, final frame content length).

    The final frame is never empty unless the plaintext is.
    """
    regular = max(0, (plaintext_length - 1) // frame_length)
    return regular, plaintext_length - regular * frame_length


def framed_body_length(plaintext_length: int, frame_length: int) -> int:
    """Bytes of the framed body of ``plaintext_length`` bytes, as :func:`frame_split` frames it."""
    regular = max(0, (plaintext_length - 1) // frame_length)  # written out: on every encryption's path
    final = plaintext_length - regular * frame_length
    return regular * (REGULAR_HEAD_BYTES + frame_length + TAG_BYTES) + final_frame_overhead + final


def framed_plaintext_length(message: memoryview, body_start: int, frame_length: int, signed: bool) -> int | None:
    """The plaintext length of a complete framed message, from its layout alone (see :func:`locate_final_frame`)."""
    found = locate_final_frame(message, 0, len(message), body_start, frame_length, signed=signed)
    return None if found is None else found[0] * frame_length + found[1]


def final_frame_window(frame_length: int) -> int:
    """How many bytes at the end of a message always include the final frame's head."""
    return regular_frame_size(frame_length) + final_frame_overhead + frame_length + _MAX_FOOTER_BYTES


def locate_final_frame(
    tail: memoryview, tail_start: int, total: int, body_start: int, frame_length: int, *, signed: bool
) -> tuple[int, int] | None:
    """Find the final frame of a framed message of ``total`` bytes from its last bytes alone.

    ``tail`` holds message bytes ``[tail_start, total)``. Every regular frame has
    the same size, so the final frame can only start at a few offsets; the one
    whose marker and length make it (and the footer of a signed message) end
    exactly at ``total`` wins. Returns (regular frame count, final frame content
    length), or None when the layout does not add up. Nothing here is authenticated.
    """
    step = REGULAR_HEAD_BYTES + frame_length + TAG_BYTES  # regular_frame_size, written out
    body = total - body_start - final_frame_overhead
    if body < 0:
        return None
    most = body // step
    fewest = max(0, (body - _MAX_FOOTER_BYTES - frame_length) // step) if signed else most
    for regular in range(most, fewest - 1, -1):
        final = body_start + regular * step - tail_start
        if final < 0:
            return None
        if tail[final : final + SEQUENCE_BYTES] != FINAL_MARKER_BYTES:
            continue
        (length,) = _U32.unpack_from(tail, final + FINAL_LENGTH_OFFSET)
        end = final + final_frame_overhead + length
        if length > frame_length:
            continue
        if not signed and end + tail_start == total:
            return regular, int(length)
        footer = end + FOOTER_LENGTH_BYTES
        if signed and footer <= len(tail) and footer + _U16.unpack_from(tail, end)[0] + tail_start == total:
            return regular, int(length)
    return None
