"""Base64 armor through the real console script: ``encrypt -a/--armor/--encode`` and ``decrypt
-a/--armor/--decode``, armored input detected on its own, streamed in bounded memory."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from busta.keyfile import read_record

from ..support.cli_run import ROOT, run_busta
from ..support.oracle import AesKeySpec, official_decrypt
from ..support.terminal import on_terminal

PLAINTEXT = os.urandom(200_000)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert run_busta(["keygen"], tmp_path).returncode == 0
    (tmp_path / "plain.bin").write_bytes(PLAINTEXT)
    return tmp_path


def default_key(home: Path) -> AesKeySpec:
    record = read_record(home / "config" / "busta" / "default.key")
    return AesKeySpec(record.namespace, record.name, record.key.reveal())


@pytest.mark.parametrize("flag", ["-a", "--armor", "--encode"])
def test_encrypt_armor_writes_one_line_of_base64_that_the_official_sdk_decrypts_once_decoded(
    home: Path, flag: str
) -> None:
    done = run_busta(["encrypt", flag, "plain.bin", "-o", "sealed.asc"], home)
    assert done.returncode == 0, done.stderr
    text = (home / "sealed.asc").read_bytes()
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert text.startswith(b"AgV4")  # base64 of 0x02 0x05 0x78: a v2 message of suite 0x0578
    decrypted, _ = official_decrypt(base64.b64decode(text, validate=False), keys=[default_key(home)])
    assert decrypted == PLAINTEXT


@pytest.mark.parametrize(
    "flags", [[], ["-a"], ["--armor"], ["--decode"]], ids=["detected", "-a", "--armor", "--decode"]
)
def test_decrypt_reads_armored_input_detected_or_asked_for(home: Path, flags: list[str]) -> None:
    assert run_busta(["encrypt", "-a", "plain.bin", "-o", "sealed.asc"], home).returncode == 0
    done = run_busta(["decrypt", *flags, "sealed.asc", "-o", "back.bin"], home)
    assert done.returncode == 0, done.stderr
    assert (home / "back.bin").read_bytes() == PLAINTEXT


def test_decrypt_reads_base64_wrapped_at_any_width_as_base64_1_and_age_write_it(home: Path) -> None:
    assert run_busta(["encrypt", "plain.bin", "-o", "sealed.enc"], home).returncode == 0
    flat = base64.b64encode((home / "sealed.enc").read_bytes())
    for width, name in [(64, "age.asc"), (76, "base64.asc")]:
        (home / name).write_bytes(b"\r\n".join(flat[i : i + width] for i in range(0, len(flat), width)) + b"\n")
        done = run_busta(["decrypt", name, "-o", "-"], home)
        assert done.returncode == 0, done.stderr
        assert done.stdout == PLAINTEXT


def test_piped_armor_round_trip_through_stdin_and_stdout(home: Path) -> None:
    sealed = run_busta(["encrypt", "-a"], home, stdin=PLAINTEXT)
    assert sealed.returncode == 0, sealed.stderr
    assert set(sealed.stdout) <= set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n")
    back = run_busta(["decrypt"], home, stdin=sealed.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == PLAINTEXT


@pytest.mark.parametrize(
    "damage",
    [lambda t: t[:-3] + b"*" + t[-2:], lambda t: t[:-6], lambda t: t[:-1] + b"==AAAA\n"],
    ids=["bad-character", "truncated-group", "after-padding"],
)
def test_invalid_base64_is_one_line_naming_the_input_and_leaves_no_output(home: Path, damage: object) -> None:
    assert run_busta(["encrypt", "-a", "plain.bin", "-o", "sealed.asc"], home).returncode == 0
    (home / "bad.asc").write_bytes(damage((home / "sealed.asc").read_bytes()))  # type: ignore[operator]
    done = run_busta(["decrypt", "bad.asc", "-o", "back.bin"], home)
    assert done.returncode == 1
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("busta: error: bad.asc: not valid base64"), lines
    assert sorted(p.name for p in home.iterdir()) == ["bad.asc", "config", "plain.bin", "sealed.asc"]


def test_armor_to_s3_is_a_usage_error(home: Path) -> None:
    done = run_busta(["encrypt", "-a", "plain.bin", "-o", "s3://bucket/key"], home)
    assert done.returncode == 2
    assert b"--armor" in done.stderr


def test_armored_output_may_go_to_a_terminal_but_binary_output_may_not(home: Path) -> None:
    (home / "small.txt").write_bytes(b"hello\n")
    status, seen = on_terminal(["encrypt", "-a", "small.txt"], home)
    assert status == 0, seen
    assert seen.startswith(b"AgV4")
    status, seen = on_terminal(["encrypt", "small.txt"], home)
    assert status == 1
    assert b"refusing to write binary output to a terminal" in seen


#: ``busta.cli.main`` in a process that writes its peak resident size (VmHWM, kB) to the file named
#: first: unlike ru_maxrss, VmHWM counts only this program's memory, not the forking parent's.
MEASURED = (
    "import sys\n"
    "from busta.cli import main\n"
    "status = main(sys.argv[2:])\n"
    "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
    "open(sys.argv[1], 'w').write(peak.split()[1])\n"
    "sys.exit(status)\n"
)


def test_armor_streams_in_bounded_memory(home: Path) -> None:
    """64 MiB through ``encrypt -a | decrypt``: neither process holds the message or its text."""
    size = 64 << 20
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": str(ROOT)}
    producer = subprocess.Popen(
        [sys.executable, "-c", f"import sys; [sys.stdout.buffer.write(bytes(1 << 20)) for _ in range({size >> 20})]"],
        stdout=subprocess.PIPE,
    )
    run = [sys.executable, "-c", MEASURED]
    sealer = subprocess.Popen(
        [*run, "seal.hwm", "encrypt", "-a"], cwd=home, env=env, stdin=producer.stdout, stdout=subprocess.PIPE
    )
    opener = subprocess.Popen(
        [*run, "open.hwm", "decrypt", "-o", "-"], cwd=home, env=env, stdin=sealer.stdout, stdout=subprocess.PIPE
    )
    assert producer.stdout is not None and sealer.stdout is not None and opener.stdout is not None
    producer.stdout.close()
    sealer.stdout.close()
    total = 0
    while chunk := opener.stdout.read(1 << 20):
        assert not chunk.strip(b"\0")
        total += len(chunk)
    opener.stdout.close()
    assert total == size
    assert [p.wait(timeout=120) for p in (producer, sealer, opener)] == [0, 0, 0]
    peaks = [int((home / name).read_text()) << 10 for name in ("seal.hwm", "open.hwm")]
    # busta's own peak here is about 45-49 MB; one that held the 85 MiB of text would be above this
    assert max(peaks) < 100 << 20, peaks
