"""One header layer (busta/streaming/header.py) seals and opens every header; format owns every offset.

* ``seal_header`` then ``open_header`` round-trips, and opening refuses an altered
  header, a wrong data key and a required pair that is missing.
* A rewrapped header is the seal of the same keys: it opens under the old materials.
* The source holds one place for each of: key derivation, commitment check, header
  authentication, the data-key count check; and no struct layout of the message
  outside ``busta/format`` (the engine and the frame codec name their offsets).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import AuthenticationError, BustaError, LimitExceededError, UsageError
from busta.format import ContentType, parse_header
from busta.keyrings import RawAesKeyring
from busta.materials import DefaultCryptoMaterialsManager, EncryptionRequest
from busta.rewrap import rewrap
from busta.streaming.header import decryption_request, open_header, seal_header

KEYRING = RawAesKeyring("header", "aes", bytes(range(32)))
SUITES = [
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
]
POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
PACKAGE = Path(busta.__file__).parent


def _sealed(suite: AlgorithmSuite, context: dict[str, str] | None = None, required: tuple[str, ...] = ()) -> bytes:
    cmm: busta.CryptoMaterialsManager = DefaultCryptoMaterialsManager(KEYRING)
    if required:
        cmm = busta.RequiredEncryptionContextCmm(cmm, required_keys=list(required))
    materials = cmm.get_encryption_materials(EncryptionRequest(context or {}, POLICY, suite))
    return seal_header(materials, frame_length=4096).header_bytes


def _open(header_bytes: bytes, reproduced: dict[str, str] | None = None) -> dict[str, str]:
    parsed = parse_header(header_bytes)
    assert parsed is not None
    request = decryption_request(parsed.header, commitment_policy=POLICY, expected_context=reproduced or {})
    materials = DefaultCryptoMaterialsManager(KEYRING).decrypt_materials(request)
    return open_header(parsed, materials, expected_context=reproduced or {}).encryption_context


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.id:#06x}")
def test_a_sealed_header_opens_and_an_altered_one_does_not(suite: AlgorithmSuite) -> None:
    header = _sealed(suite, {"purpose": "test"})
    assert _open(header)["purpose"] == "test"
    at = len(header) - 16 - 32 - 4  # v2: ... frame length(4) | suite data(32) | tag(16)
    assert header[at : at + 4] == (4096).to_bytes(4, "big")
    altered = header[:at] + (4097).to_bytes(4, "big") + header[at + 4 :]
    with pytest.raises(AuthenticationError, match="header does not authenticate"):
        _open(altered)


def test_required_pairs_are_authenticated_but_not_stored() -> None:
    header = _sealed(SUITES[0], {"purpose": "test", "tenant": "a"}, required=("tenant",))
    assert b"tenant" not in header
    assert _open(header, {"tenant": "a"})["tenant"] == "a"
    with pytest.raises(BustaError):  # the keyring or the header tag refuses it
        _open(header, {"tenant": "b"})


def test_sealing_checks_the_data_key_count_once_for_every_caller() -> None:
    materials = DefaultCryptoMaterialsManager(KEYRING).get_encryption_materials(
        EncryptionRequest({}, POLICY, SUITES[0])
    )
    with pytest.raises(LimitExceededError, match="encrypted data key count"):
        seal_header(materials, frame_length=4096, max_encrypted_data_keys=0)
    with pytest.raises(UsageError, match="message id"):
        seal_header(materials, frame_length=4096, message_id=b"short")
    sealed = seal_header(materials, frame_length=0, content_type=ContentType.NON_FRAMED)
    assert sealed.header.content_type is ContentType.NON_FRAMED
    assert "redacted" in repr(sealed)


def test_a_rewrapped_header_is_sealed_by_the_same_layer() -> None:
    message = busta.encrypt(b"x" * 5000, keyring=KEYRING, algorithm=SUITES[0], frame_length=1024)
    other = RawAesKeyring("header", "other", bytes(range(2, 34)))
    rewrapped = rewrap(message, keyring=KEYRING, new_keyring=other)
    assert busta.decrypt(rewrapped, keyring=other).plaintext == b"x" * 5000


def _sources(*roots: str) -> dict[Path, str]:
    files: dict[Path, str] = {}
    for root in roots:
        for path in (PACKAGE / root).rglob("*.py") if (PACKAGE / root).is_dir() else [PACKAGE / root]:
            files[path] = path.read_text(encoding="utf-8")
    return files


@pytest.mark.parametrize(
    ("call", "home"),
    [
        ("derive_keys(", "streaming/header.py"),
        ("check_commitment(", "streaming/header.py"),
        ("serialize_header_auth(", "streaming/header.py"),
        ('"encrypted data key count"', "format/header.py"),
        ("FrameCodec(", "streaming/header.py"),
    ],
)
def test_each_header_step_is_written_once(call: str, home: str) -> None:
    outside = {
        path.relative_to(PACKAGE).as_posix()
        for path, text in _sources(".").items()
        if call in text and not re.search(rf"def {re.escape(call)}|class {re.escape(call.rstrip('('))}\b", text)
    }
    assert outside == {home}, f"{call} is used in {sorted(outside)}"


def test_no_message_layout_outside_format() -> None:
    layout = re.compile(r"struct\.Struct|unpack_from|\.unpack\(|int\.from_bytes|\[\s*:\s*4\s*\]|\+ 20\b|\+ 12\b")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path, text in _sources("streaming", "crypto/frames.py", "api.py", "rewrap.py").items()
        for number, line in enumerate(text.splitlines(), 1)
        if layout.search(line)
    ]
    assert offenders == []
