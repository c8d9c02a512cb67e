"""``busta inspect``: a message header, read without any key."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .._text import printable
from ..errors import UsageError
from ..format import Header
from ..limits import MAX_HEADER_BYTES
from ..streaming.head import read_head, read_header
from .armor import unarmored
from .files import S3Uri, parse_location

__all__ = ["describe", "inspect_file", "read_head", "read_header"]


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


def inspect_file(
    name: str,
    *,
    as_json: bool,
    out: IO[str],
    max_header_bytes: int = MAX_HEADER_BYTES,
    s3: Callable[[], Any] | None = None,
) -> None:
    """Print the header of the message in the file ``name`` (``-``: stdin; ``s3://bucket/key``: read
    with ranged GETs through the boto3 client ``s3()`` makes), base64 text decoded first."""
    location = parse_location(name)
    if isinstance(location, S3Uri):
        from .s3header import RangedObject, budget_for  # noqa: PLC0415 - boto3 only when S3 is used

        if s3 is None:
            raise UsageError(f"{name}: inspect of an S3 object needs an S3 client")
        ranged = RangedObject(s3(), location, budget=budget_for(max_header_bytes))
        header = read_header(unarmored(ranged, name), max_header_bytes=max_header_bytes)  # type: ignore[arg-type]
    elif isinstance(location, Path):
        with location.open("rb") as source:
            header = read_header(unarmored(source, name), max_header_bytes=max_header_bytes)
    else:
        header = read_header(unarmored(sys.stdin.buffer, name), max_header_bytes=max_header_bytes)
    info = describe(header)  # as JSON: exact, and every non-ASCII or control character is a \u escape
    out.write((json.dumps(info, indent=2, ensure_ascii=True) if as_json else _text(info)) + "\n")
