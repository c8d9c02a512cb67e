"""The ``busta`` command line: keygen, encrypt, decrypt, verify, rewrap, inspect, bulk.

``main(argv)`` returns the exit status: 0 success, 1 the operation failed (one line
on stderr), 2 a usage error, 128 + n after signal n (SIGHUP, SIGINT, SIGTERM; SIGPIPE,
or a closed pipe downstream, quietly: 141). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._text import printable
from .errors import CliUsageError
from .signals import Stopped, output_closed, stop_on_signals

__all__ = ["main"]


def _keygen_pkcs11(args: argparse.Namespace) -> None:
    """Generate a sensitive, non-extractable AES-256 key on a PKCS#11 token (never over an existing label)."""
    given = [args.pkcs11_module, args.pkcs11_token, args.pkcs11_key]
    if not all(given):
        raise CliUsageError("keygen on a token needs --pkcs11-module, --pkcs11-token and --pkcs11-key")
    if args.output or args.force:
        raise CliUsageError("keygen --pkcs11-* takes neither --output nor --force (an HSM key is never replaced)")
    from ..keyrings.pkcs11_admin import generate_aes_key  # noqa: PLC0415

    info = generate_aes_key(args.pkcs11_module, args.pkcs11_token, args.pkcs11_key, bits=256)
    print(f"created AES-{info.bits} key {info.label!r} on token {args.pkcs11_token!r} (not extractable)")


def _keygen(args: argparse.Namespace) -> None:
    if args.ec:
        from .ecdh import run_ec_keygen  # noqa: PLC0415

        run_ec_keygen(args)
        return
    if args.pkcs11_module or args.pkcs11_token or args.pkcs11_key:
        _keygen_pkcs11(args)
        return
    from ..keyfile import default_key_path, generate  # noqa: PLC0415
    from .keyfile import write_record  # noqa: PLC0415

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
        from .commands import _S3  # noqa: PLC0415
        from .headerinfo import inspect_file  # noqa: PLC0415
        from .hints import concerning  # noqa: PLC0415

        s3 = _S3(args)
        with concerning("standard input" if args.file == "-" else args.file):
            inspect_file(args.file, as_json=args.json, out=sys.stdout, max_header_bytes=args.max_header_bytes, s3=s3)
    elif args.command == "verify":
        from .verify import run_verify  # noqa: PLC0415

        run_verify(args)
    elif args.command == "branch-key":
        from .branchkey import run_branch_key  # noqa: PLC0415

        run_branch_key(args)
    elif args.command == "rewrap":
        from .rewrap import run_rewrap  # noqa: PLC0415

        run_rewrap(args)
    else:
        from .commands import run_transfer  # noqa: PLC0415

        run_transfer(args)


def _fail(message: str, status: int, reasons: Sequence[str] = ()) -> int:
    """``busta: error: message`` on stderr, every character printable (names and messages may
    come from a hostile message or listing), then each reason on a line of its own; a closed
    stderr (a hung-up terminal) does not stop the exit. A progress line still open is ended
    first, so the message starts a line of its own."""
    from .progress import end_lines  # noqa: PLC0415

    end_lines()
    lines = [f"busta: error: {printable(message)}"] + [f"  - {printable(reason)}" for reason in reasons]
    with contextlib.suppress(OSError, ValueError):
        print("\n".join(lines), file=sys.stderr)
    return status


def _status(args: argparse.Namespace) -> int:
    """Run the command; every failure is one line (busta/cli/hints.py words it) and an exit status."""
    try:
        _run(args)
    except CliUsageError as exc:
        return _fail(str(exc), 2)
    except BrokenPipeError as exc:
        if output_closed():
            return _downstream_closed()
        return _fail(_os_error_text(exc), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 128 + signal.SIGINT)
    except Stopped as exc:
        return _stopped(exc.signum)
    except Exception as exc:
        from .hints import explain  # noqa: PLC0415

        said = explain(exc)
        if said is None:
            raise
        return _fail(said.text, 1, said.reasons)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    from .options import parse  # noqa: PLC0415

    try:
        args = parse(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with stop_on_signals(), _log_to_stderr(args.verbose):
            return _status(args)
    except Stopped as exc:  # the one signal landed while an error was being reported
        return _stopped(exc.signum)
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


@contextlib.contextmanager
def _log_to_stderr(verbosity: int) -> Iterator[None]:
    """``-v``: busta's INFO log records on stderr while the command runs; ``-vv``: DEBUG too (they
    never hold key material: docs/SECURITY.md's secret-hygiene row searches DEBUG logs)."""
    if not verbosity:
        yield
        return
    logger = logging.getLogger("busta")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("busta: %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _os_error_text(exc: OSError) -> str:
    return f"{str(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}"


def _stopped(signum: int) -> int:
    """Exit status 128 + the signal's number, as a shell reports a process the signal killed."""
    if signum == signal.SIGPIPE:
        return _downstream_closed()
    return _fail(_SIGNAL_WORDS.get(signum, f"signal {signum}"), 128 + signum)


def _downstream_closed() -> int:
    """Whoever read our output went away (``| head -c1``): stop quietly, with the status of a tool
    SIGPIPE killed (141), and close stdout so that nothing tries to flush into the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.close()
    return 128 + signal.SIGPIPE


_SIGNAL_WORDS: dict[int, str] = {signal.SIGHUP: "hung up", signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
