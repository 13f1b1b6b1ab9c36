# Types for the compiled build of _memo.py (module _memo_c): the pattern tier's memory as a
# final extension type with C fields and a typed find, so that a remembered answer costs
# its key, one dict lookup and a few C comparisons. The pure twin imports _memo.py as it
# is; this file only changes how the same source is compiled (Cython's augmenting .pxd).
cimport cython

cdef object _bash_shape
cdef object _cache_key


@cython.final
cdef class PatternIndex:
    cdef dict _memo
    cdef dict _active
    cdef dict _literal
    cdef dict _workspaces
    cdef object _programs
    cdef object _specs
    cdef object _table
    cdef object _table_generation
    cdef public Py_ssize_t size
    cdef public long long epoch
    cdef public double due
    cdef public long long hits
    cdef public long long misses
    cdef public long long unshaped
    cdef public long long remembered

    cpdef tables(self, dict active, dict literal)

    cpdef changed(self)

    cpdef shaping(self, dict workspaces, object programs, object specs)

    @cython.locals(parsed=object, ws=object, command=object, specs=object)
    cdef object _shape(self, object esc, object shape, object tool, object tool_input, object cwd, object home,
                       object generation)

    cpdef clear(self)

    @cython.locals(epoch="long long", due=bint, known=bint, found=tuple, context=str)
    cpdef object find(self, object esc, object shape, object match)
