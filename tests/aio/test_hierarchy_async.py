"""busta.aio's branch key store and hierarchical keyring on aiobotocore, against moto's DynamoDB and KMS:
the sync store's items and errors, awaited; messages of the async keyring read by the sync one and the
reverse; a warm cache that awaits no store call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import busta
from busta import aio
from busta.errors import BranchKeyStoreError, KmsError, UsageError
from busta.keyrings import RawAesKeyring
from busta.keyrings.branch_key_store import BranchKeyStore, KmsKeyArn, KmsKeyDiscovery
from busta.keyrings.hierarchy import BranchKeyCache, HierarchicalKeyring

from ..support.aio_kms import aio_config
from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["kms_keys", "moto_server"]

TABLE = "aio-branch-keys"


@pytest_asyncio.fixture
async def clients(moto_server: MotoServer) -> AsyncIterator[tuple[Any, Any]]:
    """aiobotocore DynamoDB and KMS clients for moto, closed after the test."""
    import aiobotocore.session

    session = await asyncio.to_thread(aiobotocore.session.get_session)
    options = {
        "region_name": WEST,
        "endpoint_url": moto_server.endpoint,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "config": aio_config(),
    }
    async with contextlib.AsyncExitStack() as stack:
        ddb = await stack.enter_async_context(session.create_client("dynamodb", **options))
        kms = await stack.enter_async_context(session.create_client("kms", **options))
        yield ddb, kms


def _sync_store(moto_server: MotoServer, arn: str) -> BranchKeyStore:
    return BranchKeyStore(
        TABLE, TABLE, KmsKeyArn(arn), ddb_client=moto_server.client("dynamodb"), kms_client=moto_server.client("kms")
    )


@pytest.mark.asyncio
async def test_the_async_store_writes_what_the_sync_store_reads_and_the_reverse(
    clients: tuple[Any, Any], moto_server: MotoServer, kms_keys: KmsKeys
) -> None:
    ddb, kms = clients
    store = aio.AsyncBranchKeyStore(TABLE, TABLE, KmsKeyArn(kms_keys.single_arn), ddb_client=ddb, kms_client=kms)
    await store.create_key_store()
    sync = _sync_store(moto_server, kms_keys.single_arn)
    branch_key_id = await store.create_key("aio-tenant", {"team": "async"})
    mine = sync.get_active_branch_key(branch_key_id)
    theirs = await store.get_active_branch_key(branch_key_id)
    assert (mine.version, mine.key, mine.encryption_context) == (theirs.version, theirs.key, {"team": "async"})
    version = sync.version_key(branch_key_id)
    assert (await store.get_active_branch_key(branch_key_id)).version == version
    newer = await store.version_key(branch_key_id)
    assert sync.get_active_branch_key(branch_key_id).version == newer
    assert (await store.get_branch_key_version(branch_key_id, mine.version)).key == mine.key
    assert (await store.get_beacon_key(branch_key_id)).key == sync.get_beacon_key(branch_key_id).key


@pytest.mark.asyncio
async def test_async_keyring_messages_decrypt_with_the_sync_keyring_and_the_reverse(
    clients: tuple[Any, Any], moto_server: MotoServer, kms_keys: KmsKeys
) -> None:
    ddb, kms = clients
    store = aio.AsyncBranchKeyStore(TABLE, TABLE, KmsKeyDiscovery(), ddb_client=ddb, kms_client=kms)
    sync = _sync_store(moto_server, kms_keys.single_arn)
    sync.create_key_store()
    branch_key_id = sync.create_key("aio-messages", {})
    keyring = aio.AsyncHierarchicalKeyring(store, ttl_seconds=60, branch_key_id=branch_key_id)
    sync_keyring = HierarchicalKeyring(sync, ttl_seconds=60, branch_key_id=branch_key_id)
    message = await aio.encrypt(b"async", keyring=keyring, encryption_context={"k": "v"})
    assert busta.decrypt(message, keyring=sync_keyring).plaintext == b"async"
    other = busta.encrypt(b"sync", keyring=sync_keyring, encryption_context={"k": "v"})
    assert (await aio.decrypt(other, keyring=keyring)).plaintext == b"sync"
    aes = RawAesKeyring("ns", "aes", bytes(32))
    multi = aio.AsyncMultiKeyring(generator=keyring, children=[aes])
    both = await aio.encrypt(b"both", keyring=multi)
    assert busta.decrypt(both, keyring=aes).plaintext == b"both"
    assert (await aio.decrypt(both, keyring=keyring)).plaintext == b"both"


def keyring_for(store: BranchKeyStore, branch_key_id: str) -> HierarchicalKeyring:
    return HierarchicalKeyring(store, ttl_seconds=60, branch_key_id=branch_key_id)


@pytest.mark.asyncio
async def test_a_warm_cache_shared_with_a_sync_keyring_awaits_no_store_call_and_errors_match_the_sync_store(
    clients: tuple[Any, Any], moto_server: MotoServer, kms_keys: KmsKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb, kms = clients
    store = aio.AsyncBranchKeyStore(TABLE, TABLE, KmsKeyArn(kms_keys.single_arn), ddb_client=ddb, kms_client=kms)
    await store.create_key_store()
    branch_key_id = await store.create_key("aio-cache", {})
    shared = BranchKeyCache()
    keyring = aio.AsyncHierarchicalKeyring(
        store, ttl_seconds=60, branch_key_id=branch_key_id, cache=shared, partition_id="both"
    )
    calls: list[str] = []
    original = store.get_active_branch_key

    async def counted(key_id: str) -> Any:
        calls.append(key_id)
        return await original(key_id)

    monkeypatch.setattr(store, "get_active_branch_key", counted)
    for _ in range(20):
        await aio.encrypt(b"x", keyring=keyring)
    assert calls == [branch_key_id]
    sync_store = _sync_store(moto_server, kms_keys.single_arn)
    sync_keyring = HierarchicalKeyring(
        sync_store, ttl_seconds=60, branch_key_id=branch_key_id, cache=shared, partition_id="both"
    )
    reader = keyring_for(sync_store, branch_key_id)
    monkeypatch.setattr(sync_store, "get_active_branch_key", None)  # a call would fail: the entry is shared
    assert busta.decrypt(busta.encrypt(b"y", keyring=sync_keyring), keyring=reader).plaintext == b"y"
    with pytest.raises(BranchKeyStoreError, match="NoSuchBranchKey"):
        await store.get_active_branch_key("absent")
    wrong = aio.AsyncBranchKeyStore(
        TABLE, "other-logical", KmsKeyArn(kms_keys.single_arn), ddb_client=ddb, kms_client=kms
    )
    with pytest.raises(KmsError):
        await wrong.get_active_branch_key(branch_key_id)
    with pytest.raises(UsageError):
        aio.AsyncHierarchicalKeyring(_sync_store(moto_server, kms_keys.single_arn), ttl_seconds=60, branch_key_id="b")  # type: ignore[arg-type]
