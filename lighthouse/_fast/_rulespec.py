"""A rule's matchers compiled from its spec, shared by both rule engines: it runs once
per policy load. Each engine passes its own GlobList class and keeps the per-call
matching (the kernels) to itself.

A matcher key is declared in the loader's schema (lighthouse/rules/loader.py) and either
written once here, as an entry of COMMAND_TESTS that both engines run, or compiled here
and tested by each engine's match code (the kernels, for the keys most rules use).
"""

from __future__ import annotations

from ..vocab import RAW_VERDICTS as VERDICTS
from ._prefilter import compile_search
from ._net import (compile_flag, compile_host_kinds, test_arg_hosts, test_foreign_registry, test_secret_elsewhere,
                   test_url_hosts)
from ._shell_shared import join_path, under_scratch
from ._sql import compile_read_only, test_input_read_only, test_read_only
from ._view import (CHDIR_MSG, MAX_CHDIR_WORK, chdir_rebased,  # noqa: F401 (exported with a program's spec)
                    conditional_writes, positional_writes, unbundle)

__all__ = ["VERDICTS", "FIELDS", "COMMAND_TESTS", "INPUT_TESTS", "rule_fields", "program_fields", "priority",
           "index_rules", "decision_dict", "decision_eq", "decision_repr", "WRITE_MODES", "positional_writes",
           "conditional_writes", "unbundle", "writes_if_entry", "program_spec_fields", "chdir_rebased",
           "test_bare_options"]

# The attributes of a compiled rule, in the order rule_fields gives them.
FIELDS = ("id", "verdict", "reason", "order", "tools", "programs", "subcommand", "flags_all",
          "flags_any", "flags_none", "args", "args_all", "paths", "paths_all", "writes",
          "redirects", "reads", "options", "sudo", "pipe_in", "pipeline", "code_from", "code",
          "origin", "dynamic", "env", "fields", "any_field", "nargs_min", "nargs_max",
          "strip_literals", "is_bash", "tests")


def test_bare_options(names, sc):
    """bare_options' test: one of names stands in the command's args without a value
    (the last word, or followed by an option). The compiled engine runs its own typed
    loop of it (_engine_c._bare_option)."""
    args = sc.args
    last = len(args) - 1
    for i, a in enumerate(args):
        if a in names and (i == last or args[i + 1][:1] == "-"):
            return True
    return False


_STREAM_DIRS = ("/dev/fd/", "/proc/self/fd/")


def _in_scratch(path, ws):
    """Whether a resolved directory or file (absolute, or `~/...`) is a temporary or
    downloads directory or lies under one (_shell_shared.under_scratch), and is not the
    workspace ws or under it (a workspace may itself lie in /tmp). An open descriptor
    (`-f <(curl ...)`, /dev/fd/N) is a stream, which the stream readers judge."""
    if not path.endswith("/"):
        path += "/"
    if not under_scratch(path) or path.startswith(_STREAM_DIRS):
        return False
    if ws:
        root = ws if ws.endswith("/") else ws + "/"
        return not path.startswith(root)
    return True


def _option_readings(names, args):
    """The values the options of names may take among args: the word after `-C` or
    `--dir`, `--dir=DIR`, `-CDIR`, and in a cluster of short flags (`-sC DIR`, `-sCDIR`)
    the word after it and the rest of the cluster after its first name and after the
    first later name followed by `/`, `~` or `.`. Not knowing which letters of a cluster
    take a value in this program, it gives these readings (a name that is a plain flag
    here must not hide the option after it: `make -dC DIR`, `make -dC/tmp/x`); no word
    is skipped as a value. The words after `--` are not options. One pass over args, at
    most two slices of a cluster: linear in their length. (_side._option_values reads
    one program's own options, consuming each value; these names gather several
    programs' options, some of them plain flags of the program at hand.)"""
    out = []
    n = len(args)
    for k in range(n):
        a = args[k]
        if a == "--":
            break
        if len(a) < 2 or a[0] != "-":
            continue
        nxt = args[k + 1] if k + 1 < n else ""
        if a in names:
            out.append(nxt)
        elif a[1] == "-":
            eq = a.find("=")
            if eq > 0 and a[:eq] in names:
                out.append(a[eq + 1:])
        else:
            first = True
            for j in range(1, len(a)):
                if "-" + a[j] in names:
                    rest = j + 1 < len(a)
                    if first:
                        out.append(nxt)
                        if rest:
                            out.append(a[j + 1:])
                        first = False
                    elif rest and a[j + 1] in "/~.":
                        out.append(a[j + 1:])
                        break
    return out


def test_workdir_scratch(names, sc, ws):
    """workdir_scratch's test: the command works in a temporary or downloads directory
    outside the workspace ws, where what it builds, tests or runs may have been put
    unreviewed: its working directory (the call's, or one an earlier `cd` set), or the
    directory or build file one of the options of names gives (`make -C /tmp/x`, `mvn -f
    ~/Downloads/x/pom.xml`), resolved against it. An unknown directory is not taken for
    one. The engines give it the workspace as a third argument."""
    cwd = sc.cwd or ws
    if _in_scratch(cwd, ws):
        return True
    if names:
        for value in _option_readings(names, sc.args):
            if value and _in_scratch(join_path(cwd, value), ws):
                return True
    return False


# Matcher keys of shell rules written once, for both engines: key -> (compile, test).
# compile(the key's value in the rule spec) runs once per policy load; test(compiled,
# sc) -> bool runs on a simple command (a SimpleCommand: program, args, cwd, sudo, env,
# redirects, pipe_in, pipeline, code_from, origin, code, dynamic) after every other
# matcher of the rule accepted it, in this table's order (workdir_scratch's also takes the
# workspace: test(compiled, sc, ws)). A new key starts here; it moves
# into the engines' match code only when bench/fast.py shows what it costs.
COMMAND_TESTS: dict = {
    # sql_read_only = true|false: whether the statement a database client runs only reads
    # (lighthouse._fast._sql); false makes a rule match writes and unknown statements.
    "sql_read_only": (compile_read_only, test_read_only),
    # bare_options = ["--host", ...]: one of these options stands without a value (the
    # last word, or followed by another option), anywhere in the args, `--` included:
    # `vite --host` and `npm run dev -- --host` listen on every interface.
    "bare_options": (frozenset, test_bare_options),
    # arg_hosts = ["metadata", ...]: a URL or host among the args (or inline code) points
    # at one of these kinds of host (lighthouse._fast._net), in any spelling its
    # resolver accepts (0xa9fea9fe, 169.254.43518, [::ffff:169.254.169.254]).
    "arg_hosts": (compile_host_kinds, test_arg_hosts),
    # secret_elsewhere = true|false: a request (curl, wget, httpie, ...) carries a
    # credential of a known service (lighthouse._fast._net.SECRET_HOSTS: GITHUB_TOKEN,
    # NPM_TOKEN, ...) to a host that is not that service's nor this machine's or its
    # network's, or to a host the call does not show.
    "secret_elsewhere": (compile_flag, test_secret_elsewhere),
    # workdir_scratch = ["-C", "--directory", ...]: the command works in a temporary or
    # downloads directory: its working directory, or the directory or build file one of
    # these options names (`cd /tmp/x && make`, `make -C ~/Downloads/x`).
    "workdir_scratch": (frozenset, test_workdir_scratch),
    # foreign_registry = true|false: the args name a package registry or index by a URL
    # whose host is not a public registry's (lighthouse._fast._net.REGISTRY_HOSTS) nor
    # this machine's or its network's, or by a value the call does not show.
    "foreign_registry": (compile_flag, test_foreign_registry),
}

# Matcher keys of tool rules (other tools' inputs) written once, for both engines, as
# COMMAND_TESTS for shell rules: test(compiled, tool_input) -> bool runs on the input
# object after every other matcher of the rule accepted it.
INPUT_TESTS: dict = {
    # sql_input_read_only = true|false: whether the SQL of a database tool's input (its
    # sql/query/statement field) only reads, as sql_read_only reads a client's statement.
    "sql_input_read_only": (compile_read_only, test_input_read_only),
    # url_hosts = ["metadata", ...]: the host of the input's url field is of one of these
    # kinds (lighthouse._fast._net).
    "url_hosts": (compile_host_kinds, test_url_hosts),
}

_TEXT_GLOBS = (("tools", "tools"), ("programs", "program"), ("args", "args"), ("args_all", "args_all"),
               ("pipe_in", "pipe_in"), ("pipeline", "pipeline"), ("code_from", "code_from"),
               ("origin", "origin"))
_PATH_GLOBS = ("paths", "paths_all", "writes", "redirects", "reads")


def _alternatives(items):
    return tuple(x for alts in items for x in alts.split("|"))


def rule_fields(spec, order, GlobList):
    """{attribute: value} of the compiled rule of a (validated) spec; matchers the rule
    does not use are None."""
    g = spec.get
    f = {"id": spec["id"], "verdict": VERDICTS.index(spec["verdict"]), "reason": spec["reason"],
         "order": order, "is_bash": spec["is_bash"]}
    for attr, key in _TEXT_GLOBS:
        f[attr] = GlobList(g(key), "text") if g(key) else None
    for key in _PATH_GLOBS:
        f[key] = GlobList(g(key), "path") if g(key) else None
    f["subcommand"] = [GlobList(alts.split("|"), "text") for alts in g("subcommand", ())]
    f["flags_all"] = [tuple(alts.split("|")) for alts in g("flags", ())]
    f["flags_any"] = _alternatives(g("flags_any", ()))
    f["flags_none"] = _alternatives(g("flags_none", ()))
    f["options"] = [(k, GlobList(v, "text")) for k, v in g("options", {}).items()] or None
    f["env"] = {k: GlobList(v, "text") for k, v in g("env", {}).items()} or None
    f["code"] = compile_search(g("code")) if g("code") else None
    f["fields"] = {k: compile_search(v) for k, v in g("fields", {}).items()} or None
    f["any_field"] = compile_search(g("any_field")) if g("any_field") else None
    for key in ("sudo", "dynamic", "nargs_min", "nargs_max"):
        f[key] = g(key)
    f["strip_literals"] = bool(g("strip_literals"))
    tests = COMMAND_TESTS if spec["is_bash"] else INPUT_TESTS
    f["tests"] = tuple((test, compile(g(key))) for key, (compile, test) in tests.items()
                       if g(key) is not None) or None
    return f


# How a subcommand's table is merged over its program's: these option lists are the
# program's plus the subcommand's, less the subcommand's flag_options (options that are
# plain flags there: `git grep -o`); these keys are the program's unless the subcommand
# sets them. What the positional arguments are (data_positionals, data_unless, writes,
# writes_when, write_prefixes, writes_if) is the subcommand's own, counted from the word
# after it.
_ADDED = ("value_options", "data_options", "write_options", "long_abbrev", "chdir_options")
_INHERITED = ("single_dash_long", "digit_flags")


def _subcommand_table(d, sub):
    """The table a subcommand's words are read with: sub merged over its program's d."""
    plain = frozenset(sub.get("flag_options", ()))
    merged = dict(sub)
    merged.pop("flag_options", None)
    for k in _ADDED:
        merged[k] = [o for o in list(d.get(k, ())) + list(sub.get(k, ())) if o not in plain]
    for k in _INHERITED:
        if k not in sub and k in d:
            merged[k] = d[k]
    return merged

# ProgramSpec.writes modes: which positionals a program writes (see program_fields).
WRITE_MODES = ("none", "last", "all", "after_first", "first")


def program_fields(d, level=0):
    """{attribute: value} of a program spec (how a program reads its argv; a table of
    programs.toml, or {} for a program it does not describe).

    The keys about what comes before a subcommand, as the program's own parser reads
    it: global_options take a value there only (`docker -c CTX rm`); subcommand_dashdash
    says a `--` there ends the global options, not the subcommand's (`git -- reset
    --hard`); long_abbrev lists long options the program also accepts as an unambiguous
    prefix (`git reset --ha`), each prefix counting as every listed option it starts
    (an ambiguous prefix is an error for the program, so this errs to the side of
    matching); toolchain_selector says a first `+NAME` picks a toolchain and is not the
    subcommand (`cargo +nightly publish`).

    The keys about what the program writes: write_options name options whose value is
    written; writes says which positionals are (none, the last of two or more, all, all
    after the first, or the first: `zip ARCHIVE FILES`), writes_when the flags without
    which they are not; writes_if is a list of conditional writes (see writes_if_entry).

    subcommands maps a subcommand word (the positional at index `level`) to its own
    table, read like a program's and merged here over the option tables it inherits
    (_subcommand_table): the engines switch to it when they reach that word (`git grep -o` is
    a flag, `git format-patch -o DIR` is written; `docker cp SRC DST` writes DST).
    Tables nest (`git bundle create FILE`, `aws s3 cp SRC DST`); level is the number of
    subcommand words before the positionals the spec describes.

    bundled_first says the first argument, when it does not start with `-`, is a cluster
    of old-style short flags whose value options take the next words in order (`tar cf
    FILE`, `tar xzf A -C DIR`, `ar rcs LIB`, `jar cvfm FILE MANIFEST`): see unbundle.
    digit_flags says `-9` is a flag (a compression level), not a positional.

    chdir_options name options whose value is the directory the program works in (`git
    -C DIR`, `make -C DIR`, `terraform -chdir=DIR`): the relative files it names, read or
    written, are under that directory (chdir_rebased)."""
    d = d or {}
    subs = None
    if d.get("subcommands"):
        subs = {}
        for word, sub in d["subcommands"].items():
            subs[word] = (_subcommand_table(d, sub), level + 1)
    writes_if = tuple(writes_if_entry(e) for e in d.get("writes_if", ()))
    return {"value_options": frozenset(d.get("value_options", ())),
            "data_options": frozenset(d.get("data_options", ())),
            "data_positionals": int(d.get("data_positionals", 0)),
            "single_dash_long": bool(d.get("single_dash_long", False)),
            "writes": d.get("writes", "none"),
            "write_options": frozenset(d.get("write_options", ())),
            "write_prefixes": tuple(d.get("write_prefixes", ())),
            "data_unless": frozenset(d.get("data_unless", ())),
            "writes_when": frozenset(d.get("writes_when", ())),
            "global_options": frozenset(d.get("global_options", ())),
            "subcommand_dashdash": bool(d.get("subcommand_dashdash", False)),
            "long_abbrev": tuple(d.get("long_abbrev", ())),
            "toolchain_selector": bool(d.get("toolchain_selector", False)),
            "bundled_first": bool(d.get("bundled_first", False)),
            "digit_flags": bool(d.get("digit_flags", False)),
            "writes_if": writes_if or None,
            "chdir_options": tuple(d.get("chdir_options", ())),
            "subcommands": subs,
            "level": level}


def program_spec_fields(d, level, ProgramSpec):
    """program_fields(d, level) with its subcommand tables built as the engine's own
    ProgramSpec(table, level) instances."""
    f = program_fields(d, level)
    if f["subcommands"] is not None:
        f["subcommands"] = {w: ProgramSpec(m, lv) for w, (m, lv) in f["subcommands"].items()}
    return f


def writes_if_entry(e):
    """(flags, flags_none, options, positionals, default) of one writes_if table: when
    one of `flags` is given (or always, without it) and none of `flags_none`, the values
    of `options` are written, and the positionals of mode `positionals` (WRITE_MODES);
    `default` is written when the entry wrote nothing else (`"."`: an extraction
    without -C writes into the working directory)."""
    return (frozenset(e.get("flags", ())), frozenset(e.get("flags_none", ())),
            tuple(e.get("options", ())), e.get("positionals", "none"), e.get("default"))


def priority(rule):
    """Rules are tried deny first, then ask, then allow; in file order within a verdict."""
    return (-rule.verdict, rule.order)


def index_rules(rules):
    """(bash_exact, bash_glob, bash_any, tool_rules) in priority order: Bash rules by the
    exact program names they match (name -> rules), those with program globs, those for
    any program; and the rules for other tools."""
    bash_exact = {}
    bash_glob = []
    bash_any = []
    tool_rules = []
    for r in sorted(rules, key=priority):
        if r.is_bash:
            if r.programs is None:
                bash_any.append(r)
            elif r.programs.exact is not None:
                for name in r.programs.exact:
                    bash_exact.setdefault(name, []).append(r)
            else:
                bash_glob.append(r)
        else:
            tool_rules.append(r)
    return bash_exact, bash_glob, bash_any, tool_rules


def decision_dict(d):
    return {"verdict": d.verdict, "rule_id": d.rule_id, "reason": d.reason,
            "tier": d.tier, "cached": d.cached, "generation": d.generation}


def decision_eq(d, other):
    """Decisions are equal by value (to_dict); a Decision and anything else are not."""
    if not isinstance(other, type(d)):
        return NotImplemented
    return decision_dict(d) == decision_dict(other)


def decision_repr(d):
    return ("Decision(verdict=%r, rule_id=%r, tier=%r, cached=%r, reason=%r)"
            % (d.verdict, d.rule_id, d.tier, d.cached, d.reason))
