"""The argument parser. Key options keep their command-line order (the first one generates the data key)."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._version import __version__
from ..errors import UsageError
from ..keyrings import registry
from ..keyrings.registry import KeyOption
from ..limits import (
    DEFAULT_FRAME_LENGTH,
    MAX_ARGUMENT_FILE_BYTES,
    MAX_ARGUMENT_FILE_DEPTH,
    MAX_ARGUMENT_FILE_WORDS,
    MAX_CONTEXT_FILE_BYTES,
    MAX_HEADER_BYTES,
)
from ..suites import AlgorithmSuite, CommitmentPolicy
from .branchkey import add_branch_key_command
from .ecdh import add_ec_keygen_options
from .kms import add_caching_options

__all__ = ["KeySpec", "build_parser"]

RSA_PADDINGS = ("pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512")


@dataclass
class KeySpec:
    """One key option as given: the option (as its kind registered it), its value, and the names that follow it."""

    option: KeyOption
    value: str
    namespace: str | None = None
    name: str | None = None
    padding: str | None = None


class _KeyAction(argparse.Action):
    """Append a :class:`KeySpec` to ``keys``, taking any --namespace/--key-name given before it."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        key_option: KeyOption = self.const
        spec = KeySpec(key_option, "" if value is None else str(value))
        pending: dict[str, str] = getattr(ns, "_pending_names", None) or {}
        if key_option.names:
            for field, text in pending.items():
                setattr(spec, field, text)
            ns._pending_names = {}
        ns.keys = [*(getattr(ns, "keys", None) or []), spec]


class _NameAction(argparse.Action):
    """Attach --namespace/--key-name/--rsa-padding to the latest key option lacking it (or to the next one)."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        field = str(self.const)
        for spec in reversed(getattr(ns, "keys", None) or []):
            if spec.option.names and getattr(spec, field) is None:
                if field == "padding" and not spec.option.padding:
                    continue
                setattr(spec, field, str(value))
                return
        pending: dict[str, str] = dict(getattr(ns, "_pending_names", None) or {})
        if field in pending:
            parser.error(f"{option} given twice before a key option")
        pending[field] = str(value)
        ns._pending_names = pending


class _FlagKeyAction(argparse.Action):
    """A key option that is a flag (``--kms-discovery``): its key comes after the ordered ones."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: Any = None) -> None:
        flags: list[KeySpec] = list(getattr(ns, "flag_keys", None) or [])
        if all(spec.option is not self.const for spec in flags):
            flags.append(KeySpec(self.const, ""))
        ns.flag_keys = flags


def _context_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    return key, value


def _key_options(parser: argparse.ArgumentParser) -> None:
    """The key options of every registered keyring kind (:mod:`busta.keyrings.registry`), then the names."""
    keys = parser.add_argument_group("keys (repeatable; default: the key made by `busta keygen`)")
    add = keys.add_argument
    for kind in registry.kinds():
        for key in kind.key_options:
            if key.metavar is None:
                add(key.flag, action=_FlagKeyAction, const=key, dest=_dest(key.flag), help=key.help)
            else:
                add(key.flag, action=_KeyAction, const=key, dest=_dest(key.flag), metavar=key.metavar, help=key.help)
        for option in kind.options:
            extra: dict[str, Any] = {} if option.action == "store_true" else {"metavar": option.metavar}
            add(option.flag, action=option.action, default=option.default, help=option.help, **extra)
    add("--namespace", action=_NameAction, const="namespace", help="namespace (provider id) of the key option")
    add("--key-name", action=_NameAction, const="name", help="key name of the key option")
    add("--rsa-padding", action=_NameAction, const="padding", choices=RSA_PADDINGS, help="default oaep-sha256")
    _aws_options(parser)


def _aws_options(parser: argparse.ArgumentParser) -> None:
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--aws-endpoint-url", metavar="URL", help="endpoint for KMS and S3 (e.g. a local test server)")
    aws.add_argument("--aws-region", metavar="REGION", help="region for S3, KMS key ids and aliases, MRK discovery")
    aws.add_argument("--aws-profile", metavar="NAME", help="named profile (~/.aws/config) for KMS and S3 clients")


def _dest(flag: str) -> str:
    """Where argparse keeps a key option's own value: nowhere that matters (the keys are in ``keys``)."""
    return "_key_" + flag.lstrip("-").replace("-", "_")


def _transfer_command(sub: Any, name: str, help_text: str) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="file, directory (-r), glob, '-' or s3://bucket/key (default: -)"
    )
    parser.add_argument(
        "-o", "--output", help="file, directory, '-' or s3://bucket/key (or prefix/); default '-' for one input"
    )
    _context_options(parser, "encryption context pair (repeatable)" if name == "encrypt" else "expected context pair")
    if name == "encrypt":
        parser.add_argument("-a", "--armor", "--encode", action="store_true", help="write the message as base64 text")
    else:
        parser.add_argument("-a", "--armor", "--decode", action="store_true", help="the input must be base64 text")
    parser.add_argument("-r", "--recursive", action="store_true", help="encrypt/decrypt directory trees")
    parser.add_argument("--suffix", default=".enc", help="suffix of encrypted files (default .enc)")
    parser.add_argument("-f", "--force", action="store_true", help="replace outputs; allow output to a terminal")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    parser.add_argument(
        "--metadata-output", metavar="FILE", help="append one JSON line per file to FILE ('-': standard output)"
    )
    _message_options(parser, encrypting=name == "encrypt")
    _key_options(parser)
    add_caching_options(parser)
    parser.set_defaults(keys=[], flag_keys=[], _pending_names={})


def _context_options(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "-c", "--context", action="append", type=_context_pair, default=[], metavar="K=V", help=help_text
    )
    parser.add_argument(
        "--context-file", metavar="FILE", help="encryption context pairs from a JSON object of strings (with -c)"
    )


def _message_options(parser: argparse.ArgumentParser, *, encrypting: bool) -> None:
    """What ``busta.Client`` and the message take: the policy and limits, and on encrypt the suite and frames."""
    group = parser.add_argument_group("message")
    policies = [policy.value for policy in CommitmentPolicy]
    default = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT.value
    group.add_argument(
        "--commitment-policy",
        choices=policies,
        default=default,
        help=f"default {default}; require-encrypt-allow-decrypt also reads legacy (v1) messages",
    )
    group.add_argument(
        "--max-encrypted-data-keys",
        type=_positive_count,
        metavar="N",
        help="refuse a message with more wrapped data keys (default: no limit)",
    )
    group.add_argument(
        "--max-header-bytes",
        type=_positive_int,
        default=MAX_HEADER_BYTES,
        metavar="BYTES",
        help=f"largest message header to {'write' if encrypting else 'read'} (default {MAX_HEADER_BYTES}, 1 MiB)",
    )
    if encrypting:
        group.add_argument(
            "--algorithm", type=suite_id, metavar="ID", help="suite id (default 0x0578; 0x0478: unsigned)"
        )
        group.add_argument(
            "--frame-length", type=_positive_int, metavar="BYTES", help=f"frame length (default {DEFAULT_FRAME_LENGTH})"
        )
        group.add_argument(  # Z: docs/compression.md
            "--compress", action="store_true", help="compress with zstd first (its length tells; docs/compression.md)"
        )
    else:
        group.add_argument(
            "--max-decompressed-bytes",
            type=_positive_int,
            metavar="BYTES",
            help="refuse a compressed message that decompresses to more (default 64 GiB)",
        )
        group.add_argument("--decrypt-unsigned", action="store_true", help="refuse signed messages (before any key)")


def suite_id(text: str) -> int:
    """An algorithm suite's id, as ``0x0478`` or ``1144``; an unknown id is a usage error."""
    try:
        return AlgorithmSuite.from_id(int(text, 0)).id
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a suite id such as 0x0478, not {text!r}") from None
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str, what: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of {what}, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of {what}, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _whole(text, "bytes")


def _positive_count(text: str) -> int:
    return _whole(text, "data keys")


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
    parser.add_argument("--algorithm", type=suite_id, metavar="ID", help="suite id, e.g. 0x0478")
    parser.add_argument("--frame-length", type=int, metavar="BYTES", help="encrypt: frame length")
    parser.add_argument("--suffix", default=".enc", help="added on encrypt, removed on decrypt (default .enc)")
    parser.add_argument("--overwrite", action="store_true", help="replace destinations no bulk job wrote")
    parser.add_argument("--report", metavar="FILE", help="write every object's outcome to FILE as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _key_options(parser)
    _new_key_options(parser)
    parser.set_defaults(keys=[], flag_keys=[], _pending_names={})


def _new_key_options(parser: argparse.ArgumentParser) -> None:
    new = parser.add_argument_group("rewrap: the new keys (repeatable; each wraps the data key)")
    new.add_argument("--new-key-file", action="append", default=[], metavar="PATH", help="a key record")
    new.add_argument("--new-kms-key", action="append", default=[], metavar="KEY", help="an AWS KMS key (any id)")


def _verify_command(sub: Any) -> None:
    text = "decrypt messages to nothing: check that each one authenticates, writing no plaintext"
    parser: argparse.ArgumentParser = sub.add_parser("verify", help=text, description=text, allow_abbrev=False)
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="a message file, '-' or s3://bucket/key (default: -)"
    )
    _context_options(parser, "expected context pair (repeatable)")
    parser.add_argument("-a", "--armor", "--decode", action="store_true", help="the inputs must be base64 text")
    parser.add_argument("--json", action="store_true", help="one JSON object per input instead of a line of text")
    _message_options(parser, encrypting=False)
    _key_options(parser)
    parser.set_defaults(keys=[], flag_keys=[], _pending_names={})


def _rewrap_command(sub: Any) -> None:
    text = "give one message new wrapped data keys, rewriting only its header (unsigned suites)"
    parser: argparse.ArgumentParser = sub.add_parser("rewrap", help=text, description=text, allow_abbrev=False)
    parser.add_argument("input", metavar="INPUT", help="a message file, '-' or s3://bucket/key")
    parser.add_argument("-o", "--output", help="file, '-' or s3://bucket/key (default: INPUT itself; '-' for stdin)")
    _context_options(parser, "pair the message requires or must hold (repeatable)")
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    _message_options(parser, encrypting=False)
    _key_options(parser)
    _new_key_options(parser)
    parser.set_defaults(keys=[], flag_keys=[], _pending_names={}, operation="rewrap")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="busta",
        description="Encrypt and decrypt files in the AWS Encryption SDK message format.",
        epilog="@FILE reads more arguments from FILE (name a file that starts with @ as ./@name).",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"busta {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log to stderr: -v what busta does, -vv every detail"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keygen = sub.add_parser("keygen", help="create the local default key", allow_abbrev=False)
    keygen.add_argument("--force", "-f", action="store_true", help="replace an existing key (the old one is lost)")
    keygen.add_argument("--output", "-o", metavar="PATH", help="write the key record here instead")
    hsm = keygen.add_argument_group("PKCS#11 (generate the key on an HSM token instead of a key file)")
    hsm.add_argument("--pkcs11-module", metavar="PATH", help="PKCS#11 library (PIN from BUSTA_PKCS11_PIN)")
    hsm.add_argument("--pkcs11-token", metavar="LABEL", help="PKCS#11 token label")
    hsm.add_argument("--pkcs11-key", metavar="LABEL", help="label of the new AES-256 key (refused if taken)")
    add_ec_keygen_options(keygen)
    _transfer_command(sub, "encrypt", "encrypt files into ESDK messages")
    _transfer_command(sub, "decrypt", "decrypt ESDK messages")
    _bulk_command(sub)
    _verify_command(sub)
    _rewrap_command(sub)
    add_branch_key_command(sub)
    inspect = sub.add_parser("inspect", help="show a message header (no key needed)", allow_abbrev=False)
    inspect.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="a message file, '-' (the default) or s3://bucket/key"
    )
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.add_argument(
        "--max-header-bytes", type=_positive_int, default=MAX_HEADER_BYTES, metavar="BYTES", help="largest header read"
    )
    _aws_options(inspect)
    return parser


def _context_file(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, str]]:
    """The pairs of a JSON object of strings in ``path`` (at most MAX_CONTEXT_FILE_BYTES); a usage error otherwise."""
    data = _read_bounded(parser, path, MAX_CONTEXT_FILE_BYTES, "--context-file")
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        parser.error(f"--context-file {path}: not JSON")
    if not isinstance(found, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        parser.error(f"--context-file {path}: expected a JSON object whose keys and values are strings")
    return list(found.items())


def expand_argument_files(argv: Sequence[str], parser: argparse.ArgumentParser, depth: int = 0) -> list[str]:
    """``argv`` with each ``@FILE`` replaced by the arguments in FILE, as aws-encryption-sdk-cli reads
    them: each line split like a shell would (quotes kept together, ``#`` starts a comment). Files may
    name files, at most MAX_ARGUMENT_FILE_DEPTH deep (a file that names itself is refused, not
    followed forever); each is read up to MAX_ARGUMENT_FILE_BYTES, and together they bring at most
    MAX_ARGUMENT_FILE_WORDS arguments. Every problem is a usage error."""
    expanded: list[str] = []
    for arg in argv:
        if not arg.startswith("@") or arg == "@":
            expanded.append(arg)
            continue
        path = arg[1:]
        if depth >= MAX_ARGUMENT_FILE_DEPTH:
            parser.error(f"argument files nest more than {MAX_ARGUMENT_FILE_DEPTH} deep at @{path} (one names itself?)")
        words: list[str] = []
        for line in _argument_file_lines(parser, path):
            try:
                words += shlex.split(line, comments=True)
            except ValueError as exc:  # an unclosed quote
                parser.error(f"argument file {path}: line {line.strip()!r}: {exc}")
        expanded += expand_argument_files(words, parser, depth + 1)
        if len(expanded) > MAX_ARGUMENT_FILE_WORDS + len(argv):
            parser.error(f"argument files bring more than {MAX_ARGUMENT_FILE_WORDS} arguments")
    return expanded


def _read_bounded(parser: argparse.ArgumentParser, path: str, limit: int, what: str) -> bytes:
    """The bytes of the file ``path``, reading at most ``limit`` + 1; a usage error naming ``what`` otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        parser.error(f"{what} {path}: {exc.strerror or exc}")
    if len(data) > limit:
        parser.error(f"{what} {path}: larger than {limit} bytes")
    return data


def _argument_file_lines(parser: argparse.ArgumentParser, path: str) -> list[str]:
    data = _read_bounded(parser, path, MAX_ARGUMENT_FILE_BYTES, "argument file")
    try:
        return data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        parser.error(f"argument file {path}: not UTF-8 text")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(expand_argument_files(argv, parser))
    if getattr(args, "_pending_names", None):
        flags = {"namespace": "--namespace", "name": "--key-name", "padding": "--rsa-padding"}
        given = ", ".join(flags[k] for k in args._pending_names)
        parser.error(f"{given} given without a key option to apply to")
    if getattr(args, "context_file", None):
        args.context = [*_context_file(parser, args.context_file), *args.context]
    keys = [key for key, _ in getattr(args, "context", [])]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        parser.error(f"-c/--context gives {', '.join(map(repr, repeated))} more than once")
    return args
