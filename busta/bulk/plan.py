"""Every destination of a bulk job, planned before the first task runs.

A source whose name (or its destination's) is refused by
:meth:`~busta.bulk.places.Place.check_name` fails there, as its own
object in the report, naming it; the others are planned together, and a job
where two sources would write the same destination is refused whole with a
:class:`~busta.errors.UsageError` that lists them. Two destinations collide
when their names are equal (decrypt maps ``x`` and ``x.enc`` both to ``x``),
and in a directory also when they differ only in case or Unicode normalization
(a case-insensitive file system would hold one file) or when one is a
directory of the other (``a`` and ``a/b``). S3 keys are distinct in those
last two cases, and may coexist.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Final

from ..errors import UnsafePathError, UsageError
from .places import Source
from .tasks import JobSpec, ObjectResult, check_names, error_text, failure

__all__ = ["plan_destinations"]

#: At most this many colliding groups are listed in the error (then how many more).
_SHOWN: Final = 10


def plan_destinations(job: JobSpec, sources: Sequence[Source]) -> tuple[list[Source], list[ObjectResult]]:
    """The sources to run, and the failed results of those whose names are refused."""
    runnable: list[Source] = []
    refused: list[ObjectResult] = []
    for source in sources:
        try:
            check_names(job, source)
        except UnsafePathError as exc:
            refused.append(failure(job, source, error_text(exc)))
        else:
            runnable.append(source)
    _refuse_collisions(job, runnable)
    return runnable, refused


def _refuse_collisions(job: JobSpec, sources: Sequence[Source]) -> None:
    in_directory = not job.dest.is_s3
    writers: dict[str, list[Source]] = {}
    for source in sources:
        name = job.dest_name(source.name)
        key = unicodedata.normalize("NFC", name).casefold() if in_directory else name
        writers.setdefault(key, []).append(source)
    clashes = [group for group in writers.values() if len(group) > 1]
    if in_directory:
        for key, group in writers.items():
            parts = key.split("/")
            for depth in range(1, len(parts)):
                above = writers.get("/".join(parts[:depth]))
                if above is not None:
                    clashes.append([*above, *group])
    if clashes:
        raise UsageError(_describe(job, clashes))


def _describe(job: JobSpec, clashes: list[list[Source]]) -> str:
    def one(group: list[Source]) -> str:
        where = (f"{job.source.locate(s.name)!r} -> {job.dest.locate(job.dest_name(s.name))!r}" for s in group)
        return " and ".join(where)

    listed = "; ".join(one(group) for group in clashes[:_SHOWN])
    more = f"; and {len(clashes) - _SHOWN} more" if len(clashes) > _SHOWN else ""
    return f"{len(clashes)} destination(s) would each be written by several sources; nothing was done: {listed}{more}"
