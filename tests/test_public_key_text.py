"""The signed suites' public key in the encryption context (``aws-crypto-public-key``): base64 of the
compressed point, read strictly. It arrives before anything authenticates, so every malformed form
is a MalformedMessageError naming the field, never another exception."""

from __future__ import annotations

import base64

import pytest

from busta import AlgorithmSuite
from busta.crypto.signing import decode_public_key, encode_public_key, generate_signing_key
from busta.errors import MalformedMessageError

SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384


def test_a_public_key_reads_back_as_the_standard_base64_of_its_compressed_point() -> None:
    key = generate_signing_key(SIGNED).public_key()
    text = encode_public_key(key)
    assert base64.b64decode(text, validate=True)[0] in (2, 3) and len(base64.b64decode(text)) == 49
    assert text == base64.b64encode(base64.b64decode(text)).decode("ascii"), "no newline, standard alphabet"
    assert decode_public_key(SIGNED, text).public_numbers() == key.public_numbers()


def _valid() -> str:
    return encode_public_key(generate_signing_key(SIGNED).public_key())


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t + "\n",  # whitespace
        lambda t: " " + t,
        lambda t: t[:-1],  # padding cut short
        lambda t: t + "==",  # data after the padding
        lambda t: "==" + t,  # leading padding
        lambda t: t.replace(t[5], "*", 1),  # outside the alphabet
        lambda t: t.replace(t[5], "-", 1),  # the URL-safe alphabet
        lambda t: t[:10] + "é" + t[11:],  # not ASCII
        lambda t: "",
        lambda t: base64.b64encode(b"\x02" + b"\xff" * 48).decode(),  # base64, but x is not below the prime
    ],
    ids=[
        "newline",
        "space",
        "short-padding",
        "after-padding",
        "leading-padding",
        "star",
        "urlsafe",
        "non-ascii",
        "empty",
        "off-curve",
    ],
)
def test_a_malformed_public_key_is_a_malformed_message(damage: object) -> None:
    text = damage(_valid())  # type: ignore[operator]
    with pytest.raises(MalformedMessageError) as caught:
        decode_public_key(SIGNED, text)
    assert caught.value.field == "aws-crypto-public-key"
