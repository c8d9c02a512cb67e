"""Loading PKCS#11 modules so that busta and the application share them, whatever paths each gives.

Facts this is built around (python-pkcs11 0.10, glibc, SoftHSM 2.6):
- ``pkcs11.lib(path)`` keeps one library object per path *string* in
  ``pkcs11._loaded``, and calls ``C_Initialize`` when it makes a new one;
- ``dlopen`` of a second path to a loaded file (a symlink such as Debian's
  ``/usr/lib/softhsm/libsofthsm2.so``) returns the library already loaded, so
  its ``C_Initialize`` answers ``CKR_CRYPTOKI_ALREADY_INITIALIZED`` and
  python-pkcs11 raises. Whoever came second, busta or the application, failed.

So busta makes python-pkcs11's cache find a library by file as well as by
path (:class:`_SameFileCache`): ``pkcs11.lib(any path to a loaded file)`` then
returns the object already loaded, whoever loaded it, in either order.

A module is re-initialized (``C_Finalize`` then ``C_Initialize``, which ends
every session in the process) only if busta initialized it and nobody else
has fetched it from the cache since (:func:`may_reinitialize`): busta never
finalizes a module the application uses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pkcs11
import pkcs11.exceptions as p11

from ..errors import Pkcs11Error

__all__ = ["load", "may_reinitialize"]

_owned: set[int] = set()  # id() of the libraries busta initialized itself
_shared: set[int] = set()  # id() of the libraries someone other than busta fetched from the cache
_inside = threading.local()  # set while busta itself looks a library up
_install_lock = threading.Lock()


def _file(path: str) -> tuple[int, int] | None:
    """The file ``path`` leads to (device, inode), after symlinks; None if there is none."""
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return found.st_dev, found.st_ino


class _SameFileCache(dict[str, Any]):
    """python-pkcs11's ``_loaded``: found by path first, then by file, and it notes who asks."""

    def __missing__(self, so: str) -> Any:
        key = self._same_file(so)
        if key is None:
            raise KeyError(so)
        return dict.__getitem__(self, key)

    def __getitem__(self, so: str) -> Any:
        lib = super().__getitem__(so)
        if not getattr(_inside, "active", False):
            _shared.add(id(lib))
        return lib

    def __delitem__(self, so: str) -> None:
        key = so if dict.__contains__(self, so) else self._same_file(so)
        if key is None:
            raise KeyError(so)
        dict.__delitem__(self, key)

    def _same_file(self, so: str) -> str | None:
        wanted = _file(so)
        if wanted is None:
            return None
        return next((key for key in list(self) if _file(key) == wanted), None)


def _install() -> None:
    """Put :class:`_SameFileCache` in python-pkcs11's place (once; not if its cache is not a plain dict)."""
    with _install_lock:
        current = getattr(pkcs11, "_loaded", None)
        if type(current) is dict:
            pkcs11._loaded = _SameFileCache(current)


@contextmanager
def _ours() -> Iterator[None]:
    _inside.active = True
    try:
        yield
    finally:
        _inside.active = False


def _cached(module: str) -> Any:
    with _ours():
        try:
            return pkcs11._loaded[module]
        except KeyError:
            return None


def load(module: str) -> Any:
    """python-pkcs11's library object for ``module``: the one already loaded (by anyone, under any path
    to the same file) or a new one, which busta then owns."""
    _install()
    already = _cached(module)
    if already is None and not os.path.isfile(module):
        raise Pkcs11Error(f"no PKCS#11 module at {module!r}")
    try:
        with _ours():
            lib = pkcs11.lib(module)
    except (p11.PKCS11Error, OSError, RuntimeError) as exc:
        if "already initialized" in str(exc):
            raise Pkcs11Error(
                f"the PKCS#11 module {module!r} was initialized in this process by code that did not load it "
                "through python-pkcs11's pkcs11.lib(), so busta cannot share it",
                "CryptokiAlreadyInitialized",
            ) from exc
        raise Pkcs11Error(f"could not load the PKCS#11 module {module!r}", type(exc).__name__) from exc
    if already is None:
        _owned.add(id(lib))
    return lib


def may_reinitialize(lib: Any) -> bool:
    """True if busta initialized ``lib`` and nobody else has fetched it: finalizing it ends no one else's work."""
    return id(lib) in _owned and id(lib) not in _shared
