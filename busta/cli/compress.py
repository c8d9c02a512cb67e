"""``busta encrypt --compress``: checked before any job runs."""

from __future__ import annotations

from ..compression import check_compression
from ..errors import UsageError
from .errors import CliError

__all__ = ["check_compress"]


def check_compress() -> None:
    """--compress needs zstandard (exit 1, with the install command), checked before any job runs."""
    try:
        check_compression("zstd")
    except UsageError as exc:
        raise CliError(str(exc)) from exc
