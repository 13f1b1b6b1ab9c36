"""The audit log's writer process: ``python -m lighthouse.audit.process LOCATION SYNC
WORKER MAX_INPUT [MAX_BYTES MAX_AGE_NS]``, started by lighthouse.audit.writer.AuditLog.
MAX_BYTES and MAX_AGE_NS (0: none) are the retention of the log: after a commit the
writer rotates and prunes an SQLite log (lighthouse.audit.rotate.Rotator), or deletes a
PostgreSQL log's oldest records (PostgresBackend.prune, every few seconds), and says so
with ``("rotated", archive or "", [what was deleted])`` or ``("rotate-failed", message)``. LOCATION is the SQLite
file, or ``-`` for the PostgreSQL DSN in the environment variable
``LIGHTHOUSE_AUDIT_DSN`` (kept off the command line, which every user can read).

It reads batches of entries on stdin (each message a 4-byte little-endian length, then
``marshal`` bytes: the wall-clock offset and the entries, either a list of entry tuples
or a tuple of their twelve columns as lighthouse.audit.writer hands them over), turns them into records
(lighthouse.audit._chain.RowMaker, which gives the rows of make_row), appends everything
that has arrived (in the default mode, within :data:`COMMIT_WAIT` of a commit's first
message) to the store in one transaction (lighthouse.audit.sqlite or
lighthouse.audit.postgres), and writes an acknowledgement on stdout in the same framing:
``("ready", seq, hash)`` once the store is open, ``("committed", records so far, last
seq, last hash)`` after each commit, ``("error", message)`` when a commit fails (it is
retried), ``("closed",)`` at the end. A message of length 0, or the end of stdin (the
server was killed), ends it after a last commit.

This module imports nothing of the server (no grpc, no asyncio).
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import struct
import sys
import time

__all__ = ["writer_main", "LENGTH", "DSN_ENV"]

DSN_ENV = "LIGHTHOUSE_AUDIT_DSN"

LENGTH = struct.Struct("<I")
RETRY_DELAY = (0.05, 1.0)           # first and longest wait before retrying a failed commit
#: Past this many records read, the writer commits before reading the next message: a
#: commit holds at most this and one message (lighthouse.audit.writer.MESSAGE_RECORDS),
#: so that a writer behind its server still acknowledges every fraction of a second.
COMMIT_RECORDS = 8192
#: In the default mode (not durable), a commit of fewer than COMMIT_BATCH records waits
#: up to COMMIT_WAIT seconds after its first message for more: the server hands records
#: over every 5 ms, and a commit (its transaction, the pages it writes again, the
#: server's handling of its acknowledgement) costs tens of microseconds whatever its
#: size. Nothing is lost by the wait: a killed server's writer still commits what it has
#: received, and a dead writer's records are handed to the next one. In sync mode a
#: commit never waits (its calls do).
COMMIT_BATCH = 2048
COMMIT_WAIT = 0.02


def _send(msg):
    data = marshal.dumps(msg)
    try:
        os.write(1, LENGTH.pack(len(data)) + data)
    except OSError:             # the server is gone; the records are what matters
        pass


def _read_exact(fd, n):
    parts = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _read_message(fd):
    """The next message's bytes; b"" for the end marker or the server's end closing."""
    head = _read_exact(fd, 4)
    if head is None:
        return b""
    (n,) = LENGTH.unpack(head)
    return _read_exact(fd, n) or b""


def writer_main(path, durable, worker, max_input, max_bytes=0, max_age_ns=0):
    """The writer process: open the store, then commit each batch read on stdin until the end
    marker or the end of stdin (a killed server's records received so far are still
    committed), acknowledging each commit on stdout."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)   # the server decides when its writer stops
    from . import open_backend
    from .backend import AuditError
    from ._chain import RowMaker
    from .record import make_row
    if path == "-":
        path = os.environ.pop(DSN_ENV, "")
    try:
        backend = open_backend(path, durable=durable)
    except AuditError as e:
        _send(("error", str(e)))
        return 1
    rotator = None
    if max_bytes or max_age_ns:
        if path.startswith(("postgresql://", "postgres://")):
            rotator = _Pruner(max_bytes or None, max_age_ns or None)
        else:
            from .rotate import Rotator
            rotator = Rotator(path, max_bytes or None, max_age_ns or None)
    maker = RowMaker(worker, max_input)
    seq, h = backend.head()
    _send(("ready", seq, h))
    written = 0
    rows = []
    delay = RETRY_DELAY[0]
    ending = False
    while True:
        # Read one batch (blocking), then every batch already waiting (in the default
        # mode, arriving within COMMIT_WAIT), up to COMMIT_RECORDS: one commit for all.
        until = time.monotonic() + COMMIT_WAIT if rows and not durable else None
        while not ending and (not rows or len(rows) < COMMIT_RECORDS and _more(rows, until)):
            data = _read_message(0)
            if not data:
                ending = True
                break
            if until is None and not durable:
                until = time.monotonic() + COMMIT_WAIT
            offset, entries = marshal.loads(data)
            if entries.__class__ is tuple:      # columns (lighthouse.audit.writer._columns)
                entries = list(zip(*entries))
            try:
                rows.extend(maker.rows(entries, offset))
            except Exception:       # one entry it cannot encode: each on its own
                rows.extend([_row(e, worker, offset, max_input, make_row) for e in entries])
            if len(rows) >= COMMIT_RECORDS or not _more(rows, until):
                break
        if rows:
            try:
                seq, h = backend.append(rows)
            except Exception as e:
                _send(("error", "%s: %s" % (type(e).__name__, e)))
                time.sleep(delay)
                delay = min(delay * 2, RETRY_DELAY[1])
                continue
            delay = RETRY_DELAY[0]
            written += len(rows)
            rows = []
            _send(("committed", written, seq, h))
            if rotator is not None:
                _maybe_rotate(rotator, backend)
        if ending:
            backend.close()
            _send(("closed",))
            return 0


def _more(rows, until):
    """Whether another message is to be read into this commit: one is waiting, or (a
    commit of fewer than COMMIT_BATCH ``rows`` before ``until``, a monotonic time; None in
    sync mode) arrives in time."""
    wait = 0.0
    if until is not None and len(rows) < COMMIT_BATCH:
        wait = max(0.0, until - time.monotonic())
    return bool(select.select([0], [], [], wait)[0])


def _maybe_rotate(rotator, backend):
    try:
        if rotator.due(backend):
            archive, deleted = rotator.run()
            if archive or deleted:
                _send(("rotated", archive or "", deleted))
    except Exception as e:          # the log goes on unrotated; the server logs why
        _send(("rotate-failed", "%s: %s" % (type(e).__name__, e)))


class _Pruner:
    """The retention of a PostgreSQL log (PostgresBackend.prune), applied after a commit
    at most every PRUNE_INTERVAL seconds; the Rotator's interface."""

    def __init__(self, max_bytes, max_age_ns):
        from .postgres import PRUNE_INTERVAL
        self.max_bytes, self.max_age_ns, self.interval = max_bytes, max_age_ns, PRUNE_INTERVAL
        self._next = 0.0
        self._backend = None

    def due(self, backend):
        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.interval
        self._backend = backend
        return True

    def run(self):
        done = self._backend.prune(self.max_bytes, self.max_age_ns)
        return None, ["records %d to %d" % done] if done else []


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


if __name__ == "__main__":
    sys.exit(writer_main(sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]),
                         *(int(a) for a in sys.argv[5:7])))
