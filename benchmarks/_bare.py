"""Bare baselines: the least code that does the same AES-GCM (or SHA-384) work as busta.

Each loop touches the same frames as busta does (same sizes, same number of
AES-GCM calls, a per-frame nonce and AAD) into a preallocated, reused buffer.
"""

from __future__ import annotations

import hashlib
import os
from typing import IO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TAG = 16
HEAD = 16  # a regular frame's sequence number and IV


class BareFrames:
    """encrypt_into / decrypt_into over frames of ``frame_length`` bytes."""

    def __init__(self, frame_length: int, plaintext_length: int):
        self.frame = frame_length
        self.step = HEAD + frame_length + TAG
        self.count = -(-plaintext_length // frame_length)
        self.aead = AESGCM(os.urandom(32))
        self.out = bytearray(self.count * self.step)
        self.plain = bytearray(self.count * frame_length)
        self.aad = os.urandom(32) + b"AWSKMSEncryptionClient Frame" + bytes(12)

    def encrypt(self, data: memoryview) -> None:
        out, frame, step, encrypt_into = memoryview(self.out), self.frame, self.step, self.aead.encrypt_into
        for i in range(self.count):
            nonce = bytes(8) + i.to_bytes(4, "big")
            src = data[i * frame : (i + 1) * frame]
            encrypt_into(nonce, src, self.aad, out[i * step + HEAD : i * step + HEAD + len(src) + TAG])

    def decrypt(self) -> None:
        out, plain, frame, step = memoryview(self.out), memoryview(self.plain), self.frame, self.step
        decrypt_into = self.aead.decrypt_into
        for i in range(self.count):
            nonce = bytes(8) + i.to_bytes(4, "big")
            decrypt_into(nonce, out[i * step + HEAD : (i + 1) * step], self.aad, plain[i * frame : (i + 1) * frame])

    def stream_encrypt(self, source: IO[bytes], sink: IO[bytes], chunk_frames: int) -> None:
        """Read chunks, encrypt each frame of the chunk, write the chunk's frames."""
        inbuf = memoryview(bytearray(chunk_frames * self.frame))
        outbuf = memoryview(bytearray(chunk_frames * self.step))
        frame, step, encrypt_into, seq = self.frame, self.step, self.aead.encrypt_into, 0
        while n := source.readinto(inbuf):  # type: ignore[attr-defined]
            frames = -(-n // frame)
            for i in range(frames):
                seq += 1
                src = inbuf[i * frame : min(n, (i + 1) * frame)]
                encrypt_into(
                    bytes(8) + seq.to_bytes(4, "big"),
                    src,
                    self.aad,
                    outbuf[i * step + HEAD : i * step + HEAD + len(src) + TAG],
                )
            sink.write(outbuf[: frames * step])

    def stream_decrypt(self, source: IO[bytes], sink: IO[bytes], chunk_frames: int) -> None:
        """Read chunks of whole frames, decrypt each, write the plaintext."""
        inbuf = memoryview(bytearray(chunk_frames * self.step))
        outbuf = memoryview(bytearray(chunk_frames * self.frame))
        frame, step, decrypt_into, seq = self.frame, self.step, self.aead.decrypt_into, 0
        while n := source.readinto(inbuf):  # type: ignore[attr-defined]
            frames = n // step
            for i in range(frames):
                seq += 1
                decrypt_into(
                    bytes(8) + seq.to_bytes(4, "big"),
                    inbuf[i * step + HEAD : (i + 1) * step],
                    self.aad,
                    outbuf[i * frame : (i + 1) * frame],
                )
            sink.write(outbuf[: frames * frame])


def bare_sha384(data: memoryview, chunk: int = 4 << 20) -> bytes:
    """SHA-384 over ``data`` in large updates: the floor for any signed-suite stream."""
    h = hashlib.sha384()
    for i in range(0, len(data), chunk):
        h.update(data[i : i + chunk])
    return h.digest()
