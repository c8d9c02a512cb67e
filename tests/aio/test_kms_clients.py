"""busta.aio's KMS clients: made off the loop, one per region, closed cleanly; KMS slow, down or throttled.

Run with ``-W error::ResourceWarning``: a client or aiohttp session left open fails the test. Faults
come from the fault proxy in front of moto (tests/support/fault_proxy.py); each case runs the sync
keyring through the same fault and compares what the caller is told.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.retries.standard
import pytest

import busta
from busta import aio
from busta.errors import BustaError, KeyringError, KmsError
from busta.keyrings import aws_kms
from busta.materials import EncryptionMaterials

from ..support.aio_kms import OnLoop, aio_client, moto_credentials, moto_env
from ..support.fault_proxy import FaultProxy, Respond, http_response
from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer
from ..test_faults import client_via

__all__ = ["kms_keys", "moto_credentials", "moto_env", "moto_server"]  # fixtures, imported for pytest to find

CONTEXT = {"purpose": "aio-kms-clients"}


def materials() -> EncryptionMaterials:
    return EncryptionMaterials(suite=busta.AlgorithmSuite.from_id(0x0478), encryption_context=CONTEXT)


# --------------------------------------------------------------------------- the client cache


@pytest.mark.asyncio
async def test_a_keyring_without_a_client_makes_its_own_and_closes_it(kms_keys: KmsKeys, moto_env: None) -> None:
    async with aio.AwsKmsKeyring(kms_keys.single_arn) as keyring:
        made = await keyring.on_encrypt(materials())
        assert made.data_key is not None
    with pytest.raises(KeyringError, match="the KMS client cache is closed"):
        await keyring.on_encrypt(materials())  # closed: no client is made again, none leaks


@pytest.mark.asyncio
async def test_a_keyring_given_a_client_leaves_it_open(kms_keys: KmsKeys, moto_server: MotoServer) -> None:
    async with aio_client(moto_server.endpoint, WEST) as client:
        async with aio.AwsKmsKeyring(kms_keys.single_arn, client=client) as keyring:
            await keyring.on_encrypt(materials())
        assert (await client.describe_key(KeyId=kms_keys.single_arn))["KeyMetadata"]["Arn"] == kms_keys.single_arn


class FileOpens:
    """Files opened, per thread, while :attr:`on` (an audit hook: it sees every open(), also in C code)."""

    def __init__(self) -> None:
        self.on = False
        self.opened: list[tuple[int, str]] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.on and event == "open" and isinstance(args[0], (str, Path)):
            self.opened.append((threading.get_ident(), str(args[0])))


_OPENS = FileOpens()


@pytest.mark.asyncio
async def test_the_session_is_made_in_a_thread_and_the_loop_opens_no_file(kms_keys: KmsKeys, moto_env: None) -> None:
    """Session creation, config files and botocore's models are read off the loop; on the loop, no open()."""
    loop_thread = threading.get_ident()
    _OPENS.opened.clear()
    _OPENS.on = True
    try:
        async with aio.AsyncClientCache() as cache:
            client = await cache(WEST)
            await aio.AwsKmsKeyring(kms_keys.single_arn, client_supplier=cache).on_encrypt(materials())
    finally:
        _OPENS.on = False
    assert client.meta.region_name == WEST
    assert any(path.endswith(".json") or ".json" in path for _, path in _OPENS.opened)  # the models were read...
    assert [path for thread, path in _OPENS.opened if thread == loop_thread] == []  # ...but not on the loop


@pytest.mark.asyncio
async def test_concurrent_first_calls_make_one_client_per_region(moto_env: None) -> None:
    async with aio.AsyncClientCache() as cache:
        clients = await asyncio.gather(*(cache(WEST) for _ in range(20)))
        assert len({id(c) for c in clients}) == 1
        with pytest.raises(BustaError, match="not an AWS region name"):
            await cache("mars")


@pytest.mark.asyncio
async def test_the_least_recently_used_client_is_evicted_and_closed_once_no_call_holds_it(
    kms_keys: KmsKeys, moto_env: None
) -> None:
    """A message naming many regions cannot fill the cache for good, nor close a client in use."""
    async with aio.AsyncClientCache(max_clients=2) as cache:
        lease = await cache.lease(WEST)
        async with lease as west:
            await cache("us-east-1")
            await cache("eu-west-1")  # evicts us-west-2, still leased: kept open
            assert repr(cache) == "AsyncClientCache(regions=['us-east-1', 'eu-west-1'], max_clients=2)"
            described = await west.describe_key(KeyId=kms_keys.single_arn)
            assert described["KeyMetadata"]["Arn"] == kms_keys.single_arn
            assert id(west) in cache._contexts
        assert id(west) not in cache._contexts  # closed when the lease ended
        assert await cache(WEST) is not west  # made again, evicting us-east-1 (not leased: closed at once)
        assert len(cache._contexts) == 2


# --------------------------------------------------------------------------- KMS slow, down, throttled


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as running:
        yield running


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries without sleeping (its retry decisions are unchanged; aiobotocore uses the same)."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)


async def both_fail(arn: str, proxy: FaultProxy, **config: Any) -> tuple[KmsError, KmsError, float]:
    """The async keyring's error, the sync keyring's error for the same fault, the async call's seconds."""
    async with aio_client(proxy.endpoint, WEST, **config) as client:
        began = time.monotonic()
        with pytest.raises(KmsError) as failed:
            await aio.AwsKmsKeyring(arn, client=client).on_encrypt(materials())
        took = time.monotonic() - began
    with pytest.raises(KmsError) as expected:
        await asyncio.to_thread(
            aws_kms.AwsKmsKeyring(arn, client=client_via(proxy, "kms", **config)).on_encrypt, materials()
        )
    return failed.value, expected.value, took


@pytest.mark.asyncio
async def test_a_kms_answer_slower_than_the_read_timeout_fails_promptly(kms_keys: KmsKeys, proxy: FaultProxy) -> None:
    proxy.delay = 2.5
    failed, expected, took = await both_fail(kms_keys.single_arn, proxy, read_timeout=1)
    assert (failed.code, failed.key_id, failed.region) == ("ReadTimeoutError", kms_keys.single_arn, WEST)
    assert failed.code == expected.code
    assert took < 2.4  # the read timeout, not the server, ended it


@pytest.mark.asyncio
async def test_kms_down_fails_with_the_key_and_region_named_as_in_sync(kms_keys: KmsKeys, proxy: FaultProxy) -> None:
    proxy.go_down()
    failed, expected, took = await both_fail(kms_keys.single_arn, proxy, max_attempts=2)
    assert (type(failed), failed.key_id, failed.region) == (type(expected), expected.key_id, expected.region)
    # The code is the name of botocore's connection error, which aiobotocore (aiohttp) and botocore
    # (urllib3) pick differently for the same reset connection: busta maps whichever it is alike.
    assert {failed.code, expected.code} <= {"ConnectionClosedError", "EndpointConnectionError"}
    assert took < 5


def throttling_response() -> bytes:
    body = b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
    return http_response(400, "Bad Request", body, {"Content-Type": "application/x-amz-json-1.1"})


@pytest.mark.asyncio
async def test_throttling_is_retried_by_botocores_rules(kms_keys: KmsKeys, proxy: FaultProxy, no_backoff: None) -> None:
    throttle = proxy.add(Respond(throttling_response(), times=3))
    async with aio_client(proxy.endpoint, WEST, max_attempts=4) as client:
        made = await aio.AwsKmsKeyring(kms_keys.single_arn, client=client).on_encrypt(materials())
    assert made.data_key is not None
    assert throttle.fired == 3  # three throttled attempts, the fourth answered


@pytest.mark.asyncio
async def test_throttling_beyond_the_retries_is_a_clear_kms_error(
    kms_keys: KmsKeys, proxy: FaultProxy, no_backoff: None
) -> None:
    throttle = proxy.add(Respond(throttling_response(), times=None))
    failed, expected, _ = await both_fail(kms_keys.single_arn, proxy, max_attempts=3)
    assert (type(failed), str(failed)) == (type(expected), str(expected))
    assert failed.code == "ThrottlingException"
    assert throttle.fired == 6  # 3 attempts each, async then sync


@pytest.mark.asyncio
async def test_a_keyring_call_in_flight_keeps_its_client_through_an_eviction(
    kms_keys: KmsKeys, moto_env: None, moto_server: MotoServer
) -> None:
    """One client slot, two regions decrypted at once: each eviction waits for the call that holds it."""
    messages = [
        busta.encrypt(b"x", keyring=aws_kms.AwsKmsKeyring(arn, client=moto_server.client("kms", arn.split(":")[3])))
        for arn in (kms_keys.single_arn, kms_keys.east_single_arn) * 3
    ]
    loop = asyncio.get_running_loop()
    # The engine's threads wait on the loop: they must not be the default executor's, which the
    # cache needs (its session is made there).
    with ThreadPoolExecutor(len(messages)) as engine:
        async with aio.AsyncClientCache(max_clients=1) as cache:
            bridge = OnLoop(aio.AwsKmsDiscoveryKeyring(client_supplier=cache), loop)
            runs = [loop.run_in_executor(engine, functools.partial(busta.decrypt, m, keyring=bridge)) for m in messages]
            done = await asyncio.wait_for(asyncio.gather(*runs), 30)
    assert [d.plaintext for d in done] == [b"x"] * 6
