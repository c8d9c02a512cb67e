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

import ctypes
import sys

__all__ = ["OutputBuffer", "PendingBytes"]

_ZERO_COPY = sys.implementation.name == "cpython"
if _ZERO_COPY:
    _new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    _new_bytes.restype = ctypes.py_object
    _new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
    _bytes_address = ctypes.pythonapi.PyBytes_AsString
    _bytes_address.restype = ctypes.c_void_p
    _bytes_address.argtypes = [ctypes.py_object]


class OutputBuffer:
    """``size`` writable bytes (``view``) that :meth:`finish` turns into ``bytes``."""

    __slots__ = ("_array", "_target", "size", "view")

    def __init__(self, size: int):
        self.size = size
        self._array: ctypes.Array[ctypes.c_char] | None = None
        self._target: bytes | bytearray
        if _ZERO_COPY and size > 0:
            target: bytes = _new_bytes(None, size)
            self._array = (ctypes.c_char * size).from_address(_bytes_address(target))
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

    One buffer that grows by doubling: appending ``n`` bytes costs ``n`` plus the
    amortized regrowth, however small the pieces, so holding a unit of ``u``
    bytes that arrives piece by piece copies fewer than ``3 u`` bytes. The buffer
    never grows beyond twice what it holds (a unit's declared size may only cap
    the doubling, never raise it), and it is only ever replaced, never resized in
    place: a view of it may outlive a call (in a traceback or a profiler's
    sample), and a resize would then fail.
    """

    __slots__ = ("_buffer", "length")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.length = 0

    def __len__(self) -> int:
        return self.length

    def append(self, data: memoryview, unit: int = 0) -> None:
        """Hold ``data`` after what is held; ``unit``, the size of the whole unit being gathered when
        known, keeps the doubling from overshooting it."""
        end = self.length + len(data)
        if end > len(self._buffer):
            doubled = 2 * len(self._buffer)
            grown = bytearray(max(end, min(doubled, unit) if unit else doubled))
            with memoryview(grown) as into, memoryview(self._buffer) as held:
                into[: self.length] = held[: self.length]  # a view: slicing a bytearray would copy twice
            self._buffer = grown
        with memoryview(self._buffer) as into:
            into[self.length : end] = data
        self.length = end

    @property
    def raw(self) -> bytearray:
        """The buffer itself, for reading its first :attr:`length` bytes (what lies beyond is stale)."""
        return self._buffer

    def view(self) -> memoryview:
        """The bytes held (valid until the next append or drop)."""
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
        self._buffer = bytearray()
        self.length = 0
