"""Server throughput with the audit log off, in its default mode and with --audit-sync, in one run.

Three ``lighthouse serve`` subprocesses (fast tiers only, as bench/agents.py --fast-tiers runs
them) get the same load from this process, phase after phase, alternating between them
(--repeat times) so that other load on the machine weighs on all three alike:

  off      --no-audit
  default  --audit-db (a fresh file): answered first, committed every 5 ms
  sync     --audit-db --audit-sync: answered once committed and fsynced

Reported per phase and server: calls/s (answered; a batch's refused calls are errors),
records committed/s (the audit log's counter: answered calls may only be queued, and
the queue holds over 100,000, so a short batch phase can answer more than the writer
commits), client-side p50/p99, server CPU per call (the writer process's encoding and
SQLite's work included), and the throughput of default and sync as a ratio to off
(targets: default >= 0.90, sync >= 0.70). At the end each log is
verified and its record count compared with the calls the server answered.

Each phase is a closed loop: every agent (unary, stream) or batch sender waits for its
answer before sending again, so the calls in flight are fixed (200 agents; 4 senders of
100-call batches). A sync server answers a call only after the commit and fsync of its
record, so there its rate is at most the calls in flight over the commit latency: the
phases as given could measure that latency rather than the server's throughput.
``--wide F`` (default 8) therefore runs ``--wide-phases`` (default batch) again at F
times the calls in flight (F x the batch senders; F x the agents for unary and stream),
reported as ``batch x8``: audit off is saturated at both (compare its rate in the two),
so if the sync mode were latency-bound its rate would grow with F. (On the 2-core
development machine it does not: 4 and 32 senders of 100-call batches got the same
--audit-sync rate, bound by the writer's CPU beside the server's and the load
generator's, not by the commit latency. Streams at x8, 1600 of them, overload this
load generator itself: audit off's rate falls.) The servers' records per commit over
the run are reported too: group commit at work.

    python bench/audit.py                              # 200 agents, 3 s per phase
    python bench/audit.py --phases unary,stream --repeat 3 --json

``--base TREE`` runs the same three servers from another checkout too (its
``.venv/bin/python``, its sources: a worktree of the commit to compare with), in the
same alternation, and reports both trees' ratios: an A/B of a change measured in one run.

    python bench/audit.py --base ../wt-base --phases unary,stream,batch --repeat 3

``--writer B[,B...]`` times the writer process alone instead (lighthouse.audit.process on
a new SQLite file, fed --writer-records synthetic entries of 200 agents in commits of B
records, each sent once the previous one is acknowledged): records/s and its CPU per
record, for this tree and the --base one, alternating --repeat times.

    python bench/audit.py --writer 250,65536 --base ../wt-base

``--writer-every MS`` sends a message of B records every MS milliseconds instead,
without waiting for its acknowledgement, as the server hands records over (the writer
then commits as it would behind a server: it gathers messages), and reports the records
per commit and how long after the last message its records were committed. The CPU per
record leaves out the writer's start (imports, opening the store).

    python bench/audit.py --writer 100 --writer-every 5 --writer-records 100000 --base ../wt-base

``--query-records N`` also builds an N-record log (synthetic records in the writer's
format, chained, appended through the store in batches of 50,000) and times ``lighthouse
audit query`` filters on it, each in a process of its own as an operator runs it;
``--query-dsn postgresql://...`` builds and queries the same log in that (empty)
PostgreSQL database too; ``--query-only`` skips the throughput phases.

    python bench/audit.py --query-only --query-records 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from agents import CORPUS, Server, load_calls, measure_phases as measure, serve_options  # noqa: E402

MODES = {"off": ["--no-audit"], "default": ["--audit-db", "{db}"], "sync": ["--audit-db", "{db}", "--audit-sync"]}


def writer_times(args):
    """The writer process alone, per tree and commit size (see the module's text)."""
    import marshal
    import resource
    import struct
    from lighthouse.audit.writer import _plain
    from lighthouse.server.wire import Outcome
    frame = struct.Struct("<I")
    outcomes = [Outcome(1, 2, "routine read", "routine.read", 1, "allow"),
                Outcome(3, 1, "rm home", "fs.rm-home", 1, "deny"), Outcome(2, 5, "no rule", "", 1, "miss")]
    t = time.perf_counter_ns()
    n = args.writer_records
    entries = [_plain((t + i * 1000, "grpc", "a%d-%d" % (i % 200, i), "agent-%d" % (i % 200), "s%d" % (i % 200),
                       "Bash", '{"command": "git status --short %d"}' % (i % 50), "/home/dev/app", outcomes[i % 3],
                       5000, "", ())) for i in range(n)]
    trees = [("", ROOT, sys.executable)]
    if args.base:
        base = pathlib.Path(args.base).resolve()
        trees.append(("base", base, str(base / ".venv" / "bin" / "python")))
    out = {}
    for size in [int(b) for b in args.writer.split(",")]:
        messages = []
        for i in range(0, n, size):
            data = marshal.dumps((0, entries[i:i + size]))
            messages.append(frame.pack(len(data)) + data)
        for _ in range(args.repeat):
            for name, tree, python in trees:
                tmp = tempfile.mkdtemp(prefix="lh-bench-writer-")
                proc = subprocess.Popen([python, "-m", "lighthouse.audit.process", os.path.join(tmp, "a.db"), "0", "0",
                                         "4096"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(tree),
                                        env=dict(os.environ, PYTHONPATH=str(tree)))

                def read():
                    (length,) = frame.unpack(proc.stdout.read(4))
                    return marshal.loads(proc.stdout.read(length))

                assert read()[0] == "ready"
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = _cpu_so_far(proc.pid)     # its start (imports, opening the store) is left out
                t0 = time.perf_counter()
                commits = 0
                if args.writer_every:
                    commits, drain = _paced(proc, messages, read, n, args.writer_every / 1000)
                else:
                    for m in messages:
                        proc.stdin.write(m)
                        proc.stdin.flush()
                        while read()[0] != "committed":
                            pass
                        commits += 1
                elapsed = time.perf_counter() - t0
                proc.stdin.write(frame.pack(0))
                proc.stdin.flush()
                while read()[0] != "closed":
                    pass
                proc.wait(60)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime - started
                shutil.rmtree(tmp, ignore_errors=True)
                run_ = {"records_per_s": round(n / elapsed), "cpu_us_per_record": round(cpu / n * 1e6, 2),
                        "records_per_commit": round(n / commits, 1)}
                if args.writer_every:
                    run_["drain_ms"] = round(drain * 1000, 1)
                out.setdefault("%s%s%d" % (name, " " if name else "", size), []).append(run_)
    return {"writer": out, "records": n, "every_ms": args.writer_every}


def _cpu_so_far(pid):
    """The CPU seconds (user and system) process ``pid`` has used so far (/proc, in clock
    ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _paced(proc, messages, read, n, every):
    """Send ``messages`` one every ``every`` seconds without waiting for their
    acknowledgements, as the server hands records over; (commits, seconds from the last
    message sent to the last record committed)."""
    import threading
    done = threading.Event()
    state = {"commits": 0, "at": 0.0}

    def acks():
        while True:
            msg = read()
            if msg[0] == "committed":
                state["commits"] += 1
                if msg[1] >= n:
                    state["at"] = time.perf_counter()
                    done.set()
                    return

    reader = threading.Thread(target=acks, daemon=True)
    reader.start()
    start = time.perf_counter()
    for i, m in enumerate(messages):
        delay = start + i * every - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        proc.stdin.write(m)
        proc.stdin.flush()
    last = time.perf_counter()
    if not done.wait(300):
        raise RuntimeError("the writer did not commit every record in 300 s")
    reader.join(10)
    return state["commits"], state["at"] - last


def run(args):
    from lighthouse.audit import SQLiteBackend, verify
    if args.writer:
        return writer_times(args)
    if args.query_only:
        tmp = tempfile.mkdtemp(prefix="lh-bench-audit-")
        try:
            return {"query": query_times(tmp, args.query_records or 1_000_000, args.query_dsn)}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    calls = load_calls(args.corpus, args.agents)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    tmp = tempfile.mkdtemp(prefix="lh-bench-audit-")
    servers = {}
    report = {"agents": args.agents, "duration_s": args.duration, "repeat": args.repeat, "channels": args.channels,
              "load_average": os.getloadavg()[0], "servers": {}}
    trees = [("", ROOT, sys.executable, env)]
    if args.base:
        base = pathlib.Path(args.base).resolve()
        python = base / ".venv" / "bin" / "python"
        if not python.exists():
            raise SystemExit("--base %s: no .venv/bin/python there (run make install in it)" % base)
        trees.append(("base-", base, str(python),
                      dict(os.environ, PYTHONPATH=str(base) + os.pathsep + os.environ.get("PYTHONPATH", ""))))
    try:
        for prefix, tree, python, tree_env in trees:
            for mode, extra in MODES.items():
                db = os.path.join(tmp, "%s%s.db" % (prefix, mode))
                argv = [python, "-m", "lighthouse.cli", "serve", "--no-socket", "--log-level", "error",
                        "--helper-nice", str(args.helper_nice), "--no-policy", "--rate-limit", "0",
                        *(a.format(db=db) for a in extra)]
                servers[prefix + mode] = Server(prefix + mode, lambda ready, argv=argv, tree=tree:
                                                argv + serve_options(ready, tree), env=tree_env, cwd=tree)
        phases = [p for p in args.phases.split(",") if p]
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        report["servers"] = runner(measure(servers, phases, args, calls))
        wide = [p for p in args.wide_phases.split(",") if p] if args.wide > 1 else []
        if wide:
            # The same phases at --wide times the concurrency (agents' streams and calls,
            # batch senders), where audit off saturates: throughput the sync mode reaches
            # when its answers' commit latency is covered by more calls in flight.
            wide_args = argparse.Namespace(**dict(vars(args), senders=args.senders * args.wide))
            wide_calls = load_calls(args.corpus, args.agents * args.wide)
            more = runner(measure(servers, wide, wide_args, wide_calls))
            for name, by_phase in more.items():
                for p, r in by_phase.items():
                    report["servers"][name]["%s x%d" % (p, args.wide)] = r
            phases += ["%s x%d" % (p, args.wide) for p in wide]
        report["wide"] = args.wide if wide else 1
        report["refused"] = {mode: _refused(srv) for mode, srv in servers.items()}
    finally:
        for srv in servers.values():
            srv.stop()
    prefixes = [t[0] for t in trees]
    report["ratio_to_off"] = {p: {pre + m: round(report["servers"][pre + m][p]["calls_per_s"]
                                                 / report["servers"][pre + "off"][p]["calls_per_s"], 3)
                                  for pre in prefixes for m in ("default", "sync")} for p in phases}
    logs = {}
    for pre in prefixes:
        for mode in ("default", "sync"):
            with SQLiteBackend(os.path.join(tmp, "%s%s.db" % (pre, mode)), readonly=True) as b:
                r = verify(b)
                logs[pre + mode] = {"records": r.records, "verifies": r.ok}
    report["logs"] = logs
    if args.query_records:
        report["query"] = query_times(tmp, args.query_records, args.query_dsn)
    shutil.rmtree(tmp, ignore_errors=True)
    return report


def _refused(srv):
    """Calls the server refused over the whole run (its /metrics): the audit log's full
    queue, and every error. A batch's refused calls are answers inside a successful RPC,
    which the load generator counts as answered."""
    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % srv.metrics_port, timeout=10).read().decode()
    out = {"audit_queue_full": 0, "errors": 0}
    records = commits = 0
    for line in text.splitlines():
        if line.startswith("lighthouse_audit_refused_total"):
            out["audit_queue_full"] += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("lighthouse_errors_total{"):
            out["errors"] += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("lighthouse_audit_records_total"):
            records = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("lighthouse_audit_commits_total"):
            commits = int(float(line.rsplit(" ", 1)[1]))
    if commits:
        # group commit at work: the records one commit (one fsync with --audit-sync) took
        out["records_per_commit"] = round(records / commits, 1)
    return out


QUERIES = (("agent", ["--agent", "agent-7"]), ("session", ["--session", "s-123"]),
           ("verdict+since", ["--verdict", "deny", "--since", "1h"]),
           ("agent, all", ["--agent", "agent-7", "--limit", "0"]),
           ("session, all", ["--session", "s-123", "--limit", "0"]),
           ("time range", ["--since", "{mid}", "--until", "{mid_end}", "--limit", "0"]),
           ("rule (no index)", ["--rule", "fs.rm-home", "--limit", "10"]))


def query_times(tmp, n, dsn=None):
    """Build an n-record log (SQLite, and in PostgreSQL when ``dsn``) and time `lighthouse
    audit query` on it (one process each)."""
    from lighthouse.audit import open_backend
    from lighthouse.audit.record import make_row
    from lighthouse.server.wire import Outcome
    outcomes = [Outcome(1, 2, "routine", "routine.read", 1, "allow"), Outcome(3, 2, "no", "fs.rm-home", 1, "deny"),
                Outcome(2, 5, "miss", "", 1, "miss")]
    start = time.time_ns() - n * 1000          # one record a microsecond, ending now
    stores = {"sqlite": os.path.join(tmp, "big.db")}
    if dsn:
        stores["postgresql"] = dsn
    out = {"records": n}
    for kind, location in stores.items():
        t0 = time.perf_counter()
        with open_backend(location) as b:
            if kind == "sqlite":
                b.db.execute("PRAGMA synchronous=OFF")
            step = 50_000
            for base in range(0, n, step):
                rows = [make_row((i * 1000, "grpc", "r-%d" % i, "agent-%d" % (i % 500), "s-%d" % (i % 20000), "Bash",
                                  '{"command": "ls -la %d"}' % i, "/home/dev/app", outcomes[i % 3], 5000, "", ()),
                                 0, start) for i in range(base, min(n, base + step))]
                b.append(rows)
            if kind == "postgresql":
                b.conn.execute("ANALYZE audit")
        res = {"build_s": round(time.perf_counter() - t0, 1), "queries": {}}
        if kind == "sqlite":
            res["file_mb"] = round(os.path.getsize(location) / 1e6, 1)
        mid = (start + n * 500) / 1e9          # a 10 ms window in the middle: 10,000 records at most
        opt = "--audit-db" if kind == "sqlite" else "--audit-dsn"
        for label, extra in QUERIES:
            extra = [a.format(mid="%.6f" % mid, mid_end="%.6f" % (mid + min(0.01, n / 1e6 / 10))) for a in extra]
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "audit", "query", opt, location, "--json",
                                   *extra], capture_output=True, text=True, cwd=str(ROOT))
            elapsed = time.perf_counter() - t
            if proc.returncode:
                raise SystemExit("audit query %s failed: %s" % (" ".join(extra), proc.stderr))
            res["queries"][label] = {"seconds": round(elapsed, 3), "records": len(json.loads(proc.stdout))}
        out[kind] = res
    return out


def print_table(report):
    if "writer" in report:
        every = report["every_ms"]
        print("the writer process alone, %d records per run (tree, records per message: records/s, CPU us per "
              "record, records per commit%s, each run)%s" % (report["records"], ", ms to commit the last one after "
                                                              "it was sent" if every else "",
                                                              "; a message every %g ms" % every if every else ""))
        for label, runs in report["writer"].items():
            print("  %-14s %s" % (label, "  ".join("%7d/s %5.2f us %6.1f%s" % (
                r["records_per_s"], r["cpu_us_per_record"], r["records_per_commit"],
                " %5.1f ms" % r["drain_ms"] if every else "") for r in runs)))
        return
    if "servers" not in report:
        print_queries(report["query"])
        return
    print("audit log throughput: %d agents, %d x %gs per phase, load average %.1f at start"
          % (report["agents"], report["repeat"], report["duration_s"], report["load_average"]))
    head = "%-9s %-12s %10s %12s %8s %8s %13s %7s %9s" % (
        "phase", "audit", "calls/s", "committed/s", "p50 ms", "p99 ms", "srv cpu us/c", "errs", "vs off")
    print(head)
    print("-" * len(head))
    for phase, ratios in report["ratio_to_off"].items():
        for mode in report["servers"]:
            r = report["servers"][mode][phase]
            print("%-9s %-12s %10.0f %12s %8.2f %8.2f %13s %7d %9s" % (
                phase, mode, r["calls_per_s"], "%.0f" % r["committed_per_s"] if "committed_per_s" in r else "-",
                r["p50_ms"], r["p99_ms"], r["server_cpu_us_per_call"], r["errors"],
                "%.3f" % ratios[mode] if mode in ratios else "-"))
    for mode, r in report.get("refused", {}).items():
        print("%s server: %d calls refused in all, %d of them for the audit log's full queue%s"
              % (mode, r["errors"], r["audit_queue_full"],
                 "; %.1f records per commit over the run" % r["records_per_commit"] if "records_per_commit" in r
                 else ""))
    for mode, log in report["logs"].items():
        print("%s log: %d records, chain %s" % (mode, log["records"], "verifies" if log["verifies"] else "BROKEN"))
    if report.get("query"):
        print_queries(report["query"])


def print_queries(q):
    for kind in ("sqlite", "postgresql"):
        r = q.get(kind)
        if r is None:
            continue
        print("audit query over %d records, %s%s, built in %.0f s:" % (
            q["records"], kind, " (%.0f MB)" % r["file_mb"] if "file_mb" in r else "", r["build_s"]))
        for label, t in r["queries"].items():
            print("  %-18s %7.3f s  %d records" % (label, t["seconds"], t["records"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per phase, server and run (default 3)")
    p.add_argument("--repeat", type=int, default=2, help="runs per phase, alternating the servers (median rate)")
    p.add_argument("--phases", default="unary,stream,batch")
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--helper-nice", type=int, default=10)
    p.add_argument("--corpus", default=str(CORPUS))
    p.add_argument("--query-records", type=int, default=0, metavar="N",
                   help="also time `lighthouse audit query` over an N-record log")
    p.add_argument("--query-dsn", metavar="URL", help="also build and query that log in this empty PostgreSQL "
                                                      "database")
    p.add_argument("--query-only", action="store_true", help="only the query timings (default 1,000,000 records)")
    p.add_argument("--base", metavar="TREE", help="also run the three servers from this checkout (with its own "
                                                  ".venv), alternating with this one's: an A/B in one run")
    p.add_argument("--writer", metavar="B[,B...]", help="time the writer process alone, in commits of B records "
                                                        "(see above), instead of the servers")
    p.add_argument("--writer-records", type=int, default=100_000, metavar="N")
    p.add_argument("--writer-every", type=float, default=0, metavar="MS",
                   help="with --writer: send a message of B records every MS milliseconds without waiting for its "
                        "acknowledgement, as the server hands them over (default 0: each once the previous one "
                        "is committed)")
    p.add_argument("--wide", type=int, default=8, metavar="F",
                   help="also run --wide-phases at F times the calls in flight (F x --agents agents, F x --senders "
                        "batch senders), reported as 'PHASE xF' (default 8; 1: not)")
    p.add_argument("--wide-phases", default="batch", metavar="P[,P...]",
                   help="the phases --wide runs again (default batch; stream x8 is 1600 streams, more than this "
                        "load generator drives on two cores)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
