"""Cases made by damaging sealed messages: bit flips, truncations, trailing bytes, moved frames.

None of these bytes is re-authenticated, so each case shows what a decryptor must notice on its
own. Three base messages are damaged: a signed, committing v2 message (suite 0x0578, raw AES key),
an unsigned v1 message (0x0178, raw RSA OAEP key) and a non-framed v1 message (0x0114, raw AES key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from testkit_case import Case
from testkit_wire import PUBLIC_KEY_PAIR, Draft, Part, draft, joined, seal

__all__ = ["BASES", "PLAINTEXT", "Base", "damage_cases", "slug", "tamper_expect"]

PLAINTEXT = bytes((7 * i + 3) % 256 for i in range(150))  # two full 64-byte frames and a final one of 22


@dataclass(frozen=True)
class Base:
    """A base message: its short name, its draft and the key that decrypts it."""

    short: str
    draft: Draft
    key: str

    @property
    def parts(self) -> list[Part]:
        return seal(self.draft)

    @property
    def message(self) -> bytes:
        return joined(self.parts)

    @property
    def uses_aes(self) -> bool:
        return self.key.startswith("aes")


def _bases() -> tuple[Base, ...]:
    return (
        Base("v2signed", draft("base-v2signed", PLAINTEXT, suite=0x0578), "aes-256"),
        Base("v1rsa", draft("base-v1rsa", PLAINTEXT, suite=0x0178, keys=("rsa-oaep-sha256",)), "rsa-oaep-sha256"),
        Base("v1nonframed", draft("base-v1nonframed", PLAINTEXT[:100], suite=0x0114, frame_length=0), "aes-256"),
    )


BASES = _bases()
SIGNED, RSA, NONFRAMED = BASES

_FIXED_FIELDS = ("version", "type", "suite id", "content type", "reserved", "IV length")
_AUTHENTICATED = ("message id", "commitment key", "header IV", "header tag", "signature")
_BODY_AEAD = (" IV", " ciphertext", " tag")


def slug(text: str) -> str:
    return text.lower().replace(" ", "-")


def _is_length(name: str) -> bool:
    return name.endswith((" length", " count")) and name not in ("frame length", "IV length")


def _flip_at(part: Part) -> tuple[int, int]:
    """(byte index, mask) of the flip: the low bit of a length's top byte (it grows by 256 or 2**24, an
    overrun), 2**24 for the non-framed content length, the last bit of a number, else a middle bit."""
    if part.name == "body content length":
        return 4, 0x01
    if _is_length(part.name):
        return 0, 0x01
    if part.name in (*_FIXED_FIELDS, "frame length") or part.name.endswith(("sequence number", "marker")):
        return len(part.data) - 1, 0x01
    return len(part.data) // 2, 0x10


def public_key_pair(base: Base) -> int:
    """The number of the context pair that holds the signature's public key (0: none)."""
    keys = [p.data for p in base.parts if p.name.startswith("context key ") and not p.name.endswith("length")]
    return keys.index(PUBLIC_KEY_PAIR.encode()) + 1 if PUBLIC_KEY_PAIR.encode() in keys else 0


def tamper_expect(base: Base, name: str) -> str:
    """The outcome of flipping one bit of field ``name`` of ``base``."""
    if name in _FIXED_FIELDS or name.endswith(("sequence number", "marker")):
        return "MalformedMessageError"
    if name == "frame length":
        return "MalformedMessageError" if base.draft.nonframed else "AuthenticationError"
    if name in ("body content length", "signature length"):
        return "TruncatedMessageError"
    if _is_length(name):
        return "MalformedMessageError"
    if name.startswith("context ") and name.endswith(f" {public_key_pair(base)}"):
        return "MalformedMessageError"  # a signed suite's public key is gone or not a point: checked before any key
    if name.startswith("context "):  # the raw AES key's AAD is the context; an RSA key unwraps, the tag fails
        return "NoDecryptingKeyError" if base.uses_aes else "AuthenticationError"
    if name.startswith("data key "):
        return "NoDecryptingKeyError"
    if name in _AUTHENTICATED or name.endswith(_BODY_AEAD):
        return "AuthenticationError"
    raise AssertionError(f"no rule for {name}")


def tamper_cases() -> Iterator[Case]:
    for base in BASES:
        for index, part in enumerate(base.parts):
            if not part.data:
                continue
            at, mask = _flip_at(part)
            parts = base.parts
            flipped = bytearray(part.data)
            flipped[at] ^= mask
            parts[index] = Part(part.name, bytes(flipped))
            yield Case(
                f"tamper-{base.short}-{slug(part.name)}",
                joined(parts),
                tamper_expect(base, part.name),
                f"{base.short}: bit 0x{mask:02x} of byte {at} of the {part.name} flipped",
                keys=(base.key,),
            )


def truncate_cases() -> Iterator[Case]:
    yield Case("truncate-empty-message", b"", "TruncatedMessageError", "no bytes at all")
    for base in BASES:
        message, offset = base.message, 0
        for part in base.parts:
            cuts = [("before", offset)] if offset else []
            if len(part.data) >= 2:
                cuts.append(("inside", offset + len(part.data) // 2))
            for where, cut in cuts:
                yield Case(
                    f"truncate-{base.short}-{where}-{slug(part.name)}",
                    message[:cut],
                    "TruncatedMessageError",
                    f"{base.short}: the first {cut} of {len(message)} bytes, ending {where} the {part.name}",
                    keys=(base.key,),
                )
            offset += len(part.data)


def _frame_of(name: str) -> str | None:
    """The frame a part belongs to ("frame 2", "final frame"), or None for header and footer parts."""
    if name.startswith("frame ") and name.split()[1].isdigit():
        return " ".join(name.split()[:2])
    return "final frame" if name.startswith("final frame") else None


def _frames(base: Base) -> tuple[bytes, list[bytes], bytes]:
    """(header, [frame bytes ...], footer) of a framed base."""
    header, frames, footer = b"", dict[str, bytes](), b""
    for part in base.parts:
        frame = _frame_of(part.name)
        if frame is not None:
            frames[frame] = frames.get(frame, b"") + part.data
        elif frames:
            footer += part.data
        else:
            header += part.data
    return header, list(frames.values()), footer


def trailing_cases() -> Iterator[Case]:
    for base in BASES:
        yield Case(
            f"trailing-{base.short}-one-zero-byte",
            base.message + b"\x00",
            "MalformedMessageError",
            f"{base.short}: one zero byte after the end of the message",
            keys=(base.key,),
        )
    yield Case(
        "trailing-v1rsa-message-twice",
        RSA.message * 2,
        "MalformedMessageError",
        "v1rsa: the whole message, then the same message again",
        keys=(RSA.key,),
    )
    _, frames, _ = _frames(RSA)
    for what, extra in (("final-frame-again", frames[-1]), ("regular-frame-after-final", frames[0])):
        yield Case(
            f"trailing-v1rsa-{what}",
            RSA.message + extra,
            "MalformedMessageError",
            f"v1rsa: {what.replace('-', ' ')}",
            keys=(RSA.key,),
        )
    _, _, footer = _frames(SIGNED)
    yield Case(
        "trailing-v1rsa-footer-on-unsigned",
        RSA.message + footer,
        "MalformedMessageError",
        "v1rsa: an unsigned suite's message followed by a footer (another message's)",
        keys=(RSA.key,),
    )


def _other(base: Base) -> Base:
    """The same kind of message under another message id and data key (same wrapping key)."""
    d = base.draft
    suite, keys = d.suite.id, (base.key,)
    return Base(base.short, draft(f"other-{base.short}", PLAINTEXT, suite=suite, keys=keys), base.key)


def mutation_cases() -> Iterator[Case]:
    for base in (SIGNED, RSA):
        header, frames, footer = _frames(base)
        other_header, other_frames, other_footer = _frames(_other(base))
        f1, f2, final = frames
        layouts = {
            "frames-1-and-2-swapped": ([f2, f1, final], "MalformedMessageError"),
            "frame-1-dropped": ([f2, final], "MalformedMessageError"),
            "frame-1-twice": ([f1, f1, f2, final], "MalformedMessageError"),
            "final-frame-first": ([final, f1, f2], "MalformedMessageError"),
            "frame-2-from-another-message": ([f1, other_frames[1], final], "AuthenticationError"),
            "final-frame-from-another-message": ([f1, f2, other_frames[2]], "AuthenticationError"),
        }
        for what, (body, expect) in layouts.items():
            yield _mutated(base, what, header + b"".join(body) + footer, expect)
        yield _mutated(
            base, "header-from-another-message", other_header + f1 + f2 + final + footer, "AuthenticationError"
        )
        dropped = "MalformedMessageError" if footer else "TruncatedMessageError"  # footer bytes read as a frame
        yield _mutated(base, "final-frame-dropped", header + f1 + f2 + footer, dropped)
        if footer:
            yield _mutated(
                base, "footer-from-another-message", header + f1 + f2 + final + other_footer, "AuthenticationError"
            )


def _mutated(base: Base, what: str, message: bytes, expect: str) -> Case:
    return Case(
        f"mutate-{base.short}-{what}", message, expect, f"{base.short}: {what.replace('-', ' ')}", keys=(base.key,)
    )


def damage_cases() -> Iterator[Case]:
    yield from tamper_cases()
    yield from truncate_cases()
    yield from trailing_cases()
    yield from mutation_cases()
