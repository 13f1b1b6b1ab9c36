"""Explaining a decision: what the shell analysis saw and which rules matched.

Uses the pure-Python engine, which is the readable reference and gives the same answers
as the compiled one (the test suite checks that they agree).
"""

from __future__ import annotations

from ._fast import _engine_py
from ._fast._errors import ShellError
from ._fast._shell_py import analyze
from .rules.loader import engine_specs


def explain(validator, tool, tool_input, cwd=None, home=None):
    """Return a dict: the decision, and for Bash each simple command with every rule
    that matches it (in priority order); for other tools the matching rules."""
    engine = _engine_py.Engine(engine_specs(validator.policy), validator.policy.programs)
    decision = validator.check(tool, tool_input, cwd, None, home)
    out = {"tool": tool, "decision": decision.to_dict(), "commands": [], "matches": []}
    if not isinstance(tool_input, dict):
        return out
    if tool == "Bash":
        command = tool_input.get("command")
        if not isinstance(command, str):
            return out
        try:
            commands = analyze(command, cwd or "", home)
            for sc in commands:
                spec = engine.programs.get(sc.program, _engine_py._EMPTY_SPEC)
                view = _engine_py._View(sc, spec, home, cwd or "", engine)
                matches = [{"id": r.id, "verdict": _engine_py.VERDICTS[r.verdict], "reason": r.reason}
                           for r in engine.rules_for_program(sc.program) if r.match_command(view)]
                out["commands"].append({
                    "program": sc.program, "args": list(sc.args), "cwd": sc.cwd, "sudo": sc.sudo,
                    "origin": sc.origin, "pipe_in": list(sc.pipe_in), "code_from": list(sc.code_from),
                    "redirects": [list(r) for r in sc.redirects], "dynamic": sc.dynamic,
                    "writes": list(view.writes), "matches": matches,
                })
        except ShellError as e:     # unparsed, or a limit reached (LimitError)
            out["error"] = str(e)
        return out
    forms = lambda v: _engine_py.path_forms(v, cwd or "", home, cwd or "")  # noqa: E731
    try:
        out["matches"] = [{"id": r.id, "verdict": _engine_py.VERDICTS[r.verdict], "reason": r.reason}
                          for r in engine.rules_for_tool(tool) if r.match_input(tool_input, forms)]
    except ShellError as e:         # a limit reached (LimitError): a path too long to judge
        out["error"] = str(e)
    return out
