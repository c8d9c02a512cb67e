"""The fast engine: exact sizes, parallel output identical to serial, stream pumps, fixed signatures."""

from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import busta
from busta import AlgorithmSuite, EncryptionMaterials, MessageEncryptor
from busta._buffers import OutputBuffer
from busta._executor import workers_for
from busta.crypto.frames import FrameCodec
from busta.crypto.signing import Verifier
from busta.errors import AuthenticationError, MalformedMessageError, TruncatedMessageError, UsageError
from busta.keyrings import RawAesKeyring
from busta.streaming import workers

from ..conftest import policy_for

UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
KiB, MiB = 1 << 10, 1 << 20


def _plaintext(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def _materials(keyring: RawAesKeyring, suite: AlgorithmSuite) -> EncryptionMaterials:
    cmm = busta.DefaultCryptoMaterialsManager(keyring)
    return cmm.get_encryption_materials(busta.EncryptionRequest({"k": "v"}, policy_for(suite), suite))


def _encryptor(
    keyring: RawAesKeyring, suite: AlgorithmSuite, message_id: bytes, threads: int, frame: int
) -> MessageEncryptor:
    return MessageEncryptor(
        _materials(keyring, suite),
        frame_length=frame,
        message_id=message_id,
        workers=workers_for(threads, streaming=True),
    )


def test_parallelism_is_used_only_for_long_runs_of_large_frames() -> None:
    whole, stream = workers_for(2, streaming=False), workers_for(2, streaming=True)
    assert whole is not None and stream is not None
    assert workers.parts(whole, 64 * KiB, 128) == 2
    assert workers.parts(whole, 64 * KiB, 128, busy=1) == 1  # one of the two threads hashes
    assert workers.parts(whole, 32 * KiB, 1024) == 1  # small frames: the GIL around each call costs more than it gains
    assert (
        workers.parts(whole, 64 * KiB, 127) == 1
    )  # in memory, a run below 8 MiB is quicker on the core whose cache holds it
    assert workers.parts(whole, 8 * MiB, 1) == 1
    assert workers.parts(stream, 64 * KiB, 16) == 2  # a stream's step of 1 MiB or more is split
    assert workers.parts(stream, 64 * KiB, 15) == 1
    assert workers.parts(stream, 32 * KiB, 1024) == 1
    assert not whole.streaming and stream.streaming
    assert whole.executor is stream.executor, "one pool per thread count"
    assert workers_for(1, streaming=True) is None and workers.parts(None, MiB, 64) == 1
    default = workers_for(None, streaming=True)
    assert (1 if default is None else default.threads) == min(os.cpu_count() or 1, workers.MAX_THREADS)
    for bad in (0, -1, workers.MAX_THREADS + 1, True, 1.5):
        with pytest.raises(UsageError):
            workers_for(bad, streaming=True)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="streaming"):
        workers.Workers(whole.executor, 2, 1)  # type: ignore[arg-type]


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of tasks of every split run (a run left whole on one thread is not counted)."""
    counted: list[int] = []
    real_run_split = workers.run_split

    def counting_run_split(tasks: list[Callable[[], None]], pool: workers.Workers | None, *, spare: int = 0) -> None:
        counted.append(len(tasks))
        real_run_split(tasks, pool, spare=spare)

    monkeypatch.setattr(workers, "run_split", counting_run_split)
    return counted


@pytest.mark.parametrize("frame", [64 * KiB, MiB])
def test_a_stream_splits_each_step_where_a_message_held_whole_of_the_same_size_is_not_split(
    aes_keyring: RawAesKeyring, frame: int, splits: list[int]
) -> None:
    """Issue 18 target 1: the pump's 2 MiB steps are split over two threads, as the bare streaming
    loop splits them; a 4 MiB message sealed or opened whole stays below the in-memory threshold."""
    client, data = busta.Client(threads=2), _plaintext(4 * MiB)
    message = client.encrypt(data, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=frame)
    assert client.decrypt(message, keyring=aes_keyring).plaintext == data
    assert splits == [], "a message held whole splits from 8 MiB"
    sealed, opened = io.BytesIO(), io.BytesIO()
    client.encrypt_stream(io.BytesIO(data), sealed, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=frame)
    steps = len(splits)
    assert steps >= 2 and set(splits) == {2}, splits  # every 2 MiB step, in two
    assert len(sealed.getvalue()) == len(message)
    client.decrypt_stream(io.BytesIO(sealed.getvalue()), opened, keyring=aes_keyring)
    assert opened.getvalue() == data
    assert len(splits) >= 2 * steps - 1 and set(splits) == {2}, splits


def test_a_signed_stream_hashes_each_step_beside_its_frames_where_a_message_held_whole_does_not(
    aes_keyring: RawAesKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default (signed) suite as users stream it: SHA-384 is the ceiling, so a step is hashed on
    one thread while its frames are sealed or opened on the other (splitting the sealing of a 2 MiB
    step and hashing after it ran at 0.90 to 0.95x of one thread); a 4 MiB message held whole is
    below the in-memory threshold and stays on the calling thread."""
    off_main: list[str] = []
    real_seal, real_update = FrameCodec.seal_regular, Verifier.update

    def seal_regular(self: FrameCodec, *args: Any) -> Any:
        here = threading.current_thread() is threading.main_thread()
        off_main.append("seal here" if here else "seal")
        return real_seal(self, *args)

    def update(self: Verifier, data: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            off_main.append("hash")
        real_update(self, data)

    monkeypatch.setattr(FrameCodec, "seal_regular", seal_regular)
    monkeypatch.setattr(Verifier, "update", update)
    client, data = busta.Client(threads=2), _plaintext(4 * MiB)
    message = client.encrypt(data, keyring=aes_keyring, algorithm=SIGNED)
    assert client.decrypt(message, keyring=aes_keyring).plaintext == data
    assert set(off_main) == {"seal here"}, "a message held whole splits and hashes beside from 8 MiB"
    off_main.clear()
    sealed, opened = io.BytesIO(), io.BytesIO()
    client.encrypt_stream(io.BytesIO(data), sealed, keyring=aes_keyring, algorithm=SIGNED)
    assert set(off_main) == {"seal"}, "every frame sealed on the other thread (not split), hashed here"
    off_main.clear()
    client.decrypt_stream(io.BytesIO(sealed.getvalue()), opened, keyring=aes_keyring)
    assert opened.getvalue() == data
    assert set(off_main) == {"hash"}, "the frames hashed on the other thread, opened here"


@pytest.mark.parametrize("frame", [64 * KiB, MiB])
@pytest.mark.parametrize("size", [9 * MiB, 9 * MiB + 5])
def test_parallel_output_is_byte_identical_to_serial(
    aes_keyring: RawAesKeyring, frame: int, size: int, splits: list[int]
) -> None:
    data = _plaintext(size)
    message_id = os.urandom(32)
    materials = _materials(aes_keyring, UNSIGNED)
    serial = MessageEncryptor(materials, frame_length=frame, message_id=message_id, workers=None)
    parallel = MessageEncryptor(
        materials, frame_length=frame, message_id=message_id, workers=workers_for(2, streaming=True)
    )
    one = serial.update(data) + serial.finalize()
    assert splits == []  # one thread: sealed in place
    two = parallel.update(data) + parallel.finalize()
    assert splits == [2]  # two threads: the run of frames was cut in two
    assert one == two
    assert busta.Client(threads=2).decrypt(one, keyring=aes_keyring).plaintext == data


def test_signed_parallel_output_matches_serial_before_the_signature(aes_keyring: RawAesKeyring) -> None:
    data = _plaintext(3 * MiB)
    message_id = os.urandom(32)
    materials = _materials(aes_keyring, SIGNED)
    one = MessageEncryptor(materials, frame_length=64 * KiB, message_id=message_id, workers=None)
    two = MessageEncryptor(
        materials, frame_length=64 * KiB, message_id=message_id, workers=workers_for(2, streaming=True)
    )
    # ECDSA signatures are randomized: compare everything before the footer
    body_one = (one.update(data) + one.finalize())[: -(2 + 103)]
    body_two = (two.update(data) + two.finalize())[: -(2 + 103)]
    assert body_one == body_two


def test_parallel_decrypt_rejects_a_damaged_frame_in_any_part(aes_keyring: RawAesKeyring) -> None:
    data = _plaintext(4 * MiB)
    message = bytearray(busta.encrypt(data, keyring=aes_keyring, algorithm=UNSIGNED, frame_length=64 * KiB))
    for where in (len(message) // 4, len(message) * 3 // 4):
        damaged = bytearray(message)
        damaged[where] ^= 1
        with pytest.raises(AuthenticationError):
            busta.Client(threads=2).decrypt(bytes(damaged), keyring=aes_keyring)


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=lambda s: s.name)
@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_update_and_finalize_sizes_are_exact(aes_keyring: RawAesKeyring, suite: AlgorithmSuite, size: int) -> None:
    encryptor = _encryptor(aes_keyring, suite, os.urandom(32), 1, 64)
    expected = encryptor.message_size(size)
    first = size // 2
    predicted = encryptor.update_size(first)
    part = encryptor.update(_plaintext(first))
    assert len(part) == predicted
    predicted = encryptor.update_size(size - first)
    part2 = encryptor.update(_plaintext(size)[first:])
    assert len(part2) == predicted
    predicted = encryptor.finalize_size()
    last = encryptor.finalize()
    assert len(last) == predicted
    assert len(part) + len(part2) + len(last) == expected


def test_update_into_refuses_a_short_buffer_without_side_effects(aes_keyring: RawAesKeyring) -> None:
    encryptor = _encryptor(aes_keyring, UNSIGNED, os.urandom(32), 1, 64)
    with pytest.raises(UsageError):
        encryptor.update_into(_plaintext(1000), memoryview(bytearray(10)))
    whole = encryptor.update(_plaintext(1000)) + encryptor.finalize()
    assert busta.decrypt(whole, keyring=aes_keyring).plaintext == _plaintext(1000)


def test_a_decryptor_given_too_small_a_buffer_says_so(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(_plaintext(1000), keyring=aes_keyring, algorithm=UNSIGNED, frame_length=64)
    decryptor = busta.start_decryption(keyring=aes_keyring)
    with pytest.raises(UsageError, match="output_bound"):
        decryptor.update_into(message, memoryview(bytearray(100)))


@pytest.mark.parametrize(
    ("suite", "length"),
    [(AlgorithmSuite.AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256, 71), (SIGNED, 103)],
    ids=["P-256", "P-384"],
)
def test_signatures_have_one_fixed_length_and_a_low_s(
    aes_keyring: RawAesKeyring, suite: AlgorithmSuite, length: int
) -> None:
    orders = {
        71: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        103: int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16
        ),
    }
    for _ in range(20):
        message = busta.Client(commitment_policy=policy_for(suite)).encrypt(b"x", keyring=aes_keyring, algorithm=suite)
        footer = message[-(2 + length) :]
        assert int.from_bytes(footer[:2], "big") == length
        _, s = decode_dss_signature(footer[2:])
        assert s <= orders[length] // 2


@pytest.mark.parametrize("frame", [64, 4096])
@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, (2 << 20) + 3])
@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED], ids=lambda s: s.name)
def test_encrypt_stream_and_decrypt_stream_round_trip(
    aes_keyring: RawAesKeyring, frame: int, size: int, suite: AlgorithmSuite
) -> None:
    data = _plaintext(size)
    sealed = io.BytesIO()
    result = busta.encrypt_stream(
        io.BytesIO(data),
        sealed,
        keyring=aes_keyring,
        algorithm=suite,
        frame_length=frame,
        encryption_context={"a": "b"},
    )
    assert result.plaintext_length == size
    assert result.header.frame_length == frame
    message = sealed.getvalue()
    assert busta.decrypt(message, keyring=aes_keyring).plaintext == data
    plain = io.BytesIO()
    back = busta.decrypt_stream(io.BytesIO(message), plain, keyring=aes_keyring, encryption_context={"a": "b"})
    assert plain.getvalue() == data
    assert back.plaintext_length == size
    assert back.header.message_id == result.header.message_id
    assert back.encryption_context["a"] == "b"


class _ReadOnly:
    """A source with read() only, handing out at most 1000 bytes per call."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 1000) if n >= 0 else 1000)


def test_stream_pumps_accept_sources_without_readinto(aes_keyring: RawAesKeyring) -> None:
    data = _plaintext(100_000)
    sealed = io.BytesIO()
    busta.encrypt_stream(_ReadOnly(data), sealed, keyring=aes_keyring, frame_length=4096)  # type: ignore[arg-type]
    plain = io.BytesIO()
    busta.decrypt_stream(_ReadOnly(sealed.getvalue()), plain, keyring=aes_keyring)  # type: ignore[arg-type]
    assert plain.getvalue() == data


def test_decrypt_stream_rejects_truncation_and_trailing_bytes(aes_keyring: RawAesKeyring) -> None:
    message = busta.encrypt(_plaintext(10_000), keyring=aes_keyring, frame_length=4096)
    with pytest.raises(TruncatedMessageError):
        busta.decrypt_stream(io.BytesIO(message[:-1]), io.BytesIO(), keyring=aes_keyring)
    with pytest.raises(MalformedMessageError, match="after the end"):
        busta.decrypt_stream(io.BytesIO(message + b"\0"), io.BytesIO(), keyring=aes_keyring)


def test_a_large_output_buffer_becomes_bytes_and_copies_only_when_cut_small_ones_copy() -> None:
    size = 64 << 10
    whole = OutputBuffer(size)
    whole.view[:] = b"a" * size
    target = whole._target
    assert isinstance(target, bytes)
    assert whole.finish() is target  # no copy
    small = OutputBuffer(8)
    small.view[:] = b"abcdefgh"
    assert not isinstance(small._target, bytes)
    assert small.finish() == b"abcdefgh"
    cut = OutputBuffer(8)
    cut.view[:3] = b"abc"
    assert cut.finish(3) == b"abc"
    empty = OutputBuffer(0)
    assert empty.finish() == b""
    dropped = OutputBuffer(4)
    dropped.discard()
    with pytest.raises(ValueError):
        dropped.view[0] = 1


def test_an_encryptor_refuses_more_plaintext_than_was_declared(aes_keyring: RawAesKeyring) -> None:
    encryptor = busta.start_encryption(keyring=aes_keyring, plaintext_length=10)
    encryptor.update(b"x" * 6)
    with pytest.raises(UsageError, match="declared"):
        encryptor.update(b"x" * 5)
    with pytest.raises(UsageError):
        encryptor.finalize()  # the encryptor stays failed: no message that looks complete


def _vma_flags(address: int) -> set[str]:
    """The VmFlags of the mapping of this process that holds ``address`` (Linux /proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                low, high = (int(part, 16) for part in head.split("-"))
                inside = low <= address < high
            elif inside and line.startswith("VmFlags:"):
                return set(line.split()[1:])
    raise AssertionError(f"no mapping holds {address:#x}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="transparent huge pages are a Linux feature")
def test_a_fresh_output_of_32_mib_or_more_asks_for_huge_pages_and_a_smaller_one_does_not() -> None:
    """Each 4 KiB page of a fresh 64 MiB output faults in on first write; huge pages fault 512 times less."""
    large = OutputBuffer(64 << 20)
    address = ctypes.addressof(ctypes.c_char.from_buffer(large.view))
    assert "hg" in _vma_flags(address + (4 << 20))  # inside the 2 MiB-aligned interior
    large.discard()
    small = OutputBuffer(1 << 20)
    assert "hg" not in _vma_flags(ctypes.addressof(ctypes.c_char.from_buffer(small.view)))
    small.discard()
