"""Key files busta trusts (the library and the CLI alike), checked as OpenSSH and GnuPG check theirs.

A key file is opened without following a symlink and without blocking (so a FIFO cannot
hang the command), then checked on the open descriptor (so nothing can be swapped between
the check and the read):

- it is a regular file;
- it is owned by the user running the command (the effective uid) or by root;
- group and others have no access at all to a secret key (a key record, raw AES bytes, an
  RSA private key) and cannot write a public one;
- every directory above it, up to ``/``, is owned by the user or root and not writable by
  group or others, unless it is sticky (``/tmp``): whoever could write one of them could
  swap the key. A symlinked key file is checked where it really lives, and the directory
  holding the link is checked too.

A refusal is a :class:`~busta.errors.KeyFileError` that says how to fix it (``chmod 600 ...``, ``chown ...``).
"""

from __future__ import annotations

import errno
import os
import pwd
import shlex
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import KeyFileError
from .limits import MAX_KEY_FILE_BYTES

__all__ = ["file_kind", "read_key_file"]

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symlink",
}


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is that is not a regular file (``a FIFO``), for an error."""
    return _KINDS.get(stat.S_IFMT(mode), "not a file")


def read_key_file(path: Path, *, what: str = "key file", secret: bool | Callable[[bytes], bool] = True) -> bytes:
    """The content of the key file ``path`` (at most :data:`MAX_KEY_FILE_BYTES`) once it passed
    every check above; :class:`FileNotFoundError` if it does not exist. ``secret`` says whether
    the key is secret, or decides it from the content (a PEM file holding a private key).
    Any other failure to reach or read it (a directory above it that may not be searched, an
    unreadable file) is a :class:`KeyFileError` naming the path."""
    try:
        return _read_checked(path, what, secret)
    except FileNotFoundError:
        raise
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename and str(exc.filename) != str(path) else ""
        raise KeyFileError(f"{what} {path}: {where}{exc.strerror or exc}") from None


def _read_checked(path: Path, what: str, secret: bool | Callable[[bytes], bool]) -> bytes:
    if os.name != "posix":
        return _read_limited(path.read_bytes(), path, what)
    real = Path(os.path.realpath(path))
    _check_directories(real.parent, path, what)
    link_directory = Path(os.path.realpath(Path(os.path.abspath(path)).parent))
    if link_directory != real.parent:
        _check_directories(link_directory, path, what)
    _check_file(path, os.lstat(real), what)  # before opening: never open a device or a FIFO
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KeyFileError(
                f"{what} {path} was replaced by a symlink while it was opened; run the command again"
            ) from None
        raise
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        _check_file(path, st, what)
        data = _read_limited(f.read(MAX_KEY_FILE_BYTES + 1), path, what)
    _check_mode(path, st, what, secret=secret(data) if callable(secret) else secret)
    return data


def _read_limited(data: bytes, path: Path, what: str) -> bytes:
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{what} {path} is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a key file")
    return data


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _check_file(path: Path, st: os.stat_result, what: str) -> None:
    quoted = shlex.quote(str(path))
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(
            f"{what} {path} is {file_kind(st.st_mode)}, not a regular file; give the path of the key file itself"
        )
    if not _trusted_owner(st.st_uid):
        raise KeyFileError(
            f"{what} {path} is owned by {_owner(st.st_uid)}, not by you ({_owner(os.geteuid())}) or root;"
            f" if it is yours, run: chown {_owner(os.geteuid())} {quoted}"
        )


def _check_mode(path: Path, st: os.stat_result, what: str, *, secret: bool) -> None:
    quoted = shlex.quote(str(path))
    mode = stat.S_IMODE(st.st_mode)
    where = f"{what} {path} has mode {mode:04o}"
    if secret and mode & 0o077:
        raise KeyFileError(f"{where}: group or others may access it; run: chmod 600 {quoted}")
    if not secret and mode & 0o022:
        raise KeyFileError(
            f"{what} {path} has mode {mode:04o}: group or others may change it; run: chmod go-w {quoted}"
        )


def _check_directories(directory: Path, path: Path, what: str) -> None:
    """Every directory from ``directory`` (resolved) up to ``/``: owned by the user or root, and
    not writable by group or others unless sticky."""
    for current in (directory, *directory.parents):
        st = os.stat(current)
        quoted = shlex.quote(str(current))
        if not _trusted_owner(st.st_uid):
            raise KeyFileError(
                f"directory {current}, above {what} {path}, is owned by {_owner(st.st_uid)}, who could swap the key;"
                f" move the key to a directory of yours, or run: chown {_owner(os.geteuid())} {quoted}"
            )
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
            raise KeyFileError(
                f"directory {current}, above {what} {path}, is writable by group or others, who could swap the key;"
                f" run: chmod go-w {quoted}"
            )
