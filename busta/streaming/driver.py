"""The synchronous driver: a sans-I/O :class:`MessageDecryptor` whose materials come from a materials manager.

The engine stops after the header with ``needs_materials``; this driver is the
one place where a sync caller answers it: it calls the materials manager
(keyrings, and their KMS or PKCS#11 calls, run there, on the calling thread)
and supplies what came back. Everything else passes straight to the engine.
Every sync adapter that hands a decryptor on or feeds it in pieces (the io
readers and writers, the stream pump, random access, S3, bulk, rewrap) drives
its engine through it; ``busta.decrypt``, whose engine nobody else sees and which
lives for one call, fetches its materials itself at the same point
(:func:`busta.streaming.whole.decrypt_whole`), as the async API awaits them there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NoReturn, Protocol, TypeVar

from .._secrets import refuse_pickling
from ..errors import BustaError, UsageError
from ..format import Header
from ..materials import CryptoMaterialsManager
from .decryptor import MessageDecryptor

__all__ = ["Decrypting", "DrivenDecryptor"]

_T = TypeVar("_T")


class Decrypting(Protocol):
    """What the adapters need of a decryption: a :class:`DrivenDecryptor`, or an engine whose caller
    supplies its materials itself."""

    def read_header(self, data: bytes | bytearray | memoryview) -> int: ...
    def update(self, data: bytes | bytearray | memoryview) -> bytes: ...
    def update_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int: ...
    def finalize(self) -> bytes: ...
    def output_bound(self, length: int) -> int: ...
    def open_frames(
        self, first_sequence: int, data: memoryview, out: memoryview, count: int, *, offset: int
    ) -> None: ...
    def open_final_frame(self, data: memoryview, out: memoryview, sequence: int, *, offset: int) -> int: ...
    @property
    def header(self) -> Header | None: ...
    @property
    def encryption_context(self) -> dict[str, str] | None: ...
    @property
    def max_header_bytes(self) -> int: ...
    @property
    def frame_step(self) -> int | None: ...
    @property
    def buffered(self) -> int: ...


class DrivenDecryptor:
    """Decrypts one message on the calling thread, asking ``materials_manager`` for its materials.

    Same calls as :class:`MessageDecryptor` (see it for what each proves), but
    the header's materials are fetched and supplied within the call that
    completes the header. An error, the materials manager's included, stays:
    every later call raises it again. Like the engine, it serves one thread at
    a time: a call made while another thread's call (its materials manager's
    call included) is running raises :class:`UsageError`, and it stays failed.
    """

    __slots__ = ("_engine", "_error", "_lock", "_materials_manager")

    def __init__(self, engine: MessageDecryptor, materials_manager: CryptoMaterialsManager):
        self._engine = engine
        self._materials_manager = materials_manager
        self._error: BustaError | None = None
        self._lock = threading.Lock()

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

    def __repr__(self) -> str:
        return f"DrivenDecryptor({self._engine!r})"

    def _supply(self) -> None:
        engine = self._engine
        request = engine.decryption_request
        if request is None:
            return
        try:
            engine.supply_materials(self._materials_manager.decrypt_materials(request))
        except BustaError as exc:
            self._error = exc
            raise

    def _check(self) -> MessageDecryptor:
        if self._error is not None:
            raise self._error
        return self._engine

    def _call(self, call: Callable[[MessageDecryptor], _T]) -> _T:
        """Run ``call`` on the engine, this thread alone."""
        self._enter()
        try:
            return call(self._check())
        finally:
            self._lock.release()

    def _enter(self) -> None:
        """Take the decryptor for this call (the caller releases the lock), or raise."""
        if not self._lock.acquire(blocking=False):
            self._error = UsageError("the decryptor is in use by another thread; give each thread its own")
            raise self._error

    # -- feeding ----------------------------------------------------------------------------------

    def read_header(self, data: bytes | bytearray | memoryview) -> int:
        """Consume and authenticate the header at the start of ``data``; return its length (0: incomplete)."""
        self._enter()  # written out, not through _call: on every one-shot decryption's path
        try:
            length = self._check().read_header(data)
            self._supply()
            return length
        finally:
            self._lock.release()

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Consume message bytes; return the plaintext that authenticated."""

        def update(engine: MessageDecryptor) -> bytes:
            plaintext = engine.update(data)
            if engine.needs_materials:  # the header ended in ``data``: it yielded no plaintext
                self._supply()
                return engine.update(b"")
            return plaintext

        return self._call(update)

    def update_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """Consume message bytes; write authenticated plaintext into ``out`` (:meth:`output_bound` bytes)."""

        def update_into(engine: MessageDecryptor) -> int:
            written = engine.update_into(data, out)
            if engine.needs_materials:
                self._supply()
                return engine.update_into(b"", memoryview(out)[written:]) + written
            return written

        return self._call(update_into)

    def open_rest_into(self, data: bytes | bytearray | memoryview, out: bytearray | memoryview) -> int:
        """See :meth:`MessageDecryptor.open_rest_into` (after :meth:`read_header`)."""
        self._enter()
        try:
            return self._check().open_rest_into(data, out)
        finally:
            self._lock.release()

    def finalize(self) -> bytes:
        """Declare the end of the input; raise if the message is incomplete."""
        return self._call(MessageDecryptor.finalize)

    def open_frames(self, first_sequence: int, data: memoryview, out: memoryview, count: int, *, offset: int) -> None:
        """See :meth:`MessageDecryptor.open_frames` (it may run on several threads at once)."""
        self._check().open_frames(first_sequence, data, out, count, offset=offset)

    def open_final_frame(self, data: memoryview, out: memoryview, sequence: int, *, offset: int) -> int:
        """See :meth:`MessageDecryptor.open_final_frame`."""
        return self._check().open_final_frame(data, out, sequence, offset=offset)

    # -- plain values -----------------------------------------------------------------------------

    def output_bound(self, length: int) -> int:
        """The most plaintext ``update(data)`` can return for ``len(data) == length``."""
        return self._engine.output_bound(length)

    @property
    def header(self) -> Header | None:
        """The message header, once it authenticated."""
        return self._engine.header

    @property
    def encryption_context(self) -> dict[str, str] | None:
        """The authenticated encryption context, once the header authenticated."""
        return self._engine.encryption_context

    @property
    def done(self) -> bool:
        return self._engine.done

    @property
    def max_header_bytes(self) -> int:
        return self._engine.max_header_bytes

    @property
    def frame_step(self) -> int | None:
        return self._engine.frame_step

    @property
    def buffered(self) -> int:
        return self._engine.buffered
