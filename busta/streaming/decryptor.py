"""The sans-I/O message decryptor: message bytes and materials in, authenticated plaintext out."""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from typing import NoReturn

from .._buffers import COPIED_OUTPUT_BYTES, OutputBuffer, PendingBytes, writable_view
from .._secrets import refuse_pickling
from ..errors import BustaError, MalformedMessageError, TruncatedMessageError, UsageError
from ..format import ContentType, Header, ParsedHeader, parse_header
from ..format.header import HeaderProgress, parse_header_or_need
from ..format.layout import framed_plaintext_length
from ..limits import MAX_HEADER_BYTES, MAX_NONFRAMED_BUFFER_BYTES
from ..materials import DecryptionMaterials, DecryptionRequest
from ..suites import DEFAULT_COMMITMENT_POLICY, CommitmentPolicy
from ._args import check_limit
from ._body import BodyOpener, Stage
from .header import decryption_request, open_header
from .workers import Workers

__all__ = ["MessageDecryptor"]


class _State(enum.Enum):
    HEADER = "in the header"
    MATERIALS = "after the header, its materials never supplied"
    BODY = "after the header"  # the body opener says where


class MessageDecryptor:
    """Reads one message, releasing plaintext only once it has authenticated. It does no I/O.

    States (each call raises :class:`UsageError` out of turn; after an error every call raises it)::

        HEADER --header parsed--> MATERIALS --supply_materials()--> BODY --final frame--> DONE
                                  (needs_materials)                   |                  ^
                                                                      +--> FOOTER -------+  (signed)

    Feed message bytes to :meth:`update` (or :meth:`update_into`). Once the
    header is parsed it stops: :attr:`needs_materials` is true and
    :attr:`decryption_request` says what to fetch (suite, encrypted data keys,
    stored context, policy, the context the caller expects). Nothing in it is
    authenticated yet. Obtain the materials however you like (a materials
    manager, an async call, another process) and hand them to
    :meth:`supply_materials`, which checks them, the key commitment and the
    header tag. While materials are awaited the decryptor keeps only the bytes
    after the header that the call that completed it was handed, and any call
    that brings more raises :class:`UsageError`: it never buffers without bound.
    The next :meth:`update` (``b""`` will do) returns their plaintext.

    What :meth:`update` returned is authentic but may not be the whole message:
    only :meth:`finalize`, which raises :class:`TruncatedMessageError` if the
    message is incomplete, proves nothing was cut off. For signed suites the
    final frame's plaintext is held until the footer's signature verified.
    Bytes after the end of the message raise :class:`MalformedMessageError`.
    What it holds grows with the bytes that arrived, never with a length the
    message declares. A header above ``max_header_bytes`` and a non-framed body
    (held whole until its tag) above ``max_nonframed_bytes`` are refused with
    :class:`LimitExceededError`. ``workers`` (None: the calling thread only)
    lets long runs of large frames open in parallel.

    One decryptor serves one thread at a time: a call made while another thread's
    call is running raises :class:`UsageError`, and the decryptor stays failed.
    """

    def __init__(
        self,
        *,
        encryption_context: Mapping[str, str] | None = None,
        commitment_policy: CommitmentPolicy = DEFAULT_COMMITMENT_POLICY,
        max_encrypted_data_keys: int | None = None,
        refuse_signed: bool = False,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_nonframed_bytes: int = MAX_NONFRAMED_BUFFER_BYTES,
        workers: Workers | None = None,
    ):
        if max_encrypted_data_keys is not None and max_encrypted_data_keys < 1:
            raise UsageError("max_encrypted_data_keys must be at least 1")
        check_limit("max_header_bytes", max_header_bytes)
        check_limit("max_nonframed_bytes", max_nonframed_bytes)
        if workers is not None and not isinstance(workers, Workers):
            raise UsageError("workers must be a Workers or None")
        self._expected = dict(encryption_context or {})
        self._policy = commitment_policy
        self._max_edks = max_encrypted_data_keys
        self._refuse_signed = refuse_signed
        self._max_header = max_header_bytes
        self._max_nonframed = max_nonframed_bytes
        self._workers = workers
        self._lock = threading.Lock()  # held by the call in progress: a second thread is refused
        self._state = _State.HEADER
        self._buffer = PendingBytes()  # the start of the unit that has not fully arrived
        self._carried = bytearray()  # bytes after the header handed in while materials were awaited
        self._header_needs = 0  # the header is at least this long: parsing it before then is wasted
        self._header_progress: HeaderProgress | None = None  # made by the first partial parse (streams only)
        self._consumed = 0  # message bytes consumed so far, for error offsets
        self._error: BustaError | None = None
        self._finalized = False
        self._parsed: ParsedHeader | None = None
        self._request: DecryptionRequest | None = None
        self._context: dict[str, str] | None = None
        self._body: BodyOpener | None = None

    # -- what a caller may read: plain values only ------------------------------------------------

    @property
    def needs_materials(self) -> bool:
        """True once the header is parsed and until :meth:`supply_materials` is called."""
        return self._state is _State.MATERIALS and self._error is None

    @property
    def decryption_request(self) -> DecryptionRequest | None:
        """What materials to obtain, while :attr:`needs_materials` (None otherwise). Not yet authenticated."""
        return self._request if self.needs_materials else None

    @property
    def header(self) -> Header | None:
        """The message header, once it authenticated (None before)."""
        return None if self._body is None or self._parsed is None else self._parsed.header

    @property
    def encryption_context(self) -> dict[str, str] | None:
        """The authenticated encryption context (stored and required pairs), once the header authenticated."""
        return None if self._context is None else dict(self._context)

    @property
    def done(self) -> bool:
        """True once the whole message has been read and verified."""
        return self._body is not None and self._body.stage is Stage.DONE

    @property
    def max_header_bytes(self) -> int:
        """The largest header this decryptor accepts."""
        return self._max_header

    @property
    def frame_step(self) -> int | None:
        """Bytes of one regular frame on the wire, once the header authenticated (None before, or non-framed)."""
        return None if self._body is None else self._body.step

    @property
    def buffered(self) -> int:
        """Input bytes held back (a unit, a frame say, that is incomplete; bytes awaiting the materials)."""
        return len(self._buffer) + len(self._carried)

    def output_bound(self, length: int) -> int:
        """The most plaintext ``update(data)`` can return for ``len(data) == length``."""
        if self._state is _State.MATERIALS:
            return 0
        carried = len(self._carried)
        if not carried and self._buffer.length and self._state is not _State.HEADER and self._wanted() > length:
            return 0  # the unit held back stays incomplete: nothing can authenticate
        header = self._header_needs if self._state is _State.HEADER else 0  # a header yields no plaintext
        held = 0 if self._body is None else self._body.held
        return max(0, self._buffer.length + carried + length + held - header)

    # -- calls -----------------------------------------------------------------------------------

    def read_header(self, data: bytes | bytearray | memoryview) -> int:
        """Consume the header at the start of ``data`` (nothing else); return its length, 0 if incomplete.

        Only before any other input. When it returns a length, :attr:`needs_materials` is true.
        """
        self._claim()
        try:
            if self._state is not _State.HEADER or self._buffer.length:
                raise UsageError("read_header() comes first, once")
            parsed = parse_header(data, max_encrypted_data_keys=self._max_edks, max_header_bytes=self._max_header)
            if parsed is not None:
                self._parsed_header(parsed)
                self._consumed = parsed.length
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()
        return 0 if parsed is None else parsed.length

    def supply_materials(self, materials: DecryptionMaterials) -> None:
        """Hand in the materials for :attr:`decryption_request`; verify the header with them.

        Raises :class:`AuthenticationError` (wrong data key, altered header or
        wrong context), :class:`EncryptionContextError` (an expected pair that
        does not match) or :class:`UsageError` (materials that do not fit the
        header, or a call out of turn); the decryptor then stays failed.
        """
        self._claim()
        try:
            if self._state is not _State.MATERIALS or self._parsed is None:
                raise UsageError("supply_materials() comes once, after the header is parsed")
            if not isinstance(materials, DecryptionMaterials):
                raise UsageError("supply_materials() needs DecryptionMaterials")
            opened = open_header(self._parsed, materials, expected_context=self._expected)
            self._body = BodyOpener(
                opened, self._parsed.header, workers=self._workers, max_nonframed=self._max_nonframed
            )
            self._context = opened.encryption_context
            self._request = None
            self._state = _State.BODY
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()

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
            if self._state is _State.MATERIALS and len(src):
                raise UsageError("the decryptor needs its materials (supply_materials) before more input")
            if self._carried:
                carried, self._carried = self._carried, bytearray()
                self._consumed -= len(carried)  # counted as consumed when they were kept
                written = self._update(memoryview(carried), out)
                return written + self._update(src, out[written:])
            return self._update(src, out)
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()

    def open_rest_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """All of a whole message after its header (read by :meth:`read_header`, materials supplied) into
        ``out``; return the plaintext length. This also finalizes: a message that ends early, or bytes
        after its end, raise as :meth:`update_into` and :meth:`finalize` would."""
        view = writable_view(out)
        return self._open_rest_into(memoryview(data).cast("B"), view)

    def open_rest(self, data: bytes | bytearray | memoryview) -> bytes:
        """:meth:`open_rest_into` into a new buffer: of exactly the plaintext's size, which a framed
        message's layout tells, unless the body is small enough that the buffer is copied out anyway
        (a message whose layout does not add up goes through :meth:`update`, which finds what is wrong)."""
        src = memoryview(data).cast("B")
        if len(src) < COPIED_OUTPUT_BYTES:  # the plaintext is shorter than the body that holds it
            return self._open_rest_new(src, len(src))[1]
        parsed = self._parsed
        length = None
        if parsed is not None and self._body is not None and parsed.header.content_type is ContentType.FRAMED:
            header = parsed.header
            length = framed_plaintext_length(src, 0, header.frame_length, header.suite.signed)
        if length is None:
            plaintext = self.update(src)
            self.finalize()
            return plaintext
        written, plaintext = self._open_rest_new(src, length)
        if written != length:  # pragma: no cover - the engine checks every frame against the layout
            raise MalformedMessageError("the message body does not match its layout")
        return plaintext

    def _open_rest_new(self, src: memoryview, size: int) -> tuple[int, bytes]:
        """:meth:`_open_rest_into` a new buffer of ``size`` bytes (dropped on failure); the plaintext."""
        out = OutputBuffer(size)
        try:
            written = self._open_rest_into(src, out.view)
        except BaseException:
            out.discard()
            raise
        return written, out.finish(written)

    def _open_rest_into(self, src: memoryview, view: memoryview) -> int:
        self._claim()
        try:
            body = self._body
            if body is None or self._parsed is None or self._consumed != self._parsed.length:
                raise UsageError("open_rest_into() takes all of the message after read_header() and its materials")
            pos, produced = body.process(src, 0, view, self._consumed)
            self._consumed += pos
            self._finalized = True
            if body.stage is not Stage.DONE:
                raise TruncatedMessageError(f"the message ended early, {body.stage.value}")
            if pos < len(src):
                raise MalformedMessageError(
                    "bytes after the end of the message", field="trailing data", offset=self._consumed
                )
        except BustaError as exc:
            self._fail(exc)
            raise
        finally:
            self._lock.release()
        return produced

    def finalize(self) -> bytes:
        """Declare the end of the input; raise if the message is incomplete."""
        self._claim()
        try:
            self._finalized = True
            if not self.done:
                self._fail(self._incomplete())
                assert self._error is not None
                raise self._error
        finally:
            self._lock.release()
        return b""

    def open_frames(self, first_sequence: int, data: memoryview, out: memoryview, count: int, *, offset: int) -> None:
        """Random access: open ``count`` regular frames numbered from ``first_sequence`` into ``out``.

        ``data`` holds exactly those frames; ``offset`` places them in the message,
        for errors. Only after the header authenticated; the state does not move.
        """
        self._opened().open_frames(first_sequence, data, out, count, offset)

    def open_final_frame(self, data: memoryview, out: memoryview, sequence: int, *, offset: int) -> int:
        """Random access: open the final frame at the start of ``data``, which must be ``sequence``;
        return its plaintext length."""
        return self._opened().open_final_frame(data, out, sequence, offset)

    def _opened(self) -> BodyOpener:
        if self._error is not None:
            raise self._error
        if self._body is None:
            raise UsageError("frames are opened only after the header authenticated")
        return self._body

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
        where = self._state.value if self._body is None else self._body.stage.value
        return TruncatedMessageError(f"the message ended early, {where}")

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
        self._carried = bytearray()

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
        if self.done:
            pending.release()
        return written

    def _wanted(self) -> int:
        """How many more bytes the buffered unit (header, frame, footer) needs at most."""
        have = self._buffer.length
        if self._body is None:
            return self._max_header + 1 - have
        with memoryview(self._buffer.raw)[:have] as held:
            return self._body.wanted(held)

    # -- the state machine -------------------------------------------------------------------------

    def _process(self, view: memoryview, out: memoryview) -> tuple[int, int]:
        pos = produced = 0
        if self._state is _State.HEADER:
            if len(view) < self._header_needs:
                return 0, 0
            if self._header_progress is None:
                self._header_progress = HeaderProgress()
            found = parse_header_or_need(
                view,
                max_encrypted_data_keys=self._max_edks,
                max_header_bytes=self._max_header,
                progress=self._header_progress,
            )
            if isinstance(found, int):
                self._header_needs = found
                return 0, 0
            self._header_progress = None
            self._parsed_header(found)
            pos = found.length
        if self._state is _State.MATERIALS:  # keep what this call brought after the header, no more
            self._carried += view[pos:]
            return len(view), 0
        assert self._body is not None
        pos, produced = self._body.process(view, pos, out, self._consumed)
        if self._body.stage is Stage.DONE and pos < len(view):
            raise MalformedMessageError(
                "bytes after the end of the message", field="trailing data", offset=self._consumed + pos
            )
        return pos, produced

    def _parsed_header(self, parsed: ParsedHeader) -> None:
        """The header is parsed (nothing verified): check it against the policy and wait for materials."""
        self._request = decryption_request(
            parsed.header,
            commitment_policy=self._policy,
            expected_context=self._expected,
            refuse_signed=self._refuse_signed,
        )
        self._parsed = parsed
        self._state = _State.MATERIALS

    def __repr__(self) -> str:
        stage = self._state.name if self._body is None else self._body.stage.name
        return f"MessageDecryptor(state={stage})"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)
