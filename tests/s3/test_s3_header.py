"""busta.s3.read_object_header: an object's header by ranged GETs from its start, never more than the header limit."""

from __future__ import annotations

from typing import Any

import pytest

import busta
from busta import s3
from busta.errors import LimitExceededError, S3Error

from ..support.kms_fixtures import moto_server
from .test_s3 import BUCKET, KEYRING, client, key, put_object
from .test_s3_parallel_download import gets

__all__ = ["client", "key", "moto_server"]  # fixtures, imported for pytest to find


def fetched(seen: list[dict[str, Any]]) -> int:
    total = 0
    for params in seen:
        if params["operation"] == "GetObject":
            first, last = params["Range"].removeprefix("bytes=").split("-")
            total += int(last) - int(first) + 1
    return total


def test_the_header_of_a_large_object_costs_only_the_header(client: Any, key: str) -> None:
    message = busta.encrypt(b"x", keyring=KEYRING, encryption_context={"big": "v" * 9000})
    head = busta.start_decryption(keyring=KEYRING).read_header(message)
    put_object(client, key, message[:head] + bytes(20 << 20))
    with gets(client) as seen:
        header = s3.read_object_header(BUCKET, key, client=client)
    assert header.encryption_context["big"] == "v" * 9000
    assert next(p["operation"] for p in seen) == "HeadObject" and fetched(seen) < 64 << 10
    etag = client.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert all(p["IfMatch"] == etag for p in seen if p["operation"] == "GetObject")
    with gets(client) as seen, pytest.raises(LimitExceededError):
        s3.read_object_header(BUCKET, key, client=client, sdk=busta.Client(max_header_bytes=8192))
    assert fetched(seen) <= 8192


def test_a_missing_object_is_an_s3_error(client: Any) -> None:
    with pytest.raises(S3Error) as caught:
        s3.read_object_header(BUCKET, "no-such-key", client=client)
    assert (caught.value.operation, caught.value.code) == ("HeadObject", "404")
