"""docs/async.md's first example runs as written (so the page cannot drift from the API)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "async.md"


def test_the_first_example_of_docs_async_runs() -> None:
    block = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)[0]
    exec(compile(block, str(DOC), "exec"), {"__name__": "docs_async"})


def test_the_page_keeps_the_kms_and_s3_sections() -> None:
    headings = re.findall(r"^## (.+)$", DOC.read_text(), flags=re.MULTILINE)
    assert "AWS KMS keyrings" in headings and "S3" in headings
