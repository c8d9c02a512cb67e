"""Run the benchmark suite: ``python -m benchmarks [--quick] [--out DIR]``.

Runs the sweeps (frame length, message size), prints one table with every target ratio
and its goal (issue 18: against bare loops of the same run), and writes ``results.csv``,
``sweep.csv``, ``sizes.csv`` and (with matplotlib) ``sweep.png`` and ``sizes.png`` into
``--out``. ``--quick`` is the CI smoke mode: tiny sizes, one repetition, no verdicts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from . import plots, suite, sweeps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes, one repetition")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="where to write CSV and PNG")
    parser.add_argument("--no-official", action="store_true", help="skip the official aws-encryption-sdk")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = suite.Config.quick() if args.quick else suite.Config.full()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}"
    )
    start = time.monotonic()
    results = suite.run_all(config, official=not args.no_official)
    print(suite.format_table(results.rows, verdicts=not args.quick))
    written = [args.out / "results.csv", args.out / "sweep.csv", args.out / "sizes.csv"]
    suite.write_rows(results.rows, written[0])
    sweeps.write_points(results.frames, written[1], "frame_length")
    sweeps.write_points(results.sizes, written[2], "message_bytes")
    if plots.plot_sweep(results.frames, args.out / "sweep.png", config.message_bytes):
        written.append(args.out / "sweep.png")
    if plots.plot_sizes(results.sizes, args.out / "sizes.png"):
        written.append(args.out / "sizes.png")
    print(f"wrote {', '.join(map(str, written))} in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
