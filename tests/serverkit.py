"""Helpers for the server tests: a real server on a loopback port of the kernel's choice,
in a thread of this process (:class:`ServerThread`) or as a ``lighthouse serve``
subprocess (:class:`ServerProcess`), and small utilities. Traffic goes to 127.0.0.1 only.

Servers bind port 0 and report the port they got (the server object, the ready file):
the suite runs on several workers at once (pytest-xdist), and a port found free and
handed to a server could be taken by another worker's server in between."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lighthouse.localsock import read_admin_token
from lighthouse.server.app import LighthouseServer, ServerConfig, admin_token_file
from lighthouse.v1 import validation_pb2 as pb

ROOT = pathlib.Path(__file__).resolve().parent.parent
WS = "/home/dev/app"

FROB_DENY = '[[rule]]\nid = "test.frob"\nverdict = "deny"\nreason = "test rule, deny"\nprogram = "frobnicate"\n'


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory):
    """A rule directory with FROB_DENY, for servers under test."""
    d = tmp_path_factory.mktemp("rules")
    (d / "test.toml").write_text(FROB_DENY)
    return d


FROB_ALLOW = FROB_DENY.replace('"deny"', '"allow"').replace("rule, deny", "rule, allow")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl CLI)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=lighthouse-test-ca")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
            "-subj", "/CN=" + name)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", name + ".pem", "-days", "2", "-extfile", "san.ext")
    # A second CA and a server certificate it signed, to swap in on reload.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca2.key", "-out", "ca2.pem", "-days", "2",
        "-subj", "/CN=lighthouse-test-ca-2")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server2.key", "-out", "server2.csr", "-subj", "/CN=server2")
    run("x509", "-req", "-in", "server2.csr", "-CA", "ca2.pem", "-CAkey", "ca2.key", "-CAcreateserial",
        "-out", "server2.pem", "-days", "2", "-extfile", "san.ext")
    return {k: (d / k).read_bytes() for k in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key",
                                              "ca2.pem", "server2.pem", "server2.key")} | {"dir": d}


@contextlib.contextmanager
def refused_port():
    """A loopback port that refuses connections while the block runs: bound here and never
    listened on. (A port found free and let go could be bound meanwhile by a server that
    a test on another worker starts.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def wait_ready_file(path, proc, timeout=60.0, log=lambda: ""):
    """The JSON object ``lighthouse serve --ready-file`` writes once it serves (the ports
    it bound, its local socket, ...), waiting for it; AssertionError with ``log()`` if the
    process exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            raise AssertionError("server exited with %s:\n%s" % (proc.returncode, log()))
        time.sleep(0.05)
    raise AssertionError("server not ready after %gs:\n%s" % (timeout, log()))


def tool_call(tool="Bash", tool_input=None, **kw):
    """A ToolCall with a JSON-encoded input (a command string is a Bash command)."""
    if isinstance(tool_input, str):
        tool_input = {"command": tool_input}
    kw.setdefault("cwd", WS)
    return pb.ToolCall(tool=tool, input_json=json.dumps(tool_input if tool_input is not None else {}), **kw)


def run_async(coro, timeout=20.0):
    """Run a coroutine on a fresh event loop with a deadline; fail if the loop logged an
    unhandled exception."""
    errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        return await asyncio.wait_for(coro, timeout)

    result = asyncio.run(main())
    assert not errors, "event loop logged unhandled exceptions: %r" % errors
    return result


def _private_admin_token_file(config):
    """``config``, and a private directory it writes its admin secret in (None when the
    config names the place itself: an admin token file, or a socket path the secret goes
    beside), so that no test server writes the default path."""
    if config.tokens or config.admin_token_file or config.socket:
        return config, None
    d = tempfile.mkdtemp(prefix="lh-admin-")
    return dataclasses.replace(config, admin_token_file=os.path.join(d, "admin-token")), d


def admin_bearer(path):
    """The ``authorization`` metadata carrying the admin secret in the file at ``path``."""
    return (("authorization", "Bearer " + read_admin_token(path)),)


class ServerThread:
    """A LighthouseServer on its own event loop in a daemon thread.

    ``kw`` goes to LighthouseServer (validator=, escalator=, ...). ``uvloop`` picks the
    loop implementation the real server uses. Without tokens, the server writes its admin
    secret to ``admin_token_file`` (a private directory unless the config names the
    place); ``admin_metadata`` carries it."""

    def __init__(self, config=None, *, uvloop=True, **kw):
        config = config or ServerConfig(port=0, metrics_port=0, local_socket=False)
        self.config, self._admin_dir = _private_admin_token_file(config)
        self.admin_token_file = None if self.config.tokens else admin_token_file(self.config)
        self.kw = kw
        self.use_uvloop = uvloop
        self.loop = None
        self.server = None
        self.error = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lighthouse-test-server", daemon=True)

    def _run(self):
        try:
            self._serve()
        finally:
            self._remove_admin_dir()

    def _remove_admin_dir(self):
        if self._admin_dir is not None:
            shutil.rmtree(self._admin_dir, ignore_errors=True)

    def _serve(self):
        if self.use_uvloop:
            import uvloop
            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.server = LighthouseServer(self.config, **self.kw)
            self.loop.run_until_complete(self.server.start())
        except BaseException as e:  # reported to the test by start()
            self.error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def start(self):
        self._thread.start()
        self._ready.wait(60)
        if self.error is not None:
            raise self.error
        return self

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.port

    @property
    def admin_metadata(self):
        return admin_bearer(self.admin_token_file)

    def run(self, coro, timeout=30):
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, grace=2.0):
        if self.server is None or self.loop is None or not self._thread.is_alive():
            self._remove_admin_dir()
            return
        self.run(self.server.stop(grace))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


_WITH_FD_LIMIT = ("import os, resource, sys\n"
                  "n = int(sys.argv[1])\n"
                  "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))\n"
                  "os.execv(sys.argv[2], sys.argv[2:])\n")


class ServerProcess:
    """``lighthouse serve`` as a subprocess on ports of the kernel's choice (and a metrics
    endpoint unless ``metrics`` is false), without the local socket unless ``socket``
    names its path; unless ``args`` give --tokens or --admin-token-file, the admin secret
    goes to ``admin_token_file`` in a private directory. ``port``, ``metrics_port`` and
    ``address`` are read from its ready file (--ready-file), waiting for it."""

    def __init__(self, *args, metrics=True, env=None, fd_limit=None, socket=None):
        self._dir = tempfile.mkdtemp(prefix="lh-serve-")
        self.ready_file = os.path.join(self._dir, "ready.json")
        self.ready = None
        self.admin_token_file = None
        if "--tokens" not in args and "--admin-token-file" not in args:
            self.admin_token_file = os.path.join(self._dir, "admin-token")
            args += ("--admin-token-file", self.admin_token_file)
        argv = [sys.executable, "-m", "lighthouse.cli", "serve", "--port", "0",
                "--metrics-port", "any" if metrics else "0", "--ready-file", self.ready_file,
                *(("--socket", socket) if socket else ("--no-socket",)), "--grace", "3", *args]
        if fd_limit is not None:
            # The limit is set by a small program that then execs the server, not by a
            # preexec_fn: that would run Python in a fork of this process, whose gRPC threads
            # (fork handlers skipped) left a poller in the child that aborted on epoll_wait
            # once the child closed its descriptors (EBADF, SIGABRT before the exec).
            argv = [sys.executable, "-c", _WITH_FD_LIMIT, str(fd_limit), *argv]
        full_env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        full_env.update(env or {})
        self.log_path = None
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env,
                                     cwd=str(ROOT), text=True)
        self.output = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def port(self):
        return self._ready_info()["port"]

    @property
    def metrics_port(self):
        return self._ready_info()["metrics_port"]

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _ready_info(self):
        if self.ready is None:
            self.wait_ready()
        return self.ready

    def log(self):
        return "".join(self.output)

    def wait_ready(self, timeout=60.0, text="serving gRPC"):
        """Wait for the ready file (the server, or the supervisor once every worker serves)
        and a log line containing ``text`` (None: the ready file alone)."""
        deadline = time.monotonic() + timeout
        self.ready = wait_ready_file(self.ready_file, self.proc, timeout, self.log)
        while text is not None and not any(text in line for line in self.output):
            if self.proc.poll() is not None:
                raise AssertionError("server exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("no log line with %r after %gs:\n%s" % (text, timeout, self.log()))
            time.sleep(0.05)
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30.0):
        rc = self.proc.wait(timeout)
        self._reader.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self

    @property
    def admin_metadata(self):
        return admin_bearer(self.admin_token_file)

    def __exit__(self, *exc):
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.kill()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def quiet_grpc_logs():
    """The tests provoke errors on purpose; keep their log lines short."""
    logging.getLogger("lighthouse.server").setLevel(logging.ERROR)


def rpc_code(fn, *args, **kw):
    """The status code an RPC fails with (None if it succeeds)."""
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        return e.code()
    return None


def scrape(port):
    """The samples of a server's /metrics: {(name, sorted label items): value}."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def sample(samples, name, default=0.0, **labels):
    """One sample of scrape()'s result; ``default`` when the server does not export it."""
    return samples.get((name, tuple(sorted(labels.items()))), default)
