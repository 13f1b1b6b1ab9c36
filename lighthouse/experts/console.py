"""`lighthouse expert`: a person judging escalated calls in a terminal.

The console is an expert like any other: an :class:`~lighthouse.experts.agent.ExpertAgent`
(the SDK) whose judge function waits for a key. It lists the escalations it holds, oldest
(nearest deadline) first, with the tool, a one-line summary of the call, why it escalated,
the agent and session and the time left; below, the selected escalation in detail: the
call in full, the analysed commands with the paths they read and write and where those
lie, the rules that fired, the policy's answer and the session's recent decisions.

Keys: up/down or j/k select, PgUp/PgDn scroll the detail, ``a`` allow, ``s`` ask,
``d`` deny, ``r`` type a reason first (Enter keeps it, Esc drops it), ``u`` turns
reusable answers on or off, ``g`` turns generalizing answers on or off (scope "shape": the
answer holds for every call of the same shape, and, being a person's, makes a learned
pattern active at once, lighthouse.patterns), ``e`` types the words of the selected call
that must match exactly for a generalizing answer to hold (blank-separated, such as the
``staging`` of ``--context staging``: ExpertAnswer.exact), ``Ctrl-L`` repaints, ``q`` quits (twice while escalations are
pending: they go back to the server). A person answers with confidence 1.0.

The terminal shows what the agent wrote, and the agent controls every byte of it: every
string of the call (commands, paths, reasons, ids) goes through :func:`clean`, which
shows control characters, escape sequences and other invisible characters as Python-style
escapes (``\\x1b``, ``\\r``, ``\\u202e``), so a command cannot move the cursor, recolour
or clear the screen, set the window title or hide its own tail. Text is cut by display
columns, so wide characters cannot push the layout out of place, and a call with non-ASCII
characters says which ones (look-alike letters in a host name). An answer key is refused
for half a second after the selection changed (an escalation arrived, or the selected one
was withdrawn): a person answers the call they have seen.

The screen model (:class:`ConsoleState`, :func:`render`) is plain Python without curses;
:func:`cmd_expert` runs it in curses with the agent on the same asyncio loop.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import math
import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field

from .base import MAX_EXPERT_REASON, ExpertAnswer, check_exact
from .history import summarize

__all__ = ["ConsoleState", "Pending", "clean", "fit", "render", "register", "cmd_expert", "ARM_DELAY"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
ARM_DELAY = 0.5         # seconds an answer key waits after the selection changed
QUIT_AGAIN = 3.0        # seconds in which a second q quits with escalations pending
NOTES = 4               # notes kept on screen
CALL_LINES = 400        # lines of a call shown in the detail view at most
WITHDRAWN = {"deadline": "its deadline passed",
             "answered": "other experts decided it",
             "cancelled": "the caller went away or the server is stopping"}

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TOKEN_RE = re.compile(r"[\x21-\x7e]{1,4096}\Z")


def clean(text, ascii_only=False):
    """``text`` (any value: non-strings are shown with str()) safe to write to a
    terminal: every character that is not printable (C0 and C1 controls such as ESC, CR,
    BS, DEL; format characters such as bidirectional overrides and zero-width spaces;
    line and paragraph separators; unassigned and private-use code points) is shown as a
    Python-style escape, and with ``ascii_only`` every non-ASCII character too."""
    if not isinstance(text, str):
        text = str(text)
    if text.isprintable() and (not ascii_only or text.isascii()):
        return text
    out = []
    for c in text:
        if c.isprintable() and (not ascii_only or c.isascii()):
            out.append(c)
            continue
        o = ord(c)
        out.append(_NAMED.get(c) or ("\\x%02x" % o if o < 0x100 else "\\u%04x" % o if o < 0x10000 else "\\U%08x" % o))
    return "".join(out)


def _width(c):
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def fit(text, cols):
    """``text`` (already cleaned) cut to ``cols`` display columns and padded with spaces
    to exactly that width: wide characters count two columns, combining ones none."""
    if cols <= 0:
        return ""
    if text.isascii():
        return text[:cols].ljust(cols)
    out, used = [], 0
    for c in text:
        w = _width(c)
        if used + w > cols:
            break
        out.append(c)
        used += w
    return "".join(out) + " " * (cols - used)


def wrap(text, cols):
    """``text`` (cleaned, one line) in pieces of at most ``cols`` display columns."""
    cols = max(cols, 8)
    if text.isascii():
        return [text[i:i + cols] for i in range(0, len(text), cols)] or [""]
    pieces, cur, used = [], [], 0
    for c in text:
        w = _width(c)
        if used + w > cols:
            pieces.append("".join(cur))
            cur, used = [], 0
        cur.append(c)
        used += w
    pieces.append("".join(cur))
    return pieces


def non_ascii(text, limit=8):
    """The distinct non-ASCII characters of ``text`` named, for the detail view: a
    person reading ``curl https://аpple.com`` learns the first letter is Cyrillic."""
    seen = []
    for c in text:
        if not c.isascii() and c not in seen:
            seen.append(c)
            if len(seen) > limit:
                break
    names = ["U+%04X %s" % (ord(c), unicodedata.name(c, "unnamed")) for c in seen[:limit]]
    return ", ".join(names) + (", ..." if len(seen) > limit else "")


def _left(seconds):
    s = max(0, math.ceil(seconds))
    return "%ds" % s if s < 60 else "%dm%02ds" % divmod(s, 60)


@dataclass(eq=False)
class Pending:
    """An escalation the console holds: the request, the future the judge awaits, the
    reason typed for it so far."""

    request: object
    future: asyncio.Future
    arrived: float
    reason: str = ""
    exact: tuple = ()                               # words that must match exactly (the e key)
    scroll: int = 0
    summary: str = ""
    detail: dict = field(default_factory=dict)      # cols -> detail lines, made once


class ConsoleState:
    """What the console shows and what its keys do, without a terminal. ``judge`` is the
    SDK's judge function; ``key`` takes a key name ("a", "up", "enter", "pgdn", ...);
    ``changed`` is called (no arguments) whenever the screen should be repainted.
    ``clock`` is :func:`time.monotonic` (the requests' deadlines are on it)."""

    def __init__(self, expert_id, server, *, reusable=False, ascii_only=False, clock=time.monotonic,
                 changed=None, scope="call"):
        self.expert_id = expert_id
        self.server = server
        self.reusable = reusable
        self.scope = scope
        self.ascii_only = ascii_only
        self.clock = clock
        self.changed = changed or (lambda: None)
        self.pending = []               # Pending, nearest deadline first
        self.selected = None            # the selected Pending
        self.selected_at = -math.inf    # when the selection last changed
        self.notes = collections.deque(maxlen=NOTES)
        self.mode = "list"              # or "reason": typing a reason; "exact": typing exact words
        self.buffer = ""
        self.status = "connecting"
        self.answered = collections.Counter()
        self.withdrawn = 0
        self.quit_asked = -math.inf
        self.quitting = False
        self.stopping = False

    # ------------------------------------------------------------------ the SDK side

    async def judge(self, request):
        """Hold ``request`` until the person answers it (an ExpertAnswer with
        confidence 1.0) or the server withdraws it (cancellation: it disappears, with a
        note saying why)."""
        loop = asyncio.get_running_loop()
        p = Pending(request, loop.create_future(), self.clock())
        p.summary = clean(summarize(request.tool, request.tool_input), self.ascii_only)
        self.pending.append(p)
        self.pending.sort(key=lambda x: (x.request.deadline, x.arrived))
        if self.selected is None:
            self._select(p)
        self.changed()
        try:
            return await p.future
        except asyncio.CancelledError as e:
            if not self.stopping:
                why = e.args[0] if e.args and isinstance(e.args[0], str) else None
                self.withdrawn += 1
                self.note("withdrawn: %s %s: %s" % (
                    clean(request.tool, self.ascii_only), p.summary[:60],
                    WITHDRAWN.get(why, "withdrawn by the server") if why else
                    "the connection ended (the server gives it to another expert or waits for this one)"))
            raise
        finally:
            self._remove(p)

    def _remove(self, p):
        if p not in self.pending:
            return
        i = self.pending.index(p)
        self.pending.remove(p)
        if self.selected is p:
            if self.mode in ("reason", "exact"):
                self.note("the escalation you were typing %s for is gone"
                          % ("a reason" if self.mode == "reason" else "exact words"))
                self.mode, self.buffer = "list", ""
            self._select(self.pending[min(i, len(self.pending) - 1)] if self.pending else None)
        self.changed()

    def _select(self, p):
        if p is not self.selected:
            self.selected = p
            self.selected_at = self.clock()

    def note(self, text):
        self.notes.append((time.strftime("%H:%M:%S"), text))
        self.changed()

    # ------------------------------------------------------------------ the person's side

    def key(self, k):
        """Act on one key. Returns False when the console should quit."""
        if self.mode in ("reason", "exact"):
            self._reason_key(k)
        elif k in ("q", "Q"):
            now = self.clock()
            if self.pending and now - self.quit_asked > QUIT_AGAIN:
                self.quit_asked = now
                self.note("%d escalation(s) pending: press q again to quit (they go back to the server)"
                          % len(self.pending))
            else:
                self.quitting = True
        elif k in ("up", "k", "down", "j"):
            self._move(-1 if k in ("up", "k") else 1)
        elif k in ("pgdn", "pgup", " "):
            if self.selected is not None:
                step = -10 if k == "pgup" else 10
                self.selected.scroll = max(0, self.selected.scroll + step)
        elif k in ("a", "s", "d"):
            self.answer({"a": "allow", "s": "ask", "d": "deny"}[k])
        elif k == "r":
            if self.selected is None:
                self.note("nothing selected")
            else:
                self.mode, self.buffer = "reason", self.selected.reason
        elif k == "e":
            if self.selected is None:
                self.note("nothing selected")
            else:
                self.mode, self.buffer = "exact", " ".join(self.selected.exact)
        elif k == "u":
            self.reusable = not self.reusable
            self.note("answers are %s" % ("reusable: the server may answer the same call again without "
                                          "asking" if self.reusable else "for this call only"))
        elif k == "g":
            self.scope = "call" if self.scope == "shape" else "shape"
            self.note("answers hold for %s" % ("every call of the same shape: the server learns a pattern"
                                               if self.scope == "shape" else "this call only"))
        self.changed()
        return not self.quitting

    def _move(self, step):
        if not self.pending:
            return
        i = self.pending.index(self.selected) if self.selected in self.pending else 0
        self._select(self.pending[max(0, min(len(self.pending) - 1, i + step))])

    def _reason_key(self, k):
        if k == "enter" and self.mode == "exact":
            try:
                words = check_exact(self.buffer.split())
            except ValueError as e:
                self.note("not kept: %s" % e)
                return
            if self.selected is not None:
                self.selected.exact = words
            self.mode, self.buffer = "list", ""
            self.note("exact words kept: %s" % (" ".join(words) or "none")
                      + ("" if self.scope == "shape" else " (they count with g: answers for the shape)"))
        elif k == "enter":
            if self.selected is not None:
                self.selected.reason = self.buffer.strip()[:MAX_EXPERT_REASON]
                self.selected.detail.clear()
            self.mode = "list"
            self.note("reason kept: now a, s or d answers with it")
        elif k == "esc":
            self.mode, self.buffer = "list", ""
        elif k == "backspace":
            self.buffer = self.buffer[:-1]
        elif len(k) == 1 and k.isprintable() and len(self.buffer) < MAX_EXPERT_REASON:
            self.buffer += k

    def answer(self, verdict):
        """Answer the selected escalation with ``verdict`` (refused for ARM_DELAY
        seconds after the selection changed)."""
        p = self.selected
        if p is None or p.future.done():
            self.note("nothing selected")
            return
        if self.clock() - self.selected_at < ARM_DELAY:
            self.note("the selection just changed: look at it, then press the key again")
            return
        reason = p.reason or "%s by a person at the console" % verdict
        p.future.set_result(ExpertAnswer(verdict, reason, 1.0, self.reusable, self.expert_id, self.scope,
                                         p.exact if self.scope == "shape" else ()))
        self.answered[verdict] += 1
        self.note("you answered %s: %s %s%s" % (verdict, clean(p.request.tool, self.ascii_only), p.summary[:60],
                                                " (reusable)" if self.reusable else ""))
        self._remove(p)


# ---------------------------------------------------------------------- rendering


def _why(r, c):
    """Why the call escalated, in a few words: the policy's category (and quorum), a
    rule's ask with its id, or a miss."""
    if r.policy is not None or r.category:
        s = "policy %s" % c(r.category or r.policy.get("category") or "-")
        if r.quorum > 1:
            s += " q%d" % r.quorum
        return s
    if r.why == "ask":
        return "rule ask %s" % c(r.rule_id)
    return c(r.why or "miss")


def _get(d, key, kind, default):
    v = d.get(key, default) if isinstance(d, dict) else default
    return v if isinstance(v, kind) else default


def detail_lines(p, cols, ascii_only=False):
    """The detail view of one escalation: a list of (text, style) lines, cleaned."""
    def c(v):
        return clean(v, ascii_only)

    r = p.request
    out = []

    def add(text, style="normal"):
        indent = " " * min(len(text) - len(text.lstrip(" ")) + 2, cols // 2)
        first = wrap(text, cols)[0]
        rest = text[len(first):]
        out.append((first, style))
        for piece in wrap(rest, cols - len(indent)) if rest else ():
            out.append((indent + piece, style))

    add("escalation %s   tool %s   agent %s   session %s" % (
        c(r.escalation_id), c(r.tool), c(r.agent_id or "-"), c(r.session_id or "-")), "head")
    add("cwd %s   home %s" % (c(r.cwd or "-"), c(r.home or "-")))
    if r.why == "ask":
        add("why: the rule %s asks: %s" % (c(r.rule_id), c(r.rule_reason)), "warn")
    else:
        add("why: %s (no rule settled it)" % c(r.why or "miss"), "warn")
    if r.policy:
        pol = r.policy
        add("policy: %s: %s (category %s, quorum %s%s)" % (
            c(pol.get("verdict", "")), c(pol.get("reason", "")), c(pol.get("category") or "-"),
            c(pol.get("quorum", "")), ", by " + c(pol["decided_by"]) if pol.get("decided_by") else ""))
    else:
        add("policy: none (no policy tier decided)")
    if r.quorum > 1:
        add("quorum: %d experts must answer; this console is one of them" % r.quorum)
    if p.reason:
        add("your reason: %s" % c(p.reason), "head")
    out.append(("", "normal"))

    tool_input = r.tool_input
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    if isinstance(command, str):
        text = command
        add("command:", "head")
    else:
        try:
            text = json.dumps(tool_input, indent=1, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = str(tool_input)
        add("input:", "head")
    lines = text.split("\n")
    if len(lines) > 1 or len(text) > cols:
        out[-1] = (out[-1][0] + " %d lines, %d characters (PgDn for the rest)" % (len(lines), len(text)), "head")
    for i, line in enumerate(lines[:CALL_LINES]):
        for j, piece in enumerate(wrap(c(line), cols - 4)):
            out.append(("  %s %s" % ("|" if j == 0 else "+", piece), "call"))
    if len(lines) > CALL_LINES:
        add("  ... %d more lines not shown" % (len(lines) - CALL_LINES), "warn")
    if not text.isascii():
        add("  note: non-ASCII characters: %s" % c(non_ascii(text)), "warn")
    out.append(("", "normal"))

    a = r.analysis if isinstance(r.analysis, dict) else {}
    commands = _get(a, "commands", list, [])
    if commands:
        add("analysed commands:", "head")
    for cmd in commands:
        if not isinstance(cmd, dict):
            continue
        argv = _get(cmd, "argv", list, [])
        flags = [w for w in ("sudo", "dynamic") if cmd.get(w) is True]
        if _get(cmd, "origin", str, ""):
            flags.append("from " + c(cmd["origin"]))
        if _get(cmd, "code_from", list, []):
            flags.append("code from " + c(", ".join(map(str, cmd["code_from"]))))
        add("  [%s] %s%s" % (c(cmd.get("index", "?")), c(" ".join(map(str, argv)) or cmd.get("program", "")),
                             "   (%s)" % ", ".join(flags) if flags else ""))
        for kind in ("reads", "writes"):
            paths = [x for x in _get(cmd, kind, list, []) if isinstance(x, dict)]
            if paths:
                add("      %s %s" % (kind, ", ".join("%s (%s)" % (c(x.get("path", "")), c(x.get("where", "?")))
                                                      for x in paths)))
    paths = [x for x in _get(a, "paths", list, []) if isinstance(x, dict)]
    if paths:
        add("paths:", "head")
        for x in paths:
            add("  %s %s (%s)" % (c(x.get("field", "")), c(x.get("path", "")), c(x.get("where", "?"))))
    rules = [x for x in _get(a, "rules", list, []) if isinstance(x, dict)]
    add("rules fired:" if rules else "rules fired: none", "head")
    for x in rules:
        add("  %-6s %s: %s" % (c(x.get("verdict", "")), c(x.get("id", "")), c(x.get("reason", ""))))
    info = _get(a, "analysis", dict, {})
    if info and not info.get("complete", True):
        add("analysis INCOMPLETE: %s %s" % (c(info.get("error", "")), c(", ".join(map(str, info.get("limits") or ())))),
            "warn")
    out.append(("", "normal"))
    add("session history (oldest first):" if r.history else "session history: none", "head")
    for h in r.history:
        add("  %-5s %-8s %-12s %s" % (c(h.get("verdict", "")), c(h.get("tier", "")), c(h.get("tool", "")),
                                      c(h.get("summary", ""))))
    return out


KEYS = "j/k select  a allow  s ask  d deny  r reason  u reusable  g shape  e exact words  PgUp/PgDn scroll  q quit"


def render(state, rows, cols, now=None):
    """The screen as ``rows`` lines of (text, style), each exactly ``cols - 1`` columns
    (styles: "title", "head", "selected", "normal", "dim", "warn", "call")."""
    now = state.clock() if now is None else now
    width = max(cols - 1, 1)

    def c(v):
        return clean(v, state.ascii_only)

    screen = []
    counts = " ".join("%s %d" % (v, state.answered[v]) for v in ("allow", "ask", "deny") if state.answered[v])
    screen.append(("lighthouse expert %s on %s: %s   pending %d   answered %s   withdrawn %d   reusable %s" % (
        c(state.expert_id), c(state.server), state.status, len(state.pending), counts or "0", state.withdrawn,
        "ON" if state.reusable else "off"), "title"))
    wt, ww, wa = (16, 24, 28) if width >= 150 else (12, 18, 16)
    screen.append(("  %-6s %-*s %-*s %-*s %s" % ("left", wt, "tool", ww, "why", wa, "agent / session", "call"),
                   "dim"))
    footer = []
    for t, text in state.notes:
        footer.append(("%s %s" % (t, text), "dim"))
    if state.mode == "reason":
        footer.append(("reason> %s_   (Enter: keep it, then a/s/d answers; Esc: drop it)" % c(state.buffer),
                       "selected"))
    elif state.mode == "exact":
        footer.append(("exact words> %s_   (blank-separated words of the call that must match exactly; Enter: keep "
                       "them; Esc: drop)" % c(state.buffer), "selected"))
    else:
        footer.append((KEYS, "title"))
    body = max(rows - len(screen) - len(footer), 0)
    n_list = min(max(len(state.pending), 1), max(3, body // 3))
    pending = state.pending
    top = 0
    if state.selected in pending:
        i = pending.index(state.selected)
        top = max(0, i - n_list + 1)
    listed = []
    for p in pending[top:top + n_list]:
        r = p.request
        who = "%s / %s" % (c(r.agent_id or "-"), c(r.session_id or "-"))
        line = "%s %-6s %s %s %s %s" % (">" if p is state.selected else " ", _left(r.deadline - now),
                                        fit(c(r.tool), wt), fit(_why(r, c), ww), fit(who, wa), p.summary)
        listed.append((line, "selected" if p is state.selected else
                       "warn" if r.deadline - now < 5 else "normal"))
    if not pending:
        listed.append(("  no pending escalations: waiting for the server to send one", "dim"))
    while len(listed) < n_list:
        listed.append(("", "normal"))
    screen.extend(listed)
    screen.append(("-" * width, "dim"))
    room = max(body - n_list - 1, 0)
    p = state.selected
    if p is not None and room:
        lines = p.detail.get(width)
        if lines is None:
            lines = p.detail[width] = detail_lines(p, width, state.ascii_only)
        p.scroll = min(p.scroll, max(0, len(lines) - room))
        shown = lines[p.scroll:p.scroll + room]
        if p.scroll + room < len(lines):
            shown[-1] = ("... %d more lines: PgDn" % (len(lines) - p.scroll - room + 1), "dim")
        if p.scroll:
            shown[0] = ("... %d lines above: PgUp" % (p.scroll + 1), "dim")
        screen.extend(shown)
    top_rows = max(rows - len(footer), 0)
    screen = screen[:top_rows] + [("", "normal")] * (top_rows - len(screen)) + footer[len(footer) - (rows - top_rows):]
    return [(fit(text, width), style) for text, style in screen]


# ---------------------------------------------------------------------- the terminal


_KEYNAMES = {"\n": "enter", "\r": "enter", "\x1b": "esc", "\x7f": "backspace", "\b": "backspace",
             "\x0c": "redraw"}


class _NoteHandler(logging.Handler):
    """Log records become notes on the screen (a write to stderr would garble it)."""

    def __init__(self, state):
        super().__init__(logging.WARNING)
        self.state = state

    def emit(self, record):
        try:
            self.state.note(clean(record.getMessage(), self.state.ascii_only)[:300])
        except Exception:
            self.handleError(record)


async def _run(scr, args, agent_kw, ascii_only):
    import curses

    from .agent import ExpertAgent, ExpertRefused

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    state = ConsoleState(args.id or "(the token's identity)", args.server, reusable=args.reusable,
                         ascii_only=ascii_only, changed=wake.set, scope="shape" if args.shape else "call")
    agent = ExpertAgent(state.judge, args.server, expert_id=args.id or "", tools=args.tools,
                        categories=args.categories, max_concurrent=args.capacity, person=True, **agent_kw)
    styles = {"title": curses.A_REVERSE, "selected": curses.A_REVERSE | curses.A_BOLD, "head": curses.A_BOLD,
              "warn": curses.A_BOLD, "dim": curses.A_DIM, "normal": curses.A_NORMAL, "call": curses.A_NORMAL}
    try:
        curses.curs_set(0)
    except curses.error:
        pass
    scr.nodelay(True)
    scr.keypad(True)
    keymap = {curses.KEY_UP: "up", curses.KEY_DOWN: "down", curses.KEY_NPAGE: "pgdn", curses.KEY_PPAGE: "pgup",
              curses.KEY_BACKSPACE: "backspace", curses.KEY_ENTER: "enter", curses.KEY_RESIZE: "resize"}

    def on_input():
        while True:
            try:
                k = scr.get_wch()
            except curses.error:
                return
            name = keymap.get(k) if isinstance(k, int) else _KEYNAMES.get(k, k)
            if name == "redraw":
                scr.clearok(True)
            elif name and not state.key(name):
                wake.set()
                return

    def paint():
        rows, cols = scr.getmaxyx()
        scr.erase()
        for y, (text, style) in enumerate(render(state, rows, cols)):
            try:
                scr.addstr(y, 0, text, styles.get(style, 0))
            except curses.error:
                pass
        scr.noutrefresh()
        curses.doupdate()

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [_NoteHandler(state)]
    if args.log:
        to_log = logging.StreamHandler(sys.stderr)       # --log: fd 2 is that file now
        to_log.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        root.handlers.append(to_log)
    root.setLevel(logging.WARNING)
    loop.add_reader(sys.stdin.fileno(), on_input)
    for sig in ("SIGINT", "SIGTERM", "SIGHUP"):
        import signal
        loop.add_signal_handler(getattr(signal, sig), lambda: (setattr(state, "quitting", True), wake.set()))
    task = asyncio.ensure_future(agent.run())
    error = None
    try:
        while not state.quitting and not task.done():
            state.status = "connected" if agent.connected.is_set() else \
                "connecting" if not agent.connections else "reconnecting"
            if agent.welcome is not None:
                state.expert_id = agent.expert_id
            paint()
            wake.clear()
            try:
                async with asyncio.timeout(0.5):
                    await wake.wait()
            except TimeoutError:
                pass
    finally:
        state.stopping = True
        loop.remove_reader(sys.stdin.fileno())
        agent.stop()
        try:
            async with asyncio.timeout(10):
                await asyncio.gather(task, return_exceptions=True)
        except TimeoutError:
            task.cancel()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    e = task.exception() if task.done() and not task.cancelled() else None
    if isinstance(e, ExpertRefused):
        error = "the server refused this console: %s" % e
        if e.code.name == "ABORTED":
            error += " (another expert connected with the same id: give each console its own --id)"
    elif e is not None:
        error = "the connection to the server failed: %s: %s" % (type(e).__name__, e)
    return error


def _read(path, what):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as e:
        raise SystemExit("lighthouse expert: cannot read %s %s: %s" % (what, path, e.strerror)) from None


def _globs(values):
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def cmd_expert(args):
    """Run the console until q (see the module docstring)."""
    from ..localsock import loopback_target
    from ..server.auth import AGENT_ID_RE

    def usage(msg):
        print("lighthouse expert: %s" % msg, file=sys.stderr)
        return EXIT_USAGE

    if args.id and not AGENT_ID_RE.match(args.id):
        return usage("--id %.80r: use 1-128 of [A-Za-z0-9._@:/+-], starting with a letter or digit" % args.id)
    if not 1 <= args.capacity <= 1024:
        return usage("--capacity must be between 1 and 1024")
    if args.token and args.token_file:
        return usage("give --token or --token-file, not both")
    if bool(args.tls_cert) != bool(args.tls_key):
        return usage("--tls-cert and --tls-key go together")
    token = args.token
    if args.token_file:
        token = _read(args.token_file, "--token-file").decode("utf-8", "replace").strip()
    if token is not None and not _TOKEN_RE.match(token):
        return usage("%s does not hold a token (one word of printable ASCII, as `lighthouse tokens add` prints)"
                     % ("--token-file %s" % args.token_file if args.token_file else "--token"))
    tls = bool(args.tls or args.tls_ca or args.tls_cert)
    if token and not tls and not loopback_target(args.server):
        return usage("an expert token goes to %s only over TLS (--tls-ca or --tls): it would cross the network "
                     "in clear text" % args.server)
    if not token and not args.id:
        args.id = _default_id()
    agent_kw = {"token": token or None, "tls": tls,
                "software": "lighthouse-expert-console/%s" % __import__("lighthouse").__version__}
    if args.tls_ca:
        agent_kw["root_certificates"] = _read(args.tls_ca, "--tls-ca")
    if args.tls_cert:
        agent_kw["certificate_chain"] = _read(args.tls_cert, "--tls-cert")
        agent_kw["private_key"] = _read(args.tls_key, "--tls-key")
    args.tools, args.categories = _globs(args.tools), _globs(args.categories)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return usage("needs a terminal: standard input and output must be a tty (a program judges "
                     "escalations with the expert SDK, lighthouse.experts.agent, instead)")

    import curses
    import locale

    from ..server.app import run_loop
    locale.setlocale(locale.LC_ALL, "")
    ascii_only = locale.nl_langinfo(locale.CODESET).upper().replace("-", "") != "UTF8"
    os.environ.setdefault("ESCDELAY", "25")
    try:
        log = os.open(args.log or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as e:
        return usage("cannot open --log %s: %s" % (args.log, e.strerror))
    # What gRPC's C core or anything else writes to stderr would garble the screen: it
    # goes to --log instead while the console runs.
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log, 2)
    try:
        error = curses.wrapper(lambda scr: run_loop(_run(scr, args, agent_kw, ascii_only)))
    except curses.error as e:
        error = "cannot use this terminal (TERM=%s): %s" % (os.environ.get("TERM", ""), e)
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(log)
    if error:
        print("lighthouse expert: %s" % error, file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _default_id():
    import getpass
    import re
    try:
        user = getpass.getuser()
    except Exception:
        return ""
    return ("console-" + re.sub(r"[^A-Za-z0-9._@:/+-]", "_", user))[:128]


def register(sub):
    """Add the `expert` command to the `lighthouse` argument parser's subparsers."""
    p = sub.add_parser(
        "expert", help="judge escalated calls in a terminal (a human expert console)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Connect to a server's ExpertHub as an expert and judge the escalations it sends, "
                    "in a terminal.",
        epilog="keys: up/down or j/k select, PgUp/PgDn scroll the detail, a allow, s ask, d deny, r type a "
               "reason first\n(Enter keeps it), u reusable answers on/off, g answers for the call's shape on/off, "
               "Ctrl-L repaint, q quit (twice while "
               "escalations are pending).\nEvery string of a call is shown with control characters and escape "
               "sequences neutralised.")
    p.add_argument("--server", default=os.environ.get("LIGHTHOUSE_ADDR", "127.0.0.1:50051"),
                   help="the server's gRPC address (default: $LIGHTHOUSE_ADDR, else 127.0.0.1:50051)")
    p.add_argument("--id", default=None,
                   help="the expert id answers are signed with (rule_id expert:<id>); default: console-<user> "
                        "without a token, the token's identity with one")
    p.add_argument("--token", default=os.environ.get("LIGHTHOUSE_EXPERT_TOKEN"),
                   help="a token with the expert role (default: $LIGHTHOUSE_EXPERT_TOKEN); --token-file keeps it "
                        "out of the process list")
    p.add_argument("--token-file", metavar="PATH", help="read the expert token from this file")
    p.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's root certificates")
    p.add_argument("--tls-ca", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_CA"),
                   help="connect with TLS, trusting this CA (default: $LIGHTHOUSE_TLS_CA)")
    p.add_argument("--tls-cert", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_CERT"),
                   help="client certificate for mutual TLS (default: $LIGHTHOUSE_TLS_CERT)")
    p.add_argument("--tls-key", metavar="PEM", default=os.environ.get("LIGHTHOUSE_TLS_KEY"),
                   help="its private key (default: $LIGHTHOUSE_TLS_KEY)")
    p.add_argument("--tools", action="append", metavar="GLOBS",
                   help="tool-name globs this console judges, comma-separated or repeated (default: every tool)")
    p.add_argument("--categories", action="append", metavar="NAMES",
                   help="the policy's routing categories it judges (* also matches calls without one; "
                        "default: every category)")
    p.add_argument("--capacity", type=int, default=8, metavar="N",
                   help="escalations it holds at once (default 8; the server caps it with --expert-max-pending)")
    p.add_argument("--log", metavar="FILE",
                   help="append warnings and what the gRPC library writes to stderr to FILE (default: they "
                        "are dropped; the SDK's warnings also show as notes on the screen)")
    p.add_argument("--reusable", action="store_true",
                   help="mark answers reusable (the server may answer the same call again without asking); "
                        "the u key turns it on and off")
    p.add_argument("--shape", action="store_true",
                   help="answer for every call of the same shape (scope shape: the server learns a pattern from "
                        "one answer of a person); the g key turns it on and off")
    p.set_defaults(func=cmd_expert)
