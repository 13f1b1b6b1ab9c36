"""Clients of the Lighthouse gRPC API: :class:`Client` (blocking) and :class:`AsyncClient`
(asyncio), over the generated ``lighthouse.v1`` stubs.

    from lighthouse.client import Client

    with Client("127.0.0.1:50051", token=TOKEN, agent_id="ci-bot") as c:
        r = c.validate("Bash", {"command": "rm -rf build"}, cwd="/home/dev/app")
        r.verdict, r.rule_id, r.reason, r.tier        # 'allow', 'fs.rm-workspace-build', ..., 'rules'

        results = c.validate_batch([("Bash", {"command": "ls"}), ("Read", {"file_path": "/etc/shadow"})])

        with c.stream() as s:                          # many calls in flight on one stream
            futures = [s.submit("Bash", {"command": cmd}) for cmd in commands]
            verdicts = [f.result(timeout=1).verdict for f in futures]

The asyncio client has the same methods as coroutines, and ``async with c.stream() as s``
whose ``submit`` returns an asyncio future.

Admin calls (``reload_policy``, ``stats``) carry ``admin_token`` when given, else the
secret in ``admin_token_file``, else ``token`` (an admin token of the tokens file), else,
to a loopback target, the secret a server without tokens writes beside its local socket
(``<socket>.admin-token``; the socket found like the hook finds it: ``socket``, else
``$LIGHTHOUSE_SOCKET``, else the default path). The file is read at each admin call, and
only if it is owner-only in a directory no one else can write to.

Every call has a deadline (``timeout``, seconds). Calls are retried, with exponential
backoff inside that deadline, only when the server is UNAVAILABLE. A stream that breaks
with UNAVAILABLE, or that is refused as it opens (CANCELLED before it answered anything:
gRPC's server refuses new streams that way when more calls wait for its application than
its backlog takes, ``lighthouse serve --max-pending-calls``), is reopened and its
unanswered calls are sent again, each at most ``retries`` times more (a validation is
idempotent; a call sent that often without an answer fails). Any other failure raises
:class:`CallError` with the gRPC status code and, for INVALID_ARGUMENT, the field.
Anything but ``verdict == "allow"`` means the call must not run unattended.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import random
import threading
import time
from concurrent.futures import Future

import grpc

from .errors import CallError
from .localsock import Unavailable, admin_token_path, loopback_target, read_admin_token, resolve_socket_path
from .v1 import admin_pb2, admin_pb2_grpc, validation_pb2 as pb, validation_pb2_grpc as pb_grpc
from .vocab import TIER_CODES, VERDICT_CODES

__all__ = ["Client", "AsyncClient", "Result", "CallError", "make_call", "DEFAULT_TARGET"]

DEFAULT_TARGET = os.environ.get("LIGHTHOUSE_ADDR", "127.0.0.1:50051")
VERDICTS = {code: name for name, code in VERDICT_CODES.items()}     # enum value -> verdict
TIERS = {code: name for name, code in TIER_CODES.items()}           # enum value -> tier
_CODES = {c.value[0]: c for c in grpc.StatusCode}
_END = object()


class Result:
    """The server's decision on one call. ``verdict`` is "allow", "ask" or "deny"; in
    batch answers, "error" with ``error`` (a CallError) set when the call was not decided."""

    __slots__ = ("request_id", "verdict", "reason", "rule_id", "tier", "policy_generation",
                 "escalation_id", "decision_ns", "error")

    def __init__(self, request_id, verdict, reason="", rule_id="", tier="", policy_generation=0,
                 escalation_id="", decision_ns=0, error=None):
        self.request_id = request_id
        self.verdict = verdict
        self.reason = reason
        self.rule_id = rule_id
        self.tier = tier
        self.policy_generation = policy_generation
        self.escalation_id = escalation_id
        self.decision_ns = decision_ns
        self.error = error

    @classmethod
    def from_proto(cls, d):
        if d.HasField("error"):
            e = d.error
            err = CallError(_CODES.get(e.code, grpc.StatusCode.UNKNOWN), e.message, e.field, d.request_id)
            return cls(d.request_id, "error", e.message, error=err)
        return cls(d.request_id, VERDICTS.get(d.verdict, "error"), d.reason, d.rule_id,
                   TIERS.get(d.tier, ""), d.policy_generation, d.escalation_id, d.decision_ns)

    @property
    def allowed(self):
        return self.verdict == "allow"

    def __repr__(self):
        if self.error is not None:
            return "Result(request_id=%r, error=%r)" % (self.request_id, self.error)
        return "Result(request_id=%r, verdict=%r, rule_id=%r, tier=%r, reason=%r)" % (
            self.request_id, self.verdict, self.rule_id, self.tier, self.reason)


def make_call(tool, tool_input=None, *, cwd=None, agent_id=None, session_id=None, home=None,
              request_id="", fallback=None, input_json=None):
    """A lighthouse.v1.ToolCall. ``tool_input`` is the tool's input object (serialized to
    JSON here), or give ``input_json`` as text. ``fallback`` ("ask"/"deny") can only make
    the server's fail-mode verdict stricter."""
    if input_json is None:
        input_json = json.dumps(tool_input if tool_input is not None else {}, separators=(",", ":"))
    return pb.ToolCall(request_id=request_id, agent_id=agent_id or "", session_id=session_id or "",
                       tool=tool, input_json=input_json, cwd=cwd or "", home=home or "",
                       fallback=VERDICT_CODES.get(fallback, 0) if fallback else 0)


def _read_admin_token(path, required):
    try:
        token = read_admin_token(path)
    except Unavailable as e:
        raise CallError(grpc.StatusCode.UNAUTHENTICATED, "admin secret not sent: %s" % e) from None
    if token is None and required:
        raise CallError(grpc.StatusCode.UNAUTHENTICATED, "admin secret not sent: no file %s" % path)
    return token


class _Config:
    """What both clients share: target, credentials, defaults, retry policy."""

    def __init__(self, target=None, *, token=None, admin_token=None, admin_token_file=None, socket=None,
                 tls=False, root_certificates=None, certificate_chain=None, private_key=None, timeout=2.0,
                 retries=3, backoff=0.05, agent_id=None, session_id=None, options=()):
        self.target = target or DEFAULT_TARGET
        self.token = token
        self.admin_token = admin_token
        self.admin_token_file = admin_token_file
        self.socket = socket
        self.tls = tls or bool(root_certificates or certificate_chain)
        self.root_certificates = root_certificates
        self.certificate_chain = certificate_chain
        self.private_key = private_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.agent_id = agent_id
        self.session_id = session_id
        self.options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
                        ("grpc.max_send_message_length", 64 * 1024 * 1024)] + list(options)
        self.metadata = (("authorization", "Bearer " + token),) if token else None
        self._ids = itertools.count(1)
        self._prefix = "%x-%x-" % (os.getpid(), random.getrandbits(24))

    def admin_metadata(self):
        """The metadata of an Admin call (see the module's doc: which secret it carries)."""
        token = self.admin_token
        if token is None and self.admin_token_file is not None:
            token = _read_admin_token(os.fspath(self.admin_token_file), True)
        if token is None:
            token = self.token
        if token is None and loopback_target(self.target):
            token = _read_admin_token(admin_token_path(os.path.abspath(resolve_socket_path(self.socket))), False)
        return (("authorization", "Bearer " + token),) if token else None

    def credentials(self):
        if not self.tls:
            return None
        return grpc.ssl_channel_credentials(self.root_certificates, self.private_key, self.certificate_chain)

    def next_id(self):
        return self._prefix + str(next(self._ids))

    def call(self, tool, tool_input=None, **kw):
        """A ToolCall with this client's defaults (agent_id, session_id, a fresh request_id)."""
        if isinstance(tool, pb.ToolCall):
            call = pb.ToolCall()
            call.CopyFrom(tool)
        else:
            kw.setdefault("agent_id", self.agent_id)
            kw.setdefault("session_id", self.session_id)
            call = make_call(tool, tool_input, **kw)
        if not call.request_id:
            call.request_id = self.next_id()
        return call

    def calls(self, items):
        out = []
        for item in items:
            if isinstance(item, pb.ToolCall):
                out.append(self.call(item))
            elif isinstance(item, dict):
                item = dict(item)
                out.append(self.call(item.pop("tool"), item.pop("tool_input", item.pop("input", None)), **item))
            else:
                out.append(self.call(*item))
        return out

    def delays(self):
        """Sleeps before each retry: exponential backoff with jitter."""
        for attempt in range(self.retries):
            yield min(self.backoff * (2 ** attempt), 1.0) * (0.5 + random.random() / 2)


def _stream_error(error):
    """The CallError a stream ended with (``error``: its RpcError, None when the server
    ended it with OK while calls were unanswered)."""
    return (CallError.from_rpc_error(error) if error is not None else
            CallError(grpc.StatusCode.UNAVAILABLE, "stream ended before the call was answered"))


def _fail_all(pending, error):
    """A stream is over: every unanswered call of {request_id: [call, future, sends]}
    fails. Returns the stream's error, which later submissions fail with too."""
    err = _stream_error(error)
    for call, fut, _ in pending.values():
        if not fut.done():
            fut.set_exception(CallError(err.code, err.message, err.field, call.request_id))
    return err


# grpc.aio's text for a message its core could not send because the call had ended
# (it then reports INTERNAL with it instead of the call's own status).
_NOT_SENT = "Internal error from Core"


def _reopenable(error, answered):
    """Whether a broken stream is reopened and its unanswered calls sent again: it broke
    with UNAVAILABLE (the connection or the server went away), or before it answered
    anything with CANCELLED or with grpc.aio's INTERNAL for a message it could not send on
    the ended call. gRPC's server refuses a stream as it opens with CANCELLED when more
    calls are waiting for its application than its backlog takes, before the application
    reads any of its messages; a Lighthouse server never ends a stream it serves with
    CANCELLED itself. A call is sent again at most ``retries`` times (:func:`_resend`), so
    a call the server read but never answered still ends as an error."""
    if error is None:
        return False
    code = error.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if answered:
        return False
    return code == grpc.StatusCode.CANCELLED or (code == grpc.StatusCode.INTERNAL and error.details() == _NOT_SENT)


def _resend(pending, retries, error):
    """The unanswered calls of a reopened stream, in the order they were submitted: each
    sent at most ``retries`` times after its first send; one that was fails now with the
    stream's error (``error``) and is dropped from ``pending``."""
    again = []
    err = None
    for rid, entry in list(pending.items()):
        call, fut, sends = entry
        if fut.done():
            del pending[rid]
        elif sends >= retries:
            del pending[rid]
            err = err or _stream_error(error)
            fut.set_exception(CallError(err.code, "%s (sent %d times, never answered)" % (err.message, sends + 1),
                                        err.field, rid))
        else:
            entry[2] = sends + 1
            again.append(call)
    return again


def _results(batch):
    return [Result.from_proto(d) for d in batch.decisions]


class Client:
    """Blocking client. Thread-safe; keep one per process and close it (or use ``with``).

    ``target`` "host:port" (default ``$LIGHTHOUSE_ADDR`` or 127.0.0.1:50051). ``token``:
    the bearer token. ``tls=True`` (or ``root_certificates``) for a TLS server;
    ``certificate_chain`` + ``private_key`` for mutual TLS. ``timeout``: the default
    deadline in seconds. ``retries``: attempts after the first when UNAVAILABLE.
    ``agent_id``/``session_id``: defaults for every call. ``admin_token``,
    ``admin_token_file``, ``socket``: the credential of Admin calls (see the module's doc).
    """

    def __init__(self, target=None, **kw):
        self._cfg = cfg = _Config(target, **kw)
        creds = cfg.credentials()
        self._channel = (grpc.secure_channel(cfg.target, creds, options=cfg.options) if creds
                         else grpc.insecure_channel(cfg.target, options=cfg.options))
        self._stub = pb_grpc.ValidatorStub(self._channel)
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    def _unary(self, method, request, timeout, request_id="", metadata=None):
        cfg = self._cfg
        timeout = cfg.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delays = cfg.delays()
        metadata = cfg.metadata if metadata is None else metadata
        while True:
            try:
                return method(request, timeout=max(deadline - time.monotonic(), 0.001), metadata=metadata)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    delay = next(delays, None)
                    if delay is not None and time.monotonic() + delay < deadline:
                        time.sleep(delay)
                        continue
                raise CallError.from_rpc_error(e, request_id) from None

    def validate(self, tool, tool_input=None, *, timeout=None, **kw):
        """Decide one call: a :class:`Result`. ``tool`` may also be a ready ToolCall.
        Keywords: cwd, agent_id, session_id, home, request_id, fallback, input_json."""
        call = self._cfg.call(tool, tool_input, **kw)
        return Result.from_proto(self._unary(self._stub.Validate, call, timeout, call.request_id))

    def validate_batch(self, calls, *, timeout=None):
        """Decide many calls in one message; results[i] answers calls[i]. Each item is a
        ToolCall, a (tool, tool_input) tuple or a dict with tool, tool_input and keywords."""
        batch = pb.ToolCallBatch(calls=self._cfg.calls(calls))
        return _results(self._unary(self._stub.ValidateBatch, batch, timeout))

    def stream(self):
        """A :class:`DecisionStream` (use as a context manager)."""
        return DecisionStream(self)

    def reload_policy(self, *, timeout=None):
        """Admin.ReloadPolicy: the ReloadPolicyResponse (generation, rule count)."""
        return self._unary(self._admin.ReloadPolicy, admin_pb2.ReloadPolicyRequest(), timeout,
                           metadata=self._cfg.admin_metadata() or ())

    def stats(self, *, timeout=None):
        """Admin.Stats: the answering worker's StatsResponse."""
        return self._unary(self._admin.Stats, admin_pb2.StatsRequest(), timeout,
                           metadata=self._cfg.admin_metadata() or ())

    def list_patterns(self, state="", limit=0, *, timeout=None):
        """Admin.ListPatterns: the learned patterns (a list of admin_pb2.Pattern)."""
        return list(self._unary(self._admin.ListPatterns, admin_pb2.ListPatternsRequest(state=state, limit=limit),
                                timeout, metadata=self._cfg.admin_metadata() or ()).patterns)

    def review_pattern(self, pattern_id, action, note="", *, timeout=None):
        """Admin.ReviewPattern: ``action`` "approve" or "retire"; the Pattern after it."""
        return self._unary(self._admin.ReviewPattern, admin_pb2.ReviewPatternRequest(
            id=pattern_id, action=action, note=note), timeout, metadata=self._cfg.admin_metadata() or ())

    def promote_pattern(self, pattern_id, rules_file, *, timeout=None):
        """Admin.PromotePattern: write pattern ``pattern_id`` as a TOML rule into
        ``rules_file`` (an absolute path on the server's machine); the
        PromotePatternResponse (rule id, TOML text, file)."""
        return self._unary(self._admin.PromotePattern, admin_pb2.PromotePatternRequest(
            id=pattern_id, rules_file=rules_file), timeout, metadata=self._cfg.admin_metadata() or ())

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DecisionStream:
    """Many calls in flight on one ValidateStream. :meth:`submit` returns a
    concurrent.futures.Future per call, resolved when its answer (matched by request_id)
    arrives, in whatever order the server answers. If the stream breaks with UNAVAILABLE,
    or is refused as it opens (CANCELLED before any answer), it is reopened (up to the
    client's ``retries`` times in a row) and the unanswered calls are sent again, each at
    most ``retries`` times; any other break fails the pending futures with CallError, and
    so do calls submitted after it. ``reopened`` and ``resent`` count the streams
    reopened and the calls sent again."""

    def __init__(self, client):
        self._client = client
        self._cfg = client._cfg
        self._lock = threading.Lock()
        self._pending = {}        # request_id -> [call, future, times sent again]
        self.reopened = 0
        self.resent = 0
        self._closed = False
        self._error = None        # why the stream ended, once it has
        self._queue = None
        self._call = None
        self._open()
        self._reader = threading.Thread(target=self._read_loop, name="lighthouse-stream", daemon=True)
        self._reader.start()

    def _open(self):
        q = queue.SimpleQueue()
        self._queue = q
        self._call = self._client._stub.ValidateStream(iter(q.get, _END), metadata=self._cfg.metadata)

    def submit(self, tool, tool_input=None, **kw):
        """Send one call; a Future of its :class:`Result` (CallError if not decided)."""
        return self._submit(tool, tool_input, kw)[1]

    def _submit(self, tool, tool_input, kw):
        call = self._cfg.call(tool, tool_input, **kw)
        fut = Future()
        with self._lock:
            if self._error is not None:
                fut.set_exception(CallError(self._error.code, self._error.message, request_id=call.request_id))
                return call.request_id, fut
            if self._closed:
                raise RuntimeError("stream is closed")
            self._pending[call.request_id] = [call, fut, 0]
            self._queue.put(call)
        return call.request_id, fut

    def validate(self, tool, tool_input=None, *, timeout=None, **kw):
        """Submit and wait: the Result, or CallError (DEADLINE_EXCEEDED after `timeout`)."""
        rid, fut = self._submit(tool, tool_input, kw)
        timeout = self._cfg.timeout if timeout is None else timeout
        try:
            return fut.result(timeout)
        except TimeoutError:
            with self._lock:
                self._pending.pop(rid, None)
            raise CallError(grpc.StatusCode.DEADLINE_EXCEEDED, "no answer within %gs" % timeout,
                            request_id=rid) from None

    def _read_loop(self):
        failures = 0
        delays = None
        while True:
            answered = False
            try:
                for d in self._call:
                    failures = 0
                    answered = True
                    with self._lock:
                        entry = self._pending.pop(d.request_id, None)
                    if entry is None:
                        continue                    # abandoned after its deadline
                    r = Result.from_proto(d)
                    if r.error is not None:
                        entry[1].set_exception(r.error)
                    else:
                        entry[1].set_result(r)
                error = None
            except grpc.RpcError as e:
                error = e
            with self._lock:
                if not _reopenable(error, answered) or failures >= self._cfg.retries or self._closed:
                    pending, self._pending = self._pending, {}
                    self._error = _fail_all(pending, error)
                    self._closed = True
                    return
            if delays is None or failures == 0:
                delays = self._cfg.delays()
            failures += 1
            time.sleep(next(delays, 1.0))
            with self._lock:
                self._queue.put(_END)
                self._open()
                self.reopened += 1
                for call in _resend(self._pending, self._cfg.retries, error):
                    self.resent += 1
                    self._queue.put(call)

    def close(self):
        """Stop sending; wait for the pending answers (each bounded by the server)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_END)
        self._reader.join(self._cfg.timeout + 1)
        self._call.cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncClient:
    """asyncio client: the same constructor and methods as :class:`Client`, as coroutines.
    Create and use it inside one running event loop; ``await close()`` (or ``async with``)."""

    def __init__(self, target=None, **kw):
        self._cfg = cfg = _Config(target, **kw)
        creds = cfg.credentials()
        self._channel = (grpc.aio.secure_channel(cfg.target, creds, options=cfg.options) if creds
                         else grpc.aio.insecure_channel(cfg.target, options=cfg.options))
        self._stub = pb_grpc.ValidatorStub(self._channel)
        self._admin = admin_pb2_grpc.AdminStub(self._channel)

    async def _unary(self, method, request, timeout, request_id="", metadata=None):
        cfg = self._cfg
        timeout = cfg.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delays = cfg.delays()
        metadata = cfg.metadata if metadata is None else metadata
        while True:
            try:
                return await method(request, timeout=max(deadline - loop.time(), 0.001), metadata=metadata)
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    delay = next(delays, None)
                    if delay is not None and loop.time() + delay < deadline:
                        await asyncio.sleep(delay)
                        continue
                raise CallError.from_rpc_error(e, request_id) from None

    async def validate(self, tool, tool_input=None, *, timeout=None, **kw):
        """Decide one call: a :class:`Result` (see :meth:`Client.validate`)."""
        call = self._cfg.call(tool, tool_input, **kw)
        return Result.from_proto(await self._unary(self._stub.Validate, call, timeout, call.request_id))

    async def validate_batch(self, calls, *, timeout=None):
        """Decide many calls in one message (see :meth:`Client.validate_batch`)."""
        batch = pb.ToolCallBatch(calls=self._cfg.calls(calls))
        return _results(await self._unary(self._stub.ValidateBatch, batch, timeout))

    def stream(self):
        """An :class:`AsyncDecisionStream` (``async with client.stream() as s``)."""
        return AsyncDecisionStream(self)

    async def reload_policy(self, *, timeout=None):
        return await self._unary(self._admin.ReloadPolicy, admin_pb2.ReloadPolicyRequest(), timeout,
                                 metadata=self._cfg.admin_metadata() or ())

    async def stats(self, *, timeout=None):
        return await self._unary(self._admin.Stats, admin_pb2.StatsRequest(), timeout,
                                 metadata=self._cfg.admin_metadata() or ())

    async def close(self):
        await self._channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


class AsyncDecisionStream:
    """asyncio twin of :class:`DecisionStream`: :meth:`submit` returns an asyncio future;
    the same reopening and resending, counted in ``reopened`` and ``resent``."""

    def __init__(self, client):
        self._client = client
        self._cfg = client._cfg
        self._pending = {}        # request_id -> [call, future, times sent again]
        self.reopened = 0
        self.resent = 0
        self._closed = False
        self._error = None
        self._queue = None
        self._call = None
        self._reader = None

    async def __aenter__(self):
        self._open()
        self._reader = asyncio.ensure_future(self._read_loop())
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def _open(self):
        q = asyncio.Queue()
        self._queue = q

        async def requests():
            while True:
                call = await q.get()
                if call is _END:
                    return
                yield call

        self._call = self._client._stub.ValidateStream(requests(), metadata=self._cfg.metadata)

    def submit(self, tool, tool_input=None, **kw):
        """Send one call; an asyncio future of its :class:`Result`."""
        return self._submit(tool, tool_input, kw)[1]

    def _submit(self, tool, tool_input, kw):
        call = self._cfg.call(tool, tool_input, **kw)
        fut = asyncio.get_running_loop().create_future()
        if self._error is not None:
            fut.set_exception(CallError(self._error.code, self._error.message, request_id=call.request_id))
            return call.request_id, fut
        if self._closed or self._reader is None:
            raise RuntimeError("stream is not open")
        self._pending[call.request_id] = [call, fut, 0]
        self._queue.put_nowait(call)
        return call.request_id, fut

    async def validate(self, tool, tool_input=None, *, timeout=None, **kw):
        """Submit and wait: the Result, or CallError (DEADLINE_EXCEEDED after `timeout`)."""
        rid, fut = self._submit(tool, tool_input, kw)
        timeout = self._cfg.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise CallError(grpc.StatusCode.DEADLINE_EXCEEDED, "no answer within %gs" % timeout,
                            request_id=rid) from None

    async def _read_loop(self):
        failures = 0
        delays = None
        while True:
            error = None
            answered = False
            try:
                async for d in self._call:
                    failures = 0
                    answered = True
                    entry = self._pending.pop(d.request_id, None)
                    if entry is None or entry[1].done():
                        continue
                    r = Result.from_proto(d)
                    if r.error is not None:
                        entry[1].set_exception(r.error)
                    else:
                        entry[1].set_result(r)
            except grpc.aio.AioRpcError as e:
                error = e
            if not _reopenable(error, answered) or failures >= self._cfg.retries or self._closed:
                pending, self._pending = self._pending, {}
                self._error = _fail_all(pending, error)
                self._closed = True
                return
            if delays is None or failures == 0:
                delays = self._cfg.delays()
            failures += 1
            await asyncio.sleep(next(delays, 1.0))
            self._queue.put_nowait(_END)
            self._open()
            self.reopened += 1
            for call in _resend(self._pending, self._cfg.retries, error):
                self.resent += 1
                self._queue.put_nowait(call)

    async def close(self):
        """Stop sending and wait for the pending answers (bounded by the client timeout)."""
        if self._reader is None:
            return
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_END)
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), self._cfg.timeout + 1)
        except asyncio.TimeoutError:
            self._call.cancel()
            self._reader.cancel()
