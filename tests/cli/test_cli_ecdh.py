"""The raw ECDH keyring on the command line: ``busta keygen --ec`` and the ``--ecdh-*`` key options."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import busta
from busta.cli import main
from busta.keyrings import EcdhCurve, RawEcdhKeyring

PLAINTEXT = b"to whoever holds the private key\n" * 10
PASSWORD = "BUSTA_EC_KEY_PASSWORD"


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(PASSWORD, raising=False)
    return tmp_path / "config"


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(PLAINTEXT)
    return path


def keygen(path: Path, curve: str = "P-256") -> None:
    assert main(["keygen", "--ec", curve, "-o", str(path)]) == 0


@pytest.mark.parametrize(("curve", "kind"), [("P-256", ec.SECP256R1), ("p384", ec.SECP384R1), ("P521", ec.SECP521R1)])
def test_keygen_ec_writes_a_private_key_only_its_owner_reads_and_a_public_key_beside_it(
    tmp_path: Path, curve: str, kind: type[ec.EllipticCurve]
) -> None:
    keygen(tmp_path / "bob.pem", curve)
    private = serialization.load_pem_private_key((tmp_path / "bob.pem").read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "bob.pem.pub").read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, kind)
    assert public == private.public_key()
    assert stat.S_IMODE((tmp_path / "bob.pem").stat().st_mode) == 0o600


def test_keygen_ec_encrypts_the_private_key_under_the_password_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD, "correct horse")
    keygen(tmp_path / "bob.pem")
    data = (tmp_path / "bob.pem").read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(data, None)
    assert isinstance(serialization.load_pem_private_key(data, b"correct horse"), ec.EllipticCurvePrivateKey)


def test_keygen_ec_refuses_to_replace_a_key_without_force_and_needs_an_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keygen(tmp_path / "bob.pem")
    before = (tmp_path / "bob.pem").read_bytes()
    assert main(["keygen", "--ec", "P-256", "-o", str(tmp_path / "bob.pem")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "bob.pem").read_bytes() == before
    assert main(["keygen", "--ec", "P-256", "-o", str(tmp_path / "bob.pem"), "--force"]) == 0
    assert (tmp_path / "bob.pem").read_bytes() != before
    assert main(["keygen", "--ec", "P-256"]) == 2
    assert main(["keygen", "--ec", "secp256k1", "-o", str(tmp_path / "k.pem")]) == 2
    assert "not a curve of the raw ECDH keyring" in capsys.readouterr().err


def test_encrypt_to_a_public_key_and_decrypt_with_the_encrypted_private_key(
    tmp_path: Path, plain: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSWORD, "s3cret")
    keygen(tmp_path / "bob.pem", "P-384")
    monkeypatch.delenv(PASSWORD)
    message, back = tmp_path / "m.enc", tmp_path / "back"
    assert main(["encrypt", str(plain), "-o", str(message), "--ecdh-public-key", str(tmp_path / "bob.pem.pub")]) == 0
    assert main(["decrypt", str(message), "-o", str(back), "--ecdh-private-key", str(tmp_path / "bob.pem")]) == 1
    assert "encrypted (the password comes from BUSTA_EC_KEY_PASSWORD)" in capsys.readouterr().err
    monkeypatch.setenv(PASSWORD, "wrong")
    assert main(["decrypt", str(message), "-o", str(back), "--ecdh-private-key", str(tmp_path / "bob.pem")]) == 1
    assert "is the password right?" in capsys.readouterr().err
    monkeypatch.setenv(PASSWORD, "s3cret")
    assert main(["decrypt", str(message), "-o", str(back), "--ecdh-private-key", str(tmp_path / "bob.pem")]) == 0
    assert back.read_bytes() == PLAINTEXT
    recipient = serialization.load_pem_private_key((tmp_path / "bob.pem").read_bytes(), b"s3cret")
    assert isinstance(recipient, ec.EllipticCurvePrivateKey)
    library = RawEcdhKeyring.discovery(EcdhCurve.P384, recipient_private_key=recipient)
    assert busta.decrypt(message.read_bytes(), keyring=library).plaintext == PLAINTEXT


def test_the_static_scheme_decrypts_on_both_sides_of_the_pair(tmp_path: Path, plain: Path) -> None:
    keygen(tmp_path / "alice.pem")
    keygen(tmp_path / "bob.pem")
    alice = ["--ecdh-public-key", str(tmp_path / "bob.pem.pub"), "--ecdh-sender-key", str(tmp_path / "alice.pem")]
    bob = ["--ecdh-public-key", str(tmp_path / "alice.pem.pub"), "--ecdh-sender-key", str(tmp_path / "bob.pem")]
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), *alice]) == 0
    for side, options in (
        ("alice", alice),
        ("bob", bob),
        ("discovery", ["--ecdh-private-key", str(tmp_path / "bob.pem")]),
    ):
        out = tmp_path / side
        assert main(["decrypt", str(message), "-o", str(out), *options]) == 0
        assert out.read_bytes() == PLAINTEXT


def test_key_options_that_cannot_do_the_command_are_usage_errors(
    tmp_path: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keygen(tmp_path / "bob.pem")
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "--ecdh-private-key", str(tmp_path / "bob.pem")]) == 2
    assert "--ecdh-private-key only decrypts" in capsys.readouterr().err
    assert main(["encrypt", str(plain), "-o", str(message), "--ecdh-public-key", str(tmp_path / "bob.pem.pub")]) == 0
    assert (
        main(["decrypt", str(message), "-o", str(tmp_path / "b"), "--ecdh-public-key", str(tmp_path / "bob.pem.pub")])
        == 2
    )
    assert "--ecdh-public-key alone only encrypts" in capsys.readouterr().err
    sender_only = ["--ecdh-sender-key", str(tmp_path / "bob.pem")]
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m2"), *sender_only]) == 2  # not the default key
    assert "--ecdh-sender-key goes with --ecdh-public-key" in capsys.readouterr().err


def test_a_key_file_others_may_read_or_of_the_wrong_kind_is_refused(
    tmp_path: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keygen(tmp_path / "bob.pem")
    (tmp_path / "bob.pem").chmod(0o644)
    message = tmp_path / "m.enc"
    assert main(["encrypt", str(plain), "-o", str(message), "--ecdh-public-key", str(tmp_path / "bob.pem.pub")]) == 0
    assert (
        main(["decrypt", str(message), "-o", str(tmp_path / "b"), "--ecdh-private-key", str(tmp_path / "bob.pem")]) == 1
    )
    capsys.readouterr()
    assert main(["encrypt", str(plain), "-o", str(message), "--force", "--ecdh-public-key", str(plain)]) == 1
    assert "not a usable public key" in capsys.readouterr().err
