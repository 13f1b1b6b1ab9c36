"""The interface between the escalation pipeline and the slow tiers.

A tier (the Rego policy tier, an expert hub) is asked an :class:`Escalation` and answers
a :class:`TierAnswer`, or None when it has no opinion (the next tier is asked). The
pipeline trusts nothing a tier returns: :func:`check_answer` turns anything but a
well-formed TierAnswer into an error, so a tier that answers garbage, raises or hangs
hands the call to the next tier or to the fail mode, never to an allow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, runtime_checkable

__all__ = ["Escalation", "TierAnswer", "Tier", "Stage", "check_answer", "TierUndecided",
           "VERDICTS", "STRICTNESS", "stricter", "KINDS", "MAX_REASON"]

VERDICTS = ("allow", "ask", "deny")
STRICTNESS = {"allow": 0, "ask": 1, "deny": 2}
# The kind of a tier names its Decision tier and its duration histogram, in pipeline order
# (a "pattern" stage, lighthouse.patterns, sits between the policy and the experts).
KINDS = {"policy": "policy", "pattern": "pattern", "expert": "expert_escalation"}
MAX_REASON = 1024          # characters of a tier's reason kept in the Decision


def stricter(a, b):
    """The stricter of two verdicts (deny > ask > allow)."""
    return a if STRICTNESS[a] >= STRICTNESS[b] else b


@dataclass(frozen=True, slots=True)
class Escalation:
    """What a tier is asked: the call, why the fast tiers did not settle it, and until
    when an answer is useful.

    ``why`` is "miss" (no rule matched) or "ask" (rule ``rule_id`` asks, for
    ``rule_reason``). ``generation`` is the rule policy generation the fast tiers judged
    the call under. ``deadline`` is a :func:`time.monotonic` instant; a tier that talks
    to a backend should give it no more than :meth:`remaining`. ``prior`` holds the
    answers of earlier tiers that handed the call on (``escalate=True``). ``key`` is the
    key its decision is cached and coalesced under: the call's decision-cache key
    (lighthouse._fast.engine.cache_key) with the agent and session ids. ``parsed``: for a
    Bash call, the simple commands the rule engine parsed it into (``Validator.parsed``),
    or None; the pattern tier shapes the call from them instead of parsing it again."""

    tool: str
    tool_input: Any
    cwd: str = ""
    home: str = ""
    agent_id: str = ""
    session_id: str = ""
    why: str = "miss"
    rule_id: str = ""
    rule_reason: str = ""
    generation: int = 0
    deadline: float = 0.0
    escalation_id: str = ""
    prior: tuple = ()
    key: bytes = field(default=b"", repr=False)
    parsed: Any = field(default=None, repr=False, compare=False)

    def remaining(self):
        """Seconds left before the deadline (0.0 once it has passed)."""
        left = self.deadline - time.monotonic()
        return left if left > 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class TierAnswer:
    """A tier's answer. ``verdict`` is "allow", "ask" or "deny"; ``decided_by`` names what
    decided (e.g. "policy:data.lighthouse.decision", "expert:security-llm"), and becomes
    the Decision's rule_id. ``escalate`` hands the call on to the next tier, this answer
    standing if no later tier has an opinion. ``category`` is a free label (an expert
    routing category), ``quorum`` how many experts agreed (0 when no vote was taken).
    ``elapsed_ns`` is the backend's own time for this answer when the tier knows it (the
    Rego evaluation inside a policy worker); 0 when it does not (the stage's wall time
    then counts as the tier's own in the overhead figure).
    ``reusable`` False keeps the decision out of the slow-tier cache (an expert answer
    not marked reusable): a repeat of the call is escalated again. ``analysis`` is the
    input document the tier built for the call (the policy tier's, a dict), which a
    later tier asked with this answer in ``Escalation.prior`` uses instead of building
    the same document again; None when the tier built none."""

    verdict: str
    reason: str
    decided_by: str = ""
    escalate: bool = False
    category: str = ""
    quorum: int = 0
    elapsed_ns: int = 0
    reusable: bool = True
    analysis: Any = field(default=None, repr=False, compare=False)


class TierUndecided(Exception):
    """Raised by a tier that cannot decide a call for a reason that is not its backend's
    failure (no expert serves the call, too few experts for its quorum): the call goes
    on to the next tier or the fail mode, as after an error, but the tier's circuit
    breaker is not charged and nothing is cached."""


@runtime_checkable
class Tier(Protocol):
    """A slow tier. ``decide`` returns a TierAnswer, or None for no opinion. It must not
    block the event loop (CPU-bound evaluation belongs in an executor unless it takes
    microseconds) and may be cancelled at its deadline."""

    name: str

    async def decide(self, esc: Escalation) -> Optional[TierAnswer]:
        ...


@dataclass(frozen=True)
class Stage:
    """A tier in the pipeline: its ``kind`` ("policy" or "expert": the Decision's tier and
    the duration histogram, ``policy`` or ``expert_escalation``), its own ``deadline`` in
    seconds (None: only the overall escalation deadline) and the ``backend`` its circuit
    breaker is keyed by (the OPA URL; by default the tier's name). Tiers sharing a
    backend share a breaker. ``active``, when given, is asked before each escalation: a
    stage that is not active (an expert tier with no expert registered) is passed over
    as if it were not configured, so an earlier tier's answer that hands the call on is
    final."""

    tier: Tier
    kind: str = "policy"            # or "pattern", "expert" (KINDS)
    deadline: Optional[float] = None
    backend: str = ""
    active: Optional[Callable[[], bool]] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError("stage kind must be policy, pattern or expert, not %r" % (self.kind,))
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError("stage deadline must be > 0 seconds, not %r" % (self.deadline,))
        if not isinstance(getattr(self.tier, "name", None), str) or not self.tier.name:
            raise ValueError("a tier needs a non-empty name")
        if not callable(getattr(self.tier, "decide", None)):
            raise ValueError("tier %r has no decide()" % self.tier.name)
        if not self.backend:
            object.__setattr__(self, "backend", self.tier.name)

    @property
    def name(self):
        return self.tier.name


def check_answer(answer):
    """(TierAnswer, None) for a well-formed answer, (None, None) for no opinion, or
    (None, what is wrong) for anything else. A reason longer than MAX_REASON is cut."""
    if answer is None:
        return None, None
    if type(answer) is not TierAnswer:
        return None, "answered a %s, not a TierAnswer" % type(answer).__name__
    verdict = answer.verdict
    if type(verdict) is not str or verdict not in STRICTNESS:
        return None, "answered an invalid verdict %.40r" % (verdict,)
    if type(answer.escalate) is not bool or type(answer.reusable) is not bool:
        return None, "answered a non-boolean escalate or reusable %.40r" % ((answer.escalate, answer.reusable),)
    if type(answer.reason) is not str or type(answer.decided_by) is not str or type(answer.category) is not str:
        return None, "answered a reason, decided_by or category that is not text"
    if type(answer.quorum) is not int or answer.quorum < 0:
        return None, "answered an invalid quorum %.40r" % (answer.quorum,)
    if type(answer.elapsed_ns) is not int or answer.elapsed_ns < 0:
        return None, "answered an invalid elapsed_ns %.40r" % (answer.elapsed_ns,)
    if answer.analysis is not None and type(answer.analysis) is not dict:
        return None, "answered an analysis that is not a document (%s)" % type(answer.analysis).__name__
    if len(answer.reason) > MAX_REASON or len(answer.decided_by) > 256:
        answer = TierAnswer(verdict, answer.reason[:MAX_REASON], answer.decided_by[:256], answer.escalate,
                            answer.category[:256], answer.quorum, answer.elapsed_ns, answer.reusable,
                            answer.analysis)
    return answer, None
