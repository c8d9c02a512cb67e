"""``busta keygen``'s writing of a key record (reading one is :mod:`busta.keyfile`, a library module)."""

from __future__ import annotations

import os
from pathlib import Path

from ..keyfile import KeyRecord, encode_record
from .errors import CliError
from .outputs import local_output

__all__ = ["write_record"]


def write_record(record: KeyRecord, path: Path, *, force: bool) -> None:
    """Write ``record`` to ``path`` (mode 0600, atomically); refuse an existing file unless ``force``."""
    if os.path.lexists(path) and not force:
        raise CliError(f"{path} already exists; pass --force to replace it (the old key is then lost)")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with local_output(path, force=True, mode=0o600) as out:  # an existing FIFO or device: written through
        out.write(encode_record(record))
