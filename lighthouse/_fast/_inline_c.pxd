# Types for the compiled build of _inline.py (module _inline_c): the substring tests that
# gate each scan of inline code, as C calls. The pure twin imports _inline.py as it is;
# this file only changes how the same source is compiled (Cython's augmenting .pxd).
cimport cython


@cython.locals(needle=str)
cdef bint _holds_any(str code, tuple needles) except -1
