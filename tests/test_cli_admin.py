"""`lighthouse admin stats|reload` as a subprocess against real servers on loopback ports:
each way of finding the admin credential, refusals, TLS. No test uses the default port
or socket path: every command gets LIGHTHOUSE_ADDR and LIGHTHOUSE_SOCKET of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lighthouse.rules.loader import load_policy
from lighthouse.server.app import ServerConfig
from lighthouse.server.auth import add_token

from serverkit import ROOT, ServerProcess, ServerThread, quiet_grpc_logs

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def admin(*args, env=None, sockdir):
    # Nothing of the caller's environment may point the command at another server.
    base = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTHOUSE_")}
    base["LIGHTHOUSE_SOCKET"] = os.path.join(sockdir, "nothing-here.sock")
    base["LIGHTHOUSE_ADDR"] = "127.0.0.1:9"        # discard: nothing answers gRPC there
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "lighthouse.cli", "admin", *args], capture_output=True,
                          text=True, timeout=60, cwd=str(ROOT), env=base)


def test_stats_and_reload_with_the_secret_file(sockdir, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nid = "t.frob"\nverdict = "deny"\nreason = "r"\nprogram = "frobnicate"\n')
    n = len(load_policy([rules]).rules)
    with ServerProcess("--rules", str(rules), "--reload-interval", "0", metrics=False) as srv:
        srv.wait_ready()
        where = ("--server", srv.address, "--admin-token-file", srv.admin_token_file)
        proc = admin("stats", *where, sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        assert "policy generation 1, %d rules, " % n in proc.stdout and "pid %d" % srv.proc.pid in proc.stdout
        proc = admin("reload", *where, "--json", sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"policy_generation": 2, "rule_count": n, "tokens_reloaded": False}
        stats = json.loads(admin("stats", *where, "--json", sockdir=sockdir).stdout)
        assert stats["policy_generation"] == 2 and stats["pid"] == srv.proc.pid and stats["workers"] == 1
        # A reload that the rule file refuses: the running policy stays, exit 1.
        rules.write_text("[[rule]\n")
        proc = admin("reload", *where, sockdir=sockdir)
        assert proc.returncode == 1 and "FAILED_PRECONDITION" in proc.stderr and str(rules) in proc.stderr
        # The address from $LIGHTHOUSE_ADDR.
        proc = admin("stats", "--admin-token-file", srv.admin_token_file, env={"LIGHTHOUSE_ADDR": srv.address},
                     sockdir=sockdir)
        assert proc.returncode == 0 and "policy generation 2" in proc.stdout, proc.stderr


def test_the_secret_beside_the_socket_is_found_like_the_hook_finds_the_socket(sockdir):
    quiet_grpc_logs()
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(ServerConfig(port=0, metrics_port=0, socket=sock)) as srv:
        proc = admin("stats", "--server", srv.address, "--socket", sock, sockdir=sockdir)
        assert proc.returncode == 0 and "policy generation 1" in proc.stdout, proc.stderr
        proc = admin("reload", env={"LIGHTHOUSE_ADDR": srv.address, "LIGHTHOUSE_SOCKET": sock}, sockdir=sockdir)
        assert proc.returncode == 0 and proc.stdout.startswith("policy generation 2, "), proc.stderr
        # No secret where it looks: UNAUTHENTICATED; a wrong one: PERMISSION_DENIED. Exit 1.
        proc = admin("stats", "--server", srv.address, sockdir=sockdir)
        assert proc.returncode == 1
        assert proc.stderr.startswith("lighthouse admin stats: %s: UNAUTHENTICATED: " % srv.address), proc.stderr
        proc = admin("stats", "--server", srv.address, "--token", "wrong", "--socket", sock, sockdir=sockdir)
        assert proc.returncode == 1 and "PERMISSION_DENIED" in proc.stderr
        proc = admin("stats", "--server", srv.address, env={"LIGHTHOUSE_ADMIN_TOKEN": "wrong"}, sockdir=sockdir)
        assert proc.returncode == 1 and "PERMISSION_DENIED" in proc.stderr


def test_admin_tokens_of_a_tokens_file(sockdir, tmp_path):
    quiet_grpc_logs()
    path = tmp_path / "tokens"
    agent, ops = add_token(path, "ci-bot"), add_token(path, "ops", admin=True)
    with ServerThread(ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=str(path))) as srv:
        proc = admin("stats", "--server", srv.address, "--token", ops, sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        proc = admin("stats", "--server", srv.address, env={"LIGHTHOUSE_ADMIN_TOKEN": ops}, sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        proc = admin("reload", "--server", srv.address, "--token", agent, sockdir=sockdir)
        assert proc.returncode == 1 and "PERMISSION_DENIED" in proc.stderr


def test_tls(sockdir, pki):
    quiet_grpc_logs()
    d = pki["dir"]
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tls_cert=str(d / "server.pem"),
                          tls_key=str(d / "server.key"), tls_client_ca=str(d / "ca.pem"))
    with ServerThread(config) as srv:
        tls = ("--tls-ca", str(d / "ca.pem"), "--tls-cert", str(d / "client.pem"), "--tls-key", str(d / "client.key"))
        proc = admin("stats", "--server", srv.address, "--admin-token-file", srv.admin_token_file, *tls,
                     sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        env = {"LIGHTHOUSE_TLS_CA": str(d / "ca.pem"), "LIGHTHOUSE_TLS_CERT": str(d / "client.pem"),
               "LIGHTHOUSE_TLS_KEY": str(d / "client.key")}
        proc = admin("stats", "--server", srv.address, "--admin-token-file", srv.admin_token_file, env=env,
                     sockdir=sockdir)
        assert proc.returncode == 0, proc.stderr
        # Without a client certificate the handshake fails: no answer, exit 1.
        proc = admin("stats", "--server", srv.address, "--admin-token-file", srv.admin_token_file, "--timeout", "2",
                     "--tls-ca", str(d / "ca.pem"), sockdir=sockdir)
        assert proc.returncode == 1 and "UNAVAILABLE" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args,message", [
    (("--server", "192.0.2.1:50051", "--token", "t"), "only over TLS (--tls-ca): it would cross the network"),
    (("--tls-cert", "c.pem"), "--tls-cert and --tls-key go together"),
    (("--tls-cert", "c.pem", "--tls-key", "k.pem"), "--tls-cert needs --tls-ca"),
    (("--tls-ca", "/nonexistent/ca.pem"), "cannot read --tls-ca /nonexistent/ca.pem"),
])
def test_usage_errors_exit_2_before_any_call(sockdir, args, message):
    proc = admin("stats", *args, sockdir=sockdir)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
