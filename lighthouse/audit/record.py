"""The audit record: its fields, how the server's hot path hands one over, and the
canonical encoding that the hash chain covers.

A record (one per decision the server returns, cache hits included) has these fields, in
this order, which is also the order of the canonical encoding and of ``audit export``:

===================  =====  ===============================================================
seq                  int    position in the chain, from 1, no gaps
time_ns              int    Unix time of the call's arrival, nanoseconds
worker               int    the server process that decided it (0 without ``--workers``)
source               str    ``grpc`` (unary, stream, batch) or ``local`` (the local socket)
request_id           str    the call's request_id ("" when it had none)
agent_id             str    the agent the call was decided for (its token's, with tokens)
session_id           str
tool                 str
input                str    the tool input as JSON text, its first ``max_input`` bytes
                            (cut at a character boundary)
input_bytes          int    the length of the whole input text in UTF-8 bytes
input_sha256         str    SHA-256 (hex) of the whole input text in UTF-8
cwd                  str
verdict              str    allow, ask or deny: what the call was answered
tier                 str    cache, rules, policy, expert or fallback
rule_id              str    who decided: the rule id, the policy path or the expert ids
escalation_id        str    the escalation the call was filed under ("" when none)
trail                str    the escalation trail as JSON text ("" when none)
reason               str
policy_generation    int
decision_ns          int    time spent deciding inside the server
hash                 str    SHA-256 (hex) chaining the record to the previous one
===================  =====  ===============================================================

The input is the ``input_json`` text a gRPC call carried, byte for byte; for the local
socket, whose calls carry the input as a JSON object, the object re-encoded compactly
(``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``).

Text that is not valid Unicode (lone surrogates, which JSON escapes can carry) and the
NUL character (which PostgreSQL's text cannot hold) are stored with ``?`` in their
place, in every field; the hash covers the stored text (``input_sha256`` the input as
it came).

**Canonical encoding and chain.** A record's canonical encoding is the JSON array
``["lighthouse.audit.v1", seq, time_ns, worker, ..., decision_ns]`` of every field above
but ``hash``, in order, written by Python's ``json.dumps(array, ensure_ascii=True,
separators=(",", ":"))``: ASCII only, no whitespace, integers in decimal, strings with
``\\"``, ``\\\\``, ``\\n``, ``\\r``, ``\\t``, ``\\b``, ``\\f`` escaped and every other
character below U+0020 or above U+007E as ``\\uXXXX`` (lowercase hex; characters above
U+FFFF as a surrogate pair). Then

    hash(n) = SHA-256(raw hash(n-1) || canonical(n))

with raw hash(0), the chain's *genesis*, 32 zero bytes for a new log (kept in the log's
metadata, so that a log continuing another one can start from its last hash). ``seq``
is inside the hashed bytes, so a record moved to another place breaks the chain as much
as a changed or deleted one (:mod:`lighthouse.audit.verify`).
"""

from __future__ import annotations

import hashlib
import json

from ..vocab import TIER_NAMES, VERDICT_NAMES

__all__ = ["FIELDS", "FORMAT", "GENESIS", "INDEXED", "canonical", "chain_hash", "make_row", "RowMaker", "seal",
           "parse", "clean_text", "DEFAULT_MAX_INPUT"]

FORMAT = "lighthouse.audit.v1"
GENESIS = "0" * 64
DEFAULT_MAX_INPUT = 4096    # bytes of the tool input kept in a record

FIELDS = ("seq", "time_ns", "worker", "source", "request_id", "agent_id", "session_id", "tool", "input",
          "input_bytes", "input_sha256", "cwd", "verdict", "tier", "rule_id", "escalation_id", "trail",
          "reason", "policy_generation", "decision_ns", "hash")
#: The fields written before the chain is known: all but seq and hash.
BODY_FIELDS = FIELDS[1:-1]

_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
# An escalation trail comes from the slower tiers: anything JSON cannot encode is written as its repr.
_encode_trail = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=repr).encode
_local_input = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# One JSON string, exactly as _encode writes it inside an array (the same C function).
_quote = json.encoder.encode_basestring_ascii
_sha256 = hashlib.sha256


def canonical(record):
    """The canonical encoding (bytes) of a record given as a mapping of its fields."""
    return _encode([FORMAT] + [record[f] for f in FIELDS[:-1]]).encode("ascii")


def chain_hash(prev_hash, canonical_bytes):
    """The hex hash of a record whose canonical encoding is ``canonical_bytes``, after a
    record whose hash is ``prev_hash`` (hex)."""
    return _sha256(bytes.fromhex(prev_hash) + canonical_bytes).hexdigest()


def clean_text(s):
    """``s`` as every store can keep it: lone surrogates and NUL replaced by ``?``
    (PostgreSQL's text holds no NUL; an agent's tool name or session id could carry one)."""
    if "\0" in s:
        s = s.replace("\0", "?")
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


#: The record's columns a store keeps beside the hashed text, to filter on; each must
#: equal the same field of the hashed text (lighthouse.audit.verify checks it).
INDEXED = ("time_ns", "agent_id", "session_id", "tool", "verdict", "tier", "rule_id", "request_id")
_INDEXED_AT = tuple(BODY_FIELDS.index(f) for f in INDEXED)


def encode_tail(values):
    """The canonical encoding of BODY_FIELDS ``values`` after ``[FORMAT,seq,`` (text)."""
    return _encode(values)[1:]


def seal(seq, tail):
    """The canonical text of a record from its seq and :func:`encode_tail`."""
    return '["%s",%d,%s' % (FORMAT, seq, tail)


def parse(text):
    """The fields (a dict, without hash) of a record from its canonical text; ValueError
    when the text is not a record of this format."""
    values = json.loads(text)
    if type(values) is not list or len(values) != len(FIELDS) or values[0] != FORMAT:
        raise ValueError("not a %s record" % FORMAT)
    return dict(zip(FIELDS[:-1], values[1:]))


def make_row(entry, worker, wall_offset_ns, max_input=DEFAULT_MAX_INPUT):
    """A record before it joins the chain, from one entry the server's decision path
    handed over: (the INDEXED values, :func:`encode_tail` of every field but seq and hash).

    ``entry`` is the tuple ``(t0, source, request_id, agent_id, session_id, tool, input,
    cwd, outcome, decision_ns, escalation_id, trail)``: ``t0`` the call's arrival
    (``time.perf_counter_ns()``, turned into Unix time with ``wall_offset_ns``), ``input``
    the input_json text (the local socket's input object is encoded by the server first),
    ``input`` may also be a tuple ``(kept text, whole length, whole SHA-256)`` for an
    input capped and hashed before (the hook's spool, lighthouse.audit.spool);
    ``outcome`` a tuple of the Decision's ``verdict`` and ``tier`` enum values, ``reason``,
    ``rule_id`` and ``generation`` (the first five fields of
    lighthouse.server.wire.Outcome), ``trail`` a sequence of the escalation's steps (or
    its JSON text), or ()."""
    t0, source, rid, agent, session, tool, tool_input, cwd, outcome, ns, escalation_id, trail = entry
    if tool_input.__class__ is tuple:
        kept, n_full, sha = tool_input
        kept = kept.encode("utf-8", "surrogatepass")[:max_input].decode("utf-8", "ignore")
    else:
        if tool_input.__class__ is not str:
            tool_input = _local_input(tool_input)
        full = tool_input.encode("utf-8", "surrogatepass")
        kept = full[:max_input].decode("utf-8", "ignore") if len(full) > max_input else tool_input
        n_full, sha = len(full), _sha256(full).hexdigest()
    verdict, tier, reason, rule_id, generation = outcome[:5]
    clean = clean_text
    values = [t0 + wall_offset_ns, worker, source, clean(rid), clean(agent), clean(session), clean(tool),
              clean(kept), n_full, sha, clean(cwd), VERDICT_NAMES[verdict],
              TIER_NAMES[tier], clean(rule_id), clean(escalation_id),
              (clean(trail) if trail.__class__ is str else _encode_trail(list(trail))) if trail else "",
              clean(reason), generation, ns]
    return tuple([values[i] for i in _INDEXED_AT]), _encode(values)[1:]


MEMO_ENTRIES = 4096     # a RowMaker's table is emptied (after a batch) past this many entries
MEMO_CHARS = 512        # values longer than this are encoded each time, not kept


def text_encoding(s):
    """(``s`` as stored, its JSON encoding): what a RowMaker keeps for an agent, session,
    tool or cwd."""
    c = clean_text(s)
    return c, _quote(c)


def input_encoding(tool_input, max_input):
    """The JSON of the fields ``input,input_bytes,input_sha256`` for an input_json text."""
    full = tool_input.encode("utf-8", "surrogatepass")
    kept = full[:max_input].decode("utf-8", "ignore") if len(full) > max_input else tool_input
    return "%s,%d,\"%s\"" % (_quote(clean_text(kept)), len(full), _sha256(full).hexdigest())


def outcome_encoding(outcome):
    """(verdict, tier, rule_id, the JSON of verdict, tier, rule_id, escalation_id, trail,
    reason, policy_generation with an empty escalation_id and trail) for an outcome tuple,
    or None for one make_row alone encodes (a generation, verdict or tier that is not an
    int)."""
    verdict, tier, reason, rule_id, generation = outcome
    if generation.__class__ is not int or verdict.__class__ is not int or tier.__class__ is not int:
        return None
    v, t, rule, why = VERDICT_NAMES[verdict], TIER_NAMES[tier], clean_text(rule_id), clean_text(reason)
    return v, t, rule, '%s,%s,%s,"","",%s,%d' % (_quote(v), _quote(t), _quote(rule), _quote(why), generation)


def kept_outcome(outcome):
    """Whether a RowMaker keeps the encoding of ``outcome`` (its texts are short)."""
    return len(outcome[2]) + len(outcome[3]) <= MEMO_CHARS


class RowMaker:
    """:func:`make_row` for the writer process's stream of entries, the same rows at a
    fraction of the cost: the encodings of the values that repeat from call to call (the
    agent, session, tool, cwd and source; an outcome without an escalation; a short tool
    input with its length and hash) are kept between batches, so that a record costs one
    string format, the request id's encoding and a few dictionary lookups.
    tests/test_audit.py checks it against :func:`make_row` on random entries.

    The pure-Python reference of lighthouse.audit._chain_c.RowMaker (the same rows with
    the record's text written in C, about a third of the cost), which
    lighthouse.audit._chain picks when it is built; both keep their encodings with the
    functions above.

    The kept encodings are bounded: values longer than :data:`MEMO_CHARS` characters are
    encoded each time, and each table is emptied when it holds :data:`MEMO_ENTRIES`."""

    MEMO_ENTRIES = MEMO_ENTRIES
    MEMO_CHARS = MEMO_CHARS

    def __init__(self, worker, max_input=DEFAULT_MAX_INPUT):
        self.worker = worker
        self.max_input = max_input
        self._text = {}         # str -> text_encoding
        self._input = {}        # input text -> input_encoding
        self._outcome = {}      # outcome tuple -> outcome_encoding
        self._source = {}       # source -> its JSON encoding

    def rows(self, entries, wall_offset_ns):
        """The rows of :func:`make_row` for ``entries``, in order."""
        text_memo, text = self._text, self._text_miss
        input_memo = self._input
        outcome_memo = self._outcome
        source_memo = self._source
        worker = self.worker
        slow = make_row
        max_input = self.max_input
        out = []
        append = out.append
        for entry in entries:
            t0, source, rid, agent, session, tool, tool_input, cwd, outcome, ns, escalation_id, trail = entry
            if t0.__class__ is not int or ns.__class__ is not int or tool_input.__class__ is not str \
                    or escalation_id or trail or outcome.__class__ is not tuple or len(outcome) != 5 \
                    or outcome[4].__class__ is not int:     # (True or 1.0 would find 1's encoding)
                append(slow(entry, worker, wall_offset_ns, max_input))
                continue
            src = source_memo.get(source)
            if src is None:
                src = source_memo[source] = _quote(source)     # (not cleaned: the server's own word)
            ag = text_memo.get(agent) or text(agent)
            se = text_memo.get(session) or text(session)
            to = text_memo.get(tool) or text(tool)
            cw = text_memo.get(cwd) or text(cwd)
            inp = input_memo.get(tool_input) or self._input_miss(tool_input)
            oc = outcome_memo.get(outcome) or self._outcome_miss(outcome)
            if oc is None:
                append(slow(entry, worker, wall_offset_ns, max_input))
                continue
            if rid.isascii() and "\0" not in rid:
                q = _quote(rid)
            else:
                rid = clean_text(rid)
                q = _quote(rid)
            t = t0 + wall_offset_ns
            append(((t, ag[0], se[0], to[0], oc[0], oc[1], oc[2], rid),
                    '%d,%d,%s,%s,%s,%s,%s,%s,%s,%s,%d]' % (t, worker, src, q, ag[1], se[1], to[1], inp, cw[1], oc[3],
                                                        ns)))
        for memo in (text_memo, input_memo, outcome_memo, source_memo):
            if len(memo) > MEMO_ENTRIES:
                memo.clear()
        return out

    def kept(self):
        """The count of encodings kept (at most 4 x (MEMO_ENTRIES + one batch))."""
        return len(self._text) + len(self._input) + len(self._outcome) + len(self._source)

    def _text_miss(self, s):
        r = text_encoding(s)
        if len(s) <= MEMO_CHARS:
            self._text[s] = r
        return r

    def _input_miss(self, tool_input):
        r = input_encoding(tool_input, self.max_input)
        if len(tool_input) <= MEMO_CHARS:
            self._input[tool_input] = r
        return r

    def _outcome_miss(self, outcome):
        r = outcome_encoding(outcome)
        if r is not None and kept_outcome(outcome):
            self._outcome[outcome] = r
        return r
