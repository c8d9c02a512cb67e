"""KMS key ARNs: parsing and the multi-Region key match rules (pure, no KMS)."""

from __future__ import annotations

import pytest

from busta.keyrings._arn import mrk_match, parse_arn

WEST_MRK = "arn:aws:kms:us-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
EAST_MRK = "arn:aws:kms:us-east-1:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
WEST_KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EAST_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_an_arn_parses_into_its_parts_and_prints_back() -> None:
    arn = parse_arn(WEST_MRK)
    assert arn is not None
    assert (arn.partition, arn.region, arn.account, arn.resource_type) == ("aws", "us-west-2", "111122223333", "key")
    assert arn.is_mrk
    assert str(arn) == WEST_MRK
    assert str(arn.in_region("us-east-1")) == EAST_MRK


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mrk-0123",
        "alias/foo",
        "arn:aws:s3:us-west-2:111122223333:key/abc",
        "arn:aws:kms:us-west-2:111122223333:grant/abc",
        "arn:aws:kms::111122223333:key/abc",
        "arn:aws:kms:us-west-2:111122223333:key/",
    ],
)
def test_things_that_are_not_kms_key_arns_do_not_parse(text: str) -> None:
    assert parse_arn(text) is None


def test_an_alias_arn_parses_but_is_never_multi_region() -> None:
    arn = parse_arn("arn:aws:kms:us-west-2:111122223333:alias/mrk-lookalike")
    assert arn is not None
    assert arn.resource_type == "alias"
    assert not arn.is_mrk


@pytest.mark.parametrize(
    ("configured", "stored", "match"),
    [
        (WEST_MRK, WEST_MRK, True),
        (EAST_MRK, WEST_MRK, True),  # a replica in another region
        (WEST_KEY, EAST_KEY, False),  # single-Region keys never match across regions
        (WEST_KEY, WEST_KEY, True),
        (EAST_MRK, WEST_MRK.replace("111122223333", "444455556666"), False),  # another account
        (EAST_MRK, WEST_MRK.replace("arn:aws:", "arn:aws-cn:"), False),  # another partition
        (EAST_MRK, WEST_MRK[:-1] + "0", False),  # another key
    ],
)
def test_multi_region_key_matching(configured: str, stored: str, match: bool) -> None:
    assert mrk_match(configured, stored) is match
