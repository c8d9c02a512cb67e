"""Keyring kinds: everything busta knows about one family of keyrings, registered in one place.

A :class:`KeyringKind` says, for one family (raw AES, AWS KMS, PKCS#11 ...):

- where its keyring classes live, loaded on first use (``module``, ``exports``): ``busta.keyrings``
  exports them lazily, so ``import busta`` imports no boto3 or python-pkcs11;
- the pip extra that module needs (``extra``), named in the ImportError when it is missing;
- its secret-free descriptions (``descriptions``): frozen, picklable classes with a ``build()``
  that makes the keyring where it is used; :mod:`busta.keyconfig` exports them;
- its command-line surface: each :class:`KeyOption` is an option naming one key (``--kms-key
  ARN``) with the function that turns what was given into a description, and each
  :class:`CliOption` an option its keys read (``--pkcs11-module``). ``busta encrypt``,
  ``decrypt`` and ``bulk`` offer every registered kind's options.

Adding a keyring is one module (the keyring) and one :func:`register` call::

    register(KeyringKind(
        name="toy",
        module="my_package.toy",            # loaded when busta.keyrings.ToyKeyring is first used
        exports=("ToyKeyring",),
        descriptions=(ToyKey,),
        key_options=(KeyOption("--toy-key", "a toy key", build=lambda given: ToyKey(given.value)),),
    ))

The built-in kinds are registered in :mod:`busta.keyrings.kinds`, which is imported when the
table is first read or added to (not by ``import busta``: describing every kind is a sixth of
its start-up). This module imports no keyring: it is the table, not the code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any, Literal, Protocol, runtime_checkable

from .._frozen import field, record
from ..errors import UsageError
from ..materials import Keyring

__all__ = [
    "CliOption",
    "KeyArgs",
    "KeyOption",
    "KeyringConfig",
    "KeyringKind",
    "exporting",
    "kinds",
    "register",
    "unregister",
]


@runtime_checkable
class KeyringConfig(Protocol):
    """A secret-free description of a keyring; ``build()`` makes the keyring (reading any secret then)."""

    def build(self) -> Keyring: ...


@record
class KeyArgs:
    """What the command line gave for one key: the option's ``value`` (empty for a flag), the
    ``--namespace`` / ``--key-name`` / ``--rsa-padding`` that went with it, every parsed option
    (``options["aws_endpoint_url"]``) and whether the command encrypts."""

    flag: str
    value: str
    options: Mapping[str, Any]
    encrypting: bool
    namespace: str | None = None
    name: str | None = None
    padding: str | None = None

    def names(self) -> tuple[str, str]:
        """``(namespace, name)``; :class:`UsageError` when either was not given."""
        if not self.namespace or not self.name:
            raise UsageError(f"{self.flag} {self.value} needs --namespace and --key-name")
        return self.namespace, self.name


@record
class KeyOption:
    """A command-line option naming one key: every time it is given, ``build`` makes one description,
    in command-line order (the first key generates the data key). With ``metavar=None`` it is a flag
    (``--kms-discovery``) whose key comes after the ordered ones. ``names``: it takes --namespace and
    --key-name; ``padding``: it takes --rsa-padding too."""

    flag: str
    help: str
    build: Callable[[KeyArgs], KeyringConfig]
    metavar: str | None = "VALUE"
    names: bool = False
    padding: bool = False


@record
class CliOption:
    """An option the keys of a kind read (``--pkcs11-module PATH``): ``store`` a value, a
    ``store_true`` flag, or ``append`` (repeatable)."""

    flag: str
    help: str
    metavar: str | None = None
    action: Literal["store", "store_true", "append"] = "store"
    default: Any = None


@record
class KeyringKind:
    """One family of keyrings, as registered (see the module docstring)."""

    name: str
    module: str | None = None  # dotted name of the keyring module loaded on first use
    exports: tuple[str, ...] = ()  # names busta.keyrings exports from ``module``
    extra: str = ""  # the pip extra ``module`` needs: pip install "busta[extra]"
    descriptions: tuple[type, ...] = ()
    key_options: tuple[KeyOption, ...] = ()
    options: tuple[CliOption, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name:
            raise UsageError("a keyring kind needs a name")
        if self.exports and not self.module:
            raise UsageError(f"keyring kind {self.name!r} exports {self.exports} but names no module")
        for description in self.descriptions:
            if not callable(getattr(description, "build", None)):
                raise UsageError(f"{description!r} has no build(): it is not a keyring description")


_KINDS: dict[str, KeyringKind] = {}
_LOCK = threading.Lock()


def _flags(kind: KeyringKind) -> set[str]:
    return {key.flag for key in kind.key_options} | {option.flag for option in kind.options}


def _taken(kind: KeyringKind) -> str | None:
    """What ``kind`` would claim that a registered kind has (a name, an export or an option), or None."""
    for other in _KINDS.values():
        if other.name == kind.name:
            return f"the name {kind.name!r}"
        shared = (set(kind.exports) & set(other.exports)) | (_flags(kind) & _flags(other))
        if shared:
            return f"{sorted(shared)} of kind {other.name!r}"
    return None


def _with_builtins() -> None:
    """Register the built-in kinds if they are not yet: importing :mod:`.kinds` does. Another thread
    that is importing it holds its module lock, so this waits until every built-in kind is in; the
    thread importing it (whose register() calls come here) gets the module at once."""
    import_module(f"{__package__}.kinds")  # not ``from . import``: that asks the package's __getattr__


def register(kind: KeyringKind) -> KeyringKind:
    """Add ``kind``; :class:`UsageError` if its name, an export or an option is already registered.
    Returns ``kind``. The command-line parser made after this offers its options."""
    _with_builtins()  # first: a kind that clashes with a built-in one is refused, whenever it comes
    if not isinstance(kind, KeyringKind):
        raise UsageError(f"register() takes a KeyringKind, not {type(kind).__name__}")
    with _LOCK:
        taken = _taken(kind)
        if taken is not None:
            raise UsageError(f"keyring kind {kind.name!r} is refused: {taken} is already registered")
        _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove the kind ``name`` (a test's toy kind, say); nothing if it is not registered."""
    with _LOCK:
        _KINDS.pop(name, None)


def kinds() -> tuple[KeyringKind, ...]:
    """Every registered kind, in the order of registration (the built-in ones first)."""
    _with_builtins()
    with _LOCK:
        return tuple(_KINDS.values())


def exporting(name: str) -> KeyringKind | None:
    """The kind whose module exports ``name`` through ``busta.keyrings``, or None."""
    return next((kind for kind in kinds() if name in kind.exports), None)
