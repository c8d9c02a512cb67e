"""Interop: messages whose data key busta.aio's KMS keyrings wrapped decrypt with the official
aws-encryption-sdk's KMS keyrings, and the reverse; for a single-Region key and for a multi-Region
key (us-west-2 primary, us-east-1 replica), against moto's server over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from busta import AlgorithmSuite, aio
from busta.keyrings import DiscoveryFilter

from ..keyrings.test_kms import official_decrypt, official_encrypt, official_kms_keyring
from ..support.aio_kms import Clients, aio_kms, async_decrypt, async_encrypt
from ..support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer

__all__ = ["aio_kms", "kms_keys", "moto_server"]  # fixtures, imported for pytest to find

CONTEXT = {"purpose": "aio-kms-interop", "tenant": "beta"}
PLAINTEXT = b"interop " * 64
SUITES = [AlgorithmSuite.from_id(0x0478), AlgorithmSuite.from_id(0x0578)]


@pytest.mark.asyncio
@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"{s.id:04X}")
async def test_official_sdk_decrypts_what_the_async_strict_keyring_wrapped_and_the_reverse(
    suite: AlgorithmSuite, kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    keyring = aio.AwsKmsKeyring(kms_keys.single_arn, client=aio_kms(WEST))
    official = official_kms_keyring("strict", moto_server.client("kms", WEST), kms_keys.single_arn)
    message = await async_encrypt(keyring, PLAINTEXT, CONTEXT, algorithm=suite)
    plaintext, stored = official_decrypt(message, official, CONTEXT)
    assert plaintext == PLAINTEXT and stored.items() >= CONTEXT.items()
    theirs = official_encrypt(PLAINTEXT, official, suite, CONTEXT)
    assert await async_decrypt(keyring, theirs, CONTEXT) == PLAINTEXT


@pytest.mark.asyncio
async def test_official_mrk_keyring_in_us_east_1_decrypts_what_the_async_one_wrapped_in_us_west_2(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    west = aio.AwsKmsMrkKeyring(kms_keys.mrk_west_arn, client=aio_kms(WEST))
    message = await async_encrypt(west, PLAINTEXT, CONTEXT)
    official_east = official_kms_keyring("mrk", moto_server.client("kms", EAST), kms_keys.mrk_east_arn)
    assert official_decrypt(message, official_east, CONTEXT)[0] == PLAINTEXT


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["mrk", "mrk-discovery"])
async def test_async_mrk_keyrings_in_us_east_1_decrypt_the_official_sdks_us_west_2_message(
    kind: str, kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    official_west = official_kms_keyring("mrk", moto_server.client("kms", WEST), kms_keys.mrk_west_arn)
    theirs = official_encrypt(PLAINTEXT, official_west, SUITES[1], CONTEXT)
    found = DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,))
    keyring: Any = (
        aio.AwsKmsMrkKeyring(kms_keys.mrk_east_arn, client=aio_kms(EAST))
        if kind == "mrk"
        else aio.AwsKmsMrkDiscoveryKeyring(EAST, client=aio_kms(EAST), discovery_filter=found)
    )
    assert await async_decrypt(keyring, theirs, CONTEXT) == PLAINTEXT
