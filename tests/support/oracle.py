"""Interoperability oracle: the OFFICIAL aws-encryption-sdk (Python, with the MPL).

Tests use this module to produce and consume messages with the reference
implementation, so that ``busta`` can be checked byte-for-byte against it.

The official SDK and the MPL are imported lazily inside functions, so importing
this module never fails and never pays the (slow) MPL import cost; use
:func:`official_available` to skip tests when the SDK is not installed.

Notes on the official SDK's behaviour (aws-encryption-sdk 4.0.7, MPL 1.11.3):

* ``frame_length=0`` requests a NON-FRAMED message (content type 0x01).  Non-zero
  frame lengths must be a multiple of 128 on encrypt (the SDK checks
  ``frame_length % AES.block_size`` where ``block_size`` is 128 *bits*).  Per
  ESDK-FACTS any frame length is accepted on decrypt (not re-checked here).
* Under ``REQUIRE_ENCRYPT_REQUIRE_DECRYPT`` the SDK refuses to encrypt with, and
  to decrypt, non-committing suites (all v1 messages).  Use
  ``FORBID_ENCRYPT_ALLOW_DECRYPT`` to encrypt with the 0x00xx-0x03xx suites.
* The MPL raw RSA keyring supports every padding this module offers
  (PKCS1 and OAEP with SHA-1/256/384/512 and MGF1 on the same hash), so the
  legacy ``RawMasterKeyProvider`` fallback is not needed.  It wants a PEM
  SubjectPublicKeyInfo public key and a PEM PKCS#8 private key; we derive /
  normalise both from ``RsaKeySpec.private_pem`` with ``cryptography``.
  The MPL re-parses (and re-validates) the private PEM on every RSA decrypt,
  ~35 ms per call for RSA-2048; that cost cannot be cached from here.
* ``official_decrypt`` returns the encryption context from the parsed header,
  i.e. the pairs STORED in the message, including ``aws-crypto-public-key`` for
  signed suites.  Required-encryption-context pairs (which are not stored) are
  not part of it.
* ``official_decrypt(..., encryption_context=...)`` also decrypts messages written
  with the required-encryption-context CMM: the MPL default CMM treats the
  reproduced pairs that the header does not hold as the required pairs.
  Reproduced pairs that contradict stored pairs are refused.
* When decryption fails inside ``client.decrypt`` the SDK logs an
  "Error on closing" traceback (``SerializationError: Footer not read``) through
  the ``aws_encryption_sdk`` logger before re-raising the real error; that log
  noise is harmless.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMITTING_SUITE_IDS",
    "RSA_PADDINGS",
    "SUITE_IDS",
    "AesKeySpec",
    "KeySpec",
    "RsaKeySpec",
    "official_available",
    "official_decrypt",
    "official_decrypt_required_ec",
    "official_encrypt",
    "official_encrypt_required_ec",
]


@dataclass(frozen=True)
class AesKeySpec:
    """A raw AES wrapping key (16, 24 or 32 bytes)."""

    namespace: str
    name: str
    key: bytes


@dataclass(frozen=True)
class RsaKeySpec:
    """A raw RSA wrapping key pair, given by its private key in PEM.

    ``padding`` is one of :data:`RSA_PADDINGS`.
    """

    namespace: str
    name: str
    private_pem: bytes
    padding: str


KeySpec = AesKeySpec | RsaKeySpec

SUITE_IDS: tuple[int, ...] = (
    0x0014,
    0x0046,
    0x0078,
    0x0114,
    0x0146,
    0x0178,
    0x0214,
    0x0346,
    0x0378,
    0x0478,
    0x0578,
)
COMMITTING_SUITE_IDS: frozenset[int] = frozenset({0x0478, 0x0578})

# Our padding names -> MPL ``PaddingScheme`` member names (which are plain strings).
_RSA_PADDING_TO_MPL: dict[str, str] = {
    "PKCS1": "PKCS1",
    "OAEP_SHA1": "OAEP_SHA1_MGF1",
    "OAEP_SHA256": "OAEP_SHA256_MGF1",
    "OAEP_SHA384": "OAEP_SHA384_MGF1",
    "OAEP_SHA512": "OAEP_SHA512_MGF1",
}
RSA_PADDINGS: frozenset[str] = frozenset(_RSA_PADDING_TO_MPL)

_COMMITMENT_POLICIES: frozenset[str] = frozenset(
    {
        "FORBID_ENCRYPT_ALLOW_DECRYPT",
        "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
        "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
    }
)
_DEFAULT_POLICY = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"


# --------------------------------------------------------------------------- availability


@functools.cache
def official_available() -> bool:
    """True when the official SDK and the MPL can be imported."""
    try:
        import aws_cryptographic_material_providers.mpl  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
        import aws_encryption_sdk  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


# --------------------------------------------------------------------------- cached objects


@functools.cache
def _mpl() -> Any:
    from aws_cryptographic_material_providers.mpl import (  # type: ignore[import-untyped,unused-ignore]
        AwsCryptographicMaterialProviders,
    )
    from aws_cryptographic_material_providers.mpl.config import (  # type: ignore[import-untyped,unused-ignore]
        MaterialProvidersConfig,
    )

    return AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


@functools.cache
def _client(commitment_policy: str) -> Any:
    import aws_encryption_sdk  # type: ignore[import-untyped,unused-ignore]

    if commitment_policy not in _COMMITMENT_POLICIES:
        raise ValueError(f"unknown commitment policy {commitment_policy!r}")
    policy = getattr(aws_encryption_sdk.CommitmentPolicy, commitment_policy)
    return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=policy)


def _algorithm(suite_id: int) -> Any:
    from aws_encryption_sdk.identifiers import Algorithm  # type: ignore[import-untyped,unused-ignore]

    if suite_id not in SUITE_IDS:
        raise ValueError(f"unknown suite id 0x{suite_id:04x}")
    return Algorithm.get_by_id(suite_id)


@functools.cache
def _rsa_pems(private_pem: bytes) -> tuple[bytes, bytes]:
    """(public SubjectPublicKeyInfo PEM, private PKCS#8 PEM) for an RSA private key PEM."""
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = private.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    pkcs8_pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return public_pem, pkcs8_pem


@functools.cache
def _single_keyring(key: KeySpec) -> Any:
    from aws_cryptographic_material_providers.mpl.models import (  # type: ignore[import-untyped,unused-ignore]
        AesWrappingAlg,
        CreateRawAesKeyringInput,
        CreateRawRsaKeyringInput,
    )

    if isinstance(key, AesKeySpec):
        algs = {
            16: AesWrappingAlg.ALG_AES128_GCM_IV12_TAG16,
            24: AesWrappingAlg.ALG_AES192_GCM_IV12_TAG16,
            32: AesWrappingAlg.ALG_AES256_GCM_IV12_TAG16,
        }
        if len(key.key) not in algs:
            raise ValueError(f"raw AES wrapping key must be 16/24/32 bytes, got {len(key.key)}")
        return _mpl().create_raw_aes_keyring(
            CreateRawAesKeyringInput(
                key_namespace=key.namespace,
                key_name=key.name,
                wrapping_key=key.key,
                wrapping_alg=algs[len(key.key)],
            )
        )
    if isinstance(key, RsaKeySpec):
        if key.padding not in _RSA_PADDING_TO_MPL:
            raise ValueError(f"unknown RSA padding {key.padding!r}; expected one of {sorted(RSA_PADDINGS)}")
        public_pem, pkcs8_pem = _rsa_pems(key.private_pem)
        return _mpl().create_raw_rsa_keyring(
            CreateRawRsaKeyringInput(
                key_namespace=key.namespace,
                key_name=key.name,
                padding_scheme=_RSA_PADDING_TO_MPL[key.padding],
                public_key=public_pem,
                private_key=pkcs8_pem,
            )
        )
    raise TypeError(f"not a key spec: {key!r}")


@functools.cache
def _keyring(keys: tuple[KeySpec, ...]) -> Any:
    """One keyring for ``keys``; a multi-keyring (first key = generator) for several."""
    if not keys:
        raise ValueError("at least one key spec is required")
    if len(keys) == 1:
        return _single_keyring(keys[0])
    from aws_cryptographic_material_providers.mpl.models import (  # type: ignore[import-untyped,unused-ignore]
        CreateMultiKeyringInput,
    )

    return _mpl().create_multi_keyring(
        CreateMultiKeyringInput(
            generator=_single_keyring(keys[0]),
            child_keyrings=[_single_keyring(k) for k in keys[1:]],
        )
    )


@functools.cache
def _default_cmm(keys: tuple[KeySpec, ...]) -> Any:
    # Building the CMM once ourselves avoids the SDK constructing a new MPL client
    # and default CMM on every call, which it does when given ``keyring=``.
    from aws_cryptographic_material_providers.mpl.models import (  # type: ignore[import-untyped,unused-ignore]
        CreateDefaultCryptographicMaterialsManagerInput,
    )

    return _mpl().create_default_cryptographic_materials_manager(
        CreateDefaultCryptographicMaterialsManagerInput(keyring=_keyring(keys))
    )


@functools.cache
def _required_ec_cmm(keys: tuple[KeySpec, ...], required_keys: tuple[str, ...]) -> Any:
    from aws_cryptographic_material_providers.mpl.models import (  # type: ignore[import-untyped,unused-ignore]
        CreateRequiredEncryptionContextCMMInput,
    )

    return _mpl().create_required_encryption_context_cmm(
        CreateRequiredEncryptionContextCMMInput(
            underlying_cmm=_default_cmm(keys),
            required_encryption_context_keys=list(required_keys),
        )
    )


# --------------------------------------------------------------------------- encrypt / decrypt


def _encrypt(
    plaintext: bytes,
    cmm: Any,
    suite_id: int,
    frame_length: int,
    encryption_context: Mapping[str, str] | None,
    commitment_policy: str,
) -> bytes:
    ciphertext, _header = _client(commitment_policy).encrypt(
        source=bytes(plaintext),
        materials_manager=cmm,
        algorithm=_algorithm(suite_id),
        frame_length=frame_length,  # 0 => non-framed message
        encryption_context=dict(encryption_context or {}),
    )
    return bytes(ciphertext)


def _decrypt(
    ciphertext: bytes,
    cmm: Any,
    encryption_context: Mapping[str, str] | None,
    commitment_policy: str,
) -> tuple[bytes, dict[str, str]]:
    kwargs: dict[str, Any] = {"source": bytes(ciphertext), "materials_manager": cmm}
    if encryption_context is not None:
        # With an MPL CMM this is the "reproduced encryption context": the SDK checks
        # it against the stored pairs and supplies the required (unstored) pairs.
        kwargs["encryption_context"] = dict(encryption_context)
    plaintext, header = _client(commitment_policy).decrypt(**kwargs)
    return bytes(plaintext), dict(header.encryption_context)


def official_encrypt(
    plaintext: bytes,
    *,
    keys: Sequence[KeySpec],
    suite_id: int,
    frame_length: int,
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: str = _DEFAULT_POLICY,
) -> bytes:
    """Encrypt with the official SDK.  ``frame_length=0`` gives a non-framed message."""
    return _encrypt(
        plaintext,
        _default_cmm(tuple(keys)),
        suite_id,
        frame_length,
        encryption_context,
        commitment_policy,
    )


def official_decrypt(
    ciphertext: bytes,
    *,
    keys: Sequence[KeySpec],
    encryption_context: Mapping[str, str] | None = None,
    commitment_policy: str = _DEFAULT_POLICY,
) -> tuple[bytes, dict[str, str]]:
    """Decrypt with the official SDK.

    Returns the plaintext and the encryption context stored in the message header
    (including ``aws-crypto-public-key`` for signed suites).
    """
    return _decrypt(ciphertext, _default_cmm(tuple(keys)), encryption_context, commitment_policy)


def official_encrypt_required_ec(
    plaintext: bytes,
    *,
    keys: Sequence[KeySpec],
    suite_id: int,
    frame_length: int,
    encryption_context: Mapping[str, str],
    required_keys: Sequence[str],
    commitment_policy: str = _DEFAULT_POLICY,
) -> bytes:
    """Encrypt through the MPL required-encryption-context CMM.

    The pairs named by ``required_keys`` (each must be in ``encryption_context``)
    are authenticated but not stored in the message.
    """
    cmm = _required_ec_cmm(tuple(keys), tuple(required_keys))
    return _encrypt(plaintext, cmm, suite_id, frame_length, encryption_context, commitment_policy)


def official_decrypt_required_ec(
    ciphertext: bytes,
    *,
    keys: Sequence[KeySpec],
    encryption_context: Mapping[str, str],
    required_keys: Sequence[str],
    commitment_policy: str = _DEFAULT_POLICY,
) -> tuple[bytes, dict[str, str]]:
    """Decrypt a message whose ``required_keys`` pairs were not stored.

    ``encryption_context`` must supply the required pairs (it may also repeat
    stored pairs, which must then match).  Returns the plaintext and the
    encryption context stored in the header (without the required pairs).
    """
    cmm = _required_ec_cmm(tuple(keys), tuple(required_keys))
    return _decrypt(ciphertext, cmm, encryption_context, commitment_policy)
