"""The audit log's hash chain (lighthouse.audit._chain): the compiled module and its pure
twin give the same rows and hashes, both the chain of the record format (a log written
before either existed still verifies, and a log written by either verifies), and the
compiled one is loaded when extensions are expected."""

from __future__ import annotations

import hashlib
import json
import sqlite3

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


def test_a_log_chained_by_either_implementation_verifies_and_continues_the_other(tmp_path, monkeypatch):
    """Records appended alternately through the pure and the compiled chain form one log
    that `audit verify` accepts, with the hashes the record format documents (a log
    written before the compiled chain existed was chained by the pure code)."""
    from lighthouse.audit import sqlite as store
    path = str(tmp_path / "a.db")
    with SQLiteBackend(path) as b:
        for k, impl in enumerate(["pure", "compiled", "pure", "compiled"]):
            if impl not in IMPLS:
                if EXPECT_COMPILED:
                    pytest.fail("the compiled audit chain is expected but not importable")
                continue
            monkeypatch.setattr(store, "chain_rows", IMPLS[impl])
            b.append(_rows(7, reason="part %d" % k))
        assert verify(b).ok
    con = sqlite3.connect(path)
    prev = bytes.fromhex(GENESIS)
    for text, h in con.execute("SELECT record, hash FROM audit ORDER BY seq"):
        prev = hashlib.sha256(prev + text.encode("ascii")).digest()
        assert prev.hex() == h
    con.close()
