"""Bulk jobs write only inside their destination, and plan every destination before the first task runs.

Against moto's S3 server (which stores keys such as ``in/../x.enc`` as given) and
a real ``distributed.LocalCluster``, and in-process where a test needs a seam:

- every hostile S3 key under the source prefix (``..``, ``.``, empty and absolute
  segments, backslashes, NUL and other control characters, an overlong
  component, a name inside the marker directory) fails as its own object, the
  report naming the key; a symlink inside the destination, pointing outside, in
  the middle of a name or at its end, is refused the same way; the rest of the
  job is done, and nothing is created outside the destination: no file, no
  directory, no temporary file, no marker;
- a symlinked marker directory fails the objects whose markers would go through it;
- local file names that would make odd S3 keys (backslash, newline, an escape,
  bytes that are not UTF-8) fail alone and create no key;
- a directory swapped for a symlink while an output is being written cannot
  redirect it: the output lands in the directory that was checked;
- destinations are planned first: two sources that would write one destination
  (``x`` and ``x.enc`` on decrypt; ``A``/``a`` or ``a``/``a/b`` in a directory)
  refuse the job with a UsageError that lists them, before any task runs.
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
from busta.bulk.places import Source, parse_place
from busta.bulk.tasks import JobSpec, Operation
from busta.errors import UnsafePathError, UsageError
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import aws_environment, call_with_timeout, local_cluster
from ..support.moto_server import MotoServer

BUCKET = "bulk-paths"
REGION = "us-west-2"
VARIABLE = "BUSTA_TEST_BULK_PATHS_KEY"
NAMESPACE, NAME = "bulk-paths", "key"
KEY = EnvKey(VARIABLE, NAMESPACE, NAME)
JOB_TIMEOUT = 120.0

#: Names under the source prefix (decrypted: ``.enc`` removed) and what the refusal says.
HOSTILE = {
    "../up.enc": "'..' component",
    "a/../../up2.enc": "'..' component",
    "./dot.enc": "'.' component",
    "a//b.enc": "empty component",
    "a\\..\\..\\bs.enc": "backslash",
    "nul\x00.enc": "control character",
    "esc\x1b[31m.enc": "control character",
    "x" * 300 + ".enc": "longer than 255 bytes",
    ".busta-bulk/aa/forged.json.enc": "markers",
    "link/through.enc": "symlink ('link')",
    "final.enc": "symlink",
}


class Untouchable:
    """Stands in for a Dask client that must not be used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the job used its Dask client ({name}) before refusing")


@pytest.fixture(scope="module")
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def server() -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto.with_bucket(BUCKET, REGION)


@pytest.fixture(scope="module")
def dask_client(key: bytes, server: MotoServer) -> Iterator[Any]:
    with local_cluster({VARIABLE: base64.b64encode(key).decode(), **aws_environment()}, workers=1) as client:
        yield client


@pytest.fixture(scope="module")
def s3(server: MotoServer) -> Any:
    return server.client("s3")


def settings(server: MotoServer) -> bulk.S3Settings:
    return bulk.S3Settings(endpoint_url=server.endpoint, region=REGION)


def run(dask_client: Any, server: MotoServer, operation: str, src: str, dst: str) -> bulk.BulkReport:
    job = lambda: bulk.run(operation, src, dst, keyring=KEY, client=dask_client, s3=settings(server))  # noqa: E731
    return call_with_timeout(JOB_TIMEOUT, job)


def everything_under(root: Path) -> dict[str, bytes | None]:
    """Every path below ``root`` (not following links): file contents, None for a directory or link."""
    found: dict[str, bytes | None] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        found[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    return found


def keys_under(s3: Any, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


# --------------------------------------------------------------------------- hostile S3 keys, local destination


def test_hostile_keys_fail_alone_naming_the_key_and_nothing_is_created_outside_the_destination(
    dask_client: Any, server: MotoServer, s3: Any, key: bytes, tmp_path: Path
) -> None:
    keyring = RawAesKeyring(NAMESPACE, NAME, key)
    jail = tmp_path / "jail"  # everything the job may reach, and the escapes aim just outside `dest`
    dest, outside = jail / "dest", jail / "outside"
    outside.mkdir(parents=True)
    (outside / "kept").write_bytes(b"kept")
    dest.mkdir()
    (dest / "link").symlink_to(outside)  # a directory link inside the destination, pointing outside
    (dest / "final").symlink_to(outside / "kept")  # a link where an output goes
    absolute = str(jail / "absolute")  # "in/" + "/.../absolute.enc": an absolute path after the prefix
    names = {**HOSTILE, f"{absolute}.enc": "empty component", "good.enc": ""}
    for name in names:
        s3.put_object(Bucket=BUCKET, Key=f"hostile/{name}", Body=busta.encrypt(name.encode(), keyring=keyring))
    assert sorted(keys_under(s3, "hostile/")) == sorted(f"hostile/{name}" for name in names)  # stored as given
    before = everything_under(jail)

    report = run(dask_client, server, "decrypt", f"s3://{BUCKET}/hostile/", str(dest))

    results = {result.source: result for result in report.results}
    assert set(results) == {f"hostile/{name}" for name in names}  # every object reported, by its key
    assert results["hostile/good.enc"].status == "done"
    for name, reason in names.items():
        if reason:
            result = results[f"hostile/{name}"]
            assert (result.status, result.error.split(":")[0]) == ("failed", "UnsafePathError"), result
            assert reason in result.error
            named = (repr(name) in result.error) or (repr(name.removesuffix(".enc")) in result.error)
            assert named, result.error  # the error names the refused name (the key's, or its destination's)
    after = everything_under(jail)
    created = {path: data for path, data in after.items() if path not in before}
    assert set(created) == {"dest/good", "dest/.busta-bulk", *_marker_paths(after)}, created
    assert after["dest/good"] == b"good.enc"
    assert after["outside/kept"] == b"kept"
    assert {path for path in after if path.startswith("outside/")} == {"outside/kept"}
    assert not list(jail.rglob(".busta-bulk-*"))  # no temporary file anywhere
    assert not (tmp_path / "up").exists() and not (jail / "up").exists() and not (jail / "up2").exists()


def _marker_paths(found: dict[str, bytes | None]) -> set[str]:
    return {path for path in found if path.startswith("dest/.busta-bulk/")}


def test_a_symlinked_marker_directory_fails_the_objects_and_writes_nothing_through_it(
    dask_client: Any, server: MotoServer, s3: Any, key: bytes, tmp_path: Path
) -> None:
    keyring = RawAesKeyring(NAMESPACE, NAME, key)
    s3.put_object(Bucket=BUCKET, Key="marked/one.enc", Body=busta.encrypt(b"one", keyring=keyring))
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    (dest / ".busta-bulk").symlink_to(outside)

    report = run(dask_client, server, "decrypt", f"s3://{BUCKET}/marked/", str(dest))

    (result,) = report.results
    assert result.status == "failed" and "UnsafePathError" in result.error and "symlink" in result.error
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in dest.iterdir()) == [".busta-bulk"]  # no output, no temporary file


# --------------------------------------------------------------------------- local names, S3 destination


def test_local_names_that_would_make_odd_s3_keys_fail_alone_and_create_no_key(
    dask_client: Any, server: MotoServer, s3: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    odd = {"back\\slash": "backslash", "new\nline": "control character", "esc\x1b]0;x\x07": "control character"}
    for name in [*odd, "good"]:
        (src / name).write_bytes(name.encode())
    (src / os.fsdecode(b"latin-\xe9")).write_bytes(b"not UTF-8")  # a name that is not UTF-8

    report = run(dask_client, server, "encrypt", str(src), f"s3://{BUCKET}/odd-out/")

    by_name = {os.path.basename(result.source): result for result in report.results}
    assert by_name["good"].status == "done"
    for name, reason in {**odd, os.fsdecode(b"latin-\xe9"): "not valid UTF-8"}.items():
        assert by_name[name].status == "failed" and reason in by_name[name].error, by_name[name]
    assert keys_under(s3, "odd-out/") == ["odd-out/good.enc"]


def test_a_name_given_straight_to_process_object_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "secret").write_bytes(b"outside the source")
    job = JobSpec(Operation.ENCRYPT, parse_place(str(tmp_path / "src")), parse_place(str(tmp_path / "dest")), KEY)
    result = bulk.process_object(job, Source("../secret", 18, "0:0:18:0"))
    assert result.status == "failed" and "UnsafePathError" in result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret", "src"]


# --------------------------------------------------------------------------- the check-then-write race


def test_a_directory_swapped_for_a_symlink_after_the_check_cannot_redirect_the_write(tmp_path: Path) -> None:
    # new in this change: imported here so that the module's other tests run on older versions too
    from busta._paths import open_parent

    root, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    parent, last = open_parent(root, "a/b/out.txt", create_parents=True)
    try:
        os.rename(root / "a", root / "moved")  # another local process swaps the checked directory ...
        (root / "a").symlink_to(outside)  # ... for a link out of the root
        fd = os.open(last, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=parent)
        os.write(fd, b"data")
        os.close(fd)
    finally:
        os.close(parent)
    assert list(outside.iterdir()) == []
    assert (root / "moved" / "b" / "out.txt").read_bytes() == b"data"
    with pytest.raises(UnsafePathError, match="symlink"):
        open_parent(root, "a/b/out.txt", create_parents=True)


# --------------------------------------------------------------------------- collisions, refused before any task


def make_files(root: Path, names: list[str]) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"data")


@pytest.mark.parametrize(
    ("names", "colliding"),
    [
        (["x", "x.enc", "y.enc"], ["x", "x.enc"]),  # decrypt removes the suffix: both become x
        (["Report.enc", "report.enc"], ["Report.enc", "report.enc"]),  # one file on a case-insensitive disk
        (["caf\u00e9.enc", "cafe\u0301.enc"], ["caf\u00e9.enc", "cafe\u0301.enc"]),  # NFC vs NFD
        (["a.enc", "a/b.enc"], ["a.enc", "a/b.enc"]),  # a file and a directory of the same name
    ],
    ids=["suffix", "case", "unicode-normalization", "file-and-directory"],
)
def test_sources_that_would_write_one_local_destination_refuse_the_job_before_any_task_runs(
    tmp_path: Path, names: list[str], colliding: list[str]
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    make_files(src, names)
    with pytest.raises(UsageError, match="several sources") as caught:
        bulk.run("decrypt", str(src), str(dest), keyring=KEY, client=Untouchable())
    for name in colliding:
        assert repr(str(src / name)) in str(caught.value)
    assert not dest.exists()


def test_an_s3_decrypt_of_x_and_x_enc_is_refused_before_any_task_runs(
    server: MotoServer, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in aws_environment().items():  # the driver lists the sources itself, in this process
        monkeypatch.setenv(variable, value)
    for name in ("x", "x.enc", "other.enc"):
        s3.put_object(Bucket=BUCKET, Key=f"clash/{name}", Body=b"data")
    with pytest.raises(UsageError, match="several sources") as caught:
        bulk.run(
            "decrypt",
            f"s3://{BUCKET}/clash/",
            f"s3://{BUCKET}/clash-out/",
            keyring=KEY,
            client=Untouchable(),
            s3=settings(server),
        )
    assert "'clash/x'" in str(caught.value) and "'clash/x.enc'" in str(caught.value)
    assert "other" not in str(caught.value)
    assert keys_under(s3, "clash-out/") == []


def test_s3_keys_that_differ_in_case_or_nest_are_distinct_destinations() -> None:
    # new in this change: imported here so that the module's other tests run on older versions too
    from busta.bulk.plan import plan_destinations

    job = JobSpec(Operation.DECRYPT, parse_place("s3://b/in/"), parse_place("s3://b/out/"), KEY)
    sources = [Source(name, 1, '"e"') for name in ("A.enc", "a.enc", "d.enc", "d/e.enc")]
    runnable, refused = plan_destinations(job, sources)
    assert (runnable, refused) == (sources, [])
