"""What the KMS command-line tests share: a key with an alias in a recording moto server, and
``busta`` run as a fresh process with no AWS setting but those a case gives.

Import the fixtures by name (with :func:`~tests.support.kms_recording.recording_moto_server`)::

    from ..support.kms_cli import key, plain, server
    from ..support.kms_recording import recording_moto_server
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .kms_recording import RecordingMotoServer, forget_calls
from .moto_server import ACCESS_KEY, SECRET_KEY

__all__ = [
    "ALIAS",
    "PROFILE",
    "REGION",
    "busta",
    "key",
    "one_line_error",
    "plain",
    "profile_files",
    "provider_infos",
    "server",
]

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-west-2"
PROFILE = "busta-kms"
ALIAS = "alias/busta-cli-kms"


@pytest.fixture(scope="module")
def key(recording_moto_server: RecordingMotoServer) -> dict[str, str]:
    """A key and an alias of it in us-west-2: every spelling KMS accepts."""
    kms = recording_moto_server.client("kms", REGION)
    metadata = kms.create_key(Description="cli kms options")["KeyMetadata"]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=metadata["KeyId"])
    arn: str = metadata["Arn"]
    account = arn.split(":")[4]
    return {
        "key ARN": arn,
        "alias ARN": f"arn:aws:kms:{REGION}:{account}:{ALIAS}",
        "key id": metadata["KeyId"],
        "alias name": ALIAS,
        "account": account,
    }


@pytest.fixture
def server(recording_moto_server: RecordingMotoServer) -> RecordingMotoServer:
    forget_calls(recording_moto_server)
    return recording_moto_server


def busta(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m busta ARGS`` with moto's credentials and no other AWS setting but ``env``."""
    base = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MOTO_"))}
    given = env if env is not None else {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    environment = {
        **base,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(cwd / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(cwd / "no-aws-credentials"),
        "XDG_CONFIG_HOME": str(cwd / "xdg"),
        "PYTHONPATH": str(ROOT),
        **given,
    }
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    assert result.returncode == status, result.stderr
    assert result.stderr.startswith("busta: error:") and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(b"a KMS-wrapped file\n" * 50)
    return path


def provider_infos(message: Path, cwd: Path) -> list[str]:
    shown = busta(["inspect", "--json", str(message)], cwd)
    assert shown.returncode == 0, shown.stderr
    return [edk["provider_info"] for edk in json.loads(shown.stdout)["encrypted_data_keys"]]


def profile_files(tmp_path: Path, *, region: str | None = REGION) -> dict[str, str]:
    """A credentials file and a config file holding one profile: moto's keys and (optionally) a region."""
    credentials, config = tmp_path / "profile-credentials", tmp_path / "profile-config"
    credentials.write_text(f"[{PROFILE}]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    config.write_text(f"[profile {PROFILE}]\n" + (f"region = {region}\n" if region else ""))
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)}
