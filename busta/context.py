"""Encryption-context rules and its canonical wire encoding.

Wire layout of a non-empty context (an empty one encodes to zero bytes)::

    UInt16 pair count
    count x ( UInt16 key length | key (UTF-8) | UInt16 value length | value (UTF-8) )

Pairs are sorted by the UTF-8 bytes of their keys; keys are unique.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from .errors import EncryptionContextError, LimitExceededError, MalformedMessageError, UsageError
from .limits import MAX_ENCRYPTION_CONTEXT_BYTES, MAX_UINT16

__all__ = [
    "PUBLIC_KEY_FIELD",
    "RESERVED_PREFIX",
    "check_expected",
    "deserialize_context",
    "serialize_context",
    "validate_for_encrypt",
]

RESERVED_PREFIX = "aws-crypto-"
PUBLIC_KEY_FIELD = "aws-crypto-public-key"

_U16 = struct.Struct(">H")


def validate_for_encrypt(context: Mapping[str, str] | None) -> dict[str, str]:
    """Check a caller's context and return a plain copy.

    Keys and values must be strings; keys may not use the reserved ``aws-crypto-`` prefix.
    """
    if context is None:
        return {}
    if not isinstance(context, Mapping):
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
    if not isinstance(context, Mapping):
        raise UsageError(f"{what} must be a mapping of str to str, not {type(context).__name__}")
    copy = dict(context)
    for key, value in copy.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError(f"{what} must map str to str, not {type(key).__name__} to {type(value).__name__}")
    return copy


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
    """Encode ``context`` canonically; an empty context encodes to ``b""``."""
    if not context:
        return b""
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
    """Decode a serialized context; ``base_offset`` places errors within the message."""
    view = memoryview(data)
    if len(view) == 0:
        return {}
    pos = 0

    def take(n: int, field: str) -> memoryview:
        nonlocal pos
        if pos + n > len(view):
            raise MalformedMessageError("encryption context overruns its length", field=field, offset=base_offset + pos)
        chunk = view[pos : pos + n]
        pos += n
        return chunk

    (count,) = _U16.unpack(take(2, "encryption context count"))
    # A count of zero with nothing after it is an older writers' form of the empty context.
    result: dict[str, str] = {}
    for _ in range(count):
        (klen,) = _U16.unpack(take(2, "encryption context key length"))
        key_offset = base_offset + pos
        key_raw = bytes(take(klen, "encryption context key"))
        (vlen,) = _U16.unpack(take(2, "encryption context value length"))
        value_raw = bytes(take(vlen, "encryption context value"))
        try:
            key, value = key_raw.decode("utf-8"), value_raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessageError(
                "encryption context is not valid UTF-8", field="encryption context", offset=key_offset
            ) from None
        if key in result:
            raise MalformedMessageError(
                "duplicate encryption context key", field="encryption context key", offset=key_offset
            )
        result[key] = value
    if pos != len(view):
        raise MalformedMessageError(
            "encryption context has bytes after its last pair", field="encryption context", offset=base_offset + pos
        )
    return result
