"""Run the benchmark suite: ``python -m benchmarks [--quick] [--out DIR]``.

Prints one table with every target ratio of issue 3, runs the frame-size sweep
and writes ``results.csv``, ``sweep.csv`` and ``sweep.png`` into ``--out``.
``--quick`` is the CI smoke mode: tiny sizes, one repetition, no verdicts.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from . import suite


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
    rows = suite.run_targets(config, official=not args.no_official)
    print(suite.format_table(rows, verdicts=not args.quick))
    suite.write_rows(rows, args.out / "results.csv")
    sweep = suite.run_sweep(config, official=not args.no_official)
    suite.write_sweep(sweep, args.out / "sweep.csv")
    suite.plot_sweep(sweep, args.out / "sweep.png")
    print(f"wrote {args.out / 'results.csv'}, {args.out / 'sweep.csv'}, {args.out / 'sweep.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
