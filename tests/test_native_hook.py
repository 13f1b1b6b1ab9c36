"""The native hook client (lighthouse/hooks/native/lighthouse-hook) against the Python hook
(`python -m lighthouse.hooks.claude_code`): the same events, the same real server (or none,
or one that refuses, or one that misbehaves), and their stdout compared byte for byte.

The corpus runs compare the native program's stdout with what the Python hook's main()
prints for the same event (``json.dumps(claude_code.run(...)) + "\\n"``, in this process,
against the same server), so that hundreds of events cost seconds; a sample runs both as
subprocesses too, and the cases where the native program hands over to the Python hook run
both programs as Claude Code would."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from lighthouse import Validator
from lighthouse.hooks import claude_code
from lighthouse.hooks.install import native_hook_path
from lighthouse.server.local import validator_decide

from conftest import CORPUS, ROOT, load_corpus
from test_hook import FROB, HeldEscalator, event
from test_local_server import ServerThread

NATIVE = native_hook_path()
PYTHON = [sys.executable, "-P", "-m", "lighthouse.hooks.claude_code"]
HOME = "/home/dev"
CHALLENGE = ROOT / "tests" / "data" / "challenge.jsonl"

pytestmark = pytest.mark.skipif(os.environ.get("LIGHTHOUSE_NO_NATIVE_HOOK", "") not in ("", "0"),
                                reason="built without the native hook (LIGHTHOUSE_NO_NATIVE_HOOK)")


def test_the_native_hook_was_built():
    """`make install` builds it: a missing executable is a failure, not a skip."""
    assert NATIVE is not None, "lighthouse/hooks/native/lighthouse-hook was not built (run make install)"


@pytest.fixture(scope="module")
def validator():
    return Validator(cache_size=4096)


@pytest.fixture
def env(sockdir, monkeypatch):
    monkeypatch.setenv("HOME", HOME)
    for k in ("LIGHTHOUSE_ADDR", "LIGHTHOUSE_RULES", "LIGHTHOUSE_TOKEN", "LIGHTHOUSE_TLS_CA",
              "LIGHTHOUSE_TLS_CERT", "LIGHTHOUSE_TLS_KEY"):
        monkeypatch.delenv(k, raising=False)
    sock = os.path.join(sockdir, "lighthouse.sock")
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", sock)
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    return e


@pytest.fixture
def server(env, validator):
    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], validator_decide(validator))
    yield srv
    srv.stop()


def _args(args):
    # The hook's 1.5 s to answer is short on a loaded test machine: tests of the server's
    # answer give it ample time (both hooks alike); tests of the deadline pass their own.
    return list(args) if "--timeout" in args else ["--timeout", "30"] + list(args)


def native(stdin, env, args=(), timeout=120):
    args = _args(args)
    proc = subprocess.run([NATIVE, "--python", sys.executable] + list(args), input=stdin, capture_output=True,
                          env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def python(stdin, env, args=(), timeout=120):
    args = _args(args)
    proc = subprocess.run(PYTHON + list(args), input=stdin, capture_output=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


def in_process(stdin, env, args=()):
    """What the Python hook prints for ``stdin``: its main() writes json.dumps(run()) + "\\n"."""
    out = claude_code.run(stdin[:claude_code.MAX_EVENT + 1], _args(args), env)
    return b"" if out is None else (json.dumps(out) + "\n").encode()


def corpus_events(path):
    return [(case["id"], event(case)) for case in load_corpus(path)]


def assert_same(name, a, b):
    assert a == b, "%s:\n native: %r\n python: %r" % (name, a[:600], b[:600])


# ---------------------------------------------------------------- server up

@pytest.mark.parametrize("path", [CORPUS, CHALLENGE], ids=["dev", "challenge"])
def test_identical_decisions_on_the_corpora_with_the_server_up(server, env, path):
    events = corpus_events(path)
    assert len(events) > 200
    verdicts = set()
    for cid, ev in events:
        want = in_process(ev, env)
        assert_same(cid, native(ev, env), want)
        verdicts.add(json.loads(want)["hookSpecificOutput"]["permissionDecision"])
        assert b"decided locally" not in want, cid
    assert verdicts == {"allow", "ask", "deny"}


def test_both_programs_print_the_same_bytes(server, env):
    """The in-process comparison stands for the Python program: a sample as subprocesses."""
    for cid, ev in corpus_events(CORPUS)[::25]:
        assert_same(cid, native(ev, env), python(ev, env))


def test_the_server_gets_the_same_call(env, validator):
    calls = []
    decide = validator_decide(validator)

    def recording(call):
        calls.append(call)
        return decide(call)

    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], recording)
    try:
        ev = event({"tool": "Bash", "input": {"command": "ls\n  -la", "n": [1, 2.5e3, None, True]},
                    "cwd": "/home/dev/app"}, session_id="s\u00e9ss")
        pretty = json.dumps(json.loads(ev), indent=3).encode()      # newlines between tokens
        native(pretty, env, ["--agent-id", "agent-\u00e9"])
        in_process(pretty, env, ["--agent-id", "agent-\u00e9"])
    finally:
        srv.stop()
    assert len(calls) == 2
    assert calls[0] == calls[1]
    assert calls[0]["home"] == HOME and calls[0]["agent_id"] == "agent-\u00e9"


# ---------------------------------------------------------------- hand-made events

DEEP = b'{"tool_name": "Bash", "tool_input": {"command": "ls", "x": ' + b"[" * 600 + b"]" * 600 + b"}}"
EDGE = {
    "empty": b"",
    "whitespace": b" \n\t ",
    "truncated": b'{"tool_name": "Bash", "tool_input": {"command": "l',
    "not-json": b"rm -rf /",
    "array": b'["Bash", {"command": "ls"}]',
    "string": b'"PreToolUse"',
    "nul-bytes": b'{"tool_name": "Bash", "tool_input": {"command": "ls\x00 /"}}',
    "escaped-nul": b'{"tool_name": "Bash", "tool_input": {"command": "ls\\u0000 /"}}',
    "invalid-utf8": b'{"tool_name": "Bash", "tool_input": {"command": "ls \xff\xfe"}}',
    "overlong-utf8": b'{"tool_name": "Bash", "tool_input": {"command": "\xc0\xaf etc"}}',
    "utf8-surrogate": b'{"tool_name": "Bash", "tool_input": {"command": "rm \xed\xa0\x80"}}',
    "lone-surrogate-escape": b'{"tool_name": "Bash", "tool_input": {"command": "rm -rf / \\ud800"}}',
    "surrogate-pair": b'{"tool_name": "Bash", "tool_input": {"command": "echo \\ud83d\\ude00 \xf0\x9f\x98\x80"}}',
    "bom": b'\xef\xbb\xbf{"tool_name": "Bash", "tool_input": {"command": "ls"}}',
    "utf16": '{"tool_name": "Bash", "tool_input": {"command": "ls"}}'.encode("utf-16"),
    "nan": b'{"tool_name": "Bash", "tool_input": {"command": "ls", "timeout": NaN}}',
    "big-number": b'{"tool_name": "Bash", "tool_input": {"command": "ls", "timeout": 1e400, "n": -0}}',
    "deep": DEEP,
    "duplicate-keys": b'{"tool_name": "Read", "tool_name": "Bash", "tool_input": {"command": "ls"}, '
                      b'"tool_input": {"command": "rm -rf ~"}}',
    "no-tool": b'{"tool_input": {"command": "ls"}}',
    "empty-tool": b'{"tool_name": "", "tool_input": {"command": "ls"}}',
    "tool-not-string": b'{"tool_name": 7, "tool_input": {"command": "ls"}}',
    "input-not-object": b'{"tool_name": "Bash", "tool_input": "rm -rf /"}',
    "other-event": b'{"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}}',
    "event-null": b'{"hook_event_name": null, "tool_name": "Bash", "tool_input": {"command": "ls"}}',
    "escaped-event": b'{"hook_event_name": "PreTool\\u0055se", "tool_name": "Bash", "tool_input": {"command": "ls"}}',
    "no-cwd": b'{"tool_name": "Bash", "tool_input": {"command": "cat notes.txt"}}',
    "empty-cwd": b'{"tool_name": "Bash", "cwd": "", "tool_input": {"command": "cat notes.txt"}}',
    "relative-cwd": b'{"tool_name": "Bash", "cwd": "app", "tool_input": {"command": "ls"}}',
    "cwd-not-string": b'{"tool_name": "Bash", "cwd": ["/"], "tool_input": {"command": "ls"}}',
    "session-not-string": b'{"tool_name": "Bash", "session_id": 5, "tool_input": {"command": "ls"}}',
    "trailing-garbage": b'{"tool_name": "Bash", "tool_input": {"command": "ls"}} x',
    "two-objects": b'{"tool_name": "Bash", "tool_input": {"command": "ls"}}{}',
    "unknown-tool": b'{"tool_name": "Teleport", "tool_input": {"to": "prod"}}',
    "mcp": b'{"tool_name": "mcp__db__query", "tool_input": {"sql": "DROP TABLE users"}}',
    "unicode-path": '{"tool_name": "Write", "tool_input": {"file_path": "/etc/\u00e9\u4e2d", "content": "x"}}'
                    .encode(),
    "control-in-string": b'{"tool_name": "Bash", "tool_input": {"command": "ls\x01"}}',
    "long-command": json.dumps({"tool_name": "Bash", "tool_input": {"command": "echo " + "a" * 300000}}).encode(),
    "many-quotes": json.dumps({"tool_name": "Bash", "tool_input": {"command": '"\\' * 50000}}).encode(),
}


@pytest.mark.parametrize("name", sorted(EDGE))
def test_hand_made_events_get_the_same_answer(server, env, name):
    ev = EDGE[name]
    got = native(ev, env)
    assert_same(name, got, python(ev, env))
    assert json.loads(got)["hookSpecificOutput"]["permissionDecision"] in ("allow", "ask", "deny")


@pytest.mark.parametrize("args", [["--defer"], ["--timeout", "20", "--wait=40"], ["--agent-id=x", "--defer"],
                                  ["--bogus"], ["--timeout", "nan"], ["--timeout", "0"], ["--wait"],
                                  ["--tls-cert", "c.pem"], ["-h"], ["--socket", "--help"]])
def test_options_get_the_same_answer(server, env, args):
    for ev in (EDGE["no-cwd"], event({"tool": "Bash", "input": {"command": "rm -rf /"}, "cwd": "/home/dev"})):
        assert_same(repr(args), native(ev, env, args), python(ev, env, args))


def test_defer_prints_nothing_for_an_allow(server, env):
    ev = event({"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app"})
    assert native(ev, env, ["--defer"]) == b""


def test_an_event_over_the_size_cap_is_denied_unread(server, env):
    ev = b'{"tool_name": "Bash", "tool_input": {"command": "' + b"a" * claude_code.MAX_EVENT + b'"}}'
    got = native(ev, env)
    assert_same("huge", got, python(ev, env))
    out = json.loads(got)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "exceeds" in out["permissionDecisionReason"]


def test_the_reason_is_cut_like_the_python_hooks(env):
    """A server reason past MAX_REASON code points, with characters outside the BMP."""
    reason = "\U0001f600\u00e9\"\\\n\x7f" * 1000

    def decide(call):
        return {"verdict": "ask", "reason": reason, "rule_id": "r\u00e9", "tier": "rules", "generation": 1}

    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], decide)
    try:
        ev = EDGE["no-cwd"]
        got = native(ev, env)
        assert_same("long reason", got, in_process(ev, env))
        assert_same("long reason", got, python(ev, env))
    finally:
        srv.stop()


# ---------------------------------------------------------------- server down, refusing

def test_server_down_both_decide_locally_alike(env):
    cases = corpus_events(CORPUS)[::20] + corpus_events(CHALLENGE)[::60]
    for cid, ev in cases:
        got = native(ev, env)
        assert b"decided locally" in got, cid
        assert_same(cid, got, in_process(ev, env))


def test_the_python_hook_missing_is_a_deny(env):
    ev = event({"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app"})
    proc = subprocess.run([NATIVE, "--python", "/nonexistent/python3"], input=ev, capture_output=True, env=env,
                          timeout=60)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "/nonexistent/python3" in out["permissionDecisionReason"]


@pytest.mark.parametrize("name", ["too_large", "rate_limited", "invalid_cwd"])
def test_a_refusing_server_is_a_deny_from_both(env, validator, name):
    decide = validator_decide(validator)
    kw = {}
    ev = event({"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app"})
    if name == "too_large":
        kw["max_request"] = 200
        ev = event({"tool": "Write", "input": {"file_path": "/home/dev/app/a", "content": "x" * 5000},
                    "cwd": "/home/dev/app"})
    elif name == "rate_limited":
        import grpc

        from lighthouse.server.core import CallRejected

        def decide(call):      # noqa: F811 - the refusing decide of this case
            raise CallRejected(grpc.StatusCode.RESOURCE_EXHAUSTED, "agent over its rate limit")
    else:
        ev = EDGE["relative-cwd"]
    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], decide, **kw)
    try:
        got = native(ev, env)
        assert_same(name, got, in_process(ev, env))
        assert_same(name, got, python(ev, env))
    finally:
        srv.stop()
    out = json.loads(got)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "refused" in out["permissionDecisionReason"]


# ---------------------------------------------------------------- misbehaving servers

class RawServer:
    """A Unix socket server that answers each connection with ``script(conn)``."""

    def __init__(self, path, script):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.script = script
        self.stop_event = threading.Event()
        self.conns = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            f = conn.makefile("rb")
            f.readline()
            self.script(conn, self.stop_event)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop_event.set()
        self.thread.join(5)
        self.sock.close()


def _say(*lines, hold=0.0):
    def script(conn, stop):
        for line in lines:
            conn.sendall(line)
        stop.wait(hold)
    return script


PENDING = b'{"pending": true, "deadline": 1.0, "fallback": "deny", "reason": "escalated to the policy", ' \
          b'"rule_id": "p.x"}\n'
MISBEHAVING = {
    # no pending line: the server does not answer, so both decide locally
    "garbage": _say(b"<html>nope</html>\n"),
    "array": _say(b'["allow"]\n'),
    "closes": _say(),
    "hangs": _say(hold=30.0),
    "partial-line-then-close": _say(b'{"verdict": "allow"'),
    # verdicts and refusals in odd shapes
    "escaped-verdict": _say(b'{"verdict": "\\u0061sk", "reason": null, "rule_id": true}\n'),
    "bad-verdict": _say(b'{"verdict": "ALLOW", "reason": "x"}\n'),
    "error-number": _say(b'{"error": "", "message": 12}\n'),
    "two-pendings": _say(PENDING, PENDING),
    # pending, then: the fail mode, never allow, never a local decision
    "pending-then-garbage": _say(PENDING, b"garbage\n"),
    "pending-then-close": _say(PENDING),
    "pending-then-string": _say(PENDING, b'"allow"\n'),
    "pending-then-answer": _say(PENDING, b'{"verdict": "ask", "reason": "policy says ask", "rule_id": "p.y"}\n'),
    "pending-no-deadline": _say(b'{"pending": true, "fallback": "allow"}\n', hold=30.0),
    "pending-then-silence": _say(PENDING, hold=30.0),
    "pending-long-deadline": _say(b'{"pending": true, "deadline": 600, "fallback": "ask"}\n', hold=30.0),
}


@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_a_misbehaving_server_gets_the_same_answer(env, name):
    srv = RawServer(env["LIGHTHOUSE_SOCKET"], MISBEHAVING[name])
    ev = event({"tool": "Bash", "input": {"command": "ls"}, "cwd": "/home/dev/app"})
    args = ["--timeout", "1", "--wait", "3"]
    try:
        t0 = time.monotonic()
        got = native(ev, env, args)
        took = time.monotonic() - t0
        want = python(ev, env, args)
    finally:
        srv.close()
    # the seconds waited are measured, not fixed
    norm = [re.sub(rb"within [0-9.]+s", b"within Ns", o) for o in (got, want)]
    assert_same(name, norm[0], norm[1])
    out = json.loads(got)["hookSpecificOutput"]
    if name.startswith("pending") or name == "two-pendings":
        assert out["permissionDecision"] in ("ask", "deny") and "decided locally" not in out["permissionDecisionReason"]
    elif name in ("garbage", "array", "closes", "hangs", "partial-line-then-close"):
        assert "decided locally" in out["permissionDecisionReason"]
    assert took < 60


def test_the_native_hook_waits_for_an_escalation(held_server, env):
    from lighthouse.server.core import EscalationResult
    esc = HeldEscalator(EscalationResult("deny", "the slow tier says no", "test.slow", tier="policy"))
    held_server(esc)
    ev = event(FROB)
    proc = subprocess.Popen([NATIVE, "--python", sys.executable, "--timeout", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdin.write(ev)
    proc.stdin.close()
    proc.stdin = None
    try:
        assert esc.called.wait(60), "the call never reached the slow tier"
        time.sleep(2.0)         # past the hook's --timeout: it must still be waiting
        assert proc.poll() is None
        esc.release.set()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    hso = json.loads(out)["hookSpecificOutput"]
    assert hso["permissionDecision"] == "deny"
    assert "the slow tier says no" in hso["permissionDecisionReason"]


@pytest.fixture
def held_server(env):
    from lighthouse.server.app import ServerConfig
    from serverkit import ServerThread as GrpcServerThread
    started = []

    def start(escalator):
        config = ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"])
        srv = GrpcServerThread(config, escalator=escalator).start()
        srv.server.decider.escalation_timeout = 60.0
        started.append((srv, escalator))
        return srv

    yield start
    for srv, escalator in started:
        escalator.release.set()
        srv.stop()


# ---------------------------------------------------------------- as installed

def test_the_installed_native_command_runs_and_fails_closed(server, env, tmp_path):
    from lighthouse.hooks.install import hook_command, install, settings_path
    path = settings_path(tmp_path)
    install(path, hook_command(socket=server.path, native=NATIVE))
    cmd = json.loads(open(path).read())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert NATIVE in cmd
    env.pop("LIGHTHOUSE_SOCKET")
    # the agent writes a json.py where the hook runs: neither hook may run it
    (tmp_path / "json.py").write_text("raise SystemExit('hijacked')\n")
    ev = event({"tool": "Bash", "input": {"command": "rm -rf /"}, "cwd": "/home/dev/app"})
    proc = subprocess.run(cmd + " --timeout 30", shell=True, input=ev, capture_output=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    # the native client gone (make clean, another machine): exit 2, which blocks the call
    gone = hook_command(native=str(tmp_path / "gone" / "lighthouse-hook"))
    proc = subprocess.run(gone, shell=True, input=ev, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and b"is missing" in proc.stderr
    # the interpreter gone with no server to ask: the native client denies
    server.stop()
    lost = hook_command(native=NATIVE, python=str(tmp_path / "gone" / "python"))
    proc = subprocess.run(lost, shell=True, input=ev, capture_output=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
