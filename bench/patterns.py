"""Benchmark of learned patterns: how many would-be expert escalations a pattern answers.

A simulated agent workload: calls drawn from templates with varying arguments, as agents
produce them (``pytest tests/unit/test_<mod>.py -k <name>``, ``terraform plan -out
<name>.tfplan`` in another module, a Write of ``src/<mod>/<name>.py``, ...), from several
workspaces. Each call goes through the real fast tiers (the shipped rule packs, compiled
when built); a call they leave to the slow tiers (a miss) goes through the real
escalation pipeline, configured as ``lighthouse serve --no-policy`` with experts: the
pattern tier, then the expert tier with two in-process simulated experts answering allow
with ``scope = "shape"`` (and no latency: the figures are counts, and lookup times). A
rule's ask is escalated too (as while an expert is connected), unless the rule says
``escalate = false``. The
pattern book is a real SQLite file in a temporary directory; a pattern is active after two
agreeing answers (the default), learned on the tier's background thread as in the
server (calls are sent one after the other, so a call may come before the answers just
given are learned).

Figures:
  after warm-up (the first --warmup share of the calls): the share of would-be escalations
  answered by the pattern tier (target >= 0.85) and the expert calls saved;
  the pattern tier's lookup cost per call (target: within 2x of a tier-0 hit), timed in
  the same run on the calls that escalated:
    lookup        what the tier adds to a call that reaches it for the first time
                  (PatternTier.lookup, its memory of answers, the PatternIndex, emptied
                  before each round): the call's key, its shape, from the commands the rule
                  engine parsed for it (handed on with the escalation, as the server does),
                  and the in-memory lookup (the workload's exact repeats, 13% of the timed
                  calls, have no parse, since the rules answer them from their cache: the
                  tier remembers its answer from the first of them in the round);
    lookup_shaped the same over the calls the index must shape (not those it settles
                  without a shape: no pattern of their tool in their context, or none led
                  by the program of their first command; first_lookups_skipped_share);
    lookup+parse  the same when no call has a parse handed on (each is parsed again);
    repeated      a call the tier answered before (its answer remembered: the call's key
                  and one dictionary lookup);
    tier-0 hit    a repeated call answered by the decision cache: the Checker's (what
                  bench/fast.py times, ~200 ns compiled) and the Validator's (the public
                  API, with its bounds on the input; what the server calls when the call
                  names a home).

    .venv/bin/python bench/patterns.py                    # 3000 calls, table
    .venv/bin/python bench/patterns.py --json --calls 400

``--first-lookups N`` skips the timed figures: after the workload it looks each timed call
up for the first time (the tier's memory emptied) N times over and exits, for an
instruction count of the first lookup alone under callgrind:

    valgrind --tool=callgrind --toggle-collect='*PatternIndex_find' \
        .venv/bin/python bench/patterns.py --first-lookups 5 --timing-calls 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HOME = "/home/dev"
WORKSPACES = ["/home/dev/app", "/home/dev/svc-billing", "/home/dev/infra", "/work/monorepo"]
MODS = ["auth", "billing", "core", "api", "db", "cache", "queue", "search", "users", "orders", "ui", "jobs"]
NAMES = ["foo", "bar", "login", "refund", "retry", "timeout", "parse", "render", "migrate", "sync", "edge", "unicode"]
ENVS = ["staging", "dev"]


def templates(rng):
    """Functions returning one (tool, tool_input) call each, as an agent repeats itself:
    the same commands with other files, test names, numbers. Most are routine calls the
    rules settle (as in real sessions); the rest are what they leave to the slow tiers:
    the project's own tools and scripts (misses) and changes the rules ask about
    (escalating asks)."""
    m, n, k = rng.choice(MODS), rng.choice(NAMES), rng.randint(1, 500)
    env = rng.choice(ENVS)
    return [
        # settled by the rules
        lambda: ("Bash", {"command": "pytest tests/unit/test_%s.py -k %s" % (m, n)}),
        lambda: ("Bash", {"command": "terraform plan -out %s.tfplan" % n}),
        lambda: ("Bash", {"command": "npm run build:%s" % env}),
        lambda: ("Bash", {"command": "cargo test %s --release" % n}),
        lambda: ("Bash", {"command": "ruff check src/%s/%s.py" % (m, n)}),
        lambda: ("Bash", {"command": "tail -n %d logs/%s.log" % (k, m)}),
        lambda: ("Write", {"file_path": "src/%s/%s.py" % (m, n), "content": "x = 1\n"}),
        lambda: ("Edit", {"file_path": "tests/test_%s.py" % n, "old_string": "a", "new_string": "b"}),
        # misses: the project's own tools
        lambda: ("Bash", {"command": "./scripts/gen_fixtures.sh %s %d" % (n, k)}),
        lambda: ("Bash", {"command": "./scripts/db/seed.sh --rows %d %s" % (k, m)}),
        lambda: ("Bash", {"command": "bin/loadtest --users %d --duration %ds" % (k, rng.randint(5, 60))}),
        lambda: ("Bash", {"command": "codegen --schema schema/%s.graphql --out gen/%s" % (m, m)}),
        lambda: ("Bash", {"command": "zzlint --fix src/%s/%s.py" % (m, n)}),
        # escalating asks
        lambda: ("Bash", {"command": "kubectl apply -f k8s/%s.yaml" % m}),
        lambda: ("Bash", {"command": "helm upgrade %s charts/%s" % (m, m)}),
        lambda: ("Bash", {"command": "kubectl rollout restart deploy/%s -n %s" % (m, env)}),
        lambda: ("Bash", {"command": "ssh %s-%d uptime" % (env, rng.randint(1, 9))}),
    ]


def workload(count, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        tool, tool_input = rng.choice(templates(rng))()
        cwd = rng.choice(WORKSPACES)
        if tool_input.get("command", "").startswith("terraform"):
            cwd = cwd + "/modules/" + rng.choice(MODS)
        out.append((tool, tool_input, cwd))
    return out


async def run(args):
    from lighthouse import Validator
    from lighthouse._fast import IMPLEMENTATION
    from lighthouse.escalation import Escalation, EscalationPipeline, Stage
    from lighthouse.experts.hub import ExpertRegistry
    from lighthouse.experts.sim import SimulatedExpert
    from lighthouse.experts.stats import ExpertStats
    from lighthouse.experts.tier import ExpertTier
    from lighthouse.patterns import PatternBook, PatternTier
    from lighthouse.policy.input import RuleFactsSource

    calls = workload(args.calls, args.seed)
    validator = Validator(raw=True)
    # The programs' table of the rules in force, as the server gives it (RuleFactsSource,
    # built once per policy; asked once per call shaped).
    facts = RuleFactsSource(lambda: validator.policy)
    facts.prepare()
    tmp = tempfile.TemporaryDirectory(prefix="lh-bench-patterns-")
    book = PatternBook(str(pathlib.Path(tmp.name) / "patterns.db"))
    ptier = PatternTier(book, programs=facts.programs)
    registry = ExpertRegistry(8, ExpertStats())
    experts = [SimulatedExpert("sim-%d" % i, "allow", "0", scope="shape") for i in (1, 2)]
    for e in experts:
        registry.add(e)
    etier = ExpertTier(registry, learner=ptier.learner)
    pipeline = EscalationPipeline([Stage(ptier, kind="pattern"), Stage(etier, kind="expert")], cache_size=0)
    warm = int(len(calls) * args.warmup)
    counts = {"calls": 0, "escalations": 0, "pattern": 0, "expert": 0, "other": 0}
    after = dict(counts)
    escalated = []
    for k, (tool, tool_input, cwd) in enumerate(calls):
        d = validator.check(tool, tool_input, cwd=cwd, home=HOME)
        c = counts if k < warm else after
        c["calls"] += 1
        if d.verdict == "miss":
            why = "miss"
        elif d.verdict == "ask" and validator.escalates(d.rule_id):
            why = "ask"
        else:
            continue
        c["escalations"] += 1
        # What the engine parsed the call into, as the server hands it on.
        parsed = validator.parsed(tool_input.get("command"), cwd, HOME) if tool == "Bash" else None
        escalated.append(Escalation(tool, tool_input, cwd, HOME, "bench", "", why, d.rule_id, parsed=parsed))
        out = await pipeline.decide(tool, tool_input, cwd, HOME, agent_id="bench", why=why, rule_id=d.rule_id,
                                    parsed=parsed)
        c[out.tier if out.tier in ("pattern", "expert") else "other"] += 1
        # The simulated experts answer at once, where real ones take 0.2 s or more: the
        # learning thread gets the time it has in a server before the next call (without
        # this wait the loop never lets it run and nothing is learned until the end).
        while ptier.pending:
            await asyncio.sleep(0.0005)
    asked = sum(e.calls for e in experts)
    unshaped = book.unshaped
    skipped = book.skipped
    ptier.close()                   # the answers still waiting to be learned
    # Costs per call, on the calls that escalated (after learning: most are hits): what the
    # pattern tier adds, with the engine's parse and without it, against tier-0 hits of the
    # same calls.
    sample = escalated[: args.timing_calls]
    if args.first_lookups:
        for _ in range(args.first_lookups):
            ptier.forget()
            for e in sample:
                ptier.lookup(e)
        result = {"implementation": IMPLEMENTATION, "first_lookups": args.first_lookups * len(sample),
                  "pattern_hit_ratio": round(after["pattern"] / after["escalations"], 4) if after["escalations"]
                  else 0.0}
        book.close()
        tmp.cleanup()
        return result
    reparse = [replace(e, parsed=None) for e in sample]
    lookup = ptier.lookup

    def best(fn, rounds=args.rounds):
        per = []
        n = max(1, len(shaped)) if fn is first_time_shaped else len(sample)
        for _ in range(rounds):
            if fn is not repeated:
                forget()                # every call reaches the tier for the first time
            t0 = time.perf_counter_ns()
            fn()
            per.append((time.perf_counter_ns() - t0) / n)
        return min(per), statistics.median(per)

    def with_parse():
        for e in sample:
            lookup(e)

    # The calls whose first lookup the index settles without a shape (no pattern of
    # their tool in their context, or none led by their program), and the others.
    ptier.forget()
    shaped = []
    for e in sample:
        before = book.skipped
        lookup(e)
        if book.skipped == before:
            shaped.append(e)
    skipped_share = 1 - len(shaped) / len(sample)

    def first_time_shaped():
        for e in shaped:
            lookup(e)

    def without_parse():
        for e in reparse:
            lookup(e)

    repeated = with_parse               # the tier remembers the shapes of the calls it saw
    forget = ptier.forget

    cached = Validator(raw=True)
    checker = cached.checker
    for e in sample:
        cached.check(e.tool, e.tool_input, cwd=e.cwd, home=HOME)

    def tier0_validator():
        for e in sample:
            cached.check(e.tool, e.tool_input, cwd=e.cwd, home=HOME)

    def tier0_checker():
        for e in sample:
            checker.check(e.tool, e.tool_input, e.cwd, None, HOME)

    hits_before = book.hits
    figures = {}
    # interleaved rounds, so that a burst of load on the machine falls on every figure
    def first_time():
        with_parse()

    def first_time_parsing():
        without_parse()

    for name, fn in (("tier0_checker", tier0_checker), ("tier0_validator", tier0_validator),
                     ("lookup", first_time), ("lookup_shaped", first_time_shaped),
                     ("lookup_and_parse", first_time_parsing), ("lookup_repeated", repeated)) * 3:
        b, m = best(fn, max(1, args.rounds // 3))
        old = figures.get(name)
        figures[name] = (min(b, old[0]), min(m, old[1])) if old else (b, m)
    lookup_hits = (book.hits - hits_before) / ((len(sample) * 3 + len(shaped)) * 3 * max(1, args.rounds // 3))
    result = {
        "implementation": IMPLEMENTATION,
        "calls": len(calls), "warmup_calls": warm, "seed": args.seed,
        "escalations": counts["escalations"] + after["escalations"],
        "after_warmup": after,
        "pattern_hit_ratio": round(after["pattern"] / after["escalations"], 4) if after["escalations"] else 0.0,
        "expert_calls": asked,
        "expert_calls_saved": counts["pattern"] + after["pattern"],
        "patterns": book.counts(),
        "shapeless_escalations": unshaped, "skipped_escalations": skipped,
        "timed_calls": len(sample), "timed_lookup_hit_share": round(lookup_hits, 3),
        "first_lookups_skipped_share": round(skipped_share, 3),
        "ns_per_call": {k: round(v[1], 1) for k, v in figures.items()},
        "best_ns_per_call": {k: round(v[0], 1) for k, v in figures.items()},
        "ratio_to_tier0": {"lookup_vs_checker_hit": round(figures["lookup"][1] / figures["tier0_checker"][1], 2),
                           "lookup_shaped_vs_checker_hit": round(
                               figures["lookup_shaped"][1] / figures["tier0_checker"][1], 2),
                           "lookup_vs_validator_hit": round(figures["lookup"][1] / figures["tier0_validator"][1], 2),
                           "lookup_and_parse_vs_checker_hit": round(
                               figures["lookup_and_parse"][1] / figures["tier0_checker"][1], 2),
                           "lookup_repeated_vs_checker_hit": round(
                               figures["lookup_repeated"][1] / figures["tier0_checker"][1], 2),
                           "lookup_repeated_vs_validator_hit": round(
                               figures["lookup_repeated"][1] / figures["tier0_validator"][1], 2)},
    }
    book.close()
    tmp.cleanup()
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000, help="calls of the workload (default 3000)")
    p.add_argument("--warmup", type=float, default=0.2, help="share of the calls that is warm-up (default 0.2)")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--timing-calls", type=int, default=300, help="escalated calls the costs are timed on")
    p.add_argument("--rounds", type=int, default=15, help="timing rounds (the median is reported)")
    p.add_argument("--first-lookups", type=int, default=0, metavar="N",
                   help="only look the timed calls up for the first time, N rounds (for callgrind), then exit")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(run(args))
    if args.first_lookups:
        print(json.dumps(r))
        return 0
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    a = r["after_warmup"]
    print("implementation %s, %d calls (%d warm-up), %d would-be escalations" % (
        r["implementation"], r["calls"], r["warmup_calls"], r["escalations"]))
    print("after warm-up: %d escalations, %d answered by a pattern, %d by experts: pattern hit ratio %.3f "
          "(target >= 0.85)" % (a["escalations"], a["pattern"], a["expert"], r["pattern_hit_ratio"]))
    print("expert calls: %d made, %d saved by patterns; patterns %s; escalations without a shape: %d, not "
          "shaped (no pattern could answer): %d" % (r["expert_calls"], r["expert_calls_saved"], r["patterns"],
                                                    r["shapeless_escalations"], r["skipped_escalations"]))
    print("lookup cost on %d escalated calls (%.0f%% of the lookups hit a pattern; %.0f%% of the first lookups "
          "settled without a shape), ns per call:" % (
              r["timed_calls"], 100 * r["timed_lookup_hit_share"], 100 * r["first_lookups_skipped_share"]))
    for what, ns in (("median", r["ns_per_call"]), ("best", r["best_ns_per_call"])):
        print("  %-6s tier-0 hit: checker %.0f, validator %.0f; pattern tier lookup %.0f (%.2fx the checker's "
              "hit, %.2fx the validator's; of the calls it shapes %.0f, %.2fx); parsing the call again %.0f "
              "(%.1fx); a call the tier saw before %.0f (%.2fx the checker's hit, %.2fx the validator's)" % (
                  what, ns["tier0_checker"], ns["tier0_validator"], ns["lookup"],
                  ns["lookup"] / ns["tier0_checker"], ns["lookup"] / ns["tier0_validator"],
                  ns["lookup_shaped"], ns["lookup_shaped"] / ns["tier0_checker"],
                  ns["lookup_and_parse"], ns["lookup_and_parse"] / ns["tier0_checker"],
                  ns["lookup_repeated"], ns["lookup_repeated"] / ns["tier0_checker"],
                  ns["lookup_repeated"] / ns["tier0_validator"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
