"""A compressed message is an ordinary ESDK message: the official aws-encryption-sdk decrypts what busta
compressed to the zstd frame (which zstandard decompresses to the plaintext), and busta decompresses a
zstd frame the official SDK encrypted under ``busta-compression: zstd``."""

from __future__ import annotations

import io
import os

import pytest
import zstandard

import busta
from busta.compression import COMPRESSION_CONTEXT_KEY
from busta.keyrings import RawAesKeyring

from ..support.oracle import AesKeySpec, official_decrypt, official_encrypt

AES_KEY = AesKeySpec("interop-namespace", "interop-aes-256", bytes(range(0x40, 0x60)))
TEXT = b"".join(b"%d,sensor-%d,%.3f,ok\n" % (i, i % 17, i / 7) for i in range(20_000))
CONTEXT = {"purpose": "compression interop"}
SUITES = (0x0578, 0x0478, 0x0178)  # committing signed, committing unsigned, legacy unsigned


def _keyring() -> RawAesKeyring:
    return RawAesKeyring(AES_KEY.namespace, AES_KEY.name, AES_KEY.key)


def _policy(suite: int) -> busta.CommitmentPolicy:
    committing = busta.AlgorithmSuite.from_id(suite).committing
    return (
        busta.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if committing
        else (busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    )


@pytest.mark.parametrize("suite", SUITES, ids=hex)
@pytest.mark.parametrize("data", [b"", TEXT, os.urandom(200_000)], ids=["empty", "text", "random"])
@pytest.mark.parametrize("mode", ["whole", "stream"])
def test_the_official_sdk_decrypts_a_compressed_message_to_the_zstd_frame_of_the_plaintext(
    suite: int, data: bytes, mode: str
) -> None:
    client = busta.Client(commitment_policy=_policy(suite))
    if mode == "whole":
        message = client.encrypt(
            data, keyring=_keyring(), encryption_context=CONTEXT, algorithm=suite, frame_length=4096, compression="zstd"
        )
    else:
        out = io.BytesIO()
        client.encrypt_stream(
            io.BytesIO(data), out, keyring=_keyring(), encryption_context=CONTEXT, algorithm=suite, compression="zstd"
        )
        message = out.getvalue()
    policy = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" if suite != 0x0178 else "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
    frame, stored = official_decrypt(message, keys=[AES_KEY], commitment_policy=policy)
    assert stored[COMPRESSION_CONTEXT_KEY] == "zstd"
    assert stored["purpose"] == CONTEXT["purpose"]
    assert frame.startswith(b"\x28\xb5\x2f\xfd")  # a zstd frame
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame) == data


@pytest.mark.parametrize("frame_length", [0, 128, 65536], ids=["non-framed", "f128", "f65536"])
def test_busta_decompresses_a_zstd_frame_the_official_sdk_encrypted_under_the_key(frame_length: int) -> None:
    frame = zstandard.ZstdCompressor(level=9, write_checksum=True).compress(TEXT)
    message = official_encrypt(
        frame,
        keys=[AES_KEY],
        suite_id=0x0578,
        frame_length=frame_length,
        encryption_context={**CONTEXT, COMPRESSION_CONTEXT_KEY: "zstd"},
    )
    assert busta.decrypt(message, keyring=_keyring()).plaintext == TEXT
    out = io.BytesIO()
    busta.decrypt_stream(io.BytesIO(message), out, keyring=_keyring())
    assert out.getvalue() == TEXT
