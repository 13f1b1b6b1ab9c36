"""The local socket endpoint (lighthouse.server.local) and its client (lighthouse.localsock):
a real asyncio Unix-socket server in a background thread, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import threading
import time

import pytest

from lighthouse import Validator
from lighthouse.localsock import Undecided, Unavailable, ask, default_socket_path, resolve_socket_path
from lighthouse.server.local import SocketInUse, start_local_server, stop_local_server, validator_decide

WS = "/home/dev/app"
SAFE = {"tool": "Bash", "input": {"command": "ls -la src/"}, "cwd": WS}                     # corpus d001
RISKY = {"tool": "Bash", "input": {"command": "chmod 777 scripts/deploy.sh"}, "cwd": WS}    # d011
DANGEROUS = {"tool": "Bash", "input": {"command": "rm -rf /"}, "cwd": WS}                   # d014


class ServerThread:
    """start_local_server on its own event loop in a thread; fails the test if the loop
    logged an unhandled exception."""

    def __init__(self, path, decide, loop_factory=asyncio.new_event_loop, **kw):
        self.path = path
        self.errors = []
        self.loop = loop_factory()
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(ctx))
        started = threading.Event()
        failure = []

        def run():
            asyncio.set_event_loop(self.loop)
            try:
                self.server = self.loop.run_until_complete(start_local_server(path, decide, **kw))
            except BaseException as e:  # reported to the test thread
                failure.append(e)
                started.set()
                return
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10), "local server did not start"
        if failure:
            self.thread.join(5)
            self.loop.close()
            raise failure[0]

    def stop(self):
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(stop_local_server(self.server), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        assert not self.errors, "event loop logged: %r" % self.errors


@pytest.fixture(scope="module")
def shared_validator():
    return Validator(cache_size=1024)


@pytest.fixture
def serve(sockdir, shared_validator):
    servers = []

    def start(decide=None, name="lighthouse.sock", **kw):
        srv = ServerThread(os.path.join(sockdir, name), decide or validator_decide(shared_validator), **kw)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


def exchange(path, payload, timeout=5.0):
    """Send raw bytes, read reply lines until the server closes or stays quiet."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def line(obj):
    return json.dumps(obj).encode() + b"\n"


# ---------------------------------------------------------------- decisions

def test_decisions_match_the_validator(serve, shared_validator):
    srv = serve()
    for call, expected in ((SAFE, "allow"), (RISKY, "ask"), (DANGEROUS, "deny")):
        reply = ask(call, srv.path)
        d = shared_validator.check(call["tool"], call["input"], call["cwd"])
        assert reply["verdict"] == d.verdict == expected
        assert reply["rule_id"] == d.rule_id and reply["reason"] == d.reason
        assert reply["tier"] in ("rules", "cache", "fallback")
        assert reply["generation"] == shared_validator.generation


def test_many_requests_on_one_connection_answered_in_order_with_ids(serve):
    srv = serve()
    replies = exchange(srv.path, b"".join(line(dict(c, id=i)) for i, c in enumerate([SAFE, RISKY, DANGEROUS] * 3)))
    assert [r["id"] for r in replies] == list(range(9))
    assert [r["verdict"] for r in replies] == ["allow", "ask", "deny"] * 3


def test_decide_gets_every_field(serve):
    seen = []

    def decide(call):
        seen.append(call)
        return {"verdict": "ask", "reason": "r", "rule_id": "x", "tier": "rules", "generation": 3}

    srv = serve(decide)
    reply = ask({"tool": "Read", "input": {"file_path": "a"}, "cwd": WS, "session_id": "s1",
                 "agent_id": "a1", "home": "/home/dev", "extra": "ignored"}, srv.path)
    assert reply == {"verdict": "ask", "reason": "r", "rule_id": "x", "tier": "rules", "generation": 3}
    assert seen == [{"tool": "Read", "input": {"file_path": "a"}, "cwd": WS, "session_id": "s1",
                     "agent_id": "a1", "home": "/home/dev"}]


def test_async_decide_is_awaited(serve):
    async def decide(call):
        await asyncio.sleep(0.01)
        return {"verdict": "deny", "reason": "escalated", "rule_id": "", "tier": "expert", "generation": 1}

    srv = serve(decide)
    assert ask(SAFE, srv.path)["verdict"] == "deny"


# ---------------------------------------------------------------- calls a slower tier decides

class Escalating:
    """What Decider.decide_local returns for an escalated call: an awaitable with the
    ``progress`` its pending line carries."""

    def __init__(self, coro, progress):
        self._coro = coro
        self.progress = progress

    def __await__(self):
        return self._coro.__await__()

    def close(self):
        self._coro.close()


def escalating(progress, delay=0.0, verdict="deny"):
    """A decide() that sends every call to a 'slower tier' answering after ``delay``
    seconds (never, when delay is None)."""
    async def later():
        if delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(delay)
        return {"verdict": verdict, "reason": "the slower tier decided", "rule_id": "t.slow", "tier": "policy",
                "generation": 1}

    return lambda call: Escalating(later(), progress)


PROGRESS = {"deadline": 31.0, "fallback": "ask", "reason": "no rule settles this call", "rule_id": ""}


def test_a_client_that_asks_is_told_its_call_is_pending_then_answered(serve):
    srv = serve(escalating(PROGRESS, 0.2))
    replies = exchange(srv.path, line(dict(SAFE, id=4, progress=True)) + line(dict(SAFE, id=5)))
    assert replies == [
        {"pending": True, "deadline": 31.0, "fallback": "ask", "reason": "no rule settles this call", "rule_id": "",
         "id": 4},
        {"verdict": "deny", "reason": "the slower tier decided", "rule_id": "t.slow", "tier": "policy",
         "generation": 1, "id": 4},
        # without "progress", no pending line: socat and older clients see one reply per request
        {"verdict": "deny", "reason": "the slower tier decided", "rule_id": "t.slow", "tier": "policy",
         "generation": 1, "id": 5}]


def test_a_fast_answer_has_no_pending_line(serve):
    srv = serve()
    assert [r["verdict"] for r in exchange(srv.path, line(dict(DANGEROUS, progress=True)))] == ["deny"]


def test_ask_waits_for_a_pending_call_past_its_timeout(serve):
    srv = serve(escalating(PROGRESS, 1.5))
    with pytest.raises(Unavailable):
        ask(SAFE, srv.path, timeout=0.5)            # without wait: no reply within the timeout
    reply = ask(SAFE, srv.path, timeout=0.5, wait=30)
    assert reply["verdict"] == "deny" and reply["tier"] == "policy"


@pytest.mark.parametrize("fallback", ["deny", "allow", None])
def test_ask_gives_up_at_the_announced_deadline_with_the_fail_mode(serve, fallback):
    progress = dict(PROGRESS, deadline=0.5, fallback=fallback)
    srv = serve(escalating(progress, None))
    t0 = time.monotonic()
    with pytest.raises(Undecided) as info:
        ask(SAFE, srv.path, timeout=5, wait=60)
    elapsed = time.monotonic() - t0
    # the deadline it announced plus a second of grace, not the 60 s the client would wait
    assert 1.4 < elapsed < 20
    assert info.value.fallback == ("deny" if fallback == "deny" else "ask")      # never allow
    assert info.value.pending["reason"] == "no rule settles this call"
    assert "was deciding this call but gave no decision (no decision within" in str(info.value)


def test_ask_gives_up_at_its_own_wait(serve):
    srv = serve(escalating(PROGRESS, None))
    t0 = time.monotonic()
    with pytest.raises(Undecided) as info:
        ask(SAFE, srv.path, timeout=0.5, wait=2.0)
    assert 1.9 < time.monotonic() - t0 < 20
    assert "it takes up to 31s, longer than this client waits (2.0s)" in str(info.value)


def test_a_server_that_closes_while_deciding_is_undecided_not_unavailable(serve):
    called = threading.Event()
    slow = escalating(PROGRESS, 1.0)

    def decide(call):
        called.set()
        return slow(call)

    srv = serve(decide, name="closing.sock")
    result = []

    def client():
        try:
            result.append(ask(SAFE, srv.path, timeout=10, wait=60))
        except Exception as e:
            result.append(e)

    t = threading.Thread(target=client)
    t.start()
    assert called.wait(30)
    srv.stop()                  # closes the connection before the slower tier answers
    t.join(30)
    err, = result
    assert isinstance(err, Undecided) and err.fallback == "ask", err
    assert "closed the connection" in str(err)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("payload, code, field", [
    (b"{not json\n", "bad_json", None),
    (b"\xff\xfe\n", "bad_json", None),
    (b"[" * 50000 + b"\n", "bad_json", None),
    (b"[1, 2]\n", "not_object", None),
    (b"\"Bash\"\n", "not_object", None),
    (line({"input": {"command": "ls"}}), "invalid_argument", "tool"),
    (line({"tool": "", "input": {}}), "invalid_argument", "tool"),
    (line({"tool": "Bash", "input": "rm -rf /"}), "invalid_argument", "input"),
    (line({"tool": "Bash"}), "invalid_argument", "input"),
    (line({"tool": "Bash", "input": {}, "cwd": 7}), "invalid_argument", "cwd"),
    (line({"tool": "Bash", "input": {}, "home": ["/"]}), "invalid_argument", "home"),
    (line({"tool": "Bash", "input": {}, "id": {"x": 1}}), "invalid_argument", "id"),
    (line({"tool": "Bash", "input": {}, "progress": "yes"}), "invalid_argument", "progress"),
])
def test_bad_requests_get_a_named_error_and_the_connection_goes_on(serve, payload, code, field):
    srv = serve()
    replies = exchange(srv.path, payload + line(DANGEROUS))
    assert replies[0]["error"] == code
    assert replies[0].get("field") == field
    assert "verdict" not in replies[0] and replies[0]["message"]
    assert replies[1]["verdict"] == "deny"


def test_oversized_line_is_refused_and_the_server_lives_on(serve):
    srv = serve(max_request=1024)
    big = line({"tool": "Write", "input": {"file_path": "x", "content": "a" * 5000}})
    replies = exchange(srv.path, big + line(SAFE))
    assert replies == [{"error": "too_large", "message": "request line exceeds 1024 bytes"}]
    # also without a newline in sight
    assert exchange(srv.path, b"x" * 10000)[0]["error"] == "too_large"
    assert ask(SAFE, srv.path)["verdict"] == "allow"


def test_blank_lines_are_skipped(serve):
    srv = serve()
    assert [r["verdict"] for r in exchange(srv.path, b"\n  \n" + line(SAFE))] == ["allow"]


def test_a_failing_decide_is_an_error_never_an_allow(serve):
    class Rejected(Exception):
        def __init__(self):
            super().__init__("agent a1 is over its rate limit")
            self.code = type("Code", (), {"name": "RESOURCE_EXHAUSTED"})()
            self.field = ""

    answers = iter([RuntimeError("boom"), {"verdict": "maybe"}, None, Rejected()])

    def decide(call):
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    srv = serve(decide)
    replies = exchange(srv.path, line(SAFE) * 3 + line(dict(SAFE, id="r4")))
    assert [r["error"] for r in replies] == ["internal", "internal", "internal", "resource_exhausted"]
    assert replies[3]["id"] == "r4" and "rate limit" in replies[3]["message"]
    assert all("verdict" not in r for r in replies)


def test_concurrent_clients(serve):
    srv = serve()
    calls = [SAFE, RISKY, DANGEROUS]
    results, errors = [], []

    def client(k):
        try:
            for i in range(10):
                call = calls[(k + i) % 3]
                results.append((call is SAFE and "allow" or call is RISKY and "ask" or "deny",
                                ask(call, srv.path)["verdict"]))
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 160 and all(want == got for want, got in results)


def test_idle_connections_are_closed(serve):
    srv = serve(idle_timeout=0.2)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(srv.path)
    assert s.recv(10) == b""            # closed by the server, not by our timeout
    s.close()


# ---------------------------------------------------------------- the socket file

def test_socket_is_private_and_removed_on_stop(sockdir, shared_validator):
    path = os.path.join(sockdir, "run", "lighthouse.sock")
    srv = ServerThread(path, validator_decide(shared_validator))
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    finally:
        srv.stop()
    assert not os.path.exists(path)


def test_serves_on_uvloop(sockdir, shared_validator):
    """The real server runs on uvloop, whose Server objects differ from asyncio's."""
    uvloop = pytest.importorskip("uvloop")
    path = os.path.join(sockdir, "lighthouse.sock")
    srv = ServerThread(path, validator_decide(shared_validator), loop_factory=uvloop.new_event_loop)
    try:
        assert ask(DANGEROUS, path)["verdict"] == "deny"
        assert exchange(path, b"{oops\n")[0]["error"] == "bad_json"
    finally:
        srv.stop()
    assert not os.path.exists(path)


def test_stale_socket_is_replaced(serve, sockdir):
    path = os.path.join(sockdir, "lighthouse.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)
    dead.close()                        # the file stays, nobody listens
    srv = serve()
    assert ask(SAFE, srv.path)["verdict"] == "allow"


def test_live_socket_is_not_stolen(serve, shared_validator):
    srv = serve()
    with pytest.raises(SocketInUse):
        ServerThread(srv.path, validator_decide(shared_validator))
    assert ask(SAFE, srv.path)["verdict"] == "allow"


def test_a_file_that_is_not_a_socket_is_left_alone(sockdir, shared_validator):
    path = os.path.join(sockdir, "lighthouse.sock")
    with open(path, "w") as fh:
        fh.write("keep me")
    with pytest.raises(FileExistsError):
        ServerThread(path, validator_decide(shared_validator))
    assert open(path).read() == "keep me"


def test_a_directory_others_can_write_is_refused(sockdir, shared_validator):
    shared = os.path.join(sockdir, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o777)
    with pytest.raises(PermissionError, match="writable by other users"):
        ServerThread(os.path.join(shared, "lighthouse.sock"), validator_decide(shared_validator))


# ---------------------------------------------------------------- the client

def test_client_unavailable_cases(sockdir):
    with pytest.raises(Unavailable, match="no server socket"):
        ask(SAFE, os.path.join(sockdir, "absent.sock"))
    plain = os.path.join(sockdir, "plain")
    open(plain, "w").close()
    with pytest.raises(Unavailable, match="not a socket"):
        ask(SAFE, plain)
    dead = os.path.join(sockdir, "dead.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(dead)
    s.close()
    with pytest.raises(Unavailable, match="cannot reach"):
        ask(SAFE, dead)


def test_client_refuses_a_socket_in_a_directory_others_can_write(sockdir):
    shared = os.path.join(sockdir, "shared")
    os.mkdir(shared)
    path = os.path.join(shared, "lighthouse.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    try:
        os.chmod(shared, 0o777)
        with pytest.raises(Unavailable, match="writable by other users"):
            ask(SAFE, path)
    finally:
        s.close()


def test_client_deadline_holds_when_the_server_never_answers(sockdir):
    path = os.path.join(sockdir, "mute.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen()
    try:
        with pytest.raises(Unavailable, match="no answer"):
            ask(SAFE, path, timeout=0.2)
    finally:
        s.close()


def test_socket_path_resolution():
    uid = os.getuid()
    assert default_socket_path({}) == "/tmp/lighthouse-%d/lighthouse.sock" % uid
    assert default_socket_path({"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/lighthouse.sock"
    assert default_socket_path({"XDG_RUNTIME_DIR": "relative"}) == "/tmp/lighthouse-%d/lighthouse.sock" % uid
    env = {"LIGHTHOUSE_SOCKET": "/x/env.sock", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert resolve_socket_path("/x/flag.sock", env) == "/x/flag.sock"
    assert resolve_socket_path(None, env) == "/x/env.sock"
    assert resolve_socket_path(None, {"XDG_RUNTIME_DIR": "/run/user/7"}) == "/run/user/7/lighthouse.sock"
