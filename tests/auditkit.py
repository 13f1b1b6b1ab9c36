"""The audit log's stores as the tests see them: :class:`Store` opens an SQLite file or
a PostgreSQL database (a fresh one of the session's cluster, tests/pgkit.py) through
the same interface, and changes its tables behind the store's back (to tamper with the
chain). The ``store`` fixture (tests/conftest.py) is parametrized over both."""

from __future__ import annotations

import sqlite3

from lighthouse.audit import open_backend


class Store:
    """One audit log: ``kind`` ("sqlite" or "postgresql"), ``location`` (a path or a
    DSN), ``args`` (the command-line options naming it)."""

    def __init__(self, kind, location):
        self.kind = kind
        self.location = location
        self.args = ["--audit-db" if kind == "sqlite" else "--audit-dsn", location]

    def open(self, **kw):
        return open_backend(self.location, **kw)

    def sql(self, statement, params=()):
        """Run one statement on the tables directly (``?`` placeholders); the rows it
        returned (a SELECT) or the count of rows it changed."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.location) as con:
                cur = con.execute(statement, params)
                return cur.fetchall() if cur.description else cur.rowcount
        import psycopg
        with psycopg.connect(self.location, autocommit=True) as con:
            cur = con.execute(statement.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else cur.rowcount

    def columns(self):
        """The audit table's columns but seq."""
        if self.kind == "sqlite":
            names = [r[1] for r in self.sql("PRAGMA table_info(audit)")]
        else:
            names = [r[0] for r in self.sql("SELECT column_name FROM information_schema.columns WHERE "
                                            "table_name = 'audit' ORDER BY ordinal_position")]
        return [n for n in names if n != "seq"]
