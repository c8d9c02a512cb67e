"""Issue 14: large frames and non-framed bodies streamed, huge declared frames, many data keys.

* Streaming decryption of large units is linear: ``decrypt_stream`` of a message
  with 32 MiB frames, and of a 64 MiB non-framed body, against ``decrypt_stream``
  of the same plaintext with the default framing (goal: within 1.5x, a ratio of at least 0.67).
* A tiny message declaring frames of 2**31 - 1 bytes: the peak RSS growth of
  ``decrypt_stream`` (it used to allocate about six times the declared frame).
* 65,535 data keys: adding them one at a time, and decrypting the message.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import busta
from busta import EncryptedDataKey, SecretBytes
from busta.keyrings import MultiKeyring
from busta.limits import DEFAULT_FRAME_LENGTH
from busta.materials import DecryptionMaterials, EncryptionMaterials
from fuzzing.seeds import nonframed_message

from ._timing import interleaved
from .suite import UNSIGNED, Bench, Config, Row, _python_env, _size


class _Discard:
    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


def _stream(message: bytes, bench: Bench, sdk: busta.Client = busta.api.DEFAULT_CLIENT) -> Callable[[], None]:
    def run() -> None:
        sdk.decrypt_stream(io.BytesIO(message), _Discard(), keyring=bench.keyring)  # type: ignore[arg-type]

    return run


def _bare_units(plaintext: memoryview, unit: int) -> Callable[[], None]:
    """The least work a decryption may do for units of ``unit`` bytes when nothing it keeps may outlive
    the call (item 2): gather each unit into one buffer made fresh for the call (reused for the next
    unit), open it in place, no sink. Its ratio to the default framing is the ceiling on this machine."""
    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)
    sealed = [aead.encrypt(nonce, plaintext[i : i + unit], None) for i in range(0, len(plaintext), unit)]

    def run() -> None:
        held = bytearray(max(len(c) for c in sealed))
        view = memoryview(held)
        for ciphertext in sealed:
            view[: len(ciphertext)] = ciphertext
            aead.decrypt_into(nonce, view[: len(ciphertext)], None, view[: len(ciphertext) - 16])

    return run


def large_units(config: Config) -> list[Row]:
    bench = Bench(config.large_message_bytes)
    default = bench.encrypt(DEFAULT_FRAME_LENGTH, threads=2)
    large = bench.encrypt(config.large_frame_bytes, threads=2)
    nonframed = nonframed_message(bytes(bench.data), UNSIGNED, bench.keyring)
    runs: dict[str, Callable[[], object]] = {
        "default": _stream(default, bench),
        "large": _stream(large, bench),
        "nonframed": _stream(nonframed, bench, busta.Client(max_nonframed_bytes=len(bench.data))),
        "default_1": _stream(default, bench, busta.Client(threads=1)),
        "large_1": _stream(large, bench, busta.Client(threads=1)),
        "reader_large": lambda: busta.decrypting_reader(io.BytesIO(large), keyring=bench.keyring).read(),
        "bare_large": _bare_units(bench.data, config.large_frame_bytes),
        "bare_nonframed": _bare_units(bench.data, config.large_message_bytes),
    }
    t = interleaved(runs, max(3, config.repeats // 2))
    frame, size = _size(config.large_frame_bytes), _size(config.large_message_bytes)
    return [
        Row(
            "14 large units",
            f"decrypt_stream {size}: {frame} frames vs default framing",
            t.ratio("default", "large"),
            0.67,
            "x",
        ),
        Row(
            "14 large units",
            f"decrypt_stream {size} non-framed body vs default framing",
            t.ratio("default", "nonframed"),
            0.67,
            "x",
        ),
        Row(
            "info",
            f"ceiling: bare loop, {frame} units, one fresh buffer per call, opened in place, vs default framing",
            t.ratio("default", "bare_large"),
            None,
            "x",
        ),
        Row(
            "info",
            f"ceiling: bare loop, {size} non-framed, one fresh buffer, opened in place, vs default framing",
            t.ratio("default", "bare_nonframed"),
            None,
            "x",
        ),
        Row(
            "info", f"the same, 1 thread: {frame} frames vs default framing", t.ratio("default_1", "large_1"), None, "x"
        ),
        Row(
            "info",
            f"decrypt_stream {size}, default framing",
            _mbps(config.large_message_bytes, t["default"]),
            None,
            "MB/s",
        ),
        Row(
            "info",
            f"decrypt_stream {size}, {frame} frames",
            _mbps(config.large_message_bytes, t["large"]),
            None,
            "MB/s",
        ),
        Row(
            "info",
            f"decrypt_stream {size}, non-framed",
            _mbps(config.large_message_bytes, t["nonframed"]),
            None,
            "MB/s",
        ),
        Row(
            "info",
            f"decrypting_reader {size}, {frame} frames",
            _mbps(config.large_message_bytes, t["reader_large"]),
            None,
            "MB/s",
        ),
    ]


def _mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


_HUGE_FRAME_SCRIPT = """
import io, os, busta
from busta.keyrings import RawAesKeyring
keyring = RawAesKeyring("bench", "aes-key", os.urandom(32))
def status(field):
    return [int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field)][0]
small = busta.encrypt(b"x" * 100, keyring=keyring, frame_length=4096)
huge = busta.encrypt(b"x" * 100, keyring=keyring, frame_length=2**31 - 1)
busta.decrypt_stream(io.BytesIO(small), io.BytesIO(), keyring=keyring)  # imports and first buffers
open("/proc/self/clear_refs", "w").write("5")
rss = status("VmRSS")
busta.decrypt_stream(io.BytesIO(huge), io.BytesIO(), keyring=keyring)
print(len(huge), status("VmHWM") - rss)
"""


def huge_declared_frame() -> list[Row]:
    out = subprocess.run(
        [sys.executable, "-c", _HUGE_FRAME_SCRIPT], env=_python_env(), capture_output=True, text=True, check=True
    )
    length, grown = (int(word) for word in out.stdout.split())
    return [
        Row(
            "14 memory",
            f"decrypt_stream of a {length}-byte message declaring 2**31-1 frames: peak RSS growth",
            grown / (1 << 20),
            None,
            "MiB (goal < 4)",
        )
    ]


class _Filler:
    """Adds ``count`` wrapped copies of about 100 bytes each, one at a time."""

    def __init__(self, count: int):
        self.edk = EncryptedDataKey("filler", os.urandom(40), os.urandom(48))
        self.count = count

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        for _ in range(self.count):
            materials = materials.with_encrypted_data_key(self.edk)
        return materials

    def on_decrypt(self, materials: DecryptionMaterials, edks: object) -> DecryptionMaterials:
        return materials


def many_data_keys(count: int) -> list[Row]:
    bench = Bench(1 << 10)
    start = time.perf_counter()
    materials = EncryptionMaterials(UNSIGNED, {}).with_data_key(SecretBytes(bytes(32)))
    _Filler(count).on_encrypt(materials)
    add = time.perf_counter() - start
    keyring = MultiKeyring(generator=bench.keyring, children=[_Filler(count - 1)])
    limit = 128 * count + (1 << 20)
    message = busta.Client(max_header_bytes=limit).encrypt(bytes(bench.data), keyring=keyring, algorithm=UNSIGNED)
    start = time.perf_counter()
    busta.Client(max_header_bytes=limit).decrypt(message, keyring=bench.keyring)
    one_shot = time.perf_counter() - start
    start = time.perf_counter()
    busta.Client(max_header_bytes=limit).decrypting_reader(io.BytesIO(message), keyring=bench.keyring).read()
    reader = time.perf_counter() - start
    return [
        Row("14 data keys", f"add {count:,} data keys one at a time", add, None, "s"),
        Row(
            "14 data keys",
            f"decrypt a message of {count:,} data keys ({len(message):,} bytes), one-shot",
            one_shot,
            None,
            "s",
        ),
        Row("14 data keys", "the same through decrypting_reader (64 KiB reads)", reader, None, "s"),
    ]


def limits_rows(config: Config) -> list[Row]:
    return large_units(config) + huge_declared_frame() + many_data_keys(config.data_keys)
