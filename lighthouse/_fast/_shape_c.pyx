# cython: language_level=3
"""Call shapes of Bash calls, compiled: the twin of ``_shape_py`` (the readable
reference), with the same API and the same texts (tests/test_differential.py).

The regular expressions of the reference are written out as loops over the characters,
and the shape text is built once, without the parts dictionary of the reference. It
takes the SimpleCommand objects of the compiled shell analysis.
"""

cimport cython
from cpython.ref cimport PyObject
from cpython.unicode cimport (Py_UNICODE_ISALNUM, Py_UNICODE_ISALPHA, Py_UNICODE_ISDIGIT, Py_UNICODE_ISSPACE,
                              PyUnicode_4BYTE_KIND, PyUnicode_DATA, PyUnicode_FromKindAndData, PyUnicode_KIND,
                              PyUnicode_READ)
from libc.stdlib cimport free, malloc


cdef extern from "structmember.h":
    ctypedef struct _MemberDef "PyMemberDef":
        int type
        Py_ssize_t offset
    int T_OBJECT_EX

cdef extern from "Python.h":
    PyObject *_PyDict_GetItem_KnownHash(object mp, object key, Py_hash_t hash) except? NULL
    int _PyDict_SetItem_KnownHash(object mp, object key, object item, Py_hash_t hash) except -1
    bint PyUnicode_IS_ASCII(object s)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    unsigned char *PyUnicode_1BYTE_DATA(object s)
    Py_ssize_t PyUnicode_FindChar(object s, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end, int direction) except -2
    ctypedef struct _MemberDescr "PyMemberDescrObject":
        _MemberDef *d_member

from lighthouse._fast._shell_c cimport SimpleCommand
from lighthouse._fast._shell_shared_c cimport normpath
from lighthouse._fast._text cimport str_eq
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from types import MemberDescriptorType

from ._engine_c import cache_key as _cache_key
from ._shape_shared import (COMMAND_WORDS, DEFAULT_PROGRAMS, HOME_ROOTS, MAX_COMMANDS, MAX_INPUT, MAX_SHAPE, MEMO_SIZE,
                            MEMO_TEXT, SHAPE_API, STDIO_PATHS, SYSTEM_PREFIXES, SYSTEM_ROOTS, TMP_PREFIXES,
                            TMP_ROOTS, NoShape, ProgramTable, lead)
from ._shell_shared_c import DYN

__all__ = list(SHAPE_API)

cdef str _DYN = DYN
assert len(DYN) == 1
cdef Py_UCS4 _DYN_CHAR = DYN[0]
cdef frozenset _COMMAND_WORDS = COMMAND_WORDS
# program -> its ProgramTable entry, when the caller gives no ProgramTable: one lookup
# per command, and none of the tables' work for the other programs.
cdef dict _DEFAULT_PROGRAMS = dict(DEFAULT_PROGRAMS)
cdef object _ProgramTable = ProgramTable
cdef frozenset _STDIO_SET = frozenset(STDIO_PATHS)
cdef frozenset _TMP_SET = frozenset(TMP_ROOTS)
cdef frozenset _SYSTEM_SET = frozenset(SYSTEM_ROOTS)
cdef tuple _TMP_PREFIXES = TMP_PREFIXES
cdef tuple _SYSTEM_PREFIXES = SYSTEM_PREFIXES
cdef tuple _HOME_ROOTS = HOME_ROOTS
cdef Py_ssize_t _MAX_COMMANDS = MAX_COMMANDS
cdef Py_ssize_t _MAX_SHAPE = MAX_SHAPE
cdef enum:
    TEXT_CAP = 4096         # characters a _Text keeps: MAX_SHAPE
    POSITIONALS = 64        # positionals a command's own array holds (more: one allocated)
assert MAX_SHAPE == TEXT_CAP
cdef Py_ssize_t _MEMO_TEXT = MEMO_TEXT
cdef Py_ssize_t _MAX_INPUT = MAX_INPUT
cdef Py_ssize_t _MAX_CONTEXTS = 1024   # "ask:RULE" contexts a PatternIndex keeps made
cdef Py_ssize_t _MAX_WORKSPACES = 4096  # workspaces a PatternIndex keeps found
cdef frozenset _NO_OPTIONS = frozenset()
cdef object _NoShape = NoShape
cdef object _lead = lead
cdef object _MemberDescriptorType = MemberDescriptorType
# The escalation's fields PatternIndex.find reads, in the order of its slots' offsets.
cdef tuple _FIELDS = ("generation", "why", "rule_id", "tool", "tool_input", "cwd", "home", "parsed")
cdef enum:
    N_FIELDS = 8
assert len(_FIELDS) == N_FIELDS

# where() results
cdef enum:
    W_UNKNOWN, W_WORKSPACE, W_STDIO, W_TMP, W_HOME, W_SYSTEM, W_OTHER

cdef tuple _CLASS_OF = (None, "<ws-path>", None, "<tmp-path>", "<home-path>", "<sys-path>", "<other-path>")


# ------------------------------------------------------------------ character classes

# ASCII characters by class (bit flags), so that most characters are judged by one load
cdef enum:
    C_PLAIN = 1         # [\w.,:@%+=/-] of exact()
    C_WORD = 2          # [A-Za-z0-9_.:@%+,=-]: the rest of a word
    C_SPECIAL = 4       # [\s'"`$*?\[\]{}<>|;&\\]
cdef unsigned char _ASCII[128]


cdef void _init_ascii() noexcept:
    cdef int c
    for c in range(128):
        _ASCII[c] = 0
        if (c >= 0x61 and c <= 0x7a) or (c >= 0x41 and c <= 0x5a) or (c >= 0x30 and c <= 0x39) or c == 0x5f:
            _ASCII[c] |= C_PLAIN | C_WORD
    for c in b".,:@%+=/-":
        _ASCII[c] |= C_PLAIN
    for c in b".:@%+,=-":
        _ASCII[c] |= C_WORD
    for c in b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'\"`$*?[]{}<>|;&\\":
        _ASCII[c] |= C_SPECIAL


_init_ascii()

cdef inline bint _ascii_alpha(Py_UCS4 c) noexcept:
    return (c >= u'a' and c <= u'z') or (c >= u'A' and c <= u'Z')


cdef inline bint _ascii_digit(Py_UCS4 c) noexcept:
    return c >= u'0' and c <= u'9'


cdef inline bint _ascii_alnum(Py_UCS4 c) noexcept:
    return _ascii_alpha(c) or _ascii_digit(c)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _plain(str s) noexcept:
    # [\w.,:@%+=/-]+\Z
    cdef Py_ssize_t n = len(s), i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if n == 0:
        return False
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c < 128:
            if not _ASCII[c] & C_PLAIN:
                return False
        elif not Py_UNICODE_ISALNUM(c):
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _word(str s) noexcept:
    # [A-Za-z0-9_][A-Za-z0-9_.:@%+,=-]{0,63}\Z
    cdef Py_ssize_t n = len(s), i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if n == 0 or n > 64:
        return False
    c = PyUnicode_READ(kind, data, 0)
    if not (_ascii_alnum(c) or c == u'_'):
        return False
    for i in range(1, n):
        c = PyUnicode_READ(kind, data, i)
        if c >= 128 or not _ASCII[c] & C_WORD:
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _subcommand(str s) noexcept:
    # [a-z][a-z0-9_:-]{0,31}\Z
    cdef Py_ssize_t n = len(s), i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if n == 0 or n > 32:
        return False
    c = PyUnicode_READ(kind, data, 0)
    if not (c >= u'a' and c <= u'z'):
        return False
    for i in range(1, n):
        c = PyUnicode_READ(kind, data, i)
        if not ((c >= u'a' and c <= u'z') or _ascii_digit(c) or c == u'_' or c == u':' or c == u'-'):
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _env_name(str s) noexcept:
    # [A-Za-z_][A-Za-z0-9_]{0,63}\Z
    cdef Py_ssize_t n = len(s), i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if n == 0 or n > 64:
        return False
    c = PyUnicode_READ(kind, data, 0)
    if not (_ascii_alpha(c) or c == u'_'):
        return False
    for i in range(1, n):
        c = PyUnicode_READ(kind, data, i)
        if not (_ascii_alnum(c) or c == u'_'):
            return False
    return True


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _digits(str s, Py_ssize_t i, Py_ssize_t n) noexcept:
    # the end of the run of ASCII digits from i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    while i < n and _ascii_digit(PyUnicode_READ(kind, data, i)):
        i += 1
    return i


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _number(str s) noexcept:
    # -?[0-9]{1,18}(\.[0-9]{1,18})?\Z
    cdef Py_ssize_t n = len(s), i = 0, j
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    if n and PyUnicode_READ(kind, data, 0) == u'-':
        i = 1
    j = _digits(s, i, n)
    if j == i or j - i > 18:
        return False
    if j == n:
        return True
    if PyUnicode_READ(kind, data, j) != u'.':
        return False
    i = j + 1
    j = _digits(s, i, n)
    return j != i and j - i <= 18 and j == n


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _ref(str s) noexcept:
    # ([0-9a-f]{7,40}|HEAD([~^][0-9]{0,4}){0,4}|@\{[0-9]{1,4}\})\Z
    cdef Py_ssize_t n = len(s), i, j, groups
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if 7 <= n <= 40:
        for i in range(n):
            c = PyUnicode_READ(kind, data, i)
            if not (_ascii_digit(c) or (c >= u'a' and c <= u'f')):
                break
        else:
            return True
    if n >= 4 and PyUnicode_READ(kind, data, 0) == u'H' and PyUnicode_READ(kind, data, 1) == u'E' \
            and PyUnicode_READ(kind, data, 2) == u'A' and PyUnicode_READ(kind, data, 3) == u'D':
        i = 4
        groups = 0
        while i < n:
            c = PyUnicode_READ(kind, data, i)
            if c != u'~' and c != u'^':
                return False
            groups += 1
            if groups > 4:
                return False
            j = _digits(s, i + 1, n)
            if j - (i + 1) > 4:
                return False
            i = j
        return True
    if n >= 4 and PyUnicode_READ(kind, data, 0) == u'@' and PyUnicode_READ(kind, data, 1) == u'{' \
            and PyUnicode_READ(kind, data, n - 1) == u'}':
        j = _digits(s, 2, n)
        return j == n - 1 and 1 <= j - 2 <= 4
    return False


cdef bint _special(str s) noexcept:
    # [\s'"`$*?\[\]{}<>|;&\\]
    cdef Py_UCS4 c
    for c in s:
        if c < 128:
            if _ASCII[c] & C_SPECIAL:
                return True
        elif Py_UNICODE_ISSPACE(c):
            return True
    return False


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _key_end(str s) noexcept:
    # ([A-Za-z_][A-Za-z0-9_.-]{0,63})=: the index of the '=', or -1
    cdef Py_ssize_t n = len(s), i
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    if n < 2:
        return -1
    c = PyUnicode_READ(kind, data, 0)
    if not (_ascii_alpha(c) or c == u'_'):
        return -1
    i = 1
    while i < n:
        c = PyUnicode_READ(kind, data, i)
        if not (_ascii_alnum(c) or c == u'_' or c == u'.' or c == u'-'):
            break
        i += 1
    if i > 64 or i >= n or PyUnicode_READ(kind, data, i) != u'=':
        return -1
    return i


cdef inline bint _dyn(str s) noexcept:
    # DYN in s (one character: a loop in C, not the sequence protocol or a search's call)
    cdef Py_ssize_t i, n = len(s)
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    for i in range(n):
        if PyUnicode_READ(kind, data, i) == _DYN_CHAR:
            return True
    return False


cdef bint _all_digits(str s) noexcept:
    # str.isdigit()
    cdef Py_UCS4 c
    if not s:
        return False
    for c in s:
        if not Py_UNICODE_ISDIGIT(c):
            return False
    return True


# ------------------------------------------------------------------ paths

cdef inline bint _under(str path, str root):
    # path == root, or path lies below it (root's trailing slashes ignored)
    cdef Py_ssize_t lr = len(root)
    if str_eq(path, root):
        return True
    while lr and root[lr - 1] == u'/':
        lr -= 1
    if len(path) <= lr or path[lr] != u'/':
        return False
    return path.startswith(root if lr == len(root) else root[:lr])


cdef int _where(str path, str cwd, str home):
    if not path or _dyn(path):
        return W_UNKNOWN
    if cwd and not str_eq(cwd, "/") and _under(path, cwd):
        return W_WORKSPACE
    if path in _STDIO_SET or path.startswith("/dev/fd/"):
        return W_STDIO
    if path in _TMP_SET or path.startswith(_TMP_PREFIXES):
        return W_TMP
    if path[0] == u'~' or (home and _under(path, home)) or path.startswith(_HOME_ROOTS) or _under(path, "/root"):
        return W_HOME
    if str_eq(path, "/") or path in _SYSTEM_SET or path.startswith(_SYSTEM_PREFIXES):
        return W_SYSTEM
    return W_OTHER


@cython.boundscheck(False)
@cython.wraparound(False)
cdef bint _normal(str p) noexcept:
    # whether normpath(p) is p itself: absolute, no empty, "." or ".." segment, no
    # trailing slash
    cdef Py_ssize_t n = len(p), i
    cdef int kind = PyUnicode_KIND(p)
    cdef void *data = PyUnicode_DATA(p)
    cdef Py_UCS4 c
    if n == 0 or PyUnicode_READ(kind, data, 0) != u'/':
        return False
    if n == 1:
        return True
    if PyUnicode_READ(kind, data, n - 1) == u'/':
        return False
    # each segment (after a "/", which is never the last character) is neither empty,
    # "." nor ".."
    for i in range(n - 1):
        if PyUnicode_READ(kind, data, i) != u'/':
            continue
        c = PyUnicode_READ(kind, data, i + 1)
        if c == u'/':
            return False
        if c == u'.':
            if i + 2 == n or PyUnicode_READ(kind, data, i + 2) == u'/':
                return False
            if PyUnicode_READ(kind, data, i + 2) == u'.' and (i + 3 == n or PyUnicode_READ(kind, data, i + 3) == u'/'):
                return False
    return True


cdef bint _hidden(str p, Py_ssize_t start) noexcept:
    # "/." in p[start:]
    cdef Py_ssize_t n = len(p), i
    cdef int kind = PyUnicode_KIND(p)
    cdef void *data = PyUnicode_DATA(p)
    for i in range(start, n - 1):
        if PyUnicode_READ(kind, data, i) == u'/' and PyUnicode_READ(kind, data, i + 1) == u'.':
            return True
    return False


cdef str _rstrip_slash(str s):
    if s and s[len(s) - 1] == u'/':
        return s.rstrip("/")
    return s


cdef str _resolve(str value, str cwd, str home):
    # None for ~user
    cdef str full
    if value[0] == u'~':
        if len(value) == 1 or value[1] == u'/':
            if not home:
                return None
            full = _rstrip_slash(home) + value[1:]
        else:
            return None
    elif value[0] != u'/':
        full = _rstrip_slash(cwd) + "/" + value
    else:
        full = value
    if _normal(full):
        return full
    return normpath(full)


cpdef str exact(str arg):
    """An argument kept as it is, quoted when it could be read as a class or holds
    blanks, so that no literal spells another shape."""
    if _plain(arg):
        return arg
    return "'" + arg.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


cdef str _no(list why, str fmt, object arg=None):
    # No shape: None, and why (formatted only when it is asked for)
    if why is not None:
        why.append(fmt if arg is None else fmt % (arg,))
    return None


cdef bint _fail(list why, str fmt, object arg=None) except -1:
    # No shape: False, and why (formatted only when it is asked for)
    _no(why, fmt, arg)
    return False


cpdef str path_class(str value, str cwd, str home, str ws):
    """The class of a path argument (see ``_shape_py.path_class``). Raises NoShape."""
    cdef list why = []
    cdef str c = _path_class(value, cwd, home, ws, why)
    if c is None:
        raise _NoShape(why[0])
    return c


@cython.boundscheck(False)
@cython.wraparound(False)
cdef Py_ssize_t _relative(str value) noexcept:
    # Where a relative path that names a place below its directory without a detour
    # starts once its leading "./" are skipped: no empty, "." or ".." segment after them,
    # no trailing slash, no unknown expansion; -1 for any other path.
    cdef Py_ssize_t n = len(value), i = 0, j
    cdef int kind = PyUnicode_KIND(value)
    cdef void *data = PyUnicode_DATA(value)
    cdef Py_UCS4 c
    if n == 0 or PyUnicode_READ(kind, data, 0) == u'/' or PyUnicode_READ(kind, data, 0) == u'~':
        return -1
    while i + 1 < n and PyUnicode_READ(kind, data, i) == u'.' and PyUnicode_READ(kind, data, i + 1) == u'/':
        i += 2
    if i == n or PyUnicode_READ(kind, data, n - 1) == u'/':
        return -1
    j = i
    while j < n:
        # a segment starts at j
        c = PyUnicode_READ(kind, data, j)
        if c == u'/':
            return -1
        if c == u'.' and (j + 1 == n or PyUnicode_READ(kind, data, j + 1) == u'/'
                          or (PyUnicode_READ(kind, data, j + 1) == u'.'
                              and (j + 2 == n or PyUnicode_READ(kind, data, j + 2) == u'/'))):
            return -1
        while j < n:
            c = PyUnicode_READ(kind, data, j)
            if c == _DYN_CHAR:
                return -1
            j += 1
            if c == u'/':
                break
    return i


# The last workspace _plain_root judged, and its answer: a call's arguments are judged
# against one workspace (the same object), which is then read once, not once per path.
cdef object _root_seen = None
cdef bint _root_plain = False


cdef bint _plain_root(str ws) noexcept:
    # whether ws is a normalized absolute directory other than "/" without an unknown
    # expansion: a relative path below it is classed without being resolved
    global _root_seen, _root_plain
    cdef bint plain
    if ws is _root_seen:
        return _root_plain
    plain = len(ws) > 1 and _normal(ws) and not _dyn(ws)
    _root_plain = plain
    _root_seen = ws
    return plain


cdef str _path_class(str value, str cwd, str home, str ws, list why):
    cdef str full, rel
    cdef int w
    cdef Py_ssize_t i
    if str_eq(cwd, ws):
        i = _relative(value)
        if i >= 0 and _plain_root(ws):
            # below the workspace (what resolving and judging it would find): the
            # workspace's path, kept exactly when a segment is hidden
            rel = value[i:] if i else value
            if rel[0] == u'.' or _hidden(rel, 0):
                return exact("<ws-root>/" + rel)
            return "<ws-path>"
    full = _resolve(value, cwd, home)
    if full is None:
        return exact(value)
    if str_eq(full, ws):
        return "<ws-root>"
    w = _where(full, ws, home)
    if w == W_STDIO:
        return full
    if w == W_UNKNOWN:
        return _no(why, "an unknown path %r", value)
    if w == W_WORKSPACE:
        # full[len(ws)] is the "/" after the workspace: a hidden component is a "/."
        if _hidden(full, len(ws)):
            return exact("<ws-root>/" + full[len(ws) + 1:])
    elif w == W_HOME and _hidden(full, 0):
        return exact(full)
    return <str>_CLASS_OF[w]


cdef enum:
    HAS_DYN = 1
    HAS_COLON = 2
    HAS_SLASH = 4


cdef int _scan(str s) noexcept:
    # which of DYN, ":" and "/" s holds (HAS_*), in one pass
    cdef Py_ssize_t i, n = len(s)
    cdef int kind = PyUnicode_KIND(s), found = 0
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_UCS4 c
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if c == u'/':
            found |= HAS_SLASH
        elif c == u':':
            found |= HAS_COLON
        elif c == _DYN_CHAR:
            found |= HAS_DYN
    return found


cdef inline bint _looks_like_path(str a, int found) noexcept:
    # found: _scan(a)
    cdef int kind = PyUnicode_KIND(a)
    cdef void *data = PyUnicode_DATA(a)
    cdef Py_UCS4 c = PyUnicode_READ(kind, data, 0)
    cdef Py_ssize_t n = len(a)
    if c == u'/' or c == u'~' or found & HAS_SLASH:
        return True
    return c == u'.' and (n == 1 or (n == 2 and PyUnicode_READ(kind, data, 1) == u'.'))


cdef str _url_class(str arg):
    # "<url:...>", the argument kept exactly, or None when it is no URL
    cdef Py_ssize_t n = len(arg), i = 1, j
    cdef int kind = PyUnicode_KIND(arg)
    cdef void *data = PyUnicode_DATA(arg)
    cdef Py_UCS4 c
    cdef str host
    if n < 4 or not _ascii_alpha(PyUnicode_READ(kind, data, 0)):
        return None
    while i < n and i < 17:
        c = PyUnicode_READ(kind, data, i)
        if not (_ascii_alnum(c) or c == u'+' or c == u'.' or c == u'-'):
            break
        i += 1
    if i > 16 or i + 3 > n or PyUnicode_READ(kind, data, i) != u':' or PyUnicode_READ(kind, data, i + 1) != u'/' \
            or PyUnicode_READ(kind, data, i + 2) != u'/':
        return None
    j = i + 3
    while j < n and j - (i + 3) < 255:
        c = PyUnicode_READ(kind, data, j)
        if c == u'/' or c == u'?' or c == u'#' or Py_UNICODE_ISSPACE(c):
            break
        j += 1
    if j == i + 3:
        return None
    host = arg[i + 3:j].lower()
    if u'@' in host or not _host(host):
        return exact(arg)
    return "<url:%s://%s>" % (arg[:i].lower(), host)


cdef bint _host(str h) noexcept:
    # [A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?\Z
    cdef Py_ssize_t n = len(h), i = 0, j
    cdef int kind = PyUnicode_KIND(h)
    cdef void *data = PyUnicode_DATA(h)
    cdef Py_UCS4 c
    while i < n:
        c = PyUnicode_READ(kind, data, i)
        if not (_ascii_alnum(c) or c == u'.' or c == u'-'):
            break
        i += 1
    if i == 0 or i > 253:
        return False
    if i == n:
        return True
    if PyUnicode_READ(kind, data, i) != u':':
        return False
    j = _digits(h, i + 1, n)
    return j == n and 1 <= j - i - 1 <= 5


cpdef str classify(str arg, str cwd, str home, str ws, bint key=True, frozenset literals=None):
    """The class of one argument (see ``_shape_py.classify``). Raises NoShape."""
    cdef list why = []
    cdef str c = _classify(arg, cwd, home, ws, key, why, literals)
    if c is None:
        raise _NoShape(why[0])
    return c


cdef str _classify(str arg, str cwd, str home, str ws, bint key, list why, frozenset literals):
    cdef str c
    cdef Py_ssize_t eq
    cdef int found = _scan(arg)
    if found & HAS_DYN:
        return _no(why, "an unknown expansion in %r", arg[:64])
    if not arg:
        return "''"
    if literals is not None and arg in literals:
        return exact(arg)
    if found & HAS_COLON:
        c = _url_class(arg)
        if c is not None:
            return c
    if _number(arg):
        return "<num>"
    if _ref(arg):
        return "<ref>"
    if key:
        eq = _key_end(arg)
        if eq > 0:
            c = _classify(arg[eq + 1:], cwd, home, ws, False, why, literals)
            return None if c is None else arg[:eq + 1] + c
    if _looks_like_path(arg, found):
        if _special(arg):
            return exact(arg)
        return _path_class(arg, cwd, home, ws, why)
    if _word(arg):
        return arg if arg in _COMMAND_WORDS else "<word>"
    return exact(arg)


# ------------------------------------------------------------------ the shape text

# A shape text written in one buffer of TEXT_CAP characters: ``n`` counts every character
# written, those past the buffer too (not kept), so that a text's length is known exactly
# and a text longer than the buffer is found too long (MAX_SHAPE) without being kept.
# ``ascii``: whether every character written is ASCII.
cdef struct _Text:
    Py_UCS4 *buf
    Py_ssize_t n
    bint ascii


cdef inline void _put_char(_Text *t, Py_UCS4 c) noexcept:
    if t.n < TEXT_CAP:
        t.buf[t.n] = c
    t.n += 1


cdef void _put(_Text *t, str s) noexcept:
    cdef Py_ssize_t i, m = len(s), n = t.n
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    if not PyUnicode_IS_ASCII(s):
        t.ascii = False
    if n + m <= TEXT_CAP:
        for i in range(m):
            t.buf[n + i] = PyUnicode_READ(kind, data, i)
    else:
        for i in range(m):
            if n + i < TEXT_CAP:
                t.buf[n + i] = PyUnicode_READ(kind, data, i)
    t.n = n + m


cdef inline void _part(_Text *t, Py_ssize_t start, str s) noexcept:
    # one part of a command's shape: after a blank unless it is the first
    if t.n > start:
        _put_char(t, u' ')
    _put(t, s)


cdef void _reverse(Py_UCS4 *buf, Py_ssize_t i, Py_ssize_t j) noexcept:
    # buf[i:j] reversed in place
    cdef Py_UCS4 c
    j -= 1
    while i < j:
        c = buf[i]
        buf[i] = buf[j]
        buf[j] = c
        i += 1
        j -= 1


# ------------------------------------------------------------------ commands

cdef bint _command_shape(_Text *t, SimpleCommand sc, str ws, str home, object specs, list why,
                         frozenset literals) except -1:
    # Writes the command's shape text to ``t`` (its parts separated by blanks: env,
    # program, subcommand, the flags sorted, the arguments, the redirects); False when it
    # has none (``t`` then holds a part of it).
    cdef str program = sc.program, cwd, a, name, val, f, op, target, c
    cdef bint is_exact, ended = False, single_dash_long = False, is_cd
    cdef list args = sc.args, env
    cdef list names = None, values = None, rendered
    cdef Py_ssize_t nflags, flags_at, args_at, start = t.n
    cdef object value_options = _NO_OPTIONS
    cdef frozenset literal_options = _NO_OPTIONS
    cdef frozenset literal_subs = None
    cdef bint literal_args = False, has_literal_options = False
    cdef Py_ssize_t k = 0, n, j, la, subs, most, depth = 0, npos = 0
    cdef Py_ssize_t own[POSITIONALS]
    cdef Py_ssize_t *pos = own      # the positionals: their indices in args
    cdef object entry, spec
    cdef int kind
    cdef void *data
    if sc.dynamic:
        return _fail(why, "an unknown expansion")
    if sc.origin:
        return _fail(why, "a command run through %s", sc.origin)
    if sc.code or sc.code_from:
        return _fail(why, "code fed to %s", sc.program)
    if sc.sudo:
        return _fail(why, "sudo")
    if not program or _dyn(program) or (sc.path is not None and _dyn(sc.path)):
        return _fail(why, "an unknown program")
    cwd = sc.cwd or ws
    # the program's ProgramTable entry (see _shape_shared.ProgramTable): one dictionary
    # lookup, no Python call, when the caller gives the rules' table
    if type(specs) is _ProgramTable:
        entry = (<dict>specs).get(program)
    else:
        entry = _DEFAULT_PROGRAMS.get(program)
    if entry is not None:
        value_options = (<tuple>entry)[0]
        single_dash_long = (<tuple>entry)[1]
        literal_options = <frozenset>(<tuple>entry)[2]
        has_literal_options = len(literal_options) > 0
        literal_subs = <frozenset>(<tuple>entry)[3]
        depth = <Py_ssize_t>(<tuple>entry)[4]
        is_exact = (<tuple>entry)[5]
    else:
        is_exact = program.startswith("mkfs.")
    if specs is not None and type(specs) is not _ProgramTable:
        spec = specs(program)
        if spec is not None:
            value_options = spec.value_options
            single_dash_long = spec.single_dash_long
    if is_exact and not str_eq(cwd, ws):
        return _fail(why, "%s run outside the call's directory", program)
    if sc.env:
        env = sorted(sc.env)
        for name in env:
            val = sc.env[name]
            if not _env_name(name) or _dyn(val):
                return _fail(why, "an unknown environment assignment")
            _part(t, start, name)
            _put_char(t, u'=')
            _put(t, exact(val))
    n = len(args)
    if n > POSITIONALS:
        pos = <Py_ssize_t*>malloc(n * sizeof(Py_ssize_t))
        if pos == NULL:
            raise MemoryError()
    try:
        # flags (name, value or None) and positionals
        while k < n:
            a = args[k]
            la = len(a)
            kind = PyUnicode_KIND(a)
            data = PyUnicode_DATA(a)
            if not ended and str_eq(a, "--"):
                ended = True
                if names is None:
                    names, values = [], []
                names.append("--")
                values.append(None)
            elif not ended and la > 1 and PyUnicode_READ(kind, data, 0) == u'-' \
                    and not Py_UNICODE_ISDIGIT(PyUnicode_READ(kind, data, 1)):
                if names is None:
                    names, values = [], []
                if PyUnicode_READ(kind, data, 1) == u'-' or single_dash_long:
                    j = PyUnicode_FindChar(a, u'=', 0, la, 1)
                    if j >= 0:
                        name = a[:j]
                        val = a[j + 1:]
                        names.append(name)
                        values.append(val)
                    elif (a in value_options or (has_literal_options and a in literal_options)) and k + 1 < n:
                        k += 1
                        names.append(a)
                        values.append(args[k])
                    else:
                        names.append(a)
                        values.append(None)
                else:
                    for j in range(1, la):
                        f = "-" + a[j:j + 1]
                        if f in value_options or (has_literal_options and f in literal_options):
                            val = a[j + 1:]
                            if val and val[0] == u'=':
                                val = val[1:]
                            elif not val and k + 1 < n:
                                k += 1
                                val = args[k]
                            names.append(f)
                            values.append(val)
                            break
                        if not Py_UNICODE_ISALPHA(PyUnicode_READ(kind, data, j)):
                            names.append("-" + a[j:])
                            values.append(None)
                            break
                        names.append(f)
                        values.append(None)
            else:
                pos[npos] = k
                npos += 1
            k += 1
        is_cd = str_eq(program, "cd")
        if is_cd:
            if not cwd or _dyn(cwd):
                return _fail(why, "cd to an unknown directory")
            npos = 1            # its one argument: the directory it changes to (its cwd)
        _part(t, start, exact(sc.path) if sc.path else exact(program))
        subs = 0
        if is_exact:
            for j in range(npos):
                if _dyn(cwd if is_cd else <str>args[pos[j]]):
                    return _fail(why, "an unknown expansion")
        else:
            most = 0 if sc.path else depth
            while subs < npos and subs < most and _subcommand(cwd if is_cd else <str>args[pos[subs]]):
                _part(t, start, cwd if is_cd else <str>args[pos[subs]])
                subs += 1
            if literal_subs is not None:
                literal_args = " ".join([cwd if is_cd else args[pos[j]] for j in range(subs)]) in literal_subs
        # The reference classes the arguments before it renders the flags: the same
        # reason is given when both have none. The arguments are written first, then
        # the flags after them, and the two swapped.
        flags_at = t.n
        for j in range(subs, npos):
            a = cwd if is_cd else <str>args[pos[j]]
            if is_exact:
                _part(t, start, exact(a))
            elif literal_args:
                if _dyn(a):
                    return _fail(why, "an unknown expansion")
                _part(t, start, exact(a))
            else:
                c = _classify(a, cwd, home, ws, True, why, literals)
                if c is None:
                    return False
                _part(t, start, c)
    finally:
        if pos != own:
            free(pos)
    if names is not None:
        nflags = len(names)
        if nflags == 1:
            # one flag: written as it is rendered
            c = _flag(<str>names[0], <str>values[0],
                      is_exact or (has_literal_options and <str>names[0] in literal_options), cwd, home, ws, why,
                      literals)
            if c is None:
                return False
            args_at = t.n
            _part(t, start, c)
        else:
            rendered = []
            for j in range(nflags):
                c = _flag(<str>names[j], <str>values[j],
                          is_exact or (has_literal_options and <str>names[j] in literal_options), cwd, home, ws, why,
                          literals)
                if c is None:
                    return False
                rendered.append(c)
            # sorted, each flag once (the reference renders them into a set)
            rendered.sort()
            args_at = t.n
            for j in range(nflags):
                if j == 0 or not str_eq(<str>rendered[j], <str>rendered[j - 1]):
                    _part(t, start, <str>rendered[j])
        if t.n <= TEXT_CAP and args_at > flags_at:
            # the arguments [flags_at, args_at) and the flags [args_at, t.n), each part
            # after its blank (the program is always before them): each reversed, then
            # the whole, puts the flags first
            _reverse(t.buf, flags_at, args_at)
            _reverse(t.buf, args_at, t.n)
            _reverse(t.buf, flags_at, t.n)
    for op, target in sc.redirects:
        if not target or _dyn(target):
            return _fail(why, "a redirect to an unknown target")
        if target[0] == u'&' or ((str_eq(op, "<&") or str_eq(op, ">&")) and _all_digits(target)):
            _part(t, start, op)
            _put(t, exact(target))
        else:
            c = _path_class(target, cwd, home, ws, why)
            if c is None:
                return False
            _part(t, start, op)
            _put(t, c)
    return True


cdef inline str _flag(str name, str value, bint is_exact, str cwd, str home, str ws, list why,
                      frozenset literals):
    cdef str c
    if _dyn(name):
        return _no(why, "an unknown expansion")
    if value is None:
        return exact(name)
    if is_exact:
        if _dyn(value):
            return _no(why, "an unknown expansion")
        return exact(name) + "=" + exact(value)
    c = _classify(value, cwd, home, ws, True, why, literals)
    return None if c is None else exact(name) + "=" + c


cpdef str bash_shape(list commands, str ws, str home, object specs=None, list why=None, frozenset literals=None):
    """The shape text of a Bash call parsed into ``commands`` (see
    ``_shape_py.bash_shape``), or None when it has none (the reason appended to ``why``
    when it is a list; ``literals``: words kept exactly). Written in one buffer: the
    commands' texts joined by " | " (a command reading a pipe) or " ; "."""
    cdef Py_ssize_t n = len(commands), size = 0, i, at
    cdef Py_UCS4 buf[TEXT_CAP]
    cdef _Text t
    cdef SimpleCommand sc
    if n == 0:
        return _no(why, "the command runs no program")
    if n > _MAX_COMMANDS:
        return _no(why, "more than %d commands", _MAX_COMMANDS)
    t.buf = buf
    t.n = 0
    t.ascii = True
    for i in range(n):
        sc = <SimpleCommand?>commands[i]
        if i:
            _put_char(&t, u' ')
            _put_char(&t, u'|' if sc.pipe_in else u';')
            _put_char(&t, u' ')
        at = t.n
        if not _command_shape(&t, sc, ws, home, specs, why, literals):
            return None
        size += t.n - at + 3
        if size > _MAX_SHAPE:
            return _no(why, "a shape over %d characters", _MAX_SHAPE)
    return _text(&t)


cdef str _text(_Text *t):
    # the text written (at most TEXT_CAP characters), as a str
    cdef str out
    cdef unsigned char *p
    cdef Py_ssize_t i
    if not t.ascii:
        return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, t.buf, t.n)
    out = PyUnicode_New(t.n, 127)
    p = PyUnicode_1BYTE_DATA(out)
    for i in range(t.n):
        p[i] = <unsigned char>t.buf[i]
    return out


# ------------------------------------------------------------------ the pattern tier's memory

cdef double _monotonic() noexcept nogil:
    # time.monotonic()'s clock on Linux
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


@cython.final
cdef class _Answer:
    # What the tier answered a call: under which rule generation, index epoch and
    # escalation context, from which shape text, and the pattern (or None).
    cdef object generation
    cdef long long epoch
    cdef str why
    cdef str rule_id
    cdef object text
    cdef object pattern


cdef inline object _bash_key(object tool, object tool_input, object cwd, object home):
    # A Bash call's key in the index's memory: (command, cwd, home), which tells calls
    # apart as the decision-cache key does (it keeps these three of a Bash call), without
    # encoding them; None for any other call.
    cdef object command
    if type(tool) is not str or not str_eq(<str>tool, "Bash") or type(tool_input) is not dict:
        return None
    command = (<dict>tool_input).get("command")
    cwd = cwd or ""
    home = home or ""
    if type(command) is not str or type(cwd) is not str or type(home) is not str:
        return None
    return (command, cwd, home)


@cython.final
cdef class _Shapes:
    # The active patterns of one context and tool (see ``_shape_py._Shapes``).
    cdef dict patterns
    cdef dict leads

    def __cinit__(self):
        self.patterns = {}
        self.leads = {}


cdef _Shapes _shapes_of(dict by_context, object context, object tool):
    cdef object tools = by_context.get(context), shapes
    if tools is None:
        tools = by_context[context] = {}
    shapes = (<dict>tools).get(tool)
    if shapes is None:
        shapes = (<dict>tools)[tool] = _Shapes()
    return <_Shapes>shapes


cdef int _count_lead(dict by_context, object context, object tool, str text, int delta) except -1:
    # One more (or fewer) shape text of a pattern led by lead(text); a context and tool
    # left without any is dropped (see the reference)
    cdef _Shapes shapes = _shapes_of(by_context, context, tool)
    cdef object first = _lead(text)
    cdef Py_ssize_t n = <Py_ssize_t>shapes.leads.get(first, 0) + delta
    if n > 0:
        shapes.leads[first] = n
        return 0
    shapes.leads.pop(first, None)
    if not shapes.leads:
        del (<dict>by_context[context])[tool]
        if not by_context[context]:
            del by_context[context]
    return 0


@cython.final
cdef class PatternIndex:
    """The pattern tier's memory of its answers, and its lookup (see
    ``_shape_py.PatternIndex``, the reference)."""

    cdef dict _memo
    cdef dict _active
    cdef dict _literal
    cdef dict _by_context       # context -> tool -> _Shapes
    cdef dict _workspaces
    cdef object _programs
    cdef object _specs
    cdef object _table
    cdef object _table_generation
    cdef dict _contexts
    cdef dict _ws_seen          # cwd -> a home with which the shapes module found cwd a workspace
    cdef type _esc_type
    cdef bint _direct
    cdef Py_ssize_t _offsets[N_FIELDS]
    cdef public Py_ssize_t size
    cdef public long long epoch
    cdef public double due
    cdef public long long hits
    cdef public long long misses
    cdef public long long unshaped
    cdef public long long skipped
    cdef public long long remembered

    def __init__(self, size=MEMO_SIZE):
        if size < 0:
            raise ValueError("the memo size must be >= 0")
        self._memo = {}
        self._active = {}
        self._literal = {}
        self._by_context = {}
        self._workspaces = None
        self._programs = None
        self._specs = None
        self._table = None
        self._table_generation = None
        self._contexts = {}
        self._ws_seen = {}
        self._esc_type = None
        self._direct = False
        self.size = size
        self.epoch = 0
        self.due = 0.0
        self.hits = 0
        self.misses = 0
        self.unshaped = 0
        self.skipped = 0
        self.remembered = 0

    def __len__(self):
        return len(self._memo)

    cpdef tables(self, dict active, dict literal):
        """The book's index of active patterns and of those with literals (see the reference)."""
        cdef dict by_context = {}
        cdef tuple k
        for k, p in active.items():
            _shapes_of(by_context, k[0], k[1]).patterns[k[2]] = p
            _count_lead(by_context, k[0], k[1], <str?>k[2], 1)
        for k in literal:
            _count_lead(by_context, k[0], k[1], <str?>k[2], 1)
        self._active = active
        self._literal = literal
        self._by_context = by_context

    cpdef put(self, object context, object tool, str text, object pattern):
        """The active pattern of shape ``text`` in ``context`` for ``tool`` is now ``pattern`` (None: none)."""
        cdef object tools = self._by_context.get(context)
        cdef object shapes = (<dict>tools).get(tool) if tools is not None else None
        cdef bint had = shapes is not None and text in (<_Shapes>shapes).patterns
        if pattern is not None:
            if not had:
                _count_lead(self._by_context, context, tool, text, 1)
            _shapes_of(self._by_context, context, tool).patterns[text] = pattern
        elif had:
            del (<_Shapes>shapes).patterns[text]
            _count_lead(self._by_context, context, tool, text, -1)

    cpdef literal(self, object context, object tool, str text, bint present):
        """Whether patterns with literals of the generic shape ``text`` are now active (see the reference)."""
        _count_lead(self._by_context, context, tool, text, 1 if present else -1)

    cpdef changed(self):
        """The active patterns changed: every answer remembered before is looked up again."""
        self.epoch += 1

    cpdef shaping(self, dict workspaces, object programs, object specs):
        """Shape the common calls here (see ``_shape_py.PatternIndex.shaping``)."""
        self._workspaces = workspaces
        self._programs = programs
        self._specs = specs
        self._table = None
        self._table_generation = None
        self._ws_seen = {}

    cdef bint _parsed_here(self, object command, object cwd, object home, object parsed):
        # Whether the index shapes the call itself (see the reference): a Bash call
        # (``command``: its command, None for any other call) with the engine's parse, in
        # a workspace the shapes module has seen (and normalized). The shapes module's
        # answer for (cwd, home) never changes: a workspace found is kept by its cwd (one
        # str lookup, no tuple made and hashed), at most _MAX_WORKSPACES of them.
        # (``home``: "" for none.)
        cdef object ws, seen
        if self._workspaces is None or command is None or type(parsed) is not list:
            return False
        if type(cwd) is not str or type(home) is not str or len(<str>cwd) == 0:
            return False
        seen = self._ws_seen.get(cwd)
        if seen is None or not str_eq(<str>seen, <str>home):
            ws = self._workspaces.get((cwd, home))
            if type(ws) is not str or not str_eq(<str>ws, <str>cwd):
                return False
            if len(self._ws_seen) >= _MAX_WORKSPACES:
                self._ws_seen.clear()
            self._ws_seen[cwd] = home
        return 0 < len(<str>command) <= _MAX_INPUT

    cdef object _shape(self, object esc, object shape, bint here, object cwd, object home, object parsed,
                       object generation):
        # The common case in C (``here``: _parsed_here's answer); anything else by ``shape``.
        cdef object specs
        if here:
            if self._programs is None:
                specs = self._specs
            else:
                # asked once per rule generation (see the reference)
                if self._table is None or self._table_generation != generation:
                    self._table = self._programs()
                    self._table_generation = generation
                specs = self._table
            return bash_shape(<list>parsed, <str>cwd, <str>home, specs, None, None)
        return shape(esc)

    cdef _fields_of(self, type cls):
        # Whether find may read the fields of a ``cls`` instance from its slots, at the
        # offsets the attribute lookup would read them at, without the lookup: a class
        # of the generic lookup whose fields are all slots (a slotted dataclass such as
        # Escalation). Asked once per class of the escalations seen. The offsets are
        # found first and kept with the class at once after (no Python code in between),
        # so that a lookup on another thread never reads one class's offsets for another.
        cdef Py_ssize_t i
        cdef Py_ssize_t offsets[N_FIELDS]
        cdef bint direct = False
        cdef object d
        cdef _MemberDef *m
        if type(cls) is type and cls.__getattribute__ is object.__getattribute__:
            direct = True
            for i in range(N_FIELDS):
                d = getattr(cls, <str>_FIELDS[i], None)
                if type(d) is not _MemberDescriptorType:
                    direct = False
                    break
                m = (<_MemberDescr*><PyObject*>d).d_member
                if m.type != T_OBJECT_EX:
                    direct = False
                    break
                offsets[i] = m.offset
        if direct:
            for i in range(N_FIELDS):
                self._offsets[i] = offsets[i]
        self._direct = direct
        self._esc_type = cls

    cdef str _context(self, str why, str rule_id):
        # "miss", or "ask:RULE" made once per rule id (its hash then kept with it)
        cdef object c
        if str_eq(why, "miss"):
            return "miss"
        c = self._contexts.get(rule_id)
        if c is None:
            if len(self._contexts) >= _MAX_CONTEXTS:
                self._contexts.clear()
            c = self._contexts[rule_id] = "ask:" + rule_id
        return <str>c

    cpdef clear(self):
        """Forget every answer."""
        self._memo.clear()

    cpdef object find(self, object esc, object shape, object match):
        """The pattern answering the escalated call ``esc``, or None (see
        ``_shape_py.PatternIndex.find``)."""
        cdef PyObject *f[N_FIELDS]
        cdef object generation, why, rule_id, tool, tool_input, cwd, home, parsed, command = None
        cdef object key, text = None, pattern, found, tools, program
        cdef str context
        cdef _Answer a
        cdef object shapes = None
        cdef SimpleCommand first
        cdef bint known = False, direct, here
        cdef Py_hash_t key_hash
        cdef PyObject *got
        cdef Py_ssize_t i
        cdef long long epoch = self.epoch
        cdef bint due = _monotonic() >= self.due
        if type(esc) is not self._esc_type:
            self._fields_of(type(esc))
        direct = self._direct
        if direct:
            for i in range(N_FIELDS):
                f[i] = (<PyObject**>((<char*><PyObject*>esc) + self._offsets[i]))[0]
                if f[i] == NULL:
                    direct = False      # an unset field: the lookup raises as it would
                    break
        if direct:
            generation = <object>f[0]
            why = <object>f[1]
            rule_id = <object>f[2]
            tool = <object>f[3]
            tool_input = <object>f[4]
            cwd = <object>f[5]
            home = <object>f[6]
            parsed = <object>f[7]
        else:
            generation = esc.generation
            why = esc.why
            rule_id = esc.rule_id
            tool = esc.tool
            tool_input = esc.tool_input
            cwd = esc.cwd
            home = esc.home
            parsed = esc.parsed
        if type(why) is not str or type(rule_id) is not str:
            return match(esc, None, shape(esc))
        key = _bash_key(tool, tool_input, cwd, home)
        if key is not None:
            command = (<tuple>key)[0]
        else:
            try:
                key = _cache_key(tool, tool_input, cwd, home)
            except Exception:
                return match(esc, None, shape(esc))
        # the key hashed once, for the lookup and the store (a tuple's hash is not kept)
        key_hash = hash(key)
        found = None
        if not due:
            got = _PyDict_GetItem_KnownHash(self._memo, key, key_hash)
            if got != NULL:
                found = <object>got
        if found is not None:
            a = <_Answer>found
            if a.generation == generation and str_eq(a.why, <str>why) and str_eq(a.rule_id, <str>rule_id):
                if a.epoch == epoch:
                    pattern = a.pattern
                    if pattern is not None:
                        self.hits += 1
                    elif a.text is None:
                        self.unshaped += 1
                    else:
                        self.misses += 1
                    self.remembered += 1
                    return pattern
                text = a.text
                known = True
        # The epoch read before the lookup is kept with its answer: a change of the
        # patterns made meanwhile makes it stale.
        context = self._context(<str>why, <str>rule_id)
        if not due and type(tool) is str:
            tools = self._by_context.get(context)
            if tools is not None:
                shapes = (<dict>tools).get(tool)
        if not known:
            here = self._parsed_here(command, cwd, home or "", parsed)
            if not due and type(tool) is str:
                # No pattern of this context and tool, or none led by the program of the
                # call's first command: no shape can match (see the reference).
                if shapes is None:
                    self.skipped += 1
                    return None
                if here and len(<list>parsed) > 0 and type((<list>parsed)[0]) is SimpleCommand:
                    first = <SimpleCommand>(<list>parsed)[0]
                    program = first.path if first.path else first.program
                    if not first.env and program is not None and program not in (<_Shapes>shapes).leads \
                            and _plain(<str>program):
                        self.skipped += 1
                        return None
            text = self._shape(esc, shape, here, cwd, home or "", parsed, generation)
        if text is None:
            self.unshaped += 1
            pattern = None
        elif due or (self._literal and tool == "Bash" and self._literal.get((context, tool, text))):
            pattern = match(esc, context, text)
        else:
            if shapes is not None:
                pattern = (<_Shapes>shapes).patterns.get(text)
            elif type(tool) is str:
                pattern = None          # no pattern of this context and tool
            else:
                pattern = self._active.get((context, tool, text))
            if pattern is None:
                self.misses += 1
            else:
                self.hits += 1
        if self.size and (text is None or len(text) <= _MEMO_TEXT):
            if found is None and len(self._memo) >= self.size:
                self._memo.clear()
            a = _Answer.__new__(_Answer)
            a.generation = generation
            a.epoch = epoch
            a.why = <str>why
            a.rule_id = <str>rule_id
            a.text = text
            a.pattern = pattern
            _PyDict_SetItem_KnownHash(self._memo, key, a, key_hash)
        return pattern
