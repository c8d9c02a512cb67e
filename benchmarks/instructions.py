"""Instructions per 1 KiB message (issue 18, target 7), counted by valgrind's callgrind.

This VM's speed moves by up to 1.7x from minute to minute, and a 1 KiB rate moves with it. An
instruction count does not: callgrind counts the instructions the process executes, whatever else
the machine is doing, so two counts of the same tree agree to about 0.2%, and a change to the small
message path can be judged by it in one run each. (Instructions are not seconds: a syscall or a
cache miss counts little. The rates of ``python -m benchmarks`` remain the measure of the target.)

Each figure is the count of ``calls + WARM_CALLS`` calls less that of ``WARM_CALLS`` calls, over
``calls``: the interpreter's start-up, the imports and the warm-up cancel out. The cases are the
calls of the ``18.7 small`` rows (the default call, suite 0x0478, the two-pair context, the raw AES
keyring) and the bare floor (:class:`benchmarks._bare.BareSmallMessage`, the message's cryptography
alone), and the key derivation on its own.

Run: ``python -m benchmarks.instructions [--calls N]`` (valgrind must be installed; about a
minute on two cores).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .suite import Row, format_table

#: Calls made before the counted ones, in both runs of a pair: the caches and the allocator warm.
WARM_CALLS = 100
CASES = ("encrypt", "decrypt", "floor-encrypt", "floor-decrypt", "derive-keys")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _calls(case: str) -> Callable[[], object]:
    """The call that ``case`` names, set up (imported here: the child process counts only these)."""
    import busta  # noqa: PLC0415 - imported in the child, where the counting happens
    from busta import AlgorithmSuite  # noqa: PLC0415
    from busta._secrets import SecretBytes  # noqa: PLC0415
    from busta.context import serialize_context  # noqa: PLC0415
    from busta.crypto.kdf import derive_keys  # noqa: PLC0415

    from ._bare import BareSmallMessage  # noqa: PLC0415
    from ._common import NAME, NAMESPACE, UNSIGNED, Bench  # noqa: PLC0415
    from .targets18 import CONTEXT  # noqa: PLC0415

    bench = Bench(1 << 10)
    keyring, data = bench.keyring, bytes(bench.data)
    message = busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED, encryption_context=CONTEXT)
    floor = BareSmallMessage(serialize_context(CONTEXT), NAMESPACE.encode(), NAME.encode(), len(data))
    floor_message = floor.encrypt(data)
    data_key, message_id = SecretBytes(os.urandom(32)), os.urandom(32)
    return {
        "encrypt": lambda: busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED, encryption_context=CONTEXT),
        "decrypt": lambda: busta.decrypt(message, keyring=keyring),
        "floor-encrypt": lambda: floor.encrypt(data),
        "floor-decrypt": lambda: floor.decrypt(floor_message),
        "derive-keys": lambda: derive_keys(AlgorithmSuite(UNSIGNED), data_key, message_id),
    }[case]


def run_child(case: str, calls: int) -> None:
    """What the counted process does: set ``case`` up, then make the call ``calls`` times."""
    call = _calls(case)
    for _ in range(calls):
        call()


def count(case: str, calls: int) -> int:
    """Instructions of one process that makes ``calls`` calls of ``case`` (after setting it up)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    command += ["-m", "benchmarks.instructions", "--child", case, str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind of {case!r} failed ({done.returncode}): {done.stderr[-2000:]}")
    return int(found.group(1))


def instruction_rows(calls: int, cases: tuple[str, ...] = CASES) -> list[Row]:
    """Instructions per call of each case (the difference of two counted processes, over ``calls``),
    and each default call over its floor. The processes run as many at once as there are cores."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        runs = {
            case: (pool.submit(count, case, WARM_CALLS), pool.submit(count, case, WARM_CALLS + calls)) for case in cases
        }
        counts = {case: (counted.result() - warm.result()) / calls for case, (warm, counted) in runs.items()}
    rows = [Row("info", f"1 KiB {case}: instructions per call", n, None, "instr") for case, n in counts.items()]
    for verb in ("encrypt", "decrypt"):
        if verb in counts and f"floor-{verb}" in counts:
            ratio = counts[verb] / counts[f"floor-{verb}"]
            rows.append(Row("info", f"1 KiB default {verb} over its bare floor (instructions)", ratio, None, "x"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="counted calls of each case (default 1000)")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child[0], int(args.child[1]))
        return
    print(format_table(instruction_rows(args.calls), verdicts=True))


if __name__ == "__main__":
    main()
