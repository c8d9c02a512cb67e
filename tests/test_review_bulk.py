"""Review of issue 14's bulk, path and S3-rotation changes: defects found, each shown by a test.

- a hostile local marker whose MAC is a lone surrogate made the object fail on every
  rerun with ``UnicodeEncodeError`` (outside the error tree) instead of being redone;
- a ranged GET answered with a Content-Range that ends before it starts passed the
  check and the whole body was read, however long, before the length mismatch refused it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import envelope
from envelope import bulk
from envelope.bulk.places import parse_place
from envelope.bulk.tasks import JobSpec, Operation
from envelope.errors import S3Error
from envelope.keyconfig import EnvKey
from envelope.keyrings import RawAesKeyring
from envelope.s3._calls import fetch_range

NAMESPACE = "review-bulk"
VARIABLE = "ENVELOPE_TEST_REVIEW_BULK_KEY"
MARKER_DIR = ".envelope-bulk"


@pytest.fixture
def key() -> Iterator[bytes]:
    secret = os.urandom(32)
    saved = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = base64.b64encode(secret).decode()
    try:
        yield secret
    finally:
        if saved is None:
            del os.environ[VARIABLE]
        else:
            os.environ[VARIABLE] = saved


def run(job: JobSpec) -> dict[str, bulk.ObjectResult]:
    return {source.name: bulk.process_object(job, source) for source in job.source.list(job.s3)}


def statuses(results: dict[str, bulk.ObjectResult]) -> dict[str, str]:
    return {name: (result.status if result.ok else f"failed: {result.error}") for name, result in results.items()}


def test_a_local_marker_whose_mac_is_a_lone_surrogate_is_redone_not_failed(tmp_path: Path, key: bytes) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_bytes(b"a" * 100)
    job = JobSpec(
        Operation.ENCRYPT,
        parse_place(str(tmp_path / "src")),
        parse_place(str(tmp_path / "dst")),
        EnvKey(VARIABLE, NAMESPACE, "k"),
    )
    assert statuses(run(job)) == {"a": "done"}
    digest = hashlib.sha256(b"a.enc").hexdigest()
    marker = tmp_path / "dst" / MARKER_DIR / digest[:2] / f"{digest}.json"
    record = json.loads(marker.read_bytes())
    record["mac"] = "\ud800"  # json.dumps writes it as the escape \ud800, which json.loads reads back
    marker.write_text(json.dumps(record))

    assert statuses(run(job)) == {"a": "done"}
    output = (tmp_path / "dst" / "a.enc").read_bytes()
    assert envelope.decrypt(output, keyring=RawAesKeyring(NAMESPACE, "k", key)) == b"a" * 100


class _Endless:
    """A response body that would hand out as many bytes as asked (a hostile server's stream)."""

    def __init__(self) -> None:
        self.handed = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = 64 << 20  # "everything": stands for a body as long as the server likes
        self.handed += size
        return b"x" * size

    def close(self) -> None:
        pass


class _Client:
    def __init__(self, body: _Endless, content_range: str):
        self.body, self.content_range = body, content_range

    def get_object(self, **request: Any) -> dict[str, Any]:
        return {
            "ResponseMetadata": {"HTTPStatusCode": 206},
            "ContentRange": self.content_range,
            "Body": self.body,
        }


@pytest.mark.parametrize("content_range", ["bytes 4096-5/6", "bytes 4096-4000/4001"])
def test_a_content_range_that_ends_before_it_starts_is_refused_before_the_body_is_read(content_range: str) -> None:
    body = _Endless()
    with pytest.raises(S3Error) as raised:
        fetch_range(_Client(body, content_range), "bucket", "key", 4096, 8192, etag='"e"')
    assert raised.value.code == "BadRangeResponse"
    assert body.handed <= 8192 - 4096 + 1
