"""The audit log's hash chain (lighthouse.audit._chain): the compiled module and its pure
twin give the same rows and hashes, both the chain of the record format (a log written
before either existed still verifies, and a log written by either verifies), and the
compiled one is loaded when extensions are expected."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse.audit import GENESIS, SQLiteBackend, verify
from lighthouse.audit import _chain
from lighthouse.audit.record import FORMAT, make_row
from lighthouse.server.wire import Outcome

from conftest import EXPECT_COMPILED

IMPLS = _chain.implementations()
if _chain.NO_EXTENSIONS:
    IMPLS.pop("compiled", None)


@pytest.fixture(params=["pure", pytest.param("compiled", marks=pytest.mark.compiled)])
def chain_rows(request):
    """chain_rows of one implementation."""
    if request.param not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled audit chain (lighthouse.audit._chain_c) is expected but not importable; build "
                        "it with `make install` or set LIGHTHOUSE_NO_EXTENSIONS=1")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return IMPLS[request.param]


def test_compiled_chain_loaded_when_expected():
    if EXPECT_COMPILED:
        assert _chain.COMPILED and _chain.chain_rows is IMPLS["compiled"]
        assert _chain.chain_rows.__module__ == "lighthouse.audit._chain_c"
    else:
        assert not _chain.COMPILED and _chain.chain_rows is IMPLS["pure"]


def _rows(n, reason="r"):
    out = (3, 2, reason, "fs.rm-home", 1, "deny")
    return [make_row((1000 + i, "grpc", "req-%d" % i, "agent-%d" % (i % 3), "s", "Bash",
                      json.dumps({"command": "rm -rf ~/%d \u00e9\U0001f600" % i}), "/w", Outcome(*out), i, "", ()),
                     0, 5) for i in range(n)]


def test_chain_is_sha256_of_previous_raw_hash_and_canonical_text(chain_rows):
    """The documented chain, computed here independently of both implementations."""
    rows = _rows(5)
    out, seq, last = chain_rows(rows, 41, bytes(32))
    assert seq == 46 and len(out) == 5
    prev = bytes(32)
    for i, (row, (indexed, tail)) in enumerate(zip(out, rows)):
        text = '["%s",%d,%s' % (FORMAT, 42 + i, tail)
        assert row == (42 + i,) + indexed + (text, hashlib.sha256(prev + text.encode("ascii")).hexdigest())
        assert json.loads(text)[1] == 42 + i
        prev = bytes.fromhex(row[-1])
    assert last == prev


def test_no_rows_and_bad_arguments(chain_rows):
    assert chain_rows([], 7, b"\x01" * 32) == ([], 7, b"\x01" * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        chain_rows(_rows(1), 0, b"\x00" * 31)
    with pytest.raises(TypeError):
        chain_rows(_rows(1), 0, "00" * 32)
    with pytest.raises(UnicodeEncodeError):
        chain_rows([(("x",), '"\u00e9"]')], 0, bytes(32))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.tuples(st.integers(0, 2**62), st.text(max_size=6)),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=300)),
                max_size=20),
       st.integers(0, 2**40), st.binary(min_size=32, max_size=32))
def test_compiled_and_pure_chains_agree(rows, seq, prev):
    """The two implementations on random rows: the same rows, last seq and raw hash."""
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled audit chain is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    assert IMPLS["compiled"](rows, seq, prev) == IMPLS["pure"](rows, seq, prev)


def test_a_log_chained_by_either_implementation_verifies_and_continues_the_other(tmp_path):
    """Records appended alternately through the pure and the compiled Appender form one log
    that `audit verify` accepts, with the hashes the record format documents (a log
    written before the compiled chain existed was chained by the pure code)."""
    path = str(tmp_path / "a.db")
    with SQLiteBackend(path) as b:
        for k, impl in enumerate(["pure", "compiled", "pure", "compiled"]):
            if impl not in APPENDERS:
                if EXPECT_COMPILED:
                    pytest.fail("the compiled audit chain is expected but not importable")
                continue
            b.close()
            b = SQLiteBackend(path)
            b._appender = APPENDERS[impl](path)
            b.append(_rows(7, reason="part %d" % k))
        assert verify(b).ok
    con = sqlite3.connect(path)
    prev = bytes.fromhex(GENESIS)
    for text, h in con.execute("SELECT record, hash FROM audit ORDER BY seq"):
        prev = hashlib.sha256(prev + text.encode("ascii")).digest()
        assert prev.hex() == h
    con.close()


APPENDERS = _chain.appenders()
if _chain.NO_EXTENSIONS:
    APPENDERS.pop("compiled", None)


@pytest.fixture(params=["pure", pytest.param("compiled", marks=pytest.mark.compiled)])
def appender(request):
    """The Appender class of one implementation."""
    if request.param not in APPENDERS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled Appender (lighthouse.audit._chain_c) is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return APPENDERS[request.param]


def test_compiled_appender_loaded_when_expected_with_pythons_sqlite():
    """The compiled Appender writes through the libsqlite3 Python's sqlite3 module loads (one
    library in the writer process, which holds connections of both)."""
    if EXPECT_COMPILED:
        from lighthouse.audit import _chain_c
        assert _chain_c.SQLITE_VERSION == sqlite3.sqlite_version
        assert _chain.Appender is APPENDERS["compiled"]
    else:
        assert _chain.Appender is APPENDERS["pure"]


def _dump(path):
    """Every table of an audit file, its rows sorted."""
    con = sqlite3.connect(path)
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(con.execute("SELECT * FROM %s" % t).fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def _log(tmp_path, name, legacy=False):
    path = str(tmp_path / name)
    SQLiteBackend(path).close()
    if legacy:          # a log written before the lookup tables: no such tables, no fill
        con = sqlite3.connect(path)
        con.execute("DROP TABLE audit_by_agent")
        con.execute("DROP TABLE audit_by_session")
        con.close()
    return path


@pytest.mark.parametrize("legacy", [False, True])
def test_compiled_and_pure_appenders_write_the_same_log(tmp_path, legacy):
    """The same commits through each Appender give the same tables byte for byte: the
    records, their hashes, the lookup tables filled at the same appends and the
    metadata; an empty table after a rotation goes on from first_seq and genesis."""
    if "compiled" not in APPENDERS:
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    dumps = []
    for impl in ("pure", "compiled"):
        path = _log(tmp_path, impl + ".db", legacy)
        a = APPENDERS[impl](path, lookups=not legacy, index_every=5)
        heads = [a.append(_rows(n, reason="n%d" % n)) for n in (0, 1, 4, 3, 9, 2)]
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("DELETE FROM audit")     # as a rotation leaves the live file
        con.execute("UPDATE audit_meta SET value = '1000' WHERE key = 'first_seq'")
        con.execute("UPDATE audit_meta SET value = ? WHERE key = 'genesis'", ("ab" * 32,))
        con.close()
        heads.append(a.append(_rows(6)))
        a.close()
        dumps.append((heads, _dump(path)))
    assert dumps[0] == dumps[1]
    heads, tables = dumps[0]
    assert [h[0] for h in heads] == [0, 1, 5, 8, 17, 19, 1005]
    assert heads[-1][1] == max(tables["audit"])[-1]
    assert ("audit_by_agent" in tables) is not legacy
    if not legacy:
        assert dict(tables["audit_meta"])["indexed_seq"] == "1005"
        assert len(tables["audit_by_agent"]) == 23      # 17 before the delete, 6 after it
    with SQLiteBackend(str(tmp_path / "compiled.db")) as b:
        assert b.head() == heads[-1]


def _keyed_rows(n, start, agent=None, time_ns=None):
    """n rows of agents and sessions in no order of their own (UTF-8 bytes and lengths that
    sort apart from code points), times out of seq order; ``agent``, ``time_ns``: that value
    in every row instead."""
    names = ["b", "\u00e9", "\U0001f600", "ab", "a", "\uff41", "a\x01"]
    return [((time_ns if time_ns is not None else (start + i) * 7919 % 13,
              agent if agent is not None else names[(start + i) % len(names)], names[(start + 3 * i) % 5],
              "Bash", "deny", "rules", "r", "q"), '%d]' % i) for i in range(n)]


def test_lookup_fills_from_kept_entries_match_the_fills_from_the_table(tmp_path):
    """The compiled Appender fills the lookup tables from the entries it kept while they
    cover every record since the last fill, and from the table otherwise: after another
    writer's append, a rolled-back commit, a looked-up value that is not text or a time
    that is not an integer. Each step gives the tables the pure twin's fill from the
    table gives, and verify finds each lookup table complete."""
    if "compiled" not in APPENDERS:
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    steps = [("a", 3), ("a", 4), ("a", 6), ("b", 2), ("a", 5), ("a", 9), ("a", "bad"), ("a", 7), ("a", 8), ("a", 9),
             ("a", "int agent"), ("a", 9), ("a", "float time"), ("a", 3), ("a", 6), ("a", 9), ("b", 4), ("b", 9),
             ("a", 1), ("a", 8)]
    dumps, kept = [], []
    for impl in ("pure", "compiled"):
        path = _log(tmp_path, impl + ".db")
        writers = {w: APPENDERS[impl](path, index_every=8) for w in "ab"}
        seq, indexed = 0, []
        for w, n in steps:
            if n == "bad":
                with pytest.raises(sqlite3.Error):
                    writers[w].append(_keyed_rows(3, seq) + [((["list"],) + _keyed_rows(1, 0)[0][0][1:], "0]")])
                continue
            rows = _keyed_rows(3, seq, agent=7) if n == "int agent" else \
                _keyed_rows(3, seq, time_ns=1.5) if n == "float time" else _keyed_rows(n, seq)
            seq = writers[w].append(rows)[0]
            con = sqlite3.connect(path)
            indexed.append(con.execute("SELECT value FROM audit_meta WHERE key = 'indexed_seq'").fetchone())
            con.close()
        for a in writers.values():
            a.close()
        with SQLiteBackend(path) as b:
            assert b.index_problem() is None
        dumps.append((indexed, _dump(path)))
        kept.append(writers["a"].kept_fills + writers["b"].kept_fills)
    assert dumps[0] == dumps[1]
    indexed, tables = dumps[0]
    # filled at 13 (kept), 29 (b appended at 14-15), 44 (a commit rolled back), 53 (kept),
    # 65 (an agent 7), 77 (a time 1.5), 86 (kept), 99 (b's entries end at 15), 108 (kept)
    assert [v and int(v[0]) for v in indexed] == [None, None, 13, 13, 13, 29, 29, 44, 53, 53, 65, 65, 65, 77, 86, 86,
                                                  99, 99, 108]
    assert len(tables["audit_by_agent"]) == len(tables["audit_by_session"]) == 108
    assert kept == [0, 4]


@pytest.mark.parametrize("bad", [
    [(("x",), 5)],                                          # a tail that is not text
    [(("x",), '"\u00e9"]')],                               # a tail that is not ASCII
    "width",                                                # too few indexed values
    "type",                                                 # a value SQLite cannot store
    "surrogate",                                            # a value UTF-8 cannot encode
    [(1, 2)],                                               # not (indexed, tail) pairs
])
def test_a_bad_row_rolls_the_whole_commit_back(tmp_path, appender, bad):
    """A row either twin cannot store raises (the writer reports it and retries), after
    rows before it in the same commit were inserted: the transaction is rolled back, the
    log is unchanged and takes the next commit."""
    good = _rows(3)
    if bad == "width":
        bad = [(good[0][0][:-1], good[0][1])]
    elif bad == "type":
        bad = [((["list"],) + good[0][0][1:], good[0][1])]
    elif bad == "surrogate":
        bad = [(good[0][0][:1] + ("lone \ud800",) + good[0][0][2:], good[0][1])]
    path = _log(tmp_path, "a.db")
    a = appender(path)
    assert a.append(good)[0] == 3
    before = _dump(path)
    with pytest.raises((TypeError, ValueError, sqlite3.Error)):
        a.append(_rows(2) + bad)
    assert _dump(path) == before
    assert a.append(_rows(2))[0] == 5
    a.close()
    with SQLiteBackend(path) as b:
        assert verify(b).ok and b.count() == 5
    with pytest.raises(ValueError, match="closed"):
        a.append(good)


def test_an_appender_waits_for_another_writer_then_gives_up(tmp_path, appender):
    """While another connection holds the write lock, a commit waits the busy timeout and
    fails "database is locked", committing nothing; it goes through once the lock is
    released."""
    path = _log(tmp_path, "a.db")
    a = appender(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        a.append(_rows(2))
    other.execute("ROLLBACK")
    other.close()
    assert a.append(_rows(2))[0] == 2
    a.close()


def test_an_appender_used_by_two_threads_at_once_refuses_the_second(tmp_path, appender):
    """The compiled Appender's connection has no mutex of its own (SQLite's NOMUTEX) and
    leaves the GIL while it waits for a lock: an append or close from another thread
    meanwhile raises instead of using the connection at once; the first append then
    commits."""
    path = _log(tmp_path, "a.db")
    a = appender(path, busy_timeout=30.0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    done = []
    worker = threading.Thread(target=lambda: done.append(a.append(_rows(2))), daemon=True)
    worker.start()
    deadline = time.monotonic() + 20
    while not a.appending and time.monotonic() < deadline:
        time.sleep(0.005)
    try:
        assert a.appending
        with pytest.raises(sqlite3.ProgrammingError, match="another thread"):
            a.append(_rows(1))
        with pytest.raises(sqlite3.ProgrammingError, match="another thread"):
            a.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
        worker.join(30)
    assert [h[0] for h in done] == [2] and not a.appending
    a.close()


def test_an_appender_needs_an_existing_log(tmp_path, appender):
    with pytest.raises(sqlite3.Error):
        appender(str(tmp_path / "missing" / "a.db"))
    with pytest.raises(ValueError, match="index_every"):
        appender(_log(tmp_path, "a.db"), index_every=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-2**63, 2**63 - 1), st.text(max_size=5).map(
    lambda t: t.encode("utf-8", "replace").decode("utf-8")), st.text(alphabet=st.characters(
        min_codepoint=32, max_codepoint=126), max_size=200)), max_size=6), max_size=5))
def test_compiled_and_pure_appenders_agree_on_random_commits(tmp_path_factory, commits):
    if "compiled" not in APPENDERS:
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    tmp = tmp_path_factory.mktemp("agree")
    dumps = []
    for impl in ("pure", "compiled"):
        path = _log(tmp, impl + ".db")
        a = APPENDERS[impl](path, index_every=4)
        heads = [a.append([((t, agent) + ("s", "Bash", "deny", "rules", "r", "q"), tail) for t, agent, tail in rows])
                 for rows in commits]
        a.close()
        dumps.append((heads, _dump(path)))
    assert dumps[0] == dumps[1]


MAKERS = _chain.row_makers()
if _chain.NO_EXTENSIONS:
    MAKERS.pop("compiled", None)


@pytest.fixture(params=["pure", pytest.param("compiled", marks=pytest.mark.compiled)])
def row_maker(request):
    """The RowMaker class of one implementation."""
    if request.param not in MAKERS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled RowMaker (lighthouse.audit._chain_c) is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return MAKERS[request.param]


def test_compiled_row_maker_loaded_when_expected():
    assert _chain.RowMaker is MAKERS["compiled" if EXPECT_COMPILED else "pure"]


_LIMIT = 2**63
_RIDS = ["", "r-1", 'q"uote', "back\\slash", "tab\there", "nul\0", "\x7f", "\x1f", "\u00e9t\u00e9", "\ud800lone",
         "\U0001f600", "x" * 600]


def _hard_entries():
    """Entries at every edge of the compiled row's fast path: times and durations at and
    past 64 bits (its sum with the offset too), request ids JSON must escape, clean or
    cannot encode, texts past the kept length, outcomes it does not keep or encode,
    escalations, inputs given as (kept, length, hash), entries that are lists."""
    plain = (3, 2, "r", "fs.rm-home", 1)
    out = []
    for t0 in (0, -1, -2**40, _LIMIT - 1 - 10**6, _LIMIT - 1, -_LIMIT, _LIMIT, 10**30, -10**30):
        out.append((t0, "grpc", "t", "a", "s", "Bash", "{}", "/", plain, 5, "", ()))
    for ns in (0, -7, _LIMIT - 1, -_LIMIT, _LIMIT, 10**25):
        out.append((1, "grpc", "n", "a", "s", "Bash", "{}", "/", plain, ns, "", ()))
    for rid in _RIDS:
        out.append((2, "local", rid, "a\0b", "s\u00e9", "T" * 700, '{"c":"\u00e9\ud800"}', "/w\0", plain, 1, "", ()))
    out += [
        (3, "grpc", "o", "a", "s", "Bash", "{}", "/", (3, 2, "why" * 300, "rule" * 100, 1), 1, "", ()),
        (4, "grpc", "o", "a", "s", "Bash", "{}", "/", (3, 2, "r", "x", True), 1, "", ()),
        (5, "grpc", "o", "a", "s", "Bash", "{}", "/", (3, 2, "r", "x", 1.5), 1, "", ()),
        (6, "grpc", "e", "a", "s", "Bash", "{}", "/", plain, 1, "esc-1", '[{"tier":"expert"}]'),
        (7, "spool", "k", "a", "s", "Bash", ("kept \u00e9", 99, "ab" * 32), "/", plain, 1, "", ()),
        (8, "grpc", "i", "a", "s", "Bash", '{"command":"%s"}' % ("\u00e9" * 5000), "/", plain, 1, "", ()),
        (True, "grpc", "b", "a", "s", "Bash", "{}", "/", plain, 1, "", ()),
        (9, "grpc", "f", "a", "s", "Bash", "{}", "/", plain, 2.5, "", ()),
        [10, "grpc", "l", "a", "s", "Bash", "{}", "/", plain, 1, "", ()],
        (11, "grpc", "p", "a", "s", "Bash", "{}", "/", [3, 2, "r", "x", 1], 1, "", ()),
    ]
    return out


@pytest.mark.parametrize("offset", [0, 12345, -99, _LIMIT - 5, -_LIMIT + 5, 10**20])
@pytest.mark.parametrize("max_input", [0, 3, 4096])
def test_row_maker_writes_make_rows_rows_at_every_edge(row_maker, offset, max_input):
    """Both RowMakers against make_row (the reference) on the edge entries, twice over so
    that the second pass runs from the kept encodings; a worker index of any size."""
    entries = _hard_entries()
    for worker in (0, 7, 2**70):
        maker = row_maker(worker, max_input)
        for _ in range(2):
            assert maker.rows(entries, offset) == [make_row(e, worker, offset, max_input) for e in entries]


def test_row_maker_keeps_bounded_encodings(row_maker):
    """The kept encodings are bounded (emptied past MEMO_ENTRIES), and a table emptied
    mid-stream changes no row."""
    from lighthouse.audit import record
    maker = row_maker(0)
    n = record.MEMO_ENTRIES + 50
    entries = [(i, "grpc", "r-%d" % i, "agent-%d" % i, "s", "Bash", '{"i":%d}' % i, "/", (1, 2, "r", "x", 1), 1, "", ())
               for i in range(n)]
    for k in range(0, n, 1000):
        part = entries[k:k + 1000]
        assert maker.rows(part, 0) == [make_row(e, 0, 0) for e in part]
        assert maker.kept() <= 4 * (record.MEMO_ENTRIES + 1)
    assert maker.kept() < 4 * 1000 + 8


def test_compiled_row_maker_errors_like_the_pure_one():
    """An entry neither can read (too few fields, an unhashable agent) raises in both;
    the writer process then writes each entry on its own (lighthouse.audit.process._row)."""
    if "compiled" not in MAKERS:
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    for bad in [(1, "grpc", "r"), (1, "grpc", "r", ["a"], "s", "Bash", "{}", "/", (1, 2, "r", "x", 1), 1, "", ())]:
        for maker in MAKERS.values():
            with pytest.raises((TypeError, ValueError)):
                maker(0).rows([bad], 0)
