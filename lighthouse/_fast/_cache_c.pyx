"""Decision cache, compiled twin of ``_cache_py``.

An LRU map from a key (bytes) to a value, stamped with the policy generation it was
computed under and the time it expires; a reload bumps the generation, which turns every
older entry into a miss without walking the map. The recency order is an intrusive
doubly linked list of entry objects around a sentinel (most recent first), so a hit moves
one entry without allocating. Time is CLOCK_MONOTONIC, the clock ``time.monotonic`` reads
on Linux, taken straight from libc to skip the float object a Python call would build.
"""

from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

from ._keys import DRAIN, cache_settings, cache_stats

__all__ = ["DecisionCache"]


cdef double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


# Entries are exempt from the cycle collector (see the .pxd): the only cycle they form is
# the ring itself, which the cache breaks when it drops entries or is deallocated.
cdef class _Entry:
    pass


cdef inline bint _same_generation(object a, object b) except -1:
    # An int is always equal to itself; anything else goes through `!=` like the
    # reference does (so a NaN generation never matches, as there).
    if a is b and type(a) is int:
        return True
    return not (a != b)


cdef class DecisionCache:
    """LRU + TTL cache. `capacity` 0 disables it."""

    def __cinit__(self):
        self._map = {}
        self._root = _Entry()
        self._root.prev = self._root
        self._root.next = self._root

    def __init__(self, capacity=65536, ttl=300.0):
        self.capacity, self.ttl = cache_settings(capacity, ttl)
        self.hits = 0
        self.misses = 0

    def __dealloc__(self):
        self._break_ring()

    cdef void _unlink(self, _Entry e) noexcept:
        e.prev.next = e.next
        e.next.prev = e.prev

    cdef void _push_front(self, _Entry e) noexcept:
        cdef _Entry root = self._root
        e.next = root.next
        e.prev = root
        root.next.prev = e
        root.next = e

    cdef void _break_ring(self) noexcept:
        cdef _Entry e, nxt
        cdef _Entry root = self._root
        if root is None:
            return
        e = root.next
        while e is not root:
            nxt = e.next
            e.prev = None
            e.next = None
            e = nxt
        root.prev = root
        root.next = root

    cpdef object get(self, object key, object generation):
        """Return the value stored for key under `generation`, or None."""
        cdef object found = self._map.get(key)
        cdef _Entry e
        if found is None:
            self.misses += 1
            return None
        e = <_Entry>found
        if not _same_generation(e.generation, generation) or e.expires < monotonic():
            del self._map[key]
            self._unlink(e)
            e.prev = None
            e.next = None
            self.misses += 1
            return None
        if self._root.next is not e:
            self._unlink(e)
            self._push_front(e)
        self.hits += 1
        return e.value

    cpdef object put(self, object key, object generation, object value):
        cdef object found
        cdef _Entry e, last
        cdef double now
        cdef int _n
        if self.capacity == 0:
            return None
        now = monotonic()
        found = self._map.get(key)
        if found is None:
            e = _Entry()
            e.key = key
            self._map[key] = e
        else:
            e = <_Entry>found
            self._unlink(e)
        e.generation = generation
        e.expires = now + self.ttl
        e.value = value
        self._push_front(e)
        if len(self._map) > self.capacity:
            self._drop(self._root.prev)
            return None
        # Dead entries (expired, or of an older generation) leave from the least recently
        # used end, up to DRAIN per put, faster than puts add: the cache holds what the
        # last ttl seconds used, not whatever filled it to capacity once.
        for _n in range(DRAIN):
            last = self._root.prev
            if last is e or (last.expires >= now and _same_generation(last.generation, generation)):
                break
            self._drop(last)
        return None

    cdef int _drop(self, _Entry e) except -1:
        self._unlink(e)
        del self._map[e.key]
        e.prev = None
        e.next = None
        return 0

    cpdef object clear(self):
        self._break_ring()
        self._map.clear()
        return None

    def __len__(self):
        return len(self._map)

    def stats(self):
        return cache_stats(self)
