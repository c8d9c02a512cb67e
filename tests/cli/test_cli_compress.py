"""``busta encrypt --compress`` and ``busta decrypt --max-decompressed-bytes``, through the real
console script (``python -m busta``): what is written, what comes back, and each refusal as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

import busta
from busta.compression import COMPRESSION_CONTEXT_KEY, _Marked
from busta.format import parse_header

from ..support.cli_keys import default_keyring
from ..support.moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY, MotoServer

ROOT = Path(__file__).resolve().parents[2]
TEXT = b"".join(b"2026-12-02T02:55:%02d host-%d GET /index.html 200\n" % (i % 60, i % 9) for i in range(50_000))


def busta_cli(
    args: list[str], home: Path, stdin: bytes = b"", pythonpath: str = ""
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "PYTHONPATH": pythonpath or str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "busta", *args],
        input=stdin,
        cwd=home,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    assert busta_cli(["keygen"], tmp_path).returncode == 0
    (tmp_path / "plain.log").write_bytes(TEXT)
    return tmp_path


def one_error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("busta: error: ")
    return lines[0]


def test_compress_writes_a_smaller_message_that_records_zstd_and_decrypt_restores_the_file(home: Path) -> None:
    assert busta_cli(["encrypt", "plain.log", "-o", "plain.enc", "--compress", "-q"], home).returncode == 0
    assert busta_cli(["encrypt", "plain.log", "-o", "uncompressed.enc", "-q"], home).returncode == 0
    compressed = (home / "plain.enc").read_bytes()
    assert len(compressed) * 10 < (home / "uncompressed.enc").stat().st_size
    shown = json.loads(busta_cli(["inspect", "plain.enc", "--json"], home).stdout)
    assert shown["encryption_context"][COMPRESSION_CONTEXT_KEY] == "zstd"
    done = busta_cli(["decrypt", "plain.enc", "-o", "back.log", "-q"], home)
    assert done.returncode == 0, done.stderr
    assert (home / "back.log").read_bytes() == TEXT
    # The file is an ordinary message: decrypted by the engine as it is, its plaintext is a zstd frame.
    decryptor = busta.start_decryption(keyring=default_keyring(home / "config"))
    frame = decryptor.update(compressed) + decryptor.finalize()
    assert zstandard.ZstdDecompressor().decompressobj().decompress(frame) == TEXT


def test_compress_works_from_standard_input_to_standard_output_and_back(home: Path) -> None:
    encrypted = busta_cli(["encrypt", "-", "-o", "-", "--compress", "-q"], home, stdin=TEXT)
    assert encrypted.returncode == 0, encrypted.stderr
    decrypted = busta_cli(["decrypt", "-", "-o", "-", "-q"], home, stdin=encrypted.stdout)
    assert decrypted.returncode == 0, decrypted.stderr
    assert decrypted.stdout == TEXT


def test_max_decompressed_bytes_refuses_a_larger_message_in_one_line_and_leaves_no_output(home: Path) -> None:
    assert busta_cli(["encrypt", "plain.log", "-o", "plain.enc", "--compress", "-q"], home).returncode == 0
    done = busta_cli(["decrypt", "plain.enc", "-o", "back.log", "--max-decompressed-bytes", "1000"], home)
    assert done.returncode == 1
    assert "above the limit of 1000" in one_error_line(done)
    assert not (home / "back.log").exists()
    enough = str(len(TEXT))
    assert (
        busta_cli(["decrypt", "plain.enc", "-o", "back.log", "--max-decompressed-bytes", enough], home).returncode == 0
    )


@pytest.mark.parametrize("value", ["0", "-5", "1k", ""])
def test_max_decompressed_bytes_must_be_a_positive_whole_number(home: Path, value: str) -> None:
    done = busta_cli(["decrypt", "x.enc", "-o", "x", "--max-decompressed-bytes", value], home)
    assert done.returncode == 2
    assert b"--max-decompressed-bytes" in done.stderr


def test_compress_is_an_encrypt_option(home: Path) -> None:
    done = busta_cli(["decrypt", "plain.enc", "-o", "x", "--compress"], home)
    assert done.returncode == 2
    assert b"unrecognized arguments: --compress" in done.stderr


def test_compress_to_s3_uploads_a_compressed_message_that_decrypt_restores(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in [("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)]:
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", DEFAULT_REGION)
    with MotoServer() as server:
        server.with_bucket("logs")
        endpoint = ["--aws-endpoint-url", server.endpoint]
        done = busta_cli(["encrypt", "plain.log", "-o", "s3://logs/plain.log.enc", "--compress", *endpoint], home)
        assert done.returncode == 0, done.stderr
        stored = server.client("s3").get_object(Bucket="logs", Key="plain.log.enc")["Body"].read()
        parsed = parse_header(stored)
        assert parsed is not None and parsed.header.encryption_context[COMPRESSION_CONTEXT_KEY] == "zstd"
        assert len(stored) < len(TEXT) // 3
        done = busta_cli(["decrypt", "s3://logs/plain.log.enc", "-o", "back.log", *endpoint], home)
        assert done.returncode == 0, done.stderr
    assert (home / "back.log").read_bytes() == TEXT


def test_a_corrupt_compressed_plaintext_is_one_line_and_no_output(home: Path) -> None:
    frame = zstandard.ZstdCompressor().compress(TEXT)[:-9]  # truncated inside an authentic message
    encryptor = busta.start_encryption(
        keyring=default_keyring(home / "config"), encryption_context=_Marked({COMPRESSION_CONTEXT_KEY: "zstd"})
    )
    (home / "bad.enc").write_bytes(encryptor.update(frame) + encryptor.finalize())
    done = busta_cli(["decrypt", "bad.enc", "-o", "bad.log"], home)
    assert done.returncode == 1
    assert "zstd frame" in one_error_line(done)
    assert not (home / "bad.log").exists()


def test_without_zstandard_compress_says_how_to_install_it_in_one_line(home: Path) -> None:
    blocker = home / "no-zstandard" / "zstandard"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named zstandard')\n")
    pythonpath = f"{blocker.parent}{os.pathsep}{ROOT}"
    done = busta_cli(["encrypt", "plain.log", "-o", "plain.enc", "--compress"], home, pythonpath=pythonpath)
    assert done.returncode == 1
    assert (
        one_error_line(done) == 'busta: error: zstd compression needs the zstandard package: pip install "busta[zstd]"'
    )
    assert not (home / "plain.enc").exists()
    # Without it, plain messages still work both ways.
    assert busta_cli(["encrypt", "plain.log", "-o", "plain.enc", "-q"], home, pythonpath=pythonpath).returncode == 0
    assert busta_cli(["decrypt", "plain.enc", "-o", "back.log", "-q"], home, pythonpath=pythonpath).returncode == 0
