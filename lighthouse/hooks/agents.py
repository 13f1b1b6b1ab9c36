"""Hooks for agents other than Claude Code: ``lighthouse hook gemini|cursor|codex``.

Each agent here runs a program before a tool call, gives it the call as JSON on stdin,
and lets it block the call (and, for some, ask a person). The hook maps the agent's event
to the calls Lighthouse judges (Claude Code's tool names and input shapes: ``Bash``
``{command}``, ``Write`` ``{file_path, content}``, ``Edit`` ``{file_path, old_string,
new_string}``, ``Read`` ``{file_path}``, ``Glob``, ``Grep``, ``WebFetch`` ``{url}``,
``WebSearch``, ``mcp__<server>__<tool>``), has each judged exactly as ``lighthouse hook
claude-code`` judges it (:func:`lighthouse.hooks.claude_code.run`: the server over the
local socket or gRPC, else a local decision with the server's rules, never an allow
because no server answered), and answers in the agent's own format. A tool it does not
map keeps its name and input: the server's rules, knowing no such tool, answer ask.

Protocols, as documented when this was written (README, "Other agents"):

- **Gemini CLI** (``BeforeTool`` hooks in ``.gemini/settings.json``): stdin ``{session_id,
  cwd, hook_event_name: "BeforeTool", tool_name, tool_input, ...}``; stdout ``{"decision":
  "allow" | "deny", "reason": ...}``; exit 2 blocks. There is no ask: an ask is answered
  deny, saying a person must approve the call.
- **Cursor** (``.cursor/hooks.json``, version 1): ``preToolUse`` ``{tool_name, tool_input,
  tool_use_id, cwd}`` for every tool (``Write``, ``StrReplace``, ``Delete``, ``ApplyPatch``,
  ``EditNotebook``, ``ReadFile``, ``Glob``, ``Grep``, ...; ``Shell``, ``Read`` and ``MCP:<tool>``
  are left to the dedicated events below, installed beside it, so that no call is judged
  twice); ``beforeShellExecution`` ``{command, cwd}``, ``beforeMCPExecution`` ``{tool_name,
  tool_input}``, ``beforeReadFile`` ``{file_path}``, each with ``conversation_id`` and
  ``workspace_roots``; stdout ``{"permission": "allow" | "deny" | "ask", "user_message",
  "agent_message"}`` (``beforeReadFile``: ``{"permission": "allow" | "deny"}`` alone;
  ``preToolUse``: an ask is a deny, Cursor's own approval flow deciding what a hook's ask
  means there).
- **Codex CLI** (``PreToolUse`` hooks in ``.codex/hooks.json``): Claude Code's shape
  (``tool_name`` ``Bash``, ``apply_patch`` with the patch in ``tool_input.command``,
  ``mcp__<server>__<tool>``); stdout ``hookSpecificOutput.permissionDecision: "deny"`` with a
  reason blocks; Codex refuses ``allow`` (without ``updatedInput``) and ``ask`` as unsupported
  and runs the call, so an allow prints nothing (Codex's own approval policy applies) and an
  ask is a deny that says a person must approve the call.

One event can hold several calls (a Codex or Cursor patch touching several files, a Gemini
``web_fetch`` naming several URLs, a Cursor ``Write`` naming its file in two fields): each
is judged, and the answer is the most severe (deny over ask over allow), with that call's
reason. More than :data:`MAX_CALLS` calls in one event is an ask, never a verdict on the
part judged. Input that cannot be read, or an event of another kind, is a deny naming the
problem. The hook always exits 0 with its answer; ``hook install --agent`` wraps it so
that a hook that cannot run exits 2, which each of these agents takes as "block this call".
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time

from . import claude_code

__all__ = ["AGENTS", "MAX_CALLS", "CURSOR_HANDED_OVER", "BadEvent", "calls_for", "answer_for", "run", "main"]

#: The agents ``hook install --agent`` and ``lighthouse hook <agent>`` know.
AGENTS = ("claude-code", "gemini", "cursor", "codex")
#: The most calls one event may hold (files of a patch, URLs of a fetch).
MAX_CALLS = 32
_SEVERITY = {"allow": 0, "ask": 1, "deny": 2}
_URL = re.compile(r"https?://[^\s<>\"'`]+")


class BadEvent(Exception):
    """An event the hook cannot read or does not handle; the message says why."""


def _string(obj, key, where="tool_input", required=True):
    value = obj.get(key)
    if isinstance(value, str) and value:
        return value
    if required:
        raise BadEvent("%s.%s must be a non-empty string" % (where, key))
    return None


def _object(payload, key):
    value = payload.get(key)
    if not isinstance(value, dict):
        raise BadEvent("%s must be a JSON object" % key)
    return value


def _under(cwd, path):
    return os.path.normpath(os.path.join(cwd, path)) if cwd else path


# ---------------------------------------------------------------- Gemini CLI

def _gemini(payload):
    if payload.get("hook_event_name") != "BeforeTool":
        raise BadEvent("this hook handles Gemini CLI BeforeTool events, not %r" % (payload.get("hook_event_name"),))
    tool = _string(payload, "tool_name", "the event")
    args = _object(payload, "tool_input")
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    if tool == "run_shell_command":
        directory = _string(args, "directory", required=False)
        return [("Bash", {"command": _string(args, "command")}, _under(cwd, directory) if directory else cwd)]
    if tool == "write_file":
        return [("Write", {"file_path": _string(args, "file_path"), "content": args.get("content", "")}, cwd)]
    if tool == "replace":
        return [("Edit", {"file_path": _string(args, "file_path"), "old_string": args.get("old_string", ""),
                          "new_string": args.get("new_string", "")}, cwd)]
    if tool == "read_file":
        path = _string(args, "file_path", required=False) or _string(args, "absolute_path")
        return [("Read", {"file_path": path}, cwd)]
    if tool == "glob":
        return [("Glob", {k: args[k] for k in ("pattern", "path") if k in args}, cwd)]
    if tool in ("search_file_content", "grep_search"):
        grep = {k: args[k] for k in ("pattern", "path") if k in args}
        if "include" in args:
            grep["glob"] = args["include"]
        return [("Grep", grep, cwd)]
    if tool == "list_directory":
        return [("Glob", {"pattern": "*", "path": _string(args, "path")}, cwd)]
    if tool == "google_web_search":
        return [("WebSearch", {"query": args.get("query", "")}, cwd)]
    if tool == "web_fetch":
        urls = _URL.findall(args.get("prompt", "") if isinstance(args.get("prompt"), str) else "")
        if urls:
            return [("WebFetch", {"url": u, "prompt": args["prompt"]}, cwd) for u in dict.fromkeys(urls)]
    return [(tool, args, cwd)]


def _gemini_answer(verdict, reason, payload):
    if verdict == "allow":
        return {"decision": "allow", "reason": reason}
    if verdict == "ask":
        reason = "a person must approve this call (Gemini CLI hooks cannot ask); %s" % reason
    return {"decision": "deny", "reason": reason}


# ---------------------------------------------------------------- Cursor

_CURSOR_EVENTS = ("preToolUse", "beforeShellExecution", "beforeMCPExecution", "beforeReadFile")
#: preToolUse tools judged by the dedicated event ``hook install --agent cursor`` installs beside
#: it (it carries what preToolUse lacks: the shell's cwd, the MCP server's name, the file read
#: before it reaches the model); ``MCP:<tool>`` goes to beforeMCPExecution.
CURSOR_HANDED_OVER = {"Shell": "beforeShellExecution", "Read": "beforeReadFile"}
_CURSOR_MCP = "MCP:"
# The spellings of a tool_input's file seen in Cursor's hooks and transcripts. Every one
# present is judged: the hook cannot know which one Cursor acts on.
_CURSOR_PATHS = ("file_path", "path", "filePath", "target_file")
_CURSOR_NOTEBOOK_PATHS = ("target_notebook", "notebook_path") + _CURSOR_PATHS
_CURSOR_CONTENTS = ("content", "contents")


class _HandedOver(Exception):
    """A preToolUse call another installed Cursor event judges; the message names it."""


def _json_object(value, where):
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except RecursionError:
            raise BadEvent("%s is a string nested too deeply" % where) from None
        except ValueError:
            raise BadEvent("%s is a string that is not JSON" % where) from None
    if not isinstance(value, dict):
        raise BadEvent("%s must be a JSON object" % where)
    return value


def _distinct_strings(args, keys, tool, what):
    """The distinct non-empty strings of ``args`` under ``keys`` (any other value is an
    error); at least one."""
    found = []
    for key in keys:
        if key in args:
            value = args[key]
            if not isinstance(value, str) or not value:
                raise BadEvent("%s: tool_input.%s must be a non-empty string" % (tool, key))
            found.append(value)
    if not found:
        raise BadEvent("%s: tool_input names no %s (%s)" % (tool, what, ", ".join(keys)))
    return list(dict.fromkeys(found))


def _optional_string(args, key, tool):
    value = args.get(key, "")
    if not isinstance(value, str):
        raise BadEvent("%s: tool_input.%s must be a string" % (tool, key))
    return value


def _cursor_tool(tool, raw, cwd):
    """The calls of one preToolUse event: Cursor's tool names and input shapes mapped to
    Lighthouse's; a tool it does not map keeps its name and input."""
    if tool in CURSOR_HANDED_OVER:
        raise _HandedOver(CURSOR_HANDED_OVER[tool])
    if tool.startswith(_CURSOR_MCP):
        raise _HandedOver("beforeMCPExecution")
    if tool == "ApplyPatch":
        patch = raw if isinstance(raw, str) else (raw.get("patch") if isinstance(raw, dict) else None)
        if not isinstance(patch, str) or not patch:
            raise BadEvent("ApplyPatch: tool_input must be the patch text or hold it in tool_input.patch")
        return _patch_calls(patch, cwd)
    args = _json_object(raw, "tool_input")
    if tool == "Write":
        paths = _distinct_strings(args, _CURSOR_PATHS, tool, "file")
        contents = []
        for key in _CURSOR_CONTENTS:
            if key in args:
                contents.append(_optional_string(args, key, tool))
        if not contents:
            raise BadEvent("Write: tool_input holds no content (%s)" % ", ".join(_CURSOR_CONTENTS))
        return [("Write", {"file_path": _under(cwd, p), "content": c}, cwd)
                for p in paths for c in dict.fromkeys(contents)]
    if tool == "StrReplace":
        old, new = _optional_string(args, "old_string", tool), args.get("new_string")
        if not isinstance(new, str):
            raise BadEvent("StrReplace: tool_input.new_string must be a string")
        return [("Edit", {"file_path": _under(cwd, p), "old_string": old, "new_string": new}, cwd)
                for p in _distinct_strings(args, _CURSOR_PATHS, tool, "file")]
    if tool == "Delete":
        return [("Bash", {"command": "rm -f -- %s" % shlex.quote(_under(cwd, p))}, cwd)
                for p in _distinct_strings(args, _CURSOR_PATHS, tool, "file")]
    if tool == "EditNotebook":
        source = _optional_string(args, "new_string", tool)
        return [("NotebookEdit", {"notebook_path": _under(cwd, p), "new_source": source}, cwd)
                for p in _distinct_strings(args, _CURSOR_NOTEBOOK_PATHS, tool, "notebook")]
    if tool == "ReadFile":
        return [("Read", {"file_path": _under(cwd, p)}, cwd)
                for p in _distinct_strings(args, _CURSOR_PATHS, tool, "file")]
    if tool == "Glob" and ("glob_pattern" in args or "target_directory" in args):
        pattern = _optional_string(args, "glob_pattern", tool) or _optional_string(args, "pattern", tool)
        if not pattern:
            raise BadEvent("Glob: tool_input.glob_pattern must be a non-empty string")
        glob = {"pattern": pattern}
        if args.get("target_directory"):
            glob["path"] = _under(cwd, _optional_string(args, "target_directory", tool))
        return [("Glob", glob, cwd)]
    return [(tool, args, cwd)]


def _cursor(payload):
    event = payload.get("hook_event_name")
    roots = payload.get("workspace_roots")
    root = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else None
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) and payload.get("cwd") else root
    if event == "preToolUse":
        if "tool_input" not in payload:
            raise BadEvent("tool_input is missing")
        return _cursor_tool(_string(payload, "tool_name", "the event"), payload["tool_input"], cwd)
    if event == "beforeShellExecution":
        return [("Bash", {"command": _string(payload, "command", "the event")}, cwd)]
    if event == "beforeReadFile":
        return [("Read", {"file_path": _under(cwd, _string(payload, "file_path", "the event"))}, cwd)]
    if event == "beforeMCPExecution":
        tool = _string(payload, "tool_name", "the event")
        args = _json_object(payload.get("tool_input", {}), "tool_input")
        server = payload.get("server_name") if isinstance(payload.get("server_name"), str) else "cursor"
        return [("mcp__%s__%s" % (server, tool), args, cwd)]
    raise BadEvent("this hook handles Cursor's %s events, not %r" % (", ".join(_CURSOR_EVENTS), event))


def _cursor_answer(verdict, reason, payload):
    event = payload.get("hook_event_name")
    if event == "beforeReadFile":
        # Its documented answer is the permission alone, allow or deny.
        return {"permission": "deny" if verdict == "ask" else verdict}
    if verdict == "ask" and event == "preToolUse":
        verdict, reason = "deny", "a person must approve this call (Cursor's preToolUse hook cannot ask); " + reason
    return {"permission": verdict, "user_message": reason, "agent_message": reason}


# ---------------------------------------------------------------- Codex CLI

_PATCH_OP = re.compile(r"\*\*\* (Add|Update|Delete) File: (.+)")
_PATCH_MOVE = re.compile(r"\*\*\* Move to: (.+)")
_PATCH_FRAME = ("*** Begin Patch", "*** End Patch", "*** End of File")


def _patch_calls(patch, cwd):
    """The file operations of a Codex patch (``*** Begin Patch`` ... ``*** End Patch``) as
    Write, Edit and Bash ``rm`` calls. Marker lines are read as Codex reads them, without
    the spaces around them; a ``***`` line that is no marker makes the patch unreadable
    (a file operation this reading missed would go unjudged)."""
    files = []
    for line in patch.splitlines():
        marker = line.strip()
        op = _PATCH_OP.fullmatch(marker)
        move = _PATCH_MOVE.fullmatch(marker)
        if op:
            files.append({"op": op.group(1), "path": _under(cwd, op.group(2).strip()), "old": [], "new": []})
        elif move:
            if not files:
                raise BadEvent("apply_patch: *** Move to: before any file")
            files[-1]["move"] = _under(cwd, move.group(1).strip())
        elif marker.startswith("***"):
            if marker not in _PATCH_FRAME:
                raise BadEvent("apply_patch: a line this hook cannot read: %r" % line[:200])
        elif files and line[:1] in ("+", "-", " "):
            if line[:1] != "+":
                files[-1]["old"].append(line[1:])
            if line[:1] != "-":
                files[-1]["new"].append(line[1:])
    if not files:
        raise BadEvent("apply_patch: no file operation in the patch")
    calls = []
    for f in files:
        new, old = "\n".join(f["new"]), "\n".join(f["old"])
        if f["op"] == "Add":
            calls.append(("Write", {"file_path": f["path"], "content": new}, cwd))
        elif f["op"] == "Delete":
            calls.append(("Bash", {"command": "rm -f -- %s" % shlex.quote(f["path"])}, cwd))
        else:
            calls.append(("Edit", {"file_path": f["path"], "old_string": old, "new_string": new}, cwd))
            if "move" in f:
                calls.append(("Write", {"file_path": f["move"], "content": new}, cwd))
                calls.append(("Bash", {"command": "rm -f -- %s" % shlex.quote(f["path"])}, cwd))
    return calls


def _codex(payload):
    event = payload.get("hook_event_name")
    if event != "PreToolUse":
        raise BadEvent("this hook handles Codex PreToolUse events, not %r" % (event,))
    tool = _string(payload, "tool_name", "the event")
    args = _object(payload, "tool_input")
    cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else None
    if tool == "Bash":
        command = args.get("command")
        if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
            command = shlex.join(command)
        if not isinstance(command, str) or not command:
            raise BadEvent("tool_input.command must be a non-empty string or list of strings")
        return [("Bash", dict(args, command=command), cwd)]
    if tool == "apply_patch":
        return _patch_calls(_string(args, "command"), cwd)
    return [(tool, args, cwd)]


def _codex_answer(verdict, reason, payload):
    if verdict == "allow":
        return None
    if verdict == "ask":
        reason = "a person must approve this call (Codex hooks cannot ask); %s" % reason
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": reason}}


_MAPPERS = {"gemini": (_gemini, _gemini_answer), "cursor": (_cursor, _cursor_answer),
            "codex": (_codex, _codex_answer)}


def calls_for(agent, payload):
    """The calls Lighthouse judges for one event of ``agent`` (a parsed JSON object):
    a list of ``(tool, input, cwd)``. Raises :class:`BadEvent`."""
    if not isinstance(payload, dict):
        raise BadEvent("hook input must be a JSON object")
    return _MAPPERS[agent][0](payload)


def answer_for(agent, verdict, reason, payload):
    """The JSON object ``agent`` reads for ``verdict`` (None: print nothing)."""
    return _MAPPERS[agent][1](verdict, reason, payload if isinstance(payload, dict) else {})


def _session(payload):
    for key in ("session_id", "conversation_id"):
        if isinstance(payload.get(key), str):
            return payload[key]
    return None


def decide(agent, raw, argv=(), environ=None):
    """(verdict, reason, payload) for one event of ``agent``: each of its calls judged by
    :func:`lighthouse.hooks.claude_code.run`, the most severe answer kept."""
    if "--defer" in argv:
        return "ask", "lighthouse hook is misconfigured (--defer is for claude-code only); a person must decide", {}
    if len(raw) > claude_code.MAX_EVENT:
        return "deny", "lighthouse: hook input exceeds %d bytes" % claude_code.MAX_EVENT, {}
    try:
        payload = json.loads(raw)
    except RecursionError:
        return "deny", "lighthouse: hook input is nested too deeply", {}
    except ValueError as e:
        return "deny", "lighthouse: hook input is not valid JSON (%s)" % e, {}
    try:
        calls = calls_for(agent, payload)
    except BadEvent as e:
        return "deny", "lighthouse: %s" % e, payload
    except _HandedOver as e:
        return "allow", "lighthouse: left to the %s hook, which judges this call" % e, payload
    if len(calls) > MAX_CALLS:
        return "ask", ("lighthouse: this %s call holds %d operations, more than the %d judged one by one; "
                       "a person must decide" % (agent, len(calls), MAX_CALLS)), payload
    try:
        opts = claude_code.parse_args(list(argv), os.environ if environ is None else environ)
    except claude_code._BadOption as e:
        return "ask", "lighthouse hook is misconfigured (%s); a person must decide" % e, payload
    argv = ["--agent-id", agent] + list(argv)
    start = time.monotonic()
    worst = None
    for tool, tool_input, cwd in calls:
        left = opts["wait"] - (time.monotonic() - start)
        if left <= 0:
            return "ask", "lighthouse: no time left to judge every operation of this call; a person must decide", \
                payload
        event = {"hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input,
                 "session_id": _session(payload)}
        if cwd:
            event["cwd"] = cwd
        out = claude_code.run(json.dumps(event).encode(), argv + ["--wait", "%r" % left], environ)
        got = out["hookSpecificOutput"]
        verdict, reason = got["permissionDecision"], got["permissionDecisionReason"]
        if len(calls) > 1:
            reason = "%s %s: %s" % (tool, tool_input.get("file_path") or tool_input.get("notebook_path") or
                                    tool_input.get("url") or tool_input.get("command", ""), reason)
        if worst is None or _SEVERITY[verdict] > _SEVERITY[worst[0]]:
            worst = (verdict, reason)
    return worst[0], worst[1], payload


def run(agent, raw, argv=(), environ=None):
    """The JSON object to print for one event of ``agent`` (None: nothing)."""
    verdict, reason, payload = decide(agent, raw, argv, environ)
    return answer_for(agent, verdict, reason, payload)


USAGE = """\
usage: lighthouse hook {gemini,cursor,codex} [options of lighthouse hook claude-code]

Reads the agent's hook event on stdin and prints its answer on stdout (README, "Other
agents"): Gemini CLI BeforeTool; Cursor preToolUse, beforeShellExecution,
beforeMCPExecution and beforeReadFile (preToolUse leaves Shell, Read and MCP calls to
those three); Codex PreToolUse. The options are those of `lighthouse hook claude-code`
(--socket, --server, --timeout, --wait, --rules, --agent-id, --tls-*), except --defer;
the agent id sent to the server is the agent's name unless --agent-id says otherwise.
"""


def _event_of(raw):
    """The event as far as it can be read, for rendering an answer in its own format (an
    ask is a deny where the event cannot ask); {} when it cannot."""
    try:
        payload = json.loads(raw) if len(raw) <= claude_code.MAX_EVENT else None
    except (ValueError, RecursionError):
        payload = None
    return payload if isinstance(payload, dict) else {}


def main(agent, argv=None):
    """Entry point of ``lighthouse hook <agent>``: always exits 0 with the answer."""
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        sys.stdout.write(USAGE)
        return 0
    raw = b""
    try:
        raw = sys.stdin.buffer.read(claude_code.MAX_EVENT + 1)
        out = run(agent, raw, argv)
    except Exception as e:          # a bug must not become an allow, nor a hook error
        out = answer_for(agent, "ask", "lighthouse hook failed (%s: %s); a person must decide"
                         % (type(e).__name__, e), _event_of(raw))
    if out is not None:
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in _MAPPERS:
        sys.stderr.write(USAGE)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
