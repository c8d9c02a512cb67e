"""The argument parser. Key options keep their command-line order (the first one generates the data key)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..limits import MAX_HEADER_BYTES

__all__ = ["KeySpec", "build_parser"]

#: Key kinds that need --namespace and --key-name (and, for RSA, take --rsa-padding).
NAMED_KINDS = frozenset({"aes", "rsa-public", "rsa-private", "pkcs11"})
RSA_PADDINGS = ("pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512")


@dataclass
class KeySpec:
    """One key option as given: its kind, its value, and the names that follow it."""

    kind: str  # key-file | aes | rsa-public | rsa-private | kms | pkcs11
    value: str
    namespace: str | None = None
    name: str | None = None
    padding: str | None = None


class _KeyAction(argparse.Action):
    """Append a :class:`KeySpec` to ``keys``, taking any --namespace/--key-name given before it."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        specs: list[KeySpec] = list(getattr(ns, "keys", None) or [])
        spec = KeySpec(str(self.const), str(value))
        pending: dict[str, str] = getattr(ns, "_pending_names", None) or {}
        if spec.kind in NAMED_KINDS:
            for field, text in pending.items():
                setattr(spec, field, text)
            ns._pending_names = {}
        specs.append(spec)
        ns.keys = specs


class _NameAction(argparse.Action):
    """Attach --namespace/--key-name/--rsa-padding to the latest key option lacking it (or to the next one)."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        field = str(self.const)
        for spec in reversed(getattr(ns, "keys", None) or []):
            if spec.kind in NAMED_KINDS and getattr(spec, field) is None:
                if field == "padding" and not spec.kind.startswith("rsa"):
                    continue
                setattr(spec, field, str(value))
                return
        pending: dict[str, str] = dict(getattr(ns, "_pending_names", None) or {})
        if field in pending:
            parser.error(f"{option} given twice before a key option")
        pending[field] = str(value)
        ns._pending_names = pending


def _context_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    return key, value


def _key_options(parser: argparse.ArgumentParser) -> None:
    keys = parser.add_argument_group("keys (repeatable; default: the key made by `busta keygen`)")
    add = keys.add_argument
    add("--key-file", action=_KeyAction, const="key-file", metavar="PATH", help="a key record made by keygen")
    add("--aes-key-file", action=_KeyAction, const="aes", metavar="PATH", help="32 raw key bytes")
    add("--rsa-public-key", action=_KeyAction, const="rsa-public", metavar="PEM", help="RSA public key (encrypt)")
    add("--rsa-private-key", action=_KeyAction, const="rsa-private", metavar="PEM", help="RSA private key")
    add("--namespace", action=_NameAction, const="namespace", help="namespace (provider id) of the key option")
    add("--key-name", action=_NameAction, const="name", help="key name of the key option")
    add("--rsa-padding", action=_NameAction, const="padding", choices=RSA_PADDINGS, help="default oaep-sha256")
    add("--kms-key", action=_KeyAction, const="kms", metavar="ARN", help="an AWS KMS key ARN")
    add("--kms-mrk", action="store_true", help="use the multi-Region-key-aware KMS keyrings")
    add("--kms-discovery", action="store_true", help="decrypt: try the KMS key named in each data key")
    add("--kms-account", action="append", default=[], metavar="ID", help="discovery: trusted account (repeatable)")
    add("--kms-partition", default="aws", help="discovery: partition (default aws)")
    add("--pkcs11-module", metavar="PATH", help="PKCS#11 library (PIN from BUSTA_PKCS11_PIN)")
    add("--pkcs11-token", metavar="LABEL", help="PKCS#11 token label")
    add("--pkcs11-key", action=_KeyAction, const="pkcs11", metavar="LABEL", help="PKCS#11 key label")
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--aws-endpoint-url", metavar="URL", help="endpoint for KMS and S3 (e.g. a local test server)")
    aws.add_argument("--aws-region", metavar="REGION", help="region for S3 (and KMS MRK discovery)")


def _transfer_command(sub: Any, name: str, help_text: str) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, directory (-r), glob, '-' or s3://bucket/key")
    parser.add_argument("-o", "--output", required=True, help="file, directory, '-' or s3://bucket/key (or prefix/)")
    context_help = "encryption context pair (repeatable)" if name == "encrypt" else "expected context pair"
    parser.add_argument(
        "-c", "--context", action="append", type=_context_pair, default=[], metavar="K=V", help=context_help
    )
    parser.add_argument("-r", "--recursive", action="store_true", help="encrypt/decrypt directory trees")
    parser.add_argument("--suffix", default=".enc", help="suffix of encrypted files (default .enc)")
    parser.add_argument("-f", "--force", action="store_true", help="replace outputs; allow output to a terminal")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    parser.add_argument("--metadata-output", metavar="FILE", help="append one JSON line per file to FILE")
    if name == "decrypt":
        parser.add_argument(
            "--max-header-bytes",
            type=_positive_int,
            default=MAX_HEADER_BYTES,
            metavar="BYTES",
            help=f"largest message header to read (default {MAX_HEADER_BYTES}, 1 MiB)",
        )
    _key_options(parser)
    parser.set_defaults(keys=[], _pending_names={})


def _positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of bytes, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of bytes, not {text!r}")
    return value


def _bulk_command(sub: Any) -> None:
    text = "encrypt, decrypt or rewrap every object under a prefix or directory, on Dask"
    parser: argparse.ArgumentParser = sub.add_parser("bulk", help=text, description=text, allow_abbrev=False)
    parser.add_argument("operation", choices=["encrypt", "decrypt", "rewrap"])
    parser.add_argument("source", metavar="SRC", help="s3://bucket/prefix or a directory")
    parser.add_argument("dest", metavar="DST", help="s3://bucket/prefix or a directory (apart from SRC)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (default: a local cluster)")
    parser.add_argument("--workers", type=int, metavar="N", help="local cluster: worker processes (default: cores)")
    context_help = "encrypt: context pair to store; decrypt/rewrap: pair required (repeatable)"
    parser.add_argument(
        "-c", "--context", action="append", type=_context_pair, default=[], metavar="K=V", help=context_help
    )
    parser.add_argument("--algorithm", type=lambda text: int(text, 0), metavar="ID", help="suite id, e.g. 0x0478")
    parser.add_argument("--frame-length", type=int, metavar="BYTES", help="encrypt: frame length")
    parser.add_argument("--suffix", default=".enc", help="added on encrypt, removed on decrypt (default .enc)")
    parser.add_argument("--overwrite", action="store_true", help="replace destinations no bulk job wrote")
    parser.add_argument("--report", metavar="FILE", help="write every object's outcome to FILE as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _key_options(parser)
    new = parser.add_argument_group("rewrap: the new keys (repeatable; each wraps the data key)")
    new.add_argument("--new-key-file", action="append", default=[], metavar="PATH", help="a key record")
    new.add_argument("--new-kms-key", action="append", default=[], metavar="ARN", help="an AWS KMS key")
    parser.set_defaults(keys=[], _pending_names={})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="busta",
        description="Encrypt and decrypt files in the AWS Encryption SDK message format.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keygen = sub.add_parser("keygen", help="create the local default key", allow_abbrev=False)
    keygen.add_argument("--force", "-f", action="store_true", help="replace an existing key (the old one is lost)")
    keygen.add_argument("--output", "-o", metavar="PATH", help="write the key record here instead")
    hsm = keygen.add_argument_group("PKCS#11 (generate the key on an HSM token instead of a key file)")
    hsm.add_argument("--pkcs11-module", metavar="PATH", help="PKCS#11 library (PIN from BUSTA_PKCS11_PIN)")
    hsm.add_argument("--pkcs11-token", metavar="LABEL", help="PKCS#11 token label")
    hsm.add_argument("--pkcs11-key", metavar="LABEL", help="label of the new AES-256 key (refused if taken)")
    _transfer_command(sub, "encrypt", "encrypt files into ESDK messages")
    _transfer_command(sub, "decrypt", "decrypt ESDK messages")
    _bulk_command(sub)
    inspect = sub.add_parser("inspect", help="show a message header (no key needed)", allow_abbrev=False)
    inspect.add_argument("file", metavar="FILE", help="a message file or '-'")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_pending_names", None):
        flags = {"namespace": "--namespace", "name": "--key-name", "padding": "--rsa-padding"}
        given = ", ".join(flags[k] for k in args._pending_names)
        parser.error(f"{given} given without a key option to apply to")
    return args
