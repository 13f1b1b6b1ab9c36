"""The in-process fast validator: rule packs + decision cache, no server needed."""

from __future__ import annotations

import threading

from . import _fast
from .rules.loader import engine_specs, load_policy

__all__ = ["Validator"]


class Validator:
    """Decide tool calls with the compiled (or pure) rule engine and decision cache.

    ``rules``: extra rule files or directories loaded after the shipped packs (their rules
    add to or override pack rules by id). ``packs=False`` loads only ``rules``.
    ``cache_size`` (0 disables the cache) and ``cache_ttl`` (seconds) size the decision
    cache. ``fallback`` answers calls no rule settles ("ask" by default); ``raw=True``
    returns those as verdict "miss" instead, for callers that escalate them.
    ``home``: the agent's home directory, when known (``~`` resolves to it).
    """

    def __init__(self, rules=(), *, packs=True, cache_size=65536, cache_ttl=300.0,
                 fallback="ask", raw=False, home=None):
        if isinstance(rules, (str, bytes)) or hasattr(rules, "__fspath__"):
            rules = [rules]
        self._rules = list(rules)
        self._packs = packs
        self._lock = threading.Lock()
        self.home = home
        self.policy = load_policy(self._rules, packs=packs)
        engine = _fast.engine.Engine(engine_specs(self.policy), self.policy.programs)
        self._checker = _fast.engine.Checker(engine, 1, cache_size, cache_ttl, fallback, raw)
        if not home:
            # Nothing to fill in: calls go straight to the compiled checker, which takes
            # the same arguments, without this method's extra call.
            self.check = self._checker.check

    def check(self, tool, tool_input, cwd=None, agent_id=None, home=None):
        """Decide one tool call: returns a Decision (verdict, rule_id, reason, tier,
        cached, generation). Bad input gives a deny or a miss, never an exception."""
        return self._checker.check(tool, tool_input, cwd, agent_id, home or self.home)

    @property
    def generation(self):
        """The policy generation; every successful reload increments it."""
        return self._checker.generation

    @property
    def compiled(self):
        return _fast.COMPILED

    @property
    def rule_count(self):
        return len(self.policy.rules)

    def reload(self, rules=None, packs=None):
        """Load the rule files again (or new ones) and swap them in atomically. A file
        with an error raises RuleError and the running policy stays in force."""
        with self._lock:
            new_rules = self._rules if rules is None else list(rules)
            new_packs = self._packs if packs is None else packs
            policy = load_policy(new_rules, packs=new_packs)
            engine = _fast.engine.Engine(engine_specs(policy), policy.programs)
            self._rules, self._packs, self.policy = new_rules, new_packs, policy
            self._checker.set_engine(engine, self._checker.generation + 1)
            return self._checker.generation

    def cache_stats(self):
        return self._checker.cache.stats()

    def explain(self, tool, tool_input, cwd=None, home=None):
        """How the engine sees a call: the simple commands of a Bash call and the rules
        that match each, without the cache."""
        from .explain import explain
        return explain(self, tool, tool_input, cwd, home or self.home)
