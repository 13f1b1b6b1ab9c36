"""The committed stubs under lighthouse/v1/ match proto/lighthouse/v1/*.proto, and the
hot path's hand-written Decision encoding matches the generated one."""

from __future__ import annotations

import importlib.util
import pathlib
import random
import time

import pytest

from lighthouse._fast import wire_implementations
from lighthouse.server.wire import Answers, batch_bytes, decision_body, decision_bytes, varint
from lighthouse.v1 import validation_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_stubs_match_the_protos(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the stubs")
    gen = _generator()
    fresh = {p.name: p.read_bytes() for p in gen.generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in (ROOT / "lighthouse" / "v1").iterdir()
                 if p.name.endswith(gen.GENERATED_SUFFIXES)}
    assert sorted(fresh) == sorted(committed), "stub files differ: run `make protos`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, "%s drifted from proto/lighthouse/v1/*.proto: run `make protos`" % ", ".join(stale)


def test_wire_contract_field_numbers():
    """The numbers external clients rely on (DESIGN.md); they must never change."""
    fields = {f.name: f.number for f in pb.ToolCall.DESCRIPTOR.fields}
    assert fields == {"request_id": 1, "agent_id": 2, "session_id": 3, "tool": 4, "input_json": 5,
                      "cwd": 6, "home": 7, "fallback": 8}
    fields = {f.name: f.number for f in pb.Decision.DESCRIPTOR.fields}
    assert fields == {"request_id": 1, "verdict": 2, "reason": 3, "rule_id": 4, "tier": 5,
                      "policy_generation": 6, "escalation_id": 7, "decision_ns": 8, "error": 9}
    assert [(v.name, v.number) for v in pb.Verdict.DESCRIPTOR.values] == [
        ("VERDICT_UNSPECIFIED", 0), ("VERDICT_ALLOW", 1), ("VERDICT_ASK", 2), ("VERDICT_DENY", 3)]
    assert [(v.name, v.number) for v in pb.Tier.DESCRIPTOR.values] == [
        ("TIER_UNSPECIFIED", 0), ("TIER_CACHE", 1), ("TIER_RULES", 2), ("TIER_POLICY", 3),
        ("TIER_EXPERT", 4), ("TIER_FALLBACK", 5), ("TIER_PATTERN", 6)]


def test_hand_encoding_equals_generated_serialization():
    rng = random.Random(3)
    texts = ["", "a", "Reads files", "é ü 漢字 🚀", "x" * 200, "line\nbreak"]
    numbers = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 35, 2 ** 63 - 1]
    for n in numbers[1:]:                      # 0 is a default, omitted from the message
        assert varint(n) == pb.Decision(decision_ns=n).SerializeToString()[1:]
    messages = []
    for _ in range(300):
        kw = dict(request_id=rng.choice(texts), verdict=rng.randrange(4), reason=rng.choice(texts),
                  rule_id=rng.choice(texts), tier=rng.randrange(6), policy_generation=rng.choice(numbers),
                  escalation_id=rng.choice(texts), decision_ns=rng.choice(numbers))
        expected = pb.Decision(**kw).SerializeToString()
        body = decision_body(kw["verdict"], kw["reason"], kw["rule_id"], kw["tier"], kw["policy_generation"],
                             kw["escalation_id"])
        got = decision_bytes(kw["request_id"], body, kw["decision_ns"])
        assert got == expected, kw
        messages.append(pb.Decision(**kw))
    assert batch_bytes([m.SerializeToString() for m in messages]) == \
        pb.DecisionBatch(decisions=messages).SerializeToString()


@pytest.mark.parametrize("impl", sorted(wire_implementations()))
def test_finish_decision_equals_generated_serialization(impl):
    finish = wire_implementations()[impl].finish_decision
    for request_id in ["", "r-1", "é ü 漢字 🚀", "x" * 200]:
        body = decision_body(3, "Deletes the filesystem root", "fs.rm-system", 2, 2 ** 35)
        before = time.perf_counter_ns()
        out, ns = finish(request_id, body, before)
        after = time.perf_counter_ns()
        assert 0 < ns <= after - before                  # the clock is perf_counter_ns()'s
        assert out == pb.Decision(request_id=request_id, verdict=3, reason="Deletes the filesystem root",
                                  rule_id="fs.rm-system", tier=2, policy_generation=2 ** 35,
                                  decision_ns=ns).SerializeToString()


def test_answers_encode_each_decision_once_and_a_miss_as_the_fail_mode():
    answers = Answers(pb.VERDICT_ASK)
    deny = answers["deny", "rules", "Deletes the filesystem root", "fs.rm-system", 7, 0]
    assert answers["deny", "rules", "Deletes the filesystem root", "fs.rm-system", 7, 0] is deny
    index, body, outcome = deny
    assert pb.Decision.FromString(body) == pb.Decision(
        verdict=pb.VERDICT_DENY, tier=pb.TIER_RULES, reason="Deletes the filesystem root", rule_id="fs.rm-system",
        policy_generation=7)
    assert index == pb.VERDICT_DENY * len(pb.Tier.keys()) + pb.TIER_RULES and outcome.raw == "deny"
    for fb, verdict in ((0, pb.VERDICT_ASK), (pb.VERDICT_ALLOW, pb.VERDICT_ASK), (pb.VERDICT_DENY, pb.VERDICT_DENY)):
        _, body, outcome = answers["miss", "rules", "", "", 7, fb]
        assert (outcome.verdict, outcome.tier, outcome.raw) == (verdict, pb.TIER_FALLBACK, "miss")
        assert pb.Decision.FromString(body).reason.endswith(
            "; fail-mode verdict %s" % pb.Verdict.Name(verdict).removeprefix("VERDICT_").lower())
