"""Many concurrent agents against a Lighthouse server: the performance test suite's load
generator (also ``lighthouse bench``).

N simulated agents (``--agents``, default 1000; 10,000 work: they share ``--channels``
gRPC connections, by default one per 100 agents and at least 8, so that the descriptors
stay few) send tool calls over unary calls or one ``ValidateStream`` each
(``--transport``), closed loop (each agent's next call once the last is answered, after
``--think`` seconds) or open loop (``--mode open``: a
target ``--rate`` for all agents together, each agent sending every agents/rate seconds
whether or not its calls are answered). The calls are drawn from workload files in the
corpus shape, by shares (``--mix safe=70,risky=20,complex=10``):

  safe     bench/workloads/safe.jsonl: calls the rules settle (then the decision cache)
  risky    bench/workloads/risky.jsonl: calls no rule settles that the default policy
           hands to experts with a quorum of 1
  complex  bench/workloads/complex.jsonl: the same with a quorum of 2 (credentials,
           privileged, cloud changes, security scans)

``--workload NAME=FILE`` adds or replaces a share's file; ``--replay EXPORT.jsonl`` replays
the calls of ``lighthouse audit export`` instead. Each risky or complex call runs in a
working directory of its own (``--distinct call``), so that no call is a repeat that the
slow tiers' cache or the coalescing of identical escalations would answer: every one
reaches the policy tier and the experts. The safe calls keep theirs: the cache sees
repeats.

Unless ``--target HOST:PORT`` names a running server (loopback only, unless
``--allow-remote``), it starts ``lighthouse serve`` on ports of the kernel's choice
(``--port 0 --metrics-port any``, read from its ``--ready-file``) with its socket, admin
token and audit log under a temporary directory, ``--experts`` simulated experts
(``python -m lighthouse.experts.sim``, connected over ExpertHub, answering ask after
``--expert-latency``, default uniform 0.2-2 s) and, with ``--llm-latency``, an
OpenAI-speaking local server (tests/llmkit.py) the server asks as an LLM expert.

Every call is accounted for: ``sent``, ``answered`` (a Decision within its
``--deadline``), ``errors`` by status code, ``hung`` (past the deadline: counted under
DEADLINE_EXCEEDED), ``lost = sent - answered``. Latency percentiles (p50/p95/p99/p99.9)
are reported per operation type, by the Decision's tier: ``validation`` (cache, rules),
``policy``, ``expert_escalation`` and ``fail_mode`` (the fallback tier); per share too,
with the expert overhead (an expert-decided call's latency beyond the longest time one
of its simulated experts slept, which each says in its reason), the server's cache hit
ratio per tier (from /metrics: memory, policy, expert) and the fail-mode count. On
streams: the streams opened and broken, and the calls sent again after their stream was
refused as it opened (``streams.resent``; each at most 3 times, latency from the first
send); unary calls refused by an admission limit (RESOURCE_EXHAUSTED, UNAVAILABLE) are sent
again with a bounded backoff and counted (``unary``). In open loop a call is timed from
when it was due on its agent's schedule, so that a stall of the load generator shows in
the latency (no coordinated omission). To tell where a p99 comes from: the safe calls'
time inside the server (``safe_validation_server_ms``, from ``Decision.decision_ns``),
this process's event-loop lag and collections (``load_generator_loop_lag_ms``,
``load_generator_gc_ms``) and the server's (``server_runtime``, from its /metrics).
``--procs N`` drives the agents from N processes (their calls merged exactly).

Also: ``--fault policy-down|experts-timeout|expert-disconnect|policy-reload`` injects a
fault from ``--fault-at`` for ``--fault-for`` seconds and reports each phase (before,
during, after) and the recovery time; ``--endurance MINUTES`` runs that long, sampling
the server's RSS, descriptors, latency and audit-log size every ``--sample-every``
seconds, and fails (exit 1) when RSS grows more than ``--max-rss-growth`` (5%) after
warm-up. ``--fast-tiers`` (``make bench-grpc``) measures instead the fast tiers' throughput as a
ratio to a null server's (the same proto and transport, a constant answer) over unary,
stream, batch and paced phases, with its own options (``--fast-tiers --help``).
``--json`` prints the report as JSON, ``--plot FILE`` draws latency over time
and the percentiles (matplotlib: ``pip install -e '.[bench]'``), ``--progress`` shows a
progress bar on stderr (on by default when stderr is a terminal).

    .venv/bin/python bench/agents.py                                   # 1000 agents, 30 s, unary, closed loop
    .venv/bin/python bench/agents.py --agents 10000 --transport stream --mode open --rate 1000
    .venv/bin/python bench/agents.py --agents 50 --duration 5 --json --plot /tmp/load.png
    .venv/bin/python bench/agents.py --fault policy-down --duration 30
    .venv/bin/python bench/agents.py --endurance 10 --mode open --rate 300
    .venv/bin/python bench/agents.py --replay export.jsonl --target 127.0.0.1:50051
    .venv/bin/python bench/agents.py --fast-tiers --repeat 3 --duration 2     # vs a null server
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import ipaddress
import json
import math
import os
import pathlib
import platform
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from lighthouse.server.config import GC_THRESHOLDS  # noqa: E402
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc  # noqa: E402

WORKLOADS = ROOT / "bench" / "workloads"
DEFAULT_MIX = "safe=70,risky=20,complex=10"
OPS = ("validation", "policy", "expert_escalation")
TIER_OP = {pb.TIER_CACHE: "validation", pb.TIER_RULES: "validation", pb.TIER_POLICY: "policy",
           pb.TIER_EXPERT: "expert_escalation", pb.TIER_FALLBACK: "fail_mode"}
TIER_NAME = {v: k[5:].lower() for k, v in pb.Tier.items()}
SLEPT = re.compile(r"slept ([0-9.]+) ms")
FAULTS = ("policy-down", "experts-timeout", "expert-disconnect", "policy-reload")
HUNG = "DEADLINE_EXCEEDED"
# A stream refused as it opens (gRPC's server backlog full: ``lighthouse serve
# --max-pending-calls``) ends before answering anything with CANCELLED, or with grpc.aio's
# INTERNAL when the refusal beat the first write; its calls are sent again on a new
# stream, as lighthouse.client does, each at most RESENDS times, and counted (``resent``).
REFUSED = ("CANCELLED", "INTERNAL")
RESENDS = 3
# A unary call refused by the server's admission limits (RESOURCE_EXHAUSTED: the per-agent
# rate limit, the audit log's queue full; UNAVAILABLE: shutting down, no connection) is
# sent again after BACKOFF, 2 x BACKOFF, ... (with jitter), at most RESENDS times and
# within its deadline, and counted as refused (``unary.refused``), then answered or
# refused too often. A message over the server's size limit is also RESOURCE_EXHAUSTED,
# and is not sent again: it would be refused again.
ADMISSION = ("RESOURCE_EXHAUSTED", "UNAVAILABLE")
TOO_LARGE = "Received message larger than max"
BACKOFF = 0.05


# Streams (agents) per gRPC connection when --channels is not given. Measured here
# (bench/README.md, "Lost calls on 10,000 streams"): with about 1,000 streams on one
# connection and escalations in flight, gRPC refused more of the streams opened while
# the server was busy than at 100 per connection. The refusals themselves were the
# server's backlog of calls not yet taken up (the section after it; ``lighthouse serve
# --max-pending-calls``), and a refused stream's calls are sent again (REFUSED).
AGENTS_PER_CHANNEL = 100


def channels_for(agents):
    """The connections for ``agents`` agents: one per AGENTS_PER_CHANNEL, at least 8 (or
    one per agent when fewer), at most 1024."""
    return max(min(8, agents), min(1024, math.ceil(agents / AGENTS_PER_CHANNEL)))


class BenchError(Exception):
    """A bad option or workload: the message names what is wrong."""


# ------------------------------------------------------------------ workloads


def _call_from_row(row, where):
    """(tool, input_json, cwd, home) of a corpus-shaped row, or BenchError naming it."""
    if not isinstance(row, dict):
        raise BenchError("%s: not a JSON object" % where)
    tool = row.get("tool")
    if not isinstance(tool, str) or not tool:
        raise BenchError("%s: 'tool' missing or not a string" % where)
    if "input" in row and isinstance(row["input"], dict):
        input_json = json.dumps(row["input"])
    elif isinstance(row.get("input"), str):          # an audit export keeps the input_json text
        input_json = row["input"]
    else:
        raise BenchError("%s: 'input' missing (an object, or the JSON text of one)" % where)
    cwd = row.get("cwd") or "/home/dev/app"
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise BenchError("%s: 'cwd' must be an absolute path" % where)
    home = row.get("home") or ""
    return tool, input_json, cwd, home if isinstance(home, str) else ""


def read_jsonl(path, limit=1_000_000):
    """The rows of a JSONL file (blank lines skipped); BenchError naming the file and line
    for one that is not JSON, and past ``limit`` rows."""
    rows = []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise BenchError("%s: %s" % (path, e.strerror or e)) from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if len(rows) >= limit:
                raise BenchError("%s: more than %d calls" % (path, limit))
            try:
                rows.append((n, json.loads(line)))
            except ValueError as e:
                raise BenchError("%s:%d: not JSON (%s)" % (path, n, e)) from None
    return rows


def load_workload(path):
    """The calls of a corpus-shaped JSONL file: (tool, input_json, cwd, home) tuples."""
    calls = [_call_from_row(row, "%s:%d" % (path, n)) for n, row in read_jsonl(path)]
    if not calls:
        raise BenchError("%s: no calls" % path)
    return calls


def load_replay(path):
    """The calls of an audit-log export (``lighthouse audit export``: JSON lines with
    ``tool``, ``input`` as the input_json text, ``input_bytes``, ``cwd``), in order.
    Records whose input the log cut (``input_bytes`` larger than the text kept) cannot be
    replayed as they were: they are left out and counted. Returns (calls, left_out)."""
    calls, cut = [], 0
    for n, row in read_jsonl(path):
        where = "%s:%d" % (path, n)
        if isinstance(row, dict) and isinstance(row.get("input"), str) and \
                isinstance(row.get("input_bytes"), int) and row["input_bytes"] > len(row["input"].encode()):
            cut += 1
            continue
        calls.append(_call_from_row(row, where))
    if not calls:
        raise BenchError("%s: no call to replay%s" % (path, " (%d cut by the audit log)" % cut if cut else ""))
    return calls, cut


def parse_mix(text):
    """``safe=70,risky=20,complex=10`` -> {name: share}, the shares normalised to 1."""
    mix = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not name:
            raise BenchError("--mix: %r is not NAME=SHARE" % part)
        try:
            share = float(value)
        except ValueError:
            raise BenchError("--mix: the share of %r is not a number: %r" % (name, value)) from None
        if not math.isfinite(share) or share < 0:
            raise BenchError("--mix: the share of %r must be a finite number >= 0" % name)
        mix[name] = share
    total = sum(mix.values())
    if total <= 0:
        raise BenchError("--mix: the shares add up to 0")
    return {k: v / total for k, v in mix.items() if v > 0}


class Workload:
    """Calls drawn by share. ``shares``: {name: (share, calls)}; ``ordered``: draw each
    share's calls in file order (a replay) instead of at random."""

    def __init__(self, shares, ordered=False):
        self.names = list(shares)
        self.cumulative = []
        acc = 0.0
        for name in self.names:
            acc += shares[name][0]
            self.cumulative.append(acc)
        self.calls = {name: shares[name][1] for name in self.names}
        self.shares = {name: shares[name][0] for name in self.names}
        self.ordered = ordered
        self._next = dict.fromkeys(self.names, 0)

    def draw(self, rng):
        i = bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1])
        name = self.names[min(i, len(self.names) - 1)]
        calls = self.calls[name]
        if self.ordered:
            k = self._next[name]
            self._next[name] = k + 1
            return name, calls[k % len(calls)]
        return name, calls[rng.randrange(len(calls))]


def build_workload(args):
    if args.replay:
        calls, cut = load_replay(args.replay)
        return Workload({"replay": (1.0, calls)}, ordered=True), {"replay": str(args.replay), "left_out_cut": cut}
    files = {name: WORKLOADS / ("%s.jsonl" % name) for name in ("safe", "risky", "complex")}
    for spec in args.workload:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise BenchError("--workload: %r is not NAME=FILE" % spec)
        files[name] = pathlib.Path(path)
    mix = parse_mix(args.mix)
    missing = [n for n in mix if n not in files]
    if missing:
        raise BenchError("--mix names %s, which no --workload file gives" % ", ".join(missing))
    return Workload({n: (share, load_workload(files[n])) for n, share in mix.items()}), {
        "mix": {n: round(s, 4) for n, s in mix.items()}, "files": {n: str(files[n]) for n in mix}}


# ------------------------------------------------------------------ the server and its experts


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_options(ready_file, tree=ROOT, metrics=True):
    """The ``lighthouse serve`` options that put a server of ``tree`` on ports of the
    kernel's choice, which it writes to ``ready_file`` once serving (read them with
    :func:`wait_ready`): ``--port 0 --metrics-port any --ready-file`` (``--metrics-port 0``
    without ``metrics``). A port found free and handed to the server could be taken by
    another process before the server binds it (tests/test_bench.py runs the benches
    beside other tests' servers). A tree from before --ready-file (an older checkout
    compared with ``--server-tree``) gets ports found free instead, written to
    ``ready_file`` here."""
    if "--ready-file" in (pathlib.Path(tree) / "lighthouse" / "cli.py").read_text(encoding="utf-8"):
        return ["--port", "0", "--metrics-port", "any" if metrics else "0", "--ready-file", str(ready_file)]
    port, mport = _free_port(), _free_port() if metrics else 0
    pathlib.Path(ready_file).write_text(json.dumps({"port": port, "metrics_port": mport}))
    return ["--port", str(port), "--metrics-port", str(mport)]


def wait_ready(ready_file, proc, what, log, timeout=90.0):
    """The ready file's object once ``proc`` has written it and its ports answer (a dict
    with ``port`` and ``metrics_port``); BenchError with the tail of the ``log`` file if
    the process exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = json.loads(pathlib.Path(ready_file).read_text())
            break
        except (FileNotFoundError, ValueError):
            pass
        if proc.poll() is not None:
            raise BenchError("%s exited (%s): %s" % (what, proc.returncode, _tail(log)))
        if time.monotonic() > deadline:
            raise BenchError("%s did not serve within %d s: %s" % (what, timeout, _tail(log)))
        time.sleep(0.05)
    for port in (info["port"], info.get("metrics_port")):
        if port:
            _wait_port(port, proc, what, log, max(deadline - time.monotonic(), 1.0))
    return info


def _wait_port(port, proc, what, log, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError("%s exited (%s): %s" % (what, proc.returncode, _tail(log)))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError("%s did not listen on 127.0.0.1:%d within %d s: %s" % (what, port, timeout, _tail(log)))


def _tail(path, n=1500):
    try:
        return pathlib.Path(path).read_text(errors="replace")[-n:].strip() or "(no output)"
    except OSError:
        return "(no log)"


def scrape(metrics_port):
    """{(name, labels tuple): value} of a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _sum(m, name, **labels):
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lab), v in m.items() if n == name and want <= set(lab))


def _by_label(m, name, label):
    out = {}
    for (n, lab), v in m.items():
        if n == name:
            key = dict(lab).get(label, "")
            out[key] = out.get(key, 0.0) + v
    return out


class Stack:
    """``lighthouse serve`` on free loopback ports with everything it writes under a
    temporary directory, the simulated experts in a process of their own, and the local
    LLM endpoint when asked for. ``python``: the interpreter (and so the Lighthouse tree)
    that runs the server and the experts."""

    def __init__(self, args, python=None, tree=None):
        self.args = args
        self.python = os.path.abspath(python or sys.executable)       # the server runs in the tree
        self.tree = pathlib.Path(tree or ROOT).resolve()
        if not os.path.isfile(self.python) or not os.access(self.python, os.X_OK):
            raise BenchError("--server-python %s: not an executable file" % self.python)
        if not (self.tree / "lighthouse" / "cli.py").is_file():
            raise BenchError("--server-tree %s: no lighthouse/cli.py there" % self.tree)
        self.tmp = tempfile.TemporaryDirectory(prefix="lighthouse-agents-")
        self.dir = pathlib.Path(self.tmp.name)
        self.env = dict(os.environ, PYTHONPATH=str(self.tree) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.server = self.experts = self.llm = None
        self.port = self.metrics_port = None
        self.audit_db = self.dir / "audit.db"
        self.experts_started = 0

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        a = self.args
        llm_args = []
        if a.llm_latency:
            log = open(self.dir / "llm.log", "w")
            self.llm = subprocess.Popen([sys.executable, __file__, "--llm-server", "--llm-latency", a.llm_latency],
                                        stdout=subprocess.PIPE, stderr=log, text=True, env=self.env)
            line = self.llm.stdout.readline().strip()
            if not line.startswith("http://127.0.0.1:"):
                raise BenchError("the local LLM endpoint did not start: %s" % _tail(self.dir / "llm.log"))
            llm_args = ["--llm-api", "openai", "--llm-url", line, "--llm-model", "bench-model"]
            self.env["LIGHTHOUSE_LLM_API_KEY"] = "sk-bench"
        ready_file = self.dir / "ready.json"
        argv = [self.python, "-m", "lighthouse.cli", "serve", *serve_options(ready_file, self.tree),
                "--socket", str(self.dir / "lighthouse.sock"),
                "--admin-token-file", str(self.dir / "admin-token"), "--audit-db", str(self.audit_db),
                "--rate-limit", "0", "--log-level", "warning", *llm_args, *a.server_arg]
        self.server_log = self.dir / "server.log"
        with open(self.server_log, "w") as log:
            self.server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log, env=self.env,
                                           cwd=str(self.tree))
        ready = wait_ready(ready_file, self.server, "lighthouse serve", self.server_log)
        self.port, self.metrics_port = ready["port"], ready["metrics_port"]
        if a.experts:
            self.start_experts()
            self.wait_experts(a.experts)

    def start_experts(self):
        a = self.args
        self.experts_started += 1
        with open(self.dir / "experts.log", "a") as log:
            self.experts = subprocess.Popen(
                [self.python, "-m", "lighthouse.experts.sim", "--server", "127.0.0.1:%d" % self.port,
                 "--id", "sim%d" % self.experts_started, "--count", str(a.experts), "--latency", a.expert_latency,
                 "--verdict", "ask", "--max-concurrent", str(a.expert_concurrency)],
                stdout=subprocess.DEVNULL, stderr=log, env=self.env, cwd=str(self.tree))

    def wait_experts(self, n, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.experts.poll() is not None:
                raise BenchError("the simulated experts exited: %s" % _tail(self.dir / "experts.log"))
            try:
                if _sum(scrape(self.metrics_port), "lighthouse_experts_connected") >= n:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError("%d simulated experts did not connect within %d s: %s" % (
            n, timeout, _tail(self.dir / "experts.log")))

    def descendants(self):
        """Pids of the server's child processes (policy workers, the audit writer), recursively."""
        out, todo = [], [self.server.pid]
        while todo:
            pid = todo.pop()
            try:
                kids = [int(p) for t in pathlib.Path("/proc/%d/task" % pid).iterdir()
                        for p in (t / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
        return out

    def policy_workers(self):
        """The policy tier's worker processes (spawned by multiprocessing)."""
        pids = []
        for pid in self.descendants():
            try:
                cmd = pathlib.Path("/proc/%d/cmdline" % pid).read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd:
                pids.append(pid)
        return pids

    def stop(self):
        for proc in (self.experts, self.server, self.llm):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)        # a fault may have left it stopped
                proc.terminate()
        for proc in (self.experts, self.server, self.llm):
            if proc is not None:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.args.keep_logs:
            os.makedirs(self.args.keep_logs, exist_ok=True)
            for log in [*self.dir.glob("*.log"), *self.dir.glob("audit.db*")]:
                shutil.copy(log, os.path.join(self.args.keep_logs, log.name))
        self.tmp.cleanup()


def proc_sample(pid):
    """RSS (KiB) and open descriptors of one process, or None when it is gone."""
    try:
        status = pathlib.Path("/proc/%d/status" % pid).read_text()
        rss = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))
        fds = len(os.listdir("/proc/%d/fd" % pid))
    except (OSError, AttributeError):
        return None
    return rss, fds


def cpu_seconds(pids):
    """User + system CPU seconds of the processes ``pids`` (those still alive)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def own_fds():
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


# ------------------------------------------------------------------ the load


class Recorder:
    """Every call's fate. ``rows``: (send time from the start, latency s or None, share,
    operation or None, error code or None, expert slept ms or None, tier name or None,
    the server's decision_ns or None), appended as calls end. In open loop a call's
    send time is when it was due (the agent's schedule), not when this process got
    around to sending it, so that a stall of the load generator shows in the latency
    instead of leaving calls unsent (no coordinated omission). ``resent``: calls sent
    again on a new stream after theirs was refused as it opened (each counted once in
    ``sent``, its latency from its first send). ``unary``: unary calls refused by the
    server's admission limits and sent again (ADMISSION). ``loop_lag``: how late this
    process's event loop ran a timer, sampled every LAG_EVERY s (s); ``gc``: this
    process's garbage collections after the warm-up, (generation, seconds)."""

    def __init__(self, deadline):
        self.deadline = deadline
        self.sent = 0
        self.rows = []
        self.in_flight = 0
        self.errors = 0
        self.details = {}                   # error code -> the first message seen with it
        self.streams_opened = 0
        self.streams_broken = 0
        self.streams_reopened = 0       # opened after one of the agent's streams broke
        self.resent = 0
        self.gave_up = 0                    # calls whose stream was refused RESENDS + 1 times
        self.unary = {"refused": 0, "retries": 0, "refused_then_answered": 0, "refused_too_often": 0}
        self.child_cpu = 0.0                # --procs: the CPU seconds of the agents' processes
        self.loop_lag = []
        self.gc = []
        self.gc_from = float("inf")         # perf_counter from which collections are kept
        self._gc_t = None
        self.cpu = None
        self.t0 = time.perf_counter()

    def start(self, due=None):
        """A call sent: its send time, ``due`` when given (open loop), else now."""
        self.sent += 1
        self.in_flight += 1
        return time.perf_counter() if due is None else due

    def gc_hook(self, phase, info):
        """gc.callbacks: each collection's time once past ``gc_from``."""
        if phase == "start":
            self._gc_t = time.perf_counter()
        elif self._gc_t is not None:
            if self._gc_t >= self.gc_from:
                self.gc.append((info["generation"], time.perf_counter() - self._gc_t))
            self._gc_t = None

    def answered(self, t_send, share, decision):
        self.in_flight -= 1
        lat = time.perf_counter() - t_send
        if lat > self.deadline:                       # answered, but past the caller's deadline
            self.failed(t_send, share, HUNG, False)
            return
        if decision.HasField("error"):                # a stream's answer for a call it did not decide
            self.failed(t_send, share, _code_name(decision.error.code), False, decision.error.message)
            return
        op = TIER_OP.get(decision.tier, TIER_NAME.get(decision.tier, "unknown"))
        slept = None
        if decision.tier == pb.TIER_EXPERT:
            times = SLEPT.findall(decision.reason)
            slept = max(float(x) for x in times) if times else None
        self.rows.append((t_send - self.t0, lat, share, op, None, slept, TIER_NAME.get(decision.tier, "unknown"),
                          decision.decision_ns))

    def failed(self, t_send, share, code, count=True, detail=None):
        if count:
            self.in_flight -= 1
        if detail and code not in self.details:
            self.details[code] = "first for a call sent at %.1f s, ended at %.1f s: %s" % (
                t_send - self.t0, time.perf_counter() - self.t0, detail[:300])
        self.errors += 1
        self.rows.append((t_send - self.t0, None, share, None, code, None, None, None))


def _rpc_detail(e):
    """An AioRpcError's details, with gRPC core's own error text when the details say
    nothing more than the code (CANCELLED) or only "Internal error from Core" (a batch the
    core refused): the cause is there."""
    text = e.details() or ""
    if text in ("Internal error from Core", e.code().name, ""):
        try:
            text = "%s (%s)" % (text, e.debug_error_string())
        except Exception:            # noqa: BLE001 - the text is only a detail of the report
            pass
    return text


def _code_name(code):
    try:
        return grpc.StatusCode(next(c for c in grpc.StatusCode if c.value[0] == code)).name
    except StopIteration:
        return "CODE_%d" % code


def _tool_call(agent, k, call, share, distinct):
    tool, input_json, cwd, home = call
    if share not in ("safe", "replay"):
        if distinct == "call":
            cwd = "/home/dev/agents/a%d/c%d" % (agent, k)
        elif distinct == "agent":
            cwd = "/home/dev/agents/a%d" % agent
    return pb.ToolCall(request_id="a%d-%d" % (agent, k), agent_id="bench-agent-%d" % agent,
                       session_id="bench-session-%d" % agent, tool=tool, input_json=input_json, cwd=cwd, home=home)


class Load:
    """The agents: ``run()`` sends until ``end`` (perf_counter) and waits for what is in
    flight, at most ``deadline`` beyond the last send."""

    def __init__(self, args, target, workload, rec):
        self.args = args
        self.target = target
        self.workload = workload
        self.rec = rec
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
                   ("grpc.use_local_subchannel_pool", 1)]     # one connection per channel object
        self.channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(args.channels)]
        self.stubs = [pb_grpc.ValidatorStub(ch) for ch in self.channels]
        self.stopping = False
        self.begin = time.perf_counter()    # run() sets it: the agents' schedules count from it
        self.agents = range(args.agents)    # this process's agents (--procs: a share of them)

    async def close(self):
        for ch in self.channels:
            await ch.close()

    async def ready(self, timeout=60.0):
        try:
            for ch in self.channels:
                await asyncio.wait_for(ch.channel_ready(), timeout)
        except TimeoutError:
            raise BenchError("no connection to %s within %d s" % (self.target, timeout)) from None

    def _ramp(self, period):
        """Seconds over which the agents start, each at a random point: open loop, one
        period; closed loop, --ramp. Thousands of streams opened in the same
        millisecond are no agent's behaviour, and make gRPC's client refuse some."""
        return period if self.args.mode == "open" else self.args.ramp

    def _period(self):
        a = self.args
        if a.mode == "open":
            return a.agents / a.rate if a.rate else a.think
        return a.think

    def _gap(self, rng, period):
        """Seconds to the agent's next send (exponential gaps when --poisson)."""
        return rng.expovariate(1.0 / period) if self.args.poisson and period > 0 else period

    async def _pace(self, rng, period, start_at):
        """Closed loop: sleep until ``start_at`` (the last call's send) plus the think time."""
        await asyncio.sleep(max(0.0, start_at + self._gap(rng, period) - time.perf_counter()))

    async def _start(self, rng, period):
        """Wait for the agent's first send, at a random point of the ramp; returns when it
        was due (perf_counter)."""
        due = self.begin + rng.random() * self._ramp(period)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        return due

    async def _next(self, rng, period, due):
        """Open loop: the agent's next due time after ``due``, once it has come (at once
        when this process is behind: the calls it owes are sent, not skipped)."""
        due += self._gap(rng, period)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        return due

    async def unary_agent(self, i, end):
        """One agent on unary calls. Open loop: a call every period from the agent's
        start, each timed from when it was due. A call refused by the server's admission
        limits is sent again with backoff (ADMISSION), within its deadline."""
        a, rec = self.args, self.rec
        stub = self.stubs[i % len(self.stubs)]
        rng = random.Random(a.seed * 100003 + i)
        jitter = random.Random(a.seed * 100019 + i)          # backoffs leave the workload's draws alone
        period = self._period()
        pending = set()

        async def one(k, due):
            share, call = self.workload.draw(rng)
            msg = _tool_call(i, k, call, share, a.distinct)
            t = rec.start(due)
            tries = 0
            refused = False           # refused by an admission limit at least once
            try:
                while True:
                    left = a.deadline - (time.perf_counter() - t)
                    if left <= 0:
                        rec.unary["refused_too_often"] += refused
                        rec.failed(t, share, HUNG)
                        return
                    try:
                        d = await stub.Validate(msg, timeout=left)
                    except grpc.aio.AioRpcError as e:
                        code, detail = e.code().name, _rpc_detail(e)
                        admission = code in ADMISSION and not detail.startswith(TOO_LARGE)
                        if admission and not refused:
                            refused = True
                            rec.unary["refused"] += 1
                        wait = BACKOFF * (1 << tries) * jitter.uniform(0.5, 1.0)
                        if (admission and tries < RESENDS and not self.stopping
                                and time.perf_counter() + wait - t < a.deadline):
                            rec.unary["retries"] += 1
                            tries += 1
                            await asyncio.sleep(wait)
                            continue
                        rec.unary["refused_too_often"] += refused
                        rec.failed(t, share, code, detail=detail)
                        return
                    rec.unary["refused_then_answered"] += refused
                    rec.answered(t, share, d)
                    return
            except asyncio.CancelledError:
                rec.unary["refused_too_often"] += refused
                rec.failed(t, share, "CANCELLED_BY_BENCH")
                raise

        due = await self._start(rng, period)
        k = 0
        if a.mode == "open":
            while due < end and not self.stopping:
                task = asyncio.ensure_future(one(k, due))
                pending.add(task)
                task.add_done_callback(pending.discard)
                k += 1
                due = await self._next(rng, period, due)
        else:
            while time.perf_counter() < end and not self.stopping:
                t0 = time.perf_counter()
                await one(k, None)
                k += 1
                if period > 0:
                    await self._pace(rng, period, t0)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def stream_agent(self, i, end):
        """One agent on streams: a stream that breaks is counted, its unanswered calls
        failed with its status (or, when it was refused as it opened, sent again on the
        next stream: REFUSED), and a new one opened after a short pause, as a client
        reopens a broken stream."""
        a, rec = self.args, self.rec
        rng = random.Random(a.seed * 100003 + i)
        period = self._period()
        sched = [await self._start(rng, period)]     # open loop: when the next call is due
        k = 0
        carry = []              # (t_send, share, message, sends, code, detail) to send again
        reopening = False
        while (self._more(sched, end) or carry) and not self.stopping:
            rec.streams_opened += 1
            rec.streams_reopened += reopening
            k, broke, carry = await self._stream_session(i, end, rng, period, k, carry, sched)
            if not broke:
                break
            rec.streams_broken += 1
            reopening = True
            # (a stream that broke as the run was stopping is not reopened)
            await asyncio.sleep(rng.uniform(0.1, 1.0))
        for t, share, _msg, _sends, code, detail in carry:
            rec.gave_up += 1
            rec.failed(t, share, code, detail=detail)

    def _more(self, sched, end):
        """Whether the agent has calls left to send: open loop, one due before ``end``
        (``sched[0]``); closed loop, time left."""
        return sched[0] < end if self.args.mode == "open" else time.perf_counter() < end

    async def _stream_session(self, i, end, rng, period, k, carry, sched):
        """Calls on one ValidateStream until ``end`` or until it breaks, ``carry`` (the
        calls of a refused stream) first; returns the next call number, whether it broke
        (before the end, or with calls to send again) and the calls to send again.
        ``sched[0]``: in open loop, when the next call is due (advanced here)."""
        a, rec = self.args, self.rec
        is_open = a.mode == "open"
        stub = self.stubs[i % len(self.stubs)]
        waiting = {}                        # request_id -> (t_send, share, future, message, sends)
        call = stub.ValidateStream(timeout=a.deadline + max(0.0, end - time.perf_counter()) + 30)
        broken = []
        answered = []                       # any answer on this stream: it was not refused
        again = []

        def refused(code):
            return code in REFUSED and not answered and not self.stopping

        def settle(w, code, detail):
            """A call of the broken stream: sent again on the next one, or failed."""
            t, share, fut, msg, sends = w
            if refused(code) and sends < RESENDS:
                again.append((t, share, msg, sends, code, detail))
            else:
                rec.gave_up += refused(code)
                rec.failed(t, share, code, detail=detail)
            fut.set_result(None)

        async def reader():
            try:
                async for d in call:
                    answered.append(True)
                    w = waiting.pop(d.request_id, None)
                    if w is not None:
                        rec.answered(w[0], w[1], d)
                        w[2].set_result(None)
            except grpc.aio.AioRpcError as e:
                broken.append((e.code().name, _rpc_detail(e)))
            finally:
                code, detail = broken[0] if broken else ("STREAM_ENDED", "the server ended the stream")
                for w in waiting.values():
                    settle(w, code, detail)
                waiting.clear()

        read = asyncio.ensure_future(reader())
        loop = asyncio.get_running_loop()
        write_failed = False

        async def send(t, share, msg, sends):
            """Write one call; False when the stream has ended (the call settled)."""
            nonlocal write_failed
            waiting[msg.request_id] = (t, share, loop.create_future(), msg, sends)
            try:
                await call.write(msg)
            except grpc.aio.AioRpcError as e:
                write_failed = True
                w = waiting.pop(msg.request_id, None)
                if w is not None:
                    settle(w, e.code().name, _rpc_detail(e))
                return False
            except asyncio.InvalidStateError as e:
                # The stream had ended before this write ("RPC already finished"): its own
                # status says why, so that a stream refused as it opened has this call sent
                # again like the calls it held.
                write_failed = True
                w = waiting.pop(msg.request_id, None)
                if w is not None:
                    if call.done():
                        code = await call.code()
                        settle(w, code.name, "%s (%s)" % (await call.details() or code.name, e))
                    else:
                        settle(w, "STREAM_ENDED", str(e))
                return False
            return True

        try:
            for n, (t, share, msg, sends, _code, _detail) in enumerate(carry):
                rec.resent += 1
                if not await send(t, share, msg, sends + 1):
                    again.extend(carry[n + 1:])         # not sent on this stream: still to send
                    break
            while self._more(sched, end) and not self.stopping and not read.done() and not write_failed:
                t0 = time.perf_counter()
                share, c = self.workload.draw(rng)
                msg = _tool_call(i, k, c, share, a.distinct)
                k += 1
                t = rec.start(sched[0] if is_open else None)
                if is_open:
                    sched[0] += self._gap(rng, period)
                if not await send(t, share, msg, 0):
                    break
                fut = waiting[msg.request_id][2] if msg.request_id in waiting else None
                if a.mode != "open" and fut is not None:
                    try:
                        await asyncio.wait_for(asyncio.shield(fut), a.deadline)
                    except TimeoutError:
                        w = waiting.pop(msg.request_id, None)
                        if w is not None:
                            rec.failed(w[0], w[1], HUNG)
                if is_open:
                    await asyncio.sleep(max(0.0, sched[0] - time.perf_counter()))
                elif period > 0:
                    await self._pace(rng, period, t0)
            # What is still in flight gets its deadline from its own send, then counts as hung.
            while waiting and not read.done():
                now = time.perf_counter()
                late = [rid for rid, w in waiting.items() if now - w[0] > a.deadline]
                for rid in late:
                    t, share, fut, _msg, _sends = waiting.pop(rid)
                    rec.failed(t, share, HUNG)
                    fut.set_result(None)
                if waiting:
                    await asyncio.wait([w[2] for w in waiting.values()], timeout=0.2)
            if not read.done():
                await call.done_writing()
        except grpc.aio.AioRpcError:
            pass
        finally:
            try:
                await asyncio.wait_for(read, 10)
            except (TimeoutError, asyncio.CancelledError):
                call.cancel()
            if not read.done():
                read.cancel()
            # A call written as the stream was ending (the write accepted after the reader
            # had settled what it held) is settled here, like the calls the reader held:
            # sent again when the stream was refused, failed otherwise, never left out.
            if waiting:
                code, detail = broken[0] if broken else ("STREAM_ENDED", "the server ended the stream")
                for w in list(waiting.values()):
                    settle(w, code, detail)
                waiting.clear()
        broke = (write_failed or bool(broken)) and (self._more(sched, end) or bool(again))
        return k, broke, again

    async def run(self, end):
        agent = self.stream_agent if self.args.transport == "stream" else self.unary_agent
        freezer = asyncio.ensure_future(self._collect_as_the_server_does(end))
        self.begin = time.perf_counter()
        try:
            await asyncio.gather(*(agent(i, end) for i in self.agents))
        finally:
            freezer.cancel()

    async def _collect_as_the_server_does(self, end):
        """This process's collector under the server's regime (lighthouse.server.runtime):
        what exists before the agents start frozen, the young generations collected on a
        timer, a freeze each time the open streams have grown by a quarter, and once the
        agents have all started (unary agents hold long-lived tasks too) one more freeze.
        It used to keep the collector off while the agents started, then collect
        everything at once: that collection, over 10,000 streams' objects, took 1.5-2.2 s
        on the loaded machine, right at the end of the warm-up."""
        from lighthouse.metrics import Histogram
        from lighthouse.server.runtime import RuntimeWatch

        rec = self.rec

        class Opened:
            loop_lag = Histogram()

            @property
            def streams_open(self):
                return rec.streams_opened - rec.streams_broken

        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        watch = asyncio.ensure_future(RuntimeWatch(Opened()).run_lag())
        try:
            await asyncio.sleep(min(self._ramp(self._period()) + 1.0, max(0.0, end - time.perf_counter())))
            gc.collect(1)
            gc.freeze()
            await watch
        finally:
            watch.cancel()


# ------------------------------------------------------------------ several processes (--procs)
#
# One Python process drives every agent by default; at 10,000 streams its event loop and
# its collector become part of what a call waits for (the report's load generator loop lag
# and collections). With --procs N, N processes of this script each drive a contiguous
# share of the agents (the same agent numbers, so the same calls, as in one process) over
# ceil(channels / N) connections of their own, start at one instant the parent gives them
# (wall clock, each converting it to its own perf_counter), and hand back every call's row,
# their counters, loop lag samples and collections as JSON. The parent concatenates the
# rows: the percentiles are computed over every call of every process, exactly as in one
# process, not averaged from per-process percentiles.

PROCS_CHILD = "--procs-child"
RECORDER_COUNTERS = ("sent", "errors", "streams_opened", "streams_broken", "streams_reopened", "resent", "gave_up")


class Procs:
    """The load of ``args.procs`` child processes, with Load's ready/run/close."""

    def __init__(self, args, target, rec):
        self.args, self.target, self.rec = args, target, rec
        self.children = []

    async def ready(self, timeout=120.0):
        a, n = self.args, self.args.procs
        job_args = {k: v for k, v in vars(a).items()}
        job_args.update(procs=1, progress=False, channels=max(1, -(-a.channels // n)))
        for k in range(n):
            child = await asyncio.create_subprocess_exec(
                sys.executable, str(pathlib.Path(__file__).resolve()), PROCS_CHILD,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=1 << 30)
            self.children.append(child)
            job = {"args": job_args, "target": self.target, "agents": [a.agents * k // n, a.agents * (k + 1) // n]}
            child.stdin.write((json.dumps(job) + "\n").encode())
            await child.stdin.drain()
        for k, child in enumerate(self.children):
            try:
                line = await asyncio.wait_for(child.stdout.readline(), timeout)
            except TimeoutError:
                line = b""
            if line.strip() != b"ready":
                raise BenchError("load process %d of %d did not connect to %s within %d s (exit status %s)"
                                 % (k + 1, n, self.target, timeout, child.returncode))

    async def run(self, end):
        """Start every child at one instant (rec.t0) and merge what they recorded."""
        rec = self.rec
        epoch = time.time() + (rec.t0 - time.perf_counter())
        for child in self.children:
            child.stdin.write(("go %r\n" % epoch).encode())
            await child.stdin.drain()
            child.stdin.close()
        outs = await asyncio.gather(*(child.stdout.read() for child in self.children))
        for k, (child, out) in enumerate(zip(self.children, outs)):
            status = await child.wait()
            try:
                part = json.loads(out)
            except ValueError:
                raise BenchError("load process %d of %d ended without its figures (exit status %d)"
                                 % (k + 1, len(self.children), status)) from None
            rec.rows.extend(tuple(r) for r in part["rows"])
            for name in RECORDER_COUNTERS:
                setattr(rec, name, getattr(rec, name) + part[name])
            for name, v in part["unary"].items():
                rec.unary[name] += v
            for code, text in part["details"].items():
                rec.details.setdefault(code, text)
            rec.loop_lag.extend(part["loop_lag"])
            rec.gc.extend(tuple(g) for g in part["gc"])
            rec.child_cpu += part["cpu_s"]

    async def close(self):
        for child in self.children:
            if child.returncode is None:
                child.kill()
                await child.wait()


async def _child_measure(job):
    """A --procs child: its share of the agents from the instant the parent says."""
    args = argparse.Namespace(**job["args"])
    workload, _meta = build_workload(args)
    rec = Recorder(args.deadline)
    load = Load(args, job["target"], workload, rec)
    load.agents = range(*job["agents"])
    loop = asyncio.get_running_loop()
    try:
        await load.ready()
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line.startswith("go "):
            raise BenchError("the parent did not say when to start")
        rec.t0 = time.perf_counter() + float(line.split()[1]) - time.time()
        await asyncio.sleep(max(0.0, rec.t0 - time.perf_counter()))
        end = rec.t0 + args.duration
        rec.gc_from = rec.t0 + min(args.warmup, args.duration / 2)
        lag = asyncio.ensure_future(loop_lag(rec, rec.gc_from, end))
        cpu0 = os.times()
        gc.callbacks.append(rec.gc_hook)
        try:
            await load.run(end)
        finally:
            gc.callbacks.remove(rec.gc_hook)
            lag.cancel()
        cpu1 = os.times()
    finally:
        await load.close()
    return {"rows": rec.rows, "unary": rec.unary, "details": rec.details, "loop_lag": rec.loop_lag,
            "gc": rec.gc, "cpu_s": cpu1.user + cpu1.system - cpu0.user - cpu0.system,
            **{name: getattr(rec, name) for name in RECORDER_COUNTERS}}


def procs_child():
    """Entry point of a --procs child: the job on stdin, "ready" then the figures on stdout."""
    job = json.loads(sys.stdin.readline())
    from lighthouse.server.app import run_loop
    out = run_loop(_child_measure(job))
    sys.stdout.write(json.dumps(out))
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------ statistics


def pct(sorted_values, q):
    """Nearest-rank percentile of a sorted list (ms), None for an empty one."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q / 100.0 * len(sorted_values)) - 1))
    return round(sorted_values[k], 3)


def summary(latencies_s):
    v = sorted(x * 1000 for x in latencies_s)
    return {"count": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99), "p999": pct(v, 99.9),
            "max": round(v[-1], 3) if v else None}


def summarise(rows, t_from=0.0, t_to=float("inf")):
    """Figures of the calls sent in [t_from, t_to)."""
    sel = [r for r in rows if t_from <= r[0] < t_to]
    by_op, by_share, errors, overhead = {}, {}, {}, []
    for t, lat, share, op, code, slept, _tier, _ns in sel:
        s = by_share.setdefault(share, {"sent": 0, "answered": 0, "tiers": {}, "lat": []})
        s["sent"] += 1
        if code is not None:
            errors[code] = errors.get(code, 0) + 1
            continue
        s["answered"] += 1
        s["tiers"][op] = s["tiers"].get(op, 0) + 1
        s["lat"].append(lat)
        by_op.setdefault(op, []).append(lat)
        if slept is not None:
            overhead.append(lat - slept / 1000.0)
    latency = {op: summary(by_op.get(op, [])) for op in OPS}
    for op in by_op:
        if op not in latency:
            latency[op] = summary(by_op[op])
    shares = {}
    for name, s in by_share.items():
        shares[name] = {"sent": s["sent"], "answered": s["answered"], "operations": s["tiers"],
                        "latency_ms": summary(s["lat"])}
    return {"calls": len(sel), "answered": sum(1 for r in sel if r[4] is None), "errors": errors,
            "fail_mode": len(by_op.get("fail_mode", ())), "latency_ms": latency, "by_share": shares,
            "expert_overhead_ms": summary(overhead)}


def _histogram_delta(before, after, name, **labels):
    """A Prometheus histogram of the server over the run (the difference of two scrapes):
    count, total, and the upper bounds of the buckets holding the p99 and the largest
    value, in ms; None when the server has no such histogram."""
    cum = {}
    for (n, lab), v in after.items():
        if n != name + "_bucket":
            continue
        d = dict(lab)
        le = float(d.pop("le"))
        if all(d.get(k) == want for k, want in labels.items()):
            cum[le] = cum.get(le, 0.0) + v - before.get((n, lab), 0.0)
    if not cum:
        return None
    bounds = sorted(cum)
    count = cum[bounds[-1]]

    def bound(rank):
        le = next(b for b in bounds if cum[b] >= rank)
        return None if math.isinf(le) else round(le * 1000, 3)

    total = _sum(after, name + "_sum", **labels) - _sum(before, name + "_sum", **labels)
    return {"count": int(count), "total_ms": round(total * 1000, 1),
            "p99_le_ms": bound(0.99 * count) if count else None, "max_le_ms": bound(count) if count else None}


def server_runtime(before, after):
    """The server's garbage-collection pauses by generation and its event loop's lag
    over the run (``lighthouse_gc_pause_seconds``, ``lighthouse_event_loop_lag_seconds``;
    a server without them gives None)."""
    lag = _histogram_delta(before, after, "lighthouse_event_loop_lag_seconds")
    if lag is None:
        return None
    return {"gc_pause_ms": {g: _histogram_delta(before, after, "lighthouse_gc_pause_seconds", generation=g)
                            for g in ("0", "1", "2")},
            "loop_lag_ms": lag}


def gc_summary(pauses):
    """(generation, seconds) pairs as count, total, p99 and longest per generation (ms)."""
    out = {}
    for g in (0, 1, 2):
        v = sorted(d * 1000 for gen, d in pauses if gen == g)
        out[str(g)] = {"count": len(v), "total_ms": round(sum(v), 1), "p99_ms": pct(v, 99),
                       "max_ms": round(v[-1], 3) if v else None}
    return out


def cache_ratios(before, after):
    """Hit ratios per tier over the run, from counter deltas of two scrapes."""
    def delta(name, **labels):
        return _sum(after, name, **labels) - _sum(before, name, **labels)

    out = {}
    hits, misses = delta("lighthouse_cache_hits_total"), delta("lighthouse_cache_misses_total")
    out["memory"] = round(hits / (hits + misses), 4) if hits + misses else None
    esc_hits = {k: v - _by_label(before, "lighthouse_escalation_cache_hits_total", "tier").get(k, 0.0)
                for k, v in _by_label(after, "lighthouse_escalation_cache_hits_total", "tier").items()}
    answers = {}
    for (n, lab), v in after.items():
        if n == "lighthouse_escalation_answers_total":
            tier = dict(lab).get("tier", "")
            answers[tier] = answers.get(tier, 0.0) + v - before.get((n, lab), 0.0)
    for tier in ("policy", "expert"):
        h = esc_hits.get(tier, 0.0)
        total = answers.get(tier, 0.0) + h
        out[tier] = round(h / total, 4) if total else None
    return out


def server_counters(before, after):
    def delta(name):
        return {k: int(v - _by_label(before, name, "cause").get(k, 0.0))
                for k, v in _by_label(after, name, "cause").items() if v - _by_label(before, name, "cause").get(k, 0.0)}

    errs = {}
    for (n, lab), v in after.items():
        if n == "lighthouse_errors_total":
            code = dict(lab).get("code", "")
            d = int(v - before.get((n, lab), 0.0))
            if d:
                errs[code] = errs.get(code, 0) + d
    outcomes = {}
    for (n, lab), v in after.items():
        if n == "lighthouse_escalations_total":
            d = dict(lab)
            k = "%s:%s" % (d.get("tier", ""), d.get("outcome", ""))
            diff = int(v - before.get((n, lab), 0.0))
            if diff:
                outcomes[k] = outcomes.get(k, 0) + diff
    return {"fail_mode_by_cause": delta("lighthouse_escalation_fail_mode_total"), "errors_by_code": errs,
            "escalations_by_tier_outcome": outcomes}


# ------------------------------------------------------------------ faults and samples


async def inject(stack, kind, at, length, t0, log, scrapes):
    """Start ``kind`` at ``t0 + at`` and remove it ``length`` seconds later; ``log`` gets
    (time from t0, event) pairs, ``scrapes`` the server's metrics as the fault starts and
    as it ends."""
    def now():
        return time.perf_counter() - t0

    await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
    scrapes.append(await asyncio.to_thread(scrape, stack.metrics_port))
    started = now()                     # on a loaded machine later than asked: the phases start here
    stopped = []
    if kind == "policy-down":
        stopped = stack.policy_workers()
        if not stopped:
            raise BenchError("--fault policy-down: the server has no policy worker processes (--no-policy?)")
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        log.append((now(), "policy workers stopped (SIGSTOP): %s" % stopped))
    elif kind == "experts-timeout":
        os.kill(stack.experts.pid, signal.SIGSTOP)
        log.append((now(), "experts stopped (SIGSTOP)"))
    elif kind == "expert-disconnect":
        stack.experts.kill()
        stack.experts.wait()
        log.append((now(), "experts killed (SIGKILL) mid-escalation"))
    end = t0 + at + length
    if kind == "policy-reload":
        n = 0
        while time.perf_counter() < end:
            os.kill(stack.server.pid, signal.SIGHUP)
            n += 1
            await asyncio.sleep(min(stack.args.reload_every, max(0.0, end - time.perf_counter())))
        log.append((now(), "%d reloads (SIGHUP) sent" % n))
    else:
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
    if kind == "policy-down":
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        log.append((now(), "policy workers resumed (SIGCONT)"))
    elif kind == "experts-timeout":
        os.kill(stack.experts.pid, signal.SIGCONT)
        log.append((now(), "experts resumed (SIGCONT)"))
    elif kind == "expert-disconnect":
        stack.start_experts()
        log.append((now(), "experts restarted"))
    scrapes.append(await asyncio.to_thread(scrape, stack.metrics_port))
    return started, now()


async def sampler(stack, rec, every, samples):
    """Every ``every`` seconds: the server's RSS and descriptors (and its children's RSS),
    the audit log's size, and the latency of the calls that ended since the last sample."""
    last = 0
    while True:
        await asyncio.sleep(every)
        main = proc_sample(stack.server.pid)
        kids = [s for s in (proc_sample(p) for p in stack.descendants()) if s]
        size = sum(os.path.getsize(p) for p in (stack.audit_db, pathlib.Path(str(stack.audit_db) + "-wal"))
                   if os.path.exists(p))
        rows = rec.rows[last:]
        last = len(rec.rows)
        ok = [r for r in rows if r[4] is None]
        try:
            m = await asyncio.to_thread(scrape, stack.metrics_port)
        except OSError:
            m = {}
        samples.append({
            # What the server keeps by design (bounded): a growing RSS beside growing caches is
            # them filling up, not a leak.
            "cache_entries": int(_sum(m, "lighthouse_cache_entries")),
            "escalation_cache_entries": int(_sum(m, "lighthouse_escalation_cache_entries")),
            "t_s": round(time.perf_counter() - rec.t0, 1),
            "rss_kib": main[0] if main else None, "fds": main[1] if main else None,
            "children_rss_kib": sum(s[0] for s in kids), "audit_bytes": size,
            "calls": len(rows), "errors": len(rows) - len(ok),
            "validation_ms": summary([r[1] for r in ok if r[3] == "validation"]),
            "expert_escalation_ms": summary([r[1] for r in ok if r[3] == "expert_escalation"]),
        })


LAG_EVERY = 0.05


async def loop_lag(rec, warm, end):
    """From ``warm`` to ``end`` (perf_counter): how much later than asked this process's
    event loop wakes a LAG_EVERY-second sleep, in seconds, into ``rec.loop_lag``."""
    while time.perf_counter() < end:
        t = time.perf_counter()
        await asyncio.sleep(LAG_EVERY)
        if t >= warm:
            rec.loop_lag.append(max(0.0, time.perf_counter() - t - LAG_EVERY))


async def _scrape_at(metrics_port, when, out):
    """The server's metrics at ``when`` (perf_counter) into ``out``."""
    await asyncio.sleep(max(0.0, when - time.perf_counter()))
    try:
        out.append(await asyncio.to_thread(scrape, metrics_port))
    except OSError:
        pass


def growth(samples, key, warmup_s):
    """Growth of ``key`` after warm-up: the median of the last quarter of the samples
    taken after ``warmup_s`` over the median of their first quarter, minus 1."""
    vals = [s[key] for s in samples if s["t_s"] >= warmup_s and s.get(key) is not None]
    if len(vals) < 4:
        return None
    q = max(1, len(vals) // 4)
    first, last = sorted(vals[:q]), sorted(vals[-q:])
    base = first[len(first) // 2]
    return round(last[len(last) // 2] / base - 1, 4) if base else None


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, rec, total_s, enabled):
        self.rec, self.total, self.enabled = rec, total_s, enabled

    async def run(self):
        if not self.enabled:
            return
        try:
            while True:
                self.draw()
                await asyncio.sleep(0.5)
        finally:
            self.draw()
            sys.stderr.write("\n")
            sys.stderr.flush()

    def draw(self):
        el = time.perf_counter() - self.rec.t0
        frac = min(1.0, el / self.total) if self.total else 1.0
        bar = "#" * int(frac * 30)
        errs = self.rec.errors
        sys.stderr.write("\r[%-30s] %5.1f/%.0f s  sent %d  answered %d  in flight %d  errors %d " % (
            bar, el, self.total, self.rec.sent, len(self.rec.rows) - errs, self.rec.in_flight, errs))
        sys.stderr.flush()


# ------------------------------------------------------------------ a run


async def measure(args, target, workload, stack):
    rec = Recorder(args.deadline)
    # --procs N: the agents are driven by N processes of their own (Procs), this one only
    # starts them, watches the server and merges what they recorded.
    load = Load(args, target, workload, rec) if args.procs == 1 else Procs(args, target, rec)
    metrics_port = stack.metrics_port if stack else args.metrics_port
    tasks, warm_scrape, end_scrape = [], [], []
    try:
        await load.ready()
        before = scrape(metrics_port) if metrics_port else None
        fds_client = own_fds()
        cpu0 = os.times()
        pids = ([stack.server.pid, *stack.descendants()] + ([stack.experts.pid] if stack.experts else [])
                if stack else [])
        server_cpu0 = cpu_seconds(pids)
        rec.t0 = time.perf_counter()
        end = rec.t0 + args.duration
        progress = Progress(rec, args.duration, args.progress)
        tasks.append(asyncio.ensure_future(progress.run()))
        fault_log, fault_task, samples, scrapes = [], None, [], []
        if args.fault:
            fault_task = asyncio.ensure_future(inject(stack, args.fault, args.fault_at, args.fault_for, rec.t0,
                                                      fault_log, scrapes))
        if stack and args.sample_every:
            tasks.append(asyncio.ensure_future(sampler(stack, rec, args.sample_every, samples)))
        rec.gc_from = rec.t0 + min(args.warmup, args.duration / 2)
        if metrics_port:
            tasks.append(asyncio.ensure_future(_scrape_at(metrics_port, rec.gc_from, warm_scrape)))
            tasks.append(asyncio.ensure_future(_scrape_at(metrics_port, end, end_scrape)))
        if args.procs == 1:
            tasks.append(asyncio.ensure_future(loop_lag(rec, rec.gc_from, end)))
            gc.callbacks.append(rec.gc_hook)
        try:
            await load.run(end)
        finally:
            if args.procs == 1:
                gc.callbacks.remove(rec.gc_hook)
        elapsed = time.perf_counter() - rec.t0
        fault_end = await fault_task if fault_task else None
        after = scrape(metrics_port) if metrics_port else None
        fds_client_peak = own_fds()
        cpu1 = os.times()
        # Who had the CPU: on a small machine the load generator can be what saturates.
        rec.cpu = {"load_generator_s": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system + rec.child_cpu, 2),
                   "server_and_experts_s": round(cpu_seconds(pids) - server_cpu0, 2) if stack else None,
                   "wall_s": round(elapsed, 2)}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await load.close()
    # The server's collector and loop lag while the calls measured were sent: from the end
    # of the warm-up to the last send (not the streams' closing after it).
    runtime = (server_runtime(warm_scrape[0] if warm_scrape else before, end_scrape[0] if end_scrape else after)
               if before and after else None)
    if args.fault and len(scrapes) == 2:
        fault_log = (fault_log, [server_counters(a, b) for a, b in zip([before] + scrapes, scrapes + [after])])
    return rec, elapsed, before, after, fault_log, fault_end, samples, (fds_client, fds_client_peak), runtime


def report_of(args, rec, elapsed, before, after, meta):
    warm = min(args.warmup, args.duration / 2)
    whole = summarise(rec.rows)
    steady = summarise(rec.rows, warm)
    answered = whole["answered"]
    errors = dict(whole["errors"])
    accounted = answered + sum(errors.values())
    if accounted != rec.sent:                        # a bug of the bench, never hidden
        errors["UNACCOUNTED"] = rec.sent - accounted
    r = {
        "sent": rec.sent, "answered": answered, "lost": rec.sent - answered, "hung": errors.get(HUNG, 0),
        "errors": errors, "error_details": rec.details, "fail_mode": whole["fail_mode"],
        "streams": ({"opened": rec.streams_opened, "broken": rec.streams_broken,
                     "reopened": rec.streams_reopened, "resent": rec.resent,
                     "refused_too_often": rec.gave_up}
                    if args.transport == "stream" else None),
        # Unary calls refused by an admission limit and sent again with backoff (ADMISSION):
        # refused = refused_then_answered + refused_too_often (the latter among the errors).
        "unary": dict(rec.unary) if args.transport == "unary" else None,
        # Calls sent after the warm-up and answered, over the time they were sent in.
        "throughput_per_s": round(steady["answered"] / (args.duration - warm), 1),
        "latency_ms": steady["latency_ms"], "by_share": steady["by_share"],
        "expert_overhead_ms": steady["expert_overhead_ms"],
        "cache_hit_ratio": cache_ratios(before, after) if before and after else None,
        "server": server_counters(before, after) if before and after else None,
        "duration_s": round(elapsed, 2), "warmup_s": warm, "cpu": rec.cpu,
        "config": {"agents": args.agents, "transport": args.transport, "mode": args.mode, "rate": args.rate,
                   "think_s": args.think, "channels": args.channels, "deadline_s": args.deadline,
                   "experts": args.experts, "expert_latency": args.expert_latency, "llm_latency": args.llm_latency,
                   "distinct_escalations": args.distinct, "seed": args.seed, **meta},
        "machine": machine(),
    }
    safe = [x for x in rec.rows if x[0] >= warm and x[2] == "safe" and x[4] is None]
    if safe:
        r["safe_validation_ms"] = summary([x[1] for x in safe if x[3] == "validation"])
        # The same calls' time inside the server (Decision.decision_ns: from the call read
        # to its answer made, without transport or waiting to be read): a client p99 far
        # above it is queueing, in the server's event loop or in this process's.
        r["safe_validation_server_ms"] = summary([x[7] / 1e9 for x in safe if x[3] == "validation"])
        # The decision cache answers with tier CACHE: the client sees it call by call.
        r["safe_cache_hit_ratio"] = round(sum(1 for x in safe if x[6] == "cache") / len(safe), 4)
    # The expert overhead inside the server (decision_ns less the slowest expert's sleep):
    # the rest of the client's overhead is transport and this process's event loop.
    escalated = [x for x in rec.rows if x[0] >= warm and x[4] is None and x[5] is not None and x[7]]
    r["expert_overhead_server_ms"] = summary([x[7] / 1e9 - x[5] / 1000.0 for x in escalated])
    # This process's event loop: how late it ran a timer. When its p99 is near the client
    # p99, the load generator, not the server, is what the calls waited for.
    r["load_generator_loop_lag_ms"] = summary(rec.loop_lag)
    # The load generator's own collections after the warm-up, and the server's (with its
    # loop lag): what a client p99 far above the server's time waited for.
    r["load_generator_gc_ms"] = gc_summary(rec.gc)
    r["targets"] = targets(r)
    return r


def machine():
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in load] if load else None,
            "platform": platform.platform(), "python": platform.python_version(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def targets(r):
    """The issue's targets as booleans (None when the run has no such calls)."""
    out = {"none_lost": r["lost"] == 0}
    sv = r.get("safe_validation_ms") or {}
    out["safe_validation_p99_le_10ms"] = sv["p99"] <= 10 if sv.get("p99") is not None else None
    ov = r["expert_overhead_ms"]
    out["expert_overhead_p99_le_5ms"] = ov["p99"] <= 5 if ov["p99"] is not None else None
    ratio = r.get("safe_cache_hit_ratio")
    out["safe_cache_hit_ratio_ge_0.95"] = ratio >= 0.95 if ratio is not None else None
    return out


def run(args):
    workload, meta = build_workload(args)
    stack = None
    if args.target:
        target = check_target(args.target, args.allow_remote)
    else:
        stack = Stack(args, python=args.server_python, tree=args.server_tree).start()
        target = "127.0.0.1:%d" % stack.port
    if args.fault and stack is None:
        raise BenchError("--fault needs the server this bench starts (not --target)")
    try:
        from lighthouse.server.app import run_loop
        rec, elapsed, before, after, fault_log, fault_end, samples, fds, runtime = run_loop(
            measure(args, target, workload, stack))
        meta = dict(meta, client_fds_start=fds[0], client_fds_end=fds[1])
        report = report_of(args, rec, elapsed, before, after, meta)
        report["server_runtime"] = runtime
        if stack:
            s = proc_sample(stack.server.pid)
            report["server_process"] = {"rss_kib": s[0], "fds": s[1]} if s else None
        if args.fault:
            report["fault"] = fault_report(args, rec, fault_log, fault_end)
        if samples:
            warm = args.warmup
            report["endurance"] = {
                "samples": samples, "warmup_s": warm,
                "rss_growth": growth(samples, "rss_kib", warm), "fds_growth": growth(samples, "fds", warm),
                "audit_bytes_per_call": round(samples[-1]["audit_bytes"] / max(1, rec.sent), 1),
            }
            g = report["endurance"]["rss_growth"]
            report["endurance"]["rss_growth_ok"] = None if g is None else g <= args.max_rss_growth
        report["_rows"] = rec.rows
        return report
    finally:
        if stack:
            stack.stop()


def fault_report(args, rec, log_and_server, window):
    """Each phase of a fault run, and the recovery: how long after the fault's end calls
    still got the fail mode or an error (the send time of the last such call).
    ``window``: when the fault started and when it was removed, in seconds from the
    start of the run (on a loaded machine a little later than asked)."""
    log, server = log_and_server
    at, end = window
    phases = {"before": summarise(rec.rows, min(args.warmup, at), at), "during": summarise(rec.rows, at, end),
              "after": summarise(rec.rows, end)}
    bad_after = [r[0] for r in rec.rows if r[0] >= end and (r[4] is not None or r[3] == "fail_mode")]
    tail = args.duration - end
    recovery = round(max(bad_after) - end, 3) if bad_after else 0.0
    return {"kind": args.fault, "at_s": round(at, 3), "for_s": round(end - at, 3), "events": log,
            "phases": {k: {"calls": v["calls"], "answered": v["answered"], "fail_mode": v["fail_mode"],
                           "errors": v["errors"], "latency_ms": v["latency_ms"], "server": srv}
                       for (k, v), srv in zip(phases.items(), server)},
            "recovery_s": recovery,
            # Recovered: no abnormal answer to a call sent in the last quarter of the time after the fault.
            "recovered": not any(t >= end + tail * 0.75 for t in bad_after)}


def check_target(target, allow_remote):
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise BenchError("--target: %r is not HOST:PORT" % target)
    if not allow_remote:
        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(host.strip("[]"), int(port), proto=socket.IPPROTO_TCP)}
        except OSError as e:
            raise BenchError("--target: cannot resolve %r: %s" % (host, e)) from None
        if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
            raise BenchError("--target: %s is not a loopback address (pass --allow-remote to load another host)"
                             % host)
    return target


# ------------------------------------------------------------------ output


def print_table(r, out=sys.stdout):
    c = r["config"]
    m = r["machine"]
    w = out.write
    w("agents: %d %s agents, %s loop%s, %d channels, %g s (first %g s warm-up); %s experts at %s%s\n" % (
        c["agents"], c["transport"], c["mode"], (" at %g calls/s" % c["rate"]) if c["mode"] == "open" and c["rate"]
        else (", think %g s" % c["think_s"] if c["think_s"] else ""), c["channels"], r["duration_s"], r["warmup_s"],
        c["experts"], c["expert_latency"], ", LLM at %s" % c["llm_latency"] if c["llm_latency"] else ""))
    w("machine: %s CPUs, load average %s, %s\n" % (m["cpus"], m["load_average"], m["time"]))
    if r.get("cpu"):
        w("CPU seconds over %.1f s: load generator %s, server and experts %s\n" % (
            r["cpu"]["wall_s"], r["cpu"]["load_generator_s"], r["cpu"]["server_and_experts_s"]))
    w("calls: sent %d, answered %d, lost %d (hung %d), fail mode %d; throughput %.1f calls/s\n" % (
        r["sent"], r["answered"], r["lost"], r["hung"], r["fail_mode"], r["throughput_per_s"] or 0))
    if r.get("streams"):
        w("streams: %d opened, %d broke, %d reopened; %d calls sent again after a refusal, %d lost "
          "to %d refusals\n" % (r["streams"]["opened"], r["streams"]["broken"], r["streams"]["reopened"],
                                r["streams"]["resent"], r["streams"]["refused_too_often"], RESENDS + 1))
    if r["errors"]:
        w("errors: %s\n" % ", ".join("%s %d" % kv for kv in sorted(r["errors"].items())))
        for code, text in sorted(r["error_details"].items()):
            w("  %s: %s\n" % (code, text))
    w("%-18s %8s %9s %9s %9s %9s %9s\n" % ("operation", "calls", "p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"))
    for op, s in r["latency_ms"].items():
        w("%-18s %8d %9s %9s %9s %9s %9s\n" % ((op, s["count"]) + tuple(
            "-" if s[k] is None else "%.2f" % s[k] for k in ("p50", "p95", "p99", "p999", "max"))))
    for name, s in r["by_share"].items():
        lat = s["latency_ms"]
        w("share %-8s sent %d, answered %d, by %s; p50 %s ms, p99 %s ms\n" % (
            name, s["sent"], s["answered"], ", ".join("%s %d" % kv for kv in sorted(s["operations"].items())) or "-",
            lat["p50"], lat["p99"]))
    o = r["expert_overhead_ms"]
    if o["count"]:
        w("expert overhead (latency beyond the slowest expert's own time): p50 %.2f, p99 %.2f, p99.9 %.2f ms\n" % (
            o["p50"], o["p99"], o["p999"]))
        o = r.get("expert_overhead_server_ms")
        if o and o["count"]:
            w("  of which inside the server (decision_ns): p50 %.2f, p99 %.2f, p99.9 %.2f ms\n" % (
                o["p50"], o["p99"], o["p999"]))
    if r.get("cache_hit_ratio"):
        w("server cache hit ratio: %s\n" % ", ".join("%s %s" % (k, "-" if v is None else "%.3f" % v)
                                                       for k, v in r["cache_hit_ratio"].items()))
    if r.get("safe_cache_hit_ratio") is not None:
        w("safe share: answered from the cache %.3f; validation p99 %s ms (inside the server %s ms)\n" % (
            r["safe_cache_hit_ratio"], r["safe_validation_ms"]["p99"], r["safe_validation_server_ms"]["p99"]))
    lag = r.get("load_generator_loop_lag_ms")
    if lag and lag["count"]:
        w("load generator's event loop late by: p50 %s, p99 %s, max %s ms\n" % (lag["p50"], lag["p99"], lag["max"]))
    gcs = r.get("load_generator_gc_ms")
    if gcs:
        w("load generator's collections after the warm-up (count, total ms, longest ms): %s\n" % ", ".join(
            "gen%s %d, %s, %s" % (g, v["count"], v["total_ms"], v["max_ms"]) for g, v in sorted(gcs.items())))
    rt = r.get("server_runtime")
    if rt:
        w("server's event loop late by (bucket bounds): p99 <= %s, max <= %s ms; its collections (count, total ms, "
          "p99 <= ms): %s\n" % (rt["loop_lag_ms"]["p99_le_ms"], rt["loop_lag_ms"]["max_le_ms"], ", ".join(
              "gen%s %d, %s, %s" % (g, v["count"], v["total_ms"], v["p99_le_ms"])
              for g, v in sorted(rt["gc_pause_ms"].items()) if v)))
    if r.get("unary"):
        u = r["unary"]
        w("unary calls refused by an admission limit: %d (sent again %d times): %d then answered, %d refused "
          "too often\n" % (u["refused"], u["retries"], u["refused_then_answered"], u["refused_too_often"]))
    if r.get("server"):
        s = r["server"]
        if s["fail_mode_by_cause"] or s["errors_by_code"]:
            w("server: fail mode by cause %s, errors by code %s\n" % (s["fail_mode_by_cause"], s["errors_by_code"]))
    if r.get("server_process"):
        w("server process at the end: RSS %d KiB, %d descriptors; this process: %s descriptors\n" % (
            r["server_process"]["rss_kib"], r["server_process"]["fds"], c.get("client_fds_end")))
    w("targets: %s\n" % ", ".join("%s %s" % (k, {True: "met", False: "MISSED", None: "n/a"}[v])
                                  for k, v in r["targets"].items()))
    if r.get("fault"):
        f = r["fault"]
        w("fault %s from %.1f s for %.1f s: %s\n" % (f["kind"], f["at_s"], f["for_s"],
                                                     "; ".join("%.1f s %s" % e for e in f["events"])))
        for ph, s in f["phases"].items():
            lat = s["latency_ms"]
            w("  %-7s calls %d, answered %d, fail mode %d, errors %s; p99 validation %s, policy %s, expert %s ms\n" % (
                ph, s["calls"], s["answered"], s["fail_mode"], s["errors"] or 0, lat["validation"]["p99"],
                lat["policy"]["p99"], lat["expert_escalation"]["p99"]))
            w("          server: escalations %s; fail mode %s\n" % (
                ", ".join("%s %d" % kv for kv in sorted(s["server"]["escalations_by_tier_outcome"].items())) or "-",
                s["server"]["fail_mode_by_cause"] or "-"))
        w("  recovery: last abnormal answer to a call sent %.2f s after the fault ended; recovered: %s\n" % (
            f["recovery_s"], f["recovered"]))
    if r.get("endurance"):
        e = r["endurance"]
        w("endurance: %d samples; RSS growth after warm-up %s (limit %s), descriptors %s, audit %s bytes/call\n" % (
            len(e["samples"]), e["rss_growth"], "ok" if e["rss_growth_ok"] else "EXCEEDED"
            if e["rss_growth_ok"] is False else "n/a", e["fds_growth"], e["audit_bytes_per_call"]))
        for s in e["samples"]:
            w("  %7.1f s  RSS %s KiB (+%s KiB children)  fds %s  audit %d B  cache entries %d + %d  calls %d  "
              "validation p99 %s ms\n" % (
                  s["t_s"], s["rss_kib"], s["children_rss_kib"], s["fds"], s["audit_bytes"], s["cache_entries"],
                  s["escalation_cache_entries"], s["calls"], s["validation_ms"]["p99"]))


def plot(report, rows, path):
    """Latency over time (per operation) and the percentiles, as a PNG. Returns an error
    text when matplotlib is missing, else None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "--plot: matplotlib is not installed (pip install -e '.[bench]'); no plot written"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    ops = [op for op in report["latency_ms"] if report["latency_ms"][op]["count"]]
    colour = {op: "C%d" % k for k, op in enumerate(ops)}          # one colour per operation in both panels
    for op in ops:
        pts = [(r[0], r[1] * 1000) for r in rows if r[3] == op]
        ax1.scatter([p[0] for p in pts], [p[1] for p in pts], s=2, label=op, alpha=0.5, color=colour[op])
    errs = [r[0] for r in rows if r[4] is not None]
    if errs:
        ax1.scatter(errs, [report["config"]["deadline_s"] * 1000] * len(errs), s=4, marker="x", color="black",
                    label="errors (at the deadline)")
    ax1.set_yscale("log")
    ax1.set_xlabel("send time (s)")
    ax1.set_ylabel("latency (ms)")
    ax1.set_title("latency over time")
    ax1.legend(markerscale=5)
    if report.get("fault"):
        f = report["fault"]
        ax1.axvspan(f["at_s"], f["at_s"] + f["for_s"], color="red", alpha=0.1)
    qs = ("p50", "p95", "p99", "p999")
    for k, op in enumerate(ops):
        s = report["latency_ms"][op]
        ax2.bar([i + k * 0.8 / max(1, len(ops)) for i in range(len(qs))], [s[q] for q in qs],
                width=0.8 / max(1, len(ops)), label=op, color=colour[op])
    ax2.set_xticks(range(len(qs)), qs)
    ax2.set_yscale("log")
    ax2.set_ylabel("latency (ms)")
    ax2.set_title("percentiles per operation")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


# ------------------------------------------------------------------ the local LLM endpoint


def llm_server(latency):
    """Serve tests/llmkit.py's OpenAI-speaking stand-in, each answer (ask) after a delay
    drawn from ``latency``; print its URL, run until stdin closes or SIGTERM."""
    sys.path.insert(0, str(ROOT / "tests"))
    from llmkit import FakeLLM, answer

    from lighthouse.experts.sim import Latency

    dist = Latency(latency)

    class Drawn:
        text, status, body, headers, drip, finish, usage = answer("ask", "bench LLM"), 200, None, {}, 0.0, "", (120, 30)

        @property
        def delay(self):
            return dist.draw()

    with FakeLLM(key="sk-bench") as fake:
        fake.default = Drawn()
        print(fake.url, flush=True)
        while True:                     # until SIGTERM (the default action ends the process)
            time.sleep(3600)


# ------------------------------------------------------------------ command line


def build_parser(prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0],
                                epilog="See bench/README.md for the figures and how each run is made.")
    p.add_argument("--agents", type=int, default=1000, help="simulated agents (default 1000)")
    p.add_argument("--transport", choices=("unary", "stream"), default="unary",
                   help="unary calls, or one ValidateStream per agent (default unary)")
    p.add_argument("--mode", choices=("closed", "open"), default="closed",
                   help="closed loop (next call once answered) or open loop (--rate; default closed)")
    p.add_argument("--rate", type=float, default=0.0, help="open loop: calls per second of all agents together")
    p.add_argument("--think", type=float, default=0.0,
                   help="seconds an agent waits between calls (closed loop: after each answer; open loop without "
                        "--rate: its period)")
    p.add_argument("--poisson", action="store_true", help="open loop: exponential gaps instead of fixed ones")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds at the start left out of the percentiles (counted in sent/answered; default 2)")
    p.add_argument("--ramp", type=float, default=1.0,
                   help="closed loop: seconds over which the agents start (default 1; open loop: one period)")
    p.add_argument("--channels", type=int, default=0,
                   help="gRPC connections the agents share (default 0: one per %d agents, at least 8)"
                        % AGENTS_PER_CHANNEL)
    p.add_argument("--procs", type=int, default=1,
                   help="load-generator processes driving the agents, each a share of them over connections "
                        "of its own; their calls' latencies are merged exactly (default 1). One Python "
                        "process driving 10,000 streams is itself part of what a call waits for")
    p.add_argument("--deadline", type=float, default=35.0,
                   help="seconds per call; a call not answered by then is hung (default 35: the server's "
                        "escalation deadline, 30 s, and a margin)")
    p.add_argument("--mix", default=DEFAULT_MIX, help="shares of the workloads (default %s)" % DEFAULT_MIX)
    p.add_argument("--workload", action="append", default=[], metavar="NAME=FILE",
                   help="a share's calls from a corpus-shaped JSONL file (default bench/workloads/NAME.jsonl)")
    p.add_argument("--replay", metavar="EXPORT.jsonl", help="replay an audit-log export (`lighthouse audit export`)")
    p.add_argument("--distinct", choices=("call", "agent", "none"), default="call",
                   help="where risky and complex calls run: each call in a directory of its own, so that none "
                        "is a repeat the slow tiers' cache answers (call, the default), one per agent, or the "
                        "workload's cwd (none: agents then share escalations)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--target", metavar="HOST:PORT", help="load a running server instead of starting one")
    p.add_argument("--metrics-port", type=int, default=0, help="with --target: the server's metrics port")
    p.add_argument("--allow-remote", action="store_true", help="let --target name a host that is not loopback")
    p.add_argument("--experts", type=int, default=24, help="simulated experts connected over ExpertHub (default 24)")
    p.add_argument("--expert-latency", default="uniform:0.2,2",
                   help="their latency: SECONDS, uniform:LOW,HIGH or lognormal:MEDIAN,SIGMA (default uniform:0.2,2)")
    p.add_argument("--expert-concurrency", type=int, default=64, help="escalations at once per expert (default 64)")
    p.add_argument("--llm-latency", metavar="SPEC",
                   help="also an LLM expert: a local OpenAI-speaking server answering after SPEC")
    p.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                   help="an extra option of `lighthouse serve` (repeat; e.g. --server-arg=--workers=2)")
    p.add_argument("--server-python", help="the interpreter that runs the server and the experts "
                                           "(another build: its venv's python; default this one)")
    p.add_argument("--server-tree", help="the source tree of --server-python (default this one)")
    p.add_argument("--keep-logs", metavar="DIR",
                   help="copy the server's and the experts' logs and the audit log to DIR at the end")
    p.add_argument("--fault", choices=FAULTS, help="inject a fault for a window of the run")
    p.add_argument("--fault-at", type=float, help="seconds into the run (default a third of --duration)")
    p.add_argument("--fault-for", type=float, help="seconds the fault lasts (default a third of --duration)")
    p.add_argument("--reload-every", type=float, default=1.0, help="policy-reload: seconds between reloads (1)")
    p.add_argument("--endurance", type=float, metavar="MINUTES", nargs="?", const=10.0,
                   help="a sustained run of MINUTES (default 10) sampling RSS, descriptors, latency, audit size")
    p.add_argument("--sample-every", type=float, help="seconds between endurance samples (default 30, or "
                                                      "a tenth of the run when shorter)")
    p.add_argument("--max-rss-growth", type=float, default=0.05,
                   help="endurance: the RSS growth after warm-up that fails the run (default 0.05)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw latency over time and the percentiles (matplotlib)")
    p.add_argument("--progress", action="store_true", default=None, help="progress bar on stderr (default: when "
                                                                         "stderr is a terminal)")
    p.add_argument("--fast-tiers", action="store_true",
                   help="instead: the fast tiers against a null server with the same proto and transport, over "
                        "unary, stream, batch and paced phases (make bench-grpc; its options: --fast-tiers --help)")
    p.add_argument("--llm-server", action="store_true", help=argparse.SUPPRESS)
    return p


def check_args(p, args):
    def bad(msg):
        p.error(msg)

    if args.agents < 1 or args.agents > 100_000:
        bad("--agents must be 1-100000")
    if args.procs < 1 or args.procs > 64 or args.procs > args.agents:
        bad("--procs must be 1-64 and at most --agents")
    if args.procs > 1 and (args.replay or args.endurance is not None or args.sample_every or args.progress):
        bad("--procs N drives the agents from N processes: not with --replay (one ordered sequence of calls), "
            "--endurance or --sample-every (they sample latency as calls end) or --progress")
    if args.channels < 0 or args.channels > 1024:
        bad("--channels must be 0 (one per %d agents) to 1024" % AGENTS_PER_CHANNEL)
    if not args.channels:
        args.channels = channels_for(args.agents)
    for name in ("duration", "deadline"):
        v = getattr(args, name)
        if not math.isfinite(v) or v <= 0:
            bad("--%s must be a positive number of seconds" % name)
    for name in ("rate", "think", "warmup", "reload_every", "ramp"):
        v = getattr(args, name)
        if not math.isfinite(v) or v < 0:
            bad("--%s must be >= 0" % name.replace("_", "-"))
    if args.mode == "open" and not args.rate and not args.think:
        bad("--mode open needs --rate (calls/s of all agents) or --think (each agent's period)")
    if args.experts < 0 or args.expert_concurrency < 1:
        bad("--experts must be >= 0 and --expert-concurrency >= 1")
    from lighthouse.experts.sim import Latency
    for opt, spec in (("--expert-latency", args.expert_latency), ("--llm-latency", args.llm_latency)):
        if spec:
            try:
                Latency(spec)
            except ValueError as e:
                bad("%s: %s" % (opt, e))
    if args.endurance is not None:
        if not math.isfinite(args.endurance) or args.endurance <= 0:
            bad("--endurance must be a positive number of minutes")
        args.duration = args.endurance * 60
        if args.sample_every is None:
            args.sample_every = min(30.0, args.duration / 10)
    if args.sample_every is not None and (not math.isfinite(args.sample_every) or args.sample_every <= 0):
        bad("--sample-every must be a positive number of seconds")
    if args.fault:
        if args.fault_at is None:
            args.fault_at = args.duration / 3
        if args.fault_for is None:
            args.fault_for = args.duration / 3
        if args.fault_at < 0 or args.fault_for <= 0 or args.fault_at + args.fault_for >= args.duration:
            bad("--fault-at and --fault-for must place the fault inside --duration, with time after it")
        if args.fault in ("experts-timeout", "expert-disconnect") and not args.experts:
            bad("--fault %s needs --experts" % args.fault)
    if args.progress is None:
        args.progress = sys.stderr.isatty() and args.procs == 1
    if args.target and (args.server_python or args.server_tree or args.server_arg or args.llm_latency):
        bad("--target loads a running server: --server-* and --llm-latency are for the server this bench starts")
    if args.target:
        args.experts = 0


# ------------------------------------------------------------------ fast tiers against a null server
#
# ``--fast-tiers`` (``make bench-grpc``): the transport's ceiling and the fast tiers'
# share of it. Two servers run at once as subprocesses on loopback and get the same load
# from this process, phase after phase (--repeat times, alternating, so that other load
# on the machine weighs on both alike):
#
#   lighthouse  ``lighthouse serve`` with the fast tiers alone (shipped rule packs,
#               decision cache, metrics; no policy tier, experts or audit log)
#   null        the same proto and transport (grpc.aio on uvloop, the same messages
#               parsed and serialized) answering a constant Decision
#
# Agents send corpus calls in a 70% safe / 20% risky / 10% complex mix (the development
# corpus' allow / deny / ask cases). Phases, each bounded by --duration seconds:
#
#   unary    every agent: Validate, await the answer, repeat (closed loop)
#   stream   every agent keeps its own ValidateStream and sends one call at a time
#   batch    --senders concurrent clients send ValidateBatch of --batch-size calls
#   paced    every agent sends one Validate per second (--rate), open loop
#
# Reported per phase and server: calls/s, client-side p50/p95/p99, server CPU time per
# call (from /proc) and, for the real server, the decision time inside the servicer
# (p50/p99 from its /metrics histogram, transport excluded), and the throughput ratio
# lighthouse/null. bench/audit.py and bench/slow_path.py reuse these pieces.

CORPUS = ROOT.parent / "shared" / "corpus" / "dev.jsonl"
if not CORPUS.exists():
    CORPUS = ROOT / "tests" / "data" / "dev.jsonl"
MIX = (("allow", 0.7), ("deny", 0.2), ("ask", 0.1))
PHASES = ("unary", "stream", "batch", "paced")


async def _null_main(ready_file, helper_nice):
    """A server with the same services, messages and thread priorities that decides
    nothing, on a port of the kernel's choice, which it writes to ``ready_file`` as
    ``lighthouse serve --ready-file`` does."""
    from lighthouse.server.threads import keep_helper_threads_lowered

    const = dict(verdict=pb.VERDICT_ALLOW, reason="null server", rule_id="null", tier=pb.TIER_RULES,
                 policy_generation=1)

    class Null:
        async def Validate(self, request, context):
            return pb.Decision(request_id=request.request_id, **const)

        async def ValidateStream(self, request_iterator, context):
            while True:
                call = await context.read()
                if call is grpc.aio.EOF:
                    return
                await context.write(pb.Decision(request_id=call.request_id, **const))

        async def ValidateBatch(self, request, context):
            return pb.DecisionBatch(decisions=[pb.Decision(request_id=c.request_id, **const)
                                               for c in request.calls])

    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_ValidatorServicer_to_server(Null(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    keeper = loop.create_task(keep_helper_threads_lowered(helper_nice)) if helper_nice > 0 else None
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    tmp = ready_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"port": port, "metrics_port": 0}, fh)
    os.replace(tmp, ready_file)
    await stop.wait()
    if keeper is not None:
        keeper.cancel()
    await server.stop(1)


# ------------------------------------------------------------------ servers

class Server:
    """A server subprocess on ports of the kernel's choice: ``argv(ready_file)`` is its
    command, which writes the ports it bound to ready_file once serving (serve_options);
    its port, metrics port (None without) and CPU time."""

    def __init__(self, name, argv, env=None, cwd=None):
        self.name = name
        self._dir = tempfile.mkdtemp(prefix="lh-bench-server-")
        ready_file = os.path.join(self._dir, "ready.json")
        self.log = os.path.join(self._dir, "server.log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(argv(ready_file), stdout=subprocess.DEVNULL, stderr=log,
                                         env=env, cwd=str(cwd or ROOT))
        try:
            ready = wait_ready(ready_file, self.proc, "%s server" % name, self.log, 60.0)
        except BaseException:
            self.stop()
            raise
        self.port, self.metrics_port = ready["port"], ready["metrics_port"] or None

    def cpu_seconds(self):
        """User + system CPU time of the server and its children (workers)."""
        total = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        pids = [self.proc.pid]
        try:
            children = pathlib.Path("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        for pid in pids:
            try:
                fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def decision_histogram(self):
        """Bucket counts of lighthouse_decision_duration_seconds{operation="validation"}."""
        if not self.metrics_port:
            return None
        from lighthouse.metrics import DURATION_BUCKETS_NS

        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5).read().decode()
        cumulative = []
        for line in text.splitlines():
            if line.startswith("lighthouse_decision_duration_seconds_bucket{") and 'operation="validation"' in line:
                cumulative.append(float(line.rsplit(" ", 1)[1]))
        counts = [int(c - p) for c, p in zip(cumulative, [0.0] + cumulative[:-1])]
        return counts if len(counts) == len(DURATION_BUCKETS_NS) + 1 else None

    def errors_total(self):
        """The calls the server has refused so far (lighthouse_errors_total, every code),
        or None without a metrics port."""
        if not self.metrics_port:
            return None
        return self.counter("lighthouse_errors_total{") or 0

    def counter(self, prefix):
        """The sum of the server's metric lines starting with ``prefix`` (None without a
        metrics port, or when it has no such line)."""
        if not self.metrics_port:
            return None
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5).read().decode()
        values = [int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if line.startswith(prefix)]
        return sum(values) if values else None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


# ------------------------------------------------------------------ load

def load_calls(path, agents, seed=7):
    """Per agent, a shuffled list of ToolCalls drawn with the 70/20/10 mix."""
    with open(path, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    by = {v: [c for c in cases if c.get("expect") == v] for v, _ in MIX}
    rng = random.Random(seed)
    per_agent = []
    for a in range(agents):
        calls = []
        for k in range(20):
            r, acc = rng.random(), 0.0
            for verdict, share in MIX:
                acc += share
                if r <= acc:
                    break
            c = rng.choice(by[verdict])
            calls.append(pb.ToolCall(request_id="a%d-%d" % (a, k), agent_id="agent-%d" % a,
                                     session_id="s%d" % a, tool=c["tool"], input_json=json.dumps(c["input"]),
                                     cwd=c.get("cwd") or "/home/dev/app"))
        per_agent.append(calls)
    return per_agent


def percentiles(lat):
    if not lat:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    lat.sort()
    n = len(lat)
    return {"p%d_ms" % q: lat[min(n - 1, int(q / 100 * n))] * 1000 for q in (50, 95, 99)}


class PhaseLoad:
    def __init__(self, target, calls, channels):
        self.channels = [grpc.aio.insecure_channel(target) for _ in range(channels)]
        self.stubs = [pb_grpc.ValidatorStub(ch) for ch in self.channels]
        self.calls = calls

    async def close(self):
        for ch in self.channels:
            await ch.close()

    async def run(self, phase, duration, batch_size=100, senders=4, rate=1.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + duration
        lat = []
        count = [0, 0]          # answered calls, errors
        clock = time.perf_counter

        async def unary(i):
            stub = self.stubs[i % len(self.stubs)]
            calls = self.calls[i]
            k = 0
            while loop.time() < end:
                t = clock()
                try:
                    await stub.Validate(calls[k % len(calls)], timeout=10)
                    lat.append(clock() - t)
                    count[0] += 1
                except grpc.aio.AioRpcError:
                    count[1] += 1
                k += 1

        async def stream(i):
            call = self.stubs[i % len(self.stubs)].ValidateStream()
            calls = self.calls[i]
            k = 0
            try:
                while loop.time() < end:
                    t = clock()
                    await call.write(calls[k % len(calls)])
                    await call.read()
                    lat.append(clock() - t)
                    count[0] += 1
                    k += 1
                await call.done_writing()
            except grpc.aio.AioRpcError:
                count[1] += 1

        async def batch(i):
            # Batches are serialized once and answers are not parsed, so that the load
            # generator (one process, like the server) is not what limits the rate.
            send = self.channels[i % len(self.channels)].unary_unary("/lighthouse.v1.Validator/ValidateBatch")
            rng = random.Random(i)
            flat = [c for calls in self.calls for c in calls]
            batches = [pb.ToolCallBatch(calls=rng.sample(flat, min(batch_size, len(flat)))).SerializeToString()
                       for _ in range(16)]
            k = 0
            while loop.time() < end:
                t = clock()
                try:
                    await send(batches[k % len(batches)], timeout=10)
                    lat.append(clock() - t)
                    count[0] += batch_size
                except grpc.aio.AioRpcError:
                    count[1] += 1
                k += 1

        async def paced(i):
            stub = self.stubs[i % len(self.stubs)]
            calls = self.calls[i]
            period = 1.0 / rate
            await asyncio.sleep(random.random() * period)
            k = 0
            while loop.time() < end:
                t0 = loop.time()
                t = clock()
                try:
                    await stub.Validate(calls[k % len(calls)], timeout=10)
                    lat.append(clock() - t)
                    count[0] += 1
                except grpc.aio.AioRpcError:
                    count[1] += 1
                k += 1
                await asyncio.sleep(max(0.0, period - (loop.time() - t0)))

        n = senders if phase == "batch" else len(self.calls)
        worker = {"unary": unary, "stream": stream, "batch": batch, "paced": paced}[phase]
        t_start = clock()
        await asyncio.gather(*(worker(i) for i in range(n)))
        return count[0], count[1], clock() - t_start, lat


async def measure_phases(servers, phases, args, calls):
    """Run every phase against every server, alternating servers --repeat times so that
    background load on the machine affects both alike."""
    loads = {name: PhaseLoad("127.0.0.1:%d" % srv.port, calls, args.channels) for name, srv in servers.items()}
    results = {name: {} for name in servers}
    try:
        for load in loads.values():
            # Warm-up: connections, the server's decision cache, both interpreters.
            await load.run("unary", min(1.0, args.duration))
        for phase in phases:
            runs = {name: [] for name in servers}
            for _ in range(args.repeat):
                for name, srv in servers.items():
                    hist0, cpu0 = srv.decision_histogram(), srv.cpu_seconds()
                    refused0 = srv.errors_total() if phase == "batch" else None
                    committed0 = srv.counter("lighthouse_audit_records_total ")
                    n, errors, elapsed, lat = await loads[name].run(phase, args.duration, args.batch_size,
                                                                    args.senders, args.rate)
                    cpu = srv.cpu_seconds() - cpu0
                    # Records the audit log committed meanwhile (answered calls may only be
                    # queued: the queue holds over 100,000).
                    committed = srv.counter("lighthouse_audit_records_total ")
                    committed = committed - committed0 if committed0 is not None else None
                    if refused0 is not None:
                        # A batch's refused calls are answers inside a successful RPC, which
                        # the batch sender does not parse: the server's count moves them from
                        # answered to errors.
                        refused = srv.errors_total() - refused0
                        n, errors = n - refused, errors + refused
                    hist1 = srv.decision_histogram()
                    delta = [b - a for a, b in zip(hist0, hist1)] if hist0 and hist1 else None
                    runs[name].append((n, errors, elapsed, lat, cpu, delta, committed))
            for name, rs in runs.items():
                calls = sum(r[0] for r in rs)
                rates = sorted(r[0] / r[2] for r in rs)
                out = {"calls": calls, "errors": sum(r[1] for r in rs),
                       "calls_per_s": round(rates[len(rates) // 2], 1),
                       "server_cpu_us_per_call": round(sum(r[4] for r in rs) / calls * 1e6, 2) if calls else None}
                out.update({k: round(v, 3) for k, v in percentiles([x for r in rs for x in r[3]]).items()})
                if rs[0][6] is not None:
                    committed = sorted(r[6] / r[2] for r in rs)
                    out["committed_per_s"] = round(committed[len(committed) // 2], 1)
                if rs[0][5] is not None:
                    from lighthouse.metrics import histogram_quantile

                    hist = [sum(col) for col in zip(*(r[5] for r in rs))]
                    out["decision_p50_us"] = round(histogram_quantile(0.50, hist) / 1000, 2)
                    out["decision_p99_us"] = round(histogram_quantile(0.99, hist) / 1000, 2)
                results[name][phase] = out
    finally:
        for load in loads.values():
            await load.close()
    return results


def run_fast_tiers(args):
    phases = [p for p in args.phases.split(",") if p]
    for p in phases:
        if p not in PHASES:
            raise SystemExit("unknown phase %r (%s)" % (p, ", ".join(PHASES)))
    calls = load_calls(args.corpus, args.agents)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    from lighthouse import _fast
    report = {"agents": args.agents, "duration_s": args.duration, "repeat": args.repeat,
              "channels": args.channels, "batch_size": args.batch_size, "senders": args.senders,
              "paced_rate": args.rate, "workers": args.workers, "cache": not args.no_cache,
              "helper_nice": args.helper_nice,
              "implementation": _fast.IMPLEMENTATION, "load_average": os.getloadavg()[0]}
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    servers = {}
    try:
        servers["null"] = Server("null", lambda ready: [sys.executable, __file__, "--fast-tiers", "--null-server",
                                                        ready, "--helper-nice", str(args.helper_nice)], env=env)
        # The fast tiers alone, without the audit log: a miss gets the fail mode at once, as the null server
        # answers at once (the slower tiers are measured by bench/escalation.py and
        # bench/policy.py).
        argv = [sys.executable, "-m", "lighthouse.cli", "serve", "--no-socket", "--workers", str(args.workers),
                "--log-level", "warning", "--helper-nice", str(args.helper_nice), "--no-policy",
                "--no-experts-hub",
                # a few client identities send every call: the per-agent rate limit would
                # refuse most of a batch phase (counted as errors), which the null server
                # does not do
                "--rate-limit", "0",
                "--no-audit"]      # the audit log's cost is measured by bench/audit.py
        if args.no_cache:
            argv += ["--cache-size", "0"]
        servers["lighthouse"] = Server("lighthouse", lambda ready: argv + serve_options(ready), env=env)
        report["servers"] = runner(measure_phases(servers, phases, args, calls))
    finally:
        for srv in servers.values():
            srv.stop()
    ratios = {}
    for p in phases:
        null = report["servers"]["null"][p]["calls_per_s"]
        ratios[p] = round(report["servers"]["lighthouse"][p]["calls_per_s"] / null, 3) if null else None
    report["throughput_ratio_to_null"] = ratios
    return report


def print_fast_table(report):
    print("fast tiers: %d agents, %d x %gs per phase, %d channels, %s hot path, cache %s, %d worker(s), "
          "load average %.1f at start" % (
              report["agents"], report["repeat"], report["duration_s"], report["channels"],
              report["implementation"], "on" if report["cache"] else "off", report["workers"],
              report["load_average"]))
    head = "%-7s %-10s %11s %8s %8s %8s %13s %12s %12s %6s" % (
        "phase", "server", "calls/s", "p50 ms", "p95 ms", "p99 ms", "srv cpu us/c", "decide p50", "decide p99", "errs")
    print(head)
    print("-" * len(head))
    for phase in report["throughput_ratio_to_null"]:
        for name in ("lighthouse", "null"):
            r = report["servers"][name][phase]
            print("%-7s %-10s %11.0f %8.2f %8.2f %8.2f %13s %12s %12s %6d" % (
                phase, name, r["calls_per_s"], r["p50_ms"], r["p95_ms"], r["p99_ms"],
                r["server_cpu_us_per_call"], "%.1f us" % r["decision_p50_us"] if "decision_p50_us" in r else "-",
                "%.1f us" % r["decision_p99_us"] if "decision_p99_us" in r else "-", r["errors"]))
    print("throughput ratio lighthouse/null: " + ", ".join(
        "%s %.2f" % (p, v) for p, v in report["throughput_ratio_to_null"].items() if v is not None))


def fast_tiers_main(argv, prog=None):
    """``--fast-tiers [OPTIONS]``: the phases above; its own options (see --fast-tiers --help)."""
    p = argparse.ArgumentParser(prog=(prog or "agents.py") + " --fast-tiers",
                                description="The fast tiers against a null server with the same proto and "
                                            "transport: unary, stream, batch and paced phases.")
    p.add_argument("--agents", type=int, default=1000, help="simulated agents (default 1000)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per phase and run (default 5)")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per phase, alternating the servers (median rate; for noisy machines)")
    p.add_argument("--phases", default=",".join(PHASES), help="comma-separated: " + ", ".join(PHASES))
    p.add_argument("--channels", type=int, default=8, help="gRPC channels (connections) the agents share")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--senders", type=int, default=4, help="concurrent batch senders")
    p.add_argument("--rate", type=float, default=1.0, help="calls per second per agent in the paced phase")
    p.add_argument("--workers", type=int, default=1, help="lighthouse serve --workers")
    p.add_argument("--no-cache", action="store_true", help="run the real server with its decision cache off")
    p.add_argument("--corpus", default=str(CORPUS))
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--helper-nice", type=int, default=10,
                   help="lighthouse serve --helper-nice (passed explicitly; the server's default is 0), "
                        "applied to the null server too (default 10)")
    p.add_argument("--null-server", metavar="READY_FILE", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.null_server:
        try:
            import uvloop
            uvloop.run(_null_main(args.null_server, args.helper_nice))
        except ImportError:
            asyncio.run(_null_main(args.null_server, args.helper_nice))
        return 0
    if args.agents < 1 or args.duration <= 0 or args.repeat < 1 or args.channels < 1:
        p.error("--agents, --duration, --repeat and --channels must be positive")
    for ph in (x for x in args.phases.split(",") if x):
        if ph not in PHASES:
            p.error("--phases: unknown phase %r (%s)" % (ph, ", ".join(PHASES)))
    report = run_fast_tiers(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_fast_table(report)
    return 0


def main(argv=None, prog=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == [PROCS_CHILD]:
        return procs_child()
    if "--fast-tiers" in argv and "--help" not in argv[:argv.index("--fast-tiers")]:
        argv.remove("--fast-tiers")
        return fast_tiers_main(argv, prog)
    p = build_parser(prog)
    args = p.parse_args(argv)
    if args.llm_server:
        return llm_server(args.llm_latency or "0")
    check_args(p, args)
    try:
        # Each agent's stream or connection needs no descriptor of its own, but --channels and a
        # server's children do: take the hard limit, as `lighthouse serve` does.
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    except (ValueError, OSError):
        pass
    try:
        report = run(args)
    except BenchError as e:
        print("%s: %s" % (p.prog, e), file=sys.stderr)
        return 2
    rows = report.pop("_rows")
    if args.plot:
        err = plot(report, rows, args.plot)
        report["plot"] = None if err else args.plot
        if err:
            print(err, file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if report.get("endurance") and report["endurance"]["rss_growth_ok"] is False:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
