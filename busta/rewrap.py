"""Key rotation without touching bodies: re-wrap a message's data key and rewrite only its header.

A frame's authenticated data is the message id, the body string, the sequence
number and the length; it does not cover the header's list of encrypted data
keys. So a message of an unsigned suite can be given new wrapped copies of its
data key (new keyrings) and a new header tag, and its body reused byte for byte.
The data key, message id and key commitment stay the same.

A signed message cannot be rewrapped: its footer signs the header, and the
signing key was discarded when the message was written. :func:`rewrap_header`
refuses it with :class:`~busta.errors.SignedMessageError`; re-encrypt it instead.

:func:`rewrap` and :func:`rewrap_header` do not read the body, so they do not
authenticate it: a damaged body stays damaged and fails when the message is
decrypted. Before a rewrapped message replaces an old one, check it:
:func:`check_rewrapped` opens the new header, given frames and the final frame
under the data key (what ``s3.rewrap_object`` does), and :class:`CheckedCopy`
authenticates every byte of a body as it is copied (what a bulk rewrap of files does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Protocol

from ._frozen import field, record
from .api import Client, client_or_default
from .errors import SignedMessageError, TruncatedMessageError, UsageError
from .format import ContentType, Header, parse_header
from .format.layout import regular_frame_size
from .materials import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    DefaultCryptoMaterialsManager,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    is_keyring,
)
from .streaming.header import seal_header
from .streaming.random_access import Fetch, SeekableDecryptingReader

__all__ = ["CheckedCopy", "Fetch", "RewrappedHeader", "check_rewrapped", "copy_ranges", "rewrap", "rewrap_header"]


@record
class RewrappedHeader:
    """A new header for an existing message.

    ``header_bytes`` replaces the first ``old_header_length`` bytes of the
    message; everything after them (the body) stays as it is.
    """

    header: Header
    header_bytes: bytes
    old_header_length: int
    #: The old message's materials (its data key): what :func:`check_rewrapped` opens frames with.
    _materials: DecryptionMaterials = field(repr=False, compare=False, kw_only=True)


def rewrap_header(
    head: bytes | bytearray | memoryview,
    *,
    keyring: Keyring,
    new_keyring: Keyring,
    encryption_context: Mapping[str, str] | None = None,
    sdk: Client | None = None,
) -> RewrappedHeader | None:
    """Re-wrap the data key of the message that starts with ``head``.

    ``keyring`` unwraps the data key (any keyring that could decrypt the
    message); ``new_keyring`` wraps it again, and its copies replace all the
    old ones. ``encryption_context`` supplies pairs the message requires but
    does not store (and, like decrypt, checks any pairs it does store). The
    header is authenticated before anything is wrapped, under the policy and limits of
    ``sdk`` (a :class:`busta.Client`, default ``busta.Client()``). Returns None when
    ``head`` ends before the header does: read more and call again.
    """
    if not is_keyring(new_keyring):
        raise UsageError(f"{new_keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")
    if not is_keyring(keyring):
        raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")
    client = _one_thread(sdk)
    unwrapping = _Recording(DefaultCryptoMaterialsManager(keyring))
    decryptor = client.start_decryption(materials_manager=unwrapping, encryption_context=encryption_context)
    max_encrypted_data_keys = client.max_encrypted_data_keys
    parsed = parse_header(head, max_encrypted_data_keys=max_encrypted_data_keys)
    if parsed is None:
        return None
    if parsed.header.suite.signed:
        raise SignedMessageError(
            f"{parsed.header.suite.name} is signed: its footer signs the header, so a rewrapped header would"
            " not verify; re-encrypt the message instead"
        )
    decryptor.read_header(memoryview(head)[: parsed.length])  # unwraps the data key and authenticates the header
    old = unwrapping.materials
    assert old is not None and old.data_key is not None
    header = parsed.header
    materials = new_keyring.on_encrypt(
        EncryptionMaterials(
            header.suite,
            old.encryption_context,
            old.data_key,
            required_context_keys=old.required_context_keys,
        )
    )
    if materials.data_key != old.data_key or not materials.encrypted_data_keys:
        raise UsageError("the new keyring must wrap the existing data key and add at least one wrapped copy")
    sealed = seal_header(  # the same data key and message id: the same keys and commitment, so the body stays
        materials,
        frame_length=header.frame_length,
        content_type=header.content_type,
        message_id=header.message_id,
        max_encrypted_data_keys=max_encrypted_data_keys,
    )
    return RewrappedHeader(sealed.header, sealed.header_bytes, parsed.length, _materials=old)


def rewrap(
    message: bytes | bytearray | memoryview,
    *,
    keyring: Keyring,
    new_keyring: Keyring,
    encryption_context: Mapping[str, str] | None = None,
    sdk: Client | None = None,
) -> bytes:
    """The whole message with a rewrapped header (see :func:`rewrap_header`); the body is copied."""
    view = memoryview(message)
    rewrapped = rewrap_header(
        view,
        keyring=keyring,
        new_keyring=new_keyring,
        encryption_context=encryption_context,
        sdk=sdk,
    )
    if rewrapped is None:
        raise TruncatedMessageError("the message ends inside its header")
    return rewrapped.header_bytes + bytes(view[rewrapped.old_header_length :])


def copy_ranges(body_start: int, size: int, *, first_part_body: int, part_size: int) -> Iterator[tuple[int, int]]:
    """Byte ranges ``[first, stop)`` of the old object to copy as parts 2, 3, ... of the new one.

    Part 1 is the new header plus the old bytes ``[body_start, body_start +
    first_part_body)``; the rest of the old object follows in ``part_size``
    pieces, the last one taking any remainder smaller than S3's minimum.
    """
    if part_size < 1 or first_part_body < 0:
        raise UsageError("part_size must be positive and first_part_body non-negative")
    first = body_start + first_part_body
    while first < size:
        stop = first + part_size
        if size - stop < part_size:  # fold a short tail into this last part
            stop = size
        yield first, stop
        first = stop


def check_rewrapped(
    rewrapped: RewrappedHeader,
    fetch: Fetch,
    size: int,
    *,
    resent: int,
    sdk: Client | None = None,
) -> None:
    """Authenticate the message that ``rewrapped`` makes of an old one, before it replaces the old one.

    The new message is ``rewrapped.header_bytes`` followed by the old body,
    which ``fetch`` returns at old-message offsets (the old message is
    ``size`` bytes). It is opened with the data key, so the new header's tag
    and commitment are checked, and with them the body's first frames, which
    bind the message id: the first ``resent`` bytes of the body (what the
    caller re-sends itself) must end on a frame boundary or at the end, and
    every frame in them is authenticated, as is the final frame (found from the
    tail), which proves where the message ends. A non-framed body is one frame:
    it is authenticated whole. Raises what decrypting would (AuthenticationError,
    MalformedMessageError, ...) at the first check that fails.
    """
    known = _KnownMaterials(rewrapped._materials)
    decryptor = _one_thread(sdk).start_decryption(materials_manager=known)
    new_fetch, new_size = _new_message(rewrapped, fetch, size)
    header = rewrapped.header
    if header.content_type is not ContentType.FRAMED:
        message = new_fetch(0, new_size)
        consumed = decryptor.read_header(message)
        assert consumed, "a complete header parsed before"
        decryptor.update(memoryview(message)[consumed:])  # its plaintext is dropped
        decryptor.finalize()
        return
    # The new header and the final frame; a compressed body's frames are checked as they are (Z).
    access = SeekableDecryptingReader(new_fetch, new_size, decryptor, allow_compressed=True)
    frames = resent // regular_frame_size(header.frame_length)
    if resent >= size - rewrapped.old_header_length:
        frames = access.length // header.frame_length + 1  # all of it, the final frame too
    access.read_range(0, min(access.length, frames * header.frame_length))


def _one_thread(sdk: Client | None) -> Client:
    """``sdk`` (default ``Client()``) on the calling thread only: a rewrap opens a few frames."""
    return replace(client_or_default(sdk), threads=1)


def _new_message(rewrapped: RewrappedHeader, fetch: Fetch, size: int) -> tuple[Fetch, int]:
    """``fetch`` for the new message (the new header, then the old body), and its size."""
    new_header = rewrapped.header_bytes
    shift = len(new_header) - rewrapped.old_header_length
    new_size = size + shift

    def new_fetch(start: int, end: int) -> bytes:
        end = min(end, new_size)
        head = new_header[start:end]
        if end <= len(new_header):
            return head
        return head + fetch(max(start, len(new_header)) - shift, end - shift)

    return new_fetch, new_size


class _Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


class CheckedCopy:
    """Writes a rewrapped message to ``sink`` and authenticates it on the way, under the data key.

    The new header goes to ``sink`` at once; :meth:`write` then takes the old
    body, every byte of it, in order; :meth:`finish` raises (what decrypting
    would: AuthenticationError, TruncatedMessageError ...) unless the body was
    complete and every frame authentic. A failure can come after bytes reached
    ``sink``, so write into something that commits only when :meth:`finish` returned.
    """

    def __init__(self, rewrapped: RewrappedHeader, sink: _Writable, *, sdk: Client | None = None):
        known = _KnownMaterials(rewrapped._materials)
        self._decryptor = _one_thread(sdk).start_decryption(materials_manager=known)
        if self._decryptor.read_header(rewrapped.header_bytes) != len(rewrapped.header_bytes):
            raise UsageError("the rewrapped header does not parse as one header")
        self._sink = sink
        sink.write(rewrapped.header_bytes)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._decryptor.update(data)  # the plaintext is dropped
        self._sink.write(data)
        return len(memoryview(data))

    def finish(self) -> None:
        self._decryptor.finalize()


class _Recording:
    """A materials manager that passes decryption to ``inner`` and keeps the materials it returned:
    rewrapping needs the data key it obtained to wrap it again."""

    def __init__(self, inner: CryptoMaterialsManager):
        self._inner = inner
        self.materials: DecryptionMaterials | None = None

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        raise UsageError("these materials only unwrap a message's data key")

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        self.materials = self._inner.decrypt_materials(request)
        return self.materials


@record
class _KnownMaterials:
    """A materials manager that already holds a message's decryption materials (no keyring call)."""

    materials: DecryptionMaterials = field(repr=False)

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        raise UsageError("these materials only check a rewrapped message")

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        if request.suite is not self.materials.suite:
            raise UsageError("the rewrapped header names another suite")
        return self.materials
