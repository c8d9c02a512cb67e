"""busta._debug: ``import busta`` (and a message through it) does not import logging, yet every DEBUG
record reaches logging as soon as something has imported it, even after busta."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import busta

_SCRIPT = """
import os, sys
import busta
print("logging" in sys.modules)
from busta.keyrings import RawAesKeyring
keyring = RawAesKeyring("ns", "name", bytes(32))
client = busta.Client(threads=1)  # the default thread pool is concurrent.futures, which imports logging
message = client.encrypt(b"data", keyring=keyring, algorithm=0x0478)
client.decrypt(message, keyring=keyring)
print("logging" in sys.modules)
import logging
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s: %(message)s")
client.decrypt(message, keyring=keyring)
"""


def test_debug_records_need_no_logging_import_and_reach_it_once_imported() -> None:
    root = str(Path(busta.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True, env={"PYTHONPATH": root}
    ).stdout.splitlines()
    assert out[:2] == ["False", "False"]  # neither import busta nor a one-thread round trip imported logging
    assert "busta.keyrings: raw AES keyring unwrapped a data key" in out
    assert "busta.materials.default_cmm: decryption materials ready for suite AES_256_GCM_HKDF_SHA512_COMMIT_KEY" in out
