"""The ``envelope`` command line: keygen, encrypt, decrypt, inspect, bulk.

``main(argv)`` returns the exit status: 0 success, 1 the operation failed (one line
on stderr), 2 a usage error. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..errors import EnvelopeError
from .errors import CliUsageError

__all__ = ["main"]


def _keygen_pkcs11(args: argparse.Namespace) -> None:
    """Generate a sensitive, non-extractable AES-256 key on a PKCS#11 token (never over an existing label)."""
    given = [args.pkcs11_module, args.pkcs11_token, args.pkcs11_key]
    if not all(given):
        raise CliUsageError("keygen on a token needs --pkcs11-module, --pkcs11-token and --pkcs11-key")
    if args.output or args.force:
        raise CliUsageError("keygen --pkcs11-* takes neither --output nor --force (an HSM key is never replaced)")
    from ..keyrings.pkcs11 import generate_aes_key  # noqa: PLC0415

    info = generate_aes_key(args.pkcs11_module, args.pkcs11_token, args.pkcs11_key, bits=256)
    print(f"created AES-{info.bits} key {info.label!r} on token {args.pkcs11_token!r} (not extractable)")


def _keygen(args: argparse.Namespace) -> None:
    if args.pkcs11_module or args.pkcs11_token or args.pkcs11_key:
        _keygen_pkcs11(args)
        return
    from .keyfile import default_key_path, generate, write_record  # noqa: PLC0415

    path = Path(args.output) if args.output else default_key_path()
    record = generate()
    write_record(record, path, force=args.force)
    print(f"created {path}")
    print(f"key name: {record.namespace}/{record.name}")


def _run(args: argparse.Namespace) -> None:
    if args.command == "keygen":
        _keygen(args)
    elif args.command == "bulk":
        from .bulk import run_bulk  # noqa: PLC0415

        run_bulk(args)
    elif args.command == "inspect":
        from .headerinfo import inspect_file  # noqa: PLC0415

        inspect_file(args.file, as_json=args.json, out=sys.stdout)
    else:
        from .commands import run_transfer  # noqa: PLC0415

        run_transfer(args)


def _fail(message: str, status: int) -> int:
    print(f"envelope: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    from .options import parse  # noqa: PLC0415

    try:
        args = parse(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with _terminate_cleanly():
            _run(args)
    except CliUsageError as exc:
        return _fail(str(exc), 2)
    except EnvelopeError as exc:
        return _fail(str(exc) or type(exc).__name__, 1)
    except OSError as exc:
        return _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 1)
    except ImportError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except _Terminated:
        return _fail("terminated", 143)
    return 0


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every temporary output is removed on the way out."""


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread (the CLI run from a test's thread, say)
        return

    def stop(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
