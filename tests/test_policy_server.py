"""The policy tier behind a real server on a loopback port: calls no rule settles are
decided by the default Rego policy (regorus in a worker process) off the hot path, the
fast tiers answer the rest as before, reloads recompile the policy, and a policy that
does not compile keeps the server from starting."""

from __future__ import annotations

import grpc
import pytest

from lighthouse.errors import ConfigError
from lighthouse.server.app import LighthouseServer, ServerConfig
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc

from serverkit import ServerThread, quiet_grpc_logs, run_async, tool_call

pytestmark = pytest.mark.timeout(120)


def _config(**kw):
    return ServerConfig(port=0, metrics_port=0, local_socket=False, rate_limit=0, reload_interval=0,
                        policy=True, policy_processes=1, policy_deadline=10.0, **kw)


@pytest.fixture(scope="module")
def server():
    quiet_grpc_logs()
    with ServerThread(_config()) as s:
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
    again = stub.Validate(tool_call("Bash", "sar -u 1 3"), timeout=30)
    assert again.verdict == pb.VERDICT_ALLOW and again.tier in (pb.TIER_CACHE, pb.TIER_POLICY)


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
