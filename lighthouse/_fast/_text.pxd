# String equality for the compiled modules. Cython 3.3 compiles `a == b` on two str into
# a call to PyUnicode_Compare, a full ordering comparison that reads the characters even
# when the lengths differ; most comparisons on the hot path are between strings of
# different lengths, which these answer from the lengths alone.

from cpython.unicode cimport PyUnicode_1BYTE_KIND, PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND
from libc.string cimport memchr, memcmp


cdef inline bint str_eq(str a, str b) noexcept:
    """a == b for two str (None is equal only to None)."""
    cdef Py_ssize_t n
    if a is b:
        return True
    if a is None or b is None:
        return False
    n = PyUnicode_GET_LENGTH(a)
    if n != PyUnicode_GET_LENGTH(b):
        return False
    # a string is stored in the narrowest kind that holds its characters, so equal
    # strings have equal kinds
    if PyUnicode_KIND(a) != PyUnicode_KIND(b):
        return False
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), <size_t>n * PyUnicode_KIND(a)) == 0


cdef inline bint obj_eq(object a, object b) except -1:
    """a == b, by str_eq when both are exactly str."""
    if type(a) is str and type(b) is str:
        return str_eq(<str>a, <str>b)
    return a == b


cdef inline bint str_has(str text, str needle) noexcept:
    """needle in text for two str. Between one-byte strings (ASCII and Latin-1, most of
    what rules look for and in) a memchr/memcmp scan, without the generic substring
    search's set-up, which costs more than the scan of a short word; otherwise the
    `in` operator."""
    cdef Py_ssize_t n, m
    cdef const char* t
    cdef const char* p
    cdef const char* end
    if PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND or PyUnicode_KIND(needle) != PyUnicode_1BYTE_KIND:
        return needle in text
    n = PyUnicode_GET_LENGTH(text)
    m = PyUnicode_GET_LENGTH(needle)
    if m == 0:
        return True
    if m > n:
        return False
    t = <const char*>PyUnicode_DATA(text)
    p = <const char*>PyUnicode_DATA(needle)
    end = t + (n - m) + 1           # where a match may start
    while t < end:
        t = <const char*>memchr(t, p[0], <size_t>(end - t))
        if t == NULL:
            return False
        if memcmp(t, p, <size_t>m) == 0:
            return True
        t += 1
    return False
