"""The server process's garbage collector and event loop: tuned, and measured.

A server process answers every call from one event loop, so anything that holds the loop
holds every call in flight. Two things do it that no decision time shows:

- **Garbage collections.** CPython's cycle collector walks every object of the
  generations it collects. A full collection (generation 2) walks all the objects the
  process keeps, and a server holding 10,000 open streams keeps hundreds of thousands
  (each stream's handler task, coroutine frames, gRPC call objects and futures).
  ``apply_gc_policy`` moves what start-up made (policy, caches, modules) out of the
  collector's reach (``gc.freeze``) and sets the thresholds (``--gc-thresholds``,
  ``lighthouse.server.config.GC_THRESHOLDS``): the
  youngest generation is collected every 5,000 allocations instead of 700 (every gRPC
  call leaves a small reference cycle, so it fills at any rate of calls), and the older
  ones far less often than CPython's default, so that full collections over a large
  set of streams come seldom. Objects reach the oldest generation only by surviving two
  younger collections; garbage there (a stream's cycle after it ended) waits for the
  next full collection, which still comes (CPython also waits until a quarter more
  objects than the last full collection kept have reached it).
  Freezing at start is not enough: the streams open after it, and their objects
  (measured at 10,000 streams) made even the youngest generation's collections walk
  tens of thousands of objects each time, 50-500 ms on a loaded machine. So
  ``RuntimeWatch.follow_streams`` freezes again each time the open streams have grown
  by a quarter since the last freeze (after a collection of the two younger
  generations, so that their garbage is not frozen): a handful of freezes while the
  streams open, none once their number is steady. What it freezes stays out of the
  collector's reach for good, so a frozen stream's garbage cycle after it ends is not
  collected (memory freed by reference counting is: most of a stream's). The freezes
  only come as the open streams reach a new high, each a quarter above the last, so
  what they hold back is bounded (about log1.25 of the peak over FREEZE_MIN_STREAMS
  freezes, 17 for 10,000 streams), not growing with time or with streams reopened
  below the high. Nothing is ever unfrozen: ``gc.unfreeze()`` after these freezes
  crashed CPython 3.11 in a later collection (a segmentation fault in the test
  suite, reproduced), so the server does not call it.
  Even so, a server with many streams churns objects that live for seconds: each
  stream's pending read (grpc.aio's coroutine, future, callback and operation objects,
  about fifteen) lives until the stream's next message, ten seconds at one call per ten
  seconds. A census at 10,000 streams found 11,000-60,000 objects in the youngest
  generation at its collections and 90,000-200,000 in the middle one: CPython counts
  allocations minus deallocations, and as many old reads die as new ones are made, so
  the automatic thresholds let the young generations grow far past them, and each
  collection walked them all (23 ms on average at the youngest, over 100 ms at the
  middle one, on a loaded machine). ``--gc-paced`` (on by default) collects them on a
  timer instead: the youngest generation every ``YOUNG_EVERY`` seconds and the middle
  one every ``MIDDLE_EVERY``, so each collection walks only what a fraction of a second
  made; the thresholds stay as a backstop, and the oldest generation's collections
  (``G2``: one per G2 collections of the middle one, so minutes apart when paced) are
  left to CPython.
- **Everything else that delays the loop** (a long decision, a reload, a starved CPU).

``RuntimeWatch`` measures both into the process's :class:`~lighthouse.metrics.Stats`:
``lighthouse_gc_pause_seconds{generation}`` (a ``gc.callbacks`` hook timing each
collection; the collector runs on whichever thread allocates, and while it runs no
Python code runs on any thread, so the event loop waits for it) and
``lighthouse_event_loop_lag_seconds`` (how late a timer every ``LAG_EVERY`` seconds
fires). Both cost nothing per call: a few collections and ten timers a second.
"""

from __future__ import annotations

import asyncio
import gc
from time import perf_counter_ns

from .config import GC_THRESHOLDS

__all__ = ["LAG_EVERY", "RuntimeWatch", "apply_gc_policy"]

LAG_EVERY = 0.1          # seconds between two samples of the event loop's lag
YOUNG_EVERY = 0.1        # --gc-paced: seconds between collections of the youngest generation
MIDDLE_EVERY = 0.5       # ... and of the middle one (with the youngest)
FREEZE_GROWTH = 1.25     # the open streams' growth since the last freeze that freezes again
FREEZE_MIN_STREAMS = 256  # fewer open streams than this never freeze again (nothing to gain)


def apply_gc_policy(thresholds=GC_THRESHOLDS):
    """Collect once, move every object left out of the collector's generations (they were
    made at start-up and live as long as the process), then set ``thresholds``."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


class RuntimeWatch:
    """Times every garbage collection of this process by generation into
    ``stats.gc_pause``, and (``run_lag``, a task on the event loop) the loop's lag into
    ``stats.loop_lag``. ``install``/``uninstall`` add and remove the gc hook."""

    def __init__(self, stats, follow_streams=True, paced=True):
        self.stats = stats
        self.follow = follow_streams
        self.paced = paced
        self._start = 0
        self.frozen_streams = 0          # streams open at the last freeze
        self.freezes = 0                 # freezes made by follow_streams

    def install(self):
        if self._hook not in gc.callbacks:
            gc.callbacks.append(self._hook)

    def uninstall(self):
        while self._hook in gc.callbacks:
            gc.callbacks.remove(self._hook)

    def _hook(self, phase, info):
        if phase == "start":
            self._start = perf_counter_ns()
        elif self._start:
            self.stats.gc_pause[str(info["generation"])].observe(perf_counter_ns() - self._start)
            self._start = 0

    def follow_streams(self):
        """Freeze again when the open streams have grown by FREEZE_GROWTH since the last
        freeze (from FREEZE_MIN_STREAMS on): a new high. Returns True when it froze."""
        n = self.stats.streams_open
        if n >= FREEZE_MIN_STREAMS and n >= self.frozen_streams * FREEZE_GROWTH:
            gc.collect(1)
            gc.freeze()
            self.frozen_streams = n
            self.freezes += 1
            return True
        return False

    async def run_lag(self, every=LAG_EVERY):
        """Until cancelled: sleep ``every`` seconds and record how much later than that
        the loop woke up; then ``follow_streams`` (unless ``--no-gc-follow-streams``) and,
        when paced, a collection of the young generations (``YOUNG_EVERY`` and
        ``MIDDLE_EVERY`` are multiples of ``LAG_EVERY``: one timer does it all)."""
        hist = self.stats.loop_lag
        want = int(every * 1e9)
        middle = max(1, round(MIDDLE_EVERY / every))
        young = max(1, round(YOUNG_EVERY / every))
        tick = 0
        while True:
            t = perf_counter_ns()
            await asyncio.sleep(every)
            hist.observe(max(0, perf_counter_ns() - t - want))
            tick += 1
            if self.follow:
                self.follow_streams()
            if self.paced:
                if tick % middle == 0:
                    gc.collect(1)
                elif tick % young == 0:
                    gc.collect(0)
