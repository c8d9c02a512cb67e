"""Helpers shared by the keyrings in this package."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from .._debug import debug
from .._secrets import SecretBytes, refuse_pickling
from ..errors import KeyringError, NoDecryptingKeyError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials

RESERVED_PROVIDER_ID = "aws-kms"


def check_names(keyring: str, namespace: str, name: str) -> None:
    """Raw keyrings need a non-empty namespace that is not ``aws-kms``, and a name."""
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise UsageError(f"{keyring} needs a non-empty str namespace and name")
    if namespace.startswith(RESERVED_PROVIDER_ID):
        raise UsageError(f"{keyring} namespace may not start with the reserved provider id {RESERVED_PROVIDER_ID!r}")


class ImplicitRejection:
    """Turns every failed RSA PKCS#1 v1.5 unwrap into a pseudo-random data key, as OpenSSL does.

    PKCS#1 v1.5 decryption that says *why* it failed (bad padding, a payload of
    the wrong length) is Bleichenbacher's padding oracle. So a keyring using it
    never fails on a ciphertext: for a decryption that failed, or a payload that
    is not exactly ``length`` bytes, it returns
    ``HMAC-SHA256(secret, label | length | ciphertext)[:length]``, where
    ``secret`` is 32 random bytes made with the keyring. That key is
    deterministic per keyring and ciphertext, and wrong, so the message's key
    commitment or header tag then fails exactly as it does for a well-padded
    32-byte payload that is not the data key: one error, one message, whatever
    was wrong with the ciphertext.

    The substitute is computed on every call, success or not, so both take the
    same work in Python; the token's (or OpenSSL's) own timing is theirs.
    """

    __slots__ = ("_secret",)

    def __init__(self) -> None:
        self._secret = SecretBytes(os.urandom(32))

    def __repr__(self) -> str:
        return "ImplicitRejection(<secret redacted>)"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def choose(self, recovered: bytes | None, ciphertext: bytes, length: int) -> bytes:
        """``recovered`` if it is a ``length``-byte payload, else the substitute key for ``ciphertext``."""
        message = _REJECTION_LABEL + length.to_bytes(2, "big") + ciphertext
        substitute = hmac.digest(self._secret.reveal(), message, "sha256")[:length]
        if recovered is not None and len(recovered) == length:
            return recovered
        return substitute


_REJECTION_LABEL = b"envelope rsa pkcs1 implicit rejection\x00"


def ensure_data_key(materials: EncryptionMaterials) -> tuple[EncryptionMaterials, SecretBytes]:
    """Return materials holding a data key, generating a random one if they hold none."""
    if materials.data_key is not None:
        return materials, materials.data_key
    key = new_data_key(materials)
    return materials.with_data_key(key), key


def new_data_key(materials: EncryptionMaterials) -> SecretBytes:
    """A random data key for the materials' suite."""
    return SecretBytes(os.urandom(materials.suite.key_bytes))


#: One keyring's try at one data key: the data key, None (not this keyring's), or why it was skipped.
#: A :class:`KeyringError` it raises is a failed try, kept with its reason.
Attempt = Callable[[EncryptedDataKey], "bytes | str | None"]


class Unwrapping:
    """The outcomes of one keyring's tries at a message's data keys, the first data key winning.

    :func:`unwrap_first` (and the async keyrings' own loop) take each data key from :meth:`pending`
    and hand back its try's outcome (:meth:`outcome`, or :meth:`failed` for a :class:`KeyringError`);
    :meth:`result` is then the materials, or the :class:`NoDecryptingKeyError` with a reason per try.
    """

    __slots__ = ("_errors", "_keyring", "_label", "_materials", "_reasons", "_won")

    def __init__(self, keyring: object, label: str, materials: DecryptionMaterials):
        self._keyring, self._label, self._materials = keyring, label, materials
        self._reasons: list[str] = []
        self._errors: list[KeyringError] = []
        self._won = materials if materials.data_key is not None else None

    def pending(self, encrypted_data_keys: Sequence[EncryptedDataKey]) -> Iterator[EncryptedDataKey]:
        """The data keys still to try, in the message's order: none once one has won."""
        for edk in encrypted_data_keys:
            if self._won is not None:
                return
            yield edk

    @property
    def settled(self) -> bool:
        """True once a data key has won (or the materials came with one)."""
        return self._won is not None

    def result(self) -> DecryptionMaterials:
        if self._won is None:
            raise self.failure()
        return self._won

    def failed(self, exc: KeyringError) -> None:
        self._reasons.append(f"{self._keyring!r}: {exc}")
        self._errors.append(exc)

    def outcome(self, outcome: bytes | str | None) -> None:
        """Take one try's outcome: the data key (it wins), None (not this keyring's) or a reason."""
        if outcome is None:
            return
        if isinstance(outcome, str):
            self._reasons.append(f"{self._keyring!r}: {outcome}")
        elif len(outcome) != self._materials.suite.key_bytes:
            self._reasons.append(f"{self._keyring!r}: unwrapped data key has the wrong length")
        else:
            self._won = won(self._label, self._materials, outcome)

    def failure(self) -> NoDecryptingKeyError:
        reasons = self._reasons or [f"{self._keyring!r}: no encrypted data key for this keyring"]
        return NoDecryptingKeyError(f"{self._label} could not unwrap a data key", reasons, self._errors)


def won(label: str, materials: DecryptionMaterials, data_key: bytes) -> DecryptionMaterials:
    """The materials with the data key a keyring (``label``) unwrapped, which has the suite's length."""
    debug("busta.keyrings", "%s unwrapped a data key", label)
    return materials.with_data_key(SecretBytes(data_key))


def unwrap_first(
    keyring: object,
    label: str,
    materials: DecryptionMaterials,
    encrypted_data_keys: Sequence[EncryptedDataKey],
    attempt: Attempt,
) -> DecryptionMaterials:
    """The decrypt loop every keyring shares: the first data key ``attempt`` unwraps wins.

    Otherwise :class:`NoDecryptingKeyError` carries a reason per data key tried
    (and the errors raised), or says that none was this keyring's.
    """
    if materials.data_key is not None:  # unwrapped already (by a keyring before this one): unchanged
        return materials
    tries: Unwrapping | None = None  # made by the first try that neither wins nor passes: none in the common case
    for edk in encrypted_data_keys:
        try:
            outcome = attempt(edk)
        except KeyringError as exc:
            tries = tries or Unwrapping(keyring, label, materials)
            tries.failed(exc)
            continue
        if outcome is None:  # not this keyring's
            continue
        if tries is None and isinstance(outcome, bytes) and len(outcome) == materials.suite.key_bytes:
            return won(label, materials, outcome)
        tries = tries or Unwrapping(keyring, label, materials)
        tries.outcome(outcome)
        if tries.settled:
            break
    return (tries or Unwrapping(keyring, label, materials)).result()
