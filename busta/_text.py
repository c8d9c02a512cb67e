"""Untrusted text made safe for a terminal or a log line: :func:`printable`.

Names and values that come from a message, a listing or a file tree (context pairs,
provider ids, KMS key ARNs, S3 keys, file names) may hold newlines that forge a
line of output, or ANSI/OSC escape sequences that a terminal obeys. Wherever such
text is printed or logged, it goes through :func:`printable` first.
"""

from __future__ import annotations

__all__ = ["printable"]

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped as in a Python string literal.

    Escaped: control characters (C0, DEL, C1, so every ANSI/OSC escape and every line
    break), Unicode format characters (bidirectional overrides, zero-width joiners),
    line and paragraph separators, spaces other than U+0020, surrogates and unassigned
    code points: what :meth:`str.isprintable` calls non-printable. Printable text,
    non-ASCII letters included, is returned unchanged, and so is a backslash: the result
    is itself printable, so escaping twice (the library's error text, then the CLI's
    line) changes nothing, at the price that a literal ``\\n`` and an escaped newline
    look alike. Text that must round-trip exactly goes out as JSON instead.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
