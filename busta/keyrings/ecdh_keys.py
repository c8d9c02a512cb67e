"""Elliptic-curve key pairs for the raw ECDH keyring: made, written and read as PEM.

Key management, kept apart from the keyring (which never imports it): ``busta keygen --ec``
and :class:`busta.keyconfig.EcdhKeyFile` use it.

- A private key is PEM PKCS #8, encrypted (``BestAvailableEncryption``: AES-256-CBC under a
  scrypt-derived key, as OpenSSL chooses) when a password is given.
- A public key is PEM SubjectPublicKeyInfo; DER is read too.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .._secrets import SecretBytes
from ..errors import KeyFileError, UsageError
from .raw_ecdh import EcdhCurve

__all__ = ["KeyPairPem", "curve_named", "generate_key_pair", "read_private_key", "read_public_key"]

_NAMES = {"p256": EcdhCurve.P256, "p384": EcdhCurve.P384, "p521": EcdhCurve.P521}


def curve_named(name: str) -> EcdhCurve:
    """The curve called ``name``: ``P-256``, ``p256``, ``P256``, ``secp256r1`` ... (case-insensitive)."""
    key = name.lower().replace("-", "").replace("_", "")
    key = {"secp256r1": "p256", "prime256v1": "p256", "secp384r1": "p384", "secp521r1": "p521"}.get(key, key)
    if key not in _NAMES:
        raise UsageError(f"{name!r} is not a curve of the raw ECDH keyring (P-256, P-384, P-521)")
    return _NAMES[key]


class KeyPairPem:
    """A new key pair as PEM: ``private`` (a secret) and ``public``."""

    __slots__ = ("curve", "private", "public")

    def __init__(self, curve: EcdhCurve, private: SecretBytes, public: bytes):
        self.curve, self.private, self.public = curve, private, public

    def __repr__(self) -> str:
        return f"KeyPairPem({self.curve.name}, private=<redacted>)"


def generate_key_pair(curve: EcdhCurve, password: bytes | None = None) -> KeyPairPem:
    """A fresh key pair on ``curve``; the private key encrypted under ``password`` if one is given."""
    if not isinstance(curve, EcdhCurve):
        raise UsageError("curve must be an EcdhCurve member")
    if password is not None and not password:
        raise UsageError("an empty password would not protect the private key")
    key = ec.generate_private_key(curve.to_cryptography())
    protection: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPairPem(curve, SecretBytes(private), public)


def read_private_key(
    data: bytes, where: str, password: bytes | None, *, password_from: str = ""
) -> ec.EllipticCurvePrivateKey:
    """The EC private key in ``data`` (PEM or DER PKCS #8, or SEC 1 PEM; encrypted needs ``password``,
    which comes from ``password_from``, named in the error)."""
    loader = serialization.load_pem_private_key if b"-----BEGIN" in data else serialization.load_der_private_key
    try:
        key: Any = loader(data, password)
    except TypeError as exc:  # encrypted without a password, or a password for a clear key
        source = f" (the password comes from {password_from})" if password_from else ""
        raise KeyFileError(f"{where}: {exc}{source}") from None
    except ValueError:
        hint = "; is the password right?" if password else ""
        raise KeyFileError(f"{where}: not a usable private key{hint}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{where}: not an elliptic-curve private key ({type(key).__name__})")
    return key


def read_public_key(data: bytes, where: str) -> ec.EllipticCurvePublicKey:
    """The EC public key in ``data`` (PEM or DER SubjectPublicKeyInfo); its point is checked."""
    loader = serialization.load_pem_public_key if b"-----BEGIN" in data else serialization.load_der_public_key
    try:
        key: Any = loader(data)
    except ValueError:
        raise KeyFileError(f"{where}: not a usable public key (or its point is not on its curve)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{where}: not an elliptic-curve public key ({type(key).__name__})")
    return key
