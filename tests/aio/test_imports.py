"""What importing costs: ``import busta`` imports no busta.aio; ``import busta.aio`` no aiobotocore or aiohttp."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return set(done.stdout.split())


def test_import_busta_imports_no_async_api() -> None:
    modules = _modules_after("import busta")
    assert "busta" in modules
    assert not {name for name in modules if name.startswith("busta.aio")}
    assert "asyncio" not in modules


def test_import_busta_aio_imports_no_aiobotocore_or_aiohttp() -> None:
    modules = _modules_after("import busta.aio")
    assert "busta.aio" in modules
    assert not {name for name in modules if name.split(".")[0] in {"aiobotocore", "aiohttp", "botocore", "boto3"}}
