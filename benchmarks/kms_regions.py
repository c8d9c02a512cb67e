"""Issue 14 item 3: what a message of 60 forged KMS data keys, each in its own region, costs to decrypt.

``python -m benchmarks.kms_regions [--root DIR]`` prints the row; ``--root`` measures another
checkout of busta (the commit before the fix, say) with the same script.

A fresh process makes one KMS client (as an application that uses KMS has), then decrypts a
message whose 60 ``aws-kms`` data keys name 60 distinct, syntactically valid regions of one
account, with a discovery keyring over a :class:`ClientCache`. The row reports the RSS the
decryption added (VmRSS after minus before, after a garbage collection) and its wall time.
Every client points at a moto server on 127.0.0.1 (which answers a Decrypt in an unknown
region with an error): nothing leaves the machine. Goal: under 20 MiB and 1 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from .suite import Row

FORGED_REGIONS = 60

_SCRIPT = """
import gc, os, sys, time
import botocore.config
import busta
from busta.errors import NoDecryptingKeyError
from busta.format import EncryptedDataKey
from busta.keyrings import AwsKmsDiscoveryKeyring, ClientCache, MultiKeyring, RawAesKeyring

def rss_mib():
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmRSS")).split()[1]) / 1024

class Forged:
    performs_io = False
    def __init__(self, arns):
        self.arns = arns
    def on_encrypt(self, materials):
        edks = tuple(EncryptedDataKey("aws-kms", a.encode(), os.urandom(48)) for a in self.arns)
        return materials.with_encrypted_data_keys(materials.encrypted_data_keys + edks)
    def on_decrypt(self, materials, edks):
        raise NoDecryptingKeyError("forged")

endpoint, count = sys.argv[1], int(sys.argv[2])
letters = "abcdefghijklmnopqrstuvwxyz"
arns = [f"arn:aws:kms:us-forged{letters[i // 26]}{letters[i % 26]}-1:123456789012:key/{os.urandom(16).hex()}"
        for i in range(count)]
aes = RawAesKeyring("bench", "aes", bytes(32))
message = busta.encrypt(b"forged", keyring=MultiKeyring(generator=aes, children=[Forged(arns)]))
config = botocore.config.Config(proxies={}, retries={"mode": "standard", "total_max_attempts": 1})
cache = ClientCache(endpoint_url=endpoint, config=config)
cache("us-west-2").list_keys()  # the process has made (and used) one KMS client
keyring = AwsKmsDiscoveryKeyring(client_supplier=cache)
gc.collect()
before = rss_mib()
start = time.perf_counter()
try:
    busta.decrypt(message, keyring=keyring)
    raise SystemExit("a forged message decrypted")
except NoDecryptingKeyError as exc:
    tried = sum("KMS decrypt" in reason for reason in exc.reasons)
seconds = time.perf_counter() - start
gc.collect()
print(rss_mib() - before, seconds, tried, len(message))
"""


def measure(root: Path, endpoint: str) -> tuple[float, float, int, int]:
    """(MiB added, seconds, KMS calls made, message bytes) for the checkout at ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        PYTHONPATH=str(root),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, endpoint, str(FORGED_REGIONS)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    mib, seconds, calls, size = done.stdout.split()
    return float(mib), float(seconds), int(calls), int(size)


def forged_regions_rows(root: Path | None = None) -> list[Row]:
    from tests.support.moto_server import MotoServer  # noqa: PLC0415 - starts a server process

    here = root or Path(__file__).resolve().parents[1]
    with MotoServer() as server:
        mib, seconds, calls, size = measure(here, server.endpoint)
    label = f"decrypt {size} B message, {FORGED_REGIONS} forged KMS regions ({calls} KMS calls)"
    return [
        Row("14.3 KMS", f"{label}: RSS added", mib, None, "MiB (goal < 20)"),
        Row("14.3 KMS", f"{label}: wall time", seconds * 1000, None, "ms (goal < 1000)"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kms_regions", description=__doc__)
    parser.add_argument("--root", type=Path, help="the busta checkout to measure (default: this one)")
    args = parser.parse_args(argv)
    from .suite import format_table  # noqa: PLC0415

    print(format_table(forged_regions_rows(args.root), verdicts=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
