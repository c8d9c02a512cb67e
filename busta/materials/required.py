"""The required-encryption-context materials manager.

Encryption refuses a context that lacks any required key; the required pairs are
authenticated (in the header tag and, through the context, by the keyrings) but
not stored in the message, so the decrypting caller must supply them. Messages
interoperate with the official SDKs' required-encryption-context CMM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..context import RESERVED_PREFIX
from ..errors import EncryptionContextError, UsageError
from .base import (
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    EncryptionMaterials,
    EncryptionRequest,
    Keyring,
)
from .default_cmm import check_decryption_request, check_encryption_request, materials_manager_for

__all__ = ["RequiredEncryptionContextCmm"]


class RequiredEncryptionContextCmm:
    """Wraps a materials manager (or a keyring) and makes ``required_keys`` required context.

    Thread-safe when the underlying manager is.
    """

    def __init__(self, underlying: CryptoMaterialsManager | Keyring, *, required_keys: Iterable[str]):
        self.underlying = materials_manager_for(underlying, "RequiredEncryptionContextCmm")
        if isinstance(required_keys, str) or not isinstance(required_keys, Iterable):
            raise UsageError("required_keys must be a collection of keys, not one string")
        given = tuple(required_keys)
        if not given or not all(isinstance(k, str) and k for k in given):
            raise UsageError("required_keys must be one or more non-empty strings")
        keys = frozenset(given)
        if any(k.startswith(RESERVED_PREFIX) for k in keys):
            raise UsageError(f"required keys may not use the reserved prefix {RESERVED_PREFIX!r}")
        self.required_keys = keys

    def __repr__(self) -> str:
        return f"RequiredEncryptionContextCmm({self.underlying!r}, required_keys={sorted(self.required_keys)})"

    def check_missing(self, context: Mapping[str, str], what: str) -> None:
        missing = sorted(self.required_keys - set(context))
        if missing:
            raise EncryptionContextError(f"{what} lacks the required encryption context keys {missing}")

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        check_encryption_request(request)
        self.check_missing(request.encryption_context, "the encryption context")
        return self.required_result(self.underlying.get_encryption_materials(request))

    def required_result(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        """The underlying manager's materials, checked to hold the required keys and marked to leave them out."""
        required = materials.required_context_keys | self.required_keys
        if not required <= set(materials.encryption_context):
            raise EncryptionContextError("the underlying materials manager dropped required encryption context")
        return EncryptionMaterials(
            materials.suite,
            materials.encryption_context,
            materials.data_key,
            materials.encrypted_data_keys,
            materials.signing_key,
            frozenset(required),
        )

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        check_decryption_request(request)
        self.check_missing(request.reproduced_encryption_context or {}, "the expected encryption context")
        materials = self.underlying.decrypt_materials(request)
        if not self.required_keys <= set(materials.encryption_context):
            raise EncryptionContextError("the decryption materials lack required encryption context")
        return materials
