"""Instructions per uncached decision of the compiled validator, counted by callgrind.

Wall-clock figures on a shared machine move with whatever else runs; an instruction
count does not. This runs the development corpus through a compiled Checker with the
cache off under `valgrind --tool=callgrind`, counting only inside Checker.check:
PASSES_FEW passes over the corpus, then PASSES more, callgrind's counts dumped after each
part (at a marker call, MARKER), and reports the second part per call, so start-up and
first-call work (lazy compiles, filled memos) are left out. (The same figure as the
difference of two runs of PASSES_FEW and PASSES_FEW + PASSES passes, which a callgrind
run repeats exactly, in one run: the start-up under valgrind, most of a run's time, is
paid once.) Instructions are not time (a cache miss costs more than an add), but a
change that removes work shows up here the same on a loaded machine as on a quiet one.

    .venv/bin/python bench/instructions.py                 # this checkout
    .venv/bin/python bench/instructions.py --tree ../old   # another checkout, its .venv
    .venv/bin/python bench/instructions.py --json
    .venv/bin/python bench/instructions.py --cache --tree ../old   # and simulated misses

Instructions are not the whole per-call cost: a check touches much code and many tables
once, so cache misses and mispredicted branches, which callgrind does not count by
default, can make a change whose instruction count grows by 8% cost 15% in wall clock.
--cache runs callgrind's cache and branch simulators as well (about twice as slow) and
reports, per call, the first-level instruction and data cache misses and the
mispredicted conditional and indirect branches. The simulated caches are callgrind's
model of this machine's, not its counters, but the same model for both trees.

Needs valgrind (Debian's `valgrind` package).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSES_FEW = 2

# The loop run under callgrind, from the checkout being measured.
LOOP = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from lighthouse import _fast
from lighthouse.rules.loader import engine_specs, load_policy
impls = _fast.implementations()
if "compiled" not in impls:
    sys.exit("the compiled implementation is not built in " + sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as fh:
    cases = [json.loads(line) for line in fh if line.strip()]
work = [(c["tool"], c["input"], c["cwd"]) for c in cases]
policy = load_policy()
mod = impls["compiled"][1]
check = mod.Checker(mod.Engine(engine_specs(policy), policy.programs), 1, 0, 3600.0, "ask", False).check
for passes in (int(sys.argv[3]), int(sys.argv[4])):
    for _ in range(passes):
        for tool, inp, cwd in work:
            check(tool, inp, cwd)
    os.getppid()        # MARKER: callgrind dumps what it counted so far as it enters getppid
"""
# The C function the loop calls between its two parts, and nowhere else (count() checks).
MARKER = "getppid"


def default_corpus(tree):
    shared = tree.parent / "shared" / "corpus" / "dev.jsonl"
    return shared if shared.exists() else tree / "tests" / "data" / "dev.jsonl"


# callgrind's events with --cache-sim=yes --branch-sim=yes, and the ones --cache reports
SIM_EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bc", "Bcm", "Bi", "Bim")
# (last-level misses are left out: the simulated last level holds the whole working set,
# so they are the start-up's, and the difference of two runs is noise around zero)
CACHE_FIGURES = {"i1_misses": ("I1mr",), "d1_misses": ("D1mr", "D1mw"),
                 "cond_mispredicts": ("Bcm",), "indirect_mispredicts": ("Bim",)}


def count(tree, corpus, passes, workdir, cache=False):
    """What callgrind collected inside Checker.check over `passes` passes that follow
    PASSES_FEW passes: a dict of the events counted (Ir, the instructions; with cache,
    SIM_EVENTS)."""
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit("no %s: build that checkout first (make install)" % python)
    script = pathlib.Path(workdir) / "loop.py"
    script.write_text(LOOP, encoding="utf-8")
    out = pathlib.Path(workdir) / "callgrind.out"
    env = dict(os.environ, PYTHONHASHSEED="0")
    sim = ["--cache-sim=yes", "--branch-sim=yes"] if cache else []
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=*7Checker_*check", *sim,
                           "--dump-before=" + MARKER, "--callgrind-out-file=%s" % out, str(python), str(script),
                           str(tree), str(corpus), str(PASSES_FEW), str(passes)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit("callgrind run failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    # out.1: the first part, dumped as the loop's first marker call began; out.2 the second
    # part, at the second; out itself, the rest of the run (none of it in Checker.check).
    dumps = sorted(out.parent.glob(out.name + ".*"))
    if [d.name for d in dumps] != [out.name + ".1", out.name + ".2"]:
        raise SystemExit("callgrind dumped %d times, not at the loop's 2 calls of %s: %s"
                         % (len(dumps), MARKER, proc.stderr[-2000:]))
    return _totals(out.parent / (out.name + ".2"))


def _totals(path):
    """{event: count} of a callgrind output file (its events and totals lines)."""
    events = totals = None
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("totals:"):
            totals = [int(v) for v in line.split()[1:]]
    if events is None or totals is None:
        raise SystemExit("%s: no events or totals line" % path)
    return dict(zip(events, totals + [0] * (len(events) - len(totals))))


def measure(tree, corpus, passes, cache=False):
    with open(corpus, encoding="utf-8") as fh:
        calls = sum(1 for line in fh if line.strip())
    with tempfile.TemporaryDirectory(prefix="lighthouse-instructions-") as workdir:
        counted = count(tree, corpus, passes, workdir, cache)
    if cache and set(counted) != set(SIM_EVENTS):
        raise SystemExit("callgrind counted %s, not the events of its simulators %s"
                         % (" ".join(counted), " ".join(SIM_EVENTS)))
    n = passes * calls
    res = {"tree": str(tree), "corpus": str(corpus), "calls": calls, "passes": passes,
           "instructions_per_call": round(counted["Ir"] / n)}
    if cache:
        for name, events in CACHE_FIGURES.items():
            res[name + "_per_call"] = round(sum(counted[e] for e in events) / n, 1)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", type=pathlib.Path, default=ROOT,
                    help="checkout to measure, with its own .venv (default: this one)")
    ap.add_argument("--corpus", type=pathlib.Path, default=None,
                    help="JSONL of calls (tool, input, cwd); default: the development corpus")
    ap.add_argument("--passes", type=int, default=10, help="passes counted (default 10)")
    ap.add_argument("--cache", action="store_true",
                    help="also simulate the caches and branch predictor: misses and mispredicts per call")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.passes < 1:
        raise SystemExit("--passes must be at least 1")
    tree = args.tree.resolve()
    corpus = (args.corpus or default_corpus(tree)).resolve()
    print("counting %d passes over %s under callgrind (tens of seconds) ..." % (args.passes, corpus.name),
          file=sys.stderr)
    res = measure(tree, corpus, args.passes, args.cache)
    if args.json:
        print(json.dumps(res))
    else:
        print("%s: %d instructions per uncached call (%d calls, %d passes)"
              % (res["tree"], res["instructions_per_call"], res["calls"], res["passes"]))
        if args.cache:
            print("  per call: %.1f I1 misses, %.1f D1 misses, %.1f conditional and "
                  "%.1f indirect branches mispredicted"
                  % tuple(res[name + "_per_call"] for name in CACHE_FIGURES))


if __name__ == "__main__":
    main()
