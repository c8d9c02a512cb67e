"""The AWS KMS hierarchical keyring, offline: the 11 ``aws-kms-hierarchy`` vectors on a static store,
the data key layout and derivation of the specification, the branch key cache (TTL, capacity,
partition id, sharing), the branch key id supplier, hostile data keys, and the keyring inside a
multi-keyring and a caching materials manager."""

from __future__ import annotations

import hmac
import pickle
import threading
import uuid
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFHMAC, CounterLocation, Mode

import busta
from busta.context import serialize_context
from busta.errors import KeyringError, NoDecryptingKeyError, UsageError
from busta.format import EncryptedDataKey
from busta.keyrings import MultiKeyring, RawAesKeyring
from busta.keyrings._ddb_items import BranchKeyMaterials
from busta.keyrings._hierarchy_wire import derive_key
from busta.keyrings.hierarchy import BranchKeyCache, HierarchicalKeyring, StaticBranchKeyStore
from busta.materials import CachingCryptoMaterialsManager

from ..support.hierarchy_vectors import HierarchyCase, load_hierarchy_cases, static_branch_key

CASES = load_hierarchy_cases()
KEY = static_branch_key()
SALT = bytes(range(16))


def _policy(suite_id: int) -> busta.CommitmentPolicy:
    if busta.AlgorithmSuite.from_id(suite_id).committing:
        return busta.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return busta.CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT


def _static(name: str = "Default") -> StaticBranchKeyStore:
    return StaticBranchKeyStore(name, KEY.branch_key_id, KEY.version, KEY.branch_key)


class CountingStore:
    """A static store that counts the calls the keyring makes of it (one key per branch key id)."""

    def __init__(self, name: str = "Default", ids: tuple[str, ...] = (KEY.branch_key_id,)) -> None:
        self.logical_key_store_name = name
        self.calls: list[tuple[str, str]] = []
        self._keys = {
            i: BranchKeyMaterials(i, KEY.version, busta.SecretBytes(bytes([n]) * 32), {}) for n, i in enumerate(ids)
        }

    def get_active_branch_key(self, branch_key_id: str) -> BranchKeyMaterials:
        self.calls.append(("active", branch_key_id))
        return self._keys[branch_key_id]

    def get_branch_key_version(self, branch_key_id: str, version: str) -> BranchKeyMaterials:
        self.calls.append(("version", branch_key_id))
        return self._keys[branch_key_id]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keyring(store: object = None, **options: object) -> HierarchicalKeyring:
    options.setdefault("ttl_seconds", 600)
    if "branch_key_id_supplier" not in options:
        options.setdefault("branch_key_id", KEY.branch_key_id)
    return HierarchicalKeyring(store if store is not None else _static(), **options)  # type: ignore[arg-type]


def test_the_manifest_has_eleven_hierarchy_tests_on_static_branch_key_1() -> None:
    assert len(CASES) == 11
    assert {case.key for case in CASES} == {"static-branch-key-1"}
    assert len({case.suite_id for case in CASES}) == 11


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.suite_id:04x}")
def test_each_hierarchy_vector_encrypts_and_decrypts_on_the_static_store(case: HierarchyCase) -> None:
    client = busta.Client(commitment_policy=_policy(case.suite_id))
    plaintext = bytes(i % 251 for i in range(case.plaintext_length))
    keyring = _keyring()
    message = client.encrypt(
        plaintext,
        keyring=keyring,
        encryption_context=case.encryption_context,
        algorithm=case.suite_id,
        frame_length=case.frame_length,
    )
    result = client.decrypt(message, keyring=_keyring())
    assert result.plaintext == plaintext
    (edk,) = result.header.encrypted_data_keys
    suite = busta.AlgorithmSuite.from_id(case.suite_id)
    assert edk.provider_id == "aws-kms-hierarchy"
    assert edk.provider_info == KEY.branch_key_id.encode()
    assert len(edk.ciphertext) == 16 + 12 + 16 + suite.key_bytes + 16
    assert edk.ciphertext[28:44] == uuid.UUID(KEY.version).bytes


def test_the_derived_key_is_nist_sp800_108_counter_mode_hmac_sha256_as_cryptography_computes_it() -> None:
    kdf = KBKDFHMAC(
        algorithm=hashes.SHA256(),
        mode=Mode.CounterMode,
        length=32,
        rlen=4,
        llen=4,
        location=CounterLocation.BeforeFixed,
        label=b"aws-kms-hierarchy",
        context=SALT,
        fixed=None,
    )
    assert derive_key(KEY.branch_key, SALT) == kdf.derive(KEY.branch_key)


def test_a_data_key_opens_by_hand_with_the_specified_layout_and_aad() -> None:
    context = {"tenant": "blue", "purpose": "spec"}
    materials = busta.EncryptionMaterials(busta.AlgorithmSuite.from_id(0x0478), context)
    wrapped = _keyring().on_encrypt(materials)
    (edk,) = wrapped.encrypted_data_keys
    salt, iv, version, sealed = edk.ciphertext[:16], edk.ciphertext[16:28], edk.ciphertext[28:44], edk.ciphertext[44:]
    aad = b"aws-kms-hierarchy" + KEY.branch_key_id.encode() + version + serialize_context(context)
    opened = AESGCM(derive_key(KEY.branch_key, salt)).decrypt(iv, sealed, aad)
    assert wrapped.data_key is not None
    assert hmac.compare_digest(opened, wrapped.data_key.reveal())


# -- the cache ---------------------------------------------------------------------------------------


def _roundtrip(keyring: HierarchicalKeyring, context: Mapping[str, str] | None = None) -> None:
    client = busta.Client()
    message = client.encrypt(b"x", keyring=keyring, encryption_context=context or {}, algorithm=0x0478)
    assert client.decrypt(message, keyring=keyring).plaintext == b"x"


def test_a_warm_cache_asks_the_store_once_for_encrypt_and_once_for_decrypt() -> None:
    store = CountingStore()
    keyring = _keyring(store)
    for _ in range(50):
        _roundtrip(keyring)
    assert store.calls == [("active", KEY.branch_key_id), ("version", KEY.branch_key_id)]


def test_an_entry_older_than_the_ttl_is_fetched_again() -> None:
    clock, store = Clock(), CountingStore()
    keyring = _keyring(store, ttl_seconds=60, cache=BranchKeyCache(clock=clock))
    _roundtrip(keyring)
    clock.now += 60
    _roundtrip(keyring)
    assert len(store.calls) == 2
    clock.now += 0.5
    _roundtrip(keyring)
    assert len(store.calls) == 4


def test_the_cache_keeps_at_most_its_capacity_evicting_the_least_recently_used() -> None:
    ids = ("a", "b", "c")
    store = CountingStore(ids=ids)
    cache = BranchKeyCache(capacity=2)
    keyrings = {i: _keyring(store, branch_key_id=i, cache=cache, partition_id="p") for i in ids}
    materials = busta.EncryptionMaterials(busta.AlgorithmSuite.from_id(0x0478), {})
    for i in ("a", "b", "c", "a"):
        keyrings[i].on_encrypt(materials)
    assert len(cache) == 2
    assert [c for _, c in store.calls] == ["a", "b", "c", "a"]  # "a" was evicted by "c"


def test_keyrings_sharing_a_cache_and_partition_id_share_entries_and_others_do_not() -> None:
    store, cache = CountingStore(), BranchKeyCache()
    materials = busta.EncryptionMaterials(busta.AlgorithmSuite.from_id(0x0478), {})
    _keyring(store, cache=cache, partition_id="team").on_encrypt(materials)
    _keyring(store, cache=cache, partition_id="team").on_encrypt(materials)
    assert len(store.calls) == 1
    _keyring(store, cache=cache, partition_id="other").on_encrypt(materials)
    _keyring(store, cache=cache).on_encrypt(materials)  # a random partition id of its own
    assert len(store.calls) == 3


def test_the_partition_id_is_the_given_strings_utf8_else_a_random_v4_uuid() -> None:
    assert _keyring(partition_id="équipe").partition_id == "équipe".encode()
    first, second = _keyring().partition_id, _keyring().partition_id
    assert uuid.UUID(bytes=first).version == 4
    assert first != second


def test_a_keyring_with_a_shorter_ttl_treats_a_shared_entry_as_expired() -> None:
    clock, store = Clock(), CountingStore()
    cache = BranchKeyCache(clock=clock)
    materials = busta.EncryptionMaterials(busta.AlgorithmSuite.from_id(0x0478), {})
    _keyring(store, cache=cache, partition_id="p", ttl_seconds=600).on_encrypt(materials)
    clock.now += 30
    _keyring(store, cache=cache, partition_id="p", ttl_seconds=10).on_encrypt(materials)
    _keyring(store, cache=cache, partition_id="p", ttl_seconds=600).on_encrypt(materials)
    assert len(store.calls) == 2  # the short one fetched (and refreshed the entry); the long one used it


def test_the_cache_holds_key_material_it_refuses_pickling_and_its_repr_shows_only_its_size() -> None:
    cache = BranchKeyCache()
    _keyring(cache=cache).on_encrypt(busta.EncryptionMaterials(busta.AlgorithmSuite.from_id(0x0478), {}))
    with pytest.raises(UsageError):
        pickle.dumps(cache)
    with pytest.raises(UsageError):
        pickle.dumps(_keyring())
    assert repr(cache) == "BranchKeyCache(capacity=1000, entries=1)"
    assert KEY.branch_key.hex() not in repr(_static()) + repr(_keyring())


def test_one_keyring_serves_many_threads_and_misses_at_most_once_per_thread() -> None:
    store = CountingStore()
    keyring = _keyring(store)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                _roundtrip(keyring, {"thread": threading.current_thread().name})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert 2 <= len(store.calls) <= 16


# -- the branch key id supplier ---------------------------------------------------------------------------


def _tenant(context: Mapping[str, str]) -> str:
    return {"blue": "branch-blue", "green": "branch-green"}[context["tenant"]]


def test_a_supplier_picks_each_messages_branch_key_from_its_encryption_context() -> None:
    store = CountingStore(ids=("branch-blue", "branch-green"))
    keyring = _keyring(store, branch_key_id_supplier=_tenant)
    client = busta.Client()
    blue = client.encrypt(b"b", keyring=keyring, encryption_context={"tenant": "blue"})
    green = client.encrypt(b"g", keyring=keyring, encryption_context={"tenant": "green"})
    assert client.decrypt(blue, keyring=keyring).header.encrypted_data_keys[0].provider_info == b"branch-blue"
    assert client.decrypt(green, keyring=keyring).plaintext == b"g"
    only_blue = _keyring(store, branch_key_id="branch-blue")
    with pytest.raises(NoDecryptingKeyError):
        client.decrypt(green, keyring=only_blue)


def test_a_failing_supplier_is_a_keyring_error() -> None:
    keyring = _keyring(branch_key_id_supplier=_tenant)
    with pytest.raises(KeyringError, match="supplier failed: KeyError"):
        busta.Client().encrypt(b"x", keyring=keyring, encryption_context={"tenant": "red"})


@pytest.mark.parametrize("answer", ["", "x" * 1025, None, 42])
def test_a_supplier_answer_that_is_no_branch_key_id_is_a_keyring_error(answer: object) -> None:
    keyring = _keyring(branch_key_id_supplier=lambda context: answer)
    with pytest.raises(KeyringError, match="returned no branch key id"):
        busta.Client().encrypt(b"x", keyring=keyring)


# -- hostile data keys and misuse ---------------------------------------------------------------------


def _message_edk() -> tuple[busta.DecryptionMaterials, EncryptedDataKey]:
    suite = busta.AlgorithmSuite.from_id(0x0478)
    wrapped = _keyring().on_encrypt(busta.EncryptionMaterials(suite, {"a": "b"}))
    return busta.DecryptionMaterials(suite, {"a": "b"}), wrapped.encrypted_data_keys[0]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: EncryptedDataKey(e.provider_id, e.provider_info, e.ciphertext[:-1]), "bytes, not"),
        (lambda e: EncryptedDataKey(e.provider_id, e.provider_info, e.ciphertext + b"\x00"), "bytes, not"),
        (
            lambda e: EncryptedDataKey(e.provider_id, e.provider_info, e.ciphertext[:-1] + b"\x00"),
            "did not authenticate",
        ),
        (
            lambda e: EncryptedDataKey(
                e.provider_id, e.provider_info, e.ciphertext[:28] + bytes(16) + e.ciphertext[44:]
            ),
            "no version",
        ),
    ],
    ids=["short", "long", "tag", "version"],
)
def test_a_damaged_data_key_fails_with_its_reason(change: object, reason: str) -> None:
    materials, edk = _message_edk()
    with pytest.raises(NoDecryptingKeyError, match=reason):
        _keyring().on_decrypt(materials, [change(edk)])  # type: ignore[operator]


def test_data_keys_of_other_providers_or_branch_keys_are_not_tried() -> None:
    materials, edk = _message_edk()
    others = [
        EncryptedDataKey("aws-kms", edk.provider_info, edk.ciphertext),
        EncryptedDataKey(edk.provider_id, b"another-branch-key", edk.ciphertext),
        EncryptedDataKey(edk.provider_id, b"\xff\xfe", edk.ciphertext),
    ]
    with pytest.raises(NoDecryptingKeyError, match="no encrypted data key for this keyring"):
        _keyring().on_decrypt(materials, others)
    assert _keyring().on_decrypt(materials, [*others, edk]).data_key is not None


def test_another_encryption_context_does_not_unwrap_the_data_key() -> None:
    materials, edk = _message_edk()
    other = busta.DecryptionMaterials(materials.suite, {"a": "c"})
    with pytest.raises(NoDecryptingKeyError, match="did not authenticate"):
        _keyring().on_decrypt(other, [edk])


@pytest.mark.parametrize(
    "options",
    [
        {"ttl_seconds": 0, "branch_key_id": "b"},
        {"ttl_seconds": -1, "branch_key_id": "b"},
        {"ttl_seconds": 10**9, "branch_key_id": "b"},
        {"ttl_seconds": True, "branch_key_id": "b"},
        {"ttl_seconds": 60},
        {"ttl_seconds": 60, "branch_key_id": "b", "branch_key_id_supplier": _tenant},
        {"ttl_seconds": 60, "branch_key_id": ""},
        {"ttl_seconds": 60, "branch_key_id": "b", "cache": {}},
        {"ttl_seconds": 60, "branch_key_id": "b", "partition_id": b"bytes"},
        {"ttl_seconds": 60, "branch_key_id_supplier": "not callable"},
    ],
)
def test_bad_arguments_are_refused_at_construction(options: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        HierarchicalKeyring(_static(), **options)  # type: ignore[arg-type]


def test_a_key_store_is_required_and_a_static_key_must_be_32_bytes_of_a_uuid_version() -> None:
    with pytest.raises(UsageError):
        HierarchicalKeyring(object(), ttl_seconds=60, branch_key_id="b")
    with pytest.raises(UsageError):
        StaticBranchKeyStore("Default", "b", KEY.version, b"short")
    with pytest.raises(UsageError, match="UUID"):
        StaticBranchKeyStore("Default", "b", "not-a-uuid", KEY.branch_key)


# -- with other keyrings and the caching materials manager --------------------------------------------------


def test_in_a_multi_keyring_each_member_decrypts_alone() -> None:
    aes = RawAesKeyring("ns", "name", bytes(32))
    multi = MultiKeyring(generator=_keyring(), children=[aes])
    message = busta.Client().encrypt(b"both", keyring=multi)
    assert busta.Client().decrypt(message, keyring=aes).plaintext == b"both"
    assert busta.Client().decrypt(message, keyring=_keyring()).plaintext == b"both"
    reverse = busta.Client().encrypt(b"both", keyring=MultiKeyring(generator=aes, children=[_keyring()]))
    assert busta.Client().decrypt(reverse, keyring=_keyring()).plaintext == b"both"


def test_under_a_caching_materials_manager_the_store_is_asked_once() -> None:
    store = CountingStore()
    cmm = CachingCryptoMaterialsManager(_keyring(store), max_age=60)
    for _ in range(5):
        message = busta.Client().encrypt(b"c", materials_manager=cmm)
        assert busta.Client().decrypt(message, materials_manager=cmm).plaintext == b"c"
    assert store.calls == [("active", KEY.branch_key_id), ("version", KEY.branch_key_id)]
