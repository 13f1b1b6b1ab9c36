"""The expert tier (lighthouse.experts): expert agents connected over real ExpertHub gRPC
streams to a real server on a loopback port, the SDK (reconnects, withdrawals), the tier's
routing, quorum, combination, confidence threshold, deny overrides and per-expert
breakers, reuse of reusable answers and its invalidation on reload, token roles, the
session history, and the expert metrics.

Simulated experts (lighthouse.experts.sim) stand in for programs and people; the
escalations are real (a miss of the shipped rule packs: an unknown program). Waits are
on events the test can see (an expert holding an escalation, a connection), with
generous timeouts; the only clock-bound waits are the escalation deadlines under test."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import grpc
import pytest

from lighthouse.escalation import EscalationPipeline, Escalation, Stage, TierAnswer, TierUndecided
from lighthouse.escalation.tiers import check_answer
from lighthouse.experts import ExpertAnswer, ExpertError, ExpertRequest
from lighthouse.experts.agent import ExpertAgent, ExpertRefused, answer_message, to_request
from lighthouse.experts.history import SessionHistory, summarize
from lighthouse.experts.hub import AgentExpert, ExpertRegistry, escalation_message, peer_is_local
from lighthouse.experts.sim import Latency, SimulatedExpert
from lighthouse.experts.tier import ExpertTier
from lighthouse.policy.input import RuleFacts, build_input
from lighthouse.server.app import ServerConfig
from lighthouse.server.config import ANY_PORT
from lighthouse.server.auth import TokenStore, add_token
from lighthouse.v1 import experts_pb2 as epb
from lighthouse.v1 import validation_pb2 as pb
from lighthouse.v1 import validation_pb2_grpc

from serverkit import WS, ServerThread, run_async, sample, scrape, tool_call

MISS = "zzfrobnicate --now"          # no rule of the shipped packs knows this program
ASK_RULE = '[[rule]]\nid = "test.askme"\nverdict = "ask"\nreason = "a person or an expert decides"\nprogram = "askme"\n'


class LoopThread:
    """An event loop in a daemon thread, for expert agents beside a synchronous client.
    A test using one runs all its asyncio gRPC clients on it (``run``): gRPC's asyncio
    poller serves the loops of a process together, and a second client loop closing
    while this one runs makes it log errors."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.errors = []
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(ctx))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # gRPC's asyncio stack is one process-wide poller whose socket every loop using
        # it reads, counted by its live channels and servers: the last one freed shuts it
        # down and closes that socket, from whatever thread frees it. Freed on another
        # thread (a test server's, or the collector's) while this loop runs, the socket
        # closes under this loop's reader: OSError(9) in grpc's callback here (the shape
        # of grpc/grpc#40136). This channel, opened on this loop and never connected,
        # keeps the poller up while the loop runs; it is freed after the loop is closed
        # (close()), when no reader of this loop is left to race.
        self._holder = self.run(self._open_holder())

    @staticmethod
    async def _open_holder():
        return grpc.aio.insecure_channel("127.0.0.1:9")

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self):
        async def drain():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._holder.close()
        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self._holder = None         # may shut gRPC's poller down: this loop no longer reads it


def wait_for(pred, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for %s" % what)


def hub_config(tmp_path, **kw):
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "ask.toml").write_text(ASK_RULE)
    kw.setdefault("escalation_deadline", 10.0)
    return ServerConfig(port=0, metrics_port=kw.pop("metrics_port", 0), local_socket=False, experts_hub=True,
                        rules=(str(rules),), **kw)


def connect(loop, server, sim, expert_id=None, **kw):
    """An ExpertAgent judging with ``sim``, connected (welcomed) to ``server``."""
    agent = ExpertAgent(sim, server.address, expert_id=expert_id or sim.name, backoff=(0.05, 0.5), **kw)
    agent.task = loop.spawn(agent.run())
    wait_for(lambda: agent.connections > 0 or agent.task.done(), what="expert %s to connect" % agent.expert_id)
    if agent.task.done():
        agent.task.result()
    return agent


def disconnect(loop, agent):
    loop.loop.call_soon_threadsafe(agent.stop)
    agent.task.result(10)


def registered(server, name):
    reg = server.server.experts
    return reg is not None and reg.get(name) is not None


# ------------------------------------------------------------------ over real streams


def test_a_connected_expert_decides_a_miss_with_the_calls_context(tmp_path, loop, stub_of):
    sim = SimulatedExpert("e1", "allow", "0.01")
    with ServerThread(hub_config(tmp_path)) as server:
        connect(loop, server, sim)
        stub = stub_of(server)
        # Earlier calls of the same session: the expert sees them as history.
        for cmd in ("ls -la", "git status"):
            d = stub.Validate(tool_call("Bash", cmd, session_id="sess-1"), timeout=30)
            assert d.tier in (pb.TIER_RULES, pb.TIER_CACHE)
        d = stub.Validate(tool_call("Bash", MISS, session_id="sess-1", agent_id="agent-7"), timeout=30)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_ALLOW, pb.TIER_EXPERT, "expert:e1")
        assert d.escalation_id and "e1: allow" in d.reason
        req = sim.seen[-1]
        assert req.escalation_id == d.escalation_id and req.tool == "Bash"
        assert req.tool_input == {"command": MISS} and req.agent_id == "agent-7" and req.why == "miss"
        assert req.analysis["commands"][0]["program"] == "zzfrobnicate"
        assert req.policy is None and req.quorum == 1 and req.category == ""
        assert [h["summary"] for h in req.history] == ["ls -la", "git status"]
        assert all(h["verdict"] == "allow" for h in req.history)
        # A non-reusable answer is not cached: the repeat is escalated again.
        d2 = stub.Validate(tool_call("Bash", MISS, session_id="sess-1"), timeout=30)
        assert d2.tier == pb.TIER_EXPERT and sim.calls == 2
        assert [h["summary"] for h in sim.seen[-1].history][-1] == MISS


def test_rule_asks_escalate_only_while_an_expert_is_connected(tmp_path, loop, stub_of):
    sim = SimulatedExpert("e1", "deny", "0")
    with ServerThread(hub_config(tmp_path)) as server:
        stub = stub_of(server)
        d = stub.Validate(tool_call("Bash", "askme now"), timeout=30)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_ASK, pb.TIER_RULES, "test.askme")
        connect(loop, server, sim)
        d = stub.Validate(tool_call("Bash", "askme now"), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_EXPERT)
        assert sim.seen[-1].why == "ask" and sim.seen[-1].rule_id == "test.askme"


def test_disconnect_mid_escalation_is_reassigned_to_another_expert(tmp_path, loop, stub_of):
    stuck = SimulatedExpert("a-stuck", "allow", "60")
    good = SimulatedExpert("b-good", "deny", "0")
    with ServerThread(hub_config(tmp_path)) as server:
        a = connect(loop, server, stuck)
        connect(loop, server, good)
        fut = stub_of(server).Validate.future(tool_call("Bash", MISS), timeout=30)
        wait_for(lambda: stuck.calls == 1, what="the first expert to hold the escalation")
        disconnect(loop, a)
        d = fut.result()
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:b-good")
        stats = server.server.experts.stats
        assert stats.escalations[("a-stuck", "disconnected")] == 1 and stats.rerouted == 1


def test_the_only_expert_disconnecting_leaves_the_call_to_the_fail_mode_at_the_deadline(tmp_path, loop, stub_of):
    stuck = SimulatedExpert("only", "allow", "60")
    with ServerThread(hub_config(tmp_path, escalation_deadline=2.0)) as server:
        a = connect(loop, server, stuck)
        t0 = time.monotonic()
        fut = stub_of(server).Validate.future(tool_call("Bash", MISS), timeout=30)
        wait_for(lambda: stuck.calls == 1, what="the expert to hold the escalation")
        disconnect(loop, a)
        d = fut.result()
        assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK)
        # The tier's own wait ends just before the pipeline's deadline; on a busy loop
        # the pipeline's may come first: either way the reason names the deadline.
        assert time.monotonic() - t0 >= 1.5 and "deadline" in d.reason


def test_an_expert_that_reconnects_gets_the_escalation_again(tmp_path, loop, stub_of):
    stuck = SimulatedExpert("same", "allow", "60")
    fixed = SimulatedExpert("same", "deny", "0")
    with ServerThread(hub_config(tmp_path)) as server:
        a = connect(loop, server, stuck)
        fut = stub_of(server).Validate.future(tool_call("Bash", MISS), timeout=30)
        wait_for(lambda: stuck.calls == 1, what="the expert to hold the escalation")
        disconnect(loop, a)
        wait_for(lambda: not registered(server, "same"), what="the server to see the disconnect")
        connect(loop, server, fixed)
        d = fut.result()
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:same")
        assert fixed.calls == 1 and fixed.seen[0].escalation_id == stuck.seen[0].escalation_id


def test_a_slow_expert_past_the_deadline_is_withdrawn_and_the_fail_mode_answers(tmp_path, loop, stub_of):
    slow = SimulatedExpert("slow", "allow", "30")
    with ServerThread(hub_config(tmp_path, escalation_deadline=1.5, fallback="deny")) as server:
        agent = connect(loop, server, slow)
        d = stub_of(server).Validate(tool_call("Bash", MISS), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_FALLBACK)
        wait_for(lambda: agent.withdrawn == 1, what="the withdrawal to reach the expert")
        assert server.server.experts.stats.escalations[("slow", "timeout")] == 1


def test_a_second_stream_with_the_same_id_replaces_the_first(tmp_path, loop):
    with ServerThread(hub_config(tmp_path)) as server:
        first = connect(loop, server, SimulatedExpert("dup", "allow"))
        connect(loop, server, SimulatedExpert("dup", "deny"))
        assert server.server.experts.stats.connections["replaced"] == 1
        # The replaced agent's stream ended with ABORTED: it stops rather than take the
        # id back (two experts sharing an id would replace each other forever).
        with pytest.raises(ExpertRefused) as refused:
            first.task.result(20)
        assert refused.value.code == grpc.StatusCode.ABORTED
        assert registered(server, "dup") and first.connections == 1


class RawExpert:
    """An expert speaking the protocol by hand over a raw stream (bytes in and out), to
    send what the SDK never would."""

    def __init__(self, address, metadata=None):
        self.channel = grpc.aio.insecure_channel(address)
        self.call = self.channel.stream_stream(
            "/lighthouse.v1.ExpertHub/Serve", request_serializer=lambda b: b,
            response_deserializer=epb.Escalation.FromString)(metadata=metadata)

    async def send(self, **kind):
        await self.call.write(epb.ExpertMessage(**kind).SerializeToString())

    async def next(self, kind):
        while True:
            msg = await asyncio.wait_for(self.call.read(), 20)
            assert msg is not grpc.aio.EOF, "stream ended"
            if msg.WhichOneof("kind") == kind:
                return getattr(msg, kind)

    async def close(self):
        self.call.cancel()
        await self.channel.close()


def test_stray_answers_are_counted_and_ignored_never_an_allow(tmp_path, stub_of):
    with ServerThread(hub_config(tmp_path, escalation_deadline=3.0)) as server:
        stub = stub_of(server)

        async def scenario():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="raw", max_concurrent=2))
            await raw.next("welcome")
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, lambda: stub.Validate(tool_call("Bash", MISS), timeout=30))
            call = await raw.next("call")
            assert call.tool == "Bash" and json.loads(call.input_json) == {"command": MISS}
            assert json.loads(call.analysis_json)["commands"][0]["program"] == "zzfrobnicate"
            assert 0 < call.deadline_ms <= 3000
            await raw.send(answer=epb.ExpertAnswer(escalation_id="esc-made-up", verdict=pb.VERDICT_ALLOW))
            assert (await raw.next("rejected")).cause == "unknown"
            await raw.call.write(b"\xff\xff\xff garbage")
            await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=7))
            assert (await raw.next("rejected")).cause == "invalid"
            # The invalid answer failed this expert: no other expert, so the call waits
            # for one until the deadline and gets the fail mode; the late answer is refused.
            d = await fut
            await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=pb.VERDICT_ALLOW))
            late = await raw.next("rejected")
            await raw.close()
            return d, late

        d, late = run_async(scenario(), timeout=60)
        assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK)
        assert late.cause in ("late", "duplicate")
        rejected = server.server.experts.stats.rejected
        assert rejected["unknown"] == 1 and rejected["garbage"] == 1 and rejected["invalid"] == 1
        assert rejected["late"] + rejected["duplicate"] == 1


def test_answer_after_the_deadline_and_duplicate_answer_are_refused(tmp_path, stub_of):
    with ServerThread(hub_config(tmp_path, escalation_deadline=1.0)) as server:
        stub = stub_of(server)

        async def scenario():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="raw"))
            await raw.next("welcome")
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(None, lambda: stub.Validate(tool_call("Bash", MISS), timeout=30))
            call = await raw.next("call")
            withdrawn = await raw.next("withdrawn")
            assert withdrawn.escalation_id == call.escalation_id and withdrawn.reason == "deadline"
            await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=pb.VERDICT_ALLOW))
            late = await raw.next("rejected")
            d1 = await fut
            # Answered in time, then again: the second answer is a duplicate.
            fut = loop.run_in_executor(None, lambda: stub.Validate(tool_call("Bash", MISS + " 2"), timeout=30))
            call = await raw.next("call")
            for v in (pb.VERDICT_DENY, pb.VERDICT_ALLOW):
                await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=v))
            dup = await raw.next("rejected")
            d2 = await fut
            await raw.close()
            return late, d1, dup, d2

        late, d1, dup, d2 = run_async(scenario(), timeout=60)
        assert late.cause == "late" and dup.cause == "duplicate"
        assert (d1.verdict, d1.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK)
        assert (d2.verdict, d2.tier) == (pb.VERDICT_DENY, pb.TIER_EXPERT)


def test_bad_hellos_are_refused_naming_the_field(tmp_path):
    with ServerThread(hub_config(tmp_path)) as server:
        async def first_message(**kind):
            raw = RawExpert(server.address)
            await raw.send(**kind)
            try:
                await raw.call.read()
            except grpc.aio.AioRpcError:
                pass
            code, details = await raw.call.code(), await raw.call.details()
            await raw.close()
            return code, details

        code, details = run_async(first_message(heartbeat=epb.Heartbeat()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "ExpertHello" in details
        code, details = run_async(first_message(hello=epb.ExpertHello(expert_id="bad id!")))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "expert_id" in details
        code, details = run_async(first_message(hello=epb.ExpertHello(expert_id="x", tools=["a b"])))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "hello.tools" in details
        code, details = run_async(first_message(hello=epb.ExpertHello(expert_id="x", tools=["*"] * 65)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "at most" in details
        assert server.server.experts.stats.connections["refused_hello"] == 4


def test_a_silent_expert_is_dropped_at_the_heartbeat_timeout(tmp_path):
    config = hub_config(tmp_path, expert_heartbeat=0.2, expert_heartbeat_timeout=1.0)
    with ServerThread(config) as server:
        async def silent():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="mute"))
            welcome = await raw.next("welcome")
            await raw.next("heartbeat")                 # the server's
            try:
                while True:
                    await asyncio.wait_for(raw.call.read(), 10)
            except grpc.aio.AioRpcError as e:
                code = e.code()
            await raw.close()
            return welcome, code

        welcome, code = run_async(silent(), timeout=30)
        assert welcome.heartbeat_timeout_ms == 1000 and code == grpc.StatusCode.UNAVAILABLE
        assert server.server.experts.stats.connections["dropped_heartbeat"] == 1
        assert not registered(server, "mute")


def test_an_expert_that_keeps_sending_outlives_the_heartbeat_timeout(tmp_path, stub_of):
    # The liveness check counts from the last message read: heartbeats every 0.3 s keep a
    # stream with a timeout of 1 s open for 2.5 s, and it still takes an escalation.
    config = hub_config(tmp_path, expert_heartbeat=0.2, expert_heartbeat_timeout=1.0)
    with ServerThread(config) as server:
        stub = stub_of(server)

        async def chatty():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="chatty"))
            await raw.next("welcome")
            for _ in range(8):
                await asyncio.sleep(0.3)
                await raw.send(heartbeat=epb.Heartbeat())
            fut = asyncio.get_running_loop().run_in_executor(
                None, lambda: stub.Validate(tool_call("Bash", MISS), timeout=30))
            call = await raw.next("call")
            await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=pb.VERDICT_DENY))
            d = await fut
            await raw.close()
            return d

        d = run_async(chatty(), timeout=60)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:chatty")
        assert server.server.experts.stats.connections["dropped_heartbeat"] == 0


def test_routing_by_tool_glob_in_the_server(tmp_path, loop, stub_of):
    bash = SimulatedExpert("bash-expert", "deny", "0")
    mcp = SimulatedExpert("mcp-expert", "allow", "0")
    with ServerThread(hub_config(tmp_path)) as server:
        connect(loop, server, bash, tools=["Bash"])
        connect(loop, server, mcp, tools=["mcp__*"])
        stub = stub_of(server)
        d = stub.Validate(tool_call("Bash", MISS), timeout=30)
        assert d.rule_id == "expert:bash-expert"
        d = stub.Validate(tool_call("mcp__files__zap", {"x": 1}), timeout=30)
        assert d.rule_id == "expert:mcp-expert" and d.verdict == pb.VERDICT_ALLOW
        # Nobody serves this tool: the fail mode, at once.
        t0 = time.monotonic()
        d = stub.Validate(tool_call("CustomTool", {"x": 1}), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK) and "no expert serves" in d.reason
        assert time.monotonic() - t0 < 5


def test_reusable_answers_are_cached_until_a_reload(tmp_path, loop, stub_of):
    sim = SimulatedExpert("reuse", "allow", "0", reusable=True)
    with ServerThread(hub_config(tmp_path)) as server:
        connect(loop, server, sim)
        stub = stub_of(server)
        d1 = stub.Validate(tool_call("Bash", MISS), timeout=30)
        d2 = stub.Validate(tool_call("Bash", MISS), timeout=30)
        assert (d1.tier, d2.tier) == (pb.TIER_EXPERT, pb.TIER_CACHE) and sim.calls == 1
        assert d2.rule_id == "expert:reuse" and d2.verdict == pb.VERDICT_ALLOW
        server.run(server.server.reload("test"))
        d3 = stub.Validate(tool_call("Bash", MISS), timeout=30)
        assert d3.tier == pb.TIER_EXPERT and sim.calls == 2


def test_token_roles_on_the_hub_and_the_validator(tmp_path, loop, stub_of):
    path = tmp_path / "tokens"
    agent = add_token(path, "agent-1")
    expert = add_token(path, "expert-1", expert=True)
    both = add_token(path, "both-1", expert=True, agent=True)
    # A file written before roles existed: its lines are agent tokens.
    old = "lh_old_token_0123456789"
    with open(path, "a") as fh:
        from lighthouse.server.auth import hash_token
        fh.write("old-admin %s admin\n" % hash_token(old))
    store = TokenStore(path)
    roles = {i.agent_id: i.roles for _, i in store.items()}
    assert roles == {"agent-1": ("agent",), "expert-1": ("expert",), "both-1": ("agent", "expert"),
                     "old-admin": ("agent", "admin")}
    config = hub_config(tmp_path, tokens=str(path))
    config.experts_hub = None               # automatic: on, since the file has an expert token
    with ServerThread(config) as server:
        assert server.server.hub is not None

        def hub_code(token, expert_id="", hello=True):
            """The stream's status; without ``hello`` nothing is written (the server
            refuses the token before reading, and a write racing the refusal may fail
            with a status of its own)."""
            async def go():
                md = (("authorization", "Bearer " + token),) if token else None
                raw = RawExpert(server.address, md)
                try:
                    if hello:
                        await raw.send(hello=epb.ExpertHello(expert_id=expert_id))
                    msg = await raw.call.read()
                    code = grpc.StatusCode.OK if msg.WhichOneof("kind") == "welcome" else None
                except grpc.aio.AioRpcError as e:
                    code = e.code()
                await raw.close()
                return code
            return loop.run(go())

        assert hub_code(None, hello=False) == grpc.StatusCode.UNAUTHENTICATED
        assert hub_code(agent, hello=False) == grpc.StatusCode.PERMISSION_DENIED
        assert hub_code(old, hello=False) == grpc.StatusCode.PERMISSION_DENIED
        assert hub_code(expert, "someone-else") == grpc.StatusCode.PERMISSION_DENIED
        assert hub_code(expert) == grpc.StatusCode.OK
        assert hub_code(both, "both-1") == grpc.StatusCode.OK
        stub = stub_of(server)
        with pytest.raises(grpc.RpcError) as e:
            stub.Validate(tool_call("Bash", "ls"), metadata=(("authorization", "Bearer " + expert),), timeout=30)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED and "agent role" in e.value.details()
        for token in (agent, old, both):
            d = stub.Validate(tool_call("Bash", "ls"), metadata=(("authorization", "Bearer " + token),), timeout=30)
            assert d.verdict == pb.VERDICT_ALLOW
        # The SDK with the expert token decides a call; a revoked token ends its stream.
        sim = SimulatedExpert("expert-1", "deny", "0")
        a = connect(loop, server, sim, token=expert)
        d = stub.Validate(tool_call("Bash", MISS), metadata=(("authorization", "Bearer " + agent),), timeout=30)
        assert (d.verdict, d.rule_id) == (pb.VERDICT_DENY, "expert:expert-1")
        from lighthouse.server.auth import revoke_tokens
        revoke_tokens(path, agent_id="expert-1")
        server.run(server.server.reload("test"))
        with pytest.raises(ExpertRefused) as refused:
            a.task.result(20)
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_without_tokens_the_hub_admits_loopback_peers_only():
    assert peer_is_local("ipv4:127.0.0.1:5555") and peer_is_local("ipv6:[::1]:5555")
    assert peer_is_local("unix:/tmp/x.sock") and peer_is_local("ipv6:[::ffff:127.0.0.1]:1")
    assert not peer_is_local("ipv4:10.0.0.2:5555") and not peer_is_local("ipv6:[fe80::1]:5555")
    assert not peer_is_local("") and not peer_is_local("ipv4:128.0.0.1:1")


def test_expert_metrics_on_the_metrics_endpoint(tmp_path, loop, stub_of):
    sim = SimulatedExpert("m1", "deny", "0.05")
    with ServerThread(hub_config(tmp_path, metrics_port=ANY_PORT)) as server:
        connect(loop, server, sim)
        stub_of(server).Validate(tool_call("Bash", MISS), timeout=30)
        s = scrape(server.server.metrics_port)
        assert sample(s, "lighthouse_experts_connected") == 1
        assert sample(s, "lighthouse_expert_escalations_total", expert="m1", outcome="deny") == 1
        assert sample(s, "lighthouse_expert_answer_seconds_count", expert="m1") == 1
        assert sample(s, "lighthouse_expert_quorum_total", quorum="1", outcome="reached") == 1
        assert sample(s, "lighthouse_expert_connections_total", outcome="accepted") == 1
        assert sample(s, "lighthouse_escalation_answers_total", tier="expert", verdict="deny") == 1


SPANS = ("admit", "route", "encode", "write", "stream", "expert", "wake", "vote", "resolve")


def span_sum(s, span):
    return sample(s, "lighthouse_escalation_span_seconds_sum", span=span)


def test_escalation_spans_on_the_metrics_endpoint(tmp_path, loop, stub_of):
    # One escalation to one connected expert that sleeps 0.3 s: each span once, the
    # expert's own time (the SDK's, read to answer written) at least its sleep, and the
    # spans between asking it and seeing its answer within the answer time the server saw.
    sim = SimulatedExpert("s1", "deny", "0.3")
    with ServerThread(hub_config(tmp_path, metrics_port=ANY_PORT)) as server:
        connect(loop, server, sim)
        d = stub_of(server).Validate(tool_call("Bash", MISS), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_EXPERT)
        s = scrape(server.server.metrics_port)
    for span in SPANS:
        assert sample(s, "lighthouse_escalation_span_seconds_count", span=span) == 1, span
        assert span_sum(s, span) >= 0, span
    assert sample(s, "lighthouse_escalation_span_seconds_count", span="pattern") == 0
    answer = sample(s, "lighthouse_expert_answer_seconds_sum", expert="s1")
    seen = sum(span_sum(s, x) for x in ("encode", "write", "stream", "expert", "wake"))
    assert 0.3 <= span_sum(s, "expert") < seen <= answer + 1e-6
    assert d.decision_ns / 1e9 >= span_sum(s, "admit") + answer


def test_a_quorum_of_connected_experts_gets_one_escalation_each_with_its_own_deadline(tmp_path, loop, stub_of):
    # The experts of a quorum are sent the same message (encoded once): each gets the
    # whole call and a deadline of its own, and the vote names the three of them.
    sims = [SimulatedExpert("q%d" % i, "ask", "0.05") for i in range(3)]
    with ServerThread(hub_config(tmp_path, escalation_deadline=8.0)) as server:
        for sim in sims:
            connect(loop, server, sim)
        server.server._expert_tier.default_quorum = 3
        d = stub_of(server).Validate(tool_call("Bash", MISS, session_id="s"), timeout=30)
        d2 = stub_of(server).Validate(tool_call("Bash", MISS + " again", session_id="s"), timeout=30)
    assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_EXPERT)
    assert sorted(d.rule_id[len("expert:"):].split("+")) == ["q0", "q1", "q2"]
    first = [sim.seen[0] for sim in sims]
    assert len({r.escalation_id for r in first}) == 1 and first[0].escalation_id == d.escalation_id
    assert all(r.tool_input == {"command": MISS} and r.analysis == first[0].analysis for r in first)
    assert all(0 < r.deadline_ms <= 8000 for r in first)
    second = [sim.seen[1] for sim in sims]
    assert {r.escalation_id for r in second} == {d2.escalation_id} and d2.escalation_id != d.escalation_id
    assert all(r.tool_input == {"command": MISS + " again"} and len(r.history) == 1 for r in second)


def test_an_expert_claiming_more_time_than_the_round_trip_is_cut_to_it(tmp_path, stub_of):
    # ExpertAnswer.elapsed_us is the expert's word: the spans take it within what the
    # server saw, and it decides nothing.
    with ServerThread(hub_config(tmp_path, metrics_port=ANY_PORT)) as server:
        stub = stub_of(server)

        async def scenario():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="braggart"))
            await raw.next("welcome")
            fut = asyncio.get_running_loop().run_in_executor(
                None, lambda: stub.Validate(tool_call("Bash", MISS), timeout=30))
            call = await raw.next("call")
            await raw.send(answer=epb.ExpertAnswer(escalation_id=call.escalation_id, verdict=pb.VERDICT_ASK,
                                                   reason="took ages", elapsed_us=2 ** 64 - 1))
            d = await fut
            await raw.close()
            return d

        d = run_async(scenario(), timeout=60)
        s = scrape(server.server.metrics_port)
    assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_EXPERT)
    answer = sample(s, "lighthouse_expert_answer_seconds_sum", expert="braggart")
    assert 0 < span_sum(s, "expert") <= answer and span_sum(s, "stream") == 0


def test_the_sdk_reports_its_own_time_and_a_declining_expert_none(tmp_path, loop, stub_of):
    # What a connected expert took by its own clock travels with its answer; the spans
    # of an expert that declines are not observed (nothing was answered).
    declined = []

    def judge(request):
        declined.append(request.escalation_id)
        raise RuntimeError("cannot judge")

    with ServerThread(hub_config(tmp_path, metrics_port=ANY_PORT, escalation_deadline=3.0)) as server:
        agent = ExpertAgent(judge, server.address, expert_id="decliner", backoff=(0.05, 0.5))
        agent.task = loop.spawn(agent.run())
        wait_for(lambda: agent.connections > 0, what="the expert to connect")
        d = stub_of(server).Validate(tool_call("Bash", MISS), timeout=30)
        s = scrape(server.server.metrics_port)
        disconnect(loop, agent)
    assert declined and (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK)
    assert sample(s, "lighthouse_expert_escalations_total", expert="decliner", outcome="declined") >= 1
    assert sample(s, "lighthouse_escalation_span_seconds_count", span="expert") == 0
    assert sample(s, "lighthouse_escalation_span_seconds_count", span="admit") == 1


def test_in_process_experts_sit_beside_connected_ones(tmp_path, loop, stub_of):
    inproc = SimulatedExpert("llm:test", "deny", "0", tools=["CustomTool"])
    config = hub_config(tmp_path)
    with ServerThread(config, experts=[inproc]) as server:
        stub = stub_of(server)
        d = stub.Validate(tool_call("CustomTool", {"x": 1}), timeout=30)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:llm:test")
        d = stub.Validate(tool_call("Bash", MISS), timeout=30)
        assert d.tier == pb.TIER_FALLBACK         # the in-process expert serves CustomTool only
        connect(loop, server, SimulatedExpert("agent-x", "allow", "0"), tools=["Bash"])
        d = stub.Validate(tool_call("Bash", MISS), timeout=30)
        assert d.rule_id == "expert:agent-x"


def test_no_policy_without_experts_keeps_the_fail_mode(tmp_path, stub_of):
    with ServerThread(hub_config(tmp_path)) as server:
        d = stub_of(server).Validate(tool_call("Bash", MISS), timeout=30)
        assert (d.verdict, d.tier) == (pb.VERDICT_ASK, pb.TIER_FALLBACK)


def test_an_escalation_leaves_an_idle_stream_in_the_turn_it_is_asked(tmp_path, loop):
    """The hub hands an escalation to gRPC inside ask(), on the real stream of a real
    expert: the write has begun before ask() returns, with no turn of the loop in
    between, and its end (the writer task's) delivers it: the expert answers."""
    sim = SimulatedExpert("e1", "deny", "0")
    with ServerThread(hub_config(tmp_path)) as server:
        connect(loop, server, sim)

        async def ask():
            expert = server.server.experts.get("e1")
            req = ExpertRequest("esc-now", "Bash", {"command": MISS}, deadline=time.monotonic() + 20,
                                deadline_ms=20000)
            fut = expert.ask(req)
            written = expert._traces["esc-now"].written
            return written, await fut

        written, answer = server.run(ask())
        assert written > 0 and answer.verdict == "deny" and sim.calls == 1


class GatedWrites:
    """A stream's write coroutine function whose writes each wait for the test to end
    them (``end(i, error=None)``), logging when each begins and ends."""

    def __init__(self):
        self.log = []
        self.gates = []

    async def __call__(self, msg):
        self.log.append(("begin", msg))
        if msg == "fails at once":
            raise RuntimeError("RPC already finished.")
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        try:
            await gate
        except GeneratorExit:
            self.log.append(("closed", msg))
            raise
        self.log.append(("end", msg))

    def end(self, i, error=None):
        self.gates[i].set_exception(error) if error is not None else self.gates[i].set_result(None)


async def _turns(n=5):
    for _ in range(n):
        await asyncio.sleep(0)


def test_the_stream_writer_begins_a_write_to_an_idle_stream_in_send_and_keeps_the_order():
    from lighthouse.experts.hub import _StreamWriter, _Trace

    async def main():
        writes = GatedWrites()
        w = _StreamWriter(writes)
        w.send("welcome")                   # before the writer task runs: queued
        assert writes.log == [] and w.backlog() == 1
        task = asyncio.ensure_future(w.run([0.0, 0.0]))
        await _turns()
        assert writes.log == [("begin", "welcome")]
        writes.end(0)
        await _turns()
        assert w.backlog() == 0
        trace = _Trace(1, 1, None)
        w.send("a", trace)                  # idle: begun here, in this turn
        assert writes.log[-1] == ("begin", "a") and trace.written > 0 and w.backlog() == 1
        w.send("b")
        w.send("c")                         # a write is in flight: queued behind it
        assert writes.log[-1] == ("begin", "a") and w.backlog() == 3
        for i in (1, 2, 3):
            writes.end(i)
            await _turns()
        assert writes.log[2:] == [("begin", "a"), ("end", "a"), ("begin", "b"), ("end", "b"), ("begin", "c"),
                                  ("end", "c")]
        assert w.backlog() == 0
        w.send("d")                         # idle again: begun at once again
        assert writes.log[-1] == ("begin", "d")
        writes.end(4)
        await _turns()
        assert writes.log[-1] == ("end", "d") and not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    run_async(main())


def test_the_stream_writer_ends_with_a_failed_write_and_closes_a_begun_write_when_cancelled():
    from lighthouse.experts.hub import _StreamWriter

    async def main():
        # A write failing in its first step, begun in send: send does not raise; the
        # writer task ends with the error (and the hub with it, the stream).
        writes = GatedWrites()
        w = _StreamWriter(writes)
        task = asyncio.ensure_future(w.run([0.0, 0.0]))
        await _turns()
        w.send("fails at once")
        with pytest.raises(RuntimeError, match="already finished"):
            await asyncio.wait_for(task, 10)
        # A begun write whose gRPC future fails: the write sees the error as it resumes.
        writes = GatedWrites()
        w = _StreamWriter(writes)
        task = asyncio.ensure_future(w.run([0.0, 0.0]))
        await _turns()
        w.send("x")
        writes.end(0, ConnectionError("stream reset"))
        with pytest.raises(ConnectionError, match="stream reset"):
            await asyncio.wait_for(task, 10)
        # The writer cancelled while a write it did not begin itself is in flight: the
        # write is closed, the cancellation is the task's.
        writes = GatedWrites()
        w = _StreamWriter(writes)
        task = asyncio.ensure_future(w.run([0.0, 0.0]))
        await _turns()
        w.send("y")
        await _turns()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert writes.log == [("begin", "y"), ("closed", "y")]

    run_async(main())


# ------------------------------------------------------------------ the tier itself


def esc(prior=(), deadline=5.0, tool="Bash", command=MISS, session="", eid="esc-1"):
    return Escalation(tool, {"command": command}, "/home/dev/app", "", "agent", session, "miss", "", "", 1,
                      time.monotonic() + deadline, eid, tuple(prior))


def policy(category="", quorum=1, verdict="ask"):
    return TierAnswer(verdict, "policy hands on", "policy:data.lighthouse.decision", escalate=True,
                      category=category, quorum=quorum)


def tier_of(*experts, **kw):
    reg = ExpertRegistry()
    for e in experts:
        reg.add(e)
    return ExpertTier(reg, **kw)


def decide(tier, e):
    return run_async(tier.decide(e), timeout=30)


def test_routing_by_category():
    cred = SimulatedExpert("cred", "deny", categories=["credentials"])
    net = SimulatedExpert("net", "allow", categories=["network"])
    anyone = SimulatedExpert("any", "ask", categories=["*"])
    tier = tier_of(cred, net)
    assert decide(tier, esc([policy("credentials")])).decided_by == "expert:cred"
    assert decide(tier, esc([policy("network")])).decided_by == "expert:net"
    with pytest.raises(TierUndecided, match="no expert serves"):
        decide(tier, esc([policy("privileged")]))
    with pytest.raises(TierUndecided):
        decide(tier, esc())                     # no category: only "*" or category-less experts
    tier.registry.add(anyone)
    assert decide(tier, esc()).decided_by == "expert:any"


def test_least_loaded_first():
    a, b = SimulatedExpert("a", "allow", capacity=4), SimulatedExpert("b", "deny", capacity=4)
    a.load = 3
    tier = tier_of(a, b)
    assert decide(tier, esc()).decided_by == "expert:b"


def test_quorum_needs_distinct_experts_and_strict_combination():
    es = [SimulatedExpert("e%d" % i, v, "0") for i, v in enumerate(("allow", "ask", "allow"))]
    tier = tier_of(*es)
    a = decide(tier, esc([policy(quorum=3)]))
    assert (a.verdict, a.quorum) == ("ask", 3) and a.decided_by.count("+") == 2
    assert all(e.calls == 1 for e in es)
    with pytest.raises(TierUndecided, match="quorum of 4 not reached"):
        decide(tier, esc([policy(quorum=4)], eid="esc-2"))
    assert tier.stats.quorum[(4, "unreachable")] == 1


def test_strict_combination_stops_at_the_first_deny():
    fast_deny = SimulatedExpert("d", "deny", "0")
    slow = SimulatedExpert("s", "allow", "20")
    tier = tier_of(fast_deny, slow)
    t0 = time.monotonic()
    a = decide(tier, esc([policy(quorum=2)]))
    assert a.verdict == "deny" and time.monotonic() - t0 < 10 and not a.reusable
    assert tier.stats.quorum[(2, "deny_early")] == 1


def test_majority_combination_and_ties_go_to_the_stricter():
    es = [SimulatedExpert("e%d" % i, v) for i, v in enumerate(("allow", "allow", "deny"))]
    assert decide(tier_of(*es, combine="majority"), esc([policy(quorum=3)])).verdict == "allow"
    es = [SimulatedExpert("e%d" % i, v) for i, v in enumerate(("allow", "deny"))]
    assert decide(tier_of(*es, combine="majority"), esc([policy(quorum=2)])).verdict == "deny"
    es = [SimulatedExpert("e%d" % i, v) for i, v in enumerate(("allow", "ask", "deny", "allow"))]
    assert decide(tier_of(*es, combine="majority"), esc([policy(quorum=4)])).verdict == "allow"
    es = [SimulatedExpert("e%d" % i, v) for i, v in enumerate(("allow", "allow", "deny", "deny"))]
    assert decide(tier_of(*es, combine="majority"), esc([policy(quorum=4)])).verdict == "deny"


def test_low_confidence_counts_as_ask():
    unsure = SimulatedExpert("unsure", "allow", confidence=0.4)
    tier = tier_of(unsure, min_confidence=0.7)
    a = decide(tier, esc())
    assert a.verdict == "ask" and "counted as ask" in a.reason
    assert tier.stats.rejected["low_confidence"] == 1
    assert decide(tier_of(SimulatedExpert("sure", "allow", confidence=0.9), min_confidence=0.7),
                  esc()).verdict == "allow"


def test_an_expert_allow_never_overrides_a_policy_or_rule_deny():
    tier = tier_of(SimulatedExpert("lenient", "allow"))
    a = decide(tier, esc([policy(verdict="deny")]))
    assert a.verdict == "ask" and tier.stats.rejected["overridden"] == 1


def test_a_failing_expert_is_replaced_and_its_breaker_opens():
    from lighthouse.escalation import OPEN

    class Broken(SimulatedExpert):
        async def judge(self, request):
            self.calls += 1
            raise ExpertError("backend down", "error")

    broken = Broken("a-broken")
    good = SimulatedExpert("b-good", "deny")
    pipeline = EscalationPipeline([], failure_threshold=2)
    tier = tier_of(broken, good, breaker=lambda name: pipeline.breaker("expert:" + name))
    for i in range(3):
        assert decide(tier, esc(eid="esc-%d" % i)).decided_by == "expert:b-good"
    assert broken.calls == 2 and pipeline.breakers["expert:a-broken"].state == OPEN
    # Rerouted: twice after a failure, once past the open circuit.
    assert tier.stats.escalations[("a-broken", "circuit_open")] == 1 and tier.stats.rerouted == 3


def test_an_in_process_expert_cancelling_itself_is_a_failure_and_the_next_expert_is_asked():
    class Quitter(SimulatedExpert):
        async def judge(self, request):
            self.calls += 1
            raise asyncio.CancelledError()

    quitter, good = Quitter("a-quitter"), SimulatedExpert("b-good", "deny", "0.01")
    tier = tier_of(quitter, good)
    a = decide(tier, esc())
    assert a.decided_by == "expert:b-good" and quitter.calls == 1
    assert tier.stats.escalations[("a-quitter", "error")] == 1 and tier.stats.rerouted == 1


def test_the_vote_wakes_once_per_answer_and_observes_its_spans():
    # A quorum of three in-process experts: the vote sees every answer and records the
    # route, each wake and the vote itself.
    es = [SimulatedExpert("e%d" % i, "ask", "%g" % (0.01 * i)) for i in range(3)]
    tier = tier_of(*es)
    a = decide(tier, esc([policy(quorum=3)]))
    assert (a.verdict, a.quorum) == ("ask", 3)
    spans = tier.stats.spans
    assert sum(spans["route"].counts) == 1 and sum(spans["vote"].counts) == 1
    assert 1 <= sum(spans["wake"].counts) <= 3


def test_whether_a_person_answered_is_taken_from_the_expert_that_answered():
    # An ordinary expert answers; before the vote ends a person takes its name (a
    # reconnect): the answer taught to the patterns stays an ordinary expert's.
    class Handover(SimulatedExpert):
        async def judge(self, request):
            answer = await super().judge(request)
            tier.registry.add(SimulatedExpert("alice", "allow", person=True), replace=True)
            return answer

    taught = []
    alice = Handover("alice", "allow", scope="shape")
    carol = SimulatedExpert("carol", "allow", "0.05", scope="shape", person=True)
    tier = tier_of(alice, carol, learner=lambda e, votes: taught.extend(votes))
    a = decide(tier, esc([policy(quorum=2)]))
    assert (a.verdict, a.quorum) == ("allow", 2)
    persons = {name: person for name, _verdict, _scope, person, _reason, _exact in taught}
    assert persons == {"alice": False, "carol": True}


def test_garbage_from_an_in_process_expert_is_never_an_allow():
    class Garbage(SimulatedExpert):
        async def judge(self, request):
            return ExpertAnswer("yes", "sure")

    with pytest.raises(TierUndecided):
        decide(tier_of(Garbage("g")), esc())


def test_a_quorum_partly_answered_with_a_deny_is_denied():
    d = SimulatedExpert("d", "deny")
    tier = tier_of(d)
    a = decide(tier, esc([policy(quorum=2)]))
    assert a.verdict == "deny" and not a.reusable


def test_reusable_only_when_every_answer_is():
    es = [SimulatedExpert("a", "allow", reusable=True), SimulatedExpert("b", "allow", reusable=False)]
    assert not decide(tier_of(*es), esc([policy(quorum=2)])).reusable
    es = [SimulatedExpert("a", "allow", reusable=True), SimulatedExpert("b", "allow", reusable=True)]
    assert decide(tier_of(*es), esc([policy(quorum=2)])).reusable
    # A deny ends a strict vote at once; with the quorum reached it is reusable too.
    assert decide(tier_of(SimulatedExpert("d", "deny", reusable=True)), esc()).reusable


def test_the_pipeline_does_not_cache_a_non_reusable_answer_and_fails_closed_on_undecided():
    sim = SimulatedExpert("x", "allow")
    reg = ExpertRegistry()
    reg.add(sim)
    pipe = EscalationPipeline([Stage(ExpertTier(reg), kind="expert", backend="experts")])

    async def go():
        a = await pipe.decide("Bash", {"command": MISS}, "/w")
        b = await pipe.decide("Bash", {"command": MISS}, "/w")
        reg.remove(sim)
        c = await pipe.decide("Bash", {"command": MISS + " y"}, "/w")
        return a, b, c

    a, b, c = run_async(go())
    assert (a.tier, b.tier, sim.calls) == ("expert", "expert", 2)
    assert (c.verdict, c.tier, c.cause) == ("ask", "fallback", "undecided")
    assert pipe.breakers["experts"].failures == 0


def test_an_inactive_expert_stage_leaves_the_policys_answer_final():
    class Policy:
        name = "policy"

        async def decide(self, e):
            return policy("x")

    reg = ExpertRegistry()
    pipe = EscalationPipeline([Stage(Policy(), kind="policy"),
                               Stage(ExpertTier(reg), kind="expert", active=lambda: len(reg) > 0)])
    out = run_async(pipe.decide("Bash", {"command": MISS}, "/w"))
    assert (out.verdict, out.tier) == ("ask", "policy")


# ------------------------------------------------------------------ pieces


def test_session_history_is_bounded_and_lru():
    from lighthouse.vocab import TIER_CACHE, TIER_RULES, VERDICT_ALLOW, VERDICT_DENY, outcome_index
    allow_rules, allow_cache = outcome_index(VERDICT_ALLOW, TIER_RULES), outcome_index(VERDICT_ALLOW, TIER_CACHE)
    h = SessionHistory(max_sessions=2, per_session=3)
    for i in range(5):
        h.record("a", "Bash", json.dumps({"command": "cmd %d" % i}), allow_rules)
    h.record("b", "Write", json.dumps({"file_path": "/w/x", "content": "secret" * 1000}),
             outcome_index(VERDICT_DENY, TIER_RULES))
    h.record("a", "Bash", '{"command": "again"}', allow_cache)
    h.record("c", "Bash", '{"command": "c"}', allow_rules)      # evicts b, the least recently used
    assert len(h) == 2 and h.recent("b") == ()
    assert [x["summary"] for x in h.recent("a")] == ["cmd 3", "cmd 4", "again"]
    assert h.recent("a")[0]["verdict"] == "allow" and h.recent("a")[0]["tier"] == "rules"
    assert summarize("Write", json.dumps({"file_path": "/w/x", "content": "y"})) == "/w/x"
    assert summarize("Bash", '{"command": "' + "x" * 1000) == ('{"command": "' + "x" * 1000)[:200]
    assert summarize("Bash", {"command": "z" * 300}) == "z" * 200


def test_the_sdk_turns_returns_into_answers_and_anything_else_into_a_decline():
    assert answer_message("e", "deny").verdict == pb.VERDICT_DENY
    m = answer_message("e", ("allow", "fine", 0.5, True))
    assert (m.verdict, m.reason, m.confidence, m.reusable) == (pb.VERDICT_ALLOW, "fine", 0.5, True)
    m = answer_message("e", {"verdict": "ask", "reason": "hm"})
    assert m.verdict == pb.VERDICT_ASK and not m.HasField("confidence")
    for bad in (None, "yes", ("allow", 3), {"verdict": "allow", "confidence": 2}, 42, ("allow", "r", 0.5, "y")):
        m = answer_message("e", bad)
        assert m.error and m.verdict == pb.VERDICT_UNSPECIFIED


def test_the_escalation_message_round_trips_through_the_sdk():
    from lighthouse.experts.base import ExpertRequest
    req = ExpertRequest("esc-9", "Bash", {"command": "x"}, "/w", "/home/u", "a", "s", "ask", "r.id", "why",
                        {"commands": [], "rules": [{"id": "r.id", "verdict": "ask", "reason": "r", "command": 0}]},
                        {"verdict": "ask", "reason": "p", "category": "net", "quorum": 2, "decided_by": "policy:x"},
                        "net", 2, ({"tool": "Bash", "summary": "ls", "verdict": "allow", "tier": "rules"},),
                        time.monotonic() + 3, 3000)
    back = to_request(epb.EscalatedCall.FromString(escalation_message(req).SerializeToString()))
    assert back.tool_input == req.tool_input and back.analysis == req.analysis and back.policy == req.policy
    assert back.history == req.history and (back.category, back.quorum, back.why) == ("net", 2, "ask")
    assert back.deadline - time.monotonic() <= 3.0


def test_latency_specs():
    assert Latency("0.25").draw() == 0.25 and Latency("fixed:1").draw() == 1
    assert all(0.2 <= Latency("uniform:0.2,2").draw() <= 2 for _ in range(100))
    assert Latency("lognormal:0.5,0.3").draw() > 0
    for bad in ("uniform:2,1", "nope:1", "x", "-1"):
        with pytest.raises(ValueError):
            Latency(bad)


def test_with_the_policy_tier_experts_get_its_category_and_quorum(tmp_path, loop, stub_of):
    """The real Rego policy (regorus workers) hands an unknown program on with its
    category; the expert serving that category gets the call and the policy's answer."""
    seen = SimulatedExpert("cat-expert", "deny", "0")
    with ServerThread(hub_config(tmp_path, policy=True, policy_processes=1, policy_deadline=5.0)) as server:
        connect(loop, server, seen, categories=["*"])
        d = stub_of(server).Validate(tool_call("Bash", MISS, session_id="s"), timeout=60)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:cat-expert")
        req = seen.seen[-1]
        assert req.policy["verdict"] == "ask" and req.policy["decided_by"].startswith("policy:")
        assert req.category == req.policy["category"] and req.category
        assert req.quorum == max(1, req.policy["quorum"])
        assert req.analysis["escalation"]["reason"] == "miss"
        # The policy tier's own document, not a second one built by the expert tier.
        assert req.analysis == build_input("Bash", {"command": MISS}, cwd=WS, session_id="s", reason=req.rule_reason,
                                           facts=RuleFacts(server.server.validator.policy))


def test_the_expert_tier_sends_the_policy_tiers_document_and_builds_one_without_it():
    seen = SimulatedExpert("doc", "deny", "0")
    tier = tier_of(seen)
    doc = {"version": 1, "commands": [], "rules": [{"id": "r.deny", "verdict": "deny", "reason": "no"}],
           "analysis": {"complete": True, "error": "", "limits": []}}
    handed = TierAnswer("ask", "policy hands on", "policy:p", escalate=True, category="c", quorum=1, analysis=doc)
    out = decide(tier, esc([handed]))
    assert seen.seen[-1].analysis is doc
    assert out.verdict == "deny"
    decide(tier, esc([policy("c")]))                    # no document handed on: the tier builds it
    assert seen.seen[-1].analysis["commands"][0]["program"] == "zzfrobnicate"
    assert check_answer(TierAnswer("ask", "x", analysis=["not", "a", "document"])) == (
        None, "answered an analysis that is not a document (list)")
    kept, problem = check_answer(TierAnswer("ask", "x" * 5000, analysis=doc))
    assert problem is None and kept.analysis is doc and len(kept.reason) == 1024


def test_tokens_add_expert_from_the_command_line(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "tokens"
    run = lambda *a: subprocess.run([sys.executable, "-m", "lighthouse.cli", "tokens", *a, "--file", str(path)],  # noqa: E731
                                    capture_output=True, text=True, timeout=60)
    assert run("add", "exp-1", "--expert").returncode == 0
    assert run("add", "both-1", "--expert", "--agent").returncode == 0
    assert run("add", "plain-1").returncode == 0
    listing = run("list").stdout
    lines = {line.split()[0]: line.split()[2:] for line in listing.splitlines()}
    assert lines == {"exp-1": ["expert"], "both-1": ["agent", "expert"], "plain-1": []}
    roles = {i.agent_id: i.roles for _, i in TokenStore(path).items()}
    assert roles == {"exp-1": ("expert",), "both-1": ("agent", "expert"), "plain-1": ("agent",)}


def test_bounds_max_experts_capacity_and_message_size(tmp_path, loop):
    with ServerThread(hub_config(tmp_path, max_experts=1, expert_max_pending=2)) as server:
        agent = connect(loop, server, SimulatedExpert("one", "ask"), max_concurrent=50)
        assert agent.welcome.max_concurrent == 2 and server.server.experts.get("one").capacity == 2

        async def refused_second():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="two"))
            try:
                await raw.call.read()
                code = None
            except grpc.aio.AioRpcError as e:
                code = e.code()
            await raw.close()
            return code

        assert loop.run(refused_second()) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert server.server.experts.stats.connections["refused_full"] == 1
        disconnect(loop, agent)
        wait_for(lambda: not registered(server, "one"), what="the server to see the disconnect")

        async def oversized():
            raw = RawExpert(server.address)
            await raw.send(hello=epb.ExpertHello(expert_id="big"))
            await raw.next("welcome")
            await raw.send(answer=epb.ExpertAnswer(escalation_id="x", verdict=pb.VERDICT_ALLOW, reason="r" * 70000))
            await raw.send(heartbeat=epb.Heartbeat())
            await raw.send(answer=epb.ExpertAnswer(escalation_id="y", verdict=pb.VERDICT_ALLOW))
            rejected = await raw.next("rejected")        # the stream goes on after the oversized one
            await raw.close()
            return rejected

        assert loop.run(oversized()).escalation_id == "y"
        rejected = server.server.experts.stats.rejected
        assert rejected["oversized"] == 1 and rejected["unknown"] == 1


def test_registry_refuses_duplicates_and_past_its_limit():
    reg = ExpertRegistry(max_experts=2)
    reg.add(SimulatedExpert("a"))
    with pytest.raises(ValueError, match="registered already"):
        reg.add(SimulatedExpert("a"))
    reg.add(SimulatedExpert("b"))
    with pytest.raises(ValueError, match="the limit"):
        reg.add(SimulatedExpert("c"))
    with pytest.raises(ValueError, match="non-empty name"):
        ExpertRegistry().add(SimulatedExpert(""))
    assert reg.stats.in_process == 2


def test_lighthouse_serve_and_the_simulated_expert_command(tmp_path):
    """The command line end to end: `lighthouse serve` (ExpertHub on by default without
    tokens) and `python -m lighthouse.experts.sim` in their own processes."""
    import subprocess
    import sys

    from serverkit import ROOT, ServerProcess
    with ServerProcess("--no-policy", "--escalation-deadline", "20") as srv:
        srv.wait_ready()
        assert "ExpertHub" in srv.log()
        sim = subprocess.Popen([sys.executable, "-m", "lighthouse.experts.sim", "--server", srv.address, "--id", "cli",
                                "--verdict", "deny", "--latency", "0.05", "--reusable"],
                               cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ch = grpc.insecure_channel(srv.address)
            stub = validation_pb2_grpc.ValidatorStub(ch)

            def decided():
                d = stub.Validate(tool_call("Bash", MISS), timeout=30)
                return d if d.tier in (pb.TIER_EXPERT, pb.TIER_CACHE) else None

            wait_for(lambda: decided() is not None, timeout=60, what="the simulated expert to decide")
            d = stub.Validate(tool_call("Bash", MISS), timeout=30)
            assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_CACHE, "expert:cli")
            s = scrape(srv.metrics_port)
            assert sample(s, "lighthouse_experts_connected") == 1
            assert sample(s, "lighthouse_expert_escalations_total", expert="cli", outcome="deny") >= 1
            ch.close()
        finally:
            sim.terminate()
            sim.wait(15)


def test_an_in_process_expert_failing_as_disconnected_is_not_asked_again():
    class Flaky(SimulatedExpert):
        async def judge(self, request):
            self.calls += 1
            raise ExpertError("provider connection reset", "disconnected")

    flaky = Flaky("llm:flaky")
    tier = tier_of(flaky)
    t0 = time.monotonic()
    with pytest.raises(TierUndecided):
        decide(tier, esc(deadline=20))
    assert flaky.calls == 1 and time.monotonic() - t0 < 10


def test_workers_serve_no_expert_hub_and_refuse_an_explicit_one(tmp_path):
    """`lighthouse serve --workers 2`: the workers share the port, so an expert's stream
    would reach one of them only. The automatic ExpertHub is off (an expert connecting
    gets UNIMPLEMENTED, a miss gets the policy tier's answer, without waiting for
    experts); --experts-hub and LLM experts are refused before anything starts, naming
    why."""
    import subprocess
    import sys

    from serverkit import ROOT, ServerProcess
    for extra, what in ((("--experts-hub",), "--experts-hub cannot be served with --workers 2"),
                        (("--llm-api", "openai", "--llm-url", "http://127.0.0.1:9/v1", "--llm-model", "m"),
                         "LLM experts (--experts, --llm-*) cannot run with --workers 2")):
        r = subprocess.run([sys.executable, "-m", "lighthouse.cli", "serve", "--workers", "2", "--port",
                            "0", "--metrics-port", "0", "--no-socket", *extra], cwd=str(ROOT),
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "LIGHTHOUSE_LLM_API_KEY": "k"})
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert what in r.stderr and "run experts with one server process (--workers 1)" in r.stderr, r.stderr

    with ServerProcess("--workers", "2", "--escalation-deadline", "20") as srv:
        srv.wait_ready(text="2 workers serving")
        assert "ExpertHub" not in srv.log()

        async def connect():
            # Several streams: whichever worker each lands on, none serves ExpertHub.
            for i in range(4):
                # Nothing is sent: a write can race the status and fail on its own (INTERNAL).
                raw = RawExpert(srv.address)
                try:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await raw.next("welcome")
                    assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
                    assert await raw.call.code() == grpc.StatusCode.UNIMPLEMENTED
                finally:
                    await raw.close()

        run_async(connect(), timeout=60)
        with grpc.insecure_channel(srv.address) as ch:
            stub = validation_pb2_grpc.ValidatorStub(ch)
            t0 = time.monotonic()
            for i in range(6):
                d = stub.Validate(tool_call("Bash", MISS + " %d" % i), timeout=30)
                assert d.tier in (pb.TIER_POLICY, pb.TIER_FALLBACK) and d.verdict != pb.VERDICT_ALLOW, d
            assert time.monotonic() - t0 < 15      # none waited for an expert until the 20 s deadline


def _hold_connections(sock, held, stop):
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except (TimeoutError, OSError):
            continue
        held.append(conn)


@pytest.mark.parametrize("when", [0.05, 0.3, 1.0])
def test_stop_returns_while_the_stream_is_still_connecting(loop, when):
    """A server that accepts the TCP connection and never speaks HTTP/2 (a black hole, as a
    server going down or a stalled proxy is): the agent's hello waits on a channel that is
    still connecting. stop() interrupts that wait and run() returns at once, rather than
    after gRPC's connect timeout (20 s)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    held, stop = [], threading.Event()
    acceptor = threading.Thread(target=_hold_connections, args=(sock, held, stop), daemon=True)
    acceptor.start()
    try:
        agent = ExpertAgent(SimulatedExpert("hole", "allow"), "127.0.0.1:%d" % sock.getsockname()[1],
                            expert_id="hole", backoff=(0.05, 0.5))
        task = loop.spawn(agent.run())
        wait_for(lambda: held, what="the agent to open its connection")
        time.sleep(when)
        assert not task.done() and agent.connections == 0
        loop.loop.call_soon_threadsafe(agent.stop)
        assert task.result(5) is None
    finally:
        stop.set()
        acceptor.join(5)
        for conn in held:
            conn.close()
        sock.close()


def test_a_stray_answer_is_named_while_its_id_is_recent(monkeypatch):
    """An expert's ids it no longer holds are kept to name a stray answer (duplicate,
    late) for _RECENT_S seconds and at most _RECENT of them; older ones are forgotten
    (the answer is then "unknown"), so the memory goes with recent escalations, not with
    every escalation the stream ever carried."""
    from lighthouse.experts import hub
    from lighthouse.experts.stats import ExpertStats

    now = [1000.0]
    monkeypatch.setattr(hub, "_monotonic", lambda: now[0])
    sent, stats = [], ExpertStats()
    expert = AgentExpert("e", send=lambda m, trace=None: sent.append(m), registry=None, stats=stats)

    def stray(eid):
        expert.receive(epb.ExpertAnswer(escalation_id=eid, verdict=pb.VERDICT_ALLOW))
        return sent[-1].rejected.cause

    expert._forget("a", "answered")
    expert._forget("w", "withdrawn")
    assert (stray("a"), stray("w"), stray("x")) == ("duplicate", "late", "unknown")
    now[0] += hub._RECENT_S / 2
    expert._forget("b", "answered")
    assert (stray("a"), stray("b")) == ("duplicate", "duplicate")
    now[0] += hub._RECENT_S / 2 + 1
    expert._forget("c", "answered")
    assert (stray("a"), stray("w"), stray("b"), stray("c")) == ("unknown", "unknown", "duplicate", "duplicate")
    for i in range(hub._RECENT + 10):
        expert._forget("n%d" % i, "answered")
    assert len(expert._recent) == hub._RECENT and stray("n0") == "unknown" and stray("n%d" % (hub._RECENT + 9)) == "duplicate"
    assert stats.rejected["unknown"] == 4 and stats.rejected["duplicate"] == 6 and stats.rejected["late"] == 1
