"""scripts/migrate_client_options.py: old per-call settings become a busta.Client, and the result runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "migrate_client_options.py"

OLD = """\
import io
import os

import busta
from busta import s3
from busta.keyrings import RawAesKeyring

k = RawAesKeyring("ns", "k", os.urandom(32))  # ünïcode before the calls
P = busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
ALLOW = busta.CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
m = busta.encrypt(b"x", keyring=k, algorithm=0x0078, commitment_policy=P, threads=1)
assert busta.decrypt(m, keyring=k, commitment_policy=ALLOW) == b"x"
assert busta.decrypt_message(busta.encrypt(b"y", keyring=k, max_header_bytes=4096), keyring=k).plaintext == b"y"
sink = io.BytesIO()
busta.decrypt_stream(io.BytesIO(busta.encrypt(b"z", keyring=k)), sink, keyring=k, refuse_signed=False)
assert sink.getvalue() == b"z"
CALL = lambda client: s3.get_range("b", "k", 0, 1, client=client, keyring=k, max_header_bytes=1 << 20)
"""

NEW = """\
import io
import os

import busta
from busta import s3
from busta.keyrings import RawAesKeyring

k = RawAesKeyring("ns", "k", os.urandom(32))  # ünïcode before the calls
P = busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
ALLOW = busta.CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
m = busta.Client(commitment_policy=P, threads=1).encrypt(b"x", keyring=k, algorithm=0x0078)
assert busta.Client(commitment_policy=ALLOW).decrypt(m, keyring=k).plaintext == b"x"
assert busta.decrypt(busta.Client(max_header_bytes=4096).encrypt(b"y", keyring=k), keyring=k).plaintext == b"y"
sink = io.BytesIO()
busta.Client(refuse_signed=False).decrypt_stream(io.BytesIO(busta.encrypt(b"z", keyring=k)), sink, keyring=k)
assert sink.getvalue() == b"z"
CALL = lambda client: s3.get_range("b", "k", 0, 1, client=client, keyring=k, sdk=busta.Client(max_header_bytes=1 << 20))
"""


def test_the_migration_moves_settings_onto_a_client_and_the_migrated_code_runs(tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(OLD, encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(program)], capture_output=True, text=True, check=True)
    assert "6 calls" in done.stdout
    assert program.read_text(encoding="utf-8") == NEW
    subprocess.run([sys.executable, str(program)], check=True)
