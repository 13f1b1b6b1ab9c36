"""Scheduling priority of a server process's helper threads.

A server process decides calls on one thread, its event loop's. gRPC's C core runs its
own threads beside it (event engine pollers and workers, timers), and so do the metrics
endpoint and the Python runtime. On a small machine those threads preempt the loop in
the middle of decisions: a 5 us decision then takes 50-100 us, which is what a
decision-time p99 shows, and the loop (the bottleneck of the process) loses CPU to
threads that mostly wait for it. Giving every thread but the loop's a higher niceness
leaves them all the CPU the loop does not want and lets the loop finish what it started.

Raising a thread's niceness needs no privilege. Threads inherit the niceness of the
thread that creates them, so once gRPC's threads are lowered, the ones its pools start
later are too; the keeper below lowers any newcomer (from another creator) every few
seconds. Linux only: elsewhere these functions do nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

__all__ = ["lower_helper_threads", "keep_helper_threads_lowered"]

log = logging.getLogger("lighthouse.server")

_TASKS = "/proc/self/task"


def lower_helper_threads(niceness, keep=None):
    """Set the niceness of every thread of this process except `keep` (a native thread
    id; default: the calling thread) to at least `niceness`. Returns how many threads
    were lowered."""
    if niceness <= 0 or not hasattr(os, "setpriority") or not os.path.isdir(_TASKS):
        return 0
    keep = threading.get_native_id() if keep is None else keep
    lowered = 0
    for name in os.listdir(_TASKS):
        tid = int(name)
        if tid == keep:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
                lowered += 1
        except OSError:         # the thread has ended meanwhile
            continue
    return lowered


async def keep_helper_threads_lowered(niceness, interval=2.0):
    """Run on the event loop's thread until cancelled: lower the helper threads now and
    every `interval` seconds."""
    keep = threading.get_native_id()
    first = True
    while True:
        n = lower_helper_threads(niceness, keep)
        if first:
            log.debug("helper threads at niceness %d (%d lowered)", niceness, n)
            first = False
        await asyncio.sleep(interval)
