"""Local directories in bulk jobs: sources read pinned to the listed version, outputs written inside the root.

A local source's version is ``device:inode:size:mtime_ns:ctime_ns``, taken by
the listing (the ctime, which no one can set, catches a rewrite in place whose
writer put the old mtime back). Every task that reads the file opens it without following a symlink
(each directory below the source root too, see :func:`busta._paths.open_parent`),
checks the open descriptor's ``fstat`` against that version, and checks it
again once it has read what it needs, before anything is committed: a file
replaced or rewritten since it was listed fails its object with
:class:`~busta.errors.SourceChangedError`.

Outputs are written relative to a descriptor of their directory, opened the
same way and created inside the destination root only, as a temporary file
(``.busta-bulk-<random>.tmp``) that is fsynced, marked, and renamed into
place. A name is checked before anything is created, so a refused name leaves
nothing behind, inside the root or out of it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from .._legacy import LEGACY_MARKER_DIR, LEGACY_TEMP_PREFIX
from .._paths import open_parent
from ..errors import SourceChangedError, UnsafePathError, UsageError

__all__ = [
    "MARKER_DIR",
    "MARKER_DIRS",
    "TEMP_PREFIX",
    "TEMP_PREFIXES",
    "check_unchanged",
    "is_temporary",
    "list_tree",
    "open_file",
    "output",
    "read_small",
    "stat_of",
]

#: Local destinations keep their done-markers in this directory at their root (never a source there).
MARKER_DIR: Final = ".busta-bulk"
#: Temporary outputs are named TEMP_PREFIX + random + ".tmp" (never listed as sources).
TEMP_PREFIX: Final = ".busta-bulk-"
#: Both names of each: busta writes the first, and treats the second (envelope 0.1's) alike.
MARKER_DIRS: Final = (MARKER_DIR, LEGACY_MARKER_DIR)
TEMP_PREFIXES: Final = (TEMP_PREFIX, LEGACY_TEMP_PREFIX)
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def version_of(st: os.stat_result) -> str:
    """The version a listing records and every task checks: ``device:inode:size:mtime_ns:ctime_ns``."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def is_temporary(name: str) -> bool:
    """True for a name shaped like a bulk temporary output (``.busta-bulk-*.tmp``, or envelope 0.1's)."""
    return name.startswith(TEMP_PREFIXES) and name.endswith(".tmp")


def list_tree(root: str) -> Iterator[tuple[str, int, str]]:
    """``(name, size, version)`` of every regular file below ``root``; symlinks, FIFOs, sockets and devices,
    temporary outputs, and the marker directory at the root are left out."""
    base = Path(root)
    if not base.is_dir():
        raise UsageError(f"{root} is not a directory")
    for directory, subdirs, files in os.walk(base):
        at_root = Path(directory) == base
        subdirs[:] = sorted(d for d in subdirs if not (at_root and d in MARKER_DIRS))
        for filename in sorted(files):
            if is_temporary(filename):
                continue
            path = Path(directory, filename)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                yield path.relative_to(base).as_posix(), st.st_size, version_of(st)


def open_file(root: str, name: str, version: str | None = None) -> BinaryIO:
    """``root/name`` open for reading, never through a symlink; with ``version``, pinned to it."""
    where = os.path.join(root, name)
    try:
        parent, last = open_parent(root, name)
    except (FileNotFoundError, UnsafePathError) as exc:
        if version is None:
            raise
        why = "a directory above it is gone" if isinstance(exc, FileNotFoundError) else f"its path {exc.reason}"
        raise SourceChangedError(where, why) from None
    try:
        fd = os.open(last, _READ_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno == errno.ELOOP and version is None:
            raise UnsafePathError(name, "is a symlink") from None
        if version is None or exc.errno not in (errno.ENOENT, errno.ELOOP):
            raise
        raise SourceChangedError(where, "it is gone" if exc.errno == errno.ENOENT else "it is a symlink now") from None
    finally:
        os.close(parent)
    try:
        if version is not None:
            check_unchanged(fd, where, version)
        elif not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePathError(name, "is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_unchanged(fd: int, where: str, version: str) -> None:
    """Raise :class:`SourceChangedError` unless the open file ``fd`` is still a regular file of ``version``."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise SourceChangedError(where, "it is no longer a regular file")
    now = version_of(st)
    if now != version:
        raise SourceChangedError(where, f"listed as {version}, now {now} (device:inode:size:mtime_ns:ctime_ns)")


def stat_of(root: str, name: str) -> os.stat_result | None:
    """``lstat`` of ``root/name`` (None if it or a directory above it is missing); a symlink is refused."""
    try:
        parent, last = open_parent(root, name)
    except FileNotFoundError:
        return None
    try:
        st = os.stat(last, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(parent)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(name, f"is a symlink inside {root}")
    return st


def read_small(root: str, name: str, limit: int) -> bytes | None:
    """The regular file ``root/name`` if it exists and holds at most ``limit`` bytes, else None."""
    try:
        with open_file(root, name) as f:
            data = f.read(limit + 1)
    except (FileNotFoundError, UnsafePathError):
        return None
    return data if len(data) <= limit else None


@contextlib.contextmanager
def output(
    root: str,
    name: str,
    commit: Callable[[os.stat_result], None],
    settle: Callable[[os.stat_result], None] | None = None,
) -> Iterator[BinaryIO]:
    """A new temporary file beside ``root/name``; when the block succeeds: flush, fsync,
    ``commit(its stat)`` (which writes the marker), then rename it onto ``name``, then
    ``settle(its stat after the rename)``, taken from the file still open. Otherwise it is removed."""
    parent, last = open_parent(root, name, create_parents=True)
    try:
        _refuse_in_the_way(parent, last, name)
        temporary = f"{TEMP_PREFIX}{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=parent)
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
                commit(os.fstat(out.fileno()))
                os.replace(temporary, last, src_dir_fd=parent, dst_dir_fd=parent)
                if settle is not None:
                    settle(os.fstat(out.fileno()))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=parent)
            raise
    finally:
        os.close(parent)


def _refuse_in_the_way(parent: int, last: str, name: str) -> None:
    try:
        mode = os.stat(last, dir_fd=parent, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise UnsafePathError(name, "names a symlink inside the destination")
    if not stat.S_ISREG(mode):
        raise UnsafePathError(name, "names something other than a regular file")
