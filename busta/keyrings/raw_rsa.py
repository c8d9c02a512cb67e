"""The raw RSA keyring: wraps data keys with a local RSA key pair.

Encrypted data key layout (the ESDK raw RSA keyring)::

    provider id   = namespace
    provider info = key name
    ciphertext    = RSA-encrypt(public key, data key) with PKCS#1 v1.5 or OAEP (MGF1 on the same hash)
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .._secrets import refuse_pickling
from ..errors import KeyringError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._common import ImplicitRejection, check_names, ensure_data_key, unwrap_first

__all__ = ["RawRsaKeyring", "RsaPadding"]


class RsaPadding(enum.Enum):
    """RSA padding schemes of the raw RSA keyring."""

    PKCS1 = "pkcs1"
    OAEP_SHA1 = "oaep-sha1"
    OAEP_SHA256 = "oaep-sha256"
    OAEP_SHA384 = "oaep-sha384"
    OAEP_SHA512 = "oaep-sha512"

    def to_cryptography(self) -> padding.AsymmetricPadding:
        if self is RsaPadding.PKCS1:
            return padding.PKCS1v15()
        algorithm = _OAEP_HASHES[self]()
        return padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)


_OAEP_HASHES: dict[RsaPadding, type[hashes.HashAlgorithm]] = {
    RsaPadding.OAEP_SHA1: hashes.SHA1,
    RsaPadding.OAEP_SHA256: hashes.SHA256,
    RsaPadding.OAEP_SHA384: hashes.SHA384,
    RsaPadding.OAEP_SHA512: hashes.SHA512,
}


class RawRsaKeyring:
    """Wraps data keys under a local RSA key pair.

    With only ``public_key`` it can encrypt; decrypting needs ``private_key``
    (whose public half is used for encrypting when ``public_key`` is omitted).
    Keys are ``cryptography`` key objects. Thread-safe: it holds no mutable state.

    With ``RsaPadding.PKCS1``, a data key that does not decrypt to a payload of
    the suite's key length is never reported as such: the keyring returns a
    pseudo-random key instead (:class:`~busta.keyrings._common.ImplicitRejection`),
    and the message then fails its key commitment or header tag, as for any
    wrong key. OAEP failures are reported as "did not decrypt".
    """

    __slots__ = ("_name_bytes", "_padding", "_private", "_public", "_rejection", "name", "namespace", "padding")

    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        private_key: rsa.RSAPrivateKey | None = None,
        public_key: rsa.RSAPublicKey | None = None,
        padding: RsaPadding = RsaPadding.OAEP_SHA256,
    ):
        check_names("RawRsaKeyring", namespace, name)
        if private_key is None and public_key is None:
            raise UsageError("RawRsaKeyring needs a private key, a public key or both")
        if private_key is not None and not isinstance(private_key, rsa.RSAPrivateKey):
            raise UsageError("private_key must be a cryptography RSAPrivateKey")
        if public_key is not None and not isinstance(public_key, rsa.RSAPublicKey):
            raise UsageError("public_key must be a cryptography RSAPublicKey")
        if not isinstance(padding, RsaPadding):
            raise UsageError("padding must be an RsaPadding member")
        self.namespace = namespace
        self.name = name
        self.padding = padding
        self._name_bytes = name.encode("utf-8")
        self._padding = padding.to_cryptography()
        self._private = private_key
        self._public = public_key if public_key is not None else (private_key.public_key() if private_key else None)
        self._rejection = ImplicitRejection() if padding is RsaPadding.PKCS1 else None

    def __repr__(self) -> str:
        has = "private" if self._private is not None else "public"
        return (
            f"RawRsaKeyring(namespace={self.namespace!r}, name={self.name!r}, padding={self.padding.name}, {has} key)"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if self._public is None:
            raise KeyringError(f"{self!r} has no public key to encrypt with")
        materials, data_key = ensure_data_key(materials)
        try:
            wrapped = self._public.encrypt(data_key.reveal(), self._padding)
        except ValueError as exc:
            raise KeyringError(f"{self!r} could not wrap the data key: {exc}") from exc
        return materials.with_encrypted_data_key(EncryptedDataKey(self.namespace, self._name_bytes, wrapped))

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        private = self._private
        key_bytes = materials.suite.key_bytes

        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            if edk.provider_id != self.namespace or edk.provider_info != self._name_bytes:
                return None
            if private is None:
                return "no private key"
            if self._rejection is not None:
                return self._rejection.choose(_decrypt_or_none(private, edk.ciphertext), edk.ciphertext, key_bytes)
            try:
                return private.decrypt(edk.ciphertext, self._padding)
            except ValueError:
                raise KeyringError("data key did not decrypt (wrong key or padding)") from None

        return unwrap_first(self, "raw RSA keyring", materials, encrypted_data_keys, attempt)


def _decrypt_or_none(private: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes | None:
    """PKCS#1 v1.5 decryption, None where it fails (OpenSSL 3.2+ itself returns a synthetic payload)."""
    try:
        return private.decrypt(ciphertext, padding.PKCS1v15())
    except ValueError:
        return None
