"""The driver of a bulk job: list the sources, run one Dask task per object, collect the report."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Final

from .._frozen import record
from ..api import Client, client_or_default
from ..errors import BustaError, UsageError
from ..keyconfig import KeyringConfig
from ..limits import S3_DEFAULT_PART_SIZE, S3_MIN_PART_SIZE
from ..suites import AlgorithmSuite
from . import split
from .places import S3Settings, Source, parse_place
from .plan import plan_destinations
from .spec import DEFAULT_SPLIT_PART_SIZE, JobSpec, ObjectResult, Operation
from .tasks import error_text, failure, process_object

__all__ = ["BulkReport", "InsecureClusterWarning", "Progress", "local_client", "run"]

#: At most this many tasks wait on the scheduler at once (a prefix may hold millions of objects).
MAX_IN_FLIGHT: Final = 10_000
#: All that the HTTP server of a job's own scheduler serves (it is outside TLS: no dashboard, no task names).
_HTTP_ROUTES: Final = ("distributed.http.health",)


class InsecureClusterWarning(UserWarning):
    """The Dask client a job was given talks to its scheduler without mutual TLS: anyone who can
    reach the scheduler can run code in the workers, with their keys, PINs and credentials."""


@record
class Progress:
    """How far a job has got (passed to the ``progress`` callback after each object)."""

    objects_total: int
    objects_finished: int
    objects_failed: int
    objects_skipped: int
    bytes_read: int


@record
class BulkReport:
    """Every object's outcome. ``ok`` is True only if none failed."""

    operation: str
    source: str
    dest: str
    results: tuple[ObjectResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    def count(self, status: str) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def failures(self) -> list[ObjectResult]:
        return [result for result in self.results if not result.ok]

    def methods(self) -> dict[str, int]:
        """How many objects went each way (``rewrapped`` vs ``re-encrypted`` for a rewrap)."""
        counts: dict[str, int] = {}
        for result in self.results:
            if result.status == "done":
                counts[result.method] = counts.get(result.method, 0) + 1
        return counts

    def summary(self) -> str:
        done, skipped, failed = self.count("done"), self.count("skipped"), self.count("failed")
        read = sum(result.bytes_read for result in self.results)
        ways = ", ".join(f"{n} {way}" for way, n in sorted(self.methods().items()))
        return (
            f"{self.operation} {self.source} -> {self.dest}: {len(self.results)} objects, {done} done"
            f"{f' ({ways})' if ways else ''}, {skipped} skipped, {failed} failed;"
            f" {read} bytes read in {self.seconds:.1f} s"
        )

    def to_json(self) -> str:
        body = {
            "operation": self.operation,
            "source": self.source,
            "dest": self.dest,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "objects": [asdict(result) for result in self.results],
        }
        return json.dumps(body, indent=2)


def run(
    operation: Operation | str,
    source: str,
    dest: str,
    *,
    keyring: KeyringConfig,
    new_keyring: KeyringConfig | None = None,
    client: Any = None,
    sdk: Client | None = None,
    s3: S3Settings | None = None,
    encryption_context: Mapping[str, str] | None = None,
    algorithm: AlgorithmSuite | int | None = None,
    frame_length: int | None = None,
    suffix: str = ".enc",
    overwrite: bool = False,
    part_size: int = S3_DEFAULT_PART_SIZE,
    split_part_size: int = DEFAULT_SPLIT_PART_SIZE,
    progress: Callable[[Progress], None] | None = None,
) -> BulkReport:
    """Encrypt, decrypt or rewrap every object under ``source`` into ``dest``, one Dask task per object.

    ``source`` and ``dest`` are ``s3://bucket/prefix`` or directories (every
    worker must see the same directories). ``keyring`` and ``new_keyring`` are
    :mod:`busta.keyconfig` descriptions, rebuilt on each worker. ``sdk`` is the
    :class:`busta.Client` whose policy and limits every task applies (default
    ``busta.Client()``; a task runs on one thread). ``client`` is a
    ``distributed.Client``; without one a LocalCluster of one single-threaded
    worker process per core runs for the duration of the call. Objects already
    done by an earlier run are skipped; failures are reported per object and
    never stop the job. Objects of at least twice ``split_part_size`` bytes
    written to S3 are split into one task per part of that size when their
    frames can be handled apart (decrypting an unsigned message, or encrypting
    with an unsigned ``algorithm`` such as 0x0478). See docs/bulk.md.
    """
    op = _operation(operation)
    _check_configs(keyring, new_keyring, rewrap=op is Operation.REWRAP)
    src, dst = parse_place(source), parse_place(dest)
    if src.contains(dst) or dst.contains(src):
        raise UsageError(f"source {src} and destination {dst} overlap; write to a separate prefix or directory")
    for name, size in (("part_size", part_size), ("split_part_size", split_part_size)):
        if size < S3_MIN_PART_SIZE:
            raise UsageError(f"{name} must be at least {S3_MIN_PART_SIZE} bytes (S3's smallest part)")
    job = JobSpec(
        op,
        src,
        dst,
        keyring,
        new_keyring,
        encryption_context=tuple(sorted((encryption_context or {}).items())),
        algorithm=algorithm.id if isinstance(algorithm, AlgorithmSuite) else algorithm,
        frame_length=frame_length,
        suffix=suffix,
        overwrite=overwrite,
        s3=s3 or S3Settings(),
        part_size=part_size,
        split_part_size=split_part_size,
        sdk=client_or_default(sdk),
    )
    _check_sendable(job)
    began = time.perf_counter()
    sources, refused = plan_destinations(job, job.source.list(job.s3))  # raises on colliding destinations
    if client is not None:
        warn_if_unauthenticated(client)
    with _dask_client(client) as dask:
        results = (*refused, *_run_tasks(dask, job, sources, progress, refused))
    return BulkReport(job.operation.value, str(job.source), str(job.dest), results, time.perf_counter() - began)


def _operation(operation: Operation | str) -> Operation:
    try:
        return Operation(operation)
    except ValueError:
        raise UsageError(f"operation must be one of {[o.value for o in Operation]}, not {operation!r}") from None


def _check_configs(keyring: KeyringConfig, new_keyring: KeyringConfig | None, *, rewrap: bool) -> None:
    for what, config in (("keyring", keyring), ("new_keyring", new_keyring)):
        if config is not None and not isinstance(config, KeyringConfig):
            raise UsageError(
                f"{what} must describe the keyring, not be one: keyrings hold keys and cannot travel to workers;"
                " pass an busta.keyconfig description such as LocalKey(path), EnvKey(variable, namespace, name),"
                " KmsKey(arn) or Pkcs11Key(...)"
            )
    if rewrap != (new_keyring is not None):
        raise UsageError("new_keyring is for rewrap, and rewrap needs it")


def _check_sendable(job: JobSpec) -> None:
    """Fail now, not on the workers, if the job cannot be pickled (a keyring inside a Multi, say)."""
    try:
        pickle.dumps(job)
    except BustaError:
        raise
    except Exception as exc:
        raise UsageError(f"the job cannot be sent to workers: {exc}") from exc


def _distributed() -> Any:
    """dask.distributed, imported only when a job runs (``pip install "busta[bulk]"``)."""
    try:
        return importlib.import_module("distributed")
    except ImportError as exc:
        raise UsageError('bulk jobs need dask.distributed: pip install "busta[bulk]"') from exc


def _dask() -> Any:
    return importlib.import_module("dask")


@contextmanager
def local_client(workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` of a LocalCluster on 127.0.0.1, closed on exit: ``workers``
    single-threaded worker processes (default: one per core). They inherit ``os.environ`` as it is now.

    The cluster speaks TLS with mutual authentication under a CA, certificate and key made for
    this cluster alone (``Security.temporary()``, held in memory and handed to the workers it
    spawns), so no other process on the machine can connect to its scheduler or workers; it
    serves no dashboard.
    """
    if workers is not None and workers < 1:
        raise UsageError("a local cluster needs at least one worker")
    distributed = _distributed()
    security = distributed.security.Security.temporary()
    with (
        _dask().config.set({"distributed.scheduler.http.routes": list(_HTTP_ROUTES)}),
        distributed.LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls://",
            security=security,
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        distributed.Client(cluster, security=security) as client,
    ):
        yield client


def warn_if_unauthenticated(client: Any) -> None:
    """Warn (:class:`InsecureClusterWarning`) unless ``client`` reaches its scheduler over TLS with a
    client certificate, or in-process. A scheduler that lets a client in without a certificate lets
    anyone in; whether it demands one cannot be seen from here, so docs/bulk.md says what it must do."""
    address = str(getattr(getattr(client, "scheduler", None), "address", "") or "")
    if address.startswith("inproc://"):
        return
    security = getattr(client, "security", None)
    has_cert = security is not None and bool(
        getattr(security, "tls_client_cert", None) or getattr(security, "tls_cert", None)
    )
    if address.startswith("tls://") and has_cert:
        return
    reason = "without a client certificate" if address.startswith("tls://") else "without TLS"
    warnings.warn(
        f"the Dask scheduler {address or '(unknown address)'} is reached {reason}: unless it authenticates"
        " every connection, anyone who can reach it can run code in the workers with this job's keys"
        " (see docs/bulk.md, 'Running on a cluster')",
        InsecureClusterWarning,
        stacklevel=3,
    )


@contextmanager
def _dask_client(client: Any) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    with local_client() as own:
        yield own


def _run_tasks(
    dask: Any,
    job: JobSpec,
    sources: list[Source],
    progress: Callable[[Progress], None] | None,
    refused: list[ObjectResult],
) -> Iterator[ObjectResult]:
    """Each source's result as its task finishes (``refused``: objects failed already, counted first)."""
    pending = iter(sources)
    owner: dict[Any, Source] = {}

    def submit(count: int) -> list[Any]:
        futures = []
        for item in (next(pending, None) for _ in range(count)):
            if item is None:
                break
            if split.splittable(job, item):
                future = split.submit(dask, job, item)
            else:
                future = dask.submit(process_object, job, item, pure=False)
            owner[future] = item
            futures.append(future)
        return futures

    total, failed, skipped, read = len(sources) + len(refused), len(refused), 0, 0
    if progress is not None:
        for finished in range(1, len(refused) + 1):
            progress(Progress(total, finished, finished, 0, 0))
    queue = _distributed().as_completed(submit(MAX_IN_FLIGHT))
    for finished, future in enumerate(queue, start=len(refused) + 1):
        item = owner.pop(future)
        result = _outcome(job, item, future)
        failed += not result.ok
        skipped += result.status == "skipped"
        read += result.bytes_read
        if progress is not None:
            progress(Progress(total, finished, failed, skipped, read))
        for more in submit(1):
            queue.add(more)
        yield result


def _outcome(job: JobSpec, item: Source, future: Any) -> ObjectResult:
    """The task's result, or a failure if the task itself could not run (its workers kept dying)."""
    try:
        result: ObjectResult = future.result()
    except Exception as exc:
        return failure(job, item, error_text(exc))
    return result
