"""The Claude Code hook as Claude Code runs it (a subprocess per call, JSON on stdin and
stdout) with the local server up and down, and `lighthouse hook install`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from lighthouse import Validator, cli
from lighthouse.hooks import claude_code
from lighthouse.hooks.install import (HOOK_TIMEOUT, InstallError, hook_command, hook_timing, install,
                                      native_hook_path, settings_path, uninstall)
from lighthouse.server.app import ServerConfig
from lighthouse.server.core import EscalationResult
from lighthouse.server.local import validator_decide

from conftest import ROOT
from serverkit import ServerProcess
from serverkit import ServerThread as GrpcServerThread
from test_local_server import DANGEROUS, RISKY, SAFE, ServerThread

HOME = "/home/dev"      # the corpus's agent: its labels assume `~` is /home/dev
MODULE = [sys.executable, "-P", "-m", "lighthouse.hooks.claude_code"]
SCRIPT = [sys.executable, "-P", "-c", "import re, sys\nfrom lighthouse.cli import main\nsys.exit(main())",
          "hook", "claude-code"]        # what pip's console script does


def cli_command(**kw):
    """The command `lighthouse hook install` writes: the native client when it was built."""
    return hook_command(native=native_hook_path(), **kw)


def event(call, **extra):
    ev = {"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": call["cwd"],
          "permission_mode": "default", "hook_event_name": "PreToolUse",
          "tool_name": call["tool"], "tool_input": call["input"]}
    ev.update(extra)
    return json.dumps(ev).encode()


@pytest.fixture(scope="module")
def hook_validator():
    return Validator(cache_size=1024)


@pytest.fixture
def env(sockdir):
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    e["LIGHTHOUSE_SOCKET"] = os.path.join(sockdir, "lighthouse.sock")
    e["LIGHTHOUSE_SPOOL"] = os.path.join(sockdir, "spool.jsonl")   # the local decisions of this test's hooks
    e["HOME"] = HOME
    for k in ("LIGHTHOUSE_ADDR", "LIGHTHOUSE_RULES", "LIGHTHOUSE_TOKEN"):
        e.pop(k, None)
    return e


@pytest.fixture
def server(env, hook_validator):
    """The local endpoint up at $LIGHTHOUSE_SOCKET, recording the calls it decides."""
    decide = validator_decide(hook_validator)
    srv_calls = []

    def recording(call):
        srv_calls.append(call)
        return decide(call)

    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], recording)
    srv.calls = srv_calls
    yield srv
    srv.stop()


def run_hook(stdin, env, args=(), cmd=MODULE, timeout=60):
    # The hook's own deadline (1.5 s) is what Claude Code's user waits at most; on a
    # loaded test machine starting grpc and a TLS handshake can take longer, and the hook
    # would then decide locally. Tests of the server's answer give it ample time; tests of
    # the deadline pass their own --timeout.
    if cmd == MODULE and "--timeout" not in args:
        args = ["--timeout", "30"] + list(args)
    proc = subprocess.run(cmd + list(args), input=stdin, capture_output=True, env=env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert set(out) == {"hookSpecificOutput"}
    hso = out["hookSpecificOutput"]
    assert hso["hookEventName"] == "PreToolUse"
    assert hso["permissionDecision"] in ("allow", "ask", "deny")
    assert isinstance(hso["permissionDecisionReason"], str) and hso["permissionDecisionReason"]
    return hso


# ---------------------------------------------------------------- server up

@pytest.mark.parametrize("cmd", [MODULE, SCRIPT], ids=["module", "console-script"])
def test_server_up_decides(server, env, hook_validator, cmd):
    for call, expected in ((SAFE, "allow"), (RISKY, "ask"), (DANGEROUS, "deny")):
        out = run_hook(event(call), env, cmd=cmd)
        d = hook_validator.check(call["tool"], call["input"], call["cwd"], None, HOME)
        assert out["permissionDecision"] == d.verdict == expected
        assert out["permissionDecisionReason"] == "lighthouse: %s [rule %s]" % (d.reason, d.rule_id)
    assert len(server.calls) == 3


def test_server_gets_the_session_home_and_agent(server, env):
    run_hook(event(SAFE), env)
    assert server.calls == [{"tool": "Bash", "input": SAFE["input"], "cwd": SAFE["cwd"], "session_id": "sess-1",
                             "agent_id": "claude-code", "home": HOME}]


def test_socket_option_wins_over_the_environment(server, env):
    flag_path = server.path
    env["LIGHTHOUSE_SOCKET"] = "/nonexistent/lighthouse.sock"
    out = run_hook(event(DANGEROUS), env, ["--socket", flag_path])
    assert out["permissionDecision"] == "deny" and "decided locally" not in out["permissionDecisionReason"]


# ---------------------------------------------------------------- server down

def test_server_down_decides_locally_with_the_same_rules(env, hook_validator):
    assert not os.path.exists(env["LIGHTHOUSE_SOCKET"])
    for call, expected in ((SAFE, "allow"), (RISKY, "ask"), (DANGEROUS, "deny")):
        out = run_hook(event(call), env)
        d = hook_validator.check(call["tool"], call["input"], call["cwd"], None, HOME)
        assert out["permissionDecision"] == d.verdict == expected
        assert out["permissionDecisionReason"] == (
            "lighthouse server unreachable; decided locally: %s [rule %s]" % (d.reason, d.rule_id))


def test_offline_never_allows_dangerous_calls(env, corpus, monkeypatch):
    """Every corpus call labelled deny, decided by the hook with no server: never allow."""
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", env["LIGHTHOUSE_SOCKET"])
    monkeypatch.setenv("LIGHTHOUSE_SPOOL", env["LIGHTHOUSE_SPOOL"])
    monkeypatch.setenv("HOME", HOME)
    dangerous = [c for c in corpus if c["expect"] == "deny"]
    assert len(dangerous) > 50
    for case in dangerous:
        out = claude_code.run(event(case), environ=dict(os.environ))["hookSpecificOutput"]
        assert out["permissionDecision"] != "allow", case["id"]
        assert "decided locally" in out["permissionDecisionReason"]


def test_server_that_does_not_answer_in_time(sockdir, env):
    mute = socket.socket(socket.AF_UNIX)
    mute.bind(env["LIGHTHOUSE_SOCKET"])
    mute.listen()
    try:
        t0 = time.monotonic()
        out = run_hook(event(DANGEROUS), env, ["--timeout", "0.3"])
        elapsed = time.monotonic() - t0
    finally:
        mute.close()
    assert out["permissionDecision"] == "deny"
    assert "unreachable; decided locally" in out["permissionDecisionReason"]
    assert elapsed < 10


def test_a_server_error_reply_is_a_deny_not_a_cue_to_decide_locally(env):
    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], lambda call: {"verdict": "yes"})
    try:
        out = run_hook(event(SAFE), env)
    finally:
        srv.stop()
    assert out == {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason":
                   "lighthouse server refused this call (internal: the server produced no valid verdict)"}


def test_unreachable_grpc_address_falls_back_too(env):
    env["LIGHTHOUSE_ADDR"] = "127.0.0.1:1"
    out = run_hook(event(DANGEROUS), env)
    assert out["permissionDecision"] == "deny"
    assert "unreachable; decided locally" in out["permissionDecisionReason"]


def test_broken_local_rules_ask_a_person(env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]]\nid = 'x'\nverdict = 'sometimes'\n")
    out = run_hook(event(SAFE), env, ["--rules", str(bad)])
    assert out["permissionDecision"] == "ask"
    assert "local rules could not be loaded" in out["permissionDecisionReason"]


# ---------------------------------------------------------------- calls the server escalates

FROB = {"tool": "Bash", "input": {"command": "frobnicate --all"}, "cwd": "/home/dev/app"}     # no rule knows it


class HeldEscalator:
    """A slower tier that holds each call until the test releases it, then answers
    ``result`` (None: it declines, and the server gives its fail mode). ``called`` is set
    when a call reaches it, which is after the server has said the call is pending."""

    def __init__(self, result=None):
        self.called = threading.Event()
        self.release = threading.Event()
        self.result = result

    async def __call__(self, pending):
        self.called.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return self.result


@pytest.fixture
def held_server(env):
    """start(escalator, escalation_timeout, fallback): a real server (gRPC on a free
    port, the local socket at $LIGHTHOUSE_SOCKET) whose slower tier is ``escalator``."""
    started = []

    def start(escalator, escalation_timeout=60.0, fallback="ask"):
        config = ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"], fallback=fallback)
        srv = GrpcServerThread(config, escalator=escalator).start()
        srv.server.decider.escalation_timeout = escalation_timeout
        started.append((srv, escalator))
        return srv

    yield start
    for srv, escalator in started:
        escalator.release.set()
        srv.stop()


def _over(way, env, srv):
    """Make the hook reach ``srv`` over ``way``: its socket, or gRPC alone."""
    if way == "grpc":
        env["LIGHTHOUSE_SOCKET"] = os.path.join(os.path.dirname(env["LIGHTHOUSE_SOCKET"]), "none.sock")
        env["LIGHTHOUSE_ADDR"] = srv.address


def start_hook(stdin, env, args=()):
    proc = subprocess.Popen(MODULE + list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    proc.stdin.write(stdin)
    proc.stdin.close()
    proc.stdin = None           # written and closed: communicate() only reads
    return proc


def hook_output(proc, timeout=90):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)["hookSpecificOutput"]


@pytest.mark.parametrize("way", ["socket", "grpc"])
def test_the_hook_waits_for_a_decision_the_server_is_making(held_server, env, way):
    """The server says at once that the call went to a slower tier; the hook waits for
    the decision long past its --timeout (the old hook decided locally at the timeout)."""
    esc = HeldEscalator(EscalationResult("deny", "the slow tier says no", "test.slow", tier="policy"))
    srv = held_server(esc)
    _over(way, env, srv)
    ack = 2.0 if way == "socket" else 5.0       # gRPC: the hook imports grpc first
    proc = start_hook(event(FROB), env, ["--timeout", str(ack)])
    try:
        assert esc.called.wait(60), "the call never reached the slower tier"
        time.sleep(ack + 1.0)
        assert proc.poll() is None, "the hook stopped waiting: %r" % (proc.communicate(),)
    finally:
        esc.release.set()
    out = hook_output(proc)
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"] == "lighthouse: the slow tier says no [rule test.slow]"


@pytest.mark.parametrize("fallback", ["ask", "deny"])
def test_past_its_deadline_the_server_answers_its_fail_mode(held_server, env, fallback):
    """A slower tier that never answers: the server's own deadline gives the call its
    fail mode, and the hook, which waited for it, prints that answer."""
    srv = held_server(HeldEscalator(), escalation_timeout=2.0, fallback=fallback)
    t0 = time.monotonic()
    out = run_hook(event(FROB), env, ["--timeout", "5"])
    assert time.monotonic() - t0 >= 2.0
    assert out["permissionDecision"] == fallback
    reason = out["permissionDecisionReason"]
    assert reason.startswith("lighthouse: ") and "escalation timed out after 2s" in reason
    assert "decided locally" not in reason
    assert srv.server.decider.escalation_timeout == 2.0


@pytest.mark.parametrize("way, fallback", [("socket", "ask"), ("socket", "deny"), ("grpc", "deny")])
def test_a_server_that_never_decides_gets_the_fail_mode_at_the_hooks_wait(held_server, env, way, fallback):
    """The server took the call and says it may take 600 s; the hook waits --wait (4 s)
    and answers the fail mode the server announced: never allow, never a local decision."""
    srv = held_server(HeldEscalator(), escalation_timeout=600.0, fallback=fallback)
    _over(way, env, srv)
    t0 = time.monotonic()
    out = run_hook(event(FROB), env, ["--timeout", "5" if way == "grpc" else "2", "--wait", "6"])
    elapsed = time.monotonic() - t0
    assert 6.0 <= elapsed < 6.0 + 30
    assert out["permissionDecision"] == fallback
    reason = out["permissionDecisionReason"]
    # the time the hook waited, from its start: --wait, or more on a loaded machine
    waited = re.search(r"was deciding this call but gave no decision \(no decision within (\d+\.\d)s\)", reason)
    assert waited and 6.0 <= float(waited.group(1)) < 6.0 + 30, reason
    assert "it takes up to 600s, longer than this client waits" in reason
    assert "lighthouse hook install --escalation-deadline 600 lets the hook wait longer" in reason
    assert "decided locally" not in reason
    if way == "socket":         # why the call was escalated, as the server said
        assert reason.startswith("lighthouse: no rule covers the program 'frobnicate'")


def test_the_server_going_down_while_deciding_is_the_fail_mode(held_server, env):
    esc = HeldEscalator(EscalationResult("allow", "too late", "test.slow", tier="policy"))
    srv = held_server(esc, fallback="deny")
    proc = start_hook(event(FROB), env, ["--timeout", "5"])
    assert esc.called.wait(60)
    t0 = time.monotonic()
    srv.run(srv.server.stop(0.5), timeout=60)
    out = hook_output(proc)
    assert time.monotonic() - t0 < 30
    assert out["permissionDecision"] == "deny"
    assert "closed the connection" in out["permissionDecisionReason"]
    assert "decided locally" not in out["permissionDecisionReason"]


# A user policy whose rule for `frobnicate` takes the Rego engine about a second.
SLOW_REGO = """package lighthouse
import rego.v1

deny contains "frobnicate is slow to judge, and denied" if {
    some c in input.commands
    c.program == "frobnicate"
    count([x | some x in numbers.range(1, 2000000); x % 7 == 0]) > 0
}
"""


@pytest.fixture(scope="module")
def policy_server():
    """``lighthouse serve`` in a subprocess with the policy tier, a slow user policy,
    --escalation-deadline 25 and its local socket in a private directory."""
    d = tempfile.mkdtemp(prefix="lh-")
    os.makedirs(os.path.join(d, "policy"))
    with open(os.path.join(d, "policy", "slow.rego"), "w") as fh:
        fh.write(SLOW_REGO)
    sock = os.path.join(d, "lighthouse.sock")
    try:
        with ServerProcess("--policy", os.path.join(d, "policy"), "--policy-processes", "1",
                           "--policy-deadline", "20", "--escalation-deadline", "25", socket=sock, metrics=False) as srv:
            srv.wait_ready()
            srv.socket = sock
            yield srv
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_installed_hook_gets_the_policy_tiers_decision(policy_server, env, tmp_path):
    """Install reads the escalation deadline the server publishes, and the installed hook
    waits for the Rego policy's decision."""
    path = settings_path(tmp_path)
    assert cli.main(["hook", "install", "--project", str(tmp_path), "--socket", policy_server.socket]) == 0
    handler = json.loads(open(path).read())["hooks"]["PreToolUse"][0]["hooks"][0]
    assert handler["timeout"] == 25 + 2 + 10
    assert handler["command"] == cli_command(socket=policy_server.socket, wait=27)
    env.pop("LIGHTHOUSE_SOCKET")
    proc = subprocess.run(handler["command"], shell=True, input=event(FROB), capture_output=True, env=env,
                          timeout=90)
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert proc.returncode == 0 and out["permissionDecision"] == "deny", (out, proc.stderr)
    assert out["permissionDecisionReason"] == ("lighthouse: frobnicate is slow to judge, and denied "
                                               "[rule policy:data.lighthouse.decision]")


@pytest.mark.parametrize("down", ["no socket", "stopped server"])
def test_when_no_server_answers_the_hook_decides_locally_and_fast(policy_server, env, down):
    """No server listening, or one that accepts at the socket but answers nothing (a
    stopped process: what a server too slow to accept looks like): the hook gives up at
    its --timeout (1.5 s) and decides locally, well within the 27 s it would wait for a
    server that says it is deciding."""
    env.pop("LIGHTHOUSE_SOCKET")
    args = ["--socket", policy_server.socket if down == "stopped server" else policy_server.socket + ".none",
            "--wait", "27"]
    if down == "stopped server":
        policy_server.signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        proc = subprocess.run(MODULE + args, input=event(dict(FROB, input={"command": "frobnicate --%s" % down})),
                              capture_output=True, env=env, timeout=60)
        elapsed = time.monotonic() - t0
    finally:
        if down == "stopped server":
            policy_server.signal(signal.SIGCONT)
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "ask"
    assert out["permissionDecisionReason"].startswith("lighthouse server unreachable; decided locally: ")
    assert elapsed < 12, elapsed


# ---------------------------------------------------------------- large input, server rules

DEPLOY_DENY = ('[[rule]]\nid = "team.no-deploy-writes"\nverdict = "deny"\nreason = "deploy/ is written by CI only"\n'
               'tools = ["Write"]\npaths = ["{ws}/deploy/**"]\n')
DEPLOY_WRITE = {"tool": "Write", "cwd": "/home/dev/app", "input": {"file_path": "/home/dev/app/deploy/run.sh"}}


def write(call, content):
    return dict(call, input=dict(call["input"], content=content))


@pytest.fixture
def rules_server(env, tmp_path):
    """A real server (gRPC on a free port and the local socket at $LIGHTHOUSE_SOCKET)
    started with --rules denying Writes under deploy/."""
    from lighthouse.server.app import ServerConfig
    (tmp_path / "team.toml").write_text(DEPLOY_DENY)
    config = ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"], rules=(str(tmp_path),))
    with GrpcServerThread(config) as srv:
        yield srv


@pytest.mark.parametrize("way", ["socket", "grpc"])
def test_a_large_write_is_judged_by_the_server_rules(rules_server, env, way):
    """Over 1 MiB on the socket, or over 256 KB over gRPC, was refused as too large; the
    hook then decided locally with the shipped packs only, and allowed."""
    if way == "grpc":
        env["LIGHTHOUSE_SOCKET"] = os.path.join(os.path.dirname(env["LIGHTHOUSE_SOCKET"]), "none.sock")
        env["LIGHTHOUSE_ADDR"] = rules_server.address
    big = "echo deploying\n" * (1_300_000 // 15)
    out = run_hook(event(write(DEPLOY_WRITE, big)), env)
    assert out["permissionDecision"] == "deny", out
    assert "[rule team.no-deploy-writes]" in out["permissionDecisionReason"]
    assert "decided locally" not in out["permissionDecisionReason"]
    # Elsewhere in the workspace the window is allowed, but the rest was not read: ask.
    out = run_hook(event(write(dict(DEPLOY_WRITE, input={"file_path": "/home/dev/app/src/a.txt"}), big)), env)
    assert out["permissionDecision"] == "ask" and "[rule input.windowed]" in out["permissionDecisionReason"]


@pytest.mark.parametrize("way", ["socket", "grpc"])
@pytest.mark.parametrize("past", ["max_input_json", "transport"])
def test_past_the_hard_limit_the_answer_is_deny(rules_server, env, way, past):
    """Past the input limit the server denies (socket) or refuses (gRPC); past the
    transport's own limit the socket or gRPC refuses; each refusal is a deny."""
    lim = rules_server.config.limits
    if way == "grpc":
        env["LIGHTHOUSE_SOCKET"] = os.path.join(os.path.dirname(env["LIGHTHOUSE_SOCKET"]), "none.sock")
        env["LIGHTHOUSE_ADDR"] = rules_server.address
    size = lim.max_input_json if past == "max_input_json" else max(lim.max_local_request, lim.max_message_bytes)
    huge = "x" * (size + 1)
    out = run_hook(event(write(dict(DEPLOY_WRITE, input={"file_path": "/home/dev/app/src/a.txt"}), huge)), env)
    assert out["permissionDecision"] == "deny", out
    reason = out["permissionDecisionReason"]
    assert "decided locally" not in reason
    assert "too large to judge" in reason or reason.startswith("lighthouse server refused this call (")


def test_the_server_down_its_rule_files_still_apply(env, tmp_path):
    """The local decision applies the rule files the server published beside its socket,
    with the same bounds, and not only the shipped packs."""
    from lighthouse.server.app import ServerConfig
    (tmp_path / "team.toml").write_text(DEPLOY_DENY)
    config = ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"], rules=(str(tmp_path),))
    with GrpcServerThread(config):
        pass
    assert not os.path.exists(env["LIGHTHOUSE_SOCKET"])
    out = run_hook(event(write(DEPLOY_WRITE, "echo hi\n")), env)
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"] == ("lighthouse server unreachable; decided locally: "
                                               "deploy/ is written by CI only [rule team.no-deploy-writes]")
    out = run_hook(event(write(dict(DEPLOY_WRITE, input={"file_path": "/home/dev/app/a"}), "x" * 300_000)), env)
    assert out["permissionDecision"] == "ask" and "[rule input.windowed]" in out["permissionDecisionReason"]


def test_a_published_policy_open_to_others_is_not_trusted(env, tmp_path):
    from lighthouse.localsock import policy_path
    path = policy_path(env["LIGHTHOUSE_SOCKET"])
    with open(path, "w") as fh:
        json.dump({"rules": [], "packs": False}, fh)
    os.chmod(path, 0o644)
    out = run_hook(event(SAFE), env)
    assert out["permissionDecision"] == "ask"
    assert "published policy cannot be used (policy file %s is open to other users" % path \
        in out["permissionDecisionReason"]


# ---------------------------------------------------------------- gRPC, tokens and TLS

def test_a_token_is_never_sent_in_clear_to_another_host(env):
    env.update(LIGHTHOUSE_ADDR="192.0.2.1:50051", LIGHTHOUSE_TOKEN="secret-token")
    out = run_hook(event(SAFE), env, ["--timeout", "0.5"])
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"] == (
        "lighthouse hook is misconfigured: LIGHTHOUSE_TOKEN is set but 192.0.2.1:50051 is not a loopback "
        "address and no TLS CA is configured (--tls-ca or LIGHTHOUSE_TLS_CA): the token is not sent in clear")


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_the_hook_reaches_a_tls_server_with_its_token(env, pki, tmp_path, mutual):
    from lighthouse.server.app import ServerConfig
    from lighthouse.server.auth import add_token
    d = pki["dir"]
    token = add_token(tmp_path / "tokens", "claude-code")
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=str(tmp_path / "tokens"),
                          tls_cert=str(d / "server.pem"), tls_key=str(d / "server.key"),
                          tls_client_ca=str(d / "ca.pem") if mutual else None)
    env.update(LIGHTHOUSE_TOKEN=token, LIGHTHOUSE_TLS_CA=str(d / "ca.pem"))
    if mutual:
        env.update(LIGHTHOUSE_TLS_CERT=str(d / "client.pem"), LIGHTHOUSE_TLS_KEY=str(d / "client.key"))
    with GrpcServerThread(config) as srv:
        env["LIGHTHOUSE_ADDR"] = srv.address
        for call, expected in ((SAFE, "allow"), (DANGEROUS, "deny")):
            out = run_hook(event(call), env)
            assert out["permissionDecision"] == expected
            assert out["permissionDecisionReason"].startswith("lighthouse: "), out
        # A wrong token is the server's refusal: a deny naming it, not a local decision.
        env["LIGHTHOUSE_TOKEN"] = "not-" + token
        out = run_hook(event(SAFE), env)
    assert out["permissionDecision"] == "deny"
    assert out["permissionDecisionReason"].startswith("lighthouse server refused this call (unauthenticated")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("stdin, problem", [
    (b"", "not valid JSON"),
    (b"{\"tool_name\": ", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[\"Bash\"]", "must be a JSON object"),
    (b"[" * 100000, "nested too deeply"),
    (json.dumps({"tool_input": {"command": "ls"}}).encode(), "no tool_name"),
    (json.dumps({"tool_name": "Bash", "tool_input": "rm -rf /"}).encode(), "tool_input must be a JSON object"),
    (json.dumps({"hook_event_name": "PostToolUse", "tool_name": "Bash",
                 "tool_input": {"command": "ls"}}).encode(), "handles PreToolUse events"),
])
def test_malformed_stdin_is_denied_with_the_problem_named(env, stdin, problem):
    out = run_hook(stdin, env)
    assert out["permissionDecision"] == "deny"
    assert problem in out["permissionDecisionReason"]


@pytest.mark.parametrize("args, problem", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--socket"], "--socket needs a value"),
    (["--timeout", "soon"], "needs a number"),
    (["--timeout=0"], "between 0 and 60"),
    (["--wait", "-1"], "--wait must be between 0 and 600 seconds"),
    (["--wait", "601"], "--wait must be between 0 and 600 seconds"),
    (["--wait", "nan"], "--wait must be between 0 and 600 seconds"),
    (["--wait", "later"], "--wait needs a number of seconds"),
    (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
    (["--tls-cert", "c.pem", "--tls-key", "k.pem"], "--tls-cert needs --tls-ca"),
])
def test_bad_options_ask_a_person(env, args, problem):
    out = run_hook(event(SAFE), env, args)
    assert out["permissionDecision"] == "ask" and problem in out["permissionDecisionReason"]


def test_help(env):
    proc = subprocess.run(SCRIPT + ["--help"], capture_output=True, env=env, timeout=30)
    assert proc.returncode == 0 and b"usage: lighthouse hook claude-code" in proc.stdout


def test_the_hook_path_stays_lean(server, env):
    probe = ("import sys, runpy\nsys.argv = ['lighthouse', 'hook', 'claude-code']\n"
             "from lighthouse.cli import main\nmain()\n"
             "heavy = [m for m in ('argparse', 'lighthouse.validator', 'lighthouse.rules.loader', 're2', "
             "'tomllib', 'grpc', 'typing', 'socket', 'lighthouse.server') if m in sys.modules]\n"
             "print(heavy, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe], input=event(SAFE), capture_output=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert proc.stderr.decode().strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- hook install

OTHER = {
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "~/bin/audit.sh"}]}],
        "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write"}]}],
    },
    "model": "opus",
}


def ours(data):
    return [(g, h) for g in data["hooks"]["PreToolUse"] for h in g["hooks"] if "lighthouse" in h["command"]]


def test_install_into_a_fresh_project(tmp_path):
    path = settings_path(tmp_path)
    assert path == str(tmp_path / ".claude" / "settings.local.json")      # not committed
    assert settings_path(tmp_path, shared=True) == str(tmp_path / ".claude" / "settings.json")
    assert install(path, "LH") == "installed"
    assert json.loads(open(path).read()) == {"hooks": {"PreToolUse": [
        {"matcher": "*", "hooks": [{"type": "command", "command": "LH", "timeout": HOOK_TIMEOUT}]}]}}
    assert HOOK_TIMEOUT == 42


def test_install_merges_and_is_idempotent(tmp_path):
    path = settings_path(tmp_path)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump(OTHER, fh)
    os.chmod(path, 0o600)
    cmd = hook_command(socket="/run/user/1/lighthouse.sock")
    assert install(path, cmd) == "installed"
    data = json.loads(open(path).read())
    assert data["permissions"] == OTHER["permissions"] and data["model"] == "opus"
    assert data["hooks"]["PostToolUse"] == OTHER["hooks"]["PostToolUse"]
    assert data["hooks"]["PreToolUse"][0] == OTHER["hooks"]["PreToolUse"][0]
    assert [h["command"] for _, h in ours(data)] == [cmd]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    before = open(path).read()
    assert install(path, cmd) == "unchanged"
    assert open(path).read() == before
    # a different socket updates the one entry in place
    cmd2 = hook_command(socket="/tmp/other.sock")
    assert install(path, cmd2) == "updated"
    data = json.loads(open(path).read())
    assert [h["command"] for _, h in ours(data)] == [cmd2]
    assert len(data["hooks"]["PreToolUse"]) == 2


def test_install_collapses_duplicates(tmp_path):
    path = settings_path(tmp_path)
    os.makedirs(os.path.dirname(path))
    dup = {"type": "command", "command": "lighthouse hook claude-code"}
    with open(path, "w") as fh:
        json.dump({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [dup]},
                                            {"matcher": "Bash", "hooks": [dict(dup), {"type": "command", "command": "x"}]},
                                            {"matcher": "Read", "hooks": [dict(dup)]}]}}, fh)
    assert install(path, "python -m lighthouse.hooks.claude_code") == "updated"
    groups = json.loads(open(path).read())["hooks"]["PreToolUse"]
    assert groups == [{"matcher": "*", "hooks": [{"type": "command", "command": "python -m lighthouse.hooks.claude_code",
                                                  "timeout": HOOK_TIMEOUT}]},
                      {"matcher": "Bash", "hooks": [{"type": "command", "command": "x"}]}]


@pytest.mark.parametrize("content, problem", [
    ("{\"hooks\": {,}", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ("{\"hooks\": []}", "\"hooks\" must be an object"),
    ("{\"hooks\": {\"PreToolUse\": {}}}", "\"hooks.PreToolUse\" must be a list"),
])
def test_install_refuses_to_overwrite_what_it_cannot_read(tmp_path, content, problem):
    path = settings_path(tmp_path)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write(content)
    with pytest.raises(InstallError, match=problem.replace("[", r"\[")):
        install(path, "LH")
    assert open(path).read() == content
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]     # no temporary file left


def test_install_writes_through_a_symlink(tmp_path):
    real = tmp_path / "dotfiles" / "settings.json"
    real.parent.mkdir()
    real.write_text("{\"model\": \"opus\"}")
    link = tmp_path / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(real)
    assert install(str(link), "LH") == "installed"
    assert link.is_symlink()
    data = json.loads(real.read_text())
    assert data["model"] == "opus" and data["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == "LH"


def test_uninstall_removes_only_ours(tmp_path):
    path = settings_path(tmp_path)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump(OTHER, fh)
    assert uninstall(path) == "absent"
    install(path, hook_command())
    assert uninstall(path) == "removed"
    assert json.loads(open(path).read()) == OTHER
    fresh = settings_path(tmp_path / "p2")
    install(fresh, hook_command())
    assert uninstall(fresh) == "removed"
    assert json.loads(open(fresh).read()) == {}


def test_cli_install_project_and_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", str(tmp_path / "none.sock"))      # no published deadline
    proj = tmp_path / "proj"
    assert cli.main(["hook", "install", "--project", str(proj), "--socket", "/tmp/x.sock"]) == 0
    assert "installed" in capsys.readouterr().out
    assert not (proj / ".claude" / "settings.json").exists()
    data = json.loads((proj / ".claude" / "settings.local.json").read_text())
    cmd = data["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert cmd == cli_command(socket="/tmp/x.sock", wait=32)
    assert cmd.startswith("sh -c ") and sys.executable in cmd
    assert ("lighthouse/hooks/native/lighthouse-hook --python" if native_hook_path()
            else "-P -m lighthouse.hooks.claude_code") in cmd
    assert cli.main(["hook", "install", "--project", str(proj), "--socket", "/tmp/x.sock"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli.main(["hook", "install", "--project", str(proj), "--shared", "--defer"]) == 0
    shared = json.loads((proj / ".claude" / "settings.json").read_text())
    assert shared["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == cli_command(defer=True, wait=32)
    assert cli.main(["hook", "install", "--user"]) == 0
    assert (tmp_path / "home" / ".claude" / "settings.json").exists()
    (proj / ".claude" / "settings.local.json").write_text("{oops")
    assert cli.main(["hook", "install", "--project", str(proj)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err
    assert cli.main(["hook", "uninstall", "--user"]) == 0


@pytest.mark.parametrize("deadline, timeout, wait, written", [
    (None, None, 32, 42),           # lighthouse serve's default deadline, 30 s
    (30, None, 32, 42),
    (120, None, 122, 132),
    (0.5, None, 2.5, 13),
    (None, 50, 40, 50),             # an explicit timeout: the hook waits 10 s less
    (None, 12.2, 3, 13),
    (30, 45, 35, 45),
])
def test_the_hook_timeout_covers_the_escalation_deadline(deadline, timeout, wait, written):
    assert hook_timing(deadline, timeout) == (wait, written)
    assert isinstance(hook_timing(deadline, timeout)[1], int)


@pytest.mark.parametrize("deadline, timeout, problem", [
    (0, None, "the escalation deadline must be between 0 and 598"),
    (-5, None, "the escalation deadline must be between"),
    (599, None, "the escalation deadline must be between"),
    (float("nan"), None, "the escalation deadline must be between"),
    (None, 11, "the hook timeout must be at least 12 seconds"),
    (None, float("inf"), "the hook timeout must be at least 12 seconds"),
    (30, 40, "a hook timeout of 40 s does not cover an escalation deadline of 30 s: give at least 42"),
])
def test_a_hook_timeout_that_cannot_work_is_refused(deadline, timeout, problem):
    with pytest.raises(InstallError, match=problem):
        hook_timing(deadline, timeout)


def test_cli_install_writes_the_timeout_and_the_wait(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", str(tmp_path / "none.sock"))
    proj = tmp_path / "proj"
    path = proj / ".claude" / "settings.local.json"

    def handler():
        return json.loads(path.read_text())["hooks"]["PreToolUse"][0]["hooks"][0]

    assert cli.main(["hook", "install", "--project", str(proj)]) == 0
    assert (handler()["timeout"], handler()["command"]) == (42, cli_command(wait=32))
    assert "waits up to 32 s for a decision the server is still making (escalation deadline 30 s, " \
           "lighthouse serve's default (no policy published beside" in capsys.readouterr().out
    assert cli.main(["hook", "install", "--project", str(proj), "--escalation-deadline", "90"]) == 0
    assert (handler()["timeout"], handler()["command"]) == (102, cli_command(wait=92))
    assert "updated" in capsys.readouterr().out
    assert cli.main(["hook", "install", "--project", str(proj), "--timeout", "20"]) == 0
    assert (handler()["timeout"], handler()["command"]) == (20, cli_command(wait=10))
    assert "waits up to 10 s for a decision the server is still making (--timeout 20); Claude Code timeout 20 s" \
        in capsys.readouterr().out
    before = path.read_text()
    assert cli.main(["hook", "install", "--project", str(proj), "--timeout", "30", "--escalation-deadline", "30"]) == 1
    assert "a hook timeout of 30 s does not cover an escalation deadline of 30 s: give at least 42" \
        in capsys.readouterr().err
    assert path.read_text() == before


def test_install_uses_the_deadline_the_server_publishes(env, tmp_path, capsys):
    """A server with a slower tier publishes its escalation deadline beside its socket;
    an install that names no deadline gives the hook time for it."""
    config = ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"], escalation_deadline=75.0)
    with GrpcServerThread(config, escalator=HeldEscalator()):
        pass
    with open(env["LIGHTHOUSE_SOCKET"] + ".policy.json") as fh:
        assert json.load(fh)["escalation_deadline"] == 75.0
    assert cli.main(["hook", "install", "--project", str(tmp_path), "--socket", env["LIGHTHOUSE_SOCKET"]]) == 0
    handler = json.loads((tmp_path / ".claude" / "settings.local.json").read_text())["hooks"]["PreToolUse"][0]["hooks"][0]
    assert handler["timeout"] == 87 and "--wait 77" in handler["command"]
    assert "(escalation deadline 75 s, published beside %s)" % env["LIGHTHOUSE_SOCKET"] in capsys.readouterr().out
    # A server without a slower tier publishes none: the default applies.
    with GrpcServerThread(ServerConfig(port=0, metrics_port=0, socket=env["LIGHTHOUSE_SOCKET"])):
        pass
    with open(env["LIGHTHOUSE_SOCKET"] + ".policy.json") as fh:
        assert "escalation_deadline" not in json.load(fh)
    assert cli.main(["hook", "install", "--project", str(tmp_path), "--socket", env["LIGHTHOUSE_SOCKET"]]) == 0
    assert "does not escalate" in capsys.readouterr().out


def test_the_installed_command_runs(server, env, tmp_path):
    path = settings_path(tmp_path)
    install(path, hook_command(socket=server.path))
    cmd = json.loads(open(path).read())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    env.pop("LIGHTHOUSE_SOCKET")
    proc = subprocess.run(cmd, shell=True, input=event(DANGEROUS), capture_output=True, env=env, timeout=30)
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert proc.returncode == 0 and out["permissionDecision"] == "deny"
    assert "decided locally" not in out["permissionDecisionReason"] and len(server.calls) == 1


def test_the_installed_command_cannot_be_hijacked_from_the_project(env, tmp_path):
    """Claude Code runs the hook in the project directory, where the agent can write files:
    a json.py or socket.py there must not run inside the hook."""
    evil = ("import sys\nsys.stdout.write('{\"hookSpecificOutput\": {\"hookEventName\": \"PreToolUse\", "
            "\"permissionDecision\": \"allow\", \"permissionDecisionReason\": \"hijacked\"}}\\n')\n"
            "sys.exit(0)\n")
    for name in ("json.py", "socket.py", "os.py", "time.py"):
        (tmp_path / name).write_text(evil)
    (tmp_path / "lighthouse").mkdir()
    (tmp_path / "lighthouse" / "__init__.py").write_text(evil)
    cmd = hook_command()
    proc = subprocess.run(cmd, shell=True, input=event(DANGEROUS), capture_output=True, env=env,
                          cwd=tmp_path, timeout=60)
    out = json.loads(proc.stdout)["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "hijacked" not in out["permissionDecisionReason"]


@pytest.mark.parametrize("broken", ["interpreter", "package"])
def test_a_missing_hook_blocks_the_call(env, tmp_path, broken):
    """The committed hook named one machine's virtualenv: elsewhere it exited 127 (or 1
    for an interpreter without the package), which Claude Code takes as a non-blocking
    error, and the call ran unchecked. Claude Code blocks on exit 2."""
    if broken == "interpreter":
        python, problem = str(tmp_path / "gone" / "bin" / "python"), b"is missing"
    else:
        python, problem = sys._base_executable, b"lighthouse hook failed"
        env.pop("PYTHONPATH")
        if subprocess.run([python, "-P", "-c", "import lighthouse"], env=env, capture_output=True).returncode == 0:
            pytest.skip("lighthouse is importable from the base interpreter")
    path = settings_path(tmp_path)
    install(path, hook_command(python=python))
    installed = json.loads(open(path).read())["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    proc = subprocess.run(installed, shell=True, input=event(SAFE), capture_output=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert problem in proc.stderr


def test_defer_leaves_allow_to_claude_code(server, env):
    proc = subprocess.run(MODULE + ["--defer"], input=event(SAFE), capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0 and proc.stdout == b""
    for call, expected in ((RISKY, "ask"), (DANGEROUS, "deny")):
        assert run_hook(event(call), env, ["--defer"])["permissionDecision"] == expected
