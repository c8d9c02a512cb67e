"""Bulk jobs on Dask (issue 10): objects/s and bytes/s with 1 and 2 workers, and what a rewrap downloads.

Each job runs on a fresh ``distributed.LocalCluster`` of worker processes; the
cluster's start-up is not timed. The S3 rows run against moto's server on this
machine, which serves every request from one Python process: they measure
busta and moto together. The directory rows use a memory-backed directory.
"""

from __future__ import annotations

import base64
import importlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from busta import bulk, s3
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring
from tests.support.moto_server import MotoServer

from .suite import Row, scratch_dir

KiB, MiB = 1 << 10, 1 << 20
KEY_VARIABLE = "BUSTA_BENCH_BULK_KEY"
NAMESPACE, NAME = "bench", "bulk-key"
BUCKET = "busta-bench-bulk"
UNSIGNED = 0x0478


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _cluster(workers: int) -> Iterator[Any]:
    with bulk.local_client(workers) as client:
        for module in ("busta.bulk.tasks", "boto3"):  # warm the workers up: imports are not the job
            client.run(importlib.import_module, module)
        yield client


def _timed_job(workers: int, source: str, dest: str, settings: bulk.S3Settings | None) -> tuple[float, int, int]:
    """Seconds, objects and bytes of one bulk encrypt on a fresh cluster of ``workers`` processes."""
    with _cluster(workers) as client:
        start = time.perf_counter()
        keyring = EnvKey(KEY_VARIABLE, NAMESPACE, NAME)
        report = bulk.run("encrypt", source, dest, keyring=keyring, client=client, s3=settings, algorithm=UNSIGNED)
        seconds = time.perf_counter() - start
    if not report.ok or report.count("done") != len(report.results):
        raise RuntimeError(f"bulk benchmark job failed: {report.summary()}")
    return seconds, len(report.results), sum(result.bytes_read for result in report.results)


def _rows(where: str, timings: dict[int, tuple[float, int, int]], label: str) -> list[Row]:
    rows = []
    for workers, (seconds, objects, size) in timings.items():
        what = f"{where} encrypt, {label}, {workers} worker(s)"
        rows.append(Row("10 bulk", f"{what} (objects/s)", objects / seconds, None, "objects/s"))
        rows.append(Row("10 bulk", f"{what} (MB/s)", size / seconds / 1e6, None, "MB/s"))
    one, two = timings[1][0], timings[2][0]
    rows.append(Row("10 bulk", f"{where}: 2 workers vs 1", one / two, None, "x"))
    return rows


def bulk_rows(objects: int, object_bytes: int, rewrap_bytes: int) -> list[Row]:
    key = os.urandom(32)
    label = f"{objects} x {object_bytes // KiB} KiB"
    env = {
        KEY_VARIABLE: base64.b64encode(key).decode(),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }
    rows: list[Row] = []
    with _environment(env), scratch_dir() as scratch, MotoServer() as server:
        client = server.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        settings = bulk.S3Settings(endpoint_url=server.endpoint, region="us-west-2")
        source = Path(scratch, "source")
        for i in range(objects):
            data = os.urandom(object_bytes)
            client.put_object(Bucket=BUCKET, Key=f"raw/{i:06d}", Body=data)
            Path(source, f"{i % 16:02d}").mkdir(parents=True, exist_ok=True)
            Path(source, f"{i % 16:02d}", f"{i:06d}").write_bytes(data)
        on_s3 = {w: _timed_job(w, f"s3://{BUCKET}/raw/", f"s3://{BUCKET}/enc-{w}/", settings) for w in (1, 2)}
        in_dirs = {w: _timed_job(w, str(source), str(Path(scratch, f"enc-{w}")), None) for w in (1, 2)}
        rows += _rows("S3 (moto)", on_s3, label)
        rows += _rows("directory", in_dirs, label)
        rows += _rewrap_rows(client, key, rewrap_bytes)
    return rows


def _rewrap_rows(client: Any, key: bytes, size: int) -> list[Row]:
    """Rotate one object's key with rewrap_object and count the body bytes its GETs returned."""
    old = RawAesKeyring(NAMESPACE, NAME, key)
    new = RawAesKeyring(NAMESPACE, "rotated", os.urandom(32))
    with tempfile.SpooledTemporaryFile(max_size=0) as spool:
        spool.write(os.urandom(size))
        spool.seek(0)
        uploaded = s3.upload_fileobj(spool, BUCKET, "big", client=client, keyring=old, algorithm=UNSIGNED)
    fetched = 0

    def on_get(parsed: dict[str, Any], **_: Any) -> None:
        nonlocal fetched
        fetched += int(parsed["ContentLength"])

    client.meta.events.register("after-call.s3.GetObject", on_get)
    start = time.perf_counter()
    result = s3.rewrap_object(BUCKET, "big", client=client, keyring=old, new_keyring=new, dest_key="big-rotated")
    seconds = time.perf_counter() - start
    client.meta.events.unregister("after-call.s3.GetObject", on_get)
    check = io.BytesIO()
    s3.download_fileobj(BUCKET, "big-rotated", check, client=client, keyring=new)
    if check.getbuffer().nbytes != size or result.bytes_downloaded != fetched:
        raise RuntimeError("rewrap benchmark: the rotated object does not match")
    label = f"{size // MiB} MiB"
    return [
        Row("10 bulk", f"bytes downloaded by a rewrap of a {label} object", fetched, None, "bytes"),
        Row("10 bulk", "the same as a fraction of the object", 100 * fetched / uploaded.object_size, None, "%"),
        Row("10 bulk", f"rewrap of a {label} object on moto (header + server-side copies)", seconds, None, "s"),
    ]
