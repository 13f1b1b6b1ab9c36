"""gRPC servicers: lighthouse.v1.Validator and lighthouse.v1.Admin on grpc.aio.

The handlers are registered with lenient request deserializers, so a message that is not
a valid protobuf of the expected type becomes INVALID_ARGUMENT from the handler instead of
an INTERNAL error and a logged traceback from grpc.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from time import perf_counter_ns

import grpc
from google.protobuf.message import DecodeError

from .._fast import wire as _fast_wire
from ..audit.writer import Committing
from ..errors import CallRejected, ReloadError, ReloadThrottled
from ..v1 import admin_pb2
from ..vocab import FALLBACK_METADATA, PENDING_METADATA, TIER_NAMES, VERDICT_CODES, VERDICT_NAMES
from .auth import parse_bearer
from .wire import batch_bytes, rejected_bytes

__all__ = ["ValidatorService", "AdminService", "validator_handler", "admin_handler", "StreamSession"]

log = logging.getLogger("lighthouse.server")

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
INVALID = grpc.StatusCode.INVALID_ARGUMENT
# A batch decides its calls in slices of this many nanoseconds of work, yielding to the
# event loop between them, so that one batch of costly calls does not stall other clients.
BATCH_SLICE_NS = 2_000_000


class _Malformed:
    """Stands for a request that is refused before it is read: one that did not parse
    (INVALID_ARGUMENT), or one over --max-message-bytes (RESOURCE_EXHAUSTED: see
    :func:`validator_handler`). ``request_id`` is what could be read of field 1 (so that a
    stream's answer can still be matched)."""

    __slots__ = ("rejection", "request_id")

    def __init__(self, rejection, request_id=""):
        self.rejection = rejection
        self.request_id = request_id


def _readable_request_id(data, max_len=128):
    """Field 1 (request_id) of a ToolCall that does not parse as a whole: the last
    well-formed UTF-8 value of at most max_len bytes met before the fields stop making
    sense, else ""."""
    found, i, n = "", 0, len(data)

    def varint(i):
        shift = value = 0
        while i < n and shift < 64:
            b = data[i]
            value |= (b & 0x7F) << shift
            i += 1
            if not b & 0x80:
                return value, i
            shift += 7
        raise ValueError
    try:
        while i < n:
            tag, i = varint(i)
            kind = tag & 7
            if kind == 0:
                _, i = varint(i)
            elif kind == 1 or kind == 5:
                i += 8 if kind == 1 else 4
            elif kind == 2:
                size, i = varint(i)
                if i + size > n:
                    break
                if tag >> 3 == 1 and size <= max_len:
                    found = data[i:i + size].decode("utf-8")
                i += size
            else:
                break
    except (ValueError, UnicodeDecodeError):
        pass
    return found


def _leading_request_id(data):
    """Field 1 (request_id) of a ToolCall when it is the first field, as serializers write
    it; else "". Unlike :func:`_readable_request_id`, reads nothing past it."""
    if len(data) > 2 and data[0] == 0x0A and data[1] < 0x80:
        try:
            return data[2:2 + data[1]].decode("utf-8")
        except UnicodeDecodeError:
            pass
    return ""


def _lenient(message_cls):
    parse = message_cls.FromString

    def deserialize(data):
        try:
            return parse(data)
        except (DecodeError, ValueError) as e:
            return _Malformed(_not_parsed(str(e) or "not a valid %s" % message_cls.DESCRIPTOR.full_name))

    return deserialize


class _Batch:
    """A decoded ToolCallBatch: its calls (lighthouse._fast.wire.WireCall)."""

    __slots__ = ("calls",)

    def __init__(self, calls):
        self.calls = calls


# ToolCalls are decoded straight from the wire into WireCalls (lighthouse._fast.wire),
# which accept and refuse what the generated code does, without building messages.
_parse_call = _fast_wire.parse_tool_call
_parse_batch = _fast_wire.parse_tool_call_batch
_WireError = _fast_wire.WireError


def _not_parsed(error):
    return CallRejected(INVALID, "request is not a valid lighthouse.v1 message: %s" % error, "request")


def _oversized(data, max_bytes):
    # The wording of gRPC's own refusal, which answers messages past twice the limit.
    return CallRejected(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (%d vs. %d)"
                        % (len(data), max_bytes))


def _call_deserializer(max_bytes):
    def deserialize(data):
        if len(data) > max_bytes:
            return _Malformed(_oversized(data, max_bytes), _leading_request_id(data))
        try:
            return _parse_call(data)
        except _WireError as e:
            return _Malformed(_not_parsed("not a valid lighthouse.v1.ToolCall: %s" % e), _readable_request_id(data))
    return deserialize


def _batch_deserializer(max_bytes):
    def deserialize(data):
        if len(data) > max_bytes:
            return _Malformed(_oversized(data, max_bytes))
        try:
            return _Batch(_parse_batch(data))
        except _WireError as e:
            return _Malformed(_not_parsed("not a valid lighthouse.v1.ToolCallBatch: %s" % e))
    return deserialize


def _field_metadata(e):
    """Trailing metadata naming the field at fault, for programs (the message names it
    for people)."""
    return (("lighthouse-field", e.field),) if e.field else ()


async def _tell_pending(context, progress):
    """At a stream's first escalation, unless an answer went first: initial metadata
    saying that the call went to a slower tier, within how many seconds it is answered and
    with what verdict if the slower tiers fail (lighthouse.vocab.PENDING_METADATA;
    ``progress`` is Decider.progress's dict). A client with one call on the stream (the
    hook) can thus tell a server that is deciding from one that does not answer."""
    try:
        await context.send_initial_metadata(((PENDING_METADATA, "%g" % progress["deadline"]),
                                             (FALLBACK_METADATA, progress["fallback"])))
    except grpc.aio.UsageError:
        pass            # an answer went first, with the metadata: this stream says nothing
    except Exception as e:
        # Advisory only: a stream that cannot take it (the client went away) fails, if at
        # all, when the answer is written, as without it.
        log.debug("pending metadata not sent: %s: %s", type(e).__name__, e)


def _shutting_down():
    return CallRejected(grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry")


class _LogThrottle:
    """At most one warning per key per interval, so that a flood of bad calls cannot
    flood the log; the suppressed count is reported with the next one."""

    def __init__(self, interval=1.0, max_keys=4096):
        self.interval = interval
        self.max_keys = max_keys
        self._last = {}

    def warn(self, key, msg, *args):
        now = time.monotonic()
        if key not in self._last and len(self._last) >= self.max_keys:
            # Keys name agents, which callers without tokens invent: forget the quiet ones.
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval}
        last, skipped = self._last.get(key, (0.0, 0))
        if now - last < self.interval:
            self._last[key] = (last, skipped + 1)
            return
        self._last[key] = (now, 0)
        if skipped:
            msg += " (%d similar suppressed)" % skipped
        log.warning(msg, *args)


class StreamSession:
    """One open ValidateStream: the identity it was admitted with (re-checked after each
    reload), and what lets shutdown or a revocation stop its reading."""

    __slots__ = ("task", "reading", "closing", "token", "identity", "ended")

    def __init__(self, task, token=None, identity=None):
        self.task = task
        self.reading = False
        self.closing = False
        self.token = token
        self.identity = identity
        self.ended = None           # (status code, message) when its identity is gone

    def close(self):
        """Stop reading new calls; the calls already read are still answered."""
        self.closing = True
        if self.reading:
            self.task.cancel()

    def end(self, code, message):
        """End the stream now: no further call is read or answered (its identity is gone)."""
        self.ended = (code, message)
        self.close()


class ValidatorService:
    """lighthouse.v1.Validator: Validate, ValidateStream, ValidateBatch over one Decider."""

    def __init__(self, decider, tokens=None):
        self.decider = decider
        self.stats = decider.stats
        self.tokens = tokens
        self.streams = set()
        self.closing = False
        self._throttle = _LogThrottle()

    # ----------------------------------------------------------- auth

    def _identify(self, context):
        """The caller's Identity from its bearer token; None when no tokens are configured."""
        return self._token_identity(context)[1]

    def _token_identity(self, context):
        """(bearer token, its Identity); (None, None) when no tokens are configured."""
        tokens = self.tokens
        if tokens is None:
            return None, None
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                token = parse_bearer(value)
                break
        if token is None:
            raise CallRejected(UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata")
        ident = tokens.identify(token)
        if ident is None:
            raise CallRejected(UNAUTHENTICATED, "unknown bearer token")
        if not ident.agent:
            raise CallRejected(grpc.StatusCode.PERMISSION_DENIED,
                               "%r has no agent role in the tokens file" % ident.agent_id)
        return token, ident

    def recheck_streams(self, tls_changed=False):
        """After a reload: every open stream's token is looked up again. A revoked token
        ends its stream with UNAUTHENTICATED at once; a changed agent id or admin flag
        applies from the next call. When the TLS files changed, every stream ends with
        UNAVAILABLE, so that its client reconnects and is checked against the new
        certificates by a new handshake."""
        tokens = self.tokens
        for s in list(self.streams):
            if s.ended is not None:
                continue
            if tls_changed:
                s.end(grpc.StatusCode.UNAVAILABLE, "the server's TLS certificates changed; reconnect")
            elif tokens is not None and s.token is not None:
                ident = tokens.identify(s.token)
                if ident is None:
                    s.end(UNAUTHENTICATED, "bearer token revoked")
                elif not ident.agent:
                    s.end(grpc.StatusCode.PERMISSION_DENIED, "the token lost its agent role")
                else:
                    s.identity = ident

    def _rejected(self, method, e, context):
        self.stats.error(method, e.code.name)
        if e.code in (UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            self._throttle.warn(("auth", e.code), "%s: %s refused (%s) for peer %s",
                                method, e.code.name, e.message, context.peer())
        elif e.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            # The message names the agent whose budget ran out (the token's, when the call
            # names none): each agent is throttled on its own.
            self._throttle.warn(("rate", e.message), "%s: %s", method, e.message)

    # ----------------------------------------------------------- unary

    async def Validate(self, request, context):
        t0 = perf_counter_ns()
        stats = self.stats
        stats.in_flight["Validate"] += 1
        try:
            if self.closing:
                raise _shutting_down()
            if request.__class__ is _Malformed:
                raise request.rejection
            result = self.decider.decide(request, self._identify(context) if self.tokens is not None else None)
            if result.__class__ is not bytes:
                result = await self.decider.settle(result)
            return result
        except CallRejected as e:
            self._rejected("Validate", e, context)
            await context.abort(e.code, e.message, _field_metadata(e))
        except Exception:
            log.exception("Validate failed")
            stats.error("Validate", "INTERNAL")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error while deciding the call")
        finally:
            stats.in_flight["Validate"] -= 1
            stats.rpc["Validate"].observe(perf_counter_ns() - t0)

    # ----------------------------------------------------------- batch

    async def ValidateBatch(self, request, context):
        t0 = perf_counter_ns()
        stats = self.stats
        n = 0
        try:
            if self.closing:
                raise _shutting_down()
            if request.__class__ is _Malformed:
                raise request.rejection
            ident = self._identify(context) if self.tokens is not None else None
            calls = request.calls
            if len(calls) > self.decider.limits.max_batch:
                raise CallRejected(INVALID, "calls: at most %d calls per batch, got %d"
                                   % (self.decider.limits.max_batch, len(calls)), "calls")
            n = len(calls)
            stats.in_flight["ValidateBatch"] += n
            decide = self.decider.decide
            out = []
            pending = None
            slice_end = perf_counter_ns() + BATCH_SLICE_NS
            for i, call in enumerate(calls):
                try:
                    r = decide(call, ident)
                except CallRejected as e:
                    self._rejected("ValidateBatch", e, context)
                    r = rejected_bytes(e, call.request_id)
                if r.__class__ is not bytes:
                    if pending is None:
                        pending = []
                    pending.append((i, r))
                    r = None
                out.append(r)
                if perf_counter_ns() > slice_end:
                    # a batch of costly calls must not hold the loop: let other calls in
                    await asyncio.sleep(0)
                    slice_end = perf_counter_ns() + BATCH_SLICE_NS
            if pending:
                # Answers held for their audit records' commit (sync audit) wait for the
                # last one's, once; escalations settle on their own.
                held = [(i, p) for i, p in pending if p.__class__ is Committing]
                pending = [(i, p) for i, p in pending if p.__class__ is not Committing]
                settled = await asyncio.gather(*(self.decider.settle(p) for _, p in pending))
                for (i, _), d in zip(pending, settled):
                    out[i] = d
                if held:
                    await self.decider.audit.wait_committed(held[-1][1].ticket)
                    for i, p in held:
                        out[i] = p.answer
            return batch_bytes(out)
        except CallRejected as e:
            self._rejected("ValidateBatch", e, context)
            await context.abort(e.code, e.message, _field_metadata(e))
        except Exception:
            log.exception("ValidateBatch failed")
            stats.error("ValidateBatch", "INTERNAL")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error while deciding the batch")
        finally:
            stats.in_flight["ValidateBatch"] -= n
            stats.rpc["ValidateBatch"].observe(perf_counter_ns() - t0)

    # ----------------------------------------------------------- stream

    async def ValidateStream(self, request_iterator, context):
        """Read calls and answer each as soon as it is decided: fast-path decisions inline,
        in order; escalated ones from their own task when they settle, out of order, all
        matched by request_id. Escalations in flight are bounded per stream (reading
        pauses at the bound), and a request_id may not repeat while its call is pending."""
        stats = self.stats
        try:
            token, ident = self._token_identity(context)
        except CallRejected as e:
            self._rejected("ValidateStream", e, context)
            await context.abort(e.code, e.message)
        session = StreamSession(asyncio.current_task(), token, ident)
        if self.closing:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry")
        self.streams.add(session)
        stats.streams_open += 1
        decider = self.decider
        decide = decider.decide
        read = context.read
        write = context.write
        rpc_hist = stats.rpc["ValidateStream"]
        in_flight = stats.in_flight
        pending = {}                # request_id -> task of escalated calls
        told = False                # _tell_pending tried (at the first escalation)
        lock = asyncio.Lock()       # serializes writes while escalations are in flight
        max_pending = decider.limits.max_stream_pending

        async def answer_later(p, t0, key):
            try:
                try:
                    d = await decider.settle(p)
                except CallRejected as e:       # the audit log could not take or commit the record
                    self._rejected("ValidateStream", e, context)
                    d = rejected_bytes(e, p.request_id)
                async with lock:
                    await write(d)
            finally:
                pending.pop(key, None)
                in_flight["ValidateStream"] -= 1
                rpc_hist.observe(perf_counter_ns() - t0)

        try:
            while not session.closing:
                if len(pending) >= max_pending:
                    await asyncio.wait(list(pending.values()), return_when=asyncio.FIRST_COMPLETED)
                    continue
                session.reading = True
                try:
                    call = await read()
                except asyncio.CancelledError:
                    if not session.closing:
                        raise
                    session.task.uncancel()
                    break
                finally:
                    session.reading = False
                if call is grpc.aio.EOF:
                    break
                t0 = perf_counter_ns()
                in_flight["ValidateStream"] += 1
                escalated = False
                try:
                    if call.__class__ is _Malformed:
                        raise call.rejection
                    if pending and call.request_id in pending:
                        raise CallRejected(INVALID, "request_id %r repeats a call still in flight"
                                           % call.request_id, "request_id")
                    r = decide(call, session.identity)
                    if r.__class__ is not bytes:
                        escalated = True
                        if r.__class__ is Committing:
                            # An answer held for its audit record's commit is keyed by
                            # itself: its request_id may repeat (it is decided already).
                            pending[r] = asyncio.ensure_future(answer_later(r, t0, r))
                            continue
                        if not told:
                            told = True
                            await _tell_pending(context, decider.progress(r))
                        pending[call.request_id] = asyncio.ensure_future(answer_later(r, t0, call.request_id))
                        continue
                except CallRejected as e:
                    self._rejected("ValidateStream", e, context)
                    r = rejected_bytes(e, getattr(call, "request_id", ""))
                except Exception:
                    # A bug deciding one call fails that call, not the stream.
                    log.exception("ValidateStream failed on one call")
                    stats.error("ValidateStream", "INTERNAL")
                    r = rejected_bytes(CallRejected(grpc.StatusCode.INTERNAL, "internal error while deciding the call"),
                                       getattr(call, "request_id", ""))
                finally:
                    if not escalated:
                        in_flight["ValidateStream"] -= 1
                if pending:
                    async with lock:
                        await write(r)
                else:
                    await write(r)
                rpc_hist.observe(perf_counter_ns() - t0)
            if session.ended is not None:
                for t in pending.values():
                    t.cancel()
                stats.error("ValidateStream", session.ended[0].name)
                await context.abort(*session.ended)
            if pending:
                await asyncio.gather(*pending.values(), return_exceptions=True)
            if session.closing:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down; retry the calls "
                                    "not answered on this stream")
        except asyncio.CancelledError:
            for t in pending.values():
                t.cancel()
            raise
        finally:
            self.streams.discard(session)
            stats.streams_open -= 1

    def close(self):
        """Shutdown: new calls are refused with UNAVAILABLE (so that clients retry
        elsewhere); every stream stops reading, answers what it has read, then ends with
        UNAVAILABLE."""
        self.closing = True
        for s in list(self.streams):
            s.close()

    def busy(self):
        """Whether calls are still being decided or streams are still open."""
        return self.stats.streams_open > 0 or any(self.stats.in_flight.values())


class AdminService:
    """lighthouse.v1.Admin: ReloadPolicy, Stats, ListPatterns, ReviewPattern and PromotePattern. With tokens
    configured, callers need a token marked admin; without, the server's admin secret
    (lighthouse.server.auth.AdminSecret) as their bearer token."""

    def __init__(self, server):
        self.server = server
        self._throttle = _LogThrottle()

    def _check_admin(self, context):
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                token = parse_bearer(value)
                break
        tokens = self.server.tokens
        if tokens is None:
            secret = self.server.admin_secret
            if token is None:
                raise CallRejected(UNAUTHENTICATED, "missing 'authorization: Bearer <admin secret>' metadata; "
                                   + ("the server's owner finds the secret in %s" % secret.path if secret.path
                                      else "this server wrote no admin secret (SIGHUP reloads it)"))
            if not secret.check(token):
                raise CallRejected(grpc.StatusCode.PERMISSION_DENIED, "wrong admin secret")
            return
        ident = tokens.identify(token) if token else None
        if ident is None:
            raise CallRejected(UNAUTHENTICATED, "missing or unknown bearer token")
        if not ident.admin:
            raise CallRejected(grpc.StatusCode.PERMISSION_DENIED,
                               "agent %r is not an admin in the tokens file" % ident.agent_id)

    def _rejected(self, method, e, context):
        self.server.stats.error(method, e.code.name)
        if e.code in (UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            self._throttle.warn(("auth", e.code), "%s: %s refused (%s) for peer %s",
                                method, e.code.name, e.message, context.peer())

    async def ReloadPolicy(self, request, context):
        stats = self.server.stats
        try:
            if request.__class__ is _Malformed:
                raise request.rejection
            self._check_admin(context)
            generation, tokens_reloaded = await self.server.reload(source="admin")
            return admin_pb2.ReloadPolicyResponse(policy_generation=generation,
                                                  rule_count=self.server.validator.rule_count,
                                                  tokens_reloaded=tokens_reloaded)
        except CallRejected as e:
            self._rejected("ReloadPolicy", e, context)
            await context.abort(e.code, e.message)
        except ReloadError as e:
            stats.error("ReloadPolicy", "FAILED_PRECONDITION")
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(e))
        except ReloadThrottled as e:
            stats.error("ReloadPolicy", "RESOURCE_EXHAUSTED")
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))

    async def Stats(self, request, context):
        try:
            if request.__class__ is _Malformed:
                raise request.rejection
            self._check_admin(context)
        except CallRejected as e:
            self._rejected("Stats", e, context)
            await context.abort(e.code, e.message)
        snap = self.server.stats.snapshot()
        return stats_response(snap)


    def _book(self):
        book = getattr(self.server, "patterns", None)
        if book is None:
            raise CallRejected(grpc.StatusCode.FAILED_PRECONDITION,
                               "this server keeps no learned patterns (--no-patterns, or no expert tier)")
        return book

    async def ListPatterns(self, request, context):
        try:
            if request.__class__ is _Malformed:
                raise request.rejection
            self._check_admin(context)
            book = self._book()
            if request.state and request.state not in PATTERN_STATES:
                raise CallRejected(grpc.StatusCode.INVALID_ARGUMENT, "state must be one of %s, not %.40r"
                                   % (", ".join(PATTERN_STATES), request.state))
            rows = await asyncio.to_thread(book.patterns, request.state or None, request.limit or 1000)
        except CallRejected as e:
            self._rejected("ListPatterns", e, context)
            await context.abort(e.code, e.message)
        return admin_pb2.ListPatternsResponse(patterns=[pattern_message(p) for p in rows])

    async def ReviewPattern(self, request, context):
        from ..patterns.book import PatternError
        try:
            if request.__class__ is _Malformed:
                raise request.rejection
            self._check_admin(context)
            book = self._book()
            note = request.note[:1024]
            if request.action == "approve":
                p = await asyncio.to_thread(book.approve, request.id, note or "an admin")
            elif request.action == "retire":
                p = await asyncio.to_thread(book.retire, request.id, note or "retired by an admin")
            else:
                raise CallRejected(grpc.StatusCode.INVALID_ARGUMENT,
                                   "action must be approve or retire, not %.40r" % request.action)
        except PatternError as e:
            self.server.stats.error("ReviewPattern", "NOT_FOUND")
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except CallRejected as e:
            self._rejected("ReviewPattern", e, context)
            await context.abort(e.code, e.message)
        return pattern_message(p)

    async def PromotePattern(self, request, context):
        from ..patterns.book import PatternError
        from ..patterns.cli import PromotionError, promote
        try:
            if request.__class__ is _Malformed:
                raise request.rejection
            self._check_admin(context)
            book = self._book()
            path = request.rules_file
            if not path or len(path) > 4096 or "\x00" in path or not os.path.isabs(path) \
                    or not path.endswith(".toml"):
                raise CallRejected(grpc.StatusCode.INVALID_ARGUMENT, "rules_file must be an absolute path to a "
                                   ".toml file, not %.120r" % path)
            rule_id, text, target = await asyncio.to_thread(promote, book, request.id, path)
        except PatternError as e:
            self.server.stats.error("PromotePattern", "NOT_FOUND")
            await context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except (PromotionError, OSError) as e:
            self.server.stats.error("PromotePattern", "FAILED_PRECONDITION")
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "pattern #%d not promoted: %s" % (request.id, e))
        except CallRejected as e:
            self._rejected("PromotePattern", e, context)
            await context.abort(e.code, e.message)
        return admin_pb2.PromotePatternResponse(rule_id=rule_id, rule_toml=text, rules_file=target)


PATTERN_STATES = ("pending", "active", "retired")


def pattern_message(p):
    """An admin_pb2.Pattern from a lighthouse.patterns Pattern."""
    return admin_pb2.Pattern(
        id=p.id, state=p.state, tool=p.tool, shape=p.shape, context=p.context,
        verdict=VERDICT_CODES.get(p.verdict, 0), agreeing=p.agreeing,
        taught_by=[t for t in p.taught_by.split(",") if t], first_reason=p.first_reason,
        created_unix=p.created_at or 0.0, activated_unix=p.activated_at or 0.0, retired_unix=p.retired_at or 0.0,
        note=p.note, exact=sorted(p.words), hits=p.hits or 0)


def stats_response(snap):
    """An admin_pb2.StatsResponse from a metrics snapshot."""
    nt = len(TIER_NAMES)
    by_verdict, by_tier = {}, {}
    for i, n in enumerate(snap["decisions"]):
        if n:
            v, t = VERDICT_NAMES[i // nt], TIER_NAMES[i % nt]
            by_verdict[v] = by_verdict.get(v, 0) + n
            by_tier[t] = by_tier.get(t, 0) + n
    errors = {}
    for key, n in snap["errors"].items():
        code = key.split("|", 1)[1]
        errors[code] = errors.get(code, 0) + n
    policy = snap["policy"]
    return admin_pb2.StatsResponse(
        policy_generation=policy.get("generation", 0), rule_count=policy.get("rules", 0),
        implementation=policy.get("implementation", ""), decisions=sum(snap["decisions"]),
        decisions_by_verdict=by_verdict, decisions_by_tier=by_tier,
        cache_hits=policy.get("cache_hits", 0), cache_misses=policy.get("cache_misses", 0),
        cache_size=policy.get("cache_entries", 0), in_flight=sum(snap["in_flight"].values()),
        errors_by_code=errors, uptime_seconds=snap["uptime"], worker=snap["worker"],
        workers=snap["workers"], pid=snap.get("pid", 0))


def validator_handler(service):
    """The generic handler of lighthouse.v1.Validator, with lenient deserializers. The
    servicer answers with serialized messages (lighthouse.server.wire), so there is no
    response serializer.

    The deserializers refuse a message over ``limits.max_message_bytes`` themselves, so
    that the refusal is counted in the metrics: the server lets gRPC take messages of up
    to twice that (LighthouseServer's options), because a message gRPC refuses never
    reaches any handler, deserializer or interceptor that could count it."""
    max_bytes = service.decider.limits.max_message_bytes
    call = _call_deserializer(max_bytes)
    return grpc.method_handlers_generic_handler("lighthouse.v1.Validator", {
        "Validate": grpc.unary_unary_rpc_method_handler(service.Validate, request_deserializer=call),
        "ValidateStream": grpc.stream_stream_rpc_method_handler(service.ValidateStream, request_deserializer=call),
        "ValidateBatch": grpc.unary_unary_rpc_method_handler(
            service.ValidateBatch, request_deserializer=_batch_deserializer(max_bytes)),
    })


def admin_handler(service):
    """The generic handler of lighthouse.v1.Admin, with lenient deserializers."""
    return grpc.method_handlers_generic_handler("lighthouse.v1.Admin", {
        "ReloadPolicy": grpc.unary_unary_rpc_method_handler(
            service.ReloadPolicy, request_deserializer=_lenient(admin_pb2.ReloadPolicyRequest),
            response_serializer=admin_pb2.ReloadPolicyResponse.SerializeToString),
        "Stats": grpc.unary_unary_rpc_method_handler(
            service.Stats, request_deserializer=_lenient(admin_pb2.StatsRequest),
            response_serializer=admin_pb2.StatsResponse.SerializeToString),
        "ListPatterns": grpc.unary_unary_rpc_method_handler(
            service.ListPatterns, request_deserializer=_lenient(admin_pb2.ListPatternsRequest),
            response_serializer=admin_pb2.ListPatternsResponse.SerializeToString),
        "ReviewPattern": grpc.unary_unary_rpc_method_handler(
            service.ReviewPattern, request_deserializer=_lenient(admin_pb2.ReviewPatternRequest),
            response_serializer=admin_pb2.Pattern.SerializeToString),
        "PromotePattern": grpc.unary_unary_rpc_method_handler(
            service.PromotePattern, request_deserializer=_lenient(admin_pb2.PromotePatternRequest),
            response_serializer=admin_pb2.PromotePatternResponse.SerializeToString),
    })
