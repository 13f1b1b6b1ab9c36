"""The hook's local spool (lighthouse.audit.spool): decisions the hook makes while no
server answers are spooled owner-only and bounded, and a server with its audit log on
records them, in order and chained, at start and while it runs; what the spool lost is
a gap `audit verify` reports. Real hook runs, real servers, real SQLite files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time

import grpc

from lighthouse.audit import open_backend, spool, verify
from lighthouse.cli import main
from lighthouse.hooks import claude_code
from lighthouse.server.app import ServerConfig
from lighthouse.v1 import validation_pb2_grpc as pb_grpc

from serverkit import ROOT, ServerThread, quiet_grpc_logs, tool_call

quiet_grpc_logs()

WS = "/home/dev/app"
CALLS = [("Bash", {"command": "rm -rf ~"}, "deny"), ("Bash", {"command": "ls -la"}, "allow"),
         ("Read", {"file_path": WS + "/README.md"}, "allow"), ("Bash", {"command": "rm -rf /usr"}, "deny")]


def hook_env(tmp_path):
    return {"LIGHTHOUSE_SOCKET": str(tmp_path / "no-server.sock"), "LIGHTHOUSE_SPOOL": str(tmp_path / "sp" / "spool"),
            "HOME": "/home/dev", "PATH": os.environ.get("PATH", "")}


def hook(tool, tool_input, env, session="cc-1"):
    ev = {"session_id": session, "cwd": WS, "hook_event_name": "PreToolUse", "tool_name": tool,
          "tool_input": tool_input}
    return claude_code.run(json.dumps(ev).encode(), environ=env)["hookSpecificOutput"]


def records(db):
    with open_backend(db, readonly=True) as b:
        return list(b.records())


def test_local_decisions_are_spooled_owner_only(tmp_path):
    env = hook_env(tmp_path)
    outs = [hook(t, i, env) for t, i, _ in CALLS]
    assert [o["permissionDecision"] for o in outs] == [v for _, _, v in CALLS]
    path = env["LIGHTHOUSE_SPOOL"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    lines = [json.loads(line) for line in open(path)]
    assert [(x["tool"], x["verdict"]) for x in lines] == [(t, v) for t, _, v in CALLS]
    first = lines[0]
    assert first["agent_id"] == "claude-code" and first["session_id"] == "cc-1" and first["cwd"] == WS
    assert first["tier"] == "rules" and first["rule_id"] and first["input"] == '{"command":"rm -rf ~"}'
    assert first["input_sha256"] == hashlib.sha256(b'{"command":"rm -rf ~"}').hexdigest()
    entries, lost = spool.take(path)
    assert len(entries) == 4 and lost == 0 and not os.path.exists(path)
    assert spool.take(path) == ([], 0)


def test_the_hook_as_a_process_spools_too(tmp_path):
    env = dict(os.environ, **hook_env(tmp_path))
    env["PYTHONPATH"] = str(ROOT)
    ev = json.dumps({"session_id": "s", "cwd": WS, "hook_event_name": "PreToolUse", "tool_name": "Bash",
                     "tool_input": {"command": "rm -rf ~"}})
    out = subprocess.run([sys.executable, "-m", "lighthouse.hooks.claude_code"], input=ev, capture_output=True,
                         text=True, env=env, timeout=60)
    assert json.loads(out.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert [json.loads(line)["verdict"] for line in open(env["LIGHTHOUSE_SPOOL"])] == ["deny"]


def test_a_full_spool_turns_an_allow_into_an_ask_and_counts_the_loss(tmp_path, monkeypatch):
    env = hook_env(tmp_path)
    hook("Bash", {"command": "ls"}, env)
    size = os.path.getsize(env["LIGHTHOUSE_SPOOL"])
    monkeypatch.setattr(spool, "MAX_BYTES", size + 10)
    out = hook("Bash", {"command": "ls -la"}, env)
    assert out["permissionDecision"] == "ask" and "cannot be recorded" in out["permissionDecisionReason"]
    assert hook("Bash", {"command": "rm -rf ~"}, env)["permissionDecision"] == "deny"
    assert os.path.getsize(env["LIGHTHOUSE_SPOOL"]) == size
    entries, lost = spool.take(env["LIGHTHOUSE_SPOOL"])
    assert len(entries) == 1 and lost == 2


def test_unreadable_lines_are_counted_lost(tmp_path):
    path = str(tmp_path / "spool")
    good = {"time_ns": 1, "agent_id": "a", "session_id": "s", "tool": "Bash", "input": "{}", "input_bytes": 2,
            "input_sha256": "0" * 64, "cwd": "/", "verdict": "deny", "tier": "rules", "rule_id": "x", "reason": "r"}
    bad = [b"not json", b"[1, 2]", json.dumps(dict(good, verdict="maybe")).encode(),
           json.dumps(dict(good, time_ns="soon")).encode(), json.dumps(dict(good, tier="cache")).encode(),
           b"{" * 100000, b"[" * 100000, b'{"a":' * 50000]
    with open(path, "wb") as f:
        f.write(json.dumps(good).encode() + b"\n" + b"\n".join(bad) + b"\n" + json.dumps(good).encode() + b"\n")
    entries, lost = spool.take(path)
    assert len(entries) == 2 and lost == len(bad)


def test_server_records_the_spool_at_start_in_order_and_chained(tmp_path, capsys):
    env = hook_env(tmp_path)
    for t, i, _ in CALLS:
        hook(t, i, env)
    with open(env["LIGHTHOUSE_SPOOL"], "a") as f:
        f.write("a line a person broke\n")
    db = str(tmp_path / "audit.db")
    config = ServerConfig(port=0, metrics_port=0, rate_limit=0, local_socket=False, audit_db=db,
                          audit_spool=env["LIGHTHOUSE_SPOOL"])
    t0 = time.time_ns()
    with ServerThread(config) as s, grpc.insecure_channel(s.address) as ch:
        deadline = time.monotonic() + 30
        while s.server.audit.committed < len(CALLS) + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        pb_grpc.ValidatorStub(ch).Validate(tool_call(tool_input="ls", request_id="after"), timeout=10)
    recs = records(db)
    assert [(r["source"], r["tool"], r["verdict"]) for r in recs[:4]] == [("hook-local", t, v) for t, _, v in CALLS]
    assert all(r["time_ns"] < t0 and r["agent_id"] == "claude-code" and r["session_id"] == "cc-1" for r in recs[:4])
    assert json.loads(recs[0]["input"]) == {"command": "rm -rf ~"}
    assert recs[0]["input_sha256"] == hashlib.sha256(b'{"command":"rm -rf ~"}').hexdigest()
    assert recs[4]["source"] == "spool-gap" and "1 decisions the hook made locally were not recorded" in \
        recs[4]["reason"]
    assert recs[5]["request_id"] == "after"
    with open_backend(db, readonly=True) as b:
        r = verify(b)
    assert r.ok and r.records == 6 and [seq for seq, _ in r.gaps] == [5]
    assert not os.path.exists(env["LIGHTHOUSE_SPOOL"])
    assert main(["audit", "verify", "--audit-db", db]) == 0
    out = capsys.readouterr().out
    assert "the chain verifies: 6 records" in out and "GAP at record 5: 1 decisions the hook made locally" in out


def test_server_records_what_the_hook_spools_while_it_runs(tmp_path):
    env = hook_env(tmp_path)
    db = str(tmp_path / "audit.db")
    config = ServerConfig(port=0, metrics_port=0, rate_limit=0, local_socket=False, audit_db=db,
                          audit_spool=env["LIGHTHOUSE_SPOOL"])
    with ServerThread(config) as s:
        # The hook could not reach this server (another socket): it decides and spools.
        hook("Bash", {"command": "rm -rf ~"}, env, session="later")
        deadline = time.monotonic() + spool.CHECK_INTERVAL * 3 + 10
        while s.server.audit.committed < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    recs = records(db)
    assert [(r["source"], r["session_id"], r["verdict"]) for r in recs] == [("hook-local", "later", "deny")]
