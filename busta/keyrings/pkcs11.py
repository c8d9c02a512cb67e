"""A keyring whose wrapping key lives in a hardware security module, over PKCS#11.

With an AES key on the token, data keys are wrapped on the token with
CKM_AES_GCM (fresh random 12-byte IV, 128-bit tag, AAD = the serialized
encryption context) in the raw AES keyring layout, so a message is
byte-compatible with :class:`~busta.keyrings.RawAesKeyring` holding the same key::

    provider id   = namespace
    provider info = key name | UInt32 128 | UInt32 12 | IV
    ciphertext    = AES-GCM(data key) | tag

With an RSA key pair on the token (raw RSA keyring layout), the data key is
encrypted with the public key and decrypted on the token with the private key
(CKM_RSA_PKCS_OAEP, or CKM_RSA_PKCS only with ``allow_pkcs1v15_unwrap=True``).
Tokens that refuse OAEP with a SHA-2 hash (SoftHSM 2.6 accepts only SHA-1) are
refused with a clear error on decrypt: busta does not decode OAEP itself,
which would need constant-time code that Python cannot promise.

Unwrap failures tell an attacker nothing about the ciphertext:
- AES-GCM and RSA-OAEP: every refusal of a data key by the token, and every
  payload of the wrong length, is one :class:`KeyringError` with one message
  and no cause (the token's error code is dropped), so
  :class:`NoDecryptingKeyError` lists the same reason for all of them;
- RSA PKCS#1 v1.5: implicit rejection (:class:`._common.ImplicitRejection`): a
  refused ciphertext or a payload of the wrong length becomes a pseudo-random
  data key, and the message fails its key commitment or header tag exactly as
  a well-padded wrong key does. The keyring then "succeeds", so a multi-keyring
  does not try the keyrings after it for that message.
Errors that cannot depend on the ciphertext (a removed device, a closed
session, a mechanism the token lacks) are still raised as :class:`Pkcs11Error`.

Key generation, key listing and SoftHSM provisioning are apart, in
:mod:`busta.keyrings.pkcs11_admin`: this module is the keyring only.

Requires ``pip install "busta[hsm]"`` (python-pkcs11). Every PKCS#11 call in
the process goes through one lock (see :mod:`._pkcs11_token`), so keyrings are
safe to share across threads.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import pkcs11
import pkcs11.exceptions as p11
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.mechanisms import GCMParams

from .._secrets import SecretBytes, refuse_pickling
from ..context import serialize_context
from ..errors import KeyringError, Pkcs11Error, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials
from ..suites import IV_BYTES, TAG_BYTES
from . import _pkcs11_token
from ._common import ImplicitRejection, check_names, ensure_data_key, unwrap_first
from ._pkcs11_token import DEFAULT_PIN_ENV, call, check_labels, key_type, resolve_pin, session, type_name
from .raw_rsa import RsaPadding

__all__ = ["DEFAULT_PIN_ENV", "Pkcs11Keyring"]

_TAG_IV = struct.Struct(">II")

#: Token errors on an unwrap that cannot depend on the ciphertext: raised as they are. Every other
#: error (bad padding, bad tag, wrong length, GeneralError ...) is a refused ciphertext, and looks the same.
_NOT_ABOUT_THE_CIPHERTEXT = frozenset(
    {
        "DeviceMemory",
        "DeviceRemoved",
        "HostMemory",
        "KeyHandleInvalid",
        "KeyTypeInconsistent",
        "MechanismInvalid",
        "ObjectHandleInvalid",
        "OperationActive",
        "SessionClosed",
        "SessionHandleInvalid",
        "TokenNotPresent",
        "TokenNotRecognised",
        "UserNotLoggedIn",
    }
)
#: What tokens answer to an OAEP hash they lack (SoftHSM 2.6: CKR_ARGUMENTS_BAD for SHA-2), at C_DecryptInit.
_OAEP_UNSUPPORTED = frozenset({"ArgumentsBad", "MechanismInvalid", "MechanismParamInvalid"})
_AES_REFUSED = "data key did not authenticate (wrong key, encryption context or data key)"
_RSA_REFUSED = "RSA data key did not decrypt (wrong key or altered data key)"
_OAEP = {
    RsaPadding.OAEP_SHA1: (Mechanism.SHA_1, pkcs11.MGF.SHA1),
    RsaPadding.OAEP_SHA256: (Mechanism.SHA256, pkcs11.MGF.SHA256),
    RsaPadding.OAEP_SHA384: (Mechanism.SHA384, pkcs11.MGF.SHA384),
    RsaPadding.OAEP_SHA512: (Mechanism.SHA512, pkcs11.MGF.SHA512),
}


class Pkcs11Keyring:
    """Wraps data keys with a key that never leaves an HSM.

    ``module`` is the path of the PKCS#11 library (e.g.
    ``/usr/lib/softhsm/libsofthsm2.so``), ``token_label`` and ``key_label`` find
    the key, ``pin`` logs in (default: the ``BUSTA_PKCS11_PIN`` environment
    variable; never logged, never in a repr). The token and key are checked
    here, at construction. ``padding`` applies to RSA keys only.
    ``RsaPadding.PKCS1`` with an RSA private key on the token is refused with
    :class:`UsageError` unless ``allow_pkcs1v15_unwrap=True``: PKCS#1 v1.5
    decryption is then protected by implicit rejection (see the module
    docstring), but OAEP is the scheme to use.
    """

    performs_io = True
    __slots__ = (
        "_aes",
        "_generation",
        "_info_prefix",
        "_name_bytes",
        "_padding",
        "_pin",
        "_private",
        "_public",
        "_rejection",
        "allow_pkcs1v15_unwrap",
        "key_label",
        "module",
        "name",
        "namespace",
        "padding",
        "token_label",
    )

    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        module: str,
        token_label: str,
        key_label: str,
        pin: str | bytes | SecretBytes | None = None,
        pin_env: str = DEFAULT_PIN_ENV,
        padding: RsaPadding = RsaPadding.OAEP_SHA256,
        allow_pkcs1v15_unwrap: bool = False,
    ):
        check_names("Pkcs11Keyring", namespace, name)
        check_labels(module, token_label, key_label)
        if not isinstance(pin_env, str) or not pin_env:
            raise UsageError("pin_env must name an environment variable (a non-empty str)")
        if not isinstance(padding, RsaPadding):
            raise UsageError("padding must be an RsaPadding member")
        if not isinstance(allow_pkcs1v15_unwrap, bool):
            raise UsageError("allow_pkcs1v15_unwrap must be True or False")
        self.allow_pkcs1v15_unwrap = allow_pkcs1v15_unwrap
        self._rejection = ImplicitRejection() if padding is RsaPadding.PKCS1 else None
        self.namespace, self.name = namespace, name
        self.module, self.token_label, self.key_label = module, token_label, key_label
        self.padding = padding
        self._name_bytes = name.encode("utf-8")
        self._info_prefix = self._name_bytes + _TAG_IV.pack(TAG_BYTES * 8, IV_BYTES)
        self._pin = resolve_pin(pin, pin_env)
        self._aes: Any = None
        self._private: Any = None
        self._public: rsa.RSAPublicKey | None = None
        self._padding = padding.to_cryptography()
        self._generation = -1
        with _pkcs11_token.LOCK:
            self._find_key()

    def __repr__(self) -> str:
        kind = "AES" if self._aes is not None else "RSA"
        return (
            f"Pkcs11Keyring(namespace={self.namespace!r}, name={self.name!r}, token={self.token_label!r}, "
            f"key={self.key_label!r}, {kind})"
        )

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def _current(self) -> None:
        """Look the key up again if the module was re-initialized since (its handles died). Under the lock."""
        if _pkcs11_token.generation(self.module) != self._generation:
            self._find_key()

    def _find_key(self) -> None:
        opened = session(self.module, self.token_label, self._pin)
        self._generation = _pkcs11_token.generation(self.module)
        objects = call("key lookup", lambda: list(opened.get_objects({Attribute.LABEL: self.key_label})))
        kinds = {(obj.object_class, key_type(obj)): obj for obj in objects}
        if (ObjectClass.SECRET_KEY, KeyType.AES) in kinds:
            self._aes = kinds[(ObjectClass.SECRET_KEY, KeyType.AES)]
            return
        self._aes = None
        self._private = kinds.get((ObjectClass.PRIVATE_KEY, KeyType.RSA))
        public = kinds.get((ObjectClass.PUBLIC_KEY, KeyType.RSA))
        if public is not None:
            self._public = call("public key read", lambda: _rsa_public(public))
        if self._private is not None and self.padding is RsaPadding.PKCS1 and not self.allow_pkcs1v15_unwrap:
            raise UsageError(
                f"PKCS#1 v1.5 decryption with key {self.key_label!r} is refused: its error handling is a padding "
                "oracle on many tokens. Use OAEP (RsaPadding.OAEP_SHA1 on SoftHSM), or pass "
                "allow_pkcs1v15_unwrap=True to read old PKCS#1 v1.5 messages (implicit rejection, see docs/hsm.md)"
            )
        if self._private is None and self._public is None:
            if objects:
                found = ", ".join(sorted({f"{type_name(cls)} {type_name(kind)}" for cls, kind in kinds}))
                raise Pkcs11Error(f"key {self.key_label!r} on token {self.token_label!r} is not AES or RSA ({found})")
            raise Pkcs11Error(f"no key labelled {self.key_label!r} on token {self.token_label!r}", "NoSuchKey")

    def _on_token(self, what: str, action: Callable[[Any], Any], *, private: bool = False) -> Any:
        """Run ``action`` on the token key (the AES key, or the RSA private key) under the process lock."""
        with _pkcs11_token.LOCK:
            self._current()
            key = self._private if private else self._aes
            return call(what, lambda: action(key))

    # -- encrypt -----------------------------------------------------------------------------------

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        materials, data_key = ensure_data_key(materials)
        if self._aes is not None:
            iv = os.urandom(IV_BYTES)
            aad = serialize_context(materials.encryption_context)
            params = GCMParams(iv, aad, TAG_BYTES * 8)
            wrapped = self._on_token(
                "AES-GCM wrap",
                lambda aes: aes.encrypt(data_key.reveal(), mechanism=Mechanism.AES_GCM, mechanism_param=params),
            )
            edk = EncryptedDataKey(self.namespace, self._info_prefix + iv, bytes(wrapped))
        elif self._public is not None:
            try:
                wrapped = self._public.encrypt(data_key.reveal(), self._padding)
            except ValueError as exc:
                raise KeyringError(f"{self!r} could not wrap the data key: {exc}") from exc
            edk = EncryptedDataKey(self.namespace, self._name_bytes, wrapped)
        else:
            raise KeyringError(f"{self!r} has no public key on the token to encrypt with")
        return materials.with_encrypted_data_key(edk)

    # -- decrypt -----------------------------------------------------------------------------------

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        def attempt(edk: EncryptedDataKey) -> bytes | str | None:
            return self._unwrap(edk, materials) if edk.provider_id == self.namespace else None

        return unwrap_first(self, "PKCS#11 keyring", materials, encrypted_data_keys, attempt)

    def _unwrap(self, edk: EncryptedDataKey, materials: DecryptionMaterials) -> bytes | str | None:
        key_bytes = materials.suite.key_bytes
        if self._aes is not None:
            if not edk.provider_info.startswith(self._info_prefix):
                return None
            iv = edk.provider_info[len(self._info_prefix) :]
            if len(iv) != IV_BYTES or len(edk.ciphertext) != key_bytes + TAG_BYTES:
                return "encrypted data key has the wrong shape"
            params = GCMParams(iv, serialize_context(materials.encryption_context), TAG_BYTES * 8)
            recovered = self._token_decrypt(
                "AES-GCM unwrap",
                lambda aes: aes.decrypt(edk.ciphertext, mechanism=Mechanism.AES_GCM, mechanism_param=params),
            )
            return _exactly(recovered, key_bytes, _AES_REFUSED)
        if edk.provider_info != self._name_bytes:
            return None
        if self._private is None:
            return "no RSA private key on the token to decrypt with"
        if self._rejection is not None:
            recovered = self._token_decrypt(
                "RSA unwrap",
                lambda private: private.decrypt(edk.ciphertext, mechanism=Mechanism.RSA_PKCS),
                private=True,
            )
            return self._rejection.choose(recovered, edk.ciphertext, key_bytes)
        param = (*_OAEP[self.padding], None)
        recovered = self._token_decrypt(
            "RSA unwrap",
            lambda private: private.decrypt(edk.ciphertext, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param),
            private=True,
            unsupported=_OAEP_UNSUPPORTED,
        )
        return _exactly(recovered, key_bytes, _RSA_REFUSED)

    def _token_decrypt(
        self,
        what: str,
        action: Callable[[Any], Any],
        *,
        private: bool = False,
        unsupported: frozenset[str] = frozenset(),
    ) -> bytes | None:
        """The token's decryption of a data key, or None where it refused the ciphertext (for any reason:
        the reasons are not told apart). Errors that do not depend on the ciphertext are raised."""
        with _pkcs11_token.LOCK:
            self._current()
            key = self._private if private else self._aes
            try:
                return bytes(action(key))
            except p11.PKCS11Error as exc:
                failure = self._not_a_refusal(what, exc, unsupported)
        if failure is None:
            return None
        raise failure

    def _not_a_refusal(self, what: str, exc: p11.PKCS11Error, unsupported: frozenset[str]) -> KeyringError | None:
        """The error to raise for a token error that cannot depend on the ciphertext; None for a refusal."""
        code = type(exc).__name__
        if code not in unsupported and code not in _NOT_ABOUT_THE_CIPHERTEXT:
            return None
        failure = Pkcs11Error(f"PKCS#11 {what} failed", code)
        failure.__cause__ = exc
        if code not in unsupported:
            return failure
        refused = KeyringError(
            f"the token does not support {self.padding.name} for RSA decryption "
            "(SoftHSM 2.6 accepts OAEP only with SHA-1); use a key and messages with OAEP_SHA1"
        )
        refused.__cause__ = failure
        return refused


def _exactly(recovered: bytes | None, length: int, refused: str) -> bytes:
    """``recovered`` if the token gave ``length`` bytes; one error, without a cause, for anything else."""
    if recovered is None or len(recovered) != length:
        raise KeyringError(refused)
    return recovered


def _rsa_public(obj: Any) -> rsa.RSAPublicKey:
    modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
    exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()
