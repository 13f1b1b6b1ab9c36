"""Benchmark of the expert tier under load: escalations to simulated experts over real
ExpertHub streams beside fast-tier traffic.

Three processes on this machine: the server (``lighthouse serve``'s LighthouseServer with
ExpertHub and the expert tier; a stand-in policy tier that hands every escalated call on
with a quorum of 1 or 3, so that no Rego worker takes CPU), the simulated experts
(``python -m lighthouse.experts.sim``: --experts agents answering ask after a latency
drawn uniformly from 0.2-2 s, each with its own stream) and this load generator, which
sends calls at a fixed rate (open loop) on one channel.

The run alternates phases of --phase seconds: "mixed" (--escalated of the calls are
misses escalated to the experts, --quorum3 of those need three experts) and "fast"
(fast-tier calls only). The fast-tier calls of the first --settle seconds of a fast phase
are left out, so that no escalation of the phase before is still in flight.

Figures:
  fast-tier p99, mixed vs fast phases (target: mixed <= 1.5x fast)
  escalation overhead: an escalated call's latency at the client minus the longest time
  one of its experts slept (each simulated expert says it in its reason); the rest is
  the server, the hub, the streams, the SDK and the client (target: p99 <= 5 ms)

    .venv/bin/python bench/experts.py                 # ~40 s, table
    .venv/bin/python bench/experts.py --json --duration 6 --rate 40 --phase 3
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
import socket
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLEPT = re.compile(r"slept ([0-9.]+) ms")
WS = "/home/dev/app"
FAST = ["ls -la", "git status", "cat README.md", "grep -rn TODO src", "git diff --stat", "pytest -q tests"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the server process


def serve(port, deadline):
    """The server of the benchmark: LighthouseServer with ExpertHub, whose policy stage
    is a stand-in that hands each call on with the quorum its command asks for."""
    from lighthouse.escalation import Stage, TierAnswer
    from lighthouse.server.app import LighthouseServer, ServerConfig, run_loop, setup_logging

    class HandOn:
        name = "policy"

        async def decide(self, esc):
            q = 3 if esc.tool_input.get("command", "").startswith("zzq3") else 1
            return TierAnswer("ask", "bench: experts decide", "policy:bench", escalate=True, category="bench",
                              quorum=q)

    class BenchServer(LighthouseServer):
        async def _policy_stage(self, rules):
            return Stage(HandOn(), kind="policy", backend="bench")

    setup_logging(30)
    config = ServerConfig(port=port, metrics_port=0, local_socket=False, policy=True, experts_hub=True,
                          escalation_deadline=deadline, rate_limit=0, admin_token_file=os.devnull + ".lh")
    server = BenchServer(config)
    server._write_admin_secret = False
    run_loop(server.run(ready=lambda p: print("ready", p, flush=True)))


# ------------------------------------------------------------------ the load


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def load(args, address):
    import grpc

    from lighthouse.v1 import validation_pb2 as pb
    from lighthouse.v1 import validation_pb2_grpc

    rng = random.Random(args.seed)
    counter = itertools.count()
    fast = {"mixed": [], "fast": []}
    overhead, escalated_ms, verdicts, tiers = [], [], {}, {}
    quorums = {1: 0, 3: 0}
    async with grpc.aio.insecure_channel(address) as channel:
        stub = validation_pb2_grpc.ValidatorStub(channel)
        # Warm up: the rules' cache and the connection.
        for cmd in FAST:
            await stub.Validate(pb.ToolCall(tool="Bash", input_json=json.dumps({"command": cmd}), cwd=WS))

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
                overhead.append(ms - max(slept))
                escalated_ms.append(ms)

        tasks = set()
        start = time.perf_counter()
        interval = 1.0 / args.rate
        n = 0
        while True:
            now = time.perf_counter()
            elapsed = now - start
            if elapsed >= args.duration:
                break
            k = int(elapsed // args.phase)
            phase = "mixed" if k % 2 == 0 else "fast"
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
    return fast, overhead, escalated_ms, verdicts, tiers, quorums, n


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
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=30.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        return serve(args.serve, args.deadline)
    from lighthouse.server.app import run_loop

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, env=env,
                              text=True)
    experts = None
    try:
        line = server.stdout.readline()
        if not line.startswith("ready"):
            raise SystemExit("the server did not start")
        experts = subprocess.Popen([sys.executable, "-m", "lighthouse.experts.sim", "--server", "127.0.0.1:%d" % port,
                                    "--id", "sim", "--count", str(args.experts), "--latency", args.latency,
                                    "--verdict", "ask", "--max-concurrent", "64"], env=env, cwd=str(ROOT),
                                   stderr=subprocess.DEVNULL)
        time.sleep(2.0)                 # the experts connect
        fast, overhead, esc_ms, verdicts, tiers, quorums, n = run_loop(load(args, "127.0.0.1:%d" % port))
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
                        "mean": statistics.fmean(overhead) if overhead else None},
        "escalated_ms": {"p50": pct(esc_ms, 50), "p99": pct(esc_ms, 99)},
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
