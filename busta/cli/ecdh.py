"""``busta keygen --ec CURVE -o PATH``: an EC key pair for the raw ECDH keyring.

PATH gets the private key (PEM PKCS #8, mode 0600), encrypted under the password in
``BUSTA_EC_KEY_PASSWORD`` when that is set (the same variable ``--ecdh-private-key`` and
``--ecdh-sender-key`` read it from); ``PATH.pub`` gets the public key (PEM, mode 0644), to give
to whoever encrypts to you.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .._legacy import environ
from .errors import CliError, CliUsageError
from .outputs import local_output

__all__ = ["add_ec_keygen_options", "check_ecdh_options", "run_ec_keygen"]

PASSWORD_ENV = "BUSTA_EC_KEY_PASSWORD"  # noqa: S105 - the name of the variable, not a password


def add_ec_keygen_options(keygen: argparse.ArgumentParser) -> None:
    ec = keygen.add_argument_group("EC key pair for the raw ECDH keyring (instead of the AES key)")
    ec.add_argument(
        "--ec",
        metavar="CURVE",
        help=f"P-256, P-384 or P-521: write --output (private; encrypted if {PASSWORD_ENV} is set) and its .pub",
    )


def run_ec_keygen(args: argparse.Namespace) -> None:
    from ..errors import UsageError  # noqa: PLC0415
    from ..keyrings.ecdh_keys import curve_named, generate_key_pair  # noqa: PLC0415

    if not args.output:
        raise CliUsageError("keygen --ec needs --output PATH (PATH.pub gets the public key)")
    if args.pkcs11_module or args.pkcs11_token or args.pkcs11_key:
        raise CliUsageError("keygen --ec makes a key pair in files; it takes no --pkcs11-* option")
    try:
        curve = curve_named(args.ec)
    except UsageError as exc:
        raise CliUsageError(str(exc)) from None
    private_path = Path(args.output)
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if os.path.lexists(path) and not args.force:
            raise CliError(f"{path} already exists; pass --force to replace it (the old key is then lost)")
    password = environ(PASSWORD_ENV)
    pair = generate_key_pair(curve, password.encode() if password else None)
    private_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with local_output(private_path, force=True, mode=0o600) as out:
        out.write(pair.private.reveal())
    with local_output(public_path, force=True, mode=0o644) as out:
        out.write(pair.public)
    protected = f"encrypted under {PASSWORD_ENV}" if password else f"not encrypted: set {PASSWORD_ENV} to encrypt it"
    print(f"created {private_path} (private {curve.name} key, {protected})")
    print(f"created {public_path} (public key: encrypt to it with --ecdh-public-key)")


def check_ecdh_options(args: argparse.Namespace) -> None:
    """Refuse --ecdh-sender-key without the --ecdh-public-key it makes static (it would be ignored)."""
    flags = {spec.option.flag for spec in getattr(args, "keys", ())}
    if getattr(args, "ecdh_sender_key", None) and "--ecdh-public-key" not in flags:
        raise CliUsageError("--ecdh-sender-key goes with --ecdh-public-key (the recipient's key), which is not given")
