"""Glob compilation, shared by both rule engines: it runs once per policy load.

Each engine has its own compiled glob classes and matchers (the per-call kernels); this
module turns a rule's pattern list into what they are built from.
"""

from __future__ import annotations

__all__ = ["expand_braces", "glob_parts", "compile_glob", "compile_globs", "glob_list_parts",
           "literal_run", "text_needles", "glob_facts", "tail_index", "seg_match", "class_match",
           "word_index", "word_context", "word_may_match"]

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


def literal_run(pattern):
    """The longest run of characters every text the text glob `pattern` matches
    contains as it is: literal characters and one-character classes (`[[]` is "["),
    between wildcards. Escapes and other classes end a run (a shorter run is still
    held by every match)."""
    best = ""
    cur = []
    k = 0
    n = len(pattern)
    while k < n:
        c = pattern[k]
        if c == "[" and k + 2 < n and pattern[k + 2] == "]" and pattern[k + 1] not in "!^":
            cur.append(pattern[k + 1])
            k += 3
            continue
        if c in _WILD:
            if len(cur) > len(best):
                best = "".join(cur)
            cur = []
            if c == "\\":
                k += 2              # past the escaped character (`\[a]` is "[a]", no class)
                continue
            if c == "[":
                end = class_match(pattern, k, "")[0]
                if end > 0:
                    k = end         # past the class
                    continue
        else:
            cur.append(c)
        k += 1
    if len(cur) > len(best):
        best = "".join(cur)
    return best


def text_needles(patterns):
    """Literal texts one of which every text that one of the text globs `patterns`
    matches contains (each glob's literal_run, without the runs that contain a shorter
    one), or None when a glob has no run of at least two characters (one character is
    no test worth running first). A matcher tests them before the globs: a text with
    none of them matches no glob of the list."""
    runs = set()
    for pattern in patterns:
        run = literal_run(pattern)
        if len(run) < 2:
            return None
        runs.add(run)
    if not runs:
        return None
    return tuple(sorted(r for r in runs if not any(o != r and o in r for o in runs)))


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


# ------------------------------------------------------------------- word index
#
# Most words of a command cannot name a path that one of the path globs applying to every
# program matches (secrets, histories, keys, /dev/tcp): `pytest`, `-k`, `src/app.py`.
# Building a word's path forms (resolved, home- and workspace-relative) before trying the
# globs costs far more than this test on the raw word, which rules such words out first.
#
# It rests on what path_forms does to a word: normpath only drops segments ("", ".",
# "..": a `..` may also become "home", `~` or `~user` loses its `~`), and the forms are
# cut from the resolved path, with "", "~" or "{ws}" in front. So every segment of every
# form is a segment of the word (its first one also without a leading `~`), of the
# cwd or of the home it is resolved against, or one of MARKERS; and when the word's
# last segment is a name (not "", "." or ".." nor starting with `~`), every form ends
# with that name or is exactly the home ("~") or the workspace ("{ws}").

MARKERS = frozenset(("", "~", "{ws}", ".", "..", "home"))
# What a form ends with, other than the word's own last name: the home or the workspace.
END_MARKERS = ("~", "{ws}")


def _plain(seg):
    return seg != "**" and not any(ch in seg for ch in _WILD)


def word_index(seg_lists):
    """The index of a set of path globs (their segment lists, glob_parts' second item)
    that word_may_match reads, or None when some glob defeats it (one that can match
    the home or workspace itself, or has neither a literal segment nor a usable last
    segment: `~`, `{ws}/*`, `**/*`). Runs once per policy load.

    (names, segments, by_last, by_first, rest): a word may match only when its last
    segment is one of `names` (globs with a literal last segment), or matches one of
    the wildcard last segments filed in `by_last` / `by_first` under the text (two
    characters when the pattern has them, else one) every match ends / starts with, or
    one in `rest`; or when one of its segments (or of the cwd's, or of the home's) is
    in `segments`, the last literal segment of each glob whose last one is `**` or
    matches anything."""
    names = set()
    segments = set()
    by_last = {}
    by_first = {}
    rest = []
    for segs in seg_lists:
        if not segs:
            return None
        last = segs[-1]
        if _plain(last):
            if last in END_MARKERS:
                return None
            names.add(last)
            continue
        marker_match = last == "**" or any(seg_match(last, m, False) for m in END_MARKERS)
        if not marker_match:
            key = _last_key(last)
            if key is not None:
                by_last.setdefault(key, {})[last] = None
                continue
            key = _first_key(last)
            if key is not None:
                by_first.setdefault(key, {})[last] = None
                continue
        start = 0 if segs[0] == "**" else 1
        lit = None
        for seg in segs[start:]:
            if _plain(seg):
                lit = seg
        if lit is not None and lit not in MARKERS:
            segments.add(lit)
            continue
        if marker_match:
            return None
        if last not in rest:
            rest.append(last)
    return (frozenset(names), frozenset(segments),
            {k: tuple(v) for k, v in by_last.items()}, {k: tuple(v) for k, v in by_first.items()},
            tuple(rest))


def _last_key(pat):
    # The text every match of a wildcard segment ends with (its last two characters,
    # or its last one), or None; only for patterns without `[` and `\\`, whose literal
    # characters after the last `*` match the end of the value one to one.
    if "[" in pat or "\\" in pat or pat[-1] in "*?":
        return None
    return pat[-2:] if len(pat) >= 2 and pat[-2] not in "*?" else pat[-1]


def _first_key(pat):
    # The text every match of a wildcard segment starts with, or None.
    if pat[0] == "\\":
        return pat[1] if len(pat) > 1 else pat[0]
    if pat[0] in "*?[":
        return None
    return pat[:2] if len(pat) >= 2 and pat[1] not in _WILD else pat[0]


def _segments_of(path):
    return (path[1:] if path.startswith("~") else path).split("/")


def word_context(index, cwd, home, max_length, max_segments):
    """What word_may_match needs to know of the place a word is resolved in: None when
    the cwd or the home has a segment of the index's `segments` (then every word may
    match), else (longest, slashes): a word longer than max_length - longest, or with
    more than max_segments - slashes slashes, may reach a limit of path_forms, so it is
    not ruled out (path_forms must run to raise it)."""
    cwd = cwd or ""
    home = home or ""
    segs = index[1]
    if segs and any(s in segs for s in _segments_of(cwd) + _segments_of(home)):
        return None
    return (max_length - (len(cwd) + len(home) + 8), max_segments - (cwd.count("/") + home.count("/") + 4))


def word_may_match(index, word, context):
    """False when no form of `word` (path_forms) can match a glob of `index`
    (word_index) in `context` (word_context; None: True); the pure engine's test, and
    the reference of the compiled one's."""
    if context is None:
        return True
    if len(word) > context[0] or word.count("/") > context[1]:
        return True
    end = len(word)
    while end > 0 and word[end - 1] == "/":
        end -= 1
    base = word[word.rfind("/", 0, end) + 1:end]
    if base in ("", ".", "..") or base[0] == "~":
        return True
    names, segments, by_last, by_first, rest = index
    if base in names:
        return True
    for pats in (by_last.get(base[-1], ()), by_last.get(base[-2:], ()) if len(base) > 1 else (),
                 by_first.get(base[0], ()), by_first.get(base[:2], ()) if len(base) > 1 else ()):
        for pat in pats:
            if seg_match(pat, base, False):
                return True
    for pat in rest:
        if seg_match(pat, base, False):
            return True
    if segments:
        for seg in _segments_of(word):
            if seg in segments:
                return True
    return False
