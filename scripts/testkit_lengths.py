"""Cases that bend the length-prefixed items of the sealed base messages (nothing re-authenticated).

- ``lengths-<base>-<length or count>-max``: a length set to its largest value. A length inside the
  context then overruns the context (malformed); a final frame's content length overruns the frame
  length (malformed); every other length overruns the message (truncated), and a non-framed body's
  UInt64 length overruns the format's limit. A count that large is malformed.
- ``lengths-<base>-<item>-shrunk`` / ``-grown``: an item one byte shorter or longer, with its length
  (and the context's length) changed to match, so the message still parses and only the item's
  content is wrong: the same outcome as a flipped bit of that item.
"""

from __future__ import annotations

from collections.abc import Iterator

from testkit_case import Case
from testkit_damage import BASES, Base, slug, tamper_expect
from testkit_wire import Part, joined

__all__ = ["length_cases"]

_ITEM_PREFIXES = ("context key ", "context value ", "data key ")


def _is_length(name: str) -> bool:
    return name.endswith(" length") and name not in ("frame length", "IV length")


def _max_expect(name: str) -> str:
    if name.endswith(" count"):  # 65535 pairs overrun the context; 65535 data keys misread the rest of the message
        return "MalformedMessageError"
    if name == "body content length":
        return "LimitExceededError"
    if (name.startswith("context ") and name != "context length") or name == "final frame content length":
        return "MalformedMessageError"
    return "TruncatedMessageError"


def max_cases() -> Iterator[Case]:
    for base in BASES:
        for index, part in enumerate(base.parts):
            if not (_is_length(part.name) or part.name.endswith(" count")):
                continue
            parts = base.parts
            parts[index] = Part(part.name, b"\xff" * len(part.data))
            yield Case(
                f"lengths-{base.short}-{slug(part.name)}-max",
                joined(parts),
                _max_expect(part.name),
                f"{base.short}: the {part.name} set to {2 ** (8 * len(part.data)) - 1}",
                keys=(base.key,),
            )


def _resized(base: Base, item: str, delta: int) -> bytes:
    """The sealed base with ``item`` one byte shorter (``delta`` -1) or longer (+1), lengths to match."""
    parts = base.parts
    names = [p.name for p in parts]
    at = names.index(item)
    data = parts[at].data
    parts[at] = Part(item, data[:-1] if delta < 0 else data + b"x")
    resized = [f"{item} length"] + (["context length"] if item.startswith("context ") else [])
    for name in resized:
        where = names.index(name)
        old = parts[where].data
        parts[where] = Part(name, (int.from_bytes(old, "big") + delta).to_bytes(len(old), "big"))
    return joined(parts)


def resize_cases() -> Iterator[Case]:
    for base in BASES:
        items = [
            p.name for p in base.parts if p.name.startswith(_ITEM_PREFIXES) and not p.name.endswith(("length", "count"))
        ]
        items += ["signature"] if base.draft.signer is not None else []
        for item in items:
            for delta, how in ((-1, "shrunk"), (1, "grown")):
                yield Case(
                    f"lengths-{base.short}-{slug(item)}-{how}",
                    _resized(base, item, delta),
                    tamper_expect(base, item),
                    f"{base.short}: the {item} {how} by one byte, its length to match",
                    keys=(base.key,),
                )


def length_cases() -> Iterator[Case]:
    yield from max_cases()
    yield from resize_cases()
