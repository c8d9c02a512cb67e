"""The default crypto materials manager: suite choice, signing keys, one keyring."""

from __future__ import annotations

from typing import NoReturn

from .._debug import debug
from ..context import PUBLIC_KEY_FIELD, check_str_pairs
from ..crypto.signing import decode_public_key, encode_public_key, generate_signing_key
from ..errors import EncryptionContextError, KeyringError, MalformedMessageError, UsageError
from ..format import EncryptedDataKey
from ..format.header import check_data_key_count
from ..suites import AlgorithmSuite, CommitmentPolicy
from .base import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
    is_keyring,
    is_materials_manager,
)

__all__ = [
    "DefaultCryptoMaterialsManager",
    "check_decryption_request",
    "check_encryption_request",
    "decryption_result",
    "decryption_start",
    "encryption_result",
    "encryption_start",
    "materials_manager_for",
]


class DefaultCryptoMaterialsManager:
    """Builds materials around one keyring (which may be a :class:`~busta.keyrings.MultiKeyring`).

    On encrypt it picks the suite (the caller's, else the policy's default),
    checks it against the commitment policy, makes a signing key for signed
    suites and stores its public half in the context as ``aws-crypto-public-key``,
    then asks the keyring for a data key and its wrapped copies.

    On decrypt it checks the caller's expected context against the stored one
    (pairs the message does not store become required, authenticated-only pairs),
    loads the verification key of signed suites and asks the keyring to unwrap.

    Thread-safe: it holds no mutable state of its own.
    """

    __slots__ = ("keyring",)

    def __init__(self, keyring: Keyring):
        if not is_keyring(keyring):
            raise UsageError(f"DefaultCryptoMaterialsManager needs a keyring, not {type(keyring).__name__}")
        self.keyring = keyring

    @classmethod
    def _around(cls, keyring: Keyring) -> DefaultCryptoMaterialsManager:
        """A manager around ``keyring``, which the caller has already checked is one."""
        manager = cls.__new__(cls)
        manager.keyring = keyring
        return manager

    def __repr__(self) -> str:
        return f"DefaultCryptoMaterialsManager({self.keyring!r})"

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        return encryption_result(request, self.keyring.on_encrypt(encryption_start(request)))

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        materials = decryption_start(request)
        return decryption_result(self.keyring.on_decrypt(materials, request.encrypted_data_keys))


# The default manager's steps either side of its keyring call, shared with busta.aio's.


def encryption_start(request: EncryptionRequest) -> EncryptionMaterials:
    """What the keyring is handed on encrypt: suite checked, signing key made, public key in the context."""
    check_encryption_request(request)
    suite = request.suite or request.commitment_policy.default_suite
    request.commitment_policy.check_encrypt(suite)
    context = dict(request.encryption_context)
    if PUBLIC_KEY_FIELD in context:
        raise EncryptionContextError(f"{PUBLIC_KEY_FIELD!r} is reserved for the signature key")
    signing_key = None
    if suite.signed:
        signing_key = generate_signing_key(suite)
        context[PUBLIC_KEY_FIELD] = encode_public_key(signing_key.public_key())
    return EncryptionMaterials(suite=suite, encryption_context=context, signing_key=signing_key)


def encryption_result(request: EncryptionRequest, result: EncryptionMaterials) -> EncryptionMaterials:
    """The keyring's answer on encrypt, checked: a data key, at least one and at most the allowed data keys."""
    edks = result.encrypted_data_keys
    if result.data_key is None or not edks:
        raise KeyringError("the keyring returned no data key or no encrypted data key")
    check_data_key_count(len(edks), request.max_encrypted_data_keys)
    return result


def decryption_start(request: DecryptionRequest) -> DecryptionMaterials:
    """What the keyring is handed on decrypt: the expected context checked against the stored one
    (pairs the message does not store become required), the verification key loaded."""
    check_decryption_request(request)
    suite = request.suite
    request.commitment_policy.check_decrypt(suite)
    stored = request.encryption_context
    context = dict(stored)
    required: frozenset[str] = frozenset()
    expected = request.reproduced_encryption_context
    if expected:
        for key, value in expected.items():
            if key in stored and stored[key] != value:
                raise EncryptionContextError(f"encryption context value for {key!r} does not match the message")
        required = frozenset(k for k in expected if k not in stored)
        context.update((k, expected[k]) for k in required)
    verification_key = None
    if suite.signed:
        encoded = context.get(PUBLIC_KEY_FIELD)
        if encoded is None:
            raise MalformedMessageError(
                f"a signed message must carry {PUBLIC_KEY_FIELD!r} in its context", field="encryption context"
            )
        verification_key = decode_public_key(suite, encoded)
    elif PUBLIC_KEY_FIELD in stored:
        raise MalformedMessageError(
            f"an unsigned message must not carry {PUBLIC_KEY_FIELD!r}", field="encryption context"
        )
    return DecryptionMaterials(
        suite=suite, encryption_context=context, verification_key=verification_key, required_context_keys=required
    )


def decryption_result(result: DecryptionMaterials) -> DecryptionMaterials:
    """The keyring's answer on decrypt, checked: it has a data key."""
    if result.data_key is None:
        raise KeyringError("the keyring returned no data key")
    debug(__name__, "decryption materials ready for suite %s", result.suite.name)
    return result


def materials_manager_for(underlying: Keyring | CryptoMaterialsManager, who: str) -> CryptoMaterialsManager:
    """``underlying`` itself if it is a materials manager, a default one around it if it is a keyring."""
    if is_materials_manager(underlying):
        return underlying
    if is_keyring(underlying):
        return DefaultCryptoMaterialsManager(underlying)
    raise UsageError(f"{who} needs a keyring or a materials manager, not {type(underlying).__name__}")


def check_encryption_request(request: object) -> None:
    """Refuse, with :class:`UsageError`, a request that is not an :class:`EncryptionRequest` of str to str."""
    if not isinstance(request, EncryptionRequest):
        raise UsageError(f"get_encryption_materials needs an EncryptionRequest, not {type(request).__name__}")
    check_str_pairs(request.encryption_context, "the request's encryption context")
    if not isinstance(request.commitment_policy, CommitmentPolicy):
        _bad_policy(request.commitment_policy)
    if request.suite is not None and not isinstance(request.suite, AlgorithmSuite):
        raise UsageError("the request's suite must be an AlgorithmSuite or None")
    for name in ("plaintext_length", "max_encrypted_data_keys"):
        value = getattr(request, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise UsageError(f"the request's {name} must be None or an int of at least 0")


def check_decryption_request(request: object) -> None:
    """Refuse, with :class:`UsageError`, a request that is not a :class:`DecryptionRequest` whose
    stored and expected (reproduced) contexts map str to str."""
    if not isinstance(request, DecryptionRequest):
        raise UsageError(f"decrypt_materials needs a DecryptionRequest, not {type(request).__name__}")
    if not isinstance(request.commitment_policy, CommitmentPolicy):
        _bad_policy(request.commitment_policy)
    if not isinstance(request.suite, AlgorithmSuite):
        raise UsageError("the request's suite must be an AlgorithmSuite")
    edks = request.encrypted_data_keys
    if not isinstance(edks, (tuple, list)):
        raise UsageError("the request's encrypted_data_keys must be a tuple or list of EncryptedDataKey objects")
    for edk in edks:
        if not isinstance(edk, EncryptedDataKey):
            raise UsageError("the request's encrypted_data_keys must be EncryptedDataKey objects")
    check_str_pairs(request.encryption_context, "the request's encryption context")
    if request.reproduced_encryption_context is not None:
        check_str_pairs(request.reproduced_encryption_context, "the expected encryption context")


def _bad_policy(policy: object) -> NoReturn:
    raise UsageError(f"the request's commitment_policy must be a CommitmentPolicy, not {type(policy).__name__}")
