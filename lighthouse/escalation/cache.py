"""The cache of slow-tier decisions.

An LRU map from a call's decision-cache key (lighthouse._fast.engine.cache_key) to what a
slow tier decided about it, stamped with the stamp it was decided under (the rule policy
generation and the pipeline's own epoch, which :meth:`SlowDecisionCache.invalidate`
bumps when the slow tiers' policy changes) and expiring one TTL after it was stored. An
entry answers only under its own stamp, so a reload turns every older entry into a miss
without walking the map. Only decisions a tier made are stored: a fail-mode answer is
never cached, so a passing failure is not remembered.

:meth:`SlowDecisionCache.forget` drops only the decisions of given deciders (a learned
pattern that was retired: ``pattern:ID``, the decisions whose ``rule_id`` starts with one
of :data:`FORGETTABLE`, which the cache indexes by it), and keeps the others. It bumps
the epoch too, so that a decision of that decider whose evaluation began before is not
stored when it ends; entries of older epochs stay valid until :meth:`invalidate`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["SlowDecisionCache", "CachedDecision", "FORGETTABLE", "MAX_FORGOTTEN"]

#: The deciders (``rule_id`` prefixes) whose entries :meth:`SlowDecisionCache.forget` can drop.
FORGETTABLE = ("pattern:",)
#: Deciders remembered as forgotten (so that their answers begun before are not stored);
#: past it, :meth:`SlowDecisionCache.forget` forgets every entry instead (invalidate).
MAX_FORGOTTEN = 4096


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
        self.forgotten = 0          # entries dropped by forget()
        self._map = OrderedDict()
        self._valid_from = 0        # the epoch of the last invalidate(): older entries are misses
        self._by_decider = {}       # rule_id of a FORGETTABLE decider -> {key of an entry it decided}
        self._forgot = {}           # decider -> the epoch forget() dropped it at

    def get(self, key, generation):
        """The decision stored for ``key`` under policy ``generation`` (and since the last
        :meth:`invalidate`), or None."""
        entry = self._map.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] != generation or entry[1] < self._valid_from or entry[2] < self.clock():
            self._drop(key)
            self.misses += 1
            return None
        self._map.move_to_end(key)
        self.hits += 1
        return entry[3]

    def put(self, key, generation, decision, epoch=None):
        """Store ``decision`` for ``key`` under ``generation``. ``epoch`` is the epoch the
        decision was started under: one made before an :meth:`invalidate`, or by a
        decider forgotten since (:meth:`forget`), is dropped."""
        if self.capacity == 0:
            return
        decider = decision.rule_id
        indexed = decider.startswith(FORGETTABLE)
        if epoch is not None and (epoch < self._valid_from or (indexed and self._forgot.get(decider, -1) > epoch)):
            return
        m = self._map
        if key in m:
            self._drop(key)
        m[key] = (generation, self.epoch, self.clock() + self.ttl, decision)
        if indexed:
            keys = self._by_decider.get(decider)
            if keys is None:
                keys = self._by_decider[decider] = set()
            keys.add(key)
        if len(m) > self.capacity:
            self._drop(next(iter(m)))

    def _drop(self, key):
        entry = self._map.pop(key)
        decider = entry[3].rule_id
        keys = self._by_decider.get(decider)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_decider[decider]

    def invalidate(self):
        """Forget every entry (the slow tiers' policy changed, or the rules were
        reloaded); decisions still being made under the old epoch will not be stored."""
        self.epoch += 1
        self._valid_from = self.epoch
        self.invalidations += 1
        self._map.clear()
        self._by_decider.clear()
        self._forgot.clear()

    def forget(self, deciders):
        """Forget the entries decided by ``deciders`` (``rule_id`` values starting with one
        of :data:`FORGETTABLE`: ``pattern:7`` for a retired pattern) and keep every
        other; their decisions still being made will not be stored. Cost: the entries
        dropped. Past :data:`MAX_FORGOTTEN` deciders remembered, every entry is forgotten
        (:meth:`invalidate`). Returns the number of entries dropped."""
        deciders = list(deciders)
        if not deciders:
            return 0
        for d in deciders:
            if not isinstance(d, str) or not d.startswith(FORGETTABLE):
                raise ValueError("the cache can forget the decisions of %s only, not of %r"
                                 % (" ".join(p + "*" for p in FORGETTABLE), d))
        if len(self._forgot) + len(deciders) > MAX_FORGOTTEN:
            n = len(self._map)
            self.invalidate()
            self.forgotten += n
            return n
        self.epoch += 1
        n = 0
        for d in deciders:
            self._forgot[d] = self.epoch
            for key in self._by_decider.pop(d, ()):
                del self._map[key]
                n += 1
        self.forgotten += n
        return n

    def __len__(self):
        return len(self._map)

    def stats(self):
        return {"entries": len(self._map), "capacity": self.capacity, "hits": self.hits,
                "misses": self.misses, "invalidations": self.invalidations, "forgotten": self.forgotten}
