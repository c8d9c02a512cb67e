"""Keyrings from the key options (boto3 and python-pkcs11 are imported only when asked for)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..keyrings import MultiKeyring, RawAesKeyring
from ..materials import Keyring
from .errors import CliError, CliUsageError
from .keyfile import default_key_path, read_raw_key, read_record
from .options import KeySpec

__all__ = ["keyring_for"]


def _names(spec: KeySpec, option: str) -> tuple[str, str]:
    if not spec.namespace or not spec.name:
        raise CliUsageError(f"{option} {spec.value} needs --namespace and --key-name")
    return spec.namespace, spec.name


def _read_pem(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CliError(f"RSA key file {path} does not exist") from None


def _rsa(spec: KeySpec) -> Keyring:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    from ..keyrings import RawRsaKeyring, RsaPadding  # noqa: PLC0415

    private = spec.kind == "rsa-private"
    namespace, name = _names(spec, "--rsa-private-key" if private else "--rsa-public-key")
    data = _read_pem(spec.value)
    key: Any
    try:
        if private:
            password = os.environ.get("ENVELOPE_RSA_KEY_PASSWORD")
            key = serialization.load_pem_private_key(data, password.encode() if password else None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{spec.value}: not a usable PEM RSA key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        raise CliError(f"{spec.value}: not an RSA key")
    padding = RsaPadding(spec.padding or "oaep-sha256")
    if isinstance(key, rsa.RSAPrivateKey):
        return RawRsaKeyring(namespace, name, private_key=key, padding=padding)
    return RawRsaKeyring(namespace, name, public_key=key, padding=padding)


def _client_supplier(args: argparse.Namespace) -> Any:
    if not args.aws_endpoint_url:
        return None  # the keyrings' default ClientCache
    from ..keyrings import ClientCache  # noqa: PLC0415

    return ClientCache(endpoint_url=args.aws_endpoint_url)


def _kms(spec: KeySpec, args: argparse.Namespace, supplier: Any) -> Keyring:
    from ..keyrings import AwsKmsKeyring, AwsKmsMrkKeyring  # noqa: PLC0415

    kind = AwsKmsMrkKeyring if args.kms_mrk else AwsKmsKeyring
    return kind(spec.value, client_supplier=supplier)


def _discovery(args: argparse.Namespace, supplier: Any) -> Keyring:
    from ..keyrings import AwsKmsDiscoveryKeyring, AwsKmsMrkDiscoveryKeyring, DiscoveryFilter  # noqa: PLC0415

    found = DiscoveryFilter(args.kms_partition, tuple(args.kms_account)) if args.kms_account else None
    if args.kms_mrk:
        region = args.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise CliUsageError("--kms-discovery --kms-mrk needs --aws-region")
        return AwsKmsMrkDiscoveryKeyring(region, client_supplier=supplier, discovery_filter=found)
    return AwsKmsDiscoveryKeyring(client_supplier=supplier, discovery_filter=found)


def _pkcs11(spec: KeySpec, args: argparse.Namespace) -> Keyring:
    if not args.pkcs11_module or not args.pkcs11_token:
        raise CliUsageError("--pkcs11-key needs --pkcs11-module and --pkcs11-token")
    namespace, name = _names(spec, "--pkcs11-key")
    from ..keyrings import Pkcs11Keyring, RsaPadding  # noqa: PLC0415

    return Pkcs11Keyring(
        namespace,
        name,
        module=args.pkcs11_module,
        token_label=args.pkcs11_token,
        key_label=spec.value,
        padding=RsaPadding(spec.padding or "oaep-sha256"),
    )


def _one(spec: KeySpec, args: argparse.Namespace, supplier: Any) -> Keyring:
    if spec.kind == "key-file":
        record = read_record(Path(spec.value))
        return RawAesKeyring(record.namespace, record.name, record.key)
    if spec.kind == "aes":
        namespace, name = _names(spec, "--aes-key-file")
        return RawAesKeyring(namespace, name, read_raw_key(Path(spec.value)))
    if spec.kind in ("rsa-public", "rsa-private"):
        return _rsa(spec)
    if spec.kind == "kms":
        return _kms(spec, args, supplier)
    return _pkcs11(spec, args)


def default_keyring() -> Keyring:
    record = read_record(default_key_path(), missing_hint="; run `envelope keygen` to create it")
    return RawAesKeyring(record.namespace, record.name, record.key)


def keyring_for(args: argparse.Namespace, *, encrypting: bool) -> Keyring:
    """The keyring the options describe: one keyring, or a multi-keyring (first key generates)."""
    specs: list[KeySpec] = args.keys
    if args.kms_discovery and encrypting:
        raise CliUsageError("--kms-discovery only decrypts; name a key with --kms-key to encrypt")
    if not specs and not args.kms_discovery:
        return default_keyring()
    uses_kms = args.kms_discovery or any(s.kind == "kms" for s in specs)
    supplier = _client_supplier(args) if uses_kms else None
    keyrings = [_one(spec, args, supplier) for spec in specs]
    if args.kms_discovery:
        keyrings.append(_discovery(args, supplier))
    if len(keyrings) == 1:
        return keyrings[0]
    if encrypting:
        return MultiKeyring(generator=keyrings[0], children=keyrings[1:])
    return MultiKeyring(children=keyrings)
