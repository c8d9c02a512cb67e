"""The sans-I/O message encryptor: plaintext bytes in, message bytes out."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from typing import NoReturn

from .._buffers import OutputBuffer, PendingBytes, writable_view
from .._secrets import refuse_pickling
from ..errors import BustaError, LimitExceededError, UsageError
from ..format.body import FOOTER_LENGTH_BYTES, serialize_footer
from ..format.layout import final_frame_overhead, frame_split, framed_body_length
from ..limits import MAX_FRAME_LENGTH, MAX_FRAMES, MAX_HEADER_BYTES
from ..materials import EncryptionMaterials
from ._args import check_limit
from .header import seal_header
from .workers import Workers, overlaps, split_run

__all__ = ["MessageEncryptor"]
#: Signed suites hash the ciphertext in slices of about this size while the next slice is sealed.
_HASH_SLICE_BYTES = 1 << 20


class MessageEncryptor:
    """Turns plaintext into one framed message, a frame at a time.

    ``update`` / ``update_into`` emit the header (first call) and every frame
    completed so far; ``finalize`` / ``finalize_into`` emit the final frame and,
    for signed suites, the footer. The last ``frame_length`` bytes of plaintext
    are held back until finalize, so the final frame is never empty unless the
    whole plaintext is. After an error every call raises that error again; after
    finalize every call raises :class:`UsageError`.

    ``workers`` (None: the calling thread only) lets long runs of large frames be
    sealed in parallel; the bytes written do not depend on it. The encryptor
    does no I/O: it is handed its materials, and the header is sealed here. With
    ``plaintext_length`` (the length the materials were requested for, which a
    caching materials manager counts against its limits) more plaintext than
    declared is refused. A header above ``max_header_bytes`` (the default every
    decryption accepts) is refused with :class:`LimitExceededError` here, before
    anything is written, so that what is written with default settings is read with them.

    One encryptor serves one thread at a time: a call made while another thread's
    call is running raises :class:`UsageError`, and the encryptor stays failed
    (no message that lacks part of the plaintext can then be finished).
    """

    def __init__(
        self,
        materials: EncryptionMaterials,
        *,
        frame_length: int,
        message_id: bytes | None = None,
        workers: Workers | None = None,
        plaintext_length: int | None = None,
        max_header_bytes: int = MAX_HEADER_BYTES,
        max_encrypted_data_keys: int | None = None,
    ):
        check_limit("max_header_bytes", max_header_bytes)
        if not isinstance(frame_length, int) or not 1 <= frame_length <= MAX_FRAME_LENGTH:
            raise UsageError(f"frame_length must be between 1 and {MAX_FRAME_LENGTH}, not {frame_length}")
        if workers is not None and not isinstance(workers, Workers):
            raise UsageError("workers must be a Workers or None")
        sealed = seal_header(
            materials,
            frame_length=frame_length,
            message_id=message_id,
            max_header_bytes=max_header_bytes,
            max_encrypted_data_keys=max_encrypted_data_keys,
        )
        self.header = sealed.header
        self.encryption_context = dict(materials.encryption_context)
        self.header_bytes = sealed.header_bytes
        self._codec = sealed.codec
        self._workers = workers
        self._signer = sealed.signer
        self._footer_bytes = 0 if sealed.signer is None else FOOTER_LENGTH_BYTES + sealed.signer.signature_bytes
        self._declared = plaintext_length  # the length the materials were asked for (caching counts it)
        self._seen = 0
        self._buffer = PendingBytes()  # plaintext of the frame not yet full
        self._lock = threading.Lock()  # held by the call in progress: a second thread is refused
        self._sequence = 1
        self._header_sent = False
        self._error: BustaError | None = None
        self._finished = False

    def __reduce__(self) -> NoReturn:
        # Also refuses copy.copy: a copy would seal its next frames under the same key and IVs.
        refuse_pickling(self)

    @property
    def frame_length(self) -> int:
        return self._codec.frame_length

    # -- sizes ---------------------------------------------------------------------------------

    def update_size(self, length: int, *, more: bool = False) -> int:
        """Exactly how many bytes ``update(data, more=more)`` writes for ``len(data) == length``."""
        return (0 if self._header_sent else len(self.header_bytes)) + self._frames_now(length, more) * self._codec.step

    def _frames_now(self, length: int, more: bool) -> int:
        """How many frames an update of ``length`` bytes seals: all that are full when ``more`` plaintext
        is known to follow, else all but the last bytes (1 to a frame), which may be the final frame."""
        total = self._buffer.length + length
        return total // self._codec.frame_length if more else max(0, (total - 1) // self._codec.frame_length)

    def finalize_size(self) -> int:
        """Exactly how many bytes ``finalize()`` writes."""
        header = 0 if self._header_sent else len(self.header_bytes)
        return header + final_frame_overhead + self._buffer.length + self._footer_bytes

    def message_size(self, plaintext_length: int) -> int:
        """The length of the whole message for a plaintext of ``plaintext_length`` bytes (before any update)."""
        body = framed_body_length(plaintext_length, self._codec.frame_length)
        return len(self.header_bytes) + body + self._footer_bytes

    # -- feeding -------------------------------------------------------------------------------

    def update(self, data: bytes | bytearray | memoryview, *, more: bool = False) -> bytes:
        """Encrypt more plaintext; return the message bytes that are ready.

        ``more=True`` says that more plaintext follows (a caller that reads ahead knows): every full
        frame is sealed now, none is held back as a possible final frame. If none follows after all,
        the final frame is empty, which the format allows and every SDK reads.
        """
        src = memoryview(data).cast("B")
        out = OutputBuffer(self.update_size(len(src), more=more))
        written = self._update_into(src, out.view, more)
        return out.finish(written)

    def update_into(
        self, data: bytes | bytearray | memoryview, out: bytearray | memoryview, *, more: bool = False
    ) -> int:
        """Encrypt more plaintext into ``out`` (at least :meth:`update_size` bytes); return bytes written."""
        view = writable_view(out)
        return self._update_into(memoryview(data).cast("B"), view, more)

    def _update_into(self, src: memoryview, out: memoryview, more: bool) -> int:
        self._claim()
        try:
            if len(out) < self.update_size(len(src), more=more):
                raise UsageError("the output buffer is smaller than update_size()")
            self._count(len(src))
            try:
                return self._update(src, out, self._frames_now(len(src), more))
            except BustaError as exc:
                self._error = exc
                raise
        finally:
            self._lock.release()

    def _count(self, length: int) -> None:
        """Count ``length`` more bytes of plaintext, or fail for good if that is more than was declared."""
        if self._declared is not None and self._seen + length > self._declared:
            self._error = UsageError(f"more plaintext than the {self._declared} bytes declared for this message")
            raise self._error
        self._seen += length

    def finish_size(self, length: int) -> int:
        """Exactly how many bytes ``finish_into(data)`` writes for ``len(data) == length``."""
        header = 0 if self._header_sent else len(self.header_bytes)
        body = framed_body_length(self._buffer.length + length, self._codec.frame_length)
        return header + body + self._footer_bytes

    def finish_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """The last plaintext and the end of the message in one call: the bytes ``update_into(data)``
        and then ``finalize_into()`` write, into ``out`` (at least :meth:`finish_size` bytes); return
        how many. The last bytes of ``data`` are sealed as the final frame where they lie (beside the
        regular frames before them), not held back and copied first."""
        return self._finish_into(memoryview(data).cast("B"), writable_view(out))

    def _finish_into(self, src: memoryview, out: memoryview) -> int:
        self._claim()
        try:
            if len(out) < self.finish_size(len(src)):
                raise UsageError("the output buffer is smaller than finish_size()")
            self._count(len(src))
            return self._last(functools.partial(self._finish_with, src, out))
        finally:
            self._lock.release()

    def _finish_with(self, src: memoryview, out: memoryview) -> int:
        if self._buffer.length:  # held bytes come first: sealed as update and finalize seal them
            pos = self._update(src, out, self._frames_now(len(src), False))
            return pos + self._finish(out[pos:])
        pos = self._emit_header(out)
        return pos + self._seal_body(src, out[pos:])

    def _last(self, write: Callable[[], int]) -> int:
        """Run the call that ends the message (the lock held): its failure is kept for every later
        call; once it succeeded, the held bytes are freed and the encryptor is finished."""
        try:
            pos = write()
        except BustaError as exc:
            self._error = exc
            raise
        self._buffer.release()
        self._finished = True
        return pos

    def finalize(self) -> bytes:
        """Write the final frame (and footer); return the remaining message bytes."""
        out = OutputBuffer(self.finalize_size())
        written = self._finalize_into(out.view)
        return out.finish(written)

    def finalize_into(self, out: bytearray | memoryview) -> int:
        """Write the final frame (and footer) into ``out`` (at least :meth:`finalize_size` bytes)."""
        return self._finalize_into(writable_view(out))

    def seal_whole_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """The whole message of plaintext ``data`` into ``out`` (at least :meth:`message_size` bytes) in
        one call, the encryptor's only one; return its length. The bytes are those of ``update`` and
        ``finalize``; the final frame is sealed beside the last regular frames, not after them."""
        return self._seal_whole_into(memoryview(data).cast("B"), writable_view(out))

    def _seal_whole_into(self, src: memoryview, out: memoryview) -> int:
        self._claim()
        try:
            if self._header_sent:
                raise UsageError("seal_whole_into() is the only call of an encryptor")
            if len(out) < self.message_size(len(src)):
                raise UsageError("the output buffer is smaller than message_size()")
            if self._declared is not None and len(src) != self._declared:
                raise UsageError(f"the plaintext is not the {self._declared} bytes declared for this message")
            try:
                pos = self._emit_header(out)
                pos += self._seal_body(src, out[pos:])
            except BustaError as exc:
                self._error = exc
                raise
            self._finished = True
        finally:
            self._lock.release()
        return pos

    def _seal_body(self, src: memoryview, out: memoryview) -> int:
        """Seal all of ``src`` as the message's frames (and footer); return the bytes written."""
        codec = self._codec
        frame, step = codec.frame_length, codec.step
        count, _ = frame_split(len(src), frame)
        beside = self._signer is None or overlaps(self._workers, count * frame)
        if not count or not beside:  # hashed in order on this thread: the regular frames, then the final
            pos = self._seal(src, out, count) if count else 0
            return pos + self._seal_final(src[count * frame :], out[pos:])
        first = self._next_sequence(count)
        final_seq = self._next_sequence(1, final=True)
        final = functools.partial(codec.seal_final, final_seq, src[count * frame :], out[count * step :])
        pos = count * step + final_frame_overhead + len(src) - count * frame
        if self._signer is None:
            self._seal_run(first, src, out, count, final=final)
            return pos
        self._seal_and_hash(first, src, out, count, final=(final, pos))
        return pos + self._sign(out[pos:])

    def _finalize_into(self, out: memoryview) -> int:
        self._claim()
        try:
            if len(out) < self.finalize_size():
                raise UsageError("the output buffer is smaller than finalize_size()")
            return self._last(functools.partial(self._finish, out))
        finally:
            self._lock.release()

    def _finish(self, out: memoryview) -> int:
        pos = self._emit_header(out)
        with self._buffer.view() as pending:
            return pos + self._seal_final(pending, out[pos:])

    def _seal_final(self, content: memoryview, out: memoryview) -> int:
        """Seal the final frame of ``content`` (and the footer); return the bytes written."""
        pos = self._codec.seal_final(self._next_sequence(1, final=True), content, out)
        if self._signer is not None:
            self._signer.update(out[:pos])
            pos += self._sign(out[pos:])
        return pos

    def _sign(self, out: memoryview) -> int:
        """Write the footer of a signed message whose bytes were all hashed; return its length."""
        assert self._signer is not None
        footer = serialize_footer(self._signer.sign())
        out[: len(footer)] = footer
        return len(footer)

    def _claim(self) -> None:
        """Take the encryptor for this call, or raise (another thread's call in progress, an earlier error)."""
        if not self._lock.acquire(blocking=False):
            self._error = UsageError("the encryptor is in use by another thread; give each thread its own")
            raise self._error
        if self._error is not None or self._finished:
            self._lock.release()
            raise self._error or UsageError("the encryptor is finalized")

    def _emit_header(self, out: memoryview) -> int:
        if self._header_sent:
            return 0
        self._header_sent = True
        out[: len(self.header_bytes)] = self.header_bytes
        return len(self.header_bytes)

    def _next_sequence(self, count: int, *, final: bool = False) -> int:
        """Number ``count`` frames; regular frames leave room for the final frame after them, so that
        none is numbered 0xFFFFFFFF, the final-frame marker."""
        first = self._sequence
        frames = first + count - (1 if final else 0)  # the frame count once the message is finished
        if frames > MAX_FRAMES:
            raise LimitExceededError("frame count", frames, MAX_FRAMES)
        self._sequence = first + count
        return first

    def _update(self, src: memoryview, out: memoryview, frames: int) -> int:
        """Seal ``frames`` frames of what is held and ``src``; hold the rest."""
        frame = self._codec.frame_length
        pos = self._emit_header(out)
        pending = self._buffer
        if not frames:
            pending.append(src)
            return pos
        if pending.length:
            need = frame - pending.length
            pending.append(src[:need])
            src = src[need:]
            with pending.view() as full:
                pos += self._seal(full, out[pos:], 1)
            pending.drop(frame)
            frames -= 1
        if frames:
            pos += self._seal(src, out[pos:], frames)
        pending.append(src[frames * frame :])
        return pos

    def _seal(self, src: memoryview, out: memoryview, count: int) -> int:
        """Seal ``count`` regular frames; hash them for signed suites. Returns bytes written."""
        first = self._next_sequence(count)
        step, frame = self._codec.step, self._codec.frame_length
        if self._signer is not None and overlaps(self._workers, count * frame):
            self._seal_and_hash(first, src, out, count)
            return count * step
        self._seal_run(first, src, out, count)
        if self._signer is not None:
            self._signer.update(out[: count * step])
        return count * step

    def _seal_run(
        self, first: int, src: memoryview, out: memoryview, count: int, *, final: Callable[[], object] | None = None
    ) -> None:
        """Seal ``count`` frames numbered from ``first``, in parts across the workers (``final`` after the
        last part, on its thread)."""
        codec = self._codec
        frame, step = codec.frame_length, codec.step

        def part(a: int, b: int) -> None:
            codec.seal_regular(first + a, src[a * frame : b * frame], out[a * step : b * step], b - a)

        split_run(part, count, frame, self._workers, final=final)

    def _seal_and_hash(
        self,
        first: int,
        src: memoryview,
        out: memoryview,
        count: int,
        *,
        final: tuple[Callable[[], object], int] | None = None,
    ) -> None:
        """Seal slices on one worker while this thread hashes each sealed slice, in order; with
        ``final`` (what seals the final frame after the regular ones, and where it ends in ``out``),
        the worker seals it too, so that only the hashing of its bytes follows the last slice.

        The worker never waits for this thread: an exception raised here at any point (a signal's
        KeyboardInterrupt included) cannot leave it blocked, so the pool and the interpreter's exit
        never hang on it. It stops at the next slice once ``stop`` is set."""
        signer, codec = self._signer, self._codec
        assert signer is not None
        step, frame = codec.step, codec.frame_length
        per_slice = max(1, _HASH_SLICE_BYTES // step)
        jobs: list[tuple[Callable[[], object], int, int]] = [
            (
                functools.partial(
                    codec.seal_regular, first + a, src[a * frame : b * frame], out[a * step : b * step], b - a
                ),
                a * step,
                b * step,
            )
            for a, b in itertools.pairwise([*range(0, count, per_slice), count])
        ]
        if final is not None:
            jobs.append((final[0], count * step, final[1]))
        sealed = [threading.Event() for _ in jobs]
        stop, failed = threading.Event(), threading.Event()

        def seal_in_order() -> None:
            try:
                for (seal, _, _), ready in zip(jobs, sealed, strict=True):
                    if stop.is_set():
                        return
                    seal()
                    ready.set()
            except BaseException:
                failed.set()  # before the events: this thread then stops waiting and raises it below
                for ready in sealed:
                    ready.set()
                raise

        assert self._workers is not None
        sealing = self._workers.submit(seal_in_order)
        try:
            for (_, a, b), ready in zip(jobs, sealed, strict=True):
                ready.wait()
                if failed.is_set():
                    break
                signer.update(out[a:b])
        finally:
            stop.set()
            sealing.result()
