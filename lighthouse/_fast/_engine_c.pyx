"""Rule matching, compiled twin of ``_engine_py``.

``_engine_py`` is the specification: the same classes and functions, the same answers,
the same exceptions. Read it first; the comments here only explain what differs for
speed:

- rules, glob lists, path globs and program specs are typed extension objects, and the
  facts a rule asks about one simple command (flags, options, positionals, path
  arguments, writes, and the forms of the paths they name) are computed once per
  command into a ``_View``;
- glob segments are matched over the strings' own buffers (``Py_UCS4`` reads, C
  indexes) with the reference's single-backtrack wildcard algorithm, after checking the
  literal text a match must start and end with; the general ``**`` case is a
  left-to-right reachability pass over value positions in a byte array, pruned to the
  positions from which the rest of the pattern can still finish (linear in practice,
  O(pattern segments x value segments) worst, like the memo of the reference);
- glob lists are indexed, so that a value only meets the globs that can match it: text
  globs by literal value, first or last character; path globs by last segment (as the
  reference does), second segment or last character, behind hash filters;
- a path's three forms carry those index keys, and for the common one-segment relative
  path under a plain cwd the keys are derived from the cwd and the value: the segment
  lists are only built when a glob needs them;
- the rules tried for a command are its program's, less those whose first subcommand
  rules the command out (kept per program and first positional);
- a regex test calls the compiled RE2 object's ``Match`` directly (the ``re2`` module's
  ``search`` builds a match object the engine does not need); RE2 stays the engine;
- the decision cache is the compiled LRU (``_cache_c``), keyed by the same encoded call (``_keys``);
  a cache hit builds no object but its key, which is written straight from the strings'
  buffers when they are ASCII.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport (Py_UCS1, PyUnicode_1BYTE_KIND, PyUnicode_DATA, PyUnicode_KIND,
                              PyUnicode_READ)
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

from lighthouse._fast._cache_c cimport DecisionCache
from lighthouse._fast._shell_c cimport SimpleCommand, analyze
from lighthouse._fast._shell_shared_c cimport normpath, scratch_named
from lighthouse._fast._text cimport obj_eq, str_eq, str_has
# C calls into the compiled build of the shared tool-call readers (typed by _toolinput_c.pxd)
# C calls into the compiled build of what a command's view reads with its spec (_view_c.pxd)
from lighthouse._fast._view_c cimport conditional_writes, unbundle
from lighthouse._fast._toolinput_c cimport (call_error, flatten as _flatten, input_error,
                                            strip_sql_literals as _strip_sql)
# and into the compiled build of the SQL reader (typed by _sql_c.pxd): the sql_read_only
# and sql_input_read_only keys' tests, whose _sql functions the rules hold
from lighthouse._fast._sql_c cimport (test_input_read_only as _sql_input_read_only_c,
                                      test_read_only as _sql_read_only_c)

import re2

from ._engine_shared import (ALLOW, ASK, COMMAND_MSG, DENY, EMPTY_MSG,
                             ENGINE_API, FALLBACK_MSG, HOME_ROOTS,
                             INTERNAL_MSG, LIMIT_MSG, MAX_INPUT_DEPTH, MAX_MATCH_LENGTH,
                             MAX_PATH_SEGMENTS, MAX_RULE_LISTS, MISS, NESTED_MSG,
                             NO_OP_MSG, NO_PROGRAM_RULE_MSG, NO_TOOL_RULE_MSG,
                             PATH_FIELDS, PATH_LENGTH_MSG, PATH_SEGMENTS_MSG,
                             TOO_DEEP_MSG, UNNORMALIZED_MSG,
                             UNPARSED_MSG, checker_init, checker_set_engine, engine_tables,
                             last_parse, match_one, unknown_option_verdict)
from ._engine_shared import MAX_TOOL_LENGTH  # no-cython-lint (exported with the other limits)
from ._content_c import CONTENT_TOOLS, combine, content_verdict
from ._errors import LimitError, ShellError
from ._globs import glob_facts, glob_list_parts, seg_match, text_needles
from ._rulespec import (VERDICTS, decision_dict, decision_eq, decision_repr,
                        priority as _prio, program_spec_fields, rule_fields, test_bare_options as _test_bare_options,
                        test_workdir_scratch as _test_workdir_scratch)
from ._view_c import chdir_rebased
from ._sql import test_input_read_only as _test_input_read_only, test_read_only as _test_read_only
from ._keys import LONG_KEY, finish
from ._net import METADATA_ONLY as _METADATA_ONLY, NON_HTTP_ONLY as _NON_HTTP_ONLY
from ._net import test_arg_hosts as _test_arg_hosts, test_url_hosts as _test_url_hosts, url_hosts as _url_hosts
from ._net import MAX_TEXT as _MAX_URL_TEXT, METADATA_NAMES, METADATA_INFIXES, PRIVATE_SUFFIXES
from ._prefilter import ALWAYS, min_length, prefilter
from ._shell_shared_c import DYN

__all__ = list(ENGINE_API)

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)

# The verdict codes, limits and tables live in _engine_shared (shared with the reference).
# The verdict codes are C constants here, so that comparing and building them costs no
# conversion, checked against the shared ones at import; the rest is bound to typed
# module globals, read as C values on the hot path.
cdef enum:
    C_ALLOW = 0
    C_ASK = 1
    C_DENY = 2
    C_MISS = 3

if (C_ALLOW, C_ASK, C_DENY, C_MISS) != (ALLOW, ASK, DENY, MISS):
    raise ImportError("_engine_c's verdict codes differ from _engine_shared's")
cdef Py_ssize_t C_MAX_PATH_SEGMENTS = MAX_PATH_SEGMENTS
cdef Py_ssize_t C_MAX_MATCH_LENGTH = MAX_MATCH_LENGTH
cdef Py_ssize_t C_MAX_INPUT_DEPTH = MAX_INPUT_DEPTH
cdef Py_ssize_t C_MAX_RULE_LISTS = MAX_RULE_LISTS
cdef tuple _HOME_ROOTS = HOME_ROOTS
cdef tuple _PATH_FIELDS = PATH_FIELDS

cdef tuple _VERDICTS = VERDICTS
cdef str _PATH_LENGTH_MSG = PATH_LENGTH_MSG
cdef str _PATH_SEGMENTS_MSG = PATH_SEGMENTS_MSG
cdef tuple _NULL_SPAN = (-1, -1)
try:
    _RE2_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
except AttributeError:
    _RE2_UNANCHORED = None
cdef object _UNANCHORED = _RE2_UNANCHORED
cdef str _DYN = DYN
cdef object _long_key = finish
cdef Py_ssize_t _LONG_KEY = LONG_KEY


cdef inline bytes _finish(bytes data):
    # lighthouse._fast._keys.finish, with the common case (a short key) inline.
    if len(data) <= _LONG_KEY:
        return data
    return _long_key(data)


# ------------------------------------------------------------------- globs

# Segment kinds of a path glob.
cdef enum:
    SEG_LIT = 0     # matches exactly its own text
    SEG_STARS = 1   # `**`: any number of segments
    SEG_WILD = 2    # one segment with `*` `?` `[...]` or `\`


cdef Py_ssize_t _class_end(int pk, void *pd, Py_ssize_t np_, Py_ssize_t pi, Py_UCS4 ch,
                           bint *ok) noexcept:
    # _class_match of the reference: the end of the class at pat[pi] == '[' (or -1 when
    # the bracket is not a class) and, through `ok`, whether `ch` is in it.
    cdef Py_ssize_t j = pi + 1
    cdef bint negate = False
    cdef bint first = True
    cdef bint hit = False
    cdef Py_UCS4 c, lo, hi
    if j < np_:
        c = PyUnicode_READ(pk, pd, j)
        if c == u'!' or c == u'^':
            negate = True
            j += 1
    while j < np_:
        c = PyUnicode_READ(pk, pd, j)
        if not first and c == u']':
            break
        first = False
        lo = c
        if j + 2 < np_ and PyUnicode_READ(pk, pd, j + 1) == u'-':
            hi = PyUnicode_READ(pk, pd, j + 2)
            if hi != u']':
                if lo <= ch <= hi:
                    hit = True
                j += 3
                continue
        if lo == ch:
            hit = True
        j += 1
    if j >= np_:
        ok[0] = False
        return -1
    ok[0] = hit != negate
    return j + 1


cdef bint _wild(str pat, str s, bint cross_slash) noexcept:
    """_seg_match of the reference, over the strings' buffers."""
    cdef Py_ssize_t np_ = len(pat)
    cdef Py_ssize_t ns = len(s)
    cdef int pk = PyUnicode_KIND(pat)
    cdef int sk = PyUnicode_KIND(s)
    cdef void *pd = PyUnicode_DATA(pat)
    cdef void *sd = PyUnicode_DATA(s)
    cdef Py_ssize_t pi = 0, si = 0, star_p = -1, star_s = 0, end
    cdef Py_UCS4 c, sc
    cdef bint ok
    if pk == PyUnicode_1BYTE_KIND and sk == PyUnicode_1BYTE_KIND:
        return _wild1(<Py_UCS1 *>pd, np_, <Py_UCS1 *>sd, ns, cross_slash)
    while si < ns:
        if pi < np_:
            c = PyUnicode_READ(pk, pd, pi)
            sc = PyUnicode_READ(sk, sd, si)
            if c == u'*':
                star_p = pi
                star_s = si
                pi += 1
                continue
            if c == u'?':
                if cross_slash or sc != u'/':
                    pi += 1
                    si += 1
                    continue
            elif c == u'[':
                end = _class_end(pk, pd, np_, pi, sc, &ok)
                if end > 0:
                    if ok:
                        pi = end
                        si += 1
                        continue
                elif c == sc:
                    pi += 1
                    si += 1
                    continue
            elif c == u'\\' and pi + 1 < np_:
                if PyUnicode_READ(pk, pd, pi + 1) == sc:
                    pi += 2
                    si += 1
                    continue
            elif c == sc:
                pi += 1
                si += 1
                continue
        if star_p >= 0 and (cross_slash or PyUnicode_READ(sk, sd, star_s) != u'/'):
            star_s += 1
            si = star_s
            pi = star_p + 1
            continue
        return False
    while pi < np_ and PyUnicode_READ(pk, pd, pi) == u'*':
        pi += 1
    return pi == np_


cdef bint _wild1(const Py_UCS1 *p, Py_ssize_t np_, const Py_UCS1 *s, Py_ssize_t ns,
                 bint cross_slash) noexcept:
    # _wild for two one-byte strings (the usual case): the same loop on plain bytes.
    cdef Py_ssize_t pi = 0, si = 0, star_p = -1, star_s = 0, end
    cdef Py_UCS1 c, sc
    cdef bint ok
    while si < ns:
        if pi < np_:
            c = p[pi]
            sc = s[si]
            if c == b'*':
                star_p = pi
                star_s = si
                pi += 1
                continue
            if c == b'?':
                if cross_slash or sc != b'/':
                    pi += 1
                    si += 1
                    continue
            elif c == b'[':
                end = _class_end(PyUnicode_1BYTE_KIND, <void *>p, np_, pi, sc, &ok)
                if end > 0:
                    if ok:
                        pi = end
                        si += 1
                        continue
                elif c == sc:
                    pi += 1
                    si += 1
                    continue
            elif c == b'\\' and pi + 1 < np_:
                if p[pi + 1] == sc:
                    pi += 2
                    si += 1
                    continue
            elif c == sc:
                pi += 1
                si += 1
                continue
        if star_p >= 0 and (cross_slash or s[star_s] != b'/'):
            star_s += 1
            si = star_s
            pi = star_p + 1
            continue
        return False
    while pi < np_ and p[pi] == b'*':
        pi += 1
    return pi == np_


@cython.final
cdef class _Wild:
    """A wildcard pattern with the literal text every match must start and end with.

    Before the first wildcard character the pattern can only match itself, so a value
    must start with that prefix. When the pattern uses no `[` or `\\` and nothing but
    literal characters follow its last `*`, a match must end with those characters
    (the matcher pairs them one to one with the end of the value). Values without the
    prefix or suffix are rejected before the matcher runs. So are values without the
    longest literal run between wildcards (`://0.0.0.0` of `*://0.0.0.0*`), which every
    match of a pattern without `[` or `\\` contains as it is.
    """
    cdef str pat
    cdef Py_ssize_t plen      # length of the literal prefix
    cdef Py_ssize_t slen      # length of the literal suffix (0 when there is none)
    cdef Py_ssize_t minlen
    cdef str mid              # the longest literal run, when longer than prefix and suffix

    def __init__(self, str pat):
        cdef Py_ssize_t n = len(pat), k, last_star = -1
        cdef bint simple = True
        cdef Py_UCS4 c
        self.pat = pat
        k = 0
        while k < n:
            c = pat[k]
            if c == u'*' or c == u'?' or c == u'[' or c == u'\\':
                break
            k += 1
        self.plen = k
        for k in range(n):
            c = pat[k]
            if c == u'[' or c == u'\\':
                simple = False
            elif c == u'*':
                last_star = k
        self.slen = 0
        if simple and last_star >= 0:
            k = last_star + 1
            while k < n and pat[k] != u'?':
                k += 1
            if k == n:
                self.slen = n - last_star - 1
        self.minlen = self.plen + self.slen
        self.mid = _longest_run(pat)
        if self.mid is not None and (len(self.mid) <= self.plen or len(self.mid) <= self.slen):
            self.mid = None


cdef str _longest_run(str pat):
    # The longest run of characters every match contains as it is: literal characters
    # and one-character classes (`[[]` is "["), between `*` and `?`. None for a pattern
    # with an escape or another class, whose runs are not read here.
    cdef list runs = []
    cdef list cur = []
    cdef Py_ssize_t k = 0, n = len(pat)
    cdef Py_UCS4 c, inner
    while k < n:
        c = pat[k]
        if c == u'*' or c == u'?':
            runs.append("".join(cur))
            cur = []
            k += 1
        elif c == u'\\':
            return None
        elif c == u'[':
            if k + 2 >= n or pat[k + 2] != u']':
                return None
            inner = pat[k + 1]
            if inner == u'!' or inner == u'^':
                return None
            cur.append(pat[k + 1])
            k += 3
        else:
            cur.append(pat[k])
            k += 1
    runs.append("".join(cur))
    return max(runs, key=len)


cdef inline bint _same_chars(str a, Py_ssize_t ai, str b, Py_ssize_t bi, Py_ssize_t n) noexcept:
    cdef int ak = PyUnicode_KIND(a)
    cdef int bk = PyUnicode_KIND(b)
    cdef void *ad = PyUnicode_DATA(a)
    cdef void *bd = PyUnicode_DATA(b)
    cdef Py_ssize_t k
    if ak == PyUnicode_1BYTE_KIND and bk == PyUnicode_1BYTE_KIND:
        return memcmp(<Py_UCS1 *>ad + ai, <Py_UCS1 *>bd + bi, n) == 0
    for k in range(n):
        if PyUnicode_READ(ak, ad, ai + k) != PyUnicode_READ(bk, bd, bi + k):
            return False
    return True


cdef bint _wild_match(_Wild w, str s, bint cross_slash) noexcept:
    cdef Py_ssize_t ns = len(s)
    cdef str pat = w.pat
    if ns < w.minlen:
        return False
    if w.plen and not _same_chars(pat, 0, s, 0, w.plen):
        return False
    if w.slen and not _same_chars(pat, len(pat) - w.slen, s, ns - w.slen, w.slen):
        return False
    if w.mid is not None and not str_has(s, w.mid):
        return False
    return _wild(pat, s, cross_slash)


cdef inline object _exact(object s):
    # Typed code takes exact str; a str subclass from the caller is used by its value
    # (which is how the reference, written for plain str, treats it).
    if type(s) is str or not isinstance(s, str):
        return s
    return str.__str__(s)


cdef inline bint _is_literal(str s) noexcept:
    # No wildcard character: the glob matches exactly its own text.
    cdef Py_UCS4 c
    for c in s:
        if c == u'*' or c == u'?' or c == u'[' or c == u'\\':
            return False
    return True


@cython.final
cdef class PathGlob:
    """A path glob split into segments, with the facts that let most non-matching values
    be rejected without running the general matcher: the literal leading segments, the
    literal last segment, the minimum segment count and the shape of its `**` segments."""

    def __cinit__(self):
        self.kinds = NULL
        self.fixed_after = NULL

    def __init__(self, anchor, segs):
        cdef Py_ssize_t k, n
        cdef list literal
        self.anchor = anchor
        self.segs = segs
        self.literal, self.nprefix, self.tail, self.minsegs, self.shape = glob_facts(segs)
        literal = self.literal
        n = len(segs)
        if anchor == "abs" or anchor == "rel":
            self.form = 0
        elif anchor == "home":
            self.form = 1
        else:
            self.form = 2
        self.nsegs = n
        self._wilds = [None if lit or seg == "**" else _Wild(seg) for seg, lit in zip(segs, literal)]
        free(self.kinds)
        free(self.fixed_after)
        self.kinds = <unsigned char *>malloc(n + 1)
        self.fixed_after = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
        if self.kinds == NULL or self.fixed_after == NULL:
            raise MemoryError()
        self.fixed_after[n] = 0
        for k in range(n - 1, -1, -1):
            if segs[k] == "**":
                self.kinds[k] = SEG_STARS
                self.fixed_after[k] = self.fixed_after[k + 1]
            else:
                self.kinds[k] = SEG_LIT if literal[k] else SEG_WILD
                self.fixed_after[k] = self.fixed_after[k + 1] + 1

    def __dealloc__(self):
        free(self.kinds)
        free(self.fixed_after)

    def match(self, v):
        return self._match(v if type(v) is list else list(v))

    cdef bint _match(self, list v) except -1:
        cdef Py_ssize_t n = len(v)
        cdef Py_ssize_t ns = self.nsegs
        cdef Py_ssize_t i, off, top
        cdef list segs = self.segs
        if n < self.minsegs:
            return False
        if self.tail is not None and not str_eq(<str?>v[n - 1], <str>self.tail):
            return False
        top = self.nprefix if self.nprefix < n else n
        for i in range(top):
            if not str_eq(<str?>v[i], <str>segs[i]):
                return False
        if self.shape == 0:
            if n != ns:
                return False
            for i in range(self.nprefix, n):
                if not _seg_ok(self, i, v[i]):
                    return False
            return True
        if self.shape == 1:
            for i in range(self.nprefix, ns - 1):
                if not _seg_ok(self, i, v[i]):
                    return False
            return True
        if self.shape == 2:
            off = n - ns
            for i in range(1, ns):
                if not _seg_ok(self, i, v[off + i]):
                    return False
            return True
        return _match_segs(self, v)


cdef inline bint _seg_ok(PathGlob g, Py_ssize_t i, object value) except -1:
    cdef str s = <str?>value
    if g.kinds[i] == SEG_LIT:
        return str_eq(s, <str>g.segs[i])
    return _wild_match(<_Wild>g._wilds[i], s, False)


cdef bint _match_segs(PathGlob g, list v) except -1:
    # Which value positions can be reached after each pattern segment, left to right.
    # reach[j] says position j is reachable (only meaningful inside lo..hi); after a `**`
    # every position from lo on is (`tail_open`). A position is only kept if the
    # segments still to come can finish the match from it, which is what keeps this
    # linear for the usual patterns.
    cdef Py_ssize_t nv = len(v)
    cdef Py_ssize_t np_ = g.nsegs
    cdef unsigned char small[256]
    cdef unsigned char *reach = small
    cdef Py_ssize_t i, j, lo = 0, hi = 0, new_lo, new_hi, maxpos, minpos, top, bottom
    cdef bint tail_open = False
    cdef bint stars_after
    if nv + 1 > 256:
        reach = <unsigned char *>malloc(nv + 1)
        if reach == NULL:
            raise MemoryError()
    try:
        reach[0] = 1
        for i in range(np_):
            if g.kinds[i] == SEG_STARS:
                tail_open = True
                hi = nv
                continue
            # A segment consumes v[j] and leads to position j + 1, which must leave room
            # for the fixed segments after it (exactly, when no `**` follows).
            stars_after = g.fixed_after[i + 1] != np_ - i - 1
            maxpos = nv - g.fixed_after[i + 1]
            minpos = 0 if stars_after else maxpos
            top = hi if hi < maxpos - 1 else maxpos - 1
            bottom = lo if lo > minpos - 1 else minpos - 1
            new_lo = -1
            new_hi = -1
            j = top
            while j >= bottom:
                if (tail_open or reach[j]) and _seg_ok(g, i, v[j]):
                    reach[j + 1] = 1
                    if new_hi < 0:
                        new_hi = j + 1
                    new_lo = j + 1
                else:
                    reach[j + 1] = 0
                j -= 1
            if new_hi < 0:
                return False
            lo = new_lo
            hi = new_hi
            tail_open = False
        if tail_open:
            return True
        return hi == nv and reach[nv] != 0
    finally:
        if reach != small:
            free(reach)


@cython.final
cdef class _TextSet:
    """Text globs: the literal ones as a set; the wildcard ones by the first character
    of their literal prefix, else by the last character of their literal suffix (a
    match must start, or end, with it), else in a list. When each glob of that list
    holds a literal run (_globs.text_needles), a value holding none of the runs is not
    tried against them: `*://0.0.0.0*` and `*://[[]::]*` of a rule every program's
    arguments meet."""

    def __init__(self, list globs):
        cdef _Wild w
        cdef Py_UCS4 c
        lits = []
        self.wild = []
        self.by_first = None
        self.by_last = None
        for g in globs:
            pat = g[1]
            if _is_literal(pat):
                lits.append(pat)
                continue
            w = _Wild(pat)
            if w.plen and w.pat[0] < 128:
                c = w.pat[0]
                if self.by_first is None:
                    self.by_first = [None] * 128
                _bucket_add(self.by_first, <Py_ssize_t>c, w)
            elif w.slen and w.pat[len(w.pat) - 1] < 128:
                c = w.pat[len(w.pat) - 1]
                if self.by_last is None:
                    self.by_last = [None] * 128
                _bucket_add(self.by_last, <Py_ssize_t>c, w)
            else:
                self.wild.append(w)
        self.literals = frozenset(lits) if lits else None
        self.empty = not globs
        # the unindexed wildcard globs, each tried in turn, are tried only when the
        # value holds one of their literal runs
        self.needles = text_needles([w.pat for w in self.wild]) if len(self.wild) > 1 else None


cdef int _bucket_add(list buckets, Py_ssize_t k, object item) except -1:
    if buckets[k] is None:
        buckets[k] = [item]
    else:
        (<list>buckets[k]).append(item)
    return 0


cdef bint _wilds_any(list wilds, str value) except -1:
    cdef _Wild w
    for w in wilds:
        if _wild_match(w, value, True):
            return True
    return False


cdef bint _text_any(_TextSet ts, str value) except -1:
    cdef Py_ssize_t n = len(value)
    cdef Py_UCS4 c
    cdef object found
    cdef str needle
    if ts.literals is not None and value in ts.literals:
        return True
    if n and ts.by_first is not None:
        c = value[0]
        if c < 128:
            found = ts.by_first[<Py_ssize_t>c]
            if found is not None and _wilds_any(<list>found, value):
                return True
    if n and ts.by_last is not None:
        c = value[n - 1]
        if c < 128:
            found = ts.by_last[<Py_ssize_t>c]
            if found is not None and _wilds_any(<list>found, value):
                return True
    if ts.needles is not None:
        for needle in ts.needles:
            if str_has(value, needle):
                break
        else:
            return False
    return _wilds_any(ts.wild, value)


@cython.final
cdef class _PathIndex:
    """Path globs by literal last segment; the others by literal second segment (per
    form, when their first two segments are literal); the others by the last character
    of the literal text their last segment must end with (`**/*.pem` by "m", per form);
    and the rest. Each of the four maps has a 256-bit filter of its keys' hashes, which
    answers most lookups of a key that is not there without touching the dict."""

    def __init__(self, list globs):
        cdef PathGlob g
        cdef _Wild w
        cdef Py_UCS4 last
        self.by_tail = {}
        self.by_second_abs = {}
        self.by_second_home = {}
        self.by_second_ws = {}
        self.by_end = None
        self.rest = []
        self.empty = not globs
        for k in range(16):
            self.bloom[k] = 0
        for g in globs:
            if g.tail is not None:
                _index_add(self, 3, self.by_tail, g.tail, g)
                continue
            if g.nprefix >= 2:
                _index_add(self, g.form, self._second(g.form), g.segs[1], g)
                continue
            if g.nsegs and g.kinds[g.nsegs - 1] == SEG_WILD:
                w = <_Wild>g._wilds[g.nsegs - 1]
                if w.slen:
                    last = w.pat[len(w.pat) - 1]
                    if last < 128:
                        if self.by_end is None:
                            self.by_end = [None] * (3 * 128)
                        k = g.form * 128 + <Py_ssize_t>last
                        if self.by_end[k] is None:
                            self.by_end[k] = []
                        self.by_end[k].append(g)
                        continue
            self.rest.append(g)

    cdef dict _second(self, int form):
        if form == 0:
            return self.by_second_abs
        if form == 1:
            return self.by_second_home
        return self.by_second_ws


cdef inline unsigned int _bloom_bit(Py_hash_t h) noexcept:
    return <unsigned int>(<size_t>h & 255)


cdef int _index_add(_PathIndex idx, int which, dict by, object key, PathGlob g) except -1:
    cdef unsigned int bit = _bloom_bit(hash(key))
    idx.bloom[which * 4 + (bit >> 6)] |= (<unsigned long long>1) << (bit & 63)
    by.setdefault(key, []).append(g)
    return 0


cdef inline bint _bloom_may_have(_PathIndex idx, int which, unsigned int bit) noexcept:
    return (idx.bloom[which * 4 + (bit >> 6)] >> (bit & 63)) & 1


@cython.final
@cython.no_gc
@cython.freelist(32)
cdef class _Forms:
    """The three forms of one path (path_forms' tuple) with the keys the glob indexes
    look up -- each form's second segment, the distinct last segments, each form's last
    character -- and their filter bits, computed once for all the glob lists the path
    is tried against. second0..2 hold each form's second segment (or None),
    tail0..ntails-1 the last segments without consecutive repeats. When `place` is set
    the lists are not built yet (_forms_single): `lens` and `home_last` stand in for
    them until _materialize."""


cdef inline list _form(_Forms F, int f):
    if F.place is not None:
        _materialize(F)
    if f == 0:
        return F.abs_segs
    if f == 1:
        return F.home_segs
    return F.ws_segs


cdef inline list _seg_list(object v):
    return None if v is None else <list?>v


cdef _Forms _make_forms(tuple forms):
    if len(forms) < 3:
        raise IndexError("tuple index out of range")
    return _forms_of_lists(_seg_list(forms[0]), _seg_list(forms[1]), _seg_list(forms[2]))


cdef _Forms _forms_of_lists(list abs_segs, list home_segs, list ws_segs):
    cdef _Forms F = _Forms.__new__(_Forms)
    F.abs_segs = abs_segs
    F.home_segs = home_segs
    F.ws_segs = ws_segs
    _set_keys(F)
    return F


cdef int _set_keys(_Forms F) except -1:
    cdef object key, seen = None
    cdef list segs
    cdef int f, end = -1
    cdef Py_ssize_t n
    F.ntails = 0
    for f in range(3):
        F.end_chars[f] = -1
        segs = _form(F, f)
        if segs is None:
            continue
        n = len(segs)
        if n >= 2:
            key = segs[1]
            _set_second(F, f, key)
            F.second_bits[f] = _bloom_bit(hash(key))
        if n == 0:
            continue
        key = segs[n - 1]
        # The forms mostly end with the same segment object: look at it once.
        if seen is not None and obj_eq(key, seen):
            F.end_chars[f] = end
            continue
        seen = key
        end = _end_char(<str?>key)
        F.end_chars[f] = end
        F.tail_bits[F.ntails] = _bloom_bit(hash(key))
        _set_tail(F, F.ntails, key)
        F.ntails += 1
    return 0


cdef inline int _end_char(str s) noexcept:
    # The last character of s when it is ASCII, else -1.
    cdef Py_ssize_t n = len(s)
    cdef Py_UCS4 c
    if n == 0:
        return -1
    c = PyUnicode_READ(PyUnicode_KIND(s), PyUnicode_DATA(s), n - 1)
    return <int>c if c < 128 else -1


cdef inline void _set_second(_Forms F, int f, object key):
    if f == 0:
        F.second0 = key
    elif f == 1:
        F.second1 = key
    else:
        F.second2 = key


cdef inline object _second_of(_Forms F, int f):
    if f == 0:
        return F.second0
    if f == 1:
        return F.second1
    return F.second2


cdef inline void _set_tail(_Forms F, int t, object key):
    if t == 0:
        F.tail0 = key
    elif t == 1:
        F.tail1 = key
    else:
        F.tail2 = key


cdef inline object _tail_of(_Forms F, int t):
    if t == 0:
        return F.tail0
    if t == 1:
        return F.tail1
    return F.tail2


cdef inline bint _glob_forms(PathGlob g, _Forms F) except -1:
    cdef list v
    cdef int known
    if F.place is not None:
        known = _lazy_match(g, F)
        if known >= 0:
            return known
    v = _form(F, g.form)
    return v is not None and g._match(v)


cdef int _lazy_match(PathGlob g, _Forms F) except -2:
    # PathGlob._match on forms whose lists are not built yet, when the parts of the
    # form it looks at are known: a form's length, its first segment ("", "~" or
    # "{ws}"), its second and its last segments (_forms_single). Returns 0 or 1, or -1
    # when the glob needs the whole list.
    cdef int f = g.form
    cdef Py_ssize_t n = F.lens[f], ns = g.nsegs, i, top
    cdef object last
    if n == 0 or n < g.minsegs or (g.shape == 0 and n != ns):
        return 0
    last = F.home_last if f == 1 else F.value
    if g.tail is not None and not (<str>g.tail == <str>last):
        return 0
    if g.shape == 2 and ns == 2:
        return _seg_ok(g, 1, last)
    if (g.shape == 0 and ns <= 2) or (g.shape == 1 and ns <= 3):
        top = ns if g.shape == 0 else ns - 1
    else:
        top = g.nprefix if g.nprefix < 2 else 2
    for i in range(top):
        if not _seg_ok(g, i, _known_seg(F, f, i)):
            return 0
    if (g.shape == 0 and ns <= 2) or (g.shape == 1 and ns <= 3):
        return 1
    return -1


cdef inline object _known_seg(_Forms F, int f, Py_ssize_t i):
    if i == 0:
        return "" if f == 0 else "~" if f == 1 else "{ws}"
    return _second_of(F, f)


cdef bint _globs_any(list globs, _Forms F) except -1:
    cdef PathGlob g
    for g in globs:
        if _glob_forms(g, F):
            return True
    return False


cdef bint _path_any(_PathIndex idx, _Forms F) except -1:
    cdef object key, found
    cdef dict second
    cdef int f
    cdef Py_ssize_t t
    if idx.empty:
        return False
    if idx.rest and _globs_any(idx.rest, F):
        return True
    for f in range(3):
        key = _second_of(F, f)
        if key is None or not _bloom_may_have(idx, f, F.second_bits[f]):
            continue
        second = idx._second(f)
        found = second.get(key)
        if found is not None and _globs_any(<list>found, F):
            return True
    for t in range(F.ntails):
        if not _bloom_may_have(idx, 3, F.tail_bits[t]):
            continue
        found = idx.by_tail.get(_tail_of(F, t))
        if found is not None and _globs_any(<list>found, F):
            return True
    if idx.by_end is not None:
        for f in range(3):
            if F.end_chars[f] >= 0:
                found = idx.by_end[f * 128 + F.end_chars[f]]
                if found is not None and _globs_any(<list>found, F):
                    return True
    return False


# ------------------------------------------------------------------- word index

@cython.final
@cython.no_gc
cdef class _WordIndex:
    """_globs.word_index's tables with the wildcard segments as _Wild patterns, filed in
    arrays by a hash of their one- or two-character key (_key_slot; two keys in one slot
    only cost a match that fails), see _globs.word_may_match, the reference. name_bits and
    seg_bits have a bit per (length, first character) of the names and segments (both
    modulo 64), so that most words are ruled out without hashing them or cutting them
    into segments."""

    def __init__(self, tuple index):
        names, segments, by_last, by_first, rest = index
        self.names = names
        self.segments = segments
        self.by_last = _wild_buckets(by_last)
        self.by_first = _wild_buckets(by_first)
        self.rest = [_Wild(p) for p in rest]
        for k in range(64):
            self.name_bits[k] = 0
            self.seg_bits[k] = 0
        for name in names:
            _set_bit(self.name_bits, <str>name)
        for seg in segments:
            _set_bit(self.seg_bits, <str>seg)


cdef inline void _set_bit(unsigned long long *bits, str s):
    bits[len(s) & 63] |= (<unsigned long long>1) << (<Py_ssize_t>(<Py_UCS4>s[0]) & 63)


cdef inline bint _has_bit(unsigned long long *bits, Py_ssize_t length, Py_UCS4 first) noexcept:
    return (bits[length & 63] >> (<Py_ssize_t>first & 63)) & 1


cdef list _wild_buckets(dict by_key):
    cdef str key
    cdef Py_ssize_t slot
    if not by_key:
        return None
    cdef list out = [None] * _SLOTS
    for key, pats in by_key.items():
        slot = _key_slot(key[0], key[1]) if len(key) == 2 else _key_slot(key[0], 0)
        if out[slot] is None:
            out[slot] = []
        (<list>out[slot]).extend([_Wild(p) for p in pats])
    return out


cdef enum:
    _SLOTS = 1024


cdef inline Py_ssize_t _key_slot(Py_UCS4 a, Py_UCS4 b) noexcept:
    # The slot of a one-character key (b == 0) or a two-character one.
    cdef Py_ssize_t x = <Py_ssize_t>a, y = <Py_ssize_t>b
    return (x * 131 + y * 7 + (1 if y else 0)) & (_SLOTS - 1)


@cython.final
@cython.no_gc
cdef class _WordCtx:
    """_globs.word_context for one cwd and home: whether the index can rule words out
    there (usable), and the longest word and most slashes for which no limit of
    path_forms can be reached."""


cdef _WordCtx _make_word_ctx(_WordIndex idx, str cwd, object home):
    cdef _WordCtx ctx = _WordCtx.__new__(_WordCtx)
    cdef str h = "" if home is None else <str?>home
    ctx.cwd = cwd
    ctx.home = home
    ctx.usable = True
    if idx.segments:
        for s in _segments_of(cwd):
            if s in idx.segments:
                ctx.usable = False
        for s in _segments_of(h):
            if s in idx.segments:
                ctx.usable = False
    ctx.max_len = C_MAX_MATCH_LENGTH - (len(cwd) + len(h) + 8)
    ctx.max_slashes = C_MAX_PATH_SEGMENTS - (cwd.count("/") + h.count("/") + 4)
    return ctx


cdef inline list _segments_of(str path):
    if len(path) and path[0] == u'~':
        return path[1:].split("/")
    return path.split("/")


cdef bint _wilds_seg(list wilds, str value) except -1:
    cdef _Wild w
    if wilds is None:
        return False
    for w in wilds:
        if _wild_match(w, value, False):
            return True
    return False


cdef bint _word_may_match(_WordIndex idx, _WordCtx ctx, str word) except -1:
    # _globs.word_may_match: False when no form of word can match a glob of idx.
    cdef Py_ssize_t n = len(word), k, end, start, nslash = 0, blen, s0
    cdef int kind = PyUnicode_KIND(word)
    cdef void *data = PyUnicode_DATA(word)
    cdef Py_UCS4 c0, cl, c1, cp
    cdef object base = None
    cdef list bucket
    if not ctx.usable or n > ctx.max_len:
        return True
    if n > ctx.max_slashes:
        # only a word this long can hold too many slashes
        for k in range(n):
            if PyUnicode_READ(kind, data, k) == u'/':
                nslash += 1
        if nslash > ctx.max_slashes:
            return True
    end = n
    while end > 0 and PyUnicode_READ(kind, data, end - 1) == u'/':
        end -= 1
    k = end - 1
    while k >= 0 and PyUnicode_READ(kind, data, k) != u'/':
        k -= 1
    start = k + 1
    blen = end - start
    if blen == 0:
        return True
    c0 = PyUnicode_READ(kind, data, start)
    if c0 == u'~':
        return True
    if c0 == u'.' and (blen == 1 or (blen == 2 and PyUnicode_READ(kind, data, start + 1) == u'.')):
        return True
    if _has_bit(idx.name_bits, blen, c0):
        base = word if start == 0 and end == n else word[start:end]
        if base in idx.names:
            return True
    cl = PyUnicode_READ(kind, data, end - 1)
    c1 = PyUnicode_READ(kind, data, start + 1) if blen > 1 else 0
    cp = PyUnicode_READ(kind, data, end - 2) if blen > 1 else 0
    for k in range(5):
        if k == 0:
            bucket = None if idx.by_last is None else <list>idx.by_last[_key_slot(cl, 0)]
        elif k == 1:
            bucket = None if idx.by_last is None or blen < 2 else <list>idx.by_last[_key_slot(cp, cl)]
        elif k == 2:
            bucket = None if idx.by_first is None else <list>idx.by_first[_key_slot(c0, 0)]
        elif k == 3:
            bucket = None if idx.by_first is None or blen < 2 else <list>idx.by_first[_key_slot(c0, c1)]
        else:
            bucket = idx.rest or None
        if bucket is not None:
            if base is None:
                base = word if start == 0 and end == n else word[start:end]
            if _wilds_seg(bucket, <str>base):
                return True
    if not idx.segments:
        return False
    # the segments of the word, in place (the first without a leading `~`)
    s0 = 1 if PyUnicode_READ(kind, data, 0) == u'~' else 0
    k = s0
    while k <= n:
        if k == n or PyUnicode_READ(kind, data, k) == u'/':
            if k > s0 and _has_bit(idx.seg_bits, k - s0, PyUnicode_READ(kind, data, s0)):
                if word[s0:k] in idx.segments:
                    return True
            s0 = k + 1
        k += 1
    return False


cdef inline bint _view_maybe(_View v, str word) except -1:
    # Whether the engine's word index lets word through (see _View.maybe of the pure twin).
    if v._widx is None:
        return True
    if v._wctx is None:
        v._wctx = v._engine._word_ctx(v.cwd, v.home)
    return _word_may_match(v._widx, v._wctx, word)


@cython.final
cdef class GlobList:
    """Positive and negative globs: a value matches when some positive matches (or there
    are no positives) and no negative matches. Path globs whose last segment is literal
    are indexed by it, so a value is only tried against globs that can match its name."""

    def __init__(self, patterns, mode):
        self.mode = mode
        self.pos, self.neg, self.exact, self.pos_index, self.neg_index = glob_list_parts(patterns, mode, PathGlob)
        self._is_path = mode != "text"
        if self._is_path:
            self._ppos = _PathIndex(self.pos)
            self._pneg = _PathIndex(self.neg)
        else:
            self._tpos = _TextSet(self.pos)
            self._tneg = _TextSet(self.neg)

    def match_text(self, value):
        return _text_match(self, _exact(value))

    def match_forms(self, forms):
        """forms: (abs_segs, home_segs or None, ws_segs or None)."""
        return self._match_forms(_make_forms(_forms_of(forms)))

    cdef bint _match_text(self, str value) except -1:
        if self.exact is not None:
            return value in <frozenset>self.exact
        if not self._tpos.empty and not _text_any(self._tpos, value):
            return False
        return not _text_any(self._tneg, value)

    cdef bint _match_forms(self, _Forms forms) except -1:
        if not self._ppos.empty and not _path_any(self._ppos, forms):
            return False
        return not _path_any(self._pneg, forms)


cdef bint _text_match(GlobList gl, object value) except -1:
    # GlobList.match_text for any value: a string goes to the typed matcher, anything
    # else through the reference's algorithm on Python objects, so that it fails (or
    # not) the way the reference does.
    if type(value) is str:
        return gl._match_text(<str>value)
    if gl.exact is not None:
        return value in gl.exact
    if gl.pos:
        for g in gl.pos:
            if seg_match(g[1], value, True):
                break
        else:
            return False
    for g in gl.neg:
        if seg_match(g[1], value, True):
            return False
    return True


def glob_match(pattern, value, mode="path", cwd="", home=None):
    """Match one glob against one value (for tests and `lighthouse rules explain`)."""
    return match_one(GlobList, path_forms, pattern, value, mode, cwd, home)


# ------------------------------------------------------------------- paths

def path_forms(value, cwd, home, workspace):
    """Resolve a path argument; return its segment lists as (absolute, home-relative,
    workspace-relative). `~` resolves to `home` when given, else stays a home marker."""
    return _path_forms(_exact(value), _exact(cwd), _exact(home), _exact(workspace))


cdef int _shape(str p) noexcept:
    # 1: an absolute path that normpath leaves as it is (no empty, "." or ".." segment,
    # no trailing "/"); 2: such a relative path, not starting with "~"; 0: anything else.
    cdef Py_ssize_t n = len(p), i, start, seg
    cdef int kind = PyUnicode_KIND(p)
    cdef void *data = PyUnicode_DATA(p)
    cdef Py_UCS4 c0, c
    if n == 0:
        return 0
    c0 = PyUnicode_READ(kind, data, 0)
    if c0 == u'~':
        return 0
    if c0 == u'/' and n == 1:
        return 1
    start = 1 if c0 == u'/' else 0
    seg = start
    for i in range(start, n + 1):
        c = PyUnicode_READ(kind, data, i) if i < n else u'/'
        if c != u'/':
            continue
        if i == seg:
            return 0
        if PyUnicode_READ(kind, data, seg) == u'.' and (
                i - seg == 1 or (i - seg == 2 and PyUnicode_READ(kind, data, seg + 1) == u'.')):
            return 0
        seg = i + 1
    return 1 if c0 == u'/' else 2


@cython.final
@cython.no_gc
cdef class _Place:
    """Where path arguments are resolved (cwd, home, workspace), with what path_forms
    derives from them computed once for all the paths of a command."""
    cdef str cwd
    cdef bint cwd_normal        # cwd is an absolute path normpath leaves unchanged
    cdef list cwd_segs          # cwd.split("/") when cwd_normal (for "/", [""])
    cdef bint has_home
    cdef str home_norm          # normpath(home)
    cdef str home_root          # home_norm without trailing "/"
    cdef str home_prefix        # home_root + "/"
    cdef bint has_ws
    cdef str ws                 # workspace without trailing "/"
    cdef str ws_prefix          # ws + "/"
    cdef Py_ssize_t ws_nsegs    # segments of ws: where the workspace-relative ones start
    cdef object home_arg        # home and workspace as given, to recognise them again
    cdef object ws_arg
    # For a relative path under a normal cwd, full = cwd + "/" + value. When the cwd
    # alone decides each of path_forms' prefix tests (home, /home/ or /Users/, /root/,
    # workspace), `fast_rel` is set and the answers are kept here, so such a path needs
    # no full string: its segments are the cwd's followed by its own.
    cdef bint fast_rel
    cdef Py_ssize_t cwd_slash_len
    cdef bint in_home           # under home
    cdef Py_ssize_t home_cut    # segments of home_root
    cdef bint in_home_roots     # else under /home/ or /Users/
    cdef bint in_root           # else under /root/
    cdef bint in_ws


cdef _Place _last_place = None


cdef _Place _place(str cwd, object home, object workspace):
    # Calls in a row mostly share their cwd, home and workspace: the last place made is
    # kept and reused when they are the same (a place is never changed once made).
    global _last_place
    cdef _Place pl = _last_place
    if (pl is not None and str_eq(pl.cwd, cwd) and obj_eq(pl.home_arg, home) and obj_eq(pl.ws_arg, workspace)
            and type(home) is type(pl.home_arg) and type(workspace) is type(pl.ws_arg)
            and type(cwd) is type(pl.cwd)):
        return pl
    pl = _Place.__new__(_Place)
    pl.home_arg = home
    pl.ws_arg = workspace
    pl.cwd = cwd
    pl.cwd_normal = cwd is not None and _shape(cwd) == 1
    if pl.cwd_normal:
        pl.cwd_segs = [""] if len(cwd) == 1 else cwd.split("/")
    pl.has_home = bool(home)
    if pl.has_home:
        pl.home_norm = normpath(home)
        pl.home_root = pl.home_norm.rstrip("/")
        pl.home_prefix = pl.home_root + "/"
    pl.has_ws = bool(workspace)
    if pl.has_ws:
        pl.ws = (<str?>workspace).rstrip("/")
        pl.ws_prefix = pl.ws + "/"
        pl.ws_nsegs = pl.ws.count("/") + 1
    if pl.cwd_normal:
        _decide_prefixes(pl)
    _last_place = pl
    return pl


cdef void _decide_prefixes(_Place pl):
    # A prefix no longer than cwd + "/" starts full exactly when it starts cwd + "/";
    # full == X is impossible for any X no longer than cwd + "/" (full is longer).
    cdef str cs = "/" if len(pl.cwd) == 1 else pl.cwd + "/"
    cdef Py_ssize_t n = len(cs)
    pl.cwd_slash_len = n
    pl.fast_rel = True
    if pl.has_home:
        pl.in_home = cs.startswith(pl.home_prefix)
        if pl.in_home:
            pl.home_cut = pl.home_root.count("/") + 1
        elif len(pl.home_prefix) > n or len(pl.home_norm) > n:
            pl.fast_rel = False
    if not pl.in_home:
        pl.in_home_roots = cs.startswith(_HOME_ROOTS)
        pl.in_root = cs.startswith("/root/")
        if not pl.in_home_roots and n < 7:
            pl.fast_rel = False
    if pl.has_ws:
        pl.in_ws = cs.startswith(pl.ws_prefix)
        if not pl.in_ws and (len(pl.ws_prefix) > n or len(pl.ws) > n):
            pl.fast_rel = False


cdef inline bint _user_seg(object s) except -1:
    # The segment after /home or /Users names a user, whose home it is: not an empty
    # segment, nor a wildcard standing for any user.
    return not (obj_eq(s, "") or obj_eq(s, "*") or obj_eq(s, "**"))


cdef tuple _path_forms(str value, str cwd, object home, object workspace):
    cdef _Forms F = _forms_at(_place(cwd, home, workspace), value)
    return (_form(F, 0), _form(F, 1), _form(F, 2))


cdef _Forms _forms_at(_Place pl, str value):
    # path_forms of the reference. The three forms are cut from one split of the full
    # path: for full == ws + "/" + rest, full.split("/") is ws's segments followed by
    # rest's, so the workspace form is a slice of it.
    cdef str raw, full, cwd = pl.cwd
    cdef list segs, abs_segs, parts, home_segs = None, ws_segs = None
    cdef int shape = _shape(value)
    cdef Py_ssize_t n
    if shape == 0:
        # "dir/" resolves as "dir" (normpath drops empty segments).
        n = len(value)
        while n > 1 and value[n - 1] == u'/':
            n -= 1
        if n < len(value):
            shape = _shape(value[:n])
            if shape:
                value = value[:n]
    if shape == 1:
        full = value
    elif shape == 2 and pl.fast_rel and pl.cwd_slash_len + len(value) <= C_MAX_MATCH_LENGTH:
        return _forms_rel(pl, value)
    else:
        if not value:
            raw = cwd
        elif value[0] == u'/' or value[0] == u'~' or not cwd:
            raw = value
        else:
            raw = cwd.rstrip("/") + "/" + value
        if pl.has_home and raw and raw[0] == u'~' and (len(raw) == 1 or raw[1] == u'/'):
            # substitute before resolving `..`, so `~/../x` is judged against the real home
            raw = pl.home_root + raw[1:]
        # normpath leaves a normal absolute path as it is, and `~/` before one: most
        # paths here (a home path, one under a home substituted above) skip it
        if not raw:
            full = ""
        elif _shape(raw) == 1 or (len(raw) > 2 and raw[0] == u'~' and raw[1] == u'/'
                                  and _shape(raw[1:]) == 1):
            full = raw
        else:
            full = normpath(raw)
    if len(full) > C_MAX_MATCH_LENGTH:
        raise LimitError(_PATH_LENGTH_MSG)
    segs = full.split("/")
    if len(full) == 1 and full[0] == u'/':
        abs_segs = [""]
    elif len(segs) > C_MAX_PATH_SEGMENTS:
        raise LimitError(_PATH_SEGMENTS_MSG)
    else:
        abs_segs = segs
    if full.startswith("~"):
        home_segs = abs_segs
    elif pl.has_home and (str_eq(full, pl.home_norm) or full.startswith(pl.home_prefix)):
        home_segs = ["~"] + [s for s in full[len(pl.home_root):].split("/") if s]
    elif full.startswith(_HOME_ROOTS):
        parts = abs_segs
        if len(parts) >= 3 and _user_seg(parts[2]):
            home_segs = parts[2:]
            home_segs[0] = "~"
    elif str_eq(full, "/root") or full.startswith("/root/"):
        home_segs = abs_segs[1:]
        home_segs[0] = "~"
    if pl.has_ws:
        if str_eq(full, pl.ws):
            ws_segs = ["{ws}"]
        elif full.startswith(pl.ws_prefix):
            ws_segs = segs[pl.ws_nsegs - 1:]
            ws_segs[0] = "{ws}"
    return _forms_of_lists(abs_segs, home_segs, ws_segs)


cdef _Forms _forms_rel(_Place pl, str value):
    # _forms_at for a normal relative path when pl.fast_rel: the same forms, with the
    # prefix tests answered by the place.
    cdef _Forms F
    cdef list segs
    if _find_char(value, u'/', 0) < 0 and len(pl.cwd_segs) < C_MAX_PATH_SEGMENTS:
        return _forms_single(pl, value)
    segs = pl.cwd_segs + value.split("/")
    F = _Forms.__new__(_Forms)
    _fill_rel(F, pl, segs)
    _set_keys(F)
    return F


cdef _Forms _forms_single(_Place pl, str value):
    # A one-segment relative path: its forms are the cwd's segments and the value, cut
    # as _fill_rel cuts them. Most such paths meet no glob that needs the lists, only
    # the index keys (second and last segments), so the keys are worked out here and
    # the lists are built on first use (_materialize).
    cdef _Forms F = _Forms.__new__(_Forms)
    cdef list cs = pl.cwd_segs
    cdef Py_ssize_t ncs = len(cs), hl = 0
    cdef object second = None, last = None, a2
    cdef int vend = _end_char(value)
    cdef unsigned int vbit = _bloom_bit(hash(value))
    F.place = pl
    F.value = value
    F.lens[0] = ncs + 1
    F.lens[1] = 0
    F.lens[2] = 0
    F.ntails = 1
    F.tail0 = value
    F.tail_bits[0] = vbit
    # absolute: the cwd's segments and the value
    second = cs[1] if ncs >= 2 else value
    F.second0 = second
    F.second_bits[0] = _bloom_bit(hash(second))
    F.end_chars[0] = vend
    F.end_chars[1] = -1
    F.end_chars[2] = -1
    second = None
    if pl.in_home:
        hl = ncs - pl.home_cut + 2
        second = cs[pl.home_cut] if pl.home_cut < ncs else value
        last = value
    elif pl.in_home_roots:
        a2 = cs[2] if ncs > 2 else value
        if _user_seg(a2):
            hl = ncs - 1
            if hl >= 2:
                second = cs[3] if ncs > 3 else value
            last = value if hl >= 2 else "~"
    elif pl.in_root:
        hl = ncs
        second = cs[2] if ncs > 2 else value
        last = value
    if last is not None:
        F.home_last = last
        F.lens[1] = hl
        if second is not None:
            F.second1 = second
            F.second_bits[1] = _bloom_bit(hash(second))
        if last is value:
            F.end_chars[1] = vend
        else:
            F.end_chars[1] = _end_char(<str>last)
            F.tail1 = last
            F.tail_bits[1] = _bloom_bit(hash(last))
            F.ntails = 2
    if pl.has_ws and pl.in_ws:
        second = cs[pl.ws_nsegs] if pl.ws_nsegs < ncs else value
        F.lens[2] = ncs + 2 - pl.ws_nsegs
        F.second2 = second
        F.second_bits[2] = _bloom_bit(hash(second))
        F.end_chars[2] = vend
        if F.ntails == 2:
            _set_tail(F, 2, value)
            F.tail_bits[2] = vbit
            F.ntails = 3
    return F


cdef int _materialize(_Forms F) except -1:
    cdef _Place pl = <_Place>F.place
    F.place = None
    _fill_rel(F, pl, pl.cwd_segs + [F.value])
    return 0


cdef int _fill_rel(_Forms F, _Place pl, list segs) except -1:
    cdef list abs_segs = segs, home_segs = None, ws_segs = None
    if len(segs) > C_MAX_PATH_SEGMENTS:
        raise LimitError(_PATH_SEGMENTS_MSG)
    if pl.in_home:
        home_segs = segs[pl.home_cut - 1:]
        home_segs[0] = "~"
    elif pl.in_home_roots:
        if len(abs_segs) >= 3:
            s2 = abs_segs[2]
            if _user_seg(s2):
                home_segs = abs_segs[2:]
                home_segs[0] = "~"
    elif pl.in_root:
        home_segs = abs_segs[1:]
        home_segs[0] = "~"
    if pl.has_ws and pl.in_ws:
        ws_segs = segs[pl.ws_nsegs - 1:]
        ws_segs[0] = "{ws}"
    F.abs_segs = abs_segs
    F.home_segs = home_segs
    F.ws_segs = ws_segs
    return 0


cdef object _path_candidate(str arg):
    """The path an argument names, or None: `@file` (curl), `key=value`, `--opt=value`."""
    cdef Py_ssize_t n = len(arg), eq, k, start
    cdef Py_UCS4 c
    if n == 0 or str_eq(arg, "-") or str_eq(arg, _DYN):
        return None
    c = arg[0]
    if c == u'@' and n > 1:
        arg = arg[1:]
    elif c != u'/' and c != u'.' and c != u'~':
        eq = _find_char(arg, u'=', 0)
        if eq >= 0:
            start = 0
            while start < eq and arg[start] == u'-':
                start += 1
            if start < eq:
                for k in range(start, eq):
                    c = arg[k]
                    if not (c.isalnum() or c == u'-' or c == u'_' or c == u'.'):
                        break
                else:
                    arg = arg[eq + 1:]
                    if arg.startswith("@"):
                        arg = arg[1:]
    if not arg or _has_scheme_sep(arg):
        return None
    return arg


cdef Py_ssize_t _find_char(str s, Py_UCS4 ch, Py_ssize_t start) noexcept:
    cdef Py_ssize_t n = len(s), k
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    for k in range(start, n):
        if PyUnicode_READ(kind, data, k) == ch:
            return k
    return -1


cdef bint _has_scheme_sep(str s) noexcept:
    # "://" in s
    cdef Py_ssize_t n = len(s), k
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    for k in range(n - 2):
        if (PyUnicode_READ(kind, data, k) == u':' and PyUnicode_READ(kind, data, k + 1) == u'/'
                and PyUnicode_READ(kind, data, k + 2) == u'/'):
            return True
    return False


# ------------------------------------------------------------------- rules

# How a program's positional arguments are written (ProgramSpec.writes).
cdef enum:
    W_NONE = 0
    W_LAST = 1
    W_ALL = 2
    W_AFTER_FIRST = 3
    W_FIRST = 4
    W_OTHER = 5


@cython.final
cdef class ProgramSpec:
    def __init__(self, d=None, level=0):
        f = program_spec_fields(d, level, ProgramSpec)
        self.value_options = f["value_options"]
        self.data_options = f["data_options"]
        self.data_positionals = f["data_positionals"]
        self.single_dash_long = f["single_dash_long"]
        self.writes = f["writes"]
        self.write_options = f["write_options"]
        self.write_prefixes = f["write_prefixes"]
        self.data_unless = f["data_unless"]
        self.writes_when = f["writes_when"]
        self.global_options = f["global_options"]
        self.subcommand_dashdash = f["subcommand_dashdash"]
        self.long_abbrev = f["long_abbrev"]
        self.toolchain_selector = f["toolchain_selector"]
        self.bundled_first = f["bundled_first"]
        self.digit_flags = f["digit_flags"]
        self.writes_if = f["writes_if"]
        self.chdir_options = f["chdir_options"]
        self.subcommands = f["subcommands"]
        self.level = f["level"]
        self._mode = _write_mode(self.writes)
        self._abbrev_memo = {}


cdef int _write_mode(object writes) except -1:
    if writes == "last":
        return W_LAST
    if writes == "all":
        return W_ALL
    if writes == "after_first":
        return W_AFTER_FIRST
    if writes == "first":
        return W_FIRST
    return W_OTHER


cdef ProgramSpec _EMPTY_SPEC_C = ProgramSpec()
_EMPTY_SPEC = _EMPTY_SPEC_C


# The candidate list of a command without such arguments, and the flag set of one
# without flags (never modified).
cdef list _NO_FORMS = []
cdef set _NO_FLAGS = set()

# What a command has that rules may require (_View.has, Rule._needs): a rule needing a
# feature the command lacks fails one of its tests, so the rule loop skips it with one
# AND instead of a call.
cdef enum:
    N_WRITES = 1 << 0        # written arguments (writes)
    N_PATHS = 1 << 1         # path arguments (paths, reads)
    N_REDIRECTS = 1 << 2
    N_PIPE_IN = 1 << 3
    N_PIPELINE = 1 << 4
    N_CODE_FROM = 1 << 5
    N_CODE = 1 << 6
    N_OPTIONS = 1 << 7
    N_FLAGS = 1 << 8         # flags_all, flags_any
    N_SUDO = 1 << 9
    N_ENV = 1 << 10


@cython.final
@cython.no_gc
@cython.freelist(8)
cdef class _View:
    """Derived facts about one simple command, computed once and shared by its rules.
    Not tracked by the cycle collector (nor are _Forms, _Place, _ToolCtx): these per-call
    objects only refer to strings, containers and each other in one direction, so they
    are never part of a cycle."""
    cdef SimpleCommand sc
    cdef set flags
    cdef dict options
    cdef list positionals
    cdef list path_args
    cdef list writes
    cdef str cwd
    cdef object home
    cdef str ws
    cdef list _forms
    cdef dict _forms_map
    cdef _Place _place
    cdef unsigned int has
    cdef list _path_cands
    cdef list _read_cands
    cdef list _pos_cands
    cdef list _write_cands
    # The engine's word index and its context here (None until needed), and the
    # candidate lists above without the words it rules out, for the rules it stands for.
    cdef Engine _engine
    cdef _WordIndex _widx
    cdef _WordCtx _wctx
    cdef list _pf_path_cands
    cdef list _pf_read_cands
    cdef list _pf_write_cands

    # What the path rules look at, each list computed on first use: the forms of the
    # paths named by the path arguments, by those that are not also written, and by the
    # written arguments; the path named by each positional (or None).
    cdef list path_cands(self):
        cdef object p
        if self._path_cands is None:
            if not self.path_args:
                self._path_cands = _NO_FORMS
                return _NO_FORMS
            self._path_cands = []
            for a in self.path_args:
                p = _path_candidate(a)
                if p is not None:
                    self._path_cands.append(self.forms(p))
        return self._path_cands

    cdef list read_cands(self):
        cdef object p
        if self._read_cands is None:
            if not self.writes:
                # nothing is written: the paths read are all the paths named
                self._read_cands = self.path_cands()
                return self._read_cands
            self._read_cands = []
            written = frozenset(self.writes) if len(self.writes) > 8 else self.writes
            for a in self.path_args:
                if a in written:
                    continue
                p = _path_candidate(a)
                if p is not None:
                    self._read_cands.append(self.forms(p))
        return self._read_cands

    cdef list pf_path_cands(self):
        cdef object p
        if self._pf_path_cands is None:
            if not self.path_args:
                self._pf_path_cands = _NO_FORMS
                return _NO_FORMS
            self._pf_path_cands = []
            for a in self.path_args:
                p = _path_candidate(a)
                if p is not None and _view_maybe(self, <str>p):
                    self._pf_path_cands.append(self.forms(p))
        return self._pf_path_cands

    cdef list pf_read_cands(self):
        cdef object p
        if self._pf_read_cands is None:
            if not self.writes:
                self._pf_read_cands = self.pf_path_cands()
                return self._pf_read_cands
            self._pf_read_cands = []
            written = frozenset(self.writes) if len(self.writes) > 8 else self.writes
            for a in self.path_args:
                if a in written:
                    continue
                p = _path_candidate(a)
                if p is not None and _view_maybe(self, <str>p):
                    self._pf_read_cands.append(self.forms(p))
        return self._pf_read_cands

    cdef list pf_write_cands(self):
        cdef str w
        cdef object p
        if self._pf_write_cands is None:
            if not self.writes:
                self._pf_write_cands = _NO_FORMS
                return _NO_FORMS
            self._pf_write_cands = []
            for w in self.writes:
                p = _path_candidate(w) if w.startswith("@") else w
                if p and _view_maybe(self, <str>p):
                    self._pf_write_cands.append(self.forms(p))
        return self._pf_write_cands

    cdef list pos_cands(self):
        if self._pos_cands is None:
            self._pos_cands = [_path_candidate(a) for a in self.positionals]
        return self._pos_cands

    cdef list write_cands(self):
        cdef str w
        cdef object p
        if self._write_cands is None:
            if not self.writes:
                self._write_cands = _NO_FORMS
                return _NO_FORMS
            self._write_cands = []
            for w in self.writes:
                p = _path_candidate(w) if w.startswith("@") else w
                if p:
                    self._write_cands.append(self.forms(p))
        return self._write_cands

    cdef _Forms forms(self, str value):
        # A command names few paths, so the memo is a flat [value, forms, ...] list,
        # until it holds _FORMS_FLAT of them: then a dict, so that a command naming
        # thousands of paths costs linear time.
        cdef Py_ssize_t k, n
        cdef _Forms f
        cdef object found
        if self._forms_map is not None:
            found = self._forms_map.get(value)
            if found is not None:
                return <_Forms>found
            f = _forms_at(self._place, value)
            self._forms_map[value] = f
            return f
        if self._forms is None:
            self._forms = []
            self._place = _place(self.cwd, self.home, self.ws)
        else:
            n = len(self._forms)
            for k in range(0, n, 2):
                if str_eq(<str>self._forms[k], value):
                    return <_Forms>self._forms[k + 1]
            if n >= 2 * _FORMS_FLAT:
                self._forms_map = {self._forms[k]: self._forms[k + 1] for k in range(0, n, 2)}
                self._forms = None
                f = _forms_at(self._place, value)
                self._forms_map[value] = f
                return f
        f = _forms_at(self._place, value)
        self._forms.append(value)
        self._forms.append(f)
        return f


cdef enum:
    _FORMS_FLAT = 16


# "-x" for every ASCII x: short flags are split out of clusters like -rf on every call.
cdef list _SHORT_FLAGS = ["-" + chr(i) for i in range(128)]


cdef enum:
    _ABBREV_MEMO_MAX = 512


cdef tuple _abbreviated(ProgramSpec spec, str name):
    """The long options a program that accepts unambiguous prefixes may read name as:
    name itself, and every option of spec.long_abbrev that it is a proper prefix of.
    Remembered per program for the first _ABBREV_MEMO_MAX names (agents repeat their
    flags); past that, computed each time."""
    cdef list out
    cdef str full
    cdef tuple found
    cdef object known = spec._abbrev_memo.get(name)
    if known is not None:
        return <tuple>known
    if name in spec.long_abbrev:
        found = (name,)
    else:
        out = [name]
        for full in spec.long_abbrev:
            if full.startswith(name):
                out.append(full)
        found = tuple(out)
    if len(spec._abbrev_memo) < _ABBREV_MEMO_MAX:
        spec._abbrev_memo[name] = found
    return found


cdef bint _any_in(tuple names, frozenset options):
    for x in names:
        if x in options:
            return True
    return False


cdef bint _any_key(tuple names, dict d) except -1:
    cdef object name
    for name in names:
        if name in d:
            return True
    return False


cdef inline bint _local_target(str arg):
    """Whether a positional a write mode names may be a local file: not `-` (stdin or
    stdout) nor a URL (`s3://bucket/key`, `rtmp://host/live`)."""
    return not str_eq(arg, "-") and "://" not in arg


cdef inline void _add_option(dict options, str name, object val):
    found = options.get(name)
    if found is None:
        options[name] = [val]
    else:
        (<list>found).append(val)


cdef _View _make_view(SimpleCommand sc, ProgramSpec spec, object home, str ws):
    cdef _View v = _View.__new__(_View)
    cdef set flags = None
    cdef dict options = None
    cdef list positionals = []
    cdef list path_args = []
    cdef list writes = []
    cdef list args = sc.args
    cdef Py_ssize_t n, k = 0, j, la, eq, idx, data, npos, base
    cdef ProgramSpec sub
    cdef bint ended = False, has_eq
    cdef str a, name, f
    cdef Py_UCS4 c
    cdef object val, globals_
    cdef tuple names
    cdef int mode
    v.sc = sc
    v.cwd = sc.cwd or ws
    v.home = home
    v.ws = ws
    if spec.bundled_first:
        args = unbundle(args, spec.value_options)
    n = len(args)
    while k < n:
        a = <str?>args[k]
        if not ended and str_eq(a, "--"):
            if spec.subcommand_dashdash and not positionals:
                k += 1      # ends the global options only
                continue
            ended = True
            if flags is None:
                flags = set()
            flags.add("--")
            k += 1
            continue
        la = len(a)
        if not ended and la > 1 and a[0] == u'-' and (not a[1].isdigit() or spec.digit_flags):
            globals_ = spec.global_options if not positionals and spec.global_options else None
            if a[1] == u'-' or spec.single_dash_long:
                eq = _find_char(a, u'=', 0)
                if eq >= 0:
                    name = a[:eq]
                    val = a[eq + 1:]
                    has_eq = True
                else:
                    name = a
                    val = ""
                    has_eq = False
                if flags is None:
                    flags = set()
                flags.add(name)
                if spec.long_abbrev and a[1] == u'-' and len(name) > 2:
                    names = _abbreviated(spec, name)
                    if len(names) > 1:
                        flags.update(names)     # (names[0] is name, added above)
                else:
                    names = (name,)
                # an abbreviation of a value option takes the next word as well
                if not has_eq and k + 1 < n and (name in spec.value_options
                                                 or (globals_ is not None and name in globals_)
                                                 or (len(names) > 1 and _any_in(names, spec.value_options))):
                    k += 1
                    val = args[k]
                    has_eq = True
                if has_eq:
                    for name in names:
                        if options is None:
                            options = {}
                        _add_option(options, name, val)
                        if name not in spec.data_options:
                            path_args.append(val)
                        if name in spec.write_options:
                            writes.append(val)
            else:
                if flags is None:
                    flags = set()
                flags.add(a)
                for j in range(1, la):
                    c = a[j]
                    f = <str>_SHORT_FLAGS[<Py_ssize_t>c] if c < 128 else "-" + a[j:j + 1]
                    flags.add(f)
                    if f in spec.value_options or (globals_ is not None and f in globals_):
                        val = a[j + 1:]
                        if j + 1 < la and a[j + 1] == u'=':
                            val = a[j + 2:]
                        elif not val and k + 1 < n:
                            k += 1
                            val = args[k]
                        if options is None:
                            options = {}
                        _add_option(options, f, val)
                        if f not in spec.data_options:
                            path_args.append(val)
                        if f in spec.write_options:
                            writes.append(val)
                        break
            k += 1
            continue
        if spec.toolchain_selector and not positionals and la > 0 and a[0] == u'+':
            k += 1          # `cargo +nightly ...`: not the subcommand
            continue
        positionals.append(a)
        k += 1
        # a subcommand with its own table: the words after it are read by that table
        if spec.subcommands is not None and len(positionals) == spec.level + 1:
            sub = spec.subcommands.get(a)
            if sub is not None:
                spec = sub
    if flags is None:
        flags = _NO_FLAGS
    data = spec.data_positionals
    if data and spec.data_unless and not flags.isdisjoint(spec.data_unless):
        data = 0
    npos = len(positionals)
    base = spec.level        # the subcommand words are not paths
    for idx in range(base, npos):
        if data < 0 or idx - base < data:
            continue
        a = <str>positionals[idx]
        path_args.append(a)
        for pre in spec.write_prefixes:
            if a.startswith(pre):
                writes.append(a[len(pre):])
    mode = spec._mode
    if spec.writes_when and flags.isdisjoint(spec.writes_when):
        mode = W_NONE
    if mode == W_LAST:
        if npos - base >= 2 and _local_target(<str>positionals[npos - 1]):
            writes.append(positionals[npos - 1])
    elif mode == W_ALL:
        if data >= 0:
            writes.extend(positionals[base + data:])
    elif mode == W_AFTER_FIRST:
        writes.extend(positionals[base + 1:])
    elif mode == W_FIRST:
        if npos > base and _local_target(<str>positionals[base]):
            writes.append(positionals[base])
    if spec.writes_if is not None:
        writes.extend(conditional_writes(spec.writes_if, flags, options, positionals, base, data))
    # chdir_rebased (plain Python) changes nothing unless one of the options is given
    if spec.chdir_options and options and _any_key(spec.chdir_options, options):
        path_args, writes = chdir_rebased(spec.chdir_options, options, path_args, writes)
    for op, target in sc.redirects:
        if obj_eq(op, ">") or obj_eq(op, ">>"):
            writes.append(target)
        elif obj_eq(op, "<"):
            path_args.append(target)
    v.flags = flags
    v.options = options
    v.positionals = positionals
    v.path_args = path_args
    v.writes = writes
    v._forms = None
    v.has = ((N_WRITES if writes else 0) | (N_PATHS if path_args else 0)
             | (N_REDIRECTS if sc.redirects else 0) | (N_PIPE_IN if sc.pipe_in else 0)
             | (N_PIPELINE if sc.pipeline else 0) | (N_CODE_FROM if sc.code_from else 0)
             | (N_CODE if sc.code else 0) | (N_OPTIONS if options else 0)
             | (N_FLAGS if flags else 0) | (N_SUDO if sc.sudo else 0) | (N_ENV if sc.env else 0))
    return v


@cython.final
@cython.no_gc
@cython.freelist(4)
cdef class _ToolCtx:
    """Per-call memo for tool-input rules: path forms by value, and the flattened input
    (the reference recomputes both for every rule; the values are the same)."""
    cdef str cwd
    cdef object home
    cdef object forms_of
    cdef dict memo
    cdef _Place place
    cdef object flat
    cdef object flat_stripped
    # the url_hosts key's reading of the input: its URL field (url_read once looked for),
    # whether its scheme is http(s) (0 not yet read, 1 yes, 2 no), the kinds of its hosts
    cdef bint url_read
    cdef object url
    cdef int url_http
    cdef object url_kinds

    cdef _Forms forms(self, object value):
        cdef object f
        if self.forms_of is not None:
            return _make_forms(_forms_of(self.forms_of(value)))
        if self.memo is None:
            self.memo = {}
            self.place = _place(self.cwd, self.home, self.cwd)
        else:
            f = self.memo.get(value)
            if f is not None:
                return <_Forms>f
        f = _forms_at(self.place, value)
        self.memo[value] = f
        return <_Forms>f


cdef _ToolCtx _tool_ctx(str cwd, object home, object forms_of):
    cdef _ToolCtx ctx = _ToolCtx.__new__(_ToolCtx)
    ctx.cwd = cwd
    ctx.home = home
    ctx.forms_of = forms_of
    return ctx


cdef int _tristate(object value):
    # Rule.sudo / Rule.dynamic: -1 unset, 0/1 a bool, 2 anything else (compared as the
    # reference does, with `!=`).
    if value is None:
        return -1
    if value is True:
        return 1
    if value is False:
        return 0
    return 2


cdef inline bint _differs(int mode, bint actual, object wanted) except -1:
    if mode == 2:
        return bool(actual != wanted)
    return actual != mode


cdef inline bint _any_text(GlobList gl, object names) except -1:
    for n in names:
        if gl._match_text(<str?>n):
            return True
    return False


cdef inline tuple _forms_of(object forms):
    return forms if type(forms) is tuple else tuple(forms)


@cython.final
cdef class Rule:
    """A compiled rule. Matcher fields are None when the rule does not use them."""

    def __init__(self, spec, order):
        f = rule_fields(spec, order, GlobList)
        self.id = f["id"]
        self.verdict = f["verdict"]
        self.reason = f["reason"]
        self.order = f["order"]
        self.is_bash = f["is_bash"]
        self.tools = f["tools"]
        self.programs = f["programs"]
        self.subcommand = f["subcommand"]
        self.flags_all = f["flags_all"]
        self.flags_any = f["flags_any"]
        self.flags_none = f["flags_none"]
        self.args = f["args"]
        self.args_all = f["args_all"]
        self.paths = f["paths"]
        self.paths_all = f["paths_all"]
        self.writes = f["writes"]
        self.redirects = f["redirects"]
        self.reads = f["reads"]
        self.options = f["options"]
        self.sudo = f["sudo"]
        self.pipe_in = f["pipe_in"]
        self.pipeline = f["pipeline"]
        self.code_from = f["code_from"]
        self.code = f["code"]
        self.origin = f["origin"]
        self.dynamic = f["dynamic"]
        self.env = f["env"]
        self.fields = f["fields"]
        self.any_field = f["any_field"]
        self.nargs_min = f["nargs_min"]
        self.nargs_max = f["nargs_max"]
        self.strip_literals = f["strip_literals"]
        self.tests = f["tests"]
        self._sudo = _tristate(self.sudo)
        self._dynamic = _tristate(self.dynamic)
        self._nsub = len(self.subcommand)
        self._env_items = list(self.env.items()) if self.env is not None else None
        self._field_items = ([(k, _make_rx(rx)) for k, rx in self.fields.items()]
                             if self.fields is not None else None)
        self._code_rx = _make_rx(self.code) if self.code is not None else None
        self._any_rx = _make_rx(self.any_field) if self.any_field is not None else None
        self._needs = self._needs_of()

    cdef unsigned int _needs_of(self):
        # Features without which one of _match_command's tests fails. Not for rules whose
        # sudo/dynamic tests compare odd values (they run first and may raise), and env
        # only when no code regex (which may raise on odd text) is tested before it.
        cdef unsigned int needs = 0
        if self._sudo == 2 or self._dynamic == 2:
            return 0
        if self.writes is not None:
            needs |= N_WRITES
        if self.paths is not None or self.reads is not None:
            needs |= N_PATHS
        if self.redirects is not None:
            needs |= N_REDIRECTS
        if self.pipe_in is not None:
            needs |= N_PIPE_IN
        if self.pipeline is not None:
            needs |= N_PIPELINE
        if self.code_from is not None:
            needs |= N_CODE_FROM
        if self.code is not None:
            needs |= N_CODE
        if self.options is not None:
            needs |= N_OPTIONS
        if self.flags_all or self.flags_any:
            needs |= N_FLAGS
        if self._sudo == 1:
            needs |= N_SUDO
        if self._env_items and self.code is None:
            needs |= N_ENV
        return needs

    def match_command(self, v):
        return _match_command(self, <_View?>v)

    def match_input(self, tool_input, forms_of):
        return _match_input(self, tool_input, _tool_ctx("", None, forms_of))


cdef bint _match_command(Rule r, _View v) except -1:
    # Rule.match_command of the reference: the same tests in the same order (a regex can
    # raise on odd text, so which test runs first is part of the behaviour).
    cdef SimpleCommand sc = v.sc
    cdef list pos = v.positionals
    cdef Py_ssize_t nsub = r._nsub, npos = len(pos), nrest, k
    cdef set flags
    cdef tuple alts
    cdef object p, vals
    cdef _Forms F
    cdef list cands
    cdef bint seen
    cdef str text
    if r._sudo >= 0 and _differs(r._sudo, sc.sudo, r.sudo):
        return False
    if r._dynamic >= 0 and _differs(r._dynamic, sc.dynamic, r.dynamic):
        return False
    if r.origin is not None and not r.origin._match_text(sc.origin):
        return False
    if nsub:
        if npos < nsub:
            return False
        for k in range(nsub):
            if not (<GlobList>r.subcommand[k])._match_text(<str>pos[k]):
                return False
    flags = v.flags
    for alts in r.flags_all:
        for f in alts:
            if f in flags:
                break
        else:
            return False
    if r.flags_any:
        for f in r.flags_any:
            if f in flags:
                break
        else:
            return False
    for f in r.flags_none:
        if f in flags:
            return False
    nrest = npos - nsub
    if r.nargs_min is not None and nrest < r.nargs_min:
        return False
    if r.nargs_max is not None and nrest > r.nargs_max:
        return False
    if r.args is not None:
        for k in range(nsub, npos):
            if r.args._match_text(<str>pos[k]):
                break
        else:
            return False
    if r.args_all is not None:
        if nrest == 0:
            return False
        for k in range(nsub, npos):
            if not r.args_all._match_text(<str>pos[k]):
                return False
    if r.paths is not None:
        for F in (v.pf_path_cands() if r.pf else v.path_cands()):
            if r.paths._match_forms(F):
                break
        else:
            return False
    if r.paths_all is not None:
        seen = False
        cands = v.pos_cands()
        for k in range(nsub, npos):
            p = cands[k]
            if p is None:
                continue
            seen = True
            if r.pf and not _view_maybe(v, <str>p):
                return False
            if not r.paths_all._match_forms(v.forms(<str>p)):
                return False
        if not seen:
            return False
    if r.reads is not None:
        for F in (v.pf_read_cands() if r.pf else v.read_cands()):
            if r.reads._match_forms(F):
                break
        else:
            return False
    if r.options is not None:
        for name, gl in r.options:
            vals = v.options.get(name) if v.options is not None else None
            if vals is not None and _any_text(<GlobList>gl, vals):
                break
        else:
            return False
    if r.writes is not None:
        for F in (v.pf_write_cands() if r.pf else v.write_cands()):
            if r.writes._match_forms(F):
                break
        else:
            return False
    if r.redirects is not None:
        for _op, target in sc.redirects:
            if r.pf and not _view_maybe(v, <str?>target):
                continue
            if r.redirects._match_forms(v.forms(<str?>target)):
                break
        else:
            return False
    if r.pipe_in is not None and not _any_text(r.pipe_in, sc.pipe_in):
        return False
    if r.pipeline is not None and not _any_text(r.pipeline, sc.pipeline):
        return False
    if r.code_from is not None and not _any_text(r.code_from, sc.code_from):
        return False
    if r.code is not None:
        if not sc.code:
            return False
        text = _strip_sql(sc.code) if r.strip_literals else sc.code
        if not _re_search(r._code_rx, text):
            return False
    if r._env_items is not None:
        for name, gl in r._env_items:
            val = sc.env.get(name)
            if val is None or not (<GlobList>gl)._match_text(<str?>val):
                return False
    if r.tests is not None:
        for test, compiled in r.tests:
            # the keys' tests written in _rulespec and _sql run as C calls here
            if test is _test_bare_options:
                if not _bare_option(<frozenset>compiled, sc.args):
                    return False
                continue
            if test is _test_read_only:
                if not _sql_read_only_c(compiled, sc):
                    return False
                continue
            if test is _test_arg_hosts and compiled == _METADATA_ONLY and not _metadata_gate(sc):
                return False
            if test is _test_workdir_scratch:
                if not _scratch_gate(sc, v.ws) or not test(compiled, sc, v.ws):
                    return False
                continue
            if not test(compiled, sc):
                return False
    return True


cdef bint _scratch_gate(SimpleCommand sc, str ws) except -1:
    # whether _rulespec.test_workdir_scratch may find a temporary or downloads directory:
    # a path resolves under one only if it or the directory it is resolved against holds
    # one of _shell_shared.SCRATCH_NAMES
    cdef str cwd = sc.cwd or ws
    if scratch_named(cwd):
        return True
    for a in sc.args:
        if scratch_named(<str?>a):
            return True
    return False


cdef bint _bare_option(frozenset names, list args) except -1:
    # _rulespec.test_bare_options (the reference) on a command's args, typed
    cdef Py_ssize_t i, last = len(args) - 1
    cdef str nxt
    for i in range(last + 1):
        if args[i] in names:
            if i == last:
                return True
            nxt = <str?>args[i + 1]
            if len(nxt) > 0 and nxt[0] == u"-":
                return True
    return False


cdef bint _metadata_gate(SimpleCommand sc) except -1:
    # _net's arg_hosts gate (_METADATA_GATE over the args and code joined by newlines) as
    # a pass over their characters: False when every text is ASCII and holds none of what
    # a metadata host's spellings hold; True (test_arg_hosts then reads) otherwise.
    cdef object a
    for a in sc.args:
        if _gate_text(<str?>a):
            return True
    return sc.code is not None and _gate_text(sc.code)


cdef bint _lit_at(const Py_UCS1* p, Py_ssize_t n, Py_ssize_t i, const char* lit, Py_ssize_t k):
    # the lowercase ASCII literal lit (k characters) stands at p[i], in any case
    cdef Py_ssize_t j
    cdef Py_UCS1 c
    if i + k > n:
        return False
    for j in range(k):
        c = p[i + j]
        if 65 <= c <= 90:
            c += 32
        if c != <Py_UCS1>lit[j]:
            return False
    return True


# _METADATA_GATE's literals, lowercase (the hex digits and "metadata" are matched in any case)
cdef tuple _GATE_LITERALS = (b"0x", b"169.254", b"169-254", b"100.100", b"100-100", b"::", b"a9fe", b"fd00",
                             b"metadata", b"instance-data", b"--resolve", b"--connect-to")


cdef bint _gate_text(str s):
    # whether s, one of the gate's newline-separated texts, matches _METADATA_GATE: a
    # literal of it in any case, a run of digits starting with 0 (two or more) or of four
    # or more not after a colon; True for text that is not ASCII. Each position is
    # compared with a fixed number of literals: linear.
    cdef Py_ssize_t n = len(s), i = 0, j
    cdef const Py_UCS1* p
    cdef Py_UCS1 c, before = 10
    cdef object lit
    if not PyUnicode_IS_ASCII(s):
        return True
    p = <const Py_UCS1*>PyUnicode_DATA(s)
    while i < n:
        c = p[i]
        if 65 <= c <= 90:
            c += 32
        if c == 91 or c == 37:                              # [ %
            return True
        if 48 <= c <= 57:
            if not (48 <= before <= 57):                    # a run of digits starts
                j = i
                while j < n and 48 <= p[j] <= 57:
                    j += 1
                if c == 48 and j - i >= 2 or j - i >= 4 and before != 58:
                    return True
        if c in b"01:afmi-":                                # a literal's first character
            for lit in _GATE_LITERALS:
                if (<const char*><bytes>lit)[0] == c and _lit_at(p, n, i, <bytes>lit, len(<bytes>lit)):
                    return True
        before = c
        i += 1
    return False


def metadata_gate(text):
    """Whether text passes the compiled engine's arg_hosts gate (as _net._METADATA_GATE
    finds a match in it), for tests."""
    return _gate_text(text)


cdef object _bound_match(object rx):
    # The compiled RE2 object's own Match method under the `re2` wrapper, or None to go
    # through rx.search. search() is a generator that also builds a match object with
    # decoded offsets; a rule only asks whether there is a match, which is the first
    # span Match returns on the same UTF-8 text.
    if rx is None or _UNANCHORED is None:
        return None
    return getattr(getattr(rx, "_regexp", None), "Match", None)


@cython.final
cdef class _Rx:
    """A rule regex with what is known of it before any text is seen (_prefilter)."""


cdef _Rx _make_rx(object rx):
    cdef _Rx r = _Rx.__new__(_Rx)
    cdef object pre = prefilter(rx.pattern)
    r.rx = rx
    r.match = _bound_match(rx)
    r.always = pre is ALWAYS
    r.atoms = pre if type(pre) is tuple else None
    r.minlen = min_length(rx.pattern)
    return r


# (text, text.lower()) for the last ASCII text searched: a call's rules search the same
# few texts (a command's code, a field, the flattened input) many times in a row.
cdef tuple _last_low = (None, None)


cdef bint _re_search(_Rx r, object text) except -1:
    global _last_low
    cdef bytes b
    cdef str low
    cdef tuple last
    if type(text) is not str:
        return r.rx.search(text) is not None
    if len(<str>text) < r.minlen and PyUnicode_IS_ASCII(text):
        return False
    # The literals are looked for one by one, each a pass over the text: past a
    # kilobyte one pass of RE2 costs less than the search it would skip.
    if PyUnicode_IS_ASCII(text) and (r.always or r.atoms is not None and len(<str>text) <= 1024):
        if r.always:
            return True
        last = _last_low
        if last[0] is text:
            low = <str>last[1]
        else:
            low = (<str>text).lower()
            _last_low = (text, low)
        for req in r.atoms:
            for atom in <tuple>req:
                if str_has(low, <str>atom):
                    break
            else:
                return False
    if r.match is None:
        return r.rx.search(text) is not None
    b = (<str>text).encode("utf-8")
    return r.match(_UNANCHORED, b, 0, len(b))[0] != _NULL_SPAN


cdef inline object _dget(object d, object key):
    if type(d) is dict:
        return (<dict>d).get(key)
    return d.get(key)


cdef bint _match_input(Rule r, object tool_input, _ToolCtx ctx) except -1:
    cdef bint found
    cdef _Forms F
    cdef object val, text
    if r.paths is not None or r.paths_all is not None:
        found = False
        for key in _PATH_FIELDS:
            val = _dget(tool_input, key)
            if isinstance(val, str) and val:
                found = True
                F = ctx.forms(_exact(val))
                if r.paths is not None and not r.paths._match_forms(F):
                    return False
                if r.paths_all is not None and not r.paths_all._match_forms(F):
                    return False
        if not found:
            return False
    if r._field_items is not None:
        for key, rx in r._field_items:
            val = _dget(tool_input, key)
            if val is None:
                return False
            if not isinstance(val, str):
                val = _flatten(val)
            if r.strip_literals:
                val = _strip_sql(_exact(val))
            if not _re_search(<_Rx>rx, val):
                return False
    if r.any_field is not None:
        if ctx.flat is None:
            ctx.flat = _flatten(tool_input)
        if r.strip_literals:
            if ctx.flat_stripped is None:
                ctx.flat_stripped = _strip_sql(ctx.flat)
            text = ctx.flat_stripped
        else:
            text = ctx.flat
        if not _re_search(r._any_rx, text):
            return False
    if r.tests is not None:
        for test, compiled in r.tests:
            if test is _test_url_hosts:
                if not _url_hosts_of(ctx, compiled, tool_input):
                    return False
            elif test is _test_input_read_only:
                if not _sql_input_read_only_c(compiled, tool_input):
                    return False
            elif not test(compiled, tool_input):
                return False
    return True


cdef object _url_field(object tool_input):
    # _net.url_field (the reference), typed: a C call for every tool call a web rule asks
    cdef object value
    if not isinstance(tool_input, dict):
        return None
    value = _dget(tool_input, "url")
    if isinstance(value, str):
        return value
    value = _dget(tool_input, "uri")
    return value if isinstance(value, str) else None


cdef bint _url_hosts_of(_ToolCtx ctx, object kinds, object tool_input) except -1:
    # _net.test_url_hosts with the input's URL field, its scheme and its hosts read once
    # per call, however many rules ask
    cdef str low
    if not ctx.url_read:
        ctx.url = _url_field(tool_input)
        ctx.url_read = True
    if ctx.url is None:
        return False
    if "non_http" in kinds:
        if ctx.url_http == 0:
            low = (<str>ctx.url).lstrip()[:8].lower()
            ctx.url_http = 1 if low.startswith("http://") or low.startswith("https://") else 2
        if ctx.url_http == 2:
            return True
    if kinds == _NON_HTTP_ONLY:
        return False
    if ctx.url_kinds is None:
        ctx.url_kinds = _plain_url_kinds(<str>ctx.url)
        if ctx.url_kinds is None:
            ctx.url_kinds = _url_hosts(ctx.url, True)
    return not kinds.isdisjoint(ctx.url_kinds)


cdef frozenset _KIND_METADATA = frozenset({"metadata"})
cdef frozenset _KIND_LOOPBACK = frozenset({"loopback"})
cdef frozenset _KIND_PRIVATE = frozenset({"private"})
cdef frozenset _KIND_NAME = frozenset({"name"})


cdef object _plain_url_kinds(str url):
    # What _net.url_hosts(url, True) finds for the URL most calls give, read in C: ASCII,
    # one ":" (its scheme's, slashes after it), an authority of letters, digits, "-" and
    # "." naming a host whose last label is not a number (no user, port, address, escape
    # or trailing dot). None for any other URL, which _net reads.
    cdef Py_ssize_t n = len(url), i, j, end, k, dot
    cdef const Py_UCS1* p
    cdef Py_UCS1 c
    cdef str host, infix
    if n > _MAX_URL_TEXT or not PyUnicode_IS_ASCII(url):
        return None
    p = <const Py_UCS1*>PyUnicode_DATA(url)
    i = -1
    for k in range(n):
        if p[k] == 58:
            if i >= 0:
                return None                 # a second ":": a port, userinfo, another URL
            i = k
    if i <= 0 or i + 1 >= n or not (p[i + 1] == 47 or p[i + 1] == 92):
        return None
    c = p[i - 1]
    if not (97 <= c <= 122 or 65 <= c <= 90 or 48 <= c <= 57 or c == 43 or c == 46 or c == 45):
        return None
    j = i + 1
    while j < n and (p[j] == 47 or p[j] == 92):
        j += 1
    end = j
    dot = -1
    while end < n and not (p[end] == 47 or p[end] == 92 or p[end] == 63 or p[end] == 35):
        c = p[end]
        if c == 46:
            dot = end
        elif not (97 <= c <= 122 or 65 <= c <= 90 or 48 <= c <= 57 or c == 45):
            return None
        end += 1
    if end == j or end - j > 255 or dot == end - 1:
        return None                         # no host, too long for one, or a trailing dot
    k = dot + 1 if dot >= j else j
    if k + 1 < end and p[k] == 48 and (p[k + 1] == 120 or p[k + 1] == 88):
        return None                         # a last label 0x...: an address
    while k < end and 48 <= p[k] <= 57:
        k += 1
    if k == end:
        return None                         # a last label of digits: an address
    host = url[j:end].lower()
    if host in METADATA_NAMES:
        return _KIND_METADATA
    for infix in METADATA_INFIXES:
        if str_has(host, infix):
            return _KIND_METADATA
    if host == "localhost" or host.endswith(".localhost"):
        return _KIND_LOOPBACK
    if host.endswith(PRIVATE_SUFFIXES):
        return _KIND_PRIVATE
    return _KIND_NAME


def plain_url_kinds(url):
    """The kinds of a URL's hosts as the compiled engine reads the most common URLs
    without _net (None for the others), for tests against _net.url_hosts."""
    return _plain_url_kinds(url)


@cython.final
@cython.no_gc
cdef class _ProgRules:
    """A program's candidate rules, and those left for each first positional."""
    cdef tuple rules
    cdef bint has_sub           # some rule can be ruled out by the first positional
    cdef dict by_first


cdef enum:
    _WCTX_KEPT = 256


@cython.final
cdef class Engine:
    """Compiled rules; `evaluate` is the tier-1 decision."""

    def __init__(self, rule_specs, program_specs=None):
        (self.rules, self.programs, self._bash_exact, self._bash_glob, self._bash_any, self._tool_rules,
         self.word_index, self._option_words) = engine_tables(rule_specs, program_specs, Rule, ProgramSpec)
        self._prog_cache = {}
        self._sub_cache = {}
        self._sub_cache_size = 0
        self._tool_cache = {}
        self._parsed = None
        self._widx = _WordIndex(self.word_index) if self.word_index is not None else None
        self._wctx = None
        self._wctx_by_cwd = {}

    cdef _WordCtx _word_ctx(self, str cwd, object home):
        # The word context of the last call is kept: calls in a row mostly share it. The
        # others are kept by working directory (up to _WCTX_KEPT of them), since calls
        # of a few agents in their directories interleave.
        cdef _WordCtx ctx = self._wctx
        cdef object found
        if ctx is not None and str_eq(ctx.cwd, cwd) and obj_eq(ctx.home, home) and type(home) is type(ctx.home):
            return ctx
        found = self._wctx_by_cwd.get(cwd)
        if found is not None:
            ctx = <_WordCtx>found
            if obj_eq(ctx.home, home) and type(home) is type(ctx.home):
                self._wctx = ctx
                return ctx
        ctx = _make_word_ctx(self._widx, cwd, home)
        if len(self._wctx_by_cwd) >= _WCTX_KEPT:
            self._wctx_by_cwd.clear()
        self._wctx_by_cwd[cwd] = ctx
        self._wctx = ctx
        return ctx

    def word_context(self, cwd, home):
        """_globs.word_context of the engine's word index for words resolved in cwd with
        home: None when it rules no word out there, else (max_len, max_slashes)."""
        cdef _WordCtx ctx
        if self._widx is None:
            return None
        ctx = self._word_ctx(_exact(cwd), _exact(home))
        return (ctx.max_len, ctx.max_slashes) if ctx.usable else None

    def word_may_match(self, word, cwd, home):
        """Whether the engine's word index lets word through in cwd with home: the
        compiled kernel, for tests against _globs.word_may_match."""
        if self._widx is None:
            return True
        return _word_may_match(self._widx, self._word_ctx(_exact(cwd), _exact(home)), _exact(word))

    def parsed(self, command, cwd, home):
        """The simple commands the last Bash evaluation parsed, when it was of ``command``
        in ``cwd`` with ``home``, else None (see the pure twin)."""
        return last_parse(self._parsed, command, cwd, home)

    def rules_for_program(self, prog):
        return self._rules_for_program(_exact(prog))

    def rules_for_tool(self, tool):
        return self._rules_for_tool(_exact(tool))

    def command_matches(self, sc, home, ws):
        """Every rule that matches simple command ``sc`` (of ``analyze``) judged in
        workspace ``ws`` with ``home``, in priority order (see the pure twin)."""
        cdef SimpleCommand c = <SimpleCommand?>sc
        cdef _View view = _make_view(c, <ProgramSpec?>self.programs.get(c.program, _EMPTY_SPEC_C), home, ws)
        cdef unsigned int lacks = ~view.has
        cdef list out = []
        cdef Rule r
        for r in self._rules_for_program(_exact(c.program)):
            if r._needs & lacks:
                continue
            if _match_command(r, view):
                out.append(r)
        return out

    cdef tuple _rules_for_program(self, str prog):
        cdef object c = self._prog_cache.get(prog)
        cdef list cand
        cdef Rule r
        if c is None:
            cand = list(self._bash_exact.get(prog, ()))
            for r in self._bash_glob:
                if r.programs._match_text(prog):
                    cand.append(r)
            cand.extend(self._bash_any)
            cand.sort(key=_prio)
            c = tuple(cand)
            if len(self._prog_cache) < C_MAX_RULE_LISTS:
                self._prog_cache[prog] = c
        return <tuple>c

    cdef tuple _rules_for_command(self, str prog, list positionals):
        # rules_for_program without the rules whose first subcommand rules out this
        # command: _match_command would reject them on that test, and nothing it tests
        # before can raise (rules comparing sudo/dynamic to odd values are kept). The
        # filtered tuples are kept per program and first positional, up to a bound.
        cdef object first = positionals[0] if positionals else None
        cdef object found = self._sub_cache.get(prog)
        cdef _ProgRules pr
        cdef list kept
        cdef Rule r
        if found is None:
            pr = _ProgRules.__new__(_ProgRules)
            pr.rules = self._rules_for_program(prog)
            pr.by_first = {}
            pr.has_sub = False
            for r in pr.rules:
                if r._nsub and r._sudo != 2 and r._dynamic != 2:
                    pr.has_sub = True
                    break
            if self._sub_cache_size < 16384:
                self._sub_cache[prog] = pr
                self._sub_cache_size += 1
        else:
            pr = <_ProgRules>found
        if not pr.has_sub:
            return pr.rules
        found = pr.by_first.get(first)
        if found is not None:
            return <tuple>found
        kept = []
        for r in pr.rules:
            if r._nsub and r._sudo != 2 and r._dynamic != 2 and (
                    first is None or not (<GlobList>r.subcommand[0])._match_text(<str>first)):
                continue
            kept.append(r)
        found = tuple(kept)
        if self._sub_cache_size < 16384:
            pr.by_first[first] = found
            self._sub_cache_size += 1
        return <tuple>found

    cdef tuple _rules_for_tool(self, object tool):
        cdef object c = self._tool_cache.get(tool)
        cdef Rule r
        if c is None:
            c = tuple([r for r in self._tool_rules if r.tools is None or _text_match(r.tools, tool)])
            if len(self._tool_cache) < C_MAX_RULE_LISTS:
                self._tool_cache[tool] = c
        return <tuple>c

    def evaluate(self, tool, tool_input, cwd, home):
        """Return (verdict, rule_id, reason) for one call; verdict MISS when no rule
        settles it, or when a limit of the analysis was reached (rule id
        ``input.limit``). tool_input must be a dict (checked by the caller)."""
        return self._evaluate(tool, tool_input, cwd, home)

    cdef tuple _evaluate(self, object tool, object tool_input, object cwd, object home):
        tool = _exact(tool)
        cwd = _exact(cwd)
        home = _exact(home)
        try:
            if obj_eq(tool, "Bash"):
                return self._evaluate_bash(tool_input, cwd or "", home)
            return self._evaluate_tool(tool, tool_input, cwd, home)
        except LimitError as e:
            return (C_MISS, "input.limit", LIMIT_MSG % e)

    def evaluate_content(self, code, cwd, home, only=()):
        """Judge shell code a file holds (lighthouse._fast._content), as a Bash call
        would be, by the rules whose id starts with one of `only` (all when empty)."""
        try:
            return self._evaluate_bash({"command": code}, _exact(cwd), _exact(home), tuple(only))
        except LimitError as e:
            return (C_MISS, "input.limit", LIMIT_MSG % e)

    cdef tuple _evaluate_tool(self, object tool, object tool_input, object cwd, object home):
        cdef Rule r
        cdef tuple cands
        cdef Py_ssize_t k
        cdef _ToolCtx ctx
        cdef tuple found = None
        problem = input_error(tool, tool_input)
        if problem is not None:
            return (C_DENY, "input.invalid", problem)
        ctx = _tool_ctx(cwd or "", home, None)
        cands = self._rules_for_tool(tool)
        for k in range(len(cands)):
            r = <Rule>cands[k]
            if _match_input(r, tool_input, ctx):
                found = (r.verdict, r.id, r.reason)
                break
        if found is None:
            found = (C_MISS, "", NO_TOOL_RULE_MSG % tool)
        if found[0] == C_DENY or tool not in CONTENT_TOOLS:
            return found
        # what a Write/Edit adds to a file that runs later (a deny by path needs no more)
        return combine(content_verdict(self, tool, tool_input, cwd, home), found)

    cdef tuple _evaluate_bash(self, object tool_input, str cwd, object home, tuple only=()):
        cdef object command = _dget(tool_input, "command")
        cdef list commands
        cdef SimpleCommand sc
        cdef _View view
        cdef Rule r, hit, worst = None
        cdef object miss_prog = None, spec, unknown = None
        cdef unsigned int lacks
        cdef tuple cands
        cdef Py_ssize_t k
        if not isinstance(command, str):
            return (C_DENY, "input.invalid", COMMAND_MSG)
        try:
            commands = analyze(command, cwd, home)
        except ShellError as e:
            return (C_MISS, "shell.unparsed", UNPARSED_MSG % e)
        self._parsed = (command, cwd, home, commands)
        if not commands:
            if command.strip():
                return (C_ALLOW, "shell.no-op", NO_OP_MSG)
            return (C_DENY, "input.invalid", EMPTY_MSG)
        for item in commands:
            sc = <SimpleCommand?>item
            spec = self.programs.get(sc.program, _EMPTY_SPEC_C)
            view = _make_view(sc, <ProgramSpec?>spec, home, cwd)
            if self._widx is not None:
                view._engine = self
                view._widx = self._widx
            hit = None
            lacks = ~view.has
            # the tuples hold only Rules (built here): read without a type test per rule
            cands = self._rules_for_command(sc.program, view.positionals)
            for k in range(len(cands)):
                r = <Rule>cands[k]
                if r._needs & lacks:
                    continue
                if _match_command(r, view):
                    if only and not r.id.startswith(only):
                        continue
                    hit = r
                    break
            if hit is None:
                if miss_prog is None:
                    miss_prog = sc.program
                continue
            if hit.verdict == C_DENY:
                return (C_DENY, hit.id, hit.reason)
            if hit.verdict == C_ALLOW and sc.dynamic and unknown is None:
                unknown = unknown_option_verdict(self, sc, home, cwd, self._option_words, only)
            if worst is None or hit.verdict > worst.verdict:
                worst = hit
        if worst is not None and worst.verdict == C_ASK:
            return (C_ASK, worst.id, worst.reason)
        if unknown is not None:
            return unknown
        if miss_prog is not None:
            return (C_MISS, "", NO_PROGRAM_RULE_MSG % (miss_prog,))
        return (C_ALLOW, worst.id, worst.reason)


# ------------------------------------------------------------------- checker

@cython.final
@cython.freelist(16)
cdef class Decision:
    """The answer to one tool call.

    verdict: "allow" | "ask" | "deny" (or "miss" when raw tier-1 results were asked for);
    rule_id: the rule that decided ("" when none did); reason: for a person;
    tier: "cache" | "rules" | "fallback"; cached: True when served from the cache;
    generation: the policy generation that decided.
    """

    def __init__(self, verdict, rule_id, reason, tier, cached, generation):
        self.verdict = verdict
        self.rule_id = rule_id
        self.reason = reason
        self.tier = tier
        self.cached = cached
        self.generation = generation

    def to_dict(self):
        return decision_dict(self)

    def __repr__(self):
        return decision_repr(self)

    def __eq__(self, other):
        return decision_eq(self, other)

    __hash__ = None


cdef Decision _decision(object verdict, object rule_id, object reason, object tier,
                        object cached, object generation):
    # Decision(...) without the Python-level argument parsing of __init__.
    cdef Decision d = Decision.__new__(Decision)
    d.verdict = verdict
    d.rule_id = rule_id
    d.reason = reason
    d.tier = tier
    d.cached = cached
    d.generation = generation
    return d


cdef str _canonical(object value, int depth):
    """A stable, injective text form of a JSON value (dict keys sorted; every string
    with its length, see lighthouse._fast._keys)."""
    cdef list out
    if type(value) is str:
        return "s%d:%s" % (len(<str>value), value)
    out = []
    _canonical_into(out, value, depth)
    return "".join(out)


cdef int _canonical_into(list out, object value, int depth) except -1:
    # The reference builds each level's text and joins it into its parent's; here the
    # pieces of the whole text are appended to one list and joined once.
    cdef bint first = True
    cdef list keys
    cdef str name
    if isinstance(value, str):
        out.append("s%d:" % len(value))
        out.append(value if type(value) is str else str.__str__(value))
        return 0
    if isinstance(value, (dict, list, tuple)) and depth >= C_MAX_INPUT_DEPTH:
        raise ValueError(NESTED_MSG)
    if isinstance(value, dict):
        # Exact str keys sort the same with or without key=str, and str(k) is k.
        keys = sorted(value) if type(value) is dict and _all_str_keys(<dict>value) else sorted(value, key=str)
        out.append("{")
        for k in keys:
            if not first:
                out.append("\x1e")
            first = False
            name = k if type(k) is str else str(k)
            out.append("%d:" % len(name))
            out.append(name)
            out.append("\x1d")
            _canonical_into(out, value[k], depth + 1)
        out.append("}")
        return 0
    if isinstance(value, (list, tuple)):
        out.append("[")
        for v in value:
            if not first:
                out.append("\x1e")
            first = False
            _canonical_into(out, v, depth + 1)
        out.append("]")
        return 0
    out.append("v" + repr(value))
    return 0


cdef bint _all_str_keys(dict d) noexcept:
    for k in d:
        if type(k) is not str:
            return False
    return True


cdef inline Py_ssize_t _len_width(Py_ssize_t n) noexcept:
    # The characters of "<n>:" (n >= 0).
    cdef Py_ssize_t w = 2
    while n >= 10:
        n //= 10
        w += 1
    return w


cdef inline char* _put_len(char* p, Py_ssize_t n) noexcept:
    # Writes "<n>:" at p; returns the end.
    cdef Py_ssize_t w = _len_width(n) - 1, k
    for k in range(w - 1, -1, -1):
        p[k] = <char>(48 + n % 10)
        n //= 10
    p[w] = 0x3a
    return p + w + 1


cdef inline char* _put(char* p, str s) noexcept:
    cdef Py_ssize_t n = len(s)
    memcpy(p, PyUnicode_DATA(s), n)
    return p + n


cdef bytes _key_bytes(str tool, str cmd, str body, str cwd, str home):
    # The UTF-8 (surrogatepass) bytes of the key text of the reference:
    # <len>:tool \x1f body \x1f <len>:cwd \x1f <len>:home, where body is cmd's canonical
    # form "s<len>:cmd" when cmd is given. ASCII strings already are their UTF-8, so
    # they are copied without building the text.
    cdef Py_ssize_t total
    cdef bytes out
    cdef char *p
    if cmd is not None:
        if not (PyUnicode_IS_ASCII(tool) and PyUnicode_IS_ASCII(cmd)
                and PyUnicode_IS_ASCII(cwd) and PyUnicode_IS_ASCII(home)):
            body = "s%d:%s" % (len(cmd), cmd)
            return _key_text(tool, body, cwd, home)
        total = 1 + _len_width(len(cmd)) + len(cmd)
    else:
        if not (PyUnicode_IS_ASCII(tool) and PyUnicode_IS_ASCII(body)
                and PyUnicode_IS_ASCII(cwd) and PyUnicode_IS_ASCII(home)):
            return _key_text(tool, body, cwd, home)
        total = len(body)
    total += (_len_width(len(tool)) + len(tool) + _len_width(len(cwd)) + len(cwd)
              + _len_width(len(home)) + len(home) + 3)
    out = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(out)
    p = _put(_put_len(p, len(tool)), tool)
    p[0] = 0x1f
    p += 1
    if cmd is not None:
        p[0] = 0x73
        p = _put(_put_len(p + 1, len(cmd)), cmd)
    else:
        p = _put(p, body)
    p[0] = 0x1f
    p = _put(_put_len(p + 1, len(cwd)), cwd)
    p[0] = 0x1f
    _put(_put_len(p + 1, len(home)), home)
    return out


cdef bytes _key_text(str tool, str body, str cwd, str home):
    return ("%d:%s\x1f%s\x1f%d:%s\x1f%d:%s" % (len(tool), tool, body, len(cwd), cwd, len(home), home)
            ).encode("utf-8", "surrogatepass")


cdef bytes _flat_dict_key(str tool, dict d, str cwd, str home):
    # _key_bytes(tool, None, _canonical(d), cwd, home) for a dict whose keys and values
    # are all ASCII strings (Read, Write, Edit, WebFetch and most MCP calls), written
    # straight into one bytes object; None for any other dict.
    cdef Py_ssize_t total, n = len(d), lk, lv
    cdef bint first = True
    cdef bytes out
    cdef char *p
    cdef str ks, vs
    if not (PyUnicode_IS_ASCII(tool) and PyUnicode_IS_ASCII(cwd) and PyUnicode_IS_ASCII(home)):
        return None
    total = (_len_width(len(tool)) + len(tool) + _len_width(len(cwd)) + len(cwd)
             + _len_width(len(home)) + len(home) + 5)      # three \x1f, "{" and "}"
    for k, v in d.items():
        if type(k) is not str or type(v) is not str or not (PyUnicode_IS_ASCII(k) and PyUnicode_IS_ASCII(v)):
            return None
        lk = len(<str>k)
        lv = len(<str>v)
        total += _len_width(lk) + lk + _len_width(lv) + lv + 2       # \x1d and "s"
    if n > 1:
        total += n - 1                                  # \x1e between entries
    out = PyBytes_FromStringAndSize(NULL, total)
    p = PyBytes_AS_STRING(out)
    p = _put(_put_len(p, len(tool)), tool)
    p[0] = 0x1f
    p[1] = 0x7b
    p += 2
    for k in sorted(d):
        ks = <str>k
        vs = <str>d[ks]
        if not first:
            p[0] = 0x1e
            p += 1
        first = False
        p = _put(_put_len(p, len(ks)), ks)
        p[0] = 0x1d
        p[1] = 0x73
        p = _put(_put_len(p + 2, len(vs)), vs)
    p[0] = 0x7d
    p[1] = 0x1f
    p = _put(_put_len(p + 2, len(cwd)), cwd)
    p[0] = 0x1f
    _put(_put_len(p + 1, len(home)), home)
    return out


cdef object _cache_key(object tool, object tool_input, object cwd, object home):
    cdef object body, cmd
    cdef object c = cwd or ""
    cdef object h = home or ""
    cdef bytes flat
    if obj_eq(tool, "Bash"):
        cmd = _dget(tool_input, "command")
        if type(cmd) is str and type(tool) is str and type(c) is str and type(h) is str:
            return _finish(_key_bytes(tool, cmd, None, c, h))
        body = _canonical(cmd, 0)
    else:
        if type(tool_input) is dict and type(tool) is str and type(c) is str and type(h) is str:
            flat = _flat_dict_key(tool, tool_input, c, h)
            if flat is not None:
                return _finish(flat)
        body = _canonical(tool_input, 0)
    if type(tool) is str and type(c) is str and type(h) is str:
        return _finish(_key_bytes(tool, None, body, c, h))
    tool = str(tool)
    c = str(c)
    h = str(h)
    return _finish(_key_text(tool, body, c, h))


def cache_key(tool, tool_input, cwd, home):
    """The decision-cache key of a call: tool, normalized input, cwd and home (which
    changes what `~` means), encoded injectively as bytes (lighthouse._fast._keys)."""
    return _cache_key(tool, tool_input, cwd, home)


@cython.final
cdef class Checker:
    """Tier 0 + tier 1: the decision cache in front of the rule engine."""

    def __init__(self, engine, generation=1, cache_size=65536, cache_ttl=300.0,
                 fallback="ask", raw=False):
        checker_init(self, engine, generation, cache_size, cache_ttl, fallback, raw, DecisionCache)

    set_engine = checker_set_engine

    def check(self, tool, tool_input, cwd=None, agent_id=None, home=None):
        """Decide one tool call. Never raises for bad input; never allows it."""
        cdef object gen = self.generation
        cdef DecisionCache cache = self.cache
        cdef object key = None, hit, engine, verdict, rule_id, reason
        cdef Decision decision
        cdef bint keyed = True
        problem = call_error(tool, tool_input, cwd, home)
        if problem is not None:
            return _decision("deny", "input.invalid", problem, "rules", False, gen)
        if cache.capacity == 0 and len(cache._map) == 0 and _key_cannot_fail(tool, tool_input, cwd, home):
            # A disabled, empty cache misses whatever the key is; skip hashing it.
            keyed = False
            cache.misses += 1
        else:
            try:
                key = _cache_key(tool, tool_input, cwd, home)
            except (TypeError, ValueError, RecursionError) as e:
                return _decision("deny", "input.invalid", UNNORMALIZED_MSG % e, "rules", False, gen)
            hit = cache.get(key, gen)
            if hit is not None:
                return hit
        engine = self.engine
        try:
            if type(engine) is Engine:
                verdict, rule_id, reason = (<Engine>engine)._evaluate(tool, tool_input, cwd, home)
            else:
                verdict, rule_id, reason = engine.evaluate(tool, tool_input, cwd, home)
        except RecursionError:
            verdict, rule_id, reason = C_MISS, "", TOO_DEEP_MSG
        except Exception as e:  # a bug must not become an allow
            verdict, rule_id, reason = C_MISS, "", INTERNAL_MSG % type(e).__name__
        if verdict == C_MISS and not self.raw:
            decision = _decision(self.fallback, rule_id, reason + FALLBACK_MSG + self.fallback,
                                 "fallback", False, gen)
        else:
            decision = _decision(_VERDICTS[verdict], rule_id, reason, "rules", False, gen)
        if keyed:
            cache.put(key, gen, _decision(decision.verdict, decision.rule_id, decision.reason,
                                          "cache", True, gen))
        return decision


cdef bint _key_cannot_fail(object tool, object tool_input, object cwd, object home) except -1:
    # True when cache_key() is sure to succeed: exact strings for tool, cwd and home
    # (encoding with surrogatepass accepts any str), and an input that is a Bash string
    # command or plain JSON data that _canonical turns into text without error.
    cdef object cmd
    if type(tool) is not str or type(tool_input) is not dict:
        return False
    if (cwd is not None and type(cwd) is not str) or (home is not None and type(home) is not str):
        return False
    if str_eq(<str>tool, "Bash"):
        cmd = (<dict>tool_input).get("command")
        return type(cmd) is str or _plain_json(cmd, 0)
    return _plain_json(tool_input, 0)


cdef bint _plain_json(object value, int depth) except -1:
    # Only exact str, bool, None, float, ints that print (repr of a huge int raises),
    # and lists, tuples and str-keyed dicts of those, nested less than MAX_INPUT_DEPTH.
    cdef type t = type(value)
    if t is str or value is None or t is bool or t is float:
        return True
    if t is int:
        return -(1 << 62) < value < (1 << 62)
    if t is list or t is tuple or t is dict:
        if depth >= C_MAX_INPUT_DEPTH:
            return False
        if t is dict:
            for k, v in (<dict>value).items():
                if type(k) is not str or not _plain_json(v, depth + 1):
                    return False
        else:
            for v in value:
                if not _plain_json(v, depth + 1):
                    return False
        return True
    return False
