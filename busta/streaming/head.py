"""A message's header read from the start of a source, never more than the header limit allows."""

from __future__ import annotations

from typing import IO, Final

from ..errors import TruncatedMessageError
from ..format import Header, ParsedHeader
from ..format.header import parse_header_or_need
from ..limits import MAX_HEADER_BYTES

__all__ = ["FIRST_READ", "read_head", "read_header"]

#: The first read: enough for the header of nearly every message.
FIRST_READ: Final = 4096


def read_header(source: IO[bytes], *, max_header_bytes: int = MAX_HEADER_BYTES) -> Header:
    """The header of the message ``source`` holds (see :func:`read_head`)."""
    return read_head(source, max_header_bytes=max_header_bytes)[1].header


def read_head(source: IO[bytes], *, max_header_bytes: int = MAX_HEADER_BYTES) -> tuple[bytes, ParsedHeader]:
    """Read from ``source`` until a header parses: 4 KiB first, then at least what the header says
    it still needs (and at least twice what was read, so that a header of many data keys takes few
    reads), never more than ``max_header_bytes`` in all; a longer header raises LimitExceededError.
    Returns the bytes read (the header, perhaps some of the body) and the parsed header."""
    data = bytearray()
    want = min(FIRST_READ, max_header_bytes)
    while True:
        chunk = source.read(want - len(data))
        data += chunk
        found = parse_header_or_need(data, max_header_bytes=max_header_bytes)
        if not isinstance(found, int):
            return bytes(data), found
        if not chunk:
            raise TruncatedMessageError(f"the input ends after {len(data)} bytes, inside the message header")
        want = max(found, min(2 * len(data), max_header_bytes))
