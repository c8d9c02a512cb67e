"""Run the real ``busta`` command line on a pseudo-terminal and collect what a person would see."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from .cli_run import ROOT

__all__ = ["on_terminal"]


def on_terminal(
    args: list[str],
    cwd: Path,
    *,
    columns: int = 80,
    env: Mapping[str, str] | None = None,
    stdout: int | None = None,
    signal_when: tuple[bytes, int] | None = None,
    timeout: float = 120,
) -> tuple[int, bytes]:
    """``python -m busta ARGS`` in ``cwd`` with stderr, and stdout unless ``stdout`` is given, on a
    pseudo-terminal ``columns`` wide; return its status and every byte written to the terminal.
    ``env`` is the whole environment (default: this one, the key store in ``cwd/config``, no
    BUSTA_PROGRESS_MIN_BYTES). With ``signal_when`` (bytes, signal), the signal is sent once those
    bytes have appeared."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "BUSTA_PROGRESS_MIN_BYTES"}
        env = {**env, "XDG_CONFIG_HOME": str(cwd / "config"), "PYTHONPATH": str(ROOT)}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "busta", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout is None else stdout,
            stderr=slave,
            env=dict(env),
            cwd=cwd,
        )
    finally:
        os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    signalled = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
            if signal_when is not None and not signalled and signal_when[0] in output:
                process.send_signal(signal_when[1])
                signalled = True
        else:
            process.kill()
            pytest.fail(f"busta {args} did not finish: {bytes(output)!r}")
        return process.wait(timeout=30), bytes(output)
    finally:
        os.close(master)
