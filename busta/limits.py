"""Named limits, each checked while parsing and before anything is allocated."""

from __future__ import annotations

from typing import Final

#: Largest frame length accepted or written (the official SDKs cap it at 2**31 - 1).
MAX_FRAME_LENGTH: Final = 2**31 - 1
#: Sequence numbers are UInt32 and 0xFFFFFFFF marks the final frame.
MAX_FRAMES: Final = 2**32 - 1
#: Largest non-framed body content length (the GCM limit for one invocation).
MAX_NONFRAMED_CONTENT_LENGTH: Final = 2**36 - 32
#: A serialized encryption context must fit its UInt16 length field.
MAX_ENCRYPTION_CONTEXT_BYTES: Final = 2**16 - 1
#: busta refuses headers larger than this (the format bounds them only by UInt16 fields).
MAX_HEADER_BYTES: Final = 1 << 20
#: Serialized encryption contexts remembered (least recently used first out), each of at most
#: SERIALIZED_CONTEXT_CACHE_CHARS characters of keys and values: a context is serialized for the
#: keyring's AAD and again for the header, and callers reuse a few contexts.
SERIALIZED_CONTEXT_CACHE_ENTRIES: Final = 64
SERIALIZED_CONTEXT_CACHE_CHARS: Final = 1024
#: Contexts read from headers whose pairs are remembered (as many as above): each of at most this many
#: serialized bytes. Headers arrive before authentication, so an attacker chooses what is remembered:
#: 64 contexts of 512 bytes, each of as many one-character pairs as fit (99), hold about 245 KiB.
PARSED_CONTEXT_CACHE_BYTES: Final = 512
#: Largest single UInt16-prefixed field.
MAX_UINT16: Final = 2**16 - 1

#: Chosen from the frame-size sweep (docs/benchmarks.md): near the AES-GCM plateau on one thread,
#: splits across threads, keeps streaming memory and the signed final-frame hold-back small, and is
#: the fastest size for the official SDKs to read.
DEFAULT_FRAME_LENGTH: Final = 64 * 1024

#: S3's smallest part of a multipart upload (all but the last part).
S3_MIN_PART_SIZE: Final = 5 << 20
#: The part size busta uploads with by default (S3 allows 10,000 parts: about 78 GiB objects).
S3_DEFAULT_PART_SIZE: Final = 8 << 20
#: How many parts or ranges a busta.s3 transfer moves at once by default (``max_concurrency``).
S3_DEFAULT_MAX_CONCURRENCY: Final = 4
#: S3's longest object key, in UTF-8 bytes: a bulk job refuses (per object) a name that would make a longer one.
S3_MAX_KEY_BYTES: Final = 1024

#: Largest key file the CLI reads (a key record, 32 raw AES bytes, a PEM RSA key: an RSA-16384
#: private key is about 12 KiB); a longer file is refused before more than this is read.
MAX_KEY_FILE_BYTES: Final = 64 << 10

#: Key rotation in S3 (``s3.rewrap_object``) downloads, authenticates and re-sends at most this many
#: body bytes: S3's 5 MiB first part rounded up to whole frames, or the whole body when the rest is too
#: small to copy (or the body is non-framed, one frame that authenticates only whole). Beyond it the
#: object is refused with LimitExceededError (re-encrypt it, or raise ``max_resent_bytes``).
REWRAP_MAX_RESENT_BYTES: Final = 64 << 20

#: One decrypt call of one AWS KMS keyring asks for clients in at most this many distinct regions; data
#: keys naming further regions are skipped with a reason. Region names come from unauthenticated
#: data-key ARNs, so without this bound a forged message could make a client per region it names.
MAX_KMS_REGIONS_PER_DECRYPT: Final = 8
#: The default KMS client cache (``ClientCache``) keeps at most this many clients, least recently used
#: evicted first, so that forged messages over time cannot grow the process without bound either.
MAX_KMS_CLIENTS: Final = 32
#: A KMS request carries at most this many grant tokens, each of at most MAX_KMS_GRANT_TOKEN_CHARS characters
#: (the GrantTokens limits of the KMS API); a keyring given more is refused when it is made.
MAX_KMS_GRANT_TOKENS: Final = 10
MAX_KMS_GRANT_TOKEN_CHARS: Final = 8192

#: Largest non-framed body (its plaintext length) that decryption accepts by default. Such a body has one tag at
#: its end, so a streaming decryption must buffer it whole before it can release a byte; beyond this it is refused
#: with LimitExceededError when its head is read, before anything is buffered. ``max_nonframed_bytes`` raises it.
MAX_NONFRAMED_BUFFER_BYTES: Final = 64 << 20
#: Most bytes of scratch buffers that streaming keeps per thread between calls, for speed (the default framing
#: needs about 4.2 MiB). Larger buffers, which only large frames need, are dropped when the call returns.
MAX_RETAINED_BUFFER_BYTES: Final = 8 << 20

#: The largest ``--context-file`` the CLI reads (a JSON object of encryption context pairs).
MAX_CONTEXT_FILE_BYTES: Final = 1 << 20
#: The largest ``@FILE`` argument file the CLI reads, and how deep argument files may name others.
MAX_ARGUMENT_FILE_BYTES: Final = 64 << 10
MAX_ARGUMENT_FILE_DEPTH: Final = 8
#: How many arguments argument files may bring in all (argparse's time grows with the square of the count).
MAX_ARGUMENT_FILE_WORDS: Final = 4096

#: Decompression of a compressed message (``compression="zstd"``) stops with LimitExceededError once its output
#: passes this many bytes: streaming decryption (readers, writers, decrypt_stream, the CLI) by default, and
#: one-shot ``decrypt`` (which holds the output in memory) by MAX_DECOMPRESSED_BUFFER_BYTES. ``Client(
#: max_decompressed_bytes=...)`` sets both. A frame header that declares more is refused before decoding.
MAX_DECOMPRESSED_BYTES: Final = 64 << 30
MAX_DECOMPRESSED_BUFFER_BYTES: Final = 256 << 20
#: The largest zstd window (the decoder's history buffer, its memory) decompression accepts (zstd's own default
#: limit is 128 MiB; every level up to 19 fits this one for any input, and busta writes level 3: 2 MiB at most).
MAX_ZSTD_WINDOW_BYTES: Final = 8 << 20

#: busta.aio does frame work of at most this many bytes on the event loop (below it, a hand-off to a thread
#: costs more than the work: docs/async.md has the measurement); larger work runs in a thread.
AIO_INLINE_BYTES: Final = 64 * 1024

#: Branch key store items (busta.keyrings.branch_key_store) are untrusted input: an item of more attributes, an
#: attribute name or string value longer, or a wrapped key (``enc``) larger than these is refused before use. A
#: KMS ciphertext blob is at most 6144 bytes; a branch key id (the DynamoDB partition key) at most 1024 chars.
MAX_BRANCH_KEY_ITEM_ATTRIBUTES: Final = 64
MAX_BRANCH_KEY_ATTRIBUTE_CHARS: Final = 4096
MAX_WRAPPED_BRANCH_KEY_BYTES: Final = 6144
MAX_BRANCH_KEY_ID_CHARS: Final = 1024
#: The hierarchical keyring's branch key cache: entries by default (the specification's 1000) and at most; the
#: longest TTL a keyring may set (a day: a revoked or rotated branch key stays usable at most that long).
HIERARCHY_CACHE_ENTRIES: Final = 1000
MAX_HIERARCHY_CACHE_ENTRIES: Final = 1_000_000
MAX_HIERARCHY_TTL_SECONDS: Final = 86_400
