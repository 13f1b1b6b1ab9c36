"""The Claude Code hook as Claude Code runs it (a subprocess per call, JSON on stdin and
stdout) with the local server up and down, and `lighthouse hook install`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from lighthouse import Validator, cli
from lighthouse.hooks import claude_code
from lighthouse.hooks.install import InstallError, hook_command, install, settings_path, uninstall
from lighthouse.server.local import validator_decide

from conftest import ROOT
from serverkit import ServerThread as GrpcServerThread
from test_local_server import DANGEROUS, RISKY, SAFE, ServerThread

HOME = "/home/dev"      # the corpus's agent: its labels assume `~` is /home/dev
MODULE = [sys.executable, "-P", "-m", "lighthouse.hooks.claude_code"]
SCRIPT = [sys.executable, "-P", "-c", "import re, sys\nfrom lighthouse.cli import main\nsys.exit(main())",
          "hook", "claude-code"]        # what pip's console script does


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
    out = run_hook(event(write(dict(DEPLOY_WRITE, input={"file_path": "/home/dev/app/src/a.sh"}), big)), env)
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
        {"matcher": "*", "hooks": [{"type": "command", "command": "LH", "timeout": 10}]}]}}


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
                                                  "timeout": 10}]},
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
    proj = tmp_path / "proj"
    assert cli.main(["hook", "install", "--project", str(proj), "--socket", "/tmp/x.sock"]) == 0
    assert "installed" in capsys.readouterr().out
    assert not (proj / ".claude" / "settings.json").exists()
    data = json.loads((proj / ".claude" / "settings.local.json").read_text())
    cmd = data["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert cmd == hook_command(socket="/tmp/x.sock")
    assert cmd.startswith("sh -c ") and "-P -m lighthouse.hooks.claude_code" in cmd and sys.executable in cmd
    assert cli.main(["hook", "install", "--project", str(proj), "--socket", "/tmp/x.sock"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli.main(["hook", "install", "--project", str(proj), "--shared", "--defer"]) == 0
    shared = json.loads((proj / ".claude" / "settings.json").read_text())
    assert shared["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == hook_command(defer=True)
    assert cli.main(["hook", "install", "--user"]) == 0
    assert (tmp_path / "home" / ".claude" / "settings.json").exists()
    (proj / ".claude" / "settings.local.json").write_text("{oops")
    assert cli.main(["hook", "install", "--project", str(proj)]) == 1
    assert "is not valid JSON" in capsys.readouterr().err
    assert cli.main(["hook", "uninstall", "--user"]) == 0


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
