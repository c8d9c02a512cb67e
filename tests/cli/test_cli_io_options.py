"""Arguments, context and metadata as aws-encryption-sdk-cli users pass them (issue 16, part 1):
``@FILE`` argument files, ``--context-file``, ``--metadata-output -`` and ``-v``/``-vv``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from busta.cli import main
from busta.format import parse_header
from busta.limits import MAX_ARGUMENT_FILE_BYTES, MAX_ARGUMENT_FILE_WORDS, MAX_CONTEXT_FILE_BYTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    assert main(["keygen"]) == 0
    (tmp_path / "plain.bin").write_bytes(os.urandom(5000))
    return tmp_path


def context_of(path: Path) -> dict[str, str]:
    parsed = parse_header(path.read_bytes())
    assert parsed is not None
    return {k: v for k, v in parsed.header.encryption_context.items() if not k.startswith("aws-crypto-")}


# -- @FILE -----------------------------------------------------------------------------------


def test_an_argument_file_holds_arguments_split_like_a_shell_with_comments(home: Path) -> None:
    (home / "args").write_text('encrypt plain.bin  # what to encrypt\n-o out.enc -q\n-c "team=blue sky"\n')
    assert main(["@args"]) == 0
    assert context_of(home / "out.enc") == {"team": "blue sky"}


def test_argument_files_mix_with_arguments_given_directly(home: Path) -> None:
    (home / "keys").write_text("-c site=eu\n")
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "-q", "@keys", "-c", "team=a"]) == 0
    assert context_of(home / "out.enc") == {"site": "eu", "team": "a"}


def test_an_argument_file_with_an_unclosed_quote_is_a_usage_error(home: Path) -> None:
    (home / "args").write_text('encrypt plain.bin -o out.enc -c "team=blue\n')
    assert main(["@args"]) == 2
    assert not (home / "out.enc").exists()


def test_a_missing_argument_file_is_a_usage_error(home: Path) -> None:
    assert main(["encrypt", "@nowhere", "-o", "out.enc"]) == 2


def test_argument_files_may_name_argument_files(home: Path) -> None:
    (home / "inner").write_text("-c team=a\n")
    (home / "outer").write_text("encrypt plain.bin -o out.enc -q @inner\n")
    assert main(["@outer"]) == 0
    assert context_of(home / "out.enc") == {"team": "a"}


@pytest.mark.parametrize("loop", [["self"], ["a", "b"]], ids=["names-itself", "a-names-b-names-a"])
def test_argument_files_that_name_each_other_in_a_loop_are_a_usage_error_not_a_crash(
    home: Path, loop: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for name, following in zip(loop, [*loop[1:], loop[0]], strict=True):
        (home / name).write_text(f"@{following}\n")
    assert main([f"@{loop[0]}"]) == 2
    assert "nest more than" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe not utf-8", b"#" * (MAX_ARGUMENT_FILE_BYTES + 1), b"-q " * (MAX_ARGUMENT_FILE_WORDS + 10)],
    ids=["not-utf-8", "too-large", "too-many-arguments"],
)
def test_an_argument_file_that_is_not_text_or_too_large_is_a_usage_error(home: Path, content: bytes) -> None:
    (home / "args").write_bytes(content)
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "@args"]) == 2
    assert not (home / "out.enc").exists()


# -- --context-file --------------------------------------------------------------------------


def test_a_context_file_gives_pairs_with_those_of_c(home: Path) -> None:
    (home / "context.json").write_text(json.dumps({"purpose": "backup", "site": "eu"}))
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "-q", "--context-file", "context.json", "-c", "n=1"]) == 0
    assert context_of(home / "out.enc") == {"purpose": "backup", "site": "eu", "n": "1"}
    back = ["decrypt", "out.enc", "-o", "back.bin", "-q", "--context-file", "context.json"]
    assert main(back) == 0
    assert (home / "back.bin").read_bytes() == (home / "plain.bin").read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps(["purpose", "backup"]),
        json.dumps({"purpose": 1}),
        json.dumps({"purpose": {"nested": "x"}}),
        "[" * 100_000,
    ],
    ids=["not-json", "a-list", "a-number", "nested", "deep"],
)
def test_a_context_file_that_is_not_an_object_of_strings_is_a_usage_error(home: Path, content: str) -> None:
    (home / "context.json").write_text(content)
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "--context-file", "context.json"]) == 2
    assert not (home / "out.enc").exists()


def test_a_context_file_above_the_limit_is_refused_without_reading_it_all(home: Path) -> None:
    (home / "context.json").write_bytes(b" " * (MAX_CONTEXT_FILE_BYTES + 1))
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "--context-file", "context.json"]) == 2


def test_a_key_in_both_the_context_file_and_c_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "context.json").write_text(json.dumps({"site": "eu"}))
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "--context-file", "context.json", "-c", "site=us"]) == 2
    assert "'site'" in capsys.readouterr().err


def test_a_missing_context_file_is_a_usage_error(home: Path) -> None:
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "--context-file", "absent.json"]) == 2


# -- --metadata-output - ---------------------------------------------------------------------


def test_metadata_output_dash_writes_one_json_line_per_file_to_standard_output(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "second.bin").write_bytes(b"two")
    assert main(["encrypt", "plain.bin", "second.bin", "-o", "out", "-q", "--metadata-output", "-"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["operation"] for line in lines] == ["encrypt", "encrypt"]
    assert [line["plaintext_bytes"] for line in lines] == [5000, 3]
    assert not (home / "-").exists()


def test_metadata_output_dash_and_output_dash_are_refused_together(home: Path) -> None:
    assert main(["encrypt", "plain.bin", "-o", "-", "-f", "--metadata-output", "-"]) == 2


# -- -v / -vv --------------------------------------------------------------------------------


def run_busta(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_vv_logs_busta_s_debug_records_to_stderr_and_no_key_material(home: Path) -> None:
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "-q"]) == 0
    done = run_busta(["-vv", "decrypt", "out.enc", "-o", "back.bin", "-q"], home)
    assert done.returncode == 0, done.stderr
    assert "busta: DEBUG busta.materials" in done.stderr
    key = json.loads((home / "config" / "busta" / "default.key").read_text())["key"]
    assert key not in done.stderr


def test_without_v_nothing_is_logged(home: Path) -> None:
    assert main(["encrypt", "plain.bin", "-o", "out.enc", "-q"]) == 0
    done = run_busta(["decrypt", "out.enc", "-o", "back.bin", "-q"], home)
    assert done.returncode == 0 and done.stderr == ""
