"""The policy tier as a stage of the escalation pipeline (lighthouse.escalation).

:class:`PolicyTier` turns an :class:`~lighthouse.escalation.Escalation` into the input
document (:func:`build_input`, with the facts of the rules in force), asks the Rego
policy (regorus in worker processes through :class:`PolicyRunner`, or an OPA server
through :class:`OpaClient`) within the time the escalation has left, and answers a
:class:`~lighthouse.escalation.TierAnswer`. Every failure is an exception, which the
pipeline counts against the tier's breaker and answers with the next tier or the fail
mode: never an allow.

:func:`policy_pipeline` builds the pipeline of a Lighthouse without experts around a
PolicyTier: ``lighthouse serve`` and ``lighthouse check`` both use it, so that they send
the same calls to the policy and answer its failures with the same fail mode.
"""

from __future__ import annotations

from time import perf_counter_ns

from ..escalation import EscalationPipeline, Stage, TierAnswer
from .engine import DEFAULT_ENTRYPOINT
from .input import RuleFactsSource, build_input

__all__ = ["PolicyTier", "policy_pipeline"]


def policy_pipeline(tier, *, backend, fallback="ask", **kw):
    """The escalation pipeline of a Lighthouse whose only slow tier is ``tier`` (a
    PolicyTier), its circuit breaker keyed by ``backend`` (the OPA URL, or "regorus").

    Every miss goes to the policy. A rule's ask does not: it is escalated only to experts
    (DESIGN.md), and without an expert tier it stays an ask for a person. ``fallback`` is
    the server's fail-mode verdict: the pipeline's fail mode is deny for "deny" and ask
    otherwise (a failure never answers allow, even with ``fallback="allow"``). ``kw`` goes
    to :class:`~lighthouse.escalation.EscalationPipeline` (deadlines, queue, cache, breaker
    settings)."""
    return EscalationPipeline([Stage(tier, kind="policy", backend=backend)],
                              fail_mode="deny" if fallback == "deny" else "ask",
                              escalate_ask=lambda rule_id, generation: False, **kw)


class PolicyTier:
    """A pipeline tier over ``runner`` (PolicyRunner) or ``opa`` (OpaClient); ``rules``
    is a callable returning the rule policy in force (lighthouse.rules.loader.Policy),
    whose facts go into every input document. ``facts``, instead of ``rules``: a
    :class:`~lighthouse.policy.input.RuleFactsSource` that other tiers share (the server
    builds the facts before it serves and on a reload's thread, never on a call)."""

    name = "policy"

    def __init__(self, *, runner=None, opa=None, rules=None, facts=None, entrypoint=DEFAULT_ENTRYPOINT):
        if (runner is None) == (opa is None):
            raise ValueError("a policy tier needs a runner or an OPA client, not both")
        self.runner = runner
        self.opa = opa
        self._facts = facts if facts is not None else RuleFactsSource(rules) if rules is not None else None
        self.decided_by = "policy:" + entrypoint

    def _rule_facts(self):
        return self._facts() if self._facts is not None else None

    async def decide(self, esc):
        # The tier's own time (TierAnswer.elapsed_ns): building the input document and
        # the Rego evaluation in its worker; the rest (IPC, queueing) is overhead.
        t0 = perf_counter_ns()
        doc = build_input(esc.tool, esc.tool_input, cwd=esc.cwd or "", home=esc.home or "",
                          agent_id=esc.agent_id or "", session_id=esc.session_id or "", escalation=esc.why,
                          rule_id=esc.rule_id or "", reason=esc.rule_reason or "", facts=self._rule_facts())
        build_ns = perf_counter_ns() - t0
        timeout = max(esc.remaining(), 0.001)
        if self.runner is not None:
            result, eval_ns = await self.runner.evaluate_timed(doc, timeout=timeout)
        else:
            result, eval_ns = await self.opa.aevaluate(doc, timeout=timeout), 0
        # The document goes with the answer: the expert tier, asked next when the policy
        # hands the call on, sends it to the experts instead of building it again.
        return TierAnswer(result.verdict, result.reason, self.decided_by, escalate=result.escalate,
                          category=result.category, quorum=result.quorum,
                          elapsed_ns=build_ns + eval_ns if eval_ns else 0, analysis=doc)
