"""Small contexts are remembered both ways: serialized (the same bytes, a bounded store, only exact str
pairs) and parsed from a header (a new dict each time, a bounded store, only well-formed bytes)."""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from busta import context as ctx
from busta.errors import EncryptionContextError, MalformedMessageError
from busta.limits import PARSED_CONTEXT_CACHE_BYTES, SERIALIZED_CONTEXT_CACHE_CHARS, SERIALIZED_CONTEXT_CACHE_ENTRIES


@pytest.fixture(autouse=True)
def empty_store() -> None:
    ctx._remembered.cache_clear()
    ctx._parsed.cache_clear()


def _held() -> int:
    return ctx._remembered.cache_info().currsize


def test_a_remembered_context_serializes_to_the_bytes_of_a_fresh_serialization() -> None:
    pairs = {"tenant": "t-1", "purpose": "backup", "é": "ü"}
    fresh = ctx._serialize_checked(pairs)
    assert ctx.serialize_context(pairs) == fresh
    assert ctx.serialize_context(pairs) == fresh  # from the store
    assert ctx._remembered.cache_info().hits == 1
    assert ctx.serialize_context(dict(reversed(pairs.items()))) == fresh  # another order, same encoding
    assert _held() == 2


def test_a_context_changed_after_it_was_remembered_encodes_its_new_pairs() -> None:
    pairs = {"tenant": "t-1"}
    before = ctx.serialize_context(pairs)
    pairs["tenant"] = "t-2"
    assert ctx.serialize_context(pairs) == ctx._serialize_checked({"tenant": "t-2"}) != before


def test_the_store_never_holds_more_than_its_entries() -> None:
    for i in range(3 * SERIALIZED_CONTEXT_CACHE_ENTRIES):
        assert ctx.serialize_context({"k": str(i)}) == ctx._serialize_checked({"k": str(i)})
        assert _held() == min(i + 1, SERIALIZED_CONTEXT_CACHE_ENTRIES)


def test_large_contexts_are_not_remembered() -> None:
    big = {"k": "v" * SERIALIZED_CONTEXT_CACHE_CHARS}
    assert ctx.serialize_context(big) == ctx._serialize_checked(big)
    assert _held() == 0


class _Str(str):
    def __hash__(self) -> int:
        return 0


def test_str_subclasses_are_serialized_but_not_remembered() -> None:
    pairs: dict[str, str] = {_Str("a"): "b"}
    assert ctx.serialize_context(pairs) == ctx._serialize_checked({"a": "b"})
    assert _held() == 0


def test_bad_pairs_still_raise_the_context_error() -> None:
    with pytest.raises(EncryptionContextError):
        ctx.serialize_context({"k": 1})  # type: ignore[dict-item]
    with pytest.raises(EncryptionContextError):
        ctx.serialize_context({"k": "\udcff"})
    assert _held() == 0


# -- contexts read from headers ---------------------------------------------------------------------


def _parsed_held() -> int:
    return ctx._parsed.cache_info().currsize


def test_a_context_read_again_is_remembered_and_each_reader_gets_its_own_dict() -> None:
    raw = ctx.serialize_context({"tenant": "t-1", "purpose": "backup"})
    first = ctx.deserialize_context(raw)
    first["tenant"] = "changed by the caller"
    second = ctx.deserialize_context(memoryview(raw))
    assert second == {"tenant": "t-1", "purpose": "backup"}
    assert second is not first
    assert ctx._parsed.cache_info().hits == 1


def test_the_parsed_store_never_holds_more_than_its_entries() -> None:
    for i in range(3 * SERIALIZED_CONTEXT_CACHE_ENTRIES):
        assert ctx.deserialize_context(ctx.serialize_context({"k": str(i)})) == {"k": str(i)}
        assert _parsed_held() == min(i + 1, SERIALIZED_CONTEXT_CACHE_ENTRIES)


def test_a_context_above_the_bound_is_read_but_not_remembered() -> None:
    big = {"k": "v" * PARSED_CONTEXT_CACHE_BYTES}
    assert ctx.deserialize_context(ctx.serialize_context(big)) == big
    assert _parsed_held() == 0


@pytest.mark.parametrize("offset", [0, 37])
def test_a_malformed_context_raises_at_its_offset_every_time_and_is_not_remembered(offset: int) -> None:
    raw = ctx.serialize_context({"a": "b", "c": "d"})[:-1]  # the last value cut short
    for _ in range(2):
        with pytest.raises(MalformedMessageError) as raised:
            ctx.deserialize_context(raw, base_offset=offset)
        assert raised.value.offset == offset + len(raw)  # where the value would begin: its one byte is gone
    assert _parsed_held() == 0


def _hostile(n: int) -> bytes:
    """A context of as many one-character pairs as fit the bound; ``n`` makes it one of its own."""
    keys = [bytes([0x21 + i % 90]) if i < 90 else bytes([0x21 + i // 90, 0x21 + i % 90]) for i in range(200)]
    pairs = [struct.pack(">H", 1) + keys[0] + struct.pack(">H", 1) + bytes([0x30 + n])]
    for key in keys[1:]:
        pair = struct.pack(">H", len(key)) + key + b"\x00\x00"
        if 2 + sum(map(len, pairs)) + len(pair) > PARSED_CONTEXT_CACHE_BYTES:
            break
        pairs.append(pair)
    return struct.pack(">H", len(pairs)) + b"".join(pairs)


def test_headers_an_attacker_chooses_fill_the_store_within_its_bound() -> None:
    hostile = [_hostile(n) for n in range(SERIALIZED_CONTEXT_CACHE_ENTRIES)]
    assert len(set(hostile)) == len(hostile) and all(len(raw) <= PARSED_CONTEXT_CACHE_BYTES for raw in hostile)
    tracemalloc.start()
    try:
        for raw in hostile:
            ctx.deserialize_context(raw)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _parsed_held() == SERIALIZED_CONTEXT_CACHE_ENTRIES
    assert held < 320 << 10  # about 245 KiB: busta.limits.PARSED_CONTEXT_CACHE_BYTES says so
