"""Cases about settings and keys: signed messages, commitment policies, key commitment, wrong keys,
encryption contexts the caller reproduces, and limits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from testkit_case import Case
from testkit_damage import PLAINTEXT
from testkit_rules import REQUIRE, sealed_case
from testkit_wire import SUITES, draft, joined, seal, u16, u32

__all__ = ["policy_cases"]

SIGNED_SUITES = [s.id for s in SUITES.values() if s.curve]


def signed_cases() -> Iterator[Case]:
    for suite in SIGNED_SUITES:
        d = draft(f"signed-{suite:04x}", PLAINTEXT, suite=suite)
        yield sealed_case(
            f"policy-{suite:04x}-signed-refused",
            d,
            "SignedMessageError",
            "a signed message where only unsigned ones are accepted",
            refuse_signed=True,
        )
    d = draft("no-public-key", PLAINTEXT, suite=0x0578, public_key=False)
    yield sealed_case(
        "malformed-signed-without-public-key",
        d,
        "MalformedMessageError",
        "suite 0x0578 but no aws-crypto-public-key pair; header tag valid",
    )
    sealed = seal(draft("footers", PLAINTEXT, suite=0x0578))
    body = joined(sealed[:-2])
    other = seal(draft("footers-other-signer", PLAINTEXT, suite=0x0578))[-1].data
    footers = {
        "signature-empty": b"",
        "signature-not-der": bytes(range(103)),
        "signature-by-another-key": other,
    }
    for what, signature in footers.items():
        yield Case(
            f"signed-{what}",
            body + u16(len(signature)) + signature,
            "AuthenticationError",
            f"suite 0x0578, footer: {what.replace('-', ' ')}",
        )


def policy_commitment_cases() -> Iterator[Case]:
    for suite in SUITES:
        if SUITES[suite].version == 1:
            d = draft(f"policy-{suite:04x}", PLAINTEXT, suite=suite)
            yield sealed_case(
                f"policy-{suite:04x}-under-require-decrypt",
                d,
                "PolicyError",
                f"a v1 (non-committing) message under {REQUIRE}",
                policy=REQUIRE,
            )
    for suite in (0x0478, 0x0578):
        d = draft(f"commit-{suite:04x}", PLAINTEXT, suite=suite)
        real = next(p.data for p in seal(d) if p.name == "commitment key")
        for what, value in (("flipped", bytes([real[0] ^ 1]) + real[1:]), ("zero", bytes(32))):
            committed = replace(d, commitment=value)
            yield sealed_case(
                f"commit-{suite:04x}-commitment-key-{what}",
                committed,
                "AuthenticationError",
                f"commitment key {what}; the header tag is valid over it",
            )
    for suite in (0x0178, 0x0478):
        # Two data keys that unwrap to different data keys: the message is sealed under the first.
        d = draft(f"two-data-keys-{suite:04x}", PLAINTEXT, suite=suite, keys=("aes-256", "rsa-oaep-sha256"))
        other = draft(f"two-data-keys-other-{suite:04x}", PLAINTEXT, suite=suite, keys=("aes-256", "rsa-oaep-sha256"))
        parts = [p for p in other.header if p.name.startswith("data key 2 ")]
        d = replace(d, header=tuple(next((q for q in parts if q.name == p.name), p) for p in d.header))
        yield sealed_case(
            f"commit-{suite:04x}-data-key-of-another-message",
            d,
            "AuthenticationError",
            "data key 2 unwraps to another message's data key",
            keys=("rsa-oaep-sha256",),
        )


def key_context_limit_cases() -> Iterator[Case]:
    d = draft("wrong-keys", PLAINTEXT, keys=("aes-256",))
    for key, why in (
        ("aes-256-other", "same name, other key bytes"),
        ("aes-256-renamed", "other key name"),
        ("aes-256-elsewhere", "other namespace"),
        ("rsa-oaep-sha256", "an RSA key"),
    ):
        yield sealed_case(f"keys-aes-256-decrypted-with-{key}", d, "NoDecryptingKeyError", why, keys=(key,))
    for key, expect in (("rsa-oaep-sha256", "NoDecryptingKeyError"), ("rsa-pkcs1", "AuthenticationError")):
        d = draft(f"wrong-{key}", PLAINTEXT, keys=(key,))
        why = "OAEP fails" if "oaep" in key else "PKCS#1 v1.5 unwraps to a pseudo-random key (implicit rejection)"
        yield sealed_case(f"keys-{key}-decrypted-with-other-key", d, expect, why, keys=(f"{key}-other",))
    d = draft("context", PLAINTEXT)
    yield sealed_case(
        "context-reproduced-value-differs",
        d,
        "EncryptionContextError",
        "purpose=other, stored purpose=busta testkit",
        context={"purpose": "other"},
    )
    for key, expect in (("aes-256", "NoDecryptingKeyError"), ("rsa-oaep-sha256", "AuthenticationError")):
        d = draft(f"required-missing-{key}", PLAINTEXT, keys=(key,), required={"tenant": "a"})
        yield sealed_case(
            f"context-required-missing-{key}",
            d,
            expect,
            "tenant=a was authenticated, not stored; the caller does not supply it",
            keys=(key,),
        )
        yield sealed_case(
            f"context-required-differs-{key}",
            d,
            expect,
            "tenant=a was authenticated; the caller says tenant=b",
            keys=(key,),
            context={"tenant": "b"},
        )
        d = draft(f"extra-pair-{key}", PLAINTEXT, keys=(key,))
        yield sealed_case(
            f"context-reproduced-extra-pair-{key}",
            d,
            expect,
            "the caller adds tenant=a, which the message never had",
            keys=(key,),
            context={"tenant": "a"},
        )
    d = draft("three-keys", PLAINTEXT, keys=("aes-128", "aes-192", "aes-256"))
    yield sealed_case(
        "limit-data-keys-above-max", d, "LimitExceededError", "three data keys, at most two allowed", max_edks=2
    )
    yield sealed_case(
        "limit-header-above-max",
        draft("header-limit", PLAINTEXT),
        "LimitExceededError",
        "a header of about 300 bytes, at most 128 allowed",
        max_header_bytes=128,
    )
    d = draft("big-frames", PLAINTEXT).with_field("frame length", u32(2**31))
    yield sealed_case(
        "limit-frame-length-2-pow-31", d, "LimitExceededError", "frame length 2^31, above 2^31 - 1; tag valid"
    )


def policy_cases() -> Iterator[Case]:
    yield from signed_cases()
    yield from policy_commitment_cases()
    yield from key_context_limit_cases()
