"""CI's short run of the decryption fuzzer (``python -m fuzzing``).

Proves that the fuzzer runs end to end (seed corpus, instrumented target, libFuzzer
budget), that its summary counts the inputs the target really executed, that no
input of a short run breaks the contract, and that an input which does break it
(a valid message whose plaintext is not a seed plaintext) is reported as a finding,
written as an artifact and turned into a failing exit status.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import busta
from busta.keyrings import MultiKeyring
from busta.limits import MAX_KMS_REGIONS_PER_DECRYPT
from fuzzing import seeds
from fuzzing.kms import ForgedKmsKeys, forged_arns

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3000
SUMMARY = re.compile(r"^fuzzing: (\d+) inputs in .* findings=(\d+)$", re.MULTILINE)


def _fuzz(*args: str) -> tuple[subprocess.CompletedProcess[str], int, int]:
    done = subprocess.run(
        [sys.executable, "-m", "fuzzing", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    summary = SUMMARY.search(done.stdout)
    assert summary is not None, done.stdout + done.stderr[-3000:]
    return done, int(summary[1]), int(summary[2])


def test_a_short_fuzz_run_executes_every_requested_input_and_finds_nothing(tmp_path: Path) -> None:
    done, executions, findings = _fuzz("--runs", str(RUNS), "--artifacts", str(tmp_path / "artifacts"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert executions == RUNS  # counted by the target itself, seeds included
    assert findings == 0
    assert f"Done {RUNS} runs" in done.stderr  # libFuzzer agrees
    assert not (tmp_path / "artifacts").exists()  # an empty artifact directory is removed


def test_a_message_that_decrypts_to_an_unknown_plaintext_is_a_finding(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    foreign = seeds.plaintexts(2)[37]
    assert foreign not in seeds.plaintexts(1).values()
    corpus.mkdir()
    (corpus / "foreign").write_bytes(seeds.nonframed_message(foreign, seeds.SUITES[0]))
    artifacts = tmp_path / "artifacts"
    done, _, findings = _fuzz("--runs", "200", "--seed", "1", "--corpus", str(corpus), "--artifacts", str(artifacts))
    assert done.returncode == 1
    assert findings == 1
    assert "ContractViolation: one-shot decrypt returned 37 bytes" in done.stdout + done.stderr
    [artifact] = artifacts.iterdir()
    assert artifact.name.startswith("crash-")
    assert artifact.read_bytes() == (corpus / "foreign").read_bytes()


def test_forged_kms_data_keys_in_sixty_regions_cause_at_most_the_limit_of_clients(tmp_path: Path) -> None:
    """The target decrypts with an offline KMS discovery keyring first: the ARNs of aws-kms data keys are
    parsed and their regions may cause clients, at most MAX_KMS_REGIONS_PER_DECRYPT per input (a finding
    beyond that); a message naming 60 regions, then the raw AES key, is no finding."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    forged = ForgedKmsKeys(forged_arns(60), first=True)
    message = busta.encrypt(seeds.plaintexts(1)[100], keyring=MultiKeyring(generator=seeds.KEYRING, children=[forged]))
    (corpus / "sixty-regions").write_bytes(message)
    runs = seeds.write_corpus(tmp_path / "count", 1) + 1  # every seed and the forged message, once
    done = subprocess.run(
        [sys.executable, "-m", "fuzzing", "--runs", str(runs), "--corpus", str(corpus), "--max-len", "16384"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    clients = re.search(r", (\d+) KMS clients, ", done.stdout)
    assert clients is not None, done.stdout
    assert int(clients[1]) == MAX_KMS_REGIONS_PER_DECRYPT  # the seeds' own regions were made at warm-up
