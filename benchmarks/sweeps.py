"""The sweeps of issue 18: throughput against frame length and against message size, and target 2.

- **Frame sweep** (``sweep.csv``, ``sweep.png``): a ``Config.message_bytes`` message (16 MiB), suite
  0x0478, at every frame length of ``Config.sweep_frames``, encrypt and decrypt: the bare loop on 1
  and on 2 threads, busta with ``threads=1`` and with the default threads (and ``threads=2`` where the
  default is not 2), the official SDK.
- **Size sweep** (``sizes.csv``, ``sizes.png``): 64 KiB frames, message sizes ``Config.sweep_sizes``
  (1 KiB to 256 MiB), the same lines but the official SDK. One-shot calls: the bare loops write into
  a buffer as malloc gives one (``BareFrames.encrypt(fresh=True)``). A timed run of a small message
  makes enough calls to seal about ``Config.run_bytes``.
- **Target 2** (default threads never lose to ``threads=1``, goal 0.95x): the worst ratio over each
  sweep, and over a few points of the signed suite 0x0578 (``Config.signed_frames`` at 16 MiB,
  ``Config.signed_sizes`` at 64 KiB frames): SHA-384 caps those on one core. A point below the
  goal is measured again (``CONFIRM_ROUNDS``); the row reports that, an info row the first pass.

Values are GB/s of plaintext from medians of interleaved rounds (all lines of a point alternate).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from busta.suites import AlgorithmSuite
from tests.support import oracle

from ._bare import BareFrames
from ._common import (
    DEFAULT_THREADS,
    NAME,
    NAMESPACE,
    SIGNED,
    UNSIGNED,
    Bench,
    Config,
    KiB,
    MiB,
    Row,
    _client,
    _gbps,
    _size,
)
from ._timing import interleaved

#: Each line of the plots and CSVs: its key and its label.
LINES = {
    "bare1": "bare AES-GCM, 1 thread",
    "bare2": "bare AES-GCM, 2 threads",
    "one": "busta, threads=1",
    "default": f"busta, default threads ({DEFAULT_THREADS})",
    "two": "busta, threads=2",
    "official": "official aws-encryption-sdk",
}
SIZE_FRAME = 64 * KiB


#: Target 2's goal: default threads reach at least this fraction of ``threads=1``'s speed at every point.
DEFAULTS_GOAL = 0.95
#: A point whose first ratio falls below the goal is measured again, default threads and ``threads=1``
#: alone, in this many times the rounds: one 16 MiB call lasts about 8 ms, and the worst of 13 noisy
#: ratios is below its true value however the code performs.
CONFIRM_ROUNDS = 3


@dataclass(frozen=True)
class Point:
    x: int  # the frame length (frame sweep) or the message size (size sweep)
    enc: dict[str, float]  # GB/s by line
    dec: dict[str, float]
    #: default / threads=1 by direction, measured again where the first pass fell below the goal
    again: dict[str, float] = field(default_factory=dict)

    def first_ratio(self, direction: str) -> float:
        """Default threads against ``threads=1`` in the sweep itself (above 1: the default is the faster)."""
        gbps = self.enc if direction == "enc" else self.dec
        return gbps["default"] / gbps["one"]

    def ratio(self, direction: str) -> float:
        """Default threads against ``threads=1``: measured again if the first pass fell below the goal."""
        return self.again.get(direction, self.first_ratio(direction))


def _confirmed(point: Point, runs: dict[str, Callable[[], object]], repeats: int) -> Point:
    """``point``, with each direction whose ratio fell below :data:`DEFAULTS_GOAL` measured again: the
    point's own ``enc one`` / ``enc default`` runs (and ``dec``) alone, ``CONFIRM_ROUNDS`` times the rounds."""
    low = [d for d in ("enc", "dec") if point.first_ratio(d) < DEFAULTS_GOAL]
    if not low:
        return point
    again = {f"{d} {line}": runs[f"{d} {line}"] for d in low for line in ("one", "default")}
    t = interleaved(again, repeats * CONFIRM_ROUNDS)
    return replace(point, again={d: t.ratio(f"{d} one", f"{d} default") for d in low})


def _repeat(call: Callable[[], object], calls: int) -> Callable[[], None]:
    def go() -> None:
        for _ in range(calls):
            call()

    return go


def _busta_runs(
    bench: Bench, size: int, frame: int, suite: AlgorithmSuite, calls: int, lines: tuple[str, ...]
) -> dict[str, Callable[[], object]]:
    """Runs of busta's lines (``one``, ``default``, ``two``) for a message of ``size`` bytes."""
    data, keyring = bench.data[:size], bench.keyring
    threads = {"one": 1, "default": None, "two": 2}
    runs: dict[str, Callable[[], object]] = {}
    for line in lines:
        client = _client(threads[line])
        message = client.encrypt(data, keyring=keyring, algorithm=suite, frame_length=frame)
        enc = functools.partial(client.encrypt, data, keyring=keyring, algorithm=suite, frame_length=frame)
        runs[f"enc {line}"] = _repeat(enc, calls)
        runs[f"dec {line}"] = _repeat(functools.partial(client.decrypt, message, keyring=keyring), calls)
    return runs


def _bare_runs(bench: Bench, size: int, frame: int, calls: int) -> dict[str, Callable[[], object]]:
    runs: dict[str, Callable[[], object]] = {}
    for threads in (1, 2):
        bare = BareFrames(frame, bench.data[:size], threads)
        runs[f"enc bare{threads}"] = _repeat(functools.partial(bare.encrypt, fresh=True), calls)
        runs[f"dec bare{threads}"] = _repeat(functools.partial(bare.decrypt, fresh=True), calls)
    return runs


def _official_runs(bench: Bench, size: int, frame: int) -> dict[str, Callable[[], object]]:
    keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
    data = bytes(bench.data[:size])
    theirs = oracle.official_encrypt(data, keys=keys, suite_id=UNSIGNED.id, frame_length=frame)
    return {
        "enc official": lambda: oracle.official_encrypt(data, keys=keys, suite_id=UNSIGNED.id, frame_length=frame),
        "dec official": lambda: oracle.official_decrypt(theirs, keys=keys),
    }


def _point(x: int, times: dict[str, float], sizes: dict[str, int]) -> Point:
    gbps = {name: _gbps(sizes.get(name.split()[1], 0), seconds) for name, seconds in times.items()}
    return Point(
        x,
        {name.split()[1]: value for name, value in gbps.items() if name.startswith("enc ")},
        {name.split()[1]: value for name, value in gbps.items() if name.startswith("dec ")},
    )


def _busta_lines() -> tuple[str, ...]:
    return ("one", "default") if DEFAULT_THREADS == 2 else ("one", "default", "two")


def _show(kind: str, point: Point) -> None:
    for direction, gbps in (("encrypt", point.enc), ("decrypt", point.dec)):
        values = "  ".join(f"{line} {value:6.3f}" for line, value in gbps.items())
        short = "enc" if direction == "encrypt" else "dec"
        again = f" (measured again: {point.again[short]:.2f}x)" if short in point.again else ""
        ratio = point.first_ratio(short)
        print(f"{kind} {_size(point.x):>7} {direction}: {values} GB/s; default/1 {ratio:.2f}x{again}")


def frame_sweep(config: Config, *, official: bool) -> list[Point]:
    bench = Bench(config.message_bytes)
    size, points = config.message_bytes, []
    for frame in config.sweep_frames:
        runs = _bare_runs(bench, size, frame, 1) | _busta_runs(bench, size, frame, UNSIGNED, 1, _busta_lines())
        t = interleaved(runs, config.repeats)
        if official:  # information only, and slow: fewer rounds, on their own
            t |= interleaved(_official_runs(bench, config.official_bytes, frame), max(1, config.repeats // 4))
        sizes = dict.fromkeys(LINES, size) | {"official": config.official_bytes}
        points.append(_confirmed(_point(frame, t, sizes), runs, config.repeats))
        _show("frames", points[-1])
    return points


def _calls(config: Config, size: int, most: int) -> int:
    return max(1, min(most, config.run_bytes // size))


def size_sweep(config: Config) -> list[Point]:
    bench = Bench(max(config.sweep_sizes))
    points = []
    for size in config.sweep_sizes:
        calls = _calls(config, size, 500)
        runs = _bare_runs(bench, size, SIZE_FRAME, calls)
        runs |= _busta_runs(bench, size, SIZE_FRAME, UNSIGNED, calls, _busta_lines())
        repeats = config.repeats if size <= 16 * MiB else max(1, config.repeats // 2)
        t = interleaved(runs, repeats)
        points.append(_confirmed(_point(size, t, dict.fromkeys(LINES, size * calls)), runs, repeats))
        _show("sizes", points[-1])
    return points


def signed_points(config: Config) -> list[tuple[str, Point]]:
    """Default threads and ``threads=1`` for the signed suite, at a few frame lengths and sizes."""
    bench = Bench(max((config.message_bytes, *config.signed_sizes)))
    cases = [
        (f"{_size(f)} frames, {_size(config.message_bytes)}", config.message_bytes, f) for f in config.signed_frames
    ]
    cases += [(f"{_size(s)} message, 64 KiB frames", s, SIZE_FRAME) for s in config.signed_sizes]
    points = []
    for label, size, frame in cases:
        calls = _calls(config, size, 100)
        runs = _busta_runs(bench, size, frame, SIGNED, calls, ("one", "default"))
        repeats = max(1, min(config.repeats, max(3, config.repeats // 2)))
        first = _point(size, interleaved(runs, repeats), dict.fromkeys(LINES, size * calls))
        points.append((label, _confirmed(first, runs, repeats)))
        _show(f"0x0578 {label}:", points[-1][1])
    return points


def defaults_rows(frames: list[Point], sizes: list[Point], signed: list[tuple[str, Point]]) -> list[Row]:
    """Target 2: the worst ratio of default threads to ``threads=1`` over each sweep (points below the
    goal measured again), and the worst of the first pass beside it."""
    rows = []
    for direction, verb in (("enc", "encrypt"), ("dec", "decrypt")):
        labelled = [
            *((f"{verb}, worst of {len(frames)} frame lengths", _size(p.x), p) for p in frames),
            *((f"{verb}, worst of {len(sizes)} message sizes", _size(p.x), p) for p in sizes),
            *((f"0x0578 {verb}, worst of {len(signed)}", label, p) for label, p in signed),
        ]
        for sweep in dict.fromkeys(what for what, _, _ in labelled):
            points = [(at, p) for what, at, p in labelled if what == sweep]
            at, worst = min(points, key=lambda ap: ap[1].ratio(direction))
            rows.append(Row("18.2 defaults", f"{sweep} (at {at})", worst.ratio(direction), DEFAULTS_GOAL, "x"))
            at, first = min(points, key=lambda ap: ap[1].first_ratio(direction))
            rows.append(Row("info", f"{sweep}, first pass (at {at})", first.first_ratio(direction), None, "x"))
    for p in frames:
        if p.x in (64 * KiB, MiB):
            for direction, verb in (("enc", "encrypt"), ("dec", "decrypt")):
                what = f"{verb} {_size(p.x)} frames: default threads vs 1"
                rows.append(Row("info", what, p.ratio(direction), None, "x"))
    return rows


def official_rows(frames: list[Point]) -> list[Row]:
    """Information (issue 3's 5x and 10x goals are gone): default threads against the official SDK."""
    rows = []
    for p in frames:
        if p.x in (4 * KiB, 64 * KiB, MiB) and "official" in p.enc:
            for direction, gbps in (("encrypt", p.enc), ("decrypt", p.dec)):
                what = f"{direction} 0x0478 {_size(p.x)} frames vs official SDK"
                rows.append(Row("info", what, gbps["default"] / gbps["official"], None, "x"))
    return rows


def write_points(points: list[Point], path: Path, x_name: str) -> None:
    """One row per point: GB/s of every line, encrypt then decrypt, the default/1 ratios of the sweep,
    and those measured again (blank where the first pass met the goal)."""
    lines = [line for line in LINES if any(line in p.enc for p in points)]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [x_name]
            + [f"{d}_{line}_gbps" for d in ("encrypt", "decrypt") for line in lines]
            + ["encrypt_default_vs_1", "decrypt_default_vs_1", "encrypt_measured_again", "decrypt_measured_again"]
        )
        for p in points:
            values = [p.enc.get(line) for line in lines] + [p.dec.get(line) for line in lines]
            values += [p.first_ratio("enc"), p.first_ratio("dec"), p.again.get("enc"), p.again.get("dec")]
            writer.writerow([p.x] + ["" if v is None else f"{v:.4f}" for v in values])
