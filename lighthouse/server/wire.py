"""Hand-written protobuf encoding of lighthouse.v1.Decision for the hot path.

Building a Decision message and serializing it costs more than a cached decision itself.
The servicers therefore answer with bytes: the fields that are the same for every call
with the same outcome (verdict, reason, rule_id, tier, policy_generation, escalation_id)
are encoded once per distinct outcome (lighthouse.server.core), and each answer only
prepends its request_id and appends its decision_ns (on the hot path with the compiled
lighthouse._fast.wire.finish_decision, which also takes the time). The bytes are exactly
what ``Decision.SerializeToString()`` produces (fields in number order, defaults
omitted); tests/test_server_protos.py checks that against the generated module.
"""

from __future__ import annotations

from .._fast._wire_py import varint
from ..v1 import validation_pb2 as pb

__all__ = ["varint", "decision_body", "decision_bytes", "batch_bytes", "rejected_bytes"]

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


def rejected_bytes(e, request_id=""):
    """A serialized Decision answering a call in a stream or batch with the error of a
    CallRejected `e` (a refusal is rare: the generated code encodes it)."""
    return pb.Decision(request_id=request_id, error=pb.CallError(
        code=e.code.value[0], message=e.message, field=e.field)).SerializeToString()


def batch_bytes(decisions):
    """A serialized DecisionBatch from serialized Decisions."""
    return b"".join([_T_DECISIONS + varint(len(d)) + d for d in decisions])
