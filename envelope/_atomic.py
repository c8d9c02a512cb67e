"""Outputs that appear whole or not at all: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = ["STOP_SIGNALS", "atomic_output"]

#: ``commit(temporary_path, stat_of_the_written_file)`` moves the finished file into place.
Commit = Callable[[str, os.stat_result], None]

#: The signals a caller (the CLI) turns into an exception that removes every temporary output.
#: They are held back while a temporary file is created, so none can land between its creation
#: and the ``try`` that removes it.
STOP_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})


def _naming_target(exc: OSError, target: str) -> OSError:
    """The same error, naming ``target`` rather than the temporary file the user never asked for."""
    named = OSError(exc.errno, exc.strerror, target)
    named.__cause__ = exc
    return named


def _create(directory: str, prefix: str, suffix: str, target: str) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    except OSError as exc:
        raise _naming_target(exc, target) from exc


@contextlib.contextmanager
def atomic_output(
    target: str | os.PathLike[str],
    *,
    prefix: str,
    suffix: str = ".tmp",
    mode: int | None = None,
    commit: Commit | None = None,
) -> Iterator[BinaryIO]:
    """Yield a new temporary file in ``target``'s directory (mode 0600 unless ``mode``).

    When the block ends without an error the file is flushed and fsynced, then
    ``commit`` moves it into place (default: ``os.replace`` onto ``target``). On
    any exception, KeyboardInterrupt and the CLI's signal exceptions included, the
    temporary file is removed and ``target`` is left as it was. Only a process
    killed outright leaves the temporary file (``prefix`` + 8 random characters +
    ``suffix``) behind. An error in creating or committing the temporary file names
    ``target``, not the temporary file.
    """
    path = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(path))
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        handle, temporary = _create(directory, prefix, suffix, path)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a signal held back is handled here, inside the try
        if mode is not None:
            os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            written = os.fstat(out.fileno())
        try:
            if commit is None:
                os.replace(temporary, path)
            else:
                commit(temporary, written)
        except OSError as exc:
            if temporary not in (exc.filename, exc.filename2):
                raise
            raise _naming_target(exc, path) from exc
    except BaseException:
        try:  # noqa: SIM105 - no call before the unlink, so a signal's exception cannot land before it
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
