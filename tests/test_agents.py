"""`lighthouse hook gemini|cursor|codex` and `hook install --agent`: events recorded in each
agent's own format (tests/data/hooks/<agent>/*.json), judged by a real server (and by the
local decision with no server), answered in the agent's format; the settings each install
writes, checked against the agent's documented schema, merged with what is there, and a
command that blocks the call when the hook cannot run."""

from __future__ import annotations

import io
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
               "mcp-string-input": "deny", "read-dotenv": "deny", "read-source": "allow", "stop": "deny",
               "pre-write-in-workspace": "allow", "pre-write-system-file": "deny", "pre-write-two-paths": "deny",
               "pre-write-without-content": "deny", "pre-strreplace-bashrc": "deny",
               "pre-strreplace-relative": "allow", "pre-delete-authorized-keys": "deny",
               "pre-delete-build-output": "allow", "pre-apply-patch-git-hook": "ask", "pre-edit-notebook": "allow",
               "pre-readfile-private-key": "deny", "pre-glob-sources": "allow", "pre-shell-handed-over": "allow",
               "pre-read-handed-over": "allow", "pre-mcp-handed-over": "allow", "pre-todo-write": "allow",
               "pre-unknown-tool": "ask"},
    "codex": {"bash-rm-root": "deny", "bash-argv-git-status": "allow", "bash-chmod-risky": "ask",
              "patch-in-workspace": "allow", "patch-touches-sudoers": "deny", "patch-deletes-bashrc": "deny",
              "patch-without-files": "deny", "mcp-drop-table": "deny"},
}
CASES = [(agent, name) for agent in sorted(EXPECTED) for name in sorted(EXPECTED[agent])]
# Cursor preToolUse calls that the dedicated event installed beside it judges (no server call).
HANDED_OVER = {"pre-shell-handed-over": "beforeShellExecution", "pre-read-handed-over": "beforeReadFile",
               "pre-mcp-handed-over": "beforeMCPExecution"}


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
        if payload["hook_event_name"] == "beforeReadFile":       # documented: the permission alone
            assert out == {"permission": "allow" if verdict == "allow" else "deny"}
            return
        assert set(out) == {"permission", "user_message", "agent_message"}
        assert out["user_message"] == out["agent_message"] and out["user_message"]
        if payload["hook_event_name"] == "preToolUse" and verdict == "ask":
            assert out["permission"] == "deny" and out["user_message"].startswith("a person must approve this call")
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
    if name in HANDED_OVER:
        assert server.calls == [] and HANDED_OVER[name] in reason


@pytest.mark.parametrize("agent, name", CASES)
def test_recorded_events_with_the_server_down(env, agent, name):
    verdict, reason, _ = agents.decide(agent, load(agent, name), [], env)
    assert verdict == EXPECTED[agent][name], reason


def test_what_the_server_is_asked(server, env):
    """The mapping to Lighthouse's tools, as the server receives it."""
    for agent, name in [("gemini", "shell-list-subdir"), ("gemini", "read-private-key"),
                        ("cursor", "mcp-string-input"), ("cursor", "read-source"),
                        ("codex", "bash-argv-git-status"), ("codex", "patch-touches-sudoers"),
                        ("cursor", "pre-write-two-paths"), ("cursor", "pre-strreplace-relative"),
                        ("cursor", "pre-delete-build-output"), ("cursor", "pre-edit-notebook"),
                        ("cursor", "pre-glob-sources"), ("cursor", "pre-readfile-private-key")]:
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
    ] + [(tool, tool_input, "/home/dev/app", "cursor", "668320d2-2fd8-4888-b33c-2a466fec86e7")
         for tool, tool_input in [
        # both spellings of the file are judged: the hook cannot know which one Cursor writes
        ("Write", {"file_path": "/home/dev/app/src/notes.md", "content": "* * * * * root sh /tmp/x\n"}),
        ("Write", {"file_path": "/etc/cron.d/backup", "content": "* * * * * root sh /tmp/x\n"}),
        ("Edit", {"file_path": "/home/dev/app/src/main.py", "old_string": "DEBUG = True", "new_string": "DEBUG = False"}),
        ("Bash", {"command": "rm -f -- /home/dev/app/build/app.o"}),
        ("NotebookEdit", {"notebook_path": "/home/dev/app/analysis.ipynb", "new_source": "df.describe()"}),
        ("Glob", {"pattern": "**/*.py", "path": "/home/dev/app/src"}),
        ("Read", {"file_path": "/home/dev/.ssh/id_ed25519"})]]


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

# Each agent's hook configuration, field by field, as its documentation and source give it
# (README, "Other agents"): the events it knows, the keys of a matcher group and of a
# handler with their types, and the unit of its timeout.
NUMBER = (int, float)
DOCUMENTED = {
    # Claude Code settings: {"hooks": {Event: [{"matcher", "hooks": [{"type": "command", ...}]}]}}
    "claude-code": {"events": {"PreToolUse", "PostToolUse", "Notification", "UserPromptSubmit", "Stop",
                               "SubagentStop", "PreCompact", "SessionStart", "SessionEnd"},
                    "group": {"matcher": str, "hooks": list},
                    "handler": {"type": str, "command": str, "timeout": NUMBER}, "timeout_unit": 1},
    # Gemini CLI docs/hooks/reference.md: a definition {matcher, sequential, hooks}, a hook
    # {type: "command", command, name, timeout (ms), description}; enabled/disabled/
    # notifications are settings beside the events.
    "gemini": {"events": {"BeforeTool", "AfterTool", "BeforeAgent", "AfterAgent", "SessionStart", "SessionEnd",
                          "Notification", "PreCompress", "BeforeModel", "AfterModel", "BeforeToolSelection"},
               "settings": {"enabled", "disabled", "notifications"},
               "group": {"matcher": str, "sequential": bool, "hooks": list},
               "handler": {"type": str, "command": str, "name": str, "timeout": NUMBER, "description": str},
               "timeout_unit": 1000},
    # Codex codex-rs/hooks/src/engine/config.rs: MatcherGroup {matcher, hooks}, a command
    # handler {type: "command", command, timeout (s; alias timeoutSec), async, statusMessage}.
    "codex": {"events": {"PreToolUse", "PermissionRequest", "PostToolUse", "SessionStart", "UserPromptSubmit",
                         "Stop"},
              "group": {"matcher": str, "hooks": list},
              "handler": {"type": str, "command": str, "timeout": int, "timeoutSec": int, "async": bool,
                          "statusMessage": str}, "timeout_unit": 1},
    # Cursor hooks.json version 1: handlers straight under each event {command, type,
    # timeout (s), loop_limit, failClosed, matcher}.
    "cursor": {"events": {"sessionStart", "sessionEnd", "preToolUse", "postToolUse", "postToolUseFailure",
                          "subagentStart", "subagentStop", "beforeShellExecution", "afterShellExecution",
                          "beforeMCPExecution", "afterMCPExecution", "beforeReadFile", "afterFileEdit",
                          "beforeSubmitPrompt", "preCompact", "stop", "afterAgentResponse", "afterAgentThought",
                          "beforeTabFileRead", "afterTabFileEdit"},
               "handler": {"command": str, "type": str, "timeout": NUMBER, "loop_limit": int, "failClosed": bool,
                           "matcher": str}, "timeout_unit": 1},
}


def check_fields(obj, fields, where):
    assert isinstance(obj, dict), where
    for key, value in obj.items():
        assert key in fields, "%s: %r is not a documented field" % (where, key)
        assert isinstance(value, fields[key]) and not (fields[key] is not bool and isinstance(value, bool)), \
            "%s.%s: %r is not %s" % (where, key, value, fields[key])


def check_schema(agent, data, command, timeout):
    """``data`` is a configuration ``agent`` documents, field by field, and holds our
    handler exactly once per event it is installed for, with the timeout in the agent's unit."""
    doc = DOCUMENTED[agent]
    assert isinstance(data, dict) and isinstance(data["hooks"], dict)
    if agent == "cursor":
        assert type(data["version"]) is int and data["version"] == 1
    ours = {}
    for event, entries in data["hooks"].items():
        if event in doc.get("settings", ()):
            continue
        assert event in doc["events"], "%s is no %s hook event" % (event, agent)
        assert isinstance(entries, list)
        for i, entry in enumerate(entries):
            if "group" in doc:
                check_fields(entry, doc["group"], "hooks.%s[%d]" % (event, i))
                handlers = entry["hooks"]
            else:
                handlers = [entry]
            for h in handlers:
                check_fields(h, doc["handler"], "hooks.%s[%d] handler" % (event, i))
                assert isinstance(h["command"], str) and h["command"]
                assert h.get("type", "command") == "command"
                if h["command"] == command:
                    ours.setdefault(event, []).append((entry, h))
    assert set(ours) == set(SPECS[agent].events), ours.keys()
    for event, found in ours.items():
        assert len(found) == 1, event
        entry, h = found[0]
        assert h["timeout"] == timeout * doc["timeout_unit"]
        if agent == "cursor":
            assert h["failClosed"] is True and "matcher" not in h      # every tool, blocked when the hook fails
        elif agent == "gemini":
            assert entry["matcher"] == ".*" and h["type"] == "command"
        elif agent == "codex":
            assert "matcher" not in entry and h["type"] == "command" and not h.get("async")
        else:
            assert entry["matcher"] == "*" and h["type"] == "command"


EXISTING = {
    "claude-code": {"permissions": {"allow": ["Bash(npm test)"]}, "hooks": {"PreToolUse": [
        {"matcher": "Bash", "hooks": [{"type": "command", "command": "./check.sh", "timeout": 5}]}],
        "Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "./notify.sh"}]}]}},
    "gemini": {"theme": "GitHub", "hooks": {"BeforeTool": [{"matcher": "write_file", "hooks": [
        {"type": "command", "command": "./lint.sh", "timeout": 5000}]}], "SessionStart": [
        {"hooks": [{"type": "command", "command": "./hello.sh"}]}]}},
    "cursor": {"version": 1, "hooks": {"beforeShellExecution": [{"command": "./audit.sh"}],
                                       "preToolUse": [{"command": "./guard.sh", "matcher": "Write",
                                                       "failClosed": True, "timeout": 5}],
                                       "afterFileEdit": [{"command": "./format.sh"}]}},
    "codex": {"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./plan.sh"}]}],
                        "Stop": [{"hooks": [{"type": "command", "command": "./stop.sh", "timeout": 30}]}]}},
}


@pytest.mark.parametrize("agent", sorted(SPECS))
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


def test_an_older_cursor_install_gains_pre_tool_use(tmp_path):
    """An install from before preToolUse was used is completed in place, not duplicated."""
    path = agent_settings_path("cursor", tmp_path)
    cmd = hook_command(wait=32, agent="cursor")
    handler = {"command": cmd, "timeout": 42, "failClosed": True}
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        json.dump({"version": 1, "hooks": {e: [dict(handler)] for e in ("beforeShellExecution",
                                                                        "beforeMCPExecution", "beforeReadFile")}}, fh)
    assert install(path, cmd, 42, "cursor") == "updated"
    check_schema("cursor", json.loads(open(path).read()), cmd, 42)
    assert install(path, cmd, 42, "cursor") == "unchanged"


# What each agent needs to block a call its hook could not judge: exit 2 (Codex: with a
# reason on stderr). Any other failure lets the call run (Cursor: unless failClosed).
BROKEN = {"missing": None, "fails": "#!/bin/sh\necho 'No module named lighthouse' >&2\nexit 1\n",
          "killed": "#!/bin/sh\nkill -9 $$\n"}
SAMPLE = {"gemini": "shell-list-subdir", "codex": "bash-argv-git-status",
          "cursor": {"preToolUse": "pre-write-in-workspace", "beforeShellExecution": "shell-git-status",
                     "beforeMCPExecution": "mcp-string-input", "beforeReadFile": "read-source"}}


@pytest.mark.parametrize("broken", sorted(BROKEN))
@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_the_installed_command_blocks_when_the_hook_cannot_run(env, tmp_path, agent, broken):
    """The interpreter gone, or the hook failing or killed: every installed event's command
    exits 2 with a reason on stderr, and prints no answer that could read as an allow."""
    python = tmp_path / "bin" / "python"
    if BROKEN[broken]:
        python.parent.mkdir()
        python.write_text(BROKEN[broken])
        python.chmod(0o755)
    path = agent_settings_path(agent, tmp_path)
    install(path, hook_command(python=str(python), agent=agent), 42, agent)
    data = json.loads(open(path).read())
    for event in SPECS[agent].events:
        entry = data["hooks"][event][0]
        handler = entry if agent == "cursor" else entry["hooks"][0]
        name = SAMPLE[agent][event] if agent == "cursor" else SAMPLE[agent]
        proc = subprocess.run(handler["command"], shell=True, input=load(agent, name), capture_output=True,
                              env=env, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2, (event, proc.returncode, proc.stderr)
        assert proc.stdout == b""
        assert (b"is missing" if broken == "missing" else b"the tool call is blocked") in proc.stderr


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
    if agent == "cursor":      # the preToolUse handler: a write judged, a shell call left to its own event
        for name, verdict, calls in (("pre-write-system-file", "deny", 2), ("pre-shell-handed-over", "allow", 2)):
            command = data["hooks"]["preToolUse"][0]["command"]
            proc = subprocess.run(command + " --timeout 30", shell=True, input=load(agent, name),
                                  capture_output=True, env=env, cwd=tmp_path, timeout=120)
            assert proc.returncode == 0, proc.stderr
            check_answer(agent, name, json.loads(proc.stdout), verdict)
            assert len(server.calls) == calls


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


# ---------------------------------------------------------------- Cursor preToolUse

def pre_tool_use(tool, tool_input, **extra):
    ev = json.loads(load("cursor", "pre-write-in-workspace"))
    ev.update(tool_name=tool, tool_input=tool_input, **extra)
    return json.dumps(ev).encode()


def test_a_handed_over_call_is_judged_by_its_own_event(server, env):
    """preToolUse leaves Shell, Read and MCP calls to the events installed beside it; those
    judge the same call (here: the server's answer to each)."""
    pre = json.loads(load("cursor", "pre-shell-handed-over"))
    same = {k: pre[k] for k in ("conversation_id", "generation_id", "workspace_roots")}
    events = [dict(same, hook_event_name="beforeShellExecution", command=pre["tool_input"]["command"],
                   cwd=pre["cwd"]),
              dict(same, hook_event_name="beforeReadFile",
                   file_path=json.loads(load("cursor", "pre-read-handed-over"))["tool_input"]["file_path"]),
              dict(same, hook_event_name="beforeMCPExecution", tool_name="query", server_name="postgres",
                   tool_input=json.loads(load("cursor", "pre-mcp-handed-over"))["tool_input"])]
    for ev in events:
        verdict, reason, _ = agents.decide("cursor", json.dumps(ev).encode(), ["--timeout", "30"], env)
        assert verdict == "deny" and "decided locally" not in reason, (ev["hook_event_name"], reason)
    assert [c["tool"] for c in server.calls] == ["Bash", "Read", "mcp__postgres__query"]


@pytest.mark.parametrize("tool, tool_input, problem", [
    ("Write", "not json", "tool_input is a string that is not JSON"),
    ("Write", "[" * 100000, "tool_input is a string nested too deeply"),
    ("Write", ["src/a.py"], "tool_input must be a JSON object"),
    ("Write", {"content": "x"}, "Write: tool_input names no file"),
    ("Write", {"file_path": 7, "content": "x"}, "tool_input.file_path must be a non-empty string"),
    ("Write", {"file_path": "", "content": "x"}, "tool_input.file_path must be a non-empty string"),
    ("Write", {"path": "src/a.py", "content": {"x": 1}}, "tool_input.content must be a string"),
    ("StrReplace", {"path": "src/a.py", "old_string": "a"}, "new_string must be a string"),
    ("Delete", {}, "Delete: tool_input names no file"),
    ("EditNotebook", {"cell_idx": 0, "new_string": "x"}, "names no notebook"),
    ("ReadFile", {"target_file": ["x"]}, "tool_input.target_file must be a non-empty string"),
    ("ApplyPatch", {"diff": "*** Begin Patch"}, "the patch text"),
    ("ApplyPatch", "*** Begin Patch\n*** End Patch\n", "no file operation"),
    ("Glob", {"target_directory": "src"}, "glob_pattern must be a non-empty string"),
])
def test_unreadable_pre_tool_use_inputs_are_denied(env, tool, tool_input, problem):
    verdict, reason, _ = agents.decide("cursor", pre_tool_use(tool, tool_input), [], env)
    assert verdict == "deny" and problem in reason, reason


def test_pre_tool_use_without_input_or_name_is_denied(env):
    ev = json.loads(pre_tool_use("Write", {}))
    del ev["tool_input"]
    assert agents.decide("cursor", json.dumps(ev).encode(), [], env)[1] == "lighthouse: tool_input is missing"
    ev = json.loads(pre_tool_use("", {}))
    assert "tool_name must be a non-empty string" in agents.decide("cursor", json.dumps(ev).encode(), [], env)[1]


@pytest.mark.parametrize("tool", ["shell", "Shell ", "SHELL", "read", "mcp:query", "Bash"])
def test_only_exact_names_are_handed_over(env, tool):
    """A name that merely resembles a handed-over tool is judged under its own name: the
    rules know no such tool (ask; a deny saying so on preToolUse), or know it (Bash)."""
    verdict, reason, _ = agents.decide("cursor", pre_tool_use(tool, {"command": "rm -rf ~",
                                                                    "file_path": "/home/dev/.ssh/id_rsa"}), [], env)
    assert verdict in ("ask", "deny") and "left to" not in reason, reason
    out = agents.run("cursor", pre_tool_use(tool, {"command": "rm -rf ~"}), [], env)
    assert out["permission"] == "deny"


def test_every_spelling_of_the_file_is_judged(env):
    """Any path field may be the one Cursor writes: a safe one beside a dangerous one is
    judged as the dangerous one, whichever the order."""
    for tool_input in ({"file_path": "src/a.py", "target_file": "/home/dev/.ssh/authorized_keys", "content": "k"},
                       {"filePath": "/home/dev/.bashrc", "path": "src/a.py", "contents": "x"}):
        assert agents.decide("cursor", pre_tool_use("Write", tool_input), [], env)[0] == "deny"
    # and every spelling of the content
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
    verdict, reason, _ = agents.decide("cursor", pre_tool_use("Write", {"path": "src/k.txt", "content": "hi",
                                                                         "contents": secret}), [], env)
    assert verdict == "ask" and "credential or private key" in reason, reason


def test_pre_tool_use_paths_resolve_against_the_cwd(env):
    """A relative path climbing out of the workspace is judged where it lands."""
    for tool, tool_input in (("Write", {"file_path": "../../../etc/cron.d/x", "content": "x"}),
                             ("StrReplace", {"path": "src/../../.ssh/config", "old_string": "",
                                             "new_string": "ProxyCommand sh"}),
                             ("Delete", {"path": "../../.bashrc"})):
        verdict, reason, _ = agents.decide("cursor", pre_tool_use(tool, tool_input), [], env)
        assert verdict == "deny", (tool, reason)


def test_a_pre_tool_use_patch_past_the_limit_is_a_deny(env):
    patch = "*** Begin Patch\n" + "".join("*** Add File: f%d.txt\n+x\n" % i for i in range(agents.MAX_CALLS + 1))
    verdict, reason, payload = agents.decide("cursor", pre_tool_use("ApplyPatch", patch), [], env)
    assert verdict == "ask" and "more than the 32" in reason
    out = agents.answer_for("cursor", verdict, reason, payload)
    assert out["permission"] == "deny" and out["user_message"].startswith("a person must approve this call")


def test_a_huge_pre_tool_use_event_is_denied_unread(env):
    big = pre_tool_use("Write", {"file_path": "src/a.py", "content": "x" * (claude_code.MAX_EVENT + 1)})
    verdict, reason, _ = agents.decide("cursor", big, [], env)
    assert verdict == "deny" and "exceeds" in reason


@pytest.mark.parametrize("name, answer", [
    ("pre-write-in-workspace", {"permission": "deny"}),
    ("read-source", {"permission": "deny"}),
    ("shell-git-status", {"permission": "ask"}),
])
def test_a_failing_hook_answers_in_the_events_format(env, monkeypatch, capsys, name, answer):
    """A bug inside the hook is an ask rendered for the event it failed on: a deny where
    that event cannot ask (preToolUse, beforeReadFile), never an allow."""
    def broken(agent, payload):
        raise RuntimeError("mapping exploded")
    monkeypatch.setattr(agents, "calls_for", broken)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(load("cursor", name))))
    assert agents.main("cursor", []) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in answer} == answer
    if "user_message" in out:
        assert "lighthouse hook failed (RuntimeError: mapping exploded)" in out["user_message"]
