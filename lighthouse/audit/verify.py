"""``lighthouse audit verify``: walk the hash chain and report the first broken link.

From the log's genesis, each record must carry the next sequence number and the hash of
its canonical encoding after the previous record's hash (lighthouse.audit.record). A
record changed in place, deleted, inserted or moved breaks the chain at or right after
its place; the walk stops at the first break and names it.

Records of source ``spool-gap`` (decisions the hook made locally while no server
answered, and that its spool could not keep: lighthouse.audit.spool) are listed as
``gaps``: the chain is whole, the history it tells is not.

The store's lookup tables (the SQLite store's bulk-written agent and session lookups)
must hold one matching entry per record they cover: an entry deleted or changed, which
would hide a record from queries by agent or session, is reported with the record's seq.

What a chain cannot show on its own: records cut off at the end (the log then verifies,
shorter). ``verify`` reports the last sequence number and hash, which an operator can
compare with a copy kept elsewhere (the server logs them at shutdown).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .record import INDEXED, parse

_sha256 = hashlib.sha256

__all__ = ["VerifyResult", "verify"]


@dataclass
class VerifyResult:
    ok: bool
    records: int            # records checked and found whole (before the break, if any)
    last_seq: int           # the last good record's seq (first_seq - 1 when none)
    last_hash: str
    broken_seq: int | None = None   # the seq where the chain breaks
    problem: str = ""
    gaps: list = field(default_factory=list)    # (seq, reason) of records saying decisions were lost

    def as_dict(self):
        return {"ok": self.ok, "records": self.records, "last_seq": self.last_seq, "last_hash": self.last_hash,
                "broken_seq": self.broken_seq, "problem": self.problem,
                "gaps": [{"seq": s, "reason": r} for s, r in self.gaps]}


def verify(backend):
    """Walk every record of ``backend`` in seq order; a :class:`VerifyResult`."""
    meta = backend.meta()
    expected = meta["first_seq"]
    prev = meta["genesis"]
    n = 0
    gaps = []
    for seq, columns, text, stored_hash in backend.chain():
        if seq != expected:
            if seq > expected:
                problem = ("records %d to %d are missing (deleted) before record %d" % (expected, seq - 1, seq)
                           if seq > expected + 1 else "record %d is missing (deleted) before record %d"
                           % (expected, seq))
            else:
                problem = "record %d comes after record %d" % (seq, expected - 1)
            return VerifyResult(False, n, expected - 1, prev, seq, problem)
        problem = _check(seq, columns, text, prev, stored_hash)
        if problem:
            return VerifyResult(False, n, expected - 1, prev, seq, problem, gaps)
        if _GAP_MARK in text:
            rec = parse(text)
            if rec["source"] == "spool-gap":
                gaps.append((seq, rec["reason"]))
        prev = stored_hash
        expected += 1
        n += 1
    problem = backend.index_problem()
    if problem is not None:
        return VerifyResult(False, n, expected - 1, prev, problem[0], problem[1], gaps)
    return VerifyResult(True, n, expected - 1, prev, gaps=gaps)


_GAP_MARK = ',"spool-gap",'


def _check(seq, columns, text, prev, stored_hash):
    """What is wrong with one stored record, or ""."""
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return "record %d is not canonical text (it holds non-ASCII characters): it was changed" % seq
    if _sha256(bytes.fromhex(prev) + data).hexdigest() != stored_hash:
        return ("record %d does not match its hash: it was changed, or a record before it was moved or replaced"
                % seq)
    try:
        rec = parse(text)
    except ValueError:
        return "record %d: its hashed text is not a record" % seq
    if rec["seq"] != seq:
        return "record %d holds the hashed text of record %d: records were moved" % (seq, rec["seq"])
    for name, value in zip(INDEXED, columns):
        if rec[name] != value:
            return "record %d: column %s is %r, the hashed record says %r: it was changed" % (
                seq, name, value, rec[name])
    return ""
