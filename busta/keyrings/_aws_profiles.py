"""Named AWS profiles (``--aws-profile``) and the region a command line's KMS calls go to.

A profile is a section of the AWS config file (``~/.aws/config``, or ``AWS_CONFIG_FILE``) or of the
shared credentials file (``~/.aws/credentials``, or ``AWS_SHARED_CREDENTIALS_FILE``). botocore is
imported only when one is asked for.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError

__all__ = ["aws_region", "profile_session", "resolved_region"]


def aws_region(option: str | None) -> str | None:
    """The region a command line asks for: ``option`` (``--aws-region``), else ``AWS_REGION``, else
    ``AWS_DEFAULT_REGION``; None leaves the choice to botocore (the profile's region, then its default).
    botocore itself reads only AWS_DEFAULT_REGION: AWS_REGION is read here too, as the other AWS SDKs do."""
    return option or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def profile_session(profile: str | None) -> Any:
    """A botocore session of the named ``profile`` (None: the default, or ``AWS_PROFILE``'s); a
    :class:`UsageError` naming the profile when neither AWS file has it or the files cannot be read."""
    import botocore.exceptions  # noqa: PLC0415 - botocore only when AWS is used
    import botocore.session  # noqa: PLC0415

    if profile is not None and (not isinstance(profile, str) or not profile):
        raise UsageError("--aws-profile needs a profile name")
    session = botocore.session.Session(profile=profile)
    try:
        name = session.profile  # the given one, else AWS_PROFILE's, else None
        if name is not None and name not in session.available_profiles:
            flag = "--aws-profile" if profile is not None else "AWS_PROFILE"
            raise UsageError(f"{flag} {name:.200}: no such profile in the AWS config or credentials files")
    except botocore.exceptions.BotoCoreError as exc:  # a config file that does not parse
        raise UsageError(f"the AWS config files cannot be read: {exc}") from None
    return session


def resolved_region(option: str | None, profile: str | None) -> str | None:
    """``--aws-region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's ``region``."""
    import botocore.exceptions  # noqa: PLC0415

    found = aws_region(option)
    if found:
        return found
    try:
        region = profile_session(profile).get_config_variable("region")
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"the AWS config files cannot be read: {exc}") from None
    return str(region) if region else None
