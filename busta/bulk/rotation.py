"""Bulk key rotation of one object: the header alone where the message allows it, else a re-encryption."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any, Final

from .._frozen import record
from ..compression import COMPRESSION_CONTEXT_KEY, compression_of, mark
from ..errors import SignedMessageError, UsageError
from ..keyconfig import build_keyring
from ..materials import CryptoMaterialsManager, DefaultCryptoMaterialsManager, Keyring, RequiredEncryptionContextCmm
from ..rewrap import CheckedCopy, rewrap_header
from ..streaming import pump
from ..streaming.io import DecryptingReader
from . import markers
from .markers import Recorder, Seal, seal_for
from .objects import (
    READ_BYTES,
    abort_stale_uploads,
    decryptor_after_header,
    message_seal,
    read_head,
    read_range,
    reading,
    source_unchanged,
    writing,
)
from .places import Source
from .spec import JobSpec

__all__ = ["rotate"]

#: Encryption-context keys the library adds itself (the signing key); never copied when re-encrypting.
_RESERVED_PREFIX: Final = "aws-crypto-"


def rotate(job: JobSpec, source: Source, name: str) -> tuple[str, int, int]:
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


@record
class _Rotation:
    old: Keyring
    new: Keyring
    context: Mapping[str, str]


def _header_only_seal(job: JobSpec, source: Source, name: str, keys: _Rotation, head: bytes) -> Seal:
    """The seal of a header-only rewrap: the output keeps the source's data key and message id, so the
    marker is keyed by them (a rerun unwraps them from the output with the new keyring)."""
    decryptor, recorder = decryptor_after_header(job, keys.old, head)
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
    with reading(job, source) as src:
        data, length = read_head(src, source.size)
        seal = _header_only_seal(job, source, name, keys, data[:length])
        rewrapped = rewrap_header(
            data, keyring=keys.old, new_keyring=keys.new, encryption_context=keys.context, sdk=job.engine()
        )
        assert rewrapped is not None  # the whole header is there
        with writing(job, name, source, seal) as out:
            # nothing (and no done-marker) unless the body authenticates
            checked = CheckedCopy(rewrapped, out, sdk=job.engine())
            checked.write(data[rewrapped.old_header_length :])
            shutil.copyfileobj(src, checked, READ_BYTES)
            checked.finish()
            source_unchanged(job, source, src)
    return "rewrapped", source.size, out.count


def _reencrypt(job: JobSpec, source: Source, name: str, keys: _Rotation) -> tuple[str, int, int]:
    """Decrypt and encrypt again under ``new``: same suite, frame length and context (required pairs stay
    out of the message). Nothing is committed unless the old message verified to its last byte.
    From S3 to S3 the new object keeps what a copy keeps (tags, content headers, SSE-KMS ...)."""
    properties = _kept_properties(job, source)
    with reading(job, source) as src:
        unwrapping = Recorder(DefaultCryptoMaterialsManager(keys.old))
        # A compressed message is re-encrypted as it is, still compressed (Z): a reader that does not decompress.
        decryptor = job.engine().start_decryption(materials_manager=unwrapping, encryption_context=keys.context)
        reader = DecryptingReader(src, decryptor)
        header = reader.read_header()
        materials = unwrapping.decryption
        assert materials is not None
        full = {k: v for k, v in materials.encryption_context.items() if not k.startswith(_RESERVED_PREFIX)}
        compression = compression_of(full)
        kept = mark({k: v for k, v in full.items() if k != COMPRESSION_CONTEXT_KEY}, compression)
        cmm: CryptoMaterialsManager = DefaultCryptoMaterialsManager(keys.new)
        if materials.required_context_keys:
            cmm = RequiredEncryptionContextCmm(cmm, required_keys=materials.required_context_keys)
        recorder = Recorder(cmm)
        encryptor = job.engine().start_encryption(
            materials_manager=recorder,
            encryption_context=kept,
            algorithm=header.suite,
            frame_length=header.frame_length or None,
        )
        assert recorder.encryption is not None
        seal = seal_for(job, source, name, recorder.encryption.data_key, encryptor.header.message_id)
        with writing(job, name, source, seal, properties) as out:
            pump.encrypt_stream(reader, out, encryptor)  # type: ignore[arg-type]
            source_unchanged(job, source, src)
    return "re-encrypted", source.size, out.count


def _kept_properties(job: JobSpec, source: Source) -> dict[str, Any] | None:
    """What a rotated S3 object keeps of its S3 source (None unless both are in S3)."""
    if not (job.source.is_s3 and job.dest.is_s3):
        return None
    from ..s3 import properties_of  # noqa: PLC0415 - boto3 only when S3 is used

    assert job.source.bucket is not None
    return properties_of(job.s3.client(), job.source.bucket, job.source.locate(source.name), etag=source.version)
