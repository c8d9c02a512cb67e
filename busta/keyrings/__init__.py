"""Keyrings: the objects that wrap and unwrap data keys.

The AWS KMS keyrings need ``pip install "busta[aws]"`` (boto3) and the
PKCS#11 keyring ``pip install "busta[hsm]"`` (python-pkcs11); they and the
RSA keyring load on first use, so ``import busta`` imports none of them.

Each family is a keyring kind, registered once (:mod:`.registry`; the built-in ones in
:mod:`.kinds`) with its module, its pip extra, its :mod:`busta.keyconfig` descriptions and its
command-line options. ``__all__`` names the built-in keyrings; the names below the
``TYPE_CHECKING`` guard are there for type checkers only, and a test holds them to the registry.
"""

from typing import TYPE_CHECKING, Any

from . import registry  # the built-in kinds register themselves when it is first read (.kinds)
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
    from .hierarchy import BranchKeyCache, HierarchicalKeyring, StaticBranchKeyStore
    from .pkcs11 import Pkcs11Keyring
    from .raw_ecdh import EcdhCurve, EcdhScheme, RawEcdhKeyring
    from .raw_rsa import RawRsaKeyring, RsaPadding

__all__ = [
    "AwsKmsDiscoveryKeyring",
    "AwsKmsKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "AwsKmsMrkKeyring",
    "BranchKeyCache",
    "ClientCache",
    "DiscoveryFilter",
    "EcdhCurve",
    "EcdhScheme",
    "HierarchicalKeyring",
    "MultiKeyring",
    "Pkcs11Keyring",
    "RawAesKeyring",
    "RawEcdhKeyring",
    "RawRsaKeyring",
    "RsaPadding",
    "StaticBranchKeyStore",
]


def __getattr__(name: str) -> Any:
    """A keyring class of a registered kind (:mod:`.registry`), its module imported now."""
    kind = registry.exporting(name)
    if kind is None or kind.module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    try:
        loaded = importlib.import_module(kind.module)
    except ModuleNotFoundError as exc:  # boto3 or python-pkcs11 missing
        if not kind.extra or exc.name == kind.module:
            raise
        raise ImportError(f"busta.keyrings.{name} needs {exc.name}: pip install 'busta[{kind.extra}]'") from exc
    return getattr(loaded, name)
