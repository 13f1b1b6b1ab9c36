# Types for the compiled build of _shell_scan.py (module _shell_scan_c): the parsers'
# stand-alone scanners, as C functions the compiled parser cimports, reading characters
# as Py_UCS4. The pure parser imports _shell_scan.py as it is; this file only changes how
# the same source is compiled (Cython's augmenting .pxd, as _side_c.pxd does for _side.py).
cimport cython

cdef dict _ANSI_ESCAPES


@cython.locals(k=Py_ssize_t)
cpdef bint runs_commands(str s, Py_ssize_t start, Py_ssize_t end) except -1


@cython.locals(n=Py_ssize_t, depth=Py_ssize_t, c=Py_UCS4)
cpdef Py_ssize_t arith_end(str s, Py_ssize_t j) except -2


@cython.locals(n=Py_ssize_t, j=Py_ssize_t)
cpdef Py_ssize_t funcdef_end(str s, Py_ssize_t i) except -2


@cython.locals(n=Py_ssize_t, c0=Py_UCS4, c1=Py_UCS4, c2=Py_UCS4)
cpdef str redirect_token(str s, Py_ssize_t i)


@cython.locals(n=Py_ssize_t, j=Py_ssize_t, buf=list, c=Py_UCS4, e=Py_UCS4)
cpdef tuple ansi_c(str s, Py_ssize_t i)


@cython.locals(n=Py_ssize_t, j=Py_ssize_t, lines=list, line=str)
cpdef tuple heredoc_body(str s, Py_ssize_t i, str delim, bint strip)


# Variable names: asked per character of a `$name` or `${...}`
cpdef bint is_name_char(Py_UCS4 c) noexcept


cpdef bint is_special_var(Py_UCS4 c) noexcept


@cython.locals(n=Py_ssize_t)
cpdef Py_ssize_t name_end(str s, Py_ssize_t i) except -1


@cython.locals(m=Py_ssize_t, c=Py_UCS4)
cpdef tuple var_operand(str s, Py_ssize_t start, Py_ssize_t end, bint runs)


@cython.locals(n=Py_ssize_t, j=Py_ssize_t, run=Py_ssize_t, pieces=list, c=Py_UCS4, d=Py_UCS4)
cpdef tuple backtick_text(str s, Py_ssize_t i)


@cython.locals(names=list, n=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t, e=Py_ssize_t, c=Py_UCS4)
cpdef list secret_refs(str s)
