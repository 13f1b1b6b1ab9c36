"""The audit log: every decision the server returns, recorded durably in one hash chain.

- :mod:`lighthouse.audit.record`: the record's fields and the canonical encoding the
  chain hashes;
- :mod:`lighthouse.audit.backend`: the interface of a store, and the query filter;
- :mod:`lighthouse.audit.sqlite`: the SQLite store (WAL, group commit), the default;
- :mod:`lighthouse.audit.postgres`: the PostgreSQL store (``--audit-dsn``);
- :mod:`lighthouse.audit.rotate`: rotation and retention of an SQLite log, verify across
  its files;
- :mod:`lighthouse.audit.spool`: the hook's spool of decisions it made locally;
- :mod:`lighthouse.audit.writer`: the server's bounded queue and writer thread;
- :mod:`lighthouse.audit.verify`: walking the chain;
- :mod:`lighthouse.audit.cli`: ``lighthouse audit tail|query|export|verify|stats|rotate``.
"""

from .backend import AuditBackend, AuditError, Query, is_dsn
from .record import FIELDS, GENESIS, canonical, chain_hash
from .sqlite import SQLiteBackend, default_audit_path
from .verify import VerifyResult, verify

__all__ = ["AuditBackend", "AuditError", "Query", "FIELDS", "GENESIS", "canonical", "chain_hash",
           "SQLiteBackend", "default_audit_path", "VerifyResult", "verify", "AuditLog", "Committing",
           "open_backend", "is_dsn"]


def __getattr__(name):
    # The server's side (it imports grpc) is loaded on first use, so that the writer
    # process (lighthouse.audit.process) and the audit commands do without it.
    if name in ("AuditLog", "Committing"):
        from . import writer
        return getattr(writer, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def open_backend(location, **kw):
    """The store at ``location``: a PostgreSQL database for a ``postgresql://`` URL
    (lighthouse.audit.postgres, which imports psycopg), else an SQLite file. ``kw``:
    ``create``, ``durable``, ``readonly``."""
    if is_dsn(location):
        from .postgres import PostgresBackend
        return PostgresBackend(location, **kw)
    return SQLiteBackend(location, **kw)
