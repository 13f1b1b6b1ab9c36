"""Policy evaluations off the event loop: a bounded pool of worker processes.

regorus holds the GIL for the whole of an evaluation (measured: an evaluation of 217 ms
on a worker thread stopped the main thread for 228 ms; see the README's "Policy tier"),
so a worker *thread* would let a slow policy delay every call the fast tiers answer on
the event loop. :class:`PolicyRunner` therefore evaluates in worker processes (started
with ``spawn``, so that no gRPC state is forked), each with its own compiled
:class:`~lighthouse.policy.Policy` of the same sources.

- Bounded: at most ``max_pending`` evaluations are queued or running; one more raises
  :class:`PolicyBusy` at once (a :class:`PolicyEvalError`, so the pipeline's breaker and
  fail mode handle it).
- ``timeout``: an evaluation past it raises :class:`PolicyTimeout`, and the pool is
  replaced (a runaway evaluation cannot be interrupted inside regorus, so its process is
  terminated).
- :meth:`reload` compiles the new sources in this process first (a refused source
  raises :class:`PolicyCompileError` and the running pool stays), then swaps in a new
  pool; evaluations already submitted finish on the old one.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .engine import Policy, PolicyEvalError, guard_result, parse_result

__all__ = ["PolicyRunner", "PolicyBusy", "PolicyTimeout"]


class PolicyBusy(PolicyEvalError):
    """More evaluations are pending than the runner takes."""


class PolicyTimeout(PolicyEvalError):
    """An evaluation ran past its timeout."""


_worker_policy = None


def _init_worker(dirs, default, entrypoint, parent):
    global _worker_policy
    _exit_with_parent(parent)
    # The parent has compiled the same sources; a failure here is reported per call.
    _worker_policy = Policy(dirs, default=default, entrypoint=entrypoint)


def _exit_with_parent(parent):
    """End this worker when the server that started it is gone, however it ended (a
    SIGKILL runs no shutdown): a worker blocked on its call queue would not notice."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)
    threading.Thread(target=watch, name="lighthouse-policy-parent-watch", daemon=True).start()


def _evaluate_raw(input_doc):
    # The worker's own generation counts from 1; the runner stamps the parent's.
    t0 = time.perf_counter_ns()
    value = _worker_policy.evaluate_raw(input_doc)
    return value, _worker_policy.generation, time.perf_counter_ns() - t0


def _ping():
    return os.getpid()


class PolicyRunner:
    """Evaluate a :class:`Policy`'s sources in ``processes`` worker processes, for
    asyncio callers. ``policy`` is compiled here first (its dirs, default flag and
    entrypoint are what the workers load). Call :meth:`start` (optional: it warms the
    workers up) and :meth:`close` when done; usable as an async context manager."""

    def __init__(self, policy, *, processes=2, max_pending=256, timeout=None):
        if processes < 1 or max_pending < 1:
            raise ValueError("processes and max_pending must be at least 1")
        self.policy = policy
        self.processes = processes
        self.max_pending = max_pending
        self.timeout = timeout
        self._pending = 0
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._generation = policy.generation

    def _new_pool(self):
        p = self.policy
        return ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker,
                                   initargs=(list(p._dirs), p._default, p.entrypoint, os.getpid()))

    @property
    def generation(self):
        return self._generation

    @property
    def pending(self):
        """Evaluations queued or running."""
        return self._pending

    async def start(self):
        """Start every worker process and compile its policy, so that the first calls
        do not wait for it."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ping) for _ in range(self.processes)))

    async def evaluate(self, input_doc, timeout=None):
        """The validated PolicyResult for ``input_doc``; raises PolicyEvalError (and its
        PolicyBusy, PolicyTimeout, PolicyResultError)."""
        return (await self.evaluate_timed(input_doc, timeout))[0]

    async def evaluate_timed(self, input_doc, timeout=None):
        """(:meth:`evaluate`'s result, the nanoseconds the Rego evaluation itself took in
        its worker process)."""
        with self._lock:
            if self._pending >= self.max_pending:
                raise PolicyBusy("the policy tier has %d evaluations pending" % self._pending)
            self._pending += 1
            pool, generation = self._pool, self._generation
        timeout = self.timeout if timeout is None else timeout
        try:
            fut = asyncio.get_running_loop().run_in_executor(pool, _evaluate_raw, input_doc)
            try:
                value, _, eval_ns = await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                self._recycle(pool)
                raise PolicyTimeout("policy evaluation ran past %gs" % timeout) from None
            except BrokenProcessPool:
                self._recycle(pool)
                raise PolicyEvalError("a policy worker process died") from None
        finally:
            with self._lock:
                self._pending -= 1
        return guard_result(parse_result(value, generation), input_doc), eval_ns

    def _recycle(self, pool):
        """Replace ``pool`` (if still current) and terminate its processes."""
        with self._lock:
            if self._pool is pool:
                self._pool = self._new_pool()
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)

    def reload(self, dirs=None, default=None):
        """Recompile the policy (raises PolicyCompileError and keeps the running one when
        a source is refused) and move new evaluations to a fresh pool."""
        generation = self.policy.reload(dirs, default)
        with self._lock:
            old, self._pool = self._pool, self._new_pool()
            self._generation = generation
        old.shutdown(wait=False)
        return generation

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        # Only the pool goes to the helper thread: the Policy's engines belong to this one.
        shutdown = functools.partial(self._pool.shutdown, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, shutdown)
