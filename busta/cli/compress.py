"""``busta encrypt --compress``: checked before any job runs."""

from __future__ import annotations

from collections.abc import Sequence

from ..compression import check_compression
from ..errors import UsageError
from .errors import CliError, CliUsageError
from .files import Job, S3Uri

__all__ = ["check_compress"]


def check_compress(jobs: Sequence[Job]) -> None:
    """--compress needs zstandard (exit 1, with the install command), and applies to local and standard
    outputs only: an S3 upload does not compress yet (exit 2)."""
    uploads = [job for job in jobs if isinstance(job.dest, S3Uri)]
    if uploads:
        raise CliUsageError(f"--compress does not apply to s3:// outputs yet ({uploads[0].dest}); encrypt to a file")
    try:
        check_compression("zstd")
    except UsageError as exc:
        raise CliError(str(exc)) from exc
