"""Keyrings: the objects that wrap and unwrap data keys.

The AWS KMS keyrings need ``pip install "envelope[aws]"`` (boto3); they and the
RSA keyring load on first use, so ``import envelope`` imports neither boto3
nor cryptography's RSA support.
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
    from .raw_rsa import RawRsaKeyring, RsaPadding

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "ClientCache",
    "DiscoveryFilter",
    "MultiKeyring",
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    try:
        loaded = importlib.import_module(f"{__name__}.{module}")
    except ModuleNotFoundError as exc:  # boto3 missing
        raise ImportError(f"envelope.keyrings.{name} needs boto3: pip install 'envelope[aws]'") from exc
    return getattr(loaded, name)
