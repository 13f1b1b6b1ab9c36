# Types for the compiled build of _content.py (module _content_c): the lookup every
# Write and Edit runs, so that a file that does not run later costs a few C-level
# string operations. The pure twin imports _content.py as it is (Cython's augmenting .pxd).
cimport cython

cdef dict _BY_NAME, _BY_EXT
cdef tuple _WORKFLOW_DIRS, _HOOK_DIRS, _NODE_CONFIG_EXT
cdef frozenset _NODE_CONFIG_LAST


@cython.locals(name=str, dot=Py_ssize_t, d=str, ext=str)
cpdef object file_kind(str path, object text)
