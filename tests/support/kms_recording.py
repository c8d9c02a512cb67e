"""A moto server that records every request it serves, to see what a ``busta`` process sent to KMS.

moto's own recorder (``/moto-api/recorder/...``) appends each request, headers and body, as a JSON
line to the file named by ``MOTO_RECORDER_FILEPATH``; it is switched on for the server process
only, with that file in a temporary directory. :func:`kms_calls` reads the KMS calls back (the
operation from the ``X-Amz-Target`` header, the parameters from the JSON body) and
:func:`forget_calls` empties the record between cases::

    from .support.kms_recording import recording_moto_server, kms_calls

    calls = kms_calls(recording_moto_server)
    assert [c.operation for c in calls] == ["GenerateDataKey"]
"""

from __future__ import annotations

import base64
import json
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from .moto_server import MotoServer

__all__ = ["KmsCall", "RecordingMotoServer", "forget_calls", "kms_calls", "recording_moto_server"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class KmsCall:
    operation: str  # "GenerateDataKey", "Encrypt", "Decrypt", ...
    parameters: dict[str, Any]


class RecordingMotoServer(MotoServer):
    """A :class:`MotoServer` whose process records every request into ``record_path``."""

    def __init__(self, record_path: Path) -> None:
        super().__init__()
        self.record_path = record_path

    def start(self) -> Self:
        with pytest.MonkeyPatch.context() as env:  # the server process copies the environment as it starts
            env.setenv("MOTO_ENABLE_RECORDING", "true")
            env.setenv("MOTO_RECORDER_FILEPATH", str(self.record_path))
            return super().start()


@pytest.fixture(scope="module")
def recording_moto_server() -> Iterator[RecordingMotoServer]:
    with (
        tempfile.TemporaryDirectory(prefix="busta-moto-record-") as tmp,
        RecordingMotoServer(Path(tmp) / "requests.jsonl") as server,
    ):
        yield server


def _post(server: RecordingMotoServer, path: str) -> None:
    request = urllib.request.Request(f"{server.endpoint}{path}", method="POST", data=b"")
    with _OPENER.open(request, timeout=5) as response:
        response.read()


def forget_calls(server: RecordingMotoServer) -> None:
    """Empty the record (the server keeps recording)."""
    _post(server, "/moto-api/recorder/reset-recording")


def kms_calls(server: RecordingMotoServer, operation: str | None = None) -> list[KmsCall]:
    """The KMS calls recorded since the last :func:`forget_calls`, in order (only ``operation``'s if given)."""
    path = server.record_path
    calls = []
    lines = path.read_text().splitlines() if path.exists() else []
    for line in lines:
        entry = json.loads(line)
        headers = {name.lower(): value for name, value in entry["headers"].items()}
        target = headers.get("x-amz-target", "")
        if not target.startswith("TrentService."):
            continue
        body = entry.get("body") or ""
        text = base64.b64decode(body) if entry.get("body_encoded") else body.encode()
        call = KmsCall(target.removeprefix("TrentService."), json.loads(text or b"{}"))
        if operation is None or call.operation == operation:
            calls.append(call)
    return calls
