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
- An input larger than ``max_input`` characters, or of more than ``MAX_VALUES`` values
  (see :func:`scan`), is not judged at all: deny, "too large to judge" (rule
  ``input.too-large``). Each value costs the rules some work, so a count bounds it.

A call's ``cwd`` and ``home``, when given, must be absolute paths (:func:`path_problem`):
a relative one cannot be resolved, so no path of the call could be judged. The library
denies such a call (rule ``input.invalid``), gRPC refuses it with INVALID_ARGUMENT and the
local socket with ``invalid_argument``, each naming the field.

The transports carry the same limit: the server refuses an ``input_json`` longer than
``max_input`` characters, and the local socket a request line longer than
``max_input + ENVELOPE`` bytes; the hook takes either refusal as a deny.
"""

from __future__ import annotations

__all__ = ["WINDOW", "MAX_INPUT", "MAX_VALUES", "SMALL", "ENVELOPE", "TOO_LARGE", "WINDOWED",
           "FITS", "LONG", "TOO_LARGE_SIZE", "TOO_MANY_VALUES", "scan", "window_input",
           "too_large_reason", "judge_window", "INVALID", "path_problem"]

WINDOW = 256 * 1024             # characters of each string the rules read
MAX_INPUT = 4 * 1024 * 1024     # the largest input judged at all (its JSON text, in characters)
MAX_VALUES = 16384              # the most values (strings, numbers, lists, dicts) judged at all
# A JSON text this short holds at most MAX_VALUES values and no string longer than the
# window: the bounds have nothing to check (the server knows its input_json's length).
SMALL = 2 * MAX_VALUES
ENVELOPE = 64 * 1024            # room for the rest of a local socket request (tool, cwd, home, ids)
INVALID = "input.invalid"
TOO_LARGE = "input.too-large"
WINDOWED = "input.windowed"
FITS, LONG, TOO_LARGE_SIZE, TOO_MANY_VALUES = range(4)


def scan(value, window, max_input, max_values=MAX_VALUES):
    """One walk over ``value``: TOO_LARGE_SIZE when its JSON text is longer than
    ``max_input`` characters, TOO_MANY_VALUES when it holds more than ``max_values``
    values, LONG when some string is longer than ``window`` characters, else FITS.

    The size counted is a lower bound of the JSON text's length (2 + length for each
    string, dict keys included, 2 for each list or dict, 1 for anything else). The walk
    stops at the first limit passed, so its cost is bounded by the limits, not by the
    input."""
    size = 0
    count = 0
    long = False
    stack = [value]
    pop = stack.pop
    push = stack.append
    while stack:
        v = pop()
        t = type(v)
        count += 1
        if t is str:
            size += len(v) + 2
            if len(v) > window:
                long = True
        elif t is dict:
            if count + len(stack) + len(v) > max_values:
                return TOO_MANY_VALUES
            size += 2
            for k in v:
                size += (len(k) + 2) if type(k) is str else 1
                push(v[k])
        elif t is list or t is tuple:
            if count + len(stack) + len(v) > max_values:
                return TOO_MANY_VALUES
            size += 2
            stack.extend(v)
        else:
            size += 1
        if size > max_input:
            return TOO_LARGE_SIZE
        if count > max_values:
            return TOO_MANY_VALUES
    return LONG if long else FITS


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
    first ``window`` characters (a copy)."""
    return _cut(tool_input, window)


def too_large_reason(state, max_input, max_values=MAX_VALUES):
    if state == TOO_MANY_VALUES:
        return "the input is too large to judge (over %d values)" % max_values
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


def path_problem(name, value):
    """Why ``value`` cannot be a call's ``name`` (its "cwd" or "home"), or None. Empty
    means unknown and is fine; anything else must be an absolute path, since a relative
    one has nothing to be resolved against."""
    if value and value[0] != "/":
        return "%s must be an absolute path, not %r" % (name, value[:200])
    return None
