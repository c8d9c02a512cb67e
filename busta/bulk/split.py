"""A large object as several tasks: one per part of the destination's multipart upload.

Frames of an unsigned message are independent once the data key and message
id are known, so the parts of one object can be encrypted or decrypted on
different workers at once::

    begin ──► part 1 ─┐
          ├─► part 2 ─┼─► finish
          └─► part n ─┘

``begin`` writes the header (encrypt) or authenticates it (decrypt) and starts
the multipart upload; each ``part`` task unwraps the data key itself, from the
header's wrapped copies, with the keyring rebuilt on its worker (the data key
never travels), and uploads one part; ``finish`` completes the upload, or
aborts it if any part failed. A signed message needs one hash over all of it,
so ``begin`` does such an object whole, as does it any object it cannot split.
No task raises: a failure travels as a value to ``finish``, which reports it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

from .._frozen import record
from ..crypto.frames import FrameCodec
from ..errors import BustaError, MalformedMessageError, SignedMessageError, UsageError
from ..format import parse_header
from ..format.layout import final_frame_overhead, frame_split, regular_frame_size
from ..keyconfig import build_keyring
from ..limits import DEFAULT_FRAME_LENGTH
from ..materials import DefaultCryptoMaterialsManager
from ..streaming.header import decryption_request, open_header
from ..streaming.random_access import SeekableDecryptingReader
from ..suites import AlgorithmSuite
from .markers import Recorder, Seal, seal_for
from .objects import abort_stale_uploads, message_seal, pinned_reads, read_range, recording_decryptor
from .places import Source
from .spec import JobSpec, ObjectResult, Operation
from .tasks import already_done, check_names, error_text, failure, locations, process_object

__all__ = ["Plan", "begin", "finish", "part", "part_count", "splittable", "submit"]


@record
class Plan:
    """What ``begin`` hands the part tasks: the upload, the header (encrypt), and the plaintext layout."""

    upload_id: str
    header_bytes: bytes
    plaintext_length: int
    part_plaintext: int  # plaintext bytes per part (a whole number of frames when encrypting)
    began: float


@record
class Uploaded:
    number: int
    etag: str
    size: int


@record
class Failed:
    error: str


def _frame_length(job: JobSpec) -> int:
    return job.frame_length or DEFAULT_FRAME_LENGTH


def _part_plaintext(job: JobSpec) -> int:
    """Plaintext per part; when encrypting, rounded up to whole frames so parts hold whole frames."""
    if job.operation is Operation.ENCRYPT:
        frame = _frame_length(job)
        return -(-job.split_part_size // frame) * frame
    return job.split_part_size


def splittable(job: JobSpec, source: Source) -> bool:
    """Whether ``source`` goes as several tasks: big enough, written to S3, and (encrypt) an unsigned suite."""
    if not job.dest.is_s3 or source.size < 2 * job.split_part_size:
        return False
    if job.operation is Operation.ENCRYPT:
        return job.algorithm is not None and not AlgorithmSuite.from_id(job.algorithm).signed
    return job.operation is Operation.DECRYPT


def part_count(job: JobSpec, source: Source) -> int:
    """How many part tasks to submit (decrypt: an upper bound; parts past the plaintext do nothing)."""
    return max(1, -(-source.size // _part_plaintext(job)))


# -- begin -------------------------------------------------------------------------------------


def begin(job: JobSpec, source: Source) -> Plan | ObjectResult:
    """Start the object: a :class:`Plan` for the parts, or the object's final result if it was
    skipped, failed, or done whole here."""
    began = time.perf_counter()
    try:
        check_names(job, source)
        if already_done(job, source, job.dest_name(source.name)):
            return ObjectResult(*locations(job, source), "skipped")
        start = _begin_encrypt if job.operation is Operation.ENCRYPT else _begin_decrypt
        plan = start(job, source, began)
    except Exception as exc:  # reported per object
        return failure(job, source, error_text(exc))
    return plan if plan is not None else process_object(job, source)


def _begin_encrypt(job: JobSpec, source: Source, began: float) -> Plan | None:
    recorder = Recorder(DefaultCryptoMaterialsManager(build_keyring(job.keyring)))
    encryptor = job.engine().start_encryption(
        materials_manager=recorder,
        encryption_context=dict(job.encryption_context),
        algorithm=job.algorithm,
        frame_length=_frame_length(job),
        plaintext_length=source.size,
    )
    try:
        _part_codec(job, encryptor.header_bytes)  # the part tasks must be able to unwrap the data key
    except BustaError:
        return None  # an encrypt-only keyring (an RSA public key): do the object whole
    assert recorder.encryption is not None
    name = job.dest_name(source.name)
    seal = seal_for(job, source, name, recorder.encryption.data_key, encryptor.header.message_id)
    return _start_upload(job, source, encryptor.header_bytes, source.size, began, seal=seal)


def _begin_decrypt(job: JobSpec, source: Source, began: float) -> Plan | None:
    decryptor, recorder = recording_decryptor(job, build_keyring(job.keyring))
    try:
        with pinned_reads(job, source) as read:
            access = SeekableDecryptingReader(read, source.size, decryptor)
    except (SignedMessageError, UsageError):
        return None  # signed (one signature over everything) or non-framed: do the object whole
    seal = message_seal(job, source, job.dest_name(source.name), decryptor, recorder)
    return _start_upload(job, source, b"", access.length, began, seal=seal)


def _start_upload(job: JobSpec, source: Source, header: bytes, length: int, began: float, *, seal: Seal) -> Plan:
    assert job.dest.bucket is not None
    _, key = locations(job, source)
    client = job.s3.client()
    abort_stale_uploads(client, job.dest.bucket, key)
    created = client.create_multipart_upload(
        Bucket=job.dest.bucket, Key=key, Metadata=job.dest.metadata(job.operation, source, seal)
    )
    return Plan(str(created["UploadId"]), header, length, _part_plaintext(job), began)


def _part_codec(job: JobSpec, header_bytes: bytes) -> FrameCodec:
    """What seals a part's frames: the header layer opens the header under the data key this task
    unwraps itself (the data key never travels)."""
    parsed = parse_header(header_bytes)
    if parsed is None:
        raise MalformedMessageError("the planned header is incomplete")
    expected = dict(job.encryption_context)
    request = decryption_request(parsed.header, commitment_policy=job.sdk.commitment_policy, expected_context=expected)
    materials = DefaultCryptoMaterialsManager(build_keyring(job.keyring)).decrypt_materials(request)
    return open_header(parsed, materials, expected_context=expected).codec


# -- parts -------------------------------------------------------------------------------------


def part(job: JobSpec, source: Source, plan: Plan | ObjectResult, index: int) -> Uploaded | Failed | None:
    """Encrypt or decrypt part ``index`` (from 0) and upload it; None if there is nothing to do."""
    if not isinstance(plan, Plan):
        return None
    first = index * plan.part_plaintext
    stop = min(first + plan.part_plaintext, plan.plaintext_length)
    if first >= stop:
        return None  # decrypt: past the plaintext (the part count was an upper bound)
    try:
        if job.operation is Operation.ENCRYPT:
            body = _encrypt_part(job, source, plan, first, stop)
        else:
            with pinned_reads(job, source) as read:  # the header, the final frame, then the part's frames
                decryptor, _ = recording_decryptor(job, build_keyring(job.keyring))
                body = SeekableDecryptingReader(read, source.size, decryptor).read_range(first, stop)
        return _upload(job, source, plan, index + 1, body)
    except Exception as exc:
        return Failed(error_text(exc))


def _encrypt_part(job: JobSpec, source: Source, plan: Plan, first: int, stop: int) -> bytes:
    """Plaintext ``[first, stop)`` as frames (after the header in part 1; with the final frame in the last)."""
    codec = _part_codec(job, plan.header_bytes)
    frame = codec.frame_length
    regular_total, final_length = frame_split(plan.plaintext_length, frame)
    last = stop >= plan.plaintext_length
    regular = min(stop // frame, regular_total) - first // frame
    plaintext = memoryview(read_range(job, source, first, stop))
    if len(plaintext) != stop - first:
        raise UsageError(f"the source changed: read {len(plaintext)} bytes of {stop - first}")
    head = plan.header_bytes if first == 0 else b""
    out = bytearray(len(head) + regular * regular_frame_size(frame) + (final_frame_overhead + final_length) * last)
    view = memoryview(out)
    view[: len(head)] = head
    pos = len(head)
    codec.seal_regular(first // frame + 1, plaintext[: regular * frame], view[pos:], regular)
    pos += regular * regular_frame_size(frame)
    if last:
        codec.seal_final(regular_total + 1, plaintext[regular * frame :], view[pos:])
    return bytes(out)


def _upload(job: JobSpec, source: Source, plan: Plan, number: int, body: bytes) -> Uploaded:
    assert job.dest.bucket is not None
    answer = job.s3.client().upload_part(
        Bucket=job.dest.bucket,
        Key=locations(job, source)[1],
        UploadId=plan.upload_id,
        PartNumber=number,
        Body=body,
    )
    return Uploaded(number, str(answer["ETag"]), len(body))


# -- finish ------------------------------------------------------------------------------------


def finish(job: JobSpec, source: Source, plan: Plan | ObjectResult, *parts: Uploaded | Failed | None) -> ObjectResult:
    """Complete the upload if every part succeeded, else abort it; the object's result either way."""
    if not isinstance(plan, Plan):
        return plan
    assert job.dest.bucket is not None
    where = locations(job, source)
    client, key = job.s3.client(), where[1]
    failed = [p.error for p in parts if isinstance(p, Failed)]
    uploaded = [p for p in parts if isinstance(p, Uploaded)]
    if not failed:
        try:
            client.complete_multipart_upload(
                Bucket=job.dest.bucket,
                Key=key,
                UploadId=plan.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in uploaded]},
            )
        except Exception as exc:
            failed.append(error_text(exc))
    if failed:
        _abort(client, job.dest.bucket, key, plan.upload_id)
        return failure(job, source, failed[0], time.perf_counter() - plan.began)
    method = "encrypted" if job.operation is Operation.ENCRYPT else "decrypted"
    written = sum(p.size for p in uploaded)
    read = source.size if job.operation is Operation.DECRYPT else plan.plaintext_length
    return ObjectResult(*where, "done", method, read, written, time.perf_counter() - plan.began)


def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    with contextlib.suppress(Exception):  # the object failed already; a stale upload is aborted on the next run
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def submit(dask: Any, job: JobSpec, source: Source) -> Any:
    """Submit the task graph of one split object; return the future of its result."""
    plan = dask.submit(begin, job, source, pure=False)
    parts: Sequence[Any] = [dask.submit(part, job, source, plan, i, pure=False) for i in range(part_count(job, source))]
    return dask.submit(finish, job, source, plan, *parts, pure=False)
