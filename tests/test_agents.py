"""`lighthouse hook gemini|cursor|codex` and `hook install --agent`: events recorded in each
agent's own format (tests/data/hooks/<agent>/*.json), judged by a real server (and by the
local decision with no server), answered in the agent's format; the settings each install
writes, checked against the agent's documented schema, merged with what is there, and a
command that blocks the call when the hook cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lighthouse import Validator, cli
from lighthouse.hooks import agents, claude_code
from lighthouse.hooks.install import SPECS, agent_settings_path, hook_command, install, uninstall
from lighthouse.server.local import validator_decide

from conftest import ROOT
from test_local_server import ServerThread

DATA = ROOT / "tests" / "data" / "hooks"
HOME = "/home/dev"

# The verdict Lighthouse gives each recorded event (before the agent's rendering).
EXPECTED = {
    "gemini": {"shell-rm-home": "deny", "shell-list-subdir": "allow", "write-system-file": "deny",
               "replace-in-workspace": "allow", "read-private-key": "deny", "web-fetch-two-urls": "allow",
               "mcp-drop-table": "deny", "unmapped-tool": "ask", "after-tool": "deny"},
    "cursor": {"shell-curl-pipe-sh": "deny", "shell-git-status": "allow", "shell-chmod-risky": "ask",
               "mcp-string-input": "deny", "read-dotenv": "deny", "read-source": "allow", "stop": "deny"},
    "codex": {"bash-rm-root": "deny", "bash-argv-git-status": "allow", "bash-chmod-risky": "ask",
              "patch-in-workspace": "allow", "patch-touches-sudoers": "deny", "patch-deletes-bashrc": "deny",
              "patch-without-files": "deny", "mcp-drop-table": "deny"},
}
CASES = [(agent, name) for agent in sorted(EXPECTED) for name in sorted(EXPECTED[agent])]


def load(agent, name):
    return (DATA / agent / (name + ".json")).read_bytes()


def test_every_recorded_event_has_an_expectation():
    for agent in EXPECTED:
        assert {p.stem for p in (DATA / agent).glob("*.json")} == set(EXPECTED[agent])


@pytest.fixture(scope="module")
def validator():
    return Validator(cache_size=1024)


@pytest.fixture
def env(sockdir, monkeypatch):
    monkeypatch.setenv("HOME", HOME)
    for k in ("LIGHTHOUSE_ADDR", "LIGHTHOUSE_RULES", "LIGHTHOUSE_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", os.path.join(sockdir, "lighthouse.sock"))
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    return e


@pytest.fixture
def server(env, validator):
    calls = []
    decide = validator_decide(validator)

    def recording(call):
        calls.append(call)
        return decide(call)

    srv = ServerThread(env["LIGHTHOUSE_SOCKET"], recording)
    srv.calls = calls
    yield srv
    srv.stop()


def check_answer(agent, name, out, verdict):
    """``out``: what the hook printed (None: nothing); the agent's format for ``verdict``."""
    payload = json.loads(load(agent, name))
    if agent == "gemini":
        assert set(out) == {"decision", "reason"} and isinstance(out["reason"], str) and out["reason"]
        assert out["decision"] == ("allow" if verdict == "allow" else "deny")
        if verdict == "ask":
            assert out["reason"].startswith("a person must approve this call")
    elif agent == "cursor":
        assert set(out) == {"permission", "user_message", "agent_message"}
        assert out["user_message"] == out["agent_message"] and out["user_message"]
        if payload["hook_event_name"] == "beforeReadFile":
            assert out["permission"] in ("allow", "deny")
        else:
            assert out["permission"] == verdict
    else:
        if verdict == "allow":
            assert out is None
            return
        hso = out["hookSpecificOutput"]
        assert set(out) == {"hookSpecificOutput"} and hso["hookEventName"] == "PreToolUse"
        assert hso["permissionDecision"] == "deny" and hso["permissionDecisionReason"]
        if verdict == "ask":
            assert hso["permissionDecisionReason"].startswith("a person must approve this call")


@pytest.mark.parametrize("agent, name", CASES)
def test_recorded_events_with_the_server_up(server, env, agent, name):
    verdict, reason, _ = agents.decide(agent, load(agent, name), ["--timeout", "30"], env)
    assert verdict == EXPECTED[agent][name], reason
    assert "decided locally" not in reason
    check_answer(agent, name, agents.run(agent, load(agent, name), ["--timeout", "30"], env), verdict)


@pytest.mark.parametrize("agent, name", CASES)
def test_recorded_events_with_the_server_down(env, agent, name):
    verdict, reason, _ = agents.decide(agent, load(agent, name), [], env)
    assert verdict == EXPECTED[agent][name], reason


def test_what_the_server_is_asked(server, env):
    """The mapping to Lighthouse's tools, as the server receives it."""
    for agent, name in [("gemini", "shell-list-subdir"), ("gemini", "read-private-key"),
                        ("cursor", "mcp-string-input"), ("cursor", "read-source"),
                        ("codex", "bash-argv-git-status"), ("codex", "patch-touches-sudoers")]:
        agents.decide(agent, load(agent, name), ["--timeout", "30"], env)
    got = [(c["tool"], c["input"], c["cwd"], c["agent_id"], c["session_id"]) for c in server.calls]
    assert got == [
        ("Bash", {"command": "ls -la"}, "/home/dev/app/src", "gemini", "3f6c2a1e-gemini"),
        ("Read", {"file_path": "/home/dev/.ssh/id_rsa"}, "/home/dev/app", "gemini", "3f6c2a1e-gemini"),
        ("mcp__cursor__query", {"sql": "DROP TABLE users;"}, "/home/dev/app", "cursor",
         "668320d2-2fd8-4888-b33c-2a466fec86e7"),
        ("Read", {"file_path": "/home/dev/app/src/main.py"}, "/home/dev/app", "cursor",
         "668320d2-2fd8-4888-b33c-2a466fec86e7"),
        ("Bash", {"command": "git status --short"}, "/home/dev/app", "codex", "019a3c5e-codex"),
        ("Edit", {"file_path": "/home/dev/app/src/app.py", "old_string": "x = 1", "new_string": "x = 2"},
         "/home/dev/app", "codex", "019a3c5e-codex"),
        ("Edit", {"file_path": "/etc/sudoers", "old_string": "", "new_string": "dev ALL=(ALL) NOPASSWD: ALL"},
         "/home/dev/app", "codex", "019a3c5e-codex"),
    ]


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_the_cli_runs_each_agents_hook(server, env, agent):
    name = {"gemini": "shell-rm-home", "cursor": "shell-curl-pipe-sh", "codex": "bash-rm-root"}[agent]
    for cmd in ([sys.executable, "-P", "-m", "lighthouse.hooks.agents", agent],
                [sys.executable, "-P", "-c", "import sys\nfrom lighthouse.cli import main\nsys.exit(main())",
                 "hook", agent]):
        proc = subprocess.run(cmd + ["--timeout", "30"], input=load(agent, name), capture_output=True, env=env,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        check_answer(agent, name, json.loads(proc.stdout), "deny")


@pytest.mark.parametrize("agent", sorted(EXPECTED))
@pytest.mark.parametrize("stdin, problem", [
    (b"", "not valid JSON"), (b"[1]", "must be a JSON object"), (b"{\"tool_input\": {}}", "this hook handles"),
    (b"\xff", "not valid JSON"), (b"[" * 100000, "nested too deeply"),
    (b"{" + b" " * claude_code.MAX_EVENT + b"}", "exceeds")])
def test_unreadable_events_are_denied(env, agent, stdin, problem):
    verdict, reason, _ = agents.decide(agent, stdin, [], env)
    assert verdict == "deny" and problem in reason


def test_a_patch_past_the_limit_asks(env):
    patch = "*** Begin Patch\n" + "".join("*** Add File: f%d.txt\n+x\n" % i for i in range(agents.MAX_CALLS + 1))
    ev = {"hook_event_name": "PreToolUse", "tool_name": "apply_patch", "tool_input": {"command": patch},
          "cwd": "/home/dev/app"}
    verdict, reason, _ = agents.decide("codex", json.dumps(ev).encode(), [], env)
    assert verdict == "ask" and "more than the 32" in reason


def test_defer_and_bad_options_ask(env):
    ev = load("codex", "bash-rm-root")
    assert agents.decide("codex", ev, ["--defer"], env)[0] == "ask"
    assert agents.decide("codex", ev, ["--bogus"], env)[0] == "ask"
    assert agents.run("codex", ev, ["--bogus"], env)["hookSpecificOutput"]["permissionDecision"] == "deny"


# ---------------------------------------------------------------- install

def check_schema(agent, data, command, timeout):
    """The configuration each agent documents (README, "Other agents"), and our handler in it."""
    hooks = data["hooks"]
    assert isinstance(hooks, dict)
    if agent == "cursor":
        assert data["version"] == 1
        for event in ("beforeShellExecution", "beforeMCPExecution", "beforeReadFile"):
            handlers = hooks[event]
            assert isinstance(handlers, list)
            for h in handlers:
                assert isinstance(h["command"], str) and set(h) <= {"command", "timeout", "failClosed", "matcher",
                                                                    "type"}
            assert {"command": command, "timeout": timeout, "failClosed": True} in handlers
        return
    event = {"gemini": "BeforeTool", "codex": "PreToolUse"}[agent]
    allowed = {"gemini": {"type", "command", "name", "timeout", "description"},
               "codex": {"type", "command", "timeout", "statusMessage"}}[agent]
    found = []
    for group in hooks[event]:
        assert set(group) <= {"matcher", "sequential", "hooks"} and isinstance(group["hooks"], list)
        assert isinstance(group.get("matcher", ""), str)
        for h in group["hooks"]:
            assert h["type"] == "command" and isinstance(h["command"], str) and set(h) <= allowed
            assert isinstance(h.get("timeout", 0), int)
            if h["command"] == command:
                found.append((group, h))
    assert len(found) == 1
    group, h = found[0]
    if agent == "gemini":
        assert group["matcher"] == ".*" and h["timeout"] == timeout * 1000
    else:
        assert "matcher" not in group and h["timeout"] == timeout


EXISTING = {
    "gemini": {"theme": "GitHub", "hooks": {"BeforeTool": [{"matcher": "write_file", "hooks": [
        {"type": "command", "command": "./lint.sh", "timeout": 5000}]}], "SessionStart": [
        {"hooks": [{"type": "command", "command": "./hello.sh"}]}]}},
    "cursor": {"version": 1, "hooks": {"beforeShellExecution": [{"command": "./audit.sh"}],
                                       "afterFileEdit": [{"command": "./format.sh"}]}},
    "codex": {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./plan.sh"}]}],
                        "Stop": [{"hooks": [{"type": "command", "command": "./stop.sh", "timeout": 30}]}]}},
}


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_install_merges_validates_and_uninstalls(tmp_path, agent):
    path = agent_settings_path(agent, tmp_path)
    assert path.startswith(str(tmp_path / SPECS[agent].home_dir))
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump(EXISTING[agent], fh)
    cmd = hook_command(socket="/tmp/x.sock", wait=32, agent=agent)
    assert install(path, cmd, 42, agent) == "installed"
    data = json.loads(open(path).read())
    check_schema(agent, data, cmd, 42)
    for event, entries in EXISTING[agent]["hooks"].items():     # what was there stays
        for entry in entries:
            assert entry in data["hooks"][event] or any(
                h in g.get("hooks", []) for g in data["hooks"][event] for h in entry.get("hooks", []))
    if agent == "gemini":
        assert data["theme"] == "GitHub"
    assert install(path, cmd, 42, agent) == "unchanged"
    cmd2 = hook_command(socket="/tmp/y.sock", wait=92, agent=agent)
    assert install(path, cmd2, 102, agent) == "updated"
    data = json.loads(open(path).read())
    check_schema(agent, data, cmd2, 102)
    assert cmd not in json.dumps(data)
    assert uninstall(path, agent) == "removed"
    assert json.loads(open(path).read()) == EXISTING[agent]
    assert uninstall(path, agent) == "absent"


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_the_installed_command_blocks_when_the_hook_cannot_run(env, tmp_path, agent):
    """Exit 2 is "block" for each of these agents; any other failure lets the call run."""
    path = agent_settings_path(agent, tmp_path)
    install(path, hook_command(python=str(tmp_path / "gone" / "python"), agent=agent), 42, agent)
    data = json.loads(open(path).read())
    if agent == "cursor":
        handler = data["hooks"]["beforeShellExecution"][0]
        assert handler["failClosed"] is True
    else:
        handler = data["hooks"][SPECS[agent].events[0]][0]["hooks"][0]
    name = {"gemini": "shell-list-subdir", "cursor": "shell-git-status", "codex": "bash-argv-git-status"}[agent]
    proc = subprocess.run(handler["command"], shell=True, input=load(agent, name), capture_output=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and b"is missing" in proc.stderr


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_the_installed_command_runs(server, env, tmp_path, agent):
    path = agent_settings_path(agent, tmp_path)
    install(path, hook_command(socket=server.path, agent=agent), 42, agent)
    data = json.loads(open(path).read())
    handler = data["hooks"][SPECS[agent].events[0]][0]
    command = handler["command"] if agent == "cursor" else handler["hooks"][0]["command"]
    env.pop("LIGHTHOUSE_SOCKET")
    name = {"gemini": "shell-rm-home", "cursor": "shell-curl-pipe-sh", "codex": "bash-rm-root"}[agent]
    proc = subprocess.run(command + " --timeout 30", shell=True, input=load(agent, name), capture_output=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    check_answer(agent, name, json.loads(proc.stdout), "deny")
    assert len(server.calls) == 1


def test_cli_install_for_each_agent(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", str(tmp_path / "none.sock"))
    proj = tmp_path / "proj"
    for agent, rel in (("gemini", ".gemini/settings.json"), ("cursor", ".cursor/hooks.json"),
                       ("codex", ".codex/hooks.json")):
        assert cli.main(["hook", "install", "--agent", agent, "--project", str(proj)]) == 0
        out = capsys.readouterr().out
        assert "installed in %s" % (proj / rel) in out and "lighthouse.hooks.agents %s" % agent in out
        check_schema(agent, json.loads((proj / rel).read_text()), hook_command(wait=32, agent=agent), 42)
        assert cli.main(["hook", "install", "--agent", agent, "--user"]) == 0
        assert (tmp_path / "home" / rel).exists()
        assert cli.main(["hook", "install", "--agent", agent, "--project", str(proj), "--shared"]) == 2
        assert cli.main(["hook", "uninstall", "--agent", agent, "--project", str(proj)]) == 0
        assert "removed from" in capsys.readouterr().out
    (proj / ".cursor" / "hooks.json").write_text('{"version": 2, "hooks": {}}')
    assert cli.main(["hook", "install", "--agent", "cursor", "--project", str(proj)]) == 1
    assert "'version' must be 1" in capsys.readouterr().err


def test_cli_install_says_which_client(tmp_path, monkeypatch, capsys):
    from lighthouse.hooks.install import native_hook_path
    monkeypatch.setenv("LIGHTHOUSE_SOCKET", str(tmp_path / "none.sock"))
    assert cli.main(["hook", "install", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    if native_hook_path():
        assert "client: the native hook client %s" % native_hook_path() in out
    else:
        assert "client: the Python hook" in out
    assert cli.main(["hook", "install", "--project", str(tmp_path), "--python-hook"]) == 0
    out = capsys.readouterr().out
    assert "client: the Python hook %s (--python-hook)" % sys.executable in out
    assert "-P -m lighthouse.hooks.claude_code" in out


@pytest.mark.parametrize("patch, verdict, said", [
    # markers with spaces around them, as Codex accepts them: the file is still judged
    ("*** Begin Patch\n  *** Update File: ../../../etc/passwd  \n@@\n-root:x:0:0\n+root::0:0\n*** End Patch\n",
     "deny", "Writes a file in a system directory"),
    # a marker this hook does not know: the patch is not judged in part
    ("*** Begin Patch\n*** Add File: ok.txt\n+x\n*** Update  File: /etc/passwd\n+y\n*** End Patch\n",
     "deny", "a line this hook cannot read"),
    ("*** Begin Patch\n*** Move to: /etc/cron.d/x\n*** End Patch\n", "deny", "Move to: before any file"),
    ("*** Begin Patch\n*** Update File: src/a.py\n*** Move to: /etc/profile.d/a.sh\n@@\n-x\n+y\n*** End Patch\n",
     "deny", "/etc/profile.d/a.sh"),
])
def test_patches_are_read_as_codex_reads_them(env, patch, verdict, said):
    ev = {"hook_event_name": "PreToolUse", "tool_name": "apply_patch", "tool_input": {"command": patch},
          "cwd": "/home/dev/app"}
    got, reason, _ = agents.decide("codex", json.dumps(ev).encode(), [], env)
    assert got == verdict and said in reason, reason
