"""Rotation and retention of an SQLite audit log, keeping the chain verifiable across files.

**Rotation** moves the records of the live file (``audit.db``) into an *archive* beside
it, named by the first and last sequence number it holds:
``audit.000000000001-000000052341.db`` (twelve digits, so that names sort in chain
order). The live file keeps its path (the writers keep their connections); its metadata
then says where its chain goes on: ``first_seq`` the next record's seq and ``genesis``
the archive's last hash, so that its first new record is chained to the archive's last
one. Each archive's metadata keeps the ``first_seq`` and ``genesis`` it started from.
The steps, each safe to interrupt:

1. under an exclusive ``flock`` of ``audit.db.rotate-lock`` (one rotation at a time; a
   second one skips), the records up to the current head, which are never changed once
   written, are copied into ``ARCHIVE.tmp`` (journal mode DELETE: one file), which is
   fsynced and renamed to its name;
2. in one write transaction of the live file, those records are deleted and the
   metadata moved on. A rotation interrupted between the two leaves records in both
   files: the next rotation finishes it (the archive's last hash must equal the live
   record's), and ``verify`` reports it meanwhile.

Pages freed in the live file are reused by new records (the file does not shrink).

**Retention** deletes whole archives, oldest first, while the set (the archives' files
and the pages in use in the live file, whose file and write-ahead log keep the size they
reached) is bigger than ``max_bytes``, and every archive whose newest record is older than
``max_age``; the live file is never deleted. Before deleting, it records in the live
file's metadata where the retained chain starts (``retained_seq``, ``retained_hash``:
the deleted archive's next seq and last hash), so that ``verify`` tells a file removed
by retention from a file missing in the middle (a gap) or at the start beyond what
retention removed.

``lighthouse serve --audit-max-bytes N --audit-max-age AGE`` has the writer process
rotate the live file once its records take more than an eighth of ``N`` bytes (looked
at after every commit) or its oldest record is older than an eighth of ``AGE`` (looked
at every :data:`CHECK_INTERVAL` seconds), then apply the retention: the set stays
under about ``N`` (the live file keeps the size it reached: its free pages are reused)
and the records kept span at least seven eighths of ``AGE``. The rotation runs in the
writer process between two commits: meanwhile records wait in the server's bounded
queue. ``lighthouse audit rotate`` does the same at once.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field

from .backend import AuditError
from .sqlite import _FILL, LOOKUPS, SQLiteBackend
from .verify import verify

__all__ = ["archives", "rotate", "apply_retention", "verify_files", "FilesResult", "Rotator", "CHECK_INTERVAL",
           "archive_name", "used_bytes"]

CHECK_INTERVAL = 5.0        # seconds between a writer's looks at its oldest record's age
_COPY_BATCH = 10_000


def _split(path):
    directory, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    return directory, stem, ext


def archive_name(path, first, last):
    """The archive of records ``first`` to ``last`` of the live file ``path``."""
    directory, stem, ext = _split(path)
    return os.path.join(directory, "%s.%012d-%012d%s" % (stem, first, last, ext))


def archives(path):
    """The archives of the live file ``path``, oldest first: (first seq, last seq, path)."""
    directory, stem, ext = _split(path)
    pattern = re.compile(r"^%s\.(\d{12,})-(\d{12,})%s$" % (re.escape(stem), re.escape(ext)))
    found = []
    for p in glob.glob(os.path.join(glob.escape(directory), glob.escape(stem) + ".*" + glob.escape(ext))):
        m = pattern.match(os.path.basename(p))
        if m:
            found.append((int(m.group(1)), int(m.group(2)), p))
    return sorted(found)


def _set_meta(db, key, value):
    db.execute("INSERT INTO audit_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               (key, str(value)))


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Lock:
    """The exclusive, non-blocking flock of ``PATH.rotate-lock``; ``held`` says whether
    this process got it."""

    def __init__(self, path):
        self.path = path + ".rotate-lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except BlockingIOError:
            self.held = False
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def rotate(path):
    """Move every record of the live SQLite file ``path`` into a new archive (see the
    module's text); the archive's path, or None when the file holds no record or another
    rotation is running. AuditError when the file is not an audit log."""
    path = os.path.abspath(path)
    with _Lock(path) as lock:
        if not lock.held:
            return None
        with SQLiteBackend(path, create=False) as live:
            _finish_interrupted(path, live)
            first = live.meta()["first_seq"]
            genesis = live.meta()["genesis"]
            last, last_hash = live.head()
            if last < first:
                return None
            final = archive_name(path, first, last)
            tmp = final + ".tmp"
            if os.path.exists(tmp):
                os.unlink(tmp)
            _copy(live, tmp, first, last, genesis)
            os.rename(tmp, final)
            _fsync_dir(os.path.dirname(final))
            _cut(live, first, last, last_hash)
        return final


def _copy(live, tmp, first, last, genesis):
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    arc = sqlite3.connect(tmp, isolation_level=None)
    try:
        arc.execute("PRAGMA journal_mode=DELETE")
        arc.execute("PRAGMA synchronous=FULL")
        schema = [r[0] for r in live.db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND "
                                                "name NOT LIKE 'sqlite_%'")]
        columns = [r[1] for r in live.db.execute("PRAGMA table_info(audit)")]
        arc.execute("BEGIN")
        for statement in schema:
            arc.execute(statement)
        for key, value in live.db.execute("SELECT key, value FROM audit_meta"):
            arc.execute("INSERT INTO audit_meta VALUES (?, ?)", (key, value))
        _set_meta(arc, "first_seq", first)
        _set_meta(arc, "genesis", genesis)
        arc.execute("DELETE FROM audit_meta WHERE key IN ('retained_seq', 'retained_hash')")
        insert = "INSERT INTO audit (%s) VALUES (%s)" % (", ".join(columns), ", ".join("?" * len(columns)))
        cur = live.db.execute("SELECT %s FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq" % ", ".join(columns),
                              (first, last))
        n = 0
        while True:
            chunk = cur.fetchmany(_COPY_BATCH)
            if not chunk:
                break
            arc.executemany(insert, chunk)
            n += len(chunk)
        if n != last - first + 1:
            raise AuditError("audit log %s: records %d to %d are not all there (%d found): not rotated"
                             % (live.path, first, last, n))
        if live._lookups:           # the archive's lookup tables cover all of it
            for fill in _FILL:
                arc.execute(fill, (first - 1,))
            _set_meta(arc, "indexed_seq", last)
        arc.execute("COMMIT")
    except BaseException:
        arc.close()
        os.unlink(tmp)
        raise
    arc.close()


def _cut(live, first, last, last_hash):
    """Delete records first..last from the live file and move its chain's start on."""
    db = live.db
    db.execute("BEGIN IMMEDIATE")
    try:
        meta = dict(db.execute("SELECT key, value FROM audit_meta"))
        row = db.execute("SELECT hash FROM audit WHERE seq = ?", (last,)).fetchone()
        if int(meta.get("first_seq", "1")) != first or row is None or row[0] != last_hash:
            raise AuditError("audit log %s changed during its rotation: not cut" % live.path)
        db.execute("DELETE FROM audit WHERE seq <= ?", (last,))
        if live._lookups:
            for table, _ in LOOKUPS:
                db.execute("DELETE FROM %s WHERE seq <= ?" % table, (last,))
            if int(meta.get("indexed_seq", "0")) < last:
                _set_meta(db, "indexed_seq", last)
        _set_meta(db, "first_seq", last + 1)
        _set_meta(db, "genesis", last_hash)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    live._meta = live._read_meta()


def _finish_interrupted(path, live):
    """An archive holding records the live file still has (a rotation stopped between its
    copy and its cut): cut them from the live file, once the archive's last hash is the
    live file's record's."""
    first = live.meta()["first_seq"]
    for a_first, a_last, a_path in archives(path):
        if a_first == first and a_last >= first:
            row = live.db.execute("SELECT hash FROM audit WHERE seq = ?", (a_last,)).fetchone()
            with SQLiteBackend(a_path, readonly=True) as arc:
                if row is not None and arc.head() == (a_last, row[0]):
                    _cut(live, first, a_last, row[0])
            return


def apply_retention(path, max_bytes=None, max_age_ns=None, now_ns=None):
    """Delete the oldest archives of ``path`` while the set is bigger than ``max_bytes``,
    and those whose newest record is older than ``max_age_ns``; the paths deleted."""
    path = os.path.abspath(path)
    now_ns = time.time_ns() if now_ns is None else now_ns
    found = archives(path)
    sizes = {p: os.path.getsize(p) for _, _, p in found}
    with SQLiteBackend(path, readonly=True) as live:
        total = sum(sizes.values()) + used_bytes(live.db)
    deleted = []
    for i, (_, last, a_path) in enumerate(found):
        too_big = max_bytes is not None and total > max_bytes
        too_old = False
        if max_age_ns is not None and not too_big:
            with SQLiteBackend(a_path, readonly=True) as arc:
                newest = arc.db.execute("SELECT max(time_ns) FROM audit").fetchone()[0]
            too_old = newest is not None and newest < now_ns - max_age_ns
        if not (too_big or too_old):
            break
        with SQLiteBackend(a_path, readonly=True) as arc:
            last_hash = arc.head()[1]
        with SQLiteBackend(path, create=False) as live:
            live.db.execute("BEGIN IMMEDIATE")
            _set_meta(live.db, "retained_seq", last + 1)
            _set_meta(live.db, "retained_hash", last_hash)
            live.db.execute("COMMIT")
        os.unlink(a_path)
        total -= sizes[a_path]
        deleted.append(a_path)
    return deleted


def used_bytes(db):
    """Bytes of the SQLite database ``db`` holds in pages in use (the file does not shrink
    when records are deleted; its free pages are reused)."""
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * db.execute("PRAGMA page_size").fetchone()[0]


class Rotator:
    """The writer process's side: after each commit, rotate and apply the retention when
    the live file's records take more than an eighth of ``max_bytes`` (read from the
    file's header: a few microseconds), or, looked at every CHECK_INTERVAL seconds, its
    oldest record is older than an eighth of ``max_age_ns``."""

    def __init__(self, path, max_bytes=None, max_age_ns=None):
        self.path = os.path.abspath(path)
        self.max_bytes = max_bytes
        self.max_age_ns = max_age_ns
        self._next = 0.0

    def due(self, backend):
        if self.max_bytes is not None and used_bytes(backend.db) > self.max_bytes // 8:
            return True
        if self.max_age_ns is not None and time.monotonic() >= self._next:
            self._next = time.monotonic() + CHECK_INTERVAL
            oldest = backend.db.execute("SELECT min(time_ns) FROM audit").fetchone()[0]
            if oldest is not None and oldest < time.time_ns() - self.max_age_ns // 8:
                return True
        return False

    def run(self):
        archive = rotate(self.path)
        deleted = apply_retention(self.path, self.max_bytes, self.max_age_ns)
        return archive, deleted


@dataclass
class FilesResult:
    """``verify`` over an archive set: ``files`` (path, VerifyResult) in chain order."""
    ok: bool
    records: int
    first_seq: int              # where the retained chain starts
    start_hash: str             # the hash it is chained to
    last_seq: int
    last_hash: str
    files: list = field(default_factory=list)
    problem: str = ""
    retained: bool = False      # earlier records were removed by retention

    def as_dict(self):
        return {"ok": self.ok, "records": self.records, "first_seq": self.first_seq, "start_hash": self.start_hash,
                "last_seq": self.last_seq, "last_hash": self.last_hash, "problem": self.problem,
                "retained": self.retained, "files": [dict(r.as_dict(), path=p) for p, r in self.files]}


def verify_files(path):
    """Verify the archives of the live file ``path`` and the live file, each chain and the
    links between them: a file missing in the middle (a gap), or at the start beyond what
    retention removed, is a break."""
    path = os.path.abspath(path)
    with SQLiteBackend(path, readonly=True) as live:
        live_meta = live.meta()
    paths = [p for _, _, p in archives(path)] + [path]
    files, problem = [], ""
    expected_seq = expected_hash = None
    start = None
    total = 0
    for p in paths:
        with SQLiteBackend(p, readonly=True) as b:
            meta = b.meta()
            r = verify(b)
        files.append((p, r))
        if start is None:
            start = (meta["first_seq"], meta["genesis"])
            retained = live_meta.get("retained_seq")
            if retained is not None and meta["first_seq"] > retained:
                problem = ("records %d to %d are missing: a file was deleted before %s (retention kept the chain "
                           "from record %d)" % (retained, meta["first_seq"] - 1, os.path.basename(p), retained))
        elif meta["first_seq"] > expected_seq:
            problem = ("records %d to %d are missing: a file was deleted between %s and %s"
                       % (expected_seq, meta["first_seq"] - 1, os.path.basename(files[-2][0]), os.path.basename(p)))
        elif meta["first_seq"] < expected_seq:
            problem = ("records %d to %d are in two files (%s and %s): a rotation was interrupted; `lighthouse "
                       "audit rotate` finishes it" % (meta["first_seq"], expected_seq - 1,
                                                      os.path.basename(files[-2][0]), os.path.basename(p)))
        elif meta["genesis"] != expected_hash:
            problem = ("%s does not continue %s: its chain starts from hash %s, the last record before it has %s"
                       % (os.path.basename(p), os.path.basename(files[-2][0]), meta["genesis"], expected_hash))
        if not problem and not r.ok:
            problem = "%s: BROKEN at record %d: %s" % (os.path.basename(p), r.broken_seq, r.problem)
        if problem:
            break
        total += r.records
        expected_seq, expected_hash = r.last_seq + 1, r.last_hash
    last = files[-1][1]
    return FilesResult(not problem, total, start[0], start[1], last.last_seq, last.last_hash, files, problem,
                       retained=start[0] > 1)
