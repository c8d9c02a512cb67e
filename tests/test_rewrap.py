"""Key rotation by rewriting only the header: busta.rewrap and busta.s3.rewrap_object.

What is proven, for messages of every unsigned suite (committing and legacy,
framed with several frame lengths and plaintext sizes including 0 and exact
multiples of the frame, and non-framed ones written by the official SDK):

- the rewrapped message keeps its body byte for byte (the bytes after the new
  header are the bytes after the old one) and its message id; the new keyring
  decrypts it to the same plaintext, the old one no longer does, and the
  official aws-encryption-sdk decrypts it with the new key (also with each key
  of a new multi-keyring, and with the required encryption context pairs a
  RequiredEncryptionContextCmm kept out of the message, which rewrap needs too);
- signed messages are refused with SignedMessageError before any keyring is
  asked; a keyring that cannot unwrap fails with NoDecryptingKeyError and a
  tampered header with AuthenticationError;
- rewrap_header asks for more bytes (None) until the header is complete, and
  copy_ranges tiles the rest of the object in parts S3 accepts (a property test).

Against moto's S3 server on 127.0.0.1, rewrap_object rewrites small objects
with one PutObject and large ones as a multipart upload whose first part is the
new header plus 5 MiB of the old body and whose other parts are UploadPartCopy
ranges: it downloads under 6 MiB of a 40 MiB object. It rewrites in place by
default, keeps and updates metadata, and an object replaced while it runs
fails with S3Error leaving neither an object nor a multipart upload. KMS keys
(moto's KMS) rotate too, and the official SDK's KMS keyring decrypts the result.
"""

from __future__ import annotations

import functools
import io
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import botocore.awsrequest
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta import AlgorithmSuite, CommitmentPolicy, EncryptedDataKey, RequiredEncryptionContextCmm, s3
from busta.errors import (
    AuthenticationError,
    NoDecryptingKeyError,
    PolicyError,
    S3Error,
    SignedMessageError,
    TruncatedMessageError,
    UsageError,
)
from busta.format import parse_header, serialize_header
from busta.format.layout import final_frame_window, regular_frame_size
from busta.keyrings import AwsKmsKeyring, MultiKeyring, RawAesKeyring
from busta.limits import DEFAULT_FRAME_LENGTH
from busta.materials import DecryptionMaterials, EncryptionMaterials, Keyring
from busta.rewrap import copy_ranges, rewrap, rewrap_header

from .support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from .support.moto_server import MotoServer
from .support.oracle import AesKeySpec, official_decrypt, official_encrypt

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

MiB = 1 << 20
BUCKET = "busta-rewrap"
OLD = AesKeySpec("rewrap-tests", "old-key", bytes(range(0x10, 0x30)))
NEW = AesKeySpec("rewrap-tests", "new-key", bytes(range(0x40, 0x60)))
SECOND = AesKeySpec("rewrap-tests", "second-new-key", bytes(range(0x70, 0x90)))
CONTEXT = {"purpose": "rewrap-tests", "tenant": "alpha"}

UNSIGNED = [suite for suite in AlgorithmSuite if not suite.signed]
SIGNED = [suite for suite in AlgorithmSuite if suite.signed]
COMMITTING_UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
#: (frame length, plaintext length): empty, shorter than a frame, exact multiples, a remainder.
FRAMINGS = [(128, 0), (128, 1), (128, 128), (128, 1000), (4096, 3 * 4096), (65536, 100_000)]


def keyring(spec: AesKeySpec) -> RawAesKeyring:
    return RawAesKeyring(spec.namespace, spec.name, spec.key)


def policy_name(suite: AlgorithmSuite) -> str:
    """The official SDK's commitment policy that lets ``suite`` be encrypted and decrypted."""
    return "REQUIRE_ENCRYPT_REQUIRE_DECRYPT" if suite.committing else "FORBID_ENCRYPT_ALLOW_DECRYPT"


def policy(suite: AlgorithmSuite) -> CommitmentPolicy:
    if suite.committing:
        return CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


@functools.cache
def plaintext(size: int) -> bytes:
    return random.Random(size).randbytes(size)


def header_length(message: bytes) -> int:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.length


def body(message: bytes) -> bytes:
    """Everything after the header: the frames (or the non-framed body) and any footer."""
    return message[header_length(message) :]


def message_id(message: bytes) -> bytes:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.header.message_id


def assert_rotated(old: bytes, new: bytes, data: bytes, suite: AlgorithmSuite) -> None:
    """``new`` is ``old`` with a new header: same body and message id, the new key opens it, the old one not."""
    assert body(new) == body(old)
    assert message_id(new) == message_id(old)
    client = busta.Client(commitment_policy=policy(suite))
    assert client.decrypt(new, keyring=keyring(NEW)).plaintext == data
    with pytest.raises(NoDecryptingKeyError):
        client.decrypt(new, keyring=keyring(OLD))


class Recording:
    """A keyring that remembers whether it was asked anything."""

    def __init__(self, inner: Keyring) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.calls.append("on_encrypt")
        return self.inner.on_encrypt(materials)

    def on_decrypt(self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]) -> DecryptionMaterials:
        self.calls.append("on_decrypt")
        return self.inner.on_decrypt(materials, edks)


# --------------------------------------------------------------------------- rewrap: every unsigned suite


@pytest.mark.parametrize(("frame_length", "size"), FRAMINGS)
@pytest.mark.parametrize("suite", UNSIGNED, ids=lambda suite: f"{suite.id:#06x}")
def test_a_rewrapped_framed_message_keeps_its_body_and_id_and_opens_only_with_the_new_key(
    suite: AlgorithmSuite, frame_length: int, size: int
) -> None:
    data = plaintext(size)
    old = busta.Client(commitment_policy=policy(suite)).encrypt(
        data, keyring=keyring(OLD), algorithm=suite, frame_length=frame_length, encryption_context=CONTEXT
    )
    new = rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW), sdk=busta.Client(commitment_policy=policy(suite)))
    assert_rotated(old, new, data, suite)
    official, context = official_decrypt(new, keys=[NEW], commitment_policy=policy_name(suite))
    assert official == data
    assert context == CONTEXT


@pytest.mark.parametrize("size", [0, 1, 1000])
@pytest.mark.parametrize("suite", UNSIGNED, ids=lambda suite: f"{suite.id:#06x}")
def test_a_non_framed_message_of_the_official_sdk_is_rewrapped_and_the_official_sdk_opens_it(
    suite: AlgorithmSuite, size: int
) -> None:
    data = plaintext(size)
    old = official_encrypt(
        data,
        keys=[OLD],
        suite_id=suite.id,
        frame_length=0,
        encryption_context=CONTEXT,
        commitment_policy=policy_name(suite),
    )
    parsed = parse_header(old)
    assert parsed is not None and parsed.header.frame_length == 0  # really non-framed
    new = rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW), sdk=busta.Client(commitment_policy=policy(suite)))
    assert_rotated(old, new, data, suite)
    assert official_decrypt(new, keys=[NEW], commitment_policy=policy_name(suite))[0] == data


def test_a_legacy_message_is_rewrapped_only_under_a_policy_that_lets_it_be_decrypted() -> None:
    suite = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
    old = busta.Client(commitment_policy=policy(suite)).encrypt(b"legacy", keyring=keyring(OLD), algorithm=suite)
    with pytest.raises(PolicyError):
        rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW))  # default: require commitment
    new = rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW), sdk=busta.Client(commitment_policy=policy(suite)))
    assert_rotated(old, new, b"legacy", suite)


def test_rewrap_to_a_multi_keyring_gives_each_new_key_its_own_copy_and_each_opens_the_message_alone() -> None:
    data = plaintext(5000)
    old = busta.encrypt(data, keyring=keyring(OLD), algorithm=COMMITTING_UNSIGNED, frame_length=1024)
    both = MultiKeyring(generator=keyring(NEW), children=[keyring(SECOND)])
    new = rewrap(old, keyring=keyring(OLD), new_keyring=both)
    parsed = parse_header(new)
    assert parsed is not None
    assert [edk.provider_id for edk in parsed.header.encrypted_data_keys] == [NEW.namespace, SECOND.namespace]
    assert body(new) == body(old)
    for spec in (NEW, SECOND):
        assert busta.decrypt(new, keyring=keyring(spec)).plaintext == data
        assert official_decrypt(new, keys=[spec])[0] == data
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(new, keyring=keyring(OLD))


def test_required_context_pairs_kept_out_of_the_message_are_needed_to_rewrap_and_to_open_the_result() -> None:
    data = plaintext(3000)
    required = {"tenant": "alpha"}
    cmm = RequiredEncryptionContextCmm(keyring(OLD), required_keys=["tenant"])
    old = busta.encrypt(
        data,
        materials_manager=cmm,
        encryption_context={**required, "stored": "yes"},
        frame_length=512,
        algorithm=COMMITTING_UNSIGNED,
    )
    parsed = parse_header(old)
    assert parsed is not None and parsed.header.encryption_context == {"stored": "yes"}

    with pytest.raises(NoDecryptingKeyError):  # without the pair the old key does not even unwrap
        rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW))
    new = rewrap(old, keyring=keyring(OLD), new_keyring=keyring(NEW), encryption_context=required)

    assert body(new) == body(old)
    assert busta.decrypt(new, keyring=keyring(NEW), encryption_context=required).plaintext == data
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(new, keyring=keyring(NEW))
    official, stored = official_decrypt(new, keys=[NEW], encryption_context=required)
    assert official == data
    assert stored == {"stored": "yes"}  # the required pair stayed out of the rewrapped header


# --------------------------------------------------------------------------- rewrap: refusals


@pytest.mark.parametrize("suite", SIGNED, ids=lambda suite: f"{suite.id:#06x}")
def test_a_signed_message_is_refused_with_signed_message_error_before_any_keyring_is_asked(
    suite: AlgorithmSuite,
) -> None:
    message = busta.Client(commitment_policy=policy(suite)).encrypt(b"signed", keyring=keyring(OLD), algorithm=suite)
    old, new = Recording(keyring(OLD)), Recording(keyring(NEW))
    with pytest.raises(SignedMessageError) as raised:
        rewrap(message, keyring=old, new_keyring=new, sdk=busta.Client(commitment_policy=policy(suite)))
    assert isinstance(raised.value, PolicyError)
    assert "re-encrypt" in str(raised.value)
    assert old.calls == new.calls == []
    wrong = Recording(keyring(SECOND))  # not even a keyring that cannot unwrap changes the answer
    with pytest.raises(SignedMessageError):
        rewrap(message, keyring=wrong, new_keyring=new, sdk=busta.Client(commitment_policy=policy(suite)))


def test_a_keyring_that_cannot_unwrap_the_data_key_fails_with_no_decrypting_key_error() -> None:
    message = busta.encrypt(b"data", keyring=keyring(OLD), algorithm=COMMITTING_UNSIGNED)
    new = Recording(keyring(NEW))
    with pytest.raises(NoDecryptingKeyError):
        rewrap(message, keyring=keyring(SECOND), new_keyring=new)
    assert new.calls == []


def tamper_frame_length(message: bytes) -> bytes:
    """The message with its header's frame length changed (same size) and the old header tag kept."""
    parsed = parse_header(message)
    assert parsed is not None
    raw = serialize_header(replace(parsed.header, frame_length=parsed.header.frame_length + 1))
    assert len(raw) == len(parsed.raw)
    return raw + message[len(parsed.raw) :]


def flip_header_tag(message: bytes) -> bytes:
    damaged = bytearray(message)
    damaged[header_length(message) - 1] ^= 0x01
    return bytes(damaged)


@pytest.mark.parametrize("tamper", [tamper_frame_length, flip_header_tag])
@pytest.mark.parametrize("suite", [COMMITTING_UNSIGNED, AlgorithmSuite.AES_128_GCM_IV12_TAG16_NO_KDF])
def test_a_tampered_header_fails_with_authentication_error_and_nothing_is_wrapped(
    suite: AlgorithmSuite, tamper: Callable[[bytes], bytes]
) -> None:
    message = busta.Client(commitment_policy=policy(suite)).encrypt(
        b"data" * 100, keyring=keyring(OLD), algorithm=suite
    )
    new = Recording(keyring(NEW))
    with pytest.raises(AuthenticationError):
        rewrap(
            tamper(message), keyring=keyring(OLD), new_keyring=new, sdk=busta.Client(commitment_policy=policy(suite))
        )
    assert new.calls == []


def test_rewrap_of_a_message_cut_inside_its_header_fails_as_truncated() -> None:
    message = busta.encrypt(b"data", keyring=keyring(OLD), algorithm=COMMITTING_UNSIGNED)
    with pytest.raises(TruncatedMessageError):
        rewrap(message[: header_length(message) - 1], keyring=keyring(OLD), new_keyring=keyring(NEW))


def test_a_new_keyring_that_is_not_a_keyring_is_a_usage_error() -> None:
    message = busta.encrypt(b"data", keyring=keyring(OLD), algorithm=COMMITTING_UNSIGNED)
    with pytest.raises(UsageError):
        rewrap(message, keyring=keyring(OLD), new_keyring=object())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- rewrap_header and copy_ranges


@pytest.mark.parametrize("suite", [COMMITTING_UNSIGNED, AlgorithmSuite.AES_192_GCM_IV12_TAG16_HKDF_SHA256])
def test_rewrap_header_wants_more_bytes_until_the_header_is_complete_then_rewraps_from_any_longer_prefix(
    suite: AlgorithmSuite,
) -> None:
    data = plaintext(700)
    message = busta.Client(commitment_policy=policy(suite)).encrypt(
        data, keyring=keyring(OLD), algorithm=suite, frame_length=256
    )
    length = header_length(message)
    old = Recording(keyring(OLD))
    for end in range(length):  # growing one byte at a time
        assert (
            rewrap_header(
                message[:end], keyring=old, new_keyring=keyring(NEW), sdk=busta.Client(commitment_policy=policy(suite))
            )
            is None
        )
    assert old.calls == []  # no keyring is asked before the whole header is there
    for end in (length, length + 1, length + 100, len(message)):
        rewrapped = rewrap_header(
            message[:end],
            keyring=keyring(OLD),
            new_keyring=keyring(NEW),
            sdk=busta.Client(commitment_policy=policy(suite)),
        )
        assert rewrapped is not None
        assert rewrapped.old_header_length == length
        assert header_length(rewrapped.header_bytes) == len(rewrapped.header_bytes)
        new = rewrapped.header_bytes + message[length:]
        assert busta.Client(commitment_policy=policy(suite)).decrypt(new, keyring=keyring(NEW)).plaintext == data


@settings(max_examples=300, deadline=None)
@given(
    body_start=st.integers(0, 3000),
    first_part_body=st.integers(0, 5000),
    part_size=st.integers(1, 2000),
    tail=st.integers(0, 20_000),
)
def test_copy_ranges_tile_the_rest_of_the_object_in_parts_of_at_least_part_size_and_a_last_under_twice_that(
    body_start: int, first_part_body: int, part_size: int, tail: int
) -> None:
    size = body_start + tail
    ranges = list(copy_ranges(body_start, size, first_part_body=first_part_body, part_size=part_size))
    start = body_start + first_part_body
    if start >= size:
        assert ranges == []
        return
    assert ranges[0][0] == start
    assert ranges[-1][1] == size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # contiguous
    assert all(stop - first == part_size for first, stop in ranges[:-1])
    last = ranges[-1][1] - ranges[-1][0]
    assert 0 < last < 2 * part_size
    if len(ranges) > 1:
        assert last >= part_size  # a short tail is folded into the last part, never a part of its own


def test_copy_ranges_refuse_a_part_size_below_one_and_a_negative_first_part() -> None:
    with pytest.raises(UsageError):
        list(copy_ranges(0, 100, first_part_body=0, part_size=0))
    with pytest.raises(UsageError):
        list(copy_ranges(0, 100, first_part_body=-1, part_size=10))


# --------------------------------------------------------------------------- S3: rewrap_object


@pytest.fixture(scope="module")
def client(moto_server: MotoServer) -> Any:
    s3_client = moto_server.client("s3", WEST)
    s3_client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": WEST})
    return s3_client


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """An object key of this test's own."""
    return "objects/" + "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)


def get(client: Any, key: str) -> bytes:
    data: bytes = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


def exists(client: Any, key: str) -> bool:
    return bool(client.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount", 0))


def parts_of(client: Any, key: str) -> int:
    """How many parts the object was uploaded in (1: a single PutObject)."""
    return int(client.head_object(Bucket=BUCKET, Key=key, PartNumber=1).get("PartsCount", 1))


def uploads_left(client: Any) -> list[str]:
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def put_message(client: Any, key: str, size: int, **options: Any) -> tuple[bytes, bytes]:
    """Store an unsigned message of ``size`` plaintext bytes at ``key``: (plaintext, message)."""
    data = plaintext(size)
    message = busta.encrypt(data, keyring=keyring(OLD), algorithm=COMMITTING_UNSIGNED, **options)
    client.put_object(Bucket=BUCKET, Key=key, Body=message, Metadata={"owner": "tests", "stage": "old"})
    return data, message


def rotate(client: Any, key: str, **options: Any) -> s3.RewrapResult:
    """rewrap_object of ``key`` from the OLD key to the NEW one (``options``: dest_key, copy_part_size ...)."""
    return s3.rewrap_object(BUCKET, key, client=client, keyring=keyring(OLD), new_keyring=keyring(NEW), **options)


@pytest.mark.parametrize("size", [0, 1024, 6 * MiB], ids=["0B", "1KiB", "6MiB"])
def test_an_object_under_5_mib_past_part_one_is_rewritten_with_one_put_and_downloaded_whole(
    client: Any, key: str, size: int
) -> None:
    data, old = put_message(client, key, size)
    result = rotate(client, key, dest_key=key + ".new")
    new = get(client, key + ".new")
    assert result.parts == 0
    assert parts_of(client, key + ".new") == 1
    assert (result.bytes_downloaded, result.bytes_copied) == (len(old), 0)
    assert result.object_size == len(new)
    assert result.message_id == message_id(old)
    assert_rotated(old, new, data, COMMITTING_UNSIGNED)
    assert get(client, key) == old  # the source is untouched


def test_a_40_mib_object_is_rewrapped_from_its_header_and_5_mib_of_body_the_rest_copied_by_s3(
    client: Any, key: str
) -> None:
    data, old = put_message(client, key, 40 * MiB)
    result = rotate(client, key, dest_key=key + ".new", copy_part_size=8 * MiB)
    new = get(client, key + ".new")
    head = header_length(old)
    frame = regular_frame_size(DEFAULT_FRAME_LENGTH)
    resent = -(-5 * MiB // frame) * frame  # part 1 ends on a frame boundary: its frames are authenticated
    rest = len(old) - head - resent  # ~35 MiB: 8 + 8 + 8 MiB, then 11 MiB (a short tail folds into the last)
    tail = final_frame_window(DEFAULT_FRAME_LENGTH)  # read to authenticate the final frame
    assert result.bytes_downloaded == head + resent + tail < 6 * MiB
    assert result.bytes_copied == rest
    assert result.parts == parts_of(client, key + ".new") == 1 + 4
    assert result.object_size == len(new) == len(old) - head + header_length(new)
    assert_rotated(old, new, data, COMMITTING_UNSIGNED)
    assert official_decrypt(new, keys=[NEW])[0] == data
    assert uploads_left(client) == []


def test_rewrap_object_rewrites_in_place_by_default_and_keeps_and_updates_the_metadata(client: Any, key: str) -> None:
    data, old = put_message(client, key, 7 * MiB, frame_length=4096)  # 2 MiB past part 1: one PutObject
    result = rotate(client, key, metadata={"stage": "rotated"})
    assert (result.bucket, result.key) == (BUCKET, key)
    new = get(client, key)
    assert_rotated(old, new, data, COMMITTING_UNSIGNED)
    assert client.head_object(Bucket=BUCKET, Key=key)["Metadata"] == {"owner": "tests", "stage": "rotated"}


def test_the_official_sdk_decrypts_a_rewrapped_object_from_a_plain_get(client: Any, key: str) -> None:
    data, _ = put_message(client, key, 300_000, encryption_context=CONTEXT)
    rotate(client, key)
    assert official_decrypt(get(client, key), keys=[NEW]) == (data, CONTEXT)


def test_a_stale_if_match_etag_fails_with_s3_error_before_anything_is_written(client: Any, key: str) -> None:
    put_message(client, key, 1000)
    stale = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    _, current = put_message(client, key, 2000)  # the object changed after its ETag was read
    with pytest.raises(S3Error):
        rotate(client, key, dest_key=key + ".new", if_match=stale)
    assert not exists(client, key + ".new")
    assert get(client, key) == current
    assert uploads_left(client) == []


class ReplaceDuringCopy:
    """Replaces the source object just before the first UploadPartCopy, and answers every
    UploadPartCopy whose ``x-amz-copy-source-if-match`` is not the source's current ETag with
    412 PreconditionFailed, as S3 does (moto ignores that header)."""

    def __init__(self, client: Any, server: MotoServer, key: str, replacement: bytes) -> None:
        self.other = server.client("s3", WEST)  # a separate client: no hooks of this one
        self.key, self.replacement = key, replacement
        self.pinned: list[str] = []
        client.meta.events.register("before-send.s3.UploadPartCopy", self.before_send)

    def before_send(self, request: Any, **_: Any) -> Any:
        if not self.pinned:
            self.other.put_object(Bucket=BUCKET, Key=self.key, Body=self.replacement)
        pinned = request.headers.get("x-amz-copy-source-if-match")
        self.pinned.append(pinned.decode() if isinstance(pinned, bytes) else str(pinned))
        if self.pinned[-1] == self.other.head_object(Bucket=BUCKET, Key=self.key)["ETag"]:
            return None
        answer = b"<Error><Code>PreconditionFailed</Code><Message>the source changed</Message></Error>"
        return botocore.awsrequest.AWSResponse(request.url, 412, {"Content-Type": "application/xml"}, _Raw(answer))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._stream.read()

    def read(self, *_: Any) -> bytes:
        return self._stream.read()


def test_an_object_replaced_between_head_and_copy_fails_with_s3_error_and_leaves_no_object_and_no_upload(
    moto_server: MotoServer, key: str
) -> None:
    client = moto_server.client("s3", WEST)  # its own client, for the hook
    put_message(client, key, 12 * MiB)
    etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    race = ReplaceDuringCopy(client, moto_server, key, b"another object")
    with pytest.raises(S3Error) as raised:
        rotate(client, key, dest_key=key + ".new", copy_part_size=5 * MiB)
    assert raised.value.code == "PreconditionFailed"
    assert race.pinned and set(race.pinned) == {etag}  # every copy was pinned to the ETag HeadObject saw
    assert not exists(client, key + ".new")
    assert uploads_left(client) == []


def test_a_zero_byte_object_is_not_a_message(client: Any, key: str) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=b"")
    with pytest.raises(TruncatedMessageError):
        rotate(client, key, dest_key=key + ".new")
    assert not exists(client, key + ".new")


def test_a_signed_object_is_refused_and_left_as_it_was(client: Any, key: str) -> None:
    message = busta.encrypt(b"signed", keyring=keyring(OLD))  # the default suite, 0x0578, is signed
    client.put_object(Bucket=BUCKET, Key=key, Body=message)
    with pytest.raises(SignedMessageError):
        rotate(client, key)
    assert get(client, key) == message
    assert uploads_left(client) == []


def test_a_copy_part_size_below_s3s_minimum_part_is_a_usage_error(client: Any, key: str) -> None:
    with pytest.raises(UsageError):
        rotate(client, key, copy_part_size=5 * MiB - 1)


# --------------------------------------------------------------------------- KMS


@functools.cache
def _official_mpl() -> Any:
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig

    return AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


def official_kms_decrypt(message: bytes, key_id: str, kms: Any) -> bytes:
    """Decrypt with the official SDK's strict AWS KMS keyring for ``key_id``."""
    import aws_encryption_sdk
    from aws_cryptographic_material_providers.mpl import models

    kms_keyring = _official_mpl().create_aws_kms_keyring(
        models.CreateAwsKmsKeyringInput(kms_key_id=key_id, kms_client=kms)
    )
    sdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    decrypted, _ = sdk.decrypt(source=message, keyring=kms_keyring)
    return bytes(decrypted)


def test_an_object_rotates_from_one_kms_key_to_another_and_the_official_kms_keyring_decrypts_it(
    moto_server: MotoServer, kms_keys: KmsKeys, client: Any, key: str
) -> None:
    kms = moto_server.client("kms", WEST)
    old_kms, new_kms = AwsKmsKeyring(kms_keys.single_arn, client=kms), AwsKmsKeyring(kms_keys.other_arn, client=kms)
    data = plaintext(200_000)
    s3.upload_fileobj(
        io.BytesIO(data),
        BUCKET,
        key,
        client=client,
        keyring=old_kms,
        algorithm=COMMITTING_UNSIGNED,
        encryption_context=CONTEXT,
    )
    old = get(client, key)
    s3.rewrap_object(BUCKET, key, client=client, keyring=old_kms, new_keyring=new_kms)
    new = get(client, key)
    assert body(new) == body(old)
    parsed = parse_header(new)
    assert parsed is not None
    assert [edk.provider_info.decode() for edk in parsed.header.encrypted_data_keys] == [kms_keys.other_arn]
    assert busta.decrypt(new, keyring=new_kms).plaintext == data
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(new, keyring=old_kms)
    assert official_kms_decrypt(new, kms_keys.other_arn, kms) == data
