"""The ``aws-kms-hierarchy`` tests of ``../shared/vectors/esdk-encrypt-manifest`` (pure data).

The manifest has 11 of them, one per algorithm suite, all with the static branch key
``static-branch-key-1`` of its keys.json (``type: static-branch-key``: its id, version, branch key
and beacon key, base64), frame size 512, the ``small`` plaintext (10,240 bytes) and an empty
encryption context. A missing file raises :class:`~tests.support.vectors.VectorsMissingError`.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass

from .vectors import VectorFormatError, _vector_file

__all__ = ["HierarchyCase", "StaticBranchKey", "load_hierarchy_cases", "static_branch_key"]

_MANIFEST = "esdk-encrypt-manifest/encrypt-manifest.json"
_KEYS = "esdk-encrypt-manifest/keys.json"


@dataclass(frozen=True)
class StaticBranchKey:
    name: str
    branch_key_id: str
    version: str
    branch_key: bytes
    beacon_key: bytes


@dataclass(frozen=True)
class HierarchyCase:
    name: str
    suite_id: int
    frame_length: int
    plaintext_length: int
    encryption_context: dict[str, str]
    key: str


def _json(relative: str) -> dict[str, object]:
    with _vector_file(relative).open("rb") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise VectorFormatError(f"{relative} is not a JSON object")
    return data


@functools.cache
def static_branch_key(name: str = "static-branch-key-1") -> StaticBranchKey:
    keys = _json(_KEYS)["keys"]
    if not isinstance(keys, dict) or not isinstance(keys.get(name), dict):
        raise VectorFormatError(f"keys.json has no key {name!r}")
    entry = keys[name]
    if entry.get("type") != "static-branch-key":
        raise VectorFormatError(f"{name} is not a static-branch-key")
    return StaticBranchKey(
        name,
        str(entry["key-id"]),
        str(entry["branchKeyVersion"]),
        base64.b64decode(entry["branchKey"]),
        base64.b64decode(entry["beaconKey"]),
    )


@functools.cache
def _cases() -> tuple[HierarchyCase, ...]:
    manifest = _json(_MANIFEST)
    plaintexts = manifest["plaintexts"]
    tests = manifest["tests"]
    if not isinstance(plaintexts, dict) or not isinstance(tests, dict):
        raise VectorFormatError("the encrypt manifest has no plaintexts or tests")
    found = []
    for name, test in sorted(tests.items()):
        scenario = test["encryption-scenario"]
        if scenario["encryptKeyDescription"].get("type") != "aws-kms-hierarchy":
            continue
        found.append(
            HierarchyCase(
                name,
                int(scenario["algorithmSuiteId"], 16),
                int(scenario["frame-size"]),
                int(plaintexts[scenario["plaintext"]]),
                dict(scenario["encryption-context"]),
                str(scenario["encryptKeyDescription"]["key"]),
            )
        )
    return tuple(found)


def load_hierarchy_cases() -> list[HierarchyCase]:
    return list(_cases())
