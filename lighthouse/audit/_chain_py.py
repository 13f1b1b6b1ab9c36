"""The hash chain over a commit's records, pure Python: the readable reference of
lighthouse.audit._chain_c (which lighthouse.audit._chain picks when it is built), with
the reference RowMaker (lighthouse.audit.record's) and the reference :class:`Appender`
(a commit of an SQLite log through Python's sqlite3 module). tests/test_audit_chain.py
checks the two against each other."""

from __future__ import annotations

import hashlib
import sqlite3

from .record import RowMaker, seal

__all__ = ["chain_rows", "RowMaker", "Appender", "SQLITE_VERSION"]

#: The SQLite library this twin writes with (the compiled one reports its own).
SQLITE_VERSION = sqlite3.sqlite_version

_sha256 = hashlib.sha256


def chain_rows(rows, seq, prev):
    """Chain ``rows`` after the record ``seq`` whose raw hash (32 bytes) is ``prev``.

    ``rows``: (INDEXED values, :func:`~lighthouse.audit.record.encode_tail`) pairs, as
    :func:`~lighthouse.audit.record.make_row` gives them. Returns ``(out, seq, prev)``:
    ``out`` the store's rows, each ``(seq, *INDEXED values, canonical text, hex hash)``
    with ``hash(n) = SHA-256(raw hash(n-1) || canonical(n))``, then the last seq and raw
    hash (``seq`` and ``prev`` again for no rows). A canonical text that is not ASCII
    raises UnicodeEncodeError."""
    if prev.__class__ is not bytes:
        raise TypeError("prev must be bytes, not %s" % type(prev).__name__)
    if seq < 0:
        raise ValueError("seq must not be negative, got %d" % seq)
    if len(prev) != 32:
        raise ValueError("prev must be a raw SHA-256 hash (32 bytes), got %d bytes" % len(prev))
    out = []
    append = out.append
    for indexed, tail in rows:
        if tail.__class__ is not str:
            raise TypeError("a row's tail must be str, not %s" % type(tail).__name__)
        seq += 1
        text = seal(seq, tail)
        prev = _sha256(prev + text.encode("ascii")).digest()
        append((seq,) + tuple(indexed) + (text, prev.hex()))
    return out, seq, prev


class Appender:
    """The commits of one SQLite audit log (lighthouse.audit.sqlite.SQLiteBackend.append),
    on a connection of its own to the file ``path``, which the backend has created
    (schema, WAL mode). ``durable``: synchronous=FULL (each commit fsynced), else NORMAL.
    ``lookups``: the file has the bulk-written lookup tables (lighthouse.audit.sqlite),
    filled by the append that takes the log ``index_every`` records past
    ``indexed_seq``. ``busy_timeout``: seconds a commit waits for another process's
    transaction.

    :meth:`append` is one transaction (``BEGIN IMMEDIATE``): the chain's head read in it,
    the rows chained (:func:`chain_rows`) and inserted, the lookup tables filled when
    due, ``COMMIT``; on any error it is rolled back and the error raised (sqlite3's
    exceptions). The compiled twin does the same through SQLite's C API with the text,
    hash and row of each record never made as Python objects, and fills the lookup tables
    with the same entries from those it kept of the records it committed, when they are
    every record since the last fill (no other writer appended meanwhile, no commit of it
    was rolled back, each looked-up value is text and each time an integer of 64 bits):
    the fill from the table reads every record back, a third of its cost. It counts those
    fills in ``kept_fills``; this one always fills from the table (``kept_fills`` stays 0).

    ``appending`` is true while an append runs: another thread's append or close meanwhile
    raises sqlite3.ProgrammingError instead of using the connection at the same time."""

    def __init__(self, path, durable=False, lookups=True, index_every=None, busy_timeout=10.0):
        from .sqlite import _FILL, _INSERT, INDEX_EVERY
        self.path = path
        self.appending = False
        self.kept_fills = 0
        self.lookups = lookups
        self.index_every = INDEX_EVERY if index_every is None else index_every
        if self.index_every < 1:
            raise ValueError("index_every must be at least 1, got %d" % self.index_every)
        self._insert, self._fill = _INSERT, _FILL
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
        self.db.execute("PRAGMA synchronous=%s" % ("FULL" if durable else "NORMAL"))

    def head(self):
        """(seq, raw hash) of the chain's last record, read in the current transaction:
        the last row, or for an empty table the metadata's ``first_seq`` - 1 and
        ``genesis`` (which a rotation moves on)."""
        row = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            meta = dict(self.db.execute("SELECT key, value FROM audit_meta WHERE key IN ('first_seq', 'genesis')"))
            return int(meta["first_seq"]) - 1, bytes.fromhex(meta["genesis"])
        return row[0], bytes.fromhex(row[1])

    def append(self, rows):
        """Chain ``rows`` (RowMaker's (INDEXED values, tail) pairs) after the log's head and
        commit them; returns (last seq, its hex hash)."""
        db = self.db
        if db is None:
            raise ValueError("the appender is closed")
        if self.appending:
            raise sqlite3.ProgrammingError("the appender is appending in another thread")
        self.appending = True
        try:
            return self._append(db, rows)
        finally:
            self.appending = False

    def _append(self, db, rows):
        db.execute("BEGIN IMMEDIATE")
        try:
            seq, prev = self.head()
            out, seq, prev = chain_rows(rows, seq, prev)
            db.executemany(self._insert, out)
            if self.lookups:
                row = db.execute("SELECT value FROM audit_meta WHERE key = 'indexed_seq'").fetchone()
                indexed = int(row[0]) if row is not None else 0
                if seq - indexed >= self.index_every:
                    for fill in self._fill:
                        db.execute(fill, (indexed,))
                    db.execute("INSERT INTO audit_meta VALUES ('indexed_seq', ?) ON CONFLICT (key) DO UPDATE "
                               "SET value = excluded.value", (str(seq),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return seq, prev.hex()

    def close(self):
        """Close the connection (an open transaction is rolled back)."""
        if self.appending:
            raise sqlite3.ProgrammingError("the appender is appending in another thread")
        db, self.db = self.db, None
        if db is not None:
            db.close()
