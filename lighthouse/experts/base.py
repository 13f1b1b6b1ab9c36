"""The contract between the expert tier and the experts behind it.

An expert judges one escalated call. Two kinds sit behind the same interface:

- expert agents, programs connected to the server's ``ExpertHub`` gRPC service
  (lighthouse.experts.hub; written with the SDK in lighthouse.experts.agent);
- LLM experts, which the server runs itself against an OpenAI-compatible or Anthropic
  API (lighthouse.experts.llm).

The expert tier (a stage of lighthouse.escalation's pipeline, kind "expert") turns an
:class:`~lighthouse.escalation.Escalation` into an :class:`ExpertRequest`, routes it to
the experts that :meth:`Expert.serves` it, least-loaded first, collects the quorum the
policy tier asked for, and combines their :class:`ExpertAnswer` s. An expert signals a
failure by raising :class:`ExpertError` (or anything else); it never "fails open": the
tier treats every failure as no answer, and the pipeline answers the fail mode when no
expert answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

from ..errors import LighthouseError

__all__ = ["ExpertRequest", "ExpertAnswer", "Expert", "ExpertError", "check_expert_answer",
           "VERDICTS", "SCOPES", "MAX_EXPERT_REASON", "HISTORY", "check_exact"]

VERDICTS = ("allow", "ask", "deny")
SCOPES = ("call", "shape")      # what an answer holds for: this call, or calls of its shape
MAX_EXPERT_REASON = 1024        # characters of an expert's reason kept
HISTORY = 16                    # recent decisions of the session sent with an escalation


class ExpertError(LighthouseError):
    """An expert could not answer (unreachable, timed out, answered something unusable).
    ``cause`` is a short word for metrics: "timeout", "error", "invalid", "rate_limited",
    "disconnected", "circuit_open"."""

    def __init__(self, message, cause="error"):
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class ExpertRequest:
    """What an expert is asked about one call.

    ``analysis`` is the policy tier's input document for the call
    (lighthouse.policy.build_input: the analysed simple commands, paths, the rules that
    fired, why it escalated). ``policy`` is the policy tier's answer that handed the call
    on (``{"verdict", "reason", "category", "quorum"}``), or None when no policy decided.
    ``category`` is the routing category ("" when none was given). ``history`` holds up to
    :data:`HISTORY` recent decisions of the same session, oldest first, each
    ``{"tool", "summary", "verdict", "tier"}``: what the agent did, never what it read.
    ``deadline`` is a :func:`time.monotonic` instant, ``deadline_ms`` the milliseconds left
    when the request was made (what travels over the wire)."""

    escalation_id: str
    tool: str
    tool_input: Any
    cwd: str = ""
    home: str = ""
    agent_id: str = ""
    session_id: str = ""
    why: str = "miss"
    rule_id: str = ""
    rule_reason: str = ""
    analysis: dict = field(default_factory=dict)
    policy: Optional[dict] = None
    category: str = ""
    quorum: int = 1
    history: tuple = ()
    deadline: float = 0.0
    deadline_ms: int = 0


@dataclass(frozen=True, slots=True)
class ExpertAnswer:
    """One expert's answer. ``verdict`` is "allow", "ask" or "deny"; ``confidence`` in
    [0, 1]; ``reusable``: the answer may be cached for the same call (same cache key and
    policy generation); ``expert`` names who answered (an expert id, or ``llm:<name>``
    with the model). ``scope`` says whether the answer generalizes: "call" (this call
    only) or "shape" (every call of the same shape, lighthouse.patterns.shapes: the
    server may learn a pattern from it). ``exact``: words of the call that must match
    exactly for a "shape" answer to hold (``("staging",)`` for ``kubectl --context staging
    ...``): the learned pattern keeps them literal (see :func:`check_exact`)."""

    verdict: str
    reason: str
    confidence: float = 1.0
    reusable: bool = False
    expert: str = ""
    scope: str = "call"
    exact: tuple = ()


@runtime_checkable
class Expert(Protocol):
    """An expert the tier can ask. ``name`` is unique among connected experts;
    ``capacity`` is how many requests it takes at once and ``load`` how many it holds
    now. ``judge`` answers within ``request.deadline`` or raises; it may be cancelled."""

    name: str
    capacity: int
    load: int

    def serves(self, tool: str, category: str) -> bool:
        ...

    async def judge(self, request: ExpertRequest) -> ExpertAnswer:
        ...


def check_exact(words):
    """``words`` (an answer's ``exact``) as a tuple, or ValueError naming what is wrong:
    at most MAX_LITERALS words, each 1 to MAX_LITERAL characters without blanks or
    control characters (each is an argument of the call, as the agent wrote it)."""
    from .._fast._shape_shared import MAX_LITERAL, MAX_LITERALS
    if isinstance(words, (str, bytes)) or not isinstance(words, (tuple, list)):
        raise ValueError("exact must be a list of words, not %s" % type(words).__name__)
    if len(words) > MAX_LITERALS:
        raise ValueError("exact names %d words; at most %d" % (len(words), MAX_LITERALS))
    for w in words:
        if type(w) is not str or not 1 <= len(w) <= MAX_LITERAL or any(c.isspace() or not c.isprintable()
                                                                       for c in w):
            raise ValueError("exact word %.40r is not 1-%d printable characters without blanks" % (w, MAX_LITERAL))
    return tuple(words)


def check_expert_answer(answer):
    """The answer made safe to use, or ExpertError(cause "invalid") naming what is wrong:
    a verdict that is not one of the three words, a reason that is not text, a
    confidence that is not a finite number in [0, 1], a scope other than "call" or
    "shape", ``exact`` words that :func:`check_exact` refuses. A long reason is cut."""
    if type(answer) is not ExpertAnswer:
        raise ExpertError("answered a %s, not an ExpertAnswer" % type(answer).__name__, "invalid")
    if type(answer.verdict) is not str or answer.verdict not in VERDICTS:
        raise ExpertError("answered an invalid verdict %.40r" % (answer.verdict,), "invalid")
    if type(answer.reason) is not str or type(answer.expert) is not str:
        raise ExpertError("answered a reason or expert name that is not text", "invalid")
    c = answer.confidence
    if type(c) not in (int, float) or not math.isfinite(c) or not 0.0 <= c <= 1.0:
        raise ExpertError("answered an invalid confidence %.40r" % (c,), "invalid")
    if type(answer.reusable) is not bool:
        raise ExpertError("answered a non-boolean reusable %.40r" % (answer.reusable,), "invalid")
    if type(answer.scope) is not str or answer.scope not in SCOPES:
        raise ExpertError("answered an invalid scope %.40r (call or shape)" % (answer.scope,), "invalid")
    try:
        exact = check_exact(answer.exact)
    except ValueError as e:
        raise ExpertError("answered %s" % e, "invalid") from None
    if len(answer.reason) > MAX_EXPERT_REASON or len(answer.expert) > 256 or type(answer.exact) is not tuple:
        answer = ExpertAnswer(answer.verdict, answer.reason[:MAX_EXPERT_REASON], float(c), answer.reusable,
                              answer.expert[:256], answer.scope, exact)
    return answer
