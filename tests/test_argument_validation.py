"""Public constructors and calls check their arguments when called, and refuse with UsageError.

A wrong argument found late (at decrypt, inside a keyring, inside a cache) surfaces
as an AttributeError or TypeError far from its cause, and outside busta's error
tree. Here each constructor of the keyrings, materials managers, caches and the
discovery filter, and each decrypt entry point given an expected encryption
context, is handed a wrong argument: it must raise UsageError at once. Nothing
here makes a network call (the KMS clients point at 127.0.0.1 and are never used).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest

import busta
from busta import (
    AlgorithmSuite,
    CachingCryptoMaterialsManager,
    CommitmentPolicy,
    DecryptionRequest,
    DefaultCryptoMaterialsManager,
    EncryptionRequest,
)
from busta.errors import UsageError
from busta.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    AwsKmsMrkDiscoveryKeyring,
    AwsKmsMrkKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
)
from busta.materials.required import RequiredEncryptionContextCmm

AES = RawAesKeyring("validation", "aes", bytes(32))
CONTEXT = {"purpose": "validation"}
ARN = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SUITE = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT


def untyped(value: object) -> Any:
    """``value`` as Any: these tests pass wrong types on purpose."""
    return value


def offline_client(region: str = "us-west-2") -> Any:
    session = botocore.session.Session()
    session.set_credentials("offline", "offline")
    return session.create_client("kms", region_name=region, endpoint_url="http://127.0.0.1:9")


# --------------------------------------------------------------------------- keyrings and the filter

BAD_KMS_KEYRINGS: dict[str, Callable[[], object]] = {
    "discovery filter given as a tuple": lambda: AwsKmsDiscoveryKeyring(
        discovery_filter=("aws", ["1111"]),  # type: ignore[arg-type]
    ),
    "mrk discovery filter given as a dict": lambda: AwsKmsMrkDiscoveryKeyring(
        "us-west-2",
        discovery_filter={"partition": "aws"},  # type: ignore[arg-type]
    ),
    "discovery client that is not a client": lambda: AwsKmsDiscoveryKeyring(client="us-west-2"),
    "discovery supplier that is not callable": lambda: AwsKmsDiscoveryKeyring(
        client_supplier="us-west-2",  # type: ignore[arg-type]
    ),
    "discovery grant tokens as one string": lambda: AwsKmsDiscoveryKeyring(grant_tokens="token"),
    "discovery grant tokens not iterable": lambda: AwsKmsDiscoveryKeyring(grant_tokens=5),  # type: ignore[arg-type]
    "strict key ARN with a bad region": lambda: AwsKmsKeyring(ARN.replace("us-west-2", "us_west_2")),
    "strict key ARN with a bad account": lambda: AwsKmsKeyring(ARN.replace("111122223333", "1111")),
    "strict key ARN of another partition's region": lambda: AwsKmsKeyring(ARN.replace("us-west-2", "cn-north-1")),
    "strict key ARN with a bad region and a client": lambda: AwsKmsKeyring(
        ARN.replace("us-west-2", "us-west-2.evil"), client=offline_client()
    ),
    "mrk key id not an ARN without a client": lambda: AwsKmsMrkKeyring("mrk-0123"),
    "strict key id not a str": lambda: AwsKmsKeyring(1234),  # type: ignore[arg-type]
    "strict client that is not a client": lambda: AwsKmsKeyring(ARN, client=object()),
    "strict supplier that is not callable": lambda: AwsKmsKeyring(ARN, client_supplier=3),  # type: ignore[arg-type]
    "strict grant tokens as one string": lambda: AwsKmsKeyring(ARN, grant_tokens="token"),
    "strict grant token empty": lambda: AwsKmsKeyring(ARN, grant_tokens=[""]),
    "mrk discovery region with capitals": lambda: AwsKmsMrkDiscoveryKeyring("US-WEST-2"),
    "mrk discovery region not a str": lambda: AwsKmsMrkDiscoveryKeyring(2),  # type: ignore[arg-type]
    "mrk discovery region that botocore refuses": lambda: AwsKmsMrkDiscoveryKeyring("us-west-2/../x"),
    "mrk discovery client of another region": lambda: AwsKmsMrkDiscoveryKeyring(
        "us-east-1", client=offline_client("us-west-2")
    ),
}


@pytest.mark.parametrize("make", BAD_KMS_KEYRINGS.values(), ids=BAD_KMS_KEYRINGS.keys())
def test_kms_keyrings_refuse_bad_arguments_when_made(make: Callable[[], object]) -> None:
    with pytest.raises(UsageError):
        make()


@pytest.mark.parametrize(
    ("partition", "accounts"),
    [
        ("aws", ["1111"]),  # not an account id
        ("aws", ("11112222333a",)),
        ("aws", (111122223333,)),
        ("AWS", ("111122223333",)),
        ("aws:kms", ("111122223333",)),
        (None, ("111122223333",)),
        ("aws", None),
        ("aws", "111122223333"),
        ("aws", ()),
    ],
)
def test_a_discovery_filter_refuses_bad_partitions_and_account_ids_when_made(partition: Any, accounts: Any) -> None:
    with pytest.raises(UsageError):
        DiscoveryFilter(partition, accounts)


def test_good_kms_arguments_are_accepted() -> None:
    found = DiscoveryFilter("aws-us-gov", ["111122223333"])  # type: ignore[arg-type]
    assert found.account_ids == ("111122223333",)
    AwsKmsDiscoveryKeyring(discovery_filter=found, client=offline_client(), grant_tokens=["t"])
    AwsKmsMrkDiscoveryKeyring("eusc-de-east-1", client_supplier=offline_client)
    AwsKmsKeyring("alias/my-key", client=offline_client())
    AwsKmsMrkKeyring(ARN.replace("key/", "alias/"))


@pytest.mark.parametrize(
    "make",
    [
        lambda: MultiKeyring(generator=AES, children=untyped(5)),
        lambda: MultiKeyring(generator=AES, children=untyped("keyrings")),
        lambda: MultiKeyring(generator=untyped("AES")),
        lambda: MultiKeyring(children=[AES, untyped(None)]),
        lambda: DefaultCryptoMaterialsManager(untyped(5)),
        lambda: DefaultCryptoMaterialsManager(untyped(DefaultCryptoMaterialsManager(AES))),
        lambda: RequiredEncryptionContextCmm(AES, required_keys=untyped(5)),
        lambda: RequiredEncryptionContextCmm(AES, required_keys=untyped([["purpose"]])),
        lambda: RequiredEncryptionContextCmm(AES, required_keys=untyped([1])),
        lambda: RequiredEncryptionContextCmm(AES, required_keys="purpose"),
        lambda: CachingCryptoMaterialsManager(AES, max_age=float("nan")),
        lambda: CachingCryptoMaterialsManager(AES, max_age=60, cache=untyped({})),
    ],
    ids=lambda make: "",
)
def test_keyrings_and_materials_managers_refuse_bad_arguments_when_made(make: Callable[[], object]) -> None:
    with pytest.raises(UsageError):
        make()


# --------------------------------------------------------------------------- the expected encryption context

BAD_EXPECTED = {
    "non-str key": {1: "v"},
    "non-str value": {"purpose": 1},
    "bytes value": {"purpose": b"validation"},
    "None value": {"purpose": None},
    "bytes key": {b"purpose": "validation"},
    "a list": ["purpose"],
    "a str": "purpose=validation",
}


def _managers() -> dict[str, Callable[[], Any]]:
    return {
        "keyring": lambda: {"keyring": AES},
        "default CMM": lambda: {"materials_manager": DefaultCryptoMaterialsManager(AES)},
        "caching CMM": lambda: {"materials_manager": CachingCryptoMaterialsManager(AES, max_age=60)},
        "required CMM": lambda: {
            "materials_manager": RequiredEncryptionContextCmm(AES, required_keys=["purpose"]),
        },
    }


def _entry_points(message: bytes) -> dict[str, Callable[..., object]]:
    return {
        "decrypt": lambda **kw: busta.decrypt(message, **kw).plaintext,
        "decrypting_reader": lambda **kw: busta.decrypting_reader(io.BytesIO(message), **kw).read(),
        "decrypting_writer": lambda **kw: busta.decrypting_writer(io.BytesIO(), **kw).write(message),
        "decrypt_stream": lambda **kw: busta.decrypt_stream(io.BytesIO(message), io.BytesIO(), **kw),
        "open_seekable": lambda **kw: busta.open_seekable(io.BytesIO(message), **kw).read(),
        "start_decryption": busta.start_decryption,
    }


ENTRY_POINTS = list(_entry_points(b""))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("manager", list(_managers()))
@pytest.mark.parametrize("expected", BAD_EXPECTED.values(), ids=BAD_EXPECTED.keys())
def test_a_bad_expected_encryption_context_is_a_usage_error_at_every_entry_point(
    entry: str, manager: str, expected: Any
) -> None:
    message = busta.encrypt(b"plaintext", keyring=AES, encryption_context=CONTEXT, algorithm=SUITE)
    call = _entry_points(message)[entry]
    with pytest.raises(UsageError):
        call(encryption_context=expected, **_managers()[manager]())
    assert call(encryption_context=CONTEXT, **_managers()[manager]()) is not None  # the good one works


def _decryption_request(expected: Any, message: bytes) -> DecryptionRequest:
    parsed = busta.format.parse_header(message)
    assert parsed is not None
    header = parsed.header
    return DecryptionRequest(header.suite, header.encrypted_data_keys, header.encryption_context, POLICY, expected)


@pytest.mark.parametrize("manager", ["default CMM", "caching CMM", "required CMM"])
@pytest.mark.parametrize("expected", BAD_EXPECTED.values(), ids=BAD_EXPECTED.keys())
def test_materials_managers_called_directly_refuse_a_bad_expected_context(manager: str, expected: Any) -> None:
    message = busta.encrypt(b"plaintext", keyring=AES, encryption_context=CONTEXT, algorithm=SUITE)
    cmm = _managers()[manager]()["materials_manager"]
    with pytest.raises(UsageError):
        cmm.decrypt_materials(_decryption_request(expected, message))


@pytest.mark.parametrize("manager", ["default CMM", "caching CMM", "required CMM"])
@pytest.mark.parametrize(
    "request_",
    [
        "not a request",
        EncryptionRequest({"purpose": 1}, POLICY, SUITE, 10),  # type: ignore[dict-item]
        EncryptionRequest({1: "v"}, POLICY, SUITE, 10),  # type: ignore[dict-item]
        EncryptionRequest(CONTEXT, "require", SUITE, 10),  # type: ignore[arg-type]
        EncryptionRequest(CONTEXT, POLICY, 0x0478, 10),  # type: ignore[arg-type]
        EncryptionRequest(CONTEXT, POLICY, SUITE, "10"),  # type: ignore[arg-type]
        EncryptionRequest(CONTEXT, POLICY, SUITE, -1),
    ],
    ids=lambda r: "",
)
def test_materials_managers_called_directly_refuse_a_bad_encryption_request(manager: str, request_: Any) -> None:
    cmm = _managers()[manager]()["materials_manager"]
    with pytest.raises(UsageError):
        cmm.get_encryption_materials(request_)


@pytest.mark.parametrize("manager", ["default CMM", "caching CMM", "required CMM"])
def test_materials_managers_called_directly_refuse_a_bad_decryption_request(manager: str) -> None:
    message = busta.encrypt(b"plaintext", keyring=AES, encryption_context=CONTEXT, algorithm=SUITE)
    good = _decryption_request(CONTEXT, message)
    cmm = _managers()[manager]()["materials_manager"]
    for bad in (
        "not a request",
        DecryptionRequest(0x0478, good.encrypted_data_keys, CONTEXT, POLICY, CONTEXT),  # type: ignore[arg-type]
        DecryptionRequest(good.suite, ("edk",), CONTEXT, POLICY, CONTEXT),  # type: ignore[arg-type]
        DecryptionRequest(good.suite, good.encrypted_data_keys, {"purpose": 5}, POLICY, CONTEXT),  # type: ignore[dict-item]
        DecryptionRequest(good.suite, good.encrypted_data_keys, CONTEXT, None, CONTEXT),  # type: ignore[arg-type]
    ):
        with pytest.raises(UsageError):
            cmm.decrypt_materials(bad)
    assert cmm.decrypt_materials(good).data_key is not None
