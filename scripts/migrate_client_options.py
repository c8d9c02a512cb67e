"""Migrate Python code to busta 0.2's one way of passing options (issue 15, item 3).

    python scripts/migrate_client_options.py FILE.py ...

Rewrites, by AST node positions (never by regex), then leaves formatting to ``ruff format``:

- ``busta.decrypt(m, keyring=k, commitment_policy=P)`` -> ``busta.Client(commitment_policy=P).decrypt(m, keyring=k)``:
  the client settings (commitment_policy, max_encrypted_data_keys, max_header_bytes, max_nonframed_bytes,
  refuse_signed, threads) move from any quick-start call onto a ``busta.Client(...)``;
- ``busta.decrypt(...)`` used as bytes -> ``busta.decrypt(...).plaintext`` (a bare statement is left alone);
- ``busta.decrypt_message(...)`` -> ``busta.decrypt(...)``;
- the same settings on ``s3.upload_*/download_*/get_range/rewrap_object`` and ``busta.rewrap``'s functions
  move into ``sdk=busta.Client(...)``.

Calls that forward ``**kwargs``, and calls with a comment inside, are reported for review by hand.
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

API = {
    "encrypt",
    "decrypt",
    "decrypt_message",
    "encrypt_stream",
    "decrypt_stream",
    "start_encryption",
    "start_decryption",
    "open_seekable",
    "encrypting_reader",
    "encrypting_writer",
    "decrypting_reader",
    "decrypting_writer",
}
S3 = {"upload_fileobj", "upload_file", "download_fileobj", "download_file", "get_range", "rewrap_object"}
REWRAP = {"rewrap_header", "rewrap", "check_rewrapped", "CheckedCopy"}
SETTINGS = {
    "commitment_policy",
    "max_encrypted_data_keys",
    "max_header_bytes",
    "max_nonframed_bytes",
    "refuse_signed",
    "threads",
}
API_BASES = {"busta", "api", "busta.api"}
S3_BASES = {"s3", "busta.s3"}
REWRAP_BASES = {"busta.rewrap"}


def dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


class Migration:
    """The rewrites of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.src = path.read_bytes()
        self.tree = ast.parse(self.src)
        self.starts = [0]
        for line in self.src.split(b"\n"):
            self.starts.append(self.starts[-1] + len(line) + 1)
        tokens = tokenize.tokenize(io.BytesIO(self.src).readline)
        self.comment_lines = {tok.start[0] for tok in tokens if tok.type == tokenize.COMMENT}
        self.rewrap_names = {
            alias.asname or alias.name
            for node in ast.walk(self.tree)
            if isinstance(node, ast.ImportFrom) and node.module == "busta.rewrap"
            for alias in node.names
        }
        self.statements = {id(node.value) for node in ast.walk(self.tree) if isinstance(node, ast.Expr)}
        self.notes: list[str] = []
        self.needs_busta = False
        self.edits: dict[int, tuple[str, str, str]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and (kind := self.kind(node)):
                self.edits[id(node)] = kind

    def span(self, node: ast.expr) -> tuple[int, int]:
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = self.starts[node.lineno - 1] + node.col_offset
        return start, self.starts[node.end_lineno - 1] + node.end_col_offset

    def kind(self, call: ast.Call) -> tuple[str, str, str] | None:
        name = dotted(call.func)
        if name is None:
            return None
        base, _, attr = name.rpartition(".")
        moved = any(k.arg in SETTINGS for k in call.keywords)
        forwards = any(k.arg is None for k in call.keywords)
        if base in API_BASES and attr in API:
            self.note_forwarding(call, name, forwards)
            return ("api", base, attr) if moved or attr in ("decrypt", "decrypt_message") else None
        is_s3 = base in S3_BASES and attr in S3
        is_rewrap = (base in REWRAP_BASES and attr in REWRAP) or (not base and attr in self.rewrap_names & REWRAP)
        if is_s3 or is_rewrap:
            self.note_forwarding(call, name, forwards)
            return ("sdk", base, attr) if moved else None
        return None

    def note_forwarding(self, call: ast.Call, name: str, forwards: bool) -> None:
        if forwards:
            self.notes.append(f"{self.path}:{call.lineno}: {name}(**...) forwards keywords: review by hand")

    def text_of(self, node: ast.expr) -> str:
        """The source of ``node`` with every rewritten call inside it rewritten."""
        if isinstance(node, ast.Call) and id(node) in self.edits:
            return self.rewrite(node)
        start, end = self.span(node)
        text = self.src[start:end]  # bytes: AST columns are UTF-8 byte offsets
        for child_start, child_end, new in sorted(self.outermost(node), reverse=True):
            text = text[: child_start - start] + new.encode() + text[child_end - start :]
        return text.decode()

    def outermost(self, node: ast.AST) -> list[tuple[int, int, str]]:
        found: list[tuple[int, int, str]] = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Call) and id(child) in self.edits:
                found.append((*self.span(child), self.rewrite(child)))
            else:
                found.extend(self.outermost(child))
        return found

    def rewrite(self, call: ast.Call) -> str:
        kind, base, attr = self.edits[id(call)]
        assert call.end_lineno is not None
        if any(call.lineno <= line <= call.end_lineno for line in self.comment_lines):
            self.notes.append(f"{self.path}:{call.lineno}: a comment inside a rewritten call: check it")
        args = [self.text_of(arg) for arg in call.args]
        kept, moved = [], []
        for keyword in call.keywords:
            value = self.text_of(keyword.value)
            if keyword.arg is None:
                kept.append(f"**{value}")
            elif keyword.arg in SETTINGS:
                moved.append(f"{keyword.arg}={value}")
            else:
                kept.append(f"{keyword.arg}={value}")
        self.needs_busta = self.needs_busta or bool(moved)
        client = f"busta.Client({', '.join(moved)})"
        if kind == "sdk":
            return f"{self.text_of(call.func)}({', '.join([*args, *kept, f'sdk={client}'])})"
        method = "decrypt" if attr == "decrypt_message" else attr
        func = f"{client}.{method}" if moved else f"{base}.{method}"
        new = f"{func}({', '.join(args + kept)})"
        if attr == "decrypt" and id(call) not in self.statements:
            new += ".plaintext"  # a bare statement only raises or not: its value was never used
        return new

    def run(self) -> str:
        out = self.src
        for start, end, new in sorted(self.outermost(self.tree), reverse=True):
            out = out[:start] + new.encode() + out[end:]
        text = out.decode()
        if self.needs_busta and not any(line.strip() == "import busta" for line in text.split("\n")):
            self.notes.append(f"{self.path}: `import busta` added; check where")
            lines = text.split("\n")
            first = next(i for i, line in enumerate(lines) if line.startswith(("import ", "from ")))
            lines.insert(first + 1 if "__future__" in lines[first] else first, "import busta")
            text = "\n".join(lines)
        ast.parse(text)
        return text


def main(paths: list[str]) -> int:
    for name in paths:
        migration = Migration(Path(name))
        if migration.edits:
            Path(name).write_text(migration.run())
            print(f"{name}: {len(migration.edits)} calls")
        for note in migration.notes:
            print(f"  review: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
