"""Policy tier benchmark: default-policy decisions per second with regorus on one thread,
p50/p99 per evaluation, the cost of building input documents, and whether an evaluation
holds the GIL (how long a thread that evaluates stops the main thread).

    .venv/bin/python bench/policy.py [--seconds 2] [--json]

Inputs are the input documents of tests/data/policy_sample.jsonl (calls the shipped
rules miss), built once; the evaluation timings exclude building them.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lighthouse.policy import Policy, build_input  # noqa: E402

SLOW = ('package slow\nimport rego.v1\n'
        'n := count([x | some x in numbers.range(1, %d); x %% 7 == 0])\n')


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def load_calls(limit=None):
    with open(ROOT / "tests" / "data" / "policy_sample.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return rows[:limit] if limit else rows


def measure_evaluations(policy, docs, seconds):
    times = []
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end or n < len(docs):
        doc = docs[n % len(docs)]
        t = time.perf_counter_ns()
        policy.evaluate(doc)
        times.append(time.perf_counter_ns() - t)
        n += 1
    times.sort()
    total = sum(times) / 1e9
    return {"evaluations": n, "per_s": n / total, "p50_us": percentile(times, 0.5) / 1e3,
            "p99_us": percentile(times, 0.99) / 1e3, "max_us": times[-1] / 1e3}


def measure_inputs(calls):
    t = time.perf_counter()
    for c in calls:
        build_input(c["tool"], c["input"], cwd=c["cwd"], home=c.get("home", ""))
    return (time.perf_counter() - t) / len(calls) * 1e6


def longest_gap(seconds):
    """Run the main thread for `seconds`; the longest time between two iterations."""
    last = time.perf_counter()
    end = last + seconds
    gap = 0.0
    while last < end:
        now = time.perf_counter()
        gap = max(gap, now - last)
        last = now
    return gap


def measure_gil(range_size):
    """One slow evaluation's time, and the longest stall of the main thread while another
    thread evaluates it in a loop: a stall as long as an evaluation means regorus holds
    the GIL throughout."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "slow.rego"), "w") as fh:
            fh.write(SLOW % range_size)
        policy = Policy([d], default=False, entrypoint="data.slow.n")
        t = time.perf_counter()
        policy.evaluate_raw({})
        one = time.perf_counter() - t
        alone = longest_gap(max(0.2, one * 2))
        stop = threading.Event()

        def loop():
            p = Policy([d], default=False, entrypoint="data.slow.n")
            while not stop.is_set():
                p.evaluate_raw({})

        th = threading.Thread(target=loop)
        th.start()
        time.sleep(one * 2 + 0.1)                # its compile and first evaluation
        busy = longest_gap(max(0.5, one * 4))
        stop.set()
        th.join()
    return {"evaluation_ms": one * 1e3, "main_thread_longest_stall_alone_ms": alone * 1e3,
            "main_thread_longest_stall_with_evaluating_thread_ms": busy * 1e3,
            "holds_gil": busy >= one * 0.8}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    ap.add_argument("--calls", type=int, default=None, help="use only the first N calls of the sample")
    ap.add_argument("--gil-range", type=int, default=300000, help="size of the slow policy's loop")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    calls = load_calls(args.calls)
    t = time.perf_counter()
    policy = Policy()
    load_ms = (time.perf_counter() - t) * 1e3
    docs = [build_input(c["tool"], c["input"], cwd=c["cwd"], home=c.get("home", "")) for c in calls]
    res = {
        "calls": len(calls),
        "policy_load_ms": load_ms,
        "input_build_us": measure_inputs(calls),
        "regorus_single_thread": measure_evaluations(policy, docs, args.seconds),
        "gil": measure_gil(args.gil_range),
    }
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    r = res["regorus_single_thread"]
    g = res["gil"]
    print("policy tier, default policy, %d sample calls (rules miss them all)" % res["calls"])
    print("  load + compile:        %.1f ms" % res["policy_load_ms"])
    print("  input document build:  %.0f us per call" % res["input_build_us"])
    print("  regorus, one thread:   %.0f decisions/s, p50 %.0f us, p99 %.0f us, max %.0f us"
          % (r["per_s"], r["p50_us"], r["p99_us"], r["max_us"]))
    print("  GIL: one slow evaluation takes %.0f ms; a thread evaluating it stalls the main thread "
          "for up to %.0f ms (%.1f ms without it): %s"
          % (g["evaluation_ms"], g["main_thread_longest_stall_with_evaluating_thread_ms"],
             g["main_thread_longest_stall_alone_ms"],
             "regorus holds the GIL while it evaluates" if g["holds_gil"] else "regorus releases the GIL"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
