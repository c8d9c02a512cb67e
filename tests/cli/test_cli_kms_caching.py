"""Data key caching on the command line (``--cache-max-age``, ``--cache-max-messages``,
``--cache-max-bytes``), through the real command in a fresh process against a moto server that
records each request: one caching materials manager serves every file of a command, so three
files under one KMS key make one GenerateDataKey call (three without caching), and their
messages, sharing one data key, decrypt with one KMS Decrypt call.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import busta as busta_sdk
from busta.keyrings import AwsKmsKeyring

from ..support.kms_cli import ROOT, busta, key, plain, provider_infos, server
from ..support.kms_recording import RecordingMotoServer, forget_calls, kms_calls, recording_moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY

__all__ = ["key", "plain", "recording_moto_server", "server"]  # fixtures, imported for pytest to find


# -- data key caching -----------------------------------------------------------------------------


def three_files(tmp_path: Path) -> list[str]:
    names = []
    for n in range(3):
        path = tmp_path / "in" / f"file{n}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(f"file {n}\n".encode() * (100 + n))
        names.append(str(path))
    return names


def encrypt_three(server: RecordingMotoServer, key: dict[str, str], tmp_path: Path, *caching: str) -> Path:
    out = tmp_path / "enc"
    out.mkdir()
    args = ["encrypt", *three_files(tmp_path), "-o", f"{out}/", "--kms-key", key["key ARN"], *caching]
    sent = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path)
    assert sent.returncode == 0, sent.stderr
    return out


def decrypt_three(server: RecordingMotoServer, key: dict[str, str], tmp_path: Path, enc: Path, *caching: str) -> None:
    out = tmp_path / "dec"
    out.mkdir()
    args = ["decrypt", *map(str, sorted(enc.iterdir())), "-o", f"{out}/", "--kms-key", key["key ARN"], *caching]
    back = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path)
    assert back.returncode == 0, back.stderr
    for n in range(3):
        assert (out / f"file{n}.txt").read_bytes() == (tmp_path / "in" / f"file{n}.txt").read_bytes()


def test_three_files_under_one_key_make_one_generate_data_key_call_with_caching(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path
) -> None:
    enc = encrypt_three(server, key, tmp_path, "--cache-max-age", "60")
    assert len(kms_calls(server, "GenerateDataKey")) == 1
    infos = {tuple(provider_infos(path, tmp_path)) for path in enc.iterdir()}
    assert len(infos) == 1
    forget_calls(server)
    decrypt_three(server, key, tmp_path, enc, "--cache-max-age", "60")
    assert len(kms_calls(server, "Decrypt")) == 1  # the three messages share one wrapped data key


def test_without_caching_three_files_make_three_calls(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path
) -> None:
    enc = encrypt_three(server, key, tmp_path)
    assert len(kms_calls(server, "GenerateDataKey")) == 3
    forget_calls(server)
    decrypt_three(server, key, tmp_path, enc)
    assert len(kms_calls(server, "Decrypt")) == 3


def test_files_encrypted_to_s3_share_one_data_key_with_caching(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path
) -> None:
    """Uploads declare their plaintext length too, so the cache serves them as it serves files."""
    server.with_bucket("cached")
    args = ["encrypt", *three_files(tmp_path), "-o", "s3://cached/in/", "--kms-key", key["key ARN"]]
    sent = busta([*args, "--cache-max-age", "60", "--aws-endpoint-url", server.endpoint], tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert len(kms_calls(server, "GenerateDataKey")) == 1
    s3 = server.client("s3")
    for n in range(3):
        body = s3.get_object(Bucket="cached", Key=f"in/file{n}.txt.enc")["Body"].read()
        keyring = AwsKmsKeyring(key["key ARN"], client=server.client("kms"))
        assert busta_sdk.decrypt(body, keyring=keyring).plaintext == (tmp_path / "in" / f"file{n}.txt").read_bytes()


@pytest.mark.parametrize(
    ("limit", "calls"),
    [(["--cache-max-messages", "2"], 2), (["--cache-max-bytes", "1000"], 3), (["--cache-max-bytes", "10000"], 1)],
    ids=["two-messages", "bytes-below-one-file", "bytes-above-three"],
)
def test_cache_limits_bound_what_one_data_key_encrypts(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path, limit: list[str], calls: int
) -> None:
    encrypt_three(server, key, tmp_path, "--cache-max-age", "60", *limit)  # files of 700 to 816 bytes
    assert len(kms_calls(server, "GenerateDataKey")) == calls


def test_standard_input_is_of_unknown_length_and_bypasses_the_cache(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path
) -> None:
    args = ["encrypt", "-", "-o", str(tmp_path / "m"), "--kms-key", key["key ARN"], "--cache-max-age", "60"]
    sent = subprocess.run(
        [sys.executable, "-m", "busta", *args, "--aws-endpoint-url", server.endpoint],
        input=b"from a pipe\n",
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        },
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert len(kms_calls(server, "GenerateDataKey")) == 1


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--cache-max-age", "0"], ["--cache-max-age", "positive"]),
        (["--cache-max-age", "-5"], ["--cache-max-age", "positive"]),
        (["--cache-max-age", "nan"], ["--cache-max-age", "positive"]),
        (["--cache-max-age", "inf"], ["--cache-max-age", "positive"]),
        (["--cache-max-age", "soon"], ["--cache-max-age", "seconds"]),
        (["--cache-max-age", "9", "--cache-max-messages", "0"], ["--cache-max-messages", "1 to 4294967296"]),
        (["--cache-max-age", "9", "--cache-max-messages", str(2**32 + 1)], ["--cache-max-messages"]),
        (["--cache-max-age", "9", "--cache-max-bytes", "1.5"], ["--cache-max-bytes", "whole number"]),
        (["--cache-max-age", "9", "--cache-max-bytes", str(2**63)], ["--cache-max-bytes"]),
        (["--cache-max-messages", "5"], ["need --cache-max-age"]),
        (["--cache-max-bytes", "5"], ["need --cache-max-age"]),
    ],
)
def test_bad_cache_options_are_usage_errors(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path, options: list[str], words: list[str]
) -> None:
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m"), "--kms-key", key["key ARN"], *options]
    refused = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    for word in words:
        assert word in refused.stderr, refused.stderr
    assert kms_calls(server) == []


def test_a_fifo_input_is_not_taken_for_its_reported_size(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    args = ["encrypt", str(fifo), "-o", str(tmp_path / "m"), "--kms-key", key["key ARN"], "--cache-max-age", "60"]
    process = subprocess.Popen(
        [sys.executable, "-m", "busta", *args, "--aws-endpoint-url", server.endpoint],
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        },
        stderr=subprocess.PIPE,
    )
    with open(fifo, "wb") as writer:
        writer.write(b"more than the zero bytes a FIFO's stat reports\n")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    back = busta(
        ["decrypt", str(tmp_path / "m"), "-o", "-", "--kms-key", key["key ARN"], "--aws-endpoint-url", server.endpoint],
        tmp_path,
    )
    assert back.stdout == "more than the zero bytes a FIFO's stat reports\n"
