"""The AWS settings the CLI takes from the environment, as docs/cli.md documents them.

``AWS_ENDPOINT_URL`` routes KMS and S3 calls (like ``--aws-endpoint-url``), ``AWS_PROFILE`` picks the
credentials and region of a named profile, and region selection for KMS MRK discovery falls back from
``--aws-region`` to ``AWS_REGION`` and ``AWS_DEFAULT_REGION``. Each case runs the real ``busta``
command in a fresh process whose environment holds only what the case sets, against moto's server
on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-west-2"
BUCKET = "busta-cli-environment"
PROFILE = "busta-test"


@pytest.fixture(scope="module")
def kms_arn(moto_server: MotoServer) -> str:
    arn: str = moto_server.client("kms", REGION).create_key(Description="cli env")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer) -> Any:
    return moto_server.with_bucket(BUCKET, REGION).client("s3", REGION)


@pytest.fixture
def aws_files(tmp_path: Path) -> dict[str, str]:
    """A shared credentials file and a config file holding one profile: moto's keys and a region."""
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    credentials.write_text(f"[{PROFILE}]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n")
    config.write_text(f"[profile {PROFILE}]\nregion = {REGION}\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)}


def busta(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m busta ARGS`` with no AWS variable but those given (and none that reach real AWS)."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment = {
        **base,
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(ROOT),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(b"routed by the environment\n" * 100)
    return path


def test_aws_endpoint_url_and_aws_profile_carry_a_kms_and_s3_round_trip_without_any_aws_option(
    tmp_path: Path, plain: Path, moto_server: MotoServer, kms_arn: str, bucket: Any, aws_files: dict[str, str]
) -> None:
    env = {**aws_files, "AWS_PROFILE": PROFILE, "AWS_ENDPOINT_URL": moto_server.endpoint}
    uri = f"s3://{BUCKET}/routed.enc"
    sent = busta(["encrypt", str(plain), "-o", uri, "--kms-key", kms_arn], tmp_path, env)
    assert sent.returncode == 0, sent.stderr
    assert bucket.head_object(Bucket=BUCKET, Key="routed.enc")["ContentLength"] > plain.stat().st_size
    back = busta(["decrypt", uri, "-o", str(tmp_path / "back.txt"), "--kms-key", kms_arn], tmp_path, env)
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back.txt").read_bytes() == plain.read_bytes()


def test_without_aws_profile_the_same_command_has_no_credentials_and_fails_in_one_line(
    tmp_path: Path, plain: Path, moto_server: MotoServer, kms_arn: str, aws_files: dict[str, str]
) -> None:
    env = {**aws_files, "AWS_ENDPOINT_URL": moto_server.endpoint, "AWS_REGION": REGION}
    failed = busta(["encrypt", str(plain), "-o", str(tmp_path / "x.enc"), "--kms-key", kms_arn], tmp_path, env)
    assert failed.returncode == 1
    assert failed.stderr.startswith("busta: error:") and "credentials" in failed.stderr.lower()
    assert not (tmp_path / "x.enc").exists()


def test_an_aws_profile_that_does_not_exist_is_named_in_the_error(
    tmp_path: Path, plain: Path, moto_server: MotoServer, kms_arn: str, aws_files: dict[str, str]
) -> None:
    env = {**aws_files, "AWS_PROFILE": "no-such-profile", "AWS_ENDPOINT_URL": moto_server.endpoint}
    failed = busta(["encrypt", str(plain), "-o", str(tmp_path / "x.enc"), "--kms-key", kms_arn], tmp_path, env)
    assert failed.returncode == 1
    assert "no-such-profile" in failed.stderr
    assert not (tmp_path / "x.enc").exists()


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_mrk_discovery_takes_its_region_from_aws_region_or_aws_default_region(
    tmp_path: Path, plain: Path, moto_server: MotoServer, kms_arn: str, aws_files: dict[str, str], variable: str
) -> None:
    env = {**aws_files, "AWS_PROFILE": PROFILE, "AWS_ENDPOINT_URL": moto_server.endpoint}
    message = tmp_path / "m.enc"
    assert busta(["encrypt", str(plain), "-o", str(message), "--kms-key", kms_arn], tmp_path, env).returncode == 0
    discovery = ["decrypt", str(message), "-o", str(tmp_path / "back.txt"), "--kms-discovery", "--kms-mrk"]
    Path(aws_files["AWS_CONFIG_FILE"]).write_text(f"[profile {PROFILE}]\n")  # a profile's region would do too
    refused = busta(discovery, tmp_path, env)
    assert refused.returncode == 2 and "--aws-region" in refused.stderr
    found = busta(discovery, tmp_path, {**env, variable: REGION})
    assert found.returncode == 0, found.stderr
    assert (tmp_path / "back.txt").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize(
    ("option", "aws_region", "aws_default_region", "expected"),
    [
        ("eu-west-3", "eu-central-1", "ap-south-1", "eu-west-3"),
        (None, "eu-central-1", "ap-south-1", "eu-central-1"),
        (None, None, "ap-south-1", "ap-south-1"),
    ],
)
def test_the_s3_client_s_region_is_the_option_then_aws_region_then_aws_default_region(
    monkeypatch: pytest.MonkeyPatch, option: str | None, aws_region: str | None, aws_default_region: str, expected: str
) -> None:
    import argparse

    from busta.cli.commands import _S3

    monkeypatch.setenv("AWS_DEFAULT_REGION", aws_default_region)
    if aws_region is None:
        monkeypatch.delenv("AWS_REGION", raising=False)
    else:
        monkeypatch.setenv("AWS_REGION", aws_region)
    client = _S3(argparse.Namespace(aws_endpoint_url="http://127.0.0.1:9", aws_region=option))()
    assert client.meta.region_name == expected  # a client made, no request sent
