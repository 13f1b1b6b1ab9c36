"""`lighthouse expert`, the human console (lighthouse.experts.console).

The console runs as a real process in a tmux session of its own (a private tmux server:
its own socket directory and name), connected to a real server on a loopback port; the
tests read the screen with capture-pane, press keys with send-keys, and check what the
agent's client gets back. Waits are on what the screen or the server shows, with
generous timeouts; the only clock-bound wait is the escalation deadline under test.

The screen model (ConsoleState, render, clean) is also tested without a terminal, with
a fake clock, for the cases a terminal cannot time (a key pressed just as the selection
changes)."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import grpc
import pytest

from lighthouse.experts.agent import ExpertAgent
from lighthouse.experts.base import ExpertRequest
from lighthouse.experts.console import ARM_DELAY, ConsoleState, clean, fit, render, wrap
from lighthouse.server.app import ServerConfig
from lighthouse.server.auth import add_token
from lighthouse.v1 import validation_pb2 as pb
from lighthouse.v1 import validation_pb2_grpc

from serverkit import ROOT, ServerThread, tool_call

MISS = "zzfrobnicate --now"          # no rule of the shipped packs knows this program
CONSOLE = "console-test"
TIMEOUT = 60.0                       # a loaded machine: starting Python and grpc takes a while


def hub_config(tmp_path, **kw):
    kw.setdefault("escalation_deadline", 60.0)
    return ServerConfig(port=0, metrics_port=0, local_socket=False, experts_hub=True, **kw)


class Tmux:
    """A private tmux server (own socket directory and name, no user configuration) with
    one session, ``console``, 200x50."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="lh-tmux-")      # short: a socket path has a length limit
        self.name = "lh-%s" % uuid.uuid4().hex[:12]
        self.conf = os.path.join(self.dir, "tmux.conf")
        with open(self.conf, "w") as fh:
            # exit-empty off: a test that kills its only session and starts another would
            # otherwise race the server's own exit ("server exited unexpectedly").
            fh.write("set -s exit-empty off\nset -g status off\nset -g history-limit 100\n")
        self.env = dict(os.environ, TMUX_TMPDIR=self.dir, LANG="C.UTF-8", LC_ALL="C.UTF-8",
                        PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        # The console sizes itself to its pane: COLUMNS and LINES (pytest-xdist's workers
        # set 80 and 24) would override the pane's 200x50.
        for name in ("TMUX", "COLUMNS", "LINES"):
            self.env.pop(name, None)
        self.started = False

    def tmux(self, *args):
        r = subprocess.run(["tmux", "-L", self.name, "-f", self.conf, *args], env=self.env, capture_output=True,
                           text=True, timeout=30)
        if r.returncode:
            raise AssertionError("tmux %s failed: %s" % (" ".join(args[:2]), r.stderr.strip()))
        return r.stdout

    def start(self, server, *extra, expert_id=CONSOLE, session="console"):
        """Run `lighthouse expert --server ADDR --id ID ...` in the session; when it
        exits, the pane shows ``console exited with N``."""
        argv = [sys.executable, "-m", "lighthouse.cli", "expert", "--server", server]
        if expert_id:
            argv += ["--id", expert_id]
        script = '%s; echo "console exited with $?"; sleep 600' % shlex.join(argv + list(extra))
        self.tmux("new-session", "-d", "-x", "200", "-y", "50", "-s", session, "-c", str(ROOT), "sh", "-c", script)
        self.started = True

    def screen(self, attributes=False):
        return self.tmux("capture-pane", "-p", *(("-e",) if attributes else ()), "-t", "console")

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "console", *keys)

    def type(self, text):
        self.tmux("send-keys", "-t", "console", "-l", text)

    def pane(self, fmt):
        return self.tmux("display-message", "-p", "-t", "console", fmt).strip()

    def wait(self, pred, what, timeout=TIMEOUT):
        """The screen once ``pred(screen)`` holds (a string: it is on the screen)."""
        test = (lambda s: pred in s) if isinstance(pred, str) else pred
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if test(text):
                return text
            if "console exited with" in text:
                break
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s; the screen:\n%s" % (what, text))

    def close(self):
        if self.started:
            subprocess.run(["tmux", "-L", self.name, "kill-server"], env=self.env, capture_output=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def tmux():
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed: the console tests drive `lighthouse expert` in tmux "
                    "(apt-get install tmux; .ci/run installs it)")
    t = Tmux()
    yield t
    t.close()


@pytest.fixture
def stub():
    channels = []

    def make(server):
        ch = grpc.insecure_channel(server.address)
        channels.append(ch)
        return validation_pb2_grpc.ValidatorStub(ch)

    yield make
    for ch in channels:
        ch.close()


def registered(server, name):
    reg = server.server.experts
    return reg is not None and reg.get(name) is not None


def wait_for(pred, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def connected(tmux, server, expert_id=CONSOLE):
    tmux.wait(": connected", "the console to connect")
    wait_for(lambda: registered(server, expert_id), "the server to register the console")


def line_with(screen, text):
    return next((line for line in screen.splitlines() if text in line), None)


def settle():
    """Let the console's answer keys arm: they are refused for ARM_DELAY seconds after
    the selection changed, which happened before the screen the test saw."""
    time.sleep(ARM_DELAY + 0.1)


# ------------------------------------------------------------------ in tmux, against a real server


def test_deny_from_the_console(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path)) as server:
        tmux.start(server.address)
        connected(tmux, server)
        s = stub(server)
        for cmd in ("ls -la", "git status"):            # the session's history
            s.Validate(tool_call("Bash", cmd, session_id="sess-1", agent_id="agent-7"), timeout=30)
        fut = s.Validate.future(tool_call("Bash", MISS + " /etc/hosts > /tmp/out", session_id="sess-1",
                                          agent_id="agent-7"), timeout=120)
        screen = tmux.wait("[0] zzfrobnicate --now /etc/hosts", "the escalation and its detail")
        row = line_with(screen, "agent-7 / sess-1")
        assert row is not None and row.startswith(">"), screen
        assert re.search(r"> +(\d+m)?\d+s +Bash +miss +agent-7 / sess-1 +zzfrobnicate --now /etc/hosts > /tmp/out", row)
        assert "pending 1" in screen and "why: miss (no rule settled it)" in screen
        assert "reads /etc/hosts (system)" in screen and "writes /tmp/out (tmp)" in screen
        assert "rules fired: none" in screen and "policy: none (no policy tier decided)" in screen
        history = screen[screen.index("session history"):]
        assert "allow rules    Bash         ls -la" in history and "git status" in history
        settle()
        tmux.keys("d")
        d = fut.result(TIMEOUT)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:" + CONSOLE)
        assert "deny by a person at the console" in d.reason and d.escalation_id
        screen = tmux.wait("you answered deny", "the console's note")
        assert "pending 0" in screen and "deny 1" in screen
        assert server.server.experts.stats.escalations[(CONSOLE, "deny")] == 1


def test_allow_with_a_typed_reason_and_reusable_answers(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path)) as server:
        tmux.start(server.address)
        connected(tmux, server)
        assert "reusable off" in tmux.screen()
        tmux.keys("u")
        tmux.wait("reusable ON", "reusable answers on")
        s = stub(server)
        call = tool_call("Bash", "mytool sync --dry-run")
        fut = s.Validate.future(call, timeout=120)
        tmux.wait("[0] mytool sync --dry-run", "the escalation")
        tmux.keys("r")
        tmux.wait("reason> _", "the reason prompt")
        tmux.type("a dry run changes nothing")
        tmux.wait("reason> a dry run changes nothing_", "the typed reason")
        tmux.keys("Enter")
        screen = tmux.wait("your reason: a dry run changes nothing", "the reason kept")
        assert "reason kept" in screen
        settle()
        tmux.keys("a")
        d = fut.result(TIMEOUT)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_ALLOW, pb.TIER_EXPERT, "expert:" + CONSOLE)
        assert "a dry run changes nothing" in d.reason
        tmux.wait("you answered allow", "the console's note")
        # Reusable: the same call is answered from the cache, without the console.
        d2 = s.Validate(call, timeout=30)
        assert (d2.verdict, d2.tier) == (pb.VERDICT_ALLOW, pb.TIER_CACHE)
        assert server.server.experts.stats.escalations[(CONSOLE, "allow")] == 1


def test_an_escalation_past_its_deadline_disappears_with_a_note(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path, escalation_deadline=8.0, fallback="deny")) as server:
        tmux.start(server.address)
        connected(tmux, server)
        fut = stub(server).Validate.future(tool_call("Bash", MISS), timeout=120)
        tmux.wait("[0] zzfrobnicate --now", "the escalation")
        d = fut.result(TIMEOUT)
        assert (d.verdict, d.tier) == (pb.VERDICT_DENY, pb.TIER_FALLBACK)
        screen = tmux.wait("its deadline passed", "the withdrawal note")
        assert "withdrawn: Bash zzfrobnicate --now" in screen and "pending 0" in screen
        assert "no pending escalations" in screen and "withdrawn 1" in screen
        tmux.keys("d")                               # nothing left to answer
        tmux.wait("nothing selected", "the refused key")


HOSTILE = ("zzfrob ok\r\x1b[2J\x1b[H\x1b]2;pwned\x07\x1b[38;5;201mls -la  \x1b[8mhidden \x08\x08\x9b2J "
           "\u202eevil \u200bzero \u0430pple.com\x1b[0m")


def test_escape_sequences_in_a_call_are_shown_neutralised(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path)) as server:
        tmux.start(server.address)
        connected(tmux, server)
        title = tmux.pane("#{pane_title}")
        fut = stub(server).Validate.future(
            tool_call("Bash", HOSTILE, session_id="s\x1b[2Jx", agent_id="agent\x1b]2;owned\x07",
                      cwd="/home/dev/app\x1b[1A"), timeout=120)
        screen = tmux.wait("U+0430 CYRILLIC SMALL LETTER A", "the hostile call")
        shown = r"zzfrob ok\r\x1b[2J\x1b[H\x1b]2;pwned\x07\x1b[38;5;201mls -la  \x1b[8mhidden \x08\x08\x9b2J " \
                r"\u202eevil \u200bzero аpple.com\x1b[0m"
        assert shown in screen, screen                # in full, in the detail view, escaped
        assert r"agent agent\x1b]2;owned\x07   session s\x1b[2Jx" in screen, screen
        assert r"cwd /home/dev/app\x1b[1A" in screen
        assert "U+202E RIGHT-TO-LEFT OVERRIDE" in screen and "U+200B ZERO WIDTH SPACE" in screen
        assert screen.startswith("lighthouse expert " + CONSOLE)       # the screen was not cleared or moved
        assert "\r" not in screen and "\x1b" not in screen
        # The terminal saw no escape of the call: not the title, not the colour, not the hidden text.
        assert tmux.pane("#{pane_title}") == title != "pwned"
        attributed = tmux.screen(attributes=True)
        assert "\x1b[38;5;201m" not in attributed and "\x1b[8m" not in attributed
        settle()
        tmux.keys("d")
        assert fut.result(TIMEOUT).verdict == pb.VERDICT_DENY


def test_an_escalation_decided_by_other_experts_is_withdrawn(tmp_path, tmux, stub):
    """A quorum of two (the default policy's `credentials` category): the console and a
    scripted expert hold the call; the other expert's deny decides it, and the console's
    copy disappears with the server's reason."""
    config = hub_config(tmp_path, policy=True, policy_processes=1, policy_deadline=10.0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    release = asyncio.Event()
    held = threading.Event()

    async def judge(request):
        held.set()
        await release.wait()
        return "deny", "a password on the command line"

    agent = ExpertAgent(judge, "", expert_id="other", backoff=(0.05, 0.5))
    running = None
    try:
        with ServerThread(config) as server:
            tmux.start(server.address)
            connected(tmux, server)
            agent.server = server.address
            running = asyncio.run_coroutine_threadsafe(agent.run(), loop)
            wait_for(lambda: registered(server, "other"), "the other expert")
            fut = stub(server).Validate.future(tool_call("Bash", "zzfrob --password=hunter2"), timeout=120)
            screen = tmux.wait("[0] zzfrob --password=hunter2", "the escalation")
            row = line_with(screen, "zzfrob --password=hunter2")
            assert re.search(r"Bash +policy credentials q2 ", row), row
            assert "quorum: 2 experts must answer" in screen
            assert "policy: ask: policy: zzfrob takes a password or token on its command line (category " \
                   "credentials, quorum 2" in screen
            wait_for(held.is_set, "the other expert to hold the call")
            loop.call_soon_threadsafe(release.set)
            d = fut.result(TIMEOUT)
            assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_DENY, pb.TIER_EXPERT, "expert:other")
            screen = tmux.wait("other experts decided it", "the withdrawal note")
            assert "pending 0" in screen
    finally:
        loop.call_soon_threadsafe(agent.stop)
        if running is not None:
            running.result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_tokens_expert_role_and_refusal(tmp_path, tmux, stub):
    """With a tokens file: an expert token from --token-file connects under the token's
    identity; an agent token is refused, and the console says so after restoring the
    terminal."""
    path = tmp_path / "tokens"
    agent = add_token(path, "agent-1")
    expert = add_token(path, "alice", expert=True)
    (tmp_path / "expert.token").write_text(expert + "\n")
    (tmp_path / "agent.token").write_text(agent + "\n")
    with ServerThread(hub_config(tmp_path, tokens=str(path))) as server:
        tmux.start(server.address, "--token-file", str(tmp_path / "agent.token"), expert_id=None)
        screen = tmux.wait("console exited with", "the refusal")
        assert "the server refused this console: PERMISSION_DENIED" in screen and "console exited with 1" in screen
        tmux.tmux("kill-session", "-t", "console")
        tmux.start(server.address, "--token-file", str(tmp_path / "expert.token"), expert_id=None)
        connected(tmux, server, "alice")
        assert tmux.screen().startswith("lighthouse expert alice on ")
        md = (("authorization", "Bearer " + agent),)
        fut = stub(server).Validate.future(tool_call("Bash", MISS), metadata=md, timeout=120)
        tmux.wait("[0] zzfrobnicate --now", "the escalation")
        settle()
        tmux.keys("s")
        d = fut.result(TIMEOUT)
        assert (d.verdict, d.tier, d.rule_id) == (pb.VERDICT_ASK, pb.TIER_EXPERT, "expert:alice")


def test_a_second_console_with_the_same_id_replaces_the_first(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path)) as server:
        tmux.start(server.address)
        connected(tmux, server)
        tmux.start(server.address, session="second")
        screen = tmux.wait("console exited with", "the first console to stop")
        assert "the server refused this console: ABORTED" in screen and "its own --id" in screen
        assert "console exited with 1" in screen
        assert server.server.experts.stats.connections["replaced"] == 1 and registered(server, CONSOLE)


def test_mutual_tls(tmp_path, tmux, pki):
    d = pki["dir"]
    config = hub_config(tmp_path, tls_cert=str(d / "server.pem"), tls_key=str(d / "server.key"),
                        tls_client_ca=str(d / "ca.pem"))
    with ServerThread(config) as server:
        tmux.start(server.address, "--tls-ca", str(d / "ca.pem"), "--tls-cert", str(d / "client.pem"),
                   "--tls-key", str(d / "client.key"))
        connected(tmux, server)


def test_quit_asks_again_while_escalations_are_pending(tmp_path, tmux, stub):
    with ServerThread(hub_config(tmp_path, fallback="deny")) as server:
        tmux.start(server.address)
        connected(tmux, server)
        fut = stub(server).Validate.future(tool_call("Bash", MISS), timeout=120)
        tmux.wait("[0] zzfrobnicate --now", "the escalation")
        tmux.keys("q")
        tmux.wait("press q again to quit", "the second q asked for")
        tmux.keys("q")
        tmux.wait("console exited with 0", "the console to exit")
        wait_for(lambda: not registered(server, CONSOLE), "the server to see the console go")
        assert fut.running()                  # no expert left: the call waits for one, then the fail mode


# ------------------------------------------------------------------ the command line without a terminal


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lighthouse.cli", "expert", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, env=env, cwd=str(ROOT))


def test_without_a_terminal_it_refuses_and_bad_options_are_named():
    r = run_cli("--server", "127.0.0.1:1", "--id", "x")
    assert r.returncode == 2 and "needs a terminal" in r.stderr and "lighthouse.experts.agent" in r.stderr
    r = run_cli("--server", "127.0.0.1:1", "--id", "bad id!")
    assert r.returncode == 2 and "--id 'bad id!'" in r.stderr
    r = run_cli("--server", "10.1.2.3:50051", "--token", "secret")
    assert r.returncode == 2 and "only over TLS" in r.stderr
    r = run_cli("--server", "127.0.0.1:1", "--tls-cert", "c.pem")
    assert r.returncode == 2 and "--tls-cert and --tls-key go together" in r.stderr
    r = run_cli("--server", "127.0.0.1:1", "--capacity", "0")
    assert r.returncode == 2 and "--capacity" in r.stderr
    r = run_cli("--server", "127.0.0.1:1", "--token-file", "/nonexistent/token")
    assert r.returncode == 1 and "cannot read --token-file /nonexistent/token" in r.stderr
    r = run_cli("--help")
    assert r.returncode == 0 and "a allow, s ask, d deny" in r.stdout and "neutralised" in r.stdout


# ------------------------------------------------------------------ the screen model, without a terminal


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def request(eid, command, deadline, **kw):
    return ExpertRequest(escalation_id=eid, tool="Bash", tool_input={"command": command}, deadline=deadline,
                         deadline_ms=30000, **kw)


def test_clean_shows_every_invisible_or_controlling_character():
    assert clean("git status") == "git status"
    assert clean("a\x1b[2Jb\r\n\t\x07\x00\x7f") == r"a\x1b[2Jb\r\n\t\x07\x00\x7f"
    assert clean("\x9b31m \u202e \u2066 \u200b \u2028 \ufeff \U000e0041") == \
        r"\x9b31m \u202e \u2066 \u200b \u2028 \ufeff \U000e0041"
    assert clean("\ue000 \U0010ffff \ud800") == r"\ue000 \U0010ffff \ud800"      # private use, surrogate
    assert clean("café 中文") == "café 中文" and clean("café", ascii_only=True) == r"caf\xe9"
    assert clean(42) == "42"
    for text in (clean(chr(c)) for c in range(0x110000)):
        assert text.isprintable()


def test_fit_and_wrap_count_display_columns():
    assert fit("abc", 5) == "abc  " and fit("abcdef", 3) == "abc"
    assert fit("中文字", 5) == "中文 " and fit("e\u0301x", 2) == "e\u0301x"
    assert wrap("中文字", 4) == ["中文字"] and wrap("中" * 10, 8) == ["中" * 4, "中" * 4, "中" * 2]
    assert wrap("a" * 20, 8) == ["a" * 8, "a" * 8, "a" * 4]


def test_render_never_writes_a_control_character_and_keeps_its_width():
    clock = Clock()
    state = ConsoleState("c1", "127.0.0.1:1", clock=clock)
    nasty = "".join(chr(c) for c in range(0, 0x100)) + "\u202e\u2028中" * 30 + "\n" * 5

    async def go():
        tasks = [asyncio.ensure_future(state.judge(request("e%d" % i, nasty, clock.now + 30, agent_id=nasty[:40],
                                                           session_id=nasty, cwd=nasty, why="ask", rule_id=nasty,
                                                           rule_reason=nasty,
                                                           analysis={"commands": [{"argv": [nasty], "reads": [
                                                               {"path": nasty, "where": nasty}]}],
                                                                     "rules": [{"id": nasty, "reason": nasty}]},
                                                           policy={"verdict": nasty, "category": nasty},
                                                           history=({"tool": nasty, "summary": nasty},))))
                 for i in range(3)]
        await asyncio.sleep(0)
        for rows, cols in ((50, 200), (10, 30), (3, 5), (1, 1), (0, 0)):
            screen = render(state, rows, cols)
            assert len(screen) == rows
            for text, _ in screen:
                assert text.isprintable() and len(text) <= max(cols - 1, 1), repr(text)
        state.stopping = True
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(go())


def test_answer_keys_wait_for_the_selection_to_settle():
    clock = Clock()
    state = ConsoleState("c1", "127.0.0.1:1", clock=clock)

    async def go():
        first = asyncio.ensure_future(state.judge(request("e1", "one", clock.now + 30)))
        second = asyncio.ensure_future(state.judge(request("e2", "two", clock.now + 40)))
        await asyncio.sleep(0)
        assert [p.request.escalation_id for p in state.pending] == ["e1", "e2"]
        assert state.selected.request.escalation_id == "e1"
        state.key("d")                              # the escalation just arrived
        assert not first.done() and "selection just changed" in state.notes[-1][1]
        clock.now += ARM_DELAY
        state.key("j")
        state.key("d")                              # moved to e2 just now
        assert not second.done()
        clock.now += ARM_DELAY
        state.key("k")
        clock.now += ARM_DELAY
        # The selected one is withdrawn: the selection moves, and the key waits again.
        first.cancel("answered")
        await asyncio.gather(first, return_exceptions=True)
        assert "other experts decided it" in state.notes[-1][1]
        assert state.selected.request.escalation_id == "e2"
        state.key("a")
        assert not second.done()
        clock.now += ARM_DELAY
        state.key("r")
        for k in "looks fine!x":
            state.key(k)
        state.key("backspace")
        state.key("enter")
        state.key("a")
        answer = await second
        assert (answer.verdict, answer.reason, answer.confidence, answer.reusable) == \
            ("allow", "looks fine!", 1.0, False)
        assert not state.pending and state.selected is None and state.answered["allow"] == 1

    asyncio.run(go())


def test_reason_mode_ends_when_its_escalation_goes_and_q_asks_twice():
    clock = Clock()
    state = ConsoleState("c1", "127.0.0.1:1", clock=clock)

    async def go():
        t = asyncio.ensure_future(state.judge(request("e1", "one", clock.now + 30)))
        await asyncio.sleep(0)
        state.key("r")
        state.key("d")                              # typed, not an answer
        assert state.mode == "reason" and state.buffer == "d" and not t.done()
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)
        assert state.mode == "list" and "the connection ended" in state.notes[-2][1]
        assert "typing a reason" in state.notes[-1][1]
        t = asyncio.ensure_future(state.judge(request("e2", "two", clock.now + 30)))
        await asyncio.sleep(0)
        assert state.key("q") is True and "press q again" in state.notes[-1][1]
        clock.now += 5                              # too late for the second q: it asks again
        assert state.key("q") is True
        assert state.key("q") is False
        state.stopping = True
        t.cancel()
        await asyncio.gather(t, return_exceptions=True)

    asyncio.run(go())
