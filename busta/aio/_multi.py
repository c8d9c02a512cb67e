"""The async multi-keyring: its keyrings called concurrently, as asyncio tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from ..errors import BustaError, KeyringError, NoDecryptingKeyError, UsageError
from ..format import EncryptedDataKey
from ..keyrings.multi import all_failed, checked, failure
from ..materials import DecryptionMaterials, EncryptionMaterials
from ._offload import AnyKeyring, as_async_keyring
from ._protocols import AsyncKeyring

__all__ = ["AsyncMultiKeyring"]


class AsyncMultiKeyring:
    """:class:`busta.keyrings.MultiKeyring`, awaited; sync keyrings among them run in threads.

    Encrypt: the generator makes and wraps the data key first; then every child wraps it at the same
    time (one task each); their copies are stored in the children's order, whatever order they
    finish in. If one fails, the others are cancelled and its error is raised.
    Decrypt: every keyring tries at once; the first to unwrap a data key wins (as the sync
    multi-keyring does for keyrings that do I/O: any data key that unwraps is the message's, and the
    header's commitment and tag check it) and the others are cancelled. If none can,
    :class:`NoDecryptingKeyError` lists every keyring's reason, in the keyrings' order.
    """

    __slots__ = ("children", "generator")

    def __init__(self, generator: AnyKeyring | None = None, children: Iterable[AnyKeyring] = ()):
        if isinstance(children, (str, bytes)) or not isinstance(children, Iterable):
            raise UsageError("AsyncMultiKeyring children must be a collection of keyrings")
        self.generator = None if generator is None else as_async_keyring(generator, "AsyncMultiKeyring")
        self.children = tuple(as_async_keyring(child, "AsyncMultiKeyring") for child in children)
        if generator is None and not self.children:
            raise UsageError("AsyncMultiKeyring needs a generator or at least one child")

    def __repr__(self) -> str:
        return f"AsyncMultiKeyring(generator={self.generator!r}, children={list(self.children)!r})"

    def _all(self) -> tuple[AsyncKeyring, ...]:
        return ((self.generator,) if self.generator is not None else ()) + self.children

    async def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if self.generator is not None:
            materials = await self.generator.on_encrypt(materials)
            if materials.data_key is None:
                raise KeyringError(f"generator {self.generator!r} returned no data key")
        elif materials.data_key is None:
            raise KeyringError("AsyncMultiKeyring without a generator cannot make a data key")
        if not self.children:
            return materials
        base = materials
        tasks = [asyncio.create_task(child.on_encrypt(base)) for child in self.children]
        try:
            results = await asyncio.gather(*tasks)  # raises the first error itself, not a group
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        known = len(base.encrypted_data_keys)
        added = tuple(edk for result in results for edk in result.encrypted_data_keys[known:])
        return base.with_encrypted_data_keys(base.encrypted_data_keys + added)

    async def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        if materials.data_key is not None:
            return materials
        keyrings = self._all()
        tasks = [asyncio.create_task(_attempt(keyring, materials, encrypted_data_keys)) for keyring in keyrings]
        try:
            for finished in asyncio.as_completed(tasks):
                outcome = await finished
                if isinstance(outcome, DecryptionMaterials):
                    return outcome
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        outcomes = [task.result() for task in tasks]
        raise all_failed([outcome for outcome in outcomes if isinstance(outcome, NoDecryptingKeyError)])


async def _attempt(
    keyring: AsyncKeyring, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
) -> DecryptionMaterials | NoDecryptingKeyError:
    try:
        result = await keyring.on_decrypt(materials, encrypted_data_keys)
    except BustaError as exc:
        return failure(keyring, exc)
    return checked(keyring, result)
