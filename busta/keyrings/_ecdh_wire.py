"""The wire layout of the raw ECDH keyring's encrypted data keys: pure encoding and decoding.

Layout (the specification's ``framework/raw-ecdh-keyring.md``, as the official MPL writes it)::

    provider id   = "raw-ecdh"  (the AWS KMS ECDH keyring writes "aws-kms-ecdh"; both are read)
    provider info = version (0x01)
                  | UInt32 length | recipient's public key (SEC 1 compressed point)
                  | UInt32 length | sender's public key    (SEC 1 compressed point)
    ciphertext    = KDF salt (32) | commitment key (32) | AES-256-GCM(data key) | tag (16)

    compressed point lengths: P-256 33, P-384 49, P-521 67 (provider info 75, 107, 143 bytes)

The wrapping key's derivation binds this fixed information (also the AES-GCM AAD)::

    "ecdh-key-derivation" 0x00 curve ("p256" | "p384" | "p521") 0x00 "HMAC_SHA384" 0x00
    sender's compressed key | recipient's compressed key 0x00 version 0x00 canonical context

This module holds no keys and does no cryptography; every length is checked before it is used.
"""

from __future__ import annotations

import struct

from .._frozen import record

__all__ = [
    "COMMITMENT_BYTES",
    "COMPRESSED_POINT_BYTES",
    "KMS_ECDH_PROVIDER_ID",
    "PROVIDER_ID",
    "SALT_BYTES",
    "TAG_BYTES",
    "VERSION",
    "ProviderInfo",
    "WrappedKey",
    "fixed_info",
    "parse_provider_info",
    "parse_wrapped_key",
    "serialize_provider_info",
    "serialize_wrapped_key",
]

PROVIDER_ID = "raw-ecdh"
KMS_ECDH_PROVIDER_ID = "aws-kms-ecdh"
VERSION = 0x01
SALT_BYTES = 32
COMMITMENT_BYTES = 32
TAG_BYTES = 16
#: The SEC 1 compressed point of each curve, by the curve's name in the fixed information.
COMPRESSED_POINT_BYTES: dict[str, int] = {"p256": 33, "p384": 49, "p521": 67}

_U32 = struct.Struct(">I")
_KDF_LABEL = b"ecdh-key-derivation"
_PRF_NAME = b"HMAC_SHA384"


@record
class ProviderInfo:
    """The two public keys an encrypted data key names, as compressed points."""

    recipient: bytes
    sender: bytes


@record
class WrappedKey:
    """An encrypted data key's ciphertext, split into its fields."""

    salt: bytes
    commitment: bytes
    encrypted_key: bytes
    tag: bytes


def serialize_provider_info(info: ProviderInfo) -> bytes:
    """``info`` in the layout above."""
    return (
        bytes((VERSION,)) + _U32.pack(len(info.recipient)) + info.recipient + _U32.pack(len(info.sender)) + info.sender
    )


def parse_provider_info(data: bytes, point_bytes: int) -> ProviderInfo | str:
    """The keys in ``data``, or why it is not the provider info of a curve with ``point_bytes`` points.

    Both keys must be exactly ``point_bytes`` long and nothing may follow them.
    """
    expected = 1 + 2 * (_U32.size + point_bytes)
    if len(data) != expected:
        return f"provider info is {len(data)} bytes, not the {expected} of this keyring's curve"
    if data[0] != VERSION:
        return f"provider info version {data[0]} is not {VERSION}"
    (recipient_length,) = _U32.unpack_from(data, 1)
    offset = 1 + _U32.size
    if recipient_length != point_bytes:
        return f"recipient's public key length {recipient_length} is not {point_bytes}"
    recipient = data[offset : offset + point_bytes]
    offset += point_bytes
    (sender_length,) = _U32.unpack_from(data, offset)
    if sender_length != point_bytes:
        return f"sender's public key length {sender_length} is not {point_bytes}"
    sender = data[offset + _U32.size :]
    return ProviderInfo(recipient=bytes(recipient), sender=bytes(sender))


def parse_wrapped_key(data: bytes, key_bytes: int) -> WrappedKey | str:
    """The fields of a ciphertext wrapping a ``key_bytes`` data key, or why it is not one."""
    expected = SALT_BYTES + COMMITMENT_BYTES + key_bytes + TAG_BYTES
    if len(data) != expected:
        return f"encrypted data key is {len(data)} bytes, not {expected}"
    key_at = SALT_BYTES + COMMITMENT_BYTES
    return WrappedKey(
        salt=bytes(data[:SALT_BYTES]),
        commitment=bytes(data[SALT_BYTES:key_at]),
        encrypted_key=bytes(data[key_at : key_at + key_bytes]),
        tag=bytes(data[key_at + key_bytes :]),
    )


def serialize_wrapped_key(wrapped: WrappedKey) -> bytes:
    return wrapped.salt + wrapped.commitment + wrapped.encrypted_key + wrapped.tag


def fixed_info(curve: str, sender: bytes, recipient: bytes, canonical_context: bytes) -> bytes:
    """The KDF's fixed information (and the AES-GCM AAD) for one encrypted data key."""
    return b"\x00".join(
        (_KDF_LABEL, curve.encode("ascii"), _PRF_NAME, sender + recipient, bytes((VERSION,)), canonical_context)
    )
