"""The libFuzzer target: ``python -m fuzzing.target [options] -- LIBFUZZER-ARGS``.

Inputs are decrypted with an offline KMS discovery keyring (:mod:`fuzzing.kms`)
in front of the seeds' raw AES key, so the provider info of every ``aws-kms``
data key (ARN fields, partitions, regions, lengths) is parsed and checked, and
the KMS clients each input causes are counted (at most
:data:`~busta.limits.MAX_KMS_REGIONS_PER_DECRYPT`, all in valid regions).

Run by ``python -m fuzzing`` in a child process: libFuzzer ends the process
itself (``exit`` when done, or after writing a crash artifact), so the parent
keeps the bookkeeping. The target counts its executions and its largest
allocation peak in a small shared file (``--counter``) that the parent reads
afterwards, whatever way the child ended.
"""

from __future__ import annotations

import argparse
import io
import mmap
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["busta"]):
    import busta
    import busta.keyrings.aws_kms  # imported on first use otherwise, after instrumentation
    from busta.errors import BustaError, UsageError
    from busta.keyrings import MultiKeyring
    from busta.keyrings._arn import is_region
    from busta.limits import MAX_KMS_REGIONS_PER_DECRYPT

from . import COUNTER, kms, seeds

#: Decrypts every input: the offline KMS discovery keyring reads every aws-kms data key's ARN first
#: (before the header is authenticated), then the seeds' raw AES key.
KMS_KEYRING, KMS_CLIENTS = kms.offline_kms_keyring()
KEYRING = kms.InOrder(KMS_KEYRING, seeds.KEYRING)
CLIENT = busta.Client(commitment_policy=seeds.DECRYPT_POLICY)


def _warm_up() -> None:
    """Load botocore's KMS model and endpoint rules once (about 9 MB), as an application's first
    KMS client would, so that the per-input allocation limit measures what an input causes."""
    writer = MultiKeyring(generator=seeds.KEYRING, children=[kms.ForgedKmsKeys(kms.SEED_ARNS)])
    busta.decrypt(busta.encrypt(b"warm", keyring=writer), keyring=KEYRING)


class ContractViolation(AssertionError):
    """An input broke the decryption contract (see :mod:`fuzzing`)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one decryption of an input gave: the plaintext, or the error and what was released before it."""

    plaintext: bytes | None
    released: bytes
    error: BustaError | None


def decrypt_one_shot(data: bytes) -> Outcome:
    try:
        plaintext = CLIENT.decrypt(data, keyring=KEYRING).plaintext
    except BustaError as exc:
        return Outcome(None, b"", exc)
    return Outcome(plaintext, plaintext, None)


def decrypt_streaming(data: bytes, read_size: int, step: int) -> Outcome:
    released = bytearray()
    try:
        reader = CLIENT.decrypting_reader(io.BytesIO(data), keyring=KEYRING, read_size=read_size)
        while piece := reader.read(step):
            released += piece
    except BustaError as exc:
        return Outcome(None, bytes(released), exc)
    return Outcome(bytes(released), bytes(released), None)


class Target:
    """Decrypts each input both ways and raises :class:`ContractViolation` when the contract breaks."""

    def __init__(self, seed: int, counter: mmap.mmap, alloc_limit: int):
        self.accepted = frozenset(seeds.plaintexts(seed).values())
        self.counter = counter
        self.alloc_limit = alloc_limit
        self.executions = 0
        self.warm_clients = len(KMS_CLIENTS.regions)
        self.peak = 0

    def __call__(self, data: bytes) -> None:
        before = peak = 0
        clients = len(KMS_CLIENTS.regions)
        if self.alloc_limit:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        one_shot = decrypt_one_shot(data)
        streamed = decrypt_streaming(data, read_size=1 + len(data) % 53, step=1 + len(data) % 7)
        if self.alloc_limit:
            peak = tracemalloc.get_traced_memory()[1] - before
            self.peak = max(self.peak, peak)
        self.executions += 1
        COUNTER.pack_into(self.counter, 0, self.executions, self.peak, len(KMS_CLIENTS.regions) - self.warm_clients)
        self.check_clients(KMS_CLIENTS.regions[clients:])
        self.check(one_shot, "one-shot decrypt")
        self.check(streamed, "streaming decrypt")
        if (one_shot.error is None) != (streamed.error is None) or one_shot.plaintext != streamed.plaintext:
            raise ContractViolation(f"one-shot and streaming disagree: {one_shot.error!r} vs {streamed.error!r}")
        if self.alloc_limit and peak > self.alloc_limit:
            raise ContractViolation(f"decrypting a {len(data)}-byte input allocated {peak} bytes at its peak")

    @staticmethod
    def check_clients(made: list[str]) -> None:
        """The data keys of one input may cause clients in a few valid regions, never more."""
        if len(made) > MAX_KMS_REGIONS_PER_DECRYPT:
            raise ContractViolation(f"one input made {len(made)} KMS clients")
        if not all(is_region(region) for region in made):
            raise ContractViolation(f"a KMS client was made for an invalid region in {made!r:.200}")

    def check(self, outcome: Outcome, how: str) -> None:
        if isinstance(outcome.error, UsageError):
            raise ContractViolation(f"{how} blamed the caller for bad input") from outcome.error
        if outcome.plaintext is not None and outcome.plaintext not in self.accepted:
            raise ContractViolation(f"{how} returned {len(outcome.plaintext)} bytes that were never encrypted")
        if not any(text.startswith(outcome.released) for text in self.accepted):
            raise ContractViolation(f"{how} released {len(outcome.released)} bytes that were never encrypted")


def main(argv: list[str] | None = None) -> None:
    """Parse our options (before ``--``), then hand the rest to libFuzzer; never returns."""
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(prog="python -m fuzzing.target")
    parser.add_argument("--counter", type=Path, required=True, help="shared file for the execution count")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alloc-limit", type=int, default=0, help="bytes one input may allocate (0: unchecked)")
    options = parser.parse_args(args[:split])
    with options.counter.open("r+b") as file:
        counter = mmap.mmap(file.fileno(), COUNTER.size)
    _warm_up()
    target = Target(options.seed, counter, options.alloc_limit)
    if options.alloc_limit:
        tracemalloc.start()
    atheris.Setup([sys.argv[0], *args[split + 1 :]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
