"""Issue 18's targets 1, 3, 4, 5 and 7: busta against a bare loop doing the same work, in the same run.

Every ratio is a median time of the bare loop over busta's (above 1: busta is the faster), the two
measured in alternation (``benchmarks._timing.interleaved``). The bare loops are in
``benchmarks._bare``; target 2 (default threads against one) comes from the sweeps
(``benchmarks.sweeps``).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import busta
from busta.context import serialize_context
from tests.support import oracle

from . import plots, sweeps
from ._bare import BareFrames, BareSmallMessage, bare_hash_beside, bare_sha384
from ._common import (
    DEFAULT_THREADS,
    NAME,
    NAMESPACE,
    SIGNED,
    UNSIGNED,
    Bench,
    Config,
    KiB,
    MiB,
    Row,
    _client,
    _gbps,
    _size,
    scratch_dir,
)
from ._timing import interleaved

#: The encryption context of the small-message rows: two pairs, as an application would pass.
CONTEXT = {"purpose": "benchmark", "tenant": "example-tenant-0001"}


def _threads(threads: int | None) -> str:
    return f"default threads ({DEFAULT_THREADS})" if threads is None else f"threads={threads}"


def _bare_threads(threads: int | None) -> int:
    return DEFAULT_THREADS if threads is None else threads


# -- in memory and streaming: targets 1 (threads=2 vs the bare 2-thread loop) and 3 (threads=1) ----------


def in_memory(bench: Bench, frame: int, threads: int, repeats: int, target: str, goal: float) -> list[Row]:
    """``Client(threads=N).encrypt`` / ``decrypt`` of the bench's plaintext against the bare N-thread loop
    into its reused buffer; with N > 1 also the bare N-thread loop against the bare 1-thread one."""
    client, keyring, data = _client(threads), bench.keyring, bench.data
    bare = BareFrames(frame, data, threads)
    message = client.encrypt(data, keyring=keyring, algorithm=UNSIGNED, frame_length=frame)
    runs: dict[str, Callable[[], object]] = {
        "bare_enc": bare.encrypt,
        "enc": lambda: client.encrypt(data, keyring=keyring, algorithm=UNSIGNED, frame_length=frame),
        "bare_dec": bare.decrypt,
        "dec": lambda: client.decrypt(message, keyring=keyring),
    }
    single = BareFrames(frame, data, 1) if threads > 1 else None
    if single is not None:
        runs |= {"single_enc": single.encrypt, "single_dec": single.decrypt}
    t = interleaved(runs, repeats)
    what = f"{_size(len(data))}, {_size(frame)} frames, threads={threads}"
    rows = [
        Row(target, f"encrypt {what} vs bare {threads}-thread", t.ratio("bare_enc", "enc"), goal, "x"),
        Row(target, f"decrypt {what} vs bare {threads}-thread", t.ratio("bare_dec", "dec"), goal, "x"),
        Row("info", f"busta encrypt {_size(frame)}, threads={threads}", _gbps(len(data), t["enc"]), None, "GB/s"),
        Row("info", f"busta decrypt {_size(frame)}, threads={threads}", _gbps(len(data), t["dec"]), None, "GB/s"),
    ]
    if single is not None:
        for verb, key in (("encrypt", "enc"), ("decrypt", "dec")):
            what = f"bare {verb} {_size(frame)}: {threads} threads vs 1"
            rows.append(Row("info", what, t.ratio(f"single_{key}", f"bare_{key}"), None, "x"))
    return rows


def _file_to_null(action: Callable[[IO[bytes], IO[bytes]], object], source: Path) -> Callable[[], None]:
    def go() -> None:
        with source.open("rb", buffering=0) as src, open(os.devnull, "wb", buffering=0) as dst:
            action(src, dst)

    return go


def streaming(bench: Bench, frame: int, threads: int, repeats: int, target: str, goal: float) -> list[Row]:
    """``Client(threads=N).encrypt_stream`` / ``decrypt_stream`` file to file (a file in /dev/shm to
    /dev/null) against the bare N-thread streaming loop (readinto, seal or open on N threads, write)."""
    client, keyring = _client(threads), bench.keyring
    bare = BareFrames(frame, bench.data, threads)
    with scratch_dir() as tmp:
        plain, sealed, bare_sealed = tmp / "plain", tmp / "sealed", tmp / "bare"
        plain.write_bytes(bench.data)
        with plain.open("rb", buffering=0) as src, sealed.open("wb", buffering=0) as dst:
            client.encrypt_stream(src, dst, keyring=keyring, algorithm=UNSIGNED, frame_length=frame)
        with plain.open("rb", buffering=0) as src, bare_sealed.open("wb", buffering=0) as dst:
            bare.stream_encrypt(src, dst)

        def enc(on: busta.Client) -> Callable[[IO[bytes], IO[bytes]], object]:
            return lambda src, dst: on.encrypt_stream(src, dst, keyring=keyring, algorithm=UNSIGNED, frame_length=frame)

        def dec(on: busta.Client) -> Callable[[IO[bytes], IO[bytes]], object]:
            return lambda src, dst: on.decrypt_stream(src, dst, keyring=keyring)

        runs: dict[str, Callable[[], object]] = {
            "bare_enc": _file_to_null(bare.stream_encrypt, plain),
            "enc": _file_to_null(enc(client), plain),
            "bare_dec": _file_to_null(bare.stream_decrypt, bare_sealed),
            "dec": _file_to_null(dec(client), sealed),
        }
        if threads > 1:  # and busta on one thread, in the same rounds: what splitting each step gives
            one = _client(1)
            runs |= {"enc1": _file_to_null(enc(one), plain), "dec1": _file_to_null(dec(one), sealed)}
        t = interleaved(runs, repeats)
    what = f"file->file {_size(frame)} frames, threads={threads}"
    rows = [
        Row(target, f"encrypt_stream {what} vs bare", t.ratio("bare_enc", "enc"), goal, "x"),
        Row(target, f"decrypt_stream {what} vs bare", t.ratio("bare_dec", "dec"), goal, "x"),
    ]
    if threads > 1:
        rows += [
            Row("info", f"encrypt_stream {what} vs threads=1", t.ratio("enc1", "enc"), None, "x"),
            Row("info", f"decrypt_stream {what} vs threads=1", t.ratio("dec1", "dec"), None, "x"),
        ]
    return rows


# -- target 4: large one-shot messages, and sealing into a buffer the caller reuses ---------------------


def _into_runs(bench: Bench, frame: int, threads: int | None, message: bytes) -> dict[str, Callable[[], object]]:
    """``encrypt_into`` / ``decrypt_into`` into a bytearray kept across calls."""
    client, keyring, data = _client(threads), bench.keyring, bench.data
    sealed, opened = bytearray(), bytearray()
    return {
        "into_enc": lambda: client.encrypt_into(data, sealed, keyring=keyring, algorithm=UNSIGNED, frame_length=frame),
        "into_dec": lambda: client.decrypt_into(message, opened, keyring=keyring),
    }


def large(bench: Bench, threads: int | None, repeats: int, frame: int = 64 * KiB) -> list[Row]:
    """One-shot ``encrypt`` / ``decrypt`` of a large message (fresh output each call) against the bare
    loop writing into a fresh buffer each call; ``encrypt_into`` / ``decrypt_into`` into a reused buffer
    against the bare loop into its reused buffer. Same thread count on both sides."""
    client, keyring, data = _client(threads), bench.keyring, bench.data
    bare = BareFrames(frame, data, _bare_threads(threads))
    message = client.encrypt(data, keyring=keyring, algorithm=UNSIGNED, frame_length=frame)
    runs: dict[str, Callable[[], object]] = {
        "bare_fresh_enc": lambda: bare.encrypt(fresh=True),
        "enc": lambda: client.encrypt(data, keyring=keyring, algorithm=UNSIGNED, frame_length=frame),
        "bare_fresh_dec": lambda: bare.decrypt(fresh=True),
        "dec": lambda: client.decrypt(message, keyring=keyring),
    }
    runs |= {"bare_enc": bare.encrypt, "bare_dec": bare.decrypt} | _into_runs(bench, frame, threads, message)
    t = interleaved(runs, repeats)
    size, how = _size(len(data)), _threads(threads)
    rows = [
        Row("18.4 large", f"encrypt {size}, {how} vs bare fresh buffer", t.ratio("bare_fresh_enc", "enc"), 0.9, "x"),
        Row("18.4 large", f"decrypt {size}, {how} vs bare fresh buffer", t.ratio("bare_fresh_dec", "dec"), 0.9, "x"),
    ]
    rows += [
        Row("18.4 large", f"encrypt_into {size}, {how} vs bare reused", t.ratio("bare_enc", "into_enc"), 0.9, "x"),
        Row("18.4 large", f"decrypt_into {size}, {how} vs bare reused", t.ratio("bare_dec", "into_dec"), 0.9, "x"),
        Row("info", f"bare fresh buffer vs reused, encrypt {size}", t.ratio("bare_enc", "bare_fresh_enc"), None, "x"),
    ]
    rows.append(Row("info", f"one-shot encrypt {size}, {how}", _gbps(len(data), t["enc"]), None, "GB/s"))
    return rows


# -- target 5: signed suites against bare SHA-384 over the same bytes ------------------------------------------


def signed(bench: Bench, frame: int, repeats: int) -> list[Row]:
    """0x0578 with default threads against ``hashlib.sha384`` over the message's bytes (what the
    signature hashes; the ECDSA sign or verify itself is about a millisecond on top); beside it the
    bare ceiling of two cores: the same hash with the frames' AES-GCM on the other thread at once."""
    client, keyring, data = _client(None), bench.keyring, bench.data
    message = client.encrypt(data, keyring=keyring, algorithm=SIGNED, frame_length=frame)
    frames = BareFrames(frame, data, 1)
    t = interleaved(
        {
            "sha": lambda: bare_sha384(message),
            "enc": lambda: client.encrypt(data, keyring=keyring, algorithm=SIGNED, frame_length=frame),
            "dec": lambda: client.decrypt(message, keyring=keyring),
            "sha_beside_enc": lambda: bare_hash_beside(frames, message, decrypt=False),
            "sha_beside_dec": lambda: bare_hash_beside(frames, message, decrypt=True),
        },
        repeats,
    )
    what = f"0x0578 {_size(len(data))}, {_size(frame)} frames"
    rows = [
        Row("18.5 signed", f"encrypt {what} vs bare SHA-384", t.ratio("sha", "enc"), 0.9, "x"),
        Row("18.5 signed", f"decrypt {what} vs bare SHA-384", t.ratio("sha", "dec"), 0.9, "x"),
        Row("info", f"bare SHA-384 over {_size(len(message))} message", _gbps(len(message), t["sha"]), None, "GB/s"),
    ]
    for verb, work, key in (("encrypt", "sealing", "enc"), ("decrypt", "opening", "dec")):
        ceiling = f"sha_beside_{key}"
        rows.append(
            Row(
                "info",
                f"bare SHA-384 with {work} beside it vs alone, {_size(frame)}",
                t.ratio("sha", ceiling),
                None,
                "x",
            )
        )
        rows.append(Row("info", f"{verb} {what} vs bare SHA-384 with {work} beside", t.ratio(ceiling, key), None, "x"))
    return rows


# -- target 7: 1 KiB messages as users call them -----------------------------------------------------------------


def small(count: int, with_official: bool) -> list[Row]:
    """``busta.encrypt`` / ``busta.decrypt`` of 1 KiB with no ``threads=`` (the default call), suite
    0x0478, a two-pair context, the raw AES keyring; beside it ``threads=1``, with and without the
    context, the official SDK's keyring API (a tenth as many calls), and the bare floor: the same
    message's cryptography alone (:class:`BareSmallMessage`), whose rate says how fast the machine
    was in the same rounds."""
    bench = Bench(KiB)
    keyring, data = bench.keyring, bytes(bench.data)
    message, floor, floor_message = _small_message(bench)
    bare_message = _client(1).encrypt(data, keyring=keyring, algorithm=UNSIGNED)

    def times(call: Callable[[], object], n: int = count) -> Callable[[], None]:
        def go() -> None:
            for _ in range(n):
                call()

        return go

    one = _client(1)
    runs: dict[str, Callable[[], object]] = {
        "enc": times(lambda: busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED, encryption_context=CONTEXT)),
        "dec": times(lambda: busta.decrypt(message, keyring=keyring)),
        "enc1": times(lambda: one.encrypt(data, keyring=keyring, algorithm=UNSIGNED, encryption_context=CONTEXT)),
        "dec1": times(lambda: one.decrypt(message, keyring=keyring)),
        "enc1_bare": times(lambda: one.encrypt(data, keyring=keyring, algorithm=UNSIGNED)),
        "dec1_bare": times(lambda: one.decrypt(bare_message, keyring=keyring)),
        "floor_enc": times(lambda: floor.encrypt(data)),
        "floor_dec": times(lambda: floor.decrypt(floor_message)),
    }
    few = max(1, count // 10)
    if with_official:
        keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
        theirs = oracle.official_encrypt(
            data, keys=keys, suite_id=UNSIGNED.id, frame_length=4096, encryption_context=CONTEXT
        )
        runs |= {
            "off_enc": times(
                lambda: oracle.official_encrypt(
                    data, keys=keys, suite_id=UNSIGNED.id, frame_length=4096, encryption_context=CONTEXT
                ),
                few,
            ),
            "off_dec": times(lambda: oracle.official_decrypt(theirs, keys=keys), few),
        }
    t = interleaved(runs, 7)  # medians of 7 rounds: a slow phase of this VM spans one or two
    rate = {name: count / seconds for name, seconds in t.items()}
    rows = [
        Row("18.7 small", "1 KiB busta.encrypt/s, default call (2-pair context)", rate["enc"], 20_000, "/s"),
        Row("18.7 small", "1 KiB busta.decrypt/s, default call", rate["dec"], 20_000, "/s"),
        Row("info", "1 KiB encrypts/s, threads=1, 2-pair context", rate["enc1"], None, "/s"),
        Row("info", "1 KiB decrypts/s, threads=1, 2-pair context", rate["dec1"], None, "/s"),
        Row("info", "1 KiB encrypts/s, threads=1, no context", rate["enc1_bare"], None, "/s"),
        Row("info", "1 KiB decrypts/s, threads=1, no context", rate["dec1_bare"], None, "/s"),
        Row("info", "1 KiB bare floor encrypts/s (the message's cryptography alone)", rate["floor_enc"], None, "/s"),
        Row("info", "1 KiB bare floor decrypts/s", rate["floor_dec"], None, "/s"),
        Row("info", "1 KiB default encrypt vs the bare floor (time ratio)", t.ratio("floor_enc", "enc"), None, "x"),
        Row("info", "1 KiB default decrypt vs the bare floor (time ratio)", t.ratio("floor_dec", "dec"), None, "x"),
    ]
    if with_official:
        for verb, key in (("encrypt", "enc"), ("decrypt", "dec")):
            what = f"1 KiB default {verb} vs official keyring API"
            rows.append(Row("info", what, (t[f"off_{key}"] / few) / (t[key] / count), None, "x"))
    return rows


def _small_message(bench: Bench) -> tuple[bytes, BareSmallMessage, bytes]:
    """The default call's message of the bench's plaintext (suite 0x0478, :data:`CONTEXT`), the bare floor
    of that message, and the floor's own message (as long as busta's, checked)."""
    data = bytes(bench.data)
    message = busta.encrypt(data, keyring=bench.keyring, algorithm=UNSIGNED, encryption_context=CONTEXT)
    floor = BareSmallMessage(serialize_context(CONTEXT), NAMESPACE.encode(), NAME.encode(), len(data))
    floor_message = floor.encrypt(data)
    assert len(floor_message) == len(message) and floor.decrypt(floor_message) == data
    return message, floor, floor_message


def fixed_cost(bench: Bench, rounds: int) -> list[Row]:
    """What a message costs besides its frames, as a loop of large messages pays it: the 1 KiB default call
    of target 7 and its bare floor, each timed right after the bare 1-thread loop sealed ``bench``'s
    plaintext at 1 MiB frames (its input and output, twice the plaintext, through the caches), and
    again warm (right after the same call). Information for targets 1 and 3, where this cost sits
    beside the frames' AES-GCM: the bare pass's own time is printed with it. Medians of ``rounds``."""
    small_bench = Bench(KiB)
    keyring, data = small_bench.keyring, bytes(small_bench.data)
    message, floor, floor_message = _small_message(small_bench)
    calls: dict[str, Callable[[], object]] = {
        "busta.encrypt": lambda: busta.encrypt(data, keyring=keyring, algorithm=UNSIGNED, encryption_context=CONTEXT),
        "busta.decrypt": lambda: busta.decrypt(message, keyring=keyring),
        "the bare floor's encrypt": lambda: floor.encrypt(data),
        "the bare floor's decrypt": lambda: floor.decrypt(floor_message),
    }
    bare = BareFrames(MiB, bench.data, 1)
    after: dict[str, list[float]] = {name: [] for name in calls}
    warm: dict[str, list[float]] = {name: [] for name in calls}
    passes = []
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            bare.encrypt()
            passed = time.perf_counter()
            call()
            after[name].append(time.perf_counter() - passed)
            passes.append(passed - start)
            call()
            again = time.perf_counter()
            call()
            warm[name].append(time.perf_counter() - again)
    size = _size(len(bench.data))
    rows = [Row("info", f"the bare 1-thread pass before each call ({size}, 1 MiB frames)", _us(passes), None, "us")]
    for name in calls:
        rows.append(Row("info", f"1 KiB {name} right after that pass (cold caches)", _us(after[name]), None, "us"))
        rows.append(Row("info", f"1 KiB {name}, warm (right after itself)", _us(warm[name]), None, "us"))
    return rows


def _us(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e6


# -- the official SDK, signed (information: issue 3's 5x/10x goals are gone) -----------------------------------


def official_signed(size: int, frame: int, repeats: int) -> list[Row]:
    bench = Bench(size)
    keys = [oracle.AesKeySpec(NAMESPACE, NAME, bench.key)]
    data = bytes(bench.data)
    theirs = oracle.official_encrypt(data, keys=keys, suite_id=SIGNED.id, frame_length=frame)
    ours = bench.encrypt(frame, SIGNED, threads=None)
    t = interleaved(
        {
            "off_enc": lambda: oracle.official_encrypt(data, keys=keys, suite_id=SIGNED.id, frame_length=frame),
            "enc": lambda: bench.encrypt(frame, SIGNED, threads=None),
            "off_dec": lambda: oracle.official_decrypt(theirs, keys=keys),
            "dec": lambda: bench.decrypt(ours, threads=None),
        },
        repeats,
    )
    what = f"0x0578 {_size(frame)} frames, default threads"
    return [
        Row("info", f"encrypt {what} vs official SDK", t.ratio("off_enc", "enc"), None, "x"),
        Row("info", f"decrypt {what} vs official SDK", t.ratio("off_dec", "dec"), None, "x"),
    ]


# -- all of them -------------------------------------------------------------------------------------------------


def parallel_rows(bench: Bench, repeats: int) -> list[Row]:
    """Target 1: ``threads=2`` against the bare 2-thread loops, in memory and file to file (16 MiB runs
    take milliseconds: twice the rounds, for steadier medians)."""
    repeats = 2 * repeats - 1
    rows: list[Row] = []
    for frame in (64 * KiB, MiB):
        rows += in_memory(bench, frame, 2, repeats, "18.1 parallel", 0.9)
        rows += streaming(bench, frame, 2, repeats, "18.1 parallel", 0.9)
    return rows


def other_rows(config: Config, bench: Bench, *, official: bool) -> list[Row]:
    """Targets 3, 4, 5 and 7 (memory and start-up, also of target 7, are ``suite.memory_and_startup``)."""
    repeats = config.repeats
    rows: list[Row] = []
    for frame in (4 * KiB, 64 * KiB, MiB):
        rows += in_memory(bench, frame, 1, 2 * repeats - 1, "18.3 1-thread", 0.9)
        rows += streaming(bench, frame, 1, 2 * repeats - 1, "18.3 1-thread", 0.9)
    large_bench = Bench(config.large_message_bytes)
    for threads in (1, None):
        rows += large(large_bench, threads, max(3, repeats // 2))
    del large_bench
    for frame in (64 * KiB, MiB):
        rows += signed(bench, frame, repeats)
    rows += small(config.small_messages, official)
    rows += fixed_cost(bench, 2 * repeats - 1)
    if official:
        for frame in (4 * KiB, 64 * KiB, MiB):
            rows += official_signed(config.official_bytes, frame, max(1, repeats // 2))
    return rows


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.targets18 [--quick] [--sweeps] [--out DIR]``: issue 18's rows alone."""
    import argparse  # noqa: PLC0415 - only the command line needs it

    from .suite import format_table  # noqa: PLC0415 - it imports this module

    parser = argparse.ArgumentParser(prog="python -m benchmarks.targets18", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--sweeps", action="store_true", help="also the sweeps (target 2) and their plots")
    parser.add_argument("--no-official", action="store_true", help="skip the official aws-encryption-sdk")
    parser.add_argument("--out", type=Path, help="where to write the sweeps' CSVs and plots")
    args = parser.parse_args(argv)
    config = Config.quick() if args.quick else Config.full()
    bench = Bench(config.message_bytes)
    rows = parallel_rows(bench, config.repeats)
    if args.sweeps:
        frames = sweeps.frame_sweep(config, official=not args.no_official)
        sizes = sweeps.size_sweep(config)
        rows += sweeps.defaults_rows(frames, sizes, sweeps.signed_points(config))
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            sweeps.write_points(frames, args.out / "sweep.csv", "frame_length")
            sweeps.write_points(sizes, args.out / "sizes.csv", "message_bytes")
            plots.plot_sweep(frames, args.out / "sweep.png", config.message_bytes)
            plots.plot_sizes(sizes, args.out / "sizes.png")
    rows += other_rows(config, bench, official=not args.no_official)
    print(format_table(rows, verdicts=not args.quick))


if __name__ == "__main__":
    main()
