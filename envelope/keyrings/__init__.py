"""Keyrings: the objects that wrap and unwrap data keys."""

from .multi import MultiKeyring
from .raw_aes import RawAesKeyring
from .raw_rsa import RawRsaKeyring, RsaPadding

__all__ = ["MultiKeyring", "RawAesKeyring", "RawRsaKeyring", "RsaPadding"]
