"""A real ``distributed.LocalCluster`` of worker processes on 127.0.0.1, for bulk-job tests.

Worker processes inherit the environment as it is when they start, so the
variables a job's workers need (AWS credentials for moto, keys named by
``EnvKey`` descriptions) go into ``os.environ`` before the cluster starts;
``os.environ`` is restored when the cluster stops. Nothing here generates keys
at import time: a spawned worker process re-imports modules, and would
generate different ones.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import dask

from busta import bulk

from .moto_server import ACCESS_KEY, DEFAULT_REGION, SECRET_KEY

__all__ = [
    "aws_environment",
    "call_with_timeout",
    "client_credentials",
    "group_alive",
    "kill_group",
    "local_cluster",
    "worker_pids",
]

T = TypeVar("T")


def aws_environment() -> dict[str, str]:
    """Credentials and region for moto; nothing that could reach real AWS."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@contextmanager
def local_cluster(environment: Mapping[str, str], *, workers: int = 2) -> Iterator[Any]:
    """A ``distributed.Client`` of ``workers`` single-threaded worker processes started with ``environment``."""
    saved = dict(os.environ)
    os.environ.update(environment)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    try:
        with bulk.local_client(workers) as client:
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def client_credentials(client: Any) -> Iterator[None]:
    """Dask's configuration set to ``client``'s TLS credentials, so that a bare
    ``distributed.Client(address)`` (the CLI's ``--scheduler``) can reach its cluster."""
    security = client.security
    with dask.config.set(
        {
            "distributed.comm.tls.ca-file": security.tls_ca_file,
            "distributed.comm.tls.client.cert": security.tls_client_cert,
            "distributed.comm.tls.client.key": security.tls_client_key,
            "distributed.comm.require-encryption": True,
        }
    ):
        yield


def worker_pids(client: Any) -> dict[str, int]:
    """Each worker's address and the process id it runs in."""
    return {str(address): int(pid) for address, pid in client.run(os.getpid).items()}


def call_with_timeout(timeout: float, function: Callable[[], T]) -> T:
    """``function()``, failing with TimeoutError if it has not returned within ``timeout`` seconds."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    thread = threading.Thread(target=target, daemon=True, name="bounded-call")
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"no answer within {timeout} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    result: T = value
    return result


def group_alive(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (zombies, already dead, do not count)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group (nothing if it is gone already)."""
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
