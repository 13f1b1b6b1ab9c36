# Interface of the compiled shell analyser, shared with _engine_c.pyx.

cdef class SimpleCommand:
    cdef public str program
    cdef public list args
    cdef public str cwd
    cdef public bint sudo
    cdef public dict env
    cdef public list redirects
    cdef public tuple pipe_in
    cdef public tuple pipeline
    cdef public tuple code_from
    cdef public str origin
    cdef public str code
    cdef public bint dynamic
    cdef public str path

cpdef list analyze(object command, object cwd=*, object home=*)
