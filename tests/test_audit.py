"""The audit log's record, chain, stores, verify and `lighthouse audit` commands, on real
SQLite files and a real PostgreSQL server (the ``store`` fixture runs each shared test on
both; the server's side is tests/test_audit_server.py)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse.audit import FIELDS, GENESIS, Query, SQLiteBackend, canonical, chain_hash, verify
from lighthouse.audit.backend import AuditError
from lighthouse.audit.cli import parse_time
from lighthouse.audit.record import make_row
from lighthouse.cli import main
from lighthouse.server.wire import Outcome
from lighthouse.vocab import TIER_CACHE, TIER_RULES, VERDICT_ALLOW, VERDICT_DENY

from serverkit import ROOT

DENY = Outcome(VERDICT_DENY, TIER_RULES, "Deletes the home directory", "fs.rm-home", 3, "deny")
ALLOW = Outcome(VERDICT_ALLOW, TIER_CACHE, "read-only", "routine.read", 3, "allow")


def entry(i, agent="a1", tool_input=None, outcome=DENY, source="grpc", session="s1", trail=()):
    """A decision as the server's decision path hands it over."""
    if tool_input is None:
        tool_input = json.dumps({"command": "rm -rf ~/%d" % i})
    return (time.perf_counter_ns(), source, "r-%d" % i, agent, session, "Bash", tool_input, "/home/dev/app",
            outcome, 1000 + i, "", trail)


def rows(n, start=0, **kw):
    offset = time.time_ns() - time.perf_counter_ns()
    return [make_row(entry(i, **kw), 0, offset) for i in range(start, start + n)]


def filled(store, n=20, **kw):
    with store.open() as b:
        b.append(rows(n, **kw))
    return store


def broken(store):
    with store.open(readonly=True) as b:
        return verify(b)


# ------------------------------------------------------------------ record

def test_record_fields_and_canonical_encoding(store):
    filled(store, 3)
    with store.open(readonly=True) as b:
        recs = list(b.records())
    assert [r["seq"] for r in recs] == [1, 2, 3]
    r = recs[1]
    assert list(r) == list(FIELDS)
    assert (r["request_id"], r["agent_id"], r["session_id"], r["tool"], r["cwd"]) == \
        ("r-1", "a1", "s1", "Bash", "/home/dev/app")
    assert (r["verdict"], r["tier"], r["rule_id"], r["reason"], r["policy_generation"], r["decision_ns"]) == \
        ("deny", "rules", "fs.rm-home", "Deletes the home directory", 3, 1001)
    assert abs(r["time_ns"] - time.time_ns()) < 60e9
    # The documented encoding, written out by hand, and the chain from the genesis.
    values = [r[f] for f in FIELDS[:-1]]
    text = json.dumps(["lighthouse.audit.v1"] + values, ensure_ascii=True, separators=(",", ":"))
    assert canonical(r) == text.encode("ascii")
    h1 = hashlib.sha256(bytes(32) + canonical(recs[0])).hexdigest()
    assert recs[0]["hash"] == h1
    assert r["hash"] == hashlib.sha256(bytes.fromhex(h1) + canonical(r)).hexdigest() == chain_hash(h1, canonical(r))


def test_input_is_capped_and_hashed_whole():
    big = json.dumps({"content": "é" * 5000})
    _, tail = make_row(entry(0, tool_input=big), 0, 0, max_input=100)
    values = dict(zip(FIELDS[1:-1], json.loads("[" + tail)))
    full = big.encode("utf-8")
    assert values["input_bytes"] == len(full) > 100
    assert values["input_sha256"] == hashlib.sha256(full).hexdigest()
    assert len(values["input"].encode("utf-8")) <= 100 and big.startswith(values["input"])


def test_local_input_object_and_invalid_unicode(store):
    # The local socket hands an object, which may hold lone surrogates (JSON escapes).
    tool_input = {"command": "echo \ud800 x"}
    e = entry(0, tool_input=tool_input, source="local", agent="bad\udfff")
    with store.open() as b:
        b.append([make_row(e, 2, 0)])
        r = next(b.records())
        assert verify(b).ok
    assert r["source"] == "local" and r["worker"] == 2
    assert r["agent_id"] == "bad?"
    assert r["input"] == '{"command":"echo ? x"}'
    assert r["input_sha256"] == hashlib.sha256('{"command":"echo \ud800 x"}'.encode("utf-8", "surrogatepass")).hexdigest()


def test_nul_characters_are_stored_as_question_marks(store):
    # PostgreSQL's text cannot hold NUL: an agent sending one in its tool name, session
    # or input must not make every commit fail (the writer would retry it for ever).
    raw = '{"command":"echo a\\u0000b"}' + "\0"
    e = (time.perf_counter_ns(), "grpc", "r\0", "ag\0ent", "s\0", "Ba\0sh", raw, "/t\0mp", DENY, 5, "", ())
    with store.open() as b:
        b.append([make_row(e, 0, 0), make_row(entry(1), 0, 0)])
        recs = list(b.records())
        assert verify(b).ok and verify(b).records == 2
        assert b.count(Query(agent_id="ag?ent")) == 1
    r = recs[0]
    assert (r["request_id"], r["agent_id"], r["session_id"], r["tool"], r["cwd"]) == ("r?", "ag?ent", "s?", "Ba?sh",
                                                                                        "/t?mp")
    assert r["input"] == '{"command":"echo a\\u0000b"}?'
    assert r["input_sha256"] == hashlib.sha256(raw.encode()).hexdigest() and r["input_bytes"] == len(raw)


def test_trail_is_json_text(store):
    trail = ({"tier": "policy", "answer": "escalate", "ns": 1200}, {"tier": "expert", "expert": "llm-1",
                                                                     "answer": "deny", "when": object()})
    with store.open() as b:
        b.append([make_row(entry(0, trail=trail), 0, 0)])
        r = next(b.records())
    steps = json.loads(r["trail"])
    assert steps[0] == {"tier": "policy", "answer": "escalate", "ns": 1200}
    assert steps[1]["expert"] == "llm-1" and steps[1]["when"].startswith("<object")


# ------------------------------------------------------------------ store

def test_store_is_private_wal_and_indexed(tmp_path):
    path = tmp_path / "new" / "dir" / "audit.db"
    with SQLiteBackend(str(path)) as b:
        b.append(rows(2))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    con = sqlite3.connect(str(path))
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'table')")}
    assert {"audit_time", "audit_verdict", "audit_by_agent", "audit_by_session"} <= names
    assert not {"audit_agent", "audit_session"} & names     # written in bulk instead (the lookup tables)
    plan = " ".join(str(r) for r in con.execute(
        "EXPLAIN QUERY PLAN SELECT a.record FROM audit_by_agent AS k JOIN audit AS a ON a.seq = k.seq "
        "WHERE k.agent_id = 'x' ORDER BY k.time_ns DESC, k.seq DESC"))
    assert "USING PRIMARY KEY" in plan and "TEMP B-TREE" not in plan, plan
    con.close()


def test_verdict_index_leaves_allows_out_and_queries_by_verdict_find_every_record(tmp_path):
    """A new log's pages are PAGE_SIZE bytes and its verdict index holds the records that
    are not allows (each index entry is a writer's cost per record): a query for denials
    is served by it, one for allows by the time index, and both find exactly what a
    filter over every record finds, in order, as in a log written before with the index
    on every verdict."""
    from lighthouse.audit import sqlite as store
    path = str(tmp_path / "audit.db")
    offset = time.time_ns() - time.perf_counter_ns()
    ask = Outcome(2, TIER_RULES, "asks", "net.curl", 3, "ask")
    # Arrival times out of seq order (an escalated call is recorded late).
    made = [make_row((e[0] - 10**9 * (i % 7),) + e[1:], 0, offset)
            for i, e in enumerate(entry(i, outcome=(ALLOW, DENY, ALLOW, ask, ALLOW)[i % 5]) for i in range(60))]
    with SQLiteBackend(path) as b:
        b.append(made[:30])
        b.append(made[30:])
        assert b.db.execute("PRAGMA page_size").fetchone()[0] == store.PAGE_SIZE
        sql = b.db.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_verdict'").fetchone()[0]
        assert sql.endswith("WHERE verdict <> 'allow'"), sql
        statements = []
        b.db.set_trace_callback(statements.append)
        list(b.records(Query(verdict="deny", newest_first=True, limit=3)))
        b.db.set_trace_callback(None)
        plan = " ".join(r[3] for r in b.db.execute("EXPLAIN QUERY PLAN " + statements[-1]))
        assert "INDEX audit_verdict" in plan, plan
    legacy = str(tmp_path / "legacy.db")
    con = sqlite3.connect(path)
    con.execute("VACUUM INTO ?", (legacy,))
    con.close()
    con = sqlite3.connect(legacy)
    con.execute("DROP INDEX audit_verdict")
    con.execute("CREATE INDEX audit_verdict ON audit (verdict, time_ns)")
    con.commit()
    con.close()
    for p in (path, legacy):
        with SQLiteBackend(p, readonly=True) as b:
            everything = list(b.records())
            assert len(everything) == 60 and verify(b).ok
            times = sorted(r["time_ns"] for r in everything)
            for verdict in ("deny", "ask", "allow"):
                for q in [Query(verdict=verdict), Query(verdict=verdict, newest_first=True, limit=4),
                          Query(verdict=verdict, since=times[10], until=times[45], newest_first=True),
                          Query(verdict=verdict, after_seq=33), Query(verdict=verdict, tool="Bash", limit=5)]:
                    expect = _brute(everything, q)
                    assert expect and [r["seq"] for r in b.records(q)] == expect, (p, q)
                    assert b.count(dataclasses.replace(q, limit=0)) == len(
                        _brute(everything, dataclasses.replace(q, limit=0)))
                assert b.stats(Query(verdict=verdict))["by_verdict"] == {verdict: b.count(Query(verdict=verdict))}


def _brute(records, q):
    """What Query q selects from every record, by Python alone."""
    out = [r for r in records
           if all(not getattr(q, f) or r[f] == getattr(q, f) for f in ("agent_id", "session_id", "verdict", "tool"))
           and (q.since is None or r["time_ns"] >= q.since) and (q.until is None or r["time_ns"] < q.until)
           and r["seq"] > q.after_seq]
    if q.newest_first:
        out.sort(key=lambda r: (r["time_ns"], r["seq"]), reverse=True)
    return [r["seq"] for r in out[:q.limit or None]]


def test_lookup_tables_are_written_in_bulk_and_queries_see_every_record(tmp_path, monkeypatch):
    """Agent and session lookups are filled every INDEX_EVERY records: a query by agent or
    session reads them up to indexed_seq and scans the records after it, and finds
    exactly the records a filter over all of them finds, in the same order."""
    from lighthouse.audit import sqlite as store
    monkeypatch.setattr(store, "INDEX_EVERY", 10)
    path = str(tmp_path / "audit.db")
    base = time.time_ns() - 10**12
    with SQLiteBackend(path) as b:
        indexed = []
        for k in range(11):
            # Arrival times out of seq order (an escalated call is recorded late).
            b.append([make_row((1000 * ((k * 7 + i * 13) % 50), "grpc", "r-%d-%d" % (k, i), "a%d" % ((k + i) % 3),
                                "s%d" % (i % 2), "Bash", "{}", "/", ALLOW if i % 2 else DENY, 1, "", ()), 0, base)
                      for i in range(4)])
            indexed.append(b._indexed_seq())
        assert indexed[:3] == [0, 0, 12] and indexed[-1] == 36 and b.head()[0] == 44   # 8 after it
        everything = list(b.records())
        times = sorted(r["time_ns"] for r in everything)
        for q in [Query(agent_id="a1"), Query(agent_id="a1", newest_first=True, limit=5),
                  Query(agent_id="a2", newest_first=True), Query(agent_id="a0", limit=7),
                  Query(session_id="s1", newest_first=True, limit=20), Query(session_id="s0", verdict="deny"),
                  Query(agent_id="a1", session_id="s0", newest_first=True),
                  Query(agent_id="a0", since=times[10], until=times[40], newest_first=True),
                  Query(session_id="s1", after_seq=30), Query(agent_id="nobody")]:
            expect = _brute(everything, q)
            assert [r["seq"] for r in b.records(q)] == expect, q
            assert b.count(dataclasses.replace(q, limit=0)) == len(_brute(everything, dataclasses.replace(q, limit=0)))
        assert b.stats(Query(agent_id="a1"))["records"] == b.count(Query(agent_id="a1"))
        assert verify(b).ok
        # The plans of a query by agent: the lookup table's key walked, each record by its
        # seq, and the tail by its seq range, never an index on time or verdict (which on
        # a big log would walk every denial since the time given).
        statements = []
        b.db.set_trace_callback(statements.append)
        list(b.records(Query(agent_id="a1", verdict="deny", since=times[5], newest_first=True, limit=3)))
        b.db.set_trace_callback(None)
        plans = sorted(" / ".join(r[3] for r in b.db.execute("EXPLAIN QUERY PLAN " + sql))
                       for sql in statements if sql.startswith("SELECT") and "FROM audit_meta" not in sql)
        assert plans == ["SEARCH audit USING INTEGER PRIMARY KEY (rowid>?) / USE TEMP B-TREE FOR ORDER BY",
                         "SEARCH k USING PRIMARY KEY (agent_id=? AND time_ns>?) / SEARCH a USING INTEGER PRIMARY "
                         "KEY (rowid=?)"], plans


def test_verify_finds_a_lookup_entry_deleted_or_changed(tmp_path, monkeypatch):
    from lighthouse.audit import sqlite as store
    monkeypatch.setattr(store, "INDEX_EVERY", 5)
    path = str(tmp_path / "audit.db")
    with SQLiteBackend(path) as b:
        b.append(rows(12, agent="alice"))
    for change, seq, says in [("DELETE FROM audit_by_agent WHERE seq = 4", 4, "no entry"),
                              ("UPDATE audit_by_session SET session_id = 'elsewhere' WHERE seq = 7", 7, "no entry"),
                              ("INSERT INTO audit_by_agent SELECT 'mallory', time_ns, seq FROM audit WHERE seq = 2", 2,
                               "does not match")]:
        copy = tmp_path / ("copy-%d.db" % seq)
        src = sqlite3.connect(path)
        src.execute("VACUUM INTO ?", (str(copy),))
        src.close()
        con = sqlite3.connect(str(copy))
        con.execute(change)
        con.commit()
        con.close()
        with SQLiteBackend(str(copy), readonly=True) as b:
            r = verify(b)
        assert not r.ok and r.broken_seq == seq and says in r.problem, r
        assert r.records == 12      # the chain itself is whole


def test_log_written_with_table_indexes_is_read_and_appended_as_before(tmp_path):
    """A log created before the lookup tables (indexes on agent and session in the table)
    keeps its indexes, gets no lookup tables, and answers queries by agent through them."""
    path = str(tmp_path / "old.db")
    con = sqlite3.connect(path)
    con.executescript(store_schema_before_lookups())
    con.close()
    os.chmod(path, 0o600)
    with SQLiteBackend(path) as b:
        b.append(rows(5, agent="alice"))
        b.append(rows(3, start=5, agent="bob"))
        assert [r["seq"] for r in b.records(Query(agent_id="alice", newest_first=True, limit=2))] == [5, 4]
        assert b.count(Query(session_id="s1")) == 8
        assert verify(b).ok
    con = sqlite3.connect(path)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    assert {"audit_agent", "audit_session"} <= names and "audit_by_agent" not in names


def store_schema_before_lookups():
    from lighthouse.audit import sqlite as store
    return (store._SCHEMA + ";".join(store._LEGACY_SCHEMA) + ";" +
            "INSERT INTO audit_meta VALUES ('format', 'lighthouse.audit.v1'), ('genesis', '%s'), ('first_seq', '1');"
            % GENESIS)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.integers(-2**40, 2**62), st.sampled_from(["grpc", "local", "spool"]), st.text(max_size=8),
    st.text(max_size=8), st.text(max_size=8), st.text(max_size=8),
    st.one_of(st.text(max_size=40), st.tuples(st.text(max_size=20), st.integers(0, 99), st.just("ab" * 32))),
    st.text(max_size=8), st.tuples(st.integers(0, 3), st.integers(0, 5), st.text(max_size=8), st.text(max_size=8),
                                   st.one_of(st.integers(0, 9), st.booleans())),
    st.one_of(st.integers(0, 10**9), st.floats(0, 1e6, allow_nan=False)), st.sampled_from(["", "esc-1"]),
    st.sampled_from(["", '[{"tier":"expert"}]'])), max_size=12), st.integers(0, 64))
@pytest.mark.parametrize("impl", ["pure", pytest.param("compiled", marks=pytest.mark.compiled)])
def test_row_maker_writes_the_rows_of_make_row(impl, entries, max_input):
    """The writer's RowMakers, pure and compiled (kept encodings), against make_row (the
    reference), twice over the same entries so that the second pass runs from the kept
    encodings."""
    from lighthouse.audit import _chain
    makers = _chain.row_makers()
    if impl not in makers or _chain.NO_EXTENSIONS and impl == "compiled":
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    maker = makers[impl](3, max_input)
    for _ in range(2):
        assert maker.rows(entries, 12345) == [make_row(e, 3, 12345, max_input) for e in entries]


_plain_values = st.text(max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.integers(-2**40, 2**62), st.sampled_from(["grpc", "local", "hook-local"]), _plain_values, _plain_values,
    _plain_values, _plain_values,
    st.one_of(st.text(max_size=40), st.tuples(st.text(max_size=20), st.integers(0, 99), st.just("ab" * 32)),
              st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)),
    _plain_values,
    st.one_of(st.builds(Outcome, st.integers(0, 3), st.integers(0, 5), _plain_values, _plain_values,
                        st.integers(0, 9), st.sampled_from(["allow", "miss"])),
              st.tuples(st.integers(0, 3), st.integers(0, 5), _plain_values, _plain_values, st.integers(0, 9))),
    st.integers(0, 10**9), st.sampled_from(["", "esc-1"]),
    st.one_of(st.just(()), st.lists(st.fixed_dictionaries({"tier": st.sampled_from(["expert", "policy"]),
                                                           "ms": st.integers(0, 99)}), max_size=2),
              st.just('[{"tier":"expert"}]'))), max_size=40))
def test_columns_hand_over_what_plain_entries_do(entries):
    """The loop's hand-over in columns (writer._columns) carries, through marshal, exactly
    the entries of the hand-over a tuple at a time (writer._plain), whatever the mix of
    outcomes, inputs and trails; the writer process reads both forms the same."""
    import marshal

    from lighthouse.audit.writer import _columns, _plain
    columns = marshal.loads(marshal.dumps(_columns(entries)))
    assert columns.__class__ is tuple
    assert list(zip(*columns)) == marshal.loads(marshal.dumps([_plain(e) for e in entries]))


class _WriterProcess:
    """A real writer process (lighthouse.audit.process) on the SQLite file ``path``, its
    messages framed as lighthouse.audit.writer frames them; leaving the block sends the
    end marker and checks that it closed."""

    def __init__(self, path, durable, worker):
        import struct
        self.frame = struct.Struct("<I")
        self.proc = subprocess.Popen([sys.executable, "-m", "lighthouse.audit.process", str(path), durable, worker,
                                      "4096"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT))

    def read(self):
        import marshal
        (n,) = self.frame.unpack(self.proc.stdout.read(4))
        return marshal.loads(self.proc.stdout.read(n))

    def send(self, offset, body):
        import marshal
        data = marshal.dumps((offset, body))
        self.proc.stdin.write(self.frame.pack(len(data)) + data)
        self.proc.stdin.flush()

    def __enter__(self):
        try:
            assert self.read()[0] == "ready"
        except BaseException:
            self._kill()
            raise
        return self

    def __exit__(self, kind, *_):
        try:
            if kind is None:
                self.proc.stdin.write(self.frame.pack(0))
                self.proc.stdin.flush()
                assert self.read() == ("closed",)
                assert self.proc.wait(60) == 0
        finally:
            self._kill()

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_writer_process_commits_columns_and_entry_lists_alike(tmp_path):
    """A real writer process (lighthouse.audit.process) fed one message in columns and one
    as a list of entries writes the records make_row makes of them, chained."""
    from lighthouse.audit.writer import _columns, _plain
    es = [entry(i, agent="agent-%d" % (i % 3), outcome=(DENY, ALLOW)[i % 2]) for i in range(40)]
    es[5] = entry(5, tool_input={"command": "ls"}, source="local")
    es[7] = entry(7, trail=[{"tier": "expert", "verdict": "deny"}])
    offset = 1_000_000
    path = tmp_path / "w.db"
    with _WriterProcess(path, "0", "2") as w:
        for body in (_columns(es[:30]), [_plain(e) for e in es[30:]]):
            w.send(offset, body)
            msg = w.read()
            assert msg[0] == "committed", msg
    with SQLiteBackend(str(path), readonly=True) as b:
        assert verify(b).ok
        got = [tuple(r[f] for f in FIELDS[1:-1]) for r in b.records()]
    assert got == [tuple(json.loads("[" + make_row(e, 2, offset)[1])) for e in es]


def test_writer_process_gathers_a_default_commit_and_commits_sync_at_once(tmp_path):
    """In the default mode a real writer process waits COMMIT_WAIT after a lone message
    before committing it, and gathers messages sent one after another into fewer commits;
    in sync mode (durable) it commits each lone message without waiting for more. Every
    record is committed in order either way, and the chain verifies."""
    from lighthouse.audit.process import COMMIT_WAIT
    from lighthouse.audit.writer import _plain
    offset = time.time_ns() - time.perf_counter_ns()
    for durable in ("0", "1"):
        path = tmp_path / ("w%s.db" % durable)
        with _WriterProcess(path, durable, "0") as w:
            for i in range(3):          # lone messages, each committed before the next
                sent = time.monotonic()
                w.send(offset, [_plain(entry(i))])
                msg = w.read()
                assert msg[:2] == ("committed", i + 1), msg
                if durable == "0":
                    assert time.monotonic() - sent >= COMMIT_WAIT
            for i in range(3, 53):      # fifty messages back to back
                w.send(offset, [_plain(entry(i))])
            commits = 0
            while True:
                msg = w.read()
                assert msg[0] == "committed", msg
                commits += 1
                if msg[1] == 53:
                    break
            if durable == "0":
                assert commits < 50
        with SQLiteBackend(str(path), readonly=True) as b:
            assert verify(b).ok
            assert [r["request_id"] for r in b.records()] == ["r-%d" % i for i in range(53)]


def test_missing_or_foreign_file_is_refused(tmp_path):
    with pytest.raises(AuditError, match="no such file"):
        SQLiteBackend(str(tmp_path / "none.db"), readonly=True)
    other = tmp_path / "other.db"
    sqlite3.connect(str(other)).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AuditError, match="not an audit log"):
        SQLiteBackend(str(other), readonly=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AuditError, match="junk.db"):
        SQLiteBackend(str(junk))


def test_two_writers_keep_one_chain(store):
    # Two connections (as two worker processes would have) append in turn: each reads the
    # head inside its own write transaction.
    a, b = store.open(), store.open()
    for i in range(10):
        (a if i % 2 else b).append(rows(3, start=i * 3))
    assert a.head()[0] == 30
    assert verify(a).ok and verify(a).records == 30
    a.close()
    b.close()


def test_query_filters(store):
    with store.open() as b:
        b.append(rows(5, agent="alice"))
        b.append(rows(3, start=5, agent="bob", outcome=ALLOW, session="s2"))
        assert b.count(Query(agent_id="alice")) == 5
        assert b.count(Query(verdict="allow")) == 3
        assert b.count(Query(tier="cache", session_id="s2")) == 3
        assert b.count(Query(rule_id="fs.rm-home")) == 5
        assert [r["seq"] for r in b.records(Query(limit=2, newest_first=True))] == [8, 7]
        assert [r["seq"] for r in b.records(Query(after_seq=6))] == [7, 8]
        now = time.time_ns()
        assert b.count(Query(since=now - 60 * 10**9)) == 8
        assert b.count(Query(until=now - 60 * 10**9)) == 0
        s = b.stats()
        assert s["records"] == 8 and s["by_verdict"] == {"deny": 5, "allow": 3}


# ------------------------------------------------------------------ verify

def test_verify_whole_chain(store):
    r = broken(filled(store, 50))
    assert r.ok and r.records == 50 and r.last_seq == 50


def test_empty_log_verifies(store):
    store.open().close()
    r = broken(store)
    assert r.ok and r.records == 0 and r.last_hash == GENESIS


@pytest.mark.parametrize("column,value", [
    ("record", "replace(record, '\"deny\"', '\"allow\"')"),               # the hashed text
    ("record", "replace(record, '/home/dev/app', '/tmp')"),
    ("record", "replace(record, 'Deletes', 'Délètes')"),
    ("verdict", "'allow'"), ("time_ns", "time_ns + 1"), ("agent_id", "'someone'"),    # a column queries read
    ("rule_id", "'x'"), ("request_id", "'r-99'")])
def test_verify_finds_a_changed_record(store, column, value):
    filled(store)
    assert store.sql("UPDATE audit SET %s = %s WHERE seq = 12" % (column, value)) == 1
    r = broken(store)
    assert not r.ok and r.broken_seq == 12 and r.records == 11 and "changed" in r.problem, r


def test_verify_finds_a_record_whose_hash_was_recomputed(store):
    # Changing a record and giving it a matching hash breaks the link to the next one.
    filled(store)
    with store.open(readonly=True) as b:
        recs = list(b.records())
    forged = dict(recs[11], verdict="allow")
    forged["hash"] = chain_hash(recs[10]["hash"], canonical(forged))
    store.sql("UPDATE audit SET verdict = 'allow', record = ?, hash = ? WHERE seq = 12",
              (canonical(forged).decode(), forged["hash"]))
    with store.open(readonly=True) as b:
        assert [r["verdict"] for r in b.records(Query(request_id="r-11"))] == ["allow"]
    r = broken(store)
    assert not r.ok and r.broken_seq == 13


def test_verify_finds_a_deleted_record(store):
    filled(store)
    store.sql("DELETE FROM audit WHERE seq IN (7, 8)")
    r = broken(store)
    assert not r.ok and r.broken_seq == 9 and r.records == 6
    assert "records 7 to 8 are missing" in r.problem


def test_verify_finds_a_deleted_first_record(store):
    filled(store)
    store.sql("DELETE FROM audit WHERE seq = 1")
    r = broken(store)
    assert not r.ok and r.broken_seq == 2 and "record 1 is missing" in r.problem


def test_verify_finds_reordered_records(store):
    filled(store)
    # records 5 and 6 swap places (seq swapped, all else kept)
    store.sql("UPDATE audit SET seq = -1 WHERE seq = 5")
    store.sql("UPDATE audit SET seq = 5 WHERE seq = 6")
    store.sql("UPDATE audit SET seq = 6 WHERE seq = -1")
    r = broken(store)
    assert not r.ok and r.broken_seq == 5


def test_verify_finds_swapped_contents(store):
    filled(store)
    columns = store.columns()
    assert "record" in columns and "hash" in columns
    cols = ", ".join(columns)
    # whole records, hash included, moved to each other's place
    a = store.sql("SELECT %s FROM audit WHERE seq = 3" % cols)[0]
    b = store.sql("SELECT %s FROM audit WHERE seq = 4" % cols)[0]
    sets = ", ".join("%s = ?" % f for f in columns)
    store.sql("UPDATE audit SET %s WHERE seq = 3" % sets, b)
    store.sql("UPDATE audit SET %s WHERE seq = 4" % sets, a)
    r = broken(store)
    assert not r.ok and r.broken_seq == 3


def test_verify_finds_a_changed_genesis(store):
    filled(store)
    store.sql("UPDATE audit_meta SET value = ? WHERE key = 'genesis'", ("1" * 64,))
    r = broken(store)
    assert not r.ok and r.broken_seq == 1


# ------------------------------------------------------------------ CLI

def run_cli(capsys, *args):
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_verify(capsys, store):
    filled(store)
    code, out, _ = run_cli(capsys, "verify", *store.args)
    assert code == 0 and "the chain verifies: 20 records" in out
    code, out, _ = run_cli(capsys, "verify", *store.args, "--json")
    assert json.loads(out)["ok"] is True
    store.sql("UPDATE audit SET record = replace(record, 'home', 'HOME') WHERE seq = 4")
    code, out, _ = run_cli(capsys, "verify", *store.args)
    assert code == 3 and "BROKEN at record 4" in out
    if store.kind == "sqlite":
        code, _, err = run_cli(capsys, "verify", "--audit-db", store.location + ".missing")
        assert code == 1 and "no such file" in err
    else:
        code, _, err = run_cli(capsys, "verify", "--audit-dsn", store.location.replace("/t", "/missing_t", 1))
        assert code == 1 and "missing_t" in err and "does not exist" in err


def test_cli_query_table_and_json(capsys, store):
    with store.open() as b:
        b.append(rows(5, agent="alice"))
        b.append(rows(3, start=5, agent="bob", outcome=ALLOW))
    code, out, _ = run_cli(capsys, "query", *store.args, "--agent", "bob", "--json")
    recs = json.loads(out)
    assert code == 0 and [r["seq"] for r in recs] == [6, 7, 8] and {r["agent_id"] for r in recs} == {"bob"}
    code, out, _ = run_cli(capsys, "query", *store.args, "--verdict", "deny", "--limit", "2")
    lines = out.splitlines()
    assert lines[0].startswith("SEQ") and len(lines) == 3
    assert lines[1].split()[0] == "4" and "fs.rm-home" in lines[1] and "rm -rf ~/3" in lines[1]
    code, out, _ = run_cli(capsys, "query", *store.args, "--since", "1h", "--tool", "Bash", "--json",
                           "--limit", "0")
    assert len(json.loads(out)) == 8
    code, _, err = run_cli(capsys, "query", *store.args, "--since", "yesterday")
    assert code == 2 and "'yesterday' is not a time" in err


def test_cli_export_jsonl_and_csv(capsys, store, tmp_path):
    filled(store, 4)
    code, out, _ = run_cli(capsys, "export", *store.args)
    recs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(recs) == 4 and list(recs[0]) == list(FIELDS)
    assert recs[3]["request_id"] == "r-3" and recs[3]["verdict"] == "deny" and len(recs[3]["hash"]) == 64
    # An export holds what verify needs: the chain re-checks from it.
    prev = GENESIS
    for r in recs:
        prev = chain_hash(prev, canonical(r))
        assert prev == r["hash"]
    out_file = tmp_path / "audit.csv"
    code, _, _ = run_cli(capsys, "export", *store.args, "--format", "csv", "--out", str(out_file))
    rows_ = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert code == 0 and len(rows_) == 4 and rows_[0]["tool"] == "Bash" and list(rows_[0]) == list(FIELDS)


def test_cli_stats(capsys, store):
    filled(store, 6)
    code, out, _ = run_cli(capsys, "stats", *store.args, "--json")
    s = json.loads(out)
    assert code == 0 and s["records"] == 6 and s["by_verdict"] == {"deny": 6}
    code, out, _ = run_cli(capsys, "stats", *store.args)
    assert "6 records" in out and "by verdict: deny 6" in out


def test_cli_tail_follows_new_records(store):
    filled(store, 3)
    proc = subprocess.Popen([sys.executable, "-m", "lighthouse.cli", "audit", "tail", *store.args, "--json",
                             "-n", "2", "--interval", "0.05"], stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        first = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [r["seq"] for r in first] == [2, 3]
        with store.open() as b:
            b.append(rows(2, start=3))
        later = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert [r["seq"] for r in later] == [4, 5] and later[1]["request_id"] == "r-4"
    finally:
        proc.kill()
        proc.wait(10)


def test_cli_tail_no_follow(capsys, store):
    filled(store, 5)
    code, out, _ = run_cli(capsys, "tail", *store.args, "-n", "3", "--no-follow")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4 and [ln.split()[0] for ln in lines[1:]] == ["3", "4", "5"]


def test_parse_time():
    now = 1_800_000_000.0
    assert parse_time("15m", now) == int((now - 900) * 1e9)
    assert parse_time("1767225600", now) == 1767225600 * 10**9
    assert parse_time("2026-01-01T00:00:00Z", now) == 1767225600 * 10**9
    assert parse_time("2026-01-01T01:00:00+01:00", now) == 1767225600 * 10**9
    assert parse_time("2026-01-01", now) == 1767225600 * 10**9
    with pytest.raises(ValueError, match="not a time"):
        parse_time("soon", now)


_OPENER = """
import sys, time
from lighthouse.audit.sqlite import SQLiteBackend
at = float(sys.argv[2])
while time.time() < at:
    pass
SQLiteBackend(sys.argv[1])
"""


def test_processes_creating_one_log_at_once_all_open_it(tmp_path):
    """The workers of --workers N open one new file at the same instant: switching it to
    WAL takes its exclusive lock, for which SQLite does not wait, so each retries instead
    of failing to start ("database is locked")."""
    for round_ in range(5):
        path = tmp_path / ("audit-%d.db" % round_)
        at = time.time() + 1.5
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path), repr(at)], cwd=str(ROOT),
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
        with SQLiteBackend(str(path), create=False) as b:
            assert b.head()[0] == 0


# ------------------------------------------------------------------ PostgreSQL only

def test_postgres_store_is_indexed_and_readonly_sessions_cannot_write(pg_dsn):
    import psycopg
    from lighthouse.audit.postgres import PostgresBackend
    with PostgresBackend(pg_dsn) as b:
        b.append(rows(3))
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        indexes = {r[0] for r in con.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'audit'")}
        assert {"audit_agent", "audit_session", "audit_time", "audit_verdict"} <= indexes
        con.execute("SET enable_seqscan = off")
        plan = " ".join(r[0] for r in con.execute("EXPLAIN SELECT * FROM audit WHERE agent_id = 'x'"))
        assert "audit_agent" in plan
    with PostgresBackend(pg_dsn, readonly=True) as r:
        assert r.count() == 3
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            r.append(rows(1))


def test_postgres_foreign_or_missing_database_is_refused(pg_cluster, pg_dsn):
    import psycopg
    from lighthouse.audit.postgres import PostgresBackend
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE other (x int)")
    with pytest.raises(AuditError, match="not an audit log"):
        PostgresBackend(pg_dsn, readonly=True)
    with pytest.raises(AuditError, match="not an audit log"):
        PostgresBackend(pg_dsn, create=False)
    secret = pg_dsn.replace("lighthouse@", "lighthouse:s3cret@").replace("/t", "/nosuchdb_t", 1)
    with pytest.raises(AuditError, match="nosuchdb") as e:
        PostgresBackend(secret)
    assert "s3cret" not in str(e.value)


def test_cli_audit_dsn_must_be_a_url(capsys, tmp_path):
    code, _, err = run_cli(capsys, "verify", "--audit-dsn", "host=/tmp dbname=x")
    assert code == 2 and "must be a postgresql:// URL" in err
    code, _, err = run_cli(capsys, "stats", "--audit-dsn", "postgresql:///x", "--audit-db", str(tmp_path / "a.db"))
    assert code == 2 and "not both" in err


_PG_OPENER = """
import sys, time
from lighthouse.audit.postgres import PostgresBackend
from lighthouse.audit.record import make_row
at = float(sys.argv[2])
while time.time() < at:
    pass
b = PostgresBackend(sys.argv[1])
for i in range(20):
    b.append([make_row((time.perf_counter_ns(), "grpc", "p%s-%d" % (sys.argv[3], i), "a", "s", "Bash", "{}", "/",
                        (2, 2, "r", "x", 1), 1, "", ()), int(sys.argv[3]), 0)])
"""


def test_postgres_processes_creating_and_appending_at_once_keep_one_chain(pg_dsn):
    """Four processes create the tables at the same instant (the advisory lock keeps
    CREATE ... IF NOT EXISTS from racing), then append one record at a time each,
    interleaved: one chain, no gap, every record once."""
    at = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", _PG_OPENER, pg_dsn, repr(at), str(n)], cwd=str(ROOT),
                              stderr=subprocess.PIPE, text=True) for n in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    from lighthouse.audit.postgres import PostgresBackend
    with PostgresBackend(pg_dsn, readonly=True) as b:
        r = verify(b)
        assert r.ok and r.records == 80, r
        assert sorted(x["request_id"] for x in b.records()) == sorted("p%d-%d" % (n, i) for n in range(4)
                                                                        for i in range(20))


def test_postgres_retention_deletes_the_oldest_records_and_the_chain_verifies_from_the_first_kept(
        capsys, pg_dsn, monkeypatch):
    from lighthouse.audit import postgres
    monkeypatch.setattr(postgres, "PRUNE_STEP", 7)      # several transactions per prune
    day = 86400 * 10**9
    with postgres.PostgresBackend(pg_dsn) as b:
        old = time.time_ns() - 10 * day - time.perf_counter_ns()
        b.append([make_row(entry(i), 0, old) for i in range(20)])
        b.append(rows(10, start=20))
        assert b.prune(max_age_ns=5 * day) == (1, 20)
        meta = b.meta()
        assert meta["first_seq"] == 21 and meta["retained_seq"] == 21 and b.count() == 10
        assert meta["genesis"] == meta["retained_hash"] and len(meta["genesis"]) == 64
        assert b.prune(max_age_ns=5 * day) is None                     # nothing older left
        r = verify(b)
        assert r.ok and r.records == 10 and r.last_seq == 30
    code, out, _ = run_cli(capsys, "verify", "--audit-dsn", pg_dsn)
    assert code == 0 and "the retained chain starts at record 21, chained to hash %s" % meta["genesis"] in out
    # By size: the table's size per record decides how many are kept.
    code, out, _ = run_cli(capsys, "rotate", "--audit-dsn", pg_dsn, "--max-bytes", "1")
    assert code == 0 and "records 21 to 30 deleted by retention; the chain starts at record 31" in out
    with postgres.PostgresBackend(pg_dsn) as b:
        assert b.count() == 0 and b.head()[0] == 30
        b.append(rows(3, start=30))                                     # the chain goes on after the deleted ones
        assert verify(b).ok and verify(b).records == 3
        b.conn.execute("DELETE FROM audit WHERE seq = 32")
        r = verify(b)
        assert not r.ok and r.broken_seq == 33
    code, _, err = run_cli(capsys, "rotate", "--audit-dsn", pg_dsn)
    assert code == 2 and "give --max-bytes or --max-age" in err


def test_postgres_server_writer_applies_the_retention(pg_dsn):
    """serve --audit-dsn --audit-max-age: the writer process deletes the records older
    than the age after a commit, and the log verifies from the first one kept."""
    from lighthouse.audit import postgres
    from lighthouse.server.app import ServerConfig
    from lighthouse.v1 import validation_pb2_grpc as pb_grpc
    from serverkit import ServerThread, tool_call
    with postgres.PostgresBackend(pg_dsn) as b:
        b.append([make_row(entry(i), 0, time.time_ns() - 30 * 86400 * 10**9 - time.perf_counter_ns())
                  for i in range(5)])
    cfg = ServerConfig(port=0, metrics_port=0, rate_limit=0, local_socket=False, audit_dsn=pg_dsn,
                       audit_max_age=86400.0)
    with ServerThread(cfg) as s:
        with grpc.insecure_channel(s.address) as ch:
            pb_grpc.ValidatorStub(ch).Validate(tool_call(tool_input="git status", request_id="now-1"), timeout=10)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with postgres.PostgresBackend(pg_dsn, readonly=True) as b:
                    if b.meta().get("retained_seq") == 6:
                        break
                time.sleep(0.2)
    with postgres.PostgresBackend(pg_dsn, readonly=True) as b:
        assert b.meta()["first_seq"] == 6 and [r["request_id"] for r in b.records()] == ["now-1"]
        assert verify(b).ok
