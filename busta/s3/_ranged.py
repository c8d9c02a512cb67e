"""A download in several ranged GETs at once, each range authenticated by random access, written into place.

Used by :func:`busta.s3.download_file` for framed, unsigned, uncompressed objects of at least
``multipart_threshold`` bytes. Every other object (signed: random access cannot check a
signature; compressed; non-framed; frames longer than a range; small) is left to the
sequential download, which :func:`plan` says before any key is asked for.

The GETs are those of boto3's ranged download: the first range (which holds the header,
read by :func:`plan`), then the others, whole frames each, the last of which holds the final
frame. No GET of its own for the header or for the tail that locates the final frame.
"""

from __future__ import annotations

import concurrent.futures
import errno
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from .._frozen import record
from ..api import Client, StreamResult
from ..compression import COMPRESSION_CONTEXT_KEY
from ..errors import MalformedMessageError, TruncatedMessageError
from ..format import ContentType, parse_header
from ..format.layout import final_frame_overhead, regular_frame_size
from ..materials import CryptoMaterialsManager, Keyring
from ..streaming.driver import Decrypting
from ..streaming.random_access import SeekableDecryptingReader
from ._calls import call, fetch_range, fetch_range_into
from ._progress import ProgressCallback

__all__ = ["RangedPlan", "download_ranges", "plan"]


@record
class RangedPlan:
    """What a download found before deciding: the object's size and ETag, its first bytes (the first
    range: the header and the frames after it), where the header ends and the frame length it
    declares (as parsed, not yet authenticated; 0 when not read), and ``sequential`` (why it is not
    downloaded in ranges, or None when it is)."""

    bucket: str
    key: str
    size: int
    etag: str
    prefix: bytes
    sequential: str | None
    header_length: int = 0
    frame_length: int = 0


def plan(
    client: Any, bucket: str, key: str, *, sdk: Client, request: Mapping[str, Any], threshold: int, range_size: int
) -> RangedPlan:
    """HeadObject, then (for an object of ``threshold`` bytes or more) its first range of ``range_size``
    bytes, whose header is parsed but not yet authenticated: enough to choose between ranges and the
    sequential download, which then goes on from where that range ends."""
    head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, **request)
    size, etag = int(head["ContentLength"]), str(head["ETag"])
    if size < threshold:
        return RangedPlan(bucket, key, size, etag, b"", f"smaller than multipart_threshold ({threshold} bytes)")
    # A range of plaintext is a little more than a range of ciphertext: an object of one range and its
    # frames' overhead (at most 1/64 more, as busta.s3 sizes the parts of such an upload) comes whole.
    want = size if size <= range_size + range_size // 64 else range_size
    while True:
        prefix = fetch_range(client, bucket, key, 0, want, etag=etag, size=size, request=request)
        parsed = parse_header(
            prefix, max_encrypted_data_keys=sdk.max_encrypted_data_keys, max_header_bytes=sdk.max_header_bytes
        )
        if parsed is not None:
            break
        if want >= min(size, sdk.max_header_bytes + 1):
            raise TruncatedMessageError("the message ended in its header")
        want = min(size, want * 4, sdk.max_header_bytes + 1)
    header = parsed.header
    found = RangedPlan(bucket, key, size, etag, prefix, None, parsed.length, header.frame_length)
    if header.suite.signed:
        return _sequential(found, "signed: only a sequential read can check the signature")
    if COMPRESSION_CONTEXT_KEY in header.encryption_context:
        return _sequential(found, "compressed: only a sequential read can decompress")
    if header.content_type is not ContentType.FRAMED:
        return _sequential(found, "non-framed")
    if header.frame_length > range_size:
        return _sequential(found, f"frames of {header.frame_length} bytes are longer than a range ({range_size} bytes)")
    return found


def _sequential(found: RangedPlan, why: str) -> RangedPlan:
    return RangedPlan(found.bucket, found.key, found.size, found.etag, found.prefix, why)


@record
class _Layout:
    """Where the frames of an unsigned framed message of ``size`` bytes are, from its header's length
    and frame length alone (nothing here is authenticated: the reader checks the final frame is
    where this says, and every frame's sequence number and tag are checked when it is opened)."""

    body_start: int
    frame: int
    step: int
    regular: int  # regular frames; the final frame is frame number ``regular`` (0-based)
    size: int

    def start(self, frame: int) -> int:
        """Where frame ``frame`` starts in the message (the final frame: where it starts, to the end)."""
        return self.body_start + frame * self.step

    def stop(self, frame: int) -> int:
        """Where the frames before ``frame`` end (``regular + 1``: the message's end)."""
        return self.size if frame > self.regular else self.start(frame)


def _layout(found: RangedPlan) -> _Layout:
    step = regular_frame_size(found.frame_length)
    regular = max(0, (found.size - found.header_length - final_frame_overhead) // step)
    return _Layout(found.header_length, found.frame_length, step, regular, found.size)


def _pieces(layout: _Layout, prefix: int, range_size: int) -> list[tuple[int, int]]:
    """The frames ``[a, b)`` of each GET: first those wholly in the first ``prefix`` bytes (already
    fetched), then the rest in as many ranges as ranges of ``range_size`` plaintext bytes would make of
    the whole message (boto3's count for the same plaintext), of whole frames each; the last range
    ends with the final frame (frame number ``regular``)."""
    frames = layout.regular + 1
    held = frames if prefix >= layout.size else min(layout.regular, max(0, (prefix - layout.body_start) // layout.step))
    rest = frames - held
    if rest == 0:
        return [(0, held)]
    per = max(1, range_size // layout.frame)
    count = min(rest, max(1, -(-frames // per) - 1))
    bounds = [held + rest * i // count for i in range(count + 1)]
    return [(0, held), *itertools.pairwise(bounds)]


class _Buffers(threading.local):
    """Each thread's ciphertext and plaintext buffers for a range of at most ``frames`` frames, made on
    its first use and reused from one range to the next (a fresh buffer of a whole range costs a page
    fault per 4 KiB, each time)."""

    def __init__(self, frames: int, layout: _Layout) -> None:
        self._sizes = (frames * layout.step, frames * layout.frame)
        self._sealed: bytearray | None = None
        self._plain: bytearray | None = None

    def sealed(self) -> memoryview:
        if self._sealed is None:
            self._sealed = bytearray(self._sizes[0])
        return memoryview(self._sealed)

    def plain(self) -> memoryview:
        if self._plain is None:
            self._plain = bytearray(self._sizes[1])
        return memoryview(self._plain)


def download_ranges(
    found: RangedPlan,
    out: IO[bytes],
    *,
    client: Any,
    sdk: Client,
    keyring: Keyring | None,
    materials_manager: CryptoMaterialsManager | None,
    encryption_context: Mapping[str, str] | None,
    request: Mapping[str, Any],
    range_size: int,
    max_concurrency: int,
    callback: ProgressCallback | None,
) -> StreamResult:
    """Decrypt ``found`` into the regular file ``out`` in ranges of whole frames, ``max_concurrency`` at once.

    The first range is ``found.prefix``. The last range (which ends with the final frame) is
    fetched first, with the next ones; nothing is written until the header and the final frame
    have authenticated (that proves the plaintext length, which sizes ``out``: a message cut
    short fails here, before a byte is written). Then each range's frames (every GET pinned to
    the ETag) are authenticated with their sequence numbers and written at their plaintext
    offset. It returns only when every frame has authenticated; on any error (or an exception
    from ``callback``) the ranges in flight are waited for and the error raised (the caller
    removes the file).
    """
    decryptor = sdk.start_decryption(
        keyring=keyring, materials_manager=materials_manager, encryption_context=encryption_context
    )
    download = _Download(found, out.fileno(), range_size, client=client, request=request, decryptor=decryptor)
    pieces = download.pieces
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="busta-s3-get")
    try:
        first, *middle = pieces
        last = middle.pop() if middle else None
        fetching = None if last is None else pool.submit(download.fetch_last, last)
        early = max(0, max_concurrency - 1)  # the next ranges are fetched meanwhile (and wait to be written)
        running = {pool.submit(download.piece, bounds) for bounds in middle[:early]}
        reader = download.open(last, fetching)  # the header and the final frame, authenticated
        for done in download.write_held(first, last):
            if callback is not None and done:
                callback(done)
        _run(download.piece, iter(middle[early:]), max_concurrency, callback, pool=pool, running=running)
        return StreamResult(reader.header, dict(reader.encryption_context), reader.length)
    finally:
        download.ready.set()
        pool.shutdown(wait=True, cancel_futures=True)  # no thread may write to the file once it is closed


class _Download:
    """The state the ranges of one download share: the layout, the ranges held (the first, and the last
    once fetched), the reader once made, each thread's buffers, and the output file's descriptor."""

    def __init__(
        self,
        found: RangedPlan,
        fd: int,
        range_size: int,
        *,
        client: Any,
        request: Mapping[str, Any],
        decryptor: Decrypting,
    ) -> None:
        self.found, self.fd, self._client, self._request, self._decryptor = found, fd, client, request, decryptor
        self.layout = _layout(found)
        self.pieces = _pieces(self.layout, len(found.prefix), range_size)
        self.widest = max(b - a for a, b in self.pieces)
        self.held: dict[str, tuple[int, memoryview]] = {"first": (0, memoryview(found.prefix))}
        self.ready = threading.Event()  # set once the reader is made (or failed: then ``opened`` stays empty)
        self.opened: list[SeekableDecryptingReader] = []
        self._buffers = _Buffers(self.widest, self.layout)

    def get(self, first: int, into: memoryview) -> memoryview:
        """Message bytes ``[first, first + len(into))`` fetched into ``into``."""
        found = self.found
        got = fetch_range_into(
            self._client, found.bucket, found.key, first, into, etag=found.etag, size=found.size, request=self._request
        )
        return into[:got]

    def fetch(self, first: int, stop: int) -> bytes:
        """The reader's fetches (the header, the tail with the final frame): from the ranges held, if they hold them."""
        for start, data in self.held.values():
            if start <= first and stop <= start + len(data):
                return bytes(data[first - start : stop - start])
        if "last" in self.held:  # across the two: the last range is short and the first reaches it
            (_, head), (start, tail) = self.held["first"], self.held["last"]
            if first < start <= len(head) and stop <= start + len(tail):
                return bytes(head[first:start]) + bytes(tail[: stop - start])
        found = self.found
        return fetch_range(
            self._client, found.bucket, found.key, first, stop, etag=found.etag, size=found.size, request=self._request
        )

    def fetch_last(self, bounds: tuple[int, int]) -> memoryview:
        start = self.layout.start(bounds[0])
        return self.get(start, memoryview(bytearray(self.layout.stop(bounds[1]) - start)))

    def open(
        self, last: tuple[int, int] | None, fetching: concurrent.futures.Future[memoryview] | None
    ) -> SeekableDecryptingReader:
        """Once the ``last`` range is here: the reader (the header and the final frame authenticated),
        and the file sized."""
        try:
            if last is not None and fetching is not None:
                self.held["last"] = (self.layout.start(last[0]), fetching.result())
            reader = SeekableDecryptingReader(self.fetch, self.found.size, self._decryptor)
            _check_layout(reader, self.layout, self.found)
            os.ftruncate(self.fd, reader.length)  # the length the final frame proved, within the object's size
            self.opened.append(reader)
            return reader
        finally:
            self.ready.set()

    def write_held(self, first: tuple[int, int], last: tuple[int, int] | None) -> list[int]:
        """Write the frames of the first and the last range (held here); return the plaintext bytes
        each wrote."""
        plain = memoryview(bytearray(self.widest * self.layout.frame))
        done = [self.write(*first, self.held["first"][1][self.layout.start(0) :], plain)]
        if last is not None:
            done.append(self.write(*last, self.held["last"][1], plain))
        self.held.clear()  # their memory goes
        return done

    def piece(self, bounds: tuple[int, int]) -> int:
        """Fetch frames ``bounds`` into this thread's buffer; once the reader is made, open and write them."""
        a, b = bounds
        layout = self.layout
        sealed = self.get(layout.start(a), self._buffers.sealed()[: layout.stop(b) - layout.start(a)])
        self.ready.wait()
        if not self.opened:
            return 0  # the header or the final frame failed: nothing is written
        return self.write(a, b, sealed, self._buffers.plain())

    def write(self, a: int, b: int, sealed: memoryview, plain: memoryview) -> int:
        """Open frames ``[a, b)`` from ``sealed`` (the message bytes from where frame ``a`` starts) into
        ``plain`` and write them at their offset; return the plaintext bytes written."""
        layout, reader = self.layout, self.opened[0]
        regular = max(0, min(b, layout.regular) - a)
        if regular:
            opens = plain[: regular * layout.frame]
            self._decryptor.open_frames(a + 1, sealed[: regular * layout.step], opens, regular, offset=layout.start(a))
            _pwrite_all(self.fd, opens, a * layout.frame)
        written = regular * layout.frame
        if b > layout.regular:  # the final frame: opened (authenticated) when the reader was made
            final = reader.read_range(layout.regular * layout.frame, reader.length)
            _pwrite_all(self.fd, final, layout.regular * layout.frame)
            written += len(final)
        return written


def _check_layout(reader: SeekableDecryptingReader, layout: _Layout, found: RangedPlan) -> None:
    """The reader (which authenticated the header and the final frame) agrees with the layout the
    ranges were cut by: the same frame length, and a final frame after exactly ``regular`` frames."""
    final = found.size - layout.start(layout.regular) - final_frame_overhead
    if reader.header.frame_length != layout.frame or reader.length != layout.regular * layout.frame + final:
        raise MalformedMessageError("the message's frames are not where its header and size put them")


def _run(
    piece: Callable[[tuple[int, int]], int],
    todo: Iterator[tuple[int, int]],
    max_concurrency: int,
    callback: ProgressCallback | None,
    *,
    pool: concurrent.futures.ThreadPoolExecutor,
    running: set[concurrent.futures.Future[int]],
) -> None:
    """``piece(bounds)`` for every bounds, at most ``max_concurrency`` at once (``running`` already are);
    ``callback`` (here, in this thread) with each result. The first error stops it: nothing new starts;
    the caller waits for what runs (it shuts ``pool`` down)."""
    for bounds in todo:
        if len(running) >= max_concurrency:
            running = _reap(running, callback)
        running.add(pool.submit(piece, bounds))
    while running:
        running = _reap(running, callback)


def _reap(
    running: set[concurrent.futures.Future[int]], callback: ProgressCallback | None
) -> set[concurrent.futures.Future[int]]:
    done, left = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
    for future in done:
        written = future.result()
        if callback is not None:
            callback(written)
    return left


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:  # pragma: no cover - a regular file takes what it is given
            raise OSError(errno.EIO, "the output file took no bytes")
        view, offset = view[written:], offset + written
