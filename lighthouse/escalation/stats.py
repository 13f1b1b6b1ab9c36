"""Counters of the escalation pipeline: plain ints, dicts and lighthouse.metrics
Histograms on the request path; Prometheus families only at scrape time
(:func:`families`, which imports prometheus_client when called).

Exported by :func:`families` (names as Prometheus sees them):

- ``lighthouse_escalations_total{tier,outcome}``: what each tier did with the calls it
  was asked (allow, ask, deny, handed_on, no_opinion, timeout, error, invalid,
  circuit_open, undecided: the tier could not decide, e.g. no expert for the call).
- ``lighthouse_escalation_answers_total{tier,verdict}``: the answers escalated calls got,
  by the tier that gave them (policy, expert, cache, fallback).
- ``lighthouse_escalation_fail_mode_total{cause}``: fail-mode answers by the first thing
  that failed (timeout, error, invalid, circuit_open, deadline, queue_full, undecided).
- ``lighthouse_escalation_queue_depth``, ``lighthouse_escalation_queue_peak``,
  ``lighthouse_escalations_in_flight``, ``lighthouse_escalation_queue_rejected_total``,
  ``lighthouse_escalations_coalesced_total``, ``lighthouse_escalation_rule_asks_kept_total``.
- ``lighthouse_circuit_state{backend}`` (0 closed, 1 open, 2 half-open),
  ``lighthouse_circuit_opened_total{backend}``, ``lighthouse_circuit_rejected_total{backend}``.
- ``lighthouse_escalation_overhead_seconds``: per escalation, the time from the call's
  arrival beyond the tiers' own (a policy worker's Rego evaluation; a tier that does not
  report its backend's time counts whole), i.e. what the slow-path machinery adds. Its
  buckets (``OVERHEAD_BUCKETS_NS``) are finer than the other durations' between 0.1 and
  5 ms, where the targets lie, so that its quantiles are read to within 50-250 us.
- ``lighthouse_escalation_span_seconds{span}``: where an escalation's time goes, span by
  span along its path (``SPANS``, in path order; the ``OVERHEAD_BUCKETS_NS`` buckets).
  The pipeline's: ``admit`` (the call's arrival to its evaluation running: the fast
  tiers, admission, the task's first turn), ``policy`` and ``pattern`` (those tiers'
  whole time), ``resolve`` (the deciding tier's return to the waiting caller running
  again). The expert tier's (lighthouse.experts.stats): ``route`` (the expert tier's
  start to the first expert asked: the expert request, the history, picking experts),
  per connected expert asked (a quorum of three observes three) ``encode`` (the
  escalation message), ``write`` (queued to handed to gRPC on the expert's stream),
  ``stream`` (handed to gRPC to the answer read off the stream, less the expert's own
  time when it reports it: both gRPC stacks, the wire, the expert's reading and
  writing), ``expert`` (the time the expert reports it spent itself, read to answer
  written on its side: not overhead, and cut to the round trip the server saw); then
  ``wake`` (an answer, or an in-process expert's end, to the vote running again) and
  ``vote`` (the last wake to the tier's return: combining, withdrawing the others).
- ``lighthouse_escalation_cache_hits_total{tier}``, ``lighthouse_escalation_cache_misses_total``,
  ``lighthouse_escalation_cache_hit_ratio{tier}`` (repeats answered from the cache over
  all answers that tier's decisions gave), ``lighthouse_escalation_cache_entries``.

With an expert tier, the expert families of lighthouse.experts.stats (escalations by
expert and outcome, answer times, experts connected, quorum outcomes, rejected answers),
and with LLM experts those of lighthouse.experts.llm (requests by result, rejected
answers by cause, tokens, request times).

The duration histograms per tier kind, ``decision_time["policy"]`` and
``decision_time["expert_escalation"]``, are lighthouse.metrics Histograms: the server
shares them with its own ``Stats.decision_time`` so that they appear in
``lighthouse_decision_duration_seconds{operation}`` beside ``validation``.
"""

from __future__ import annotations

from ..metrics import Histogram, histogram_family

__all__ = ["EscalationStats", "merge_snapshots", "families", "OUTCOMES", "FAIL_CAUSES", "OVERHEAD_BUCKETS_NS",
           "SPANS", "PIPELINE_SPANS", "merge_series"]

OVERHEAD_BUCKETS_NS = (
    10_000, 20_000, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000, 400_000, 450_000, 500_000,
    600_000, 700_000, 800_000, 900_000, 1_000_000, 1_250_000, 1_500_000, 1_750_000, 2_000_000, 2_500_000,
    3_000_000, 3_500_000, 4_000_000, 4_500_000, 5_000_000, 7_500_000, 10_000_000, 25_000_000, 50_000_000,
    100_000_000, 250_000_000, 1_000_000_000, 5_000_000_000, 30_000_000_000,
)

OUTCOMES = ("allow", "ask", "deny", "handed_on", "no_opinion", "timeout", "error", "invalid", "circuit_open",
            "undecided")
FAIL_CAUSES = ("timeout", "error", "invalid", "circuit_open", "deadline", "queue_full", "undecided")
ANSWER_TIERS = ("policy", "pattern", "expert", "cache", "fallback")
# The spans of lighthouse_escalation_span_seconds, in the order an escalation meets them
# (see the module docstring); the pipeline observes PIPELINE_SPANS, the expert tier the rest.
SPANS = ("admit", "policy", "pattern", "route", "encode", "write", "stream", "expert", "wake", "vote",
         "resolve")
PIPELINE_SPANS = ("admit", "policy", "pattern", "resolve")


def merge_series(a, b):
    """Two ``{label: Histogram snapshot}`` dicts added up."""
    out = dict(a)
    for k, h in b.items():
        mine = out.get(k)
        out[k] = h if mine is None else {"counts": [x + y for x, y in zip(mine["counts"], h["counts"])],
                                         "sum_ns": mine["sum_ns"] + h["sum_ns"]}
    return out


class EscalationStats:
    """The pipeline's counters. ``breakers`` is filled by the pipeline (backend ->
    CircuitBreaker) and ``cache`` with its SlowDecisionCache; both are read at snapshot
    time."""

    def __init__(self):
        self.outcomes = {}                  # (tier name, outcome) -> count
        self.answers = {}                   # (answer tier, verdict) -> count
        self.fail_mode = dict.fromkeys(FAIL_CAUSES, 0)
        self.decision_time = {"policy": Histogram(), "pattern": Histogram(), "expert_escalation": Histogram()}
        self.overhead = Histogram(OVERHEAD_BUCKETS_NS)     # per evaluation: time beyond the tiers' own
        self.spans = {s: Histogram(OVERHEAD_BUCKETS_NS) for s in PIPELINE_SPANS}
        self.decided = {"policy": 0, "pattern": 0, "expert": 0}      # answers that were a tier's fresh decision
        self.cache_hits = {"policy": 0, "pattern": 0, "expert": 0}   # answers from the cache, by the tier that decided
        self.queue_depth = 0                # evaluations admitted and not finished
        self.queue_peak = 0
        self.queue_rejected = 0
        self.in_flight = 0                  # calls awaiting an escalation (coalesced ones too)
        self.coalesced = 0
        self.rule_asks_kept = 0             # rule asks not escalated (escalate = false)
        self.breakers = {}
        self.cache = None
        self.experts = None                 # lighthouse.experts.stats.ExpertStats, with an expert tier
        self.llm = ()                       # the server's LLM experts (lighthouse.experts.llm.LLMExpert)
        self.patterns = None                # the PatternBook (lighthouse.patterns), with a pattern tier

    def outcome(self, tier, outcome):
        key = (tier, outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def answered(self, tier, verdict):
        key = (tier, verdict)
        self.answers[key] = self.answers.get(key, 0) + 1

    def hit_ratio(self, kind):
        hits = self.cache_hits.get(kind, 0)
        total = hits + self.decided.get(kind, 0)
        return hits / total if total else 0.0

    def snapshot(self):
        """A picklable copy of every counter (for the workers' supervisor to add up)."""
        cache = self.cache.stats() if self.cache is not None else {}
        return {
            "outcomes": {"%s|%s" % k: v for k, v in self.outcomes.items()},
            "answers": {"%s|%s" % k: v for k, v in self.answers.items()},
            "fail_mode": dict(self.fail_mode),
            "decision_time": {op: h.snapshot() for op, h in self.decision_time.items()},
            "overhead": self.overhead.snapshot(),
            "spans": {s: h.snapshot() for s, h in self.spans.items()},
            "decided": dict(self.decided),
            "cache_hits": dict(self.cache_hits),
            "cache_misses": cache.get("misses", 0),
            "cache_entries": cache.get("entries", 0),
            "queue_depth": self.queue_depth,
            "queue_peak": self.queue_peak,
            "queue_rejected": self.queue_rejected,
            "in_flight": self.in_flight,
            "coalesced": self.coalesced,
            "rule_asks_kept": self.rule_asks_kept,
            "breakers": {b: br.snapshot() for b, br in self.breakers.items()},
            "experts": self.experts.snapshot() if self.experts is not None else None,
            "llm": [e.snapshot() for e in self.llm],
            "patterns": self.patterns.snapshot() if self.patterns is not None else None,
        }


def _add(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def merge_snapshots(snaps):
    """Add up the snapshots of several worker processes. A backend's circuit state is
    the worst across workers (open > half-open > closed); queue peak is the highest."""
    snaps = [s for s in snaps if s]
    if not snaps:
        return None
    out = dict(snaps[0])
    worst = {0: 0, 2: 1, 1: 2}              # closed < half-open < open
    for s in snaps[1:]:
        for k in ("outcomes", "answers", "fail_mode", "decided", "cache_hits"):
            out[k] = _add(out[k], s[k])
        out["decision_time"] = {
            op: {"counts": [x + y for x, y in zip(h["counts"], s["decision_time"][op]["counts"])],
                 "sum_ns": h["sum_ns"] + s["decision_time"][op]["sum_ns"]}
            for op, h in out["decision_time"].items()}
        out["overhead"] = {"counts": [x + y for x, y in zip(out["overhead"]["counts"], s["overhead"]["counts"])],
                           "sum_ns": out["overhead"]["sum_ns"] + s["overhead"]["sum_ns"]}
        out["spans"] = merge_series(out.get("spans", {}), s.get("spans", {}))
        for k in ("cache_misses", "cache_entries", "queue_depth", "queue_rejected", "in_flight",
                  "coalesced", "rule_asks_kept"):
            out[k] += s[k]
        out["queue_peak"] = max(out["queue_peak"], s["queue_peak"])
        breakers = dict(out["breakers"])
        for b, st in s["breakers"].items():
            if b not in breakers:
                breakers[b] = dict(st)
                continue
            mine = breakers[b]
            state = mine["state"] if worst[mine["state"]] >= worst[st["state"]] else st["state"]
            breakers[b] = {"state": state, "opened": mine["opened"] + st["opened"],
                           "closed": mine["closed"] + st["closed"], "rejected": mine["rejected"] + st["rejected"]}
        out["breakers"] = breakers
    if any(s.get("experts") for s in snaps):
        from ..experts.stats import merge as merge_experts
        out["experts"] = merge_experts([s.get("experts") for s in snaps])
    if any(s.get("patterns") for s in snaps):
        from ..patterns.book import merge_snapshots as merge_patterns
        out["patterns"] = merge_patterns([s.get("patterns") for s in snaps])
    if any(s.get("llm") for s in snaps):
        from ..experts.llm import merge_snapshots as merge_llm
        out["llm"] = merge_llm([s.get("llm") for s in snaps])
    return out


def families(snap, durations=False):
    """Prometheus metric families for an escalation snapshot (one process's or merged).
    ``durations`` adds ``lighthouse_escalation_duration_seconds{operation}``, for a
    server that does not share the histograms with its own decision_time."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    if not snap:
        return
    fam = CounterMetricFamily("lighthouse_escalations", "What each slow tier did with the calls it was asked",
                              labels=["tier", "outcome"])
    for key, n in sorted(snap["outcomes"].items()):
        fam.add_metric(key.split("|", 1), n)
    yield fam
    fam = CounterMetricFamily("lighthouse_escalation_answers", "Answers to escalated calls by tier and verdict",
                              labels=["tier", "verdict"])
    for key, n in sorted(snap["answers"].items()):
        fam.add_metric(key.split("|", 1), n)
    yield fam
    fam = CounterMetricFamily("lighthouse_escalation_fail_mode", "Fail-mode answers by cause", labels=["cause"])
    for cause, n in snap["fail_mode"].items():
        fam.add_metric([cause], n)
    yield fam
    yield GaugeMetricFamily("lighthouse_escalation_queue_depth", "Escalations admitted and not finished",
                            value=snap["queue_depth"])
    yield GaugeMetricFamily("lighthouse_escalation_queue_peak", "Highest escalation queue depth since start",
                            value=snap["queue_peak"])
    yield CounterMetricFamily("lighthouse_escalation_queue_rejected", "Escalations refused by a full queue",
                              value=snap["queue_rejected"])
    yield GaugeMetricFamily("lighthouse_escalations_in_flight", "Calls awaiting an escalation",
                            value=snap["in_flight"])
    yield CounterMetricFamily("lighthouse_escalations_coalesced",
                              "Calls that joined an identical escalation in flight", value=snap["coalesced"])
    yield CounterMetricFamily("lighthouse_escalation_rule_asks_kept",
                              "Rule asks answered as asks without escalation (escalate = false)",
                              value=snap["rule_asks_kept"])
    state = GaugeMetricFamily("lighthouse_circuit_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open",
                              labels=["backend"])
    opened = CounterMetricFamily("lighthouse_circuit_opened", "Times the circuit opened", labels=["backend"])
    rejected = CounterMetricFamily("lighthouse_circuit_rejected", "Tier attempts skipped by an open circuit",
                                   labels=["backend"])
    for backend, b in sorted(snap["breakers"].items()):
        state.add_metric([backend], b["state"])
        opened.add_metric([backend], b["opened"])
        rejected.add_metric([backend], b["rejected"])
    yield state
    yield opened
    yield rejected
    hits = CounterMetricFamily("lighthouse_escalation_cache_hits", "Repeated calls answered from the slow-tier cache",
                               labels=["tier"])
    ratio = GaugeMetricFamily("lighthouse_escalation_cache_hit_ratio",
                              "Answers of a tier's decisions served from the cache / all of them", labels=["tier"])
    for kind, n in snap["cache_hits"].items():
        hits.add_metric([kind], n)
        total = n + snap["decided"].get(kind, 0)
        ratio.add_metric([kind], n / total if total else 0.0)
    yield hits
    yield ratio
    yield CounterMetricFamily("lighthouse_escalation_cache_misses", "Slow-tier cache lookups that missed",
                              value=snap["cache_misses"])
    yield GaugeMetricFamily("lighthouse_escalation_cache_entries", "Entries in the slow-tier cache",
                            value=snap["cache_entries"])
    yield histogram_family("lighthouse_escalation_overhead_seconds",
                           "Per escalation: time from the call's arrival beyond the slow tiers' own (queueing, "
                           "scheduling, input building, IPC)", snap["overhead"], bounds=OVERHEAD_BUCKETS_NS)
    spans = merge_series(snap.get("spans", {}), (snap.get("experts") or {}).get("spans", {}))
    yield histogram_family("lighthouse_escalation_span_seconds",
                           "Where escalations' time goes, span by span along their path (expert spans: one per "
                           "expert asked)", {s: spans[s] for s in SPANS if s in spans}, "span",
                           OVERHEAD_BUCKETS_NS)
    if snap.get("experts"):
        from ..experts.stats import families as expert_families
        yield from expert_families(snap["experts"])
    if snap.get("patterns"):
        from ..patterns.book import families as pattern_families
        yield from pattern_families(snap["patterns"])
    if snap.get("llm"):
        from ..experts.llm import families as llm_families
        yield from llm_families(snap["llm"])
    if durations:
        yield histogram_family("lighthouse_escalation_duration_seconds", "Time inside a slow tier, by operation type",
                               snap["decision_time"], "operation")
