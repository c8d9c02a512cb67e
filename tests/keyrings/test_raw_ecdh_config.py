"""``EcdhKeyFile``: the raw ECDH keyring as a secret-free description, rebuilt where it is used
(a bulk job's workers), and in a ``Multi`` with other kinds."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import busta
from busta import bulk
from busta.bulk.places import parse_place
from busta.bulk.tasks import JobSpec, Operation
from busta.errors import KeyFileError, UsageError
from busta.keyconfig import AesKeyFile, EcdhKeyFile, Multi, build_keyring
from busta.keyrings import RawEcdhKeyring

PASSWORD = b"worker password"


@pytest.fixture
def key_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(an encrypted PEM private key, mode 0600, its password in the environment; its PEM public key)."""
    key = ec.generate_private_key(ec.SECP521R1())
    private, public = tmp_path / "recipient.pem", tmp_path / "recipient.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    monkeypatch.setenv("BUSTA_EC_KEY_PASSWORD", PASSWORD.decode())
    return str(private), str(public)


def test_a_description_is_checked_when_it_is_made(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="scheme 'fixed'"):
        EcdhKeyFile("fixed", public_key="p")
    with pytest.raises(UsageError, match="scheme ephemeral takes public_key only"):
        EcdhKeyFile("ephemeral", private_key="k", public_key="p")
    with pytest.raises(UsageError, match="scheme static takes private_key and public_key"):
        EcdhKeyFile("static", private_key="k")
    with pytest.raises(UsageError, match="scheme discovery takes private_key"):
        EcdhKeyFile("discovery", public_key="p")
    with pytest.raises(UsageError, match="curve 'P-256'"):
        EcdhKeyFile("ephemeral", public_key="p", curve="P-256")


def test_a_description_pickles_without_the_key_and_builds_from_the_files(key_files: tuple[str, str]) -> None:
    private, public = key_files
    encrypt, decrypt = EcdhKeyFile("ephemeral", public_key=public), EcdhKeyFile("discovery", private_key=private)
    sent = pickle.dumps(decrypt)
    assert b"PRIVATE KEY" not in sent and PASSWORD not in sent
    writer, reader = build_keyring(encrypt), build_keyring(pickle.loads(sent))
    assert isinstance(reader, RawEcdhKeyring) and reader.curve.name == "P521"
    assert busta.decrypt(busta.encrypt(b"rebuilt", keyring=writer), keyring=reader).plaintext == b"rebuilt"


def test_the_curve_given_must_be_the_keys_and_a_missing_password_is_named(
    key_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = key_files
    with pytest.raises(UsageError, match="on curve P521, not P256"):
        EcdhKeyFile("ephemeral", public_key=public, curve="p256").build()
    monkeypatch.delenv("BUSTA_EC_KEY_PASSWORD")
    with pytest.raises(KeyFileError, match="password comes from BUSTA_EC_KEY_PASSWORD"):
        EcdhKeyFile("discovery", private_key=private).build()
    with pytest.raises(KeyFileError, match="does not exist"):
        EcdhKeyFile("ephemeral", public_key=public + ".missing").build()


def test_in_a_multi_description_with_an_aes_key_either_decrypts(key_files: tuple[str, str], tmp_path: Path) -> None:
    private, public = key_files
    (tmp_path / "aes.key").write_bytes(bytes(range(32)))
    (tmp_path / "aes.key").chmod(0o600)
    aes = AesKeyFile(str(tmp_path / "aes.key"), "ns", "aes")
    message = busta.encrypt(b"both", keyring=Multi((EcdhKeyFile("ephemeral", public_key=public), aes)).build())
    assert busta.decrypt(message, keyring=EcdhKeyFile("discovery", private_key=private).build()).plaintext == b"both"
    assert busta.decrypt(message, keyring=aes.build()).plaintext == b"both"


def test_a_bulk_job_encrypts_and_decrypts_with_descriptions_rebuilt_from_a_pickle(
    key_files: tuple[str, str], tmp_path: Path
) -> None:
    private, public = key_files
    (tmp_path / "raw").mkdir()
    for name in ("a", "b"):
        (tmp_path / "raw" / name).write_bytes(name.encode() * 1000)

    def run(operation: Operation, src: str, dst: str, key: EcdhKeyFile) -> dict[str, str]:
        job = JobSpec(operation, parse_place(str(tmp_path / src)), parse_place(str(tmp_path / dst)), key)
        worker_job = pickle.loads(pickle.dumps(job))  # what a Dask worker is sent
        results = {
            source.name: bulk.process_object(worker_job, source) for source in worker_job.source.list(worker_job.s3)
        }
        return {name: result.status if result.ok else str(result.error) for name, result in results.items()}

    assert run(Operation.ENCRYPT, "raw", "enc", EcdhKeyFile("ephemeral", public_key=public)) == {
        "a": "done",
        "b": "done",
    }
    decrypted = run(Operation.DECRYPT, "enc", "back", EcdhKeyFile("discovery", private_key=private))
    assert set(decrypted.values()) == {"done"}
    for name in ("a", "b"):
        assert (tmp_path / "back" / name).read_bytes() == name.encode() * 1000
