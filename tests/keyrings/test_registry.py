"""Keyring kinds are registered in one place (busta.keyrings.registry): a kind registered here, in
the test and nowhere else, is usable from busta.keyrings (lazily), busta.keyconfig and the CLI."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import pickle
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import busta
import busta.keyrings
from busta.cli import main
from busta.cli.options import build_parser
from busta.errors import UsageError
from busta.format import EncryptedDataKey
from busta.keyconfig import Multi, build_keyring
from busta.keyrings import RawAesKeyring, kinds, registry
from busta.keyrings.registry import CliOption, KeyArgs, KeyOption, KeyringConfig, KeyringKind
from busta.materials import DecryptionMaterials, EncryptionMaterials, Keyring

TOY_NAMESPACE = "toy-namespace"


class ToyKeyring:
    """A keyring of the toy kind: raw AES under a key derived from a label (a test needs no secret)."""

    def __init__(self, label: str, *, salt: str = "") -> None:
        key = hashlib.sha256(f"toy:{salt}:{label}".encode()).digest()
        self._inner = RawAesKeyring(TOY_NAMESPACE, label, key)

    def on_encrypt(self, materials: EncryptionMaterials) -> EncryptionMaterials:
        return self._inner.on_encrypt(materials)

    def on_decrypt(
        self, materials: DecryptionMaterials, encrypted_data_keys: Sequence[EncryptedDataKey]
    ) -> DecryptionMaterials:
        return self._inner.on_decrypt(materials, encrypted_data_keys)


@dataclass(frozen=True, slots=True)
class ToyKey:
    """The toy kind's secret-free description."""

    label: str
    salt: str = ""

    def build(self) -> Keyring:
        return busta.keyrings.ToyKeyring(self.label, salt=self.salt)  # type: ignore[no-any-return]


def _toy_key(given: KeyArgs) -> KeyringConfig:
    if given.encrypting and given.value == "decrypt-only":
        raise UsageError("--toy-key decrypt-only only decrypts")
    return ToyKey(given.value, given.options["toy_salt"] or "")


TOY = KeyringKind(
    name="toy",
    module=__name__,
    exports=("ToyKeyring",),
    descriptions=(ToyKey,),
    key_options=(KeyOption("--toy-key", "a toy key (tests only)", _toy_key, metavar="LABEL"),),
    options=(CliOption("--toy-salt", "the toy keys' salt", "TEXT"),),
)


@pytest.fixture
def toy_kind() -> Iterator[KeyringKind]:
    registry.register(TOY)
    try:
        yield TOY
    finally:
        registry.unregister(TOY.name)


def test_the_toy_keyring_class_is_exported_lazily_by_busta_keyrings_once_registered() -> None:
    with pytest.raises(AttributeError):
        _ = busta.keyrings.ToyKeyring
    registry.register(TOY)
    try:
        assert busta.keyrings.ToyKeyring is ToyKeyring
    finally:
        registry.unregister(TOY.name)


def test_a_toy_description_builds_through_keyconfig_alone_and_in_a_multi(toy_kind: KeyringKind) -> None:
    keyring = build_keyring(ToyKey("alpha"))
    assert isinstance(keyring, ToyKeyring)
    assert build_keyring(ToyKey("alpha")) is keyring  # one per description per process
    message = busta.encrypt(b"toy data", keyring=keyring)
    assert (
        busta.decrypt(message, keyring=build_keyring(Multi((ToyKey("beta"), ToyKey("alpha"))))).plaintext == b"toy data"
    )
    assert pickle.loads(pickle.dumps(ToyKey("alpha"))) == ToyKey("alpha")  # it can travel to a worker


def test_the_cli_parser_offers_the_toy_key_option_only_while_it_is_registered(toy_kind: KeyringKind) -> None:
    args = build_parser().parse_args(["encrypt", "in", "-o", "out", "--toy-key", "alpha", "--toy-salt", "s"])
    (spec,) = args.keys
    assert spec.option is TOY.key_options[0] and spec.value == "alpha" and args.toy_salt == "s"
    registry.unregister(TOY.name)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["encrypt", "in", "-o", "out", "--toy-key", "alpha"])


def test_busta_encrypt_and_decrypt_with_toy_key_use_the_toy_keyring(
    toy_kind: KeyringKind, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, sealed, opened = tmp_path / "plain", tmp_path / "plain.enc", tmp_path / "opened"
    plain.write_bytes(b"through the command line")
    assert main(["encrypt", str(plain), "-o", str(sealed), "-q", "--toy-key", "alpha", "--toy-salt", "s"]) == 0
    assert (
        busta.decrypt(sealed.read_bytes(), keyring=ToyKeyring("alpha", salt="s")).plaintext
        == b"through the command line"
    )
    assert main(["decrypt", str(sealed), "-o", str(opened), "-q", "--toy-key", "alpha"]) == 1  # the wrong salt
    assert main(["decrypt", str(sealed), "-o", str(opened), "-q", "--toy-key", "alpha", "--toy-salt", "s"]) == 0
    assert opened.read_bytes() == b"through the command line"
    capsys.readouterr()
    assert main(["encrypt", str(plain), "-o", str(tmp_path / "x"), "--toy-key", "decrypt-only"]) == 2
    assert "--toy-key decrypt-only only decrypts" in capsys.readouterr().err


def test_a_kind_that_claims_a_registered_name_export_or_option_is_refused(toy_kind: KeyringKind) -> None:
    for clash in (
        KeyringKind(name="toy"),
        KeyringKind(name="other", module="x", exports=("ToyKeyring",)),
        KeyringKind(name="other", options=(CliOption("--toy-salt", "again"),)),
        KeyringKind(name="other", key_options=(KeyOption("--kms-key", "taken", _toy_key),)),
    ):
        with pytest.raises(UsageError, match="already registered"):
            registry.register(clash)
    assert [kind.name for kind in registry.kinds()].count("toy") == 1


def test_a_kind_is_checked_when_it_is_made() -> None:
    with pytest.raises(UsageError, match="names no module"):
        KeyringKind(name="x", exports=("X",))
    with pytest.raises(UsageError, match="no build"):
        KeyringKind(name="x", descriptions=(int,))
    with pytest.raises(UsageError, match="KeyringKind"):
        registry.register("toy")  # type: ignore[arg-type]


def test_every_builtin_kind_is_registered_in_kinds_and_its_exports_and_descriptions_are_public() -> None:
    builtin = [
        kind for kind in registry.kinds() if kind.descriptions and kind.descriptions[0].__module__ == kinds.__name__
    ]
    assert [kind.name for kind in builtin] == ["raw-aes", "raw-rsa", "aws-kms", "pkcs11"]
    import busta.keyconfig as keyconfig

    for kind in builtin:
        for name in kind.exports:
            assert name in busta.keyrings.__all__
            assert kind.module is not None
            assert getattr(busta.keyrings, name) is getattr(importlib.import_module(kind.module), name)
        for description in kind.descriptions:
            assert getattr(keyconfig, description.__name__) is description
            assert description.__name__ in keyconfig.__all__


def test_a_missing_extra_is_named_in_the_import_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "busta_toy_needs_extra.py").write_text("import busta_toy_missing_dependency\n", "utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    kind = KeyringKind(name="needs-extra", module="busta_toy_needs_extra", exports=("NeedsExtra",), extra="toy")
    registry.register(kind)
    try:
        with pytest.raises(
            ImportError, match=r"NeedsExtra needs busta_toy_missing_dependency: pip install 'busta\[toy\]'"
        ):
            _ = busta.keyrings.NeedsExtra
    finally:
        registry.unregister(kind.name)


def _type_checking_names() -> set[str]:
    """The names busta/keyrings/__init__.py imports under ``if TYPE_CHECKING:`` (for type checkers)."""
    tree = ast.parse(inspect.getsource(busta.keyrings))
    guards = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    return {
        alias.name
        for guard in guards
        for node in guard.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_lazy_names_of_busta_keyrings_are_the_exports_of_the_registered_kinds_and_nothing_else() -> None:
    """``__all__`` and the type checkers' imports cannot drift from the registry."""
    exported = {name for kind in registry.kinds() for name in kind.exports}
    eager = {"MultiKeyring", "RawAesKeyring"}
    assert set(busta.keyrings.__all__) == exported | eager
    assert _type_checking_names() == exported


_FRESH = """
import sys, threading
import busta
print("kinds" in [name.rsplit(".", 1)[-1] for name in sys.modules if name.startswith("busta.keyrings.")])
from busta.keyrings import registry
seen = []
threads = [threading.Thread(target=lambda: seen.append(len(registry.kinds()))) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sorted(set(seen)), len(registry.kinds()), type(busta.keyrings.RawRsaKeyring).__name__)
"""


def test_import_busta_describes_no_kind_until_the_table_is_first_read() -> None:
    built_in = len(registry.kinds())
    env_path = str(Path(busta.__file__).resolve().parents[1])
    out = subprocess.run(
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True, env={"PYTHONPATH": env_path}
    ).stdout.split("\n")
    assert out[0] == "False"  # import busta did not import busta.keyrings.kinds (start-up time)
    assert out[1] == f"[{built_in}] {built_in} type"  # eight threads reading at once all saw every kind
