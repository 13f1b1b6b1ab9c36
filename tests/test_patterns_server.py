"""Learned patterns in a real server: who counts as a person, pattern answers cached as
tier-0 hits (and dropped when the pattern is retired, here or by another process), exact
words sent by an expert over ExpertHub, and Admin.PromotePattern round trips."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import grpc
import pytest

from lighthouse.experts.agent import ExpertRefused
from lighthouse.experts.sim import SimulatedExpert
from lighthouse.patterns import PatternBook
from lighthouse.patterns.shapes import Shape
from lighthouse.server.auth import TokenStore, add_token
from lighthouse.server.config import ANY_PORT
from lighthouse.v1 import admin_pb2, admin_pb2_grpc
from lighthouse.v1 import validation_pb2 as pb

from serverkit import ROOT, ServerThread, WS, sample, scrape, tool_call
from test_experts import connect, disconnect, hub_config, registered, wait_for


def pattern_config(tmp_path, **kw):
    return hub_config(tmp_path, patterns_db=str(tmp_path / "patterns.db"), **kw)


def lighthouse(*args):
    return subprocess.run([sys.executable, "-m", "lighthouse.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=str(ROOT))


# ------------------------------------------------------------------ who is a person

def test_a_self_declared_person_without_the_role_is_an_ordinary_expert(tmp_path, loop, stub_of):
    sim = SimulatedExpert("mallory", "allow", "0", scope="shape")
    with ServerThread(pattern_config(tmp_path)) as server:
        connect(loop, server, sim, person=True)             # no tokens, no --trust-local-persons
        assert not server.server.experts.get("mallory").person
        stub = stub_of(server)
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        book = server.server.patterns
        wait_for(lambda: book.learned == 1, what="the answer to be learned")
        assert book.counts()["active"] == 0                 # one ordinary answer: still pending
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/b.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="two answers to activate the pattern")


def test_without_tokens_trust_local_persons_is_the_explicit_rule(tmp_path, loop, stub_of):
    sim = SimulatedExpert("alice", "allow", "0", scope="shape")
    with ServerThread(pattern_config(tmp_path, trust_local_persons=True)) as server:
        connect(loop, server, sim, person=True)
        assert server.server.experts.get("alice").person
        stub = stub_of(server)
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: server.server.patterns.counts()["active"] == 1, what="one answer to activate it")
        d = stub.Validate(tool_call("Bash", "zzfrobnicate --now data/b.csv"), timeout=30)
        assert (d.tier, d.verdict) == (pb.TIER_PATTERN, pb.VERDICT_ALLOW) and "1 answer of alice" in d.reason


def test_with_tokens_only_the_person_role_makes_a_person(tmp_path, loop, stub_of):
    path = tmp_path / "tokens"
    agent = add_token(path, "agent-1")
    expert = add_token(path, "bot-1", expert=True)
    person = add_token(path, "alice", person=True)
    roles = {i.agent_id: i.roles for _, i in TokenStore(path).items()}
    assert roles == {"agent-1": ("agent",), "bot-1": ("expert",), "alice": ("expert", "person")}
    assert open(path).read().splitlines()[-1].endswith(" person")
    # trust_local_persons does not apply with tokens: the role decides.
    with ServerThread(pattern_config(tmp_path, tokens=str(path), trust_local_persons=True)) as server:
        bot = connect(loop, server, SimulatedExpert("bot-1", "allow", "0", scope="shape"), token=expert,
                      person=True)
        assert not server.server.experts.get("bot-1").person
        stub = stub_of(server, (("authorization", "Bearer " + agent),))
        book = server.server.patterns
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.learned == 1, what="the bot's answer to be learned")
        assert [p.state for p in book.patterns()] == ["pending"]
        disconnect(loop, bot)
        wait_for(lambda: len(server.server.experts) == 0, what="the bot to leave")
        connect(loop, server, SimulatedExpert("alice", "allow", "0", scope="shape"), token=person, person=True)
        assert server.server.experts.get("alice").person
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --slow data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="the person's answer to activate its pattern")
        assert {(p.shape, p.state) for p in book.patterns()} == {("zzfrobnicate --now <ws-path>", "pending"),
                                                                 ("zzfrobnicate --slow <ws-path>", "active")}
    out = lighthouse("tokens", "add", "bob", "--person", "--file", str(path))
    assert out.returncode == 0, out.stderr
    assert lighthouse("tokens", "list", "--file", str(path)).stdout.count("expert person") == 2


def test_a_person_whose_role_or_token_is_revoked_stops_counting_as_one_at_the_reload(tmp_path, loop, stub_of):
    """The tokens file is reloaded (Admin.ReloadPolicy) while a person's stream is open:
    with the person role taken away, the stream stays and its very next answer counts as
    an ordinary expert's (one answer no longer activates a pattern); with the token
    removed, the stream is ended and the token refused."""
    path = tmp_path / "tokens"
    agent = add_token(path, "agent-1")
    admin = add_token(path, "ops", admin=True)
    person = add_token(path, "alice", person=True)
    with ServerThread(pattern_config(tmp_path, tokens=str(path), reload_interval=0)) as server:
        alice = connect(loop, server, SimulatedExpert("alice", "allow", "0", scope="shape"), token=person,
                        person=True)
        stub = stub_of(server, (("authorization", "Bearer " + agent),))
        book = server.server.patterns
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="the person's answer to activate its pattern")

        def reload():
            with grpc.insecure_channel(server.address) as ch:
                admin_pb2_grpc.AdminStub(ch).ReloadPolicy(admin_pb2.ReloadPolicyRequest(),
                                                          metadata=(("authorization", "Bearer " + admin),), timeout=60)

        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line.replace(" person\n", " expert\n") if line.startswith("alice ") else line
                                for line in lines))
        reload()
        expert = server.server.experts.get("alice")
        assert expert is not None and not expert.person and alice.connections == 1     # the same stream
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --slow data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.learned == 2, what="the answer to be learned")
        assert {(p.shape, p.state, p.agreeing) for p in book.patterns()} == {
            ("zzfrobnicate --now <ws-path>", "active", 1), ("zzfrobnicate --slow <ws-path>", "pending", 1)}
        # Removed from the file: the stream ends, and the token opens none again.
        path.write_text("".join(line for line in lines if not line.startswith("alice ")))
        reload()
        wait_for(lambda: server.server.experts.get("alice") is None, what="alice's stream to end")
        with pytest.raises(ExpertRefused, match="bearer token revoked"):
            alice.task.result(30)
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --fast data/a.csv"), timeout=30).tier != pb.TIER_EXPERT
        assert book.learned == 2 and {p.state for p in book.patterns()} == {"active", "pending"}


# ------------------------------------------------------------------ pattern answers in the cache

def test_a_repeated_call_answered_by_a_pattern_is_a_cache_hit_until_the_pattern_is_retired(tmp_path, loop,
                                                                                           stub_of):
    """A pattern's answer is cached; retiring the pattern drops its cached answers and
    only those: another pattern's cached answer, and an expert's, are still tier-0 hits."""
    sim = SimulatedExpert("alice", "allow", "0", scope="shape", reusable=True)
    with ServerThread(pattern_config(tmp_path, trust_local_persons=True)) as server:
        connect(loop, server, sim, person=True)
        stub = stub_of(server)
        book = server.server.patterns
        cache = server.server.pipeline.cache
        stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30)
        wait_for(lambda: book.counts()["active"] == 1, what="the pattern to become active")
        stub.Validate(tool_call("Bash", "zzquux --dry data/a.csv"), timeout=30)
        wait_for(lambda: book.counts()["active"] == 2, what="the second pattern to become active")
        call = tool_call("Bash", "zzfrobnicate --now data/b.csv")
        kept = tool_call("Bash", "zzquux --dry data/b.csv")
        expert = tool_call("Bash", "zzother data/b.csv", session_id="s-x")
        assert stub.Validate(call, timeout=30).tier == pb.TIER_PATTERN
        assert stub.Validate(kept, timeout=30).rule_id == "pattern:2"
        assert stub.Validate(expert, timeout=30).tier == pb.TIER_EXPERT and sim.calls == 3
        hits = book.hits
        d = stub.Validate(call, timeout=30)
        assert (d.tier, d.verdict, d.rule_id) == (pb.TIER_CACHE, pb.VERDICT_ALLOW, "pattern:1")
        assert book.hits == hits and sim.calls == 3         # the tier was not asked again
        entries, invalidations = len(cache), cache.invalidations
        # Retired through Admin: its cached answers go with it, and only those.
        with grpc.insecure_channel(server.address) as ch:
            admin_pb2_grpc.AdminStub(ch).ReviewPattern(admin_pb2.ReviewPatternRequest(id=1, action="retire"),
                                                       metadata=server.admin_metadata, timeout=30)
        wait_for(lambda: len(cache) == entries - 1, what="pattern 1's cached answer to be dropped")
        assert cache.forgotten == 1 and cache.invalidations == invalidations
        d = stub.Validate(call, timeout=30)
        assert d.tier == pb.TIER_EXPERT and sim.calls == 4
        for c, rule_id in ((kept, "pattern:2"), (expert, "expert:alice")):
            d = stub.Validate(c, timeout=30)
            assert (d.tier, d.rule_id) == (pb.TIER_CACHE, rule_id)
        # Approved again, then retired by another process (the CLI on the file).
        book.approve(1, "alice")
        other = tool_call("Bash", "zzfrobnicate --now data/c.csv")
        assert stub.Validate(other, timeout=30).tier == pb.TIER_PATTERN
        assert stub.Validate(other, timeout=30).tier == pb.TIER_CACHE
        out = lighthouse("patterns", "retire", "1", "--db", str(tmp_path / "patterns.db"))
        assert out.returncode == 0, out.stderr
        wait_for(lambda: cache.forgotten == 2, timeout=30, what="the server to notice the retirement in the file")
        d = stub.Validate(other, timeout=30)
        assert d.tier == pb.TIER_EXPERT and sim.calls == 5
        assert stub.Validate(kept, timeout=30).tier == pb.TIER_CACHE


# ------------------------------------------------------------------ hits and forgotten patterns

def test_pattern_hits_are_written_in_batches_and_forgotten_patterns_counted_by_reason(tmp_path, loop, stub_of):
    """Each call a pattern answers counts one hit of that pattern, in memory first: the
    file's column is written about every second, in one transaction for every pattern
    hit meanwhile, and the Admin RPC, `lighthouse patterns list/show` and the book show
    the count. Patterns retired by a disagreeing answer or by a person are counted in
    lighthouse_pattern_forgotten_total by reason."""
    import sqlite3
    db = str(tmp_path / "patterns.db")
    sim = SimulatedExpert("alice", "allow", "0", scope="shape")
    with ServerThread(pattern_config(tmp_path, trust_local_persons=True, metrics_port=ANY_PORT)) as server:
        connect(loop, server, sim, person=True)
        stub = stub_of(server)
        book = server.server.patterns
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="the pattern to become active")
        for name in "bcd":
            d = stub.Validate(tool_call("Bash", "zzfrobnicate --now data/%s.csv" % name), timeout=30)
            assert (d.tier, d.rule_id) == (pb.TIER_PATTERN, "pattern:1")
        # A repeated call is a tier-0 hit of the slow-tier cache, not a pattern hit.
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/d.csv"), timeout=30).tier == pb.TIER_CACHE

        def written():
            with sqlite3.connect(db) as c:
                return c.execute("SELECT hits FROM patterns WHERE id = 1").fetchone()[0]
        wait_for(lambda: written() == 3, timeout=30, what="the hits to be written to the file")
        assert book.get(1).hits == 3
        with grpc.insecure_channel(server.address) as ch:
            admin = admin_pb2_grpc.AdminStub(ch)
            listed = admin.ListPatterns(admin_pb2.ListPatternsRequest(), metadata=server.admin_metadata, timeout=30)
            assert [(p.id, p.hits) for p in listed.patterns] == [(1, 3)]
            out = lighthouse("patterns", "show", "1", "--db", db)
            assert out.returncode == 0 and "hits:      3 calls answered" in out.stdout, out.stdout + out.stderr
            out = lighthouse("patterns", "list", "--db", db, "--json")
            assert [json.loads(line)["hits"] for line in out.stdout.splitlines()] == [3]
            # Retired by a person through Admin: forgotten for review.
            admin.ReviewPattern(admin_pb2.ReviewPatternRequest(id=1, action="retire"),
                                metadata=server.admin_metadata, timeout=30)
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/e.csv"), timeout=30).tier == pb.TIER_EXPERT
        # A second shape, active, then retired by a disagreeing answer (an expert's about
        # a call of that shape, recorded as the expert tier's learner would).
        stub.Validate(tool_call("Bash", "zzquux --dry data/a.csv"), timeout=30)
        wait_for(lambda: book.counts()["active"] == 1, what="the second pattern to become active")
        p = book.get(2)
        book.learn(p.context, Shape(p.tool, p.shape), {"command": "zzquux --dry data/z.csv"}, "bob", "ask", "call")
        wait_for(lambda: book.counts()["active"] == 0, what="the disagreeing answer to retire it")
        s = scrape(server.server.metrics_port)
        assert sample(s, "lighthouse_pattern_forgotten_total", reason="review") == 1
        assert sample(s, "lighthouse_pattern_forgotten_total", reason="disagreement") == 1
        assert sample(s, "lighthouse_pattern_forgotten_total", reason="pruned") == 0
        assert sample(s, "lighthouse_pattern_forgotten_total", reason="file") == 0


def test_huge_nested_and_odd_variations_of_a_learned_shape_are_never_a_pattern_answer(tmp_path, loop, stub_of):
    """Against a real server: with a learned active pattern, variations the agent can
    craft (100,000 arguments, thousands of distinct flags, deep nesting, NUL bytes, a
    look-alike program) are never answered by the pattern; a limit sends the call on to
    the experts (or its fail mode), and a variation of truly the same shape is answered."""
    sim = SimulatedExpert("alice", "deny", "0", scope="call")
    with ServerThread(pattern_config(tmp_path, trust_local_persons=True)) as server:
        book = server.server.patterns
        learner = connect(loop, server, SimulatedExpert("bob", "allow", "0", scope="shape"), person=True)
        stub = stub_of(server)
        assert stub.Validate(tool_call("Bash", "zzfrobnicate --now data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="the pattern to become active")
        d = stub.Validate(tool_call("Bash", "zzfrobnicate --now data/b.csv"), timeout=30)
        assert (d.tier, d.verdict) == (pb.TIER_PATTERN, pb.VERDICT_ALLOW)
        disconnect(loop, learner)
        wait_for(lambda: not registered(server, "bob"), what="the teaching expert to leave")
        connect(loop, server, sim)          # what reaches the experts now is denied
        for command in ("zzfrobnicate --now " + " ".join(["data/a.csv"] * 100000),
                        "zzfrobnicate --now " + " ".join("--f%d" % k for k in range(3000)) + " data/a.csv",
                        "zzfrobnicate --now " + "$(zzfrobnicate --now " * 200 + "x" + ")" * 200,
                        "zzfrobnicate --now data/a.csv\x00; rm -rf ~", "zzfrobnicate --now data/\x00a.csv",
                        "zzfr\u043ebnicate --now data/a.csv", "zzfrobnicate --now ~/.ssh/id_rsa"):
            d = stub.Validate(tool_call("Bash", command), timeout=60)
            assert d.tier != pb.TIER_PATTERN and d.verdict != pb.VERDICT_ALLOW, (command[:60], d)
        assert book.get(1).state == "active"


# ------------------------------------------------------------------ exact words over ExpertHub

def test_an_experts_exact_words_over_the_hub_keep_the_pattern_to_its_environment(tmp_path, loop, stub_of):
    sim = SimulatedExpert("alice", "allow", "0", scope="shape", exact=("staging",))
    with ServerThread(pattern_config(tmp_path, trust_local_persons=True)) as server:
        connect(loop, server, sim, person=True)
        stub = stub_of(server)
        book = server.server.patterns
        assert stub.Validate(tool_call("Bash", "zzdeploy staging data/a.csv"), timeout=30).tier == pb.TIER_EXPERT
        wait_for(lambda: book.counts()["active"] == 1, what="the pattern to become active")
        d = stub.Validate(tool_call("Bash", "zzdeploy staging data/b.csv"), timeout=30)
        assert (d.tier, d.verdict) == (pb.TIER_PATTERN, pb.VERDICT_ALLOW) and "zzdeploy staging <ws-path>" in d.reason
        d = stub.Validate(tool_call("Bash", "zzdeploy prod data/b.csv"), timeout=30)
        assert d.tier == pb.TIER_EXPERT and sim.calls == 2
        with grpc.insecure_channel(server.address) as ch:
            listed = admin_pb2_grpc.AdminStub(ch).ListPatterns(admin_pb2.ListPatternsRequest(state="active"),
                                                               metadata=server.admin_metadata, timeout=30)
        assert [(p.shape, list(p.exact)) for p in listed.patterns] == [("zzdeploy staging <ws-path>", ["staging"])]


# ------------------------------------------------------------------ Admin.PromotePattern

def test_promote_through_the_admin_rpc_round_trip(tmp_path, loop):
    sim = SimulatedExpert("alice", "allow", "0", scope="shape")
    rules = tmp_path / "mine.toml"
    with ServerThread(pattern_config(tmp_path)) as server:
        connect(loop, server, sim)
        from lighthouse.v1 import validation_pb2_grpc
        with grpc.insecure_channel(server.address) as ch:
            stub = validation_pb2_grpc.ValidatorStub(ch)
            for name in ("a", "b"):
                stub.Validate(tool_call("Bash", "zzfrobnicate --now data/%s.csv" % name), timeout=30)
            wait_for(lambda: server.server.patterns.learned == 2, what="the answers to be learned")
            admin = admin_pb2_grpc.AdminStub(ch)
            md = server.admin_metadata
            r = admin.PromotePattern(admin_pb2.PromotePatternRequest(id=1, rules_file=str(rules)), metadata=md,
                                     timeout=60)
            assert (r.rule_id, r.rules_file) == ("learned.pattern-1", str(rules))
            assert r.rule_toml in rules.read_text() and 'program = "zzfrobnicate"' in r.rule_toml
            assert "data/a.csv" in r.rule_toml and "data/b.csv" in r.rule_toml
            text = rules.read_text()
            for req, code in (
                    (admin_pb2.PromotePatternRequest(id=1, rules_file=str(rules)), grpc.StatusCode.FAILED_PRECONDITION),
                    (admin_pb2.PromotePatternRequest(id=9, rules_file=str(rules)), grpc.StatusCode.NOT_FOUND),
                    (admin_pb2.PromotePatternRequest(id=1, rules_file="mine.toml"), grpc.StatusCode.INVALID_ARGUMENT),
                    (admin_pb2.PromotePatternRequest(id=1, rules_file=str(tmp_path / "x.txt")),
                     grpc.StatusCode.INVALID_ARGUMENT)):
                with pytest.raises(grpc.RpcError) as e:
                    admin.PromotePattern(req, metadata=md, timeout=60)
                assert e.value.code() == code, req
                if code == grpc.StatusCode.FAILED_PRECONDITION:
                    assert "already holds rule learned.pattern-1" in e.value.details()
            with pytest.raises(grpc.RpcError) as e:
                admin.PromotePattern(admin_pb2.PromotePatternRequest(id=1, rules_file=str(rules)), timeout=60)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert rules.read_text() == text and not os.path.exists(tmp_path / "x.txt")
            # The same through `lighthouse admin promote`, with the admin secret as the token.
            token = dict(md)["authorization"].split(" ", 1)[1]
            server.server.patterns.learn("miss", _shape("zzfrobnicate --slow data/c.csv"), _call(), "bob", "allow",
                                         "shape", "fine", person=True)
            out = lighthouse("admin", "promote", "2", "--rules", str(rules), "--server", server.address,
                             "--token", token)
            assert out.returncode == 0, out.stderr
            assert 'id = "learned.pattern-2"' in out.stdout and "appended to %s" % rules in out.stderr
    out = lighthouse("rules", "test", str(rules))
    assert out.returncode == 0 and "3 examples" in out.stdout, out.stdout + out.stderr
    ok = lighthouse("check", "--rules", str(rules), "--no-policy", "--command", "zzfrobnicate --now data/new.csv",
                    "--cwd", WS)
    assert json.loads(ok.stdout)["rule_id"] == "learned.pattern-1"


def _shape(command):
    from lighthouse.patterns import call_shape
    from lighthouse.policy.input import RuleFacts
    return call_shape("Bash", {"command": command}, WS, "/home/dev", RuleFacts.shipped().spec)


def _call():
    return {"tool": "Bash", "input": {"command": "zzfrobnicate --slow data/c.csv"}, "cwd": WS, "home": "/home/dev"}


def test_an_old_patterns_file_gains_the_literal_columns(tmp_path):
    import sqlite3
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.executescript("""CREATE TABLE patterns (id INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, context TEXT NOT NULL,
        tool TEXT NOT NULL, shape TEXT NOT NULL, verdict TEXT NOT NULL, state TEXT NOT NULL,
        agreeing INTEGER NOT NULL DEFAULT 0, taught_by TEXT NOT NULL DEFAULT '', first_reason TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL, updated_at REAL NOT NULL, activated_at REAL, retired_at REAL,
        note TEXT NOT NULL DEFAULT '', hits INTEGER NOT NULL DEFAULT 0);
        INSERT INTO patterns VALUES (1, x'00', 'miss', 'Bash', 'make docs', 'allow', 'active', 2, 'e1,e2', 'ok',
                                     1, 1, 1, NULL, '', 0);""")
    db.commit()
    db.close()
    book = PatternBook(path)
    (p,) = book.patterns()
    assert (p.shape, p.literals, p.generic, p.words) == ("make docs", "", "", frozenset())
    assert book.match_text("miss", "Bash", "make docs").id == 1
    book.close()
