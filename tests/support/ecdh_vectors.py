"""The 99 ``raw-ecdh`` tests of the official encrypt manifest (``esdk-encrypt-manifest``).

Each names a suite, a frame length, a plaintext size, an encryption context and two key
descriptions (encrypt, decrypt) over the ``ecc-256/384/521-private`` keys of its keys.json:

- ``static``: the sender's private key (``sender-material``, PEM) and the recipient's public key
  (``recipient-material-public-key``, base64 DER), for encrypting and for decrypting;
- ``ephemeral``: the recipient's public key only;
- ``discovery``: the recipient's private key (``recipient-material``, PEM).

Missing vectors fail (:class:`~tests.support.vectors.VectorsMissingError`), never skip.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass

from .oracle_ecdh import EcdhKeySpec
from .vectors import vectors_dir

__all__ = ["EcdhVectorCase", "load_raw_ecdh_cases"]

_MANIFEST = "esdk-encrypt-manifest"
_CURVES = {"ecc-256": "p256", "ecc-384": "p384", "ecc-521": "p521"}


@dataclass(frozen=True)
class EcdhVectorCase:
    name: str
    description: str
    suite_id: int
    frame_length: int
    plaintext_size: int
    encryption_context: tuple[tuple[str, str], ...]
    encrypt: EcdhKeySpec
    decrypt: EcdhKeySpec


def _key_spec(description: dict[str, str], keys: dict[str, dict[str, object]]) -> EcdhKeySpec:
    scheme, curve = description["schema"], _CURVES[description["ecc-curve"]]
    recipient = keys[description["recipient"]]
    if scheme == "static":
        sender = keys[description["sender"]]
        public = base64.b64decode(str(recipient["recipient-material-public-key"]))
        return EcdhKeySpec("static", curve, str(sender["sender-material"]).encode(), public)
    if scheme == "ephemeral":
        return EcdhKeySpec(
            "ephemeral", curve, public_der=base64.b64decode(str(recipient["recipient-material-public-key"]))
        )
    if scheme == "discovery":
        return EcdhKeySpec("discovery", curve, private_pem=str(recipient["recipient-material"]).encode())
    raise ValueError(f"unknown raw-ecdh schema {scheme!r}")


@functools.cache
def load_raw_ecdh_cases() -> tuple[EcdhVectorCase, ...]:
    """Every ``raw-ecdh`` test of the encrypt manifest, in manifest order."""
    folder = vectors_dir() / _MANIFEST
    manifest = json.loads((folder / "encrypt-manifest.json").read_text())
    keys = json.loads((folder / "keys.json").read_text())["keys"]
    cases = []
    for name, test in manifest["tests"].items():
        scenario = test["encryption-scenario"]
        if scenario["encryptKeyDescription"].get("type") != "raw-ecdh":
            continue
        cases.append(
            EcdhVectorCase(
                name=name,
                description=scenario["description"],
                suite_id=int(scenario["algorithmSuiteId"], 16),
                frame_length=int(scenario["frame-size"]),
                plaintext_size=int(manifest["plaintexts"][scenario["plaintext"]]),
                encryption_context=tuple(sorted(scenario["encryption-context"].items())),
                encrypt=_key_spec(scenario["encryptKeyDescription"], keys),
                decrypt=_key_spec(scenario["decryptKeyDescription"], keys),
            )
        )
    return tuple(cases)
