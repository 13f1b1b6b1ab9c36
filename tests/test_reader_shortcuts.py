"""The shortcuts the shared readers take for their common cases (lighthouse._fast._side,
_content) answer as the general reading they skip: a path joined to a directory that
has nothing to normalise is returned as it is, a URL's last name is found without
splitting, a package.json script without an escape is its text, and a file's kind by
its last extension before the name tests that follow it."""

import importlib
import json
import random
import re

import pytest

from lighthouse._fast import _content, _side

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


@pytest.fixture(scope="module", params=["source", pytest.param("compiled", marks=pytest.mark.compiled)])
def content_build(request):
    if request.param == "source":
        return _content
    if "compiled" not in IMPLS:
        if EXPECT_COMPILED:
            pytest.fail("the compiled extension is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return importlib.import_module("lighthouse._fast._content_c")


@pytest.mark.parametrize("path, kind", [
    ("/w/vite.config.ts", "node"), ("/w/a.config.mjs", "node"), ("/w/a.config.js.bak", None),
    ("/w/config.js", None), ("/w/Dockerfile.config.js", "dockerfile"), ("/w/x.sh", "shell"),
    ("/w/.github/workflows/ci.config.ts", "node"), ("/w/.github/workflows/ci.yml", "workflow"),
    ("/w/src/app.py", None), ("/w/Makefile", "makefile"), ("C:\\w\\b.config.cts", "node"),
])
def test_a_files_kind_is_read_in_order(content_build, path, kind):
    assert content_build.file_kind(path, "") == kind
