"""A TCP proxy on 127.0.0.1 that counts the bytes each way and keeps the request headers it forwards.

Put it in front of a moto server to see what a client really transferred::

    with CountingProxy(server.endpoint) as proxy:
        ...  # the client talks to proxy.endpoint
        assert proxy.downstream < 64 << 10
        assert proxy.ranges == ["bytes=0-4095"]
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

__all__ = ["CountingProxy"]

HOST: Final = "127.0.0.1"
_RANGE: Final = re.compile(rb"^range:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


class CountingProxy:
    """Forward every connection to ``upstream``; ``upstream``/``downstream`` count the bytes sent each way,
    ``requests`` holds each request line and ``ranges`` each Range header, in order."""

    def __init__(self, upstream: str):
        parts = urlsplit(upstream)
        self._target = (parts.hostname or HOST, parts.port or 80)
        self.upstream = 0
        self.downstream = 0
        self.requests: list[str] = []
        self.ranges: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> Self:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, server]
            for source, sink, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, up), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, up: bool) -> None:
        try:
            while data := source.recv(65536):
                with self._lock:
                    if up:
                        self.upstream += len(data)
                        self._note(data)
                    else:
                        self.downstream += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _note(self, data: bytes) -> None:
        """Record the request line and Range header of a request that starts in ``data`` (requests are small)."""
        first = data.split(b"\r\n", 1)[0]
        if re.match(rb"^[A-Z]+ \S+ HTTP/1\.[01]$", first):
            self.requests.append(first.decode("latin-1"))
            head = data.split(b"\r\n\r\n", 1)[0]
            self.ranges += [m.group(1).decode("latin-1") for m in _RANGE.finditer(head.replace(b"\r\n", b"\n"))]
