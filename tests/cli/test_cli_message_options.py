"""``busta encrypt`` and ``busta decrypt`` take what ``busta.Client`` and a message take (issue 16, part 1):
``--algorithm`` and ``--frame-length`` on encrypt; ``--commitment-policy``, ``--max-encrypted-data-keys`` and
``--max-header-bytes`` on both; and ``--version``. A context key given twice is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import busta
from busta.cli import main
from busta.format import parse_header
from busta.keyfile import read_record
from busta.keyrings import MultiKeyring, RawAesKeyring

V1_UNSIGNED = "0x0078"  # AES_256_GCM_IV12_TAG16_HKDF_SHA256: non-committing, legacy
ALLOW_LEGACY = "require-encrypt-allow-decrypt"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration home with the default key made by ``busta keygen``."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["keygen"]) == 0
    return tmp_path


@pytest.fixture
def plain(home: Path) -> Path:
    path = home / "plain.bin"
    path.write_bytes(os.urandom(20_000))
    return path


def default_keyring(home: Path) -> RawAesKeyring:
    record = read_record(home / "config" / "busta" / "default.key")
    return RawAesKeyring(record.namespace, record.name, record.key)


def header_of(path: Path) -> busta.Header:
    parsed = parse_header(path.read_bytes())
    assert parsed is not None
    return parsed.header


def test_algorithm_and_frame_length_choose_the_suite_and_frames_written(home: Path, plain: Path) -> None:
    sealed, options = home / "sealed", ["--algorithm", "0x0478", "--frame-length", "4096"]
    assert main(["encrypt", str(plain), "-o", str(sealed), "-q", *options]) == 0
    header = header_of(sealed)
    assert (header.suite.id, header.frame_length, header.suite.signed) == (0x0478, 4096, False)
    assert busta.decrypt(sealed.read_bytes(), keyring=default_keyring(home)).plaintext == plain.read_bytes()


def test_without_them_encrypt_writes_the_default_signed_suite_and_frames(home: Path, plain: Path) -> None:
    sealed = home / "sealed"
    assert main(["encrypt", str(plain), "-o", str(sealed), "-q"]) == 0
    assert (header_of(sealed).suite.id, header_of(sealed).frame_length) == (0x0578, 65536)


@pytest.mark.parametrize("bad", ["0x9999", "unsigned", "-1"])
def test_an_unknown_or_malformed_suite_id_is_a_usage_error(
    home: Path, plain: Path, bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encrypt", str(plain), "-o", str(home / "x"), "--algorithm", bad]) == 2
    assert "--algorithm" in capsys.readouterr().err
    assert not (home / "x").exists()


@pytest.mark.parametrize("option", ["--frame-length", "--max-header-bytes", "--max-encrypted-data-keys"])
@pytest.mark.parametrize("bad", ["0", "-5", "lots"])
def test_a_size_or_count_that_is_not_a_positive_whole_number_is_a_usage_error(
    home: Path, plain: Path, option: str, bad: str
) -> None:
    assert main(["encrypt", str(plain), "-o", str(home / "x"), option, bad]) == 2


def test_a_legacy_v1_message_needs_a_commitment_policy_that_allows_it(
    home: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = home / "legacy.enc"
    forbid = ["--commitment-policy", "forbid-encrypt-allow-decrypt"]
    assert main(["encrypt", str(plain), "-o", str(legacy), "-q", "--algorithm", V1_UNSIGNED, *forbid]) == 0
    assert header_of(legacy).suite.id == 0x0078
    assert main(["decrypt", str(legacy), "-o", str(home / "refused"), "-q"]) == 1
    assert "policy" in capsys.readouterr().err.lower()
    assert not (home / "refused").exists()
    assert main(["decrypt", str(legacy), "-o", str(home / "back"), "-q", "--commitment-policy", ALLOW_LEGACY]) == 0
    assert (home / "back").read_bytes() == plain.read_bytes()


def test_the_default_policy_refuses_to_write_a_legacy_suite(home: Path, plain: Path) -> None:
    assert main(["encrypt", str(plain), "-o", str(home / "x"), "-q", "--algorithm", V1_UNSIGNED]) == 1
    assert not (home / "x").exists()


def test_max_encrypted_data_keys_bounds_what_decrypt_reads(home: Path, plain: Path) -> None:
    keyring = default_keyring(home)
    two = MultiKeyring(generator=keyring, children=[RawAesKeyring("other", "k", os.urandom(32))])
    message = home / "two-keys.enc"
    message.write_bytes(busta.encrypt(plain.read_bytes(), keyring=two))
    assert main(["decrypt", str(message), "-o", str(home / "refused"), "-q", "--max-encrypted-data-keys", "1"]) == 1
    assert not (home / "refused").exists()
    assert main(["decrypt", str(message), "-o", str(home / "back"), "-q", "--max-encrypted-data-keys", "2"]) == 0
    assert (home / "back").read_bytes() == plain.read_bytes()


def test_max_encrypted_data_keys_bounds_what_encrypt_writes(home: Path, plain: Path) -> None:
    other = home / "other.key"
    assert main(["keygen", "-o", str(other)]) == 0
    keys = ["--key-file", str(home / "config" / "busta" / "default.key"), "--key-file", str(other)]
    assert main(["encrypt", str(plain), "-o", str(home / "x"), "-q", *keys, "--max-encrypted-data-keys", "1"]) == 1
    assert not (home / "x").exists()
    assert main(["encrypt", str(plain), "-o", str(home / "y"), "-q", *keys, "--max-encrypted-data-keys", "2"]) == 0
    assert len(header_of(home / "y").encrypted_data_keys) == 2


def test_max_header_bytes_bounds_the_header_encrypt_writes(home: Path, plain: Path) -> None:
    assert main(["encrypt", str(plain), "-o", str(home / "small"), "-q", "--algorithm", "0x0478"]) == 0
    length = parse_header((home / "small").read_bytes())
    assert length is not None
    limit = ["--algorithm", "0x0478", "--max-header-bytes"]
    assert main(["encrypt", str(plain), "-o", str(home / "x"), "-q", *limit, str(length.length - 1)]) == 1
    assert not (home / "x").exists()
    assert main(["encrypt", str(plain), "-o", str(home / "y"), "-q", *limit, str(length.length)]) == 0


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_a_context_key_given_twice_is_refused_naming_it(
    home: Path, plain: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, str(plain), "-o", str(home / "x"), "-c", "team=a", "-c", "site=b", "-c", "team=c"]) == 2
    assert "'team'" in capsys.readouterr().err
    assert not (home / "x").exists()


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"busta {busta.__version__}"


def test_decrypt_unsigned_refuses_a_signed_message_and_writes_nothing(
    home: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """aws-encryption-sdk-cli's --decrypt-unsigned: a signed message is refused from its header."""
    signed, unsigned = home / "signed.enc", home / "unsigned.enc"
    assert main(["encrypt", str(plain), "-o", str(signed), "-q"]) == 0
    assert main(["encrypt", str(plain), "-o", str(unsigned), "-q", "--algorithm", "0x0478"]) == 0
    capsys.readouterr()
    assert main(["decrypt", str(signed), "-o", str(home / "out"), "--decrypt-unsigned"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("busta: error: ") and "signed" in err and err.count("\n") == 1, err
    assert not (home / "out").exists()
    assert main(["decrypt", str(unsigned), "-o", str(home / "out"), "--decrypt-unsigned"]) == 0
    assert (home / "out").read_bytes() == plain.read_bytes()
    assert main(["verify", str(signed), "--decrypt-unsigned"]) == 1
