# Interface of the compiled decision cache, shared with _engine_c.pyx.

cimport cython


@cython.no_gc
@cython.final
cdef class _Entry:
    cdef object key
    cdef object generation
    cdef double expires
    cdef object value
    cdef _Entry prev
    cdef _Entry next


@cython.final
cdef class DecisionCache:
    cdef public Py_ssize_t capacity
    cdef public double ttl
    cdef public Py_ssize_t hits
    cdef public Py_ssize_t misses
    cdef dict _map
    cdef _Entry _root

    cpdef object get(self, object key, object generation)
    cpdef object put(self, object key, object generation, object value)
    cpdef object clear(self)
    cdef void _unlink(self, _Entry e) noexcept
    cdef int _drop(self, _Entry e) except -1
    cdef void _push_front(self, _Entry e) noexcept
    cdef void _break_ring(self) noexcept


cdef double monotonic() noexcept nogil
