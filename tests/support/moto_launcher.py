"""Start moto's HTTP server with the patches busta's KMS tests need.

Run as ``python -m tests.support.moto_launcher --port N`` from the project root;
:class:`tests.support.moto_server.MotoServer` does that in a child process.

Why the patch: moto 5.2 makes multi-Region key ids ``"mrk-" + str(uuid4())``,
40 characters, but its (moto-only) ciphertext blob stores the key id in a fixed
``KEY_ID_LEN = 36`` byte field (``moto/kms/utils.py``). ``struct.pack`` silently
cuts the id to 36 characters, so Decrypt cannot find the key and every MRK
ciphertext fails with AccessDeniedException. Real AWS MRK ids are ``mrk-``
followed by 32 lowercase hex digits (36 characters, e.g.
``mrk-1234abcd12ab34cd56ef1234567890ab``), which fits the field, so the
launcher makes ids of that shape instead. ``moto.kms.models`` imported
``generate_key_id`` by name, so it is replaced there as well as in
``moto.kms.utils``.

moto also validates a raw key id (one given without its ARN) against the
dashed-UUID form only, so a real-shaped raw MRK id would be refused with
NotFoundException "Invalid keyId"; the launcher widens that check to accept
``mrk-`` + 32 hex digits too. Key ARNs are not affected by that check.

ReplicateKey keeps the key: moto's ``KmsBackend.replicate_key`` makes the
replica as a shallow ``copy()`` of the primary ``Key``, so the replica in the
other Region has the same key id and the very same key material, and a
ciphertext made in one Region decrypts in the other. Two faults of that method
are patched around it, though:

* it looks the key up as ``self.keys[key_id]`` with the id as given, so a key
  ARN (which AWS accepts) raises KeyError and the server answers HTTP 500; the
  launcher turns an ARN into the bare key id first;
* the shallow copy shares the ``multi_region_configuration`` dict (and the
  aliases and grants dicts) between primary and replica. DescribeKey on the
  replica writes ``MultiRegionKeyType = "REPLICA"`` into that shared dict, after
  which the primary also reports itself as REPLICA, and an alias made in one
  Region shows up in the other. The launcher gives the replica its own copies
  (aliases and grants start empty, as in AWS, where they are per Region).
"""

from __future__ import annotations

import argparse
import copy
import re

import moto.kms.models
import moto.kms.responses
import moto.kms.utils
import moto.server
from moto.kms.exceptions import NotFoundException
from moto.moto_api._internal import mock_random

_RAW_KEY_ID = re.compile(
    r"^(?:(?:mrk-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$",
    re.IGNORECASE,
)


def generate_key_id(multi_region: bool = False) -> str:
    """A key id shaped like AWS's: a dashed UUID, or ``mrk-`` + 32 hex digits."""
    uuid = mock_random.uuid4()  # moto's seedable random source, as moto itself uses
    if multi_region:
        return "mrk-" + uuid.hex
    return str(uuid)


def _validate_cmk_id(self: moto.kms.responses.KmsResponse, key_id: str) -> None:
    """moto's ``KmsResponse._validate_cmk_id``, also accepting ``mrk-`` + 32 hex digits."""
    is_arn = key_id.startswith("arn:") and ":key/" in key_id
    if not is_arn and not _RAW_KEY_ID.match(key_id):
        raise NotFoundException(f"Invalid keyId {key_id}")
    if self.kms_backend.get_key_id(key_id) not in self.kms_backend.keys:
        raise NotFoundException(f"Key '{self._display_arn(key_id)}' does not exist")


_original_replicate_key = moto.kms.models.KmsBackend.replicate_key


def _replicate_key(self: moto.kms.models.KmsBackend, key_id: str, replica_region: str) -> moto.kms.models.Key:
    """moto's ``replicate_key``, taking a key ARN too, with a replica that shares no dicts with its primary."""
    replica = _original_replicate_key(self, self.get_key_id(key_id), replica_region)
    if replica.multi_region:
        replica.multi_region_configuration = copy.deepcopy(replica.multi_region_configuration)
        replica.multi_region_configuration["MultiRegionKeyType"] = "REPLICA"
    replica.aliases = {}
    replica.grants = {}
    return replica


def apply_patches() -> None:
    """Patch moto's KMS in this process (idempotent)."""
    moto.kms.utils.generate_key_id = generate_key_id
    moto.kms.models.generate_key_id = generate_key_id  # type: ignore[attr-defined]
    moto.kms.responses.KmsResponse._validate_cmk_id = _validate_cmk_id  # type: ignore[method-assign]
    moto.kms.models.KmsBackend.replicate_key = _replicate_key  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    args = parser.parse_args(argv)
    apply_patches()
    moto.server.main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
