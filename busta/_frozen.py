"""A faster ``__init__`` for the frozen value types made on every message's path.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (its own
``__setattr__`` refuses); a header, its data keys and the materials of one 1 KiB message make some
forty such calls, about a tenth of the whole call. With ``slots=True`` every field is a slot, whose
descriptor can set it directly at about half the cost. :func:`quick_init` replaces the generated
``__init__`` with one that does that; the class stays a frozen dataclass in every other way (its
signature, defaults, ``__eq__``, ``__hash__``, ``__repr__``, ``dataclasses.replace`` and the refusal
of later assignment are the dataclass's own).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick_init"]

_C = TypeVar("_C", bound=type)


def quick_init(cls: _C) -> _C:
    """Give the frozen, slotted dataclass ``cls`` an ``__init__`` that sets its slots through their
    descriptors. Only plain fields qualify (no ``init=False``, ``kw_only``, default factory or
    ``__post_init__``): anything else raises :class:`TypeError` when the class is made."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"quick_init needs a frozen dataclass with slots, not {cls.__name__}")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"quick_init cannot run {cls.__name__}.__post_init__")
    fields = dataclasses.fields(cls)
    for field in fields:
        if not field.init or field.kw_only or field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"quick_init takes plain fields only; {cls.__name__}.{field.name} is not one")
    names = [field.name for field in fields]
    setters: dict[str, Any] = {f"_set_{name}": cls.__dict__[name].__set__ for name in names}
    body = "".join(f"    _set_{name}(self, {name})\n" for name in names) or "    pass\n"
    source = f"def __init__(self, {', '.join(names)}):\n{body}"
    namespace: dict[str, Any] = {}
    exec(source, setters, namespace)  # noqa: S102 - generated from the field names alone, as dataclasses does
    init = namespace["__init__"]
    init.__defaults__ = cls.__init__.__defaults__  # type: ignore[misc]  # the dataclass's own defaults
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__  # type: ignore[misc]
    cls.__init__ = init  # type: ignore[misc]
    return cls
