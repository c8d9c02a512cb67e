"""The multi-keyring: one generator and any number of children."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence

from ..errors import BustaError, KeyringError, NoDecryptingKeyError, UsageError
from ..format import EncryptedDataKey
from ..materials import DecryptionMaterials, EncryptionMaterials, Keyring, is_keyring
from ._io import in_pool, performs_io, run_all, run_each

__all__ = ["MultiKeyring", "all_failed", "checked", "failure"]


class MultiKeyring:
    """Combines keyrings.

    Encrypt: the generator makes the data key and wraps it; each child adds its
    own wrapped copy, so any one of them can decrypt the message.
    Decrypt: the generator, then each child in order, until one unwraps a data
    key; if none can, :class:`NoDecryptingKeyError` lists every keyring's reason.

    Keyrings that call a service or a device (``performs_io``, e.g. KMS) are
    called concurrently: on encrypt the children wrap at the same time (their
    copies are stored in the children's order); on decrypt all are tried at once
    and the first to unwrap wins. Thread-safe when its keyrings are.
    """

    __slots__ = ("children", "generator")

    def __init__(self, generator: Keyring | None = None, children: Iterable[Keyring] = ()):
        if isinstance(children, (str, bytes)) or not isinstance(children, Iterable):
            raise UsageError("MultiKeyring children must be a collection of keyrings")
        self.generator = generator
        self.children = tuple(children)
        if generator is None and not self.children:
            raise UsageError("MultiKeyring needs a generator or at least one child")
        for keyring in self._all():
            if not is_keyring(keyring):
                raise UsageError(f"{keyring!r} is not a keyring (it lacks on_encrypt / on_decrypt)")

    def __repr__(self) -> str:
        return f"MultiKeyring(generator={self.generator!r}, children={list(self.children)!r})"

    @staticmethod
    def _concurrent(keyrings: tuple[Keyring, ...]) -> bool:
        return len(keyrings) > 1 and any(performs_io(k) for k in keyrings) and not in_pool()

    def _all(self) -> tuple[Keyring, ...]:
        return ((self.generator,) if self.generator is not None else ()) + self.children

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if self.generator is not None:
            materials = self.generator.on_encrypt(materials)
            if materials.data_key is None:
                raise KeyringError(f"generator {self.generator!r} returned no data key")
        elif materials.data_key is None:
            raise KeyringError("MultiKeyring without a generator cannot make a data key")
        if self._concurrent(self.children):
            return self._wrap_concurrently(materials)
        for child in self.children:
            materials = child.on_encrypt(materials)
        return materials

    def _wrap_concurrently(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        base = materials
        results = run_all([functools.partial(child.on_encrypt, base) for child in self.children])
        known = len(base.encrypted_data_keys)
        added = tuple(edk for result in results for edk in result.encrypted_data_keys[known:])
        return base.with_encrypted_data_keys(base.encrypted_data_keys + added)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if materials.data_key is not None:
            return materials
        keyrings = self._all()
        outcomes: Iterator[DecryptionMaterials | NoDecryptingKeyError]
        if self._concurrent(keyrings):  # all at once; the first to finish with a data key wins
            calls = [functools.partial(_attempt, keyring, materials, encrypted_data_keys) for keyring in keyrings]
            outcomes = (finished.result() for finished in run_each(calls))
        else:  # in order, stopping at the first that unwraps
            outcomes = (_attempt(keyring, materials, encrypted_data_keys) for keyring in keyrings)
        failures = []
        for outcome in outcomes:
            if isinstance(outcome, DecryptionMaterials):
                return outcome
            failures.append(outcome)
        raise all_failed(failures)


def _attempt(
    keyring: Keyring, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
) -> DecryptionMaterials | NoDecryptingKeyError:
    """One keyring's try at unwrapping: the materials, or why it failed."""
    try:
        result = keyring.on_decrypt(materials, encrypted_data_keys)
    except BustaError as exc:
        return failure(keyring, exc)
    return checked(keyring, result)


def failure(keyring: object, exc: BustaError) -> NoDecryptingKeyError:
    """Why one keyring of a multi-keyring failed to unwrap (shared with busta.aio's)."""
    if isinstance(exc, NoDecryptingKeyError):
        return exc
    return NoDecryptingKeyError("keyring failed", [f"{keyring!r}: {exc}"], [exc])


def checked(keyring: object, result: DecryptionMaterials) -> DecryptionMaterials | NoDecryptingKeyError:
    """One keyring's answer: the materials if they hold a data key, else why not."""
    if result.data_key is None:
        return NoDecryptingKeyError("keyring failed", [f"{keyring!r}: returned no data key"])
    return result


def all_failed(failures: Sequence[NoDecryptingKeyError]) -> NoDecryptingKeyError:
    """The error of a multi-keyring none of whose keyrings unwrapped: every keyring's reasons, in order."""
    reasons = [reason for failure in failures for reason in failure.reasons]
    errors = [error for failure in failures for error in failure.errors]
    return NoDecryptingKeyError("no keyring could decrypt a data key", reasons, errors)
