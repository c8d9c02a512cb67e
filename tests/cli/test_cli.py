"""The ``busta`` command line: keygen, encrypt, decrypt, inspect (in-process, plus a few real processes)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute

import busta
from busta.cli import commands, main
from busta.cli.progress import ProgressReader, progress_line
from busta.keyfile import read_record
from busta.keyrings import AwsKmsMrkKeyring, RawAesKeyring
from busta.keyrings.pkcs11_admin import SoftHsmToken

from ..support.hsm import import_aes_key, key_attributes, new_token, objects_labelled
from ..support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer
from ..support.terminal import on_terminal

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

ROOT = Path(__file__).resolve().parents[2]
PLAINTEXT = b"attack at dawn\n" * 1000
BUCKET = "busta-cli"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return home


@pytest.fixture
def default_key(config_home: Path) -> Path:
    assert main(["keygen"]) == 0
    return config_home / "busta" / "default.key"


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(PLAINTEXT)
    return path


def default_keyring(path: Path) -> RawAesKeyring:
    record = read_record(path)
    return RawAesKeyring(record.namespace, record.name, record.key)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- keygen


def test_keygen_writes_a_0600_versioned_key_record_and_prints_its_path(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen"]) == 0
    path = config_home / "busta" / "default.key"
    assert path.stat().st_mode & 0o777 == 0o600
    record = json.loads(path.read_text())
    assert record["version"] == 1
    assert record["kind"] == "aes-256"
    assert record["namespace"] == "envelope-local"
    assert record["name"].startswith("local-") and len(record["name"]) == len("local-") + 8
    assert len(base64.b64decode(record["key"])) == 32
    out = capsys.readouterr().out
    assert str(path) in out and record["name"] in out


def test_keygen_refuses_to_replace_a_key_without_force(default_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = default_key.read_bytes()
    assert main(["keygen"]) == 1
    assert "--force" in capsys.readouterr().err
    assert default_key.read_bytes() == before
    assert main(["keygen", "--force"]) == 0
    assert default_key.read_bytes() != before
    assert leftovers(default_key.parent) == []


def test_keygen_uses_home_config_when_xdg_config_home_is_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["keygen"]) == 0
    assert (tmp_path / ".config" / "busta" / "default.key").is_file()


# --------------------------------------------------------------------------- encrypt / decrypt


def test_round_trip_with_the_default_key_and_the_python_api_decrypts_the_output(
    default_key: Path, plain: Path, tmp_path: Path
) -> None:
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m.enc")]) == 0
    message = (tmp_path / "m.enc").read_bytes()
    assert busta.decrypt(message, keyring=default_keyring(default_key)).plaintext == PLAINTEXT
    assert main(["decrypt", str(tmp_path / "m.enc"), "-o", str(tmp_path / "back.txt")]) == 0
    assert (tmp_path / "back.txt").read_bytes() == PLAINTEXT


def test_encrypt_without_a_default_key_says_to_run_keygen(
    config_home: Path, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m.enc")]) == 1
    err = capsys.readouterr().err
    assert "busta keygen" in err and err.count("\n") == 1
    assert not (tmp_path / "m.enc").exists()


def test_context_is_stored_and_a_wrong_expected_value_fails_before_any_output(
    default_key: Path, plain: Path, tmp_path: Path
) -> None:
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "-c", "purpose=test", "-c", "tenant=a"]) == 0
    result = busta.decrypt(message.read_bytes(), keyring=default_keyring(default_key))
    stored = result.header.encryption_context
    assert {k: v for k, v in stored.items() if not k.startswith("aws-crypto-")} == {"purpose": "test", "tenant": "a"}
    assert main(["decrypt", str(message), "-o", str(tmp_path / "bad.txt"), "-c", "purpose=other"]) == 1
    assert main(["decrypt", str(message), "-o", str(tmp_path / "bad.txt"), "-c", "absent=x"]) == 1
    assert not (tmp_path / "bad.txt").exists()
    assert leftovers(tmp_path) == []
    assert main(["decrypt", str(message), "-o", str(tmp_path / "ok.txt"), "-c", "purpose=test"]) == 0
    assert (tmp_path / "ok.txt").read_bytes() == PLAINTEXT


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_existing_output_is_replaced_only_with_force(
    default_key: Path, plain: Path, tmp_path: Path, command: str
) -> None:
    source = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(source)]) == 0
    if command == "encrypt":
        source = plain
    target = tmp_path / "existing"
    target.write_bytes(b"keep me")
    assert main([command, str(source), "-o", str(target)]) == 1
    assert target.read_bytes() == b"keep me"
    assert main([command, str(source), "-o", str(target), "--force"]) == 0
    assert target.read_bytes() != b"keep me"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["header", "body", "end"])
def test_a_tampered_message_fails_and_leaves_neither_output_nor_temporary_file(
    default_key: Path, plain: Path, tmp_path: Path, where: str
) -> None:
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message)]) == 0
    data = bytearray(message.read_bytes())
    offset = {"header": 5, "body": len(data) // 2, "end": len(data) - 1}[where]
    data[offset] ^= 1
    message.write_bytes(bytes(data))
    out = tmp_path / "out" / "back.txt"
    out.parent.mkdir()
    assert main(["decrypt", str(message), "-o", str(out)]) == 1
    assert list(out.parent.iterdir()) == []


def test_a_truncated_message_fails_and_leaves_no_output(default_key: Path, plain: Path, tmp_path: Path) -> None:
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message)]) == 0
    message.write_bytes(message.read_bytes()[:-200])
    assert main(["decrypt", str(message), "-o", str(tmp_path / "back.txt")]) == 1
    assert not (tmp_path / "back.txt").exists()
    assert leftovers(tmp_path) == []


def test_recursive_directories_mirror_the_tree_with_the_suffix_added_and_stripped(
    default_key: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    files = {"a.txt": b"a", "sub/b.bin": b"b" * 5000, "sub/deeper/c": b""}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    assert main(["encrypt", "-r", str(src), "-o", str(tmp_path / "enc")]) == 0
    encrypted = sorted(p.relative_to(tmp_path / "enc").as_posix() for p in (tmp_path / "enc").rglob("*") if p.is_file())
    assert encrypted == sorted(f"{name}.enc" for name in files)
    assert main(["decrypt", "-r", str(tmp_path / "enc"), "-o", str(tmp_path / "dec")]) == 0
    for name, data in files.items():
        assert (tmp_path / "dec" / name).read_bytes() == data


def test_a_directory_without_recursive_is_refused(default_key: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    assert main(["encrypt", str(tmp_path / "src"), "-o", str(tmp_path / "enc")]) == 1


def test_several_inputs_and_a_quoted_glob_go_into_an_output_directory_with_a_custom_suffix(
    default_key: Path, tmp_path: Path
) -> None:
    for name in ("one.log", "two.log", "three.txt"):
        (tmp_path / name).write_bytes(name.encode())
    out = tmp_path / "out"
    assert (
        main(["encrypt", str(tmp_path / "*.log"), str(tmp_path / "three.txt"), "-o", str(out), "--suffix", ".e"]) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["one.log.e", "three.txt.e", "two.log.e"]
    assert main(["decrypt", str(out / "*.e"), "-o", str(tmp_path / "back"), "--suffix", ".e"]) == 0
    assert (tmp_path / "back" / "two.log").read_bytes() == b"two.log"


def test_metadata_output_appends_one_json_line_per_file(default_key: Path, tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_bytes(PLAINTEXT)
    log = tmp_path / "meta.jsonl"
    args = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "-o", str(tmp_path / "enc"), "-c", "k=v"]
    assert main(["encrypt", *args, "--metadata-output", str(log)]) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [Path(line["output"]).name for line in lines] == ["a.txt.enc", "b.txt.enc"]
    record = read_record(default_key)
    for line in lines:
        assert line["operation"] == "encrypt"
        assert line["suite"] == {"name": "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", "id": "0x0578"}
        assert len(bytes.fromhex(line["message_id"])) == 32
        assert line["encryption_context"]["k"] == "v"
        assert [k["provider_id"] for k in line["keys"]] == [record.namespace]
        assert line["plaintext_bytes"] == len(PLAINTEXT)
        assert line["seconds"] >= 0


def test_inspect_prints_suite_context_and_providers_without_a_key(
    default_key: Path, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "-c", "purpose=inspect"]) == 0
    default_key.unlink()  # inspect needs no key
    capsys.readouterr()
    assert main(["inspect", str(message)]) == 0
    text = capsys.readouterr().out
    assert "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384" in text
    assert "purpose = inspect" in text
    assert "envelope-local" in text
    assert main(["inspect", "--json", str(message)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == 2
    assert info["suite"] == {
        "name": "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        "id": "0x0578",
        "signed": True,
        "committing": True,
    }
    assert info["encryption_context"]["purpose"] == "inspect"
    assert [edk["provider_id"] for edk in info["encrypted_data_keys"]] == ["envelope-local"]
    assert info["content_type"] == "framed"
    assert info["frame_length"] > 0


def test_inspect_of_a_truncated_header_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "short").write_bytes(b"\x02\x05\x78")
    assert main(["inspect", str(tmp_path / "short")]) == 1
    assert "header" in capsys.readouterr().err


def test_binary_output_to_a_terminal_is_refused_without_force(
    default_key: Path, plain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["encrypt", str(plain), "-o", "-"]) == 1
    assert "terminal" in capsys.readouterr().err


@pytest.mark.parametrize(("quiet", "shown"), [(False, True), (True, False)])
def test_a_progress_line_goes_to_a_terminal_stderr_unless_quiet(
    default_key: Path,
    plain: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    quiet: bool,
    shown: bool,
) -> None:
    monkeypatch.setattr(commands, "PROGRESS_MIN_BYTES", 1000)  # the real threshold is 8 MiB
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    argv = ["encrypt", str(plain), "-o", str(tmp_path / "m.enc")] + (["--quiet"] if quiet else [])
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert ("\r" in err and "100%" in err and "B/s" in err) is shown


def test_progress_reader_moves_the_line_and_the_close_draws_the_final_line_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress_line(3000, "file") as bar:
        reader = ProgressReader(io.BytesIO(b"x" * 3000), 3000, bar)
        buffer = bytearray(1000)
        while reader.readinto(buffer):
            pass
        assert bar.n == 3000
        assert "100%" not in capsys.readouterr().err  # reaching the total does not draw it
    line = capsys.readouterr().err
    assert line.count("100%") == 1 and "file: " in line and "2.93kB/2.93kB" in line and line.endswith("\n")


@pytest.mark.parametrize(
    "argv",
    [
        ["encrypt", "x", "y"],  # several inputs need -o (no input at all reads stdin: test_cli_defaults.py)
        ["encrypt", "x", "-o", "y", "--no-such-option"],
        ["encrypt", "x", "-o", "y", "-c", "novalue"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_with_status_2(config_home: Path, argv: list[str]) -> None:
    assert main(argv) == 2


def test_a_raw_aes_key_without_names_is_a_usage_error(default_key: Path, plain: Path, tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(os.urandom(32))
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m.enc"), "--aes-key-file", str(tmp_path / "k")]) == 2


# --------------------------------------------------------------------------- several keys, RSA


def test_two_keys_each_decrypt_alone(default_key: Path, plain: Path, tmp_path: Path) -> None:
    aes_key = tmp_path / "team.key"
    aes_key.write_bytes(os.urandom(32))
    aes_key.chmod(0o600)  # a key file group or others may read is refused
    aes_options = ["--aes-key-file", str(aes_key), "--namespace", "team", "--key-name", "k1"]
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "--key-file", str(default_key), *aes_options]) == 0
    assert main(["decrypt", str(message), "-o", str(tmp_path / "by-default")]) == 0
    assert main(["decrypt", str(message), "-o", str(tmp_path / "by-aes"), *aes_options]) == 0
    assert (tmp_path / "by-default").read_bytes() == (tmp_path / "by-aes").read_bytes() == PLAINTEXT
    team = RawAesKeyring("team", "k1", aes_key.read_bytes())
    assert busta.decrypt(message.read_bytes(), keyring=team).plaintext == PLAINTEXT


@pytest.mark.parametrize("padding", ["oaep-sha256", "pkcs1"])
def test_rsa_key_files_round_trip(
    config_home: Path, plain: Path, tmp_path: Path, rsa_private_key: rsa.RSAPrivateKey, padding: str
) -> None:
    private_pem = tmp_path / "private.pem"
    public_pem = tmp_path / "public.pem"
    private_pem.write_bytes(
        rsa_private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_pem.write_bytes(
        rsa_private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private_pem.chmod(0o600)  # a private key file group or others may read is refused
    names = ["--namespace", "rsa-ns", "--key-name", "rsa-1", "--rsa-padding", padding]
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "--rsa-public-key", str(public_pem), *names]) == 0
    assert (
        main(["decrypt", str(message), "-o", str(tmp_path / "back"), "--rsa-private-key", str(private_pem), *names])
        == 0
    )
    assert (tmp_path / "back").read_bytes() == PLAINTEXT


# --------------------------------------------------------------------------- AWS (moto server)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def kms_arn(moto_server: MotoServer) -> str:
    arn: str = moto_server.client("kms", DEFAULT_REGION).create_key(Description="cli")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture(scope="module")
def s3_client(moto_server: MotoServer) -> Any:
    client = moto_server.client("s3", DEFAULT_REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": DEFAULT_REGION})
    return client


def test_kms_key_round_trip_and_discovery_decrypts(
    aws_env: None, config_home: Path, plain: Path, tmp_path: Path, moto_server: MotoServer, kms_arn: str
) -> None:
    endpoint = ["--aws-endpoint-url", moto_server.endpoint]
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "--kms-key", kms_arn, *endpoint]) == 0
    assert main(["decrypt", str(message), "-o", str(tmp_path / "strict"), "--kms-key", kms_arn, *endpoint]) == 0
    account = kms_arn.split(":")[4]
    discovery = ["--kms-discovery", "--kms-account", account, *endpoint]
    assert main(["decrypt", str(message), "-o", str(tmp_path / "discovered"), *discovery]) == 0
    assert (tmp_path / "strict").read_bytes() == (tmp_path / "discovered").read_bytes() == PLAINTEXT
    wrong_account = ["--kms-discovery", "--kms-account", "000000000000", *endpoint]
    assert main(["decrypt", str(message), "-o", str(tmp_path / "refused"), *wrong_account]) == 1
    assert not (tmp_path / "refused").exists()


def test_s3_uris_as_encrypt_output_and_decrypt_input(
    aws_env: None, default_key: Path, plain: Path, tmp_path: Path, moto_server: MotoServer, s3_client: Any
) -> None:
    aws = ["--aws-endpoint-url", moto_server.endpoint, "--aws-region", DEFAULT_REGION]
    uri = f"s3://{BUCKET}/dir/plain.txt.enc"
    log = tmp_path / "meta.jsonl"
    assert main(["encrypt", str(plain), "-o", uri, "-c", "where=s3", "--metadata-output", str(log), *aws]) == 0
    stored = s3_client.get_object(Bucket=BUCKET, Key="dir/plain.txt.enc")["Body"].read()
    assert busta.decrypt(stored, keyring=default_keyring(default_key)).plaintext == PLAINTEXT
    assert json.loads(log.read_text())["keys"][0]["provider_id"] == "envelope-local"
    assert main(["encrypt", str(plain), "-o", uri, *aws]) == 1  # exists: no --force
    assert main(["decrypt", uri, "-o", str(tmp_path / "back.txt"), "-c", "where=s3", *aws]) == 0
    assert (tmp_path / "back.txt").read_bytes() == PLAINTEXT
    s3_client.put_object(Bucket=BUCKET, Key="raw/plain.txt", Body=PLAINTEXT)
    assert main(["encrypt", f"s3://{BUCKET}/raw/plain.txt", "-o", str(tmp_path / "from-s3.enc"), *aws]) == 0
    assert main(["decrypt", str(tmp_path / "from-s3.enc"), "-o", str(tmp_path / "from-s3")]) == 0
    assert (tmp_path / "from-s3").read_bytes() == PLAINTEXT


# --------------------------------------------------------------------------- real processes


def run_cli(args: list[str], tmp_path: Path, stdin: bytes = b"", **extra: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT), **extra}
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_python_dash_m_busta_help_lists_the_commands(tmp_path: Path) -> None:
    done = run_cli(["--help"], tmp_path)
    assert done.returncode == 0
    for command in (b"keygen", b"encrypt", b"decrypt", b"inspect"):
        assert command in done.stdout


def test_keygen_encrypt_decrypt_in_fresh_processes_through_files_and_pipes(tmp_path: Path) -> None:
    assert run_cli(["keygen"], tmp_path).returncode == 0
    (tmp_path / "in.txt").write_bytes(PLAINTEXT)
    assert run_cli(["encrypt", "in.txt", "-o", "in.txt.enc"], tmp_path).returncode == 0
    decrypted = run_cli(["decrypt", "in.txt.enc", "-o", "out.txt"], tmp_path)
    assert decrypted.returncode == 0, decrypted.stderr
    assert (tmp_path / "out.txt").read_bytes() == PLAINTEXT
    piped = run_cli(["encrypt", "-", "-o", "-", "-c", "via=pipe"], tmp_path, stdin=PLAINTEXT)
    assert piped.returncode == 0, piped.stderr
    back = run_cli(["decrypt", "-", "-o", "-", "-c", "via=pipe"], tmp_path, stdin=piped.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == PLAINTEXT
    failed = run_cli(["decrypt", "-", "-o", "-"], tmp_path, stdin=piped.stdout[:-10])
    assert failed.returncode == 1
    assert failed.stderr.decode().startswith("busta: error:")


def test_a_bad_progress_threshold_is_a_usage_error(
    default_key: Path, plain: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUSTA_PROGRESS_MIN_BYTES", "lots")
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m.enc")]) == 2
    assert not (tmp_path / "m.enc").exists()


# --------------------------------------------------------------------------- PKCS#11 (SoftHSM)

HSM_KEY = bytes(range(32))  # a KNOWN key, imported, so a RawAesKeyring can check the messages
HSM_NAMES = ["--namespace", "hsm-ns", "--key-name", "hsm-key"]


@pytest.fixture
def hsm_token(monkeypatch: pytest.MonkeyPatch) -> SoftHsmToken:
    """A fresh SoftHSM token; its PIN in BUSTA_PKCS11_PIN, as the CLI reads it."""
    token = new_token()
    monkeypatch.setenv("BUSTA_PKCS11_PIN", token.pin.reveal().decode())
    return token


def hsm_options(token: SoftHsmToken, label: str) -> list[str]:
    return ["--pkcs11-module", token.module, "--pkcs11-token", token.token_label, "--pkcs11-key", label, *HSM_NAMES]


def test_pkcs11_imported_aes_key_round_trips_and_the_message_opens_with_the_raw_key(
    config_home: Path, plain: Path, tmp_path: Path, hsm_token: SoftHsmToken
) -> None:
    import_aes_key(hsm_token, "cli-aes", HSM_KEY)
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "-c", "via=hsm", *hsm_options(hsm_token, "cli-aes")]) == 0
    raw = RawAesKeyring("hsm-ns", "hsm-key", HSM_KEY)
    assert busta.decrypt(message.read_bytes(), keyring=raw, encryption_context={"via": "hsm"}).plaintext == PLAINTEXT
    back = tmp_path / "back.txt"
    assert main(["decrypt", str(message), "-o", str(back), "-c", "via=hsm", *hsm_options(hsm_token, "cli-aes")]) == 0
    assert back.read_bytes() == PLAINTEXT
    # and a message sealed with the raw key decrypts through the token
    (tmp_path / "raw.enc").write_bytes(busta.encrypt(PLAINTEXT, keyring=raw))
    opts = hsm_options(hsm_token, "cli-aes")
    assert main(["decrypt", str(tmp_path / "raw.enc"), "-o", str(tmp_path / "raw.txt"), *opts]) == 0
    assert (tmp_path / "raw.txt").read_bytes() == PLAINTEXT


def test_pkcs11_wrong_pin_missing_key_and_missing_options_fail(
    config_home: Path, plain: Path, tmp_path: Path, hsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_aes_key(hsm_token, "cli-aes", HSM_KEY)
    out = str(tmp_path / "m.enc")
    assert main(["encrypt", str(plain), "-o", out, *hsm_options(hsm_token, "no-such-key")]) == 1
    assert main(["encrypt", str(plain), "-o", out, "--pkcs11-key", "cli-aes", *HSM_NAMES]) == 2  # no module/token
    monkeypatch.setenv("BUSTA_PKCS11_PIN", "wrong-pin")
    assert main(["encrypt", str(plain), "-o", out, *hsm_options(hsm_token, "cli-aes")]) == 1
    assert not Path(out).exists()


def test_keygen_on_a_token_makes_a_non_extractable_aes_256_key_and_refuses_a_taken_label(
    config_home: Path, plain: Path, tmp_path: Path, hsm_token: SoftHsmToken, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--pkcs11-module", hsm_token.module, "--pkcs11-token", hsm_token.token_label]
    assert main(["keygen", *where, "--pkcs11-key", "made-by-cli"]) == 0
    assert "made-by-cli" in capsys.readouterr().out
    assert not (config_home / "busta" / "default.key").exists()  # no key file written
    attributes = key_attributes(
        hsm_token, "made-by-cli", [Attribute.EXTRACTABLE, Attribute.SENSITIVE, Attribute.VALUE_LEN, Attribute.TOKEN]
    )
    assert attributes == {
        Attribute.EXTRACTABLE: False,
        Attribute.SENSITIVE: True,
        Attribute.VALUE_LEN: 32,
        Attribute.TOKEN: True,
    }
    assert main(["keygen", *where, "--pkcs11-key", "made-by-cli"]) == 1
    assert "already holds" in capsys.readouterr().err
    assert len(objects_labelled(hsm_token, "made-by-cli")) == 1
    assert main(["keygen", *where, "--pkcs11-key", "other", "--force"]) == 2
    assert main(["keygen", *where, "--pkcs11-key", "other", "-o", str(tmp_path / "k")]) == 2
    assert main(["keygen", "--pkcs11-module", hsm_token.module, "--pkcs11-key", "other"]) == 2  # no token
    assert objects_labelled(hsm_token, "other") == []
    # the generated key works for a CLI round trip
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), *hsm_options(hsm_token, "made-by-cli")]) == 0
    assert main(["decrypt", str(message), "-o", str(tmp_path / "back"), *hsm_options(hsm_token, "made-by-cli")]) == 0
    assert (tmp_path / "back").read_bytes() == PLAINTEXT


# --------------------------------------------------------------------------- KMS multi-Region keys


def test_kms_mrk_encrypts_in_us_west_2_and_decrypts_with_the_us_east_1_replica(
    aws_env: None,
    config_home: Path,
    plain: Path,
    tmp_path: Path,
    moto_server: MotoServer,
    kms_keys: KmsKeys,
    capsys: pytest.CaptureFixture[str],
) -> None:
    endpoint = ["--aws-endpoint-url", moto_server.endpoint]
    assert kms_keys.mrk_west_arn.split(":")[3] == WEST and kms_keys.mrk_east_arn.split(":")[3] == EAST
    message = tmp_path / "m.enc"
    west = ["--kms-mrk", "--kms-key", kms_keys.mrk_west_arn, *endpoint]
    assert main(["encrypt", str(plain), "-o", str(message), "-c", "mrk=yes", *west]) == 0
    capsys.readouterr()
    assert main(["inspect", "--json", str(message)]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted_data_keys"][0]["provider_info"] == kms_keys.mrk_west_arn
    east = ["--kms-key", kms_keys.mrk_east_arn, *endpoint]
    assert main(["decrypt", str(message), "-o", str(tmp_path / "plain-kms"), *east]) == 1  # not MRK-aware
    assert not (tmp_path / "plain-kms").exists()
    assert main(["decrypt", str(message), "-o", str(tmp_path / "back"), "-c", "mrk=yes", "--kms-mrk", *east]) == 0
    assert (tmp_path / "back").read_bytes() == PLAINTEXT
    # the Python API agrees: the replica's MRK keyring opens the CLI's message
    client = moto_server.client("kms", EAST)
    keyring = AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client=client)
    assert busta.decrypt(message.read_bytes(), keyring=keyring).plaintext == PLAINTEXT


# --------------------------------------------------------------------------- decrypt to S3


def test_decrypt_to_s3_uploads_the_plaintext_only_after_authentication_and_never_overwrites_without_force(
    aws_env: None, default_key: Path, plain: Path, tmp_path: Path, moto_server: MotoServer, s3_client: Any
) -> None:
    aws = ["--aws-endpoint-url", moto_server.endpoint, "--aws-region", DEFAULT_REGION]
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "-c", "to=s3"]) == 0
    uri = f"s3://{BUCKET}/restored/plain.txt"
    assert main(["decrypt", str(message), "-o", uri, "-c", "to=s3", *aws]) == 0
    assert s3_client.get_object(Bucket=BUCKET, Key="restored/plain.txt")["Body"].read() == PLAINTEXT

    s3_client.put_object(Bucket=BUCKET, Key="restored/plain.txt", Body=b"keep me")
    assert main(["decrypt", str(message), "-o", uri, *aws]) == 1  # exists: no --force
    assert s3_client.get_object(Bucket=BUCKET, Key="restored/plain.txt")["Body"].read() == b"keep me"
    assert main(["decrypt", str(message), "-o", uri, "--force", *aws]) == 0
    assert s3_client.get_object(Bucket=BUCKET, Key="restored/plain.txt")["Body"].read() == PLAINTEXT

    # a message that fails to authenticate at its very end uploads nothing
    damaged = bytearray(message.read_bytes())
    damaged[-1] ^= 1
    (tmp_path / "bad.enc").write_bytes(bytes(damaged))
    assert main(["decrypt", str(tmp_path / "bad.enc"), "-o", f"s3://{BUCKET}/restored/bad.txt", *aws]) == 1
    assert main(["decrypt", str(message), "-o", f"s3://{BUCKET}/restored/ctx.txt", "-c", "to=elsewhere", *aws]) == 1
    # a large message (plaintext parts already uploaded) damaged at its end: the upload is aborted
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(12 << 20))
    assert main(["encrypt", str(big), "-o", str(tmp_path / "big.enc")]) == 0
    damaged = bytearray((tmp_path / "big.enc").read_bytes())
    damaged[-1] ^= 1
    (tmp_path / "big-bad.enc").write_bytes(bytes(damaged))
    assert main(["decrypt", str(tmp_path / "big-bad.enc"), "-o", f"s3://{BUCKET}/restored/big.bin", *aws]) == 1
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix="restored/")
    assert [o["Key"] for o in listed["Contents"]] == ["restored/plain.txt"]
    assert not s3_client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")

    # an S3 input decrypts to an S3 prefix, the suffix stripped
    s3_client.put_object(Bucket=BUCKET, Key="sealed/doc.txt.enc", Body=message.read_bytes())
    assert main(["decrypt", f"s3://{BUCKET}/sealed/doc.txt.enc", "-o", f"s3://{BUCKET}/opened/", *aws]) == 0
    assert s3_client.get_object(Bucket=BUCKET, Key="opened/doc.txt")["Body"].read() == PLAINTEXT


# --------------------------------------------------------------------------- a real terminal


def run_on_terminal(args: list[str], tmp_path: Path, **env: str) -> tuple[int, bytes]:
    """The CLI with stdout and stderr on a pseudo-terminal (:func:`on_terminal`); ``env`` adds variables."""
    environment = {k: v for k, v in os.environ.items() if k != "BUSTA_PROGRESS_MIN_BYTES"}
    environment |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT), **env}
    return on_terminal(args, tmp_path, env=environment)


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_binary_output_to_a_real_terminal_is_refused_without_force(tmp_path: Path, command: str) -> None:
    assert run_cli(["keygen"], tmp_path).returncode == 0
    (tmp_path / "in.txt").write_bytes(PLAINTEXT)
    assert run_cli(["encrypt", "in.txt", "-o", "in.txt.enc"], tmp_path).returncode == 0
    source = "in.txt" if command == "encrypt" else "in.txt.enc"
    status, output = run_on_terminal([command, source, "-o", "-"], tmp_path)
    assert status == 1
    assert output.startswith(b"busta: error: refusing to write binary output to a terminal")
    status, output = run_on_terminal([command, source, "-o", "-", "--force", "--quiet"], tmp_path)
    assert status == 0
    assert len(output) >= len(PLAINTEXT) // 2  # the bytes reached the terminal


def test_a_progress_line_appears_on_a_real_terminal_above_the_threshold(tmp_path: Path) -> None:
    assert run_cli(["keygen"], tmp_path).returncode == 0
    (tmp_path / "in.txt").write_bytes(PLAINTEXT)  # 15,000 bytes
    status, output = run_on_terminal(["encrypt", "in.txt", "-o", "a.enc"], tmp_path, BUSTA_PROGRESS_MIN_BYTES="1000")
    assert status == 0, output
    assert b"\rin.txt: " in output and b"B/s" in output
    assert b"14.6kB/14.6kB" in output  # the final redraw
    status, output = run_on_terminal(["encrypt", "in.txt", "-o", "b.enc"], tmp_path)  # below the default 8 MiB
    assert status == 0 and b"100%" not in output
    quiet = ["encrypt", "in.txt", "-o", "c.enc", "--quiet"]
    status, output = run_on_terminal(quiet, tmp_path, BUSTA_PROGRESS_MIN_BYTES="1000")
    assert status == 0 and b"100%" not in output
    # the same run with stderr on a pipe shows no progress line
    piped = run_cli(["encrypt", "in.txt", "-o", "d.enc"], tmp_path, BUSTA_PROGRESS_MIN_BYTES="1000")
    assert piped.returncode == 0 and b"100%" not in piped.stderr
