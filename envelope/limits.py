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
#: envelope refuses headers larger than this (the format bounds them only by UInt16 fields).
MAX_HEADER_BYTES: Final = 1 << 20
#: Largest single UInt16-prefixed field.
MAX_UINT16: Final = 2**16 - 1

#: Chosen from the frame-size sweep (docs/benchmarks.md): near the AES-GCM plateau on one thread,
#: splits across threads, keeps streaming memory and the signed final-frame hold-back small, and is
#: the fastest size for the official SDKs to read.
DEFAULT_FRAME_LENGTH: Final = 64 * 1024

#: S3's smallest part of a multipart upload (all but the last part).
S3_MIN_PART_SIZE: Final = 5 << 20
#: The part size envelope uploads with by default (S3 allows 10,000 parts: about 78 GiB objects).
S3_DEFAULT_PART_SIZE: Final = 8 << 20

#: One decrypt call of one AWS KMS keyring asks for clients in at most this many distinct regions; data
#: keys naming further regions are skipped with a reason. Region names come from unauthenticated
#: data-key ARNs, so without this bound a forged message could make a client per region it names.
MAX_KMS_REGIONS_PER_DECRYPT: Final = 8
#: The default KMS client cache (``ClientCache``) keeps at most this many clients, least recently used
#: evicted first, so that forged messages over time cannot grow the process without bound either.
MAX_KMS_CLIENTS: Final = 32
