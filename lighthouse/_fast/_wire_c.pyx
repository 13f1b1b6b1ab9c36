# cython: language_level=3
"""Decoding of lighthouse.v1.ToolCall and ToolCallBatch from protobuf wire bytes, and the
last step of encoding a Decision (compiled twin of ``_wire_py``, which documents them)."""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL

from ._wire_py import WireError

__all__ = ["WireCall", "WireError", "parse_tool_call", "parse_tool_call_batch", "finish_decision"]

cdef enum:
    MAX_FIELD = (1 << 29) - 1
    MAX_GROUP_DEPTH = 64


@cython.final
@cython.freelist(64)
cdef class WireCall:
    """A decoded ToolCall: the fields the server reads, with proto3 defaults."""
    cdef public str request_id
    cdef public str agent_id
    cdef public str session_id
    cdef public str tool
    cdef public str input_json
    cdef public str cwd
    cdef public str home
    cdef public object fallback

    def __repr__(self):
        return "WireCall(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in (
            "request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home", "fallback"))


# A cursor over the bytes; errors are raised as WireError from the functions below.
ctypedef struct _Cur:
    const unsigned char *p
    const unsigned char *end


cdef int _fail(str msg) except -1:
    raise WireError(msg)


cdef inline int _varint(_Cur *c, unsigned long long *out) except -1:
    cdef unsigned long long result = 0
    cdef int shift = 0, _k
    cdef unsigned char b
    for _k in range(10):
        if c.p >= c.end:
            return _fail("message is cut short inside a varint")
        b = c.p[0]
        c.p += 1
        if shift < 64:
            result |= (<unsigned long long>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = result
            return 0
        shift += 7
    return _fail("varint longer than ten bytes")


cdef inline int _tag(_Cur *c, unsigned long long *tag) except -1:
    cdef unsigned long long t
    _varint(c, &t)
    if t > 0xFFFFFFFFULL or (t >> 3) == 0 or (t >> 3) > MAX_FIELD:
        return _fail("invalid field number %d" % (t >> 3))
    if (t & 7) == 6 or (t & 7) == 7:
        return _fail("invalid wire type %d" % (t & 7))
    tag[0] = t
    return 0


cdef int _skip(_Cur *c, int wire, unsigned long long field, int depth) except -1:
    cdef unsigned long long v, t
    if wire == 0:
        return _varint(c, &v)
    if wire == 1 or wire == 5:
        if c.end - c.p < (8 if wire == 1 else 4):
            return _fail("message is cut short inside a fixed-size field")
        c.p += 8 if wire == 1 else 4
        return 0
    if wire == 2:
        _varint(c, &v)
        if v > <unsigned long long>(c.end - c.p):
            return _fail("field %d is longer than the message" % field)
        c.p += v
        return 0
    if wire == 3:
        if depth >= MAX_GROUP_DEPTH:
            return _fail("groups are nested too deeply")
        while True:
            _tag(c, &t)
            if (t & 7) == 4:
                if (t >> 3) != field:
                    return _fail("group %d ends with the end of group %d" % (field, t >> 3))
                return 0
            _skip(c, <int>(t & 7), t >> 3, depth + 1)
    return _fail("invalid wire type %d" % wire)


cdef tuple _NAMES = (None, "request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home")


cdef WireCall _decode(_Cur *c):
    cdef WireCall call = WireCall.__new__(WireCall)
    cdef unsigned long long tag, n, v
    cdef unsigned long long field
    cdef int wire
    cdef str text
    call.request_id = call.agent_id = call.session_id = call.tool = ""
    call.input_json = call.cwd = call.home = ""
    call.fallback = 0
    while c.p < c.end:
        _tag(c, &tag)
        field = tag >> 3
        wire = <int>(tag & 7)
        if wire == 4:
            _fail("end of group %d without its start" % field)
        if 1 <= field <= 7 and wire == 2:
            _varint(c, &n)
            if n > <unsigned long long>(c.end - c.p):
                _fail("field %s is longer than the message" % _NAMES[field])
            try:
                text = PyUnicode_DecodeUTF8(<const char *>c.p, <Py_ssize_t>n, "strict")
            except UnicodeDecodeError:
                raise WireError("field %s is not valid UTF-8" % _NAMES[field]) from None
            c.p += n
            if field == 1:
                call.request_id = text
            elif field == 2:
                call.agent_id = text
            elif field == 3:
                call.session_id = text
            elif field == 4:
                call.tool = text
            elif field == 5:
                call.input_json = text
            elif field == 6:
                call.cwd = text
            else:
                call.home = text
        elif field == 8 and wire == 0:
            _varint(c, &v)
            v &= 0xFFFFFFFFULL
            call.fallback = <long long>v - (1LL << 32) if v >= (1ULL << 31) else <long long>v
        else:
            _skip(c, wire, field, 0)
    return call


cpdef WireCall parse_tool_call(bytes data):
    """A ToolCall's bytes to a WireCall; WireError when they are not a valid message."""
    cdef _Cur c
    c.p = <const unsigned char *>PyBytes_AS_STRING(data)
    c.end = c.p + PyBytes_GET_SIZE(data)
    return _decode(&c)


cpdef list parse_tool_call_batch(bytes data):
    """A ToolCallBatch's bytes to the list of its calls, as WireCalls."""
    cdef _Cur c, sub
    cdef unsigned long long tag, n
    cdef list calls = []
    c.p = <const unsigned char *>PyBytes_AS_STRING(data)
    c.end = c.p + PyBytes_GET_SIZE(data)
    while c.p < c.end:
        _tag(&c, &tag)
        if (tag & 7) == 4:
            _fail("end of group %d without its start" % (tag >> 3))
        if tag == ((1 << 3) | 2):
            _varint(&c, &n)
            if n > <unsigned long long>(c.end - c.p):
                _fail("a call is longer than the batch")
            sub.p = c.p
            sub.end = c.p + n
            calls.append(_decode(&sub))
            c.p += n
        else:
            _skip(&c, <int>(tag & 7), tag >> 3, 0)
    return calls


cdef inline int _varint_len(unsigned long long n) noexcept:
    cdef int k = 1
    while n >= 0x80:
        n >>= 7
        k += 1
    return k


cdef inline char *_put_varint(char *p, unsigned long long n) noexcept:
    while n >= 0x80:
        p[0] = <char>((n & 0x7F) | 0x80)
        p += 1
        n >>= 7
    p[0] = <char>n
    return p + 1


cpdef tuple finish_decision(str request_id, bytes body, long long t0):
    """(serialized Decision, decision_ns): request_id, the pre-encoded body, then
    decision_ns measured (on perf_counter_ns()'s clock, CLOCK_MONOTONIC) once everything
    before it is in hand."""
    cdef Py_ssize_t rlen, blen = PyBytes_GET_SIZE(body), size
    cdef const char *rid = PyUnicode_AsUTF8AndSize(request_id, &rlen)
    cdef timespec ts
    cdef long long ns
    cdef bytes out
    cdef char *p
    clock_gettime(CLOCK_MONOTONIC, &ts)
    ns = <long long>ts.tv_sec * 1000000000LL + ts.tv_nsec - t0
    size = blen
    if rlen:
        size += 1 + _varint_len(<unsigned long long>rlen) + rlen
    if ns > 0:
        size += 1 + _varint_len(<unsigned long long>ns)
    out = PyBytes_FromStringAndSize(NULL, size)
    p = PyBytes_AS_STRING(out)
    if rlen:
        p[0] = 0x0A
        p = _put_varint(p + 1, <unsigned long long>rlen)
        memcpy(p, rid, rlen)
        p += rlen
    memcpy(p, PyBytes_AS_STRING(body), blen)
    p += blen
    if ns > 0:
        p[0] = 0x40
        _put_varint(p + 1, <unsigned long long>ns)
    return out, ns
