"""The server's side of the audit log: a bounded queue filled on the event loop, and a
writer process that commits it in batches (group commit).

On the event loop, recording a decision is one length check and one list append of the
tuple the decision path already has (:meth:`AuditLog.record`). A sender thread takes
everything queued at once and hands it to the writer process over a pipe, as one
``marshal`` message (a few hundred nanoseconds per record, in C); the writer process
turns each entry into a record (input hash, canonical encoding, chain hash), appends
the batch to the store in one transaction and acknowledges the count committed, which
a receiver thread passes back to the event loop. The records' encoding and SQLite's
work (about 10 us per record) so never take the server's GIL; measured by bench/audit.py.

Two durability modes:

- default: a call is answered before its record is committed; the sender hands over
  what has queued every ``commit_interval`` seconds (2 ms) and the writer commits it at
  once, so a crash of the server loses at most what was queued in the last interval (a
  killed server's writer still commits what it has received, then exits).
- ``sync``: a call is answered only once its record is committed (and fsynced: the
  store is opened durable). The sender hands records over as soon as they queue and the
  writer commits everything that arrived during its previous commit, so one fsync
  covers many calls. :meth:`AuditLog.wait_committed` is the awaitable; the decision path
  wraps such answers in :class:`Committing`.

The queue is bounded (``max_queue`` records): when it is full the call is refused with
RESOURCE_EXHAUSTED (lighthouse.errors.CallRejected) and counted, never answered
unrecorded. A store that fails (disk full, locked too long) makes the writer retry its
batch; meanwhile the queue fills and calls are refused, and in sync mode the calls
waiting for that commit are refused with UNAVAILABLE (their records are still written
when the store recovers). A writer process that dies makes every later call refused
with UNAVAILABLE: no call is answered unrecorded. Closing commits everything queued.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import multiprocessing
import os
import signal
import threading
import time
from collections import deque

import grpc

from ..errors import CallRejected
from .record import DEFAULT_MAX_INPUT

__all__ = ["AuditLog", "Committing", "DEFAULT_MAX_QUEUE", "DEFAULT_COMMIT_INTERVAL"]

log = logging.getLogger("lighthouse.audit")

DEFAULT_MAX_QUEUE = 65536
DEFAULT_COMMIT_INTERVAL = 0.002
RETRY_DELAY = (0.05, 1.0)           # first and longest wait before retrying a failed commit
START_TIMEOUT = 60.0                # seconds the writer process has to open the store


class Committing:
    """An answer held until its record is committed (sync mode): ``answer`` (the
    serialized Decision, or the local socket's dict) and ``ticket``, the count of records
    that must be committed first (lighthouse.server.core.Decider.settle awaits it)."""

    __slots__ = ("request_id", "answer", "ticket")

    def __init__(self, request_id, answer, ticket):
        self.request_id = request_id
        self.answer = answer
        self.ticket = ticket


class AuditLog:
    """The queue, sender and receiver threads and writer process of one server process.

    ``path``: the SQLite file (lighthouse.audit.sqlite.SQLiteBackend, opened durable in
    sync mode). ``worker``: this process's worker index, written in each record.
    ``max_input``: bytes of a tool input kept in a record."""

    def __init__(self, path, *, sync=False, max_queue=DEFAULT_MAX_QUEUE, commit_interval=DEFAULT_COMMIT_INTERVAL,
                 worker=0, max_input=DEFAULT_MAX_INPUT):
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.path = path
        self.location = os.path.abspath(path)
        self.sync = sync
        self.max_queue = max_queue
        self.commit_interval = commit_interval
        self.worker = worker
        self.max_input = max_input
        self.started = False
        self._queue = []            # entries; the sender takes a prefix, the loop appends
        self._idle = False
        self._wake = threading.Event()
        self._closing = False
        self._dead = None           # why the writer is gone (calls are then refused)
        self._process = None
        self._conn = None
        self._sender = None
        self._receiver = None
        self._loop = None
        self._waiters = deque()     # (ticket, future) in ticket order (sync mode)
        self._done = threading.Event()
        # Counters: the loop thread writes appended/refused/committed, the threads the rest.
        self.appended = 0           # records accepted (each call's ticket)
        self.refused = 0            # calls refused because the queue was full
        self.committed = 0          # records committed, as the loop thread knows it
        self._written = 0           # records committed, as the receiver knows it
        self.sent = 0
        self.batches = 0
        self.errors = 0
        self.failing = False
        self.last_seq = 0
        self.last_hash = ""
        self.lost = 0

    # ------------------------------------------------------------ event loop side

    def start(self, loop=None):
        """Start the writer process, wait until it has opened the store, and start the
        threads (AuditError naming the file when it cannot be opened)."""
        from .backend import AuditError
        self._loop = loop or asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=writer_main, name="lighthouse-audit-writer", daemon=True,
                                    args=(child, self.path, self.sync, self.worker, self.max_input))
        self._process.start()
        child.close()
        self._conn = parent
        if not parent.poll(START_TIMEOUT):
            self._process.kill()
            raise AuditError("audit log %s: the writer process did not start in %gs" % (self.location, START_TIMEOUT))
        try:
            msg = parent.recv()
        except EOFError:
            raise AuditError("audit log %s: the writer process exited at start (exit code %s)"
                             % (self.location, self._process.exitcode)) from None
        if msg[0] != "ready":
            self._process.join(5)
            raise AuditError(msg[1])
        self.last_seq, self.last_hash = msg[1], msg[2]
        self.started = True
        self._sender = threading.Thread(target=self._send_loop, name="lighthouse-audit-sender", daemon=True)
        self._receiver = threading.Thread(target=self._receive_loop, name="lighthouse-audit-receiver", daemon=True)
        self._sender.start()
        self._receiver.start()

    def record(self, entry):
        """Queue one decision (see lighthouse.audit.record.make_row for ``entry``);
        CallRejected RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE when the
        writer is gone."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            if self._dead is not None:
                raise CallRejected(grpc.StatusCode.UNAVAILABLE, "the audit log cannot record decisions (%s): "
                                   "the call is refused rather than answered unrecorded" % self._dead)
            self.refused += 1
            raise CallRejected(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               "the audit log's queue is full (%d records waiting to be written): the call is "
                               "refused rather than answered unrecorded; retry" % self.max_queue)
        queue.append(entry)
        self.appended += 1
        if self._idle:
            self._idle = False
            self._wake.set()

    async def wait_committed(self, ticket):
        """Return once the first ``ticket`` records are committed; CallRejected
        UNAVAILABLE if the store fails meanwhile."""
        if self.committed >= ticket:
            return
        fut = self._loop.create_future()
        self._waiters.append((ticket, fut))
        await fut

    def _on_commit(self, written):
        self.committed = written
        waiters = self._waiters
        while waiters and waiters[0][0] <= written:
            fut = waiters.popleft()[1]
            if not fut.done():
                fut.set_result(None)

    def _on_failure(self, message):
        waiters, self._waiters = self._waiters, deque()
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(CallRejected(grpc.StatusCode.UNAVAILABLE,
                                               "the decision could not be recorded in the audit log (%s); "
                                               "retry" % message))

    async def close(self, timeout=30.0):
        """Commit everything queued, stop the writer process and the threads. Records
        not committed after ``timeout`` seconds are counted in ``lost`` and logged."""
        if not self.started:
            return
        self.started = False
        self._closing = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._finish, timeout)
        self._on_commit(self._written)
        self._on_failure("the server is stopping")
        if self.lost:
            log.error("audit log %s: %d records could not be written before shutdown", self.location, self.lost)
        log.info("audit log %s: %d records written by this process, last record %d, hash %s",
                 self.location, self._written, self.last_seq, self.last_hash)

    def _finish(self, timeout):
        deadline = time.monotonic() + timeout
        self._sender.join(timeout)
        self._receiver.join(max(0.1, deadline - time.monotonic()))
        self._process.join(max(0.1, deadline - time.monotonic()))
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self.lost = self.appended - self._written
        self._conn.close()

    def snapshot(self):
        """Counters for /metrics (lighthouse.metrics)."""
        return {"queue": len(self._queue), "appended": self.appended, "committed": self._written,
                "refused": self.refused, "batches": self.batches, "errors": self.errors,
                "failing": 1 if self.failing or self._dead else 0}

    # ------------------------------------------------------------ the threads

    def _notify(self, fn, *args):
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:            # the loop is closed: nobody waits any more
            pass

    def _send_loop(self):
        queue, wake, conn = self._queue, self._wake, self._conn
        try:
            while self._dead is None:
                if not queue:
                    if self._closing:
                        break
                    wake.clear()
                    self._idle = True
                    if not queue:
                        wake.wait(0.5)
                    self._idle = False
                    if not self.sync and not self._closing:
                        time.sleep(self.commit_interval)    # let a batch gather
                    continue
                if self.sent - self._written >= self.max_queue:
                    # The writer is behind by a whole queue: hold the records here, where
                    # they count against the queue's bound, until it catches up.
                    time.sleep(self.commit_interval)
                    continue
                n = len(queue)
                entries = queue[:n]
                del queue[:n]
                offset = time.time_ns() - time.perf_counter_ns()
                conn.send_bytes(marshal.dumps((offset, [_plain(e) for e in entries])))
                self.sent += n
                if not self.sync and not self._closing:
                    time.sleep(self.commit_interval)
            if self._dead is None:
                conn.send_bytes(b"")    # the end: commit and exit
        except (OSError, ValueError) as e:
            self._writer_gone("the writer process is gone (%s)" % e)

    def _receive_loop(self):
        conn = self._conn
        try:
            while True:
                msg = conn.recv()
                if msg[0] == "committed":
                    _, self._written, self.last_seq, self.last_hash = msg
                    self.batches += 1
                    if self.failing:
                        log.warning("audit log %s: commits work again", self.location)
                        self.failing = False
                    self._notify(self._on_commit, self._written)
                elif msg[0] == "error":
                    self.errors += 1
                    if not self.failing:
                        log.error("audit log %s: commit failed (%s); the records are kept and retried",
                                  self.location, msg[1])
                    self.failing = True
                    self._notify(self._on_failure, msg[1])
                elif msg[0] == "closed":
                    return
        except (EOFError, OSError) as e:
            if not self._closing or self._written < self.sent:
                self._writer_gone("the writer process exited (%s)" % (type(e).__name__,))

    def _writer_gone(self, why):
        if self._dead is None:
            self._dead = why
            log.error("audit log %s: %s; calls are refused from now on", self.location, why)
            # Fill the queue's bound: every later call is refused with UNAVAILABLE.
            self.max_queue = 0
            self._notify(self._on_failure, why)


def _plain(entry):
    """An entry as marshal takes it: the outcome as a plain tuple, the local socket's
    input object as JSON text."""
    t0, source, rid, agent, session, tool, tool_input, cwd, o, ns, escalation_id, trail = entry
    if tool_input.__class__ is not str:
        tool_input = _local_json(tool_input)
    if trail:
        trail = _trail_json(list(trail))
    return (t0, source, rid, agent, session, tool, tool_input, cwd, (o[0], o[1], o[2], o[3], o[4]), ns,
            escalation_id, trail or "")


def _local_json(obj):
    from .record import _local_input
    return _local_input(obj)


def _trail_json(trail):
    from .record import _encode_trail
    return _encode_trail(trail)


# ------------------------------------------------------------------ the writer process

def writer_main(conn, path, durable, worker, max_input):
    """The writer process: open the store, then commit each batch the server sends until
    the empty message (or the server's end of the pipe closing: a killed server's records
    received so far are still committed)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)   # the server decides when its writer stops
    from .backend import AuditError
    from .record import make_row
    from .sqlite import SQLiteBackend
    try:
        backend = SQLiteBackend(path, durable=durable)
    except AuditError as e:
        conn.send(("error", str(e)))
        return
    seq, h = backend.head()
    conn.send(("ready", seq, h))
    written = 0
    rows = []
    delay = RETRY_DELAY[0]
    ending = False
    while True:
        if not rows or conn.poll(0):
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                data = b""
            while True:
                if not data:
                    ending = True
                    break
                offset, entries = marshal.loads(data)
                rows.extend([_row(e, worker, offset, max_input, make_row) for e in entries])
                if not conn.poll(0):
                    break
                try:
                    data = conn.recv_bytes()
                except (EOFError, OSError):
                    data = b""
        if rows:
            try:
                seq, h = backend.append(rows)
            except Exception as e:
                _send(conn, ("error", "%s: %s" % (type(e).__name__, e)))
                time.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY[1])
                continue
            delay = RETRY_DELAY[0]
            written += len(rows)
            rows = []
            _send(conn, ("committed", written, seq, h))
        if ending:
            backend.close()
            _send(conn, ("closed",))
            return


def _send(conn, msg):
    try:
        conn.send(msg)
    except OSError:             # the server is gone; the records are what matters
        pass


def _row(entry, worker, offset, max_input, make_row):
    """make_row, and for an entry it cannot encode (a bug, never the caller's bytes: the
    decision path hands over typed values) a record saying so, rather than no record."""
    try:
        return make_row(entry, worker, offset, max_input)
    except Exception as e:
        t0, source, rid, agent, session, tool, _, cwd, outcome, ns, escalation_id, _ = entry
        note = "%s (the record's input could not be encoded: %s)" % (outcome[2], type(e).__name__)
        return make_row((t0, source, rid, agent, session, tool, "", cwd, outcome[:2] + (note,) + tuple(outcome[3:]),
                         ns, escalation_id, ()), worker, offset, max_input)
