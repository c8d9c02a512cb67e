"""Local paths derived from untrusted names (S3 keys, names in a listing or a message) stay inside a root.

:func:`split_name` checks a relative name against every way it could leave its
root or mean something other than it says; :func:`contained_path` then walks it
from the root, one component at a time, refusing a symlink or a non-directory on
the way and (when asked) creating the missing directories *inside the root only*.
Nothing is created before the whole name has been checked, so a refused name
leaves no directory and no temporary file behind.

A component that is a symlink is refused even when it points back inside the
root: the walk never follows a link the untrusted side may have planted. The
root itself is trusted (the user named it) and may be a symlink.

:func:`contained_path` returns a path, so another local process that can write
inside the root may swap a checked directory for a symlink between the check and
the write. :func:`open_parent` closes that race: it opens every directory
relative to the one before with ``O_NOFOLLOW``, so the descriptor it returns is
of a directory inside the root whatever is renamed meanwhile, and the caller
creates, opens and renames the final component relative to it (``dir_fd=``).
Bulk jobs write that way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import Final

from .errors import UnsafePathError

__all__ = ["MAX_NAME_BYTES", "MAX_NAME_COMPONENT_BYTES", "contained_path", "open_parent", "split_name"]

#: Longest single path component accepted (NAME_MAX on Linux and macOS), in UTF-8 bytes.
MAX_NAME_COMPONENT_BYTES: Final = 255
#: Longest relative name accepted (PATH_MAX on Linux), in UTF-8 bytes.
MAX_NAME_BYTES: Final = 4096


def split_name(name: str) -> tuple[str, ...]:
    """The components of the relative ``/``-separated ``name``, or :class:`UnsafePathError`.

    Refused: an empty name or component (a leading, doubled or trailing ``/``),
    ``.`` and ``..``, NUL and every other C0 or C1 control character (and DEL), backslashes, a
    Windows drive (``C:``), text that is not valid UTF-8, and names longer than
    :data:`MAX_NAME_BYTES` or with a component longer than
    :data:`MAX_NAME_COMPONENT_BYTES`.
    """
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePathError(name, "is not valid UTF-8") from None
    if not name:
        raise UnsafePathError(name, "is empty")
    if len(encoded) > MAX_NAME_BYTES:
        raise UnsafePathError(name, f"is longer than {MAX_NAME_BYTES} bytes")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise UnsafePathError(name, "contains a control character")
    if "\\" in name:
        raise UnsafePathError(name, "contains a backslash")
    parts = tuple(name.split("/"))
    for part in parts:
        if part in ("", ".", ".."):
            what = "an empty component" if not part else f"a {part!r} component"
            raise UnsafePathError(name, f"has {what}")
        if len(part.encode("utf-8")) > MAX_NAME_COMPONENT_BYTES:
            raise UnsafePathError(name, f"has a component longer than {MAX_NAME_COMPONENT_BYTES} bytes")
    if len(parts[0]) == 2 and parts[0][1] == ":":
        raise UnsafePathError(name, "starts with a drive letter")
    return parts


def contained_path(root: str | os.PathLike[str], name: str, *, create_parents: bool = False) -> Path:
    """``root/name`` after checking that it stays inside ``root``.

    Every directory between ``root`` and the final component must be a real
    directory (not a symlink); with ``create_parents`` the missing ones are made
    (mode 0777 less the umask), but only after the whole name passed
    :func:`split_name`. The final component may be missing or a regular file; a
    symlink there is refused too, so a write never goes through it.
    """
    parts = split_name(name)
    base = Path(root)
    current = base
    for index, part in enumerate(parts):
        current = current / part
        last = index == len(parts) - 1
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            if last:
                break
            if not create_parents:
                continue  # nothing below a missing directory can be a link either
            with contextlib.suppress(FileExistsError):  # made meanwhile: checked just below
                os.mkdir(current)
            mode = os.lstat(current).st_mode
        if stat.S_ISLNK(mode):
            raise UnsafePathError(name, f"goes through a symlink ({part!r}) inside {os.fspath(base)}")
        if not last and not stat.S_ISDIR(mode):
            raise UnsafePathError(name, f"goes through {part!r}, which is not a directory")
        if last and stat.S_ISDIR(mode):
            raise UnsafePathError(name, "names an existing directory")
    return current


_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_parent(root: str | os.PathLike[str], name: str, *, create_parents: bool = False) -> tuple[int, str]:
    """A descriptor of the directory that holds ``root/name``, and the final component of ``name``.

    ``name`` passes :func:`split_name` first; then each directory below ``root``
    is opened relative to the one before without following a symlink (a
    symlink or a non-directory there raises :class:`UnsafePathError`), and with
    ``create_parents`` a missing one is made (mode 0777 less the umask) inside
    the directory already opened. ``root`` itself is trusted and is created if
    missing when ``create_parents`` is set. The caller closes the descriptor.
    """
    parts = split_name(name)
    if create_parents:
        os.makedirs(root, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for part in parts[:-1]:
        fd = _open_below(fd, part, name, create=create_parents)  # closes fd, even when it raises
    return fd, parts[-1]


def _open_below(parent: int, part: str, name: str, *, create: bool) -> int:
    """The directory ``part`` of ``parent`` (closing ``parent``), made first if missing and ``create``."""
    try:
        try:
            child = os.open(part, _DIRECTORY_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=parent)
            child = os.open(part, _DIRECTORY_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        link = stat.S_ISLNK(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode)
        what = f"a symlink ({part!r})" if link else f"{part!r}, which is not a directory"
        raise UnsafePathError(name, f"goes through {what}") from None
    finally:
        os.close(parent)
    return child
