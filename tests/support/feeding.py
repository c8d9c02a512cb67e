"""Keep a CLI process mid-write: feed its stdin on a thread and wait for its temporary output."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

__all__ = ["feed_until_written"]


def feed_until_written(
    process: subprocess.Popen[bytes], data: bytes, directory: Path, at_least: int, *, seconds: float = 30
) -> tuple[Path, threading.Thread]:
    """Write ``data`` to the process's stdin (left open, so the command stays mid-write) on a thread;
    return the temporary output in ``directory`` once it holds ``at_least`` bytes, and the thread."""
    assert process.stdin is not None
    stdin = process.stdin

    def feed() -> None:
        try:
            stdin.write(data)
            stdin.flush()
        except BrokenPipeError:
            pass  # the process died; the wait below says so

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, error = process.communicate()
            raise AssertionError(f"the CLI ended ({process.returncode}) before it was signalled: {error!r}")
        temporary = [p for p in directory.iterdir() if p.name.endswith(".tmp")]
        if temporary and temporary[0].stat().st_size >= at_least:
            return temporary[0], feeder
        time.sleep(0.02)
    raise AssertionError(f"no temporary output of {at_least} bytes in {directory} within {seconds} s")
