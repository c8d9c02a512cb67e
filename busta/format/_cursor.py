"""A bounds-checked reader over a byte buffer, used by the wire parsers."""

from __future__ import annotations

import struct
from collections.abc import Callable

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U16_FROM, _U32_FROM, _U64_FROM = _U16.unpack_from, _U32.unpack_from, _U64.unpack_from


class NeedMoreData(Exception):
    """Internal: the buffer ends before the structure does (not an error at end of stream).

    ``needed`` is a lower bound on the structure's length, counted from the start of the buffer.
    """

    def __init__(self, needed: int):
        super().__init__(needed)
        self.needed = needed


class Cursor:
    """Reads big-endian fields from ``view`` starting at ``pos``."""

    __slots__ = ("end", "pos", "view")

    def __init__(self, view: memoryview, pos: int = 0):
        self.view = view
        self.pos = pos
        self.end = len(view)

    def take(self, n: int) -> memoryview:
        start = self.pos
        end = start + n
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return self.view[start:end]

    # Each reader is written out (no shared helper): headers are parsed on every message's path.

    def prefixed(self) -> bytes:
        """A UInt16 length and that many bytes after it, copied (one call for the two reads)."""
        start = self.pos
        if start + 2 > self.end:
            raise NeedMoreData(start + 2)
        first = start + 2
        end = first + _U16_FROM(self.view, start)[0]
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return bytes(self.view[first:end])

    def u8(self) -> int:
        start = self.pos
        if start >= self.end:
            raise NeedMoreData(start + 1)
        self.pos = start + 1
        return int(self.view[start])

    def u16(self) -> int:
        start = self.pos
        end = start + 2
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return int(_U16_FROM(self.view, start)[0])

    def u32(self) -> int:
        start = self.pos
        end = start + 4
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return int(_U32_FROM(self.view, start)[0])

    def u64(self) -> int:
        start = self.pos
        end = start + 8
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return int(_U64_FROM(self.view, start)[0])


#: Big-endian encoders: the structs' own ``pack`` (a wrapping function would add a call to each field).
u16: Callable[[int], bytes] = _U16.pack
u32: Callable[[int], bytes] = _U32.pack
u64: Callable[[int], bytes] = _U64.pack
