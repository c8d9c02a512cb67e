"""``busta branch-key create`` and ``busta branch-key version``: a branch key store's keys from the shell.

``create`` makes a branch key (``--create-table`` first makes the table if there is none) and
prints its id; ``version`` rotates one and prints the new version. Both need the store's KMS
key (``--branch-key-kms-key``): a discovery store cannot write.
"""

from __future__ import annotations

import argparse
from typing import Any

from .errors import CliUsageError

__all__ = ["add_branch_key_command", "run_branch_key"]


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, not {text!r}")
    return key, value


def _store_options(parser: argparse.ArgumentParser) -> None:
    store = parser.add_argument_group("branch key store")
    store.add_argument("--branch-key-table", required=True, metavar="TABLE", help="its DynamoDB table")
    store.add_argument("--branch-key-logical-name", metavar="NAME", help="logical key store name (default: the table)")
    store.add_argument("--branch-key-kms-key", required=True, metavar="ARN", help="the KMS key ARN that wraps its keys")
    store.add_argument("--kms-mrk", action="store_true", help="multi-Region-key aware (replicas of the key match)")
    store.add_argument("--grant-token", action="append", default=[], metavar="TOKEN", help="KMS grant token")
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--aws-endpoint-url", metavar="URL", help="endpoint for DynamoDB and KMS (a local test server)")
    aws.add_argument("--aws-region", metavar="REGION", help="region of the clients (default: the key's)")
    aws.add_argument("--aws-profile", metavar="NAME", help="named profile (~/.aws/config)")


def add_branch_key_command(sub: Any) -> None:
    text = "create and rotate branch keys of the AWS KMS hierarchical keyring"
    parser: argparse.ArgumentParser = sub.add_parser("branch-key", help=text, description=text, allow_abbrev=False)
    actions = parser.add_subparsers(dest="branch_key_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a branch key; print its id", allow_abbrev=False)
    create.add_argument("--branch-key-id", metavar="ID", help="the id (default: a new UUID; needs no --context)")
    create.add_argument(
        "--context", "-c", action="append", type=_pair, default=[], metavar="KEY=VALUE", help="bound to every version"
    )
    create.add_argument("--create-table", action="store_true", help="create the table first if it does not exist")
    _store_options(create)
    version = actions.add_parser("version", help="rotate a branch key; print the new version", allow_abbrev=False)
    version.add_argument("branch_key_id", metavar="ID", help="the branch key to rotate")
    _store_options(version)


def run_branch_key(args: argparse.Namespace) -> None:
    from ..keyrings.kinds_hierarchy import BranchKeyStoreConfig  # noqa: PLC0415
    from .hints import concerning  # noqa: PLC0415

    config = BranchKeyStoreConfig(
        args.branch_key_table,
        args.branch_key_logical_name or args.branch_key_table,
        args.branch_key_kms_key,
        mrk=args.kms_mrk,
        endpoint_url=args.aws_endpoint_url,
        region=args.aws_region,
        profile=args.aws_profile,
        grant_tokens=tuple(args.grant_token),
    )
    with concerning(f"branch key store {args.branch_key_table}"):
        store = config.build()
        if args.branch_key_action == "version":
            print(store.version_key(args.branch_key_id))
            return
        if args.create_table:
            store.create_key_store()
        context = dict(args.context)
        if len(context) != len(args.context):
            raise CliUsageError("--context names a key twice")
        print(store.create_key(args.branch_key_id, context if args.branch_key_id or context else None))
