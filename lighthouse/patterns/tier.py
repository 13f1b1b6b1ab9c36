"""The pattern tier: a stage of the escalation pipeline (kind "pattern") between the
policy tier and the experts.

It answers a call from an active learned pattern (lighthouse.patterns.book) of the call's
shape, in the call's context (a miss, or the ask of one rule), so that the call does not
go to the experts. Where it sits decides what it may answer:

- after the rules: a rule's deny is final on the fast path and never escalates, so no
  pattern sees it;
- after the policy tier: a policy answer that does not hand the call on (allow, or deny)
  ends the escalation before this tier; the tier only sees calls the policy routes to
  experts (``escalate``) or, without a policy tier, the misses and escalating asks;
- it never answers a call whose earlier tiers said deny (a policy deny handed on), a
  call without a shape, or with a verdict other than the pattern's (allow or ask).

Its answers are not reusable (not put in the slow-tier cache), so that retiring a
pattern takes effect at once. :meth:`PatternTier.learner` is the hook the expert tier
calls with each expert's answer.
"""

from __future__ import annotations

from ..escalation import TierAnswer
from .book import LEARNED_VERDICTS, context_of
from .shapes import call_shape

__all__ = ["PatternTier"]


class PatternTier:
    """Learned patterns as a pipeline tier. ``book``: the PatternBook. ``specs``: a
    callable returning a program's ProgramSpec from the rules in force (for the options
    that take a value), or None."""

    name = "patterns"
    kind = "pattern"

    def __init__(self, book, specs=None):
        self.book = book
        self.specs = specs

    def shape(self, esc):
        return call_shape(esc.tool, esc.tool_input, esc.cwd, esc.home, self.specs)

    async def decide(self, esc):
        if any(a.verdict == "deny" for a in esc.prior):
            return None
        p = self.book.match(context_of(esc.why, esc.rule_id), self.shape(esc))
        if p is None or p.verdict not in LEARNED_VERDICTS:
            return None
        teachers = p.taught_by.replace(",", ", ") or "a reviewer"
        reason = "pattern #%d `%s`: %s, learned from %d answer%s of %s (first: %s)" % (
            p.id, p.text(), p.verdict, p.agreeing, "" if p.agreeing == 1 else "s", teachers, p.first_reason)
        return TierAnswer(p.verdict, reason, "pattern:%d" % p.id, reusable=False)

    def learner(self, esc, votes):
        """Record the experts' answers about ``esc``: ``votes`` is a list of (expert name,
        verdict counted, scope, is a person, reason)."""
        shape = self.shape(esc)
        if shape is None:
            return
        context = context_of(esc.why, esc.rule_id)
        call = {"tool": esc.tool, "input": esc.tool_input, "cwd": esc.cwd, "home": esc.home}
        for name, verdict, scope, person, reason in votes:
            self.book.learn(context, shape, call, name, verdict, scope, reason, person=person)
