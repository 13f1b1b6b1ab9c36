"""The server's modules import one way: no module imports, even lazily inside a function,
one that imports it back (lighthouse.server's docstring gives the order)."""

import ast

from conftest import ROOT

SERVER = ROOT / "lighthouse" / "server"
ORDER = ["main", "workers", "app", "service", "core", "decisionlog", "wire", "auth", "runtime", "config", "threads",
         "local"]


def _server_imports(path):
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name for a in node.names)
    return found


def test_server_modules_import_one_way():
    modules = {p.stem for p in SERVER.glob("*.py")} - {"__init__"}
    assert modules == set(ORDER)
    for name in ORDER:
        for imported in _server_imports(SERVER / (name + ".py")):
            assert ORDER.index(imported) > ORDER.index(name), "%s imports %s" % (name, imported)
