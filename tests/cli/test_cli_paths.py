"""The CLI's directory modes keep every derived path inside the output directory: names from a tree
(``-r``) and S3 keys (an ``s3://`` input decrypted into ``-o dir/``) go through
:func:`busta._paths.contained_path`. A name that would leave the root, or mean something else,
is refused before anything is written, and nothing is created outside the root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta.cli import main
from busta.keyrings import RawAesKeyring

from ..support.cli_keys import keygen_keyring
from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

__all__ = ["moto_server"]  # a fixture, imported for pytest to find

BUCKET = "busta-cli-paths"


@pytest.fixture
def keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RawAesKeyring:
    return keygen_keyring(tmp_path, monkeypatch)


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) if directory.exists() else []


@pytest.mark.parametrize("name", ["a\\..\\b.txt", "back\\slash.txt", "new\nline.txt", "esc\x1b[2J.txt"])
@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_a_tree_name_that_is_not_a_safe_relative_name_is_refused_before_anything_is_written(
    command: str, name: str, keyring: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    suffix = ".enc" if command == "decrypt" else ""
    content = busta.encrypt(b"x", keyring=keyring) if command == "decrypt" else b"x"
    (tree / "sub" / "first.txt").with_name("first.txt" + suffix).write_bytes(content)  # sorted before: not written
    (tree / "sub" / (name + suffix)).write_bytes(content)
    out = tmp_path / "out"
    assert main([command, "-r", str(tree), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "refusing the name" in err and err.count("\n") == 1 and "\x1b" not in err
    assert files_under(out) == []


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_a_symlink_inside_the_output_directory_that_points_outside_is_refused(
    command: str, keyring: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    suffix = ".enc" if command == "decrypt" else ""
    content = busta.encrypt(b"x", keyring=keyring) if command == "decrypt" else b"x"
    (tree / "sub" / f"a.txt{suffix}").write_bytes(content)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    assert main([command, "-r", str(tree), "-o", str(out), "--force"]) == 1
    assert "goes through a symlink ('sub')" in capsys.readouterr().err
    assert files_under(outside) == []


def test_a_suffix_with_a_path_separator_is_a_usage_error(keyring: RawAesKeyring, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"x")
    assert main(["encrypt", "-r", str(tree), "-o", str(tmp_path / "out"), "--suffix", "/../../escaped"]) == 2
    assert files_under(tmp_path) == ["config", "config/busta", "config/busta/default.key", "tree", "tree/a.txt"]


@pytest.fixture
def s3(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "HTTPS_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    client = moto_server.client("s3", DEFAULT_REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEFAULT_REGION})
    yield client, ["--aws-endpoint-url", moto_server.endpoint, "--aws-region", DEFAULT_REGION]
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.mark.parametrize("key", ["in/a\\b.enc", "in/...enc", "in/..enc", "in/x\x1b]0;t\x07.enc"])
def test_an_s3_key_decrypted_into_a_directory_cannot_name_a_path_outside_it(
    key: str, s3: tuple[Any, list[str]], keyring: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, aws = s3
    client.put_object(Bucket=BUCKET, Key=key, Body=busta.encrypt(b"planted", keyring=keyring))
    work = tmp_path / "work"
    out = work / "out"
    out.mkdir(parents=True)
    before = files_under(tmp_path)
    assert main(["decrypt", f"s3://{BUCKET}/{key}", "-o", f"{out}/", "--force", *aws]) == 1
    err = capsys.readouterr().err
    assert "refusing the name" in err and "\x1b" not in err and "\x07" not in err
    assert files_under(tmp_path) == before
    assert os.listdir(out) == []
