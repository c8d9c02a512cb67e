"""Keyrings from the key options, through the registered keyring kinds (:mod:`busta.keyrings.registry`)
and their :mod:`busta.keyconfig` descriptions (boto3 and python-pkcs11 are imported only when asked for)."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..keyconfig import KeyringConfig, LocalKey, Multi
from ..keyrings.registry import KeyArgs
from ..materials import Keyring
from .ecdh import check_ecdh_options
from .errors import CliUsageError
from .kms import check_kms_options
from .options import KeySpec

__all__ = ["config_for", "keyring_for"]


def _one(spec: KeySpec, args: argparse.Namespace, *, encrypting: bool) -> KeyringConfig:
    given = KeyArgs(spec.option.flag, spec.value, vars(args), encrypting, spec.namespace, spec.name, spec.padding)
    try:
        return spec.option.build(given)
    except UsageError as exc:  # options that parse but do not make sense together: exit status 2
        raise CliUsageError(str(exc)) from None


def config_for(args: argparse.Namespace, *, encrypting: bool) -> KeyringConfig:
    """The keyring the options describe, as configuration: one key, or several (the first generates)."""
    check_kms_options(args)
    check_ecdh_options(args)
    specs: list[KeySpec] = [*args.keys, *getattr(args, "flag_keys", ())]
    configs = [_one(spec, args, encrypting=encrypting) for spec in specs]
    if not configs:
        return LocalKey()
    return configs[0] if len(configs) == 1 else Multi(tuple(configs))


def keyring_for(args: argparse.Namespace, *, encrypting: bool) -> Keyring:
    """The keyring the options describe, built now."""
    return config_for(args, encrypting=encrypting).build()
