"""``busta inspect``: a message header, read without any key."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from .._text import printable
from ..errors import TruncatedMessageError
from ..format import Header, parse_header
from ..limits import MAX_HEADER_BYTES

__all__ = ["describe", "inspect_file", "read_header"]

_READ = 4096


def read_header(source: IO[bytes]) -> Header:
    """Read from ``source`` until a header parses (up to the header size limit)."""
    data = bytearray()
    while True:
        chunk = source.read(_READ)
        data += chunk
        parsed = parse_header(data)
        if parsed is not None:
            return parsed.header
        if not chunk:
            raise TruncatedMessageError(f"the input ends after {len(data)} bytes, inside the message header")
        if len(data) > MAX_HEADER_BYTES:  # parse_header raises first; kept as a bound on the loop
            raise TruncatedMessageError("no complete header within the header size limit")


def text_or_hex(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()
    return text if text.isprintable() else data.hex()


def describe(header: Header) -> dict[str, Any]:
    suite = header.suite
    return {
        "version": header.version,
        "suite": {
            "name": suite.name,
            "id": f"0x{suite.id:04X}",
            "signed": suite.signed,
            "committing": suite.committing,
        },
        "message_id": header.message_id.hex(),
        "encryption_context": dict(header.encryption_context),
        "encrypted_data_keys": [
            {
                "provider_id": edk.provider_id,
                "provider_info": text_or_hex(edk.provider_info),
                "ciphertext_length": len(edk.ciphertext),
            }
            for edk in header.encrypted_data_keys
        ],
        "content_type": header.content_type.name.lower(),
        "frame_length": header.frame_length,
    }


def _text(info: dict[str, Any]) -> str:
    """The header as lines for a terminal: every name and value from the message is escaped
    (:func:`printable`), so none can add a line or send an escape sequence."""
    suite = info["suite"]
    lines = [
        f"version:        {info['version']}",
        f"suite:          {suite['name']} ({suite['id']})",
        f"signed:         {suite['signed']}",
        f"committing:     {suite['committing']}",
        f"message id:     {info['message_id']}",
        "encryption context:" + ("" if info["encryption_context"] else " (none)"),
    ]
    lines += [f"  {printable(k)} = {printable(v)}" for k, v in info["encryption_context"].items()]
    lines.append(f"encrypted data keys: {len(info['encrypted_data_keys'])}")
    lines += [
        f"  {printable(edk['provider_id'])}  {printable(edk['provider_info'])}  ({edk['ciphertext_length']} bytes)"
        for edk in info["encrypted_data_keys"]
    ]
    lines.append(f"content type:   {info['content_type']}")
    lines.append(f"frame length:   {info['frame_length']}")
    return "\n".join(lines)


def inspect_file(name: str, *, as_json: bool, out: IO[str]) -> None:
    if name == "-":
        header = read_header(sys.stdin.buffer)
    else:
        with Path(name).open("rb") as source:
            header = read_header(source)
    info = describe(header)  # as JSON: exact, and every non-ASCII or control character is a \u escape
    out.write((json.dumps(info, indent=2, ensure_ascii=True) if as_json else _text(info)) + "\n")
