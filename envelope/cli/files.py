"""Where data comes from and goes to: local paths, ``-`` (stdin/stdout), ``s3://bucket/key``.

:func:`plan` turns the command's inputs and ``-o`` into one :class:`Job` per file;
:func:`atomic_file` writes an output through a temporary file renamed into place only
after success (and never over an existing file unless ``force``).
"""

from __future__ import annotations

import errno
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .._atomic import atomic_output
from .errors import CliError, CliUsageError

__all__ = ["STDIO", "Job", "Location", "S3Uri", "Stdio", "atomic_file", "parse_location", "plan"]


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Stdio:
    def __str__(self) -> str:
        return "-"


STDIO = Stdio()
Location = Path | S3Uri | Stdio


@dataclass(frozen=True)
class Job:
    source: Location
    dest: Location


def parse_location(text: str) -> Location:
    if text == "-":
        return STDIO
    if text.startswith("s3://"):
        bucket, _, key = text[5:].partition("/")
        if not bucket:
            raise CliUsageError(f"{text!r} names no bucket (expected s3://bucket/key)")
        return S3Uri(bucket, key)
    return Path(text)


def _expand(text: str) -> list[Location]:
    location = parse_location(text)
    if not isinstance(location, Path) or location.exists() or not glob.has_magic(text):
        return [location]
    matches = sorted(glob.glob(text, recursive=True))
    if not matches:
        raise CliError(f"{text}: no file matches")
    return [Path(m) for m in matches]


def _output_name(name: str, *, encrypting: bool, suffix: str) -> str:
    if encrypting:
        return name + suffix
    if not name.endswith(suffix) or name == suffix:
        raise CliError(f"{name}: does not end with {suffix!r}; cannot name its output (use --suffix, or -o a file)")
    return name[: -len(suffix)]


def _sources(inputs: list[str], *, encrypting: bool, recursive: bool, suffix: str) -> list[tuple[Location, str]]:
    """Every input file with the relative path its output gets under an output directory."""
    found: list[tuple[Location, str]] = []
    for text in inputs:
        for location in _expand(text):
            if isinstance(location, S3Uri):
                if not location.key or location.key.endswith("/"):
                    raise CliError(f"{location}: S3 prefixes are not supported as input; name one object")
                found.append((location, location.key.rsplit("/", 1)[-1]))
            elif isinstance(location, Stdio):
                found.append((location, ""))
            elif location.is_dir():
                if not recursive:
                    raise CliError(f"{location}: is a directory (pass --recursive)")
                found += _walk(location, encrypting=encrypting, suffix=suffix)
            elif location.exists():
                found.append((location, location.name))
            else:
                raise CliError(f"{location}: no such file")
    return found


def _walk(root: Path, *, encrypting: bool, suffix: str) -> list[tuple[Location, str]]:
    found: list[tuple[Location, str]] = []
    for directory, subdirs, names in os.walk(root):
        subdirs.sort()
        for name in sorted(names):
            if not encrypting and not name.endswith(suffix):
                continue  # not an encrypted file of ours: a decrypt of a tree skips it
            path = Path(directory) / name
            found.append((path, path.relative_to(root).as_posix()))
    return found


def plan(inputs: list[str], output: str, *, encrypting: bool, recursive: bool, suffix: str) -> list[Job]:
    """One job per input file. Several inputs, or a directory, need ``-o`` to be a directory (or S3 prefix)."""
    sources = _sources(inputs, encrypting=encrypting, recursive=recursive, suffix=suffix)
    if sum(isinstance(s, Stdio) for s, _ in sources) > 1:
        raise CliUsageError("'-' (stdin) may be given only once")
    dest = parse_location(output)
    many = len(sources) != 1 or any(isinstance(p, Path) and p.is_dir() for p in map(parse_location, inputs))
    if not sources:
        raise CliError("no input files found")
    if isinstance(dest, Stdio):
        if many:
            raise CliUsageError("-o - (stdout) takes exactly one input file")
        return [Job(sources[0][0], dest)]
    into_directory = many or (isinstance(dest, Path) and dest.is_dir()) or (isinstance(dest, S3Uri) and not dest.key)
    if isinstance(dest, S3Uri) and dest.key.endswith("/"):
        into_directory = True
    if not into_directory:
        return [Job(sources[0][0], dest)]
    jobs = []
    for source, relative in sources:
        if not relative:
            raise CliUsageError("stdin ('-') needs -o to name a file, not a directory")
        parent, _, name = relative.rpartition("/")
        name = _output_name(name, encrypting=encrypting, suffix=suffix)
        target = f"{parent}/{name}" if parent else name
        if isinstance(dest, S3Uri):
            prefix = dest.key.rstrip("/")
            jobs.append(Job(source, S3Uri(dest.bucket, f"{prefix}/{target}" if prefix else target)))
        else:
            jobs.append(Job(source, dest / target))
    return jobs


def _commit(temporary: str, path: Path, *, force: bool) -> None:
    if force:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)  # fails if path exists: no window in which another file is replaced
    except FileExistsError:
        raise CliError(f"{path}: already exists (pass --force to replace it)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if path.exists():
            raise CliError(f"{path}: already exists (pass --force to replace it)") from None
        os.replace(temporary, path)
    else:
        os.unlink(temporary)


@contextmanager
def atomic_file(path: Path, *, force: bool, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a temporary file beside ``path``, renamed to ``path`` only if the block succeeds.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(
        path, prefix=f".{path.name}.", mode=mode, commit=lambda temporary, _: _commit(temporary, path, force=force)
    ) as out:
        yield out
