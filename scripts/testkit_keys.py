"""The testkit's fixed wrapping keys, and deterministic key wrapping for its generator.

Every key is derived from a label, so the generator writes the same ``keys.json`` on every run:
AES keys are SHA-256 of the label, RSA keys are made from primes found by a seeded search.
Wrapping is deterministic too: the AES-GCM IV, the OAEP seed and the PKCS#1 v1.5 padding come
from a hash of the case name. These keys are public test data; never use them for anything else.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEYS", "KeyEntry", "key_json", "stream", "wrap"]

NAMESPACE = "busta-testkit"
_OAEP_HASHES = {"OAEP_SHA1": "sha1", "OAEP_SHA256": "sha256", "OAEP_SHA384": "sha384", "OAEP_SHA512": "sha512"}


def stream(label: str, length: int) -> bytes:
    """``length`` bytes determined by ``label`` (SHA-256 in counter mode)."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{label}#{counter}".encode()).digest()
        counter += 1
    return out[:length]


@dataclass(frozen=True)
class KeyEntry:
    """One wrapping key of the kit: raw AES (``secret`` is the key) or raw RSA (``secret`` is a PEM)."""

    kind: str  # "raw-aes" or "raw-rsa"
    namespace: str
    name: str
    secret: bytes
    padding: str = ""  # RSA only: PKCS1 or OAEP_SHA1/256/384/512


_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, int(p**0.5) + 1, 2))]


def _is_probable_prime(n: int) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for base in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53):
        x = pow(base, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng: random.Random, bits: int, e: int) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if candidate % e != 1 and _is_probable_prime(candidate):
            return candidate


def _rsa_pem(label: str, bits: int = 2048) -> bytes:
    rng = random.Random(label)  # noqa: S311 - reproducible test keys, not secrets
    e = 65537
    p = _prime(rng, bits // 2, e)
    q = _prime(rng, bits // 2, e)
    d = pow(e, -1, (p - 1) * (q - 1))
    public = rsa.RSAPublicNumbers(e, p * q)
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), public
    )
    return numbers.private_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _keys() -> dict[str, KeyEntry]:
    keys = {
        f"aes-{bits}": KeyEntry("raw-aes", NAMESPACE, f"aes-{bits}", stream(f"aes-{bits}", bits // 8))
        for bits in (128, 192, 256)
    }
    # Same namespace and name as aes-256, other key bytes: the data key does not unwrap.
    keys["aes-256-other"] = KeyEntry("raw-aes", NAMESPACE, "aes-256", stream("aes-256-other", 32))
    keys["aes-256-renamed"] = KeyEntry("raw-aes", NAMESPACE, "aes-256-renamed", stream("aes-256", 32))
    keys["aes-256-elsewhere"] = KeyEntry("raw-aes", "busta-testkit-other", "aes-256", stream("aes-256", 32))
    pem, other_pem = _rsa_pem("rsa-2048"), _rsa_pem("rsa-2048-other")
    for padding in ("PKCS1", *_OAEP_HASHES):
        name = "rsa-" + padding.lower().replace("_", "-")
        keys[name] = KeyEntry("raw-rsa", NAMESPACE, name, pem, padding)
        keys[name + "-other"] = KeyEntry("raw-rsa", NAMESPACE, name, other_pem, padding)
    return keys


KEYS: dict[str, KeyEntry] = _keys()


def key_json(entry: KeyEntry) -> dict[str, str]:
    """The entry as ``keys.json`` holds it."""
    if entry.kind == "raw-aes":
        return {"type": entry.kind, "namespace": entry.namespace, "name": entry.name, "key-hex": entry.secret.hex()}
    return {
        "type": entry.kind,
        "namespace": entry.namespace,
        "name": entry.name,
        "padding": entry.padding,
        "private-key-pem": entry.secret.decode("ascii"),
    }


def _mgf1(digest: str, seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.new(digest, seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _rsa_encrypt(entry: KeyEntry, message: bytes, label: str) -> bytes:
    private = serialization.load_pem_private_key(entry.secret, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    numbers = private.public_key().public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    if entry.padding == "PKCS1":
        filler = bytes(b % 255 + 1 for b in stream("pkcs1:" + label, k - 3 - len(message)))
        encoded = b"\x00\x02" + filler + b"\x00" + message
    else:
        digest = _OAEP_HASHES[entry.padding]
        h_len = hashlib.new(digest).digest_size
        block = hashlib.new(digest).digest() + bytes(k - len(message) - 2 * h_len - 2) + b"\x01" + message
        seed = stream("oaep:" + label, h_len)
        masked_block = bytes(a ^ b for a, b in zip(block, _mgf1(digest, seed, len(block)), strict=True))
        masked_seed = bytes(a ^ b for a, b in zip(seed, _mgf1(digest, masked_block, h_len), strict=True))
        encoded = b"\x00" + masked_seed + masked_block
    return pow(int.from_bytes(encoded, "big"), numbers.e, numbers.n).to_bytes(k, "big")


def wrap(entry: KeyEntry, data_key: bytes, aad: bytes, label: str) -> tuple[bytes, bytes, bytes]:
    """(provider id, provider info, ciphertext) of ``data_key`` wrapped under ``entry``.

    ``aad`` is the serialized full encryption context (raw AES only); ``label`` picks the IV or padding.
    """
    if entry.kind == "raw-aes":
        iv = stream("wrap-iv:" + label, 12)
        info = entry.name.encode() + (128).to_bytes(4, "big") + (12).to_bytes(4, "big") + iv
        return entry.namespace.encode(), info, AESGCM(entry.secret).encrypt(iv, data_key, aad)
    return entry.namespace.encode(), entry.name.encode(), _rsa_encrypt(entry, data_key, label)
