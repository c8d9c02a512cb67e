"""How key material could show up in text: the renderings the secret-hygiene tests search for."""

from __future__ import annotations

import base64

__all__ = ["byte_forms"]


def byte_forms(value: bytes) -> dict[str, str]:
    """Every text a careless rendering of ``value`` could contain (unpadded base64 also finds padded)."""
    text = value.decode("latin-1")
    return {
        "latin-1 text": text,
        "bytes repr": repr(value)[2:-1],
        "str repr": repr(text)[1:-1],
        "byte list": repr(list(value))[1:-1],
        "hex": value.hex(),
        "HEX": value.hex().upper(),
        "spaced hex": value.hex(" "),
        "base64": base64.b64encode(value).decode().rstrip("="),
        "urlsafe base64": base64.urlsafe_b64encode(value).decode().rstrip("="),
    }
