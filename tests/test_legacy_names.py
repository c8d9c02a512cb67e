"""The rename from envelope to busta (0.2.0): everything envelope 0.1 left behind is still read.

busta writes only its own names; each old name it reads is checked here against the new one: the new
one wins where both exist, the old one is used where only it exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import busta
from busta import _legacy, keyconfig
from busta.bulk import local
from busta.bulk.markers import Seal
from busta.bulk.places import Place, S3Settings
from busta.cli import main
from busta.cli.keyfile import write_record
from busta.errors import BustaError, EnvelopeError, UnsafePathError
from busta.keyfile import config_file, default_key_path, generate
from busta.keyrings import RawAesKeyring
from busta.keyrings._pkcs11_token import resolve_pin

from .support.dask_cluster import aws_environment
from .support.kms_fixtures import moto_server
from .support.moto_server import MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

REGION = "us-west-2"
BUCKET = "busta-legacy-names"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def _key_record(path: Path) -> RawAesKeyring:
    record = generate()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_record(record, path, force=False)
    return RawAesKeyring(record.namespace, record.name, record.key)


# -- names in code ---------------------------------------------------------------------------


def test_the_old_root_error_name_is_the_same_class_so_import_busta_as_envelope_keeps_except_clauses() -> None:
    assert EnvelopeError is BustaError
    with pytest.raises(EnvelopeError):
        busta.decrypt(b"not a message", keyring=RawAesKeyring("n", "k", bytes(32)))


# -- environment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "legacy", "expected"),
    [("new", None, "new"), (None, "old", "old"), ("new", "old", "new"), (None, None, None), ("", "old", "old")],
)
def test_a_busta_variable_wins_and_its_envelope_form_is_read_when_it_is_unset_or_empty(
    monkeypatch: pytest.MonkeyPatch, current: str | None, legacy: str | None, expected: str | None
) -> None:
    for name, value in (("BUSTA_SOMETHING", current), ("ENVELOPE_SOMETHING", legacy)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert _legacy.environ("BUSTA_SOMETHING") == expected


def test_a_variable_busta_never_renamed_has_no_envelope_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_PIN", raising=False)
    monkeypatch.setenv("ENVELOPE_MY_PIN", "1234")
    assert _legacy.environ("MY_PIN") is None


def test_the_pkcs11_pin_is_read_from_envelope_pkcs11_pin_when_busta_pkcs11_pin_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BUSTA_PKCS11_PIN", raising=False)
    monkeypatch.setenv("ENVELOPE_PKCS11_PIN", "4321")
    assert resolve_pin(None, "BUSTA_PKCS11_PIN").reveal() == b"4321"
    monkeypatch.setenv("BUSTA_PKCS11_PIN", "9999")
    assert resolve_pin(None, "BUSTA_PKCS11_PIN").reveal() == b"9999"


def test_an_encrypted_rsa_key_file_opens_with_the_password_in_envelope_rsa_key_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"old password"),
    )
    path = tmp_path / "rsa.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    monkeypatch.delenv("BUSTA_RSA_KEY_PASSWORD", raising=False)
    monkeypatch.setenv("ENVELOPE_RSA_KEY_PASSWORD", "old password")
    keyring = keyconfig.RsaKeyFile(str(path), "ns", "rsa").build()
    assert busta.decrypt(busta.encrypt(b"x", keyring=keyring), keyring=keyring).plaintext == b"x"


def test_the_cli_reads_envelope_progress_min_bytes(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _key_record(default_key_path())
    monkeypatch.delenv("BUSTA_PROGRESS_MIN_BYTES", raising=False)
    monkeypatch.setenv("ENVELOPE_PROGRESS_MIN_BYTES", "not a number")
    source = tmp_path / "in.txt"
    source.write_bytes(b"hello")
    assert main(["encrypt", str(source), "-o", str(tmp_path / "out.enc")]) != 0
    assert "BUSTA_PROGRESS_MIN_BYTES must be a whole number" in capsys.readouterr().err


# -- configuration directory -----------------------------------------------------------------


@pytest.mark.parametrize(("present", "used"), [(("envelope",), "envelope"), (("envelope", "busta"), "busta")])
def test_the_default_key_is_busta_s_else_the_one_envelope_keygen_wrote(
    config_home: Path, present: tuple[str, ...], used: str
) -> None:
    written = {directory: _key_record(config_home / directory / "default.key") for directory in present}
    assert config_file("default.key") == config_home / used / "default.key"
    keyring = keyconfig.LocalKey().build()
    assert busta.decrypt(busta.encrypt(b"x", keyring=written[used]), keyring=keyring).plaintext == b"x"


def test_keygen_writes_under_busta_even_when_envelope_s_directory_exists(config_home: Path) -> None:
    _key_record(config_home / "envelope" / "default.key")
    assert main(["keygen"]) == 0
    assert (config_home / "busta" / "default.key").is_file()


def test_the_demo_reuses_the_key_envelope_demo_made(config_home: Path) -> None:
    from busta import demo

    legacy = config_home / "envelope" / "demo.key"
    legacy.parent.mkdir(mode=0o700)
    legacy.write_bytes(os.urandom(32))
    legacy.chmod(0o600)
    assert demo.key_path() == legacy
    key, created = demo.load_or_create_key(demo.key_path())
    assert not created and key.reveal() == legacy.read_bytes()


# -- bulk markers in a directory ---------------------------------------------------------------


@pytest.fixture
def marked(tmp_path: Path) -> Iterator[tuple[Place, Seal]]:
    """A destination directory with one output and its done-marker, as busta writes it."""
    root = tmp_path / "dest"
    root.mkdir()
    place, seal = Place(None, str(root)), Seal(busta.SecretBytes(bytes(32)), b"binding")
    with place.file_writer("a.txt.enc", seal) as out:
        out.write(b"output")
    yield place, seal


def test_a_done_marker_under_envelope_bulk_counts_as_one_under_busta_bulk(marked: tuple[Place, Seal]) -> None:
    place, _ = marked
    root = Path(place.root)
    current = place.find("a.txt.enc", S3Settings())
    (root / local.MARKER_DIR).rename(root / _legacy.LEGACY_MARKER_DIR)
    legacy = place.find("a.txt.enc", S3Settings())
    assert current is not None and current.mac is not None
    assert legacy == current


def test_neither_marker_directory_nor_either_kind_of_temporary_file_is_listed_as_a_source(
    marked: tuple[Place, Seal],
) -> None:
    place, _ = marked
    root = Path(place.root)
    (root / _legacy.LEGACY_MARKER_DIR).mkdir()
    (root / _legacy.LEGACY_MARKER_DIR / "x.json").write_text("{}")
    (root / ".envelope-bulk-0123.tmp").write_bytes(b"partial")
    (root / ".busta-bulk-0123.tmp").write_bytes(b"partial")
    assert [source.name for source in place.list(S3Settings())] == ["a.txt.enc"]


@pytest.mark.parametrize("name", [".envelope-bulk/x", ".busta-bulk/x", "d/.envelope-bulk-1.tmp", "d/.busta-bulk-1.tmp"])
def test_no_destination_is_written_where_either_name_keeps_markers_or_temporaries(
    marked: tuple[Place, Seal], name: str
) -> None:
    place, _ = marked
    with pytest.raises(UnsafePathError):
        place.check_name(name, dest=True)


# -- bulk markers in S3 ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _moto_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3Settings makes its own boto3 client: it finds moto's credentials in the environment."""
    for name, value in aws_environment().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer) -> MotoServer:
    return moto_server.with_bucket(BUCKET, REGION)


def _put_marked(server: MotoServer, key: str, metadata: dict[str, str]) -> S3Settings:
    server.client("s3", REGION).put_object(Bucket=BUCKET, Key=key, Body=b"output", Metadata=metadata)
    return S3Settings(endpoint_url=server.endpoint, region=REGION)


def test_an_s3_object_marked_with_envelope_bulk_metadata_is_recognized_as_marked(bucket: MotoServer) -> None:
    fields = {"marker": "2", "operation": "encrypt", "source": '"etag"', "mac": "ab" * 32}
    legacy = _put_marked(bucket, "old/a.enc", {f"envelope-bulk-{k}": v for k, v in fields.items()})
    current = _put_marked(bucket, "new/a.enc", {f"busta-bulk-{k}": v for k, v in fields.items()})
    found_legacy = Place(BUCKET, "old/").find("a.enc", legacy)
    found_current = Place(BUCKET, "new/").find("a.enc", current)
    assert found_legacy is not None and found_current is not None
    assert (found_legacy.bulk, found_legacy.mac) == (found_current.bulk, found_current.mac) == (True, "ab" * 32)


def test_busta_s_own_s3_marker_metadata_wins_over_envelope_s(bucket: MotoServer) -> None:
    settings = _put_marked(
        bucket,
        "both/a.enc",
        {"busta-bulk-marker": "2", "busta-bulk-mac": "cd" * 32, "envelope-bulk-marker": "2", "envelope-bulk-mac": "ef"},
    )
    found = Place(BUCKET, "both/").find("a.enc", settings)
    assert found is not None and found.mac == "cd" * 32


def test_the_context_metadata_key_is_busta_s_and_the_old_one_is_named_for_readers() -> None:
    from busta.s3 import CONTEXT_METADATA_KEY

    assert CONTEXT_METADATA_KEY == "busta-encryption-context"
    assert _legacy.LEGACY_CONTEXT_METADATA_KEY == "envelope-encryption-context"


def test_the_legacy_table_names_every_prefix_it_reads() -> None:
    doc = _legacy.__doc__ or ""
    for name in ("ENVELOPE_", ".envelope-bulk", "envelope-bulk-", "envelope-encryption-context", "~/.config/envelope"):
        assert name.rstrip("_") in doc
    assert all(hasattr(_legacy, name) for name in _legacy.__all__)
