"""KMS options of encrypt and decrypt that are not a key: data key caching, and checks on the
discovery filter and grant tokens (see "Key options" and "Data key caching" in docs/cli.md).

With ``--cache-max-age`` one :class:`~busta.materials.CachingCryptoMaterialsManager` serves every
file of the command: files under one key and one encryption context share one data key, made by
one KMS GenerateDataKey call (and, on decrypt, unwrapped by one Decrypt call), within the limits.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from typing import IO, Any

from .._frozen import record
from ..limits import MAX_KMS_GRANT_TOKEN_CHARS, MAX_KMS_GRANT_TOKENS
from ..materials import Keyring
from ..materials.caching import DEFAULT_MAX_BYTES, DEFAULT_MAX_MESSAGES, CachingCryptoMaterialsManager
from .errors import CliUsageError
from .files import Location, S3Uri

__all__ = ["Keys", "add_caching_options", "check_kms_options", "keys_for", "known_length"]

_KMS_FLAGS = ("--kms-key", "--kms-discovery")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def _bounded(what: str, top: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of {what}, not {text!r}") from None
        if not 1 <= value <= top:
            raise argparse.ArgumentTypeError(f"expected 1 to {top} {what}, not {text!r}")
        return value

    return parse


def add_caching_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data key caching (one cache for every file of the command)")
    add = group.add_argument
    add("--cache-max-age", type=_seconds, metavar="SECONDS", help="turn caching on: reuse a data key this long")
    messages, most_bytes = _bounded("messages", DEFAULT_MAX_MESSAGES), _bounded("bytes", DEFAULT_MAX_BYTES)
    add("--cache-max-messages", type=messages, metavar="N", help="messages one cached data key encrypts")
    add("--cache-max-bytes", type=most_bytes, metavar="BYTES", help="plaintext bytes one cached data key encrypts")


def check_kms_options(args: argparse.Namespace) -> None:
    """Refuse KMS options that would be ignored: a discovery filter without --kms-discovery, grant
    tokens without a KMS key, cache limits without --cache-max-age."""
    flags = {spec.option.flag for spec in [*args.keys, *getattr(args, "flag_keys", ())]}
    if getattr(args, "new_kms_key", None):
        flags.add("--kms-key")
    accounts, partition = getattr(args, "kms_account", None), getattr(args, "kms_partition", None)
    if (accounts or partition is not None) and "--kms-discovery" not in flags:
        raise CliUsageError("--kms-account and --kms-partition filter --kms-discovery, which is not given")
    tokens = getattr(args, "grant_token", None) or []
    if tokens and not flags & set(_KMS_FLAGS):
        raise CliUsageError("--grant-token is for KMS keys: --kms-key or --kms-discovery")
    _check_grant_tokens(tokens)
    limits = getattr(args, "cache_max_messages", None), getattr(args, "cache_max_bytes", None)
    if getattr(args, "cache_max_age", None) is None and any(limit is not None for limit in limits):
        raise CliUsageError("--cache-max-messages and --cache-max-bytes need --cache-max-age (which turns caching on)")


def _check_grant_tokens(tokens: list[str]) -> None:
    if len(tokens) > MAX_KMS_GRANT_TOKENS:
        raise CliUsageError(f"{len(tokens)} grant tokens: a KMS request takes at most {MAX_KMS_GRANT_TOKENS}")
    for token in tokens:
        if not token or len(token) > MAX_KMS_GRANT_TOKEN_CHARS:
            raise CliUsageError(f"--grant-token must be 1 to {MAX_KMS_GRANT_TOKEN_CHARS} characters long")


@record
class Keys:
    """The keyring of a command, and the caching materials manager around it when caching is on."""

    keyring: Keyring
    cache: CachingCryptoMaterialsManager | None = None

    def named(self) -> dict[str, Any]:
        """``keyring=`` or ``materials_manager=`` for a busta call."""
        return {"materials_manager": self.cache} if self.cache is not None else {"keyring": self.keyring}

    def length(self, known: int | None) -> int | None:
        """The plaintext length to declare when encrypting: only with caching (which needs it)."""
        return known if self.cache is not None else None


def keys_for(keyring: Keyring, args: argparse.Namespace) -> Keys:
    """``keyring``, behind one caching materials manager for the whole command if --cache-max-age was given."""
    max_age = getattr(args, "cache_max_age", None)
    if max_age is None:
        return Keys(keyring)
    limits = {"max_messages": args.cache_max_messages, "max_bytes": args.cache_max_bytes}
    given = {name: value for name, value in limits.items() if value is not None}
    return Keys(keyring, CachingCryptoMaterialsManager(keyring, max_age=max_age, **given))


def known_length(location: Location, stream: IO[bytes], size: int | None) -> int | None:
    """``size`` when it is what ``stream`` will yield: an S3 object's length, or a regular file's
    (a FIFO or a device reports a size that says nothing of what it yields)."""
    if size is None or isinstance(location, S3Uri):
        return size
    try:
        regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError):
        return None
    return size if regular else None
