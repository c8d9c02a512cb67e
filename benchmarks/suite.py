"""The measurements behind each target of issue 3, and the frame-size sweep."""

from __future__ import annotations

import csv
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import busta
from busta.keyrings import RawAesKeyring
from busta.streaming.pump import STREAM_CHUNK_BYTES
from tests.support import oracle

from ._bare import BareFrames, bare_sha384
from ._timing import interleaved

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
UNSIGNED = busta.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = busta.AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
NAMESPACE, NAME = "bench", "aes-key"


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
    large_message_bytes: int = 64 * MiB  # issue 14: streamed large frames and non-framed bodies
    large_frame_bytes: int = 32 * MiB
    data_keys: int = 65535
    aio_bytes: int = 256 * MiB  # issue 17: async streams beside a loop-gap ticker

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

    def encrypt(self, frame: int, suite: busta.AlgorithmSuite = UNSIGNED, threads: int = 1) -> bytes:
        return _client(threads).encrypt(self.data, keyring=self.keyring, algorithm=suite, frame_length=frame)

    def decrypt(self, message: bytes, threads: int = 1) -> bytes:
        return _client(threads).decrypt(message, keyring=self.keyring).plaintext


@functools.cache
def _client(threads: int) -> busta.Client:
    """One client per thread count, made once: a timed call does not include making it."""
    return busta.Client(threads=threads)


def _gbps(size: int, seconds: float) -> float:
    return size / seconds / 1e9


# -- target 1: one thread against the bare loop -------------------------------------------------


def in_memory(bench: Bench, frame: int, repeats: int) -> list[Row]:
    size = len(bench.data)
    bare = BareFrames(frame, size)
    message = bench.encrypt(frame)
    bare.encrypt(bench.data)
    t = interleaved(
        {
            "bare_enc": lambda: bare.encrypt(bench.data),
            "env_enc": lambda: bench.encrypt(frame),
            "bare_dec": bare.decrypt,
            "env_dec": lambda: bench.decrypt(message),
        },
        repeats,
    )
    goal = 0.6 if frame < 64 * KiB else 0.85
    label = _size(frame)
    return [
        Row("1 in-memory", f"encrypt {label} frames vs bare encrypt_into", t["bare_enc"] / t["env_enc"], goal, "x"),
        Row("1 in-memory", f"decrypt {label} frames vs bare decrypt_into", t["bare_dec"] / t["env_dec"], goal, "x"),
        Row("info", f"busta encrypt {label}, 1 thread", _gbps(size, t["env_enc"]), None, "GB/s"),
        Row("info", f"bare encrypt_into {label}", _gbps(size, t["bare_enc"]), None, "GB/s"),
    ]


@contextmanager
def scratch_dir() -> Iterator[Path]:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory-backed: measure the code, not the disk
    with tempfile.TemporaryDirectory(dir=base) as path:
        yield Path(path)


def streaming(bench: Bench, frame: int, repeats: int) -> list[Row]:
    chunk_frames = max(1, STREAM_CHUNK_BYTES // frame)
    bare = BareFrames(frame, len(bench.data))
    with scratch_dir() as tmp:
        plain, sealed, bare_sealed = tmp / "plain", tmp / "sealed", tmp / "bare"
        plain.write_bytes(bench.data)
        with plain.open("rb", buffering=0) as src, sealed.open("wb", buffering=0) as dst:
            busta.encrypt_stream(src, dst, keyring=bench.keyring, algorithm=UNSIGNED, frame_length=frame)
        with plain.open("rb", buffering=0) as src, bare_sealed.open("wb", buffering=0) as dst:
            bare.stream_encrypt(src, dst, chunk_frames)

        def run(action: Callable[[IO[bytes], IO[bytes]], object], source: Path) -> Callable[[], None]:
            def go() -> None:
                with source.open("rb", buffering=0) as src, open(os.devnull, "wb", buffering=0) as dst:
                    action(src, dst)

            return go

        keyring = bench.keyring
        t = interleaved(
            {
                "bare_enc": run(lambda s, d: bare.stream_encrypt(s, d, chunk_frames), plain),
                "env_enc": run(
                    lambda s, d: _client(1).encrypt_stream(
                        s, d, keyring=keyring, algorithm=UNSIGNED, frame_length=frame
                    ),
                    plain,
                ),
                "bare_dec": run(lambda s, d: bare.stream_decrypt(s, d, chunk_frames), bare_sealed),
                "env_dec": run(lambda s, d: _client(1).decrypt_stream(s, d, keyring=keyring), sealed),
            },
            repeats,
        )
    label = _size(frame)
    return [
        Row(
            "1 streaming",
            f"file->file encrypt {label} vs bare read/encrypt_into/write",
            t["bare_enc"] / t["env_enc"],
            0.85,
            "x",
        ),
        Row(
            "1 streaming",
            f"file->file decrypt {label} vs bare read/decrypt_into/write",
            t["bare_dec"] / t["env_dec"],
            0.85,
            "x",
        ),
    ]


# -- target 2: two threads against one -------------------------------------------------------------


def parallel(bench: Bench, frame: int, repeats: int) -> list[Row]:
    message = bench.encrypt(frame)
    t = interleaved(
        {
            "enc1": lambda: bench.encrypt(frame, threads=1),
            "enc2": lambda: bench.encrypt(frame, threads=2),
            "dec1": lambda: bench.decrypt(message, threads=1),
            "dec2": lambda: bench.decrypt(message, threads=2),
        },
        repeats,
    )
    label = _size(frame)
    return [
        Row("2 parallel", f"encrypt {label}: 2 threads vs 1", t["enc1"] / t["enc2"], 1.7, "x"),
        Row("2 parallel", f"decrypt {label}: 2 threads vs 1", t["dec1"] / t["dec2"], 1.7, "x"),
    ]


# -- target 3: a signed suite against SHA-384 alone --------------------------------------------------


def signed(bench: Bench, frame: int, repeats: int) -> list[Row]:
    message = bench.encrypt(frame, SIGNED, threads=2)
    t = interleaved(
        {
            "sha": lambda: bare_sha384(bench.data),
            "enc": lambda: bench.encrypt(frame, SIGNED, threads=2),
            "dec": lambda: bench.decrypt(message, threads=2),
        },
        repeats,
    )
    label = _size(frame)
    return [
        Row("3 signed", f"0x0578 encrypt {label} vs bare SHA-384", t["sha"] / t["enc"], 0.85, "x"),
        Row("3 signed", f"0x0578 decrypt {label} vs bare SHA-384", t["sha"] / t["dec"], 0.85, "x"),
        Row("info", "bare SHA-384", _gbps(len(bench.data), t["sha"]), None, "GB/s"),
    ]


# -- target 4: against the official SDK ----------------------------------------------------------------


def official(size: int, frame: int, suite: busta.AlgorithmSuite, repeats: int) -> list[Row]:
    bench = Bench(size)
    keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
    data = bytes(bench.data)
    theirs = oracle.official_encrypt(data, keys=keys, suite_id=suite.id, frame_length=frame)
    ours = bench.encrypt(frame, suite, threads=2)
    t = interleaved(
        {
            "off_enc": lambda: oracle.official_encrypt(data, keys=keys, suite_id=suite.id, frame_length=frame),
            "env_enc": lambda: bench.encrypt(frame, suite, threads=2),
            "off_dec": lambda: oracle.official_decrypt(theirs, keys=keys),
            "env_dec": lambda: bench.decrypt(ours, threads=2),
        },
        repeats,
    )
    goal = 10.0 if frame < 64 * KiB else 5.0
    what = f"{suite.id:#06x} {_size(frame)}"
    return [
        Row("4 vs official", f"encrypt {what}", t["off_enc"] / t["env_enc"], goal, "x"),
        Row("4 vs official", f"decrypt {what}", t["off_dec"] / t["env_dec"], goal, "x"),
    ]


# -- target 5: small messages ---------------------------------------------------------------------------


def small_messages(count: int, with_official: bool) -> list[Row]:
    bench = Bench(KiB)
    data = bytes(bench.data)
    message = bench.encrypt(4 * KiB)

    def enc() -> None:
        for _ in range(count):
            _client(1).encrypt(data, keyring=bench.keyring, algorithm=UNSIGNED)

    def dec() -> None:
        for _ in range(count):
            _client(1).decrypt(message, keyring=bench.keyring)

    runs: dict[str, Callable[[], object]] = {"enc": enc, "dec": dec}
    if with_official:
        keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
        theirs = oracle.official_encrypt(data, keys=keys, suite_id=UNSIGNED.id, frame_length=4096)
        few = max(1, count // 10)

        def off_enc() -> None:
            for _ in range(few):
                oracle.official_encrypt(data, keys=keys, suite_id=UNSIGNED.id, frame_length=4096)

        def off_dec() -> None:
            for _ in range(few):
                oracle.official_decrypt(theirs, keys=keys)

        runs |= {"off_enc": off_enc, "off_dec": off_dec}
    t = interleaved(runs, 3)
    rows = [
        Row("5 small", "1 KiB encrypts per second", count / t["enc"], 20_000, "/s"),
        Row("5 small", "1 KiB decrypts per second", count / t["dec"], 20_000, "/s"),
    ]
    if with_official:
        few = max(1, count // 10)
        rows += [
            Row(
                "5 small", "1 KiB encrypts vs official keyring API", (t["off_enc"] / few) / (t["enc"] / count), 10, "x"
            ),
            Row(
                "5 small", "1 KiB decrypts vs official keyring API", (t["off_dec"] / few) / (t["dec"] / count), 10, "x"
            ),
        ]
    return rows


# -- HSM (issue 5): wrap and unwrap latency on SoftHSM, 1 KiB messages through the HSM keyring ----------


def hsm(count: int) -> list[Row]:
    from busta.keyrings import pkcs11 as hsm_keyring  # noqa: PLC0415 - optional extra
    from busta.keyrings import pkcs11_admin  # noqa: PLC0415 - optional extra

    token = pkcs11_admin.create_softhsm_token(f"bench-{os.getpid()}")
    pkcs11_admin.generate_aes_key(token.module, token.token_label, "bench", pin=token.pin)
    keyring = hsm_keyring.Pkcs11Keyring(
        NAMESPACE, NAME, module=token.module, token_label=token.token_label, key_label="bench", pin=token.pin
    )
    materials = keyring.on_encrypt(busta.EncryptionMaterials(suite=UNSIGNED, encryption_context={"a": "b"}))
    request = busta.DecryptionMaterials(suite=UNSIGNED, encryption_context={"a": "b"})
    edks = materials.encrypted_data_keys
    data = os.urandom(KiB)
    message = busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED)

    def wrap() -> None:
        for _ in range(count):
            keyring.on_encrypt(materials)

    def unwrap() -> None:
        for _ in range(count):
            keyring.on_decrypt(request, edks)

    def enc() -> None:
        for _ in range(count):
            _client(1).encrypt(data, keyring=keyring, algorithm=UNSIGNED)

    def dec() -> None:
        for _ in range(count):
            _client(1).decrypt(message, keyring=keyring)

    t = interleaved({"wrap": wrap, "unwrap": unwrap, "enc": enc, "dec": dec}, 3)
    return [
        Row("5 HSM", "SoftHSM AES-GCM wrap (one on_encrypt)", t["wrap"] / count * 1e6, None, "us"),
        Row("5 HSM", "SoftHSM AES-GCM unwrap (one on_decrypt)", t["unwrap"] / count * 1e6, None, "us"),
        Row("5 HSM", "1 KiB encrypts per second through the HSM keyring", count / t["enc"], None, "/s"),
        Row("5 HSM", "1 KiB decrypts per second through the HSM keyring", count / t["dec"], None, "/s"),
    ]


# -- issue 6: data-key caching in front of AWS KMS (a moto server on 127.0.0.1) -------------------------


def caching(count: int) -> list[Row]:
    from busta.keyrings import AwsKmsKeyring  # noqa: PLC0415 - optional extra
    from tests.support.moto_server import MotoServer  # noqa: PLC0415 - starts a server process

    data = os.urandom(KiB)
    with MotoServer() as server:
        client = server.client("kms", "us-west-2")
        keyring = AwsKmsKeyring(client.create_key()["KeyMetadata"]["Arn"], client=client)
        cached = busta.CachingCryptoMaterialsManager(keyring, max_age=600, max_messages=10 * count)
        busta.encrypt(data, materials_manager=cached, algorithm=UNSIGNED)  # warm the cache
        few = max(1, count // 20)

        def plain() -> None:
            for _ in range(few):
                _client(1).encrypt(data, keyring=keyring, algorithm=UNSIGNED)

        def warm() -> None:
            for _ in range(count):
                _client(1).encrypt(data, materials_manager=cached, algorithm=UNSIGNED)

        t = interleaved({"plain": plain, "warm": warm}, 3)
    per_plain, per_warm = t["plain"] / few, t["warm"] / count
    return [
        Row("6 caching", "1 KiB encrypt through KMS: warm cache vs none", per_plain / per_warm, 5, "x"),
        Row("info", "1 KiB encrypts per second through KMS, no cache (moto)", 1 / per_plain, None, "/s"),
        Row("info", "1 KiB encrypts per second through KMS, warm cache", 1 / per_warm, None, "/s"),
    ]


# -- S3: multipart upload, streamed download and ranged reads against moto's S3 on 127.0.0.1 -------------------


def s3_rows(size: int) -> list[Row]:
    import io  # noqa: PLC0415 - only this measurement needs it

    from busta import s3  # noqa: PLC0415 - optional extra
    from tests.support.moto_server import MotoServer  # noqa: PLC0415 - starts a server process

    class Discard:
        """A sink that throws the plaintext away, so that no disk is timed."""

        def write(self, data: bytes | bytearray | memoryview) -> int:
            return len(data)

    bench = Bench(size)
    bucket, key = "busta-bench", "object"
    fetched, gets, heads = 0, 0, 0

    def on_get(parsed: dict[str, Any], **_: Any) -> None:
        nonlocal fetched, gets
        fetched += int(parsed["ContentLength"])
        gets += 1

    def on_head(**_: Any) -> None:
        nonlocal heads
        heads += 1  # no body: it only tells get_range the object's size

    with MotoServer() as server:
        client = server.client("s3")
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": client.meta.region_name})
        start = time.perf_counter()
        uploaded = s3.upload_fileobj(
            io.BytesIO(bench.data), bucket, key, client=client, keyring=bench.keyring, algorithm=UNSIGNED
        )
        upload = time.perf_counter() - start
        start = time.perf_counter()
        result = s3.download_fileobj(bucket, key, Discard(), client=client, keyring=bench.keyring)  # type: ignore[arg-type]
        download = time.perf_counter() - start
        assert result.plaintext_length == size
        client.meta.events.register("after-call.s3.GetObject", on_get)
        client.meta.events.register("after-call.s3.HeadObject", on_head)
        middle = size // 2
        assert s3.get_range(bucket, key, middle, middle + KiB, client=client, keyring=bench.keyring) == bytes(
            bench.data[middle : middle + KiB]
        )
    label = _size(size)
    return [
        Row("7 S3", f"upload of {label} to moto (plaintext MB/s)", size / upload / 1e6, None, "MB/s"),
        Row("7 S3", f"download of {label} from moto (plaintext MB/s)", size / download / 1e6, None, "MB/s"),
        Row("7 S3", f"bytes fetched by a 1 KiB ranged read of a {label} object", fetched, None, "bytes"),
        Row("7 S3", "the same as a fraction of the object", 100 * fetched / uploaded.object_size, None, "% of object"),
        Row("info", "requests of that ranged read (HeadObject + Range GETs)", heads + gets, None, "requests"),
    ]


# -- target 6: memory and start-up -------------------------------------------------------------------------

_MEMORY_SCRIPT = """
import os, sys, busta
from busta.keyrings import RawAesKeyring

class Source:
    def __init__(self, size):
        self.left = size
        self.block = os.urandom(1 << 20)
    def readinto(self, view):
        n = min(len(view), self.left, len(self.block))
        view[:n] = self.block[:n]
        self.left -= n
        return n

keyring = RawAesKeyring("bench", "aes-key", os.urandom(32))
size = int(sys.argv[1])
with open(os.devnull, "wb") as null:
    sink = busta.decrypting_writer(null, keyring=keyring)
    result = busta.encrypt_stream(Source(size), sink, keyring=keyring)
    sink.close()
assert result.plaintext_length == size
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
"""

_IMPORT_SCRIPT = (
    "import sys, time; t = time.perf_counter(); import busta; t = time.perf_counter() - t; "
    "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'pkcs11', 'zstandard', 'msgpack')]; "
    "print(t, len(bad))"
)


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: with compiled bytecode
    env["PYTHONPATH"] = str(Path(busta.__file__).resolve().parents[1])
    return env


def memory_and_startup(stream_bytes: int) -> list[Row]:
    env = _python_env()
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(stream_bytes)], env=env, capture_output=True, text=True, check=True
    )
    peak_mib = int(out.stdout.split()[-1]) / 1024
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(busta.__file__).parent)], env=env, check=True)
    wall, inside = [], []
    for _ in range(7):
        start = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", _IMPORT_SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        wall.append(time.perf_counter() - start)
        seconds, bad = res.stdout.split()
        inside.append(float(seconds))
        assert bad == "0", "import busta pulled in an optional dependency"
    label = f"encrypt+decrypt {_size(stream_bytes)} stream: peak RSS"
    return [
        Row("6 memory", label, peak_mib, None, "MiB (goal < 40)"),
        Row("6 start-up", "python -c 'import busta', whole process", min(wall) * 1000, None, "ms (goal < 80)"),
        Row("info", "import busta inside the interpreter", min(inside) * 1000, None, "ms"),
    ]


# -- the whole table -------------------------------------------------------------------------------------------


def run_targets(config: Config, *, official: bool) -> list[Row]:
    bench = Bench(config.message_bytes)
    rows: list[Row] = []
    for frame in (4 * KiB, 64 * KiB, MiB):
        rows += in_memory(bench, frame, config.repeats)
    for frame in (64 * KiB, MiB):
        rows += streaming(bench, frame, config.repeats)
    for frame in (64 * KiB, MiB):
        rows += parallel(bench, frame, config.repeats)
    rows += signed(bench, 64 * KiB, config.repeats)
    if official:
        for suite in (UNSIGNED, SIGNED):
            for frame in (4 * KiB, 64 * KiB, MiB):
                rows += official_rows(config, frame, suite)
    rows += small_messages(config.small_messages, official)
    rows += hsm(config.small_messages)
    rows += caching(config.small_messages)
    rows += s3_rows(config.s3_bytes)
    from .s3_transfer import s3_transfer_rows  # noqa: PLC0415 - it imports this module

    rows += s3_transfer_rows(config.s3_bytes, min(config.repeats, 3))
    from .s3_async import s3_async_rows  # noqa: PLC0415 - it imports this module

    rows += s3_async_rows(config.s3_bytes, min(config.repeats, 3))
    from .bulk import bulk_rows  # noqa: PLC0415 - it imports this module

    rows += bulk_rows(config.bulk_objects, config.bulk_object_bytes, config.rewrap_bytes)
    from .kms_regions import forged_regions_rows  # noqa: PLC0415 - it imports this module

    rows += forged_regions_rows()
    from .kms_async import kms_async_rows  # noqa: PLC0415 - it imports this module

    rows += kms_async_rows(config.small_messages // 5, min(config.repeats, 3))  # 1,000 (full), 10 (--quick)
    from .hierarchy import hierarchy_rows  # noqa: PLC0415 - it imports this module

    rows += hierarchy_rows(config.small_messages // 2)
    rows += memory_and_startup(config.memory_stream_bytes)
    from .limits import limits_rows  # noqa: PLC0415 - it imports this module

    rows += limits_rows(config)
    from .compression import compression_rows  # noqa: PLC0415 - it imports this module

    rows += compression_rows(config)
    from .aio import aio_rows  # noqa: PLC0415 - it imports this module

    rows += aio_rows(config)
    return rows


def official_rows(config: Config, frame: int, suite: busta.AlgorithmSuite) -> list[Row]:
    return official(config.official_bytes, frame, suite, max(1, config.repeats // 2))


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB and n % MiB == 0 else f"{n // KiB} KiB"


def _verdict(row: Row) -> str:
    if row.goal is not None:
        return "ok" if row.value >= row.goal else "MISSED"
    if row.unit.startswith("MiB (goal < "):
        return "ok" if row.value < float(row.unit.split("< ")[1].rstrip(")")) else "MISSED"
    if row.unit.startswith("ms (goal < "):
        return "ok" if row.value < float(row.unit.split("< ")[1].rstrip(")")) else "MISSED"
    return ""


def format_table(rows: list[Row], *, verdicts: bool) -> str:
    lines = [f"{'target':<14} {'measurement':<62} {'value':>10}  {'unit':<16} {'goal':>6}  verdict"]
    for row in rows:
        goal = f">={row.goal:g}" if row.goal is not None else ""
        verdict = _verdict(row) if verdicts else "(smoke)"
        lines.append(f"{row.target:<14} {row.what:<62} {row.value:>10.2f}  {row.unit:<16} {goal:>6}  {verdict}")
    return "\n".join(lines)


def write_rows(rows: list[Row], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["target", "measurement", "value", "unit", "goal", "verdict"])
        for row in rows:
            writer.writerow([row.target, row.what, f"{row.value:.4f}", row.unit, row.goal or "", _verdict(row)])


# -- the frame-size sweep ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepPoint:
    frame: int
    bare: float
    serial: float
    parallel: float
    official: float | None  # GB/s, encrypt, unsigned suite 0x0478


def run_sweep(config: Config, *, official: bool) -> list[SweepPoint]:
    bench = Bench(config.message_bytes)
    points = []
    for frame in config.sweep_frames:
        bare = BareFrames(frame, len(bench.data))
        runs: dict[str, Callable[[], object]] = {
            "bare": functools.partial(bare.encrypt, bench.data),
            "serial": functools.partial(bench.encrypt, frame, threads=1),
            "parallel": functools.partial(bench.encrypt, frame, threads=2),
        }
        if official:
            keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
            small = bytes(bench.data[: config.official_bytes])
            runs["official"] = functools.partial(
                oracle.official_encrypt, small, keys=keys, suite_id=UNSIGNED.id, frame_length=frame
            )
        t = interleaved(runs, max(1, config.repeats // 2))
        size = len(bench.data)
        off = _gbps(config.official_bytes, t["official"]) if "official" in t else None
        points.append(
            SweepPoint(frame, _gbps(size, t["bare"]), _gbps(size, t["serial"]), _gbps(size, t["parallel"]), off)
        )
        print(
            f"sweep {_size(frame):>7}: bare {points[-1].bare:5.2f}  busta {points[-1].serial:5.2f} (1 thread) "
            f"{points[-1].parallel:5.2f} (2 threads)  official {off if off is None else round(off, 2)} GB/s"
        )
    return points


def write_sweep(points: list[SweepPoint], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame_length", "bare_gbps", "busta_1_thread_gbps", "busta_2_threads_gbps", "official_gbps"])
        for p in points:
            writer.writerow(
                [
                    p.frame,
                    f"{p.bare:.4f}",
                    f"{p.serial:.4f}",
                    f"{p.parallel:.4f}",
                    "" if p.official is None else f"{p.official:.4f}",
                ]
            )


def plot_sweep(points: list[SweepPoint], path: Path) -> None:
    import matplotlib  # noqa: PLC0415 - heavy, and only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    frames = [p.frame for p in points]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(frames, [p.bare for p in points], "k--", marker="o", label="bare AES-GCM encrypt_into (1 thread)")
    ax.plot(frames, [p.serial for p in points], marker="o", label="busta.encrypt, 1 thread")
    ax.plot(frames, [p.parallel for p in points], marker="o", label="busta.encrypt, 2 threads")
    if all(p.official is not None for p in points):
        ax.plot(frames, [p.official or 0.0 for p in points], marker="o", label="official aws-encryption-sdk")
    ax.set_xscale("log", base=2)
    ax.set_xticks(frames)
    ax.set_xticklabels([_size(f) for f in frames], rotation=45)
    ax.set_xlabel("frame length")
    ax.set_ylabel("plaintext GB/s (suite 0x0478, in memory)")
    ax.set_title("Encryption throughput against frame length")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
