"""What both rule engines share, defined once: the verdict codes, the limits of matching,
the tables of tool inputs, the error texts, the exported API and the code that runs
once per policy load or per engine (building an engine's rule tables, checking a
checker's settings).

The pure engine (_engine_py.py) reads these directly; the compiled one binds the
numbers to typed module globals at import, so a value is changed here and nowhere else.
Per-call matching (globs, path forms, a command's view, rule tests, cache keys) is each
engine's own kernel.
"""

from __future__ import annotations

from ._globs import word_index
from ._rulespec import index_rules

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

# The names both engines export (their __all__).
ENGINE_API = ("Engine", "Checker", "Decision", "cache_key", "glob_match", "path_forms", "PathGlob",
              "VERDICTS", "ALLOW", "ASK", "DENY", "MISS")


def engine_tables(rule_specs, program_specs, Rule, ProgramSpec):
    """(rules, programs, bash_exact, bash_glob, bash_any, tool_rules) of an engine built
    with its own Rule and ProgramSpec classes (see _rulespec.index_rules)."""
    rules = [Rule(s, k) for k, s in enumerate(rule_specs)]
    programs = {name: ProgramSpec(d) for name, d in (program_specs or {}).items()}
    return (rules, programs) + index_rules(rules)


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
    checker.engine = engine
    checker.generation = generation
    checker.cache = DecisionCache(cache_size, cache_ttl)
    checker.raw = raw


def check_fallback(fallback):
    """A checker's fallback verdict, checked: allow, ask or deny (ValueError otherwise)."""
    if fallback not in ("allow", "ask", "deny"):
        raise ValueError("fallback must be allow, ask or deny, not %r" % (fallback,))
    return fallback
