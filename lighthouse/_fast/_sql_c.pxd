# Types for the compiled build of _sql.py (module _sql_c): the SQL a database client or
# a database tool's input runs, read by C loops and C calls into str, so that a statement
# costs a pass over its characters instead of Python steps and regex passes. The pure
# engine imports _sql.py as it is; the compiled one cimports the tests below (Cython's
# augmenting .pxd, as _toolinput_c.pxd does for _toolinput.py).
cimport cython

cdef frozenset _FIRST, _FORBIDDEN, _KNOWN_CALLS, _MYSQL_META, _SQLITE_DOT, _STATEMENT_WORDS
cdef dict _OPENERS, _REJECT_OPTIONS
cdef str _RUN_CHARS


@cython.locals(c=Py_UCS4)
cdef Py_ssize_t _word_end(str text, Py_ssize_t i, Py_ssize_t n) except -1


@cython.locals(out=list, n=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t)
cpdef list _words(str text)


@cython.locals(openers=tuple, count=Py_ssize_t, at=list, n=Py_ssize_t, escapes=bint, escape=Py_ssize_t,
               out=list, run=Py_ssize_t, k=Py_ssize_t, w=Py_ssize_t, x=Py_ssize_t, p=Py_ssize_t, o=str,
               j=Py_ssize_t, e=Py_ssize_t, tag=str)
cpdef object _strip(str text, str family)


@cython.locals(statements=list, listed=bint, seen=bint, line=str, s=str, stmt=str, words=list, run=str,
               name=str, cmd=str)
cpdef bint _body_read_only(object body, str family) except -1


@cython.locals(out=list, start=Py_ssize_t, p=Py_ssize_t, head=str, run=str)
cpdef list _called(str text)


cpdef bint statement_read_only(object text, str family=*) except -1


@cython.locals(head=str, end=Py_ssize_t)
cdef bint _starts_statement(str body) except -1


@cython.locals(text=object, body=object, read_only=bint)
cpdef bint test_input_read_only(object want, object tool_input) except -1


cpdef bint test_read_only(object want, object sc) except -1
