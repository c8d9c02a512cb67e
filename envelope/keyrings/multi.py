"""The multi-keyring: one generator and any number of children."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import EnvelopeError, KeyringError, NoDecryptingKeyError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials, Keyring, is_keyring

__all__ = ["MultiKeyring"]


class MultiKeyring:
    """Combines keyrings.

    Encrypt: the generator makes the data key and wraps it; each child adds its
    own wrapped copy, so any one of them can decrypt the message.
    Decrypt: the generator, then each child in order, until one unwraps a data
    key; if none can, :class:`NoDecryptingKeyError` lists every keyring's reason.
    Thread-safe when its keyrings are.
    """

    __slots__ = ("children", "generator")

    def __init__(self, generator: Keyring | None = None, children: Iterable[Keyring] = ()):
        self.generator = generator
        self.children = tuple(children)
        if generator is None and not self.children:
            raise UsageError("MultiKeyring needs a generator or at least one child")
        for keyring in self._all():
            if not is_keyring(keyring):
                raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")

    def __repr__(self) -> str:
        return f"MultiKeyring(generator={self.generator!r}, children={list(self.children)!r})"

    def _all(self) -> tuple[Keyring, ...]:
        return ((self.generator,) if self.generator is not None else ()) + self.children

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if self.generator is not None:
            materials = self.generator.on_encrypt(materials)
            if materials.data_key is None:
                raise KeyringError(f"generator {self.generator!r} returned no data key")
        elif materials.data_key is None:
            raise KeyringError("MultiKeyring without a generator cannot make a data key")
        for child in self.children:
            materials = child.on_encrypt(materials)
        return materials

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if materials.data_key is not None:
            return materials
        reasons: list[str] = []
        for keyring in self._all():
            try:
                result = keyring.on_decrypt(materials, encrypted_data_keys)
            except NoDecryptingKeyError as exc:
                reasons.extend(exc.reasons)
                continue
            except EnvelopeError as exc:
                reasons.append(f"{keyring!r}: {exc}")
                continue
            if result.data_key is not None:
                return result
            reasons.append(f"{keyring!r}: returned no data key")
        raise NoDecryptingKeyError("no keyring could decrypt a data key", reasons)
