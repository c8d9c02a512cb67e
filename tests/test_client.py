"""busta.Client: its settings are checked when it is made, it cannot change, every method applies
every setting it holds, and the quick-start functions are the methods of ``Client()``."""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import busta
import busta._start
from busta import AlgorithmSuite, Client, CommitmentPolicy
from busta._executor import check_threads
from busta.errors import LimitExceededError, PolicyError, SignedMessageError, UsageError
from busta.keyrings import MultiKeyring, RawAesKeyring
from fuzzing.seeds import nonframed_message

KEYRING = RawAesKeyring("client-tests", "k1", os.urandom(32))
TWO_KEYS = MultiKeyring(generator=KEYRING, children=[RawAesKeyring("client-tests", "k2", os.urandom(32))])
PLAINTEXT = os.urandom(3 * 4096 + 17)
FRAME = 4096
COMMITTING_UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
COMMITTING_SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
V1_UNSIGNED = AlgorithmSuite.AES_256_GCM_IV12_TAG16_HKDF_SHA256
ALLOW = CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
FORBID = CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT

QUICK_START = (
    "encrypt",
    "decrypt",
    "encrypt_stream",
    "decrypt_stream",
    "encrypting_reader",
    "encrypting_writer",
    "decrypting_reader",
    "decrypting_writer",
    "start_encryption",
    "start_decryption",
    "open_seekable",
)


# --- every way to encrypt and to decrypt, run through one client --------------------------------------

Encrypt = Callable[..., bytes]  # (client, keyring=..., algorithm=...) -> the message
Decrypt = Callable[[Client, bytes], bytes]  # (client, message) -> the plaintext


def _encrypt_stream(client: Client, **per_message: Any) -> bytes:
    sink = io.BytesIO()
    client.encrypt_stream(io.BytesIO(PLAINTEXT), sink, frame_length=FRAME, **per_message)
    return sink.getvalue()


def _encrypting_writer(client: Client, **per_message: Any) -> bytes:
    sink = io.BytesIO()
    with client.encrypting_writer(sink, frame_length=FRAME, **per_message) as writer:
        writer.write(PLAINTEXT)
    return sink.getvalue()


def _start_encryption(client: Client, **per_message: Any) -> bytes:
    encryptor = client.start_encryption(frame_length=FRAME, **per_message)
    return encryptor.update(PLAINTEXT) + encryptor.finalize()


ENCRYPTS: dict[str, Encrypt] = {
    "encrypt": lambda client, **kw: client.encrypt(PLAINTEXT, frame_length=FRAME, **kw),
    "encrypt_stream": _encrypt_stream,
    "encrypting_reader": lambda client, **kw: client.encrypting_reader(
        io.BytesIO(PLAINTEXT), frame_length=FRAME, **kw
    ).read(),
    "encrypting_writer": _encrypting_writer,
    "start_encryption": _start_encryption,
}


def _decrypt_stream(client: Client, message: bytes) -> bytes:
    sink = io.BytesIO()
    client.decrypt_stream(io.BytesIO(message), sink, keyring=KEYRING)
    return sink.getvalue()


def _decrypting_writer(client: Client, message: bytes) -> bytes:
    sink = io.BytesIO()
    with client.decrypting_writer(sink, keyring=KEYRING) as writer:
        writer.write(message)
    return sink.getvalue()


def _start_decryption(client: Client, message: bytes) -> bytes:
    decryptor = client.start_decryption(keyring=KEYRING)
    plaintext = decryptor.update(message)
    decryptor.finalize()
    return plaintext


DECRYPTS: dict[str, Decrypt] = {
    "decrypt": lambda client, message: client.decrypt(message, keyring=KEYRING).plaintext,
    "decrypt_stream": _decrypt_stream,
    "decrypting_reader": lambda client, message: client.decrypting_reader(io.BytesIO(message), keyring=KEYRING).read(),
    "decrypting_writer": _decrypting_writer,
    "start_decryption": _start_decryption,
    "open_seekable": lambda client, message: client.open_seekable(
        io.BytesIO(message), keyring=KEYRING, allow_unverified_signature=True
    ).read(),
}


def _message(suite: AlgorithmSuite = COMMITTING_UNSIGNED, keyring: busta.Keyring = KEYRING) -> bytes:
    policy = FORBID if not suite.committing else CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    return Client(commitment_policy=policy).encrypt(PLAINTEXT, keyring=keyring, algorithm=suite, frame_length=FRAME)


def _suite_of(message: bytes) -> AlgorithmSuite:
    parsed = busta.format.parse_header(message)
    assert parsed is not None
    return parsed.header.suite


# --- made once, checked once ----------------------------------------------------------------------------

BAD_SETTINGS: list[dict[str, object]] = [
    {"commitment_policy": "require-encrypt-require-decrypt"},
    {"commitment_policy": None},
    {"max_encrypted_data_keys": 0},
    {"max_encrypted_data_keys": -1},
    {"max_encrypted_data_keys": True},
    {"max_encrypted_data_keys": 1.5},
    {"max_header_bytes": 0},
    {"max_header_bytes": None},
    {"max_header_bytes": "1 MiB"},
    {"max_nonframed_bytes": 0},
    {"max_nonframed_bytes": False},
    {"refuse_signed": 1},
    {"refuse_signed": "yes"},
    {"threads": 0},
    {"threads": 65},
    {"threads": True},
    {"threads": 2.0},
]


@pytest.mark.parametrize("settings", BAD_SETTINGS, ids=lambda s: "-".join(f"{k}={v!r}" for k, v in s.items()))
def test_a_bad_setting_is_a_usage_error_when_the_client_is_made(settings: dict[str, object]) -> None:
    with pytest.raises(UsageError):
        Client(**settings)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        dataclasses.replace(Client(), **settings)  # type: ignore[arg-type]  # a derived client is checked too


def test_good_settings_are_kept_as_given() -> None:
    client = Client(
        commitment_policy=ALLOW,
        max_encrypted_data_keys=3,
        max_header_bytes=4096,
        max_nonframed_bytes=1 << 20,
        refuse_signed=True,
        threads=2,
    )
    assert (client.commitment_policy, client.max_encrypted_data_keys, client.threads) == (ALLOW, 3, 2)
    assert (client.max_header_bytes, client.max_nonframed_bytes, client.refuse_signed) == (4096, 1 << 20, True)


def test_settings_are_keyword_only_and_an_unknown_one_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Client(ALLOW)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Client(commitment=ALLOW)  # type: ignore[call-arg]


def test_a_per_call_setting_is_a_type_error_that_names_it() -> None:
    """The keywords that moved to the client fail loudly at the call, not silently ignored."""
    moved: list[tuple[str, Any]] = [("commitment_policy", ALLOW), ("threads", 1), ("max_header_bytes", 4096)]
    for name, value in moved:
        with pytest.raises(TypeError, match=name):
            busta.encrypt(b"x", keyring=KEYRING, **{name: value})
        with pytest.raises(TypeError, match=name):
            busta.decrypt(_message(), keyring=KEYRING, **{name: value})


def test_a_client_is_immutable_hashable_and_equal_by_its_settings() -> None:
    client = Client(threads=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        client.threads = 2  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):
        client.extra = 1  # type: ignore[attr-defined]  # slots: no new attributes either
    assert client == Client(threads=1)
    assert hash(client) == hash(Client(threads=1))
    assert client != Client(threads=2)
    assert dataclasses.replace(client, threads=2) == Client(threads=2)
    assert client.threads == 1


def test_the_quick_start_functions_are_the_methods_of_the_default_client() -> None:
    assert Client() == busta.api.DEFAULT_CLIENT
    for name in QUICK_START:
        function = getattr(busta, name)
        assert function.__self__ is busta.api.DEFAULT_CLIENT, name
        assert function.__func__ is getattr(Client, name), name


def test_the_quick_start_is_one_line() -> None:
    message = busta.encrypt(b"secret", keyring=KEYRING, encryption_context={"purpose": "demo"})
    assert busta.decrypt(message, keyring=KEYRING).plaintext == b"secret"


def test_decrypt_returns_the_plaintext_header_and_authenticated_context() -> None:
    message = busta.encrypt(PLAINTEXT, keyring=KEYRING, encryption_context={"purpose": "demo"})
    result = busta.decrypt(message, keyring=KEYRING)
    assert isinstance(result, busta.DecryptResult)
    assert result.plaintext == PLAINTEXT
    assert result.header.suite is COMMITTING_SIGNED
    assert result.encryption_context["purpose"] == "demo"
    assert not hasattr(busta, "decrypt_message")


# --- every method applies every setting -------------------------------------------------------------


@pytest.mark.parametrize("method", ENCRYPTS)
def test_every_encrypting_method_applies_the_commitment_policy(method: str) -> None:
    encrypt = ENCRYPTS[method]
    assert _suite_of(encrypt(Client(), keyring=KEYRING)) is COMMITTING_SIGNED
    assert not _suite_of(encrypt(Client(commitment_policy=FORBID), keyring=KEYRING)).committing
    with pytest.raises(PolicyError):
        encrypt(Client(), keyring=KEYRING, algorithm=V1_UNSIGNED)
    with pytest.raises(PolicyError):
        encrypt(Client(commitment_policy=FORBID), keyring=KEYRING, algorithm=COMMITTING_UNSIGNED)


@pytest.mark.parametrize("method", ENCRYPTS)
def test_every_encrypting_method_applies_the_data_key_limit(method: str) -> None:
    encrypt = ENCRYPTS[method]
    with pytest.raises(LimitExceededError):
        encrypt(Client(max_encrypted_data_keys=1), keyring=TWO_KEYS)
    assert encrypt(Client(max_encrypted_data_keys=2), keyring=TWO_KEYS)


@pytest.mark.parametrize("method", ENCRYPTS)
def test_every_encrypting_method_applies_the_header_limit(method: str) -> None:
    encrypt = ENCRYPTS[method]
    parsed = busta.format.parse_header(encrypt(Client(), keyring=KEYRING, algorithm=COMMITTING_UNSIGNED))
    assert parsed is not None
    header_length = parsed.length
    with pytest.raises(LimitExceededError):
        encrypt(Client(max_header_bytes=header_length - 1), keyring=KEYRING, algorithm=COMMITTING_UNSIGNED)
    assert encrypt(Client(max_header_bytes=header_length), keyring=KEYRING, algorithm=COMMITTING_UNSIGNED)


@pytest.mark.parametrize("method", DECRYPTS)
def test_every_decrypting_method_applies_the_commitment_policy(method: str) -> None:
    decrypt, message = DECRYPTS[method], _message(V1_UNSIGNED)
    with pytest.raises(PolicyError):
        decrypt(Client(), message)
    assert decrypt(Client(commitment_policy=ALLOW), message) == PLAINTEXT


@pytest.mark.parametrize("method", DECRYPTS)
def test_every_decrypting_method_applies_the_data_key_limit(method: str) -> None:
    decrypt, message = DECRYPTS[method], _message(keyring=TWO_KEYS)
    with pytest.raises(LimitExceededError):
        decrypt(Client(max_encrypted_data_keys=1), message)
    assert decrypt(Client(max_encrypted_data_keys=2), message) == PLAINTEXT


@pytest.mark.parametrize("method", DECRYPTS)
def test_every_decrypting_method_applies_the_header_limit(method: str) -> None:
    decrypt, message = DECRYPTS[method], _message()
    parsed = busta.format.parse_header(message)
    assert parsed is not None
    with pytest.raises(LimitExceededError):
        decrypt(Client(max_header_bytes=parsed.length - 1), message)
    assert decrypt(Client(max_header_bytes=parsed.length), message) == PLAINTEXT


@pytest.mark.parametrize("method", [m for m in DECRYPTS if m != "open_seekable"])  # it refuses non-framed ones
def test_every_decrypting_method_applies_the_non_framed_limit(method: str) -> None:
    decrypt, message = DECRYPTS[method], nonframed_message(PLAINTEXT, COMMITTING_UNSIGNED, KEYRING)
    with pytest.raises(LimitExceededError):
        decrypt(Client(max_nonframed_bytes=len(PLAINTEXT) - 1), message)
    assert decrypt(Client(max_nonframed_bytes=len(PLAINTEXT)), message) == PLAINTEXT


@pytest.mark.parametrize("method", DECRYPTS)
def test_every_decrypting_method_applies_refuse_signed(method: str) -> None:
    """open_seekable's allow_unverified_signature=True does not override the client's refusal."""
    decrypt = DECRYPTS[method]
    with pytest.raises(SignedMessageError):
        decrypt(Client(refuse_signed=True), _message(COMMITTING_SIGNED))
    assert decrypt(Client(refuse_signed=True), _message(COMMITTING_UNSIGNED)) == PLAINTEXT
    assert decrypt(Client(), _message(COMMITTING_SIGNED)) == PLAINTEXT


class _Recorded:
    """Wraps an engine class where busta.api makes it (busta._start) and records how many threads
    the workers it was made with may use (1: no workers, the calling thread only)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.threads: list[int] = []
        real = getattr(busta._start, name)

        def make(*args: Any, **kwargs: Any) -> Any:
            workers = kwargs.get("workers")
            self.threads.append(1 if workers is None else workers.threads)
            return real(*args, **kwargs)

        monkeypatch.setattr(busta._start, name, make)


@pytest.mark.parametrize("threads", [None, 1, 2])
@pytest.mark.parametrize("method", ENCRYPTS)
def test_every_encrypting_method_gives_the_engine_the_clients_threads(
    method: str, threads: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _Recorded(monkeypatch, "MessageEncryptor")
    message = ENCRYPTS[method](Client(threads=threads), keyring=KEYRING)
    assert recorded.threads == [check_threads(threads)]
    assert busta.decrypt(message, keyring=KEYRING).plaintext == PLAINTEXT


@pytest.mark.parametrize("threads", [None, 1, 2])
@pytest.mark.parametrize("method", DECRYPTS)
def test_every_decrypting_method_gives_the_engine_the_clients_threads(
    method: str, threads: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _message()
    recorded = _Recorded(monkeypatch, "MessageDecryptor")
    assert DECRYPTS[method](Client(threads=threads), message) == PLAINTEXT
    assert recorded.threads == [check_threads(threads)]


def test_one_client_serves_many_messages_and_threads_at_once() -> None:

    client = Client(commitment_policy=ALLOW, threads=1)
    with ThreadPoolExecutor(4) as pool:
        messages = list(pool.map(lambda n: client.encrypt(PLAINTEXT[:n], keyring=KEYRING), range(0, 400, 40)))
        plaintexts = list(pool.map(lambda m: client.decrypt(m, keyring=KEYRING).plaintext, messages))
    assert plaintexts == [PLAINTEXT[:n] for n in range(0, 400, 40)]
