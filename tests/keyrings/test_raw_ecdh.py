"""The raw ECDH keyring: its schemes and curves, its wire layout, and every bad input it refuses."""

from __future__ import annotations

import dataclasses
import pickle
import struct
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from busta.errors import BustaError, KeyringError, NoDecryptingKeyError, UsageError
from busta.keyrings import MultiKeyring, RawAesKeyring
from busta.keyrings._ecdh_wire import fixed_info
from busta.keyrings.raw_ecdh import EcdhCurve, EcdhScheme, RawEcdhKeyring

SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
CONTEXT = {"purpose": "test", "tenant": "a"}
CURVES = {EcdhCurve.P256: ec.SECP256R1(), EcdhCurve.P384: ec.SECP384R1(), EcdhCurve.P521: ec.SECP521R1()}
Pairs = dict[EcdhCurve, tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]]
Rings = tuple[dict[str, RawEcdhKeyring], EncryptedDataKey]
Change = Callable[[bytes], bytes]
INFO_BYTES = {EcdhCurve.P256: 75, EcdhCurve.P384: 107, EcdhCurve.P521: 143}


@pytest.fixture(scope="module")
def pairs() -> Pairs:
    """A sender's and a recipient's key pair on each curve."""
    return {curve: (ec.generate_private_key(c), ec.generate_private_key(c)) for curve, c in CURVES.items()}


def der(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def keyrings(
    curve: EcdhCurve, sender: ec.EllipticCurvePrivateKey, recipient: ec.EllipticCurvePrivateKey
) -> dict[str, RawEcdhKeyring]:
    return {
        "static": RawEcdhKeyring.static(curve, sender_private_key=sender, recipient_public_key=recipient.public_key()),
        "ephemeral": RawEcdhKeyring.ephemeral(curve, recipient_public_key=recipient.public_key()),
        "discovery": RawEcdhKeyring.discovery(curve, recipient_private_key=recipient),
        "recipient-static": RawEcdhKeyring.static(
            curve, sender_private_key=recipient, recipient_public_key=sender.public_key()
        ),
    }


def wrapped(keyring: RawEcdhKeyring, context: dict[str, str] = CONTEXT) -> EncryptedDataKey:
    materials = keyring.on_encrypt(EncryptionMaterials(suite=SUITE, encryption_context=context))
    (edk,) = materials.encrypted_data_keys
    return edk


def unwrap(keyring: RawEcdhKeyring, edk: EncryptedDataKey, context: dict[str, str] = CONTEXT) -> DecryptionMaterials:
    return keyring.on_decrypt(DecryptionMaterials(suite=SUITE, encryption_context=context), [edk])


# -- the schemes, on each curve ---------------------------------------------------------------------


@pytest.mark.parametrize("curve", list(EcdhCurve), ids=lambda c: c.name)
@pytest.mark.parametrize("writer", ["static", "ephemeral"])
@pytest.mark.parametrize("reader", ["static", "discovery", "recipient-static"])
def test_each_encrypting_scheme_is_read_by_each_decrypting_scheme(
    curve: EcdhCurve, writer: str, reader: str, pairs: Pairs
) -> None:
    rings = keyrings(curve, *pairs[curve])
    message = busta.encrypt(b"shared secret", keyring=rings[writer], encryption_context=CONTEXT)
    if writer == "ephemeral" and reader != "discovery":
        with pytest.raises(NoDecryptingKeyError):  # a fresh sender key: only the recipient's private key reads it
            busta.decrypt(message, keyring=rings[reader])
        return
    assert busta.decrypt(message, keyring=rings[reader]).plaintext == b"shared secret"


def test_keys_may_be_given_as_der_public_and_pem_private_bytes(pairs: Pairs) -> None:
    sender, recipient = pairs[EcdhCurve.P256]
    writer = RawEcdhKeyring.static(
        EcdhCurve.P256, sender_private_key=pem(sender), recipient_public_key=der(recipient.public_key())
    )
    reader = RawEcdhKeyring.discovery(EcdhCurve.P256, recipient_private_key=pem(recipient))
    assert busta.decrypt(busta.encrypt(b"x", keyring=writer), keyring=reader).plaintext == b"x"


def test_the_ephemeral_scheme_uses_a_new_sender_key_for_every_data_key(pairs: Pairs) -> None:
    ring = keyrings(EcdhCurve.P384, *pairs[EcdhCurve.P384])["ephemeral"]
    assert wrapped(ring).provider_info != wrapped(ring).provider_info


def test_a_discovery_keyring_cannot_encrypt_and_an_ephemeral_one_cannot_decrypt(pairs: Pairs) -> None:
    rings = keyrings(EcdhCurve.P256, *pairs[EcdhCurve.P256])
    with pytest.raises(KeyringError, match="only decrypts"):
        wrapped(rings["discovery"])
    with pytest.raises(KeyringError, match="only encrypts"):
        unwrap(rings["ephemeral"], wrapped(rings["static"]))


# -- the wire layout --------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", list(EcdhCurve), ids=lambda c: c.name)
def test_the_data_key_names_both_compressed_public_keys_recipient_first(curve: EcdhCurve, pairs: Pairs) -> None:
    sender, recipient = pairs[curve]
    edk = wrapped(keyrings(curve, sender, recipient)["static"])
    point = curve.point_bytes
    compressed = serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    assert edk.provider_id == "raw-ecdh"
    assert len(edk.provider_info) == INFO_BYTES[curve]
    assert edk.provider_info == (
        b"\x01"
        + struct.pack(">I", point)
        + recipient.public_key().public_bytes(*compressed)
        + struct.pack(">I", point)
        + sender.public_key().public_bytes(*compressed)
    )
    assert len(edk.ciphertext) == 32 + 32 + SUITE.key_bytes + 16  # salt, commitment key, wrapped key, tag


def test_the_fixed_information_is_the_specified_byte_string() -> None:
    assert fixed_info("p384", b"S", b"R", b"EC") == b"ecdh-key-derivation\0p384\0HMAC_SHA384\0SR\0\x01\0EC"


def test_a_data_key_from_the_aws_kms_ecdh_keyring_is_read_too(pairs: Pairs) -> None:
    rings = keyrings(EcdhCurve.P256, *pairs[EcdhCurve.P256])
    edk = dataclasses.replace(wrapped(rings["static"]), provider_id="aws-kms-ecdh")
    assert unwrap(rings["discovery"], edk).data_key is not None


# -- bad keys at construction -----------------------------------------------------------------------


def test_a_key_on_another_curve_is_refused_at_construction(pairs: Pairs) -> None:
    p384 = pairs[EcdhCurve.P384][1]
    with pytest.raises(UsageError, match="on curve P384, not P256"):
        RawEcdhKeyring.ephemeral(EcdhCurve.P256, recipient_public_key=p384.public_key())
    with pytest.raises(UsageError, match="not P256"):
        RawEcdhKeyring.static(
            EcdhCurve.P256, sender_private_key=p384, recipient_public_key=pairs[EcdhCurve.P256][1].public_key()
        )
    with pytest.raises(UsageError, match="secp256k1"):
        RawEcdhKeyring.discovery(EcdhCurve.P256, recipient_private_key=ec.generate_private_key(ec.SECP256K1()))


def test_a_key_of_the_wrong_type_is_refused_at_construction() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UsageError, match="elliptic-curve public key, not"):
        RawEcdhKeyring.ephemeral(EcdhCurve.P256, recipient_public_key=rsa_key.public_key())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="elliptic-curve public key"):
        RawEcdhKeyring.ephemeral(EcdhCurve.P256, recipient_public_key=der(rsa_key.public_key()))
    with pytest.raises(UsageError, match="elliptic-curve private key"):
        RawEcdhKeyring.discovery(EcdhCurve.P256, recipient_private_key=rsa_key)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not a usable"):
        RawEcdhKeyring.discovery(EcdhCurve.P256, recipient_private_key=b"-----BEGIN PRIVATE KEY-----\nAAAA\n")


def test_a_public_key_whose_point_is_not_on_the_curve_is_refused_at_construction(pairs: Pairs) -> None:
    good = der(pairs[EcdhCurve.P256][1].public_key())
    off_curve = good[:-1] + bytes([good[-1] ^ 1])  # y changed: the point leaves the curve
    with pytest.raises(UsageError, match="not a usable DER or PEM public key"):
        RawEcdhKeyring.ephemeral(EcdhCurve.P256, recipient_public_key=off_curve)


def test_the_scheme_decides_which_keys_are_needed(pairs: Pairs) -> None:
    sender, recipient = pairs[EcdhCurve.P256]
    with pytest.raises(UsageError, match="static ECDH scheme takes recipient_public_key and sender_private_key"):
        RawEcdhKeyring(EcdhScheme.STATIC, EcdhCurve.P256, recipient_public_key=recipient.public_key())
    with pytest.raises(UsageError, match="discovery ECDH scheme"):
        RawEcdhKeyring(EcdhScheme.DISCOVERY, EcdhCurve.P256, recipient_private_key=recipient, sender_private_key=sender)
    with pytest.raises(UsageError, match="curve must be an EcdhCurve"):
        RawEcdhKeyring.discovery("p256", recipient_private_key=recipient)  # type: ignore[arg-type]


# -- hostile data keys at decrypt -------------------------------------------------------------------


def refused(keyring: RawEcdhKeyring, edk: EncryptedDataKey, context: dict[str, str] = CONTEXT) -> str:
    """The reason ``keyring`` gives for not unwrapping ``edk`` (the error is in the BustaError tree)."""
    with pytest.raises(NoDecryptingKeyError) as caught:
        unwrap(keyring, edk, context)
    assert isinstance(caught.value, BustaError)
    return str(caught.value) + " " + " ".join(caught.value.reasons)


@pytest.fixture
def p256(pairs: Pairs) -> Rings:
    rings = keyrings(EcdhCurve.P256, *pairs[EcdhCurve.P256])
    return rings, wrapped(rings["static"])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda info: info[:-1], "provider info is 74 bytes"),
        (lambda info: info + b"\0", "provider info is 76 bytes"),
        (lambda info: b"\x02" + info[1:], "version 2"),
        (lambda info: info[:1] + struct.pack(">I", 32) + info[5:], "recipient's public key length 32"),
        (lambda info: info[:38] + struct.pack(">I", 34) + info[42:], "sender's public key length 34"),
    ],
    ids=["short", "trailing-byte", "version", "recipient-length", "sender-length"],
)
def test_malformed_provider_info_is_refused_with_its_reason(change: Change, reason: str, p256: Rings) -> None:
    rings, edk = p256
    for reader in ("static", "discovery"):
        assert reason in refused(rings[reader], dataclasses.replace(edk, provider_info=change(edk.provider_info)))


def test_a_sender_point_that_is_not_on_the_curve_is_refused_at_decrypt(p256: Rings) -> None:
    rings, edk = p256
    info = edk.provider_info
    for x in range(256):  # an x with no point on the curve (about half of them have none)
        bad = info[:42] + b"\x02" + bytes([x]) * 32
        reason = refused(rings["discovery"], dataclasses.replace(edk, provider_info=bad))
        if "not a point on P256" in reason:
            return
    pytest.fail("no x coordinate off the curve was found")


def test_a_sender_point_that_is_not_compressed_is_refused_at_decrypt(p256: Rings) -> None:
    rings, edk = p256
    bad = edk.provider_info[:42] + b"\x04" + edk.provider_info[43:]
    assert "not a compressed P256 point" in refused(rings["discovery"], dataclasses.replace(edk, provider_info=bad))


def test_a_data_key_of_another_curve_is_not_this_keyrings(pairs: Pairs, p256: Rings) -> None:
    rings, _ = p256
    other = wrapped(keyrings(EcdhCurve.P384, *pairs[EcdhCurve.P384])["static"])
    assert "no encrypted data key for this keyring" in refused(rings["discovery"], other)


def test_a_data_key_for_another_recipient_is_not_this_keyrings(pairs: Pairs, p256: Rings) -> None:
    edk = p256[1]
    stranger = RawEcdhKeyring.discovery(EcdhCurve.P256, recipient_private_key=ec.generate_private_key(ec.SECP256R1()))
    assert "no encrypted data key for this keyring" in refused(stranger, edk)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda ct: ct[:-1], "encrypted data key is 111 bytes, not 112"),
        (lambda ct: ct[:40] + bytes([ct[40] ^ 1]) + ct[41:], "commitment key does not match"),
        (lambda ct: ct[:70] + bytes([ct[70] ^ 1]) + ct[71:], "did not authenticate"),
        (lambda ct: bytes([ct[0] ^ 1]) + ct[1:], "commitment key does not match"),
    ],
    ids=["short", "commitment", "wrapped-key", "salt"],
)
def test_a_tampered_ciphertext_is_refused_with_its_reason(change: Change, reason: str, p256: Rings) -> None:
    rings, edk = p256
    assert reason in refused(rings["discovery"], dataclasses.replace(edk, ciphertext=change(edk.ciphertext)))


def test_another_encryption_context_fails_the_commitment(p256: Rings) -> None:
    rings, edk = p256
    assert "commitment key does not match" in refused(rings["static"], edk, {"purpose": "other"})


# -- secrets ----------------------------------------------------------------------------------------


def test_the_keyring_shows_no_key_and_refuses_pickling(pairs: Pairs) -> None:
    sender, recipient = pairs[EcdhCurve.P256]
    ring = keyrings(EcdhCurve.P256, sender, recipient)["static"]
    secret = sender.private_numbers().private_value.to_bytes(32, "big").hex()
    assert secret not in repr(ring) and "static" in repr(ring)
    with pytest.raises(UsageError, match="cannot be pickled"):
        pickle.dumps(ring)


# -- with the other keyrings and managers -----------------------------------------------------------


def test_in_a_multi_keyring_each_keyring_alone_decrypts(pairs: Pairs) -> None:
    rings = keyrings(EcdhCurve.P521, *pairs[EcdhCurve.P521])
    aes = RawAesKeyring("ns", "aes", bytes(32))
    message = busta.encrypt(b"both", keyring=MultiKeyring(generator=aes, children=[rings["ephemeral"]]))
    assert busta.decrypt(message, keyring=rings["discovery"]).plaintext == b"both"
    assert busta.decrypt(message, keyring=aes).plaintext == b"both"
    message = busta.encrypt(b"first", keyring=MultiKeyring(generator=rings["static"], children=[aes]))
    assert busta.decrypt(message, keyring=MultiKeyring(children=[aes, rings["discovery"]])).plaintext == b"first"


def test_the_caching_manager_reuses_one_data_key_for_ecdh_messages(pairs: Pairs) -> None:
    rings = keyrings(EcdhCurve.P256, *pairs[EcdhCurve.P256])
    cmm = busta.CachingCryptoMaterialsManager(rings["static"], max_age=60.0)
    first = busta.encrypt(b"one", materials_manager=cmm, encryption_context=CONTEXT)
    second = busta.encrypt(b"two", materials_manager=cmm, encryption_context=CONTEXT)
    head = busta.decrypt(first, keyring=rings["discovery"]).header
    assert head.encrypted_data_keys  # the messages share their one wrapped data key
    assert head.encrypted_data_keys == busta.decrypt(second, keyring=rings["discovery"]).header.encrypted_data_keys
    assert (
        busta.decrypt(
            second, materials_manager=busta.CachingCryptoMaterialsManager(rings["discovery"], max_age=60.0)
        ).plaintext
        == b"two"
    )


# -- any bytes at all -------------------------------------------------------------------------------


def _hostile_readers() -> tuple[RawEcdhKeyring, ...]:
    sender, recipient = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    rings = keyrings(EcdhCurve.P256, sender, recipient)
    return rings["static"], rings["discovery"]


HOSTILE_READERS = _hostile_readers()
#: Provider info addressed to the readers' recipient, from any 33 bytes as the sender's point.
ADDRESSED = st.binary(min_size=33, max_size=33).map(
    lambda sender: (
        b"\x01" + struct.pack(">I", 33) + HOSTILE_READERS[1].recipient_public_key + struct.pack(">I", 33) + sender
    )
)


@settings(max_examples=300, deadline=None)
@given(
    info=st.one_of(st.binary(max_size=160), ADDRESSED),
    ciphertext=st.one_of(st.binary(max_size=120), st.binary(min_size=112, max_size=112)),
    provider_id=st.sampled_from(["raw-ecdh", "aws-kms-ecdh"]),
)
def test_any_provider_info_and_ciphertext_give_a_reason_never_another_exception(
    info: bytes, ciphertext: bytes, provider_id: str
) -> None:
    for keyring in HOSTILE_READERS:
        with pytest.raises(NoDecryptingKeyError):
            unwrap(keyring, EncryptedDataKey(provider_id, info, ciphertext))
