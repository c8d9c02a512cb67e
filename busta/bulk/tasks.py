"""One bulk task: encrypt, decrypt or rewrap one object, on whatever process runs it.

Everything a task receives is picklable and secret-free (:class:`JobSpec`,
:class:`~busta.bulk.places.Source`); keyrings are rebuilt from their
:mod:`busta.keyconfig` descriptions in the worker, once per process.
A task never raises for a failed object: it returns an :class:`ObjectResult`
saying what happened, so one bad object does not stop the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import UsageError
from ..keyconfig import build_keyring
from ..materials import DefaultCryptoMaterialsManager
from ..streaming import pump
from ..streaming.compressed import DecompressingSink, limit_for
from . import markers
from .markers import Recorder, seal_for
from .objects import (
    decryptor_after_header,
    message_seal,
    read_head,
    read_range,
    reading,
    source_unchanged,
    writing,
)
from .places import Source
from .rotation import rotate
from .spec import JobSpec, ObjectResult, Operation

__all__ = [
    "JobSpec",
    "ObjectResult",
    "Operation",
    "already_done",
    "check_names",
    "error_text",
    "failure",
    "locations",
    "process_object",
]


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
    with reading(job, source) as src, writing(job, name, source, seal) as out:
        length = pump.encrypt_stream(src, out, encryptor)  # type: ignore[arg-type]
        source_unchanged(job, source, src)
    return "encrypted", length, out.count


def _decrypt(job: JobSpec, source: Source, name: str) -> tuple[str, int, int]:
    with reading(job, source) as src:
        data, length = read_head(src, source.size)
        decryptor, recorder = decryptor_after_header(job, build_keyring(job.keyring), data[:length])
        with writing(job, name, source, message_seal(job, source, name, decryptor, recorder)) as out:
            plain = DecompressingSink(out, decryptor, limit_for(job.sdk.max_decompressed_bytes, whole=False))  # type: ignore[arg-type]
            plain.write(decryptor.update(data[length:]))  # a compressed message is decompressed (Z)
            pump.decrypt_stream(src, plain, decryptor)  # type: ignore[arg-type]
            plain.finish()
            source_unchanged(job, source, src)
    return "decrypted", source.size, out.count


_RUN = {Operation.ENCRYPT: _encrypt, Operation.DECRYPT: _decrypt, Operation.REWRAP: rotate}
