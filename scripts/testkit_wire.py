"""A small, independent ESDK message writer for the testkit generator.

It shares no code with busta, so the kit checks busta rather than busta's own writer. A message
is first a :class:`Draft` (header fields, frames, signer) that a case may bend out of shape; then
:func:`seal` writes it as named :class:`Part` s, authenticating whatever the draft says (a draft
with a bad field gets a valid header tag over the bad field). A case that flips or cuts bytes
works on the sealed parts, so those bytes are not re-authenticated.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from testkit_keys import KEYS, stream, wrap

__all__ = ["SUITES", "Draft", "Frame", "Part", "Suite", "draft", "joined", "seal", "serialize_context"]

PUBLIC_KEY_PAIR = "aws-crypto-public-key"
FRAME_STRING = b"AWSKMSEncryptionClient Frame"
FINAL_STRING = b"AWSKMSEncryptionClient Final Frame"
SINGLE_STRING = b"AWSKMSEncryptionClient Single Block"
FINAL_MARKER = 0xFFFFFFFF


@dataclass(frozen=True)
class Suite:
    """An algorithm suite: wire id, format version, key length, KDF hash, signature curve."""

    id: int
    version: int
    key_bytes: int
    kdf: str | None
    curve: str | None

    @property
    def committing(self) -> bool:
        return self.version == 2


SUITES = {
    s.id: s
    for s in (
        Suite(0x0014, 1, 16, None, None),
        Suite(0x0046, 1, 24, None, None),
        Suite(0x0078, 1, 32, None, None),
        Suite(0x0114, 1, 16, "sha256", None),
        Suite(0x0146, 1, 24, "sha256", None),
        Suite(0x0178, 1, 32, "sha256", None),
        Suite(0x0214, 1, 16, "sha256", "p256"),
        Suite(0x0346, 1, 24, "sha384", "p384"),
        Suite(0x0378, 1, 32, "sha384", "p384"),
        Suite(0x0478, 2, 32, "sha512", None),
        Suite(0x0578, 2, 32, "sha512", "p384"),
    )
}
_HASH: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_ORDERS = {  # the group orders of P-256 and P-384
    "p256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "p384": int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16),
}
_CURVE = {"p256": (ec.SECP256R1, hashes.SHA256), "p384": (ec.SECP384R1, hashes.SHA384)}


@dataclass(frozen=True)
class Part:
    """A named run of bytes of a sealed message."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Frame:
    """One frame to write: ``final`` frames carry their content length (``declared`` if set)."""

    sequence: int
    iv: bytes
    plaintext: bytes
    final: bool
    declared: int | None = None


@dataclass(frozen=True)
class Draft:
    """A message before sealing. ``header`` holds the fields before the header IV / tag, in order."""

    suite: Suite
    data_key: bytes
    message_id: bytes
    header: tuple[Part, ...]
    frames: tuple[Frame, ...]
    nonframed: bool = False
    required: Mapping[str, str] = field(default_factory=dict)
    signer: ec.EllipticCurvePrivateKey | None = None
    commitment: bytes | None = None  # v2: the value written (default: the real one)

    def with_field(self, name: str, data: bytes) -> Draft:
        """The draft with header field ``name`` replaced."""
        assert any(p.name == name for p in self.header), name
        return replace(self, header=tuple(Part(p.name, data) if p.name == name else p for p in self.header))


def u16(n: int) -> bytes:
    return struct.pack(">H", n)


def u32(n: int) -> bytes:
    return struct.pack(">I", n)


def serialize_context(context: Mapping[str, str]) -> bytes:
    """The ESDK serialization: pair count, then length-prefixed key and value, sorted by key bytes."""
    return _serialize_pairs(sorted((k.encode(), v.encode()) for k, v in context.items()))


def _serialize_pairs(pairs: Sequence[tuple[bytes, bytes]]) -> bytes:
    if not pairs:
        return b""
    return u16(len(pairs)) + b"".join(u16(len(k)) + k + u16(len(v)) + v for k, v in pairs)


def context_parts(pairs: Sequence[tuple[bytes, bytes]]) -> tuple[Part, ...]:
    """The context length and its fields as parts (pairs written in the order given)."""
    body: list[Part] = [Part("context pair count", u16(len(pairs)))] if pairs else []
    for n, (key, value) in enumerate(pairs, start=1):
        body += [Part(f"context key {n} length", u16(len(key))), Part(f"context key {n}", key)]
        body += [Part(f"context value {n} length", u16(len(value))), Part(f"context value {n}", value)]
    return (Part("context length", u16(sum(len(p.data) for p in body))), *body)


def edk_parts(n: int, provider: bytes, info: bytes, ciphertext: bytes) -> tuple[Part, ...]:
    return (
        Part(f"data key {n} provider id length", u16(len(provider))),
        Part(f"data key {n} provider id", provider),
        Part(f"data key {n} provider info length", u16(len(info))),
        Part(f"data key {n} provider info", info),
        Part(f"data key {n} ciphertext length", u16(len(ciphertext))),
        Part(f"data key {n} ciphertext", ciphertext),
    )


def _signer(suite: Suite, label: str) -> ec.EllipticCurvePrivateKey | None:
    if suite.curve is None:
        return None
    curve = _CURVE[suite.curve][0]()
    order = _ORDERS[suite.curve]
    scalar = int.from_bytes(stream("signer:" + label, 64), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, curve)


def public_key_value(signer: ec.EllipticCurvePrivateKey) -> str:
    point = signer.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return base64.b64encode(point).decode()


def frames_for(plaintext: bytes, frame_length: int, *, empty_final: bool = False) -> tuple[Frame, ...]:
    """Regular frames of ``frame_length`` and a final frame; after an exact multiple the final frame is
    full, or with ``empty_final`` empty after all-full regular frames."""
    chunks = [plaintext[i : i + frame_length] for i in range(0, len(plaintext), frame_length)] or [b""]
    if empty_final and len(chunks[-1]) == frame_length:
        chunks.append(b"")
    return tuple(
        Frame(n, u32(n).rjust(12, b"\x00"), chunk, final=n == len(chunks)) for n, chunk in enumerate(chunks, start=1)
    )


def draft(
    label: str,
    plaintext: bytes,
    *,
    suite: int = 0x0478,
    frame_length: int = 64,
    context: Mapping[str, str] | None = None,
    required: Mapping[str, str] | None = None,
    keys: Sequence[str] = ("aes-256",),
    empty_final: bool = False,
    pairs: Sequence[tuple[bytes, bytes]] | None = None,
    public_key: bool = True,
) -> Draft:
    """A well-formed message for ``plaintext``; ``frame_length=0`` makes it non-framed.

    Message id, data key, IVs and signing key all follow from ``label``. ``pairs`` writes the stored
    context exactly as given (order, duplicates, bytes); ``public_key=False`` leaves a signed suite's
    public key out of the context.
    """
    spec = SUITES[suite]
    stored = dict({"purpose": "busta testkit"} if context is None else context)
    signer = _signer(spec, label)
    if signer is not None and public_key:
        stored[PUBLIC_KEY_PAIR] = public_key_value(signer)
    required = dict(required or {})
    data_key = stream("data-key:" + label, spec.key_bytes)
    message_id = stream("message-id:" + label, 16 if spec.version == 1 else 32)
    if pairs is None:
        pairs = sorted((k.encode(), v.encode()) for k, v in stored.items())
    required_pairs = [(k.encode(), v.encode()) for k, v in required.items()]
    aad = _serialize_pairs(sorted([*dict(pairs).items(), *required_pairs]))
    edks: tuple[Part, ...] = ()
    for n, name in enumerate(keys, start=1):
        edks += edk_parts(n, *wrap(KEYS[name], data_key, aad, f"{label}:{n}"))
    head: tuple[Part, ...] = (Part("version", bytes([spec.version])),)
    if spec.version == 1:
        head += (Part("type", b"\x80"),)
    head += (Part("suite id", u16(suite)), Part("message id", message_id), *context_parts(pairs))
    head += (
        Part("data key count", u16(len(keys))),
        *edks,
        Part("content type", b"\x01" if not frame_length else b"\x02"),
    )
    if spec.version == 1:
        head += (Part("reserved", bytes(4)), Part("IV length", b"\x0c"))
    head += (Part("frame length", u32(frame_length)),)
    if frame_length:
        frames = frames_for(plaintext, frame_length, empty_final=empty_final)
    else:
        frames = (Frame(1, stream("nonframed-iv:" + label, 12), plaintext, final=True),)
    return Draft(spec, data_key, message_id, head, frames, not frame_length, required, signer)


def keys_of(d: Draft) -> tuple[bytes, bytes]:
    """(encryption key, commitment key) of a draft, per its suite's KDF."""
    spec = d.suite
    if spec.kdf is None:
        return d.data_key, b""
    if spec.version == 1:
        info = u16(spec.id) + d.message_id
        return HKDF(_HASH[spec.kdf](), spec.key_bytes, None, info).derive(d.data_key), b""
    key = HKDF(hashes.SHA512(), 32, d.message_id, u16(spec.id) + b"DERIVEKEY").derive(d.data_key)
    return key, HKDF(hashes.SHA512(), 32, d.message_id, b"COMMITKEY").derive(d.data_key)


def _frame_parts(d: Draft, key: AESGCM, frame: Frame) -> list[Part]:
    length = frame.declared if frame.declared is not None else len(frame.plaintext)
    if d.nonframed:
        aad = d.message_id + SINGLE_STRING + u32(1) + struct.pack(">Q", length)
        sealed = key.encrypt(frame.iv, frame.plaintext, aad)
        return [
            Part("body IV", frame.iv),
            Part("body content length", struct.pack(">Q", length)),
            Part("body ciphertext", sealed[:-16]),
            Part("body tag", sealed[-16:]),
        ]
    string = FINAL_STRING if frame.final else FRAME_STRING
    aad = d.message_id + string + u32(frame.sequence) + struct.pack(">Q", len(frame.plaintext))
    sealed = key.encrypt(frame.iv, frame.plaintext, aad)
    if not frame.final:
        name = f"frame {frame.sequence}"
        return [
            Part(f"{name} sequence number", u32(frame.sequence)),
            Part(f"{name} IV", frame.iv),
            Part(f"{name} ciphertext", sealed[:-16]),
            Part(f"{name} tag", sealed[-16:]),
        ]
    return [
        Part("final frame marker", u32(FINAL_MARKER)),
        Part("final frame sequence number", u32(frame.sequence)),
        Part("final frame IV", frame.iv),
        Part("final frame content length", u32(length)),
        Part("final frame ciphertext", sealed[:-16]),
        Part("final frame tag", sealed[-16:]),
    ]


def seal(d: Draft) -> list[Part]:
    """Write the draft: header (with a tag over its fields as they are), body and, if signed, footer."""
    enc_key, commitment = keys_of(d)
    aead = AESGCM(enc_key)
    parts = list(d.header)
    if d.suite.version == 2:
        parts.append(Part("commitment key", d.commitment if d.commitment is not None else commitment))
    header_aad = joined(parts) + serialize_context(d.required)
    iv = bytes(12)
    if d.suite.version == 1:
        parts.append(Part("header IV", iv))
    parts.append(Part("header tag", aead.encrypt(iv, b"", header_aad)))
    for frame in d.frames:
        parts += _frame_parts(d, aead, frame)
    if d.signer is not None:
        curve_hash = _CURVE[d.suite.curve or ""][1]
        signature = d.signer.sign(joined(parts), ec.ECDSA(curve_hash(), deterministic_signing=True))
        parts += [Part("signature length", u16(len(signature))), Part("signature", signature)]
    return parts


def joined(parts: Sequence[Part]) -> bytes:
    return b"".join(p.data for p in parts)
