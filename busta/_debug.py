"""Debug records of the modules ``import busta`` loads, without importing :mod:`logging` for them.

Until something imports logging no handler can have been configured, so a DEBUG record could go
nowhere: :func:`debug` then does nothing, and ``import busta`` saves logging's few milliseconds.
Once logging is imported (by the application, a test runner, boto3 ...) each name's logger is
looked up once and every record goes through it, exactly as ``logging.getLogger(name).debug``.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["debug"]

_DEBUG = 10  # logging.DEBUG
_loggers: dict[str, Any] = {}


def debug(name: str, message: str, *args: object) -> None:
    """``logging.getLogger(name).debug(message, *args)``, if logging is imported and DEBUG is enabled."""
    logger = _loggers.get(name)
    if logger is None:
        logging = sys.modules.get("logging")
        if logging is None:
            return
        logger = _loggers.setdefault(name, logging.getLogger(name))
    if logger.isEnabledFor(_DEBUG):
        logger.debug(message, *args)
