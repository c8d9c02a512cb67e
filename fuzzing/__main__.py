"""Fuzz decryption: ``python -m fuzzing [--seconds N | --runs N] [--corpus DIR] [--seed S]``.

Writes the seed corpus (into ``--corpus``, else a temporary directory), runs the
libFuzzer target in a child process with a time or run budget, hang detection
(``--timeout``), an RSS limit and a per-input allocation limit, and prints one
summary line from the target's own execution count. Crash, timeout and OOM
inputs are written to ``--artifacts``. Exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import COUNTER, seeds

#: Tokens libFuzzer may splice in: versions and types, suite ids, the final-frame marker, the key field,
#: and the pieces of KMS key ARNs (provider id, partitions, regions, accounts, key and alias ids).
DICTIONARY = [
    b"\x01\x80",
    b"\x02",
    *(suite.id.to_bytes(2, "big") for suite in seeds.SUITES),
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00\x0c",
    b"aws-crypto-public-key",
    b"aws-raw-vendor",
    b"aws-kms",
    b"arn:aws:kms:",
    b"arn:aws-cn:kms:cn-north-1:",
    b":111122223333:key/",
    b"alias/",
    b"mrk-",
    b"us-west-2",
    b"us-gov-",
]
ARTIFACT_PREFIXES = ("crash-", "timeout-", "oom-", "leak-", "slow-unit-")
#: The repository root: the child runs there, so ``fuzzing`` imports whatever the caller's directory.
ROOT = Path(__file__).resolve().parent.parent


def _dictionary_file(path: Path) -> Path:
    """Write :data:`DICTIONARY` in libFuzzer's format (one quoted, hex-escaped token a line)."""
    lines = ('"' + "".join(f"\\x{byte:02x}" for byte in token) + '"\n' for token in DICTIONARY)
    path.write_text("".join(lines))
    return path


def _artifacts(directory: Path) -> set[Path]:
    return {p for p in directory.iterdir() if p.name.startswith(ARTIFACT_PREFIXES)}


def _libfuzzer_flags(args: argparse.Namespace, work: Path) -> list[str]:
    budget = f"-runs={args.runs}" if args.runs is not None else f"-max_total_time={args.seconds or 60}"
    return [
        budget,
        f"-seed={args.seed}",
        f"-max_len={args.max_len}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-dict={_dictionary_file(work / 'busta.dict')}",
        f"-artifact_prefix={args.artifacts}/",
    ]


def _run(command: list[str]) -> tuple[int, bool]:
    """Run the fuzzer child to its end; return its exit status and whether it was interrupted (Ctrl-C)."""
    child = subprocess.Popen(command, cwd=ROOT)
    try:
        return child.wait(), False
    except KeyboardInterrupt:  # the child got the SIGINT too: libFuzzer stops and exits
        return child.wait(), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzing", description=__doc__)
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=int, help="fuzz for this long (default 60)")
    budget.add_argument("--runs", type=int, help="fuzz this many inputs, seeds included")
    parser.add_argument("--corpus", type=Path, help="corpus directory to seed and grow (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the plaintexts and libFuzzer (default 1)")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "fuzzing" / "artifacts", help="where findings go")
    parser.add_argument("--max-len", type=int, default=4096, help="largest input in bytes (default 4096)")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    parser.add_argument("--rss-limit-mb", type=int, default=1024, help="process RSS limit (default 1024)")
    parser.add_argument(
        "--alloc-limit-mib", type=int, default=4, help="MiB one input may allocate (default 4; 0: unchecked, faster)"
    )
    args = parser.parse_args(argv)
    args.artifacts = args.artifacts.resolve()
    args.artifacts.mkdir(parents=True, exist_ok=True)
    before = _artifacts(args.artifacts)
    with tempfile.TemporaryDirectory(prefix="busta-fuzz-") as scratch:
        work = Path(scratch)
        corpus = (args.corpus or work / "corpus").resolve()
        seeded = seeds.write_corpus(corpus, args.seed)
        corpus_size = sum(1 for _ in corpus.iterdir())
        counter = work / "counter"
        counter.write_bytes(bytes(COUNTER.size))
        target = [f"--counter={counter}", f"--seed={args.seed}", f"--alloc-limit={args.alloc_limit_mib << 20}"]
        command = [sys.executable, "-m", "fuzzing.target", *target, "--", *_libfuzzer_flags(args, work), str(corpus)]
        started = time.monotonic()
        returncode, interrupted = _run(command)
        seconds = time.monotonic() - started
        executions, peak, clients = COUNTER.unpack(counter.read_bytes())
        grown = sum(1 for _ in corpus.iterdir()) - corpus_size
    found = sorted(_artifacts(args.artifacts) - before)
    findings = len(found) or int(returncode != 0 and not interrupted)
    if not any(args.artifacts.iterdir()):
        args.artifacts.rmdir()
    allocation = f"{peak / 1024:.0f} KiB" if args.alloc_limit_mib else "unchecked"
    print(
        f"fuzzing: {executions} inputs in {seconds:.1f} s ({executions / seconds:.0f}/s), "
        f"{seeded} seeds + {grown} new corpus inputs, largest allocation peak {allocation}, {clients} KMS clients, "
        f"exit status {returncode}{' (interrupted)' if interrupted else ''}, findings={findings}"
    )
    for path in found:
        print(f"finding: {path}")
    if findings:
        return 1
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
