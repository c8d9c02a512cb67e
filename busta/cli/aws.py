"""The AWS settings the CLI passes to boto3 (see "AWS settings from the environment" in docs/cli.md)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import UsageError
from ..keyrings.kinds import aws_region, profile_session
from .errors import CliUsageError

__all__ = ["boto3_session", "region"]


def region(args: argparse.Namespace) -> str | None:
    """The region of ``--aws-region``, ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (:func:`aws_region`)."""
    return aws_region(args.aws_region)


def boto3_session(args: argparse.Namespace) -> Any:
    """A boto3 session of ``--aws-profile`` (default: boto3's own choice, ``AWS_PROFILE``'s); a profile
    that does not exist is a usage error naming it."""
    import boto3  # noqa: PLC0415 - only when AWS is used

    profile = getattr(args, "aws_profile", None)
    if profile is None:
        return boto3.session.Session()
    try:
        return boto3.session.Session(botocore_session=profile_session(profile))
    except UsageError as exc:
        raise CliUsageError(str(exc)) from None
