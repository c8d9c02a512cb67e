"""Outputs that appear whole or not at all: a temporary file beside the target, renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

__all__ = ["atomic_output"]

#: ``commit(temporary_path, stat_of_the_written_file)`` moves the finished file into place.
Commit = Callable[[str, os.stat_result], None]


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
    any exception, KeyboardInterrupt included, the temporary file is removed and
    ``target`` is left as it was. Only a process killed outright leaves the
    temporary file (``prefix`` + random + ``suffix``) behind.
    """
    path = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    try:
        if mode is not None:
            os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            written = os.fstat(out.fileno())
        if commit is None:
            os.replace(temporary, path)
        else:
            commit(temporary, written)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
