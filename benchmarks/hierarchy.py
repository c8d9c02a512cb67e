"""Issue 19: the AWS KMS hierarchical keyring with a warm cache against the KMS keyring without one.

``python -m benchmarks.hierarchy [--count N]`` prints the rows. One moto server on 127.0.0.1 serves
DynamoDB (the branch key store) and KMS. Each side encrypts and then decrypts N messages of 1 KiB,
one after the other on one thread (suite 0x0478):

- hierarchical: :class:`busta.keyrings.HierarchicalKeyring` on a :class:`BranchKeyStore`, TTL 600 s,
  its cache warmed by one message first (so the run makes no KMS call);
- KMS: :class:`busta.keyrings.AwsKmsKeyring`, one GenerateDataKey per encrypt, one Decrypt per decrypt.

Every KMS request either side sends is counted (a botocore ``before-call`` hook) and reported per
10,000 messages (encrypt and decrypt each). A cold hierarchical keyring costs 2 KMS calls (GetActive
and GetVersion each Decrypt one item) per branch key per TTL, whatever the number of messages.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import busta
from busta.keyrings import AwsKmsKeyring, HierarchicalKeyring
from busta.keyrings.branch_key_store import BranchKeyStore, KmsKeyArn

from .suite import Row

SUITE = busta.AlgorithmSuite.from_id(0x0478)
DATA = bytes(1024)
PER = 10_000


class _Counter:
    def __init__(self, client: Any) -> None:
        self.calls = 0
        client.meta.events.register("before-call.kms.*", self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


def _run(keyring: Any, count: int) -> float:
    """Seconds to encrypt ``count`` messages, then decrypt them."""
    began = time.perf_counter()
    messages = [busta.encrypt(DATA, keyring=keyring, algorithm=SUITE) for _ in range(count)]
    for message in messages:
        busta.decrypt(message, keyring=keyring)
    return time.perf_counter() - began


def hierarchy_rows(count: int) -> list[Row]:
    from tests.support.moto_server import MotoServer  # noqa: PLC0415 - starts a server process

    with MotoServer() as server:
        kms, ddb = server.client("kms"), server.client("dynamodb")
        arn = kms.create_key()["KeyMetadata"]["Arn"]
        store = BranchKeyStore("bench-branch-keys", "bench", KmsKeyArn(arn), ddb_client=ddb, kms_client=kms)
        store.create_key_store()
        hierarchical = HierarchicalKeyring(store, ttl_seconds=600, branch_key_id=store.create_key())
        kms_keyring = AwsKmsKeyring(arn, client=kms)
        counter = _Counter(kms)
        _run(hierarchical, 1)  # warm the cache (the 2 KMS calls of a cold keyring)
        counter.calls = 0
        warm = _run(hierarchical, count)
        warm_calls = counter.calls
        kms_count = max(1, count // 10)  # moto answers each KMS call slowly: a tenth of the messages do
        counter.calls = 0
        plain = _run(kms_keyring, kms_count)
        kms_calls = counter.calls
    label = f"1 KiB encrypt+decrypt, {SUITE.id:04x}"
    return [
        Row("19 hierarchy", f"{label}: hierarchical, warm cache ({count} msgs)", count / warm, None, "msgs/s"),
        Row("19 hierarchy", f"{label}: KMS keyring, no cache ({kms_count} msgs)", kms_count / plain, None, "msgs/s"),
        Row(
            "19 hierarchy", "KMS calls per 10,000 messages: hierarchical, warm", warm_calls * PER / count, None, "calls"
        ),
        Row("19 hierarchy", "KMS calls per 10,000 messages: KMS keyring", kms_calls * PER / kms_count, None, "calls"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hierarchy", description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="hierarchical messages (KMS keyring: a tenth)")
    args = parser.parse_args(argv)
    from .suite import format_table  # noqa: PLC0415

    print(format_table(hierarchy_rows(args.count), verdicts=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
