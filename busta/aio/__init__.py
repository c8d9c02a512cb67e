"""busta's asyncio API: the same messages, errors and limits as the sync API, on the same sans-I/O engine.

Nothing here is a second copy of the engine: one-shot calls, async streams, the async keyrings and
materials managers, and S3 on aiobotocore each drive :class:`busta.MessageEncryptor` /
:class:`busta.MessageDecryptor` and hand frame work of large messages to the engine's executor, so the
event loop stays free. Blocking keyrings (raw AES/RSA, PKCS#11, the sync KMS keyrings) are accepted
and run in a thread, never on the loop. See docs/async.md.

Importing ``busta.aio`` imports no aiobotocore; the KMS keyrings and the S3 calls import it when first
used (``pip install "busta[async]"``).
"""

from ._kms import (
    AsyncClientCache,
    AsyncKmsClientSupplier,
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    AwsKmsMrkDiscoveryKeyring,
    AwsKmsMrkKeyring,
)
from ._protocols import AsyncCryptoMaterialsManager, AsyncKeyring, is_async_keyring, is_async_materials_manager

__all__ = [
    "AsyncClientCache",
    "AsyncCryptoMaterialsManager",
    "AsyncKeyring",
    "AsyncKmsClientSupplier",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "is_async_keyring",
    "is_async_materials_manager",
]
