"""Key files: the local key record and raw AES key files, read under the checks of :mod:`busta._trust`.

A key record is ``{"version": 1, "kind": "aes-256", "namespace", "name", "key"}`` as JSON.
``busta keygen`` writes one (:func:`busta.cli.keyfile.write_record`) to
``$XDG_CONFIG_HOME/busta/default.key`` (or ``~/.config/busta/default.key``), mode 0600,
atomically; ``--key-file`` and :class:`busta.keyconfig.LocalKey` read one. Every refusal is a
:class:`~busta.errors.KeyFileError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._legacy import LEGACY_CONFIG_DIR_NAME
from ._secrets import SecretBytes
from ._trust import read_key_file
from .errors import KeyFileError

__all__ = [
    "DEFAULT_KEY_NAME",
    "DEFAULT_NAMESPACE",
    "KEY_BYTES",
    "KIND",
    "RECORD_VERSION",
    "KeyRecord",
    "config_dir",
    "config_file",
    "default_key_path",
    "encode_record",
    "generate",
    "read_raw_key",
    "read_record",
]

#: The key record's format version and kind, and the length of the AES key it holds (and of a raw AES key file).
RECORD_VERSION: Final = 1
KIND: Final = "aes-256"
KEY_BYTES: Final = 32
DEFAULT_NAMESPACE = "envelope-local"  # a key namespace: kept by the rename, as on the wire
#: The default key's file name in the configuration directory.
DEFAULT_KEY_NAME: Final = "default.key"


@dataclass(frozen=True)
class KeyRecord:
    namespace: str
    name: str
    key: SecretBytes


def _config_base() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/busta``, or ``~/.config/busta``: as the XDG spec says, an empty or
    relative XDG_CONFIG_HOME is ignored."""
    return _config_base() / "busta"


def config_file(name: str) -> Path:
    """The file ``name`` to read from the configuration directory: ``config_dir() / name``, or the one
    envelope 0.1 wrote under ``.../envelope/`` while only that one exists."""
    current = config_dir() / name
    legacy = _config_base() / LEGACY_CONFIG_DIR_NAME / name
    return legacy if not os.path.lexists(current) and os.path.lexists(legacy) else current


def default_key_path() -> Path:
    """Where ``busta keygen`` writes: ``$XDG_CONFIG_HOME/busta/default.key`` (an absolute
    XDG_CONFIG_HOME only), else ``~/.config/...``."""
    return config_dir() / DEFAULT_KEY_NAME


def generate() -> KeyRecord:
    """A fresh random 256-bit key named ``local-<8 hex>``."""
    return KeyRecord(DEFAULT_NAMESPACE, f"local-{secrets.token_hex(4)}", SecretBytes(secrets.token_bytes(KEY_BYTES)))


def encode_record(record: KeyRecord) -> bytes:
    """``record`` as the JSON a key file holds (it holds the key: write it mode 0600)."""
    body = {
        "version": RECORD_VERSION,
        "kind": KIND,
        "namespace": record.namespace,
        "name": record.name,
        "key": base64.b64encode(record.key.reveal()).decode("ascii"),
    }
    return json.dumps(body, indent=2).encode("utf-8") + b"\n"


def read_record(path: Path, *, missing_hint: str = "") -> KeyRecord:
    """Read and check a key record: a regular file of the user's (or root's), private to its owner,
    in directories only they can write (:mod:`busta._trust`)."""
    try:
        data = read_key_file(path)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist{missing_hint}") from None
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("version") != RECORD_VERSION or body.get("kind") != KIND:
            raise ValueError("not a version 1 aes-256 key record")
        namespace, name, encoded = body["namespace"], body["name"], body["key"]
        if not all(isinstance(v, str) and v for v in (namespace, name, encoded)):
            raise ValueError("namespace, name and key must be non-empty strings")
        key = base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, binascii.Error) as exc:
        raise KeyFileError(f"key file {path} is not a valid key record: {exc}") from None
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"key file {path} holds a {len(key)}-byte key, not {KEY_BYTES}")
    return KeyRecord(namespace, name, SecretBytes(key))


def read_raw_key(path: Path) -> SecretBytes:
    """Read a file of exactly 32 raw key bytes, checked as :func:`read_record` checks a record."""
    try:
        data = read_key_file(path, what="AES key file")
    except FileNotFoundError:
        raise KeyFileError(f"AES key file {path} does not exist") from None
    if len(data) != KEY_BYTES:
        raise KeyFileError(f"AES key file {path} holds {len(data)} bytes, not {KEY_BYTES}")
    return SecretBytes(data)
