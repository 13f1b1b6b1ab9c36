"""How much of a tool call's input the rules read, and how much is too much to judge.

The agent's model writes every byte of a tool call, so size is an attack surface: a rule
that reads the first megabyte of a Write says nothing about the second. This module is
the one place that bounds inputs, above the rule engine; :class:`lighthouse.Validator`
applies it, and through it the server (gRPC and local socket) and the hook's local
decision alike.

- Each string of the input longer than ``window`` characters is cut to its first
  ``window`` characters before the rules see it (content rules read a bounded window,
  so a decision costs bounded time). What the rules did not read can never make the
  call an allow: a deny or ask on the window stands, an allow becomes ask, naming the
  reason (:func:`judge_window`).
- An input larger than ``max_input`` (see :func:`measure`) is not judged at all: deny,
  "too large to judge" (rule ``input.too-large``).

The transports carry the same limit: the server refuses an ``input_json`` longer than
``max_input`` characters, and the local socket a request line longer than
``max_input + ENVELOPE`` bytes; the hook takes either refusal as a deny.
"""

from __future__ import annotations

__all__ = ["WINDOW", "MAX_INPUT", "ENVELOPE", "TOO_LARGE", "WINDOWED", "measure", "window_input",
           "too_large_reason", "judge_window"]

WINDOW = 256 * 1024             # characters of each string the rules read
MAX_INPUT = 4 * 1024 * 1024     # the largest input judged at all (its JSON text, in characters)
ENVELOPE = 64 * 1024            # room for the rest of a local socket request (tool, cwd, home, ids)
TOO_LARGE = "input.too-large"
WINDOWED = "input.windowed"


def measure(value, limit):
    """A lower bound of the length of ``value``'s JSON text: 2 + length for each string
    (dict keys included), 2 for each list or dict, 1 for anything else. Stops counting
    once past ``limit`` (so its cost is bounded by the limit, not by the input)."""
    size = 0
    stack = [value]
    pop = stack.pop
    push = stack.append
    while stack:
        v = pop()
        t = type(v)
        if t is str:
            size += len(v) + 2
        elif t is dict:
            size += 2
            for k in v:
                size += (len(k) + 2) if type(k) is str else 1
                push(v[k])
        elif t is list or t is tuple:
            size += 2
            stack.extend(v)
        else:
            size += 1
        if size > limit:
            break
    return size


def _longest(value, window, depth=0):
    """True when some string in ``value`` is longer than ``window`` characters."""
    t = type(value)
    if t is str:
        return len(value) > window
    if depth >= 100:            # the engine denies input nested this deep anyway
        return False
    if t is dict:
        return any(_longest(v, window, depth + 1) for v in value.values())
    if t is list or t is tuple:
        return any(_longest(v, window, depth + 1) for v in value)
    return False


def _cut(value, window, depth=0):
    t = type(value)
    if t is str:
        return value[:window] if len(value) > window else value
    if depth >= 100:
        return value
    if t is dict:
        return {k: _cut(v, window, depth + 1) for k, v in value.items()}
    if t is list or t is tuple:
        return [_cut(v, window, depth + 1) for v in value]
    return value


def window_input(tool_input, window):
    """``tool_input`` with every string longer than ``window`` characters cut to its
    first ``window`` characters (a copy), or None when no string is that long."""
    if not _longest(tool_input, window):
        return None
    return _cut(tool_input, window)


def too_large_reason(max_input):
    return "the input is too large to judge (over %d characters)" % max_input


def judge_window(verdict, rule_id, reason, window):
    """The verdict on a call whose strings were cut to ``window`` characters, from the
    verdict on the window: deny and ask (and a miss) stand, an allow becomes ask (rule
    ``input.windowed``). Returns (verdict, rule_id, reason)."""
    if verdict != "allow":
        return verdict, rule_id, "%s (judged on the first %d characters of each field)" % (reason, window)
    return ("ask", WINDOWED, "the input has fields longer than %d characters and only their start was "
            "judged (%s%s); the rest was not read, so a person must decide"
            % (window, reason, " [rule %s]" % rule_id if rule_id else ""))
