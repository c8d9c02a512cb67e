"""busta.rewrap applies the policy and data-key limit of the busta client given as ``sdk=``."""

from __future__ import annotations

import dataclasses
import io
import os

import pytest

from busta import AlgorithmSuite, Client, CommitmentPolicy
from busta.errors import LimitExceededError, PolicyError
from busta.keyrings import MultiKeyring, RawAesKeyring
from busta.rewrap import CheckedCopy, check_rewrapped, rewrap, rewrap_header

OLD = RawAesKeyring("rewrap-client-tests", "old", os.urandom(32))
NEW = RawAesKeyring("rewrap-client-tests", "new", os.urandom(32))
TWO_NEW = MultiKeyring(generator=NEW, children=[RawAesKeyring("rewrap-client-tests", "new-2", os.urandom(32))])
V1_UNSIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
ALLOW = Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
FORBID = Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
PLAINTEXT = os.urandom(5000)
V1_MESSAGE = FORBID.encrypt(PLAINTEXT, keyring=OLD, algorithm=V1_UNSIGNED, frame_length=1024)


def test_rewrap_applies_the_sdks_commitment_policy() -> None:
    with pytest.raises(PolicyError):
        rewrap(V1_MESSAGE, keyring=OLD, new_keyring=NEW)
    rotated = rewrap(V1_MESSAGE, keyring=OLD, new_keyring=NEW, sdk=ALLOW)
    assert ALLOW.decrypt(rotated, keyring=NEW).plaintext == PLAINTEXT


def test_rewrap_applies_the_sdks_data_key_limit_to_the_new_header() -> None:
    with pytest.raises(LimitExceededError):
        rewrap(V1_MESSAGE, keyring=OLD, new_keyring=TWO_NEW, sdk=dataclasses.replace(ALLOW, max_encrypted_data_keys=1))
    rotated = rewrap(
        V1_MESSAGE, keyring=OLD, new_keyring=TWO_NEW, sdk=dataclasses.replace(ALLOW, max_encrypted_data_keys=2)
    )
    assert ALLOW.decrypt(rotated, keyring=NEW).plaintext == PLAINTEXT


def test_the_checks_of_a_rewrapped_message_apply_the_sdks_commitment_policy() -> None:
    rewrapped = rewrap_header(V1_MESSAGE, keyring=OLD, new_keyring=NEW, sdk=ALLOW)
    assert rewrapped is not None
    body = V1_MESSAGE[rewrapped.old_header_length :]

    def fetch(first: int, stop: int) -> bytes:
        return V1_MESSAGE[first:stop]

    with pytest.raises(PolicyError):
        check_rewrapped(rewrapped, fetch, len(V1_MESSAGE), resent=len(body))
    check_rewrapped(rewrapped, fetch, len(V1_MESSAGE), resent=len(body), sdk=ALLOW)
    with pytest.raises(PolicyError):
        CheckedCopy(rewrapped, io.BytesIO())
    sink = io.BytesIO()
    copy = CheckedCopy(rewrapped, sink, sdk=ALLOW)
    copy.write(body)
    copy.finish()
    assert ALLOW.decrypt(sink.getvalue(), keyring=NEW).plaintext == PLAINTEXT
