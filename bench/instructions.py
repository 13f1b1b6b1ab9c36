"""Instructions per uncached decision of the compiled validator, counted by callgrind.

Wall-clock figures on a shared machine move with whatever else runs; an instruction
count does not. This runs the development corpus through a compiled Checker with the
cache off under `valgrind --tool=callgrind`, counting only inside Checker.check, twice
(PASSES_FEW and PASSES_FEW + PASSES passes over the corpus), and reports the
difference per call, so start-up and first-call work (lazy compiles, filled memos) are
left out. Instructions are not time (a cache miss costs more than an add), but a change
that removes work shows up here the same on a loaded machine as on a quiet one.

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
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PASSES_FEW = 2

# The loop run under callgrind, from the checkout being measured.
LOOP = """
import json, sys
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
for _ in range(int(sys.argv[3])):
    for tool, inp, cwd in work:
        check(tool, inp, cwd)
"""


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
    """What callgrind collected inside Checker.check over `passes` passes: the number
    of instructions, or with cache a dict of SIM_EVENTS."""
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit("no %s: build that checkout first (make install)" % python)
    script = pathlib.Path(workdir) / "loop.py"
    script.write_text(LOOP, encoding="utf-8")
    out = pathlib.Path(workdir) / ("callgrind.%d.out" % passes)
    env = dict(os.environ, PYTHONHASHSEED="0")
    sim = ["--cache-sim=yes", "--branch-sim=yes"] if cache else []
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=*7Checker_*check", *sim,
                           "--callgrind-out-file=%s" % out, str(python), str(script), str(tree),
                           str(corpus), str(passes)],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit("callgrind run failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    found = re.search(r"Collected : ([\d ]+)", proc.stderr)
    if found is None:
        raise SystemExit("callgrind printed no instruction count:\n" + proc.stderr[-2000:])
    values = [int(v) for v in found.group(1).split()]
    if not cache:
        return values[0]
    if len(values) != len(SIM_EVENTS):
        raise SystemExit("callgrind printed %d event counts, not the %d of its simulators: %s"
                         % (len(values), len(SIM_EVENTS), found.group(0)))
    return dict(zip(SIM_EVENTS, values))


def measure(tree, corpus, passes, cache=False):
    with open(corpus, encoding="utf-8") as fh:
        calls = sum(1 for line in fh if line.strip())
    with tempfile.TemporaryDirectory(prefix="lighthouse-instructions-") as workdir:
        few = count(tree, corpus, PASSES_FEW, workdir, cache)
        many = count(tree, corpus, PASSES_FEW + passes, workdir, cache)
    n = passes * calls
    res = {"tree": str(tree), "corpus": str(corpus), "calls": calls, "passes": passes}
    if not cache:
        res["instructions_per_call"] = round((many - few) / n)
        return res
    res["instructions_per_call"] = round((many["Ir"] - few["Ir"]) / n)
    for name, events in CACHE_FIGURES.items():
        res[name + "_per_call"] = round(sum(many[e] - few[e] for e in events) / n, 1)
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
