"""Learned patterns: expert answers generalised by call shape, kept in SQLite.

A :class:`PatternBook` holds what experts taught about call shapes
(lighthouse.patterns.shapes). A pattern is keyed by the escalation's context (a miss, or
the ask of rule R: a pattern learned for misses never answers a call a rule asks about)
and the call's shape, and carries one verdict, allow or ask.

Learning (:meth:`PatternBook.learn`, called by the expert tier with each expert's
answer):

- the first answer about a shape opens its record: a *pending* pattern with that answer's
  verdict (allow or ask), or a retired one for a deny (a deny teaches nothing); each
  answer with ``scope`` "shape" and the same verdict counts as one agreeing answer;
- a pattern becomes *active* after ``threshold`` agreeing answers (default 2; a person
  at the console: ``person_threshold``, default 1) and no disagreement;
- any answer for a call of that shape with another verdict than the record's (a deny,
  or a call-only answer that differs), before or after activation, *retires* it: the
  shape does not generalise.
  A retired pattern stays retired (it records the answers that retired it) until a
  person approves it again (``lighthouse patterns approve``).
- the file holds at most ``max_patterns`` patterns: a new shape takes the place of the
  oldest pending one (least recently taught; counted in ``pruned``); active and retired
  patterns are never pruned (a retired one remembers that its shape does not
  generalise), so when they fill the file an answer about a new shape is not recorded
  (counted in ``refused``): fewer patterns, never a wrong one.

Literals (ExpertAnswer.exact): an answer may name words of the call that must match
exactly for it to hold (``staging`` in ``./deploy.sh staging``). The pattern it teaches
is then keyed by the shape with those words kept literal (``./deploy.sh staging``), and
records them (``literals``) and the shape without them (``generic``,
``./deploy.sh <word>``). A lookup finds it by the call's generic shape, then checks the
call's shape with the pattern's words kept literal: ``./deploy.sh prod`` does not match.
Such a pattern comes before a pattern of the generic shape. An answer about a call
disagrees with, and retires, both the record of its own shape and the records whose
literals the call has (an answer with literals: its generic shape's record; an answer
without: the literal patterns of its generic shape that match the call). A shape has at
most :data:`MAX_LITERAL_PATTERNS` patterns with words that are not retired (each costs
one more shape at lookup); an answer that would open one more is not recorded (counted
in ``refused``).

Lookup (:meth:`PatternBook.match`, :meth:`PatternBook.match_text`) answers only from
active patterns, from an in-memory index keyed by (context, tool, shape text): no SQLite,
no digest on the lookup path. The SQLite file is the record: who taught each pattern and when, with example
calls, and changes made by another process (``lighthouse patterns retire`` while a
server runs, the other workers of ``--workers N``) are picked up within
``refresh_interval`` seconds (SQLite's ``PRAGMA data_version``). ``on_retire``, when
set, is called (from whichever thread made the change) each time an active pattern stops
answering (retired here, or found retired or gone in the file): the server clears its
slow-tier cache then, since the pattern tier's answers are cached like the other slow
tiers'.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from time import monotonic

from .. import _fast
from .._fast._shape_shared import MEMO_SIZE
from .shapes import Shape, display

__all__ = ["PatternBook", "Pattern", "PatternError", "STATES", "FORGOTTEN_REASONS", "MAX_PATTERNS",
           "default_patterns_path", "context_of",
           "MAX_EXAMPLES", "MAX_LITERAL_PATTERNS", "LEARNED_VERDICTS", "merge_snapshots", "families"]

log = logging.getLogger("lighthouse.patterns")

STATES = ("pending", "active", "retired")
#: Why a pattern was forgotten (the ``lighthouse_pattern_forgotten_total`` counter's
#: label): ``pruned``, a pending pattern removed to make room past ``max_patterns``;
#: ``disagreement``, retired by an answer that disagreed with it; ``review``, retired by
#: a person (``lighthouse patterns retire``, the Admin RPC); ``file``, an active pattern
#: found retired or removed in the file by another process.
FORGOTTEN_REASONS = ("pruned", "disagreement", "review", "file")
MAX_PATTERNS = 10000        # patterns a file holds by default (PatternBook's max_patterns)
LEARNED_VERDICTS = ("allow", "ask")
MAX_EXAMPLES = 8            # example calls kept per pattern
MAX_TEACHERS = 32           # names kept in a pattern's taught_by
MAX_EXAMPLE_CHARS = 2048    # characters of an example call kept
MAX_LITERAL_PATTERNS = 32   # patterns with exact words per shape (each costs a shape at lookup)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patterns (
    id INTEGER PRIMARY KEY,
    key BLOB NOT NULL UNIQUE,
    context TEXT NOT NULL,
    tool TEXT NOT NULL,
    shape TEXT NOT NULL,
    verdict TEXT NOT NULL,
    state TEXT NOT NULL,
    agreeing INTEGER NOT NULL DEFAULT 0,
    taught_by TEXT NOT NULL DEFAULT '',
    first_reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    activated_at REAL,
    retired_at REAL,
    note TEXT NOT NULL DEFAULT '',
    hits INTEGER NOT NULL DEFAULT 0,
    literals TEXT NOT NULL DEFAULT '',
    generic TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY,
    pattern_id INTEGER NOT NULL REFERENCES patterns(id),
    at REAL NOT NULL,
    expert TEXT NOT NULL,
    verdict TEXT NOT NULL,
    scope TEXT NOT NULL,
    reason TEXT NOT NULL,
    call TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS examples_pattern ON examples(pattern_id);
"""


class PatternError(Exception):
    """A pattern that does not exist, or an operation that does not apply to it."""


def default_patterns_path(audit_db=None):
    """Beside the audit log when there is one (``DIR/patterns.db``), else
    ``$XDG_DATA_HOME/lighthouse/patterns.db`` (``~/.local/share/lighthouse/patterns.db``)."""
    if audit_db:
        return os.path.join(os.path.dirname(os.path.abspath(audit_db)), "patterns.db")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "lighthouse", "patterns.db")


def context_of(why, rule_id=""):
    """The context a pattern is learned and answered in: "miss", or "ask:RULE"."""
    return "miss" if why == "miss" else "ask:%s" % rule_id


class Pattern:
    """One pattern as the book holds it (a row of the ``patterns`` table)."""

    __slots__ = ("id", "key", "context", "tool", "shape", "verdict", "state", "agreeing", "taught_by",
                 "first_reason", "created_at", "updated_at", "activated_at", "retired_at", "note", "hits",
                 "literals", "generic", "words")

    def __init__(self, row):
        for name, value in zip(self.__slots__, row):
            setattr(self, name, value)
        #: The words kept literal (an expert's ExpertAnswer.exact), as a frozenset.
        self.words = frozenset(json.loads(self.literals)) if self.literals else frozenset()

    def as_dict(self):
        d = {name: getattr(self, name) for name in self.__slots__ if name not in ("key", "words")}
        d["key"] = self.key.hex()
        d["taught_by"] = [t for t in self.taught_by.split(",") if t]
        d["literals"] = sorted(self.words)
        return d

    def text(self):
        """The shape as people read it (``pytest <ws-path> -k <word>``, ``Write <ws-path>/*.py``)."""
        return display(self.tool, self.shape)


_COLUMNS = ", ".join(Pattern.__slots__[:-1])


class PatternBook:
    """The learned patterns of one SQLite file (``path``; ":memory:" for tests).
    ``threshold``: agreeing answers that activate a pattern; ``person_threshold``: the
    same for answers of a person (the console). ``max_patterns``: patterns the file holds
    at most (see the module docstring). ``clock``: wall-clock seconds (the records'
    times). Thread-safe; the writes are small and happen on escalations only."""

    def __init__(self, path, *, threshold=2, person_threshold=1, refresh_interval=1.0, clock=time.time,
                 max_patterns=MAX_PATTERNS, memo_size=MEMO_SIZE, index=None):
        if threshold < 1 or person_threshold < 1:
            raise ValueError("pattern thresholds must be >= 1")
        if max_patterns < 1:
            raise ValueError("max_patterns must be >= 1")
        self.max_patterns = int(max_patterns)
        self.path = path
        self.threshold = int(threshold)
        self.person_threshold = int(person_threshold)
        self.refresh_interval = float(refresh_interval)
        self.clock = clock
        self._lock = threading.RLock()
        if path != ":memory:":
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=10.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 10000")
        if path != ":memory:":
            for _ in range(50):
                try:
                    self._db.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.05)
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(patterns)").fetchall()}
            for column in ("literals", "generic"):
                if column not in have:      # a file of an earlier version
                    self._db.execute("ALTER TABLE patterns ADD COLUMN %s TEXT NOT NULL DEFAULT ''" % column)
        self._active = {}           # (context, tool, shape text) -> active Pattern
        self._literal = {}          # (context, tool, generic shape text) -> (active Pattern with literals, ...)
        #: The pattern tier's memory of its answers by call (lighthouse._fast's
        #: PatternIndex: compiled when built; ``index`` picks another implementation's
        #: class), told of every change of the active patterns. It holds the lookup
        #: counters.
        self.index = (index or _fast.shape.PatternIndex)(memo_size)
        self._version = None
        self._checked = 0.0
        self.learned = 0            # answers recorded
        self.activations = 0
        self.retirements = 0
        self.dropped = 0            # answers not learned (the learning thread's queue was full)
        self.pruned = 0             # pending patterns removed to make room for a new shape
        self.refused = 0            # answers about a new shape not recorded: no pending pattern to prune
        #: Patterns that stopped being kept or answering, by reason (FORGOTTEN_REASONS).
        self.forgotten = dict.fromkeys(FORGOTTEN_REASONS, 0)
        # Calls answered per pattern id since the last flush_hits() (note_hit), under _hits_lock:
        # the file's hits column is written in batches, never once per hit.
        self._hits = {}
        self._hits_lock = threading.Lock()
        self._counts = dict.fromkeys(STATES, 0)
        self.on_retire = None       # called with the ids of active patterns that stop answering (module docstring)
        self._load()

    @property
    def hits(self):
        """Lookups an active pattern answered (from the index's memory or not)."""
        return self.index.hits

    @property
    def misses(self):
        """Lookups of a shaped call that no active pattern answered."""
        return self.index.misses

    @property
    def unshaped(self):
        """Lookups of a call without a shape."""
        return self.index.unshaped

    @property
    def skipped(self):
        """Lookups no active pattern could answer, found without shaping the call (no
        pattern of its tool in its context, or none led by its program)."""
        return self.index.skipped

    # ------------------------------------------------------------------ lookup

    def _load(self):
        with self._lock:
            rows = self._db.execute("SELECT %s FROM patterns WHERE state = 'active'" % _COLUMNS).fetchall()
            active = {}
            literal = {}
            for r in rows:
                p = Pattern(r)
                p.key = bytes(p.key)
                if p.words:
                    k = (p.context, p.tool, p.generic)
                    literal[k] = literal.get(k, ()) + (p,)
                else:
                    active[(p.context, p.tool, p.shape)] = p
            before = self._answering()
            self._active, self._literal = active, literal
            self.index.tables(active, literal)
            self.index.changed()
            gone = before - self._answering()
            if gone:
                # Active here, not (or not with that verdict) in the file: changed by another process.
                self.forgotten["file"] += len({pid for pid, _ in gone})
                self._stopped_answering({pid for pid, _ in gone})
            self._version = self._db.execute("PRAGMA data_version").fetchone()[0]
            self._checked_at(time.monotonic())

    def _checked_at(self, now):
        self._checked = now
        self.index.due = now + self.refresh_interval if self.refresh_interval >= 0 else float("inf")

    def refresh(self, force=False):
        """Reload the active patterns if another connection changed the file (at most
        once per ``refresh_interval`` unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_interval:
            return
        # Never wait for the learning thread (it may be waiting for the file's lock):
        # the next lookup checks again.
        if not self._lock.acquire(blocking=force):
            return
        try:
            self._checked_at(now)
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if force or version != self._version:
                self._load()
        finally:
            self._lock.release()

    def match(self, context, shape):
        """The active Pattern for ``shape`` (a Shape, or None for a call without one) in
        ``context``, or None. Counts hits, misses and unshaped calls."""
        if shape is None:
            self.index.unshaped += 1
            return None
        return self.match_text(context, shape.tool, shape.text)

    def match_text(self, context, tool, text, reshape=None):
        """:meth:`match` by the shape's tool and text (None: the call has no shape): the
        pattern tier's lookup, a dictionary lookup in memory (and, once per
        ``refresh_interval``, a check of the file for another process's changes).
        ``reshape(words)``: the call's shape text with ``words`` kept literal, for the
        patterns with literals of this shape (see the module docstring); None: those are
        not looked at."""
        if text is None:
            self.index.unshaped += 1
            return None
        if self.refresh_interval >= 0 and monotonic() - self._checked >= self.refresh_interval:
            self.refresh()
        if reshape is not None:
            group = self._literal.get((context, tool, text))
            if group:
                shaped = {}
                for p in group:         # at most MAX_LITERAL_PATTERNS, each word set shaped once
                    s = shaped.get(p.words)
                    if s is None:
                        s = shaped[p.words] = reshape(p.words)
                    if s == p.shape:
                        self.index.hits += 1
                        return p
        p = self._active.get((context, tool, text))
        if p is None:
            self.index.misses += 1
            return None
        self.index.hits += 1
        return p

    def counts(self, wait=True):
        """{state: number of patterns}. With ``wait`` False (metrics), the last counts
        when the learning thread holds the file."""
        if not self._lock.acquire(blocking=wait):
            return dict(self._counts)
        try:
            rows = self._db.execute("SELECT state, COUNT(*) FROM patterns GROUP BY state").fetchall()
        finally:
            self._lock.release()
        out = dict.fromkeys(STATES, 0)
        out.update(rows)
        self._counts = out
        return out

    def snapshot(self):
        """The counters, and the patterns by state (read from the file), for metrics."""
        return {"hits": self.hits, "misses": self.misses, "unshaped": self.unshaped,
                "skipped": self.index.skipped, "remembered": self.index.remembered, "learned": self.learned,
                "activations": self.activations, "retirements": self.retirements, "dropped": self.dropped,
                "pruned": self.pruned, "refused": self.refused, "forgotten": dict(self.forgotten),
                "states": self.counts(wait=False)}

    # ------------------------------------------------------------------ learning

    def learn(self, context, shape, call, expert, verdict, scope, reason="", person=False, *, literals=(),
              generic=None, reshape=None):
        """Record one expert answer about a call of ``shape`` (None: the call has no
        shape, nothing is learned). Returns the Pattern record it created or changed, or
        None. The first answer about a shape opens its record (pending; retired if it is
        a deny); answers of scope "shape" that agree count towards activation; any answer
        with another verdict than the record's retires it.

        ``literals``: the words kept literal in ``shape`` (an expert's exact words, each
        one changing the shape), with ``generic`` the shape's text without them.
        ``reshape(words)``: the call's shape text with ``words`` kept literal, so that an
        answer without literals retires the disagreeing literal patterns the call
        matches. See the module docstring."""
        if shape is None or verdict not in ("allow", "ask", "deny") or scope not in ("call", "shape"):
            return None
        literals = sorted(set(literals))
        if literals and (generic is None or generic == shape.text):
            raise ValueError("a shape with literals needs its generic text")
        key = _key(context, shape)
        now = self.clock()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                others = self._disagreeing(context, shape, verdict, literals, generic, reshape)
                for o in others:
                    self._retire(o, now, "%s answered %s for a call of this shape (%s)" % (
                        expert, verdict, "with exact words" if literals else "without exact words"), "disagreement")
                row = db.execute("SELECT %s FROM patterns WHERE key = ?" % _COLUMNS, (key,)).fetchone()
                p = Pattern(row) if row is not None else None
                if p is None and literals and db.execute(
                        "SELECT COUNT(*) FROM patterns WHERE context = ? AND tool = ? AND generic = ? "
                        "AND literals != '' AND state != 'retired'", (context, shape.tool, generic)
                ).fetchone()[0] >= MAX_LITERAL_PATTERNS:
                    self.refused += 1   # bounded lookups: no more patterns with words for this shape
                    db.execute("COMMIT")
                    return None
                if p is None and not self._make_room():
                    self.refused += 1
                    db.execute("COMMIT")
                    return None
                if p is None:
                    # The first answer about a shape opens its record, whatever its scope:
                    # a later answer that disagrees with any earlier one retires the shape.
                    # A deny teaches nothing: the shape is retired from the start.
                    learned = verdict in LEARNED_VERDICTS
                    cur = db.execute(
                        "INSERT INTO patterns (key, context, tool, shape, verdict, state, agreeing, taught_by, "
                        "first_reason, created_at, updated_at, retired_at, note, literals, generic) "
                        "VALUES (?, ?, ?, ?, ?, ?, 0, '', '', ?, ?, ?, ?, ?, ?)",
                        (key, context, shape.tool, shape.text, verdict, "pending" if learned else "retired",
                         now, now, None if learned else now,
                         "" if learned else ("%s answered %s for a call of this shape" % (expert, verdict))[:1024],
                         json.dumps(literals) if literals else "", generic if literals else ""))
                    p = Pattern(db.execute("SELECT %s FROM patterns WHERE id = ?" % _COLUMNS,
                                           (cur.lastrowid,)).fetchone())
                    if not learned:
                        self.retirements += 1
                self._example(p.id, now, expert, verdict, scope, reason, call)
                self.learned += 1
                if p.state == "retired":
                    db.execute("UPDATE patterns SET updated_at = ? WHERE id = ?", (now, p.id))
                elif verdict != p.verdict:
                    self._retire(p, now, "%s answered %s (%s) for a call of this shape" % (
                        expert, verdict, "this call only" if scope == "call" else "its shape"), "disagreement")
                elif scope == "shape":
                    teachers = [t for t in p.taught_by.split(",") if t]
                    if expert not in teachers and len(teachers) < MAX_TEACHERS:
                        teachers.append(expert)
                    agreeing = p.agreeing + 1
                    state = p.state
                    need = self.person_threshold if person else self.threshold
                    activated = p.activated_at
                    if state == "pending" and agreeing >= min(need, self.threshold):
                        state, activated = "active", now
                        self.activations += 1
                    first = p.first_reason or reason[:1024]
                    db.execute("UPDATE patterns SET agreeing = ?, taught_by = ?, state = ?, activated_at = ?, "
                               "first_reason = ?, updated_at = ? WHERE id = ?",
                               (agreeing, ",".join(teachers)[:4096], state, activated, first, now, p.id))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for o in others:
                self._index(self._get(o.id))
            p = self._get(p.id)
            self._index(p)
            return p

    def _disagreeing(self, context, shape, verdict, literals, generic, reshape):
        """Within learn()'s transaction: the other records (not retired) that an answer
        about a call of ``shape`` disagrees with (see the module docstring)."""
        db = self._db
        if literals:
            row = db.execute("SELECT %s FROM patterns WHERE key = ? AND state != 'retired'" % _COLUMNS,
                             (_key(context, Shape(shape.tool, generic)),)).fetchone()
            rows = [row] if row is not None else []
        elif reshape is not None:
            rows = db.execute("SELECT %s FROM patterns WHERE context = ? AND tool = ? AND generic = ? "
                              "AND literals != '' AND state != 'retired' LIMIT 1000" % _COLUMNS,
                              (context, shape.tool, shape.text)).fetchall()
        else:
            return []
        out = []
        for r in rows:
            o = Pattern(r)
            if o.verdict != verdict and (literals or reshape(o.words) == o.shape):
                out.append(o)
        return out

    def _make_room(self):
        """Within learn()'s transaction: whether a new pattern may be inserted, pruning the
        oldest pending patterns past ``max_patterns - 1``."""
        db = self._db
        over = db.execute("SELECT COUNT(*) FROM patterns").fetchone()[0] - self.max_patterns + 1
        if over <= 0:
            return True
        ids = [r[0] for r in db.execute("SELECT id FROM patterns WHERE state = 'pending' "
                                        "ORDER BY updated_at, id LIMIT ?", (over,)).fetchall()]
        if len(ids) < over:
            return False
        marks = ",".join("?" * len(ids))
        db.execute("DELETE FROM examples WHERE pattern_id IN (%s)" % marks, ids)
        db.execute("DELETE FROM patterns WHERE id IN (%s)" % marks, ids)
        self.pruned += len(ids)
        self.forgotten["pruned"] += len(ids)
        return True

    def _example(self, pid, now, expert, verdict, scope, reason, call):
        db = self._db
        n = db.execute("SELECT COUNT(*) FROM examples WHERE pattern_id = ?", (pid,)).fetchone()[0]
        if n >= MAX_EXAMPLES:
            # Keep the first examples (what taught it) and the latest (what changed it).
            db.execute("DELETE FROM examples WHERE id = (SELECT id FROM examples WHERE pattern_id = ? "
                       "ORDER BY id DESC LIMIT 1)", (pid,))
        text = json.dumps(call, ensure_ascii=False, default=str)
        if len(text) > MAX_EXAMPLE_CHARS:
            text = json.dumps({"cut": text[:MAX_EXAMPLE_CHARS]}, ensure_ascii=False)
        db.execute("INSERT INTO examples (pattern_id, at, expert, verdict, scope, reason, call) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (pid, now, expert[:256], verdict, scope, reason[:1024], text))

    def _retire(self, p, now, note, reason):
        self._db.execute("UPDATE patterns SET state = 'retired', retired_at = ?, updated_at = ?, note = ? "
                         "WHERE id = ?", (now, now, note[:1024], p.id))
        self.retirements += 1
        if p.state != "retired":
            self.forgotten[reason] += 1

    def _answering(self):
        """(id, verdict) of every active pattern in the index."""
        out = {(p.id, p.verdict) for p in self._active.values()}
        for group in self._literal.values():
            out.update((p.id, p.verdict) for p in group)
        return out

    def _index(self, p):
        """Put record ``p``'s state in the in-memory index, then tell the PatternIndex
        (so that no answer remembered before the change is given again) and
        ``on_retire`` (with the ids of the patterns that stopped answering)."""
        gone = set()
        if p.words:
            # A pattern with literals is found by its generic shape (see match_text).
            g = (p.context, p.tool, p.generic)
            group = self._literal.get(g, ())
            kept = tuple(o for o in group if o.id != p.id)
            gone.update(o.id for o in group if o.id == p.id and (p.state != "active" or o.verdict != p.verdict))
            if p.state == "active":
                if not group:
                    self.index.literal(p.context, p.tool, p.generic, True)
                self._literal[g] = kept + (p,)
            elif kept:
                self._literal[g] = kept
            elif self._literal.pop(g, None) is not None:
                self.index.literal(p.context, p.tool, p.generic, False)
        else:
            k = (p.context, p.tool, p.shape)
            old = self._active.get(k)
            if p.state == "active":
                self._active[k] = p
                self.index.put(p.context, p.tool, p.shape, p)
                if old is not None and (old.id != p.id or old.verdict != p.verdict):
                    gone.add(old.id)
            elif old is not None:
                del self._active[k]
                self.index.put(p.context, p.tool, p.shape, None)
                gone.add(old.id)
        self.index.changed()
        if gone:
            self._stopped_answering(gone)

    def _stopped_answering(self, ids):
        callback = self.on_retire
        if callback is not None:
            try:
                callback(frozenset(ids))
            except Exception:
                log.exception("on_retire callback failed")

    # ------------------------------------------------------------------ hits

    def note_hit(self, p):
        """Count one call answered by pattern ``p`` (the pattern tier's answer): in
        memory, written to the file's ``hits`` column by :meth:`flush_hits` in batches."""
        with self._hits_lock:
            self._hits[p.id] = self._hits.get(p.id, 0) + 1

    def flush_hits(self):
        """Add the hits counted since the last flush to the patterns' ``hits`` column,
        in one transaction (the pattern tier's watch calls it every second or so, off the
        event loop, and at close). Returns the number of patterns written."""
        with self._hits_lock:
            hits, self._hits = self._hits, {}
        if not hits:
            return 0
        try:
            with self._lock:
                db = self._db
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany("UPDATE patterns SET hits = hits + ? WHERE id = ?",
                                   [(n, pid) for pid, n in hits.items()])
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
        except Exception:
            # Kept for the next flush (the file busy past its timeout, say).
            with self._hits_lock:
                for pid, n in hits.items():
                    self._hits[pid] = self._hits.get(pid, 0) + n
            raise
        return len(hits)

    def _with_hits(self, p):
        # The file's count and those not written yet.
        with self._hits_lock:
            p.hits += self._hits.get(p.id, 0)
        return p

    # ------------------------------------------------------------------ review

    def _get(self, pid):
        with self._lock:
            row = self._db.execute("SELECT %s FROM patterns WHERE id = ?" % _COLUMNS, (pid,)).fetchone()
        if row is None:
            raise PatternError("no pattern #%s" % pid)
        p = Pattern(row)
        p.key = bytes(p.key)
        return p

    def get(self, pid):
        """The Pattern with id ``pid`` (its ``hits`` with those not written yet); raises PatternError."""
        return self._with_hits(self._get(int(pid)))

    def patterns(self, state=None, limit=1000):
        """Patterns (newest first), of one state when given."""
        if state is not None and state not in STATES:
            raise PatternError("state must be one of %s, not %r" % (", ".join(STATES), state))
        q = "SELECT %s FROM patterns" % _COLUMNS
        args = ()
        if state is not None:
            q += " WHERE state = ?"
            args = (state,)
        q += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(q, args + (int(limit),)).fetchall()
        return [self._with_hits(Pattern(r)) for r in rows]

    def examples(self, pid):
        """The example answers of pattern ``pid``, oldest first, as dicts."""
        with self._lock:
            rows = self._db.execute("SELECT at, expert, verdict, scope, reason, call FROM examples "
                                    "WHERE pattern_id = ? ORDER BY id", (int(pid),)).fetchall()
        return [{"at": at, "expert": e, "verdict": v, "scope": s, "reason": r, "call": json.loads(c)}
                for at, e, v, s, r, c in rows]

    def approve(self, pid, who="console"):
        """Make pattern ``pid`` active (a person vouches for it), whatever its state."""
        p = self._get(int(pid))
        now = self.clock()
        with self._lock:
            self._db.execute("UPDATE patterns SET state = 'active', activated_at = ?, updated_at = ?, "
                             "note = ? WHERE id = ?", (now, now, ("approved by %s" % who)[:1024], p.id))
            p = self._get(p.id)
            self._index(p)
        return self._with_hits(self._get(p.id))

    def retire(self, pid, note="retired by a person"):
        """Retire pattern ``pid``: it answers no call any more."""
        p = self._get(int(pid))
        with self._lock:
            self._retire(p, self.clock(), note, "review")
            p = self._get(p.id)
            self._index(p)
        return self._with_hits(self._get(p.id))

    def close(self):
        """Write the hits not written yet, and close the file."""
        try:
            self.flush_hits()
        except Exception:
            log.exception("writing the patterns' hits failed")
        with self._lock:
            self._db.close()


def _key(context, shape: Shape):
    return context.encode("utf-8", "surrogatepass") + b"\0" + shape.key


def merge_snapshots(snaps):
    """Add up the workers' snapshots; the patterns by state are the file's (the same for
    every worker), so the first one's are kept."""
    snaps = [s for s in snaps if s]
    if not snaps:
        return None
    out = dict(snaps[0])
    for s in snaps[1:]:
        for k in ("hits", "misses", "unshaped", "skipped", "remembered", "learned", "activations", "retirements",
                  "dropped", "pruned", "refused"):
            out[k] = out.get(k, 0) + s.get(k, 0)
        forgotten = dict(out.get("forgotten") or {})
        for reason, n in (s.get("forgotten") or {}).items():
            forgotten[reason] = forgotten.get(reason, 0) + n
        out["forgotten"] = forgotten
    return out


def families(snap):
    """Prometheus metric families of a patterns snapshot."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    lookups = CounterMetricFamily("lighthouse_pattern_lookups", "Would-be expert calls looked up in the learned "
                                  "patterns, by result (hit, miss, unshaped: the call has no shape, skipped: no "
                                  "active pattern of the call's tool or program, not shaped)",
                                  labels=["result"])
    for result, key in (("hit", "hits"), ("miss", "misses"), ("unshaped", "unshaped"), ("skipped", "skipped")):
        lookups.add_metric([result], snap.get(key, 0))
    yield lookups
    yield CounterMetricFamily("lighthouse_pattern_lookups_remembered", "Pattern lookups answered from the tier's "
                              "memory of the calls it answered before (no shape made)",
                              value=snap.get("remembered", 0))
    yield CounterMetricFamily("lighthouse_pattern_answers_learned", "Expert answers recorded against a pattern",
                              value=snap["learned"])
    yield CounterMetricFamily("lighthouse_pattern_answers_dropped", "Expert answers not learned: too many were "
                              "waiting for the learning thread", value=snap["dropped"])
    yield CounterMetricFamily("lighthouse_pattern_pruned", "Pending patterns removed to make room for a new shape "
                              "(the file holds --patterns-max patterns)", value=snap.get("pruned", 0))
    yield CounterMetricFamily("lighthouse_pattern_answers_refused", "Answers about a new shape not recorded: the "
                              "patterns file is full of active and retired patterns, or the shape has as many "
                              "patterns with exact words as it may", value=snap.get("refused", 0))
    forgotten = CounterMetricFamily("lighthouse_pattern_forgotten", "Patterns forgotten, by reason: pruned (a "
                                    "pending pattern removed past --patterns-max), disagreement (retired by a "
                                    "disagreeing answer), review (retired by a person), file (an active pattern "
                                    "found retired or removed in the file by another process)", labels=["reason"])
    counts = snap.get("forgotten") or {}
    for reason in FORGOTTEN_REASONS:
        forgotten.add_metric([reason], counts.get(reason, 0))
    yield forgotten
    yield CounterMetricFamily("lighthouse_pattern_activations", "Patterns made active by agreeing answers",
                              value=snap["activations"])
    yield CounterMetricFamily("lighthouse_pattern_retirements", "Patterns retired by a disagreeing answer or a "
                              "person", value=snap["retirements"])
    states = GaugeMetricFamily("lighthouse_patterns", "Learned patterns by state", labels=["state"])
    for state, n in snap["states"].items():
        states.add_metric([state], n)
    yield states
