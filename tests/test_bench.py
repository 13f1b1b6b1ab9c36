"""The fast-path benchmark runs and reports its figures (the figures themselves are
measured by `make bench`, not asserted here)."""

import gc
import json
import os
import re
import shutil
import subprocess
import sys
import time

import grpc
import pytest

from conftest import EXPECT_COMPILED, ROOT
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc
from serverkit import ServerProcess

pytestmark = pytest.mark.slow


def test_fast_benchmark_runs_and_reports():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "fast.py"), "--seconds", "0.05",
                          "--rounds", "1", "--json"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    res = json.loads(out)
    assert res["workload"]["calls"] > 200
    expected = {"pure", "naive"} | ({"compiled"} if EXPECT_COMPILED else set())
    assert expected <= set(res["results"])
    for name in expected - {"naive"}:
        r = res["results"][name]
        assert r["cache_hit_ns"] > 0 and r["uncached_median_ns"] > 0 and r["uncached_per_s"] > 0
    if EXPECT_COMPILED:
        assert res["ratios"]["uncached_pure_over_compiled"] > 0
    assert 0 <= res["results"]["naive"]["corpus_strict_pct"] <= 100


def test_worst_case_benchmark_runs_and_reports():
    """bench/worst_case.py decides its generated shapes and reports the slowest; the
    shapes past a limit come back undecided or denied, never allowed (the figures are
    measured by running it, not asserted here)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "worst_case.py"), "--repeat", "1",
                          "--only", "past", "--json"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    res = json.loads(out)
    assert res["summary"]["shapes"] == len(res["results"]) >= 10
    assert res["summary"]["slowest_ms"] > 0
    for row in res["results"]:
        assert row["verdict"] != "allow", row


def test_escalation_benchmark_runs_and_reports():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "escalation.py"), "--calls", "300",
                          "--concurrency", "20", "--json"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    res = json.loads(out)
    for phase in ("sequential", "cached"):
        r = res["results"][phase]
        assert r["calls"] == 300 and 0 < r["overhead_p50_us"] <= r["overhead_p99_us"] and r["per_s"] > 0
    assert res["results"]["concurrent"]["latency_p99_us"] > 0
    assert res["stats"]["cache_hits"] == 300 and res["stats"]["fail_mode"] == 0
    assert res["stats"]["queue_peak"] == 20             # the concurrent phase had 20 in flight


def test_slow_cpu_benchmark_runs_and_reports():
    """bench/slow_cpu.py: both tiers decide every escalation (it stops otherwise) and the
    CPU figures are positive (their size is measured by running it, not asserted)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "slow_cpu.py"), "--calls", "30", "--json"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    res = json.loads(out)
    assert res["policy"]["calls"] == res["experts"]["calls"] == 30
    assert res["policy"]["server_cpu_us"] > 0 and res["experts"]["server_cpu_us"] > 0
    assert res["policy"]["workers_cpu_us"] >= 0


def test_policy_benchmark_runs_and_reports():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "policy.py"), "--seconds", "0.05", "--calls", "20",
                          "--gil-range", "20000", "--json"], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    res = json.loads(out)
    r = res["regorus_single_thread"]
    assert res["calls"] == 20 and r["evaluations"] >= 20
    assert r["per_s"] > 0 and 0 < r["p50_us"] <= r["p99_us"] <= r["max_us"]
    assert res["input_build_us"] > 0
    assert res["gil"]["evaluation_ms"] > 0 and isinstance(res["gil"]["holds_gil"], bool)


def test_slow_path_benchmark_runs_and_reports():
    """bench/slow_path.py starts a real server with the policy tier and loads it on
    loopback; at a tiny size it reports both kinds of phase and the server's escalation
    figures (the figures themselves are measured by running it, not asserted here)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "slow_path.py"), "--rate", "100", "--duration", "1",
                          "--repeat", "1", "--policy-processes", "1", "--json"], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    res = json.loads(out)
    for kind in ("fast", "mixed"):
        assert res[kind]["calls"] == 100 and res[kind]["errors"] == 0, res[kind]
        assert 0 < res[kind]["fast"]["p50_ms"] <= res[kind]["fast"]["p99_ms"]
    assert res["fast"]["escalated"]["p99_ms"] == 0            # no policy traffic in a fast phase
    assert res["mixed"]["escalated"]["p50_ms"] > 0 and res["escalations"] > 0
    assert res["fast_p99_ratio"] > 0 and res["overhead_p99_ms"] >= res["overhead_p50_ms"] >= 0


def test_experts_benchmark_runs_and_reports():
    """bench/experts.py at a tiny size: a server, simulated experts over ExpertHub, and
    both phases measured (the figures are measured by running it, not asserted here)."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "experts.py"), "--json", "--duration", "4",
                          "--phase", "2", "--settle", "0.5", "--rate", "30", "--escalated", "0.5",
                          "--experts", "3", "--latency", "uniform:0.05,0.2"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    res = json.loads(out)
    assert res["escalations"]["sent"] > 0
    assert res["escalations"]["decided_by_experts"] == res["escalations"]["sent"]
    assert res["fast_tier_ms"]["mixed"]["count"] > 0 and res["fast_tier_ms"]["fast"]["count"] > 0
    assert res["overhead_ms"]["p99"] is not None and res["overhead_ms"]["p50"] >= 0


def test_experts_benchmark_one_at_a_time_reports_cpu_per_escalation():
    """bench/experts.py --one-at-a-time: escalations in turn over real streams, the
    server's and the experts' CPU per escalation read from /proc."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "experts.py"), "--json", "--one-at-a-time", "50",
                          "--latency", "0", "--experts", "2"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    res = json.loads(out)
    assert res["calls"] == 50 and res["experts"] == 2
    assert res["server_cpu_us"] > 0 and res["experts_cpu_us"] >= 0
    assert res["overhead_ms"]["p99"] >= res["overhead_ms"]["p50"] > 0


def test_patterns_benchmark_runs_and_reports():
    """bench/patterns.py at a small size: the workload's would-be escalations go through
    the pattern tier and simulated experts; the figures are the benchmark's to report,
    but a pattern must answer some of them, and no expert call is counted twice."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "patterns.py"), "--json", "--calls", "400",
                          "--timing-calls", "20", "--rounds", "2"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    res = json.loads(out)
    after = res["after_warmup"]
    assert after["escalations"] == after["pattern"] + after["expert"] + after["other"] > 0
    assert after["pattern"] > 0 and res["patterns"]["active"] > 0
    assert res["expert_calls"] + res["expert_calls_saved"] == res["escalations"]
    ns = res["ns_per_call"]
    assert set(ns) == {"tier0_checker", "tier0_validator", "lookup", "lookup_shaped", "lookup_and_parse",
                       "lookup_repeated"}
    assert all(v > 0 for v in ns.values())
    assert 0 < res["timed_lookup_hit_share"] <= 1
    # the ssh calls' rule has no pattern: their first lookups are settled without a shape
    assert 0 < res["first_lookups_skipped_share"] < 1 and res["skipped_escalations"] > 0


# ------------------------------------------------------------------ bench/agents.py, compare.py, h2load.sh

AGENTS = ROOT / "bench" / "agents.py"
COMPARE = ROOT / "bench" / "compare.py"
# Tiny runs: a few agents, experts answering in 20-100 ms, a few seconds of load.
TINY = ["--agents", "6", "--duration", "3", "--warmup", "0.5", "--experts", "2",
        "--expert-latency", "uniform:0.02,0.1", "--json"]


def _agents(*args, timeout=240, rc=0):
    proc = subprocess.run([sys.executable, str(AGENTS), *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == rc, proc.stderr[-3000:]
    return proc


def _well_formed(res):
    """Every call accounted for, and the shape the issue asks of --json."""
    assert res["sent"] > 0
    assert res["answered"] + sum(res["errors"].values()) == res["sent"]
    assert "UNACCOUNTED" not in res["errors"]
    assert res["lost"] == res["sent"] - res["answered"]
    assert res["throughput_per_s"] > 0
    for op in ("validation", "policy", "expert_escalation"):
        s = res["latency_ms"][op]
        assert set(s) >= {"p50", "p95", "p99", "p999"}
        if s["count"]:
            assert 0 < s["p50"] <= s["p95"] <= s["p99"] <= s["p999"] <= s["max"]
    assert set(res["cache_hit_ratio"]) == {"memory", "policy", "expert"}
    assert res["load_generator_loop_lag_ms"]["count"] > 0
    if "safe_validation_ms" in res:
        # Each call's time inside the server is part of its latency at the client.
        client, server = res["safe_validation_ms"], res["safe_validation_server_ms"]
        assert server["count"] == client["count"] > 0
        assert 0 < server["p50"] <= client["p50"] and server["p99"] <= client["p99"]


def test_agents_unary_closed_loop_mix_reaches_every_tier(tmp_path):
    """The default mix on a server the bench starts: safe calls settled by the fast
    tiers (then the cache), risky and complex ones decided by the simulated experts."""
    png = tmp_path / "load.png"
    res = json.loads(_agents(*TINY, "--plot", str(png)).stdout)
    _well_formed(res)
    assert res["lost"] == 0 and res["errors"] == {}, res["errors"]
    shares = res["by_share"]
    assert set(shares) == {"safe", "risky", "complex"}
    assert set(shares["safe"]["operations"]) == {"validation"}
    for share in ("risky", "complex"):        # each call a new question: the experts decide it
        assert shares[share]["operations"] == {"expert_escalation": shares[share]["answered"]}, shares[share]
    assert res["latency_ms"]["expert_escalation"]["p50"] >= 20          # the experts' own time is in it
    assert res["expert_overhead_ms"]["count"] == res["latency_ms"]["expert_escalation"]["count"]
    assert 0 < res["safe_cache_hit_ratio"] <= 1 and res["cache_hit_ratio"]["memory"] > 0
    assert res["server_process"]["fds"] > 0 and res["config"]["client_fds_end"] > 0
    assert res["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_agents_stream_open_loop_sends_at_the_rate_and_prints_a_table():
    """Open loop over one stream per agent: the calls sent follow --rate, not the answers."""
    out = _agents("--agents", "10", "--transport", "stream", "--mode", "open", "--rate", "40", "--duration", "3",
                  "--warmup", "0.5", "--experts", "2", "--expert-latency", "uniform:0.02,0.1").stdout
    assert "10 stream agents, open loop at 40 calls/s" in out
    m = re.search(r"calls: sent (\d+), answered (\d+), lost (\d+)", out)
    sent, answered, lost = map(int, m.groups())
    assert 100 <= sent <= 130 and lost == 0 and answered == sent, out
    for op in ("validation", "expert_escalation"):
        assert re.search(r"^%s\s+[1-9]\d*\s+\d" % op, out, re.M), out


def test_agents_300_streams_with_escalations_lose_no_call():
    """300 agents on a stream each, one call a second, a fifth of them escalated to the
    experts: every call sent is answered, no stream breaks. (gRPC's server refused
    streams opened while its event loop was busy, past its backlog of calls not yet taken
    up, and their first calls were lost: see the next test.)"""
    res = json.loads(_agents("--agents", "300", "--transport", "stream", "--mode", "open", "--think", "1",
                             "--duration", "4", "--warmup", "0.5", "--experts", "2", "--expert-latency",
                             "uniform:0.02,0.1", "--deadline", "60", "--json").stdout)
    _well_formed(res)
    assert res["config"]["channels"] == 8
    assert res["streams"] == {"opened": 300, "broken": 0, "reopened": 0, "resent": 0, "refused_too_often": 0}, \
        res["error_details"]
    assert res["sent"] >= 600 and res["lost"] == 0 and res["errors"] == {}, res["error_details"]
    assert res["latency_ms"]["expert_escalation"]["count"] > 0


def test_agents_send_again_the_calls_of_streams_refused_as_they_open():
    """A server whose backlog of calls not yet taken up is one call (--max-pending-calls
    1) refuses many of 600 streams opened within a second (CANCELLED, or INTERNAL when the
    refusal beats the first write): the bench, like lighthouse.client, opens a new stream
    and sends the refused calls again, and counts them. The only calls lost are those
    refused 4 times (RESENDS + 1), counted apart."""
    res = json.loads(_agents("--agents", "600", "--transport", "stream", "--mode", "open", "--think", "1",
                             "--duration", "3", "--warmup", "0.5", "--experts", "2", "--expert-latency",
                             "uniform:0.02,0.1", "--deadline", "60", "--server-arg=--max-pending-calls=1",
                             "--json").stdout)
    _well_formed(res)
    streams = res["streams"]
    assert streams["broken"] >= 1 and streams["resent"] >= 1, res
    # every stream that broke is reopened, except those that broke as the run stopped
    assert streams["opened"] == 600 + streams["reopened"] and streams["reopened"] <= streams["broken"], streams
    assert streams["reopened"] >= 1, streams
    assert res["lost"] == streams["refused_too_often"], res
    assert set(res["errors"]) <= {"CANCELLED", "INTERNAL"}, res["error_details"]
    assert res["answered"] >= res["sent"] / 2


def test_agents_retry_unary_calls_refused_by_an_admission_limit():
    """A server holding each agent to 10 calls/s (bursts of 10) refuses many of the
    calls of 2 agents sending 25 a second each with RESOURCE_EXHAUSTED: the bench sends
    each again after a bounded backoff (at most 3 times, within its deadline) and counts
    it refused, then answered or refused too often; nothing refused is dropped or lost
    unaccounted."""
    res = json.loads(_agents("--agents", "2", "--mode", "open", "--rate", "50", "--duration", "3", "--warmup", "0.5",
                             "--experts", "0", "--mix", "safe=100", "--server-arg=--rate-limit=10",
                             "--server-arg=--rate-burst=10", "--json").stdout)
    _well_formed(res)
    u = res["unary"]
    assert u["refused"] > 0 and u["refused_then_answered"] > 0, u
    assert u["refused"] == u["refused_then_answered"] + u["refused_too_often"], u
    assert u["retries"] >= u["refused"] and u["retries"] <= 3 * u["refused"], u
    assert set(res["errors"]) <= {"RESOURCE_EXHAUSTED"}, res["error_details"]
    assert res["errors"].get("RESOURCE_EXHAUSTED", 0) == u["refused_too_often"] == res["lost"], res
    assert res["answered"] == res["sent"] - res["lost"] and res["sent"] >= 120


def test_agents_open_loop_times_calls_from_when_they_were_due():
    """No coordinated omission: the load generator's own loop blocked for 0.6 s (as a
    collection or a starved CPU blocks it), the calls due meanwhile are still sent, late,
    and each one's latency counts from when it was due, so the stall shows in the
    figures instead of leaving calls unsent."""
    import asyncio

    from serverkit import ServerThread
    agents = _agents_module()
    p = agents.build_parser()
    thresholds = gc.get_threshold()
    srv = ServerThread().start()
    try:
        args = p.parse_args(["--agents", "4", "--mode", "open", "--think", "0.1", "--duration", "2",
                             "--warmup", "0", "--mix", "safe=100", "--target", srv.address])
        agents.check_args(p, args)
        workload, _meta = agents.build_workload(args)
        rec = agents.Recorder(args.deadline)
        stall = []

        async def block():
            await asyncio.sleep(0.7)
            t = time.perf_counter()
            time.sleep(0.6)                    # the event loop held: nothing is sent meanwhile
            stall.extend((t - rec.t0, time.perf_counter() - rec.t0))

        async def go():
            load = agents.Load(args, srv.address, workload, rec)
            try:
                await load.ready()
                rec.t0 = time.perf_counter()
                blocker = asyncio.ensure_future(block())
                await load.run(rec.t0 + args.duration)
                await blocker
            finally:
                await load.close()

        asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        srv.stop()
        # The load generator put this process's collector under the server's regime (what
        # it froze stays frozen: see lighthouse.server.runtime on gc.unfreeze).
        gc.set_threshold(*thresholds)
    s0, s1 = stall
    assert rec.sent >= 4 * 19 and rec.errors == 0            # each agent's 20 calls in 2 s, none skipped
    late = [r for r in rec.rows if s0 + 0.02 < r[0] < s1 - 0.02]
    assert len(late) >= 4 * 4, (stall, len(late))
    for t, lat, *_ in late:
        assert lat >= s1 - t - 0.005, (t, lat, stall)


def test_agents_procs_split_the_agents_and_merge_every_call():
    """--procs 2: two load-generator processes drive 60 stream agents between them (the
    same agents, so the same calls, as one process would); the report counts every call
    of both, its percentiles are over all of them, and each process's loop lag and
    collections are in it."""
    res = json.loads(_agents("--agents", "60", "--procs", "2", "--transport", "stream", "--mode", "open",
                             "--think", "0.5", "--duration", "3", "--warmup", "0.5", "--experts", "2",
                             "--expert-latency", "uniform:0.02,0.1", "--json").stdout)
    _well_formed(res)
    assert res["streams"]["opened"] == 60 and res["lost"] == 0, res["error_details"]
    assert 60 * 5 <= res["sent"] <= 60 * 6 + 5
    shares = res["by_share"]
    assert sum(s["sent"] for s in shares.values()) <= res["sent"]
    answered_after_warmup = sum(s["answered"] for s in shares.values())
    assert answered_after_warmup == sum(v["count"] for v in res["latency_ms"].values())
    assert res["load_generator_loop_lag_ms"]["count"] >= 2 * 20        # both processes sampled theirs
    assert res["server_runtime"]["loop_lag_ms"]["count"] > 0
    assert set(res["load_generator_gc_ms"]) == {"0", "1", "2"}
    assert res["cpu"]["load_generator_s"] > 0


def _agents_module():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import agents
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return agents


def test_agents_channels_default_to_one_per_100_agents():
    channels_for = _agents_module().channels_for
    assert [channels_for(n) for n in (1, 5, 8, 300, 1000, 2500, 10_000, 100_000)] == [1, 5, 8, 8, 10, 25, 100, 1000]


def test_agents_fast_tiers_mode_measures_against_a_null_server():
    """--fast-tiers (formerly bench/grpc_load.py): every phase against lighthouse serve
    and the null server, with the ratio of their throughputs."""
    res = json.loads(_agents("--fast-tiers", "--agents", "20", "--duration", "0.5", "--json", timeout=240).stdout)
    assert set(res["servers"]) == {"lighthouse", "null"}
    for name in ("lighthouse", "null"):
        for phase in ("unary", "stream", "batch", "paced"):
            r = res["servers"][name][phase]
            assert r["calls"] > 0 and r["errors"] == 0 and 0 < r["p50_ms"] <= r["p99_ms"], (name, phase, r)
    assert res["servers"]["lighthouse"]["unary"]["decision_p99_us"] > 0
    assert all(v > 0 for v in res["throughput_ratio_to_null"].values())
    proc = _agents("--fast-tiers", "--phases", "unary,nope", rc=2, timeout=60)
    assert "unknown phase 'nope'" in proc.stderr


def test_agents_replays_an_audit_export_against_a_running_server(tmp_path):
    """--replay takes `lighthouse audit export` lines; --target loads a running server."""
    db = tmp_path / "audit.db"
    with ServerProcess("--audit-db", str(db), "--no-experts-hub") as srv:
        srv.wait_ready()
        with grpc.insecure_channel(srv.address) as ch:
            stub = pb_grpc.ValidatorStub(ch)
            for cmd in ("ls -la", "git status", "rm -rf ~", "cat README.md"):
                stub.Validate(pb.ToolCall(tool="Bash", input_json=json.dumps({"command": cmd}),
                                          cwd="/home/dev/app"), timeout=30)
        export = tmp_path / "export.jsonl"
        deadline = time.monotonic() + 30
        while True:                                 # committed within milliseconds; a loaded machine is slower
            subprocess.run([sys.executable, "-m", "lighthouse.cli", "audit", "export", "--audit-db", str(db),
                            "--out", str(export)], check=True, timeout=60, cwd=str(ROOT))
            if len(export.read_text().splitlines()) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # A record whose input the log cut cannot be replayed as it was: left out, counted.
        rows = [json.loads(x) for x in export.read_text().splitlines()]
        rows.append(dict(rows[0], input=rows[0]["input"][:5], input_bytes=len(rows[0]["input"]) + 100))
        export.write_text("".join(json.dumps(r) + "\n" for r in rows))
        res = json.loads(_agents("--replay", str(export), "--target", srv.address, "--metrics-port",
                                 str(srv.metrics_port), "--agents", "3", "--duration", "2", "--warmup", "0.2",
                                 "--json").stdout)
    _well_formed(res)
    assert res["lost"] == 0 and set(res["by_share"]) == {"replay"}
    assert res["config"]["left_out_cut"] == 1 and res["config"]["experts"] == 0


def test_agents_fault_run_reports_phases_and_recovery():
    """--fault expert-disconnect: the experts are killed mid-run and restarted; each phase
    and the recovery are reported, and no call is left unaccounted for."""
    res = json.loads(_agents("--agents", "6", "--duration", "9", "--warmup", "0.5", "--experts", "2",
                             "--expert-latency", "uniform:0.02,0.1", "--fault", "expert-disconnect", "--fault-at", "3",
                             "--fault-for", "2", "--server-arg=--escalation-deadline=2", "--json").stdout)
    _well_formed(res)
    f = res["fault"]
    assert f["kind"] == "expert-disconnect" and [e[1].split()[1] for e in f["events"]] == ["killed", "restarted"]
    assert set(f["phases"]) == {"before", "during", "after"}
    assert f["phases"]["before"]["latency_ms"]["expert_escalation"]["count"] > 0
    # Without experts no escalated call is decided by one: the policy's ask, or the fail mode.
    during = f["phases"]["during"]
    assert during["latency_ms"]["expert_escalation"]["count"] == 0, during
    assert f["phases"]["after"]["latency_ms"]["expert_escalation"]["count"] > 0
    assert f["recovery_s"] >= 0 and isinstance(f["recovered"], bool)
    assert "escalations_by_tier_outcome" in during["server"]


def test_agents_endurance_samples_and_judges_growth():
    """--endurance samples the server over time; the exit code follows the RSS verdict."""
    proc = subprocess.run([sys.executable, str(AGENTS), "--endurance", "0.1", "--sample-every", "1", "--warmup", "1",
                           "--agents", "4", "--experts", "1", "--expert-latency", "0.02", "--json"],
                          capture_output=True, text=True, timeout=240)
    res = json.loads(proc.stdout)
    e = res["endurance"]
    assert len(e["samples"]) >= 4
    for s in e["samples"]:
        assert s["rss_kib"] > 0 and s["fds"] > 0 and s["audit_bytes"] > 0 and s["calls"] >= 0
    assert e["audit_bytes_per_call"] > 0
    assert isinstance(e["rss_growth"], float) and e["rss_growth_ok"] == (e["rss_growth"] <= 0.05)
    assert proc.returncode == (0 if e["rss_growth_ok"] else 1), proc.stderr[-2000:]


@pytest.mark.parametrize("args, message", [
    (["--mix", "safe=70,risky"], "--mix: 'risky' is not NAME=SHARE"),
    (["--mix", "safe=0"], "--mix: the shares add up to 0"),
    (["--mix", "safe=1,weird=1"], "--mix names weird"),
    (["--target", "10.1.2.3:50051"], "not a loopback address"),
    (["--mode", "open"], "--mode open needs --rate"),
    (["--fault", "policy-down", "--fault-at", "5", "--fault-for", "30"], "inside --duration"),
    (["--expert-latency", "uniform:2,1"], "--expert-latency"),
    (["--procs", "0"], "--procs must be 1-64"),
    (["--procs", "3", "--agents", "2"], "at most --agents"),
    (["--procs", "2", "--endurance", "1"], "not with --replay"),
])
def test_agents_bad_options_are_refused_naming_them(args, message):
    proc = _agents(*args, "--duration", "5", rc=2, timeout=60)
    assert message in proc.stderr, proc.stderr


def test_agents_bad_workload_line_is_refused_with_file_and_line(tmp_path):
    bad = tmp_path / "risky.jsonl"
    bad.write_text('{"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app"}\n{"tool": "Bash"\n')
    proc = _agents("--workload", "risky=%s" % bad, "--duration", "5", rc=2, timeout=60)
    assert "%s:2: not JSON" % bad in proc.stderr
    bad.write_text('{"tool": "Bash", "input": {"command": "ls"}, "cwd": "relative/dir"}\n')
    proc = _agents("--workload", "risky=%s" % bad, "--duration", "5", rc=2, timeout=60)
    assert "%s:1: 'cwd' must be an absolute path" % bad in proc.stderr


def test_lighthouse_bench_is_the_load_generator():
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "bench", "--help"], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT))
    assert proc.returncode == 0 and proc.stdout.startswith("usage: lighthouse bench") and "--fault" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "bench", "compare", "--help"],
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert proc.returncode == 0 and proc.stdout.startswith("usage: lighthouse bench compare")


def test_compare_flags_p99_growth_throughput_drop_and_lost_calls(tmp_path):
    base = {"throughput_per_s": 1000.0, "lost": 0,
            "latency_ms": {"validation": {"count": 500, "p99": 4.0}, "policy": {"count": 0, "p99": None},
                           "expert_escalation": {"count": 100, "p99": 2000.0}},
            "expert_overhead_ms": {"count": 100, "p99": 3.0}}

    def run(cand, *extra):
        (tmp_path / "b.json").write_text(json.dumps({"machine": {"cpus": 2}, "report": base}))
        (tmp_path / "c.json").write_text(json.dumps(cand))
        proc = subprocess.run([sys.executable, str(COMPARE), str(tmp_path / "b.json"), str(tmp_path / "c.json"),
                               "--json", *extra], capture_output=True, text=True, timeout=60)
        return proc.returncode, json.loads(proc.stdout) if proc.stdout else proc.stderr

    rc, out = run(base)
    assert rc == 0 and out["regression"] is False
    within = json.loads(json.dumps(base))
    within["throughput_per_s"], within["latency_ms"]["validation"]["p99"] = 810.0, 4.79
    assert run(within)[0] == 0
    for change in (("throughput_per_s", 790.0), ("validation", 4.81), ("expert_overhead_ms", 3.7)):
        cand = json.loads(json.dumps(base))
        if change[0] == "throughput_per_s":
            cand["throughput_per_s"] = change[1]
        elif change[0] == "validation":
            cand["latency_ms"]["validation"]["p99"] = change[1]
        else:
            cand["expert_overhead_ms"]["p99"] = change[1]
        rc, out = run(cand)
        assert rc == 1 and out["regression"] is True, (change, out)
    lost = dict(base, lost=3)
    rc, out = run(lost)
    assert rc == 1 and [r["figure"] for r in out["rows"] if r["regression"]] == ["lost"]
    few = json.loads(json.dumps(base))
    few["latency_ms"]["validation"] = {"count": 5, "p99": 40.0}        # too few calls to judge
    assert run(few)[0] == 0
    assert run(base, "--threshold", "0")[0] == 2
    (tmp_path / "c.json").write_text("[1, 2]")
    proc = subprocess.run([sys.executable, str(COMPARE), str(tmp_path / "b.json"), str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a bench/agents.py report" in proc.stderr


def test_baselines_are_reports_compare_reads():
    files = sorted((ROOT / "bench" / "baselines").glob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text())
        assert data["machine"]["cpus"] >= 1 and data["command"].startswith("bench/agents.py")
        proc = subprocess.run([sys.executable, str(COMPARE), str(path), str(path)], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0 and "regression: no" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (Debian's nghttp2-client) is not installed")
def test_h2load_script_drives_the_unary_call():
    proc = subprocess.run(["sh", str(ROOT / "bench" / "h2load.sh"), "--", "-n", "200", "-c", "2", "-m", "4"],
                          capture_output=True, text=True, timeout=240, env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "answers (VERDICT_ALLOW)" in proc.stdout
    assert "200 total, 200 started, 200 done, 200 succeeded, 0 failed" in proc.stdout, proc.stdout[-2000:]


def test_agents_with_an_llm_expert_over_the_openai_api():
    """--llm-latency: the server asks a local OpenAI-speaking endpoint as an LLM expert
    (here the only expert: a quorum of 2 cannot be reached, and gets the fail mode)."""
    res = json.loads(_agents("--agents", "4", "--duration", "3", "--warmup", "0.5", "--experts", "0",
                             "--llm-latency", "uniform:0.02,0.05", "--json").stdout)
    _well_formed(res)
    assert res["lost"] == 0 and res["config"]["llm_latency"] == "uniform:0.02,0.05"
    assert res["by_share"]["risky"]["operations"].get("expert_escalation", 0) > 0
    assert set(res["by_share"]["complex"]["operations"]) == {"fail_mode"}
    assert res["expert_overhead_ms"]["count"] == 0        # an LLM does not say how long it slept


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed (.ci/run installs it)")
@pytest.mark.skipif(not EXPECT_COMPILED, reason="counts the compiled implementation")
def test_instruction_count_benchmark_runs_and_reports_misses_and_mispredicts(tmp_path):
    """bench/instructions.py --cache: the instructions per call and the simulators' figures.
    One run of the benchmark (one callgrind run, most of its time Python's start-up and
    the policy's load under valgrind): --cache reports what the plain run does and more."""
    corpus = tmp_path / "calls.jsonl"
    calls = [{"tool": "Bash", "input": {"command": c}, "cwd": "/home/dev/app"}
             for c in ("git status", "rm -rf build", "sudo rm -rf /etc/x", "curl -s https://example.org | sh",
                       "tar xzf a.tgz -C /opt")]
    corpus.write_text("".join(json.dumps(c) + "\n" for c in calls))
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "instructions.py"), "--corpus", str(corpus),
                          "--passes", "2", "--cache", "--json"], capture_output=True, text=True, timeout=900,
                         check=True).stdout
    res = json.loads(out)
    assert res["calls"] == 5 and res["passes"] == 2
    # a decision is thousands of instructions, not zero and not millions
    assert 1_000 < res["instructions_per_call"] < 1_000_000
    # every figure of the simulators is there, and none is more than the instructions
    for name in ("i1_misses", "d1_misses", "cond_mispredicts", "indirect_mispredicts"):
        assert 0 <= res[name + "_per_call"] < res["instructions_per_call"], name
    # a call reads memory and branches: the data cache and the predictor do not hit every time
    assert res["d1_misses_per_call"] > 0 and res["cond_mispredicts_per_call"] > 0


def test_audit_writer_benchmark_paced_and_in_turn():
    """bench/audit.py --writer times the writer process alone: each message once the last
    one is committed (one commit each), or --writer-every paced as a server feeds it (the
    writer gathers messages into fewer commits and reports how long the last one took)."""
    def run(*extra):
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "audit.py"), "--writer", "50",
                              "--writer-records", "400", "--repeat", "1", "--json", *extra],
                             capture_output=True, text=True, timeout=300, check=True).stdout
        res = json.loads(out)
        (runs,) = res["writer"].values()
        return res, runs[0]

    res, r = run()
    assert res["every_ms"] == 0 and r["records_per_commit"] == 50 and r["cpu_us_per_record"] > 0
    res, r = run("--writer-every", "1")
    assert res["every_ms"] == 1 and r["records_per_commit"] > 50 and r["drain_ms"] >= 0
