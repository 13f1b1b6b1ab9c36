"""`lighthouse patterns`: review the patterns learned from expert answers.

    lighthouse patterns list [--state pending|active|retired] [--json]
    lighthouse patterns show ID [--json]          # the pattern, who taught it, its example calls
    lighthouse patterns approve ID                # a person vouches for it: active
    lighthouse patterns retire ID [--note TEXT]   # it answers no call any more
    lighthouse patterns promote ID --rules FILE   # append it as a TOML rule, checked like `rules test`
                                                  # (under a lock on FILE.lock: promotions take turns)
    lighthouse patterns shape --command CMD [--cwd DIR]   # a call's shape, or why it has none

Every action takes ``--db PATH`` (default: the server's default, patterns.db beside the
default audit log). A running server picks up approve and retire within a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time

from .book import STATES, PatternBook, PatternError, default_patterns_path

__all__ = ["register", "rule_for", "promote", "PromotionError"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
LOCK_TIMEOUT = 60.0        # seconds a promotion waits for another one into the same rule file
_PATH_GLOBS = {"<ws-path>": ("{ws}/**",), "<ws-root>": ("{ws}",), "<tmp-path>": ("/tmp/**", "/var/tmp/**")}


class PromotionError(Exception):
    """A pattern that cannot be written as a rule (the message says why)."""


def _toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def _glob_literal(s):
    """A literal as a glob that matches only itself."""
    return "".join("\\" + c if c in "*?[]\\!@{}" else c for c in s)


def _unquote(word):
    """The literal a shape's exact word stands for (shapes quote some literals)."""
    if len(word) >= 2 and word[0] == "'" and word[-1] == "'":
        out, i, body = [], 0, word[1:-1]
        while i < len(body):
            if body[i] == "\\" and i + 1 < len(body):
                out.append({"n": "\n"}.get(body[i + 1], body[i + 1]))
                i += 2
            else:
                out.append(body[i])
                i += 1
        return "".join(out)
    return word


def rule_for(pattern, examples, specs=None):
    """The TOML text of a rule that decides ``pattern``'s calls with its verdict, with
    the example calls that taught it (those that answered its verdict) as the rule's
    examples. Only a pattern of one command (or of a file tool) whose arguments are
    workspace or temporary paths, words or numbers, or the exact literals of a
    destructive program, can be written; anything else raises PromotionError. The rule
    requires the pattern's program, subcommand and flags and limits the number and the
    places of the arguments; it does not forbid flags the pattern did not have, nor
    constrain option values: a reviewer reads it before it is kept."""
    from .shapes import FILE_TOOLS, NoShape, analyse_call, command_parts

    if pattern.verdict not in ("allow", "ask"):
        raise PromotionError("pattern #%d answers %s; only allow and ask patterns are promoted"
                             % (pattern.id, pattern.verdict))
    if pattern.context != "miss":
        raise PromotionError("pattern #%d was learned for calls rule %s asks about; a rule cannot override that "
                             "ask (deny > ask > allow): change that rule instead" % (pattern.id, pattern.context[4:]))
    if pattern.words:
        raise PromotionError("pattern #%d keeps words an expert named exactly (%s); a rule's globs cannot hold them "
                             "to it: write that rule by hand" % (pattern.id, ", ".join(sorted(pattern.words))))
    taught = [e for e in examples if e["verdict"] == pattern.verdict and e["scope"] == "shape"
              and isinstance(e.get("call"), dict) and "tool" in e["call"]]
    if not taught:
        raise PromotionError("pattern #%d has no example call that taught it" % pattern.id)
    call = taught[0]["call"]
    lines = ["", "# Promoted from learned pattern #%d `%s` (taught by %s, %s)." % (
        pattern.id, pattern.text(), pattern.taught_by.replace(",", ", ") or "a reviewer",
        time.strftime("%Y-%m-%d", time.gmtime(pattern.activated_at or pattern.created_at))),
        "[[rule]]",
        "id = %s" % _toml_str("learned.pattern-%d" % pattern.id),
        "verdict = %s" % _toml_str(pattern.verdict),
        "reason = %s" % _toml_str(("learned pattern #%d: %s" % (pattern.id, pattern.first_reason))[:300])]
    if pattern.tool in FILE_TOOLS:
        where, _, rest = pattern.shape.partition("/")
        if where != "<ws-path>" or not rest.startswith("*"):
            raise PromotionError("pattern #%d names a path outside the workspace or a hidden file; write that rule "
                                 "by hand" % pattern.id)
        lines.append("tools = [%s]" % _toml_str(pattern.tool))
        lines.append("paths = [%s]" % _toml_str("{ws}/**/" + rest))
    elif pattern.tool == "Bash":
        if " ; " in pattern.shape or " | " in pattern.shape:
            raise PromotionError("pattern #%d has several commands; a rule decides one command" % pattern.id)
        try:
            ws, commands = analyse_call("Bash", call["input"], call.get("cwd", ""), call.get("home", ""), specs)
            parts = command_parts(commands[0], ws, call.get("home", ""),
                                  specs(commands[0].program) if specs is not None else None)
        except (NoShape, KeyError, TypeError) as e:
            raise PromotionError("pattern #%d: its example call has no shape any more (%s)" % (pattern.id, e)) \
                from None
        if parts["env"] or parts["redirects"] or parts["program"] != commands[0].program:
            raise PromotionError("pattern #%d has environment assignments, redirects or a program named by a path; "
                                 "write that rule by hand" % pattern.id)
        from .shapes import LITERAL_OPTIONS
        kept = sorted({f.split("=", 1)[0] for f in parts["flags"] if "=" in f}
                      & LITERAL_OPTIONS.get(commands[0].program, frozenset()))
        if kept:
            raise PromotionError("pattern #%d keeps the value of %s (where the command acts); a rule does not "
                                 "constrain option values: write that rule by hand" % (pattern.id, ", ".join(kept)))
        lines.append("program = %s" % _toml_str(_glob_literal(parts["program"])))
        if parts["subcommand"]:
            lines.append("subcommand = [%s]" % ", ".join(_toml_str(_glob_literal(w)) for w in parts["subcommand"]))
        flags = sorted({f.split("=", 1)[0] for f in parts["flags"]} - {"--"})
        if flags:
            lines.append("flags = [%s]" % ", ".join(_toml_str(_glob_literal(_unquote(f))) for f in flags))
        args = parts["args"]
        lines.append("nargs_min = %d" % len(args))
        lines.append("nargs_max = %d" % len(args))
        if args and parts["exact"]:
            lines.append("args_all = [%s]" % ", ".join(_toml_str(_glob_literal(_unquote(a))) for a in args))
        elif args:
            globs = []
            for a in args:
                if a in _PATH_GLOBS:
                    globs.extend(g for g in _PATH_GLOBS[a] if g not in globs)
                elif a in ("<word>", "<num>", "<ref>"):
                    # A plain word is a relative path inside the workspace, for the path matcher.
                    globs.extend(g for g in ("{ws}", "{ws}/**") if g not in globs)
                else:
                    raise PromotionError("pattern #%d has an argument %s that a rule's globs cannot hold to its "
                                         "class; write that rule by hand" % (pattern.id, a))
            lines.append("paths_all = [%s]" % ", ".join(_toml_str(g) for g in globs))
    else:
        raise PromotionError("pattern #%d is of the %s tool; only Bash and file-tool patterns are promoted"
                             % (pattern.id, pattern.tool))
    exs = []
    seen = set()
    for example in taught:
        c = example["call"]
        key = json.dumps(c, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        cwd = c.get("cwd") or ""
        if c["tool"] == "Bash":
            exs.append("{ command = %s, cwd = %s, expect = %s }" % (
                _toml_str(c["input"].get("command", "")), _toml_str(cwd), _toml_str(pattern.verdict)))
        else:
            fields = ", ".join("%s = %s" % (k, _toml_str(v)) for k, v in c["input"].items()
                               if isinstance(v, str) and k.isidentifier())
            exs.append("{ tool = %s, input = { %s }, cwd = %s, expect = %s }" % (
                _toml_str(c["tool"]), fields, _toml_str(cwd), _toml_str(pattern.verdict)))
    lines.append("examples = [%s]" % ",\n            ".join(exs))
    return "\n".join(lines) + "\n"


def _book(args):
    return PatternBook(args.db, refresh_interval=-1)


def _when(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) if t else "-"


def cmd_list(args):
    book = _book(args)
    try:
        rows = book.patterns(args.state, args.limit)
    finally:
        book.close()
    if args.json:
        for p in rows:
            print(json.dumps(p.as_dict(), ensure_ascii=False))
        return EXIT_OK
    for p in rows:
        print("#%-5d %-7s %-5s %3d %6d  %-8s %s" % (p.id, p.state, p.verdict, p.agreeing, p.hits, p.context[:24],
                                                  p.text()))
    print("%d patterns" % len(rows), file=sys.stderr)
    return EXIT_OK


def cmd_show(args):
    book = _book(args)
    try:
        p = book.get(args.id)
        examples = book.examples(p.id)
    finally:
        book.close()
    if args.json:
        print(json.dumps(dict(p.as_dict(), examples=examples), ensure_ascii=False, indent=2))
        return EXIT_OK
    print("pattern #%d: %s" % (p.id, p.state))
    print("  shape:     %s" % p.text())
    print("  context:   %s" % p.context)
    if p.words:
        print("  exact:     %s (words an expert said must match; found by `%s`)" % (
            " ".join(sorted(p.words)), p.generic))
    print("  verdict:   %s (%d agreeing answer%s)" % (p.verdict, p.agreeing, "" if p.agreeing == 1 else "s"))
    print("  taught by: %s" % (p.taught_by.replace(",", ", ") or "-"))
    print("  created %s, active since %s, retired %s" % (_when(p.created_at), _when(p.activated_at),
                                                         _when(p.retired_at)))
    print("  hits:      %d call%s answered (a running server writes its count about every second)" % (
        p.hits, "" if p.hits == 1 else "s"))
    if p.note:
        print("  note:      %s" % p.note)
    print("  first reason: %s" % p.first_reason)
    for e in examples:
        c = e["call"]
        what = c.get("input", {}).get("command") if c.get("tool") == "Bash" else json.dumps(c.get("input"))
        print("  - %s %s %s (%s): %s  [cwd %s]" % (_when(e["at"]), e["expert"], e["verdict"], e["scope"],
                                                 what, c.get("cwd", "")))
    return EXIT_OK


def cmd_approve(args):
    book = _book(args)
    try:
        p = book.approve(args.id, who=args.who)
    finally:
        book.close()
    print("pattern #%d is active: %s -> %s" % (p.id, p.text(), p.verdict))
    return EXIT_OK


def cmd_retire(args):
    book = _book(args)
    try:
        p = book.retire(args.id, args.note)
    finally:
        book.close()
    print("pattern #%d is retired: %s" % (p.id, p.text()))
    return EXIT_OK


@contextlib.contextmanager
def _file_lock(target, timeout=None):
    """Hold an exclusive lock (fcntl) on ``TARGET.lock`` beside the rule file ``target``,
    waiting at most ``timeout`` seconds (:data:`LOCK_TIMEOUT`), so that promotions into
    one file (``lighthouse patterns promote`` in several processes, Admin.PromotePattern
    on several threads) take turns: each reads the file, checks it and replaces it while
    no other does. The rule file itself cannot carry the lock: it is replaced, not
    written in place. Raises PromotionError when the lock is not had in time."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    fd = os.open(target + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        give_up = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= give_up:
                    raise PromotionError("%s is being changed by another promotion (its lock %s.lock was held for "
                                         "%g s); nothing was written" % (target, target, timeout)) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def promote(book, pid, rules_file):
    """Append pattern ``pid`` of ``book`` to the rule file ``rules_file`` (created if
    missing) as a TOML rule with the examples that taught it (:func:`rule_for`), after
    checking that the file with the new rule loads and that the rule decides each
    example as `lighthouse rules test` does; nothing is written otherwise. Promotions
    into one file take turns (an fcntl lock on ``FILE.lock``, see :func:`_file_lock`),
    and the file is replaced whole (a complete temporary file renamed over it), so that
    concurrent promotions neither lose nor interleave rules and a reader sees the old
    file or the new one. Returns
    (rule id, TOML text, the file's absolute path). Raises PatternError (no such
    pattern) or PromotionError (why it was not written). What `lighthouse patterns
    promote` and Admin.PromotePattern do."""
    from .. import Validator
    from ..cli import _pack_sets
    from ..policy.input import RuleFacts
    from ..rules.loader import RuleError, example_call, example_failure, load_file

    p = book.get(pid)
    examples = book.examples(p.id)
    text = rule_for(p, examples, RuleFacts.shipped().spec)
    rule_id = "learned.pattern-%d" % p.id
    target = os.path.abspath(rules_file)
    with _file_lock(target):
        before = ""
        mode = None
        if os.path.exists(target):
            with open(target, encoding="utf-8") as f:
                before = f.read()
            mode = os.stat(target).st_mode & 0o7777
            if ('id = "%s"' % rule_id) in before:
                raise PromotionError("%s already holds rule %s" % (target, rule_id))
        # Check the file with the new rule before it replaces the old one: it loads, and
        # the new rule decides its examples (as `lighthouse rules test` does).
        # Hidden, so that a server loading the file's directory (--rules DIR) does not
        # take it for a rule file of its own before it is renamed.
        tmp = os.path.join(os.path.dirname(target), ".%s.promote-%d-%d-%d.toml"
                           % (os.path.basename(target), os.getpid(), threading.get_ident(), p.id))
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(before + ("\n" if before and not before.endswith("\n") else "") + text)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            try:
                rules, _, _ = load_file(tmp, _pack_sets())
                v = Validator([tmp], packs=True, cache_size=0)
            except RuleError as e:
                raise PromotionError("the rule does not load: %s" % e) from None
            problems = []
            for r in rules:
                if r["id"] != rule_id:
                    continue
                for ex in r.get("examples", ()):
                    tool, tool_input, cwd = example_call(ex)
                    problem = example_failure(r, ex, v.check(tool, tool_input, cwd=cwd))
                    if problem is not None:
                        problems.append("example %r: %s" % (ex.get("command") or tool_input, problem))
            if problems:
                raise PromotionError("%s; %s left unchanged" % ("; ".join(problems), target))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return rule_id, text, target


def cmd_promote(args):
    book = _book(args)
    try:
        rule_id, text, target = promote(book, args.id, args.rules)
    except PromotionError as e:
        print("lighthouse patterns promote: %s" % e, file=sys.stderr)
        return EXIT_ERROR
    finally:
        book.close()
    print(text.strip())
    print("rule %s appended to %s (load it with --rules %s; review it: it does not forbid other "
          "flags nor constrain option values)" % (rule_id, target, target), file=sys.stderr)
    return EXIT_OK


def cmd_shape(args):
    from ..policy.input import RuleFacts
    from .shapes import display, why_no_shape
    if args.command is not None:
        tool, tool_input = "Bash", {"command": args.command}
    else:
        try:
            tool_input = json.loads(args.input or "{}")
        except ValueError as e:
            print("lighthouse patterns shape: --input is not JSON: %s" % e, file=sys.stderr)
            return EXIT_USAGE
        tool = args.tool
    text, why = why_no_shape(tool, tool_input, os.path.abspath(args.cwd), args.home or os.path.expanduser("~"),
                             RuleFacts.shipped().spec)
    if text is None:
        print("no shape: %s" % why)
        return EXIT_ERROR
    print(display(tool, text))
    return EXIT_OK


def _run(func):
    def run(args):
        try:
            return func(args)
        except PatternError as e:
            print("lighthouse patterns: %s" % e, file=sys.stderr)
            return EXIT_ERROR
    return run


def register(sub):
    """Add the `patterns` command to the `lighthouse` argument parser's subparsers."""
    from ..audit.sqlite import default_audit_path
    default_db = default_patterns_path(default_audit_path())
    pat = sub.add_parser("patterns", help="review learned patterns: list, show, approve, retire, promote",
                         description="Patterns are expert answers generalised by call shape (`pytest <ws-path> -k "
                                     "<word>`); an active one answers the calls of its shape that would go to "
                                     "experts. See the README's \"Learned patterns\".")
    psub = pat.add_subparsers(dest="patterns_cmd", metavar="ACTION", required=True)

    def add(name, func, text):
        p = psub.add_parser(name, help=text, description=text)
        p.add_argument("--db", default=default_db,
                       help="the patterns file (default %s: beside the default audit log)" % default_db)
        p.set_defaults(func=_run(func))
        return p

    p = add("list", cmd_list, "list patterns, newest first: id, state, verdict, agreeing answers, hits (calls "
                              "answered; a running server writes them about every second), context, shape")
    p.add_argument("--state", choices=STATES)
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = add("show", cmd_show, "show a pattern: who taught it, when, the calls it answered (hits), and the "
                              "example calls")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p = add("approve", cmd_approve, "make a pattern active (a person vouches for it)")
    p.add_argument("id", type=int)
    p.add_argument("--who", default=os.environ.get("USER", "a person"), help="recorded in the pattern's note")
    p = add("retire", cmd_retire, "retire a pattern: it answers no call any more")
    p.add_argument("id", type=int)
    p.add_argument("--note", default="retired by a person", help="why (recorded)")
    p = add("promote", cmd_promote, "append a pattern to a rule file as a TOML rule with the examples that taught "
                                    "it, after checking the file loads and the rule decides them")
    p.add_argument("id", type=int)
    p.add_argument("--rules", required=True, metavar="FILE",
                   help="the user rule file to append to (created; promotions into it take turns under a lock on "
                        "FILE.lock, waiting at most %g s, and replace it whole)" % LOCK_TIMEOUT)
    p = add("shape", cmd_shape, "print a call's shape, or why it has none")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--command", help="a Bash command")
    g.add_argument("--tool", help="another tool's name (with --input)")
    p.add_argument("--input", help="the tool's input as JSON")
    p.add_argument("--cwd", default=os.getcwd(), help="the call's working directory (default: this one)")
    p.add_argument("--home", help="the agent's home (default: yours)")
