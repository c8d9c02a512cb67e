"""One process-wide gate to PKCS#11: loaded modules, logged-in sessions, and a lock.

Facts this module is built around (SoftHSM 2.6, python-pkcs11 0.10):
- several threads each in its own session crashed SoftHSM; one process-wide
  lock around every PKCS#11 call made that go away, so every call here holds it;
- login is per token per process (a second login answers UserAlreadyLoggedIn),
  so one session per token is opened, kept, and shared;
- a token created after the module was loaded is invisible until the module is
  re-initialized, which :func:`session` does once when a token is not found.
  Re-initializing ends every session and object handle of that module, so it
  bumps the module's :func:`generation`: holders of handles look them up again.
  It is done only to a module busta initialized and nobody else has fetched
  (:mod:`._pkcs11_libs`, which also shares one loaded module with the
  application whatever paths each side gives);
- a token the application has already logged in to answers UserAlreadyLoggedIn:
  login is per process, so busta's session is opened without logging in again.
"""

from __future__ import annotations

import functools
import hmac
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pkcs11
import pkcs11.exceptions as p11
from pkcs11 import Attribute

from .._legacy import environ
from .._secrets import SecretBytes
from ..errors import Pkcs11Error, UsageError
from . import _pkcs11_libs

__all__ = [
    "DEFAULT_PIN_ENV",
    "LOCK",
    "call",
    "check_labels",
    "generation",
    "key_type",
    "loaded_modules",
    "resolve_pin",
    "session",
    "type_name",
]

#: The environment variable read for the PIN when none is given.
DEFAULT_PIN_ENV = "BUSTA_PKCS11_PIN"

#: Held around every PKCS#11 call in this process.
LOCK = threading.RLock()

_libs: dict[str, Any] = {}  # python-pkcs11's lib objects (its stubs type ``lib`` as a function)
_sessions: dict[tuple[str, str], tuple[pkcs11.Session, bytes]] = {}
_generations: dict[str, int] = {}
_T = TypeVar("_T")


@functools.lru_cache(maxsize=64)
def _canonical(module: str) -> str:
    """One name per library file however many paths lead to it (a symlink, say)."""
    return os.path.realpath(module)


def generation(module: str) -> int:
    """Changes whenever ``module`` is re-initialized (and all its handles become invalid)."""
    with LOCK:
        return _generations.get(_canonical(module), 0)


def _reinitialize(module: str, lib: Any, token_label: str) -> None:
    if not _pkcs11_libs.may_reinitialize(lib):
        raise Pkcs11Error(
            f"no token labelled {token_label!r} in {module!r} (a token made after the module was loaded appears only "
            "once it is re-initialized, and busta does not re-initialize a module that other code also uses)",
            "NoSuchToken",
        )
    lib.reinitialize()
    _generations[module] = _generations.get(module, 0) + 1
    for key in [key for key in _sessions if key[0] == module]:
        del _sessions[key]


def loaded_modules() -> list[str]:
    with LOCK:
        return list(_libs)


def _lib(module: str) -> Any:
    canonical = _canonical(module)  # one library however many paths lead to it
    lib = _libs.get(canonical)
    if lib is None:
        lib = _libs[canonical] = _pkcs11_libs.load(module)
    return lib


def _pin_digest(pin: SecretBytes) -> bytes:
    return hmac.digest(b"envelope-pkcs11-pin", pin.reveal(), "sha256")


def session(module: str, token_label: str, pin: SecretBytes) -> pkcs11.Session:
    """The logged-in session for ``token_label`` (opened on first use, then shared)."""
    with LOCK:
        module = _canonical(module)
        known = _sessions.get((module, token_label))
        if known is not None:
            opened, digest = known
            if not hmac.compare_digest(digest, _pin_digest(pin)):
                raise Pkcs11Error(f"token {token_label!r} is already logged in with a different PIN", "PinIncorrect")
            return opened
        lib = _lib(module)
        try:
            token = lib.get_token(token_label=token_label)
        except p11.NoSuchToken:
            _reinitialize(module, lib, token_label)  # a token made after the module was loaded shows only now
            try:
                token = lib.get_token(token_label=token_label)
            except p11.NoSuchToken:
                raise Pkcs11Error(f"no token labelled {token_label!r} in {module!r}", "NoSuchToken") from None
        except p11.MultipleTokensReturned:
            raise Pkcs11Error(f"several tokens are labelled {token_label!r}", "MultipleTokensReturned") from None
        try:
            opened = _log_in(token, pin)
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange) as exc:
            raise Pkcs11Error(f"the PIN for token {token_label!r} was refused", type(exc).__name__) from None
        except p11.PinLocked:
            raise Pkcs11Error(f"the PIN of token {token_label!r} is locked", "PinLocked") from None
        except p11.PKCS11Error as exc:
            raise Pkcs11Error(f"could not log in to token {token_label!r}", type(exc).__name__) from exc
        _sessions[(module, token_label)] = (opened, _pin_digest(pin))
        return opened


def _log_in(token: Any, pin: SecretBytes) -> pkcs11.Session:
    try:
        return token.open(user_pin=pin.reveal().decode("utf-8"), rw=True)  # type: ignore[no-any-return]
    except p11.UserAlreadyLoggedIn:  # by the application: every session of the process is logged in
        return token.open(rw=True)  # type: ignore[no-any-return]


def call(what: str, action: Callable[[], _T]) -> _T:
    """Run one PKCS#11 operation under the lock, mapping its errors into busta's."""
    with LOCK:
        try:
            return action()
        except p11.PKCS11Error as exc:
            raise Pkcs11Error(f"PKCS#11 {what} failed", type(exc).__name__) from exc


def resolve_pin(pin: str | bytes | SecretBytes | None, pin_env: str) -> SecretBytes:
    """The PIN given, else the one in environment variable ``pin_env``: UTF-8 text, never shown in errors."""
    if pin is None:
        if not isinstance(pin_env, str) or not pin_env:
            raise UsageError("pin_env must name an environment variable (a non-empty str)")
        value = environ(pin_env)
        if not value:
            raise UsageError(f"no PIN given and ${pin_env} is not set")
        return SecretBytes(value.encode("utf-8"))
    if isinstance(pin, str):
        return SecretBytes(pin.encode("utf-8"))
    if not isinstance(pin, (bytes, SecretBytes)):
        raise UsageError("a PIN must be str, bytes or SecretBytes")
    secret = pin if isinstance(pin, SecretBytes) else SecretBytes(pin)
    try:
        secret.reveal().decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("a PIN must be UTF-8 text") from None
    return secret


def check_labels(module: object, token_label: object, key_label: object) -> None:
    """The module path and the token and key labels are non-empty strings (:class:`UsageError`)."""
    for what, value in (("module", module), ("token_label", token_label), ("key_label", key_label)):
        if not isinstance(value, str) or not value:
            raise UsageError(f"{what} must be a non-empty str, not {type(value).__name__}")


def type_name(value: Any) -> str:
    return str(getattr(value, "name", value))


def key_type(obj: Any) -> Any:
    try:
        return obj[Attribute.KEY_TYPE]
    except (p11.AttributeTypeInvalid, KeyError):
        return None
