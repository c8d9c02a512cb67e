"""The raw ECDH keyring: data keys shared between holders of elliptic-curve key pairs, without KMS.

Three key agreement schemes (the specification's ``framework/key-agreement-schemas.md``):

- **static** (``RawPrivateKeyToStaticPublicKey``): the sender's private key and the recipient's
  public key. Encrypts, and decrypts what either party of the pair wrote to the other.
- **ephemeral** (``EphemeralPrivateKeyToStaticPublicKey``): only the recipient's public key; a
  fresh sender key pair per data key. Encrypts only.
- **discovery** (``PublicKeyDiscovery``): the recipient's private key. Decrypts every data key
  addressed to its public key, whoever sent it. Decrypts only.

The encrypted data key layout is in :mod:`._ecdh_wire`, the key derivation in :mod:`._ecdh_crypto`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric import ec

from .._secrets import SecretBytes, refuse_pickling
from ..context import serialize_context
from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials
from . import _ecdh_wire as wire
from ._common import ensure_data_key, unwrap_first
from ._ecdh_crypto import (
    EcdhCurve,
    PrivateKeyInput,
    PublicKeyInput,
    compressed,
    load_private_key,
    load_public_key,
    point_from_compressed,
    shared_secret,
    unwrap,
    wrap,
)

__all__ = ["EcdhCurve", "EcdhScheme", "RawEcdhKeyring"]

_PROVIDER_IDS = (wire.PROVIDER_ID, wire.KMS_ECDH_PROVIDER_ID)


class EcdhScheme(enum.Enum):
    """The key agreement schemes of the raw ECDH keyring."""

    STATIC = "static"
    EPHEMERAL = "ephemeral"
    DISCOVERY = "discovery"


class RawEcdhKeyring:
    """Wraps data keys under a key agreed by ECDH between two key pairs on one curve.

    Make one with :meth:`static`, :meth:`ephemeral` or :meth:`discovery`. Keys are
    ``cryptography`` EC key objects, or bytes: a public key as DER (or PEM)
    SubjectPublicKeyInfo, a private key as PEM (or DER) PKCS #8. Every key must be on
    ``curve``; a key of another curve or type, or a point not on the curve, is a
    :class:`UsageError` here. Public keys read from messages are checked at decrypt.
    Thread-safe: it holds no mutable state.
    """

    __slots__ = ("_private", "_public", "_recipient", "_secret", "_sender", "curve", "scheme")

    def __init__(
        self,
        scheme: EcdhScheme,
        curve: EcdhCurve,
        *,
        sender_private_key: PrivateKeyInput | None = None,
        recipient_public_key: PublicKeyInput | None = None,
        recipient_private_key: PrivateKeyInput | None = None,
    ):
        if not isinstance(scheme, EcdhScheme):
            raise UsageError("scheme must be an EcdhScheme member")
        if not isinstance(curve, EcdhCurve):
            raise UsageError("curve must be an EcdhCurve member (P256, P384 or P521)")
        _check_keys(scheme, sender_private_key, recipient_public_key, recipient_private_key)
        self.scheme, self.curve = scheme, curve
        self._private: ec.EllipticCurvePrivateKey | None = None
        self._public: ec.EllipticCurvePublicKey | None = None  # the recipient's, to encrypt to
        self._sender: bytes | None = None  # compressed points
        self._secret: SecretBytes | None = None  # static: Z of the pair, the same either way round
        if scheme is EcdhScheme.DISCOVERY:
            self._private = load_private_key(recipient_private_key, curve, "recipient_private_key")
            self._recipient = compressed(self._private.public_key())
            return
        public = self._public = load_public_key(recipient_public_key, curve, "recipient_public_key")
        self._recipient = compressed(public)
        if scheme is EcdhScheme.STATIC:
            self._private = load_private_key(sender_private_key, curve, "sender_private_key")
            self._sender = compressed(self._private.public_key())
            self._secret = shared_secret(self._private, public)

    @classmethod
    def static(
        cls, curve: EcdhCurve, *, sender_private_key: PrivateKeyInput, recipient_public_key: PublicKeyInput
    ) -> RawEcdhKeyring:
        """Encrypt to ``recipient_public_key`` as the holder of ``sender_private_key``; decrypt what
        either party wrote to the other."""
        return cls(
            EcdhScheme.STATIC, curve, sender_private_key=sender_private_key, recipient_public_key=recipient_public_key
        )

    @classmethod
    def ephemeral(cls, curve: EcdhCurve, *, recipient_public_key: PublicKeyInput) -> RawEcdhKeyring:
        """Encrypt to ``recipient_public_key`` with a new sender key pair per data key (cannot decrypt)."""
        return cls(EcdhScheme.EPHEMERAL, curve, recipient_public_key=recipient_public_key)

    @classmethod
    def discovery(cls, curve: EcdhCurve, *, recipient_private_key: PrivateKeyInput) -> RawEcdhKeyring:
        """Decrypt any data key addressed to ``recipient_private_key``'s public key (cannot encrypt)."""
        return cls(EcdhScheme.DISCOVERY, curve, recipient_private_key=recipient_private_key)

    @property
    def recipient_public_key(self) -> bytes:
        """The recipient's public key as a compressed point."""
        return self._recipient

    def __repr__(self) -> str:
        scheme, curve = getattr(self, "scheme", None), getattr(self, "curve", None)
        recipient = getattr(self, "_recipient", b"")
        return (
            f"RawEcdhKeyring({scheme.value if scheme else None}, {curve.name if curve else None},"
            f" recipient={recipient[:6].hex()}..)"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if self.scheme is EcdhScheme.DISCOVERY:
            raise KeyringError(f"{self!r}: a discovery keyring only decrypts")
        context = serialize_context(materials.encryption_context)
        materials, data_key = ensure_data_key(materials)
        if self._secret is not None and self._sender is not None:
            secret, sender = self._secret, self._sender
        else:
            assert self._public is not None  # ephemeral: made with the recipient's public key
            ephemeral = ec.generate_private_key(self.curve.to_cryptography())
            sender = compressed(ephemeral.public_key())
            secret = shared_secret(ephemeral, self._public)
        fixed = wire.fixed_info(self.curve.value, sender, self._recipient, context)
        ciphertext = wire.serialize_wrapped_key(wrap(secret, fixed, data_key))
        info = wire.serialize_provider_info(wire.ProviderInfo(recipient=self._recipient, sender=sender))
        return materials.with_encrypted_data_key(EncryptedDataKey(wire.PROVIDER_ID, info, ciphertext))

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if self.scheme is EcdhScheme.EPHEMERAL:
            raise KeyringError(f"{self!r}: an ephemeral keyring only encrypts")
        context = serialize_context(materials.encryption_context)
        key_bytes = materials.suite.key_bytes

        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            if edk.provider_id not in _PROVIDER_IDS:
                return None
            info = wire.parse_provider_info(edk.provider_info, self.curve.point_bytes)
            if isinstance(info, str):
                return None if _other_curve(edk.provider_info, self.curve) else f"malformed provider info: {info}"
            secret = self._agree(info)
            if secret is None:
                return None
            if isinstance(secret, str):
                return secret
            wrapped = wire.parse_wrapped_key(edk.ciphertext, key_bytes)
            if isinstance(wrapped, str):
                return wrapped
            fixed = wire.fixed_info(self.curve.value, info.sender, info.recipient, context)
            return unwrap(secret, fixed, wrapped)

        return unwrap_first(self, "raw ECDH keyring", materials, encrypted_data_keys, attempt)

    def _agree(self, info: wire.ProviderInfo) -> SecretBytes | str | None:
        """Z for a data key naming ``info``'s keys; None if they are not this keyring's pair."""
        if self._secret is not None:  # static: the pair either way round
            ours = (self._sender, self._recipient)
            return self._secret if (info.sender, info.recipient) in (ours, ours[::-1]) else None
        if info.recipient != self._recipient or self._private is None:
            return None
        sender = point_from_compressed(info.sender, self.curve)
        if isinstance(sender, str):
            return sender
        return shared_secret(self._private, sender)


def _other_curve(provider_info: bytes, curve: EcdhCurve) -> bool:
    """True when ``provider_info`` has the length of another curve's (that data key is not ours)."""
    lengths = {1 + 2 * (4 + size) for name, size in wire.COMPRESSED_POINT_BYTES.items() if name != curve.value}
    return len(provider_info) in lengths


def _check_keys(
    scheme: EcdhScheme, sender_private: object, recipient_public: object, recipient_private: object
) -> None:
    given = {
        "sender_private_key": sender_private is not None,
        "recipient_public_key": recipient_public is not None,
        "recipient_private_key": recipient_private is not None,
    }
    needed = {
        EcdhScheme.STATIC: {"sender_private_key", "recipient_public_key"},
        EcdhScheme.EPHEMERAL: {"recipient_public_key"},
        EcdhScheme.DISCOVERY: {"recipient_private_key"},
    }[scheme]
    present = {name for name, there in given.items() if there}
    if present != needed:
        raise UsageError(
            f"the {scheme.value} ECDH scheme takes {' and '.join(sorted(needed))},"
            f" not {', '.join(sorted(present)) or 'none'}"
        )
