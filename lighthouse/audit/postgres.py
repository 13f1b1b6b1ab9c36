"""The PostgreSQL audit store, for deployments that outgrow one file:
``lighthouse serve --audit-dsn postgresql://USER@HOST/DB`` (and the same ``--audit-dsn``
for ``lighthouse audit``). It needs psycopg 3 (``pip install 'lighthouse[postgres]'``;
``make install`` has it).

The same tables as the SQLite store (lighthouse.audit.sqlite), in the schema the DSN's
``search_path`` names (``?options=-csearch_path%3Dlighthouse`` for another than
``public``): ``audit`` (``seq`` the primary key, the record's canonical text, its hash,
and copies of the fields queries filter on, indexed on agent, session, time and
verdict) and ``audit_meta`` (format, genesis, first seq). The tables are created on
first use; the role needs CREATE on the schema then, and afterwards INSERT and SELECT
(``lighthouse audit`` only SELECT: its session is read-only).

**One chain across writers.** Every append (one batch of a writer process, so one
transaction per group commit) first takes the transaction-scoped advisory lock
``pg_advisory_xact_lock(AUDIT_LOCK)``, then reads the chain's head and inserts after it
(COPY), and commits, which releases the lock. The workers of ``--workers N``, and
several servers given the same DSN, thus append one after another to one chain; a
reader never waits for the lock. The lock is the key :data:`AUDIT_LOCK` in the
database: another application using that advisory key would serialize with the writers
(and nothing else).

**Durability.** ``synchronous_commit`` is ``off`` by default (a commit survives the
writer or the server being killed; PostgreSQL's own crash may lose its last few hundred
milliseconds of commits) and ``on`` with ``durable=True`` (``--audit-sync``: a commit
returns once flushed to PostgreSQL's WAL).

A connection that breaks (PostgreSQL restarted) is reopened by the next append; the
writer retries a failed batch (lighthouse.audit.process), so records wait rather than
being lost.

**Retention** (:meth:`PostgresBackend.prune`; ``lighthouse serve --audit-dsn ...
--audit-max-bytes SIZE --audit-max-age AGE`` has the writer apply it every
:data:`PRUNE_INTERVAL` seconds, ``lighthouse audit rotate --audit-dsn ...`` at once)
deletes the oldest records, a prefix of the chain: those before the first record younger
than AGE, and as many more as keep the table's estimated size (its size on disk over its
record count, times the records kept) under SIZE. Each step of at most
:data:`PRUNE_STEP` records is one transaction under the writers' advisory lock that
moves ``first_seq`` and ``genesis`` in ``audit_meta`` to the first record kept and the
hash before it, and records them as ``retained_seq`` and ``retained_hash``: ``verify``
walks the retained chain from there and says where it starts. PostgreSQL reuses the
space of deleted rows after its autovacuum; the files do not shrink.
"""

from __future__ import annotations

import itertools

from ._chain import chain_rows
from .backend import AuditBackend, AuditError, stats_sql, where_sql
from .record import FORMAT, GENESIS, INDEXED, parse

__all__ = ["PostgresBackend", "AUDIT_LOCK", "safe_dsn"]

#: The advisory lock key every writer takes around its append (the bytes "LHAUDIT1").
AUDIT_LOCK = 0x4C48415544495431
CONNECT_TIMEOUT = 10        # seconds, unless the DSN says otherwise
PRUNE_STEP = 50_000         # records deleted per transaction by retention
PRUNE_INTERVAL = 5.0        # seconds between a writer's looks at the retention

_COLUMNS = ("seq",) + INDEXED + ("record", "hash")
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit (\n%s\n)" % ",\n".join(
        "  %s %s" % (f, "BIGINT PRIMARY KEY" if f == "seq" else "BIGINT NOT NULL" if f == "time_ns"
                     else "TEXT NOT NULL") for f in _COLUMNS),
    "CREATE INDEX IF NOT EXISTS audit_agent ON audit (agent_id, time_ns)",
    "CREATE INDEX IF NOT EXISTS audit_session ON audit (session_id, time_ns)",
    "CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ns)",
    "CREATE INDEX IF NOT EXISTS audit_verdict ON audit (verdict, time_ns)",
]
_COPY = "COPY audit (%s) FROM STDIN" % ", ".join(_COLUMNS)
_cursor_names = itertools.count(1)


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise AuditError("the PostgreSQL audit log needs psycopg 3: pip install 'psycopg[binary]' "
                         "(or 'lighthouse[postgres]')") from None
    return psycopg


def safe_dsn(dsn):
    """``dsn`` without its password, for messages and logs."""
    try:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
        params = conninfo_to_dict(dsn)
    except Exception:
        return "postgresql://(a DSN that cannot be parsed)"
    params.pop("password", None)
    return "postgresql: " + make_conninfo(**params)


class PostgresBackend(AuditBackend):
    """An audit log in the PostgreSQL database ``dsn`` names. ``create``: create the
    tables when missing, else a database without them is an AuditError. ``durable``:
    ``synchronous_commit=on``. ``readonly``: a read-only session, for queries only."""

    def __init__(self, dsn, *, create=True, durable=False, readonly=False):
        psycopg = _psycopg()
        self._psycopg = psycopg
        self.dsn = dsn
        self.location = safe_dsn(dsn)
        self.durable = durable
        self.readonly = readonly
        self.conn = None
        try:
            self._connect()
            if not readonly and create:
                self._init_schema()
            self._meta = self._read_meta()
        except psycopg.Error as e:
            self.close()
            raise AuditError("audit log %s: %s" % (self.location, _message(e))) from None

    def _connect(self):
        psycopg = self._psycopg
        kw = {} if "connect_timeout" in self.dsn else {"connect_timeout": CONNECT_TIMEOUT}
        self.conn = psycopg.connect(self.dsn, autocommit=True, application_name="lighthouse-audit", **kw)
        self.conn.execute("SET synchronous_commit = %s" % ("on" if self.durable else "off"))
        if self.readonly:
            self.conn.execute("SET default_transaction_read_only = on")

    def _init_schema(self):
        with self.conn.transaction():
            # Workers creating the tables at once would race in CREATE ... IF NOT EXISTS.
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            for statement in _SCHEMA:
                self.conn.execute(statement)
            for key, value in (("format", FORMAT), ("genesis", GENESIS), ("first_seq", "1")):
                self.conn.execute("INSERT INTO audit_meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                                  (key, value))

    def _read_meta(self):
        exists = self.conn.execute("SELECT to_regclass('audit_meta') IS NOT NULL AND "
                                   "to_regclass('audit') IS NOT NULL").fetchone()[0]
        if not exists:
            raise AuditError("audit log %s: not an audit log (no audit_meta and audit tables)" % self.location)
        meta = dict(self.conn.execute("SELECT key, value FROM audit_meta").fetchall())
        if meta.get("format") != FORMAT:
            raise AuditError("audit log %s: format %r, this version reads %r"
                             % (self.location, meta.get("format"), FORMAT))
        out = {"format": meta["format"], "genesis": meta.get("genesis", GENESIS),
               "first_seq": int(meta.get("first_seq", "1"))}
        if "retained_seq" in meta:      # written by prune()
            out["retained_seq"] = int(meta["retained_seq"])
            out["retained_hash"] = meta.get("retained_hash", "")
        return out

    def meta(self):
        return dict(self._meta)

    def head(self):
        row = self.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:         # the metadata may have changed since it was read (retention)
            self._meta = self._read_meta()
            return self._meta["first_seq"] - 1, self._meta["genesis"]
        return row[0], row[1]

    def append(self, rows):
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self._connect()
        conn = self.conn
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            seq, prev = self.head()
            out, seq, _ = chain_rows(rows, seq, bytes.fromhex(prev))
            with conn.cursor() as cur, cur.copy(_COPY) as copy:
                for row in out:
                    copy.write_row(row)
            prev = out[-1][-1] if out else prev
        return seq, prev

    def prune(self, max_bytes=None, max_age_ns=None, now_ns=None):
        """Delete the oldest records past the retention (see the module's text); returns
        (first seq deleted, last seq deleted), or None when nothing was."""
        import time
        conn = self.conn
        first = self._read_meta()["first_seq"]
        head = self.head()[0]
        cut = first - 1                         # the last record to delete
        if max_age_ns is not None:
            cutoff = (time.time_ns() if now_ns is None else now_ns) - max_age_ns
            young = conn.execute("SELECT min(seq) FROM audit WHERE time_ns >= %s", (cutoff,)).fetchone()[0]
            cut = max(cut, head if young is None else young - 1)
        if max_bytes is not None:
            size, n = conn.execute("SELECT pg_total_relation_size('audit'), count(*) FROM audit").fetchone()
            if n and size > max_bytes:
                cut = max(cut, head - int(max_bytes / (size / n)))
        if cut < first:
            return None
        start = first
        while first <= cut:
            step_end = min(cut, first + PRUNE_STEP - 1)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
                meta = dict(conn.execute("SELECT key, value FROM audit_meta").fetchall())
                if int(meta.get("first_seq", "1")) != first:
                    raise AuditError("audit log %s changed during its retention (another one ran): stopped"
                                     % self.location)
                row = conn.execute("SELECT hash FROM audit WHERE seq = %s", (step_end,)).fetchone()
                if row is None:
                    raise AuditError("audit log %s: record %d is missing: retention stopped" % (self.location,
                                                                                              step_end))
                conn.execute("DELETE FROM audit WHERE seq <= %s", (step_end,))
                for key, value in (("first_seq", step_end + 1), ("genesis", row[0]), ("retained_seq", step_end + 1),
                                   ("retained_hash", row[0])):
                    conn.execute("INSERT INTO audit_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                                 "SET value = excluded.value", (key, str(value)))
            first = step_end + 1
        self._meta = self._read_meta()
        return start, cut

    def _select(self, sql, args, batch):
        # A server-side cursor, so that a walk over millions of records holds one batch
        # in memory; it lives in a (read-only) transaction of its own.
        with self.conn.transaction():
            with self.conn.cursor(name="audit_read_%d" % next(_cursor_names)) as cur:
                cur.itersize = batch
                cur.execute(sql, args)
                yield from cur

    def chain(self, batch=1000):
        for row in self._select("SELECT %s FROM audit ORDER BY seq" % ", ".join(_COLUMNS), (), batch):
            yield row[0], row[1:-2], row[-2], row[-1]

    def records(self, query=None, batch=1000):
        where, args = where_sql(query, "%s")
        order = "time_ns DESC, seq DESC" if query is not None and query.newest_first else "seq"
        sql = "SELECT record, hash FROM audit%s ORDER BY %s" % (where, order)
        if query is not None and query.limit:
            sql += " LIMIT %d" % int(query.limit)
        for text, h in self._select(sql, args, batch):
            rec = parse(text)
            rec["hash"] = h
            yield rec

    def count(self, query=None):
        where, args = where_sql(query, "%s")
        return self.conn.execute("SELECT count(*) FROM audit" + where, args).fetchone()[0]

    def stats(self, query=None):
        where, args = where_sql(query, "%s")
        return stats_sql(self.conn.execute, where, args)

    def close(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()


def _message(e):
    """psycopg's message on one line."""
    return " ".join(str(e).split()) or type(e).__name__
