"""Loading rule packs: TOML files -> validated, normalized rule specs.

A rule file holds ``[[rule]]`` tables, optional ``[sets]`` (named glob lists referenced as
``"@name"``) and ``[programs.NAME]`` tables describing how a program's argv reads (which
options take values, which arguments are data, which it writes). Later files override
earlier rules with the same id, so user files can change pack rules; ``enabled = false``
removes one. A file with an error is refused with :class:`RuleError` naming the file, the
line and the reason.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources

import re2

from .._fast._rulespec import WRITE_MODES
from .._fast._shell_shared import DOWNLOADS_GLOBS, PROGRAM_SCRATCH, SCRATCH_DIRS
from .._fast._side import PROGRAM_ALIASES
from ..errors import RuleError
from ..vocab import VERDICTS

__all__ = ["RuleError", "Policy", "load_policy", "pack_paths", "PACK_NAMES", "example_call",
           "example_decider", "example_failure"]

PACK_NAMES = ("programs", "filesystem", "git", "secrets", "exfiltration", "remote-exec",
              "system", "cloud", "database", "kubernetes", "docker", "package-install",
              "web", "mcp", "files", "routine")

_LIST_TEXT = ("program", "args", "args_all", "pipe_in", "pipeline", "code_from", "origin",
              "tools", "subcommand", "flags", "flags_any", "flags_none", "bare_options",
              "arg_hosts", "url_hosts", "workdir_scratch")
_LIST_PATH = ("paths", "paths_all", "writes", "reads", "redirects")
_REGEX = ("code", "any_field")
_BOOL = ("sudo", "dynamic", "enabled", "strip_literals", "escalate", "sql_read_only", "secret_elsewhere",
         "sql_input_read_only", "foreign_registry")
_INT = ("nargs_min", "nargs_max")
_BASH_ONLY = ("program", "subcommand", "flags", "flags_any", "flags_none", "args", "args_all",
              "writes", "reads", "options", "redirects", "sudo", "pipe_in", "pipeline", "code_from", "code",
              "origin", "dynamic", "env", "nargs_min", "nargs_max", "paths_all", "sql_read_only",
              "bare_options", "arg_hosts", "secret_elsewhere", "workdir_scratch", "foreign_registry")
_TOOL_ONLY = ("fields", "any_field", "sql_input_read_only", "url_hosts")
_ALLOWED = set(_LIST_TEXT + _LIST_PATH + _REGEX + _BOOL + _INT) | {
    "id", "verdict", "reason", "env", "options", "fields", "description", "examples"}
_PROGRAM_KEYS = {"value_options": list, "data_options": list, "data_positionals": int,
                 "single_dash_long": bool, "writes": str, "write_options": list,
                 "write_prefixes": list, "data_unless": list, "writes_when": list,
                 "global_options": list, "subcommand_dashdash": bool, "long_abbrev": list,
                 "toolchain_selector": bool, "bundled_first": bool, "writes_if": list,
                 "subcommands": dict, "flag_options": list, "digit_flags": bool,
                 "chdir_options": list}
# The keys of a writes_if entry (lighthouse._fast._rulespec.writes_if_entry).
_WRITES_IF_KEYS = {"flags": list, "flags_none": list, "options": list, "positionals": str,
                   "default": str}
# Subcommand tables nest at most this deep (`aws s3 cp`, `az storage blob download`).
MAX_SUBCOMMAND_DEPTH = 4
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
MAX_PATTERN_LENGTH = 1024
MAX_REGEX_PROGRAM = 20000


@dataclass
class Policy:
    """The rules in force: normalized rule specs, program specs, and where they came
    from."""
    rules: list = field(default_factory=list)
    programs: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)

    def rule(self, rule_id):
        for r in self.rules:
            if r["id"] == rule_id:
                return r
        return None

    def kept_asks(self):
        """The ids of the ask rules that say ``escalate = false``: only a person decides
        what they match, so their ask is not handed to the slower tiers."""
        return frozenset(r["id"] for r in self.rules if r.get("escalate") is False)


def pack_paths():
    """The rule packs shipped in the package, in load order."""
    base = resources.files("lighthouse.rules") / "packs"
    return [str(base / ("%s.toml" % name)) for name in PACK_NAMES]


class _Lines:
    """Find the line of a rule or key in the source text, for error messages."""

    def __init__(self, text):
        self.lines = text.splitlines()
        self.rule_starts = [k + 1 for k, line in enumerate(self.lines)
                            if line.strip().startswith("[[rule]]")]

    def rule_line(self, index):
        return self.rule_starts[index] if index < len(self.rule_starts) else None

    def key_line(self, index, key):
        start = self.rule_line(index)
        if start is None:
            return None
        end = self.rule_starts[index + 1] if index + 1 < len(self.rule_starts) else len(self.lines) + 1
        pat = re.compile(r"^\s*%s\s*=" % re.escape(key))
        for k in range(start, end - 1):
            if pat.match(self.lines[k]):
                return k + 1
        return start


def _parse_file(path):
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise RuleError(path, None, "cannot read: %s" % e.strerror) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleError(path, None, "not UTF-8 (byte %d)" % e.start) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line = int(m.group(1)) if m else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise RuleError(path, line, "TOML syntax error: %s" % msg) from None
    return text, data


def _check_glob(path, line, key, pattern):
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(path, line, "%s: every entry must be a non-empty string" % key)
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RuleError(path, line, "%s: pattern longer than %d characters" % (key, MAX_PATTERN_LENGTH))
    depth = 0
    for ch in pattern:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    if depth != 0:
        raise RuleError(path, line, "%s: unbalanced braces in %r" % (key, pattern))


# RE2 logs a pattern it cannot compile to stderr through absl ("WARNING: All log messages
# before absl::InitializeLog() ...", then "re2.cc:... Error parsing ..."), past the
# RuleError that says the same with the file and line.
_CHECK_OPTIONS = re2.Options()
_CHECK_OPTIONS.log_errors = False


def _check_regex(path, line, key, pattern):
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(path, line, "%s: must be a non-empty regular expression string" % key)
    try:
        rx = re2.compile(pattern, _CHECK_OPTIONS)
    except re2.error as e:
        why = e.args[0] if e.args else ""
        if isinstance(why, bytes):
            why = why.decode("utf-8", "replace")
        raise RuleError(path, line, "%s: invalid regular expression %r (RE2: %s)" % (key, pattern, why)) from None
    size = getattr(getattr(rx, "_regexp", None), "ProgramSize", None)
    if size is not None and size() > MAX_REGEX_PROGRAM:
        raise RuleError(path, line, "%s: regular expression is too large" % key)


# Sets every rule file may name without defining them, built from the analysers' own
# tables so that the rules and the analysers read one list: @scratch_dirs, the temporary
# directories (programs.toml's @scratch adds the devices written freely), and
# @program_scratch, where a program or script may have been put unreviewed.
BUILTIN_SETS = {
    "scratch_dirs": [d + "**" for d in SCRATCH_DIRS],
    "program_scratch": [d + "**" for d in PROGRAM_SCRATCH] + list(DOWNLOADS_GLOBS),
}

_SET_REF = re.compile(r"^(!?)@([A-Za-z_][A-Za-z0-9_-]*)$")


def _expand_sets(values, sets, path, line, key):
    """Replace "@name" entries with the named set ("!@name" negates each entry)."""
    out = []
    for v in values:
        m = _SET_REF.match(v) if isinstance(v, str) else None
        if m is None:
            out.append(v)
            continue
        neg, name = m.group(1), m.group(2)
        if name not in sets:
            raise RuleError(path, line, "%s: unknown set %r" % (key, "@" + name))
        for s in sets[name]:
            if neg:
                out.append(s[1:] if s.startswith("!") else "!" + s)
            else:
                out.append(s)
    return out


def _normalize_rule(raw, index, path, lines, sets):
    line = lines.rule_line(index)
    if not isinstance(raw, dict):
        raise RuleError(path, line, "[[rule]] must be a table")
    for key in raw:
        if key not in _ALLOWED:
            raise RuleError(path, lines.key_line(index, key), "unknown key %r in rule %r" % (key, raw.get("id", "?")))
    rid = raw.get("id")
    if not isinstance(rid, str) or not _ID_RE.match(rid):
        raise RuleError(path, line, "rule needs an 'id' of lowercase letters, digits, '.', '-' or '_'")
    spec = {"id": rid, "source": "%s:%s" % (path, line)}
    if raw.get("enabled") is False:
        spec["enabled"] = False
        return spec
    verdict = raw.get("verdict")
    if verdict not in VERDICTS:
        raise RuleError(path, lines.key_line(index, "verdict"),
                        "rule %r: verdict must be one of allow, ask, deny (got %r)" % (rid, verdict))
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise RuleError(path, lines.key_line(index, "reason"), "rule %r needs a 'reason' a person can read" % rid)
    spec["verdict"] = verdict
    spec["reason"] = reason.strip()
    spec["description"] = raw.get("description", "")
    for key in _LIST_TEXT + _LIST_PATH:
        if key not in raw:
            continue
        kl = lines.key_line(index, key)
        val = raw[key]
        if isinstance(val, str):
            val = [val]
        if not isinstance(val, list) or not val:
            raise RuleError(path, kl, "rule %r: %s must be a string or a non-empty list of strings" % (rid, key))
        if key in ("subcommand", "flags", "flags_any", "flags_none"):
            val = ["|".join(_expand_sets(item.split("|"), sets, path, kl, key)) if isinstance(item, str) else item
                   for item in val]
        else:
            val = _expand_sets(val, sets, path, kl, key)
        for p in val:
            _check_glob(path, kl, key, p)
        spec[key] = val
    for key in _REGEX:
        if key in raw:
            _check_regex(path, lines.key_line(index, key), key, raw[key])
            spec[key] = raw[key]
    for key in _BOOL:
        if key in raw and key != "enabled":
            if not isinstance(raw[key], bool):
                raise RuleError(path, lines.key_line(index, key), "rule %r: %s must be true or false" % (rid, key))
            spec[key] = raw[key]
    for key in _INT:
        if key in raw:
            if not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 0:
                raise RuleError(path, lines.key_line(index, key),
                                "rule %r: %s must be a non-negative integer" % (rid, key))
            spec[key] = raw[key]
    for key in ("env", "options", "fields"):
        if key in raw:
            kl = lines.key_line(index, key)
            table = raw[key]
            if not isinstance(table, dict) or not table:
                raise RuleError(path, kl, "rule %r: %s must be a table" % (rid, key))
            out = {}
            for name, val in table.items():
                if key in ("env", "options"):
                    val = [val] if isinstance(val, str) else val
                    if not isinstance(val, list) or not val:
                        raise RuleError(path, kl, "rule %r: %s.%s must be a glob or list of globs" % (rid, key, name))
                    val = _expand_sets(val, sets, path, kl, key)
                    for p in val:
                        _check_glob(path, kl, "%s.%s" % (key, name), p)
                else:
                    _check_regex(path, kl, "fields." + name, val)
                out[name] = val
            spec[key] = out
    if "examples" in raw:
        spec["examples"] = _check_examples(raw["examples"], rid, path, lines.key_line(index, "examples"))
    has_bash = any(k in spec for k in _BASH_ONLY)
    has_tool = any(k in spec for k in _TOOL_ONLY)
    tools = spec.get("tools")
    if has_bash and has_tool:
        raise RuleError(path, line, "rule %r mixes shell matchers (program, flags, ...) with tool-input "
                                    "matchers (fields, any_field)" % rid)
    if tools is None:
        spec["tools"] = ["Bash"] if has_bash else None
        if not has_bash and not has_tool and "paths" not in spec:
            raise RuleError(path, line, "rule %r has no matcher (program, tools, paths, fields, ...)" % rid)
        if spec["tools"] is None and "paths" in spec:
            raise RuleError(path, line, "rule %r: a paths rule must say which tools it covers" % rid)
    elif has_bash and tools != ["Bash"]:
        raise RuleError(path, line, "rule %r uses shell matchers, so its tools must be [\"Bash\"]" % rid)
    elif has_tool and "Bash" in tools:
        raise RuleError(path, line, "rule %r uses tool-input matchers (fields, any_field, ...), which a Bash "
                                    "call does not have: its tools must not include \"Bash\"" % rid)
    if "nargs_min" in spec and "nargs_max" in spec and spec["nargs_min"] > spec["nargs_max"]:
        raise RuleError(path, line, "rule %r: nargs_min is greater than nargs_max" % rid)
    if "escalate" in spec and spec["verdict"] != "ask":
        raise RuleError(path, lines.key_line(index, "escalate"),
                        "rule %r: escalate applies to ask rules only (a %s is final)" % (rid, spec["verdict"]))
    return spec


def _check_examples(examples, rid, path, line):
    """Examples are calls the rule file promises to decide a certain way (`rules test`)."""
    if not isinstance(examples, list):
        raise RuleError(path, line, "rule %r: examples must be a list of tables" % rid)
    for ex in examples:
        if not isinstance(ex, dict) or ex.get("expect") not in VERDICTS:
            raise RuleError(path, line, "rule %r: each example needs expect = allow, ask or deny" % rid)
        if not isinstance(ex.get("command"), str) and not isinstance(ex.get("input"), dict):
            raise RuleError(path, line, "rule %r: each example needs a command string or an input table" % rid)
        unknown = set(ex) - {"command", "input", "tool", "cwd", "expect", "rule"}
        if unknown:
            raise RuleError(path, line, "rule %r: unknown example keys %s" % (rid, sorted(unknown)))
        for key in ("tool", "cwd", "rule"):
            if key in ex and not isinstance(ex[key], str):
                raise RuleError(path, line, "rule %r: example %s must be a string" % (rid, key))
    return examples


EXAMPLE_CWD = "/home/dev/app"


def example_call(ex):
    """(tool, tool_input, cwd) of an example: a Bash `command`, or a `tool` and its `input`;
    the cwd defaults to the workspace /home/dev/app."""
    tool = ex.get("tool", "Bash")
    tool_input = ex.get("input") or ({"command": ex["command"]} if "command" in ex else {})
    return tool, tool_input, ex.get("cwd", EXAMPLE_CWD)


def example_decider(rule, ex):
    """The rule id that must decide an example, or None when only the verdict counts.

    An example's `rule` names it; without one, an example with the rule's own verdict
    must be decided by the rule itself (it is evidence for the rule), and one with another
    verdict is a near miss the rule must not decide (a different verdict proves that)."""
    if "rule" in ex:
        return ex["rule"]
    return rule["id"] if ex.get("expect") == rule.get("verdict") else None


def example_failure(rule, ex, decision):
    """What is wrong with `decision` as the answer to the example, or None when it keeps
    the example's promise: the expected verdict, from the rule that must decide it."""
    decider = example_decider(rule, ex)
    if decision.verdict == ex.get("expect") and (decider is None or decision.rule_id == decider):
        return None
    want = ex.get("expect") + (" by %s" % (decider or "no rule") if decider is not None else "")
    return "expected %s, got %s by %s" % (want, decision.verdict, decision.rule_id or "no rule")


def _program_line(name, text):
    """The line of a [programs.NAME] table, looked up only to report an error in it."""
    header = re.compile(r'^\s*\[programs\.(?:%s|"%s")\]' % (re.escape(name), re.escape(name)))
    for k, line in enumerate(text.splitlines()):
        if header.match(line):
            return k + 1
    return None


def _normalize_program(name, raw, path, text, table=None, depth=0):
    """The checked table of [programs.NAME] (or, for a subcommand's table, of
    [programs.NAME.subcommands.WORD...], named by table)."""
    table = table or name
    if not isinstance(raw, dict):
        raise RuleError(path, _program_line(name, text), "[programs.%s] must be a table" % table)
    out = {}
    for key, val in raw.items():
        want = _PROGRAM_KEYS.get(key)
        if want is None:
            problem = "[programs.%s]: unknown key %r" % (table, key)
        elif not isinstance(val, want) or (want is int and isinstance(val, bool)):
            problem = "[programs.%s]: %s must be a %s" % (table, key, want.__name__)
        elif key == "writes" and val not in WRITE_MODES:
            problem = "[programs.%s]: writes must be one of %s" % (table, ", ".join(WRITE_MODES))
        elif want is list and key != "writes_if" and not all(isinstance(v, str) for v in val):
            problem = "[programs.%s]: %s must be a list of strings" % (table, key)
        elif key == "writes_if":
            problem = _writes_if_problem(val, table)
            if problem is None:
                out[key] = val
                continue
        elif key == "subcommands":
            if depth >= MAX_SUBCOMMAND_DEPTH:
                problem = "[programs.%s]: subcommand tables nest at most %d deep" % (table, MAX_SUBCOMMAND_DEPTH)
            else:
                out[key] = {word: _normalize_program(name, sub, path, text, "%s.subcommands.%s" % (table, word),
                                                     depth + 1)
                            for word, sub in val.items()}
                continue
        else:
            out[key] = val
            continue
        raise RuleError(path, _program_line(name, text), problem)
    # A directory option's value is the directory: it must be read as a value.
    takes_value = set(out.get("value_options", ())) | set(out.get("global_options", ()))
    loose = [o for o in out.get("chdir_options", ()) if o not in takes_value]
    if loose and depth == 0:
        raise RuleError(path, _program_line(name, text), "[programs.%s]: chdir_options %s must be in value_options"
                        % (table, ", ".join(loose)))
    return out


def _writes_if_problem(entries, table):
    """What is wrong with a program's writes_if list, or None."""
    for k, e in enumerate(entries):
        where = "[programs.%s]: writes_if[%d]" % (table, k)
        if not isinstance(e, dict):
            return where + " must be a table"
        for key, val in e.items():
            want = _WRITES_IF_KEYS.get(key)
            if want is None:
                return "%s: unknown key %r (expected %s)" % (where, key, ", ".join(_WRITES_IF_KEYS))
            if not isinstance(val, want) or (want is list and not all(isinstance(v, str) for v in val)):
                return "%s: %s must be a %s" % (where, key, "list of strings" if want is list else "string")
        if e.get("positionals", "none") not in WRITE_MODES:
            return "%s: positionals must be one of %s" % (where, ", ".join(WRITE_MODES))
        if not (e.get("options") or e.get("positionals", "none") != "none" or "default" in e):
            return "%s writes nothing: give options, positionals or default" % where
    return None


def load_file(path, sets=None):
    """Parse and validate one rule file. Returns (rules, programs, sets)."""
    text, data = _parse_file(path)
    lines = _Lines(text)
    for key in data:
        if key not in ("rule", "sets", "programs", "pack"):
            raise RuleError(path, None, "unknown top-level table %r (expected [[rule]], [sets], [programs.NAME] "
                                        "or [pack])" % key)
    all_sets = dict(BUILTIN_SETS)
    all_sets.update(sets or {})
    for name, values in data.get("sets", {}).items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RuleError(path, None, "[sets] %s must be a list of strings" % name)
        all_sets[name] = _expand_sets(values, all_sets, path, None, "sets." + name)
    programs = {}
    for name, raw in data.get("programs", {}).items():
        programs[name] = _normalize_program(name, raw, path, text)
    rules_raw = data.get("rule", [])
    if not isinstance(rules_raw, list):
        raise RuleError(path, None, "'rule' must be an array of tables ([[rule]])")
    rules = []
    seen = set()
    for index, raw in enumerate(rules_raw):
        spec = _normalize_rule(raw, index, path, lines, all_sets)
        if spec["id"] in seen:
            raise RuleError(path, lines.rule_line(index), "duplicate rule id %r in this file" % spec["id"])
        seen.add(spec["id"])
        rules.append(spec)
    return rules, programs, all_sets


def _rule_files(paths):
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            # Hidden files are not rules: editors' swap files, and a promotion's file
            # before it is renamed over its target (lighthouse.patterns.cli.promote).
            out.extend(sorted(os.path.join(p, f) for f in os.listdir(p)
                              if f.endswith(".toml") and not f.startswith(".")))
        elif os.path.exists(p):
            out.append(p)
        else:
            raise RuleError(p, None, "no such rule file or directory")
    return out


def load_policy(extra=(), packs=True):
    """Load the shipped packs and then the user files/directories in `extra`; a later rule
    with the same id replaces an earlier one in place. ``packs=False`` leaves the rule
    packs out but keeps ``programs.toml``: it holds no rules, only how programs read
    their argv and the shared path sets, without which a user rule would misread
    ``git -C app push`` (``app`` taken for the subcommand)."""
    files = (pack_paths() if packs else pack_paths()[:1]) + _rule_files(extra)
    order = []
    by_id = {}
    programs = {}
    sets = {}
    for path in files:
        rules, progs, sets = load_file(path, sets)
        for name, spec in progs.items():
            merged = dict(programs.get(name, {}))
            merged.update(spec)
            programs[name] = merged
        for spec in rules:
            if spec["id"] not in by_id:
                order.append(spec["id"])
            by_id[spec["id"]] = spec
    rules = [_with_aliases(by_id[i]) for i in order if by_id[i].get("enabled", True)]
    for name, aliases in PROGRAM_ALIASES.items():
        if name in programs:
            for alias in aliases:
                programs.setdefault(alias, programs[name])
    return Policy(rules=rules, programs=programs, sources=files)


def _with_aliases(spec):
    """spec, or a copy whose program list also names the other names of each program it
    names (PROGRAM_ALIASES: a rule about `tar` holds for `bsdtar` and `gtar`; `!tar`
    leaves them all out)."""
    progs = spec.get("program")
    if not progs:
        return spec
    added = []
    for p in progs:
        neg = "!" if p.startswith("!") else ""
        for alias in PROGRAM_ALIASES.get(p[len(neg):], ()):
            if neg + alias not in progs and neg + alias not in added:
                added.append(neg + alias)
    if not added:
        return spec
    spec = dict(spec)
    spec["program"] = list(progs) + added
    return spec


def engine_specs(policy):
    """Split rules into the engine's per-kind specs (a rule covering Bash and other tools
    becomes one shell spec and one tool-input spec)."""
    out = []
    for spec in policy.rules:
        tools = spec.get("tools")
        if tools and "Bash" in tools:
            s = dict(spec)
            s["is_bash"] = True
            s["tools"] = None
            out.append(s)
            others = [t for t in tools if t != "Bash"]
            if others:
                t = dict(spec)
                t["is_bash"] = False
                t["tools"] = others
                out.append(t)
        else:
            s = dict(spec)
            s["is_bash"] = False
            out.append(s)
    return out
