"""Rotation and retention of the SQLite audit log (lighthouse.audit.rotate): archives
chained to each other and to the live file, verify across the set (a missing file in
the middle is a gap, retention says where the kept chain starts), interrupted
rotations, and a server whose writer rotates under load. Real SQLite files, real
subprocesses, a real server."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import grpc
import pytest

from lighthouse.audit import GENESIS, SQLiteBackend, verify
from lighthouse.audit.record import make_row
from lighthouse.audit.rotate import apply_retention, archive_name, archives, rotate, used_bytes, verify_files
from lighthouse.cli import main
from lighthouse.server.app import ServerConfig
from lighthouse.server.wire import Outcome
from lighthouse.v1 import validation_pb2_grpc as pb_grpc
from lighthouse.vocab import TIER_RULES, VERDICT_DENY

from serverkit import ServerThread, quiet_grpc_logs, tool_call

quiet_grpc_logs()

DENY = Outcome(VERDICT_DENY, TIER_RULES, "no", "fs.rm-home", 1, "deny")


def append(path, n, start=0, time_ns=None):
    offset = (time.time_ns() if time_ns is None else time_ns) - time.perf_counter_ns()
    with SQLiteBackend(path) as b:
        return b.append([make_row((time.perf_counter_ns(), "grpc", "r-%d" % i, "a", "s", "Bash",
                                   '{"command":"rm -rf ~/%d"}' % i, "/", DENY, 1, "", ()), 0, offset)
                         for i in range(start, start + n)])


def request_ids(path):
    with SQLiteBackend(path, readonly=True) as b:
        return [r["request_id"] for r in b.records()]


def cli(capsys, *args):
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def live(tmp_path):
    return str(tmp_path / "audit.db")


def test_rotation_moves_records_and_the_chain_goes_on(live):
    append(live, 10)
    archive = rotate(live)
    assert archive == archive_name(live, 1, 10) and os.path.basename(archive) == "audit.000000000001-000000000010.db"
    assert os.stat(archive).st_mode & 0o777 == 0o600 and not os.path.exists(archive + ".tmp")
    assert request_ids(archive) == ["r-%d" % i for i in range(10)] and request_ids(live) == []
    with SQLiteBackend(archive, readonly=True) as a:
        last_hash = a.head()[1]
        assert verify(a).ok and a.meta()["genesis"] == GENESIS
    with SQLiteBackend(live, readonly=True) as b:
        assert b.meta()["first_seq"] == 11 and b.meta()["genesis"] == last_hash
        assert b.head() == (10, last_hash)
    # A writer that had the file open before the rotation goes on after it.
    assert append(live, 5, start=10)[0] == 15
    assert rotate(live) == archive_name(live, 11, 15)
    append(live, 3, start=15)
    assert rotate(str(live)) == archive_name(live, 16, 18)
    assert rotate(live) is None                             # nothing left to rotate
    append(live, 2, start=18)
    r = verify_files(live)
    assert r.ok and r.records == 20 and r.first_seq == 1 and r.last_seq == 20 and not r.retained, r.problem
    assert [len(request_ids(p)) for _, _, p in archives(live)] == [10, 5, 3]


def test_writer_open_across_a_rotation_chains_to_the_archive(live):
    # One connection kept open (the writer process's) while another process rotates.
    append(live, 4)
    with SQLiteBackend(live) as writer:
        rotate(live)
        writer.append([make_row((1, "grpc", "w-1", "a", "s", "Bash", "{}", "/", DENY, 1, "", ()), 0, 0)])
    assert verify_files(live).ok and request_ids(live) == ["w-1"]


def test_cli_verify_across_files_and_a_missing_file_in_the_middle(capsys, live):
    for k in range(3):
        append(live, 5, start=5 * k)
        rotate(live)
    append(live, 2, start=15)
    code, out, _ = cli(capsys, "verify", "--audit-db", live)
    assert code == 0 and "the chain verifies across 4 files: 17 records, last record 17" in out
    assert "the chain starts at record 1" in out
    code, out, _ = cli(capsys, "verify", "--audit-db", live, "--json")
    assert json.loads(out)["ok"] and len(json.loads(out)["files"]) == 4
    os.unlink(archive_name(live, 6, 10))
    code, out, _ = cli(capsys, "verify", "--audit-db", live)
    assert code == 3 and "records 6 to 10 are missing: a file was deleted between" in out


def test_archives_keep_their_lookup_tables_and_the_live_file_drops_the_rotated_entries(live, monkeypatch):
    from lighthouse.audit import Query
    from lighthouse.audit import sqlite as store
    monkeypatch.setattr(store, "INDEX_EVERY", 4)
    append(live, 10)
    archive = rotate(live)
    append(live, 6, start=10)
    with SQLiteBackend(archive, readonly=True) as a:
        assert a._indexed_seq() == 10 and a.index_problem() is None
        assert [r["seq"] for r in a.records(Query(agent_id="a", newest_first=True, limit=3))] == [10, 9, 8]
    with SQLiteBackend(live, readonly=True) as b:
        assert b.index_problem() is None and verify(b).ok
        assert b.db.execute("SELECT min(seq) FROM audit_by_agent").fetchone()[0] == 11
        assert b.count(Query(session_id="s")) == 6


def test_query_and_export_across_files(capsys, live):
    """--all-files reads the archives and the live file as one log: the newest records
    across the files, the oldest, every record in chain order, filters applied in each."""
    for k in range(3):
        append(live, 5, start=5 * k)
        rotate(live)
    append(live, 3, start=15)
    code, out, _ = cli(capsys, "query", "--audit-db", live, "--json", "--limit", "7", "--all-files")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == list(range(12, 19))
    code, out, _ = cli(capsys, "query", "--audit-db", live, "--json", "--limit", "7", "--oldest-first", "--all-files")
    assert [r["seq"] for r in json.loads(out)] == list(range(1, 8))
    code, out, _ = cli(capsys, "query", "--audit-db", live, "--json", "--limit", "0")     # the live file alone
    assert [r["seq"] for r in json.loads(out)] == [16, 17, 18]
    code, out, _ = cli(capsys, "export", "--audit-db", live, "--all-files")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, 19)) and lines[3]["request_id"] == "r-3"
    code, out, _ = cli(capsys, "export", "--audit-db", live, "--all-files", "--request-id", "r-7")
    assert [json.loads(x)["seq"] for x in out.splitlines()] == [8]
    code, _, err = cli(capsys, "export", "--audit-dsn", "postgresql://nobody@127.0.0.1:1/none", "--all-files")
    assert code == 2 and "--all-files reads the archives of an SQLite log" in err


def test_records_in_two_files_after_an_interrupted_rotation_are_read_once(capsys, live):
    append(live, 6)
    archive = rotate(live)
    append(live, 2, start=6)
    # The copy of a later rotation written, its cut not made: records 7-8 in both files.
    import shutil
    shutil.copy(live, archive_name(live, 7, 8))
    code, out, _ = cli(capsys, "export", "--audit-db", live, "--all-files")
    assert [json.loads(x)["seq"] for x in out.splitlines()] == list(range(1, 9))
    code, out, _ = cli(capsys, "query", "--audit-db", live, "--all-files", "--json")
    assert [r["seq"] for r in json.loads(out)] == list(range(1, 9))
    assert archive


def test_tampering_inside_an_archive_is_found(capsys, live):
    append(live, 8)
    archive = rotate(live)
    append(live, 2, start=8)
    with sqlite3.connect(archive) as con:
        con.execute("UPDATE audit SET record = replace(record, 'rm -rf', 'ls') WHERE seq = 3")
    r = verify_files(live)
    assert not r.ok and "BROKEN at record 3" in r.problem and r.records == 0


def test_an_archive_replaced_by_another_chain_is_found(live, tmp_path):
    append(live, 5)
    rotate(live)
    append(live, 2, start=5)
    # Records 1-5 written again elsewhere (a forged chain from the genesis) put in place.
    other = str(tmp_path / "other" / "audit.db")
    append(other, 5, start=100)
    os.replace(rotate(other), archive_name(live, 1, 5))
    r = verify_files(live)
    assert not r.ok and "does not continue" in r.problem


def test_retention_by_size_keeps_the_newest_and_verify_says_where_the_chain_starts(capsys, live):
    for k in range(4):
        append(live, 400, start=400 * k)
        rotate(live)
    append(live, 5, start=1600)
    sizes = [os.path.getsize(p) for _, _, p in archives(live)]
    # Room for the newest archive of 400 records, and 100 kB for the archive of 5 the
    # rotation makes and the live file's pages in use (a few pages each): not for two.
    assert min(sizes) > 120_000
    budget = sizes[-1] + 100_000
    code, out, _ = cli(capsys, "rotate", "--audit-db", live, "--max-bytes", str(budget))
    assert code == 0 and "rotated into" in out and out.count("deleted by retention") == 3
    left = archives(live)
    assert [(a, b) for a, b, _ in left] == [(1201, 1600), (1601, 1605)]
    with SQLiteBackend(live, readonly=True) as b:
        assert b.meta()["retained_seq"] == 1201
    code, out, _ = cli(capsys, "verify", "--audit-db", live)
    assert code == 0 and "the retained chain starts at record 1201, chained to hash" in out
    r = verify_files(live)
    assert r.ok and r.first_seq == 1201 and r.records == 405 and r.retained
    with SQLiteBackend(left[0][2], readonly=True) as a:
        assert r.start_hash == a.meta()["genesis"] != GENESIS
    # The oldest file kept deleted by hand, beyond what retention removed: found.
    os.unlink(left[0][2])
    code, out, _ = cli(capsys, "verify", "--audit-db", live)
    assert code == 3 and "records 1201 to 1600 are missing: a file was deleted before" in out


def test_retention_by_age(live):
    old = time.time_ns() - 10 * 86400 * 10**9
    append(live, 5, time_ns=old)
    rotate(live)
    append(live, 5, start=5, time_ns=old + 5 * 86400 * 10**9)
    rotate(live)
    append(live, 5, start=10)
    rotate(live)
    deleted = apply_retention(live, max_age_ns=7 * 86400 * 10**9)
    assert deleted == [archive_name(live, 1, 5)]
    assert [a for a, _, _ in archives(live)] == [6, 11]
    assert verify_files(live).ok and verify_files(live).first_seq == 6


def test_interrupted_rotation_is_reported_and_finished(capsys, live):
    append(live, 6)
    with SQLiteBackend(live) as b:
        first, last, genesis = 1, 6, b.meta()["genesis"]
        from lighthouse.audit.rotate import _copy
        _copy(b, archive_name(live, 1, 6) + ".tmp", first, last, genesis)
    os.rename(archive_name(live, 1, 6) + ".tmp", archive_name(live, 1, 6))   # the copy, without the cut
    append(live, 2, start=6)
    r = verify_files(live)
    assert not r.ok and "records 1 to 6 are in two files" in r.problem
    assert rotate(live) == archive_name(live, 7, 8)         # finishes the first, then rotates
    assert verify_files(live).ok and [(a, b) for a, b, _ in archives(live)] == [(1, 6), (7, 8)]


def test_rotate_usage_errors(capsys, live, tmp_path):
    code, _, err = cli(capsys, "rotate", "--audit-db", live)
    assert code == 1 and "no such file" in err
    append(live, 1)
    code, _, err = cli(capsys, "rotate", "--audit-db", live, "--max-bytes", "lots")
    assert code == 2 and "'lots' is not a size" in err
    code, _, err = cli(capsys, "rotate", "--audit-db", live, "--max-age=0d")
    assert code == 2 and "not an age" in err
    code, _, err = cli(capsys, "rotate", "--audit-dsn", "postgresql:///x")
    assert code == 2 and "a PostgreSQL log is one table, not rotated: give --max-bytes or --max-age" in err


def test_server_writer_rotates_and_prunes_under_load(live):
    """--audit-max-bytes: the writer process rotates the live file once past an eighth of
    it, prunes the oldest archives, and every decision stays in one verifiable chain."""
    sent = []
    config = ServerConfig(port=0, metrics_port=0, rate_limit=0, local_socket=False, audit_db=live,
                          audit_max_bytes=400_000)
    with ServerThread(config) as s, grpc.insecure_channel(s.address) as ch:
        stub = pb_grpc.ValidatorStub(ch)
        deadline = time.monotonic() + 90
        def pruned():                   # rotated, and the oldest archives deleted
            found = archives(live)
            return s.server.audit.rotations >= 3 and len(found) >= 2 and found[0][0] > 1

        while time.monotonic() < deadline and not pruned():
            for _ in range(20):
                rid = "c-%d" % len(sent)
                stub.Validate(tool_call(tool_input="rm -rf ~/%s %s" % (rid, "x" * 800), request_id=rid), timeout=10)
                sent.append(rid)
            time.sleep(0.2)
        assert pruned(), "the writer did not rotate and prune (%d rotations)" % s.server.audit.rotations
    files = [p for _, _, p in archives(live)] + [live]
    with SQLiteBackend(live, readonly=True) as b:
        total = sum(os.path.getsize(p) for p in files[:-1]) + used_bytes(b.db)
    r = verify_files(live)
    assert r.ok, r.problem
    kept = [rid for p in files for rid in request_ids(p)]
    assert kept == sent[len(sent) - len(kept):]             # the newest, in order, none missing
    assert r.retained and len(files) >= 3
    assert total <= 400_000 + 60_000        # the live file's records: under an eighth, and a batch
    assert r.records == len(kept) and r.last_seq == len(sent)
