"""Key management on a PKCS#11 token, and SoftHSM provisioning: everything apart from the keyring.

:class:`~busta.keyrings.pkcs11.Pkcs11Keyring` only uses a key that is on a token. Putting one
there, listing what a token holds, and making a throwaway SoftHSM token for development and
tests are here::

    from busta.keyrings.pkcs11_admin import create_softhsm_token, generate_aes_key, list_keys

    token = create_softhsm_token("test-token")
    generate_aes_key(token.module, token.token_label, "k1", pin=token.pin)
    print(list_keys(token.module, token.token_label, pin=token.pin))

Every call goes through the same process-wide lock and shared sessions as the keyring
(:mod:`._pkcs11_token`). Requires ``pip install "busta[hsm]"`` (python-pkcs11).
"""

from __future__ import annotations

from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, ObjectClass

from .._frozen import record
from .._secrets import SecretBytes
from ..errors import Pkcs11Error
from ._pkcs11_token import DEFAULT_PIN_ENV, call, check_labels, key_type, resolve_pin, session, type_name
from ._softhsm import SOFTHSM_MODULES, SoftHsmToken, create_softhsm_token, softhsm_module

__all__ = [
    "DEFAULT_PIN_ENV",
    "SOFTHSM_MODULES",
    "KeyInfo",
    "SoftHsmToken",
    "create_softhsm_token",
    "generate_aes_key",
    "list_keys",
    "softhsm_module",
]


@record
class KeyInfo:
    """A key found on a token."""

    label: str
    kind: str  # "aes", "rsa-private", "rsa-public" or another key type name
    bits: int | None


def generate_aes_key(
    module: str,
    token_label: str,
    key_label: str,
    *,
    pin: str | bytes | SecretBytes | None = None,
    pin_env: str = DEFAULT_PIN_ENV,
    bits: int = 256,
) -> KeyInfo:
    """Generate a non-extractable, sensitive AES key on the token (refused if the label is taken)."""
    check_labels(module, token_label, key_label)
    opened = session(module, token_label, resolve_pin(pin, pin_env))
    if any(info.label == key_label for info in _list(opened)):
        raise Pkcs11Error(f"token {token_label!r} already holds a key labelled {key_label!r}")
    template = {Attribute.EXTRACTABLE: False, Attribute.SENSITIVE: True, Attribute.TOKEN: True}
    call(
        "key generation", lambda: opened.generate_key(KeyType.AES, bits, label=key_label, store=True, template=template)
    )
    return KeyInfo(key_label, "aes", bits)


def list_keys(
    module: str, token_label: str, *, pin: str | bytes | SecretBytes | None = None, pin_env: str = DEFAULT_PIN_ENV
) -> list[KeyInfo]:
    """The keys on a token, sorted by label."""
    check_labels(module, token_label, "-")
    return _list(session(module, token_label, resolve_pin(pin, pin_env)))


def _list(opened: pkcs11.Session) -> list[KeyInfo]:
    def collect() -> list[KeyInfo]:
        found = [
            _info(obj, kind)
            for cls, kind in (
                (ObjectClass.SECRET_KEY, None),
                (ObjectClass.PRIVATE_KEY, "rsa-private"),
                (ObjectClass.PUBLIC_KEY, "rsa-public"),
            )
            for obj in opened.get_objects({Attribute.CLASS: cls})
        ]
        return sorted(found, key=lambda k: (k.label, k.kind))

    return call("key listing", collect)


def _info(obj: Any, kind: str | None) -> KeyInfo:
    """What the key object ``obj`` is: a secret key (``kind`` None) or one half of a key pair."""
    found = key_type(obj)
    if kind is None:
        name = "aes" if found == KeyType.AES else str(getattr(found, "name", found)).lower()
        bits = obj[Attribute.VALUE_LEN] * 8 if found == KeyType.AES else None
    else:
        name = kind if found == KeyType.RSA else f"{type_name(found).lower()}-{kind.split('-')[1]}"
        bits = obj[Attribute.MODULUS_BITS] if found == KeyType.RSA and kind == "rsa-public" else None
    return KeyInfo(str(obj[Attribute.LABEL]), name, bits)
