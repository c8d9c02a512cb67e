"""The README's first screen works as written: its CLI quick start, run command by command, and its
Python example, run as it stands (so the README cannot drift from the API)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _quick_start_commands() -> list[list[str]]:
    """The commands of the first ``sh`` block that runs busta (comments dropped)."""
    block = next(block for block in _blocks("sh") if "busta keygen" in block)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_three_busta_commands_after_the_install_line() -> None:
    first_sh = _blocks("sh")[0]
    assert first_sh.strip().startswith("pip install busta")
    assert [command[:2] for command in _quick_start_commands()] == [
        ["busta", "keygen"],
        ["busta", "encrypt"],
        ["busta", "decrypt"],
    ]


def test_the_cli_quick_start_round_trips_a_file(tmp_path: Path) -> None:
    commands = _quick_start_commands()
    source = commands[1][2]
    (tmp_path / source).write_bytes(os.urandom(300_000))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(ROOT)}
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "busta", *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
    assert (tmp_path / commands[2][-1]).read_bytes() == (tmp_path / source).read_bytes()
    assert (tmp_path / "xdg" / "busta" / "default.key").stat().st_mode & 0o777 == 0o600


def test_the_python_example_on_the_first_screen_runs() -> None:
    example = _blocks("python")[0]
    assert "busta.encrypt" in example and "busta.decrypt" in example
    exec(compile(example, "README.md", "exec"), {})  # its own assert checks the round trip


@pytest.mark.parametrize("page", ["docs/MIGRATION.md", "CHANGELOG.md"])
def test_the_pages_the_first_screen_links_exist(page: str) -> None:
    assert page in README.read_text()
    assert (ROOT / page).is_file()
