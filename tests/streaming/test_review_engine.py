"""Defects an adversarial review of the issue-14 engine changes found.

* ``MessageDecryptor.output_bound`` reads the held bytes without the engine's lock
  (``update()`` sizes its output before it claims the decryptor). A decryptor that
  fails while another thread asks for that bound used to be seen with the old
  length and the new, empty buffer, and the second thread got ``struct.error``
  instead of an error from the tree. ``PendingBytes.release`` now forgets the
  length before it drops the buffer, so no reader sees a length beyond the buffer.
* ``dataclasses.replace`` on ``EncryptionMaterials`` (a public frozen dataclass
  that custom materials managers build and copy) worked before issue 14 and now
  raises TypeError: the dataclass's fields became ``_edks`` while ``__init__``
  still takes ``encrypted_data_keys``. Fixed: ``__init__`` takes the copied
  ``_edks`` that ``replace`` passes on, and an explicit ``encrypted_data_keys`` wins.
* ``update_into`` / ``finalize_into`` wrote through slices of ``out``: given a
  ``bytearray`` (not a memoryview) each slice was a copy, so the plaintext (or the
  frames of a message) went into temporaries while the call reported them
  written, and the caller read zeros as authenticated plaintext or kept a message
  nobody can decrypt. ``out`` is now taken as a writable byte view, and a
  read-only or non-buffer ``out`` is a UsageError.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from types import FrameType
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite, EncryptedDataKey
from busta._buffers import PendingBytes
from busta.errors import AuthenticationError, UsageError
from busta.keyrings import RawAesKeyring
from busta.materials import EncryptionMaterials

KEYRING = RawAesKeyring("review", "aes", bytes(range(32)))
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY

_RELEASE_CODE = PendingBytes.release.__code__
_RELEASE_LAST_LINE = max(line for _, _, line in _RELEASE_CODE.co_lines() if line is not None)


def test_a_decryptor_failing_while_another_thread_sizes_its_output_stays_in_the_error_tree() -> None:
    message = bytearray(busta.encrypt(os.urandom(3000), keyring=KEYRING, algorithm=SIGNED, frame_length=1024))
    message[-1] ^= 1  # the signature no longer verifies: the decryptor fails in its footer
    decryptor = busta.start_decryption(keyring=KEYRING)
    decryptor.update(message[:-10])  # the footer has begun: its bytes are held
    paused, resume = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def pause_inside_release(frame: FrameType, event: str, arg: Any) -> Any:
        if frame.f_code is _RELEASE_CODE:
            if event == "line" and frame.f_lineno == _RELEASE_LAST_LINE:
                paused.set()  # release() has run all but its last statement
                resume.wait(10)
            return pause_inside_release
        return pause_inside_release if event == "call" else None

    def fail_in_the_footer() -> None:
        sys.settrace(pause_inside_release)
        try:
            decryptor.update(message[-10:])
        except BaseException as exc:
            failures.append(exc)
        finally:
            sys.settrace(None)

    first = threading.Thread(target=fail_in_the_footer)
    first.start()
    try:
        assert paused.wait(10)
        bound = decryptor.output_bound(1)  # what update() asks before it claims the decryptor
    finally:
        resume.set()
        first.join(10)
    assert bound >= 0
    assert len(failures) == 1 and isinstance(failures[0], AuthenticationError)


def test_dataclasses_replace_copies_encryption_materials_as_before_issue_14() -> None:
    edk, other = EncryptedDataKey("provider", b"info", b"ciphertext"), EncryptedDataKey("p", b"i", b"c")
    materials = EncryptionMaterials(UNSIGNED, {"purpose": "test"}, None, (edk,))
    copied = dataclasses.replace(materials, encryption_context={"purpose": "other"})
    assert copied.encrypted_data_keys == (edk,)
    assert copied.encryption_context == {"purpose": "other"}
    # encrypted_data_keys is an __init__ argument, not a field: untyped callers may still pass it
    replaced = dataclasses.replace(materials, encrypted_data_keys=(other,))  # type: ignore[call-arg]
    assert replaced.encrypted_data_keys == (other,)
    emptied = dataclasses.replace(materials, encrypted_data_keys=())  # type: ignore[call-arg]
    assert emptied.encrypted_data_keys == ()


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED])
def test_update_into_a_bytearray_fills_the_bytearray(suite: AlgorithmSuite) -> None:
    plaintext = os.urandom(5000)
    encryptor = busta.start_encryption(keyring=KEYRING, algorithm=suite, frame_length=1024)
    message = bytearray(encryptor.update_size(len(plaintext)))
    written = encryptor.update_into(plaintext, message)
    tail = bytearray(encryptor.finalize_size())
    message[written:] = tail[: encryptor.finalize_into(tail)]
    assert busta.decrypt(bytes(message), keyring=KEYRING).plaintext == plaintext
    decryptor = busta.start_decryption(keyring=KEYRING)
    out = bytearray(decryptor.output_bound(len(message)))
    produced = decryptor.update_into(message, out)
    decryptor.finalize()
    assert bytes(out[:produced]) == plaintext


def test_an_output_that_cannot_be_written_is_a_usage_error() -> None:
    message = busta.encrypt(b"plaintext", keyring=KEYRING)
    for out in (bytes(100), memoryview(bytes(100)), "not a buffer"):
        decryptor = busta.start_decryption(keyring=KEYRING)
        with pytest.raises(UsageError):
            decryptor.update_into(message, out)  # type: ignore[arg-type]
        assert busta.decrypt(message, keyring=KEYRING).plaintext == b"plaintext"
        encryptor = busta.start_encryption(keyring=KEYRING)
        with pytest.raises(UsageError):
            encryptor.update_into(b"plaintext", out)  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            encryptor.finalize_into(out)  # type: ignore[arg-type]
