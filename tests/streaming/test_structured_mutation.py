"""Structured mutation: change any wire field of a valid message and decryption rejects it.

Valid messages (unsigned and signed committing suites, legacy v1 suites with and
without a KDF and signed, framed with 16-byte frames so that they have several
frames, one non-framed; two encrypted data keys and a few encryption context
pairs each) are decomposed by a test-side field map into every wire field: header
fields, each context pair and data key, each frame's sequence number, IV,
ciphertext and tag, the final-frame marker and content length, the footer.
Hypothesis picks a field and a mutation: set a number to 0, its maximum, maximum
- 1, +1, -1 or any value; zero, randomize or flip a bit of bytes; shrink or grow
a length-prefixed item with or without its length; cut the message at a field.

The contract, one-shot and through a streaming reader with small reads: every
byte of an ESDK message is authenticated, so a mutated message (one that differs
from the original) is rejected with an BustaError that does not blame the
caller, never anything else; a reader releases only a prefix of the original
plaintext before it fails. The same holds for any ARN in the provider info of a
KMS data key (read by the KMS keyrings before the header is authenticated), which
also causes at most MAX_KMS_REGIONS_PER_DECRYPT KMS clients, in valid regions only.
Each decryption of an input of at most 1 KiB (valid, mutated, or claiming huge
lengths) allocates at most :data:`MEMORY_BOUND`.
"""

from __future__ import annotations

import functools
import io
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import BustaError, NoDecryptingKeyError, UsageError
from busta.keyrings import MultiKeyring, RawAesKeyring
from busta.keyrings._arn import is_region, parse_arn
from busta.limits import MAX_KMS_REGIONS_PER_DECRYPT, MAX_UINT16
from fuzzing.kms import SEED_ARNS, ForgedKmsKeys, InOrder, offline_kms_keyring
from fuzzing.seeds import nonframed_message

from ..conftest import policy_for

#: The most one decryption of an input of at most 1 KiB may allocate (tracemalloc peak).
MEMORY_BOUND = 4 << 20
FRAME_LENGTH = 16
PLAINTEXT = bytes(range(100, 140))  # two regular frames and a final frame of 8 bytes
CONTEXT = {"purpose": "mutation", "ключ": "值", "e": ""}
FIRST = RawAesKeyring("mutation", "key-1", bytes(range(32)))
SECOND = RawAesKeyring("mutation", "key-2", bytes(range(32, 64)))
KEYRING = MultiKeyring(generator=FIRST, children=[SECOND])  # two data keys; either decrypts
ALLOW_ALL = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
EXAMPLES = settings(max_examples=300, deadline=None, derandomize=True)

SUITES = {
    "0x0478": AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0x0578": AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    "0x0178": AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    "0x0014": AlgorithmSuite.AES_128_GCM_IV12_TAG16_NO_KDF,
    "0x0378": AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
}
SAMPLE_NAMES = [*SUITES, "0x0478 non-framed"]


# --- the field map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One wire field: a big-endian unsigned number (``width`` > 0) or bytes (``width`` == 0).

    ``prefix`` is the number field that holds a length-prefixed item's length.
    """

    name: str
    offset: int
    size: int
    width: int = 0
    prefix: Field | None = field(default=None, repr=False)

    @property
    def end(self) -> int:
        return self.offset + self.size


class FieldMap:
    """Walks a valid message and records every field."""

    def __init__(self, message: bytes):
        self.message = message
        self.pos = 0
        self.fields: list[Field] = []
        self.items: list[Field] = []  # length-prefixed items that contain other fields

    def number(self, name: str, width: int) -> tuple[Field, int]:
        item = Field(name, self.pos, width, width)
        self.fields.append(item)
        self.pos += width
        return item, int.from_bytes(self.message[item.offset : item.end], "big")

    def raw(self, name: str, size: int, prefix: Field | None = None) -> Field:
        item = Field(name, self.pos, size, 0, prefix)
        self.fields.append(item)
        self.pos += size
        return item

    def prefixed(self, name: str) -> Field:
        length, size = self.number(f"{name} length", 2)
        return self.raw(name, size, length)

    def header(self) -> tuple[int, int, AlgorithmSuite]:
        """Map the header; return (frame length, content type, suite)."""
        _, version = self.number("version", 1)
        if version == 1:
            self.number("type", 1)
        _, suite_id = self.number("suite id", 2)
        suite = AlgorithmSuite(suite_id)
        self.raw("message id", 16 if version == 1 else 32)
        context_length, size = self.number("context length", 2)
        if size:
            start = self.pos
            _, pairs = self.number("context count", 2)
            for pair in range(pairs):
                self.prefixed(f"context key {pair}")
                self.prefixed(f"context value {pair}")
            self.items.append(Field("context", start, size, 0, context_length))
        _, keys = self.number("data key count", 2)
        for key in range(keys):
            self.prefixed(f"data key {key} provider id")
            self.prefixed(f"data key {key} provider info")
            self.prefixed(f"data key {key} ciphertext")
        _, content_type = self.number("content type", 1)
        if version == 1:
            self.raw("reserved", 4)
            self.number("IV length", 1)
        _, frame_length = self.number("frame length", 4)
        if version == 2:
            self.raw("suite data", suite.suite_data_bytes)
        else:
            self.raw("header IV", 12)
        self.raw("header tag", 16)
        return frame_length, content_type, suite

    def body(self, frame_length: int, content_type: int) -> None:
        if content_type == 1:
            self.raw("non-framed IV", 12)
            length, size = self.number("non-framed content length", 8)
            self.raw("non-framed ciphertext", size, length)
            self.raw("non-framed tag", 16)
            return
        number = 1
        while self.message[self.pos : self.pos + 4] != b"\xff\xff\xff\xff":
            self.number(f"frame {number} sequence number", 4)
            self.raw(f"frame {number} IV", 12)
            self.raw(f"frame {number} ciphertext", frame_length)
            self.raw(f"frame {number} tag", 16)
            number += 1
        self.number("final frame marker", 4)
        self.number("final frame sequence number", 4)
        self.raw("final frame IV", 12)
        length, size = self.number("final frame content length", 4)
        self.raw("final frame ciphertext", size, length)
        self.raw("final frame tag", 16)

    def footer(self, suite: AlgorithmSuite) -> None:
        if suite.signed:
            self.prefixed("signature")


def field_map(message: bytes) -> tuple[list[Field], list[Field]]:
    """(every field in order, the length-prefixed items that contain fields) of a valid message."""
    walker = FieldMap(message)
    frame_length, content_type, suite = walker.header()
    walker.body(frame_length, content_type)
    walker.footer(suite)
    assert walker.pos == len(message)
    return walker.fields, walker.items


@dataclass(frozen=True)
class Sample:
    name: str
    message: bytes
    fields: list[Field]
    items: list[Field]

    @property
    def resizable(self) -> list[Field]:
        """Every length-prefixed item: bytes fields with a length prefix, and the context as a whole."""
        return [f for f in self.fields if f.prefix is not None] + self.items

    def value(self, item: Field) -> int:
        return int.from_bytes(self.message[item.offset : item.end], "big")


@functools.cache
def sample(name: str) -> Sample:
    if name.endswith("non-framed"):
        message = nonframed_message(PLAINTEXT, SUITES["0x0478"], KEYRING, CONTEXT)
    else:
        suite = SUITES[name]
        message = busta.Client(commitment_policy=policy_for(suite)).encrypt(
            PLAINTEXT, keyring=KEYRING, encryption_context=CONTEXT, algorithm=suite, frame_length=FRAME_LENGTH
        )
    fields, items = field_map(message)
    return Sample(name, message, fields, items)


# --- decrypting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    plaintext: bytes | None
    released: bytes  # what a reader handed out before it failed
    error: BaseException | None
    peak: int


def _one_shot(message: bytes) -> bytes:
    return busta.Client(commitment_policy=ALLOW_ALL).decrypt(message, keyring=KEYRING).plaintext


def _decrypt(message: bytes, *, streaming: bool, read_size: int = 7, step: int = 5) -> Outcome:
    """Decrypt ``message`` one-shot or through a reader; record the error and the allocation peak."""
    released = bytearray()
    tracing = not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    plaintext: bytes | None = None
    error: BaseException | None = None
    try:
        if streaming:
            reader = busta.Client(commitment_policy=ALLOW_ALL).decrypting_reader(
                io.BytesIO(message), keyring=KEYRING, read_size=read_size
            )
            while piece := reader.read(step):
                released += piece
            plaintext = bytes(released)
        else:
            plaintext = _one_shot(message)
    except Exception as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if tracing:
            tracemalloc.stop()
    return Outcome(plaintext, bytes(released), error, peak)


def check_contract(original: bytes, mutated: bytes, read_size: int = 7, step: int = 5) -> None:
    """Decrypt ``mutated`` both ways: the original plaintext if it is the original message, else an
    BustaError (not a UsageError) after releasing at most a prefix of the plaintext."""
    for streaming in (False, True):
        how = "streaming" if streaming else "one-shot"
        outcome = _decrypt(mutated, streaming=streaming, read_size=read_size, step=step)
        if mutated == original:
            assert outcome.error is None, f"{how}: {outcome.error!r}"
            assert outcome.plaintext == PLAINTEXT
            continue
        assert outcome.error is not None, f"{how} accepted a mutated message"
        if not isinstance(outcome.error, BustaError) or isinstance(outcome.error, UsageError):
            raise AssertionError(f"{how} raised {outcome.error!r}") from outcome.error
        assert PLAINTEXT.startswith(outcome.released), f"{how} released bytes that are not the plaintext"
        if len(mutated) <= 1024:
            assert outcome.peak < MEMORY_BOUND, f"{how} allocated {outcome.peak} bytes for {len(mutated)}"


# --- mutations ----------------------------------------------------------------------------------


def _replace(message: bytes, item: Field, new: bytes) -> bytes:
    return message[: item.offset] + new + message[item.end :]


def _set_number(message: bytes, item: Field, value: int) -> bytes:
    return _replace(message, item, (value % (1 << 8 * item.width)).to_bytes(item.width, "big"))


def canonical_values(s: Sample, item: Field) -> dict[str, int]:
    top = (1 << 8 * item.width) - 1
    value = s.value(item)
    return {"0": 0, "max": top, "max - 1": top - 1, "+1": value + 1, "-1": value - 1}


Mutation = tuple[bytes, str]  # the mutated message and what was done


@st.composite
def number_mutation(draw: st.DrawFn, s: Sample) -> Mutation:
    item = draw(st.sampled_from([f for f in s.fields if f.width]))
    choices = canonical_values(s, item)
    kind = draw(st.sampled_from([*choices, "any"]))
    value = draw(st.integers(0, (1 << 8 * item.width) - 1)) if kind == "any" else choices[kind]
    return _set_number(s.message, item, value), f"{item.name} := {kind} ({value})"


@st.composite
def bytes_mutation(draw: st.DrawFn, s: Sample) -> Mutation:
    item = draw(st.sampled_from([f for f in s.fields if not f.width and f.size]))
    kind = draw(st.sampled_from(["zero", "random", "flip a bit"]))
    if kind == "zero":
        new = bytes(item.size)
    elif kind == "random":
        new = draw(st.binary(min_size=item.size, max_size=item.size))
    else:
        changed = bytearray(s.message[item.offset : item.end])
        changed[draw(st.integers(0, item.size - 1))] ^= 1 << draw(st.integers(0, 7))
        new = bytes(changed)
    return _replace(s.message, item, new), f"{item.name}: {kind}"


@st.composite
def resize_mutation(draw: st.DrawFn, s: Sample) -> Mutation:
    """Shrink or grow a length-prefixed item, with its length field updated to match or left alone."""
    item = draw(st.sampled_from(s.resizable))
    assert item.prefix is not None
    size = draw(st.sampled_from([0, max(0, item.size - 1), item.size + 1]) | st.integers(0, item.size + 64))
    grown = max(0, size - item.size)
    new = s.message[item.offset : item.end][:size] + draw(st.binary(min_size=grown, max_size=grown))
    mutated = _replace(s.message, item, new)
    update = draw(st.booleans())
    if update:
        mutated = _set_number(mutated, item.prefix, size)
    return mutated, f"{item.name}: {item.size} -> {size} bytes, length field {'updated' if update else 'kept'}"


@st.composite
def cut_mutation(draw: st.DrawFn, s: Sample) -> Mutation:
    """Cut the message before a field, or drop one field."""
    item = draw(st.sampled_from(s.fields))
    if draw(st.booleans()):
        return s.message[: item.offset], f"cut before {item.name}"
    return s.message[: item.offset] + s.message[item.end :], f"drop {item.name}"


MutationKind = Callable[[Sample], st.SearchStrategy[Mutation]]
ALL_KINDS: list[MutationKind] = [number_mutation, bytes_mutation, resize_mutation, cut_mutation]


@st.composite
def mutations(draw: st.DrawFn, kinds: list[MutationKind]) -> tuple[Sample, bytes, str]:
    """A sample and one mutation of it, of one of ``kinds``."""
    s = sample(draw(st.sampled_from(SAMPLE_NAMES)))
    mutated, what = draw(st.sampled_from(kinds).flatmap(lambda kind: kind(s)))
    return s, mutated, what


@st.composite
def double_mutations(draw: st.DrawFn) -> tuple[Sample, bytes, str]:
    """Two in-place mutations (numbers or bytes) of the same sample, applied together."""
    s = sample(draw(st.sampled_from(SAMPLE_NAMES)))
    in_place = st.sampled_from([number_mutation, bytes_mutation])
    first, what_first = draw(in_place.flatmap(lambda kind: kind(s)))
    second, what_second = draw(in_place.flatmap(lambda kind: kind(s)))
    both = bytes(b if b != o else a for a, b, o in zip(first, second, s.message, strict=True))
    return s, both, f"{what_first} and {what_second}"


read_sizes = st.one_of(st.integers(1, 24), st.integers(1, 1024))


# --- the field map itself -----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_each_sample_decrypts_and_its_field_map_tiles_it(name: str) -> None:
    s = sample(name)
    assert _one_shot(s.message) == PLAINTEXT
    assert len(s.message) <= 1024
    position = 0
    for item in s.fields:
        assert item.offset == position, item.name
        position = item.end
    assert position == len(s.message)
    names = {f.name: f for f in s.fields}
    assert s.value(names["data key count"]) == 2
    assert s.value(names["context count"]) == len(CONTEXT) + (name in {"0x0578", "0x0378"})  # + the public key
    if "non-framed" in name:
        assert s.value(names["content type"]) == 1
        assert s.value(names["non-framed content length"]) == len(PLAINTEXT)
    else:
        assert s.value(names["frame 2 sequence number"]) == 2
        assert s.value(names["final frame marker"]) == 0xFFFFFFFF
        assert s.value(names["final frame sequence number"]) == 3
        assert s.value(names["final frame content length"]) == len(PLAINTEXT) - 2 * FRAME_LENGTH
    for item in s.resizable:
        assert item.prefix is not None
        assert s.value(item.prefix) == item.size, item.name


# --- the contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_number_field_set_to_0_max_max_minus_1_plus_1_or_minus_1_is_rejected(name: str) -> None:
    s = sample(name)
    for item in (f for f in s.fields if f.width):
        for kind, value in canonical_values(s, item).items():
            mutated = _set_number(s.message, item, value)
            try:
                check_contract(s.message, mutated)
            except AssertionError as exc:
                raise AssertionError(f"{item.name} := {kind}: {exc}") from exc


@EXAMPLES
@given(mutation=mutations([number_mutation]), read_size=read_sizes)
def test_any_number_field_mutation_is_rejected(mutation: tuple[Sample, bytes, str], read_size: int) -> None:
    s, mutated, _ = mutation
    check_contract(s.message, mutated, read_size)


@EXAMPLES
@given(mutation=mutations([bytes_mutation]), read_size=read_sizes)
def test_any_bytes_field_mutation_is_rejected(mutation: tuple[Sample, bytes, str], read_size: int) -> None:
    s, mutated, _ = mutation
    check_contract(s.message, mutated, read_size)


@EXAMPLES
@given(mutation=mutations([resize_mutation]), read_size=read_sizes)
def test_shrinking_or_growing_a_length_prefixed_item_is_rejected(
    mutation: tuple[Sample, bytes, str], read_size: int
) -> None:
    s, mutated, _ = mutation
    check_contract(s.message, mutated, read_size)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(mutation=mutations([cut_mutation]), read_size=read_sizes)
def test_a_message_cut_at_or_missing_a_field_is_rejected(mutation: tuple[Sample, bytes, str], read_size: int) -> None:
    s, mutated, _ = mutation
    check_contract(s.message, mutated, read_size)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(mutation=double_mutations(), read_size=read_sizes, step=st.integers(1, 64))
def test_two_field_mutations_together_are_rejected(
    mutation: tuple[Sample, bytes, str], read_size: int, step: int
) -> None:
    s, mutated, _ = mutation
    check_contract(s.message, mutated, read_size, step)


# --- allocation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_decrypting_a_valid_message_of_under_1_KiB_allocates_little(name: str) -> None:
    s = sample(name)
    _decrypt(s.message, streaming=False)  # warm up: first use imports and caches
    for streaming in (False, True):
        outcome = _decrypt(s.message, streaming=streaming)
        assert outcome.plaintext == PLAINTEXT
        assert outcome.peak < MEMORY_BOUND


def _claiming_huge_lengths(s: Sample) -> Iterator[tuple[str, bytes]]:
    """The sample with each length or count field set to its maximum (the largest claims it can make)."""
    for item in s.fields:
        if item.width and ("length" in item.name or "count" in item.name):
            yield item.name, _set_number(s.message, item, (1 << 8 * item.width) - 1)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_decrypting_a_message_of_under_1_KiB_that_claims_huge_lengths_allocates_little(name: str) -> None:
    s = sample(name)
    claims = list(_claiming_huge_lengths(s))
    assert len(claims) >= 10
    for what, data in claims:
        assert len(data) <= 1024
        for streaming in (False, True):
            outcome = _decrypt(data, streaming=streaming, read_size=3)
            assert isinstance(outcome.error, BustaError), what
            assert outcome.peak < MEMORY_BOUND, f"{what}: {outcome.peak} bytes"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(mutation=mutations(ALL_KINDS), read_size=read_sizes)
def test_decrypting_any_mutated_message_of_under_1_KiB_allocates_little(
    mutation: tuple[Sample, bytes, str], read_size: int
) -> None:
    _, mutated, _ = mutation
    for streaming in (False, True):
        outcome = _decrypt(mutated[:1024], streaming=streaming, read_size=read_size)
        assert outcome.peak < MEMORY_BOUND


# --- the provider info of KMS data keys ---------------------------------------------------------
#
# A KMS keyring reads the ARN in each aws-kms data key's provider info before the header tag is
# checked. These samples carry three aws-kms data keys first (no KMS can decrypt them: every KMS
# request is answered offline, see fuzzing.kms), then the two raw AES keys. Each mutation rewrites one
# ARN (partition, service, region, account, resource, separators, length, bytes that are not UTF-8),
# with its length field updated so the header still parses. The contract: the message is rejected
# with an BustaError that does not blame the caller, and one decryption makes at most
# MAX_KMS_REGIONS_PER_DECRYPT clients, each for a valid region name.

KMS_ARNS = SEED_ARNS[:3]
KMS_KEYRING, KMS_CLIENTS = offline_kms_keyring()
KMS_READER = InOrder(KMS_KEYRING, KEYRING)
KMS_SAMPLES = ["0x0478", "0x0578"]
KNOWN_REGIONS = ["us-west-2", "eu-central-1", "cn-north-1", "us-gov-west-1", "us-isob-east-1", "eusc-de-east-1"]
PARTITIONS = ["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc", "aws-new"]
VALID_REGION = r"[a-z]{2,4}(-[a-z]{1,16}){1,3}-[0-9]{1,2}"


@functools.cache
def kms_sample(name: str) -> Sample:
    suite = SUITES[name]
    writer = MultiKeyring(generator=FIRST, children=[SECOND, ForgedKmsKeys(KMS_ARNS, first=True)])
    message = busta.Client(commitment_policy=policy_for(suite)).encrypt(
        PLAINTEXT, keyring=writer, algorithm=suite, frame_length=FRAME_LENGTH
    )
    fields, items = field_map(message)
    return Sample(f"{name} kms", message, fields, items)


def _kms_outcome(message: bytes, streaming: bool) -> BaseException | None:
    try:
        if streaming:
            reader = busta.Client(commitment_policy=ALLOW_ALL).decrypting_reader(
                io.BytesIO(message), keyring=KMS_READER
            )
            while reader.read(7):
                pass
        else:
            assert busta.Client(commitment_policy=ALLOW_ALL).decrypt(message, keyring=KMS_READER).plaintext == PLAINTEXT
    except Exception as exc:
        return exc
    return None


def check_kms_contract(original: bytes, mutated: bytes) -> None:
    for streaming in (False, True):
        before = len(KMS_CLIENTS.regions)
        error = _kms_outcome(mutated, streaming)
        made = KMS_CLIENTS.regions[before:]
        assert len(made) <= MAX_KMS_REGIONS_PER_DECRYPT, made
        assert all(is_region(region) for region in made), made
        if mutated == original:
            assert error is None, repr(error)
            continue
        if not isinstance(error, BustaError) or isinstance(error, UsageError):
            raise AssertionError(f"{'streaming' if streaming else 'one-shot'} raised {error!r}") from error


REAL_ARN = ("arn", "aws", "kms", "us-west-2", "111122223333", "key/1234abcd-12ab-34cd-56ef-1234567890ab")
ARN_FIELDS: tuple[st.SearchStrategy[str], ...] = (
    st.sampled_from(["arn", "ARN", ""]),
    st.sampled_from([*PARTITIONS, "AWS", "", "aws-", "aws--x", "a" * 300]) | st.text(max_size=30),
    st.sampled_from(["kms", "KMS", "s3", ""]) | st.text(max_size=8),
    st.sampled_from([*KNOWN_REGIONS, "US-WEST-2", "us_west_2", "us-west-2\n", "", "local", "x" * 2000])
    | st.from_regex(VALID_REGION, fullmatch=True)
    | st.text(max_size=80),
    st.sampled_from(["111122223333", "1111", ""]) | st.from_regex(r"[0-9]{10,14}", fullmatch=True),
    st.sampled_from(["key/1234abcd-12ab-34cd-56ef-1234567890ab", "key/mrk-" + "0" * 32, "alias/a", "key/", "key"])
    | st.builds("/".join, st.tuples(st.sampled_from(["key", "alias", "grant"]), st.text(max_size=300))),
)


@st.composite
def arn_texts(draw: st.DrawFn) -> str:
    """A real KMS ARN with some of its fields (partition, region, account...) replaced by real,
    almost-real or arbitrary values; and sometimes a field too few or too many."""
    fields = list(REAL_ARN)
    for index in draw(st.lists(st.integers(0, len(fields) - 1), min_size=1, max_size=len(fields), unique=True)):
        fields[index] = draw(ARN_FIELDS[index])
    arn = ":".join(fields)
    shape = draw(st.sampled_from(["as is", "a field too few", "a field too many"]))
    if shape == "a field too few":
        return arn.replace(":", "", 1)
    return arn + ":extra" if shape == "a field too many" else arn


def _provider_infos(s: Sample) -> list[Field]:
    return [f for f in s.fields if f.name.endswith("provider info")][: len(KMS_ARNS)]


@st.composite
def arn_mutation(draw: st.DrawFn) -> tuple[Sample, bytes, str]:
    """One KMS data key's provider info replaced by another ARN, text or bytes (its length updated)."""
    s = kms_sample(draw(st.sampled_from(KMS_SAMPLES)))
    item = draw(st.sampled_from(_provider_infos(s)))
    assert item.prefix is not None
    new = draw(arn_texts().map(lambda text: text.encode("utf-8", "surrogatepass")) | st.binary(max_size=200))
    new = new[:MAX_UINT16]
    mutated = _set_number(_replace(s.message, item, new), item.prefix, len(new))
    return s, mutated, f"{item.name} := {new[:80]!r}"


@pytest.mark.parametrize("name", KMS_SAMPLES)
def test_each_kms_sample_decrypts_after_its_kms_data_keys_fail(name: str) -> None:
    s = kms_sample(name)
    assert [bytes(s.message[f.offset : f.end]).decode() for f in _provider_infos(s)] == list(KMS_ARNS)
    check_kms_contract(s.message, s.message)
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.Client(commitment_policy=ALLOW_ALL).decrypt(s.message, keyring=KMS_KEYRING)
    assert len(caught.value.reasons) == len(KMS_ARNS)  # each was tried, and failed at (offline) KMS


@settings(max_examples=250, deadline=None, derandomize=True)
@given(mutation=arn_mutation())
def test_any_mutation_of_a_kms_key_arn_is_rejected_with_a_busta_error(mutation: tuple[Sample, bytes, str]) -> None:
    s, mutated, _ = mutation
    check_kms_contract(s.message, mutated)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(regions=st.lists(st.from_regex(VALID_REGION, fullmatch=True), min_size=1, max_size=40, unique=True))
def test_a_message_naming_many_valid_regions_makes_at_most_the_limit_of_clients(regions: list[str]) -> None:
    arns = [f"arn:aws:kms:{region}:111122223333:key/k-{n}" for n, region in enumerate(regions)]
    arns = [arn for arn in arns if parse_arn(arn) is not None]  # another partition's prefix is refused first
    writer = MultiKeyring(generator=FIRST, children=[ForgedKmsKeys(arns, first=True)])
    message = busta.encrypt(PLAINTEXT, keyring=writer, frame_length=FRAME_LENGTH)
    before = len(KMS_CLIENTS.regions)
    assert busta.decrypt(message, keyring=KMS_READER).plaintext == PLAINTEXT
    assert len(KMS_CLIENTS.regions) - before <= MAX_KMS_REGIONS_PER_DECRYPT
