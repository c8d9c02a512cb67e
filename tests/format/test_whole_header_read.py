"""The straight-through read of a whole v2 header agrees with the field-by-field parser, or defers to it.

``parse_header`` first tries ``_parse_whole_v2``, which reads a v2 header that has fully arrived in
one pass; anything else (v1, a header still arriving, a field that is wrong) goes to ``_parse``,
which says what is missing or wrong. These tests hold the two to the same answer on every input.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite
from busta.errors import BustaError, LimitExceededError
from busta.format import EncryptedDataKey, parse_header
from busta.format._cursor import Cursor, NeedMoreData
from busta.format.header import ParsedHeader, _parse, _parse_whole_v2
from busta.keyrings import MultiKeyring, RawAesKeyring

V2 = [AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384]
KEYRINGS = [RawAesKeyring("ns", f"key-{i}", bytes([i]) * 32) for i in range(3)]


def _message(suite: AlgorithmSuite, context: dict[str, str], keys: int, frame: int = 4096) -> bytes:
    keyring = KEYRINGS[0] if keys == 1 else MultiKeyring(generator=KEYRINGS[0], children=KEYRINGS[1:keys])
    return busta.encrypt(b"x" * 100, keyring=keyring, algorithm=suite, encryption_context=context, frame_length=frame)


def _by_fields(data: bytes, max_edks: int | None = None) -> ParsedHeader | type[NeedMoreData] | Exception:
    """What the field-by-field parser makes of ``data``: the header, NeedMoreData, or the error."""
    try:
        return _parse(Cursor(memoryview(data)), max_edks, None)
    except NeedMoreData:
        return NeedMoreData
    except BustaError as exc:
        return exc


@pytest.mark.parametrize("suite", V2, ids=lambda s: f"0x{s.id:04x}")
@pytest.mark.parametrize("keys", [1, 3])
@pytest.mark.parametrize("context", [{}, {"a": "1"}, {"purpose": "test", "tenant": "é" * 40}])
def test_a_whole_v2_header_is_read_straight_through_to_the_same_header(
    suite: AlgorithmSuite, keys: int, context: dict[str, str]
) -> None:
    message = memoryview(_message(suite, context, keys))
    fast = _parse_whole_v2(message, None)
    assert fast is not None  # the common case takes this path
    assert fast == _by_fields(bytes(message)) == parse_header(message)
    assert [edk.provider_info[:5] for edk in fast.header.encrypted_data_keys] == [b"key-0", b"key-1", b"key-2"][:keys]


def test_a_v1_header_a_short_header_and_a_capped_count_go_field_by_field() -> None:
    v1 = busta.Client(commitment_policy=busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt(
        b"x", keyring=KEYRINGS[0], algorithm=AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    )
    assert _parse_whole_v2(memoryview(v1), None) is None
    whole = _message(V2[0], {"a": "1"}, 3)
    length = parse_header(whole).length  # type: ignore[union-attr]
    for cut in range(length):
        assert _parse_whole_v2(memoryview(whole[:cut]), None) is None
    assert _parse_whole_v2(memoryview(whole), 2) is None  # 3 data keys, 2 allowed: the other parser refuses
    with pytest.raises(LimitExceededError):
        parse_header(whole, max_encrypted_data_keys=2)


@settings(max_examples=300, deadline=None)
@given(
    suite=st.sampled_from(V2),
    keys=st.integers(1, 3),
    position=st.integers(0, 400),
    value=st.integers(0, 255),
    cut=st.integers(0, 400),
)
def test_any_damaged_or_cut_header_gets_the_field_by_field_answer(
    suite: AlgorithmSuite, keys: int, position: int, value: int, cut: int
) -> None:
    data = bytearray(_message(suite, {"k": "v"}, keys))
    if position < len(data):
        data[position] = value
    damaged = bytes(data[: max(cut, 1)] if cut < len(data) else data)
    fast = _parse_whole_v2(memoryview(damaged), None)
    if fast is not None:
        assert fast == _by_fields(damaged)


@given(count=st.integers(1, 0xFFFF))
def test_a_claimed_data_key_count_costs_only_the_bytes_there(count: int) -> None:
    data = bytearray(_message(V2[0], {}, 1))
    context_end = 37  # no context: the count follows the context length
    data[context_end : context_end + 2] = count.to_bytes(2, "big")
    fast = _parse_whole_v2(memoryview(bytes(data)), None)
    assert fast is None or len(fast.header.encrypted_data_keys) == count == 1


def test_the_data_keys_are_the_written_ones() -> None:
    header = _parse_whole_v2(memoryview(_message(V2[1], {}, 2)), None)
    assert header is not None
    assert all(
        isinstance(edk, EncryptedDataKey) and edk.provider_id == "ns" for edk in header.header.encrypted_data_keys
    )
