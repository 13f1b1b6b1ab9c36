"""The ExpertHub service and the registry of experts.

Expert agents connect to ``lighthouse.v1.ExpertHub/Serve`` (a bidirectional gRPC stream,
proto/lighthouse/v1/experts.proto), say who they are and what they serve in an
``ExpertHello``, then receive escalations and answer them. Each connected agent is an
:class:`AgentExpert`: an :class:`~lighthouse.experts.base.Expert` whose ``judge`` sends the
escalation down its stream and awaits the matching answer. In-process experts (the LLM
experts) implement the same protocol and sit in the same :class:`ExpertRegistry`, which
the expert tier (lighthouse.experts.tier) routes from.

Admission: with a tokens file, a stream must carry a bearer token with the ``expert``
role (UNAUTHENTICATED without a known token, PERMISSION_DENIED without the role or for an
``expert_id`` other than the token's identity); without a tokens file, only loopback
peers are admitted. A second stream with the same expert id replaces the first (its
escalations go to other experts, or wait for the new stream). Bounded: at most
``max_experts`` experts, ``max_pending`` escalations per expert (its ``max_concurrent``,
capped), ``max_message_bytes`` per message, ``max_bad`` unusable messages per stream.

Liveness: the server sends a heartbeat every ``heartbeat_interval``; an expert that sends
nothing for ``heartbeat_timeout`` is dropped. A dropped or disconnected expert's
escalations fail with :class:`~lighthouse.experts.base.ExpertError` (cause
"disconnected"), and the tier gives them to another expert, or waits for one until the
deadline, then the fail mode.

Answers that match nothing pending (an unknown id, an answer after the deadline or the
withdrawal, a second answer), that do not parse, or that carry no valid verdict are
counted (:class:`~lighthouse.experts.stats.ExpertStats`), answered with an
``AnswerRejected`` and otherwise ignored: never an allow.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import re
import time
from collections import OrderedDict, deque
from time import perf_counter_ns

import grpc
from google.protobuf.message import DecodeError

from ..server.auth import AGENT_ID_RE, parse_bearer
from ..v1 import experts_pb2 as epb
from ..vocab import TIER_CODES, VERDICT_CODES
from .base import ExpertAnswer, ExpertError, check_expert_answer
from .stats import ExpertStats

__all__ = ["ExpertRegistry", "AgentExpert", "ExpertHubService", "expert_hub_handler", "peer_is_local",
           "escalation_message", "SERVICE_NAME", "MAX_GLOBS", "MAX_GLOB"]

log = logging.getLogger("lighthouse.experts")

SERVICE_NAME = epb.DESCRIPTOR.services_by_name["ExpertHub"].full_name
MAX_GLOBS = 64              # tool globs, and categories, of one hello
MAX_GLOB = 256              # characters of one glob or category
_RECENT = 1024              # ids of escalations an expert no longer holds, to name a stray answer,
_RECENT_S = 120.0           # kept at most this many seconds (an answer later than that is "unknown")
_CATEGORY_RE = re.compile(r"[A-Za-z0-9*][A-Za-z0-9._:/*+-]{0,255}\Z")
_monotonic = time.monotonic


def peer_is_local(peer):
    """Whether a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``,
    ``unix:/path``) is this machine's loopback interface or a Unix socket."""
    if not peer:
        return False
    if peer.startswith("unix:"):
        return True
    if peer.startswith("ipv4:"):
        return peer[5:].startswith("127.")
    if peer.startswith("ipv6:"):
        host = peer[5:].rsplit(":", 1)[0].strip("[]")
        return host in ("::1", "0:0:0:0:0:0:0:1") or host.startswith("::ffff:127.")
    return False


class ExpertRegistry:
    """The experts the tier can ask: connected agents and in-process experts, by name.

    ``max_experts`` bounds how many are registered at once. ``on_available`` (settable) is
    called when an expert registers into an empty registry. Waiters
    (:meth:`wait_change`) are woken when an expert is added or frees capacity, so that an
    escalation with no free expert can wait for one until its deadline."""

    def __init__(self, max_experts=256, stats=None):
        if max_experts < 1:
            raise ValueError("max_experts must be >= 1")
        self.max_experts = int(max_experts)
        self.stats = stats or ExpertStats()
        self._experts = {}
        self._waiters = []
        self.on_available = None        # called when the first expert registers (none before)
        # The last ExpertRequest sent and its EscalatedCall: the experts of one quorum
        # send the same message (each with its own deadline_ms), encoded once.
        self.encoded = (None, None)

    def __len__(self):
        return len(self._experts)

    def __iter__(self):
        return iter(list(self._experts.values()))

    def get(self, name):
        return self._experts.get(name)

    def add(self, expert, replace=False):
        """Register ``expert``; returns the expert it replaced (same name) or None.
        Raises ValueError for a name already taken (unless ``replace``) or a full
        registry. An in-process expert must satisfy the Expert protocol."""
        name = getattr(expert, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError("an expert needs a non-empty name")
        for attr in ("serves", "judge"):
            if not callable(getattr(expert, attr, None)):
                raise ValueError("expert %r has no %s()" % (name, attr))
        old = self._experts.get(name)
        if old is not None and not replace:
            raise ValueError("an expert named %r is registered already" % name)
        if old is None and len(self._experts) >= self.max_experts:
            raise ValueError("%d experts are registered already (the limit)" % self.max_experts)
        self._experts[name] = expert
        if not isinstance(expert, AgentExpert):
            self.stats.in_process += 1
        self.notify()
        if len(self._experts) == 1 and old is None and self.on_available is not None:
            self.on_available()
        return old

    def remove(self, expert):
        """Unregister ``expert`` if it is the one registered under its name."""
        if self._experts.get(expert.name) is expert:
            del self._experts[expert.name]
            if not isinstance(expert, AgentExpert):
                self.stats.in_process -= 1

    def candidates(self, tool, category, exclude=()):
        """The experts that serve ``tool`` and ``category``, are not in ``exclude`` (names)
        and have a free slot, least loaded first (load over capacity, then load)."""
        out = []
        for e in self._experts.values():
            if e.name in exclude:
                continue
            try:
                cap = e.capacity
                load = e.load
                if load >= cap or not e.serves(tool, category):
                    continue
            except Exception:           # an in-process expert that fails to say: not asked
                log.exception("expert %s failed to say what it serves", e.name)
                continue
            out.append((load / cap if cap > 0 else 1.0, load, e.name, e))
        out.sort(key=lambda t: t[:3])
        return [t[3] for t in out]

    def serving(self, tool, category, exclude=()):
        """Whether any registered expert not in ``exclude`` serves the call, free or busy."""
        for e in self._experts.values():
            if e.name in exclude:
                continue
            try:
                if e.serves(tool, category):
                    return True
            except Exception:
                continue
        return False

    def notify(self):
        """Wake the escalations waiting for an expert (one was added or freed a slot)."""
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def changed(self):
        """A future resolved at the next :meth:`notify` (give it to :meth:`forget` when
        no longer waiting on it)."""
        f = asyncio.get_running_loop().create_future()
        self._waiters.append(f)
        return f

    def forget(self, f):
        if f in self._waiters:
            self._waiters.remove(f)
        f.cancel()

    async def wait_change(self, timeout):
        """Wait until :meth:`notify` or ``timeout`` seconds; False on timeout."""
        if timeout <= 0:
            return False
        f = asyncio.get_running_loop().create_future()
        self._waiters.append(f)
        try:
            async with asyncio.timeout(timeout):
                await f
            return True
        except TimeoutError:
            return False
        finally:
            if f in self._waiters:
                self._waiters.remove(f)


# One encoder for every escalation (json.dumps with options builds one per call).
_json_text = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def escalation_message(request):
    """The ``EscalatedCall`` for an ExpertRequest (the analysis as JSON text)."""
    rules = []
    for r in (request.analysis or {}).get("rules", ()) or ():
        if isinstance(r, dict):
            rules.append(vpb_rule(r))
    call = epb.EscalatedCall(
        escalation_id=request.escalation_id, tool=request.tool, input_json=_json_text(request.tool_input),
        cwd=request.cwd, home=request.home, agent_id=request.agent_id, session_id=request.session_id,
        why=request.why, rule_id=request.rule_id, rule_reason=request.rule_reason,
        analysis_json=_json_text(request.analysis or {}), rules=rules, category=request.category,
        quorum=request.quorum, deadline_ms=max(0, min(int(request.deadline_ms), 2 ** 32 - 1)))
    p = request.policy
    if p:
        call.policy.CopyFrom(epb.PolicyResult(
            verdict=VERDICT_CODES.get(p.get("verdict"), 0), reason=str(p.get("reason", "")),
            category=str(p.get("category", "")), quorum=max(0, int(p.get("quorum") or 0)),
            decided_by=str(p.get("decided_by", ""))))
    for h in request.history:
        call.history.add(tool=h.get("tool", ""), summary=h.get("summary", ""),
                         verdict=VERDICT_CODES.get(h.get("verdict"), 0), tier=TIER_CODES.get(h.get("tier"), 0))
    return call


def vpb_rule(r):
    cmd = r.get("command", -1)
    return epb.RuleFired(id=str(r.get("id", "")), verdict=VERDICT_CODES.get(r.get("verdict"), 0),
                         reason=str(r.get("reason", "")), command=cmd if type(cmd) is int else -1)


class _Trace:
    """One escalation sent to an expert: when it was queued, handed to gRPC on the
    stream and answered (perf_counter_ns), the time the expert says it took itself (ns,
    0 when it does not say), for the spans of lighthouse_escalation_span_seconds; who to
    wake when it is settled, and its deadline's timer."""

    __slots__ = ("queued", "entered", "written", "read", "own", "wake", "timer")

    def __init__(self, queued, entered, wake):
        self.queued = queued
        self.entered = entered          # when the escalation was asked of this expert
        self.written = 0
        self.read = 0
        self.own = 0
        self.wake = wake                # called as the escalation's future is settled
        self.timer = None               # its deadline (a loop TimerHandle)


class AgentExpert:
    """An expert connected over ExpertHub: ``judge`` sends the escalation down its stream
    and awaits the answer with the same escalation id, until the request's deadline.

    ``send(message, trace=None)`` hands a message to the stream's writer
    (:class:`_StreamWriter`: written at once when the stream is idle, else queued), which
    stamps ``trace.written`` as the message is handed to gRPC."""

    kind = "agent"

    def __init__(self, name, tools=(), categories=(), capacity=1, *, send, registry, stats, token=None,
                 peer="", software="", backlog=None, person=False):
        self.name = name
        self.person = person                # a person at the console (ExpertHello.person)
        self.tools = tuple(tools)
        self.categories = frozenset(categories)
        self.capacity = capacity
        self.token = token
        self.peer = peer
        self.software = software
        self.pending = {}                   # escalation id -> future of its ExpertAnswer
        self._traces = {}                   # escalation id -> its _Trace, while pending
        self.closed = False
        self.ended = None                   # (grpc status, message) to end its stream with
        self.stopped = asyncio.Event()
        self._send = send
        self._backlog = backlog             # messages queued for the stream, not yet written
        self._max_backlog = 4 * capacity + 64
        self._registry = registry
        self._stats = stats
        self._recent = OrderedDict()        # ids it held: "answered" or "withdrawn"
        self._all_tools = not self.tools or "*" in self.tools

    @property
    def load(self):
        return len(self.pending)

    def serves(self, tool, category):
        if self.closed:
            return False
        if not self._all_tools and not any(fnmatch.fnmatchcase(tool, g) for g in self.tools):
            return False
        cats = self.categories
        return not cats or "*" in cats or (bool(category) and category in cats)

    def _forget(self, eid, state):
        recent = self._recent
        now = _monotonic()
        recent[eid] = (state, now)
        recent.move_to_end(eid)
        # The oldest leave first: past the count, or past the time (each id leaves once,
        # so the walk costs nothing over the ids' lives).
        old = now - _RECENT_S
        while len(recent) > _RECENT or next(iter(recent.values()))[1] < old:
            recent.popitem(last=False)

    def ask(self, request, wake=None):
        """Send an escalation down the stream; return a future of the expert's
        ExpertAnswer. The future fails with ExpertError when the expert declines or
        answers no valid verdict, at the request's deadline (cause "timeout", the
        expert is told the escalation is withdrawn) or when the stream ends
        ("disconnected"); cancelling it (or :meth:`withdraw`) withdraws the escalation.
        ``wake()``, when given, is called as the future is settled, in the same turn of
        the event loop (the expert tier waits on one future for all the experts it asked,
        not on a task per expert). Raises ExpertError when the expert cannot take it."""
        entered = perf_counter_ns()
        if self.closed:
            raise ExpertError("expert %s is disconnected" % self.name, "disconnected")
        eid = request.escalation_id
        if eid in self.pending:
            raise ExpertError("expert %s holds escalation %s already" % (self.name, eid), "error")
        if self.load >= self.capacity:
            raise ExpertError("expert %s is at its capacity of %d" % (self.name, self.capacity), "error")
        remaining = request.deadline - _monotonic()
        if remaining <= 0:
            raise ExpertError("the deadline passed before expert %s was asked" % self.name, "timeout")
        if self._backlog is not None and self._backlog() > self._max_backlog:
            # It does not read what it is sent: its queue would grow without end.
            self.stop(grpc.StatusCode.RESOURCE_EXHAUSTED, "expert %s does not read its stream" % self.name)
            raise ExpertError("expert %s does not read its stream" % self.name, "disconnected")
        registry = self._registry
        last_req, call = registry.encoded
        if last_req is not request:
            call = escalation_message(request)
            registry.encoded = (request, call)
        call.deadline_ms = max(1, int(remaining * 1000))       # copied into the Escalation below
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.pending[eid] = fut
        trace = self._traces[eid] = _Trace(perf_counter_ns(), entered, wake)
        trace.timer = loop.call_later(remaining, self._expire, eid, fut)
        fut.add_done_callback(lambda f, eid=eid: self._ended(eid, f))
        self._send(epb.Escalation(call=call), trace)
        return fut

    async def judge(self, request):
        """The Expert interface over :meth:`ask`: the answer, or ExpertError."""
        fut = self.ask(request)
        try:
            return await fut
        except asyncio.CancelledError:
            self.withdraw(request.escalation_id, "cancelled")
            raise

    def _settle(self, eid, fut, state):
        """An escalation this expert held is over (``state``: "answered" or
        "withdrawn"): its slot is free, and whoever waits for it is woken."""
        if self.pending.get(eid) is fut:
            del self.pending[eid]
        trace = self._traces.pop(eid, None)
        if trace is not None:
            if trace.timer is not None:
                trace.timer.cancel()
        self._forget(eid, state)
        self._registry.notify()
        if trace is not None and trace.wake is not None:
            trace.wake()

    def _expire(self, eid, fut):
        """The deadline of an escalation: withdrawn, and a timeout for its asker."""
        if self.pending.get(eid) is not fut or fut.done():
            return
        if not self.closed:
            self._send(epb.Escalation(withdrawn=epb.Withdrawal(escalation_id=eid, reason="deadline")))
        fut.set_exception(ExpertError("expert %s did not answer before the deadline" % self.name, "timeout"))
        self._settle(eid, fut, "withdrawn")

    def _ended(self, eid, fut):
        """A done callback of every escalation's future: one cancelled by its asker
        while still held is withdrawn (the others were settled where they ended)."""
        if self.pending.get(eid) is fut:
            if fut.cancelled() and not self.closed:
                self._send(epb.Escalation(withdrawn=epb.Withdrawal(escalation_id=eid, reason="cancelled")))
            self._settle(eid, fut, "withdrawn")
        elif not fut.cancelled():
            fut.exception()         # retrieved: an answer nobody awaits any more is no error to log

    def withdraw(self, escalation_id, reason):
        """Tell the expert an escalation it holds is no longer needed (``reason``:
        "answered", "cancelled", "deadline"); its judge() is cancelled by the caller."""
        fut = self.pending.get(escalation_id)
        # A cancelled future is one whose judge() is being cancelled (by its own timeout,
        # in this same turn of the loop): withdrawn here, with this reason.
        if fut is not None and (not fut.done() or fut.cancelled()) and not self.closed:
            self._send(epb.Escalation(withdrawn=epb.Withdrawal(escalation_id=escalation_id, reason=reason)))
            fut.cancel()
            self._settle(escalation_id, fut, "withdrawn")

    def receive(self, msg):
        """Take one ExpertAnswer off the stream."""
        read = perf_counter_ns()
        stats = self._stats
        eid = msg.escalation_id
        fut = self.pending.get(eid)
        if fut is None or fut.done():
            past = self._recent.get(eid)
            cause = "unknown" if past is None else "duplicate" if past[0] == "answered" else "late"
            stats.rejected[cause] += 1
            self._reject(eid, cause, {"unknown": "no escalation %.80r is pending for this expert" % eid,
                                      "duplicate": "escalation already answered",
                                      "late": "answer after the escalation's deadline or withdrawal"}[cause])
            return
        if msg.error:
            fut.set_exception(ExpertError("expert %s declined: %s" % (self.name, msg.error[:200]), "declined"))
            self._settle(eid, fut, "withdrawn")
            return
        verdict = {1: "allow", 2: "ask", 3: "deny"}.get(msg.verdict)
        try:
            if verdict is None:
                raise ExpertError("answered no valid verdict (%d)" % msg.verdict, "invalid")
            answer = check_expert_answer(ExpertAnswer(
                verdict, msg.reason, msg.confidence if msg.HasField("confidence") else 1.0, msg.reusable,
                self.name, msg.scope or "call", tuple(msg.exact)))
        except ExpertError as e:
            stats.rejected["invalid"] += 1
            self._reject(eid, "invalid", str(e))
            fut.set_exception(ExpertError("expert %s %s" % (self.name, e), "invalid"))
            self._settle(eid, fut, "withdrawn")
            return
        trace = self._traces.get(eid)
        if trace is not None and trace.written:
            spans = stats.spans
            spans["encode"].observe(trace.queued - trace.entered)
            spans["write"].observe(trace.written - trace.queued)
            # What the expert says it took: a span of the metrics only, and cut to the
            # round trip the server saw whatever it claims.
            own = min(msg.elapsed_us * 1000, read - trace.written)
            spans["stream"].observe(read - trace.written - own)
            if own:
                spans["expert"].observe(own)
        fut.set_result(answer)
        self._settle(eid, fut, "answered")

    def _reject(self, eid, cause, message):
        if self._backlog is not None and self._backlog() > self._max_backlog:
            return                          # counted; not told to an expert that does not read
        self._send(epb.Escalation(rejected=epb.AnswerRejected(escalation_id=eid[:128], cause=cause,
                                                              message=message)))

    def close(self, why="disconnected"):
        """The stream is gone: every escalation it holds fails (the tier re-routes it)."""
        if self.closed:
            return
        self.closed = True
        for eid, fut in list(self.pending.items()):
            if not fut.done():
                fut.set_exception(ExpertError("expert %s %s" % (self.name, why), "disconnected"))
            self._settle(eid, fut, "withdrawn")
        self._registry.remove(self)
        self._registry.notify()

    def stop(self, code, message):
        """End this expert's stream with a status (replaced, token revoked, shutdown)."""
        if self.ended is None:
            self.ended = (code, message)
        self.close(message)
        self.stopped.set()


class _StreamWriter:
    """The writes of one expert's stream, one at a time and in order (gRPC takes one
    write at a time on a stream).

    A message sent while the stream is idle (no write in flight, none queued, the writer
    task waiting) is handed to gRPC at once, in the sender's own turn of the event loop:
    :meth:`send` runs the first step of the stream's write, which serializes the message
    and starts gRPC's batch, and the writer task only awaits its completion. Queued for the
    writer task instead, an escalation would wait for that task's next turn before it
    left the server (the "write" span), and a busy loop makes that turn long. A message
    sent while a write is in flight is queued and written by the writer task after it."""

    __slots__ = ("_write", "_queue", "_started", "_idle")

    def __init__(self, write):
        self._write = write             # the stream's write coroutine function (context.write)
        self._queue = deque()           # (message, trace) waiting for the writes before them
        self._started = None            # a write send() began: (its coroutine, what it awaits),
        #                                 or (None, the exception its first step raised)
        self._idle = None               # the writer task's future while it has nothing to write

    def backlog(self):
        """Messages sent and not yet written, the one in flight included."""
        return len(self._queue) + (self._started is not None)

    def send(self, msg, trace=None):
        """Write ``msg`` (an Escalation) now if the stream is idle, else after the
        messages before it; ``trace.written`` is stamped as it is handed to gRPC. Never
        raises: a write that fails ends the stream through the writer task (:meth:`run`)."""
        idle = self._idle
        if idle is None or idle.done() or self._queue or self._started is not None:
            self._queue.append((msg, trace))
            if idle is not None and not idle.done():
                idle.set_result(None)
            return
        if trace is not None:
            trace.written = perf_counter_ns()          # handed to gRPC: its write is the stream's time
        coro = self._write(msg)
        try:
            self._started = (coro, coro.send(None))
        except StopIteration:
            return                                      # written already
        except Exception as e:
            self._started = (None, e)
        idle.set_result(None)

    async def run(self, activity):
        """The writer task: finish the write :meth:`send` began, write what was queued
        meanwhile, wait for more; ``activity[0]`` takes the loop time of each write's
        end. A write's failure ends the task (and with it the stream) with its exception."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            started = self._started
            if started is not None:
                try:
                    coro, waiting = started
                    if coro is None:
                        raise waiting
                    await _finish(coro, waiting)
                finally:
                    self._started = None
            elif queue:
                msg, trace = queue.popleft()
                if trace is not None:
                    trace.written = perf_counter_ns()
                await self._write(msg)
            else:
                self._idle = loop.create_future()
                try:
                    await self._idle
                finally:
                    self._idle = None
                continue
            activity[0] = loop.time()


async def _finish(coro, waiting):
    """Run to its end, in this task, a coroutine whose first step ran elsewhere and gave
    ``waiting``: the future it awaits (None: a bare yield). The coroutine reads that
    future's outcome itself as it resumes, as it would under its own task; a
    cancellation of this task closes it and propagates."""
    while True:
        if waiting is None:
            await asyncio.sleep(0)
        else:
            # As a Task does with a future its coroutine yields: the future's flag says
            # "yielded by an await"; awaiting it again here needs it cleared.
            waiting._asyncio_future_blocking = False
            try:
                await waiting
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    coro.close()
                    raise
            except Exception:
                if not waiting.done():
                    raise               # not the future's own outcome
        try:
            waiting = coro.send(None)
        except StopIteration as e:
            return e.value


class _Bad:
    """A message that could not be read: oversized or not an ExpertMessage."""

    __slots__ = ("cause", "message")

    def __init__(self, cause, message):
        self.cause = cause
        self.message = message


def _deserializer(max_bytes):
    parse = epb.ExpertMessage.FromString

    def deserialize(data):
        if len(data) > max_bytes:
            return _Bad("oversized", "message of %d bytes is over the limit of %d" % (len(data), max_bytes))
        try:
            return parse(data)
        except (DecodeError, ValueError) as e:
            return _Bad("garbage", "not a lighthouse.v1.ExpertMessage (%s)" % (str(e) or "does not parse"))

    return deserialize


class _Refused(Exception):
    def __init__(self, code, message, outcome):
        super().__init__(message)
        self.code = code
        self.message = message
        self.outcome = outcome


class ExpertHubService:
    """lighthouse.v1.ExpertHub over an :class:`ExpertRegistry`.

    ``tokens``: the server's TokenStore (None: loopback peers only). ``max_pending``:
    the cap on an expert's ``max_concurrent``. ``heartbeat_interval``/``heartbeat_timeout``
    and ``hello_timeout`` in seconds. ``max_message_bytes``: the largest ExpertMessage
    read; ``max_bad``: unusable messages a stream may send before it is ended.

    Who is a person (``ExpertHello.person``, whose answers activate learned patterns
    sooner): with tokens, a stream whose token has the ``person`` role; without, only when
    ``trust_local_persons`` (``serve --trust-local-persons``). Otherwise an expert that
    says it is a person is counted as an ordinary expert."""

    def __init__(self, registry, tokens=None, *, max_pending=64, heartbeat_interval=5.0, heartbeat_timeout=15.0,
                 hello_timeout=10.0, max_message_bytes=65536, max_bad=100, trust_local_persons=False):
        if not 0 < heartbeat_interval < heartbeat_timeout:
            raise ValueError("need 0 < heartbeat_interval < heartbeat_timeout")
        if max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        self.registry = registry
        self.stats = registry.stats
        self.tokens = tokens
        self.max_pending = int(max_pending)
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.hello_timeout = float(hello_timeout)
        self.max_message_bytes = int(max_message_bytes)
        self.max_bad = int(max_bad)
        self.trust_local_persons = bool(trust_local_persons)
        self.closing = False

    # ------------------------------------------------------------------ admission

    def _identify(self, context):
        """(token, Identity) of the stream, or (None, None) without tokens; raises _Refused."""
        if self.tokens is None:
            if not peer_is_local(context.peer()):
                raise _Refused(grpc.StatusCode.PERMISSION_DENIED,
                               "experts connect from this machine only when the server has no tokens file",
                               "refused_auth")
            return None, None
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                token = parse_bearer(value)
                break
        ident = self.tokens.identify(token) if token else None
        if ident is None:
            raise _Refused(grpc.StatusCode.UNAUTHENTICATED, "missing or unknown bearer token", "refused_auth")
        if not ident.expert:
            raise _Refused(grpc.StatusCode.PERMISSION_DENIED,
                           "%r has no expert role in the tokens file" % ident.agent_id, "refused_auth")
        return token, ident

    def _check_hello(self, msg, ident):
        """(expert id, tools, categories, capacity, software, person) of a hello; raises _Refused."""
        def bad(text):
            return _Refused(grpc.StatusCode.INVALID_ARGUMENT, text, "refused_hello")
        if msg.__class__ is _Bad:
            raise bad("first message: " + msg.message)
        if msg.WhichOneof("kind") != "hello":
            raise bad("the first message must be an ExpertHello")
        h = msg.hello
        name = h.expert_id
        if ident is not None:
            if name and name != ident.agent_id:
                raise _Refused(grpc.StatusCode.PERMISSION_DENIED, "expert_id %.80r does not match the token's "
                               "identity" % name, "refused_auth")
            name = ident.agent_id
        if not AGENT_ID_RE.match(name):
            raise bad("hello.expert_id %.80r: use 1-128 of [A-Za-z0-9._@:/+-]" % name)
        for field, values in (("tools", h.tools), ("categories", h.categories)):
            if len(values) > MAX_GLOBS:
                raise bad("hello.%s: at most %d entries" % (field, MAX_GLOBS))
            for v in values:
                if not v or len(v) > MAX_GLOB or any(c.isspace() or ord(c) < 32 for c in v):
                    raise bad("hello.%s: %.80r is not a glob of 1-%d printable characters" % (field, v, MAX_GLOB))
        for c in h.categories:
            if not _CATEGORY_RE.match(c):
                raise bad("hello.categories: %.80r is not a category name" % c)
        capacity = min(max(h.max_concurrent, 1), self.max_pending)
        # A person's word is taken from a token with the person role, or without tokens
        # when the operator said so: a self-declared person is an ordinary expert.
        person = h.person and (ident.person if ident is not None else self.trust_local_persons)
        return name, tuple(h.tools), tuple(h.categories), capacity, h.software[:128], person

    # ------------------------------------------------------------------ the stream

    async def Serve(self, request_iterator, context):
        stats = self.stats
        expert = None
        try:
            if self.closing:
                raise _Refused(grpc.StatusCode.UNAVAILABLE, "server is shutting down; reconnect", "closed")
            token, ident = self._identify(context)
            try:
                async with asyncio.timeout(self.hello_timeout):
                    msg = await context.read()
            except TimeoutError:
                raise _Refused(grpc.StatusCode.DEADLINE_EXCEEDED, "no ExpertHello within %g s"
                               % self.hello_timeout, "refused_hello") from None
            if msg is grpc.aio.EOF:
                return
            name, tools, categories, capacity, software, person = self._check_hello(msg, ident)
            out = _StreamWriter(context.write)
            expert = AgentExpert(name, tools, categories, capacity, send=out.send, registry=self.registry,
                                 stats=stats, token=token, peer=context.peer(), software=software,
                                 backlog=out.backlog, person=person)
            try:
                old = self.registry.add(expert, replace=True)
            except ValueError as e:
                raise _Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e), "refused_full") from None
            if old is not None:
                stats.connections["replaced"] += 1
                if isinstance(old, AgentExpert):
                    old.stop(grpc.StatusCode.ABORTED, "replaced by a new stream of expert %s" % name)
            stats.connections["accepted"] += 1
            stats.connected += 1
            log.info("expert %s connected from %s (%r; tools %s, categories %s, %d at once)", name,
                     context.peer(), software, ",".join(tools) or "*", ",".join(categories) or "*", capacity)
            try:
                await self._run(expert, out, context)
            finally:
                stats.connected -= 1
                expert.close()
            if expert.ended is not None:
                await context.abort(*expert.ended)
        except _Refused as e:
            stats.connections[e.outcome] += 1
            log.warning("ExpertHub: %s refused for peer %s: %s", e.code.name, context.peer(), e.message)
            await context.abort(e.code, e.message)

    async def _run(self, expert, out, context):
        expert._send(epb.Escalation(welcome=epb.Welcome(
            expert_id=expert.name, max_concurrent=expert.capacity,
            heartbeat_interval_ms=int(self.heartbeat_interval * 1000),
            heartbeat_timeout_ms=int(self.heartbeat_timeout * 1000), max_message_bytes=self.max_message_bytes)))
        # When the stream last carried a message each way (loop time): the heartbeats
        # and the expert's liveness are kept by two timers, not by a timeout around
        # each read and each write of the escalations.
        activity = [asyncio.get_running_loop().time()] * 2     # [written, read]
        writer = asyncio.ensure_future(out.run(activity))
        reader = asyncio.ensure_future(self._read(expert, context, activity))
        beats = asyncio.ensure_future(self._beat(expert, activity))
        watch = asyncio.ensure_future(self._watch(expert, activity))
        stopped = asyncio.ensure_future(expert.stopped.wait())
        tasks = (writer, reader, beats, watch, stopped)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        ended = None
        for t in (reader, watch):
            if t.done() and not t.cancelled() and t.exception() is None and t.result():
                ended = t.result()
                break
        if ended is not None:
            code, message, outcome = ended
            self.stats.connections[outcome] += 1
            if expert.ended is None:
                expert.ended = (code, message)
        elif expert.ended is None:
            self.stats.connections["closed"] += 1
        if expert.ended is not None:
            log.info("expert %s: stream ended (%s)", expert.name, expert.ended[1])

    async def _beat(self, expert, activity):
        """A heartbeat whenever nothing was written for ``heartbeat_interval`` (and
        nothing waits to be: one stuck behind a write the expert does not read would be
        one more message queued every interval)."""
        loop = asyncio.get_running_loop()
        interval = self.heartbeat_interval
        while True:
            left = activity[0] + interval - loop.time()
            if left <= 0:
                if not expert._backlog():
                    expert._send(epb.Escalation(heartbeat=epb.Heartbeat(unix_ms=int(time.time() * 1000))))
                activity[0] = loop.time()
                left = interval
            await asyncio.sleep(left)

    async def _watch(self, expert, activity):
        """The reason to end the stream when the expert sends nothing for
        ``heartbeat_timeout``."""
        loop = asyncio.get_running_loop()
        timeout = self.heartbeat_timeout
        while True:
            left = activity[1] + timeout - loop.time()
            if left <= 0:
                return (grpc.StatusCode.UNAVAILABLE, "no message from expert %s for %g s: dropped"
                        % (expert.name, timeout), "dropped_heartbeat")
            await asyncio.sleep(left)

    async def _read(self, expert, context, activity):
        """Read until EOF (None) or a reason to end the stream ((code, message, outcome))."""
        bad = 0
        stats = self.stats
        loop = asyncio.get_running_loop()
        while True:
            msg = await context.read()
            activity[1] = loop.time()
            if msg is grpc.aio.EOF:
                return None
            if msg.__class__ is _Bad:
                stats.rejected[msg.cause] += 1
                bad += 1
            else:
                kind = msg.WhichOneof("kind")
                if kind == "answer":
                    expert.receive(msg.answer)
                    continue
                if kind == "heartbeat":
                    continue
                stats.rejected["garbage"] += 1      # an empty message or a second hello
                bad += 1
            if bad > self.max_bad:
                return (grpc.StatusCode.INVALID_ARGUMENT, "more than %d unusable messages" % self.max_bad,
                        "closed")

    # ------------------------------------------------------------------ server events

    def recheck(self, tls_changed=False):
        """After a reload: end the streams whose token is revoked or lost the expert
        role; every stream when the TLS files changed (its expert reconnects and is
        checked by a new handshake). A stream whose token lost the person role stays,
        no longer a person (its answers count as an ordinary expert's from then on)."""
        for e in self.registry:
            if not isinstance(e, AgentExpert):
                continue
            if tls_changed:
                e.stop(grpc.StatusCode.UNAVAILABLE, "the server's TLS certificates changed; reconnect")
                continue
            if self.tokens is None or e.token is None:
                continue
            ident = self.tokens.identify(e.token)
            if ident is None:
                e.stop(grpc.StatusCode.UNAUTHENTICATED, "bearer token revoked")
            elif not ident.expert:
                e.stop(grpc.StatusCode.PERMISSION_DENIED, "the token lost its expert role")
            elif e.person and not ident.person:
                # From its next answer on, it teaches learned patterns as an ordinary
                # expert (a role given back counts from its next connection).
                e.person = False
                log.warning("expert %s: its token lost the person role", e.name)

    def close(self):
        """Shutdown: refuse new streams and end the open ones with UNAVAILABLE."""
        self.closing = True
        for e in self.registry:
            if isinstance(e, AgentExpert):
                e.stop(grpc.StatusCode.UNAVAILABLE, "server is shutting down; reconnect")


def expert_hub_handler(service):
    """The generic handler of lighthouse.v1.ExpertHub (lenient, size-checked requests)."""
    return grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "Serve": grpc.stream_stream_rpc_method_handler(
            service.Serve, request_deserializer=_deserializer(service.max_message_bytes),
            response_serializer=epb.Escalation.SerializeToString),
    })

