"""Glob compilation, shared by both rule engines: it runs once per policy load.

Each engine has its own compiled glob classes and matchers (the per-call kernels); this
module turns a rule's pattern list into what they are built from.
"""

from __future__ import annotations

__all__ = ["expand_braces", "glob_parts", "compile_globs", "tail_index"]

_WILD = "*?[\\"


def expand_braces(pattern):
    """`a{b,c}d` -> [abd, acd]; `{ws}` is left alone."""
    start = -1
    k = 0
    while k < len(pattern):
        if pattern[k] == "{" and not pattern.startswith("{ws}", k):
            start = k
            break
        k += 1
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        if pattern[end] == "{":
            depth += 1
        elif pattern[end] == "}":
            depth -= 1
            if depth == 0:
                break
    else:
        return [pattern]
    body = pattern[start + 1:end]
    options = []
    depth = 0
    cur = []
    for ch in body:
        if ch == "," and depth == 0:
            options.append("".join(cur))
            cur = []
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        cur.append(ch)
    options.append("".join(cur))
    if len(options) == 1:
        return [pattern]
    out = []
    for opt in options:
        out.extend(expand_braces(pattern[:start] + opt + pattern[end + 1:]))
    return out


def glob_parts(pattern):
    """A path glob's anchor and segments: anchored at the filesystem root ("abs"), the
    home ("home"), the workspace ("ws") or anywhere ("rel": the pattern matches the
    trailing segments)."""
    if pattern.startswith("{ws}"):
        anchor, rest = "ws", pattern
    elif pattern.startswith("~"):
        anchor, rest = "home", pattern
    elif pattern.startswith("/"):
        anchor, rest = "abs", pattern
    else:
        anchor, rest = "rel", "**/" + pattern
    segs = []
    for k, seg in enumerate(rest.split("/")):
        if seg == "" and k > 0:
            continue
        if seg == "**" and segs and segs[-1] == "**":
            continue
        segs.append(seg)
    return anchor, segs


def compile_globs(patterns, mode, compile_glob):
    """A pattern list (`!` negates, braces expand) compiled with an engine's compile_glob:
    (positives, negatives, exact), where exact is the frozenset of the texts when every
    positive is a literal text and there are no negatives (matched by a set lookup), else
    None."""
    pos = []
    neg = []
    for p in patterns:
        target = neg if p.startswith("!") else pos
        body = p[1:] if p.startswith("!") else p
        for q in expand_braces(body):
            target.append(compile_glob(q, mode))
    exact = None
    if mode == "text" and not neg and all(not any(ch in g[1] for ch in _WILD) for g in pos):
        exact = frozenset(g[1] for g in pos)
    return pos, neg, exact


def tail_index(globs):
    """(dict: literal last segment -> globs, globs without a literal last segment)."""
    by_tail = {}
    other = []
    for g in globs:
        if g.tail is not None:
            by_tail.setdefault(g.tail, []).append(g)
        else:
            other.append(g)
    return by_tail, other
