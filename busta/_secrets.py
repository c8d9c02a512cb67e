"""Key material as a type that never prints and never pickles."""

from __future__ import annotations

import hmac
from typing import NoReturn

from .errors import UsageError

__all__ = ["SecretBytes", "refuse_pickling"]


class SecretBytes:
    """Bytes of key material.

    ``repr`` and ``str`` show only the length; equality is constant-time; the
    object is unhashable and refuses pickling. :meth:`reveal` hands the bytes out
    explicitly. Python cannot wipe memory: the bytes live until garbage-collected.
    """

    __slots__ = ("_value",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, value: bytes | bytearray | memoryview):
        if not isinstance(value, (bytes, bytearray, memoryview)):  # bytes(32) would be 32 zero bytes
            raise UsageError(f"key material must be bytes, not {type(value).__name__}")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """Return the secret bytes. Keep what you do with them short-lived."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes(<{len(self._value)} bytes redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)


def refuse_pickling(obj: object) -> NoReturn:
    """Raise the error every secret-holding object gives when asked to pickle."""
    raise UsageError(
        f"{type(obj).__name__} holds key material and cannot be pickled; to use a keyring in another"
        " process (a Dask worker), pass an busta.keyconfig description instead (LocalKey(path),"
        " EnvKey(variable, namespace, name), KmsKey(arn), Pkcs11Key(...)) and build it there"
    )
