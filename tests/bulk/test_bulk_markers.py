"""Done-markers bind what makes an output right, and are authenticated before an object is skipped.

Tasks run in this process (``bulk.process_object``, the function every worker
runs) against local directories and moto's S3 server on 127.0.0.1:

- a rerun of the same job skips every object; rotating again, to key C after a
  rotation to key B, redoes every object (header-only rewraps, re-encrypted
  signed messages, in S3 and in directories) and leaves them under C;
- changing the encryption context, the suite or the frame length redoes objects;
- junk under a forged marker (the format earlier versions wrote, or the current
  one with a MAC made up), or under another object's genuine marker, is never
  skipped: it is redone and replaced by the right output;
- a decrypted file replaced under its marker is redone;
- a genuine output under an old-format marker is redone, without ``overwrite``;
- a keyring that cannot unwrap what it wraps (an RSA public key) cannot check
  markers, so every rerun redoes every object instead of failing or skipping.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import bulk
from busta.bulk.places import parse_place
from busta.bulk.tasks import JobSpec, Operation
from busta.errors import NoDecryptingKeyError
from busta.keyconfig import EnvKey, KeyringConfig, RsaKeyFile
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import aws_environment
from ..support.moto_server import MotoServer

BUCKET = "bulk-markers"
REGION = "us-west-2"
NAMESPACE = "bulk-markers"
NAMES = ("a", "b", "c")
VARIABLES = {which: f"BUSTA_TEST_BULK_MARKERS_{which.upper()}" for which in ("a", "b", "c")}
KEYS = {which: EnvKey(variable, NAMESPACE, which) for which, variable in VARIABLES.items()}
UNSIGNED, SIGNED = 0x0478, 0x0578
MARKER_DIR = ".busta-bulk"


@pytest.fixture(scope="module")
def secrets() -> Iterator[dict[str, bytes]]:
    """Three AES keys in the environment of this process (which runs the tasks), and moto credentials."""
    keys = {which: os.urandom(32) for which in VARIABLES}
    saved = dict(os.environ)
    os.environ.update({VARIABLES[which]: base64.b64encode(key).decode() for which, key in keys.items()})
    os.environ.update(aws_environment())
    try:
        yield keys
    finally:
        os.environ.clear()
        os.environ.update(saved)


def keyring(secrets: dict[str, bytes], which: str) -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, which, secrets[which])


@pytest.fixture(scope="module")
def server(secrets: dict[str, bytes]) -> Iterator[MotoServer]:
    with MotoServer() as moto:
        yield moto.with_bucket(BUCKET, REGION)


@pytest.fixture(scope="module")
def s3(server: MotoServer) -> Any:
    return server.client("s3")


class Places:
    """Where a test's objects live: a directory or an S3 prefix, with reads and writes for the test."""

    def __init__(self, kind: str, root: Path, s3: Any, server: MotoServer):
        self.kind, self.root, self.s3, self.server = kind, root, s3, server

    def uri(self, place: str) -> str:
        return f"s3://{BUCKET}/{self.root.name}/{place}/" if self.kind == "s3" else str(self.root / place)

    def put(self, place: str, name: str, data: bytes, metadata: dict[str, str] | None = None) -> None:
        if self.kind == "s3":
            key = f"{self.root.name}/{place}/{name}"
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=metadata or {})
        else:
            (self.root / place).mkdir(parents=True, exist_ok=True)
            (self.root / place / name).write_bytes(data)

    def get(self, place: str, name: str) -> bytes:
        if self.kind == "s3":
            body: bytes = self.s3.get_object(Bucket=BUCKET, Key=f"{self.root.name}/{place}/{name}")["Body"].read()
            return body
        return (self.root / place / name).read_bytes()

    def job(self, operation: Operation, src: str, dst: str, key: KeyringConfig, **options: Any) -> JobSpec:
        settings = bulk.S3Settings(endpoint_url=self.server.endpoint, region=REGION)
        return JobSpec(operation, parse_place(self.uri(src)), parse_place(self.uri(dst)), key, s3=settings, **options)


@pytest.fixture(params=["dir", "s3"])
def places(request: pytest.FixtureRequest, tmp_path: Path, s3: Any, server: MotoServer) -> Places:
    return Places(request.param, tmp_path, s3, server)


def run(job: JobSpec) -> dict[str, bulk.ObjectResult]:
    """Every object of the job, as a worker would do it, by source name."""
    return {source.name: bulk.process_object(job, source) for source in job.source.list(job.s3)}


def statuses(results: dict[str, bulk.ObjectResult]) -> dict[str, str]:
    return {name: (result.status if result.ok else f"failed: {result.error}") for name, result in results.items()}


def marker_file(dest: Path, name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return dest / MARKER_DIR / digest[:2] / f"{digest}.json"


# --------------------------------------------------------------------------- rotation


def test_rotating_again_to_key_c_after_key_b_redoes_every_object_and_leaves_it_under_c(
    places: Places, secrets: dict[str, bytes]
) -> None:
    plaintext = {name: os.urandom(3000 + i) for i, name in enumerate(NAMES)}
    for name, data in plaintext.items():  # two unsigned (header-only rewrap), one signed (re-encrypted)
        suite = SIGNED if name == "c" else UNSIGNED
        places.put("enc", name, busta.encrypt(data, keyring=keyring(secrets, "a"), algorithm=suite))
    to_b = places.job(Operation.REWRAP, "enc", "rot", KEYS["a"], new_keyring=KEYS["b"])
    to_c = places.job(Operation.REWRAP, "enc", "rot", KEYS["a"], new_keyring=KEYS["c"])

    assert statuses(run(to_b)) == dict.fromkeys(NAMES, "done")
    assert statuses(run(to_b)) == dict.fromkeys(NAMES, "skipped")  # the same job again: done already
    first = run(to_c)
    assert statuses(first) == dict.fromkeys(NAMES, "done")  # B's markers do not count for a rotation to C
    assert {name: result.method for name, result in first.items()} == {
        "a": "rewrapped",
        "b": "rewrapped",
        "c": "re-encrypted",
    }
    for name, data in plaintext.items():
        message = places.get("rot", name)
        assert busta.decrypt(message, keyring=keyring(secrets, "c")).plaintext == data
        with pytest.raises(NoDecryptingKeyError):
            busta.decrypt(message, keyring=keyring(secrets, "b"))
    assert statuses(run(to_c)) == dict.fromkeys(NAMES, "skipped")


@pytest.mark.parametrize(
    "change",
    [{"encryption_context": (("purpose", "other"),)}, {"algorithm": SIGNED}, {"frame_length": 1024}],
    ids=["context", "suite", "frame-length"],
)
def test_changing_what_shapes_the_output_redoes_the_objects(
    tmp_path: Path, s3: Any, server: MotoServer, secrets: dict[str, bytes], change: dict[str, Any]
) -> None:
    places = Places("dir", tmp_path, s3, server)
    for name in NAMES:
        places.put("raw", name, name.encode() * 1000)
    base = {"encryption_context": (("purpose", "test"),), "algorithm": UNSIGNED, "frame_length": 4096}
    assert statuses(run(places.job(Operation.ENCRYPT, "raw", "enc", KEYS["a"], **base))) == dict.fromkeys(NAMES, "done")
    changed = places.job(Operation.ENCRYPT, "raw", "enc", KEYS["a"], **{**base, **change})
    assert statuses(run(changed)) == dict.fromkeys(NAMES, "done")
    assert statuses(run(changed)) == dict.fromkeys(NAMES, "skipped")


# --------------------------------------------------------------------------- forged and old markers


def forge(places: Places, job: JobSpec, name: str, how: str) -> None:
    """Junk at ``name``'s destination under a marker made without the key: ``old`` in the format earlier
    versions wrote and trusted, ``made-up`` in the current format with an invented MAC, ``not-ascii`` with
    a MAC that is not even hex, ``nested`` a marker file of JSON nested deeper than the parser goes."""
    junk = b"junk that no job wrote" * 10
    dest_name = job.dest_name(name)
    if places.kind == "s3":  # the source version earlier versions recorded in S3 is the ETag, as now
        (source,) = [s for s in job.source.list(job.s3) if s.name == name]
        metadata = {"busta-bulk-operation": str(job.operation), "busta-bulk-source": source.version}
        if how != "old":
            mac = MADE_UP_MACS.get(how, "ab" * 32).encode("ascii", "replace").decode()  # S3 takes ASCII only
            metadata |= {"busta-bulk-marker": "2", "busta-bulk-mac": mac}
        places.put("enc", dest_name, junk, metadata)
        return
    places.put("enc", dest_name, junk)
    dest = places.root / "enc"
    st, source_st = (dest / dest_name).stat(), (places.root / "raw" / name).stat()
    record: dict[str, Any]
    if how == "old":  # exactly what earlier versions wrote, with the source version they computed
        record = {"name": dest_name, "operation": str(job.operation), "dest": [st.st_size, st.st_mtime_ns]}
        record["source"] = f"{source_st.st_size}:{source_st.st_mtime_ns}"
    else:
        mac = MADE_UP_MACS.get(how, "ab" * 32)
        state = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]
        record = {"marker": "2", "name": dest_name, "mac": mac, "state": state}
    marker_file(dest, dest_name).parent.mkdir(parents=True, exist_ok=True)
    text = "[" * 2000 + "]" * 2000 if how == "nested" else json.dumps(record)
    marker_file(dest, dest_name).write_text(text)


#: MACs a forger might try that are not even hex digits.
MADE_UP_MACS = {"not-ascii": "\u00e9" * 64}


@pytest.mark.parametrize("how", ["old", "made-up", "not-ascii", "nested"])
def test_junk_under_a_forged_marker_is_redone_and_replaced_by_the_right_output(
    places: Places, secrets: dict[str, bytes], how: str
) -> None:
    plaintext = {name: name.encode() * 500 for name in NAMES}
    for name, data in plaintext.items():
        places.put("raw", name, data)
    job = places.job(Operation.ENCRYPT, "raw", "enc", KEYS["a"], algorithm=UNSIGNED)
    forge(places, job, "b", how)

    assert statuses(run(job)) == dict.fromkeys(NAMES, "done")  # b was not skipped, and needed no overwrite
    for name, data in plaintext.items():
        assert busta.decrypt(places.get("enc", f"{name}.enc"), keyring=keyring(secrets, "a")).plaintext == data


def test_another_objects_genuine_output_and_marker_copied_over_a_destination_are_redone(
    places: Places, secrets: dict[str, bytes]
) -> None:
    plaintext = {name: name.encode() * 700 for name in NAMES}  # one size: the same version as earlier versions saw it
    for name, data in plaintext.items():
        places.put("raw", name, data)
        if places.kind == "dir":
            os.utime(places.root / "raw" / name, ns=(10**18, 10**18))  # and one mtime
    job = places.job(Operation.ENCRYPT, "raw", "enc", KEYS["a"], algorithm=UNSIGNED)
    assert statuses(run(job)) == dict.fromkeys(NAMES, "done")
    if places.kind == "s3":  # CopyObject keeps a.enc's metadata: its marker
        prefix = f"{places.root.name}/enc/"
        places.s3.copy_object(
            Bucket=BUCKET, Key=f"{prefix}b.enc", CopySource={"Bucket": BUCKET, "Key": f"{prefix}a.enc"}
        )
    else:
        dest = places.root / "enc"
        shutil.copyfile(dest / "a.enc", dest / "b.enc")
        record = json.loads(marker_file(dest, "a.enc").read_text())
        st = (dest / "b.enc").stat()
        record |= {"name": "b.enc", "state": [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]}
        record |= {"dest": [st.st_size, st.st_mtime_ns]}  # what earlier versions checked
        marker_file(dest, "b.enc").write_text(json.dumps(record))

    assert statuses(run(job)) == {"a": "skipped", "b": "done", "c": "skipped"}
    assert busta.decrypt(places.get("enc", "b.enc"), keyring=keyring(secrets, "a")).plaintext == plaintext["b"]


def test_a_decrypted_file_replaced_under_its_marker_is_redone(
    tmp_path: Path, s3: Any, server: MotoServer, secrets: dict[str, bytes]
) -> None:
    places = Places("dir", tmp_path, s3, server)
    for name in NAMES:
        places.put("enc", name + ".enc", busta.encrypt(name.encode() * 100, keyring=keyring(secrets, "a")))
    job = places.job(Operation.DECRYPT, "enc", "dec", KEYS["a"])
    assert statuses(run(job)) == dict.fromkeys([f"{name}.enc" for name in NAMES], "done")
    replaced = tmp_path / "dec" / "b"
    stat = replaced.stat()
    (tmp_path / "junk").write_bytes(b"J" * stat.st_size)
    os.utime(tmp_path / "junk", ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime, another file
    os.replace(tmp_path / "junk", replaced)

    assert statuses(run(job)) == {"a.enc": "skipped", "b.enc": "done", "c.enc": "skipped"}
    assert replaced.read_bytes() == b"b" * 100


def test_a_keyring_that_cannot_unwrap_what_it_wraps_redoes_every_object_on_a_rerun(
    tmp_path: Path, s3: Any, server: MotoServer
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "public.pem"
    pem.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    places = Places("dir", tmp_path, s3, server)
    for name in NAMES:
        places.put("raw", name, name.encode())
    job = places.job(Operation.ENCRYPT, "raw", "enc", RsaKeyFile(str(pem), NAMESPACE, "rsa"))
    assert statuses(run(job)) == dict.fromkeys(NAMES, "done")
    assert statuses(run(job)) == dict.fromkeys(NAMES, "done")  # markers it cannot check: redone, not trusted
