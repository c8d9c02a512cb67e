"""The base64 armor streams of :mod:`busta.cli.armor`: round trips in any step sizes, whitespace
skipped, anything else refused, bounded reads, and messages an official SDK decrypts once decoded."""

from __future__ import annotations

import base64
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import busta
from busta.cli.armor import STEP, ArmorReader, ArmorWriter, armored, unarmored
from busta.cli.errors import CliError
from busta.keyrings import RawAesKeyring

from ..support.oracle import AesKeySpec, official_decrypt

KEY = AesKeySpec("armor-test", "aes-256", bytes(range(32)))


def encode(data: bytes, steps: list[int]) -> bytes:
    out = io.BytesIO()
    writer = ArmorWriter(out)
    position, index = 0, 0
    while position < len(data):
        step = steps[index % len(steps)] if steps else len(data)
        writer.write(data[position : position + step])
        position += step
        index += 1
    writer.finish()
    return out.getvalue()


def decode(text: bytes, steps: list[int], name: str = "in") -> bytes:
    reader = ArmorReader(io.BytesIO(text), name)
    parts: list[bytes] = []
    index = 0
    while True:
        chunk = reader.read(steps[index % len(steps)] if steps else -1)
        index += 1
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000), st.lists(st.integers(1, 700), max_size=6), st.lists(st.integers(1, 700), max_size=6))
def test_what_is_written_reads_back_whatever_the_write_and_read_sizes(
    data: bytes, writes: list[int], reads: list[int]
) -> None:
    text = encode(data, writes)
    assert text == base64.b64encode(data) + b"\n"  # one line, as aws-encryption-sdk-cli --encode writes
    assert decode(text, reads) == data


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 80), st.sampled_from([b"\n", b"\r\n", b" ", b"\t"]))
def test_text_wrapped_at_any_width_with_any_whitespace_reads_back(data: bytes, width: int, sep: bytes) -> None:
    flat = base64.b64encode(data)
    wrapped = sep.join(flat[i : i + width] for i in range(0, len(flat), width)) + b"\n\n"
    assert decode(b"  " + wrapped, [7]) == data


@pytest.mark.parametrize("size", [0, 1, 2, 3, STEP - 1, STEP, STEP + 1, 2 * STEP + 2])
def test_sizes_around_a_step_round_trip(size: int) -> None:
    data = os.urandom(size)
    assert decode(encode(data, [STEP // 2 + 1]), [STEP // 3, 5]) == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (b"AAA", "ends inside a group"),
        (b"AAAA\nAA", "ends inside a group"),
        (b"AA==AAAA", "excess data after padding"),
        (b"AA==\nAAAA", "padding"),  # one chunk: the decoder sees the excess data
        (b"AA=A", "discontinuous padding"),
        (b"=AAA", "leading padding"),
        (b"AAAA*AAA", "only base64 data"),
        (b"AAAA\x00AAA", "only base64 data"),
        (b"AAAA-_AA", "only base64 data"),  # the URL-safe alphabet is not base64's
    ],
)
def test_anything_but_base64_and_whitespace_is_one_error_naming_the_input(text: bytes, why: str) -> None:
    with pytest.raises(CliError) as caught:
        decode(text, [100], name="sealed.asc")
    message = str(caught.value)
    assert message.startswith("sealed.asc: not valid base64 (")
    assert why in message
    assert "\n" not in message


class CountingSource(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.largest = 0

    def read(self, size: int | None = -1) -> bytes:
        self.largest = max(self.largest, size if size is not None and size >= 0 else len(self.getvalue()))
        return super().read(size)


def test_reads_from_the_source_stay_within_a_step_of_text_however_much_is_asked() -> None:
    source = CountingSource(base64.b64encode(os.urandom(3 * STEP)))
    reader = ArmorReader(source, "big")
    assert len(reader.read()) == 3 * STEP
    assert source.largest <= STEP // 3 * 4
    small = CountingSource(base64.b64encode(os.urandom(10_000)))
    ArmorReader(small, "small").read(30)
    assert small.largest <= 40  # a small read asks for little text: a ranged header fetch stays small


@pytest.mark.parametrize("first", [b"\x01", b"\x02"])
def test_a_binary_message_is_passed_through_untouched(first: bytes) -> None:
    raw = io.BufferedReader(io.BytesIO(first + b"rest"))
    assert unarmored(raw, "x") is raw  # peeked, not wrapped
    assert raw.read() == first + b"rest"


class Unpeekable:
    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


@pytest.mark.parametrize("prefix", [b"", b"\n  "])
def test_base64_text_is_detected_and_decoded_even_from_a_stream_that_cannot_peek(prefix: bytes) -> None:
    message = busta.encrypt(b"hello", keyring=RawAesKeyring(KEY.namespace, KEY.name, KEY.key))
    for source in (
        io.BufferedReader(io.BytesIO(prefix + base64.b64encode(message))),
        Unpeekable(prefix + base64.b64encode(message)),
    ):
        assert unarmored(source, "x").read() == message  # type: ignore[arg-type]
    binary = Unpeekable(message)
    assert unarmored(binary, "x").read() == message  # type: ignore[arg-type]


def test_text_after_the_padding_in_a_later_read_is_refused() -> None:
    reader = ArmorReader(io.BytesIO(b"AA==" + b"\n" * 10 + b"AAAA"), "late")
    with pytest.raises(CliError, match="text follows the padding"):
        while reader.read(1):
            pass


def test_decode_true_insists_on_base64() -> None:
    with pytest.raises(CliError, match="not valid base64"):
        unarmored(io.BytesIO(b"\x02\x05\x78"), "bin", decode=True).read()


@pytest.mark.parametrize("suite", [0x0478, 0x0578])
def test_the_official_sdk_decrypts_an_armored_message_once_it_is_base64_decoded(suite: int) -> None:
    plaintext = os.urandom(70_000)
    keyring = RawAesKeyring(KEY.namespace, KEY.name, KEY.key)
    source = io.BytesIO(plaintext)
    out = io.BytesIO()
    armored(lambda sink: busta.Client().encrypt_stream(source, sink, keyring=keyring, algorithm=suite))(out)
    text = out.getvalue()
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    decrypted, _ = official_decrypt(base64.b64decode(text), keys=[KEY])
    assert decrypted == plaintext
