"""Decision cache, pure-Python reference implementation.

An LRU map from a key (the call, encoded: lighthouse._fast._keys) to a value,
stamped with the policy generation it was computed under and the time it expires. A
reload bumps the generation, which turns every older entry into a miss without having
to walk the map.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from ._keys import DRAIN, cache_settings, cache_stats

__all__ = ["DecisionCache"]


class DecisionCache:
    """LRU + TTL cache. `capacity` 0 disables it."""

    def __init__(self, capacity=65536, ttl=300.0):
        self.capacity, self.ttl = cache_settings(capacity, ttl)
        self.hits = 0
        self.misses = 0
        self._map = OrderedDict()

    def get(self, key, generation):
        """Return the value stored for key under `generation`, or None."""
        entry = self._map.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] != generation or entry[1] < time.monotonic():
            del self._map[key]
            self.misses += 1
            return None
        self._map.move_to_end(key)
        self.hits += 1
        return entry[2]

    def put(self, key, generation, value):
        if self.capacity == 0:
            return
        m = self._map
        now = time.monotonic()
        m[key] = (generation, now + self.ttl, value)
        m.move_to_end(key)
        if len(m) > self.capacity:
            m.popitem(last=False)
            return
        # Dead entries (expired, or of an older generation) leave from the least recently
        # used end, up to DRAIN per put: the cache holds what the last ttl seconds used.
        for _ in range(DRAIN):
            oldest = next(iter(m))
            entry = m[oldest]
            if oldest == key or (entry[1] >= now and not (entry[0] != generation)):
                break
            del m[oldest]

    def clear(self):
        self._map.clear()

    def __len__(self):
        return len(self._map)

    stats = cache_stats
