"""The built-in keyring kinds, each registered once (:mod:`.registry`): its keyring module and
pip extra, its secret-free descriptions, and its command-line options.

The descriptions (exported by :mod:`busta.keyconfig`) are frozen and picklable: where the key
lives (a key-file path, an environment variable's name, a KMS key ARN, a PKCS#11 module, token
and label), never the key. ``build()`` reads any secret in the process that calls it: the key
file, the variable named by ``EnvKey.variable``, ``BUSTA_PKCS11_PIN`` (or ``pin_env``),
``BUSTA_RSA_KEY_PASSWORD``, and AWS credentials from the usual boto3 chain.

Everything a description needs to build its keyring (pathlib included) is imported by ``build()``:
this module is imported by ``import busta``, whose start-up time it would add to.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections.abc import Mapping
from typing import Any

from .._frozen import record
from .._legacy import environ
from .._secrets import SecretBytes
from ..errors import KeyFileError, UsageError
from ..materials import Keyring
from ._arn import arn_or_reason, is_account_id, is_partition, parse_arn
from ._aws_profiles import aws_region, profile_session, resolved_region
from .raw_aes import RawAesKeyring
from .registry import CliOption, KeyArgs, KeyOption, KeyringConfig, KeyringKind, register

__all__ = [
    "AesKeyFile",
    "EnvKey",
    "KmsDiscovery",
    "KmsKey",
    "LocalKey",
    "Pkcs11Key",
    "RsaKeyFile",
    "aws_region",
    "kms_key",
    "profile_session",
    "resolved_region",
]

_AES_KEY_BYTES = 32
_DEFAULT_PADDING = "oaep-sha256"


# -- raw AES: key records, raw key files, environment variables -------------------------------------


@record
class LocalKey:
    """A key record made by ``busta keygen`` (JSON, mode 0600); ``path=None``: the default key."""

    path: str | None = None

    def build(self) -> Keyring:
        from pathlib import Path  # noqa: PLC0415

        from ..keyfile import DEFAULT_KEY_NAME, config_file, read_record  # noqa: PLC0415

        path = Path(self.path) if self.path else config_file(DEFAULT_KEY_NAME)
        record = read_record(path, missing_hint="" if self.path else "; run `busta keygen` to create it")
        return RawAesKeyring(record.namespace, record.name, record.key)


@record
class AesKeyFile:
    """A file of exactly 32 raw AES key bytes, wrapped under ``namespace``/``name``."""

    path: str
    namespace: str
    name: str

    def build(self) -> Keyring:
        from pathlib import Path  # noqa: PLC0415

        from ..keyfile import read_raw_key  # noqa: PLC0415

        return RawAesKeyring(self.namespace, self.name, read_raw_key(Path(self.path)))


@record
class EnvKey:
    """A base64 AES-256 key in the environment variable ``variable`` of the process that builds it."""

    variable: str
    namespace: str
    name: str

    def build(self) -> Keyring:
        encoded = os.environ.get(self.variable)
        if not encoded:
            raise UsageError(f"environment variable {self.variable} (a base64 AES-256 key) is not set")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"environment variable {self.variable} is not valid base64") from None
        if len(key) != _AES_KEY_BYTES:
            raise UsageError(f"environment variable {self.variable} holds {len(key)} bytes, not {_AES_KEY_BYTES}")
        return RawAesKeyring(self.namespace, self.name, SecretBytes(key))


register(
    KeyringKind(
        name="raw-aes",
        descriptions=(LocalKey, AesKeyFile, EnvKey),
        key_options=(
            KeyOption("--key-file", "a key record made by keygen", lambda given: LocalKey(given.value), metavar="PATH"),
            KeyOption(
                "--aes-key-file",
                "32 raw key bytes",
                lambda given: AesKeyFile(given.value, *given.names()),
                metavar="PATH",
                names=True,
            ),
        ),
    )
)


# -- raw RSA: PEM key files -------------------------------------------------------------------------


@record
class RsaKeyFile:
    """A PEM RSA key file: a public key encrypts only; a private key (password from
    ``BUSTA_RSA_KEY_PASSWORD`` if encrypted) also decrypts."""

    path: str
    namespace: str
    name: str
    padding: str = "oaep-sha256"

    def build(self) -> Keyring:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        from . import RawRsaKeyring, RsaPadding  # noqa: PLC0415

        data = _read_rsa_key_file(self.path)
        password = environ("BUSTA_RSA_KEY_PASSWORD")
        key: Any
        try:
            if b"PRIVATE KEY" in data:
                key = serialization.load_pem_private_key(data, password.encode() if password else None)
            else:
                key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"{self.path}: not a usable PEM RSA key ({exc})") from None
        padding = RsaPadding(self.padding)
        if isinstance(key, rsa.RSAPrivateKey):
            return RawRsaKeyring(self.namespace, self.name, private_key=key, padding=padding)
        if isinstance(key, rsa.RSAPublicKey):
            return RawRsaKeyring(self.namespace, self.name, public_key=key, padding=padding)
        raise KeyFileError(f"{self.path}: not an RSA key")


def _read_rsa_key_file(path: str) -> bytes:
    """A PEM file, checked as every key file is (:mod:`busta._trust`): a private key
    must be private to its owner, a public one writable by its owner only."""
    from pathlib import Path  # noqa: PLC0415

    from .._trust import read_key_file  # noqa: PLC0415

    try:
        return read_key_file(Path(path), what="RSA key file", secret=lambda data: b"PRIVATE KEY" in data)
    except FileNotFoundError:
        raise KeyFileError(f"RSA key file {path} does not exist") from None


def _rsa_file(given: KeyArgs) -> KeyringConfig:
    return RsaKeyFile(given.value, *given.names(), given.padding or _DEFAULT_PADDING)


register(
    KeyringKind(
        name="raw-rsa",
        module="busta.keyrings.raw_rsa",
        exports=("RawRsaKeyring", "RsaPadding"),
        descriptions=(RsaKeyFile,),
        key_options=(
            KeyOption("--rsa-public-key", "RSA public key (encrypt)", _rsa_file, "PEM", names=True, padding=True),
            KeyOption("--rsa-private-key", "RSA private key", _rsa_file, "PEM", names=True, padding=True),
        ),
    )
)


# -- AWS KMS ----------------------------------------------------------------------------------------


@record
class KmsKey:
    """An AWS KMS key: a key ARN, an alias ARN, a key id or an alias name (``alias/name``); ``mrk=True``
    for the multi-Region-key-aware keyring. A key id or alias name is called in ``region`` (default:
    the region of ``profile``, or botocore's). Only a key ARN decrypts. ``profile`` names the AWS
    profile whose credentials the KMS clients use; ``grant_tokens`` go with every KMS call."""

    key_id: str
    mrk: bool = False
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    grant_tokens: tuple[str, ...] = ()

    def build(self) -> Keyring:
        from . import AwsKmsKeyring, AwsKmsMrkKeyring  # noqa: PLC0415

        kind = AwsKmsMrkKeyring if self.mrk else AwsKmsKeyring
        region = self.region
        if region is None and not self.key_id.startswith("arn:"):
            region = resolved_region(None, self.profile)
        supplier = _kms_clients(self.endpoint_url, self.profile)
        return kind(self.key_id, client_supplier=supplier, grant_tokens=self.grant_tokens, region=region)


@record
class KmsDiscovery:
    """Decrypt with any KMS key the credentials may use, optionally only these ``accounts``;
    ``mrk_region`` makes it multi-Region-key aware in that region."""

    accounts: tuple[str, ...] = ()
    partition: str = "aws"
    mrk_region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    grant_tokens: tuple[str, ...] = ()

    def build(self) -> Keyring:
        from . import AwsKmsDiscoveryKeyring, AwsKmsMrkDiscoveryKeyring, DiscoveryFilter  # noqa: PLC0415

        found = DiscoveryFilter(self.partition, self.accounts) if self.accounts else None
        supplier = _kms_clients(self.endpoint_url, self.profile)
        tokens = self.grant_tokens
        if self.mrk_region:
            return AwsKmsMrkDiscoveryKeyring(
                self.mrk_region, client_supplier=supplier, discovery_filter=found, grant_tokens=tokens
            )
        return AwsKmsDiscoveryKeyring(client_supplier=supplier, discovery_filter=found, grant_tokens=tokens)


@functools.cache
def _kms_clients(endpoint_url: str | None, profile: str | None = None) -> Any:
    from . import ClientCache  # noqa: PLC0415

    return ClientCache(endpoint_url=endpoint_url, session=profile_session(profile) if profile else None)


def kms_key(value: str, options: Mapping[str, Any], *, encrypting: bool, flag: str = "--kms-key") -> KmsKey:
    """The :class:`KmsKey` a command line names (``options``: the parsed options): to encrypt, any
    identifier (a key id or alias name is called in the region of ``--aws-region``, ``AWS_REGION``,
    ``AWS_DEFAULT_REGION`` or the profile); to decrypt, only a key ARN, which alone can match a data key."""
    profile, tokens = options.get("aws_profile"), tuple(options.get("grant_token") or ())
    arn = parse_arn(value)
    region = None
    if not encrypting and (arn is None or arn.resource_type != "key"):
        raise UsageError(f"{flag} {value:.300}: decrypt needs a key ARN (or use --kms-discovery)")
    if arn is None:
        if value.startswith("arn:"):
            raise UsageError(f"{flag} {value:.300}: {arn_or_reason(value)}")
        region = resolved_region(options.get("aws_region"), profile)
        if region is None:
            raise UsageError(f"{flag} {value:.300}: a key id or alias needs a region (--aws-region, or a profile's)")
    elif profile is not None:
        profile_session(profile)  # a profile that does not exist fails now, naming it
    mrk, endpoint = bool(options.get("kms_mrk")), options.get("aws_endpoint_url")
    return KmsKey(value, mrk=mrk, endpoint_url=endpoint, region=region, profile=profile, grant_tokens=tokens)


def _kms_key(given: KeyArgs) -> KeyringConfig:
    return kms_key(given.value, given.options, encrypting=given.encrypting)


def _kms_discovery(given: KeyArgs) -> KeyringConfig:
    if given.encrypting:
        raise UsageError("--kms-discovery only decrypts; name a key with --kms-key to encrypt")
    options, region = given.options, None
    profile = options.get("aws_profile")
    if options["kms_mrk"]:
        region = resolved_region(options.get("aws_region"), profile)
        if not region:
            raise UsageError("--kms-discovery --kms-mrk needs --aws-region (or AWS_REGION, or a profile's region)")
    elif profile is not None:
        profile_session(profile)
    accounts = tuple(options["kms_account"] or ())
    partition = options.get("kms_partition")
    if partition is not None and not accounts:
        raise UsageError("--kms-partition needs --kms-account: a discovery filter names both")
    for account in accounts:
        if not is_account_id(account):
            raise UsageError(f"--kms-account {account}: an AWS account id is 12 digits")
    if partition is not None and not is_partition(partition):
        raise UsageError(f"--kms-partition {partition}: not a partition name (such as aws, aws-cn, aws-us-gov)")
    tokens = tuple(options.get("grant_token") or ())
    return KmsDiscovery(accounts, partition or "aws", region, options.get("aws_endpoint_url"), profile, tokens)


register(
    KeyringKind(
        name="aws-kms",
        module="busta.keyrings.aws_kms",
        exports=(
            "AwsKmsDiscoveryKeyring",
            "AwsKmsKeyring",
            "AwsKmsMrkDiscoveryKeyring",
            "AwsKmsMrkKeyring",
            "ClientCache",
            "DiscoveryFilter",
        ),
        extra="aws",
        descriptions=(KmsKey, KmsDiscovery),
        key_options=(
            KeyOption("--kms-key", "an AWS KMS key: key ARN, alias ARN, key id or alias/name", _kms_key, metavar="KEY"),
            KeyOption("--kms-discovery", "decrypt: try the KMS key named in each data key", _kms_discovery, None),
        ),
        options=(
            CliOption("--kms-mrk", "use the multi-Region-key-aware KMS keyrings", action="store_true"),
            CliOption("--kms-account", "discovery: trusted account (repeatable)", "ID", "append", []),
            CliOption("--kms-partition", "discovery: partition of the --kms-account ids (default aws)", "NAME"),
            CliOption("--grant-token", "a KMS grant token for every KMS call (repeatable)", "TOKEN", "append", []),
        ),
    )
)


# -- PKCS#11 ----------------------------------------------------------------------------------------


@record
class Pkcs11Key:
    """A key on a PKCS#11 token; the PIN comes from the environment variable ``pin_env``."""

    module: str
    token_label: str
    key_label: str
    namespace: str
    name: str
    padding: str = "oaep-sha256"
    pin_env: str = "BUSTA_PKCS11_PIN"
    allow_pkcs1v15_unwrap: bool = False  # padding "pkcs1" with a private key needs it (docs/hsm.md)

    def build(self) -> Keyring:
        from . import Pkcs11Keyring, RsaPadding  # noqa: PLC0415

        return Pkcs11Keyring(
            self.namespace,
            self.name,
            module=self.module,
            token_label=self.token_label,
            key_label=self.key_label,
            padding=RsaPadding(self.padding),
            pin_env=self.pin_env,
            allow_pkcs1v15_unwrap=self.allow_pkcs1v15_unwrap,
        )


def _pkcs11_key(given: KeyArgs) -> KeyringConfig:
    module, token = given.options.get("pkcs11_module"), given.options.get("pkcs11_token")
    if not module or not token:
        raise UsageError("--pkcs11-key needs --pkcs11-module and --pkcs11-token")
    return Pkcs11Key(module, token, given.value, *given.names(), given.padding or _DEFAULT_PADDING)


register(
    KeyringKind(
        name="pkcs11",
        module="busta.keyrings.pkcs11",
        exports=("Pkcs11Keyring",),
        extra="hsm",
        descriptions=(Pkcs11Key,),
        key_options=(KeyOption("--pkcs11-key", "PKCS#11 key label", _pkcs11_key, metavar="LABEL", names=True),),
        options=(
            CliOption("--pkcs11-module", "PKCS#11 library (PIN from BUSTA_PKCS11_PIN)", "PATH"),
            CliOption("--pkcs11-token", "PKCS#11 token label", "LABEL"),
        ),
    )
)

# The kinds registered in their own modules: raw ECDH and the AWS KMS hierarchical keyring.
from . import kinds_ecdh, kinds_hierarchy  # noqa: E402, F401
