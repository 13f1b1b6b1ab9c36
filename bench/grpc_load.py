"""Load test of the gRPC server: N simulated agents over unary, stream and batch calls.

Two servers are started as subprocesses on loopback, one after the other, and get the
same load from this process:

  lighthouse  ``lighthouse serve`` (shipped rule packs, decision cache, metrics)
  null        the same proto and transport (grpc.aio on uvloop, the same messages
              parsed and serialized) answering a constant Decision: the transport's
              ceiling, so that the server's figures are reported as ratios to it

Agents send corpus calls in a 70% safe / 20% risky / 10% complex mix (the development
corpus' allow / deny / ask cases). Phases, each bounded by --duration seconds:

  unary    every agent: Validate, await the answer, repeat (closed loop)
  stream   every agent keeps its own ValidateStream and sends one call at a time
  batch    --senders concurrent clients send ValidateBatch of --batch-size calls
  paced    every agent sends one Validate per second (--rate), open loop: the
           latency an agent sees under a realistic load (target: p99 <= 10 ms)

Reported per phase and server: calls/s, client-side p50/p95/p99 latency, server CPU time
per call (from /proc) and, for the real server, the decision time inside the servicer
(p50/p99 from its own /metrics histogram, transport excluded). Both servers run at once
and phases alternate between them (--repeat times), so that other load on the machine
weighs on both alike. Hook timings are in bench/hook.py.

    python bench/grpc_load.py                      # 1000 agents, 5 s per phase, table
    python bench/grpc_load.py --json
    python bench/grpc_load.py --agents 200 --duration 2 --phases unary,batch
    python bench/grpc_load.py --no-cache           # every call through the rule engine
    python bench/grpc_load.py --repeat 3 --duration 2   # on a busy machine
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from lighthouse.metrics import DURATION_BUCKETS_NS, histogram_quantile  # noqa: E402
from lighthouse.server.threads import keep_helper_threads_lowered  # noqa: E402
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "dev.jsonl"
if not CORPUS.exists():
    CORPUS = ROOT / "tests" / "data" / "dev.jsonl"
MIX = (("allow", 0.7), ("deny", 0.2), ("ask", 0.1))
PHASES = ("unary", "stream", "batch", "paced")


# ------------------------------------------------------------------ null server

async def _null_main(port, helper_nice):
    """A server with the same services, messages and thread priorities that decides
    nothing."""
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
    server.add_insecure_port("127.0.0.1:%d" % port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    keeper = loop.create_task(keep_helper_threads_lowered(helper_nice)) if helper_nice > 0 else None
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("null server ready", flush=True)
    await stop.wait()
    if keeper is not None:
        keeper.cancel()
    await server.stop(1)


# ------------------------------------------------------------------ servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server subprocess: its port, metrics port and CPU time."""

    def __init__(self, name, argv, port, metrics_port=None, env=None, cwd=None):
        self.name = name
        self.port = port
        self.metrics_port = metrics_port
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=env, cwd=str(cwd or ROOT))
        self._wait_ready()

    def _wait_ready(self, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited: %s" % (self.name, self.proc.stderr.read().decode()[-2000:]))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("%s server did not start" % self.name)

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


class Load:
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


async def measure(servers, phases, args, calls):
    """Run every phase against every server, alternating servers --repeat times so that
    background load on the machine affects both alike."""
    loads = {name: Load("127.0.0.1:%d" % srv.port, calls, args.channels) for name, srv in servers.items()}
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
                    hist = [sum(col) for col in zip(*(r[5] for r in rs))]
                    out["decision_p50_us"] = round(histogram_quantile(0.50, hist) / 1000, 2)
                    out["decision_p99_us"] = round(histogram_quantile(0.99, hist) / 1000, 2)
                results[name][phase] = out
    finally:
        for load in loads.values():
            await load.close()
    return results


def run(args):
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
        port = free_port()
        servers["null"] = Server("null", [sys.executable, __file__, "--null-server", str(port),
                                          "--helper-nice", str(args.helper_nice)], port, env=env)
        port, mport = free_port(), free_port()
        # The fast tiers alone, without the audit log: a miss gets the fail mode at once, as the null server
        # answers at once (the slower tiers are measured by bench/escalation.py and
        # bench/policy.py).
        argv = [sys.executable, "-m", "lighthouse.cli", "serve", "--port", str(port),
                "--metrics-port", str(mport), "--no-socket", "--workers", str(args.workers),
                "--log-level", "warning", "--helper-nice", str(args.helper_nice), "--no-policy",
                "--no-experts-hub",
                "--no-audit"]      # the audit log's cost is measured by bench/audit.py
        if args.no_cache:
            argv += ["--cache-size", "0"]
        servers["lighthouse"] = Server("lighthouse", argv, port, mport, env=env)
        report["servers"] = runner(measure(servers, phases, args, calls))
    finally:
        for srv in servers.values():
            srv.stop()
    ratios = {}
    for p in phases:
        null = report["servers"]["null"][p]["calls_per_s"]
        ratios[p] = round(report["servers"]["lighthouse"][p]["calls_per_s"] / null, 3) if null else None
    report["throughput_ratio_to_null"] = ratios
    return report


def print_table(report):
    print("gRPC load: %d agents, %d x %gs per phase, %d channels, %s hot path, cache %s, %d worker(s), "
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    p.add_argument("--null-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.null_server:
        try:
            import uvloop
            uvloop.run(_null_main(args.null_server, args.helper_nice))
        except ImportError:
            asyncio.run(_null_main(args.null_server, args.helper_nice))
        return 0
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
