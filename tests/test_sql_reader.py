"""The SQL reader (lighthouse._fast._sql): one source, imported by the pure engine and
compiled as it is (_sql_c) for the compiled one, which reads a statement's literals,
comments and words with str.find and character tests instead of regex passes. Both
builds answer as the regex specification below, and in time linear in the text however
its quotes, escapes, comments and dollar quotes repeat or nest."""

import importlib
import random
import re
import time

import pytest

from lighthouse._fast import _sql

from conftest import EXPECT_COMPILED, IMPLS


@pytest.fixture(scope="module", params=["source", pytest.param("compiled", marks=pytest.mark.compiled)])
def build(request):
    """The shared module as the pure engine imports it, and its compiled build."""
    if request.param == "source":
        return _sql
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return importlib.import_module("lighthouse._fast._sql_c")


# The specification: the words, and the literals and comments found by regex searches.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$.]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_SPECIAL = {"pg": re.compile(r"['\"`$/-]"), "my": re.compile(r"['\"`#/-]"), "lite": re.compile(r"['\"`/-]")}


def _strip_by_regex(text, family):
    out = []
    i = 0
    n = len(text)
    escapes = family == "my"
    while True:
        m = _SPECIAL[family].search(text, i)
        if m is None:
            out.append(text[i:])
            return "".join(out)
        k = m.start()
        out.append(text[i:k])
        c = text[k]
        if c in "'\"`":
            end = re.compile("[%s%s]" % (re.escape(c), "\\\\" if escapes else ""))
            j = k + 1
            while True:
                e = end.search(text, j)
                if e is None:
                    return None
                j = e.start()
                if text[j] == "\\":
                    j += 2
                elif j + 1 < n and text[j + 1] == c:
                    j += 2
                else:
                    break
            out.append("''" if c == "'" else " quoted_name ")
            i = j + 1
        elif c == "$":
            d = _DOLLAR_TAG.match(text, k)
            if d is None:
                out.append(c)
                i = k + 1
                continue
            j = text.find(d.group(0), k + len(d.group(0)))
            if j < 0:
                return None
            out.append("''")
            i = j + len(d.group(0))
        elif c == "#" or c == "-" and text.startswith("--", k):
            j = text.find("\n", k)
            i = n if j < 0 else j
        elif c == "/" and text.startswith("/*", k):
            j = text.find("*/", k + 2)
            if j < 0:
                return None
            out.append(" ")
            i = j + 2
        else:
            out.append(c)
            i = k + 1


_PIECES = list("'\"`$#-/*\\\n ;:()aZ_9.é\u0130\u212a") + [
    "--", "/*", "*/", "$$", "$a$", "$A_1$", "''", '""', "\\'", "select", "SELECT", "drop", "\\dt", "\\g",
    ".tables", "pg_read_file(", "count(", "INTO", "E'", ":x", "x.delete", "1abc", "a$b.c"]


def _texts(seed, count):
    rnd = random.Random(seed)
    heads = ["", "SELECT ", "select 1; ", "WITH x AS (", "  (", "\\d ", "explain "]
    return [rnd.choice(heads) + "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(0, 16)))
            for _ in range(count)]


@pytest.mark.parametrize("text, family, stripped", [
    ("select 'drop table x' from t", "pg", "select '' from t"),
    ("select \"delete\" from t -- drop\nwhere 1", "pg", "select  quoted_name  from t \nwhere 1"),
    ("select 'it\\'s' # drop", "my", "select '' "),
    ("select 'it\\'s' # drop", "pg", None),
    ("select $b$ drop $b$, $$x$$, $1", "pg", "select '', '', $1"),
    ("a /* drop */ b", "lite", "a   b"),
    ("a /* drop", "pg", None),
    ("`unterminated", "my", None),
])
def test_literals_and_comments_are_dropped(build, text, family, stripped):
    assert build._strip(text, family) == stripped


def test_both_builds_read_as_the_specification(build):
    for text in _texts(37, 8000):
        for family in ("pg", "my", "lite"):
            assert build._strip(text, family) == _strip_by_regex(text, family), (text, family)
        assert build._words(text) == _WORD.findall(text), text
        assert build._words(text.lower()) == _WORD.findall(text.lower()), text


def test_the_compiled_build_answers_as_the_source(build):
    for text in _texts(41, 8000):
        for family in ("pg", "my", "lite"):
            assert build.statement_read_only(text, family) == _sql.statement_read_only(text, family), (text, family)
        for key in ("sql", "query"):
            for want in (True, False):
                got = build.test_input_read_only(want, {key: text})
                assert got == _sql.test_input_read_only(want, {key: text}), (text, key, want)


def test_a_str_subclass_is_read_by_its_value(build):
    class Text(str):
        pass
    assert build.statement_read_only(Text("select 1"), "pg") is True
    assert build.test_input_read_only(True, {"sql": Text("select 1")}) is True
    assert build.test_input_read_only(False, {"sql": Text("drop table t")}) is True


# Quotes, escapes, comments and dollar quotes repeated, nested and left open, each about
# a million characters: every search of the reader runs over the text once.
_LARGE = [
    ("'" + "\\a" * 300_000 + "'", "my"),
    ("'" + "\\" * 600_001, "my"),
    ("'" + "''" * 300_000 + "'", "pg"),
    ("'" + "''" * 300_000, "pg"),
    ("'\"`" * 200_000, "my"),
    ("\"'\"" * 200_000, "pg"),
    ("-- x\n" * 150_000, "pg"),
    ("#\n" * 300_000, "my"),
    ("/* */" * 150_000, "lite"),
    ("/*" * 300_000, "pg"),
    ("$a$ $a$" * 100_000, "pg"),
    ("$a$" * 200_000, "pg"),
    ("$" + "a" * 600_000, "pg"),
    ("select " + "'x' -- c\n/* c */ $q$ y $q$ \"n\" " * 25_000, "pg"),
]


@pytest.mark.parametrize("text, family", _LARGE, ids=range(len(_LARGE)))
def test_the_reader_costs_linear_time(build, text, family):
    t = time.process_time()
    build._strip(text, family)
    build._words(text)
    assert time.process_time() - t < 10.0


def test_a_statement_over_the_limit_is_never_read_only(build):
    text = "SELECT 1 " + " " * _sql.MAX_SQL
    assert build.statement_read_only(text, "pg") is False
    assert build.test_input_read_only(False, {"sql": text}) is True
    assert build.test_input_read_only(True, {"sql": text}) is False
