"""Keyrings as configuration: secret-free descriptions that are rebuilt where they are used.

A keyring that holds key bytes refuses to be pickled, so it cannot travel to
another process (a Dask worker, say). What travels instead is one of these
frozen, picklable descriptions: where the key lives (a key-file path, an
environment variable's name, a KMS key ARN, a PKCS#11 module, token and
label), never the key. :func:`build_keyring` turns one into a keyring in the
process that uses it, and keeps one per description per process.

>>> spec = Multi((KmsKey("arn:aws:kms:us-west-2:111122223333:key/..."), LocalKey("/etc/busta/backup.key")))
>>> keyring = build_keyring(spec)   # on the worker

Secrets the descriptions point at are read on the worker: the key file, the
variable named by ``EnvKey.variable``, ``BUSTA_PKCS11_PIN`` (or
``pin_env``), ``BUSTA_RSA_KEY_PASSWORD``, ``BUSTA_EC_KEY_PASSWORD`` (or
``EcdhKeyFile.password_env``), and AWS credentials from the worker's usual boto3 chain.

Each description belongs to a keyring kind registered in one place
(:mod:`busta.keyrings.registry`; the built-in kinds are in :mod:`busta.keyrings.kinds`):
:func:`build_keyring` builds any description a kind registered, and any other object that
keeps the :class:`KeyringConfig` protocol.
"""

from __future__ import annotations

import threading

from ._frozen import record
from .errors import UsageError
from .keyrings import MultiKeyring
from .keyrings.kinds import AesKeyFile, EnvKey, KmsDiscovery, KmsKey, LocalKey, Pkcs11Key, RsaKeyFile
from .keyrings.kinds_ecdh import EcdhKeyFile
from .keyrings.kinds_hierarchy import BranchKeyStoreConfig, HierarchyKey
from .keyrings.registry import KeyringConfig
from .materials import Keyring

__all__ = [
    "AesKeyFile",
    "BranchKeyStoreConfig",
    "EcdhKeyFile",
    "EnvKey",
    "HierarchyKey",
    "KeyringConfig",
    "KmsDiscovery",
    "KmsKey",
    "LocalKey",
    "Multi",
    "Pkcs11Key",
    "RsaKeyFile",
    "build_keyring",
]


@record
class Multi:
    """Several keyrings: on encrypt the first generates the data key and every one wraps it;
    on decrypt the first that can unwrap one wins."""

    keys: tuple[KeyringConfig, ...]

    def build(self) -> Keyring:
        if not self.keys:
            raise UsageError("Multi needs at least one keyring description")
        built = [key.build() for key in self.keys]
        if len(built) == 1:
            return built[0]
        return MultiKeyring(generator=built[0], children=built[1:])


_BUILT: dict[KeyringConfig, Keyring] = {}
_BUILT_LOCK = threading.Lock()


def build_keyring(config: KeyringConfig) -> Keyring:
    """The keyring ``config`` describes, built once per process and then reused."""
    if not isinstance(config, KeyringConfig):
        raise UsageError(f"{config!r} is not a keyring description (see busta.keyconfig)")
    try:
        hash(config)
    except TypeError:
        raise UsageError(f"{config!r} is not hashable; use the frozen descriptions of busta.keyconfig") from None
    with _BUILT_LOCK:
        keyring = _BUILT.get(config)
        if keyring is None:
            keyring = _BUILT[config] = config.build()
    return keyring
