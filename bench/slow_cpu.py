"""CPU per escalation of the slow tiers, in one process: a figure that other load on the
machine hardly moves (waiting for the CPU is not CPU time), for comparing versions on a
shared machine where the latency benchmarks (slow_path.py, experts.py) are noise.

  policy   the escalation pipeline with the policy tier (the default Rego policy on
           regorus in 2 worker processes), one call at a time, each a call never seen
           before (tests/data/policy_sample.jsonl in a fresh directory): this process's
           CPU per escalation (pipeline, input document, the pipe to the worker) and the
           workers' (Rego, framing)
  experts  the pipeline with a stand-in policy tier handing every call on to the expert
           tier, and an in-process simulated expert answering at once: this process's
           CPU per escalation (pipeline, input document, routing, the expert's request
           and answer, combining); the ExpertHub stream is not in it (see experts.py)

    .venv/bin/python bench/slow_cpu.py                   # 2000 escalations per tier
    .venv/bin/python bench/slow_cpu.py --calls 500 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lighthouse import Validator  # noqa: E402
from lighthouse.escalation import EscalationPipeline, Stage, TierAnswer  # noqa: E402
from lighthouse.experts.history import SessionHistory  # noqa: E402
from lighthouse.experts.hub import ExpertRegistry  # noqa: E402
from lighthouse.experts.sim import SimulatedExpert  # noqa: E402
from lighthouse.experts.tier import ExpertTier  # noqa: E402
from lighthouse.policy import Policy, PolicyRunner  # noqa: E402
from lighthouse.policy.tier import PolicyTier, policy_pipeline  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "policy_sample.jsonl"
WARM = 200


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def policy_cpu(calls):
    validator = Validator(raw=True)
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines() if line.strip()]
    async with PolicyRunner(Policy(), processes=2) as runner:
        # A deadline far past any evaluation: CPU is measured here, and a loaded machine
        # must not turn calls into fail-mode answers that skip the tier's work.
        pipeline = policy_pipeline(PolicyTier(runner=runner, rules=lambda: validator.policy), backend="regorus",
                                   cache_size=0, policy_deadline=10.0)
        for i in range(WARM):
            r = rows[i % len(rows)]
            await pipeline.decide(r["tool"], r["input"], "/home/dev/warm/%d" % i)
        pids = [w.process.pid for w in runner._workers]
        workers0 = sum(cpu_seconds(p) for p in pids)
        t0 = time.process_time_ns()
        for i in range(calls):
            r = rows[i % len(rows)]
            out = await pipeline.decide(r["tool"], r["input"], "/home/dev/ws/%d" % i, agent_id="bench",
                                        session_id="s")
            if out is None or out.tier != "policy":
                raise SystemExit("the policy tier did not decide %r: %r" % (r["input"], out))
        main_us = (time.process_time_ns() - t0) / calls / 1e3
        workers_us = (sum(cpu_seconds(p) for p in pids) - workers0) / calls * 1e6
    return {"calls": calls, "server_cpu_us": round(main_us, 1), "workers_cpu_us": round(workers_us, 1)}


class _HandOn:
    name = "policy"

    async def decide(self, esc):
        return TierAnswer("ask", "bench: experts decide", "policy:bench", escalate=True, category="bench", quorum=1)


async def experts_cpu(calls):
    validator = Validator(raw=True)
    registry = ExpertRegistry()
    registry.add(SimulatedExpert("sim", "ask", "0", capacity=64))
    tier = ExpertTier(registry, rules=lambda: validator.policy, history=SessionHistory(1024))
    pipeline = EscalationPipeline([Stage(_HandOn(), kind="policy", backend="bench"),
                                   Stage(tier, kind="expert", backend="experts")], cache_size=0)
    for i in range(WARM):
        await pipeline.decide("Bash", {"command": "zzwarm-%d --flag" % i}, "/home/dev/app")
    t0 = time.process_time_ns()
    for i in range(calls):
        # A program never seen before each time, as the benchmark's escalations are.
        out = await pipeline.decide("Bash", {"command": "zzq1-%d --flag x" % i}, "/home/dev/app", agent_id="bench",
                                    session_id="s%d" % (i % 9))
        if out is None or out.tier != "expert":
            raise SystemExit("the expert tier did not decide: %r" % (out,))
    return {"calls": calls, "server_cpu_us": round((time.process_time_ns() - t0) / calls / 1e3, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=2000, help="escalations per tier (default 2000)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.calls < 1:
        p.error("--calls must be at least 1")
    report = {"policy": asyncio.run(policy_cpu(args.calls)), "experts": asyncio.run(experts_cpu(args.calls))}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    pol, exp = report["policy"], report["experts"]
    print("CPU per escalation, %d escalations per tier, one at a time:" % args.calls)
    print("  policy tier:  this process %.1f us, the policy workers %.1f us" % (pol["server_cpu_us"],
                                                                               pol["workers_cpu_us"]))
    print("  expert tier:  this process %.1f us (in-process expert, no stream)" % exp["server_cpu_us"])


if __name__ == "__main__":
    main()
