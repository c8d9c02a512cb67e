"""What busta writes with default settings it reads with default settings; larger headers on request.

The header limit (``MAX_HEADER_BYTES``, 1 MiB) is checked on encrypt as on
decrypt: a header above it is refused with LimitExceededError before a byte is
written, by every encrypt entry point. ``max_header_bytes`` raises it for a
message that needs more, such as one with 65,535 data keys (which the official
JavaScript SDK reads): every decrypt entry point takes it, the S3 helpers and
``busta decrypt --max-header-bytes`` too. Adding data keys one at a time is linear.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import AlgorithmSuite, EncryptedDataKey, SecretBytes
from busta.cli import main
from busta.errors import LimitExceededError, UsageError
from busta.format import parse_header
from busta.keyrings import MultiKeyring, RawAesKeyring
from busta.limits import MAX_HEADER_BYTES, MAX_UINT16
from busta.materials import DecryptionMaterials, EncryptionMaterials
from busta.rewrap import rewrap
from busta.streaming.encryptor import MessageEncryptor

from ..support.entries import DECRYPT_ENTRIES, decrypt_through
from ..support.kms_fixtures import moto_server
from ..support.moto_server import MotoServer

__all__ = ["moto_server"]  # fixture, imported for pytest to find

NAMESPACE, NAME = "header-limits", "aes"
KEY = bytes(range(0x10, 0x30))
KEYRING = RawAesKeyring(NAMESPACE, NAME, KEY)
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
PLAINTEXT = os.urandom(150_000)
MANY_KEYS = MAX_UINT16  # 65,535: the most a header can hold
RAISED = 16 << 20
REGION, BUCKET = "us-west-2", "header-limits"


class PaddingKeyring:
    """Adds wrapped 'copies' of the data key of the given ciphertext sizes (it cannot unwrap them)."""

    def __init__(self, sizes: Sequence[int], info: bytes = b""):
        self.sizes = sizes
        self.info = info

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        for size in self.sizes:
            materials = materials.with_encrypted_data_key(EncryptedDataKey("pad", self.info, bytes(size)))
        return materials

    def on_decrypt(self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]) -> DecryptionMaterials:
        return materials


def _padded(sizes: Sequence[int], info: bytes = b"") -> MultiKeyring:
    return MultiKeyring(generator=KEYRING, children=[PaddingKeyring(sizes, info)])


def _header_size(keyring: busta.Keyring) -> int:
    return len(busta.Client(max_header_bytes=1 << 40).start_encryption(keyring=keyring).header_bytes)


def _keyring_for_header_of(size: int) -> MultiKeyring:
    """A keyring whose messages have a header of exactly ``size`` bytes (data keys padded to fit)."""
    base = _header_size(_padded([0]))
    extra, sizes = size - base, [0]
    while extra > 0:  # each further data key costs 9 bytes ('pad' and three lengths) before its ciphertext
        if sizes[-1] < MAX_UINT16:
            grow = min(extra, MAX_UINT16 - sizes[-1])
            sizes[-1] += grow
            extra -= grow
        else:
            sizes.append(0)
            extra -= 9
    keyring = _padded(sizes)
    assert _header_size(keyring) == size
    return keyring


# --- encrypt checks the limit that decrypt applies ----------------------------------------------------


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES - 1, MAX_HEADER_BYTES, MAX_HEADER_BYTES + 1])
def test_what_encrypt_writes_by_default_decrypt_reads_by_default(size: int) -> None:
    keyring = _keyring_for_header_of(size)
    if size <= MAX_HEADER_BYTES:
        message = busta.encrypt(PLAINTEXT, keyring=keyring)
        assert busta.decrypt(message, keyring=KEYRING).plaintext == PLAINTEXT
        return
    with pytest.raises(LimitExceededError) as refused:
        busta.encrypt(PLAINTEXT, keyring=keyring)
    assert (refused.value.what, refused.value.value, refused.value.limit) == ("header size", size, MAX_HEADER_BYTES)
    message = busta.Client(max_header_bytes=size).encrypt(PLAINTEXT, keyring=keyring)
    with pytest.raises(LimitExceededError):
        busta.decrypt(message, keyring=KEYRING)
    assert busta.Client(max_header_bytes=size).decrypt(message, keyring=KEYRING).plaintext == PLAINTEXT


@pytest.fixture(scope="module")
def thirteen_thousand_aes_keys() -> MultiKeyring:
    """The review's case: 13,500 raw AES keys make a header just above 1 MiB."""
    children = [RawAesKeyring(NAMESPACE, f"key-{index:05d}", os.urandom(32)) for index in range(13_499)]
    return MultiKeyring(generator=KEYRING, children=children)


def _encrypt_through(
    entry: str, keyring: busta.Keyring, sink: io.BytesIO, max_header_bytes: int = MAX_HEADER_BYTES
) -> None:
    client = busta.Client(max_header_bytes=max_header_bytes)
    if entry == "encrypt":
        sink.write(client.encrypt(PLAINTEXT, keyring=keyring))
    elif entry == "encrypt_stream":
        client.encrypt_stream(io.BytesIO(PLAINTEXT), sink, keyring=keyring)
    elif entry == "encrypting_writer":
        with client.encrypting_writer(sink, keyring=keyring) as writer:
            writer.write(PLAINTEXT)
    elif entry == "encrypting_reader":
        sink.write(client.encrypting_reader(io.BytesIO(PLAINTEXT), keyring=keyring).read())
    else:
        encryptor = client.start_encryption(keyring=keyring)
        sink.write(encryptor.update(PLAINTEXT) + encryptor.finalize())


ENCRYPT_ENTRIES = ("encrypt", "encrypt_stream", "encrypting_writer", "encrypting_reader", "start_encryption")


@pytest.mark.parametrize("entry", ENCRYPT_ENTRIES)
def test_a_header_above_the_limit_is_refused_by_every_encrypt_entry_before_anything_is_written(
    entry: str, thirteen_thousand_aes_keys: MultiKeyring
) -> None:
    sink = io.BytesIO()
    with pytest.raises(LimitExceededError) as refused:
        _encrypt_through(entry, thirteen_thousand_aes_keys, sink)
    assert refused.value.what == "header size"
    assert refused.value.value > MAX_HEADER_BYTES
    assert sink.getvalue() == b""
    _encrypt_through(entry, thirteen_thousand_aes_keys, sink, max_header_bytes=2 * MAX_HEADER_BYTES)
    message = sink.getvalue()
    assert busta.Client(max_header_bytes=2 * MAX_HEADER_BYTES).decrypt(message, keyring=KEYRING).plaintext == PLAINTEXT


def test_the_engine_checks_the_header_limit_itself() -> None:
    materials = _padded([MAX_UINT16] * 17).on_encrypt(EncryptionMaterials(UNSIGNED, {}))
    with pytest.raises(LimitExceededError):
        MessageEncryptor(materials, frame_length=4096)
    assert MessageEncryptor(materials, frame_length=4096, max_header_bytes=2 << 20).header_bytes
    for bad in (0, -5, 1.0, None, True):
        with pytest.raises(UsageError):
            MessageEncryptor(materials, frame_length=4096, max_header_bytes=bad)  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            busta.Client(max_header_bytes=bad).start_encryption(keyring=KEYRING)  # type: ignore[arg-type]


# --- 65,535 data keys --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_keys() -> bytes:
    """A message with 65,535 data keys of about 100 bytes each: a 6.5 MB header."""
    filler = PaddingKeyring([48] * (MANY_KEYS - 1), info=os.urandom(40))
    keyring = MultiKeyring(generator=KEYRING, children=[filler])
    with pytest.raises(LimitExceededError):
        busta.start_encryption(keyring=keyring)
    message = busta.Client(max_header_bytes=RAISED).encrypt(PLAINTEXT, keyring=keyring, algorithm=UNSIGNED)
    parsed = parse_header(message, max_header_bytes=RAISED)
    assert parsed is not None
    assert len(parsed.header.encrypted_data_keys) == MANY_KEYS
    assert parsed.length > 6 * MAX_HEADER_BYTES
    return message


@pytest.fixture(scope="module")
def s3_client(moto_server: MotoServer, many_keys: bytes) -> Any:
    client = moto_server.client("s3", REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    client.put_object(Bucket=BUCKET, Key="many-keys", Body=many_keys)
    return client


def _decrypt_through(
    entry: str, message: bytes, client: Any, tmp: Path, max_header_bytes: int = MAX_HEADER_BYTES
) -> bytes:
    s3_object = (client, BUCKET, "many-keys")
    sdk = busta.Client(max_header_bytes=max_header_bytes)
    return decrypt_through(entry, message, KEYRING, sdk=sdk, s3_object=s3_object, tmp=tmp)


@pytest.mark.parametrize("entry", DECRYPT_ENTRIES)
def test_a_message_with_65535_data_keys_decrypts_through_every_entry_with_a_raised_limit(
    entry: str, many_keys: bytes, s3_client: Any, tmp_path: Path
) -> None:
    with pytest.raises(LimitExceededError) as refused:
        _decrypt_through(entry, many_keys, s3_client, tmp_path)
    assert (refused.value.what, refused.value.limit) == ("header size", MAX_HEADER_BYTES)
    assert _decrypt_through(entry, many_keys, s3_client, tmp_path, max_header_bytes=RAISED) == PLAINTEXT


def test_busta_decrypt_takes_max_header_bytes(many_keys: bytes, tmp_path: Path) -> None:
    key_file = tmp_path / "aes.key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    keys = ["--aes-key-file", str(key_file), "--namespace", NAMESPACE, "--key-name", NAME]
    message = tmp_path / "many.enc"
    message.write_bytes(many_keys)
    assert main(["decrypt", str(message), "-o", str(tmp_path / "refused"), *keys]) == 1
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "plain"
    assert main(["decrypt", str(message), "-o", str(out), "--max-header-bytes", str(RAISED), *keys]) == 0
    assert out.read_bytes() == PLAINTEXT
    assert main(["decrypt", str(message), "-o", str(out), "--max-header-bytes", "0", *keys]) == 2


# --- adding data keys is linear ------------------------------------------------------------------------


def _seconds_to_add(count: int) -> float:
    edk = EncryptedDataKey("p", b"", b"k")
    materials = EncryptionMaterials(UNSIGNED, {}).with_data_key(SecretBytes(bytes(32)))
    start = time.process_time()
    for _ in range(count):
        materials = materials.with_encrypted_data_key(edk)
    seconds = time.process_time() - start
    assert len(materials.encrypted_data_keys) == count
    return seconds


def test_adding_data_keys_one_at_a_time_takes_the_same_time_per_key_at_any_count() -> None:
    few, many = 2048, 32768  # 16 times as many: 16 times as long per key if each addition copies the rest
    per_key_few = min(_seconds_to_add(few) for _ in range(3)) / few
    per_key_many = _seconds_to_add(many) / many
    assert per_key_many < 4 * per_key_few, (
        f"{per_key_few * 1e6:.2f} us per key at {few}, {per_key_many * 1e6:.2f} at {many}"
    )


def test_materials_derived_from_the_same_materials_keep_their_own_data_keys() -> None:
    a, b, c = (EncryptedDataKey("p", b"", bytes([n])) for n in range(3))
    base = EncryptionMaterials(UNSIGNED, {"k": "v"}).with_data_key(SecretBytes(bytes(32)), a)
    first, second = base.with_encrypted_data_key(b), base.with_encrypted_data_key(c)
    assert (base.encrypted_data_keys, first.encrypted_data_keys, second.encrypted_data_keys) == ((a,), (a, b), (a, c))
    assert first.with_encrypted_data_key(c).encrypted_data_keys == (a, b, c)
    assert first == base.with_encrypted_data_key(b)
    assert first != second
    assert "encrypted_data_keys=(EncryptedDataKey(" in repr(first)


def test_threads_adding_to_the_same_materials_each_get_their_own_copy() -> None:
    base = EncryptionMaterials(UNSIGNED, {}).with_data_key(SecretBytes(bytes(32)))
    results: dict[int, tuple[EncryptedDataKey, ...]] = {}
    barrier = threading.Barrier(8)

    def add(index: int) -> None:
        edks = [EncryptedDataKey("p", b"", f"{index}-{n}".encode()) for n in range(2000)]
        barrier.wait()
        materials = base
        for edk in edks:
            materials = materials.with_encrypted_data_key(edk)
        results[index] = materials.encrypted_data_keys

    threads = [threading.Thread(target=add, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, edks in results.items():
        assert [edk.ciphertext for edk in edks] == [f"{index}-{n}".encode() for n in range(2000)]
    assert base.encrypted_data_keys == ()


def test_rewrapping_refuses_to_write_a_header_readers_would_refuse(thirteen_thousand_aes_keys: MultiKeyring) -> None:
    message = busta.encrypt(PLAINTEXT, keyring=KEYRING, algorithm=UNSIGNED)
    with pytest.raises(LimitExceededError) as refused:
        rewrap(message, keyring=KEYRING, new_keyring=thirteen_thousand_aes_keys)
    assert refused.value.what == "header size"
