"""The raw ECDH keyring kind: its secret-free description and its command-line options.

``EcdhKeyFile`` names PEM (or DER) key files, never keys; ``build()`` reads them in the process
that builds it, with the password of an encrypted private key from the environment variable
``password_env`` (default ``BUSTA_EC_KEY_PASSWORD``).

Command line::

    --ecdh-public-key PATH       the recipient's public key: encrypt with a fresh sender key per
                                 message (ephemeral), or with --ecdh-sender-key as that sender (static)
    --ecdh-sender-key PATH       the sender's private key for the static scheme (encrypts, and
                                 decrypts what either party of the pair wrote to the other)
    --ecdh-private-key PATH      the recipient's private key: decrypt whatever was sent to it (discovery)
"""

from __future__ import annotations

from .._frozen import record
from .._legacy import environ
from ..errors import KeyFileError, UsageError
from ..materials import Keyring
from .registry import CliOption, KeyArgs, KeyOption, KeyringConfig, KeyringKind, register

__all__ = ["EcdhKeyFile"]

_SCHEMES = ("static", "ephemeral", "discovery")
_CURVES = ("p256", "p384", "p521")


@record
class EcdhKeyFile:
    """Key files for the raw ECDH keyring (``scheme`` static, ephemeral or discovery).

    static: ``private_key`` is the sender's and ``public_key`` the recipient's; ephemeral:
    ``public_key`` only (encrypts); discovery: ``private_key`` only, the recipient's (decrypts).
    ``curve`` (p256, p384, p521) is checked against the keys; None takes theirs.
    """

    scheme: str
    private_key: str | None = None
    public_key: str | None = None
    curve: str | None = None
    password_env: str = "BUSTA_EC_KEY_PASSWORD"  # noqa: S105 - a variable name

    def __post_init__(self) -> None:
        if self.scheme not in _SCHEMES:
            raise UsageError(f"EcdhKeyFile scheme {self.scheme!r} is not one of {', '.join(_SCHEMES)}")
        if self.curve is not None and self.curve not in _CURVES:
            raise UsageError(f"EcdhKeyFile curve {self.curve!r} is not one of {', '.join(_CURVES)}")
        wants_private, wants_public = self.scheme != "ephemeral", self.scheme != "discovery"
        if bool(self.private_key) != wants_private or bool(self.public_key) != wants_public:
            needed = [name for name, wanted in (("private_key", wants_private), ("public_key", wants_public)) if wanted]
            raise UsageError(f"EcdhKeyFile with scheme {self.scheme} takes {' and '.join(needed)} only")

    def build(self) -> Keyring:
        from .ecdh_keys import read_private_key, read_public_key  # noqa: PLC0415
        from .raw_ecdh import EcdhCurve, EcdhScheme, RawEcdhKeyring  # noqa: PLC0415

        private = public = None
        if self.private_key:
            password = environ(self.password_env)
            data, secret = _read(self.private_key, secret=True), password.encode() if password else None
            private = read_private_key(data, self.private_key, secret, password_from=self.password_env)
        if self.public_key:
            public = read_public_key(_read(self.public_key, secret=False), self.public_key)
        key = private if private is not None else public
        assert key is not None  # __post_init__: every scheme names a key
        curve = EcdhCurve(self.curve) if self.curve else EcdhCurve.of(key)
        if curve is None:
            raise KeyFileError(f"{self.private_key or self.public_key}: curve {key.curve.name} is not P-256/384/521")
        scheme = EcdhScheme(self.scheme)
        return RawEcdhKeyring(
            scheme,
            curve,
            sender_private_key=private if scheme is EcdhScheme.STATIC else None,
            recipient_public_key=public,
            recipient_private_key=private if scheme is EcdhScheme.DISCOVERY else None,
        )


def _read(path: str, *, secret: bool) -> bytes:
    """A key file, checked as every key file is (:mod:`busta._trust`)."""
    from pathlib import Path  # noqa: PLC0415 - only when a key file is read (start-up time)

    from .._trust import read_key_file  # noqa: PLC0415

    what = "EC private key file" if secret else "EC public key file"
    try:
        return read_key_file(Path(path), what=what, secret=secret)
    except FileNotFoundError:
        raise KeyFileError(f"{what} {path} does not exist") from None


def _public_key(given: KeyArgs) -> KeyringConfig:
    sender = given.options.get("ecdh_sender_key")
    if sender:
        return EcdhKeyFile("static", private_key=sender, public_key=given.value)
    if not given.encrypting:
        raise UsageError(
            "--ecdh-public-key alone only encrypts (a fresh sender key each time); decrypt with"
            " --ecdh-private-key, or give --ecdh-sender-key for the static scheme"
        )
    return EcdhKeyFile("ephemeral", public_key=given.value)


def _private_key(given: KeyArgs) -> KeyringConfig:
    if given.encrypting:
        raise UsageError("--ecdh-private-key only decrypts; encrypt to the recipient's --ecdh-public-key")
    return EcdhKeyFile("discovery", private_key=given.value)


register(
    KeyringKind(
        name="raw-ecdh",
        module="busta.keyrings.raw_ecdh",
        exports=("EcdhCurve", "EcdhScheme", "RawEcdhKeyring"),
        descriptions=(EcdhKeyFile,),
        key_options=(
            KeyOption("--ecdh-public-key", "recipient's EC public key (encrypt)", _public_key, metavar="PEM"),
            KeyOption("--ecdh-private-key", "recipient's EC private key (decrypt)", _private_key, metavar="PEM"),
        ),
        options=(CliOption("--ecdh-sender-key", "sender's EC private key: --ecdh-public-key is then static", "PEM"),),
    )
)
