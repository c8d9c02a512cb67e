"""Opening one message's body once its header authenticated: frames (or one block), then the footer.

The decryptor hands each call's bytes here after the header; what comes back is
plaintext that authenticated. Random access opens frames here too, out of order,
without moving the stage.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from typing import NoReturn

from .._frozen import record
from .._secrets import refuse_pickling
from ..crypto.frames import FrameCodec
from ..crypto.signing import Verifier
from ..errors import LimitExceededError, MalformedMessageError, UsageError
from ..format import ContentType, Header
from ..format.body import (
    FINAL_FRAME_STRING,
    SINGLE_BLOCK_STRING,
    FrameHead,
    missing_bytes,
    parse_footer,
    parse_frame_head,
    parse_nonframed_head,
    regular_frames_at,
)
from ..limits import MAX_FRAMES
from .header import OpenedHeader
from .workers import Workers, overlaps, split_run

__all__ = ["BodyOpener", "Stage", "no_room"]


class Stage(enum.Enum):
    BODY = "in the body"
    FOOTER = "before the signature footer"
    DONE = "done"


class BodyOpener:
    """Opens the body of one message whose header ``opened`` authenticated."""

    __slots__ = ("_codec", "_framed", "_held", "_max_nonframed", "_sequence", "_verifier", "_workers", "stage")

    def __init__(self, opened: OpenedHeader, header: Header, *, workers: Workers | None, max_nonframed: int):
        self._codec = opened.codec
        self._verifier = opened.verifier
        self._framed = header.content_type is ContentType.FRAMED
        self._workers = workers
        self._max_nonframed = max_nonframed
        self._sequence = 1
        self._held = bytearray()  # a signed message's last plaintext, until the signature verified
        self.stage = Stage.BODY

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    @property
    def step(self) -> int | None:
        """Bytes of one regular frame on the wire (None: non-framed)."""
        return self._codec.step if self._framed else None

    @property
    def held(self) -> int:
        return len(self._held)

    def wanted(self, held: memoryview) -> int:
        """How many more bytes the unit that starts with ``held`` needs at most."""
        if self.stage is Stage.DONE:
            return 1
        if self.stage is Stage.FOOTER:
            return missing_bytes(held, "footer")
        if not self._framed:
            return missing_bytes(held, "nonframed")
        return missing_bytes(held, "frame", self._codec.step)

    def process(self, view: memoryview, pos: int, out: memoryview, base: int) -> tuple[int, int]:
        """Open what is complete in ``view`` from ``pos`` (``base``: where ``view`` starts in the message)."""
        produced = 0
        if self.stage is Stage.BODY:
            if self._framed:
                pos, produced = self._frames(view, pos, out, base)
            else:
                pos, produced = self._single_block(view, pos, out, base)
        if self.stage is Stage.FOOTER:
            pos, produced = self._footer(view, pos, out, produced)
        return pos, produced

    def _frames(self, view: memoryview, pos: int, out: memoryview, base: int) -> tuple[int, int]:
        codec = self._codec
        produced = 0
        while self.stage is Stage.BODY:
            room = (len(out) - produced) // codec.frame_length
            count = regular_frames_at(view, pos, codec.step, room + 1)
            if count > room:
                raise no_room()
            if count:
                end = pos + count * codec.step
                final = self._final_beside(view, end, out[produced + count * codec.frame_length :], base)
                self._open_run(view[pos:end], out[produced:], count, base + pos, final=final)
                pos, produced = end, produced + count * codec.frame_length
                if final is None:
                    continue
                pos += final.head.total_length  # opened with the run's last part
                if self._verifier is not None:  # its plaintext held until the signature verified
                    self.stage = Stage.FOOTER
                    return pos, produced
                self.stage = Stage.DONE
                return pos, produced + final.head.content_length
            head = parse_frame_head(view, pos, codec.frame_length)
            if head is None or not head.final or pos + head.total_length > len(view):
                break
            produced += self._open_last(view, pos, head, FINAL_FRAME_STRING, out[produced:], base=base)
            pos += head.total_length
        return pos, produced

    def _single_block(self, view: memoryview, pos: int, out: memoryview, base: int) -> tuple[int, int]:
        head = parse_nonframed_head(view, pos)
        if head is None:
            return pos, 0
        if head.content_length > self._max_nonframed:  # refused before any of it is held
            raise LimitExceededError("non-framed body length", head.content_length, self._max_nonframed)
        if pos + head.total_length > len(view):
            return pos, 0
        produced = self._open_last(view, pos, head, SINGLE_BLOCK_STRING, out, base=base)
        return pos + head.total_length, produced

    def _final_beside(self, view: memoryview, end: int, out: memoryview, base: int) -> _Final | None:
        """The final frame that follows a run of regular frames at ``end``, whole, for the run's last
        piece to open (with workers: the run may be split, or hashed on another thread while it
        opens): a signed message's final frame is hashed with the run, and its plaintext is held
        until the signature verifies."""
        if self._workers is None:
            return None
        head = parse_frame_head(view, end, self._codec.frame_length)
        if head is None or not head.final or end + head.total_length > len(view):
            return None
        if self._verifier is not None:
            self._held = bytearray(head.content_length)  # no more than the frame's bytes, which are here
            out = memoryview(self._held)
        elif len(out) < head.content_length:
            raise no_room()
        return _Final(head, view[end : end + head.total_length], out, base + end)

    def _open_run(
        self, run: memoryview, out: memoryview, count: int, base: int, *, final: _Final | None = None
    ) -> None:
        """Open ``count`` regular frames (in parallel when it pays; ``final`` too, in the last part) and
        hash them for signed suites."""
        first = self._sequence
        if first + count - 1 > MAX_FRAMES:
            raise MalformedMessageError("more frames than the format allows", field="sequence number")
        busy: list[Callable[[], None]] = []
        hash_run = None
        if self._verifier is not None:  # what the signature covers: the run, then the final frame with it
            hash_run = functools.partial(_hash, self._verifier, (run,) if final is None else (run, final.frame))
            if overlaps(self._workers, count * self._codec.frame_length):
                busy.append(hash_run)  # hashed while the frames open
                hash_run = None
        self._open_parts(first, run, out, count, base=base, busy=busy, final=final)
        if hash_run is not None:
            hash_run()
        self._sequence = first + count

    def _open_parts(
        self,
        first: int,
        run: memoryview,
        out: memoryview,
        count: int,
        *,
        base: int,
        busy: Sequence[Callable[[], None]] = (),
        final: _Final | None = None,
    ) -> None:
        """Open ``count`` frames from number ``first`` (then ``final``), in as many parts as the workers
        allow besides the ``busy`` tasks."""
        codec = self._codec
        frame, step = codec.frame_length, codec.step

        def part(a: int, b: int) -> None:
            codec.open_regular(first + a, run[a * step : b * step], out[a * frame : b * frame], b - a, base + a * step)

        last = None if final is None else functools.partial(final.open, codec, first + count)
        split_run(part, count, frame, self._workers, busy=busy, final=last)

    def _open_last(
        self, view: memoryview, pos: int, head: FrameHead, content: bytes, out: memoryview, *, base: int
    ) -> int:
        """Open the final frame (or non-framed body); hold its plaintext for signed suites."""
        frame = view[pos : pos + head.total_length]
        offset = base + pos
        if self._verifier is None:
            if len(out) < head.content_length:
                raise no_room()
            self._codec.open_block(head, self._sequence, content, frame, out, offset=offset)
            self.stage = Stage.DONE
            return head.content_length
        self._held = bytearray(head.content_length)
        with memoryview(self._held) as held:
            self._codec.open_block(head, self._sequence, content, frame, held, offset=offset)
        self._verifier.update(frame)
        self.stage = Stage.FOOTER
        return 0

    def _footer(self, view: memoryview, pos: int, out: memoryview, produced: int) -> tuple[int, int]:
        found = parse_footer(view, pos)
        if found is None:
            return pos, produced
        signature, length = found
        assert self._verifier is not None
        self._verifier.verify(signature)
        if len(out) - produced < len(self._held):
            raise no_room()
        out[produced : produced + len(self._held)] = self._held
        produced += len(self._held)
        self._held = bytearray()
        self.stage = Stage.DONE
        return pos + length, produced

    # -- random access -----------------------------------------------------------------------------

    def open_frames(self, first_sequence: int, data: memoryview, out: memoryview, count: int, offset: int) -> None:
        self._open_parts(first_sequence, data, out, count, base=offset)

    def open_final_frame(self, data: memoryview, out: memoryview, sequence: int, offset: int) -> int:
        head = parse_frame_head(data, 0, self._codec.frame_length)
        if head is None or not head.final:
            raise MalformedMessageError("no final frame where the layout puts it", offset=offset)
        self._codec.open_block(head, sequence, FINAL_FRAME_STRING, data, out, offset=offset)
        return head.content_length


@record
class _Final:
    """A whole final frame to open beside the regular frames before it."""

    head: FrameHead
    frame: memoryview
    out: memoryview
    offset: int

    def open(self, codec: FrameCodec, sequence: int) -> None:
        codec.open_block(self.head, sequence, FINAL_FRAME_STRING, self.frame, self.out, offset=self.offset)


def _hash(verifier: Verifier, pieces: Sequence[memoryview]) -> None:
    for piece in pieces:
        verifier.update(piece)


def no_room() -> UsageError:
    return UsageError("the output buffer is too small for the plaintext; size it with output_bound()")
