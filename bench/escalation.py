"""Benchmark of the escalation pipeline's overhead: the time an escalated call spends in
the pipeline beyond its tier's own evaluation (target: p99 <= 1 ms for the policy tier).

A stub policy tier of known latency (in-process, no network: it returns at once, or
after ``asyncio.sleep(--latency-us)``) measures its own time on each call; every call
goes through ``EscalationPipeline.escalator()`` as the server's Decider makes it (a
lighthouse.server.core.Pending of a real ToolCall), so the figure includes the cache-key
computation, the cache lookup, the coalescing table, the evaluation task, the deadlines,
the answer's validation, the cache store and the EscalationResult. Overhead per call =
time in the escalator - time inside the tier.

Phases (each call distinct, so nothing is cached or coalesced unless said):
  sequential  one escalation at a time: the pipeline's own cost
  concurrent  --concurrency escalations in flight at once: throughput, and each call's
              latency beyond its tier's time, which here is mostly waiting for the one
              event loop that the other calls share (reported apart from the overhead)
  cached      the sequential calls repeated: answered from the slow-decision cache

    .venv/bin/python bench/escalation.py            # table
    .venv/bin/python bench/escalation.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lighthouse.escalation import EscalationPipeline, TierAnswer  # noqa: E402
from lighthouse.server.core import Pending  # noqa: E402
from lighthouse.v1 import validation_pb2 as pb  # noqa: E402

WS = "/home/dev/app"
ANSWER = TierAnswer("deny", "policy says no", "policy:data.lighthouse.decision")


class StubPolicy:
    """A policy tier of known latency that records the time it spent on each call."""

    name = "policy"

    def __init__(self, latency_s):
        self.latency_s = latency_s
        self.spent = {}

    async def decide(self, esc):
        t0 = time.perf_counter_ns()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.spent[esc.tool_input["n"]] = time.perf_counter_ns() - t0
        return ANSWER


def pending(n):
    tool_input = {"query": "select * from t where id = %d" % n, "n": n}
    call = pb.ToolCall(request_id="r%d" % n, agent_id="bench", tool="mcp__db__run",
                       input_json=json.dumps(tool_input), cwd=WS)
    evaluated = (pb.VERDICT_ASK, pb.TIER_FALLBACK, "no rule settles this call; fail-mode verdict ask", "", 1, "miss")
    return Pending(call, "bench", tool_input, evaluated, time.perf_counter_ns())


async def one(escalate, tier, n, overheads):
    p = pending(n)
    t0 = time.perf_counter_ns()
    r = await escalate(p)
    total = time.perf_counter_ns() - t0
    if r is None or r.verdict != "deny":
        raise SystemExit("unexpected answer %r" % (r and r.__dict__,))
    overheads.append(total - tier.spent.get(n, 0))


def summary(overheads, seconds, what="overhead"):
    overheads = sorted(overheads)
    q = statistics.quantiles(overheads, n=100, method="inclusive") if len(overheads) > 1 else overheads * 99
    return {"calls": len(overheads), what + "_p50_us": round(q[49] / 1000, 2),
            what + "_p99_us": round(q[98] / 1000, 2), what + "_max_us": round(overheads[-1] / 1000, 2),
            "per_s": round(len(overheads) / seconds) if seconds else 0,
            "us_per_call": round(seconds * 1e6 / len(overheads), 2) if overheads else 0}


async def run(args):
    tier = StubPolicy(args.latency_us / 1e6)
    pipeline = EscalationPipeline([tier], policy_deadline=max(1.0, args.latency_us / 1e6 * 100),
                                  max_queue=max(1024, args.concurrency))
    escalate = pipeline.escalator()
    for n in range(-200, 0):                 # warm-up, not measured
        await one(escalate, tier, n, [])
    results = {}

    overheads = []
    t0 = time.perf_counter()
    for n in range(args.calls):
        await one(escalate, tier, n, overheads)
    results["sequential"] = summary(overheads, time.perf_counter() - t0)

    overheads = []
    base = args.calls
    t0 = time.perf_counter()
    for start in range(0, args.calls, args.concurrency):
        await asyncio.gather(*(one(escalate, tier, base + n, overheads)
                               for n in range(start, min(start + args.concurrency, args.calls))))
    results["concurrent"] = summary(overheads, time.perf_counter() - t0, "latency")

    overheads = []
    tier.spent.clear()                       # cached answers never reach the tier
    t0 = time.perf_counter()
    for n in range(args.calls):
        await one(escalate, tier, n, overheads)
    results["cached"] = summary(overheads, time.perf_counter() - t0)
    snap = pipeline.stats.snapshot()
    return {"latency_us": args.latency_us, "concurrency": args.concurrency, "loop": args.loop,
            "results": results,
            "stats": {"tier_decisions": snap["decided"]["policy"], "cache_hits": snap["cache_hits"]["policy"],
                      "fail_mode": sum(snap["fail_mode"].values()), "queue_peak": snap["queue_peak"]}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20000, help="escalations per phase")
    p.add_argument("--latency-us", type=float, default=0.0, help="the stub tier's own latency")
    p.add_argument("--concurrency", type=int, default=100, help="escalations in flight in the concurrent phase")
    p.add_argument("--no-uvloop", dest="loop", action="store_const", const="asyncio", default="uvloop")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop
        res = uvloop.run(run(args))
    else:
        res = asyncio.run(run(args))
    if res["stats"]["fail_mode"]:
        raise SystemExit("%d escalations got the fail mode: the figures are not the pipeline's" %
                         res["stats"]["fail_mode"])
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print("escalation pipeline: time per call beyond the stub tier's own (%g us), %s loop"
          % (args.latency_us, res["loop"]))
    print("%-11s %8s %10s %10s %10s %12s %12s" % ("phase", "calls", "p50 us", "p99 us", "max us", "calls/s",
                                                  "wall us/call"))
    for phase, r in res["results"].items():
        what = "latency" if phase == "concurrent" else "overhead"
        print("%-11s %8d %10.2f %10.2f %10.2f %12d %12.2f" % (
            phase, r["calls"], r[what + "_p50_us"], r[what + "_p99_us"], r[what + "_max_us"], r["per_s"],
            r["us_per_call"]))
    print("sequential and cached: the pipeline's overhead; concurrent: %d escalations in flight at once, so"
          " its latency is mostly waiting for the shared event loop" % res["concurrency"])


if __name__ == "__main__":
    main()
