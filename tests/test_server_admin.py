"""The Admin service of a server without a tokens file: it needs the admin secret the
server writes owner-only beside its local socket (or at --admin-token-file), which the
clients of its owner find there; workers accept their supervisor's secret."""

from __future__ import annotations

import os
import signal
import stat

import grpc
import pytest

from lighthouse import Validator
from lighthouse.client import CallError, Client
from lighthouse.localsock import admin_token_path, read_admin_token
from lighthouse.server.app import ConfigError, ServerConfig, check_config
from lighthouse.v1 import admin_pb2, admin_pb2_grpc

from serverkit import ServerProcess, ServerThread, admin_bearer, quiet_grpc_logs

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def validator():
    quiet_grpc_logs()
    return Validator(raw=True)


def _config(**kw):
    return ServerConfig(port=0, metrics_port=0, rate_limit=0, reload_interval=0, **kw)


def _code(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as e:
        fn(*args, **kw)
    return e.value.code()


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _errors(server, method, code):
    return server.server.stats.snapshot()["errors"].get("%s|%s" % (method, code), 0)


def test_admin_needs_the_secret_written_beside_the_socket(validator, sockdir):
    sock = os.path.join(sockdir, "lh.sock")
    path = admin_token_path(sock)
    with ServerThread(_config(socket=sock), validator=validator) as s, grpc.insecure_channel(s.address) as ch:
        assert s.server.socket_path == sock
        assert _mode(path) == 0o600 and os.stat(path).st_uid == os.getuid()
        secret = read_admin_token(path)
        assert len(secret) >= 40
        admin = admin_pb2_grpc.AdminStub(ch)
        for method, request in ((admin.Stats, admin_pb2.StatsRequest()),
                                (admin.ReloadPolicy, admin_pb2.ReloadPolicyRequest())):
            assert _code(method, request, timeout=5) == grpc.StatusCode.UNAUTHENTICATED
            for wrong in ("not-the-secret", secret[:-1], secret + "x", "x"):
                assert _code(method, request, metadata=(("authorization", "Bearer " + wrong),),
                             timeout=5) == grpc.StatusCode.PERMISSION_DENIED
        assert (_errors(s, "Stats", "UNAUTHENTICATED"), _errors(s, "Stats", "PERMISSION_DENIED")) == (1, 4)
        assert (_errors(s, "ReloadPolicy", "UNAUTHENTICATED"), _errors(s, "ReloadPolicy", "PERMISSION_DENIED")) == (1, 4)
        generation = s.server.validator.generation
        assert admin.ReloadPolicy(admin_pb2.ReloadPolicyRequest(), metadata=admin_bearer(path),
                                  timeout=20).policy_generation == generation + 1
        assert admin.Stats(admin_pb2.StatsRequest(), metadata=admin_bearer(path), timeout=5).workers == 1
        try:
            admin.Stats(admin_pb2.StatsRequest(), timeout=5)
        except grpc.RpcError as e:
            assert path in e.details()          # the refusal says where the owner finds the secret
    assert not os.path.exists(path)


def test_clients_find_the_secret_like_the_hook_finds_the_socket(validator, sockdir, monkeypatch):
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(_config(socket=sock), validator=validator) as s:
        first = s.server.validator.generation
        with Client(s.address, timeout=20, socket=sock) as c:                      # --socket
            assert c.reload_policy().policy_generation == first + 1
        monkeypatch.setenv("LIGHTHOUSE_SOCKET", sock)                               # $LIGHTHOUSE_SOCKET
        with Client(s.address, timeout=20) as c:
            assert c.stats().workers == 1
        with Client(s.address, timeout=5, admin_token=read_admin_token(admin_token_path(sock))) as c:
            assert c.stats().workers == 1
        monkeypatch.setenv("LIGHTHOUSE_SOCKET", os.path.join(sockdir, "other.sock"))
        with Client(s.address, timeout=5) as c, pytest.raises(CallError) as e:
            c.stats()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_the_secret_goes_to_no_other_host(sockdir, monkeypatch):
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(_config(socket=sock, local_socket=False)):
        monkeypatch.setenv("LIGHTHOUSE_SOCKET", sock)
        for target, local in (("127.0.0.1:1", True), ("localhost:1", True), ("[::1]:1", True),
                              ("192.0.2.1:50051", False), ("lighthouse.example:50051", False)):
            with Client(target) as c:
                assert c._cfg.admin_metadata() == (admin_bearer(admin_token_path(sock)) if local else None), target


def test_the_clients_refuse_a_secret_file_others_can_read(validator, sockdir):
    path = os.path.join(sockdir, "admin-token")
    with ServerThread(_config(admin_token_file=path, local_socket=False), validator=validator) as s:
        os.chmod(path, 0o640)
        with Client(s.address, timeout=5, admin_token_file=path) as c, pytest.raises(CallError) as e:
            c.stats()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED and "open to other users" in e.value.message


def test_without_the_socket_the_secret_goes_beside_its_path(validator, sockdir):
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(_config(socket=sock, local_socket=False), validator=validator) as s:
        assert s.server.socket_path is None and not os.path.exists(sock)
        with Client(s.address, timeout=5, socket=sock) as c:
            assert c.stats().workers == 1
    assert not os.path.exists(admin_token_path(sock))


def test_admin_token_file_must_be_private(validator, sockdir):
    open_dir = os.path.join(sockdir, "open")
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777 | stat.S_ISVTX)
    with pytest.raises(OSError, match="--admin-token-file .*: directory .* is writable by other users"):
        ServerThread(_config(admin_token_file=os.path.join(open_dir, "t"), local_socket=False),
                     validator=validator).start()
    assert os.listdir(open_dir) == []
    with pytest.raises(ConfigError, match="--admin-token-file"):
        check_config(ServerConfig(tokens=__file__, admin_token_file=os.path.join(sockdir, "t")))


def test_a_stale_file_is_replaced_and_another_servers_is_left(validator, sockdir):
    sock = os.path.join(sockdir, "lh.sock")
    path = admin_token_path(sock)
    with open(path, "w") as fh:
        fh.write("left-by-a-dead-server\n")
    os.chmod(path, 0o644)
    with ServerThread(_config(socket=sock), validator=validator) as a:
        secret = read_admin_token(path)
        assert secret != "left-by-a-dead-server" and _mode(path) == 0o600
        # A second server on the same socket path (served by the first) keeps the first's
        # secret in place; its own Admin refuses every call.
        with ServerThread(_config(socket=sock, local_socket=False), validator=validator) as b, \
                grpc.insecure_channel(b.address) as ch:
            assert read_admin_token(path) == secret
            assert _code(admin_pb2_grpc.AdminStub(ch).Stats, admin_pb2.StatsRequest(), metadata=admin_bearer(path),
                         timeout=5) == grpc.StatusCode.PERMISSION_DENIED
        assert read_admin_token(path) == secret
        with Client(a.address, timeout=5, socket=sock) as c:
            assert c.stats().workers == 1
        # Replaced while the server runs: the server leaves the new file at shutdown.
        os.unlink(path)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as fh:
            fh.write("someone-elses\n")
    assert read_admin_token(path) == "someone-elses"


def test_tokens_file_means_no_admin_secret(validator, sockdir, tmp_path):
    from lighthouse.server.auth import add_token
    token = add_token(tmp_path / "tokens", "ops", admin=True)
    sock = os.path.join(sockdir, "lh.sock")
    with ServerThread(_config(socket=sock, tokens=str(tmp_path / "tokens")), validator=validator) as s:
        assert not os.path.exists(admin_token_path(sock)) and s.server.admin_secret is None
        with Client(s.address, timeout=5, token=token) as c:
            assert c.stats().workers == 1


def _proc_has(pid, name, secret):
    with open("/proc/%d/%s" % (pid, name), "rb") as fh:
        return secret.encode() in fh.read()


def test_workers_accept_the_supervisors_secret(sockdir):
    path = os.path.join(sockdir, "admin-token")
    with ServerProcess("--workers", "2", "--admin-token-file", path, metrics=False) as server:
        server.wait_ready(text="2 workers serving")
        assert _mode(path) == 0o600
        secret = read_admin_token(path)
        pids = set()
        channels = [grpc.insecure_channel(server.address, options=[("grpc.use_local_subchannel_pool", 1)])
                    for _ in range(12)]
        try:
            for ch in channels:
                admin = admin_pb2_grpc.AdminStub(ch)
                assert _code(admin.Stats, admin_pb2.StatsRequest(), timeout=10) == grpc.StatusCode.UNAUTHENTICATED
                pids.add(admin.Stats(admin_pb2.StatsRequest(), metadata=admin_bearer(path), timeout=10).pid)
        finally:
            for ch in channels:
                ch.close()
        assert len(pids) == 2, "SO_REUSEPORT spread 12 connections over %d workers" % len(pids)
        if os.path.isdir("/proc/self"):
            for pid in pids | {server.proc.pid}:
                assert not _proc_has(pid, "cmdline", secret) and not _proc_has(pid, "environ", secret)
        with Client(server.address, timeout=20, admin_token_file=path) as c:
            c.reload_policy()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0, server.log()
    assert not os.path.exists(path)
