"""Pure wire encoding and decoding: bytes in, frozen values out. No keys, no I/O."""

from .body import FrameHead, body_aad, frame_iv, parse_footer, parse_frame_head, parse_nonframed_head
from .header import (
    ContentType,
    EncryptedDataKey,
    Header,
    HeaderAuth,
    ParsedHeader,
    parse_header,
    serialize_header,
    serialize_header_auth,
)

__all__ = [
    "ContentType",
    "EncryptedDataKey",
    "FrameHead",
    "Header",
    "HeaderAuth",
    "ParsedHeader",
    "body_aad",
    "frame_iv",
    "parse_footer",
    "parse_frame_head",
    "parse_header",
    "parse_nonframed_head",
    "serialize_header",
    "serialize_header_auth",
]
