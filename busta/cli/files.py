"""Where data comes from and goes to: local paths, ``-`` (stdin/stdout), ``s3://bucket/key``.

:func:`plan` turns the command's inputs and ``-o`` into one :class:`Job` per file, every
output checked against every other before anything is written; an output derived from a
name in a tree or an S3 key stays inside the output directory (:mod:`busta._paths`).
:mod:`busta.cli.outputs` writes them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._paths import contained_path, split_name
from .errors import CliError, CliUsageError

__all__ = ["STDIO", "Job", "Location", "S3Uri", "Stdio", "parse_location", "plan", "refuse_collisions"]


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
    """One input and its output. ``within`` is the output directory when ``dest`` was derived from
    an untrusted name (a name in a tree, an S3 key): the write then stays inside it."""

    source: Location
    dest: Location
    within: Path | None = None


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


def _means_directory(text: str) -> bool:
    """``-o out/`` (or ``out/.``, ``.``, ``..``) names a directory, whether or not it exists yet."""
    return text.endswith(("/", os.sep)) or os.path.basename(text) in ("", ".", "..")


def _into_directory(dest: Location, output: str, many: bool) -> bool:
    if isinstance(dest, S3Uri):
        return many or not dest.key or dest.key.endswith("/")
    if isinstance(dest, Path):
        if _means_directory(output) and dest.exists() and not dest.is_dir():
            raise CliError(f"{output}: is not a directory")
        return many or dest.is_dir() or _means_directory(output)
    return False


def _job_in(dest: Path | S3Uri, source: Location, target: str) -> Job:
    if isinstance(dest, S3Uri):
        prefix = dest.key.rstrip("/")
        return Job(source, S3Uri(dest.bucket, f"{prefix}/{target}" if prefix else target))
    split_name(target)  # a name that would leave dest, or mean something else, is refused here
    return Job(source, contained_path(dest, target), within=dest)


def _needs_output() -> CliUsageError:
    return CliUsageError("several inputs (or a directory) need -o DIRECTORY; one input without -o goes to stdout")


def plan(inputs: list[str], output: str | None, *, encrypting: bool, recursive: bool, suffix: str) -> list[Job]:
    """One job per input file. Several inputs, a directory, or ``-o`` ending in ``/`` need ``-o`` to
    be a directory (or S3 prefix). Two jobs writing one output, or an output that is also an input,
    are refused before anything is written. As in age, no input means stdin, and one input without
    ``-o`` goes to stdout."""
    inputs = inputs or ["-"]
    if output is None and len(inputs) > 1:
        raise _needs_output()
    sources = _sources(inputs, encrypting=encrypting, recursive=recursive, suffix=suffix)
    if sum(isinstance(s, Stdio) for s, _ in sources) > 1:
        raise CliUsageError("'-' (stdin) may be given only once")
    many = len(sources) != 1 or any(isinstance(p, Path) and p.is_dir() for p in map(parse_location, inputs))
    if output is None and many:
        raise _needs_output()
    output = output or "-"
    dest = parse_location(output)
    if not sources:
        raise CliError("no input files found")
    if isinstance(dest, Stdio):
        if many:
            raise CliUsageError("-o - (stdout) takes exactly one input file")
        return [Job(sources[0][0], dest)]
    if not _into_directory(dest, output, many):
        jobs = [Job(sources[0][0], dest)]
    else:
        jobs = []
        for source, relative in sources:
            if not relative:
                raise CliUsageError("stdin ('-') needs -o to name a file, not a directory")
            parent, _, name = relative.rpartition("/")
            name = _output_name(name, encrypting=encrypting, suffix=suffix)
            jobs.append(_job_in(dest, source, f"{parent}/{name}" if parent else name))
    refuse_collisions(jobs)
    return jobs


def _entry(path: Path) -> str:
    """The directory entry ``path`` names, its directory resolved: two spellings of one entry agree."""
    return os.path.join(os.path.realpath(path.parent), path.name)


def _output_key(location: Location) -> object:
    if isinstance(location, Path):
        return _entry(location)
    return location


def _input_keys(location: Location) -> list[object]:
    if isinstance(location, Path):
        return [_entry(location), os.path.realpath(location)]
    return [location]


def refuse_collisions(jobs: list[Job], also_written: Iterable[Path] = ()) -> None:
    """Refuse two jobs that write one output, and an output that is also an input (or ``also_written``)."""
    inputs: dict[object, Job] = {}
    for job in jobs:
        inputs.update((key, job) for key in _input_keys(job.source))
    outputs: dict[object, Job] = {}
    for job in jobs:
        if isinstance(job.dest, Stdio):
            continue
        key = _output_key(job.dest)
        if key in outputs:
            raise CliError(f"{outputs[key].source} and {job.source} would both be written to {job.dest}")
        if key in inputs:
            raise CliError(f"{job.dest}: would be written by this command but is also its input {inputs[key].source}")
        outputs[key] = job
    for path in also_written:
        key = _output_key(path)
        if key in outputs or key in inputs:
            raise CliError(f"{path}: is also an input or output of this command")
