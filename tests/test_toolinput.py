"""What both engines read of a tool call besides its paths (lighthouse._fast._toolinput):
one source, imported by the pure engine and compiled as it is (_toolinput_c) for the
compiled one. The checks of a call's arguments and of a tool input deny malformed calls
with the same words in both engines, and the compiled build of the source answers as
the source does."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse._fast import _toolinput

from conftest import compiled_build

TEXT = st.lists(st.sampled_from(list("'\\-/*\n ab;é😀") + ["--", "/*", "*/", "''", "\\'"]),
                max_size=40).map("".join)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
                    | st.tuples(inner, inner), max_leaves=20)


@pytest.fixture(scope="module", params=["source", pytest.param("compiled", marks=pytest.mark.compiled)])
def build(request):
    """The shared module as the pure engine imports it, and its compiled build."""
    if request.param == "source":
        return _toolinput
    return compiled_build("_toolinput_c")


def _strip_by_character(text):
    # The specification, one character at a time: a literal becomes '', a -- comment is
    # dropped up to its line's end, a /* */ comment becomes one space.
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            j = i + 1
            while j < n:
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        j += 2
                        continue
                    break
                if text[j] == "\\" and j + 1 < n:
                    j += 2
                    continue
                j += 1
            out.append("''")
            i = j + 1
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            out.append(" ")
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@pytest.mark.parametrize("text, stripped", [
    ("", ""),
    ("select 1", "select 1"),
    ("select 'drop table x' from t", "select '' from t"),
    ("select 'it''s' -- drop table\nfrom t", "select '' \nfrom t"),
    ("a /* drop */ b /* open", "a   b  "),
    ("'unterminated \\' still", "''"),
    ("é'ü'😀", "é''😀"),
])
def test_sql_literals_and_comments_are_dropped(build, text, stripped):
    assert build.strip_sql_literals(text) == stripped


@settings(max_examples=400, deadline=None)
@given(text=TEXT)
def test_both_builds_strip_sql_as_the_specification(build, text):
    assert build.strip_sql_literals(text) == _strip_by_character(text)


class _Doubling(dict):
    def __getitem__(self, key):
        return dict.__getitem__(self, key) * 2


def _leaves(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k])]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if value is None else [str(value)]


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_flatten_joins_every_string_leaf(build, value):
    flat = build.flatten(value)
    assert flat == _toolinput.flatten(value)
    leaves = _leaves(value)
    if leaves and all("\n" not in leaf for leaf in leaves):
        assert sorted(flat.split("\n")) == sorted(leaves)


def test_flatten_reads_a_dict_subclass_through_its_own_lookup(build):
    value = {"a": ["x", _Doubling(b="y")], "n": None, "k": 3}
    assert sorted(build.flatten(value).split("\n")) == ["3", "x", "yy"]


MALFORMED_CALLS = [
    ((None, {}, None, None), "tool must be a non-empty string of at most 256 characters"),
    (("", {}, None, None), "tool must be a non-empty string of at most 256 characters"),
    (("x" * 257, {}, None, None), "tool must be a non-empty string of at most 256 characters"),
    (("Read", ["file_path"], None, None), "tool_input must be a JSON object (dict), not list"),
    (("Read", None, None, None), "tool_input must be a JSON object (dict), not NoneType"),
    (("Read", {"file_path": "/x"}, 5, None), "cwd must be a string"),
    (("Read", {"file_path": "/x"}, "/w", b"/home/u"), "home must be a string"),
]

MALFORMED_INPUTS = [
    ("Read", {}, "Read input needs a string 'file_path' field"),
    ("Write", {"file_path": "/w/x", "content": 5}, "Write input needs a string 'content' field"),
    ("Grep", {"pattern": "x", "path": ["/etc"]}, "Grep input field 'path' must be a string"),
    ("mcp__fs__read", {"notebook_path": 1}, "mcp__fs__read input field 'notebook_path' must be a string"),
    ("MultiEdit", {"file_path": "/w/x", "edits": "all"}, "MultiEdit input needs an 'edits' list"),
]


@pytest.mark.parametrize("args, message", MALFORMED_CALLS)
def test_a_malformed_call_is_denied_with_its_reason(impl, args, message):
    _, _, engine = impl
    checker = engine.Checker(engine.Engine([]), cache_size=0)
    tool, tool_input, cwd, home = args
    d = checker.check(tool, tool_input, cwd, home=home)
    assert (d.verdict, d.rule_id, d.reason, d.tier) == ("deny", "input.invalid", message, "rules")


@pytest.mark.parametrize("args, message", MALFORMED_CALLS)
def test_call_error_names_what_is_malformed(build, args, message):
    assert build.call_error(*args) == message


@pytest.mark.parametrize("tool, tool_input, message", MALFORMED_INPUTS)
def test_a_malformed_tool_input_is_denied_with_its_reason(impl, tool, tool_input, message):
    _, _, engine = impl
    checker = engine.Checker(engine.Engine([]), cache_size=0)
    for given_input in (tool_input, _Doubling(tool_input)):
        d = checker.check(tool, given_input, "/w")
        assert (d.verdict, d.rule_id, d.reason) == ("deny", "input.invalid", message)


@pytest.mark.parametrize("tool, tool_input, message", MALFORMED_INPUTS)
def test_input_error_names_what_is_malformed(build, tool, tool_input, message):
    assert build.input_error(tool, tool_input) == message
    assert build.input_error(tool, _Doubling(tool_input)) == message


WELL_FORMED = [("x" * 256, {}, None, None), ("Read", {"file_path": "/w/x"}, "/w", "/home/u"),
               ("MultiEdit", {"file_path": "/w/x", "edits": []}, None, None)]


def test_well_formed_calls_pass_the_checks(impl):
    _, _, engine = impl
    checker = engine.Checker(engine.Engine([]), cache_size=0)
    for tool, tool_input, cwd, home in WELL_FORMED:
        assert checker.check(tool, tool_input, cwd, home=home).rule_id != "input.invalid"


def test_well_formed_calls_have_no_error(build):
    for tool, tool_input, cwd, home in WELL_FORMED:
        assert build.call_error(tool, tool_input, cwd, home) is None
        assert build.input_error(tool, tool_input) is None


def test_decisions_compare_by_value_and_not_with_other_objects(impl):
    _, _, engine = impl
    a = engine.Decision("deny", "r", "why", "rules", False, 1)
    assert a == engine.Decision("deny", "r", "why", "rules", False, 1)
    assert a != engine.Decision("deny", "r", "why", "cache", True, 1)
    assert a != a.to_dict() and (a == "deny") is False
    assert repr(a).startswith("Decision(verdict='deny', rule_id='r'")
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize("text", ["\\a" * 500_000, "''" * 500_000, "'" + "x" * 1_000_000, "--" * 500_000,
                                  "/*" * 500_000, "a'b'" * 250_000, "'" + "\\a" * 500_000,
                                  "'" + "''" * 500_000 + "-- /*", "x" * 1_000_000 + "'--/*"])
def test_stripping_a_long_text_costs_time_linear_in_it(build, text):
    # a million characters of the worst mixes: well under a second on a loaded
    # machine (a quadratic step would take minutes), with the specification's answer
    start = time.process_time()
    got = build.strip_sql_literals(text)
    assert time.process_time() - start < 10
    assert got == _strip_by_character(text)
