"""The cryptography of the raw ECDH keyring: curves, keys, the shared secret, the KDF, the wrap.

- Keys are ``cryptography`` objects; public keys may also be given as DER (or PEM)
  SubjectPublicKeyInfo and private keys as PEM (or DER) PKCS #8, as the specification has them.
  Loading a public key checks that its point is on the curve (OpenSSL does).
- The shared secret Z is the x coordinate of the ECDH point (32, 48 or 66 bytes).
- The KDF is NIST SP 800-108 counter mode over HMAC-SHA384, as the MPL has it::

      K(i) = HMAC-SHA384(Z, UInt32(i) | fixed info | 0x00 | salt | UInt32(512)),  i = 1, 2
      keying material = (K(1) | K(2))[:64] = commitment key (32) | wrapping key (32)

- The data key is wrapped with AES-256-GCM under the wrapping key, a zero 12-byte IV (each
  wrapping key is used once: the salt is fresh) and the fixed information as AAD.
"""

from __future__ import annotations

import enum
import hmac
import os
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._secrets import SecretBytes
from ..errors import KeyringError, UsageError
from ._ecdh_wire import COMMITMENT_BYTES, COMPRESSED_POINT_BYTES, SALT_BYTES, WrappedKey

__all__ = [
    "EcdhCurve",
    "PrivateKeyInput",
    "PublicKeyInput",
    "compressed",
    "derive_keys",
    "load_private_key",
    "load_public_key",
    "point_from_compressed",
    "shared_secret",
    "unwrap",
    "wrap",
]

_ZERO_IV = bytes(12)
_KEYING_BYTES = 64
_LENGTH_BITS = (_KEYING_BYTES * 8).to_bytes(4, "big")


class EcdhCurve(enum.Enum):
    """The curves of the raw ECDH keyring (values: the names the key derivation binds)."""

    P256 = "p256"
    P384 = "p384"
    P521 = "p521"

    @property
    def point_bytes(self) -> int:
        """The length of a compressed point on this curve."""
        return COMPRESSED_POINT_BYTES[self.value]

    def to_cryptography(self) -> ec.EllipticCurve:
        return _CURVES[self]()

    @classmethod
    def of(cls, key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> EcdhCurve | None:
        """The curve of ``key``, or None for a curve this keyring does not use."""
        return next((curve for curve, kind in _CURVES.items() if isinstance(key.curve, kind)), None)


#: A public key as an object, or DER / PEM SubjectPublicKeyInfo bytes.
PublicKeyInput = ec.EllipticCurvePublicKey | bytes
#: A private key as an object, or PEM / DER PKCS #8 bytes.
PrivateKeyInput = ec.EllipticCurvePrivateKey | bytes | SecretBytes

_CURVES: dict[EcdhCurve, type[ec.EllipticCurve]] = {
    EcdhCurve.P256: ec.SECP256R1,
    EcdhCurve.P384: ec.SECP384R1,
    EcdhCurve.P521: ec.SECP521R1,
}


def load_public_key(key: object, curve: EcdhCurve, what: str) -> ec.EllipticCurvePublicKey:
    """``key`` (an EC public key object, or DER / PEM SubjectPublicKeyInfo bytes) on ``curve``."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
        try:
            loaded: Any = (
                serialization.load_pem_public_key(data)
                if data.lstrip().startswith(b"-----")
                else serialization.load_der_public_key(data)
            )
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise UsageError(f"{what} is not a usable DER or PEM public key ({exc})") from None
        key = loaded
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{what} must be an elliptic-curve public key, not {type(key).__name__}")
    _check_curve(key, curve, what)
    return key


def load_private_key(
    key: object, curve: EcdhCurve, what: str, password: bytes | None = None
) -> ec.EllipticCurvePrivateKey:
    """``key`` (an EC private key object, or PEM / DER PKCS #8 bytes) on ``curve``."""
    if isinstance(key, SecretBytes):
        key = key.reveal()
    if isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
        try:
            loaded: Any = (
                serialization.load_pem_private_key(data, password)
                if data.lstrip().startswith(b"-----")
                else serialization.load_der_private_key(data, password)
            )
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise UsageError(f"{what} is not a usable PEM or DER private key ({exc})") from None
        key = loaded
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"{what} must be an elliptic-curve private key, not {type(key).__name__}")
    _check_curve(key, curve, what)
    return key


def _check_curve(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey, curve: EcdhCurve, what: str) -> None:
    found = EcdhCurve.of(key)
    if found is not curve:
        name = found.name if found is not None else key.curve.name
        raise UsageError(f"{what} is on curve {name}, not {curve.name}")


def compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    """``key``'s SEC 1 compressed point."""
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def point_from_compressed(data: bytes, curve: EcdhCurve) -> ec.EllipticCurvePublicKey | str:
    """The public key of a compressed point read from a message, or why it is not one on ``curve``."""
    if len(data) != curve.point_bytes or data[0] not in (2, 3):
        return f"public key in the message is not a compressed {curve.name} point"
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve.to_cryptography(), data)
    except ValueError:
        return f"public key in the message is not a point on {curve.name}"


def shared_secret(private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey) -> SecretBytes:
    """Z: the x coordinate of ``private`` times ``public``."""
    try:
        return SecretBytes(private.exchange(ec.ECDH(), public))
    except ValueError as exc:  # a public key OpenSSL refuses for the exchange
        raise KeyringError(f"ECDH key agreement failed ({exc})") from None


def derive_keys(secret: SecretBytes, fixed: bytes, salt: bytes) -> tuple[bytes, SecretBytes]:
    """(commitment key, wrapping key) derived from Z for one encrypted data key."""
    key = secret.reveal()
    tail = fixed + b"\x00" + salt + _LENGTH_BITS
    blocks = b"".join(hmac.digest(key, i.to_bytes(4, "big") + tail, "sha384") for i in (1, 2))
    return blocks[:COMMITMENT_BYTES], SecretBytes(blocks[COMMITMENT_BYTES:_KEYING_BYTES])


def wrap(secret: SecretBytes, fixed: bytes, data_key: SecretBytes) -> WrappedKey:
    """``data_key`` wrapped under a key derived from Z with a fresh salt."""
    salt = os.urandom(SALT_BYTES)
    commitment, wrapping = derive_keys(secret, fixed, salt)
    sealed = AESGCM(wrapping.reveal()).encrypt(_ZERO_IV, data_key.reveal(), fixed)
    return WrappedKey(salt, commitment, sealed[: len(data_key)], sealed[len(data_key) :])


def unwrap(secret: SecretBytes, fixed: bytes, wrapped: WrappedKey) -> bytes:
    """The data key in ``wrapped``; :class:`KeyringError` when the commitment or the tag fails."""
    commitment, wrapping = derive_keys(secret, fixed, wrapped.salt)
    if not hmac.compare_digest(commitment, wrapped.commitment):
        raise KeyringError("commitment key does not match (wrong key pair or encryption context)")
    try:
        return AESGCM(wrapping.reveal()).decrypt(_ZERO_IV, wrapped.encrypted_key + wrapped.tag, fixed)
    except InvalidTag:
        raise KeyringError("data key did not authenticate (wrong key pair or encryption context)") from None
