"""Output buffers that become ``bytes`` without a copy, and input held back between calls.

An API that returns ``bytes`` would normally fill a ``bytearray`` and copy it
into a new ``bytes`` object: for large messages that copy (and the fresh pages
it touches) costs more than AES-GCM itself. On CPython this module does what C
extensions do: it asks the C API for an uninitialized ``bytes`` object, fills it
through a writable view, and hands it out only once it is complete. The object
is never visible to other code while it is written. Elsewhere it falls back to
a ``bytearray`` and one copy.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    import ctypes

__all__ = ["OutputBuffer", "PendingBytes", "room_for", "writable_view"]

_ZERO_COPY = sys.implementation.name == "cpython"
#: Below this size the copy costs less than the C-API calls that avoid it (about 2 us): a 1 KiB message
#: is filled in a ``bytearray`` and copied out.
_ZERO_COPY_MIN_BYTES = 64 << 10
#: An :class:`OutputBuffer` smaller than this is copied out by :meth:`OutputBuffer.finish` in any case:
#: sizing it exactly (to avoid that copy) buys nothing there.
COPIED_OUTPUT_BYTES = _ZERO_COPY_MIN_BYTES if _ZERO_COPY else 1 << 62

#: Fresh outputs this large are mapped anew by the C library on every call, and each of their 4 KiB
#: pages then faults in when first written (1.5 to 3 us each on a VM: about as long as AES-GCM takes
#: over the page). Their 2 MiB-aligned interior is marked for transparent huge pages: 512 times
#: fewer faults (docs/benchmarks.md, target 4). Where the kernel does not offer them nothing changes.
_HUGE_PAGE_MIN_BYTES = 32 << 20
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14


class _CApi:
    """The C functions an uninitialized ``bytes`` is made and advised with. ctypes takes about a
    twentieth of ``import busta``, so they are looked up when the first such buffer is made."""

    __slots__ = ("bytes_address", "char", "madvise", "new_bytes")

    def __init__(self) -> None:
        import ctypes  # noqa: PLC0415 - on first use: see the class's text

        self.char = ctypes.c_char
        self.new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
        self.new_bytes.restype = ctypes.py_object
        self.new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
        self.bytes_address = ctypes.pythonapi.PyBytes_AsString
        self.bytes_address.restype = ctypes.c_void_p
        self.bytes_address.argtypes = [ctypes.py_object]
        self.madvise: Any = None
        if sys.platform == "linux":
            try:
                self.madvise = ctypes.CDLL(None, use_errno=True).madvise
                self.madvise.restype = ctypes.c_int
                self.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            except (OSError, AttributeError):  # pragma: no cover - a libc without madvise
                self.madvise = None


#: The one :class:`_CApi`, made by the first large OutputBuffer.
_c_api = functools.cache(_CApi)


def _prefer_huge_pages(api: _CApi, address: int, size: int) -> None:
    """Ask for huge pages over the whole 2 MiB pages inside ``[address, address + size)`` (advice only)."""
    start = -(-address // _HUGE_PAGE) * _HUGE_PAGE
    end = (address + size) // _HUGE_PAGE * _HUGE_PAGE
    if api.madvise is not None and end > start:
        api.madvise(start, end - start, _MADV_HUGEPAGE)  # a refusal (EINVAL where THP is off) changes nothing


def writable_view(out: object) -> memoryview:
    """``out`` as a writable view of bytes: the engines write through slices of it, and a slice of a
    ``bytearray`` itself would be a copy (the plaintext or message written into it lost)."""
    try:
        view = memoryview(out).cast("B")  # type: ignore[arg-type]
    except TypeError:
        raise UsageError("the output must be a writable, contiguous buffer (a bytearray or memoryview)") from None
    if view.readonly:
        raise UsageError("the output buffer is read-only")
    return view


def room_for(out: object, size: int) -> memoryview:
    """The first ``size`` bytes of the caller's buffer ``out``, to write into. A ``bytearray`` that is too
    small grows to ``size`` (and keeps it: reused for the next message, it stops growing); anything else
    that is too small is a :class:`UsageError`."""
    if isinstance(out, bytearray) and len(out) < size:
        try:
            out += bytes(size - len(out))  # bytes(n) is zero pages from calloc: only the copy touches them
        except BufferError:
            raise UsageError(f"the output bytearray must grow to {size} bytes but a view of it is alive") from None
    view = writable_view(out)
    if len(view) < size:
        raise UsageError(f"the output buffer holds {len(view)} bytes; this message needs {size}")
    return view[:size]


class OutputBuffer:
    """``size`` writable bytes (``view``) that :meth:`finish` turns into ``bytes``."""

    __slots__ = ("_array", "_target", "size", "view")

    def __init__(self, size: int):
        self.size = size
        self._array: ctypes.Array[ctypes.c_char] | None = None
        self._target: bytes | bytearray
        if _ZERO_COPY and size >= _ZERO_COPY_MIN_BYTES:
            api = _c_api()
            target: bytes = api.new_bytes(None, size)
            address = api.bytes_address(target)
            if size >= _HUGE_PAGE_MIN_BYTES:
                _prefer_huge_pages(api, address, size)
            self._array = (api.char * size).from_address(address)
            # The array (and so every view of it, a worker's included) owns the bytes object: the
            # memory stays valid for as long as any view exists, even one that outlives a failed call.
            setattr(self._array, "_owner", target)  # noqa: B010 - ctypes arrays take attributes
            self._target = target
            self.view = memoryview(self._array).cast("B")
        else:
            self._target = bytearray(size)
            self.view = memoryview(self._target)

    def finish(self, length: int | None = None) -> bytes:
        """Return the first ``length`` bytes (all by default) as ``bytes``; the view is released."""
        length = self.size if length is None else length
        target = self._target
        result = target if isinstance(target, bytes) and length == self.size else bytes(self.view[:length])
        self.view.release()
        self._array = None
        return result

    def discard(self) -> None:
        """Drop the buffer without handing it out (after an error)."""
        self.view.release()
        self._array = None
        self._target = b""


class PendingBytes:
    """Input bytes held back between calls (a frame that has not fully arrived, say).

    One ``bytearray`` whose first :attr:`length` bytes are held. It grows only with
    what arrives, never by a declared size: the bytes that do not fit are appended,
    so CPython's amortized over-allocation applies and a large buffer grows by
    ``realloc``, which the C library does without copying (by remapping pages).
    Dropping bytes moves the rest to the front and keeps the room, so the next unit
    of a message (its next large frame, say) reuses the pages the last one faulted
    in; :meth:`release` frees them when the message ends or fails. Gathering a unit
    of ``u`` bytes piece by piece copies each byte once, whatever the pieces.

    Views from :meth:`view` should be released before the next :meth:`append`
    (``with pending.view() as held: ...``). One that is kept alive anyway (by a
    traceback or a profiler holding the engine's frames) cannot make a call fail:
    the buffer is then replaced by a grown copy instead of resized.
    """

    __slots__ = ("_buffer", "length")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.length = 0

    def __len__(self) -> int:
        return self.length

    def append(self, data: memoryview) -> None:
        """Hold ``data`` after what is held."""
        start, end = self.length, self.length + len(data)
        if end <= len(self._buffer):  # it fits the room kept (the usual case: one check, one copy)
            with memoryview(self._buffer) as into:
                into[start:end] = data
        else:
            fits = len(self._buffer) - start
            if fits:
                with memoryview(self._buffer) as into:
                    into[start:] = data[:fits]
                data = data[fits:]
            try:
                self._buffer += data
            except BufferError:  # a view of it is still alive (a traceback's or a profiler's frame)
                grown = bytearray(self._buffer)
                grown += data
                self._buffer = grown
        self.length = end

    @property
    def raw(self) -> bytearray:
        """The buffer itself, for reading its first :attr:`length` bytes (what lies beyond is stale)."""
        return self._buffer

    def view(self) -> memoryview:
        """The bytes held (release it before the next append)."""
        return memoryview(self._buffer)[: self.length]

    def drop(self, count: int) -> None:
        """Forget the first ``count`` bytes held."""
        rest = self.length - count
        if rest > 0 and count:
            with memoryview(self._buffer) as whole:
                whole[:rest] = whole[count : self.length]
        self.length = max(rest, 0)

    def release(self) -> None:
        """Forget everything and free the buffer."""
        self.length = 0  # first: a reader without the engine's lock never sees a length beyond the buffer
        self._buffer = bytearray()
