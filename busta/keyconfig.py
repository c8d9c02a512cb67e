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
``pin_env``), ``BUSTA_RSA_KEY_PASSWORD``, and AWS credentials from the
worker's usual boto3 chain.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._legacy import environ
from ._secrets import SecretBytes
from .errors import KeyFileError, UsageError
from .keyrings import MultiKeyring, RawAesKeyring
from .materials import Keyring

__all__ = [
    "AesKeyFile",
    "EnvKey",
    "KeyringConfig",
    "KmsDiscovery",
    "KmsKey",
    "LocalKey",
    "Multi",
    "Pkcs11Key",
    "RsaKeyFile",
    "build_keyring",
]

AES_KEY_BYTES = 32


@runtime_checkable
class KeyringConfig(Protocol):
    """A secret-free description of a keyring; ``build()`` makes the keyring (reading any secret then)."""

    def build(self) -> Keyring: ...


@dataclass(frozen=True, slots=True)
class LocalKey:
    """A key record made by ``busta keygen`` (JSON, mode 0600); ``path=None``: the default key."""

    path: str | None = None

    def build(self) -> Keyring:
        from .keyfile import DEFAULT_KEY_NAME, config_file, read_record  # noqa: PLC0415

        path = Path(self.path) if self.path else config_file(DEFAULT_KEY_NAME)
        record = read_record(path, missing_hint="" if self.path else "; run `busta keygen` to create it")
        return RawAesKeyring(record.namespace, record.name, record.key)


@dataclass(frozen=True, slots=True)
class AesKeyFile:
    """A file of exactly 32 raw AES key bytes, wrapped under ``namespace``/``name``."""

    path: str
    namespace: str
    name: str

    def build(self) -> Keyring:
        from .keyfile import read_raw_key  # noqa: PLC0415

        return RawAesKeyring(self.namespace, self.name, read_raw_key(Path(self.path)))


@dataclass(frozen=True, slots=True)
class EnvKey:
    """A base64 AES-256 key in the environment variable ``variable`` of the process that builds it."""

    variable: str
    namespace: str
    name: str

    def build(self) -> Keyring:
        encoded = os.environ.get(self.variable)
        if not encoded:
            raise UsageError(f"environment variable {self.variable} (a base64 AES-256 key) is not set")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"environment variable {self.variable} is not valid base64") from None
        if len(key) != AES_KEY_BYTES:
            raise UsageError(f"environment variable {self.variable} holds {len(key)} bytes, not {AES_KEY_BYTES}")
        return RawAesKeyring(self.namespace, self.name, SecretBytes(key))


@dataclass(frozen=True, slots=True)
class RsaKeyFile:
    """A PEM RSA key file: a public key encrypts only; a private key (password from
    ``BUSTA_RSA_KEY_PASSWORD`` if encrypted) also decrypts."""

    path: str
    namespace: str
    name: str
    padding: str = "oaep-sha256"

    def build(self) -> Keyring:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        from .keyrings import RawRsaKeyring, RsaPadding  # noqa: PLC0415

        data = _read_rsa_key_file(Path(self.path))
        password = environ("BUSTA_RSA_KEY_PASSWORD")
        key: Any
        try:
            if b"PRIVATE KEY" in data:
                key = serialization.load_pem_private_key(data, password.encode() if password else None)
            else:
                key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{self.path}: not a usable PEM RSA key ({exc})") from None
        padding = RsaPadding(self.padding)
        if isinstance(key, rsa.RSAPrivateKey):
            return RawRsaKeyring(self.namespace, self.name, private_key=key, padding=padding)
        if isinstance(key, rsa.RSAPublicKey):
            return RawRsaKeyring(self.namespace, self.name, public_key=key, padding=padding)
        raise KeyFileError(f"{self.path}: not an RSA key")


def _read_rsa_key_file(path: Path) -> bytes:
    """A PEM file, checked as every key file is (:mod:`busta._trust`): a private key
    must be private to its owner, a public one writable by its owner only."""
    from ._trust import read_key_file  # noqa: PLC0415

    try:
        return read_key_file(path, what="RSA key file", secret=lambda data: b"PRIVATE KEY" in data)
    except FileNotFoundError:
        raise KeyFileError(f"RSA key file {path} does not exist") from None


@dataclass(frozen=True, slots=True)
class KmsKey:
    """An AWS KMS key (ARN or alias); ``mrk=True`` for the multi-Region-key-aware keyring."""

    key_id: str
    mrk: bool = False
    endpoint_url: str | None = None

    def build(self) -> Keyring:
        from .keyrings import AwsKmsKeyring, AwsKmsMrkKeyring  # noqa: PLC0415

        kind = AwsKmsMrkKeyring if self.mrk else AwsKmsKeyring
        return kind(self.key_id, client_supplier=_kms_clients(self.endpoint_url))


@dataclass(frozen=True, slots=True)
class KmsDiscovery:
    """Decrypt with any KMS key the credentials may use, optionally only these ``accounts``;
    ``mrk_region`` makes it multi-Region-key aware in that region."""

    accounts: tuple[str, ...] = ()
    partition: str = "aws"
    mrk_region: str | None = None
    endpoint_url: str | None = None

    def build(self) -> Keyring:
        from .keyrings import AwsKmsDiscoveryKeyring, AwsKmsMrkDiscoveryKeyring, DiscoveryFilter  # noqa: PLC0415

        found = DiscoveryFilter(self.partition, self.accounts) if self.accounts else None
        supplier = _kms_clients(self.endpoint_url)
        if self.mrk_region:
            return AwsKmsMrkDiscoveryKeyring(self.mrk_region, client_supplier=supplier, discovery_filter=found)
        return AwsKmsDiscoveryKeyring(client_supplier=supplier, discovery_filter=found)


@dataclass(frozen=True, slots=True)
class Pkcs11Key:
    """A key on a PKCS#11 token; the PIN comes from the environment variable ``pin_env``."""

    module: str
    token_label: str
    key_label: str
    namespace: str
    name: str
    padding: str = "oaep-sha256"
    pin_env: str = "BUSTA_PKCS11_PIN"
    allow_pkcs1v15_unwrap: bool = False  # padding "pkcs1" with a private key needs it (docs/hsm.md)

    def build(self) -> Keyring:
        from .keyrings import Pkcs11Keyring, RsaPadding  # noqa: PLC0415

        return Pkcs11Keyring(
            self.namespace,
            self.name,
            module=self.module,
            token_label=self.token_label,
            key_label=self.key_label,
            padding=RsaPadding(self.padding),
            pin_env=self.pin_env,
            allow_pkcs1v15_unwrap=self.allow_pkcs1v15_unwrap,
        )


@dataclass(frozen=True, slots=True)
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


@functools.cache
def _kms_clients(endpoint_url: str | None) -> Any:
    from .keyrings import ClientCache  # noqa: PLC0415

    return ClientCache(endpoint_url=endpoint_url)


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
