"""busta._frozen.quick_init: a frozen dataclass keeps every behaviour of its own ``__init__``, faster."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from busta._frozen import quick_init
from busta.format import EncryptedDataKey, Header, HeaderAuth, ParsedHeader
from busta.materials import DecryptionMaterials, DecryptionRequest, EncryptionRequest
from busta.results import DecryptedInto, DecryptResult, StreamResult
from busta.suites import DEFAULT_COMMITMENT_POLICY, AlgorithmSuite


@dataclasses.dataclass(frozen=True, slots=True)
class _Plain:
    a: int
    b: str
    c: bytes = b"default"
    d: tuple[int, ...] = ()


Quick = quick_init(dataclasses.make_dataclass("Quick", [], bases=(), frozen=True, slots=True))


@quick_init
@dataclasses.dataclass(frozen=True, slots=True)
class _Fast:
    a: int
    b: str
    c: bytes = b"default"
    d: tuple[int, ...] = ()


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, "x"), {}), ((1, "x", b"c"), {}), ((1,), {"b": "y", "d": (2,)}), ((), {"a": 3, "b": "z", "c": b""})],
)
def test_fields_defaults_and_keywords_are_the_dataclasss(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    fast, plain = _Fast(*args, **kwargs), _Plain(*args, **kwargs)  # type: ignore[arg-type]
    assert dataclasses.astuple(fast) == dataclasses.astuple(plain)
    assert repr(fast).replace("_Fast", "_Plain") == repr(plain)
    assert fast == _Fast(*args, **kwargs)  # type: ignore[arg-type]
    assert hash(fast) == hash(_Fast(*args, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 2 required positional arguments"),
        ((1, "x", b"c", (), 5), {}, "takes from 3 to 5 positional arguments"),
        ((1,), {"a": 2, "b": "x"}, "multiple values for argument 'a'"),
        ((1, "x"), {"e": 1}, "unexpected keyword argument 'e'"),
    ],
)
def test_bad_arguments_fail_as_they_would_without_it(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        _Fast(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        _Plain(*args, **kwargs)  # type: ignore[arg-type]


def test_the_instance_stays_frozen_and_slotted() -> None:
    fast = _Fast(1, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.a = 2  # type: ignore[misc]
    assert not hasattr(fast, "__dict__")
    assert dataclasses.replace(fast, a=5) == _Fast(5, "x")
    assert pickle.loads(pickle.dumps(fast)) == fast


def test_a_dataclass_with_no_fields_is_made() -> None:
    assert Quick() == Quick()


@pytest.mark.parametrize(
    "make",
    [
        lambda: dataclasses.dataclass(slots=True)(type("NotFrozen", (), {"__annotations__": {"a": int}})),
        lambda: dataclasses.dataclass(frozen=True)(type("NoSlots", (), {"__annotations__": {"a": int}})),
        lambda: type("NotADataclass", (), {}),
        lambda: dataclasses.make_dataclass(
            "Factory", [("a", list, dataclasses.field(default_factory=list))], frozen=True, slots=True
        ),
        lambda: dataclasses.make_dataclass(
            "NoInit", [("a", int, dataclasses.field(default=0, init=False))], frozen=True, slots=True
        ),
        lambda: dataclasses.make_dataclass("KwOnly", [("a", int)], frozen=True, slots=True, kw_only=True),
        lambda: dataclasses.make_dataclass(
            "PostInit", [("a", int)], frozen=True, slots=True, namespace={"__post_init__": lambda self: None}
        ),
    ],
    ids=["not-frozen", "no-slots", "not-a-dataclass", "default-factory", "init-false", "kw-only", "post-init"],
)
def test_only_a_plain_frozen_slotted_dataclass_qualifies(make: object) -> None:
    with pytest.raises(TypeError, match="quick_init"):
        quick_init(make())  # type: ignore[operator]


def test_busta_value_types_made_per_message_use_it_and_keep_their_fields() -> None:
    suite = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
    edk = EncryptedDataKey("p", b"i", b"c")
    header = Header(suite, bytes(32), {"a": "b"}, (edk,), 2, 4096)  # type: ignore[arg-type]
    assert header.suite_data == b"" and header.encrypted_data_keys == (edk,)
    auth = HeaderAuth(bytes(12), bytes(16))
    assert ParsedHeader(header, b"raw", auth, 9).length == 9
    request = DecryptionRequest(suite, (edk,), {}, DEFAULT_COMMITMENT_POLICY)
    assert request.reproduced_encryption_context is None
    assert EncryptionRequest({}, DEFAULT_COMMITMENT_POLICY).suite is None
    assert DecryptionMaterials(suite, {}).required_context_keys == frozenset()
    assert DecryptResult(b"p", header, {}).plaintext == b"p"
    assert StreamResult(header, {}, 3).plaintext_length == 3
    assert DecryptedInto(1, header, {}).length == 1
    for kind in (EncryptedDataKey, Header, HeaderAuth, ParsedHeader, DecryptionRequest, EncryptionRequest):
        assert kind.__init__.__qualname__ == f"{kind.__qualname__}.__init__"
        assert "_set_" in kind.__init__.__code__.co_names[0]
