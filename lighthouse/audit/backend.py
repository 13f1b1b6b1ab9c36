"""The interface every audit log store implements (:class:`AuditBackend`), and the
query filter they share (:class:`Query`).

A backend stores records (lighthouse.audit.record) in one hash chain. It is used from
one thread at a time: the server's writer thread, or a command of ``lighthouse audit``.
Several processes (the workers of ``lighthouse serve --workers N``, or two servers given
the same log) may append to one store: :meth:`AuditBackend.append` reads the chain's
head and appends after it inside one transaction holding the store's write lock, so the
chain stays one line whoever writes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LighthouseError

__all__ = ["AuditBackend", "Query", "AuditError", "where_sql", "is_dsn"]


class AuditError(LighthouseError, OSError):
    """The audit log cannot be opened or used; the message names it and says why."""


@dataclass
class Query:
    """Which records to read. Empty fields match everything; times are Unix nanoseconds
    (``since`` inclusive, ``until`` exclusive); ``after_seq`` skips records up to that
    sequence number; ``limit`` 0 means no limit; ``newest_first`` orders by descending
    time, then sequence number (the limit then keeps the newest)."""

    agent_id: str = ""
    session_id: str = ""
    tool: str = ""
    verdict: str = ""
    tier: str = ""
    rule_id: str = ""
    request_id: str = ""
    since: int | None = None
    until: int | None = None
    after_seq: int = 0
    limit: int = 0
    newest_first: bool = False


def is_dsn(location):
    """Whether ``location`` names a PostgreSQL database (a ``postgresql://`` or
    ``postgres://`` URL) rather than an SQLite file."""
    return location.startswith(("postgresql://", "postgres://"))


#: The query fields that are equality filters on a column of the same name.
EQUALS = ("agent_id", "session_id", "tool", "verdict", "tier", "rule_id", "request_id")


def where_sql(query, mark, prefix="", skip=(), extra=()):
    """The ``WHERE`` clause ("" for none) and its arguments for ``query`` (None: every
    record), with ``mark`` as the placeholder (``?`` for SQLite, ``%s`` for psycopg).
    ``prefix``: the columns' table alias with its dot; ``skip``: query fields left out;
    ``extra``: (clause, its arguments) pairs added first (the clause with its own
    placeholders)."""
    clauses, args = [], []
    for clause, values in extra:
        clauses.append(clause)
        args.extend(values)
    if query is not None:
        for field in EQUALS:
            value = getattr(query, field)
            if value and field not in skip:
                clauses.append("%s%s = %s" % (prefix, field, mark))
                args.append(value)
        for value, test in ((query.since, "time_ns >= "), (query.until, "time_ns < "),
                            (query.after_seq or None, "seq > ")):
            if value is not None:
                clauses.append(prefix + test + mark)
                args.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args



def stats_sql(execute, where, args):
    """The figures of ``audit stats`` for the records ``where`` selects, through
    ``execute(sql, args)`` (a DB-API connection's, SQLite's or psycopg's)."""
    first, last, n, t0, t1 = execute("SELECT min(seq), max(seq), count(*), min(time_ns), max(time_ns) "
                                     "FROM audit" + where, args).fetchone()
    out = {"records": n, "first_seq": first, "last_seq": last, "first_time_ns": t0, "last_time_ns": t1}
    for field in ("verdict", "tier", "tool", "agent_id"):   # columns of the table
        out["by_" + field] = dict(execute("SELECT %s, count(*) FROM audit%s GROUP BY %s ORDER BY 2 DESC "
                                          "LIMIT 20" % (field, where, field), args).fetchall())
    return out


class AuditBackend:
    """A store of audit records. Records are dicts keyed by lighthouse.audit.record.FIELDS."""

    #: Human-readable location (a path or a DSN without password), for messages.
    location = ""

    def append(self, rows):
        """Append rows of lighthouse.audit.record.make_row, in order, after the chain's
        head, in one transaction, and commit it. Returns (last seq, last hash)."""
        raise NotImplementedError

    def meta(self):
        """The log's metadata: ``format``, ``genesis`` (the hash before its first record)
        and ``first_seq``."""
        raise NotImplementedError

    def head(self):
        """(seq, hash) of the last record, (first_seq - 1, genesis) when there is none."""
        raise NotImplementedError

    def chain(self, batch=1000):
        """Every record by ascending seq as stored, for verify: (seq, the INDEXED
        columns as a tuple, the canonical text, the hash)."""
        raise NotImplementedError

    def records(self, query=None, batch=1000):
        """The records matching ``query`` (all, by ascending seq, without one), as dicts."""
        raise NotImplementedError

    def count(self, query=None):
        raise NotImplementedError

    def stats(self):
        """Counts by verdict, tier and agent, first and last seq and time."""
        raise NotImplementedError

    def index_problem(self):
        """(the first seq concerned, what is wrong) when the store's lookup tables do
        not match its records (a query by agent or session would miss some), else None;
        lighthouse.audit.verify reports it."""
        return None

    def close(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
