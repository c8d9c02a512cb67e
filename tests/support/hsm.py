"""SoftHSM helpers for the PKCS#11 keyring tests: fresh tokens, imported and generated keys.

Every helper talks to the token through busta's own logged-in session and
process-wide lock (:func:`busta.keyrings._pkcs11_token.session` / ``call``),
because login is per token per process and SoftHSM is not safe to call from
several threads at once.

Opening a session on a token made after the module was loaded re-initializes
the module, which ends every session and object handle opened before: the
helpers therefore ask for the session right before each use and never keep
python-pkcs11 objects across calls that could open a session on a new token.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters
from pkcs11.util.rsa import decode_rsa_private_key, decode_rsa_public_key

from busta._secrets import SecretBytes
from busta.keyrings._pkcs11_token import call, session
from busta.keyrings.pkcs11 import Pkcs11Keyring
from busta.keyrings.pkcs11_admin import SoftHsmToken, create_softhsm_token
from busta.keyrings.raw_rsa import RsaPadding

__all__ = [
    "OtherKeyKind",
    "destroy_keys",
    "generate_other_key",
    "import_aes_key",
    "import_rsa_key_pair",
    "key_attributes",
    "keyring_for",
    "new_token",
    "new_tokens",
    "objects_labelled",
    "token_session",
]

OtherKeyKind = Literal["generic-secret", "des3", "ec"]


def new_tokens(count: int, *, pin: str | None = None) -> list[SoftHsmToken]:
    """``count`` fresh SoftHSM tokens with unique labels (all made before any session is opened on them)."""
    return [create_softhsm_token(f"busta-{uuid.uuid4().hex[:20]}", pin=pin) for _ in range(count)]


def new_token(*, pin: str | None = None) -> SoftHsmToken:
    """One fresh SoftHSM token with a unique label."""
    (token,) = new_tokens(1, pin=pin)
    return token


def token_session(token: SoftHsmToken) -> Any:
    """busta's logged-in session on ``token`` (python-pkcs11 ``Session``)."""
    return session(token.module, token.token_label, token.pin)


def import_aes_key(token: SoftHsmToken, label: str, key: bytes) -> None:
    """Store a KNOWN AES key on the token: sensitive, not extractable, for encrypt and decrypt."""
    opened = token_session(token)
    template = {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: key,
        Attribute.LABEL: label,
        Attribute.TOKEN: True,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
    }
    call("AES key import", lambda: opened.create_object(template))


def import_rsa_key_pair(token: SoftHsmToken, label: str, private_key: rsa.RSAPrivateKey) -> None:
    """Store a KNOWN RSA private key (decrypt only, sensitive) and its public key (encrypt) under one label."""
    opened = token_session(token)
    private_der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public_der = private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    private_template = dict(decode_rsa_private_key(private_der))
    private_template.update(
        {
            Attribute.LABEL: label,
            Attribute.TOKEN: True,
            Attribute.DECRYPT: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
        }
    )
    public_template = dict(decode_rsa_public_key(public_der))
    public_template.update({Attribute.LABEL: label, Attribute.TOKEN: True, Attribute.ENCRYPT: True})
    call("RSA private key import", lambda: opened.create_object(private_template))
    call("RSA public key import", lambda: opened.create_object(public_template))


def generate_other_key(token: SoftHsmToken, label: str, kind: OtherKeyKind) -> None:
    """Make a key that is neither AES nor RSA on the token."""
    opened = token_session(token)
    if kind == "generic-secret":
        call(
            "generic secret generation",
            lambda: opened.generate_key(KeyType.GENERIC_SECRET, 256, label=label, store=True),
        )
    elif kind == "des3":
        call("DES3 key generation", lambda: opened.generate_key(KeyType.DES3, label=label, store=True))
    else:
        curve = {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}
        params = call("EC parameters", lambda: opened.create_domain_parameters(KeyType.EC, curve, local=True))
        call("EC key pair generation", lambda: params.generate_keypair(store=True, label=label))


def objects_labelled(token: SoftHsmToken, label: str) -> list[Any]:
    """Every object on the token with this label."""
    opened = token_session(token)
    return call("object search", lambda: list(opened.get_objects({Attribute.LABEL: label})))


def destroy_keys(token: SoftHsmToken, label: str) -> None:
    """Remove every object with this label from the token."""
    for obj in objects_labelled(token, label):
        call("object destruction", obj.destroy)


def key_attributes(token: SoftHsmToken, label: str, attributes: list[Attribute]) -> dict[Attribute, Any]:
    """The given attributes of the one object labelled ``label``."""
    (obj,) = objects_labelled(token, label)
    return call("attribute read", lambda: {attribute: obj[attribute] for attribute in attributes})


def keyring_for(
    token: SoftHsmToken,
    key_label: str,
    *,
    namespace: str = "hsm-namespace",
    name: str = "hsm-key",
    padding: RsaPadding = RsaPadding.OAEP_SHA256,
    pin: str | bytes | SecretBytes | None = None,
    allow_pkcs1v15_unwrap: bool = False,
) -> Pkcs11Keyring:
    """A Pkcs11Keyring for ``key_label`` on ``token`` (with the token's own PIN unless ``pin`` is given)."""
    return Pkcs11Keyring(
        namespace,
        name,
        module=token.module,
        token_label=token.token_label,
        key_label=key_label,
        pin=token.pin if pin is None else pin,
        padding=padding,
        allow_pkcs1v15_unwrap=allow_pkcs1v15_unwrap,
    )
