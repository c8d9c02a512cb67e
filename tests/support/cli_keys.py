"""The CLI's default key, made with ``busta keygen`` under a test's own config home, as a keyring."""

from __future__ import annotations

from pathlib import Path

import pytest

from busta.cli import main
from busta.keyfile import read_record
from busta.keyrings import RawAesKeyring


def default_keyring(config_home: Path) -> RawAesKeyring:
    """The keyring of the default key file under ``config_home`` (what ``keygen`` wrote there)."""
    record = read_record(config_home / "busta" / "default.key")
    return RawAesKeyring(record.namespace, record.name, record.key)


def keygen_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RawAesKeyring:
    """Point XDG_CONFIG_HOME at ``tmp_path / "config"``, run ``keygen`` in-process, return its key."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["keygen"]) == 0
    return default_keyring(tmp_path / "config")
