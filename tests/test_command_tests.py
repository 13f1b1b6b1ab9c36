"""A matcher key written once in lighthouse._fast._rulespec.COMMAND_TESTS is compiled
once per load and run by both engines, after the rule's other matchers, on each simple
command: the way a new matcher key needs no edit of either engine."""

import pytest

from lighthouse._fast import _rulespec

from conftest import WS, twins


def _spec(rule_id, verdict, **keys):
    spec = {"id": rule_id, "verdict": verdict, "reason": rule_id, "is_bash": True, "tools": None}
    spec.update(keys)
    return spec


@pytest.fixture
def arg_count_key(monkeypatch):
    """A key `args_exactly`: the command has exactly this many arguments. compile() and
    test() record their calls, so the test can see when each runs."""
    calls = {"compile": 0, "test": []}

    def compile_(value):
        calls["compile"] += 1
        if not isinstance(value, int):
            raise ValueError("args_exactly must be an integer")
        return value

    def test(n, sc):
        calls["test"].append(sc.program)
        return len(sc.args) == n

    monkeypatch.setitem(_rulespec.COMMAND_TESTS, "args_exactly", (compile_, test))
    return calls


def test_a_shared_test_decides_with_the_other_matchers(impl, arg_count_key):
    _, _, engine = impl
    e = engine.Engine([
        _spec("rm.two", "deny", program=["rm"], args_exactly=2),
        _spec("rm.any", "allow", program=["rm"]),
        _spec("ls.any", "allow", program=["ls"]),
    ])
    assert arg_count_key["compile"] == 1                   # once per load, only where the key is set
    assert e.evaluate("Bash", {"command": "rm -rf /srv"}, WS, None)[1] == "rm.two"
    assert e.evaluate("Bash", {"command": "rm -rf /srv /opt"}, WS, None)[1] == "rm.any"
    before = len(arg_count_key["test"])
    assert e.evaluate("Bash", {"command": "ls -la"}, WS, None)[1] == "ls.any"
    assert len(arg_count_key["test"]) == before            # not run where another matcher failed


def test_both_engines_agree_on_a_shared_test(arg_count_key):
    specs = [_spec("x.two", "ask", program=["*"], args_exactly=2), _spec("x.any", "allow", program=["*"])]
    engines = [mods[1].Engine(specs) for mods in twins()]
    seen = set()
    for line in ("a", "a b", "a b c", "a b c | d e f", "sudo a b c", "bash -c 'x 1 2'"):
        answers = {e.evaluate("Bash", {"command": line}, WS, None) for e in engines}
        assert len(answers) == 1, (line, answers)
        seen |= answers
    assert {a[1] for a in seen} == {"x.two", "x.any"}


def test_a_shared_test_that_raises_is_a_miss_in_the_checker(impl, arg_count_key):
    _, _, engine = impl

    def broken(_n, _sc):
        raise RuntimeError("bug")

    _rulespec.COMMAND_TESTS["args_exactly"] = (lambda v: v, broken)
    e = engine.Engine([_spec("rm.two", "allow", program=["rm"], args_exactly=2)])
    d = engine.Checker(e, cache_size=0).check("Bash", {"command": "rm a b"}, WS)
    assert d.verdict == "ask" and d.tier == "fallback"
    assert "internal error" in d.reason


def test_a_bad_value_fails_the_load(impl, arg_count_key):
    _, _, engine = impl
    with pytest.raises(ValueError, match="args_exactly"):
        engine.Engine([_spec("rm.two", "deny", program=["rm"], args_exactly="two")])
