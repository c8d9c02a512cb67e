"""Bare baselines: the least code that does the same AES-GCM (or SHA-384) work as busta.

Each loop touches the same frames as busta does (same sizes, same number of
AES-GCM calls, a per-frame nonce and AAD). With ``threads`` > 1 a pool made once
(``threads - 1`` threads, never restarted) takes all but the last part of the
frames and the calling thread seals or opens the last part; each part is written
into its own region of one buffer. Parts are cut only where there are at least
two frames (one frame cannot be shared).

Where the output goes:

- ``encrypt()`` / ``decrypt()``: a buffer preallocated once and reused by every
  call (the strictest baseline: no allocation, no page faults);
- ``encrypt(fresh=True)`` / ``decrypt(fresh=True)``: a buffer as ``malloc`` would
  give one: from :data:`FRESH_BYTES` up a new anonymous mapping each call (glibc
  maps blocks this large anew, so every page of the result faults on first
  write, in whichever thread writes it), below it the reused buffer (small blocks
  come back warm from the heap);
- ``stream_encrypt`` / ``stream_decrypt``: ``readinto`` a chunk of whole frames,
  seal or open its frames (split over the threads), write the chunk's output in
  order, chunk after chunk, both buffers made once and kept from call to call (as
  busta's pump keeps its own: a buffer made per call would come back from the
  heap warm or fault in anew, as the heap's state has it, and move the baseline).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import mmap
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hmac import HMAC

TAG = 16
HEAD = 16  # a regular frame's sequence number and IV
#: Output buffers of at least this many bytes are fresh mappings in ``fresh=True`` mode (glibc's
#: largest dynamic mmap threshold: a malloc this large is always mapped anew).
FRESH_BYTES = 32 << 20
#: Bytes read per step by the streaming loops: as many whole frames as fill it, at least two
#: (busta.streaming.pump.STREAM_CHUNK_BYTES, the same for busta's streams).
CHUNK_BYTES = 2 << 20

Buffer = bytearray | mmap.mmap
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def pool(threads: int) -> ThreadPoolExecutor:
    """The pool of ``threads - 1`` threads shared by every bare loop of that many threads, made once."""
    with _lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix=f"bare-{threads}")
        return _pools[threads]


def split(frames: int, threads: int) -> list[tuple[int, int]]:
    """Frames ``0 .. frames`` cut into ``threads`` runs as even as possible (one run if fewer than two)."""
    parts = max(1, min(threads, frames))
    return [(frames * k // parts, frames * (k + 1) // parts) for k in range(parts)]


def fresh_buffer(size: int) -> mmap.mmap:
    """``size`` bytes of fresh private anonymous memory (what malloc maps for a large block): no page
    is touched until it is written."""
    return mmap.mmap(-1, max(1, size), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


#: A raw AES keyring's provider info after the key name: the tag length in bits, the IV length.
_GCM_LENGTHS = (128).to_bytes(4, "big") + (12).to_bytes(4, "big")


def _nonce(seq: int) -> bytes:
    return bytes(8) + seq.to_bytes(4, "big")


class BareFrames:
    """AES-GCM over the frames of ``data`` (``frame_length`` bytes each, the last one shorter), on
    ``threads`` threads. Made with the plaintext, sealed once, so that ``decrypt`` has frames to open."""

    def __init__(self, frame_length: int, data: memoryview, threads: int = 1):
        self.frame, self.step, self.threads = frame_length, HEAD + frame_length + TAG, threads
        self.data = data
        self.length = len(data)
        self.count = max(1, -(-self.length // frame_length))
        last = self.length - (self.count - 1) * frame_length
        self.sealed_length = (self.count - 1) * self.step + HEAD + last + TAG
        self.aead = AESGCM(os.urandom(32))
        self.aad = os.urandom(32) + b"AWSKMSEncryptionClient Frame" + bytes(12)
        self.out = bytearray(self.sealed_length)
        self.plain = bytearray(self.length)
        self.parts = split(self.count, threads)
        self.pool = pool(threads) if threads > 1 else None
        self.encrypt()

    # -- the work of one run of frames -----------------------------------------------------------------

    def seal(self, src: memoryview, out: memoryview, seq: int, first: int, stop: int) -> None:
        """Seal frames ``first .. stop`` of ``src`` into their slots of ``out`` (sequence numbers from ``seq``)."""
        frame, step, aad, encrypt_into = self.frame, self.step, self.aad, self.aead.encrypt_into
        for i in range(first, stop):
            piece = src[i * frame : (i + 1) * frame]
            at = i * step + HEAD
            encrypt_into(_nonce(seq + i), piece, aad, out[at : at + len(piece) + TAG])

    def open(self, src: memoryview, out: memoryview, seq: int, first: int, stop: int) -> None:
        """Open frames ``first .. stop`` of the sealed ``src`` (exactly its sealed bytes) into ``out``."""
        frame, step, aad, decrypt_into = self.frame, self.step, self.aad, self.aead.decrypt_into
        for i in range(first, stop):
            at = i * step + HEAD
            piece = src[at : at + frame + TAG]
            decrypt_into(_nonce(seq + i), piece, aad, out[i * frame : i * frame + len(piece) - TAG])

    def run(self, work: Callable[[int, int], None], parts: list[tuple[int, int]]) -> None:
        """``work(first, stop)`` for every part: all but the last on the pool, the last here."""
        if self.pool is None or len(parts) == 1:
            for first, stop in parts:
                work(first, stop)
            return
        futures = [self.pool.submit(work, first, stop) for first, stop in parts[:-1]]
        work(*parts[-1])
        for future in futures:
            future.result()

    # -- in memory --------------------------------------------------------------------------------------

    def encrypt(self, *, fresh: bool = False) -> Buffer:
        """Seal every frame of the plaintext; return the buffer holding the sealed frames."""
        out = fresh_buffer(self.sealed_length) if fresh and self.sealed_length >= FRESH_BYTES else self.out
        view = memoryview(out)
        self.run(functools.partial(self.seal, self.data, view, 1), self.parts)
        view.release()
        return out

    def decrypt(self, *, fresh: bool = False) -> Buffer:
        """Open every frame sealed by the constructor; return the buffer holding the plaintext."""
        out = fresh_buffer(self.length) if fresh and self.length >= FRESH_BYTES else self.plain
        view, sealed = memoryview(out), memoryview(self.out)
        self.run(functools.partial(self.open, sealed, view, 1), self.parts)
        view.release()
        return out

    # -- streaming ----------------------------------------------------------------------------------------

    def chunk_frames(self) -> int:
        return max(2, CHUNK_BYTES // self.frame)

    @functools.cached_property
    def _stream_buffers(self) -> tuple[memoryview, memoryview]:
        """A chunk of plaintext and a chunk of sealed frames, made on first use and kept."""
        frames_per_chunk = self.chunk_frames()
        return memoryview(bytearray(frames_per_chunk * self.frame)), memoryview(bytearray(frames_per_chunk * self.step))

    def stream_encrypt(self, source: IO[bytes], sink: IO[bytes]) -> None:
        """Read chunks of whole frames, seal the chunk's frames, write them, in order."""
        inbuf, outbuf = self._stream_buffers
        seq = 1
        while n := source.readinto(inbuf):  # type: ignore[attr-defined]
            frames = -(-n // self.frame)
            self.run(functools.partial(self.seal, inbuf[:n], outbuf, seq), split(frames, self.threads))
            sink.write(outbuf[: n + frames * (HEAD + TAG)])
            seq += frames

    def stream_decrypt(self, source: IO[bytes], sink: IO[bytes]) -> None:
        """Read chunks of whole sealed frames (as ``stream_encrypt`` wrote them), open them, write the plaintext."""
        outbuf, inbuf = self._stream_buffers
        seq = 1
        while n := source.readinto(inbuf):  # type: ignore[attr-defined]
            frames = -(-n // self.step)
            self.run(functools.partial(self.open, inbuf[:n], outbuf, seq), split(frames, self.threads))
            sink.write(outbuf[: n - frames * (HEAD + TAG)])
            seq += frames


def bare_hash_beside(frames: BareFrames, message: memoryview | bytes, *, decrypt: bool) -> bytes:
    """SHA-384 over ``message`` on a pool thread while the calling thread seals (or opens) the frames
    of ``frames`` (a one-thread :class:`BareFrames` of the same plaintext and frame length): the least
    that a signed message with a second core can do, both passes at once, neither waiting for the other."""
    hashing = pool(2).submit(bare_sha384, message)
    if decrypt:
        frames.decrypt()
    else:
        frames.encrypt()
    return hashing.result()


def bare_sha384(data: memoryview | bytes, chunk: int = 4 << 20) -> bytes:
    """SHA-384 over ``data`` in large updates: the floor for any signed-suite stream."""
    view = memoryview(data)
    h = hashlib.sha384()
    for i in range(0, len(view), chunk):
        h.update(view[i : i + chunk])
    return h.digest()


class BareSmallMessage:
    """The cryptography of one small message of suite 0x0478 under a raw AES keyring, and nothing else:
    the floor of a 1 KiB ``busta.encrypt`` / ``busta.decrypt`` (issue 18, target 7).

    Encrypting draws the data key, the wrapping IV and the message id (three ``os.urandom`` calls, as
    busta makes), wraps the data key with AES-GCM over the serialized context, derives the message key
    and commitment (HKDF-SHA512 with cryptography's HMAC, keyed once and copied, as busta does), tags
    a header of the real size and seals the one final frame with its AAD. Decrypting its own message
    unwraps the data key, derives, compares the commitment, checks the header tag and opens the frame.
    No parsing, no checks of arguments, no objects: the fields lie at offsets fixed in advance.
    """

    #: The info of HKDF's two expands (each with its block counter): the message key's, the commitment's.
    _INFO = (b"\x04\x78DERIVEKEY\x01", b"COMMITKEY\x01")
    _FINAL = b"AWSKMSEncryptionClient Final Frame"

    def __init__(self, context: bytes, namespace: bytes, name: bytes, length: int) -> None:
        self.context, self.length = context, length
        self.wrapping = AESGCM(os.urandom(32))
        # a v2 header: version and suite, [message id], the context, one data key (provider id, provider
        # info: key name, tag and IV lengths, [IV]; [wrapped key]), content type, frame length, [commitment]
        self.start = b"\x02\x04\x78"
        info = len(name) + 8 + 12
        self.middle = b"".join(
            (_u16(len(context)), context, _u16(1), _u16(len(namespace)), namespace, _u16(info), name, _GCM_LENGTHS)
        )
        self.tail = b"\x02" + (64 << 10).to_bytes(4, "big")
        self.header_length = len(self.start) + 32 + len(self.middle) + 12 + 2 + 48 + len(self.tail) + 32

    def _keys(self, data_key: bytes, message_id: bytes) -> tuple[AESGCM, bytes]:
        extract = HMAC(message_id, hashes.SHA512())
        extract.update(data_key)
        expand = HMAC(extract.finalize(), hashes.SHA512())
        commit = expand.copy()
        expand.update(self._INFO[0])
        commit.update(self._INFO[1])
        return AESGCM(expand.finalize()[:32]), commit.finalize()[:32]

    def _frame_aad(self, message_id: bytes) -> bytes:
        return message_id + self._FINAL + (1).to_bytes(4, "big") + self.length.to_bytes(8, "big")

    def encrypt(self, data: bytes) -> bytes:
        data_key, iv, message_id = os.urandom(32), os.urandom(12), os.urandom(32)
        wrapped = self.wrapping.encrypt(iv, data_key, self.context)
        aead, commitment = self._keys(data_key, message_id)
        header = b"".join((self.start, message_id, self.middle, iv, _u16(48), wrapped, self.tail, commitment))
        tag = aead.encrypt(bytes(12), b"", header)
        head = b"\xff\xff\xff\xff" + (1).to_bytes(4, "big") + _nonce(1) + len(data).to_bytes(4, "big")
        return b"".join((header, tag, head, aead.encrypt(_nonce(1), data, self._frame_aad(message_id))))

    def decrypt(self, message: bytes) -> bytes:
        id_at, end = len(self.start), self.header_length
        iv_at = id_at + 32 + len(self.middle)
        message_id, iv = message[id_at : id_at + 32], message[iv_at : iv_at + 12]
        data_key = self.wrapping.decrypt(iv, message[iv_at + 14 : iv_at + 62], self.context)
        aead, commitment = self._keys(data_key, message_id)
        if not hmac.compare_digest(commitment, message[end - 32 : end]):
            raise ValueError("commitment")
        aead.decrypt(bytes(12), message[end : end + 16], message[:end])
        return aead.decrypt(_nonce(1), message[end + 16 + 24 :], self._frame_aad(message_id))
