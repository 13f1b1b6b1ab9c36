"""The server's side of the audit log: a bounded queue filled on the event loop, and a
writer process that commits it in batches (group commit).

On the event loop, recording a decision is one length check and one list append of the
tuple the decision path already has (:meth:`AuditLog.record`). Every
``commit_interval`` (at once in sync mode) the event loop hands everything queued to
the writer process, ``marshal`` messages of at most :data:`MESSAGE_RECORDS` records
(from :data:`COLUMNS_FROM` records on, the entries' columns: :func:`_columns`) written
to its stdin without blocking (about 0.6 us of CPU per record with the queueing, at 250
records a flush); the writer
(lighthouse.audit.process) turns each entry into a record (input hash, canonical
encoding, chain hash: lighthouse.audit._chain), appends what has arrived (up to a few
thousand records) to the store in one transaction and writes the count committed back
on its stdout, which the event loop reads when it is readable. The
server process runs no thread for it: the records' encoding and SQLite's work (about
9 us of CPU per record with its commits on a loaded 2-core machine, three quarters of
it SQLite's insert, commit and lookup tables) never take the server's GIL; measured by
bench/audit.py --writer.

Two durability modes:

- default: a call is answered before its record is committed; what has queued is
  handed over every ``commit_interval`` seconds (5 ms), and the writer commits what
  arrives within lighthouse.audit.process.COMMIT_WAIT (20 ms) together, so a crash of
  the server loses at most what was queued in the last interval (a killed server's
  writer still commits what it has received, then exits; a writer killed with it loses
  what it gathered).
- ``sync``: a call is answered only once its record is committed (and fsynced: the
  store is opened durable). Records are handed over in the loop iteration that queued
  them, and the writer commits everything that arrived during its previous commit, so
  one fsync covers many calls. :meth:`AuditLog.wait_committed` is the awaitable (the
  calls that wait between two hand-overs share one future); the decision path wraps
  such answers in :class:`Committing`, and a batch waits once, for its last record.

The queue is bounded: at most ``max_queue`` records wait on the event loop, and at most
``max_queue`` more are handed to the writer and not yet committed; past that a call is
refused with RESOURCE_EXHAUSTED (lighthouse.errors.CallRejected) and counted, never
answered unrecorded. A store that fails (disk full, locked too long) makes the writer
retry its batch; meanwhile the queue fills and calls are refused, and in sync mode the
calls waiting for that commit are refused with UNAVAILABLE (their records are still
written when the store recovers). Closing commits everything queued.

**A writer process that dies** (killed, out of memory) is noticed at once (the end of
its stdout, or a broken pipe) and counted (``deaths``); while it is down every call is
refused with UNAVAILABLE, never answered unrecorded, and the calls waiting for a commit
in sync mode too. A new writer is started after ``restart_delay`` seconds (doubling on
each failed start, up to :data:`MAX_RESTART_DELAY`); once it has opened the store, it is
handed again every batch the dead one had not acknowledged, then what queued meanwhile,
and calls are accepted again (``restarts`` counts it). The chain goes on from the last
committed record: each append reads the head inside its transaction, and the dead
writer's uncommitted transaction was rolled back. A writer killed after its commit but
before its acknowledgement reached the server leaves that batch recorded twice (the
same request ids, each copy chained), never missing.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import select
import struct
import subprocess
import sys
import time
from collections import deque

import grpc

from ..errors import CallRejected
from .backend import is_dsn
from .record import DEFAULT_MAX_INPUT

__all__ = ["AuditLog", "Committing", "DEFAULT_MAX_QUEUE", "DEFAULT_COMMIT_INTERVAL", "RESTART_DELAY",
           "MAX_RESTART_DELAY"]

log = logging.getLogger("lighthouse.audit")

DEFAULT_MAX_QUEUE = 65536
DEFAULT_COMMIT_INTERVAL = 0.005
START_TIMEOUT = 60.0                # seconds the writer process has to open the store
RESTART_DELAY = 0.1                 # seconds before a dead writer is replaced
MAX_RESTART_DELAY = 5.0             # the longest wait between failed restarts
_LEN = struct.Struct("<I")          # the framing of lighthouse.audit.process (its LENGTH)
#: Records per message to the writer at most: a flush of more sends several, so that the
#: writer, which commits whole messages, never makes a commit of the whole queue (seconds
#: of work, during which nothing is acknowledged).
MESSAGE_RECORDS = 4096
#: Records from which a message carries columns (:func:`_columns`) rather than a tuple
#: per entry: cheaper per record, dearer for a handful.
COLUMNS_FROM = 16


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
    """The queue and writer process of one server process.

    ``location``: the SQLite file (lighthouse.audit.sqlite.SQLiteBackend) or a
    ``postgresql://`` DSN (lighthouse.audit.postgres.PostgresBackend), opened durable in
    sync mode. ``worker``: this process's worker index, written in each record.
    ``max_input``: bytes of a tool input kept in a record. ``restart_delay``: seconds
    before a dead writer process is replaced. ``max_bytes``, ``max_age_ns``: the
    retention of an SQLite log, applied by its writer (lighthouse.audit.rotate)."""

    def __init__(self, location, *, sync=False, max_queue=DEFAULT_MAX_QUEUE, commit_interval=DEFAULT_COMMIT_INTERVAL,
                 worker=0, max_input=DEFAULT_MAX_INPUT, restart_delay=RESTART_DELAY, max_bytes=None,
                 max_age_ns=None):
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if is_dsn(location):
            from .postgres import safe_dsn
            self.dsn, self.path, self.location = location, None, safe_dsn(location)
        else:
            self.dsn, self.path = None, os.path.abspath(location)
            self.location = self.path
        self.sync = sync
        self.max_queue = max_queue
        self.commit_interval = commit_interval
        self.worker = worker
        self.max_input = max_input
        self.started = False
        self._queue = []
        self._scheduled = False     # a flush is scheduled on the loop
        self._out = bytearray()     # handed over, not yet written to the pipe
        self._writing = False       # a writer callback waits for the pipe
        self._inbuf = b""
        self._dead = None           # why the writer is gone (calls are then refused)
        self._proc = None
        self._loop = None
        self._waiters = deque()     # [ticket, future] groups in ticket order (sync mode)
        self._group = None          # the group waiters join until the next hand-over
        self._closed = None         # a future set when the writer says it has closed
        self.appended = 0           # records accepted (each call's ticket)
        self.refused = 0            # calls refused because the queue was full
        self.committed = 0          # records committed
        self.sent = 0               # records handed to the writer
        self.batches = 0
        self.errors = 0
        self.failing = False
        self.last_seq = 0
        self.last_hash = ""
        self.lost = 0
        self.restart_delay = restart_delay
        self.max_bytes = max_bytes
        self.max_age_ns = max_age_ns
        self.rotations = 0
        self.deaths = 0             # writer processes that died while the server ran
        self.restarts = 0           # writer processes started in place of a dead one
        self._pending = deque()     # (ticket after it, framed message): handed over, not acknowledged
        self._base = 0              # records committed before the current writer process started
        self._limit = max_queue     # max_queue while the writer is down (max_queue is then 0)
        self._starting = False      # a replacement writer is opening the store
        self._restart_handle = None
        self._next_delay = restart_delay

    # ------------------------------------------------------------ start and stop

    def start(self, loop=None):
        """Start the writer process and wait until it has opened the store (AuditError
        naming the file when it cannot)."""
        from .backend import AuditError
        self._loop = loop or asyncio.get_running_loop()
        self._proc = self._spawn()
        out = self._proc.stdout.fileno()
        deadline = time.monotonic() + START_TIMEOUT
        msg = None
        while msg is None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([out], [], [], left)[0]:
                self._proc.kill()
                raise AuditError("audit log %s: the writer process did not start in %gs"
                                 % (self.location, START_TIMEOUT))
            data = os.read(out, 65536)
            if not data:
                self._proc.wait(10)
                raise AuditError("audit log %s: the writer process exited at start (exit code %s)"
                                 % (self.location, self._proc.returncode))
            self._inbuf += data
            msgs = self._messages()
            msg = msgs[0] if msgs else None
        if msg[0] != "ready":
            self._proc.wait(10)
            raise AuditError(msg[1])
        _, self.last_seq, self.last_hash = msg
        self._attach()
        self.started = True

    def _spawn(self):
        env = None
        if self.dsn is not None:        # off the command line, which every user can read
            from .process import DSN_ENV
            env = dict(os.environ, **{DSN_ENV: self.dsn})
        return subprocess.Popen(
            [sys.executable, "-m", "lighthouse.audit.process", self.path or "-", "1" if self.sync else "0",
             str(self.worker), str(self.max_input), str(self.max_bytes or 0), str(self.max_age_ns or 0)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
            env=env, start_new_session=True)   # a Ctrl-C meant for the server does not stop its writer first

    def _attach(self):
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._loop.add_reader(self._proc.stdout.fileno(), self._on_readable)

    async def close(self, timeout=30.0, summary=True):
        """Commit everything queued and stop the writer process. Records not committed
        after ``timeout`` seconds are counted in ``lost`` and logged. ``summary``: log the
        count written and the last record's seq and hash (the chain's head, for
        comparing with the file later)."""
        if not self.started:
            return
        self.started = False
        loop = self._loop
        self._closed = loop.create_future()
        if self._restart_handle is not None:
            self._restart_handle.cancel()
            self._restart_handle = None
        if self._dead is None:
            self._flush(final=True)
        else:                                   # nothing to wait for
            if self._starting:                  # a replacement still opening the store
                self._proc.kill()
            self._closed.set_result(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), timeout)
        except asyncio.TimeoutError:
            log.error("audit log %s: the writer did not finish in %gs", self.location, timeout)
        proc, self._proc = self._proc, None
        if proc is not None:
            self._detach(proc)
            await loop.run_in_executor(None, _reap, proc)
        self.lost = self.appended - self.committed
        self._on_failure("the server is stopping")
        if self.lost:
            log.error("audit log %s: %d records could not be written before shutdown", self.location, self.lost)
        if summary:
            log.info("audit log %s: %d records written by this process, last record %d, hash %s",
                     self.location, self.committed, self.last_seq, self.last_hash)

    def _detach(self, proc):
        """Stop watching ``proc``'s pipes."""
        self._loop.remove_reader(proc.stdout.fileno())
        if self._writing:
            self._writing = False
            self._loop.remove_writer(proc.stdin.fileno())

    # ------------------------------------------------------------ the event loop's side

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
        if not self._scheduled:
            self._scheduled = True
            if self.sync:
                self._loop.call_soon(self._flush)
            else:
                self._loop.call_later(self.commit_interval, self._flush)

    async def wait_committed(self, ticket):
        """Return once the first ``ticket`` records are committed; CallRejected
        UNAVAILABLE if the store fails meanwhile.

        The calls that wait between two hand-overs share one future (a group, released
        when its highest ticket is committed: the records handed over together are
        committed together), so that a commit wakes each waiting call without a future
        made and set for each."""
        if self.committed >= ticket:
            return
        group = self._group
        if group is None:
            group = self._group = [ticket, self._loop.create_future()]
            self._waiters.append(group)
        elif group[0] < ticket:
            group[0] = ticket
        await group[1]

    def _flush(self, final=False):
        """Hand what has queued to the writer (``final``: and the end marker)."""
        self._scheduled = False
        self._group = None                      # later waiters wait for later records
        if self._dead is not None:
            return
        queue = self._queue
        room = len(queue) if final else self.max_queue - (self.sent - self.committed)
        if queue and room > 0:
            # At most max_queue records are in the writer's hands: the rest stay here,
            # where they count against the queue's bound, and an acknowledgement flushes
            # again.
            entries = queue[:room]
            del queue[:room]
            offset = time.time_ns() - time.perf_counter_ns()
            for i in range(0, len(entries), MESSAGE_RECORDS):
                part = entries[i:i + MESSAGE_RECORDS]
                data = marshal.dumps((offset, _columns(part) if len(part) >= COLUMNS_FROM else
                                      [_plain(e) for e in part]))
                framed = _LEN.pack(len(data)) + data
                self._out += framed
                self.sent += len(part)
                self._pending.append((self.sent, framed))   # kept until acknowledged, for a new writer
        if final:
            self._out += _LEN.pack(0)
        self._write()

    def _write(self):
        out = self._out
        if not out:
            return
        fd = self._proc.stdin.fileno()
        try:
            n = os.write(fd, out)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._writer_gone("the writer process is gone (%s)" % (e.strerror or e))
            return
        del out[:n]
        if out and not self._writing:
            self._writing = True
            self._loop.add_writer(fd, self._on_writable)

    def _on_writable(self):
        self._write()
        if not self._out and self._writing:
            self._writing = False
            self._loop.remove_writer(self._proc.stdin.fileno())

    def _messages(self):
        buf, msgs, i = self._inbuf, [], 0
        while len(buf) - i >= 4:
            (n,) = _LEN.unpack_from(buf, i)
            if len(buf) - i - 4 < n:
                break
            msgs.append(marshal.loads(buf[i + 4:i + 4 + n]))
            i += 4 + n
        self._inbuf = buf[i:]
        return msgs

    def _on_readable(self):
        try:
            data = os.read(self._proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self._proc.stdout.fileno())
            if self._closed is None or self.committed < self.appended:
                self._writer_gone("the writer process exited (exit code %s)" % self._proc.poll())
            if self._closed is not None and not self._closed.done():
                self._closed.set_result(None)
            return
        self._inbuf += data
        for msg in self._messages():
            kind = msg[0]
            if kind == "committed":
                _, written, self.last_seq, self.last_hash = msg
                self.batches += 1
                if self.failing:
                    log.warning("audit log %s: commits work again", self.location)
                    self.failing = False
                self._on_commit(self._base + written)
            elif kind == "ready":
                self._on_restarted(msg[1], msg[2])
            elif kind == "rotated":
                self.rotations += 1
                log.info("audit log %s: rotated%s%s", self.location, " into %s" % msg[1] if msg[1] else "",
                         "; retention deleted %s" % ", ".join(msg[2]) if msg[2] else "")
            elif kind == "rotate-failed":
                log.warning("audit log %s: rotation failed (%s); the log goes on in the same file",
                            self.location, msg[1])
            elif kind == "error":
                if self._starting:              # the replacement cannot open the store
                    self._writer_gone(msg[1])
                    return
                self.errors += 1
                if not self.failing:
                    log.error("audit log %s: commit failed (%s); the records are kept and retried",
                              self.location, msg[1])
                self.failing = True
                self._on_failure(msg[1])
            elif kind == "closed":
                if self._closed is not None and not self._closed.done():
                    self._closed.set_result(None)

    def _on_commit(self, written):
        self.committed = written
        pending = self._pending
        while pending and pending[0][0] <= written:
            pending.popleft()
        waiters = self._waiters
        while waiters and waiters[0][0] <= written:
            group = waiters.popleft()
            if group is self._group:            # no later waiter may join a released group
                self._group = None
            if not group[1].done():
                group[1].set_result(None)
        if self._queue and not self._scheduled and self.sent - written < self.max_queue:
            self._scheduled = True          # records held back while the writer was behind
            self._loop.call_soon(self._flush)

    def _on_failure(self, message):
        waiters, self._waiters = self._waiters, deque()
        self._group = None
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(CallRejected(grpc.StatusCode.UNAVAILABLE,
                                               "the decision could not be recorded in the audit log (%s); "
                                               "retry" % message))

    def _writer_gone(self, why):
        """The writer process is gone (or its replacement could not start): refuse calls
        until a new one is ready, and start one after a delay."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            self._detach(proc)
            self._loop.run_in_executor(None, _reap, proc)
        self._out.clear()                       # handed again from _pending to the next writer
        self._inbuf = b""
        if self._dead is None:
            self._dead = why
            self.deaths += 1
            self._limit, self.max_queue = self.max_queue, 0     # every call is refused (UNAVAILABLE)
            self._next_delay = self.restart_delay
        if self._closed is not None:            # stopping: no new writer
            log.error("audit log %s: %s while stopping", self.location, why)
            self._on_failure(why)
            return
        log.error("audit log %s: %s; calls are refused until a new writer is started (in %gs)",
                  self.location, why, self._next_delay)
        self._starting = False
        self._on_failure(why)
        self._restart_handle = self._loop.call_later(self._next_delay, self._restart)
        self._next_delay = min(self._next_delay * 2, MAX_RESTART_DELAY)

    def _restart(self):
        self._restart_handle = None
        if self._closed is not None or not self.started:
            return
        try:
            self._proc = self._spawn()
        except OSError as e:
            self._writer_gone("a new writer process cannot be started (%s)" % (e.strerror or e))
            return
        self._starting = True
        self._attach()
        proc = self._proc
        self._loop.call_later(START_TIMEOUT, self._start_timed_out, proc)

    def _start_timed_out(self, proc):
        if self._starting and self._proc is proc:
            self._writer_gone("the new writer process did not open the store in %gs" % START_TIMEOUT)

    def _on_restarted(self, seq, digest):
        """The replacement writer has opened the store: hand it what the dead one had not
        acknowledged, then accept calls again."""
        if not self._starting:
            return
        self._starting = False
        self._dead = None
        self.max_queue = self._limit
        self.restarts += 1
        self.last_seq, self.last_hash = seq, digest
        self._base = self.committed
        for _, framed in self._pending:
            self._out += framed
        log.warning("audit log %s: a new writer process is running (restart %d); the chain goes on after "
                    "record %d; %d records handed to it again", self.location, self.restarts, seq,
                    self.sent - self.committed)
        self._write()
        if self._queue and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    # ------------------------------------------------------------ the hook's spool

    def watch_spool(self, path=None):
        """Ingest the hook's local spool (lighthouse.audit.spool) now and every
        CHECK_INTERVAL seconds while the log is open."""
        from . import spool
        self._spool_path = path or spool.default_spool_path()
        self._spool_backlog = deque()
        self._check_spool()

    def _check_spool(self):
        from . import spool
        if not self.started or self._closed is not None:
            return
        try:
            if self._spool_backlog or os.path.exists(self._spool_path) or \
                    os.path.exists(self._spool_path + ".dropped"):
                entries, lost = spool.take(self._spool_path)
                self._spool_backlog.extend(_spool_entry(e) for e in entries)
                if lost:
                    self._spool_backlog.append(_spool_gap(lost))
                if entries or lost:
                    log.info("audit log %s: %d decisions the hook made locally taken from %s (%d lost)",
                             self.location, len(entries), self._spool_path, lost)
                self._feed_spool()
        except Exception as e:      # the next look tries again; the server goes on
            log.warning("audit log %s: the hook's spool %s cannot be read (%s: %s)", self.location, self._spool_path,
                        type(e).__name__, e)
        self._loop.call_later(spool.CHECK_INTERVAL, self._check_spool)

    def _feed_spool(self):
        backlog = self._spool_backlog
        while backlog and len(self._queue) < self.max_queue:    # else (full, writer down): the next look
            self.record(backlog.popleft())

    def snapshot(self):
        """Counters for /metrics (lighthouse.metrics)."""
        return {"queue": len(self._queue) + self.sent - self.committed, "appended": self.appended,
                "committed": self.committed, "refused": self.refused, "batches": self.batches,
                "errors": self.errors, "failing": 1 if self.failing or self._dead else 0,
                "writer_restarts": self.restarts}


def _spool_entry(e):
    """A spooled decision (lighthouse.audit.spool.take) as AuditLog.record takes it."""
    from ..vocab import TIER_CODES, VERDICT_CODES
    from .spool import SOURCE
    t0 = e["time_ns"] - (time.time_ns() - time.perf_counter_ns())
    outcome = (VERDICT_CODES[e["verdict"]], TIER_CODES[e["tier"]], e["reason"], e["rule_id"], 0)
    return (t0, SOURCE, "", e["agent_id"], e["session_id"], e["tool"], (e["input"], e["input_bytes"],
                                                                        e["input_sha256"]),
            e["cwd"], outcome, 0, "", ())


def _spool_gap(lost):
    from ..vocab import TIER_CODES, VERDICT_CODES
    from .spool import GAP_SOURCE
    reason = ("%d decisions the hook made locally were not recorded (its spool was full, or lines of it could not "
              "be read)" % lost)
    return (time.perf_counter_ns(), GAP_SOURCE, "", "", "", "", "", "", (VERDICT_CODES["ask"], TIER_CODES["fallback"],
                                                                         reason, "spool", 0), 0, "", ())


def _reap(proc):
    try:
        proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    proc.stdout.close()


class _PlainOutcomes(dict):
    """Each decision's outcome (lighthouse.server.wire.Outcome, one object per distinct
    answer) -> the plain tuple of its first five fields, which marshal takes: made on
    first use, emptied past MEMO_ENTRIES."""

    MEMO_ENTRIES = 4096

    def __missing__(self, o):
        if len(self) >= self.MEMO_ENTRIES:
            self.clear()
        plain = self[o] = (o[0], o[1], o[2], o[3], o[4])
        return plain


_plain_outcomes = _PlainOutcomes()
_MARSHALLED_INPUTS = frozenset((str, tuple))


def _columns(entries):
    """``entries`` (AuditLog.record's tuples) as marshal takes them, in bulk: a tuple of
    twelve columns (each field of every entry, in order) rather than a tuple per entry,
    the outcome column plain tuples (:class:`_PlainOutcomes`), a local socket's input
    object and an escalation trail as JSON text (as :func:`_plain`). The loop's part of
    the hand-over is then a few passes in C over each column, a fraction of a
    microsecond per record; lighthouse.audit.process reads both forms."""
    if not entries:
        return ()
    try:
        cols = list(zip(*entries))
        cols[8] = tuple(map(_plain_outcomes.__getitem__, cols[8]))
    except TypeError:                           # an outcome that is not a tuple of plain values
        return tuple(zip(*map(_plain, entries)))
    if not _MARSHALLED_INPUTS.issuperset(map(type, cols[6])):
        cols[6] = tuple(i if i.__class__ is str or i.__class__ is tuple else _local_input_text(i) for i in cols[6])
    cols[11] = tuple(map(_trail_text, cols[11])) if any(cols[11]) else ("",) * len(cols[11])
    return tuple(cols)


def _local_input_text(tool_input):
    from .record import _local_input
    return _local_input(tool_input)


def _trail_text(trail):
    """An escalation trail as JSON text ("" for none; text as it is)."""
    if not trail:
        return ""
    if trail.__class__ is str:
        return trail
    from .record import _encode_trail
    return _encode_trail(list(trail))


def _plain(entry):
    """An entry as marshal takes it: the outcome as a plain tuple, the local socket's
    input object and an escalation trail as JSON text."""
    t0, source, rid, agent, session, tool, tool_input, cwd, o, ns, escalation_id, trail = entry
    if tool_input.__class__ is not str and tool_input.__class__ is not tuple:
        from .record import _local_input
        tool_input = _local_input(tool_input)
    return (t0, source, rid, agent, session, tool, tool_input, cwd, (o[0], o[1], o[2], o[3], o[4]), ns,
            escalation_id, _trail_text(trail))
