"""Call shapes of Bash calls, pure Python: the reference twin of ``_shape_c``.

:func:`bash_shape` turns the simple commands the shell analysis found into a shape text
(``pytest -k=<word> <ws-path>``); lighthouse.patterns.shapes says what a shape keeps and
what it classes. The kernels take the commands the rule engine already parsed for the
call (``Engine.parsed``), so that a call reaching the pattern tier is not parsed again.
Tables and limits are in ``_shape_shared``; tests/test_differential.py runs both twins
against each other.
"""

from __future__ import annotations

import re
from time import monotonic

from ._engine_py import cache_key
from ._shape_shared import (COMMAND_WORDS, DEFAULT_PROGRAMS, MAX_COMMANDS, MAX_INPUT, MAX_SHAPE, MEMO_SIZE, MEMO_TEXT,
                            NO_LITERALS, PATH_CLASSES, SHAPE_API, NoShape, ProgramTable, lead, program_entry, where)
from ._shell_shared import DYN, normpath

__all__ = list(SHAPE_API)

_WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@%+,=-]{0,63}\Z")
_SUB_RE = re.compile(r"[a-z][a-z0-9_:-]{0,31}\Z")
_NUM_RE = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?\Z")
_REF_RE = re.compile(r"([0-9a-f]{7,40}|HEAD([~^][0-9]{0,4}){0,4}|@\{[0-9]{1,4}\})\Z")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,15})://([^/?#\s]{1,255})")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?\Z")
_KEY_VALUE_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,63})=(.*)\Z", re.S)
_SPECIAL_RE = re.compile(r"[\s'\"`$*?\[\]{}<>|;&\\]")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_PLAIN_RE = re.compile(r"[\w.,:@%+=/-]+\Z")


def exact(arg):
    """An argument kept as it is, quoted when it could be read as a class or holds
    blanks, so that no literal spells another shape."""
    if _PLAIN_RE.match(arg):
        return arg
    return "'" + arg.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _resolve(value, cwd, home):
    if value.startswith("~") and (len(value) == 1 or value[1] == "/"):
        if not home:
            return None
        value = home.rstrip("/") + value[1:]
    elif value[0] == "~":
        return None             # ~user: someone else's home
    elif value[0] != "/":
        value = cwd.rstrip("/") + "/" + value
    return normpath(value)


def path_class(value, cwd, home, ws):
    """The class of a path argument (resolved against ``cwd``, judged against the
    workspace ``ws``). A path with a hidden component inside the workspace or a home
    (``.git/hooks/x``, ``.env``, ``~/.ssh/id_rsa``) is kept exactly, as the workspace or
    the absolute path it names: those are where code runs from and secrets live."""
    full = _resolve(value, cwd, home)
    if full is None:
        return exact(value)         # ~user: someone's home, kept exactly
    if full == ws:
        return "<ws-root>"
    w = where(full, ws, home)
    if w == "stdio":
        return full
    if w == "unknown":
        raise NoShape("an unknown path %r" % value)
    if w == "workspace":
        rel = full[len(ws) + 1:]
        if rel.startswith(".") or "/." in rel:
            return exact("<ws-root>/" + rel)
    elif w == "home" and "/." in full:
        return exact(full)
    return PATH_CLASSES[w]


def _looks_like_path(a):
    return a[0] in "/~" or a.startswith("./") or a.startswith("../") or a in (".", "..") or "/" in a


def classify(arg, cwd, home, ws, key=True, literals=NO_LITERALS):
    """The class of one argument (see lighthouse.patterns.shapes). Raises NoShape for an
    argument the analysis could not know. ``key``: a ``KEY=VALUE`` argument keeps its key
    and has its value classed. ``literals``: words kept exactly (an expert's
    ExpertAnswer.exact), whole arguments or a ``KEY=VALUE``'s value."""
    if DYN in arg:
        raise NoShape("an unknown expansion in %r" % arg[:64])
    if not arg:
        return "''"
    if arg in literals:
        return exact(arg)
    m = _URL_RE.match(arg)
    if m is not None:
        host = m.group(2).lower()
        if "@" in host or not _HOST_RE.match(host):
            return exact(arg)
        return "<url:%s://%s>" % (m.group(1).lower(), host)
    if _NUM_RE.match(arg):
        return "<num>"
    if _REF_RE.match(arg):
        return "<ref>"
    if key:
        m = _KEY_VALUE_RE.match(arg)
        if m is not None:
            # KEY=VALUE (git -c core.hooksPath=..., make VAR=..., dd of=...): the key is
            # kept, the value classed.
            return m.group(1) + "=" + classify(m.group(2), cwd, home, ws, False, literals)
    if _looks_like_path(arg):
        if _SPECIAL_RE.search(arg):
            return exact(arg)
        return path_class(arg, cwd, home, ws)
    if _WORD_RE.match(arg):
        return arg if arg in COMMAND_WORDS else "<word>"
    return exact(arg)


def _flag_items(args, value_options, single_dash_long, literal_options=NO_LITERALS):
    """Split argv into ([flag text], [positional]), a value option rendered with its
    value (``-k`` and ``foo`` as ("-k", "foo")); ``literal_options`` take a value too."""
    flags = []
    positionals = []
    ended = False
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if not ended and a == "--":
            ended = True
            flags.append(("--", None))
        elif not ended and len(a) > 1 and a[0] == "-" and not a[1].isdigit():
            if a[1] == "-" or single_dash_long:
                name, eq, val = a.partition("=")
                if not eq and (name in value_options or name in literal_options) and k + 1 < n:
                    k += 1
                    val, eq = args[k], "="
                flags.append((name, val if eq else None))
            else:
                # A cluster of short flags (-rf is -r -f); a value option takes the rest
                # of the cluster or the next argument (-j4, -j 4).
                for j in range(1, len(a)):
                    f = "-" + a[j]
                    if f in value_options or f in literal_options:
                        val = a[j + 1:]
                        if val[:1] == "=":
                            val = val[1:]
                        elif not val and k + 1 < n:
                            k += 1
                            val = args[k]
                        flags.append((f, val))
                        break
                    if not a[j].isalpha():
                        flags.append(("-" + a[j:], None))
                        break
                    flags.append((f, None))
        else:
            positionals.append(a)
        k += 1
    return flags, positionals


def program_info(specs, program):
    """The :class:`ProgramTable` entry of ``program``: from ``specs`` when it is a
    ProgramTable; else the shape tables', with the value options of the ProgramSpec
    that ``specs`` (a callable, or None) gives."""
    if type(specs) is ProgramTable:
        entry = specs.get(program)
        return entry if entry is not None else program_entry(program)
    entry = DEFAULT_PROGRAMS.get(program) or program_entry(program)
    spec = specs(program) if specs is not None else None
    if spec is None:
        return entry
    return (frozenset(spec.value_options), bool(spec.single_dash_long)) + entry[2:]


def command_parts(sc, ws, home, spec=None, literals=NO_LITERALS):
    """One SimpleCommand's shape as parts: {"env": [K=V], "program", "subcommand": [word],
    "flags": [flag or flag=class], "args": [class or literal], "redirects": [op+class],
    "exact": whether its arguments are kept exactly, "pipe": whether it reads a pipe}.
    ``ws``: the call's workspace; ``spec``: the program's ProgramSpec from the rules (its
    options that take a value); ``literals``: words kept exactly (see :func:`classify`).
    The values of the program's :data:`LITERAL_OPTIONS` and the arguments after one of its
    :data:`LITERAL_SUBCOMMANDS` are kept exactly. Raises NoShape. (The reference's view of a command, for
    ``lighthouse patterns promote``; the compiled twin builds the text directly.)"""
    return _command_parts(sc, ws, home, program_info(lambda _: spec, sc.program or ""), literals)


def _command_parts(sc, ws, home, entry, literals):
    # entry: the program's ProgramTable entry
    if sc.dynamic:
        raise NoShape("an unknown expansion")
    if sc.origin:
        raise NoShape("a command run through %s" % sc.origin)
    if sc.code or sc.code_from:
        raise NoShape("code fed to %s" % sc.program)
    if sc.sudo:
        raise NoShape("sudo")
    program = sc.program
    if not program or DYN in program or DYN in (sc.path or ""):
        raise NoShape("an unknown program")
    cwd = sc.cwd or ws
    value_options, single_dash_long, literal_options, literal_subs, depth, is_exact = entry
    if is_exact and cwd != ws:
        raise NoShape("%s run outside the call's directory" % program)
    env = []
    for name in sorted(sc.env):
        value = sc.env[name]
        if not _ENV_NAME_RE.match(name) or DYN in value:
            raise NoShape("an unknown environment assignment")
        env.append("%s=%s" % (name, exact(value)))
    flags, positionals = _flag_items(sc.args, value_options, single_dash_long, literal_options)
    if program == "cd":
        # The analysis gives cd the directory it changes to as its own cwd: its shape is
        # where that lies (the commands after it are judged from there).
        if not cwd or DYN in cwd:
            raise NoShape("cd to an unknown directory")
        positionals = [cwd]
    if is_exact:
        subs = []
        args = []
        for a in positionals:
            if DYN in a:
                raise NoShape("an unknown expansion")
            args.append(exact(a))
    else:
        n = 0
        most = 0 if sc.path else depth
        while n < len(positionals) and n < most and _SUB_RE.match(positionals[n]):
            n += 1
        subs = positionals[:n]
        if literal_subs is not None and " ".join(subs) in literal_subs:
            args = []
            for a in positionals[n:]:
                if DYN in a:
                    raise NoShape("an unknown expansion")
                args.append(exact(a))
        else:
            args = [classify(a, cwd, home, ws, True, literals) for a in positionals[n:]]
    rendered = set()
    for name, value in flags:
        if DYN in name:
            raise NoShape("an unknown expansion")
        if value is None:
            rendered.add(exact(name))
        elif is_exact or name in literal_options:
            if DYN in value:
                raise NoShape("an unknown expansion")
            rendered.add("%s=%s" % (exact(name), exact(value)))
        else:
            rendered.add("%s=%s" % (exact(name), classify(value, cwd, home, ws, True, literals)))
    redirects = []
    for op, target in sc.redirects:
        if not target or DYN in target:
            raise NoShape("a redirect to an unknown target")
        if target[:1] == "&" or (op in ("<&", ">&") and target.isdigit()):
            redirects.append("%s%s" % (op, exact(target)))
        else:
            redirects.append("%s%s" % (op, path_class(target, cwd, home, ws)))
    return {"env": env, "program": exact(sc.path) if sc.path else exact(program), "subcommand": subs,
            "flags": sorted(rendered), "args": args, "redirects": redirects, "exact": is_exact,
            "pipe": bool(sc.pipe_in)}


def bash_shape(commands, ws, home, specs=None, why=None, literals=NO_LITERALS):
    """The shape text of a Bash call whose command the shell analysis parsed into
    ``commands`` (SimpleCommand), with ``ws`` the call's workspace (a normalized absolute
    directory) and ``home`` its home ("" when unknown): each command's shape, joined by
    ``;`` (or ``|`` for a command reading a pipe). ``specs``: the rules'
    :class:`ProgramTable` (``program_table``, prepared once per policy), a callable giving
    a program's ProgramSpec, or None (the shape tables alone). None when the call has no shape, the reason appended
    to ``why`` when it is a list (the pattern tier's lookup asks for none: it costs an
    exception in the compiled twin). ``literals``: a frozenset of words kept exactly
    wherever they are an argument or an option's value (an expert's ExpertAnswer.exact)."""
    try:
        return _bash_shape(commands, ws, home, specs, literals or NO_LITERALS)
    except NoShape as e:
        if why is not None:
            why.append(str(e))
        return None


def _bash_shape(commands, ws, home, specs, literals):
    if not commands:
        raise NoShape("the command runs no program")
    if len(commands) > MAX_COMMANDS:
        raise NoShape("more than %d commands" % MAX_COMMANDS)
    out = []
    size = 0
    for sc in commands:
        p = _command_parts(sc, ws, home, program_info(specs, sc.program or ""), literals)
        text = " ".join(p["env"] + [p["program"]] + p["subcommand"] + p["flags"] + p["args"] + p["redirects"])
        size += len(text) + 3
        if size > MAX_SHAPE:
            raise NoShape("a shape over %d characters" % MAX_SHAPE)
        out.append(("| " if sc.pipe_in and out else "; " if out else "") + text)
    return " ".join(out)


def _bash_key(tool, tool_input, cwd, home):
    """A Bash call's key in a PatternIndex's memory: (command, cwd, home), without
    encoding them; None for any other call."""
    if type(tool) is not str or tool != "Bash" or type(tool_input) is not dict:
        return None
    command, cwd, home = tool_input.get("command"), cwd or "", home or ""
    if type(command) is not str or type(cwd) is not str or type(home) is not str:
        return None
    return (command, cwd, home)


class _Shapes:
    """The active patterns of one context and tool, as a PatternIndex looks them up:
    ``patterns`` (shape text -> Pattern) and ``leads`` (the :func:`lead` of each shape
    text of a pattern, with or without literals -> how many such texts)."""

    __slots__ = ("patterns", "leads")

    def __init__(self):
        self.patterns = {}
        self.leads = {}


class PatternIndex:
    """The pattern tier's memory of its answers, and its lookup.

    The memory: a call's key (a Bash call's (command, cwd, home), what its decision-cache
    key keeps of it; for any other call the decision-cache key, ``cache_key``: tool,
    normalized input, cwd and home, encoded injectively; no two calls share one) -> the
    pattern that
    answered it (or None), with the rule generation, the escalation's context (``why``,
    ``rule_id``), the epoch of the active patterns and the call's shape text it was
    found under. A call asked again under the same generation, context and epoch is
    answered from it without being shaped (:meth:`find`): its key and one dictionary
    lookup. The PatternBook gives the index its tables of active patterns
    (:meth:`tables`), tells it of each change of them (:meth:`put`, :meth:`literal`)
    and calls :meth:`changed` after every change (learned, retired, approved, reloaded
    from the file), so that a remembered answer of an older epoch is looked up again
    (from its remembered shape text) and a retired pattern never answers from memory.
    ``due``: the monotonic time from which the book must check its file; from then on
    :meth:`find` neither reads the memory nor looks up itself: the book's lookup (which
    refreshes) does.

    The index keeps the active patterns by context and tool, with the :func:`lead` of
    their shape texts, so that a call no active pattern can answer costs no shape: a
    call in a context without a pattern of its tool, or a Bash call shaped from the
    engine's parse whose first command has no environment assignment and a program (as
    the shape writes it) that leads no pattern's text, is answered None at once
    (counted in ``skipped``; not remembered).

    At most ``size`` answers are kept (0: none); a new call when it is full empties it
    first. An answer whose shape text is over ``MEMO_TEXT`` characters is not kept.
    Counters: ``hits``, ``misses`` and ``unshaped`` of every lookup that shaped the call
    (the book's own lookups count into them too), ``skipped`` of those that did not
    need to; ``remembered``: lookups answered from memory."""

    def __init__(self, size=MEMO_SIZE):
        if size < 0:
            raise ValueError("the memo size must be >= 0")
        self._memo = {}
        self._active = {}
        self._literal = {}
        self._by_context = {}           # context -> tool -> _Shapes
        self._workspaces = None
        self._programs = None
        self._specs = None
        self._table = None
        self._table_generation = None
        self.size = size
        self.epoch = 0
        self.due = 0.0
        self.hits = 0
        self.misses = 0
        self.unshaped = 0
        self.skipped = 0
        self.remembered = 0

    def __len__(self):
        return len(self._memo)

    def tables(self, active, literal):
        """The book's index of active patterns ((context, tool, shape text) -> Pattern)
        and of the patterns with literals ((context, tool, generic text) -> patterns),
        which the book changes in place, telling the index of each change (:meth:`put`,
        :meth:`literal`), then calls :meth:`changed`."""
        by_context = {}
        for (context, tool, text), p in active.items():
            _shapes_of(by_context, context, tool).patterns[text] = p
            _count_lead(by_context, context, tool, text, 1)
        for context, tool, text in literal:
            _count_lead(by_context, context, tool, text, 1)
        self._active = active
        self._literal = literal
        self._by_context = by_context

    def put(self, context, tool, text, pattern):
        """The active pattern of shape ``text`` in ``context`` for ``tool`` is now
        ``pattern`` (None: there is none)."""
        shapes = self._by_context.get(context, {}).get(tool)
        had = shapes is not None and text in shapes.patterns
        if pattern is not None:
            if not had:
                _count_lead(self._by_context, context, tool, text, 1)
            _shapes_of(self._by_context, context, tool).patterns[text] = pattern
        elif had:
            del shapes.patterns[text]
            _count_lead(self._by_context, context, tool, text, -1)

    def literal(self, context, tool, text, present):
        """Whether patterns with literals of the generic shape ``text`` in ``context``
        for ``tool`` are now active (``present``: some became so; else none is any more)."""
        _count_lead(self._by_context, context, tool, text, 1 if present else -1)

    def changed(self):
        """The active patterns changed: every answer remembered before is looked up again."""
        self.epoch += 1

    def shaping(self, workspaces, programs, specs):
        """Shape the common calls in the index itself, without the ``shape`` callable of
        :meth:`find`: a Bash call that carries the engine's parse (a list), with a
        ``command`` of at most MAX_INPUT characters, whose non-empty ``cwd`` the shapes
        module found to be a proper workspace already normalized (``workspaces``: its dict
        (cwd, home) -> workspace). ``programs``: a callable giving the ProgramTable of the
        rules in force, or None for ``specs`` (a ProgramTable, a callable giving a
        ProgramSpec, or None). ``programs`` is asked once per rule generation of the
        escalations (``esc.generation``, the policy the fast tiers judged the call by):
        the table it gives is that of the policy in force, never an older one, so a call
        of generation G is shaped with G's table or, when a reload came in between, a
        newer one, as when it is asked per call. Any other call is shaped
        by ``shape``, which must give the same text for these (lighthouse.patterns.shapes
        does: this is its own fast path, without the Python calls)."""
        self._workspaces = workspaces
        self._programs = programs
        self._specs = specs
        self._table = None
        self._table_generation = None

    def _parsed_here(self, tool, tool_input, cwd, home, parsed):
        """Whether the index shapes the call itself (see :meth:`shaping`), from ``parsed``."""
        if self._workspaces is None or type(tool) is not str or tool != "Bash":
            return False
        if type(parsed) is not list or type(tool_input) is not dict or type(cwd) is not str or not cwd:
            return False
        ws = self._workspaces.get((cwd, home))
        command = tool_input.get("command")
        return type(ws) is str and ws == cwd and type(command) is str and 0 < len(command) <= MAX_INPUT

    def _shape(self, esc, shape, here, cwd, home, generation):
        if here:
            if self._programs is None:
                specs = self._specs
            else:
                if self._table is None or self._table_generation != generation:
                    self._table = self._programs()
                    self._table_generation = generation
                specs = self._table
            return bash_shape(esc.parsed, cwd, home, specs)
        return shape(esc)

    def clear(self):
        """Forget every answer."""
        self._memo.clear()

    def find(self, esc, shape, match):
        """The pattern answering the escalated call ``esc`` (an Escalation), or None.
        ``shape(esc)``: the call's shape text, or None. ``match(esc, context, text)``:
        the book's lookup of a shape text in a context (None: the escalation's), used
        when the file is due to be checked, for a shape that has patterns with literals
        and for an escalation whose context is not text."""
        generation, why, rule_id, tool = esc.generation, esc.why, esc.rule_id, esc.tool
        tool_input, cwd, home, parsed = esc.tool_input, esc.cwd, esc.home, esc.parsed
        epoch = self.epoch              # read before the lookup: a change meanwhile makes it stale
        due = monotonic() >= self.due
        if type(why) is not str or type(rule_id) is not str:
            return match(esc, None, shape(esc))
        key = _bash_key(tool, tool_input, cwd, home)
        if key is None:
            try:
                key = cache_key(tool, tool_input, cwd, home)
            except Exception:
                return match(esc, None, shape(esc))
        found = None if due else self._memo.get(key)
        known = False
        text = None
        if found is not None and found[0] == generation and found[2] == why and found[3] == rule_id:
            if found[1] == epoch:
                pattern = found[5]
                if pattern is not None:
                    self.hits += 1
                elif found[4] is None:
                    self.unshaped += 1
                else:
                    self.misses += 1
                self.remembered += 1
                return pattern
            text = found[4]
            known = True
        context = "miss" if why == "miss" else "ask:" + rule_id
        shapes = None
        if not due and type(tool) is str:
            shapes = self._by_context.get(context, {}).get(tool)
        if not known:
            home = home or ""
            here = type(home) is str and self._parsed_here(tool, tool_input, cwd, home, parsed)
            if not due and type(tool) is str:
                # No pattern of this context and tool, or none led by the program of the
                # call's first command: no shape can match (see the class docstring).
                if shapes is None:
                    self.skipped += 1
                    return None
                if here and parsed:
                    first = parsed[0]
                    program = first.path or first.program
                    if not first.env and type(program) is str and _PLAIN_RE.match(program) \
                            and program not in shapes.leads:
                        self.skipped += 1
                        return None
            text = self._shape(esc, shape, here, cwd, home, generation)
        if text is None:
            self.unshaped += 1
            pattern = None
        elif due or (self._literal and tool == "Bash" and self._literal.get((context, tool, text))):
            pattern = match(esc, context, text)
        else:
            if shapes is not None:
                pattern = shapes.patterns.get(text)
            elif type(tool) is str:
                pattern = None          # no pattern of this context and tool
            else:
                pattern = self._active.get((context, tool, text))
            if pattern is None:
                self.misses += 1
            else:
                self.hits += 1
        if self.size and (text is None or len(text) <= MEMO_TEXT):
            if found is None and len(self._memo) >= self.size:
                self._memo.clear()
            self._memo[key] = (generation, epoch, why, rule_id, text, pattern)
        return pattern


def _shapes_of(by_context, context, tool):
    tools = by_context.get(context)
    if tools is None:
        tools = by_context[context] = {}
    shapes = tools.get(tool)
    if shapes is None:
        shapes = tools[tool] = _Shapes()
    return shapes


def _count_lead(by_context, context, tool, text, delta):
    # One more (or fewer) shape text of a pattern led by lead(text); a context and tool
    # left without any is dropped, so that a lookup finds it has none by one probe.
    shapes = _shapes_of(by_context, context, tool)
    first = lead(text)
    n = shapes.leads.get(first, 0) + delta
    if n > 0:
        shapes.leads[first] = n
        return
    shapes.leads.pop(first, None)
    if not shapes.leads:
        del by_context[context][tool]
        if not by_context[context]:
            del by_context[context]
