# Types for the compiled build of _toolinput.py (module _toolinput_c): what the engine
# reads of a tool call besides its paths, as C functions the compiled engine cimports.
# The pure engine imports _toolinput.py as it is; this file only changes how the same
# source is compiled (Cython's augmenting .pxd, as _side_c.pxd does for _side.py).
cimport cython

cdef dict _REQUIRED
cdef tuple _PATH_FIELDS
cdef Py_ssize_t _MAX_TOOL_LENGTH


cpdef object call_error(object tool, object tool_input, object cwd, object home)


@cython.locals(key=object, val=object)
cpdef object input_error(object tool, object tool_input)


@cython.locals(out=list, stack=list, v=object)
cpdef str flatten(object value)


@cython.locals(n=Py_ssize_t, quote=Py_ssize_t, line=Py_ssize_t, block=Py_ssize_t, escape=Py_ssize_t,
               run=Py_ssize_t, i=Py_ssize_t, j=Py_ssize_t, out=list)
cpdef str strip_sql_literals(str text)
