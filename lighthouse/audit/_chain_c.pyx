# cython: language_level=3
"""The hash chain over a commit's records, compiled: the same function as
lighthouse.audit._chain_py (the reference, which documents it), with SHA-256 computed by
OpenSSL's libcrypto on the canonical text's own buffer instead of a hashlib object per
record (whose construction alone costs about a microsecond with OpenSSL 3), and each
row's text, hash and tuple built at once: about 0.9 us per record instead of 1.9 (the
writer process's whole cost is 8-9 us; bench/audit.py --writer).

Its :class:`Appender` commits an SQLite log through SQLite's C API (the same libsqlite3
as Python's sqlite3 module: ``SQLITE_VERSION`` says which, and lighthouse.audit._chain
takes the pure Appender when the two differ): one prepared INSERT reused, each column
bound with ``sqlite3_bind_*`` from the row's own values, and each record's canonical
text and hash written into a buffer of the Appender and bound from there, so that no
Python tuple, text or hash string is made per record."""

import sqlite3 as _sqlite

from cpython.ref cimport Py_INCREF
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.tuple cimport PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from libc.limits cimport INT_MAX, LLONG_MAX, LLONG_MIN
from libc.stdlib cimport qsort
from libc.string cimport memcmp, memcpy

__all__ = ["chain_rows", "RowMaker", "Appender", "SQLITE_VERSION"]


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    bint PyUnicode_IS_ASCII(object s)
    object PyBytes_FromStringAndSize(const char *v, Py_ssize_t n)


cdef extern from "openssl/sha.h" nogil:
    ctypedef struct SHA256_CTX:
        pass
    int SHA256_Init(SHA256_CTX *c)
    int SHA256_Update(SHA256_CTX *c, const void *data, size_t n)
    int SHA256_Final(unsigned char *md, SHA256_CTX *c)


cdef const char *_HEX = b"0123456789abcdef"
cdef const char *_PREFIX = b'["lighthouse.audit.v1",'
cdef Py_ssize_t _PREFIX_LEN = 23


cdef tuple _checked_row(object indexed, object tail):
    """A row's indexed values as a tuple, once its tail is checked: str, and ASCII (the
    pure twin's UnicodeEncodeError otherwise)."""
    if type(tail) is not str:
        raise TypeError("a row's tail must be str, not %s" % type(tail).__name__)
    if not PyUnicode_IS_ASCII(tail):
        tail.encode("ascii")
    return indexed if type(indexed) is tuple else tuple(indexed)


cdef inline Py_ssize_t _seq_digits(char *digits, unsigned long long v) noexcept:
    """Write ``v`` in decimal right-aligned at the end of ``digits`` (24 bytes); return
    the count of digits."""
    cdef Py_ssize_t nd = 0
    while True:
        digits[23 - nd] = 48 + v % 10
        nd += 1
        v //= 10
        if v == 0:
            return nd


cdef inline void _chain_record(char *buf, const char *digits, Py_ssize_t nd, str tail, Py_ssize_t nt,
                               unsigned char *md) noexcept:
    """Write one record's canonical text '["lighthouse.audit.v1",SEQ,' + tail at ``buf``
    (its length computed by the caller) and advance the chain: md = SHA-256(md + text)."""
    cdef SHA256_CTX ctx
    memcpy(buf, _PREFIX, _PREFIX_LEN)
    memcpy(buf + _PREFIX_LEN, digits + 24 - nd, nd)
    buf[_PREFIX_LEN + nd] = 44          # ','
    memcpy(buf + _PREFIX_LEN + nd + 1, PyUnicode_DATA(tail), nt)
    SHA256_Init(&ctx)
    SHA256_Update(&ctx, md, 32)
    SHA256_Update(&ctx, buf, _PREFIX_LEN + nd + 1 + nt)
    SHA256_Final(md, &ctx)


def chain_rows(rows, seq, bytes prev not None):
    """See lighthouse.audit._chain_py.chain_rows."""
    cdef unsigned char md[32]
    cdef char digits[24]
    cdef Py_ssize_t n, i, nd, nt, width
    cdef char *buf
    cdef unsigned long long s
    cdef str text
    cdef object row, item, hexed
    if seq < 0:
        raise ValueError("seq must not be negative, got %d" % seq)
    if len(prev) != 32:
        raise ValueError("prev must be a raw SHA-256 hash (32 bytes), got %d bytes" % len(prev))
    memcpy(md, <const char *>prev, 32)
    s = seq
    out = []
    for indexed, tail in rows:
        indexed = _checked_row(indexed, tail)
        s += 1
        # the canonical text '["lighthouse.audit.v1",SEQ,' + tail, in one ASCII string
        nd = _seq_digits(digits, s)
        nt = PyUnicode_GET_LENGTH(tail)
        n = _PREFIX_LEN + nd + 1 + nt
        text = PyUnicode_New(n, 127)
        _chain_record(<char *>PyUnicode_DATA(text), digits, nd, tail, nt, md)
        hexed = PyUnicode_New(64, 127)
        buf = <char *>PyUnicode_DATA(hexed)
        for i in range(32):
            buf[2 * i] = _HEX[md[i] >> 4]
            buf[2 * i + 1] = _HEX[md[i] & 15]
        # the row (seq, *indexed, text, hash); PyTuple_SET_ITEM takes a reference of each
        width = PyTuple_GET_SIZE(indexed)
        row = PyTuple_New(width + 3)
        item = s
        Py_INCREF(item)
        PyTuple_SET_ITEM(row, 0, item)
        for i in range(width):
            item = (<tuple>indexed)[i]
            Py_INCREF(item)
            PyTuple_SET_ITEM(row, i + 1, item)
        Py_INCREF(text)
        PyTuple_SET_ITEM(row, width + 1, text)
        Py_INCREF(hexed)
        PyTuple_SET_ITEM(row, width + 2, hexed)
        out.append(row)
    return out, s, PyBytes_FromStringAndSize(<const char *>md, 32)


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1


cdef inline Py_ssize_t _decimal(char *out, long long v):
    """Write ``v`` in decimal at ``out`` (at least 20 bytes); return the count written."""
    cdef char digits[24]
    cdef unsigned long long u
    cdef Py_ssize_t nd = 0, k = 0
    if v < 0:
        out[0] = 45                         # '-'
        k = 1
        u = <unsigned long long>(-(v + 1)) + 1
    else:
        u = <unsigned long long>v
    nd = _seq_digits(digits, u)
    memcpy(out + k, digits + 24 - nd, nd)
    return k + nd


cdef inline bint _plain_ascii(str s):
    """Whether ``s`` is ASCII that JSON writes as it is (no NUL, no character to escape):
    its encoding is then the text between two quotes."""
    cdef const unsigned char *p
    cdef Py_ssize_t i, n
    if not PyUnicode_IS_ASCII(s):
        return False
    p = <const unsigned char *>PyUnicode_DATA(s)
    n = PyUnicode_GET_LENGTH(s)
    for i in range(n):
        if p[i] < 32 or p[i] > 126 or p[i] == 34 or p[i] == 92:
            return False
    return True


cdef inline Py_ssize_t _put(char *out, str s):
    """Copy the ASCII ``s`` to ``out``; return its length."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    memcpy(out, PyUnicode_DATA(s), n)
    return n


cdef class RowMaker:
    """See lighthouse.audit.record.RowMaker (the reference, which documents it): the same
    rows, with the same kept encodings (lighthouse.audit.record's text_encoding,
    input_encoding, outcome_encoding), each record's text written into one ASCII string
    here instead of by a 12-argument string format, and a request id that JSON writes as
    it is copied rather than encoded."""

    cdef readonly object worker
    cdef readonly object max_input
    cdef str _worker_text
    cdef dict _text, _input, _outcome, _source
    cdef object _text_encoding, _input_encoding, _outcome_encoding, _kept_outcome, _make_row, _quote, _clean
    cdef Py_ssize_t _memo_entries, _memo_chars

    def __init__(self, worker, max_input=None):
        from . import record
        if max_input is None:
            max_input = record.DEFAULT_MAX_INPUT
        self.worker = worker
        self.max_input = max_input
        self._worker_text = "%d" % worker
        if not PyUnicode_IS_ASCII(self._worker_text):
            raise ValueError("worker must be an int, got %r" % (worker,))
        self._text, self._input, self._outcome, self._source = {}, {}, {}, {}
        self._text_encoding = record.text_encoding
        self._input_encoding = record.input_encoding
        self._outcome_encoding = record.outcome_encoding
        self._kept_outcome = record.kept_outcome
        self._make_row = record.make_row
        self._quote = record._quote
        self._clean = record.clean_text
        self._memo_entries = record.MEMO_ENTRIES
        self._memo_chars = record.MEMO_CHARS

    def kept(self):
        """See lighthouse.audit.record.RowMaker.kept."""
        return len(self._text) + len(self._input) + len(self._outcome) + len(self._source)

    cdef tuple _text_of(self, s):
        cdef object r = self._text.get(s)
        if r is None:
            r = self._text_encoding(s)
            if len(s) <= self._memo_chars:
                self._text[s] = r
        return <tuple>r

    def rows(self, entries, wall_offset_ns):
        """The rows of lighthouse.audit.record.make_row for ``entries``, in order."""
        cdef list out = []
        cdef tuple entry, ag, se, to, cw, oc
        cdef object t0, source, rid, agent, session, tool, tool_input, cwd, outcome, ns, escalation_id, trail
        cdef object src, inp, indexed
        cdef str q, text
        cdef char tdigits[24]
        cdef char nsdigits[24]
        cdef Py_ssize_t nt, nn
        cdef long long off, t0v, tv, nsv
        cdef int overflow
        cdef bint plain
        cdef Py_ssize_t n, k
        cdef char *buf
        cdef str worker_text = self._worker_text
        off = PyLong_AsLongLongAndOverflow(wall_offset_ns, &overflow) if type(wall_offset_ns) is int else 0
        cdef bint off_ok = type(wall_offset_ns) is int and not overflow
        for item in entries:
            if type(item) is not tuple or PyTuple_GET_SIZE(item) != 12 or not off_ok:
                out.append(self._make_row(item, self.worker, wall_offset_ns, self.max_input))
                continue
            entry = <tuple>item
            t0, source, rid, agent, session, tool, tool_input, cwd, outcome, ns, escalation_id, trail = entry
            if type(t0) is not int or type(ns) is not int or type(tool_input) is not str or type(rid) is not str \
                    or escalation_id or trail or type(outcome) is not tuple or len(outcome) != 5 \
                    or type((<tuple>outcome)[4]) is not int:
                out.append(self._make_row(entry, self.worker, wall_offset_ns, self.max_input))
                continue
            t0v = PyLong_AsLongLongAndOverflow(t0, &overflow)
            if overflow or (off > 0 and t0v > LLONG_MAX - off) or (off < 0 and t0v < LLONG_MIN - off):
                out.append(self._make_row(entry, self.worker, wall_offset_ns, self.max_input))
                continue
            nsv = PyLong_AsLongLongAndOverflow(ns, &overflow)
            if overflow:
                out.append(self._make_row(entry, self.worker, wall_offset_ns, self.max_input))
                continue
            src = self._source.get(source)
            if src is None:
                src = self._source[source] = self._quote(source)    # (not cleaned: the server's own word)
            ag = self._text_of(agent)
            se = self._text_of(session)
            to = self._text_of(tool)
            cw = self._text_of(cwd)
            inp = self._input.get(tool_input)
            if inp is None:
                inp = self._input_encoding(tool_input, self.max_input)
                if len(tool_input) <= self._memo_chars:
                    self._input[tool_input] = inp
            oc = self._outcome.get(outcome)
            if oc is None:
                oc = self._outcome_encoding(outcome)
                if oc is None:
                    out.append(self._make_row(entry, self.worker, wall_offset_ns, self.max_input))
                    continue
                if self._kept_outcome(outcome):
                    self._outcome[outcome] = oc
            plain = _plain_ascii(rid)
            if plain:
                q = None
            else:
                if not PyUnicode_IS_ASCII(rid) or "\0" in rid:
                    rid = self._clean(rid)
                q = self._quote(rid)
            if not (PyUnicode_IS_ASCII(src) and PyUnicode_IS_ASCII(ag[1]) and PyUnicode_IS_ASCII(se[1]) and
                    PyUnicode_IS_ASCII(to[1]) and PyUnicode_IS_ASCII(inp) and PyUnicode_IS_ASCII(cw[1]) and
                    PyUnicode_IS_ASCII(oc[3])):
                raise ValueError("a kept encoding is not ASCII")    # JSON's ASCII encodings always are
            tv = t0v + off
            nt = _decimal(tdigits, tv)
            nn = _decimal(nsdigits, nsv)
            # t,worker,source,request_id,agent,session,tool,input...,cwd,verdict...,decision_ns]
            n = (nt + PyUnicode_GET_LENGTH(worker_text) + PyUnicode_GET_LENGTH(src) +
                 (PyUnicode_GET_LENGTH(rid) + 2 if plain else PyUnicode_GET_LENGTH(q)) +
                 PyUnicode_GET_LENGTH(ag[1]) + PyUnicode_GET_LENGTH(se[1]) + PyUnicode_GET_LENGTH(to[1]) +
                 PyUnicode_GET_LENGTH(inp) + PyUnicode_GET_LENGTH(cw[1]) + PyUnicode_GET_LENGTH(oc[3]) + nn + 11)
            text = PyUnicode_New(n, 127)
            buf = <char *>PyUnicode_DATA(text)
            memcpy(buf, tdigits, nt)
            k = nt
            buf[k] = 44                     # ','
            k += 1 + _put(buf + k + 1, worker_text)
            buf[k] = 44
            k += 1 + _put(buf + k + 1, src)
            buf[k] = 44
            k += 1
            if plain:
                buf[k] = 34                 # '"'
                k += 1 + _put(buf + k + 1, rid)
                buf[k] = 34
                k += 1
            else:
                k += _put(buf + k, q)
            buf[k] = 44
            k += 1 + _put(buf + k + 1, ag[1])
            buf[k] = 44
            k += 1 + _put(buf + k + 1, se[1])
            buf[k] = 44
            k += 1 + _put(buf + k + 1, to[1])
            buf[k] = 44
            k += 1 + _put(buf + k + 1, inp)
            buf[k] = 44
            k += 1 + _put(buf + k + 1, cw[1])
            buf[k] = 44
            k += 1 + _put(buf + k + 1, oc[3])
            buf[k] = 44
            memcpy(buf + k + 1, nsdigits, nn)
            k += 1 + nn
            buf[k] = 93                     # ']'
            if k + 1 != n:
                raise AssertionError("a record's text is %d characters, not %d" % (k + 1, n))
            indexed = (tv, ag[0], se[0], to[0], oc[0], oc[1], oc[2], rid)
            out.append((indexed, text))
        for memo in (self._text, self._input, self._outcome, self._source):
            if len(memo) > self._memo_entries:
                (<dict>memo).clear()
        return out


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL


cdef extern from "sqlite3.h" nogil:
    ctypedef struct sqlite3:
        pass
    ctypedef struct sqlite3_stmt:
        pass
    ctypedef void (*sqlite3_destructor_type)(void *)
    sqlite3_destructor_type SQLITE_STATIC
    enum:
        SQLITE_OK
        SQLITE_ROW
        SQLITE_DONE
        SQLITE_CONSTRAINT
        SQLITE_OPEN_READWRITE
        SQLITE_OPEN_NOMUTEX
    const char *sqlite3_libversion()
    int sqlite3_open_v2(const char *filename, sqlite3 **db, int flags, const char *vfs)
    int sqlite3_close_v2(sqlite3 *db)
    int sqlite3_busy_timeout(sqlite3 *db, int ms)
    int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **errmsg)
    int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt, const char **tail)
    int sqlite3_step(sqlite3_stmt *stmt)
    int sqlite3_reset(sqlite3_stmt *stmt)
    int sqlite3_finalize(sqlite3_stmt *stmt)
    int sqlite3_clear_bindings(sqlite3_stmt *stmt)
    int sqlite3_bind_parameter_count(sqlite3_stmt *stmt)
    int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, long long v)
    int sqlite3_bind_double(sqlite3_stmt *stmt, int i, double v)
    int sqlite3_bind_null(sqlite3_stmt *stmt, int i)
    int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n, sqlite3_destructor_type d)
    int sqlite3_bind_blob(sqlite3_stmt *stmt, int i, const void *v, int n, sqlite3_destructor_type d)
    long long sqlite3_column_int64(sqlite3_stmt *stmt, int i)
    const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int i)
    int sqlite3_column_bytes(sqlite3_stmt *stmt, int i)
    const char *sqlite3_errmsg(sqlite3 *db)
    int sqlite3_get_autocommit(sqlite3 *db)


#: The SQLite library the Appender writes with.
SQLITE_VERSION = sqlite3_libversion().decode("ascii")

# The Appender's statements, by index (after them, per lookup table, its fill from the
# table audit, then its insert of one entry).
cdef enum:
    _BEGIN, _COMMIT, _ROLLBACK, _HEAD, _FIRST_SEQ, _GENESIS, _INSERT, _INDEXED_SEQ, _SET_INDEXED, _FILLS


cdef struct _Key:
    # One record's lookup entries, as the Appender bound them: the UTF-8 text of each
    # looked-up value (owned by the str the Appender's _key_refs holds), time_ns, seq.
    const char *text[2]
    Py_ssize_t size[2]
    long long time_ns
    long long seq


cdef inline int _key_order(const _Key *a, const _Key *b, int j) noexcept nogil:
    """SQLite's order of the entries (text, time_ns, seq) of lookup table ``j``: the text's
    bytes (BINARY collation), then the integers."""
    cdef Py_ssize_t n = a.size[j] if a.size[j] < b.size[j] else b.size[j]
    cdef int c = memcmp(a.text[j], b.text[j], n)
    if c != 0:
        return c
    if a.size[j] != b.size[j]:
        return -1 if a.size[j] < b.size[j] else 1
    if a.time_ns != b.time_ns:
        return -1 if a.time_ns < b.time_ns else 1
    return -1 if a.seq < b.seq else (a.seq > b.seq)


cdef int _key_order_0(const void *a, const void *b) noexcept nogil:
    return _key_order(<const _Key *>a, <const _Key *>b, 0)


cdef int _key_order_1(const void *a, const void *b) noexcept nogil:
    return _key_order(<const _Key *>a, <const _Key *>b, 1)


cdef class Appender:
    """See lighthouse.audit._chain_py.Appender (the reference, which documents it): the
    same transaction through SQLite's C API."""

    cdef sqlite3 *_db
    cdef sqlite3_stmt *_stmts[_FILLS + 4]
    cdef int _nstmts
    cdef int _nlookups
    # The lookup entries of the records this Appender committed since the last fill, while
    # ``_keeping``: they then cover every record from the first one's seq to _last_seq (an
    # append that finds another head drops them), and a fill from them inserts the same
    # entries as the fill from the table without reading the records back.
    cdef _Key *_keys
    cdef Py_ssize_t _nkeys, _keys_cap
    cdef list _key_refs
    cdef int _key_at[2]
    cdef int _time_at
    cdef bint _keeping
    cdef long long _last_seq
    cdef int _width
    cdef char *_buf
    cdef Py_ssize_t _cap
    cdef readonly object path
    cdef readonly bint lookups
    cdef readonly long long index_every
    cdef readonly bint appending
    cdef readonly long long kept_fills

    def __init__(self, path, durable=False, lookups=True, index_every=None, busy_timeout=10.0):
        from .record import INDEXED
        from .sqlite import _FILL as fills, _INSERT as insert_sql, INDEX_EVERY as index_default, LOOKUPS
        cdef bytes name = str(path).encode("utf-8", "surrogateescape")
        cdef int rc
        if self._db != NULL:
            raise ValueError("the appender is already open")
        self.path = path
        self.lookups = lookups
        self.index_every = index_default if index_every is None else index_every
        if self.index_every < 1:
            raise ValueError("index_every must be at least 1, got %d" % self.index_every)
        if len(fills) > 2 or len(LOOKUPS) != len(fills):
            raise ValueError("at most two lookup tables, got %d" % len(fills))
        self._key_refs = []
        self._keeping = True
        self._time_at = INDEXED.index("time_ns")
        # NOMUTEX: SQLite's own locking of the connection (a mutex taken at every bind,
        # step and reset) is left out; append() and close() refuse to run while an append
        # is in another thread (``appending``, read and set under the GIL).
        rc = sqlite3_open_v2(name, &self._db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
        if rc != SQLITE_OK:
            msg = sqlite3_errmsg(self._db).decode("utf-8", "replace") if self._db != NULL else "out of memory"
            self._close()
            raise _sqlite.OperationalError(msg)
        sqlite3_busy_timeout(self._db, <int>min(busy_timeout * 1000, INT_MAX))
        try:
            self._exec(b"PRAGMA synchronous=FULL" if durable else b"PRAGMA synchronous=NORMAL")
            statements = [b"BEGIN IMMEDIATE", b"COMMIT", b"ROLLBACK",
                          b"SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                          b"SELECT value FROM audit_meta WHERE key = 'first_seq'",
                          b"SELECT value FROM audit_meta WHERE key = 'genesis'", insert_sql.encode("ascii")]
            if lookups:
                statements += [b"SELECT value FROM audit_meta WHERE key = 'indexed_seq'",
                               b"INSERT INTO audit_meta VALUES ('indexed_seq', ?) ON CONFLICT (key) DO UPDATE "
                               b"SET value = excluded.value"] + [f.encode("ascii") for f in fills]
                statements += [("INSERT INTO %s VALUES (?, ?, ?)" % table).encode("ascii") for table, _ in LOOKUPS]
                for j, (_, column) in enumerate(LOOKUPS):
                    self._key_at[j] = INDEXED.index(column)
                self._nlookups = len(LOOKUPS)
            for sql in statements:
                self._prepare(sql)
            self._width = sqlite3_bind_parameter_count(self._stmts[_INSERT])
        except BaseException:
            self._close()
            raise

    cdef int _prepare(self, bytes sql) except -1:
        cdef int rc = sqlite3_prepare_v2(self._db, sql, <int>len(sql), &self._stmts[self._nstmts], NULL)
        if rc != SQLITE_OK:
            self._raise(rc)
        self._nstmts += 1
        return 0

    cdef int _exec(self, bytes sql) except -1:
        cdef int rc = sqlite3_exec(self._db, sql, NULL, NULL, NULL)
        if rc != SQLITE_OK:
            self._raise(rc)
        return 0

    cdef int _raise(self, int rc) except -1:
        msg = sqlite3_errmsg(self._db).decode("utf-8", "replace")
        if rc & 0xff == SQLITE_CONSTRAINT:
            raise _sqlite.IntegrityError(msg)
        raise _sqlite.OperationalError(msg)

    cdef int _run(self, int i) except -1:
        """Step statement ``i`` (one that returns no row) and reset it, without the GIL:
        BEGIN may wait for another connection's transaction (the busy timeout), COMMIT
        for an fsync."""
        cdef sqlite3_stmt *st = self._stmts[i]
        cdef int rc
        with nogil:
            rc = sqlite3_step(st)
            sqlite3_reset(st)
        if rc != SQLITE_DONE and rc != SQLITE_ROW:
            self._raise(rc)
        return 0

    cdef object _text_value(self, int i):
        """The first column of statement ``i``'s first row as str (None for no row); reset."""
        cdef sqlite3_stmt *st = self._stmts[i]
        cdef int rc = sqlite3_step(st)
        cdef object out = None
        if rc == SQLITE_ROW:
            out = (<const char *>sqlite3_column_text(st, 0))[:sqlite3_column_bytes(st, 0)].decode("utf-8")
        sqlite3_reset(st)
        if rc != SQLITE_ROW and rc != SQLITE_DONE:
            self._raise(rc)
        return out

    cdef int _bind(self, sqlite3_stmt *st, int i, object v) except -1:
        cdef Py_ssize_t n
        cdef const char *p
        cdef int rc
        if isinstance(v, str):
            p = PyUnicode_AsUTF8AndSize(v, &n)
            if n > INT_MAX:
                raise OverflowError("a value of %d bytes is too long for SQLite" % n)
            rc = sqlite3_bind_text(st, i, p, <int>n, SQLITE_STATIC)
        elif isinstance(v, int):
            rc = sqlite3_bind_int64(st, i, <long long>v)
        elif isinstance(v, float):
            rc = sqlite3_bind_double(st, i, <double>v)
        elif v is None:
            rc = sqlite3_bind_null(st, i)
        elif isinstance(v, bytes):
            if len(<bytes>v) > INT_MAX:
                raise OverflowError("a value of %d bytes is too long for SQLite" % len(<bytes>v))
            rc = sqlite3_bind_blob(st, i, <const char *>(<bytes>v), <int>len(<bytes>v), SQLITE_STATIC)
        else:
            raise _sqlite.ProgrammingError("Error binding parameter %d: type '%s' is not supported"
                                           % (i, type(v).__name__))
        if rc != SQLITE_OK:
            self._raise(rc)
        return 0

    cdef char *_room(self, Py_ssize_t n) except NULL:
        cdef char *buf
        if n > self._cap:
            buf = <char *>PyMem_Realloc(self._buf, n)
            if buf == NULL:
                raise MemoryError()
            self._buf, self._cap = buf, n
        return self._buf

    cdef void _drop_keys(self, bint keeping) noexcept:
        self._nkeys = 0
        self._key_refs.clear()
        self._keeping = keeping

    cdef int _keep(self, tuple indexed, unsigned long long s) except -1:
        """Keep the lookup entries of the record ``s`` whose indexed values ``indexed`` were
        just bound; values the fill from the table alone copies (not str, a time that is
        not an int of 64 bits) stop the keeping until the next fill."""
        cdef _Key *key
        cdef _Key *grown
        cdef object v
        cdef int j, overflow = 0
        cdef long long t
        v = indexed[self._time_at]
        if type(v) is not int:
            self._drop_keys(False)
            return 0
        t = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow:
            self._drop_keys(False)
            return 0
        for j in range(self._nlookups):
            if type(indexed[self._key_at[j]]) is not str:
                self._drop_keys(False)
                return 0
        if self._nkeys == self._keys_cap:
            grown = <_Key *>PyMem_Realloc(self._keys, (self._keys_cap * 2 + 1024) * sizeof(_Key))
            if grown == NULL:
                raise MemoryError()
            self._keys, self._keys_cap = grown, self._keys_cap * 2 + 1024
        key = &self._keys[self._nkeys]
        for j in range(self._nlookups):
            v = indexed[self._key_at[j]]
            key.text[j] = PyUnicode_AsUTF8AndSize(v, &key.size[j])
            self._key_refs.append(v)
        key.time_ns = t
        key.seq = <long long>s
        self._nkeys += 1
        return 0

    cdef int _fill_from_keys(self) except -1:
        """Insert the kept entries into each lookup table in its key's order."""
        cdef sqlite3_stmt *st
        cdef Py_ssize_t i
        cdef int j, rc
        cdef _Key *key
        for j in range(self._nlookups):
            qsort(self._keys, self._nkeys, sizeof(_Key), _key_order_0 if j == 0 else _key_order_1)
            st = self._stmts[_FILLS + self._nlookups + j]
            for i in range(self._nkeys):
                key = &self._keys[i]
                sqlite3_bind_text(st, 1, key.text[j], <int>key.size[j], SQLITE_STATIC)
                sqlite3_bind_int64(st, 2, key.time_ns)
                sqlite3_bind_int64(st, 3, key.seq)
                rc = sqlite3_step(st)
                sqlite3_reset(st)
                if rc != SQLITE_DONE:
                    sqlite3_clear_bindings(st)
                    self._raise(rc)
            sqlite3_clear_bindings(st)
        return 0

    def append(self, rows):
        """See lighthouse.audit._chain_py.Appender.append."""
        if self._db == NULL:
            raise ValueError("the appender is closed")
        if self.appending:
            raise _sqlite.ProgrammingError("the appender is appending in another thread")
        self.appending = True
        try:
            return self._append(rows)
        finally:
            self.appending = False

    cdef tuple _append(self, rows):
        cdef unsigned char md[32]
        cdef char hexed[64]
        cdef char digits[24]
        cdef sqlite3_stmt *st
        cdef sqlite3_stmt *ins
        cdef Py_ssize_t n, i, nd, nt, width
        cdef unsigned long long s
        cdef long long indexed_seq
        cdef char *buf
        cdef object head, prev
        cdef int rc
        ins = self._stmts[_INSERT]
        self._run(_BEGIN)
        try:
            st = self._stmts[_HEAD]
            rc = sqlite3_step(st)
            if rc == SQLITE_ROW:
                s = <unsigned long long>sqlite3_column_int64(st, 0)
                head = (<const char *>sqlite3_column_text(st, 1))[:sqlite3_column_bytes(st, 1)].decode("ascii")
            sqlite3_reset(st)
            if rc == SQLITE_ROW:
                prev = bytes.fromhex(head)
            elif rc == SQLITE_DONE:
                first = self._text_value(_FIRST_SEQ)
                genesis = self._text_value(_GENESIS)
                if first is None or genesis is None:
                    raise KeyError("first_seq" if first is None else "genesis")
                s = int(first) - 1
                prev = bytes.fromhex(genesis)
            else:
                self._raise(rc)
            if len(prev) != 32:
                raise ValueError("prev must be a raw SHA-256 hash (32 bytes), got %d bytes" % len(prev))
            memcpy(md, <const char *>(<bytes>prev), 32)
            if self._nkeys and <long long>s != self._last_seq:     # another writer appended since
                self._drop_keys(False)
            for indexed, tail in rows:
                indexed = _checked_row(indexed, tail)
                width = PyTuple_GET_SIZE(indexed)
                if width + 3 != self._width:
                    raise _sqlite.ProgrammingError("Incorrect number of bindings supplied. The current statement uses "
                                                   "%d, and there are %d supplied." % (self._width, width + 3))
                s += 1
                # the canonical text '["lighthouse.audit.v1",SEQ,' + tail, in the buffer
                nd = _seq_digits(digits, s)
                nt = PyUnicode_GET_LENGTH(tail)
                n = _PREFIX_LEN + nd + 1 + nt
                if n > INT_MAX:
                    raise OverflowError("a record of %d bytes is too long for SQLite" % n)
                buf = self._room(n)
                _chain_record(buf, digits, nd, tail, nt, md)
                for i in range(32):
                    hexed[2 * i] = _HEX[md[i] >> 4]
                    hexed[2 * i + 1] = _HEX[md[i] & 15]
                rc = sqlite3_bind_int64(ins, 1, <long long>s)
                for i in range(width):
                    self._bind(ins, <int>i + 2, (<tuple>indexed)[i])
                sqlite3_bind_text(ins, <int>width + 2, buf, <int>n, SQLITE_STATIC)
                sqlite3_bind_text(ins, <int>width + 3, hexed, 64, SQLITE_STATIC)
                rc = sqlite3_step(ins)
                sqlite3_reset(ins)
                if rc != SQLITE_DONE:
                    self._raise(rc)
                if self._keeping and self.lookups:
                    self._keep(<tuple>indexed, s)
            sqlite3_clear_bindings(ins)
            if self.lookups:
                value = self._text_value(_INDEXED_SEQ)
                indexed_seq = int(value) if value is not None else 0
                if <long long>s - indexed_seq >= self.index_every:
                    if self._keeping and self._nkeys and self._keys[0].seq == indexed_seq + 1:
                        self._fill_from_keys()
                        self.kept_fills += 1
                    else:
                        for i in range(_FILLS, _FILLS + self._nlookups):
                            st = self._stmts[i]
                            sqlite3_bind_int64(st, 1, indexed_seq)
                            self._run(<int>i)
                    self._drop_keys(True)
                    text = str(s).encode("ascii")
                    st = self._stmts[_SET_INDEXED]
                    sqlite3_bind_text(st, 1, text, <int>len(text), SQLITE_STATIC)
                    self._run(_SET_INDEXED)
                    sqlite3_clear_bindings(st)
            self._run(_COMMIT)
            self._last_seq = <long long>s
        except BaseException:
            self._drop_keys(False)
            sqlite3_clear_bindings(ins)
            if not sqlite3_get_autocommit(self._db):
                self._run(_ROLLBACK)
            raise
        for i in range(32):
            hexed[2 * i] = _HEX[md[i] >> 4]
            hexed[2 * i + 1] = _HEX[md[i] & 15]
        return s, (<char *>hexed)[:64].decode("ascii")

    def close(self):
        """Finalize the statements and close the connection (an open transaction is rolled
        back)."""
        if self.appending:
            raise _sqlite.ProgrammingError("the appender is appending in another thread")
        self._close()

    cdef void _close(self):
        cdef int i
        for i in range(self._nstmts):
            sqlite3_finalize(self._stmts[i])
            self._stmts[i] = NULL
        self._nstmts = 0
        if self._db != NULL:
            sqlite3_close_v2(self._db)
            self._db = NULL
        PyMem_Free(self._buf)
        self._buf, self._cap = NULL, 0
        PyMem_Free(self._keys)
        self._keys, self._nkeys, self._keys_cap = NULL, 0, 0

    def __dealloc__(self):
        self._close()
