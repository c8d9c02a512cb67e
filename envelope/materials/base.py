"""Immutable materials and the two contracts that produce them.

A :class:`Keyring` wraps and unwraps data keys; a :class:`CryptoMaterialsManager`
(CMM) assembles complete materials for one message, usually around a keyring.
Both are ``typing.Protocol`` s: any object with these methods will do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeGuard, runtime_checkable

from .._secrets import SecretBytes, refuse_pickling
from ..errors import KeyringError
from ..format import EncryptedDataKey
from ..suites import AlgorithmSuite, CommitmentPolicy

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "CryptoMaterialsManager",
    "DecryptionMaterials",
    "DecryptionRequest",
    "EncryptionMaterials",
    "EncryptionRequest",
    "Keyring",
]


@dataclass(frozen=True, slots=True)
class EncryptionRequest:
    """What the encrypt call asks a CMM for."""

    encryption_context: Mapping[str, str]
    commitment_policy: CommitmentPolicy
    suite: AlgorithmSuite | None = None
    plaintext_length: int | None = None
    max_encrypted_data_keys: int | None = None


@dataclass(frozen=True, slots=True)
class DecryptionRequest:
    """What the decrypt call asks a CMM for, once the header is parsed."""

    suite: AlgorithmSuite
    encrypted_data_keys: tuple[EncryptedDataKey, ...]
    encryption_context: Mapping[str, str]  # as stored in the header
    commitment_policy: CommitmentPolicy
    reproduced_encryption_context: Mapping[str, str] | None = None  # what the caller expects


@dataclass(frozen=True, slots=True)
class EncryptionMaterials:
    """Everything needed to write one message.

    ``encryption_context`` is the full context; the keys in ``required_context_keys``
    are authenticated but not stored in the header.
    """

    suite: AlgorithmSuite
    encryption_context: Mapping[str, str]
    data_key: SecretBytes | None = None
    encrypted_data_keys: tuple[EncryptedDataKey, ...] = ()
    signing_key: ec.EllipticCurvePrivateKey | None = field(default=None, repr=False)
    required_context_keys: frozenset[str] = frozenset()

    def with_data_key(self, data_key: SecretBytes, edk: EncryptedDataKey | None = None) -> EncryptionMaterials:
        """Return a copy holding a newly generated data key (and its first wrapped copy)."""
        if self.data_key is not None:
            raise KeyringError("these materials already hold a data key")
        if len(data_key) != self.suite.key_bytes:
            raise KeyringError(f"data key must be {self.suite.key_bytes} bytes for {self.suite.name}")
        edks = self.encrypted_data_keys + ((edk,) if edk is not None else ())
        return EncryptionMaterials(
            self.suite, self.encryption_context, data_key, edks, self.signing_key, self.required_context_keys
        )

    def with_encrypted_data_keys(self, edks: tuple[EncryptedDataKey, ...]) -> EncryptionMaterials:
        """Return a copy whose wrapped copies of the data key are ``edks``."""
        if self.data_key is None:
            raise KeyringError("cannot add an encrypted data key before a data key exists")
        return EncryptionMaterials(
            self.suite, self.encryption_context, self.data_key, edks, self.signing_key, self.required_context_keys
        )

    def with_encrypted_data_key(self, edk: EncryptedDataKey) -> EncryptionMaterials:
        """Return a copy with one more wrapped copy of the data key."""
        return self.with_encrypted_data_keys((*self.encrypted_data_keys, edk))

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


@dataclass(frozen=True, slots=True)
class DecryptionMaterials:
    """Everything needed to read one message."""

    suite: AlgorithmSuite
    encryption_context: Mapping[str, str]
    data_key: SecretBytes | None = None
    verification_key: ec.EllipticCurvePublicKey | None = field(default=None, repr=False)
    required_context_keys: frozenset[str] = frozenset()

    def with_data_key(self, data_key: SecretBytes) -> DecryptionMaterials:
        """Return a copy holding the unwrapped data key."""
        if self.data_key is not None:
            raise KeyringError("these materials already hold a data key")
        if len(data_key) != self.suite.key_bytes:
            raise KeyringError(f"unwrapped data key must be {self.suite.key_bytes} bytes for {self.suite.name}")
        return DecryptionMaterials(
            self.suite, self.encryption_context, data_key, self.verification_key, self.required_context_keys
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


@runtime_checkable
class Keyring(Protocol):
    """Wraps data keys on encrypt and unwraps one of them on decrypt.

    ``on_encrypt`` generates a data key if the materials hold none (when the
    keyring can), and adds its wrapped copy. ``on_decrypt`` returns materials with
    the data key if it could unwrap one of ``encrypted_data_keys`` and raises
    :class:`envelope.errors.KeyringError` otherwise; it must leave materials that
    already hold a data key unchanged.
    """

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials: ...

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials: ...


@runtime_checkable
class CryptoMaterialsManager(Protocol):
    """Assembles the materials for one message."""

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials: ...

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials: ...


def is_keyring(obj: object) -> TypeGuard[Keyring]:
    """True if ``obj`` has the keyring methods (cheaper than ``isinstance`` on the protocol)."""
    return callable(getattr(obj, "on_encrypt", None)) and callable(getattr(obj, "on_decrypt", None))


def is_materials_manager(obj: object) -> TypeGuard[CryptoMaterialsManager]:
    """True if ``obj`` has the materials-manager methods."""
    return callable(getattr(obj, "get_encryption_materials", None)) and callable(
        getattr(obj, "decrypt_materials", None)
    )
