"""CLI outputs: devices, FIFOs and sockets written through; symlinks replaced as links; every output
planned and collisions refused before the first write; ``-o dir/`` is a directory; an unwritable
directory's error names the target. All of it holds as root (the tests run as root in CI).

No test touches the machine's device nodes: a character device is made with mknod in tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import busta
from busta.cli import main
from busta.cli.errors import CliError
from busta.cli.outputs import local_output
from busta.keyrings import RawAesKeyring

from ..support.cli_keys import keygen_keyring

PLAINTEXT = b"attack at dawn\n" * 5000


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RawAesKeyring:
    return keygen_keyring(tmp_path, monkeypatch)


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(PLAINTEXT)
    return path


@pytest.fixture
def sealed(tmp_path: Path, key: RawAesKeyring) -> Path:
    path = tmp_path / "sealed.enc"
    path.write_bytes(busta.encrypt(PLAINTEXT, keyring=key))
    return path


def null_device(directory: Path) -> Path:
    """A character device like /dev/null (1, 3), made inside ``directory``."""
    path = directory / "null"
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class Reader(threading.Thread):
    """Reads everything from a FIFO (or an accepted socket) until EOF."""

    def __init__(self, opener: object) -> None:
        super().__init__(daemon=True)
        self._opener = opener
        self.data = bytearray()

    def run(self) -> None:
        with self._opener() as f:  # type: ignore[operator]
            while chunk := f.read(65536):
                self.data += chunk


# --------------------------------------------------------------------------- not regular files


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_an_existing_character_device_output_is_written_through_and_stays_a_device(
    command: str, force: bool, key: RawAesKeyring, plain: Path, sealed: Path, tmp_path: Path
) -> None:
    devices = tmp_path / "devices"
    devices.mkdir()
    null = null_device(devices)
    source = plain if command == "encrypt" else sealed
    assert main([command, str(source), "-o", str(null), *(["-f"] if force else [])]) == 0
    st = os.lstat(null)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert entries(devices) == ["null"]  # no temporary file, nothing renamed over it


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_existing_fifo_output_is_written_through_to_its_reader(
    command: str, key: RawAesKeyring, plain: Path, sealed: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = Reader(lambda: open(fifo, "rb"))  # noqa: SIM115 - closed by the reader
    reader.start()
    source = plain if command == "encrypt" else sealed
    assert main([command, str(source), "-o", str(fifo), "--force"]) == 0
    reader.join(timeout=20)
    assert not reader.is_alive()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    received = bytes(reader.data)
    assert (busta.decrypt(received, keyring=key).plaintext if command == "encrypt" else received) == PLAINTEXT


def test_an_existing_socket_output_is_written_through_to_its_listener(
    key: RawAesKeyring, sealed: Path, tmp_path: Path
) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    @contextlib.contextmanager
    def accepted() -> Iterator[object]:
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as f:
            yield f

    reader = Reader(accepted)
    reader.start()
    try:
        assert main(["decrypt", str(sealed), "-o", str(path)]) == 0
        reader.join(timeout=20)
    finally:
        server.close()
    assert bytes(reader.data) == PLAINTEXT
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_a_symlink_output_is_replaced_as_a_link_only_with_force_and_never_written_through(
    key: RawAesKeyring, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"the link's target")
    null = null_device(tmp_path)
    for pointee in (target, null):
        link = tmp_path / f"link-to-{pointee.name}"
        link.symlink_to(pointee)
        assert main(["encrypt", str(plain), "-o", str(link)]) == 1
        assert "already exists" in capsys.readouterr().err
        assert link.is_symlink()
        assert main(["encrypt", str(plain), "-o", str(link), "--force"]) == 0
        assert not link.is_symlink() and stat.S_ISREG(os.lstat(link).st_mode)
        assert busta.decrypt(link.read_bytes(), keyring=key).plaintext == PLAINTEXT
    assert target.read_bytes() == b"the link's target"
    assert stat.S_ISCHR(os.lstat(null).st_mode)


def test_a_fifo_inside_an_output_tree_is_refused_without_waiting_for_a_reader(
    key: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_bytes(b"a")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.mkfifo(out / "sub" / "a.txt.enc")  # planted where the tree's output goes
    assert main(["encrypt", "-r", str(tree), "-o", str(out), "--force"]) == 1
    assert "a FIFO, not a regular file" in capsys.readouterr().err
    assert entries(out / "sub") == ["a.txt.enc"] and stat.S_ISFIFO(os.lstat(out / "sub" / "a.txt.enc").st_mode)


def test_a_fifo_planted_in_an_output_tree_after_the_plan_is_refused_when_the_output_is_opened(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    os.mkfifo(out / "sub" / "a.txt.enc")  # appeared between check_output and the write
    with (
        pytest.raises(CliError, match="a FIFO, not a regular file"),
        local_output(out / "sub" / "a.txt.enc", force=True, within=out),
    ):
        raise AssertionError("the FIFO was opened")
    assert stat.S_ISFIFO(os.lstat(out / "sub" / "a.txt.enc").st_mode)


# --------------------------------------------------------------------------- planned outputs


def test_two_inputs_mapped_to_one_output_are_refused_before_anything_is_written(
    key: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for tree in ("d1", "d2"):
        (tmp_path / tree).mkdir()
        (tmp_path / tree / "a.txt").write_bytes(tree.encode())
        (tmp_path / tree / f"{tree}-only.txt").write_bytes(b"x")
    out = tmp_path / "out"
    status = main(["encrypt", "-r", str(tmp_path / "d1"), str(tmp_path / "d2"), "-o", str(out), "--force"])
    assert status == 1
    err = capsys.readouterr().err
    assert "d1/a.txt and " in err and "d2/a.txt would both be written to" in err
    assert not out.exists() or entries(out) == []


def test_an_output_that_is_also_an_input_of_the_same_command_is_refused(
    key: RawAesKeyring, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "x.enc").write_bytes(busta.encrypt(b"x", keyring=key))
    (tree / "x.enc.enc").write_bytes(busta.encrypt(b"x.enc", keyring=key))
    before = {p.name: p.read_bytes() for p in tree.iterdir()}
    assert main(["decrypt", "-r", str(tree), "-o", str(tree), "--force"]) == 1
    assert "is also its input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tree.iterdir()} == before


def test_the_metadata_file_may_not_be_one_of_the_outputs(
    key: RawAesKeyring, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.enc"
    assert main(["encrypt", str(plain), "-o", str(out), "--metadata-output", str(out)]) == 1
    assert "is also an input or output" in capsys.readouterr().err
    assert not out.exists()


def test_an_output_ending_in_a_slash_is_a_directory_even_when_it_does_not_exist(
    key: RawAesKeyring, plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["encrypt", str(plain), "-o", f"{tmp_path}/newdir/"]) == 0
    assert (tmp_path / "newdir").is_dir()
    assert entries(tmp_path / "newdir") == ["plain.txt.enc"]
    assert busta.decrypt((tmp_path / "newdir" / "plain.txt.enc").read_bytes(), keyring=key).plaintext == PLAINTEXT
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"kept")
    assert main(["encrypt", str(plain), "-o", f"{a_file}/"]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert a_file.read_bytes() == b"kept"


# --------------------------------------------------------------------------- an unwritable directory


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[str]:
    """Make ``directory`` unwritable even for root: a read-only bind mount, else ``chattr +i``."""
    mount = subprocess.run(["mount", "--bind", str(directory), str(directory)], capture_output=True, check=False)
    if mount.returncode == 0:
        try:
            remount = ["mount", "-o", "remount,bind,ro", str(directory)]
            if subprocess.run(remount, capture_output=True, check=False).returncode == 0:
                yield os.strerror(30)  # EROFS
                return
        finally:
            subprocess.run(["umount", str(directory)], check=True)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(directory)], check=False).returncode == 0:
        try:
            yield os.strerror(1)  # EPERM
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        return
    pytest.skip("neither a read-only bind mount nor chattr +i works here")


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_unwritable_output_directory_is_reported_by_the_target_name_not_the_temporary_file(
    command: str, key: RawAesKeyring, plain: Path, sealed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "out.bin"
    source = plain if command == "encrypt" else sealed
    with unwritable(locked) as reason:
        status = main([command, str(source), "-o", str(target)])
        listing = entries(locked)
    assert status == 1
    assert capsys.readouterr().err == f"busta: error: {target}: {reason}\n"
    assert listing == []


def test_keygen_into_an_existing_fifo_writes_through_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    fifo = tmp_path / "key-pipe"
    os.mkfifo(fifo)
    reader = Reader(lambda: open(fifo, "rb"))  # noqa: SIM115 - closed by the reader
    reader.start()
    assert main(["keygen", "-o", str(fifo), "--force"]) == 0
    reader.join(timeout=20)
    assert b'"kind": "aes-256"' in reader.data
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
