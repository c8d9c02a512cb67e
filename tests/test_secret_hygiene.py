"""Secret hygiene: no key material leaves busta through a repr, a str, an error or a log record,
and every object that holds key material refuses pickling and copying.

The secrets are known and distinctive: raw AES wrapping keys (the right one and a wrong one), an
RSA private key (its private exponent, primes and CRT values, its PEM and DER encodings), the AES
key imported into a SoftHSM token and the token's PIN (and a wrong PIN), the ECDSA signing key of
every signed message, and the data key and derived message key of every message made here, with
raw keyrings, PKCS#11 and KMS (moto's GenerateDataKey over HTTP; the data key busta saw is
checked against a direct KMS Decrypt of the wrapped copy). Each is searched for in every form a
careless repr, f-string or logger could render it in: raw (latin-1 text, bytes repr, str repr, a
list of byte values), hex (lower, upper, spaced), base64 (standard and URL-safe, with or without
padding), decimal and hex for integers, and the private lines of a PEM; secrets of 16 bytes or
more are searched for by halves too. A self-test proves the search finds independent renderings
of every secret.

Where they are searched:

* every public object after use -- each keyring (raw AES, raw RSA, multi, PKCS#11, the four KMS
  keyrings), the default, caching (with entries cached) and required-context managers, the LRU
  cache, encryption and decryption materials of 0x0578 (with signing and verification keys),
  SecretBytes, the encryptor and decryptor mid-message, the four io adapters mid-stream, the
  seekable reader, StreamResult, DecryptResult, Header, the SoftHSM token, and the internal
  DerivedKeys, FrameCodec and Signer -- in repr(), str(), format(), and the reprs of everything
  reachable through their attributes (``__dict__`` and ``__slots__``, into busta objects and
  containers; a SecretBytes is the one opaque box);
* every error of a failure path -- wrong keys, an altered header, frame or signature, KMS refusing
  the Decrypt of an altered data key and the Encrypt of a data key, a refused PIN, a PKCS#11
  unwrap under the wrong context, an RSA key too small to wrap, a wrapping key of the wrong
  length: str(), repr(), the whole ``traceback.format_exception`` text, and the same walk through
  ``.reasons``, ``.errors``, ``__cause__`` and ``__context__``;
* every DEBUG log record of a round trip, a streamed round trip and a failed decryption with each
  keyring and manager (KMS against a moto server, PKCS#11 against SoftHSM), plus the plaintext:
  the formatted text, the args and the ``__dict__`` of each record. botocore's own records are
  the one exception: at DEBUG botocore logs KMS request and response bodies, which carry the
  plaintext data key (GenerateDataKey and Decrypt responses, Encrypt requests), so they are
  outside busta's control and only counted here.

Pickling: every object that holds key material refuses pickle (every protocol), copy.copy and
copy.deepcopy with :class:`UsageError` naming itself (a copy of an encryptor would seal its next
frames under the same key and IVs); objects that only reference such holders (the multi keyring,
the default and required managers, the io adapters, the SoftHSM token) cannot be pickled or
deep-copied either.
"""

from __future__ import annotations

import base64
import copy
import io
import logging
import pickle
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import busta
from busta import (
    AlgorithmSuite,
    CachingCryptoMaterialsManager,
    CommitmentPolicy,
    CryptoMaterialsManager,
    DecryptionMaterials,
    DecryptionRequest,
    DefaultCryptoMaterialsManager,
    EncryptedDataKey,
    EncryptionMaterials,
    EncryptionRequest,
    Header,
    Keyring,
    MessageEncryptor,
    RequiredEncryptionContextCmm,
    SecretBytes,
)
from busta.crypto.frames import FrameCodec
from busta.crypto.kdf import derive_keys
from busta.crypto.signing import Signer
from busta.errors import (
    AuthenticationError,
    BustaError,
    KeyringError,
    KmsError,
    NoDecryptingKeyError,
    Pkcs11Error,
    UsageError,
)
from busta.format import parse_header
from busta.keyrings import (
    AwsKmsDiscoveryKeyring,
    AwsKmsKeyring,
    AwsKmsMrkDiscoveryKeyring,
    AwsKmsMrkKeyring,
    DiscoveryFilter,
    MultiKeyring,
    RawAesKeyring,
    RawRsaKeyring,
    RsaPadding,
)
from busta.keyrings.pkcs11_admin import SoftHsmToken
from busta.streaming.decryptor import MessageDecryptor

from .support.hsm import import_aes_key, keyring_for, new_tokens
from .support.kms_fixtures import EAST, WEST, KmsKeys, kms_keys, moto_server
from .support.moto_server import MotoServer
from .support.renderings import byte_forms

__all__ = ["kms_keys", "moto_server"]  # fixtures, imported for pytest to find

_T = TypeVar("_T")

NAMESPACE = "hygiene"
#: Distinctive known key material (none of it is ever printed by this file either).
WRAPPING_KEY = bytes.fromhex("5ec7e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d")
WRONG_WRAPPING_KEY = bytes.fromhex("0badc0de11223344556677889900aabbccddeeff0123456789abcdef01234567")
HSM_WRAPPING_KEY = bytes.fromhex("45c0ffee9876543210fedcba0123456789abcdef5a5a5a5aa5a5a5a5c3c3c3c3")
PIN = "Hyg1ene-PIN-q7Zx"
WRONG_PIN = "Wr0ng-PIN-k4Vw2"
HSM_LABEL = "hygiene-aes"
CONTEXT = {"purpose": "secret hygiene", "tenant": "acme"}
PLAINTEXT = b"hygiene plaintext: attack at dawn, " * 20  # 700 bytes: several frames of 128
FRAME = 128
SIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384  # 0x0578
UNSIGNED = AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY  # 0x0478
POLICY = CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT


# =========================================================================== the secrets and their forms


def int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


class Secrets:
    """Named secrets, every form of each, and a search of texts for any of them."""

    def __init__(self) -> None:
        self.forms: dict[str, str] = {}  # form text -> "secret (form)"
        self.names: list[str] = []
        self.data_keys: list[bytes] = []
        self._seen: set[object] = set()

    def add_bytes(self, name: str, value: bytes) -> None:
        if value in self._seen:
            return
        assert len(value) >= 8, f"{name} is too short to search for reliably"
        self._seen.add(value)
        self.names.append(name)
        self._add_forms(name, value)
        if len(value) >= 16:
            half = len(value) // 2
            self._add_forms(f"{name}, first half", value[:half])
            self._add_forms(f"{name}, second half", value[half:])

    def _add_forms(self, name: str, value: bytes) -> None:
        for form, text in byte_forms(value).items():
            self.forms.setdefault(text, f"{name} ({form})")

    def add_int(self, name: str, value: int) -> None:
        if value in self._seen:
            return
        self.add_bytes(name, int_bytes(value))
        for form, text in (("decimal", str(value)), ("hex int", f"{value:x}"), ("HEX int", f"{value:X}")):
            self.forms.setdefault(text, f"{name} ({form})")

    def add_text(self, name: str, value: str) -> None:
        self.add_bytes(name, value.encode("utf-8"))

    def add_pem(self, name: str, pem: bytes, private_from: bytes) -> None:
        """The whole PEM, and each line after the one where ``private_from`` starts (earlier lines
        hold the public modulus and exponent, which may be shown)."""
        text = pem.decode("ascii")
        self.forms.setdefault(text.strip(), f"{name} (PEM)")
        body = [line for line in text.splitlines() if line and not line.startswith("-----")]
        der = base64.b64decode("".join(body))
        first = der.index(private_from) // 48  # a PEM line holds 48 bytes; earlier lines hold the public modulus
        for number, line in enumerate(body[first + 1 :], start=first + 2):
            if len(line) >= 16:
                self.forms.setdefault(line, f"{name} (PEM line {number})")

    def add_rsa_key(self, name: str, key: rsa.RSAPrivateKey) -> None:
        numbers = key.private_numbers()
        for part, value in (
            ("d", numbers.d),
            ("p", numbers.p),
            ("q", numbers.q),
            ("dmp1", numbers.dmp1),
            ("dmq1", numbers.dmq1),
            ("iqmp", numbers.iqmp),
        ):
            self.add_int(f"{name} {part}", value)
        formats = {"PKCS8": serialization.PrivateFormat.PKCS8, "PKCS1": serialization.PrivateFormat.TraditionalOpenSSL}
        for label, encoding in formats.items():
            der = key.private_bytes(serialization.Encoding.DER, encoding, serialization.NoEncryption())
            self.add_bytes(f"{name} {label} DER", der)
            pem = key.private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption())
            self.add_pem(f"{name} {label}", pem, int_bytes(numbers.d)[:16])

    def add_signing_key(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.add_int(f"ECDSA signing key {len(self.names)}", key.private_numbers().private_value)

    def add_data_key(self, data_key: SecretBytes) -> None:
        value = data_key.reveal()
        if value not in self._seen:
            self.data_keys.append(value)
            self.add_bytes(f"data key {len(self.data_keys)}", value)

    def add_materials(self, materials: EncryptionMaterials | DecryptionMaterials) -> None:
        if materials.data_key is not None:
            self.add_data_key(materials.data_key)
        if isinstance(materials, EncryptionMaterials) and materials.signing_key is not None:
            self.add_signing_key(materials.signing_key)

    def add_message_key(self, header: Header) -> None:
        """The message's derived AES key, from whichever known data key the header commits to."""
        for data_key in self.data_keys:
            found = message_key(header, data_key)
            if found is not None:
                self.add_bytes(f"message key of data key {self.data_keys.index(data_key) + 1}", found)
                return
        raise AssertionError("no known data key belongs to this message")

    def leaks(self, text: str) -> list[str]:
        return [what for form, what in self.forms.items() if form in text]


def message_key(header: Header, data_key: bytes) -> bytes | None:
    """The HKDF-derived encryption key of a committing message, or None if ``data_key`` is not its key."""

    def expand(info: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA512(), length=length, salt=header.message_id, info=info).derive(data_key)

    if expand(b"COMMITKEY", 32) != header.suite_data:
        return None
    return expand(header.suite.id.to_bytes(2, "big") + b"DERIVEKEY", header.suite.key_bytes)


# =========================================================================== rendering and searching


def _state(obj: object) -> list[object]:
    """The values of ``obj``'s attributes, from ``__dict__`` and every ``__slots__``."""
    values = list(getattr(obj, "__dict__", {}).values())
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            try:
                values.append(object.__getattribute__(obj, slot))
            except AttributeError:
                continue
    return values


def _children(node: object) -> list[object]:
    if isinstance(node, Mapping):
        return [*node.keys(), *node.values()]
    if isinstance(node, (list, tuple, set, frozenset)):
        return list(node)
    if isinstance(node, BaseException):
        chained = [e for e in (node.__cause__, node.__context__) if e is not None]
        return [*node.args, *_state(node), *chained]
    if type(node).__module__.split(".")[0] == "busta":
        return _state(node)
    return []  # a foreign object (boto3 client, cryptography key, pkcs11 handle): its repr only


def reachable_reprs(root: object, *, max_depth: int = 8, max_nodes: int = 5000) -> Iterator[str]:
    """repr() of ``root`` and of everything reachable through busta objects, containers and errors.

    A SecretBytes is the one box not opened: its repr is what anyone sees.
    """
    seen: set[int] = set()
    stack: list[tuple[object, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        assert len(seen) <= max_nodes, f"more than {max_nodes} objects reachable from {type(root).__name__}"
        yield repr(node)
        if depth < max_depth and not isinstance(node, (str, bytes, bytearray, memoryview, SecretBytes)):
            stack.extend((child, depth + 1) for child in _children(node))


def object_texts(obj: object) -> dict[str, str]:
    return {
        "repr": repr(obj),
        "str": str(obj),
        "format": format(obj, ""),
        "f-string": f"{obj} {obj!r}",
        "reachable state": "\n".join(reachable_reprs(obj)),
    }


def error_texts(exc: BaseException) -> dict[str, str]:
    texts = object_texts(exc)
    texts["traceback"] = "".join(traceback.format_exception(exc))
    return texts


def assert_no_leak(secrets: Secrets, texts: Mapping[str, str]) -> None:
    found = [f"{secret} in {where}" for where, text in texts.items() for secret in secrets.leaks(text)]
    assert not found, "key material leaked: " + "; ".join(found[:10])


# =========================================================================== the scene: objects after use


class Recorder:
    """A materials manager that passes everything through and records the key material in it."""

    def __init__(self, underlying: CryptoMaterialsManager | Keyring, secrets: Secrets):
        self.underlying: CryptoMaterialsManager = (
            underlying if isinstance(underlying, CryptoMaterialsManager) else DefaultCryptoMaterialsManager(underlying)
        )
        self.secrets = secrets

    def get_encryption_materials(self, request: EncryptionRequest) -> EncryptionMaterials:
        materials = self.underlying.get_encryption_materials(request)
        self.secrets.add_materials(materials)
        return materials

    def decrypt_materials(self, request: DecryptionRequest) -> DecryptionMaterials:
        materials = self.underlying.decrypt_materials(request)
        self.secrets.add_materials(materials)
        return materials


class RecordingGenerator:
    """A keyring that records the data key its inner keyring generates (for encryptions that then fail)."""

    def __init__(self, keyring: Keyring, secrets: Secrets):
        self.keyring = keyring
        self.secrets = secrets

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        result = self.keyring.on_encrypt(materials)
        self.secrets.add_materials(result)
        return result

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return self.keyring.on_decrypt(materials, encrypted_data_keys)


@dataclass
class Scene:
    secrets: Secrets = field(default_factory=Secrets)
    objects: dict[str, object] = field(default_factory=dict)
    errors: dict[str, BaseException] = field(default_factory=dict)

    def record(self, underlying: CryptoMaterialsManager | Keyring) -> Recorder:
        return Recorder(underlying, self.secrets)

    def message(self, message: bytes) -> bytes:
        self.secrets.add_message_key(self.header(message))
        return message

    @staticmethod
    def header(message: bytes) -> Header:
        parsed = parse_header(message)
        assert parsed is not None
        return parsed.header

    def fail(self, name: str, expected: type[_T], action: Callable[[], object]) -> _T:
        with pytest.raises(BustaError) as raised:
            action()
        assert isinstance(raised.value, expected), raised.value
        self.errors[name] = raised.value
        return raised.value


def altered(message: bytes, position: int) -> bytes:
    return message[:position] + bytes([message[position] ^ 0x01]) + message[position + 1 :]


def _raw_scene(scene: Scene, rsa_key: rsa.RSAPrivateKey, wrong_rsa_key: rsa.RSAPrivateKey) -> None:
    aes = RawAesKeyring(NAMESPACE, "aes-key", WRAPPING_KEY)
    rsa_keyring = RawRsaKeyring(NAMESPACE, "rsa-key", private_key=rsa_key)
    multi = MultiKeyring(generator=aes, children=[rsa_keyring])
    default = DefaultCryptoMaterialsManager(multi)
    scene.objects.update(
        RawAesKeyring=aes, RawRsaKeyring=rsa_keyring, MultiKeyring=multi, SecretBytes=SecretBytes(WRAPPING_KEY)
    )

    signed = scene.message(
        busta.encrypt(
            PLAINTEXT, materials_manager=scene.record(default), encryption_context=CONTEXT, frame_length=FRAME
        )
    )
    result = busta.decrypt(signed, materials_manager=scene.record(default), encryption_context=CONTEXT)
    assert result.plaintext == PLAINTEXT
    scene.objects.update(DefaultCryptoMaterialsManager=default, DecryptResult=result, Header=result.header)

    caching = CachingCryptoMaterialsManager(aes, max_age=600.0, max_messages=10)
    for _ in range(3):
        message = scene.message(
            busta.encrypt(PLAINTEXT, materials_manager=scene.record(caching), encryption_context=CONTEXT)
        )
        assert (
            busta.decrypt(message, materials_manager=scene.record(caching), encryption_context=CONTEXT).plaintext
            == PLAINTEXT
        )
    assert len(caching.cache) == 2, "one encryption and one decryption entry are cached"
    scene.objects.update(CachingCryptoMaterialsManager=caching, LruMaterialsCache=caching.cache)

    required = RequiredEncryptionContextCmm(multi, required_keys=["tenant"])
    sink, out = io.BytesIO(), io.BytesIO()
    busta.encrypt_stream(
        io.BytesIO(PLAINTEXT), sink, materials_manager=scene.record(required), encryption_context=CONTEXT
    )
    scene.message(sink.getvalue())
    streamed = busta.decrypt_stream(
        io.BytesIO(sink.getvalue()), out, materials_manager=scene.record(required), encryption_context=CONTEXT
    )
    assert out.getvalue() == PLAINTEXT
    scene.objects.update(RequiredEncryptionContextCmm=required, StreamResult=streamed)

    materials = scene.record(default).get_encryption_materials(
        EncryptionRequest(CONTEXT, POLICY, SIGNED, len(PLAINTEXT))
    )
    assert materials.data_key is not None and materials.signing_key is not None
    encryptor = MessageEncryptor(materials, frame_length=FRAME)
    encryptor.update(PLAINTEXT[: 2 * FRAME + 5])  # mid-message: frames out, 5 bytes held back
    scene.secrets.add_message_key(encryptor.header)
    decryptor = busta.start_decryption(materials_manager=scene.record(default))
    decryptor.update(signed[: len(signed) // 2])  # mid-message: header read, some frames opened
    engine = MessageDecryptor()  # sans-I/O: its caller obtains the materials and hands them in
    engine.update(signed[: len(signed) // 2])
    assert engine.decryption_request is not None
    opened = scene.record(default).decrypt_materials(engine.decryption_request)
    assert opened.verification_key is not None
    engine.supply_materials(opened)
    engine.update(b"")
    keys = derive_keys(SIGNED, materials.data_key, encryptor.header.message_id)
    scene.objects.update(
        EncryptionMaterials=materials,
        DecryptionMaterials=opened,
        MessageEncryptor=encryptor,
        MessageDecryptor=engine,
        DrivenDecryptor=decryptor,
        DerivedKeys=keys,
        FrameCodec=FrameCodec(keys.aead, encryptor.header.message_id, FRAME),
        Signer=Signer(SIGNED, materials.signing_key),
    )

    writer = busta.encrypting_writer(io.BytesIO(), materials_manager=scene.record(multi), frame_length=FRAME)
    writer.write(PLAINTEXT[: 3 * FRAME])
    scene.secrets.add_message_key(writer.header)
    reader = busta.encrypting_reader(
        io.BytesIO(PLAINTEXT), materials_manager=scene.record(multi), frame_length=FRAME, read_size=FRAME
    )
    assert reader.read(FRAME)
    scene.secrets.add_message_key(reader.header)
    plain_reader = busta.decrypting_reader(io.BytesIO(signed), materials_manager=scene.record(multi), read_size=FRAME)
    assert plain_reader.read(10) == PLAINTEXT[:10]
    plain_writer = busta.decrypting_writer(io.BytesIO(), materials_manager=scene.record(multi))
    plain_writer.write(signed[: len(signed) // 2])
    unsigned = scene.message(
        busta.encrypt(PLAINTEXT, materials_manager=scene.record(multi), algorithm=UNSIGNED, frame_length=FRAME)
    )
    seekable = busta.open_seekable(io.BytesIO(unsigned), materials_manager=scene.record(multi))
    seekable.seek(FRAME + 3)
    assert seekable.read(FRAME) == PLAINTEXT[FRAME + 3 : 2 * FRAME + 3]
    scene.objects.update(
        EncryptingWriter=writer,
        EncryptingReader=reader,
        DecryptingReader=plain_reader,
        DecryptingWriter=plain_writer,
        SeekableDecryptingReader=seekable,
    )

    wrong = MultiKeyring(
        generator=RawAesKeyring(NAMESPACE, "aes-key", WRONG_WRAPPING_KEY),
        children=[RawRsaKeyring(NAMESPACE, "rsa-key", private_key=wrong_rsa_key)],
    )
    no_key = scene.fail("wrong raw keys", NoDecryptingKeyError, lambda: busta.decrypt(signed, keyring=wrong).plaintext)
    assert len(no_key.reasons) == 2 and len(no_key.errors) == 2
    header_end = parse_header(unsigned)
    assert header_end is not None
    scene.fail(
        "altered header",
        AuthenticationError,
        lambda: busta.decrypt(altered(unsigned, header_end.length - 1), keyring=aes).plaintext,
    )
    scene.fail(
        "altered frame",
        AuthenticationError,
        lambda: busta.decrypt(altered(unsigned, len(unsigned) - 1), keyring=aes).plaintext,
    )
    scene.fail(
        "altered signature",
        AuthenticationError,
        lambda: busta.decrypt(altered(signed, len(signed) - 1), keyring=aes).plaintext,
    )
    scene.fail("short wrapping key", UsageError, lambda: RawAesKeyring(NAMESPACE, "aes-key", WRAPPING_KEY[:31]))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    too_small = MultiKeyring(
        generator=RecordingGenerator(aes, scene.secrets),
        children=[RawRsaKeyring(NAMESPACE, "small", private_key=small, padding=RsaPadding.OAEP_SHA512)],
    )
    scene.fail("RSA key too small to wrap", KeyringError, lambda: busta.encrypt(PLAINTEXT, keyring=too_small))


def _kms_scene(scene: Scene, server: MotoServer, keys: KmsKeys) -> None:
    west, east = server.client("kms", WEST), server.client("kms", EAST)
    accounts = DiscoveryFilter(keys.partition, (keys.account_id,))
    strict = AwsKmsKeyring(keys.single_arn, client=west)
    generator = MultiKeyring(generator=AwsKmsKeyring(keys.mrk_west_arn, client=west), children=[strict])
    decrypting: dict[str, Keyring] = {
        "AwsKmsKeyring": strict,
        "AwsKmsMrkKeyring": AwsKmsMrkKeyring(keys.mrk_east_arn, client=east),
        "AwsKmsDiscoveryKeyring": AwsKmsDiscoveryKeyring(client=west, discovery_filter=accounts),
        "AwsKmsMrkDiscoveryKeyring": AwsKmsMrkDiscoveryKeyring(EAST, client=east, discovery_filter=accounts),
    }
    message = scene.message(
        busta.encrypt(PLAINTEXT, materials_manager=scene.record(generator), encryption_context=CONTEXT)
    )
    for keyring in decrypting.values():
        assert busta.decrypt(message, materials_manager=scene.record(keyring)).plaintext == PLAINTEXT
    scene.objects.update(decrypting, **{"MultiKeyring of KMS keyrings": generator})

    header = scene.header(message)
    (wrapped,) = [edk for edk in header.encrypted_data_keys if edk.provider_info == keys.single_arn.encode()]
    direct = west.decrypt(
        KeyId=keys.single_arn, CiphertextBlob=wrapped.ciphertext, EncryptionContext=header.encryption_context
    )
    assert direct["Plaintext"] in scene.secrets.data_keys, "KMS's own Decrypt returns the data key busta saw"
    assert message_key(header, direct["Plaintext"]) is not None, "and the header commits to it"

    start = message.index(wrapped.ciphertext)
    bad_blob = altered(message, start + len(wrapped.ciphertext) - 1)
    refused = scene.fail(
        "KMS refuses an altered data key",
        NoDecryptingKeyError,
        lambda: busta.decrypt(bad_blob, keyring=strict).plaintext,
    )
    assert isinstance(refused.errors[0], KmsError) and refused.errors[0].__cause__ is not None
    missing = f"arn:{keys.partition}:kms:{WEST}:{keys.account_id}:key/{uuid.uuid4()}"
    refusing = MultiKeyring(
        generator=RecordingGenerator(strict, scene.secrets), children=[AwsKmsKeyring(missing, client=west)]
    )
    error = scene.fail(
        "KMS refuses to Encrypt the data key", KmsError, lambda: busta.encrypt(PLAINTEXT, keyring=refusing)
    )
    assert error.operation == "encrypt" and error.__cause__ is not None


def _hsm_scene(scene: Scene, token: SoftHsmToken, fresh: SoftHsmToken) -> None:
    hsm = keyring_for(token, HSM_LABEL, namespace=NAMESPACE, name="hsm-key", pin=PIN)
    message = scene.message(busta.encrypt(PLAINTEXT, materials_manager=scene.record(hsm), encryption_context=CONTEXT))
    assert busta.decrypt(message, materials_manager=scene.record(hsm)).plaintext == PLAINTEXT
    same_key = RawAesKeyring(NAMESPACE, "hsm-key", HSM_WRAPPING_KEY)
    assert busta.decrypt(message, keyring=same_key).plaintext == PLAINTEXT, "the token holds the known key"
    scene.objects.update(Pkcs11Keyring=hsm, SoftHsmToken=token)

    scene.fail("refused PIN", Pkcs11Error, lambda: keyring_for(fresh, HSM_LABEL, pin=WRONG_PIN))
    scene.fail("second PIN", Pkcs11Error, lambda: keyring_for(token, HSM_LABEL, pin=WRONG_PIN))
    wrong_context = {**CONTEXT, "extra": "not bound to the data key"}
    unwrap = scene.fail(
        "PKCS#11 unwrap under the wrong context",
        NoDecryptingKeyError,
        lambda: busta.decrypt(message, keyring=hsm, encryption_context=wrong_context).plaintext,
    )
    assert unwrap.errors[0].__cause__ is None  # issue 14: a refused data key does not carry the token's code


# =========================================================================== fixtures


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def wrong_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def hsm_tokens() -> tuple[SoftHsmToken, SoftHsmToken]:
    """A token holding HSM_WRAPPING_KEY, and a fresh one never logged in to; both with PIN."""
    token, fresh = new_tokens(2, pin=PIN)
    import_aes_key(token, HSM_LABEL, HSM_WRAPPING_KEY)
    return token, fresh


def known_secrets(rsa_key: rsa.RSAPrivateKey, wrong_rsa_key: rsa.RSAPrivateKey) -> Secrets:
    secrets = Secrets()
    secrets.add_bytes("raw AES wrapping key", WRAPPING_KEY)
    secrets.add_bytes("wrong raw AES wrapping key", WRONG_WRAPPING_KEY)
    secrets.add_bytes("AES key on the token", HSM_WRAPPING_KEY)
    secrets.add_text("PIN", PIN)
    secrets.add_text("wrong PIN", WRONG_PIN)
    secrets.add_rsa_key("RSA private key", rsa_key)
    secrets.add_rsa_key("wrong RSA private key", wrong_rsa_key)
    return secrets


@pytest.fixture(scope="module")
def scene(
    rsa_key: rsa.RSAPrivateKey,
    wrong_rsa_key: rsa.RSAPrivateKey,
    moto_server: MotoServer,
    kms_keys: KmsKeys,
    hsm_tokens: tuple[SoftHsmToken, SoftHsmToken],
) -> Scene:
    built = Scene(known_secrets(rsa_key, wrong_rsa_key))
    _raw_scene(built, rsa_key, wrong_rsa_key)
    _kms_scene(built, moto_server, kms_keys)
    _hsm_scene(built, *hsm_tokens)
    assert sorted(built.objects) == sorted(OBJECTS), "the scene makes every object this file checks"
    assert sorted(built.errors) == sorted(ERRORS), "the scene provokes every error this file checks"
    return built


OBJECTS = [
    "RawAesKeyring",
    "RawRsaKeyring",
    "MultiKeyring",
    "MultiKeyring of KMS keyrings",
    "Pkcs11Keyring",
    "AwsKmsKeyring",
    "AwsKmsMrkKeyring",
    "AwsKmsDiscoveryKeyring",
    "AwsKmsMrkDiscoveryKeyring",
    "DefaultCryptoMaterialsManager",
    "CachingCryptoMaterialsManager",
    "LruMaterialsCache",
    "RequiredEncryptionContextCmm",
    "EncryptionMaterials",
    "DecryptionMaterials",
    "SecretBytes",
    "MessageEncryptor",
    "MessageDecryptor",
    "DrivenDecryptor",
    "EncryptingWriter",
    "EncryptingReader",
    "DecryptingReader",
    "DecryptingWriter",
    "SeekableDecryptingReader",
    "StreamResult",
    "DecryptResult",
    "Header",
    "SoftHsmToken",
    "DerivedKeys",
    "FrameCodec",
    "Signer",
]
ERRORS = [
    "wrong raw keys",
    "altered header",
    "altered frame",
    "altered signature",
    "short wrapping key",
    "RSA key too small to wrap",
    "KMS refuses an altered data key",
    "KMS refuses to Encrypt the data key",
    "refused PIN",
    "second PIN",
    "PKCS#11 unwrap under the wrong context",
]
#: Objects that hold key material themselves: each refuses pickling and copying, naming itself.
HOLDERS = [
    "SecretBytes",
    "RawAesKeyring",
    "RawRsaKeyring",
    "Pkcs11Keyring",
    "EncryptionMaterials",
    "DecryptionMaterials",
    "CachingCryptoMaterialsManager",
    "LruMaterialsCache",
    "MessageEncryptor",
    "MessageDecryptor",
    "DrivenDecryptor",
    "DerivedKeys",
    "FrameCodec",
    "Signer",
]
#: Objects that reference a holder: pickling or deep-copying them reaches the holder and is refused.
REFERRERS = [
    "MultiKeyring",
    "DefaultCryptoMaterialsManager",
    "RequiredEncryptionContextCmm",
    "EncryptingWriter",
    "EncryptingReader",
    "DecryptingReader",
    "DecryptingWriter",
    "SeekableDecryptingReader",
    "SoftHsmToken",
]


# =========================================================================== the search finds what it looks for


def test_the_search_finds_independent_renderings_of_every_secret(
    rsa_key: rsa.RSAPrivateKey, wrong_rsa_key: rsa.RSAPrivateKey
) -> None:
    secrets = known_secrets(rsa_key, wrong_rsa_key)
    key = WRAPPING_KEY
    d = rsa_key.private_numbers().d
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    renderings = {
        "bytes": f"{key!r}",
        "bytearray": repr(bytearray(key)),
        "hex": key.hex(),
        "HEX": key.hex().upper(),
        "colon hex (spaced hex of a half)": key[:16].hex(" "),
        "base64": base64.b64encode(key).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(key).decode(),
        "list": str(list(key)),
        "tuple": str(tuple(key)),
        "latin-1": key.decode("latin-1"),
        "str repr": repr(key.decode("latin-1")),
        "half": repr(key[16:]),
        "PIN": f"pin={PIN}",
        "PIN bytes": repr(WRONG_PIN.encode()),
        "d": str(d),
        "d hex": hex(d),
        "d bytes": repr(int_bytes(d)),
        "p": f"{rsa_key.private_numbers().p:X}",
        "PEM": pem,
        "a PEM line": pem.splitlines()[-3],
        "wrong key base64": base64.b64encode(WRONG_WRAPPING_KEY).decode(),
        "token key": HSM_WRAPPING_KEY.hex(),
    }
    missed = [name for name, text in renderings.items() if not secrets.leaks(f"<< {text} >>")]
    assert not missed
    assert not secrets.leaks(repr(SecretBytes(key)) + repr(RawAesKeyring(NAMESPACE, "k", key)))
    assert len(secrets.forms) > 500


def test_every_message_key_is_checked_against_its_header(scene: Scene) -> None:
    """The data keys searched for are the messages' own: each header's commitment matched one."""
    assert len(scene.secrets.data_keys) >= 11
    assert sum(name.startswith("message key") for name in scene.secrets.names) >= 10


# =========================================================================== objects


@pytest.mark.parametrize("name", OBJECTS)
def test_no_object_shows_key_material_in_its_repr_str_or_reachable_state(name: str, scene: Scene) -> None:
    assert_no_leak(scene.secrets, object_texts(scene.objects[name]))


@pytest.mark.parametrize("name", ERRORS)
def test_no_error_shows_key_material_in_its_text_chain_or_traceback(name: str, scene: Scene) -> None:
    error = scene.errors[name]
    assert_no_leak(scene.secrets, error_texts(error))
    for nested in getattr(error, "errors", ()):
        assert_no_leak(scene.secrets, error_texts(nested))


# =========================================================================== pickling and copying


def _pickler(protocol: int) -> Callable[[object], object]:
    return lambda obj: pickle.dumps(obj, protocol=protocol)


COPIERS: dict[str, Callable[[object], object]] = {
    **{f"pickle protocol {p}": _pickler(p) for p in range(pickle.HIGHEST_PROTOCOL + 1)},
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
}


@pytest.mark.parametrize("name", HOLDERS)
def test_an_object_holding_key_material_refuses_pickling_and_copying_in_its_own_name(name: str, scene: Scene) -> None:
    obj = scene.objects[name]
    for how, copier in COPIERS.items():
        with pytest.raises(UsageError, match=f"^{type(obj).__name__} holds key material and cannot be pickled"):
            copier(obj)
            pytest.fail(f"{how} of {name} succeeded")


@pytest.mark.parametrize("name", REFERRERS)
def test_an_object_referencing_key_material_cannot_be_pickled_or_deep_copied(name: str, scene: Scene) -> None:
    """The default pickle protocol and deepcopy reach the holder, which refuses; protocols 0 and 1
    stop earlier, at Python's own refusal to pickle slotted or io objects (a TypeError)."""
    obj = scene.objects[name]
    for how, copier in COPIERS.items():
        if how == "copy.copy":
            continue  # a shallow copy shares the holder: it duplicates no key and no nonce state
        with pytest.raises((UsageError, TypeError)) as refused:
            copier(obj)
            pytest.fail(f"{how} of {name} succeeded")
        if how in ("copy.deepcopy", f"pickle protocol {pickle.DEFAULT_PROTOCOL}", "pickle protocol 2"):
            assert isinstance(refused.value, UsageError), f"{how}: {refused.value!r}"
            assert "holds key material and cannot be pickled" in str(refused.value)


# =========================================================================== DEBUG logging

#: What each subject's round trips must log at DEBUG (so the search below is not of an empty log).
LOG_SUBJECTS = {
    "RawAesKeyring": "raw AES keyring unwrapped a data key",
    "RawRsaKeyring": "raw RSA keyring unwrapped a data key",
    "MultiKeyring": "raw AES keyring unwrapped a data key",
    "CachingCryptoMaterialsManager": "raw AES keyring unwrapped a data key",
    "RequiredEncryptionContextCmm": "decryption materials ready",
    "Pkcs11Keyring": "PKCS#11 keyring unwrapped a data key",
    "AwsKmsKeyring": "KMS generate_data_key with key",
    "AwsKmsMrkKeyring and AwsKmsMrkDiscoveryKeyring": "KMS encrypt with key",
}


def _log_subject(name: str, request: pytest.FixtureRequest) -> tuple[Keyring | CryptoMaterialsManager, ...]:
    """(what encrypts, what decrypts) for ``name``."""
    rsa_key: rsa.RSAPrivateKey = request.getfixturevalue("rsa_key")
    aes = RawAesKeyring(NAMESPACE, "aes-key", WRAPPING_KEY)
    rsa_keyring = RawRsaKeyring(NAMESPACE, "rsa-key", private_key=rsa_key)
    if name in ("RawAesKeyring", "RawRsaKeyring"):
        return (aes, aes) if name == "RawAesKeyring" else (rsa_keyring, rsa_keyring)
    if name == "MultiKeyring":
        multi = MultiKeyring(generator=aes, children=[rsa_keyring])
        return multi, multi
    if name == "CachingCryptoMaterialsManager":
        caching = CachingCryptoMaterialsManager(aes, max_age=600.0, max_messages=2)
        return caching, caching
    if name == "RequiredEncryptionContextCmm":
        required = RequiredEncryptionContextCmm(aes, required_keys=["tenant"])
        return required, required
    if name == "Pkcs11Keyring":
        token, _ = request.getfixturevalue("hsm_tokens")
        hsm = keyring_for(token, HSM_LABEL, namespace=NAMESPACE, name="hsm-key", pin=PIN)
        return hsm, hsm
    server: MotoServer = request.getfixturevalue("moto_server")
    keys: KmsKeys = request.getfixturevalue("kms_keys")
    west, east = server.client("kms", WEST), server.client("kms", EAST)
    if name == "AwsKmsKeyring":
        strict = AwsKmsKeyring(keys.single_arn, client=west)
        return strict, strict
    generator = MultiKeyring(
        generator=AwsKmsMrkKeyring(keys.mrk_west_arn, client=west),
        children=[AwsKmsKeyring(keys.single_arn, client=west)],
    )
    accounts = DiscoveryFilter(keys.partition, (keys.account_id,))
    return generator, AwsKmsMrkDiscoveryKeyring(EAST, client=east, discovery_filter=accounts)


@pytest.mark.parametrize("name", list(LOG_SUBJECTS))
def test_debug_logs_of_round_trips_and_failures_show_no_key_material_and_no_plaintext(
    name: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = known_secrets(request.getfixturevalue("rsa_key"), request.getfixturevalue("wrong_rsa_key"))
    secrets.add_bytes("plaintext", PLAINTEXT[:35])  # the repeated phrase (and its halves)
    encrypting, decrypting = _log_subject(name, request)
    enc, dec = Recorder(encrypting, secrets), Recorder(decrypting, secrets)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="busta")

    message = busta.encrypt(PLAINTEXT, materials_manager=enc, encryption_context=CONTEXT, frame_length=FRAME)
    assert busta.decrypt(message, materials_manager=dec, encryption_context=CONTEXT).plaintext == PLAINTEXT
    sink, out = io.BytesIO(), io.BytesIO()
    busta.encrypt_stream(
        io.BytesIO(PLAINTEXT), sink, materials_manager=enc, encryption_context=CONTEXT, frame_length=FRAME
    )
    busta.decrypt_stream(io.BytesIO(sink.getvalue()), out, materials_manager=dec, encryption_context=CONTEXT)
    assert out.getvalue() == PLAINTEXT
    with pytest.raises(AuthenticationError):
        busta.decrypt(altered(message, len(message) - 1), materials_manager=dec, encryption_context=CONTEXT)
    records = list(caplog.records)

    for made in (message, sink.getvalue()):
        secrets.add_message_key(Scene.header(made))
    assert len(secrets.data_keys) >= 1
    ours = [record for record in records if not record.name.startswith("botocore.")]
    assert any(LOG_SUBJECTS[name] in record.getMessage() for record in ours), "DEBUG records were captured"
    for record in ours:
        text = caplog.handler.format(record) + repr(record.args) + repr(vars(record))
        assert not secrets.leaks(text), f"{record.name} logged {secrets.leaks(text)[:3]}"
    if name.startswith("AwsKms"):
        # botocore logs at DEBUG too, and its KMS request/response bodies carry the plaintext data
        # key: that is botocore's, not busta's, to answer for (users are warned in the docs).
        assert any(record.name.startswith("botocore.") for record in records)
