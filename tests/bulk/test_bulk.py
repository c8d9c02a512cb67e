"""busta.bulk and ``busta bulk``: whole prefixes and directory trees, one Dask task per object.

Against a real ``distributed.LocalCluster`` (two single-threaded worker
processes) and moto's S3 and KMS server, all on 127.0.0.1. What is proven:

- 200 objects of mixed sizes (0 B, 1 B, 1-300 KiB, and 6.5, 9 and 12 MiB ones that
  take the multipart paths) are encrypted to ``.enc`` names, once each, and each
  decrypts (with busta, and with the official SDK on a sample) to its source;
  progress is reported once per object with growing counts; a rerun skips every
  object and writes nothing;
- rewrap rewrites only the header of unsigned objects (the body stays byte for
  byte, the message id too; S3 copies the body of the 12 MiB one, which is read
  only up to 5 MiB past its header) and re-encrypts signed ones, and the report
  says which way each went; the new key opens every object (the official SDK
  too), the old one none; bulk decrypt then restores every source;
- KMS keys (KmsKey with moto's endpoint) encrypt, rotate to a Multi of a KMS key
  and an environment key, and decrypt end to end;
- directory trees: encrypted, skipped on rerun, decrypted back identical; the
  ``.busta-bulk`` markers are never sources; a destination file no bulk job
  wrote fails its object unless overwrite=True; a changed source is redone alone;
- a corrupt object fails alone (no destination for it), the report and the CLI's
  exit status 1 and stderr say so;
- keyrings (not descriptions) are refused with a pointer to busta.keyconfig, and
  before any task runs; key-holding keyrings refuse pickling;
- the decryptor never resizes a buffer it has handed out views of, so a Dask
  worker's sampling profiler, which holds task frames, cannot break a task;
- a worker killed mid-job (SIGKILL) loses nothing: the job returns, the rerun
  completes, every object exists once and decrypts, no multipart upload is left;
  so does a killed driver (the CLI with its own cluster, killed with its process
  group): the rerun skips what was done and completes;
- the CLI runs on local directories with its own cluster (--workers 1) and on S3
  with --scheduler, writes the --report JSON, and exits 2 on usage errors.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import os
import pickle
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import bulk
from busta.cli import main
from busta.errors import NoDecryptingKeyError, UsageError
from busta.format import parse_header
from busta.keyconfig import EnvKey, KmsKey, LocalKey, Multi
from busta.keyfile import read_record
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import (
    aws_environment,
    call_with_timeout,
    client_credentials,
    group_alive,
    kill_group,
    local_cluster,
    worker_pids,
)
from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer
from ..support.oracle import AesKeySpec, official_decrypt

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find


KiB, MiB = 1 << 10, 1 << 20
ROOT = Path(__file__).resolve().parents[2]
BUCKET = "busta-bulk"
OBJECTS = 200
NAMESPACE = "bulk-tests"
OLD_VARIABLE, NEW_VARIABLE = "BUSTA_TEST_BULK_OLD_KEY", "BUSTA_TEST_BULK_NEW_KEY"
OLD_KEY, NEW_KEY = EnvKey(OLD_VARIABLE, NAMESPACE, "old"), EnvKey(NEW_VARIABLE, NAMESPACE, "new")
UNSIGNED, SIGNED = 0x0478, 0x0578
#: Objects past S3's 5 MiB part and busta's 8 MiB upload part: every multipart path runs.
LARGE = {2: 6 * MiB + 512 * KiB, 3: 12 * MiB, 4: 9 * MiB}
JOB_TIMEOUT = 120.0
#: Where a local destination keeps its done-markers.
MARKER_DIR = ".busta-bulk"


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Keys:
    """The raw AES keys behind OLD_KEY and NEW_KEY (made per test module, never at import: spawned
    worker processes import this module too)."""

    old: bytes
    new: bytes

    def keyring(self, which: str) -> RawAesKeyring:
        return RawAesKeyring(NAMESPACE, which, self.old if which == "old" else self.new)

    def spec(self, which: str) -> AesKeySpec:
        return AesKeySpec(NAMESPACE, which, self.old if which == "old" else self.new)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(os.urandom(32), os.urandom(32))


@pytest.fixture(scope="module")
def dask_client(keys: Keys, moto_server: MotoServer) -> Iterator[Any]:
    """Two worker processes that see the moto credentials and both keys (set before they start)."""
    environment = {
        **aws_environment(),
        OLD_VARIABLE: base64.b64encode(keys.old).decode(),
        NEW_VARIABLE: base64.b64encode(keys.new).decode(),
    }
    with local_cluster(environment, workers=2) as client:
        yield client


@pytest.fixture(scope="module")
def s3(moto_server: MotoServer) -> Any:
    client = moto_server.client("s3", WEST)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": WEST})
    return client


def source_name(index: int) -> str:
    if index == 5:
        return "d1/with space/obj 005.bin"
    if index == 6:
        return "d2/ünïcode/obj-006.bin"
    return f"d{index % 4}/obj-{index:03d}.bin"


def source_size(index: int, rng: random.Random) -> int:
    if index < 2:
        return index  # 0 B and 1 B
    if index in LARGE:
        return LARGE[index]
    return int(math.exp(rng.uniform(math.log(KiB), math.log(300 * KiB))))


@pytest.fixture(scope="module")
def raw(s3: Any) -> dict[str, bytes]:
    """200 objects under raw/ (names below d0/ .. d3/, one with a space, one non-ASCII), by name."""
    rng = random.Random(20240610)
    data = {source_name(i): rng.randbytes(source_size(i, rng)) for i in range(OBJECTS)}
    put_all(s3, "raw/", data)
    return data


def put_all(s3: Any, prefix: str, objects: dict[str, bytes]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=BUCKET, Key=prefix + item[0], Body=item[1]), objects.items()))


def uri(prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}"


def run_job(
    dask_client: Any, server: MotoServer, operation: str, source: str, dest: str, **options: Any
) -> bulk.BulkReport:
    """bulk.run on the module's cluster, failing the test if it has not returned within JOB_TIMEOUT."""
    settings = bulk.S3Settings(endpoint_url=server.endpoint, region=WEST)
    job = functools.partial(bulk.run, operation, source, dest, client=dask_client, s3=settings, **options)
    return call_with_timeout(JOB_TIMEOUT, job)


def get(s3: Any, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def listing(s3: Any, prefix: str) -> dict[str, tuple[str, Any]]:
    """Every key under ``prefix``: its ETag and LastModified."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = (item["ETag"], item["LastModified"])
    return found


def uploads_under(s3: Any, prefix: str) -> list[str]:
    return [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])]


def parts_of(s3: Any, key: str) -> int:
    """How many parts the object was uploaded in (1: a single PutObject)."""
    return int(s3.head_object(Bucket=BUCKET, Key=key, PartNumber=1).get("PartsCount", 1))


def header_length(message: bytes) -> int:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.length


def suite_of(message: bytes) -> int:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.header.suite.id


def message_id(message: bytes) -> bytes:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.header.message_id


def failures(report: bulk.BulkReport) -> str:
    return "\n".join(f"{f.source}: {f.error}" for f in report.failures[:5])


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key record made by ``busta keygen -o`` (mode 0600)."""
    path = tmp_path_factory.mktemp("keys") / "bulk.key"
    assert main(["keygen", "-o", str(path)]) == 0
    return path


def record_keyring(path: Path) -> RawAesKeyring:
    record = read_record(path)
    return RawAesKeyring(record.namespace, record.name, record.key)


# --------------------------------------------------------------------------- 200 objects in S3


@dataclass
class Encrypted:
    """raw/ encrypted with 0x0478 into enc/u/ (progress recorded) and raw/d0/ with 0x0578 into enc/s/."""

    unsigned: bulk.BulkReport
    signed: bulk.BulkReport
    progress: list[bulk.Progress] = field(default_factory=list)


def encrypt_unsigned(dask_client: Any, server: MotoServer, events: list[bulk.Progress]) -> bulk.BulkReport:
    """raw/ encrypted with 0x0478 under OLD_KEY into enc/u/, each progress event appended to ``events``."""
    return run_job(
        dask_client,
        server,
        "encrypt",
        uri("raw/"),
        uri("enc/u/"),
        keyring=OLD_KEY,
        algorithm=UNSIGNED,
        progress=events.append,
    )


@pytest.fixture(scope="module")
def encrypted(dask_client: Any, moto_server: MotoServer, raw: dict[str, bytes]) -> Encrypted:
    events: list[bulk.Progress] = []
    unsigned = encrypt_unsigned(dask_client, moto_server, events)
    signed = run_job(dask_client, moto_server, "encrypt", uri("raw/d0/"), uri("enc/s/"), keyring=OLD_KEY)
    return Encrypted(unsigned, signed, events)


def signed_sources(raw: dict[str, bytes]) -> dict[str, bytes]:
    """The sources of enc/s/ (raw/d0/), by their names there."""
    return {name.removeprefix("d0/"): data for name, data in raw.items() if name.startswith("d0/")}


def test_encrypt_writes_each_object_once_under_its_enc_name_and_each_decrypts_to_its_source(
    encrypted: Encrypted, raw: dict[str, bytes], s3: Any, keys: Keys
) -> None:
    report = encrypted.unsigned
    assert report.ok, failures(report)
    assert (len(report.results), report.count("done"), report.methods()) == (OBJECTS, OBJECTS, {"encrypted": OBJECTS})
    assert {r.dest for r in report.results} == {f"enc/u/{name}.enc" for name in raw}
    assert set(listing(s3, "enc/u/")) == {f"enc/u/{name}.enc" for name in raw}
    for result in report.results:
        name = result.source.removeprefix("raw/")
        message = get(s3, result.dest)
        assert (result.bytes_read, result.bytes_written) == (len(raw[name]), len(message))
        assert suite_of(message) == UNSIGNED
        assert busta.decrypt(message, keyring=keys.keyring("old")).plaintext == raw[name]
    assert parts_of(s3, f"enc/u/{source_name(3)}.enc") == 2  # 12 MiB went up in 8 MiB parts

    assert encrypted.signed.ok, failures(encrypted.signed)
    assert encrypted.signed.count("done") == len(signed_sources(raw)) == 50
    for name, data in signed_sources(raw).items():
        message = get(s3, f"enc/s/{name}.enc")
        assert suite_of(message) == SIGNED
        assert busta.decrypt(message, keyring=keys.keyring("old")).plaintext == data
    for name in map(source_name, (0, 1, 3, 5, 6)):  # empty, 1 B, 12 MiB, and the names with a space or not ASCII
        assert official_decrypt(get(s3, f"enc/u/{name}.enc"), keys=[keys.spec("old")])[0] == raw[name]
    assert official_decrypt(get(s3, "enc/s/obj-004.bin.enc"), keys=[keys.spec("old")])[0] == raw[source_name(4)]


def test_progress_is_reported_once_per_object_with_growing_counts(encrypted: Encrypted, raw: dict[str, bytes]) -> None:
    events = encrypted.progress
    assert [event.objects_finished for event in events] == list(range(1, OBJECTS + 1))
    assert {event.objects_total for event in events} == {OBJECTS}
    assert {(event.objects_failed, event.objects_skipped) for event in events} == {(0, 0)}
    read = [event.bytes_read for event in events]
    assert read == sorted(read)
    assert read[-1] == sum(len(data) for data in raw.values())


def test_a_rerun_skips_every_object_and_writes_nothing(
    encrypted: Encrypted, dask_client: Any, moto_server: MotoServer, s3: Any
) -> None:
    before = listing(s3, "enc/u/")
    events: list[bulk.Progress] = []
    again = encrypt_unsigned(dask_client, moto_server, events)
    assert again.ok, failures(again)
    assert (again.count("skipped"), again.count("done")) == (OBJECTS, 0)
    assert sum(result.bytes_read + result.bytes_written for result in again.results) == 0
    assert listing(s3, "enc/u/") == before  # same ETags (a new encryption would differ) and times
    assert events[-1].objects_skipped == OBJECTS
    assert "200 skipped" in again.summary()


def test_rewrap_rewrites_unsigned_headers_and_re_encrypts_signed_objects_and_decrypt_restores_every_source(
    encrypted: Encrypted, dask_client: Any, moto_server: MotoServer, s3: Any, keys: Keys, raw: dict[str, bytes]
) -> None:
    report = run_job(dask_client, moto_server, "rewrap", uri("enc/"), uri("rot/"), keyring=OLD_KEY, new_keyring=NEW_KEY)
    assert report.ok, failures(report)
    assert report.methods() == {"rewrapped": OBJECTS, "re-encrypted": 50}
    for result in report.results:  # names are kept; the way matches the suite
        assert result.dest == "rot/" + result.source.removeprefix("enc/")
        assert result.method == ("rewrapped" if result.source.startswith("enc/u/") else "re-encrypted")

    new, old = keys.keyring("new"), keys.keyring("old")
    for name, data in raw.items():
        before, after = get(s3, f"enc/u/{name}.enc"), get(s3, f"rot/u/{name}.enc")
        assert after[header_length(after) :] == before[header_length(before) :]  # the body, byte for byte
        assert message_id(after) == message_id(before)
        assert busta.decrypt(after, keyring=new).plaintext == data
    for name, data in signed_sources(raw).items():
        before, after = get(s3, f"enc/s/{name}.enc"), get(s3, f"rot/s/{name}.enc")
        assert suite_of(after) == SIGNED
        assert message_id(after) != message_id(before)  # a new message
        assert busta.decrypt(after, keyring=new).plaintext == data

    big = f"rot/u/{source_name(3)}.enc"  # 12 MiB: part 1 = new header + 5 MiB, part 2 copied by S3
    (result,) = [r for r in report.results if r.dest == big]
    assert result.bytes_read < 6 * MiB
    assert parts_of(s3, big) == 2
    sample = {big: raw[source_name(3)], f"rot/u/{source_name(0)}.enc": b""}
    sample |= {"rot/s/obj-004.bin.enc": raw[source_name(4)], "rot/s/obj-008.bin.enc": raw[source_name(8)]}
    for key, data in sample.items():
        assert official_decrypt(get(s3, key), keys=[keys.spec("new")])[0] == data
        with pytest.raises(NoDecryptingKeyError):
            busta.decrypt(get(s3, key), keyring=old)

    back = run_job(dask_client, moto_server, "decrypt", uri("rot/"), uri("dec/"), keyring=NEW_KEY)
    assert back.ok, failures(back)
    assert back.methods() == {"decrypted": OBJECTS + 50}
    expected = {f"dec/u/{name}": data for name, data in raw.items()}
    expected |= {f"dec/s/{name}": data for name, data in signed_sources(raw).items()}
    assert set(listing(s3, "dec/")) == set(expected)
    for key, data in expected.items():
        assert get(s3, key) == data
    assert uploads_under(s3, "rot/") == uploads_under(s3, "dec/") == []


def test_kms_keys_described_by_arn_and_endpoint_encrypt_rotate_and_decrypt_end_to_end(
    dask_client: Any, moto_server: MotoServer, s3: Any, kms_keys: KmsKeys, keys: Keys
) -> None:
    rng = random.Random(7)
    data = {f"k/{i:02d}.bin": rng.randbytes(rng.randrange(0, 100 * KiB)) for i in range(20)}
    put_all(s3, "kms-raw/", data)
    old = KmsKey(kms_keys.single_arn, endpoint_url=moto_server.endpoint)
    new = Multi((KmsKey(kms_keys.other_arn, endpoint_url=moto_server.endpoint), NEW_KEY))

    encrypted = run_job(
        dask_client, moto_server, "encrypt", uri("kms-raw/"), uri("kms-enc/"), keyring=old, algorithm=UNSIGNED
    )
    assert encrypted.ok and encrypted.count("done") == 20, failures(encrypted)
    rotated = run_job(
        dask_client, moto_server, "rewrap", uri("kms-enc/"), uri("kms-rot/"), keyring=old, new_keyring=new
    )
    assert rotated.ok and rotated.methods() == {"rewrapped": 20}, failures(rotated)

    message = get(s3, "kms-rot/k/03.bin.enc")
    parsed = parse_header(message)
    assert parsed is not None
    assert [edk.provider_id for edk in parsed.header.encrypted_data_keys] == ["aws-kms", NAMESPACE]
    assert busta.decrypt(message, keyring=keys.keyring("new")).plaintext == data["k/03.bin"]  # the second new key alone

    decrypted = run_job(
        dask_client,
        moto_server,
        "decrypt",
        uri("kms-rot/"),
        uri("kms-dec/"),
        keyring=KmsKey(kms_keys.other_arn, endpoint_url=moto_server.endpoint),
    )
    assert decrypted.ok and decrypted.count("done") == 20, failures(decrypted)
    assert {key: get(s3, key) for key in listing(s3, "kms-dec/")} == {f"kms-dec/{n}": d for n, d in data.items()}
    refused = run_job(dask_client, moto_server, "decrypt", uri("kms-rot/"), uri("kms-refused/"), keyring=old)
    assert refused.count("failed") == 20
    assert all("NoDecryptingKeyError" in result.error for result in refused.results)
    assert listing(s3, "kms-refused/") == {}


# --------------------------------------------------------------------------- local directories


TREE = {
    "top.txt": b"top level\n" * 100,
    "empty": b"",
    ".hidden": b"dot files are sources too",
    "a/one byte": b"x",
    "a/b/c.bin": random.Random(1).randbytes(70 * KiB),
    "deep/x/y/z/leaf.dat": random.Random(2).randbytes(200 * KiB),
}


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative name, leaving out the done-markers."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and MARKER_DIR not in path.relative_to(root).parts
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for name, data in TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_a_directory_tree_is_encrypted_skipped_on_rerun_and_decrypted_back_identical_without_markers_as_sources(
    dask_client: Any, moto_server: MotoServer, tree: Path, tmp_path: Path, keys: Keys
) -> None:
    enc, dec = tmp_path / "enc", tmp_path / "dec"
    first = run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY)
    assert first.ok and first.count("done") == len(TREE), failures(first)
    written = files_under(enc)
    assert set(written) == {f"{name}.enc" for name in TREE}
    assert all(busta.decrypt(written[f"{n}.enc"], keyring=keys.keyring("old")).plaintext == d for n, d in TREE.items())
    assert (enc / MARKER_DIR).is_dir()
    stamps = {name: (enc / name).stat().st_mtime_ns for name in written}

    again = run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY)
    assert again.count("skipped") == len(TREE), failures(again)
    assert {name: (enc / name).stat().st_mtime_ns for name in written} == stamps
    assert files_under(enc) == written

    back = run_job(dask_client, moto_server, "decrypt", str(enc), str(dec), keyring=OLD_KEY)
    assert back.ok, failures(back)
    assert len(back.results) == len(TREE)  # the markers under enc/.busta-bulk/ are not sources
    assert not any(MARKER_DIR in result.source for result in back.results)
    assert files_under(dec) == TREE
    assert list(tmp_path.rglob(".busta-bulk-*")) == []  # no temporary file left anywhere


def test_a_destination_file_no_bulk_job_wrote_fails_its_object_unless_overwrite_is_given(
    dask_client: Any, moto_server: MotoServer, tree: Path, tmp_path: Path, keys: Keys
) -> None:
    enc = tmp_path / "enc"
    enc.mkdir()
    (enc / "top.txt.enc").write_bytes(b"someone else's file")
    report = run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY)
    assert not report.ok
    (failure,) = report.failures
    assert failure.source == str(tree / "top.txt")
    assert "overwrite" in failure.error
    assert report.count("done") == len(TREE) - 1
    assert (enc / "top.txt.enc").read_bytes() == b"someone else's file"

    forced = run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY, overwrite=True)
    assert forced.ok, failures(forced)
    assert [r.source for r in forced.results if r.status == "done"] == [str(tree / "top.txt")]
    assert busta.decrypt((enc / "top.txt.enc").read_bytes(), keyring=keys.keyring("old")).plaintext == TREE["top.txt"]


def test_a_source_changed_after_it_was_encrypted_is_encrypted_again_on_rerun_and_only_it(
    dask_client: Any, moto_server: MotoServer, tree: Path, tmp_path: Path, keys: Keys
) -> None:
    enc = tmp_path / "enc"
    assert run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY).ok
    changed = tree / "a/b/c.bin"
    stat = changed.stat()
    changed.write_bytes(b"new contents")
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new mtime, whatever the clock did

    again = run_job(dask_client, moto_server, "encrypt", str(tree), str(enc), keyring=OLD_KEY)
    assert again.ok, failures(again)
    assert [r.source for r in again.results if r.status == "done"] == [str(changed)]
    assert again.count("skipped") == len(TREE) - 1
    assert busta.decrypt((enc / "a/b/c.bin.enc").read_bytes(), keyring=keys.keyring("old")).plaintext == b"new contents"


def test_a_local_rewrap_streams_unsigned_bodies_through_unchanged_and_re_encrypts_signed_messages(
    dask_client: Any, moto_server: MotoServer, tmp_path: Path, keys: Keys
) -> None:
    src = tmp_path / "enc"
    src.mkdir()
    plain = {f"m{i}": os.urandom(i * 40_000) for i in range(4)}
    for name, data in plain.items():
        (src / name).write_bytes(
            busta.encrypt(data, keyring=keys.keyring("old"), algorithm=UNSIGNED, frame_length=1024)
        )
    (src / "signed").write_bytes(busta.encrypt(b"signed", keyring=keys.keyring("old")))
    report = run_job(
        dask_client, moto_server, "rewrap", str(src), str(tmp_path / "rot"), keyring=OLD_KEY, new_keyring=NEW_KEY
    )
    assert report.ok, failures(report)
    assert report.methods() == {"rewrapped": 4, "re-encrypted": 1}
    for name, data in plain.items():
        before, after = (src / name).read_bytes(), (tmp_path / "rot" / name).read_bytes()
        assert after[header_length(after) :] == before[header_length(before) :]
        assert busta.decrypt(after, keyring=keys.keyring("new")).plaintext == data
    assert busta.decrypt((tmp_path / "rot" / "signed").read_bytes(), keyring=keys.keyring("new")).plaintext == b"signed"
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt((tmp_path / "rot" / "signed").read_bytes(), keyring=keys.keyring("old"))


# --------------------------------------------------------------------------- failures, one object at a time


def test_a_corrupt_object_fails_alone_with_its_error_in_the_report_and_on_the_clis_stderr_with_status_1(
    dask_client: Any, moto_server: MotoServer, s3: Any, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring = record_keyring(key_file)
    good = {f"good-{i}": os.urandom(1000 * i) for i in range(5)}
    for name, data in good.items():
        s3.put_object(Bucket=BUCKET, Key=f"bad/{name}.enc", Body=busta.encrypt(data, keyring=keyring))
    corrupt = bytearray(busta.encrypt(os.urandom(5000), keyring=keyring))
    corrupt[len(corrupt) // 2] ^= 0x01  # inside a frame
    s3.put_object(Bucket=BUCKET, Key="bad/corrupt.enc", Body=bytes(corrupt))

    report = run_job(dask_client, moto_server, "decrypt", uri("bad/"), uri("bad-out/"), keyring=LocalKey(str(key_file)))
    assert not report.ok
    (failure,) = report.failures
    assert (failure.source, failure.status) == ("bad/corrupt.enc", "failed")
    assert failure.error.startswith(("AuthenticationError", "MalformedMessageError"))
    assert report.count("done") == 5
    assert {key: get(s3, key) for key in listing(s3, "bad-out/")} == {f"bad-out/{n}": d for n, d in good.items()}
    assert uploads_under(s3, "bad-out/") == []

    argv = ["bulk", "decrypt", uri("bad/"), uri("bad-cli/"), "--key-file", str(key_file), "-q"]
    argv += [
        "--scheduler",
        dask_client.scheduler.address,
        "--aws-endpoint-url",
        moto_server.endpoint,
        "--aws-region",
        WEST,
    ]
    with client_credentials(dask_client):  # the cluster lets in only holders of its credentials
        assert call_with_timeout(JOB_TIMEOUT, lambda: main(argv)) == 1
    out, err = capsys.readouterr()
    assert "5 done" in out and "1 failed" in out
    assert re.search(r"failed: bad/corrupt\.enc: (AuthenticationError|MalformedMessageError)", err)
    assert "1 of 6 objects failed" in err
    assert set(listing(s3, "bad-cli/")) == {f"bad-cli/{name}" for name in good}


# --------------------------------------------------------------------------- keyrings travel as descriptions


class Untouchable:
    """Stands in for a Dask client that must not be used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the job used its Dask client ({name}) before refusing")


@pytest.mark.parametrize("where", ["keyring", "new_keyring"])
def test_a_keyring_object_instead_of_a_description_is_refused_with_a_pointer_to_busta_keyconfig(
    where: str, tmp_path: Path
) -> None:
    keyring = RawAesKeyring(NAMESPACE, "old", bytes(32))
    options: dict[str, Any] = {"keyring": OLD_KEY, "new_keyring": NEW_KEY, where: keyring}
    with pytest.raises(UsageError, match=r"busta\.keyconfig"):
        bulk.run("rewrap", str(tmp_path / "in"), str(tmp_path / "out"), client=Untouchable(), **options)
    assert not (tmp_path / "out").exists()


def test_a_keyring_holding_key_bytes_refuses_to_be_pickled_and_says_to_pass_a_keyconfig_description() -> None:
    with pytest.raises(UsageError, match=r"cannot be pickled.*pass an busta\.keyconfig description"):
        pickle.dumps(RawAesKeyring(NAMESPACE, "old", bytes(32)))
    description = Multi(
        (OLD_KEY, KmsKey("arn:aws:kms:us-west-2:111122223333:key/k", endpoint_url="http://127.0.0.1:1"))
    )
    assert pickle.loads(pickle.dumps(description)) == description  # descriptions travel


def test_a_multi_description_holding_a_keyring_is_refused_before_any_task_runs(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "file").write_bytes(b"data")
    mixed = Multi((OLD_KEY, RawAesKeyring(NAMESPACE, "raw", bytes(32))))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"cannot be pickled.*pass an busta\.keyconfig description"):
        bulk.run("encrypt", str(tmp_path / "in"), str(tmp_path / "out"), keyring=mixed, client=Untouchable())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("operation", "dest", "options", "says"),
    [
        ("rewrap", "out", {}, "new_keyring"),
        ("encrypt", "out", {"new_keyring": NEW_KEY}, "new_keyring"),
        ("encrypt", "in/sub", {}, "overlap"),
        ("shred", "out", {}, "operation"),
        ("encrypt", "out", {"part_size": 1 << 20}, "part_size must be at least"),
        ("encrypt", "out", {"split_part_size": 1 << 20}, "split_part_size must be at least"),
    ],
)
def test_a_job_that_makes_no_sense_is_refused_before_any_task_runs(
    operation: str, dest: str, options: dict[str, Any], says: str, tmp_path: Path
) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(UsageError, match=says):
        bulk.run(
            operation, str(tmp_path / "in"), str(tmp_path / dest), keyring=OLD_KEY, client=Untouchable(), **options
        )


# --------------------------------------------------------------------------- the engine on a Dask worker


@pytest.mark.parametrize("suite", [UNSIGNED, SIGNED])
def test_decryption_survives_a_profiler_that_holds_on_to_the_engines_frames(suite: int, keys: Keys) -> None:
    """Dask workers run a sampling profiler that holds task frames (and their buffer views) for a while;
    the decryptor must never resize a buffer it has viewed. Here a profile hook holds every frame."""
    data = os.urandom(5000)
    message = busta.encrypt(data, keyring=keys.keyring("old"), algorithm=suite, frame_length=1024)
    decryptor = busta.start_decryption(keyring=keys.keyring("old"))
    held: list[Any] = []

    def hold(frame: Any, event: str, _: Any) -> None:
        if event == "return":
            held.append(frame)

    sys.setprofile(hold)
    try:  # 7 bytes at a time: the header and every frame are assembled in the decryptor's buffer
        plaintext = b"".join(decryptor.update(message[i : i + 7]) for i in range(0, len(message), 7))
        plaintext += decryptor.finalize()
    finally:
        sys.setprofile(None)
    assert plaintext == data
    assert held


# --------------------------------------------------------------------------- killed workers and drivers


def test_a_worker_killed_mid_job_loses_nothing_and_a_rerun_completes_with_every_object_once(
    dask_client: Any, moto_server: MotoServer, s3: Any, raw: dict[str, bytes], keys: Keys
) -> None:
    dask_client.wait_for_workers(2, timeout=60)
    address, victim = sorted(worker_pids(dask_client).items())[0]
    killed_at: list[int] = []
    busy: list[int] = []

    def kill_one_worker(progress: bulk.Progress) -> None:
        if progress.objects_finished == 50 and not killed_at:
            busy.append(len(dask_client.processing(workers=[address])[address]))
            os.kill(victim, signal.SIGKILL)
            killed_at.append(progress.objects_finished)

    first = run_job(
        dask_client,
        moto_server,
        "encrypt",
        uri("raw/"),
        uri("enc-kill/"),
        keyring=OLD_KEY,
        algorithm=UNSIGNED,
        progress=kill_one_worker,
    )
    assert killed_at == [50]
    assert busy[0] > 0  # it died with tasks of the job on it
    assert len(first.results) == OBJECTS  # every object accounted for (done, or failed with KilledWorker)
    assert {r.status for r in first.results} <= {"done", "skipped", "failed"}

    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
    assert victim not in worker_pids(dask_client).values()
    rerun = run_job(
        dask_client, moto_server, "encrypt", uri("raw/"), uri("enc-kill/"), keyring=OLD_KEY, algorithm=UNSIGNED
    )
    assert rerun.ok, failures(rerun)
    status = {r.source: r.status for r in rerun.results}
    assert all(status[r.source] == "skipped" for r in first.results if r.status == "done")  # done once, not redone

    assert set(listing(s3, "enc-kill/")) == {f"enc-kill/{name}.enc" for name in raw}
    for name, data in raw.items():
        assert busta.decrypt(get(s3, f"enc-kill/{name}.enc"), keyring=keys.keyring("old")).plaintext == data
    assert uploads_under(s3, "enc-kill/") == []


def cli_process(args: list[str], home: Path, **popen: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "busta", *args], env=env, cwd=home, **popen)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.1)


def test_a_killed_driver_and_its_cluster_leave_nothing_half_written_and_the_rerun_skips_what_was_done(
    dask_client: Any, moto_server: MotoServer, s3: Any, raw: dict[str, bytes], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    made = cli_process(["keygen", "-o", "bulk.key"], home, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert made.wait(timeout=60) == 0
    aws = ["--aws-endpoint-url", moto_server.endpoint, "--aws-region", WEST]
    args = ["bulk", "encrypt", uri("raw/"), uri("enc2/"), "--workers", "2", "--key-file", "bulk.key", "-q", *aws]
    log = (home / "first.log").open("wb")
    driver = cli_process(args, home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: driver.poll() is not None or len(listing(s3, "enc2/")) >= 20, 90, "20 objects are written")
        assert driver.poll() is None, (home / "first.log").read_text()
        assert len(group_alive(driver.pid)) >= 3  # the driver and its two workers share its process group
    finally:
        kill_group(driver.pid)  # the driver, its nannies and its workers: one process group
        driver.wait(timeout=30)
        log.close()
    wait_until(lambda: not group_alive(driver.pid), 30, "the killed processes are gone")
    written = len(listing(s3, "enc2/"))
    assert 20 <= written < OBJECTS

    rerun = cli_process(args, home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = rerun.communicate(timeout=JOB_TIMEOUT)
    finally:
        kill_group(rerun.pid)
    assert rerun.returncode == 0, err.decode()
    skipped = re.search(rb"(\d+) skipped, 0 failed", out)
    assert skipped and int(skipped.group(1)) >= written, out.decode()

    keyring = record_keyring(home / "bulk.key")
    assert set(listing(s3, "enc2/")) == {f"enc2/{name}.enc" for name in raw}
    for name, data in raw.items():
        assert busta.decrypt(get(s3, f"enc2/{name}.enc"), keyring=keyring).plaintext == data
    assert uploads_under(s3, "enc2/") == []


# --------------------------------------------------------------------------- the command line


def cli(*argv: str) -> int:
    """``busta bulk ARGV`` in this process, failing the test if it has not returned within JOB_TIMEOUT."""
    return call_with_timeout(JOB_TIMEOUT, functools.partial(main, ["bulk", *argv]))


def test_the_cli_encrypts_rewraps_and_decrypts_directories_on_its_own_cluster_and_writes_json_reports(
    dask_client: Any, tree: Path, tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_key = tmp_path / "new.key"
    assert main(["keygen", "-o", str(new_key)]) == 0
    capsys.readouterr()
    enc, rot, dec = tmp_path / "enc", tmp_path / "rot", tmp_path / "dec"
    report = tmp_path / "report.json"
    own_cluster = ["--workers", "1", "-q", "-c", "purpose=cli", "--report", str(report)]

    old_key = ["--key-file", str(key_file)]
    assert (
        cli("encrypt", str(tree), str(enc), *old_key, "--algorithm", "0x0478", "--frame-length", "4096", *own_cluster)
        == 0
    )
    written = json.loads(report.read_text())
    assert (written["operation"], written["ok"], written["source"], written["dest"]) == (
        "encrypt",
        True,
        str(tree),
        str(enc),
    )
    outcomes = {(o["source"], o["dest"], o["status"], o["method"], o["error"]) for o in written["objects"]}
    assert outcomes == {(str(tree / n), str(enc / f"{n}.enc"), "done", "encrypted", "") for n in TREE}
    assert f"{len(TREE)} done ({len(TREE)} encrypted)" in capsys.readouterr().out

    assert cli("rewrap", str(enc), str(rot), *old_key, "--new-key-file", str(new_key), *own_cluster) == 0
    rotated = json.loads(report.read_text())
    assert [o["method"] for o in rotated["objects"]] == ["rewrapped"] * len(TREE)
    for name in TREE:
        before, after = (enc / f"{name}.enc").read_bytes(), (rot / f"{name}.enc").read_bytes()
        assert after[header_length(after) :] == before[header_length(before) :]
        parsed = parse_header(after)
        assert parsed is not None
        assert (parsed.header.frame_length, parsed.header.encryption_context) == (4096, {"purpose": "cli"})

    assert cli("decrypt", str(rot), str(dec), "--key-file", str(new_key), *own_cluster) == 0
    assert files_under(dec) == TREE
    assert f"{len(TREE)} done ({len(TREE)} decrypted)" in capsys.readouterr().out


@pytest.fixture
def scheduler_credentials(dask_client: Any) -> Iterator[None]:
    """The cluster's TLS credentials in Dask's configuration, where ``--scheduler`` finds them."""
    with client_credentials(dask_client):
        yield


def test_the_cli_runs_s3_jobs_on_a_given_scheduler_and_rotates_to_a_kms_key(
    dask_client: Any,
    scheduler_credentials: None,
    moto_server: MotoServer,
    s3: Any,
    key_file: Path,
    kms_keys: KmsKeys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = {f"cli-{i}.txt": f"object {i}\n".encode() * (i * 100) for i in range(10)}
    put_all(s3, "cli-raw/", data)
    on_cluster = ["--scheduler", dask_client.scheduler.address, "-q"]
    on_cluster += ["--aws-endpoint-url", moto_server.endpoint, "--aws-region", WEST]
    report = tmp_path / "report.json"
    old_key, new_kms = ["--key-file", str(key_file)], ["--new-kms-key", kms_keys.other_arn]

    assert cli("encrypt", uri("cli-raw/"), uri("cli-enc/"), *old_key, "--algorithm", "0x0478", *on_cluster) == 0
    assert (
        cli("rewrap", uri("cli-enc/"), uri("cli-rot/"), *old_key, *new_kms, "--report", str(report), *on_cluster) == 0
    )
    rotated = json.loads(report.read_text())
    assert (rotated["operation"], rotated["ok"], rotated["source"]) == ("rewrap", True, uri("cli-enc/"))
    assert sorted(o["dest"] for o in rotated["objects"]) == sorted(f"cli-rot/{name}.enc" for name in data)
    assert {(o["status"], o["method"], o["error"]) for o in rotated["objects"]} == {("done", "rewrapped", "")}
    parsed = parse_header(get(s3, "cli-rot/cli-3.txt.enc"))
    assert parsed is not None
    assert [edk.provider_info.decode() for edk in parsed.header.encrypted_data_keys] == [kms_keys.other_arn]

    assert cli("decrypt", uri("cli-rot/"), uri("cli-dec/"), "--kms-key", kms_keys.other_arn, *on_cluster) == 0
    assert {key: get(s3, key) for key in listing(s3, "cli-dec/")} == {f"cli-dec/{n}": d for n, d in data.items()}
    out = capsys.readouterr().out
    assert "10 done (10 encrypted)" in out and "10 done (10 rewrapped)" in out and "10 done (10 decrypted)" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["rewrap", "{src}", "{dst}"],  # rewrap without --new-key-file / --new-kms-key
        ["encrypt", "{src}", "{dst}", "--new-key-file", "{key}"],  # new keys are for rewrap only
        ["decrypt", "{src}", "{dst}", "--new-kms-key", "arn:aws:kms:us-west-2:111122223333:key/k"],
        ["encrypt", "{src}", "{dst}", "--workers", "0"],
        ["encrypt", "{src}", "{src}/inside"],  # the destination lies inside the source
        ["shred", "{src}", "{dst}"],
        ["encrypt", "{src}"],
    ],
    ids=[
        "rewrap-without-new-keys",
        "encrypt-with-new-key",
        "decrypt-with-new-kms-key",
        "zero-workers",
        "overlap",
        "unknown-operation",
        "no-destination",
    ],
)
def test_cli_usage_errors_exit_with_status_2_before_any_cluster_starts(
    argv: list[str], tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    places = {"src": str(tmp_path / "src"), "dst": str(tmp_path / "dst"), "key": str(key_file)}
    args = [arg.format(**places) for arg in argv]
    assert main(["bulk", *args, "--key-file", str(key_file)]) == 2
    assert capsys.readouterr().err
    assert not (tmp_path / "dst").exists()
