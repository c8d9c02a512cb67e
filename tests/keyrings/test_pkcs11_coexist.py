"""The PKCS#11 keyring shares its module with the application's own python-pkcs11 use (issue 14, item 8).

python-pkcs11 caches one library object per path string, and a second ``C_Initialize`` of a loaded
module answers CKR_CRYPTOKI_ALREADY_INITIALIZED. An application that loaded SoftHSM under one path
(Debian's ``/usr/lib/softhsm/libsofthsm2.so`` is a symlink) and a keyring given another path, or the
same one, must both work, in either order, and busta must never finalize the module under the
application. Each case runs in its own process (tests/support/pkcs11_app.py): the module's
initialization and python-pkcs11's cache are process-global.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from busta.keyrings.pkcs11_admin import SoftHsmToken
from tests.support.hsm import new_token

ROOT = Path(__file__).resolve().parents[2]


def run_app(order: str, app_path: str, keyring_path: str, token: SoftHsmToken) -> list[str]:
    environment = {
        **os.environ,
        "APP_PIN": token.pin.reveal().decode(),
        "SOFTHSM2_CONF": token.config,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "tests.support.pkcs11_app", order, app_path, keyring_path, token.token_label]
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def token() -> SoftHsmToken:
    return new_token()


@pytest.fixture
def real_module(token: SoftHsmToken) -> str:
    return os.path.realpath(token.module)


@pytest.fixture
def linked_module(real_module: str, tmp_path: Path) -> str:
    link = tmp_path / "lib" / "libsofthsm2-link.so"
    link.parent.mkdir()
    link.symlink_to(real_module)
    return str(link)


@pytest.mark.parametrize("order", ["app-first", "keyring-first"])
@pytest.mark.parametrize("paths", ["app-link/keyring-real", "app-real/keyring-link"])
def test_application_and_keyring_share_the_module_under_different_paths(
    order: str, paths: str, token: SoftHsmToken, real_module: str, linked_module: str
) -> None:
    app_path, keyring_path = (
        (linked_module, real_module) if paths == "app-link/keyring-real" else (real_module, linked_module)
    )
    lines = run_app(order, app_path, keyring_path, token)
    assert lines[-1] == "coexist ok"
    assert "application session still works" in lines


@pytest.mark.parametrize("order", ["app-first", "keyring-first"])
def test_application_and_keyring_share_the_module_under_the_same_symlinked_path(
    order: str, token: SoftHsmToken, linked_module: str
) -> None:
    # the reported case: both sides give Debian's symlinked path (here a symlink in a temporary folder)
    assert run_app(order, linked_module, linked_module, token)[-1] == "coexist ok"


def test_two_symlinks_neither_of_them_the_real_file(token: SoftHsmToken, linked_module: str, tmp_path: Path) -> None:
    other = tmp_path / "other-link.so"
    other.symlink_to(linked_module)
    for order in ("app-first", "keyring-first"):
        assert run_app(order, str(other), linked_module, token)[-1] == "coexist ok"


def test_a_module_the_application_loaded_is_never_reinitialized_under_it(
    token: SoftHsmToken, real_module: str, linked_module: str
) -> None:
    lines = run_app("late-token", linked_module, real_module, token)
    assert lines[-3:] == ["late token refused without re-initializing", "application session still works", "coexist ok"]
