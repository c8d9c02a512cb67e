"""busta._frozen.record: a value type behaves as ``@dataclass(frozen=True, slots=True)`` would make it."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import pickle
from typing import Any

import pytest

from busta import _frozen
from busta._frozen import record
from busta.api import Client
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
    e: list[int] = dataclasses.field(default_factory=list, compare=False)
    f: str = dataclasses.field(default="hidden", repr=False)
    g: int = dataclasses.field(default=0, compare=False)


@record
class _Record:
    a: int
    b: str
    c: bytes = b"default"
    d: tuple[int, ...] = ()
    e: list[int] = dataclasses.field(default_factory=list, compare=False)
    f: str = dataclasses.field(default="hidden", repr=False)
    g: int = dataclasses.field(default=0, compare=False)


_CALLS = [
    ((1, "x"), {}),
    ((1, "x", b"c"), {}),
    ((1,), {"b": "y", "d": (2,)}),
    ((), {"a": 3, "b": "z", "c": b"", "e": [1], "f": "s", "g": 4}),
]


@pytest.mark.parametrize(("args", "kwargs"), _CALLS)
def test_fields_defaults_keywords_repr_and_equality_are_the_dataclasss(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    made, plain = _Record(*args, **kwargs), _Plain(*args, **kwargs)
    assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    assert repr(made).replace("_Record", "_Plain") == repr(plain)
    assert made == _Record(*args, **kwargs)
    assert hash(made) == hash(_Record(*args, **kwargs))


def test_a_default_factory_gives_each_instance_its_own_value() -> None:
    first, second = _Record(1, "x"), _Record(1, "x")
    assert first.e == [] and first.e is not second.e


def test_a_field_left_out_of_comparison_is_left_out_of_equality_and_hash() -> None:
    assert _Record(1, "x", e=[1], g=1) == _Record(1, "x", e=[2], g=2)
    assert hash(_Record(1, "x", e=[1], g=1)) == hash(_Record(1, "x", e=[2], g=2))
    assert _Record(1, "x") != _Record(1, "y")
    assert hash(_Record(1, "x", d=(1,))) != hash(_Record(1, "x", d=(2,)))
    assert _Record(1, "x") != _Plain(1, "x")  # type: ignore[comparison-overlap]  # never equal across classes


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing 2 required positional arguments"),
        ((1, "x", b"c", (), [], "f", 0, 5), {}, "takes from 3 to 8 positional arguments"),
        ((1,), {"a": 2, "b": "x"}, "multiple values for argument 'a'"),
        ((1, "x"), {"h": 1}, "unexpected keyword argument 'h'"),
    ],
)
def test_bad_arguments_fail_as_they_would_for_the_dataclass(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        _Record(*args, **kwargs)
    with pytest.raises(TypeError, match=message):
        _Plain(*args, **kwargs)


def test_the_instance_stays_frozen_and_slotted_and_survives_copy_and_pickle() -> None:
    made = _Record(1, "x", e=[3])
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del made.a
    assert not hasattr(made, "__dict__")
    assert dataclasses.is_dataclass(made)
    assert dataclasses.replace(made, a=5) == _Record(5, "x", e=[3])
    assert pickle.loads(pickle.dumps(made)) == made
    assert copy.copy(made) == made and copy.deepcopy(made).e is not made.e


def test_keyword_only_fields_post_init_and_the_classs_own_methods() -> None:
    seen: list[int] = []

    @record(kw_only=True, repr=False)
    class Checked:
        a: int
        b: int = 2

        def __post_init__(self) -> None:
            seen.append(self.a + self.b)

        def __repr__(self) -> str:
            return "mine"

    assert Checked(a=1).b == 2 and seen == [3]
    with pytest.raises(TypeError, match="positional"):
        Checked(1)  # type: ignore[call-arg]
    assert repr(Checked(a=1)) == "mine"


def test_an_explicit_hash_is_kept_and_a_class_without_fields_is_made() -> None:
    @record
    class Unhashable:
        a: int
        __hash__ = None  # type: ignore[assignment]

    @record
    class Empty:
        pass

    with pytest.raises(TypeError, match="unhashable"):
        hash(Unhashable(1))
    assert Empty() == Empty() and hash(Empty()) == hash(())


def test_a_recursive_value_is_shown_without_recursing() -> None:
    @record
    class Box:
        items: list[object]

    box = Box([])
    box.items.append(box)
    assert repr(box) == "test_a_recursive_value_is_shown_without_recursing.<locals>.Box(items=[...])"


@pytest.mark.parametrize(
    ("namespace", "message"),
    [
        ({"__annotations__": {"a": "int", "b": "int"}, "a": 0}, "non-default argument 'b' follows default argument"),
        ({"__annotations__": {"a": "int"}, "a": dataclasses.field(default=0, init=False)}, "set by __init__ only"),
        ({"__annotations__": {"a": "dataclasses.InitVar[int]"}}, "InitVar"),
    ],
    ids=["default-order", "init-false", "initvar"],
)
def test_an_option_the_value_types_do_not_use_is_refused_when_the_class_is_made(
    namespace: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        record(type("Refused", (), {"__module__": __name__, **namespace}))


def test_busta_value_types_use_it_and_keep_their_fields() -> None:
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
    for kind in (EncryptedDataKey, Header, HeaderAuth, ParsedHeader, DecryptionRequest, EncryptionRequest, Client):
        assert kind.__init__.__qualname__ == f"{kind.__qualname__}.__init__"
        assert kind.__init__.__code__.co_names[0].startswith("_set_"), "set through the slot descriptor"
        assert kind.__eq__.__module__ == _frozen.__name__


def test_a_record_compiles_its_init_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real_exec = builtins.exec

    def counting_exec(source: Any, *rest: Any) -> None:
        if isinstance(source, str):
            compiled.append(source.split("(", 1)[0])
        real_exec(source, *rest)

    monkeypatch.setattr(builtins, "exec", counting_exec)  # dataclasses' string execs are counted too

    def three() -> type:
        return type("Three", (), {"__module__": __name__, "__annotations__": {"a": "int", "b": "int"}, "b": 1})

    dataclasses.dataclass(frozen=True, slots=True)(three())
    assert len(compiled) >= 5, compiled  # the counter sees what a frozen dataclass compiles
    compiled.clear()
    made = record(three())
    assert compiled == ["def __init__"]
    assert made(0) == made(0, 1)


def test_a_class_without_a_docstring_is_documented_by_its_fields() -> None:
    @record
    class Pair:
        left: int
        right: int = 0

    assert Pair.__doc__ == "Pair(left, right)"


def test_dataclasses_sees_a_records_fields_made_on_first_use_as_for_the_dataclass() -> None:
    @record
    class Fresh:
        a: int
        b: str = _frozen.field(default="x", repr=False)
        c: list[int] = _frozen.field(default_factory=list, compare=False, kw_only=True)

    assert isinstance(Fresh.__dict__["__dataclass_fields__"], _frozen._DataclassView), "not made before it is used"
    fields = dataclasses.fields(Fresh)
    assert isinstance(Fresh.__dict__["__dataclass_fields__"], dict), "made once, then a plain attribute"
    assert [(f.name, f.type, f.default, f.repr, f.compare, f.kw_only) for f in fields] == [
        ("a", "int", dataclasses.MISSING, True, True, False),
        ("b", "str", "x", False, True, False),
        ("c", "list[int]", dataclasses.MISSING, True, False, True),
    ]
    assert fields[2].default_factory is list
    assert not Fresh.__dataclass_params__.frozen  # type: ignore[attr-defined]  # the freezing is the record's own
    assert dataclasses.asdict(Fresh(1, c=[2])) == {"a": 1, "b": "x", "c": [2]}
    assert dataclasses.replace(Fresh(1), b="y") == Fresh(1, "y")
    assert Fresh.__match_args__ == ("a", "b")
    assert _frozen.field_names(Fresh) == ("a", "b", "c")
    assert (
        repr(Fresh(1))
        == "test_dataclasses_sees_a_records_fields_made_on_first_use_as_for_the_dataclass.<locals>.Fresh(a=1, c=[])"
    )


def test_a_subclass_of_a_record_keeps_the_bases_fields_first_and_a_redefined_one_in_its_place() -> None:
    @record
    class Base:
        a: int
        b: int = 1

    @record
    class Child(Base):
        c: int = 2
        b: int = 5

    assert _frozen.field_names(Child) == ("a", "b", "c")
    assert Child(0) == Child(0, 5, 2) and Child(0).b == 5
    assert Child.__slots__ == ("c",), "the base's slots are not made again"  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(Child)] == ["a", "b", "c"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Child(0).c = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("namespace", "error", "message"),
    [
        ({"__annotations__": {"a": "list[int]"}, "a": []}, ValueError, "mutable default <class 'list'> for field a"),
        ({"__annotations__": {"a": "typing.ClassVar[int]"}, "a": 0}, TypeError, "ClassVar"),
        (
            {"__annotations__": {"a": "int"}, "a": dataclasses.field(default=0, metadata={"k": 1})},
            TypeError,
            "metadata",
        ),
    ],
    ids=["mutable-default", "classvar", "metadata"],
)
def test_a_field_dataclasses_would_refuse_or_a_record_does_not_take_is_refused(
    namespace: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        record(type("Refused", (), {"__module__": __name__, **namespace}))


def test_a_field_with_a_default_and_a_factory_is_refused_as_dataclasses_refuses_it() -> None:
    with pytest.raises(ValueError, match="both default and default_factory"):
        _frozen.field(default=0, default_factory=int)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="both default and default_factory"):
        dataclasses.field(default=0, default_factory=int)  # type: ignore[call-overload]


def test_a_field_named_like_a_pseudo_field_is_still_a_field() -> None:
    made = record(type("Named", (), {"__module__": __name__, "__annotations__": {"a": "MyClassVarLike"}}))
    assert _frozen.field_names(made) == ("a",)
