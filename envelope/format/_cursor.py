"""A bounds-checked reader over a byte buffer, used by the wire parsers."""

from __future__ import annotations

import struct

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class NeedMoreData(Exception):
    """Internal: the buffer ends before the structure does (not an error at end of stream)."""


class Cursor:
    """Reads big-endian fields from ``view`` starting at ``pos``."""

    __slots__ = ("pos", "view")

    def __init__(self, view: memoryview, pos: int = 0):
        self.view = view
        self.pos = pos

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.view):
            raise NeedMoreData
        chunk = self.view[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        return int(_U8.unpack(self.take(1))[0])

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])


def u16(n: int) -> bytes:
    return _U16.pack(n)


def u32(n: int) -> bytes:
    return _U32.pack(n)


def u64(n: int) -> bytes:
    return _U64.pack(n)
