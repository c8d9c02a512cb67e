"""``busta verify INPUT...``: decrypt each message to nothing and report whether it authenticated.

Each input is streamed through the decryptor with the key options, expected context,
policy and limits of ``decrypt``, and its plaintext is dropped as it comes: memory stays
at what a streaming decryption holds, and no plaintext is written anywhere. One line per
input goes to standard output (``ok NAME`` or ``FAILED NAME: reason``, every character
escaped by :func:`busta._text.printable`; with ``--json`` one JSON object), and a failure
does not stop the inputs after it. The command fails (exit status 1) if any input did.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._text import printable
from ..api import StreamResult
from ..errors import BustaError, NoDecryptingKeyError
from ..materials import Keyring
from .armor import unarmored
from .commands import _S3, _client, _open_source
from .errors import CliError, CliUsageError
from .files import Location, Stdio, parse_location
from .keys import keyring_for

__all__ = ["run_verify"]


class _Nothing:
    """A sink that keeps nothing: the plaintext of a verified message goes nowhere."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(memoryview(data))

    def flush(self) -> None:
        """Nothing is kept, so nothing is pending."""


def _reason(name: str, exc: BaseException) -> str:
    """Why ``name`` failed, without saying its name again (the line already does)."""
    if isinstance(exc, NoDecryptingKeyError):
        return "; ".join([exc.summary, *exc.reasons])
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    text = str(exc) or type(exc).__name__
    return text.removeprefix(f"{name}: ")


def _verify_one(location: Location, keyring: Keyring, args: argparse.Namespace, s3: _S3) -> StreamResult:
    expected = dict(args.context) or None
    with _open_source(location, s3) as (raw, _):
        source = unarmored(raw, str(location), decode=args.armor)
        return _client(args).decrypt_stream(source, _Nothing(), keyring=keyring, encryption_context=expected)  # type: ignore[arg-type]


def _line(name: str, result: StreamResult | None, error: BaseException | None, *, as_json: bool) -> str:
    if as_json:
        record: dict[str, Any] = {"input": name, "ok": error is None}
        if result is not None:
            record["message_id"] = result.header.message_id.hex()
            record["suite"] = f"0x{result.header.suite.id:04X}"
            record["plaintext_bytes"] = result.plaintext_length
        if error is not None:
            record["error"] = _reason(name, error)
        return json.dumps(record, ensure_ascii=True, sort_keys=True)
    if error is None:
        return f"ok {printable(name)}"
    return f"FAILED {printable(name)}: {printable(_reason(name, error))}"


def run_verify(args: argparse.Namespace) -> None:
    """Verify every input in order; raise :class:`CliError` at the end if any failed."""
    locations = [parse_location(text) for text in args.inputs or ["-"]]
    if sum(isinstance(location, Stdio) for location in locations) > 1:
        raise CliUsageError("'-' (stdin) may be given only once")
    _client(args)  # the policy and limits are checked before any input is read
    keyring = keyring_for(args, encrypting=False)
    s3 = _S3(args)
    failed = 0
    for location in locations:
        result: StreamResult | None = None
        error: BaseException | None = None
        try:
            result = _verify_one(location, keyring, args, s3)
        except (BustaError, OSError) as exc:
            error = exc
            failed += 1
        print(_line(str(location), result, error, as_json=args.json), flush=True)
    if failed:
        raise CliError(f"{failed} of {len(locations)} inputs did not verify")
