"""Where bulk jobs read and write: an S3 prefix or a local directory, and the done-markers in each.

An object counts as done when its destination carries a marker naming the
operation and the source's version (S3: its ETag; a file: size and mtime):

- in S3 the marker is the destination object's own metadata, written in the
  same request that creates the object, so the two appear together;
- in a directory it is a small JSON file under ``.envelope-bulk/`` that also
  records the destination file's size and mtime; the marker is written before
  the file is renamed into place and counts only when the file matches it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from .._atomic import atomic_output
from ..errors import UsageError

__all__ = ["MARKER_DIR", "Place", "S3Settings", "Source", "parse_place"]

#: Local destinations keep their done-markers in this directory (skipped when listing sources).
MARKER_DIR: Final = ".envelope-bulk"
#: S3 metadata keys of the done-marker.
OPERATION_METADATA: Final = "envelope-bulk-operation"
SOURCE_METADATA: Final = "envelope-bulk-source"
_TEMP_PREFIX: Final = ".envelope-bulk-"


@dataclass(frozen=True, slots=True)
class S3Settings:
    """How workers reach S3 (credentials come from each worker's usual boto3 chain, never from here)."""

    endpoint_url: str | None = None
    region: str | None = None
    max_attempts: int = 5

    def client(self) -> Any:
        """One boto3 S3 client per settings per process."""
        return _s3_client(self)


@functools.cache
def _s3_client(settings: S3Settings) -> Any:
    import boto3  # noqa: PLC0415 - only when S3 is used
    from botocore.config import Config  # noqa: PLC0415

    config = Config(retries={"mode": "standard", "total_max_attempts": settings.max_attempts})
    return boto3.session.Session().client(
        "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config
    )


@dataclass(frozen=True, slots=True)
class Source:
    """One object to process: its name relative to the source place, size and version."""

    name: str
    size: int
    version: str


@dataclass(frozen=True, slots=True)
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
        """The S3 key or the file path of ``name`` inside this place."""
        return self.root + name if self.is_s3 else os.path.join(self.root, name)

    def contains(self, other: Place) -> bool:
        """True if ``other`` lies inside this place (or is it)."""
        if self.bucket != other.bucket:
            return False
        if self.is_s3:
            return other.root.startswith(self.root)
        return Path(other.root).resolve().is_relative_to(Path(self.root).resolve())

    # -- listing -------------------------------------------------------------------------------

    def list(self, s3: S3Settings) -> list[Source]:
        """Every object under this place, by name."""
        return sorted(self._list_s3(s3) if self.is_s3 else self._list_dir(), key=lambda source: source.name)

    def _list_s3(self, s3: S3Settings) -> Iterator[Source]:
        from ..s3._calls import s3_error  # noqa: PLC0415 - boto3 only when S3 is used

        pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.root)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        yield Source(item["Key"][len(self.root) :], int(item["Size"]), str(item["ETag"]))
        except Exception as exc:
            raise s3_error("ListObjectsV2", self.bucket or "", self.root, exc) from exc

    def _list_dir(self) -> Iterator[Source]:
        root = Path(self.root)
        if not root.is_dir():
            raise UsageError(f"{self.root} is not a directory")
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d != MARKER_DIR)
            for filename in files:
                path = Path(directory, filename)
                if filename.startswith(_TEMP_PREFIX) or path.is_symlink():
                    continue
                st = path.stat()
                yield Source(path.relative_to(root).as_posix(), st.st_size, f"{st.st_size}:{st.st_mtime_ns}")

    # -- markers -------------------------------------------------------------------------------

    def is_done(self, name: str, operation: str, source: Source, s3: S3Settings) -> bool | None:
        """True if ``name`` was written by ``operation`` from this version of ``source``; False if it
        does not exist or was written by a bulk job from something else; None if it exists but no bulk
        job wrote it."""
        if self.is_s3:
            from ..s3._calls import s3_error  # noqa: PLC0415

            key = self.locate(name)
            try:
                metadata = s3.client().head_object(Bucket=self.bucket, Key=key).get("Metadata", {})
            except Exception as exc:
                if _status(exc) == 404:
                    return False
                raise s3_error("HeadObject", self.bucket or "", key, exc) from exc
            if SOURCE_METADATA not in metadata:
                return None
            return bool(metadata.get(OPERATION_METADATA) == operation and metadata[SOURCE_METADATA] == source.version)
        path = Path(self.locate(name))
        if not path.exists():
            return False
        marker = self._marker_path(name)
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, ValueError):
            return None
        st = path.stat()
        return bool(
            recorded.get("operation") == operation
            and recorded.get("source") == source.version
            and recorded.get("dest") == [st.st_size, st.st_mtime_ns]
        )

    def marker(self, operation: str, source: Source) -> dict[str, str]:
        """The S3 metadata that marks an object as done."""
        return {OPERATION_METADATA: operation, SOURCE_METADATA: source.version}

    def _marker_path(self, name: str) -> Path:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()
        return Path(self.root, MARKER_DIR, digest[:2], f"{digest}.json")

    @contextlib.contextmanager
    def file_writer(self, name: str, operation: str, source: Source) -> Iterator[IO[bytes]]:
        """A temporary file beside the destination; on success: fsync, write the marker, rename into place."""
        target = Path(self.locate(name))
        target.parent.mkdir(parents=True, exist_ok=True)

        def commit(temporary: str, written: os.stat_result) -> None:
            record = {"name": name, "operation": operation, "source": source.version}
            marker = json.dumps({**record, "dest": [written.st_size, written.st_mtime_ns]}).encode()
            marker_path = self._marker_path(name)
            marker_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(marker_path, prefix=_TEMP_PREFIX) as out:
                out.write(marker)
            os.replace(temporary, target)

        with atomic_output(target, prefix=_TEMP_PREFIX, commit=commit) as out:
            yield out


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
