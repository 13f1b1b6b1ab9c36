"""The expert SDK: turn a function into an expert connected to a Lighthouse server.

    from lighthouse.experts.agent import run_expert

    def judge(request):                     # a lighthouse.experts.ExpertRequest
        if request.tool == "Bash" and request.tool_input["command"].startswith("make "):
            return "allow", "make targets are routine here"
        return "ask", "not sure: a person decides"

    run_expert(judge, server="127.0.0.1:50051", expert_id="build-expert", tools=["Bash"])

``judge`` may be a plain function (run in a thread pool, so it may block) or a coroutine
function, and may return an :class:`~lighthouse.experts.ExpertAnswer`, a verdict word,
a ``(verdict, reason[, confidence[, reusable[, scope[, exact]]]])`` tuple or a dict with
those keys (``scope``: "call", the default, or "shape": the answer holds for every call of
the same shape, and the server may learn a pattern from it, lighthouse.patterns;
``exact``: a list of words of the call that must match exactly for it to hold, such as
the ``staging`` of ``--context staging``). An
exception, or anything else, is sent as the expert declining the call (the server asks
another expert or answers with its fail mode): never an allow.

:class:`ExpertAgent` keeps the stream up: it reconnects with exponential backoff (and
jitter) when the server goes away, sends heartbeats at the interval the server asks for,
runs at most ``max_concurrent`` judgements at once, and cancels a judgement the server
withdraws (its deadline passed, or other experts decided): the ``CancelledError`` the
judge sees then carries the server's reason (``"deadline"``, ``"answered"``,
``"cancelled"``) as its argument; a judgement cancelled because the stream ended or the
agent stops carries none. Each answer carries the time this side took on it, from
reading the escalation to writing the answer (``ExpertAnswer.elapsed_us``): the server's
span metrics tell the stream's time from the expert's with it. It stops on :meth:`stop`, or
raises :class:`ExpertRefused` when the server refuses it for good (a bad token, a token
without the expert role, a hello it does not accept, another stream with the same expert
id replacing it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter_ns

import grpc

from .. import __version__
from ..v1 import experts_pb2 as epb
from ..v1 import experts_pb2_grpc
from ..vocab import TIER_NAMES, VERDICT_CODES, VERDICT_NAMES
from .base import ExpertAnswer, ExpertRequest, check_exact

__all__ = ["ExpertAgent", "ExpertRefused", "run_expert", "to_request", "answer_message"]

log = logging.getLogger("lighthouse.experts.agent")

# ABORTED: another stream with this expert id replaced this one. Reconnecting would
# replace that one in turn, and two experts sharing an id would take turns forever.
_FATAL = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT,
          grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.ABORTED)


class ExpertRefused(Exception):
    """The server refused this expert for a reason retrying does not fix."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code


def to_request(call):
    """The ExpertRequest for an ``EscalatedCall`` received from the server; its
    ``deadline`` is on this process's monotonic clock."""
    try:
        tool_input = json.loads(call.input_json) if call.input_json else {}
    except ValueError:
        tool_input = call.input_json
    try:
        analysis = json.loads(call.analysis_json) if call.analysis_json else {}
    except ValueError:
        analysis = {}
    policy = None
    if call.HasField("policy"):
        p = call.policy
        policy = {"verdict": VERDICT_NAMES[p.verdict] if p.verdict < len(VERDICT_NAMES) else "unspecified",
                  "reason": p.reason, "category": p.category, "quorum": p.quorum, "decided_by": p.decided_by}
    history = tuple({"tool": h.tool, "summary": h.summary,
                     "verdict": VERDICT_NAMES[h.verdict] if h.verdict < len(VERDICT_NAMES) else "unspecified",
                     "tier": TIER_NAMES[h.tier] if h.tier < len(TIER_NAMES) else "unspecified"}
                    for h in call.history)
    return ExpertRequest(
        escalation_id=call.escalation_id, tool=call.tool, tool_input=tool_input, cwd=call.cwd, home=call.home,
        agent_id=call.agent_id, session_id=call.session_id, why=call.why, rule_id=call.rule_id,
        rule_reason=call.rule_reason, analysis=analysis, policy=policy, category=call.category,
        quorum=call.quorum or 1, history=history, deadline=time.monotonic() + call.deadline_ms / 1000.0,
        deadline_ms=call.deadline_ms)


def answer_message(escalation_id, result):
    """The ExpertAnswer message for what a judge function returned (see the module
    docstring); anything unusable becomes a declined answer (``error`` set)."""
    verdict, reason, confidence, reusable, scope, exact = None, "", None, False, "call", ()
    if isinstance(result, ExpertAnswer):
        verdict, reason, confidence, reusable = result.verdict, result.reason, result.confidence, result.reusable
        scope, exact = result.scope, result.exact
    elif isinstance(result, str):
        verdict = result
    elif isinstance(result, tuple) and 1 <= len(result) <= 6:
        verdict = result[0]
        reason = result[1] if len(result) > 1 else ""
        confidence = result[2] if len(result) > 2 else None
        reusable = result[3] if len(result) > 3 else False
        scope = result[4] if len(result) > 4 else "call"
        exact = result[5] if len(result) > 5 else ()
    elif isinstance(result, dict):
        verdict, reason = result.get("verdict"), result.get("reason", "")
        confidence, reusable = result.get("confidence"), result.get("reusable", False)
        scope, exact = result.get("scope", "call"), result.get("exact", ())
    try:
        exact = check_exact(exact)
    except ValueError:
        exact = None
    msg = epb.ExpertAnswer(escalation_id=escalation_id)
    if verdict not in ("allow", "ask", "deny") or not isinstance(reason, str) or type(reusable) is not bool or (
            confidence is not None and (type(confidence) not in (int, float) or not 0 <= confidence <= 1)) or (
            scope not in ("call", "shape")) or exact is None:
        msg.error = "the expert's judge returned no usable answer: %.120r" % (result,)
        return msg
    msg.verdict = VERDICT_CODES[verdict]
    msg.reason = reason[:1024]
    msg.reusable = reusable
    msg.scope = scope
    msg.exact.extend(exact)
    if confidence is not None:
        msg.confidence = float(confidence)
    return msg


class ExpertAgent:
    """One expert connected to ``server`` (``host:port``). See the module docstring.

    ``token``: a bearer token with the expert role (servers with a tokens file).
    ``root_certificates`` (PEM bytes) or ``tls=True``: connect with TLS (the system's
    roots without ``root_certificates``); ``certificate_chain`` and ``private_key`` (PEM
    bytes): the client certificate of mutual TLS. ``tools``
    (globs) and ``categories``: what it serves (empty: everything). ``backoff``: the
    first and the longest wait between reconnects, in seconds. ``person``: a person
    answers (the console), so that one answer of scope "shape" teaches a pattern."""

    def __init__(self, judge, server, *, expert_id="", tools=(), categories=(), max_concurrent=4, token=None,
                 tls=False, root_certificates=None, certificate_chain=None, private_key=None,
                 backoff=(0.2, 10.0), software=None, person=False):
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.judge = judge
        self.server = server
        self.expert_id = expert_id
        self.tools = list(tools)
        self.categories = list(categories)
        self.max_concurrent = int(max_concurrent)
        self.token = token
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("certificate_chain and private_key go together")
        self.tls = tls or root_certificates is not None or certificate_chain is not None
        self.root_certificates = root_certificates
        self.certificate_chain = certificate_chain
        self.private_key = private_key
        self.backoff = backoff
        self.software = software or "lighthouse-expert-sdk/%s" % __version__
        self.person = bool(person)      # a person answers (the console): ExpertHello.person
        self.connected = asyncio.Event()
        self.connections = 0            # streams the server welcomed
        self.answered = 0
        self.withdrawn = 0
        self.rejected = 0               # answers the server did not use
        self.welcome = None
        self._stopping = False
        self._stop_event = None
        self._call = None
        self._session_task = None
        self._pool = None
        self._is_async = asyncio.iscoroutinefunction(judge) or asyncio.iscoroutinefunction(
            getattr(judge, "__call__", None))

    def stop(self):
        """Disconnect and make :meth:`run` return (in-flight judgements are cancelled)."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        if self._call is not None:
            self._call.cancel()
        if self._session_task is not None:
            # Whatever the session awaits (a write to a channel still connecting, the
            # stream's end) is interrupted: stop never waits on the network.
            self._session_task.cancel()

    async def run(self):
        """Connect, serve, reconnect; returns after :meth:`stop`."""
        self._stop_event = asyncio.Event()
        if self._stopping:
            return
        first, longest = self.backoff
        delay = first
        self._pool = None if self._is_async else ThreadPoolExecutor(self.max_concurrent,
                                                                    thread_name_prefix="lighthouse-expert")
        try:
            while not self._stopping:
                welcomed = False
                session = self._session_task = asyncio.ensure_future(self._session())
                try:
                    welcomed = await session
                except ExpertRefused:
                    raise
                except grpc.aio.AioRpcError as e:
                    if e.code() in _FATAL:
                        raise ExpertRefused(e.code(), e.details() or "") from None
                    if not self._stopping:
                        log.warning("expert %s: stream ended (%s: %s); reconnecting", self.expert_id,
                                    e.code().name, e.details())
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                finally:
                    self._session_task = None
                    self.connected.clear()
                if self._stopping:
                    break
                delay = first if welcomed else min(delay * 2, longest)
                try:
                    async with asyncio.timeout(delay * random.uniform(0.5, 1.0)):
                        await self._stop_event.wait()
                except TimeoutError:
                    pass
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _channel(self):
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        if self.tls:
            creds = grpc.ssl_channel_credentials(root_certificates=self.root_certificates,
                                                 private_key=self.private_key,
                                                 certificate_chain=self.certificate_chain)
            return grpc.aio.secure_channel(self.server, creds, options=options)
        return grpc.aio.insecure_channel(self.server, options=options)

    async def _session(self):
        """One stream, until it ends. Returns whether the server welcomed it."""
        metadata = (("authorization", "Bearer " + self.token),) if self.token else None
        welcomed = False
        tasks = {}
        lock = asyncio.Lock()
        async with self._channel() as channel:
            call = self._call = experts_pb2_grpc.ExpertHubStub(channel).Serve(metadata=metadata)

            async def write(msg, read_ns=None):
                """Write one message; False when the stream had already ended ("RPC already
                finished"): the read below then sees its status and the session ends with it."""
                async with lock:
                    if read_ns is not None:
                        # The time this expert took, from reading the escalation to writing
                        # the answer: the server tells it from the stream's own time.
                        msg["answer"].elapsed_us = (perf_counter_ns() - read_ns) // 1000
                    try:
                        await call.write(epb.ExpertMessage(**msg))
                    except asyncio.InvalidStateError:
                        return False
                    return True

            async def beat(interval):
                while True:
                    await asyncio.sleep(interval)
                    await write({"heartbeat": epb.Heartbeat(unix_ms=int(time.time() * 1000))})

            async def answer(esc, read_ns):
                try:
                    request = to_request(esc)
                    try:
                        if self._is_async:
                            result = await self.judge(request)
                        else:
                            result = await asyncio.get_running_loop().run_in_executor(self._pool, self.judge,
                                                                                     request)
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:
                        log.warning("expert %s: judge failed on %s: %s: %s", self.expert_id, esc.escalation_id,
                                    type(e).__name__, e)
                        msg = epb.ExpertAnswer(escalation_id=esc.escalation_id,
                                               error="judge failed: %s" % type(e).__name__)
                    else:
                        msg = answer_message(esc.escalation_id, result)
                    if await write({"answer": msg}, read_ns):
                        self.answered += 1
                finally:
                    tasks.pop(esc.escalation_id, None)

            heart = None
            try:
                await write({"hello": epb.ExpertHello(expert_id=self.expert_id, tools=self.tools,
                                                      categories=self.categories,
                                                      max_concurrent=self.max_concurrent,
                                                      software=self.software, person=self.person)})
                while True:
                    msg = await call.read()
                    if msg is grpc.aio.EOF:
                        break
                    read_ns = perf_counter_ns()
                    kind = msg.WhichOneof("kind")
                    if kind == "call":
                        eid = msg.call.escalation_id
                        if eid in tasks or len(tasks) >= self.max_concurrent:
                            await write({"answer": epb.ExpertAnswer(escalation_id=eid, error="busy")})
                            continue
                        tasks[eid] = asyncio.ensure_future(answer(msg.call, read_ns))
                    elif kind == "withdrawn":
                        t = tasks.pop(msg.withdrawn.escalation_id, None)
                        if t is not None:
                            self.withdrawn += 1
                            t.cancel(msg.withdrawn.reason or "withdrawn")
                    elif kind == "welcome":
                        welcomed = True
                        self.welcome = msg.welcome
                        self.expert_id = msg.welcome.expert_id
                        self.connections += 1
                        self.connected.set()
                        if heart is None:
                            heart = asyncio.ensure_future(beat(max(msg.welcome.heartbeat_interval_ms, 100) / 1000))
                    elif kind == "rejected":
                        self.rejected += 1
                        log.warning("expert %s: answer to %s not used (%s: %s)", self.expert_id,
                                    msg.rejected.escalation_id, msg.rejected.cause, msg.rejected.message)
                code = await call.code()
                if code != grpc.StatusCode.OK and code is not None:
                    if code in _FATAL:
                        raise ExpertRefused(code, await call.details() or "")
                    log.warning("expert %s: stream ended: %s %s", self.expert_id, code.name, await call.details())
            finally:
                self._call = None
                for t in [heart, *tasks.values()]:
                    if t is not None:
                        t.cancel()
                await asyncio.gather(*(t for t in [heart, *tasks.values()] if t is not None),
                                     return_exceptions=True)
        return welcomed


def run_expert(judge, server, **kw):
    """Run an :class:`ExpertAgent` until interrupted (on uvloop when installed); the
    keyword arguments are ExpertAgent's."""
    from ..server.app import run_loop

    async def main():
        await ExpertAgent(judge, server, **kw).run()

    return run_loop(main())
