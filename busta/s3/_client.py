"""The boto3 S3 client a transfer uses when it is given none: one made from the environment, as boto3 makes it."""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from ..errors import S3Error

__all__ = ["s3_client"]


def s3_client(client: Any, bucket: str, key: str) -> Any:
    """``client``, or for None a new ``boto3`` S3 client configured from the environment.

    The new client is what ``boto3.client("s3")`` makes, from a session of its own (boto3's
    default session is not safe to share between threads): region, credentials, profile and
    endpoint come from the environment and the config files, including ``AWS_ENDPOINT_URL_S3``
    and ``AWS_ENDPOINT_URL``. It is made on each call that needs it; pass ``client=`` to reuse one.
    A failure to make it (an unknown profile, say) is an :class:`~busta.errors.S3Error`.
    """
    if client is not None:
        return client
    import boto3.session  # noqa: PLC0415 - only when no client is given

    try:
        return boto3.session.Session().client("s3")
    except botocore.exceptions.BotoCoreError as exc:
        raise S3Error("CreateClient", type(exc).__name__, bucket, key, str(exc)) from exc
