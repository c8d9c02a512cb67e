"""Concurrency: one keyring or materials manager shared by 16 threads that encrypt and decrypt for a
bounded time, every round trip checked.

Three shared subjects, each used by 16 threads released together; each thread goes on for two
seconds and at least eight round trips (a thread still running after 30 s fails the test):

* one :class:`RawAesKeyring`;
* one :class:`CachingCryptoMaterialsManager` over a raw AES keyring with ``max_messages=5`` and
  contexts shared by groups of threads, so threads share cache entries and the entries rotate;
* one :class:`MultiKeyring` of a raw AES and a raw RSA keyring; half of the decryptions go
  through the multi keyring, half through its own RSA child, so both unwrap paths run at once.

Each thread mixes, message by message: plaintext sizes from 0 to four frames (0, 1, F-1, F, F+1,
2F+1 and random) with a random frame length; suites 0x0478 and 0x0578 (so ECDSA signers and
verifiers run concurrently too); its own encryption context (per thread and message; for the
caching manager, per group of threads); and four APIs in turn -- one-shot ``encrypt`` /
``decrypt`` of a ``Client(threads=1)`` (the calling thread only), the same with ``threads=2``,
``encrypting_writer`` / ``decrypting_reader`` with random write and read sizes, and
``encrypt_stream`` / ``decrypt_stream`` of a ``Client(threads=2)``. The parallel engine's thresholds are
lowered so that with ``threads=2`` even these small runs of frames are split across the
process-wide worker pool (and signed runs hashed on it), which 16 threads then contend for. Each
thread also decrypts messages other threads made, taken from a shared queue.

Every round trip is checked: the plaintext is equal, the authenticated context holds the pairs
given (and the signing key exactly for signed suites), and the header has the suite and frame
length asked for. Every eighth message is decrypted again by keyrings no other thread touches
(for the multi keyring, by the AES and the RSA keyring alone). The runs cannot pass vacuously:
every thread finished at least eight round trips, every API, suite and thread mode was used, runs
were really split across the pool and signed runs hashed on it, other threads' messages were
decrypted, no two messages were alike, and with the caching manager data keys were shared between
messages yet none protected more than five.
"""

from __future__ import annotations

import collections
import io
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import AlgorithmSuite, CachingCryptoMaterialsManager, Header, Keyring
from busta.format import parse_header
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring
from busta.streaming import encryptor, workers

from ..support.threads import run_threads

THREADS = 16
SECONDS = 2.0  # per subject: after this, a thread that has done MIN_PER_THREAD round trips stops
HARD_TIMEOUT = 30.0  # run_threads fails the test if a thread is still running by then (a deadlock)
MIN_PER_THREAD = 8  # every thread does at least this many, so every mode twice (2 cores do 15-40 in 2 s)
MAX_MESSAGES = 5
CHECK_EVERY = 8

NAMESPACE = "concurrency"
WRAPPING_KEY = bytes.fromhex("c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc")
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,  # 0x0478
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,  # 0x0578
]
FRAME_LENGTHS = [1, 3, 64, 255, 1000, 4096]
MODES = ["one-shot threads=1", "one-shot threads=2", "writer/reader", "stream threads=2"]
PUBLIC_KEY_FIELD = "aws-crypto-public-key"


# =========================================================================== what the threads share


@dataclass
class Subject:
    """The shared object, how to encrypt and decrypt with it, and how to check its output unshared."""

    encrypt_with: dict[str, Any]
    decrypt_with: list[dict[str, Any]]  # the n-th decryption of a thread uses entry n % len
    context: Callable[[int, int], dict[str, str]]  # (thread, message number) -> encryption context
    unshared: Callable[[], list[Keyring]]  # fresh keyrings for the thread's own cross-checks
    after: Callable[[list[RoundTrip]], None] | None = None


@dataclass(frozen=True)
class RoundTrip:
    thread: int
    number: int
    mode: str
    suite: AlgorithmSuite
    frame_length: int
    size: int
    message: bytes


def aes_keyring() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "aes-key", WRAPPING_KEY)


def per_thread_context(thread: int, number: int) -> dict[str, str]:
    return {"thread": str(thread), "message": str(number)}


def first_edk(message: bytes) -> bytes:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.header.encrypted_data_keys[0].ciphertext


def _caching_subject() -> Subject:
    cmm = CachingCryptoMaterialsManager(aes_keyring(), max_age=600.0, max_messages=MAX_MESSAGES)

    def after(done: list[RoundTrip]) -> None:
        # Only one-shot encryption declares its length, which the cache needs; streams bypass it.
        cached = [trip for trip in done if trip.mode.startswith("one-shot")]
        uses = collections.Counter(first_edk(trip.message) for trip in cached)
        assert max(uses.values()) <= MAX_MESSAGES, "a data key protected more than max_messages messages"
        assert max(uses.values()) > 1, "no data key was shared: the cache was never hit"
        assert len(uses) >= len(cached) / MAX_MESSAGES, "entries did not rotate"
        assert len(cmm.cache) > 0

    return Subject(
        encrypt_with={"materials_manager": cmm},
        decrypt_with=[{"materials_manager": cmm}],
        context=lambda thread, number: {"group": str(thread % 4)},  # four threads share each context
        unshared=lambda: [aes_keyring()],
        after=after,
    )


def _make_subject(name: str, rsa_key: rsa.RSAPrivateKey) -> Subject:
    if name == "RawAesKeyring":
        keyring = aes_keyring()
        return Subject({"keyring": keyring}, [{"keyring": keyring}], per_thread_context, lambda: [aes_keyring()])
    if name == "CachingCryptoMaterialsManager":
        return _caching_subject()
    rsa_child = RawRsaKeyring(NAMESPACE, "rsa-key", private_key=rsa_key)
    multi = MultiKeyring(generator=aes_keyring(), children=[rsa_child])

    def after(done: list[RoundTrip]) -> None:
        for trip in done:
            parsed = parse_header(trip.message)
            assert parsed is not None
            assert [edk.provider_info[:7] for edk in parsed.header.encrypted_data_keys] == [b"aes-key", b"rsa-key"]

    return Subject(
        {"keyring": multi},
        [{"keyring": multi}, {"keyring": rsa_child}],
        per_thread_context,
        lambda: [aes_keyring(), RawRsaKeyring(NAMESPACE, "rsa-key", private_key=rsa_key)],
        after,
    )


# =========================================================================== one round trip


def _chunks(data: bytes, rng: random.Random, largest: int) -> Iterator[bytes]:
    position = 0
    while position < len(data):
        step = rng.randint(1, largest)
        yield data[position : position + step]
        position += step


@dataclass
class Outcome:
    message: bytes
    plaintext: bytes
    context: Mapping[str, str]
    header: Header


def round_trip(
    subject: Subject,
    decrypt_with: dict[str, Any],
    mode: str,
    plaintext: bytes,
    context: dict[str, str],
    suite: AlgorithmSuite,
    frame_length: int,
    rng: random.Random,
) -> Outcome:
    encrypting = {**subject.encrypt_with, "encryption_context": context, "algorithm": suite}
    decrypting = {**decrypt_with, "encryption_context": context}
    if mode.startswith("one-shot"):
        threads = 2 if mode.endswith("threads=2") else 1
        message = busta.Client(threads=threads).encrypt(plaintext, frame_length=frame_length, **encrypting)
        result = busta.Client(threads=threads).decrypt(message, **decrypting)
        return Outcome(message, result.plaintext, result.encryption_context, result.header)
    if mode == "writer/reader":
        sink = io.BytesIO()
        with busta.encrypting_writer(sink, frame_length=frame_length, **encrypting) as writer:
            for chunk in _chunks(plaintext, rng, 2 * frame_length + 1):
                assert writer.write(chunk) == len(chunk)
        message = sink.getvalue()
        read_size = rng.choice([7, frame_length, 1 << 16])
        reader = busta.decrypting_reader(io.BytesIO(message), read_size=read_size, **decrypting)
        parts = []
        while part := reader.read(rng.randint(1, 3 * frame_length)):
            parts.append(part)
        return Outcome(message, b"".join(parts), reader.encryption_context, reader.read_header())
    sink, out = io.BytesIO(), io.BytesIO()
    busta.Client(threads=2).encrypt_stream(io.BytesIO(plaintext), sink, frame_length=frame_length, **encrypting)
    message = sink.getvalue()
    streamed = busta.Client(threads=2).decrypt_stream(io.BytesIO(message), out, **decrypting)
    assert streamed.plaintext_length == len(plaintext)
    return Outcome(message, out.getvalue(), streamed.encryption_context, streamed.header)


def check(outcome: Outcome, plaintext: bytes, context: Mapping[str, str], suite: AlgorithmSuite, frame: int) -> None:
    assert outcome.plaintext == plaintext
    assert {key: outcome.context.get(key) for key in context} == context
    assert (PUBLIC_KEY_FIELD in outcome.context) == suite.signed
    assert outcome.header.suite is suite
    assert outcome.header.frame_length == frame


def plaintext_size(rng: random.Random, frame: int) -> int:
    return rng.choice([0, 1, max(0, frame - 1), frame, frame + 1, 2 * frame + 1, rng.randint(0, 4 * frame)])


# =========================================================================== the runs


@dataclass
class Tally:
    """Counts the threads share: splits across the worker pool, cross-thread decryptions."""

    splits: int = 0
    hashed_aside: int = 0
    cross_thread: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


@pytest.fixture
def parallel_engine(monkeypatch: pytest.MonkeyPatch) -> Tally:
    """Let ``threads=2`` split even tiny runs across the shared worker pool, and count that it does."""
    tally = Tally()
    monkeypatch.setattr(workers, "MIN_PARALLEL_FRAME_LENGTH", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_RUN_BYTES", 1)
    monkeypatch.setattr(workers, "MIN_PARALLEL_STREAM_RUN_BYTES", 1)

    real_run_split = workers.run_split

    def counting_split(tasks: Sequence[Callable[[], None]], pool: workers.Workers | None, *, spare: int = 0) -> None:
        if len(tasks) > 1:
            tally.add("splits")
        real_run_split(tasks, pool, spare=spare)

    real_seal_and_hash = encryptor.MessageEncryptor._seal_and_hash

    def counting_seal_and_hash(self: encryptor.MessageEncryptor, *args: Any, **kwargs: Any) -> None:
        tally.add("hashed_aside")
        real_seal_and_hash(self, *args, **kwargs)

    monkeypatch.setattr(workers, "run_split", counting_split)  # the engines split through workers.split_run
    monkeypatch.setattr(encryptor.MessageEncryptor, "_seal_and_hash", counting_seal_and_hash)
    return tally


SUBJECTS = ["RawAesKeyring", "CachingCryptoMaterialsManager", "MultiKeyring"]


@pytest.mark.parametrize("name", SUBJECTS)
def test_one_shared_keyring_or_manager_round_trips_every_message_of_16_threads(
    name: str, rsa_private_key: rsa.RSAPrivateKey, parallel_engine: Tally
) -> None:
    subject = _make_subject(name, rsa_private_key)
    finished: collections.deque[tuple[int, bytes, bytes, dict[str, str], AlgorithmSuite, int]] = collections.deque(
        maxlen=4 * THREADS
    )
    deadline = time.monotonic() + SECONDS

    def work(index: int) -> list[RoundTrip]:
        rng = random.Random(f"{name}/{index}")  # a failure names its thread: rerun with this seed
        unshared = subject.unshared()
        done: list[RoundTrip] = []
        while len(done) < MIN_PER_THREAD or time.monotonic() < deadline:
            number = len(done)
            mode = MODES[(index + number) % len(MODES)]
            suite = SUITES[(index // 2 + number) % len(SUITES)]
            frame = rng.choice(FRAME_LENGTHS)
            plaintext = rng.randbytes(plaintext_size(rng, frame))
            context = subject.context(index, number)
            decrypt_with = subject.decrypt_with[number % len(subject.decrypt_with)]
            where = f"thread {index} message {number}: {mode}, 0x{suite.id:04x}, frame {frame}, {len(plaintext)} bytes"
            try:
                outcome = round_trip(subject, decrypt_with, mode, plaintext, context, suite, frame, rng)
                check(outcome, plaintext, context, suite, frame)
                if number % CHECK_EVERY == 0:
                    for keyring in unshared:
                        assert busta.decrypt(outcome.message, keyring=keyring).plaintext == plaintext, repr(keyring)
            except Exception as exc:
                raise AssertionError(f"{where}: {exc!r}") from exc
            done.append(RoundTrip(index, number, mode, suite, frame, len(plaintext), outcome.message))
            _decrypt_another_threads_message(subject, index, finished, parallel_engine)
            finished.append((index, outcome.message, plaintext, context, suite, frame))
        return done

    per_thread = run_threads(THREADS, work, timeout=HARD_TIMEOUT)

    done = [trip for trips in per_thread for trip in trips]
    assert min(len(trips) for trips in per_thread) >= MIN_PER_THREAD, [len(trips) for trips in per_thread]
    assert {(trip.mode, trip.suite) for trip in done} == {(mode, suite) for mode in MODES for suite in SUITES}
    assert {0, 1} <= {trip.size for trip in done}
    assert len({trip.message for trip in done}) == len(done), "two messages came out identical"
    assert parallel_engine.splits > 0, "no run of frames was split across the worker pool"
    assert parallel_engine.hashed_aside > 0, "no signed run was hashed on the worker pool"
    assert parallel_engine.cross_thread > 0, "no thread decrypted another thread's message"
    if subject.after is not None:
        subject.after(done)


def _decrypt_another_threads_message(
    subject: Subject,
    index: int,
    finished: collections.deque[tuple[int, bytes, bytes, dict[str, str], AlgorithmSuite, int]],
    tally: Tally,
) -> None:
    """Take one message from the shared queue; if another thread made it, decrypt it here."""
    try:
        maker, message, plaintext, context, suite, frame = finished.popleft()
    except IndexError:
        return
    if maker == index:
        finished.append((maker, message, plaintext, context, suite, frame))  # for another thread
        return
    try:
        result = busta.decrypt(message, **subject.decrypt_with[0], encryption_context=context)
        check(
            Outcome(message, result.plaintext, result.encryption_context, result.header),
            plaintext,
            context,
            suite,
            frame,
        )
    except Exception as exc:
        raise AssertionError(f"thread {index} decrypting thread {maker}'s message: {exc!r}") from exc
    tally.add("cross_thread")
