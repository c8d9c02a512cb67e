"""What a person sees of the progress line, on a real pseudo-terminal of 60 and of 200 columns:
the real console script (``python -m busta``) with its stderr on the terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..support.kms_fixtures import moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer
from ..support.terminal import on_terminal as run_on_terminal

__all__ = ["moto_server"]  # fixture, imported for pytest to find

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = [60, 200]
#: A name longer than the narrow terminal: the line must still fit.
LONG_NAME = "a-file-whose-name-is-longer-than-a-narrow-terminal-is-wide-" + "x" * 40 + ".txt"
_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("TQDM_")}
    return {
        **base,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(ROOT),
        "BUSTA_PROGRESS_MIN_BYTES": "1000",
        "TQDM_MININTERVAL": "0",  # tqdm reads TQDM_* defaults: redraw on every read, to see every line
        **extra,
    }


def busta(args: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[bytes]:
    """The console script with stdout and stderr on pipes."""
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        env=environment(tmp_path, **extra),
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )


def on_terminal(args: list[str], tmp_path: Path, columns: int, **options: Any) -> tuple[int, bytes]:
    """:func:`tests.support.terminal.on_terminal` with this file's environment (a low progress threshold,
    tqdm redrawing on every read); ``env`` adds to it."""
    extra = options.pop("env", None) or {}
    return run_on_terminal(args, tmp_path, columns=columns, env=environment(tmp_path, **extra), **options)


def lines(output: bytes) -> list[str]:
    """What the terminal shows, line by line and redraw by redraw: split on CR and LF, escapes removed."""
    return [_ESCAPE.sub(b"", part).decode("utf-8") for part in re.split(rb"[\r\n]", output) if part]


def made(tmp_path: Path, name: str, size: int) -> Path:
    assert busta(["keygen"], tmp_path).returncode == 0
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_progress_line_fits_the_terminal_and_its_final_line_is_drawn_once(tmp_path: Path, columns: int) -> None:
    made(tmp_path, LONG_NAME, 6_000_000)  # read in 2 MiB chunks: a first draw, two redraws, the final line
    status, output = on_terminal(["encrypt", LONG_NAME, "-o", "out.enc"], tmp_path, columns)
    assert status == 0, output
    shown = lines(output)
    assert len(shown) >= 3 and any(" 0%|" in line for line in shown), shown
    assert all(len(line) <= columns for line in shown), [line for line in shown if len(line) > columns]
    finals = [line for line in shown if "100%" in line]
    assert len(finals) == 1, shown
    assert shown[-1] == finals[0] and "5.72MB/5.72MB" in finals[0]
    assert output.endswith(b"\r\n")  # the final line is ended: the shell's prompt starts a line of its own
    if columns == 200:
        assert LONG_NAME[-40:] in finals[0]  # a wide terminal shows the end of the name at least


@pytest.mark.parametrize("columns", WIDTHS)
def test_an_error_after_the_line_started_begins_a_line_of_its_own(tmp_path: Path, columns: int) -> None:
    made(tmp_path, "secret.txt", 100_000)
    assert busta(["encrypt", "secret.txt", "-o", "secret.txt.enc", "-q"], tmp_path).returncode == 0
    message = (tmp_path / "secret.txt.enc").read_bytes()
    (tmp_path / "cut.enc").write_bytes(message[: len(message) - 100])
    status, output = on_terminal(["decrypt", "cut.enc", "-o", "back.txt"], tmp_path, columns)
    assert status == 1
    assert b"%|" in output  # the line was drawn
    error = output.index(b"busta: error: cut.enc: ")
    assert output[error - 2 : error] == b"\r\n", output  # a line break came before the error
    assert output.count(b"busta: error:") == 1 and output.endswith(b"\r\n")
    assert all(len(line) <= columns for line in lines(output[:error]))
    assert not (tmp_path / "back.txt").exists()


@pytest.mark.parametrize(
    ("signum", "words"),
    [(signal.SIGINT, b"interrupted"), (signal.SIGTERM, b"terminated"), (signal.SIGHUP, b"hung up")],
    ids=["SIGINT", "SIGTERM", "SIGHUP"],
)
def test_a_signal_ends_the_line_before_its_message(tmp_path: Path, signum: int, words: bytes) -> None:
    assert busta(["keygen"], tmp_path).returncode == 0
    big = tmp_path / "big.bin"
    with big.open("wb") as f:  # sparse: 1 GiB in 64-byte frames takes minutes, no disk
        f.truncate(1 << 30)
    args = ["encrypt", "big.bin", "-o", "-", "--force", "--frame-length", "64"]
    status, output = on_terminal(args, tmp_path, 60, signal_when=(b"%|", signum), stdout=subprocess.DEVNULL)
    assert status == 128 + signum, output
    message = output.index(b"busta: error: " + words)
    assert output[message - 2 : message] == b"\r\n", output
    assert output.count(b"busta: error:") == 1
    assert all(len(line) <= 60 for line in lines(output))


@pytest.mark.parametrize("columns", WIDTHS)
def test_quiet_draws_nothing_on_the_terminal(tmp_path: Path, columns: int) -> None:
    made(tmp_path, "in.txt", 50_000)
    status, output = on_terminal(["encrypt", "in.txt", "-o", "out.enc", "-q"], tmp_path, columns)
    assert status == 0 and output == b""


def test_nothing_is_written_to_stderr_when_it_is_a_pipe(tmp_path: Path) -> None:
    made(tmp_path, "in.txt", 50_000)
    done = busta(["encrypt", "in.txt", "-o", "out.enc"], tmp_path)
    assert done.returncode == 0 and done.stderr == b""
    done = busta(["decrypt", "out.enc", "-o", "back.txt"], tmp_path)
    assert done.returncode == 0 and done.stderr == b""
    (tmp_path / "cut.enc").write_bytes((tmp_path / "out.enc").read_bytes()[:-10])
    failed = busta(["decrypt", "cut.enc", "-o", "cut.txt"], tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.startswith(b"busta: error: cut.enc: ") and failed.stderr.count(b"\n") == 1


def test_bulk_shows_objects_and_bytes_and_says_where_the_dashboard_is(tmp_path: Path) -> None:
    made(tmp_path, "unused", 1)
    source = tmp_path / "src"
    source.mkdir()
    for n in range(3):
        (source / f"f{n}.txt").write_bytes(os.urandom(3000))
    key = tmp_path / "config" / "busta" / "default.key"
    args = ["bulk", "encrypt", "src", "dst", "--workers", "1", "--key-file", str(key)]
    status, output = on_terminal(args, tmp_path, 60)
    assert status == 0, output
    shown = lines(output)
    assert sum("Dask" in line for line in shown) == 1  # said once, when the cluster started
    assert any("local Dask cluster of 1 worker" in line and "dashboard" in line for line in shown), shown
    bars = [line for line in shown if line.startswith("objects:")]
    assert bars and all(len(line) <= 60 for line in bars), bars
    finals = [line for line in bars if "100%" in line]
    assert len(finals) == 1 and "3/3" in finals[0] and "8.79kB read" in finals[0] and "0 failed" in finals[0]
    summary = next(i for i, line in enumerate(shown) if line.startswith("encrypt "))
    assert shown[summary - 1] == finals[0]  # the summary starts a line of its own, after the final draw


@pytest.fixture(scope="module")
def bucket(moto_server: MotoServer) -> MotoServer:
    return moto_server.with_bucket("busta-progress", "us-west-2")


@pytest.mark.parametrize("columns", WIDTHS)
def test_s3_uploads_and_downloads_show_the_same_line(tmp_path: Path, bucket: MotoServer, columns: int) -> None:
    moto_server = bucket
    aws = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-west-2"}
    made(tmp_path, "in.bin", 300_000)
    uri = f"s3://busta-progress/{columns}/in.bin.enc"
    for args in (["encrypt", "in.bin", "-o", uri], ["decrypt", uri, "-o", "back.bin"]):
        status, output = on_terminal([*args, "--aws-endpoint-url", moto_server.endpoint], tmp_path, columns, env=aws)
        assert status == 0, output
        shown = lines(output)
        assert all(len(line) <= columns for line in shown), shown
        finals = [line for line in shown if "100%" in line]
        assert len(finals) == 1 and shown[-1] == finals[0] and output.endswith(b"\r\n"), shown
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "in.bin").read_bytes()
