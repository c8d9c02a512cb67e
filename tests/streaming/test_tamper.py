"""A damaged message is always rejected with an busta error, and releases no plaintext it should not.

Every suite encrypts one multi-frame message (frame length 64, 200 bytes: three
full frames and a final frame of 8 bytes, with an encryption context). Then every
byte of it is damaged in turn, every prefix of it is tried, bytes are appended,
and frames are swapped, dropped or spliced in from another message.

What a streaming reader may release: when the first damaged (or missing) byte
lies in frame k, at most the plaintext of frames 1..k-1; when it lies in the
footer of a signed message, at most the plaintext before the final frame. With
small reads it releases exactly that much before it raises.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import (
    BustaError,
    MalformedMessageError,
    PolicyError,
    TruncatedMessageError,
    UsageError,
)
from busta.format import parse_header
from busta.keyrings import RawAesKeyring

from ..conftest import policy_for

F = 64
PLAINTEXT = bytes((7 * i + 3) % 256 for i in range(3 * F + 8))
CONTEXT = {"purpose": "tamper test", "région": "ça va ✓"}
KEYRING = RawAesKeyring("tamper", "key-1", bytes(range(100, 132)))
ALLOW_ALL = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT  # decrypts every suite: damage must not pass as policy
SUITES = list(AlgorithmSuite)
SIGNED_SUITES = [s for s in SUITES if s.signed]
REGULAR_FRAME_BYTES = 4 + 12 + F + 16
FINAL_FRAME_BYTES = 4 + 4 + 12 + 4 + 8 + 16
SMALL_READ = 16  # source reads below the smallest frame: one update completes at most one frame


def _name(suite: AlgorithmSuite) -> str:
    return f"0x{suite.id:04X}"


@dataclass(frozen=True)
class Sample:
    """One valid message and where its parts are."""

    suite: AlgorithmSuite
    message: bytes
    header_length: int
    frame_ends: tuple[int, ...]  # end offset of frames 1..4; the last one is where the footer starts

    @property
    def frame_starts(self) -> tuple[int, ...]:
        return (self.header_length, *self.frame_ends[:-1])

    def frame(self, number: int) -> bytes:
        return self.message[self.frame_starts[number - 1] : self.frame_ends[number - 1]]

    def region(self, pos: int) -> str:
        if pos < self.header_length:
            return "header"
        for number, end in enumerate(self.frame_ends, start=1):
            if pos < end:
                return f"frame {number}"
        return "footer"

    def releasable(self, first_bad: int) -> bytes:
        """The plaintext a decryptor may release when byte ``first_bad`` is the first damaged or missing one."""
        if first_bad >= len(self.message):
            return PLAINTEXT
        complete = sum(end <= first_bad for end in self.frame_ends)
        if self.suite.signed:
            complete = min(complete, len(self.frame_ends) - 1)  # the final frame waits for the signature
        return PLAINTEXT[: complete * F]


def _encrypt(suite: AlgorithmSuite) -> bytes:
    return busta.Client(commitment_policy=policy_for(suite)).encrypt(
        PLAINTEXT, keyring=KEYRING, encryption_context=CONTEXT, algorithm=suite, frame_length=F
    )


@functools.cache
def sample(suite: AlgorithmSuite) -> Sample:
    message = _encrypt(suite)
    parsed = parse_header(message)
    assert parsed is not None
    ends = [parsed.length + REGULAR_FRAME_BYTES * n for n in (1, 2, 3)]
    ends.append(ends[-1] + FINAL_FRAME_BYTES)
    return Sample(suite, message, parsed.length, tuple(ends))


def _flip(message: bytes, pos: int, bit: int) -> bytes:
    damaged = bytearray(message)
    damaged[pos] ^= 1 << bit
    return bytes(damaged)


def _decrypt(message: bytes, *, refuse_signed: bool = False) -> bytes:
    return (
        busta.Client(commitment_policy=ALLOW_ALL, refuse_signed=refuse_signed)
        .decrypt(message, keyring=KEYRING)
        .plaintext
    )


def _one_shot_problem(message: bytes) -> str | None:
    """None if decrypt rejects ``message`` with an busta error that blames the input; else what went wrong."""
    try:
        _decrypt(message)
    except UsageError as exc:  # damaged input is not misuse of the API
        return f"UsageError: {exc}"
    except BustaError:
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


def _read(message: bytes, *, read_size: int, step: int, refuse_signed: bool = False) -> tuple[bytes, BustaError]:
    """Read ``message`` through a decrypting reader in ``step``-byte pieces; return what was released
    before the error, and the error (the read must fail)."""
    released = bytearray()
    try:
        reader = busta.Client(commitment_policy=ALLOW_ALL, refuse_signed=refuse_signed).decrypting_reader(
            io.BytesIO(message), keyring=KEYRING, read_size=read_size
        )
        while piece := reader.read(step):
            released += piece
    except BustaError as exc:
        return bytes(released), exc
    raise AssertionError(f"the reader accepted a damaged message and released {len(released)} bytes")


def _reader_problem(s: Sample, damaged: bytes, first_bad: int) -> str | None:
    """None if the reader raises an busta error after releasing exactly the frames before ``first_bad``."""
    try:
        released, _ = _read(damaged, read_size=SMALL_READ, step=7)
    except AssertionError as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    expected = s.releasable(first_bad)
    if released != expected:
        return f"released {len(released)} bytes (matching: {PLAINTEXT.startswith(released)}), expected {len(expected)}"
    return None


# --- the sample itself --------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_the_sample_message_is_three_full_frames_a_final_frame_and_a_footer_when_signed(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    assert _decrypt(s.message) == PLAINTEXT
    assert s.frame(4)[:4] == b"\xff\xff\xff\xff"
    assert [int.from_bytes(s.frame(n)[:4], "big") for n in (1, 2, 3)] == [1, 2, 3]
    footer = s.message[s.frame_ends[-1] :]
    if suite.signed:
        assert int.from_bytes(footer[:2], "big") == len(footer) - 2
    else:
        assert footer == b""
    reader = busta.Client(commitment_policy=ALLOW_ALL).decrypting_reader(
        io.BytesIO(s.message), keyring=KEYRING, read_size=SMALL_READ
    )
    assert reader.read() == PLAINTEXT


# --- single-bit damage --------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_flipping_any_bit_of_any_byte_is_rejected_with_a_busta_error(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    failures = []
    for pos in range(len(s.message)):
        for bit in range(8):
            problem = _one_shot_problem(_flip(s.message, pos, bit))
            if problem is not None:
                failures.append(f"byte {pos} ({s.region(pos)}) bit {bit}: {problem}")
    assert failures == []


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_a_reader_releases_exactly_the_frames_before_a_flipped_bit_then_raises(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    failures = []
    for pos in range(len(s.message)):
        bit = (3 * pos + 5) % 8  # every bit value occurs in each region
        problem = _reader_problem(s, _flip(s.message, pos, bit), pos)
        if problem is not None:
            failures.append(f"byte {pos} ({s.region(pos)}) bit {bit}: {problem}")
    assert failures == []


@settings(max_examples=300, deadline=None)
@given(
    suite=st.sampled_from(SUITES),
    where=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
    read_size=st.one_of(st.integers(1, 40), st.integers(1, 2000)),
    step=st.integers(1, 300),
)
def test_any_flipped_bit_is_rejected_and_no_reader_releases_plaintext_from_the_damaged_frame(
    suite: AlgorithmSuite, where: float, bit: int, read_size: int, step: int
) -> None:
    s = sample(suite)
    pos = int(where * len(s.message))
    damaged = _flip(s.message, pos, bit)
    with pytest.raises(BustaError):
        _decrypt(damaged)
    released, _ = _read(damaged, read_size=read_size, step=step)
    assert s.releasable(pos).startswith(released)


@pytest.mark.parametrize("suite", SIGNED_SUITES, ids=_name)
@pytest.mark.parametrize("read_size", [1, SMALL_READ, 100, 1 << 16])
def test_a_wrong_signature_releases_no_byte_of_the_final_frame(suite: AlgorithmSuite, read_size: int) -> None:
    s = sample(suite)
    body_end = s.frame_ends[-1]
    other = _encrypt(suite)  # same layout, so its footer starts at the same offset
    assert len(other) - len(s.message) == len(other[body_end:]) - len(s.message[body_end:])
    damaged = s.message[:body_end] + other[body_end:]  # a valid signature, over another message
    with pytest.raises(BustaError):
        _decrypt(damaged)
    released, _ = _read(damaged, read_size=read_size, step=5)
    assert PLAINTEXT[: 3 * F].startswith(released)
    if read_size <= SMALL_READ:
        assert released == PLAINTEXT[: 3 * F]


# --- truncation and trailing bytes --------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_every_proper_prefix_is_rejected_as_truncated(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    failures = []
    for length in range(len(s.message)):
        try:
            _decrypt(s.message[:length])
        except TruncatedMessageError:
            continue
        except Exception as exc:
            failures.append(f"prefix {length} (cut in {s.region(length)}): {type(exc).__name__}: {exc}")
        else:
            failures.append(f"prefix {length} (cut in {s.region(length)}): accepted")
    assert failures == []


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_a_reader_of_a_truncated_message_releases_only_the_frames_before_the_cut(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    failures = []
    for length in range(len(s.message)):
        released, error = _read(s.message[:length], read_size=SMALL_READ, step=7)
        if not isinstance(error, TruncatedMessageError):
            failures.append(f"prefix {length}: {type(error).__name__}: {error}")
        elif released != s.releasable(length):
            failures.append(f"prefix {length} (cut in {s.region(length)}): released {len(released)} bytes")
    assert failures == []


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_any_single_appended_byte_is_rejected_as_trailing_data(suite: AlgorithmSuite) -> None:
    s = sample(suite)
    for value in range(256):
        with pytest.raises(MalformedMessageError) as caught:
            _decrypt(s.message + bytes([value]))
        assert not isinstance(caught.value, TruncatedMessageError)


@settings(max_examples=100, deadline=None)
@given(suite=st.sampled_from(SUITES), extra=st.binary(min_size=1, max_size=64), separately=st.booleans())
def test_appended_bytes_are_rejected_whether_they_arrive_with_the_message_or_after_it(
    suite: AlgorithmSuite, extra: bytes, separately: bool
) -> None:
    s = sample(suite)
    decryptor = busta.Client(commitment_policy=ALLOW_ALL).start_decryption(keyring=KEYRING)
    with pytest.raises(MalformedMessageError) as caught:
        if separately:
            assert decryptor.update(s.message) == PLAINTEXT
        decryptor.update(extra if separately else s.message + extra)
    assert not isinstance(caught.value, TruncatedMessageError)
    with pytest.raises(MalformedMessageError):
        decryptor.finalize()  # the error sticks
    released, error = _read(s.message + extra, read_size=SMALL_READ, step=7)
    assert isinstance(error, MalformedMessageError)
    assert not isinstance(error, TruncatedMessageError)
    assert PLAINTEXT.startswith(released)


# --- whole frames moved, dropped or spliced ----------------------------------------------------


def _swap(first: int, second: int) -> Callable[[Sample], tuple[bytes, int]]:
    def edit(s: Sample) -> tuple[bytes, int]:
        frames = [s.frame(n) for n in (1, 2, 3, 4)]
        frames[first - 1], frames[second - 1] = frames[second - 1], frames[first - 1]
        return s.message[: s.header_length] + b"".join(frames) + s.message[s.frame_ends[-1] :], first

    return edit


def _drop(number: int) -> Callable[[Sample], tuple[bytes, int]]:
    def edit(s: Sample) -> tuple[bytes, int]:
        return s.message[: s.frame_starts[number - 1]] + s.message[s.frame_ends[number - 1] :], number

    return edit


def _duplicate(number: int) -> Callable[[Sample], tuple[bytes, int]]:
    def edit(s: Sample) -> tuple[bytes, int]:
        end = s.frame_ends[number - 1]
        return s.message[:end] + s.frame(number) + s.message[end:], number + 1

    return edit


def _drop_final_frame_and_footer(s: Sample) -> tuple[bytes, int]:
    return s.message[: s.frame_ends[2]], 4


def _splice_from_another_message(number: int) -> Callable[[Sample], tuple[bytes, int]]:
    def edit(s: Sample) -> tuple[bytes, int]:
        other = _encrypt(s.suite)
        start, end = s.frame_starts[number - 1], s.frame_ends[number - 1]
        return s.message[:start] + other[start:end] + s.message[end:], number

    return edit


FRAME_EDITS: dict[str, Callable[[Sample], tuple[bytes, int]]] = {
    "swap frames 1 and 2": _swap(1, 2),
    "swap frames 2 and 3": _swap(2, 3),
    "swap frames 1 and 3": _swap(1, 3),
    "drop frame 2": _drop(2),
    "repeat frame 1": _duplicate(1),
    "drop the final frame": _drop(4),
    "drop the final frame and the footer": _drop_final_frame_and_footer,
    "frame 2 from another message": _splice_from_another_message(2),
    "final frame from another message": _splice_from_another_message(4),
}


@pytest.mark.parametrize("suite", SUITES, ids=_name)
@pytest.mark.parametrize("edit", FRAME_EDITS.values(), ids=FRAME_EDITS.keys())
def test_moved_dropped_or_foreign_frames_are_rejected_after_releasing_only_the_frames_before_them(
    suite: AlgorithmSuite, edit: Callable[[Sample], tuple[bytes, int]]
) -> None:
    s = sample(suite)
    damaged, first_bad_frame = edit(s)
    with pytest.raises(BustaError) as caught:
        _decrypt(damaged)
    assert not isinstance(caught.value, UsageError)
    released, _ = _read(damaged, read_size=SMALL_READ, step=7)
    assert released == s.releasable(s.frame_starts[first_bad_frame - 1])


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_a_message_without_its_final_frame_is_truncated(suite: AlgorithmSuite) -> None:
    with pytest.raises(TruncatedMessageError):
        _decrypt(_drop_final_frame_and_footer(sample(suite))[0])


# --- refusing signed messages -------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES, ids=_name)
def test_refuse_signed_rejects_signed_messages_before_any_plaintext_and_accepts_unsigned_ones(
    suite: AlgorithmSuite,
) -> None:
    s = sample(suite)
    if suite.signed:
        with pytest.raises(PolicyError):
            _decrypt(s.message, refuse_signed=True)
        released, error = _read(s.message, read_size=1, step=1, refuse_signed=True)
        assert isinstance(error, PolicyError)
        assert released == b""
    else:
        assert _decrypt(s.message, refuse_signed=True) == PLAINTEXT
        reader = busta.Client(commitment_policy=ALLOW_ALL, refuse_signed=True).decrypting_reader(
            io.BytesIO(s.message), keyring=KEYRING, read_size=1
        )
        assert reader.read() == PLAINTEXT


# Every test here runs against the serial and the parallel engine.
pytestmark = pytest.mark.usefixtures("engine_mode")
