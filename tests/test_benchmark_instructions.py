"""The instruction counts of ``python -m benchmarks.instructions``: each case is the call it names, and
a count is the difference of two processes run under callgrind (valgrind is on every machine of this
kind; a machine without it fails here, with the command that installs it)."""

from __future__ import annotations

import pytest

from benchmarks.instructions import CASES, _calls, count, instruction_rows
from busta import DecryptResult
from busta.crypto.kdf import DerivedKeys


def test_each_case_makes_the_call_it_names() -> None:
    opened, floor_opened = _calls("decrypt")(), _calls("floor-decrypt")()
    assert isinstance(opened, DecryptResult) and isinstance(floor_opened, bytes)
    assert len(opened.plaintext) == len(floor_opened) == 1024
    sealed, floor_sealed = _calls("encrypt")(), _calls("floor-encrypt")()
    assert isinstance(sealed, bytes) and isinstance(floor_sealed, bytes) and len(sealed) == len(floor_sealed)
    derived = _calls("derive-keys")()
    assert isinstance(derived, DerivedKeys) and len(derived.commitment) == 32
    for case in CASES:  # every case the command line counts has a call
        assert _calls(case)() is not None


def test_the_floor_counts_its_key_derivation_and_more() -> None:
    # 300 calls: the two processes of a count differ by some 200,000 instructions besides the calls
    # (the allocator, the collector), which over 20 calls once moved a count by 10,000 (CI, 2026-12-04)
    rows = {row.what: row.value for row in instruction_rows(300, ("floor-encrypt", "derive-keys"))}
    derive = rows["1 KiB derive-keys: instructions per call"]
    floor = rows["1 KiB floor-encrypt: instructions per call"]
    assert 10_000 < derive < floor < 1_000_000


def test_a_process_that_fails_is_an_error_not_a_count() -> None:
    with pytest.raises(RuntimeError, match="callgrind of 'no-such-case' failed"):
        count("no-such-case", 1)
