"""busta.s3's public functions are fully typed: a misspelt keyword or ``ExtraArgs`` key is a type error.

mypy --strict checks this file with ``warn_unused_ignores``: each ``# type: ignore[...]``
below must silence a real error, or mypy fails. So the ignores prove that mypy catches
each misuse, and the tests prove that it fails at run time too, before any request.
"""

from __future__ import annotations

import inspect
import io
from typing import Any

import pytest

from busta import s3
from busta.errors import UsageError
from busta.keyrings import RawAesKeyring

KEYRING = RawAesKeyring("typing", "key", bytes(32))


class NoRequests:
    """A stand-in for a boto3 client that fails the test if any request is made."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no request may be made, but {name} was called")


def test_no_public_function_takes_arbitrary_keywords() -> None:
    for name in s3.__all__:
        value = getattr(s3, name)
        if not inspect.isfunction(value):
            continue
        signature = inspect.signature(value)
        for parameter in signature.parameters.values():
            assert parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL), (name, parameter)
            assert parameter.annotation is not parameter.empty, (name, parameter.name)
        assert signature.return_annotation is not signature.empty, name


def test_a_misspelt_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="clinet"):
        s3.upload_fileobj(io.BytesIO(b""), "bucket", "key", clinet=NoRequests(), keyring=KEYRING)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="extra_args"):
        s3.download_file("bucket", "key", "out", client=NoRequests(), extra_args={})  # type: ignore[call-arg]


def test_a_misspelt_extra_args_key_is_a_type_error() -> None:
    upload: s3.UploadExtraArgs = {"ContentTyp": "text/plain"}  # type: ignore[typeddict-unknown-key]
    with pytest.raises(UsageError, match="ContentTyp"):
        s3.upload_fileobj(io.BytesIO(b""), "bucket", "key", client=NoRequests(), keyring=KEYRING, ExtraArgs=upload)
    download: s3.DownloadExtraArgs = {"Versionid": "v1"}  # type: ignore[typeddict-unknown-key]
    with pytest.raises(UsageError, match="Versionid"):
        s3.download_fileobj("bucket", "key", io.BytesIO(), client=NoRequests(), ExtraArgs=download)
    with pytest.raises(UsageError, match="ContentTyp"):  # a literal in the call: mypy's arg-type
        s3.upload_fileobj(
            io.BytesIO(b""),
            "bucket",
            "key",
            client=NoRequests(),
            keyring=KEYRING,
            ExtraArgs={"ContentTyp": "text/plain"},  # type: ignore[arg-type]
        )
    with pytest.raises(UsageError, match="Versionid"):
        s3.download_fileobj(
            "bucket",
            "key",
            io.BytesIO(),
            client=NoRequests(),
            ExtraArgs={"Versionid": "v1"},  # type: ignore[arg-type]
        )


def test_a_wrongly_typed_extra_args_value_is_a_type_error() -> None:
    extra: s3.UploadExtraArgs = {"BucketKeyEnabled": "yes"}  # type: ignore[typeddict-item]
    with pytest.raises(UsageError, match="BucketKeyEnabled"):
        s3.upload_fileobj(io.BytesIO(b""), "bucket", "key", client=NoRequests(), keyring=KEYRING, ExtraArgs=extra)
    with pytest.raises(UsageError, match="BucketKeyEnabled"):
        s3.upload_fileobj(
            io.BytesIO(b""),
            "bucket",
            "key",
            client=NoRequests(),
            keyring=KEYRING,
            ExtraArgs={"BucketKeyEnabled": "yes"},  # type: ignore[arg-type]
        )


def test_a_callback_of_the_wrong_shape_is_a_type_error() -> None:
    with pytest.raises(UsageError, match="Callback"):
        s3.upload_fileobj(
            io.BytesIO(b""),
            "bucket",
            "key",
            client=NoRequests(),
            keyring=KEYRING,
            Callback="progress",  # type: ignore[arg-type]
        )
