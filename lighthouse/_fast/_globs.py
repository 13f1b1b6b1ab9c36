"""Glob compilation, shared by both rule engines: it runs once per policy load.

Each engine has its own compiled glob classes and matchers (the per-call kernels); this
module turns a rule's pattern list into what they are built from.
"""

from __future__ import annotations

__all__ = ["expand_braces", "glob_parts", "compile_glob", "compile_globs", "glob_list_parts",
           "glob_facts", "tail_index", "seg_match", "class_match"]

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


def compile_glob(pattern, mode, PathGlob):
    """Compile one glob: ("text", pattern) in text mode, an engine's PathGlob of the
    pattern's anchor and segments in path mode (see glob_parts)."""
    if mode == "text":
        return ("text", pattern)
    anchor, segs = glob_parts(pattern)
    return PathGlob(anchor, segs)


def compile_globs(patterns, mode, PathGlob):
    """A pattern list (`!` negates, braces expand) compiled with an engine's PathGlob:
    (positives, negatives, exact), where exact is the frozenset of the texts when every
    positive is a literal text and there are no negatives (matched by a set lookup), else
    None."""
    pos = []
    neg = []
    for p in patterns:
        target = neg if p.startswith("!") else pos
        body = p[1:] if p.startswith("!") else p
        for q in expand_braces(body):
            target.append(compile_glob(q, mode, PathGlob))
    exact = None
    if mode == "text" and not neg and all(not any(ch in g[1] for ch in _WILD) for g in pos):
        exact = frozenset(g[1] for g in pos)
    return pos, neg, exact


def glob_list_parts(patterns, mode, PathGlob):
    """What a GlobList is built from: (positives, negatives, exact, positives' tail index,
    negatives' tail index); the indexes are None in text mode."""
    pos, neg, exact = compile_globs(patterns, mode, PathGlob)
    if mode != "path":
        return pos, neg, exact, None, None
    return pos, neg, exact, tail_index(pos), tail_index(neg)


def glob_facts(segs):
    """The facts a path glob's segments give, which let most non-matching values be
    rejected without the general matcher: (literal: per segment, whether it is plain
    text; nprefix: how many leading segments are; tail: the last segment when it is,
    else None; minsegs: the segments that are not `**`; shape: 0 no `**`, 1 `prefix/**`,
    2 `**/suffix`, 3 any other)."""
    n = len(segs)
    literal = [s != "**" and not any(ch in s for ch in _WILD) for s in segs]
    k = 0
    while k < n and literal[k]:
        k += 1
    tail = segs[n - 1] if n and literal[n - 1] else None
    minsegs = sum(1 for s in segs if s != "**")
    stars = [i for i, s in enumerate(segs) if s == "**"]
    if not stars:
        shape = 0
    elif stars == [n - 1]:
        shape = 1
    elif stars == [0]:
        shape = 2
    else:
        shape = 3
    return literal, k, tail, minsegs, shape


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


def seg_match(pat, s, cross_slash):
    """Wildcard match of one segment: `*` `?` `[...]`; linear in practice, O(n*m) worst.
    The pure engine's matcher, and the compiled one's for values that are not exact str
    (its own typed matchers read str buffers)."""
    pi = si = 0
    np_, ns = len(pat), len(s)
    star_p = -1
    star_s = 0
    while si < ns:
        if pi < np_:
            c = pat[pi]
            if c == "*":
                star_p = pi
                star_s = si
                pi += 1
                continue
            if c == "?":
                if cross_slash or s[si] != "/":
                    pi += 1
                    si += 1
                    continue
            elif c == "[":
                end, ok = class_match(pat, pi, s[si])
                if end > 0:
                    if ok:
                        pi = end
                        si += 1
                        continue
                elif c == s[si]:
                    pi += 1
                    si += 1
                    continue
            elif c == "\\" and pi + 1 < np_:
                if pat[pi + 1] == s[si]:
                    pi += 2
                    si += 1
                    continue
            elif c == s[si]:
                pi += 1
                si += 1
                continue
        if star_p >= 0 and (cross_slash or s[star_s] != "/"):
            star_s += 1
            si = star_s
            pi = star_p + 1
            continue
        return False
    while pi < np_ and pat[pi] == "*":
        pi += 1
    return pi == np_


def class_match(pat, pi, ch):
    """Match `ch` against the class starting at pat[pi] == '['. Returns (end, ok);
    end == -1 when the bracket is not a class (then it is a literal '[')."""
    j = pi + 1
    negate = False
    if j < len(pat) and pat[j] in "!^":
        negate = True
        j += 1
    first = True
    ok = False
    while j < len(pat) and (first or pat[j] != "]"):
        first = False
        lo = pat[j]
        if j + 2 < len(pat) and pat[j + 1] == "-" and pat[j + 2] != "]":
            if lo <= ch <= pat[j + 2]:
                ok = True
            j += 3
        else:
            if lo == ch:
                ok = True
            j += 1
    if j >= len(pat):
        return -1, False
    return j + 1, ok != negate
