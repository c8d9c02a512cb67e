"""The main job: encrypt and decrypt a sample file with a local AES key.

Run ``python -m busta.demo [--work-dir DIR]`` (or the ``busta-demo`` script).
It needs no cloud account and no HSM. It:

1. creates, or reuses, a 256-bit AES wrapping key in ``$XDG_CONFIG_HOME/busta/demo.key``
   (``~/.config/busta/demo.key`` when XDG_CONFIG_HOME is unset), mode 0600; a key file of
   the wrong size, or one the CLI would not trust (not a regular file, not yours or root's,
   group or others may access it, or others may write a directory above it), is refused,
   never replaced;
2. writes a sample text file into the work directory (a new temporary directory by default);
3. encrypts it through a streaming writer under
   ``RawAesKeyring("envelope-demo", "local-key", key)`` with the encryption context
   ``{"purpose": "demo", "file": <name>}``;
4. decrypts it through a streaming reader, expecting that context, into a third file,
   and checks that file equals the sample.

Every file is written to a temporary file in the same directory and renamed into place,
so an interrupted run leaves no partial key or output file behind. The exit status is 0
when every step succeeded; otherwise one line on stderr says what failed.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from . import _atomic, decrypting_reader, encrypting_writer
from ._secrets import SecretBytes
from ._text import printable
from ._trust import read_key_file
from .errors import BustaError, KeyFileError
from .format import Header
from .keyfile import config_file
from .keyrings import RawAesKeyring

__all__ = [
    "DECRYPTED_NAME",
    "ENCRYPTED_NAME",
    "KEY_BYTES",
    "KEY_NAME",
    "KEY_NAMESPACE",
    "SAMPLE_MIN_BYTES",
    "SAMPLE_NAME",
    "DemoError",
    "atomic_output",
    "decrypt_file",
    "encrypt_file",
    "key_path",
    "load_or_create_key",
    "main",
    "read_key",
    "run",
    "sample_text",
]

KEY_NAMESPACE = "envelope-demo"
KEY_NAME = "local-key"
KEY_BYTES = 32
SAMPLE_NAME = "sample.txt"
ENCRYPTED_NAME = "sample.txt.encrypted"
DECRYPTED_NAME = "sample.decrypted.txt"
SAMPLE_MIN_BYTES = 300_000

_SENTENCES = (
    "Envelope encryption seals the data under a fresh data key.",
    "The data key is wrapped under a key you keep, here a local AES key.",
    "Each frame is sealed with AES-GCM and checked before any of it is released.",
    "The encryption context is authenticated with every frame but is not secret.",
)


class DemoError(Exception):
    """A problem the demo reports in one line: a refused key file, a mismatch."""


def key_path() -> Path:
    """``$XDG_CONFIG_HOME/busta/demo.key``, or ``~/.config/busta/demo.key``; the key envelope 0.1
    made under ``.../envelope/demo.key`` while only that exists.

    As the XDG spec says, an empty or relative XDG_CONFIG_HOME is ignored.
    """
    return config_file("demo.key")


def atomic_output(path: Path) -> AbstractContextManager[BinaryIO]:
    """A context manager yielding a file (mode 0600) that replaces ``path`` only if the block succeeds.

    The data goes to a temporary file in the same directory, is flushed to disk and
    then renamed over ``path``; on any exception the temporary file is removed.
    """
    return _atomic.atomic_output(path, prefix=f".{path.name}.")


def read_key(path: Path) -> SecretBytes:
    """Read the key file, refusing a wrong size and any file the CLI would not trust as a key file
    (:mod:`busta._trust`: not a regular file, not the user's or root's, group or world
    access, a directory above it that others may write), with :class:`DemoError`. A FIFO is
    refused without being read, so it cannot hang the demo."""
    try:
        key = read_key_file(path)
    except KeyFileError as exc:
        raise DemoError(str(exc)) from None
    if len(key) != KEY_BYTES:
        raise DemoError(
            f"key file {path} holds {len(key)} bytes, not {KEY_BYTES}; move it aside and the demo will create a new key"
        )
    return SecretBytes(key)


def load_or_create_key(path: Path) -> tuple[SecretBytes, bool]:
    """Return the key in ``path`` and whether it was just created (a fresh random key)."""
    try:
        return read_key(path), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = SecretBytes(secrets.token_bytes(KEY_BYTES))
    with atomic_output(path) as out:
        out.write(key.reveal())
    return key, True


def sample_text(min_bytes: int = SAMPLE_MIN_BYTES) -> bytes:
    """Numbered lines of ASCII text, at least ``min_bytes`` long."""
    lines: list[str] = []
    length = 0
    while length < min_bytes:
        line = f"line {len(lines) + 1:05d}: {_SENTENCES[len(lines) % len(_SENTENCES)]}\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode("ascii")


def encrypt_file(source: Path, target: Path, keyring: RawAesKeyring, context: Mapping[str, str]) -> Header:
    """Stream ``source`` into an encrypted message at ``target``; return the message header."""
    with (
        source.open("rb") as plaintext,
        atomic_output(target) as sink,
        encrypting_writer(sink, keyring=keyring, encryption_context=context) as writer,
    ):
        shutil.copyfileobj(plaintext, writer)
    return writer.header


def decrypt_file(source: Path, target: Path, keyring: RawAesKeyring, expected: Mapping[str, str]) -> Header:
    """Stream the message at ``source`` into plaintext at ``target``; return its header.

    ``target`` appears only after the whole message, with every frame, authenticated.
    """
    with (
        source.open("rb") as message,
        atomic_output(target) as sink,
        decrypting_reader(message, keyring=keyring, encryption_context=expected) as reader,
    ):
        header = reader.read_header()
        shutil.copyfileobj(reader, sink)
    return header


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _describe(path: Path) -> str:
    return f"{path} ({path.stat().st_size:,} bytes)"


def _report(key_file: Path, created: bool, files: tuple[Path, Path, Path], header: Header, seconds: float) -> None:
    sample, encrypted, decrypted = files
    origin = "created" if created else "reused"
    rows = [
        ("key file", f"{key_file} ({origin}, mode {_mode(key_file):04o}, {KEY_BYTES} bytes)"),
        ("keyring", f"RawAesKeyring({KEY_NAMESPACE!r}, {KEY_NAME!r}, <key>)"),
        ("plaintext", _describe(sample)),
        ("encrypted", _describe(encrypted)),
        ("decrypted", _describe(decrypted)),
        ("suite", f"{header.suite.name} (0x{header.suite.id:04X})"),
        ("frame length", f"{header.frame_length} bytes"),
        ("message id", header.message_id.hex()),
        ("stored context", json.dumps(header.encryption_context)),
        ("elapsed", f"{seconds:.3f} s"),
    ]
    for label, value in rows:
        print(f"{label + ':':<16}{value}")
    print("OK: the decrypted file equals the sample")


def run(work_dir: Path) -> None:
    """Do the whole demo in ``work_dir`` and print what was done."""
    started = time.perf_counter()
    key_file = key_path()
    key, created = load_or_create_key(key_file)
    keyring = RawAesKeyring(KEY_NAMESPACE, KEY_NAME, key)
    files = (work_dir / SAMPLE_NAME, work_dir / ENCRYPTED_NAME, work_dir / DECRYPTED_NAME)
    sample, encrypted, decrypted = files
    with atomic_output(sample) as out:
        out.write(sample_text())
    context = {"purpose": "demo", "file": SAMPLE_NAME}
    encrypt_file(sample, encrypted, keyring, context)
    header = decrypt_file(encrypted, decrypted, keyring, context)
    if not filecmp.cmp(sample, decrypted, shallow=False):
        raise DemoError(f"{decrypted} differs from {sample}")
    _report(key_file, created, files, header, time.perf_counter() - started)


def _work_dir(requested: Path | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="busta-demo-"))
    requested.mkdir(parents=True, exist_ok=True)
    return requested


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="busta-demo",
        description="Encrypt and decrypt a sample file with busta and a local AES key.",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="where to write the sample, encrypted and decrypted files (default: a new temporary directory)",
    )
    return parser


def _one_line(exc: BaseException) -> str:
    text = printable(" ".join(str(exc).split()))
    return text if isinstance(exc, DemoError) else f"{type(exc).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return 0 on success, 1 (with one line on stderr) on failure."""
    args = _parser().parse_args(argv)
    requested: Path | None = args.work_dir
    try:
        run(_work_dir(requested))
    except (DemoError, BustaError, OSError) as exc:
        print(f"busta-demo: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
