"""The slow path under load: does policy traffic slow the calls the fast tiers answer?

One ``lighthouse serve`` (policy tier on: the default Rego policy on regorus in
``--policy-processes`` worker processes) gets an open-loop load of ``--rate`` unary
calls per second from this process, in two kinds of phases that alternate
(``--repeat`` times each, ``--duration`` seconds each), so that other load on the
machine weighs on both alike:

  fast    every call is one the fast tiers settle (development-corpus calls the rules
          decide: cache hits and rule evaluations)
  mixed   the same, except that ``--share`` of the calls (default 30%) are calls no rule
          settles (tests/data/policy_sample.jsonl), each in a directory of its own so
          that none is a repeat: every one goes to the policy tier

Reported: client-side p50/p99 of the fast calls in each kind of phase and their ratio
(target: mixed p99 <= 1.5x fast p99); the escalated calls' p50/p99; from the server's
/metrics, over the mixed phases, the escalation overhead (time from a call's arrival
beyond the Rego evaluation itself: queueing, input building, IPC to the worker; target
p99 <= 1 ms) and the policy tier's time per call, and the fail-mode answers (should be
none: a full queue or a timeout would show here). Also the CPU each escalation costs
the server and its policy workers (the CPU rate of the mixed phases beyond that of the
fast ones, per escalation: steadier than latency on a shared machine), the CPU this load
generator used, and the machine's load average at the start and the end of the run
(latency tails measured on a machine whose load exceeds its cores are the scheduler's).

    .venv/bin/python bench/slow_path.py                     # 1000 calls/s, 2 x 5 s per kind
    .venv/bin/python bench/slow_path.py --rate 500 --duration 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import random
import resource
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import grpc  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from agents import CORPUS, Server, percentiles, serve_options  # noqa: E402
from lighthouse import Validator  # noqa: E402
from lighthouse.escalation.stats import OVERHEAD_BUCKETS_NS  # noqa: E402
from lighthouse.metrics import DURATION_BUCKETS_NS, histogram_quantile  # noqa: E402
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "policy_sample.jsonl"


def _rows(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fast_calls(path=CORPUS):
    """Corpus calls the fast tiers settle without escalating (a rule's allow, deny or
    ask; no miss), as ToolCalls."""
    v = Validator(raw=True, cache_size=0)
    out = []
    for k, c in enumerate(_rows(path)):
        cwd = c.get("cwd") or "/home/dev/app"
        if v.check(c["tool"], c["input"], cwd).verdict == "miss":
            continue
        out.append(pb.ToolCall(agent_id="bench-fast-%d" % (k % 50), tool=c["tool"],
                               input_json=json.dumps(c["input"]), cwd=cwd))
    return out


def policy_calls():
    """The sample's calls (all rule misses), without a cwd: each use gets a fresh one."""
    return [(c["tool"], json.dumps(c["input"])) for c in _rows(SAMPLE)]


def scrape(port):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _buckets(m, name, bounds=DURATION_BUCKETS_NS, **labels):
    """Per-bucket counts (not cumulative) of histogram ``name`` (over ``bounds``) in a scrape."""
    cumulative = []
    for bound in bounds + (float("inf"),):
        le = "+Inf" if bound == float("inf") else repr(bound / 1e9)
        key = (name + "_bucket", tuple(sorted(dict(labels, le=le).items())))
        cumulative.append(m.get(key, 0.0))
    return [int(c - p) for c, p in zip(cumulative, [0.0] + cumulative[:-1])]


def _delta(after, before, name, bounds=DURATION_BUCKETS_NS, **labels):
    return [a - b for a, b in zip(_buckets(after, name, bounds, **labels), _buckets(before, name, bounds, **labels))]


def _counter(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


async def phase(stubs, fast, slow, rate, duration, share, rng, serial):
    """One open-loop phase; returns (fast latencies, escalated latencies, errors, sent)."""
    lat = {"fast": [], "slow": []}
    errors = []
    tasks = []

    async def send(stub, call, kind):
        t = time.perf_counter()
        try:
            d = await stub.Validate(call, timeout=60)
        except grpc.aio.AioRpcError as e:
            errors.append(e.code().name)
            return
        lat[kind].append(time.perf_counter() - t)
        if kind == "slow" and d.tier not in (pb.TIER_POLICY, pb.TIER_FALLBACK):
            errors.append("escalated call answered by tier %d" % d.tier)

    n = int(rate * duration)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        stub = stubs[i % len(stubs)]
        if rng.random() < share:
            tool, ij = slow[i % len(slow)]
            serial[0] += 1
            call = pb.ToolCall(agent_id="bench-slow-%d" % (i % 50), tool=tool, input_json=ij,
                               cwd="/home/dev/bench/ws-%d" % serial[0])
            tasks.append(asyncio.ensure_future(send(stub, call, "slow")))
        else:
            tasks.append(asyncio.ensure_future(send(stub, fast[rng.randrange(len(fast))], "fast")))
    await asyncio.gather(*tasks)
    return lat["fast"], lat["slow"], errors, n, time.perf_counter() - start


async def measure(args, server, fast, slow):
    target = "127.0.0.1:%d" % server.port
    channels = [grpc.aio.insecure_channel(target) for _ in range(args.channels)]
    stubs = [pb_grpc.ValidatorStub(ch) for ch in channels]
    rng = random.Random(11)
    serial = [0]
    results = {kind: {"fast": [], "slow": [], "errors": [], "sent": 0, "seconds": 0.0, "server_cpu": 0.0,
                      "client_cpu": 0.0} for kind in ("fast", "mixed")}
    deltas = {"overhead": [0] * (len(OVERHEAD_BUCKETS_NS) + 1), "policy": [0] * (len(DURATION_BUCKETS_NS) + 1)}
    fail_mode = 0.0
    try:
        # Warm-up: connections, the policy workers, the decision cache for the fast calls.
        await phase(stubs, fast, slow, min(args.rate, 500), 1.0, 0.3, rng, serial)
        for _ in range(args.repeat):
            for kind in ("fast", "mixed"):
                before = scrape(server.metrics_port)
                cpu0, own0 = server.cpu_seconds(), _own_cpu()
                f, s, errs, sent, secs = await phase(stubs, fast, slow, args.rate, args.duration,
                                                     args.share if kind == "mixed" else 0.0, rng, serial)
                cpu1, own1 = server.cpu_seconds(), _own_cpu()
                after = scrape(server.metrics_port)
                r = results[kind]
                r["server_cpu"] += cpu1 - cpu0
                r["client_cpu"] += own1 - own0
                r["fast"] += f
                r["slow"] += s
                r["errors"] += errs
                r["sent"] += sent
                r["seconds"] += secs
                if kind == "mixed":
                    deltas["overhead"] = [x + y for x, y in zip(deltas["overhead"], _delta(
                        after, before, "lighthouse_escalation_overhead_seconds", OVERHEAD_BUCKETS_NS))]
                    deltas["policy"] = [x + y for x, y in zip(deltas["policy"], _delta(
                        after, before, "lighthouse_decision_duration_seconds", operation="policy"))]
                    fail_mode += sum(_counter(after, "lighthouse_escalation_fail_mode_total", cause=c)
                                     - _counter(before, "lighthouse_escalation_fail_mode_total", cause=c)
                                     for c in ("timeout", "error", "invalid", "circuit_open", "deadline",
                                               "queue_full", "undecided"))
    finally:
        for ch in channels:
            await ch.close()
    return results, deltas, fail_mode


def _own_cpu():
    """CPU seconds (user + system) this process, the load generator, has used."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run(args):
    load_before = os.getloadavg()
    fast, slow = fast_calls(), policy_calls()
    tmp = tempfile.TemporaryDirectory(prefix="lighthouse-bench-")
    argv = [sys.executable, "-m", "lighthouse.cli", "serve", "--no-socket", "--rate-limit", "0",
            "--policy-processes", str(args.policy_processes), "--policy-nice", str(args.policy_nice),
            "--admin-token-file", str(pathlib.Path(tmp.name) / "admin-token"),
            "--audit-db", str(pathlib.Path(tmp.name) / "audit.db")]
    server = Server("lighthouse", lambda ready: argv + serve_options(ready))
    try:
        results, deltas, fail_mode = asyncio.run(measure(args, server, fast, slow))
    finally:
        server.stop()
        tmp.cleanup()
    report = {"rate": args.rate, "share": args.share, "duration": args.duration, "repeat": args.repeat,
              "policy_processes": args.policy_processes, "policy_nice": args.policy_nice,
              "fast_calls": len(fast), "policy_calls": len(slow)}
    for kind, r in results.items():
        report[kind] = {"fast": percentiles(r["fast"]), "escalated": percentiles(r["slow"]),
                        "calls": r["sent"], "achieved_per_s": round(r["sent"] / r["seconds"], 1) if r["seconds"] else 0,
                        "errors": len(r["errors"]), "error_kinds": sorted(set(r["errors"]))[:5]}
    fp = report["fast"]["fast"]["p99_ms"]
    report["fast_p99_ratio"] = round(report["mixed"]["fast"]["p99_ms"] / fp, 3) if fp else None
    ov = deltas["overhead"]
    n = sum(ov)
    within = sum(c for c, b in zip(ov, OVERHEAD_BUCKETS_NS) if b <= 1_000_000)
    report["escalations"] = n
    report["overhead_p50_ms"] = histogram_quantile(0.5, ov, OVERHEAD_BUCKETS_NS) / 1e6
    report["overhead_p90_ms"] = histogram_quantile(0.9, ov, OVERHEAD_BUCKETS_NS) / 1e6
    report["overhead_p99_ms"] = histogram_quantile(0.99, ov, OVERHEAD_BUCKETS_NS) / 1e6
    report["overhead_within_1ms"] = within / n if n else None
    report["policy_tier_p50_ms"] = histogram_quantile(0.5, deltas["policy"]) / 1e6
    report["policy_tier_p99_ms"] = histogram_quantile(0.99, deltas["policy"]) / 1e6
    report["fail_mode_answers"] = int(fail_mode)
    f, m = results["fast"], results["mixed"]
    escalated = len(m["slow"])
    report["cpu_ms_per_escalation"] = round((m["server_cpu"] - f["server_cpu"] * m["seconds"] / f["seconds"])
                                            * 1000 / escalated, 3) if escalated and f["seconds"] else None
    report["server_cpu_share"] = {k: round(results[k]["server_cpu"] / results[k]["seconds"], 3)
                                  for k in results if results[k]["seconds"]}
    report["client_cpu_share"] = {k: round(results[k]["client_cpu"] / results[k]["seconds"], 3)
                                  for k in results if results[k]["seconds"]}
    report["loadavg_1m"] = {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2),
                            "cores": os.cpu_count()}
    return report


def print_table(r):
    print("slow path: %d calls/s open loop, %.0f%% to the policy tier in mixed phases, %d x %g s per kind, "
          "%d policy processes at nice +%d" % (r["rate"], r["share"] * 100, r["repeat"], r["duration"],
                                               r["policy_processes"], r["policy_nice"]))
    print("%-7s %9s %10s %10s %13s %13s %7s" % ("phase", "calls/s", "fast p50", "fast p99", "escalated p50",
                                                  "escalated p99", "errors"))
    for kind in ("fast", "mixed"):
        k = r[kind]
        esc = k["escalated"]
        print("%-7s %9.0f %8.3f ms %7.3f ms %10.3f ms %10.3f ms %7d" % (
            kind, k["achieved_per_s"], k["fast"]["p50_ms"], k["fast"]["p99_ms"],
            esc["p50_ms"], esc["p99_ms"], k["errors"]))
    print("fast-tier p99, mixed / fast: %sx (target <= 1.5x)" % r["fast_p99_ratio"])
    print("escalations (mixed phases): %d; overhead p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, %.1f%% within 1 ms "
          "(target p99 <= 1 ms)" % (r["escalations"], r["overhead_p50_ms"], r["overhead_p90_ms"], r["overhead_p99_ms"],
                                    100 * (r["overhead_within_1ms"] or 0)))
    print("policy tier time per call (input, IPC, Rego): p50 %.3f ms, p99 %.3f ms; fail-mode answers: %d"
          % (r["policy_tier_p50_ms"], r["policy_tier_p99_ms"], r["fail_mode_answers"]))
    print("CPU per escalation (server and policy workers): %s ms; CPU share, server %s, this load generator %s"
          % (r["cpu_ms_per_escalation"], r["server_cpu_share"], r["client_cpu_share"]))
    la = r["loadavg_1m"]
    print("load average (1 min): %.2f at the start, %.2f at the end, on %d cores" % (la["start"], la["end"],
                                                                                   la["cores"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=1000.0, help="calls per second, open loop (default 1000)")
    p.add_argument("--share", type=float, default=0.3, help="share of calls to the policy tier in mixed phases")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per phase (default 5)")
    p.add_argument("--repeat", type=int, default=2, help="phases of each kind, alternated (default 2)")
    p.add_argument("--channels", type=int, default=4, help="gRPC channels (default 4)")
    p.add_argument("--policy-processes", type=int, default=2, help="lighthouse serve --policy-processes")
    p.add_argument("--policy-nice", type=int, default=5, help="lighthouse serve --policy-nice (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if not 0 < args.share < 1 or args.rate <= 0 or args.duration <= 0 or args.repeat < 1:
        p.error("--share must be in (0, 1); --rate, --duration and --repeat positive")
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
