"""What a bulk job does to each object (:class:`JobSpec`) and what happened to one (:class:`ObjectResult`)."""

from __future__ import annotations

import enum
from dataclasses import replace
from typing import Final

from .._frozen import field, record
from ..api import Client
from ..keyconfig import KeyringConfig
from ..limits import S3_DEFAULT_PART_SIZE
from .places import Place, S3Settings

__all__ = ["DEFAULT_SPLIT_PART_SIZE", "JobSpec", "ObjectResult", "Operation"]

#: Objects of at least twice this size going to S3 are split: one task per part of this size.
DEFAULT_SPLIT_PART_SIZE: Final = 64 << 20


class Operation(enum.StrEnum):
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    REWRAP = "rewrap"


@record
class JobSpec:
    """What a bulk job does to each object; sent to every task.

    ``keyring`` wraps on encrypt and unwraps on decrypt and rewrap;
    ``new_keyring`` wraps again on rewrap. ``encryption_context`` is stored on
    encrypt and required on decrypt and rewrap. Encrypt appends ``suffix`` to
    each name, decrypt removes it, rewrap keeps names.
    """

    operation: Operation
    source: Place
    dest: Place
    keyring: KeyringConfig
    new_keyring: KeyringConfig | None = None
    encryption_context: tuple[tuple[str, str], ...] = ()
    algorithm: int | None = None
    frame_length: int | None = None
    suffix: str = ".enc"
    overwrite: bool = False
    s3: S3Settings = field(default_factory=S3Settings)
    part_size: int = S3_DEFAULT_PART_SIZE
    split_part_size: int = DEFAULT_SPLIT_PART_SIZE
    sdk: Client = field(default_factory=Client)

    def engine(self) -> Client:
        """``sdk`` on the calling thread only: each task is one thread of its worker."""
        return replace(self.sdk, threads=1)

    def dest_name(self, name: str) -> str:
        if self.operation is Operation.ENCRYPT:
            return name + self.suffix
        if self.operation is Operation.DECRYPT and self.suffix and name.endswith(self.suffix):
            return name[: -len(self.suffix)]
        return name


@record
class ObjectResult:
    """What happened to one object.

    ``status`` is ``done``, ``skipped`` (a rerun found it done) or ``failed``
    (``error`` says why); ``method`` is how it was done: ``encrypted``,
    ``decrypted``, ``rewrapped`` (header only), or ``re-encrypted`` (a signed
    message, rewritten in full under the new keyring).
    """

    source: str
    dest: str
    status: str
    method: str = ""
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"
