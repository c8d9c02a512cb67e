"""busta and the official aws-encryption-sdk read each other's messages.

Every algorithm suite, a range of frame lengths and the plaintext sizes around a
frame boundary, with and without an encryption context, in both directions; the
raw RSA keyring with every padding; multi-keyring messages; and messages the
official SDK wrote through its required-encryption-context CMM.  The official
side is driven through :mod:`tests.support.oracle`.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Mapping
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import busta
from busta import AlgorithmSuite, CommitmentPolicy, ContentType
from busta.errors import AuthenticationError, EncryptionContextError, NoDecryptingKeyError
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding

from ..support.oracle import (
    AesKeySpec,
    RsaKeySpec,
    official_decrypt,
    official_encrypt,
    official_encrypt_required_ec,
)

PUBLIC_KEY = "aws-crypto-public-key"

AES_KEY = AesKeySpec("interop-namespace", "interop-aes-256", bytes(range(0x40, 0x60)))
RSA_NAMESPACE = "interop-namespace"
RSA_NAME = "interop-rsa-2048"

BUSTA_FRAME_LENGTHS = (1, 128, 512, 4096, 65536)
# The official Python SDK writes only multiples of 128; 0 asks it for a NON-FRAMED message.
OFFICIAL_FRAME_LENGTHS = (0, 128, 512, 4096, 65536)
NON_FRAMED_SIZES = (0, 1, 4096, 3 * 4096)

CONTEXTS: dict[str, dict[str, str]] = {
    "no-ctx": {},
    # Mixed case, non-ASCII, a BMP character above the surrogates and an astral one:
    # both sides must sort the pairs by their UTF-8 bytes.
    "ctx": {
        "purpose": "interoperability",
        "Tenant": "Ünïcödé ✓",
        "\ufb01le": "ligature key",
        "\U0001f511": "astral key",
    },
}


def _aes_keyring() -> RawAesKeyring:
    return RawAesKeyring(AES_KEY.namespace, AES_KEY.name, AES_KEY.key)


def _plaintext(size: int, seed: str) -> bytes:
    """A deterministic plaintext: the same test always encrypts the same bytes."""
    return random.Random(seed).randbytes(size)


def _policies(suite: AlgorithmSuite) -> tuple[CommitmentPolicy, CommitmentPolicy]:
    """(encrypt policy, decrypt policy) that allow ``suite``."""
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT, CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT


def _sizes(frame_length: int) -> tuple[int, ...]:
    if frame_length == 0:
        return NON_FRAMED_SIZES
    f = frame_length
    return tuple(sorted({0, 1, f - 1, f, f + 1, 3 * f}))


def _assert_stored_context(stored: Mapping[str, str], given: Mapping[str, str], suite: AlgorithmSuite) -> None:
    """``stored`` is ``given`` plus, for signed suites only, a valid compressed public key."""
    assert {k: v for k, v in stored.items() if k != PUBLIC_KEY} == dict(given)
    if not suite.signed:
        assert PUBLIC_KEY not in stored
        return
    point = base64.b64decode(stored[PUBLIC_KEY], validate=True)
    curve: ec.EllipticCurve = ec.SECP256R1() if suite.curve == "secp256r1" else ec.SECP384R1()
    assert len(point) == 1 + (curve.key_size + 7) // 8
    assert point[0] in (0x02, 0x03)
    ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


# --------------------------------------------------------------------------- suites x frames x sizes


@dataclass(frozen=True)
class Case:
    suite: AlgorithmSuite
    frame_length: int
    size: int
    context_name: str

    @property
    def id(self) -> str:
        frame = "non-framed" if self.frame_length == 0 else f"frame{self.frame_length}"
        return f"{self.suite.name}-{frame}-size{self.size}-{self.context_name}"

    @property
    def context(self) -> dict[str, str]:
        return CONTEXTS[self.context_name]

    @property
    def plaintext(self) -> bytes:
        return _plaintext(self.size, self.id)


def _cases(frame_lengths: tuple[int, ...]) -> list[Case]:
    return [
        Case(suite, frame_length, size, context_name)
        for suite in AlgorithmSuite
        for frame_length in frame_lengths
        for size in _sizes(frame_length)
        for context_name in CONTEXTS
    ]


BUSTA_TO_OFFICIAL = _cases(BUSTA_FRAME_LENGTHS)
OFFICIAL_TO_BUSTA = _cases(OFFICIAL_FRAME_LENGTHS)


def test_every_suite_frame_length_and_size_is_covered() -> None:
    # 11 suites x 28 (frame length, size) pairs x 2 contexts, in each direction.
    assert len(BUSTA_TO_OFFICIAL) == len(OFFICIAL_TO_BUSTA) == 11 * 28 * 2
    assert len({c.id for c in BUSTA_TO_OFFICIAL}) == len(BUSTA_TO_OFFICIAL)
    assert len({c.id for c in OFFICIAL_TO_BUSTA}) == len(OFFICIAL_TO_BUSTA)


@pytest.mark.parametrize("case", BUSTA_TO_OFFICIAL, ids=lambda c: c.id)
def test_official_sdk_decrypts_busta_message(case: Case) -> None:
    encrypt_policy, decrypt_policy = _policies(case.suite)
    plaintext = case.plaintext
    message = busta.Client(commitment_policy=encrypt_policy).encrypt(
        plaintext,
        keyring=_aes_keyring(),
        encryption_context=case.context,
        algorithm=case.suite,
        frame_length=case.frame_length,
    )

    decrypted, stored = official_decrypt(message, keys=[AES_KEY], commitment_policy=decrypt_policy.name)

    assert decrypted == plaintext
    _assert_stored_context(stored, case.context, case.suite)
    # What busta says it stored is what the official SDK read.
    own = busta.Client(commitment_policy=decrypt_policy).decrypt(message, keyring=_aes_keyring())
    assert own.header.encryption_context == stored


@pytest.mark.parametrize("case", OFFICIAL_TO_BUSTA, ids=lambda c: c.id)
def test_busta_decrypts_official_message(case: Case) -> None:
    encrypt_policy, decrypt_policy = _policies(case.suite)
    plaintext = case.plaintext
    message = official_encrypt(
        plaintext,
        keys=[AES_KEY],
        suite_id=case.suite.id,
        frame_length=case.frame_length,
        encryption_context=case.context,
        commitment_policy=encrypt_policy.name,
    )
    _, official_stored = official_decrypt(message, keys=[AES_KEY], commitment_policy=decrypt_policy.name)

    result = busta.Client(commitment_policy=decrypt_policy).decrypt(message, keyring=_aes_keyring())

    assert result.plaintext == plaintext
    assert result.header.encryption_context == official_stored
    assert result.encryption_context == official_stored
    _assert_stored_context(result.header.encryption_context, case.context, case.suite)
    assert result.header.suite is case.suite
    if case.frame_length == 0:
        assert result.header.content_type is ContentType.NON_FRAMED
    else:
        assert result.header.content_type is ContentType.FRAMED
        assert result.header.frame_length == case.frame_length


# --------------------------------------------------------------------------- raw RSA keyring


RSA_SUITES = (
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
)
RSA_CONTEXT = {"purpose": "rsa interoperability"}
RSA_PLAINTEXT_SIZE = 100


@dataclass(frozen=True)
class RsaKeyPair:
    private_key: rsa.RSAPrivateKey
    pem: bytes

    def keyring(self, padding: RsaPadding) -> RawRsaKeyring:
        return RawRsaKeyring(RSA_NAMESPACE, RSA_NAME, private_key=self.private_key, padding=padding)

    def spec(self, padding: RsaPadding) -> RsaKeySpec:
        return RsaKeySpec(RSA_NAMESPACE, RSA_NAME, self.pem, padding.name)


@pytest.fixture(scope="module")
def rsa_key() -> RsaKeyPair:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return RsaKeyPair(private_key, pem)


rsa_parameters = pytest.mark.parametrize(
    ("suite", "padding"),
    [(suite, padding) for suite in RSA_SUITES for padding in RsaPadding],
    ids=lambda v: v.name,
)


@rsa_parameters
def test_official_sdk_decrypts_busta_rsa_message(
    rsa_key: RsaKeyPair, suite: AlgorithmSuite, padding: RsaPadding
) -> None:
    encrypt_policy, decrypt_policy = _policies(suite)
    plaintext = _plaintext(RSA_PLAINTEXT_SIZE, f"rsa-{suite.name}-{padding.name}")
    message = busta.Client(commitment_policy=encrypt_policy).encrypt(
        plaintext, keyring=rsa_key.keyring(padding), encryption_context=RSA_CONTEXT, algorithm=suite, frame_length=4096
    )

    decrypted, stored = official_decrypt(message, keys=[rsa_key.spec(padding)], commitment_policy=decrypt_policy.name)

    assert decrypted == plaintext
    _assert_stored_context(stored, RSA_CONTEXT, suite)


@rsa_parameters
def test_busta_decrypts_official_rsa_message(rsa_key: RsaKeyPair, suite: AlgorithmSuite, padding: RsaPadding) -> None:
    encrypt_policy, decrypt_policy = _policies(suite)
    plaintext = _plaintext(RSA_PLAINTEXT_SIZE, f"rsa-{suite.name}-{padding.name}")
    message = official_encrypt(
        plaintext,
        keys=[rsa_key.spec(padding)],
        suite_id=suite.id,
        frame_length=4096,
        encryption_context=RSA_CONTEXT,
        commitment_policy=encrypt_policy.name,
    )

    result = busta.Client(commitment_policy=decrypt_policy).decrypt(message, keyring=rsa_key.keyring(padding))

    assert result.plaintext == plaintext
    _assert_stored_context(result.header.encryption_context, RSA_CONTEXT, suite)
    [edk] = result.header.encrypted_data_keys
    assert (edk.provider_id, edk.provider_info) == (RSA_NAMESPACE, RSA_NAME.encode())


# --------------------------------------------------------------------------- multi-keyring

MULTI_PADDING = RsaPadding.OAEP_SHA256
MULTI_CONTEXT = {"purpose": "multi-keyring interoperability"}
MULTI_SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
SINGLE_KEYS = ("aes-only", "rsa-only")


def _single_key_spec(rsa_key: RsaKeyPair, which: str) -> AesKeySpec | RsaKeySpec:
    return AES_KEY if which == "aes-only" else rsa_key.spec(MULTI_PADDING)


def _single_keyring(rsa_key: RsaKeyPair, which: str) -> busta.Keyring:
    return _aes_keyring() if which == "aes-only" else rsa_key.keyring(MULTI_PADDING)


@pytest.mark.parametrize("which", SINGLE_KEYS)
def test_official_sdk_decrypts_busta_multi_keyring_message_with_one_key(rsa_key: RsaKeyPair, which: str) -> None:
    plaintext = _plaintext(1000, f"multi-busta-{which}")
    message = busta.encrypt(
        plaintext,
        keyring=MultiKeyring(generator=_aes_keyring(), children=[rsa_key.keyring(MULTI_PADDING)]),
        encryption_context=MULTI_CONTEXT,
        algorithm=MULTI_SUITE,
    )

    decrypted, stored = official_decrypt(message, keys=[_single_key_spec(rsa_key, which)])

    assert decrypted == plaintext
    _assert_stored_context(stored, MULTI_CONTEXT, MULTI_SUITE)


@pytest.mark.parametrize("which", SINGLE_KEYS)
def test_busta_decrypts_official_multi_keyring_message_with_one_keyring(rsa_key: RsaKeyPair, which: str) -> None:
    plaintext = _plaintext(1000, f"multi-official-{which}")
    message = official_encrypt(
        plaintext,
        keys=[AES_KEY, rsa_key.spec(MULTI_PADDING)],
        suite_id=MULTI_SUITE.id,
        frame_length=4096,
        encryption_context=MULTI_CONTEXT,
    )

    result = busta.decrypt(message, keyring=_single_keyring(rsa_key, which))

    assert result.plaintext == plaintext
    _assert_stored_context(result.header.encryption_context, MULTI_CONTEXT, MULTI_SUITE)
    # The official Python SDK keeps its data keys in a set, so their wire order varies.
    infos = sorted(edk.provider_info for edk in result.header.encrypted_data_keys)
    assert len(infos) == 2
    assert infos[0].startswith(AES_KEY.name.encode() + b"\x00\x00\x00\x80")  # key name, then tag bits
    assert infos[1] == RSA_NAME.encode()


# --------------------------------------------------------------------------- encryption context on decrypt

REQUIRED_EC_SUITES = (
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
)
FULL_CONTEXT = {"purpose": "required context", "tenant": "tenant-7", "region": "eu-west-1"}
REQUIRED_KEYS = ("tenant", "region")
STORED_CONTEXT = {k: v for k, v in FULL_CONTEXT.items() if k not in REQUIRED_KEYS}
REQUIRED_CONTEXT = {k: FULL_CONTEXT[k] for k in REQUIRED_KEYS}
REQUIRED_EC_PADDING = RsaPadding.OAEP_SHA1
suites_parameter = pytest.mark.parametrize("suite", REQUIRED_EC_SUITES, ids=lambda s: s.name)
# The raw AES keyring binds the whole context (stored and required pairs) to its data
# key; the raw RSA keyring binds none, so there only the header tag covers the required pairs.
wrapping_parameter = pytest.mark.parametrize("wrapping", ["aes", "rsa"])


@dataclass(frozen=True)
class Wrapping:
    spec: AesKeySpec | RsaKeySpec
    keyring: busta.Keyring


def _wrapping(rsa_key: RsaKeyPair, name: str) -> Wrapping:
    if name == "aes":
        return Wrapping(AES_KEY, _aes_keyring())
    return Wrapping(rsa_key.spec(REQUIRED_EC_PADDING), rsa_key.keyring(REQUIRED_EC_PADDING))


def _official_required_ec_message(suite: AlgorithmSuite, plaintext: bytes, wrapping: Wrapping) -> bytes:
    encrypt_policy, _ = _policies(suite)
    return official_encrypt_required_ec(
        plaintext,
        keys=[wrapping.spec],
        suite_id=suite.id,
        frame_length=4096,
        encryption_context=FULL_CONTEXT,
        required_keys=REQUIRED_KEYS,
        commitment_policy=encrypt_policy.name,
    )


@suites_parameter
@wrapping_parameter
@pytest.mark.parametrize("given", [FULL_CONTEXT, REQUIRED_CONTEXT], ids=["full-context", "required-pairs-only"])
def test_busta_decrypts_official_required_context_message_given_the_required_pairs(
    rsa_key: RsaKeyPair, suite: AlgorithmSuite, wrapping: str, given: dict[str, str]
) -> None:
    keys = _wrapping(rsa_key, wrapping)
    plaintext = _plaintext(5000, f"required-ec-{suite.name}")
    message = _official_required_ec_message(suite, plaintext, keys)

    result = busta.Client(commitment_policy=_policies(suite)[1]).decrypt(
        message, keyring=keys.keyring, encryption_context=given
    )

    assert result.plaintext == plaintext
    _assert_stored_context(result.header.encryption_context, STORED_CONTEXT, suite)
    assert result.encryption_context == {**result.header.encryption_context, **REQUIRED_CONTEXT}


MISSING_OR_WRONG_REQUIRED = {
    "no-context": None,
    "stored-pairs-only": STORED_CONTEXT,
    "one-required-pair-missing": {**STORED_CONTEXT, "tenant": "tenant-7"},
    "required-value-wrong": {**FULL_CONTEXT, "tenant": "tenant-8"},
    "required-key-renamed": {**STORED_CONTEXT, "tenant": "tenant-7", "Region": "eu-west-1"},
}


@suites_parameter
@wrapping_parameter
@pytest.mark.parametrize("given", MISSING_OR_WRONG_REQUIRED.values(), ids=MISSING_OR_WRONG_REQUIRED.keys())
def test_busta_refuses_official_required_context_message_without_the_right_required_pairs(
    rsa_key: RsaKeyPair, suite: AlgorithmSuite, wrapping: str, given: dict[str, str] | None
) -> None:
    keys = _wrapping(rsa_key, wrapping)
    message = _official_required_ec_message(suite, _plaintext(5000, f"required-ec-{suite.name}"), keys)
    # AES: the data key does not unwrap under the wrong context.  RSA: the header tag fails.
    expected = NoDecryptingKeyError if wrapping == "aes" else AuthenticationError

    with pytest.raises(expected):
        busta.Client(commitment_policy=_policies(suite)[1]).decrypt(
            message, keyring=keys.keyring, encryption_context=given
        )


@suites_parameter
@pytest.mark.parametrize("required_ec", [False, True], ids=["default-cmm", "required-ec-cmm"])
def test_busta_refuses_official_message_when_an_expected_pair_contradicts_a_stored_pair(
    suite: AlgorithmSuite, required_ec: bool
) -> None:
    plaintext = _plaintext(5000, f"contradicting-ec-{suite.name}")
    encrypt_policy, decrypt_policy = _policies(suite)
    if required_ec:
        message = _official_required_ec_message(suite, plaintext, Wrapping(AES_KEY, _aes_keyring()))
        given = {**FULL_CONTEXT, "purpose": "something else"}
    else:
        message = official_encrypt(
            plaintext,
            keys=[AES_KEY],
            suite_id=suite.id,
            frame_length=4096,
            encryption_context=FULL_CONTEXT,
            commitment_policy=encrypt_policy.name,
        )
        given = {**FULL_CONTEXT, "tenant": "tenant-8"}

    with pytest.raises(EncryptionContextError):
        busta.Client(commitment_policy=decrypt_policy).decrypt(
            message, keyring=_aes_keyring(), encryption_context=given
        )


# Every test here runs against the serial and the parallel engine.
pytestmark = pytest.mark.usefixtures("engine_mode")
