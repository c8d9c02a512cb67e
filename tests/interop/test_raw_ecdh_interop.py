"""busta's raw ECDH keyring against the official MPL's, beyond the vectors (whose contexts are all
empty): encryption contexts (which the key derivation binds), signed suites, the recipient's own
static keyring (the pair the other way round), and a keyring of the wrong pair."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import busta
from busta.errors import NoDecryptingKeyError
from busta.keyrings import MultiKeyring
from busta.keyrings.raw_ecdh import EcdhCurve, RawEcdhKeyring
from busta.suites import CommitmentPolicy

from ..support.oracle import official_available
from ..support.oracle_ecdh import EcdhKeySpec, official_ecdh_decrypt, official_ecdh_encrypt

pytestmark = pytest.mark.skipif(not official_available(), reason="the official SDK is not installed")

CONTEXT = {"tenant": "acme", "purpose": "interop", "ünïcode": "välue"}
SIGNED, UNSIGNED = 0x0578, 0x0478
CURVES = {EcdhCurve.P256: ec.SECP256R1(), EcdhCurve.P384: ec.SECP384R1(), EcdhCurve.P521: ec.SECP521R1()}
CLIENT = busta.Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)


@functools.cache
def pair(curve: EcdhCurve) -> tuple[bytes, bytes, bytes, bytes]:
    """(sender private PEM, sender public DER, recipient private PEM, recipient public DER)."""
    out: list[bytes] = []
    for _ in range(2):
        key = ec.generate_private_key(CURVES[curve])
        out.append(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        out.append(
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
    return out[0], out[1], out[2], out[3]


def specs(curve: EcdhCurve) -> dict[str, EcdhKeySpec]:
    sender_pem, sender_der, recipient_pem, recipient_der = pair(curve)
    return {
        "static": EcdhKeySpec("static", curve.value, sender_pem, recipient_der),
        "ephemeral": EcdhKeySpec("ephemeral", curve.value, public_der=recipient_der),
        "discovery": EcdhKeySpec("discovery", curve.value, private_pem=recipient_pem),
        "recipient-static": EcdhKeySpec("static", curve.value, recipient_pem, sender_der),
    }


def ours(spec: EcdhKeySpec) -> RawEcdhKeyring:
    curve = EcdhCurve(spec.curve)
    if spec.scheme == "static":
        return RawEcdhKeyring.static(curve, sender_private_key=spec.private_pem, recipient_public_key=spec.public_der)
    if spec.scheme == "ephemeral":
        return RawEcdhKeyring.ephemeral(curve, recipient_public_key=spec.public_der)
    return RawEcdhKeyring.discovery(curve, recipient_private_key=spec.private_pem)


WAYS = [("static", "static"), ("static", "recipient-static"), ("static", "discovery"), ("ephemeral", "discovery")]


@pytest.mark.parametrize("suite", [SIGNED, UNSIGNED], ids=["signed", "unsigned"])
@pytest.mark.parametrize(("writer", "reader"), WAYS, ids=[f"{w}-to-{r}" for w, r in WAYS])
@pytest.mark.parametrize("curve", list(EcdhCurve), ids=lambda c: c.name)
def test_messages_with_a_context_go_both_ways(curve: EcdhCurve, writer: str, reader: str, suite: int) -> None:
    keys = specs(curve)
    plaintext = f"{curve.name} {writer} {reader}".encode() * 100
    ours_wrote = CLIENT.encrypt(
        plaintext, keyring=ours(keys[writer]), algorithm=suite, encryption_context=CONTEXT, frame_length=256
    )
    assert official_ecdh_decrypt(ours_wrote, keys[reader], suite_id=suite) == plaintext
    theirs = official_ecdh_encrypt(
        plaintext, keys[writer], suite_id=suite, frame_length=256, encryption_context=CONTEXT
    )
    assert CLIENT.decrypt(theirs, keyring=ours(keys[reader]), encryption_context=CONTEXT).plaintext == plaintext


def test_the_senders_private_key_alone_reads_neither_implementations_message() -> None:
    """Discovery matches the recipient's public key: the sender's own key pair is not the recipient."""
    keys = specs(EcdhCurve.P256)
    sender_only = EcdhKeySpec("discovery", "p256", private_pem=pair(EcdhCurve.P256)[0])
    theirs = official_ecdh_encrypt(b"x", keys["static"], suite_id=UNSIGNED, frame_length=256)
    with pytest.raises(NoDecryptingKeyError):
        CLIENT.decrypt(theirs, keyring=ours(sender_only))
    ours_wrote = CLIENT.encrypt(b"x", keyring=ours(keys["static"]), algorithm=UNSIGNED)
    from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError  # type: ignore[import-untyped,unused-ignore]

    with pytest.raises(AWSEncryptionSDKClientError):  # the MPL words it "Could not decode input from Dafny Bytes."
        official_ecdh_decrypt(ours_wrote, sender_only, suite_id=UNSIGNED)


def test_the_official_sdk_finds_its_data_key_among_ecdh_keys_for_other_curves_and_recipients() -> None:
    p256, p521 = specs(EcdhCurve.P256), specs(EcdhCurve.P521)
    writers = [ours(p256["ephemeral"]), ours(p521["static"]), ours(p256["static"])]
    message = CLIENT.encrypt(
        b"many", keyring=MultiKeyring(generator=writers[0], children=writers[1:]), algorithm=SIGNED
    )
    assert len(CLIENT.decrypt(message, keyring=ours(p521["discovery"])).header.encrypted_data_keys) == 3
    for reader in (p521["discovery"], p521["recipient-static"], p256["discovery"], p256["static"]):
        assert official_ecdh_decrypt(message, reader, suite_id=SIGNED) == b"many"
