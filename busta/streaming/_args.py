"""Checks of the engines' arguments, shared with the API that checks them before any keyring runs."""

from __future__ import annotations

from ..errors import UsageError

__all__ = ["check_limit"]


def check_limit(name: str, value: object) -> None:
    """Raise :class:`UsageError` unless ``value`` is a positive ``int`` (a size limit)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a positive int")
