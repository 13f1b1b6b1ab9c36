"""``lighthouse serve --decision-log PATH``: one JSON object per line for every decision
that is not an allow, for people and log pipelines to follow what agents were refused.

    {"time": 1767225600.123, "request_id": "r-7", "agent_id": "ci-bot", "tool": "Bash",
     "verdict": "deny", "tier": "rules", "rule_id": "fs.rm-home",
     "reason": "Deletes a home directory", "decision_ns": 5120}

``time`` is the Unix time the line was written (seconds); ``decision_ns`` the time spent
deciding, as in the Decision. Calls answered from the local socket have an empty
``request_id``; calls refused before they were decided (invalid, rate limited,
unauthenticated) are not decisions, and are counted in ``lighthouse_errors_total``.

The file is opened for appending, created owner-only (0600: the lines say what each
agent tried and was refused), and reopened at each reload (SIGHUP), so that it can be
rotated. Each line is written with one ``write``, so the workers of ``--workers`` can
share the file. ``-`` writes to standard error.
"""

from __future__ import annotations

import json
import logging
import os
import time

from ..vocab import TIER_NAMES, VERDICT_NAMES

__all__ = ["DecisionLog"]

log = logging.getLogger("lighthouse.server")


class DecisionLog:
    """Appends one JSON line per non-allow decision to ``path`` ("-": standard error)."""

    def __init__(self, path):
        self.path = path
        self._fd = None
        self._failing = False
        self.open()

    def open(self):
        """Open (or, after a rotation, reopen) the file; OSError names it."""
        if self.path == "-":
            self._fd = 2
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise OSError(e.errno, "--decision-log %s: %s" % (self.path, e.strerror or e)) from None
        old, self._fd = self._fd, fd
        if old is not None and old != 2:
            os.close(old)

    def close(self):
        fd, self._fd = self._fd, None
        if fd is not None and fd != 2:
            os.close(fd)

    def write(self, request_id, agent_id, tool, verdict, tier, rule_id, reason, decision_ns):
        """One decision: ``verdict`` and ``tier`` are enum values (lighthouse.vocab)."""
        line = json.dumps({"time": round(time.time(), 3), "request_id": request_id, "agent_id": agent_id,
                           "tool": tool, "verdict": VERDICT_NAMES[verdict], "tier": TIER_NAMES[tier],
                           "rule_id": rule_id, "reason": reason, "decision_ns": decision_ns},
                          ensure_ascii=False, separators=(", ", ": "))
        try:
            os.write(self._fd, (line + "\n").encode("utf-8", "surrogatepass"))
            self._failing = False
        except (OSError, TypeError) as e:
            # A full disk or a closed file must not fail the call: the decision stands,
            # and the log says once that lines are being lost.
            if not self._failing:
                self._failing = True
                log.error("decision log %s: lines are being lost (%s)", self.path, e)
