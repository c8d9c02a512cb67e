"""Regions named by untrusted data-key ARNs: their shape, the clients they may cause, one session.

A discovery keyring asks for a client in whatever region an encrypted data key's
ARN names, before the header is authenticated. These tests forge such messages and
count, at botocore's ``Session.create_client`` seam, the clients and sessions the
default supplier (a :class:`ClientCache` pointed at a moto server on 127.0.0.1)
makes. Every client here has an ``endpoint_url`` on 127.0.0.1 or is never made:
nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import pytest

import busta
from busta.cli import main
from busta.errors import BustaError, KeyringError, NoDecryptingKeyError, UsageError
from busta.keyrings import (
    AwsKmsDiscoveryKeyring,
    ClientCache,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
    _kms_clients,
    aws_kms,
)
from busta.keyrings._arn import PARTITION_REGION_PREFIXES, is_region, parse_arn, region_fits
from busta.limits import MAX_KMS_CLIENTS, MAX_KMS_REGIONS_PER_DECRYPT
from fuzzing.kms import ForgedKmsKeys, forged_arns

from ..support.kms_fixtures import WEST, KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

AES = RawAesKeyring("regions", "aes", bytes(32))
ONE_ATTEMPT = botocore.config.Config(proxies={}, retries={"mode": "standard", "total_max_attempts": 1})


class Seams:
    """Counts the botocore sessions made and the clients any botocore session creates."""

    def __init__(self) -> None:
        self.sessions = 0
        self.clients: list[tuple[str, str | None]] = []  # (region, endpoint)


@pytest.fixture
def seams(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Seams]:
    """A fresh shared session (credentials from the environment, no config files), counted."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setattr(_kms_clients, "_shared", None)
    counted = Seams()
    real_init = botocore.session.Session.__init__
    real_create = botocore.session.Session.create_client

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        counted.sessions += 1
        real_init(self, *args, **kwargs)

    def create_client(self: Any, service: str, region_name: str | None = None, **kwargs: Any) -> Any:
        counted.clients.append((str(region_name), kwargs.get("endpoint_url")))
        return real_create(self, service, region_name=region_name, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "__init__", init)
    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    yield counted


@pytest.fixture
def default_supplier(moto_server: MotoServer, seams: Seams, monkeypatch: pytest.MonkeyPatch) -> ClientCache:
    """The default supplier of keyrings made without one, pointed at the moto server."""
    cache = ClientCache(endpoint_url=moto_server.endpoint, config=ONE_ATTEMPT)
    monkeypatch.setattr(aws_kms, "_default_clients", cache)
    return cache


def forged_message(arns: list[str]) -> bytes:
    return busta.encrypt(b"forged", keyring=MultiKeyring(generator=AES, children=[ForgedKmsKeys(arns)]))


# --------------------------------------------------------------------------- 60 forged regions


def test_sixty_forged_regions_make_at_most_the_limit_of_clients_from_one_session(
    default_supplier: ClientCache, seams: Seams, kms_keys: KmsKeys, moto_server: MotoServer
) -> None:
    arns = forged_arns(60, kms_keys.account_id)  # account ids are public: the filter admits them all
    message = forged_message(arns)
    assert len({parse_arn(arn).region for arn in arns if parse_arn(arn)}) == 60  # type: ignore[union-attr]
    keyring = AwsKmsDiscoveryKeyring(discovery_filter=DiscoveryFilter(kms_keys.partition, (kms_keys.account_id,)))

    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=keyring)

    assert seams.sessions == 1
    assert len(seams.clients) == MAX_KMS_REGIONS_PER_DECRYPT
    assert {endpoint for _, endpoint in seams.clients} == {moto_server.endpoint}
    assert [region for region, _ in seams.clients] == [parse_arn(a).region for a in arns[:MAX_KMS_REGIONS_PER_DECRYPT]]  # type: ignore[union-attr]
    reasons = caught.value.reasons
    assert len(reasons) == 60
    skipped = [r for r in reasons if f"more than {MAX_KMS_REGIONS_PER_DECRYPT} regions" in r]
    assert len(skipped) == 60 - MAX_KMS_REGIONS_PER_DECRYPT

    # a second forged message reuses the cached clients of the regions it repeats, and the cache stays bounded
    with pytest.raises(NoDecryptingKeyError):
        busta.decrypt(forged_message(forged_arns(60, kms_keys.account_id, prefix="eu-other")), keyring=keyring)
    assert seams.sessions == 1
    assert len(seams.clients) == 2 * MAX_KMS_REGIONS_PER_DECRYPT
    assert "max_clients=32" in repr(default_supplier)


def test_keys_in_regions_already_asked_for_are_still_tried(
    default_supplier: ClientCache, seams: Seams, kms_keys: KmsKeys
) -> None:
    account = kms_keys.account_id
    forged_west = f"arn:aws:kms:{WEST}:{account}:key/{'0' * 8}-0000-0000-0000-{'0' * 12}"
    others = forged_arns(MAX_KMS_REGIONS_PER_DECRYPT - 1, account)
    clients_before = len(seams.clients)
    writer = aws_kms.AwsKmsKeyring(kms_keys.single_arn)

    # us-west-2 is one of the first MAX regions, so its real key (last in the message) is tried
    forged = ForgedKmsKeys([forged_west, *others], first=True)
    message = busta.encrypt(b"mixed", keyring=MultiKeyring(generator=writer, children=[forged]))
    assert busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring()).plaintext == b"mixed"
    assert len(seams.clients) - clients_before <= MAX_KMS_REGIONS_PER_DECRYPT

    # with MAX other regions first, the real key's region is one too many: skipped, with the reason
    message = busta.encrypt(
        b"mixed",
        keyring=MultiKeyring(
            generator=aws_kms.AwsKmsKeyring(kms_keys.single_arn),
            children=[ForgedKmsKeys(forged_arns(MAX_KMS_REGIONS_PER_DECRYPT, account, prefix="ap-more"), first=True)],
        ),
    )
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring())
    assert f"key {kms_keys.single_arn} skipped: the message names more than" in caught.value.reasons[-1]


# --------------------------------------------------------------------------- invalid regions

INVALID_REGIONS = [
    "US-WEST-2",
    "us_west_2",
    "us-west-2.evil.example",
    "us-west-2\n",
    "us-west-",
    "uswest2",
    "üs-west-2",
    "us-west-2/../x",
    "a" * 70,
    "us-" + "west-" * 20 + "2",
    "us-west-123",
    "local",
    "aws-global",
    " us-west-2",
]


@pytest.mark.parametrize("region", INVALID_REGIONS)
def test_an_invalid_region_in_a_data_key_is_a_per_key_failure_that_makes_no_client(
    region: str, default_supplier: ClientCache, seams: Seams
) -> None:
    arn = f"arn:aws:kms:{region}:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    message = forged_message([arn, *forged_arns(1)])
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring())
    first, second = caught.value.reasons
    assert "names no valid region" in first
    assert "KMS decrypt" in second  # the next data key is still tried
    assert [r for r, _ in seams.clients] == [parse_arn(forged_arns(1)[0]).region]  # type: ignore[union-attr]
    assert isinstance(caught.value.errors[0], KeyringError)


@pytest.mark.parametrize("region", INVALID_REGIONS)
def test_the_client_cache_refuses_an_invalid_region_name(
    region: str, default_supplier: ClientCache, seams: Seams
) -> None:
    with pytest.raises(UsageError):
        default_supplier(region)
    assert seams.clients == []


def test_a_supplier_that_fails_for_a_region_is_a_per_key_failure(kms_keys: KmsKeys) -> None:
    def supplier(region: str) -> Any:
        raise botocore.exceptions.InvalidRegionError(region_name=region)

    message = forged_message(forged_arns(2))
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(message, keyring=AwsKmsDiscoveryKeyring(client_supplier=supplier))
    assert len(caught.value.reasons) == 2 and all("InvalidRegionError" in r for r in caught.value.reasons)
    with pytest.raises(KeyringError, match="InvalidRegionError"):
        busta.encrypt(b"x", keyring=aws_kms.AwsKmsKeyring(kms_keys.single_arn, client_supplier=supplier))


# --------------------------------------------------------------------------- the client cache


def test_the_client_cache_keeps_at_most_max_clients_least_recently_used_first(
    moto_server: MotoServer, seams: Seams
) -> None:
    cache = ClientCache(endpoint_url=moto_server.endpoint, config=ONE_ATTEMPT, max_clients=3)
    regions = ["us-west-2", "us-east-1", "eu-west-1", "eu-west-2"]
    first = cache(regions[0])
    for region in regions[1:3]:
        cache(region)
    assert cache(regions[0]) is first  # a hit: now the most recently used
    cache(regions[3])  # evicts us-east-1, the least recently used
    assert cache(regions[0]) is first
    assert [r for r, _ in seams.clients] == regions[:4]
    cache(regions[1])  # made again
    assert [r for r, _ in seams.clients] == [*regions, regions[1]]
    assert seams.sessions == 1
    assert ClientCache().max_clients == MAX_KMS_CLIENTS


@pytest.mark.parametrize(
    "options",
    [
        {"max_clients": 0},
        {"max_clients": True},
        {"max_clients": "8"},
        {"endpoint_url": ""},
        {"endpoint_url": 8080},
        {"config": {"retries": 1}},
        {"session": "default"},
    ],
)
def test_the_client_cache_checks_its_options_when_made(options: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        ClientCache(**options)


def test_every_client_the_default_supplier_makes_shares_one_botocore_session(
    moto_server: MotoServer, seams: Seams
) -> None:
    one = ClientCache(endpoint_url=moto_server.endpoint, config=ONE_ATTEMPT)
    two = ClientCache(endpoint_url=moto_server.endpoint, config=ONE_ATTEMPT)
    one("us-west-2"), one("eu-west-1"), two("us-west-2"), two("ap-southeast-4")
    assert seams.sessions == 1
    assert len(seams.clients) == 4


# --------------------------------------------------------------------------- region and partition shapes


def _botocore_partitions() -> Iterator[tuple[str, str]]:
    data = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    for partition in data["partitions"]:
        for region in partition["regions"]:
            yield partition["partition"], region


def test_every_region_botocore_knows_is_valid_in_its_own_partition_and_only_there() -> None:
    known = list(_botocore_partitions())
    assert len(known) > 30
    partitions = {p for p, _ in known}
    assert partitions - {"aws"} <= set(PARTITION_REGION_PREFIXES)
    for partition, region in known:
        assert is_region(region), region
        assert parse_arn(f"arn:{partition}:kms:{region}:111122223333:key/k") is not None, (partition, region)
        for other in partitions - {partition}:
            assert not region_fits(other, region), (other, region)


@pytest.mark.parametrize(
    "region",
    ["us-west-9", "mx-central-1", "ap-southeast-12", "xy-newplace-1", "eusc-de-east-1", "us-isob-east-1"],
)
def test_a_region_botocore_does_not_know_yet_is_accepted_if_it_has_the_shape_of_one(region: str) -> None:
    assert is_region(region)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:kms:cn-north-1:111122223333:key/k",  # China region, commercial partition
        "arn:aws-cn:kms:us-west-2:111122223333:key/k",
        "arn:aws-us-gov:kms:us-east-1:111122223333:key/k",
        "arn:aws:kms:us-gov-west-1:111122223333:key/k",
        "arn:aws-iso-b:kms:us-iso-east-1:111122223333:key/k",
        "arn:AWS:kms:us-west-2:111122223333:key/k",
        "arn:aws-:kms:us-west-2:111122223333:key/k",
        "arn:aws:kms:us-west-2:11112222333:key/k",  # 11 digits
        "arn:aws:kms:us-west-2:11112222333x:key/k",
        "arn:aws:kms:us-west-2:111122223333:key/k y",
        "arn:aws:kms:us-west-2:111122223333:key/" + "k" * 257,
        "arn:aws:kms:us-west-2:111122223333:key/k\x1b[2J",
        "arn:aws:kms:us-west-2:" + "\uff11" * 12 + ":key/k",  # fullwidth digits
    ],
)
def test_arns_with_a_field_of_the_wrong_shape_do_not_parse(arn: str) -> None:
    assert parse_arn(arn) is None


def test_a_hostile_arn_is_never_quoted_at_length_in_a_reason() -> None:
    arn = "arn:aws:kms:" + "x" * 5000 + ":111122223333:key/k"
    with pytest.raises(NoDecryptingKeyError) as caught:
        busta.decrypt(forged_message([arn]), keyring=AwsKmsDiscoveryKeyring(client_supplier=lambda r: None))
    assert isinstance(caught.value, BustaError)
    assert len(str(caught.value)) < 600


def test_the_cli_reports_an_invalid_region_in_a_data_key_as_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seams: Seams
) -> None:
    arns = [f"arn:aws:kms:{region}:111122223333:key/k" for region in ("us_west_2", "us-west-2.evil.example")]
    source = tmp_path / "forged.enc"
    source.write_bytes(forged_message(arns))
    nowhere = "http://127.0.0.1:9"  # never contacted: no client is made for these regions

    out = tmp_path / "out"
    status = main(["decrypt", str(source), "-o", str(out), "--kms-discovery", "--aws-endpoint-url", nowhere])

    err = capsys.readouterr().err
    assert status == 1
    assert err.count("names no valid region") == 2 and "Traceback" not in err
    assert seams.clients == []
    assert not out.exists()
