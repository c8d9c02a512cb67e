"""The sans-I/O message decryptor: message bytes in, authenticated plaintext out."""

from __future__ import annotations

import enum
import functools
import itertools
import struct
import threading
from collections.abc import Callable, Mapping
from typing import NoReturn

from cryptography.exceptions import InvalidTag

from .._buffers import OutputBuffer, PendingBytes, writable_view
from .._secrets import refuse_pickling
from ..context import serialize_context
from ..crypto.frames import FrameCodec
from ..crypto.kdf import check_commitment, derive_keys
from ..crypto.signing import Verifier
from ..errors import (
    AuthenticationError,
    BustaError,
    EncryptionContextError,
    LimitExceededError,
    MalformedMessageError,
    SignedMessageError,
    TruncatedMessageError,
    UsageError,
)
from ..format import ContentType, Header, ParsedHeader, parse_header, serialize_header_auth
from ..format.body import (
    FINAL_FRAME_STRING,
    FINAL_HEAD_BYTES,
    FINAL_LENGTH_OFFSET,
    FINAL_MARKER_BYTES,
    NONFRAMED_HEAD_BYTES,
    NONFRAMED_LENGTH_OFFSET,
    SINGLE_BLOCK_STRING,
    FrameHead,
    parse_footer,
    parse_frame_head,
    parse_nonframed_head,
)
from ..format.header import HeaderProgress, parse_header_or_need
from ..limits import MAX_FRAMES, MAX_HEADER_BYTES, MAX_NONFRAMED_BUFFER_BYTES
from ..materials import CryptoMaterialsManager, DecryptionMaterials, DecryptionRequest
from ..suites import DEFAULT_COMMITMENT_POLICY, TAG_BYTES, CommitmentPolicy
from ._args import check_limit
from .workers import Threads, resolve_threads, run_split

__all__ = ["MessageDecryptor"]

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class _State(enum.Enum):
    HEADER = "in the header"
    BODY = "in the body"
    FOOTER = "before the signature footer"
    DONE = "done"


class MessageDecryptor:
    """Reads one message, releasing plaintext only once it has authenticated.

    Feed message bytes to :meth:`update` (or :meth:`update_into`); it returns
    the plaintext of every frame whose tag verified. For signed suites the final
    frame's plaintext is held until the footer's signature verified. What it
    returned is authentic but may not be the whole message: only :meth:`finalize`,
    which raises :class:`TruncatedMessageError` if the message is incomplete,
    proves nothing was cut off. Bytes after the end of the message raise
    :class:`MalformedMessageError`. After an error every call raises it again.

    The header is parsed, then ``materials_manager.decrypt_materials`` is called
    once (keyrings run there), then the body streams through. What it holds grows
    with the bytes that arrived, never with a length the message declares: at most
    about twice the part of one unit (header, frame, footer) that has arrived,
    copied a bounded number of times however small the pieces it is fed. A
    header above ``max_header_bytes`` and a non-framed body (held whole until its
    tag) above ``max_nonframed_bytes`` are refused with :class:`LimitExceededError`.

    One decryptor serves one thread at a time: a call made while another thread's
    call is running raises :class:`UsageError`, and the decryptor stays failed.
    """

    def __init__(
        self,
        materials_manager: CryptoMaterialsManager,
        *,
        encryption_context: Mapping[str, str] | None = None,
        commitment_policy: CommitmentPolicy = DEFAULT_COMMITMENT_POLICY,
        max_encrypted_data_keys: int | None = None,
        refuse_signed: bool = False,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
        threads: int | None = None,
    ):
        if max_encrypted_data_keys is not None and max_encrypted_data_keys < 1:
            raise UsageError("max_encrypted_data_keys must be at least 1")
        check_limit("max_header_bytes", max_header_bytes)
        check_limit("max_nonframed_bytes", max_nonframed_bytes)
        self._cmm = materials_manager
        self._expected = dict(encryption_context or {})
        self._policy = commitment_policy
        self._max_edks = max_encrypted_data_keys
        self._refuse_signed = refuse_signed
        self._max_header = max_header_bytes
        self._max_nonframed = max_nonframed_bytes
        self._threads: Threads = resolve_threads(threads)
        self._lock = threading.Lock()  # held by the call in progress: a second thread is refused
        self._state = _State.HEADER
        self._buffer = PendingBytes()  # the start of the unit that has not fully arrived
        self._header_needs = 0  # the header is at least this long: parsing it before then is wasted
        self._header_progress = HeaderProgress()  # each data key of a header arriving in pieces is parsed once
        self._consumed = 0  # message bytes consumed so far, for error offsets
        self._error: BustaError | None = None
        self._finalized = False
        self._sequence = 1
        self._held = bytearray()
        self._codec: FrameCodec | None = None
        self._verifier: Verifier | None = None
        self.parsed_header: ParsedHeader | None = None
        self.materials: DecryptionMaterials | None = None

    @property
    def done(self) -> bool:
        """True once the whole message has been read and verified."""
        return self._state is _State.DONE

    @property
    def max_header_bytes(self) -> int:
        """The largest header this decryptor accepts."""
        return self._max_header

    @property
    def codec(self) -> FrameCodec | None:
        """The frame codec of the message once its header authenticated (for random access to frames)."""
        return self._codec

    @property
    def frame_step(self) -> int | None:
        """Bytes of one regular frame on the wire, once the header is read (None before, or non-framed)."""
        if self._codec is None or self._header().content_type is not ContentType.FRAMED:
            return None
        return self._codec.step

    @property
    def buffered(self) -> int:
        """Input bytes held back because the unit they start (a frame, say) is incomplete."""
        return len(self._buffer)

    def output_bound(self, length: int) -> int:
        """The most plaintext ``update(data)`` can return for ``len(data) == length``."""
        if self._buffer.length and self._state is not _State.HEADER and self._wanted() > length:
            return 0  # the unit held back stays incomplete: nothing can authenticate
        header = self._header_needs if self._state is _State.HEADER else 0  # a header yields no plaintext
        return max(0, self._buffer.length + length + len(self._held) - header)

    def read_header(self, data: bytes | bytearray | memoryview) -> int:
        """Consume the header at the start of ``data`` (nothing else); return its length, 0 if incomplete.

        Only before any other input. The materials manager runs here.
        """
        self._claim()
        try:
            if self._state is not _State.HEADER or self._buffer.length:
                raise UsageError("read_header() comes first, once")
            parsed = parse_header(data, max_encrypted_data_keys=self._max_edks, max_header_bytes=self._max_header)
            if parsed is not None:
                self._start(parsed)
                self._consumed = parsed.length
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()
        return 0 if parsed is None else parsed.length

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Consume message bytes; return the plaintext that authenticated."""
        src = memoryview(data).cast("B")
        out = OutputBuffer(self.output_bound(len(src)))
        try:
            written = self._update_into(src, out.view)
        except BaseException:
            out.discard()
            raise
        return out.finish(written)

    def update_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """Consume message bytes; write authenticated plaintext into ``out``; return its length.

        ``out`` with :meth:`output_bound` bytes always suffices; a smaller one
        raises :class:`UsageError` when the plaintext does not fit. After an
        error, ``out`` holds no unauthenticated plaintext beyond what earlier
        calls reported.
        """
        view = writable_view(out)
        return self._update_into(memoryview(data).cast("B"), view)

    def _update_into(self, src: memoryview, out: memoryview) -> int:
        self._claim()
        try:
            return self._update(src, out)
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()

    def finalize(self) -> bytes:
        """Declare the end of the input; raise if the message is incomplete."""
        self._claim()
        try:
            self._finalized = True
            if self._state is not _State.DONE:
                self._fail(self._incomplete())
                assert self._error is not None
                raise self._error
        finally:
            self._lock.release()
        return b""

    def _incomplete(self) -> BustaError:
        """Why a message that ended here is wrong."""
        if self._state is _State.HEADER:
            try:  # parsed only once it could be complete: a field read since may already be wrong
                with self._buffer.view() as held:
                    parse_header_or_need(
                        held, max_encrypted_data_keys=self._max_edks, max_header_bytes=self._max_header
                    )
            except BustaError as malformed:
                return malformed
        return TruncatedMessageError(f"the message ended early, {self._state.value}")

    def _claim(self) -> None:
        """Take the decryptor for this call, or raise (another thread's call in progress, an earlier error)."""
        if not self._lock.acquire(blocking=False):
            self._error = UsageError("the decryptor is in use by another thread; give each thread its own")
            raise self._error
        if self._error is not None or self._finalized:
            self._lock.release()
            raise self._error or UsageError("the decryptor is finalized")

    def _fail(self, exc: BustaError) -> None:
        self._error = exc
        self._buffer.release()

    # -- buffering -------------------------------------------------------------------------------

    def _update(self, src: memoryview, out: memoryview) -> int:
        written = 0
        pending = self._buffer
        while pending.length and len(src):  # complete the unit held back, taking no byte beyond it
            wanted = self._wanted()
            take = src[:wanted]
            src = src[len(take) :]
            pending.append(take)
            with pending.view() as view:
                consumed, produced = self._process(view, out[written:])
            written += produced
            pending.drop(consumed)
            self._consumed += consumed
        if len(src):
            consumed, produced = self._process(src, out[written:])
            written += produced
            self._consumed += consumed
            pending.append(src[consumed:])
        if self._state is _State.DONE:
            pending.release()
        return written

    def _wanted(self) -> int:
        """How many more bytes the buffered unit (header, frame, footer) needs at most."""
        held = self._buffer.raw  # read only below its length
        have = self._buffer.length
        if self._state is _State.HEADER:
            return self._max_header + 1 - have
        if self._state is _State.FOOTER:
            return 2 - have if have < 2 else 2 + int(_U16.unpack_from(held)[0]) - have
        if self._state is _State.DONE:
            return 1
        header = self._header()
        if header.content_type is ContentType.NON_FRAMED:
            head = NONFRAMED_HEAD_BYTES
            if have < head:
                return head - have
            return head + int(_U64.unpack_from(held, NONFRAMED_LENGTH_OFFSET)[0]) + TAG_BYTES - have
        if have < 4:
            return 4 - have
        if held[:4] != FINAL_MARKER_BYTES:
            return self._codec_or_fail().step - have
        if have < FINAL_HEAD_BYTES:
            return FINAL_HEAD_BYTES - have
        return FINAL_HEAD_BYTES + int(_U32.unpack_from(held, FINAL_LENGTH_OFFSET)[0]) + TAG_BYTES - have

    # -- the state machine -------------------------------------------------------------------------

    def _process(self, view: memoryview, out: memoryview) -> tuple[int, int]:
        pos = produced = 0
        if self._state is _State.HEADER:
            if len(view) < self._header_needs:
                return 0, 0
            found = parse_header_or_need(
                view,
                max_encrypted_data_keys=self._max_edks,
                max_header_bytes=self._max_header,
                progress=self._header_progress,
            )
            if isinstance(found, int):
                self._header_needs = found
                return 0, 0
            self._header_progress = HeaderProgress()
            self._start(found)
            pos = found.length
        if self._state is _State.BODY:
            if self._header().content_type is ContentType.FRAMED:
                pos, produced = self._frames(view, pos, out)
            else:
                pos, produced = self._single_block(view, pos, out)
        if self._state is _State.FOOTER:
            pos, produced = self._footer(view, pos, out, produced)
        if self._state is _State.DONE and pos < len(view):
            raise MalformedMessageError(
                "bytes after the end of the message", field="trailing data", offset=self._consumed + pos
            )
        return pos, produced

    def _start(self, parsed: ParsedHeader) -> None:
        header = parsed.header
        suite = header.suite
        self._policy.check_decrypt(suite)
        if self._refuse_signed and suite.signed:
            raise SignedMessageError(f"signed messages are refused in this mode ({suite.name} is signed)")
        request = DecryptionRequest(
            suite=suite,
            encrypted_data_keys=header.encrypted_data_keys,
            encryption_context=header.encryption_context,
            commitment_policy=self._policy,
            reproduced_encryption_context=self._expected,
        )
        materials = self._cmm.decrypt_materials(request)
        if materials.data_key is None or materials.suite is not suite:
            raise UsageError("the materials manager returned materials without a data key for this suite")
        full = materials.encryption_context
        for key, value in self._expected.items():
            if full.get(key) != value:
                raise EncryptionContextError(f"encryption context value for {key!r} does not match the message")
        keys = derive_keys(suite, materials.data_key, header.message_id)
        if suite.committing:
            check_commitment(keys.commitment, header.suite_data)
        required = serialize_context({k: full[k] for k in materials.required_context_keys})
        try:
            keys.aead.decrypt(parsed.auth.iv, parsed.auth.tag, parsed.raw + required)
        except InvalidTag:
            raise AuthenticationError("the header does not authenticate (altered header or wrong context)") from None
        if suite.signed:
            if materials.verification_key is None:
                raise UsageError("the materials manager returned no verification key for a signed suite")
            self._verifier = Verifier(suite, materials.verification_key)
            self._verifier.update(parsed.raw + serialize_header_auth(suite, parsed.auth))
        self._codec = FrameCodec(keys.aead, header.message_id, header.frame_length)
        self.parsed_header = parsed
        self.materials = materials
        self._state = _State.BODY

    def _frames(self, view: memoryview, pos: int, out: memoryview) -> tuple[int, int]:
        codec = self._codec_or_fail()
        produced = 0
        while self._state is _State.BODY:
            room = (len(out) - produced) // codec.frame_length
            count = _regular_frames_at(view, pos, codec.step, room + 1)
            if count > room:
                raise _no_room()
            if count:
                self._open_run(view[pos : pos + count * codec.step], out[produced:], count, pos)
                pos += count * codec.step
                produced += count * codec.frame_length
                continue
            head = parse_frame_head(view, pos, codec.frame_length)
            if head is None or not head.final or pos + head.total_length > len(view):
                break
            produced += self._open_last(view, pos, head, FINAL_FRAME_STRING, out[produced:])
            pos += head.total_length
        return pos, produced

    def _single_block(self, view: memoryview, pos: int, out: memoryview) -> tuple[int, int]:
        head = parse_nonframed_head(view, pos)
        if head is None:
            return pos, 0
        if head.content_length > self._max_nonframed:  # refused before any of it is held
            raise LimitExceededError("non-framed body length", head.content_length, self._max_nonframed)
        if pos + head.total_length > len(view):
            return pos, 0
        produced = self._open_last(view, pos, head, SINGLE_BLOCK_STRING, out)
        return pos + head.total_length, produced

    def _open_run(self, run: memoryview, out: memoryview, count: int, pos: int) -> None:
        """Open ``count`` regular frames (in parallel when it pays) and hash them for signed suites."""
        codec = self._codec_or_fail()
        first = self._sequence
        if first + count - 1 > MAX_FRAMES:
            raise MalformedMessageError("more frames than the format allows", field="sequence number")
        frame, step = codec.frame_length, codec.step
        base = self._consumed + pos
        parts = self._threads.split(frame, count)
        tasks: list[Callable[[], None]] = []
        verifier = self._verifier
        if verifier is not None and self._threads.overlap(count * frame):
            tasks.append(functools.partial(verifier.update, run))  # hash while the frames open
            verifier = None
        bounds = [count * i // parts for i in range(parts + 1)]
        for a, b in itertools.pairwise(bounds):
            src, dst = run[a * step : b * step], out[a * frame : b * frame]
            tasks.append(functools.partial(codec.open_regular, first + a, src, dst, b - a, base + a * step))
        run_split(tasks)
        if verifier is not None:
            verifier.update(run)
        self._sequence = first + count

    def _open_last(self, view: memoryview, pos: int, head: FrameHead, content: bytes, out: memoryview) -> int:
        """Open the final frame (or non-framed body); hold its plaintext for signed suites."""
        codec = self._codec_or_fail()
        frame = view[pos : pos + head.total_length]
        offset = self._consumed + pos
        if self._verifier is None:
            if len(out) < head.content_length:
                raise _no_room()
            codec.open_block(head, self._sequence, content, frame, out, offset=offset)
            self._state = _State.DONE
            return head.content_length
        self._held = bytearray(head.content_length)
        with memoryview(self._held) as held:
            codec.open_block(head, self._sequence, content, frame, held, offset=offset)
        self._verifier.update(frame)
        self._state = _State.FOOTER
        return 0

    def _footer(self, view: memoryview, pos: int, out: memoryview, produced: int) -> tuple[int, int]:
        found = parse_footer(view, pos)
        if found is None:
            return pos, produced
        signature, length = found
        assert self._verifier is not None
        self._verifier.verify(signature)
        if len(out) - produced < len(self._held):
            raise _no_room()
        out[produced : produced + len(self._held)] = self._held
        produced += len(self._held)
        self._held = bytearray()
        self._state = _State.DONE
        return pos + length, produced

    def _header(self) -> Header:
        assert self.parsed_header is not None
        return self.parsed_header.header

    def _codec_or_fail(self) -> FrameCodec:
        assert self._codec is not None
        return self._codec

    def __repr__(self) -> str:
        return f"MessageDecryptor(state={self._state.name})"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def _no_room() -> UsageError:
    return UsageError("the output buffer is too small for the plaintext; size it with output_bound()")


def _regular_frames_at(view: memoryview, pos: int, step: int, limit: int) -> int:
    """How many complete regular frames start at ``pos`` (stopping at the final-frame marker).

    One C-level pass: the first byte of every frame, then a check only where that byte is 0xFF.
    """
    count = min(limit, (len(view) - pos) // step)
    if count <= 0:
        return 0
    firsts = view[pos : pos + count * step : step].tobytes()
    index = firsts.find(0xFF)
    while index != -1:
        start = pos + index * step
        if view[start : start + 4] == FINAL_MARKER_BYTES:
            return index
        index = firsts.find(0xFF, index + 1)
    return count
