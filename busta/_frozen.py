"""``record``: busta's frozen, slotted value types, made without compiling six methods each.

``@dataclass(frozen=True, slots=True)`` compiles a fresh ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` from source text for every class. That is about
1 ms a class here, and ``import busta`` made some twenty of them: about a third of the import.
:func:`record` lets :mod:`dataclasses` do the rest of its work (fields, defaults, slots, match
arguments), so the class is still a dataclass for ``fields``, ``replace`` and ``asdict``, and
gives it shared methods that only read the field names:

- ``__init__`` is the one method compiled per class. It sets each slot through its descriptor,
  which costs about half of the ``object.__setattr__`` call of a frozen dataclass's own (a header,
  its data keys and a 1 KiB message's materials make some forty such calls). Its signature,
  defaults and errors are the dataclass's own; ``__post_init__`` runs last.
- ``__eq__`` and ``__hash__`` compare and hash the tuple of the compared fields, of the same class
  only; ``__repr__`` shows the ``repr=True`` fields, as the dataclass's own do.
- Assigning or deleting any attribute raises :class:`dataclasses.FrozenInstanceError`; pickling and
  copying go through ``__getstate__``/``__setstate__``.

A method the class defines itself is kept, as :mod:`dataclasses` keeps it. To :mod:`dataclasses`
itself a record is not frozen (its ``__dataclass_params__`` says ``frozen=False``), so a subclass
is made a record too, never a ``@dataclass(frozen=True)``. Options the value types
do not use (``order``, ``unsafe_hash``, ``InitVar``, ``init=False`` fields) raise :class:`TypeError`
when the class is made.
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

_C = TypeVar("_C", bound=type)


@overload
def record(cls: _C, /) -> _C: ...
@overload
def record(*, init: bool = True, repr: bool = True, kw_only: bool = False) -> Callable[[_C], _C]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
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


def _make(cls: type, *, init: bool, show: bool, kw_only: bool) -> type:
    own = dict(cls.__dict__)
    made: Any = dataclasses.dataclass(cls, init=False, repr=False, eq=False, slots=True, kw_only=kw_only)
    fields = dataclasses.fields(made)
    for field in fields:
        if not field.init:
            raise TypeError(f"record takes fields set by __init__ only; {made.__name__}.{field.name} is not one")
    if len(fields) != len(made.__dataclass_fields__):
        raise TypeError(f"record takes no InitVar or ClassVar pseudo-fields ({made.__name__})")
    names = tuple(field.name for field in fields)
    if init:
        made.__init__ = _init(made, fields)
    if own.get("__doc__") is None:  # dataclasses wrote the signature of object.__init__ here
        made.__doc__ = f"{made.__name__}({', '.join(names)})"
    if show and "__repr__" not in own:
        made.__repr__ = _repr(tuple(field.name for field in fields if field.repr))
    compared = _key(tuple(field.name for field in fields if field.compare))
    if "__eq__" not in own:
        made.__eq__ = _eq(compared)
    if "__hash__" not in own or (own["__hash__"] is None and "__eq__" in own):
        made.__hash__ = _hash(_key(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))))
    made.__setattr__ = _refuse_assignment
    made.__delattr__ = _refuse_deletion
    if "__getstate__" not in own:
        made.__getstate__, made.__setstate__ = _state(_key(names), names)
    return made  # type: ignore[no-any-return]


def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name].__set__  # type: ignore[no-any-return]
    raise TypeError(f"{cls.__name__}.{name} has no slot")  # pragma: no cover - dataclasses made one


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """An ``__init__`` with the dataclass's signature that sets each slot through its descriptor."""
    glob: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = []
    defaulted = False  # a positional parameter before this one has a default
    for field in fields:
        name = field.name
        glob[f"_set_{name}"] = _slot_setter(cls, name)
        param = name
        if field.default is not dataclasses.MISSING:
            glob[f"_default_{name}"] = field.default
            param = f"{name}=_default_{name}"
        elif field.default_factory is not dataclasses.MISSING:
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
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_deletion(self: object, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


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
