"""Local paths derived from untrusted names never leave their root, and a refused name creates nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from busta._paths import MAX_NAME_BYTES, MAX_NAME_COMPONENT_BYTES, contained_path, split_name
from busta.errors import BustaError, UnsafePathError

HOSTILE_NAMES = [
    "",
    "..",
    ".",
    "../x.enc",
    "a/../../x",
    "a/..",
    "./a",
    "a/./b",
    "/abs/path.enc",
    "/etc/passwd",
    "a//b",
    "a/",
    "a\x00b",
    "a\nb",
    "a\x1b[31mb",
    "a\x7fb",
    "a\x9b31mb",
    "a\\..\\b",
    "..\\x",
    "C:/x",
    "c:",
    "x" * (MAX_NAME_COMPONENT_BYTES + 1),
    "/".join(["d"] * (MAX_NAME_BYTES // 2 + 1)),
    "\udcff",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_that_could_leave_its_root_is_refused_and_creates_nothing(tmp_path: Path, name: str) -> None:
    root = tmp_path / "dest"
    root.mkdir()
    with pytest.raises(UnsafePathError) as caught:
        contained_path(root, name, create_parents=True)
    assert isinstance(caught.value, BustaError)
    assert caught.value.name == name
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["dest"]


ORDINARY_NAMES = ["a", "a.enc", "dir/sub/file.txt", "..a", "a..", ".hidden", "x" * MAX_NAME_COMPONENT_BYTES]


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_map_inside_the_root(tmp_path: Path, name: str) -> None:
    path = contained_path(tmp_path, name, create_parents=True)
    assert path == tmp_path.joinpath(*name.split("/"))
    assert path.parent.is_dir()
    assert not path.exists()


def test_parents_are_not_created_unless_asked(tmp_path: Path) -> None:
    assert contained_path(tmp_path, "a/b/c") == tmp_path / "a" / "b" / "c"
    assert not (tmp_path / "a").exists()


def test_a_symlink_inside_the_root_that_points_outside_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "dest", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symlink"):
        contained_path(root, "link/sub/x.enc", create_parents=True)
    assert list(outside.iterdir()) == []


def test_a_symlink_as_the_final_component_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"keep")
    (tmp_path / "x").symlink_to(tmp_path / "target")
    with pytest.raises(UnsafePathError, match="symlink"):
        contained_path(tmp_path, "x")


def test_a_file_in_the_middle_or_a_directory_at_the_end_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    (tmp_path / "d").mkdir()
    with pytest.raises(UnsafePathError, match="not a directory"):
        contained_path(tmp_path, "f/x", create_parents=True)
    with pytest.raises(UnsafePathError, match="existing directory"):
        contained_path(tmp_path, "d")


def test_the_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "root").symlink_to(real)
    path = contained_path(tmp_path / "root", "a/b", create_parents=True)
    assert os.path.realpath(path.parent) == str(real / "a")


def test_split_name_returns_the_components() -> None:
    assert split_name("a/b/c.enc") == ("a", "b", "c.enc")


def test_a_directory_made_by_someone_else_meanwhile_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = os.mkdir

    def racing_mkdir(path: str | os.PathLike[str], mode: int = 0o777) -> None:
        Path(path).symlink_to(tmp_path / "elsewhere")  # another process wins the race with a link
        real_mkdir(path, mode)

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.setattr(os, "mkdir", racing_mkdir)
    root = tmp_path / "root"
    real_mkdir(root)
    with pytest.raises(UnsafePathError, match="symlink"):
        contained_path(root, "a/b", create_parents=True)
    assert list((tmp_path / "elsewhere").iterdir()) == []
