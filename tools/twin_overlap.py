"""How much of each pure twin stands verbatim in its compiled twin.

For each pair lighthouse/_fast/_X_py.py / _X_c.pyx: the code lines of the pure twin
(stripped; blank lines, comments, docstrings, lone punctuation and lines shorter than
16 characters, such as `return False`, `else:` or `continue`, left out) that stand,
stripped, anywhere in the compiled twin, and their share.

    .venv/bin/python tools/twin_overlap.py [--json] [ROOT]
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

_TRIVIAL = re.compile(r"^[\s()\[\]{}:,]*$")


def code_lines(text):
    out = []
    in_doc = None
    for raw in text.splitlines():
        line = raw.strip()
        if in_doc:
            if in_doc in line:
                in_doc = None
            continue
        if not line or line.startswith("#") or _TRIVIAL.match(line):
            continue
        for q in ('"""', "'''"):
            if line.startswith(q) or line.startswith("r" + q):
                body = line[line.index(q) + 3:]
                if q not in body:
                    in_doc = q
                line = ""
                break
        if len(line) >= 16:
            out.append(line)
    return out


def overlap(root):
    fast = pathlib.Path(root) / "lighthouse" / "_fast"
    rows = {}
    for pure in sorted(fast.glob("_*_py.py")):
        name = pure.name[1:-len("_py.py")]
        compiled = fast / ("_%s_c.pyx" % name)
        if not compiled.exists():
            continue
        p = code_lines(pure.read_text())
        c = set(code_lines(compiled.read_text()))
        shared = sum(1 for line in p if line in c)
        rows[name] = {"pure_lines": len(p), "compiled_lines": len(c), "shared": shared,
                      "share": round(shared / len(p), 3) if p else 0.0}
    total = sum(r["shared"] for r in rows.values())
    return {"pairs": rows, "shared_lines": total}


def main(argv):
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    res = overlap(args[0] if args else pathlib.Path(__file__).resolve().parent.parent)
    if as_json:
        print(json.dumps(res, indent=2))
        return 0
    for name, r in res["pairs"].items():
        print("%-8s pure %5d code lines, %5d of them also in the compiled twin (%.0f%%)"
              % (name, r["pure_lines"], r["shared"], 100 * r["share"]))
    print("verbatim lines in both twins: %d" % res["shared_lines"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
