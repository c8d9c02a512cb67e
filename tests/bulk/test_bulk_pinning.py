"""Local sources are pinned to the version the listing saw: device, inode, size, mtime and ctime.

Tasks run in this process, directly (``bulk.process_object``, and the
``begin``/``part``/``finish`` tasks of a split object), against local files and
moto's S3 server on 127.0.0.1, so a file can be replaced exactly between two
tasks of one object, or while a task reads it:

- a large local message decrypted into S3 as one task per part, replaced
  between ``begin`` and the part tasks, fails the object in every part task
  (SourceChangedError, in the error tree); ``finish`` reports it failed, aborts
  the upload, and writes no object, so no output is spliced from two messages;
- the same for a split encryption whose source is rewritten in place;
- a file swapped for another of the same size and mtime after the listing,
  rewritten in place with its old mtime put back (the ctime tells), or
  rewritten while a task reads it, fails its object and leaves no output, no
  marker and no temporary file;
- a source that became a symlink or a FIFO fails at once (a FIFO never blocks the task).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import bulk
from busta.bulk import objects, split
from busta.bulk.places import Source, parse_place
from busta.bulk.tasks import JobSpec, Operation
from busta.errors import BustaError
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring
from busta.streaming import pump

from ..support.dask_cluster import aws_environment, call_with_timeout
from ..support.moto_server import MotoServer

MiB = 1 << 20
BUCKET = "bulk-pinning"
REGION = "us-west-2"
VARIABLE = "BUSTA_TEST_BULK_PINNING_KEY"
NAMESPACE, NAME = "bulk-pinning", "key"
KEY = EnvKey(VARIABLE, NAMESPACE, NAME)
SPLIT = 5 * MiB
UNSIGNED = 0x0478


@pytest.fixture(scope="module")
def key() -> Iterator[bytes]:
    """An AES key in the environment of this process (which runs the tasks), and moto credentials."""
    secret = os.urandom(32)
    saved = dict(os.environ)
    os.environ.update({VARIABLE: base64.b64encode(secret).decode(), **aws_environment()})
    try:
        yield secret
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def server(key: bytes) -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto.with_bucket(BUCKET, REGION)


@pytest.fixture(scope="module")
def s3(server: MotoServer) -> Any:
    return server.client("s3")


def keyring(key: bytes) -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, NAME, key)


def job_to_s3(server: MotoServer, operation: Operation, src: Path, prefix: str, **options: Any) -> JobSpec:
    settings = bulk.S3Settings(endpoint_url=server.endpoint, region=REGION)
    dest = parse_place(f"s3://{BUCKET}/{prefix}/")
    return JobSpec(operation, parse_place(str(src)), dest, KEY, s3=settings, split_part_size=SPLIT, **options)


def only_source(job: JobSpec) -> Source:
    (source,) = job.source.list(job.s3)
    return source


def replace_with(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` as a new file (another inode), renamed over the old one."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(data)
    os.replace(fresh, path)


def rewrite_in_place(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes of the same file (same inode and size), and give it a later mtime."""
    st = path.stat()
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def nothing_written(s3: Any, prefix: str) -> bool:
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/").get("Uploads", [])
    return not objects and not uploads


def run_split(job: JobSpec, source: Source, between: Any) -> tuple[list[Any], bulk.ObjectResult]:
    """``begin``, then ``between()``, then every part task and ``finish``, as the scheduler would run them."""
    plan = split.begin(job, source)
    assert isinstance(plan, split.Plan), plan
    between()
    parts = [split.part(job, source, plan, index) for index in range(split.part_count(job, source))]
    return parts, split.finish(job, source, plan, *parts)


# --------------------------------------------------------------------------- one task per part


def test_a_message_replaced_between_begin_and_the_part_tasks_fails_its_object_and_writes_nothing(
    tmp_path: Path, server: MotoServer, s3: Any, key: bytes
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    first, second = os.urandom(12 * MiB), os.urandom(12 * MiB)
    (src / "big.enc").write_bytes(busta.encrypt(first, keyring=keyring(key), algorithm=UNSIGNED))
    job = job_to_s3(server, Operation.DECRYPT, src, "replaced")
    source = only_source(job)
    assert split.splittable(job, source)
    other = busta.encrypt(second, keyring=keyring(key), algorithm=UNSIGNED)  # same size, another message
    assert len(other) == source.size

    parts, result = run_split(job, source, lambda: replace_with(src / "big.enc", other))

    assert all(isinstance(p, split.Failed) and p.error.startswith("SourceChangedError") for p in parts), parts
    assert result.status == "failed" and "SourceChangedError" in result.error and "big.enc" in result.error
    assert nothing_written(s3, "replaced")


def test_a_plaintext_rewritten_in_place_between_begin_and_the_part_tasks_fails_its_object(
    tmp_path: Path, server: MotoServer, s3: Any, key: bytes
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(11 * MiB))
    job = job_to_s3(server, Operation.ENCRYPT, src, "rewritten", algorithm=UNSIGNED)
    source = only_source(job)
    assert split.splittable(job, source)

    parts, result = run_split(job, source, lambda: rewrite_in_place(src / "big", 6 * MiB, b"changed"))

    assert all(isinstance(p, split.Failed) and "SourceChangedError" in p.error for p in parts), parts
    assert result.status == "failed" and "SourceChangedError" in result.error
    assert nothing_written(s3, "rewritten")


def test_each_read_of_a_task_that_opens_its_source_once_is_checked_against_the_listed_version(
    tmp_path: Path, key: bytes
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(b"a" * MiB)
    job = JobSpec(Operation.ENCRYPT, parse_place(str(src)), parse_place(str(tmp_path / "dest")), KEY)
    source = only_source(job)
    from busta.errors import SourceChangedError  # as below: the module's other tests run on older versions

    with objects.pinned_reads(job, source) as read:  # a split decrypt part reads the header, the end, its frames
        assert read(0, 10) == b"a" * 10
        rewrite_in_place(src / "big", 0, b"b")
        with pytest.raises(SourceChangedError):
            read(0, 10)


# --------------------------------------------------------------------------- one task per object


def job_in_directories(tmp_path: Path) -> tuple[JobSpec, Path, Path]:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "file").write_bytes(b"listed contents " * 4096)
    return JobSpec(Operation.ENCRYPT, parse_place(str(src)), parse_place(str(dest)), KEY), src / "file", dest


def assert_failed_without_output(result: bulk.ObjectResult, dest: Path, says: str) -> None:
    assert result.status == "failed", result
    assert result.error.startswith("SourceChangedError") and says in result.error, result.error
    assert not dest.exists() or [p for p in dest.rglob("*") if p.is_file()] == []  # no output, marker or temp


def test_a_file_swapped_for_another_of_the_same_size_and_mtime_after_the_listing_fails_its_object(
    tmp_path: Path, key: bytes
) -> None:
    job, path, dest = job_in_directories(tmp_path)
    source = only_source(job)
    st = path.stat()
    replace_with(path, b"swapped content " * 4096)  # the same size ...
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and mtime: only the inode tells
    assert_failed_without_output(bulk.process_object(job, source), dest, "device:inode:size:mtime_ns")


def test_a_file_rewritten_in_place_with_its_old_mtime_put_back_fails_its_object(tmp_path: Path, key: bytes) -> None:
    job, path, dest = job_in_directories(tmp_path)
    source = only_source(job)
    st = path.stat()
    with path.open("r+b") as f:  # same inode, same size ...
        f.write(b"LISTED")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime: only the ctime tells
    assert_failed_without_output(bulk.process_object(job, source), dest, "ctime_ns")


def test_a_file_rewritten_while_a_task_reads_it_fails_its_object(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, path, dest = job_in_directories(tmp_path)
    source = only_source(job)
    read_full = pump._read_full
    rewritten: list[bool] = []

    def rewrite_then_read(stream: Any, view: memoryview) -> int:
        if not rewritten:  # the task has opened and checked the file; now another process writes to it
            rewrite_in_place(path, 100, b"changed while read")
            rewritten.append(True)
        return read_full(stream, view)

    monkeypatch.setattr(pump, "_read_full", rewrite_then_read)
    result = bulk.process_object(job, source)
    assert rewritten
    assert_failed_without_output(result, dest, "device:inode:size:mtime_ns")


@pytest.mark.parametrize("becomes", ["symlink", "fifo"])
def test_a_source_that_is_no_longer_a_regular_file_fails_at_once(tmp_path: Path, key: bytes, becomes: str) -> None:
    job, path, dest = job_in_directories(tmp_path)
    source = only_source(job)
    (tmp_path / "elsewhere").write_bytes(b"listed contents " * 4096)
    path.unlink()
    if becomes == "symlink":
        path.symlink_to(tmp_path / "elsewhere")
    else:
        os.mkfifo(path)
    result = call_with_timeout(30, lambda: bulk.process_object(job, source))  # a FIFO never blocks the task
    assert_failed_without_output(result, dest, "symlink" if becomes == "symlink" else "regular file")


def test_source_changed_error_is_in_the_error_tree() -> None:
    # new in this change: imported here so that the module's other tests run on older versions too
    from busta.errors import SourceChangedError

    error = SourceChangedError("/data/x", "it is gone")
    assert isinstance(error, BustaError)
    assert error.path == "/data/x" and "/data/x" in str(error)
