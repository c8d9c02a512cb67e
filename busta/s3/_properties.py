"""What S3 keeps of an object when it copies it, read from the source so that a rewrite keeps it too."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from ._calls import call

__all__ = ["kept_properties", "properties_of"]

#: HeadObject fields passed on as they are to PutObject / CreateMultipartUpload: the content headers,
#: the storage class, the SSE-KMS settings and the object-lock settings. (Not the ACL, which S3's copy
#: does not keep either, and not SSE-C, whose key busta never has.)
_KEPT: Final = (
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "ContentType",
    "Expires",
    "WebsiteRedirectLocation",
    "StorageClass",
    "ServerSideEncryption",
    "SSEKMSKeyId",
    "BucketKeyEnabled",
    "ObjectLockMode",
    "ObjectLockRetainUntilDate",
    "ObjectLockLegalHoldStatus",
)


def kept_properties(
    client: Any, bucket: str, key: str, head: Mapping[str, Any], metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """The PutObject / CreateMultipartUpload arguments that give a rewrite of ``bucket/key`` what its
    HeadObject answer ``head`` shows: user metadata (updated with ``metadata``), tags (one
    GetObjectTagging, only if ``head`` counts any), content headers, storage class, SSE-KMS and
    object-lock settings."""
    kept = {name: head[name] for name in _KEPT if head.get(name) not in (None, "")}
    kept["Metadata"] = {**head.get("Metadata", {}), **(metadata or {})}
    if head.get("TagCount"):
        pinned = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
        tags = call("GetObjectTagging", bucket, key, client.get_object_tagging, Bucket=bucket, Key=key, **pinned)[
            "TagSet"
        ]
        kept["Tagging"] = urllib.parse.urlencode([(tag["Key"], tag["Value"]) for tag in tags])
    return kept


def properties_of(client: Any, bucket: str, key: str, *, etag: str) -> dict[str, Any]:
    """:func:`kept_properties` of ``bucket/key`` as it is at ``etag`` (HeadObject pinned to it)."""
    head = call("HeadObject", bucket, key, client.head_object, Bucket=bucket, Key=key, IfMatch=etag)
    return kept_properties(client, bucket, key, head, None)
