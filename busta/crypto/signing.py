"""ECDSA footers: a signer and a verifier that hash the message as it streams past."""

from __future__ import annotations

import binascii
from typing import NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .._secrets import refuse_pickling
from ..errors import AuthenticationError, MalformedMessageError
from ..suites import AlgorithmSuite

__all__ = ["Signer", "Verifier", "decode_public_key", "encode_public_key", "generate_signing_key"]

_CURVES: dict[str, type[ec.EllipticCurve]] = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1}
#: Curve orders, for low-S normalization.
_ORDER = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
    ),
}
#: DER signature length busta writes, as the official Python SDK does: r with its high bit set, low s.
SIGNATURE_BYTES = {"secp256r1": 71, "secp384r1": 103}
_MAX_SIGNING_TRIES = 64
_SIG_HASH: dict[str, type[hashes.HashAlgorithm]] = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384}


def _curve(suite: AlgorithmSuite) -> str:
    if suite.curve is None:
        raise ValueError(f"{suite.name} is not a signed suite")
    return suite.curve


def generate_signing_key(suite: AlgorithmSuite) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(_CURVES[_curve(suite)]())


def encode_public_key(key: ec.EllipticCurvePublicKey) -> str:
    """Base64 of the compressed SEC1 point, as stored in the encryption context."""
    # Imported here: cryptography's serialization package costs ~20 ms of import time.
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: PLC0415

    point = key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return binascii.b2a_base64(point, newline=False).decode("ascii")  # base64's own, without importing it


def decode_public_key(suite: AlgorithmSuite, encoded: str) -> ec.EllipticCurvePublicKey:
    try:
        point = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True)  # binascii.Error is a ValueError
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[_curve(suite)](), point)
    except (ValueError, UnicodeEncodeError) as exc:
        raise MalformedMessageError(
            "the message's public verification key is not a valid point", field="aws-crypto-public-key"
        ) from exc


class Signer:
    """Hashes the header and body as they are written, then signs the digest."""

    __slots__ = ("_algorithm", "_curve", "_hash", "_key")

    def __init__(self, suite: AlgorithmSuite, key: ec.EllipticCurvePrivateKey):
        self._curve = _curve(suite)
        self._algorithm = _SIG_HASH[self._curve]()
        self._hash = hashes.Hash(self._algorithm)
        self._key = key

    @property
    def signature_bytes(self) -> int:
        """The length of the signature :meth:`sign` returns."""
        return SIGNATURE_BYTES[self._curve]

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)

    def sign(self) -> bytes:
        """Sign the digest; the DER signature always has :attr:`signature_bytes` bytes."""
        digest = self._hash.finalize()
        order, want = _ORDER[self._curve], SIGNATURE_BYTES[self._curve]
        for _ in range(_MAX_SIGNING_TRIES):
            r, s = decode_dss_signature(self._key.sign(digest, ec.ECDSA(utils.Prehashed(self._algorithm))))
            signature = encode_dss_signature(r, min(s, order - s))
            if len(signature) == want:
                return signature
        raise RuntimeError("could not produce a fixed-length signature")  # pragma: no cover - p < 2**-60

    def __repr__(self) -> str:
        return "Signer(<redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


class Verifier:
    """Hashes the header and body as they are read, then checks the footer's signature."""

    __slots__ = ("_algorithm", "_hash", "_key")

    def __init__(self, suite: AlgorithmSuite, key: ec.EllipticCurvePublicKey):
        self._algorithm = _SIG_HASH[_curve(suite)]()
        self._hash = hashes.Hash(self._algorithm)
        self._key = key

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)

    def verify(self, signature: bytes) -> None:
        digest = self._hash.finalize()
        try:
            self._key.verify(signature, digest, ec.ECDSA(utils.Prehashed(self._algorithm)))
        except InvalidSignature:
            raise AuthenticationError("the message signature does not verify") from None
