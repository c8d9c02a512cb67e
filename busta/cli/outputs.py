"""Writing a local output: a new or regular file appears whole or not at all; a device, FIFO or
socket is written through.

- A missing output, an existing regular file (``force``) and an existing symlink (``force``) get
  a temporary file beside them that is renamed into place only after success: a symlink is
  replaced as a link, never written through to its target.
- An existing character or block device, FIFO or socket given as the output is opened and
  written through, as ``cp`` and age do, under the rules of standard output (a terminal only
  with ``force``); it is never renamed over or unlinked.
- Such an output owned by someone else (neither the user nor root) in a directory that group or
  others may write is refused, as the kernel's ``protected_fifos`` refuses it to an ``O_CREAT``
  open: whoever planted a FIFO or socket at ``/tmp/out`` would otherwise read what is written.
- An output inside a directory whose name came from a tree or an S3 key (``within``) is walked
  from that directory by :func:`busta._paths.contained_path`; there a device, FIFO or socket
  is refused, as a symlink is, since whoever could plant it chose where the plaintext goes.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .._atomic import atomic_output
from .._paths import contained_path
from .._trust import file_kind
from .errors import CliError

__all__ = ["NamedSink", "atomic_file", "check_output", "local_output", "naming_output"]

TERMINAL_REFUSED = "refusing to write binary output to a terminal (redirect it, or pass --force)"


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _written_through(mode: int) -> bool:
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _refuse_planted(path: Path, st: os.stat_result) -> None:
    """Refuse a device, FIFO or socket that another user may have planted (see the module's rules):
    not the user's or root's, in a directory writable by group or others, and not the directory owner's."""
    if st.st_uid in (os.geteuid(), 0):
        return
    directory = os.stat(path.parent)
    if directory.st_mode & 0o022 and st.st_uid != directory.st_uid:
        raise CliError(
            f"{path}: is {file_kind(st.st_mode)} of user {st.st_uid}, in a directory others may write;"
            " refusing to write into it (remove it, or write to a path of your own)"
        )


def _exists(path: Path) -> CliError:
    return CliError(f"{path}: already exists (pass --force to replace it)")


def _existing(path: Path, within: Path | None, *, create_parents: bool) -> tuple[Path, os.stat_result | None]:
    """``path`` (walked from ``within`` if given) and what is there now, if anything; inside ``within``
    a device, FIFO or socket is refused."""
    if within is not None:
        path = contained_path(within, path.relative_to(within).as_posix(), create_parents=create_parents)
    st = _lstat(path)
    if st is not None and within is not None and _written_through(st.st_mode):
        raise CliError(f"{path}: is {file_kind(st.st_mode)}, not a regular file; refusing to write into it")
    return path, st


def check_output(path: Path, *, force: bool, within: Path | None) -> None:
    """Refuse ``path`` as an output before anything is written: it exists (without ``force``), it is
    a directory, or (``within``) its name leaves the directory or it is not a regular file."""
    path, st = _existing(path, within, create_parents=False)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        raise CliError(f"{path}: is a directory")
    if _written_through(st.st_mode):
        _refuse_planted(path, st)
        return
    if not force:
        raise _exists(path)


@contextmanager
def local_output(path: Path, *, force: bool, within: Path | None = None, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield the file to write ``path``'s content into (see the module's rules)."""
    path, st = _existing(path, within, create_parents=True)
    if st is not None and _written_through(st.st_mode):
        with _through(path, st, force=force) as out:
            yield out
        return
    with atomic_file(path, force=force, mode=mode) as out:
        yield out


@contextmanager
def _through(path: Path, st: os.stat_result, *, force: bool) -> Iterator[BinaryIO]:
    """Write into an existing device, FIFO or socket (a FIFO's open waits for a reader)."""
    _refuse_planted(path, st)
    fd = _connect(path) if stat.S_ISSOCK(st.st_mode) else os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NOFOLLOW)
    try:
        now = os.fstat(fd)
        if not _written_through(now.st_mode):  # replaced by a regular file since it was checked
            raise CliError(f"{path}: changed while it was opened; run the command again")
        if not stat.S_ISSOCK(st.st_mode):  # a socket's descriptor is not the node at path: checked above
            _refuse_planted(path, now)
        if os.isatty(fd) and not force:
            raise CliError(TERMINAL_REFUSED)
        out = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise
    with out:
        yield out


def _connect(path: Path) -> int:
    """A stream connection to the Unix socket at ``path``, as a file descriptor."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, exc.strerror or str(exc), os.fspath(path)) from exc
    return sock.detach()


def _make_parents(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from exc


def _commit(temporary: str, path: Path, *, force: bool) -> None:
    if force:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if path exists: no window in which another file is replaced
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(path):
            raise _exists(path) from None
        os.replace(temporary, path)
    else:
        os.unlink(temporary)


@contextmanager
def atomic_file(path: Path, *, force: bool, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``path``, renamed to ``path`` only if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was; an error
    in making the directory or the temporary file names ``path``.
    """
    _make_parents(path)
    with atomic_output(
        path, prefix=f".{path.name}.", mode=mode, commit=lambda temporary, _: _commit(temporary, path, force=force)
    ) as out:
        yield out


class NamedSink:
    """A binary sink whose write errors name the output (``out.bin: No space left on device``): an
    OSError without a file name would otherwise be reported against the command's input."""

    def __init__(self, sink: BinaryIO, name: str):
        self._sink, self._name = sink, name

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._sink.write(data)
        except OSError as exc:
            raise _named(exc, self._name) from None

    def flush(self) -> None:
        try:
            self._sink.flush()
        except OSError as exc:
            raise _named(exc, self._name) from None

    def writable(self) -> bool:
        return True


@contextmanager
def naming_output(name: str) -> Iterator[None]:
    """OSErrors without a file name raised in the block (an output being committed: closed, synced,
    renamed) name the output."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise _named(exc, name) from None


def _named(exc: OSError, name: str) -> OSError:
    if exc.filename or isinstance(exc, BrokenPipeError):  # a closed pipe downstream stays what it is
        return exc
    return type(exc)(exc.errno, exc.strerror or str(exc), name)
