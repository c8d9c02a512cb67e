"""Issue 14, item 10: the Dask cluster a bulk job starts for itself lets in only that job.

A ``LocalCluster`` without ``security=`` listens on loopback TCP with no
authentication, so any local user could connect and run code in the workers
(reading their keys, PINs and credentials). What is proven here, against a real
cluster of worker processes on 127.0.0.1:

- the cluster a job starts (``bulk.local_client``, which ``bulk.run`` uses when it
  is given no client) speaks only ``tls://``, on its scheduler and every worker; its
  scheduler's HTTP server (outside TLS) is on 127.0.0.1 and serves only ``/health``;
- a plain TCP client, a TLS client that offers no certificate, and a Dask client
  holding another cluster's credentials are all refused; the job's own client works;
- a job given a client that reaches its scheduler without mutual TLS warns
  (:class:`busta.bulk.InsecureClusterWarning`) and still runs; a job on a
  secured cluster does not warn.
"""

from __future__ import annotations

import base64
import importlib
import os
import socket
import ssl
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import bulk
from busta.bulk import job as bulk_job
from busta.keyconfig import EnvKey
from busta.keyrings import RawAesKeyring

from ..support.dask_cluster import call_with_timeout, local_cluster

distributed: Any = importlib.import_module("distributed")  # untyped: through Any
REFUSED = (OSError, distributed.comm.core.CommClosedError)

NAMESPACE, NAME = "cluster-security", "key"
VARIABLE = "BUSTA_TEST_CLUSTER_SECURITY_KEY"
TIMEOUT = 60.0


@pytest.fixture(scope="module")
def key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="module")
def secured(key: bytes) -> Iterator[Any]:
    """The cluster a job starts for itself (one worker process), as ``bulk.local_client`` builds it."""
    with local_cluster({VARIABLE: base64.b64encode(key).decode()}, workers=1) as client:
        yield client


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.partition("://")[2].rpartition(":")
    return host, int(port)


def listening_addresses(client: Any) -> list[str]:
    """The scheduler's address and every worker's."""
    return [client.scheduler.address, *client.scheduler_info()["workers"]]


def tls_without_certificate(address: str) -> None:
    """Open TLS to ``address`` offering no client certificate (and trusting any server), then talk;
    returns only if the other side answered."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(host_port(address), timeout=5) as raw, context.wrap_socket(raw) as tls:
        tls.sendall(b"\x00" * 64)
        if not tls.recv(64):
            raise ConnectionError("closed")


def intrude(address: str, security: Any = None) -> None:
    """Connect a Dask client to ``address`` and run a task on the cluster."""
    with distributed.Client(address, security=security, timeout="5s") as intruder:
        intruder.submit(os.getpid).result(timeout=5)


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def small_source(tmp_path: Path) -> Path:
    source = tmp_path / "plain"
    source.mkdir()
    for i in range(3):
        (source / f"f{i}.txt").write_bytes(os.urandom(100 * i))
    return source


@contextmanager
def unsecured_cluster() -> Iterator[Any]:
    """A cluster as bulk jobs used to start it: loopback TCP, no security (in-process workers: cheap)."""
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


# --------------------------------------------------------------------------- the job's own cluster


def test_the_cluster_a_job_starts_listens_only_on_tls_on_its_scheduler_and_every_worker(secured: Any) -> None:
    addresses = listening_addresses(secured)
    assert len(addresses) == 2
    assert all(address.startswith("tls://127.0.0.1:") for address in addresses), addresses
    assert secured.submit(int, "41", pure=False).result(timeout=TIMEOUT) == 41  # its own client gets in


def test_the_schedulers_http_server_listens_on_loopback_and_serves_only_its_health(secured: Any) -> None:
    port = secured.scheduler_info()["services"]["dashboard"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        assert answer.read() == b"ok"
    for path in ("/status", "/info/main/workers.html", "/json/identity.json", "/metrics"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(f"http://127.0.0.1:{port}{path}", timeout=5)
        assert refused.value.code == 404, path
    listening = [s.getsockname()[0] for s in secured.cluster.scheduler.http_server._sockets.values()]
    assert listening == ["127.0.0.1"]


def test_a_plain_tcp_client_is_refused_by_the_scheduler(secured: Any) -> None:
    plain = secured.scheduler.address.replace("tls://", "tcp://")
    with pytest.raises(REFUSED):
        intrude(plain)


def test_a_tls_client_without_a_certificate_is_refused_by_the_scheduler_and_every_worker(secured: Any) -> None:
    for address in listening_addresses(secured):
        assert address.startswith("tls://")
        with pytest.raises(OSError):  # the alert "certificate required", or the connection closed on us
            tls_without_certificate(address)


def test_a_dask_client_with_another_clusters_credentials_is_refused(secured: Any) -> None:
    other = distributed.security.Security.temporary()
    with pytest.raises(REFUSED):
        intrude(secured.scheduler.address, other)


def test_bulk_run_without_a_client_runs_on_a_cluster_it_secured_itself(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = bulk_job.local_client

    @contextmanager
    def spying(workers: int | None = None) -> Iterator[Any]:
        with real(1) as client:  # one worker: the machine is shared
            seen.append(client.scheduler.address)
            tls_refused = False
            try:
                tls_without_certificate(client.scheduler.address)
            except OSError:
                tls_refused = True
            assert tls_refused
            yield client

    monkeypatch.setattr(bulk_job, "local_client", spying)
    monkeypatch.setenv(VARIABLE, base64.b64encode(key).decode())
    source = small_source(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bulk.InsecureClusterWarning)
        report = call_with_timeout(
            TIMEOUT,
            lambda: bulk.run("encrypt", str(source), str(tmp_path / "enc"), keyring=EnvKey(VARIABLE, NAMESPACE, NAME)),
        )
    assert report.ok, report.failures
    assert len(seen) == 1 and seen[0].startswith("tls://")
    keyring = RawAesKeyring(NAMESPACE, NAME, key)
    encrypted = tree(tmp_path / "enc")
    assert {n: busta.decrypt(encrypted[f"{n}.enc"], keyring=keyring).plaintext for n in tree(source)} == tree(source)


# --------------------------------------------------------------------------- a cluster the user passes in


def test_a_job_given_a_client_that_reaches_its_scheduler_without_tls_warns_and_still_runs(
    tmp_path: Path, key: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, base64.b64encode(key).decode())  # in-process workers read it here
    source = small_source(tmp_path)
    with unsecured_cluster() as client:
        assert client.scheduler.address.startswith("tcp://")
        with pytest.warns(bulk.InsecureClusterWarning, match=r"tcp://127\.0\.0\.1:\d+ is reached without TLS"):
            report = bulk.run(
                "encrypt", str(source), str(tmp_path / "enc"), keyring=EnvKey(VARIABLE, NAMESPACE, NAME), client=client
            )
    assert report.ok, report.failures
    assert report.count("done") == 3


def test_a_tls_client_without_a_client_certificate_is_warned_about() -> None:
    class Scheduler:
        address = "tls://scheduler.example:8786"

    class TlsWithoutCertificate:
        scheduler = Scheduler()
        security = distributed.security.Security(tls_ca_file="ca.pem", require_encryption=True)

    with pytest.warns(bulk.InsecureClusterWarning, match="without a client certificate"):
        bulk_job.warn_if_unauthenticated(TlsWithoutCertificate())


def test_a_job_on_a_secured_cluster_passed_in_does_not_warn(secured: Any, tmp_path: Path) -> None:
    source = small_source(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bulk.InsecureClusterWarning)
        report = call_with_timeout(
            TIMEOUT,
            lambda: bulk.run(
                "encrypt", str(source), str(tmp_path / "enc"), keyring=EnvKey(VARIABLE, NAMESPACE, NAME), client=secured
            ),
        )
    assert report.ok, report.failures
