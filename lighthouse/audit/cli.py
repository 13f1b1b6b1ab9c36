"""``lighthouse audit tail|query|export|verify|stats|rotate``: read the audit log (and
rotate an SQLite one: lighthouse.audit.rotate).

Every command takes ``--audit-db PATH`` (default: the path ``lighthouse serve`` writes,
lighthouse.audit.sqlite.default_audit_path) or ``--audit-dsn postgresql://...`` (a
PostgreSQL log, lighthouse.audit.postgres) and opens the log read-only; a server may be
writing it meanwhile (readers never block it).

Filters (``query``, ``export``, ``tail``, ``stats``): ``--agent``, ``--session``,
``--tool``, ``--verdict``, ``--tier``, ``--rule``, ``--request-id``, ``--since`` and
``--until`` (a Unix time in seconds, an ISO 8601 time, UTC unless it says otherwise, or
an age such as ``90s``, ``15m``, ``2h``, ``7d``).
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
import sys
import time

from ..vocab import TIERS, VERDICTS
from .backend import AuditError, Query
from .record import FIELDS

__all__ = ["add_audit_parser", "parse_time", "parse_size", "parse_age", "size_arg", "age_seconds_arg"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BROKEN = 0, 1, 2, 3

_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text, now=None):
    """Unix nanoseconds from ``text``: Unix seconds, ISO 8601 (UTC unless an offset is
    given), or an age back from now (``15m``). ValueError naming what is wrong."""
    text = text.strip()
    now = time.time() if now is None else now
    m = _AGE.match(text)
    if m:
        return int((now - float(m.group(1)) * _UNITS[m.group(2)]) * 1e9)
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("%r is not a time: give Unix seconds, an ISO 8601 time or an age such as 15m, 2h, "
                         "7d" % text) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1e9)


_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)


def parse_size(text):
    """Bytes from ``text``: a count, or with a unit K, M, G, T (powers of 1024);
    ValueError naming what is wrong."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError("%r is not a size: give bytes or a number with K, M, G or T" % text)
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " "))


def parse_age(text):
    """Nanoseconds from an age such as ``90s``, ``15m``, ``2h``, ``7d``; ValueError."""
    m = _AGE.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError("%r is not an age: give a positive number with s, m, h or d (e.g. 90d)" % text)
    return int(float(m.group(1)) * _UNITS[m.group(2)] * 1e9)


def size_arg(text):
    """parse_size for argparse (its error names the option and what is wrong)."""
    import argparse
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def age_seconds_arg(text):
    """parse_age, in seconds, for argparse."""
    import argparse
    try:
        return parse_age(text) / 1e9
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _iso(ns):
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _open(args):
    from . import open_backend
    from .sqlite import default_audit_path
    if args.audit_dsn:
        if args.audit_db:
            raise _Usage("give --audit-db or --audit-dsn, not both")
        if not args.audit_dsn.startswith(("postgresql://", "postgres://")):
            raise _Usage("--audit-dsn must be a postgresql:// URL (postgresql://USER@HOST:PORT/DBNAME)")
        return open_backend(args.audit_dsn, readonly=True)
    return open_backend(os.path.abspath(args.audit_db or default_audit_path()), readonly=True)


def _store_errors():
    """The exceptions a store's driver raises while reading (wrapped as AuditError at open)."""
    import sqlite3
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


def _query(args, **kw):
    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as e:
        raise _Usage(str(e)) from None
    return Query(agent_id=args.agent or "", session_id=args.session or "", tool=args.tool or "",
                 verdict=args.verdict or "", tier=args.tier or "", rule_id=args.rule or "",
                 request_id=args.request_id or "", since=since, until=until, **kw)


class _Usage(Exception):
    pass


_TABLE = (("seq", 8), ("time", 23), ("agent", 14), ("tool", 10), ("verdict", 7), ("tier", 8), ("rule", 24),
          ("input", 0))


def _table_header():
    return "  ".join(name.upper().ljust(width) for name, width in _TABLE).rstrip()


def _table_row(r):
    text = r["input"]
    try:
        obj = json.loads(text)
        if isinstance(obj, dict) and len(obj) == 1:
            text = str(next(iter(obj.values())))
    except ValueError:
        pass
    text = " ".join(text.split())
    cells = (str(r["seq"]), _iso(r["time_ns"]), r["agent_id"] or "-", r["tool"], r["verdict"], r["tier"],
             r["rule_id"] or "-", text[:80] + ("..." if len(text) > 80 else ""))
    return "  ".join(c.ljust(width) if width else c for c, (_, width) in zip(cells, _TABLE)).rstrip()


def _emit(records, fmt, out):
    if fmt == "table":
        out.write(_table_header() + "\n")
        for r in records:
            out.write(_table_row(r) + "\n")
    elif fmt == "json":
        json.dump(list(records), out, ensure_ascii=False, indent=1)
        out.write("\n")
    elif fmt == "jsonl":
        for r in records:
            out.write(json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    else:                                   # csv
        w = csv.writer(out, lineterminator="\n")
        w.writerow(FIELDS)
        for r in records:
            w.writerow([r[f] for f in FIELDS])


class _Files:
    """The archives of an SQLite log and its live file read as one log (``--all-files``):
    ``records(query)`` in the order and within the limit asked, each record once (an
    interrupted rotation leaves records in two files)."""

    def __init__(self, args):
        from . import open_backend
        from .rotate import archives
        from .sqlite import default_audit_path
        if args.audit_dsn:
            raise _Usage("--all-files reads the archives of an SQLite log (--audit-db); a PostgreSQL log is one table")
        path = os.path.abspath(args.audit_db or default_audit_path())
        self.stores = []
        try:
            for p in [p for _, _, p in archives(path)] + [path]:
                self.stores.append(open_backend(p, readonly=True))
        except BaseException:
            self.close()
            raise

    def records(self, query):
        import heapq
        import itertools
        if query.newest_first:
            merged = heapq.merge(*(b.records(query) for b in self.stores), key=lambda r: (r["time_ns"], r["seq"]),
                                 reverse=True)
        else:
            merged = itertools.chain.from_iterable(b.records(query) for b in self.stores)
        return itertools.islice(_once(merged, query.newest_first), query.limit or None)

    def close(self):
        for b in self.stores:
            b.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _once(records, newest_first):
    """``records`` without the second copy of a record two files hold: by seq, the copy
    comes after a record of the same or a later seq; newest first, right after itself."""
    last = None
    for r in records:
        if newest_first:
            key = (r["time_ns"], r["seq"])
            if key == last:
                continue
        else:
            key = r["seq"]
            if last is not None and key <= last:
                continue
        last = key
        yield r


def _open_for_records(args):
    return _Files(args) if getattr(args, "all_files", False) else _open(args)


def cmd_query(args):
    q = _query(args, limit=args.limit, newest_first=not args.oldest_first)
    with _open_for_records(args) as backend:
        records = list(backend.records(q))
    if not args.oldest_first:
        records.reverse()               # the newest N, printed oldest first
    _emit(records, "json" if args.json else "table", sys.stdout)
    return EXIT_OK


def cmd_export(args):
    q = _query(args)
    out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout
    try:
        with _open_for_records(args) as backend:
            _emit(backend.records(q), args.format, out)
    finally:
        if args.out:
            out.close()
    return EXIT_OK


def cmd_tail(args):
    fmt = "jsonl" if args.json else "table"
    with _open(args) as backend:
        q = _query(args, limit=args.lines, newest_first=True)
        records = list(backend.records(q))[::-1]
        if fmt == "table":
            sys.stdout.write(_table_header() + "\n")
        last = records[-1]["seq"] if records else backend.head()[0]
        for r in records:
            sys.stdout.write((_table_row(r) if fmt == "table" else json.dumps(r, ensure_ascii=False)) + "\n")
        sys.stdout.flush()
        if args.no_follow:
            return EXIT_OK
        try:
            while True:
                time.sleep(args.interval)
                q = _query(args, after_seq=last)
                for r in backend.records(q):
                    last = r["seq"]
                    sys.stdout.write((_table_row(r) if fmt == "table" else json.dumps(r, ensure_ascii=False)) + "\n")
                sys.stdout.flush()
        except KeyboardInterrupt:
            return EXIT_OK


def cmd_verify(args):
    from .verify import verify
    if not args.audit_dsn:
        from .rotate import archives
        from .sqlite import default_audit_path
        path = os.path.abspath(args.audit_db or default_audit_path())
        if os.path.exists(path) and archives(path):
            return _verify_files(args, path)
    with _open(args) as backend:
        result = verify(backend)
        location = backend.location
        meta = backend.meta()
    retained = "retained_seq" in meta
    if args.json:
        print(json.dumps(dict(result.as_dict(), path=location, first_seq=meta["first_seq"], start_hash=meta["genesis"],
                              retained=retained)))
    elif result.ok:
        print("%s: the chain verifies: %d records, last record %d, hash %s%s"
              % (location, result.records, result.last_seq, result.last_hash,
                 "; the retained chain starts at record %d, chained to hash %s (earlier records were removed by "
                 "retention)" % (meta["first_seq"], meta["genesis"]) if retained else ""))
    else:
        print("%s: BROKEN at record %d: %s (%d records verify before it, up to record %d)"
              % (location, result.broken_seq, result.problem, result.records, result.last_seq))
    if not args.json:
        _print_gaps(location, result.gaps)
    return EXIT_OK if result.ok else EXIT_BROKEN


def _print_gaps(location, gaps):
    for seq, reason in gaps:
        print("%s: GAP at record %d: %s" % (location, seq, reason))


def _verify_files(args, path):
    from .rotate import verify_files
    result = verify_files(path)
    if args.json:
        print(json.dumps(dict(result.as_dict(), path=path)))
        return EXIT_OK if result.ok else EXIT_BROKEN
    for p, r in result.files:
        if r.ok:
            print("%s: records %d to %d verify" % (p, r.last_seq - r.records + 1, r.last_seq) if r.records
                  else "%s: no record" % p)
        _print_gaps(p, r.gaps)
    start = ("the retained chain starts at record %d, chained to hash %s (earlier records were removed by "
             "retention)" % (result.first_seq, result.start_hash) if result.retained
             else "the chain starts at record %d" % result.first_seq)
    if result.ok:
        print("%s: the chain verifies across %d files: %d records, last record %d, hash %s; %s"
              % (path, len(result.files), result.records, result.last_seq, result.last_hash, start))
        return EXIT_OK
    print("%s: BROKEN: %s (%d records verify before it; %s)" % (path, result.problem, result.records, start))
    return EXIT_BROKEN


def cmd_rotate(args):
    from .rotate import apply_retention, rotate
    from .sqlite import default_audit_path
    try:
        max_bytes = parse_size(args.max_bytes) if args.max_bytes else None
        max_age = parse_age(args.max_age) if args.max_age else None
    except ValueError as e:
        raise _Usage(str(e)) from None
    if args.audit_dsn:
        return _prune(args, max_bytes, max_age)
    path = os.path.abspath(args.audit_db or default_audit_path())
    if not os.path.exists(path):
        raise AuditError("audit log %s: no such file" % path)
    archive = rotate(path)
    print("%s: %s" % (path, "rotated into %s" % archive if archive else "nothing to rotate (no record, or "
                                                                              "another rotation is running)"))
    if max_bytes is not None or max_age is not None:
        for p in apply_retention(path, max_bytes, max_age):
            print("%s: deleted by retention" % p)
    return EXIT_OK


def _prune(args, max_bytes, max_age):
    """``rotate --audit-dsn``: a PostgreSQL log is one table, whose oldest records the
    retention deletes (lighthouse.audit.postgres.PostgresBackend.prune)."""
    from . import open_backend
    if args.audit_db:
        raise _Usage("give --audit-db or --audit-dsn, not both")
    if max_bytes is None and max_age is None:
        raise _Usage("a PostgreSQL log is one table, not rotated: give --max-bytes or --max-age to delete its oldest "
                     "records")
    with open_backend(args.audit_dsn, create=False) as backend:
        done = backend.prune(max_bytes, max_age)
        location = backend.location
        first = backend.meta()["first_seq"]
    print("%s: %s" % (location, "records %d to %d deleted by retention; the chain starts at record %d" % (
        done[0], done[1], first) if done else "nothing to delete"))
    return EXIT_OK


def cmd_stats(args):
    with _open(args) as backend:
        s = backend.stats(_query(args))
        location = backend.location
    if args.json:
        print(json.dumps(dict(s, path=location)))
        return EXIT_OK
    print("%s: %d records" % (location, s["records"]))
    if s["records"]:
        print("  seq %d to %d, %s to %s" % (s["first_seq"], s["last_seq"], _iso(s["first_time_ns"]),
                                            _iso(s["last_time_ns"])))
        for key in ("verdict", "tier", "tool", "agent_id"):
            counts = s["by_" + key]
            print("  by %s: %s" % (key.replace("_id", ""), ", ".join("%s %d" % (k or "-", n)
                                                                     for k, n in counts.items())))
    return EXIT_OK


def _run(fn):
    def run(args):
        try:
            return fn(args)
        except _Usage as e:
            print("lighthouse audit %s: %s" % (args.audit_cmd, e), file=sys.stderr)
            return EXIT_USAGE
        except AuditError as e:
            print("lighthouse audit %s: %s" % (args.audit_cmd, e), file=sys.stderr)
            return EXIT_ERROR
        except _store_errors() as e:
            print("lighthouse audit %s: the audit log: %s" % (args.audit_cmd, " ".join(str(e).split())),
                  file=sys.stderr)
            return EXIT_ERROR
    return run


def add_audit_parser(sub):
    """Add ``audit`` and its commands to the ``lighthouse`` subparsers ``sub``."""
    audit = sub.add_parser("audit", help="read the audit log: tail, query, export, verify, stats; rotate it",
                           description="Read the audit log that `lighthouse serve` writes (every decision it "
                                       "answers, hash-chained): an SQLite file (--audit-db) or a PostgreSQL "
                                       "database (--audit-dsn). Opened read-only, but by `rotate`.")
    asub = audit.add_subparsers(dest="audit_cmd", metavar="ACTION")

    def common(p, filters=True):
        p.add_argument("--audit-db", metavar="PATH",
                       help="the audit log (default $XDG_DATA_HOME/lighthouse/audit.db, else "
                            "~/.local/share/lighthouse/audit.db)")
        p.add_argument("--audit-dsn", metavar="URL",
                       help="a PostgreSQL audit log instead: postgresql://USER@HOST:PORT/DBNAME")
        if filters:
            f = p.add_argument_group("filters")
            f.add_argument("--agent", metavar="ID")
            f.add_argument("--session", metavar="ID")
            f.add_argument("--tool", metavar="NAME")
            f.add_argument("--verdict", choices=VERDICTS)
            f.add_argument("--tier", choices=TIERS)
            f.add_argument("--rule", metavar="ID", help="rule id (or policy path, expert ids) that decided")
            f.add_argument("--request-id", metavar="ID")
            f.add_argument("--since", metavar="TIME", help="Unix seconds, ISO 8601 (UTC by default) or an age: "
                                                           "90s, 15m, 2h, 7d")
            f.add_argument("--until", metavar="TIME", help="as --since; records before it")

    p = asub.add_parser("tail", help="print the last records, then follow new ones")
    common(p)
    p.add_argument("-n", "--lines", type=int, default=10, help="records printed first (default 10)")
    p.add_argument("--no-follow", action="store_true", help="print the last records and exit")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between looks for new records")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_run(cmd_tail))

    p = asub.add_parser("query", help="the records matching the filters (the newest --limit), as a table or JSON")
    common(p)
    p.add_argument("--limit", type=int, default=100, help="at most this many records, the newest (default 100; "
                                                          "0: all)")
    p.add_argument("--oldest-first", action="store_true", help="with --limit, the oldest records instead")
    p.add_argument("--json", action="store_true", help="a JSON array of records (the export's field names)")
    p.add_argument("--all-files", action="store_true", help="read the rotated archives beside the SQLite log too, "
                                                            "as one log")
    p.set_defaults(func=_run(cmd_query))

    p = asub.add_parser("export", help="every matching record: JSON lines (default) or CSV, with the record's "
                                       "field names")
    common(p)
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--all-files", action="store_true", help="read the rotated archives beside the SQLite log too, "
                                                            "as one log, in chain order")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=_run(cmd_export))

    p = asub.add_parser("verify", help="walk the hash chain (across the rotated files of an SQLite log); exit 0 "
                                       "when whole, 3 at the first broken link or missing file")
    common(p, filters=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(cmd_verify))

    p = asub.add_parser("rotate", help="move the SQLite log's records into an archive beside it, chained; then "
                                       "delete the oldest archives past --max-bytes or --max-age (PostgreSQL: "
                                       "delete the oldest records past them)",
                        description="Rotate an SQLite audit log: its records move into AUDIT.FIRST-LAST.db beside "
                                    "it and the live file's chain goes on from the archive's last hash; `audit "
                                    "verify` checks the whole set. A PostgreSQL log (--audit-dsn) is one table: "
                                    "--max-bytes and --max-age delete its oldest records, and `audit verify` "
                                    "walks the chain from the first one kept. Safe while a server writes the log.")
    common(p, filters=False)
    p.add_argument("--max-bytes", metavar="SIZE", help="then delete the oldest archives while all the files take "
                                                      "more than SIZE (e.g. 10G)")
    p.add_argument("--max-age", metavar="AGE", help="then delete the archives whose newest record is older than "
                                                    "AGE (e.g. 90d)")
    p.set_defaults(func=_run(cmd_rotate))

    p = asub.add_parser("stats", help="counts by verdict, tier, tool and agent")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_run(cmd_stats))
    return audit
