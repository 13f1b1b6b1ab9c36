"""The input document of the policy tier: what a Rego policy sees of one escalated call.

:func:`build_input` turns a tool call that the rules did not settle (a *miss*, or a rule's
*ask*) into a JSON-ready dict, described by ``input.schema.json`` beside this module:
the tool and its input, cwd, home, agent and session ids, why the call escalated, the
rules that fired, and for a Bash call the simple commands the shell analysis sees (program,
argv, flags, options, the paths each reads and writes with where they lie, redirects,
sudo, environment, origin such as ``bash -c`` or a pipe into an interpreter, inline code).

The document is bounded: strings, lists and the tool input are cut at fixed limits, and
every cut is listed in ``analysis.limits`` with ``analysis.complete`` false. An analysis
that fails (unparseable input, a limit of the shell analysis) is reported the same way,
with ``analysis.error``. A policy must never allow a call whose document is incomplete;
:class:`lighthouse.policy.Policy` enforces that whatever the policy answers.
"""

from __future__ import annotations

import json
import threading

from .. import _fast
from .._fast._engine_py import _EMPTY_SPEC, VERDICTS, Engine, _path_candidate, _View
from .._fast._errors import ShellError
from .._fast._shell_shared import normpath
from .._fast._shape_shared import program_table, where
from .._fast._shell_shared import DYN
from ..bounds import FITS, scan, window_input

__all__ = ["build_input", "RuleFacts", "RuleFactsSource", "INPUT_VERSION", "MAX_COMMANDS", "MAX_ARGS", "MAX_PATHS",
           "MAX_STRING", "input_json", "MAX_TOOL_INPUT", "MAX_TOOL_INPUT_VALUES", "TOOL_INPUT_WINDOW", "where"]

INPUT_VERSION = 1
MAX_COMMANDS = 64              # simple commands described
MAX_ARGS = 256                 # arguments (and flags, options, env entries) per command
MAX_PATHS = 64                 # paths read, and paths written, per command
MAX_STRING = 4096              # characters of any string of a command (argument, code, path)
TOOL_INPUT_WINDOW = 16384      # characters of each string of the tool input
MAX_TOOL_INPUT = 256 * 1024    # the tool input's JSON size, after windowing
MAX_TOOL_INPUT_VALUES = 4096   # values of the tool input

_PATH_FIELDS = ("file_path", "path", "notebook_path")


def _resolve(value, cwd, home):
    """The absolute (lexically normalized) path an argument names; ``~`` becomes the home
    when known."""
    if value.startswith("~") and (len(value) == 1 or value[1] == "/") and home:
        value = home.rstrip("/") + value[1:]
    elif value[0] != "/" and value[0] != "~":
        value = (cwd.rstrip("/") + "/" + value) if cwd else value
    return normpath(value)


class _Doc:
    """The limits hit while building one document."""

    __slots__ = ("limits",)

    def __init__(self):
        self.limits = []

    def hit(self, what):
        if what not in self.limits and len(self.limits) < 32:
            self.limits.append(what)

    def text(self, s, what):
        if len(s) > MAX_STRING:
            self.hit("%s: cut to %d characters" % (what, MAX_STRING))
            return s[:MAX_STRING]
        return s

    def texts(self, items, what, cap=MAX_ARGS):
        items = list(items)
        if len(items) > cap:
            self.hit("%s: %d of %d described" % (what, cap, len(items)))
            items = items[:cap]
        return [self.text(s, what) for s in items]


class RuleFacts:
    """What the rule packs know that the document reports: how each program reads its
    argv (which arguments are flags, option values, data or written paths) and which rules
    match each simple command. Built from a rules policy (``Validator.policy``, from
    :func:`lighthouse.rules.loader.load_policy`); :meth:`shipped` is the shipped packs'."""

    _shipped = None
    _lock = threading.Lock()

    def __init__(self, policy):
        from ..rules.loader import engine_specs
        specs = engine_specs(policy)
        self.engine = Engine(specs, policy.programs)
        #: What the call-shape kernels need of each program (``_shape_shared.ProgramTable``):
        #: the pattern tier shapes a command with one lookup in it, no Python call.
        self.programs = program_table(self.engine.programs)
        # Which rules may match a program (its name against the rules' program globs) is
        # asked of the compiled engine when it is built: the pure one tries every glob
        # in Python, ~0.6 ms for a program it has not seen (every escalated call of an
        # unknown program). Both engines build their rules from the same specs, in the
        # same order; the pure rules then test the command, as the document reports it.
        self._candidates = None
        if _fast.COMPILED:
            compiled = _fast.engine.Engine(specs, policy.programs)
            by_id = {id(c): r for c, r in zip(compiled.rules, self.engine.rules)}
            self._candidates = (compiled.rules_for_program, by_id, compiled)

    @classmethod
    def shipped(cls):
        with cls._lock:
            if cls._shipped is None:
                from ..rules.loader import load_policy
                cls._shipped = cls(load_policy((), packs=True))
            return cls._shipped

    def spec(self, program):
        return self.engine.programs.get(program, _EMPTY_SPEC)

    def rules_for_program(self, program):
        """The rules that may match a simple command of ``program``, in priority order."""
        if self._candidates is None:
            return self.engine.rules_for_program(program)
        rules_for_program, by_id, _ = self._candidates
        return [by_id[id(c)] for c in rules_for_program(program)]

    def command_rules(self, sc, view, home, ws):
        """The rules that match simple command ``sc`` (``view``: its pure ``_View`` in
        workspace ``ws`` with ``home``), as the document reports them. The compiled engine
        tests them when it is loaded (``Engine.command_matches``: an escalated call's
        candidate rules cost several times less than through the pure rules, which the
        pure twin tests as before)."""
        if self._candidates is None:
            matched = [r for r in self.engine.rules_for_program(sc.program) if r.match_command(view)]
        else:
            _, by_id, compiled = self._candidates
            matched = [by_id[id(c)] for c in compiled.command_matches(sc, home, ws)]
        return [{"id": r.id, "verdict": VERDICTS[r.verdict], "reason": r.reason} for r in matched]

    def tool_rules(self, tool, tool_input, cwd, home):
        from .._fast._engine_py import path_forms
        forms = lambda v: path_forms(v, cwd or "", home, cwd or "")  # noqa: E731
        return [{"id": r.id, "verdict": VERDICTS[r.verdict], "reason": r.reason}
                for r in self.engine.rules_for_tool(tool) if r.match_input(tool_input, forms)]


class RuleFactsSource:
    """The :class:`RuleFacts` of the rule policy in force (``rules()``, e.g.
    ``lambda: validator.policy``), built once per policy and shared by every tier that
    reports them (policy, patterns, experts).

    Building them costs a tenth of a second of CPU or more (two rule engines of the
    whole policy, tens of thousands of objects): on the event loop, every call in flight
    would wait for it. :meth:`prepare` builds them where that delays no call: the server
    calls it as it starts (before it serves, and before ``gc.freeze``, so that the
    collector does not walk them on every full collection) and on the worker thread of
    each reload. Calling the source gives the facts of the policy in force; only for a
    policy that :meth:`prepare` has not reached yet (a reload's swap seen first by a
    call) does the call build them itself, so that the facts always match the rules."""

    def __init__(self, rules):
        self._rules = rules
        self._facts = None              # (rule policy, its RuleFacts)

    def prepare(self):
        """The facts of the policy in force, built now unless they are already."""
        policy = self._rules()
        facts = self._facts
        if facts is None or facts[0] is not policy:
            facts = self._facts = (policy, RuleFacts(policy))
        return facts[1]

    __call__ = prepare

    def programs(self):
        """The ProgramTable of the policy in force (``RuleFacts.programs``): what the
        pattern tier shapes a call with, asked once per call it shapes."""
        facts = self._facts
        if facts is not None and facts[0] is self._rules():
            return facts[1].programs
        return self.prepare().programs

    @property
    def ready(self):
        """Whether the facts of the policy in force are built."""
        facts = self._facts
        return facts is not None and facts[0] is self._rules()


def _paths(values, cwd, home, doc, what):
    out = []
    seen = set()
    for v in values:
        p = _path_candidate(v)
        if p is None:
            continue
        full = _resolve(p, cwd, home) if DYN not in p else p
        if full in seen:
            continue
        seen.add(full)
        if len(out) >= MAX_PATHS:
            doc.hit("%s: %d paths described" % (what, MAX_PATHS))
            break
        out.append({"path": doc.text(full, what), "where": where(full, cwd, home)})
    return out


def _command(index, sc, ws, home, facts, doc):
    cwd = sc.cwd or ws
    view = _View(sc, facts.spec(sc.program), home, ws)
    writes = _paths(view.writes, cwd, home, doc, "writes")
    written = {w["path"] for w in writes}
    reads = [r for r in _paths(view.path_args, cwd, home, doc, "reads") if r["path"] not in written]
    redirects = []
    for op, target in list(sc.redirects)[:MAX_PATHS]:
        full = _resolve(target, cwd, home) if target and DYN not in target else target
        redirects.append({"op": op, "target": doc.text(target, "redirects"),
                          "path": doc.text(full, "redirects"), "where": where(full, cwd, home)})
    if len(sc.redirects) > MAX_PATHS:
        doc.hit("redirects: %d described" % MAX_PATHS)
    args = doc.texts(sc.args, "args")
    env = dict(list(sc.env.items())[:MAX_ARGS])
    if len(sc.env) > MAX_ARGS:
        doc.hit("env: %d entries described" % MAX_ARGS)
    options = {doc.text(k, "options"): doc.texts(v, "options")
               for k, v in list(view.options.items())[:MAX_ARGS]}
    invoked = sc.path
    program_path = _resolve(invoked, cwd, home) if invoked and DYN not in invoked else invoked
    return {
        "index": index,
        "program": doc.text(sc.program, "program"),
        "program_path": doc.text(program_path, "program"),
        "program_where": where(program_path, cwd, home) if program_path else "",
        "argv": [doc.text(sc.program, "program")] + args,
        "args": args,
        "flags": doc.texts(sorted(view.flags), "flags"),
        "options": options,
        "positionals": doc.texts(view.positionals, "positionals"),
        "reads": reads,
        "writes": writes,
        "redirects": redirects,
        "cwd": cwd,
        "sudo": bool(sc.sudo),
        "env": {doc.text(k, "env"): doc.text(v, "env") for k, v in env.items()},
        "origin": sc.origin,
        "pipe_in": list(sc.pipe_in),
        "pipeline": list(sc.pipeline),
        "code_from": list(sc.code_from),
        "code": doc.text(sc.code, "code"),
        "dynamic": bool(sc.dynamic),
        "rules": facts.command_rules(sc, view, home, ws),
    }


def _tool_input(tool_input, doc):
    if not isinstance(tool_input, dict):
        doc.hit("tool_input: not an object")
        return {}
    if scan(tool_input, TOOL_INPUT_WINDOW, MAX_TOOL_INPUT, MAX_TOOL_INPUT_VALUES) == FITS:
        return tool_input
    cut = window_input(tool_input, TOOL_INPUT_WINDOW)
    if scan(cut, TOOL_INPUT_WINDOW, MAX_TOOL_INPUT, MAX_TOOL_INPUT_VALUES) != FITS:
        doc.hit("tool_input: omitted (over %d characters or %d values)" % (MAX_TOOL_INPUT, MAX_TOOL_INPUT_VALUES))
        return {}
    doc.hit("tool_input: strings cut to %d characters" % TOOL_INPUT_WINDOW)
    return cut


def build_input(tool, tool_input, *, cwd="", home="", agent_id="", session_id="", escalation="miss",
                rule_id="", reason="", facts=None):
    """The input document for one escalated call (a dict ready for JSON; see
    ``input.schema.json``).

    ``escalation`` is why the call left the fast tiers: "miss" (no rule settled it) or
    "ask" (rule ``rule_id`` asks for a human or an expert, with ``reason``). ``facts``
    (a :class:`RuleFacts`) supplies the program specs and rules of the running policy;
    the shipped packs' by default. Never raises on bad call data: what cannot be
    analysed is reported in ``analysis`` and the document is then incomplete.
    """
    if escalation not in ("miss", "ask"):
        raise ValueError("escalation must be 'miss' or 'ask', not %r" % (escalation,))
    facts = facts or RuleFacts.shipped()
    doc = _Doc()
    cwd = cwd or ""
    home = home or ""
    error = ""
    commands = []
    rules = []
    paths = []
    ti = _tool_input(tool_input, doc)
    if tool == "Bash":
        command = tool_input.get("command") if isinstance(tool_input, dict) else None
        if not isinstance(command, str):
            error = "the Bash tool input has no command string"
        else:
            try:
                analysed = _fast.shell.analyze(command, cwd, home or None)
                if len(analysed) > MAX_COMMANDS:
                    doc.hit("commands: %d of %d described" % (MAX_COMMANDS, len(analysed)))
                    analysed = analysed[:MAX_COMMANDS]
                for k, sc in enumerate(analysed):
                    c = _command(k, sc, cwd, home or None, facts, doc)
                    commands.append(c)
                    rules.extend(dict(r, command=k) for r in c["rules"])
            except ShellError as e:      # LimitError included
                error = str(e) or type(e).__name__
                commands = []
                rules = []
            if not commands and not error:
                error = "the command runs no program"
    elif isinstance(tool_input, dict):
        for name in _PATH_FIELDS:
            value = tool_input.get(name)
            if isinstance(value, str) and value:
                full = _resolve(value, cwd, home)
                paths.append({"field": name, "path": doc.text(full, "paths"), "where": where(full, cwd, home)})
        try:
            rules = [dict(r, command=-1) for r in facts.tool_rules(tool, tool_input, cwd, home or None)]
        except ShellError as e:
            error = str(e) or type(e).__name__
    complete = not error and not doc.limits
    return {
        "version": INPUT_VERSION,
        "tool": tool,
        "tool_input": ti,
        "cwd": cwd,
        "home": home,
        "agent_id": agent_id or "",
        "session_id": session_id or "",
        "escalation": {"reason": escalation, "rule_id": rule_id or "", "rule_reason": reason or ""},
        "rules": rules,
        "commands": commands,
        "paths": paths,
        "analysis": {"complete": complete, "error": error, "limits": list(doc.limits)},
    }


def input_json(doc):
    """The document as compact JSON text (what a policy worker and the OPA REST client
    are sent). Text that is not valid Unicode (a lone surrogate, which JSON input may
    carry as ``\\ud800``) cannot be sent: it is replaced by U+FFFD in ``doc`` itself, and
    the document is marked incomplete (so that no policy answer can allow the call)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _replace_surrogates(doc)
        if isinstance(doc, dict):
            analysis = doc.get("analysis")
            if not isinstance(analysis, dict):
                analysis = doc["analysis"] = {"complete": False, "error": "", "limits": []}
            analysis["complete"] = False
            limits = analysis.get("limits")
            if not isinstance(limits, list):
                limits = analysis["limits"] = []
            limits.append("text that is not valid Unicode (lone surrogates) replaced by U+FFFD")
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return text


def _clean(s):
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _replace_surrogates(value):
    """Replace lone surrogates in every string of a JSON-ready value, in place where it
    is a container; returns the cleaned value."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k in list(v):
                item = v.pop(k)
                if isinstance(item, str):
                    item = _clean(item)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
                v[_clean(k) if isinstance(k, str) else k] = item
        elif isinstance(v, list):
            for i, item in enumerate(v):
                if isinstance(item, str):
                    v[i] = _clean(item)
                elif isinstance(item, (dict, list)):
                    stack.append(item)
    return _clean(value) if isinstance(value, str) else value
