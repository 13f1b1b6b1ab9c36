"""The server's audit log: every decision any front end answers is recorded, in order
and chained; --audit-sync answers only what is committed; a full queue refuses calls;
workers share one chain; a server killed with SIGKILL leaves a log that opens, verifies
and (with --audit-sync) holds every answer a client received; a writer process that dies
is replaced. Real servers on loopback ports, real SQLite files and a real PostgreSQL
server (the ``store`` fixture runs a test on both), real subprocesses."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import re
import signal
import socket
import sqlite3
import threading
import time

import grpc
import pytest

from lighthouse.audit import Query, is_dsn, open_backend, verify
from lighthouse.errors import CallRejected
from lighthouse.localsock import ask
from lighthouse.server.app import ServerConfig
from lighthouse.server.core import EscalationResult
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc

from serverkit import WS, ServerProcess, ServerThread, quiet_grpc_logs, sample, scrape, tool_call

quiet_grpc_logs()


def records(db):
    with open_backend(db, readonly=True) as b:
        return list(b.records())


def by_request(db):
    return {r["request_id"]: r for r in records(db)}


def config(db, **kw):
    """A server's configuration writing the audit log ``db`` (a file or a DSN)."""
    kw.setdefault("local_socket", False)
    where = {"audit_dsn": db} if is_dsn(db) else {"audit_db": db}
    return ServerConfig(port=0, metrics_port=0, rate_limit=0, **where, **kw)


def assert_verifies(db, count=None):
    with open_backend(db, readonly=True) as b:
        result = verify(b)
    assert result.ok, result.problem
    if count is not None:
        assert result.records == count
    return result


async def _escalator(p):
    if p.tool.startswith("mcp__expert__"):
        return EscalationResult("deny", "the expert says no", "expert:llm-1", "expert", "esc-" + p.request_id,
                                trail=({"tier": "policy", "answer": "escalate"},
                                       {"tier": "expert", "expert": "llm-1", "answer": "deny"}))
    return None


# ------------------------------------------------------------------ every front end

def test_every_front_end_is_recorded(store, sockdir):
    db = store.location
    sock = os.path.join(sockdir, "lh.sock")
    answered = {}
    t_start = time.time_ns()
    with ServerThread(config(db, socket=sock, local_socket=True), escalator=_escalator) as s:
        with grpc.insecure_channel(s.address) as ch:
            stub = pb_grpc.ValidatorStub(ch)
            for rid, cmd in (("u-1", "rm -rf ~"), ("u-2", "ls -la"), ("u-3", "rm -rf ~")):
                answered[rid] = stub.Validate(tool_call(tool_input=cmd, request_id=rid, agent_id="alice",
                                                        session_id="sess-1"), timeout=10)
            calls = [tool_call(tool_input="git status", request_id="st-%d" % i, agent_id="bob") for i in range(5)]
            for d in stub.ValidateStream(iter(calls), timeout=10):
                answered[d.request_id] = d
            batch = pb.ToolCallBatch(calls=[tool_call(tool_input="cat /etc/shadow", request_id="b-%d" % i)
                                            for i in range(3)])
            for d in stub.ValidateBatch(batch, timeout=10).decisions:
                answered[d.request_id] = d
            answered["x-1"] = stub.Validate(tool_call("mcp__expert__tool", {"q": 1}, request_id="x-1"), timeout=10)
            bad = rpc_error(stub.Validate, tool_call(tool_input="ls", cwd="relative", request_id="bad-1"))
            assert bad == grpc.StatusCode.INVALID_ARGUMENT
        local = [ask({"tool": "Bash", "input": {"command": "rm -rf /usr"}, "cwd": WS, "agent_id": "hook",
                      "session_id": "cc-1"}, sock, timeout=10) for _ in range(2)]
    t_end = time.time_ns()
    # Stopped gracefully: everything is committed.
    recs = records(db)
    assert_verifies(db, count=len(answered) + 2)
    got = {r["request_id"]: r for r in recs if r["source"] == "grpc"}
    assert set(got) == set(answered)                        # the refused call is no decision
    verdicts = {pb.VERDICT_ALLOW: "allow", pb.VERDICT_ASK: "ask", pb.VERDICT_DENY: "deny"}
    tiers = {pb.TIER_CACHE: "cache", pb.TIER_RULES: "rules", pb.TIER_EXPERT: "expert", pb.TIER_FALLBACK: "fallback"}
    for rid, d in answered.items():
        r = got[rid]
        assert (r["verdict"], r["tier"], r["rule_id"], r["reason"], r["policy_generation"], r["decision_ns"]) == \
            (verdicts[d.verdict], tiers[d.tier], d.rule_id, d.reason, d.policy_generation, d.decision_ns), rid
        assert r["source"] == "grpc" and r["worker"] == 0 and r["cwd"] == WS
        assert t_start <= r["time_ns"] <= t_end
        assert len(r["hash"]) == 64 and len(r["input_sha256"]) == 64
    assert got["u-1"]["agent_id"] == "alice" and got["u-1"]["session_id"] == "sess-1"
    assert json.loads(got["u-1"]["input"]) == {"command": "rm -rf ~"}
    assert got["u-3"]["tier"] == "cache"                        # the repeat, answered by tier 0
    assert got["x-1"]["escalation_id"] == "esc-x-1" and got["x-1"]["rule_id"] == "expert:llm-1"
    assert [step["tier"] for step in json.loads(got["x-1"]["trail"])] == ["policy", "expert"]
    # In the order answered: the unary calls, then the stream's, then the batch's.
    order = [r["request_id"] for r in recs if r["source"] == "grpc"]
    assert order[:3] == ["u-1", "u-2", "u-3"]
    assert order[3:8] == ["st-%d" % i for i in range(5)] and order[8:11] == ["b-0", "b-1", "b-2"]
    locals_ = [r for r in recs if r["source"] == "local"]
    assert len(locals_) == 2 and all(a["verdict"] == "deny" for a in local)
    assert {(r["agent_id"], r["session_id"], r["verdict"], r["tool"]) for r in locals_} == {("hook", "cc-1", "deny",
                                                                                             "Bash")}
    assert json.loads(locals_[0]["input"]) == {"command": "rm -rf /usr"}
    # Each local call got a request id of its own, which its answer and its record carry.
    assert [r["request_id"] for r in locals_] == [a["request_id"] for a in local]
    assert re.fullmatch(r"local-[0-9a-f]{8}-1", local[0]["request_id"]) and local[1]["request_id"].endswith("-2")


def rpc_error(fn, *args):
    try:
        fn(*args, timeout=10)
    except grpc.RpcError as e:
        return e.code()
    return None


def test_restart_continues_the_chain(store):
    db = store.location
    for run in range(2):
        with ServerThread(config(db)) as s, grpc.insecure_channel(s.address) as ch:
            stub = pb_grpc.ValidatorStub(ch)
            for i in range(5):
                stub.Validate(tool_call(tool_input="ls", request_id="run%d-%d" % (run, i)), timeout=10)
    assert_verifies(db, count=10)
    assert [r["request_id"] for r in records(db)] == ["run%d-%d" % (r, i) for r in range(2) for i in range(5)]


def test_audit_db_that_cannot_be_opened_stops_the_start(tmp_path):
    bad = tmp_path / "not-a-db"
    bad.write_bytes(b"garbage" * 1000)
    with pytest.raises(OSError, match="--audit-db: .*not-a-db"):
        ServerThread(config(str(bad))).start()


# ------------------------------------------------------------------ --audit-sync

def test_sync_mode_answers_only_committed_decisions(store, sockdir):
    db = store.location
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(config(db, audit_sync=True, socket=sock, local_socket=True), escalator=_escalator) as s, \
            grpc.insecure_channel(s.address) as ch:
        reader = open_backend(db, readonly=True)     # another connection: sees committed records only

        def committed(rid):
            return reader.count(Query(request_id=rid))

        stub = pb_grpc.ValidatorStub(ch)
        for i in range(20):
            rid = "u-%d" % i
            stub.Validate(tool_call(tool_input="rm -rf ~" if i % 2 else "ls", request_id=rid), timeout=10)
            assert committed(rid) == 1, rid
        d = stub.Validate(tool_call("mcp__expert__t", {"q": 2}, request_id="x-1"), timeout=10)
        assert d.tier == pb.TIER_EXPERT and committed("x-1") == 1
        batch = pb.ToolCallBatch(calls=[tool_call(tool_input="pwd", request_id="b-%d" % i) for i in range(10)])
        stub.ValidateBatch(batch, timeout=10)
        assert all(committed("b-%d" % i) for i in range(10))
        # A stream: each answer's record is committed when the answer arrives; request ids
        # may repeat (an empty one on every call) since each is decided already.
        calls = [tool_call(tool_input="git log", request_id="st-%d" % i) for i in range(30)]
        calls += [tool_call(tool_input="git diff") for _ in range(10)]
        n = 0
        for d in stub.ValidateStream(iter(calls), timeout=10):
            assert not d.HasField("error"), d.error
            if d.request_id:
                assert committed(d.request_id) == 1
            n += 1
        assert n == 40
        before = reader.count(Query(tool="Read"))
        assert ask({"tool": "Read", "input": {"file_path": WS + "/.env"}, "cwd": WS}, sock, timeout=10)["verdict"] == \
            "deny"
        assert reader.count(Query(tool="Read")) == before + 1
        # A client asking for progress gets no pending line: a commit is no escalation.
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(10)
            c.connect(sock)
            c.sendall(json.dumps({"tool": "Read", "input": {"file_path": WS + "/.env"}, "cwd": WS,
                                  "progress": True}).encode() + b"\n")
            reply = json.loads(c.makefile().readline())
        assert "pending" not in reply and reply["verdict"] == "deny"
        snap = s.server.stats.snapshot()["audit"]
        assert snap["committed"] == 20 + 1 + 10 + 40 + 2
        reader.close()
    assert_verifies(db, count=73)


# ------------------------------------------------------------------ backpressure

class _WriteLock:
    """Another connection holding the store's write lock: SQLite's (BEGIN IMMEDIATE), or
    PostgreSQL's advisory lock every append takes (lighthouse.audit.postgres)."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        if self.store.kind == "sqlite":
            self.con = sqlite3.connect(self.store.location, isolation_level=None, timeout=10)
            self.con.execute("BEGIN IMMEDIATE")
        else:
            import psycopg
            from lighthouse.audit.postgres import AUDIT_LOCK
            self.con = psycopg.connect(self.store.location, autocommit=True)
            self.con.execute("SELECT pg_advisory_lock(%s)", (AUDIT_LOCK,))
        return self

    def __exit__(self, *exc):
        if self.store.kind == "sqlite":
            self.con.execute("ROLLBACK")
        self.con.close()


def test_full_queue_refuses_calls_and_counts_them(store):
    """The writer is slowed for real: another connection holds the store's write lock, so
    the writer's commit waits; the queue fills and calls are refused, never answered
    unrecorded. Once the lock goes, every answered call is committed."""
    db = store.location
    with ServerThread(config(db, audit_queue=40)) as s, grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        stub.Validate(tool_call(tool_input="ls", request_id="warm"), timeout=10)
        deadline = time.monotonic() + 10
        while s.server.stats.snapshot()["audit"]["committed"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        ok, refused = ["warm"], []
        with _WriteLock(store):
            for i in range(300):
                rid = "c-%d" % i
                try:
                    stub.Validate(tool_call(tool_input="ls -la", request_id=rid), timeout=10)
                    ok.append(rid)
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert "audit log's queue is full" in e.details()
                    refused.append(rid)
            # Queued, and handed to the blocked writer: at most twice the queue.
            assert refused and len(ok) <= 1 + 2 * 40
            snap = s.server.stats.snapshot()
            assert snap["audit"]["refused"] == len(refused)
            assert snap["errors"]["Validate|RESOURCE_EXHAUSTED"] == len(refused)
            assert snap["audit"]["queue"] == 2 * 40
            # A stream's call is refused with its own error and the stream goes on.
            answers = list(stub.ValidateStream(iter([tool_call(tool_input="ls", request_id="st-1")]), timeout=10))
            assert answers[0].error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        deadline = time.monotonic() + 20
        while s.server.stats.snapshot()["audit"]["committed"] < len(ok) and time.monotonic() < deadline:
            time.sleep(0.02)
        stub.Validate(tool_call(tool_input="ls", request_id="after"), timeout=10)
        ok.append("after")
    assert [r["request_id"] for r in records(db)] == ok
    assert_verifies(db, count=len(ok))


# ------------------------------------------------------------------ workers

def test_workers_append_to_one_chain(store):
    db = store.location
    sent = []
    with ServerProcess("--workers", "2", *store.args, "--rate-limit", "0") as srv:
        srv.wait_ready(text="workers serving")
        # New connections, which the kernel spreads over the workers: each channel has a
        # subchannel pool of its own, or gRPC may carry them all on one shared connection.
        for c in range(24):
            with grpc.insecure_channel(srv.address, options=[("grpc.use_local_subchannel_pool", 1)]) as ch:
                stub = pb_grpc.ValidatorStub(ch)
                for i in range(5):
                    rid = "c%d-%d" % (c, i)
                    stub.Validate(tool_call(tool_input="ls", request_id=rid), timeout=10)
                    sent.append(rid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sample(scrape(srv.metrics_port), "lighthouse_audit_records_total") == len(sent):
                break
            time.sleep(0.05)
        assert sample(scrape(srv.metrics_port), "lighthouse_audit_records_total") == len(sent)
        srv.signal(signal.SIGTERM)
        assert srv.wait(30) == 0
    recs = records(db)
    assert sorted(r["request_id"] for r in recs) == sorted(sent)
    assert {r["worker"] for r in recs} == {0, 1}
    assert_verifies(db, count=len(sent))


# ------------------------------------------------------------------ crash

def _load(address, stop, received, errors, agents=8):
    """Unary calls from `agents` concurrent loops until `stop` is set; the request ids of
    the answers received go in `received`."""
    async def agent(n, stub):
        i = 0
        while not stop.is_set():
            rid = "a%d-%d" % (n, i)
            i += 1
            try:
                await stub.Validate(tool_call(tool_input="rm -rf ~" if i % 3 == 0 else "ls -la", request_id=rid),
                                    timeout=5)
                received.append(rid)
            except grpc.RpcError:
                errors.append(rid)
                await asyncio.sleep(0.05)

    async def main():
        async with grpc.aio.insecure_channel(address) as ch:
            stub = pb_grpc.ValidatorStub(ch)
            await asyncio.gather(*(agent(n, stub) for n in range(agents)))

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["sync", "default"])
def test_sigkill_during_load(store, mode):
    db = store.location
    args = (*store.args, "--rate-limit", "0") + (("--audit-sync",) if mode == "sync" else ())
    srv = ServerProcess(*args, metrics=False)
    try:
        srv.wait_ready()
        stop, received, errors = threading.Event(), [], []
        load = threading.Thread(target=_load, args=(srv.address, stop, received, errors), daemon=True)
        load.start()
        deadline = time.monotonic() + 20
        while len(received) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(received) >= 300, "no load reached the server"
        srv.proc.send_signal(signal.SIGKILL)         # in the middle of the load
        srv.proc.wait(10)
        time.sleep(0.2)
        stop.set()
        load.join(15)
        assert not load.is_alive()
    finally:
        srv.kill()
        srv.__exit__(None, None, None)
    # The log opens cleanly after the crash, verifies, and the restarted server goes on
    # appending to its chain.
    before = assert_verifies(db)
    with ServerProcess(*args, metrics=False) as again:
        again.wait_ready()
        with grpc.insecure_channel(again.address) as ch:
            pb_grpc.ValidatorStub(ch).Validate(tool_call(tool_input="ls", request_id="after-restart"), timeout=10)
        again.signal(signal.SIGTERM)
        assert again.wait(30) == 0
    after = assert_verifies(db, count=before.records + 1)
    assert after.last_seq == before.last_seq + 1
    recorded = set(by_request(db))
    missing = [rid for rid in received if rid not in recorded]
    print("\n%s, %s mode: %d answers received before SIGKILL, %d recorded in all, %d answered but not recorded"
          % (store.kind, mode, len(received), before.records, len(missing)))
    if mode == "sync":
        assert missing == []
    else:
        # Answered before commit: at most what was answered in the last commit interval
        # and the commit in flight may be lost; never the whole run.
        assert len(missing) < len(received) // 2


def test_dead_writer_is_replaced_and_the_chain_goes_on(store):
    """A writer process killed while the server runs: noticed and counted, every call is
    refused with UNAVAILABLE while it is down (never answered unrecorded), a new writer
    is started, calls are answered again, and the chain goes on from the last committed
    record: every answered call is in it, once or (acknowledgement lost) twice."""
    db = store.location
    with ServerThread(config(db)) as s, grpc.insecure_channel(s.address) as ch:
        audit = s.server.audit
        audit.restart_delay = 1.0           # long enough for calls to meet the writer down
        stub = pb_grpc.ValidatorStub(ch)
        answered = []
        for i in range(5):
            stub.Validate(tool_call(tool_input="ls", request_id="before-%d" % i), timeout=10)
            answered.append("before-%d" % i)
        dead = audit._proc.pid
        os.kill(dead, signal.SIGKILL)
        refused, i = 0, 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rid = "during-%d" % i
            i += 1
            code = rpc_error(stub.Validate, tool_call(tool_input="ls -la", request_id=rid))
            if code is None:
                answered.append(rid)
                if refused:
                    break                   # back after a refusal: the new writer runs
            else:
                assert code == grpc.StatusCode.UNAVAILABLE
                refused += 1
            time.sleep(0.02)
        assert refused, "no call met the writer down"
        assert audit.deaths == 1 and audit.restarts == 1 and audit._proc.pid != dead
        assert s.server.stats.snapshot()["audit"]["writer_restarts"] == 1
        for j in range(5):
            stub.Validate(tool_call(tool_input="pwd", request_id="after-%d" % j), timeout=10)
            answered.append("after-%d" % j)
        with pytest.raises(grpc.RpcError, match="cannot record decisions"):
            os.kill(audit._proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                stub.Validate(tool_call(tool_input="pwd", request_id="x"), timeout=10)
                answered.append("x")
                time.sleep(0.01)
        deadline = time.monotonic() + 30
        while audit.restarts < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert audit.deaths == 2 and audit.restarts == 2
        stub.Validate(tool_call(tool_input="pwd", request_id="last"), timeout=10)
        answered.append("last")
        t = time.monotonic()
    assert time.monotonic() - t < 10
    recs = records(db)
    got = [r["request_id"] for r in recs]
    assert set(answered) <= set(got)
    assert set(got) <= set(answered)        # refused calls are not recorded
    assert [rid for rid in dict.fromkeys(got) if rid != "x"] == [rid for rid in dict.fromkeys(answered) if rid != "x"]
    assert_verifies(db, count=len(recs))


def test_policy_tier_decision_is_recorded_with_its_trail(tmp_path):
    """The real escalation pipeline and Rego policy tier (regorus worker processes).

    The policy deadline is generous, so that on a loaded machine the first call is still
    answered by the policy and not by the fail mode."""
    db = str(tmp_path / "audit.db")
    with ServerThread(config(db, policy=True, policy_deadline=20.0)) as s, \
            grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        d = stub.Validate(tool_call("mcp__acme__frobnicate", {"target": "prod"}, request_id="p-1"), timeout=30)
        again = stub.Validate(tool_call("mcp__acme__frobnicate", {"target": "prod"}, request_id="p-2"), timeout=30)
    recs = by_request(db)
    tiers = {pb.TIER_CACHE: "cache", pb.TIER_POLICY: "policy", pb.TIER_FALLBACK: "fallback"}
    verdicts = {pb.VERDICT_ALLOW: "allow", pb.VERDICT_ASK: "ask", pb.VERDICT_DENY: "deny"}
    r = recs["p-1"]
    assert d.tier == pb.TIER_POLICY and r["tier"] == "policy"
    assert r["verdict"] == verdicts[d.verdict]
    assert r["escalation_id"] == d.escalation_id
    step = json.loads(r["trail"])[0]
    assert (step["tier"], step["verdict"], step["decided_by"]) == (r["tier"], r["verdict"], r["rule_id"])
    # The repeat: from the cache after a policy answer; after a fail-mode answer (the
    # policy deadline passed on a loaded machine), which is never cached, asked again.
    again_r = recs["p-2"]
    assert (again_r["tier"], again_r["verdict"]) == (tiers[again.tier], verdicts[again.verdict])
    if r["tier"] == "policy":
        assert again_r["tier"] in ("cache", "policy") and again_r["verdict"] == r["verdict"]
    assert_verifies(db, count=2)


def test_a_flush_of_many_records_is_handed_over_and_committed_in_parts(tmp_path):
    """A queue of 10,000 records is handed to the writer as messages of at most
    MESSAGE_RECORDS, and the writer commits at most COMMIT_RECORDS and one message at a
    time: a writer behind its server still acknowledges in parts, not after the whole
    queue. Every record is committed, in order, and the chain verifies."""
    from lighthouse.audit.process import COMMIT_RECORDS
    from lighthouse.audit.writer import MESSAGE_RECORDS, AuditLog
    from lighthouse.server.wire import Outcome
    outcome = Outcome(pb.VERDICT_DENY, pb.TIER_RULES, "no", "fs.rm-home", 1, "deny")
    db = str(tmp_path / "audit.db")
    n = 2 * COMMIT_RECORDS + 100

    async def main():
        log = AuditLog(db, max_queue=n, commit_interval=1.0)
        log.start()
        try:
            for i in range(n):
                log.record((time.perf_counter_ns(), "grpc", "r-%d" % i, "a", "s", "Bash", '{"command":"ls"}', "/",
                            outcome, 1, "", ()))
            log._flush()
            sizes = [ticket for ticket, _ in log._pending]
            assert sizes == list(range(MESSAGE_RECORDS, n, MESSAGE_RECORDS)) + [n]
            await asyncio.wait_for(log.wait_committed(n), 60)
            assert log.batches >= 3          # two messages a commit at most, then the last one
        finally:
            await log.close(summary=False)

    asyncio.run(main())
    assert [r["request_id"] for r in records(db)] == ["r-%d" % i for i in range(n)]
    assert_verifies(db, count=n)


def test_sync_waiters_share_a_future_per_hand_over_and_each_is_released_committed(tmp_path):
    """With --audit-sync the calls that wait between two hand-overs share one future:
    three rounds of 50 waiting calls make three futures, not 150; a call released has
    its record committed (read back by another connection), including one that waits
    after its group was released, and a failing store refuses every waiting call."""
    from lighthouse.audit.writer import AuditLog
    from lighthouse.server.wire import Outcome
    outcome = Outcome(pb.VERDICT_ALLOW, pb.TIER_RULES, "ok", "routine.read", 1, "allow")
    db = str(tmp_path / "audit.db")
    made = []

    class Groups(collections.deque):
        def append(self, group):
            made.append(group)
            super().append(group)

    async def main():
        log = AuditLog(db, sync=True)
        log.start()
        log._waiters = Groups()
        reader = open_backend(db, readonly=True)

        async def call(i):
            log.record((time.perf_counter_ns(), "grpc", "w-%d" % i, "a", "s", "Bash", '{"command":"ls"}', "/",
                        outcome, 1, "", ()))
            await log.wait_committed(log.appended)
            return reader.count(Query(request_id="w-%d" % i))

        try:
            for k in range(3):
                seen = await asyncio.wait_for(asyncio.gather(*(call(50 * k + i) for i in range(50))), 60)
                assert seen == [1] * 50
            assert len(made) == 3
            # A waiter for a record committed already returns at once; one queued after a
            # released group gets a group of its own.
            await asyncio.wait_for(log.wait_committed(10), 10)
            assert await asyncio.wait_for(call(999), 60) == 1
            assert len(made) == 4
            # A store that fails: every waiting call is refused (UNAVAILABLE), none released.
            with _WriteLock(type("S", (), {"kind": "sqlite", "location": db})()):
                waiting = [asyncio.ensure_future(call(1000 + i)) for i in range(5)]
                done, _ = await asyncio.wait(waiting, timeout=60, return_when=asyncio.FIRST_EXCEPTION)
                assert done, "no waiting call was refused while the store failed"
                for t in done:
                    assert isinstance(t.exception(), CallRejected) and t.exception().code == grpc.StatusCode.UNAVAILABLE
                await asyncio.wait(waiting, timeout=60)
            assert all(t.done() for t in waiting)
        finally:
            reader.close()
            await log.close(summary=False)

    asyncio.run(main())
    assert_verifies(db, count=156)
