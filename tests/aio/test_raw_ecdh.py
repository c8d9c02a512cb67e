"""The raw ECDH keyring in the asyncio API.

It does no I/O, so there is no async class of it: ``busta.aio`` takes the sync keyring and runs
each of its calls in a thread (:class:`busta.aio.ThreadedKeyring`), keeping its ECDH and key
generation off the event loop. These tests hold that: alone, in an async multi-keyring, behind the
async caching manager, with its errors unchanged and never on the loop's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import busta
import busta.aio
from busta import DecryptionMaterials, EncryptedDataKey, EncryptionMaterials
from busta.errors import KeyringError, NoDecryptingKeyError
from busta.keyrings import EcdhCurve, RawAesKeyring, RawEcdhKeyring

CONTEXT = {"tenant": "async"}


@pytest.fixture(scope="module")
def rings() -> dict[str, RawEcdhKeyring]:
    sender, recipient = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    return {
        "static": RawEcdhKeyring.static(
            EcdhCurve.P384, sender_private_key=sender, recipient_public_key=recipient.public_key()
        ),
        "ephemeral": RawEcdhKeyring.ephemeral(EcdhCurve.P384, recipient_public_key=recipient.public_key()),
        "discovery": RawEcdhKeyring.discovery(EcdhCurve.P384, recipient_private_key=recipient),
    }


class ThreadNoting:
    """A keyring that notes the thread each call ran on, around the real one."""

    def __init__(self, keyring: RawEcdhKeyring):
        self.keyring, self.threads = keyring, set[int]()

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        self.threads.add(threading.get_ident())
        return self.keyring.on_encrypt(materials)

    def on_decrypt(self, materials: DecryptionMaterials, edks: Sequence[EncryptedDataKey]) -> DecryptionMaterials:
        self.threads.add(threading.get_ident())
        return self.keyring.on_decrypt(materials, edks)


@pytest.mark.asyncio
async def test_the_sync_keyring_runs_in_a_thread_and_its_messages_are_the_sync_apis(
    rings: dict[str, RawEcdhKeyring],
) -> None:
    writer, reader = ThreadNoting(rings["ephemeral"]), ThreadNoting(rings["discovery"])
    message = await busta.aio.encrypt(b"awaited" * 1000, keyring=writer, encryption_context=CONTEXT)
    assert busta.decrypt(message, keyring=rings["discovery"]).plaintext == b"awaited" * 1000
    assert (await busta.aio.decrypt(message, keyring=reader)).plaintext == b"awaited" * 1000
    loop_thread = threading.get_ident()
    assert writer.threads and reader.threads and loop_thread not in writer.threads | reader.threads


@pytest.mark.asyncio
async def test_in_an_async_multi_keyring_and_behind_the_async_caching_manager(rings: dict[str, RawEcdhKeyring]) -> None:
    aes = RawAesKeyring("ns", "aes", bytes(32))
    multi = busta.aio.AsyncMultiKeyring(generator=aes, children=[rings["static"]])
    cmm = busta.aio.AsyncCachingCryptoMaterialsManager(multi, max_age=60.0)
    first = await busta.aio.encrypt(b"one", materials_manager=cmm, encryption_context=CONTEXT)
    second = await busta.aio.encrypt(b"two", materials_manager=cmm, encryption_context=CONTEXT)
    one = await busta.aio.decrypt(first, keyring=rings["discovery"])
    two = await busta.aio.decrypt(second, keyring=rings["static"])
    assert (one.plaintext, two.plaintext) == (b"one", b"two")
    assert one.header.encrypted_data_keys == two.header.encrypted_data_keys  # one cached data key


@pytest.mark.asyncio
async def test_errors_are_the_sync_keyrings(rings: dict[str, RawEcdhKeyring]) -> None:
    message = busta.encrypt(b"x", keyring=rings["static"])
    with pytest.raises(KeyringError, match="only encrypts"):
        await busta.aio.decrypt(message, keyring=rings["ephemeral"])
    stranger = RawEcdhKeyring.discovery(EcdhCurve.P384, recipient_private_key=ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(NoDecryptingKeyError):
        await busta.aio.decrypt(message, keyring=stranger)
