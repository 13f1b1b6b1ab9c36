"""The SQLite audit store, the embedded default.

One file in WAL mode (readers such as ``lighthouse audit tail`` never block the writer),
created owner-only (0600, in a directory created 0700 when missing): the records say
what every agent tried. Records live in the table ``audit``: ``seq`` (the rowid), the
record's canonical text (``record``, exactly the bytes its ``hash`` covers), and copies
of the fields queries filter on (lighthouse.audit.record.INDEXED) with indexes on time
and on verdict (and time) of the records that are not allows; the table ``audit_meta``
holds the format and the chain's genesis. Keeping the hashed text itself, rather than
one column per field, halves the writer's work per record; ``verify`` checks that every
column equals its field in the text.

**The verdict index leaves allows out** (a partial index, ``WHERE verdict <> 'allow'``):
most calls are allowed, and each index entry costs the writer about 0.7 us of a record's
6; a query for asks or denies finds them through it (:func:`_where_verdict` adds the
index's condition, which SQLite must see to use it), one for allows walks the time index,
where they are most records. A log written before keeps its index on every verdict.

**Agent and session lookups are written in bulk.** An index on the agent (or session)
of every record would be written at as many places in the file as a commit has agents:
with a few hundred agents, each commit rewrote hundreds of pages, three quarters of the
writer's time. Instead the tables ``audit_by_agent`` and ``audit_by_session`` ((agent
or session, time_ns, seq), sorted) are filled by the append that takes the log
:data:`INDEX_EVERY` records past ``indexed_seq`` (in ``audit_meta``: every record up to
it has its two entries), in one sorted insert. A query by agent or session reads the
matches up to ``indexed_seq`` through its table and scans the records after it (fewer
than INDEX_EVERY plus one batch) by seq; ``verify`` checks that the tables hold exactly
one matching entry per record up to ``indexed_seq``
(:meth:`SQLiteBackend.index_problem`). A log written before (with the indexes
``audit_agent`` and ``audit_session`` on the table) keeps them and is read as it was.

**Commits** go through an :class:`~lighthouse.audit._chain.Appender`, a connection of
its own opened at the first append (the compiled one binds each column through SQLite's
C API: bench/audit.py --writer). It reads the chain's head inside its write transaction,
so several writer processes (``--workers N``) append to one chain in the same file.

``synchronous``: NORMAL by default (a commit survives the process being killed, and may
be lost with the machine's power); FULL with ``durable=True`` (each commit is fsynced:
what ``lighthouse serve --audit-sync`` promises).
"""

from __future__ import annotations

import heapq
import itertools
import os
import sqlite3
import time

from ._chain import Appender
from .backend import AuditBackend, AuditError, stats_sql, where_sql
from .record import FORMAT, GENESIS, INDEXED, parse

__all__ = ["SQLiteBackend", "default_audit_path"]

_COLUMNS = ("seq",) + INDEXED + ("record", "hash")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
%s
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ns);
CREATE INDEX IF NOT EXISTS audit_verdict ON audit (verdict, time_ns) WHERE verdict <> 'allow';
""" % ",\n".join("  %s %s" % (f, "INTEGER PRIMARY KEY" if f == "seq" else
                              "INTEGER NOT NULL" if f == "time_ns" else "TEXT NOT NULL") for f in _COLUMNS)
#: The bulk-written lookup tables: (table, the audit column it looks up).
LOOKUPS = (("audit_by_agent", "agent_id"), ("audit_by_session", "session_id"))
_LOOKUP_SCHEMA = ["CREATE TABLE IF NOT EXISTS %s (%s TEXT NOT NULL, time_ns INTEGER NOT NULL, seq INTEGER NOT NULL, "
                  "PRIMARY KEY (%s, time_ns, seq)) WITHOUT ROWID" % (t, c, c) for t, c in LOOKUPS]
_FILL = ["INSERT INTO %s SELECT %s, time_ns, seq FROM audit WHERE seq > ? ORDER BY 1, 2, 3" % (t, c)
         for t, c in LOOKUPS]
#: The indexes on the table of a log written before the lookup tables.
_LEGACY_SCHEMA = ["CREATE INDEX IF NOT EXISTS audit_agent ON audit (agent_id, time_ns)",
                  "CREATE INDEX IF NOT EXISTS audit_session ON audit (session_id, time_ns)"]
#: Records appended past ``indexed_seq`` before the lookup tables are filled. A fill
#: writes into each agent's and session's part of the tables: its cost grows with the
#: agents and sessions it meets more than with its records, so fewer, larger fills cost
#: less per record (bench/README.md: 2.4 us a record at 16,384, 1.4 at 65,536 with 200
#: agents), and a query by agent or session scans at most this many records more.
INDEX_EVERY = 65536
_INSERT = "INSERT INTO audit (%s) VALUES (%s)" % (", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS)))
BUSY_TIMEOUT = 10.0     # seconds a writer waits for another process's transaction
PAGE_SIZE = 8192        # bytes per page of a new log


def _while_locked(step, timeout=BUSY_TIMEOUT):
    """Run ``step`` again while another process holds the file's lock ("database is
    locked"), for at most ``timeout`` seconds; any other error at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return step()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def default_audit_path():
    """``$XDG_DATA_HOME/lighthouse/audit.db``, else ``~/.local/share/lighthouse/audit.db``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "lighthouse", "audit.db")


class SQLiteBackend(AuditBackend):
    """An audit log in the SQLite file at ``path``. ``create``: make the file (and its
    directory) when missing, else a missing file is an AuditError. ``durable``: fsync
    every commit (synchronous=FULL). ``readonly``: open for queries only."""

    def __init__(self, path, *, create=True, durable=False, readonly=False):
        self.path = os.path.abspath(path)
        self.location = self.path
        self.durable, self.readonly = durable, readonly
        self._appender = None
        exists = os.path.exists(self.path)
        if not exists and (readonly or not create):
            raise AuditError("audit log %s: no such file" % self.path)
        if not exists:
            _create_private(self.path)
        try:
            if readonly:
                self.db = sqlite3.connect("file:%s?mode=ro" % _uri_path(self.path), uri=True,
                                          isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT)
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                          timeout=BUSY_TIMEOUT)
            if not readonly:
                # A new file's pages (a file with pages keeps its size): half as many
                # b-tree pages to write per record as with 4,096 bytes, about 0.3 us less
                # of a record's insert (bench/README.md).
                self.db.execute("PRAGMA page_size=%d" % PAGE_SIZE)
                # Switching to WAL takes the file's exclusive lock and SQLite does not
                # wait for it with the busy timeout: processes opening one new file at
                # once (the workers of --workers N) retry here instead.
                _while_locked(lambda: self.db.execute("PRAGMA journal_mode=WAL"))
                self.db.execute("PRAGMA synchronous=%s" % ("FULL" if durable else "NORMAL"))
                _while_locked(self._init_schema)
            self._meta = self._read_meta()
        except sqlite3.Error as e:
            raise AuditError("audit log %s: %s" % (self.path, e)) from None

    def _init_schema(self):
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            legacy = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'audit_agent'").fetchone()
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for statement in (_LEGACY_SCHEMA if legacy else _LOOKUP_SCHEMA):
                db.execute(statement)
            db.execute("INSERT OR IGNORE INTO audit_meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT OR IGNORE INTO audit_meta VALUES ('genesis', ?)", (GENESIS,))
            db.execute("INSERT OR IGNORE INTO audit_meta VALUES ('first_seq', '1')")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _read_meta(self):
        try:
            meta = dict(self.db.execute("SELECT key, value FROM audit_meta"))
        except sqlite3.OperationalError:
            raise AuditError("audit log %s: not an audit log (no audit_meta table)" % self.path) from None
        if meta.get("format") != FORMAT:
            raise AuditError("audit log %s: format %r, this version reads %r" % (self.path, meta.get("format"), FORMAT))
        out = {"format": meta["format"], "genesis": meta.get("genesis", GENESIS),
               "first_seq": int(meta.get("first_seq", "1"))}
        self._lookups = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                        (LOOKUPS[0][0],)).fetchone() is not None
        if "retained_seq" in meta:      # written by retention (lighthouse.audit.rotate)
            out["retained_seq"] = int(meta["retained_seq"])
            out["retained_hash"] = meta.get("retained_hash", "")
        return out

    def meta(self):
        return dict(self._meta)

    def head(self):
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            # An empty table: the chain goes on from the metadata, which a rotation
            # (lighthouse.audit.rotate) may have changed since this connection read it.
            self._meta = self._read_meta()
            return self._meta["first_seq"] - 1, self._meta["genesis"]
        return row

    def append(self, rows):
        """Chain and commit ``rows`` in one transaction, through this log's
        :class:`~lighthouse.audit._chain.Appender` (a connection of its own, opened at the
        first append: the compiled one binds each column through SQLite's C API)."""
        appender = self._appender
        if appender is None:
            if self.readonly:
                raise AuditError("audit log %s: opened read-only" % self.path)
            try:
                appender = self._appender = Appender(self.path, self.durable, self._lookups, INDEX_EVERY,
                                                     BUSY_TIMEOUT)
            except sqlite3.Error as e:
                raise AuditError("audit log %s: %s" % (self.path, e)) from None
        return appender.append(rows)

    def _indexed_seq(self):
        """The last seq the lookup tables cover (every record up to it has its entries)."""
        row = self.db.execute("SELECT value FROM audit_meta WHERE key = 'indexed_seq'").fetchone()
        return int(row[0]) if row is not None else 0

    def _lookup(self, query):
        """(table, column) of the lookup table serving ``query``, or None."""
        if not self._lookups or query is None:
            return None
        for table, column in LOOKUPS:
            if getattr(query, column):
                return table, column
        return None

    def _where(self, query):
        lookup = self._lookup(query)
        if lookup is None:
            return where_sql(query, "?", extra=_where_verdict(query))
        table, column = lookup
        value, indexed = getattr(query, column), self._indexed_seq()
        # Right for any use (counts, stats); records() reads the two parts apart, in order.
        return where_sql(query, "?", skip=(column,), extra=[(
            "(seq IN (SELECT seq FROM %s WHERE %s = ? AND seq <= ?) OR seq > ? AND %s = ?)" % (table, column, column),
            (value, indexed, indexed, value))])

    def chain(self, batch=1000):
        for row in self._select("SELECT %s FROM audit ORDER BY seq" % ", ".join(_COLUMNS), (), batch):
            yield row[0], row[1:-2], row[-2], row[-1]

    def _select(self, sql, args, batch):
        cur = self.db.execute(sql, args)
        while True:
            chunk = cur.fetchmany(batch)
            if not chunk:
                return
            yield from chunk

    def records(self, query=None, batch=1000):
        lookup = self._lookup(query)
        if lookup is not None:
            yield from self._looked_up(query, lookup, batch)
            return
        where, args = self._where(query)
        # Newest first goes by time (then seq), so that an index on (field, time_ns) is
        # walked backwards instead of every match being sorted.
        order = "time_ns DESC, seq DESC" if query is not None and query.newest_first else "seq"
        sql = "SELECT record, hash FROM audit%s ORDER BY %s" % (where, order)
        if query is not None and query.limit:
            sql += " LIMIT %d" % int(query.limit)
        for text, h in self._select(sql, args, batch):
            rec = parse(text)
            rec["hash"] = h
            yield rec

    def _looked_up(self, query, lookup, batch):
        """records() by agent or session: the records up to ``indexed_seq`` through the
        lookup table (walked in the order asked, stopping at the limit), merged with those
        after it (a scan of at most INDEX_EVERY records and a batch)."""
        table, column = lookup
        value, indexed = getattr(query, column), self._indexed_seq()
        newest = query.newest_first
        order = "time_ns DESC, seq DESC" if newest else "seq"
        limit = " LIMIT %d" % int(query.limit) if query.limit else ""
        where, args = where_sql(query, "?", prefix="a.", skip=(column,), extra=[
            ("k.%s = ?" % column, (value,)), ("k.seq <= ?", (indexed,))])
        if query.since is not None:         # the lookup table's own time_ns, so that its key bounds the walk
            where += " AND k.time_ns >= ?"
            args.append(query.since)
        if query.until is not None:
            where += " AND k.time_ns < ?"
            args.append(query.until)
        # CROSS JOIN: the lookup table drives (SQLite keeps the left table outer), walked
        # in its key's order; NOT INDEXED: the tail is read by its seq range, whatever
        # an index on time or verdict would promise for a table of millions.
        older = self._select("SELECT a.time_ns, a.seq, a.record, a.hash FROM %s AS k CROSS JOIN audit AS a "
                             "ON a.seq = k.seq%s ORDER BY %s%s" % (table, where, "k." + order.replace(", ", ", k."),
                                                                   limit), args, batch)
        where, args = where_sql(query, "?", extra=[("seq > ?", (indexed,))])
        newer = list(self._select("SELECT time_ns, seq, record, hash FROM audit NOT INDEXED%s ORDER BY %s%s"
                                  % (where, order, limit), args, batch))
        merged = heapq.merge(older, newer, key=(lambda r: (r[0], r[1])) if newest else (lambda r: r[1]),
                             reverse=newest)
        for _, _, text, h in itertools.islice(merged, query.limit or None):
            rec = parse(text)
            rec["hash"] = h
            yield rec

    def index_problem(self):
        if not self._lookups:
            return None
        indexed = self._indexed_seq()
        for table, column in LOOKUPS:
            match = "a.seq = k.seq AND a.%s = k.%s AND a.time_ns = k.time_ns" % (column, column)
            missing = self.db.execute("SELECT min(a.seq) FROM audit AS a WHERE a.seq <= ? AND NOT EXISTS (SELECT 1 "
                                      "FROM %s AS k WHERE %s)" % (table, match), (indexed,)).fetchone()[0]
            if missing is not None:
                return missing, ("record %d has no entry in the lookup table %s, or its entry was changed: a query by "
                                 "%s would miss it" % (missing, table, column))
            stray = self.db.execute("SELECT min(k.seq) FROM %s AS k WHERE k.seq <= ? AND NOT EXISTS (SELECT 1 FROM "
                                    "audit AS a WHERE %s)" % (table, match), (indexed,)).fetchone()[0]
            if stray is not None:
                return stray, ("the lookup table %s has an entry for record %d that does not match it: it was changed"
                               % (table, stray))
        return None

    def count(self, query=None):
        where, args = self._where(query)
        return self.db.execute("SELECT count(*) FROM audit" + where, args).fetchone()[0]

    def stats(self, query=None):
        where, args = self._where(query)
        return stats_sql(self.db.execute, where, args)

    def close(self):
        appender, self._appender = self._appender, None
        if appender is not None:
            appender.close()
        db, self.db = self.db, None
        if db is not None:
            db.close()


def _where_verdict(query):
    """The condition of the partial index audit_verdict, for a query by a verdict it
    holds: SQLite uses a partial index only for a query whose WHERE has its condition
    word for word (``verdict = 'deny'`` does not imply ``verdict <> 'allow'`` to it)."""
    if query is not None and query.verdict and query.verdict != "allow":
        return [("verdict <> 'allow'", ())]
    return []


def _uri_path(path):
    from urllib.parse import quote
    return quote(path)


def _create_private(path):
    """Create the directory (0700) and an empty file (0600) the log will live in."""
    directory = os.path.dirname(path)
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as e:
        raise AuditError("audit log %s: cannot create it: %s" % (path, e.strerror or e)) from None
