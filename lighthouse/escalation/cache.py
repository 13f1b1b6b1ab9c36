"""The cache of slow-tier decisions.

An LRU map from a call's decision-cache key (lighthouse._fast.engine.cache_key) to what a
slow tier decided about it, stamped with the stamp it was decided under (the rule policy
generation and the pipeline's own epoch, which :meth:`SlowDecisionCache.invalidate`
bumps when the slow tiers' policy changes) and expiring one TTL after it was stored. An
entry answers only under its own stamp, so a reload turns every older entry into a miss
without walking the map. Only decisions a tier made are stored: a fail-mode answer is
never cached, so a passing failure is not remembered.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["SlowDecisionCache", "CachedDecision"]


@dataclass(frozen=True, slots=True)
class CachedDecision:
    """A slow tier's decision as the cache keeps it: ``tier`` is the kind of tier that
    decided ("policy" or "expert"), ``rule_id`` the TierAnswer's decided_by."""

    verdict: str
    reason: str
    rule_id: str
    tier: str
    escalation_id: str


class SlowDecisionCache:
    """Bounded LRU + TTL cache of :class:`CachedDecision` values. ``capacity`` 0 turns it
    off. ``clock`` is for tests."""

    def __init__(self, capacity=65536, ttl=3600.0, clock=time.monotonic):
        if capacity < 0:
            raise ValueError("cache capacity must be >= 0")
        if not ttl > 0:
            raise ValueError("cache ttl must be > 0 seconds")
        self.capacity = int(capacity)
        self.ttl = float(ttl)
        self.clock = clock
        self.epoch = 0
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self._map = OrderedDict()

    def get(self, key, generation):
        """The decision stored for ``key`` under policy ``generation`` (and the current
        epoch), or None."""
        entry = self._map.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] != generation or entry[1] != self.epoch or entry[2] < self.clock():
            del self._map[key]
            self.misses += 1
            return None
        self._map.move_to_end(key)
        self.hits += 1
        return entry[3]

    def put(self, key, generation, decision, epoch=None):
        """Store ``decision`` for ``key`` under ``generation``. ``epoch`` is the epoch the
        decision was started under: one made before an :meth:`invalidate` is dropped."""
        if self.capacity == 0 or (epoch is not None and epoch != self.epoch):
            return
        m = self._map
        m[key] = (generation, self.epoch, self.clock() + self.ttl, decision)
        m.move_to_end(key)
        if len(m) > self.capacity:
            m.popitem(last=False)

    def invalidate(self):
        """Forget every entry (the slow tiers' policy changed, or the rules were
        reloaded); decisions still being made under the old epoch will not be stored."""
        self.epoch += 1
        self.invalidations += 1
        self._map.clear()

    def __len__(self):
        return len(self._map)

    def stats(self):
        return {"entries": len(self._map), "capacity": self.capacity, "hits": self.hits,
                "misses": self.misses, "invalidations": self.invalidations}
