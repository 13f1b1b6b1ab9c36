"""Regression check of bench/agents.py figures (also ``lighthouse bench compare``).

Two ways:

  compare.py BASELINE.json CANDIDATE.json
      compares two reports of ``bench/agents.py --json`` (or baselines of
      bench/baselines/, which hold such a report under ``"report"``)
  compare.py --base-tree DIR [--repeat 3] [-- AGENTS OPTIONS]
      measures both in this run: bench/agents.py against a server of the tree DIR
      (run by DIR/.venv/bin/python, or --base-python) and against this tree's, the two
      alternated --repeat times so that other load on the machine weighs on both alike,
      then compares the medians

A regression is a p99 (per operation type: validation, policy, expert_escalation, and the
expert overhead) more than --threshold (0.2: 20%) above the baseline's, throughput more
than --threshold below it, or calls lost where the baseline lost none. An operation with
fewer than --min-count calls on either side is not compared (its p99 is noise). Exits 1
on a regression, 0 otherwise, 2 on bad input: it can gate a release.

    .venv/bin/python bench/compare.py bench/baselines/2026-12-04-2cpu-shared.json new.json
    .venv/bin/python bench/compare.py --base-tree /tmp/base --repeat 3 -- --agents 200 --duration 20
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPS = ("validation", "policy", "expert_escalation")


class CompareError(Exception):
    pass


def load_report(path):
    """The agents.py report in ``path`` (a report, or a baseline with one under "report")."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise CompareError("%s: %s" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise CompareError("%s: not JSON (%s)" % (path, e)) from None
    report = data.get("report", data) if isinstance(data, dict) else None
    if not isinstance(report, dict) or not isinstance(report.get("latency_ms"), dict) or \
            not isinstance(report.get("throughput_per_s"), (int, float)):
        raise CompareError("%s: not a bench/agents.py report (no throughput_per_s and latency_ms)" % path)
    return report


def figures(report):
    """{name: (value, count, higher_is_better)} of what is compared."""
    out = {"throughput_per_s": (report["throughput_per_s"], None, True)}
    for op, s in report["latency_ms"].items():
        if isinstance(s, dict) and s.get("p99") is not None:
            out["%s.p99_ms" % op] = (s["p99"], s.get("count", 0), False)
    ov = report.get("expert_overhead_ms") or {}
    if ov.get("p99") is not None:
        out["expert_overhead.p99_ms"] = (ov["p99"], ov.get("count", 0), False)
    out["lost"] = (report.get("lost", 0), None, False)
    return out


def compare(base, cand, threshold=0.2, min_count=20):
    """Rows {figure, baseline, candidate, change, regression} and whether any regressed."""
    fb, fc = figures(base), figures(cand)
    rows = []
    for name in fb:
        if name not in fc:
            continue
        (b, nb, higher), (c, nc, _) = fb[name], fc[name]
        row = {"figure": name, "baseline": b, "candidate": c, "change": None, "regression": False, "note": ""}
        if name == "lost":
            row["regression"] = b == 0 and c > 0
            row["note"] = "calls lost" if row["regression"] else ""
        elif nb is not None and (nb < min_count or nc < min_count):
            row["note"] = "fewer than %d calls: not compared" % min_count
        elif b:
            row["change"] = round(c / b - 1, 4)
            row["regression"] = row["change"] < -threshold if higher else row["change"] > threshold
        rows.append(row)
    return rows, any(r["regression"] for r in rows)


def median_report(reports):
    """A report whose compared figures are the medians of ``reports``'."""
    out = {"throughput_per_s": statistics.median(r["throughput_per_s"] for r in reports),
           "lost": max(r.get("lost", 0) for r in reports), "latency_ms": {}}
    ops = set().union(*(r["latency_ms"] for r in reports))
    for op in ops:
        vals = [r["latency_ms"][op] for r in reports if (r["latency_ms"].get(op) or {}).get("p99") is not None]
        if len(vals) == len(reports):
            out["latency_ms"][op] = {"p99": statistics.median(v["p99"] for v in vals),
                                     "count": min(v["count"] for v in vals)}
    ovs = [r.get("expert_overhead_ms") or {} for r in reports]
    if all(o.get("p99") is not None for o in ovs):
        out["expert_overhead_ms"] = {"p99": statistics.median(o["p99"] for o in ovs),
                                     "count": min(o["count"] for o in ovs)}
    return out


def run_agents(python, tree, options):
    argv = [sys.executable, str(ROOT / "bench" / "agents.py"), "--json", "--server-python", str(python),
            "--server-tree", str(tree), *options]
    proc = subprocess.run(argv, capture_output=True, text=True)
    try:
        # 1 is an endurance run's RSS verdict: the report is there all the same.
        if proc.returncode in (0, 1):
            return json.loads(proc.stdout)
    except ValueError:
        pass
    raise CompareError("bench/agents.py failed (exit %d) against %s: %s" % (proc.returncode, tree,
                                                                           proc.stderr.strip()[-1500:]))


def same_run(args, options):
    base_tree = pathlib.Path(args.base_tree).resolve()
    base_python = pathlib.Path(args.base_python or base_tree / ".venv" / "bin" / "python").absolute()
    if not (base_tree / "lighthouse" / "cli.py").is_file():
        raise CompareError("--base-tree %s: no lighthouse/cli.py there" % base_tree)
    if not base_python.is_file():
        raise CompareError("%s not found (build the base tree with `make install`, or give --base-python)"
                           % base_python)
    runs = {"baseline": [], "candidate": []}
    for _ in range(args.repeat):
        runs["baseline"].append(run_agents(base_python, base_tree, options))
        runs["candidate"].append(run_agents(sys.executable, ROOT, options))
    return median_report(runs["baseline"]), median_report(runs["candidate"]), runs


def print_rows(rows, out=sys.stdout):
    out.write("%-28s %12s %12s %9s  %s\n" % ("figure", "baseline", "candidate", "change", ""))
    for r in rows:
        out.write("%-28s %12.6g %12.6g %9s  %s\n" % (
            r["figure"], r["baseline"], r["candidate"], "-" if r["change"] is None else "%+.1f%%" % (r["change"] * 100),
            "REGRESSION" if r["regression"] else r["note"]))


def main(argv=None, prog=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    options = []
    if "--" in argv:
        k = argv.index("--")
        argv, options = argv[:k], argv[k + 1:]
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                epilog="Options after -- go to bench/agents.py (with --base-tree).")
    p.add_argument("baseline", nargs="?", help="a report or baseline JSON file")
    p.add_argument("candidate", nargs="?", help="a report JSON file")
    p.add_argument("--base-tree", metavar="DIR", help="measure a server of this source tree against this one's")
    p.add_argument("--base-python", help="the base tree's interpreter (default DIR/.venv/bin/python)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each, alternated (default 3)")
    p.add_argument("--threshold", type=float, default=0.2, help="relative change that is a regression (0.2)")
    p.add_argument("--min-count", type=int, default=20, help="calls an operation needs to be compared (20)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not 0 < args.threshold < 10 or args.repeat < 1 or args.min_count < 1:
        p.error("--threshold must be in (0, 10), --repeat and --min-count >= 1")
    if bool(args.base_tree) == bool(args.baseline and args.candidate) or (args.base_tree and args.baseline):
        p.error("give BASELINE and CANDIDATE files, or --base-tree DIR (not both)")
    try:
        extra = {}
        if args.base_tree:
            base, cand, runs = same_run(args, options)
            extra = {"runs": {k: [{"throughput_per_s": r["throughput_per_s"], "latency_ms": r["latency_ms"],
                                   "lost": r["lost"], "load_average": r["machine"]["load_average"]} for r in v]
                              for k, v in runs.items()}}
        else:
            base, cand = load_report(args.baseline), load_report(args.candidate)
        rows, regressed = compare(base, cand, args.threshold, args.min_count)
    except CompareError as e:
        print("%s: %s" % (p.prog, e), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(dict({"regression": regressed, "threshold": args.threshold, "rows": rows}, **extra),
                         indent=2))
    else:
        print_rows(rows)
        for side, reports in extra.get("runs", {}).items():
            # The spread between runs of one build is the noise a change must stand out of.
            print("%s runs: %s" % (side, "; ".join(
                "%.1f calls/s, validation p99 %s ms, load %s" % (
                    r["throughput_per_s"], r["latency_ms"]["validation"]["p99"], r["load_average"][0])
                for r in reports)))
        print("regression: %s (threshold %.0f%%)" % ("YES" if regressed else "no", args.threshold * 100))
    return 1 if regressed else 0


if __name__ == "__main__":
    sys.exit(main())
