"""`lighthouse check` with the policy tier: the rules, then the default Rego policy for the
calls no rule settles, then the fail mode, as a server without experts decides; and with
--no-policy, the rules alone. The command runs as a subprocess on the real corpus files;
the comparison with the server runs a real one on a loopback port."""

from __future__ import annotations

import json
import subprocess
import sys

import grpc
import pytest

from lighthouse import Validator
from lighthouse.server.app import ServerConfig
from lighthouse.v1 import validation_pb2_grpc as pb_grpc
from lighthouse.vocab import TIER_NAMES, VERDICT_NAMES

from conftest import CORPUS, ROOT
from serverkit import ServerThread, quiet_grpc_logs, tool_call

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

DATA = ROOT / "tests" / "data"
CHALLENGE = DATA / "challenge.jsonl"
SAMPLE = DATA / "policy_sample.jsonl"
WS = "/home/dev/app"


def check(*args, ok=True):
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "check", *args], capture_output=True,
                          text=True, timeout=240, cwd=str(ROOT))
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def rows_of(proc):
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def cases(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def scored():
    """{file: (cases, rows with the policy tier, rows with --no-policy)} for the corpus,
    the challenge set and the policy sample."""
    out = {}
    for path in (CORPUS, CHALLENGE, SAMPLE):
        out[path.name if path != CORPUS else "corpus"] = (
            cases(path), rows_of(check("--jsonl", str(path), ok=False)),
            rows_of(check("--jsonl", str(path), "--no-policy", ok=False)))
    return out


@pytest.mark.parametrize("name", ["corpus", "challenge.jsonl"])
def test_no_call_labelled_deny_is_allowed_with_the_policy_tier(scored, name):
    calls, rows, rules_alone = scored[name]
    assert [r["id"] for r in rows] == [c["id"] for c in calls]
    allowed_deny = [c["id"] for c, r in zip(calls, rows) if c["expect"] == "deny" and r["verdict"] == "allow"]
    assert allowed_deny == []
    # Nor does the policy allow a call the rules alone keep from running (a risky call
    # the rules miss goes to the policy, which must not wave it through).
    newly_allowed = [c["id"] for c, r, a in zip(calls, rows, rules_alone)
                     if c["expect"] != "allow" and r["verdict"] == "allow" and a["verdict"] != "allow"]
    assert newly_allowed == []
    # The test is not vacuous: the policy tier decides every call the rules leave open
    # (the challenge set has some; the corpus's last one, d086, a download run in the same
    # call, is rexec.run-downloaded's since issue 12).
    left_open = [a for a in rules_alone if a["tier"] == "fallback"]
    assert sum(r["tier"] == "policy" for r in rows) >= len(left_open)
    assert name == "corpus" or left_open


def test_the_default_policy_settles_a_third_of_the_everyday_sample_and_routes_the_rest(scored):
    calls, rows, _ = scored["policy_sample.jsonl"]
    assert len(rows) == len(calls) >= 300
    # Every call of the sample is one the rules miss, so every one reaches the policy, and
    # the policy answers each (no evaluation failed: no fail mode).
    assert {r["tier"] for r in rows} == {"policy"}
    settled = [r for r in rows if r["verdict"] in ("allow", "deny")]
    routed = [r for r in rows if r["verdict"] == "ask"]
    assert len(settled) + len(routed) == len(rows)
    assert all(r["rule_id"] == "policy:data.lighthouse.decision" for r in rows)
    assert all(r["reason"] and "category" not in r for r in settled)
    assert all(r["category"] and r["reason"] for r in routed)
    assert 3 * len(settled) >= len(rows), "settled %d of %d" % (len(settled), len(rows))
    # --score reports the same split.
    report = check("--jsonl", str(SAMPLE), "--score", "--quiet").stdout.splitlines()
    line = next(x for x in report if x.startswith("tier policy: "))
    assert line.startswith("tier policy: %d of %d calls" % (len(rows), len(rows)))
    assert "settled %d, routed %d to experts" % (len(settled), len(routed)) in line


@pytest.mark.parametrize("name", ["corpus", "challenge.jsonl", "policy_sample.jsonl"])
def test_no_policy_gives_the_rules_alone(scored, name):
    calls, rows, rules_alone = scored[name]
    v = Validator(cache_size=0)
    expected = []
    for c in calls:
        d = v.check(c["tool"], c["input"], cwd=c.get("cwd"), home=c.get("home"))
        expected.append({"id": c["id"], "verdict": d.verdict, "tier": d.tier, "rule_id": d.rule_id, "reason": d.reason})
    assert rules_alone == expected
    assert all(r["tier"] in ("rules", "fallback") for r in rules_alone)
    # With the policy tier on, what the rules settle is unchanged; only the fail-mode
    # answers (calls no rule settles) go to the policy.
    for r, a in zip(rows, rules_alone):
        if a["tier"] == "rules":
            assert r == a
        else:
            assert r["tier"] == "policy", r


def test_raw_is_the_rules_alone_and_does_not_go_with_a_policy(tmp_path):
    proc = check("--command", "sar -u 1 3", "--cwd", WS, "--raw", ok=False)
    assert (json.loads(proc.stdout)["verdict"], proc.returncode) == ("miss", 3)
    proc = check("--command", "sar -u 1 3", "--cwd", WS, "--raw", "--policy", str(tmp_path), ok=False)
    assert proc.returncode == 2 and "--raw" in proc.stderr and "--policy" in proc.stderr
    proc = check("--command", "sar -u 1 3", "--cwd", WS, "--no-policy", "--policy", str(tmp_path), ok=False)
    assert proc.returncode == 2 and "--no-policy" in proc.stderr and proc.stdout == ""


def test_policy_dirs_add_to_the_default_policy_and_a_broken_one_is_refused(tmp_path):
    team = tmp_path / "team"
    team.mkdir()
    (team / "team.rego").write_text(
        'package lighthouse\nimport rego.v1\n\n'
        'deny contains "sar is not run on our hosts" if {\n'
        '\tsome c in input.commands\n\tc.program == "sar"\n}\n')
    proc = check("--command", "sar -u 1 3", "--cwd", WS, "--policy", str(team), ok=False)
    d = json.loads(proc.stdout)
    assert (d["verdict"], d["tier"], proc.returncode) == ("deny", "policy", 4)
    assert "sar is not run on our hosts" in d["reason"]
    assert json.loads(check("--command", "sar -u 1 3", "--cwd", WS).stdout)["verdict"] == "allow"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.rego").write_text('package lighthouse\nimport rego.v1\n\ndeny contains "x" if {\n\t1 ==\n}\n')
    proc = check("--command", "ls", "--cwd", WS, "--policy", str(broken), ok=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("lighthouse check: policy refused: %s:" % (broken / "bad.rego")), proc.stderr


def test_a_policy_that_fails_gets_the_fail_mode_never_an_allow(tmp_path):
    # The policy "allows" frobnicate with a reason that is not text: its evaluation fails.
    (tmp_path / "odd.rego").write_text(
        'package lighthouse\nimport rego.v1\n\n'
        'allowed contains {"command": i, "reason": 5} if {\n'
        '\tsome i, c in input.commands\n\tc.program == "frobnicate"\n}\n')
    for fallback, verdict, code in (("ask", "ask", 3), ("deny", "deny", 4), ("allow", "ask", 3)):
        proc = check("--command", "frobnicate all", "--cwd", WS, "--policy", str(tmp_path), "--fallback", fallback,
                     ok=False)
        d = json.loads(proc.stdout)
        assert (d["verdict"], d["tier"], proc.returncode) == (verdict, "fallback", code), d
        assert "policy failed" in d["reason"] and "fail-mode verdict %s" % verdict in d["reason"]


def test_an_incompletely_analysed_call_is_never_allowed_by_the_policy():
    # 70 commands that the policy allows one by one; the document describes 64 of them.
    command = "; ".join(["sar -u 1 1"] * 70)
    d = json.loads(check("--command", command, "--cwd", WS, ok=False).stdout)
    assert (d["verdict"], d["tier"], d["category"]) == ("ask", "policy", "unanalysed")
    assert json.loads(check("--command", "sar -u 1 1", "--cwd", WS).stdout)["verdict"] == "allow"


def _sample_calls():
    """Distinct calls (no cache can answer one of them twice) of every kind: rules allow,
    ask and deny, and misses the policy allows, denies and routes, Bash and other tools."""
    seen = set()
    out = []
    for path, step in ((CORPUS, 5), (CHALLENGE, 9), (SAMPLE, 6)):
        for c in cases(path)[::step]:
            key = (c["tool"], json.dumps(c["input"], sort_keys=True), c.get("cwd"))
            if key not in seen:
                seen.add(key)
                out.append(c)
    return out


def test_check_and_a_server_with_the_policy_tier_agree():
    calls = _sample_calls()
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "check", "--jsonl", "-"], capture_output=True,
                          text=True, timeout=240, cwd=str(ROOT),
                          input="".join(json.dumps(c) + "\n" for c in calls))
    assert proc.returncode in (0, 3, 4), proc.stderr
    local = rows_of(proc)
    assert len(local) == len(calls)
    quiet_grpc_logs()
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, rate_limit=0, policy=True,
                          policy_processes=1, policy_deadline=30.0, escalation_deadline=60.0)
    with ServerThread(config) as server, grpc.insecure_channel(server.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        remote = []
        for c in calls:
            d = stub.Validate(tool_call(c["tool"], c["input"], cwd=c.get("cwd") or "", home=c.get("home") or "",
                                        request_id=str(c["id"])), timeout=60)
            remote.append({"id": c["id"], "verdict": VERDICT_NAMES[d.verdict], "tier": TIER_NAMES[d.tier],
                           "rule_id": d.rule_id})
    mine = [{k: r[k] for k in ("id", "verdict", "tier", "rule_id")} for r in local]
    assert mine == remote
    tiers = {r["tier"] for r in mine}
    assert {"rules", "policy"} <= tiers, tiers
    verdicts = {(r["tier"], r["verdict"]) for r in mine}
    assert {("policy", "allow"), ("policy", "ask"), ("rules", "deny"), ("rules", "ask")} <= verdicts, verdicts
