"""An application that uses a PKCS#11 module itself, through python-pkcs11, beside busta's keyring.

Run as ``python -m tests.support.pkcs11_app ORDER APP_PATH KEYRING_PATH TOKEN_LABEL`` with the token's
PIN in ``APP_PIN`` and ``SOFTHSM2_CONF`` set; ORDER is ``app-first``, ``keyring-first`` or
``late-token`` (a token made after the application loaded the module: busta must refuse it rather
than re-initialize the module under the application). It prints one
line per step and exits 0 only if every step worked, the application's own session included after
busta is done (so busta neither failed to load the module nor finalized it under the application).
Process-global state (python-pkcs11's cache, the module's initialization) stays in this process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import pkcs11
from pkcs11 import KeyType, Mechanism

import busta
from busta.errors import Pkcs11Error
from busta.keyrings.pkcs11 import Pkcs11Keyring
from busta.keyrings.pkcs11_admin import generate_aes_key

KEY_LABEL = "coexist-aes-" + os.urandom(4).hex()  # one per run: several runs may share a token


def keyring_round_trip(path: str, token_label: str, pin: str) -> None:
    keyring = Pkcs11Keyring("app", "coexist", module=path, token_label=token_label, key_label=KEY_LABEL, pin=pin)
    assert busta.decrypt(busta.encrypt(b"coexist", keyring=keyring), keyring=keyring).plaintext == b"coexist"
    print(f"keyring round trip via {path}")


def app_session(path: str, token_label: str, pin: str | None) -> Any:
    lib = pkcs11.lib(path)
    token = lib.get_token(token_label=token_label)
    session = token.open(user_pin=pin, rw=True) if pin is not None else token.open(rw=True)
    print(f"application session via {path}")
    return session


def app_works(session: Any) -> None:
    key = session.generate_key(KeyType.AES, 256, store=False)  # a session object: the session is alive
    iv = session.generate_random(128)
    sealed = key.encrypt(b"application data", mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv)
    assert key.decrypt(sealed, mechanism=Mechanism.AES_CBC_PAD, mechanism_param=iv) == b"application data"
    print("application session still works")


def make_token(label: str, pin: str) -> None:
    tool = shutil.which("softhsm2-util")
    assert tool is not None
    command = [tool, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "so-" + pin]
    subprocess.run(command, check=True, capture_output=True)


def main(order: str, app_path: str, keyring_path: str, token_label: str) -> None:
    pin = os.environ["APP_PIN"]
    if order == "app-first":
        session = app_session(app_path, token_label, pin)  # the application logs in first
        generate_aes_key(keyring_path, token_label, KEY_LABEL, pin=pin)
        keyring_round_trip(keyring_path, token_label, pin)
        app_works(session)
    elif order == "keyring-first":
        generate_aes_key(keyring_path, token_label, KEY_LABEL, pin=pin)
        keyring_round_trip(keyring_path, token_label, pin)
        session = app_session(app_path, token_label, None)  # login is per process: busta's counts
        app_works(session)
        keyring_round_trip(keyring_path, token_label, pin)
    elif order == "late-token":
        session = app_session(app_path, token_label, pin)
        late = "late-" + os.urandom(8).hex()
        make_token(late, pin)
        try:
            Pkcs11Keyring("app", "late", module=keyring_path, token_label=late, key_label=KEY_LABEL, pin=pin)
        except Pkcs11Error as exc:
            assert exc.code == "NoSuchToken" and "does not re-initialize" in str(exc), exc
            print("late token refused without re-initializing")
        else:
            raise AssertionError("a token made after the application loaded the module was found")
        app_works(session)
    else:
        raise SystemExit(f"unknown order {order!r}")
    print("coexist ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
