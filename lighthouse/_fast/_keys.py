"""What both implementations share about decision-cache keys.

A key is the 128-bit xxh3 of a text that encodes the call injectively: every string is
written with its length (``s<len>:<text>``, dict keys ``<len>:<key>``), so no choice of
characters in one field can make two different calls encode alike (the separators alone
could be forged from inside a string). The hash is seeded with a secret drawn when the
process starts, so nobody can search offline for two calls whose keys collide: the
agent's model writes every byte of a call, and a collision would hand one call the
cached decision of another.
"""

from __future__ import annotations

import os

import xxhash

__all__ = ["KEY_SEED", "digest"]

KEY_SEED = int.from_bytes(os.urandom(8), "little")
_xxh3_128 = xxhash.xxh3_128_intdigest


def digest(data):
    """The key of an encoded call (bytes)."""
    return _xxh3_128(data, KEY_SEED)
