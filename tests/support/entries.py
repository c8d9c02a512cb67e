"""One message decrypted through each of busta's decryption entry points, under the same client."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import busta
from busta import s3
from busta.materials import Keyring

#: Every entry point that decrypts a whole message.
DECRYPT_ENTRIES = (
    "decrypt",
    "decrypting_reader",
    "decrypting_writer",
    "decrypt_stream",
    "start_decryption",
    "open_seekable",
    "s3.download_fileobj",
    "s3.download_file",
    "s3.get_range",
)


def decrypt_through(
    entry: str,
    message: bytes,
    keyring: Keyring,
    *,
    sdk: busta.Client = busta.api.DEFAULT_CLIENT,
    s3_object: tuple[Any, str, str] | None = None,
    tmp: Path | None = None,
) -> bytes:
    """The plaintext of ``message`` decrypted through ``entry`` of the client ``sdk`` (its limits, say).

    The ``s3.`` entries read the object ``s3_object`` = (client, bucket, key), which holds ``message``;
    ``s3.download_file`` writes into ``tmp``. The writer is fed 64 KiB at a time."""
    sink = io.BytesIO()
    if entry == "decrypt":
        return sdk.decrypt(message, keyring=keyring).plaintext
    if entry == "decrypting_reader":
        return sdk.decrypting_reader(io.BytesIO(message), keyring=keyring).read()
    if entry == "open_seekable":
        return sdk.open_seekable(io.BytesIO(message), keyring=keyring).read()
    if entry == "decrypting_writer":
        with sdk.decrypting_writer(sink, keyring=keyring) as writer:
            for at in range(0, len(message), 1 << 16):
                writer.write(message[at : at + (1 << 16)])
    elif entry == "decrypt_stream":
        sdk.decrypt_stream(io.BytesIO(message), sink, keyring=keyring)
    elif entry == "start_decryption":
        decryptor = sdk.start_decryption(keyring=keyring)
        sink.write(decryptor.update(message))
        decryptor.finalize()
    else:
        assert s3_object is not None, f"{entry} needs the object that holds the message"
        client, bucket, key = s3_object
        if entry == "s3.get_range":
            return s3.get_range(bucket, key, 0, 1 << 30, client=client, sdk=sdk, keyring=keyring)
        if entry == "s3.download_fileobj":
            s3.download_fileobj(bucket, key, sink, client=client, sdk=sdk, keyring=keyring)
        elif entry == "s3.download_file":
            assert tmp is not None
            out = tmp / "downloaded"
            s3.download_file(bucket, key, out, client=client, sdk=sdk, keyring=keyring)
            sink.write(out.read_bytes())
        else:
            raise AssertionError(f"unknown entry {entry}")
    return sink.getvalue()
