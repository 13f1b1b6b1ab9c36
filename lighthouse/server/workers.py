"""``lighthouse serve --workers N``: N server processes sharing one port.

One Python process saturates near one core, so the supervisor starts N worker processes
(multiprocessing "spawn": grpc does not survive fork) that each bind the same address with
SO_REUSEPORT; the kernel spreads connections across them. The supervisor holds no
Validator and serves no gRPC. It:

- serves ``/metrics``, adding up snapshots fetched from every worker at scrape time over
  a pipe (so workers pay nothing per call for it);
- forwards SIGHUP as a reload to every worker, and when one worker reloads through
  Admin.ReloadPolicy, tells the others to reload too;
- on SIGTERM/SIGINT, asks every worker to shut down gracefully and exits 0 when they all
  did; a worker that dies on its own is restarted (a crash loop stops the server).

Only worker 0 serves the local socket endpoint.

With ``--port 0`` the supervisor binds a port of the kernel's choice first, with
SO_REUSEPORT and without listening, and keeps it for as long as it runs; the workers
bind that port (a restarted worker finds it still reserved).

Without a tokens file, the supervisor makes the admin secret, writes it beside the local
socket (lighthouse.server.app.write_admin_secret) and removes it when it stops; every
worker gets the same secret, pickled over the pipe multiprocessing's spawn start method
hands a new process its arguments through (never in its argv or environment).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing
import signal
import socket
import sys
import time

from ..metrics import merge_snapshots
from .app import (LighthouseServer, remove_ready_file, run_loop, setup_logging, start_metrics, write_admin_secret,
                  write_ready_file)
from .auth import AdminSecret

__all__ = ["Supervisor", "worker_main"]

log = logging.getLogger("lighthouse.server")

READY_TIMEOUT = 60.0
SNAPSHOT_TIMEOUT = 2.0
MAX_RESTARTS = 5           # within RESTART_WINDOW seconds, else the server stops
RESTART_WINDOW = 60.0


def worker_main(config, index, count, conn, log_level, admin_secret=None):
    """Entry point of a worker process."""
    setup_logging(log_level, "worker %d" % (index + 1))
    server = LighthouseServer(config, worker=index, workers=count, metrics=False,
                              local_socket=config.local_socket and index == 0,
                              on_reload=lambda: conn.send(("reloaded",)), admin_secret=admin_secret)

    async def main():
        loop = asyncio.get_running_loop()

        def on_command():
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                # The supervisor is gone: nobody will forward SIGTERM, so stop now.
                loop.remove_reader(conn.fileno())
                server.request_stop()
                return
            if msg[0] == "snapshot":
                conn.send(("snapshot", msg[1], server.stats.snapshot()))
            elif msg[0] == "reload":
                loop.create_task(server.reload_quietly("supervisor"))

        loop.add_reader(conn.fileno(), on_command)
        await server.run(ready=lambda port: conn.send(("ready", port, server.socket_path)))

    try:
        run_loop(main())
    except OSError as e:        # cannot bind: one line, and the supervisor stops the server
        log.error("%s", e)
        sys.exit(1)
    sys.exit(0)


class _Worker:
    __slots__ = ("index", "process", "conn", "ready", "port", "socket_path")

    def __init__(self, index, process, conn):
        self.index = index
        self.process = process
        self.conn = conn
        self.ready = False
        self.port = None
        self.socket_path = None           # the local socket worker 0 serves


class Supervisor:
    """Start, watch and stop the worker processes of one server."""

    def __init__(self, config):
        self.config = config
        self.count = config.workers
        self.workers = [None] * self.count
        self._ctx = multiprocessing.get_context("spawn")
        self._loop = None
        self._stopping = False
        self._stop_requested = None
        self._stopped = None
        self._restarts = []
        self._snap_seq = 0
        self._snap_waiters = {}
        self._failed = False
        self.admin_secret = None

    def run(self):
        """Run until SIGTERM/SIGINT; the exit code (0 when every worker drained cleanly)."""
        reserved = self._reserve_port()
        try:
            return asyncio.run(self._main())
        finally:
            if reserved is not None:
                reserved.close()

    # ----------------------------------------------------------- workers

    def _reserve_port(self):
        """With port 0: bind a port of the kernel's choice for the workers to share (see
        the module's docstring) and make it the configuration's; the socket, or None."""
        if self.config.port:
            return None
        host = self.config.host.strip("[]")
        family = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, 0))
        except OSError:
            sock.close()
            raise
        self.config = dataclasses.replace(self.config, port=sock.getsockname()[1])
        return sock

    def _spawn(self, index):
        parent_conn, child_conn = self._ctx.Pipe()
        # the supervisor writes the ready file, once every worker serves
        config = dataclasses.replace(self.config, ready_file=None)
        p = self._ctx.Process(target=worker_main, name="lighthouse-worker-%d" % (index + 1),
                              args=(config, index, self.count, child_conn, logging.getLogger().level,
                                    self.admin_secret))
        p.start()
        child_conn.close()
        w = _Worker(index, p, parent_conn)
        self.workers[index] = w
        self._loop.add_reader(parent_conn.fileno(), self._on_message, w)
        self._loop.add_reader(p.sentinel, self._on_exit, w)
        return w

    def _on_message(self, w):
        try:
            msg = w.conn.recv()
        except (EOFError, OSError):
            self._loop.remove_reader(w.conn.fileno())
            return
        kind = msg[0]
        if kind == "ready":
            w.ready, w.port, w.socket_path = True, msg[1], msg[2]
        elif kind == "snapshot":
            fut = self._snap_waiters.get((w.index, msg[1]))
            if fut is not None and not fut.done():
                fut.set_result(msg[2])
        elif kind == "reloaded":
            for other in self.workers:
                if other is not None and other is not w and other.process.is_alive():
                    self._send(other, ("reload",))

    def _send(self, w, msg):
        try:
            w.conn.send(msg)
        except (OSError, ValueError):
            pass

    def _on_exit(self, w):
        loop = self._loop
        loop.remove_reader(w.process.sentinel)
        try:
            loop.remove_reader(w.conn.fileno())
        except (OSError, ValueError):
            pass
        w.process.join()
        code = w.process.exitcode
        w.conn.close()
        if self._stopping:
            if code != 0:
                log.error("worker %d exited with code %s during shutdown", w.index + 1, code)
                self._failed = True
            if all(x is None or not x.process.is_alive() for x in self.workers):
                self._stopped.set()
            return
        if not w.ready:
            log.error("worker %d failed to start (exit code %s)", w.index + 1, code)
            self._failed = True
            self._begin_stop()
            return
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW] + [now]
        if len(self._restarts) > MAX_RESTARTS:
            log.error("workers keep dying (%d restarts in %gs); stopping", len(self._restarts), RESTART_WINDOW)
            self._failed = True
            self._begin_stop()
            return
        log.error("worker %d died (exit code %s); restarting it", w.index + 1, code)
        self._spawn(w.index)

    def _begin_stop(self):
        if self._stopping:
            return
        self._stopping = True
        self._stop_requested.set()
        alive = [w for w in self.workers if w is not None and w.process.is_alive()]
        for w in alive:
            w.process.terminate()            # SIGTERM: each worker drains gracefully
        if not alive:
            self._stopped.set()

    def _reload_all(self):
        log.info("SIGHUP: reloading every worker")
        for w in self.workers:
            if w is not None and w.process.is_alive():
                self._send(w, ("reload",))

    # ----------------------------------------------------------- metrics

    async def _collect(self):
        self._snap_seq += 1
        seq = self._snap_seq
        futs = []
        for w in self.workers:
            if w is not None and w.ready and w.process.is_alive():
                fut = self._loop.create_future()
                self._snap_waiters[(w.index, seq)] = fut
                self._send(w, ("snapshot", seq))
                futs.append(fut)
        try:
            done, _ = await asyncio.wait(futs, timeout=SNAPSHOT_TIMEOUT) if futs else ((), ())
        finally:
            for key in [k for k in self._snap_waiters if k[1] == seq]:
                del self._snap_waiters[key]
        snap = merge_snapshots([f.result() for f in done])
        if snap is not None:
            snap["workers"] = self.count
        return snap

    def _snapshot_from_thread(self):
        """Called by the metrics HTTP thread at scrape time."""
        loop = self._loop
        if loop is None or self._stopping:
            return None
        return asyncio.run_coroutine_threadsafe(self._collect(), loop).result(SNAPSHOT_TIMEOUT + 1)

    # ----------------------------------------------------------- main

    async def _main(self):
        config = self.config
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._stop_requested = asyncio.Event()
        if not config.tokens:
            self.admin_secret = AdminSecret()
            write_admin_secret(config, self.admin_secret)
        try:
            return await self._serve()
        finally:
            if self.admin_secret is not None:
                self.admin_secret.remove()

    async def _serve(self):
        config = self.config
        loop = self._loop
        for i in range(self.count):
            self._spawn(i)
        deadline = loop.time() + READY_TIMEOUT
        while not all(w.ready for w in self.workers) and not self._stopping:
            if loop.time() > deadline:
                log.error("workers did not start within %gs", READY_TIMEOUT)
                self._failed = True
                self._begin_stop()
                break
            await asyncio.sleep(0.02)
        metrics = None
        if not self._stopping and config.metrics_port:
            try:
                metrics = start_metrics(config)(self._snapshot_from_thread)
            except OSError as e:
                log.error("%s", e)
                self._failed = True
                self._begin_stop()
        # The handlers first: a SIGTERM sent as soon as the line below is read must stop
        # the workers gracefully, not kill the supervisor.
        loop.add_signal_handler(signal.SIGTERM, self._begin_stop)
        loop.add_signal_handler(signal.SIGINT, self._begin_stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_all)
        if not self._stopping:
            secret_path = self.admin_secret.path if self.admin_secret is not None else None
            log.info("lighthouse supervisor: %d workers serving gRPC on %s%s%s", self.count,
                     config.address(), ", metrics on http://%s:%d/metrics"
                     % (config.metrics_host, metrics.server_address[1]) if metrics else "",
                     ", admin secret in %s" % secret_path if secret_path else "")
            if config.ready_file:
                write_ready_file(config.ready_file, address=config.address(), port=config.port,
                                 metrics_port=metrics.server_address[1] if metrics else 0,
                                 socket_path=self.workers[0].socket_path, admin_secret_path=secret_path,
                                 workers=self.count)
        await self._stop_requested.wait()
        if config.ready_file:
            remove_ready_file(config.ready_file)
        log.info("shutting down %d workers", self.count)
        try:
            # Workers get the grace period to drain, plus time to exit.
            await asyncio.wait_for(self._stopped.wait(), config.grace + 10)
        except asyncio.TimeoutError:
            for w in self.workers:
                if w is not None and w.process.is_alive():
                    log.error("worker %d did not stop in time; killing it", w.index + 1)
                    w.process.kill()
                    w.process.join()
            self._failed = True
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        return 1 if self._failed else 0
