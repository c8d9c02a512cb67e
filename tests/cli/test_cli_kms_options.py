"""The KMS options of ``busta encrypt``/``decrypt``, through the real command in a fresh process,
against a moto server on 127.0.0.1 that records each request (what busta sent KMS is read back
from moto's own request record, not from busta).

- ``--kms-key`` takes a key ARN, an alias ARN, a key id or an alias name on encrypt (the last two
  in the region of ``--aws-region``, ``AWS_REGION``, ``AWS_DEFAULT_REGION`` or the profile), and
  only a key ARN on decrypt;
- ``--aws-profile`` picks a named profile's credentials and region;
- ``--grant-token`` goes with every KMS call;
- ``--kms-account``/``--kms-partition`` filter ``--kms-discovery`` and nothing else;
- ``--cache-max-age`` (with ``--cache-max-messages``/``--cache-max-bytes``) shares data keys
  across the files of one command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support.kms_cli import PROFILE, REGION, busta, key, one_line_error, plain, profile_files, provider_infos, server
from ..support.kms_recording import RecordingMotoServer, kms_calls, recording_moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY

__all__ = ["key", "plain", "recording_moto_server", "server"]  # fixtures, imported for pytest to find


# -- key identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["key ARN", "alias ARN", "key id", "alias name"])
def test_encrypt_takes_every_identifier_kms_accepts_and_the_message_names_the_key_arn(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path, spelling: str
) -> None:
    message = tmp_path / "m.enc"
    endpoint = ["--aws-endpoint-url", server.endpoint, "--aws-region", REGION]
    sent = busta(["encrypt", str(plain), "-o", str(message), "--kms-key", key[spelling], *endpoint], tmp_path)
    assert sent.returncode == 0, sent.stderr
    assert [c.parameters["KeyId"] for c in kms_calls(server, "GenerateDataKey")] == [key[spelling]]
    assert provider_infos(message, tmp_path) == [key["key ARN"]]  # KMS answers with the key ARN
    back = busta(
        ["decrypt", str(message), "-o", str(tmp_path / "back"), "--kms-key", key["key ARN"], *endpoint], tmp_path
    )
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_key_id_takes_its_region_from_the_environment(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path, variable: str
) -> None:
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, variable: REGION}
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m.enc"), "--kms-key", key["key id"]]
    sent = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path, env)
    assert sent.returncode == 0, sent.stderr


def test_a_key_id_with_no_region_anywhere_is_a_usage_error_naming_the_flags(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m.enc"), "--kms-key", key["alias name"]]
    refused = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path)
    one_line_error(refused, 2, "--kms-key alias/busta-cli-kms", "--aws-region")
    assert "client=" not in refused.stderr
    assert kms_calls(server) == [] and not (tmp_path / "m.enc").exists()


@pytest.mark.parametrize("spelling", ["alias ARN", "key id", "alias name"])
def test_decrypt_refuses_anything_but_a_key_arn_before_reading_input(
    server: RecordingMotoServer, key: dict[str, str], tmp_path: Path, spelling: str
) -> None:
    args = ["decrypt", str(tmp_path / "missing.enc"), "-o", str(tmp_path / "out"), "--kms-key", key[spelling]]
    refused = busta([*args, "--aws-endpoint-url", server.endpoint, "--aws-region", REGION], tmp_path)
    one_line_error(refused, 2, f"--kms-key {key[spelling]}: decrypt needs a key ARN", "--kms-discovery")
    assert kms_calls(server) == []


def test_an_arn_that_is_not_valid_is_a_usage_error(tmp_path: Path, plain: Path) -> None:
    refused = busta(["encrypt", str(plain), "-o", str(tmp_path / "m"), "--kms-key", "arn:aws:kms:nowhere"], tmp_path)
    one_line_error(refused, 2, "--kms-key arn:aws:kms:nowhere", "not a KMS ARN")


# -- --aws-profile --------------------------------------------------------------------------------


def test_aws_profile_gives_kms_its_credentials_and_a_key_id_its_region(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    env = profile_files(tmp_path)  # no credentials and no region but the profile's
    message, endpoint = tmp_path / "m.enc", ["--aws-endpoint-url", server.endpoint]
    without = busta(["encrypt", str(plain), "-o", str(message), "--kms-key", key["key ARN"], *endpoint], tmp_path, env)
    one_line_error(without, 1)
    assert not message.exists()
    profile = ["--aws-profile", PROFILE, *endpoint]
    sent = busta(["encrypt", str(plain), "-o", str(message), "--kms-key", key["key id"], *profile], tmp_path, env)
    assert sent.returncode == 0, sent.stderr
    back = busta(
        ["decrypt", str(message), "-o", str(tmp_path / "b"), "--kms-key", key["key ARN"], *profile], tmp_path, env
    )
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "b").read_bytes() == plain.read_bytes()


def test_aws_region_and_aws_region_variables_come_before_the_profile_s_region(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    env = {**profile_files(tmp_path, region="eu-north-1"), "AWS_REGION": REGION}  # the key is not in eu-north-1
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m.enc"), "--kms-key", key["key id"], "--aws-profile", PROFILE]
    sent = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path, env)
    assert sent.returncode == 0, sent.stderr
    failed = busta([*args, "-f", "--aws-region", "eu-north-1", "--aws-endpoint-url", server.endpoint], tmp_path, env)
    one_line_error(failed, 1)  # the option wins: the key is not found there


@pytest.mark.parametrize("command", ["encrypt", "decrypt"])
def test_an_unknown_aws_profile_is_one_line_naming_it(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path, command: str
) -> None:
    env = profile_files(tmp_path)
    args = [command, str(plain), "-o", str(tmp_path / "out"), "--kms-key", key["key ARN"], "--aws-profile", "nope"]
    refused = busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path, env)
    one_line_error(refused, 2, "--aws-profile nope", "no such profile")
    assert kms_calls(server) == []


def test_an_unknown_aws_profile_for_s3_alone_is_one_line_naming_it(plain: Path, tmp_path: Path) -> None:
    assert busta(["keygen"], tmp_path).returncode == 0
    args = ["encrypt", str(plain), "-o", "s3://bucket/key", "--aws-profile", "nope"]
    refused = busta([*args, "--aws-endpoint-url", "http://127.0.0.1:9"], tmp_path, profile_files(tmp_path))
    one_line_error(refused, 2, "--aws-profile nope")


# -- --grant-token --------------------------------------------------------------------------------


def test_grant_tokens_go_with_generate_data_key_encrypt_and_decrypt(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    other = server.client("kms", REGION).create_key(Description="second")["KeyMetadata"]["Arn"]
    tokens = ["--grant-token", "token-one", "--grant-token", "token-two"]
    endpoint = ["--aws-endpoint-url", server.endpoint]
    keys = ["--kms-key", key["key ARN"], "--kms-key", other]
    message = tmp_path / "m.enc"
    assert busta(["encrypt", str(plain), "-o", str(message), *keys, *tokens, *endpoint], tmp_path).returncode == 0
    back = busta(["decrypt", str(message), "-o", str(tmp_path / "b"), "--kms-key", other, *tokens, *endpoint], tmp_path)
    assert back.returncode == 0, back.stderr
    found = busta(["decrypt", str(message), "-o", str(tmp_path / "c"), "--kms-discovery", *tokens, *endpoint], tmp_path)
    assert found.returncode == 0, found.stderr
    calls = [c for c in kms_calls(server) if c.operation != "CreateKey"]
    assert [c.operation for c in calls] == ["GenerateDataKey", "Encrypt", "Decrypt", "Decrypt"]
    assert all(c.parameters.get("GrantTokens") == ["token-one", "token-two"] for c in calls), calls


def test_without_grant_tokens_none_are_sent(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m"), "--kms-key", key["key ARN"]]
    assert busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path).returncode == 0
    assert [c.parameters.get("GrantTokens") for c in kms_calls(server, "GenerateDataKey")] == [None]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([arg for n in range(11) for arg in ("--grant-token", f"t{n}")], ["11 grant tokens", "at most 10"]),
        (["--grant-token", "x" * 8193], ["--grant-token must be 1 to 8192 characters"]),
        (["--grant-token", ""], ["--grant-token must be 1 to 8192 characters"]),
    ],
    ids=["eleven", "too-long", "empty"],
)
def test_grant_tokens_beyond_kms_limits_are_usage_errors(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path, extra: list[str], words: list[str]
) -> None:
    args = ["encrypt", str(plain), "-o", str(tmp_path / "m"), "--kms-key", key["key ARN"], *extra]
    one_line_error(busta([*args, "--aws-endpoint-url", server.endpoint], tmp_path), 2, *words)
    assert kms_calls(server) == []


def test_a_grant_token_without_a_kms_key_is_refused(tmp_path: Path, plain: Path) -> None:
    refused = busta(["encrypt", str(plain), "-o", str(tmp_path / "m"), "--grant-token", "t"], tmp_path)
    one_line_error(refused, 2, "--grant-token", "--kms-key")


# -- discovery filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        (["--kms-discovery", "--kms-partition", "aws"], ["--kms-partition needs --kms-account"]),
        (["--kms-key", "ARN", "--kms-account", "111122223333"], ["--kms-discovery, which is not given"]),
        (["--kms-key", "ARN", "--kms-partition", "aws"], ["--kms-discovery, which is not given"]),
        (["--kms-discovery", "--kms-account", "12345"], ["--kms-account 12345: an AWS account id is 12 digits"]),
        (["--kms-discovery", "--kms-account", "111122223333", "--kms-partition", "AWS!"], ["--kms-partition AWS!"]),
    ],
    ids=[
        "partition-alone",
        "account-without-discovery",
        "partition-without-discovery",
        "short-account",
        "bad-partition",
    ],
)
def test_discovery_filters_that_would_be_ignored_or_are_malformed_are_usage_errors(
    key: dict[str, str], tmp_path: Path, filters: list[str], words: list[str]
) -> None:
    given = [key["key ARN"] if word == "ARN" else word for word in filters]
    one_line_error(
        busta(["decrypt", str(tmp_path / "m.enc"), "-o", str(tmp_path / "out"), *given], tmp_path), 2, *words
    )


def test_a_partition_filter_that_does_not_admit_the_key_skips_it(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    message, endpoint = tmp_path / "m.enc", ["--aws-endpoint-url", server.endpoint]
    assert (
        busta(["encrypt", str(plain), "-o", str(message), "--kms-key", key["key ARN"], *endpoint], tmp_path).returncode
        == 0
    )
    filtered = ["--kms-discovery", "--kms-account", key["account"], "--kms-partition", "aws-cn", *endpoint]
    refused = busta(["decrypt", str(message), "-o", str(tmp_path / "b"), *filtered], tmp_path)
    one_line_error(refused, 1, "outside the discovery filter")
    admitted = ["--kms-discovery", "--kms-account", key["account"], "--kms-partition", "aws", *endpoint]
    assert busta(["decrypt", str(message), "-o", str(tmp_path / "b"), *admitted], tmp_path).returncode == 0


# -- S3 and bulk ----------------------------------------------------------------------------------


def test_aws_profile_carries_an_s3_round_trip_with_no_other_credentials(
    server: RecordingMotoServer, key: dict[str, str], plain: Path, tmp_path: Path
) -> None:
    server.with_bucket("busta-kms-profile", REGION)
    env = profile_files(tmp_path)
    uri = "s3://busta-kms-profile/plain.enc"
    options = ["--kms-key", key["key ARN"], "--aws-profile", PROFILE, "--aws-endpoint-url", server.endpoint]
    sent = busta(["encrypt", str(plain), "-o", uri, *options], tmp_path, env)
    assert sent.returncode == 0, sent.stderr
    back = busta(["decrypt", uri, "-o", str(tmp_path / "back"), *options], tmp_path, env)
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["rewrap", "--new-kms-key", "alias/x"], ["--new-kms-key alias/x: a key id or alias needs a region"]),
        (["rewrap", "--kms-key", "alias/x", "--new-key-file", "k"], ["--kms-key alias/x: decrypt needs a key ARN"]),
        (["encrypt", "--kms-partition", "aws"], ["--kms-discovery, which is not given"]),
        (["encrypt", "--grant-token", "t"], ["--grant-token is for KMS keys"]),
    ],
    ids=["new-key-without-region", "old-key-alias", "stray-partition", "stray-grant-token"],
)
def test_bulk_refuses_the_same_kms_options_before_any_worker_starts(
    tmp_path: Path, options: list[str], words: list[str]
) -> None:
    operation, *rest = options
    (tmp_path / "src").mkdir()
    refused = busta(["bulk", operation, str(tmp_path / "src"), str(tmp_path / "dst"), *rest], tmp_path)
    one_line_error(refused, 2, *words)
