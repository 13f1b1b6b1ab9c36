"""Security of the server: bearer tokens and identities, the tokens file, Admin rights,
rate limits, refusing unsafe binds, TLS and mutual TLS."""

from __future__ import annotations

import os
import queue
import subprocess
import sys

import grpc
import pytest

from lighthouse import Validator
from lighthouse.client import CallError, Client
from lighthouse.server.app import ConfigError, ServerConfig, check_config, is_loopback
from lighthouse.server.auth import (RateLimiter, TokenFileError, TokenStore, add_token, hash_token,
                                    revoke_tokens)
from lighthouse.v1 import admin_pb2, admin_pb2_grpc, validation_pb2 as pb, validation_pb2_grpc as pb_grpc

from serverkit import ROOT, WS, ServerThread, quiet_grpc_logs, tool_call

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def validator():
    return Validator(raw=True)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "tokens"
    return {"path": str(path),
            "alice": add_token(path, "alice"),
            "bob": add_token(path, "bob"),
            "ops": add_token(path, "ops", admin=True)}


@pytest.fixture(scope="module")
def server(validator, tokens):
    quiet_grpc_logs()
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=tokens["path"],
                          rate_limit=20, rate_burst=20)
    with ServerThread(config, validator=validator) as s:
        yield s


def bearer(token):
    return (("authorization", "Bearer " + token),)


# ------------------------------------------------------------------ tokens file

def test_tokens_file_stores_hashes_only(tokens):
    text = open(tokens["path"]).read()
    assert tokens["alice"] not in text and hash_token(tokens["alice"]) in text
    assert oct(os.stat(tokens["path"]).st_mode & 0o777) == "0o600"
    store = TokenStore(tokens["path"])
    assert store.identify(tokens["alice"]).agent_id == "alice"
    assert store.identify(tokens["ops"]).admin and not store.identify(tokens["bob"]).admin
    assert store.identify("lh_wrong") is None and store.identify("") is None


@pytest.mark.parametrize("content,message", [
    ("alice sha256:abc\n", "sha256:<64"),
    ("alice\n", "expected"),
    ("alice sha256:%s root\n" % ("0" * 64), "unknown role"),
    ("alice sha256:%s expert expert\n" % ("0" * 64), "listed twice"),
    ("-x sha256:%s\n" % ("0" * 64), "agent_id"),
    ("a sha256:%s\nb sha256:%s\n" % ("1" * 64, "1" * 64), "two agents"),
])
def test_tokens_file_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "tokens"
    path.write_text("# comment\n\n" + content)
    path.chmod(0o600)
    with pytest.raises(TokenFileError) as e:
        TokenStore(path)
    assert message in str(e.value) and str(path) in str(e.value)


def test_tokens_file_writable_by_others_is_refused(tmp_path):
    path = tmp_path / "tokens"
    add_token(path, "alice")
    path.chmod(0o666)
    with pytest.raises(TokenFileError, match="writable"):
        TokenStore(path)


def test_revoke(tmp_path):
    path = tmp_path / "tokens"
    t1, t2 = add_token(path, "alice"), add_token(path, "alice")
    t3 = add_token(path, "bob")
    assert revoke_tokens(path, agent_id="alice") == 2
    store = TokenStore(path)
    assert store.identify(t1) is None and store.identify(t2) is None and store.identify(t3).agent_id == "bob"


def test_tokens_cli(tmp_path):
    path = tmp_path / "tokens"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "lighthouse.cli", "tokens", "add", "ci-bot", "--file", str(path)],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("lh_") and TokenStore(path).identify(token).agent_id == "ci-bot"
    listed = subprocess.run([sys.executable, "-m", "lighthouse.cli", "tokens", "list", "--file", str(path)],
                            capture_output=True, text=True, env=env, timeout=30)
    assert "ci-bot" in listed.stdout and token not in listed.stdout


# ------------------------------------------------------------------ identities

def test_missing_and_wrong_token_are_unauthenticated(server, tokens):
    with grpc.insecure_channel(server.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        call = tool_call("Bash", "ls", agent_id="alice")
        for md in (None, bearer("lh_not-a-token"), (("authorization", "Basic " + tokens["alice"]),)):
            with pytest.raises(grpc.RpcError) as e:
                stub.Validate(call, metadata=md, timeout=5)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            list(stub.ValidateStream(iter([call]), timeout=5))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_impersonation_is_permission_denied_and_counted(server, tokens):
    with Client(server.address, token=tokens["alice"], timeout=5) as c:
        before = _errors(server, "PERMISSION_DENIED")
        with pytest.raises(CallError) as e:
            c.validate("Bash", {"command": "ls"}, cwd=WS, agent_id="bob")
        assert e.value.code == grpc.StatusCode.PERMISSION_DENIED and e.value.field == "agent_id"
        assert _errors(server, "PERMISSION_DENIED") == before + 1
        # Own identity, or none (the token's identity is used), are fine.
        assert c.validate("Bash", {"command": "ls"}, cwd=WS, agent_id="alice").verdict == "allow"
        assert c.validate("Bash", {"command": "ls"}, cwd=WS).verdict == "allow"
        batch = c.validate_batch([{"tool": "Bash", "tool_input": {"command": "ls"}, "agent_id": "alice"},
                                  {"tool": "Bash", "tool_input": {"command": "ls"}, "agent_id": "bob"}])
        assert batch[0].verdict == "allow"
        assert batch[1].error.code == grpc.StatusCode.PERMISSION_DENIED
        with c.stream() as s:
            bad = s.submit("Bash", {"command": "ls"}, agent_id="bob")
            good = s.submit("Bash", {"command": "ls"}, agent_id="alice")
            with pytest.raises(CallError) as e:
                bad.result(5)
            assert e.value.code == grpc.StatusCode.PERMISSION_DENIED
            assert good.result(5).verdict == "allow"


def _errors(server, code):
    return sum(n for key, n in server.server.stats.snapshot()["errors"].items() if key.endswith("|" + code))


def test_admin_needs_an_admin_token(server, tokens):
    with grpc.insecure_channel(server.address) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        with pytest.raises(grpc.RpcError) as e:
            admin.Stats(admin_pb2.StatsRequest(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            admin.ReloadPolicy(admin_pb2.ReloadPolicyRequest(), metadata=bearer(tokens["alice"]), timeout=5)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert admin.Stats(admin_pb2.StatsRequest(), metadata=bearer(tokens["ops"]), timeout=5).decisions >= 0


def test_rate_limit_is_resource_exhausted_per_agent(server, tokens):
    with Client(server.address, token=tokens["bob"], timeout=5) as bob, \
            Client(server.address, token=tokens["ops"], timeout=5) as ops:
        results = bob.validate_batch([("Bash", {"command": "ls"})] * 30)
        limited = [r for r in results if r.error is not None]
        assert limited and all(r.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED for r in limited)
        assert all(r.verdict == "allow" for r in results if r.error is None)
        with pytest.raises(CallError) as e:
            bob.validate("Bash", {"command": "ls"})
        assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ops.validate("Bash", {"command": "ls"}).verdict == "allow"     # another agent's bucket


def test_rate_limit_warnings_are_throttled_per_agent(validator, tokens, caplog):
    # Each agent over its budget is warned about once a second, whichever agent was
    # limited first: the throttle must not share one key between agents.
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=tokens["path"],
                          rate_limit=1, rate_burst=1)
    with caplog.at_level("WARNING", logger="lighthouse.server"), ServerThread(config, validator=validator) as s:
        for name in ("alice", "bob"):
            with Client(s.address, token=tokens[name], timeout=5) as c:
                for _ in range(3):
                    try:
                        c.validate("Bash", {"command": "ls"})
                    except CallError:
                        pass
    warned = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(warned) == 2 and "'alice'" in warned[0] and "'bob'" in warned[1], warned


def test_rate_limiter_refills_and_stays_bounded():
    now = [0.0]
    rl = RateLimiter(10, 5, max_agents=100, clock=lambda: now[0])
    assert [rl.allow("a") for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.1
    assert rl.allow("a") and not rl.allow("a")
    for i in range(1000):
        rl.allow("agent-%d" % i)
    assert len(rl._buckets) <= 100


def test_tokens_reload_with_policy(server, tokens):
    new = add_token(tokens["path"], "carol")
    with Client(server.address, token=new, timeout=5) as carol, \
            Client(server.address, token=tokens["ops"], timeout=5) as ops:
        with pytest.raises(CallError):
            carol.validate("Bash", {"command": "ls"})
        assert ops.reload_policy().tokens_reloaded
        assert carol.validate("Bash", {"command": "ls"}).verdict == "allow"


# ------------------------------------------------------------------ binding

def test_non_loopback_bind_needs_tokens(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("example.com")
    with pytest.raises(ConfigError, match="--tokens"):
        check_config(ServerConfig(host="0.0.0.0"))
    path = tmp_path / "tokens"
    add_token(path, "a")
    check_config(ServerConfig(host="0.0.0.0", tokens=str(path), insecure=True))
    with pytest.raises(ConfigError):
        check_config(ServerConfig(tls_cert="x.pem"))
    with pytest.raises(ConfigError):
        check_config(ServerConfig(tls_client_ca="ca.pem"))


def test_cli_refuses_public_bind_without_tokens():
    out = subprocess.run([sys.executable, "-m", "lighthouse.cli", "serve", "--host", "0.0.0.0", "--no-socket"],
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=30)
    assert out.returncode == 2 and "--tokens" in out.stderr


# ------------------------------------------------------------------ TLS

def test_tls_and_mutual_tls(pki, validator):
    d = pki["dir"]
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tls_cert=str(d / "server.pem"),
                          tls_key=str(d / "server.key"))
    with ServerThread(config, validator=validator) as s:
        with Client(s.address, root_certificates=pki["ca.pem"], timeout=5) as c:
            assert c.validate("Bash", {"command": "ls"}, cwd=WS).verdict == "allow"
        with Client(s.address, timeout=2, retries=0) as plain:
            with pytest.raises(CallError) as e:
                plain.validate("Bash", {"command": "ls"})
            assert e.value.code == grpc.StatusCode.UNAVAILABLE

    config.tls_client_ca = str(d / "ca.pem")
    with ServerThread(config, validator=validator) as s:
        with Client(s.address, root_certificates=pki["ca.pem"], certificate_chain=pki["client.pem"],
                    private_key=pki["client.key"], timeout=5) as c:
            assert c.validate("Bash", {"command": "ls"}, cwd=WS).verdict == "allow"
        with Client(s.address, root_certificates=pki["ca.pem"], timeout=2, retries=0) as no_cert:
            with pytest.raises(CallError) as e:
                no_cert.validate("Bash", {"command": "ls"})
            assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_reload_swaps_the_tls_certificate_for_new_connections(pki, validator, tmp_path):
    (tmp_path / "server.pem").write_bytes(pki["server.pem"])
    (tmp_path / "server.key").write_bytes(pki["server.key"])
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tls_cert=str(tmp_path / "server.pem"),
                          tls_key=str(tmp_path / "server.key"))
    with ServerThread(config, validator=validator) as s:
        with Client(s.address, root_certificates=pki["ca.pem"], timeout=5) as c:
            assert c.validate("Bash", {"command": "ls"}, cwd=WS).verdict == "allow"
        (tmp_path / "server.pem").write_bytes(pki["server2.pem"])
        (tmp_path / "server.key").write_bytes(pki["server2.key"])
        s.run(s.server.reload("test"))
        with Client(s.address, root_certificates=pki["ca2.pem"], timeout=5) as c:
            assert c.validate("Bash", {"command": "ls"}, cwd=WS).verdict == "allow"
        with Client(s.address, root_certificates=pki["ca.pem"], timeout=2, retries=0) as old:
            with pytest.raises(CallError) as e:
                old.validate("Bash", {"command": "ls"})
            assert e.value.code == grpc.StatusCode.UNAVAILABLE


def test_tokens_without_tls_off_loopback_need_insecure(tmp_path):
    path = tmp_path / "tokens"
    add_token(path, "a")
    with pytest.raises(ConfigError, match="clear text.*--insecure"):
        check_config(ServerConfig(host="0.0.0.0", tokens=str(path)))
    check_config(ServerConfig(host="0.0.0.0", tokens=str(path), insecure=True))
    check_config(ServerConfig(host="127.0.0.1", tokens=str(path)))
    out = subprocess.run([sys.executable, "-m", "lighthouse.cli", "serve", "--host", "0.0.0.0", "--tokens", str(path),
                          "--no-socket"], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         timeout=30)
    assert out.returncode == 2 and "without TLS" in out.stderr and "--insecure" in out.stderr


# ------------------------------------------------------------------ identities after a reload

class _OpenStream:
    """A raw ValidateStream whose calls are sent one at a time."""

    def __init__(self, channel, token, timeout=15):
        self._queue = queue.Queue()
        self._responses = pb_grpc.ValidatorStub(channel).ValidateStream(
            iter(self._queue.get, None), metadata=bearer(token) if token else None, timeout=timeout)

    def ask(self, **kw):
        self._queue.put(tool_call("Bash", "ls", **kw))
        return next(self._responses)

    def end_code(self):
        """The status the stream ends with, without sending another call."""
        with pytest.raises(grpc.RpcError) as e:
            next(self._responses)
        return e.value.code()

    def close(self):
        self._queue.put(None)


def _rewrite_line(path, agent_id, new_line):
    lines = [line for line in open(path).read().splitlines() if not line.startswith(agent_id + " ")]
    with open(path, "w") as fh:
        fh.write("\n".join(lines + [new_line]) + "\n")


def test_reload_rechecks_the_identity_of_open_streams(validator, tmp_path):
    path = tmp_path / "tokens"
    dave, erin, ops = add_token(path, "dave"), add_token(path, "erin"), add_token(path, "ops", admin=True)
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=str(path), rate_limit=0)
    with ServerThread(config, validator=validator) as s, grpc.insecure_channel(s.address) as ch:
        revoked, renamed = _OpenStream(ch, dave), _OpenStream(ch, erin)
        assert revoked.ask(request_id="1").verdict == pb.VERDICT_ALLOW
        assert renamed.ask(request_id="1", agent_id="erin").verdict == pb.VERDICT_ALLOW
        admin = admin_pb2_grpc.AdminStub(ch)
        admin.Stats(admin_pb2.StatsRequest(), metadata=bearer(ops), timeout=5)

        assert revoke_tokens(path, agent_id="dave") == 1
        _rewrite_line(path, "erin", "erin-2 %s" % hash_token(erin))
        _rewrite_line(path, "ops", "ops %s" % hash_token(ops))           # no longer admin
        s.run(s.server.reload("test"))

        # The revoked token's stream ends at once, without another call.
        assert revoked.end_code() == grpc.StatusCode.UNAUTHENTICATED
        # The renamed one goes on under the token's new agent id.
        d = renamed.ask(request_id="2", agent_id="erin")
        assert d.error.code == grpc.StatusCode.PERMISSION_DENIED.value[0] and d.verdict != pb.VERDICT_ALLOW
        assert renamed.ask(request_id="3", agent_id="erin-2").verdict == pb.VERDICT_ALLOW
        # Admin rights are checked per call, on the same connection.
        with pytest.raises(grpc.RpcError) as e:
            admin.Stats(admin_pb2.StatsRequest(), metadata=bearer(ops), timeout=5)
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        renamed.close()
        revoked.close()


def test_reload_with_new_tls_files_ends_open_streams(pki, validator, tmp_path):
    """Mutual TLS admits a connection at its handshake: when a reload changes the
    certificates (a new client CA, say), open streams end with UNAVAILABLE so that their
    clients reconnect and are checked again; an unchanged reload leaves them open."""
    for name in ("server.pem", "server.key", "ca.pem"):
        (tmp_path / name).write_bytes(pki[name])
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, tls_cert=str(tmp_path / "server.pem"),
                          tls_key=str(tmp_path / "server.key"), tls_client_ca=str(tmp_path / "ca.pem"))
    creds = grpc.ssl_channel_credentials(pki["ca.pem"], pki["client.key"], pki["client.pem"])
    with ServerThread(config, validator=validator) as s, grpc.secure_channel(s.address, creds) as ch:
        stream = _OpenStream(ch, None)
        assert stream.ask(request_id="1").verdict == pb.VERDICT_ALLOW
        s.run(s.server.reload("test"))
        assert stream.ask(request_id="2").verdict == pb.VERDICT_ALLOW
        (tmp_path / "ca.pem").write_bytes(pki["ca2.pem"])          # clients of the first CA are out
        s.run(s.server.reload("test"))
        assert stream.end_code() == grpc.StatusCode.UNAVAILABLE
        stream.close()


def test_with_tokens_reflection_is_off_unless_asked_and_health_stays_open(validator, tokens):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    def services(channel):
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        reply = next(iter(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                    timeout=5)))
        return {s.name for s in reply.list_services_response.service}

    for flag in (None, True):
        config = ServerConfig(port=0, metrics_port=0, local_socket=False, tokens=tokens["path"], reflection=flag)
        with ServerThread(config, validator=validator) as s, grpc.insecure_channel(s.address) as ch:
            health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            if flag:
                assert "lighthouse.v1.Validator" in services(ch)
            else:
                with pytest.raises(grpc.RpcError) as e:
                    services(ch)
                assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_public_metrics_host_is_warned_about(caplog):
    with caplog.at_level("WARNING", logger="lighthouse.server"):
        check_config(ServerConfig(metrics_host="0.0.0.0"))
    assert "/metrics on 0.0.0.0" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="lighthouse.server"):
        check_config(ServerConfig(metrics_host="0.0.0.0", metrics_port=0))
        check_config(ServerConfig())
    assert "/metrics" not in caplog.text
