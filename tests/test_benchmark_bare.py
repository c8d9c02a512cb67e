"""The benchmark's bare loops do the work they stand for, and target 2's rows pick the worst point.

No timing here: ``python -m benchmarks --quick`` (scripts/test) runs the measurements themselves.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

import busta
from benchmarks._bare import FRESH_BYTES, BareFrames, BareSmallMessage, bare_sha384, split
from benchmarks._common import Bench
from benchmarks.sweeps import CONFIRM_ROUNDS, Point, _confirmed, defaults_rows, write_points
from benchmarks.targets18 import fixed_cost
from busta import AlgorithmSuite
from busta._secrets import SecretBytes
from busta.context import serialize_context
from busta.crypto.kdf import derive_keys
from busta.keyrings import RawAesKeyring

FRAME = 4096


def _pair(length: int, threads: int) -> tuple[BareFrames, BareFrames]:
    data = memoryview(os.urandom(length))
    one, many = BareFrames(FRAME, data, 1), BareFrames(FRAME, data, threads)
    many.aead, many.aad = one.aead, one.aad  # the same key: the same sealed bytes
    one.encrypt()
    many.encrypt()
    return one, many


@pytest.mark.parametrize("frames", [0, 1, 2, 3, 7, 64])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_covers_every_frame_once_in_order(frames: int, threads: int) -> None:
    parts = split(frames, threads)
    assert parts[0][0] == 0 and parts[-1][1] == frames
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    assert len(parts) == max(1, min(threads, frames))


@pytest.mark.parametrize("length", [1, FRAME - 1, FRAME, FRAME + 1, 5 * FRAME + 17])
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_seal_the_same_bytes_and_open_them(length: int, threads: int) -> None:
    one, many = _pair(length, threads)
    assert many.out == one.out
    assert bytes(many.decrypt()) == bytes(one.data)
    assert bytes(many.decrypt(fresh=True)) == bytes(one.data)
    assert bytes(many.encrypt(fresh=True)) == bytes(one.out)


def test_fresh_buffers_from_the_threshold_on_are_new_mappings() -> None:
    bare = BareFrames(1 << 20, memoryview(bytes(FRESH_BYTES)), 2)
    sealed = bare.encrypt(fresh=True)
    assert sealed is not bare.out and bytes(sealed) == bytes(bare.out)
    opened = bare.decrypt(fresh=True)
    assert opened is not bare.plain and bytes(opened) == bytes(FRESH_BYTES)


@pytest.mark.parametrize("length", [1, FRAME, 3 * FRAME + 5, (2 << 20) + FRAME + 1])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_streaming_loops_write_the_in_memory_layout_and_read_it_back(length: int, threads: int) -> None:
    one, many = _pair(length, threads)
    sealed = io.BytesIO()
    many.stream_encrypt(io.BytesIO(bytes(one.data)), sealed)
    assert sealed.getvalue() == bytes(one.out)
    opened = io.BytesIO()
    many.stream_decrypt(io.BytesIO(sealed.getvalue()), opened)
    assert opened.getvalue() == bytes(one.data)


def test_bare_sha384_is_sha384() -> None:

    data = os.urandom(9 << 20)
    assert bare_sha384(data) == hashlib.sha384(data).digest()


SMALL_CONTEXT = {"purpose": "benchmark", "tenant": "example-tenant-0001"}


def _floor(length: int) -> BareSmallMessage:
    return BareSmallMessage(serialize_context(SMALL_CONTEXT), b"bench", b"aes-key", length)


@pytest.mark.parametrize("length", [0, 1, 1024, 4000])
def test_the_small_message_floor_writes_a_message_of_busta_s_size_and_opens_it(length: int) -> None:
    data = os.urandom(length)
    keyring = RawAesKeyring("bench", "aes-key", os.urandom(32))
    ours = busta.encrypt(data, keyring=keyring, algorithm=0x0478, encryption_context=SMALL_CONTEXT)
    floor = _floor(length)
    message = floor.encrypt(data)
    assert len(message) == len(ours)
    assert floor.decrypt(message) == data


def test_the_small_message_floor_derives_the_keys_busta_derives() -> None:
    floor = _floor(1)
    for _ in range(8):
        data_key, message_id = os.urandom(32), os.urandom(32)
        aead, commitment = floor._keys(data_key, message_id)
        theirs = derive_keys(AlgorithmSuite(0x0478), SecretBytes(data_key), message_id)
        assert commitment == theirs.commitment
        assert aead.encrypt(bytes(12), b"probe", b"") == theirs.aead.encrypt(bytes(12), b"probe", b"")


def test_the_small_message_floor_authenticates_its_header_and_its_frame() -> None:
    floor = _floor(64)
    message = floor.encrypt(os.urandom(64))
    frame_head = range(floor.header_length + 16, floor.header_length + 16 + 24)  # parsed by busta, not sealed
    for at in (i for i in range(len(message)) if i not in frame_head):
        altered = bytearray(message)
        altered[at] ^= 1
        with pytest.raises((InvalidTag, ValueError)):
            floor.decrypt(bytes(altered))


def _point(x: int, enc: float, dec: float) -> Point:
    return Point(x, {"one": 1.0, "default": enc, "bare1": 2.0}, {"one": 1.0, "default": dec, "bare1": 2.0})


def test_target_2_rows_report_the_worst_point(tmp_path: Path) -> None:
    frames = [_point(1024, 0.99, 1.2), _point(65536, 1.5, 0.9)]
    sizes = [_point(1024, 0.97, 1.0)]
    signed = [("64 KiB frames", _point(1 << 20, 1.0, 0.96))]
    rows = {row.what: row for row in defaults_rows(frames, sizes, signed)}
    assert rows["encrypt, worst of 2 frame lengths (at 1 KiB)"].value == pytest.approx(0.99)
    assert rows["decrypt, worst of 2 frame lengths (at 64 KiB)"].value == pytest.approx(0.9)
    assert rows["0x0578 decrypt, worst of 1 (at 64 KiB frames)"].goal == 0.95
    assert rows["decrypt, worst of 2 frame lengths, first pass (at 64 KiB)"].goal is None

    write_points(frames, tmp_path / "sweep.csv", "frame_length")
    header, first, _ = (tmp_path / "sweep.csv").read_text().splitlines()
    assert header.startswith("frame_length,encrypt_bare1_gbps,encrypt_one_gbps,encrypt_default_gbps")
    assert first.endswith(",0.9900,1.2000,,")


def test_target_2_rows_take_a_point_measured_again_and_show_the_first_pass_beside() -> None:
    frames = [_point(1024, 0.8, 1.0), _point(65536, 0.97, 1.0)]
    frames[0] = Point(frames[0].x, frames[0].enc, frames[0].dec, again={"enc": 1.01})
    rows = {row.what: row for row in defaults_rows(frames, [], [])}
    assert rows["encrypt, worst of 2 frame lengths (at 64 KiB)"].value == pytest.approx(0.97)
    assert rows["encrypt, worst of 2 frame lengths, first pass (at 1 KiB)"].value == pytest.approx(0.8)


def test_a_point_below_the_goal_is_measured_again_in_that_direction_alone() -> None:
    """The worst of many noisy ratios is low by chance: a point below the goal is timed again, default
    threads and threads=1 alone, in more rounds, and its ratio is the one measured again."""
    calls: list[str] = []

    def run(name: str, seconds: float) -> Callable[[], object]:
        def go() -> None:
            calls.append(name)
            time.sleep(seconds)

        return go

    runs: dict[str, Callable[[], object]] = {
        "enc one": run("enc one", 0.003),
        "enc default": run("enc default", 0),
        "dec one": run("dec one", 0),
        "dec default": run("dec default", 0),
        "enc bare1": run("enc bare1", 0),
    }
    point = _confirmed(_point(1024, 0.8, 1.2), runs, repeats=2)
    assert set(point.again) == {"enc"} and point.ratio("dec") == pytest.approx(1.2)
    assert point.ratio("enc") > 1.5 and point.first_ratio("enc") == pytest.approx(0.8)
    assert calls.count("enc one") == calls.count("enc default") == 1 + 2 * CONFIRM_ROUNDS
    assert {"dec one", "dec default", "enc bare1"}.isdisjoint(calls)  # that direction met the goal; bare lines never
    assert _confirmed(_point(1024, 1.0, 0.96), runs, repeats=2).again == {}


def test_the_fixed_cost_rows_time_each_call_after_a_bare_pass_and_again_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The floor's encrypt is made slow only when it follows a bare pass: its cold row must show that
    delay and its warm row must not, so each row times the call it names."""
    steps: list[str] = []
    seal_frames, seal_floor = BareFrames.encrypt, BareSmallMessage.encrypt
    delay = 0.02

    def pass_(self: BareFrames, *, fresh: bool = False) -> object:
        steps.append("pass")
        return seal_frames(self, fresh=fresh)

    def floor(self: BareSmallMessage, data: bytes) -> bytes:
        if steps and steps[-1] == "pass":
            time.sleep(delay)
        steps.append("floor")
        return seal_floor(self, data)

    monkeypatch.setattr(BareFrames, "encrypt", pass_)
    monkeypatch.setattr(BareSmallMessage, "encrypt", floor)
    rows = {row.what: row.value for row in fixed_cost(Bench(2 << 20), rounds=2)}
    assert rows["the bare 1-thread pass before each call (2 MiB, 1 MiB frames)"] > 0
    assert rows["1 KiB the bare floor's encrypt right after that pass (cold caches)"] >= delay * 1e6
    assert rows["1 KiB the bare floor's encrypt, warm (right after itself)"] < delay * 1e6
    for call in ("busta.encrypt", "busta.decrypt", "the bare floor's decrypt"):
        assert rows[f"1 KiB {call} right after that pass (cold caches)"] > 0
        assert rows[f"1 KiB {call}, warm (right after itself)"] > 0
    timed = "".join("P" if step == "pass" else "F" for step in steps)
    assert timed.count("PFFF") == 2  # per round: the pass, the cold call, one untimed call, the warm one
