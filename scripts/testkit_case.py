"""One testkit case and its file form.

A case file is a few ``name: value`` lines (ASCII), one empty line, then the message bytes::

    busta testkit 1
    expect: AuthenticationError
    key: aes-256
    commitment-policy: REQUIRE_ENCRYPT_ALLOW_DECRYPT
    comment: one bit of the header tag flipped

    <message bytes, to the end of the file>
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ALLOW", "FORMAT_LINE", "Case", "render"]

FORMAT_LINE = "busta testkit 1"
ALLOW = "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
ERROR_CLASSES = frozenset(
    {
        "AuthenticationError",
        "EncryptionContextError",
        "LimitExceededError",
        "MalformedMessageError",
        "NoDecryptingKeyError",
        "PolicyError",
        "SignedMessageError",
        "TruncatedMessageError",
    }
)


@dataclass(frozen=True)
class Case:
    """A message and how decrypting it must end: ``expect`` is "success" or an error class name."""

    name: str
    message: bytes
    expect: str
    comment: str
    plaintext: bytes = b""
    keys: tuple[str, ...] = ("aes-256",)
    policy: str = ALLOW
    context: Mapping[str, str] | None = None  # the reproduced encryption context, if any
    max_edks: int | None = None
    refuse_signed: bool = False
    max_header_bytes: int | None = None

    def __post_init__(self) -> None:
        assert self.expect == "success" or self.expect in ERROR_CLASSES, self.expect
        assert self.name.replace("-", "").replace(".", "").isalnum() and self.name.islower(), self.name
        assert "\n" not in self.comment


def render(case: Case) -> bytes:
    """The case file's bytes."""
    lines = [FORMAT_LINE, f"expect: {case.expect}"]
    if case.expect == "success":
        lines.append(f"plaintext-sha256: {hashlib.sha256(case.plaintext).hexdigest()}")
        lines.append(f"plaintext-length: {len(case.plaintext)}")
    lines += [f"key: {name}" for name in case.keys]
    lines.append(f"commitment-policy: {case.policy}")
    if case.context is not None:
        lines.append("encryption-context: " + json.dumps(dict(case.context), sort_keys=True, ensure_ascii=True))
    if case.max_edks is not None:
        lines.append(f"max-encrypted-data-keys: {case.max_edks}")
    if case.refuse_signed:
        lines.append("refuse-signed: true")
    if case.max_header_bytes is not None:
        lines.append(f"max-header-bytes: {case.max_header_bytes}")
    lines.append(f"comment: {case.comment}")
    return ("\n".join(lines) + "\n\n").encode("ascii") + case.message  # the header is ASCII
