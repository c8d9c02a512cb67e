"""Run the real ``busta`` command line in a fresh process (``python -m busta``), with this checkout's package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_busta(
    args: list[str], cwd: Path, *, stdin: bytes = b"", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """``python -m busta ARGS`` in ``cwd``, XDG_CONFIG_HOME at ``cwd/config``; stdout and stderr captured."""
    full = {**os.environ, "XDG_CONFIG_HOME": str(cwd / "config"), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        input=stdin,
        env=full,
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
