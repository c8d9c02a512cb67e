"""A TCP proxy on 127.0.0.1 that injects network faults between a client and an HTTP server.

Put it in front of a :class:`~tests.support.moto_server.MotoServer` and give
the boto3 client ``proxy.endpoint`` instead of the server's::

    with FaultProxy(server.endpoint) as proxy:
        s3 = boto3.client("s3", endpoint_url=proxy.endpoint, ...)
        part_2 = proxy.add(Drop("upstream", 1 << 20, match=request_line_matches(r"^PUT .*[?&]partNumber=2\\b")))
        ...
        assert part_2.fired == 1

Faults, each counted (:attr:`FaultProxy.fired` is the total):

- pass-through: with no fault set, bytes are forwarded unchanged;
- :attr:`FaultProxy.delay`: hold the first bytes of every response for that
  many seconds (a slow server; the client's read timeout sees it);
- :class:`Drop`: abort the connection (RST where the kernel can; or close it, FIN) once
  ``after_bytes`` bytes of a request (``"upstream"``) or of its response
  (``"downstream"``) have passed; optionally only on the k-th connection or for
  requests whose first line matches a predicate, and at most ``times`` times;
- :class:`Respond`: answer matching requests with canned bytes instead of
  forwarding them (e.g. a ``ThrottlingException``), then close the connection;
- :meth:`FaultProxy.go_down`: abort every open connection and every new one
  until :meth:`FaultProxy.come_up` (the port stays open, so this is "the
  server stops answering", not "connection refused").

The proxy reads just enough HTTP/1.1 to know where each request starts: a
header block ending in CRLF CRLF and a ``Content-Length`` body. After a
``Transfer-Encoding: chunked`` request, the rest of that connection passes
through as one request. Requests on a connection are sequential (boto3 does
not pipeline), so the bytes that come back after a request started are its
response. Everything listens and connects on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Literal, Self, TypeVar
from urllib.parse import urlsplit

__all__ = [
    "Direction",
    "Drop",
    "FaultProxy",
    "RequestMatcher",
    "Respond",
    "http_response",
    "request_line_matches",
]

HOST: Final = "127.0.0.1"
_CHUNK: Final = 64 << 10
#: A header block longer than this is not HTTP we understand: the connection passes through unparsed.
_MAX_HEAD_BYTES: Final = 64 << 10

Direction = Literal["upstream", "downstream"]
_Fault = TypeVar("_Fault", "Drop", "Respond")
#: A predicate on a request's first line, e.g. ``"PUT /bucket/key?partNumber=3&uploadId=... HTTP/1.1"``.
RequestMatcher = Callable[[str], bool]


def request_line_matches(pattern: str) -> RequestMatcher:
    """A :data:`RequestMatcher` true when ``re.search(pattern, line)`` finds a match."""
    compiled = re.compile(pattern)

    def matches(line: str) -> bool:
        return compiled.search(line) is not None

    return matches


def http_response(status: int, reason: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with ``Content-Length`` and ``Connection: close``, for :class:`Respond`."""
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Drop:
    """Abort a connection once ``after_bytes`` bytes of a matching request or response went through.

    Bytes are counted per request: from the first byte of its request line
    (``"upstream"``, headers included) or from the first byte of its response
    (``"downstream"``). Exactly ``after_bytes`` bytes are forwarded, then both
    sides of the connection are reset; with ``reset=False`` the receiving side is
    closed after them instead (a FIN), so that it reads every byte forwarded before
    the end (an RST makes the receiver's kernel discard what it had not read yet,
    so a slow reader sees the cut earlier). ``match`` (default: every request) sees
    the request line; ``connection`` limits the fault to the k-th connection the
    proxy accepted (1-based); ``times`` caps how often it fires (``None``: no cap).
    """

    direction: Direction
    after_bytes: int
    match: RequestMatcher | None = None
    connection: int | None = None
    times: int | None = 1
    reset: bool = True
    fired: int = field(default=0, init=False)

    def applies(self, request: _Request) -> bool:
        return (self.connection is None or self.connection == request.connection) and (
            self.match is None or self.match(request.line)
        )


@dataclass
class Respond:
    """Answer a matching request with ``response`` (see :func:`http_response`) instead of forwarding it.

    The request (with its ``Content-Length`` body) is read and discarded, the
    response sent, and the connection closed. ``times`` caps how often it fires.
    """

    response: bytes
    match: RequestMatcher | None = None
    times: int | None = 1
    fired: int = field(default=0, init=False)


@dataclass
class _Request:
    """One request seen on a connection, with the bytes counted so far in each direction."""

    line: str
    connection: int
    upstream: int = 0
    downstream: int = 0
    held: bool = False


@dataclass(frozen=True)
class _Head:
    """A request's header block, as sent, and what it says about the body."""

    block: bytes
    line: str
    body_length: int | None  # None: chunked or unknown (the rest of the connection)
    expects_continue: bool

    @classmethod
    def parse(cls, block: bytes) -> _Head:
        text = block.decode("latin-1")
        line, _, rest = text.partition("\r\n")
        headers: dict[str, str] = {}
        for header in rest.split("\r\n"):
            name, sep, value = header.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        length: int | None = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            length = None
        elif "content-length" in headers:
            length = int(headers["content-length"])
        return cls(block, line, length, headers.get("expect", "").lower() == "100-continue")


class _RequestStream:
    """Splits the bytes a client sends into header blocks (:class:`_Head`) and body bytes."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._body_left: int | None = 0  # None: everything from here on is body

    @property
    def body_done(self) -> bool:
        """True when the last request's body has been yielded whole."""
        return self._body_left == 0

    def feed(self, data: bytes) -> Iterator[_Head | memoryview]:
        view = memoryview(data)
        while view:
            if self._body_left != 0:
                n = len(view) if self._body_left is None else min(self._body_left, len(view))
                if self._body_left is not None:
                    self._body_left -= n
                yield view[:n]
                view = view[n:]
                continue
            self._head += view
            view = view[len(view) :]
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > _MAX_HEAD_BYTES:  # not HTTP we parse: pass the rest through
                    self._body_left = None
                    view = memoryview(bytes(self._head))
                    self._head.clear()
                continue
            head = _Head.parse(bytes(self._head[: end + 4]))
            view = memoryview(bytes(self._head[end + 4 :]))
            self._head.clear()
            self._body_left = head.body_length
            yield head


def _abort(sock: socket.socket) -> None:
    """Reset ``sock``: wake any thread blocked on it, then close with SO_LINGER 0 (an RST)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, upstream: socket.socket, number: int) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.number = number
        self.current: _Request | None = None
        self.closed = False
        self._canned: bytes | None = None  # a Respond fault's answer, sent once its request was read
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._pump_requests, name=f"fault-proxy-{number}-up", daemon=True),
            threading.Thread(target=self._pump_responses, name=f"fault-proxy-{number}-down", daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _close(self) -> bool:
        """Mark the link closed; False if it already was."""
        with self._lock:
            if self.closed:
                return False
            self.closed = True
            return True

    def abort(self) -> None:
        if self._close():
            _abort(self.client)
            _abort(self.upstream)

    # -- client -> server --------------------------------------------------

    def _pump_requests(self) -> None:
        requests = _RequestStream()
        try:
            while data := self.client.recv(_CHUNK):
                for piece in requests.feed(data):
                    if not self._take(piece, requests):
                        return
        except OSError:
            pass
        self.abort()

    def _take(self, piece: _Head | memoryview, requests: _RequestStream) -> bool:
        """Forward (or, for a canned answer, swallow) one piece of a request; False once the link is done."""
        if isinstance(piece, _Head):
            request = _Request(piece.line, self.number)
            self.current = request
            self._canned = self.proxy._take_response(request)
            if self._canned is None:
                return self._forward(memoryview(piece.block), "upstream", self.upstream)
            if piece.body_length and not piece.expects_continue:
                return True  # read the body first (a client waiting for 100 Continue sends none)
            return self._answer()
        if self._canned is None:
            return self._forward(piece, "upstream", self.upstream)
        return True if not requests.body_done else self._answer()

    def _answer(self) -> bool:
        """Send the canned answer and close gracefully (the client reads it, then EOF)."""
        assert self._canned is not None
        self._end_with(self._canned, self.client, self.upstream)
        return False

    def _end_with(self, last: memoryview | bytes, to: socket.socket, other: socket.socket) -> None:
        """Send ``last`` to ``to`` and close it gracefully (it reads them, then EOF); reset ``other``."""
        if self._close():
            with contextlib.suppress(OSError):
                to.sendall(last)
                to.shutdown(socket.SHUT_WR)
            _abort(other)
            with contextlib.suppress(OSError):
                to.close()

    # -- server -> client --------------------------------------------------

    def _pump_responses(self) -> None:
        try:
            while data := self.upstream.recv(_CHUNK):
                request = self.current
                if request is not None and not request.held:
                    request.held = True
                    if self.proxy._hold_response():
                        break  # the proxy stopped while holding the response
                if not self._forward(memoryview(data), "downstream", self.client):
                    return
            else:
                with contextlib.suppress(OSError):
                    self.client.shutdown(socket.SHUT_WR)  # the server closed: pass its FIN on
                return
        except OSError:
            pass
        self.abort()

    # -- both --------------------------------------------------------------

    def _forward(self, data: memoryview, direction: Direction, to: socket.socket) -> bool:
        """Send ``data`` on, unless a :class:`Drop` fires inside it; False once the link is aborted."""
        request = self.current
        if request is None:
            to.sendall(data)
            return True
        counted = request.upstream if direction == "upstream" else request.downstream
        fault = self.proxy._take_drop(request, direction, counted, len(data))
        if fault is not None:
            cut = max(0, fault.after_bytes - counted)
            if not fault.reset:
                self._end_with(data[:cut], to, self.upstream if to is self.client else self.client)
                return False
            with contextlib.suppress(OSError):
                to.sendall(data[:cut])
            self.abort()
            return False
        to.sendall(data)
        if direction == "upstream":
            request.upstream += len(data)
        else:
            request.downstream += len(data)
        return True


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream`` (``"http://127.0.0.1:PORT"``); a context manager.

    Attributes and counters: ``endpoint`` (give it to the client), ``delay``
    (seconds each response is held), ``connections`` (accepted so far),
    ``requests`` (every request line seen, in order), ``drops``, ``responses``,
    ``refused`` and ``delays`` (faults injected of each kind) and ``fired``
    (their sum).
    """

    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        parts = urlsplit(upstream)
        if parts.hostname != HOST or parts.port is None:
            raise ValueError(f"the upstream must be http://{HOST}:PORT, not {upstream!r}")
        self.upstream: tuple[str, int] = (HOST, parts.port)
        self.delay = delay
        self.port = 0
        self.connections = 0
        self.requests: list[str] = []
        self.drops = 0
        self.responses = 0
        self.refused = 0
        self.delays = 0
        self._faults: list[Drop | Respond] = []
        self._down = False
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("FaultProxy is not started")
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        if self._listener is not None:
            raise RuntimeError("FaultProxy already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(64)
        listener.settimeout(0.05)  # so that the accept loop sees stop() promptly
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy-accept", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, abort every connection, and wait (briefly) for the threads."""
        self._stopped.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            links, self._links = self._links, []
        for link in links:
            link.abort()
        for link in links:
            for thread in link.threads:
                thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults --------------------------------------------------------------

    def add(self, fault: _Fault) -> _Fault:
        """Arm ``fault`` (a :class:`Drop` or :class:`Respond`) and return it, to read its ``fired`` later."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Disarm every fault and the delay (counters stay)."""
        with self._lock:
            self._faults.clear()
        self.delay = 0.0

    def go_down(self) -> None:
        """Abort every open connection, and every new one until :meth:`come_up`."""
        with self._lock:
            self._down = True
            links = [link for link in self._links if not link.closed]
            self.refused += len(links)
        for link in links:
            link.abort()

    def come_up(self) -> None:
        with self._lock:
            self._down = False

    @property
    def fired(self) -> int:
        """Every fault injected so far: drops, canned responses, refused connections and delays."""
        return self.drops + self.responses + self.refused + self.delays

    # -- called by the links ---------------------------------------------------

    def _take_response(self, request: _Request) -> bytes | None:
        with self._lock:
            self.requests.append(request.line)
            for fault in self._faults:
                if not isinstance(fault, Respond) or (fault.times is not None and fault.fired >= fault.times):
                    continue
                if fault.match is None or fault.match(request.line):
                    fault.fired += 1
                    self.responses += 1
                    return fault.response
        return None

    def _take_drop(self, request: _Request, direction: Direction, counted: int, length: int) -> Drop | None:
        """The :class:`Drop` that fires within ``length`` more bytes (after ``counted``), if one does."""
        with self._lock:
            for fault in self._faults:
                if not isinstance(fault, Drop) or fault.direction != direction:
                    continue
                if (fault.times is not None and fault.fired >= fault.times) or counted + length <= fault.after_bytes:
                    continue
                if fault.applies(request):
                    fault.fired += 1
                    self.drops += 1
                    return fault
        return None

    def _hold_response(self) -> bool:
        """Wait ``delay`` seconds before a response; True if the proxy stopped meanwhile."""
        delay = self.delay
        if delay <= 0:
            return False
        with self._lock:
            self.delays += 1
        return self._stopped.wait(delay)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._connect(client)

    def _connect(self, client: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            number = self.connections
            if self._down:
                self.refused += 1
        if self._down:
            _abort(client)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _abort(client)
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(self, client, upstream, number)
        with self._lock:
            self._links = [existing for existing in self._links if not existing.closed]
            self._links.append(link)
        link.start()
