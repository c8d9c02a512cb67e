"""What the command line says when something fails: one line that names the input or object it
concerns, and a hint a person can act on, in the CLI's own terms (flags, not Python arguments).

Every failure reaches :func:`explain` (from ``busta.cli._status``): busta's errors, botocore's
(wherever one escaped: a KMS keyring, an S3 call, a bulk listing), a missing extra's ImportError,
an OSError. A command names what a failure concerns with :func:`concerning`, around the work
of one input. botocore is never imported here: its exceptions are recognized when botocore is
already loaded (it raised them).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

from .._frozen import record
from ..errors import BustaError, KmsError, NoDecryptingKeyError, S3Error
from .errors import CliError, CliUsageError

__all__ = ["Concerning", "Said", "cli_words", "concerning", "explain", "hint_for"]


@record
class Said:
    """What to print: the line after ``busta: error:``, and reasons, each on a line of its own."""

    text: str
    reasons: tuple[str, ...] = ()


class Concerning(CliError):
    """The work on ``subject`` (a path or ``s3://bucket/key``) failed with ``error``."""

    def __init__(self, subject: str, error: BaseException):
        super().__init__(f"{subject}: {error}")
        self.subject = subject
        self.error = error


@contextlib.contextmanager
def concerning(subject: object) -> Iterator[None]:
    """Whatever fails inside is raised as :class:`Concerning` ``subject`` (``str(subject)``;
    escaped when printed), and :func:`explain` puts the name first unless the error names its
    file or object itself. Usage errors, a closed standard output and signals pass through."""
    try:
        yield
    except (CliUsageError, Concerning, BrokenPipeError):
        raise
    except (BustaError, OSError, ImportError) as exc:
        raise Concerning(str(subject), exc) from exc
    except Exception as exc:
        if _botocore_code(exc) is None:
            raise
        raise Concerning(str(subject), exc) from exc


_CREDENTIALS: Final = (
    "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`"
)
_UNREACHABLE: Final = "cannot reach {endpoint}: check --aws-endpoint-url / network"
_EXPIRED: Final = "the AWS credentials have expired: refresh them (e.g. `aws sso login`, or a new session token)"
_UNKNOWN_KEY_ID: Final = "AWS does not know this access key id: check the credentials, AWS_PROFILE or --aws-profile"
_SIGNATURE: Final = "the AWS secret access key does not match its key id: check the credentials"
_THROTTLED: Final = "AWS is throttling the requests: retry later, or run fewer at once"

#: The hint for each AWS error code (a ClientError's code, or a BotoCoreError's class name, as
#: busta's S3Error and KmsError carry them).
_HINTS: Final[dict[str, str]] = {
    "NoCredentialsError": _CREDENTIALS,
    "PartialCredentialsError": "the AWS credentials are incomplete: set both AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or check the profile",
    "CredentialRetrievalError": "the AWS credential process or SSO login failed: run `aws sso login` or check the "
    "profile",
    "ProfileNotFound": "no such AWS profile: check --aws-profile / AWS_PROFILE and ~/.aws/config",
    "NoRegionError": "no AWS region: pass --aws-region or set AWS_REGION",
    "InvalidRegionError": "not a valid AWS region: check --aws-region / AWS_REGION",
    "InvalidEndpoint": "not an endpoint URL: check --aws-endpoint-url / AWS_ENDPOINT_URL (https://host[:port])",
    "EndpointConnectionError": _UNREACHABLE,
    "ConnectTimeoutError": _UNREACHABLE,
    "ConnectionClosedError": "{endpoint} closed the connection: check --aws-endpoint-url / network, or retry",
    "ReadTimeoutError": "{endpoint} did not answer in time: check the network, or retry",
    "SSLError": "TLS to {endpoint} failed: check --aws-endpoint-url and the CA certificates (AWS_CA_BUNDLE)",
    "ProxyConnectionError": "cannot reach the proxy: check HTTPS_PROXY / HTTP_PROXY",
    "AccessDenied": "the credentials may not do this: check the IAM policy (and the bucket policy)",
    "403": "access denied, or no such object (S3 says 403 for both without s3:ListBucket): check the key and policies",
    "AllAccessDisabled": "all access to this bucket is disabled: check the bucket and its account",
    "NoSuchBucket": "no such bucket: check its name, and --aws-region / --aws-endpoint-url",
    "NoSuchKey": "no such object: check the key (names are case-sensitive)",
    "404": "no such object: check the bucket and key",
    "NoSuchUpload": "the multipart upload is gone (aborted by another process?): retry",
    "PreconditionFailed": "the object changed while busta was using it: retry",
    "ObjectChanged": "the object changed while busta was using it: retry",
    "BadRangeResponse": "the endpoint does not honour ranged GETs as S3 does: check --aws-endpoint-url",
    "AccessDeniedException": "the credentials may not use this KMS key: check its key policy and the IAM policy",
    "NotFoundException": "no such KMS key: check the key id or ARN, and its region (--aws-region)",
    "DisabledException": "the KMS key is disabled: enable it (`aws kms enable-key`) or use another key",
    "KMSInvalidStateException": "the KMS key cannot be used in its state (pending deletion or import?): check it",
    "InvalidKeyUsageException": "the KMS key is not a symmetric ENCRYPT_DECRYPT key: use another key",
    "IncorrectKeyException": "KMS could not decrypt the data key with this key: check --kms-key",
    "InvalidCiphertextException": "KMS could not decrypt the data key (wrong key or encryption context?)",
    "InvalidGrantTokenException": "a grant token is not valid: check --grant-token",
    "KeyUnavailableException": "the KMS key is unavailable right now: retry later",
    "DependencyTimeoutException": "KMS timed out: retry later",
    "KMSInternalException": "KMS failed internally: retry later",
    "ExpiredToken": _EXPIRED,
    "ExpiredTokenException": _EXPIRED,
    "RequestExpired": "the request expired: check the machine's clock",
    "RequestTimeTooSkewed": "the machine's clock is too far from AWS's: set it right (NTP)",
    "InvalidAccessKeyId": _UNKNOWN_KEY_ID,
    "UnrecognizedClientException": _UNKNOWN_KEY_ID,
    "InvalidClientTokenId": _UNKNOWN_KEY_ID,
    "SignatureDoesNotMatch": _SIGNATURE,
    "InvalidSignatureException": _SIGNATURE,
    "SlowDown": _THROTTLED,
    "Throttling": _THROTTLED,
    "ThrottlingException": _THROTTLED,
    "RequestLimitExceeded": _THROTTLED,
}
#: A code with no hint of its own: botocore's other errors, AWS's other answers.
_BOTOCORE_FALLBACK: Final = (
    "the AWS SDK failed: check the AWS settings (docs/cli.md, AWS settings from the environment)"
)
_CLIENT_FALLBACK: Final = "AWS refused the request: its error code says why (docs/cli.md, Errors)"
_URL: Final = re.compile(r"https?://[^\s\"'<>]+")


def hint_for(code: str, text: str = "") -> str:
    """The hint for the AWS error ``code`` (``text``, the error's message, may hold the endpoint's URL)."""
    hint = _HINTS.get(code)
    if hint is None:
        return _BOTOCORE_FALLBACK if code.endswith(("Error", "Exception")) and code[:1].isupper() else _CLIENT_FALLBACK
    # The URL is looked for after "failed: CODE" only: what comes before (a key id, an S3 key) may
    # come from a hostile message, and must not choose the address the hint tells the user to check.
    detail = text.rsplit(f"failed: {code}", 1)[-1]
    found = _URL.search(detail)
    endpoint = "the AWS endpoint"
    if found is not None:
        parts = urlsplit(found.group(0))
        endpoint = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"  # never a password in the URL
    return hint.replace("{endpoint}", endpoint)


#: How the CLI says each remedy (``BustaError.remedy``: a Python argument and a value).
_FLAGS: Final[dict[str, str]] = {
    "commitment_policy": "(--commitment-policy {value} allows it)",
    "region": ": give its region with --aws-region (or AWS_REGION), or name the key by its key ARN",
    "overwrite": "(pass --overwrite)",
}


def _remedied(exc: BustaError) -> str | None:
    if exc.remedy is None or exc.remedy[0] not in _FLAGS:
        return None
    argument, value = exc.remedy
    wording = _FLAGS[argument].replace("{value}", value)
    return f"{exc.reason}{'' if wording.startswith(':') else ' '}{wording}"


_PYTHON_WORDS: Final = (
    (
        re.compile(r"\(use a busta\.Client\(commitment_policy=CommitmentPolicy\.(\w+)\) to accept it\)"),
        lambda m: f"(--commitment-policy {m.group(1).lower().replace('_', '-')} allows it)",
    ),
    (re.compile(r"\(pass overwrite=True\)"), lambda m: "(pass --overwrite)"),
)


def _flag_words(text: str) -> str:
    for pattern, words in _PYTHON_WORDS:
        text = pattern.sub(words, text)
    return text


_CODE_IN_TEXT: Final = re.compile(r"\bfailed: ([A-Za-z0-9]+)\b")


def cli_words(text: str) -> str:
    """``text`` (an error message that reached the CLI only as text: a bulk object's) with the
    library's Python wording of a remedy in CLI flags, and the hint for an AWS error code in it
    (an S3Error's or KmsError's ``... failed: CODE``)."""
    text = _flag_words(text)
    found = _CODE_IN_TEXT.search(text)
    if found is not None and found.group(1) in _HINTS:
        text = f"{text}; {hint_for(found.group(1), text)}"
    return text


def _botocore_code(exc: BaseException) -> str | None:
    """The error code of a botocore exception (ClientError: AWS's code; else the class name); None
    for any other exception."""
    exceptions = sys.modules.get("botocore.exceptions")
    if exceptions is None:
        return None
    if isinstance(exc, exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    if isinstance(exc, exceptions.BotoCoreError):
        return type(exc).__name__
    if isinstance(exc, ValueError) and _raised_in_botocore(exc):  # "Invalid endpoint: ..."
        return "InvalidEndpoint"
    return None


def _raised_in_botocore(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and str(frame.tb_frame.f_globals.get("__name__", "")).startswith("botocore.")


#: The extra that installs each optional module busta imports: (extra, what needs it, the package).
_EXTRAS: Final[dict[str, tuple[str, str, str]]] = {
    "boto3": ("aws", "AWS (S3 and KMS)", "boto3"),
    "botocore": ("aws", "AWS (S3 and KMS)", "boto3"),
    "s3transfer": ("aws", "AWS (S3 and KMS)", "boto3"),
    "pkcs11": ("hsm", "PKCS#11", "python-pkcs11"),
    "dask": ("bulk", "bulk jobs", "dask[distributed]"),
    "distributed": ("bulk", "bulk jobs", "dask[distributed]"),
    "zstandard": ("zstd", "compression", "zstandard"),
}


def _missing_extra(exc: ImportError) -> str | None:
    """The install command for the extra whose module is missing (``exc``, or what it was raised from)."""
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, ImportError) and error.name:
            found = _EXTRAS.get(error.name.split(".")[0])
            if found is not None:
                extra, what, package = found
                return f'{what} needs {package}, which is not installed: pip install "busta[{extra}]"'
    return None


def _os_error_text(exc: OSError) -> str:
    return f"{str(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}"


def _with_hint(text: str, code: str) -> str:
    return f"{text}; {hint_for(code, text)}"


def _busta(exc: BustaError) -> Said:
    if isinstance(exc, Concerning):
        inner = explain(exc.error) or Said(str(exc.error) or type(exc.error).__name__)
        if exc.subject in inner.text or _names_its_object(exc.error):
            return inner
        return Said(f"{exc.subject}: {inner.text}", inner.reasons)
    if isinstance(exc, NoDecryptingKeyError):
        codes = [error.code for error in exc.errors if isinstance(error, KmsError | S3Error)]
        code = next((code for code in codes if code in _HINTS), codes[0] if codes else None)
        summary = exc.summary if code is None else f"{exc.summary}; {hint_for(code, ' '.join(exc.reasons))}"
        return Said(summary, tuple(_flag_words(reason) for reason in exc.reasons))
    if isinstance(exc, KmsError | S3Error):
        return Said(_with_hint(str(exc), exc.code))
    remedied = _remedied(exc)
    if remedied is not None:
        return Said(remedied)
    return Said(_flag_words(str(exc)) or type(exc).__name__)


def _names_its_object(exc: BaseException) -> bool:
    """Whether the error's own text names the file or object it concerns (an output, say)."""
    return isinstance(exc, S3Error) or (isinstance(exc, OSError) and bool(exc.filename))


def explain(exc: BaseException) -> Said | None:
    """What to print for ``exc`` (exit status 1), or None for an exception that is a bug."""
    if isinstance(exc, BustaError):
        return _busta(exc)
    if isinstance(exc, ImportError):
        return Said(_missing_extra(exc) or str(exc))
    if isinstance(exc, OSError):
        return Said(_os_error_text(exc))
    code = _botocore_code(exc)
    if code is None:
        return None
    text = str(exc)
    return Said(f"{text}; {hint_for(code, text)}" if text else hint_for(code))
