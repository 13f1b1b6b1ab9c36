"""What both implementations share about the decision cache: its keys, its settings and
its statistics.

A key is the call itself, encoded injectively: tool, normalized input, cwd and home,
every string written with its length (``s<len>:<text>``, dict keys ``<len>:<key>``), so
that no choice of characters in one field can make two different calls encode alike
(separators alone could be forged from inside a string). The cache compares keys for
equality, not only their hashes, so no collision of a hash function can ever hand one
call the cached decision of another: the agent's model writes every byte of a call, and
could search for such collisions in any hash it knows.

An encoding longer than ``LONG_KEY`` bytes is replaced by its BLAKE2b-256 digest (a
collision-resistant hash; prefixed with a NUL byte, which no encoding starts with), so
that the cache holds at most about ``LONG_KEY`` bytes of key per entry.
"""

from __future__ import annotations

from hashlib import blake2b

__all__ = ["LONG_KEY", "DRAIN", "finish", "cache_settings", "cache_stats"]

LONG_KEY = 1024
# Dead entries (expired, or of an older policy generation) a put drops at most from the
# least recently used end: more than the one entry a put adds, so a backlog drains.
DRAIN = 2


def finish(data):
    """The key of an encoded call (bytes)."""
    if len(data) <= LONG_KEY:
        return data
    return b"\x00" + blake2b(data, digest_size=32).digest()


def cache_settings(capacity, ttl):
    """A cache's (capacity, ttl), checked: capacity in entries, >= 0 (0 disables the
    cache); ttl in seconds, > 0."""
    if capacity < 0:
        raise ValueError("cache capacity must be >= 0")
    if ttl <= 0:
        raise ValueError("cache ttl must be > 0 seconds")
    return int(capacity), float(ttl)


def cache_stats(cache):
    """What a cache reports (its `stats()`): size, capacity, hits and misses."""
    return {"size": len(cache), "capacity": cache.capacity, "hits": cache.hits,
            "misses": cache.misses}
