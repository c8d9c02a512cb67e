"""The demo (``python -m busta.demo``): the main job a new user runs first."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

import busta
from busta import demo
from busta.errors import BustaError
from busta.keyrings import RawAesKeyring

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = {"purpose": "demo", "file": demo.SAMPLE_NAME}
OUTPUTS = {demo.SAMPLE_NAME, demo.ENCRYPTED_NAME, demo.DECRYPTED_NAME}


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


def key_file(config_home: Path) -> Path:
    return config_home / "busta" / "demo.key"


def run_demo(work_dir: Path) -> int:
    return demo.main(["--work-dir", str(work_dir)])


def keyring_for(config_home: Path) -> RawAesKeyring:
    return RawAesKeyring(demo.KEY_NAMESPACE, demo.KEY_NAME, key_file(config_home).read_bytes())


def test_a_first_run_succeeds_and_creates_a_private_32_byte_key(config_home: Path, work_dir: Path) -> None:
    assert run_demo(work_dir) == 0
    key = key_file(config_home)
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(key.read_bytes()) == 32
    assert os.listdir(key.parent) == ["demo.key"]  # no temporary file left beside it


def test_the_key_file_is_private_whatever_the_umask(config_home: Path, work_dir: Path) -> None:
    previous = os.umask(0)
    try:
        assert run_demo(work_dir) == 0
    finally:
        os.umask(previous)
    assert key_file(config_home).stat().st_mode & 0o777 == 0o600


def test_the_work_dir_holds_exactly_the_sample_the_message_and_the_decrypted_copy(
    config_home: Path, work_dir: Path
) -> None:
    assert run_demo(work_dir) == 0
    assert set(os.listdir(work_dir)) == OUTPUTS
    sample = (work_dir / demo.SAMPLE_NAME).read_bytes()
    assert sample == demo.sample_text()
    assert 100_000 < len(sample) < 1_000_000
    assert (work_dir / demo.DECRYPTED_NAME).read_bytes() == sample


def test_the_encrypted_file_is_a_message_the_key_decrypts_and_not_the_plaintext(
    config_home: Path, work_dir: Path
) -> None:
    assert run_demo(work_dir) == 0
    sample = (work_dir / demo.SAMPLE_NAME).read_bytes()
    message = (work_dir / demo.ENCRYPTED_NAME).read_bytes()
    assert message != sample
    assert sample[:64] not in message
    result = busta.decrypt(message, keyring=keyring_for(config_home), encryption_context=CONTEXT)
    assert result.plaintext == sample
    assert CONTEXT.items() <= result.header.encryption_context.items()
    assert busta.decrypt(message, keyring=keyring_for(config_home)).plaintext == sample


def test_the_report_names_the_suite_the_frame_length_the_message_id_and_ends_with_ok(
    config_home: Path, work_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo(work_dir) == 0
    out = capsys.readouterr().out
    header = busta.decrypt((work_dir / demo.ENCRYPTED_NAME).read_bytes(), keyring=keyring_for(config_home)).header
    for expected in (
        header.suite.name,
        f"0x{header.suite.id:04X}",
        f"{header.frame_length} bytes",
        header.message_id.hex(),
        '"purpose": "demo"',
        str(work_dir / demo.ENCRYPTED_NAME),
        str(key_file(config_home)),
    ):
        assert expected in out
    assert out.splitlines()[-1].startswith("OK")


def test_a_second_run_reuses_the_same_key(config_home: Path, work_dir: Path) -> None:
    assert run_demo(work_dir) == 0
    first = key_file(config_home).read_bytes()
    assert run_demo(work_dir) == 0
    assert key_file(config_home).read_bytes() == first


def test_without_a_work_dir_the_demo_uses_a_new_temporary_directory(
    config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert demo.main([]) == 0
    (created,) = scratch.iterdir()
    assert created.name.startswith("busta-demo-")
    assert set(os.listdir(created)) == OUTPUTS
    assert str(created) in capsys.readouterr().out


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602, 0o610])
def test_a_key_file_that_group_or_others_may_access_is_refused_and_left_alone(
    config_home: Path, work_dir: Path, mode: int, capsys: pytest.CaptureFixture[str]
) -> None:
    key = key_file(config_home)
    key.parent.mkdir(parents=True)
    key.write_bytes(bytes(range(32)))
    key.chmod(mode)
    assert run_demo(work_dir) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"mode {mode:04o}" in err
    assert str(key) in err
    assert key.read_bytes() == bytes(range(32))
    assert key.stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("length", [0, 1, 16, 24, 31, 33, 64])
def test_a_key_file_of_the_wrong_length_is_refused_and_left_alone(
    config_home: Path, work_dir: Path, length: int, capsys: pytest.CaptureFixture[str]
) -> None:
    key = key_file(config_home)
    key.parent.mkdir(parents=True)
    key.write_bytes(b"k" * length)
    key.chmod(0o600)
    assert run_demo(work_dir) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"holds {length} bytes, not 32" in err
    assert key.read_bytes() == b"k" * length


def test_a_key_path_that_is_a_directory_is_refused(
    config_home: Path, work_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file(config_home).mkdir(parents=True)
    assert run_demo(work_dir) != 0
    assert capsys.readouterr().err.startswith("busta-demo: error: ")


def test_an_os_error_gives_a_one_line_error_and_a_nonzero_exit(
    config_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    assert run_demo(not_a_dir) != 0
    err = capsys.readouterr().err
    assert err.startswith("busta-demo: error: FileExistsError")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("xdg", "expected"),
    [
        ("{tmp}/xdg", "{tmp}/xdg/busta/demo.key"),
        ("", "{tmp}/home/.config/busta/demo.key"),
        ("relative/dir", "{tmp}/home/.config/busta/demo.key"),
        (None, "{tmp}/home/.config/busta/demo.key"),
    ],
)
def test_the_key_lives_under_xdg_config_home_or_else_under_home_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, xdg: str | None, expected: str
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg.format(tmp=tmp_path))
    assert demo.key_path() == Path(expected.format(tmp=tmp_path))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda m: m[:1000] + bytes([m[1000] ^ 1]) + m[1001:], id="flipped-body-bit"),
        pytest.param(lambda m: m[:-1], id="last-byte-missing"),
        pytest.param(lambda m: m[: len(m) // 2], id="cut-in-half"),
        pytest.param(lambda m: m + b"\0", id="trailing-byte"),
    ],
)
def test_a_damaged_message_decrypts_to_no_file_and_keeps_the_old_one(
    config_home: Path, work_dir: Path, damage: Callable[[bytes], bytes]
) -> None:
    assert run_demo(work_dir) == 0
    encrypted = work_dir / demo.ENCRYPTED_NAME
    encrypted.write_bytes(damage(encrypted.read_bytes()))
    target = work_dir / demo.DECRYPTED_NAME
    target.write_bytes(b"previous contents")
    with pytest.raises(BustaError):
        demo.decrypt_file(encrypted, target, keyring_for(config_home), CONTEXT)
    assert target.read_bytes() == b"previous contents"
    assert set(os.listdir(work_dir)) == OUTPUTS


def test_decrypting_with_a_different_expected_context_writes_nothing(config_home: Path, work_dir: Path) -> None:
    assert run_demo(work_dir) == 0
    target = work_dir / "other.txt"
    with pytest.raises(BustaError):
        demo.decrypt_file(
            work_dir / demo.ENCRYPTED_NAME, target, keyring_for(config_home), {"purpose": "something else"}
        )
    assert not target.exists()
    assert set(os.listdir(work_dir)) == OUTPUTS


def test_an_atomic_output_that_fails_leaves_neither_the_file_nor_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), demo.atomic_output(target) as out:
        out.write(b"partial")
        raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []


def test_python_dash_m_busta_demo_runs_in_a_fresh_process(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT)}
    work = tmp_path / "work"
    done = subprocess.run(
        [sys.executable, "-m", "busta.demo", "--work-dir", str(work)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
    assert done.stderr == ""
    assert (work / demo.DECRYPTED_NAME).read_bytes() == (work / demo.SAMPLE_NAME).read_bytes()
    assert (tmp_path / "config" / "busta" / "demo.key").stat().st_mode & 0o777 == 0o600
