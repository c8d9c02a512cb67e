"""Failures a person can read: one line that names the input or object, with a hint in the CLI's
own terms. Each case runs the real console script (``python -m busta``) in a fresh process, against
moto's server on 127.0.0.1, a closed loopback port, or an environment without AWS credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer, free_port

__all__ = ["moto_server"]  # fixture, imported for pytest to find

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-west-2"
BUCKET = "busta-cli-errors"
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`"
)
#: A key ARN no server knows.
UNKNOWN_KEY = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, *, script: list[str] | None = None) -> Any:
    """``python -m busta ARGS`` (or ``script``) with no AWS variable but those in ``env``."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment = {
        **base,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "XDG_CONFIG_HOME": str(cwd / "config"),
        "HOME": str(cwd),
        "PYTHONPATH": str(ROOT),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, *(script or ["-m", "busta"]), *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line(done: Any, start: str) -> str:
    """The one line the failed run wrote to stderr (asserting it is one line, and no traceback)."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(start), done.stderr
    line: str = done.stderr.rstrip("\n")
    return line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run(["keygen"], tmp_path).returncode == 0
    (tmp_path / "secret.txt").write_bytes(b"the plans\n" * 3000)
    assert run(["encrypt", "secret.txt", "-o", "secret.txt.enc"], tmp_path).returncode == 0
    return tmp_path


def credentials() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}


def no_credentials(where: Path) -> dict[str, str]:
    """No AWS variable, and the shared credentials and config files empty."""
    (where / "empty").write_text("")
    empty = str(where / "empty")
    return {"AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_CONFIG_FILE": empty, "AWS_DEFAULT_REGION": REGION}


# --------------------------------------------------------------------------- naming the input


def test_a_message_cut_short_names_its_file(home: Path) -> None:
    message = (home / "secret.txt.enc").read_bytes()
    (home / "cut.enc").write_bytes(message[:-20])
    line = one_line(run(["decrypt", "cut.enc", "-o", "out.txt"], home), "busta: error: cut.enc: ")
    assert "ended early" in line


def test_a_failure_mid_way_through_several_inputs_names_the_one_that_failed(home: Path) -> None:
    message = (home / "secret.txt.enc").read_bytes()
    (home / "in").mkdir()
    (home / "in" / "a.enc").write_bytes(message)
    (home / "in" / "b.enc").write_bytes(message[: len(message) // 2])
    (home / "out").mkdir()
    done = run(["decrypt", "in/a.enc", "in/b.enc", "-o", "out/"], home)
    one_line(done, "busta: error: in/b.enc: ")
    assert (home / "out" / "a").exists() and not (home / "out" / "b").exists()


def test_standard_input_is_named_as_such(home: Path) -> None:
    message = (home / "secret.txt.enc").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "busta", "decrypt", "-", "-o", "-"],
        input=message[:-20],
        env={**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": str(ROOT)},
        cwd=home,
        capture_output=True,
        check=False,
    )
    assert done.returncode == 1 and done.stderr.startswith(b"busta: error: standard input: ")
    assert done.stderr.count(b"\n") == 1


def test_a_missing_input_is_named(home: Path) -> None:
    one_line(run(["encrypt", "missing.txt", "-o", "m.enc"], home), "busta: error: missing.txt: ")


def test_inspect_names_the_file_whose_header_is_cut(home: Path) -> None:
    (home / "header.enc").write_bytes((home / "secret.txt.enc").read_bytes()[:30])
    line = one_line(run(["inspect", "header.enc"], home), "busta: error: header.enc: ")
    assert "inside the message header" in line


def test_keygen_names_the_key_file_it_will_not_replace(home: Path) -> None:
    line = one_line(run(["keygen"], home), "busta: error: ")
    assert str(home / "config" / "busta" / "default.key") in line and "--force" in line


def test_a_wrong_key_names_the_input_and_gives_the_reasons(home: Path) -> None:
    assert run(["keygen", "-o", "other.key"], home).returncode == 0
    done = run(["decrypt", "secret.txt.enc", "-o", "x", "--key-file", "other.key"], home)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    first, *reasons = done.stderr.rstrip("\n").split("\n")
    assert first.startswith("busta: error: secret.txt.enc: ")
    assert reasons and all(reason.startswith("  - ") for reason in reasons)


# --------------------------------------------------------------------------- botocore failures


def test_an_unreachable_s3_endpoint_is_one_line_with_the_address_to_check(home: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # closed: nothing listens there
    env = credentials()
    for args, named in (
        (["encrypt", "secret.txt", "-o", f"s3://{BUCKET}/k.enc"], f"s3://{BUCKET}/k.enc"),
        (["decrypt", f"s3://{BUCKET}/k.enc", "-o", "back.txt"], f"s3://{BUCKET}/k.enc"),
    ):
        line = one_line(run([*args, "--aws-endpoint-url", endpoint], home, env), "busta: error: ")
        assert named in line
        assert line.endswith(f"cannot reach {endpoint}: check --aws-endpoint-url / network"), line


def test_an_unreachable_kms_endpoint_names_the_input_and_the_address(home: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    args = ["encrypt", "secret.txt", "-o", "k.enc", "--kms-key", UNKNOWN_KEY, "--aws-endpoint-url", endpoint]
    line = one_line(run(args, home, credentials()), "busta: error: secret.txt: KMS ")
    assert line.endswith(f"cannot reach {endpoint}: check --aws-endpoint-url / network"), line
    assert not (home / "k.enc").exists()


def test_an_unreachable_bulk_source_is_one_line_naming_the_prefix(home: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    key = str(home / "config" / "busta" / "default.key")
    args = ["bulk", "encrypt", f"s3://{BUCKET}/raw/", f"s3://{BUCKET}/enc/", "--key-file", key]
    line = one_line(run([*args, "--aws-endpoint-url", endpoint], home, credentials()), "busta: error: ")
    assert f"s3://{BUCKET}/raw/" in line and f"cannot reach {endpoint}" in line


@pytest.mark.parametrize("where", ["s3", "kms", "kms-discovery"])
def test_no_credentials_is_one_line_saying_how_to_give_them(home: Path, moto_server: MotoServer, where: str) -> None:
    aws = ["--aws-endpoint-url", moto_server.endpoint]
    if where == "s3":
        args, start = (
            ["encrypt", "secret.txt", "-o", f"s3://{BUCKET}/x.enc", *aws],
            f"busta: error: s3://{BUCKET}/x.enc: ",
        )
    elif where == "kms":
        args, start = (
            ["encrypt", "secret.txt", "-o", "x.enc", "--kms-key", UNKNOWN_KEY, *aws],
            "busta: error: secret.txt: ",
        )
    else:
        kms = moto_server.client("kms", REGION)
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        assert (
            run(["encrypt", "secret.txt", "-o", "kms.enc", "--kms-key", arn, *aws], home, credentials()).returncode == 0
        )
        args, start = ["decrypt", "kms.enc", "-o", "x", "--kms-discovery", *aws], "busta: error: kms.enc: "
    done = run(args, home, no_credentials(home))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    first = done.stderr.split("\n")[0]
    assert first.startswith(start) and first.endswith(NO_CREDENTIALS), done.stderr


def test_an_unknown_aws_profile_is_one_line(home: Path, moto_server: MotoServer) -> None:
    env = {**no_credentials(home), "AWS_PROFILE": "nobody"}
    args = ["encrypt", "secret.txt", "-o", f"s3://{BUCKET}/x.enc", "--aws-endpoint-url", moto_server.endpoint]
    line = one_line(run(args, home, env), "busta: error: ")
    assert "nobody" in line and line.endswith(
        "no such AWS profile: check --aws-profile / AWS_PROFILE and ~/.aws/config"
    )


def test_s3_no_such_bucket_and_no_such_key_say_what_to_check(home: Path, moto_server: MotoServer) -> None:
    moto_server.with_bucket(BUCKET, REGION)
    aws = ["--aws-endpoint-url", moto_server.endpoint]
    line = one_line(run(["decrypt", "s3://no-such-bucket-here/k.enc", "-o", "x", *aws], home, credentials()), "busta: ")
    assert "s3://no-such-bucket-here/k.enc" in line and "NoSuchBucket" in line
    assert line.endswith("no such bucket: check its name, and --aws-region / --aws-endpoint-url")
    line = one_line(run(["decrypt", f"s3://{BUCKET}/absent.enc", "-o", "x", *aws], home, credentials()), "busta: ")
    assert f"s3://{BUCKET}/absent.enc" in line and "NoSuchKey" in line
    assert line.endswith("no such object: check the key (names are case-sensitive)")


def test_an_unknown_kms_key_says_what_to_check(home: Path, moto_server: MotoServer) -> None:
    args = [
        "encrypt",
        "secret.txt",
        "-o",
        "x.enc",
        "--kms-key",
        UNKNOWN_KEY,
        "--aws-endpoint-url",
        moto_server.endpoint,
    ]
    line = one_line(run(args, home, credentials()), "busta: error: secret.txt: KMS ")
    assert "NotFoundException" in line
    assert line.endswith("no such KMS key: check the key id or ARN, and its region (--aws-region)")


# --------------------------------------------------------------------------- hints in CLI flags


def test_a_legacy_message_hint_names_the_commitment_policy_flag(home: Path) -> None:
    forbid = ["--commitment-policy", "forbid-encrypt-allow-decrypt"]
    assert run(["encrypt", "secret.txt", "-o", "v1.enc", "--algorithm", "0x0078", *forbid], home).returncode == 0
    line = one_line(run(["decrypt", "v1.enc", "-o", "x"], home), "busta: error: v1.enc: ")
    assert line.endswith("(--commitment-policy require-encrypt-allow-decrypt allows it)"), line
    assert "busta.Client" not in line and "commitment_policy=" not in line
    assert (
        run(["decrypt", "v1.enc", "-o", "x", "--commitment-policy", "require-encrypt-allow-decrypt"], home).returncode
        == 0
    )


def test_a_legacy_suite_on_encrypt_names_the_flag_that_allows_it(home: Path) -> None:
    line = one_line(run(["encrypt", "secret.txt", "-o", "v1.enc", "--algorithm", "0x0078"], home), "busta: error: ")
    assert line.endswith("(--commitment-policy forbid-encrypt-allow-decrypt allows it)"), line


def test_a_kms_alias_without_a_region_hint_names_no_python_argument(home: Path) -> None:
    done = run(["encrypt", "secret.txt", "-o", "x.enc", "--kms-key", "alias/backups"], home, credentials())
    assert done.returncode in (1, 2) and done.stderr.startswith("busta: error: ")
    assert "client=" not in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- missing extras

#: A console script run with some modules made unimportable (as if their extra were not installed).
HIDING = [
    "-c",
    "import sys; [sys.modules.__setitem__(m, None) for m in sys.argv[1].split(',')]; "
    "from busta.cli import main; sys.exit(main(sys.argv[2:]))",
]


@pytest.mark.parametrize(
    ("hidden", "args", "extra"),
    [
        ("boto3,botocore", ["encrypt", "secret.txt", "-o", f"s3://{BUCKET}/k.enc"], "aws"),
        ("boto3,botocore", ["decrypt", f"s3://{BUCKET}/k.enc", "-o", "x"], "aws"),
        ("boto3,botocore", ["encrypt", "secret.txt", "-o", "k.enc", "--kms-key", UNKNOWN_KEY], "aws"),
        ("pkcs11", ["keygen", "--pkcs11-module", "/x.so", "--pkcs11-token", "t", "--pkcs11-key", "k"], "hsm"),
        ("distributed,dask", ["bulk", "encrypt", "src", "dst"], "bulk"),
    ],
)
def test_a_missing_extra_gives_the_install_command(home: Path, hidden: str, args: list[str], extra: str) -> None:
    (home / "src").mkdir()
    done = run([hidden, *args], home, credentials(), script=HIDING)
    line = one_line(done, "busta: error: ")
    assert line.endswith(f'pip install "busta[{extra}]"'), line
    assert "No module named" not in line and "halted" not in line


@pytest.mark.parametrize(
    "args",
    [
        ["encrypt", "secret.txt", "-o", f"s3://{BUCKET}/k.enc"],
        ["bulk", "encrypt", f"s3://{BUCKET}/raw/", f"s3://{BUCKET}/enc/"],
    ],
    ids=["encrypt", "bulk"],
)
def test_an_endpoint_that_is_no_url_is_one_line(home: Path, args: list[str]) -> None:
    key = ["--key-file", str(home / "config" / "busta" / "default.key")]
    line = one_line(run([*args, *key, "--aws-endpoint-url", "not-a-url"], home, credentials()), "busta: error: ")
    assert "not-a-url" in line and line.endswith("check --aws-endpoint-url / AWS_ENDPOINT_URL (https://host[:port])")
