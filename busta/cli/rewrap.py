"""``busta rewrap INPUT [-o OUTPUT]``: one message's data key wrapped for new keys, its body kept.

The old keys are the usual key options; the new ones are ``--new-key-file`` and
``--new-kms-key``, read as ``busta bulk rewrap`` reads them. Only the header is
rewritten (:mod:`busta.rewrap`): the data key, message id and every body byte stay, and
the new wrapped copies replace all the old ones, so the output no longer opens with a
key that is not among the new keys. A signed message cannot be rewrapped (its footer
signs the header) and is refused.

- A file (or stdin) is copied into a new file that appears only after every body byte
  authenticated under the data key (:class:`busta.rewrap.CheckedCopy`); without ``-o``
  the file is replaced in place, atomically.
- An S3 object is rewritten by :func:`busta.s3.rewrap_object`, in place or to ``-o
  s3://bucket/key``: the new header is uploaded and S3 copies the body, never downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..api import Client
from ..errors import TruncatedMessageError
from ..materials import Keyring
from ..rewrap import CheckedCopy, rewrap_header
from .bulk import _new_keys
from .commands import _S3, _client, _s3_exists
from .errors import CliError, CliUsageError
from .files import Location, S3Uri, Stdio, parse_location
from .headerinfo import read_head
from .keys import keyring_for
from .outputs import TERMINAL_REFUSED, check_output, local_output

__all__ = ["run_rewrap"]

#: Body bytes copied (and authenticated) per step.
_COPY_BYTES = 1 << 20


def _destination(args: argparse.Namespace, source: Location) -> Location:
    """``-o``, or the input itself (stdout for stdin); S3 goes only to S3, a file only to a file or stdout."""
    if args.output is None:
        return source
    dest = parse_location(args.output)
    if isinstance(source, S3Uri) != isinstance(dest, S3Uri):
        raise CliUsageError("rewrap writes an S3 object to S3 and a file to a file or '-'; download or upload apart")
    return dest


def run_rewrap(args: argparse.Namespace) -> None:
    source = parse_location(args.input)
    dest = _destination(args, source)
    sdk = _client(args)
    new_config = _new_keys(args)
    assert new_config is not None  # rewrap: _new_keys refuses an empty list
    keyring = keyring_for(args, encrypting=False)
    new_keyring = new_config.build()
    if isinstance(source, S3Uri):
        assert isinstance(dest, S3Uri)
        _rewrap_object(source, dest, keyring, new_keyring, args=args, sdk=sdk)
    else:
        assert not isinstance(dest, S3Uri)
        _rewrap_stream(source, dest, keyring, new_keyring, args=args, sdk=sdk)


def _rewrap_object(
    source: S3Uri, dest: S3Uri, keyring: Keyring, new_keyring: Keyring, *, args: argparse.Namespace, sdk: Client
) -> None:
    from .. import s3 as busta_s3  # noqa: PLC0415 - boto3 only when S3 is used

    s3 = _S3(args)
    if dest != source and not args.force and _s3_exists(dest, s3):
        raise CliError(f"{dest}: already exists (pass --force to replace it)")
    busta_s3.rewrap_object(
        source.bucket,
        source.key,
        client=s3(),
        keyring=keyring,
        new_keyring=new_keyring,
        dest_bucket=dest.bucket,
        dest_key=dest.key,
        encryption_context=dict(args.context) or None,
        sdk=sdk,
    )


@contextlib.contextmanager
def _opened(location: Path | Stdio) -> Iterator[IO[bytes]]:
    if isinstance(location, Stdio):
        yield sys.stdin.buffer
    else:
        with location.open("rb") as f:
            yield f


@contextlib.contextmanager
def _output(dest: Path | Stdio, *, in_place: bool, force: bool) -> Iterator[IO[bytes]]:
    """Standard output, or a file that appears only on success; in place, it replaces the input and keeps
    its permission bits (a new file is mode 0600)."""
    if isinstance(dest, Stdio):
        if sys.stdout.isatty() and not force:
            raise CliError(TERMINAL_REFUSED)
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    mode = dest.stat().st_mode & 0o777 if in_place else 0o600
    with local_output(dest, force=force or in_place, mode=mode) as out:
        yield out


def _rewrap_stream(
    source: Path | Stdio,
    dest: Path | Stdio,
    keyring: Keyring,
    new_keyring: Keyring,
    *,
    args: argparse.Namespace,
    sdk: Client,
) -> None:
    in_place = isinstance(source, Path) and isinstance(dest, Path) and dest.exists() and dest.samefile(source)
    if isinstance(dest, Path) and not in_place:
        check_output(dest, force=args.force, within=None)
    if in_place and args.output is not None and not args.force:
        raise CliError(f"{dest}: is the input (leave out -o to rewrap it in place)")
    with _opened(source) as src:
        data, parsed = read_head(src, max_header_bytes=sdk.max_header_bytes)
        rewrapped = rewrap_header(
            data, keyring=keyring, new_keyring=new_keyring, encryption_context=dict(args.context) or None, sdk=sdk
        )
        if rewrapped is None:  # read_head returned a whole header
            raise TruncatedMessageError("the message ends inside its header")
        with _output(dest, in_place=in_place, force=args.force) as out:
            checked = CheckedCopy(rewrapped, out, sdk=sdk)  # nothing is committed unless the body authenticates
            checked.write(data[parsed.length :])
            shutil.copyfileobj(src, checked, _COPY_BYTES)
            checked.finish()
