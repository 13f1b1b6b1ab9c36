"""The pattern tier's memory of its answers, and its lookup (PatternIndex): written once.

The pure twin (_shape_py.py) imports this source; the compiled one (_shape_c.pyx)
imports the same source compiled by Cython as _memo_c (setup.py), typed by the
augmenting _memo_c.pxd (a final extension type with C fields, a typed find), so that
bench/patterns.py's figures come from this text and no second copy is kept. What differs
between the twins is the shaping kernel and the decision-cache key of their own
implementation, which each hands over at import (:func:`bind`).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from ._shape_shared import MAX_INPUT, MEMO_SIZE, MEMO_TEXT

# The kernels of the implementation that imported this module: bash_shape (its shapes of
# the engine's parse) and cache_key (the engine's decision-cache key of a call).
_bash_shape: Any = None
_cache_key: Any = None


def bind(bash_shape, cache_key):
    """Hand this module the shaping kernel and the cache key of one implementation (each
    twin binds its own build of this module, once, at import)."""
    global _bash_shape, _cache_key
    _bash_shape = bash_shape
    _cache_key = cache_key


class PatternIndex:
    """The pattern tier's memory of its answers, and its lookup.

    The memory: a call's decision-cache key (``cache_key``: tool, normalized input, cwd
    and home, encoded injectively, so that no two calls share one) -> the pattern that
    answered it (or None), with the rule generation, the escalation's context (``why``,
    ``rule_id``), the epoch of the active patterns and the call's shape text it was
    found under. A call asked again under the same generation, context and epoch is
    answered from it without being shaped (:meth:`find`): its key and one dictionary
    lookup. The PatternBook gives the index its tables of active patterns
    (:meth:`tables`) and calls :meth:`changed` after every change of them (learned,
    retired, approved, reloaded from the file), so that a remembered answer of an older
    epoch is looked up again (from its remembered shape text) and a retired pattern
    never answers from memory. ``due``: the monotonic time from which the book must
    check its file; from then on :meth:`find` neither reads the memory nor looks up
    itself: the book's lookup (which refreshes) does.

    At most ``size`` answers are kept (0: none); a new call when it is full empties it
    first. An answer whose shape text is over ``MEMO_TEXT`` characters is not kept.
    Counters: ``hits``, ``misses`` and ``unshaped`` of every lookup (the book's own
    lookups count into them too); ``remembered``: lookups answered from memory."""

    def __init__(self, size=MEMO_SIZE):
        if size < 0:
            raise ValueError("the memo size must be >= 0")
        self._memo = {}
        self._active = {}
        self._literal = {}
        self._workspaces = None
        self._programs = None
        self._specs = None
        self._table = None
        self._table_generation = None
        self.size = size
        self.epoch = 0
        self.due = 0.0
        self.hits = 0
        self.misses = 0
        self.unshaped = 0
        self.remembered = 0

    def __len__(self):
        return len(self._memo)

    def tables(self, active, literal):
        """The book's index of active patterns ((context, tool, shape text) -> Pattern)
        and of the patterns with literals ((context, tool, generic text) -> patterns);
        the book changes them in place, and calls :meth:`changed` after."""
        self._active = active
        self._literal = literal

    def changed(self):
        """The active patterns changed: every answer remembered before is looked up again."""
        self.epoch += 1

    def shaping(self, workspaces, programs, specs):
        """Shape the common calls in the index itself, without the ``shape`` callable of
        :meth:`find`: a Bash call that carries the engine's parse (a list), with a
        ``command`` of at most MAX_INPUT characters, whose non-empty ``cwd`` the shapes
        module found to be a proper workspace already normalized (``workspaces``: its dict
        (cwd, home) -> workspace). ``programs``: a callable giving the ProgramTable of the
        rules in force, or None for ``specs`` (a ProgramTable, a callable giving a
        ProgramSpec, or None). ``programs`` is asked once per rule generation of the
        escalations (``esc.generation``, the policy the fast tiers judged the call by):
        the table it gives is that of the policy in force, never an older one, so a call
        of generation G is shaped with G's table or, when a reload came in between, a
        newer one, as when it is asked per call. Any other call is shaped
        by ``shape``, which must give the same text for these (lighthouse.patterns.shapes
        does: this is its own fast path, without the Python calls)."""
        self._workspaces = workspaces
        self._programs = programs
        self._specs = specs
        self._table = None
        self._table_generation = None

    def _shape(self, esc, shape, tool, tool_input, cwd, home, generation):
        if self._workspaces is not None and type(tool) is str and tool == "Bash":
            parsed = esc.parsed
            if type(parsed) is list and type(tool_input) is dict:
                home = home or ""
                if type(cwd) is str and type(home) is str and cwd:
                    ws = self._workspaces.get((cwd, home))
                    command = tool_input.get("command")
                    if type(ws) is str and ws == cwd and type(command) is str and 0 < len(command) <= MAX_INPUT:
                        if self._programs is None:
                            specs = self._specs
                        else:
                            if self._table is None or self._table_generation != generation:
                                self._table = self._programs()
                                self._table_generation = generation
                            specs = self._table
                        return _bash_shape(parsed, cwd, home, specs)
        return shape(esc)

    def clear(self):
        """Forget every answer."""
        self._memo.clear()

    def find(self, esc, shape, match):
        """The pattern answering the escalated call ``esc`` (an Escalation), or None.
        ``shape(esc)``: the call's shape text, or None. ``match(esc, context, text)``:
        the book's lookup of a shape text in a context (None: the escalation's), used
        when the file is due to be checked, for a shape that has patterns with literals
        and for an escalation whose context is not text."""
        generation, why, rule_id, tool = esc.generation, esc.why, esc.rule_id, esc.tool
        tool_input, cwd, home = esc.tool_input, esc.cwd, esc.home
        epoch = self.epoch              # read before the lookup: a change meanwhile makes it stale
        due = monotonic() >= self.due
        if type(why) is not str or type(rule_id) is not str:
            return match(esc, None, shape(esc))
        try:
            key = _cache_key(tool, tool_input, cwd, home)
        except Exception:
            return match(esc, None, shape(esc))
        found = None if due else self._memo.get(key)
        known = False
        text = None
        if found is not None and found[0] == generation and found[2] == why and found[3] == rule_id:
            if found[1] == epoch:
                pattern = found[5]
                if pattern is not None:
                    self.hits += 1
                elif found[4] is None:
                    self.unshaped += 1
                else:
                    self.misses += 1
                self.remembered += 1
                return pattern
            text = found[4]
            known = True
        if not known:
            text = self._shape(esc, shape, tool, tool_input, cwd, home, generation)
        context = "miss" if why == "miss" else "ask:" + rule_id
        if text is None:
            self.unshaped += 1
            pattern = None
        elif due or (self._literal and tool == "Bash" and self._literal.get((context, tool, text))):
            pattern = match(esc, context, text)
        else:
            pattern = self._active.get((context, tool, text))
            if pattern is None:
                self.misses += 1
            else:
                self.hits += 1
        if self.size and (text is None or len(text) <= MEMO_TEXT):
            if found is None and len(self._memo) >= self.size:
                self._memo.clear()
            self._memo[key] = (generation, epoch, why, rule_id, text, pattern)
        return pattern
