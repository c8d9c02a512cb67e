"""The AWS settings the CLI passes to boto3 (see "AWS settings from the environment" in docs/cli.md)."""

from __future__ import annotations

import argparse

from ..keyrings.kinds import aws_region

__all__ = ["region"]


def region(args: argparse.Namespace) -> str | None:
    """The region of ``--aws-region``, ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` (:func:`aws_region`)."""
    return aws_region(args.aws_region)
