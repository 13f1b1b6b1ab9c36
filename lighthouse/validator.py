"""The in-process fast validator: rule packs + decision cache, no server needed."""

from __future__ import annotations

import threading

from . import _fast
from .bounds import (FITS, INVALID, LONG, MAX_INPUT, SMALL, TOO_LARGE, WINDOW, WINDOWED, judge_window,
                     path_problem, scan, too_large_reason, window_input)
from .rules.loader import engine_specs, load_policy

__all__ = ["Validator"]


class Validator:
    """Decide tool calls with the compiled (or pure) rule engine and decision cache.

    ``rules``: extra rule files or directories loaded after the shipped packs (their rules
    add to or override pack rules by id). ``packs=False`` loads only the rules of ``rules``
    (with the packs' description of how programs read their argv, which holds no rule).
    ``cache_size`` (0 disables the cache) and ``cache_ttl`` (seconds) size the decision
    cache. ``fallback`` answers calls no rule settles ("ask" by default); ``raw=True``
    returns those as verdict "miss" instead, for callers that escalate them.
    ``home``: the agent's home directory, when known (``~`` resolves to it).
    ``window``: characters of each string of an input the rules read; ``max_input``: the
    largest input judged at all (see :mod:`lighthouse.bounds`: an input past it is denied,
    and what lies past the window never makes a call an allow).
    """

    def __init__(self, rules=(), *, packs=True, cache_size=65536, cache_ttl=300.0,
                 fallback="ask", raw=False, home=None, window=WINDOW, max_input=MAX_INPUT):
        if window <= 0 or max_input <= 0:
            raise ValueError("window and max_input must be positive")
        if home is not None and path_problem("home", home):
            raise ValueError(path_problem("home", home))
        if isinstance(rules, (str, bytes)) or hasattr(rules, "__fspath__"):
            rules = [rules]
        self._rules = list(rules)
        self._packs = packs
        self._lock = threading.Lock()
        self.home = home
        self.window = min(window, max_input)
        self.max_input = max_input
        self.policy = load_policy(self._rules, packs=packs)
        self._kept_asks = self.policy.kept_asks()
        engine = _fast.engine.Engine(engine_specs(self.policy), self.policy.programs)
        self._checker = _fast.engine.Checker(engine, 1, cache_size, cache_ttl, fallback, raw)
        #: The engine's checker, the same object for the Validator's life (a reload swaps
        #: its engine): ``checker.generation`` is :attr:`generation` without the property
        #: call, for the server's front cache, which reads it on every call it answers.
        self.checker = self._checker
        #: ``check`` for an input known to be no longer than ``small`` characters as JSON
        #: text (the server knows its input_json's length): the bounds have nothing to do
        #: then, so it is the checker alone when there is no home to fill in.
        self.small = min(SMALL, self.window)
        self.check_small = self.check if home else self._checker.check

    def check(self, tool, tool_input, cwd=None, agent_id=None, home=None):
        """Decide one tool call: returns a Decision (verdict, rule_id, reason, tier,
        cached, generation). Bad input gives a deny or a miss, never an exception; an
        input past ``max_input`` is denied, one with strings past ``window`` is judged on
        the window and never allowed; a relative ``cwd`` or ``home`` is denied (rule
        input.invalid), as the server refuses it."""
        home = home or self.home
        for name, value in (("cwd", cwd), ("home", home)):
            if value and type(value) is str and value[0] != "/":
                return _fast.engine.Decision("deny", INVALID, path_problem(name, value), "rules", False,
                                             self._checker.generation)
        if type(tool_input) is dict:
            state = scan(tool_input, self.window, self.max_input)
            if state == LONG:
                d = self._checker.check(tool, window_input(tool_input, self.window), cwd, agent_id, home)
                verdict, rule_id, reason = judge_window(d.verdict, d.rule_id, d.reason, self.window)
                return _fast.engine.Decision(verdict, rule_id, reason, "rules" if rule_id == WINDOWED else d.tier,
                                             d.cached, d.generation)
            if state != FITS:
                return _fast.engine.Decision("deny", TOO_LARGE, too_large_reason(state, self.max_input), "rules",
                                             False, self._checker.generation)
        return self._checker.check(tool, tool_input, cwd, agent_id, home)

    def parsed(self, command, cwd=None, home=None):
        """The simple commands the rule engine parsed ``command`` into when this
        Validator last evaluated a Bash call, if that call was ``command`` in ``cwd`` with
        ``home`` (as given to :meth:`check`, before the Validator's own ``home`` fills
        it in), else None. Ask right after :meth:`check` (it keeps the last parse only):
        the pattern tier (lighthouse.patterns) shapes an escalated call from it instead
        of parsing it again. A cache hit parses nothing, and gives None."""
        return self._checker.engine.parsed(command, cwd, home)

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
            self._kept_asks = policy.kept_asks()
            self._checker.set_engine(engine, self._checker.generation + 1)
            return self._checker.generation

    def cache_stats(self):
        return self._checker.cache.stats()

    def escalates(self, rule_id):
        """Whether a rule's ask may go to the slower tiers (policy, experts): every ask
        does unless its rule says ``escalate = false`` (only a person decides it). For the
        escalation pipeline's ``escalate_ask``."""
        return rule_id not in self._kept_asks

    def explain(self, tool, tool_input, cwd=None, home=None):
        """How the engine sees a call: the simple commands of a Bash call and the rules
        that match each, without the cache."""
        from .explain import explain
        return explain(self, tool, tool_input, cwd, home or self.home)
