"""``ExtraArgs`` of the transfers, as boto3's: typed, checked when the call is made, and routed to each S3 call.

An upload's arguments go to PutObject / CreateMultipartUpload; the few that S3 wants
again on every part (the SSE-C key, RequestPayer, ExpectedBucketOwner, ChecksumAlgorithm)
go to UploadPart too, and those that CompleteMultipartUpload and AbortMultipartUpload take
to them (see :func:`part_arguments`). A download's go to HeadObject and to every GetObject.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Mapping
from typing import Any, Final, TypedDict

from ..errors import UsageError

__all__ = [
    "DownloadExtraArgs",
    "UploadExtraArgs",
    "download_arguments",
    "part_arguments",
    "ranged_arguments",
    "upload_arguments",
]


class UploadExtraArgs(TypedDict, total=False):
    """What ``ExtraArgs=`` of an upload may hold: boto3's ``S3Transfer.ALLOWED_UPLOAD_ARGS`` that fit an
    encrypted object (the S3 API's names and values), and ``BucketKeyEnabled``. See docs/s3.md."""

    ACL: str
    CacheControl: str
    ContentDisposition: str
    ContentEncoding: str
    ContentLanguage: str
    ContentType: str
    Expires: datetime.datetime | str
    GrantFullControl: str
    GrantRead: str
    GrantReadACP: str
    GrantWriteACP: str
    Metadata: Mapping[str, str]
    StorageClass: str
    Tagging: str
    WebsiteRedirectLocation: str
    ServerSideEncryption: str
    SSEKMSKeyId: str
    SSEKMSEncryptionContext: str
    BucketKeyEnabled: bool
    SSECustomerAlgorithm: str
    SSECustomerKey: str | bytes
    SSECustomerKeyMD5: str
    ObjectLockMode: str
    ObjectLockRetainUntilDate: datetime.datetime | str
    ObjectLockLegalHoldStatus: str
    ChecksumAlgorithm: str
    RequestPayer: str
    ExpectedBucketOwner: str


class DownloadExtraArgs(TypedDict, total=False):
    """What ``ExtraArgs=`` of a download (and of :func:`~busta.s3.get_range`) may hold: boto3's
    ``S3Transfer.ALLOWED_DOWNLOAD_ARGS``. Sent with HeadObject and every GetObject."""

    VersionId: str
    SSECustomerAlgorithm: str
    SSECustomerKey: str | bytes
    SSECustomerKeyMD5: str
    RequestPayer: str
    ExpectedBucketOwner: str
    ChecksumMode: str


_UPLOAD_KEYS: Final = frozenset(UploadExtraArgs.__annotations__)
_DOWNLOAD_KEYS: Final = frozenset(DownloadExtraArgs.__annotations__)
_DATES: Final = frozenset({"Expires", "ObjectLockRetainUntilDate"})

#: Keys boto3 (or S3) knows that an encrypted upload refuses, and why.
_REFUSED: Final = {
    **dict.fromkeys(
        (
            "ChecksumCRC32",
            "ChecksumCRC32C",
            "ChecksumCRC64NVME",
            "ChecksumMD5",
            "ChecksumSHA1",
            "ChecksumSHA256",
            "ChecksumSHA512",
            "ChecksumXXHASH3",
            "ChecksumXXHASH64",
            "ChecksumXXHASH128",
            "ChecksumType",
            "ContentMD5",
        ),
        "is a checksum of the stored bytes, which are the ciphertext busta writes; pass ChecksumAlgorithm "
        "and each part is checksummed for you",
    ),
    "MpuObjectSize": "is the stored size, which only busta knows",
    "ContentLength": "is the stored size, which only busta knows",
    "Body": "is the encrypted message; give the plaintext as the source",
    "Bucket": "is an argument of its own",
    "Key": "is an argument of its own",
}

#: UploadPart needs these again (s3transfer's UPLOAD_PART_ARGS); CompleteMultipartUpload and
#: AbortMultipartUpload take the subsets below.
_PART_KEYS: Final = (
    "SSECustomerAlgorithm",
    "SSECustomerKey",
    "SSECustomerKeyMD5",
    "RequestPayer",
    "ExpectedBucketOwner",
    "ChecksumAlgorithm",
)
_COMPLETE_KEYS: Final = (
    "SSECustomerAlgorithm",
    "SSECustomerKey",
    "SSECustomerKeyMD5",
    "RequestPayer",
    "ExpectedBucketOwner",
)
_ABORT_KEYS: Final = ("RequestPayer", "ExpectedBucketOwner")
#: A ranged GET cannot check a whole-object checksum, so ChecksumMode goes to whole GETs only.
_WHOLE_ONLY: Final = ("ChecksumMode",)


def _unknown(name: object, known: frozenset[str], what: str) -> UsageError:
    close = difflib.get_close_matches(str(name), sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(f"ExtraArgs of {what} has no key {name!r}{hint}; see busta.s3.{what.capitalize()}ExtraArgs")


def _check_value(name: str, value: object) -> None:
    if name == "Metadata":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise UsageError("ExtraArgs['Metadata'] must map str to str")
        return
    allowed: tuple[type, ...] = (str,)
    if name == "BucketKeyEnabled":
        allowed = (bool,)
    elif name in _DATES:
        allowed = (str, datetime.datetime)
    elif name == "SSECustomerKey":
        allowed = (str, bytes)
    if not isinstance(value, allowed):
        raise UsageError(
            f"ExtraArgs[{name!r}] must be {' or '.join(t.__name__ for t in allowed)}, not {type(value).__name__}"
        )


def _checked(extra_args: Mapping[str, object] | None, known: frozenset[str], what: str) -> dict[str, Any]:
    if extra_args is None:
        return {}
    if not isinstance(extra_args, Mapping):
        raise UsageError(f"ExtraArgs must be a dict, not {type(extra_args).__name__}")
    for name, value in extra_args.items():
        if name in _REFUSED and what == "upload":
            raise UsageError(f"ExtraArgs[{name!r}] is refused: it {_REFUSED[name]}")
        if name not in known:
            raise _unknown(name, known, what)
        _check_value(name, value)
    return dict(extra_args)


def upload_arguments(
    extra_args: UploadExtraArgs | None, metadata: Mapping[str, str] | None, recorded: Mapping[str, str]
) -> dict[str, Any]:
    """The PutObject / CreateMultipartUpload arguments of an upload.

    Its user metadata is the union of ``metadata=``, ``ExtraArgs['Metadata']`` and
    ``recorded`` (the recorded encryption context); a key given twice is a :class:`UsageError`.
    """
    arguments = _checked(extra_args, _UPLOAD_KEYS, "upload")
    merged: dict[str, str] = {}
    for source in (metadata or {}, arguments.pop("Metadata", {}), recorded):
        clash = sorted(set(merged) & set(source))
        if clash:
            raise UsageError(
                f"metadata key {clash[0]!r} is given twice (metadata=, ExtraArgs['Metadata'] or record_context)"
            )
        merged.update(source)
    if merged:
        arguments["Metadata"] = merged
    return arguments


def download_arguments(extra_args: DownloadExtraArgs | None) -> dict[str, Any]:
    """The HeadObject / GetObject arguments of a download."""
    return _checked(extra_args, _DOWNLOAD_KEYS, "download")


def ranged_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a download for its ranged GETs and HeadObject (no whole-object checksum)."""
    return {name: value for name, value in arguments.items() if name not in _WHOLE_ONLY}


def part_arguments(arguments: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Of an upload's arguments, those UploadPart, CompleteMultipartUpload and AbortMultipartUpload need."""
    return (
        {name: arguments[name] for name in _PART_KEYS if name in arguments},
        {name: arguments[name] for name in _COMPLETE_KEYS if name in arguments},
        {name: arguments[name] for name in _ABORT_KEYS if name in arguments},
    )
