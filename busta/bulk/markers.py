"""Done-markers that a rerun can trust: what they bind, how they are sealed, and how they are checked.

A marker says "this destination is the output of this job for this version of
this source". It is a MAC, HMAC-SHA256, over a canonical JSON *binding*:

- the marker format (2), the operation, the source name and version (S3 ETag, or
  ``device:inode:size:mtime_ns`` of a file), the destination name;
- a SHA-256 of the description of the keyring that writes the output (encrypt:
  ``keyring``; rewrap: ``new_keyring``) or reads the source (decrypt: ``keyring``);
- the job's encryption context, ``algorithm`` and ``frame_length``;
- the message id of the message the key comes from (below);
- in a directory, the destination file's size, mtime, inode and ctime, which the
  marker file records and a rerun compares.

The MAC key comes from the data key of *the job's message*: the output for
encrypt and rewrap, the source for decrypt. It is
``HKDF-SHA256(data key, salt=message id, info="envelope bulk done-marker v2")``,
so only a process that can unwrap that message with the job's keyring can
make or check a marker. To check one, a rerun reads the message's header (from
the destination, or from the source pinned to its version), has the job's
keyring unwrap its data key, which authenticates the header, derives the key,
and compares MACs in constant time. A marker that does not verify, an older
format, or a message the keyring cannot unwrap means "not done": the object is
redone and the destination replaced. Nothing else about a marker is trusted.

What this costs: a skip reads one header and makes one keyring call (one KMS
Decrypt) instead of one HEAD. A keyring that cannot unwrap what it wraps (an
RSA public key) cannot check markers, so each rerun redoes every object.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import errors
from .._frozen import record
from .._secrets import SecretBytes
from ..errors import MalformedMessageError, TruncatedMessageError
from ..format.header import parse_header_or_need
from ..keyconfig import KeyringConfig, build_keyring
from ..limits import MAX_HEADER_BYTES
from ..materials import DecryptionMaterials, DefaultCryptoMaterialsManager, EncryptionMaterials, EncryptionRequest

if TYPE_CHECKING:
    from ..materials import CryptoMaterialsManager, DecryptionRequest
    from .places import Source
    from .tasks import JobSpec

__all__ = ["FORMAT", "Found", "Recorder", "Seal", "header_of", "message_key", "seal_for", "verify"]

#: The marker format this version writes; markers of any other format mean "not done".
FORMAT: Final = "2"
_INFO: Final = b"envelope bulk done-marker v2"
#: The first read of a header; a header that turns out longer is read to its length.
_FIRST_HEADER_READ: Final = 4096
#: What a failed check means: the marker is not trusted and the object is redone.
NOT_DONE_ERRORS: Final = (
    errors.AuthenticationError,
    errors.EncryptionContextError,
    errors.LimitExceededError,
    errors.MalformedMessageError,
    errors.NoDecryptingKeyError,
    errors.PolicyError,
)


@record
class Found:
    """What a destination holds: ``bulk`` if it carries a marker of any format (a bulk job wrote it),
    ``mac`` the MAC of a current-format marker, ``state`` what that marker recorded about a local
    file (and must still be true), ``size`` and ``etag`` of the destination."""

    bulk: bool
    mac: str | None = None
    state: tuple[int, ...] = ()
    size: int = 0
    etag: str | None = None


def keyring_digest(config: KeyringConfig | None) -> str:
    """SHA-256 of a keyring description (secret-free, so its repr says everything that identifies it)."""
    return hashlib.sha256(repr(config).encode("utf-8")).hexdigest()


def marker_keyring(job: JobSpec) -> KeyringConfig:
    """The keyring whose message keys the marker: the writer's for encrypt and rewrap, the reader's for decrypt."""
    if job.operation == "rewrap" and job.new_keyring is not None:
        return job.new_keyring
    return job.keyring


def binding(job: JobSpec, source: Source, name: str, message_id: bytes) -> bytes:
    """The canonical bytes a marker's MAC covers (before any destination state)."""
    fields = {
        "marker": FORMAT,
        "operation": str(job.operation),
        "source": source.name,
        "version": source.version,
        "dest": name,
        "keyring": keyring_digest(marker_keyring(job)),
        "context": [list(pair) for pair in job.encryption_context],
        "algorithm": job.algorithm,
        "frame_length": job.frame_length,
        "message_id": message_id.hex(),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def message_key(data_key: SecretBytes, message_id: bytes) -> SecretBytes:
    """The MAC key of every marker keyed by this message."""
    derived = HKDF(hashes.SHA256(), length=32, salt=message_id, info=_INFO).derive(data_key.reveal())
    return SecretBytes(derived)


@record
class Seal:
    """Makes the marker of one object (kept in the task that writes it; never sent anywhere)."""

    key: SecretBytes
    binding: bytes

    def mac(self, state: tuple[int, ...] = ()) -> str:
        message = self.binding + json.dumps(list(state)).encode()
        return hmac.new(self.key.reveal(), message, hashlib.sha256).hexdigest()


def seal_for(job: JobSpec, source: Source, name: str, data_key: SecretBytes | None, message_id: bytes) -> Seal:
    """The seal of ``name``'s marker, keyed by the message whose data key and id are given."""
    if data_key is None:
        raise MalformedMessageError("no data key to seal the done-marker with")
    return Seal(message_key(data_key, message_id), binding(job, source, name, message_id))


def local_state(st: os.stat_result) -> tuple[int, ...]:
    """What a local marker records about the destination file (and a rerun compares): its size, mtime,
    inode and ctime. The ctime, which no one can set, catches a rewrite in place with the mtime put back
    and another file made after the output was unlinked (the inode number comes back at once on ext4)."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class Recorder:
    """A materials manager that passes calls to ``inner`` and keeps the materials it returned (so a
    task can key the marker with the data key it encrypted under, or that it unwrapped: the engines
    give no key material out, the task holds what it obtained)."""

    def __init__(self, inner: CryptoMaterialsManager):
        self._inner = inner
        self.encryption: EncryptionMaterials | None = None
        self.decryption: DecryptionMaterials | None = None

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        self.encryption = self._inner.get_encryption_materials(request)
        return self.encryption

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        self.decryption = self._inner.decrypt_materials(request)
        return self.decryption


def header_of(read: Callable[[int, int], bytes], size: int) -> tuple[bytes, int]:
    """The first bytes of a message of ``size`` bytes that ``read(first, stop)`` returns, and the length of
    its header (the bytes may run past it)."""
    data = read(0, min(size, _FIRST_HEADER_READ))
    while True:
        found = parse_header_or_need(data)
        if not isinstance(found, int):
            return data, found.length
        if found > size or len(data) >= size:
            raise TruncatedMessageError("the message ends inside its header")
        more = read(len(data), min(size, max(found, 2 * len(data)), MAX_HEADER_BYTES + 1))
        if not more:
            raise TruncatedMessageError("the message ends inside its header")
        data += more


def verify(job: JobSpec, source: Source, name: str, found: Found, header: bytes) -> bool:
    """True only if ``found``'s marker is a current one that the job's keyring can check and it verifies
    for this job, source version and destination (``header``: the header of the job's message)."""
    if found.mac is None:
        return False
    recorder = Recorder(DefaultCryptoMaterialsManager(build_keyring(marker_keyring(job))))
    decryptor = job.engine().start_decryption(
        materials_manager=recorder, encryption_context=dict(job.encryption_context)
    )
    try:
        decryptor.read_header(header)  # unwraps the data key and authenticates the header
    except NOT_DONE_ERRORS:
        return False
    materials, message = recorder.decryption, decryptor.header
    if materials is None or materials.data_key is None or message is None:
        return False
    if job.operation == "encrypt" and job.algorithm is not None and message.suite.id != job.algorithm:
        return False
    seal = seal_for(job, source, name, materials.data_key, message.message_id)
    recorded = found.mac.encode("utf-8", "surrogatepass")  # any text a hostile marker holds, lone surrogates too
    return hmac.compare_digest(seal.mac(found.state).encode("ascii"), recorded)
