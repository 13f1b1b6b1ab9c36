"""Counters of the expert tier and the ExpertHub: plain ints, dicts and lighthouse.metrics
Histograms on the request path, Prometheus families at scrape time only.

They ride along with the escalation pipeline's counters (``EscalationStats.experts``), so
that they are added up across workers and appear on /metrics with the rest:

- ``lighthouse_expert_escalations_total{expert,outcome}``: what each expert did with the
  escalations it was given (allow, ask, deny, timeout, error, invalid, disconnected,
  declined, withdrawn, circuit_open).
- ``lighthouse_expert_answer_seconds{expert}``: how long each expert took to answer.
- ``lighthouse_experts_connected``: experts connected over ExpertHub now;
  ``lighthouse_experts_in_process``: in-process experts (LLM experts);
  ``lighthouse_expert_connections_total{outcome}`` (accepted, replaced, refused_auth,
  refused_full, refused_hello, dropped_heartbeat, closed).
- ``lighthouse_expert_rejected_answers_total{cause}``: answers not used: unknown
  escalation id, late (after its deadline or withdrawal), duplicate, invalid, garbage
  (a message that does not parse), oversized, low_confidence and overridden (counted as
  ask: below the confidence threshold, or an allow for a call the rules or the policy
  denied).
- ``lighthouse_expert_quorum_total{quorum,outcome}``: votes by quorum size and how they
  ended (reached, deny_early, unreachable).
- ``lighthouse_expert_rerouted_total``: escalations given to another expert after one
  failed, disconnected or declined.

The expert tier's spans (``spans``, :data:`EXPERT_SPANS`) are exported with the
pipeline's in ``lighthouse_escalation_span_seconds{span}`` (lighthouse.escalation.stats).
"""

from __future__ import annotations

from ..escalation.stats import OVERHEAD_BUCKETS_NS, merge_series
from ..metrics import Histogram, histogram_family

__all__ = ["ExpertStats", "merge", "families", "EXPERT_OUTCOMES", "REJECT_CAUSES", "ANSWER_BUCKETS_NS",
           "EXPERT_SPANS"]

EXPERT_OUTCOMES = ("allow", "ask", "deny", "timeout", "error", "invalid", "disconnected", "declined",
                   "withdrawn", "circuit_open")
REJECT_CAUSES = ("unknown", "late", "duplicate", "invalid", "garbage", "oversized", "low_confidence",
                 "overridden")
CONNECTION_OUTCOMES = ("accepted", "replaced", "refused_auth", "refused_full", "refused_hello",
                       "dropped_heartbeat", "closed")
QUORUM_OUTCOMES = ("reached", "deny_early", "unreachable")
ANSWER_BUCKETS_NS = tuple(int(s * 1e9) for s in (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20,
                                                   30, 60))
# Spans of an escalation in the expert tier (lighthouse.escalation.stats.SPANS).
EXPERT_SPANS = ("route", "encode", "write", "stream", "expert", "wake", "vote")
MAX_NAMES = 512         # distinct expert labels kept; later names count as "other"


class ExpertStats:
    """The expert tier's counters (one per server process)."""

    def __init__(self):
        self.escalations = {}           # (expert, outcome) -> count
        self.answer_time = {}           # expert -> Histogram (ns)
        self.connected = 0              # agents on ExpertHub streams
        self.in_process = 0
        self.connections = dict.fromkeys(CONNECTION_OUTCOMES, 0)
        self.rejected = dict.fromkeys(REJECT_CAUSES, 0)
        self.quorum = {}                # (quorum, outcome) -> count
        self.rerouted = 0
        self.spans = {s: Histogram(OVERHEAD_BUCKETS_NS) for s in EXPERT_SPANS}
        self._names = set()

    def _label(self, expert):
        names = self._names
        if expert in names:
            return expert
        if len(names) >= MAX_NAMES:
            return "other"
        names.add(expert)
        return expert

    def outcome(self, expert, outcome, ns=None):
        """Count what ``expert`` did with one escalation; ``ns`` its answer time."""
        label = self._label(expert)
        key = (label, outcome)
        self.escalations[key] = self.escalations.get(key, 0) + 1
        if ns is not None:
            h = self.answer_time.get(label)
            if h is None:
                h = self.answer_time[label] = Histogram(ANSWER_BUCKETS_NS)
            h.observe(ns)

    def vote(self, quorum, outcome):
        key = (quorum, outcome)
        self.quorum[key] = self.quorum.get(key, 0) + 1

    def snapshot(self):
        return {
            "escalations": {"%s|%s" % k: v for k, v in self.escalations.items()},
            "answer_time": {e: h.snapshot() for e, h in self.answer_time.items()},
            "connected": self.connected,
            "in_process": self.in_process,
            "connections": dict(self.connections),
            "rejected": dict(self.rejected),
            "quorum": {"%d|%s" % k: v for k, v in self.quorum.items()},
            "rerouted": self.rerouted,
            "spans": {s: h.snapshot() for s, h in self.spans.items()},
        }


def _add(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def merge(snaps):
    """Add up the snapshots of several workers (None when there are none)."""
    snaps = [s for s in snaps if s]
    if not snaps:
        return None
    out = dict(snaps[0])
    for s in snaps[1:]:
        for k in ("escalations", "connections", "rejected", "quorum"):
            out[k] = _add(out[k], s[k])
        out["answer_time"] = merge_series(out["answer_time"], s["answer_time"])
        out["spans"] = merge_series(out.get("spans", {}), s.get("spans", {}))
        for k in ("connected", "in_process", "rerouted"):
            out[k] += s[k]
    return out


def families(snap):
    """Prometheus metric families of an ExpertStats snapshot (one process's or merged)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    if not snap:
        return
    fam = CounterMetricFamily("lighthouse_expert_escalations", "What each expert did with the escalations it got",
                              labels=["expert", "outcome"])
    for key, n in sorted(snap["escalations"].items()):
        fam.add_metric(key.rsplit("|", 1), n)
    yield fam
    yield histogram_family("lighthouse_expert_answer_seconds", "Time an expert took to answer",
                           dict(sorted(snap["answer_time"].items())), "expert", ANSWER_BUCKETS_NS)
    yield GaugeMetricFamily("lighthouse_experts_connected", "Experts connected over ExpertHub",
                            value=snap["connected"])
    yield GaugeMetricFamily("lighthouse_experts_in_process", "In-process experts (LLM experts)",
                            value=snap["in_process"])
    fam = CounterMetricFamily("lighthouse_expert_connections", "ExpertHub streams by how they started or ended",
                              labels=["outcome"])
    for outcome, n in snap["connections"].items():
        fam.add_metric([outcome], n)
    yield fam
    fam = CounterMetricFamily("lighthouse_expert_rejected_answers", "Expert answers not used, by cause",
                              labels=["cause"])
    for cause, n in snap["rejected"].items():
        fam.add_metric([cause], n)
    yield fam
    fam = CounterMetricFamily("lighthouse_expert_quorum", "Expert votes by quorum size and outcome",
                              labels=["quorum", "outcome"])
    for key, n in sorted(snap["quorum"].items()):
        fam.add_metric(key.split("|", 1), n)
    yield fam
    yield CounterMetricFamily("lighthouse_expert_rerouted", "Escalations given to another expert",
                              value=snap["rerouted"])
