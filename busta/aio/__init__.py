"""busta's asyncio API: the same messages, errors and limits as the sync API, on the same sans-I/O engine.

Nothing here is a second copy of the engine: one-shot calls, async streams, the async keyrings and
materials managers, and S3 on aiobotocore each drive :class:`busta.MessageEncryptor` /
:class:`busta.MessageDecryptor` and hand frame work of large messages to a thread, so the event
loop stays free. Blocking keyrings (raw AES/RSA, PKCS#11, the sync KMS keyrings) and materials
managers are accepted and run in a thread, never on the loop.

- ``await encrypt(...)`` / ``await decrypt(...)``: :func:`busta.encrypt` / :func:`busta.decrypt`, awaited.
- ``await encrypt_stream(source, sink, ...)`` / ``decrypt_stream``: async source to async sink. A source
  is ``asyncio.StreamReader``, anything with ``async read(n)``, or any async iterable of bytes; a sink
  is ``asyncio.StreamWriter`` or anything with ``async write(data)``.
- :class:`Client`: a :class:`busta.Client`'s settings, awaited; the functions are a default one's.

See docs/async.md. Importing ``busta.aio`` imports no aiobotocore; the KMS keyrings and the S3 calls
import it when first used (``pip install "busta[async]"``).
"""

import importlib
from typing import TYPE_CHECKING

from ._api import Client
from ._drive import AsyncDecryptor
from ._io import AsyncDecryptingReader, AsyncDecryptingWriter, AsyncEncryptingReader, AsyncEncryptingWriter
from ._materials import (
    AsyncCachingCryptoMaterialsManager,
    AsyncDefaultCryptoMaterialsManager,
    AsyncRequiredEncryptionContextCmm,
)
from ._multi import AsyncMultiKeyring
from ._offload import ThreadedKeyring, ThreadedMaterialsManager
from ._protocols import AsyncCryptoMaterialsManager, AsyncKeyring, is_async_keyring, is_async_materials_manager

if TYPE_CHECKING:
    from ._hierarchy import AsyncBranchKeyStore, AsyncHierarchicalKeyring
    from ._kms import (
        AsyncClientCache,
        AsyncKmsClientSupplier,
        AwsKmsDiscoveryKeyring,
        AwsKmsKeyring,
        AwsKmsMrkDiscoveryKeyring,
        AwsKmsMrkKeyring,
    )

#: Names loaded on first use: the KMS keyrings import botocore, which ``import busta.aio`` does not.
_LAZY: dict[str, str] = dict.fromkeys(
    (
        "AsyncClientCache",
        "AsyncKmsClientSupplier",
        "AwsKmsDiscoveryKeyring",
        "AwsKmsKeyring",
        "AwsKmsMrkDiscoveryKeyring",
        "AwsKmsMrkKeyring",
    ),
    "._kms",
)
_LAZY.update(dict.fromkeys(("AsyncBranchKeyStore", "AsyncHierarchicalKeyring"), "._hierarchy"))


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


#: The client behind the module functions: ``Client()``, the default ``busta.Client()``'s settings.
DEFAULT_CLIENT: Client = Client()

encrypt = DEFAULT_CLIENT.encrypt
decrypt = DEFAULT_CLIENT.decrypt
encrypt_stream = DEFAULT_CLIENT.encrypt_stream
decrypt_stream = DEFAULT_CLIENT.decrypt_stream
decrypting_reader = DEFAULT_CLIENT.decrypting_reader
decrypting_writer = DEFAULT_CLIENT.decrypting_writer
encrypting_reader = DEFAULT_CLIENT.encrypting_reader
encrypting_writer = DEFAULT_CLIENT.encrypting_writer
start_encryption = DEFAULT_CLIENT.start_encryption
start_decryption = DEFAULT_CLIENT.start_decryption

__all__ = [
    "DEFAULT_CLIENT",
    "AsyncBranchKeyStore",
    "AsyncCachingCryptoMaterialsManager",
    "AsyncClientCache",
    "AsyncCryptoMaterialsManager",
    "AsyncDecryptingReader",
    "AsyncDecryptingWriter",
    "AsyncDecryptor",
    "AsyncDefaultCryptoMaterialsManager",
    "AsyncEncryptingReader",
    "AsyncEncryptingWriter",
    "AsyncHierarchicalKeyring",
    "AsyncKeyring",
    "AsyncKmsClientSupplier",
    "AsyncMultiKeyring",
    "AsyncRequiredEncryptionContextCmm",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "Client",
    "ThreadedKeyring",
    "ThreadedMaterialsManager",
    "decrypt",
    "decrypt_stream",
    "decrypting_reader",
    "decrypting_writer",
    "encrypt",
    "encrypt_stream",
    "encrypting_reader",
    "encrypting_writer",
    "is_async_keyring",
    "is_async_materials_manager",
    "start_decryption",
    "start_encryption",
]
