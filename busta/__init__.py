"""busta: client-side envelope encryption, byte-compatible with the AWS Encryption SDK message format.

Quick start::

    import os, busta
    from busta.keyrings import RawAesKeyring

    keyring = RawAesKeyring("my-app", "key-1", os.urandom(32))
    message = busta.encrypt(b"secret", keyring=keyring, encryption_context={"purpose": "demo"})
    assert busta.decrypt(message, keyring=keyring).plaintext == b"secret"

Policy, limits and threads are set once, on a :class:`Client` (``busta.encrypt`` is
``busta.Client().encrypt``)::

    client = busta.Client(commitment_policy=busta.CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)
    result = client.decrypt(message, keyring=keyring)
"""

from typing import TYPE_CHECKING, Any

from . import errors, keyrings, materials
from ._secrets import SecretBytes
from ._version import __version__ as __version__
from .api import (
    Client,
    DecryptedInto,
    DecryptResult,
    StreamResult,
    decrypt,
    decrypt_into,
    decrypt_stream,
    decrypting_reader,
    decrypting_writer,
    encrypt,
    encrypt_into,
    encrypt_stream,
    encrypting_reader,
    encrypting_writer,
    open_seekable,
    start_decryption,
    start_encryption,
)
from .format import ContentType, EncryptedDataKey, Header
from .materials import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    DefaultCryptoMaterialsManager,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    RequiredEncryptionContextCmm,
)
from .streaming.decryptor import MessageDecryptor
from .streaming.driver import DrivenDecryptor
from .streaming.encryptor import MessageEncryptor
from .streaming.io import DecryptingReader, DecryptingWriter, EncryptingReader, EncryptingWriter
from .streaming.random_access import SeekableDecryptingReader
from .suites import AlgorithmSuite, CommitmentPolicy

if TYPE_CHECKING:
    from .materials.caching import CachingCryptoMaterialsManager, LruMaterialsCache

_FROM_MATERIALS = frozenset({"CachingCryptoMaterialsManager", "LruMaterialsCache"})

__all__ = [
    "AlgorithmSuite",
    "CachingCryptoMaterialsManager",
    "Client",
    "CommitmentPolicy",
    "ContentType",
    "CryptoMaterialsManager",
    "DecryptResult",
    "DecryptedInto",
    "DecryptingReader",
    "DecryptingWriter",
    "DecryptionMaterials",
    "DecryptionRequest",
    "DefaultCryptoMaterialsManager",
    "DrivenDecryptor",
    "EncryptedDataKey",
    "EncryptingReader",
    "EncryptingWriter",
    "EncryptionMaterials",
    "EncryptionRequest",
    "Header",
    "Keyring",
    "LruMaterialsCache",
    "MessageDecryptor",
    "MessageEncryptor",
    "RequiredEncryptionContextCmm",
    "SecretBytes",
    "SeekableDecryptingReader",
    "StreamResult",
    "decrypt",
    "decrypt_into",
    "decrypt_stream",
    "decrypting_reader",
    "decrypting_writer",
    "encrypt",
    "encrypt_into",
    "encrypt_stream",
    "encrypting_reader",
    "encrypting_writer",
    "errors",
    "keyrings",
    "open_seekable",
    "start_decryption",
    "start_encryption",
]


def __getattr__(name: str) -> Any:
    """The caching materials manager and its cache, loaded on first use (see ``busta.materials``)."""
    if name in _FROM_MATERIALS:
        return getattr(materials, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
