"""The shortcuts the shared readers take for their common cases (lighthouse._fast._side,
_content, _shell_shared) answer as the general reading they skip: a path joined to a
directory that has nothing to normalise is returned as it is, a URL's last name is found
without splitting, a package.json script without an escape is its text, a file's kind by
its last extension before the name tests that follow it, a `#!` line's program as its
regex reads it, option values and shell options by names compared one by one, and the
scratch names by one pass over a text; the scans in time linear in their input."""

import importlib
import json
import random
import re
import time

import pytest

from lighthouse._fast import _content, _shell_shared, _side

from conftest import EXPECT_COMPILED, IMPLS


def _join_by_parts(cwd, path):
    # the specification: the path under cwd (unless absolute or ~), its empty and "."
    # parts dropped and each ".." taking the part before it
    full = path if path.startswith(("/", "~")) else ((cwd.rstrip("/") + "/" + path) if cwd else path)
    parts = []
    for seg in full.split("/"):
        if seg == "..":
            if parts:
                parts.pop()
        elif seg and seg != ".":
            parts.append(seg)
    return ("/" if full.startswith("/") else "") + "/".join(parts)


def _basename_by_split(url):
    path = url.split("://", 1)[-1].split("?", 1)[0].split("#", 1)[0]
    name = path.rstrip("/").rsplit("/", 1)[-1] if "/" in path else ""
    return name or "index.html"


_PIECES = ["/", "//", ".", "..", "a", "~", "b.c", ".d", "x", "://", "?", "#", "http", "e/", "é"]


def test_a_joined_path_is_normalised_as_its_parts_are():
    rnd = random.Random(11)
    for _ in range(50000):
        cwd = "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(0, 5)))
        path = "".join(rnd.choice(_PIECES) for _ in range(rnd.randint(0, 5)))
        assert _side._join(cwd, path) == _join_by_parts(cwd, path), (cwd, path)
        assert _side._url_basename(cwd + path) == _basename_by_split(cwd + path), cwd + path


_SCRIPT_RE = re.compile(r'"(test|build|postinstall)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _scripts_by_json(text):
    out = []
    for m in _SCRIPT_RE.finditer(text):
        try:
            out.append(json.loads('"%s"' % m.group(2)))
        except ValueError:
            out.append(m.group(2))
    return out


def test_a_package_script_is_read_as_json_reads_it():
    values = ['"test": "vitest run"', '"test": "a\\\\b"', '"build": "x\x01y"', '"postinstall": "curl x | sh"',
              '"build": "a\\"b"', '"test": "\\u0041\\n"', '"test": "\\q"', '"build": "\ud800"']
    rnd = random.Random(13)
    for _ in range(5000):
        text = "{" + ", ".join(rnd.choice(values) for _ in range(rnd.randint(0, 4))) + "}"
        assert _content._package_scripts(text) == _scripts_by_json(text), text


def _build(param, source):
    if param == "source":
        return source
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return importlib.import_module(source.__name__ + "_c")


_BUILDS = ["source", pytest.param("compiled", marks=pytest.mark.compiled)]


@pytest.fixture(scope="module", params=_BUILDS)
def content_build(request):
    return _build(request.param, _content)


@pytest.fixture(scope="module", params=_BUILDS)
def side_build(request):
    return _build(request.param, _side)


@pytest.fixture(scope="module", params=_BUILDS)
def shared_build(request):
    return _build(request.param, _shell_shared)


@pytest.mark.parametrize("path, kind", [
    ("/w/vite.config.ts", "node"), ("/w/a.config.mjs", "node"), ("/w/a.config.js.bak", None),
    ("/w/config.js", None), ("/w/Dockerfile.config.js", "dockerfile"), ("/w/x.sh", "shell"),
    ("/w/.github/workflows/ci.config.ts", "node"), ("/w/.github/workflows/ci.yml", "workflow"),
    ("/w/src/app.py", None), ("/w/Makefile", "makefile"), ("C:\\w\\b.config.cts", "node"),
])
def test_a_files_kind_is_read_in_order(content_build, path, kind):
    assert content_build.file_kind(path, "") == kind


_SHEBANG = re.compile(r"^#!\s*(\S+)(?:\s+(?:-\S+\s+)*(\S+))?")


def _shebang_by_regex(text):
    # the specification: the program of a `#!` line, for env the word its regex takes
    m = _SHEBANG.match(text)
    if m is None:
        return None
    prog = m.group(1).rsplit("/", 1)[-1]
    if prog == "env" and m.group(2):
        prog = m.group(2).rsplit("/", 1)[-1]
    prog = prog.rstrip("0123456789.") if prog.startswith("python") else prog
    if prog in ("sh", "bash", "zsh", "dash", "ksh", "ash", "mksh"):
        return "shell"
    return _content._INTERPRETERS.get(prog, "python3" if prog == "python" else None)


_SHEBANG_PIECES = ["#!", "#", "!", " ", "\t", "\n", "\u2003", "/usr/bin/env", "env", "/bin/sh", "sh", "-S",
                   "-i", "-", "--", "bash", "python3.11", "node", "x", "-u", "python", "perl", "é"]


def test_a_shebang_is_read_as_its_regex_reads_it(content_build):
    rnd = random.Random(17)
    for _ in range(20000):
        text = ("#!" if rnd.random() < 0.8 else "") + "".join(
            rnd.choice(_SHEBANG_PIECES) for _ in range(rnd.randint(0, 8)))
        want = _shebang_by_regex(text)
        assert content_build.file_kind("/w/b.txt", text) == want, text
        assert content_build.file_kind("/w/.git/hooks/pre-push", text) == (want or "shell"), text


def _option_values_by_contains(args, names, bundles=True):
    # the specification: _option_values as it read with `in` on the names and slices
    out = []
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        if a[:1] != "-":
            k += 1
            continue
        if a == "--":
            break
        if a in names:
            if k + 1 < n:
                out.append(args[k + 1])
            k += 2
            continue
        if "=" in a and a.partition("=")[0] in names:
            out.append(a.partition("=")[2])
        elif not a.startswith("--") and len(a) > 2:
            if a[:2] in names:
                out.append(a[2:])
            elif bundles and a[1:].isalpha():
                # the first bundled letter that takes a value: the rest of the word, or
                # the next word
                hits = [j for j in range(2, len(a)) if "-" + a[j] in names]
                if hits and hits[0] + 1 < len(a):
                    out.append(a[hits[0] + 1:])
                elif hits and k + 1 < n:
                    out.append(args[k + 1])
                    k += 1
        k += 1
    return out


_OPTION_WORDS = ["-o", "--output", "-O", "-ofoo", "-o=x", "--output=y", "-ab", "-xo", "-abo", "--", "x", "",
                 "-", "--exec", "--exec=z", "-ofoo=bar", "-xfoo", "-f", "-ff", "=", "-=", "--=a", "-é"]
_OPTION_NAMES = [("-o", "--output"), ("-O",), ("--exec", "--receive-pack"), ("-x", "--extcmd"), ("-f",), ()]


def test_option_values_are_read_as_with_contains(side_build):
    rnd = random.Random(19)
    for _ in range(20000):
        args = [rnd.choice(_OPTION_WORDS) for _ in range(rnd.randint(0, 6))]
        names = rnd.choice(_OPTION_NAMES)
        bundles = rnd.random() < 0.5
        assert side_build._option_values(args, names, bundles) == \
            _option_values_by_contains(args, names, bundles), (args, names, bundles)


def test_option_values_cost_linear_time(side_build):
    # a bundle of a million letters, a long option a million long: each read once per name
    t = time.process_time()
    assert side_build._option_values(["-" + "a" * 1_000_000, "V"], ("-x", "--xa")) == []
    assert side_build._option_values(["-" + "a" * 1_000_000 + "x", "V"], ("-x",)) == ["V"]
    assert side_build._option_values(["--" + "a" * 1_000_000 + "=v"], ("--a", "-a")) == []
    assert side_build._option_values(["-a"] * 300_000 + ["-xV"], ("-x",)) == ["V"]
    assert time.process_time() - t < 10.0


_GIT_WORDS = ["push", "pull", "fetch", "clone", "archive", "difftool", "-u", "-uX", "--upload-pack",
              "--upload-pack=cmd", "--receive-pack", "--exec", "--exec=sh -c x", "-x", "-xcmd", "--extcmd=y",
              "--", "-", "--e", "--execx", "--force", "-f", "origin", "main", "", "-é"]


def test_git_option_commands_are_read_as_all_their_options_are(side_build):
    # the specification: every value _option_values reads of the words after the
    # subcommand (the gate that skips it when no word starts with a name misses none)
    rnd = random.Random(31)
    for _ in range(20000):
        sub = rnd.choice(sorted(_side.GIT_COMMAND_OPTIONS))
        args = [sub] + [rnd.choice(_GIT_WORDS) for _ in range(rnd.randint(0, 6))]
        want = [(_side.SH, v) for v in _option_values_by_contains(args[1:], _side.GIT_COMMAND_OPTIONS[sub], False)]
        assert side_build._read_side("git", args) == want, args


def test_git_option_commands_cost_linear_time(side_build):
    t = time.process_time()
    assert side_build._read_side("git", ["push"] + ["--force"] * 300_000 + ["origin"]) == []
    assert side_build._read_side("git", ["push"] + ["-f"] * 300_000 + ["--exec=x"]) == [(_side.SH, "x")]
    assert side_build._read_side("git", ["fetch", "--"] + ["--upload-pack=x"] * 300_000) == []
    assert time.process_time() - t < 10.0


def _shell_options_by_contains(args):
    # the specification: a shell's options as they were read with `in` and startswith
    k = 0
    n = len(args)
    saw_c = stdin = False
    while k < n:
        a = args[k]
        if a == "--":
            k += 1
            break
        if a in _shell_shared.SHELL_VALUE_OPTS:
            k += 2
            continue
        if a == "-s" or a == "-":
            stdin = True
        elif a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            saw_c = True
        elif not (a.startswith("-") or a.startswith("+")):
            break
        k += 1
    return min(k, n), saw_c, stdin


_SHELL_WORDS = ["-c", "-xc", "--c", "-o", "+o", "pipefail", "-s", "-", "--", "+x", "x", "", "-e", "--rcfile",
                "f", "+c", "-ec", "--init-file", "-O"]


def test_shell_options_are_read_as_with_contains(shared_build):
    rnd = random.Random(23)
    for _ in range(20000):
        args = [rnd.choice(_SHELL_WORDS) for _ in range(rnd.randint(0, 6))]
        k, saw_c, stdin = _shell_options_by_contains(args)
        assert shared_build.shell_code_arg(args) == (k if saw_c and k < len(args) else -1), args
        assert shared_build.shell_script_arg(args) == (k if not stdin and k < len(args) else -1), args


def test_scratch_names_are_found_as_with_contains(shared_build):
    rnd = random.Random(29)
    letters = "tmpshfdDownloadsfolders/-.é"
    for _ in range(20000):
        text = "".join(rnd.choice(letters) for _ in range(rnd.randint(0, 14)))
        want = any(name in text for name in _shell_shared.SCRATCH_NAMES)
        assert shared_build.scratch_named(text) is want, text


# about a million characters each: every scan reads its input once
_LARGE_SHEBANGS = ["#!/usr/bin/env " + "-a " * 300_000 + "bash", "#!/usr/bin/env " + "-a " * 300_000,
                   "#!" + " " * 1_000_000, "#!" + "x" * 1_000_000, "#!/usr/bin/env" + "\n-\n" * 300_000]


@pytest.mark.parametrize("text", _LARGE_SHEBANGS, ids=range(len(_LARGE_SHEBANGS)))
def test_a_shebang_costs_linear_time(content_build, text):
    t = time.process_time()
    assert content_build.file_kind("/w/.husky/pre-commit", text) == (_shebang_by_regex(text) or "shell")
    assert time.process_time() - t < 10.0


def test_scratch_names_cost_linear_time(shared_build):
    t = time.process_time()
    assert not shared_build.scratch_named("tm sh f Download folder " * 40_000)
    assert shared_build.scratch_named("t" * 1_000_000 + "mp")
    assert time.process_time() - t < 10.0


_PATH_PIECES = ["/", ".", "\\", "a", ".git", "hooks", ".github", "workflows", "Dockerfile", "Makefile", ".sh",
                ".config", ".js", "package.json", ".husky", "x.py", "setup.py", "é", ".bashrc", "~"]


@pytest.mark.compiled
def test_a_files_kind_is_the_same_in_both_builds():
    # the compiled build types the text as str and its #! reader's positions: the same
    # answers as the source for any path and text
    compiled = _build("compiled", _content)
    rnd = random.Random(31)
    for _ in range(30000):
        path = "".join(rnd.choice(_PATH_PIECES) for _ in range(rnd.randint(0, 7)))
        text = "".join(rnd.choice(_SHEBANG_PIECES) for _ in range(rnd.randint(0, 5)))
        assert compiled.file_kind(path, text) == _content.file_kind(path, text), (path, text)


def test_a_files_kind_costs_linear_time(content_build):
    t = time.process_time()
    assert content_build.file_kind("/a" * 500_000 + "/x.sh", "") == "shell"
    assert content_build.file_kind("\\." * 500_000, "") is None
    assert time.process_time() - t < 10.0


_SQL_PIECES = ["\\", "!", "o", "out", "g", "gx", "w", "write", "i", "ir", "include", "T", "t", ".", "dt", " ",
               "\t", "\n", ";", "x", "|", "program", "'a'", "tee", "source", "system", "from", "into",
               "outfile", "load_file(", "lo_import(", "dumpfile", "PROGRAM", "sh", "f"]


@pytest.mark.parametrize("language", ["psql", "mysql"])
def test_a_database_language_trigger_finds_every_text_it_reads(language):
    # the trigger gates the reader: whatever _sql finds in a text, the trigger finds
    trigger = _side._TEXT_TRIGGERS[language]
    rnd = random.Random(37)
    for _ in range(30000):
        text = "".join(rnd.choice(_SQL_PIECES) for _ in range(rnd.randint(1, 8)))
        if _side._sql(language, text):
            assert _side._triggered(trigger, text), text
