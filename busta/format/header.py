"""Pure encoding and decoding of the message header.

Version 1::

    version(1)=01 | type(1)=80 | suite id(2) | message id(16)
    | context length(2) | context | data key count(2) | data keys
    | content type(1) | reserved(4)=0 | IV length(1)=12 | frame length(4)
    | header IV(12) | header tag(16)

Version 2::

    version(1)=02 | suite id(2) | message id(32)
    | context length(2) | context | data key count(2) | data keys
    | content type(1) | frame length(4) | suite data(32)
    | header tag(16)

A data key entry is ``UInt16 + provider id | UInt16 + provider info | UInt16 + ciphertext``.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from .._frozen import record
from ..context import deserialize_context, serialize_context
from ..errors import LimitExceededError, MalformedMessageError
from ..limits import MAX_FRAME_LENGTH, MAX_HEADER_BYTES, MAX_UINT16
from ..suites import COMMITMENT_BYTES, IV_BYTES, SUITES_BY_ID, TAG_BYTES, AlgorithmSuite
from ._cursor import _U16_FROM, Cursor, NeedMoreData, u16, u32

__all__ = [
    "ContentType",
    "EncryptedDataKey",
    "Header",
    "HeaderAuth",
    "HeaderProgress",
    "ParsedHeader",
    "check_data_key_count",
    "parse_header",
    "parse_header_or_need",
    "serialize_header",
    "serialize_header_auth",
]

MESSAGE_ID_BYTES = {1: 16, 2: 32}
_V1_TYPE = 0x80
#: The bytes in front of the suite id: the version (and in v1 the message type).
_V1_START, _V2_START = bytes([1, _V1_TYPE]), bytes([2])
#: The smallest encrypted data key: three empty UInt16-prefixed fields.
_MIN_EDK_BYTES = 6
#: What follows the data keys in a v2 header: content type, frame length, suite data (the commitment), tag.
_V2_TAIL = struct.Struct(f">BI{COMMITMENT_BYTES}s{TAG_BYTES}s")
#: A v2 header has no IV field: its tag was made with this one.
_V2_IV = bytes(IV_BYTES)
#: A v2 header's first fields: version and suite id, then the 32-byte message id and the context length.
_V2_FIRST = struct.Struct(">BH")
_V2_ID_AT = _V2_FIRST.size
_V2_CONTEXT_AT = _V2_ID_AT + MESSAGE_ID_BYTES[2]
_V2_PAIRS_AT = _V2_CONTEXT_AT + 2  # where the serialized context begins
#: What follows the data keys in a v1 header: content type, reserved, IV length, frame length, IV, tag.
_V1_TAIL_BYTES = 1 + 4 + 1 + 4 + IV_BYTES + TAG_BYTES


class ContentType(enum.IntEnum):
    NON_FRAMED = 1
    FRAMED = 2


# Looked up by wire value on every header parsed: a dict lookup costs less than an enum call.
_CONTENT_TYPES = {kind.value: kind for kind in ContentType}


@record
class EncryptedDataKey:
    """One wrapped copy of the data key, as stored in the header."""

    provider_id: str
    provider_info: bytes
    ciphertext: bytes


@record
class Header:
    """The header fields, without its authentication tag."""

    suite: AlgorithmSuite
    message_id: bytes
    encryption_context: dict[str, str]
    encrypted_data_keys: tuple[EncryptedDataKey, ...]
    content_type: ContentType
    frame_length: int
    suite_data: bytes = b""

    @property
    def version(self) -> int:
        return self.suite.message_format


@record
class HeaderAuth:
    iv: bytes
    tag: bytes


@record
class ParsedHeader:
    """A header as read: the fields, its exact bytes before the tag, and its length in all."""

    header: Header
    raw: bytes  # the header bytes covered by the header tag (everything before IV/tag)
    auth: HeaderAuth
    length: int  # raw plus the authentication fields


def check_data_key_count(count: int, limit: int | None) -> None:
    """Raise :class:`LimitExceededError` if ``count`` data keys exceed ``limit`` (None: no limit).

    The one check of ``max_encrypted_data_keys``: a header parsed, materials
    a materials manager returned, a header sealed or rewrapped.
    """
    if limit is not None and count > limit:
        raise LimitExceededError("encrypted data key count", count, limit)


def _edk_bytes(edk: EncryptedDataKey) -> bytes:
    pid = edk.provider_id.encode("utf-8")
    for what, field in (("provider id", pid), ("provider info", edk.provider_info), ("ciphertext", edk.ciphertext)):
        if len(field) > MAX_UINT16:
            raise LimitExceededError(f"encrypted data key {what} length", len(field), MAX_UINT16)
    return (
        u16(len(pid))
        + pid
        + u16(len(edk.provider_info))
        + edk.provider_info
        + u16(len(edk.ciphertext))
        + edk.ciphertext
    )


def serialize_header(header: Header, *, max_header_bytes: int = MAX_HEADER_BYTES) -> bytes:
    """Encode everything the header tag covers.

    Raises :class:`LimitExceededError` when the whole header (these bytes and the
    authentication fields) would exceed ``max_header_bytes``, the limit every
    reader applies by default: no writer makes a header that readers refuse.
    """
    suite, edks = header.suite, header.encrypted_data_keys
    version = suite.message_format
    context = serialize_context(header.encryption_context)
    if not edks:
        raise MalformedMessageError("a message needs at least one encrypted data key", field="data key count")
    if len(edks) > MAX_UINT16:
        raise LimitExceededError("encrypted data key count", len(edks), MAX_UINT16)
    parts = [_V1_START if version == 1 else _V2_START, u16(suite.id), header.message_id, u16(len(context)), context]
    parts.append(u16(len(edks)))
    parts += [_edk_bytes(edk) for edk in edks]
    parts.append(bytes([header.content_type]))
    if version == 1:
        parts += [b"\x00\x00\x00\x00", bytes([IV_BYTES]), u32(header.frame_length)]
    else:
        parts += [u32(header.frame_length), header.suite_data]
    raw = b"".join(parts)
    size = len(raw) + (IV_BYTES + TAG_BYTES if version == 1 else TAG_BYTES)
    if size > max_header_bytes:
        raise LimitExceededError("header size", size, max_header_bytes)
    return raw


def serialize_header_auth(suite: AlgorithmSuite, auth: HeaderAuth) -> bytes:
    """Encode the authentication fields (v1: IV and tag; v2: tag only)."""
    return auth.iv + auth.tag if suite.message_format == 1 else auth.tag


def parse_header(
    data: bytes | bytearray | memoryview,
    *,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ParsedHeader | None:
    """Parse a header from the start of ``data``.

    Returns None when ``data`` ends before the header does, and raises
    :class:`MalformedMessageError` or :class:`LimitExceededError` as soon as
    the bytes seen cannot start a valid header.
    """
    found = parse_header_or_need(
        data, max_encrypted_data_keys=max_encrypted_data_keys, max_header_bytes=max_header_bytes
    )
    return found if isinstance(found, ParsedHeader) else None


class _Start(NamedTuple):
    """The header fields before the data keys."""

    version: int
    suite: AlgorithmSuite
    message_id: bytes
    context: dict[str, str]
    edk_count: int


class HeaderProgress:
    """How far an incomplete header was parsed, so that parsing the same bytes, grown at the end, resumes there.

    Without it a header of many data keys that arrives in small pieces would be
    parsed from its start each time; with it each data key is parsed once.
    """

    __slots__ = ("edks", "pos", "start")

    def __init__(self) -> None:
        self.start: _Start | None = None
        self.edks: list[EncryptedDataKey] = []
        self.pos = 0  # where the data key after the last one in ``edks`` begins


def parse_header_or_need(
    data: bytes | bytearray | memoryview,
    *,
    max_encrypted_data_keys: int | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    progress: HeaderProgress | None = None,
) -> ParsedHeader | int:
    """Like :func:`parse_header`, but when ``data`` ends early return a lower bound on the header's length.

    The bound is above ``len(data)``; parsing again before that many bytes are
    there is wasted work (a streaming reader that did so at every read would
    parse a header of many data keys quadratically often). A bound above
    ``max_header_bytes`` raises :class:`LimitExceededError` at once. ``progress``,
    passed again with the same bytes followed by more, resumes where the last call stopped.
    """
    view = memoryview(data)
    fresh = progress is None or progress.start is None
    parsed = _parse_whole_v2(view, max_encrypted_data_keys) if fresh else None
    try:
        if parsed is None:
            parsed = _parse(Cursor(view), max_encrypted_data_keys, progress)
    except NeedMoreData as more:
        needed = max(more.needed, len(view) + 1)
        if needed > max_header_bytes:
            raise LimitExceededError("header size", needed, max_header_bytes) from None
        return needed
    if parsed.length > max_header_bytes:
        raise LimitExceededError("header size", parsed.length, max_header_bytes)
    return parsed


def _fail(message: str, field: str, offset: int) -> MalformedMessageError:
    return MalformedMessageError(message, field=field, offset=offset)


def _parse(cur: Cursor, max_edks: int | None, progress: HeaderProgress | None) -> ParsedHeader:
    if progress is not None and progress.start is not None:
        start, edks, cur.pos = progress.start, progress.edks, progress.pos
    else:
        start, edks = _parse_start(cur, max_edks), []
        if progress is not None:
            progress.start, progress.edks, progress.pos = start, edks, cur.pos
    version, suite = start.version, start.suite
    tail = _V1_TAIL_BYTES if version == 1 else 1 + 4 + suite.suite_data_bytes + TAG_BYTES
    _parse_edks(cur, start.edk_count, edks, tail, progress)
    content_offset = cur.pos
    content_type = _CONTENT_TYPES.get(cur.u8())
    if content_type is None:
        raise _fail("unknown content type", "content type", content_offset)
    suite_data = b""
    if version == 1:
        if bytes(cur.take(4)) != b"\x00\x00\x00\x00":
            raise _fail("reserved bytes must be zero", "reserved", content_offset + 1)
        if cur.u8() != IV_BYTES:
            raise _fail(f"IV length must be {IV_BYTES}", "IV length", content_offset + 5)
    frame_offset = cur.pos
    frame_length = cur.u32()
    if version == 2:
        suite_data = bytes(cur.take(suite.suite_data_bytes))
    _check_frame_length(content_type, frame_length, frame_offset)
    raw_end = cur.pos
    iv = bytes(cur.take(IV_BYTES)) if version == 1 else _V2_IV
    tag = bytes(cur.take(TAG_BYTES))
    header = Header(suite, start.message_id, start.context, tuple(edks), content_type, frame_length, suite_data)
    return ParsedHeader(header, bytes(cur.view[:raw_end]), HeaderAuth(iv, tag), cur.pos)


def _parse_whole_v2(view: memoryview, max_edks: int | None) -> ParsedHeader | None:
    """The header at the start of ``view`` read straight through, if it is a v2 header that has fully
    arrived and is well formed (almost every header a decryption meets); otherwise None, and
    :func:`_parse` reads it field by field, which says exactly what is missing or wrong.

    Each data key read consumes at least its 6 bytes of lengths, so the loop is bounded by the bytes
    there, whatever count the header claims; a count above ``max_edks`` is left to :func:`_parse`.
    """
    end = len(view)
    if end < _V2_PAIRS_AT:
        return None
    version, suite_id = _V2_FIRST.unpack_from(view, 0)
    suite = SUITES_BY_ID.get(suite_id)
    if version != 2 or suite is None or suite.message_format != 2 or suite.suite_data_bytes != COMMITMENT_BYTES:
        return None
    pos = _V2_PAIRS_AT + _U16_FROM(view, _V2_CONTEXT_AT)[0]
    if pos + 2 > end:
        return None
    count = _U16_FROM(view, pos)[0]
    if count == 0 or (max_edks is not None and count > max_edks):
        return None
    try:
        context = deserialize_context(view[_V2_PAIRS_AT:pos], base_offset=_V2_PAIRS_AT)
    except MalformedMessageError:
        return None
    pos += 2
    edks = []
    for _ in range(count):
        fields = []
        for _ in range(3):  # provider id, provider info, ciphertext: each a UInt16 length and its bytes
            if pos + 2 > end:
                return None
            first = pos + 2
            pos = first + _U16_FROM(view, pos)[0]
            fields.append(bytes(view[first:pos]))
        if pos > end:
            return None
        try:
            provider_id = fields[0].decode("utf-8")
        except UnicodeDecodeError:
            return None
        edks.append(EncryptedDataKey(provider_id, fields[1], fields[2]))
    if end - pos < _V2_TAIL.size:
        return None
    kind, frame_length, suite_data, tag = _V2_TAIL.unpack_from(view, pos)
    if kind != ContentType.FRAMED or not 0 < frame_length <= MAX_FRAME_LENGTH:
        return None
    raw_end = pos + _V2_TAIL.size - TAG_BYTES
    message_id = bytes(view[_V2_ID_AT:_V2_CONTEXT_AT])
    header = Header(suite, message_id, context, tuple(edks), ContentType.FRAMED, frame_length, suite_data)
    return ParsedHeader(header, bytes(view[:raw_end]), HeaderAuth(_V2_IV, tag), raw_end + TAG_BYTES)


def _parse_start(cur: Cursor, max_edks: int | None) -> _Start:
    """Version, suite, message id, context and the data key count."""
    version = cur.u8()
    if version not in MESSAGE_ID_BYTES:
        start = bytes(cur.view[:2])
        if start in (b"AY", b"Ag") or (len(cur.view) == 1 and version == ord("A")):  # base64 of 0x01 0x80, 0x02
            raise _fail(f"the input looks base64-encoded (it starts with {start!r}); decode it first", "version", 0)
        raise _fail(f"unknown message format version 0x{version:02x}", "version", 0)
    if version == 1 and cur.u8() != _V1_TYPE:
        raise _fail("message type must be 0x80", "type", 1)
    suite_offset = cur.pos
    suite_id = cur.u16()
    suite = SUITES_BY_ID.get(suite_id)
    if suite is None:
        raise _fail(f"unknown algorithm suite 0x{suite_id:04x}", "algorithm suite", suite_offset)
    if suite.message_format != version:
        raise _fail(
            f"suite {suite.name} does not belong in a version {version} header", "algorithm suite", suite_offset
        )
    message_id = bytes(cur.take(MESSAGE_ID_BYTES[version]))
    context_offset = cur.pos + 2
    context = deserialize_context(cur.prefixed(), base_offset=context_offset)
    count_offset = cur.pos
    count = cur.u16()
    if count == 0:
        raise _fail("a message needs at least one encrypted data key", "data key count", count_offset)
    if max_edks is not None:
        check_data_key_count(count, max_edks)
    return _Start(version, suite, message_id, context, count)


def _parse_edks(
    cur: Cursor, count: int, edks: list[EncryptedDataKey], tail: int, progress: HeaderProgress | None
) -> None:
    """Parse the data keys after the ``len(edks)`` already parsed; ``tail`` is the length of the header
    fields after them."""
    for index in range(len(edks), count):
        pid_offset = cur.pos
        try:
            pid_raw, info, ciphertext = cur.prefixed(), cur.prefixed(), cur.prefixed()
        except NeedMoreData as more:  # every data key still to come takes at least 6 bytes
            floor = pid_offset + _MIN_EDK_BYTES * (count - index) + tail
            raise NeedMoreData(max(more.needed, floor)) from None
        try:
            pid = pid_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail("provider id is not UTF-8", "provider id", pid_offset) from None
        edks.append(EncryptedDataKey(pid, info, ciphertext))
        if progress is not None:
            progress.pos = cur.pos


def _check_frame_length(content_type: ContentType, frame_length: int, offset: int) -> None:
    if content_type is ContentType.NON_FRAMED and frame_length != 0:
        raise _fail("a non-framed message must have frame length 0", "frame length", offset)
    if content_type is ContentType.FRAMED:
        if frame_length == 0:
            raise _fail("a framed message must have a frame length above 0", "frame length", offset)
        if frame_length > MAX_FRAME_LENGTH:
            raise LimitExceededError("frame length", frame_length, MAX_FRAME_LENGTH)
