"""busta.s3 against boto3's own transfers (issue 16): upload_file and download_file of the same plaintext.

Both sides run against the same moto server on 127.0.0.1, in the same run, measured in
alternation (median of ``repeats`` rounds after one untimed round each), from and to a
memory-backed directory. Each side has its own defaults: boto3's ``TransferConfig`` (8 MiB
parts, 10 threads) and busta's (8 MiB parts, 4 at once); a second busta row uses 10 too.
busta writes suite 0x0478 (unsigned, so its download runs in ranges) with 64 KiB frames;
a signed 0x0578 object is downloaded sequentially, as it must be.

Each ratio row prints its goal (issue 18: upload at least 0.95x, download at least 1.0x of boto3,
in the same run) and a verdict. boto3 runs twice in each round ("boto3-again"): the ratio of its two
runs is the measurement's own spread, printed beside the verdicts. A third side in each round,
"bare", is the floor of busta's own requests: the same parts and ranges, as many at once, made with
the boto3 client's low-level calls and no encryption; busta against it is busta's own cost, and it
against boto3 is what the request pattern gets from this server. Each transfer's CPU time is metered
on both sides: this process's (``os.times``: busta's or boto3's threads) and the moto server's (from
``/proc``), since on a 2-vCPU machine the server's busy core is what sets the pace. Then the
requests each side made (counted with botocore ``before-call`` hooks on one more, untimed,
transfer), and a ranged read of 1 KiB from the middle of the object: the object's size over the
bytes its GETs returned (goal: at least 1000, that is under 0.1% of the object fetched).

Run on its own: ``python -m benchmarks.s3_transfer [--size MiB] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import queue
import statistics
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from busta import AlgorithmSuite, s3
from busta.keyrings import RawAesKeyring
from busta.s3._calls import _part_checksum
from tests.support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

from ._timing import interleaved
from .suite import Row, format_table, scratch_dir

MiB = 1 << 20
BUCKET = "busta-bench-transfer"
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
KiB = 1 << 10
#: Issue 18's goals: busta's time over boto3's of the same transfer, same server, same run.
UPLOAD_GOAL = 0.95
DOWNLOAD_GOAL = 1.0
#: A 1 KiB ranged read fetches under 0.1% of the object: the object's size over the bytes fetched.
RANGED_GOAL = 1000.0
#: The bare request loops: busta.s3's part size and default concurrency, and busta.s3's read size.
PART = s3.DEFAULT_PART_SIZE
BARE_CONCURRENCY = s3.DEFAULT_MAX_CONCURRENCY
READ_CHUNK = 256 * KiB


def s3_transfer_rows(size: int, repeats: int) -> list[Row]:
    """Upload and download of ``size`` bytes: busta.s3 against boto3's upload_file / download_file."""
    keyring = RawAesKeyring("bench", "transfer-key", os.urandom(32))
    with MotoServer() as server, scratch_dir() as tmp:
        client = _client(server)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": client.meta.region_name})
        source = tmp / "plain"
        source.write_bytes(os.urandom(size))
        meter = _CpuMeter(server.pid)
        up = _uploads(client, source, keyring)
        t_up = interleaved(meter.metered("upload", up), repeats)
        s3.upload_file(source, BUCKET, "busta-signed", client=client, keyring=keyring, algorithm=SIGNED)
        down = _downloads(client, tmp, keyring)
        t_down = interleaved(meter.metered("download", down), repeats)
        for name in ("busta", "busta-10", "busta-signed", "boto3", "boto3-again", "bare"):
            assert (tmp / f"{name}.out").read_bytes() == source.read_bytes(), name
        counted = {f"{way} {name}": _requests(client, runs[name]) for way, runs in (("upload", up), ("download", down))
                   for name in ("busta", "boto3")}  # fmt: skip
        fetched = _ranged_read(client, source, keyring)
    label = f"{size // MiB} MiB" if size >= MiB else f"{size} B"
    compared = [
        (f"upload_file {label}: busta vs boto3 (time ratio)", t_up, "busta", UPLOAD_GOAL),
        (f"upload_file {label}, 10 at once: busta vs boto3", t_up, "busta-10", None),
        (f"download_file {label}: busta (in ranges) vs boto3", t_down, "busta", DOWNLOAD_GOAL),
        (f"download_file {label}, 10 at once: busta vs boto3", t_down, "busta-10", None),
        (f"download_file {label}, signed (sequential) vs boto3", t_down, "busta-signed", None),
    ]
    rows = [Row("16 S3", what, times.ratio("boto3", name), goal, "x") for what, times, name, goal in compared]
    for way, times in (("upload", t_up), ("download", t_down)):
        spread = times.ratio("boto3", "boto3-again")
        rows.append(Row("info", f"{way} {label}: boto3 vs boto3 again (the measurement's spread)", spread, None, "x"))
        bare = f"the bare loop of busta's {way} requests ({BARE_CONCURRENCY} at once, no encryption)"
        rows.append(Row("info", f"{way} {label}: {bare} vs boto3", times.ratio("boto3", "bare"), None, "x"))
        rows.append(Row("info", f"{way} {label}: busta vs {bare}", times.ratio("bare", "busta"), None, "x"))
    rows += meter.rows(label)
    ranged_goal = RANGED_GOAL if size >= 256 * MiB else None  # the object; a small one is mostly header
    rows.append(Row("16 S3", f"1 KiB ranged read of {label}: object size / bytes fetched", fetched, ranged_goal, "x"))
    for way, times in (("upload", t_up), ("download", t_down)):
        for name, seconds in times.items():
            rows.append(Row("info", f"{way} {name}, {label} (plaintext MB/s)", size / seconds / 1e6, None, "MB/s"))
    for what, operations in counted.items():
        listed = " + ".join(f"{n} {_SHORT.get(operation, operation)}" for operation, n in operations.items())
        rows.append(Row("info", f"requests, {what}: {listed}", sum(operations.values()), None, "requests"))
    return rows


_SHORT = {"CreateMultipartUpload": "Create", "CompleteMultipartUpload": "Complete"}


@contextlib.contextmanager
def _counting(client: Any) -> Iterator[collections.Counter[str]]:
    """The S3 operations ``client`` calls meanwhile, counted with a botocore ``before-call`` hook."""
    seen: collections.Counter[str] = collections.Counter()

    def count(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    client.meta.events.register("before-call.s3", count, unique_id="busta-bench-count")
    try:
        yield seen
    finally:
        client.meta.events.unregister("before-call.s3", unique_id="busta-bench-count")


def _requests(client: Any, run: Callable[[], object]) -> dict[str, int]:
    with _counting(client) as seen:
        run()
    return dict(seen)


def _ranged_read(client: Any, source: Path, keyring: RawAesKeyring) -> float:
    """A 1 KiB read from the middle of the busta object: its size over the bytes its GETs returned."""
    fetched = 0

    def on_get(parsed: dict[str, Any], **_: Any) -> None:
        nonlocal fetched
        fetched += int(parsed.get("ContentLength", 0))

    size = client.head_object(Bucket=BUCKET, Key="busta")["ContentLength"]
    middle = source.stat().st_size // 2
    client.meta.events.register("after-call.s3.GetObject", on_get, unique_id="busta-bench-fetched")
    try:
        got = s3.get_range(BUCKET, "busta", middle, middle + KiB, client=client, keyring=keyring)
    finally:
        client.meta.events.unregister("after-call.s3.GetObject", unique_id="busta-bench-fetched")
    with source.open("rb") as plain:
        plain.seek(middle)
        assert got == plain.read(KiB)
    return int(size) / fetched


def _client(server: MotoServer) -> Any:
    """A client of the server with long read timeouts: moto answers each ranged GET of a large object
    by reading the whole object (its ``_handle_range_header`` slices ``key.value``), so under load one
    answer can take longer than the tests' 5 seconds."""
    config = server.client_config().merge(Config(read_timeout=600, max_pool_connections=16))
    return boto3.session.Session().client(
        "s3",
        region_name=DEFAULT_REGION,
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    )


def _uploads(client: Any, source: Path, keyring: RawAesKeyring) -> dict[str, Any]:
    def busta(concurrency: int) -> Any:
        return lambda: s3.upload_file(
            source, BUCKET, "busta", client=client, keyring=keyring, algorithm=UNSIGNED, max_concurrency=concurrency
        )

    return {
        "busta": busta(4),
        "busta-10": busta(10),
        "boto3": lambda: client.upload_file(str(source), BUCKET, "boto3"),
        "boto3-again": lambda: client.upload_file(str(source), BUCKET, "boto3"),  # the same call again
        "bare": lambda: bare_upload(client, source, BARE_CONCURRENCY),
    }


def bare_upload(client: Any, source: Path, concurrency: int) -> None:
    """busta's upload requests without busta: the plaintext's parts of ``PART`` bytes, each read into one
    of ``concurrency`` buffers (a part waits for a free one: so many UploadParts at once) and sent with
    its CRC32 computed as busta.s3 computes it, then Complete."""
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="bare", ChecksumAlgorithm="CRC32")["UploadId"]
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(concurrency):
        free.put(bytearray(PART))

    def send(number: int, buffer: bytearray, length: int) -> dict[str, Any]:
        try:
            body = buffer if length == PART else bytes(buffer[:length])  # busta.s3 too sends a full buffer as it is
            checksum = _part_checksum("CRC32", body)
            answer = client.upload_part(
                Bucket=BUCKET, Key="bare", UploadId=upload, PartNumber=number, Body=body, **checksum
            )
        finally:
            free.put(buffer)
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:  # then Complete lists it (moto 5 does not return it)
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        return part

    with source.open("rb", buffering=0) as plain, ThreadPoolExecutor(concurrency) as pool:
        sent = []
        for number in range(1, max(1, -(-source.stat().st_size // PART)) + 1):
            buffer = free.get()
            sent.append(pool.submit(send, number, buffer, plain.readinto(buffer)))
        parts = [future.result() for future in sent]
    client.complete_multipart_upload(Bucket=BUCKET, Key="bare", UploadId=upload, MultipartUpload={"Parts": parts})


def _downloads(client: Any, tmp: Path, keyring: RawAesKeyring) -> dict[str, Any]:
    def busta(name: str, key: str, concurrency: int) -> Any:
        return lambda: s3.download_file(
            BUCKET, key, tmp / f"{name}.out", client=client, keyring=keyring, max_concurrency=concurrency
        )

    return {
        "busta": busta("busta", "busta", 4),
        "busta-10": busta("busta-10", "busta", 10),
        "busta-signed": busta("busta-signed", "busta-signed", 4),
        "boto3": lambda: client.download_file(BUCKET, "boto3", str(tmp / "boto3.out")),
        "boto3-again": lambda: client.download_file(BUCKET, "boto3", str(tmp / "boto3-again.out")),
        "bare": lambda: bare_download(client, tmp / "bare.out", BARE_CONCURRENCY),
    }


def bare_download(client: Any, path: Path, concurrency: int) -> None:
    """busta's download requests without busta: HeadObject, then boto3's object in ranges of ``PART``
    bytes, ``concurrency`` GETs at once, each pinned to the ETag (as busta's and boto3's are), read
    into a reused buffer and written at its offset."""
    head = client.head_object(Bucket=BUCKET, Key="boto3")
    size, etag = int(head["ContentLength"]), head["ETag"]
    buffers = threading.local()

    def get(first: int) -> None:
        stop = min(size, first + PART)
        if not hasattr(buffers, "data"):
            buffers.data = bytearray(PART)
        view = memoryview(buffers.data)
        body = client.get_object(Bucket=BUCKET, Key="boto3", Range=f"bytes={first}-{stop - 1}", IfMatch=etag)["Body"]
        filled = 0
        while chunk := body.read(READ_CHUNK):
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        assert filled == stop - first
        os.pwrite(fd, view[:filled], first)

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        with ThreadPoolExecutor(concurrency) as pool:
            for done in [pool.submit(get, first) for first in range(0, size, PART)]:
                done.result()
    finally:
        os.close(fd)


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds (user and system) process ``pid`` has used, from /proc; None where there is none."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuMeter:
    """Each metered run's CPU seconds, here (every thread of this process) and in the server."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.samples: dict[str, list[tuple[float, float | None]]] = {}

    def metered(self, way: str, runs: dict[str, Callable[[], object]]) -> dict[str, Callable[[], object]]:
        return {name: self._metered(f"{way} {name}", run) for name, run in runs.items()}

    def _metered(self, label: str, run: Callable[[], object]) -> Callable[[], object]:
        samples = self.samples.setdefault(label, [])

        def go() -> object:
            here, there = os.times(), _process_cpu(self.server_pid)
            result = run()
            after, there_after = os.times(), _process_cpu(self.server_pid)
            server = None if there is None or there_after is None else there_after - there
            samples.append((after.user - here.user + after.system - here.system, server))
            return result

        return go

    def rows(self, label: str) -> list[Row]:
        """The median CPU seconds of busta's, boto3's and the bare loop's transfers (the untimed round too)."""
        rows = []
        for name, samples in self.samples.items():
            if not name.endswith(("busta", "boto3", "bare")):
                continue
            rows.append(Row("info", f"{name} {label}: client CPU", statistics.median(s[0] for s in samples), None, "s"))
            server = [s[1] for s in samples if s[1] is not None]
            if server:
                rows.append(Row("info", f"{name} {label}: server (moto) CPU", statistics.median(server), None, "s"))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.s3_transfer", description=__doc__)
    parser.add_argument("--size", type=int, default=256, help="object size in MiB (default 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of each, median (default 3)")
    args = parser.parse_args()
    print(format_table(s3_transfer_rows(args.size * MiB, args.repeats), verdicts=True))


if __name__ == "__main__":
    main()
