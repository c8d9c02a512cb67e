"""busta.aio's AWS KMS keyrings against a moto server over HTTP: the sync keyrings' behaviour, awaited.

Each case runs the async keyring and the sync keyring of the same name on the same input and
compares what comes out: messages (each decrypts the other's), exceptions (type and text), the
requests sent (grant tokens, encryption context).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import botocore.session
import pytest

import busta
from busta import aio
from busta.errors import BustaError, KeyringError, KmsError, NoDecryptingKeyError, UsageError
from busta.keyrings import DiscoveryFilter, MultiKeyring, aws_kms

from ..keyrings.test_kms_identifiers import observed
from ..support.aio_kms import Clients, aio_kms, async_decrypt, async_encrypt, moto_credentials, moto_env
from ..support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer

__all__ = [
    "aio_kms",
    "kms_keys",
    "moto_credentials",
    "moto_env",
    "moto_server",
]  # fixtures, imported for pytest to find

CONTEXT = {"purpose": "aio-kms-tests"}
PLAINTEXT = b"attack at dawn " * 20


def sync_kms(moto_server: MotoServer) -> Clients:
    return lambda region: moto_server.client("kms", region)


def sync_message(moto_server: MotoServer, arn: str, region: str) -> bytes:
    """A message whose data key the sync keyring wrapped with ``arn``."""
    keyring = aws_kms.AwsKmsKeyring(arn, client=moto_server.client("kms", region))
    return busta.encrypt(PLAINTEXT, keyring=keyring, encryption_context=CONTEXT)


async def raised(call: Any) -> BustaError:
    """The busta error an awaitable or a sync callable raises."""
    with pytest.raises(BustaError) as caught:
        await call if asyncio.iscoroutine(call) else call()
    return caught.value


# --------------------------------------------------------------------------- strict and MRK


@pytest.mark.asyncio
async def test_strict_keyring_messages_decrypt_with_the_sync_keyring_and_the_reverse(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    keyring = aio.AwsKmsKeyring(kms_keys.single_arn, client=aio_kms(WEST))
    sync = aws_kms.AwsKmsKeyring(kms_keys.single_arn, client=moto_server.client("kms", WEST))
    message = await async_encrypt(keyring, PLAINTEXT, CONTEXT)
    assert busta.decrypt(message, keyring=sync).plaintext == PLAINTEXT
    back = busta.encrypt(PLAINTEXT, keyring=sync, encryption_context=CONTEXT)
    assert await async_decrypt(keyring, back, CONTEXT) == PLAINTEXT
    assert await async_decrypt(keyring, message, CONTEXT) == PLAINTEXT


@pytest.mark.asyncio
async def test_grant_tokens_and_the_context_go_with_every_call(kms_keys: KmsKeys, aio_kms: Clients) -> None:
    tokens = ["grant-a", "grant-b"]
    keyring = aio.AwsKmsKeyring(kms_keys.single_arn, client=aio_kms(WEST), grant_tokens=tokens)
    calls = observed(aio_kms(WEST))
    message = await async_encrypt(keyring, PLAINTEXT, CONTEXT)
    await async_decrypt(keyring, message)
    assert [name for name, _ in calls] == ["GenerateDataKey", "Decrypt"]
    assert all(p["GrantTokens"] == tokens and p["EncryptionContext"].items() >= CONTEXT.items() for _, p in calls)
    assert calls[1][1]["KeyId"] == kms_keys.single_arn  # decrypt names its key


@pytest.mark.asyncio
async def test_a_later_keyring_encrypts_the_data_key_the_first_generated(kms_keys: KmsKeys, aio_kms: Clients) -> None:
    first = aio.AwsKmsKeyring(kms_keys.single_arn, client=aio_kms(WEST))
    second = aio.AwsKmsKeyring(kms_keys.other_arn, client=aio_kms(WEST))
    calls = observed(aio_kms(WEST))
    materials = await first.on_encrypt(_encryption_materials())
    materials = await second.on_encrypt(materials)
    assert [name for name, _ in calls] == ["GenerateDataKey", "Encrypt"]
    assert [edk.provider_info.decode() for edk in materials.encrypted_data_keys] == [
        kms_keys.single_arn,
        kms_keys.other_arn,
    ]


@pytest.mark.asyncio
async def test_mrk_keyring_in_us_east_1_decrypts_a_us_west_2_message_as_the_sync_one_does(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    west = aio.AwsKmsMrkKeyring(kms_keys.mrk_west_arn, client=aio_kms(WEST))
    east = aio.AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client=aio_kms(EAST))
    calls = observed(aio_kms(EAST))
    message = await async_encrypt(west, PLAINTEXT, CONTEXT)
    assert await async_decrypt(east, message) == PLAINTEXT
    assert [(name, p["KeyId"]) for name, p in calls] == [("Decrypt", kms_keys.mrk_east_arn)]
    sync_east = aws_kms.AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client=moto_server.client("kms", EAST))
    assert busta.decrypt(message, keyring=sync_east).plaintext == PLAINTEXT
    strict_east = aio.AwsKmsKeyring(kms_keys.mrk_east_arn, client=aio_kms(EAST))
    failed = await raised(async_decrypt(strict_east, message))
    assert isinstance(failed, NoDecryptingKeyError)  # the strict keyring matches only its own ARN


# --------------------------------------------------------------------------- discovery


@pytest.mark.asyncio
async def test_discovery_decrypts_with_the_key_named_in_the_message_in_its_region(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer, moto_credentials: None
) -> None:
    message = sync_message(moto_server, kms_keys.east_single_arn, EAST)
    supplier = aio.AsyncClientCache(endpoint_url=moto_server.endpoint)
    found = DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,))
    async with supplier:
        keyring = aio.AwsKmsDiscoveryKeyring(client_supplier=supplier, discovery_filter=found)
        assert await async_decrypt(keyring, message) == PLAINTEXT
        assert repr(supplier) == f"AsyncClientCache(regions=['{EAST}'], max_clients=32)"


@pytest.mark.asyncio
@pytest.mark.parametrize("which", ["account", "partition", "wrong-region-client", "mrk-discovery-other-region"])
async def test_discovery_refusals_read_exactly_as_the_sync_keyrings(
    which: str, kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    message = sync_message(moto_server, kms_keys.single_arn, WEST)

    def make(module: Any, clients: Clients) -> Any:
        if which == "account":
            return module.AwsKmsDiscoveryKeyring(
                client=clients(WEST), discovery_filter=DiscoveryFilter(kms_keys.partition, ("111122223333",))
            )
        if which == "partition":
            found = DiscoveryFilter("aws-cn", (kms_keys.account_id,))
            return module.AwsKmsDiscoveryKeyring(client=clients(WEST), discovery_filter=found)
        if which == "wrong-region-client":
            return module.AwsKmsDiscoveryKeyring(client=clients(EAST))
        return module.AwsKmsMrkDiscoveryKeyring(EAST, client=clients(EAST))

    calls = observed(aio_kms(EAST)) + observed(aio_kms(WEST))
    failed = await raised(async_decrypt(make(aio, aio_kms), message))
    expected = await raised(lambda: busta.decrypt(message, keyring=make(aws_kms, sync_kms(moto_server))))
    assert (type(failed), str(failed)) == (type(expected), str(expected))
    assert isinstance(failed, NoDecryptingKeyError)
    assert calls == []  # refused before any KMS call


@pytest.mark.asyncio
async def test_mrk_discovery_in_us_east_1_calls_the_replica_of_a_us_west_2_key(
    kms_keys: KmsKeys, aio_kms: Clients
) -> None:
    west = aio.AwsKmsMrkKeyring(kms_keys.mrk_west_arn, client=aio_kms(WEST))
    message = await async_encrypt(west, PLAINTEXT, CONTEXT)
    calls = observed(aio_kms(EAST))
    found = DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,))
    keyring = aio.AwsKmsMrkDiscoveryKeyring(EAST, client=aio_kms(EAST), discovery_filter=found)
    assert await async_decrypt(keyring, message) == PLAINTEXT
    assert [(name, p["KeyId"]) for name, p in calls] == [("Decrypt", kms_keys.mrk_east_arn)]


@pytest.mark.asyncio
async def test_discovery_keyrings_refuse_to_encrypt(aio_kms: Clients) -> None:
    for keyring in (aio.AwsKmsDiscoveryKeyring(client=aio_kms(WEST)), aio.AwsKmsMrkDiscoveryKeyring(WEST)):
        failed = await raised(keyring.on_encrypt(_encryption_materials()))
        assert (type(failed), str(failed)) == (
            KeyringError,
            f"{type(keyring).__name__} only decrypts; use AwsKmsKeyring to encrypt",
        )
        await keyring.aclose()


def _encryption_materials() -> Any:
    from busta.materials import EncryptionMaterials

    suite = busta.AlgorithmSuite.from_id(0x0478)
    return EncryptionMaterials(suite=suite, encryption_context=CONTEXT)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.asyncio
async def test_two_keys_are_called_concurrently(kms_keys: KmsKeys, aio_kms: Clients) -> None:
    """Two keyrings' GenerateDataKey calls overlap on one loop: both have started before either ends."""
    keyrings = [aio.AwsKmsKeyring(arn, client=aio_kms(WEST)) for arn in (kms_keys.single_arn, kms_keys.other_arn)]
    events: list[str] = []
    gate = asyncio.Event()

    async def held(params: dict[str, Any], model: Any, **_: Any) -> None:
        events.append("start " + params["KeyId"])
        if len(events) == 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)  # only a concurrent second call lets the first go on

    aio_kms(WEST).meta.events.register("before-parameter-build.kms.GenerateDataKey", held)
    done = await asyncio.gather(*(k.on_encrypt(_encryption_materials()) for k in keyrings))
    assert events == [f"start {kms_keys.single_arn}", f"start {kms_keys.other_arn}"]
    assert [m.encrypted_data_keys[0].provider_info.decode() for m in done] == [k.key_id for k in keyrings]


# --------------------------------------------------------------------------- errors, word for word


@pytest.mark.asyncio
@pytest.mark.parametrize("case", ["not-found", "unknown-alias", "wrong-key-decrypt"])
async def test_kms_errors_read_exactly_as_the_sync_keyrings(
    case: str, kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    west = moto_server.client("kms", WEST)
    if case == "not-found":
        arn = kms_keys.single_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    elif case == "unknown-alias":  # (this moto server answers DisableKey with a 500: no disabled-key case)
        arn = f"arn:aws:kms:{WEST}:{kms_keys.account_id}:alias/no-such-alias"
    else:
        arn = kms_keys.other_arn
    keyring = aio.AwsKmsKeyring(arn, client=aio_kms(WEST))
    sync = aws_kms.AwsKmsKeyring(arn, client=west)
    if case == "wrong-key-decrypt":  # a data key of single_arn, stored as if other_arn wrapped it
        message = busta.encrypt(
            PLAINTEXT, keyring=aws_kms.AwsKmsKeyring(kms_keys.single_arn, client=west), encryption_context=CONTEXT
        )
        message = message.replace(kms_keys.single_arn.encode(), arn.encode())
        failed = await raised(async_decrypt(keyring, message))
        expected = await raised(lambda: busta.decrypt(message, keyring=sync))
    else:
        failed = await raised(keyring.on_encrypt(_encryption_materials()))
        expected = await raised(lambda: sync.on_encrypt(_encryption_materials()))
    assert (type(failed), str(failed)) == (type(expected), str(expected))
    cause = failed.errors[0] if isinstance(failed, NoDecryptingKeyError) else failed
    assert isinstance(cause, KmsError)
    assert cause.code == {"not-found": "NotFoundException", "unknown-alias": "NotFoundException"}.get(
        case,
        "AccessDeniedException",  # moto's answer to a ciphertext of another key
    )


@pytest.mark.asyncio
async def test_no_credentials_is_a_kms_error_as_in_sync(
    kms_keys: KmsKeys, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    sync = aws_kms.AwsKmsKeyring(  # a session of its own: the shared one may hold credentials from earlier tests
        kms_keys.single_arn,
        client_supplier=aws_kms.ClientCache(endpoint_url=moto_server.endpoint, session=botocore.session.Session()),
    )
    async with aio.AsyncClientCache(endpoint_url=moto_server.endpoint) as supplier:
        keyring = aio.AwsKmsKeyring(kms_keys.single_arn, client_supplier=supplier)
        failed = await raised(keyring.on_encrypt(_encryption_materials()))
    expected = await raised(lambda: sync.on_encrypt(_encryption_materials()))
    assert (type(failed), str(failed)) == (type(expected), str(expected))
    assert isinstance(failed, KmsError) and failed.code == "NoCredentialsError"


BAD_ARGUMENTS: list[tuple[str, Callable[[Any], Any]]] = [
    ("no key", lambda m: m.AwsKmsKeyring("")),
    ("bad arn", lambda m: m.AwsKmsKeyring("arn:aws:kms:us-west-2:12:key/x")),
    ("alias without region", lambda m: m.AwsKmsKeyring("alias/name")),
    ("region contradicts arn", lambda m: m.AwsKmsKeyring(f"arn:aws:kms:{WEST}:111122223333:key/k", region=EAST)),
    ("bad region", lambda m: m.AwsKmsMrkKeyring("alias/x", region="mars")),
    ("one string of grant tokens", lambda m: m.AwsKmsKeyring("alias/x", region=WEST, grant_tokens="token")),
    ("eleven grant tokens", lambda m: m.AwsKmsKeyring("alias/x", region=WEST, grant_tokens=["t"] * 11)),
    ("client without region", lambda m: m.AwsKmsKeyring("alias/x", client=object())),
    ("supplier not callable", lambda m: m.AwsKmsDiscoveryKeyring(client_supplier="cache")),
    ("filter of wrong type", lambda m: m.AwsKmsDiscoveryKeyring(discovery_filter=("aws", "111122223333"))),
    ("mrk discovery bad region", lambda m: m.AwsKmsMrkDiscoveryKeyring("Moon-1")),
]


@pytest.mark.asyncio
async def test_a_blocking_client_or_supplier_is_refused(kms_keys: KmsKeys, moto_server: MotoServer) -> None:
    """A boto3 client (or a sync supplier) would block the event loop: refused when the keyring is made."""
    sync_client = moto_server.client("kms", WEST)
    with pytest.raises(UsageError, match="must be an aiobotocore KMS client"):
        aio.AwsKmsKeyring(kms_keys.single_arn, client=sync_client)
    with pytest.raises(UsageError, match="client_supplier must be an async callable"):
        aio.AwsKmsDiscoveryKeyring(client_supplier=aws_kms.ClientCache())
    with pytest.raises(UsageError, match="client_supplier must be an async callable"):
        aio.AwsKmsMrkDiscoveryKeyring(WEST, client_supplier=lambda region: sync_client)


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [m for _, m in BAD_ARGUMENTS], ids=[i for i, _ in BAD_ARGUMENTS])
async def test_bad_arguments_are_refused_at_construction_as_in_sync(make: Callable[[Any], Any]) -> None:
    failed = await raised(lambda: make(aio))
    expected = await raised(lambda: make(aws_kms))
    assert (type(failed), str(failed)) == (UsageError, str(expected))
    assert isinstance(expected, UsageError)


# --------------------------------------------------------------------------- order and cancellation


@pytest.mark.asyncio
async def test_data_keys_are_tried_in_order_and_the_first_that_decrypts_ends_it(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    west = moto_server.client("kms", WEST)
    two = MultiKeyring(
        generator=aws_kms.AwsKmsKeyring(kms_keys.single_arn, client=west),
        children=[aws_kms.AwsKmsKeyring(kms_keys.other_arn, client=west)],
    )
    message = busta.encrypt(PLAINTEXT, keyring=two, encryption_context=CONTEXT)
    calls = observed(aio_kms(WEST))
    assert await async_decrypt(aio.AwsKmsDiscoveryKeyring(client=aio_kms(WEST)), message) == PLAINTEXT
    assert [(name, p["KeyId"]) for name, p in calls] == [("Decrypt", kms_keys.single_arn)]
    calls.clear()  # the first key refused by the filter: the second is tried, after it
    only_other = aio.AwsKmsKeyring(kms_keys.other_arn, client=aio_kms(WEST))
    assert await async_decrypt(only_other, message) == PLAINTEXT
    assert [(name, p["KeyId"]) for name, p in calls] == [("Decrypt", kms_keys.other_arn)]


@pytest.mark.asyncio
async def test_a_cancelled_call_leaves_the_keyring_usable_and_closes_cleanly(kms_keys: KmsKeys, moto_env: None) -> None:
    async with aio.AwsKmsKeyring(kms_keys.single_arn) as keyring:
        started = asyncio.Event()
        client = await keyring._supplier(WEST)

        async def hold(**_: Any) -> None:
            started.set()
            await asyncio.sleep(30)

        client.meta.events.register("before-parameter-build.kms.GenerateDataKey", hold)
        task = asyncio.ensure_future(keyring.on_encrypt(_encryption_materials()))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        client.meta.events.unregister("before-parameter-build.kms.GenerateDataKey", hold)
        assert (await keyring.on_encrypt(_encryption_materials())).data_key is not None
