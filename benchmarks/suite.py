"""The suite's table: every target's rows, their verdicts, and the measurements of earlier issues.

Issue 18's targets are in ``benchmarks.targets18`` (against same-run bare loops) and
``benchmarks.sweeps`` (the frame and size sweeps, target 2); this module gathers every row
(``run_all``), prints the table and writes ``results.csv``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import busta

from . import sweeps, targets18
from ._common import (
    NAME,
    NAMESPACE,
    UNSIGNED,
    Bench,
    Config,
    KiB,
    Row,
    _client,
    _gbps,
    _size,
    scratch_dir,
)
from ._timing import interleaved

# The names other benchmark modules import from here.
__all__ = [
    "UNSIGNED",
    "Bench",
    "Config",
    "Results",
    "Row",
    "_gbps",
    "_python_env",
    "_size",
    "format_table",
    "run_all",
    "scratch_dir",
    "write_rows",
]


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


# -- issue 18 target 7: memory and start-up -------------------------------------------------------------------------

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


#: Prints every module other than busta's own that ``import busta`` loads (the standard library's and
#: cryptography's): importing just those is the floor under busta's start-up on the machine.
_DEPENDENCIES_SCRIPT = (
    "import sys; before = set(sys.modules); import busta; "
    "print(' '.join(sorted(m for m in set(sys.modules) - before "
    "if m.split('.')[0] != 'busta' and not m.startswith('_'))))"
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
    deps = subprocess.run(
        [sys.executable, "-c", _DEPENDENCIES_SCRIPT], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    commands = {  # alternated, round by round: the floors are measured in the same minute as busta
        "busta": [sys.executable, "-c", _IMPORT_SCRIPT],
        "pass": [sys.executable, "-c", "pass"],
        "deps": [sys.executable, "-c", "import " + ", ".join(deps)],
    }
    wall: dict[str, list[float]] = {name: [] for name in commands}
    inside = []
    for _ in range(7):
        for name, command in commands.items():
            start = time.perf_counter()
            res = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            wall[name].append(time.perf_counter() - start)
            if name == "busta":
                seconds, bad = res.stdout.split()
                inside.append(float(seconds))
                assert bad == "0", "import busta pulled in an optional dependency"
    label = f"encrypt+decrypt {_size(stream_bytes)} stream: peak RSS"
    return [
        Row("18.7 memory", label, peak_mib, None, "MiB (goal < 40)"),
        Row(
            "18.7 start-up",
            "python -c 'import busta', whole process",
            min(wall["busta"]) * 1000,
            None,
            "ms (goal < 80)",
        ),
        Row("info", "import busta inside the interpreter", min(inside) * 1000, None, "ms"),
        Row("info", "floor: python -c pass, whole process", min(wall["pass"]) * 1000, None, "ms"),
        Row(
            "info",
            f"floor: the {len(deps)} modules import busta loads, without busta",
            min(wall["deps"]) * 1000,
            None,
            "ms",
        ),
    ]


# -- the whole table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    rows: list[Row]
    frames: list[sweeps.Point]  # the frame-length sweep (sweep.csv, sweep.png)
    sizes: list[sweeps.Point]  # the message-size sweep (sizes.csv, sizes.png)


def run_all(config: Config, *, official: bool) -> Results:
    bench = Bench(config.message_bytes)
    rows = targets18.parallel_rows(bench, config.repeats)
    frames = sweeps.frame_sweep(config, official=official)
    sizes = sweeps.size_sweep(config)
    rows += sweeps.defaults_rows(frames, sizes, sweeps.signed_points(config))
    rows += targets18.other_rows(config, bench, official=official)
    rows += sweeps.official_rows(frames)
    del bench
    rows += hsm(config.small_messages)
    rows += caching(config.small_messages)
    rows += s3_rows(config.s3_bytes)
    from .s3_transfer import s3_transfer_rows  # noqa: PLC0415 - it imports this module

    rows += s3_transfer_rows(config.s3_bytes, min(config.repeats, 5))  # moto-bound: the noisiest rows
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
    return Results(rows, frames, sizes)


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
