"""The branch key store against moto's DynamoDB and KMS over HTTP: the table, the items exactly as the
specification lays them out, creation and rotation with their conditional writes, the four KMS
configurations, and bad input (a missing table or key, tampered items, the wrong KMS key, a
throttled or unreachable table), each a clear error that writes nothing."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

import busta
from busta.errors import BranchKeyStoreError, KeyringError, KmsError, UsageError
from busta.keyrings.branch_key_store import BranchKeyStore, KmsKeyArn, KmsKeyDiscovery, KmsMrDiscovery, KmsMrkKeyArn
from busta.keyrings.hierarchy import HierarchicalKeyring

from ..support.fault_proxy import FaultProxy, Respond, http_response
from ..support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["kms_keys", "moto_server"]

_tables = itertools.count()
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


_clients: dict[tuple[int, str, str], Any] = {}


def _client(server: MotoServer, service: str, region: str = WEST) -> Any:
    """One boto3 client per server, service and region (making one costs a few tenths of a second)."""
    key = (server.port, service, region)
    if key not in _clients:
        _clients[key] = server.client(service, region)
    return _clients[key]


def _ddb(server: MotoServer, region: str = WEST) -> Any:
    return _client(server, "dynamodb", region)


def _store(server: MotoServer, kms: Any, table: str, *, region: str = WEST, ddb: Any = None) -> BranchKeyStore:
    return BranchKeyStore(
        table,
        f"logical-{table}",
        kms,
        ddb_client=ddb if ddb is not None else _ddb(server),
        kms_client=_client(server, "kms", region),
    )


@pytest.fixture(scope="module")
def table(moto_server: MotoServer, kms_keys: KmsKeys) -> str:
    """One table for the module: each test uses branch key ids of its own."""
    name = f"branch-keys-{next(_tables)}"
    _store(moto_server, KmsKeyArn(kms_keys.single_arn), name).create_key_store()
    return name


@pytest.fixture(scope="module")
def store(moto_server: MotoServer, kms_keys: KmsKeys, table: str) -> BranchKeyStore:
    return _store(moto_server, KmsKeyArn(kms_keys.single_arn), table)


def _items(server: MotoServer, table: str, branch_key_id: str) -> list[dict[str, Any]]:
    """Every item of one branch key."""
    condition = {"branch-key-id": {"AttributeValueList": [{"S": branch_key_id}], "ComparisonOperator": "EQ"}}
    items: list[dict[str, Any]] = _ddb(server).query(TableName=table, KeyConditions=condition)["Items"]
    return items


def _item(server: MotoServer, table: str, branch_key_id: str, kind: str) -> dict[str, Any]:
    key = {"branch-key-id": {"S": branch_key_id}, "type": {"S": kind}}
    item: dict[str, Any] = _ddb(server).get_item(TableName=table, Key=key)["Item"]
    return item


# -- the table and the items ---------------------------------------------------------------------------


def test_create_key_store_makes_the_table_with_the_specified_key_schema_and_accepts_it_again(
    moto_server: MotoServer, store: BranchKeyStore, table: str
) -> None:
    description = _ddb(moto_server).describe_table(TableName=table)["Table"]
    schema = {k["AttributeName"]: k["KeyType"] for k in description["KeySchema"]}
    assert schema == {"branch-key-id": "HASH", "type": "RANGE"}
    assert store.create_key_store() == description["TableArn"]


def test_key_store_info_says_what_the_store_is_configured_with(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    kms = KmsKeyArn(kms_keys.single_arn)
    info = _store(moto_server, kms, "info-table").key_store_info()
    assert (info.table_name, info.logical_key_store_name, info.kms, info.grant_tokens) == (
        "info-table",
        "logical-info-table",
        kms,
        (),
    )
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", info.key_store_id)
    named = BranchKeyStore(
        "info-table",
        "l",
        kms,
        ddb_client=_ddb(moto_server),
        kms_client=_client(moto_server, "kms"),
        key_store_id="mine",
    )
    assert named.key_store_info().key_store_id == "mine"


def test_create_key_store_refuses_a_table_with_another_key_schema(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    _ddb(moto_server).create_table(
        TableName="not-a-key-store",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(UsageError, match="key schema"):
        _store(moto_server, KmsKeyArn(kms_keys.single_arn), "not-a-key-store").create_key_store()


def test_create_key_writes_the_three_items_of_the_specification(
    moto_server: MotoServer, store: BranchKeyStore, table: str, kms_keys: KmsKeys
) -> None:
    branch_key_id = store.create_key("tenant-1", {"department": "admin"})
    items = {item["type"]["S"]: item for item in _items(moto_server, table, branch_key_id)}
    version = store.get_active_branch_key(branch_key_id).version
    assert set(items) == {"branch:ACTIVE", "beacon:ACTIVE", f"branch:version:{version}"}
    for kind, item in items.items():
        expected = {
            "branch-key-id",
            "type",
            "enc",
            "kms-arn",
            "create-time",
            "hierarchy-version",
            "aws-crypto-ec:department",
        }
        assert set(item) == expected | ({"version"} if kind == "branch:ACTIVE" else set())
        assert item["branch-key-id"] == {"S": "tenant-1"}
        assert item["kms-arn"] == {"S": kms_keys.single_arn}
        assert item["hierarchy-version"] == {"N": "1"}
        assert item["aws-crypto-ec:department"] == {"S": "admin"}
        assert _TIMESTAMP.fullmatch(item["create-time"]["S"])
        assert isinstance(item["enc"]["B"], bytes)
    assert items["branch:ACTIVE"]["version"] == {"S": f"branch:version:{version}"}
    assert items["branch:ACTIVE"]["create-time"] == items["beacon:ACTIVE"]["create-time"]


def test_the_kms_encryption_context_of_an_item_is_its_attributes_and_the_logical_name(
    moto_server: MotoServer, store: BranchKeyStore, table: str, kms_keys: KmsKeys
) -> None:
    branch_key_id = store.create_key("tenant-ec", {"department": "admin"})
    item = _item(moto_server, table, branch_key_id, "branch:ACTIVE")
    context = {k: v.get("S", v.get("N")) for k, v in item.items() if k != "enc"}
    context["tablename"] = store.logical_key_store_name
    kms = _client(moto_server, "kms")
    decrypted = kms.decrypt(KeyId=kms_keys.single_arn, CiphertextBlob=item["enc"]["B"], EncryptionContext=context)
    assert decrypted["Plaintext"] == store.get_active_branch_key(branch_key_id).key.reveal()


def test_a_new_key_without_an_id_gets_a_uuid_and_an_id_without_a_context_is_refused(store: BranchKeyStore) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", store.create_key())
    with pytest.raises(UsageError, match="needs an encryption_context"):
        store.create_key("chosen")


def test_get_active_version_and_beacon_return_the_keys_of_the_items(store: BranchKeyStore) -> None:
    branch_key_id = store.create_key("tenant-get", {})
    active = store.get_active_branch_key(branch_key_id)
    version = store.get_branch_key_version(branch_key_id, active.version)
    beacon = store.get_beacon_key(branch_key_id)
    assert (active.branch_key_id, active.version, active.encryption_context) == (branch_key_id, version.version, {})
    assert active.key == version.key
    assert len(beacon.key) == 32
    assert beacon.key != active.key
    assert "redacted" in repr(active.key)
    assert active.key.reveal().hex() not in repr(active)


# -- rotation and conditional writes -----------------------------------------------------------------


def test_version_key_makes_a_new_active_version_and_keeps_the_old_ones(store: BranchKeyStore) -> None:
    branch_key_id = store.create_key("tenant-rotate", {"department": "ops"})
    first = store.get_active_branch_key(branch_key_id)
    second_version = store.version_key(branch_key_id)
    second = store.get_active_branch_key(branch_key_id)
    assert second.version == second_version != first.version
    assert second.encryption_context == {"department": "ops"}
    assert store.get_branch_key_version(branch_key_id, first.version).key == first.key
    assert second.key != first.key


def test_a_message_of_the_old_version_still_decrypts_after_rotation(store: BranchKeyStore) -> None:
    branch_key_id = store.create_key("tenant-messages", {})
    old = busta.Client().encrypt(
        b"old", keyring=HierarchicalKeyring(store, ttl_seconds=60, branch_key_id=branch_key_id)
    )
    store.version_key(branch_key_id)
    fresh = HierarchicalKeyring(store, ttl_seconds=60, branch_key_id=branch_key_id)
    new = busta.Client().encrypt(b"new", keyring=fresh)
    assert old[-200:] != new[-200:]
    assert busta.Client().decrypt(old, keyring=fresh).plaintext == b"old"
    assert busta.Client().decrypt(new, keyring=fresh).plaintext == b"new"


def test_creating_an_existing_branch_key_fails_and_changes_nothing(
    moto_server: MotoServer, store: BranchKeyStore, table: str
) -> None:
    store.create_key("taken", {})
    before = _items(moto_server, table, "taken")
    with pytest.raises(BranchKeyStoreError) as caught:
        store.create_key("taken", {"other": "context"})
    assert caught.value.code == "ConditionalCheckFailed"
    assert _items(moto_server, table, "taken") == before


def test_a_rotation_that_lost_a_race_fails_and_changes_nothing(
    moto_server: MotoServer, store: BranchKeyStore, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    branch_key_id = store.create_key("raced", {})
    rules = store._rules
    original = rules.version_puts

    def rotated_meanwhile(decrypt_only: Any, active: Any, old_enc: bytes) -> dict[str, Any]:
        _store(moto_server, KmsKeyArn(rules.kms.arn), table).version_key(branch_key_id)  # type: ignore[union-attr]
        return original(decrypt_only, active, old_enc)

    monkeypatch.setattr(rules, "version_puts", rotated_meanwhile)
    with pytest.raises(BranchKeyStoreError) as caught:
        store.version_key(branch_key_id)
    assert caught.value.code == "ConditionalCheckFailed"
    monkeypatch.undo()
    assert len(_items(moto_server, table, branch_key_id)) == 4  # the first version, the winner's, ACTIVE and beacon


# -- KMS configurations ----------------------------------------------------------------------------------


def test_discovery_reads_keys_but_cannot_create_or_rotate(
    moto_server: MotoServer, store: BranchKeyStore, table: str
) -> None:
    branch_key_id = store.create_key("tenant-discovery", {})
    discovery = _store(moto_server, KmsKeyDiscovery(), table)
    assert discovery.get_active_branch_key(branch_key_id).key == store.get_active_branch_key(branch_key_id).key
    with pytest.raises(UsageError, match="discovery"):
        discovery.create_key()
    with pytest.raises(UsageError, match="discovery"):
        discovery.version_key(branch_key_id)


def test_an_mrk_store_reads_items_of_a_replica_and_mr_discovery_calls_the_replica(
    moto_server: MotoServer, kms_keys: KmsKeys
) -> None:
    table = f"mrk-{next(_tables)}"
    west = _store(moto_server, KmsMrkKeyArn(kms_keys.mrk_west_arn), table)
    west.create_key_store()
    branch_key_id = west.create_key("tenant-mrk", {})
    east = _store(moto_server, KmsMrkKeyArn(kms_keys.mrk_east_arn), table, region=EAST, ddb=_ddb(moto_server))
    assert east.get_active_branch_key(branch_key_id).key == west.get_active_branch_key(branch_key_id).key
    east.version_key(branch_key_id)  # the stored kms-arn stays the west one
    assert _item(moto_server, table, branch_key_id, "branch:ACTIVE")["kms-arn"]["S"] == kms_keys.mrk_west_arn
    mr_discovery = _store(moto_server, KmsMrDiscovery(EAST), table, region=EAST, ddb=_ddb(moto_server))
    assert mr_discovery.get_active_branch_key(branch_key_id).key == west.get_active_branch_key(branch_key_id).key
    strict_east = _store(moto_server, KmsKeyArn(kms_keys.mrk_east_arn), table, region=EAST, ddb=_ddb(moto_server))
    with pytest.raises(KeyringError, match="not by the store's"):
        strict_east.get_active_branch_key(branch_key_id)


def test_a_discovery_store_without_clients_or_a_region_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(UsageError, match="no dynamodb client for the branch key store: NoRegionError"):
        BranchKeyStore("some-table", "logical", KmsKeyDiscovery())


@pytest.mark.parametrize("name", ["ab", "x" * 256, "has space", "naïve", ""])
def test_a_table_name_dynamodb_would_refuse_is_refused_at_construction(moto_server: MotoServer, name: str) -> None:
    with pytest.raises(UsageError, match="table name"):
        BranchKeyStore(
            name, "logical", KmsKeyDiscovery(), ddb_client=_ddb(moto_server), kms_client=_client(moto_server, "kms")
        )


@pytest.mark.parametrize("arn", ["alias/mine", "arn:aws:kms:us-west-2:123456789012:alias/mine", "1234", ""])
def test_a_store_key_must_be_a_key_arn(arn: str) -> None:
    with pytest.raises(UsageError, match="KMS key ARN"):
        KmsKeyArn(arn)


# -- bad input --------------------------------------------------------------------------------------------


def test_a_missing_table_is_a_clear_error(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    missing = _store(moto_server, KmsKeyArn(kms_keys.single_arn), "no-such-table")
    with pytest.raises(BranchKeyStoreError) as caught:
        missing.get_active_branch_key("anything")
    assert caught.value.code == "ResourceNotFoundException"
    with pytest.raises(BranchKeyStoreError, match="ResourceNotFoundException"):
        missing.create_key("anything", {})


def test_a_missing_branch_key_or_version_is_a_clear_error(store: BranchKeyStore) -> None:
    with pytest.raises(BranchKeyStoreError, match="no item 'branch:ACTIVE' for branch key 'absent'") as caught:
        store.get_active_branch_key("absent")
    assert caught.value.code == "NoSuchBranchKey"
    branch_key_id = store.create_key("present", {})
    with pytest.raises(BranchKeyStoreError, match="NoSuchBranchKey"):
        store.get_branch_key_version(branch_key_id, "00000000-0000-4000-8000-000000000000")
    with pytest.raises(BranchKeyStoreError, match="NoSuchBranchKey"):
        store.version_key("absent")


def _tamper(server: MotoServer, table: str, item: dict[str, Any]) -> None:
    _ddb(server).put_item(TableName=table, Item=item)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda i: {**i, "aws-crypto-ec:department": {"S": "finance"}}, KmsError),  # a changed pair
        (lambda i: {**i, "added": {"S": "x"}}, KmsError),  # an added attribute is authenticated
        (lambda i: {**i, "create-time": {"S": "2020-01-01T00:00:00.000000Z"}}, KmsError),
        (lambda i: {k: v for k, v in i.items() if k != "aws-crypto-ec:department"}, KmsError),
        (lambda i: {**i, "enc": {"B": i["enc"]["B"][:-1] + bytes([i["enc"]["B"][-1] ^ 1])}}, KmsError),  # flipped
        (lambda i: {**i, "hierarchy-version": {"N": "2"}}, KeyringError),
        (lambda i: {**i, "hierarchy-version": {"S": "1"}}, KeyringError),
        (lambda i: {**i, "enc": {"S": "text"}}, KeyringError),
        (lambda i: {**i, "enc": {"B": b"x" * 7000}}, KeyringError),
        (lambda i: {**i, "kms-arn": {"S": "alias/other"}}, KeyringError),
        (lambda i: {**i, "tablename": {"S": "logical"}}, KeyringError),
        (lambda i: {**i, "version": {"S": "not-a-version"}}, KeyringError),
        (lambda i: {k: v for k, v in i.items() if k != "version"}, KeyringError),
        (lambda i: {**i, "extra": {"N": "5"}}, KeyringError),
        (lambda i: {**i, **{f"a{n}": {"S": "x"} for n in range(70)}}, KeyringError),
    ],
    ids=[
        "changed-context",
        "added-attribute",
        "changed-time",
        "dropped-context",
        "changed-enc",
        "hierarchy-2",
        "hierarchy-string",
        "enc-string",
        "enc-huge",
        "alias-arn",
        "tablename-stored",
        "bad-version",
        "no-version",
        "number-attribute",
        "too-many-attributes",
    ],
)
def test_a_tampered_active_item_is_refused(
    moto_server: MotoServer, store: BranchKeyStore, table: str, change: Any, error: type[Exception]
) -> None:
    branch_key_id = store.create_key(f"tampered-{next(_tables)}", {"department": "admin"})
    _tamper(moto_server, table, change(_item(moto_server, table, branch_key_id, "branch:ACTIVE")))
    with pytest.raises(error):
        store.get_active_branch_key(branch_key_id)
    with pytest.raises(error):
        store.version_key(branch_key_id)


def test_an_item_copied_from_another_branch_key_is_refused(
    moto_server: MotoServer, store: BranchKeyStore, table: str
) -> None:
    store.create_key("victim", {})
    store.create_key("attacker", {})
    copied = _item(moto_server, table, "attacker", "branch:ACTIVE")
    _ddb(moto_server).delete_item(
        TableName=table, Key={"branch-key-id": {"S": "victim"}, "type": {"S": "branch:ACTIVE"}}
    )
    # Under the victim's partition key, the item still names (and authenticates as) the attacker.
    _tamper(moto_server, table, {**copied, "branch-key-id": {"S": "victim"}})
    with pytest.raises(KmsError):
        store.get_active_branch_key("victim")


def test_the_wrong_kms_key_is_refused_before_any_kms_call(
    moto_server: MotoServer, store: BranchKeyStore, table: str, kms_keys: KmsKeys
) -> None:
    branch_key_id = store.create_key("tenant-wrong-key", {})
    other = _store(moto_server, KmsKeyArn(kms_keys.other_arn), table)
    with pytest.raises(KeyringError, match="not by the store's"):
        other.get_active_branch_key(branch_key_id)
    with pytest.raises(KeyringError, match="not by the store's"):
        other.version_key(branch_key_id)


def test_a_store_with_another_logical_name_cannot_unwrap_the_items(
    moto_server: MotoServer, store: BranchKeyStore, table: str, kms_keys: KmsKeys
) -> None:
    branch_key_id = store.create_key("tenant-logical", {})
    renamed = BranchKeyStore(
        table,
        "another-name",
        KmsKeyArn(kms_keys.single_arn),
        ddb_client=_ddb(moto_server),
        kms_client=_client(moto_server, "kms"),
    )
    with pytest.raises(KmsError):
        renamed.get_active_branch_key(branch_key_id)


_THROTTLED = http_response(
    400,
    "Bad Request",
    b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}',
    {"Content-Type": "application/x-amz-json-1.0"},
)


@pytest.fixture
def ddb_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as proxy:
        yield proxy


def _proxied_ddb(server: MotoServer, proxy: FaultProxy) -> Any:
    import boto3

    return boto3.session.Session().client(
        "dynamodb",
        region_name=WEST,
        endpoint_url=proxy.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=server.client_config(max_attempts=1),
    )


def test_a_throttled_table_is_a_clear_error_and_a_throttled_creation_writes_nothing(
    moto_server: MotoServer, table: str, kms_keys: KmsKeys, ddb_proxy: FaultProxy
) -> None:
    store = _store(moto_server, KmsKeyArn(kms_keys.single_arn), table, ddb=_proxied_ddb(moto_server, ddb_proxy))
    throttle = ddb_proxy.add(Respond(_THROTTLED, times=None))
    with pytest.raises(BranchKeyStoreError) as caught:
        store.create_key("throttled", {})
    assert caught.value.code == "ProvisionedThroughputExceededException"
    with pytest.raises(BranchKeyStoreError, match="ProvisionedThroughputExceededException"):
        store.get_active_branch_key("throttled")
    assert throttle.fired == 2
    assert _items(moto_server, table, "throttled") == []


def test_an_unreachable_table_is_a_clear_error(
    moto_server: MotoServer, table: str, kms_keys: KmsKeys, ddb_proxy: FaultProxy
) -> None:
    store = _store(moto_server, KmsKeyArn(kms_keys.single_arn), table, ddb=_proxied_ddb(moto_server, ddb_proxy))
    ddb_proxy.go_down()
    with pytest.raises(BranchKeyStoreError, match="GetItem on table"):
        store.get_active_branch_key("anything")
    with pytest.raises(BranchKeyStoreError):
        store.create_key("unreachable", {})
    ddb_proxy.come_up()
    assert _items(moto_server, table, "unreachable") == []
