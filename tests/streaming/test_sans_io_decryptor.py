"""The decryptor is sans-I/O: it stops after the header, says what materials it needs, and goes on
only once its caller supplied them.

* After the header it is in an explicit state: ``needs_materials`` is true and
  ``decryption_request`` holds the suite, the encrypted data keys, the stored context,
  the commitment policy and the context the caller expects. Nothing is plaintext yet.
* The caller obtains the materials however it likes (here: in another thread) and hands
  them to ``supply_materials``, which checks them against the header, then the commitment
  and the header tag; the body follows.
* While materials are awaited it keeps only the bytes after the header that the call which
  completed it brought; any call that brings more is refused (UsageError) and the
  decryptor stays failed, so what it holds stays bounded.
* The engine holds no materials manager, keyring or executor of its own.
"""

from __future__ import annotations

import dataclasses
import os
import threading

import pytest

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import (
    AuthenticationError,
    EncryptionContextError,
    PolicyError,
    TruncatedMessageError,
    UsageError,
)
from busta.keyrings import RawAesKeyring
from busta.materials import CryptoMaterialsManager, DecryptionMaterials, DefaultCryptoMaterialsManager, Keyring
from busta.streaming.decryptor import MessageDecryptor
from busta.streaming.driver import DrivenDecryptor

KEYRING = RawAesKeyring("sans-io", "aes", bytes(range(32)))
OTHER = RawAesKeyring("sans-io", "aes", bytes(range(1, 33)))  # same names, another key
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
FRAME = 1024
PLAINTEXT = os.urandom(7 * FRAME + 33)
CONTEXT = {"purpose": "test", "tenant": "a"}
MESSAGE = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=SIGNED, frame_length=FRAME, encryption_context=CONTEXT)
HEADER_LENGTH = MessageDecryptor().read_header(MESSAGE)


def _materials(decryptor: MessageDecryptor, keyring: Keyring = KEYRING) -> DecryptionMaterials:
    request = decryptor.decryption_request
    assert request is not None
    return DefaultCryptoMaterialsManager(keyring).decrypt_materials(request)


def test_the_engine_stops_after_the_header_and_exposes_the_request() -> None:
    decryptor = MessageDecryptor(encryption_context={"tenant": "a"})
    assert not decryptor.needs_materials and decryptor.decryption_request is None
    assert decryptor.update(MESSAGE[: HEADER_LENGTH - 1]) == b""
    assert not decryptor.needs_materials  # one byte short of the header
    assert decryptor.update(MESSAGE[HEADER_LENGTH - 1 : HEADER_LENGTH]) == b""
    assert decryptor.needs_materials
    request = decryptor.decryption_request
    assert request is not None
    assert request.suite is SIGNED
    assert len(request.encrypted_data_keys) == 1
    assert request.encryption_context["tenant"] == "a"  # stored pairs, as the header says (unverified)
    assert request.commitment_policy is CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    assert request.reproduced_encryption_context == {"tenant": "a"}
    assert decryptor.header is None and decryptor.encryption_context is None  # nothing authenticated yet
    assert decryptor.output_bound(1 << 20) == 0


def test_materials_obtained_elsewhere_are_supplied_and_the_body_follows() -> None:
    decryptor = MessageDecryptor()
    decryptor.update(MESSAGE[:HEADER_LENGTH])
    got: list[DecryptionMaterials] = []
    worker = threading.Thread(target=lambda: got.append(_materials(decryptor)))  # "another thread or process"
    worker.start()
    worker.join(10)
    decryptor.supply_materials(got[0])
    assert not decryptor.needs_materials and decryptor.decryption_request is None
    assert decryptor.header is not None and decryptor.header.suite is SIGNED
    assert decryptor.encryption_context is not None and decryptor.encryption_context["purpose"] == "test"
    plaintext = decryptor.update(MESSAGE[HEADER_LENGTH:])
    decryptor.finalize()
    assert plaintext == PLAINTEXT and decryptor.done


def test_while_materials_are_awaited_only_the_bytes_already_handed_are_kept() -> None:
    decryptor = MessageDecryptor()
    handed = HEADER_LENGTH + 3 * FRAME + 500
    assert decryptor.update(MESSAGE[:handed]) == b""  # the header ended inside this call
    assert decryptor.needs_materials
    assert decryptor.buffered == handed - HEADER_LENGTH  # what it brought after the header, no more
    with pytest.raises(UsageError, match="materials"):
        decryptor.update(MESSAGE[handed : handed + 1])  # more input is refused ...
    with pytest.raises(UsageError):
        decryptor.supply_materials(_any_materials())
    assert decryptor.buffered == 0  # ... and the decryptor stays failed, holding nothing


def _any_materials() -> DecryptionMaterials:
    probe = MessageDecryptor()
    probe.read_header(MESSAGE)
    return _materials(probe)


def test_the_bytes_kept_while_awaiting_come_out_after_the_materials() -> None:
    decryptor = MessageDecryptor()
    handed = HEADER_LENGTH + 3 * FRAME + 500
    decryptor.update(MESSAGE[:handed])
    decryptor.supply_materials(_materials(decryptor))
    assert decryptor.output_bound(0) >= 3 * FRAME
    assert decryptor.update(b"") == PLAINTEXT[: 3 * FRAME]  # the three whole frames it kept
    rest = decryptor.update(MESSAGE[handed:])
    decryptor.finalize()
    assert PLAINTEXT[: 3 * FRAME] + rest == PLAINTEXT


def test_update_into_after_the_materials_writes_what_was_kept() -> None:
    decryptor = MessageDecryptor()
    decryptor.update(MESSAGE)  # the whole message in one call: all of it is kept
    decryptor.supply_materials(_materials(decryptor))
    out = bytearray(decryptor.output_bound(0))
    written = decryptor.update_into(b"", out)
    decryptor.finalize()
    assert bytes(out[:written]) == PLAINTEXT


def test_materials_of_another_data_key_fail_the_header() -> None:
    decryptor = MessageDecryptor()
    decryptor.read_header(MESSAGE)
    request = decryptor.decryption_request
    assert request is not None
    good = _materials(decryptor)
    wrong_key = DecryptionMaterials(
        good.suite,
        good.encryption_context,
        busta.SecretBytes(os.urandom(32)),
        good.verification_key,
        good.required_context_keys,
    )
    with pytest.raises(AuthenticationError):
        decryptor.supply_materials(wrong_key)
    with pytest.raises(AuthenticationError):  # and it stays failed
        decryptor.update(MESSAGE[HEADER_LENGTH:])


def test_materials_whose_context_differs_from_the_header_are_refused() -> None:
    for changed in ({**CONTEXT, "tenant": "b"}, {**CONTEXT, "extra": "pair"}):
        decryptor = MessageDecryptor()
        decryptor.read_header(MESSAGE)
        good = _materials(decryptor)
        full = {**good.encryption_context, **changed}
        lying = DecryptionMaterials(good.suite, full, good.data_key, good.verification_key, good.required_context_keys)
        with pytest.raises(UsageError, match="stored pairs"):
            decryptor.supply_materials(lying)


def test_materials_for_another_suite_or_of_another_type_are_refused() -> None:
    decryptor = MessageDecryptor()
    decryptor.read_header(MESSAGE)
    good = _materials(decryptor)
    with pytest.raises(UsageError):
        decryptor.supply_materials(dataclasses.replace(good, suite=UNSIGNED))
    decryptor = MessageDecryptor()
    decryptor.read_header(MESSAGE)
    with pytest.raises(UsageError):
        decryptor.supply_materials(object())  # type: ignore[arg-type]


def test_an_expected_pair_is_checked_when_the_materials_arrive() -> None:
    decryptor = MessageDecryptor(encryption_context={"tenant": "b"})
    decryptor.read_header(MESSAGE)
    request = decryptor.decryption_request
    assert request is not None
    materials = DefaultCryptoMaterialsManager(KEYRING).decrypt_materials(
        dataclasses.replace(request, reproduced_encryption_context={})
    )
    with pytest.raises(EncryptionContextError):
        decryptor.supply_materials(materials)


def test_the_policy_is_checked_before_any_materials_are_asked_for() -> None:
    legacy = busta.Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt(
        PLAINTEXT, keyring=KEYRING, algorithm=AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    )
    decryptor = MessageDecryptor()  # REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    with pytest.raises(PolicyError):
        decryptor.update(legacy)
    assert not decryptor.needs_materials


def test_supply_materials_out_of_turn_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="after the header"):
        MessageDecryptor().supply_materials(_any_materials())
    decryptor = MessageDecryptor()
    decryptor.read_header(MESSAGE)
    materials = _materials(decryptor)
    decryptor.supply_materials(materials)
    with pytest.raises(UsageError):
        decryptor.supply_materials(materials)


def test_a_message_that_ends_while_materials_are_awaited_is_truncated() -> None:
    decryptor = MessageDecryptor()
    decryptor.update(MESSAGE[:HEADER_LENGTH])
    with pytest.raises(TruncatedMessageError, match="materials"):
        decryptor.finalize()


def test_the_engine_holds_no_materials_manager_and_does_not_take_one() -> None:
    cmm = DefaultCryptoMaterialsManager(KEYRING)
    with pytest.raises(TypeError):
        MessageDecryptor(cmm)  # type: ignore[arg-type, call-arg]
    decryptor = MessageDecryptor()
    decryptor.update(MESSAGE[: HEADER_LENGTH + 10])
    decryptor.supply_materials(_materials(decryptor))
    held = [getattr(decryptor, name) for name in _slots_and_attributes(decryptor)]
    assert not any(isinstance(value, (DefaultCryptoMaterialsManager, RawAesKeyring)) for value in held)
    assert not any(hasattr(value, "decrypt_materials") or hasattr(value, "on_decrypt") for value in held)


def _slots_and_attributes(obj: object) -> list[str]:
    return [name for name in vars(obj) if not name.startswith("__")]


class _CountingManager:
    """A materials manager that counts its calls (the driver calls it once, when the header ends)."""

    def __init__(self, inner: CryptoMaterialsManager):
        self.inner = inner
        self.calls = 0

    def get_encryption_materials(self, request: busta.EncryptionRequest) -> busta.EncryptionMaterials:
        return self.inner.get_encryption_materials(request)

    def decrypt_materials(self, request: busta.DecryptionRequest) -> DecryptionMaterials:
        self.calls += 1
        return self.inner.decrypt_materials(request)


@pytest.mark.parametrize("step", [1, 7, HEADER_LENGTH, 4096])
def test_the_sync_driver_supplies_the_materials_once_whatever_the_pieces(step: int) -> None:
    manager = _CountingManager(DefaultCryptoMaterialsManager(KEYRING))
    driven = busta.start_decryption(materials_manager=manager)
    assert isinstance(driven, DrivenDecryptor)
    pieces = [driven.update(MESSAGE[i : i + step]) for i in range(0, len(MESSAGE), step)]
    driven.finalize()
    assert b"".join(pieces) == PLAINTEXT
    assert manager.calls == 1


def test_a_materials_manager_failure_stays_in_the_driver() -> None:
    driven = busta.start_decryption(keyring=OTHER)
    with pytest.raises(busta.errors.NoDecryptingKeyError):
        driven.update(MESSAGE[: HEADER_LENGTH + 5])
    with pytest.raises(busta.errors.NoDecryptingKeyError):
        driven.update(MESSAGE[HEADER_LENGTH + 5 :])


def test_an_error_in_bytes_kept_while_awaiting_names_its_offset_in_the_message() -> None:
    damaged = bytearray(MESSAGE)
    at = HEADER_LENGTH + 2 * (4 + 12 + FRAME + 16)  # the sequence number of frame 3
    damaged[at : at + 4] = (9).to_bytes(4, "big")
    decryptor = MessageDecryptor()
    decryptor.update(bytes(damaged))  # everything after the header is kept
    decryptor.supply_materials(_materials(decryptor))
    with pytest.raises(busta.errors.MalformedMessageError) as failed:
        decryptor.update(b"")
    assert failed.value.offset == at
