"""Reading a bulk task's source and writing its destination: pinned reads, atomic writes, headers, seals."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, Final

from ..materials import DefaultCryptoMaterialsManager, Keyring
from ..streaming.driver import DrivenDecryptor
from . import local, markers
from .markers import Recorder, Seal, seal_for
from .places import Source
from .spec import JobSpec

__all__ = [
    "READ_BYTES",
    "Counting",
    "abort_stale_uploads",
    "decryptor_after_header",
    "message_seal",
    "pinned_reads",
    "read_head",
    "read_range",
    "reading",
    "recording_decryptor",
    "source_unchanged",
    "writing",
]

READ_BYTES: Final = 1 << 20


class Counting:
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
def reading(job: JobSpec, source: Source) -> Iterator[IO[bytes]]:
    """The source's bytes, pinned to the version that was listed (see :func:`source_unchanged` for files)."""
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


def source_unchanged(job: JobSpec, source: Source, src: IO[bytes]) -> None:
    """Before committing: a local source must still be the version listed (a single S3 GET is pinned already)."""
    if not job.source.is_s3:
        local.check_unchanged(src.fileno(), job.source.locate(source.name), source.version)


@contextlib.contextmanager
def writing(
    job: JobSpec, name: str, source: Source, seal: Seal, properties: Mapping[str, Any] | None = None
) -> Iterator[Counting]:
    """A destination that appears, with its done-marker, only if the block succeeds (an S3 one
    with ``properties``, see :func:`busta.s3.object_writer`)."""
    place = job.dest
    if not place.is_s3:
        with place.file_writer(name, seal) as f:
            yield Counting(f)
        return
    from .. import s3  # noqa: PLC0415

    assert place.bucket is not None
    key, client = place.locate(name), job.s3.client()
    abort_stale_uploads(client, place.bucket, key)
    marker = place.metadata(job.operation, source, seal)
    with s3.object_writer(
        place.bucket, key, client=client, part_size=job.part_size, metadata=marker, properties=properties
    ) as sink:
        yield Counting(sink)  # type: ignore[arg-type]


def read_head(src: IO[bytes], size: int) -> tuple[bytes, int]:
    """The first bytes of the message ``src`` reads (at least its header) and the header's length."""
    return markers.header_of(lambda first, stop: src.read(stop - first), size)


def recording_decryptor(job: JobSpec, keyring: Keyring) -> tuple[DrivenDecryptor, Recorder]:
    """A decryptor for the job, and the recorder that keeps the materials it obtains."""
    recorder = Recorder(DefaultCryptoMaterialsManager(keyring))
    context = dict(job.encryption_context)
    return job.engine().start_decryption(materials_manager=recorder, encryption_context=context), recorder


def decryptor_after_header(job: JobSpec, keyring: Keyring, head: bytes) -> tuple[DrivenDecryptor, Recorder]:
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
