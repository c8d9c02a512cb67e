"""The hierarchical keyring from the command line, against moto's DynamoDB and KMS: ``busta branch-key
create`` / ``version``, the ``--hierarchy-key`` and ``--hierarchy-key-from-context`` options, and
the errors of a wrong invocation (one line each, no traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from busta.cli import main
from busta.keyconfig import BranchKeyStoreConfig, HierarchyKey, build_keyring

from ..support.kms_fixtures import KmsKeys, kms_keys, moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY, MotoServer

__all__ = ["kms_keys", "moto_server"]

TABLE = "cli-branch-keys"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer, kms_keys: KmsKeys) -> list[str]:
    """moto's credentials in the environment; the store options every command here takes."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return [
        "--branch-key-table",
        TABLE,
        "--branch-key-kms-key",
        kms_keys.single_arn,
        "--aws-endpoint-url",
        moto_server.endpoint,
    ]


def _busta(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out.strip(), captured.err


def test_create_and_version_print_the_id_and_the_new_version_and_messages_follow_them(
    aws: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, branch_key_id, err = _busta(["branch-key", "create", "--create-table", *aws], capsys)
    assert status == 0, err
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"hierarchical from the shell\n" * 40)
    keys = ["--hierarchy-key", branch_key_id, *aws]
    assert _busta(["encrypt", str(plain), "-o", str(tmp_path / "old.enc"), *keys], capsys)[0] == 0
    status, version, err = _busta(["branch-key", "version", branch_key_id, *aws], capsys)
    assert status == 0, err
    assert len(version) == 36
    assert _busta(["encrypt", str(plain), "-o", str(tmp_path / "new.enc"), *keys], capsys)[0] == 0
    discovery = ["--hierarchy-key", branch_key_id, "--branch-key-table", TABLE, *aws[4:], "--aws-region", "us-west-2"]
    for name, options in (("old", keys), ("new", keys), ("old", discovery)):
        out = tmp_path / f"{name}.txt"
        status, _, err = _busta(["decrypt", str(tmp_path / f"{name}.enc"), "-o", str(out), "--force", *options], capsys)
        assert status == 0, err
        assert out.read_bytes() == plain.read_bytes()


def test_the_branch_key_can_come_from_the_encryption_context(
    aws: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    created = _busta(
        ["branch-key", "create", "--create-table", "--branch-key-id", "tenant-7", "-c", "team=7", *aws], capsys
    )
    assert created[:2] == (0, "tenant-7"), created[2]
    plain = tmp_path / "p"
    plain.write_bytes(b"tenant data")
    keys = ["--hierarchy-key-from-context", "tenant", *aws]
    status, _, err = _busta(
        ["encrypt", str(plain), "-o", str(tmp_path / "t.enc"), "-c", "tenant=tenant-7", *keys], capsys
    )
    assert status == 0, err
    status, _, err = _busta(["decrypt", str(tmp_path / "t.enc"), "-o", str(tmp_path / "t.out"), *keys], capsys)
    assert status == 0, err
    assert (tmp_path / "t.out").read_bytes() == b"tenant data"
    status, _, err = _busta(["encrypt", str(plain), "-o", str(tmp_path / "none.enc"), *keys], capsys)
    assert status == 1
    assert "no 'tenant' naming the branch key" in err and "Traceback" not in err


def test_wrong_invocations_fail_with_one_line(
    aws: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "p"
    plain.write_bytes(b"x")
    status, _, err = _busta(["encrypt", str(plain), "-o", str(tmp_path / "x.enc"), "--hierarchy-key", "k"], capsys)
    assert status == 2 and "needs --branch-key-table" in err
    status, _, err = _busta(["branch-key", "create", "--branch-key-id", "taken", *aws, "--create-table"], capsys)
    assert status == 0, err
    status, _, err = _busta(["branch-key", "create", "--branch-key-id", "taken", *aws], capsys)
    assert status == 1 and "ConditionalCheckFailed" in err and "Traceback" not in err
    status, _, err = _busta(["branch-key", "version", "absent", *aws], capsys)
    assert status == 1 and "NoSuchBranchKey" in err
    alias = ["--branch-key-table", TABLE, "--branch-key-kms-key", "alias/mine"]
    status, _, err = _busta(
        ["encrypt", str(plain), "-o", str(tmp_path / "y.enc"), "--hierarchy-key", "k", *alias], capsys
    )
    assert status == 2 and "needs a KMS key ARN" in err


def test_a_hierarchy_description_is_picklable_and_builds_one_keyring_per_process() -> None:
    import pickle

    store = BranchKeyStoreConfig(
        "table", "t", "arn:aws:kms:us-west-2:111122223333:key/abc", endpoint_url="http://127.0.0.1:9"
    )
    description = HierarchyKey(store, branch_key_id="b")
    assert pickle.loads(pickle.dumps(description)) == description
    assert build_keyring(description) is build_keyring(HierarchyKey(store, branch_key_id="b"))
    assert description.build() is description.build()
