"""Decision time of large inputs: a Write whose content is at the rules' window, past it,
and at the hard limit (lighthouse.bounds), in-process (Validator.check) and on the
server's decision path (Decider.decide: input_json parsed, bounded, decided, encoded).

    .venv/bin/python bench/large.py [--rounds N] [--json]

Each figure is over N uncached decisions (the cache is off): median and worst, in ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from lighthouse import Validator
from lighthouse.bounds import MAX_INPUT, WINDOW
from lighthouse.server.core import Decider
from lighthouse.v1 import validation_pb2 as pb

WS = "/home/dev/app"


LINE = "x = 1  # padding\n"


def sizes():
    """Content lengths: at the window, past it, and the largest whose JSON text (where each
    newline takes two characters) is within the hard limit."""
    return [("window", WINDOW), ("1 MiB", 1 << 20),
            ("hard limit", (MAX_INPUT - 100) * len(LINE) // (len(LINE) + 1))]


def write_input(size):
    content = (LINE * (size // len(LINE) + 1))[:size]
    return {"file_path": WS + "/src/big.py", "content": content}


def timed(fn, rounds):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(out), max(out)


def run(rounds):
    validator = Validator(cache_size=0)
    decider = Decider(Validator(cache_size=0, raw=True))
    results = []
    for name, size in sizes():
        tool_input = write_input(size)
        call = pb.ToolCall(tool="Write", input_json=json.dumps(tool_input), cwd=WS)
        verdict = validator.check("Write", tool_input, WS).verdict
        v_med, v_max = timed(lambda: validator.check("Write", tool_input, WS), rounds)
        d_med, d_max = timed(lambda: decider.decide(call), rounds)
        results.append({"input": name, "chars": len(call.input_json), "verdict": verdict,
                        "validator_ms": [round(v_med, 3), round(v_max, 3)],
                        "server_ms": [round(d_med, 3), round(d_max, 3)]})
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    results = run(args.rounds)
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
        return 0
    print("%-11s %10s %-7s %22s %22s" % ("input", "chars", "verdict", "Validator.check ms", "Decider.decide ms"))
    print("%-11s %10s %-7s %22s %22s" % ("", "", "", "median / worst", "median / worst"))
    for r in results:
        print("%-11s %10d %-7s %22s %22s" % (r["input"], r["chars"], r["verdict"],
                                            "%.2f / %.2f" % tuple(r["validator_ms"]),
                                            "%.2f / %.2f" % tuple(r["server_ms"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
