"""Literal prefilters of rule regexes (lighthouse._fast._prefilter): what they require of
a text, checked against RE2 itself, and the engines that use them against the one that
does not."""

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse._fast._prefilter import ALWAYS, compile_search, min_length, prefilter
from lighthouse.rules.loader import engine_specs, load_policy

from conftest import EXPECT_COMPILED, IMPLS, WS


def admits(pre, text):
    """What the compiled engine concludes before calling RE2: False means no match."""
    if pre is None or not text.isascii():
        return True
    if pre is ALWAYS:
        return True
    low = text.lower()
    return all(any(atom in low for atom in req) for req in pre)


@pytest.mark.parametrize("pattern, expected", [
    ("(?s).*", ALWAYS),
    (".*", ALWAYS),
    ("", ALWAYS),
    ("(?:x*|y)", ALWAYS),
    ("(?i)drop\\s+table", (("table",), ("drop",))),
    ("(?i)(drop|truncate)\\b", (("drop", "truncate"),)),
    ("^https?://(localhost|127\\.)", (("http",), ("127.", "localhost"), ("://",))),
    ("a(bc)d", (("abcd",),)),
    ("(?:ab)+c", (("ab",), ("c",))),
    ("x{2,}y", (("x",), ("y",))),
    ("a|b*", ALWAYS),                  # b* matches the empty string anywhere
])
def test_requirements_of_patterns(pattern, expected):
    assert prefilter(pattern) == expected


@pytest.mark.parametrize("pattern", [
    "[[:alpha:]]x",         # a POSIX class, which Python's parser reads differently
    "x[a-z[:digit:]]",
    "\\pL+secret",          # RE2 syntax Python does not parse
    "secret\\z",
    "a|\\d",                # an alternative that needs no literal
    "\\d+[.,]\\d+",          # no literal at all
    "(?i)[k\u212a]",         # nor here: only a class, and a non-ASCII one
])
def test_no_prefilter_where_nothing_is_known(pattern):
    assert prefilter(pattern) is None


def _pack_patterns():
    out = []
    for spec in engine_specs(load_policy()):
        if spec.get("code"):
            out.append(spec["code"])
        out.extend((spec.get("fields") or {}).values())
        if spec.get("any_field"):
            out.append(spec["any_field"])
    return out


PATTERNS = sorted(set(_pack_patterns())) + [
    "(?i)kill", "(?i)drop\\s+table", "^file:", "(?i)(AKIA|ASIA)[0-9A-Z]{16}", "a(?:b|c)d",
    "(?i)secret_?key=", "(?s)BEGIN.*END", "x{2,3}y", "(?:ab)+$", "^$", "(?m)^rm\\b",
]


def test_the_packs_have_patterns_to_check():
    pres = [prefilter(p) for p in _pack_patterns()]
    assert len(pres) >= 20
    # Most shipped regexes get a prefilter; a regression here costs microseconds per call.
    assert sum(p is not None for p in pres) >= 0.75 * len(pres)


def _pieces():
    out = set()
    for p in PATTERNS:
        pre = prefilter(p)
        if isinstance(pre, tuple):
            for req in pre:
                out.update(req)
    return sorted(out)


TEXTS = st.lists(st.one_of(st.sampled_from(_pieces()),
                           st.sampled_from(list("abcdekKSs01-_.:/ \n\t=@") + ["\u212a", "\u017f", "DROP", "Table"]),
                           st.text(max_size=4)),
                 max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXTS)
def test_a_text_the_prefilter_rules_out_never_matches(pattern, text):
    pre = prefilter(pattern)
    try:
        matched = re2.search(pattern, text) is not None
    except Exception:  # noqa: BLE001 - text RE2 cannot take (lone surrogates)
        return
    if pre is ALWAYS and text.isascii():
        assert matched
    if not admits(pre, text):
        assert not matched, (pattern, text)


@settings(max_examples=400, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXTS)
def test_search_without_capture_groups_finds_the_same_matches(pattern, text):
    # Both engines compile rule regexes with compile_search; the answer of a search
    # must be RE2's with the pattern's groups, down to the span of the whole match.
    plain = re2.compile(pattern)
    bare = compile_search(pattern)
    assert bare.groups == 0
    try:
        expected = plain.search(text)
    except Exception:  # noqa: BLE001 - text RE2 cannot take (lone surrogates)
        return
    got = bare.search(text)
    assert (got is None) == (expected is None), (pattern, text)
    if got is not None:
        assert got.span() == expected.span()


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prefilter") / "regex-rules.toml"
    path.write_text(
        '[[rule]]\nid = "local.kill"\nverdict = "deny"\nreason = "kills a process"\n'
        'tools = ["mcp__ops__run"]\nfields = { cmd = "(?i)kill\\\\s+-9" }\n\n'
        '[[rule]]\nid = "local.ops"\nverdict = "allow"\nreason = "other ops"\n'
        'tools = ["mcp__ops__run"]\nany_field = "(?s).*"\n')
    return path


@pytest.mark.parametrize("text, verdict", [
    ("kill -9 1", "deny"),
    ("KILL -9 1", "deny"),
    ("\u212aill -9 1", "deny"),      # the Kelvin sign folds to k in RE2: no ASCII shortcut
    ("ps aux", "allow"),
    ("k ill -9", "allow"),
    ("\u00e9t\u00e9", "allow"),
])
def test_field_regexes_decide_the_same_with_and_without_prefilter(shared_validator, rules_file, text, verdict):
    v = shared_validator(rules=(rules_file,), cache_size=0)
    d = v.check("mcp__ops__run", {"cmd": text})
    assert (d.verdict, d.rule_id) == (verdict, "local.kill" if verdict == "deny" else "local.ops")


@pytest.fixture(scope="module")
def engines():
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("compiled extension expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    policy = load_policy()
    specs = engine_specs(policy)
    return (IMPLS["pure"][1].Engine(specs, policy.programs),
            IMPLS["compiled"][1].Engine(specs, policy.programs))


URLS = st.lists(st.sampled_from(["http", "https", "://", "file:", "10.", "192.168.", "localhost", "127.0.0.1",
                                 "169.254.169.254", "metadata", ".internal", "/", "a", "?token=", "password=",
                                 "AKIA", "ABCDEFGHIJKLMNOP", "sk-", "x" * 20, ":8080", "\u212a", "[::1]",
                                 "DROP TABLE t", "delete from t", ".github/workflows/x"]),
                max_size=10).map("".join)


@pytest.mark.compiled
@settings(max_examples=300, deadline=None)
@given(text=URLS, tool=st.sampled_from(["WebFetch", "mcp__db__query", "mcp__github__create_issue"]))
def test_engines_agree_on_regex_rules(engines, text, tool):
    pure, comp = engines
    call = {"url": text, "prompt": text, "sql": text, "body": {"text": text}}
    assert pure.evaluate(tool, call, WS, None) == comp.evaluate(tool, call, WS, None)


@pytest.mark.parametrize("pattern,expected", [
    ("abc", 3), ("a|bcd", 1), ("x{2,3}y", 3), ("(?i)^file:", 5), ("\\bkill\\b", 4),
    ("(?s).*", 0), ("(?=ab)a", 1), ("[?&=/][A-Za-z0-9+/_-]{160,}={0,2}(?:[&#/]|$)", 161),
    ("[[:alpha:]]x", 0), ("\\pLx", 0),
])
def test_min_length(pattern, expected):
    assert min_length(pattern) == expected


@settings(max_examples=400, deadline=None)
@given(pattern=st.sampled_from(PATTERNS), text=TEXTS)
def test_a_text_shorter_than_the_minimum_never_matches(pattern, text):
    try:
        matched = re2.search(pattern, text) is not None
    except Exception:  # noqa: BLE001 - text RE2 cannot take (lone surrogates)
        return
    if len(text) < min_length(pattern):
        assert not matched, (pattern, text)
