"""Defects found by an adversarial review of the issue-14 CLI and keyring changes, each shown here.

- A stop signal that lands just after the temporary output is created leaves it behind: blocking
  the signals in the main thread did not hold them back, since any other thread (the SIGPIPE
  watcher, the streaming pool) takes a process-directed signal and the main thread's handler
  runs anyway.
- A SIGPIPE sent to the process did not stop a command blocked in a read (stdin, a FIFO): the
  watcher's ``interrupt_main`` does not interrupt a blocking call, so the temporary file stayed
  until input arrived.
- A FIFO that another user planted at the output's name, in a directory others may write (``/tmp``),
  received root's plaintext without ``--force``.
- ``RawAesKeyring(ns, name, 32)`` (an int, not a key) wrapped under 32 zero bytes.
- ``Pkcs11Keyring`` with a module path or PIN variable that is not a string raised TypeError.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import busta
from busta._secrets import SecretBytes
from busta.cli import main
from busta.errors import UsageError
from busta.keyrings import RawAesKeyring
from busta.keyrings.pkcs11 import Pkcs11Keyring

from ..support.cli_keys import keygen_keyring
from ..support.feeding import feed_until_written

PROJECT_ROOT = Path(__file__).resolve().parents[2]

_SIGNAL_AFTER_CREATE = """
import os, signal, sys, time
from busta.cli import main

real_open = os.open

def open_then_signal(path, flags, *args, **kwargs):
    fd = real_open(path, flags, *args, **kwargs)
    if flags & os.O_CREAT and os.path.basename(os.fspath(path)).startswith(".out."):
        os.kill(os.getpid(), signal.SIGTERM)  # lands the moment the temporary file exists
        time.sleep(0.3)
    return fd

os.open = open_then_signal
sys.exit(main(["encrypt", "plain", "-o", "dest/out"]))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(PROJECT_ROOT)}


@pytest.fixture
def keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RawAesKeyring:
    return keygen_keyring(tmp_path, monkeypatch)


def test_a_signal_that_lands_just_after_the_temporary_file_is_created_removes_it(
    keyring: RawAesKeyring, tmp_path: Path
) -> None:
    (tmp_path / "plain").write_bytes(b"attack at dawn\n")
    (tmp_path / "dest").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AFTER_CREATE],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, os.listdir(tmp_path / "dest")) == (128 + signal.SIGTERM, []), done.stderr


def test_a_sigpipe_sent_to_a_command_blocked_on_its_input_stops_it_at_once(
    keyring: RawAesKeyring, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "busta", "encrypt", "-", "-o", "dest/data"],
        cwd=tmp_path,
        env=_env(tmp_path),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, feeder = feed_until_written(process, b"x" * (2 << 20), dest, 1 << 20)
    feeder.join(timeout=30)
    time.sleep(0.5)  # every byte fed is consumed: the command now waits in a read of stdin
    process.send_signal(signal.SIGPIPE)
    try:
        status = process.wait(timeout=3)
    finally:
        if process.poll() is None:
            process.kill()
        assert process.stdin is not None and process.stderr is not None
        process.stdin.close()
        process.wait(timeout=30)
        process.stderr.close()
    assert (status, os.listdir(dest)) == (128 + signal.SIGPIPE, [])


def sealed_and_shared_fifo(keyring: RawAesKeyring, tmp_path: Path, name: str, mode: int) -> tuple[Path, Path]:
    """A sealed ``the plaintext`` and a FIFO ``name`` in a sticky, world-writable directory."""
    sealed = tmp_path / "secret.enc"
    sealed.write_bytes(busta.encrypt(b"the plaintext\n", keyring=keyring))
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    fifo = shared / name
    os.mkfifo(fifo, mode)
    return sealed, fifo


def test_a_fifo_another_user_planted_in_a_shared_directory_gets_no_plaintext(
    keyring: RawAesKeyring, tmp_path: Path
) -> None:
    """As root: ``decrypt secret.enc -o /tmp/secret.txt``, where another user made /tmp/secret.txt a FIFO
    that they read, must not hand them the plaintext (the kernel's protected_fifos rule, applied to an
    open without O_CREAT as well)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the FIFO to another user")
    sealed, fifo = sealed_and_shared_fifo(keyring, tmp_path, "secret.txt", 0o622)
    os.chown(fifo, 65534, 65534)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the other user, waiting for the plaintext
    try:
        status = main(["decrypt", str(sealed), "-o", str(fifo)])
        try:
            leaked = os.read(reader, 1 << 16)
        except BlockingIOError:
            leaked = b""
    finally:
        os.close(reader)
    assert (status, leaked) == (1, b"")


def test_a_fifo_of_ones_own_in_a_shared_directory_is_still_written_through(
    keyring: RawAesKeyring, tmp_path: Path
) -> None:
    sealed, fifo = sealed_and_shared_fifo(keyring, tmp_path, "mine", 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main(["decrypt", str(sealed), "-o", str(fifo)]) == 0
        assert os.read(reader, 1 << 16) == b"the plaintext\n"
    finally:
        os.close(reader)


@pytest.mark.parametrize("key", [32, 16, [0] * 32, "k" * 32], ids=["int 32", "int 16", "list", "str"])
def test_a_wrapping_key_that_is_not_bytes_is_a_usage_error_not_a_key_of_zeros(key: object) -> None:
    with pytest.raises(UsageError):
        RawAesKeyring("ns", "name", key)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        SecretBytes(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "arguments",
    [
        {"module": 123, "token_label": "t", "key_label": "k", "pin": "1234"},
        {"module": "/nonexistent.so", "token_label": 5, "key_label": "k", "pin": "1234"},
        {"module": "/nonexistent.so", "token_label": "t", "key_label": b"k", "pin": "1234"},
        {"module": "/nonexistent.so", "token_label": "t", "key_label": "k", "pin_env": 5},
        {"module": "", "token_label": "t", "key_label": "k", "pin": "1234"},
    ],
    ids=["module int", "token int", "key bytes", "pin_env int", "module empty"],
)
def test_pkcs11_keyring_arguments_of_the_wrong_type_are_usage_errors(arguments: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        Pkcs11Keyring("ns", "name", **arguments)  # type: ignore[arg-type]
