"""Immutable materials and the two contracts that produce them.

A :class:`Keyring` wraps and unwraps data keys; a :class:`CryptoMaterialsManager`
(CMM) assembles complete materials for one message, usually around a keyring.
Both are ``typing.Protocol`` s: any object with these methods will do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn, Protocol, TypeGuard, runtime_checkable

from .._frozen import field, record
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


@record
class EncryptionRequest:
    """What the encrypt call asks a CMM for."""

    encryption_context: Mapping[str, str]
    commitment_policy: CommitmentPolicy
    suite: AlgorithmSuite | None = None
    plaintext_length: int | None = None
    max_encrypted_data_keys: int | None = None


@record
class DecryptionRequest:
    """What the decrypt call asks a CMM for, once the header is parsed."""

    suite: AlgorithmSuite
    encrypted_data_keys: tuple[EncryptedDataKey, ...]
    encryption_context: Mapping[str, str]  # as stored in the header
    commitment_policy: CommitmentPolicy
    reproduced_encryption_context: Mapping[str, str] | None = None  # what the caller expects


class _DataKeyRun:
    """Wrapped data keys in an append-only list shared by materials derived one from another.

    Each materials object sees a prefix of the list, its first ``count`` keys. Adding a key to the
    newest materials of a line appends to the list (constant time, so that 65,535 keys are added in
    linear time); adding one to older materials, whose prefix is already followed by other keys,
    copies the prefix first. The tuple is made once, when first asked for.
    """

    __slots__ = ("_count", "_keys", "_lock", "_tuple")

    def __init__(self, keys: list[EncryptedDataKey], count: int, lock: threading.Lock):
        self._keys = keys
        self._count = count
        self._lock = lock  # keyrings may add to the same materials from several threads
        self._tuple: tuple[EncryptedDataKey, ...] | None = None

    @classmethod
    def of(cls, edks: Iterable[EncryptedDataKey]) -> _DataKeyRun:
        keys = list(edks)
        return cls(keys, len(keys), threading.Lock())

    def plus(self, edk: EncryptedDataKey) -> _DataKeyRun:
        with self._lock:
            if len(self._keys) == self._count:
                self._keys.append(edk)
                return _DataKeyRun(self._keys, self._count + 1, self._lock)
        return _DataKeyRun.of((*self._keys[: self._count], edk))

    def as_tuple(self) -> tuple[EncryptedDataKey, ...]:
        if self._tuple is None:
            self._tuple = tuple(self._keys[: self._count])
        return self._tuple

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DataKeyRun) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]


@record(init=False, repr=False)
class EncryptionMaterials:
    """Everything needed to write one message.

    ``encryption_context`` is the full context; the keys in ``required_context_keys``
    are authenticated but not stored in the header. Adding wrapped copies of the
    data key one at a time (:meth:`with_encrypted_data_key`) takes constant time each.
    """

    suite: AlgorithmSuite
    encryption_context: Mapping[str, str]
    data_key: SecretBytes | None
    _edks: _DataKeyRun
    signing_key: ec.EllipticCurvePrivateKey | None
    required_context_keys: frozenset[str]

    def __init__(  # noqa: PLR0917 - positional in field order, as the dataclass's own was
        self,
        suite: AlgorithmSuite,
        encryption_context: Mapping[str, str],
        data_key: SecretBytes | None = None,
        encrypted_data_keys: Iterable[EncryptedDataKey] | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
        required_context_keys: frozenset[str] = frozenset(),
        _edks: _DataKeyRun | None = None,  # what dataclasses.replace passes on: the copied keys
    ):
        if encrypted_data_keys is not None or _edks is None:
            _edks = _DataKeyRun.of(encrypted_data_keys or ())
        self._set(suite, encryption_context, data_key, _edks)
        object.__setattr__(self, "signing_key", signing_key)
        object.__setattr__(self, "required_context_keys", required_context_keys)

    def _set(
        self, suite: AlgorithmSuite, context: Mapping[str, str], data_key: SecretBytes | None, edks: _DataKeyRun
    ) -> None:
        object.__setattr__(self, "suite", suite)
        object.__setattr__(self, "encryption_context", context)
        object.__setattr__(self, "data_key", data_key)
        object.__setattr__(self, "_edks", edks)

    def _derive(self, data_key: SecretBytes | None, edks: _DataKeyRun) -> EncryptionMaterials:
        """A copy with this data key and these wrapped copies (no list of them is rebuilt)."""
        copy = object.__new__(EncryptionMaterials)
        copy._set(self.suite, self.encryption_context, data_key, edks)
        object.__setattr__(copy, "signing_key", self.signing_key)
        object.__setattr__(copy, "required_context_keys", self.required_context_keys)
        return copy

    @property
    def encrypted_data_keys(self) -> tuple[EncryptedDataKey, ...]:
        """The wrapped copies of the data key, in the order they were added."""
        return self._edks.as_tuple()

    def with_data_key(self, data_key: SecretBytes, edk: EncryptedDataKey | None = None) -> EncryptionMaterials:
        """Return a copy holding a newly generated data key (and its first wrapped copy)."""
        if self.data_key is not None:
            raise KeyringError("these materials already hold a data key")
        if len(data_key) != self.suite.key_bytes:
            raise KeyringError(f"data key must be {self.suite.key_bytes} bytes for {self.suite.name}")
        return self._derive(data_key, self._edks if edk is None else self._edks.plus(edk))

    def with_encrypted_data_keys(self, edks: tuple[EncryptedDataKey, ...]) -> EncryptionMaterials:
        """Return a copy whose wrapped copies of the data key are ``edks``."""
        if self.data_key is None:
            raise KeyringError("cannot add an encrypted data key before a data key exists")
        return self._derive(self.data_key, _DataKeyRun.of(edks))

    def with_encrypted_data_key(self, edk: EncryptedDataKey) -> EncryptionMaterials:
        """Return a copy with one more wrapped copy of the data key (constant time)."""
        if self.data_key is None:
            raise KeyringError("cannot add an encrypted data key before a data key exists")
        return self._derive(self.data_key, self._edks.plus(edk))

    def __repr__(self) -> str:
        return (
            f"EncryptionMaterials(suite={self.suite!r}, encryption_context={self.encryption_context!r}, "
            f"data_key={self.data_key!r}, encrypted_data_keys={self.encrypted_data_keys!r}, "
            f"required_context_keys={self.required_context_keys!r})"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


@record
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
    :class:`busta.errors.KeyringError` otherwise; it must leave materials that
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
