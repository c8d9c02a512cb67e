"""The sans-I/O message decryptor: message bytes in, authenticated plaintext out."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..context import serialize_context
from ..crypto.kdf import check_commitment, derive_keys
from ..crypto.signing import Verifier
from ..errors import (
    AuthenticationError,
    EncryptionContextError,
    EnvelopeError,
    LimitExceededError,
    MalformedMessageError,
    PolicyError,
    TruncatedMessageError,
    UsageError,
)
from ..format import ContentType, Header, ParsedHeader, parse_header, serialize_header_auth
from ..format.body import (
    FINAL_FRAME_STRING,
    FRAME_STRING,
    SINGLE_BLOCK_STRING,
    FrameHead,
    body_aad,
    parse_footer,
    parse_frame_head,
    parse_nonframed_head,
)
from ..limits import MAX_FRAMES, MAX_HEADER_BYTES
from ..materials import CryptoMaterialsManager, DecryptionMaterials, DecryptionRequest
from ..suites import DEFAULT_COMMITMENT_POLICY, CommitmentPolicy

__all__ = ["MessageDecryptor"]


class _State(enum.Enum):
    HEADER = "header"
    BODY = "body"
    FOOTER = "footer"
    DONE = "done"


class MessageDecryptor:
    """Reads one message, releasing plaintext only once it has authenticated.

    Feed message bytes to :meth:`update`; it returns the plaintext of every
    frame whose tag verified. For signed suites the final frame's plaintext is
    held until the footer's signature verified. What :meth:`update` returned is
    authentic but may not be the whole message: only :meth:`finalize`, which
    raises :class:`TruncatedMessageError` if the message is incomplete, proves
    nothing was cut off. Bytes after the end of the message raise
    :class:`MalformedMessageError`. After an error every call raises it again.

    The header is parsed, then ``materials_manager.decrypt_materials`` is called
    once (this is where keyrings run), then the body streams through. Memory is
    bounded by about two frames (a non-framed body is held whole until its tag).
    """

    def __init__(
        self,
        materials_manager: CryptoMaterialsManager,
        *,
        encryption_context: Mapping[str, str] | None = None,
        commitment_policy: CommitmentPolicy = DEFAULT_COMMITMENT_POLICY,
        max_encrypted_data_keys: int | None = None,
        refuse_signed: bool = False,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ):
        if max_encrypted_data_keys is not None and max_encrypted_data_keys < 1:
            raise UsageError("max_encrypted_data_keys must be at least 1")
        self._cmm = materials_manager
        self._expected = dict(encryption_context or {})
        self._policy = commitment_policy
        self._max_edks = max_encrypted_data_keys
        self._refuse_signed = refuse_signed
        self._max_header = max_header_bytes
        self._state = _State.HEADER
        self._buffer = bytearray()
        self._error: EnvelopeError | None = None
        self._finalized = False
        self._sequence = 1
        self._held = b""
        self._aead: AESGCM | None = None
        self._verifier: Verifier | None = None
        self.parsed_header: ParsedHeader | None = None
        self.materials: DecryptionMaterials | None = None

    @property
    def done(self) -> bool:
        """True once the whole message has been read and verified."""
        return self._state is _State.DONE

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Consume message bytes; return the plaintext that authenticated."""
        self._check_usable()
        if not data:
            return b""
        try:
            if self._state is _State.DONE:
                raise MalformedMessageError("bytes after the end of the message", field="trailing data")
            self._buffer += data
            view = memoryview(self._buffer)
            try:
                consumed, out = self._process(view)
            finally:
                view.release()
            if consumed:
                del self._buffer[:consumed]
            return out
        except EnvelopeError as exc:
            self._error = exc
            raise

    def finalize(self) -> bytes:
        """Declare the end of the input; raise if the message is incomplete."""
        self._check_usable()
        self._finalized = True
        if self._state is not _State.DONE:
            where = {"header": "in the header", "body": "in the body", "footer": "before the signature footer"}
            exc = TruncatedMessageError(f"the message ended early, {where[self._state.value]}")
            self._error = exc
            raise exc
        return b""

    def _check_usable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._finalized:
            raise UsageError("the decryptor is finalized")

    def _process(self, view: memoryview) -> tuple[int, bytes]:
        pos = 0
        out: list[bytes] = []
        if self._state is _State.HEADER:
            parsed = parse_header(view, max_encrypted_data_keys=self._max_edks, max_header_bytes=self._max_header)
            if parsed is None:
                return 0, b""
            self._start(parsed)
            pos = parsed.length
        if self._state is _State.BODY:
            pos = self._body(view, pos, out)
        if self._state is _State.FOOTER:
            pos = self._footer(view, pos, out)
        if self._state is _State.DONE and pos < len(view):
            raise MalformedMessageError("bytes after the end of the message", field="trailing data")
        return pos, b"".join(out)

    def _start(self, parsed: ParsedHeader) -> None:
        header = parsed.header
        suite = header.suite
        self._policy.check_decrypt(suite)
        if self._refuse_signed and suite.signed:
            raise PolicyError(f"signed messages are refused in this mode ({suite.name} is signed)")
        request = DecryptionRequest(
            suite=suite,
            encrypted_data_keys=header.encrypted_data_keys,
            encryption_context=header.encryption_context,
            commitment_policy=self._policy,
            reproduced_encryption_context=self._expected,
        )
        materials = self._cmm.decrypt_materials(request)
        if materials.data_key is None or materials.suite is not suite:
            raise UsageError("the materials manager returned materials without a data key for this suite")
        full = materials.encryption_context
        for key, value in self._expected.items():
            if full.get(key) != value:
                raise EncryptionContextError(f"encryption context value for {key!r} does not match the message")
        keys = derive_keys(suite, materials.data_key, header.message_id)
        if suite.committing:
            check_commitment(keys.commitment, header.suite_data)
        required = serialize_context({k: full[k] for k in materials.required_context_keys})
        try:
            keys.aead.decrypt(parsed.auth.iv, parsed.auth.tag, parsed.raw + required)
        except InvalidTag:
            raise AuthenticationError("the header does not authenticate (altered header or wrong context)") from None
        if suite.signed:
            if materials.verification_key is None:
                raise UsageError("the materials manager returned no verification key for a signed suite")
            self._verifier = Verifier(suite, materials.verification_key)
            self._verifier.update(parsed.raw + serialize_header_auth(suite, parsed.auth))
        self._aead = keys.aead
        self.parsed_header = parsed
        self.materials = materials
        self._state = _State.BODY

    def _body(self, view: memoryview, pos: int, out: list[bytes]) -> int:
        header = self._header()
        framed = header.content_type is ContentType.FRAMED
        while self._state is _State.BODY:
            head = parse_frame_head(view, pos, header.frame_length) if framed else parse_nonframed_head(view, pos)
            if head is None or pos + head.total_length > len(view):
                return pos
            plaintext = self._open(view, pos, head, framed)
            if self._verifier is not None:
                self._verifier.update(view[pos : pos + head.total_length])
            pos += head.total_length
            if not head.final:
                out.append(plaintext)
            elif self._verifier is not None:
                self._held = plaintext
                self._state = _State.FOOTER
            else:
                out.append(plaintext)
                self._state = _State.DONE
        return pos

    def _open(self, view: memoryview, pos: int, head: FrameHead, framed: bool) -> bytes:
        header = self._header()
        if head.sequence_number != self._sequence:
            raise MalformedMessageError(
                f"frame {head.sequence_number} found where frame {self._sequence} was expected",
                field="sequence number",
                offset=pos,
            )
        if self._sequence > MAX_FRAMES:
            raise LimitExceededError("frame count", self._sequence, MAX_FRAMES)
        content = (FINAL_FRAME_STRING if head.final else FRAME_STRING) if framed else SINGLE_BLOCK_STRING
        aad = body_aad(header.message_id, content, head.sequence_number, head.content_length)
        start = pos + head.head_length
        assert self._aead is not None
        try:
            plaintext = self._aead.decrypt(head.iv, view[start : start + head.content_length + 16], aad)
        except InvalidTag:
            raise AuthenticationError(f"frame {head.sequence_number} does not authenticate") from None
        self._sequence += 1
        return plaintext

    def _footer(self, view: memoryview, pos: int, out: list[bytes]) -> int:
        found = parse_footer(view, pos)
        if found is None:
            return pos
        signature, length = found
        assert self._verifier is not None
        self._verifier.verify(signature)
        out.append(self._held)
        self._held = b""
        self._state = _State.DONE
        return pos + length

    def _header(self) -> Header:
        assert self.parsed_header is not None
        return self.parsed_header.header

    def __repr__(self) -> str:
        return f"MessageDecryptor(state={self._state.value})"
