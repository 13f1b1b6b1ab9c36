"""Worst-case decision times: generated inputs that make the analysis work hardest.

The agent's model controls every byte of a tool call, and the server decides on one event
loop, so one slow decision is every other agent's latency. This benchmark generates
inputs of each costly shape (many arguments, many paths, many commands, deep nesting,
long words, many redirects, wrappers, loops, inline code, huge file-tool inputs, ...)
at and just past the size limits, decides each with the cache off, and reports the
slowest decision per shape, with its verdict. Inputs past a limit must come back
undecided (never allow); the table says which did.

    .venv/bin/python bench/worst_case.py                 # compiled, table
    .venv/bin/python bench/worst_case.py --impl pure     # the pure twin
    .venv/bin/python bench/worst_case.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WS = "/home/dev/app"
BUDGET_MS = 20.0


def _fill(unit, size, head="", sep=" "):
    """head + unit(0) + sep + unit(1) ... as long as the result fits in size characters."""
    out = [head]
    n = len(head)
    k = 0
    while True:
        u = unit(k)
        if n + len(u) + len(sep) > size:
            break
        out.append(u)
        n += len(u) + len(sep)
        k += 1
    return (sep.join(out[1:]) if not head else head + sep.join(out[1:])).rstrip()


def shapes(command_limit, content_limit, values_limit, window):
    """(name, tool, tool_input) of every generated worst case, sized to the limits:
    command_limit is the longest Bash command analysed, content_limit the largest input
    judged (characters of JSON), values_limit the most values in one input, window the
    characters of each string the rules read."""
    L = command_limit
    bash = []

    def b(name, command):
        bash.append((name, "Bash", {"command": command}))

    for prog in ("mv", "cp", "rm -f", "chmod 644", "git add", "tar czf out.tgz", "ln -s", "scp"):
        b("args short: %s" % prog, _fill(lambda k: "a%d" % k, L, prog + " "))
    b("args abs paths: rm", _fill(lambda k: "/home/dev/app/build/x%d" % k, L, "rm -rf "))
    b("args home paths: cp", _fill(lambda k: "~/.config/x%d" % k, L, "cp "))
    b("args sys paths: cat", _fill(lambda k: "/etc/x%d" % k, L, "cat "))
    b("args globs: rm", _fill(lambda k: "*%d*/**/?[a-z]*" % k, L, "rm -rf "))
    b("args flags: rm", _fill(lambda k: "-%s" % "rfvi"[k % 4], L, "rm "))
    b("args long options: curl", _fill(lambda k: "--header=X-%d:v" % k, L, "curl https://example.com "))
    b("args options with values: find", _fill(lambda k: "-name x%d -o" % k, L, "find . ") + " -name z")
    b("args dotdot paths: rm", _fill(lambda k: "../" * (k % 40) + "x", L, "rm -rf "))
    b("one deep path", "rm -rf " + "a/" * ((L - 8) // 2))
    b("one dotdot path", "cat " + "../" * ((L - 6) // 3))
    b("one long word", "echo " + "x" * (L - 5))
    b("one long quoted word", "echo '" + "x" * (L - 7) + "'")
    b("one long double-quoted word with vars", 'echo "' + "$HOME/x" * ((L - 8) // 7) + '"')
    b("many commands ;", _fill(lambda k: "ls", L, "", "; "))
    b("many commands &&", _fill(lambda k: "true", L, "", " && "))
    b("many pipes", _fill(lambda k: "cat", L, "", " | "))
    b("many redirects", _fill(lambda k: "> o%d" % k, L, "echo hi "))
    b("many input redirects", _fill(lambda k: "< i%d" % k, L, "cat "))
    b("many assignments", _fill(lambda k: "v%d=x%d" % (k, k), L, "", " ") + " ls")
    b("many variable uses", "a=/tmp; " + _fill(lambda k: "$a/$a", L - 8, "ls "))
    b("many substitutions", _fill(lambda k: "$(echo x)", L, "echo "))
    b("many backticks", _fill(lambda k: "`echo x`", L, "echo "))
    b("many subshells", _fill(lambda k: "(ls)", L, "", "; "))
    b("many brace groups", _fill(lambda k: "{ ls; }", L, "", "; "))
    b("many functions", _fill(lambda k: "f%d() { ls; }" % k, L, "", "; "))
    b("many for loops", _fill(lambda k: "for x in a b c; do rm $x; done", L, "", "; "))
    b("for loop many words", _fill(lambda k: "w%d" % k, L - 25, "for x in ") + "; do rm -rf $x; done")
    b("many case arms", "case $x in " + _fill(lambda k: "p%d) ls;;" % k, L - 20, "") + " esac")
    b("many heredocs", _fill(lambda k: "cat <<E\nx\nE", L, "", "\n"))
    b("heredoc to shell", "bash <<'EOF'\n" + _fill(lambda k: "ls x%d" % k, L - 20, "", "\n") + "\nEOF")
    b("big heredoc to python", "python3 - <<'EOF'\n" + _fill(
        lambda k: "os.remove('x%d')" % k, L - 30, "", "\n") + "\nEOF")
    b("python -c many calls", "python3 -c \"" + _fill(
        lambda k: "os.remove('/tmp/x%d');" % k, L - 20, "") + "\"")
    b("python -c many exec calls", "python3 -c \"" + _fill(
        lambda k: "os.system('ls');", L - 20, "") + "\"")
    b("node -e many calls", "node -e \"" + _fill(
        lambda k: "fs.rmSync('x%d');" % k, L - 20, "") + "\"")
    b("xargs many items", "echo " + _fill(lambda k: "f%d" % k, L - 30, "") + " | xargs rm -f")
    b("xargs -I many items", "printf '%s\\n' " + _fill(lambda k: "f%d" % k, L - 40, "") + " | xargs -I{} rm {}")
    b("find many -exec", _fill(lambda k: "-exec rm {} ;", L, "find . "))
    b("many sudo options", _fill(lambda k: "-u root", L - 10, "sudo ") + " rm -rf /")
    for w in ("env", "command", "nice", "timeout 1", "xargs", "sudo", "nohup"):
        b("wrappers at the limit: %s" % w, (w + " ") * 32 + "rm -rf /")
        b("wrappers past the limit: %s" % w, (w + " ") * 33 + "rm -rf /")
        b("wrappers filling the input: %s" % w, _fill(lambda k: w, L - 10, "") + " rm -rf /")
    b("env -S nesting", "env -S 'env -S \"env -S rm -rf /\"'")
    b("many base64 decodes", _fill(lambda k: "$(echo cm0= | base64 -d)", L, "echo "))
    b("ssh many words", _fill(lambda k: "w%d" % k, L, "ssh host "))
    b("docker exec many words", _fill(lambda k: "w%d" % k, L, "docker exec app "))
    b("git many options", _fill(lambda k: "-c k%d=v" % k, L - 10, "git ") + " push -f")
    b("many globs in one word", "ls " + "*?" * ((L - 3) // 2))
    b("many escapes", "echo " + "\\x" * ((L - 5) // 2))
    b("many quotes", "echo " + "''" * ((L - 5) // 2))
    b("unbalanced quote at end", "echo " + "x " * ((L - 7) // 2) + "'")
    for depth in (7, 8, 9, 64):
        b("nested $() depth %d" % depth, "echo " + "$(echo " * depth + "rm -rf /" + ")" * depth)
        if depth < 12:  # each layer of quoting multiplies the quotes: 64 would not fit
            b("nested bash -c depth %d" % depth, _nest_bash_c(depth, "rm -rf /"))
        b("nested subshell depth %d" % depth, "(" * depth + "rm -rf /" + ")" * depth)
        b("nested eval depth %d" % depth, "eval " * depth + "rm -rf /")
    b("nested parentheses filling the input", "(" * (L // 2 - 1) + ")" * (L // 2 - 1))
    b("nested $() filling the input", "$(" * (L // 3) + ")" * (L // 3))
    b("past the command size limit", "rm -rf /; " + "x" * L)

    big = "x" * (content_limit - 1024)          # at the limit, with room for the rest of the input
    n = values_limit - 8                         # values at the limit, with room for the rest
    files = [
        ("write content at the limit", "Write", {"file_path": WS + "/a.txt", "content": big}),
        ("write content past the limit", "Write", {"file_path": WS + "/a.txt", "content": big + "x" * 2048}),
        ("write secret-like content", "Write", {"file_path": WS + "/a.txt",
                                                "content": "AKIA" * (len(big) // 4)}),
        ("write many lines", "Write", {"file_path": WS + "/a.txt", "content": "a\n" * (len(big) // 2)}),
        ("write content at the window", "Write", {"file_path": WS + "/a.txt", "content": "x" * window}),
        ("write many secret-like lines at the window", "Write", {
            "file_path": WS + "/a.txt", "content": "AKIAABCDEFGHIJKLMNOP\n" * (window // 21)}),
        ("edit huge strings", "Edit", {"file_path": WS + "/a.py", "old_string": big[: len(big) // 2],
                                       "new_string": big[: len(big) // 2]}),
        ("multiedit edits at the value limit", "MultiEdit", {"file_path": WS + "/a.py", "edits": [
            {"old_string": "a%d" % k, "new_string": "b%d" % k} for k in range(n // 3)]}),
        ("multiedit edits past the value limit", "MultiEdit", {"file_path": WS + "/a.py", "edits": [
            {"old_string": "a%d" % k, "new_string": "b%d" % k} for k in range(n // 3 + 8)]}),
        ("read deep path", "Read", {"file_path": WS + "/" + "a/" * 4000 + "x"}),
        ("read long path", "Read", {"file_path": WS + "/" + "x" * 60000}),
        ("read dotdot path", "Read", {"file_path": WS + "/" + "../" * 20000 + "etc/shadow"}),
        ("grep huge pattern", "Grep", {"pattern": "a" * (len(big) // 2), "path": WS}),
        ("webfetch long url", "WebFetch", {"url": "https://example.com/" + "a" * 60000, "prompt": "x"}),
        ("mcp fields at the value limit", "mcp__srv__tool", {"k%d" % k: "v%d" % k for k in range(n // 2)}),
        ("mcp long strings at the value limit", "mcp__srv__tool",
         {"k%d" % k: "v" * (content_limit // n) for k in range(n // 2)}),
        ("mcp list at the value limit", "mcp__srv__tool", {"items": ["x"] * n}),
        ("mcp list past the value limit", "mcp__srv__tool", {"items": ["x"] * (values_limit + 1)}),
        ("mcp deep nesting", "mcp__srv__tool", _nest_json(99)),
        ("mcp nesting past the limit", "mcp__srv__tool", _nest_json(101)),
    ]
    # files that run later: their content is judged as code, up to MAX_CONTENT
    from lighthouse._fast._content import MAX_CONTENT, MAX_CONTENT_LINES
    from lighthouse._fast._sql import MAX_SQL
    C = MAX_CONTENT
    files += [
        ("script at the content limit", "Write", {"file_path": WS + "/a.sh",
                                                 "content": _fill(lambda k: "rm -f a%d" % k, C, sep="\n")}),
        ("script past the content limit", "Write", {"file_path": WS + "/a.sh", "content": "x\n" * (C // 2 + 1)}),
        ("script of one long command", "Write", {"file_path": WS + "/a.sh",
                                                "content": _fill(lambda k: "a%d" % k, C, "rm -rf ")}),
        ("unparsed fragment at the line limit", "Edit", {
            "file_path": WS + "/a.sh", "old_string": "x",
            "new_string": "fi\n" + "echo x )\n" * min(MAX_CONTENT_LINES - 2, C // 8)}),
        ("unparsed fragment past the line limit", "Edit", {
            "file_path": WS + "/a.sh", "old_string": "x", "new_string": "fi\n" + "'\n" * (MAX_CONTENT_LINES + 1)}),
        ("makefile recipes at the content limit", "Write", {
            "file_path": WS + "/Makefile",
            "content": _fill(lambda k: "t%d:\n\t$(CC) -o a%d a.c" % (k, k), C, sep="\n")}),
        ("workflow steps at the content limit", "Write", {
            "file_path": WS + "/.github/workflows/ci.yml",
            "content": _fill(lambda k: "      - run: echo %d" % k, C, "jobs:\n  t:\n    steps:\n", sep="\n")}),
        ("package.json scripts at the content limit", "Write", {
            "file_path": WS + "/package.json",
            "content": _fill(lambda k: '"test": "jest a%d",' % k, C, "{", sep="\n")}),
        ("python script at the content limit", "Write", {
            "file_path": WS + "/setup.py", "content": _fill(lambda k: "os.remove('a%d')" % k, C, sep="\n")}),
    ]
    sql = _fill(lambda k: "count(a%d)" % k, min(MAX_SQL, L - 64), "SELECT ", sep=", ")
    bash.append(("sql at the read-only limit", "Bash", {"command": "psql -h db.example -c '%s'" % sql}))
    bash.append(("sql past the read-only limit", "Bash",
                 {"command": "psql -h db.example -c 'SELECT %s'" % ("1," * (MAX_SQL // 2) + "1")}))
    return bash + files


def _nest_bash_c(depth, inner):
    cmd = inner
    for _ in range(depth):
        cmd = "bash -c " + _sh_quote(cmd)
    return cmd


def _sh_quote(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _nest_json(depth):
    v = {"command": "rm -rf /"}
    for _ in range(depth):
        v = {"a": v}
    return v


def measure(validator, tool, tool_input, repeat):
    best = None
    decision = None
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        decision = validator.check(tool, tool_input, cwd=WS)
        dt = time.perf_counter_ns() - t0
        best = dt if best is None else min(best, dt)
    return best, decision


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=("compiled", "pure"), default="compiled")
    ap.add_argument("--repeat", type=int, default=3, help="decisions per input; the best is kept (default 3)")
    ap.add_argument("--only", default="", help="only shapes whose name contains this text")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)

    if args.impl == "pure":
        os.environ["LIGHTHOUSE_NO_EXTENSIONS"] = "1"
    from lighthouse import Validator, _fast
    from lighthouse.bounds import MAX_INPUT, MAX_VALUES, WINDOW

    if args.impl == "compiled" and not _fast.COMPILED:
        ap.error("the compiled extension is not importable; build it with `make install`")
    v = Validator(cache_size=0)
    rows = []
    command_limit = _fast.shell.MAX_LENGTH
    cases = [c for c in shapes(command_limit, MAX_INPUT, MAX_VALUES, WINDOW) if args.only in c[0]]
    for k, (name, tool, tool_input) in enumerate(cases, 1):
        if not args.json:
            print("\r[%d/%d] %-60s" % (k, len(cases), name[:60]), end="", file=sys.stderr, flush=True)
        ns, d = measure(v, tool, tool_input, args.repeat)
        size = len(json.dumps(tool_input))
        rows.append({"shape": name, "tool": tool, "input_bytes": size, "ms": ns / 1e6,
                     "verdict": d.verdict, "rule_id": d.rule_id, "tier": d.tier})
    if not args.json:
        print("\r" + " " * 72 + "\r", end="", file=sys.stderr)
    slowest = max(rows, key=lambda r: r["ms"])
    summary = {"impl": args.impl, "shapes": len(rows), "budget_ms": BUDGET_MS,
               "slowest_ms": slowest["ms"], "slowest_shape": slowest["shape"],
               "over_budget": [r["shape"] for r in rows if r["ms"] > BUDGET_MS],
               "limits": {"command_chars": command_limit, "input_chars": MAX_INPUT,
                          "input_values": MAX_VALUES, "window_chars": WINDOW}}
    if args.json:
        print(json.dumps({"summary": summary, "results": rows}, indent=2))
        return 0
    print("%-46s %9s %9s  %-7s %s" % ("shape", "bytes", "ms", "verdict", "rule"))
    for r in sorted(rows, key=lambda r: -r["ms"]):
        print("%-46s %9d %9.3f  %-7s %s" % (r["shape"][:46], r["input_bytes"], r["ms"], r["verdict"], r["rule_id"]))
    print()
    print("%s: %d shapes, slowest %.3f ms (%s); budget %.0f ms, over it: %s" % (
        args.impl, len(rows), slowest["ms"], slowest["shape"], BUDGET_MS,
        ", ".join(summary["over_budget"]) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
