"""Branch key store items are untrusted: whatever DynamoDB hands back, reading it either yields a checked
encryption context or raises a KeyringError, never another exception; and a valid item survives the
round trip context -> item -> context unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from busta.errors import KeyringError
from busta.keyrings._ddb_items import active_context, decrypt_only_context, item_context, materials_from, to_item

ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERSION = "83eec007-5659-4554-bf11-699b90f41ac6"
BASE = decrypt_only_context(
    "bbb9baf1-03e6-4716-a586-6bf29995314b",
    VERSION,
    "2023-06-03T19:03:29.358000Z",
    logical_name="logical",
    kms_arn=ARN,
    custom={"department": "admin"},
)
ITEM = to_item(active_context(BASE), b"wrapped")

names = st.sampled_from([*ITEM, "extra", "tablename", "enc", ""]) | st.text(max_size=8)
values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=40)),
    st.builds(lambda n: {"N": n}, st.sampled_from(["1", "2", "x"])),
    st.builds(lambda b: {"B": b}, st.binary(max_size=40)),
    st.builds(lambda s, b: {"S": s, "B": b}, st.text(max_size=4), st.binary(max_size=4)),
    st.just({}),
    st.none(),
    st.integers(),
    st.sampled_from(list(ITEM.values())),
)


def test_the_specifications_active_item_reads_back_as_its_context() -> None:
    context, wrapped = item_context(ITEM, "logical")
    assert context == active_context(BASE)
    assert wrapped == b"wrapped"
    materials = materials_from(context, bytes(32))
    assert (materials.version, materials.encryption_context) == (VERSION, {"department": "admin"})


@settings(max_examples=200, deadline=None)
@given(changes=st.dictionaries(names, values, max_size=6), dropped=st.sets(st.sampled_from(list(ITEM)), max_size=3))
def test_any_changed_item_reads_as_a_checked_context_or_a_keyring_error(
    changes: dict[str, Any], dropped: set[str]
) -> None:
    item: dict[str, Any] = {k: v for k, v in ITEM.items() if k not in dropped}
    item.update(changes)
    try:
        context, wrapped = item_context(item, "logical")
    except KeyringError:
        return
    assert context["tablename"] == "logical"
    assert "enc" not in context and wrapped
    assert context["hierarchy-version"] == "1"
    assert ("version" in context) == (context["type"] == "branch:ACTIVE")


@pytest.mark.parametrize("item", [None, [], {}, "text", {"enc": {"B": b"x"}}])
def test_what_is_not_an_item_at_all_is_a_keyring_error(item: object) -> None:
    with pytest.raises(KeyringError):
        item_context(item, "logical")
