"""The fast-path benchmark runs and reports its figures (the figures themselves are
measured by `make bench`, not asserted here)."""

import json
import subprocess
import sys

import pytest

from conftest import EXPECT_COMPILED, ROOT

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
