"""One bulk task: encrypt, decrypt or rewrap one object, on whatever process runs it.

Everything a task receives is picklable and secret-free (:class:`JobSpec`,
:class:`~busta.bulk.places.Source`); keyrings are rebuilt from their
:mod:`busta.keyconfig` descriptions in the worker, once per process.
A task never raises for a failed object: it returns an :class:`ObjectResult`
saying what happened, so one bad object does not stop the job.
"""

from __future__ import annotations

import contextlib
import enum
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any, Final

from ..api import Client
from ..errors import SignedMessageError, UsageError
from ..keyconfig import KeyringConfig, build_keyring
from ..limits import S3_DEFAULT_PART_SIZE
from ..materials import CryptoMaterialsManager, DefaultCryptoMaterialsManager, Keyring, RequiredEncryptionContextCmm
from ..rewrap import CheckedCopy, rewrap_header
from ..streaming import pump
from ..streaming.driver import DrivenDecryptor
from . import local, markers
from .markers import Recorder, Seal, seal_for
from .places import Place, S3Settings, Source

__all__ = [
    "JobSpec",
    "ObjectResult",
    "Operation",
    "abort_stale_uploads",
    "already_done",
    "check_names",
    "error_text",
    "failure",
    "locations",
    "pinned_reads",
    "process_object",
    "read_range",
]

#: Objects of at least twice this size going to S3 are split: one task per part of this size.
DEFAULT_SPLIT_PART_SIZE: Final = 64 << 20
_READ_BYTES: Final = 1 << 20
#: Encryption-context keys the library adds itself (the signing key); never copied when re-encrypting.
_RESERVED_PREFIX: Final = "aws-crypto-"


class Operation(enum.StrEnum):
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    REWRAP = "rewrap"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What a bulk job does to each object; sent to every task.

    ``keyring`` wraps on encrypt and unwraps on decrypt and rewrap;
    ``new_keyring`` wraps again on rewrap. ``encryption_context`` is stored on
    encrypt and required on decrypt and rewrap. Encrypt appends ``suffix`` to
    each name, decrypt removes it, rewrap keeps names.
    """

    operation: Operation
    source: Place
    dest: Place
    keyring: KeyringConfig
    new_keyring: KeyringConfig | None = None
    encryption_context: tuple[tuple[str, str], ...] = ()
    algorithm: int | None = None
    frame_length: int | None = None
    suffix: str = ".enc"
    overwrite: bool = False
    s3: S3Settings = field(default_factory=S3Settings)
    part_size: int = S3_DEFAULT_PART_SIZE
    split_part_size: int = DEFAULT_SPLIT_PART_SIZE
    sdk: Client = field(default_factory=Client)

    def engine(self) -> Client:
        """``sdk`` on the calling thread only: each task is one thread of its worker."""
        return replace(self.sdk, threads=1)

    def dest_name(self, name: str) -> str:
        if self.operation is Operation.ENCRYPT:
            return name + self.suffix
        if self.operation is Operation.DECRYPT and self.suffix and name.endswith(self.suffix):
            return name[: -len(self.suffix)]
        return name


@dataclass(frozen=True, slots=True)
class ObjectResult:
    """What happened to one object.

    ``status`` is ``done``, ``skipped`` (a rerun found it done) or ``failed``
    (``error`` says why); ``method`` is how it was done: ``encrypted``,
    ``decrypted``, ``rewrapped`` (header only), or ``re-encrypted`` (a signed
    message, rewritten in full under the new keyring).
    """

    source: str
    dest: str
    status: str
    method: str = ""
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class _Counting:
    """A writable that counts what passes through it."""

    def __init__(self, sink: IO[bytes]):
        self._sink = sink
        self.count = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        written = self._sink.write(data)
        self.count += len(memoryview(data))
        return written if written is not None else len(memoryview(data))

    def flush(self) -> None:
        self._sink.flush()


def locations(job: JobSpec, source: Source) -> tuple[str, str]:
    """Where ``source`` is read from and written to (the S3 keys or file paths a result names)."""
    return job.source.locate(source.name), job.dest.locate(job.dest_name(source.name))


def error_text(exc: BaseException) -> str:
    """How a result reports the error that failed its object."""
    return f"{type(exc).__name__}: {exc}"


def failure(job: JobSpec, source: Source, error: str, seconds: float = 0.0) -> ObjectResult:
    """The result of an object that failed with ``error``."""
    return ObjectResult(*locations(job, source), "failed", seconds=seconds, error=error)


def process_object(job: JobSpec, source: Source) -> ObjectResult:
    """Do ``job.operation`` to ``source`` unless it is already done; never raises for the object's sake."""
    began = time.perf_counter()
    name = job.dest_name(source.name)
    try:
        check_names(job, source)
        if already_done(job, source, name):
            return ObjectResult(*locations(job, source), "skipped", seconds=time.perf_counter() - began)
        method, read, written = _RUN[job.operation](job, source, name)
    except Exception as exc:  # reported per object; the job goes on
        return failure(job, source, error_text(exc), time.perf_counter() - began)
    return ObjectResult(*locations(job, source), "done", method, read, written, time.perf_counter() - began)


def check_names(job: JobSpec, source: Source) -> None:
    """Raise :class:`~busta.errors.UnsafePathError` unless ``source``'s name and its destination's are safe."""
    job.source.check_name(source.name, dest=False)
    job.dest.check_name(job.dest_name(source.name), dest=True)


def already_done(job: JobSpec, source: Source, name: str) -> bool:
    """True if an earlier run did this object and its marker verifies; raises if a destination is in the way."""
    found = job.dest.find(name, job.s3)
    if found is None:
        return False
    if not found.bulk:
        if job.overwrite:
            return False
        raise UsageError("the destination exists and was not written by busta bulk (pass overwrite=True)")
    if found.mac is None:
        return False  # an older format, or a file changed since: never trusted
    read: Callable[[int, int], bytes]
    if job.operation is Operation.DECRYPT:  # the marker is keyed by the source message
        read, size = (lambda first, stop: read_range(job, source, first, stop)), source.size
    else:  # by the output message
        read, size = (lambda first, stop: job.dest.read_dest(name, found, job.s3, first, stop)), found.size
    try:
        data, length = markers.header_of(read, size)
    except markers.NOT_DONE_ERRORS:
        return False
    return markers.verify(job, source, name, found, data[:length])


# -- reading and writing ------------------------------------------------------------------------


def read_range(job: JobSpec, source: Source, first: int, stop: int) -> bytes:
    """Source bytes ``[first, stop)`` (pinned to the listed version: the ETag, or the file's)."""
    if stop <= first:
        return b""
    with pinned_reads(job, source) as read:
        return read(first, stop)


@contextlib.contextmanager
def pinned_reads(job: JobSpec, source: Source) -> Iterator[Callable[[int, int], bytes]]:
    """``read(first, stop)`` of the source's bytes for one task, each read pinned to the listed version: a
    local file is opened (and walked to) once and checked after every read; an S3 read is one GET pinned to the ETag."""
    place = job.source
    if not place.is_s3:
        where = place.locate(source.name)
        with local.open_file(place.root, source.name, source.version) as f:

            def read_file(first: int, stop: int) -> bytes:
                f.seek(first)
                data = f.read(max(0, stop - first))
                local.check_unchanged(f.fileno(), where, source.version)
                return data

            yield read_file
        return
    from ..s3 import fetch_range  # noqa: PLC0415 - boto3 only when S3 is used

    assert place.bucket is not None
    client, key, bucket = job.s3.client(), place.locate(source.name), place.bucket
    yield lambda first, stop: fetch_range(client, bucket, key, first, stop, etag=source.version, size=source.size)


@contextlib.contextmanager
def _reading(job: JobSpec, source: Source) -> Iterator[IO[bytes]]:
    """The source's bytes, pinned to the version that was listed (see :func:`_unchanged` for files)."""
    place = job.source
    if not place.is_s3:
        with local.open_file(place.root, source.name, source.version) as f:
            yield f
        return
    from .. import s3  # noqa: PLC0415 - boto3 only when S3 is used

    assert place.bucket is not None
    body, _ = s3.open_object(place.bucket, place.locate(source.name), client=job.s3.client(), if_match=source.version)
    try:
        yield body
    finally:
        body.close()


def _unchanged(job: JobSpec, source: Source, src: IO[bytes]) -> None:
    """Before committing: a local source must still be the version listed (a single S3 GET is pinned already)."""
    if not job.source.is_s3:
        local.check_unchanged(src.fileno(), job.source.locate(source.name), source.version)


@contextlib.contextmanager
def _writing(
    job: JobSpec, name: str, source: Source, seal: Seal, properties: Mapping[str, Any] | None = None
) -> Iterator[_Counting]:
    """A destination that appears, with its done-marker, only if the block succeeds (an S3 one
    with ``properties``, see :func:`busta.s3.object_writer`)."""
    place = job.dest
    if not place.is_s3:
        with place.file_writer(name, seal) as f:
            yield _Counting(f)
        return
    from .. import s3  # noqa: PLC0415

    assert place.bucket is not None
    key, client = place.locate(name), job.s3.client()
    abort_stale_uploads(client, place.bucket, key)
    marker = place.metadata(job.operation, source, seal)
    with s3.object_writer(
        place.bucket, key, client=client, part_size=job.part_size, metadata=marker, properties=properties
    ) as sink:
        yield _Counting(sink)  # type: ignore[arg-type]


def _head(src: IO[bytes], size: int) -> tuple[bytes, int]:
    """The first bytes of the message ``src`` reads (at least its header) and the header's length."""
    return markers.header_of(lambda first, stop: src.read(stop - first), size)


def recording_decryptor(job: JobSpec, keyring: Keyring) -> tuple[DrivenDecryptor, Recorder]:
    """A decryptor for the job, and the recorder that keeps the materials it obtains."""
    recorder = Recorder(DefaultCryptoMaterialsManager(keyring))
    context = dict(job.encryption_context)
    return job.engine().start_decryption(materials_manager=recorder, encryption_context=context), recorder


def _decryptor_after_header(job: JobSpec, keyring: Keyring, head: bytes) -> tuple[DrivenDecryptor, Recorder]:
    decryptor, recorder = recording_decryptor(job, keyring)
    decryptor.read_header(head)
    return decryptor, recorder


def message_seal(job: JobSpec, source: Source, name: str, decryptor: DrivenDecryptor, recorder: Recorder) -> Seal:
    """The seal of a marker keyed by the message whose header ``decryptor`` has read (with ``recorder``'s
    materials)."""
    header, materials = decryptor.header, recorder.decryption
    assert header is not None and materials is not None
    return seal_for(job, source, name, materials.data_key, header.message_id)


def abort_stale_uploads(client: Any, bucket: str, key: str) -> None:
    """Abort multipart uploads of ``key`` left by a killed worker (this job owns the key)."""
    from ..s3 import abort_uploads  # noqa: PLC0415 - boto3 only when S3 is used

    abort_uploads(client, bucket, key)


# -- the three operations -----------------------------------------------------------------------


def _encrypt(job: JobSpec, source: Source, name: str) -> tuple[str, int, int]:
    recorder = Recorder(DefaultCryptoMaterialsManager(build_keyring(job.keyring)))
    encryptor = job.engine().start_encryption(
        materials_manager=recorder,
        encryption_context=dict(job.encryption_context),
        algorithm=job.algorithm,
        frame_length=job.frame_length,
    )
    assert recorder.encryption is not None
    seal = seal_for(job, source, name, recorder.encryption.data_key, encryptor.header.message_id)
    with _reading(job, source) as src, _writing(job, name, source, seal) as out:
        length = pump.encrypt_stream(src, out, encryptor)  # type: ignore[arg-type]
        _unchanged(job, source, src)
    return "encrypted", length, out.count


def _decrypt(job: JobSpec, source: Source, name: str) -> tuple[str, int, int]:
    with _reading(job, source) as src:
        data, length = _head(src, source.size)
        decryptor, recorder = _decryptor_after_header(job, build_keyring(job.keyring), data[:length])
        with _writing(job, name, source, message_seal(job, source, name, decryptor, recorder)) as out:
            out.write(decryptor.update(data[length:]))
            pump.decrypt_stream(src, out, decryptor)  # type: ignore[arg-type]
            _unchanged(job, source, src)
    return "decrypted", source.size, out.count


def _rewrap(job: JobSpec, source: Source, name: str) -> tuple[str, int, int]:
    if job.new_keyring is None:
        raise UsageError("rewrap needs new_keyring")
    keys = _Rotation(build_keyring(job.keyring), build_keyring(job.new_keyring), dict(job.encryption_context))
    try:
        if job.source.is_s3 and job.dest.is_s3:
            return _rewrap_in_s3(job, source, name, keys)
        return _rewrap_stream(job, source, name, keys)
    except SignedMessageError:
        pass  # its signature covers the header: write it anew under the new keyring
    return _reencrypt(job, source, name, keys)


@dataclass(frozen=True, slots=True)
class _Rotation:
    old: Keyring
    new: Keyring
    context: Mapping[str, str]


def _header_only_seal(job: JobSpec, source: Source, name: str, keys: _Rotation, head: bytes) -> Seal:
    """The seal of a header-only rewrap: the output keeps the source's data key and message id, so the
    marker is keyed by them (a rerun unwraps them from the output with the new keyring)."""
    decryptor, recorder = _decryptor_after_header(job, keys.old, head)
    assert decryptor.header is not None
    if decryptor.header.suite.signed:
        raise SignedMessageError("a signed message cannot be rewrapped: it is re-encrypted")
    return message_seal(job, source, name, decryptor, recorder)


def _rewrap_in_s3(job: JobSpec, source: Source, name: str, keys: _Rotation) -> tuple[str, int, int]:
    from .. import s3  # noqa: PLC0415

    assert job.source.bucket is not None and job.dest.bucket is not None
    data, length = markers.header_of(lambda first, stop: read_range(job, source, first, stop), source.size)
    seal = _header_only_seal(job, source, name, keys, data[:length])
    client = job.s3.client()
    dest_key = job.dest.locate(name)
    abort_stale_uploads(client, job.dest.bucket, dest_key)
    result = s3.rewrap_object(
        job.source.bucket,
        job.source.locate(source.name),
        client=client,
        keyring=keys.old,
        new_keyring=keys.new,
        dest_bucket=job.dest.bucket,
        dest_key=dest_key,
        encryption_context=keys.context,
        sdk=job.engine(),
        metadata=job.dest.metadata(job.operation, source, seal),
        if_match=source.version,
    )
    return "rewrapped", result.bytes_downloaded, result.object_size


def _rewrap_stream(job: JobSpec, source: Source, name: str, keys: _Rotation) -> tuple[str, int, int]:
    """Read the header, write the new header, then copy the body as it is, authenticating it."""
    with _reading(job, source) as src:
        data, length = _head(src, source.size)
        seal = _header_only_seal(job, source, name, keys, data[:length])
        rewrapped = rewrap_header(
            data, keyring=keys.old, new_keyring=keys.new, encryption_context=keys.context, sdk=job.engine()
        )
        assert rewrapped is not None  # the whole header is there
        with _writing(job, name, source, seal) as out:
            # nothing (and no done-marker) unless the body authenticates
            checked = CheckedCopy(rewrapped, out, sdk=job.engine())
            checked.write(data[rewrapped.old_header_length :])
            shutil.copyfileobj(src, checked, _READ_BYTES)
            checked.finish()
            _unchanged(job, source, src)
    return "rewrapped", source.size, out.count


def _reencrypt(job: JobSpec, source: Source, name: str, keys: _Rotation) -> tuple[str, int, int]:
    """Decrypt and encrypt again under ``new``: same suite, frame length and context (required pairs stay
    out of the message). Nothing is committed unless the old message verified to its last byte.
    From S3 to S3 the new object keeps what a copy keeps (tags, content headers, SSE-KMS ...)."""
    properties = _kept_properties(job, source)
    with _reading(job, source) as src:
        unwrapping = Recorder(DefaultCryptoMaterialsManager(keys.old))
        reader = job.engine().decrypting_reader(src, materials_manager=unwrapping, encryption_context=keys.context)
        header = reader.read_header()
        materials = unwrapping.decryption
        assert materials is not None
        full = {k: v for k, v in materials.encryption_context.items() if not k.startswith(_RESERVED_PREFIX)}
        cmm: CryptoMaterialsManager = DefaultCryptoMaterialsManager(keys.new)
        if materials.required_context_keys:
            cmm = RequiredEncryptionContextCmm(cmm, required_keys=materials.required_context_keys)
        recorder = Recorder(cmm)
        encryptor = job.engine().start_encryption(
            materials_manager=recorder,
            encryption_context=full,
            algorithm=header.suite,
            frame_length=header.frame_length or None,
        )
        assert recorder.encryption is not None
        seal = seal_for(job, source, name, recorder.encryption.data_key, encryptor.header.message_id)
        with _writing(job, name, source, seal, properties) as out:
            pump.encrypt_stream(reader, out, encryptor)  # type: ignore[arg-type]
            _unchanged(job, source, src)
    return "re-encrypted", source.size, out.count


def _kept_properties(job: JobSpec, source: Source) -> dict[str, Any] | None:
    """What a rotated S3 object keeps of its S3 source (None unless both are in S3)."""
    if not (job.source.is_s3 and job.dest.is_s3):
        return None
    from ..s3 import properties_of  # noqa: PLC0415 - boto3 only when S3 is used

    assert job.source.bucket is not None
    return properties_of(job.s3.client(), job.source.bucket, job.source.locate(source.name), etag=source.version)


_RUN = {Operation.ENCRYPT: _encrypt, Operation.DECRYPT: _decrypt, Operation.REWRAP: _rewrap}
