"""Properties that hold for every input: round trips through each API style, and the pure wire layers.

The message properties run every algorithm suite (each under the commitment
policy that lets it encrypt), random plaintext sizes, frame lengths down to one
byte, non-ASCII encryption contexts, and random read and write step sizes.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import cycle

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, ContentType, EncryptedDataKey, Header
from busta.context import PUBLIC_KEY_FIELD, RESERVED_PREFIX, deserialize_context, serialize_context
from busta.errors import EncryptionContextError
from busta.format import HeaderAuth, parse_header, serialize_header, serialize_header_auth
from busta.keyrings import RawAesKeyring

from .conftest import policy_for

MAX_PLAINTEXT = 20 * 1024
MAX_FRAMES_PER_EXAMPLE = 1000  # keeps one-byte frames from turning one example into 20,000 AES calls
REGULAR_FRAME_OVERHEAD = 4 + 12 + 16  # sequence number, IV, tag
FINAL_FRAME_OVERHEAD = 4 + 4 + 12 + 4 + 16  # marker, sequence number, IV, content length, tag

# --- strategies ---------------------------------------------------------------------------------

suites = st.sampled_from(list(AlgorithmSuite))
utf8_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
context_keys = utf8_text.filter(lambda key: not key.startswith(RESERVED_PREFIX))
contexts = st.dictionaries(context_keys, utf8_text, max_size=6)
frame_lengths = st.one_of(st.integers(1, 16), st.integers(1, 5000))
step_sizes = st.lists(st.one_of(st.integers(1, 8), st.integers(1, 2048)), min_size=1, max_size=6)


@dataclass(frozen=True)
class Case:
    suite: AlgorithmSuite
    plaintext: bytes
    frame_length: int
    context: dict[str, str]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A suite, a plaintext of 0..20 KiB (at most a few hundred frames), a frame length and a context."""
    frame_length = draw(frame_lengths)
    cap = min(MAX_PLAINTEXT, frame_length * MAX_FRAMES_PER_EXAMPLE)
    boundaries = [n for n in (0, 1, frame_length - 1, frame_length, frame_length + 1, 2 * frame_length + 1) if n <= cap]
    size = draw(
        st.one_of(
            st.sampled_from(boundaries),
            st.integers(0, cap),
            st.integers(0, 1024).map(lambda n: n * cap // 1024),  # spread evenly up to the cap
        )
    )
    seed = draw(st.integers(0, 2**32 - 1))
    return Case(draw(suites), random.Random(seed).randbytes(size), frame_length, draw(contexts))


LARGEST_CASE = Case(
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    bytes(range(256)) * (MAX_PLAINTEXT // 256),
    MAX_PLAINTEXT // MAX_FRAMES_PER_EXAMPLE,
    {"ключ": "值", "": "empty key", "emoji 🔑": ""},
)


def _keyring() -> RawAesKeyring:
    return RawAesKeyring("properties", "key-1", bytes(range(32)))


KEYRING = _keyring()


def _chunks(data: bytes, steps: list[int]) -> Iterator[bytes]:
    sizes = cycle(steps)
    pos = 0
    while pos < len(data):
        step = next(sizes)
        yield data[pos : pos + step]
        pos += step


def _read_all(reader: io.RawIOBase, steps: list[int]) -> bytes:
    """Read ``reader`` to EOF with ``read(n)`` calls whose sizes cycle through ``steps``."""
    out = bytearray()
    for step in cycle(steps):
        piece = reader.read(step)
        assert piece is not None
        if not piece:
            return bytes(out)
        assert len(piece) <= step
        out += piece
    raise AssertionError("unreachable")


def _encrypt_one_shot(case: Case) -> bytes:
    return busta.Client(commitment_policy=policy_for(case.suite)).encrypt(
        case.plaintext,
        keyring=KEYRING,
        encryption_context=case.context,
        algorithm=case.suite,
        frame_length=case.frame_length,
    )


def _encrypt_with_reader(case: Case, read_size: int, steps: list[int]) -> bytes:
    reader = busta.Client(commitment_policy=policy_for(case.suite)).encrypting_reader(
        io.BytesIO(case.plaintext),
        keyring=KEYRING,
        encryption_context=case.context,
        algorithm=case.suite,
        frame_length=case.frame_length,
        read_size=read_size,
    )
    return _read_all(reader, steps)


def _encrypt_with_writer(case: Case, steps: list[int]) -> bytes:
    sink = io.BytesIO()
    with busta.Client(commitment_policy=policy_for(case.suite)).encrypting_writer(
        sink, keyring=KEYRING, encryption_context=case.context, algorithm=case.suite, frame_length=case.frame_length
    ) as writer:
        for chunk in _chunks(case.plaintext, steps):
            assert writer.write(chunk) == len(chunk)
    return sink.getvalue()


def _body_end(header_length: int, plaintext_length: int, frame_length: int) -> int:
    """Where the body of busta's framed message ends: full frames, then a final frame that is
    empty only when the whole plaintext is."""
    regular = max(0, (plaintext_length - 1) // frame_length)
    final = plaintext_length - regular * frame_length
    return header_length + regular * (REGULAR_FRAME_OVERHEAD + frame_length) + FINAL_FRAME_OVERHEAD + final


def _check_decrypts_to(case: Case, message: bytes) -> None:
    """``message`` decrypts to the case's plaintext, with its context, suite and frame length, and has
    the exact framed layout (plus a well-formed footer for signed suites)."""
    result = busta.Client(commitment_policy=policy_for(case.suite)).decrypt(message, keyring=KEYRING)
    assert result.plaintext == case.plaintext
    header = result.header
    assert header.suite is case.suite
    assert header.content_type is ContentType.FRAMED
    assert header.frame_length == case.frame_length
    stored = dict(header.encryption_context)
    assert (stored.pop(PUBLIC_KEY_FIELD, None) is not None) == case.suite.signed
    assert stored == case.context
    assert result.encryption_context == header.encryption_context
    parsed = parse_header(message)
    assert parsed is not None
    end = _body_end(parsed.length, len(case.plaintext), case.frame_length)
    footer = message[end:]
    if case.suite.signed:
        assert int.from_bytes(footer[:2], "big") == len(footer) - 2 > 0
    else:
        assert footer == b""


# --- whole messages -----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(case=cases())
@example(case=LARGEST_CASE)
@example(case=Case(AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY, bytes(MAX_PLAINTEXT), 5000, {}))
def test_one_shot_encrypt_then_decrypt_returns_the_plaintext_and_context(case: Case) -> None:
    _check_decrypts_to(case, _encrypt_one_shot(case))


@settings(max_examples=50, deadline=None)
@given(case=cases(), read_size=st.integers(1, 3000), read_steps=step_sizes, write_steps=step_sizes)
@example(case=LARGEST_CASE, read_size=1, read_steps=[1, 4093], write_steps=[1, 2, 5000])
def test_one_shot_reader_and_writer_encryption_produce_messages_that_decrypt_identically(
    case: Case, read_size: int, read_steps: list[int], write_steps: list[int]
) -> None:
    messages = {
        "one-shot": _encrypt_one_shot(case),
        "reader": _encrypt_with_reader(case, read_size, read_steps),
        "writer": _encrypt_with_writer(case, write_steps),
    }
    for message in messages.values():
        _check_decrypts_to(case, message)
    if not case.suite.signed:  # unsigned messages differ only in random bytes, never in layout
        assert len({len(m) for m in messages.values()}) == 1


@settings(max_examples=50, deadline=None)
@given(case=cases(), read_size=st.integers(1, 3000), read_steps=step_sizes, write_steps=step_sizes)
@example(case=LARGEST_CASE, read_size=1, read_steps=[1, 4093], write_steps=[1, 2, 5000])
def test_one_shot_reader_and_writer_decryption_return_the_same_plaintext(
    case: Case, read_size: int, read_steps: list[int], write_steps: list[int]
) -> None:
    message = _encrypt_one_shot(case)
    policy = policy_for(case.suite)
    one_shot = busta.Client(commitment_policy=policy).decrypt(message, keyring=KEYRING).plaintext
    reader = busta.Client(commitment_policy=policy).decrypting_reader(
        io.BytesIO(message), keyring=KEYRING, read_size=read_size
    )
    from_reader = _read_all(reader, read_steps)
    assert {k: v for k, v in reader.encryption_context.items() if k != PUBLIC_KEY_FIELD} == case.context
    sink = io.BytesIO()
    with busta.Client(commitment_policy=policy).decrypting_writer(sink, keyring=KEYRING) as writer:
        for chunk in _chunks(message, write_steps):
            writer.write(chunk)
    assert one_shot == from_reader == sink.getvalue() == case.plaintext


@settings(max_examples=50, deadline=None)
@given(case=cases(), data=st.data())
def test_decrypt_accepts_any_part_of_the_stored_context_and_refuses_a_changed_value(
    case: Case, data: st.DataObject
) -> None:
    message = _encrypt_one_shot(case)
    policy = policy_for(case.suite)
    subset = data.draw(st.sets(st.sampled_from(sorted(case.context))) if case.context else st.just(set[str]()))
    expected = {key: case.context[key] for key in subset}
    decrypted = (
        busta.Client(commitment_policy=policy).decrypt(message, keyring=KEYRING, encryption_context=expected).plaintext
    )
    assert decrypted == case.plaintext
    if subset:
        changed = {**expected, min(subset): expected[min(subset)] + "x"}
        with pytest.raises(EncryptionContextError):
            busta.Client(commitment_policy=policy).decrypt(message, keyring=KEYRING, encryption_context=changed)


# --- the encryption context encoding -------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(context=st.dictionaries(context_keys | st.just("aws-crypto-public-key"), utf8_text, max_size=12))
def test_context_serialization_round_trips(context: dict[str, str]) -> None:
    assert deserialize_context(serialize_context(context)) == context


@settings(max_examples=200, deadline=None)
@given(context=contexts, rng=st.randoms(use_true_random=False))
def test_context_serialization_is_canonical_whatever_the_insertion_order(
    context: dict[str, str], rng: random.Random
) -> None:
    items = list(context.items())
    rng.shuffle(items)
    encoded = serialize_context(dict(items))
    assert encoded == serialize_context(context)
    assert (encoded == b"") == (not context)
    if context:
        assert int.from_bytes(encoded[:2], "big") == len(context)
        keys = _keys_in_wire_order(encoded)
        assert keys == sorted(keys)
        assert keys == sorted(key.encode("utf-8") for key in context)


def _keys_in_wire_order(encoded: bytes) -> list[bytes]:
    keys = []
    pos = 2
    for _ in range(int.from_bytes(encoded[:2], "big")):
        key_length = int.from_bytes(encoded[pos : pos + 2], "big")
        keys.append(encoded[pos + 2 : pos + 2 + key_length])
        pos += 2 + key_length
        pos += 2 + int.from_bytes(encoded[pos : pos + 2], "big")
    assert pos == len(encoded)
    return keys


# --- the header ---------------------------------------------------------------------------------

short_bytes = st.binary(max_size=40)
encrypted_data_keys = st.lists(
    st.builds(EncryptedDataKey, provider_id=utf8_text, provider_info=short_bytes, ciphertext=short_bytes),
    min_size=1,
    max_size=4,
).map(tuple)


@st.composite
def headers(draw: st.DrawFn) -> tuple[Header, HeaderAuth]:
    """Any well-formed header with its authentication fields."""
    suite = draw(suites)
    v1 = suite.message_format == 1
    content_type = draw(st.sampled_from(ContentType)) if v1 else ContentType.FRAMED
    frame_length = draw(st.integers(1, 2**31 - 1)) if content_type is ContentType.FRAMED else 0
    header = Header(
        suite=suite,
        message_id=draw(st.binary(min_size=16 if v1 else 32, max_size=16 if v1 else 32)),
        encryption_context=draw(st.dictionaries(utf8_text, utf8_text, max_size=4)),
        encrypted_data_keys=draw(encrypted_data_keys),
        content_type=content_type,
        frame_length=frame_length,
        suite_data=draw(st.binary(min_size=32, max_size=32)) if suite.committing else b"",
    )
    iv = draw(st.binary(min_size=12, max_size=12)) if v1 else bytes(12)  # v2 has no IV field: it is zero
    return header, HeaderAuth(iv=iv, tag=draw(st.binary(min_size=16, max_size=16)))


@settings(max_examples=300, deadline=None)
@given(header_and_auth=headers(), trailing=st.binary(max_size=20))
def test_a_serialized_header_parses_back_to_itself_whatever_follows_it(
    header_and_auth: tuple[Header, HeaderAuth], trailing: bytes
) -> None:
    header, auth = header_and_auth
    raw = serialize_header(header)
    wire = raw + serialize_header_auth(header.suite, auth)
    parsed = parse_header(wire + trailing)
    assert parsed is not None
    assert parsed.header == header
    assert parsed.raw == raw
    assert parsed.auth == auth
    assert parsed.length == len(wire)
    assert header.version == (2 if header.suite.committing else 1)


@settings(max_examples=60, deadline=None)
@given(header_and_auth=headers())
def test_every_proper_prefix_of_a_header_needs_more_data(header_and_auth: tuple[Header, HeaderAuth]) -> None:
    header, auth = header_and_auth
    wire = serialize_header(header) + serialize_header_auth(header.suite, auth)
    for length in range(len(wire)):
        assert parse_header(wire[:length]) is None, f"prefix of {length} of {len(wire)} bytes"
    assert parse_header(wire) is not None


# Every test here runs against the serial and the parallel engine.
pytestmark = pytest.mark.usefixtures("engine_mode")
