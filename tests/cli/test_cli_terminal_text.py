"""Untrusted text (context pairs, provider ids, KMS ARNs, S3 keys, names in a tree) never reaches a
terminal or a log line raw: no forged line, no ANSI/OSC escape. ``inspect --json`` stays exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import busta
from busta.cli import commands, main
from busta.errors import KmsError, NoDecryptingKeyError, S3Error, UnsafePathError
from busta.keyrings import RawAesKeyring

#: A forged line, a screen clear, an OSC title change, a C1 CSI, a bidi override and a bell.
HOSTILE = "x\nsigned:         True\x1b[2J\x1b]0;owned\x07\x9b31m\u202e\r"
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r")
#: HOSTILE as the terminal must show it: each of those characters escaped as in a string literal.
ESCAPED = repr(HOSTILE)[1:-1]


def hostile_message(tmp_path: Path) -> tuple[Path, RawAesKeyring]:
    keyring = RawAesKeyring(f"ns-{HOSTILE}", f"name-{HOSTILE}", b"k" * 32)
    context = {f"key-{HOSTILE}": f"value-{HOSTILE}", "plain": "pair"}
    path = tmp_path / "hostile.enc"
    path.write_bytes(busta.encrypt(b"secret", keyring=keyring, encryption_context=context, algorithm=0x0478))
    return path, keyring


def assert_safe(text: str) -> None:
    for control in CONTROLS:
        assert control not in text
    assert sum(line.startswith("signed:") for line in text.splitlines()) <= 1


def test_inspect_escapes_context_and_provider_ids_so_no_line_is_forged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = hostile_message(tmp_path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert_safe(out)
    lines = out.splitlines()
    assert [line for line in lines if line.startswith("signed:")] == ["signed:         False"]
    assert f"  key-{ESCAPED} = value-{ESCAPED}" in lines
    assert any(line.startswith(f"  ns-{ESCAPED}  ") for line in lines)
    assert len(lines) == 12  # 5 fields, the context heading and 2 pairs, the data key heading and 1 key, 2 fields


def test_inspect_json_keeps_the_hostile_text_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = hostile_message(tmp_path)
    assert main(["inspect", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert_safe(out)  # JSON escapes every control character
    info = json.loads(out)
    assert info["encryption_context"] == {f"key-{HOSTILE}": f"value-{HOSTILE}", "plain": "pair"}
    assert info["encrypted_data_keys"][0]["provider_id"] == f"ns-{HOSTILE}"
    assert info["suite"]["signed"] is False


def test_the_metadata_line_stays_exact_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = hostile_message(tmp_path)
    key_file = tmp_path / "raw.key"
    key_file.write_bytes(b"k" * 32)
    key_file.chmod(0o600)
    log = tmp_path / "meta.jsonl"
    names = ["--namespace", f"ns-{HOSTILE}", "--key-name", f"name-{HOSTILE}"]
    argv = ["decrypt", str(path), "-o", str(tmp_path / "out"), "--aes-key-file", str(key_file), *names]
    assert main([*argv, "--metadata-output", str(log)]) == 0
    (line,) = log.read_text().splitlines()
    assert_safe(line)
    assert json.loads(line)["encryption_context"][f"key-{HOSTILE}"] == f"value-{HOSTILE}"


@pytest.mark.parametrize(
    "error",
    [
        KmsError("Decrypt", "AccessDenied", f"arn:aws:kms:us-west-2:111122223333:key/{HOSTILE}", f"us-{HOSTILE}"),
        S3Error("GetObject", "NoSuchKey", "bucket", f"prefix/{HOSTILE}"),
        UnsafePathError(f"../{HOSTILE}", "has a '..' component"),
        NoDecryptingKeyError("no keyring could decrypt", [f"KMS key arn:{HOSTILE}: denied", "second reason"]),
    ],
    ids=["kms", "s3", "unsafe-path", "no-decrypting-key"],
)
def test_library_errors_carrying_untrusted_text_are_safe_for_a_log_line_and_for_the_cli(
    error: Exception, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = str(error)
    for control in CONTROLS:
        assert control not in text
    reasons = getattr(error, "reasons", ())
    assert text.count("\n") == len(reasons)  # only the reasons' own lines

    def fail(args: object) -> None:
        raise error

    monkeypatch.setattr(commands, "run_transfer", fail)
    assert main(["decrypt", "in", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert_safe(err)
    assert err.startswith("busta: error: ")
    assert err.count("\n") == 1 + len(reasons)


def test_a_hostile_file_name_in_an_error_is_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = tmp_path / f"in{HOSTILE.replace('/', '_')}"
    assert main(["inspect", str(name)]) == 1
    err = capsys.readouterr().err
    assert_safe(err)
    assert err.count("\n") == 1
    assert repr(str(name))[1:-1] in err


def test_printable_escapes_every_control_and_format_character_and_changes_nothing_else() -> None:
    from busta._text import printable  # imported here: the module is new in this issue

    assert printable("plain text, é, 東京, a\\b") == "plain text, é, 東京, a\\b"
    assert printable("a\nb\x1b[2J\x9b\u202e\x00\x7f\u2028\U000e0001") == (
        "a\\nb\\x1b[2J\\x9b\\u202e\\x00\\x7f\\u2028\\U000e0001"
    )
    assert printable(ESCAPED) == ESCAPED
    assert printable(HOSTILE) == ESCAPED and ESCAPED.isprintable()
