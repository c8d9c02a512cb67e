"""The public API: policies, contexts, argument checks, secret hygiene and the exported names."""

from __future__ import annotations

import base64
import importlib
import io
import logging
import pickle
import subprocess
import sys

import pytest

import busta
from busta import AlgorithmSuite, CommitmentPolicy, SecretBytes
from busta.errors import (
    AuthenticationError,
    BustaError,
    EncryptionContextError,
    PolicyError,
    UsageError,
)
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring

from .conftest import policy_for

V1 = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
FORBID = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
ALLOW = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
REQUIRE = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT


def test_suites_are_named_as_in_the_specification_and_keyed_by_wire_id() -> None:
    ids = [s.id for s in AlgorithmSuite]
    assert ids == [0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378, 0x0478, 0x0578]
    assert AlgorithmSuite.from_id(0x0578) is AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
    with pytest.raises(UsageError):
        AlgorithmSuite.from_id(0x0070)


def test_the_default_is_suite_0578_under_require_encrypt_require_decrypt(aes_keyring: RawAesKeyring) -> None:
    header = busta.decrypt(busta.encrypt(b"x", keyring=aes_keyring), keyring=aes_keyring).header
    assert header.suite.id == 0x0578
    assert header.frame_length == 64 * 1024
    assert "aws-crypto-public-key" in header.encryption_context


@pytest.mark.parametrize(
    ("policy", "suite", "allowed"),
    [
        (FORBID, V1, True),
        (FORBID, UNSIGNED, False),
        (ALLOW, V1, False),
        (ALLOW, UNSIGNED, True),
        (REQUIRE, V1, False),
        (REQUIRE, UNSIGNED, True),
    ],
)
def test_commitment_policy_on_encrypt(
    aes_keyring: RawAesKeyring, policy: CommitmentPolicy, suite: AlgorithmSuite, allowed: bool
) -> None:
    if allowed:
        busta.Client(commitment_policy=policy).encrypt(b"x", keyring=aes_keyring, algorithm=suite)
    else:
        with pytest.raises(PolicyError):
            busta.Client(commitment_policy=policy).encrypt(b"x", keyring=aes_keyring, algorithm=suite)


@pytest.mark.parametrize(("policy", "allowed"), [(FORBID, True), (ALLOW, True), (REQUIRE, False)])
def test_commitment_policy_on_decrypt_of_a_v1_message(
    aes_keyring: RawAesKeyring, policy: CommitmentPolicy, allowed: bool
) -> None:
    message = busta.Client(commitment_policy=FORBID).encrypt(b"x", keyring=aes_keyring, algorithm=V1)
    if allowed:
        assert busta.Client(commitment_policy=policy).decrypt(message, keyring=aes_keyring).plaintext == b"x"
    else:
        with pytest.raises(PolicyError):
            busta.Client(commitment_policy=policy).decrypt(message, keyring=aes_keyring)


def test_the_default_suite_under_forbid_is_0378(aes_keyring: RawAesKeyring) -> None:
    message = busta.Client(commitment_policy=FORBID).encrypt(b"x", keyring=aes_keyring)
    assert message[2:4] == b"\x03\x78"


def test_expected_context_pairs_must_match(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring, encryption_context={"tenant": "a", "use": "b"})
    assert busta.decrypt(message, keyring=aes_keyring, encryption_context={"tenant": "a"}).plaintext == b"x"
    with pytest.raises(EncryptionContextError):
        busta.decrypt(message, keyring=aes_keyring, encryption_context={"tenant": "z"})


def test_expected_pairs_not_stored_are_authenticated_as_required_context(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring, encryption_context={"tenant": "a"})
    # The message does not hold "extra": it must be authenticated, and it was not part of the message.
    with pytest.raises(BustaError):
        busta.decrypt(message, keyring=aes_keyring, encryption_context={"extra": "1"})


def test_the_decrypt_result_carries_the_header_and_authenticated_context(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(b"x", keyring=aes_keyring, algorithm=UNSIGNED, encryption_context={"a": "b"})
    result = busta.decrypt(message, keyring=aes_keyring)
    assert result.plaintext == b"x"
    assert result.encryption_context == {"a": "b"}
    assert result.header.message_id == message[3:35]


@pytest.mark.parametrize("suite", list(AlgorithmSuite), ids=lambda s: s.name)
def test_refuse_signed_mode_refuses_exactly_the_signed_suites(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite
) -> None:
    message = busta.Client(commitment_policy=policy_for(suite)).encrypt(b"x", keyring=aes_keyring, algorithm=suite)
    if suite.signed:
        with pytest.raises(PolicyError):
            busta.Client(commitment_policy=ALLOW, refuse_signed=True).decrypt(message, keyring=aes_keyring)
    else:
        assert (
            busta.Client(commitment_policy=ALLOW, refuse_signed=True).decrypt(message, keyring=aes_keyring).plaintext
            == b"x"
        )


def test_a_wrong_commitment_is_an_authentication_error(aes_keyring: RawAesKeyring) -> None:
    message = bytearray(busta.encrypt(b"x", keyring=aes_keyring, algorithm=UNSIGNED))
    parsed = busta.format.parse_header(bytes(message))
    assert parsed is not None
    commitment_at = len(parsed.raw) - 32
    message[commitment_at] ^= 1
    with pytest.raises(AuthenticationError, match="commitment"):
        busta.decrypt(bytes(message), keyring=aes_keyring)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"keyring": object()},
        {"frame_length": 0},
        {"frame_length": 2**31},
        {"algorithm": "0x0478"},
    ],
)
def test_bad_arguments_raise_usage_errors(aes_keyring: RawAesKeyring, kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"keyring": aes_keyring, **kwargs}
    if not kwargs:
        arguments = {}
    with pytest.raises(UsageError):
        busta.encrypt(b"x", **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"commitment_policy": "require"}, {"max_encrypted_data_keys": 0}])
def test_bad_client_settings_raise_usage_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        busta.Client(**kwargs)  # type: ignore[arg-type]


def test_plaintext_must_be_bytes(aes_keyring: RawAesKeyring) -> None:
    with pytest.raises(UsageError):
        busta.encrypt("text", keyring=aes_keyring)  # type: ignore[arg-type]


def test_keyring_and_materials_manager_are_exclusive(aes_keyring: RawAesKeyring) -> None:
    cmm = busta.DefaultCryptoMaterialsManager(aes_keyring)
    with pytest.raises(UsageError):
        busta.encrypt(b"x", keyring=aes_keyring, materials_manager=cmm)
    message = busta.encrypt(b"x", materials_manager=cmm)
    assert busta.decrypt(message, materials_manager=cmm).plaintext == b"x"


def test_usage_errors_are_also_value_errors_and_every_error_is_a_busta_error() -> None:
    assert issubclass(UsageError, ValueError)
    for name in busta.errors.__all__:
        assert issubclass(getattr(busta.errors, name), BustaError)


def test_secrets_never_print_and_never_pickle(rsa_private_key: object) -> None:
    key = bytes(range(32))
    secret = SecretBytes(key)
    keyring = RawAesKeyring("ns", "k", key)
    rsa_keyring = RawRsaKeyring("ns", "r", private_key=rsa_private_key)  # type: ignore[arg-type]
    materials = keyring.on_encrypt(busta.EncryptionMaterials(suite=UNSIGNED, encryption_context={}))
    for obj in (secret, keyring, rsa_keyring, materials, MultiKeyring(keyring)):
        text = repr(obj) + str(obj)
        for form in (key.hex(), base64.b64encode(key).decode(), repr(key)):
            assert form not in text
        with pytest.raises(UsageError, match="cannot be pickled"):
            pickle.dumps(obj)
    assert secret == SecretBytes(key)
    assert secret != SecretBytes(bytes(32))
    with pytest.raises(TypeError):
        hash(secret)


def test_debug_logging_reveals_no_key_material(aes_key: bytes, caplog: pytest.LogCaptureFixture) -> None:
    keyring = RawAesKeyring("ns", "k", aes_key)
    with caplog.at_level(logging.DEBUG, logger="busta"):
        message = busta.encrypt(b"secret plaintext", keyring=keyring)
        busta.decrypt(message, keyring=keyring)
    for form in (aes_key.hex(), base64.b64encode(aes_key).decode()):
        assert form not in caplog.text
    assert "secret plaintext" not in caplog.text


def test_every_public_module_lists_exactly_what_it_exports() -> None:
    core = ("busta", "busta.errors", "busta.keyrings", "busta.materials", "busta.format")
    for name in (*core, "busta.s3", "busta.bulk", "busta.keyconfig", "busta.rewrap"):
        module = importlib.import_module(name)
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.{exported}"
        public = {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(io))}
        defined_here = {n for n in public if getattr(getattr(module, n), "__module__", "").startswith(name)}
        assert defined_here <= set(module.__all__), (
            f"{name} defines unexported names {defined_here - set(module.__all__)}"
        )


def test_importing_busta_does_not_import_boto3_or_the_official_sdk() -> None:
    code = (
        "import sys, busta; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aws_encryption_sdk')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_busta_leaves_dataclasses_inspect_base64_and_the_caching_manager_to_first_use() -> None:
    """Start-up (issue 18): dataclasses (with inspect, ast, dis, tokenize) was a third of what busta's
    own modules cost; the caching manager loads when it is named."""
    code = (
        "import sys, busta\n"
        "later = ('dataclasses', 'inspect', 'base64', 'busta.materials.caching')\n"
        "print(sorted(m for m in later if m in sys.modules))\n"
        "from busta import LruMaterialsCache as Cache\n"
        "from busta.materials import CachingCryptoMaterialsManager as Cmm\n"
        "print(Cache.__module__, Cmm.__module__, busta.LruMaterialsCache is Cache)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["[]", "busta.materials.caching busta.materials.caching True"]
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        busta.materials.Nothing  # noqa: B018 - the lookup is the test
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        busta.Nothing  # noqa: B018


def test_kms_keyrings_say_how_to_install_boto3_when_it_is_missing() -> None:
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "import busta.keyrings as k\n"
        "try:\n    k.AwsKmsKeyring\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'busta[aws]'" in out
