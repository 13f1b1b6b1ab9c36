"""What each session did recently, sent to experts with its escalations.

:class:`SessionHistory` keeps, for each session id, the last :data:`~lighthouse.experts.base.HISTORY`
decisions (tool, the first characters of its input, verdict and tier), and at most
``max_sessions`` sessions. Recording is on the hot path (lighthouse.server.core.Decider
records every decision of a call that names a session, when experts are configured), so
it stores raw values only: the input text cut to :data:`KEEP` characters, an answer
index; the readable summary is made when an escalation asks for it
(:meth:`SessionHistory.recent`).

Sessions are kept in two generations, an approximation of LRU that costs one dict lookup
per decision: new and recently active sessions are in ``young``; when it holds half of
``max_sessions``, it becomes the old generation and the previous old one is forgotten. A
session used again while old moves back to the young one, so a session is forgotten only
after a whole generation of other sessions came and went without it deciding anything.
The history holds what the agent asked to do and what it was told, never tool outputs
or file contents: nothing the agent has read reaches an expert this way.
"""

from __future__ import annotations

import json
from collections import deque

from ..vocab import TIER_NAMES, VERDICT_NAMES
from .base import HISTORY

__all__ = ["SessionHistory", "summarize", "SUMMARY", "KEEP"]

SUMMARY = 200           # characters of a decision's summary
KEEP = 512              # characters of a call's input_json kept to make the summary from
_NT = len(TIER_NAMES)
_PATHS = ("command", "file_path", "notebook_path", "path", "url", "pattern", "query")


class _Summary(str):
    """A recorded input already turned into its summary."""

    __slots__ = ()


def summarize(tool, text):
    """A short, readable summary of a call's input (JSON text, possibly cut): the Bash
    command, the file path or URL, else the text itself, cut to :data:`SUMMARY`."""
    if text.__class__ is _Summary:
        return str(text)
    if isinstance(text, str):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
    else:
        value = text
        if not isinstance(value, dict):
            try:
                text = json.dumps(value, separators=(",", ":"))[:KEEP]
            except (TypeError, ValueError, RecursionError):
                return ""
    if isinstance(value, dict):
        for k in _PATHS:
            v = value.get(k)
            if isinstance(v, str):
                return v[:SUMMARY]
        if not isinstance(text, str):
            try:
                text = json.dumps({k: v for k, v in list(value.items())[:16]}, separators=(",", ":"),
                                  default=str)[:KEEP]
            except (TypeError, ValueError, RecursionError):
                return ""
    return text[:SUMMARY]


class SessionHistory:
    """Recent decisions per session, bounded: ``per_session`` decisions of each of at
    most ``max_sessions`` sessions (the least recently active one is forgotten first)."""

    __slots__ = ("per_session", "max_sessions", "young", "_old", "_half")

    def __init__(self, max_sessions=4096, per_session=HISTORY):
        if max_sessions < 1 or per_session < 1:
            raise ValueError("max_sessions and per_session must be >= 1")
        self.max_sessions = int(max_sessions)
        self.per_session = int(per_session)
        self._half = max(1, self.max_sessions // 2)
        self.young = {}                 # session id -> deque of (tool, input text, index)
        self._old = {}

    def ring(self, session_id):
        """The deque of a session not in the young generation (moved back from the old
        one, or new), now in the young one. The hot path appends to
        ``young.get(session_id) or ring(session_id)`` itself:
        ``(tool, input_json cut to KEEP, answer index)``."""
        r = self._old.pop(session_id, None)
        if r is None:
            r = deque(maxlen=self.per_session)
        young = self.young
        if len(young) >= self._half:
            self._old = young
            self.young = young = {}
        young[session_id] = r
        return r

    def record(self, session_id, tool, input_text, index):
        """Record one decision: ``index`` is the answer index of lighthouse.vocab
        (verdict * number of tiers + tier); ``input_text`` the call's input_json (or its
        parsed input, which is summarized now: the history keeps no reference to a
        large input)."""
        r = self.young.get(session_id)
        if r is None:
            r = self.ring(session_id)
        r.append((tool, input_text[:KEEP] if input_text.__class__ is str
                  else _Summary(summarize(tool, input_text)), index))

    def recent(self, session_id):
        """The session's recorded decisions, oldest first, as dicts
        ``{"tool", "summary", "verdict", "tier"}`` (an empty tuple for an unknown or
        empty session id)."""
        if not session_id:
            return ()
        ring = self.young.get(session_id)
        if ring is None:
            ring = self._old.get(session_id)
        if not ring:
            return ()
        entries = list(ring)
        out = []
        summarized = False
        for i, (tool, text, index) in enumerate(entries):
            if text.__class__ is not _Summary:
                # Summarized once: the next escalation of the session reuses it.
                text = _Summary(summarize(tool, text))
                entries[i] = (tool, text, index)
                summarized = True
            out.append({"tool": tool, "summary": str(text), "verdict": VERDICT_NAMES[index // _NT],
                        "tier": TIER_NAMES[index % _NT]})
        if summarized:
            ring.clear()
            ring.extend(entries)
        return tuple(out)

    def __len__(self):
        return len(self.young) + len(self._old)
