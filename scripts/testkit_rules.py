"""Cases about the format's rules: well-formed boundaries that must decrypt, and fields that break a
rule while every tag over them is valid (the writer authenticates whatever it is told to write), so
only the rule itself can reject them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from testkit_case import Case
from testkit_damage import PLAINTEXT
from testkit_wire import SUITES, Draft, Part, draft, joined, seal, u16, u32

__all__ = ["FORBID", "REQUIRE", "field_of", "rule_cases", "sealed_case"]

REQUIRE = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
FORBID = "FORBID_ENCRYPT_ALLOW_DECRYPT"


def sealed_case(name: str, d: Draft, expect: str, comment: str, **settings: Any) -> Case:
    plaintext = b"".join(f.plaintext for f in d.frames) if expect == "success" else b""
    return Case(name, joined(seal(d)), expect, comment, plaintext=plaintext, **settings)


def field_of(d: Draft, name: str) -> bytes:
    return next(p.data for p in d.header if p.name == name)


def success_cases() -> Iterator[Case]:
    for suite in SUITES:
        for frame_length, form in ((64, "framed"), (0, "nonframed")):
            d = draft(f"suite-{suite:04x}-{form}", PLAINTEXT, suite=suite, frame_length=frame_length)
            yield sealed_case(f"success-suite-{suite:04x}-{form}", d, "success", f"suite 0x{suite:04X}, {form}")
    # (plaintext length, end a full last frame with an empty final frame)
    few_sizes: tuple[tuple[int, bool], ...] = ((0, False), (64, False), (64, True))
    every_size = (*few_sizes, (1, False), (63, False), (65, False), (128, False), (128, True), (129, False))
    for suite, sizes in ((0x0478, every_size), (0x0578, every_size), (0x0014, few_sizes), (0x0378, few_sizes)):
        for size, empty_final in sizes:
            shape = "-then-empty-final" if empty_final else ""
            name = f"success-{suite:04x}-plaintext-{size}{shape}"
            d = draft(name, PLAINTEXT[:size], suite=suite, empty_final=empty_final)
            ending = "full frames, then an empty final frame" if empty_final else "the last frame final"
            yield sealed_case(name, d, "success", f"{size} plaintext bytes in 64-byte frames, {ending}")
    for name, frame_length, size in (
        ("frame-length-1", 1, 5),
        ("frame-length-100", 100, 150),
        ("frame-length-above-plaintext", 4096, 150),
        ("nonframed-empty", 0, 0),
    ):
        yield sealed_case(
            f"success-{name}",
            draft(name, PLAINTEXT[:size], frame_length=frame_length),
            "success",
            f"frame length {frame_length}, {size} plaintext bytes",
        )
    for key in (
        "rsa-pkcs1",
        "rsa-oaep-sha1",
        "rsa-oaep-sha256",
        "rsa-oaep-sha384",
        "rsa-oaep-sha512",
        "aes-128",
        "aes-192",
    ):
        d = draft(f"key-{key}", PLAINTEXT, keys=(key,))
        yield sealed_case(f"success-key-{key}", d, "success", f"one data key, wrapped with {key}", keys=(key,))
    yield from _success_shapes()


def _success_shapes() -> Iterator[Case]:
    d = draft("second-key", PLAINTEXT, keys=("aes-128", "rsa-oaep-sha256"))
    yield sealed_case(
        "success-second-data-key-decrypts",
        d,
        "success",
        "two data keys; the keyring holds only the second",
        keys=("rsa-oaep-sha256",),
    )
    d = draft("first-key-unusable", PLAINTEXT, keys=("aes-256", "aes-256"))
    d = d.with_field("data key 1 ciphertext", bytes(len(field_of(d, "data key 1 ciphertext"))))
    yield sealed_case(
        "success-first-data-key-unusable", d, "success", "data key 1 does not unwrap (zeros); data key 2 does"
    )
    d = draft("other-ivs", PLAINTEXT)
    d = replace(d, frames=tuple(replace(f, iv=b"\xff" * 8 + u32(f.sequence)) for f in d.frames))
    yield sealed_case(
        "success-frame-ivs-not-from-sequence", d, "success", "frame IVs ff..ff || sequence: read, not derived"
    )
    utf8 = {"région": "ça va ✓", "purpose": "busta testkit", "∅": ""}
    yield sealed_case(
        "success-context-utf8", draft("utf8", PLAINTEXT, context=utf8), "success", "non-ASCII pairs, empty value"
    )
    many = {f"key-{n:02d}": f"value {n}" for n in range(20)}
    yield sealed_case("success-context-20-pairs", draft("many", PLAINTEXT, context=many), "success", "20 context pairs")
    yield sealed_case("success-context-empty", draft("empty", PLAINTEXT, context={}), "success", "no context: length 0")
    d = draft("count-zero", PLAINTEXT, context={}).with_field("context length", u16(2))
    d = replace(d, header=_insert_after(d.header, "context length", Part("context pair count", u16(0))))
    yield sealed_case("success-context-count-zero", d, "success", "context of length 2 holding a pair count of 0")
    pairs = [(b"purpose", b"busta testkit"), (b"owner", b"testkit")]
    d = draft("unsorted", PLAINTEXT, pairs=pairs)
    yield sealed_case(
        "success-context-unsorted", d, "success", "pairs not sorted by key: read as written, tag verifies"
    )
    d = draft("three-keys", PLAINTEXT, keys=("aes-128", "aes-192", "aes-256"))
    yield sealed_case("success-data-keys-at-max", d, "success", "three data keys, at most three allowed", max_edks=3)
    d = draft("reproduced", PLAINTEXT)
    yield sealed_case(
        "success-reproduced-context-matches",
        d,
        "success",
        "the caller's context equals the stored one",
        context={"purpose": "busta testkit"},
    )
    for key in ("aes-256", "rsa-oaep-sha256"):
        d = draft(f"required-{key}", PLAINTEXT, keys=(key,), required={"tenant": "a"})
        yield sealed_case(
            f"success-required-context-{key}",
            d,
            "success",
            "tenant=a is authenticated, not stored; the caller supplies it",
            keys=(key,),
            context={"tenant": "a"},
        )
    for suite in (0x0178, 0x0478):
        d = draft(f"unsigned-{suite:04x}", PLAINTEXT, suite=suite)
        yield sealed_case(
            f"success-{suite:04x}-refuse-signed",
            d,
            "success",
            "unsigned message, signed ones refused",
            refuse_signed=True,
        )
        yield sealed_case(
            f"success-{suite:04x}-forbid-encrypt-policy", d, "success", f"decrypted under {FORBID}", policy=FORBID
        )
    d = draft("require-policy", PLAINTEXT, suite=0x0578)
    yield sealed_case(
        "success-0578-require-policy", d, "success", f"a committing message under {REQUIRE}", policy=REQUIRE
    )


def _insert_after(parts: tuple[Part, ...], name: str, new: Part) -> tuple[Part, ...]:
    index = [p.name for p in parts].index(name) + 1
    return (*parts[:index], new, *parts[index:])


def _without(d: Draft, prefix: str) -> Draft:
    return replace(d, header=tuple(p for p in d.header if not p.name.startswith(prefix)))


def malformed_header_cases() -> Iterator[Case]:
    v1, v2 = draft("bad-v1", PLAINTEXT, suite=0x0178), draft("bad-v2", PLAINTEXT, suite=0x0478)
    fields = [
        ("version-0", v1, "version", b"\x00"),
        ("version-3", v2, "version", b"\x03"),
        ("type-0x81", v1, "type", b"\x81"),
        ("suite-0000", v1, "suite id", u16(0x0000)),
        ("suite-0070-s3-client", v1, "suite id", u16(0x0070)),
        ("suite-6700-database", v2, "suite id", u16(0x6700)),
        ("suite-v1-in-v2-header", v2, "suite id", u16(0x0178)),
        ("suite-v2-in-v1-header", v1, "suite id", u16(0x0478)),
        ("content-type-0", v2, "content type", b"\x00"),
        ("content-type-3", v2, "content type", b"\x03"),
        ("nonframed-content-type-with-frame-length", v2, "content type", b"\x01"),
        ("frame-length-0", v2, "frame length", u32(0)),
        ("reserved-not-zero", v1, "reserved", b"\x00\x00\x00\x01"),
        ("iv-length-16", v1, "IV length", b"\x10"),
        ("data-key-provider-id-not-utf8", v2, "data key 1 provider id", b"busta-testkit\xff"),
    ]
    for what, d, name, value in fields:
        old = field_of(d, name)
        changed = d.with_field(name, value)
        if name == "data key 1 provider id":
            changed = changed.with_field("data key 1 provider id length", u16(len(value)))
        yield sealed_case(
            f"malformed-{what}",
            changed,
            "MalformedMessageError",
            f"{name} {old.hex()} -> {value.hex()}, header tag valid",
        )
    yield sealed_case(
        "malformed-data-key-count-0",
        _without(v2, "data key 1 ").with_field("data key count", u16(0)),
        "MalformedMessageError",
        "no data keys at all (count 0), header tag valid",
    )
    dup = [(b"purpose", b"a"), (b"purpose", b"b")]
    yield sealed_case(
        "malformed-context-duplicate-key",
        draft("dup", PLAINTEXT, pairs=dup),
        "MalformedMessageError",
        "the key purpose twice, header tag valid",
    )
    bad = [(b"purpose\xff", b"busta testkit")]
    yield sealed_case(
        "malformed-context-key-not-utf8",
        draft("utf8-key", PLAINTEXT, pairs=bad),
        "MalformedMessageError",
        "a context key that is not UTF-8, header tag valid",
    )
    d = draft("ctx-extra", PLAINTEXT)
    length = int.from_bytes(field_of(d, "context length"), "big")
    d = d.with_field("context length", u16(length + 1)).with_field("context value 1", b"busta testkit\x00")
    d = d.with_field("context value 1 length", u16(13))
    yield sealed_case(
        "malformed-context-bytes-after-last-pair",
        d,
        "MalformedMessageError",
        "the context length counts one byte after its last pair, header tag valid",
    )
    yield from _data_key_cases()
    for version, suite in ((1, 0x0178), (2, 0x0478)):
        encoded = base64.b64encode(joined(seal(draft(f"base64-v{version}", PLAINTEXT, suite=suite))))
        yield Case(
            f"malformed-base64-encoded-v{version}-message",
            encoded,
            "MalformedMessageError",
            f"a valid v{version} message, base64-encoded (it starts {encoded[:2].decode()})",
        )


def _data_key_cases() -> Iterator[Case]:
    d = draft("empty-pid", PLAINTEXT).with_field("data key 1 provider id", b"")
    d = d.with_field("data key 1 provider id length", u16(0))
    yield sealed_case(
        "malformed-data-key-empty-provider-id",
        d,
        "NoDecryptingKeyError",
        "the only data key has an empty provider id: no keyring can own it",
    )
    d = draft("empty-pid-then-good", PLAINTEXT, keys=("aes-256", "aes-256")).with_field("data key 1 provider id", b"")
    d = d.with_field("data key 1 provider id length", u16(0))
    yield sealed_case(
        "success-data-key-empty-provider-id-then-good",
        d,
        "success",
        "data key 1 has an empty provider id; data key 2 decrypts",
    )


def malformed_body_cases() -> Iterator[Case]:
    base = draft("bad-body", PLAINTEXT)
    f1, f2, final = base.frames
    longer = replace(final, plaintext=PLAINTEXT[:65])
    bodies = {
        "sequence-starts-at-2": ([replace(f, sequence=f.sequence + 1) for f in base.frames], "MalformedMessageError"),
        "sequence-skips-2": ([f1, replace(f2, sequence=3), replace(final, sequence=4)], "MalformedMessageError"),
        "sequence-repeats-1": ([f1, replace(f2, sequence=1), replace(final, sequence=2)], "MalformedMessageError"),
        "final-frame-longer-than-frame-length": ([f1, f2, longer], "MalformedMessageError"),
        "no-final-frame": (
            [f1, f2, replace(final, plaintext=PLAINTEXT[128:] + bytes(42), final=False)],
            "TruncatedMessageError",
        ),
        "regular-frame-after-final": ([f1, replace(f2, final=True), replace(f2, sequence=3)], "MalformedMessageError"),
    }
    for what, (frames, expect) in bodies.items():
        d = replace(base, frames=tuple(frames))
        yield sealed_case(f"malformed-{what}", d, expect, f"{what.replace('-', ' ')}; every frame tag valid")
    short = draft("nonframed-limit", PLAINTEXT[:100], frame_length=0)
    frame = short.frames[0]
    for what, declared in (("2-pow-36", 2**36), ("100-mib", 100 << 20)):  # above the GCM limit; above 64 MiB
        d = replace(short, frames=(replace(frame, declared=declared),))
        yield sealed_case(
            f"limit-nonframed-content-length-{what}",
            d,
            "LimitExceededError",
            f"non-framed body claims {declared} bytes, holds 100",
        )


def rule_cases() -> Iterator[Case]:
    yield from success_cases()
    yield from malformed_header_cases()
    yield from malformed_body_cases()
