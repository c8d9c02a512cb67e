"""age-like defaults through the real console script: no INPUT reads standard input, one input
without ``-o`` writes standard output; binary output to a terminal is still refused without --force."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..support.cli_run import run_busta
from ..support.terminal import on_terminal

PLAINTEXT = os.urandom(50_000)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run_busta(["keygen"], tmp_path).returncode == 0
    (tmp_path / "plain.bin").write_bytes(PLAINTEXT)
    return tmp_path


def entries(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir())


def test_no_input_and_no_output_is_a_filter_from_stdin_to_stdout(home: Path) -> None:
    sealed = run_busta(["encrypt", "-c", "via=pipe"], home, stdin=PLAINTEXT)
    assert sealed.returncode == 0, sealed.stderr
    assert sealed.stdout[:1] == b"\x02"
    back = run_busta(["decrypt", "-c", "via=pipe"], home, stdin=sealed.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == PLAINTEXT
    assert entries(home) == ["config", "plain.bin"]


def test_one_file_without_o_goes_to_stdout_as_age_does(home: Path) -> None:
    sealed = run_busta(["encrypt", "plain.bin"], home)
    assert sealed.returncode == 0, sealed.stderr
    (home / "sealed.enc").write_bytes(sealed.stdout)
    back = run_busta(["decrypt", "sealed.enc"], home)
    assert back.returncode == 0, back.stderr
    assert back.stdout == PLAINTEXT


def test_inspect_without_a_file_reads_stdin(home: Path) -> None:
    sealed = run_busta(["encrypt", "plain.bin"], home).stdout
    shown = run_busta(["inspect", "--json"], home, stdin=sealed)
    assert shown.returncode == 0, shown.stderr
    assert b'"frame_length": 65536' in shown.stdout


@pytest.mark.parametrize(
    "args",
    [["encrypt", "plain.bin", "other.bin"], ["encrypt", "-r", "tree"], ["decrypt", "a.enc", "b.enc"]],
    ids=["two-files", "a-directory", "two-messages"],
)
def test_several_inputs_or_a_directory_without_o_are_a_usage_error(home: Path, args: list[str]) -> None:
    (home / "other.bin").write_bytes(b"x")
    (home / "tree").mkdir()
    (home / "tree" / "f").write_bytes(b"y")
    for name in ("a.enc", "b.enc"):
        (home / name).write_bytes(run_busta(["encrypt", "plain.bin"], home).stdout)
    before = entries(home)
    done = run_busta(args, home)
    assert done.returncode == 2
    assert b"need -o" in done.stderr
    assert done.stdout == b""
    assert entries(home) == before


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_the_default_stdout_on_a_terminal_is_still_refused_without_force(home: Path, command: str) -> None:
    (home / "sealed.enc").write_bytes(run_busta(["encrypt", "plain.bin"], home).stdout)
    source = "plain.bin" if command == "encrypt" else "sealed.enc"
    status, seen = on_terminal([command, source], home)
    assert status == 1
    assert b"refusing to write binary output to a terminal" in seen
    status, seen = on_terminal([command, source, "--force"], home)
    assert status == 0
    assert len(seen) > 1000
