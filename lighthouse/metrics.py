"""Server metrics: plain counters on the hot path, Prometheus families at scrape time.

Updating a prometheus_client metric takes a lock and a label lookup per call, which shows
in a throughput benchmark. Here the request path only adds to ints and lists
(:class:`Stats`, :class:`Histogram`); a custom collector (:class:`StatsCollector`) turns a
snapshot of them into metric families when ``/metrics`` is scraped. Snapshots are plain
dicts, so the supervisor of several worker processes can fetch one from each worker and
add them up (:func:`merge_snapshots`).

Exported (names as Prometheus sees them):

- ``lighthouse_rpc_duration_seconds{method}``: time from a call's arrival in the servicer
  to its answer (per call, also on streams; per batch for ValidateBatch).
- ``lighthouse_decision_duration_seconds{operation}``: time spent deciding inside the
  server, excluding transport; ``operation="validation"`` for tier 0/1 decisions,
  ``"escalation"`` for calls sent to a slower tier.
- ``lighthouse_decisions_total{verdict,tier}``, ``lighthouse_errors_total{method,code}``,
  ``lighthouse_in_flight_calls{method}``, ``lighthouse_streams_open``.
- ``lighthouse_cache_hits_total``, ``lighthouse_cache_misses_total``,
  ``lighthouse_cache_hit_ratio``, ``lighthouse_cache_entries``.
- ``lighthouse_policy_generation``, ``lighthouse_rules``,
  ``lighthouse_policy_reloads_total{result}``, ``lighthouse_workers``, ``lighthouse_info``.
- ``lighthouse_tier_hit_ratio{tier}``: memory (the decision cache), policy and expert
  (the slow tiers' cache of their decisions).
- ``lighthouse_gc_pause_seconds{generation}``: each garbage collection of the server
  process (0, 1, 2; 2 is a full one), as long as it held the event loop;
  ``lighthouse_event_loop_lag_seconds``: how late the event loop ran a timer, sampled
  every 0.1 s (lighthouse.server.runtime). Together they tell a client-side p99 that
  waits for the server's loop from one that waits elsewhere.
  ``lighthouse_gc_threshold{generation}`` and ``lighthouse_gc_frozen_objects``: the
  collector's thresholds in force and the objects frozen out of its reach
  (``--gc-thresholds``).
- With the audit log (lighthouse.audit): ``lighthouse_audit_records_total`` (committed),
  ``lighthouse_audit_commits_total``, ``lighthouse_audit_refused_total`` (calls refused
  because its queue was full), ``lighthouse_audit_errors_total`` (failed commits,
  retried), ``lighthouse_audit_queue`` (records not yet committed),
  ``lighthouse_audit_failing``, ``lighthouse_audit_writer_restarts_total`` (writer
  processes started in place of one that died).
- With slow tiers, the escalation pipeline's families (lighthouse.escalation.stats:
  escalations by tier and outcome, fail-mode answers by cause, queue depth, in-flight
  escalations, circuit state per backend, ...), and ``operation="policy"`` and
  ``"expert_escalation"`` in ``lighthouse_decision_duration_seconds``: the time inside
  each slow tier.
"""

from __future__ import annotations

import gc
import os
import time
from bisect import bisect_left

from .vocab import TIER_NAMES, VERDICT_NAMES

__all__ = ["Histogram", "Stats", "StatsCollector", "merge_snapshots", "histogram_quantile", "histogram_family",
           "start_metrics_server",
           "DURATION_BUCKETS_NS", "VERDICT_NAMES", "TIER_NAMES", "METHODS"]

# Fine buckets at the microsecond end, where tier-0/1 decisions live, then coarse ones up
# to the slow tiers' deadlines.
DURATION_BUCKETS_NS = (
    1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 75_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
    250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000,
)

# VERDICT_NAMES and TIER_NAMES (lighthouse.vocab): index = the enum value of
# lighthouse.v1.Verdict / lighthouse.v1.Tier; decisions are counted per pair.
METHODS = ("Validate", "ValidateStream", "ValidateBatch")


class Histogram:
    """A fixed-bucket histogram of nanosecond durations kept in plain ints."""

    __slots__ = ("bounds", "counts", "sum_ns")

    def __init__(self, bounds=DURATION_BUCKETS_NS):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)   # the last one is +Inf
        self.sum_ns = 0

    def observe(self, ns):
        # bisect_left: a value equal to a bound belongs to that bucket (Prometheus `le`).
        self.counts[bisect_left(self.bounds, ns)] += 1
        self.sum_ns += ns

    def snapshot(self):
        return {"counts": list(self.counts), "sum_ns": self.sum_ns}


class Stats:
    """Counters of one server process. Every method on the request path is a few int
    operations; nothing here locks, formats or allocates per call."""

    def __init__(self, worker=0, workers=1):
        self.started = time.time()
        self.worker = worker
        self.workers = workers
        nv, nt = len(VERDICT_NAMES), len(TIER_NAMES)
        self._nt = nt
        self.decisions = [0] * (nv * nt)          # [verdict * nt + tier]
        self.rpc = {m: Histogram() for m in METHODS}
        self.decision_time = {"validation": Histogram(), "escalation": Histogram()}
        self.in_flight = dict.fromkeys(METHODS, 0)
        self.errors = {}                          # (method, code name) -> count
        self.streams_open = 0
        self.reloads = {"ok": 0, "error": 0}
        # Filled by lighthouse.server.runtime while the server runs: collector pauses by
        # generation and the event loop's lag.
        self.gc_pause = {str(g): Histogram() for g in range(3)}
        self.loop_lag = Histogram()
        # Filled by the server: () -> dict with cache/policy figures read at scrape time.
        self.policy_info = lambda: {}
        # The escalation pipeline's counters (lighthouse.escalation.EscalationStats), when
        # the server has slow tiers; its duration histograms are also in decision_time.
        self.escalation = None
        # The audit log's writer (lighthouse.audit.writer.AuditLog), when the server has one.
        self.audit = None

    def decided(self, verdict, tier, ns, operation="validation"):
        """One decision: verdict and tier are the proto enum values."""
        self.decisions[verdict * self._nt + tier] += 1
        self.decision_time[operation].observe(ns)

    def error(self, method, code_name):
        key = (method, code_name)
        self.errors[key] = self.errors.get(key, 0) + 1

    def snapshot(self):
        """A picklable copy of every counter, plus the policy and cache figures."""
        return {
            "pid": os.getpid(),
            "worker": self.worker,
            "workers": self.workers,
            "uptime": time.time() - self.started,
            "decisions": list(self.decisions),
            "rpc": {m: h.snapshot() for m, h in self.rpc.items()},
            "decision_time": {op: h.snapshot() for op, h in self.decision_time.items()},
            "in_flight": dict(self.in_flight),
            "errors": {"%s|%s" % k: v for k, v in self.errors.items()},
            "streams_open": self.streams_open,
            "reloads": dict(self.reloads),
            "gc_pause": {g: h.snapshot() for g, h in self.gc_pause.items()},
            "loop_lag": self.loop_lag.snapshot(),
            "gc": {"thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()},
            "policy": dict(self.policy_info()),
            "escalation": self.escalation.snapshot() if self.escalation is not None else None,
            "audit": self.audit.snapshot() if self.audit is not None else None,
        }


def _add_hist(a, b):
    return {"counts": [x + y for x, y in zip(a["counts"], b["counts"])], "sum_ns": a["sum_ns"] + b["sum_ns"]}


def merge_snapshots(snaps):
    """Add up the snapshots of several worker processes. Policy generation and rule count
    are reported as the lowest across workers (the generation every worker has reached)."""
    snaps = [s for s in snaps if s]
    if not snaps:
        return None
    out = {k: v for k, v in snaps[0].items()}
    out["policy"] = dict(snaps[0]["policy"])
    for s in snaps[1:]:
        out["uptime"] = max(out["uptime"], s["uptime"])
        out["decisions"] = [x + y for x, y in zip(out["decisions"], s["decisions"])]
        out["rpc"] = {m: _add_hist(out["rpc"][m], s["rpc"][m]) for m in out["rpc"]}
        out["decision_time"] = {op: _add_hist(h, s["decision_time"][op]) if op in s["decision_time"] else h
                                for op, h in out["decision_time"].items()}
        out["in_flight"] = {m: out["in_flight"][m] + s["in_flight"].get(m, 0) for m in out["in_flight"]}
        errors = dict(out["errors"])
        for k, v in s["errors"].items():
            errors[k] = errors.get(k, 0) + v
        out["errors"] = errors
        out["streams_open"] += s["streams_open"]
        out["reloads"] = {k: out["reloads"][k] + s["reloads"].get(k, 0) for k in out["reloads"]}
        if "gc_pause" in out and "gc_pause" in s:
            out["gc_pause"] = {g: _add_hist(h, s["gc_pause"][g]) for g, h in out["gc_pause"].items()}
            out["loop_lag"] = _add_hist(out["loop_lag"], s["loop_lag"])
            out["gc"] = {"thresholds": out["gc"]["thresholds"], "frozen": out["gc"]["frozen"] + s["gc"]["frozen"]}
        p, q = out["policy"], s["policy"]
        for k in ("cache_hits", "cache_misses", "cache_entries"):
            p[k] = p.get(k, 0) + q.get(k, 0)
        for k in ("generation", "rules"):
            if k in q:
                p[k] = min(p.get(k, q[k]), q[k])
    audits = [s["audit"] for s in snaps if s.get("audit")]
    if audits:
        out["audit"] = {k: sum(a.get(k, 0) for a in audits) for k in audits[0]}
    out["workers"] = max(out["workers"], len(snaps))
    if any(s.get("escalation") for s in snaps):
        from .escalation.stats import merge_snapshots as merge_escalation
        out["escalation"] = merge_escalation([s.get("escalation") for s in snaps])
    return out


def histogram_quantile(q, counts, bounds=DURATION_BUCKETS_NS):
    """Estimate quantile q (0..1) in nanoseconds from bucket counts, interpolating
    linearly inside the bucket as Prometheus' histogram_quantile() does."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = q * total
    seen = 0
    for i, c in enumerate(counts):
        if seen + c >= rank and c:
            lo = bounds[i - 1] if i > 0 else 0
            if i >= len(bounds):
                return float(bounds[-1])
            return lo + (bounds[i] - lo) * (rank - seen) / c
        seen += c
    return float(bounds[-1])


def histogram_family(name, doc, series, label=None, bounds=DURATION_BUCKETS_NS):
    """A Prometheus histogram family from :class:`Histogram` snapshots (``{"counts",
    "sum_ns"}`` over ``bounds``): ``series`` is one snapshot when ``label`` is None, else
    ``{label value: snapshot}``."""
    from prometheus_client.core import HistogramMetricFamily

    def buckets(h):
        out, acc = [], 0
        for bound, c in zip(bounds + (float("inf"),), h["counts"]):
            acc += c
            out.append(("+Inf" if bound == float("inf") else repr(bound / 1e9), acc))
        return out

    if label is None:
        return HistogramMetricFamily(name, doc, buckets=buckets(series), sum_value=series["sum_ns"] / 1e9)
    fam = HistogramMetricFamily(name, doc, labels=[label])
    for key, h in series.items():
        fam.add_metric([key], buckets(h), h["sum_ns"] / 1e9)
    return fam


class StatsCollector:
    """A prometheus_client collector that renders a snapshot at scrape time.

    ``source`` is a callable returning a snapshot dict (:meth:`Stats.snapshot` for one
    process, or the merged snapshots of the workers); None means "no data yet"."""

    def __init__(self, source, version=""):
        self.source = source
        self.version = version

    def describe(self):
        # Describing nothing keeps registration from calling collect() (and the source).
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snap = self.source()
        if not snap:
            return
        policy = snap.get("policy", {})

        yield histogram_family("lighthouse_rpc_duration_seconds",
                               "Time from a call's arrival in the servicer to its answer, by gRPC method",
                               {m: h for m, h in snap["rpc"].items() if sum(h["counts"])}, "method")
        yield histogram_family("lighthouse_decision_duration_seconds",
                               "Time spent deciding inside the server (no transport), by operation type",
                               snap["decision_time"], "operation")

        fam = CounterMetricFamily("lighthouse_decisions", "Decisions by verdict and tier",
                                  labels=["verdict", "tier"])
        nt = len(TIER_NAMES)
        for i, n in enumerate(snap["decisions"]):
            if n:
                fam.add_metric([VERDICT_NAMES[i // nt], TIER_NAMES[i % nt]], n)
        yield fam

        fam = CounterMetricFamily("lighthouse_errors", "Calls answered with an error, by method and gRPC code",
                                  labels=["method", "code"])
        for key, n in sorted(snap["errors"].items()):
            fam.add_metric(key.split("|", 1), n)
        yield fam

        fam = GaugeMetricFamily("lighthouse_in_flight_calls", "Calls being decided now", labels=["method"])
        for m, n in snap["in_flight"].items():
            fam.add_metric([m], n)
        yield fam
        yield GaugeMetricFamily("lighthouse_streams_open", "Open ValidateStream streams", value=snap["streams_open"])
        if "gc_pause" in snap:
            yield histogram_family("lighthouse_gc_pause_seconds",
                                   "Garbage collections of the server process, by generation (2: full), as long "
                                   "as each held the event loop", snap["gc_pause"], "generation")
            yield histogram_family("lighthouse_event_loop_lag_seconds",
                                   "How late the server's event loop ran a timer (sampled every 0.1 s)",
                                   snap["loop_lag"])
            fam = GaugeMetricFamily("lighthouse_gc_threshold", "The garbage collector's thresholds in force "
                                    "(--gc-thresholds)", labels=["generation"])
            for g, v in enumerate(snap["gc"]["thresholds"]):
                fam.add_metric([str(g)], v)
            yield fam
            yield GaugeMetricFamily("lighthouse_gc_frozen_objects", "Objects frozen out of the collector's reach "
                                    "at start (gc.freeze)", value=snap["gc"]["frozen"])

        hits, misses = policy.get("cache_hits", 0), policy.get("cache_misses", 0)
        yield CounterMetricFamily("lighthouse_cache_hits", "Decision cache hits", value=hits)
        yield CounterMetricFamily("lighthouse_cache_misses", "Decision cache misses", value=misses)
        yield GaugeMetricFamily("lighthouse_cache_hit_ratio", "Decision cache hits / lookups since start",
                                value=hits / (hits + misses) if hits + misses else 0.0)
        yield GaugeMetricFamily("lighthouse_cache_entries", "Entries in the decision cache",
                                value=policy.get("cache_entries", 0))
        yield GaugeMetricFamily("lighthouse_policy_generation", "Policy generation in force",
                                value=policy.get("generation", 0))
        yield GaugeMetricFamily("lighthouse_rules", "Rules in the policy in force", value=policy.get("rules", 0))
        fam = CounterMetricFamily("lighthouse_policy_reloads", "Policy reloads by result", labels=["result"])
        for k, n in snap["reloads"].items():
            fam.add_metric([k], n)
        yield fam
        yield GaugeMetricFamily("lighthouse_workers", "Server worker processes", value=snap["workers"])
        yield GaugeMetricFamily("lighthouse_uptime_seconds", "Seconds since the server started", value=snap["uptime"])
        escalation = snap.get("escalation")
        fam = GaugeMetricFamily("lighthouse_tier_hit_ratio",
                                "Share of the calls reaching a tier that it answers from memory: "
                                "memory = decision cache hits / lookups; policy, expert = repeats answered "
                                "from the slow-tier cache / all answers of that tier's decisions",
                                labels=["tier"])
        fam.add_metric(["memory"], hits / (hits + misses) if hits + misses else 0.0)
        if escalation:
            for kind, n in sorted(escalation["cache_hits"].items()):
                total = n + escalation["decided"].get(kind, 0)
                fam.add_metric([kind], n / total if total else 0.0)
        yield fam
        if escalation:
            from .escalation.stats import families as escalation_families
            yield from escalation_families(escalation)
        audit = snap.get("audit")
        if audit:
            yield CounterMetricFamily("lighthouse_audit_records", "Decisions committed to the audit log",
                                      value=audit["committed"])
            yield CounterMetricFamily("lighthouse_audit_commits", "Audit log commits (each a batch of records)",
                                      value=audit["batches"])
            yield CounterMetricFamily("lighthouse_audit_refused", "Calls refused (RESOURCE_EXHAUSTED) because "
                                      "the audit log's queue was full", value=audit["refused"])
            yield CounterMetricFamily("lighthouse_audit_errors", "Audit log commits that failed (retried)",
                                      value=audit["errors"])
            yield GaugeMetricFamily("lighthouse_audit_queue", "Records waiting for the audit log's writer",
                                    value=audit["queue"])
            yield GaugeMetricFamily("lighthouse_audit_failing", "Processes whose audit log commits are failing",
                                    value=audit["failing"])
            yield CounterMetricFamily("lighthouse_audit_writer_restarts", "Audit log writer processes started "
                                      "in place of one that died", value=audit.get("writer_restarts", 0))
        fam = GaugeMetricFamily("lighthouse_info", "Version and hot-path implementation",
                                labels=["version", "implementation"])
        fam.add_metric([self.version, policy.get("implementation", "")], 1)
        yield fam


def start_metrics_server(host, port, source, version=""):
    """Serve ``/metrics`` on host:port from a daemon thread; returns the HTTP server
    (``.server_address`` has the bound port, ``.shutdown()`` stops it)."""
    from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(source, version))
    ProcessCollector(registry=registry)
    httpd, _ = start_http_server(port, addr=host, registry=registry)
    return httpd
