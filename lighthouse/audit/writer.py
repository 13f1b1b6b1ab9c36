"""The server's side of the audit log: a bounded queue filled on the event loop and one
writer thread that commits it in batches (group commit).

On the event loop, recording a decision is one length check and one list append of the
tuple the decision path already has (:meth:`AuditLog.record`); turning it into a record
(input hash, canonical encoding, chain hash) and the SQLite work happen on the writer
thread, which takes everything queued at once and commits it in one transaction.
SQLite releases the GIL while it writes; the encoding holds it (a few microseconds per
record, measured by bench/audit.py).

Two durability modes:

- default: a call is answered before its record is committed; the writer commits what
  has queued at least every ``commit_interval`` seconds (2 ms), so a crash loses at most
  the decisions of one interval and the commit in progress.
- ``sync``: a call is answered only once its record is committed (and fsynced: the
  store is opened durable). The writer commits as soon as records wait, taking all that
  queued during the previous commit, so one fsync covers many calls.
  :meth:`AuditLog.wait_committed` is the awaitable; the decision path wraps such answers in
  :class:`Committing`.

The queue is bounded (``max_queue`` records): when it is full the call is refused with
RESOURCE_EXHAUSTED (lighthouse.errors.CallRejected) and counted, never answered
unrecorded. A store that fails (disk full, locked too long) keeps its batch queued and is
retried; meanwhile the queue fills and calls are refused, and in sync mode the calls
waiting for that commit are refused with UNAVAILABLE (their records are still written
when the store recovers). Closing commits everything queued.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque

import grpc

from ..errors import CallRejected
from .record import DEFAULT_MAX_INPUT, make_row

__all__ = ["AuditLog", "Committing", "DEFAULT_MAX_QUEUE", "DEFAULT_COMMIT_INTERVAL"]

log = logging.getLogger("lighthouse.audit")

DEFAULT_MAX_QUEUE = 65536
DEFAULT_COMMIT_INTERVAL = 0.002
RETRY_DELAY = (0.05, 1.0)           # first and longest wait before retrying a failed commit


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
    """The queue and writer thread of one server process.

    ``open_backend``: a callable returning the store (lighthouse.audit.backend.AuditBackend),
    called once by :meth:`start` (errors surface there). ``worker``: this process's worker
    index, written in each record. ``max_input``: bytes of a tool input kept in a record."""

    def __init__(self, open_backend, *, sync=False, max_queue=DEFAULT_MAX_QUEUE,
                 commit_interval=DEFAULT_COMMIT_INTERVAL, worker=0, max_input=DEFAULT_MAX_INPUT):
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self._open_backend = open_backend
        self.sync = sync
        self.max_queue = max_queue
        self.commit_interval = commit_interval
        self.worker = worker
        self.max_input = max_input
        self.backend = None
        self.location = ""
        self._queue = []            # entries; the writer takes a prefix, the loop appends
        self._retry = []            # rows of a commit that failed, retried first
        self._idle = False
        self._wake = threading.Event()
        self._closing = False
        self._thread = None
        self._loop = None
        self._waiters = deque()     # (ticket, future) in ticket order (sync mode)
        # Counters: the loop thread writes appended/refused/committed, the writer the rest.
        self.appended = 0           # records accepted (each call's ticket)
        self.refused = 0            # calls refused because the queue was full
        self.committed = 0          # records committed, as the loop thread knows it
        self._written = 0           # records committed, as the writer knows it
        self.batches = 0
        self.errors = 0
        self.failing = False
        self.last_seq = 0
        self.last_hash = ""
        self.lost = 0               # records given up at close (the store kept failing)

    # ------------------------------------------------------------ event loop side

    def start(self, loop=None):
        """Open the store and start the writer thread (AuditError when the store cannot
        be opened)."""
        self._loop = loop or asyncio.get_running_loop()
        self.backend = self._open_backend()
        self.location = self.backend.location
        self.last_seq, self.last_hash = self.backend.head()
        self._thread = threading.Thread(target=self._run, name="lighthouse-audit-writer", daemon=True)
        self._thread.start()

    def record(self, entry):
        """Queue one decision (see lighthouse.audit.record.make_row for ``entry``);
        CallRejected RESOURCE_EXHAUSTED when the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue:
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
        """Commit everything queued, stop the writer and close the store. Records the
        store still refuses after ``timeout`` seconds are counted in ``lost`` and logged."""
        if self._thread is None:
            return
        self._closing = True
        self._wake.set()
        thread = self._thread
        await asyncio.get_running_loop().run_in_executor(None, thread.join, timeout)
        if thread.is_alive():
            self.lost = len(self._queue) + len(self._retry)
            log.error("audit log %s: %d records could not be written before shutdown", self.location, self.lost)
        self._thread = None
        self._on_commit(self._written)
        self._on_failure("the server is stopping")
        if not thread.is_alive():
            self.backend.close()
        log.info("audit log %s: %d records written by this process, last record %d, hash %s",
                 self.location, self._written, self.last_seq, self.last_hash)

    def snapshot(self):
        """Counters for /metrics (lighthouse.metrics)."""
        return {"queue": len(self._queue), "appended": self.appended, "committed": self._written,
                "refused": self.refused, "batches": self.batches, "errors": self.errors,
                "failing": 1 if self.failing else 0}

    # ------------------------------------------------------------ writer thread

    def _notify(self, fn, *args):
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:            # the loop is closed: nobody waits any more
            pass

    def _run(self):
        queue = self._queue
        wake = self._wake
        rows = self._retry              # a batch that failed, retried first
        delay = RETRY_DELAY[0]
        while True:
            if not queue and not rows:
                if self._closing:
                    return
                wake.clear()
                self._idle = True
                if not queue:
                    wake.wait(0.5)
                self._idle = False
                if not self.sync and not self._closing:
                    # Let a batch gather: the default mode commits every commit_interval.
                    time.sleep(self.commit_interval)
                continue
            n = len(queue)
            entries = queue[:n]
            del queue[:n]
            offset = time.time_ns() - time.perf_counter_ns()
            worker, max_input = self.worker, self.max_input
            rows.extend([_row(e, worker, offset, max_input) for e in entries])
            try:
                self.last_seq, self.last_hash = self.backend.append(rows)
            except Exception as e:
                self.errors += 1
                if not self.failing:
                    log.error("audit log %s: commit failed (%s: %s); %d records kept and retried",
                              self.location, type(e).__name__, e, len(rows))
                self.failing = True
                self._notify(self._on_failure, "%s: %s" % (type(e).__name__, e))
                time.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY[1])
                continue
            if self.failing:
                log.warning("audit log %s: commits work again", self.location)
            self.failing = False
            delay = RETRY_DELAY[0]
            self._written += len(rows)
            self.batches += 1
            rows.clear()
            self._notify(self._on_commit, self._written)
            if not self.sync and not self._closing:
                time.sleep(self.commit_interval)


def _row(entry, worker, offset, max_input):
    """make_row, and for an entry it cannot encode (a bug, never the caller's bytes: the
    decision path hands over typed values) a record saying so, rather than no record."""
    try:
        return make_row(entry, worker, offset, max_input)
    except Exception as e:
        log.exception("audit: a record could not be encoded")
        t0, source, rid, agent, session, tool, _, cwd, outcome, ns, escalation_id, _ = entry
        return make_row((t0, source, rid, agent, session, tool, "", cwd, _Noted(outcome, e), ns, escalation_id, ()),
                        worker, offset, max_input)


class _Noted:
    __slots__ = ("verdict", "tier", "reason", "rule_id", "generation")

    def __init__(self, outcome, error):
        self.verdict, self.tier, self.rule_id = outcome.verdict, outcome.tier, str(outcome.rule_id)
        self.generation = outcome.generation
        self.reason = "%s (the record's input could not be encoded: %s)" % (outcome.reason, type(error).__name__)
