"""The server as operators run it: `lighthouse serve` subprocesses (SIGHUP reload,
SIGTERM graceful shutdown, --workers), reload under load, draining, the metrics endpoint
and the local socket endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lighthouse import Validator
from lighthouse.client import CallError, Client
from lighthouse.server.app import ServerConfig
from lighthouse.server.config import ANY_PORT
from lighthouse.server.core import EscalationResult
from lighthouse.v1 import admin_pb2, admin_pb2_grpc, validation_pb2 as pb, validation_pb2_grpc as pb_grpc

from serverkit import (FROB_ALLOW, FROB_DENY, WS, ServerProcess, ServerThread, quiet_grpc_logs, sample,
                       scrape, tool_call)

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


# ------------------------------------------------------------------ subprocess: reload and shutdown

def test_decision_log_is_reopened_on_sighup(tmp_path):
    log, rotated = tmp_path / "decisions.jsonl", tmp_path / "decisions.jsonl.1"
    with ServerProcess("--decision-log", str(log)) as server:
        server.wait_ready()
        with Client(server.address, timeout=5) as c:
            assert c.validate("Bash", {"command": "sudo rm -rf /usr/lib"}, cwd=WS, request_id="before").verdict == "deny"
            log.rename(rotated)
            server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while "policy reloaded" not in server.log():
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            assert c.validate("Bash", {"command": "sudo rm -rf /usr/lib"}, cwd=WS, request_id="after").verdict == "deny"
    assert [json.loads(line)["request_id"] for line in rotated.read_text().splitlines()] == ["before"]
    assert [json.loads(line)["request_id"] for line in log.read_text().splitlines()] == ["after"]


def test_a_burst_of_sighups_reloads_once_and_once_more_for_the_last_change(tmp_path):
    """SIGHUPs within --reload-interval of a reload do not each reload: the first reloads
    at once, the rest are put off to the end of the interval and joined; the reload put
    off reads the change made during the burst."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test.toml").write_text(FROB_DENY)
    # The interval is long against the burst (signals sent back to back), so that on a
    # loaded machine the burst still ends inside it: a burst that outlasted it would start
    # a third reload, which the counts below do not allow.
    with ServerProcess("--rules", str(rules), "--reload-interval", "6") as server:
        server.wait_ready()

        def reloads():
            return sum("policy reloaded (SIGHUP)" in line for line in server.output)

        with Client(server.address, timeout=10) as c:
            server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while reloads() < 1:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            (rules / "test.toml").write_text(FROB_ALLOW)      # a change during the burst
            for _ in range(40):
                server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while c.validate("Bash", {"command": "frobnicate"}, cwd=WS).verdict != "allow":
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            time.sleep(7)                                      # past another interval: nothing more runs
            assert reloads() == 2, server.log()
            assert c.validate("Bash", {"command": "frobnicate"}, cwd=WS).policy_generation == 3
            server.signal(signal.SIGHUP)                      # the interval is over: at once again
            deadline = time.monotonic() + 30
            while reloads() < 3:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)


def test_sighup_reload_then_sigterm_drains_and_exits_0(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test.toml").write_text(FROB_DENY)
    with ServerProcess("--rules", str(rules)) as server:
        server.wait_ready()
        with Client(server.address, timeout=5) as c:
            assert c.validate("Bash", {"command": "frobnicate"}, cwd=WS).verdict == "deny"
            (rules / "test.toml").write_text(FROB_ALLOW)
            server.signal(signal.SIGHUP)
            deadline = time.monotonic() + 20
            while c.validate("Bash", {"command": "frobnicate"}, cwd=WS).verdict != "allow":
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            assert c.validate("Bash", {"command": "frobnicate"}, cwd=WS).policy_generation == 2

        outcomes, stop = [], threading.Event()

        def unary_load():
            with Client(server.address, timeout=5, retries=0) as c:
                while not stop.is_set():
                    try:
                        outcomes.append(c.validate("Bash", {"command": "git status"}, cwd=WS).verdict)
                    except CallError as e:
                        outcomes.append(e.code)
                        if e.code == grpc.StatusCode.UNAVAILABLE:
                            return

        def stream_load():
            with Client(server.address, timeout=5, retries=0) as c, c.stream() as s:
                while not stop.is_set():
                    futures = [s.submit("Bash", {"command": "ls %d" % i}, cwd=WS) for i in range(20)]
                    for f in futures:
                        try:
                            outcomes.append(f.result(10).verdict)
                        except CallError as e:
                            outcomes.append(e.code)
                    if any(f.exception() for f in futures):
                        return
                    time.sleep(0.01)

        threads = [threading.Thread(target=unary_load) for _ in range(3)] + [threading.Thread(target=stream_load)]
        for t in threads:
            t.start()
        time.sleep(0.7)
        server.signal(signal.SIGTERM)
        assert server.wait(20) == 0, server.log()
        stop.set()
        for t in threads:
            t.join(15)
            assert not t.is_alive()
    log = server.log()
    assert "draining" in log and "server stopped" in log
    answered = [o for o in outcomes if isinstance(o, str)]
    failed = [o for o in outcomes if not isinstance(o, str)]
    assert answered and set(answered) == {"allow"}
    # Every call was answered or refused cleanly for a retry elsewhere: none was cut off.
    assert set(failed) <= {grpc.StatusCode.UNAVAILABLE}, failed


def _thread_niceness(pid):
    """{native thread id: niceness} of a process's threads (field 19 of /proc/.../stat)."""
    out = {}
    for task in pathlib.Path("/proc/%d/task" % pid).iterdir():
        try:
            out[int(task.name)] = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
        except OSError:
            continue
    return out


@pytest.mark.skipif(not pathlib.Path("/proc/self/task").is_dir(), reason="thread priorities are read from Linux /proc")
@pytest.mark.parametrize("args, nice", [(("--helper-nice", "10"), 10), ((), 0)], ids=["nice-10", "default"])
def test_helper_threads_yield_to_the_thread_deciding_calls(args, nice):
    # Off by default (a tuning for small machines, measured with bench/agents.py --fast-tiers). The
    # server inherits this process's niceness (a suite run under `nice` starts above 0);
    # --helper-nice raises helper threads to at least its value.
    base = os.getpriority(os.PRIO_PROCESS, 0)
    nice = max(base, nice)
    with ServerProcess(*args) as srv:
        srv.wait_ready()
        with Client(srv.address) as c:
            assert c.validate("Bash", {"command": "git status"}, cwd=WS).verdict == "allow"
        deadline = time.monotonic() + 10
        while True:
            threads = _thread_niceness(srv.proc.pid)
            helpers = [n for tid, n in threads.items() if tid != srv.proc.pid]
            if all(n == nice for n in helpers) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert threads[srv.proc.pid] == base            # the event loop's thread keeps its priority
        assert len(helpers) >= 2                        # gRPC runs threads of its own
        assert all(n == nice for n in helpers), threads


def test_the_ready_file_says_what_the_server_bound_until_it_stops(sockdir):
    """--port 0 --metrics-port any: the kernel picks both ports, and --ready-file says
    which (with the local socket and the admin secret's file) once the server serves
    them; the file goes at shutdown."""
    sock = os.path.join(sockdir, "l.sock")
    with ServerProcess(socket=sock) as server:
        info = server.wait_ready().ready
        assert info["address"] == "127.0.0.1:%d" % info["port"] and info["port"] > 0
        assert info["metrics_port"] > 0 and info["metrics_port"] != info["port"]
        assert (info["socket"], info["admin_token_file"]) == (sock, server.admin_token_file)
        assert (info["pid"], info["workers"]) == (server.proc.pid, 1)
        with Client(server.address) as c:
            assert c.validate("Bash", {"command": "git status"}, cwd=WS).verdict == "allow"
        assert sample(scrape(info["metrics_port"]), "lighthouse_workers", default=None) == 1
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0, server.log()
        assert not os.path.exists(server.ready_file)


def test_workers_share_the_port_and_the_supervisor_aggregates(tmp_path):
    """With --port 0 the supervisor reserves a port of the kernel's choice for its workers
    to share, and its ready file says it once every worker serves."""
    with ServerProcess("--workers", "2") as server:
        server.wait_ready(text="2 workers serving")
        assert (server.ready["pid"], server.ready["workers"]) == (server.proc.pid, 2)
        assert server.ready["address"] == server.address and server.metrics_port > 0
        pids = set()
        channels = [grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(12)]
        try:
            for ch in channels:
                admin = admin_pb2_grpc.AdminStub(ch)
                pb_grpc.ValidatorStub(ch).Validate(tool_call("Bash", "ls"), timeout=10)
                s = admin.Stats(admin_pb2.StatsRequest(), metadata=server.admin_metadata, timeout=10)
                assert s.workers == 2
                pids.add(s.pid)
            assert len(pids) == 2, "SO_REUSEPORT spread 12 connections over %d workers" % len(pids)
            # A reload through Admin on one worker reaches the other.
            admin_pb2_grpc.AdminStub(channels[0]).ReloadPolicy(admin_pb2.ReloadPolicyRequest(),
                                                               metadata=server.admin_metadata, timeout=20)
            deadline = time.monotonic() + 20
            while server.log().count("policy reloaded") < 2:
                assert time.monotonic() < deadline, server.log()
                time.sleep(0.05)
            m = scrape(server.metrics_port)
            assert sample(m, "lighthouse_workers") == 2
            assert sum(v for (name, labels), v in m.items() if name == "lighthouse_decisions_total") >= 12
            assert sample(m, "lighthouse_policy_reloads_total", result="ok") == 2
            server.signal(signal.SIGHUP)
            while server.log().count("policy reloaded") < 4:
                assert time.monotonic() < deadline + 10, server.log()
                time.sleep(0.05)
        finally:
            for ch in channels:
                ch.close()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0, server.log()


# ------------------------------------------------------------------ in process

@pytest.fixture(scope="module")
def validator(rules_dir):
    quiet_grpc_logs()
    return Validator([rules_dir], raw=True)


def test_reload_under_load_loses_no_call(validator, rules_dir):
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, rate_limit=0, reload_interval=0)
    with ServerThread(config, validator=validator) as server:
        results, errors, stop = [], [], threading.Event()

        def load(kind):
            with Client(server.address, timeout=10, retries=0) as c:
                while not stop.is_set():
                    try:
                        if kind == "unary":
                            results.append(c.validate("Bash", {"command": "frobnicate"}, cwd=WS))
                        elif kind == "batch":
                            results.extend(c.validate_batch([("Bash", {"command": "frobnicate"})] * 20))
                        else:
                            with c.stream() as s:
                                fs = [s.submit("Bash", {"command": "frobnicate"}, cwd=WS) for _ in range(50)]
                                results.extend(f.result(10) for f in fs)
                    except CallError as e:
                        errors.append(e)

        threads = [threading.Thread(target=load, args=(k,)) for k in ("unary", "unary", "batch", "stream")]
        for t in threads:
            t.start()
        first = validator.generation
        verdict_of = {first: "deny"}
        with Client(server.address, timeout=20, admin_token_file=server.admin_token_file) as admin:
            for i, text in enumerate((FROB_ALLOW, FROB_DENY, FROB_ALLOW)):
                time.sleep(0.2)
                (rules_dir / "test.toml").write_text(text)
                gen = admin.reload_policy().policy_generation
                verdict_of[gen] = "allow" if text == FROB_ALLOW else "deny"
        time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(30)
        (rules_dir / "test.toml").write_text(FROB_DENY)
        validator.reload()
    assert not errors, errors[:3]
    assert len(results) > 100
    assert all(r.error is None for r in results)
    # Every answer is the one its policy generation gives: no mix of old and new rules.
    assert {r.policy_generation for r in results} <= set(verdict_of)
    assert all(r.verdict == verdict_of[r.policy_generation] for r in results)
    assert max(r.policy_generation for r in results) == first + 3


def test_shutdown_answers_in_flight_calls_and_goes_not_serving(validator):
    async def slow(p):
        await asyncio.sleep(0.8)
        return EscalationResult("deny", "slow expert says no", "expert.no", "expert", "esc-1")

    config = ServerConfig(port=0, metrics_port=0, local_socket=False, grace=5)
    server = ServerThread(config, validator=validator, escalator=slow).start()
    with Client(server.address, timeout=10, retries=0) as c:
        box = {}
        t = threading.Thread(target=lambda: box.setdefault("r", c.validate("mcp__x__y", {"a": 1}, cwd=WS)))
        with c.stream() as s:
            in_stream = s.submit("mcp__x__y", {"b": 2}, cwd=WS)
            t.start()
            time.sleep(0.3)
            stopped = asyncio.run_coroutine_threadsafe(server.server.stop(5), server.loop)
            time.sleep(0.1)
            with grpc.insecure_channel(server.address) as ch:
                try:
                    status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2).status
                    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.UNAVAILABLE
            t.join(10)
            assert box["r"].verdict == "deny" and box["r"].tier == "expert"
            assert in_stream.result(10).verdict == "deny"
            stopped.result(10)
        with pytest.raises(CallError) as e:
            c.validate("Bash", {"command": "ls"}, cwd=WS, timeout=2)
        assert e.value.code == grpc.StatusCode.UNAVAILABLE
    server.loop.call_soon_threadsafe(server.loop.stop)


def test_metrics_endpoint(validator):
    config = ServerConfig(port=0, metrics_port=ANY_PORT, local_socket=False, rate_limit=0)
    with ServerThread(config, validator=validator) as server:
        with Client(server.address, timeout=5) as c:
            for _ in range(3):
                c.validate("Bash", {"command": "git log --oneline"}, cwd=WS)
            c.validate("Bash", {"command": "rm -rf ~"}, cwd=WS)
            c.validate_batch([("Bash", {"command": "ls"})] * 5)
            with c.stream() as s:
                [f.result(5) for f in [s.submit("Bash", {"command": "pwd"}) for _ in range(4)]]
            with pytest.raises(CallError):
                c.validate("", {})
        # The server records an RPC once it has answered it: the last one's record can
        # come just after the client has the answer.
        deadline = time.monotonic() + 30
        while True:
            m = scrape(server.server.metrics_port)
            if (sample(m, "lighthouse_rpc_duration_seconds_count", method="Validate") >= 5
                    and sample(m, "lighthouse_errors_total", method="Validate", code="INVALID_ARGUMENT") >= 1
                    or time.monotonic() > deadline):
                break
            time.sleep(0.05)
    assert sample(m, "lighthouse_rpc_duration_seconds_count", method="Validate") == 5
    assert sample(m, "lighthouse_rpc_duration_seconds_count", method="ValidateBatch") == 1
    assert sample(m, "lighthouse_rpc_duration_seconds_count", method="ValidateStream") == 4
    assert sample(m, "lighthouse_decision_duration_seconds_count", operation="validation") == 13
    assert sample(m, "lighthouse_decision_duration_seconds_bucket", operation="validation", le="+Inf") == 13
    assert sample(m, "lighthouse_decisions_total", verdict="deny", tier="rules") >= 1
    assert sample(m, "lighthouse_decisions_total", verdict="allow", tier="cache") >= 2
    assert sample(m, "lighthouse_errors_total", method="Validate", code="INVALID_ARGUMENT") == 1
    assert sample(m, "lighthouse_in_flight_calls", method="Validate") == 0
    assert 0 < sample(m, "lighthouse_cache_hit_ratio") < 1
    assert sample(m, "lighthouse_policy_generation") == validator.generation
    assert sample(m, "lighthouse_rules") > 0
    assert ("lighthouse_info", (("implementation", validator.compiled and "compiled" or "pure"),
                                ("version", __import__("lighthouse").__version__))) in m


def test_local_socket_endpoint_answers_from_the_same_server(validator, tmp_path):
    from lighthouse.localsock import ask
    path = str(tmp_path / "run" / "lighthouse.sock")
    config = ServerConfig(port=0, metrics_port=0, socket=path)
    # Plain asyncio: start_local_server() sets an attribute on the loop's Server object,
    # which uvloop's Server does not allow; under `lighthouse serve` (uvloop) the endpoint
    # is skipped with a warning until lighthouse.server.local stops doing that.
    with ServerThread(config, validator=validator, uvloop=False) as server:
        assert server.server.socket_path == path
        reply = ask({"tool": "Bash", "input": {"command": "rm -rf ~"}, "cwd": WS, "id": 3}, path)
        assert reply["verdict"] == "deny" and reply["id"] == 3 and reply["rule_id"]
        assert ask({"tool": "mcp__a__b", "input": {}, "cwd": WS}, path)["verdict"] == "ask"
        assert server.server.stats.snapshot()["decisions"]


# ------------------------------------------------------------------ connection floods

SERVER_FDS = 512        # the server's RLIMIT_NOFILE, soft and hard, in the flood test


def _fresh_stub(address):
    """A stub on a connection of its own (not shared through gRPC's subchannel pool)."""
    channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
    return channel, pb_grpc.ValidatorStub(channel)


@pytest.mark.timeout(120)
def test_idle_connection_flood_does_not_starve_legitimate_clients():
    """Thousands of idle TCP connections (more than the server has file descriptors) used
    to exhaust them: gRPC stopped accepting for as long as its 120 s handshake timeout, and
    new clients got DEADLINE_EXCEEDED. With the connection cap under the fd limit and a
    short handshake timeout, a client already connected is answered throughout, and a new
    one within the handshake timeout."""
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2500
    if soft < want + 200 and hard >= want + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want + 200, hard))
    flood = min(want, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200)
    if flood < 3 * SERVER_FDS:
        pytest.skip("this process may not open enough file descriptors for the flood")
    call = tool_call("Bash", "ls")
    socks = []
    with ServerProcess("--handshake-timeout", "1", metrics=False, fd_limit=SERVER_FDS) as server:
        server.wait_ready()
        old_channel, old = _fresh_stub(server.address)
        new_channel = None
        try:
            assert old.Validate(call, timeout=10).verdict == pb.VERDICT_ALLOW
            for _ in range(flood):
                s = socket.socket()
                s.setblocking(False)
                socks.append(s)
                try:
                    s.connect(("127.0.0.1", server.port))
                except BlockingIOError:
                    pass
            t0 = time.monotonic()
            for _ in range(5):
                assert old.Validate(call, timeout=2).verdict == pb.VERDICT_ALLOW
            assert time.monotonic() - t0 < 5
            # A new connection waits at most for the flood's connections to time out.
            new_channel, new = _fresh_stub(server.address)
            t0 = time.monotonic()
            assert new.Validate(call, timeout=10, wait_for_ready=True).verdict == pb.VERDICT_ALLOW
            assert time.monotonic() - t0 < 10
            assert server.proc.poll() is None
        finally:
            for s in socks:
                s.close()
            old_channel.close()
            if new_channel is not None:
                new_channel.close()
    assert "File descriptor limit reached" not in server.log()
