"""Outputs that appear whole or not at all: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = ["atomic_output"]

#: ``commit(temporary_path, stat_of_the_written_file)`` moves the finished file into place.
Commit = Callable[[str, os.stat_result], None]

_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"  # as tempfile.mkstemp's names
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _naming_target(exc: OSError, target: str) -> OSError:
    """The same error, naming ``target`` rather than the temporary file the user never asked for."""
    named = OSError(exc.errno, exc.strerror, target)
    named.__cause__ = exc
    return named


def _create(directory: str, prefix: str, suffix: str, target: str, named: list[str]) -> int:
    """A new file ``prefix`` + 8 random characters + ``suffix`` in ``directory`` (mode 0600), as
    mkstemp makes one, except that its name is put in ``named`` *before* it is created: an
    exception that lands anywhere after the creation (a signal's, raised in the main thread
    whichever thread took the signal, so no signal mask can hold it back) still finds the name."""
    for _ in range(tempfile.TMP_MAX):
        name = "".join(secrets.choice(_NAME_CHARACTERS) for _ in range(8))
        named.append(os.path.join(directory, prefix + name + suffix))
        try:
            return os.open(named[-1], _CREATE_FLAGS, 0o600)
        except FileExistsError:
            named.pop()  # someone else's file: never removed (an exception just here needs a name collision)
        except OSError as exc:
            named.pop()
            raise _naming_target(exc, target) from exc
    raise _naming_target(FileExistsError(errno.EEXIST, "no unused temporary file name", directory), target)


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
    named: list[str] = []
    try:
        handle = _create(directory, prefix, suffix, path, named)
        temporary = named[0]
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
        for name in named:  # no call before the unlink, so a signal's exception cannot land before it
            try:  # noqa: SIM105
                os.unlink(name)
            except FileNotFoundError:
                pass
        raise
