# Types for the compiled build of _content.py (module _content_c): the lookup every
# Write and Edit runs, so that a file that does not run later costs a few C-level
# string operations. The pure twin imports _content.py as it is (Cython's augmenting .pxd).
cimport cython

cdef dict _BY_NAME, _BY_EXT
cdef tuple _WORKFLOW_DIRS, _HOOK_DIRS, _NODE_CONFIG_EXT
cdef frozenset _NODE_CONFIG_LAST


# what a Write/Edit adds, read for every one of them (loops, not generators: a C call)
@cython.locals(parts=list)
cpdef object written_text(object tool, object tool_input)


@cython.locals(name=str, dot=Py_ssize_t, d=str, ext=str)
cpdef object file_kind(str path, str text)


# a `#!` line's program, asked of every hook and every file whose text starts with `#!`
@cython.locals(n=Py_ssize_t)
cdef Py_ssize_t _space_end(str text, Py_ssize_t k) except -1


@cython.locals(n=Py_ssize_t)
cdef Py_ssize_t _word_end(str text, Py_ssize_t k) except -1


@cython.locals(slash=Py_ssize_t)
cdef str _base_name(str text, Py_ssize_t start, Py_ssize_t end)


@cython.locals(i=Py_ssize_t, j=Py_ssize_t, k=Py_ssize_t, e=Py_ssize_t, after=Py_ssize_t, prog=str)
cdef object _shebang_kind(str text)
