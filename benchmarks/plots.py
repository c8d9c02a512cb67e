"""The sweeps' plots (matplotlib, if the environment has it): ``sweep.png`` and ``sizes.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import _size
from .sweeps import LINES, Point

#: How each line is drawn: the bare loops dashed and black, busta's lines in colour.
STYLE: dict[str, dict[str, Any]] = {
    "bare1": {"color": "black", "linestyle": "--"},
    "bare2": {"color": "black", "linestyle": ":"},
    "one": {"color": "tab:blue"},
    "default": {"color": "tab:orange"},
    "two": {"color": "tab:green"},
    "official": {"color": "tab:red"},
}


def _pyplot() -> Any:
    """matplotlib's pyplot on a file backend, or None where matplotlib is not installed."""
    try:
        import matplotlib  # noqa: PLC0415 - heavy, and only the plots need it
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _lines(ax: Any, points: list[Point], direction: str, lines: tuple[str, ...]) -> None:
    xs = [p.x for p in points]
    for line in lines:
        values = [(p.enc if direction == "enc" else p.dec).get(line) for p in points]
        if all(v is not None for v in values):
            ax.plot(xs, values, marker="o", markersize=3, label=LINES[line], **STYLE[line])


def _log_x(ax: Any, xs: list[int], label: str) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([_size(x) for x in xs], rotation=45, fontsize=8)
    ax.set_xlabel(label)
    ax.grid(True, alpha=0.3)


def plot_sweep(points: list[Point], path: Path, message_bytes: int) -> bool:
    """Throughput against frame length, an encrypt and a decrypt panel; False if matplotlib is missing."""
    plt = _pyplot()
    if plt is None or not points:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for ax, direction, verb in zip(axes, ("enc", "dec"), ("Encryption", "Decryption"), strict=True):
        _lines(ax, points, direction, tuple(LINES))
        _log_x(ax, [p.x for p in points], "frame length")
        ax.set_title(f"{verb}: {_size(message_bytes)} message, suite 0x0478, in memory")
    axes[0].set_ylabel("plaintext GB/s")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_sizes(points: list[Point], path: Path) -> bool:
    """Throughput against message size (top) and each side's 2-thread speed-up over 1 thread
    (bottom): where parallelism starts to pay. False if matplotlib is missing."""
    plt = _pyplot()
    if plt is None or not points:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(13, 8), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    xs = [p.x for p in points]
    for col, direction, verb in ((0, "enc", "Encryption"), (1, "dec", "Decryption")):
        top, bottom = axes[0][col], axes[1][col]
        _lines(top, points, direction, ("bare1", "bare2", "one", "default", "two"))
        top.set_yscale("log")
        top.grid(True, alpha=0.3, which="both")
        top.set_title(f"{verb}: one-shot, 64 KiB frames, suite 0x0478")
        gbps = [p.enc if direction == "enc" else p.dec for p in points]
        bottom.plot(xs, [g["default"] / g["one"] for g in gbps], marker="o", markersize=3, label="busta: default / 1")
        bottom.plot(
            xs, [g["bare2"] / g["bare1"] for g in gbps], marker="o", markersize=3, label="bare: 2 / 1", **STYLE["bare2"]
        )
        bottom.axhline(1.0, color="grey", linewidth=0.8)
        bottom.axhline(0.95, color="red", linewidth=0.8, linestyle="--", label="target 2: 0.95")
        _log_x(bottom, xs, "message size")
        bottom.set_ylabel("speed-up over 1 thread")
        bottom.legend(fontsize=8)
    axes[0][0].set_ylabel("plaintext GB/s (log)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
