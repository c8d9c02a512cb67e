"""No public attribute of an engine, a driver, a reader, a writer or a seekable view holds key material.

Callers get plain values (header, encryption context, suite); a caller that needs the
data key obtained the materials itself. Every public attribute (and property) of each
object, at every stage of a message, and one level further into the public attributes
that are themselves engines, is checked against the types that carry keys.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import busta
from busta import AlgorithmSuite
from busta._secrets import SecretBytes
from busta.crypto.frames import FrameCodec
from busta.crypto.kdf import DerivedKeys
from busta.crypto.signing import Signer, Verifier
from busta.keyrings import RawAesKeyring
from busta.materials import DecryptionMaterials, DefaultCryptoMaterialsManager, EncryptionMaterials
from busta.streaming.decryptor import MessageDecryptor
from busta.streaming.driver import DrivenDecryptor

KEYRING = RawAesKeyring("attributes", "aes", bytes(range(32)))
FRAME = 512
PLAINTEXT = os.urandom(5 * FRAME + 1)
KEYED = (SecretBytes, DecryptionMaterials, EncryptionMaterials, FrameCodec, AESGCM, DerivedKeys, Signer, Verifier)
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
]


def _public_values(obj: object, depth: int = 1) -> Iterator[tuple[str, object]]:
    for name in dir(obj):
        if name.startswith("_"):
            continue
        try:
            value = getattr(obj, name)
        except Exception:  # a property that refuses in this state holds nothing to leak
            continue
        if callable(value) and not isinstance(value, KEYED):
            continue
        yield name, value
        if depth and isinstance(value, (MessageDecryptor, busta.MessageEncryptor, DrivenDecryptor)):
            for inner, nested in _public_values(value, depth - 1):
                yield f"{name}.{inner}", nested
        if isinstance(value, (list, tuple, dict)):
            items = value.values() if isinstance(value, dict) else value
            for index, item in enumerate(items):
                yield f"{name}[{index}]", item


def _assert_no_keys(obj: object) -> None:
    leaks = [(name, type(value).__name__) for name, value in _public_values(obj) if isinstance(value, KEYED)]
    assert leaks == [], f"{type(obj).__name__} exposes key material: {leaks}"


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.id:#06x}")
def test_engines_and_the_driver_expose_no_key_material_at_any_stage(suite: AlgorithmSuite) -> None:
    encryptor = busta.start_encryption(keyring=KEYRING, algorithm=suite, frame_length=FRAME)
    _assert_no_keys(encryptor)
    message = encryptor.update(PLAINTEXT)
    _assert_no_keys(encryptor)
    message += encryptor.finalize()
    _assert_no_keys(encryptor)

    engine = MessageDecryptor()
    header_length = engine.read_header(message)
    _assert_no_keys(engine)  # awaiting materials
    request = engine.decryption_request
    assert request is not None
    engine.supply_materials(DefaultCryptoMaterialsManager(KEYRING).decrypt_materials(request))
    _assert_no_keys(engine)
    engine.update(memoryview(message)[header_length : header_length + 2 * FRAME])
    _assert_no_keys(engine)  # mid-body

    driven = busta.start_decryption(keyring=KEYRING)
    _assert_no_keys(driven)
    driven.update(message[: len(message) // 2])
    _assert_no_keys(driven)
    driven.update(message[len(message) // 2 :])
    driven.finalize()
    _assert_no_keys(driven)


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.id:#06x}")
def test_readers_writers_and_the_seekable_view_expose_no_key_material(suite: AlgorithmSuite) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=suite, frame_length=FRAME)

    encrypting_reader = busta.encrypting_reader(io.BytesIO(PLAINTEXT), keyring=KEYRING, algorithm=suite)
    encrypting_reader.read(100)
    _assert_no_keys(encrypting_reader)
    sink = io.BytesIO()
    encrypting_writer = busta.encrypting_writer(sink, keyring=KEYRING, algorithm=suite)
    encrypting_writer.write(PLAINTEXT)
    _assert_no_keys(encrypting_writer)

    decrypting_reader = busta.decrypting_reader(io.BytesIO(message), keyring=KEYRING)
    decrypting_reader.read(100)
    _assert_no_keys(decrypting_reader)
    decrypting_writer = busta.decrypting_writer(io.BytesIO(), keyring=KEYRING)
    decrypting_writer.write(message[: len(message) // 2])
    _assert_no_keys(decrypting_writer)

    seekable = busta.open_seekable(io.BytesIO(message), keyring=KEYRING, allow_unverified_signature=True)
    seekable.seek(FRAME + 3)
    assert seekable.read(10) == PLAINTEXT[FRAME + 3 : FRAME + 13]
    _assert_no_keys(seekable)


def test_the_check_finds_key_material_where_it_is() -> None:
    """The search itself works: an object with a public materials attribute is caught."""

    class Leaky:
        def __init__(self) -> None:
            self.materials = DecryptionMaterials(SUITES[0], {}, SecretBytes(bytes(32)))

    with pytest.raises(AssertionError, match="materials"):
        _assert_no_keys(Leaky())
