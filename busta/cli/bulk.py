"""``busta bulk encrypt|decrypt|rewrap SRC DST``: :func:`busta.bulk.run` from the command line."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._text import printable
from ..errors import UsageError
from ..keyconfig import KeyringConfig, LocalKey, Multi
from ..keyrings.kinds import kms_key
from .aws import boto3_session, region
from .errors import CliError, CliUsageError
from .hints import cli_words
from .keys import config_for
from .outputs import local_output
from .progress import bulk_line, shown

__all__ = ["run_bulk"]


def _new_keys(args: argparse.Namespace) -> KeyringConfig | None:
    configs: list[KeyringConfig] = [LocalKey(path) for path in args.new_key_file]
    configs += [_new_kms_key(value, args) for value in args.new_kms_key]
    if args.operation != "rewrap":
        if configs:
            raise CliUsageError("--new-key-file and --new-kms-key are for rewrap")
        return None
    if not configs:
        raise CliUsageError("rewrap needs the new keys: --new-key-file PATH or --new-kms-key ARN")
    return configs[0] if len(configs) == 1 else Multi(tuple(configs))


def _new_kms_key(value: str, args: argparse.Namespace) -> KeyringConfig:
    """A --new-kms-key: any KMS identifier (it only encrypts), with --aws-profile and --grant-token."""
    try:
        return kms_key(value, vars(args), encrypting=True, flag="--new-kms-key")
    except UsageError as exc:
        raise CliUsageError(str(exc)) from None


@contextlib.contextmanager
def _client(args: argparse.Namespace) -> Iterator[Any]:
    """A Dask client: the given scheduler's, a local cluster of --workers processes, or None (the default)."""
    if args.scheduler is None and args.workers is None:
        yield None
        return
    if args.workers is not None and args.workers < 1:
        raise CliUsageError("--workers must be at least 1")
    from ..bulk import local_client  # noqa: PLC0415

    if args.scheduler is None:
        with local_client(args.workers) as client:
            _announce(client, args, local=True)
            yield client
        return
    distributed: Any = importlib.import_module("distributed")
    with distributed.Client(args.scheduler) as client:
        _announce(client, args, local=False)
        yield client


def _announce(client: Any, args: argparse.Namespace, *, local: bool) -> None:
    """One line, once the cluster is up, when progress is shown: where its dashboard is. A local
    cluster serves none (its HTTP server is outside TLS: docs/bulk.md), and the line says so."""
    if not shown(args.quiet):
        return
    try:
        address = str(client.scheduler.address)
        served = not local and "dashboard" in client.scheduler_info().get("services", {})
        link = str(client.dashboard_link) if served else None
    except Exception:  # a line of information is not worth failing the job for
        return
    where = f"Dask dashboard: {link}" if link else "no Dask dashboard (it would be outside TLS: docs/bulk.md)"
    what = f"local Dask cluster of {args.workers} worker{'' if args.workers == 1 else 's'}" if local else "scheduler"
    print(printable(f"busta: {what} at {address}; {where}"), file=sys.stderr, flush=True)


def run_bulk(args: argparse.Namespace) -> None:
    """Run the job; print its summary and each failure; exit status 1 if any object failed."""
    from ..bulk import S3Settings, run  # noqa: PLC0415

    keyring = config_for(args, encrypting=args.operation == "encrypt")
    if args.aws_profile is not None:
        boto3_session(args)  # a profile that does not exist fails before the job, naming it
    new_keyring = _new_keys(args)
    s3 = S3Settings(endpoint_url=args.aws_endpoint_url, region=region(args), profile=args.aws_profile)
    with _client(args) as client, bulk_line(args.quiet) as progress:
        try:
            report = run(
                args.operation,
                args.source,
                args.dest,
                keyring=keyring,
                new_keyring=new_keyring,
                client=client,
                s3=s3,
                encryption_context=dict(args.context),
                algorithm=args.algorithm,
                frame_length=args.frame_length,
                suffix=args.suffix,
                overwrite=args.overwrite,
                progress=progress,
            )
        except UsageError as exc:  # refused before any object (SRC and DST overlap, say): status 2
            if isinstance(exc.__cause__, ImportError):  # not the options: an extra is missing (status 1)
                raise
            raise CliUsageError(str(exc)) from exc
    if args.report:
        with local_output(Path(args.report), force=True, mode=0o644) as out:
            out.write(report.to_json().encode("utf-8"))
    print(printable(report.summary()))
    for failure in report.failures:  # the source is an S3 key or a name in a tree: escaped
        error = cli_words(str(failure.error))
        print(f"failed: {printable(str(failure.source))}: {printable(error)}", file=sys.stderr)
    if not report.ok:
        raise CliError(f"{len(report.failures)} of {len(report.results)} objects failed")
