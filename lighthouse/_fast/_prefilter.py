"""Literal prefilters for rule regexes, computed once when rules are compiled.

A call into RE2 through its Python binding costs microseconds whatever the text, while
most texts a rule regex sees cannot match it: `(?i)psql.*drop\\s+table` cannot match a
text without "drop". `prefilter(pattern)` reads the pattern's syntax tree and returns
either

  ALWAYS           the pattern matches every text (`(?s).*`: an unanchored search
                   finds the empty match at the start), or
  requirements     a tuple of tuples of lowercase ASCII strings: every text the
                   pattern matches contains, ignoring ASCII case, at least one string
                   of each tuple, or
  None             nothing useful is known; RE2 must decide.

The compiled engine uses this only for ASCII texts (in other text, RE2's case folding
can match an ASCII letter with a non-ASCII one, such as "k" with the Kelvin sign): to
skip a search that cannot succeed, and to answer ALWAYS patterns without a search. The
pure engine always calls RE2, so the differential tests check these answers against it.

The tree comes from Python's own regex parser. RE2 syntax that Python reads differently
either fails to parse (\\pL, \\z, \\Q..\\E, (?U): no prefilter) or is refused below
(POSIX classes such as [[:alpha:]], which Python reads as a class and a literal "]");
where Python reads a pattern as needing less than RE2 does (`x{,3}`), the prefilter is
only weaker.
"""

from __future__ import annotations

import re

from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _parse  # type: ignore[attr-defined]

import re2

ALWAYS = "always"

_SEARCH_OPTIONS = re2.Options()
_SEARCH_OPTIONS.never_capture = True


def compile_search(pattern):
    """A rule regex compiled for yes/no searches, as both engines use them: without
    capture groups, so a match reports only its own span and RE2 need not run the
    engines that find submatches (a search through the binding costs about a fifth
    less)."""
    return re2.compile(pattern, _SEARCH_OPTIONS)

_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")

_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT)
_MAX_REQUIREMENTS = 3


def prefilter(pattern):
    """ALWAYS, a tuple of requirements, or None. Each requirement is a tuple of
    lowercase literals one of which a matching text contains; a matching text meets
    every requirement. The most selective requirement comes first."""
    if not isinstance(pattern, str) or _POSIX_CLASS.search(pattern):
        return None
    try:
        tree = _parse.parse(pattern)
    except Exception:  # noqa: BLE001 - syntax Python does not read: no prefilter
        return None
    try:
        if _always(list(tree)):
            return ALWAYS
        reqs = _requirements(list(tree))
    except RecursionError:
        return None
    reqs = [r for r in reqs if "" not in r]
    if not reqs:
        return None
    reqs.sort(key=_score, reverse=True)
    return tuple(tuple(sorted(r)) for r in reqs[:_MAX_REQUIREMENTS])


def min_length(pattern):
    """The fewest characters a text must have for the pattern to match anywhere in it
    (each literal, class or `.` takes one; assertions and anchors none), or 0 when the
    pattern is not read (the same cases as prefilter). A text shorter than that cannot
    match: `[?&=/][A-Za-z0-9+/_-]{160,}` needs 161 characters, so a short URL is
    answered without RE2."""
    if not isinstance(pattern, str) or _POSIX_CLASS.search(pattern):
        return 0
    try:
        low = _parse.parse(pattern).getwidth()[0]
    except Exception:  # noqa: BLE001 - syntax Python does not read (or too deep): nothing known
        return 0
    return min(int(low), _MAX_WIDTH)


_MAX_WIDTH = 1 << 30


def _always(items):
    # Every item can match the empty string anywhere: no anchor, assertion or
    # character that must be present.
    for op, av in items:
        if op in _REPEATS:
            if av[0] != 0:
                return False
        elif op is _c.SUBPATTERN:
            if not _always(list(av[-1])):
                return False
        elif op is _c.BRANCH:
            if not any(_always(list(alt)) for alt in av[1]):
                return False
        else:
            return False
    return True


def _exact(op, av):
    # The literal text an item always matches, or None.
    if op is _c.LITERAL:
        return chr(av).lower() if av < 128 else None
    if op is _c.SUBPATTERN:
        parts = []
        for sub_op, sub_av in av[-1]:
            e = _exact(sub_op, sub_av)
            if e is None:
                return None
            parts.append(e)
        return "".join(parts)
    return None


def _requirements(items):
    """Sets of literals that every match of the sequence meets: one literal of each."""
    out = []
    run = []
    for op, av in items:
        e = _exact(op, av)
        if e is not None:
            run.append(e)
            continue
        if run:
            out.append({"".join(run)})
            run = []
        req = _item_required(op, av)
        if req:
            out.append(req)
    if run:
        out.append({"".join(run)})
    return out


def _required(items):
    """The most selective requirement of a sequence, or None."""
    reqs = [r for r in _requirements(items) if "" not in r]
    return max(reqs, key=_score) if reqs else None


def _item_required(op, av):
    if op is _c.SUBPATTERN:
        return _required(list(av[-1]))
    if op is _c.BRANCH:
        out = set()
        for alt in av[1]:
            req = _required(list(alt))
            if not req:
                return None
            out |= req
        return out
    if op in _REPEATS and av[0] >= 1:
        return _required(list(av[2]))
    return None


def _score(literals):
    # Longer shortest literal first (rarer in text), then fewer alternatives.
    return (min(len(s) for s in literals), -len(literals))
