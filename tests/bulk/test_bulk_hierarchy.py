"""A bulk job with the hierarchical keyring: its secret-free description (busta.keyconfig.HierarchyKey)
travels to the workers, each worker builds its own keyring and branch key cache once, so a job costs
at most one KMS Decrypt per worker (and branch key version) per TTL, however many files it has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import busta
from busta.bulk import local_client, run
from busta.keyconfig import BranchKeyStoreConfig, HierarchyKey
from busta.keyrings.branch_key_store import BranchKeyStore, KmsKeyArn
from busta.keyrings.hierarchy import HierarchicalKeyring

from ..support.kms_recording import RecordingMotoServer, forget_calls, kms_calls, recording_moto_server
from ..support.moto_server import ACCESS_KEY, SECRET_KEY

__all__ = ["recording_moto_server"]

FILES = 12
WORKERS = 2


@pytest.fixture(scope="module")
def workers(recording_moto_server: RecordingMotoServer) -> Iterator[object]:
    """Two worker processes that reach moto with its credentials (they copy the environment)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        env.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        env.delenv("AWS_PROFILE", raising=False)
        with local_client(WORKERS) as client:
            yield client


def test_each_worker_unwraps_the_branch_key_once_for_the_whole_job(
    recording_moto_server: RecordingMotoServer, workers: object, tmp_path: Path
) -> None:
    server = recording_moto_server
    arn = server.client("kms").create_key()["KeyMetadata"]["Arn"]
    store = BranchKeyStore(
        "bulk-keys", "bulk-keys", KmsKeyArn(arn), ddb_client=server.client("dynamodb"), kms_client=server.client("kms")
    )
    store.create_key_store()
    branch_key_id = store.create_key("bulk-tenant", {})
    description = HierarchyKey(
        BranchKeyStoreConfig("bulk-keys", "bulk-keys", arn, endpoint_url=server.endpoint), branch_key_id=branch_key_id
    )
    source = tmp_path / "src"
    source.mkdir()
    for n in range(FILES):
        (source / f"f{n:02d}.txt").write_bytes(b"bulk %d\n" % n * 100)

    forget_calls(server)
    encrypted = run("encrypt", str(source), str(tmp_path / "enc"), keyring=description, client=workers)
    assert encrypted.ok and encrypted.count("done") == FILES
    assert 1 <= len(kms_calls(server, "Decrypt")) <= WORKERS
    assert kms_calls(server, "GenerateDataKey") == []

    forget_calls(server)
    decrypted = run("decrypt", str(tmp_path / "enc"), str(tmp_path / "dec"), keyring=description, client=workers)
    assert decrypted.ok and decrypted.count("done") == FILES
    assert 1 <= len(kms_calls(server, "Decrypt")) <= WORKERS
    for n in range(FILES):
        assert (tmp_path / "dec" / f"f{n:02d}.txt").read_bytes() == (source / f"f{n:02d}.txt").read_bytes()
    message = (tmp_path / "enc" / "f03.txt.enc").read_bytes()
    local = HierarchicalKeyring(store, ttl_seconds=60, branch_key_id=branch_key_id)
    assert busta.decrypt(message, keyring=local).plaintext == (source / "f03.txt").read_bytes()
