"""The testkit (``testkit/``, docs/testkit.md): every case ends as its file says.

Each file of ``testkit/cases`` is a message with the decrypt settings and the expected outcome;
``testkit/keys.json`` holds the keys the cases name. busta is called in ONE place, :func:`_decrypt`,
so a change of the public API is one edit here. The official aws-encryption-sdk must agree on
success versus failure wherever it has the settings a case uses.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import busta
from busta import errors
from busta.keyrings import MultiKeyring, RawAesKeyring, RawRsaKeyring, RsaPadding
from busta.limits import MAX_HEADER_BYTES
from busta.materials import Keyring

from .support import oracle

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "testkit"
CASE_FILES = sorted((KIT / "cases").iterdir())
FORMAT_LINE = b"busta testkit 1"
_LIST_FIELDS = frozenset({"key"})
#: Every field a case file may hold: a runner that meets another must not guess what it means.
KNOWN_FIELDS = _LIST_FIELDS | {
    "expect",
    "plaintext-sha256",
    "plaintext-length",
    "commitment-policy",
    "encryption-context",
    "max-encrypted-data-keys",
    "refuse-signed",
    "max-header-bytes",
    "comment",
}


@dataclass(frozen=True)
class KitCase:
    """One case file, parsed."""

    name: str
    fields: dict[str, str]
    keys: tuple[str, ...]
    message: bytes

    @property
    def expect(self) -> str:
        return self.fields["expect"]

    @property
    def policy(self) -> str:
        return self.fields["commitment-policy"]

    @property
    def context(self) -> dict[str, str] | None:
        text = self.fields.get("encryption-context")
        return None if text is None else dict(json.loads(text))

    def number(self, name: str) -> int | None:
        text = self.fields.get(name)
        return None if text is None else int(text)

    @property
    def refuse_signed(self) -> bool:
        return self.fields.get("refuse-signed") == "true"


def load_case(path: Path) -> KitCase:
    """Parse a case file: ``name: value`` lines, an empty line, the message bytes."""
    head, separator, message = path.read_bytes().partition(b"\n\n")
    lines = head.decode("ascii").split("\n")
    assert separator and lines[0] == FORMAT_LINE.decode(), f"{path.name}: not a testkit file"
    fields: dict[str, str] = {}
    keys: list[str] = []
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        assert name in KNOWN_FIELDS, f"{path.name}: unknown field {name!r}"
        if name in _LIST_FIELDS:
            keys.append(value)
        else:
            assert name not in fields, f"{path.name}: {name} given twice"
            fields[name] = value
    return KitCase(path.name, fields, tuple(keys), message)


@functools.cache
def _key_table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = json.loads((KIT / "keys.json").read_text())
    return table


def _one_keyring(name: str) -> Keyring:
    entry = _key_table()[name]
    if entry["type"] == "raw-aes":
        return RawAesKeyring(entry["namespace"], entry["name"], bytes.fromhex(entry["key-hex"]))
    private = serialization.load_pem_private_key(entry["private-key-pem"].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    padding = RsaPadding[entry["padding"]]
    return RawRsaKeyring(entry["namespace"], entry["name"], private_key=private, padding=padding)


@functools.cache  # loading an RSA key checks it, which is slow; keyrings hold no state
def _keyring(names: tuple[str, ...]) -> Keyring:
    keyrings = [_one_keyring(name) for name in names]
    return keyrings[0] if len(keyrings) == 1 else MultiKeyring(children=keyrings)


def _decrypt(case: KitCase, *, read_size: int | None = None) -> bytes:
    """Decrypt a case with busta: the one place the runner calls busta's API.

    One-shot by default; with ``read_size``, through a streaming reader read that many bytes at a time.
    """
    client = busta.Client(
        commitment_policy=busta.CommitmentPolicy[case.policy],
        max_encrypted_data_keys=case.number("max-encrypted-data-keys"),
        max_header_bytes=case.number("max-header-bytes") or MAX_HEADER_BYTES,
        refuse_signed=case.refuse_signed,
    )
    keyring, context = _keyring(case.keys), case.context
    if read_size is None:
        return client.decrypt(case.message, keyring=keyring, encryption_context=context).plaintext
    reader = client.decrypting_reader(
        io.BytesIO(case.message), keyring=keyring, encryption_context=context, read_size=read_size
    )
    return b"".join(iter(lambda: reader.read(read_size), b""))


def _check_plaintext(case: KitCase, plaintext: bytes) -> None:
    assert len(plaintext) == case.number("plaintext-length")
    assert hashlib.sha256(plaintext).hexdigest() == case.fields["plaintext-sha256"]


#: The streaming read size: small, so that reads end inside every field and frame.
STREAM_READ_SIZE = 7


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.name for p in CASE_FILES])
def test_case(path: Path) -> None:
    """One-shot, and through a streaming reader, the case ends as its file says."""
    case = load_case(path)
    for read_size in (None, STREAM_READ_SIZE):
        if case.expect == "success":
            _check_plaintext(case, _decrypt(case, read_size=read_size))
            continue
        expected = getattr(errors, case.expect)
        assert issubclass(expected, errors.BustaError)
        with pytest.raises(expected):
            _decrypt(case, read_size=read_size)


# --------------------------------------------------------------------------- the official SDK


def _key_spec(name: str) -> oracle.KeySpec:
    entry = _key_table()[name]
    if entry["type"] == "raw-aes":
        return oracle.AesKeySpec(entry["namespace"], entry["name"], bytes.fromhex(entry["key-hex"]))
    return oracle.RsaKeySpec(entry["namespace"], entry["name"], entry["private-key-pem"].encode(), entry["padding"])


@functools.cache
def _official_client(policy: str, max_edks: int | None) -> Any:
    import aws_encryption_sdk  # type: ignore[import-untyped,unused-ignore]

    options: dict[str, Any] = {"commitment_policy": getattr(aws_encryption_sdk.CommitmentPolicy, policy)}
    if max_edks is not None:
        options["max_encrypted_data_keys"] = max_edks
    return aws_encryption_sdk.EncryptionSDKClient(**options)


def official_decrypt(case: KitCase) -> bytes:
    """Decrypt a case with the official SDK (raises whatever it raises)."""
    client = _official_client(case.policy, case.number("max-encrypted-data-keys"))
    options: dict[str, Any] = {
        "source": case.message,
        "materials_manager": oracle._default_cmm(tuple(map(_key_spec, case.keys))),
    }
    if case.context is not None:
        options["encryption_context"] = case.context
    if not case.refuse_signed:
        return bytes(client.decrypt(**options)[0])
    with client.stream(mode="decrypt-unsigned", **options) as stream:
        return b"".join(stream)


#: Settings the official SDK does not have: cases that use them are not run against it.
OFFICIAL_LACKS = ("max-header-bytes",)


def official_ignores(case: KitCase) -> bool:
    """The known difference: the official Python SDK (4.0.7) stops reading at the end of the message
    and ignores whatever follows it, where busta (and the ESDK rule busta keeps) refuses trailing bytes."""
    return case.name.startswith("trailing-") or case.name == "malformed-regular-frame-after-final"


def _official_runs(path: Path) -> bool:
    return not any(name in load_case(path).fields for name in OFFICIAL_LACKS)


OFFICIAL_CASES = [path for path in CASE_FILES if _official_runs(path)]


def test_only_the_cases_with_a_busta_only_setting_are_left_out_of_the_official_check() -> None:
    left_out = sorted(path.name for path in CASE_FILES if not _official_runs(path))
    assert left_out == ["limit-header-above-max"], left_out
    assert len(OFFICIAL_CASES) == len(CASE_FILES) - 1


@pytest.mark.skipif(not oracle.official_available(), reason="the official aws-encryption-sdk is not installed")
@pytest.mark.parametrize("path", OFFICIAL_CASES, ids=[p.name for p in OFFICIAL_CASES])
def test_official_sdk_agrees(path: Path) -> None:
    case = load_case(path)
    try:
        plaintext = official_decrypt(case)
    except Exception as exc:  # the official SDK raises many unrelated types
        assert case.expect != "success", f"the official SDK failed: {exc!r}"
        assert not official_ignores(case), "the official SDK now refuses trailing bytes: update docs/testkit.md"
        return
    if official_ignores(case):  # the difference docs/testkit.md describes, still there
        return
    assert case.expect == "success", f"the official SDK decrypted a case that expects {case.expect}"
    _check_plaintext(case, plaintext)


# --------------------------------------------------------------------------- the kit itself


def test_the_generator_reproduces_the_kit() -> None:
    script = ROOT / "scripts" / "make_testkit.py"
    run = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_kit_is_small_and_covers_every_outcome() -> None:
    cases = [load_case(path) for path in CASE_FILES]
    assert len(cases) >= 150
    assert sum(path.stat().st_size for path in CASE_FILES) < 1 << 20
    outcomes = {case.expect for case in cases}
    assert outcomes >= {"success", "AuthenticationError", "MalformedMessageError", "TruncatedMessageError"}
    assert outcomes >= {"LimitExceededError", "PolicyError", "NoDecryptingKeyError", "EncryptionContextError"}
    assert "SignedMessageError" in outcomes


def test_the_documented_family_counts_are_the_kits() -> None:
    """docs/testkit.md's table of families says how many cases each holds: it must stay true."""
    documented = dict(re.findall(r"^\| `([a-z]+)-` \| (\d+) \|", (ROOT / "docs" / "testkit.md").read_text(), re.M))
    actual = collections.Counter(path.name.split("-")[0] for path in CASE_FILES)
    assert {family: int(count) for family, count in documented.items()} == dict(actual)
