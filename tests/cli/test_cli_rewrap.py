"""``busta rewrap INPUT [-o OUTPUT]`` through the real console script: the header is rewritten for the
new keys and the body kept byte for byte; the output opens with a new key and not with the removed one;
files (to a file, in place, stdin to stdout) and S3 objects (in place, to another key)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import busta
from busta.format import parse_header
from busta.keyfile import read_record

from ..support.cli_run import run_busta
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer
from ..support.oracle import AesKeySpec, official_decrypt

PLAINTEXT = os.urandom(300_000)
BUCKET = "busta-rewrap"
UNSIGNED = ["--algorithm", "0x0478", "--frame-length", "4096"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run_busta(["keygen"], tmp_path).returncode == 0
    assert run_busta(["keygen", "-o", "new.key"], tmp_path).returncode == 0
    (tmp_path / "plain.bin").write_bytes(PLAINTEXT)
    assert run_busta(["encrypt", *UNSIGNED, "plain.bin", "-o", "old.enc", "-c", "team=a"], tmp_path).returncode == 0
    return tmp_path


def body(message: bytes) -> bytes:
    parsed = parse_header(message)
    assert parsed is not None
    return message[parsed.length :]


def spec(path: Path) -> AesKeySpec:
    record = read_record(path)
    return AesKeySpec(record.namespace, record.name, record.key.reveal())


def opens(home: Path, name: str, *key: str) -> bool:
    done = run_busta(["decrypt", name, "-o", "-", *key], home)
    return done.returncode == 0 and done.stdout == PLAINTEXT


def entries(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


def test_rewrap_to_a_new_file_keeps_the_body_and_changes_who_can_open_it(home: Path) -> None:
    done = run_busta(["rewrap", "old.enc", "-o", "new.enc", "--new-key-file", "new.key", "-c", "team=a"], home)
    assert done.returncode == 0, done.stderr
    old, new = (home / "old.enc").read_bytes(), (home / "new.enc").read_bytes()
    assert body(new) == body(old) and new != old
    assert opens(home, "new.enc", "--key-file", "new.key")
    assert not opens(home, "new.enc")  # the default key's copy was removed
    assert opens(home, "old.enc")
    decrypted, _ = official_decrypt(new, keys=[spec(home / "new.key")])
    assert decrypted == PLAINTEXT


def test_rewrap_without_o_replaces_the_file_in_place_atomically(home: Path) -> None:
    before = (home / "old.enc").read_bytes()
    (home / "old.enc").chmod(0o640)
    done = run_busta(["rewrap", "old.enc", "--new-key-file", "new.key"], home)
    assert done.returncode == 0, done.stderr
    after = (home / "old.enc").read_bytes()
    assert body(after) == body(before) and after != before
    assert opens(home, "old.enc", "--key-file", "new.key") and not opens(home, "old.enc")
    assert entries(home) == ["config", "new.key", "old.enc", "plain.bin"]  # no temporary file left
    assert (home / "old.enc").stat().st_mode & 0o777 == 0o640  # the file's permissions are kept


def test_stdin_to_stdout(home: Path) -> None:
    done = run_busta(["rewrap", "-", "--new-key-file", "new.key"], home, stdin=(home / "old.enc").read_bytes())
    assert done.returncode == 0, done.stderr
    assert busta.decrypt(done.stdout, keyring=busta.keyrings.RawAesKeyring(*_names(home))).plaintext == PLAINTEXT


def _names(home: Path) -> tuple[str, str, bytes]:
    record = read_record(home / "new.key")
    return record.namespace, record.name, record.key.reveal()


def test_a_damaged_body_leaves_no_output_and_the_input_untouched(home: Path) -> None:
    message = bytearray((home / "old.enc").read_bytes())
    message[-100] ^= 1
    (home / "bad.enc").write_bytes(bytes(message))
    before = entries(home)
    for args in (["-o", "out.enc"], []):
        done = run_busta(["rewrap", "bad.enc", *args, "--new-key-file", "new.key"], home)
        assert done.returncode == 1
        assert done.stderr.count(b"\n") == 1
        assert entries(home) == before
    assert (home / "bad.enc").read_bytes() == bytes(message)


def test_a_signed_message_is_refused_and_nothing_is_written(home: Path) -> None:
    assert run_busta(["encrypt", "plain.bin", "-o", "signed.enc"], home).returncode == 0
    before = entries(home)
    done = run_busta(["rewrap", "signed.enc", "-o", "out.enc", "--new-key-file", "new.key"], home)
    assert done.returncode == 1
    assert b"signed" in done.stderr and b"re-encrypt" in done.stderr
    assert entries(home) == before


def test_an_existing_output_needs_force_and_a_wrong_context_is_refused(home: Path) -> None:
    (home / "out.enc").write_bytes(b"keep")
    refused = run_busta(["rewrap", "old.enc", "-o", "out.enc", "--new-key-file", "new.key"], home)
    assert refused.returncode == 1 and b"already exists" in refused.stderr
    assert (home / "out.enc").read_bytes() == b"keep"
    wrong = run_busta(["rewrap", "old.enc", "-o", "out.enc", "-f", "-c", "team=b", "--new-key-file", "new.key"], home)
    assert wrong.returncode == 1
    assert (home / "out.enc").read_bytes() == b"keep"
    forced = run_busta(["rewrap", "old.enc", "-o", "out.enc", "-f", "--new-key-file", "new.key"], home)
    assert forced.returncode == 0, forced.stderr
    assert opens(home, "out.enc", "--key-file", "new.key")


@pytest.mark.parametrize(
    "args",
    [["rewrap", "old.enc", "-o", "x.enc"], ["rewrap", "old.enc", "-o", "s3://b/k", "--new-key-file", "new.key"]],
    ids=["no-new-keys", "file-to-s3"],
)
def test_usage_errors(home: Path, args: list[str]) -> None:
    done = run_busta(args, home)
    assert done.returncode == 2
    assert not (home / "x.enc").exists()


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as running:
        running.with_bucket(BUCKET)
        yield running


def aws_env(server: MotoServer) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_ENDPOINT_URL": server.endpoint,
    }


def test_s3_objects_in_place_and_to_another_key(home: Path, server: MotoServer) -> None:
    s3 = server.client("s3")
    old = (home / "old.enc").read_bytes()
    s3.put_object(Bucket=BUCKET, Key="in-place.enc", Body=old, Metadata={"owner": "team-a"})
    s3.put_object(Bucket=BUCKET, Key="source.enc", Body=old)
    env = aws_env(server)
    uri = f"s3://{BUCKET}"
    done = run_busta(["rewrap", f"{uri}/in-place.enc", "--new-key-file", "new.key"], home, env=env)
    assert done.returncode == 0, done.stderr
    done = run_busta(
        ["rewrap", f"{uri}/source.enc", "-o", f"{uri}/dest.enc", "--new-key-file", "new.key"], home, env=env
    )
    assert done.returncode == 0, done.stderr
    again = run_busta(
        ["rewrap", f"{uri}/source.enc", "-o", f"{uri}/dest.enc", "--new-key-file", "new.key"], home, env=env
    )
    assert again.returncode == 1 and b"already exists" in again.stderr
    assert s3.get_object(Bucket=BUCKET, Key="source.enc")["Body"].read() == old
    for key in ("in-place.enc", "dest.enc"):
        new = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body(new) == body(old)
        (home / key).write_bytes(new)
        assert opens(home, key, "--key-file", "new.key") and not opens(home, key)
    assert s3.head_object(Bucket=BUCKET, Key="in-place.enc")["Metadata"] == {"owner": "team-a"}
