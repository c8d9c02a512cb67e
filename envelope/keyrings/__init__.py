"""Keyrings: the objects that wrap and unwrap data keys."""

from typing import TYPE_CHECKING, Any

from .multi import MultiKeyring
from .raw_aes import RawAesKeyring

if TYPE_CHECKING:
    from .raw_rsa import RawRsaKeyring, RsaPadding

__all__ = ["MultiKeyring", "RawAesKeyring", "RawRsaKeyring", "RsaPadding"]


def __getattr__(name: str) -> Any:
    # The RSA keyring loads on first use: cryptography's RSA support slows `import envelope`.
    if name in ("RawRsaKeyring", "RsaPadding"):
        from . import raw_rsa  # noqa: PLC0415

        return getattr(raw_rsa, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
