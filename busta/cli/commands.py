"""The encrypt and decrypt commands: one job per file, each output committed only on success."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .._legacy import environ
from ..api import Client, StreamResult
from ..format import Header
from ..suites import CommitmentPolicy
from .armor import armored, unarmored
from .aws import boto3_session, region
from .compress import check_compress
from .errors import CliError, CliUsageError
from .files import Job, Location, S3Uri, Stdio, plan, refuse_collisions
from .headerinfo import describe
from .hints import concerning
from .keys import config_for
from .kms import Keys, keys_for, known_length
from .outputs import TERMINAL_REFUSED, NamedSink, check_output, local_output, naming_output
from .progress import PROGRESS_ENV, PROGRESS_MIN_BYTES, watched

__all__ = ["run_transfer"]


class _S3:
    """One boto3 S3 client, made on first use (boto3 is imported only then)."""

    def __init__(self, args: argparse.Namespace):
        self._args = args
        self._client: Any = None

    def __call__(self) -> Any:
        if self._client is None:
            session = boto3_session(self._args)  # --aws-profile's, else boto3's default
            endpoint = self._args.aws_endpoint_url
            self._client = session.client("s3", endpoint_url=endpoint, region_name=region(self._args))
        return self._client


@contextmanager
def _open_source(location: Location, s3: _S3) -> Iterator[tuple[IO[bytes], int | None]]:
    """The source stream and, when known, its size."""
    if isinstance(location, Stdio):
        yield sys.stdin.buffer, None
    elif isinstance(location, S3Uri):
        from .. import s3 as busta_s3  # noqa: PLC0415 - boto3 only when S3 is used

        body, length = busta_s3.open_object(location.bucket, location.key, client=s3())
        try:
            yield body, length
        finally:
            body.close()
    else:
        with location.open("rb") as f:
            yield f, os.fstat(f.fileno()).st_size


def _check_dest(job: Job, args: argparse.Namespace, s3: _S3) -> None:
    if isinstance(job.dest, Stdio):
        if sys.stdout.isatty() and not args.force and not _armoring(args):  # base64 text may go to a terminal
            raise CliError(TERMINAL_REFUSED)
    elif isinstance(job.dest, Path):
        check_output(job.dest, force=args.force, within=job.within)
        if isinstance(job.source, Path) and job.dest.exists() and job.dest.samefile(job.source):
            raise CliError(f"{job.dest}: is also the input")
    elif not args.force and _s3_exists(job.dest, s3):  # a failure names the object (_s3_exists)
        raise CliError(f"{job.dest}: already exists (pass --force to replace it)")


def _metadata(job: Job, operation: str, header: Header, length: int, seconds: float) -> str:
    info = describe(header)
    return json.dumps(
        {
            "input": str(job.source),
            "output": str(job.dest),
            "operation": operation,
            "suite": {"name": info["suite"]["name"], "id": info["suite"]["id"]},
            "message_id": info["message_id"],
            "encryption_context": info["encryption_context"],
            "keys": [
                {"provider_id": k["provider_id"], "provider_info": k["provider_info"]}
                for k in info["encrypted_data_keys"]
            ],
            "plaintext_bytes": length,
            "seconds": round(seconds, 6),
        },
        sort_keys=True,
    )


def _encrypt(
    job: Job, source: IO[bytes], keys: Keys, args: argparse.Namespace, s3: _S3, *, length: int | None
) -> tuple[Header, int]:
    context = dict(args.context)
    if isinstance(job.dest, S3Uri):
        from .. import s3 as busta_s3  # noqa: PLC0415

        # upload_fileobj reports no data keys: read the header back for the metadata line.
        result = busta_s3.upload_fileobj(
            source,
            job.dest.bucket,
            job.dest.key,
            client=s3(),
            sdk=_client(args),
            **keys.named(),
            encryption_context=context,
            algorithm=args.algorithm,
            frame_length=args.frame_length,
            plaintext_length=keys.length(length),
            compression="zstd" if args.compress else None,
        )
        header = _uploaded_header(job.dest, s3)
        return header, result.plaintext_length

    def encrypt(out: IO[bytes]) -> StreamResult:
        return _client(args).encrypt_stream(
            source,
            out,
            **keys.named(),
            encryption_context=context,
            algorithm=args.algorithm,
            frame_length=args.frame_length,
            plaintext_length=keys.length(length),
            compression="zstd" if args.compress else None,
        )

    return _to_local(job.dest, job.within, args.force, armored(encrypt) if args.armor else encrypt)


def _armoring(args: argparse.Namespace) -> bool:
    """Whether the command writes base64 text (encrypt --armor), not binary."""
    return args.command == "encrypt" and bool(args.armor)


def _to_local(
    dest: Path | Stdio, within: Path | None, force: bool, stream: Callable[[IO[bytes]], StreamResult]
) -> tuple[Header, int]:
    """Run ``stream`` into stdout, or into the local output ``dest`` (:func:`local_output`)."""
    if isinstance(dest, Stdio):
        stdout = NamedSink(sys.stdout.buffer, "standard output")
        streamed = stream(stdout)  # type: ignore[arg-type]
        stdout.flush()
    else:
        with contextlib.ExitStack() as output:
            out = output.enter_context(local_output(dest, force=force, within=within))
            streamed = stream(NamedSink(out, str(dest)))  # type: ignore[arg-type]
            with naming_output(str(dest)):
                output.close()  # commit the output: its errors name it, not the input
    return streamed.header, streamed.plaintext_length


def _uploaded_header(dest: S3Uri, s3: _S3) -> Header:
    """Read back the header of an object just uploaded: a GET read only as far as the header, then closed."""
    from .headerinfo import read_header  # noqa: PLC0415

    body = s3().get_object(Bucket=dest.bucket, Key=dest.key)["Body"]
    try:
        return read_header(body)
    finally:
        body.close()


def _s3_exists(dest: S3Uri, s3: _S3) -> bool:
    with concerning(dest):
        import botocore.exceptions  # noqa: PLC0415

        try:
            s3().head_object(Bucket=dest.bucket, Key=dest.key)
        except botocore.exceptions.ClientError:
            return False  # not there (or not visible): the upload will tell
        return True


def _decrypt_to_s3(dest: S3Uri, source: IO[bytes], keys: Keys, args: argparse.Namespace, s3: _S3) -> tuple[Header, int]:
    """Stream the plaintext into a multipart upload that is completed only once the whole message
    authenticated (and aborted otherwise): the plaintext never touches the local disk."""
    from .. import s3 as busta_s3  # noqa: PLC0415

    expected = dict(args.context) or None
    with busta_s3.object_writer(dest.bucket, dest.key, client=s3()) as plain:
        streamed = _client(args).decrypt_stream(
            source,
            plain,  # type: ignore[arg-type]
            **keys.named(),
            encryption_context=expected,
        )
        if not args.force and _s3_exists(dest, s3):  # checked before the job too; this narrows the window
            raise CliError(f"{dest}: already exists (pass --force to replace it)")
    return streamed.header, streamed.plaintext_length


def _decrypt(job: Job, source: IO[bytes], keys: Keys, args: argparse.Namespace, s3: _S3) -> tuple[Header, int]:
    if isinstance(job.dest, S3Uri):
        return _decrypt_to_s3(job.dest, source, keys, args, s3)
    expected = dict(args.context) or None
    client = _client(args)
    return _to_local(
        job.dest,
        job.within,
        args.force,
        lambda out: client.decrypt_stream(source, out, **keys.named(), encryption_context=expected),
    )


def _client(args: argparse.Namespace) -> Client:
    """The busta client of an encrypt or decrypt command: its policy and limits."""
    return Client(
        commitment_policy=CommitmentPolicy(args.commitment_policy),
        max_encrypted_data_keys=args.max_encrypted_data_keys,
        max_header_bytes=args.max_header_bytes,
        max_decompressed_bytes=getattr(args, "max_decompressed_bytes", None),
        refuse_signed=getattr(args, "decrypt_unsigned", False),
    )


def _progress_min_bytes() -> int:
    """Inputs larger than this get a progress line: BUSTA_PROGRESS_MIN_BYTES, else 8 MiB."""
    text = (environ(PROGRESS_ENV) or "").strip()
    if not text:
        return PROGRESS_MIN_BYTES
    try:
        value = int(text)
    except ValueError:
        raise CliUsageError(f"{PROGRESS_ENV} must be a whole number of bytes, not {text!r}") from None
    if value < 0:
        raise CliUsageError(f"{PROGRESS_ENV} must not be negative")
    return value


def _run_job(job: Job, keys: Keys, args: argparse.Namespace, s3: _S3) -> str:
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        raw, size = stack.enter_context(_open_source(job.source, s3))
        length = known_length(job.source, raw, size)
        label, limit = str(job.source), _progress_min_bytes()
        source = stack.enter_context(watched(raw, size, label, quiet=args.quiet, min_bytes=limit))
        if args.command == "encrypt":
            header, length = _encrypt(job, source, keys, args, s3, length=length)
        else:
            source = unarmored(source, str(job.source), decode=args.armor)
            header, length = _decrypt(job, source, keys, args, s3)
    return _metadata(job, args.command, header, length, time.monotonic() - started)


def run_transfer(args: argparse.Namespace) -> None:
    """encrypt / decrypt: plan every job, check every output, then run them in order (stop at the first failure)."""
    encrypting = args.command == "encrypt"
    if not args.suffix:
        raise CliUsageError("--suffix must not be empty")
    if "/" in args.suffix or os.sep in args.suffix or "\0" in args.suffix:
        raise CliUsageError("--suffix must not contain a path separator or NUL")
    _progress_min_bytes()  # a bad BUSTA_PROGRESS_MIN_BYTES fails before any work
    config = config_for(args, encrypting=encrypting)  # key options that make no sense fail before any input
    jobs = plan(args.inputs, args.output, encrypting=encrypting, recursive=args.recursive, suffix=args.suffix)
    if encrypting and args.compress:
        check_compress()
    if args.metadata_output == "-":
        if any(isinstance(job.dest, Stdio) for job in jobs):
            raise CliUsageError("--metadata-output - and -o - would both write to standard output")
    elif args.metadata_output:
        refuse_collisions(jobs, [Path(args.metadata_output)])
    if _armoring(args) and any(isinstance(job.dest, S3Uri) for job in jobs):
        raise CliUsageError("--armor writes files and standard output, not S3 objects")
    s3 = _S3(args)
    for job in jobs:
        _check_dest(job, args, s3)
    keys = keys_for(config.build(), args)  # one cache for every job
    for job in jobs:
        with concerning("standard input" if isinstance(job.source, Stdio) else job.source):  # names its input
            line = _run_job(job, keys, args, s3)
        if args.metadata_output == "-":
            print(line, flush=True)
        elif args.metadata_output:
            with open(args.metadata_output, "a", encoding="utf-8") as log:
                log.write(line + "\n")
