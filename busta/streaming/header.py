"""The one header layer: sealing a header (derive, commit, authenticate) and opening it (check, verify).

Sealing is what an encryption (and a rewrap, which seals a new header for an old
body) does once it holds encryption materials: derive the message keys from the
data key and message id, write the commitment (v2), split the context into the
pairs the header stores and the required pairs it only authenticates, tag the
header and start the signature.

Opening is the mirror image, in two steps around the materials, so that the
engine never calls a materials manager: :func:`decryption_request` checks the
parsed header against the commitment policy and says what materials to fetch;
:func:`open_header` checks the materials that came back against the header and
the expected context, the commitment value and the header tag, and starts the
signature check. Nothing of the message is trusted before it returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, NamedTuple, NoReturn

from cryptography.exceptions import InvalidTag

from .._frozen import record
from .._secrets import refuse_pickling
from ..context import serialize_context
from ..crypto.frames import FrameCodec
from ..crypto.kdf import DerivedKeys, check_commitment, derive_keys
from ..crypto.signing import Signer, Verifier
from ..errors import AuthenticationError, EncryptionContextError, SignedMessageError, UsageError
from ..format import ContentType, Header, HeaderAuth, ParsedHeader, serialize_header, serialize_header_auth
from ..format.header import MESSAGE_ID_BYTES, check_data_key_count
from ..limits import MAX_HEADER_BYTES
from ..materials import DecryptionMaterials, DecryptionRequest, EncryptionMaterials
from ..suites import IV_BYTES, CommitmentPolicy

__all__ = ["OpenedHeader", "SealedHeader", "decryption_request", "open_header", "seal_header"]

#: The header IV: every header is tagged once under its own message key, so a zero IV is never reused.
_ZERO_IV: Final = bytes(IV_BYTES)


@record(repr=False)
class SealedHeader:
    """A header sealed under the materials' data key, and what its body is sealed with."""

    header: Header
    header_bytes: bytes  # the header and its authentication fields, as written
    codec: FrameCodec
    signer: Signer | None  # already fed the header bytes (signed suites)

    def __repr__(self) -> str:
        return f"SealedHeader({self.header.suite.name}, {len(self.header_bytes)} bytes, <keys redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


class OpenedHeader(NamedTuple):
    """A header that authenticated, and what its body is opened with (a named tuple: one per message)."""

    encryption_context: dict[str, str]  # stored and required pairs, authenticated
    codec: FrameCodec
    verifier: Verifier | None  # already fed the header bytes (signed suites)

    def __repr__(self) -> str:
        return "OpenedHeader(<keys redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def _authenticated(raw: bytes, context: Mapping[str, str], required: tuple[str, ...] | frozenset[str]) -> bytes:
    """What the header tag covers: the header bytes, then the serialized required pairs (if any)."""
    if not required:  # the common case, on every message's path
        return raw
    missing = [key for key in required if key not in context]
    if missing:
        raise UsageError(f"the materials require context keys they do not hold: {sorted(missing)}")
    return raw + serialize_context({key: context[key] for key in required})


def seal_header(
    materials: EncryptionMaterials,
    *,
    frame_length: int,
    content_type: ContentType = ContentType.FRAMED,
    message_id: bytes | None = None,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_encrypted_data_keys: int | None = None,
) -> SealedHeader:
    """Derive the message keys from ``materials``, then write and authenticate the header.

    A header above ``max_header_bytes`` (what every decryption accepts by
    default) is refused with :class:`LimitExceededError`, so that what is
    written with default settings is read with them.
    """
    suite, edks = materials.suite, materials.encrypted_data_keys
    if materials.data_key is None or not edks:
        raise UsageError("encryption materials need a data key and at least one encrypted data key")
    check_data_key_count(len(edks), max_encrypted_data_keys)
    if suite.signed and materials.signing_key is None:
        raise UsageError(f"{suite.name} needs a signing key in the materials")
    id_len = MESSAGE_ID_BYTES[suite.message_format]
    message_id = os.urandom(id_len) if message_id is None else message_id
    if len(message_id) != id_len:
        raise UsageError(f"message id must be {id_len} bytes for {suite.name}")
    keys = derive_keys(suite, materials.data_key, message_id)
    context, required = materials.encryption_context, materials.required_context_keys
    stored = {k: v for k, v in context.items() if k not in required} if required else dict(context)
    header = Header(suite, message_id, stored, edks, content_type, frame_length, keys.commitment)
    raw = serialize_header(header, max_header_bytes=max_header_bytes)
    tag = keys.aead.encrypt(_ZERO_IV, b"", _authenticated(raw, context, required))
    header_bytes = raw + serialize_header_auth(suite, HeaderAuth(_ZERO_IV, tag))
    signer = None
    if materials.signing_key is not None:
        signer = Signer(suite, materials.signing_key)
        signer.update(header_bytes)
    return SealedHeader(header, header_bytes, _codec(keys, header), signer)


def decryption_request(
    header: Header,
    *,
    commitment_policy: CommitmentPolicy,
    expected_context: Mapping[str, str],
    refuse_signed: bool = False,
) -> DecryptionRequest:
    """Check a parsed (not yet authenticated) header against the policy; say what materials it needs."""
    suite = header.suite
    commitment_policy.check_decrypt(suite)
    if refuse_signed and suite.signed:
        raise SignedMessageError(f"signed messages are refused in this mode ({suite.name} is signed)")
    return DecryptionRequest(
        suite=suite,
        encrypted_data_keys=header.encrypted_data_keys,
        encryption_context=header.encryption_context,
        commitment_policy=commitment_policy,
        reproduced_encryption_context=dict(expected_context),
    )


def open_header(
    parsed: ParsedHeader, materials: DecryptionMaterials, *, expected_context: Mapping[str, str]
) -> OpenedHeader:
    """Check ``materials`` against the header, then the commitment and the header tag.

    The materials come from outside the engine, so they are checked before use:
    a data key for this suite, a context that holds the header's stored pairs
    unchanged and adds only required pairs, and every expected pair.
    """
    header = parsed.header
    suite = header.suite
    if materials.data_key is None or materials.suite is not suite:
        raise UsageError("the materials have no data key for this suite")
    full = materials.encryption_context
    required = materials.required_context_keys
    stored = header.encryption_context
    if not (full == stored and not required) and (  # equal with nothing required: the common case
        any(full.get(k) != v for k, v in stored.items()) or any(k not in stored and k not in required for k in full)
    ):
        raise UsageError("the materials' encryption context does not match the header's stored pairs")
    for key, value in expected_context.items():
        if full.get(key) != value:
            raise EncryptionContextError(f"encryption context value for {key!r} does not match the message")
    keys = derive_keys(suite, materials.data_key, header.message_id)
    if suite.committing:
        check_commitment(keys.commitment, header.suite_data)
    try:
        keys.aead.decrypt(parsed.auth.iv, parsed.auth.tag, _authenticated(parsed.raw, full, required))
    except InvalidTag:
        raise AuthenticationError("the header does not authenticate (altered header or wrong context)") from None
    verifier = None
    if suite.signed:
        if materials.verification_key is None:
            raise UsageError("the materials have no verification key for a signed suite")
        verifier = Verifier(suite, materials.verification_key)
        verifier.update(parsed.raw + serialize_header_auth(suite, parsed.auth))
    return OpenedHeader(dict(full), _codec(keys, header), verifier)


def _codec(keys: DerivedKeys, header: Header) -> FrameCodec:
    return FrameCodec(keys.aead, header.message_id, header.frame_length)
