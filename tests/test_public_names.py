"""The public names of busta, pinned: each module's ``__all__`` is exactly the sorted list below,
every name in it can be imported, and no public name a module defines (or, for a package,
re-exports) is left out of it.

Changing a public name is a decision: it changes this list, and the CHANGELOG says so.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import types
from pathlib import Path

import pytest

#: Each module's __all__, in the order ruff's RUF022 keeps (constants, classes, functions; each sorted).
PINNED: dict[str, list[str]] = {
    "busta": [
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
    ],
    "busta.errors": [
        "AuthenticationError",
        "BranchKeyStoreError",
        "BustaError",
        "CompressionError",
        "EncryptionContextError",
        "EnvelopeError",
        "KeyFileError",
        "KeyringError",
        "KmsError",
        "LimitExceededError",
        "MalformedMessageError",
        "NoDecryptingKeyError",
        "Pkcs11Error",
        "PolicyError",
        "S3Error",
        "SignedMessageError",
        "SourceChangedError",
        "TruncatedMessageError",
        "UnsafePathError",
        "UsageError",
    ],
    "busta.format": [
        "ContentType",
        "EncryptedDataKey",
        "FrameHead",
        "Header",
        "HeaderAuth",
        "ParsedHeader",
        "body_aad",
        "frame_iv",
        "parse_footer",
        "parse_frame_head",
        "parse_header",
        "parse_nonframed_head",
        "serialize_header",
        "serialize_header_auth",
    ],
    "busta.materials": [
        "CachingCryptoMaterialsManager",
        "CryptoMaterialsManager",
        "DecryptionMaterials",
        "DecryptionRequest",
        "DefaultCryptoMaterialsManager",
        "EncryptionMaterials",
        "EncryptionRequest",
        "Keyring",
        "LruMaterialsCache",
        "RequiredEncryptionContextCmm",
        "is_keyring",
        "is_materials_manager",
    ],
    "busta.keyrings": [
        "AwsKmsDiscoveryKeyring",
        "AwsKmsKeyring",
        "AwsKmsMrkDiscoveryKeyring",
        "AwsKmsMrkKeyring",
        "BranchKeyCache",
        "ClientCache",
        "DiscoveryFilter",
        "EcdhCurve",
        "EcdhScheme",
        "HierarchicalKeyring",
        "MultiKeyring",
        "Pkcs11Keyring",
        "RawAesKeyring",
        "RawEcdhKeyring",
        "RawRsaKeyring",
        "RsaPadding",
        "StaticBranchKeyStore",
    ],
    "busta.keyrings.registry": [
        "CliOption",
        "KeyArgs",
        "KeyOption",
        "KeyringConfig",
        "KeyringKind",
        "exporting",
        "kinds",
        "register",
        "unregister",
    ],
    "busta.keyrings.kinds": [
        "AesKeyFile",
        "EnvKey",
        "KmsDiscovery",
        "KmsKey",
        "LocalKey",
        "Pkcs11Key",
        "RsaKeyFile",
        "aws_region",
        "kms_key",
        "profile_session",
        "resolved_region",
    ],
    "busta.keyrings.kinds_ecdh": [
        "EcdhKeyFile",
    ],
    "busta.keyrings.raw_ecdh": [
        "EcdhCurve",
        "EcdhScheme",
        "RawEcdhKeyring",
    ],
    "busta.keyrings.ecdh_keys": [
        "KeyPairPem",
        "curve_named",
        "generate_key_pair",
        "read_private_key",
        "read_public_key",
    ],
    "busta.keyrings.pkcs11": [
        "DEFAULT_PIN_ENV",
        "Pkcs11Keyring",
    ],
    "busta.keyrings.pkcs11_admin": [
        "DEFAULT_PIN_ENV",
        "SOFTHSM_MODULES",
        "KeyInfo",
        "SoftHsmToken",
        "create_softhsm_token",
        "generate_aes_key",
        "list_keys",
        "softhsm_module",
    ],
    "busta.keyconfig": [
        "AesKeyFile",
        "BranchKeyStoreConfig",
        "EcdhKeyFile",
        "EnvKey",
        "HierarchyKey",
        "KeyringConfig",
        "KmsDiscovery",
        "KmsKey",
        "LocalKey",
        "Multi",
        "Pkcs11Key",
        "RsaKeyFile",
        "build_keyring",
    ],
    "busta.keyfile": [
        "DEFAULT_KEY_NAME",
        "DEFAULT_NAMESPACE",
        "KEY_BYTES",
        "KIND",
        "RECORD_VERSION",
        "KeyRecord",
        "config_dir",
        "config_file",
        "default_key_path",
        "encode_record",
        "generate",
        "read_raw_key",
        "read_record",
    ],
    "busta.aio.s3": [
        "AsyncObject",
        "DownloadExtraArgs",
        "S3Error",
        "UploadExtraArgs",
        "UploadResult",
        "download_file",
        "download_fileobj",
        "get_range",
        "open_object",
        "read_header",
        "upload_file",
        "upload_fileobj",
    ],
    "busta.s3": [
        "CONTEXT_METADATA_KEY",
        "DEFAULT_COPY_PART_SIZE",
        "DEFAULT_MAX_CONCURRENCY",
        "DEFAULT_MULTIPART_THRESHOLD",
        "DEFAULT_PART_SIZE",
        "MIN_PART_SIZE",
        "DownloadExtraArgs",
        "ObjectSink",
        "ProgressCallback",
        "RangedObject",
        "RewrapResult",
        "S3Error",
        "UploadExtraArgs",
        "UploadResult",
        "abort_uploads",
        "download_file",
        "download_fileobj",
        "fetch_range",
        "get_range",
        "object_writer",
        "open_object",
        "properties_of",
        "read_object_header",
        "rewrap_object",
        "s3_error",
        "upload_file",
        "upload_fileobj",
    ],
    "busta.aio": [
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
    ],
    "busta.bulk": [
        "BulkReport",
        "InsecureClusterWarning",
        "JobSpec",
        "ObjectResult",
        "Operation",
        "Progress",
        "S3Settings",
        "local_client",
        "process_object",
        "run",
    ],
    "busta.rewrap": [
        "CheckedCopy",
        "Fetch",
        "RewrappedHeader",
        "check_rewrapped",
        "copy_ranges",
        "rewrap",
        "rewrap_header",
    ],
    "busta.results": ["DecryptResult", "DecryptedInto", "StreamResult"],
    "busta.compression": [
        "COMPRESSIONS",
        "COMPRESSION_CONTEXT_KEY",
        "DECOMPRESS_PIECE_BYTES",
        "ZSTD_LEVEL",
        "Compressor",
        "Decompressor",
        "check_compression",
        "compress_whole",
        "compression_of",
        "decompress_whole",
        "mark",
        "refuse_reserved",
    ],
    "busta.demo": [
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
    ],
    "busta.keyrings.branch_key_plans": [
        "BeaconKeyMaterials",
        "BranchKeyMaterials",
        "Call",
        "Plan",
        "beacon_plan",
        "create_key_plan",
        "version_key_plan",
        "version_plan",
    ],
    "busta.keyrings.branch_key_rules": [
        "AWS_ERRORS",
        "SORT_ACTIVE",
        "SORT_BEACON",
        "KeyStoreInfo",
        "KmsConfiguration",
        "KmsKeyArn",
        "KmsKeyDiscovery",
        "KmsMrDiscovery",
        "KmsMrkKeyArn",
        "StoreRules",
        "new_timestamp",
        "new_version",
        "sort_key_of_version",
    ],
    "busta.keyrings.branch_key_store": [
        "BeaconKeyMaterials",
        "BranchKeyMaterials",
        "BranchKeyStore",
        "KeyStoreInfo",
        "KmsKeyArn",
        "KmsKeyDiscovery",
        "KmsMrDiscovery",
        "KmsMrkKeyArn",
        "default_region",
    ],
    "busta.keyrings.hierarchy": [
        "PROVIDER_ID",
        "BranchKeyCache",
        "BranchKeyIdSupplier",
        "BranchKeySource",
        "HierarchicalKeyring",
        "HierarchyRules",
        "StaticBranchKeyStore",
        "WrappedKey",
    ],
    "busta.keyrings.kinds_hierarchy": [
        "DEFAULT_TTL_SECONDS",
        "BranchKeyStoreConfig",
        "HierarchyKey",
        "hierarchy_key",
    ],
    "busta.keyrings.kms_wire": [
        "KMS_ERRORS",
        "PROVIDER_ID",
        "CacheSettings",
        "DiscoveryFilter",
        "DiscoveryRules",
        "KmsRules",
        "MrkDiscoveryRules",
        "Plan",
        "RegionBudget",
        "StrictRules",
        "Unwrapping",
        "cache_options",
        "decrypted_key",
        "is_region",
        "kms_error",
        "log_success",
        "mrk_match",
        "no_client_error",
        "region_of",
    ],
}


#: Names a module may bind without exporting them: typing's guard, the __future__ feature.
NOT_API = frozenset({"TYPE_CHECKING", "annotations"})


@pytest.mark.parametrize("name", sorted(PINNED))
def test_all_is_exactly_the_pinned_list(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == PINNED[name]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_name_in_all_can_be_imported(name: str) -> None:
    module = importlib.import_module(name)
    assert len(set(module.__all__)) == len(module.__all__), f"{name}.__all__ names something twice"
    for public in module.__all__:
        exec(f"from {name} import {public}", {})
        assert getattr(module, public) is not None


def _defined_at_top_level(module: types.ModuleType) -> set[str]:
    """The names ``module``'s own source binds at its top level (def, class, assignment)."""
    tree = ast.parse(inspect.getsource(module))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found |= {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}
    return found


def _public(module: types.ModuleType) -> set[str]:
    """What ``module`` offers under a public name: what it defines, and for a package what it
    imports from busta to offer (submodules and names from outside busta excepted)."""
    names = {name for name in _defined_at_top_level(module) if not name.startswith("_")}
    if hasattr(module, "__path__"):
        for name, value in vars(module).items():
            if name.startswith("_") or isinstance(value, types.ModuleType):
                continue
            if str(getattr(value, "__module__", "busta")).startswith("busta"):
                names.add(name)
    return names - NOT_API


@pytest.mark.parametrize("name", sorted(PINNED))
def test_no_public_name_is_missing_from_all(name: str) -> None:
    module = importlib.import_module(name)
    assert _public(module) - set(module.__all__) == set()


def test_the_missing_name_check_sees_a_public_name_left_out(tmp_path: Path) -> None:
    """The check above is not vacuous: a module that defines public names outside __all__ fails it."""
    path = tmp_path / "busta_probe.py"
    source = "__all__ = ['kept']\nkept = 1\nleft_out = 2\n_private = 3\n\n\ndef helper() -> None: ...\n"
    path.write_text(source, "utf-8")
    spec = importlib.util.spec_from_file_location("busta_probe", path)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    assert _public(probe) - set(probe.__all__) == {"left_out", "helper"}
