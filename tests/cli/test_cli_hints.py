"""busta/cli/hints.py: the one place that words a failure for a person. AWS answers moto's server
does not give (AccessDenied, a disabled key, an expired token) are made here as botocore makes them."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import botocore.exceptions
import pytest

import busta
from busta import cli
from busta.cli.hints import Concerning, cli_words, concerning, explain, hint_for
from busta.errors import KmsError, NoDecryptingKeyError, PolicyError, S3Error, UsageError
from busta.keyrings import AwsKmsKeyring, RawAesKeyring
from busta.suites import AlgorithmSuite, CommitmentPolicy

ROOT = Path(__file__).resolve().parents[2]


def client_error(code: str, operation: str = "GetObject", message: str = "no") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("AccessDenied", "the credentials may not do this: check the IAM policy (and the bucket policy)"),
        ("AccessDeniedException", "the credentials may not use this KMS key: check its key policy and the IAM policy"),
        ("DisabledException", "the KMS key is disabled: enable it (`aws kms enable-key`) or use another key"),
        ("NotFoundException", "no such KMS key: check the key id or ARN, and its region (--aws-region)"),
        ("NoSuchBucket", "no such bucket: check its name, and --aws-region / --aws-endpoint-url"),
        ("NoSuchKey", "no such object: check the key (names are case-sensitive)"),
        (
            "ExpiredToken",
            "the AWS credentials have expired: refresh them (e.g. `aws sso login`, or a new session token)",
        ),
        ("ExpiredTokenException", "the AWS credentials have expired"),
        ("SomethingNew", "AWS refused the request: its error code says why (docs/cli.md, Errors)"),
    ],
)
def test_every_client_error_is_one_line_with_a_hint(code: str, hint: str) -> None:
    said = explain(client_error(code))
    assert said is not None and not said.reasons
    assert code in said.text and hint in said.text and "\n" not in said.text
    kms = explain(KmsError("Decrypt", code, "arn:aws:kms:us-west-2:111122223333:key/k", "us-west-2", "no"))
    s3 = explain(S3Error("GetObject", code, "bucket", "key", "no"))
    assert kms is not None and kms.text.endswith(hint_for(code)) and "key/k" in kms.text
    assert s3 is not None and s3.text.endswith(hint_for(code)) and "s3://bucket/key" in s3.text


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (botocore.exceptions.NoCredentialsError(), "no AWS credentials found"),
        (
            botocore.exceptions.EndpointConnectionError(endpoint_url="https://kms.example:443/x"),
            "cannot reach https://kms.example:443",
        ),
        (botocore.exceptions.ProfileNotFound(profile="p"), "no such AWS profile"),
        (botocore.exceptions.NoRegionError(), "no AWS region: pass --aws-region or set AWS_REGION"),
        (botocore.exceptions.DataNotFoundError(data_path="x"), "the AWS SDK failed: check the AWS settings"),
    ],
)
def test_every_botocore_error_is_one_line_with_a_hint(error: botocore.exceptions.BotoCoreError, hint: str) -> None:
    said = explain(error)
    assert said is not None and hint in said.text and "\n" not in said.text


def test_a_botocore_error_that_escapes_a_command_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def escaping(args: argparse.Namespace) -> None:
        with concerning("s3://bucket/key"):
            raise client_error("AccessDenied", "HeadObject", "Access Denied")

    monkeypatch.setattr(cli, "_run", escaping)
    assert cli.main(["inspect", "whatever"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("busta: error: s3://bucket/key: An error occurred (AccessDenied)")
    assert err.rstrip().endswith("check the IAM policy (and the bucket policy)")


def test_no_decrypting_key_carries_the_hint_of_its_kms_errors() -> None:
    kms = KmsError("Decrypt", "ExpiredTokenException", "arn:aws:kms:us-west-2:111122223333:key/k", "us-west-2")
    said = explain(Concerning("a.enc", NoDecryptingKeyError("no key could decrypt", [str(kms)], [kms])))
    assert said is not None
    assert said.text.startswith("a.enc: no key could decrypt; the AWS credentials have expired")
    assert said.reasons == (str(kms),)


def test_library_messages_keep_python_words_and_the_cli_says_flags() -> None:
    with pytest.raises(PolicyError) as legacy:
        CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT.check_decrypt(AlgorithmSuite(0x0078))
    assert "busta.Client(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT)" in str(legacy.value)
    said = explain(legacy.value)
    assert said is not None and "--commitment-policy require-encrypt-allow-decrypt" in said.text
    assert "commitment_policy=" not in said.text and "CommitmentPolicy." not in said.text
    with pytest.raises(UsageError) as alias:
        AwsKmsKeyring("alias/backups")
    assert "(region=)" in str(alias.value)
    said = explain(alias.value)
    assert said is not None and "alias/backups" in said.text and "--aws-region" in said.text
    assert "region=" not in said.text and "client" not in said.text


def test_text_from_a_bulk_worker_is_put_in_cli_flags_with_its_hint() -> None:
    assert cli_words("the destination exists and was not written by busta bulk (pass overwrite=True)").endswith(
        "(pass --overwrite)"
    )
    with pytest.raises(PolicyError) as legacy:
        busta.Client().decrypt(_legacy_message(), keyring=_keyring())
    assert "(--commitment-policy require-encrypt-allow-decrypt allows it)" in cli_words(str(legacy.value))
    text = 'S3Error: S3 HeadObject of s3://b/k failed: EndpointConnectionError (Could not connect to "http://127.0.0.1:9/b/k")'
    assert cli_words(text).endswith("; cannot reach http://127.0.0.1:9: check --aws-endpoint-url / network")


def _keyring() -> RawAesKeyring:
    return RawAesKeyring("n", "k", bytes(32))


def _legacy_message() -> bytes:
    allow = busta.Client(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    return allow.encrypt(b"old", keyring=_keyring(), algorithm=AlgorithmSuite(0x0078))


@pytest.mark.parametrize(
    ("module", "extra"),
    [("botocore", "aws"), ("boto3", "aws"), ("pkcs11", "hsm"), ("distributed", "bulk"), ("zstandard", "zstd")],
)
def test_a_missing_module_names_the_extra_to_install(module: str, extra: str) -> None:
    said = explain(ModuleNotFoundError(f"No module named {module!r}", name=module))
    assert said is not None and said.text.endswith(f'pip install "busta[{extra}]"')


def test_tqdm_is_imported_only_when_a_progress_line_is_drawn(tmp_path: Path) -> None:
    code = (
        "import sys, contextlib, io, busta, busta.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    busta.cli.main(['--version'])\n"
        "print('tqdm' in sys.modules)\n"
        "from busta.cli.progress import progress_line\n"
        "with progress_line(10, 'x') as bar: pass\n"
        "print('tqdm' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.split() == ["False", "True"]


def test_the_address_in_a_hint_is_never_one_a_hostile_key_id_chose() -> None:
    hostile = KmsError("Decrypt", "EndpointConnectionError", "http://evil.example/", "us-west-2", "no route")
    said = explain(hostile)
    assert (
        said is not None
        and "cannot reach the AWS endpoint" in said.text
        and "cannot reach http://evil" not in said.text
    )
    real = S3Error(
        "GetObject", "EndpointConnectionError", "b", "k", 'Could not connect to "https://u:pw@s3.example:9000/b/k"'
    )
    said = explain(real)
    assert said is not None and said.text.endswith(
        "cannot reach https://s3.example:9000: check --aws-endpoint-url / network"
    )
