"""The moto KMS harness itself: a real moto server process, spoken to over HTTP on 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from .support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from .support.moto_server import MotoServer

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

CONTEXT = {"purpose": "test", "tenant": "alpha"}


def test_server_answers(moto_server: MotoServer) -> None:
    assert moto_server.endpoint.startswith("http://127.0.0.1:")
    assert moto_server.running
    keys = moto_server.client("kms", WEST).list_keys()["Keys"]
    assert isinstance(keys, list)


def test_keys_fixture(kms_keys: KmsKeys) -> None:
    assert kms_keys.partition == "aws"
    assert kms_keys.account_id.isdigit() and len(kms_keys.account_id) == 12
    for arn in (kms_keys.single_arn, kms_keys.other_arn, kms_keys.mrk_west_arn):
        assert arn.startswith(f"arn:aws:kms:{WEST}:{kms_keys.account_id}:key/")
    for arn in (kms_keys.mrk_east_arn, kms_keys.east_single_arn):
        assert arn.startswith(f"arn:aws:kms:{EAST}:{kms_keys.account_id}:key/")
    mrk_id = kms_keys.mrk_west_arn.split(":key/")[1]
    assert kms_keys.mrk_east_arn.split(":key/")[1] == mrk_id
    # AWS's shape: mrk- and 32 lowercase hex digits (see tests/support/moto_launcher.py)
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", mrk_id), mrk_id


def test_generate_data_key_decrypt_round_trip(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    kms = moto_server.client("kms", WEST)
    made = kms.generate_data_key(KeyId=kms_keys.single_arn, KeySpec="AES_256", EncryptionContext=CONTEXT)
    assert len(made["Plaintext"]) == 32
    assert made["KeyId"] == kms_keys.single_arn
    got = kms.decrypt(CiphertextBlob=made["CiphertextBlob"], KeyId=kms_keys.single_arn, EncryptionContext=CONTEXT)
    assert got["Plaintext"] == made["Plaintext"]
    assert got["KeyId"] == kms_keys.single_arn


def test_encryption_context_is_enforced(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    kms = moto_server.client("kms", WEST)
    blob = kms.generate_data_key(KeyId=kms_keys.single_arn, NumberOfBytes=32, EncryptionContext=CONTEXT)[
        "CiphertextBlob"
    ]
    for wrong in ({}, {**CONTEXT, "tenant": "beta"}, {**CONTEXT, "extra": "x"}):
        with pytest.raises(ClientError) as caught:
            kms.decrypt(CiphertextBlob=blob, KeyId=kms_keys.single_arn, EncryptionContext=wrong)
        assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_wrong_key_is_refused(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    kms = moto_server.client("kms", WEST)
    blob = kms.encrypt(KeyId=kms_keys.single_arn, Plaintext=b"secret", EncryptionContext=CONTEXT)["CiphertextBlob"]
    with pytest.raises(ClientError) as caught:
        kms.decrypt(CiphertextBlob=blob, KeyId=kms_keys.other_arn, EncryptionContext=CONTEXT)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_single_region_key_does_not_cross_regions(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    blob = moto_server.client("kms", WEST).encrypt(KeyId=kms_keys.single_arn, Plaintext=b"secret")["CiphertextBlob"]
    with pytest.raises(ClientError) as caught:
        moto_server.client("kms", EAST).decrypt(CiphertextBlob=blob)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_mrk_ciphertext_decrypts_with_replica(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    west = moto_server.client("kms", WEST)
    east = moto_server.client("kms", EAST)
    made = west.generate_data_key(KeyId=kms_keys.mrk_west_arn, KeySpec="AES_256", EncryptionContext=CONTEXT)
    assert made["KeyId"] == kms_keys.mrk_west_arn
    # in its own Region (the bug the launcher works around made this fail too)
    same = west.decrypt(CiphertextBlob=made["CiphertextBlob"], KeyId=kms_keys.mrk_west_arn, EncryptionContext=CONTEXT)
    assert same["Plaintext"] == made["Plaintext"]
    # and in the replica's Region
    got = east.decrypt(CiphertextBlob=made["CiphertextBlob"], KeyId=kms_keys.mrk_east_arn, EncryptionContext=CONTEXT)
    assert got["Plaintext"] == made["Plaintext"]
    assert got["KeyId"] == kms_keys.mrk_east_arn


def test_mrk_describe_and_raw_id(moto_server: MotoServer, kms_keys: KmsKeys) -> None:
    west = moto_server.client("kms", WEST)
    east = moto_server.client("kms", EAST)
    mrk_id = kms_keys.mrk_west_arn.split(":key/")[1]
    replica = east.describe_key(KeyId=mrk_id)["KeyMetadata"]  # a raw mrk- id is accepted
    assert replica["Arn"] == kms_keys.mrk_east_arn
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    primary = west.describe_key(KeyId=kms_keys.mrk_west_arn)["KeyMetadata"]
    assert primary["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


def test_stopped_server_fails_with_connection_error() -> None:
    server = MotoServer()
    with server:
        kms = server.client("kms", WEST, max_attempts=1)
        kms.list_keys()
        assert server.startup_seconds < 15
    assert not server.running
    with pytest.raises(EndpointConnectionError):
        kms.list_keys()


def test_reset_drops_state() -> None:
    with MotoServer() as server:
        kms = server.client("kms", WEST)
        kms.create_key()
        assert len(kms.list_keys()["Keys"]) == 1
        server.reset()
        assert kms.list_keys()["Keys"] == []
        # the launcher's patches survive a reset
        mrk_id = kms.create_key(MultiRegion=True)["KeyMetadata"]["KeyId"]
        assert len(mrk_id) == 36
