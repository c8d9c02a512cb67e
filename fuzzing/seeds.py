"""The fixed keyring, the seed plaintexts and the seed corpus of valid messages.

Every seed is a valid message under :data:`KEYRING`: several algorithm suites
(committing, signed, legacy), frame lengths small enough for multi-frame messages
of a few hundred bytes, non-framed messages (which busta reads but does not
write, so they are sealed here field by field), a message with two encrypted data
keys, messages with encryption contexts, and messages whose first data keys are
``aws-kms`` keys (ARNs of several partitions, a multi-Region key) that no KMS can
decrypt, before the raw AES key that can. The plaintexts depend only on the seed,
so the fuzz target can rebuild the set it accepts without the corpus.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

import busta
from busta import AlgorithmSuite, CommitmentPolicy, ContentType, DefaultCryptoMaterialsManager, EncryptionRequest
from busta.crypto.kdf import derive_keys
from busta.crypto.signing import Signer
from busta.format import Header, HeaderAuth, serialize_header, serialize_header_auth
from busta.format._cursor import u64
from busta.format.body import SINGLE_BLOCK_STRING, body_aad, frame_iv, serialize_footer
from busta.format.header import MESSAGE_ID_BYTES
from busta.keyrings import MultiKeyring, RawAesKeyring

from .kms import SEED_ARNS, ForgedKmsKeys

__all__ = [
    "DECRYPT_POLICY",
    "KEYRING",
    "NON_FRAMED",
    "nonframed_message",
    "plaintexts",
    "seed_messages",
    "write_corpus",
]

#: The one key every seed is encrypted under (fixed, so corpora stay valid across runs).
KEYRING = RawAesKeyring("busta-fuzzing", "key-1", bytes(range(32)))
#: A second key: the multi-key seed carries an encrypted data key for each.
SECOND_KEYRING = RawAesKeyring("busta-fuzzing", "key-2", bytes(range(32, 64)))
#: Decryption accepts every suite, legacy ones included.
DECRYPT_POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
#: Frame length 0 asks for a non-framed message.
NON_FRAMED = 0

SUITES = (
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,  # 0x0478
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,  # 0x0578
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_NO_KDF,  # 0x0014
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,  # 0x0178
    AlgorithmSuite.AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,  # 0x0214
    AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,  # 0x0378
)
FRAME_LENGTHS = (16, 64)
SIZES = (0, 1, 16, 37, 100)
CONTEXT = {"purpose": "fuzzing", "région": "✓"}


def _policy(suite: AlgorithmSuite) -> CommitmentPolicy:
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


def plaintexts(seed: int) -> dict[int, bytes]:
    """The seed plaintexts by size (the same for the same seed)."""
    rng = random.Random(seed)
    return {size: rng.randbytes(size) for size in SIZES}


def nonframed_message(
    plaintext: bytes,
    suite: AlgorithmSuite,
    keyring: busta.Keyring = KEYRING,
    encryption_context: Mapping[str, str] | None = None,
) -> bytes:
    """Seal a non-framed message (content type 0x01) the way other ESDKs write one."""
    request = EncryptionRequest(
        encryption_context=dict(encryption_context or {}), commitment_policy=_policy(suite), suite=suite
    )
    materials = DefaultCryptoMaterialsManager(keyring).get_encryption_materials(request)
    assert materials.data_key is not None
    message_id = os.urandom(MESSAGE_ID_BYTES[suite.message_format])
    keys = derive_keys(suite, materials.data_key, message_id)
    header = Header(
        suite,
        message_id,
        dict(materials.encryption_context),
        materials.encrypted_data_keys,
        ContentType.NON_FRAMED,
        0,
        keys.commitment,
    )
    raw = serialize_header(header)
    iv = bytes(12)
    head = raw + serialize_header_auth(suite, HeaderAuth(iv, keys.aead.encrypt(iv, b"", raw)))
    body_iv = frame_iv(1)
    aad = body_aad(message_id, SINGLE_BLOCK_STRING, 1, len(plaintext))
    body = body_iv + u64(len(plaintext)) + keys.aead.encrypt(body_iv, plaintext, aad)
    if materials.signing_key is None:
        return head + body
    signer = Signer(suite, materials.signing_key)
    signer.update(head + body)
    return head + body + serialize_footer(signer.sign())


def _framed(
    plaintext: bytes,
    suite: AlgorithmSuite,
    frame_length: int,
    keyring: busta.Keyring = KEYRING,
    encryption_context: Mapping[str, str] | None = None,
) -> bytes:
    return busta.Client(commitment_policy=_policy(suite)).encrypt(
        plaintext, keyring=keyring, encryption_context=encryption_context, algorithm=suite, frame_length=frame_length
    )


def seed_messages(seed: int) -> Iterator[tuple[str, bytes]]:
    """(name, message) for every seed: each suite x frame length (and non-framed) x plaintext size."""
    texts = plaintexts(seed)
    for suite in SUITES:
        for frame_length in (*FRAME_LENGTHS, NON_FRAMED):
            for size, text in texts.items():
                name = f"{suite.id:04x}-{'nonframed' if frame_length == NON_FRAMED else f'frame{frame_length}'}-{size}"
                if frame_length == NON_FRAMED:
                    yield name, nonframed_message(text, suite)
                else:
                    yield name, _framed(text, suite, frame_length)
    big = texts[max(SIZES)]
    for suite in (SUITES[0], SUITES[1]):
        yield f"{suite.id:04x}-context", _framed(big, suite, 16, encryption_context=CONTEXT)
        yield f"{suite.id:04x}-nonframed-context", nonframed_message(big, suite, encryption_context=CONTEXT)
        two_keys = MultiKeyring(generator=SECOND_KEYRING, children=[KEYRING])
        yield f"{suite.id:04x}-two-keys", _framed(big, suite, 16, keyring=two_keys)
        with_kms = MultiKeyring(generator=KEYRING, children=[ForgedKmsKeys(SEED_ARNS, first=True)])
        yield f"{suite.id:04x}-kms-keys", _framed(big, suite, 64, keyring=with_kms)


def write_corpus(directory: Path, seed: int) -> int:
    """Write the seed corpus into ``directory``; return how many files it holds."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, message in seed_messages(seed):
        (directory / f"seed-{name}").write_bytes(message)
        count += 1
    return count
