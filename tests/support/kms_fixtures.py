"""pytest fixtures: a moto server process and a set of KMS keys in it.

Import the fixtures by name into a conftest or test module::

    from .support.kms_fixtures import kms_keys, moto_server

Both are module-scoped: each test module gets its own server and keys. A test
that calls ``moto_server.reset()`` drops the keys for the rest of its module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .moto_server import MotoServer

WEST = "us-west-2"
EAST = "us-east-1"


@dataclass(frozen=True)
class KmsKeys:
    """Key ARNs made in the moto server, with the account and partition they live in."""

    single_arn: str  # symmetric single-Region key, us-west-2
    other_arn: str  # a second symmetric single-Region key, us-west-2
    mrk_west_arn: str  # multi-Region primary key, us-west-2
    mrk_east_arn: str  # its replica in us-east-1 (same key id and key material)
    east_single_arn: str  # symmetric single-Region key, us-east-1
    account_id: str
    partition: str


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def kms_keys(moto_server: MotoServer) -> KmsKeys:
    west = moto_server.client("kms", WEST)
    east = moto_server.client("kms", EAST)

    def create(client: Any, **kwargs: Any) -> str:
        metadata = client.create_key(Description="busta test key", **kwargs)["KeyMetadata"]
        arn: str = metadata["Arn"]
        return arn

    single_arn = create(west)
    other_arn = create(west)
    mrk_west_arn = create(west, MultiRegion=True)
    replica = west.replicate_key(KeyId=mrk_west_arn, ReplicaRegion=EAST)["ReplicaKeyMetadata"]
    mrk_east_arn: str = replica["Arn"]
    east_single_arn = create(east)

    partition, _, _, account_id = single_arn.split(":")[1:5]
    return KmsKeys(
        single_arn=single_arn,
        other_arn=other_arn,
        mrk_west_arn=mrk_west_arn,
        mrk_east_arn=mrk_east_arn,
        east_single_arn=east_single_arn,
        account_id=account_id,
        partition=partition,
    )
