"""The 99 raw-ecdh tests of the official encrypt manifest, both ways with the official SDK.

busta writes each described message (encrypt key description) and the official SDK with the
MPL's raw ECDH keyring reads it (decrypt key description); then the official SDK writes it and
busta reads it. The keyrings of both sides are built once per key description.
"""

from __future__ import annotations

import functools
import random

import pytest

import busta
from busta.keyrings.raw_ecdh import EcdhCurve, RawEcdhKeyring
from busta.suites import CommitmentPolicy

from ..support.ecdh_vectors import EcdhVectorCase, load_raw_ecdh_cases
from ..support.oracle import official_available
from ..support.oracle_ecdh import EcdhKeySpec, official_ecdh_decrypt, official_ecdh_encrypt, policy_for

CASES = load_raw_ecdh_cases()

pytestmark = pytest.mark.skipif(not official_available(), reason="the official SDK is not installed")


def test_the_manifest_has_the_99_raw_ecdh_tests_over_three_schemes_and_curves() -> None:
    assert len(CASES) == 99
    pairs = {(case.encrypt.scheme, case.decrypt.scheme) for case in CASES}
    assert pairs == {("static", "static"), ("static", "discovery"), ("ephemeral", "discovery")}
    assert {case.encrypt.curve for case in CASES} == {"p256", "p384", "p521"}


@functools.cache
def busta_keyring(key: EcdhKeySpec) -> RawEcdhKeyring:
    curve = EcdhCurve(key.curve)
    if key.scheme == "static":
        return RawEcdhKeyring.static(curve, sender_private_key=key.private_pem, recipient_public_key=key.public_der)
    if key.scheme == "ephemeral":
        return RawEcdhKeyring.ephemeral(curve, recipient_public_key=key.public_der)
    return RawEcdhKeyring.discovery(curve, recipient_private_key=key.private_pem)


@functools.cache
def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def client_for(suite_id: int) -> busta.Client:
    return busta.Client(commitment_policy=CommitmentPolicy[policy_for(suite_id)])


@pytest.fixture(scope="module")
def warm_official() -> None:
    """Import the official SDK and build its client once, outside the first case's time."""
    first = CASES[0]
    official_ecdh_encrypt(b"", first.encrypt, suite_id=first.suite_id, frame_length=first.frame_length)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.description[16:]}-{case.suite_id:04x}")
def test_busta_writes_the_message_and_the_official_sdk_reads_it(case: EcdhVectorCase, warm_official: None) -> None:
    message = client_for(case.suite_id).encrypt(
        plaintext(case.plaintext_size),
        keyring=busta_keyring(case.encrypt),
        algorithm=case.suite_id,
        frame_length=case.frame_length,
        encryption_context=dict(case.encryption_context),
    )
    assert official_ecdh_decrypt(message, case.decrypt, suite_id=case.suite_id) == plaintext(case.plaintext_size)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.description[16:]}-{case.suite_id:04x}")
def test_the_official_sdk_writes_the_message_and_busta_reads_it(case: EcdhVectorCase, warm_official: None) -> None:
    message = official_ecdh_encrypt(
        plaintext(case.plaintext_size),
        case.encrypt,
        suite_id=case.suite_id,
        frame_length=case.frame_length,
        encryption_context=dict(case.encryption_context),
    )
    result = client_for(case.suite_id).decrypt(message, keyring=busta_keyring(case.decrypt))
    assert result.plaintext == plaintext(case.plaintext_size)
    assert result.header.encrypted_data_keys[0].provider_id == "raw-ecdh"
