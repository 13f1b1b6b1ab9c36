"""The shell parsers' stand-alone scanners (lighthouse._fast._shell_scan): one source,
imported by the pure parser and compiled as it is (_shell_scan_c) for the compiled one.
Each answers its specification in both builds, and the compiled build answers as the
source does on any text (characters of every width, positions at the ends)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse._fast import _shell_scan
from lighthouse._fast._errors import ShellError

from conftest import IMPLS, compiled_build

TEXT = st.lists(st.sampled_from(list("()<>&|-'\"\\$`{}\n\t x0179aAfFqé😀") + ["$(", "((", "))", "EOF"]),
                max_size=30).map("".join)


@pytest.fixture(scope="module", params=["source", pytest.param("compiled", marks=pytest.mark.compiled)])
def build(request):
    """The shared module as the pure parser imports it, and its compiled build."""
    if request.param == "source":
        return _shell_scan
    return compiled_build("_shell_scan_c")


@pytest.mark.parametrize("text, start, end, expected", [
    ("echo $(id)", 0, 10, True),
    ("echo `id`", 0, 9, True),
    ("echo $((1 + 2))", 0, 15, False),
    ("$(( $(id) ))", 0, 12, True),
    ("echo $(id)", 0, 7, True),         # the end cuts $( off what follows it
    ("echo $(id)", 6, 10, False),
    ("$((", 0, 3, False),
    ("$(", 0, 2, True),
    ("", 0, 0, False),
])
def test_runs_commands(build, text, start, end, expected):
    assert build.runs_commands(text, start, end) is expected


@pytest.mark.parametrize("text, start, expected", [
    ("((1 + 2))", 0, 9),
    ("x; ((a = b * (c + 1))); y", 3, 22),
    ("((echo a) )", 0, -1),            # a subshell in a subshell
    ("((a ')' + 1))", 0, 13),          # quotes hide a parenthesis
    ('(("))" + 1))', 0, 12),
    ('(("\\"))" + 1))', 0, 14),
    ("((1 + 2)", 0, -1),
    ("((a '", 0, -1),                  # an unclosed quote
    ("((\\))", 0, -1),
    ("((", 0, -1),
])
def test_arith_end(build, text, start, expected):
    assert build.arith_end(text, start) == expected


@pytest.mark.parametrize("text, start, expected", [
    ("f()", 1, 3),
    ("f ( \t) { :; }", 2, 6),
    ("f (x)", 2, -1),
    ("f (", 2, -1),
    ("f ( \n)", 2, -1),
])
def test_funcdef_end(build, text, start, expected):
    assert build.funcdef_end(text, start) == expected


@pytest.mark.parametrize("text, token, op", [
    (">f", ">", ">"), (">>f", ">>", ">>"), (">&2", ">&", ">"), (">|f", ">|", ">"),
    ("&>f", "&>", ">"), ("&>>f", "&>>", ">>"), ("<f", "<", "<"), ("<>f", "<>", ">"),
    ("<&3", "<&", "<&"), ("<<EOF", "<<", "<<"), ("<<-EOF", "<<-", "<<-"), ("<<<w", "<<<", "<<<"),
    (">", ">", ">"), ("<", "<", "<"), ("<<", "<<", "<<"), ("&>", "&>", ">"), (">>", ">>", ">>"),
])
def test_redirect_token(build, text, token, op):
    assert build.redirect_token(text, 0) == token
    assert build.REDIRECT_OPS[token] == op
    assert build.redirect_token("x " + text, 2) == token


@pytest.mark.parametrize("text, expected", [
    ("$'a\\nb\\tc'", "a\nb\tc"),
    ("$'\\x41\\x4a2'", "AJ2"),
    ("$'\\x'", "\\x"),
    ("$'\\xg'", "\\xg"),
    ("$'\\101\\0\\7'", "A\x00\x07"),
    ("$'\\1012'", "A2"),                # at most three octal digits
    ("$'\\r\\a\\b\\e\\v\\f'", "\r\a\b\x1b\v\f"),
    ("$'\\q\\\\\\''", "q\\'"),
    ("$'é😀'", "é😀"),
    ("$''", ""),
])
def test_ansi_c(build, text, expected):
    assert build.ansi_c(text, 0) == (expected, len(text))
    assert build.ansi_c("echo " + text + " x", 5) == (expected, 5 + len(text))


@pytest.mark.parametrize("text", ["$'abc", "$'", "$'a\\'", "$'\\"])
def test_ansi_c_unclosed(build, text):
    with pytest.raises(ShellError, match="unterminated \\$'...' string at offset %d" % len(text)):
        build.ansi_c(text, 0)


@pytest.mark.parametrize("text, start, delim, strip, expected", [
    ("a\nb\nEOF\nrest", 0, "EOF", False, ("a\nb\n", 8)),
    ("cat <<E\nx\nE", 8, "E", False, ("x\n", 11)),
    ("a\n\tEOF\nrest", 0, "EOF", True, ("a\n", 7)),
    ("a\n\tEOF\nrest", 0, "EOF", False, ("a\n\tEOF\nrest\n", 11)),
    ("a\nb", 0, "EOF", False, ("a\nb\n", 3)),       # no delimiter: the rest of the text
    ("", 0, "EOF", False, ("\n", 0)),
    ("EOF\n", 0, "EOF", False, ("\n", 4)),
    ("EOFX\nEOF", 0, "EOF", False, ("EOFX\n", 8)),
])
def test_heredoc_body(build, text, start, delim, strip, expected):
    assert build.heredoc_body(text, start, delim, strip) == expected


@pytest.mark.parametrize("text, start, expected", [
    ("$HOME/x", 1, 5), ("${a_1}", 2, 5), ("x9_Z-", 0, 4), ("é", 0, 0), ("ab", 2, 2), ("a b", 0, 1),
])
def test_name_end(build, text, start, expected):
    assert build.name_end(text, start) == expected


@pytest.mark.parametrize("operand, runs, expected", [
    ("x", False, ("x", None)),
    ("x:-a b", False, ("x", "a b")),
    ("x:=d", False, ("x", "d")),
    ("x-d", False, ("x", "d")),
    ("x=d", False, ("x", "d")),
    ("x:-$(id)", True, ("x", None)),        # a default that runs a command is unknown
    ("x:?err", False, ("x", None)),
    ("x#pre", False, ("x", None)),
    ("@", False, ("@", None)),
    ("1x", False, ("1x", None)),            # a special parameter first, name characters after
    ("#x", False, ("#x", None)),
    ("!ref", False, ("!ref", None)),
    ("-", False, ("-", None)),
    ("", False, ("", None)),
    (":-x", False, ("", "x")),
    ("x:", False, ("x", None)),
])
def test_var_operand(build, operand, runs, expected):
    text = "echo ${" + operand + "}"
    assert build.var_operand(text, 7, 7 + len(operand), runs) == expected


@pytest.mark.parametrize("text, expected", [
    ("`id`", "id"),
    ("`echo \\`id\\``", "echo `id`"),
    ("`a \\$b \\\\ \\c`", "a $b \\ \\c"),
    ("``", ""),
    ("`é😀`", "é😀"),
])
def test_backtick_text(build, text, expected):
    assert build.backtick_text(text, 0) == (expected, len(text))
    assert build.backtick_text("x " + text + " y", 2) == (expected, 2 + len(text))


@pytest.mark.parametrize("text", ["`id", "`", "`a\\`"])
def test_backtick_text_unclosed(build, text):
    with pytest.raises(ShellError, match="unterminated backtick at offset 2"):
        build.backtick_text("x " + text, 2)


def _answer(f, *args):
    try:
        return ("ok", f(*args))
    except ShellError as e:
        return ("error", str(e))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.integers(min_value=0, max_value=40))
def test_compiled_build_answers_as_the_source(text, at):
    compiled = compiled_build("_shell_scan_c")
    i = min(at, len(text))
    end = max(i, len(text) - at % 3)
    assert compiled.runs_commands(text, i, end) == _shell_scan.runs_commands(text, i, end)
    assert _answer(compiled.arith_end, text, i) == _answer(_shell_scan.arith_end, text, i)
    assert _answer(compiled.funcdef_end, text, i) == _answer(_shell_scan.funcdef_end, text, i)
    assert _answer(compiled.heredoc_body, text, i, "EOF", at % 2 == 0) == \
        _answer(_shell_scan.heredoc_body, text, i, "EOF", at % 2 == 0)
    if i < len(text) and text[i] in "<>":
        assert compiled.redirect_token(text, i) == _shell_scan.redirect_token(text, i)
    assert _answer(compiled.name_end, text, i) == _answer(_shell_scan.name_end, text, i)
    assert compiled.var_operand(text, i, end, at % 2 == 0) == _shell_scan.var_operand(text, i, end, at % 2 == 0)
    if text[i:i + 1] == "`":
        assert _answer(compiled.backtick_text, text, i) == _answer(_shell_scan.backtick_text, text, i)
    if text[i:i + 2] == "$'":
        assert _answer(compiled.ansi_c, text, i) == _answer(_shell_scan.ansi_c, text, i)


# The word tests both analysers take from _shell_shared (compiled as _shell_shared_c):
# interp_family answers as the regular expressions of its specification.
_PY_FAMILY = re.compile(r"^(python|pypy)[0-9.]*$")
_NAME = st.lists(st.sampled_from(["python", "pypy", "perl", "ruby", "nodejs", "luajit", "node", "p", "3", ".", "1",
                                  "\n", "²", "٣", "x", "/", "-"]), max_size=5).map("".join)


def _family(prog):
    if _PY_FAMILY.match(prog):
        return "python"
    for name in ("perl", "ruby"):
        if prog.startswith(name) and prog[4:].replace(".", "").isdigit():
            return name
    return {"nodejs": "node", "luajit": "lua"}.get(prog, prog)


@pytest.mark.parametrize("prog, family", [
    ("python", "python"), ("python3", "python"), ("python3.12", "python"), ("pypy3", "python"),
    ("python3\n", "python"), ("python3x", "python3x"), ("pythonw", "pythonw"), ("pytest", "pytest"),
    ("perl", "perl"), ("perl5.36", "perl"), ("perl5x", "perl5x"), ("ruby3.2", "ruby"), ("ruby.", "ruby."),
    ("nodejs", "node"), ("node", "node"), ("luajit", "lua"), ("pip", "pip"), ("p", "p"), ("", ""),
])
def test_interp_family(prog, family):
    from lighthouse._fast import _shell_shared
    assert _shell_shared.interp_family(prog) == family == _family(prog)
    if "compiled" in IMPLS:
        assert compiled_build("_shell_shared_c").interp_family(prog) == family


@settings(max_examples=500, deadline=None)
@given(_NAME, _NAME)
def test_interp_family_and_program_name_answer_as_their_specification(prog, head):
    from lighthouse._fast import _shell_shared
    assert _shell_shared.interp_family(prog) == _family(prog)
    word = head + "/" + prog if head else prog
    expected = word[word.rfind("/") + 1:] if "/" in word[:-1] and not word.endswith("/") else word
    assert _shell_shared.program_name(word) == expected
    if "compiled" in IMPLS:
        compiled = compiled_build("_shell_shared_c")
        assert compiled.interp_family(prog) == _family(prog)
        assert compiled.program_name(word) == expected
