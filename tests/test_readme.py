"""The README runs as written: its ```python blocks and the `lighthouse` commands of its
```sh blocks, each in a subprocess, in the README's order, in one scratch directory.

- A server the test starts (`lighthouse serve` on a free loopback port, its local socket
  in a private directory) answers them: every command and snippet gets its address in
  LIGHTHOUSE_ADDR and its socket in LIGHTHOUSE_SOCKET, and no other LIGHTHOUSE_*
  variable, so nothing reaches the default port or socket path. HOME is a scratch
  directory too (`~/project`, `hook install --user`).
- The files the commands name are written first: my-rules.toml (the README's own TOML
  block), calls.jsonl, and the certificates of `serve --tls-cert`.
- A result written in a comment after a Python expression (`v.check(...).verdict
  # 'deny'`, optionally followed by ": " and prose) is checked.
- `lighthouse check` must exit with its verdict's code (0 allow, 3 ask, 4 deny; 0 with
  --score); every other command with 0.
- The README's `lighthouse serve` commands (and `python -m lighthouse.server.local`)
  run until they serve, then get SIGTERM and must exit 0; they are given a free port,
  their own socket and 127.0.0.1 after their own options (the last one counts), so that
  none binds a default port, a default path or another interface.
- Lines not run are listed in NOT_RUN with the reason; any other line that is not a
  `lighthouse` command fails the test, so that a new command is either run or listed.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize

import pytest

from lighthouse.client import Client

from serverkit import ROOT, ServerProcess, wait_ready_file

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

README = ROOT / "README.md"

NOT_RUN = {
    "make ": "Makefile targets: `make test` runs this suite and `make install` builds .venv; `make serve` "
             "is `lighthouse serve` on the default port (the README's serve commands run here on ports of the kernel's choice)",
    ". .venv/bin/activate": "changes the calling shell; the test puts this interpreter's bin directory on PATH",
    "grpcurl ": "needs grpcurl, which is not installed here",
    "echo ": "pipes into socat, which is not installed here",
    ".venv/bin/python bench/": "a benchmark (minutes); tests/test_bench.py runs bench/fast.py",
    "lighthouse bench ": "a load test (tens of seconds, every CPU); tests/test_bench.py runs it briefly",
    "lighthouse policy test ./my-policy": "needs the reader's own policy directory; tests/test_policy.py "
                                          "runs policy test on one",
    "lighthouse policy eval --command 'velero backup get' --policy ./my-policy": "the same",
    "lighthouse policy eval --input call.json": "needs the reader's own input document (and, with --opa-url, "
                                                "an OPA server); tests/test_policy.py runs policy eval",
    "lighthouse policy eval --command 'argocd app list' --opa-url": "needs an OPA server",
    "lighthouse expert ": "a terminal program; tests/test_console.py runs it in tmux against a real server",
    "lighthouse serve --audit-dsn": "needs the reader's PostgreSQL server; tests/test_audit_server.py runs serve "
                                    "--audit-dsn against a cluster it starts",
    "lighthouse audit verify --audit-dsn": "the same; tests/test_audit.py runs the audit commands with --audit-dsn",
    "lighthouse audit rotate --audit-dsn": "the same; tests/test_audit.py runs the retention of a PostgreSQL log",
    "opa ": "needs the OPA binary, which cannot be installed here (tests/test_policy.py runs the REST "
            "client against a local server speaking OPA's Data API)",
}
# Long-running commands: the options appended after the README's own (given a path for the
# socket and one for the ready file), and the output line that says they serve.
SERVERS = {
    "lighthouse serve": (lambda sock, ready: ["--port", "0", "--metrics-port", "0", "--host", "127.0.0.1",
                                              "--socket", sock, "--grace", "2", "--ready-file", ready],
                         "serving gRPC on"),
    "python -m lighthouse.server.local": (lambda sock, ready: ["--socket", sock], "local endpoint on"),
}
VERDICT_EXIT = {"allow": 0, "ask": 3, "deny": 4}
CALLS = [
    {"id": "a", "tool": "Bash", "input": {"command": "git status"}, "cwd": "/home/dev/app", "expect": "allow"},
    {"id": "b", "tool": "Bash", "input": {"command": "rm -rf ~"}, "cwd": "/home/dev/app", "expect": "deny"},
    {"id": "c", "tool": "Read", "input": {"file_path": "/home/dev/app/.env"}, "cwd": "/home/dev/app",
     "expect": "deny"},
]


def blocks(kind):
    """(first line number, text) of each ```kind block of the README."""
    text = README.read_text()
    out = []
    for m in re.finditer(r"^```%s\n(.*?)^```" % kind, text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


def sh_commands():
    """(README line, command) of every command in the ```sh blocks, continuations joined."""
    out = []
    for start, text in blocks("sh"):
        pending, first = "", None
        for k, line in enumerate(text.splitlines()):
            if not pending and not line.strip():
                continue
            first = first if pending else start + k
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            out.append((first, pending + line.strip()))
            pending = ""
    return out


def _kind(command):
    for prefix, reason in NOT_RUN.items():
        if command.startswith(prefix):
            return "skip", reason
    for prefix in SERVERS:
        if command.startswith(prefix):
            return "server", prefix
    if command.startswith("lighthouse "):
        return "run", None
    return "unknown", None


def _params():
    out = []
    for line, command in sh_commands():
        kind, why = _kind(command)
        marks = [pytest.mark.skip(reason=why)] if kind == "skip" else []
        out.append(pytest.param(command, kind, why, id="line%d" % line, marks=marks))
    return out


@pytest.fixture(scope="module")
def place(tmp_path_factory, pki):
    """The scratch directory the commands run in, its environment, and the server that
    answers them."""
    work = tmp_path_factory.mktemp("readme")
    home = work / "home"
    (home / "project").mkdir(parents=True)
    toml = next(text for _, text in blocks("toml") if text.startswith("# my-rules.toml"))
    (work / "my-rules.toml").write_text(toml)
    (work / "calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CALLS))
    for name in ("server.pem", "server.key", "ca.pem", "client.pem", "client.key"):
        shutil.copy(pki["dir"] / name, work / name)
    sockdir = tempfile.mkdtemp(prefix="lh-readme-")
    sock = os.path.join(sockdir, "lighthouse.sock")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTHOUSE_", "XDG_RUNTIME_DIR"))}
    env.update(HOME=str(home), LIGHTHOUSE_SOCKET=sock,
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    # --reload-interval 0: the README reloads from the command line and from Python in turn.
    with ServerProcess("--admin-token-file", sock + ".admin-token", "--reload-interval", "0",
                       metrics=False, socket=sock) as server:
        server.wait_ready()
        env["LIGHTHOUSE_ADDR"] = server.address
        yield {"dir": work, "env": env, "sockdir": sockdir, "tokens": {}}
    shutil.rmtree(sockdir, ignore_errors=True)


def test_every_readme_command_is_run_or_listed():
    unknown = [(line, c) for line, c in sh_commands() if _kind(c)[0] == "unknown"]
    assert not unknown, "README commands neither run by this test nor listed in NOT_RUN: %s" % unknown
    assert sum(_kind(c)[0] == "run" for _, c in sh_commands()) >= 20


@pytest.mark.parametrize("command,kind,why", _params())
def test_readme_command(place, command, kind, why):
    if kind == "server":
        return _serve(place, command, why)
    proc = subprocess.run(["bash", "-c", command], cwd=place["dir"], env=place["env"], capture_output=True,
                          text=True, timeout=90)
    expected = 0
    words = shlex.split(command, comments=True)
    if words[:3] == ["lighthouse", "tokens", "add"]:
        place["tokens"][words[3]] = proc.stdout.strip()
    if words[:2] == ["lighthouse", "check"] and "--score" not in words:
        verdicts = [json.loads(line)["verdict"] for line in proc.stdout.splitlines() if line.startswith("{")]
        assert verdicts, proc.stdout + proc.stderr
        expected = max(VERDICT_EXIT[v] for v in verdicts)
    assert proc.returncode == expected, "exit %d, expected %d:\n%s%s" % (
        proc.returncode, expected, proc.stdout, proc.stderr)


def _serve(place, command, prefix):
    extra, ready = SERVERS[prefix]
    if "--workers" in command:
        ready = "workers serving gRPC"          # the supervisor's line, after its workers'.
    run_dir = tempfile.mkdtemp(prefix="serve-", dir=place["sockdir"])
    sock, ready_file = os.path.join(run_dir, "lighthouse.sock"), os.path.join(run_dir, "ready.json")
    argv = shlex.split(command, comments=True) + extra(sock, ready_file)
    proc = subprocess.Popen(argv, cwd=place["dir"], env=place["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            lines.append(line)
            if ready in line or time.monotonic() > deadline:
                break
        assert any(ready in line for line in lines), "".join(lines)
        if prefix == "lighthouse serve":
            # Answering proves the process is past installing its SIGTERM handler, which a
            # server does only after it logs that it serves (a SIGTERM sooner is fatal).
            work = place["dir"]
            tls = {}
            if "--tls-cert" in argv:
                tls["root_certificates"] = (work / "ca.pem").read_bytes()
            if "--tls-client-ca" in argv:
                tls.update(certificate_chain=(work / "client.pem").read_bytes(),
                           private_key=(work / "client.key").read_bytes())
            token = place["tokens"]["ops"] if "--tokens" in argv else None
            port = wait_ready_file(ready_file, proc, log=lambda: "".join(lines))["port"]
            with Client("127.0.0.1:%d" % port, timeout=10, token=token, **tls) as c:
                r = c.validate("Bash", {"command": "git push --force-with-lease origin release/2.1"},
                               cwd="/home/dev/app")
            # The README's rule file is in force where it is named.
            assert r.rule_id == ("team.no-lease-push-to-release" if "my-rules.toml" in argv else
                                 "git.push-force-with-lease"), r
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0, "".join(lines) + rest


# ------------------------------------------------------------------ Python snippets

PRELUDE = '''\
def _readme_expect(value, expected, line):
    if value != expected:
        raise AssertionError("README line %d: %r, but the README says %r" % (line, value, expected))
'''


def _result(comment):
    """The Python literal a comment states as a result, or None: the whole comment, or
    its part before ": " and prose."""
    candidates = [comment] + [comment[:m.start()] for m in re.finditer(r": ", comment)]
    for text in candidates:
        try:
            ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
        return text
    return None


def with_checks(source, first_line):
    """``source`` with each `expression  # literal` turned into a check of the
    expression's value; returns (code, number of checks)."""
    comments = {tok.start[0]: tok.string[1:].strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    checks = 0

    class Checks(ast.NodeTransformer):
        def visit_Expr(self, node):
            nonlocal checks
            text = _result(comments.get(node.end_lineno, ""))
            if text is None:
                return node
            checks += 1
            call = ast.Call(ast.Name("_readme_expect", ast.Load()),
                            [node.value, ast.parse(text, mode="eval").body,
                             ast.Constant(first_line + node.end_lineno - 1)], [])
            return ast.copy_location(ast.Expr(call), node)

    tree = ast.fix_missing_locations(Checks().visit(ast.parse(source)))
    return PRELUDE + ast.unparse(tree) + "\n", checks


PYTHON = blocks("python")


def test_every_snippet_states_a_result_to_check():
    assert len(PYTHON) >= 3
    assert all(with_checks(text, line)[1] for line, text in PYTHON), [with_checks(t, n)[1] for n, t in PYTHON]


@pytest.mark.parametrize("line,source", PYTHON, ids=["line%d" % line for line, _ in PYTHON])
def test_readme_python_snippet(place, line, source):
    code, _ = with_checks(source, line)
    proc = subprocess.run([sys.executable, "-c", code], cwd=place["dir"], env=place["env"], capture_output=True,
                          text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
