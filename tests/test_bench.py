"""The fast-path benchmark runs and reports its figures (the figures themselves are
measured by `make bench`, not asserted here)."""

import json
import subprocess
import sys

from conftest import EXPECT_COMPILED, ROOT


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
