"""Wall time of the Claude Code hook per tool call, as Claude Code pays it: one new process
per call, interpreter start-up included (and the native hook client, which has none).

Corpus calls are wrapped in PreToolUse events and fed to the hook as real subprocesses,
with the local server up (a separate ``python -m lighthouse.server.local`` process on a
private socket) and down (no socket: the hook decides locally). Three entry points are timed:
``module`` (``python -P -m lighthouse.hooks.claude_code``, what ``lighthouse hook install``
writes) and ``script`` (``lighthouse hook claude-code`` through the console script; the
script pip generates is emulated with ``python -c`` unless ``--script`` names a real one),
and ``native`` (lighthouse/hooks/native/lighthouse-hook, what ``lighthouse hook install``
writes when it was built; with the server down it hands the event to the Python hook, so
its figure there is the Python hook's plus its own). The ``floor`` row is ``python -c
pass``: interpreter start-up alone.

An installed package has its bytecode compiled (pip does it at install). To measure that
case from a source checkout, and in environments that set PYTHONDONTWRITEBYTECODE, the
hook processes get a private PYTHONPYCACHEPREFIX (warmed before timing); ``--no-pyc``
keeps the environment as it is, so every start compiles the package's sources again.

    python bench/hook.py                 # table: median, p95, p99 per scenario
    python bench/hook.py --json
    python bench/hook.py -n 200 --down 30 --entry module
    python bench/hook.py --baseline /tmp/base   # also time another version's hook, interleaved

``--baseline DIR`` names another source tree of the package (a directory holding
``lighthouse/``, e.g. ``git archive REV lighthouse | tar -x -C DIR``): its hook (module
entry) is timed with the server up, call by call between this tree's, against this tree's
server, and the report gives the ratio of the medians. Only the server-up path is
compared: it imports no compiled module, so the baseline needs no build.

Targets: median <= 80 ms per call with the server up for the Python hook (issue 3), <= 10 ms
for the native client (issue 16), both measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "dev.jsonl"
if not CORPUS.exists():
    CORPUS = ROOT / "tests" / "data" / "dev.jsonl"
TARGET_MS = 80.0
NATIVE_TARGET_MS = 10.0
NATIVE = ROOT / "lighthouse" / "hooks" / "native" / "lighthouse-hook"
_SCRIPT = "import re, sys\nfrom lighthouse.cli import main\nsys.exit(main())"


def sample(path, n):
    with open(path, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    step = max(1, len(cases) // n)
    picked = cases[::step][:n]
    while len(picked) < n:
        picked += cases[:n - len(picked)]
    return picked


def event(case):
    return json.dumps({"session_id": "bench", "transcript_path": "/tmp/bench.jsonl",
                       "cwd": case.get("cwd", "/home/dev/app"), "permission_mode": "default",
                       "hook_event_name": "PreToolUse", "tool_name": case["tool"],
                       "tool_input": case["input"]}).encode()


def entry_command(entry, script):
    # -P: what `hook install` writes; for the script it stands for the console script,
    # whose sys.path starts at its own directory rather than at the cwd.
    if entry == "module":
        return [sys.executable, "-P", "-m", "lighthouse.hooks.claude_code"]
    if entry == "native":
        return [str(NATIVE), "--python", sys.executable]
    if script:
        return [script, "hook", "claude-code"]
    return [sys.executable, "-P", "-c", _SCRIPT, "hook", "claude-code"]


def percentile(sorted_ms, q):
    """Nearest-rank percentile."""
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(q / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def time_calls(cmds, cases, env, checks=None, cwd=None, envs=None):
    """Run every case through each command, interleaved call by call (so that a burst of
    load from elsewhere hits all of them alike); one result row per command. ``checks[k]``
    (when given and not None) validates the decision command k printed; ``envs[k]`` (when
    given and not None) is command k's environment instead of ``env``."""
    checks = checks or [None] * len(cmds)
    envs = [e or env for e in envs] if envs else [env] * len(cmds)
    times = [[] for _ in cmds]
    cpu = [[] for _ in cmds]
    verdicts = [{} for _ in cmds]
    for case in cases:
        data = event(case)
        for k, cmd in enumerate(cmds):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, input=data, capture_output=True, env=envs[k], cwd=cwd)
            times[k].append((time.perf_counter() - t0) * 1000.0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[k].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000.0)
            check = checks[k]
            if check is None:
                continue
            if proc.returncode != 0:
                raise SystemExit("hook exited %d: %s" % (proc.returncode, proc.stderr.decode()[-2000:]))
            out = json.loads(proc.stdout)["hookSpecificOutput"]
            verdict = out["permissionDecision"]
            verdicts[k][verdict] = verdicts[k].get(verdict, 0) + 1
            check(case, out)
    rows = []
    for ts, cs, vs in zip(times, cpu, verdicts):
        ts.sort()
        cs.sort()
        rows.append({"n": len(ts), "median_ms": percentile(ts, 50), "p95_ms": percentile(ts, 95),
                     "p99_ms": percentile(ts, 99), "min_ms": ts[0], "max_ms": ts[-1],
                     "cpu_median_ms": percentile(cs, 50), "verdicts": vs})
    return rows


def start_server(sock_path, env):
    proc = subprocess.Popen([sys.executable, "-m", "lighthouse.server.local", "--socket", sock_path],
                            env=env, cwd=os.path.dirname(sock_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("local server failed: %s" % proc.stderr.read().decode()[-2000:])
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(sock_path)
            return proc
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    proc.kill()
    raise SystemExit("local server did not start within 30 s")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=100, help="calls per scenario with the server up (default 100)")
    p.add_argument("--down", type=int, default=20, help="calls per scenario with the server down (default 20; 0 skips)")
    p.add_argument("--entry", choices=("module", "script", "native", "both", "all"), default="all",
                   help="the hooks timed: both = module and script; all (default) = those and native")
    p.add_argument("--script", help="a real `lighthouse` console script to time instead of the emulation")
    p.add_argument("--corpus", default=str(CORPUS))
    p.add_argument("--no-pyc", action="store_true",
                   help="keep the environment's bytecode settings (default: a private bytecode cache)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--baseline", metavar="DIR",
                   help="another source tree of the package whose hook is timed with the server up, "
                        "interleaved with this one's (the ratio of medians is reported)")
    args = p.parse_args(argv)
    if args.baseline and args.entry in ("script", "native"):
        p.error("--baseline compares the module entry: use --entry module, both or all")
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "lighthouse", "hooks", "claude_code.py")):
        p.error("--baseline %s holds no lighthouse/hooks/claude_code.py" % args.baseline)

    # Every process runs in this directory: `-m` and `-c` put the cwd first on sys.path,
    # where a checkout could shadow the package under test.
    tmp = tempfile.mkdtemp(prefix="lighthouse-bench-")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("LIGHTHOUSE_ADDR", None)
    if not args.no_pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    entries = {"both": ("module", "script"), "all": ("module", "script", "native")}.get(args.entry, (args.entry,))
    if "native" in entries and not os.access(NATIVE, os.X_OK):
        if args.entry == "native":
            p.error("the native hook client is not built (%s): run make install" % NATIVE)
        entries = tuple(e for e in entries if e != "native")
    up_cases = sample(args.corpus, args.n)
    down_cases = sample(args.corpus, args.down) if args.down else []

    def expect(local):
        def check(case, out):
            said_local = "decided locally" in out["permissionDecisionReason"]
            if said_local != local:
                raise SystemExit("case %s: expected a %s decision, got %r" % (
                    case.get("id"), "local" if local else "server", out["permissionDecisionReason"]))
        return check

    sock_path = os.path.join(tmp, "lighthouse.sock")
    rows = []
    try:
        probe = subprocess.run([sys.executable, "-c", "import lighthouse, lighthouse._fast as f\n"
                                "print(f.IMPLEMENTATION, lighthouse.__path__[0])"],
                               capture_output=True, env=env, cwd=tmp, text=True)
        implementation, package = probe.stdout.split()
        cmds = [entry_command(entry, args.script) for entry in entries]
        floor = [sys.executable, "-c", "pass"]
        # compile and cache the bytecode of every path before timing
        time_calls(cmds, up_cases[:1], dict(env, LIGHTHOUSE_SOCKET=os.path.join(tmp, "absent.sock")), cwd=tmp)
        server = start_server(sock_path, env)
        try:
            env_up = dict(env, LIGHTHOUSE_SOCKET=sock_path)
            up_cmds, up_envs, up_entries = list(cmds), [None] * len(cmds), list(entries)
            if args.baseline:
                base = os.path.abspath(args.baseline)
                up_cmds.append(entry_command("module", None))
                up_envs.append(dict(env_up, PYTHONPATH=os.pathsep.join(
                    filter(None, [base, os.environ.get("PYTHONPATH")]))))
                up_entries.append("module (base)")
            time_calls(up_cmds, up_cases[:3], env_up, cwd=tmp, envs=up_envs)
            # the floor is timed interleaved with the hook, under the same load
            floor_row, *up_rows = time_calls([floor] + up_cmds, up_cases, env_up,
                                             [None] + [expect(False)] * len(up_cmds), cwd=tmp,
                                             envs=[None] + up_envs)
        finally:
            server.terminate()
            server.wait(10)
        rows.append(dict(scenario="floor", entry="python -c pass", **floor_row))
        for entry, row in zip(up_entries, up_rows):
            rows.append(dict(scenario="server up", entry=entry, **row))
        if down_cases:
            env_down = dict(env, LIGHTHOUSE_SOCKET=os.path.join(tmp, "absent.sock"))
            for entry, row in zip(entries, time_calls(cmds, down_cases, env_down, [expect(True)] * len(cmds), cwd=tmp)):
                rows.append(dict(scenario="server down", entry=entry, **row))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    meta = {"implementation": implementation, "package": package, "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "bytecode_cached": not args.no_pyc, "target_median_ms": TARGET_MS,
            "native_target_median_ms": NATIVE_TARGET_MS}
    if args.baseline:
        by_entry = {r["entry"]: r for r in rows if r["scenario"] == "server up"}
        this, base = by_entry["module"]["median_ms"], by_entry["module (base)"]["median_ms"]
        floor_ms = rows[0]["median_ms"]
        meta["baseline"] = {"dir": os.path.abspath(args.baseline), "median_ratio": this / base,
                            "above_floor_ratio": (this - floor_ms) / (base - floor_ms)
                            if base > floor_ms else float("nan")}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return 0
    print("hook wall time per call (ms): %s, %s implementation, Python %s, %d CPUs, bytecode %s"
          % (meta["package"], meta["implementation"], meta["python"], meta["cpus"],
             "cached" if meta["bytecode_cached"] else "as the environment has it"))
    print("%-12s %-15s %5s %8s %8s %8s %8s %8s  %s" % (
        "scenario", "entry", "n", "median", "p95", "p99", "max", "cpu p50", "verdicts"))
    for r in rows:
        verdicts = " ".join("%s=%d" % kv for kv in sorted(r["verdicts"].items()))
        print("%-12s %-15s %5d %8.1f %8.1f %8.1f %8.1f %8.1f  %s" % (
            r["scenario"], r["entry"], r["n"], r["median_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"],
            r["cpu_median_ms"], verdicts))
    print("(wall time per call, spawn to exit; cpu p50: the hook process's user+sys time)")
    if args.baseline:
        b = meta["baseline"]
        print("vs baseline %s (module entry, server up): median ratio %.3f, above the floor %.3f"
              % (b["dir"], b["median_ratio"], b["above_floor_ratio"]))
    up = [r for r in rows if r["scenario"] == "server up" and r["entry"] in ("module", "script")]
    if up:
        best = min(r["median_ms"] for r in up)
        print("target: median <= %.0f ms with the server up (Python hook): %s (best %.1f ms)"
              % (TARGET_MS, "met" if best <= TARGET_MS else "NOT met", best))
    native = [r for r in rows if r["scenario"] == "server up" and r["entry"] == "native"]
    if native:
        ms = native[0]["median_ms"]
        print("target: median <= %.0f ms with the server up (native client): %s (%.1f ms)"
              % (NATIVE_TARGET_MS, "met" if ms <= NATIVE_TARGET_MS else "NOT met", ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
