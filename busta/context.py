"""Encryption-context rules and its canonical wire encoding.

Wire layout of a non-empty context (an empty one encodes to zero bytes)::

    UInt16 pair count
    count x ( UInt16 key length | key (UTF-8) | UInt16 value length | value (UTF-8) )

Pairs are sorted by the UTF-8 bytes of their keys; keys are unique.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping
from typing import NoReturn

from .errors import EncryptionContextError, LimitExceededError, MalformedMessageError, UsageError
from .limits import (
    MAX_ENCRYPTION_CONTEXT_BYTES,
    MAX_UINT16,
    PARSED_CONTEXT_CACHE_BYTES,
    SERIALIZED_CONTEXT_CACHE_CHARS,
    SERIALIZED_CONTEXT_CACHE_ENTRIES,
)

__all__ = [
    "PUBLIC_KEY_FIELD",
    "RESERVED_PREFIX",
    "check_expected",
    "check_str_pairs",
    "deserialize_context",
    "serialize_context",
    "validate_for_encrypt",
]

RESERVED_PREFIX = "aws-crypto-"
PUBLIC_KEY_FIELD = "aws-crypto-public-key"

_U16 = struct.Struct(">H")
_U16_FROM = _U16.unpack_from


def validate_for_encrypt(context: Mapping[str, str] | None) -> dict[str, str]:
    """Check a caller's context and return a plain copy.

    Keys and values must be strings; keys may not use the reserved ``aws-crypto-`` prefix.
    """
    if context is None:
        return {}
    if type(context) is not dict and not isinstance(context, Mapping):  # a dict skips the slower ABC check
        raise EncryptionContextError(
            f"encryption context must be a mapping of str to str, not {type(context).__name__}"
        )
    result: dict[str, str] = {}
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise EncryptionContextError("encryption context keys and values must be str")
        if key.startswith(RESERVED_PREFIX):
            raise EncryptionContextError(f"encryption context key {key!r} uses the reserved prefix {RESERVED_PREFIX!r}")
        result[key] = value
    return result


def check_expected(context: object, what: str = "the expected encryption context") -> dict[str, str]:
    """Check the context a decrypting caller expects (``None``: none) and return a plain copy.

    It is an argument, so anything but a mapping of str to str is a :class:`UsageError`.
    """
    if context is None:
        return {}
    if type(context) is not dict and not isinstance(context, Mapping):
        _not_a_mapping(context, what)
    copy = dict(context)
    check_str_pairs(copy, what)  # the copy: a mapping that changed between two reads cannot slip by
    return copy


def check_str_pairs(context: object, what: str) -> None:
    """Refuse (:class:`UsageError`) anything but a mapping of str to str; copy nothing."""
    if type(context) is not dict and not isinstance(context, Mapping):  # a dict skips the slower ABC check
        _not_a_mapping(context, what)
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError(f"{what} must map str to str, not {type(key).__name__} to {type(value).__name__}")


def _not_a_mapping(context: object, what: str) -> NoReturn:
    raise UsageError(f"{what} must be a mapping of str to str, not {type(context).__name__}")


def _encode(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise EncryptionContextError(f"encryption context {what} must be str, not {type(text).__name__}")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncryptionContextError(f"encryption context {what} is not valid UTF-8 text") from exc
    if len(raw) > MAX_UINT16:
        raise LimitExceededError(f"encryption context {what} length", len(raw), MAX_UINT16)
    return raw


def serialize_context(context: Mapping[str, str]) -> bytes:
    """Encode ``context`` canonically; an empty context encodes to ``b""``.

    A small context of plain ``str`` pairs (whose hash and equality cannot be overridden) is
    encoded once and remembered: an encryption encodes the same context for the keyring's AAD and
    for the header, and callers reuse a few contexts from message to message.
    """
    if not context:
        return b""
    items = tuple(context.items())
    chars = 0
    for key, value in items:  # one plain loop: generator expressions cost as much as the lookup saves
        if type(key) is not str or type(value) is not str:
            return _serialize_checked(context)
        chars += len(key) + len(value)
    return _remembered(items) if chars <= SERIALIZED_CONTEXT_CACHE_CHARS else _serialize(items)


@functools.lru_cache(maxsize=SERIALIZED_CONTEXT_CACHE_ENTRIES)
def _remembered(items: tuple[tuple[str, str], ...]) -> bytes:
    return _serialize(items)  # an error raised is not remembered


def _serialize(items: Iterable[tuple[str, str]]) -> bytes:
    """Encode pairs already known to be exact ``str`` s (:func:`_serialize_checked` names what is wrong)."""
    try:
        pairs = sorted((key.encode("utf-8"), value.encode("utf-8")) for key, value in items)
        parts = [_U16.pack(len(pairs))]
        for key_raw, value_raw in pairs:
            parts += (_U16.pack(len(key_raw)), key_raw, _U16.pack(len(value_raw)), value_raw)
    except (UnicodeEncodeError, struct.error):  # a lone surrogate; a key or value beyond its UInt16 length field
        return _serialize_checked(dict(items))
    out = b"".join(parts)
    if len(out) > MAX_ENCRYPTION_CONTEXT_BYTES:
        return _serialize_checked(dict(items))
    return out


def _serialize_checked(context: Mapping[str, str]) -> bytes:
    """:func:`serialize_context` checking every key and value, for the error that names what is wrong."""
    pairs = sorted((_encode(k, "key"), _encode(v, "value")) for k, v in context.items())
    if len(pairs) > MAX_UINT16:
        raise LimitExceededError("encryption context pair count", len(pairs), MAX_UINT16)
    out = bytearray(_U16.pack(len(pairs)))
    for key, value in pairs:
        out += _U16.pack(len(key))
        out += key
        out += _U16.pack(len(value))
        out += value
    if len(out) > MAX_ENCRYPTION_CONTEXT_BYTES:
        raise LimitExceededError("serialized encryption context", len(out), MAX_ENCRYPTION_CONTEXT_BYTES)
    return bytes(out)


def deserialize_context(data: bytes | memoryview, *, base_offset: int = 0) -> dict[str, str]:
    """Decode a serialized context (a new dict each call); ``base_offset`` places errors within the message.

    The pairs of a context of at most ``PARSED_CONTEXT_CACHE_BYTES`` are remembered by its exact bytes
    (the last ``SERIALIZED_CONTEXT_CACHE_ENTRIES`` of them): a reader meets the same few contexts
    message after message. Only well-formed contexts are remembered. The bytes are public and are read
    before authentication, so a hostile stream of headers can only replace the entries, within the
    same bound (see :data:`busta.limits.PARSED_CONTEXT_CACHE_BYTES`).
    """
    raw = bytes(data)  # one copy: slicing bytes below is cheaper than slicing a view and copying each slice
    if len(raw) <= PARSED_CONTEXT_CACHE_BYTES:
        return dict(_parsed(raw, base_offset))
    return _deserialize(raw, base_offset)


@functools.lru_cache(maxsize=SERIALIZED_CONTEXT_CACHE_ENTRIES)
def _parsed(raw: bytes, base_offset: int) -> dict[str, str]:
    return _deserialize(raw, base_offset)  # an error raised is not remembered; callers get copies only


def _deserialize(raw: bytes, base_offset: int) -> dict[str, str]:
    end = len(raw)
    if end == 0:
        return {}
    if end < 2:
        raise _overrun("encryption context count", base_offset)
    (count,) = _U16_FROM(raw, 0)
    pos = 2
    # A count of zero with nothing after it is an older writers' form of the empty context.
    result: dict[str, str] = {}
    for _ in range(count):
        if pos + 2 > end:
            raise _overrun("encryption context key length", base_offset + pos)
        (klen,) = _U16_FROM(raw, pos)
        key_at = pos + 2
        pos = key_at + klen
        if pos > end:
            raise _overrun("encryption context key", base_offset + key_at)
        if pos + 2 > end:
            raise _overrun("encryption context value length", base_offset + pos)
        (vlen,) = _U16_FROM(raw, pos)
        value_at = pos + 2
        pos = value_at + vlen
        if pos > end:
            raise _overrun("encryption context value", base_offset + value_at)
        try:
            key, value = raw[key_at : key_at + klen].decode("utf-8"), raw[value_at:pos].decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessageError(
                "encryption context is not valid UTF-8", field="encryption context", offset=base_offset + key_at
            ) from None
        if key in result:
            raise MalformedMessageError(
                "duplicate encryption context key", field="encryption context key", offset=base_offset + key_at
            )
        result[key] = value
    if pos != end:
        raise MalformedMessageError(
            "encryption context has bytes after its last pair", field="encryption context", offset=base_offset + pos
        )
    return result


def _overrun(field: str, offset: int) -> MalformedMessageError:
    return MalformedMessageError("encryption context overruns its length", field=field, offset=offset)
