"""Keyrings as configuration (busta.keyconfig): secret-free descriptions rebuilt where they are used.

Every description pickles and hashes (so it can travel to a Dask worker and key
a per-process cache), holds no key bytes, and builds a keyring that is
byte-compatible with the keyring one would have made by hand. The PKCS#11
description reads its PIN from the environment variable it names, and is
rebuilt inside the worker processes of a real LocalCluster.
"""

from __future__ import annotations

import base64
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import bulk
from busta.cli.keyfile import write_record
from busta.errors import UsageError
from busta.keyconfig import (
    AesKeyFile,
    EnvKey,
    KeyringConfig,
    KmsDiscovery,
    KmsKey,
    LocalKey,
    Multi,
    Pkcs11Key,
    RsaKeyFile,
    build_keyring,
)
from busta.keyfile import KeyRecord
from busta.keyrings import AwsKmsKeyring, ClientCache, RawAesKeyring, RawRsaKeyring, RsaPadding
from busta.materials import Keyring

from .support.dask_cluster import local_cluster
from .support.hsm import import_aes_key, keyring_for, new_token
from .support.kms_fixtures import KmsKeys, kms_keys, moto_server
from .support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer
from .support.renderings import byte_forms

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

NAMESPACE, NAME = "keyconfig", "key-1"
PLAINTEXT = b"described, not carried"


def _round_trip(encrypting: Keyring, decrypting: Keyring) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=encrypting, encryption_context={"k": "v"})
    assert busta.decrypt(message, keyring=decrypting).plaintext == PLAINTEXT


def _travels(config: KeyringConfig, secret: bytes) -> None:
    """It pickles, hashes, compares equal to its copy, and no form of ``secret`` is in it."""
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config
    assert hash(copy) == hash(config)
    shipped = pickle.dumps(config)
    for form in byte_forms(secret).values():
        assert form.encode("latin-1", "replace") not in shipped
        assert form not in repr(config)


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


def test_a_key_record_file_is_described_by_its_path(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "local.key"
    write_record(KeyRecord(NAMESPACE, NAME, busta.SecretBytes(key)), path, force=False)
    config = LocalKey(str(path))
    _travels(config, key)
    _round_trip(config.build(), RawAesKeyring(NAMESPACE, NAME, key))


def test_the_default_key_record_is_found_where_keygen_puts_it(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    write_record(KeyRecord(NAMESPACE, NAME, busta.SecretBytes(key)), tmp_path / "busta" / "default.key", force=False)
    _round_trip(LocalKey().build(), RawAesKeyring(NAMESPACE, NAME, key))


def test_a_raw_key_file_is_described_by_its_path_and_names(tmp_path: Path, key: bytes) -> None:
    path = tmp_path / "raw.key"
    path.write_bytes(key)
    path.chmod(0o600)  # a key file group or others may read is refused
    config = AesKeyFile(str(path), NAMESPACE, NAME)
    _travels(config, key)
    _round_trip(config.build(), RawAesKeyring(NAMESPACE, NAME, key))


def test_an_environment_key_is_read_from_the_variable_in_the_process_that_builds_it(
    key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = EnvKey("BUSTA_TEST_KEYCONFIG_KEY", NAMESPACE, NAME)
    _travels(config, key)
    monkeypatch.setenv("BUSTA_TEST_KEYCONFIG_KEY", base64.b64encode(key).decode())
    _round_trip(config.build(), RawAesKeyring(NAMESPACE, NAME, key))


@pytest.mark.parametrize(
    ("value", "message"),
    [(None, "is not set"), ("not base64!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
    ids=["unset", "not-base64", "wrong-length"],
)
def test_an_environment_key_that_is_missing_or_malformed_is_a_usage_error_that_shows_no_value(
    value: str | None, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("BUSTA_TEST_KEYCONFIG_KEY", raising=False)
    else:
        monkeypatch.setenv("BUSTA_TEST_KEYCONFIG_KEY", value)
    with pytest.raises(UsageError, match=message) as caught:
        EnvKey("BUSTA_TEST_KEYCONFIG_KEY", NAMESPACE, NAME).build()
    assert value is None or value not in str(caught.value)


def test_rsa_key_files_give_an_encrypting_keyring_for_a_public_key_and_a_decrypting_one_for_a_private_key(
    tmp_path: Path, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    private_pem = rsa_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = rsa_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "private.pem").write_bytes(private_pem)
    (tmp_path / "private.pem").chmod(0o600)  # a private key file group or others may read is refused
    (tmp_path / "public.pem").write_bytes(public_pem)
    public = RsaKeyFile(str(tmp_path / "public.pem"), NAMESPACE, NAME, "oaep-sha256")
    private = RsaKeyFile(str(tmp_path / "private.pem"), NAMESPACE, NAME, "oaep-sha256")
    _travels(private, private_pem)
    by_hand = RawRsaKeyring(NAMESPACE, NAME, private_key=rsa_private_key, padding=RsaPadding.OAEP_SHA256)
    _round_trip(public.build(), by_hand)
    _round_trip(by_hand, private.build())


def test_kms_keys_are_described_by_arn_and_endpoint_and_discovery_by_its_filter(
    kms_keys: KmsKeys, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    strict = KmsKey(kms_keys.single_arn, endpoint_url=moto_server.endpoint)
    discovery = KmsDiscovery((kms_keys.account_id,), kms_keys.partition, endpoint_url=moto_server.endpoint)
    other_account = KmsDiscovery(("000000000000",), kms_keys.partition, endpoint_url=moto_server.endpoint)
    by_hand = AwsKmsKeyring(kms_keys.single_arn, client_supplier=ClientCache(endpoint_url=moto_server.endpoint))
    _round_trip(strict.build(), by_hand)
    _round_trip(by_hand, discovery.build())
    message = busta.encrypt(PLAINTEXT, keyring=by_hand)
    with pytest.raises(busta.errors.NoDecryptingKeyError):
        busta.decrypt(message, keyring=other_account.build())


def test_a_multi_description_wraps_under_every_key_and_each_key_decrypts_alone(
    key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = os.urandom(32)
    monkeypatch.setenv("BUSTA_TEST_KEY_A", base64.b64encode(key).decode())
    monkeypatch.setenv("BUSTA_TEST_KEY_B", base64.b64encode(other).decode())
    config = Multi((EnvKey("BUSTA_TEST_KEY_A", NAMESPACE, "a"), EnvKey("BUSTA_TEST_KEY_B", NAMESPACE, "b")))
    _travels(config, key)
    message = busta.encrypt(PLAINTEXT, keyring=config.build())
    assert busta.decrypt(message, keyring=RawAesKeyring(NAMESPACE, "a", key)).plaintext == PLAINTEXT
    assert busta.decrypt(message, keyring=RawAesKeyring(NAMESPACE, "b", other)).plaintext == PLAINTEXT


def test_build_keyring_builds_once_per_description_per_process(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSTA_TEST_KEY_CACHED", base64.b64encode(key).decode())
    first = build_keyring(EnvKey("BUSTA_TEST_KEY_CACHED", NAMESPACE, NAME))
    assert build_keyring(EnvKey("BUSTA_TEST_KEY_CACHED", NAMESPACE, NAME)) is first
    assert build_keyring(EnvKey("BUSTA_TEST_KEY_CACHED", NAMESPACE, "other")) is not first


@pytest.mark.parametrize(
    "thing",
    [RawAesKeyring(NAMESPACE, NAME, bytes(32)), "arn:aws:kms:us-west-2:111122223333:key/x", None],
    ids=["a keyring", "a string", "None"],
)
def test_build_keyring_refuses_anything_but_a_description(thing: Any) -> None:
    with pytest.raises(UsageError, match=r"busta\.keyconfig"):
        build_keyring(thing)


def test_a_pkcs11_key_reads_its_pin_from_the_variable_it_names(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    token = new_token()
    import_aes_key(token, "pin-env-aes", key)
    config = Pkcs11Key(token.module, token.token_label, "pin-env-aes", NAMESPACE, NAME, pin_env="BUSTA_TEST_PIN")
    monkeypatch.delenv("BUSTA_PKCS11_PIN", raising=False)
    monkeypatch.delenv("BUSTA_TEST_PIN", raising=False)
    with pytest.raises(UsageError, match=r"\$BUSTA_TEST_PIN is not set"):
        config.build()
    monkeypatch.setenv("BUSTA_PKCS11_PIN", token.pin.reveal().decode())  # the default variable is not read
    with pytest.raises(UsageError, match=r"\$BUSTA_TEST_PIN is not set"):
        config.build()
    monkeypatch.delenv("BUSTA_PKCS11_PIN")
    monkeypatch.setenv("BUSTA_TEST_PIN", token.pin.reveal().decode())
    _round_trip(config.build(), keyring_for(token, "pin-env-aes", namespace=NAMESPACE, name=NAME))


def test_a_pkcs11_key_is_rebuilt_from_module_token_and_label_inside_each_worker_process(
    tmp_path: Path, key: bytes
) -> None:
    token = new_token()
    import_aes_key(token, "bulk-aes", key)
    config = Pkcs11Key(token.module, token.token_label, "bulk-aes", NAMESPACE, NAME)
    _travels(config, token.pin.reveal())
    source = tmp_path / "plain"
    source.mkdir()
    files = {f"f{i}": os.urandom(1000 * i) for i in range(8)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    # The workers get the PIN and SoftHSM's configuration through their environment, never in a task.
    environment = {"BUSTA_PKCS11_PIN": token.pin.reveal().decode(), "SOFTHSM2_CONF": token.config}
    with local_cluster(environment, workers=2) as client:
        pids = set(client.run(os.getpid).values())
        report = bulk.run("encrypt", str(source), str(tmp_path / "enc"), keyring=config, client=client)
    assert report.ok, report.failures
    assert report.count("done") == len(files)
    assert os.getpid() not in pids
    local = keyring_for(token, "bulk-aes", namespace=NAMESPACE, name=NAME)
    for name, data in files.items():
        assert busta.decrypt((tmp_path / "enc" / f"{name}.enc").read_bytes(), keyring=local).plaintext == data
