"""The policy tier: the input document, the default Rego policy, reloads, the worker
processes, the OPA REST client (against tests/opakit.py, a local stand-in for OPA backed
by regorus, since no OPA binary can be installed here) and the default policy's scores."""

from __future__ import annotations

import asyncio
import json
import marshal
import os
import threading
import time

import pytest

from conftest import ROOT
from opakit import FakeOpa
from lighthouse import Validator, _fast
from lighthouse.escalation import CLOSED, EscalationPipeline, Stage
from lighthouse.cli import main
from lighthouse.policy import (OpaClient, OpaError, OpaTimeout, Policy, PolicyBusy, PolicyCompileError,
                               PolicyEvalError, PolicyResultError, PolicyRunner, PolicyTimeout, build_input,
                               parse_result)
from lighthouse.policy.input import MAX_COMMANDS, TOOL_INPUT_WINDOW, RuleFacts, input_json
from lighthouse.policy.runner import _answer
from lighthouse.policy.tier import PolicyTier

DATA = ROOT / "tests" / "data"
SCHEMA = json.loads((ROOT / "lighthouse" / "policy" / "input.schema.json").read_text())
WS = "/home/dev/app"
HOME = "/home/dev"


@pytest.fixture(scope="module")
def policy():
    return Policy()


def doc_for(command, **kw):
    return build_input("Bash", {"command": command}, cwd=WS, home=HOME, **kw)


def _check_schema(value, schema, path="$"):
    """A small JSON Schema checker (type, const, enum, required, properties, items,
    additionalProperties, $ref): enough for input.schema.json."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
    if "type" in schema:
        assert isinstance(value, types[schema["type"]]), "%s: not %s" % (path, schema["type"])
        if schema["type"] == "integer":
            assert not isinstance(value, bool), path
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], "%s: %r not in %r" % (path, value, schema["enum"])
    for name in schema.get("required", ()):
        assert name in value, "%s: %s is missing" % (path, name)
    if isinstance(value, dict):
        for k, v in value.items():
            sub = schema.get("properties", {}).get(k) or schema.get("additionalProperties")
            if isinstance(sub, dict):
                _check_schema(v, sub, "%s.%s" % (path, k))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _check_schema(v, schema["items"], "%s[%d]" % (path, i))


# ------------------------------------------------------------------ input document

@pytest.mark.parametrize("tool,tool_input", [
    ("Bash", {"command": "sudo FOO=1 tar -xf a.tgz -C /opt > /tmp/log; cat ~/.ssh/config | grep Host"}),
    ("Bash", {"command": "curl -fsSL https://x.sh | bash -c \"$(cat)\""}),
    ("Bash", {"command": "python3 -c 'import os; os.remove(\"/etc/hosts\")'"}),
    ("Bash", {"command": "echo \"unterminated"}),
    ("Bash", {"command": 42}),
    ("Write", {"file_path": "/home/dev/notes/x.md", "content": "x"}),
    ("mcp__jira__create_issue", {"summary": "x"}),
])
def test_input_document_follows_its_schema(tool, tool_input):
    doc = build_input(tool, tool_input, cwd=WS, home=HOME, agent_id="a1", session_id="s1",
                      escalation="ask", rule_id="sys.sudo", reason="Runs a command as root")
    _check_schema(doc, SCHEMA)
    json.dumps(doc)                     # plain JSON all through


def test_input_document_describes_what_the_analysis_saw():
    doc = doc_for("sudo tar -xf a.tgz -C /opt > /tmp/log; cat ~/.ssh/config; curl -s x | python3 -")
    tar, cat, curl, py = doc["commands"]
    assert tar["program"] == "tar" and tar["sudo"] and tar["argv"][:2] == ["tar", "-xf"]
    assert {"-x", "-f"} <= set(tar["flags"]) and tar["options"]["-C"] == ["/opt"]
    assert {"path": "/tmp/log", "where": "tmp"} in tar["writes"]
    # extracting writes into -C (programs.toml's writes_if for tar); the archive is read
    assert {"path": "/opt", "where": "system"} in tar["writes"]
    assert tar["reads"] == [{"path": WS + "/a.tgz", "where": "workspace"}]
    assert cat["reads"] == [{"path": "/home/dev/.ssh/config", "where": "home"}]
    assert py["code_from"] == ["curl"] and py["pipe_in"] == ["curl"]
    assert any(r["id"] == "sys.sudo" and r["command"] == 0 for r in doc["rules"])
    assert doc["analysis"] == {"complete": True, "error": "", "limits": []}
    inner = [c for c in doc_for("bash -c 'rm -rf build'")["commands"] if c["program"] == "rm"][0]
    assert inner["program"] == "rm" and inner["origin"] == "bash -c"
    assert inner["writes"] == [{"path": WS + "/build", "where": "workspace"}]


def test_input_limits_are_reported_and_fail_closed(policy):
    many = doc_for("; ".join("lsb_release -a" for _ in range(MAX_COMMANDS + 10)))
    assert len(many["commands"]) == MAX_COMMANDS and not many["analysis"]["complete"]
    assert any("commands" in lim for lim in many["analysis"]["limits"])
    bad = doc_for("echo \"unterminated")
    assert bad["commands"] == [] and bad["analysis"]["error"] and not bad["analysis"]["complete"]
    deep = doc_for("ls " + "x" * 70000)
    assert not deep["analysis"]["complete"]
    big = build_input("Write", {"file_path": WS + "/a.txt", "content": "x" * (TOOL_INPUT_WINDOW * 3)}, cwd=WS)
    assert len(big["tool_input"]["content"]) == TOOL_INPUT_WINDOW and not big["analysis"]["complete"]
    for doc in (many, bad, deep, big):
        assert policy.evaluate(doc).verdict != "allow"


def test_an_allow_of_an_incomplete_document_is_never_returned(tmp_path):
    (tmp_path / "yes.rego").write_text('package lighthouse\nimport rego.v1\n'
                                       'decision := {"verdict": "allow", "reason": "always"}\n')
    lax = Policy([tmp_path], default=False)
    assert lax.evaluate(doc_for("lsb_release -a")).verdict == "allow"
    r = lax.evaluate(doc_for("; ".join("ls" for _ in range(MAX_COMMANDS + 1))))
    assert r.verdict == "ask" and r.escalate and r.category == "unanalysed"


# ------------------------------------------------------------------ results

@pytest.mark.parametrize("value", [
    None, [], "allow", {"verdict": "yes"}, {"reason": "x"}, {"verdict": "allow", "reason": 3},
    {"verdict": "allow", "escalate": True, "category": "x"}, {"verdict": "ask", "escalate": True},
    {"verdict": "ask", "escalate": "yes", "category": "x"}, {"verdict": "ask", "quorum": 0},
    {"verdict": "ask", "quorum": "2"}, {"verdict": "ask", "quorum": True}, {"verdict": "deny", "quorum": 1.5},
])
def test_invalid_results_are_errors_not_allows(value):
    with pytest.raises(PolicyResultError):
        parse_result(value)


def test_valid_results_parse():
    r = parse_result({"verdict": "ask", "reason": "r", "escalate": True, "category": "network", "quorum": 2.0,
                      "extra": 1})
    assert (r.verdict, r.reason, r.escalate, r.category, r.quorum, r.settled) == ("ask", "r", True, "network", 2, False)
    assert parse_result({"verdict": "deny"}).settled


def test_policy_without_a_decision_is_an_error(tmp_path):
    (tmp_path / "p.rego").write_text('package lighthouse\nimport rego.v1\ndecision := {"verdict": "maybe"} if input.x\n')
    p = Policy([tmp_path], default=False)
    with pytest.raises(PolicyResultError):
        p.evaluate(doc_for("ls"))
    with pytest.raises(PolicyResultError):
        p.evaluate({"x": True})


# ------------------------------------------------------------------ compile, reload, tests

def test_default_policy_tests_pass(policy):
    results = policy.run_tests()
    assert len(results) >= 15
    assert [r for r in results if not r.passed] == []


def test_compile_error_names_file_line_and_reason_and_the_running_policy_stays(tmp_path):
    (tmp_path / "team.rego").write_text('package lighthouse\nimport rego.v1\n'
                                        'deny contains "no frobnicate" if { some c in input.commands; c.program == "frobnicate" }\n')
    p = Policy([tmp_path])
    assert p.generation == 1
    assert p.evaluate(doc_for("frobnicate now")).verdict == "deny"
    bad = tmp_path / "broken.rego"
    bad.write_text('package lighthouse\nimport rego.v1\n\nbroken if {\n  input.x = = 1\n}\n')
    with pytest.raises(PolicyCompileError) as e:
        p.reload()
    assert e.value.file == str(bad) and e.value.line == 5 and e.value.reason
    assert "broken.rego:5:" in str(e.value)
    assert p.generation == 1 and p.evaluate(doc_for("frobnicate now")).verdict == "deny"
    bad.write_text('package lighthouse\nimport rego.v1\nbroken if { no_such_function(1) }\n'
                   'deny contains "x" if broken\n')
    with pytest.raises(PolicyCompileError) as e:
        p.reload()
    assert e.value.file == str(bad) and e.value.line == 3 and "no_such_function" in e.value.reason
    bad.unlink()
    (tmp_path / "data.json").write_text('{"lighthouse_extra": {"read_only": ["frob"]},\n  oops}')
    with pytest.raises(PolicyCompileError) as e:
        p.reload()
    assert e.value.file.endswith("data.json") and e.value.line == 2
    (tmp_path / "data.json").write_text('{"lighthouse_extra": {"read_only": ["inhouse-status"]}}')
    assert p.reload() == 2
    assert p.evaluate(doc_for("inhouse-status")).verdict == "allow"


def test_evaluations_from_many_threads_see_one_generation_each(tmp_path):
    p = Policy([tmp_path])
    doc = doc_for("frobnicate now")
    seen, errors = [], []

    def work():
        try:
            for _ in range(30):
                seen.append(p.evaluate(doc))
        except Exception as e:          # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    (tmp_path / "team.rego").write_text('package lighthouse\nimport rego.v1\n'
                                        'deny contains "no frobnicate" if { some c in input.commands; c.program == "frobnicate" }\n')
    p.reload()
    for t in threads:
        t.join()
    assert not errors
    for r in seen:
        assert (r.generation, r.verdict) in ((1, "ask"), (2, "deny"))
    assert p.evaluate(doc).verdict == "deny"


def test_policy_test_command_runs_test_rules(tmp_path, capsys):
    (tmp_path / "team_test.rego").write_text(
        'package team\nimport rego.v1\ntest_ok if { 1 == 1 }\ntest_fails if { 1 == 2 }\n')
    assert main(["policy", "test", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL data.team.test_fails" in out and "test_ok" not in out
    assert main(["policy", "test", "--run", "test_ok", str(tmp_path)]) == 0
    assert main(["policy", "test"]) == 0
    (tmp_path / "bad.rego").write_text("package team\nimport rego.v1\nx if {\n")
    assert main(["policy", "test", str(tmp_path)]) == 1
    assert "bad.rego" in capsys.readouterr().err


def test_policy_eval_command_shows_input_and_result(tmp_path, capsys):
    call = tmp_path / "call.json"
    call.write_text(json.dumps({"tool": "Bash", "input": {"command": "sar -u 1 3"}, "cwd": WS, "home": HOME}))
    assert main(["policy", "eval", "--input", str(call)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rules"]["verdict"] == "miss" and out["input"]["commands"][0]["program"] == "sar"
    assert out["result"]["verdict"] == "allow" and out["result"]["escalate"] is False
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(out["input"]))
    assert main(["policy", "eval", "--input", str(doc)]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == out["result"]


def test_rule_facts_ask_the_compiled_engine_which_rules_may_match_a_program_and_get_the_pure_ones():
    """RuleFacts takes a program's candidate rules from the compiled engine's index (when
    built) and tests them with the pure rules: the same rules, in the same order, as the
    pure engine's own index, for known programs, globbed ones and unseen ones."""
    rules = Validator(raw=True).policy
    facts = RuleFacts(rules)
    assert (facts._candidates is not None) == _fast.COMPILED
    programs = {json.loads(line)["input"].get("command", "x").split(" ")[0]
                for line in (ROOT / "tests" / "data" / "policy_sample.jsonl").read_text().splitlines() if line}
    programs |= {"git", "rm", "python3.11", "python3", "pip3", "node", "bash", "sh", "sudo", "kubectl", "",
                 "zz-unseen-%d" % time.monotonic_ns(), "*", "[a]"}
    for prog in sorted(programs):
        got = facts.rules_for_program(prog)
        assert [r.order for r in got] == [r.order for r in facts.engine.rules_for_program(prog)], prog
        assert all(r in facts.engine.rules for r in got)
    doc = build_input("Bash", {"command": "sudo rm -rf /usr/lib; python3.11 -c 1"}, cwd=WS, facts=facts)
    fired = [r["id"] for c in doc["commands"] for r in c["rules"]]
    facts._candidates = None                     # the pure engine's index alone
    again = build_input("Bash", {"command": "sudo rm -rf /usr/lib; python3.11 -c 1"}, cwd=WS, facts=facts)
    assert fired and fired == [r["id"] for c in again["commands"] for r in c["rules"]]


def test_rule_facts_source_builds_the_facts_once_per_policy_and_follows_a_swap():
    from lighthouse.policy.input import RuleFactsSource
    v = Validator(raw=True)
    source = RuleFactsSource(lambda: v.policy)
    assert not source.ready
    facts = source.prepare()
    assert source.ready and source() is facts and source.prepare() is facts
    v.reload()                                  # a new policy object: the facts are another's
    assert not source.ready
    again = source()                            # a call that sees the swap first builds them
    assert again is not facts and source.ready and source.prepare() is again


def _bash_corpus_commands():
    out = []
    for name in ("policy_sample.jsonl", "dev.jsonl", "challenge.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text().splitlines():
            if line.strip():
                call = json.loads(line)
                if call["tool"] == "Bash" and isinstance(call["input"].get("command"), str):
                    out.append(call["input"]["command"])
    return out


def test_command_matches_is_every_rule_matching_a_command_in_priority_order_in_both_engines(impl):
    """Engine.command_matches (what the input document reports as the rules of one
    command): the rules of the program that match the command, every one in priority
    order, the same in both twins, where evaluate stops at the first that decides."""
    from lighthouse._fast._engine_py import _EMPTY_SPEC, _View, Engine as PureEngine
    from lighthouse.rules.loader import engine_specs
    _, shell, engine = impl
    policy = Validator(raw=True).policy
    eng = engine.Engine(engine_specs(policy), policy.programs)
    pure = PureEngine(engine_specs(policy), policy.programs)
    seen = 0
    for command in _bash_corpus_commands()[::3]:
        for ws, home in ((WS, "/home/dev"), ("/tmp/x", None)):
            try:
                commands = shell.analyze(command, ws, home)
            except Exception:       # unparsed or past a limit: no command to match
                continue
            for sc in commands:
                got = [r.id for r in eng.command_matches(sc, home, ws)]
                view = _View(sc, pure.programs.get(sc.program, _EMPTY_SPEC), home, ws)
                assert got == [r.id for r in pure.rules_for_program(sc.program) if r.match_command(view)], command
                seen += bool(got)
    assert seen > 100


def test_rule_facts_report_the_same_rules_through_the_compiled_engine_as_through_the_pure_one():
    """The input document's rules of each command come from the compiled engine when it
    is loaded (RuleFacts.command_rules): the same documents as with the pure rules, on
    every Bash call of the corpora."""
    rules = Validator(raw=True).policy
    facts = RuleFacts(rules)
    pure = RuleFacts(rules)
    pure._candidates = None
    fired = 0
    for command in _bash_corpus_commands():
        for cwd, home in ((WS, "/home/dev"), ("/srv/app", "")):
            doc = build_input("Bash", {"command": command}, cwd=cwd, home=home, facts=facts)
            assert doc == build_input("Bash", {"command": command}, cwd=cwd, home=home, facts=pure), command
            fired += bool(doc["rules"])
    assert fired > 200


# ------------------------------------------------------------------ worker processes

SLOW = ('package slow\nimport rego.v1\n'
        'decision := {"verdict": "deny", "reason": sprintf("%d", [count([x | some x in numbers.range(1, 600000); x % 7 == 0])])}\n')


def test_runner_evaluates_in_worker_processes_off_the_event_loop(tmp_path):
    (tmp_path / "slow.rego").write_text(SLOW)
    slow = Policy([tmp_path], default=False, entrypoint="data.slow.decision")
    t = time.perf_counter()
    slow.evaluate({})
    one = time.perf_counter() - t

    async def run():
        async with PolicyRunner(Policy(), processes=1) as runner:
            doc = doc_for("lsb_release -a")
            assert (await runner.evaluate(doc)).to_dict() == Policy().evaluate(doc).to_dict()
        async with PolicyRunner(slow, processes=1, max_pending=1) as runner:
            gaps = []

            async def tick():
                last = time.perf_counter()
                while True:
                    await asyncio.sleep(0.001)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            ticker = asyncio.create_task(tick())
            first = asyncio.create_task(runner.evaluate({}))
            await asyncio.sleep(0)
            with pytest.raises(PolicyBusy):
                await runner.evaluate({})
            assert (await first).verdict == "deny"
            ticker.cancel()
            # The loop kept ticking while a worker evaluated for `one` seconds.
            assert max(gaps) < max(0.1, one / 2)
            with pytest.raises(PolicyTimeout):
                await runner.evaluate({}, timeout=one / 20)
            assert (await runner.evaluate({})).verdict == "deny"      # a fresh pool answers

    asyncio.run(asyncio.wait_for(run(), 120))


def test_runner_replaces_a_worker_that_dies_and_fails_only_what_it_held(tmp_path):
    (tmp_path / "slow.rego").write_text(SLOW)
    slow = Policy([tmp_path], default=False, entrypoint="data.slow.decision")

    async def run():
        async with PolicyRunner(slow, processes=1) as runner:
            (first,) = runner._workers
            held = asyncio.create_task(runner.evaluate({}))
            await asyncio.sleep(0.05)
            first.process.kill()
            with pytest.raises(PolicyEvalError, match="worker process died"):
                await held
            assert (await runner.evaluate({})).verdict == "deny"      # a replacement answers
            assert runner._workers[0] is not first and runner.pending == 0

    asyncio.run(asyncio.wait_for(run(), 120))


def test_runner_sends_a_large_document_without_blocking_the_loop():
    """A document far larger than a pipe's buffer is written as the worker reads it,
    while the loop goes on; the worker answers it like any other."""
    doc = doc_for("lsb_release -a")
    doc["tool_input"] = {"command": "lsb_release -a", "padding": ["x" * 4096] * 256}     # ~1 MiB

    async def run():
        async with PolicyRunner(Policy(), processes=1) as runner:
            loop_ticks = 0

            async def tick():
                nonlocal loop_ticks
                while True:
                    await asyncio.sleep(0)
                    loop_ticks += 1

            ticker = asyncio.create_task(tick())
            results = await asyncio.gather(*(runner.evaluate(doc) for _ in range(4)))
            ticker.cancel()
            assert {r.to_dict()["verdict"] for r in results} == {Policy().evaluate(doc).verdict}
            assert loop_ticks > 4

    asyncio.run(asyncio.wait_for(run(), 120))


ECHO = ('package echo\nimport rego.v1\n'
        'decision := {"verdict": "deny", "reason": concat("", input.tool_input.padding), '
        '"extra": input.tool_input.padding}\n')


def test_runner_reads_an_answer_larger_than_one_read_of_the_pipe(tmp_path):
    """An answer frame of ~2 MiB (a policy echoing its input) comes over in many reads of
    the pipe and is read whole: the reason is the policy's, cut to the kept length."""
    (tmp_path / "echo.rego").write_text(ECHO)
    echo = Policy([tmp_path], default=False, entrypoint="data.echo.decision")
    padding = ["%06d" % i + "y" * 4090 for i in range(256)]

    async def run():
        async with PolicyRunner(echo, processes=1) as runner:
            results = await asyncio.gather(*(runner.evaluate({"tool_input": {"padding": padding[n:]}})
                                             for n in range(3)))
            for n, r in enumerate(results):
                assert r.verdict == "deny" and r.reason == "".join(padding[n:])[:len(r.reason)]
                assert r.raw["extra"] == padding[n:]

    asyncio.run(asyncio.wait_for(run(), 120))


@pytest.mark.parametrize("frame", [b"", b"garbage", marshal.dumps(["not", "a", "tuple"]), marshal.dumps((0, 1)),
                                   marshal.dumps((1,)), marshal.dumps((1, 5)), marshal.dumps((2, "x", 0)),
                                   marshal.dumps((0, {"verdict": "allow"}, 1))[:-3]])
def test_a_worker_frame_that_is_not_an_answer_is_a_failure_never_an_allow(frame):
    ok, message = _answer(frame)
    assert ok == 1 and message == "a policy worker answered a frame that is not an answer"
    assert _answer(marshal.dumps((0, {"verdict": "allow"}, 7))) == (0, {"verdict": "allow"}, 7)
    assert _answer(marshal.dumps((1, "policy evaluation failed: x"))) == (1, "policy evaluation failed: x")


def test_runner_workers_run_below_the_servers_priority():
    async def run():
        async with PolicyRunner(Policy(), processes=2, nice=7) as runner:
            mine = os.getpriority(os.PRIO_PROCESS, 0)
            for w in runner._workers:
                assert os.getpriority(os.PRIO_PROCESS, w.process.pid) == min(19, mine + 7)
            assert (await runner.evaluate(doc_for("sar -u 1 3"))).verdict == "allow"
        with pytest.raises(ValueError, match="nice"):
            PolicyRunner(Policy(), nice=20)

    asyncio.run(asyncio.wait_for(run(), 120))


def test_runner_reload_moves_to_new_workers_and_the_old_ones_exit(tmp_path):
    async def run():
        async with PolicyRunner(Policy([tmp_path]), processes=2) as runner:
            old = [w.process for w in runner._workers]
            assert await asyncio.get_running_loop().run_in_executor(None, runner.reload) == 2   # from a thread
            r = await runner.evaluate(doc_for("sar -u 1 3"))
            assert r.generation == 2
            deadline = time.monotonic() + 30
            while any(p.is_alive() for p in old):
                assert time.monotonic() < deadline, "workers of generation 1 still running"
                await asyncio.sleep(0.05)
            assert len(runner._workers) == 2

    asyncio.run(asyncio.wait_for(run(), 120))


def test_runner_reload_keeps_the_running_policy_on_error(tmp_path):
    async def run():
        p = Policy([tmp_path])
        async with PolicyRunner(p, processes=1) as runner:
            (tmp_path / "bad.rego").write_text("package lighthouse\nimport rego.v1\nx if {\n")
            with pytest.raises(PolicyCompileError):
                runner.reload()
            assert runner.generation == 1
            (tmp_path / "bad.rego").write_text('package lighthouse\nimport rego.v1\n'
                                               'deny contains "no sar" if { some c in input.commands; c.program == "sar" }\n')
            assert runner.reload() == 2
            r = await runner.evaluate(doc_for("sar -u 1 3"))
            assert (r.verdict, r.generation) == ("deny", 2)

    asyncio.run(asyncio.wait_for(run(), 120))


# ------------------------------------------------------------------ OPA REST client

def _sample(n=None):
    with open(DATA / "policy_sample.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return rows[:n] if n else rows


def test_rest_client_and_regorus_agree(policy):
    """Against a local stand-in for OPA (tests/opakit.py: OPA's Data API served by
    regorus, since no OPA binary can be installed here)."""
    docs = [build_input(c["tool"], c["input"], cwd=c["cwd"], home=c["home"]) for c in _sample()[::5]]
    docs.append(doc_for("echo \"unterminated"))
    docs.append(doc_for("lsb_release -a", escalation="ask", rule_id="sys.sudo", reason="root"))
    with FakeOpa(policy) as opa:
        client = OpaClient(opa.url, timeout=5)
        try:
            for doc in docs:
                assert client.evaluate(doc).to_dict() == policy.evaluate(doc).to_dict()
        finally:
            client.close()
        assert len(opa.connections) == 1             # one kept-alive connection for every call

        async def run():
            ac = OpaClient(opa.url, timeout=5)
            try:
                results = await asyncio.gather(*(ac.aevaluate(d) for d in docs[:20]))
            finally:
                await ac.aclose()
            assert [r.to_dict() for r in results] == [policy.evaluate(d).to_dict() for d in docs[:20]]

        asyncio.run(asyncio.wait_for(run(), 60))


def test_rest_client_failures_raise_opa_errors(policy, tmp_path):
    doc = doc_for("lsb_release -a")
    with FakeOpa(policy) as opa:
        c = OpaClient(opa.url, timeout=0.2)
        opa.delay = 1.0
        with pytest.raises(OpaTimeout):
            c.evaluate(doc)
        opa.delay = 0
        opa.fail_status = 500
        with pytest.raises(OpaError) as e:
            c.evaluate(doc)
        assert e.value.status == 500
        opa.fail_status = 0
        undefined = OpaClient(opa.url, entrypoint="data.lighthouse.no_such_rule")
        with pytest.raises(OpaError):
            undefined.evaluate(doc)
        assert isinstance(c.evaluate(doc).verdict, str)
        c.close()
        undefined.close()
        url = opa.url
    with pytest.raises(OpaError):
        OpaClient(url, timeout=0.5).evaluate(doc)          # nobody listens any more
    assert issubclass(OpaError, PolicyEvalError)


def test_rest_client_never_allows_an_invalid_answer(tmp_path):
    (tmp_path / "p.rego").write_text('package lighthouse\nimport rego.v1\n'
                                     'decision := {"verdict": "allow", "escalate": true, "category": "x"}\n')
    with FakeOpa(Policy([tmp_path], default=False)) as opa:
        with pytest.raises(OpaError):
            OpaClient(opa.url).evaluate(doc_for("ls"))


# ------------------------------------------------------------------ the default policy's scores

def test_sample_is_of_calls_the_rules_miss():
    rows = _sample()
    assert len(rows) >= 300
    v = Validator(raw=True, cache_size=0)
    assert [c["id"] for c in rows if v.check(c["tool"], c["input"], cwd=c["cwd"]).verdict != "miss"] == []


def test_default_policy_settles_a_third_of_the_sample(policy):
    settled = escalated = 0
    for c in _sample():
        r = policy.evaluate(build_input(c["tool"], c["input"], cwd=c["cwd"], home=c["home"]))
        if r.settled:
            settled += 1
            assert r.reason
        else:
            assert r.escalate and r.category and r.verdict != "allow"
            escalated += 1
    assert settled * 3 >= settled + escalated, "settled %d of %d" % (settled, settled + escalated)


@pytest.mark.parametrize("corpus", ["dev.jsonl", "challenge.jsonl"])
def test_default_policy_never_allows_what_should_be_denied(policy, corpus):
    v = Validator(raw=True, cache_size=0)
    reached = 0
    with open(DATA / corpus, encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line)
            d = v.check(c["tool"], c["input"], cwd=c["cwd"])
            if d.verdict not in ("miss", "ask"):
                continue
            reached += 1
            r = policy.evaluate(build_input(c["tool"], c["input"], cwd=c["cwd"], escalation=d.verdict,
                                            rule_id=d.rule_id if d.verdict == "ask" else "",
                                            reason=d.reason if d.verdict == "ask" else ""))
            if c["expect"] == "deny":
                assert r.verdict != "allow", c["id"]
    assert reached > 0


# ------------------------------------------------------------------ text that is not valid Unicode

SURROGATES = ["sar \ud800", "sar -u 1 3 # \udfff", "\udc00sar\ud800", "sar '\ud83d'"]


@pytest.mark.parametrize("command", SURROGATES)
def test_lone_surrogates_are_replaced_and_the_document_is_incomplete(command):
    """JSON input may carry a lone surrogate (``"\\ud800"``), which no UTF-8 text can hold:
    the document sent to a policy has it replaced by U+FFFD and is marked incomplete, so
    the call is judged (never allowed) instead of failing the tier."""
    doc = doc_for(command)
    text = input_json(doc)
    text.encode("utf-8")
    assert "\ufffd" in text
    assert doc["analysis"]["complete"] is False
    assert any("not valid Unicode" in limit for limit in doc["analysis"]["limits"])
    assert Policy().evaluate(doc_for(command)).verdict != "allow"


def test_calls_with_lone_surrogates_do_not_open_the_policy_breaker():
    """An agent sending such calls one after another must not trip the policy tier's
    circuit breaker (every later call would get the fail mode): they are answered by the
    policy, never with an allow, and the tier stays closed for the next call."""
    async def run():
        async with PolicyRunner(Policy(), processes=1) as runner:
            pipeline = EscalationPipeline([Stage(PolicyTier(runner=runner), backend="regorus")],
                                          policy_deadline=30, failure_threshold=3)
            for k in range(6):
                out = await pipeline.decide("Bash", {"command": "sar -u 1 %d \ud800" % k}, WS, generation=1)
                assert out.tier == "policy" and out.verdict != "allow", out
            ok = await pipeline.decide("Bash", {"command": "sar -u 1 3"}, WS, generation=1)
            assert (ok.verdict, ok.tier) == ("allow", "policy")
            assert pipeline.breakers["regorus"].state == CLOSED

    asyncio.run(asyncio.wait_for(run(), 120))


@pytest.mark.parametrize("command, where", [("./tool status", "workspace"), ("/tmp/x version", "tmp"),
                                            ("~/bin/x info", "home"), ("/usr/bin/lsb_release -a", "system")])
def test_a_program_named_by_a_path_is_described_and_one_outside_the_system_is_code(command, where):
    doc = doc_for(command)
    # (a program under a scratch directory comes after its (program-path) pseudo-command)
    programs = [c["program"] for c in doc["commands"]]
    assert programs[:-1] == (["(program-path)"] if where == "tmp" else [])
    c = doc["commands"][-1]
    assert c["program_where"] == where and c["program_path"].startswith("/")
    verdict = Policy().evaluate(doc)
    if where == "system":
        assert verdict.verdict == "allow"
    else:
        assert (verdict.verdict, verdict.category) == ("ask", "code-execution")


def test_an_engine_is_dropped_by_the_thread_that_made_it_whichever_thread_drops_the_policy():
    # regorus engines may only be dropped by the thread that made them (dropping one
    # elsewhere raises inside the drop and leaks it). A policy evaluated on this thread and
    # then dropped, inside a reference cycle, by another thread's collection must leave
    # its engine to this thread, which lets it go at its next evaluation.
    import gc
    import sys

    from lighthouse.policy import engine as policy_engine

    unraised = []
    hook, sys.unraisablehook = sys.unraisablehook, unraised.append
    try:
        policy = Policy()
        assert policy.evaluate(doc_for("sar -u 1 3")).verdict
        policy.itself = policy
        mine = policy_engine._kept_engines()
        assert id(policy) in mine
        del policy

        def collect():
            gc.collect()

        dropper = threading.Thread(target=collect)
        dropper.start()
        dropper.join()
        assert not unraised, [u.exc_value for u in unraised]
        other = Policy()
        assert other.evaluate(doc_for("sar -u 1 4")).verdict
        assert all(ref() is not None for ref, _, _ in mine.values()) and mine[id(other)][0]() is other
    finally:
        sys.unraisablehook = hook
    assert not unraised, [u.exc_value for u in unraised]
