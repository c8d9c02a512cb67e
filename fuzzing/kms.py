"""Forged AWS KMS data keys, and a KMS discovery keyring that never leaves the process.

The provider info of an ``aws-kms`` data key (a key ARN: partition, region,
account, key id) is read by the KMS keyrings before the header is authenticated,
so fuzzing and the mutation tests decrypt with :func:`offline_kms_keyring` in front
of the raw AES key: every ARN a mutated message names goes through the real parsing,
region checks, region budget and client cache, and every KMS request is answered in
process (``NotFoundException``, from a botocore ``before-call`` handler, after botocore
resolved the endpoint for the region and built the request), so nothing is sent anywhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import botocore.awsrequest
import botocore.config
import botocore.session

from busta._secrets import SecretBytes
from busta.errors import NoDecryptingKeyError
from busta.format import EncryptedDataKey
from busta.keyrings import AwsKmsDiscoveryKeyring, ClientCache, DiscoveryFilter
from busta.materials import DecryptionMaterials, EncryptionMaterials, Keyring

__all__ = [
    "ACCOUNT",
    "SEED_ARNS",
    "ClientCounter",
    "ForgedKmsKeys",
    "InOrder",
    "forged_arns",
    "offline_kms_keyring",
]

ACCOUNT = "111122223333"
#: ARNs the seeds carry: a plain key, a multi-Region key and keys of two other partitions.
SEED_ARNS = (
    f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    f"arn:aws:kms:eu-central-1:{ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef",
    f"arn:aws-us-gov:kms:us-gov-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    f"arn:aws-iso-e:kms:eu-isoe-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)
_NOWHERE = "http://127.0.0.1:9"  # the discard port; never contacted: before-call answers first


def forged_arns(count: int, account: str = ACCOUNT, *, prefix: str = "us-forged") -> list[str]:
    """ARNs of ``count`` keys, each in its own syntactically valid (and unknown) region."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    regions = (f"{prefix}{letters[i // 26 % 26]}{letters[i % 26]}-{1 + i // 676}" for i in range(count))
    return [f"arn:aws:kms:{region}:{account}:key/{os.urandom(16).hex()}" for region in regions]


class ForgedKmsKeys:
    """A child keyring that adds an ``aws-kms`` data key (random ciphertext) for each ARN it is given,
    after the data keys already there (or before them, ``first``)."""

    performs_io = False

    def __init__(self, arns: Sequence[str], *, first: bool = False):
        self.arns = tuple(arns)
        self.first = first

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        if materials.data_key is None:
            materials = materials.with_data_key(SecretBytes(os.urandom(materials.suite.key_bytes)))
        edks = tuple(EncryptedDataKey("aws-kms", arn.encode(), os.urandom(48)) for arn in self.arns)
        known = materials.encrypted_data_keys
        return materials.with_encrypted_data_keys(edks + known if self.first else known + edks)

    def on_decrypt(self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]) -> Any:
        raise NoDecryptingKeyError("forged keys never decrypt")


class InOrder:
    """Decrypts with each keyring in turn (never concurrently), so every one sees every data key."""

    performs_io = False

    def __init__(self, *keyrings: Keyring):
        self.keyrings = keyrings

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        raise NotImplementedError("InOrder only decrypts")

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        reasons: list[str] = []
        for keyring in self.keyrings:
            try:
                return keyring.on_decrypt(materials, encrypted_data_keys)
            except NoDecryptingKeyError as exc:  # anything else is a finding
                reasons += exc.reasons
        raise NoDecryptingKeyError("no keyring could decrypt", reasons)


def _not_found(**_: Any) -> tuple[botocore.awsrequest.AWSResponse, dict[str, Any]]:
    """Answer a KMS call after botocore resolved its endpoint and built its request, before signing and
    sending it: as KMS answers a key it does not know."""
    error = {"Error": {"Code": "NotFoundException", "Message": "no such key (offline)"}, "ResponseMetadata": {}}
    return botocore.awsrequest.AWSResponse("http://offline", 400, {}, None), error


class ClientCounter:
    """A botocore session (credentials set, KMS answered offline) that counts the clients it makes."""

    def __init__(self) -> None:
        self._session = botocore.session.Session()
        self._session.set_credentials("offline", "offline")
        self._session.register("before-call.kms", _not_found)
        self._lock = threading.Lock()
        self.regions: list[str] = []

    def create_client(self, service: str, **options: Any) -> Any:
        with self._lock:
            self.regions.append(str(options["region_name"]))
            return self._session.create_client(service, **options)


def offline_kms_keyring(
    *, max_clients: int = 32, filtered: bool = False
) -> tuple[AwsKmsDiscoveryKeyring, ClientCounter]:
    """A discovery keyring over an offline client cache (with a discovery filter for :data:`ACCOUNT`
    in ``aws`` if ``filtered``; without one, every partition's keys reach the client cache), and its counter."""
    counter = ClientCounter()
    config = botocore.config.Config(proxies={}, retries={"mode": "standard", "total_max_attempts": 1})
    cache = ClientCache(session=counter, endpoint_url=_NOWHERE, config=config, max_clients=max_clients)
    found = DiscoveryFilter("aws", (ACCOUNT,)) if filtered else None
    return AwsKmsDiscoveryKeyring(client_supplier=cache, discovery_filter=found), counter
