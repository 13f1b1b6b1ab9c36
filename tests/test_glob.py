"""Glob semantics of the rule engine, through `engine.glob_match(pattern, value, mode, cwd,
home)` on both implementations.

Path mode works on path segments: `*` `?` `[...]` stay inside one segment, `**` spans zero
or more segments, `~` patterns match the agent's home (the explicit one, else any of the
usual home roots), `{ws}` patterns match the workspace (the cwd), relative patterns match
at any depth, and values are resolved against the cwd with `..` removed before matching.
Text mode matches the whole string and `*` crosses `/`.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

WS = "/home/dev/app"


def match(impl, pattern, value, mode="path", cwd=WS, home=None):
    return impl[2].glob_match(pattern, value, mode, cwd, home)


def case(pattern, value, expected, mode="path", home=None, cwd=WS, xfail=None):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(pattern, value, mode, cwd, home, expected, marks=marks,
                        id="%s~%s[%s%s]" % (pattern, value, mode, ",home=" + home if home else ""))


def run(impl, pattern, value, mode, cwd, home, expected):
    assert match(impl, pattern, value, mode, cwd, home) is expected


# ------------------------------------------------------------------------- star, **

STAR = [
    case("/etc/*", "/etc/passwd", True),
    # path mode: * stays inside one segment
    case("/etc/*", "/etc/ssh/sshd_config", False),
    case("/srv/*.log", "/srv/a/b.log", False),
    case("/srv/*.log", "/srv/b.log", True),
    # text mode: * crosses /
    case("/etc/*", "/etc/ssh/sshd_config", True, mode="text"),
    case("a*c", "a/b/c", True, mode="text"),
    case("*.py", "src/pkg/mod.py", True, mode="text"),
    # text mode anchors the whole value
    case("rm", "rmdir", False, mode="text"),
    case("push", "git push", False, mode="text"),
    # ** matches zero or more segments
    case("/etc/**", "/etc", True),
    case("/etc/**", "/etc/a/b/c", True),
    case("/a/**/b", "/a/b", True),
    case("/a/**/b", "/a/x/y/z/b", True),
    case("/a/**/b", "/a/x/y/c", False),
    case("/a/**", "/b", False),
    case("/a/**", "/ab", False),
    case("**/id_rsa", "/home/x/.ssh/id_rsa", True),
    case("**/id_rsa", "/home/x/.ssh/id_rsa.pub", False),
    # a literal run between wildcards must be there, whole
    case("*://0.0.0.0*", "http://0.0.0.0:8000", True, mode="text"),
    case("*://0.0.0.0*", "tcp://0.0.0.0", True, mode="text"),
    case("*://0.0.0.0*", "http://0.0.0:8000", False, mode="text"),
    case("*://0.0.0.0*", "http:/0.0.0.0:8000", False, mode="text"),
    case("a*bcd?e*", "a-bcd-e", True, mode="text"),
    case("a*bcd?e*", "a-bc-d-e", False, mode="text"),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", STAR)
def test_star_and_globstar(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# ------------------------------------------------------------- ?, classes, braces, \

CHARS = [
    case("/tmp/?", "/tmp/a", True),
    case("/tmp/?", "/tmp/ab", False),
    case("/tmp/?", "/tmp/", False),
    case("/tmp/a?c", "/tmp/a/c", False),            # ? does not match / in path mode
    case("a?c", "a/c", True, mode="text"),           # ...but does in text mode
    case("/dev/sd[a-c]", "/dev/sdb", True),
    case("/dev/sd[a-c]", "/dev/sdd", False),
    case("/dev/sd[abc]1", "/dev/sdc1", True),
    case("/dev/sd[!a]", "/dev/sda", False),
    case("/dev/sd[!a]", "/dev/sdb", True),
    case("/dev/sd[^a]", "/dev/sda", False),
    case("/x/{a,b}.txt", "/x/a.txt", True),
    case("/x/{a,b}.txt", "/x/b.txt", True),
    case("/x/{a,b}.txt", "/x/c.txt", False),
    case("/x/{a,{b,c}}", "/x/c", True),              # nested braces
    case("{rm,rmdir}", "rmdir", True, mode="text"),
    case("{rm,rmdir}", "mkdir", False, mode="text"),
    case("\\*", "*", True, mode="text"),            # escaped star is a literal *
    case("\\*", "abc", False, mode="text"),
    case("/\\**", "/*", True),                       # literal * then anything
    case("/\\**", "/*.tmp", True),
    case("/\\**", "/etc", False),
    case("a\\?", "a?", True, mode="text"),
    case("a\\?", "ab", False, mode="text"),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", CHARS)
def test_single_chars_classes_braces_escapes(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# ------------------------------------------------------------------------ ~ and home

HOME = [
    # no explicit home: any of the usual home roots is a home
    case("~/.ssh/**", "/home/alice/.ssh/id_rsa", True),
    case("~/.ssh/**", "/root/.ssh/id_rsa", True),
    case("~/.ssh/**", "/Users/bob/.ssh/id_rsa", True),
    case("~/.ssh/**", "~/.ssh/id_rsa", True),
    case("~/.ssh/**", "/etc/.ssh/id_rsa", False),
    case("~/.ssh/**", "/home/alice/src/.ssh/id_rsa", False),
    case("~", "/home/alice", True),
    case("~", "/root", True),
    case("~", "/home", False),                       # /home itself is not a home
    case("~", "/home/alice/app", False),
    case("~/**", "/home/alice/app/x", True),
    # explicit home: only that directory is ~
    case("~/.ssh/**", "/srv/me/.ssh/id_rsa", True, home="/srv/me"),
    # another user's home is still a home (its keys are secrets) even when the agent's
    # own home is elsewhere
    case("~/.ssh/**", "/home/alice/.ssh/id_rsa", True, home="/srv/me"),
    case("~/.ssh/**", "~/.ssh/id_rsa", True, home="/srv/me"),
    case("/srv/me/.ssh/*", "~/.ssh/id_rsa", True, home="/srv/me"),    # ~ value resolves
    case("/home/*/.ssh/*", "~/.ssh/id_rsa", False, home="/srv/me"),
    case("~", "/srv/me/", True, home="/srv/me"),
    case("~", "/srv/me", True, home="/srv/me/"),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", HOME)
def test_home_patterns(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# --------------------------------------------------------------------- {ws} and cwd

WORKSPACE = [
    case("{ws}/src", "/home/dev/app/src", True),
    case("{ws}/src", "src", True),                   # relative values resolve against cwd
    case("{ws}/src", "./src/", True),
    case("{ws}/src", "/home/dev/other/src", False),
    case("{ws}/src", "/home/dev/app/lib/src", False),
    case("{ws}", "/home/dev/app", True),
    case("{ws}", ".", True),
    case("{ws}/**", "/home/dev/app", True),
    case("{ws}/**", "build/out/x.o", True),
    case("{ws}/**", "/home/dev/app-old/x", False),   # a sibling sharing the prefix
    case("{ws}/**", "../x", False),
    case("{ws}/**", "/tmp/x", False),
    case("{ws}/src", "src", True, cwd="/work/proj"),
    case("{ws}/src", "/home/dev/app/src", False, cwd="/work/proj"),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", WORKSPACE)
def test_workspace_patterns(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# ----------------------------------------------------------------- relative patterns

RELATIVE = [
    case(".env", "/x/y/.env", True),
    case(".env", ".env", True),
    case(".env", "config/.env", True),
    case(".env", "/x/y/.envrc", False),
    case(".env", "/x/y/prod.env", False),
    case("*.pem", "/etc/ssl/private/server.pem", True),
    case("*.pem", "/etc/ssl/private/server.pem.bak", False),
    case(".ssh/id_rsa", "/home/x/.ssh/id_rsa", True),
    case(".ssh/id_rsa", "/home/x/ssh/id_rsa", False),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", RELATIVE)
def test_relative_patterns_match_any_trailing_path(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# ------------------------------------------------------------------ .. resolution

DOTDOT = [
    case("/etc/passwd", "/tmp/../etc/passwd", True),
    case("/etc/passwd", "/../../etc/passwd", True),            # .. stops at /
    case("/etc/passwd", "../../../../etc/passwd", True),       # relative to cwd
    case("/etc/**", "/etc/../tmp/x", False),
    case("{ws}/**", "sub/../../../etc", False),
    case("{ws}/**", "sub/../lib/x.py", True),
    case("~/.ssh/**", "/home/dev/app/../.ssh/id_rsa", True),
    case("~/.ssh/**", "../.ssh/id_rsa", True),                 # cwd is /home/dev/app
    case("/etc/passwd", "./a/./../../../../etc/passwd", True),
    case("/home", "~/..", True, home="/home/dev"),
    case("/etc/shadow", "~/../../etc/shadow", True, home="/home/dev"),
    case("/etc/shadow", "~/../../etc/shadow", True),
]


@pytest.mark.parametrize("pattern,value,mode,cwd,home,expected", DOTDOT)
def test_dotdot_is_resolved_before_matching(impl, pattern, value, mode, cwd, home, expected):
    run(impl, pattern, value, mode, cwd, home, expected)


# ---------------------------------------------------------------- pathological inputs

def test_many_stars_against_long_text_is_fast(impl):
    start = time.process_time()
    assert match(impl, "*a*a*a*a*a*b", "a" * 5000, "text") is False
    assert time.process_time() - start < 10.0


def test_many_stars_against_long_path_segment_is_fast(impl):
    start = time.process_time()
    assert match(impl, "/*a*a*a*a*a*b", "/" + "a" * 5000) is False
    assert time.process_time() - start < 10.0


def test_many_globstars_against_deep_path_is_fast(impl):
    deep = "/" + "/".join(["aaaaaaaaaa"] * 120)
    start = time.process_time()
    assert match(impl, "/**/**/**/**/**/**/x", deep) is False
    assert match(impl, "/**/a*a*a*a*b/**/x", deep) is False
    assert time.process_time() - start < 10.0


def test_pathological_match_still_finds_a_real_match(impl):
    # the fast path must not trade correctness: the same shape with a b at the end matches
    assert match(impl, "*a*a*a*a*a*b", "a" * 5000 + "b", "text") is True


# ------------------------------------------------------- literal runs of text globs

def test_the_literal_runs_of_text_globs():
    from lighthouse._fast._globs import literal_run, text_needles
    assert literal_run("*://0.0.0.0*") == "://0.0.0.0"
    assert literal_run("[[]::]*") == "[::]"            # a one-character class is its character
    assert literal_run("a[!b]cd") == "cd"              # another class ends a run
    assert literal_run("ab\\*cde") == "cde"            # so does an escape
    assert literal_run("\\[a]a") == "a]a"              # and the escaped character is no class
    assert text_needles(["\\[a]a"]) == ("a]a",)
    assert literal_run("*") == ""
    # the shortest runs stand for the runs that hold them
    assert text_needles(["0.0.0.0*", "::", "[[]::]*", "*://0.0.0.0*", "--*=::"]) == ("0.0.0.0", "::")
    assert text_needles(["rm", "r*"]) is None          # a run of one character: no test
    assert text_needles([]) is None


TEXT_GLOB = st.lists(st.sampled_from(["*", "?", "a", "b", "ab", "ba", ":", "::", "[a]", "[!a]", "[ab]", "\\*",
                                      "[", "]", "\\"]), max_size=8).map("".join)


@settings(max_examples=1500, deadline=None)
@given(patterns=st.lists(TEXT_GLOB, min_size=1, max_size=4), value=TEXT_GLOB)
def test_a_text_that_a_glob_matches_holds_one_of_the_needles(patterns, value):
    # the needles are a necessary condition: every text one of the globs matches (by
    # the reference matcher) holds one of them
    from lighthouse._fast._globs import seg_match, text_needles
    needles = text_needles(patterns)
    if needles is not None and any(seg_match(p, value, True) for p in patterns):
        assert any(n in value for n in needles), (patterns, value, needles)
