"""The hook's local spool: decisions the hook makes while no server answers, kept until a
server records them in its audit log.

When the Claude Code hook (lighthouse.hooks.claude_code) decides a call locally, it
appends the decision to the spool, ``$LIGHTHOUSE_SPOOL``, else
``$XDG_DATA_HOME/lighthouse/spool.jsonl`` (``~/.local/share/...``): one JSON object a
line with the audit record's fields (``time_ns``, ``agent_id``, ``session_id``,
``tool``, ``input`` (its first :data:`MAX_INPUT` bytes), ``input_bytes``,
``input_sha256`` (of the whole input), ``cwd``, ``verdict``, ``tier``, ``rule_id``,
``reason``). The file is created owner-only (0600, in a directory created 0700) and
appended under an exclusive ``flock``, one ``write`` a line.

**Bounded.** A spool past :data:`MAX_BYTES` takes no more lines: the decision is then
counted in ``SPOOL.dropped`` instead, and a local allow becomes an ask (a decision that
cannot be recorded must not let the call run unchecked; :func:`append` returns False).

**Ingestion.** A server with its audit log on (lighthouse.audit.writer.AuditLog.
watch_spool) looks at the spool of its user at start and then every
:data:`CHECK_INTERVAL` seconds (one ``stat``); a non-empty one is taken whole (renamed,
so that a hook appending meanwhile starts a new file and two workers never take it
both) and its decisions are queued to the log, in the order the hook made them, with
``source`` ``hook-local``: they are chained like every other record. Lines that cannot
be read and dropped decisions become one record of ``source`` ``spool-gap`` saying how
many were lost, which ``lighthouse audit verify`` reports. A server running as another
user than the hook does not see its spool; neither does one with ``--no-audit``.

**What it proves.** A ``hook-local`` record is what the user's side says its hook
decided: anything running as that user (an agent with a shell included) can add lines
to the spool or delete it before a server takes it. The server records it as such, in
the chain from the moment it is taken; it never decided those calls.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time

__all__ = ["SPOOL_ENV", "MAX_BYTES", "MAX_INPUT", "CHECK_INTERVAL", "default_spool_path", "append", "take",
           "GAP_SOURCE", "SOURCE"]

SPOOL_ENV = "LIGHTHOUSE_SPOOL"
MAX_BYTES = 8 << 20         # the spool's bound
MAX_INPUT = 4096            # bytes of a tool input kept in a line (all of it is hashed)
CHECK_INTERVAL = 5.0        # seconds between a server's looks at the spool
SOURCE = "hook-local"       # the records' source
GAP_SOURCE = "spool-gap"    # a record counting decisions the spool lost
_FIELDS = ("time_ns", "agent_id", "session_id", "tool", "input", "input_bytes", "input_sha256", "cwd", "verdict",
           "tier", "rule_id", "reason")


def default_spool_path(environ=None):
    environ = os.environ if environ is None else environ
    if environ.get(SPOOL_ENV):
        return environ[SPOOL_ENV]
    base = environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "lighthouse", "spool.jsonl")


def _open_private(path, flags):
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.open(path, flags | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def append(call, verdict, tier, rule_id, reason, path=None):
    """Spool one local decision of ``call`` (the hook's call: ``tool``, ``input`` (an
    object), ``cwd``, ``agent_id``, ``session_id``). False when it could not be spooled
    (the spool is full, or cannot be written): the caller must not let an allow stand."""
    path = path or default_spool_path()
    text = json.dumps(call["input"], separators=(",", ":"), ensure_ascii=False)
    full = text.encode("utf-8", "surrogatepass")
    kept = full[:MAX_INPUT].decode("utf-8", "ignore") if len(full) > MAX_INPUT else text
    line = json.dumps({"time_ns": time.time_ns(), "agent_id": call.get("agent_id") or "",
                       "session_id": call.get("session_id") or "", "tool": call["tool"], "input": kept,
                       "input_bytes": len(full), "input_sha256": hashlib.sha256(full).hexdigest(),
                       "cwd": call.get("cwd") or "", "verdict": verdict, "tier": tier, "rule_id": rule_id or "",
                       "reason": reason}, ensure_ascii=True) + "\n"
    for _ in range(5):
        try:
            fd = _open_private(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                same = os.stat(path).st_ino == st.st_ino
            except FileNotFoundError:
                same = False
            if not same:            # a server took the file meanwhile: append to the new one
                continue
            if st.st_size + len(line) > MAX_BYTES:
                _count_dropped(path)
                return False
            os.write(fd, line.encode("ascii"))
            return True
        except OSError:
            return False
        finally:
            os.close(fd)
    return False


def _count_dropped(path):
    try:
        fd = _open_private(path + ".dropped", os.O_RDWR | os.O_CREAT)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = os.read(fd, 32)
        n = int(data) if data.strip().isdigit() else 0
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % (n + 1))
    finally:
        os.close(fd)


def take(path=None):
    """Take the spool whole: (decisions as dicts in order, decisions lost: unreadable
    lines and dropped ones). ([], 0) when there is none; another taker gets nothing."""
    path = path or default_spool_path()
    try:
        if os.path.getsize(path) == 0 and not os.path.exists(path + ".dropped"):
            return [], 0
    except OSError:
        if not os.path.exists(path + ".dropped"):
            return [], 0
    taken = "%s.taken-%d" % (path, os.getpid())
    entries, lost = [], 0
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        taken = None
    if taken is not None:
        fd = os.open(taken, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)     # a hook still writing its line finishes first
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read(MAX_BYTES + (1 << 20))
        finally:
            os.close(fd)
        os.unlink(taken)
        for raw in data.splitlines():
            entry = _parse(raw)
            if entry is None:
                lost += 1
            else:
                entries.append(entry)
    dropped = path + ".dropped"
    try:
        with open(dropped, "rb") as f:
            text = f.read(32)
        os.unlink(dropped)
        lost += int(text) if text.strip().isdigit() else 0
    except OSError:
        pass
    return entries, lost


def _parse(raw):
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):    # RecursionError: a line nested too deeply
        return None
    if not isinstance(obj, dict) or any(f not in obj for f in _FIELDS):
        return None
    ints = ("time_ns", "input_bytes")
    for f in _FIELDS:
        if f in ints:
            if type(obj[f]) is not int or obj[f] < 0:
                return None
        elif not isinstance(obj[f], str):
            return None
    if obj["verdict"] not in ("allow", "ask", "deny") or obj["tier"] not in ("rules", "fallback"):
        return None
    return {f: obj[f] for f in _FIELDS}
