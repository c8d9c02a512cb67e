"""Where bulk jobs read and write: an S3 prefix or a local directory, and the done-markers in each.

Every name a job maps from one place to the other (an S3 key less its prefix, a
file's path below its directory) passes :func:`busta._paths.split_name`, for
S3 destinations too, so no key or file name with ``..``, an empty or absolute
segment, a control character or a backslash is ever written; local paths are
then opened relative to their directory without following a symlink
(:mod:`busta.bulk.local`). A refused name fails its object, naming it.

An object counts as done when its destination carries a marker that verifies
(:mod:`busta.bulk.markers`):

- in S3 the marker is the destination object's own metadata, written in the
  same request that creates the object, so the two appear together;
- in a directory it is a small JSON file under ``.busta-bulk/`` that also
  records the destination file's size, mtime, inode and ctime; it is written before the
  file is renamed into place (so a bulk job's file is never without one) and again
  after, with the ctime the rename set, and counts only when the file still matches it.

Either way a destination is created whole (a multipart upload completed, a
temporary file renamed) or not at all, so a killed job leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from .._frozen import record
from .._legacy import LEGACY_BULK_METADATA_PREFIX
from .._paths import split_name
from ..errors import UnsafePathError, UsageError
from ..limits import S3_MAX_KEY_BYTES
from . import local
from .local import MARKER_DIR, MARKER_DIRS, TEMP_PREFIX, is_temporary
from .markers import FORMAT, Found, Seal, local_state

__all__ = ["MARKER_DIR", "Place", "S3Settings", "Source", "parse_place"]

#: S3 metadata keys of the done-marker (the first two are kept from format 1, so a marker of either is seen).
OPERATION_METADATA: Final = "busta-bulk-operation"
SOURCE_METADATA: Final = "busta-bulk-source"
MARKER_METADATA: Final = "busta-bulk-marker"
MAC_METADATA: Final = "busta-bulk-mac"
#: A local marker file longer than this is not a marker.
_MARKER_FILE_BYTES: Final = 4096


@record
class S3Settings:
    """How workers reach S3 (credentials come from each worker's usual boto3 chain, never from here)."""

    endpoint_url: str | None = None
    region: str | None = None
    max_attempts: int = 5
    profile: str | None = None  # a named AWS profile (its credentials and region); None: the usual chain

    def client(self) -> Any:
        """One boto3 S3 client per settings per process."""
        return _s3_client(self)


@functools.cache
def _s3_client(settings: S3Settings) -> Any:
    import boto3  # noqa: PLC0415 - only when S3 is used
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "standard", "total_max_attempts": settings.max_attempts})
    return boto3.session.Session(profile_name=settings.profile).client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


@record
class Source:
    """One object to process: its name relative to the source place, size and version."""

    name: str
    size: int
    version: str


@record
class Place:
    """``s3://bucket/prefix`` or a local directory (shared by every worker)."""

    bucket: str | None
    root: str  # the key prefix (ending in "/" unless empty) or the directory path

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.root}" if self.is_s3 else self.root

    def locate(self, name: str) -> str:
        """The S3 key or the file path of ``name`` inside this place, as a report shows it (the path is
        for display: files are opened through :mod:`busta.bulk.local`, which checks the name)."""
        return self.root + name if self.is_s3 else f"{self.root.rstrip(os.sep)}{os.sep}{name}"

    def contains(self, other: Place) -> bool:
        """True if ``other`` lies inside this place (or is it)."""
        if self.bucket != other.bucket:
            return False
        if self.is_s3:
            return other.root.startswith(self.root)
        return Path(other.root).resolve().is_relative_to(Path(self.root).resolve())

    def check_name(self, name: str, *, dest: bool) -> None:
        """Raise :class:`UnsafePathError` unless ``name`` may be read (or, with ``dest``, written) here."""
        parts = split_name(name)
        if not dest:
            return
        if self.is_s3:
            if len((self.root + name).encode("utf-8")) > S3_MAX_KEY_BYTES:
                raise UnsafePathError(name, f"makes an S3 key longer than {S3_MAX_KEY_BYTES} bytes")
            return
        if parts[0] in MARKER_DIRS:
            raise UnsafePathError(name, f"is inside {parts[0]}/, where busta bulk keeps its markers")
        if any(is_temporary(part) for part in parts):
            raise UnsafePathError(name, f"has a component named like a temporary output ({TEMP_PREFIX}*.tmp)")

    # -- listing -------------------------------------------------------------------------------

    def list(self, s3: S3Settings) -> list[Source]:
        """Every object under this place, by name."""
        if self.is_s3:
            return sorted(self._list_s3(s3), key=lambda source: source.name)
        return sorted((Source(*found) for found in local.list_tree(self.root)), key=lambda source: source.name)

    def _list_s3(self, s3: S3Settings) -> Iterator[Source]:
        from ..s3 import s3_error  # noqa: PLC0415 - boto3 only when S3 is used

        pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.root)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    if key.startswith(self.root) and not key.endswith("/"):
                        yield Source(key[len(self.root) :], int(item["Size"]), str(item["ETag"]))
        except Exception as exc:
            raise s3_error("ListObjectsV2", self.bucket or "", self.root, exc) from exc

    # -- markers -------------------------------------------------------------------------------

    def find(self, name: str, s3: S3Settings) -> Found | None:
        """What the destination ``name`` holds (None: nothing); raises if something is in the way."""
        return self._find_s3(name, s3) if self.is_s3 else self._find_file(name)

    def _find_s3(self, name: str, s3: S3Settings) -> Found | None:
        from ..s3 import s3_error  # noqa: PLC0415

        key = self.locate(name)
        try:
            head = s3.client().head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise s3_error("HeadObject", self.bucket or "", key, exc) from exc
        metadata, size, etag = head.get("Metadata", {}), int(head.get("ContentLength", 0)), str(head.get("ETag"))
        metadata = _current_metadata(metadata)
        if SOURCE_METADATA not in metadata and MARKER_METADATA not in metadata:
            return Found(bulk=False)
        mac = metadata.get(MAC_METADATA) if metadata.get(MARKER_METADATA) == FORMAT else None
        return Found(True, mac, (), size, etag)

    def _find_file(self, name: str) -> Found | None:
        st = local.stat_of(self.root, name)
        if st is None:
            return None
        data = self._read_marker(name)
        if data is None:
            return Found(bulk=False)
        try:
            recorded = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            recorded = None
        state = local_state(st)
        if (
            not isinstance(recorded, dict)
            or recorded.get("name") != name
            or recorded.get("marker") != FORMAT
            or recorded.get("state") != list(state)
        ):  # a file where only markers go: damaged, older, of a file changed since; never trusted
            return Found(bulk=True, size=st.st_size)
        mac = recorded.get("mac")
        return Found(True, mac if isinstance(mac, str) else None, state, st.st_size)

    def read_dest(self, name: str, found: Found, s3: S3Settings, first: int, stop: int) -> bytes:
        """Bytes ``[first, stop)`` of the destination ``name`` that ``found`` describes (S3: pinned to its ETag)."""
        if not self.is_s3:
            with local.open_file(self.root, name) as f:
                f.seek(first)
                return f.read(max(0, stop - first))
        from ..s3 import fetch_range  # noqa: PLC0415

        assert self.bucket is not None and found.etag is not None
        return fetch_range(s3.client(), self.bucket, self.locate(name), first, stop, etag=found.etag, size=found.size)

    def metadata(self, operation: str, source: Source, seal: Seal) -> dict[str, str]:
        """The S3 metadata that marks an object as done."""
        return {
            MARKER_METADATA: FORMAT,
            OPERATION_METADATA: operation,
            SOURCE_METADATA: source.version,
            MAC_METADATA: seal.mac(),
        }

    def _marker_name(self, name: str, directory: str = MARKER_DIR) -> str:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
        return f"{directory}/{digest[:2]}/{digest}.json"

    def _read_marker(self, name: str) -> bytes | None:
        """The marker file of ``name``: busta's, else the one envelope 0.1 wrote (None: neither)."""
        for directory in MARKER_DIRS:
            data = local.read_small(self.root, self._marker_name(name, directory), _MARKER_FILE_BYTES)
            if data is not None:
                return data
        return None

    @contextlib.contextmanager
    def file_writer(self, name: str, seal: Seal) -> Iterator[IO[bytes]]:
        """A temporary file beside the destination; on success: fsync, write the marker, rename into place."""
        self.check_name(name, dest=True)

        def mark(written: os.stat_result) -> None:
            state = local_state(written)
            record = {"marker": FORMAT, "name": name, "mac": seal.mac(state), "state": list(state)}
            with local.output(self.root, self._marker_name(name), lambda _: None) as out:
                out.write(json.dumps(record).encode())

        # Marked before the rename (a crash then leaves a marker that no longer matches: redone, no
        # --overwrite needed) and again after it, with the ctime the rename gave the file.
        with local.output(self.root, name, mark, settle=mark) as out:
            yield out


def _current_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """S3 metadata with envelope 0.1's ``envelope-bulk-*`` keys read as busta's ``busta-bulk-*`` ones
    (where busta's own are absent)."""
    renamed = {
        "busta-bulk-" + key.removeprefix(LEGACY_BULK_METADATA_PREFIX): value
        for key, value in metadata.items()
        if key.startswith(LEGACY_BULK_METADATA_PREFIX)
    }
    return {**renamed, **metadata}


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(status) if status is not None else None
    return None


def parse_place(text: str) -> Place:
    """``s3://bucket/prefix`` (a prefix gets a trailing ``/``) or a directory path."""
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise UsageError(f"{text!r} names no bucket (expected s3://bucket/prefix)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return Place(bucket, prefix)
    if not text:
        raise UsageError("an empty path is not a place")
    return Place(None, os.path.abspath(text))
