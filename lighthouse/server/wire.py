"""The answers' encoding: every lighthouse.v1.Decision the server sends is made here.

Building a Decision message and serializing it costs more than a cached decision itself.
The servicers therefore answer with bytes: the fields that are the same for every call
with the same outcome (verdict, reason, rule_id, tier, policy_generation, escalation_id)
are encoded once per distinct outcome (:class:`Answers`), and each answer only prepends
its request_id and appends its decision_ns (:func:`finish_decision`: on the hot path the
compiled lighthouse._fast.wire.finish_decision, which also takes the time). The bytes are
exactly what ``Decision.SerializeToString()`` produces (fields in number order, defaults
omitted); tests/test_server_protos.py checks that against the generated module.
"""

from __future__ import annotations

from typing import NamedTuple

from .._fast import wire as _fast_wire
from .._fast._wire_py import varint
from ..v1 import validation_pb2 as pb
from ..vocab import MISS, TIER_CODES, TIER_FALLBACK, VERDICT_CODES, VERDICT_NAMES, outcome_index

__all__ = ["Outcome", "Answers", "finish_decision", "varint", "decision_body", "decision_bytes",
           "settled_bytes", "batch_bytes", "rejected_bytes", "ANSWERS_MAX"]

#: (serialized Decision, decision_ns) from a request_id, an encoded body and the time the
#: call arrived (perf_counter_ns): the last step of each answer.
finish_decision = _fast_wire.finish_decision

ANSWERS_MAX = 4096          # distinct outcomes whose encoding is kept (per policy generation, in practice)


class Outcome(NamedTuple):
    """What a call is answered: the Decision's fields (``verdict`` and ``tier`` as enum
    values), and ``raw``, the Validator's own verdict ("miss" when no rule settled it)."""

    verdict: int
    tier: int
    reason: str
    rule_id: str
    generation: int
    raw: str


class Answers(dict):
    """The answers to the Validator's decisions under one fail-mode verdict, kept per
    distinct decision: ``answers[verdict, tier, reason, rule_id, generation, fallback]``
    (the Decision's own fields and the call's fallback enum value, so it can never answer
    a call the Validator has not decided) is made on first use and unpacked as
    ``index, body, outcome``: the counter index of the outcome among the decisions
    (lighthouse.vocab.outcome_index), its Decision without request_id and decision_ns,
    and the :class:`Outcome`. (A plain tuple: the hot path unpacks it on every call, and
    unpacking a named tuple costs twice as much.)

    A miss is answered with the fail-mode verdict, the stricter of ``fallback`` (the
    server's, an enum value) and the call's."""

    def __init__(self, fallback):
        super().__init__()
        self.fallback = fallback

    def __missing__(self, key):
        verdict, tier, reason, rule_id, generation, fb = key
        if verdict == MISS:
            v = fb if fb > self.fallback else self.fallback
            outcome = Outcome(v, TIER_FALLBACK, "%s; fail-mode verdict %s"
                              % (reason or "no rule settles this call", VERDICT_NAMES[v]), rule_id, generation, verdict)
        else:
            outcome = Outcome(VERDICT_CODES[verdict], TIER_CODES[tier], reason, rule_id, generation, verdict)
        answer = (outcome_index(outcome.verdict, outcome.tier),
                  decision_body(outcome.verdict, outcome.reason, rule_id, outcome.tier, generation), outcome)
        if len(self) >= ANSWERS_MAX:
            self.clear()
        self[key] = answer
        return answer

# Tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
_T_REQUEST_ID = b"\x0a"
_T_VERDICT = 0x10
_T_REASON = b"\x1a"
_T_RULE_ID = b"\x22"
_T_TIER = 0x28
_T_GENERATION = b"\x30"
_T_ESCALATION_ID = b"\x3a"
_T_DECISION_NS = b"\x40"
_T_DECISIONS = b"\x0a"           # DecisionBatch.decisions


def _string(tag, s):
    if not s:
        return b""
    b = s.encode("utf-8")
    return tag + varint(len(b)) + b


def decision_body(verdict, reason, rule_id, tier, generation, escalation_id=""):
    """Fields 2-7 of a Decision (everything but request_id and decision_ns)."""
    out = b""
    if verdict:
        out += bytes((_T_VERDICT,)) + varint(verdict)
    out += _string(_T_REASON, reason) + _string(_T_RULE_ID, rule_id)
    if tier:
        out += bytes((_T_TIER,)) + varint(tier)
    if generation:
        out += _T_GENERATION + varint(generation)
    return out + _string(_T_ESCALATION_ID, escalation_id)


def decision_bytes(request_id, body, ns):
    """A serialized Decision: request_id, the pre-encoded body, decision_ns. (The hot
    path uses lighthouse._fast.wire.finish_decision, which also takes the time.)"""
    out = body
    if request_id:
        b = request_id.encode("utf-8")
        n = len(b)
        out = (bytes((0x0A, n)) if n < 0x80 else _T_REQUEST_ID + varint(n)) + b + body
    return out + _T_DECISION_NS + varint(ns) if ns else out


def settled_bytes(request_id, verdict, reason, rule_id, tier, generation, escalation_id, ns):
    """A serialized Decision settled by a slower tier (not kept: escalations are slow anyway)."""
    return decision_bytes(request_id, decision_body(verdict, reason, rule_id, tier, generation, escalation_id), ns)


def rejected_bytes(e, request_id=""):
    """A serialized Decision answering a call in a stream or batch with the error of a
    CallRejected `e` (a refusal is rare: the generated code encodes it)."""
    return pb.Decision(request_id=request_id, error=pb.CallError(
        code=e.code.value[0], message=e.message, field=e.field)).SerializeToString()


def batch_bytes(decisions):
    """A serialized DecisionBatch from serialized Decisions."""
    return b"".join([_T_DECISIONS + varint(len(d)) + d for d in decisions])
