"""The escalation pipeline (lighthouse.escalation): tier order, deadlines, the fail mode,
circuit breakers, the bounded queue, coalescing, the slow-decision cache, answers that
are never an allow by accident, and the pipeline behind a real server through the
Decider's escalator seam.

Stub tiers are driven by asyncio Events and Queues, never by sleeping; the only waits on
the clock are the deadlines under test (tens of milliseconds). Breakers and the cache
take a fake clock."""

from __future__ import annotations

import asyncio
import threading
import time
import types

import pytest

from lighthouse import Validator
from lighthouse.client import Client
from lighthouse.escalation import (CLOSED, HALF_OPEN, OPEN, CircuitBreaker, EscalationPipeline, Stage,
                                   SlowDecisionCache, TierAnswer, check_answer)
from lighthouse.escalation.cache import CachedDecision
from lighthouse.escalation.stats import families, merge_snapshots
from lighthouse.metrics import Stats, StatsCollector, merge_snapshots as server_merge
from lighthouse.server.app import ServerConfig
from lighthouse.server.core import Decider, EscalationResult, Pending
from lighthouse.v1.validation_pb2 import Decision

from serverkit import WS, ServerThread, run_async

DENY = TierAnswer("deny", "policy says no", "policy:data.lighthouse.decision")
ALLOW = TierAnswer("allow", "policy says fine", "policy:data.lighthouse.decision")


def run(coro):
    return run_async(coro, timeout=10)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class StubTier:
    """A tier whose behaviour the test sets. Each call is put on ``arrived`` (the test
    awaits it to know the tier was asked), then waits for ``gate`` when there is one,
    then returns ``answer`` (called with the Escalation if callable; raised if an
    exception)."""

    def __init__(self, name="policy", answer=None, gate=None, kind=None):
        self.name = name
        if kind is not None:
            self.kind = kind
        self.answer = answer
        self.gate = gate
        self.calls = []
        self.arrived = asyncio.Queue()
        self.cancelled = 0

    async def decide(self, esc):
        self.calls.append(esc)
        self.arrived.put_nowait(esc)
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        a = self.answer(esc) if callable(self.answer) else self.answer
        if isinstance(a, BaseException):
            raise a
        return a


def call(p, n=0, **kw):
    """p.decide() of a distinct MCP call number n."""
    kw.setdefault("generation", 1)
    return p.decide("mcp__srv__tool", {"n": n}, WS, "/home/dev", **kw)


# ------------------------------------------------------------------ tier order

def test_policy_decides_and_experts_are_not_asked():
    async def main():
        policy, expert = StubTier("policy", DENY), StubTier("experts", ALLOW, kind="expert")
        p = EscalationPipeline([policy, expert])
        out = await call(p)
        assert (out.verdict, out.tier, out.rule_id, out.cause) == ("deny", "policy", DENY.decided_by, "")
        assert out.escalation_id.startswith("esc-")
        assert len(policy.calls) == 1 and not expert.calls
        esc = policy.calls[0]
        assert (esc.tool, esc.tool_input, esc.cwd, esc.home, esc.why, esc.generation) == \
            ("mcp__srv__tool", {"n": 0}, WS, "/home/dev", "miss", 1)
        assert 0 < esc.remaining() <= 30
    run(main())


def test_no_opinion_or_handing_on_goes_to_the_next_tier_with_the_earlier_answers():
    async def main():
        handed = TierAnswer("ask", "policy wants an expert", "policy:data.lighthouse.escalate", escalate=True)
        policy = StubTier("policy", lambda esc: None if esc.tool_input["n"] == 0 else handed)
        expert = StubTier("experts", TierAnswer("allow", "expert: a read-only query", "expert:sec", quorum=2),
                          kind="expert")
        p = EscalationPipeline([policy, expert])
        out = await call(p, 0)
        assert (out.verdict, out.tier, out.rule_id) == ("allow", "expert", "expert:sec")
        assert expert.calls[0].prior == ()
        out = await call(p, 1)
        assert out.tier == "expert" and expert.calls[1].prior == (handed,)
        assert p.stats.outcomes[("policy", "no_opinion")] == 1 and p.stats.outcomes[("policy", "handed_on")] == 1
    run(main())


def test_a_handed_on_answer_stands_when_later_tiers_have_no_opinion():
    async def main():
        handed = TierAnswer("deny", "policy: deny unless an expert knows better", "policy:x", escalate=True)
        p = EscalationPipeline([StubTier("policy", handed), StubTier("experts", None, kind="expert")])
        out = await call(p)
        assert (out.verdict, out.tier, out.rule_id) == ("deny", "policy", "policy:x")
    run(main())


def test_the_outcome_names_the_category_of_a_routing_answer_that_stands():
    async def main():
        routed = TierAnswer("ask", "policy: needs an expert", "policy:x", escalate=True, category="network")
        alone = EscalationPipeline([StubTier("policy", routed)])
        out = await call(alone)
        assert (out.verdict, out.tier, out.category) == ("ask", "policy", "network")
        handed = EscalationPipeline([StubTier("policy", routed), StubTier("experts", None, kind="expert")])
        assert (await call(handed)).category == "network"
        # An expert's decision, and a policy answer that does not ask for experts, route nothing.
        decided = EscalationPipeline([StubTier("policy", routed), StubTier("experts", ALLOW, kind="expert")])
        assert (await call(decided)).category == ""
        labelled = TierAnswer("deny", "policy says no", "policy:x", category="policy")
        assert (await call(EscalationPipeline([StubTier("policy", labelled)]))).category == ""
    run(main())


def test_policy_stages_come_first():
    with pytest.raises(ValueError):
        EscalationPipeline([Stage(StubTier("experts"), kind="expert"), StubTier("policy")])


# ------------------------------------------------------------------ deadlines and the fail mode

def test_policy_deadline_gives_the_fail_mode_naming_the_tier():
    async def main():
        policy = StubTier("policy", ALLOW, gate=asyncio.Event())        # never released
        p = EscalationPipeline([policy], policy_deadline=0.03)
        t0 = time.monotonic()
        out = await call(p)
        assert time.monotonic() - t0 < 1.0
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "timeout")
        assert "policy timed out after 30 ms" in out.reason and "fail-mode verdict ask" in out.reason
        assert policy.cancelled == 1
        assert p.stats.fail_mode["timeout"] == 1 and p.stats.outcomes[("policy", "timeout")] == 1
        assert sum(p.stats.decision_time["policy"].counts) == 1
    run(main())


def test_policy_timeout_hands_on_to_experts_whose_answer_is_not_cached():
    async def main():
        policy = StubTier("policy", ALLOW, gate=asyncio.Event())
        expert = StubTier("experts", TierAnswer("deny", "expert: no", "expert:a"), kind="expert")
        p = EscalationPipeline([policy, expert], policy_deadline=0.02)
        out = await call(p)
        assert (out.verdict, out.tier) == ("deny", "expert")
        assert len(p.cache) == 0          # the policy did not get its say: ask it again next time
    run(main())


def test_overall_deadline_while_an_expert_deliberates():
    async def main():
        expert = StubTier("experts", ALLOW, gate=asyncio.Event(), kind="expert")
        p = EscalationPipeline([StubTier("policy", None), expert], escalation_deadline=0.05)
        out = await call(p)
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "deadline")
        assert "escalation deadline of 50 ms passed in experts" in out.reason
        assert p.breakers["experts"].failures == 0      # the overall deadline is not the backend's fault
    run(main())


def test_deadline_counts_from_the_calls_arrival():
    async def main():
        policy = StubTier("policy", ALLOW)
        p = EscalationPipeline([policy], escalation_deadline=0.5)
        out = await call(p, started_ns=time.perf_counter_ns() - 1_000_000_000)
        assert (out.verdict, out.cause) == ("ask", "deadline") and not policy.calls
    run(main())


@pytest.mark.parametrize("fail_mode,floor,expect", [("ask", "allow", "ask"), ("deny", "allow", "deny"),
                                                    ("ask", "deny", "deny")])
def test_fail_mode_on_error_and_the_calls_own_stricter_fallback(fail_mode, floor, expect):
    async def main():
        p = EscalationPipeline([StubTier("policy", RuntimeError("opa down"))], fail_mode=fail_mode)
        out = await call(p, floor=floor)
        assert (out.verdict, out.tier, out.cause) == (expect, "fallback", "error")
        assert "policy failed (RuntimeError)" in out.reason
        assert p.stats.fail_mode["error"] == 1 and p.stats.answers[("fallback", expect)] == 1
        assert len(p.cache) == 0
    run(main())


def test_a_handed_on_allow_is_not_kept_when_a_later_tier_fails_but_a_deny_is():
    async def main():
        soft = TierAnswer("allow", "probably fine", "policy:x", escalate=True)
        hard = TierAnswer("deny", "dangerous", "policy:y", escalate=True)
        policy = StubTier("policy", lambda esc: soft if esc.tool_input["n"] == 0 else hard)
        p = EscalationPipeline([policy, StubTier("experts", RuntimeError("llm down"), kind="expert")])
        out = await call(p, 0)
        assert (out.verdict, out.tier) == ("ask", "fallback") and "experts failed" in out.reason
        out = await call(p, 1)
        assert (out.verdict, out.tier, out.rule_id) == ("deny", "policy", "policy:y")
        assert "experts failed" in out.reason
    run(main())


def test_nothing_decided_a_miss_gets_the_fail_mode_and_a_rule_ask_stands():
    async def main():
        p = EscalationPipeline([StubTier("policy", None)], fail_mode="deny")
        out = await call(p)
        assert (out.verdict, out.tier, out.cause) == ("deny", "fallback", "undecided")
        assert await call(p, 1, why="ask", rule_id="net.curl", rule_reason="downloads") is None
        empty = EscalationPipeline([])
        assert (await call(empty)).cause == "undecided"
    run(main())


def test_rule_asks_with_escalate_false_are_not_escalated():
    async def main():
        policy = StubTier("policy", DENY)
        p = EscalationPipeline([policy], escalate_ask=lambda rule_id, generation: rule_id != "person.only")
        assert await call(p, why="ask", rule_id="person.only") is None
        assert not policy.calls and p.stats.rule_asks_kept == 1
        out = await call(p, why="ask", rule_id="other.ask")
        assert out.verdict == "deny" and policy.calls[0].why == "ask" and policy.calls[0].rule_id == "other.ask"
        assert p.escalates("miss", "", 1) and not p.escalates("ask", "person.only", 1)
    run(main())


class _Allowish(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


GARBAGE = [
    "allow", {"verdict": "allow"}, ("allow", "ok"), True, 1,
    TierAnswer("yes", "sure"), TierAnswer("ALLOW", "sure"), TierAnswer("", ""),
    TierAnswer(None, "x"), TierAnswer("allow", None), TierAnswer("allow", "x", escalate="no"),
    TierAnswer("allow", "x", decided_by=3), TierAnswer("allow", "x", quorum=-1),
    TierAnswer("allow", "x", elapsed_ns=-5), TierAnswer("allow", "x", elapsed_ns=1.5),
    TierAnswer(_Allowish("maybe"), "x"), types.SimpleNamespace(verdict="allow", reason="", decided_by="",
                                                               escalate=False, category="", quorum=0),
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=[repr(g)[:40] for g in GARBAGE])
def test_a_tier_answering_garbage_is_never_an_allow(garbage):
    async def main():
        p = EscalationPipeline([StubTier("policy", garbage)])
        out = await call(p)
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "invalid")
        assert p.stats.outcomes[("policy", "invalid")] == 1 and len(p.cache) == 0
    run(main())


def test_a_tier_that_is_not_async_or_raises_oddly_is_never_an_allow():
    class SyncTier:
        name = "policy"

        def decide(self, esc):
            return ALLOW

    class TimesOutItself:
        name = "policy"

        async def decide(self, esc):
            raise TimeoutError

    class CancelledInside:
        name = "policy"

        async def decide(self, esc):
            raise asyncio.CancelledError

    async def main():
        for tier in (SyncTier(), TimesOutItself(), CancelledInside()):
            out = await call(EscalationPipeline([tier]))
            assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "error")
            assert "policy failed (" in out.reason
    run(main())


def test_check_answer_keeps_a_good_answer_and_cuts_a_long_reason():
    assert check_answer(DENY) == (DENY, None)
    assert check_answer(None) == (None, None)
    answer, problem = check_answer(TierAnswer("deny", "x" * 5000, "policy:x"))
    assert problem is None and answer.verdict == "deny" and len(answer.reason) == 1024


# ------------------------------------------------------------------ circuit breakers

def test_breaker_opens_skips_at_once_probes_half_open_and_closes():
    async def main():
        clock = Clock()
        state = {"answer": RuntimeError("opa down")}
        gate = asyncio.Event()
        gate.set()
        policy = StubTier("policy", lambda esc: state["answer"], gate=gate)
        p = EscalationPipeline([Stage(policy, backend="http://opa:8181")], failure_threshold=2,
                               reset_timeout=10, clock=clock)
        breaker = p.breakers["http://opa:8181"]
        for n in range(2):
            assert (await call(p, n)).cause == "error"
        assert breaker.state == OPEN and breaker.opened_total == 1
        out = await call(p, 2)                          # skipped at once: the tier is not asked
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "circuit_open")
        assert "circuit open for http://opa:8181" in out.reason and len(policy.calls) == 2
        assert p.stats.snapshot()["breakers"]["http://opa:8181"]["state"] == OPEN

        clock.t += 10                                   # half-open: one probe goes through
        state["answer"] = ALLOW
        gate.clear()
        probe = asyncio.ensure_future(call(p, 3))
        await policy.arrived.get()
        await policy.arrived.get()
        await policy.arrived.get()                      # the third arrival is the probe
        assert breaker.state == HALF_OPEN
        other = await call(p, 4)                        # not the probe: still skipped
        assert other.cause == "circuit_open" and len(policy.calls) == 3
        gate.set()
        assert (await probe).verdict == "allow"
        assert breaker.state == CLOSED and breaker.closed_total == 1
        assert (await call(p, 5)).verdict == "allow"
    run(main())


def test_breaker_failed_probe_opens_again():
    clock = Clock()
    b = CircuitBreaker("opa", failure_threshold=1, reset_timeout=5, clock=clock)
    assert b.acquire()
    b.failure()
    assert b.state == OPEN and not b.acquire()
    clock.t += 5
    assert b.acquire() and b.state == HALF_OPEN and not b.acquire()
    b.failure()
    assert b.state == OPEN and b.opened_total == 2 and not b.acquire()
    clock.t += 4.9
    assert not b.acquire()
    clock.t += 0.1
    assert b.acquire()
    b.release()                                     # a probe that ended without a verdict
    assert b.acquire()
    b.success()
    assert b.state == CLOSED and b.acquire()


def test_breaker_counts_consecutive_failures_only():
    b = CircuitBreaker("opa", failure_threshold=3)
    for _ in range(5):
        b.failure()
        b.failure()
        b.success()
    assert b.state == CLOSED


def test_open_breaker_skips_policy_and_asks_the_experts():
    async def main():
        clock = Clock()
        policy = StubTier("policy", RuntimeError("down"))
        expert = StubTier("experts", DENY, kind="expert")
        p = EscalationPipeline([policy, expert], failure_threshold=1, reset_timeout=60, clock=clock)
        await call(p, 0)
        out = await call(p, 1)
        assert out.tier == "expert" and len(policy.calls) == 1
        assert p.stats.outcomes[("policy", "circuit_open")] == 1
    run(main())


# ------------------------------------------------------------------ bounded queue, concurrency

def test_full_queue_gives_the_fail_mode_at_once_and_counts_it():
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=gate)
        p = EscalationPipeline([policy], max_queue=2, max_agent_queue=2, policy_deadline=5)
        held = [asyncio.ensure_future(call(p, n)) for n in range(2)]
        await policy.arrived.get()
        await policy.arrived.get()
        assert p.stats.queue_depth == 2
        out = await call(p, 2)
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "queue_full")
        assert p.stats.queue_rejected == 1 and p.stats.fail_mode["queue_full"] == 1 and len(policy.calls) == 2
        joined = asyncio.ensure_future(call(p, 0))      # joins an evaluation: needs no queue slot
        gate.set()
        assert [o.verdict for o in await asyncio.gather(*held, joined)] == ["deny"] * 3
        assert p.stats.queue_depth == 0 and p.stats.in_flight == 0 and p.stats.queue_peak == 2
    run(main())


def test_one_agent_cannot_take_every_place_in_the_queue():
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=gate)
        p = EscalationPipeline([policy], max_queue=8, policy_deadline=5)
        assert p.max_agent_queue == 2
        flood = [asyncio.ensure_future(call(p, n, agent_id="flooder")) for n in range(2)]
        for _ in range(2):
            await policy.arrived.get()
        out = await call(p, 99, agent_id="flooder")
        assert (out.verdict, out.tier, out.cause) == ("ask", "fallback", "queue_full")
        assert "flooder" in out.reason
        other = asyncio.ensure_future(call(p, 100, agent_id="someone-else"))
        await policy.arrived.get()                      # another agent still gets a place
        gate.set()
        assert [o.verdict for o in await asyncio.gather(*flood, other)] == ["deny"] * 3
        assert p._per_agent == {}
        again = await call(p, 101, agent_id="flooder")  # places come back as evaluations end
        assert again.verdict == "deny" and again.tier == "policy"
    run(main())


def test_a_slow_escalation_does_not_delay_another():
    async def main():
        slow_gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=None)
        policy.gate = None

        async def decide(esc, base=policy.decide):
            if esc.tool_input["n"] == 0:
                await slow_gate.wait()
            return await base(esc)

        policy.decide = decide
        p = EscalationPipeline([policy], policy_deadline=5)
        slow = asyncio.ensure_future(call(p, 0))
        fast = await call(p, 1)
        assert fast.verdict == "deny" and not slow.done()
        slow_gate.set()
        assert (await slow).verdict == "deny"
    run(main())


# ------------------------------------------------------------------ coalescing

def test_concurrent_identical_escalations_share_one_evaluation():
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=gate)
        p = EscalationPipeline([policy], policy_deadline=5)
        waiters = [asyncio.ensure_future(call(p, 7)) for _ in range(20)]
        other_generation = asyncio.ensure_future(call(p, 7, generation=2))
        await policy.arrived.get()
        await policy.arrived.get()
        assert p.stats.in_flight == 21 and p.stats.queue_depth == 2
        gate.set()
        outs = await asyncio.gather(*waiters)
        assert len(policy.calls) == 2                   # one per generation
        assert {(o.verdict, o.tier, o.escalation_id) for o in outs} == {("deny", "policy", outs[0].escalation_id)}
        assert (await other_generation).escalation_id != outs[0].escalation_id
        assert p.stats.coalesced == 19 and p.stats.decided["policy"] == 21
    run(main())


def test_a_waiter_leaving_does_not_stop_the_shared_evaluation_but_the_last_one_does():
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=gate)
        p = EscalationPipeline([policy], policy_deadline=5)
        a = asyncio.ensure_future(call(p))
        b = asyncio.ensure_future(call(p))
        await policy.arrived.get()
        a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a
        gate.set()
        assert (await b).verdict == "deny" and policy.cancelled == 0

        gate.clear()
        c = asyncio.ensure_future(call(p, 1))
        await policy.arrived.get()
        c.cancel()
        with pytest.raises(asyncio.CancelledError):
            await c
        gate.set()
        assert (await call(p, 2)).verdict == "deny"     # a whole escalation later, it has ended
        assert policy.cancelled == 1 and p.stats.queue_depth == 0 and p.breakers["policy"].failures == 0
        assert len(p.cache) == 2                        # calls 0 and 2; the cancelled one is not stored
    run(main())


def test_a_caller_arriving_later_gets_its_own_deadline():
    async def main():
        policy = StubTier("policy", DENY, gate=asyncio.Event())
        p = EscalationPipeline([policy], policy_deadline=5, escalation_deadline=0.05)
        first = asyncio.ensure_future(call(p))
        await policy.arrived.get()
        late = await call(p, started_ns=time.perf_counter_ns() - 10**9)
        assert late.cause == "deadline"
        assert (await first).cause == "deadline"
    run(main())


def test_aclose_gives_the_callers_in_flight_the_fail_mode():
    async def main():
        policy = StubTier("policy", ALLOW, gate=asyncio.Event())
        p = EscalationPipeline([policy], policy_deadline=5)
        waiters = [asyncio.ensure_future(call(p, n)) for n in (0, 0, 1)]
        for _ in range(2):
            await policy.arrived.get()
        await p.aclose()
        outs = await asyncio.gather(*waiters)
        assert {(o.verdict, o.tier, o.cause) for o in outs} == {("ask", "fallback", "error")}
        assert "escalation cancelled" in outs[0].reason and policy.cancelled == 2
        assert p.stats.queue_depth == 0 and p.stats.in_flight == 0
    run(main())


# ------------------------------------------------------------------ the slow-decision cache

def test_slow_decisions_are_cached_per_generation_and_invalidated():
    async def main():
        clock = Clock()
        policy = StubTier("policy", DENY)
        p = EscalationPipeline([policy], cache_ttl=60, clock=clock)
        first = await call(p)
        again = await call(p)
        assert (again.verdict, again.tier, again.rule_id, again.escalation_id) == \
            ("deny", "cache", DENY.decided_by, first.escalation_id)
        assert len(policy.calls) == 1 and p.stats.cache_hits["policy"] == 1
        assert p.stats.hit_ratio("policy") == 0.5

        hit = p.cached("mcp__srv__tool", {"n": 0}, WS, "/home/dev", 1)   # the server's inline lookup
        assert (hit.verdict, hit.tier, hit.rule_id) == ("deny", "policy", DENY.decided_by)
        assert p.cached("mcp__srv__tool", {"n": 0}, WS, "/home/dev", 2) is None

        assert (await call(p, generation=2)).tier == "policy"           # a reload: a miss
        assert len(policy.calls) == 2
        p.invalidate()                                                   # the Rego policy changed
        assert (await call(p, generation=2)).tier == "policy" and len(policy.calls) == 3
        clock.t += 61
        assert (await call(p, generation=2)).tier == "policy" and len(policy.calls) == 4
        assert (await call(p, generation=2, use_cache=False)).tier == "policy"
    run(main())


def test_a_decision_made_for_one_agent_or_session_is_never_anothers():
    """The slow tiers see the agent and session ids (a policy may allow one agent what it
    refuses another): their decisions are cached and coalesced per agent and session."""
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", lambda esc: TierAnswer(
            "allow" if esc.agent_id == "ci-bot" else "deny", "per agent", "policy:x"), gate=gate)
        p = EscalationPipeline([policy], policy_deadline=5)
        both = [asyncio.ensure_future(call(p, 1, agent_id=a, session_id="s")) for a in ("ci-bot", "intruder")]
        gate.set()
        assert [o.verdict for o in await asyncio.gather(*both)] == ["allow", "deny"]
        assert len(policy.calls) == 2 and p.stats.coalesced == 0
        assert (await call(p, 1, agent_id="intruder", session_id="s")).verdict == "deny"
        assert p.cached("mcp__srv__tool", {"n": 1}, WS, "/home/dev", 1, agent_id="intruder",
                        session_id="s").verdict == "deny"
        assert p.cached("mcp__srv__tool", {"n": 1}, WS, "/home/dev", 1, agent_id="ci-bot",
                        session_id="s").verdict == "allow"
        assert p.cached("mcp__srv__tool", {"n": 1}, WS, "/home/dev", 1, agent_id="ci-bot",
                        session_id="other") is None
        # Ids that would run together in a plain concatenation stay apart.
        assert p.cached("mcp__srv__tool", {"n": 1}, WS, "/home/dev", 1, agent_id="ci-bots",
                        session_id="") is None
        again = await call(p, 1, agent_id="ci-bot", session_id="s")
        assert (again.verdict, again.tier) == ("allow", "cache") and len(policy.calls) == 2
    run(main())


def test_a_decision_started_before_an_invalidation_is_not_stored():
    async def main():
        gate = asyncio.Event()
        policy = StubTier("policy", DENY, gate=gate)
        p = EscalationPipeline([policy], policy_deadline=5)
        before = asyncio.ensure_future(call(p))
        await policy.arrived.get()
        p.invalidate()
        after = asyncio.ensure_future(call(p))       # does not join the old evaluation
        await policy.arrived.get()
        gate.set()
        await asyncio.gather(before, after)
        assert p.stats.coalesced == 0 and len(p.cache) == 1
    run(main())


def test_cache_is_bounded_lru_and_expires():
    clock = Clock()
    c = SlowDecisionCache(2, ttl=10, clock=clock)
    d = CachedDecision("deny", "r", "policy:x", "policy", "esc-1")
    c.put(b"a", 1, d)
    c.put(b"b", 1, d)
    assert c.get(b"a", 1) is d                  # a is now the most recent
    c.put(b"c", 1, d)
    assert c.get(b"b", 1) is None and c.get(b"a", 1) is d and len(c) == 2
    clock.t += 11
    assert c.get(b"a", 1) is None
    assert SlowDecisionCache(0).put(b"a", 1, d) is None
    with pytest.raises(ValueError):
        SlowDecisionCache(10, ttl=0)


def test_forget_drops_only_the_entries_of_the_deciders_named():
    """A retired pattern's cached answers go, every other stays (the policy's, an
    expert's, another pattern's); an answer of that pattern whose evaluation began before
    is not stored when it ends, one begun after is; eviction and expiry keep the index
    right; a bad decider is refused; past MAX_FORGOTTEN every entry is forgotten."""
    from lighthouse.escalation import cache as cache_mod
    clock = Clock()
    c = SlowDecisionCache(4, ttl=10, clock=clock)

    def by(rule_id):
        return CachedDecision("allow", "r", rule_id, rule_id.split(":")[0], "esc-1")
    for key, rule_id in ((b"a", "pattern:1"), (b"b", "pattern:1"), (b"c", "pattern:2"), (b"d", "expert:e1")):
        c.put(key, 1, by(rule_id))
    started = c.epoch
    assert c.forget(["pattern:1"]) == 2 and c.forgotten == 2
    assert (c.get(b"a", 1), c.get(b"b", 1)) == (None, None)
    assert c.get(b"c", 1).rule_id == "pattern:2" and c.get(b"d", 1).rule_id == "expert:e1"
    c.put(b"a", 1, by("pattern:1"), started)        # begun before the retirement: not kept
    c.put(b"e", 1, by("policy:x"), started)         # another decider's: kept
    c.put(b"f", 1, by("pattern:2"), started)
    assert c.get(b"a", 1) is None and c.get(b"e", 1) is not None and c.get(b"f", 1) is not None
    c.put(b"a", 1, by("pattern:1"), c.epoch)        # begun after (approved again): kept
    assert c.get(b"a", 1).rule_id == "pattern:1" and len(c) == 4
    assert c.forget([]) == 0 and c.forget(["pattern:9"]) == 0
    # Evicted and overwritten entries leave the index.
    c.put(b"g", 1, by("policy:x"))
    c.put(b"a", 1, by("expert:e1"))
    assert c.forget(["pattern:1", "pattern:2"]) == 1 and len(c) == 3
    assert c.get(b"a", 1).rule_id == "expert:e1" and c._by_decider == {}
    clock.t += 11
    c.put(b"h", 1, by("pattern:3"))
    assert c.get(b"a", 1) is None and c.get(b"h", 1) is not None
    with pytest.raises(ValueError):
        c.forget(["expert:e1"])
    with pytest.raises(ValueError):
        c.forget([None])
    # invalidate() still forgets every entry, and what was begun before it.
    before = c.epoch
    c.invalidate()
    c.put(b"x", 1, by("policy:x"), before)
    assert len(c) == 0
    many = SlowDecisionCache(8, ttl=10, clock=clock)
    many.put(b"k", 1, by("policy:x"))
    many.forget(["pattern:%d" % i for i in range(cache_mod.MAX_FORGOTTEN)])
    assert len(many) == 1 and many.invalidations == 0
    assert many.forget(["pattern:x"]) == 1 and len(many) == 0 and many.invalidations == 1


# ------------------------------------------------------------------ metrics and the adapter

def test_stats_render_as_prometheus_families_and_merge():
    async def main():
        p = EscalationPipeline([Stage(StubTier("policy", DENY), backend="http://opa")])
        await call(p)
        await call(p)
        return p.stats.snapshot()
    snap = run(main())
    merged = merge_snapshots([snap, snap])
    assert merged["answers"]["policy|deny"] == 2 and merged["cache_hits"]["policy"] == 2
    assert sum(merged["decision_time"]["policy"]["counts"]) == 2
    fams = {f.name: f for f in families(merged, durations=True)}
    assert {"lighthouse_escalations", "lighthouse_escalation_fail_mode", "lighthouse_circuit_state",
            "lighthouse_escalation_cache_hit_ratio", "lighthouse_escalation_queue_depth",
            "lighthouse_escalations_in_flight", "lighthouse_escalation_duration_seconds"} <= set(fams)
    ratio = {s.labels["tier"]: s.value for s in fams["lighthouse_escalation_cache_hit_ratio"].samples}
    assert ratio["policy"] == 0.5
    states = {s.labels["backend"]: s.value for s in fams["lighthouse_circuit_state"].samples}
    assert states == {"http://opa": CLOSED}


def test_overhead_is_the_time_beyond_the_tiers_own():
    """A tier that reports its backend's time leaves its own plumbing in the overhead; a
    tier that does not counts whole. A coalesced caller adds no second figure."""
    async def main():
        gate = asyncio.Event()
        slow = StubTier("policy", TierAnswer("deny", "no", "policy:x", elapsed_ns=1_000_000), gate=gate)
        p = EscalationPipeline([slow], policy_deadline=5)
        first = asyncio.ensure_future(call(p, 1))
        second = asyncio.ensure_future(call(p, 1))          # coalesces
        await slow.arrived.get()
        await asyncio.sleep(0.05)                           # the tier takes ~50 ms of wall time
        gate.set()
        await asyncio.gather(first, second)
        h = p.stats.overhead
        assert sum(h.counts) == 1
        # 50 ms inside the tier, 1 ms of it the backend's: ~49 ms of tier plumbing is overhead.
        assert 40_000_000 <= h.sum_ns <= 5_000_000_000
        q = EscalationPipeline([StubTier("policy", DENY)])
        await call(q, 2)
        assert sum(q.stats.overhead.counts) == 1 and q.stats.overhead.sum_ns < 1_000_000_000     # loaded machines stall
        cached = await call(q, 2)                           # from the cache: no tier, no overhead figure
        assert cached.tier == "cache" and sum(q.stats.overhead.counts) == 1
    run(main())


def test_the_servers_metrics_add_up_the_workers_escalation_counters():
    async def main():
        p = EscalationPipeline([Stage(StubTier("policy", DENY), backend="regorus")])
        await call(p)
        await call(p)
        return p
    pipeline = run(main())
    workers = []
    for k in range(2):
        st = Stats(worker=k, workers=2)
        st.escalation = pipeline.stats
        st.decision_time.update(pipeline.stats.decision_time)
        workers.append(st.snapshot())
    merged = server_merge(workers)
    assert merged["escalation"]["answers"]["policy|deny"] == 2
    fams = {f.name: f for f in StatsCollector(lambda: merged).collect()}
    escalations = {tuple(sorted(s.labels.items())): s.value for s in fams["lighthouse_escalations"].samples}
    assert escalations[(("outcome", "deny"), ("tier", "policy"))] == 2
    durations = {s.labels["operation"]: s.value for s in fams["lighthouse_decision_duration_seconds"].samples
                 if s.name.endswith("_count")}
    assert durations["policy"] == 2 and durations["expert_escalation"] == 0
    ratio = {s.labels["tier"]: s.value for s in fams["lighthouse_tier_hit_ratio"].samples}
    assert ratio["policy"] == 0.5 and "memory" in ratio
    # A server without slow tiers exports none of their families.
    plain = {f.name for f in StatsCollector(lambda: server_merge([Stats().snapshot()])).collect()}
    assert "lighthouse_escalations" not in plain and "lighthouse_tier_hit_ratio" in plain


def _pending(tool="mcp__srv__tool", verdict="miss", v=2, rule_id="", reason="", generation=1):
    return types.SimpleNamespace(request_id="r1", agent_id="a", session_id="s", tool=tool,
                                 tool_input={"q": 1}, cwd=WS, home="", verdict=verdict, rule_id=rule_id,
                                 reason=reason, generation=generation, v=v, tier=5, reason_out=reason,
                                 started_ns=time.perf_counter_ns(), slow_key=None)


def test_escalator_adapts_a_pending_to_an_escalation_result():
    async def main():
        policy = StubTier("policy", DENY)
        escalate = EscalationPipeline([policy]).escalator()
        r = await escalate(_pending())
        assert isinstance(r, EscalationResult)
        assert (r.verdict, r.tier, r.rule_id, r.reason) == ("deny", "policy", DENY.decided_by, DENY.reason)
        assert policy.calls[0].agent_id == "a" and policy.calls[0].session_id == "s"
        failing = EscalationPipeline([StubTier("policy", RuntimeError("x"))]).escalator()
        r = await failing(_pending(v=3))                 # the call's own fallback is deny
        assert (r.verdict, r.tier) == ("deny", "fallback")
        r = await failing(_pending(verdict="ask", rule_id="net.fetch", reason="fetches a URL"))
        assert (r.verdict, r.tier, r.rule_id) == ("ask", "fallback", "net.fetch")
        assert r.reason.startswith("fetches a URL; escalation: policy failed")
    run(main())


def test_the_deciders_pending_carries_the_key_the_pipeline_looked_up_and_decides_under():
    """The Decider's slow-cache lookup computes the call's key once; the Pending carries it
    to the pipeline, which caches and coalesces under it without computing it again."""
    async def main():
        policy = StubTier("policy", DENY)
        p = EscalationPipeline([policy])
        decider = Decider(Validator(raw=True), escalator=p.escalator(use_cache=False))
        decider.slow_cache = p.lookup
        call = types.SimpleNamespace(request_id="r", agent_id="a", session_id="s", tool="mcp__srv__tool",
                                     input_json='{"q": 1}', cwd=WS, home="", fallback=0)
        pending = decider.decide(call)
        assert isinstance(pending, Pending)
        hit, key = p.lookup("mcp__srv__tool", {"q": 1}, WS, "", pending.generation, agent_id="a", session_id="s")
        assert hit is None and pending.slow_key == key and key
        pending.slow_key = b"the key the server computed"
        assert Decision.FromString(await decider.settle(pending)).verdict == 3
        assert p.cache.get(b"the key the server computed", pending.generation).verdict == "deny"
        assert p.cache.get(key, pending.generation) is None
        again = decider.decide(call)                    # a different key: asked again, under its own
        assert again.slow_key == key
        await decider.settle(again)
        assert len(policy.calls) == 2 and p.cache.get(key, pending.generation).verdict == "deny"
        assert decider.decide(call).__class__ is bytes  # now a tier-0 hit of the slow cache
    run(main())


# ------------------------------------------------------------------ through a real server

class GatedPolicy:
    """A policy tier on the server's loop that holds every call until the test releases
    it; ``entered`` (a threading.Event) is set once ``expect`` calls are held."""

    name = "policy"

    def __init__(self, expect):
        self.expect = expect
        self.calls = 0
        self.release = None
        self.entered = threading.Event()

    async def decide(self, esc):
        if self.release is None:
            self.release = asyncio.Event()
        self.calls += 1
        if self.calls >= self.expect:
            self.entered.set()
        await self.release.wait()
        return TierAnswer("deny", "policy says no: %s" % esc.tool, "policy:data.lighthouse.decision")


def test_server_with_the_pipeline_answers_fast_calls_first(rules_dir):
    tier = GatedPolicy(expect=3)
    pipeline = EscalationPipeline([tier], policy_deadline=20, escalation_deadline=20)
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, rate_limit=0)
    with ServerThread(config, validator=Validator([rules_dir], raw=True), escalator=pipeline.escalator()) as s:
        s.server.decider.escalation_timeout = 30
        with Client(s.address, timeout=20) as c, c.stream() as st:
            slow = [st.submit("mcp__srv__tool", {"n": n}, cwd=WS, request_id="slow-%d" % n) for n in range(3)]
            twin = st.submit("mcp__srv__tool", {"n": 0}, cwd=WS, request_id="slow-0-again")
            fast = [st.submit("Bash", {"command": "ls"}, cwd=WS, request_id="fast-1"),
                    st.submit("Bash", {"command": "frobnicate --now"}, cwd=WS, request_id="fast-2")]
            assert [f.result(10).verdict for f in fast] == ["allow", "deny"]
            assert tier.entered.wait(10)
            assert not any(f.done() for f in slow + [twin])      # held by the policy tier
            s.loop.call_soon_threadsafe(tier.release.set)
            answers = [f.result(10) for f in slow]
            assert {(a.verdict, a.tier, a.rule_id) for a in answers} == \
                {("deny", "policy", "policy:data.lighthouse.decision")}
            assert all(a.escalation_id.startswith("esc-") for a in answers)
            assert twin.result(10).verdict == "deny"
            again = st.validate("mcp__srv__tool", {"n": 1}, cwd=WS)   # a repeat: from the cache
            assert (again.verdict, again.tier, again.escalation_id) == ("deny", "cache", answers[1].escalation_id)
        assert tier.calls == 3
