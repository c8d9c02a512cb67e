"""What every measurement of the suite shares: its sizes, the table's row, keys and data, clients."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import busta
from busta._executor import default_threads
from busta.keyrings import RawAesKeyring

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
UNSIGNED = busta.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = busta.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
NAMESPACE, NAME = "bench", "aes-key"
#: What ``threads=None`` (the default) means on this machine: one thread per core.
DEFAULT_THREADS = default_threads()


@dataclass(frozen=True)
class Config:
    message_bytes: int  # in-memory and streaming messages
    official_bytes: int  # messages for the official SDK (it is slow)
    repeats: int
    small_messages: int  # 1 KiB messages per timing
    memory_stream_bytes: int
    sweep_frames: tuple[int, ...]
    s3_bytes: int  # object uploaded to and downloaded from a local moto S3
    bulk_objects: int  # objects per bulk job
    bulk_object_bytes: int
    rewrap_bytes: int  # the object a rewrap rotates
    large_message_bytes: int = 64 * MiB  # issue 14: streamed large frames and non-framed bodies; issue 18 target 4
    large_frame_bytes: int = 32 * MiB
    data_keys: int = 65535
    aio_bytes: int = 256 * MiB  # issue 17: async streams beside a loop-gap ticker
    # issue 18: message sizes of the size sweep (unsigned, 64 KiB frames) and of the signed checks
    sweep_sizes: tuple[int, ...] = tuple(KiB << 2 * i for i in range(10))  # 1 KiB, 4 KiB ... 256 MiB
    signed_frames: tuple[int, ...] = (4 * KiB, 64 * KiB, MiB)  # at message_bytes
    signed_sizes: tuple[int, ...] = (KiB, MiB, 64 * MiB)  # at 64 KiB frames
    run_bytes: int = 8 * MiB  # a timed run of small messages makes calls until it sealed about this much

    @classmethod
    def full(cls) -> Config:
        sweep = tuple(KiB << i for i in range(13))  # 1 KiB ... 4 MiB
        return cls(16 * MiB, 16 * MiB, 11, 5000, GiB, sweep, 256 * MiB, 400, 256 * KiB, 256 * MiB)

    @classmethod
    def quick(cls) -> Config:
        return cls(
            MiB,
            MiB,
            1,
            50,
            8 * MiB,
            (4 * KiB, 64 * KiB),
            8 * MiB,
            8,
            16 * KiB,
            16 * MiB,
            8 * MiB,
            4 * MiB,
            4096,
            aio_bytes=8 * MiB,
            sweep_sizes=(KiB, 64 * KiB, 2 * MiB),
            signed_frames=(64 * KiB,),
            signed_sizes=(KiB, 2 * MiB),
            run_bytes=256 * KiB,
        )


@dataclass(frozen=True)
class Row:
    target: str
    what: str
    value: float
    goal: float | None  # at least this (None: information only)
    unit: str


class Bench:
    """Keys, keyrings and data shared by the measurements."""

    def __init__(self, size: int):
        self.key = os.urandom(32)
        self.keyring = RawAesKeyring(NAMESPACE, NAME, self.key)
        self.data = memoryview(os.urandom(size))

    def encrypt(self, frame: int, suite: busta.AlgorithmSuite = UNSIGNED, threads: int | None = 1) -> bytes:
        return _client(threads).encrypt(self.data, keyring=self.keyring, algorithm=suite, frame_length=frame)

    def decrypt(self, message: bytes, threads: int | None = 1) -> bytes:
        return _client(threads).decrypt(message, keyring=self.keyring).plaintext


@functools.cache
def _client(threads: int | None) -> busta.Client:
    """One client per thread count (None: the default, one per core), made once: a timed call does
    not include making it."""
    return busta.Client(threads=threads)


def _gbps(size: int, seconds: float) -> float:
    return size / seconds / 1e9


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB} KiB" if n >= KiB else f"{n} B"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory-backed: measure the code, not the disk
    with tempfile.TemporaryDirectory(dir=base) as path:
        yield Path(path)
