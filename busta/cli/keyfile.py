"""The local key record: ``{"version": 1, "kind": "aes-256", "namespace", "name", "key"}`` as JSON.

``busta keygen`` writes one to ``$XDG_CONFIG_HOME/busta/default.key`` (or
``~/.config/busta/default.key``), mode 0600, atomically; ``--key-file`` reads one.
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

from .._legacy import LEGACY_CONFIG_DIR_NAME
from .._secrets import SecretBytes
from .errors import CliError
from .outputs import local_output
from .trust import read_key_file

__all__ = [
    "DEFAULT_KEY_NAME",
    "DEFAULT_NAMESPACE",
    "KeyRecord",
    "config_dir",
    "config_file",
    "default_key_path",
    "generate",
    "read_record",
    "write_record",
]

RECORD_VERSION = 1
KIND = "aes-256"
KEY_BYTES = 32
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


def write_record(record: KeyRecord, path: Path, *, force: bool) -> None:
    """Write ``record`` to ``path`` (mode 0600, atomically); refuse an existing file unless ``force``."""
    if os.path.lexists(path) and not force:
        raise CliError(f"{path} already exists; pass --force to replace it (the old key is then lost)")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    body = {
        "version": RECORD_VERSION,
        "kind": KIND,
        "namespace": record.namespace,
        "name": record.name,
        "key": base64.b64encode(record.key.reveal()).decode("ascii"),
    }
    with local_output(path, force=True, mode=0o600) as out:  # an existing FIFO or device: written through
        out.write(json.dumps(body, indent=2).encode("utf-8") + b"\n")


def read_record(path: Path, *, missing_hint: str = "") -> KeyRecord:
    """Read and check a key record: a regular file of the user's (or root's), private to its owner,
    in directories only they can write (:mod:`busta.cli.trust`)."""
    try:
        data = read_key_file(path)
    except FileNotFoundError:
        raise CliError(f"key file {path} does not exist{missing_hint}") from None
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("version") != RECORD_VERSION or body.get("kind") != KIND:
            raise ValueError("not a version 1 aes-256 key record")
        namespace, name, encoded = body["namespace"], body["name"], body["key"]
        if not all(isinstance(v, str) and v for v in (namespace, name, encoded)):
            raise ValueError("namespace, name and key must be non-empty strings")
        key = base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, binascii.Error) as exc:
        raise CliError(f"key file {path} is not a valid key record: {exc}") from None
    if len(key) != KEY_BYTES:
        raise CliError(f"key file {path} holds a {len(key)}-byte key, not {KEY_BYTES}")
    return KeyRecord(namespace, name, SecretBytes(key))


def read_raw_key(path: Path) -> SecretBytes:
    """Read a file of exactly 32 raw key bytes, checked as :func:`read_record` checks a record."""
    try:
        data = read_key_file(path, what="AES key file")
    except FileNotFoundError:
        raise CliError(f"AES key file {path} does not exist") from None
    if len(data) != KEY_BYTES:
        raise CliError(f"AES key file {path} holds {len(data)} bytes, not {KEY_BYTES}")
    return SecretBytes(data)
