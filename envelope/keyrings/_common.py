"""Helpers shared by the keyrings in this package."""

from __future__ import annotations

import os

from .._secrets import SecretBytes
from ..errors import UsageError
from ..materials import EncryptionMaterials

RESERVED_PROVIDER_ID = "aws-kms"


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
