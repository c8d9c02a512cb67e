from collections.abc import Iterator

from testkit_case import Case


def rule_cases() -> Iterator[Case]:
    yield from ()
