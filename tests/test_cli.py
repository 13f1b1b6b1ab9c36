"""The `lighthouse` command as a subprocess."""

import json
import os
import subprocess
import sys

import pytest

from conftest import CORPUS, ROOT

WS = "/home/dev/app"


def run(*args, input=None, ok=True, env=None):
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", *args], capture_output=True,
                          text=True, timeout=120, input=input, cwd=str(ROOT),
                          env=None if env is None else dict(os.environ, **env))
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_check_one_command():
    proc = run("check", "--command", "rm -rf ~", "--cwd", WS, ok=False)
    d = json.loads(proc.stdout)
    assert d["verdict"] == "deny" and d["rule_id"] == "fs.rm-home" and d["tier"] == "rules"
    assert proc.returncode == 4


def test_check_exits_with_its_verdict_so_a_script_can_gate_on_it(tmp_path):
    for command, verdict, code in (("ls", "allow", 0), ("sudo ls", "ask", 3), ("rm -rf ~", "deny", 4)):
        proc = run("check", "--command", command, "--cwd", WS, ok=False)
        assert (json.loads(proc.stdout)["verdict"], proc.returncode) == (verdict, code)
    # A call no rule settles: the policy tier routes an unknown program to experts (ask,
    # whatever the fail mode), "miss" with --raw; both 3. The rules alone answer it with
    # the fail mode.
    proc = run("check", "--command", "frobnicate", "--cwd", WS, ok=False)
    assert (json.loads(proc.stdout)["tier"], proc.returncode) == ("policy", 3)
    assert run("check", "--command", "frobnicate", "--cwd", WS, "--fallback", "allow", ok=False).returncode == 3
    proc = run("check", "--command", "frobnicate", "--cwd", WS, "--raw", ok=False)
    assert (json.loads(proc.stdout)["verdict"], proc.returncode) == ("miss", 3)
    assert run("check", "--command", "frobnicate", "--cwd", WS, "--fallback", "allow", "--no-policy").returncode == 0
    # A file: the worst verdict of its calls; with --score, the report is the result.
    calls = tmp_path / "calls.jsonl"

    def write(*commands):
        calls.write_text("".join(json.dumps({"tool": "Bash", "input": {"command": c}, "cwd": WS,
                                             "expect": "allow"}) + "\n" for c in commands))

    for commands, code in ((("ls", "git status"), 0), (("ls", "sudo ls"), 3), (("rm -rf ~", "sudo ls", "ls"), 4)):
        write(*commands)
        assert run("check", "--jsonl", str(calls), ok=False).returncode == code
        assert run("check", "--jsonl", str(calls), "--score").returncode == 0
    # Errors and usage errors keep their own codes.
    calls.write_text(calls.read_text() + "not json\n")
    assert run("check", "--jsonl", str(calls), ok=False).returncode == 1
    assert run("check", "--jsonl", str(tmp_path / "missing.jsonl"), ok=False).returncode == 1
    for args in (("--input", "{}"), ("--tool", "Write", "--input", "{not json"), ()):
        proc = run("check", *args, ok=False)
        assert proc.returncode == 2 and proc.stderr.startswith("lighthouse check: "), proc.stderr
    assert run("check", "--fallback", "maybe", "--command", "ls", ok=False).returncode == 2


def test_check_tool_input_json():
    proc = run("check", "--tool", "Write", "--input", '{"file_path": "/etc/hosts", "content": "x"}', "--cwd", WS, ok=False)
    assert json.loads(proc.stdout)["verdict"] == "deny" and proc.returncode == 4


def test_check_bad_input_json_is_a_clear_error():
    proc = run("check", "--tool", "Write", "--input", "{not json", ok=False)
    assert proc.returncode != 0 and "--input is not valid JSON" in proc.stderr


def test_check_jsonl_writes_one_decision_per_line_and_scores():
    proc = run("check", "--jsonl", str(CORPUS), "--score")
    lines = proc.stdout.strip().splitlines()
    decisions = [json.loads(line) for line in lines if line.startswith("{")]
    report = lines[len(decisions):]
    n = sum(1 for line in open(CORPUS) if line.strip())
    assert len(decisions) == n
    assert set(decisions[0]) == {"id", "verdict", "tier", "rule_id", "reason"}
    assert decisions[0]["id"] == "d001"
    assert report[0].startswith("caught: ") and report[1].startswith("strict: ")
    assert report[2].startswith("false-positive: ")
    assert float(report[0].split()[1].rstrip("%")) >= 98.0
    # Then how many calls each tier decided, which add up to the file.
    tiers = {line.split()[1].rstrip(":"): int(line.split()[2]) for line in report[3:]}
    assert all(line.startswith("tier ") for line in report[3:]) and sum(tiers.values()) == n
    assert tiers["rules"] == sum(d["tier"] == "rules" for d in decisions)


def test_check_jsonl_reports_bad_lines(tmp_path):
    f = tmp_path / "calls.jsonl"
    f.write_text('{"id": "a", "tool": "Bash", "input": {"command": "ls"}, "cwd": "/w"}\nnot json\n[1]\n')
    proc = run("check", "--jsonl", str(f), ok=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout.splitlines()[0])["id"] == "a"
    assert ":2:" in proc.stderr and ":3:" in proc.stderr


def test_rules_list_and_filter():
    out = run("rules", "list", "--pack", "git", "--verdict", "deny").stdout
    rows = out.strip().splitlines()
    assert rows and all(r.startswith("git.") and " deny " in r for r in rows)


def test_rules_explain_shows_analysis():
    out = run("rules", "explain", "--command", "cd ../../.. && rm -rf ./*", "--cwd", WS).stdout
    assert "decision: deny" in out and "rm -rf ./*" in out and "fs.rm-system" in out


def test_rules_test_refuses_bad_file(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[[rule]]\nid = "x.y"\nverdict = "perhaps"\nreason = "r"\nprogram = "ls"\n')
    proc = run("rules", "test", str(f), ok=False)
    assert proc.returncode == 1 and "%s:3:" % f in proc.stdout


def test_rule_file_error_is_reported_not_raised(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[[rule]\n")
    proc = run("check", "--command", "ls", "--rules", str(f), ok=False)
    assert proc.returncode == 1 and "rule file refused" in proc.stderr and "Traceback" not in proc.stderr


def test_an_invalid_regex_is_one_message_without_re2s_own_log(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\ncode = "(unclosed"\n')
    for proc in (run("rules", "test", str(f), ok=False), run("check", "--rules", str(f), "--command", "ls", ok=False)):
        assert proc.returncode == 1
        out = proc.stdout + proc.stderr
        assert "%s:6: code: invalid regular expression '(unclosed' (RE2: missing ): (unclosed)" % f in out
        assert "absl" not in out and "re2.cc" not in out, out


def test_info_reports_implementation():
    info = json.loads(run("info", "--json").stdout)
    assert info["implementation"] in ("compiled", "pure") and info["rules"] > 100


def test_version():
    from lighthouse import __version__
    proc = run("--version")
    assert proc.stdout.strip() == "lighthouse %s" % __version__


def test_info_names_the_socket_in_use_and_whether_a_server_answers(sockdir):
    from lighthouse.server.app import ServerConfig
    from serverkit import ServerThread
    path = os.path.join(sockdir, "lh.sock")
    env = {"LIGHTHOUSE_SOCKET": path}
    assert run("info", "--socket-path", env=env).stdout == path + "\n"
    info = json.loads(run("info", "--json", env=env).stdout)
    assert info["socket"] == path and info["socket_answers"] is False
    from lighthouse.hooks.install import native_hook_path
    assert info["native_hook"] == native_hook_path()
    assert "socket: %s (no server answers: " % path in run("info", env=env).stdout
    with ServerThread(ServerConfig(port=0, metrics_port=0, socket=path)):
        assert "socket: %s (a server answers)" % path in run("info", env=env).stdout
    # Without $XDG_RUNTIME_DIR the default is a directory of this user under /tmp, not "/".
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "LIGHTHOUSE_SOCKET")}
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "info", "--socket-path"], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT), env=env)
    assert proc.stdout == "/tmp/lighthouse-%d/lighthouse.sock\n" % os.getuid()


def test_readme_rule_example_passes_rules_test(tmp_path):
    # The rule file shown in the README loads and its examples hold.
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    block = next(b for b in blocks if b.startswith("# my-rules.toml"))
    f = tmp_path / "my-rules.toml"
    f.write_text(block)
    for args in ((), ("--no-packs",)):
        out = run("rules", "test", *args, str(f)).stdout
        assert "1 rules" in out and "2 examples" in out


def test_rules_test_checks_which_rule_decides_an_example(tmp_path):
    # An example with the rule's own verdict must be decided by the rule itself: here
    # sys.sudo (an earlier pack rule, same verdict) decides `sudo make install` first.
    rule = '[[rule]]\nid = "team.ask-make"\nverdict = "ask"\nreason = "r"\nprogram = "make"\n'
    f = tmp_path / "team.toml"
    f.write_text(rule + 'examples = [{ command = "make deploy", expect = "ask" },\n'
                        '            { command = "sudo make install", expect = "ask" }]\n')
    proc = run("rules", "test", str(f), ok=False)
    assert proc.returncode == 1
    assert "'sudo make install': expected ask by team.ask-make, got ask by sys.sudo" in proc.stdout
    assert "make deploy" not in proc.stdout and "1 of 2 examples failed" in proc.stdout
    # `rule` names another decider; a near miss (another verdict) is judged by verdict.
    f.write_text(rule + 'examples = [{ command = "make deploy", expect = "ask" },\n'
                        '            { command = "sudo make install", expect = "ask", rule = "sys.sudo" },\n'
                        '            { command = "rm -rf ~", expect = "deny" }]\n')
    assert "3 examples" in run("rules", "test", str(f)).stdout


def test_serve_refuses_ports_out_of_range():
    # The other port is 0, so that a regression binds no fixed port.
    for flag, other in (("--port", "--metrics-port"), ("--metrics-port", "--port")):
        for value in ("99999", "-1", "65536", "http"):
            proc = run("serve", "--no-socket", other, "0", flag, value, ok=False)
            assert proc.returncode == 2 and "%s: %r is not a port" % (flag, value) in proc.stderr
    # `any` (any free port) is the metrics endpoint's alone: 0 is the gRPC port's.
    proc = run("serve", "--no-socket", "--metrics-port", "0", "--port", "any", ok=False)
    assert proc.returncode == 2 and "--port: 'any' is not a port" in proc.stderr
    from lighthouse.server.config import ANY_PORT, ConfigError, ServerConfig, check_config
    check_config(ServerConfig(metrics_port=ANY_PORT))
    with pytest.raises(ConfigError, match="--metrics-port -2"):
        check_config(ServerConfig(metrics_port=-2))


def test_serve_on_a_busy_port_is_one_line_naming_it(tmp_path):
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (("--port", str(port), "--metrics-port", "0"),
                     ("--port", str(port), "--metrics-port", "0", "--workers", "2"),
                     ("--port", "0", "--metrics-port", str(port))):
            proc = run("serve", "--no-socket", "--admin-token-file", str(tmp_path / "admin-token"), *args, ok=False)
            assert proc.returncode == 1, proc.stderr
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1, proc.stderr
            assert "cannot listen on 127.0.0.1:%d: address already in use" % port in lines[0]
