"""Policy evaluations off the event loop: worker processes spoken to over pipes.

regorus holds the GIL for the whole of an evaluation (measured: an evaluation of 217 ms
on a worker thread stopped the main thread for 228 ms; see the README's "Policy tier"),
so a worker *thread* would let a slow policy delay every call the fast tiers answer on
the event loop. :class:`PolicyRunner` therefore evaluates in worker processes (started
with ``spawn``, so that no gRPC state is forked), each with its own compiled
:class:`~lighthouse.policy.Policy` of the same sources.

The event loop speaks to each worker over a pipe of its own, without helper threads:
a request is a length-prefixed frame (an 8-byte id and the input document as JSON
text, which the worker hands to regorus as it is), written without blocking (what the
pipe does not take is written when it is writable again); the answer frame (the
policy's value and the evaluation's time, in :mod:`marshal`'s format: written and read
by the same Python in processes this one started, and several times cheaper than JSON
both ways) is read when the pipe is readable. That is one hop each way: a round trip of tens of
microseconds, where a ``concurrent.futures`` process pool takes several hundred (its
feeder and result threads add two hops and the GIL between them).

- Bounded: at most ``max_pending`` evaluations are queued or running; one more raises
  :class:`PolicyBusy` at once (a :class:`PolicyEvalError`, so the pipeline's breaker and
  fail mode handle it). A call goes to the worker with the fewest pending.
- ``timeout``: an evaluation past it raises :class:`PolicyTimeout`, and its worker is
  replaced (a runaway evaluation cannot be interrupted inside regorus, so the process is
  terminated; the evaluations queued behind it fail with :class:`PolicyEvalError`).
- A worker that dies fails its pending evaluations and is replaced.
- :meth:`reload` compiles the new sources in this process first (a refused source
  raises :class:`PolicyCompileError` and the running workers stay), then starts new
  workers; evaluations already sent finish on the old ones, which then exit. Each
  answer is stamped with the generation of the worker that gave it.
- Workers end when their pipe closes, and when the server that started them is gone
  however it ended (a SIGKILL runs no shutdown).
"""

from __future__ import annotations

import asyncio
import marshal
import multiprocessing
import os
import struct
import threading
import time

from .engine import Policy, PolicyEvalError, guard_result, parse_result
from .input import input_json

__all__ = ["PolicyRunner", "PolicyBusy", "PolicyTimeout"]

_HEADER = struct.Struct("<IQ")          # frame length (after the header), request id
_READY = 0                              # the id of a worker's first frame: compiled, or why not
_OK, _FAILED = 0, 1                     # an answer: (_OK, value, ns) or (_FAILED, message)
MAX_FRAME = 64 * 1024 * 1024
# Bytes asked of a worker's pipe per read. os.read allocates what it is asked for before
# it reads: 1 MiB is an mmap and its page faults on every answer (measured ~30 us for an
# answer of 150 bytes), 64 KiB comes from the heap. A larger frame takes several reads.
_READ_SIZE = 64 * 1024


class PolicyBusy(PolicyEvalError):
    """More evaluations are pending than the runner takes."""


class PolicyTimeout(PolicyEvalError):
    """An evaluation ran past its timeout."""


# ------------------------------------------------------------------ the worker process

def _exit_with_parent(parent):
    """End this worker when the server that started it is gone, however it ended (a
    SIGKILL runs no shutdown): a worker busy with a long evaluation is not reading the
    pipe whose end would tell it."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)
    threading.Thread(target=watch, name="lighthouse-policy-parent-watch", daemon=True).start()


def _read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _worker_main(conn, dirs, default, entrypoint, parent, nice=0):
    _exit_with_parent(parent)
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass                    # the worker evaluates at the server's priority
    fd = conn.fileno()
    try:
        # The parent has compiled the same sources; a failure here is reported at start.
        policy = Policy(dirs, default=default, entrypoint=entrypoint)
    except Exception as e:          # noqa: BLE001 (reported to the parent whatever it is)
        body = marshal.dumps((_FAILED, "the policy worker could not compile the policy: %s" % e))
        _write_all(fd, _HEADER.pack(len(body), _READY) + body)
        return
    body = marshal.dumps((_OK, None, 0))
    _write_all(fd, _HEADER.pack(len(body), _READY) + body)
    perf = time.perf_counter_ns
    while True:
        header = _read_exact(fd, _HEADER.size)
        if header is None:
            return                  # the parent closed the pipe: done
        size, rid = _HEADER.unpack(header)
        payload = _read_exact(fd, size)
        if payload is None:
            return
        t0 = perf()
        try:
            value = policy.evaluate_raw_json(payload.decode("utf-8"))
            body = marshal.dumps((_OK, value, perf() - t0))
        except PolicyEvalError as e:
            body = marshal.dumps((_FAILED, str(e)))
        except ValueError as e:         # a value marshal cannot carry
            body = marshal.dumps((_FAILED, "policy answered a value that cannot be sent: %s" % e))
        _write_all(fd, _HEADER.pack(len(body), rid) + body)


# ------------------------------------------------------------------ the parent's side

def _answer(body):
    """A worker's answer frame read: ``(_OK, value, ns)`` or ``(_FAILED, message)``;
    anything else (a frame that does not load, or of another shape) is a failure."""
    try:
        answer = marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        answer = None
    if type(answer) is not tuple or len(answer) != (3 if answer and answer[0] == _OK else 2) or \
            answer[0] not in (_OK, _FAILED) or (answer[0] == _FAILED and type(answer[1]) is not str):
        return (_FAILED, "a policy worker answered a frame that is not an answer")
    return answer


class _Worker:
    """One worker process, its pipe and the evaluations sent to it."""

    def __init__(self, runner, generation):
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe(duplex=True)
        p = runner.policy
        self.process = ctx.Process(target=_worker_main, name="lighthouse-policy-worker", daemon=True,
                                   args=(theirs, list(p._dirs), p._default, p.entrypoint, os.getpid(),
                                         runner.nice))
        self.process.start()
        theirs.close()
        self.conn = mine
        self.fd = mine.fileno()
        os.set_blocking(self.fd, False)
        self.generation = generation
        self.pending = {}           # request id -> future
        self.ready = runner.loop.create_future()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.draining = False       # replaced by a reload: takes no new requests
        self.closed = False


class PolicyRunner:
    """Evaluate a :class:`Policy`'s sources in ``processes`` worker processes, for
    asyncio callers. ``policy`` is compiled here first (its dirs, default flag and
    entrypoint are what the workers load). ``nice``: the niceness the workers add to this
    process's, so that on a busy machine the event loop answering the fast tiers' calls
    gets the CPU before a policy evaluation does. The runner belongs to the event loop it is
    started on: call :meth:`start` (it starts the workers and waits until they have
    compiled the policy) and :meth:`aclose` when done; usable as an async context
    manager. :meth:`reload` may be called from any thread."""

    def __init__(self, policy, *, processes=2, max_pending=256, timeout=None, nice=0):
        if processes < 1 or max_pending < 1:
            raise ValueError("processes and max_pending must be at least 1")
        if not 0 <= nice < 20:
            raise ValueError("nice must be in 0..19")
        self.nice = nice
        self.policy = policy
        self.processes = processes
        self.max_pending = max_pending
        self.timeout = timeout
        self.loop = None
        self._workers = []
        self._pending = 0
        self._next_id = _READY
        self._generation = policy.generation
        self._closed = False

    @property
    def generation(self):
        """The generation of the policy new evaluations are sent to."""
        return self._generation

    @property
    def pending(self):
        """Evaluations queued or running."""
        return self._pending

    async def start(self):
        """Start every worker process and wait until each has compiled its policy, so
        that the first calls do not wait for it. Raises PolicyEvalError when a worker
        cannot start."""
        self.loop = asyncio.get_running_loop()
        if not self._workers:
            self._workers = [self._spawn(self._generation) for _ in range(self.processes)]
        try:
            await asyncio.gather(*(asyncio.shield(w.ready) for w in self._workers))
        except BaseException:
            await self.aclose()
            raise

    def _spawn(self, generation):
        w = _Worker(self, generation)
        # A replacement's readiness is awaited by no one: its failure shows on the calls.
        w.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.loop.add_reader(w.fd, self._readable, w)
        return w

    # ------------------------------------------------------------ evaluation

    async def evaluate(self, input_doc, timeout=None):
        """The validated PolicyResult for ``input_doc``; raises PolicyEvalError (and its
        PolicyBusy, PolicyTimeout, PolicyResultError)."""
        return (await self.evaluate_timed(input_doc, timeout))[0]

    async def evaluate_timed(self, input_doc, timeout=None):
        """(:meth:`evaluate`'s result, the nanoseconds the Rego evaluation itself took in
        its worker process)."""
        if self.loop is None:
            await self.start()
        if self._closed:
            raise PolicyEvalError("the policy runner is closed")
        if self._pending >= self.max_pending:
            raise PolicyBusy("the policy tier has %d evaluations pending" % self._pending)
        try:
            payload = input_json(input_doc).encode("utf-8")
        except (TypeError, ValueError) as e:
            raise PolicyEvalError("the input document is not JSON: %s" % e) from None
        if len(payload) > MAX_FRAME:
            raise PolicyEvalError("the input document is larger than %d bytes" % MAX_FRAME)
        live = [w for w in self._workers if not w.draining and not w.closed]
        if not live:
            live = self._workers = [self._spawn(self._generation) for _ in range(self.processes)]
        # The least busy worker, preferring those that have compiled their policy (a
        # replacement takes a few hundred milliseconds to be ready).
        w = min(live, key=lambda x: (not x.ready.done(), len(x.pending)))
        self._next_id += 1
        rid = self._next_id
        fut = self.loop.create_future()
        w.pending[rid] = fut
        self._pending += 1
        try:
            self._send(w, _HEADER.pack(len(payload), rid) + payload)
            timeout = self.timeout if timeout is None else timeout
            limit = asyncio.timeout(timeout)
            try:
                async with limit:
                    answer = await fut
            except TimeoutError:
                if not limit.expired():
                    raise
                self._replace(w, PolicyEvalError("a policy evaluation ahead of this one ran past its timeout"))
                raise PolicyTimeout("policy evaluation ran past %gs" % timeout) from None
        finally:
            self._pending -= 1
            w.pending.pop(rid, None)
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()     # retrieved (the timeout path leaves it unawaited)
            self._retire_if_drained(w)
        if answer[0] == _FAILED:
            raise PolicyEvalError(answer[1])
        ns = answer[2]
        return guard_result(parse_result(answer[1], w.generation), input_doc), ns if type(ns) is int and ns > 0 else 0

    def _send(self, w, frame):
        if w.outbuf:
            w.outbuf += frame
            return
        try:
            n = os.write(w.fd, frame)
        except BlockingIOError:
            n = 0
        except OSError:
            self._lost(w, "its pipe is closed")
            return
        if n < len(frame):
            w.outbuf += frame[n:]
            self.loop.add_writer(w.fd, self._writable, w)

    def _writable(self, w):
        try:
            n = os.write(w.fd, w.outbuf)
        except BlockingIOError:
            return
        except OSError:
            self._lost(w, "its pipe is closed")
            return
        del w.outbuf[:n]
        if not w.outbuf:
            self.loop.remove_writer(w.fd)

    def _readable(self, w):
        try:
            chunk = os.read(w.fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._lost(w, "it exited")
            return
        buf = w.inbuf
        buf += chunk
        while len(buf) >= _HEADER.size:
            size, rid = _HEADER.unpack_from(buf)
            if size > MAX_FRAME:
                self._lost(w, "it sent a frame of %d bytes" % size)
                return
            end = _HEADER.size + size
            if len(buf) < end:
                break
            body = bytes(buf[_HEADER.size:end])
            del buf[:end]
            answer = _answer(body)
            if rid == _READY:
                if not w.ready.done():
                    if answer[0] == _FAILED:
                        w.ready.set_exception(PolicyEvalError(answer[1]))
                    else:
                        w.ready.set_result(None)
                continue
            fut = w.pending.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(answer)

    # ------------------------------------------------------------ workers' lives

    def _lost(self, w, why):
        """A worker that died or broke its pipe: fail what it holds and replace it."""
        self._replace(w, PolicyEvalError("a policy worker process died (%s)" % why))

    def _replace(self, w, error):
        if w.closed:
            return
        self._close_worker(w, error, kill=True)
        if w in self._workers:
            i = self._workers.index(w)
            if w.draining or self._closed:
                del self._workers[i]
            else:
                self._workers[i] = self._spawn(w.generation)

    def _close_worker(self, w, error=None, kill=False):
        w.closed = True
        self.loop.remove_reader(w.fd)
        if w.outbuf:
            self.loop.remove_writer(w.fd)
        w.conn.close()
        if kill and w.process.is_alive():
            w.process.terminate()
        for fut in w.pending.values():
            if not fut.done():
                fut.set_exception(error or PolicyEvalError("the policy worker was closed"))
        if not w.ready.done():
            w.ready.set_exception(error or PolicyEvalError("the policy worker was closed"))
        w.pending.clear()

    def _retire_if_drained(self, w):
        if w.draining and not w.pending and not w.closed:
            self._close_worker(w)
            if w in self._workers:
                self._workers.remove(w)

    def reload(self, dirs=None, default=None):
        """Recompile the policy (raises PolicyCompileError and keeps the running one when
        a source is refused) and send new evaluations to new workers; returns the new
        generation. Callable from the event loop's thread or any other."""
        generation = self.policy.reload(dirs, default)
        self._generation = generation
        loop = self.loop
        if loop is not None and not self._closed:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                self._swap(generation)
            else:
                asyncio.run_coroutine_threadsafe(self._aswap(generation), loop).result()
        return generation

    async def _aswap(self, generation):
        self._swap(generation)

    def _swap(self, generation):
        old = self._workers
        self._workers = [self._spawn(generation) for _ in range(self.processes)]
        for w in old:
            w.draining = True
            self._workers.append(w)
            self._retire_if_drained(w)

    async def aclose(self):
        """Fail what is pending, close every pipe and wait for the workers to exit."""
        if self._closed or self.loop is None:
            self._closed = True
            return
        self._closed = True
        workers, self._workers = self._workers, []
        for w in workers:
            if not w.closed:
                self._close_worker(w)
        await self.loop.run_in_executor(None, _join, [w.process for w in workers])

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc):
        await self.aclose()


def _join(processes, timeout=5.0):
    """Wait for closed workers to exit (they do when their pipe closes); terminate any
    that do not."""
    deadline = time.monotonic() + timeout
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join(1.0)
