"""moto's server as a real separate process on 127.0.0.1, for KMS (and S3) tests over HTTP.

The child runs :mod:`tests.support.moto_launcher`, which patches moto's KMS
before serving (see that module for why). All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
DEFAULT_REGION = "us-west-2"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

RetryMode = Literal["legacy", "standard", "adaptive"]

# No proxy from the environment may carry this traffic anywhere but 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """A moto server in a child process; a context manager that starts and stops it.

    >>> with MotoServer() as server:
    ...     kms = server.client("kms", "us-west-2")
    """

    def __init__(
        self,
        *,
        start_timeout: float = 15.0,
        retry_mode: RetryMode = "standard",
        max_attempts: int = 2,
    ) -> None:
        self.start_timeout = start_timeout
        self.retry_mode: RetryMode = retry_mode
        self.max_attempts = max_attempts
        self.port = 0
        self.startup_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._tmpdir: str | None = None
        self._log_file: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("MotoServer is not started")
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._tmpdir is None:
            raise RuntimeError("MotoServer is not started")
        return Path(self._tmpdir) / "moto.log"

    @property
    def pid(self) -> int | None:
        """The server process's id while it runs (a benchmark reads its CPU time from /proc)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        if self._process is not None:
            raise RuntimeError("MotoServer already started")
        began = time.monotonic()
        self._tmpdir = tempfile.mkdtemp(prefix="busta-moto-")
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.port = free_port()
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=DEFAULT_REGION,
            PYTHONUNBUFFERED="1",
        )
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_launcher", "--port", str(self.port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready(began)
        except BaseException as exc:
            log = self.log_text()
            self.stop()
            if not isinstance(exc, Exception):  # KeyboardInterrupt and the like
                raise
            raise RuntimeError(f"moto server did not start ({exc}); its log:\n{log}") from None
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        url = f"{self.endpoint}/moto-api/"
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError("moto server exited")
            try:
                with _OPENER.open(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - began > self.start_timeout:
                raise TimeoutError(f"no answer from {url} within {self.start_timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the server (wait up to 5 s, then kill) and remove its temp dir."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- use -------------------------------------------------------------

    def log_text(self) -> str:
        """The server's stdout+stderr so far ('' when there is none)."""
        if self._log_file is not None:
            self._log_file.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, RuntimeError):
            return ""

    def client_config(self, *, retry_mode: RetryMode | None = None, max_attempts: int | None = None) -> Any:
        """botocore Config: 2 s connect, 5 s read timeouts, few retries."""
        return Config(
            connect_timeout=2,
            read_timeout=5,
            proxies={},  # never an environment proxy: talk to 127.0.0.1 directly
            retries={
                "mode": retry_mode or self.retry_mode,
                "total_max_attempts": max_attempts if max_attempts is not None else self.max_attempts,
            },
        )

    def client(
        self,
        service: str,
        region: str = DEFAULT_REGION,
        *,
        retry_mode: RetryMode | None = None,
        max_attempts: int | None = None,
    ) -> Any:
        """A boto3 client for ``service`` in ``region`` that talks to this server only."""
        return boto3.session.Session().client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=self.client_config(retry_mode=retry_mode, max_attempts=max_attempts),
        )

    def with_bucket(self, bucket: str, region: str = DEFAULT_REGION) -> Self:
        """Create ``bucket`` in ``region`` on this server; return the server (for fixtures)."""
        self.client("s3", region).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        return self

    def reset(self) -> None:
        """Drop all of moto's state (POST /moto-api/reset); the launcher's patches stay."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST", data=b"")
        with _OPENER.open(request, timeout=5) as response:
            response.read()
