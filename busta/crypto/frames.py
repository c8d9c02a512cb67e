"""Sealing and opening frames with the message's AEAD, straight into caller buffers.

The hot path of busta: each call handles a run of consecutive regular frames
with as little Python per frame as possible (one header write, one AAD, one
AES-GCM call). Callers split runs across threads; AES-GCM releases the GIL.
"""

from __future__ import annotations

from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._secrets import refuse_pickling
from ..errors import AuthenticationError, MalformedMessageError, TruncatedMessageError
from ..format.body import (
    FINAL_FRAME_STRING,
    FINAL_HEAD_BYTES,
    FINAL_MARKER,
    REGULAR_HEAD,
    REGULAR_HEAD_BYTES,
    REGULAR_IV_OFFSET,
    SEQUENCE_BYTES,
    SEQUENCE_NUMBER,
    FrameHead,
    body_aad,
    final_frame_head,
    frame_iv,
    frame_sequence,
    read_sequence_number,
    regular_aad_parts,
)
from ..format.layout import regular_frame_size
from ..suites import TAG_BYTES

__all__ = ["FrameCodec"]


class FrameCodec:
    """Seals and opens the frames of one message (its AEAD, message id and frame length)."""

    __slots__ = ("_aead", "_regular_aad_prefix", "_regular_aad_suffix", "frame_length", "message_id", "step")

    def __init__(self, aead: AESGCM, message_id: bytes, frame_length: int):
        self._aead = aead
        self.message_id = message_id
        self.frame_length = frame_length
        self.step = regular_frame_size(frame_length)
        self._regular_aad_prefix, self._regular_aad_suffix = regular_aad_parts(message_id, frame_length)

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)  # it holds the message's AEAD key

    def seal_regular(self, first_seq: int, src: memoryview, dst: memoryview, count: int) -> None:
        """Seal ``count`` regular frames from ``src`` (count x frame length bytes) into ``dst``."""
        frame, step = self.frame_length, self.step
        encrypt_into, pack_into, pack_seq = self._aead.encrypt_into, REGULAR_HEAD.pack_into, SEQUENCE_NUMBER.pack_into
        aad, seq_at = self._regular_aad(), len(self._regular_aad_prefix)  # this call's own: runs share no AAD
        iv_at, head = REGULAR_IV_OFFSET, REGULAR_HEAD_BYTES
        src_pos = dst_pos = 0
        for seq in range(first_seq, first_seq + count):
            pack_into(dst, dst_pos, seq, seq)  # the head: the sequence number, then the IV that ends with it
            pack_seq(aad, seq_at, seq)
            encrypt_into(
                dst[dst_pos + iv_at : dst_pos + head],
                src[src_pos : src_pos + frame],
                aad,
                dst[dst_pos + head : dst_pos + step],
            )
            src_pos += frame
            dst_pos += step

    def _regular_aad(self) -> bytearray:
        """A regular frame's AAD with a zero sequence number, which the caller packs in frame by frame."""
        return bytearray(self._regular_aad_prefix + bytes(SEQUENCE_BYTES) + self._regular_aad_suffix)

    def seal_final(self, seq: int, src: memoryview | bytes, dst: memoryview) -> int:
        """Seal the final frame into ``dst``; return its length on the wire."""
        iv = frame_iv(seq)
        length = len(src)
        dst[:FINAL_HEAD_BYTES] = final_frame_head(seq, iv, length)
        aad = body_aad(self.message_id, FINAL_FRAME_STRING, seq, length)
        self._aead.encrypt_into(iv, src, aad, dst[FINAL_HEAD_BYTES : FINAL_HEAD_BYTES + length + TAG_BYTES])
        return FINAL_HEAD_BYTES + length + TAG_BYTES

    def open_regular(self, first_seq: int, src: memoryview, dst: memoryview, count: int, base_offset: int) -> None:
        """Open ``count`` regular frames from ``src`` into ``dst``, checking each sequence number.

        ``base_offset`` places ``src`` in the message, for errors. A frame that
        fails leaves zeros, never unauthenticated plaintext, in its part of ``dst``.
        """
        frame, step = self.frame_length, self.step
        if len(src) < count * step:
            raise TruncatedMessageError(f"{count} frames need {count * step} bytes, not {len(src)}", offset=base_offset)
        decrypt_into, unpack_seq, pack_seq = (
            self._aead.decrypt_into,
            read_sequence_number,
            SEQUENCE_NUMBER.pack_into,
        )
        aad, seq_at = self._regular_aad(), len(self._regular_aad_prefix)  # this call's own: runs share no AAD
        iv_at, head = REGULAR_IV_OFFSET, REGULAR_HEAD_BYTES  # locals: read per frame
        src_pos = dst_pos = 0
        for seq in range(first_seq, first_seq + count):
            if unpack_seq(src, src_pos)[0] != seq:
                raise _sequence_error(src, src_pos, seq, base_offset)
            pack_seq(aad, seq_at, seq)
            target = dst[dst_pos : dst_pos + frame]
            try:
                decrypt_into(src[src_pos + iv_at : src_pos + head], src[src_pos + head : src_pos + step], aad, target)
            except InvalidTag:
                _wipe(target)  # decrypt_into wrote unauthenticated plaintext before it checked the tag
                raise AuthenticationError(f"frame {seq} does not authenticate") from None
            src_pos += step
            dst_pos += frame

    def open_block(
        self, head: FrameHead, sequence: int, content_string: bytes, frame: memoryview, dst: memoryview, *, offset: int
    ) -> None:
        """Open a final frame or a non-framed body that must be frame ``sequence``.

        ``frame`` starts at the parsed ``head``; ``offset`` places it in the message, for errors.
        """
        if len(frame) < head.total_length:
            raise TruncatedMessageError(f"the frame needs {head.total_length} bytes, not {len(frame)}", offset=offset)
        if head.sequence_number != sequence:
            raise MalformedMessageError(
                f"final frame {head.sequence_number} found where frame {sequence} was expected",
                field="sequence number",
                offset=offset,
            )
        length = head.content_length
        aad = body_aad(self.message_id, content_string, sequence, length)
        try:
            self._aead.decrypt_into(head.iv, frame[head.head_length : head.total_length], aad, dst[:length])
        except InvalidTag:
            _wipe(dst[:length])
            what = "final frame" if content_string == FINAL_FRAME_STRING else "message body"
            raise AuthenticationError(f"{what} {sequence} does not authenticate") from None


def _wipe(view: memoryview) -> None:
    view[:] = bytes(len(view))


def _sequence_error(src: memoryview, pos: int, expected: int, base_offset: int) -> MalformedMessageError:
    found = frame_sequence(src, pos)
    if found == FINAL_MARKER:
        return MalformedMessageError(f"final frame found where regular frame {expected} was expected")
    return MalformedMessageError(
        f"frame {found} found where frame {expected} was expected", field="sequence number", offset=base_offset + pos
    )
