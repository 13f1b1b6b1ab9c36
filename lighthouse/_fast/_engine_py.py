"""Rule matching, pure-Python reference implementation.

An :class:`Engine` is built from normalized rule specs (plain dicts made by
``lighthouse.rules.loader``) and program specs, and answers ``evaluate(tool, tool_input,
cwd, home)`` with ``(verdict, rule_id, reason)`` where verdict is one of ``VERDICTS``.
Bash input is analysed into simple commands first; every command must be allowed for the
call to be allowed, any deny wins, then any ask, and a command no rule covers makes the
call a miss.

Globs never backtrack exponentially: a pattern is split into path segments, ``**``
segments are matched with a memo over (pattern segment, value segment) pairs, and each
segment with the classic single-backtrack wildcard algorithm. Text rules use RE2.
"""

from __future__ import annotations

from ._engine_shared import (ALLOW, ASK, COMMAND_MSG, DENY,
                             EMPTY_MSG, ENGINE_API, FALLBACK_MSG, HOME_ROOTS,
                             INTERNAL_MSG, LIMIT_MSG, MAX_INPUT_DEPTH,
                             MAX_MATCH_LENGTH, MAX_PATH_SEGMENTS, MAX_RULE_LISTS,
                             MISS, NESTED_MSG, NO_OP_MSG,
                             NO_PROGRAM_RULE_MSG, NO_TOOL_RULE_MSG,
                             PATH_FIELDS, PATH_LENGTH_MSG, PATH_SEGMENTS_MSG,
                             TOO_DEEP_MSG,
                             UNNORMALIZED_MSG, UNPARSED_MSG, checker_init,
                             checker_set_engine, engine_tables, last_parse, match_one,
                             unknown_option_verdict)
from ._engine_shared import MAX_TOOL_LENGTH  # noqa: F401 (exported with the other limits)
from ._content import CONTENT_TOOLS, combine, content_verdict
from ._errors import LimitError
from ._globs import glob_facts, glob_list_parts, seg_match, word_context, word_may_match
from ._keys import finish
from ._rulespec import (FIELDS, VERDICTS, decision_dict, decision_eq, decision_repr, priority, program_spec_fields,
                        rule_fields, test_workdir_scratch)
from ._shell_py import DYN, ShellError, analyze
from ._shell_shared import normpath
from ._toolinput import flatten as _flatten
from ._view import chdir_rebased, conditional_writes, unbundle
from ._toolinput import call_error, input_error, strip_sql_literals

__all__ = list(ENGINE_API)


# ------------------------------------------------------------------- globs

class PathGlob:
    """A path glob split into segments, with the facts that let most non-matching values
    be rejected without running the general matcher: the literal leading segments, the
    literal last segment, the minimum segment count and the shape of its `**` segments."""

    __slots__ = ("anchor", "segs", "literal", "nprefix", "tail", "minsegs", "shape")

    def __init__(self, anchor, segs):
        self.anchor = anchor
        self.segs = segs
        self.literal, self.nprefix, self.tail, self.minsegs, self.shape = glob_facts(segs)

    def match(self, v):
        n = len(v)
        segs = self.segs
        if n < self.minsegs:
            return False
        if self.tail is not None and v[n - 1] != self.tail:
            return False
        for i in range(min(self.nprefix, n)):
            if v[i] != segs[i]:
                return False
        shape = self.shape
        if shape == 0:
            if n != len(segs):
                return False
            for i in range(self.nprefix, n):
                if not (v[i] == segs[i] if self.literal[i] else seg_match(segs[i], v[i], False)):
                    return False
            return True
        if shape == 1:
            for i in range(self.nprefix, len(segs) - 1):
                if not (v[i] == segs[i] if self.literal[i] else seg_match(segs[i], v[i], False)):
                    return False
            return True
        if shape == 2:
            off = n - len(segs)
            for i in range(1, len(segs)):
                if not (v[off + i] == segs[i] if self.literal[i] else seg_match(segs[i], v[off + i], False)):
                    return False
            return True
        return _match_segs(segs, v)


def _match_segs(psegs, vsegs):
    np_, nv = len(psegs), len(vsegs)
    failed = set()
    stack = [(0, 0)]
    while stack:
        i, j = stack.pop()
        if (i, j) in failed:
            continue
        failed.add((i, j))
        if i == np_:
            if j == nv:
                return True
            continue
        p = psegs[i]
        if p == "**":
            for k in range(nv, j - 1, -1):
                stack.append((i + 1, k))
            continue
        if j < nv and seg_match(p, vsegs[j], False):
            stack.append((i + 1, j + 1))
    return False


class GlobList:
    """Positive and negative globs: a value matches when some positive matches (or there
    are no positives) and no negative matches. Path globs whose last segment is literal
    are indexed by it, so a value is only tried against globs that can match its name."""

    __slots__ = ("pos", "neg", "mode", "exact", "pos_index", "neg_index")

    def __init__(self, patterns, mode):
        self.mode = mode
        self.pos, self.neg, self.exact, self.pos_index, self.neg_index = glob_list_parts(patterns, mode, PathGlob)

    def match_text(self, value):
        if self.exact is not None:
            return value in self.exact
        if self.pos and not any(seg_match(g[1], value, True) for g in self.pos):
            return False
        return not any(seg_match(g[1], value, True) for g in self.neg)

    def match_forms(self, forms):
        """forms: (abs_segs, home_segs or None, ws_segs or None)."""
        if self.pos and not _indexed_match(self.pos_index, forms):
            return False
        return not (self.neg and _indexed_match(self.neg_index, forms))


def _indexed_match(index, forms):
    by_tail, other = index
    for g in other:
        if _glob_forms(g, forms):
            return True
    if by_tail:
        seen = None
        for v in forms:
            if v is None or not v:
                continue
            key = v[len(v) - 1]
            if key == seen:
                continue
            seen = key
            for g in by_tail.get(key, ()):
                if _glob_forms(g, forms):
                    return True
    return False


def _glob_forms(g, forms):
    anchor = g.anchor
    if anchor == "abs" or anchor == "rel":
        v = forms[0]
    elif anchor == "home":
        v = forms[1]
    else:
        v = forms[2]
    return v is not None and g.match(v)


def glob_match(pattern, value, mode="path", cwd="", home=None):
    """Match one glob against one value (for tests and `lighthouse rules explain`)."""
    return match_one(GlobList, path_forms, pattern, value, mode, cwd, home)


# ------------------------------------------------------------------- paths

def path_forms(value, cwd, home, workspace):
    """Resolve a path argument; return its segment lists as (absolute, home-relative,
    workspace-relative). `~` resolves to `home` when given, else stays a home marker."""
    if not value:
        raw = cwd
    elif value[0] == "/" or value[0] == "~" or not cwd:
        raw = value
    else:
        raw = cwd.rstrip("/") + "/" + value
    h = normpath(home) if home else None
    if h and raw and raw[0] == "~" and (len(raw) == 1 or raw[1] == "/"):
        # substitute before resolving `..`, so `~/../x` is judged against the real home
        raw = h.rstrip("/") + raw[1:]
    full = normpath(raw) if raw else ""
    if len(full) > MAX_MATCH_LENGTH:
        raise LimitError(PATH_LENGTH_MSG)
    abs_segs = full.split("/") if full != "/" else [""]
    if len(abs_segs) > MAX_PATH_SEGMENTS:
        raise LimitError(PATH_SEGMENTS_MSG)
    home_segs = None
    if full.startswith("~"):
        home_segs = abs_segs
    elif h and (full == h or full.startswith(h.rstrip("/") + "/")):
        home_segs = ["~"] + [s for s in full[len(h.rstrip("/")):].split("/") if s]
    elif full.startswith(HOME_ROOTS):
        parts = abs_segs
        home_segs = ["~"] + parts[3:] if len(parts) >= 3 and parts[2] not in ("", "*", "**") else None
    elif full == "/root" or full.startswith("/root/"):
        home_segs = ["~"] + abs_segs[2:]
    ws_segs = None
    if workspace:
        ws = workspace.rstrip("/")
        if full == ws:
            ws_segs = ["{ws}"]
        elif full.startswith(ws + "/"):
            ws_segs = ["{ws}"] + full[len(ws) + 1:].split("/")
    return (abs_segs, home_segs, ws_segs)


def _path_candidate(arg):
    """The path an argument names, or None: `@file` (curl), `key=value`, `--opt=value`."""
    if not arg or arg == "-" or arg == DYN:
        return None
    if arg[0] == "@" and len(arg) > 1:
        arg = arg[1:]
    elif "=" in arg and not arg.startswith(("/", ".", "~")):
        eq = arg.index("=")
        key = arg[:eq].lstrip("-")
        if key and all(ch.isalnum() or ch in "-_." for ch in key):
            arg = arg[eq + 1:]
            if arg.startswith("@"):
                arg = arg[1:]
    if not arg or "://" in arg:
        return None
    return arg


def _local_target(arg):
    """Whether a positional a write mode names may be a local file: not `-` (stdin or
    stdout) nor a URL (`s3://bucket/key`, `rtmp://host/live`)."""
    return arg != "-" and "://" not in arg


# ------------------------------------------------------------------- rules

class ProgramSpec:
    __slots__ = ("value_options", "data_options", "data_positionals", "single_dash_long",
                 "writes", "write_options", "write_prefixes", "data_unless", "writes_when",
                 "global_options", "subcommand_dashdash", "long_abbrev", "toolchain_selector",
                 "bundled_first", "digit_flags", "writes_if", "subcommands", "level", "chdir_options")

    def __init__(self, d=None, level=0):
        for name, value in program_spec_fields(d, level, ProgramSpec).items():
            setattr(self, name, value)


_EMPTY_SPEC = ProgramSpec()


def _abbreviated(name, full_names):
    """The long options a program that accepts unambiguous prefixes may read name as:
    name itself, and every option of full_names that it is a proper prefix of."""
    if name in full_names:
        return (name,)
    return (name,) + tuple(f for f in full_names if f.startswith(name))


class _View:
    """Derived facts about one simple command, computed once and shared by its rules."""

    __slots__ = ("sc", "flags", "options", "positionals", "path_args", "writes", "cwd",
                 "home", "ws", "_written", "_forms", "_cands", "_engine", "_context")

    def __init__(self, sc, spec, home, ws, engine=None):
        self.sc = sc
        self._engine = engine
        self._context = False
        self.cwd = sc.cwd or ws
        self.home = home
        self.ws = ws
        flags = set()
        options = {}         # option -> [values]
        positionals = []     # (index in path_args or -1, value)
        path_args = []       # args (not data) that may name paths
        writes = []
        args = sc.args
        if spec.bundled_first:
            args = unbundle(args, spec.value_options)
        n = len(args)
        k = 0
        ended = False
        while k < n:
            a = args[k]
            if not ended and a == "--":
                if spec.subcommand_dashdash and not positionals:
                    k += 1      # ends the global options only
                    continue
                ended = True
                flags.add("--")
                k += 1
                continue
            if not ended and len(a) > 1 and a[0] == "-" and (not a[1].isdigit() or spec.digit_flags):
                globals_ = spec.global_options if not positionals else ()
                if a[1] == "-" or spec.single_dash_long:
                    name, eq, val = a.partition("=")
                    flags.add(name)
                    names = (name,)
                    if spec.long_abbrev and a[1] == "-" and len(name) > 2:
                        names = _abbreviated(name, spec.long_abbrev)
                        flags.update(names)
                    # an abbreviation of a value option takes the next word as well
                    if not eq and k + 1 < n and (name in globals_ or
                                                 any(x in spec.value_options for x in names)):
                        k += 1
                        val = args[k]
                        eq = "="
                    for name in names:
                        if eq:
                            options.setdefault(name, []).append(val)
                            if name not in spec.data_options:
                                path_args.append(val)
                            if name in spec.write_options:
                                writes.append(val)
                else:
                    flags.add(a)
                    for j in range(1, len(a)):
                        f = "-" + a[j]
                        flags.add(f)
                        if f in spec.value_options or f in globals_:
                            val = a[j + 1:]
                            if val[:1] == "=":
                                val = val[1:]
                            elif not val and k + 1 < n:
                                k += 1
                                val = args[k]
                            options.setdefault(f, []).append(val)
                            if f not in spec.data_options:
                                path_args.append(val)
                            if f in spec.write_options:
                                writes.append(val)
                            break
                k += 1
                continue
            if spec.toolchain_selector and not positionals and a[:1] == "+":
                k += 1          # `cargo +nightly ...`: not the subcommand
                continue
            positionals.append(a)
            k += 1
            # a subcommand with its own table: the words after it are read by that table
            if spec.subcommands is not None and len(positionals) == spec.level + 1:
                sub = spec.subcommands.get(a)
                if sub is not None:
                    spec = sub
        data = spec.data_positionals
        if data and spec.data_unless and not flags.isdisjoint(spec.data_unless):
            data = 0
        base = spec.level        # the subcommand words are not paths
        for idx, a in enumerate(positionals):
            if idx < base or data < 0 or idx - base < data:
                continue
            path_args.append(a)
            for pre in spec.write_prefixes:
                if a.startswith(pre):
                    writes.append(a[len(pre):])
        mode = spec.writes
        if spec.writes_when and flags.isdisjoint(spec.writes_when):
            mode = "none"
        if mode == "last":
            if len(positionals) - base >= 2 and _local_target(positionals[-1]):
                writes.append(positionals[-1])
        elif mode == "all":
            if data >= 0:
                writes.extend(positionals[base + data:])
        elif mode == "after_first":
            writes.extend(positionals[base + 1:])
        elif mode == "first":
            if len(positionals) > base and _local_target(positionals[base]):
                writes.append(positionals[base])
        if spec.writes_if is not None:
            writes.extend(conditional_writes(spec.writes_if, flags, options, positionals, base, data))
        if spec.chdir_options and options and any(name in options for name in spec.chdir_options):
            path_args, writes = chdir_rebased(spec.chdir_options, options, path_args, writes)
        for op, target in sc.redirects:
            if op == ">" or op == ">>":
                writes.append(target)
            elif op == "<":
                path_args.append(target)
        self.flags = flags
        self.options = options
        self.positionals = positionals
        self.path_args = path_args
        self.writes = writes
        self._written = None
        self._forms = {}
        self._cands = {}

    def written(self):
        """The written arguments as a set (a command may name thousands of paths)."""
        if self._written is None:
            self._written = frozenset(self.writes)
        return self._written

    def maybe(self, value):
        """Whether a path glob of the engine's word index (Engine.word_index) may match
        a form of value: False rules it out for every rule the index stands for."""
        if self._context is False:
            e = self._engine
            self._context = None if e is None else e.word_context(self.cwd, self.home)
        if self._context is None:
            return True
        return word_may_match(self._engine.word_index, value, self._context)

    # The path forms a rule's paths, reads and writes are matched against, each list
    # built whole before the first match is tried: a path past a limit (LimitError)
    # makes the call undecided whichever argument a rule would have matched first,
    # never a verdict on the arguments before it. pf: only the words the engine's word
    # index may match.
    def path_cands(self, pf):
        key = ("paths", pf)
        found = self._cands.get(key)
        if found is None:
            found = self._cands[key] = [
                self.forms(p) for p in map(_path_candidate, self.path_args)
                if p is not None and (not pf or self.maybe(p))]
        return found

    def read_cands(self, pf):
        if not self.writes:
            return self.path_cands(pf)
        key = ("reads", pf)
        found = self._cands.get(key)
        if found is None:
            written = self.written()
            found = self._cands[key] = [
                self.forms(p) for p in map(_path_candidate, [a for a in self.path_args if a not in written])
                if p is not None and (not pf or self.maybe(p))]
        return found

    def write_cands(self, pf):
        key = ("writes", pf)
        found = self._cands.get(key)
        if found is None:
            found = self._cands[key] = [
                self.forms(p) for p in [_path_candidate(w) if w.startswith("@") else w for w in self.writes]
                if p and (not pf or self.maybe(p))]
        return found

    def forms(self, value):
        f = self._forms.get(value)
        if f is None:
            f = path_forms(value, self.cwd, self.home, self.ws)
            self._forms[value] = f
        return f


class Rule:
    """A compiled rule. Matcher fields are None when the rule does not use them; pf is
    True when the engine's word index stands for its path matchers (words it rules out
    are skipped)."""

    __slots__ = FIELDS + ("pf",)

    def __init__(self, spec, order):
        for name, value in rule_fields(spec, order, GlobList).items():
            setattr(self, name, value)
        self.pf = False

    # -- Bash: one simple command
    def match_command(self, v):
        sc = v.sc
        if self.sudo is not None and sc.sudo != self.sudo:
            return False
        if self.dynamic is not None and sc.dynamic != self.dynamic:
            return False
        if self.origin is not None and not self.origin.match_text(sc.origin):
            return False
        pos = v.positionals
        nsub = len(self.subcommand)
        if nsub:
            if len(pos) < nsub:
                return False
            for k in range(nsub):
                if not self.subcommand[k].match_text(pos[k]):
                    return False
        flags = v.flags
        for alts in self.flags_all:
            for f in alts:
                if f in flags:
                    break
            else:
                return False
        if self.flags_any:
            for f in self.flags_any:
                if f in flags:
                    break
            else:
                return False
        for f in self.flags_none:
            if f in flags:
                return False
        rest = pos[nsub:]
        if self.nargs_min is not None and len(rest) < self.nargs_min:
            return False
        if self.nargs_max is not None and len(rest) > self.nargs_max:
            return False
        if self.args is not None:
            for a in rest:
                if self.args.match_text(a):
                    break
            else:
                return False
        if self.args_all is not None:
            if not rest:
                return False
            for a in rest:
                if not self.args_all.match_text(a):
                    return False
        pf = self.pf
        if self.paths is not None:
            for f in v.path_cands(pf):
                if self.paths.match_forms(f):
                    break
            else:
                return False
        if self.paths_all is not None:
            seen = False
            for a in rest:
                p = _path_candidate(a)
                if p is None:
                    continue
                seen = True
                if (pf and not v.maybe(p)) or not self.paths_all.match_forms(v.forms(p)):
                    return False
            if not seen:
                return False
        if self.reads is not None:
            for f in v.read_cands(pf):
                if self.reads.match_forms(f):
                    break
            else:
                return False
        if self.options is not None:
            opts = v.options
            for name, gl in self.options:
                vals = opts.get(name)
                if vals is not None and _any_text(gl, vals):
                    break
            else:
                return False
        if self.writes is not None:
            for f in v.write_cands(pf):
                if self.writes.match_forms(f):
                    break
            else:
                return False
        if self.redirects is not None:
            for op, target in sc.redirects:
                if (not pf or v.maybe(target)) and self.redirects.match_forms(v.forms(target)):
                    break
            else:
                return False
        if self.pipe_in is not None and not _any_text(self.pipe_in, sc.pipe_in):
            return False
        if self.pipeline is not None and not _any_text(self.pipeline, sc.pipeline):
            return False
        if self.code_from is not None and not _any_text(self.code_from, sc.code_from):
            return False
        if self.code is not None:
            if not sc.code:
                return False
            text = strip_sql_literals(sc.code) if self.strip_literals else sc.code
            if self.code.search(text) is None:
                return False
        if self.env is not None:
            for name, gl in self.env.items():
                val = sc.env.get(name)
                if val is None or not gl.match_text(val):
                    return False
        if self.tests is not None:
            for test, compiled in self.tests:
                if test is test_workdir_scratch:
                    if not test(compiled, sc, v.ws):
                        return False
                elif not test(compiled, sc):
                    return False
        return True

    # -- other tools: the input object
    def match_input(self, tool_input, forms_of):
        if self.paths is not None or self.paths_all is not None:
            found = False
            for key in PATH_FIELDS:
                val = tool_input.get(key)
                if isinstance(val, str) and val:
                    found = True
                    f = forms_of(val)
                    if self.paths is not None and not self.paths.match_forms(f):
                        return False
                    if self.paths_all is not None and not self.paths_all.match_forms(f):
                        return False
            if not found:
                return False
        if self.fields is not None:
            for key, rx in self.fields.items():
                val = tool_input.get(key)
                if val is None:
                    return False
                if not isinstance(val, str):
                    val = _flatten(val)
                if self.strip_literals:
                    val = strip_sql_literals(val)
                if rx.search(val) is None:
                    return False
        if self.any_field is not None:
            text = _flatten(tool_input)
            if self.strip_literals:
                text = strip_sql_literals(text)
            if self.any_field.search(text) is None:
                return False
        if self.tests is not None:
            for test, compiled in self.tests:
                if not test(compiled, tool_input):
                    return False
        return True


def _any_text(gl, names):
    for n in names:
        if gl.match_text(n):
            return True
    return False


class Engine:
    """Compiled rules; `evaluate` is the tier-1 decision."""

    def __init__(self, rule_specs, program_specs=None):
        (self.rules, self.programs, self._bash_exact, self._bash_glob, self._bash_any, self._tool_rules,
         self.word_index, self._option_words) = engine_tables(rule_specs, program_specs, Rule, ProgramSpec)
        self._last_context = None   # (cwd, home, word_context)
        self._prog_cache = {}
        self._tool_cache = {}
        self._parsed = None     # (command, cwd, home, commands) of the last Bash call parsed

    def word_context(self, cwd, home):
        """word_context of the engine's word index for words resolved in cwd with home
        (the last one is kept: calls in a row mostly share them)."""
        if self.word_index is None:
            return None
        last = self._last_context
        if last is not None and last[0] == cwd and last[1] == home:
            return last[2]
        ctx = word_context(self.word_index, cwd, home, MAX_MATCH_LENGTH, MAX_PATH_SEGMENTS)
        self._last_context = (cwd, home, ctx)
        return ctx

    def word_may_match(self, word, cwd, home):
        """Whether the engine's word index lets word through in cwd with home (False:
        no path glob of a rule it stands for can match any form of the word)."""
        return word_may_match(self.word_index, word, self.word_context(cwd, home))

    def rules_for_program(self, prog):
        c = self._prog_cache.get(prog)
        if c is None:
            cand = list(self._bash_exact.get(prog, ()))
            cand.extend(r for r in self._bash_glob if r.programs.match_text(prog))
            cand.extend(self._bash_any)
            cand.sort(key=priority)
            c = tuple(cand)
            if len(self._prog_cache) < MAX_RULE_LISTS:
                self._prog_cache[prog] = c
        return c

    def rules_for_tool(self, tool):
        c = self._tool_cache.get(tool)
        if c is None:
            c = tuple(r for r in self._tool_rules if r.tools is None or r.tools.match_text(tool))
            if len(self._tool_cache) < MAX_RULE_LISTS:
                self._tool_cache[tool] = c
        return c

    def command_matches(self, sc, home, ws):
        """Every rule that matches simple command ``sc`` (of ``analyze``) judged in
        workspace ``ws`` with ``home``, in priority order: what the rules see of one
        command of a Bash call, every match rather than the first that decides (the
        policy tier's input document reports them)."""
        view = _View(sc, self.programs.get(sc.program, _EMPTY_SPEC), home, ws)
        return [r for r in self.rules_for_program(sc.program) if r.match_command(view)]

    def parsed(self, command, cwd, home):
        """The simple commands the last Bash evaluation parsed, when it was of ``command``
        in ``cwd`` with ``home`` (as given to :meth:`evaluate`), else None: the pattern
        tier shapes an escalated call from them instead of parsing it again. The engine
        keeps one parse (the last), so ask right after :meth:`evaluate`; a parse of
        another call (another thread's) gives None, never a wrong answer."""
        return last_parse(self._parsed, command, cwd, home)

    def evaluate(self, tool, tool_input, cwd, home):
        """Return (verdict, rule_id, reason) for one call; verdict MISS when no rule
        settles it, or when a limit of the analysis was reached (rule id
        ``input.limit``). tool_input must be a dict (checked by the caller)."""
        try:
            if tool == "Bash":
                return self._evaluate_bash(tool_input, cwd or "", home)
            return self._evaluate_tool(tool, tool_input, cwd, home)
        except LimitError as e:
            return (MISS, "input.limit", LIMIT_MSG % e)

    def evaluate_content(self, code, cwd, home, only=()):
        """Judge shell code a file holds (lighthouse._fast._content), as a Bash call
        would be, by the rules whose id starts with one of `only` (all when empty)."""
        try:
            return self._evaluate_bash({"command": code}, cwd, home, only)
        except LimitError as e:
            return (MISS, "input.limit", LIMIT_MSG % e)

    def _evaluate_tool(self, tool, tool_input, cwd, home):
        problem = input_error(tool, tool_input)
        if problem is not None:
            return (DENY, "input.invalid", problem)
        best = None
        memo = {}

        def forms_of(value):
            f = memo.get(value)
            if f is None:
                f = memo[value] = path_forms(value, cwd or "", home, cwd or "")
            return f

        for r in self.rules_for_tool(tool):
            if r.match_input(tool_input, forms_of):
                best = r
                break
        found = (MISS, "", NO_TOOL_RULE_MSG % tool) if best is None else (best.verdict, best.id, best.reason)
        if found[0] == DENY or tool not in CONTENT_TOOLS:
            return found
        # what a Write/Edit adds to a file that runs later (a deny by path needs no more)
        return combine(content_verdict(self, tool, tool_input, cwd, home), found)

    def _evaluate_bash(self, tool_input, cwd, home, only=()):
        command = tool_input.get("command")
        if not isinstance(command, str):
            return (DENY, "input.invalid", COMMAND_MSG)
        try:
            commands = analyze(command, cwd, home)
        except ShellError as e:
            return (MISS, "shell.unparsed", UNPARSED_MSG % e)
        self._parsed = (command, cwd, home, commands)
        if not commands:
            if command.strip():
                return (ALLOW, "shell.no-op", NO_OP_MSG)
            return (DENY, "input.invalid", EMPTY_MSG)
        worst = None        # (verdict, rule) over all commands
        miss_prog = None
        unknown = None      # the first unknown_option_verdict of an allowed command
        for sc in commands:
            view = _View(sc, self.programs.get(sc.program, _EMPTY_SPEC), home, cwd, self)
            hit = None
            for r in self.rules_for_program(sc.program):
                if r.match_command(view):
                    if only and not r.id.startswith(only):
                        continue
                    hit = r
                    break
            if hit is None:
                if miss_prog is None:
                    miss_prog = sc.program
                continue
            if hit.verdict == DENY:
                return (DENY, hit.id, hit.reason)
            if hit.verdict == ALLOW and sc.dynamic and unknown is None:
                unknown = unknown_option_verdict(self, sc, home, cwd, self._option_words, only)
            if worst is None or hit.verdict > worst.verdict:
                worst = hit
        if worst is not None and worst.verdict == ASK:
            return (ASK, worst.id, worst.reason)
        if unknown is not None:
            return unknown
        if miss_prog is not None:
            return (MISS, "", NO_PROGRAM_RULE_MSG % (miss_prog,))
        return (ALLOW, worst.id, worst.reason)


# ------------------------------------------------------------------- checker

class Decision:
    """The answer to one tool call.

    verdict: "allow" | "ask" | "deny" (or "miss" when raw tier-1 results were asked for);
    rule_id: the rule that decided ("" when none did); reason: for a person;
    tier: "cache" | "rules" | "fallback"; cached: True when served from the cache;
    generation: the policy generation that decided.
    """

    __slots__ = ("verdict", "rule_id", "reason", "tier", "cached", "generation")

    def __init__(self, verdict, rule_id, reason, tier, cached, generation):
        self.verdict = verdict
        self.rule_id = rule_id
        self.reason = reason
        self.tier = tier
        self.cached = cached
        self.generation = generation

    to_dict = decision_dict
    __repr__ = decision_repr
    # equal by value and mutable: unhashable
    __eq__ = decision_eq
    __hash__ = None  # type: ignore[assignment]


def _canonical(value, depth=0):
    """A stable, injective text form of a JSON value (dict keys sorted; every string
    with its length, see lighthouse._fast._keys)."""
    if isinstance(value, str):
        return "s%d:%s" % (len(value), value)
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_INPUT_DEPTH:
        raise ValueError(NESTED_MSG)
    if isinstance(value, dict):
        items = []
        for k in sorted(value, key=str):
            name = str(k)
            items.append("%d:%s\x1d%s" % (len(name), name, _canonical(value[k], depth + 1)))
        return "{" + "\x1e".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + "\x1e".join(_canonical(v, depth + 1) for v in value) + "]"
    return "v" + repr(value)


def cache_key(tool, tool_input, cwd, home):
    """The decision-cache key of a call: tool, normalized input, cwd and home (which
    changes what `~` means), encoded injectively as bytes (lighthouse._fast._keys)."""
    if tool == "Bash":
        body = _canonical(tool_input.get("command"))
    else:
        body = _canonical(tool_input)
    tool = str(tool)
    cwd = cwd or ""
    home = home or ""
    text = "%d:%s\x1f%s\x1f%d:%s\x1f%d:%s" % (len(tool), tool, body, len(cwd), cwd, len(home), home)
    return finish(text.encode("utf-8", "surrogatepass"))


class Checker:
    """Tier 0 + tier 1: the decision cache in front of the rule engine."""

    def __init__(self, engine, generation=1, cache_size=65536, cache_ttl=300.0,
                 fallback="ask", raw=False):
        from ._cache_py import DecisionCache
        checker_init(self, engine, generation, cache_size, cache_ttl, fallback, raw, DecisionCache)

    set_engine = checker_set_engine

    def check(self, tool, tool_input, cwd=None, agent_id=None, home=None):
        """Decide one tool call. Never raises for bad input; never allows it."""
        gen = self.generation
        problem = call_error(tool, tool_input, cwd, home)
        if problem is not None:
            return Decision("deny", "input.invalid", problem, "rules", False, gen)
        try:
            key = cache_key(tool, tool_input, cwd, home)
        except (TypeError, ValueError, RecursionError) as e:
            return Decision("deny", "input.invalid", UNNORMALIZED_MSG % e, "rules", False, gen)
        hit = self.cache.get(key, gen)
        if hit is not None:
            return hit
        try:
            verdict, rule_id, reason = self.engine.evaluate(tool, tool_input, cwd, home)
        except RecursionError:
            verdict, rule_id, reason = MISS, "", TOO_DEEP_MSG
        except Exception as e:  # a bug must not become an allow
            verdict, rule_id, reason = MISS, "", INTERNAL_MSG % type(e).__name__
        if verdict == MISS and not self.raw:
            decision = Decision(self.fallback, rule_id, reason + FALLBACK_MSG + self.fallback,
                                "fallback", False, gen)
        else:
            decision = Decision(VERDICTS[verdict], rule_id, reason, "rules", False, gen)
        self.cache.put(key, gen, Decision(decision.verdict, decision.rule_id, decision.reason,
                                          "cache", True, gen))
        return decision
