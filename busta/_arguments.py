"""Checks and conversions of the per-call arguments of :mod:`busta.api`."""

from __future__ import annotations

from .errors import UsageError
from .materials import (
    CryptoMaterialsManager,
    DefaultCryptoMaterialsManager,
    Keyring,
    is_keyring,
    is_materials_manager,
)
from .suites import AlgorithmSuite

__all__ = ["Bytes", "as_bytes", "materials_manager_for", "suite_for", "within"]

Bytes = bytes | bytearray | memoryview


def within(value: object, low: int, high: int) -> bool:
    """Whether ``value`` is an int (not a bool) from ``low`` to ``high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def materials_manager_for(
    keyring: Keyring | None, materials_manager: CryptoMaterialsManager | None
) -> CryptoMaterialsManager:
    """The materials manager a call names, or the default one around the keyring it names."""
    if (keyring is None) == (materials_manager is None):
        raise UsageError("pass exactly one of keyring= or materials_manager=")
    if materials_manager is not None:
        if not is_materials_manager(materials_manager):
            raise UsageError(f"{materials_manager!r} is not a crypto materials manager")
        return materials_manager
    if not is_keyring(keyring):
        raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")
    return DefaultCryptoMaterialsManager._around(keyring)  # checked just above: not twice


def suite_for(algorithm: AlgorithmSuite | int | None) -> AlgorithmSuite | None:
    """The suite a call names (a member or a wire id), or None for the policy's default."""
    if algorithm is None or isinstance(algorithm, AlgorithmSuite):
        return algorithm
    if isinstance(algorithm, int) and not isinstance(algorithm, bool):
        return AlgorithmSuite.from_id(algorithm)
    raise UsageError("algorithm must be an AlgorithmSuite member or a suite id")


def as_bytes(data: object, what: str) -> Bytes:
    """``data`` if it is bytes-like, else :class:`UsageError` naming ``what``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UsageError(f"{what} must be bytes-like, not {type(data).__name__}")
    return data
