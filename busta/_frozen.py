"""``record``: busta's frozen, slotted value types, made without :mod:`dataclasses` at import.

``@dataclass(frozen=True, slots=True)`` compiles a fresh ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` from source text for every class, and importing
:mod:`dataclasses` imports :mod:`inspect` (with :mod:`ast`, :mod:`dis` and :mod:`tokenize`): some
10 ms of a 30 ms interpreter start here, before the twenty value types ``import busta`` makes.
:func:`record` reads the class's annotations and defaults itself, as :mod:`dataclasses` does, makes
the slotted class, and gives it methods that only read the field names:

- ``__init__`` is the one method compiled per class. It sets each slot through its descriptor,
  which costs about half of the ``object.__setattr__`` call of a frozen dataclass's own (a header,
  its data keys and a 1 KiB message's materials make some forty such calls). Its signature,
  defaults and errors are the dataclass's own; ``__post_init__`` runs last.
- ``__eq__`` and ``__hash__`` compare and hash the tuple of the compared fields, of the same class
  only; ``__repr__`` shows the ``repr=True`` fields, as the dataclass's own do.
- Assigning or deleting any attribute raises :class:`dataclasses.FrozenInstanceError`; pickling and
  copying go through ``__getstate__``/``__setstate__``.

A record is still a dataclass to :mod:`dataclasses` (``fields``, ``replace``, ``asdict``,
``is_dataclass``): its ``__dataclass_fields__`` and ``__dataclass_params__`` are made on first
use, by :mod:`dataclasses` itself from the same fields (``params.frozen`` is False there: the
freezing is the record's own). Fields take :func:`field` (or :func:`dataclasses.field`) for what a
plain default cannot say. A method the class defines itself is kept, as :mod:`dataclasses` keeps
it; a subclass is made a record too. Options the value types do not use (``order``,
``unsafe_hash``, ``InitVar``, ``ClassVar``, ``init=False`` fields, field metadata) raise
:class:`TypeError` when the class is made.
"""

from __future__ import annotations

import operator
import reprlib
import sys
from collections.abc import Callable
from typing import Any, Final, TypeVar, dataclass_transform, overload

__all__ = ["field", "field_names", "record"]

_C = TypeVar("_C", bound=type)
_T = TypeVar("_T")


class _Missing:
    """No default (a field that :func:`field` was not given one for)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
#: Where a record keeps its fields, in order (its bases' first): a tuple of :class:`_Field`.
_FIELDS: Final = "__record_fields__"
#: Annotations that make no instance field (dataclasses' pseudo-fields), which a record refuses.
_PSEUDO_FIELDS: Final = ("ClassVar", "InitVar", "KW_ONLY")


class _Field:
    """One field: its name, annotation and options (what :func:`field` says about it)."""

    __slots__ = ("compare", "default", "default_factory", "hash", "kw_only", "name", "repr", "type")

    def __init__(
        self,
        *,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        repr: bool = True,
        compare: bool = True,
        hash: bool | None = None,
        kw_only: bool | None = None,
        name: str = "",
        type: Any = None,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.default, self.default_factory = default, default_factory
        self.repr, self.compare, self.hash, self.kw_only = repr, compare, hash, kw_only
        self.name, self.type = name, type

    def named(self, name: str, annotation: Any, kw_only: bool) -> _Field:
        return _Field(
            default=self.default,
            default_factory=self.default_factory,
            repr=self.repr,
            compare=self.compare,
            hash=self.hash,
            kw_only=kw_only if self.kw_only is None else self.kw_only,
            name=name,
            type=annotation,
        )


@overload
def field(
    *, default: _T, repr: bool = True, compare: bool = True, hash: bool | None = None, kw_only: bool | None = None
) -> _T: ...
@overload
def field(
    *,
    default_factory: Callable[[], _T],
    repr: bool = True,
    compare: bool = True,
    hash: bool | None = None,
    kw_only: bool | None = None,
) -> _T: ...
@overload
def field(*, repr: bool = True, compare: bool = True, hash: bool | None = None, kw_only: bool | None = None) -> Any: ...
def field(**options: Any) -> Any:
    """A record field's options, as :func:`dataclasses.field` takes them: ``default``,
    ``default_factory``, ``repr``, ``compare``, ``hash``, ``kw_only`` (not ``init``, which a
    record's fields always are, nor ``metadata``)."""
    return _Field(**options)


@overload
def record(cls: _C, /) -> _C: ...
@overload
def record(*, init: bool = True, repr: bool = True, kw_only: bool = False) -> Callable[[_C], _C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(
    cls: Any = None,
    /,
    *,
    init: bool = True,
    repr: bool = True,
    kw_only: bool = False,
) -> Any:
    """Make ``cls`` a frozen, slotted dataclass (see the module's text). ``init=False`` and
    ``repr=False`` keep the class's own ``__init__`` or ``__repr__``; ``kw_only`` as for dataclasses."""

    def make(cls: type) -> type:
        return _make(cls, init=init, show=repr, kw_only=kw_only)

    return make if cls is None else make(cls)


def field_names(cls: type) -> tuple[str, ...]:
    """The names of a record's fields, in order (without importing :mod:`dataclasses`)."""
    return tuple(f.name for f in getattr(cls, _FIELDS))


def _make(cls: type, *, init: bool, show: bool, kw_only: bool) -> type:
    own = dict(cls.__dict__)
    fields = _collect(cls, own, kw_only)
    names = tuple(f.name for f in fields)
    made: Any = _slotted(cls, own, fields)
    setattr(made, _FIELDS, fields)
    if "__match_args__" not in own:
        setattr(made, "__match_args__", tuple(f.name for f in fields if not f.kw_only))  # noqa: B010 - mypy refuses it as an attribute
    if init:
        made.__init__ = _init(made, fields)
    if own.get("__doc__") is None:
        made.__doc__ = f"{made.__name__}({', '.join(names)})"
    if show and "__repr__" not in own:
        made.__repr__ = _repr(tuple(f.name for f in fields if f.repr))
    compared = _key(tuple(f.name for f in fields if f.compare))
    if "__eq__" not in own:
        made.__eq__ = _eq(compared)
    if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):
        made.__hash__ = _hash(_key(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))))
    made.__setattr__ = _refuse_assignment
    made.__delattr__ = _refuse_deletion
    if "__getstate__" not in own:
        made.__getstate__, made.__setstate__ = _state(_key(names), names)
    for name in _DATACLASS_ATTRIBUTES:
        setattr(made, name, _DataclassView(name))
    return made  # type: ignore[no-any-return]


def _collect(cls: type, own: dict[str, Any], kw_only: bool) -> tuple[_Field, ...]:
    """The fields of ``cls``: its record bases' (in order), then those its own annotations add or
    redefine (a redefined one keeps its place), as :mod:`dataclasses` orders them."""
    fields: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for inherited in base.__dict__.get(_FIELDS, ()):
            fields[inherited.name] = inherited
    for name, annotation in own.get("__annotations__", {}).items():
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
        if text.split("[", 1)[0].rsplit(".", 1)[-1].strip() in _PSEUDO_FIELDS:
            raise TypeError(f"record takes no InitVar, ClassVar or KW_ONLY pseudo-fields ({cls.__name__}.{name})")
        fields[name] = _spec(cls, name, own.get(name, MISSING)).named(name, annotation, kw_only)
    return tuple(fields.values())


def _spec(cls: type, name: str, given: Any) -> _Field:
    """What the class body gave a field: a :func:`field`, a :func:`dataclasses.field`, a plain default
    or nothing."""
    if isinstance(given, _Field):
        return given
    dataclasses = sys.modules.get("dataclasses")  # a dataclasses.Field means it was imported
    if dataclasses is not None and isinstance(given, dataclasses.Field):
        if not given.init:
            raise TypeError(f"record takes fields set by __init__ only; {cls.__name__}.{name} is not one")
        if given.metadata:
            raise TypeError(f"record takes no field metadata ({cls.__name__}.{name})")
        unset = dataclasses.MISSING
        return _Field(
            default=MISSING if given.default is unset else given.default,
            default_factory=MISSING if given.default_factory is unset else given.default_factory,
            repr=given.repr,
            compare=given.compare,
            hash=given.hash,
            kw_only=None if given.kw_only is unset else given.kw_only,
        )
    if given is not MISSING and type(given).__hash__ is None:  # a list, dict or set shared by every instance
        raise ValueError(f"mutable default {type(given)} for field {name} is not allowed: use default_factory")
    return _Field(default=given)


def _slotted(cls: type, own: dict[str, Any], fields: tuple[_Field, ...]) -> type:
    """``cls`` made anew with a slot for each field no base has one for (as dataclasses' ``slots=True``)."""
    inherited: set[str] = set()
    for base in cls.__mro__[1:-1]:
        slots = base.__dict__.get("__slots__", ())
        inherited.update((slots,) if isinstance(slots, str) else slots)
    body = dict(own)
    for f in fields:
        body.pop(f.name, None)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(f.name for f in fields if f.name not in inherited)
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


class _DataclassView:
    """``__dataclass_fields__`` or ``__dataclass_params__`` of a record: on first use, :mod:`dataclasses`
    makes both from the record's fields, and they replace these descriptors on the class."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __get__(self, instance: object, owner: type) -> Any:
        import dataclasses  # noqa: PLC0415 - for dataclasses' own functions, not to import busta

        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {"__annotations__": annotations, "__doc__": owner.__doc__ or owner.__name__}
        for f in getattr(owner, _FIELDS):
            annotations[f.name] = f.type
            namespace[f.name] = dataclasses.field(
                default=dataclasses.MISSING if f.default is MISSING else f.default,
                default_factory=dataclasses.MISSING if f.default_factory is MISSING else f.default_factory,
                repr=f.repr,
                compare=f.compare,
                hash=f.hash,
                kw_only=bool(f.kw_only),
            )
        shadow: Any = dataclasses.dataclass(type(owner.__name__, (), namespace), init=False, repr=False, eq=False)
        for name in _DATACLASS_ATTRIBUTES:
            type.__setattr__(owner, name, getattr(shadow, name))
        return getattr(owner, self._name)


_DATACLASS_ATTRIBUTES: Final = ("__dataclass_fields__", "__dataclass_params__")


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name].__set__  # type: ignore[no-any-return]
    raise TypeError(f"{cls.__name__}.{name} has no slot")  # pragma: no cover - dataclasses made one


def _init(cls: type, fields: tuple[_Field, ...]) -> Callable[..., None]:
    """An ``__init__`` with the dataclass's signature that sets each slot through its descriptor."""
    glob: dict[str, Any] = {"_MISSING": MISSING}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    defaulted = False  # a positional parameter before this one has a default
    for field in fields:
        name = field.name
        glob[f"_set_{name}"] = _slot_setter(cls, name)
        param = name
        if field.default is not MISSING:
            glob[f"_default_{name}"] = field.default
            param = f"{name}=_default_{name}"
        elif field.default_factory is not MISSING:
            glob[f"_factory_{name}"] = field.default_factory
            param = f"{name}=_MISSING"
            body.append(f"    if {name} is _MISSING:\n        {name} = _factory_{name}()\n")
        if field.kw_only:
            keyword.append(param)
        elif param == name and defaulted:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        else:
            defaulted = param != name
            positional.append(param)
        body.append(f"    _set_{name}(self, {name})\n")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()\n")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    source = f"def __init__({params}):\n{''.join(body) or '    pass'}\n"
    namespace: dict[str, Any] = {}
    exec(source, glob, namespace)  # noqa: S102 - built from the field names alone, as dataclasses does
    made: Callable[..., None] = namespace["__init__"]
    made.__qualname__ = f"{cls.__qualname__}.__init__"
    made.__module__ = cls.__module__
    return made


def _key(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """What an instance is compared, hashed and pickled by: the tuple of these fields."""
    if len(names) >= 2:
        return operator.attrgetter(*names)
    if names:
        (name,) = names
        return lambda self: (getattr(self, name),)
    return lambda self: ()


def _eq(key: Callable[[object], tuple[Any, ...]]) -> Callable[[object, object], Any]:
    def __eq__(self: object, other: object) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash(key: Callable[[object], tuple[Any, ...]]) -> Callable[[object], int]:
    def __hash__(self: object) -> int:
        return hash(key(self))

    return __hash__


def _repr(names: tuple[str, ...]) -> Callable[[object], str]:
    @reprlib.recursive_repr()
    def __repr__(self: object) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({shown})"

    return __repr__


def _refuse_assignment(self: object, name: str, value: object) -> None:
    from dataclasses import FrozenInstanceError  # noqa: PLC0415 - the error dataclasses raise, made when needed

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_deletion(self: object, name: str) -> None:
    from dataclasses import FrozenInstanceError  # noqa: PLC0415

    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _state(
    key: Callable[[object], tuple[Any, ...]], names: tuple[str, ...]
) -> tuple[Callable[[object], tuple[Any, ...]], Callable[[object, tuple[Any, ...]], None]]:
    """``__getstate__`` and ``__setstate__``: the fields' values in order (a frozen instance refuses
    the attribute assignment that pickling a slotted object otherwise does)."""

    def __getstate__(self: object) -> tuple[Any, ...]:
        return key(self)

    def __setstate__(self: object, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    return __getstate__, __setstate__
