"""No padding oracle in the RSA keyrings (issue 14, item 4), against a real SoftHSM RSA key.

An attacker who can submit messages and read the errors builds messages whose
header authenticates under a data key of their own, but whose encrypted data
key is a ciphertext they want to learn about. Three kinds of ciphertext:

- ``bad padding``: not a PKCS#1 v1.5 encryption block at all;
- ``wrong length``: well padded, with a 16-byte payload;
- ``wrong key``: well padded, with a 32-byte payload that is not the data key.

Every one must end in the same error: same class, ``str``, ``repr``, reasons
and nested errors, and the same chain of causes. With PKCS#1 v1.5 that error is
the key commitment (or header tag) failing, because the keyring substitutes a
pseudo-random key for any ciphertext it cannot use (implicit rejection).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding as rsa_padding
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import AlgorithmSuite, CommitmentPolicy, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from busta._secrets import SecretBytes
from busta.errors import AuthenticationError, BustaError, NoDecryptingKeyError, UsageError
from busta.keyconfig import Pkcs11Key, build_keyring
from busta.keyrings import RawRsaKeyring, RsaPadding
from busta.keyrings.pkcs11 import Pkcs11Keyring
from busta.keyrings.pkcs11_admin import SoftHsmToken
from tests.support.hsm import import_aes_key, import_rsa_key_pair, keyring_for, new_token

NAMESPACE = "hsm-oracle"
RSA_NAME = "oracle-rsa"
AES_NAME = "oracle-aes"
RSA_LABEL = "oracle-rsa"
AES_LABEL = "oracle-aes"
AES_KEY = bytes(range(32))
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,  # committing: the key commitment fails
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,  # non-committing: the header tag fails
]
TAMPERS = ["bad padding", "wrong length", "wrong key"]


def policy_for(suite: AlgorithmSuite) -> CommitmentPolicy:
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


@dataclass(frozen=True)
class ForgingKeyring:
    """The attacker's keyring: a data key of its own, wrapped as ``ciphertext`` under someone else's name."""

    provider_id: str
    provider_info: bytes
    ciphertext: bytes

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        edk = EncryptedDataKey(self.provider_id, self.provider_info, self.ciphertext)
        return materials.with_data_key(SecretBytes(os.urandom(materials.suite.key_bytes)), edk)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        raise AssertionError("the forger never decrypts")


def textbook_rsa(public: rsa.RSAPublicKey, block: bytes) -> bytes:
    """RSA without padding: lets the attacker send any encryption block."""
    numbers = public.public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return pow(int.from_bytes(block, "big"), numbers.e, numbers.n).to_bytes(size, "big")


def pkcs1_ciphertexts(public: rsa.RSAPublicKey) -> dict[str, bytes]:
    size = public.key_size // 8
    return {
        # block type 01 (signatures) and no zero separator: PKCS#1 v1.5 decryption must reject it
        "bad padding": textbook_rsa(public, b"\x00\x01" + b"\xff" * (size - 2)),
        "wrong length": public.encrypt(os.urandom(16), rsa_padding.PKCS1v15()),
        "wrong key": public.encrypt(os.urandom(32), rsa_padding.PKCS1v15()),
    }


def oaep_ciphertexts(public: rsa.RSAPublicKey) -> dict[str, bytes]:
    oaep = rsa_padding.OAEP(mgf=rsa_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    size = public.key_size // 8
    return {
        "bad padding": textbook_rsa(public, b"\x00\x02" + os.urandom(size - 2)),
        "wrong length": public.encrypt(os.urandom(16), oaep),
    }


def outcome(error: BaseException) -> tuple[object, ...]:
    """Everything the caller can see of an error, minus the memory addresses of the frames."""
    chain = []
    link: BaseException | None = error
    while link is not None:
        chain.append((type(link), str(link), repr(link)))
        link = link.__cause__ or link.__context__
    nested = tuple((type(e), str(e), repr(e), repr(e.__cause__)) for e in getattr(error, "errors", ()))
    shown = traceback.format_exception_only(error)
    return (tuple(chain), tuple(getattr(error, "reasons", ())), nested, tuple(shown))


def decrypt_error(message: bytes, keyring: object, suite: AlgorithmSuite) -> BustaError:
    with pytest.raises(BustaError) as caught:
        busta.Client(commitment_policy=policy_for(suite)).decrypt(message, keyring=keyring)  # type: ignore[arg-type]
    return caught.value


def forged(ciphertext: bytes, suite: AlgorithmSuite, name: str = RSA_NAME) -> bytes:
    forger = ForgingKeyring(NAMESPACE, name.encode(), ciphertext)
    return busta.Client(commitment_policy=policy_for(suite)).encrypt(b"attack", keyring=forger, algorithm=suite)


@pytest.fixture
def rsa_token(rsa_private_key: rsa.RSAPrivateKey) -> SoftHsmToken:
    token = new_token()
    import_rsa_key_pair(token, RSA_LABEL, rsa_private_key)
    return token


def pkcs1_token_keyring(token: SoftHsmToken) -> Pkcs11Keyring:
    return keyring_for(
        token, RSA_LABEL, namespace=NAMESPACE, name=RSA_NAME, padding=RsaPadding.PKCS1, allow_pkcs1v15_unwrap=True
    )


# -- PKCS#1 v1.5 on the token: implicit rejection -----------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"0x{s.id:04x}")
def test_pkcs1_tampered_data_keys_all_end_in_one_identical_error(
    suite: AlgorithmSuite, rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    keyring = pkcs1_token_keyring(rsa_token)
    ciphertexts = pkcs1_ciphertexts(rsa_private_key.public_key())
    errors = {tamper: decrypt_error(forged(ciphertexts[tamper], suite), keyring, suite) for tamper in TAMPERS}

    outcomes = {tamper: outcome(error) for tamper, error in errors.items()}
    assert outcomes["bad padding"] == outcomes["wrong length"] == outcomes["wrong key"]
    assert all(type(error) is AuthenticationError for error in errors.values())
    # the same message decrypts when it is genuine
    genuine = busta.Client(commitment_policy=policy_for(suite)).encrypt(b"fine", keyring=keyring, algorithm=suite)
    assert busta.Client(commitment_policy=policy_for(suite)).decrypt(genuine, keyring=keyring).plaintext == b"fine"


def test_pkcs1_keyring_returns_a_deterministic_wrong_key_for_every_tampered_data_key(
    rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    assert_deterministic_wrong_keys(pkcs1_token_keyring(rsa_token), rsa_private_key.public_key())


def assert_deterministic_wrong_keys(keyring: Pkcs11Keyring | RawRsaKeyring, public: rsa.RSAPublicKey) -> None:
    suite = SUITES[0]
    for tamper, ciphertext in pkcs1_ciphertexts(public).items():
        edk = EncryptedDataKey(NAMESPACE, RSA_NAME.encode(), ciphertext)
        materials = DecryptionMaterials(suite=suite, encryption_context={})
        first = keyring.on_decrypt(materials, [edk]).data_key
        again = keyring.on_decrypt(materials, [edk]).data_key
        assert first is not None and len(first) == suite.key_bytes, tamper
        assert first == again, tamper  # the same ciphertext always gives the same key (caches stay consistent)


def test_pkcs1_on_a_token_is_refused_unless_enabled(rsa_token: SoftHsmToken) -> None:
    with pytest.raises(UsageError, match="allow_pkcs1v15_unwrap=True"):
        keyring_for(rsa_token, RSA_LABEL, namespace=NAMESPACE, name=RSA_NAME, padding=RsaPadding.PKCS1)
    with pytest.raises(UsageError, match="True or False"):
        keyring_for(
            rsa_token,
            RSA_LABEL,
            padding=RsaPadding.PKCS1,
            allow_pkcs1v15_unwrap="yes",  # type: ignore[arg-type]
        )
    assert pkcs1_token_keyring(rsa_token).allow_pkcs1v15_unwrap is True


def test_after_an_implicit_rejection_the_keyring_tries_no_later_data_key(
    rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    # The documented cost of implicit rejection: the keyring "succeeds" with a wrong key, so a
    # later copy of the data key (here a genuine one) is never tried, and the message fails.
    suite = SUITES[0]
    keyring = pkcs1_token_keyring(rsa_token)
    genuine = keyring.on_encrypt(EncryptionMaterials(suite=suite, encryption_context={}))
    bad = EncryptedDataKey(NAMESPACE, RSA_NAME.encode(), pkcs1_ciphertexts(rsa_private_key.public_key())["bad padding"])
    materials = DecryptionMaterials(suite=suite, encryption_context={})
    assert keyring.on_decrypt(materials, list(genuine.encrypted_data_keys)).data_key == genuine.data_key
    tried_first = keyring.on_decrypt(materials, [bad, *genuine.encrypted_data_keys]).data_key
    assert tried_first is not None and tried_first != genuine.data_key


# -- OAEP and AES-GCM on the token: one failure for every refused data key --------------------------------


def test_oaep_refusals_and_wrong_lengths_give_one_identical_error(
    rsa_token: SoftHsmToken, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    suite = SUITES[0]
    keyring = keyring_for(rsa_token, RSA_LABEL, namespace=NAMESPACE, name=RSA_NAME, padding=RsaPadding.OAEP_SHA1)
    ciphertexts = oaep_ciphertexts(rsa_private_key.public_key()).values()
    errors = [decrypt_error(forged(ciphertext, suite), keyring, suite) for ciphertext in ciphertexts]
    assert outcome(errors[0]) == outcome(errors[1])
    assert isinstance(errors[0], NoDecryptingKeyError)
    (nested,) = errors[0].errors
    assert nested.__cause__ is None and nested.__context__ is None  # the token's error code is not passed on


def test_aes_gcm_refusals_on_the_token_give_one_identical_error() -> None:
    token = new_token()
    import_aes_key(token, AES_LABEL, AES_KEY)
    keyring = keyring_for(token, AES_LABEL, namespace=NAMESPACE, name=AES_NAME)
    suite = SUITES[0]
    wrapped = keyring.on_encrypt(EncryptionMaterials(suite=suite, encryption_context={"a": "1"}))
    (edk,) = wrapped.encrypted_data_keys

    def flip(data: bytes, index: int) -> bytes:
        index %= len(data)
        return data[:index] + bytes([data[index] ^ 1]) + data[index + 1 :]

    variants: list[Callable[[], EncryptedDataKey]] = [
        lambda: EncryptedDataKey(edk.provider_id, edk.provider_info, flip(edk.ciphertext, 0)),  # body
        lambda: EncryptedDataKey(edk.provider_id, edk.provider_info, flip(edk.ciphertext, -1)),  # tag
        lambda: EncryptedDataKey(edk.provider_id, flip(edk.provider_info, -1), edk.ciphertext),  # IV
    ]
    materials = DecryptionMaterials(suite=suite, encryption_context={"a": "1"})
    seen = []
    for variant in variants:
        with pytest.raises(NoDecryptingKeyError) as caught:
            keyring.on_decrypt(materials, [variant()])
        seen.append(outcome(caught.value))
    assert seen[0] == seen[1] == seen[2]


# -- the raw RSA keyring, for comparison: the same property in Python ------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"0x{s.id:04x}")
def test_raw_rsa_pkcs1_tampered_data_keys_all_end_in_one_identical_error(
    suite: AlgorithmSuite, rsa_private_key: rsa.RSAPrivateKey
) -> None:
    keyring = RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key, padding=RsaPadding.PKCS1)
    ciphertexts = pkcs1_ciphertexts(rsa_private_key.public_key())
    errors = {tamper: decrypt_error(forged(ciphertexts[tamper], suite), keyring, suite) for tamper in TAMPERS}
    outcomes = {tamper: outcome(error) for tamper, error in errors.items()}
    assert outcomes["bad padding"] == outcomes["wrong length"] == outcomes["wrong key"]
    assert all(type(error) is AuthenticationError for error in errors.values())
    genuine = busta.Client(commitment_policy=policy_for(suite)).encrypt(b"fine", keyring=keyring, algorithm=suite)
    assert busta.Client(commitment_policy=policy_for(suite)).decrypt(genuine, keyring=keyring).plaintext == b"fine"


def test_raw_rsa_pkcs1_keyring_returns_a_deterministic_wrong_key_for_every_tampered_data_key(
    rsa_private_key: rsa.RSAPrivateKey,
) -> None:
    keyring = RawRsaKeyring(NAMESPACE, RSA_NAME, private_key=rsa_private_key, padding=RsaPadding.PKCS1)
    assert_deterministic_wrong_keys(keyring, rsa_private_key.public_key())


def test_the_pkcs1_opt_in_reaches_the_keyring_through_keyconfig(
    rsa_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_env = "BUSTA_TEST_ORACLE_PIN"
    monkeypatch.setenv(pin_env, rsa_token.pin.reveal().decode())
    where = (rsa_token.module, rsa_token.token_label, RSA_LABEL, NAMESPACE, RSA_NAME, "pkcs1", pin_env)
    with pytest.raises(UsageError, match="allow_pkcs1v15_unwrap"):
        Pkcs11Key(*where).build()
    keyring = build_keyring(Pkcs11Key(*where, allow_pkcs1v15_unwrap=True))
    assert busta.decrypt(busta.encrypt(b"old", keyring=keyring), keyring=keyring).plaintext == b"old"
