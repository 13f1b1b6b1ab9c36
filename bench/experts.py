"""Benchmark of the expert tier under load: escalations to simulated experts over real
ExpertHub streams beside fast-tier traffic.

Three processes on this machine: the server (``lighthouse serve``'s LighthouseServer with
ExpertHub and the expert tier; a stand-in policy tier that hands every escalated call on
with a quorum of 1 or 3, so that no Rego worker takes CPU), the simulated experts
(``python -m lighthouse.experts.sim``: --experts agents answering ask after a latency
drawn uniformly from 0.2-2 s, each with its own stream) and this load generator, which
sends calls at a fixed rate (open loop) on one channel. All three settle their collector
once started as the server does (lighthouse.server.runtime.apply_gc_policy): without it
the experts' process ran a full collection of its start-up's objects in the middle of
the load (24-99 ms on a loaded machine), which the overhead figure took for the server's.

The run alternates phases of --phase seconds: "mixed" (--escalated of the calls are
misses escalated to the experts, --quorum3 of those need three experts) and "fast"
(fast-tier calls only). The fast-tier calls of the first --settle seconds of a fast phase
are left out, so that no escalation of the phase before is still in flight.

Figures:
  fast-tier p99, mixed vs fast phases (target: mixed <= 1.5x fast)
  escalation overhead: an escalated call's latency at the client minus the longest time
  one of its experts slept (each simulated expert says it in its reason); the rest is
  the server, the hub, the streams, the SDK and the client (target: p99 <= 5 ms). Split
  in two with the Decision's decision_ns (the server's own time for the call): outside
  the server (the Validate call's gRPC round trip and this client) and inside (the
  server, the expert streams and the experts' SDK beyond their sleep).
  where the server's time goes, span by span (lighthouse_escalation_span_seconds, read
  from /metrics at the end: count, mean and the p50/p99 interpolated in the buckets):
  "expert" is the experts' own time as they report it (SDK: read to answer written),
  the other spans are overhead

  --one-at-a-time N, instead of the load: N escalations one after the other (quorum 1,
  experts answering at once), each a program never seen before; the server's and the
  experts' CPU per escalation over the ExpertHub stream (a figure other load on the
  machine hardly moves, unlike the latencies; bench/slow_cpu.py's expert tier has no
  stream) and the overhead p50/p99 with nothing else in flight

    .venv/bin/python bench/experts.py                 # ~40 s, table
    .venv/bin/python bench/experts.py --json --duration 6 --rate 40 --phase 3
    .venv/bin/python bench/experts.py --one-at-a-time 2000 --latency 0 --json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pathlib
import random
import re
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLEPT = re.compile(r"slept ([0-9.]+) ms")
WS = "/home/dev/app"
FAST = ["ls -la", "git status", "cat README.md", "grep -rn TODO src", "git diff --stat", "pytest -q tests"]


# ------------------------------------------------------------------ the server process


def serve(deadline):
    """The server of the benchmark: LighthouseServer with ExpertHub, whose policy stage
    is a stand-in that hands each call on with the quorum its command asks for, on ports
    of the kernel's choice, which it prints once serving: ``ready PORT METRICS_PORT``."""
    from lighthouse.escalation import Stage, TierAnswer
    from lighthouse.server.app import LighthouseServer, ServerConfig, run_loop, setup_logging
    from lighthouse.server.config import ANY_PORT

    class HandOn:
        name = "policy"

        async def decide(self, esc):
            q = 3 if esc.tool_input.get("command", "").startswith("zzq3") else 1
            return TierAnswer("ask", "bench: experts decide", "policy:bench", escalate=True, category="bench",
                              quorum=q)

    class BenchServer(LighthouseServer):
        async def _policy_stage(self, facts):
            return Stage(HandOn(), kind="policy", backend="bench")

    setup_logging(30)
    config = ServerConfig(port=0, metrics_port=ANY_PORT, local_socket=False, policy=True, experts_hub=True,
                          escalation_deadline=deadline, rate_limit=0, admin_token_file=os.devnull + ".lh")
    server = BenchServer(config)
    server._write_admin_secret = False
    run_loop(server.run(ready=lambda p: print("ready", p, server.metrics_port, flush=True)))


# ------------------------------------------------------------------ the load


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc), or None."""
    try:
        fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def load(args, address, pids=()):
    import grpc

    from lighthouse.server.runtime import apply_gc_policy
    from lighthouse.v1 import validation_pb2 as pb
    from lighthouse.v1 import validation_pb2_grpc

    rng = random.Random(args.seed)
    counter = itertools.count()
    fast = {"mixed": [], "fast": []}
    overhead, escalated_ms, slept_ms, verdicts, tiers = [], [], [], {}, {}
    outside, inside, every_sleep = [], [], []
    quorums = {1: 0, 3: 0}
    async with grpc.aio.insecure_channel(address) as channel:
        stub = validation_pb2_grpc.ValidatorStub(channel)
        # Warm up: the rules' cache and the connection.
        for cmd in FAST:
            await stub.Validate(pb.ToolCall(tool="Bash", input_json=json.dumps({"command": cmd}), cwd=WS))
        # This process's collector as the server's (a full collection of the start-up's
        # objects in the load paused every call in flight 20-120 ms on a loaded machine).
        apply_gc_policy()

        async def one(kind, phase, cmd, phase_start):
            t0 = time.perf_counter()
            d = await stub.Validate(pb.ToolCall(tool="Bash", input_json=json.dumps({"command": cmd}), cwd=WS,
                                                session_id="bench-%d" % (hash(cmd) % 50)), timeout=60)
            ms = (time.perf_counter() - t0) * 1000
            tiers[d.tier] = tiers.get(d.tier, 0) + 1
            if kind == "fast":
                if phase == "mixed" or t0 - phase_start >= args.settle:
                    fast[phase].append(ms)
                return
            verdicts[d.verdict] = verdicts.get(d.verdict, 0) + 1
            slept = [float(x) for x in SLEPT.findall(d.reason)]
            if d.tier == pb.TIER_EXPERT and slept:
                every_sleep.extend(slept)
                overhead.append(ms - max(slept))
                outside.append(ms - d.decision_ns / 1e6)
                inside.append(d.decision_ns / 1e6 - max(slept))
                escalated_ms.append(ms)
                slept_ms.append(max(slept))

        tasks = set()
        start = time.perf_counter()
        interval = 1.0 / args.rate
        n = 0
        # CPU time of the server and the experts per phase: what escalations cost them.
        cpu = {"mixed": [0.0] * len(pids), "fast": [0.0] * len(pids)}
        wall = {"mixed": 0.0, "fast": 0.0}
        last_phase, last_cpu, last_t = None, [cpu_seconds(p) for p in pids], start
        while True:
            now = time.perf_counter()
            elapsed = now - start
            k = int(elapsed // args.phase)
            phase = "mixed" if k % 2 == 0 else "fast"
            if phase != last_phase or elapsed >= args.duration:
                if last_phase is not None:
                    c = [cpu_seconds(p) for p in pids]
                    for i, (a, b) in enumerate(zip(last_cpu, c)):
                        if a is not None and b is not None:
                            cpu[last_phase][i] += b - a
                    wall[last_phase] += now - last_t
                    last_cpu, last_t = c, now
                last_phase = phase
            if elapsed >= args.duration:
                break
            phase_start = start + k * args.phase
            if phase == "mixed" and rng.random() < args.escalated:
                q3 = rng.random() < args.quorum3
                quorums[3 if q3 else 1] += 1
                cmd, kind = "%s-%d --flag" % ("zzq3" if q3 else "zzq1", next(counter)), "escalated"
            else:
                cmd, kind = rng.choice(FAST), "fast"
            t = asyncio.ensure_future(one(kind, phase, cmd, phase_start))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        if tasks:
            await asyncio.gather(*tasks)
    return (fast, overhead, escalated_ms, slept_ms, verdicts, tiers, quorums, n, (cpu, wall),
            (outside, inside, every_sleep))


async def one_at_a_time(calls, address, pids):
    """``calls`` escalations in turn (after 200 to warm up): {"server_cpu_us",
    "experts_cpu_us", "overhead_ms": {"p50", "p99"}}, or SystemExit when one is not
    decided by the experts."""
    import grpc

    from lighthouse.server.runtime import apply_gc_policy
    from lighthouse.v1 import validation_pb2 as pb
    from lighthouse.v1 import validation_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = validation_pb2_grpc.ValidatorStub(channel)

        async def escalate(name):
            t0 = time.perf_counter()
            d = await stub.Validate(pb.ToolCall(tool="Bash", input_json=json.dumps({"command": name + " --flag"}),
                                                cwd=WS), timeout=60)
            ms = (time.perf_counter() - t0) * 1000
            slept = [float(x) for x in SLEPT.findall(d.reason)]
            if d.tier != pb.TIER_EXPERT or not slept:
                raise SystemExit("escalation %s was not decided by the experts: %s" % (name, d.reason))
            return ms - max(slept)

        for i in range(200):
            await escalate("zzq1-warm-%d" % i)
        apply_gc_policy()
        before = [cpu_seconds(p) for p in pids]
        overhead = [await escalate("zzq1-%d" % i) for i in range(calls)]
        after = [cpu_seconds(p) for p in pids]
    cpu = [(b - a) / calls * 1e6 if a is not None and b is not None else None for a, b in zip(before, after)]
    return {"calls": calls, "server_cpu_us": cpu[0], "experts_cpu_us": cpu[1],
            "overhead_ms": {"p50": pct(overhead, 50), "p99": pct(overhead, 99)}}


def _wait_connected(mport, experts, timeout=60.0):
    """Wait until the server counts ``experts`` connected experts (on a loaded machine
    their process takes seconds to start): escalations sent before would find too few
    experts for a quorum and get the fail mode, which the run does not measure."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
            connected = max((float(line.split()[-1]) for line in text.splitlines()
                             if line.startswith("lighthouse_experts_connected ")), default=0.0)
        except OSError:
            connected = 0.0
        if connected >= experts:
            return
        if time.monotonic() > deadline:
            raise SystemExit("only %d of %d simulated experts connected in %g s" % (connected, experts, timeout))
        time.sleep(0.1)


def _quantile(buckets, q):
    """The q-quantile of a cumulative histogram [(upper bound, count)], interpolated
    linearly within its bucket (as Prometheus' histogram_quantile does), or None."""
    if not buckets or not buckets[-1][1]:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = bound, count
    return lower


def _spans(families):
    """{span: {"count", "mean", "p50", "p99"}} (ms) of lighthouse_escalation_span_seconds."""
    buckets, sums = {}, {}
    for fam in families:
        if fam.name != "lighthouse_escalation_span_seconds":
            continue
        for smp in fam.samples:
            span = smp.labels.get("span")
            if smp.name.endswith("_bucket"):
                buckets.setdefault(span, []).append((float(smp.labels["le"]), smp.value))
            elif smp.name.endswith("_sum"):
                sums[span] = smp.value
    out = {}
    for span, b in buckets.items():
        b.sort()
        n = b[-1][1]
        if not n:
            continue
        out[span] = {"count": int(n), "mean": sums.get(span, 0.0) / n * 1000,
                     "p50": _quantile(b, 0.5) * 1000, "p99": _quantile(b, 0.99) * 1000}
    return out


def _server_figures(mport):
    """Mean times (ms) from the server's histograms (expert answer, expert tier, escalated
    call) and its spans (:func:`_spans`)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport, timeout=10).read().decode()
    families = list(text_string_to_metric_families(text))
    sums = {}
    for fam in families:
        for smp in fam.samples:
            key = None
            if smp.name.startswith("lighthouse_expert_answer_seconds_"):
                key = "expert_answer"
            elif smp.name.startswith("lighthouse_decision_duration_seconds_") and \
                    smp.labels.get("operation") in ("expert_escalation", "escalation"):
                key = smp.labels["operation"]
            if key and smp.name.endswith(("_sum", "_count")):
                part = "sum" if smp.name.endswith("_sum") else "count"
                sums.setdefault(key, {"sum": 0.0, "count": 0.0})[part] += smp.value
    return {k: (v["sum"] / v["count"] * 1000 if v["count"] else None) for k, v in sums.items()}, _spans(families)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=36.0, help="seconds of load (default 36)")
    p.add_argument("--phase", type=float, default=6.0, help="seconds per phase (default 6)")
    p.add_argument("--settle", type=float, default=2.5,
                   help="seconds of a fast phase left out while escalations finish (default 2.5)")
    p.add_argument("--rate", type=float, default=300.0, help="calls per second (default 300)")
    p.add_argument("--escalated", type=float, default=0.2, help="share of mixed-phase calls escalated (0.2)")
    p.add_argument("--quorum3", type=float, default=0.1, help="share of escalations needing 3 experts (0.1)")
    p.add_argument("--experts", type=int, default=6, help="simulated experts (default 6)")
    p.add_argument("--latency", default="uniform:0.2,2", help="the experts' latency (default uniform:0.2,2)")
    p.add_argument("--one-at-a-time", type=int, metavar="N", default=0,
                   help="instead of the load: N escalations one after the other (with --latency 0); CPU per "
                        "escalation of the server and the experts, overhead p50/p99")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=30.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args.deadline)
    from lighthouse.server.app import run_loop

    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, env=env, text=True)
    experts = None
    try:
        line = server.stdout.readline().split()
        if line[:1] != ["ready"]:
            raise SystemExit("the server did not start")
        port, mport = int(line[1]), int(line[2])
        experts = subprocess.Popen([sys.executable, "-m", "lighthouse.experts.sim", "--server", "127.0.0.1:%d" % port,
                                    "--id", "sim", "--count", str(args.experts), "--latency", args.latency,
                                    "--verdict", "ask", "--max-concurrent", "64"], env=env, cwd=str(ROOT),
                                   stderr=subprocess.DEVNULL)
        _wait_connected(mport, args.experts)
        if args.one_at_a_time > 0:
            report = run_loop(one_at_a_time(args.one_at_a_time, "127.0.0.1:%d" % port, (server.pid, experts.pid)))
            report.update(experts=args.experts, latency=args.latency)
            if args.json:
                print(json.dumps(report, indent=2))
            else:
                print("%d escalations one at a time (%d experts, latency %s): CPU per escalation server %.1f us, "
                      "experts %.1f us; overhead p50 %.2f ms, p99 %.2f ms" % (
                          report["calls"], args.experts, args.latency, report["server_cpu_us"] or 0,
                          report["experts_cpu_us"] or 0, report["overhead_ms"]["p50"], report["overhead_ms"]["p99"]))
            return 0
        (fast, overhead, esc_ms, slept_ms, verdicts, tiers, quorums, n, (cpu, wall),
         (outside, inside, every_sleep)) = run_loop(load(args, "127.0.0.1:%d" % port, (server.pid, experts.pid)))
        server_means, spans = _server_figures(mport)
    finally:
        for proc in (experts, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    p99_mixed, p99_fast = pct(fast["mixed"], 99), pct(fast["fast"], 99)
    report = {
        "calls": n, "rate": args.rate, "escalated_share": args.escalated, "quorum3_share": args.quorum3,
        "experts": args.experts, "latency": args.latency,
        "escalations": {"sent": quorums[1] + quorums[3], "quorum1": quorums[1], "quorum3": quorums[3],
                        "decided_by_experts": len(overhead), "verdicts": verdicts},
        "fast_tier_ms": {phase: {"count": len(v), "p50": pct(v, 50), "p99": pct(v, 99)} for phase, v in fast.items()},
        "fast_p99_ratio": (p99_mixed / p99_fast) if p99_mixed and p99_fast else None,
        "overhead_ms": {"count": len(overhead), "p50": pct(overhead, 50), "p99": pct(overhead, 99),
                        "max": max(overhead) if overhead else None,
                        "mean": statistics.fmean(overhead) if overhead else None,
                        "outside_server": {"p50": pct(outside, 50), "p99": pct(outside, 99)},
                        "inside_server": {"p50": pct(inside, 50), "p99": pct(inside, 99)}},
        "escalated_ms": {"p50": pct(esc_ms, 50), "p99": pct(esc_ms, 99),
                         "mean": statistics.fmean(esc_ms) if esc_ms else None,
                         "mean_slept": statistics.fmean(slept_ms) if slept_ms else None},
        # Means from the server's /metrics, to tell where the overhead goes: an expert's
        # answer time as the server sees it (send to answer), the expert tier's time, and
        # an escalated call's time in the server (from arrival to answer).
        "server_means_ms": server_means,
        "spans_ms": spans,
        # The experts' own time as the SDK reports it (the "expert" span) beyond the time
        # they slept, on average: the SDK's share of the overhead (reading the call,
        # building the request, the answer message, its turns of the experts' loop).
        "sdk_beyond_sleep_ms": (spans["expert"]["mean"] - statistics.fmean(every_sleep))
        if spans.get("expert") and every_sleep else None,
        # CPU (ms) per escalation: the CPU rate of a mixed phase minus that of a fast
        # phase, over the escalations of the mixed phases.
        "cpu_ms_per_escalation": {
            who: ((cpu["mixed"][i] - cpu["fast"][i] * wall["mixed"] / wall["fast"]) * 1000
                  / (quorums[1] + quorums[3])) if wall["fast"] and (quorums[1] + quorums[3]) else None
            for i, who in enumerate(("server", "experts"))},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    f = report["fast_tier_ms"]
    print("calls %d at %g/s; %d escalated (%d need 3 experts), %d decided by experts" % (
        n, args.rate, report["escalations"]["sent"], quorums[3], len(overhead)))
    print("fast-tier p50/p99 ms: mixed %.2f / %.2f, fast-only %.2f / %.2f; p99 ratio %.2f (target <= 1.5)" % (
        f["mixed"]["p50"], f["mixed"]["p99"], f["fast"]["p50"], f["fast"]["p99"], report["fast_p99_ratio"]))
    o = report["overhead_ms"]
    print("escalation overhead ms (beyond the slowest needed expert): p50 %.2f, p99 %.2f, max %.2f "
          "(target p99 <= 5)" % (o["p50"], o["p99"], o["max"]))
    print("  outside the server (Validate's gRPC round trip, this client) p50 %.2f, p99 %.2f; inside (server, "
          "expert streams, experts' SDK) p50 %.2f, p99 %.2f" % (
              o["outside_server"]["p50"], o["outside_server"]["p99"], o["inside_server"]["p50"],
              o["inside_server"]["p99"]))
    c = report["cpu_ms_per_escalation"]
    print("CPU per escalation: server %.2f ms, experts %.2f ms" % (c["server"] or 0, c["experts"] or 0))
    m = report["server_means_ms"]
    print("server means ms: expert answer (send to answer) %s, expert tier %s, escalated call in the server %s"
          % tuple("%.1f" % m[k] if m.get(k) is not None else "-"
                  for k in ("expert_answer", "expert_escalation", "escalation")))
    if report["sdk_beyond_sleep_ms"] is not None:
        print("the experts' SDK beyond their sleep (mean of the expert span minus the mean sleep): %.3f ms"
              % report["sdk_beyond_sleep_ms"])
    if spans:
        print("server spans ms (lighthouse_escalation_span_seconds; expert spans once per expert asked):")
        print("  %-8s %7s %8s %8s %8s" % ("span", "count", "mean", "p50", "p99"))
        for name, v in spans.items():
            print("  %-8s %7d %8.3f %8.3f %8.3f%s" % (name, v["count"], v["mean"], v["p50"], v["p99"],
                                                    "  (the experts' own time)" if name == "expert" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
