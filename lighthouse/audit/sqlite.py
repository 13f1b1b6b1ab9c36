"""The SQLite audit store, the embedded default.

One file in WAL mode (readers such as ``lighthouse audit tail`` never block the writer),
created owner-only (0600, in a directory created 0700 when missing): the records say
what every agent tried. Records live in the table ``audit``: ``seq`` (the rowid), the
record's canonical text (``record``, exactly the bytes its ``hash`` covers), and copies
of the fields queries filter on (lighthouse.audit.record.INDEXED) with indexes on agent,
session, time and verdict; the table ``audit_meta`` holds the format and the chain's
genesis. Keeping the hashed text itself, rather than one column per field, halves the
writer's work per record; ``verify`` checks that every column equals its field in the
text.

``synchronous``: NORMAL by default (a commit survives the process being killed, and may
be lost with the machine's power); FULL with ``durable=True`` (each commit is fsynced:
what ``lighthouse serve --audit-sync`` promises).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time

from .backend import AuditBackend, AuditError, stats_sql, where_sql
from .record import FORMAT, GENESIS, INDEXED, parse, seal

__all__ = ["SQLiteBackend", "default_audit_path"]

_COLUMNS = ("seq",) + INDEXED + ("record", "hash")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
%s
);
CREATE INDEX IF NOT EXISTS audit_agent ON audit (agent_id, time_ns);
CREATE INDEX IF NOT EXISTS audit_session ON audit (session_id, time_ns);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ns);
CREATE INDEX IF NOT EXISTS audit_verdict ON audit (verdict, time_ns);
""" % ",\n".join("  %s %s" % (f, "INTEGER PRIMARY KEY" if f == "seq" else
                              "INTEGER NOT NULL" if f == "time_ns" else "TEXT NOT NULL") for f in _COLUMNS)
_INSERT = "INSERT INTO audit (%s) VALUES (%s)" % (", ".join(_COLUMNS), ", ".join("?" * len(_COLUMNS)))
_sha256 = hashlib.sha256
BUSY_TIMEOUT = 10.0     # seconds a writer waits for another process's transaction


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
            for statement in _SCHEMA.split(";"):
                if statement.strip():
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
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq, prev = self.head()
            out = []
            digest = bytes.fromhex(prev)
            for indexed, tail in rows:
                seq += 1
                text = seal(seq, tail)
                digest = _sha256(digest + text.encode("ascii")).digest()
                out.append((seq,) + indexed + (text, digest.hex()))
            prev = out[-1][-1] if out else prev
            db.executemany(_INSERT, out)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return seq, prev

    def _where(self, query):
        return where_sql(query, "?")

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

    def count(self, query=None):
        where, args = self._where(query)
        return self.db.execute("SELECT count(*) FROM audit" + where, args).fetchone()[0]

    def stats(self, query=None):
        where, args = self._where(query)
        return stats_sql(self.db.execute, where, args)

    def close(self):
        db, self.db = self.db, None
        if db is not None:
            db.close()


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
