"""What both rule engines share, defined once: the verdict codes, the limits of matching,
the tables of tool inputs, the error texts, the exported API and the code that runs
once per policy load or per engine (building an engine's rule tables, word index and
option words; checking a checker's settings and swapping its engine), and what tests
and `lighthouse rules explain` call (glob_match, the last parse of a Bash call).

The pure engine (_engine_py.py) reads these directly; the compiled one binds the
numbers to typed module globals at import, so a value is changed here and nowhere else.
Per-call matching (globs, path forms, a command's view, rule tests, cache keys, the rule
list of a program or tool name not met before) is each engine's own kernel: the compiled
twin's typed code costs less than Python here would (the rule list of a new program name
took about 1.5-2x as long in Python code called from the compiled engine). What both run
per call that is not a kernel (the checks of a call's arguments and of a tool input, the
text of its fields, SQL text without its literals) is in _toolinput.py, which the compiled
engine cimports compiled as it is (_toolinput_c): one source, C calls.
"""

from __future__ import annotations

from ._errors import LimitError
from ._globs import word_index
from ._rulespec import index_rules
from ._shell_shared import DYN

# The engines' verdict codes: an index into lighthouse.vocab.RAW_VERDICTS.
ALLOW, ASK, DENY, MISS = 0, 1, 2, 3

# A path longer than this (after resolving `..`) is not judged: LimitError, the call is
# undecided. Linux's PATH_MAX is 4096, so no real path is refused.
MAX_PATH_SEGMENTS = 128
MAX_MATCH_LENGTH = 8192
MAX_TOOL_LENGTH = 256
# Input nested deeper than this cannot be normalized (a deny). An explicit limit, so that
# the answer does not depend on the recursion limit and on how deep the caller's stack is.
MAX_INPUT_DEPTH = 100

# Another user's home is still a home: its secrets are secrets.
HOME_ROOTS = ("/home/", "/Users/")

# Fields of tool inputs that name a path.
PATH_FIELDS = ("file_path", "path", "notebook_path")

# Fields Claude Code's tools always send as strings; anything else is malformed input.
REQUIRED_STRINGS = {
    "Read": ("file_path",), "Write": ("file_path", "content"),
    "Edit": ("file_path", "old_string", "new_string"), "MultiEdit": ("file_path",),
    "NotebookEdit": ("notebook_path",), "NotebookRead": ("notebook_path",),
    "WebFetch": ("url",), "Glob": ("pattern",), "Grep": ("pattern",),
}

# Error texts: (rule id, reason) of the answers no rule gives, and the limits' messages.
PATH_LENGTH_MSG = "a path is longer than %d characters" % MAX_MATCH_LENGTH
PATH_SEGMENTS_MSG = "a path has more than %d segments" % MAX_PATH_SEGMENTS
NESTED_MSG = "nested more than %d levels deep" % MAX_INPUT_DEPTH
TOOL_MSG = "tool must be a non-empty string of at most %d characters" % MAX_TOOL_LENGTH
INPUT_TYPE_MSG = "tool_input must be a JSON object (dict), not %s"
CWD_MSG = "cwd must be a string"
HOME_MSG = "home must be a string"
UNNORMALIZED_MSG = "tool_input cannot be normalized: %s"
TOO_DEEP_MSG = "input is nested too deeply to analyse"
INTERNAL_MSG = "internal error while matching rules: %s"
FALLBACK_MSG = "; fallback verdict "
REQUIRED_MSG = "%s input needs a string %r field"
PATH_FIELD_MSG = "%s input field %r must be a string"
EDITS_MSG = "MultiEdit input needs an 'edits' list"
COMMAND_MSG = "Bash input needs a string 'command' field"
EMPTY_MSG = "Bash 'command' is empty"
NO_OP_MSG = "the command runs no program"
LIMIT_MSG = "call could not be judged: %s"
UNPARSED_MSG = "command could not be analysed: %s"
NO_TOOL_RULE_MSG = "no rule matched this %s call"
NO_PROGRAM_RULE_MSG = "no rule covers the program %r"
UNKNOWN_OPTION_ID = "shell.unknown-option"
UNKNOWN_OPTION_MSG = ("an option or subcommand of %r is a value the analysis cannot see (a variable, "
                      "a command's output); it could be %r, which rule %s decides: %s")
UNKNOWN_OPTION_WORK_MSG = "too many readings of unknown options (%d words of %d candidates)"
# The words of a command times the candidates tried for its unknown options, at most.
MAX_UNKNOWN_OPTION_WORK = 1 << 16

# The names both engines export (their __all__).
ENGINE_API = ("Engine", "Checker", "Decision", "cache_key", "glob_match", "path_forms", "PathGlob",
              "VERDICTS", "ALLOW", "ASK", "DENY", "MISS")


# The rule lists an engine keeps per program name and per tool name, at most each (the
# agent names them; past it a name's list is built again on each call).
MAX_RULE_LISTS = 4096


def engine_tables(rule_specs, program_specs, Rule, ProgramSpec):
    """(rules, programs, bash_exact, bash_glob, bash_any, tool_rules, word_index,
    option_words) of an engine built with its own Rule and ProgramSpec classes: the
    rules in priority order (_rulespec.index_rules), the word index of path_prefilter
    (the rules it stands for get pf = True) and the table of option_words. Runs once
    per engine."""
    rules = [Rule(s, k) for k, s in enumerate(rule_specs)]
    programs = {name: ProgramSpec(d) for name, d in (program_specs or {}).items()}
    bash_exact, bash_glob, bash_any, tool_rules = index_rules(rules)
    index, pf_rules = path_prefilter(bash_glob, bash_any)
    for r in pf_rules:
        r.pf = True
    return (rules, programs, bash_exact, bash_glob, bash_any, tool_rules, index,
            option_words(rule_specs, program_specs))


def last_parse(last, command, cwd, home):
    """Engine.parsed: the commands of last ((command, cwd, home, commands) of the last
    Bash call an engine parsed, or None) when they are of command in cwd with home."""
    if last is None or last[0] != command or last[1] != (cwd or "") or (last[2] or None) != (home or None):
        return None
    return last[3]


def match_one(GlobList, path_forms, pattern, value, mode, cwd, home):
    """glob_match with an engine's own GlobList and path_forms: one glob against one
    value (for tests and `lighthouse rules explain`)."""
    gl = GlobList([pattern], mode)
    if mode == "text":
        return gl.match_text(value)
    return gl.match_forms(path_forms(value, cwd, home, cwd))


_GLOB_CHARS = frozenset("*?[{!@")


def _literal_words(alternatives):
    return [w for w in alternatives if w and not (_GLOB_CHARS & set(w))]


def option_words(rule_specs, program_specs):
    """({rule id: words}, {program: words}): what an unknown word where a program reads
    its options or subcommand could be, to be tried in its place (unknown_option_verdict).
    A rule's words are the literal subcommand words and flags it requires or accepts; a
    program's are the options whose value it writes or enters (write_options,
    chdir_options) and, for each conditional write (writes_if), its mode flags, its
    options, and each short mode flag clustered with each short option (`tar "$OP" F`:
    `-cf` writes F). Runs once per engine."""
    by_rule = {}
    for spec in rule_specs:
        words = []
        for alts in spec.get("subcommand", ()):
            words.extend(_literal_words(alts.split("|")))
        for alts in list(spec.get("flags", ())) + list(spec.get("flags_any", ())):
            words.extend(_literal_words(alts.split("|")))
        if words:
            by_rule.setdefault(spec["id"], set()).update(words)
    by_program = {}
    for name, d in (program_specs or {}).items():
        words = set()
        _program_words(d, words)
        if words:
            by_program[name] = words
    return ({k: tuple(sorted(v)) for k, v in by_rule.items()},
            {k: tuple(sorted(v)) for k, v in by_program.items()})


def _program_words(d, words):
    words.update(d.get("write_options", ()), d.get("chdir_options", ()))
    for entry in d.get("writes_if", ()):
        flags = _literal_words(entry.get("flags", ()))
        options = _literal_words(entry.get("options", ()))
        words.update(flags, options)
        words.update("-" + f[1:] + o[1:] for f in flags for o in options
                     if len(f) == 2 and len(o) == 2 and f[0] == o[0] == "-")
    for sub in (d.get("subcommands") or {}).values():
        _program_words(sub, words)


def _unknown_option_slots(args, words, value_options):
    """The indexes of the words unknown_option_verdict reads as options: wholly unknown
    words, and options whose name holds an unknown, before `--`, each followed there by
    a word the analysis knows or standing in the command's head, where nothing but the
    subcommand words of the candidates (words), options that take a value
    (value_options) with their values, and unknowns stand: `git reset "$MODE"` and `git
    -C app reset $MODE`, where the unknown could be `--hard`. A trailing unknown after an
    operand or a flag is most often an operand, or a list of them that a command printed
    (`git push origin "$(git branch --show-current)"`, `git reset --soft "$REF"`); read
    as an option it would ask about every such call. Returns (slots, whether a known
    word follows one of them). One pass each way: linear."""
    end = len(args)
    head = 0            # the words before head are the command's head
    value_next = False
    for i, a in enumerate(args):
        if a == "--":
            end = i
            break
        if head < i:
            continue
        if value_next or a == DYN or (a[:1] == "-" and DYN in a.partition("=")[0]):
            value_next = False
        elif a[:1] == "-":
            if a not in value_options:
                continue
            value_next = True
        elif a not in words:
            continue
        head = i + 1
    slots = []
    known_after = False
    followed = False
    for i in range(end - 1, -1, -1):
        a = args[i]
        if a == DYN or (a[:1] == "-" and DYN in a.partition("=")[0]):
            if known_after or i < head:
                slots.append(i)
                followed = followed or known_after
        elif DYN not in a:
            known_after = True
    slots.reverse()
    return slots, followed


def unknown_option_verdict(engine, sc, home, ws, table, only=()):
    """None, or (ASK, UNKNOWN_OPTION_ID, reason) for a simple command the rules allow
    but whose options or subcommand are partly unknown: a word that is wholly a value
    the analysis cannot see (`git "$SUB" --hard`, `sort "$O" /etc/passwd`, `git reset
    "$MODE"`), or an option whose name holds one (`-$F`), stands where the program reads
    options (before `--`, and before a word the analysis knows or at the head of the
    operands: _unknown_option_slots), and the command, read with that word as one of the
    candidates of option_words (every such word the same candidate), is one a rule asks
    about or denies; when no known word follows an unknown in the head, one a rule
    denies (`git reset "$MODE"` could be `--hard`, while `docker rmi $(docker images
    -q)` is a list of images). It asks rather than denies: the value may be harmless. A word the
    program reads as an option's value stays a value in every reading (`git commit -m
    "$MSG"`), so it changes nothing.
    Raises LimitError past MAX_UNKNOWN_OPTION_WORK. Called by both engines only for a
    dynamic command a rule allowed: the rare path, written once."""
    args = sc.args
    by_rule, by_program = table
    words = set(by_program.get(sc.program, ()))
    for r in engine.rules_for_program(sc.program):
        if r.verdict != ALLOW:
            words.update(by_rule.get(r.id, ()))
    if not words:
        return None
    spec = engine.programs.get(sc.program)
    slots, followed = _unknown_option_slots(args, words, spec.value_options if spec is not None else ())
    if not slots:
        return None
    if len(words) * (len(args) + 1) > MAX_UNKNOWN_OPTION_WORK:
        raise LimitError(UNKNOWN_OPTION_WORK_MSG % (len(args), len(words)))
    for w in sorted(words):
        reading = list(args)
        for i in slots:
            reading[i] = w
        v = type(sc)(sc.program, reading, sc.cwd, sc.sudo, sc.env, sc.redirects, sc.origin, sc.code,
                     sc.dynamic)
        v.pipe_in, v.pipeline, v.code_from, v.path = sc.pipe_in, sc.pipeline, sc.code_from, sc.path
        for r in engine.command_matches(v, home, ws):
            if only and not r.id.startswith(only):
                continue
            if r.verdict == DENY or (r.verdict == ASK and followed):
                return (ASK, UNKNOWN_OPTION_ID, UNKNOWN_OPTION_MSG % (sc.program, w, r.id, r.reason))
            break
    return None


# The path matchers of a rule (see _rulespec.FIELDS).
PATH_MATCHERS = ("paths", "paths_all", "reads", "writes", "redirects")


def path_prefilter(bash_glob, bash_any):
    """(index, rules): one word index (_globs.word_index) of the path globs of the shell
    rules not bound to program names (they are tried on every command), and those of
    the rules whose path matchers it stands for. A rule qualifies when each of its path
    matchers has positive globs (a match needs one of them) and the index of its own
    globs is not defeated; a word the index rules out then matches none of its path
    matchers, so the engines skip it without building its forms. (None, ()) when no
    rule qualifies. Runs once per engine."""
    chosen = []
    seg_lists = []
    for r in list(bash_glob) + list(bash_any):
        lists = [gl for gl in (getattr(r, k) for k in PATH_MATCHERS) if gl is not None]
        if not lists or any(not gl.pos for gl in lists):
            continue
        segs = [g.segs for gl in lists for g in gl.pos]
        if word_index(segs) is None:
            continue
        chosen.append(r)
        seg_lists.extend(segs)
    if not chosen:
        return None, ()
    return word_index(seg_lists), tuple(chosen)


def checker_init(checker, engine, generation, cache_size, cache_ttl, fallback, raw, DecisionCache):
    """Checker(engine, generation, cache_size, cache_ttl, fallback, raw), with the engine's
    own DecisionCache class."""
    checker.fallback = check_fallback(fallback)
    checker_set_engine(checker, engine, generation)
    checker.cache = DecisionCache(cache_size, cache_ttl)
    checker.raw = raw


def checker_set_engine(checker, engine, generation):
    """Checker.set_engine: swap in a new policy; entries cached under older generations
    become misses."""
    checker.engine = engine
    checker.generation = generation


def check_fallback(fallback):
    """A checker's fallback verdict, checked: allow, ask or deny (ValueError otherwise)."""
    if fallback not in ("allow", "ask", "deny"):
        raise ValueError("fallback must be allow, ask or deny, not %r" % (fallback,))
    return fallback
