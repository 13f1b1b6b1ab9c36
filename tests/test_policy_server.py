"""The policy tier behind a real server on a loopback port: calls no rule settles are
decided by the default Rego policy (regorus in a worker process) off the hot path, the
fast tiers answer the rest as before, reloads recompile the policy, and a policy that
does not compile keeps the server from starting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

from lighthouse.errors import ConfigError, ReloadError
from lighthouse.server.app import LighthouseServer, ServerConfig
from lighthouse.server.config import ANY_PORT
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc

from serverkit import (ROOT, ServerProcess, ServerThread, quiet_grpc_logs, run_async, sample, scrape,
                       tool_call)

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def _config(metrics_port=0, port=0, **kw):
    return ServerConfig(port=port, metrics_port=metrics_port, local_socket=False, rate_limit=0, reload_interval=0,
                        policy=True, policy_processes=1, policy_deadline=10.0, **kw)


@pytest.fixture(scope="module")
def server():
    quiet_grpc_logs()
    with ServerThread(_config(metrics_port=ANY_PORT)) as s:
        yield s


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.address) as ch:
        yield pb_grpc.ValidatorStub(ch)


def test_a_call_no_rule_settles_is_decided_by_the_policy(stub):
    # sar is a read-only monitoring tool the rule packs do not know
    d = stub.Validate(tool_call("Bash", "sar -u 1 3", request_id="p1"), timeout=30)
    assert (d.request_id, d.verdict, d.tier) == ("p1", pb.VERDICT_ALLOW, pb.TIER_POLICY)
    assert d.rule_id == "policy:data.lighthouse.decision" and d.reason
    assert d.escalation_id
    # A repeat is answered inline from the slow tiers' cache: tier CACHE, the policy's
    # rule id and reason, and the escalation that decided it.
    again = stub.Validate(tool_call("Bash", "sar -u 1 3"), timeout=30)
    assert (again.verdict, again.tier, again.rule_id, again.reason, again.escalation_id) == \
        (pb.VERDICT_ALLOW, pb.TIER_CACHE, d.rule_id, d.reason, d.escalation_id)


def test_the_slow_path_is_measured_on_metrics(stub, server):
    port = server.server.metrics_port
    base = sample(scrape(port), "lighthouse_escalations_total", outcome="allow", tier="policy")
    d = stub.Validate(tool_call("Bash", "sar -q 1 7"), timeout=30)
    assert (d.verdict, d.tier) == (pb.VERDICT_ALLOW, pb.TIER_POLICY)
    stub.Validate(tool_call("Bash", "sar -q 1 7"), timeout=30)           # the repeat: a cache hit
    m = scrape(port)
    assert sample(m, "lighthouse_escalations_total", outcome="allow", tier="policy") == base + 1
    assert sample(m, "lighthouse_decision_duration_seconds_count", operation="policy") >= 1
    assert sample(m, "lighthouse_escalation_overhead_seconds_count") >= 1
    assert sample(m, "lighthouse_circuit_state", None, backend="regorus") == 0
    assert sample(m, "lighthouse_escalation_queue_depth", None) == 0
    assert sample(m, "lighthouse_escalations_in_flight", None) == 0
    assert sample(m, "lighthouse_escalation_cache_hits_total", tier="policy") >= 1
    assert 0 < sample(m, "lighthouse_tier_hit_ratio", tier="policy") < 1
    assert sample(m, "lighthouse_tier_hit_ratio", None, tier="memory") is not None
    assert sample(m, "lighthouse_decisions_total", tier="cache", verdict="allow") >= 1
    for cause in ("timeout", "queue_full", "circuit_open", "deadline"):
        assert sample(m, "lighthouse_escalation_fail_mode_total", None, cause=cause) is not None


def test_a_rule_ask_without_experts_is_answered_at_once_as_the_rules_ask(stub, server):
    """Without an expert tier a rule's ask is not escalated: it is answered inline (no
    Pending, no escalation id), and counted as kept."""
    kept = server.server.pipeline.stats.rule_asks_kept
    d = stub.Validate(tool_call("Bash", "npm publish"), timeout=30)
    assert (d.verdict, d.tier, d.rule_id, d.escalation_id) == (pb.VERDICT_ASK, pb.TIER_RULES, "pkg.publish", "")
    assert server.server.pipeline.stats.rule_asks_kept == kept + 1
    assert server.server.pipeline.stats.in_flight == 0
    # Not remembered in the front of tier 0: whether asks escalate can change (experts).
    again = stub.Validate(tool_call("Bash", "npm publish"), timeout=30)
    assert again.tier in (pb.TIER_RULES, pb.TIER_CACHE) and again.rule_id == "pkg.publish"
    assert server.server.pipeline.stats.rule_asks_kept == kept + 2      # asked again whether to escalate


def test_the_fast_tiers_answer_as_before(stub):
    d = stub.Validate(tool_call("Bash", "rm -rf /"), timeout=30)
    assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_RULES)
    d = stub.Validate(tool_call("Bash", "git status"), timeout=30)
    assert d.verdict == pb.VERDICT_ALLOW and d.tier in (pb.TIER_RULES, pb.TIER_CACHE)


def test_a_stream_answers_its_fast_calls_beside_escalated_ones(stub):
    calls = [tool_call("Bash", "sar -d 1 %d" % k, request_id="e%d" % k) for k in range(3)]
    calls += [tool_call("Bash", "ls -la", request_id="f%d" % k) for k in range(3)]
    answers = {d.request_id: d for d in stub.ValidateStream(iter(calls), timeout=60)}
    assert set(answers) == {c.request_id for c in calls}
    for k in range(3):
        assert answers["f%d" % k].verdict == pb.VERDICT_ALLOW
        assert answers["e%d" % k].verdict != pb.VERDICT_UNSPECIFIED
        assert answers["e%d" % k].tier in (pb.TIER_POLICY, pb.TIER_CACHE, pb.TIER_FALLBACK)


def test_a_reload_recompiles_the_policy(server, stub):
    generation, _ = server.run(server.server.reload("test"))
    assert generation >= 2
    d = stub.Validate(tool_call("Bash", "sar -u 1 5"), timeout=30)
    assert (d.verdict, d.tier) == (pb.VERDICT_ALLOW, pb.TIER_POLICY)


def test_a_policy_that_does_not_compile_keeps_the_server_from_starting(tmp_path):
    (tmp_path / "team.rego").write_text("package lighthouse\n\nthis is not rego\n")
    srv = LighthouseServer(_config(policy_dirs=(str(tmp_path),)))
    with pytest.raises(ConfigError, match="policy refused: .*team.rego"):
        run_async(srv.start(), timeout=60)


def _children(pid):
    """The pids of the processes whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def test_a_server_that_cannot_listen_leaves_no_policy_worker_behind(server):
    def live(pids):
        return {p for p in pids if _state(p) not in ("Z", "gone")}
    before = live(_children(os.getpid()))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        srv = LighthouseServer(_config(port=busy.getsockname()[1]))
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1:%d" % busy.getsockname()[1]):
            run_async(srv.start(), timeout=60)
    assert srv.decider.escalator is None
    deadline = time.monotonic() + 30
    while live(_children(os.getpid())) - before:
        assert time.monotonic() < deadline, "policy workers left running: %s" % (live(_children(os.getpid())) - before)
        time.sleep(0.1)


def test_a_sigterm_the_instant_the_server_serves_stops_it_gracefully(tmp_path):
    """The signal handlers are in place before the server says it serves: a SIGTERM
    sent as that line is read drains and exits 0 (it used to kill the process, leaving
    the policy tier's workers behind)."""
    argv = [sys.executable, "-m", "lighthouse.cli", "serve", "--port", "0", "--metrics-port", "0",
            "--no-socket", "--policy-processes", "1", "--admin-token-file", str(tmp_path / "admin-token")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(ROOT))
    try:
        for line in proc.stdout:
            if "serving gRPC" in line:
                proc.send_signal(signal.SIGTERM)
                break
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_policy_workers_end_with_the_server_however_it_ends():
    """A SIGKILL runs no shutdown: the policy tier's worker processes notice that their
    server is gone and exit, instead of lingering as orphans."""
    srv = ServerProcess("--policy-processes", "2", metrics=False)
    try:
        srv.wait_ready()
        workers = _children(srv.proc.pid)
        assert len(workers) >= 2, workers
        srv.proc.kill()
        srv.proc.wait(30)
        deadline = time.monotonic() + 30
        while any(os.path.exists("/proc/%d" % pid) and _state(pid) != "Z" for pid in workers):
            assert time.monotonic() < deadline, "policy workers outlived their server: %s" % workers
            time.sleep(0.1)
    finally:
        srv.kill()


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_a_reload_with_a_policy_that_does_not_compile_is_refused_and_the_running_one_stays(tmp_path):
    (tmp_path / "team.rego").write_text(
        'package lighthouse\nimport rego.v1\n'
        'deny contains "no sar here" if { some c in input.commands; c.program == "sar" }\n')
    with ServerThread(_config(policy_dirs=(str(tmp_path),))) as s, grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        d = stub.Validate(tool_call("Bash", "sar -u 1 3"), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_POLICY)
        (tmp_path / "team.rego").write_text("package lighthouse\nimport rego.v1\n\ndeny contains x if {\n")
        with pytest.raises(ReloadError, match=r"team\.rego:\d+"):
            s.run(s.server.reload("test"))
        d = stub.Validate(tool_call("Bash", "sar -u 1 4"), timeout=30)
        assert (d.verdict, d.tier, d.reason) == (pb.VERDICT_DENY, pb.TIER_POLICY, "no sar here")


def test_the_rule_facts_are_built_off_the_event_loop_once_per_policy_and_shared_by_the_tiers(monkeypatch):
    # Building the facts about the rules (two rule engines of the whole policy) takes a
    # tenth of a second or more: the server builds them as it starts and on each
    # reload's thread, never on the event loop where the calls wait.
    from lighthouse.policy import input as policy_input

    built = []

    class Recorded(policy_input.RuleFacts):
        def __init__(self, policy):
            built.append((policy, threading.current_thread().name))
            super().__init__(policy)

    monkeypatch.setattr(policy_input, "RuleFacts", Recorded)
    with ServerThread(_config(experts_hub=True)) as s, grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        srv = s.server
        loop_thread = s.run(_thread_name())
        source = srv.rule_facts
        first = srv.validator.policy

        def builds(policy):
            # (The shipped packs' facts, RuleFacts.shipped(), are another policy's.)
            return [name for p, name in built if p is policy]

        assert source.ready and len(builds(first)) == 1
        # One source for every tier that reports the facts (policy and experts).
        tiers = [st.tier for st in srv.pipeline.stages]
        assert {type(t).__name__ for t in tiers} >= {"PolicyTier", "ExpertTier"}
        assert all(t._facts is source for t in tiers if hasattr(t, "_facts"))
        d = stub.Validate(tool_call("Bash", "sar -u 1 3"), timeout=30)
        assert d.tier == pb.TIER_POLICY and len(builds(first)) == 1
        s.run(srv.reload("test"))
        second = srv.validator.policy
        assert second is not first and source.ready and len(builds(second)) == 1
        d = stub.Validate(tool_call("Bash", "sar -u 1 4"), timeout=30)
        assert d.tier == pb.TIER_POLICY and len(builds(first)) == len(builds(second)) == 1
        assert loop_thread not in builds(first) + builds(second), built


async def _thread_name():
    return threading.current_thread().name
