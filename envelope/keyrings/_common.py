"""Helpers shared by the keyrings in this package."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from .._secrets import SecretBytes
from ..errors import KeyringError, NoDecryptingKeyError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials

RESERVED_PROVIDER_ID = "aws-kms"
_log = logging.getLogger("envelope.keyrings")


def check_names(keyring: str, namespace: str, name: str) -> None:
    """Raw keyrings need a non-empty namespace that is not ``aws-kms``, and a name."""
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise UsageError(f"{keyring} needs a non-empty str namespace and name")
    if namespace.startswith(RESERVED_PROVIDER_ID):
        raise UsageError(f"{keyring} namespace may not start with the reserved provider id {RESERVED_PROVIDER_ID!r}")


def ensure_data_key(materials: EncryptionMaterials) -> tuple[EncryptionMaterials, SecretBytes]:
    """Return materials holding a data key, generating a random one if they hold none."""
    if materials.data_key is not None:
        return materials, materials.data_key
    key = SecretBytes(os.urandom(materials.suite.key_bytes))
    return materials.with_data_key(key), key


#: One keyring's try at one data key: the data key, None (not this keyring's), or why it was skipped.
#: A :class:`KeyringError` it raises is a failed try, kept with its reason.
Attempt = Callable[[EncryptedDataKey], "bytes | str | None"]


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
    if materials.data_key is not None:
        return materials
    reasons: list[str] = []
    errors: list[KeyringError] = []
    for edk in encrypted_data_keys:
        try:
            outcome = attempt(edk)
        except KeyringError as exc:
            reasons.append(f"{keyring!r}: {exc}")
            errors.append(exc)
            continue
        if outcome is None:
            continue
        if isinstance(outcome, str):
            reasons.append(f"{keyring!r}: {outcome}")
            continue
        if len(outcome) != materials.suite.key_bytes:
            reasons.append(f"{keyring!r}: unwrapped data key has the wrong length")
            continue
        _log.debug("%s unwrapped a data key", label)
        return materials.with_data_key(SecretBytes(outcome))
    if not reasons:
        reasons.append(f"{keyring!r}: no encrypted data key for this keyring")
    raise NoDecryptingKeyError(f"{label} could not unwrap a data key", reasons, errors)
