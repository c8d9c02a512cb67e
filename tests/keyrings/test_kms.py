"""The AWS KMS keyrings, against a real moto server process on 127.0.0.1 and the official SDK.

Every boto3 client here is made for the moto server (or for a closed port on
127.0.0.1); the default client cache is replaced by one that fails the test, so
no request can leave the machine. KMS calls are observed with botocore's event
hooks on the clients handed to the keyrings.
"""

from __future__ import annotations

import functools
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.awsrequest
import botocore.config
import botocore.retries.standard
import pytest
from botocore.stub import Stubber

import busta
from busta import AlgorithmSuite, CommitmentPolicy
from busta.errors import (
    EncryptionContextError,
    KeyringError,
    KmsError,
    LimitExceededError,
    NoDecryptingKeyError,
    UsageError,
)
from busta.format import parse_header
from busta.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    AwsKmsMrkDiscoveryKeyring,
    AwsKmsMrkKeyring,
    ClientCache,
    DiscoveryFilter,
    MultiKeyring,
    aws_kms,
)
from busta.keyrings._arn import mrk_match

from ..conftest import ALL_SUITES, policy_for
from ..support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, HOST, PROJECT_ROOT, SECRET_KEY, MotoServer, free_port

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

CONTEXT = {"purpose": "kms-tests", "tenant": "alpha"}
PLAINTEXT = b"attack at dawn " * 20
COMMITTING_SUITES = [AlgorithmSuite.from_id(0x0478), AlgorithmSuite.from_id(0x0578)]


# --------------------------------------------------------------------------- harness


@dataclass(frozen=True)
class KmsCall:
    """One API call a boto3 KMS client made: its operation, region and parameters."""

    operation: str  # "GenerateDataKey", "Encrypt", "Decrypt", ...
    region: str
    params: dict[str, Any]
    started: float
    ended: float  # when the call's (optional) artificial delay ended


class KmsCallLog:
    """Records every call ``client`` makes, through botocore's ``before-parameter-build`` hook.

    ``slow`` maps an operation name to seconds to sleep inside the call (to
    make a KMS call take long without touching the server).
    """

    def __init__(self, client: Any, *, slow: Mapping[str, float] | None = None) -> None:
        self.region = str(client.meta.region_name)
        self.calls: list[KmsCall] = []
        self._slow = dict(slow or {})
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.kms", self._on_call)

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        started = time.monotonic()
        delay = self._slow.get(str(model.name), 0.0)
        if delay:
            time.sleep(delay)
        call = KmsCall(str(model.name), self.region, dict(params), started, time.monotonic())
        with self._lock:
            self.calls.append(call)

    @property
    def operations(self) -> list[str]:
        return [call.operation for call in self.calls]

    def of(self, operation: str) -> list[KmsCall]:
        return [call for call in self.calls if call.operation == operation]


ClientFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyring made without ``client=`` / ``client_supplier=`` would reach real AWS: fail instead."""

    def refuse(region: str) -> Any:
        raise AssertionError(f"a keyring asked the default client cache for {region}: it would leave 127.0.0.1")

    monkeypatch.setattr(aws_kms, "_default_clients", refuse)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def session() -> Any:
    """One boto3 session with the moto credentials (clients from one session are made quickly)."""
    return boto3.session.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


def _config(max_attempts: int = 2, connect_timeout: float = 2, read_timeout: float = 5) -> botocore.config.Config:
    return botocore.config.Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        proxies={},  # never an environment proxy: 127.0.0.1 only
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )


@pytest.fixture
def kms_client(moto_server: MotoServer, kms_keys: KmsKeys, session: Any) -> ClientFactory:
    """Makes a fresh KMS client for a region, talking to the moto server (or to ``endpoint``)."""

    def make(region: str, *, max_attempts: int = 2, endpoint: str | None = None, timeout: float = 2) -> Any:
        return session.client(
            "kms",
            region_name=region,
            endpoint_url=endpoint or moto_server.endpoint,
            config=_config(max_attempts, connect_timeout=timeout, read_timeout=timeout * 2),
        )

    return make


def dead_endpoint() -> str:
    """An endpoint on 127.0.0.1 where nothing listens: connections are refused at once."""
    return f"http://{HOST}:{free_port()}"


def edks_of(message: bytes) -> tuple[busta.EncryptedDataKey, ...]:
    parsed = parse_header(message)
    assert parsed is not None
    return parsed.header.encrypted_data_keys


def region_of(arn: str) -> str:
    return arn.split(":")[3]


class Supplier:
    """A client supplier handing out given clients per region, and remembering what was asked."""

    def __init__(self, clients: Mapping[str, Any]) -> None:
        self.clients = dict(clients)
        self.asked: list[str] = []

    def __call__(self, region: str) -> Any:
        self.asked.append(region)
        return self.clients[region]


# --------------------------------------------------------------------------- the official SDK


@functools.cache
def _official_mpl() -> Any:
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig

    return AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())


def official_kms_keyring(
    kind: str, client: Any, key_id: str = "", *, region: str = "", account_ids: tuple[str, ...] = ()
) -> Any:
    """An official MPL AWS KMS keyring ("strict", "mrk", "discovery", "mrk-discovery") using ``client``."""
    from aws_cryptographic_material_providers.mpl import models

    mpl = _official_mpl()
    found = models.DiscoveryFilter(account_ids=list(account_ids), partition="aws") if account_ids else None
    if kind == "strict":
        return mpl.create_aws_kms_keyring(models.CreateAwsKmsKeyringInput(kms_key_id=key_id, kms_client=client))
    if kind == "mrk":
        return mpl.create_aws_kms_mrk_keyring(models.CreateAwsKmsMrkKeyringInput(kms_key_id=key_id, kms_client=client))
    if kind == "discovery":
        return mpl.create_aws_kms_discovery_keyring(
            models.CreateAwsKmsDiscoveryKeyringInput(kms_client=client, discovery_filter=found)
        )
    if kind == "mrk-discovery":
        return mpl.create_aws_kms_mrk_discovery_keyring(
            models.CreateAwsKmsMrkDiscoveryKeyringInput(kms_client=client, region=region, discovery_filter=found)
        )
    raise ValueError(kind)


@functools.cache
def _official_client() -> Any:
    import aws_encryption_sdk

    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=aws_encryption_sdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


def official_encrypt(plaintext: bytes, keyring: Any, suite: AlgorithmSuite, context: Mapping[str, str]) -> bytes:
    from aws_encryption_sdk.identifiers import Algorithm

    message, _ = _official_client().encrypt(
        source=plaintext,
        keyring=keyring,
        algorithm=Algorithm.get_by_id(suite.id),
        encryption_context=dict(context),
    )
    return bytes(message)


def official_decrypt(message: bytes, keyring: Any, context: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    plaintext, header = _official_client().decrypt(source=message, keyring=keyring, encryption_context=dict(context))
    return bytes(plaintext), dict(header.encryption_context)


# =========================================================================== 1. AwsKmsKeyring


def test_kms_keyrings_declare_that_they_perform_io(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    for keyring in (
        AwsKmsKeyring(kms_keys.single_arn, client=west),
        AwsKmsMrkKeyring(kms_keys.mrk_west_arn, client=west),
        AwsKmsDiscoveryKeyring(client=west),
        AwsKmsMrkDiscoveryKeyring(WEST, client=west),
    ):
        assert keyring.performs_io is True


@pytest.mark.parametrize("suite", ALL_SUITES, ids=lambda s: f"0x{s.id:04x}")
def test_as_generator_it_calls_generate_data_key_once_for_the_suites_key_size(
    suite: AlgorithmSuite, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    log = KmsCallLog(west)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west)

    message = busta.Client(commitment_policy=policy_for(suite)).encrypt(
        PLAINTEXT, keyring=keyring, encryption_context=CONTEXT, algorithm=suite
    )

    assert log.operations == ["GenerateDataKey"]
    assert log.calls[0].params["KeyId"] == kms_keys.single_arn
    assert log.calls[0].params["NumberOfBytes"] == suite.key_bytes
    assert busta.Client(commitment_policy=policy_for(suite)).decrypt(message, keyring=keyring).plaintext == PLAINTEXT


def test_the_encrypted_data_key_is_aws_kms_with_the_key_arn_and_the_kms_ciphertext_blob(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(
        PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west), encryption_context=CONTEXT
    )
    parsed = parse_header(message)
    assert parsed is not None
    (edk,) = parsed.header.encrypted_data_keys

    assert edk.provider_id == "aws-kms"
    assert edk.provider_info == kms_keys.single_arn.encode("utf-8")
    # the ciphertext is KMS's own blob: KMS decrypts it, given the message's encryption context
    unwrapped = west.decrypt(
        CiphertextBlob=edk.ciphertext, KeyId=kms_keys.single_arn, EncryptionContext=parsed.header.encryption_context
    )
    assert len(unwrapped["Plaintext"]) == parsed.header.suite.key_bytes


def test_as_child_it_calls_encrypt_on_the_generators_data_key(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    log = KmsCallLog(west)
    keyring = MultiKeyring(
        generator=AwsKmsKeyring(kms_keys.other_arn, client=west),
        children=[AwsKmsKeyring(kms_keys.single_arn, client=west)],
    )

    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)

    assert log.operations == ["GenerateDataKey", "Encrypt"]
    assert log.calls[0].params["KeyId"] == kms_keys.other_arn
    assert log.calls[1].params["KeyId"] == kms_keys.single_arn
    generated, wrapped = edks_of(message)
    assert (generated.provider_info, wrapped.provider_info) == (
        kms_keys.other_arn.encode(),
        kms_keys.single_arn.encode(),
    )
    # the child wrapped exactly the data key the generator made
    stored_context = busta.decrypt(message, keyring=keyring).header.encryption_context
    data_key = west.decrypt(
        CiphertextBlob=generated.ciphertext, KeyId=kms_keys.other_arn, EncryptionContext=stored_context
    )["Plaintext"]
    assert log.of("Encrypt")[0].params["Plaintext"] == data_key


def test_decrypt_calls_kms_only_for_data_keys_of_its_own_key(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(
        PLAINTEXT,
        keyring=MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.other_arn, client=west),
            children=[AwsKmsKeyring(kms_keys.single_arn, client=west)],
        ),
        encryption_context=CONTEXT,
    )
    reader = kms_client(WEST)
    log = KmsCallLog(reader)

    assert busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=reader)).plaintext == PLAINTEXT

    assert log.operations == ["Decrypt"]
    assert log.calls[0].params["KeyId"] == kms_keys.single_arn
    assert log.calls[0].params["CiphertextBlob"] == edks_of(message)[1].ciphertext


def test_a_message_without_a_data_key_of_its_key_is_refused_without_calling_kms(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.other_arn, client=west))
    log = KmsCallLog(west)

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west))

    assert log.calls == []
    assert any("no encrypted data key for this keyring" in reason for reason in caught.value.reasons)


def test_every_kms_call_carries_the_messages_full_encryption_context(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    log = KmsCallLog(west)
    keyring = MultiKeyring(
        generator=AwsKmsKeyring(kms_keys.single_arn, client=west),
        children=[AwsKmsKeyring(kms_keys.other_arn, client=west)],
    )
    signed = AlgorithmSuite.from_id(0x0578)

    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT, algorithm=signed)
    result = busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.other_arn, client=west))

    stored = result.header.encryption_context
    assert stored.items() >= CONTEXT.items() and "aws-crypto-public-key" in stored
    assert sorted(log.operations) == ["Decrypt", "Encrypt", "GenerateDataKey"]
    for call in log.calls:
        assert call.params["EncryptionContext"] == stored, call.operation


def test_grant_tokens_are_sent_with_every_call(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    log = KmsCallLog(west)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west, grant_tokens=["token-1", "token-2"])

    busta.decrypt(busta.encrypt(PLAINTEXT, keyring=keyring), keyring=keyring)

    assert log.operations == ["GenerateDataKey", "Decrypt"]
    assert all(call.params["GrantTokens"] == ["token-1", "token-2"] for call in log.calls)


def test_a_contradicting_encryption_context_is_refused_before_any_kms_call(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west)
    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    log = KmsCallLog(west)

    with pytest.raises(EncryptionContextError):
        busta.decrypt(message, keyring=keyring, encryption_context={**CONTEXT, "tenant": "beta"})

    assert log.calls == []


def test_kms_itself_enforces_the_encryption_context(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    """An expected pair the message does not store is sent to KMS, which then refuses the data key."""
    west = kms_client(WEST)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west)
    unsigned = AlgorithmSuite.from_id(0x0478)  # no signature key in the stored context
    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT, algorithm=unsigned)
    log = KmsCallLog(west)

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=keyring, encryption_context={**CONTEXT, "not-stored": "x"})

    assert log.operations == ["Decrypt"]
    assert log.calls[0].params["EncryptionContext"] == {**CONTEXT, "not-stored": "x"}
    assert any("InvalidCiphertextException" in reason for reason in caught.value.reasons)


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ("another key", "not the requested"),
        ("a short data key", "data key of 16 bytes"),
    ],
)
def test_a_kms_decrypt_answer_for_another_key_or_of_the_wrong_size_is_refused(
    answer: str, complaint: str, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=kms_client(WEST)))
    lying = kms_client(WEST)
    response = {
        "KeyId": kms_keys.other_arn if answer == "another key" else kms_keys.single_arn,
        "Plaintext": bytes(32) if answer == "another key" else bytes(16),
    }
    with Stubber(lying) as stub:
        stub.add_response("decrypt", response)
        with pytest.raises(NoDecryptingKeyError) as caught:
            busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=lying))
        stub.assert_no_pending_responses()

    assert any(complaint in reason for reason in caught.value.reasons), caught.value.reasons


def test_a_key_alias_encrypts_and_the_data_key_names_the_key_arn(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    alias = f"alias/busta-{time.monotonic_ns()}"
    west.create_alias(AliasName=alias, TargetKeyId=kms_keys.single_arn.split("/")[-1])

    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(alias, client=west))

    assert [edk.provider_info for edk in edks_of(message)] == [kms_keys.single_arn.encode()]
    assert busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west)).plaintext == PLAINTEXT


def test_a_key_id_that_is_not_an_arn_needs_a_client() -> None:
    with pytest.raises(UsageError):
        AwsKmsKeyring("alias/my-key")


# =========================================================================== 2. discovery


def test_discovery_keyring_decrypts_any_aws_kms_data_key_its_filter_admits(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    for key in (kms_keys.single_arn, kms_keys.other_arn):
        message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(key, client=west), encryption_context=CONTEXT)
        log = KmsCallLog(reader := kms_client(WEST))
        keyring = AwsKmsDiscoveryKeyring(
            client=reader, discovery_filter=DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,))
        )

        assert busta.decrypt(message, keyring=keyring).plaintext == PLAINTEXT
        assert [(c.operation, c.params["KeyId"]) for c in log.calls] == [("Decrypt", key)]


def test_discovery_keyring_without_a_filter_tries_the_key_each_data_key_names(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    supplier = Supplier({WEST: kms_client(WEST), EAST: kms_client(EAST)})
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.east_single_arn, client_supplier=supplier))
    supplier.asked.clear()

    assert busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring(client_supplier=supplier)).plaintext == PLAINTEXT
    assert supplier.asked == [EAST]


@pytest.mark.parametrize(
    ("partition", "account"), [("aws", "111122223333"), ("aws-cn", None)], ids=["other-account", "other-partition"]
)
def test_discovery_filter_refuses_keys_outside_it_without_calling_kms(
    partition: str, account: str | None, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west))
    log = KmsCallLog(west)
    keyring = AwsKmsDiscoveryKeyring(
        client=west, discovery_filter=DiscoveryFilter(partition, (account or kms_keys.account_id,))
    )

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=keyring)

    assert log.calls == []
    (reason,) = caught.value.reasons
    assert "outside the discovery filter" in reason and kms_keys.single_arn in reason


def test_discovery_keyring_with_a_one_region_client_skips_data_keys_of_other_regions(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.east_single_arn, client=kms_client(EAST)))
    west = kms_client(WEST)
    log = KmsCallLog(west)

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring(client=west))

    assert log.calls == []
    assert any(f"not in this keyring's region {WEST}" in reason for reason in caught.value.reasons)


def test_discovery_keyrings_cannot_encrypt(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    log = KmsCallLog(west)
    for keyring in (AwsKmsDiscoveryKeyring(client=west), AwsKmsMrkDiscoveryKeyring(WEST, client=west)):
        with pytest.raises(KeyringError, match="only decrypts"):
            busta.encrypt(PLAINTEXT, keyring=keyring)
    assert log.calls == []


@pytest.mark.parametrize(("partition", "accounts"), [("", ("111122223333",)), ("aws", ()), ("aws", ("",))])
def test_a_discovery_filter_needs_a_partition_and_account_ids(partition: str, accounts: tuple[str, ...]) -> None:
    with pytest.raises(UsageError):
        DiscoveryFilter(partition, accounts)


# =========================================================================== 3. multi-Region keys


@pytest.fixture
def west_mrk_message(kms_keys: KmsKeys, kms_client: ClientFactory) -> bytes:
    """A message encrypted in us-west-2 with the multi-Region key's primary."""
    return busta.encrypt(
        PLAINTEXT, keyring=AwsKmsMrkKeyring(kms_keys.mrk_west_arn, client=kms_client(WEST)), encryption_context=CONTEXT
    )


def test_mrk_keyring_decrypts_a_west_message_in_us_east_1_with_the_replica(
    west_mrk_message: bytes, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west, east = kms_client(WEST), kms_client(EAST)
    west_log, east_log = KmsCallLog(west), KmsCallLog(east)
    supplier = Supplier({WEST: west, EAST: east})

    keyring = AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client_supplier=supplier)
    assert busta.decrypt(west_mrk_message, keyring=keyring).plaintext == PLAINTEXT

    assert edks_of(west_mrk_message)[0].provider_info == kms_keys.mrk_west_arn.encode()
    assert supplier.asked == [EAST]
    assert west_log.calls == []
    assert [(c.operation, c.params["KeyId"]) for c in east_log.calls] == [("Decrypt", kms_keys.mrk_east_arn)]


def test_mrk_discovery_keyring_calls_its_regions_replica(
    west_mrk_message: bytes, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    east = kms_client(EAST)
    log = KmsCallLog(east)
    keyring = AwsKmsMrkDiscoveryKeyring(
        EAST, client=east, discovery_filter=DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,))
    )

    assert busta.decrypt(west_mrk_message, keyring=keyring).plaintext == PLAINTEXT
    assert [(c.operation, c.params["KeyId"]) for c in log.calls] == [("Decrypt", kms_keys.mrk_east_arn)]


def test_official_mrk_keyring_decrypts_bustas_west_message_in_us_east_1(
    west_mrk_message: bytes, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    east = kms_client(EAST)
    log = KmsCallLog(east)
    keyring = official_kms_keyring("mrk", east, kms_keys.mrk_east_arn)

    plaintext, stored = official_decrypt(west_mrk_message, keyring, CONTEXT)

    assert plaintext == PLAINTEXT
    assert stored.items() >= CONTEXT.items()
    assert [(c.operation, c.params["KeyId"]) for c in log.calls] == [("Decrypt", kms_keys.mrk_east_arn)]


def test_bustas_mrk_keyring_decrypts_the_official_sdks_west_message_in_us_east_1(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    official = official_kms_keyring("mrk", kms_client(WEST), kms_keys.mrk_west_arn)
    message = official_encrypt(PLAINTEXT, official, AlgorithmSuite.from_id(0x0578), CONTEXT)

    keyring = AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client=kms_client(EAST))
    assert busta.decrypt(message, keyring=keyring, encryption_context=CONTEXT).plaintext == PLAINTEXT


def test_strict_keyring_of_the_replica_refuses_the_primarys_data_key(
    west_mrk_message: bytes, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    east = kms_client(EAST)
    log = KmsCallLog(east)

    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(west_mrk_message, keyring=AwsKmsKeyring(kms_keys.mrk_east_arn, client=east))
    assert log.calls == []


def test_a_single_region_key_never_matches_across_regions(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=kms_client(WEST)))
    east = kms_client(EAST)
    log = KmsCallLog(east)
    # the same key id in another region is another (here: nonexistent) key, unlike a multi-Region key
    same_id_in_east = kms_keys.single_arn.replace(f":{WEST}:", f":{EAST}:")

    for keyring in (
        AwsKmsMrkKeyring(same_id_in_east, client=east),
        AwsKmsMrkKeyring(kms_keys.east_single_arn, client=east),
    ):
        with pytest.raises(NoDecryptingKeyError):
            busta.decrypt(message, keyring=keyring)
    assert log.calls == []


@pytest.mark.parametrize(
    ("configured", "stored", "matches"),
    [
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-1", "arn:aws:kms:us-west-2:111122223333:key/mrk-1", True),
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-1", "arn:aws:kms:us-east-1:111122223333:key/mrk-1", True),
        ("arn:aws:kms:us-east-1:111122223333:key/abc-1", "arn:aws:kms:us-west-2:111122223333:key/abc-1", False),
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-1", "arn:aws:kms:us-west-2:444455556666:key/mrk-1", False),
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-1", "arn:aws-cn:kms:us-west-2:111122223333:key/mrk-1", False),
        ("arn:aws:kms:us-east-1:111122223333:key/mrk-1", "arn:aws:kms:us-west-2:111122223333:key/mrk-2", False),
        ("arn:aws:kms:us-east-1:111122223333:alias/mrk-1", "arn:aws:kms:us-west-2:111122223333:alias/mrk-1", False),
    ],
)
def test_mrk_match_rule(configured: str, stored: str, matches: bool) -> None:
    assert mrk_match(configured, stored) is matches


def test_mrk_discovery_keyring_skips_single_region_keys_of_other_regions(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west, east = kms_client(WEST), kms_client(EAST)
    west_only = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west))
    both = busta.encrypt(
        PLAINTEXT,
        keyring=MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.single_arn, client=west),
            children=[AwsKmsKeyring(kms_keys.east_single_arn, client=east)],
        ),
    )
    log = KmsCallLog(east)
    keyring = AwsKmsMrkDiscoveryKeyring(EAST, client=east)

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(west_only, keyring=keyring)
    assert log.calls == []
    assert caught.value.reasons and f"single-Region key {kms_keys.single_arn} is not in {EAST}" in "".join(
        caught.value.reasons
    )

    assert busta.decrypt(both, keyring=keyring).plaintext == PLAINTEXT
    assert [(c.operation, c.params["KeyId"]) for c in log.calls] == [("Decrypt", kms_keys.east_single_arn)]


def test_mrk_discovery_keyring_refuses_a_client_of_another_region(kms_client: ClientFactory) -> None:
    with pytest.raises(UsageError):
        AwsKmsMrkDiscoveryKeyring(EAST, client=kms_client(WEST))


# =========================================================================== 4. interoperability


@pytest.mark.parametrize("suite", COMMITTING_SUITES, ids=lambda s: f"0x{s.id:04x}")
def test_busta_kms_messages_decrypt_with_the_official_kms_keyrings(
    suite: AlgorithmSuite, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(
        PLAINTEXT,
        keyring=MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.single_arn, client=west),
            children=[AwsKmsKeyring(kms_keys.other_arn, client=west)],
        ),
        encryption_context=CONTEXT,
        algorithm=suite,
    )

    for official in (
        official_kms_keyring("strict", west, kms_keys.single_arn),
        official_kms_keyring("strict", west, kms_keys.other_arn),
        official_kms_keyring("discovery", west, account_ids=(kms_keys.account_id,)),
    ):
        plaintext, stored = official_decrypt(message, official, CONTEXT)
        assert plaintext == PLAINTEXT
        assert stored.items() >= CONTEXT.items()


@pytest.mark.parametrize("suite", COMMITTING_SUITES, ids=lambda s: f"0x{s.id:04x}")
def test_official_kms_messages_decrypt_with_bustas_kms_keyrings(
    suite: AlgorithmSuite, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = official_encrypt(PLAINTEXT, official_kms_keyring("strict", west, kms_keys.single_arn), suite, CONTEXT)
    (edk,) = edks_of(message)
    assert (edk.provider_id, edk.provider_info) == ("aws-kms", kms_keys.single_arn.encode())
    log = KmsCallLog(west)

    for keyring in (
        AwsKmsKeyring(kms_keys.single_arn, client=west),
        AwsKmsDiscoveryKeyring(client=west, discovery_filter=DiscoveryFilter("aws", (kms_keys.account_id,))),
    ):
        result = busta.decrypt(message, keyring=keyring, encryption_context=CONTEXT)
        assert result.plaintext == PLAINTEXT
        assert result.header.suite is suite
        assert result.encryption_context.items() >= CONTEXT.items()
    assert [c.params["KeyId"] for c in log.of("Decrypt")] == [kms_keys.single_arn] * 2


# =========================================================================== 5. the multi-Region recipe


def test_children_wrap_the_data_key_concurrently(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    """Two children whose Encrypt takes 0.3 s each finish together in about 0.3 s, not 0.6 s."""
    delay = 0.3
    west = kms_client(WEST)
    slow_east, slow_west = kms_client(EAST), kms_client(WEST)
    east_log = KmsCallLog(slow_east, slow={"Encrypt": delay})
    west_log = KmsCallLog(slow_west, slow={"Encrypt": delay})
    for client in (west, slow_east, slow_west):  # open the connections first
        client.list_keys(Limit=1)
    keyring = MultiKeyring(
        generator=AwsKmsKeyring(kms_keys.single_arn, client=west),
        children=[
            AwsKmsKeyring(kms_keys.east_single_arn, client=slow_east),
            AwsKmsKeyring(kms_keys.other_arn, client=slow_west),
        ],
    )

    began = time.monotonic()
    message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    elapsed = time.monotonic() - began

    assert elapsed < 0.55, f"{elapsed:.2f} s: the children ran one after the other"
    (east_call,) = east_log.of("Encrypt")
    (west_call,) = west_log.of("Encrypt")
    assert max(east_call.started, west_call.started) < min(east_call.ended, west_call.ended)  # overlapping
    # the wrapped copies are stored in the children's order, and each one decrypts
    arns = [kms_keys.single_arn, kms_keys.east_single_arn, kms_keys.other_arn]
    assert [edk.provider_info.decode() for edk in edks_of(message)] == arns
    supplier = Supplier({WEST: west, EAST: kms_client(EAST)})
    for arn in arns:
        assert busta.decrypt(message, keyring=AwsKmsKeyring(arn, client_supplier=supplier)).plaintext == PLAINTEXT


def test_decrypt_succeeds_through_the_reachable_region_when_the_other_is_down(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    up = Supplier({WEST: kms_client(WEST), EAST: kms_client(EAST)})
    message = busta.encrypt(
        PLAINTEXT,
        keyring=MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.single_arn, client_supplier=up),
            children=[AwsKmsKeyring(kms_keys.east_single_arn, client_supplier=up)],
        ),
        encryption_context=CONTEXT,
    )
    unreachable_west = kms_client(WEST, endpoint=dead_endpoint(), max_attempts=1, timeout=0.5)
    east = kms_client(EAST)
    east_log = KmsCallLog(east)
    west_down = Supplier({WEST: unreachable_west, EAST: east})
    both = MultiKeyring(
        generator=AwsKmsKeyring(kms_keys.single_arn, client_supplier=west_down),
        children=[AwsKmsKeyring(kms_keys.east_single_arn, client_supplier=west_down)],
    )

    began = time.monotonic()
    assert busta.decrypt(message, keyring=both, encryption_context=CONTEXT).plaintext == PLAINTEXT
    assert time.monotonic() - began < 2

    assert [(c.operation, c.params["KeyId"]) for c in east_log.calls] == [("Decrypt", kms_keys.east_single_arn)]
    # and the west keyring alone says why it failed
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client_supplier=west_down))
    (reason,) = caught.value.reasons
    assert "EndpointConnectionError" in reason and kms_keys.single_arn in reason and WEST in reason


# =========================================================================== 6. clients and threads


class CountingSession:
    """A boto3 session stand-in that counts (and slows down) the clients it makes."""

    def __init__(self, real: Any, *, delay: float = 0.0) -> None:
        self._real = real
        self._delay = delay
        self._lock = threading.Lock()
        self.made: list[str] = []

    def client(self, service: str, *, region_name: str, **kwargs: Any) -> Any:
        time.sleep(self._delay)  # widens the window in which a racing cache would make two
        with self._lock:
            self.made.append(region_name)
            return self._real.client(service, region_name=region_name, **kwargs)


def test_client_cache_makes_one_client_per_region_on_first_use(
    moto_server: MotoServer, kms_keys: KmsKeys, session: Any
) -> None:
    counting = CountingSession(session)
    cache = ClientCache(session=counting, endpoint_url=moto_server.endpoint, config=_config())
    assert counting.made == []

    west = cache(WEST)
    assert cache(WEST) is west and cache(WEST) is west
    east = cache(EAST)

    assert counting.made == [WEST, EAST]
    assert (west.meta.region_name, east.meta.region_name) == (WEST, EAST)
    assert west.meta.endpoint_url == moto_server.endpoint
    keyring = AwsKmsKeyring(kms_keys.single_arn, client_supplier=cache)
    assert busta.decrypt(busta.encrypt(PLAINTEXT, keyring=keyring), keyring=keyring).plaintext == PLAINTEXT
    assert counting.made == [WEST, EAST]


def test_client_cache_gives_every_thread_the_same_client(moto_server: MotoServer, session: Any) -> None:
    counting = CountingSession(session, delay=0.05)
    cache = ClientCache(session=counting, endpoint_url=moto_server.endpoint, config=_config())
    threads = 16
    barrier = threading.Barrier(threads)
    got: list[Any] = []

    def fetch() -> None:
        barrier.wait()
        got.append(cache(WEST))

    workers = [threading.Thread(target=fetch) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)

    assert len(got) == threads
    assert len({id(client) for client in got}) == 1
    assert counting.made == [WEST]


def test_client_cache_config_is_merged_over_bounded_defaults(moto_server: MotoServer, session: Any) -> None:
    cache = ClientCache(session=session, endpoint_url=moto_server.endpoint, config=_config(max_attempts=7))
    config = cache(WEST).meta.config
    assert config.retries["total_max_attempts"] == 7
    assert (config.connect_timeout, config.read_timeout) == (2, 5)


def test_a_client_supplier_provides_clients_for_custom_endpoints(
    moto_server: MotoServer, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    supplier = Supplier({WEST: kms_client(WEST), EAST: kms_client(EAST)})

    west_message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client_supplier=supplier))
    east_message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.east_single_arn, client_supplier=supplier))
    busta.decrypt(east_message, keyring=AwsKmsDiscoveryKeyring(client_supplier=supplier))
    busta.decrypt(west_message, keyring=AwsKmsMrkDiscoveryKeyring(WEST, client_supplier=supplier))

    assert supplier.asked == [WEST, EAST, EAST, WEST]
    assert all(client.meta.endpoint_url == moto_server.endpoint for client in supplier.clients.values())


def test_one_keyring_is_safe_to_share_between_threads(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    west = kms_client(WEST)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west)
    threads, rounds = 8, 20
    failures: list[str] = []
    done: list[int] = []

    def work(n: int) -> None:
        try:
            for i in range(rounds):
                plaintext = f"thread {n} round {i}".encode() * 3
                context = {"thread": str(n), "round": str(i)}
                message = busta.encrypt(plaintext, keyring=keyring, encryption_context=context)
                result = busta.decrypt(message, keyring=keyring, encryption_context=context)
                if result.plaintext != plaintext:
                    failures.append(f"thread {n} round {i}: wrong plaintext")
                done.append(n)
        except Exception as exc:
            failures.append(f"thread {n}: {exc!r}")

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)

    assert failures == []
    assert len(done) == threads * rounds


# =========================================================================== 7. faults


def test_a_kms_server_that_stops_mid_run_fails_with_the_key_and_region_named(session: Any) -> None:
    with MotoServer() as server:
        client = session.client(
            "kms", region_name=WEST, endpoint_url=server.endpoint, config=_config(max_attempts=1, connect_timeout=1)
        )
        arn = client.create_key()["KeyMetadata"]["Arn"]
        keyring = AwsKmsKeyring(arn, client=client)
        message = busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)
    assert not server.running

    with pytest.raises(NoDecryptingKeyError) as decrypt_failure:
        busta.decrypt(message, keyring=keyring)
    (reason,) = decrypt_failure.value.reasons
    assert arn in reason and WEST in reason and "EndpointConnectionError" in reason
    (kms_error,) = decrypt_failure.value.errors
    assert isinstance(kms_error, KmsError)
    assert (kms_error.key_id, kms_error.region, kms_error.code) == (arn, WEST, "EndpointConnectionError")

    reader = busta.decrypting_reader(io.BytesIO(message), keyring=keyring)
    with pytest.raises(NoDecryptingKeyError):
        reader.read()  # no plaintext is released

    with pytest.raises(KmsError) as encrypt_failure:
        busta.encrypt(PLAINTEXT, keyring=keyring)
    error = encrypt_failure.value
    assert (error.key_id, error.region, error.operation) == (arn, WEST, "generate_data_key")
    assert error.code == "EndpointConnectionError"


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def throttle_first(client: Any, calls: int) -> list[str]:
    """Answer the first ``calls`` requests ``client`` sends with HTTP 400 ThrottlingException.

    A ``before-send`` hook stands in for the server, so botocore's retry
    handler sees a real throttling response (a Stubber would bypass retries).
    """
    sent: list[str] = []

    def before_send(request: Any, **_: Any) -> Any:
        sent.append(request.headers.get("X-Amz-Target", b"").decode())
        if len(sent) > calls:
            return None  # go to the server
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": f"throttled-{len(sent)}"}
        return botocore.awsrequest.AWSResponse(request.url, 400, headers, _RawBody(body))

    client.meta.events.register("before-send.kms", before_send)
    return sent


@pytest.mark.parametrize(("attempts", "succeeds"), [(3, True), (1, False)])
def test_throttling_is_retried_as_configured(
    attempts: int,
    succeeds: bool,
    moto_server: MotoServer,
    kms_keys: KmsKeys,
    session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no back-off sleeps, to keep the test fast: the retry decisions are unchanged
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    cache = ClientCache(session=session, endpoint_url=moto_server.endpoint, config=_config(max_attempts=attempts))
    sent = throttle_first(cache(WEST), calls=2)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client_supplier=cache)

    if succeeds:
        assert busta.decrypt(busta.encrypt(PLAINTEXT, keyring=keyring), keyring=keyring).plaintext == PLAINTEXT
        assert sent == ["TrentService.GenerateDataKey"] * 3 + ["TrentService.Decrypt"]
    else:
        with pytest.raises(KmsError) as caught:
            busta.encrypt(PLAINTEXT, keyring=keyring)
        assert caught.value.code == "ThrottlingException"
        assert (caught.value.key_id, caught.value.region) == (kms_keys.single_arn, WEST)
        assert sent == ["TrentService.GenerateDataKey"]


def test_more_data_keys_than_allowed_are_refused_before_any_kms_call(
    kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    west = kms_client(WEST)
    message = busta.encrypt(
        PLAINTEXT,
        keyring=MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.single_arn, client=west),
            children=[AwsKmsKeyring(kms_keys.other_arn, client=west)],
        ),
    )
    log = KmsCallLog(west)
    keyring = AwsKmsKeyring(kms_keys.single_arn, client=west)

    with pytest.raises(LimitExceededError):
        busta.Client(max_encrypted_data_keys=1).decrypt(message, keyring=keyring)
    assert log.calls == []

    assert busta.Client(max_encrypted_data_keys=2).decrypt(message, keyring=keyring).plaintext == PLAINTEXT
    assert log.operations == ["Decrypt"]


REFUSALS = [
    ("DisabledException", "the key is disabled"),
    ("KMSInvalidStateException", "the key is pending deletion"),
    ("InvalidKeyUsageException", "the key is an RSA key, not for data keys"),
]


@pytest.mark.parametrize(("code", "why"), REFUSALS, ids=[code for code, _ in REFUSALS])
def test_kms_refusing_to_make_or_wrap_a_data_key_raises_kms_error_with_its_code(
    code: str, why: str, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    """moto does not refuse disabled, pending-deletion or RSA keys (it serves them all), so a Stubber answers."""
    generator, child = kms_client(WEST), kms_client(WEST)
    with Stubber(generator) as stub_generator, Stubber(child) as stub_child:
        stub_generator.add_client_error("generate_data_key", code, why, 400)
        with pytest.raises(KmsError) as caught:
            busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=generator))
        assert (caught.value.code, caught.value.operation) == (code, "generate_data_key")
        assert (caught.value.key_id, caught.value.region) == (kms_keys.single_arn, WEST)

        stub_child.add_client_error("encrypt", code, why, 400)
        keyring = MultiKeyring(
            generator=AwsKmsKeyring(kms_keys.other_arn, client=kms_client(WEST)),
            children=[AwsKmsKeyring(kms_keys.single_arn, client=child)],
        )
        with pytest.raises(KmsError) as caught:
            busta.encrypt(PLAINTEXT, keyring=keyring)
        assert (caught.value.code, caught.value.operation) == (code, "encrypt")
        stub_generator.assert_no_pending_responses()
        stub_child.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "why"), REFUSALS[:2], ids=[code for code, _ in REFUSALS[:2]])
def test_kms_refusing_to_decrypt_a_data_key_is_named_in_the_reasons(
    code: str, why: str, kms_keys: KmsKeys, kms_client: ClientFactory
) -> None:
    """moto decrypts under disabled and pending-deletion keys, so a Stubber answers as KMS would."""
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=kms_client(WEST)))
    refusing = kms_client(WEST)
    with Stubber(refusing) as stub:
        stub.add_client_error("decrypt", code, why, 400)
        with pytest.raises(NoDecryptingKeyError) as caught:
            busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=refusing))
        stub.assert_no_pending_responses()

    (reason,) = caught.value.reasons
    assert f"failed: {code}" in reason and kms_keys.single_arn in reason and WEST in reason


def test_the_default_commitment_policy_is_kept_for_kms_messages(kms_keys: KmsKeys, kms_client: ClientFactory) -> None:
    """A KMS message of a non-committing suite is refused under the default policy, before KMS is called."""
    west = kms_client(WEST)
    suite = AlgorithmSuite.from_id(0x0178)
    message = busta.Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt(
        PLAINTEXT, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west), algorithm=suite
    )
    log = KmsCallLog(west)
    with pytest.raises(busta.errors.PolicyError):
        busta.decrypt(message, keyring=AwsKmsKeyring(kms_keys.single_arn, client=west))
    assert log.calls == []


# =========================================================================== 8. import cost


def test_import_busta_does_not_import_boto3_until_a_kms_keyring_is_used() -> None:
    script = (
        "import sys, busta, busta.keyrings as k\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'imported early'\n"
        "k.AwsKmsKeyring\n"
        "assert 'boto3' in sys.modules, 'not imported on first use'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_discovery_filter_refuses_a_single_string_of_account_ids() -> None:
    with pytest.raises(UsageError):
        DiscoveryFilter("aws", "111122223333444455556666")  # type: ignore[arg-type]
    frozen = DiscoveryFilter("aws", ["111122223333"])  # type: ignore[arg-type]
    assert frozen.account_ids == ("111122223333",)
