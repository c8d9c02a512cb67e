"""The official MPL's raw ECDH keyring (MPL 1.11.3) as an oracle, beside :mod:`.oracle`.

Keys are given as the specification has them: private keys PEM PKCS #8, public keys DER
SubjectPublicKeyInfo. Keyrings and their default CMM are built once per key set and reused;
the official client is :mod:`.oracle`'s (one per commitment policy).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .oracle import _algorithm, _client, _mpl

__all__ = ["EcdhKeySpec", "official_ecdh_decrypt", "official_ecdh_encrypt", "policy_for"]

#: busta's curve values -> the MPL's ECDHCurveSpec names
_CURVES = {"p256": "ECC_NIST_P256", "p384": "ECC_NIST_P384", "p521": "ECC_NIST_P521"}


@dataclass(frozen=True)
class EcdhKeySpec:
    """One official raw ECDH keyring: ``scheme`` static / ephemeral / discovery, ``curve`` p256/p384/p521.

    static: ``private_pem`` (sender) and ``public_der`` (recipient); ephemeral: ``public_der``;
    discovery: ``private_pem`` (recipient).
    """

    scheme: str
    curve: str
    private_pem: bytes = b""
    public_der: bytes = b""


def policy_for(suite_id: int) -> str:
    """A commitment policy under which the official SDK both writes and reads ``suite_id``."""
    return "REQUIRE_ENCRYPT_ALLOW_DECRYPT" if suite_id in (0x0478, 0x0578) else "FORBID_ENCRYPT_ALLOW_DECRYPT"


def _configuration(key: EcdhKeySpec) -> Any:
    from aws_cryptographic_material_providers.mpl import models  # type: ignore[import-untyped,unused-ignore]

    if key.scheme == "static":
        return models.RawEcdhStaticConfigurationsRawPrivateKeyToStaticPublicKey(
            models.RawPrivateKeyToStaticPublicKeyInput(
                sender_static_private_key=key.private_pem, recipient_public_key=key.public_der
            )
        )
    if key.scheme == "ephemeral":
        return models.RawEcdhStaticConfigurationsEphemeralPrivateKeyToStaticPublicKey(
            models.EphemeralPrivateKeyToStaticPublicKeyInput(recipient_public_key=key.public_der)
        )
    if key.scheme == "discovery":
        return models.RawEcdhStaticConfigurationsPublicKeyDiscovery(
            models.PublicKeyDiscoveryInput(recipient_static_private_key=key.private_pem)
        )
    raise ValueError(f"unknown ECDH scheme {key.scheme!r}")


@functools.cache
def official_ecdh_keyring(key: EcdhKeySpec) -> Any:
    """The official raw ECDH keyring ``key`` describes (raises what the MPL raises for bad keys)."""
    from aws_cryptographic_material_providers.mpl import models

    return _mpl().create_raw_ecdh_keyring(
        models.CreateRawEcdhKeyringInput(key_agreement_scheme=_configuration(key), curve_spec=_CURVES[key.curve])
    )


@functools.cache
def _cmm(key: EcdhKeySpec) -> Any:
    from aws_cryptographic_material_providers.mpl import models

    return _mpl().create_default_cryptographic_materials_manager(
        models.CreateDefaultCryptographicMaterialsManagerInput(keyring=official_ecdh_keyring(key))
    )


def official_ecdh_encrypt(
    plaintext: bytes,
    key: EcdhKeySpec,
    *,
    suite_id: int,
    frame_length: int,
    encryption_context: Mapping[str, str] | None = None,
) -> bytes:
    """A message the official SDK writes with the raw ECDH keyring ``key``."""
    ciphertext, _header = _client(policy_for(suite_id)).encrypt(
        source=bytes(plaintext),
        materials_manager=_cmm(key),
        algorithm=_algorithm(suite_id),
        frame_length=frame_length,
        encryption_context=dict(encryption_context or {}),
    )
    return bytes(ciphertext)


def official_ecdh_decrypt(ciphertext: bytes, key: EcdhKeySpec, *, suite_id: int) -> bytes:
    """The plaintext of ``ciphertext`` as the official SDK reads it with the raw ECDH keyring ``key``."""
    plaintext, _header = _client(policy_for(suite_id)).decrypt(source=bytes(ciphertext), materials_manager=_cmm(key))
    return bytes(plaintext)
