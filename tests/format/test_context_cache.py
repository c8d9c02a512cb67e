"""Serialized small contexts are remembered: the same bytes, a bounded store, only exact str pairs."""

from __future__ import annotations

import pytest

from busta import context as ctx
from busta.errors import EncryptionContextError
from busta.limits import SERIALIZED_CONTEXT_CACHE_CHARS, SERIALIZED_CONTEXT_CACHE_ENTRIES


@pytest.fixture(autouse=True)
def empty_store() -> None:
    ctx._remembered.cache_clear()


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
