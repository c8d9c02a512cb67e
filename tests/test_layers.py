"""The layer contract of pyproject.toml ([tool.importlinter]) holds, and it is not a check that always passes.

The contract is run on the real package, then on copies of the package that each carry one
wrong-way import (or a top-level module placed in no layer): every copy must break exactly the
contract that forbids it. import-linter reads the source (grimp), so the copies are never imported.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import busta.keyrings
import busta.s3

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _lint(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the package ``busta`` found in ``root``, with ``root``'s pyproject.toml."""
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, limit_to_contracts={contracts!r}))"
    )
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=environment, capture_output=True, text=True, check=False
    )


def _contracts() -> list[dict[str, Any]]:
    config: dict[str, Any] = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def test_every_contract_is_kept_by_the_package() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in done.stdout


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package and its pyproject.toml, which keeps every contract."""
    root = tmp_path_factory.mktemp("pristine")
    shutil.copytree(ROOT / "busta", root / "busta", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    return root


#: (module file, import added to it, the contract it breaks)
WRONG_WAY = [
    ("format/header.py", "from ..streaming import decryptor", "layers"),  # format is below the engine
    ("crypto/kdf.py", "from .. import api", "layers"),
    ("keyrings/raw_aes.py", "from ..streaming import encryptor", "layers"),  # keyrings | streaming
    ("streaming/encryptor.py", "from ..keyrings import raw_aes", "layers"),
    ("materials/base.py", "from .. import keyconfig", "layers"),
    ("errors.py", "from . import limits", "layers"),  # errors | limits: siblings
    ("keyconfig.py", "from .cli import keyfile", "layers"),  # library code importing the CLI
    ("demo.py", "from .cli import errors", "cli-on-top"),  # above the CLI, still not allowed to use it
    ("api.py", "from .keyrings import multi", "engine-takes-keyrings"),
    ("keyrings/multi.py", "import busta", "root-on-top"),  # the root's __init__ imports the API
    ("bulk/tasks.py", "from ..s3 import _calls", "private-modules"),
    ("cli/keys.py", "from ..keyrings._common import check_names", "private-modules"),
    ("keyrings/pkcs11.py", "from . import pkcs11_admin", "keyring-apart-from-provisioning"),
]


def _broken_copy(pristine: Path, tmp_path: Path, module: str, statement: str) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(pristine, root)
    target = root / "busta" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{statement}  # the wrong-way import\n", "utf-8")
    return root


@pytest.mark.parametrize(("module", "statement", "contract"), WRONG_WAY, ids=[f"{c}:{m}" for m, _, c in WRONG_WAY])
def test_a_wrong_way_import_breaks_the_contract_that_forbids_it(
    pristine: Path, tmp_path: Path, module: str, statement: str, contract: str
) -> None:
    assert _lint(pristine, contract).returncode == 0  # the copy keeps it before the import is added
    done = _lint(_broken_copy(pristine, tmp_path, module, statement), contract)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 broken" in done.stdout
    importer = "busta." + module.removesuffix(".py").replace("/", ".")
    assert importer in done.stdout  # the report names the module with the bad import


def test_a_top_level_module_in_no_layer_breaks_the_layers_contract(pristine: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(pristine, root)
    (root / "busta" / "unplaced.py").write_text('"""A module nobody placed."""\n', "utf-8")
    done = _lint(root, "layers")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "busta.unplaced" in done.stdout


@pytest.mark.parametrize("package", [busta.s3, busta.keyrings], ids=lambda package: package.__name__)
def test_the_private_modules_contract_lists_every_private_module(package: Any) -> None:
    """A new ``busta.s3._x`` or ``busta.keyrings._x`` is covered the day it is written."""
    (contract,) = [contract for contract in _contracts() if contract["id"] == "private-modules"]
    private = {
        f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__) if info.name[0] == "_"
    }
    assert private
    assert private <= set(contract["forbidden_modules"])
