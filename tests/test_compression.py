"""Opt-in zstd compression (``compression="zstd"``): what each entry point writes and reads back, the
context key, the refusals, the bounds on decompression and what a hostile compressed plaintext gets."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

import busta
from busta.compression import (
    COMPRESSION_CONTEXT_KEY,
    _Marked,
    compress_whole,
    decompress_whole,
)
from busta.errors import (
    BustaError,
    CompressionError,
    LimitExceededError,
    MalformedMessageError,
    UsageError,
)
from busta.keyrings import RawAesKeyring
from busta.limits import MAX_ZSTD_WINDOW_BYTES
from busta.rewrap import check_rewrapped, rewrap_header
from busta.streaming.random_access import file_fetch

ROOT = Path(__file__).resolve().parents[1]
KEYRING = RawAesKeyring("compression-tests", "aes-256", bytes(range(32)))
FRAME = 4096
TEXT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40_000))
SIZES = (0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME + 1, 300_000)


def _data(size: int) -> bytes:
    return (TEXT * (size // len(TEXT) + 1))[:size]


# -- encrypt one way, decrypt every way ------------------------------------------------------------


def _encrypt_whole(data: bytes) -> bytes:
    return busta.encrypt(data, keyring=KEYRING, frame_length=FRAME, compression="zstd")


def _encrypt_stream(data: bytes) -> bytes:
    out = io.BytesIO()
    result = busta.encrypt_stream(io.BytesIO(data), out, keyring=KEYRING, frame_length=FRAME, compression="zstd")
    assert result.plaintext_length == len(data)
    assert result.encryption_context[COMPRESSION_CONTEXT_KEY] == "zstd"
    return out.getvalue()


def _encrypt_reader(data: bytes) -> bytes:
    reader = busta.encrypting_reader(io.BytesIO(data), keyring=KEYRING, frame_length=FRAME, compression="zstd")
    return b"".join(iter(lambda: reader.read(777), b""))


def _encrypt_writer(data: bytes) -> bytes:
    out = io.BytesIO()
    with busta.encrypting_writer(out, keyring=KEYRING, frame_length=FRAME, compression="zstd") as writer:
        for i in range(0, len(data), 1000):
            writer.write(data[i : i + 1000])
    return out.getvalue()


def _decrypt_whole(message: bytes, client: busta.Client = busta.api.DEFAULT_CLIENT) -> bytes:
    return client.decrypt(message, keyring=KEYRING).plaintext


def _decrypt_stream(message: bytes, client: busta.Client = busta.api.DEFAULT_CLIENT) -> bytes:
    out = io.BytesIO()
    result = client.decrypt_stream(io.BytesIO(message), out, keyring=KEYRING)
    assert result.plaintext_length == len(out.getvalue())
    return out.getvalue()


def _decrypt_reader(message: bytes, client: busta.Client = busta.api.DEFAULT_CLIENT) -> bytes:
    reader = client.decrypting_reader(io.BytesIO(message), keyring=KEYRING, read_size=1000)
    return b"".join(iter(lambda: reader.read(999), b""))


def _decrypt_writer(message: bytes, client: busta.Client = busta.api.DEFAULT_CLIENT) -> bytes:
    out = io.BytesIO()
    with client.decrypting_writer(out, keyring=KEYRING) as writer:
        for i in range(0, len(message), 333):
            writer.write(message[i : i + 333])
    return out.getvalue()


ENCRYPTS: dict[str, Callable[[bytes], bytes]] = {
    "whole": _encrypt_whole,
    "stream": _encrypt_stream,
    "reader": _encrypt_reader,
    "writer": _encrypt_writer,
}
DECRYPTS: dict[str, Callable[..., bytes]] = {
    "whole": _decrypt_whole,
    "stream": _decrypt_stream,
    "reader": _decrypt_reader,
    "writer": _decrypt_writer,
}


@pytest.mark.parametrize("encrypt", sorted(ENCRYPTS))
@pytest.mark.parametrize("size", SIZES)
def test_every_encrypt_entry_point_writes_a_message_every_decrypt_entry_point_decompresses(
    encrypt: str, size: int
) -> None:
    data = _data(size)
    message = ENCRYPTS[encrypt](data)
    for name, decrypt in DECRYPTS.items():
        assert decrypt(message) == data, name


@pytest.mark.parametrize("encrypt", sorted(ENCRYPTS))
def test_the_message_records_zstd_in_its_context_and_holds_one_zstd_frame_of_the_plaintext(encrypt: str) -> None:
    data = _data(300_000)
    message = ENCRYPTS[encrypt](data)
    assert len(message) < len(data) // 10  # text compresses
    decryptor = busta.start_decryption(keyring=KEYRING)  # the engine gives the plaintext as it is: zstd
    raw = decryptor.update(message) + decryptor.finalize()
    assert decryptor.encryption_context is not None
    assert decryptor.encryption_context[COMPRESSION_CONTEXT_KEY] == "zstd"
    assert zstandard.ZstdDecompressor().decompressobj().decompress(raw) == data


def test_random_data_round_trips_and_grows_by_little() -> None:
    data = os.urandom(1 << 20)
    message = _encrypt_stream(data)
    assert len(message) < len(busta.encrypt(data, keyring=KEYRING, frame_length=FRAME)) + 1024
    assert _decrypt_stream(message) == data


def test_without_compression_messages_are_unchanged_and_carry_no_key() -> None:
    message = busta.encrypt(TEXT, keyring=KEYRING)
    result = busta.decrypt(message, keyring=KEYRING)
    assert result.plaintext == TEXT
    assert COMPRESSION_CONTEXT_KEY not in result.encryption_context


# -- refusals at call time ----------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "ZSTD", "", 1, True, b"zstd"])
def test_an_unknown_compression_is_a_usage_error_at_every_entry_point(compression: object) -> None:
    calls: list[Callable[[], object]] = [
        lambda: busta.encrypt(b"x", keyring=KEYRING, compression=compression),  # type: ignore[arg-type]
        lambda: busta.encrypt_stream(io.BytesIO(), io.BytesIO(), keyring=KEYRING, compression=compression),  # type: ignore[arg-type]
        lambda: busta.encrypting_reader(io.BytesIO(), keyring=KEYRING, compression=compression),  # type: ignore[arg-type]
        lambda: busta.encrypting_writer(io.BytesIO(), keyring=KEYRING, compression=compression),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(UsageError, match="compression must be None or one of zstd"):
            call()


def test_a_caller_context_naming_the_compression_key_is_a_usage_error_with_or_without_compression() -> None:
    context = {COMPRESSION_CONTEXT_KEY: "zstd"}
    for compression in (None, "zstd"):
        with pytest.raises(UsageError, match="busta-compression"):
            busta.encrypt(b"x", keyring=KEYRING, encryption_context=context, compression=compression)
        with pytest.raises(UsageError, match="busta-compression"):
            busta.encrypt_stream(io.BytesIO(), io.BytesIO(), keyring=KEYRING, encryption_context=context)
    with pytest.raises(UsageError, match="busta-compression"):
        busta.start_encryption(keyring=KEYRING, encryption_context=context)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "1"])
def test_max_decompressed_bytes_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(UsageError, match="max_decompressed_bytes"):
        busta.Client(max_decompressed_bytes=value)  # type: ignore[arg-type]


# -- random access refuses; rewrap still works -----------------------------------------------------------


def test_random_access_refuses_a_compressed_message_and_still_opens_a_plain_one() -> None:
    data = _data(100_000)
    compressed = busta.encrypt(data, keyring=KEYRING, algorithm=0x0478, frame_length=FRAME, compression="zstd")
    with pytest.raises(UsageError, match="random access does not apply to a compressed message"):
        busta.open_seekable(io.BytesIO(compressed), keyring=KEYRING)
    plain = busta.encrypt(data, keyring=KEYRING, algorithm=0x0478, frame_length=FRAME)
    assert busta.open_seekable(io.BytesIO(plain), keyring=KEYRING).read_range(10, 20) == data[10:20]


def test_header_only_rewrap_keeps_a_compressed_message_compressed() -> None:
    new = RawAesKeyring("compression-tests", "new-key", bytes(range(32, 64)))
    data = _data(100_000)
    message = busta.encrypt(data, keyring=KEYRING, algorithm=0x0478, frame_length=FRAME, compression="zstd")
    rewrapped = rewrap_header(message, keyring=KEYRING, new_keyring=new)
    assert rewrapped is not None
    fetch, size = file_fetch(io.BytesIO(message))
    check_rewrapped(rewrapped, fetch, size, resent=0)  # its frame checks read the compressed body
    result = busta.decrypt(rewrapped.header_bytes + message[rewrapped.old_header_length :], keyring=new)
    assert result.plaintext == data
    assert result.encryption_context[COMPRESSION_CONTEXT_KEY] == "zstd"


# -- hostile compressed plaintexts inside authentic messages --------------------------------------------


def _marked_message(raw: bytes, value: str = "zstd") -> bytes:
    """An authentic message whose plaintext is ``raw`` as given, marked compressed with ``value``."""
    encryptor = busta.start_encryption(
        keyring=KEYRING, frame_length=FRAME, encryption_context=_Marked({COMPRESSION_CONTEXT_KEY: value})
    )
    return encryptor.update(raw) + encryptor.finalize()


GOOD = compress_whole(_data(50_000))
CORRUPT = {
    "truncated": GOOD[:-5],
    "only-the-magic": GOOD[:4],
    "empty": b"",
    "trailing-bytes": GOOD + b"\0",
    "two-frames": GOOD + GOOD,
    "not-zstd": b"PK\x03\x04 this is a zip file" * 10,
    "skippable-frame": b"\x50\x2a\x4d\x18\x04\x00\x00\x00abcd" + GOOD,
    "flipped-bits": GOOD[:20] + bytes(b ^ 0x55 for b in GOOD[20:40]) + GOOD[40:],
}


@pytest.mark.parametrize("decrypt", sorted(DECRYPTS))
@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_compressed_plaintext_that_is_not_one_valid_zstd_frame_is_a_compression_error(
    decrypt: str, case: str
) -> None:
    message = _marked_message(CORRUPT[case])
    with pytest.raises(CompressionError) as caught:
        DECRYPTS[decrypt](message)
    assert isinstance(caught.value, MalformedMessageError | BustaError)
    assert "zstd" in str(caught.value)


@pytest.mark.parametrize("decrypt", sorted(DECRYPTS))
def test_a_compression_busta_does_not_know_is_a_compression_error(decrypt: str) -> None:
    with pytest.raises(CompressionError, match="'gzip'"):
        DECRYPTS[decrypt](_marked_message(b"\x1f\x8b whatever", "gzip"))


def test_the_engine_itself_returns_the_plaintext_as_it_is() -> None:
    decryptor = busta.start_decryption(keyring=KEYRING)
    message = _marked_message(b"not zstd at all")
    assert decryptor.update(message) + decryptor.finalize() == b"not zstd at all"


def _wide_window_frame(window_log: int, size: int = 24 << 20) -> bytes:
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=window_log)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    chunk = os.urandom(1 << 16) * 16  # 1 MiB that repeats every 64 KiB
    parts = [compressor.compress(chunk) for _ in range(size // len(chunk))]
    return b"".join([*parts, compressor.flush()])


@pytest.mark.parametrize("decrypt", sorted(DECRYPTS))
def test_a_window_above_the_limit_is_refused_before_decoding(decrypt: str) -> None:
    message = _marked_message(_wide_window_frame(24))  # 16 MiB > MAX_ZSTD_WINDOW_BYTES
    with pytest.raises(LimitExceededError, match="the zstd window") as caught:
        DECRYPTS[decrypt](message)
    assert caught.value.limit == MAX_ZSTD_WINDOW_BYTES


def test_a_window_at_the_limit_decodes() -> None:
    frame = _wide_window_frame(23, size=2 << 20)  # 8 MiB: level 19's own window
    assert len(decompress_whole(frame, 4 << 20)) == 2 << 20


# -- zstandard only when used ----------------------------------------------------------------------------


def _python(code: str, *argv: str, flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code, *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_importing_busta_does_not_import_zstandard() -> None:
    done = _python("import sys, busta; print(sorted(m for m in sys.modules if m.startswith('zstandard')))")
    assert done.stdout.strip() == "[]"
    assert "zstandard" not in _python("import busta", flags=("-X", "importtime")).stderr


_WITHOUT_ZSTANDARD = """
import io, sys
sys.modules["zstandard"] = None
import busta
from busta.keyrings import RawAesKeyring
keyring = RawAesKeyring("n", "k", bytes(32))
plain = busta.encrypt(b"plain", keyring=keyring)
assert busta.decrypt(plain, keyring=keyring).plaintext == b"plain"
for call in (
    lambda: busta.encrypt(b"x", keyring=keyring, compression="zstd"),
    lambda: busta.decrypt(bytes.fromhex(sys.argv[1]), keyring=keyring),
):
    try:
        call()
    except busta.errors.UsageError as exc:
        print(exc)
"""


def test_without_zstandard_plain_messages_work_and_compression_says_how_to_install_it() -> None:
    message = busta.encrypt(b"compressed", keyring=RawAesKeyring("n", "k", bytes(32)), compression="zstd")
    lines = _python(_WITHOUT_ZSTANDARD, message.hex()).stdout.splitlines()
    assert lines == ['zstd compression needs the zstandard package: pip install "busta[zstd]"'] * 2
