"""Deciding calls as the server does without experts, in this thread: `lighthouse check`.

:class:`InlineDecider` asks the rules first (a :class:`~lighthouse.Validator` built with
``raw=True``), then sends the calls they leave open through the same escalation pipeline
the server builds (:func:`~lighthouse.policy.tier.policy_pipeline`: every miss goes to
the Rego policy, a rule's ask stays an ask for a person), then the fail mode. The
policy is compiled once, by the caller (:class:`~lighthouse.policy.Policy`), and
evaluated synchronously by :class:`InlineRunner` on the calling thread.

What differs from the server is what a batch job needs to be repeatable: no slow-tier
cache (each call reports the tier that decided it, never ``cache``), a circuit breaker
that never opens (a failing call does not change how the next is judged), and no
deadline that can cut an evaluation short (a synchronous evaluation runs to its end;
the server's ``--policy-deadline`` does not apply). An evaluation that fails still gets
the fail mode, with the reason naming the failure; an incomplete analysis is never
allowed (:meth:`Policy.evaluate <lighthouse.policy.Policy.evaluate>` enforces it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter_ns

from .tier import PolicyTier, policy_pipeline

__all__ = ["InlineDecider", "InlineRunner", "InlineDecision"]

# Each call is judged on its own: a failure must not open the breaker for the next ones.
_NEVER_OPENS = 1 << 62


class InlineRunner:
    """The evaluation interface of :class:`~lighthouse.policy.PolicyRunner` over a
    :class:`~lighthouse.policy.Policy`, evaluated on the calling thread: for a caller
    that has nothing else to do meanwhile (``timeout`` is not enforced)."""

    def __init__(self, policy):
        self.policy = policy

    async def evaluate(self, input_doc, timeout=None):
        """The validated PolicyResult for ``input_doc``; raises PolicyEvalError."""
        return self.policy.evaluate(input_doc)

    async def evaluate_timed(self, input_doc, timeout=None):
        """(:meth:`evaluate`'s result, the nanoseconds it took)."""
        t0 = perf_counter_ns()
        result = self.policy.evaluate(input_doc)
        return result, perf_counter_ns() - t0


@dataclass(frozen=True, slots=True)
class InlineDecision:
    """One decision. ``tier`` is "rules" (or "cache", the Validator's own cache),
    "policy" or "fallback" (the fail mode: the policy failed, or was not asked).
    ``category`` is set when the policy routed the call to experts (its ``escalate``),
    whose answer would decide it; ``verdict`` is then what stands without experts."""

    verdict: str
    rule_id: str
    reason: str
    tier: str
    generation: int = 0
    category: str = ""


class InlineDecider:
    """Decide tool calls with the rules, then the Rego policy, then the fail mode.

    ``validator``: a :class:`~lighthouse.Validator` built with ``raw=True`` (its misses
    come back as verdict "miss"). ``policy``: a compiled
    :class:`~lighthouse.policy.Policy`. ``fallback``: the fail-mode verdict, as
    ``lighthouse serve --fallback`` (a failure of the policy answers ask even with
    "allow"). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, validator, policy, *, fallback="ask"):
        if fallback not in ("allow", "ask", "deny"):
            raise ValueError("fallback must be allow, ask or deny, not %r" % (fallback,))
        self.validator = validator
        self.policy = policy
        self.fallback = fallback
        tier = PolicyTier(runner=InlineRunner(policy), rules=lambda: validator.policy,
                          entrypoint=policy.entrypoint)
        self.pipeline = policy_pipeline(tier, backend="regorus", fallback=fallback, cache_size=0,
                                        failure_threshold=_NEVER_OPENS)
        self._runner = asyncio.Runner()

    def check(self, tool, tool_input, cwd=None, home=None, agent_id=None, session_id=None):
        """Decide one call: an :class:`InlineDecision`. Bad input is judged by the rules
        (denied, never an exception), as by :meth:`Validator.check`."""
        d = self.validator.check(tool, tool_input, cwd=cwd, agent_id=agent_id, home=home)
        if d.verdict not in ("miss", "ask"):
            return InlineDecision(d.verdict, d.rule_id, d.reason, d.tier, d.generation)
        out = self._runner.run(self.pipeline.decide(
            tool, tool_input, cwd or "", home or self.validator.home or "", agent_id=agent_id or "",
            session_id=session_id or "", why=d.verdict, rule_id=d.rule_id, rule_reason=d.reason,
            generation=d.generation, floor=self.fallback))
        if out is None:             # a rule's ask that is not escalated: it stands
            return InlineDecision(d.verdict, d.rule_id, d.reason, d.tier, d.generation)
        return InlineDecision(out.verdict, out.rule_id, out.reason, out.tier, d.generation, out.category)

    def close(self):
        """Close the event loop the pipeline runs on."""
        self._runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
