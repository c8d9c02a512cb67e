"""A throwaway SoftHSM token for development and tests (public in :mod:`.pkcs11_admin`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .._frozen import record
from .._secrets import SecretBytes
from ..errors import Pkcs11Error, UsageError
from . import _pkcs11_token

__all__ = ["SOFTHSM_MODULES", "SoftHsmToken", "create_softhsm_token", "softhsm_module"]

#: Where Debian, Ubuntu, Fedora and Homebrew put SoftHSM's module (``SOFTHSM2_MODULE`` overrides).
SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


@record
class SoftHsmToken:
    """A SoftHSM token made by :func:`create_softhsm_token`."""

    module: str
    token_label: str
    pin: SecretBytes
    config: str  # the SOFTHSM2_CONF file


def softhsm_module() -> str:
    """The path of SoftHSM's PKCS#11 module on this machine."""
    override = os.environ.get("SOFTHSM2_MODULE")
    for path in (override,) if override else SOFTHSM_MODULES:
        if path and os.path.isfile(path):
            return path
    raise Pkcs11Error("SoftHSM is not installed (Debian/Ubuntu: apt-get install softhsm2)")


def create_softhsm_token(label: str, *, directory: str | None = None, pin: str | None = None) -> SoftHsmToken:
    """Make a fresh SoftHSM token for development and tests, and return how to reach it.

    The token lives under ``directory`` (default: a new temporary directory, the
    same for every token this process makes). SoftHSM reads ``SOFTHSM2_CONF``
    once, when its module is first loaded, so this sets that variable and
    refuses a second directory afterwards. ``pin`` defaults to a random one.
    """
    config = _softhsm_config(directory)
    user_pin = pin or os.urandom(8).hex()
    tool = shutil.which("softhsm2-util")
    if tool is None:
        raise Pkcs11Error("softhsm2-util is not installed (Debian/Ubuntu: apt-get install softhsm2)")
    command = [tool, "--init-token", "--free", "--label", label, "--pin", user_pin, "--so-pin", os.urandom(8).hex()]
    environment = {**os.environ, "SOFTHSM2_CONF": config}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        detail = done.stderr.strip() or done.stdout.strip()
        raise Pkcs11Error(f"softhsm2-util could not make token {label!r}: {detail}")
    return SoftHsmToken(softhsm_module(), label, SecretBytes(user_pin.encode()), config)


_softhsm_dir: list[str] = []


def _softhsm_config(directory: str | None) -> str:
    with _pkcs11_token.LOCK:
        if _softhsm_dir:
            if directory is not None and os.path.abspath(directory) != _softhsm_dir[0]:
                raise UsageError(
                    f"this process already keeps SoftHSM tokens in {_softhsm_dir[0]}; SoftHSM reads its "
                    "configuration once per process, so every token must live there"
                )
            return os.path.join(_softhsm_dir[0], "softhsm2.conf")
        if _pkcs11_token.loaded_modules() and "SOFTHSM2_CONF" in os.environ:
            raise UsageError("SoftHSM was loaded before create_softhsm_token() could set SOFTHSM2_CONF")
        root = os.path.abspath(directory) if directory is not None else tempfile.mkdtemp(prefix="busta-softhsm-")
        tokens = os.path.join(root, "tokens")
        os.makedirs(tokens, mode=0o700, exist_ok=True)
        config = os.path.join(root, "softhsm2.conf")
        with open(config, "w", encoding="utf-8") as fh:
            fh.write(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
        os.environ["SOFTHSM2_CONF"] = config  # before the module loads, or SoftHSM reads the system file
        _softhsm_dir.append(root)
        return config
