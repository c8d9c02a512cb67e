"""busta.s3's public functions are fully typed: a misspelt keyword or ``ExtraArgs`` key is a type error.

mypy --strict checks this file with ``warn_unused_ignores``: each ``# type: ignore[...]``
below must silence a real error, or mypy fails. So the ignores prove that mypy catches
each misuse, and the tests prove that it fails at run time too, before any request.
"""

from __future__ import annotations

import ast
import inspect
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import busta
from busta import s3
from busta.aio import s3 as aio_s3
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


def test_every_transfer_defaults_to_the_one_named_concurrency() -> None:
    takers = {
        f"{module.__name__}.{name}": inspect.signature(value).parameters["max_concurrency"].default
        for module in (s3, aio_s3)
        for name in module.__all__
        if inspect.isfunction(value := getattr(module, name))
        and "max_concurrency" in inspect.signature(value).parameters
    }
    assert s3.DEFAULT_MAX_CONCURRENCY == 4  # boto3's is 10: busta holds each part in flight in memory
    assert takers == dict.fromkeys(
        [
            "busta.s3.download_file",
            "busta.s3.object_writer",
            "busta.s3.rewrap_object",
            "busta.s3.upload_file",
            "busta.s3.upload_fileobj",
            "busta.aio.s3.download_file",
            "busta.aio.s3.upload_file",
            "busta.aio.s3.upload_fileobj",
        ],
        s3.DEFAULT_MAX_CONCURRENCY,
    )


def _defaults(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[tuple[str, ast.expr | None]]:
    """Each parameter of a function's source and its default expression (None: it has none)."""
    positional = node.args.posonlyargs + node.args.args
    padded = [None] * (len(positional) - len(node.args.defaults)) + node.args.defaults
    for argument, default in zip(positional, padded, strict=True):
        yield argument.arg, default
    for argument, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True):
        yield argument.arg, default


def test_no_signature_spells_the_default_concurrency_as_a_literal() -> None:
    """A literal ``4`` equals the constant at run time; only the source tells them apart."""
    package = Path(busta.__file__).parent
    literal = [
        f"{path.relative_to(package)}:{node.name}"
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for name, default in _defaults(node)
        if name == "max_concurrency"
        and default is not None
        and not (isinstance(default, ast.Name) and default.id == "DEFAULT_MAX_CONCURRENCY")
    ]
    assert literal == []
