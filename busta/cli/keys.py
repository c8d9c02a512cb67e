"""Keyrings from the key options, through :mod:`busta.keyconfig` (boto3 and python-pkcs11
are imported only when asked for)."""

from __future__ import annotations

import argparse

from ..keyconfig import AesKeyFile, KeyringConfig, KmsDiscovery, KmsKey, LocalKey, Multi, Pkcs11Key, RsaKeyFile
from ..materials import Keyring
from . import aws
from .errors import CliUsageError
from .options import KeySpec

__all__ = ["config_for", "keyring_for"]

_OPTION = {"aes": "--aes-key-file", "rsa-public": "--rsa-public-key", "rsa-private": "--rsa-private-key"}


def _names(spec: KeySpec, option: str) -> tuple[str, str]:
    if not spec.namespace or not spec.name:
        raise CliUsageError(f"{option} {spec.value} needs --namespace and --key-name")
    return spec.namespace, spec.name


def _discovery(args: argparse.Namespace) -> KeyringConfig:
    region = None
    if args.kms_mrk:
        region = aws.region(args)
        if not region:
            raise CliUsageError("--kms-discovery --kms-mrk needs --aws-region")
    return KmsDiscovery(tuple(args.kms_account or ()), args.kms_partition, region, args.aws_endpoint_url)


def _pkcs11(spec: KeySpec, args: argparse.Namespace) -> KeyringConfig:
    if not args.pkcs11_module or not args.pkcs11_token:
        raise CliUsageError("--pkcs11-key needs --pkcs11-module and --pkcs11-token")
    namespace, name = _names(spec, "--pkcs11-key")
    return Pkcs11Key(args.pkcs11_module, args.pkcs11_token, spec.value, namespace, name, spec.padding or "oaep-sha256")


def _one(spec: KeySpec, args: argparse.Namespace) -> KeyringConfig:
    if spec.kind == "key-file":
        return LocalKey(spec.value)
    if spec.kind == "kms":
        return KmsKey(spec.value, mrk=args.kms_mrk, endpoint_url=args.aws_endpoint_url)
    if spec.kind == "pkcs11":
        return _pkcs11(spec, args)
    namespace, name = _names(spec, _OPTION[spec.kind])
    if spec.kind == "aes":
        return AesKeyFile(spec.value, namespace, name)
    return RsaKeyFile(spec.value, namespace, name, spec.padding or "oaep-sha256")


def config_for(args: argparse.Namespace, *, encrypting: bool) -> KeyringConfig:
    """The keyring the options describe, as configuration: one key, or several (the first generates)."""
    specs: list[KeySpec] = args.keys
    if args.kms_discovery and encrypting:
        raise CliUsageError("--kms-discovery only decrypts; name a key with --kms-key to encrypt")
    configs = [_one(spec, args) for spec in specs]
    if args.kms_discovery:
        configs.append(_discovery(args))
    if not configs:
        return LocalKey()
    return configs[0] if len(configs) == 1 else Multi(tuple(configs))


def keyring_for(args: argparse.Namespace, *, encrypting: bool) -> Keyring:
    """The keyring the options describe, built now."""
    return config_for(args, encrypting=encrypting).build()
