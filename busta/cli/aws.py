"""The AWS settings the CLI passes to boto3 (see "AWS settings from the environment" in docs/cli.md)."""

from __future__ import annotations

import argparse
import os

__all__ = ["region"]


def region(args: argparse.Namespace) -> str | None:
    """``--aws-region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``; None leaves the choice to
    botocore (the profile's region, then its default). botocore itself reads only AWS_DEFAULT_REGION:
    the CLI reads AWS_REGION too, as the other AWS SDKs do."""
    return args.aws_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
