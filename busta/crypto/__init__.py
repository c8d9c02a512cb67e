"""Thin crypto over `cryptography`: key derivation, sealing and opening, signatures. Never parses."""
