"""busta's branch key store and hierarchical keyring against the official KeyStore and MPL hierarchical
keyring (aws-encryption-sdk 4 + MPL 1.11), both on one moto server (DynamoDB and KMS over HTTP):
stores created by either, messages written by either, rotation by either, a multi-tenant supplier,
and the 11 ``aws-kms-hierarchy`` vectors (the static branch key put into the table under KMS)."""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import Any

import pytest

import busta
from busta.keyrings._ddb_items import active_context, decrypt_only_context, to_item
from busta.keyrings.branch_key_store import BranchKeyStore, KmsKeyArn
from busta.keyrings.hierarchy import HierarchicalKeyring, StaticBranchKeyStore

from ..support.hierarchy_vectors import HierarchyCase, load_hierarchy_cases, static_branch_key
from ..support.kms_fixtures import KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer

__all__ = ["kms_keys", "moto_server"]

TTL = 300
CASES = load_hierarchy_cases()


@functools.cache
def _official() -> Any:
    """The official modules, imported once (the import is slow)."""
    import aws_encryption_sdk  # type: ignore[import-untyped,unused-ignore]
    from aws_cryptographic_material_providers.keystore import (  # type: ignore[import-untyped,unused-ignore]
        KeyStore,  # type: ignore[import-untyped,unused-ignore]
        config,
        models,
    )
    from aws_cryptographic_material_providers.mpl import (
        AwsCryptographicMaterialProviders,  # type: ignore[import-untyped,unused-ignore]
        references,  # type: ignore[import-untyped,unused-ignore]
    )
    from aws_cryptographic_material_providers.mpl import models as mpl_models  # type: ignore[import-untyped,unused-ignore]
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig  # type: ignore[import-untyped,unused-ignore]

    return types.SimpleNamespace(
        sdk=aws_encryption_sdk,
        KeyStore=KeyStore,
        config=config,
        ks=models,
        mpl_models=mpl_models,
        refs=references,
        mpl=AwsCryptographicMaterialProviders(config=MaterialProvidersConfig()),
    )


def _official_store(server: MotoServer, arn: str, table: str, logical: str) -> Any:
    o = _official()
    config = o.config.KeyStoreConfig(
        ddb_table_name=table,
        kms_configuration=o.ks.KMSConfigurationKmsKeyArn(arn),
        logical_key_store_name=logical,
        ddb_client=server.client("dynamodb"),
        kms_client=server.client("kms"),
    )
    return o.KeyStore(config=config)


def _official_keyring(store: Any, branch_key_id: str | None = None, supplier: Any = None) -> Any:
    o = _official()
    request = o.mpl_models.CreateAwsKmsHierarchicalKeyringInput(
        key_store=store, branch_key_id=branch_key_id, branch_key_id_supplier=supplier, ttl_seconds=TTL
    )
    return o.mpl.create_aws_kms_hierarchical_keyring(request)


@functools.cache
def _sdk(committing: bool) -> Any:
    policy = _official().sdk.CommitmentPolicy
    chosen = policy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT if committing else policy.FORBID_ENCRYPT_ALLOW_DECRYPT
    return _official().sdk.EncryptionSDKClient(commitment_policy=chosen)


def _official_decrypt(message: bytes, keyring: Any, committing: bool = True) -> bytes:
    plaintext, _header = _sdk(committing).decrypt(source=message, keyring=keyring)
    return bytes(plaintext)


def _official_encrypt(plaintext: bytes, keyring: Any, context: Mapping[str, str], **options: Any) -> bytes:
    committing = options.pop("committing", True)
    message, _header = _sdk(committing).encrypt(
        source=plaintext, keyring=keyring, encryption_context=dict(context), **options
    )
    return bytes(message)


class Stores:
    def __init__(self, server: MotoServer, arn: str) -> None:
        self.server, self.arn = server, arn
        self.official = _official_store(server, arn, "official-table", "official-logical")
        self.official.create_key_store(_official().ks.CreateKeyStoreInput())
        self.busta_on_official = self.busta("official-table", "official-logical")
        self.busta_own = self.busta("busta-table", "busta-logical")
        self.busta_own.create_key_store()
        self.official_on_busta = _official_store(server, arn, "busta-table", "busta-logical")

    def busta(self, table: str, logical: str) -> BranchKeyStore:
        client = self.server.client
        return BranchKeyStore(
            table, logical, KmsKeyArn(self.arn), ddb_client=client("dynamodb"), kms_client=client("kms")
        )


@pytest.fixture(scope="module")
def stores(moto_server: MotoServer, kms_keys: KmsKeys) -> Stores:
    return Stores(moto_server, kms_keys.single_arn)


def _official_active(store: Any, branch_key_id: str) -> Any:
    request = _official().ks.GetActiveBranchKeyInput(branch_key_identifier=branch_key_id)
    return store.get_active_branch_key(request).branch_key_materials


def test_a_store_created_by_the_official_keystore_is_read_by_busta(stores: Stores) -> None:
    o = _official()
    branch_key_id = stores.official.create_key(o.ks.CreateKeyInput()).branch_key_identifier
    theirs = _official_active(stores.official, branch_key_id)
    mine = stores.busta_on_official.get_active_branch_key(branch_key_id)
    assert (mine.version, mine.key.reveal()) == (theirs.branch_key_version, theirs.branch_key)
    beacon = stores.official.get_beacon_key(o.ks.GetBeaconKeyInput(branch_key_identifier=branch_key_id))
    assert stores.busta_on_official.get_beacon_key(branch_key_id).key.reveal() == beacon.beacon_key_materials.beacon_key
    request = o.ks.CreateKeyInput(branch_key_identifier="official-with-context", encryption_context={"team": "blue"})
    named = stores.official.create_key(request).branch_key_identifier
    assert stores.busta_on_official.get_active_branch_key(named).encryption_context == {"team": "blue"}
    stores.busta_on_official.version_key(named)
    rotated = _official_active(stores.official, named)
    assert rotated.encryption_context == {"team": "blue"}
    assert rotated.branch_key_version == stores.busta_on_official.get_active_branch_key(named).version


def test_a_store_created_by_busta_is_read_by_the_official_keystore(stores: Stores) -> None:
    branch_key_id = stores.busta_own.create_key("made-by-busta", {"department": "admin"})
    theirs = _official_active(stores.official_on_busta, branch_key_id)
    mine = stores.busta_own.get_active_branch_key(branch_key_id)
    assert (theirs.branch_key_version, theirs.branch_key) == (mine.version, mine.key.reveal())
    assert theirs.encryption_context == {"department": "admin"}
    request = _official().ks.GetBeaconKeyInput(branch_key_identifier=branch_key_id)
    beacon = stores.official_on_busta.get_beacon_key(request).beacon_key_materials.beacon_key
    assert stores.busta_own.get_beacon_key(branch_key_id).key.reveal() == beacon


@pytest.mark.parametrize("suite", [0x0578, 0x0478, 0x0178], ids=hex)
def test_messages_written_by_either_keyring_are_read_by_the_other(stores: Stores, suite: int) -> None:
    branch_key_id = stores.busta_own.create_key(f"both-ways-{suite:04x}", {})
    committing = suite != 0x0178
    client = busta.Client(
        commitment_policy=busta.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if committing
        else busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    mine = HierarchicalKeyring(stores.busta_own, ttl_seconds=TTL, branch_key_id=branch_key_id)
    theirs = _official_keyring(stores.official_on_busta, branch_key_id)
    context = {"purpose": "interop", "suite": f"{suite:04x}"}
    message = client.encrypt(b"from busta", keyring=mine, encryption_context=context, algorithm=suite)
    assert _official_decrypt(message, theirs, committing) == b"from busta"
    algorithm = _official().sdk.Algorithm.get_by_id(suite)
    official = _official_encrypt(b"from the SDK", theirs, context, algorithm=algorithm, committing=committing)
    assert client.decrypt(official, keyring=mine).plaintext == b"from the SDK"


def test_rotation_by_either_is_seen_by_the_other_and_old_messages_still_decrypt(stores: Stores) -> None:
    o = _official()
    branch_key_id = stores.busta_own.create_key("rotated-by-both", {})
    messages: list[bytes] = []
    for rotate in ("busta", "official", "busta"):
        mine = HierarchicalKeyring(stores.busta_own, ttl_seconds=TTL, branch_key_id=branch_key_id)
        messages.append(busta.Client().encrypt(b"m%d" % len(messages), keyring=mine))
        if rotate == "busta":
            version = stores.busta_own.version_key(branch_key_id)
            assert _official_active(stores.official_on_busta, branch_key_id).branch_key_version == version
        else:
            stores.official_on_busta.version_key(o.ks.VersionKeyInput(branch_key_identifier=branch_key_id))
            theirs = _official_active(stores.official_on_busta, branch_key_id).branch_key_version
            assert stores.busta_own.get_active_branch_key(branch_key_id).version == theirs
    theirs_keyring = _official_keyring(stores.official_on_busta, branch_key_id)
    messages.append(_official_encrypt(b"m3", theirs_keyring, {}))
    mine = HierarchicalKeyring(stores.busta_own, ttl_seconds=TTL, branch_key_id=branch_key_id)
    versions = {m.split(branch_key_id.encode())[1][28:44] for m in messages}
    assert len(versions) == 4
    for n, message in enumerate(messages):
        assert busta.Client().decrypt(message, keyring=mine).plaintext == b"m%d" % n
        assert _official_decrypt(message, theirs_keyring) == b"m%d" % n


def test_the_official_sdk_decrypts_busta_messages_with_a_multi_tenant_supplier(stores: Stores) -> None:
    o = _official()
    tenants = {
        "blue": stores.busta_own.create_key("tenant-blue", {}),
        "green": stores.busta_own.create_key("tenant-green", {}),
    }

    class OfficialSupplier(o.refs.IBranchKeyIdSupplier):  # type: ignore[misc,name-defined]
        def get_branch_key_id(self, param: Any) -> Any:
            return o.mpl_models.GetBranchKeyIdOutput(branch_key_id=tenants[param.encryption_context["tenant"]])

    mine = HierarchicalKeyring(stores.busta_own, ttl_seconds=TTL, branch_key_id_supplier=lambda c: tenants[c["tenant"]])
    theirs = _official_keyring(stores.official_on_busta, supplier=OfficialSupplier())
    for tenant, branch_key_id in tenants.items():
        message = busta.Client().encrypt(tenant.encode(), keyring=mine, encryption_context={"tenant": tenant})
        assert branch_key_id.encode() in message
        assert _official_decrypt(message, theirs) == tenant.encode()
        official = _official_encrypt(tenant.encode(), theirs, {"tenant": tenant})
        assert busta.Client().decrypt(official, keyring=mine).plaintext == tenant.encode()


# -- the 11 vectors: busta on its static store, the official SDK on the same key in DynamoDB -----------------


@pytest.fixture(scope="module")
def static_keyrings(moto_server: MotoServer, kms_keys: KmsKeys) -> tuple[HierarchicalKeyring, Any]:
    """busta's keyring on a static store, and the official one on a table holding the same branch key."""
    key = static_branch_key()
    table, logical = "static-table", "static-logical"
    BranchKeyStore(
        table,
        logical,
        KmsKeyArn(kms_keys.single_arn),
        ddb_client=moto_server.client("dynamodb"),
        kms_client=moto_server.client("kms"),
    ).create_key_store()
    kms, ddb = moto_server.client("kms"), moto_server.client("dynamodb")
    base = decrypt_only_context(
        key.branch_key_id,
        key.version,
        "2024-01-01T00:00:00.000000Z",
        logical_name=logical,
        kms_arn=kms_keys.single_arn,
        custom={},
    )
    for context in (base, active_context(base)):
        blob = kms.encrypt(KeyId=kms_keys.single_arn, Plaintext=key.branch_key, EncryptionContext=context)[
            "CiphertextBlob"
        ]
        ddb.put_item(TableName=table, Item=to_item(context, blob))
    mine = HierarchicalKeyring(
        StaticBranchKeyStore(logical, key.branch_key_id, key.version, key.branch_key),
        ttl_seconds=TTL,
        branch_key_id=key.branch_key_id,
    )
    return mine, _official_keyring(_official_store(moto_server, kms_keys.single_arn, table, logical), key.branch_key_id)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.suite_id:04x}")
def test_each_hierarchy_vector_written_by_either_is_read_by_the_other(
    static_keyrings: tuple[HierarchicalKeyring, Any], case: HierarchyCase
) -> None:
    mine, theirs = static_keyrings
    suite = busta.AlgorithmSuite.from_id(case.suite_id)
    policy = busta.CommitmentPolicy
    client = busta.Client(
        commitment_policy=policy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        if suite.committing
        else policy.FORBID_ENCRYPT_ALLOW_DECRYPT
    )
    plaintext = bytes(i % 253 for i in range(case.plaintext_length))
    options = {"algorithm": case.suite_id, "frame_length": case.frame_length}
    message = client.encrypt(plaintext, keyring=mine, encryption_context=case.encryption_context, **options)  # type: ignore[arg-type]
    assert _official_decrypt(message, theirs, suite.committing) == plaintext
    official = _official_encrypt(
        plaintext,
        theirs,
        case.encryption_context,
        algorithm=_official().sdk.Algorithm.get_by_id(case.suite_id),
        frame_length=case.frame_length,
        committing=suite.committing,
    )
    assert client.decrypt(official, keyring=mine).plaintext == plaintext
