"""Issue 14, item 11: key rotation in S3 uses only bytes it checked, never loses a concurrent write,
and keeps what S3 keeps on a copy.

Against moto's S3 server on 127.0.0.1. Hostile answers are made two ways: a
botocore ``before-send`` hook that does the real GET through another client and
then alters the HTTP answer (status, Content-Range, Content-Length, body) before
botocore parses it; and, for bulk jobs whose workers make their own clients, the
fault proxy answering a GET with a canned HTTP response. What is proven:

- every ranged answer is checked before a byte of it is used: a 200 to a partial
  range (a server that ignores Range), a Content-Range that starts, ends or counts
  elsewhere, and a body shorter or longer than promised are each an S3Error with
  code ``BadRangeResponse``; a 200 for a range that is the whole object is fine;
- rotation authenticates the new message before it writes: bytes that pass the
  range checks but are not the object's (shifted, or a flipped bit in part 1 or in
  the final frame) fail it with an authentication error; in every case the source
  is left as it was, decrypts with the old key, and no multipart upload is left;
  a bulk rewrap fails that object alone and writes no output (so no done-marker);
- in place, the final PutObject and CompleteMultipartUpload carry ``If-Match`` with
  the source's ETag; another writer who replaced the object while the keyrings
  ran keeps their object and rotation fails with code ``ObjectChanged`` (moto
  honours If-Match on PutObject; it ignores it on CompleteMultipartUpload, so
  there the test checks the header and answers 412 as S3 does);
- the rotated object keeps tags, content headers, Expires, the website redirect,
  storage class, SSE-KMS settings, user metadata and object-lock settings, on both
  write paths (moto drops BucketKeyEnabled and object lock on
  CreateMultipartUpload, so there the request is checked).
"""

from __future__ import annotations

import base64
import datetime
import functools
import io
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.awsrequest
import pytest

import busta
from busta import bulk, s3
from busta.errors import AuthenticationError, BustaError, S3Error
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring
from busta.materials import DecryptionMaterials, EncryptionMaterials
from busta.s3 import fetch_range

from ..support.dask_cluster import aws_environment, call_with_timeout, local_cluster
from ..support.fault_proxy import FaultProxy, Respond, http_response
from ..support.kms_fixtures import WEST, moto_server
from ..support.moto_server import MotoServer
from ..support.oracle import AesKeySpec, official_encrypt

__all__ = ["moto_server"]  # a fixture, imported for pytest to find

KiB, MiB = 1 << 10, 1 << 20
BUCKET = "busta-rotation-integrity"
LOCKED = "busta-rotation-properties"  # object lock needs a bucket made with it (and versioning)
NAMESPACE = "rotation-integrity"
OLD_VARIABLE, NEW_VARIABLE = "BUSTA_TEST_ROTATION_OLD", "BUSTA_TEST_ROTATION_NEW"
OLD_KEY, NEW_KEY = bytes(range(0x10, 0x30)), bytes(range(0x50, 0x70))
UNSIGNED = 0x0478
#: One piece (PutObject): less than 5 MiB would be left to copy after part 1.
ONE_PIECE = 6 * MiB + 512 * KiB
#: Multipart: part 1, then server-side copies.
MULTIPART = 12 * MiB


def old_keyring() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "old", OLD_KEY)


def new_keyring() -> RawAesKeyring:
    return RawAesKeyring(NAMESPACE, "new", NEW_KEY)


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", WEST)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": WEST})
    s3_client.create_bucket(
        Bucket=LOCKED, CreateBucketConfiguration={"LocationConstraint": WEST}, ObjectLockEnabledForBucket=True
    )
    return s3_client


@pytest.fixture
def own_client(moto_server: MotoServer, client: Any) -> Any:
    """A client of this test alone, for hooks."""
    return moto_server.client("s3", WEST)


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    return "objects/" + re.sub(r"[^A-Za-z0-9._-]", "_", request.node.name)


def message(size: int) -> tuple[bytes, bytes]:
    data = random.Random(size).randbytes(size)
    return data, busta.encrypt(data, keyring=old_keyring(), algorithm=UNSIGNED)


def put(client: Any, key: str, size: int, bucket: str = BUCKET, **properties: Any) -> tuple[bytes, bytes]:
    data, body = message(size)
    client.put_object(Bucket=bucket, Key=key, Body=body, **properties)
    return data, body


def get(client: Any, key: str, bucket: str = BUCKET) -> bytes:
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def uploads_left(client: Any, bucket: str = BUCKET) -> list[str]:
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def rotate(client: Any, key: str, bucket: str = BUCKET, **options: Any) -> s3.RewrapResult:
    return s3.rewrap_object(
        bucket, key, client=client, keyring=old_keyring(), new_keyring=options.pop("new", new_keyring()), **options
    )


def assert_untouched(client: Any, key: str, old: bytes, data: bytes) -> None:
    """The source is the old message, which the old key still opens; no upload is left behind."""
    assert get(client, key) == old
    assert busta.decrypt(get(client, key), keyring=old_keyring()).plaintext == data
    assert uploads_left(client) == []


# --------------------------------------------------------------------------- hostile answers to GETs


class _Raw(io.BytesIO):
    """An HTTP body botocore can read (``read``) or stream (``stream``)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_range: str | None = None
    content_length: int | None = None  # default: the body's length


#: ``alter(first, last, whole)``: the answer to a GET of bytes ``[first, last]`` of ``whole``, or None
#: for the true one.
Alter = Callable[[int, int, bytes], Answer | None]


class HostileGets:
    """Answers the ``nth`` GetObject of a client (1-based) with ``alter``'s answer, made from the real object."""

    def __init__(self, client: Any, server: MotoServer, nth: int, alter: Alter) -> None:
        self.other = server.client("s3", WEST)
        self.nth, self.alter = nth, alter
        self.seen: list[str] = []
        self.fired = 0
        client.meta.events.register("before-send.s3.GetObject", self.before_send)

    def before_send(self, request: Any, **_: Any) -> Any:
        header = request.headers.get("Range")
        self.seen.append(header.decode() if isinstance(header, bytes) else str(header))
        if len(self.seen) != self.nth:
            return None
        found = re.fullmatch(r"bytes=(\d+)-(\d+)", self.seen[-1])
        assert found is not None
        bucket, _, key = request.url.split("?")[0].split("/", 3)[3].partition("/")
        whole = get(self.other, key, bucket)
        answer = self.alter(int(found.group(1)), int(found.group(2)), whole)
        if answer is None:
            return None
        self.fired += 1
        headers = {"Content-Length": str(len(answer.body) if answer.content_length is None else answer.content_length)}
        if answer.content_range is not None:
            headers["Content-Range"] = answer.content_range
        return botocore.awsrequest.AWSResponse(request.url, answer.status, headers, _Raw(answer.body))


def ignores_range(first: int, last: int, whole: bytes) -> Answer:
    return Answer(200, whole)


def short_range(first: int, last: int, whole: bytes) -> Answer:
    """A 206 for less than was asked (a Content-Range that stops early), with a body to match."""
    cut = max(first, last - 1000)
    return Answer(206, whole[first : cut + 1], f"bytes {first}-{cut}/{len(whole)}")


def short_body(first: int, last: int, whole: bytes) -> Answer:
    """The Content-Range asked for, but a body (and Content-Length) 1000 bytes short."""
    return Answer(206, whole[first : last + 1 - 1000], f"bytes {first}-{last}/{len(whole)}")


def long_body(first: int, last: int, whole: bytes) -> Answer:
    return Answer(206, whole[first : last + 2], f"bytes {first}-{last}/{len(whole)}")


def other_start(first: int, last: int, whole: bytes) -> Answer:
    return Answer(206, whole[first + 1 : last + 2], f"bytes {first + 1}-{last + 1}/{len(whole)}")


def other_total(first: int, last: int, whole: bytes) -> Answer:
    return Answer(206, whole[first : last + 1], f"bytes {first}-{last}/{len(whole) + 1}")


def no_content_range(first: int, last: int, whole: bytes) -> Answer:
    return Answer(206, whole[first : last + 1])


def shifted(first: int, last: int, whole: bytes) -> Answer:
    """Right headers, wrong bytes: the object's bytes from 16 bytes earlier."""
    return Answer(206, whole[first - 16 : last + 1 - 16], f"bytes {first}-{last}/{len(whole)}")


def flipped(offset_from_end: int | None = None) -> Alter:
    """Right headers, one bit flipped: in the middle of the answer, or ``offset_from_end`` bytes before its end."""

    def alter(first: int, last: int, whole: bytes) -> Answer:
        body = bytearray(whole[first : last + 1])
        body[len(body) // 2 if offset_from_end is None else len(body) - offset_from_end] ^= 0x01
        return Answer(206, bytes(body), f"bytes {first}-{last}/{len(whole)}")

    return alter


BAD_RANGES = [ignores_range, short_range, short_body, long_body, other_start, other_total, no_content_range]


@pytest.mark.parametrize("alter", BAD_RANGES, ids=[f.__name__ for f in BAD_RANGES])
def test_a_ranged_answer_that_is_not_the_range_asked_for_is_a_bad_range_response(
    own_client: Any, moto_server: MotoServer, key: str, alter: Alter
) -> None:
    _, old = put(own_client, key, 200 * KiB)
    etag = own_client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    hostile = HostileGets(own_client, moto_server, 1, alter)
    with pytest.raises(S3Error) as raised:
        fetch_range(own_client, BUCKET, key, 1000, 101_000, etag=etag, size=len(old))
    assert (raised.value.code, raised.value.operation, hostile.fired) == ("BadRangeResponse", "GetObject", 1)
    assert "bytes 1000-100999" in str(raised.value)


def test_a_200_for_a_range_that_is_the_whole_object_is_accepted(
    own_client: Any, moto_server: MotoServer, key: str
) -> None:
    _, old = put(own_client, key, 10 * KiB)
    etag = own_client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    hostile = HostileGets(own_client, moto_server, 1, ignores_range)
    assert fetch_range(own_client, BUCKET, key, 0, len(old), etag=etag, size=len(old)) == old
    assert hostile.fired == 1
    HostileGets(own_client, moto_server, 2, ignores_range)
    assert fetch_range(own_client, BUCKET, key, 0, len(old) + 99, etag=etag) == old  # the whole of it: fine too


def test_a_range_past_the_end_is_cut_at_the_objects_size_and_without_a_size_may_end_only_there(
    client: Any, key: str
) -> None:
    _, old = put(client, key, 10 * KiB)
    etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert fetch_range(client, BUCKET, key, 100, len(old) + 500, etag=etag, size=len(old)) == old[100:]
    assert fetch_range(client, BUCKET, key, 100, len(old) + 500, etag=etag) == old[100:]  # moto: 206 to the end
    assert fetch_range(client, BUCKET, key, 100, 200, etag=etag) == old[100:200]


# --------------------------------------------------------------------------- rotation checks what it copies


@pytest.mark.parametrize("alter", [ignores_range, short_range, short_body], ids=lambda f: f.__name__)
@pytest.mark.parametrize("size", [ONE_PIECE, MULTIPART], ids=["one-piece", "multipart"])
def test_rotation_fails_on_a_bad_range_answer_for_its_body_and_leaves_the_source_intact(
    own_client: Any, moto_server: MotoServer, key: str, size: int, alter: Alter
) -> None:
    data, old = put(own_client, key, size)
    hostile = HostileGets(own_client, moto_server, 2, alter)  # the 1st GET reads the header, the 2nd part 1's body
    with pytest.raises(S3Error) as raised:
        rotate(own_client, key)
    assert (raised.value.code, hostile.fired) == ("BadRangeResponse", 1)
    assert_untouched(own_client, key, old, data)


@pytest.mark.parametrize(
    ("size", "nth", "alter"),
    [
        (ONE_PIECE, 2, shifted),
        (ONE_PIECE, 2, flipped()),
        (MULTIPART, 2, shifted),
        (MULTIPART, 2, flipped()),  # a frame that part 1 re-sends
        (MULTIPART, 3, flipped(offset_from_end=5)),  # the final frame's tag, in the tail
    ],
    ids=["one-piece-shifted", "one-piece-flipped", "part-1-shifted", "part-1-flipped", "final-frame-flipped"],
)
def test_rotation_authenticates_what_it_resends_and_the_final_frame_before_it_writes(
    own_client: Any, moto_server: MotoServer, key: str, size: int, nth: int, alter: Alter
) -> None:
    data, old = put(own_client, key, size)
    hostile = HostileGets(own_client, moto_server, nth, alter)
    with pytest.raises(BustaError) as raised:
        rotate(own_client, key)
    assert hostile.fired == 1
    assert isinstance(raised.value, AuthenticationError) or "frame" in str(raised.value), raised.value
    assert_untouched(own_client, key, old, data)


def test_a_sound_rotation_reads_the_header_part_one_and_the_tail_and_each_answer_was_a_checked_206(
    own_client: Any, moto_server: MotoServer, key: str
) -> None:
    data, _ = put(own_client, key, MULTIPART)
    watch = HostileGets(own_client, moto_server, 0, ignores_range)  # never fires: it records the Ranges
    result = rotate(own_client, key)
    assert len(watch.seen) == 3 and result.parts > 1
    assert busta.decrypt(get(own_client, key), keyring=new_keyring()).plaintext == data


def test_a_non_framed_object_is_authenticated_whole_and_one_over_the_limit_is_refused(client: Any, key: str) -> None:
    data = os.urandom(6 * MiB)
    spec = AesKeySpec(NAMESPACE, "old", OLD_KEY)
    old = official_encrypt(data, keys=[spec], suite_id=UNSIGNED, frame_length=0)  # busta writes only framed
    client.put_object(Bucket=BUCKET, Key=key, Body=old)
    with pytest.raises(busta.errors.LimitExceededError):
        rotate(client, key, max_resent_bytes=5 * MiB)
    assert get(client, key) == old
    result = rotate(client, key)
    assert (result.parts, result.bytes_downloaded) == (0, len(old))
    assert busta.decrypt(get(client, key), keyring=new_keyring()).plaintext == data


# --------------------------------------------------------------------------- bulk rewrap through a hostile server


@pytest.fixture(scope="module")
def dask(moto_server: MotoServer) -> Iterator[Any]:
    """One worker process that sees moto's credentials and both keys."""
    environment = {
        **aws_environment(),
        OLD_VARIABLE: base64.b64encode(OLD_KEY).decode(),
        NEW_VARIABLE: base64.b64encode(NEW_KEY).decode(),
    }
    with local_cluster(environment, workers=1) as client:
        yield client


def bulk_rewrap(dask: Any, source: str, dest: str, **options: Any) -> bulk.BulkReport:
    old, new = EnvKey(OLD_VARIABLE, NAMESPACE, "old"), EnvKey(NEW_VARIABLE, NAMESPACE, "new")
    job = functools.partial(bulk.run, "rewrap", source, dest, keyring=old, new_keyring=new, client=dask, **options)
    return call_with_timeout(120, job)


def test_a_bulk_rewrap_through_a_server_that_ignores_range_fails_that_object_and_writes_no_output(
    moto_server: MotoServer, client: Any, dask: Any
) -> None:
    good_data, good = message(1000)
    bad_data, bad = message(ONE_PIECE)
    client.put_object(Bucket=BUCKET, Key="bulk-src/good.enc", Body=good)
    client.put_object(Bucket=BUCKET, Key="bulk-src/bad.enc", Body=bad)
    gets = {"count": 0}

    def second_get_of_bad(line: str) -> bool:
        if not re.match(rf"^GET /{BUCKET}/bulk-src/bad\.enc HTTP/", line):
            return False
        gets["count"] += 1
        return gets["count"] == 2  # the 1st reads the header; the 2nd, part 1's body, gets the whole object

    with FaultProxy(moto_server.endpoint) as proxy:
        fault = proxy.add(Respond(http_response(200, "OK", bad), match=second_get_of_bad))
        settings = bulk.S3Settings(endpoint_url=proxy.endpoint, region=WEST)
        report = bulk_rewrap(dask, f"s3://{BUCKET}/bulk-src/", f"s3://{BUCKET}/bulk-dst/", s3=settings)
    assert fault.fired == 1
    (failed,) = report.failures
    assert failed.source == "bulk-src/bad.enc" and "BadRangeResponse" in failed.error
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="bulk-dst/").get("Contents", [])
    assert [item["Key"] for item in listed] == ["bulk-dst/good.enc"]  # no output, so no done-marker, for bad
    assert busta.decrypt(get(client, "bulk-dst/good.enc"), keyring=new_keyring()).plaintext == good_data
    assert busta.decrypt(get(client, "bulk-src/bad.enc"), keyring=old_keyring()).plaintext == bad_data
    assert uploads_left(client) == []


@pytest.mark.parametrize("where", ["a frame", "the final frame"])
def test_a_bulk_rewrap_of_local_files_authenticates_the_body_it_copies_and_writes_nothing_for_a_damaged_one(
    dask: Any, tmp_path: Path, where: str
) -> None:
    source, dest = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    good_data, good = message(3000)
    _, bad = message(300 * KiB)
    damaged = bytearray(bad)
    damaged[len(bad) // 2 if where == "a frame" else len(bad) - 3] ^= 0x01
    (source / "good.enc").write_bytes(good)
    (source / "bad.enc").write_bytes(bytes(damaged))
    report = bulk_rewrap(dask, str(source), str(dest))
    (failed,) = report.failures
    assert failed.source.endswith("bad.enc") and "AuthenticationError" in failed.error
    assert [path.name for path in dest.rglob("*") if "bad" in path.name] == []  # no output, no done-marker
    assert busta.decrypt((dest / "good.enc").read_bytes(), keyring=new_keyring()).plaintext == good_data
    rerun = bulk_rewrap(dask, str(source), str(dest))
    assert (rerun.count("skipped"), rerun.count("failed")) == (1, 1)  # the damaged one is tried again, not skipped


# --------------------------------------------------------------------------- the final write is conditional


class ReplacingKeyring:
    """A new keyring that, while it wraps, lets another writer replace the object (a slow KMS call)."""

    def __init__(self, other: Any, key: str, replacement: bytes) -> None:
        self.other, self.key, self.replacement = other, key, replacement
        self.inner = new_keyring()

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.other.put_object(Bucket=BUCKET, Key=self.key, Body=self.replacement)
        return self.inner.on_encrypt(materials)

    def on_decrypt(self, materials: DecryptionMaterials, edks: Any) -> DecryptionMaterials:
        return self.inner.on_decrypt(materials, edks)


def test_an_object_replaced_while_the_keyrings_ran_is_left_to_its_writer_and_rotation_says_it_changed(
    client: Any, moto_server: MotoServer, key: str
) -> None:
    put(client, key, 10 * KiB)  # read whole before the keyrings run: the final write is all that is left
    theirs = b"the other writer's object"
    replacing = ReplacingKeyring(moto_server.client("s3", WEST), key, theirs)
    with pytest.raises(S3Error) as raised:
        rotate(client, key, new=replacing)
    assert (raised.value.code, raised.value.operation) == ("ObjectChanged", "PutObject")
    assert get(client, key) == theirs
    assert uploads_left(client) == []


class ReplaceBeforeComplete:
    """Records CompleteMultipartUpload's If-Match; replaces the object first, then answers as S3 does
    to a stale If-Match (412 PreconditionFailed), since moto ignores If-Match there."""

    def __init__(self, client: Any, server: MotoServer, key: str, replacement: bytes) -> None:
        self.other = server.client("s3", WEST)
        self.key, self.replacement = key, replacement
        self.if_match: list[str | None] = []
        client.meta.events.register("before-send.s3.CompleteMultipartUpload", self.before_send)

    def before_send(self, request: Any, **_: Any) -> Any:
        sent = request.headers.get("If-Match")
        self.if_match.append(sent.decode() if isinstance(sent, bytes) else sent)
        self.other.put_object(Bucket=BUCKET, Key=self.key, Body=self.replacement)
        if sent is None:
            return None  # what moto (and an unconditional write) does: complete over the other writer
        answer = b"<Error><Code>PreconditionFailed</Code><Message>At least one precondition failed</Message></Error>"
        return botocore.awsrequest.AWSResponse(request.url, 412, {"Content-Type": "application/xml"}, _Raw(answer))


def test_an_in_place_multipart_rotation_completes_only_if_the_etag_still_matches(
    own_client: Any, moto_server: MotoServer, key: str
) -> None:
    put(own_client, key, MULTIPART)
    etag = own_client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    theirs = b"the other writer's object"
    race = ReplaceBeforeComplete(own_client, moto_server, key, theirs)
    with pytest.raises(S3Error) as raised:
        rotate(own_client, key)
    assert race.if_match == [etag]
    assert (raised.value.code, raised.value.operation) == ("ObjectChanged", "CompleteMultipartUpload")
    assert get(own_client, key) == theirs
    assert uploads_left(own_client) == []  # the upload was aborted


def test_a_rotation_to_another_key_is_not_conditional_on_the_sources_etag(own_client: Any, key: str) -> None:
    data, _ = put(own_client, key, 1000)
    sent: list[Any] = []
    own_client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(request.headers))
    rotate(own_client, key, dest_key=key + ".rotated")
    assert [headers.get("If-Match") for headers in sent] == [None]
    assert busta.decrypt(get(own_client, key + ".rotated"), keyring=new_keyring()).plaintext == data


# --------------------------------------------------------------------------- what a copy keeps

RETAIN = datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC)
EXPIRES = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
#: Each property as PutObject takes it, and as HeadObject (or GetObjectTagging) shows it.
PROPERTIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ContentType": ({"ContentType": "application/x-parquet"}, {"ContentType": "application/x-parquet"}),
    "CacheControl": ({"CacheControl": "max-age=60"}, {"CacheControl": "max-age=60"}),
    "ContentDisposition": (
        {"ContentDisposition": 'attachment; filename="x.bin"'},
        {"ContentDisposition": 'attachment; filename="x.bin"'},
    ),
    "ContentEncoding": ({"ContentEncoding": "identity"}, {"ContentEncoding": "identity"}),
    "ContentLanguage": ({"ContentLanguage": "fr-CH"}, {"ContentLanguage": "fr-CH"}),
    "Expires": ({"Expires": EXPIRES}, {"Expires": EXPIRES}),
    "WebsiteRedirectLocation": ({"WebsiteRedirectLocation": "/moved"}, {"WebsiteRedirectLocation": "/moved"}),
    "StorageClass": ({"StorageClass": "STANDARD_IA"}, {"StorageClass": "STANDARD_IA"}),
    "SSE-KMS": (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-west-2:111122223333:key/k1"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-west-2:111122223333:key/k1"},
    ),
    "BucketKeyEnabled": (
        {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True},
        {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True},
    ),
    "Metadata": ({"Metadata": {"owner": "lake", "stage": "raw"}}, {"Metadata": {"owner": "lake", "stage": "raw"}}),
    "Tagging": ({"Tagging": "team=blue&tier=gold%20plus"}, {"Tags": {"team": "blue", "tier": "gold plus"}}),
    "ObjectLock": (
        {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": RETAIN, "ObjectLockLegalHoldStatus": "ON"},
        {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": RETAIN, "ObjectLockLegalHoldStatus": "ON"},
    ),
}


def shown(client: Any, key: str, names: Any) -> dict[str, Any]:
    head = client.head_object(Bucket=LOCKED, Key=key)
    found = {name: head.get(name) for name in names if name != "Tags"}
    if "Tags" in names:
        found["Tags"] = {t["Key"]: t["Value"] for t in client.get_object_tagging(Bucket=LOCKED, Key=key)["TagSet"]}
    return found


@pytest.mark.parametrize("prop", list(PROPERTIES))
def test_a_rotated_object_keeps_what_a_copy_keeps(client: Any, key: str, prop: str) -> None:
    given, expected = PROPERTIES[prop]
    data, _ = put(client, key, 10 * KiB, LOCKED, **given)
    assert shown(client, key, expected) == expected  # moto stored it
    result = rotate(client, key, LOCKED, metadata={"stage": "rotated"} if prop == "Metadata" else None)
    assert result.parts == 0
    if prop == "Metadata":
        expected = {"Metadata": {"owner": "lake", "stage": "rotated"}}
    assert shown(client, key, expected) == expected
    assert busta.decrypt(get(client, key, LOCKED), keyring=new_keyring()).plaintext == data


def test_a_multipart_rotation_keeps_what_a_copy_keeps(own_client: Any, key: str) -> None:
    given = {name: value for props, _ in PROPERTIES.values() for name, value in props.items()}
    expected = {name: value for _, props in PROPERTIES.values() for name, value in props.items()}
    data, _ = put(own_client, key, MULTIPART, LOCKED, **given)
    assert shown(own_client, key, expected) == expected
    created: list[Any] = []
    own_client.meta.events.register(
        "before-send.s3.CreateMultipartUpload", lambda request, **_: created.append(dict(request.headers))
    )
    result = rotate(own_client, key, LOCKED)
    assert result.parts > 1
    # moto keeps neither BucketKeyEnabled nor object lock on CreateMultipartUpload: check that they were sent
    (sent,) = [{name.lower(): value for name, value in headers.items()} for headers in created]
    assert sent["x-amz-server-side-encryption-bucket-key-enabled"] in ("true", b"true")
    assert sent["x-amz-object-lock-mode"] in ("GOVERNANCE", b"GOVERNANCE")
    assert sent["x-amz-object-lock-legal-hold"] in ("ON", b"ON")
    assert sent["x-amz-object-lock-retain-until-date"] in ("2031-01-01T00:00:00Z", b"2031-01-01T00:00:00Z")
    lost_by_moto = {"BucketKeyEnabled", "ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"}
    kept = {name: value for name, value in expected.items() if name not in lost_by_moto}
    assert shown(own_client, key, kept) == kept
    assert busta.decrypt(get(own_client, key, LOCKED), keyring=new_keyring()).plaintext == data


def test_an_untagged_object_costs_no_tagging_call(own_client: Any, key: str) -> None:
    put(own_client, key, 1000)
    calls: list[str] = []
    own_client.meta.events.register("before-send.s3.GetObjectTagging", lambda **_: calls.append("tagging"))
    rotate(own_client, key)
    assert calls == []


@pytest.mark.parametrize("suite", [UNSIGNED, 0x0578], ids=["unsigned-rewrapped", "signed-re-encrypted"])
def test_a_bulk_rewrap_in_s3_keeps_what_a_copy_keeps_whether_it_rewraps_or_re_encrypts(
    client: Any, dask: Any, moto_server: MotoServer, suite: int
) -> None:
    data = os.urandom(5000)
    body = busta.encrypt(data, keyring=old_keyring(), algorithm=suite)
    prefix = f"bulk-props-{suite:04x}"
    given = {
        "ContentType": "text/csv",
        "CacheControl": "no-store",
        "Tagging": "team=blue",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:us-west-2:111122223333:key/k2",
        "StorageClass": "STANDARD_IA",
        "Metadata": {"owner": "lake"},
    }
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/src/x.enc", Body=body, **given)
    settings = bulk.S3Settings(endpoint_url=moto_server.endpoint, region=WEST)
    report = bulk_rewrap(dask, f"s3://{BUCKET}/{prefix}/src/", f"s3://{BUCKET}/{prefix}/dst/", s3=settings)
    assert report.ok, report.failures
    assert report.methods() == {"rewrapped" if suite == UNSIGNED else "re-encrypted": 1}
    head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/dst/x.enc")
    kept = ("ContentType", "CacheControl", "ServerSideEncryption", "SSEKMSKeyId", "StorageClass")
    assert {name: head.get(name) for name in kept} == {name: given[name] for name in kept}
    assert head["Metadata"]["owner"] == "lake"
    tags = client.get_object_tagging(Bucket=BUCKET, Key=f"{prefix}/dst/x.enc")["TagSet"]
    assert tags == [{"Key": "team", "Value": "blue"}]
    assert busta.decrypt(get(client, f"{prefix}/dst/x.enc"), keyring=new_keyring()).plaintext == data
