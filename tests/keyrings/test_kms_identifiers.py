"""The KMS keyrings take every identifier KMS accepts, as the ESDK spec's keyring does
(framework/aws-kms/aws-kms-keyring.md, "a valid AWS KMS identifier"): a key ARN, an alias ARN,
a key id or an alias name encrypt; only a key ARN matches data keys on decrypt, and a keyring
given anything else says so. Grant tokens are bounded by KMS's limits when a keyring is made,
and go with every call. Against moto's server on 127.0.0.1; requests are seen through botocore's
``before-parameter-build`` hook on the clients handed to the keyrings.
"""

from __future__ import annotations

from typing import Any

import pytest

import busta
from busta.errors import NoDecryptingKeyError, UsageError
from busta.format import parse_header
from busta.keyconfig import KmsDiscovery, KmsKey
from busta.keyrings import AwsKmsDiscoveryKeyring, AwsKmsKeyring, AwsKmsMrkKeyring
from busta.limits import MAX_KMS_GRANT_TOKEN_CHARS, MAX_KMS_GRANT_TOKENS

from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import MotoServer

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

ALIAS = "alias/busta-identifiers"
PLAINTEXT = b"named by alias " * 10


@pytest.fixture(scope="module")
def spellings(moto_server: MotoServer, kms_keys: KmsKeys) -> dict[str, str]:
    kms = moto_server.client("kms", WEST)
    key_id = kms_keys.single_arn.rsplit("/", 1)[1]
    kms.create_alias(AliasName=ALIAS, TargetKeyId=key_id)
    return {
        "key ARN": kms_keys.single_arn,
        "alias ARN": f"arn:aws:kms:{WEST}:{kms_keys.account_id}:{ALIAS}",
        "key id": key_id,
        "alias name": ALIAS,
    }


def observed(client: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every KMS call ``client`` makes from now on: (operation, parameters as sent)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    client.meta.events.register("before-parameter-build.kms.*", record)
    return calls


@pytest.mark.parametrize("spelling", ["key ARN", "alias ARN", "key id", "alias name"])
def test_every_identifier_encrypts_with_a_client_and_the_message_names_the_key_arn(
    moto_server: MotoServer, spellings: dict[str, str], spelling: str
) -> None:
    client = moto_server.client("kms", WEST)
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(spellings[spelling], client=client))
    parsed = parse_header(message)
    assert parsed is not None
    edks = parsed.header.encrypted_data_keys
    assert [edk.provider_info.decode() for edk in edks] == [spellings["key ARN"]]
    assert busta.decrypt(message, keyring=AwsKmsKeyring(spellings["key ARN"], client=client)).plaintext == PLAINTEXT


@pytest.mark.parametrize("spelling", ["key id", "alias name"])
def test_a_key_id_or_alias_name_with_a_region_uses_the_supplier_s_client_for_that_region(
    moto_server: MotoServer, spellings: dict[str, str], spelling: str
) -> None:
    asked: list[str] = []

    def supplier(region: str) -> Any:
        asked.append(region)
        return moto_server.client("kms", region)

    keyring = AwsKmsKeyring(spellings[spelling], region=WEST, client_supplier=supplier)
    message = busta.encrypt(PLAINTEXT, keyring=keyring)
    assert asked == [WEST]
    assert (
        busta.decrypt(message, keyring=AwsKmsKeyring(spellings["key ARN"], client_supplier=supplier)).plaintext
        == PLAINTEXT
    )


def test_a_key_id_without_region_or_client_is_refused_when_made() -> None:
    with pytest.raises(UsageError, match="not an ARN: give its region"):
        AwsKmsKeyring("alias/x")


@pytest.mark.parametrize(
    ("key_id", "region", "words"),
    [
        ("arn:aws:kms:us-west-2:111122223333:key/k", "us-east-1", "is in us-west-2, not in the region us-east-1"),
        ("alias/x", "not a region", "region must be an AWS region name"),
        ("arn:aws:kms:us-west-2:111122223333:thing/k", None, "names no valid key or alias"),
    ],
)
def test_a_region_that_contradicts_the_key_or_is_malformed_is_refused(
    key_id: str, region: str | None, words: str
) -> None:
    with pytest.raises(UsageError, match=words):
        AwsKmsKeyring(key_id, region=region)


def test_a_client_of_another_region_than_the_one_given_is_refused(moto_server: MotoServer) -> None:
    with pytest.raises(UsageError, match="the client is for us-west-2, not eu-west-1"):
        AwsKmsKeyring("alias/x", client=moto_server.client("kms", WEST), region="eu-west-1")


@pytest.mark.parametrize("spelling", ["alias ARN", "key id", "alias name"])
@pytest.mark.parametrize("kind", [AwsKmsKeyring, AwsKmsMrkKeyring])
def test_decrypt_with_anything_but_a_key_arn_fails_saying_why_without_calling_kms(
    moto_server: MotoServer, spellings: dict[str, str], spelling: str, kind: type[AwsKmsKeyring]
) -> None:
    client = moto_server.client("kms", WEST)
    message = busta.encrypt(PLAINTEXT, keyring=AwsKmsKeyring(spellings["key ARN"], client=client))
    calls = observed(client)
    with pytest.raises(NoDecryptingKeyError) as failure:
        busta.decrypt(message, keyring=kind(spellings[spelling], client=client))
    assert any("is not a key ARN: only a key ARN matches" in reason for reason in failure.value.reasons)
    assert calls == []


def test_grant_tokens_go_with_every_call(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    client = moto_server.client("kms", WEST)
    calls = observed(client)
    tokens = ["grant-a", "grant-b"]
    generator = AwsKmsKeyring(kms_keys.single_arn, client=client, grant_tokens=tokens)
    child = AwsKmsKeyring(kms_keys.other_arn, client=client, grant_tokens=tokens)
    message = busta.encrypt(PLAINTEXT, keyring=busta.keyrings.MultiKeyring(generator=generator, children=[child]))
    assert busta.decrypt(message, keyring=child).plaintext == PLAINTEXT
    discovery = AwsKmsDiscoveryKeyring(client=client, grant_tokens=tokens)
    assert busta.decrypt(message, keyring=discovery).plaintext == PLAINTEXT
    assert [name for name, _ in calls] == ["GenerateDataKey", "Encrypt", "Decrypt", "Decrypt"]
    assert all(params["GrantTokens"] == tokens for _, params in calls)


@pytest.mark.parametrize(
    ("tokens", "words"),
    [
        ([f"t{n}" for n in range(MAX_KMS_GRANT_TOKENS + 1)], f"at most {MAX_KMS_GRANT_TOKENS}"),
        (["x" * (MAX_KMS_GRANT_TOKEN_CHARS + 1)], "longer than"),
        ([""], "non-empty"),
        ("token", "not one string"),
        (b"token", "not one string"),
        ([b"token"], "non-empty strings"),
    ],
    ids=["eleven", "too-long", "empty", "str", "bytes", "bytes-item"],
)
@pytest.mark.parametrize("kind", ["strict", "discovery"])
def test_grant_tokens_beyond_kms_limits_are_refused_when_the_keyring_is_made(
    tokens: Any, words: str, kind: str
) -> None:
    with pytest.raises(UsageError, match=words):
        if kind == "strict":
            AwsKmsKeyring("arn:aws:kms:us-west-2:111122223333:key/k", grant_tokens=tokens)
        else:
            AwsKmsDiscoveryKeyring(grant_tokens=tokens)


def test_ten_grant_tokens_of_the_longest_length_are_accepted() -> None:
    tokens = ["x" * MAX_KMS_GRANT_TOKEN_CHARS] * MAX_KMS_GRANT_TOKENS
    AwsKmsKeyring("arn:aws:kms:us-west-2:111122223333:key/k", grant_tokens=tokens)


def test_descriptions_carry_region_and_grant_tokens_to_the_keyring(
    moto_server: MotoServer, spellings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    described = KmsKey(spellings["alias name"], endpoint_url=moto_server.endpoint, region=WEST, grant_tokens=("g",))
    message = busta.encrypt(PLAINTEXT, keyring=described.build())
    discovery = KmsDiscovery(endpoint_url=moto_server.endpoint, grant_tokens=("g",))
    assert busta.decrypt(message, keyring=discovery.build()).plaintext == PLAINTEXT
