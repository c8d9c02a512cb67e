"""Key files the CLI trusts are checked as OpenSSH and GnuPG check theirs: a regular file, owned by
the user or root, no group or other access (no write access, for a public key), in directories only
the user or root may write (a sticky directory such as /tmp is fine). A FIFO never hangs the CLI or
the demo. Every refusal says how to fix it. The tests run as root: other owners come from chown."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import demo
from busta._secrets import SecretBytes
from busta.cli import main
from busta.cli.keyfile import write_record
from busta.errors import KeyFileError
from busta.keyfile import KeyRecord, read_record
from busta.keyrings import RawAesKeyring

NOBODY = 65534
PLAINTEXT = b"attack at dawn\n"


@pytest.fixture(scope="module")
def private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_record(path: Path) -> None:
    write_record(KeyRecord("ns", "name", SecretBytes(b"r" * 32)), path, force=True)


def make_raw(path: Path) -> None:
    path.write_bytes(b"k" * 32)
    path.chmod(0o600)


def key_options(kind: str, path: Path) -> list[str]:
    if kind == "record":
        return ["--key-file", str(path)]
    if kind == "aes":
        return ["--aes-key-file", str(path), "--namespace", "ns", "--key-name", "name"]
    return ["--rsa-private-key", str(path), "--namespace", "ns", "--key-name", "name"]


@pytest.fixture(params=["record", "aes", "rsa-private"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str, private_pem: bytes) -> Callable[[Path], None]:
    if kind == "record":
        return make_record
    if kind == "aes":
        return make_raw

    def make_pem(path: Path) -> None:
        path.write_bytes(private_pem)
        path.chmod(0o600)

    return make_pem


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    """Any message: a refused key file fails before the key is used, so the message need not match."""
    path = tmp_path / "m.enc"
    path.write_bytes(busta.encrypt(PLAINTEXT, keyring=RawAesKeyring("other", "other", b"o" * 32)))
    return path


def decrypt_with(kind: str, key: Path, sealed: Path) -> int:
    return main(["decrypt", str(sealed), "-o", str(sealed.parent / "out"), *key_options(kind, key)])


def test_a_key_file_private_to_its_owner_in_private_directories_is_accepted(
    kind: str, make: Callable[[Path], None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "keys" / "k"
    key.parent.mkdir(mode=0o700)
    make(key)
    plain = tmp_path / "plain"
    plain.write_bytes(PLAINTEXT)
    options = key_options(kind, key)
    if kind == "rsa-private":
        assert main(["decrypt", str(plain), "-o", str(tmp_path / "x"), *options]) == 1  # the key loaded; not a message
        assert "key file" not in capsys.readouterr().err
        return
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m"), *options]) == 0
    assert main(["decrypt", str(tmp_path / "m"), "-o", str(tmp_path / "back"), *options]) == 0
    assert (tmp_path / "back").read_bytes() == PLAINTEXT


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602, 0o610, 0o601])
def test_a_key_file_group_or_others_may_access_is_refused_with_chmod_600(
    kind: str, make: Callable[[Path], None], mode: int, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = sealed.parent / "k"
    make(key)
    key.chmod(mode)
    assert decrypt_with(kind, key, sealed) == 1
    err = capsys.readouterr().err
    assert f"has mode {mode:04o}" in err and f"run: chmod 600 {key}" in err
    assert not (sealed.parent / "out").exists()


def test_a_key_file_owned_by_another_user_is_refused_with_chown(
    kind: str, make: Callable[[Path], None], sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = sealed.parent / "k"
    make(key)
    os.chown(key, NOBODY, NOBODY)
    assert decrypt_with(kind, key, sealed) == 1
    err = capsys.readouterr().err
    assert "is owned by" in err and "run: chown" in err


def test_a_planted_symlink_to_another_users_private_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack of issue 14: default.key replaced by a link to a 0600 file someone else owns."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    theirs = tmp_path / "attacker" / "evil.key"
    theirs.parent.mkdir()
    make_record(theirs)
    os.chown(theirs, NOBODY, NOBODY)
    default = tmp_path / "config" / "busta" / "default.key"
    default.parent.mkdir(parents=True, mode=0o700)
    default.symlink_to(theirs)
    plain = tmp_path / "plain"
    plain.write_bytes(PLAINTEXT)
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "m")]) == 1
    assert "is owned by nobody" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_symlink_to_a_trusted_key_file_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    make_record(real)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    assert read_record(link).name == "name"


@pytest.mark.parametrize(
    ("mode", "owner"), [(0o777, 0), (0o775, 0), (0o757, 0), (0o700, NOBODY)], ids=["777", "775", "757", "nobody"]
)
def test_a_directory_above_the_key_that_others_may_write_is_refused(
    mode: int, owner: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    (shared / "deeper").mkdir(parents=True)
    key = shared / "deeper" / "k"
    make_record(key)
    shared.chmod(mode)
    os.chown(shared, owner, owner)
    with pytest.raises(KeyFileError) as caught:
        read_record(key)
    message = str(caught.value)
    assert f"directory {shared}, above key file {key}" in message
    assert ("chmod go-w" if owner == 0 else "chown") in message


def test_a_key_in_a_sticky_directory_others_may_write_is_accepted(tmp_path: Path) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    key = sticky / "k"
    make_record(key)
    assert read_record(key).name == "name"


def test_the_directory_that_holds_a_symlinked_key_is_checked_too(tmp_path: Path) -> None:
    real = tmp_path / "private" / "real.key"
    real.parent.mkdir(mode=0o700)
    make_record(real)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "link.key").symlink_to(real)
    with pytest.raises(KeyFileError, match="writable by group or others"):
        read_record(shared / "link.key")


def run_with_timeout(call: Callable[[], object], fifo: Path) -> object:
    """Run ``call`` on a thread; if it blocks on ``fifo`` for 10 s, unblock it and fail."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():
        with open(fifo, "wb"):  # let the blocked open return, so the thread can end
            pass
        thread.join(timeout=10)
        pytest.fail("reading a FIFO as a key file hung")
    return result[0] if result else None


def test_a_fifo_given_as_a_key_file_is_refused_without_hanging(
    kind: str, sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = sealed.parent / "k"
    os.mkfifo(fifo, 0o600)
    assert run_with_timeout(lambda: decrypt_with(kind, fifo, sealed), fifo) == 1
    assert "is a FIFO, not a regular file" in capsys.readouterr().err


def test_a_public_key_others_may_change_is_refused_and_a_readable_one_accepted(
    tmp_path: Path, private_pem: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    key = serialization.load_pem_private_key(private_pem, None)
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    plain = tmp_path / "plain"
    plain.write_bytes(PLAINTEXT)
    argv = ["encrypt", str(plain), "-o", str(tmp_path / "m"), "--rsa-public-key", str(public)]
    argv += ["--namespace", "ns", "--key-name", "name"]
    public.chmod(0o664)
    assert main(argv) == 1
    assert "run: chmod go-w" in capsys.readouterr().err
    public.chmod(0o644)
    assert main(argv) == 0


# --------------------------------------------------------------------------- the demo


@pytest.fixture
def demo_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    path = demo.key_path()
    path.parent.mkdir(parents=True, mode=0o700)
    return path


def test_a_fifo_as_the_demo_key_is_refused_without_hanging(
    demo_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(demo_key, 0o600)
    status = run_with_timeout(lambda: demo.main(["--work-dir", str(tmp_path / "work")]), demo_key)
    assert status == 1
    assert "is a FIFO, not a regular file" in capsys.readouterr().err


def test_a_demo_key_owned_by_another_user_is_refused(
    demo_key: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo_key.write_bytes(b"k" * 32)
    demo_key.chmod(0o600)
    os.chown(demo_key, NOBODY, NOBODY)
    assert demo.main(["--work-dir", str(tmp_path / "work")]) == 1
    err = capsys.readouterr().err
    assert "is owned by nobody" in err and err.count("\n") == 1
    assert demo_key.read_bytes() == b"k" * 32


def test_a_key_path_that_cannot_be_reached_is_a_key_file_error_not_a_bare_os_error(tmp_path: Path) -> None:
    """A key path through something that is not a directory fails to open with an OSError other
    than "no such file"; that failure is a KeyFileError naming the key (inside busta's error tree)."""
    plain = tmp_path / "plain"
    plain.write_bytes(b"not a directory")
    with pytest.raises(KeyFileError, match=r"key file .*plain/default\.key: Not a directory"):
        read_record(plain / "default.key")
