"""A bounds-checked reader over a byte buffer, used by the wire parsers."""

from __future__ import annotations

import struct

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


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

    def _number(self, fmt: struct.Struct) -> int:
        start = self.pos
        end = start + fmt.size
        if end > self.end:
            raise NeedMoreData(end)
        self.pos = end
        return int(fmt.unpack_from(self.view, start)[0])

    def u8(self) -> int:
        return self._number(_U8)

    def u16(self) -> int:
        return self._number(_U16)

    def u32(self) -> int:
        return self._number(_U32)

    def u64(self) -> int:
        return self._number(_U64)


def u16(n: int) -> bytes:
    return _U16.pack(n)


def u32(n: int) -> bytes:
    return _U32.pack(n)


def u64(n: int) -> bytes:
    return _U64.pack(n)
