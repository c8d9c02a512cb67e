"""The names envelope 0.1 wrote, which busta still reads (it writes only its own).

The project was called *envelope* until 0.2.0. The wire format, provider ids and key
namespaces (``envelope-local``, ``envelope-demo``) never change; the names below did, and every
place that reads one of them also accepts its old form (busta's own wins where both exist):

- environment variables: ``BUSTA_*``, also ``ENVELOPE_*``;
- the configuration directory: ``~/.config/busta/``, also ``~/.config/envelope/``;
- S3 bulk done-marker metadata: ``busta-bulk-*``, also ``envelope-bulk-*``;
- local bulk markers: ``.busta-bulk/``, also ``.envelope-bulk/``;
- bulk temporary outputs: ``.busta-bulk-*.tmp``, also ``.envelope-bulk-*.tmp``;
- the S3 context metadata ``busta-encryption-context`` (was ``envelope-encryption-context``) is
  informational: busta never reads it, since a message's header holds its context.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = [
    "ENV_PREFIX",
    "LEGACY_BULK_METADATA_PREFIX",
    "LEGACY_CONFIG_DIR_NAME",
    "LEGACY_CONTEXT_METADATA_KEY",
    "LEGACY_ENV_PREFIX",
    "LEGACY_MARKER_DIR",
    "LEGACY_TEMP_PREFIX",
    "environ",
    "legacy_env_name",
]

ENV_PREFIX: Final = "BUSTA_"
LEGACY_ENV_PREFIX: Final = "ENVELOPE_"
LEGACY_CONFIG_DIR_NAME: Final = "envelope"
LEGACY_CONTEXT_METADATA_KEY: Final = "envelope-encryption-context"
LEGACY_BULK_METADATA_PREFIX: Final = "envelope-bulk-"
LEGACY_MARKER_DIR: Final = ".envelope-bulk"
LEGACY_TEMP_PREFIX: Final = ".envelope-bulk-"


def legacy_env_name(name: str) -> str | None:
    """``ENVELOPE_X`` for ``BUSTA_X``; None for a name busta did not rename."""
    return LEGACY_ENV_PREFIX + name.removeprefix(ENV_PREFIX) if name.startswith(ENV_PREFIX) else None


def environ(name: str) -> str | None:
    """The non-empty value of environment variable ``name``, else (for a ``BUSTA_*`` name) of its
    ``ENVELOPE_*`` form, else None."""
    value = os.environ.get(name)
    if value:
        return value
    legacy = legacy_env_name(name)
    return (os.environ.get(legacy) or None) if legacy else None
