"""The one exception tree of busta.

Every error busta raises is an :class:`BustaError`; third-party exceptions
(cryptography, boto3, PKCS#11) are wrapped at the boundary with ``raise ... from``::

    BustaError
    ├── MalformedMessageError      the bytes are not a well-formed message (field, offset)
    │   ├── TruncatedMessageError  the message ended early
    │   └── CompressionError       an authenticated compressed plaintext is not one valid zstd frame
    ├── AuthenticationError        a tag, commitment or signature did not verify
    ├── EncryptionContextError     bad context given, or the expected context does not match
    ├── PolicyError                a commitment policy or decrypt mode forbids this suite/message
    │   └── SignedMessageError     a signed message where only unsigned ones will do
    ├── LimitExceededError         a named limit was exceeded (field, value, limit)
    ├── S3Error                    an S3 call failed (operation, code, bucket, key)
    ├── UnsafePathError            an untrusted name would leave its local root (name, reason)
    ├── SourceChangedError         a local source is no longer the version a bulk job listed (path)
    ├── KeyringError               a keyring could not wrap or unwrap a data key
    │   ├── KmsError               AWS KMS refused or failed a call (code, key, region)
    │   ├── BranchKeyStoreError    a branch key store's DynamoDB call failed or found no key (code, table)
    │   ├── Pkcs11Error            a PKCS#11 module, token or key could not be used (code)
    │   └── NoDecryptingKeyError   no keyring could decrypt any data key (reasons per keyring)
    └── UsageError                 the API was misused (bad argument, wrong state)
        └── KeyFileError           a key file is missing, untrusted (owner, mode, directory) or not a key

Authentication failures carry no detail an attacker could use: they say which
check failed (header, frame n, commitment, signature), never why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from ._text import printable

__all__ = [
    "AuthenticationError",
    "BranchKeyStoreError",
    "BustaError",
    "CompressionError",
    "EncryptionContextError",
    "EnvelopeError",
    "KeyFileError",
    "KeyringError",
    "KmsError",
    "LimitExceededError",
    "MalformedMessageError",
    "NoDecryptingKeyError",
    "Pkcs11Error",
    "PolicyError",
    "S3Error",
    "SignedMessageError",
    "SourceChangedError",
    "TruncatedMessageError",
    "UnsafePathError",
    "UsageError",
]


class BustaError(Exception):
    """Root of every error raised by busta.

    ``remedy``, when set, is what would fix the error, for a front end to word in its own terms:
    the Python argument and the value to give it (``("commitment_policy",
    "require-encrypt-allow-decrypt")``); ``reason`` is then the message without the Python
    wording. The command line says ``--commitment-policy require-encrypt-allow-decrypt`` where
    the library says ``commitment_policy=...`` (busta/cli/hints.py).
    """

    remedy: tuple[str, str] | None = None
    reason: str = ""

    def remedied(self, reason: str, argument: str, value: str = "") -> Self:
        """Set ``reason`` and ``remedy`` (``argument``, ``value``); return the error itself."""
        self.reason, self.remedy = reason, (argument, value)
        return self


#: The root's name from before the rename (envelope 0.1), so ``import busta as envelope`` keeps
#: ``except envelope.errors.EnvelopeError`` working. The same class, not a subclass.
EnvelopeError = BustaError


class MalformedMessageError(BustaError):
    """The input is not a well-formed message.

    ``field`` names the wire field that was wrong and ``offset`` its byte offset
    in the message, when known.
    """

    def __init__(self, message: str, *, field: str | None = None, offset: int | None = None):
        where = ""
        if field is not None:
            where = f" [field {field}" + (f" at offset {offset}" if offset is not None else "") + "]"
        super().__init__(message + where)
        self.field = field
        self.offset = offset


class TruncatedMessageError(MalformedMessageError):
    """The message ended before it was complete."""


class CompressionError(MalformedMessageError):
    """A message marked compressed (``busta-compression`` in its authenticated context) holds a
    plaintext that does not decompress: not exactly one valid zstd frame (corrupt, truncated, bytes
    after it), or a compression busta does not know. The message itself authenticated: its writer
    had the key. Limits on decompression are :class:`LimitExceededError`."""


class AuthenticationError(BustaError):
    """A tag, key commitment or signature did not verify: the data was altered or the key is wrong."""


class EncryptionContextError(BustaError):
    """An encryption context was invalid, or did not match what the caller expected."""


class PolicyError(BustaError):
    """A commitment policy or decrypt mode does not allow this algorithm suite or message."""


class SignedMessageError(PolicyError):
    """The operation needs an unsigned message: refused signed messages, or a rewrap of one."""


class LimitExceededError(BustaError):
    """A named limit was exceeded (see :mod:`busta.limits`)."""

    def __init__(self, what: str, value: int, limit: int):
        super().__init__(f"{what} is {value}, above the limit of {limit}")
        self.what = what
        self.value = value
        self.limit = limit


class S3Error(BustaError):
    """An S3 call failed: ``code`` is S3's error code (or the connection error's name)."""

    def __init__(self, operation: str, code: str, bucket: str, key: str, detail: str = ""):
        text = f"S3 {operation} of s3://{printable(bucket)}/{printable(key)} failed: {printable(code)}"
        super().__init__(text + (f" ({printable(detail)})" if detail else ""))
        self.operation = operation
        self.code = code
        self.bucket = bucket
        self.key = key


class UnsafePathError(BustaError):
    """A name from an untrusted source (an S3 key, a listing, a message) would not stay inside the
    local directory it is mapped into: ``name`` is the name as given (escape it before printing it
    to a terminal), ``reason`` what is wrong with it."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"refusing the name {name!r}: it {reason}")
        self.name = name
        self.reason = reason


class SourceChangedError(BustaError):
    """A local file a bulk job lists is not, when a task reads it, the version that was listed
    (another inode, device, size or mtime, or no longer a regular file): ``path`` names it."""

    def __init__(self, path: str, what: str):
        super().__init__(f"the source {path!r} changed since it was listed: {what}")
        self.path = path


class KeyringError(BustaError):
    """A keyring could not wrap or unwrap a data key."""


class KmsError(KeyringError):
    """An AWS KMS call failed: ``code`` is KMS's error code (or the connection error's name),
    ``key_id`` the key and ``region`` the region it was sent to. The message escapes control
    characters (:func:`busta._text.printable`): a key id may come from a hostile message."""

    def __init__(self, operation: str, code: str, key_id: str, region: str, detail: str = ""):
        text = f"KMS {operation} with key {printable(key_id)} in {printable(region)} failed: {printable(code)}"
        super().__init__(text + (f" ({printable(detail)})" if detail else ""))
        self.operation = operation
        self.code = code
        self.key_id = key_id
        self.region = region


class BranchKeyStoreError(KeyringError):
    """A branch key store operation failed in DynamoDB, or found no such branch key: ``operation``
    (GetItem, TransactWriteItems...), ``code`` (DynamoDB's error code, ``NoSuchBranchKey``,
    ``ConditionalCheckFailed``, or the connection error's name) and ``table``. The message escapes
    control characters: a branch key id may come from a hostile message."""

    def __init__(self, operation: str, code: str, table: str, detail: str = ""):
        text = f"branch key store {operation} on table {printable(table)} failed: {printable(code)}"
        super().__init__(text + (f" ({printable(detail)})" if detail else ""))
        self.operation = operation
        self.code = code
        self.table = table


class Pkcs11Error(KeyringError):
    """A PKCS#11 module, token or key could not be used; ``code`` names the PKCS#11 error."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message + (f" ({code})" if code else ""))
        self.code = code


class NoDecryptingKeyError(KeyringError):
    """No keyring could decrypt any of the message's encrypted data keys.

    ``summary`` is the first line; ``reasons`` holds one line per keyring / data key attempt; ``errors`` the
    underlying errors where there were any (e.g. each :class:`KmsError`). The message puts
    each reason on its own line, with control characters escaped, so no reason forges a line.
    """

    def __init__(self, message: str, reasons: Sequence[str] = (), errors: Sequence[BustaError] = ()):
        detail = "".join(f"\n  - {printable(r)}" for r in reasons)
        super().__init__(message + detail)
        self.summary = message
        self.reasons = tuple(reasons)
        self.errors = tuple(errors)


class UsageError(BustaError, ValueError):
    """The API was used wrongly: a bad argument or a call in the wrong state."""


class KeyFileError(UsageError):
    """A key file named by the caller cannot be used: it does not exist, it is not one the
    checks of :mod:`busta._trust` trust (owner, mode, a directory others may write), or it does
    not hold a key. The message says how to fix it (``chmod 600 ...``)."""
