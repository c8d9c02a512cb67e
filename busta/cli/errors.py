"""Errors the command line reports itself, within busta's one error tree."""

from __future__ import annotations

from ..errors import BustaError, UsageError

__all__ = ["CliError", "CliUsageError"]


class CliError(BustaError):
    """An operation failed for a reason the CLI detected: exit status 1, one line on stderr."""


class CliUsageError(CliError, UsageError):
    """Options that parse but do not make sense together: exit status 2, like argparse."""
