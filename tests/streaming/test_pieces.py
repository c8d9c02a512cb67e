"""A split run is taken in pieces by whichever of its threads is free (issue 18): a thread slowed down
leaves the rest of the run to the others instead of holding up the message, and once a piece fails
no thread takes another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from busta.streaming import workers
from busta.streaming.workers import Workers, split_run

FRAME = workers.PIECE_BYTES  # one frame a piece
FRAMES = 16  # a run that splits


@pytest.fixture
def two() -> Iterator[Workers]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield Workers(pool, 2)
    pool.shutdown()


def _here() -> bool:
    return threading.current_thread() is threading.main_thread()


def test_every_frame_is_taken_once_and_the_final_frame_last(two: Workers) -> None:
    taken: list[tuple[int, int]] = []
    finals: list[int] = []
    split_run(lambda a, b: taken.append((a, b)), FRAMES, FRAME, two, final=lambda: finals.append(len(taken)))
    assert sorted(taken) == [(a, a + 1) for a in range(FRAMES)]
    assert finals == [FRAMES]  # after every regular piece was handed out


def test_pieces_are_as_many_frames_as_fill_the_piece_size_and_the_last_may_be_short(two: Workers) -> None:
    taken: list[tuple[int, int]] = []
    frame = 64 * 1024
    split_run(lambda a, b: taken.append((a, b)), 200, frame, two)  # 12.5 MiB in 64 KiB frames
    per_piece = workers.PIECE_BYTES // frame
    assert sorted(taken) == [(a, min(a + per_piece, 200)) for a in range(0, 200, per_piece)]


def test_a_slowed_thread_leaves_the_rest_of_the_run_to_the_other(two: Workers) -> None:
    by_caller: list[int] = []
    by_worker: list[int] = []

    def part(a: int, b: int) -> None:
        if _here():
            by_caller.append(a)
        else:
            by_worker.append(a)
            time.sleep(0.5)  # the worker's vCPU taken away: the caller finishes the run meanwhile

    split_run(part, FRAMES, FRAME, two)
    assert sorted(by_caller + by_worker) == list(range(FRAMES))
    assert len(by_worker) <= 2 and len(by_caller) >= FRAMES - 2  # cut in halves, each would take 8


def test_once_a_piece_failed_no_thread_takes_another(two: Workers) -> None:
    ran: list[tuple[int, int]] = []
    worker_started, failed = threading.Event(), threading.Event()

    def part(a: int, b: int) -> None:
        ran.append((a, b))
        if _here():
            assert worker_started.wait(5)
            failed.set()
            raise ValueError("frame failed")
        worker_started.set()
        assert failed.wait(5)  # the worker's first piece ends after the caller's failed

    with pytest.raises(ValueError, match="frame failed"):
        split_run(part, FRAMES, FRAME, two)
    assert sum(b - a for a, b in ran) == 2  # one frame each; neither thread took another piece


def test_a_pool_busy_with_other_work_is_not_waited_for() -> None:
    pool = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    pool.submit(release.wait, 10)  # the pool's one thread is busy with another message
    taken: list[tuple[int, int]] = []
    try:
        start = time.monotonic()
        split_run(lambda a, b: taken.append((a, b)), FRAMES, FRAME, Workers(pool, 2))
        assert time.monotonic() - start < 5  # returned before the other work let the pool go
        assert sorted(taken) == [(a, a + 1) for a in range(FRAMES)]  # all of it on the calling thread
    finally:
        release.set()
        pool.shutdown()
