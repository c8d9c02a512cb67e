"""busta.aio's multi-keyring over the async KMS keyrings, through ``busta.aio.encrypt``/``decrypt``
against moto's server: the children wrap the generator's data key at the same time, and any one of
the keys decrypts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import busta
from busta import aio
from busta.keyrings import aws_kms

from ..support.aio_kms import Clients, aio_kms, moto_credentials, moto_env
from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer

__all__ = ["aio_kms", "kms_keys", "moto_credentials", "moto_env", "moto_server"]  # fixtures for pytest

CONTEXT = {"purpose": "aio-kms-multi"}


@pytest.mark.asyncio
async def test_children_wrap_concurrently_and_each_key_decrypts(
    kms_keys: KmsKeys, aio_kms: Clients, moto_server: MotoServer
) -> None:
    client = aio_kms(WEST)
    generator = aio.AwsKmsKeyring(kms_keys.single_arn, client=client)
    children = [aio.AwsKmsKeyring(arn, client=client) for arn in (kms_keys.other_arn, kms_keys.mrk_west_arn)]
    started: list[str] = []
    both = asyncio.Event()

    async def held(params: dict[str, Any], **_: Any) -> None:
        started.append(params["KeyId"])
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 5)  # the first Encrypt goes on only once the second began

    client.meta.events.register("before-parameter-build.kms.Encrypt", held)
    multi = aio.AsyncMultiKeyring(generator=generator, children=children)
    message = await aio.encrypt(b"to three keys", keyring=multi, encryption_context=CONTEXT)
    client.meta.events.unregister("before-parameter-build.kms.Encrypt", held)

    assert sorted(started) == sorted(child.key_id for child in children)
    for arn in (kms_keys.single_arn, kms_keys.other_arn, kms_keys.mrk_west_arn):
        alone = aio.AwsKmsKeyring(arn, client=client)
        assert (await aio.decrypt(message, keyring=alone, encryption_context=CONTEXT)).plaintext == b"to three keys"
        sync = aws_kms.AwsKmsKeyring(arn, client=moto_server.client("kms", WEST))
        assert busta.decrypt(message, keyring=sync).plaintext == b"to three keys"
