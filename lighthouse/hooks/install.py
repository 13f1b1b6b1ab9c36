"""``lighthouse hook install``: add the PreToolUse hook to Claude Code's settings.

Claude Code reads hooks from ``~/.claude/settings.json`` (the user),
``.claude/settings.json`` (a project, committed and shared) and
``.claude/settings.local.json`` (a project, this machine only)::

    {"hooks": {"PreToolUse": [{"matcher": "*",
                               "hooks": [{"type": "command", "command": "...", "timeout": 10}]}]}}

A project install goes to ``settings.local.json`` by default: the command names this
machine's interpreter, which a teammate's machine or CI does not have. Wherever it goes,
the command fails closed: Claude Code treats a hook that exits with anything but 0 or 2
as a non-blocking error and runs the tool call unchecked, so the command is a ``sh``
wrapper that exits 2 (which blocks the call and shows the message) when the interpreter
is gone or the hook fails.

The hook's ``timeout`` matters: when a hook runs past it, Claude Code lets the tool call
run unchecked. A call the server escalates to its slower tiers (policy, experts) may take
up to the server's escalation deadline, which the hook waits for (``--wait``), so the
command carries ``--wait`` (the deadline plus the server's margins) and the ``timeout``
covers it plus :data:`HOOK_MARGIN` for start-up and the local decision when no server
answers (:func:`hook_timing`). The deadline is the one given, else the one the server
publishes beside its socket, else ``lighthouse serve``'s default (30 s): 32 s of wait and
a 42 s timeout.

The command runs the native hook client (lighthouse/hooks/native/lighthouse-hook, built
by ``make install``: same protocol and answers, without a Python start-up per call) when
it was built, else the Python hook; the native client hands what it does not decide itself
(no server answering, unreadable input) to the same Python hook, so the command names the
interpreter either way (:func:`hook_command`).

Installing merges into what is there (other settings, other events, other PreToolUse
hooks stay as they are), is idempotent (an existing Lighthouse hook is updated in place,
never duplicated), writes atomically, and refuses a file that is not valid JSON rather
than overwrite it.

The other agents (:data:`SPECS`: Gemini CLI, Cursor, Codex) keep their hooks in their own
file and shape; installing there merges the same way, and their command is the same kind of
wrapper, exiting 2 (which each of them takes as "block this call") when the hook cannot run.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import tempfile

from ..localsock import ANSWER_GRACE, Unavailable, positive_seconds, read_policy, resolve_socket_path
from .claude_code import MAX_WAIT

__all__ = ["InstallError", "settings_path", "agent_settings_path", "hook_command", "native_hook_path", "NATIVE_HOOK",
           "SPECS", "hook_timing", "published_deadline", "install",
           "uninstall", "ESCALATION_DEADLINE", "HOOK_MARGIN", "HOOK_TIMEOUT"]

#: ``lighthouse serve``'s default --escalation-deadline, in seconds.
ESCALATION_DEADLINE = 30.0
#: Seconds the server may answer past its escalation deadline (its Decider's guard, 1 s)
#: plus the client's grace for the answer to arrive (lighthouse.localsock.ANSWER_GRACE).
SERVER_MARGIN = 1.0 + ANSWER_GRACE
#: Seconds of Claude Code's timeout beyond the hook's --wait: interpreter start-up and,
#: when no server answers, the hook's --timeout (1.5 s) and loading the rules to decide
#: locally (about 0.3 s; more on a loaded machine).
HOOK_MARGIN = 10


class InstallError(Exception):
    """The settings file cannot be changed safely; nothing was written."""


def hook_timing(escalation_deadline=None, timeout=None):
    """``(wait, timeout)``: the hook's ``--wait`` and the Claude Code ``timeout`` for it,
    in seconds. From the server's ``escalation_deadline`` (default
    :data:`ESCALATION_DEADLINE`): wait = deadline + :data:`SERVER_MARGIN`, timeout = wait
    + :data:`HOOK_MARGIN`, rounded up. An explicit ``timeout`` gives the hook ``timeout -
    HOOK_MARGIN`` of wait, and must cover ``escalation_deadline`` when both are given.
    Raises :class:`InstallError` for values that cannot work."""
    if escalation_deadline is not None and not (positive_seconds(escalation_deadline)
                                                and escalation_deadline + SERVER_MARGIN <= MAX_WAIT):
        raise InstallError("the escalation deadline must be between 0 and %g seconds, not %r"
                           % (MAX_WAIT - SERVER_MARGIN, escalation_deadline))
    if timeout is None:
        wait = (escalation_deadline or ESCALATION_DEADLINE) + SERVER_MARGIN
        return wait, math.ceil(wait + HOOK_MARGIN)
    if not positive_seconds(timeout) or timeout < HOOK_MARGIN + 2:
        raise InstallError("the hook timeout must be at least %d seconds (%d for start-up and a local decision, "
                           "and some time to wait for the server), not %r" % (HOOK_MARGIN + 2, HOOK_MARGIN, timeout))
    timeout = math.ceil(timeout)
    wait = min(float(timeout - HOOK_MARGIN), MAX_WAIT)
    if escalation_deadline is not None and wait < escalation_deadline + SERVER_MARGIN:
        raise InstallError("a hook timeout of %d s does not cover an escalation deadline of %g s: give at least %d"
                           % (timeout, escalation_deadline, math.ceil(escalation_deadline + SERVER_MARGIN
                                                                      + HOOK_MARGIN)))
    return wait, timeout


def published_deadline(socket=None, environ=None):
    """``(seconds, where)``: the escalation deadline the server publishes beside its socket
    (``socket``, else the one the hook would use), or ``(None, why not)`` when it publishes
    none (not started yet, not escalating) or its file cannot be trusted."""
    path = resolve_socket_path(socket, environ)
    try:
        policy = read_policy(path)
    except Unavailable as e:
        return None, str(e)
    if policy is None:
        return None, "no policy published beside %s" % path
    if "escalation_deadline" not in policy:
        return None, "the server at %s does not escalate" % path
    return policy["escalation_deadline"], "published beside %s" % path


#: Where the build puts the native hook client (setup.py's build_ext).
NATIVE_HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native", "lighthouse-hook")

_MARKERS = ("lighthouse hook claude-code", "lighthouse.hooks.claude_code", "lighthouse/hooks/native/lighthouse-hook",
            "lighthouse.hooks.agents")


def native_hook_path():
    """The native hook client's executable, or None when it was not built
    (LIGHTHOUSE_NO_NATIVE_HOOK=1, or a build without a C compiler)."""
    return NATIVE_HOOK if os.path.isfile(NATIVE_HOOK) and os.access(NATIVE_HOOK, os.X_OK) else None


def settings_path(project=None, user=False, shared=False):
    """``~/.claude/settings.json`` for the user; for a project
    ``<project>/.claude/settings.local.json`` (this machine only), or
    ``<project>/.claude/settings.json`` (committed, shared) when ``shared``."""
    if user:
        return os.path.join(os.path.expanduser("~"), ".claude", "settings.json")
    name = "settings.json" if shared else "settings.local.json"
    return os.path.join(os.path.abspath(project or "."), ".claude", name)


# Runs the hook and turns every way it can fail to run (interpreter or package gone, a
# crash) into exit 2, which Claude Code takes as "block this call" with stderr as the
# reason; any other non-zero exit would let the call run unchecked.
_WRAPPER = ('py=$1; shift; '
            'if [ ! -x "$py" ]; then echo "lighthouse hook: $py is missing; reinstall the hook '
            '(lighthouse hook install) or remove it from the Claude Code settings" >&2; exit 2; fi; '
            '"$py" -P -m lighthouse.hooks.claude_code "$@"; rc=$?; '
            'if [ $rc -ne 0 ]; then echo "lighthouse hook failed (exit $rc); the tool call is blocked" >&2; '
            'exit 2; fi')


# The same for any program (the native client, which runs the Python hook itself when it
# must and answers deny when that interpreter is gone; the other agents' hook): exit 2 is
# "block this call" for Gemini CLI, Cursor and Codex as well.
_RUN_WRAPPER = ('h=$1; shift; '
                'if [ ! -x "$h" ]; then echo "lighthouse hook: $h is missing; reinstall the hook '
                '(lighthouse hook install) or remove it from the agent\'s settings" >&2; exit 2; fi; '
                '"$h" "$@"; rc=$?; '
                'if [ $rc -ne 0 ]; then echo "lighthouse hook failed (exit $rc); the tool call is blocked" >&2; '
                'exit 2; fi')


def hook_command(socket=None, server=None, python=None, defer=False, wait=None, native=None, agent="claude-code"):
    """The command Claude Code runs: ``sh -c`` with a wrapper that runs this interpreter
    (an absolute path, so it does not depend on Claude Code's PATH) with ``-P -m
    lighthouse.hooks.claude_code`` (and ``--wait``, when given: see :func:`hook_timing`),
    and exits 2 (block) when it cannot. With ``native`` (the path of the native hook
    client, :func:`native_hook_path`), the wrapper runs that instead, with ``--python``
    naming the interpreter it hands over to. For another ``agent`` (:data:`SPECS`) the
    wrapper runs ``-P -m lighthouse.hooks.agents AGENT`` (no native client).

    ``-P`` matters: Claude Code runs hooks in the project directory, and ``-m`` would put
    it first on sys.path, so a ``json.py`` or ``socket.py`` the agent wrote there would run
    inside the hook and could answer allow to everything."""
    python = python or sys.executable
    if agent != "claude-code":
        parts = ["sh", "-c", _RUN_WRAPPER, "lighthouse-hook", python, "-P", "-m", "lighthouse.hooks.agents", agent]
    elif native:
        parts = ["sh", "-c", _RUN_WRAPPER, "lighthouse-hook", native, "--python", python]
    else:
        parts = ["sh", "-c", _WRAPPER, "lighthouse-hook", python]
    if socket:
        parts += ["--socket", os.path.abspath(socket)]
    if server:
        parts += ["--server", server]
    if wait is not None:
        parts += ["--wait", "%g" % wait]
    if defer:
        parts.append("--defer")
    return " ".join(shlex.quote(p) for p in parts)


#: Claude Code's timeout for the hook with the default escalation deadline (42 s).
HOOK_TIMEOUT = hook_timing()[1]


def _is_ours(handler):
    cmd = handler.get("command") if isinstance(handler, dict) else None
    return isinstance(cmd, str) and any(m in " ".join(cmd.split()) for m in _MARKERS)


def _load(path):
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise InstallError("cannot read %s: %s" % (path, e)) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise InstallError("%s is not valid JSON (%s); fix it or move it away, nothing was changed"
                           % (path, e)) from None
    if not isinstance(data, dict):
        raise InstallError("%s must hold a JSON object; nothing was changed" % path)
    return data


def _write(path, data):
    """Write JSON atomically: a temporary file in the same directory, fsynced, renamed over
    the original (whose mode is kept). A symlinked settings file is written through."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class _Spec:
    """Where and how an agent keeps its hooks: the settings files, the events the hook
    handles, whether an event holds matcher groups (``{"matcher", "hooks": [...]}``) or
    handlers directly, the handler, and keys the file must have at its top."""

    def __init__(self, home_dir, project_file, events, group, handler, top=None):
        self.home_dir, self.project_file, self.events = home_dir, project_file, events
        self.group, self.handler, self.top = group, handler, top or {}


#: The agents' hook configurations, as their documentation gives them (README, "Other agents").
SPECS = {
    # Claude Code: timeout in seconds.
    "claude-code": _Spec(".claude", "settings.local.json", ("PreToolUse",), {"matcher": "*"},
                         lambda cmd, t: {"type": "command", "command": cmd, "timeout": t}),
    # Gemini CLI: the matcher is a regular expression; the timeout is in milliseconds.
    "gemini": _Spec(".gemini", "settings.json", ("BeforeTool",), {"matcher": ".*"},
                    lambda cmd, t: {"type": "command", "command": cmd, "name": "lighthouse", "timeout": t * 1000}),
    # Codex CLI: a group without a matcher runs for every tool; timeout in seconds.
    "codex": _Spec(".codex", "hooks.json", ("PreToolUse",), {},
                   lambda cmd, t: {"type": "command", "command": cmd, "timeout": t}),
    # Cursor: handlers straight under each event; failClosed blocks the action when the
    # hook crashes, times out or answers nothing readable; timeout in seconds. preToolUse
    # without a matcher sees every tool; the hook leaves Shell, Read and MCP:<tool> there to
    # the three dedicated events, which carry more (cwd, server name) and fire where
    # preToolUse does not (ReadFile, attached files).
    "cursor": _Spec(".cursor", "hooks.json", ("preToolUse", "beforeShellExecution", "beforeMCPExecution",
                                              "beforeReadFile"), None,
                    lambda cmd, t: {"command": cmd, "timeout": t, "failClosed": True}, top={"version": 1}),
}


def agent_settings_path(agent, project=None, user=False, shared=False):
    """The file ``hook install --agent`` changes: the user's (``~/.gemini/settings.json``,
    ``~/.cursor/hooks.json``, ``~/.codex/hooks.json``) or the project's
    (``.gemini/settings.json``, ``.cursor/hooks.json``, ``.codex/hooks.json``; these agents
    have one project file, committed with the project). Claude Code: :func:`settings_path`."""
    if agent == "claude-code":
        return settings_path(project, user, shared)
    spec = SPECS[agent]
    if user:
        return os.path.join(os.path.expanduser("~"), spec.home_dir, spec.project_file)
    return os.path.join(os.path.abspath(project or "."), spec.home_dir, spec.project_file)


def _entries(data, path, spec):
    for key, value in spec.top.items():
        if data.setdefault(key, value) != value:
            raise InstallError("%s: %r must be %r; nothing was changed" % (path, key, value))
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError("%s: \"hooks\" must be an object; nothing was changed" % path)
    for event in spec.events:
        if not isinstance(hooks.setdefault(event, []), list):
            raise InstallError("%s: \"hooks.%s\" must be a list; nothing was changed" % (path, event))
    return hooks


def _ours(entries, spec):
    """[(the list holding it, handler)] for each Lighthouse handler of one event."""
    if spec.group is None:
        return [(entries, h) for h in entries if _is_ours(h)]
    return [(g["hooks"], h) for g in entries if isinstance(g, dict) and isinstance(g.get("hooks"), list)
            for h in g["hooks"] if _is_ours(h)]


def _drop_emptied(entries, spec, emptied):
    if spec.group is not None:
        entries[:] = [g for g in entries if not (isinstance(g, dict) and any(g.get("hooks") is e for e in emptied))]


def install(path, command, timeout=None, agent="claude-code"):
    """Add (or update) the Lighthouse hook of ``agent`` (:data:`SPECS`) in the settings
    file at ``path``, with ``timeout`` seconds (default :data:`HOOK_TIMEOUT`, for the
    default deadline). Returns "installed", "updated" or "unchanged"."""
    spec = SPECS[agent]
    timeout = HOOK_TIMEOUT if timeout is None else timeout
    data = _load(path)
    hooks = _entries(data, path, spec)
    wanted = spec.handler(command, timeout)
    statuses = set()
    for event in spec.events:
        entries = hooks[event]
        ours = _ours(entries, spec)
        if not ours:
            entries.append(dict(wanted) if spec.group is None else dict(spec.group, hooks=[dict(wanted)]))
            statuses.add("installed")
            continue
        holder, first = ours[0]
        statuses.add("unchanged" if len(ours) == 1 and all(first.get(k) == v for k, v in wanted.items())
                     else "updated")
        first.update(wanted)
        emptied = []
        for held, handler in ours[1:]:       # duplicates from hand edits or older installs
            held.remove(handler)
            if not held and held is not holder:
                emptied.append(held)
        _drop_emptied(entries, spec, emptied)
    status = statuses.pop() if len(statuses) == 1 else "updated"
    if status != "unchanged":
        _write(path, data)
    return status


def uninstall(path, agent="claude-code"):
    """Remove the Lighthouse hook of ``agent`` from the settings file; returns "removed"
    or "absent"."""
    if not os.path.exists(path):
        return "absent"
    spec = SPECS[agent]
    data = _load(path)
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return "absent"
    found = False
    for event in spec.events:
        entries = hooks.get(event)
        if not isinstance(entries, list):
            continue
        ours = _ours(entries, spec)
        if not ours:
            continue
        found = True
        emptied = []
        for held, handler in ours:
            held.remove(handler)
            if not held:
                emptied.append(held)
        _drop_emptied(entries, spec, emptied)
        if not entries:
            del hooks[event]
    if not found:
        return "absent"
    if not hooks:
        del data["hooks"]
    _write(path, data)
    return "removed"
