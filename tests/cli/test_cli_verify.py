"""``busta verify`` through the real console script: one line per input, keep going after a
failure, exit status 0/1/2, no plaintext anywhere; files, stdin, base64 text and S3 objects."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.cli_run import run_busta
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

PLAINTEXT = b"the plaintext that must never be written anywhere " * 2000
BUCKET = "busta-verify"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run_busta(["keygen"], tmp_path).returncode == 0
    (tmp_path / "plain.bin").write_bytes(PLAINTEXT)
    assert run_busta(["encrypt", "plain.bin", "-o", "good.enc", "-c", "team=a"], tmp_path).returncode == 0
    assert run_busta(["encrypt", "-a", "plain.bin", "-o", "good.asc", "-c", "team=a"], tmp_path).returncode == 0
    message = (tmp_path / "good.enc").read_bytes()
    damaged = bytearray(message)
    damaged[len(message) // 2] ^= 1
    (tmp_path / "damaged.enc").write_bytes(bytes(damaged))
    (tmp_path / "truncated.enc").write_bytes(message[:-20])
    return tmp_path


def files(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


def test_every_input_is_reported_in_order_and_a_failure_does_not_stop_the_rest(home: Path) -> None:
    before = files(home)
    done = run_busta(["verify", "good.enc", "damaged.enc", "missing.enc", "truncated.enc", "good.asc"], home)
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok good.enc",
        "FAILED damaged.enc",
        "FAILED missing.enc",
        "FAILED truncated.enc",
        "ok good.asc",
    ]
    assert "No such file" in lines[2]
    assert done.stderr.decode() == "busta: error: 3 of 5 inputs did not verify\n"
    assert b"plaintext" not in done.stdout + done.stderr
    assert files(home) == before  # nothing written


def test_all_verified_is_exit_status_0(home: Path) -> None:
    done = run_busta(["verify", "good.enc", "good.asc", "-c", "team=a"], home)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ok good.enc\nok good.asc\n"


def test_the_expected_context_and_the_keys_are_checked(home: Path) -> None:
    wrong = run_busta(["verify", "good.enc", "-c", "team=b"], home)
    assert wrong.returncode == 1
    assert wrong.stdout.startswith(b"FAILED good.enc: ")
    assert run_busta(["keygen", "-o", "other.key"], home).returncode == 0
    other = run_busta(["verify", "good.enc", "--key-file", "other.key"], home)
    assert other.returncode == 1
    assert b"could not unwrap" in other.stdout or b"no encrypted data key" in other.stdout


def test_stdin_is_the_default_input(home: Path) -> None:
    done = run_busta(["verify"], home, stdin=(home / "good.asc").read_bytes())
    assert (done.returncode, done.stdout) == (0, b"ok -\n")
    done = run_busta(["verify", "-"], home, stdin=(home / "truncated.enc").read_bytes())
    assert done.returncode == 1 and done.stdout.startswith(b"FAILED -: ")


def test_json_lines(home: Path) -> None:
    done = run_busta(["verify", "--json", "good.enc", "damaged.enc"], home)
    assert done.returncode == 1
    good, bad = (json.loads(line) for line in done.stdout.splitlines())
    assert good["ok"] is True and good["input"] == "good.enc" and good["plaintext_bytes"] == len(PLAINTEXT)
    assert good["suite"] == "0x0578" and len(good["message_id"]) == 64
    assert bad["ok"] is False and bad["input"] == "damaged.enc" and bad["error"]


def test_a_hostile_file_name_cannot_add_a_line_or_send_escapes(home: Path) -> None:
    name = "evil\nok forged.enc\x1b[2J"
    (home / name).write_bytes((home / "damaged.enc").read_bytes())
    done = run_busta(["verify", name], home)
    assert done.returncode == 1
    assert done.stdout.count(b"\n") == 1 and b"\x1b" not in done.stdout
    assert done.stdout.startswith(b"FAILED evil\\nok forged.enc\\x1b[2J: ")


def test_message_options_apply_as_on_decrypt(home: Path) -> None:
    legacy = run_busta(
        ["encrypt", "plain.bin", "-o", "v1.enc", "--commitment-policy", "forbid-encrypt-allow-decrypt"], home
    )
    assert legacy.returncode == 0, legacy.stderr
    assert run_busta(["verify", "v1.enc"], home).returncode == 1
    allowed = run_busta(["verify", "v1.enc", "--commitment-policy", "require-encrypt-allow-decrypt"], home)
    assert allowed.returncode == 0, allowed.stdout
    assert run_busta(["keygen", "-o", "second.key"], home).returncode == 0
    default = str(home / "config" / "busta" / "default.key")
    two = ["encrypt", "plain.bin", "-o", "two.enc", "--key-file", default, "--key-file", "second.key"]
    assert run_busta(two, home).returncode == 0
    limited = run_busta(["verify", "two.enc", "--max-encrypted-data-keys", "1"], home)
    assert limited.returncode == 1 and b"FAILED two.enc" in limited.stdout


@pytest.mark.parametrize(
    "args", [["verify", "-", "-"], ["verify", "s3://"], ["verify", "--max-header-bytes", "0", "good.enc"]]
)
def test_usage_errors_are_exit_status_2(home: Path, args: list[str]) -> None:
    done = run_busta(args, home)
    assert done.returncode == 2
    assert done.stdout == b""


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as running:
        running.with_bucket(BUCKET)
        yield running


def test_s3_objects_are_verified_by_streaming_them(home: Path, server: MotoServer) -> None:
    s3 = server.client("s3")
    s3.put_object(Bucket=BUCKET, Key="good.enc", Body=(home / "good.enc").read_bytes())
    s3.put_object(Bucket=BUCKET, Key="bad.enc", Body=(home / "damaged.enc").read_bytes())
    s3.put_object(Bucket=BUCKET, Key="good.asc", Body=(home / "good.asc").read_bytes())
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_ENDPOINT_URL": server.endpoint,
    }
    uris = [f"s3://{BUCKET}/good.enc", f"s3://{BUCKET}/bad.enc", f"s3://{BUCKET}/none.enc", f"s3://{BUCKET}/good.asc"]
    done = run_busta(["verify", *uris, "good.enc"], home, env={**os.environ, **env})
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert lines[0] == f"ok s3://{BUCKET}/good.enc"
    assert lines[1].startswith(f"FAILED s3://{BUCKET}/bad.enc: ")
    assert lines[2].startswith(f"FAILED s3://{BUCKET}/none.enc: ") and "NoSuchKey" in lines[2]
    assert lines[3] == f"ok s3://{BUCKET}/good.asc"  # base64 text, detected on a body that cannot peek
    assert lines[4] == "ok good.enc"
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert listed == ["bad.enc", "good.asc", "good.enc"]  # nothing written


def test_armor_flag_insists_on_base64(home: Path) -> None:
    assert run_busta(["verify", "-a", "good.asc"], home).stdout == b"ok good.asc\n"
    binary = run_busta(["verify", "--decode", "good.enc"], home)
    assert binary.returncode == 1
    assert binary.stdout.startswith(b"FAILED good.enc: not valid base64 (")
