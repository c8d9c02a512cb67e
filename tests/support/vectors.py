"""Loader for the official AWS Encryption SDK test vectors (pure data, no busta imports).

The vectors live OUTSIDE the project, at ``../shared/vectors`` relative to the project
root (the parent of ``tests/``).  If that folder is missing, every loader raises
:class:`VectorsMissingError`: tests that use the vectors FAIL, they never skip.

Three sets are parsed into frozen dataclasses (each loader is cached with
``functools.cache`` and returns a fresh list of the shared, cached case objects --
do not mutate their ``dict`` / ``list`` fields):

* :func:`load_legacy` -- ``esdk-legacy-1.3.0``: 1,260 v1 messages written by
  aws-encryption-sdk-python 1.3.0 (900 decryptable with the raw keys given, 360 KMS-only).
* :func:`load_commitment` -- ``esdk-commitment``: 46 v2 / key-commitment known-answer tests.
* :func:`load_decrypt_oracle` -- ``esdk-decrypt-oracle``: 27 small v1 messages.

Facts checked against the files (see also /work/shared/vectors/README.md):

Legacy manifest (``manifests/ciphertext.manifest``)
    * A test case has only ``plaintext.filename``, ``ciphertext.filename``, ``algorithm``
      (4 hex digits, e.g. ``"0014"``) and ``master_keys``.  It has NO name and NO frame
      length: the frame length is the 4th component of the ciphertext path
      (``ciphertext/<suite>/small/<frame length>/<uuid>``) and equals the header's frame
      length field.  Frame lengths are 0 (non-framed), 512, 4096, 10240 and 20480 (252
      cases each; the README lists only the first three).  Every plaintext is
      ``plaintext/small`` (10,240 bytes).
    * ``algorithm`` always equals bytes 2..3 of the ciphertext (checked on load).
    * Raw master keys carry NO ``key_id``: only ``provider_id``, ``encryption_algorithm``
      (``"AES"`` / ``"RSA"``), for RSA ``key_bits`` (2048), ``padding_algorithm``
      (``"PKCS1"`` / ``"OAEP-MGF1"``) and ``padding_hash`` (``"SHA-1"``), and ``decryptable``.
      AES keys have no ``key_bits``: the size is the suite's data-key size.
      ``test_keys`` is nested as ``test_keys[ALG][BITS]``: ``AES``/``128|192|256``
      (``encoding: base64``, one line) and ``RSA``/``2048`` (``encoding: pem``, PEM lines
      joined with ``line_separator`` ``"\\n"``, PKCS#8 ``BEGIN PRIVATE KEY``).
    * Provider ids: ``static-aws-xcompat`` (decryptable, key in ``test_keys``),
      ``ephemeral-aws-xcompat`` (``decryptable: false``, random key not given) and
      ``aws-kms``.  The EDK order in the message varies (the static one is not always first).
    * Key name stored in the EDK provider info (``ALGORITHM.BITS.PADDING.HASH``; empty
      fields left empty), identical for the static and the ephemeral provider:
      ``AES.128..`` / ``AES.192..`` / ``AES.256..``, ``RSA.2048.PKCS1.`` and
      ``RSA.2048.OAEP-MGF1.SHA-1``.
    * Raw AES EDK provider info is 29 bytes: key name (9 bytes, e.g. ``b"AES.128.."``) ·
      UInt32 tag length in bits ``00 00 00 80`` (128) · UInt32 IV length ``00 00 00 0c``
      (12) · the 12-byte IV.  The EDK ciphertext is AES-GCM(data key) || 16-byte tag
      (32/40/48 bytes) with AAD = the serialized encryption context stored in the header.
    * Raw RSA EDK provider info is the key name only; the EDK ciphertext is 256 bytes.
    * KMS EDK provider info is the resolved key ARN, NOT the manifest's alias ``key_id``:
      ``alias/EncryptDecrypt`` -> ``arn:aws:kms:us-west-2:658956600833:key/b3537ef1-d8dc-4780-9f5a-55776cbb2f7f``,
      ``alias/EncryptOnly`` (eu-central-1) -> ``...:key/175a8791-9aea-4f08-8fdb-d97dcfae235f``.

Commitment JSON (``commitment-test-vectors.json``, top level ``{"title", "date",
"status", "tests": [...]}``)
    * base64: ``ciphertext``, ``decrypted-dek``, ``commitment``, ``message-id`` (32 bytes,
      = ciphertext bytes 3..34), ``header`` (a prefix of the ciphertext), ``frames`` (list;
      raw frame bytes, possibly empty), ``footer`` (full footer incl. its UInt16 length)
      and ``content-encryption-key``.  The last four are optional.  Test 27's ``header``
      has a leading space (whitespace is ignored when decoding).
    * Plain UTF-8 JSON strings: ``plaintext-frames`` (one string per frame; absent in test 2,
      a ``status: false`` case), ``encryption-context`` values, ``exception`` (``null`` or
      e.g. ``"EXCEPTION: Invalid commitment"``), ``comment`` (starts with ``"<n>. "``),
      ``keyring-type`` (``"static"`` for tests 1-2, else ``"aws-kms"``).
    * The two ``static`` tests use a raw-AES-shaped EDK with provider id ``ProviderName``
      and key name ``KeyId`` (provider info ``b"KeyId" 00000080 0000000c`` + IV).
    * 16 messages (tests 6-21) carry the frame IV ``ffffffffffffffff00000001``, not 1.

Decrypt-oracle JSON (``decrypt_oracle_vectors.json``, a list of
``{"key-type", "algorithm-suite", "ciphertext", "plaintext"}``, ciphertext and plaintext base64)
    * ``key-type`` is the STRING ``"null"`` (mapped here to ``None``), ``"test_counting"``
      or ``"aws-kms"``; ``algorithm-suite`` is 4 hex digits equal to bytes 2..3.
    * ``null`` EDK: provider id ``b"null"``, provider info ``b"null"``, EMPTY ciphertext;
      data key = all zero bytes of the suite's key length.
    * ``test_counting`` EDK: provider id ``b"test_counting"``, provider info
      ``b"test_counting_prov_info"``, ciphertext ``b"@ABCD"`` (``40 41 42 43 44``) for every
      suite; data key = bytes 1, 2, ..., key length.
    * All 27 messages are framed (frame length 4096) with a 64-byte plaintext and an
      encryption context {key1: val1, key2: val2} (+ ``aws-crypto-public-key`` if signed).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "COUNTING_EDK_CIPHERTEXT",
    "COUNTING_PROVIDER_ID",
    "COUNTING_PROVIDER_INFO",
    "EPHEMERAL_PROVIDER_ID",
    "KMS_PROVIDER_ID",
    "NULL_PROVIDER_ID",
    "NULL_PROVIDER_INFO",
    "STATIC_PROVIDER_ID",
    "SUITE_DATA_KEY_LENGTH",
    "VECTORS_DIR",
    "CommitmentCase",
    "LegacyCase",
    "MasterKeyDesc",
    "OracleCase",
    "VectorFormatError",
    "VectorsMissingError",
    "load_commitment",
    "load_decrypt_oracle",
    "load_legacy",
    "vectors_dir",
]

#: ``<project root>/../shared/vectors`` (project root = parent of ``tests/``).
VECTORS_DIR: Path = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"

#: Data-key length in bytes of every suite that appears in the vectors.
SUITE_DATA_KEY_LENGTH: Mapping[int, int] = {
    0x0014: 16,
    0x0046: 24,
    0x0078: 32,
    0x0114: 16,
    0x0146: 24,
    0x0178: 32,
    0x0214: 16,
    0x0346: 24,
    0x0378: 32,
    0x0478: 32,
    0x0578: 32,
}

STATIC_PROVIDER_ID = "static-aws-xcompat"
EPHEMERAL_PROVIDER_ID = "ephemeral-aws-xcompat"
KMS_PROVIDER_ID = "aws-kms"
NULL_PROVIDER_ID = "null"
NULL_PROVIDER_INFO = b"null"
COUNTING_PROVIDER_ID = "test_counting"
COUNTING_PROVIDER_INFO = b"test_counting_prov_info"
COUNTING_EDK_CIPHERTEXT = b"@ABCD"

_LEGACY_DIR = "esdk-legacy-1.3.0"
_LEGACY_MANIFEST = "manifests/ciphertext.manifest"
_COMMITMENT_FILE = "esdk-commitment/commitment-test-vectors.json"
_ORACLE_FILE = "esdk-decrypt-oracle/decrypt_oracle_vectors.json"


class VectorsMissingError(FileNotFoundError):
    """The shared vectors folder (or one of its files) is not where it must be."""


class VectorFormatError(ValueError):
    """A vector file does not have the shape this loader was written against."""


def vectors_dir() -> Path:
    """Return the vectors folder, raising :class:`VectorsMissingError` if it is absent."""
    path = VECTORS_DIR.resolve()
    if not path.is_dir():
        raise VectorsMissingError(
            f"official ESDK test vectors not found at {VECTORS_DIR} (resolved: {path}); "
            "they must be at ../shared/vectors relative to the project root"
        )
    return path


def _vector_file(relative: str) -> Path:
    path = vectors_dir() / relative
    if not path.is_file():
        raise VectorsMissingError(f"vector file missing: {path}")
    return path


def _read_json(relative: str) -> object:
    with _vector_file(relative).open("rb") as handle:
        return json.load(handle)


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VectorFormatError(f"{what}: expected a base64 string, got {value!r}")
    try:
        # Whitespace is dropped: test 27's ``header`` starts with a space.
        return base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error as exc:
        raise VectorFormatError(f"{what}: invalid base64: {exc}") from exc


def _opt_b64(value: object, what: str) -> bytes | None:
    return None if value is None else _b64(value, what)


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise VectorFormatError(f"{what}: expected a string, got {value!r}")
    return value


def _opt_str(value: object, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _obj(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise VectorFormatError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def _list(value: object, what: str) -> list[object]:
    if not isinstance(value, list):
        raise VectorFormatError(f"{what}: expected a JSON list, got {type(value).__name__}")
    return value


def _str_dict(value: object, what: str) -> dict[str, str]:
    return {_str(k, what): _str(v, f"{what}[{k!r}]") for k, v in _obj(value, what).items()}


def _suite_hex(value: object, what: str) -> int:
    text = _str(value, what)
    if not re.fullmatch(r"[0-9a-fA-F]{4}", text):
        raise VectorFormatError(f"{what}: expected 4 hex digits, got {text!r}")
    return int(text, 16)


def _v1_suite_id(ciphertext: bytes) -> int:
    """Suite id of a v1 message: bytes 2..3 (after version 0x01 and type 0x80)."""
    if len(ciphertext) < 4 or ciphertext[0] != 0x01 or ciphertext[1] != 0x80:
        raise VectorFormatError(f"not a v1 message: {ciphertext[:4].hex()}")
    return int.from_bytes(ciphertext[2:4], "big")


# --------------------------------------------------------------------------- legacy


@dataclass(frozen=True)
class MasterKeyDesc:
    """One master key of a legacy test case.

    ``type``: ``"raw"`` (providers ``static-aws-xcompat`` / ``ephemeral-aws-xcompat``)
    or ``"aws-kms"``.
    ``key_id``: for KMS the manifest's alias ARN; for raw keys the ``test_keys`` entry
    ``"<ALG>.<BITS>"`` (``"AES.128"``, ``"AES.192"``, ``"AES.256"``, ``"RSA.2048"``),
    also for ephemeral keys although their material is not given.
    ``key_name``: the raw key name stored in the message's EDK provider info
    (``"AES.128.."``, ``"RSA.2048.PKCS1."``, ``"RSA.2048.OAEP-MGF1.SHA-1"``); ``None``
    for KMS (the message stores the resolved key ARN, which the manifest does not give).
    ``encryption_algorithm``: ``"aes"`` / ``"rsa"`` (lower-cased), ``None`` for KMS.
    ``padding_algorithm`` / ``padding_hash``: as in the manifest (``"PKCS1"``,
    ``"OAEP-MGF1"`` / ``"SHA-1"``), ``None`` when absent (always for AES).
    ``key_bytes`` (AES, base64-decoded) and ``pem`` (RSA, PKCS#8 private key, lines joined
    with ``\\n``) are set only for decryptable ``static-aws-xcompat`` keys.
    """

    type: Literal["raw", "aws-kms"]
    provider_id: str
    key_id: str
    key_name: str | None
    encryption_algorithm: Literal["aes", "rsa"] | None
    key_bits: int | None
    padding_algorithm: str | None
    padding_hash: str | None
    decryptable: bool
    key_bytes: bytes | None
    pem: bytes | None

    @property
    def key_name_bytes(self) -> bytes | None:
        """The key name as stored in the EDK provider info (UTF-8/ASCII)."""
        return None if self.key_name is None else self.key_name.encode("utf-8")

    @property
    def has_material(self) -> bool:
        return self.key_bytes is not None or self.pem is not None


@dataclass(frozen=True)
class LegacyCase:
    """One message of ``esdk-legacy-1.3.0`` (message format v1).

    ``name`` is the ciphertext path under ``ciphertext/``, e.g.
    ``"0014/small/512/5dd42e0ede1b4de79b7b3d2bc5b10e29"`` (unique; use as pytest id).
    ``algorithm`` is the manifest's 4-hex-digit string; ``suite_id`` its value, checked
    equal to bytes 2..3 of the ciphertext.  ``frame_length`` comes from the path
    (0 = non-framed).
    """

    name: str
    ciphertext_path: Path
    ciphertext: bytes
    plaintext: bytes
    algorithm: str
    suite_id: int
    frame_length: int
    master_keys: tuple[MasterKeyDesc, ...]

    @property
    def raw_keys(self) -> tuple[MasterKeyDesc, ...]:
        """Decryptable raw master keys whose material is given."""
        return tuple(mk for mk in self.master_keys if mk.type == "raw" and mk.decryptable and mk.has_material)

    @property
    def raw_decryptable(self) -> bool:
        """True when the message can be decrypted with the raw keys given here."""
        return bool(self.raw_keys) and not any(mk.type == "aws-kms" and mk.decryptable for mk in self.master_keys)

    @property
    def kms_only(self) -> bool:
        return not self.raw_decryptable

    @property
    def data_key_length(self) -> int:
        return SUITE_DATA_KEY_LENGTH[self.suite_id]


def _legacy_master_key(raw: object, suite_id: int, test_keys: dict[str, object], where: str) -> MasterKeyDesc:
    mk = _obj(raw, where)
    provider_id = _str(mk.get("provider_id"), f"{where}.provider_id")
    decryptable = mk.get("decryptable")
    if not isinstance(decryptable, bool):
        raise VectorFormatError(f"{where}.decryptable: expected a bool, got {decryptable!r}")
    if provider_id == KMS_PROVIDER_ID:
        return MasterKeyDesc(
            type="aws-kms",
            provider_id=provider_id,
            key_id=_str(mk.get("key_id"), f"{where}.key_id"),
            key_name=None,
            encryption_algorithm=None,
            key_bits=None,
            padding_algorithm=None,
            padding_hash=None,
            decryptable=decryptable,
            key_bytes=None,
            pem=None,
        )
    if provider_id not in (STATIC_PROVIDER_ID, EPHEMERAL_PROVIDER_ID):
        raise VectorFormatError(f"{where}: unknown provider id {provider_id!r}")

    alg = _str(mk.get("encryption_algorithm"), f"{where}.encryption_algorithm").upper()
    padding = _opt_str(mk.get("padding_algorithm"), f"{where}.padding_algorithm")
    padding_hash = _opt_str(mk.get("padding_hash"), f"{where}.padding_hash")
    if alg == "AES":
        bits = mk.get("key_bits", SUITE_DATA_KEY_LENGTH[suite_id] * 8)
        enc: Literal["aes", "rsa"] = "aes"
    elif alg == "RSA":
        bits = mk.get("key_bits")
        enc = "rsa"
    else:
        raise VectorFormatError(f"{where}: unknown encryption_algorithm {alg!r}")
    if not isinstance(bits, int) or isinstance(bits, bool):
        raise VectorFormatError(f"{where}.key_bits: expected an int, got {bits!r}")

    key_bytes: bytes | None = None
    pem: bytes | None = None
    if provider_id == STATIC_PROVIDER_ID and decryptable:
        entry = _obj(
            _obj(test_keys.get(alg), f"test_keys.{alg}").get(str(bits)),
            f"test_keys.{alg}.{bits}",
        )
        lines = [_str(x, f"test_keys.{alg}.{bits}.key") for x in _list(entry.get("key"), "key")]
        encoding = entry.get("encoding")
        if encoding == "base64":
            key_bytes = _b64("".join(lines), f"test_keys.{alg}.{bits}")
        elif encoding == "pem":
            separator = _str(entry.get("line_separator", "\n"), "line_separator")
            pem = separator.join(lines).encode("ascii")
        else:
            raise VectorFormatError(f"test_keys.{alg}.{bits}: unknown encoding {encoding!r}")

    return MasterKeyDesc(
        type="raw",
        provider_id=provider_id,
        key_id=f"{alg}.{bits}",
        key_name=f"{alg}.{bits}.{padding or ''}.{padding_hash or ''}",
        encryption_algorithm=enc,
        key_bits=bits,
        padding_algorithm=padding,
        padding_hash=padding_hash,
        decryptable=decryptable,
        key_bytes=key_bytes,
        pem=pem,
    )


@functools.cache
def _legacy_cases() -> tuple[LegacyCase, ...]:
    root = vectors_dir() / _LEGACY_DIR
    manifest = _obj(_read_json(f"{_LEGACY_DIR}/{_LEGACY_MANIFEST}"), "legacy manifest")
    test_keys = _obj(manifest.get("test_keys"), "test_keys")
    plaintexts: dict[str, bytes] = {}
    cases: list[LegacyCase] = []
    for index, raw in enumerate(_list(manifest.get("test_cases"), "test_cases")):
        where = f"legacy test_cases[{index}]"
        tc = _obj(raw, where)
        ct_rel = _str(_obj(tc.get("ciphertext"), where).get("filename"), f"{where}.ciphertext")
        pt_rel = _str(_obj(tc.get("plaintext"), where).get("filename"), f"{where}.plaintext")
        algorithm = _str(tc.get("algorithm"), f"{where}.algorithm")
        suite_id = _suite_hex(algorithm, f"{where}.algorithm")

        parts = ct_rel.split("/")
        if len(parts) != 5 or parts[0] != "ciphertext" or not parts[3].isdigit():
            raise VectorFormatError(f"{where}: unexpected ciphertext path {ct_rel!r}")
        frame_length = int(parts[3])

        ct_path = root / ct_rel
        try:
            ciphertext = ct_path.read_bytes()
            if pt_rel not in plaintexts:
                plaintexts[pt_rel] = (root / pt_rel).read_bytes()
        except FileNotFoundError as exc:
            raise VectorsMissingError(f"{where}: {exc}") from exc
        if _v1_suite_id(ciphertext) != suite_id:
            raise VectorFormatError(
                f"{where}: manifest algorithm {algorithm} != message suite {_v1_suite_id(ciphertext):04x}"
            )

        master_keys = tuple(
            _legacy_master_key(mk, suite_id, test_keys, f"{where}.master_keys[{i}]")
            for i, mk in enumerate(_list(tc.get("master_keys"), f"{where}.master_keys"))
        )
        cases.append(
            LegacyCase(
                name="/".join(parts[1:]),
                ciphertext_path=ct_path,
                ciphertext=ciphertext,
                plaintext=plaintexts[pt_rel],
                algorithm=algorithm,
                suite_id=suite_id,
                frame_length=frame_length,
                master_keys=master_keys,
            )
        )
    return tuple(cases)


def load_legacy() -> list[LegacyCase]:
    """All 1,260 legacy cases (900 ``raw_decryptable``, 360 KMS-only)."""
    return list(_legacy_cases())


# --------------------------------------------------------------------------- commitment


@dataclass(frozen=True)
class CommitmentCase:
    """One known-answer test of ``esdk-commitment`` (message format v2).

    ``index`` is the 1-based position (the number that starts ``comment``); ``name`` is
    ``"NN-<slug of comment>"`` for pytest ids.  ``plaintext`` is the UTF-8 encoding of the
    joined ``plaintext_frames``, or ``None`` when the vector gives no plaintext (test 2,
    an expected failure).  ``status`` True: must decrypt; False: must fail (``exception``).
    """

    index: int
    name: str
    comment: str
    keyring_type: str
    ciphertext: bytes
    suite_id: int
    decrypted_dek: bytes
    commitment: bytes | None
    message_id: bytes | None
    encryption_context: dict[str, str]
    plaintext_frames: list[bytes]
    plaintext: bytes | None
    status: bool
    exception: str | None
    header: bytes | None
    frames: list[bytes] | None
    footer: bytes | None
    content_encryption_key: bytes | None


def _slug(text: str) -> str:
    text = re.sub(r"^\d+\.\s*", "", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


@functools.cache
def _commitment_cases() -> tuple[CommitmentCase, ...]:
    top = _obj(_read_json(_COMMITMENT_FILE), "commitment vectors")
    cases: list[CommitmentCase] = []
    for i, raw in enumerate(_list(top.get("tests"), "tests"), start=1):
        where = f"commitment tests[{i - 1}]"
        tc = _obj(raw, where)
        ciphertext = _b64(tc.get("ciphertext"), f"{where}.ciphertext")
        if len(ciphertext) < 3 or ciphertext[0] != 0x02:
            raise VectorFormatError(f"{where}: not a v2 message")
        status = tc.get("status")
        if not isinstance(status, bool):
            raise VectorFormatError(f"{where}.status: expected a bool, got {status!r}")
        exception = _opt_str(tc.get("exception"), f"{where}.exception")
        comment = _str(tc.get("comment", ""), f"{where}.comment")
        raw_frames = tc.get("plaintext-frames")
        frames_text = [] if raw_frames is None else [_str(f, where) for f in _list(raw_frames, where)]
        plaintext_frames = [f.encode("utf-8") for f in frames_text]
        body_frames = tc.get("frames")
        cases.append(
            CommitmentCase(
                index=i,
                name=f"{i:02d}-{_slug(comment)}",
                comment=comment,
                keyring_type=_str(tc.get("keyring-type", ""), f"{where}.keyring-type"),
                ciphertext=ciphertext,
                suite_id=int.from_bytes(ciphertext[1:3], "big"),
                decrypted_dek=_b64(tc.get("decrypted-dek"), f"{where}.decrypted-dek"),
                commitment=_opt_b64(tc.get("commitment"), f"{where}.commitment"),
                message_id=_opt_b64(tc.get("message-id"), f"{where}.message-id"),
                encryption_context=_str_dict(tc.get("encryption-context", {}), f"{where}.encryption-context"),
                plaintext_frames=plaintext_frames,
                plaintext=None if raw_frames is None else b"".join(plaintext_frames),
                status=status,
                exception=exception,
                header=_opt_b64(tc.get("header"), f"{where}.header"),
                frames=(
                    None if body_frames is None else [_b64(f, f"{where}.frames") for f in _list(body_frames, where)]
                ),
                footer=_opt_b64(tc.get("footer"), f"{where}.footer"),
                content_encryption_key=_opt_b64(tc.get("content-encryption-key"), f"{where}.content-encryption-key"),
            )
        )
    return tuple(cases)


def load_commitment() -> list[CommitmentCase]:
    """All 46 commitment known-answer tests."""
    return list(_commitment_cases())


# --------------------------------------------------------------------------- decrypt oracle


@dataclass(frozen=True)
class OracleCase:
    """One message of ``esdk-decrypt-oracle`` (message format v1).

    ``key_type``: ``None`` for the JSON string ``"null"`` (null provider: EDK provider id
    and info ``null``, empty EDK ciphertext, all-zero data key), ``"test_counting"``
    (data key 1, 2, 3, ...) or ``"aws-kms"`` (not decryptable here).
    ``name`` is ``"<null|test_counting|aws-kms>-<suite hex>"``, unique.
    """

    name: str
    key_type: Literal["test_counting", "aws-kms"] | None
    algorithm: str
    suite_id: int
    ciphertext: bytes
    plaintext: bytes

    @property
    def kms_only(self) -> bool:
        return self.key_type == "aws-kms"

    @property
    def provider_id(self) -> str:
        return NULL_PROVIDER_ID if self.key_type is None else self.key_type

    @property
    def known_data_key(self) -> bytes | None:
        """The plaintext data key for the test providers, ``None`` for KMS."""
        length = SUITE_DATA_KEY_LENGTH[self.suite_id]
        if self.key_type is None:
            return bytes(length)
        if self.key_type == "test_counting":
            return bytes(range(1, length + 1))
        return None


@functools.cache
def _oracle_cases() -> tuple[OracleCase, ...]:
    cases: list[OracleCase] = []
    for i, raw in enumerate(_list(_read_json(_ORACLE_FILE), "decrypt oracle vectors")):
        where = f"decrypt-oracle[{i}]"
        tc = _obj(raw, where)
        kt_raw = tc.get("key-type")
        key_type: Literal["test_counting", "aws-kms"] | None
        if kt_raw is None or kt_raw == "null":
            key_type = None
        elif kt_raw == "test_counting":
            key_type = "test_counting"
        elif kt_raw == "aws-kms":
            key_type = "aws-kms"
        else:
            raise VectorFormatError(f"{where}: unknown key-type {kt_raw!r}")
        algorithm = _str(tc.get("algorithm-suite"), f"{where}.algorithm-suite")
        suite_id = _suite_hex(algorithm, f"{where}.algorithm-suite")
        ciphertext = _b64(tc.get("ciphertext"), f"{where}.ciphertext")
        if _v1_suite_id(ciphertext) != suite_id:
            raise VectorFormatError(f"{where}: algorithm-suite {algorithm} != message suite")
        cases.append(
            OracleCase(
                name=f"{key_type or NULL_PROVIDER_ID}-{algorithm}",
                key_type=key_type,
                algorithm=algorithm,
                suite_id=suite_id,
                ciphertext=ciphertext,
                plaintext=_b64(tc.get("plaintext"), f"{where}.plaintext"),
            )
        )
    return tuple(cases)


def load_decrypt_oracle() -> list[OracleCase]:
    """All 27 decrypt-oracle messages (18 non-KMS)."""
    return list(_oracle_cases())
