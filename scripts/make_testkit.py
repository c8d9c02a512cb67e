"""Write the testkit: ``testkit/keys.json`` and one file per case in ``testkit/cases/``.

Usage (from the repository root)::

    python scripts/make_testkit.py            # (re)write testkit/
    python scripts/make_testkit.py --check    # report files that differ from what would be written

The output is the same on every run: keys, message ids, data keys, IVs, wrapping randomness and
ECDSA signatures (RFC 6979) are all derived from fixed labels. See docs/testkit.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from testkit_case import Case, render
from testkit_damage import damage_cases
from testkit_keys import KEYS, key_json
from testkit_lengths import length_cases
from testkit_policy import policy_cases
from testkit_rules import rule_cases

KIT = Path(__file__).resolve().parent.parent / "testkit"


def all_cases() -> Iterator[Case]:
    yield from damage_cases()
    yield from length_cases()
    yield from rule_cases()
    yield from policy_cases()


README = """\
# busta's ESDK decrypt testkit

Each file in cases/ is one message and how decrypting it must end: a few `name: value` lines
(ASCII; the first is `busta testkit 1`), one empty line, then the message bytes to the end of the
file. `expect:` is `success` (with `plaintext-sha256:`) or the error that must be raised; `key:`
names the keys of keys.json the keyring holds; the other lines are decrypt settings.
docs/testkit.md in the busta repository describes the format, the families and a runner;
scripts/make_testkit.py writes these files. The keys are public test keys: never use them for data.
"""


def build() -> dict[str, bytes]:
    """Every file of the kit, by path relative to the kit's directory."""
    keys = {name: key_json(entry) for name, entry in sorted(KEYS.items())}
    files = {
        ".gitattributes": b"cases/* binary\n",
        "README.md": README.encode(),
        "keys.json": (json.dumps(keys, indent=2, sort_keys=True) + "\n").encode(),
    }
    for case in all_cases():
        path = f"cases/{case.name}"
        if path in files:
            raise SystemExit(f"two cases are named {case.name}")
        files[path] = render(case)
    return files


def differences(kit: Path, files: dict[str, bytes]) -> list[str]:
    """What differs between the directory ``kit`` and ``files``."""
    present = {p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()} if kit.exists() else set()
    problems = [f"missing: {path}" for path in sorted(files.keys() - present)]
    problems += [f"not generated: {path}" for path in sorted(present - files.keys())]
    problems += [
        f"differs: {path}" for path in sorted(files.keys() & present) if (kit / path).read_bytes() != files[path]
    ]
    return problems


def write(kit: Path, files: dict[str, bytes]) -> None:
    (kit / "cases").mkdir(parents=True, exist_ok=True)
    for stale in (kit / "cases").iterdir():
        if f"cases/{stale.name}" not in files:
            stale.unlink()
    for path, data in files.items():
        target = kit / path
        if not target.exists() or target.read_bytes() != data:
            target.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if the kit differs")
    parser.add_argument("--out", type=Path, default=KIT, help=f"the kit's directory (default {KIT})")
    args = parser.parse_args(argv)
    files = build()
    cases = sum(path.startswith("cases/") for path in files)
    if args.check:
        problems = differences(args.out, files)
        for problem in problems:
            print(problem)
        print(f"{cases} cases: " + (f"{len(problems)} differences" if problems else "the kit is up to date"))
        return 1 if problems else 0
    write(args.out, files)
    print(f"wrote {cases} cases to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
