"""Errors the command line reports itself (beyond :mod:`envelope.errors` and ``OSError``)."""

from __future__ import annotations

__all__ = ["CliError", "CliUsageError"]


class CliError(Exception):
    """An operation failed for a reason the CLI detected: exit status 1, one line on stderr."""


class CliUsageError(CliError):
    """Options that parse but do not make sense together: exit status 2, like argparse."""
