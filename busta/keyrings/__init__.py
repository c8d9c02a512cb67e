"""Keyrings: the objects that wrap and unwrap data keys.

The AWS KMS keyrings need ``pip install "busta[aws]"`` (boto3) and the
PKCS#11 keyring ``pip install "busta[hsm]"`` (python-pkcs11); they and the
RSA keyring load on first use, so ``import busta`` imports none of them.
"""

from typing import TYPE_CHECKING, Any

from .multi import MultiKeyring
from .raw_aes import RawAesKeyring

if TYPE_CHECKING:
    from .aws_kms import (
        AwsKmsDiscoveryKeyring,
        AwsKmsKeyring,
        AwsKmsMrkDiscoveryKeyring,
        AwsKmsMrkKeyring,
        ClientCache,
        DiscoveryFilter,
    )
    from .pkcs11 import Pkcs11Keyring
    from .raw_rsa import RawRsaKeyring, RsaPadding

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "ClientCache",
    "DiscoveryFilter",
    "MultiKeyring",
    "Pkcs11Keyring",
    "RawAesKeyring",
    "RawRsaKeyring",
    "RsaPadding",
]

_LAZY = {
    "RawRsaKeyring": "raw_rsa",
    "RsaPadding": "raw_rsa",
    "AwsKmsKeyring": "aws_kms",
    "AwsKmsMrkKeyring": "aws_kms",
    "AwsKmsDiscoveryKeyring": "aws_kms",
    "AwsKmsMrkDiscoveryKeyring": "aws_kms",
    "ClientCache": "aws_kms",
    "DiscoveryFilter": "aws_kms",
    "Pkcs11Keyring": "pkcs11",
}


_EXTRAS = {"aws_kms": "aws", "pkcs11": "hsm", "raw_rsa": ""}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    try:
        loaded = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:  # boto3 or python-pkcs11 missing
        extra = _EXTRAS[module]
        raise ImportError(f"busta.keyrings.{name} needs {exc.name}: pip install 'busta[{extra}]'") from exc
    return getattr(loaded, name)
