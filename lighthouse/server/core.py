"""The decision path shared by every front end (gRPC unary, stream, batch; local socket).

:class:`Decider` checks one call's fields against the :class:`Limits`, its ``agent_id``
against the caller's token identity and the agent's rate limit, parses ``input_json``,
asks the in-process :class:`lighthouse.Validator` (tier 0 cache + tier 1 rules, in raw
mode so that misses are visible) and answers with a serialized ``lighthouse.v1.Decision``
(see lighthouse.server.wire for why bytes).

Tier 0 has two levels. The Validator's decision cache is keyed by the normalized input,
so a lookup there costs parsing input_json and normalizing it; in front of it, the
Decider keeps the encoded answers of recent calls keyed by the raw request (tool,
input_json text, cwd, home, fallback), which answers a repeated call without either.
Both levels follow one rule: an entry answers only under the policy generation that
decided it (a reload turns every older entry into a miss, with no other invalidation)
and for at most one cache TTL from when the level took it; the front only holds answers
the Validator has given from or into its cache, and is off when the Validator's cache
is. They count as one cache in the metrics: a hit of either level is a hit, a miss is a
call neither level could answer. The answer to each distinct decision is encoded once
(lighthouse.server.wire.Answers, which owns the encoding of every answer).

A call the fast tiers settle is answered inline. A call they do not settle is, when an
escalator (a slower tier: Rego policy, experts) is configured, returned as a
:class:`Pending` that the front end awaits off the hot path (:meth:`Decider.settle`);
without one it gets the fail-mode verdict at once. A call that cannot be decided raises
:class:`CallRejected` with a gRPC status code and the field at fault. Nothing here ever
turns an error into an allow.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from time import perf_counter_ns

import grpc

from ..audit.writer import Committing
from ..bounds import path_problem
from ..errors import CallRejected
from ..metrics import Stats
from ..v1 import validation_pb2 as pb
from ..vocab import (ASK, MISS, OUTCOMES, TIER_CACHE, TIER_CODES, TIER_NAMES, VERDICT_ALLOW, VERDICT_ASK,
                     VERDICT_CODES, VERDICT_DENY, VERDICT_NAMES, outcome_index)
from ..experts.history import KEEP
from .config import Limits
from .wire import Answers, Outcome, finish_decision, settled_bytes

__all__ = ["Decider", "Limits", "CallRejected", "Pending", "EscalationResult",
           "VERDICT_CODES", "TIER_CODES"]

log = logging.getLogger("lighthouse.server")

Decision = pb.Decision
INVALID = grpc.StatusCode.INVALID_ARGUMENT
FRONT_MAX = 16384           # entries of tier 0's raw-request front
FRONT_MAX_INPUT = 2048      # longer input_json texts only go through the Validator's cache


class EscalationResult:
    """What a slower tier answers: verdict "allow"/"ask"/"deny", reason, rule_id, tier
    ("policy" or "expert") and the escalation id it was filed under; ``trail``, the steps
    of the escalation (JSON-encodable items, e.g. one dict per tier asked with its answer
    and time), is written in the call's audit record."""

    __slots__ = ("verdict", "reason", "rule_id", "tier", "escalation_id", "trail")

    def __init__(self, verdict, reason, rule_id="", tier="expert", escalation_id="", trail=()):
        self.verdict = verdict
        self.reason = reason
        self.rule_id = rule_id
        self.tier = tier
        self.escalation_id = escalation_id
        self.trail = trail


class Pending:
    """A call the fast tiers did not settle, waiting for a slower tier.

    ``verdict`` is "miss" (no rule matched) or "ask" (a rule wants a human or an expert);
    ``rule_id``/``reason`` say why. If the escalation fails, times out or declines, the
    fast path's own answer stands (``v``/``tier``/``reason_out``: the fail-mode verdict
    for a miss, the rule's ask for an ask). ``slow_key``: the key the escalator's cache
    lookup computed for the call (the Decider's ``slow_cache``), handed on so that the
    escalator does not compute it again; None when no lookup was made. ``parsed``: the
    simple commands the rule engine parsed a Bash call into (``Validator.parsed``), for
    the pattern tier, or None."""

    __slots__ = ("request_id", "agent_id", "session_id", "tool", "tool_input", "cwd", "home",
                 "verdict", "rule_id", "reason", "generation", "v", "tier", "reason_out", "started_ns",
                 "source", "input_json", "slow_key", "parsed")

    def __init__(self, call, agent_id, tool_input, outcome, started_ns):
        v, tier, reason, rule_id, generation, verdict = outcome
        self.request_id = call.request_id
        self.agent_id = agent_id
        self.session_id = call.session_id
        self.tool = call.tool
        self.tool_input = tool_input
        self.cwd = call.cwd
        self.home = call.home
        self.verdict = verdict
        self.rule_id = rule_id
        self.reason = reason
        self.generation = generation
        self.v = v
        self.tier = tier
        self.reason_out = reason
        self.started_ns = started_ns
        self.source = "local" if call.__class__ is _LocalCall else "grpc"
        self.input_json = call.input_json or tool_input      # the text the audit log keeps
        self.slow_key = None
        self.parsed = None


class _LocalCall:
    """The local socket's dict call seen through the ToolCall attribute names."""

    __slots__ = ("request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home", "fallback")

    def __init__(self, d, request_id):
        self.request_id = request_id
        self.agent_id = d.get("agent_id") or ""
        self.session_id = d.get("session_id") or ""
        self.tool = d.get("tool") or ""
        self.input_json = ""
        self.cwd = d.get("cwd") or ""
        self.home = d.get("home") or ""
        self.fallback = 0


class _Escalating:
    """The local endpoint's awaitable for an escalated call (:meth:`Decider.decide_local`).
    ``progress`` is what the endpoint's pending line tells a client that asked for it:
    the seconds within which the call is answered (the escalator's timeout), the verdict
    it gets if the escalation fails (the fail mode for a miss, the rule's ask for an
    ask), and why it was escalated."""

    __slots__ = ("_coro", "progress")

    def __init__(self, coro, progress):
        self._coro = coro
        self.progress = progress

    def __await__(self):
        return self._coro.__await__()

    def close(self):
        self._coro.close()


class Decider:
    """Decide ``lighthouse.v1.ToolCall`` messages with one Validator.

    ``validator`` should be built with ``raw=True``, so that misses reach this class and
    are settled by the escalator or the fail mode. ``fallback`` is the fail-mode verdict; a call may only
    make it stricter. ``rate_limiter`` (an :class:`~lighthouse.server.auth.RateLimiter`)
    bounds calls per agent. ``escalator``, when given, is an async callable taking a
    :class:`Pending` and returning an :class:`EscalationResult` (or None to decline); it
    gets ``escalation_timeout`` seconds. ``cache_ttl`` is the Validator's cache TTL, which
    the raw-request front of tier 0 keeps too (its size follows the Validator's cache).
    ``decision_log``: a :class:`~lighthouse.server.decisionlog.DecisionLog` that gets every
    decision but an allow.

    ``audit``: a started :class:`~lighthouse.audit.writer.AuditLog` that gets every
    decision answered (cache hits, escalations settled, the local socket's), queued on
    the event loop as one tuple (lighthouse.audit.record.make_row) before the decision
    is counted; a full queue refuses the call (CallRejected RESOURCE_EXHAUSTED). In its
    sync mode an answer is held until its record is committed: ``decide`` then returns a
    :class:`~lighthouse.audit.writer.Committing` instead of bytes, which the front ends
    await through :meth:`settle` like a Pending.
    """

    def __init__(self, validator, stats=None, *, fallback="ask", limits=None, rate_limiter=None,
                 escalator=None, escalation_timeout=2.0, cache_ttl=300.0, decision_log=None, audit=None):
        if fallback not in VERDICT_CODES:
            raise ValueError("fallback must be allow, ask or deny, not %r" % (fallback,))
        self.validator = validator
        self.stats = stats or Stats()
        self.fallback = VERDICT_CODES[fallback]
        self._answers = Answers(self.fallback)
        self.limits = limits or Limits()
        self.rate_limiter = rate_limiter
        self.escalator = escalator
        self.escalation_timeout = escalation_timeout
        # (tool, tool_input, cwd, home, generation, why, rule_id, agent_id, session_id) ->
        # (a slow tier's cached decision or None, the call's key in that cache)
        # (EscalationPipeline.lookup): a repeated escalated call is then answered inline,
        # as a tier-0 hit; the key goes with the Pending of a call that is escalated.
        self.slow_cache = None
        # (rule_id, generation) -> whether that rule's ask is escalated
        # (EscalationPipeline.escalates_ask); None escalates every ask.
        self.escalate_ask = None
        # A lighthouse.experts.history.SessionHistory when experts are configured: every
        # decision of a call naming a session is recorded, for the experts' context.
        self.history = None
        self.decision_log = decision_log
        # Outcomes at or past this index are logged (every verdict past allow), none without a log.
        self._log_from = outcome_index(VERDICT_ASK, 0) if decision_log is not None else OUTCOMES
        # The scanner behind json.loads, without its two whitespace regex matches (most of
        # json.loads' cost on a small object); anything it does not take whole goes to
        # json.loads, which then has the last word.
        self._scan = json.JSONDecoder().scan_once
        # (tool, input_json, cwd, home, fallback) -> (generation, expiry, index, body, outcome)
        self._front = {}
        self._front_size = min(validator.cache_stats().get("capacity", 0), FRONT_MAX)
        self._front_ttl_ns = int(cache_ttl * 1e9)
        self.front_hits = 0
        lim = self.limits
        self._max_id = lim.max_id
        self._max_tool = lim.max_tool
        self._max_input = lim.max_input_json
        self._max_path = lim.max_path
        self._checker = validator.checker
        self._small = validator.small
        self._check_small = validator.check_small
        self._decisions = self.stats.decisions
        self._validation_time = self.stats.decision_time["validation"]
        self.audit = audit
        self._audit = audit.record if audit is not None else None
        self._audit_sync = audit is not None and audit.sync
        # The local socket's calls carry no request id: each gets one, unique to this
        # process's run, which its answer and its audit record carry.
        self._local_prefix = "local-%s-" % os.urandom(4).hex()
        self._local_ids = itertools.count(1)

    # ----------------------------------------------------------- the decision

    def _authorize(self, agent, identity):
        """The agent a call claiming to come from `agent` is made for; PERMISSION_DENIED
        for impersonation and RESOURCE_EXHAUSTED over the rate limit."""
        if identity is not None:
            if agent and agent != identity.agent_id:
                raise CallRejected(grpc.StatusCode.PERMISSION_DENIED,
                                   "agent_id %r does not match the token's identity" % agent, "agent_id")
            agent = identity.agent_id
        rl = self.rate_limiter
        if rl is not None and not rl.allow(agent):
            raise CallRejected(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               "rate limit of %g calls/s for agent %r exceeded" % (rl.rate, agent))
        return agent

    def decide(self, call, identity=None):
        """Decide a ToolCall. Returns the serialized Decision (bytes) when the fast tiers
        settle it, or a Pending for the escalator; raises CallRejected."""
        t0 = perf_counter_ns()
        tool = call.tool
        ij = call.input_json
        cwd = call.cwd
        home = call.home
        fb = call.fallback
        rid = call.request_id
        agent = call.agent_id
        # The one check of a call's fields against the limits, the first field at fault
        # named: the per-call ids here, the rest below unless the front of tier 0 answers
        # (the rest is its key, checked when the entry was made).
        max_id = self._max_id
        if len(rid) > max_id:
            raise _too_long("request_id", max_id)
        if len(agent) > max_id:
            raise _too_long("agent_id", max_id)
        if len(call.session_id) > max_id:
            raise _too_long("session_id", max_id)
        key = (tool, ij, cwd, home, fb)
        hit = self._front.get(key)
        if hit is not None:
            generation, expires, index, body, outcome = hit
            if generation == self._checker.generation and t0 < expires:
                if identity is not None or self.rate_limiter is not None:
                    agent = self._authorize(agent, identity)
                self.front_hits += 1
                out, ns = finish_decision(rid, body, t0)
                if self._audit is not None:
                    self._audit((t0, "grpc", rid, agent, call.session_id, tool, ij, cwd, outcome, ns, "", ()))
                    if self._audit_sync:
                        out = Committing(rid, out, self.audit.appended)
                self._decisions[index] += 1
                self._validation_time.observe(ns)
                hist = self.history
                if hist is not None and call.session_id:
                    # SessionHistory.record, inline.
                    r = hist.young.get(call.session_id)
                    if r is None:
                        r = hist.ring(call.session_id)
                    r.append((tool, ij if len(ij) <= KEEP else ij[:KEEP], index))
                if index >= self._log_from:
                    self.decision_log.write(rid, agent, tool, outcome.verdict, outcome.tier, outcome.rule_id,
                                            outcome.reason, ns)
                return out
        if not tool:
            raise CallRejected(INVALID, "tool is required", "tool")
        if len(tool) > self._max_tool:
            raise _too_long("tool", self._max_tool)
        max_path = self._max_path
        if cwd and (len(cwd) > max_path or cwd[0] != "/"):
            raise _bad_path("cwd", cwd, max_path)
        if home and (len(home) > max_path or home[0] != "/"):
            raise _bad_path("home", home, max_path)
        if fb > VERDICT_DENY or fb < 0:
            raise CallRejected(INVALID, "fallback: unknown Verdict value %d" % fb, "fallback")
        if not ij:
            raise CallRejected(INVALID, "input_json is required (the tool_input as a JSON object)", "input_json")
        if len(ij) > self._max_input:
            raise CallRejected(INVALID, "input_json is longer than %d characters: too large to judge"
                               % self._max_input, "input_json")
        if identity is not None or self.rate_limiter is not None:
            agent = self._authorize(agent, identity)
        try:
            tool_input, end = self._scan(ij, 0)
            if end != len(ij):
                raise ValueError
        except RecursionError:
            raise CallRejected(INVALID, "input_json is nested too deeply", "input_json") from None
        except (ValueError, StopIteration):
            tool_input = _parse_input(ij)
        if type(tool_input) is not dict:
            raise CallRejected(INVALID, "input_json must be a JSON object, not a JSON %s"
                               % _json_type(tool_input), "input_json")
        # A short JSON text holds no string longer than the window and few values: the
        # bounds of Validator.check have nothing to do (lighthouse.bounds.SMALL).
        check = self._check_small if len(ij) <= self._small else self.validator.check
        d = check(tool, tool_input, cwd or None, agent or None, home or None)
        index, body, outcome = self._answers[d.verdict, d.tier, d.reason, d.rule_id, d.generation, fb]
        if self.escalator is not None and (outcome.raw == MISS or outcome.raw == ASK and self._escalates_ask(outcome)):
            skey = None
            if self.slow_cache is not None:
                hit, skey = self.slow_cache(tool, tool_input, cwd, home, outcome.generation, outcome.raw,
                                            outcome.rule_id, agent, call.session_id)
                if hit is not None:
                    v, ns = self._slow_hit(rid, agent, tool, hit, t0, call.session_id, ij, cwd, outcome.generation)
                    if self.history is not None and call.session_id:
                        self.history.record(call.session_id, tool, ij, outcome_index(v, TIER_CACHE))
                    out = settled_bytes(rid, v, hit.reason, hit.rule_id, TIER_CACHE, outcome.generation,
                                        hit.escalation_id, ns)
                    return Committing(rid, out, self.audit.appended) if self._audit_sync else out
            pending = Pending(call, agent, tool_input, outcome, t0)
            pending.slow_key = skey
            if tool == "Bash":
                # What the engine parsed the call into, asked for before any other call
                # is evaluated: the pattern tier shapes it from that.
                pending.parsed = self.validator.parsed(tool_input.get("command"), cwd, home)
            return pending
        # A rule's ask kept from the escalator stays out of the front: whether asks are
        # escalated can change while the entry lives (experts connecting).
        if self._front_size and len(ij) <= FRONT_MAX_INPUT and (d.cached or d.rule_id != "input.invalid") \
                and (self.escalator is None or outcome.raw != ASK):
            self._remember(key, d, fb, t0)
        out, ns = finish_decision(rid, body, t0)
        if self._audit is not None:
            self._audit((t0, "grpc", rid, agent, call.session_id, tool, ij, cwd, outcome, ns, "", ()))
            if self._audit_sync:
                out = Committing(rid, out, self.audit.appended)
        self._decisions[index] += 1
        self._validation_time.observe(ns)
        hist = self.history
        if hist is not None and call.session_id:
            r = hist.young.get(call.session_id)
            if r is None:
                r = hist.ring(call.session_id)
            r.append((tool, ij if len(ij) <= KEEP else ij[:KEEP], index))
        if index >= self._log_from:
            self.decision_log.write(rid, agent, tool, outcome.verdict, outcome.tier, outcome.rule_id,
                                    outcome.reason, ns)
        return out

    def _escalates_ask(self, outcome):
        """Whether a rule's ask goes to the escalator (``escalate_ask``: none set, every
        ask does); one that does not is answered at once, as the rule's ask."""
        return self.escalate_ask is None or self.escalate_ask(outcome.rule_id, outcome.generation)

    def _slow_hit(self, rid, agent, tool, hit, t0, session, tool_input, cwd, generation, source="grpc"):
        """Count, audit and log the answer to a call a slow tier has decided before (a
        CachedDecision of the escalation pipeline, under the call's generation): tier
        CACHE, the deciding tier's verdict, reason and rule id. Returns (verdict, ns)."""
        v = VERDICT_CODES[hit.verdict]
        ns = perf_counter_ns() - t0
        if self._audit is not None:
            self._audit((t0, source, rid, agent, session, tool, tool_input, cwd,
                         Outcome(v, TIER_CACHE, hit.reason, hit.rule_id, generation, hit.verdict), ns,
                         hit.escalation_id, ()))
        self._decisions[outcome_index(v, TIER_CACHE)] += 1
        self._validation_time.observe(ns)
        if v != VERDICT_ALLOW and self.decision_log is not None:
            self.decision_log.write(rid, agent, tool, v, TIER_CACHE, hit.rule_id, hit.reason, ns)
        return v, ns

    def _remember(self, key, d, fb, now_ns):
        """Put a decision of the Validator (from its cache, or one tier 1 has just made and
        the cache has just stored) in the front, stamped with its generation and expiring
        one cache TTL from now, answered as the Validator's cache answers it (tier CACHE; a
        miss stays a fail-mode answer). Tier 1's answers to bad input are left out: the
        Validator does not cache all of them."""
        front = self._front
        front.pop(key, None)                        # an entry of an older generation
        if len(front) >= self._front_size:
            del front[next(iter(front))]            # oldest first: dicts keep insertion order
        index, body, outcome = self._answers[d.verdict, "cache", d.reason, d.rule_id, d.generation, fb]
        front[key] = (d.generation, now_ns + self._front_ttl_ns, index, body, outcome)

    def decide_local(self, d):
        """The ``decide`` callable of the local socket endpoint (lighthouse.server.local):
        a validated dict call in, a dict decision out (an awaitable when escalated, whose
        ``progress`` makes the endpoint's pending line)."""
        # The local endpoint has checked the types; the Validator itself judges oversized
        # or odd values (never allowing them), so no limit errors are raised here.
        t0 = perf_counter_ns()
        rid = self._local_prefix + str(next(self._local_ids))
        call = _LocalCall(d, rid)
        decision = self.validator.check(call.tool, d["input"], call.cwd or None, call.agent_id or None,
                                        call.home or None)
        index, _, outcome = self._answers[decision.verdict, decision.tier, decision.reason, decision.rule_id,
                                          decision.generation, 0]
        if self.escalator is not None and (outcome.raw == MISS or outcome.raw == ASK and self._escalates_ask(outcome)):
            skey = None
            if self.slow_cache is not None:
                hit, skey = self.slow_cache(call.tool, d["input"], call.cwd, call.home, outcome.generation,
                                            outcome.raw, outcome.rule_id, call.agent_id, call.session_id)
                if hit is not None:
                    self._slow_hit(rid, call.agent_id, call.tool, hit, t0, call.session_id, d["input"], call.cwd,
                                   outcome.generation, "local")
                    return self._local_answer({"verdict": hit.verdict, "reason": hit.reason, "rule_id": hit.rule_id,
                                               "tier": "cache", "generation": outcome.generation, "request_id": rid})
            pending = Pending(call, call.agent_id, d["input"], outcome, t0)
            pending.slow_key = skey
            if call.tool == "Bash":
                pending.parsed = self.validator.parsed(d["input"].get("command"), call.cwd, call.home)
            return _Escalating(self._settle_local(pending), self.progress(pending))
        ns = perf_counter_ns() - t0
        if self._audit is not None:
            self._audit((t0, "local", rid, call.agent_id, call.session_id, call.tool, d["input"], call.cwd, outcome,
                         ns, "", ()))
        self._decisions[index] += 1
        self._validation_time.observe(ns)
        if index >= self._log_from:
            self.decision_log.write(rid, call.agent_id, call.tool, outcome.verdict, outcome.tier, outcome.rule_id,
                                    outcome.reason, ns)
        return self._local_answer({"verdict": VERDICT_NAMES[outcome.verdict], "reason": outcome.reason,
                                   "rule_id": outcome.rule_id, "tier": TIER_NAMES[outcome.tier],
                                   "generation": outcome.generation, "request_id": rid})

    def _local_answer(self, answer):
        """The local socket's answer, held until its record is committed in sync mode."""
        if not self._audit_sync:
            return answer
        return self.settle(Committing(answer["request_id"], answer, self.audit.appended))

    def progress(self, pending):
        """What a client waiting for ``pending`` is told while the escalator decides:
        ``deadline``, the seconds within which it is answered (the escalator's timeout);
        ``fallback``, the verdict it gets if the escalation fails (the fail mode for a
        miss, the rule's ask for an ask: never allow); ``reason`` and ``rule_id``, why it
        was escalated."""
        return {"deadline": self.escalation_timeout, "fallback": VERDICT_NAMES[pending.v],
                "reason": pending.reason_out, "rule_id": pending.rule_id}

    async def _settle_local(self, pending):
        d = Decision.FromString(await self.settle(pending))
        return {"verdict": VERDICT_NAMES[d.verdict], "reason": d.reason, "rule_id": d.rule_id,
                "tier": TIER_NAMES[d.tier], "generation": d.policy_generation, "request_id": d.request_id}

    async def settle(self, pending):
        """Await the escalator for a Pending call and return the serialized Decision;
        the fast path's own answer (the fail-mode verdict for a miss) when the escalator
        declines, fails or runs out of time: never a silent allow. For a Committing
        (sync audit), await the commit of its record and return its answer."""
        if pending.__class__ is Committing:
            await self.audit.wait_committed(pending.ticket)
            return pending.answer
        v, tier, reason, rule_id, escalation_id = pending.v, pending.tier, pending.reason_out, pending.rule_id, ""
        # asyncio.timeout, not wait_for: awaiting the escalator in this task saves a task
        # and a turn of the event loop per escalation.
        limit = asyncio.timeout(self.escalation_timeout)
        try:
            async with limit:
                result = await self.escalator(pending)
        except TimeoutError as e:
            if not limit.expired():
                log.error("escalation of a %s call failed: %r", pending.tool, e)
            result = None
            reason += ("; escalation timed out after %gs" % self.escalation_timeout if limit.expired()
                       else "; escalation failed (TimeoutError)")
        except Exception as e:
            log.exception("escalation of a %s call failed", pending.tool)
            result = None
            reason += "; escalation failed (%s)" % type(e).__name__
        if result is not None:
            if result.verdict in VERDICT_CODES and result.tier in TIER_CODES:
                v, tier = VERDICT_CODES[result.verdict], TIER_CODES[result.tier]
                reason, rule_id, escalation_id = result.reason, result.rule_id, result.escalation_id
            else:
                log.error("escalator answered an invalid verdict/tier: %r/%r", result.verdict, result.tier)
                reason += "; escalation answered no valid verdict"
        ns = perf_counter_ns() - pending.started_ns
        if self._audit is not None:
            self._audit((pending.started_ns, pending.source, pending.request_id, pending.agent_id, pending.session_id,
                         pending.tool, pending.input_json, pending.cwd,
                         Outcome(v, tier, reason, rule_id, pending.generation, ""), ns, escalation_id,
                         result.trail if result is not None else ()))
            if self._audit_sync:
                await self.audit.wait_committed(self.audit.appended)
        self.stats.decided(v, tier, ns, "escalation")
        if self.history is not None and pending.session_id:
            self.history.record(pending.session_id, pending.tool, pending.tool_input, outcome_index(v, tier))
        if v != VERDICT_ALLOW and self.decision_log is not None:
            self.decision_log.write(pending.request_id, pending.agent_id, pending.tool, v, tier, rule_id, reason, ns)
        return settled_bytes(pending.request_id, v, reason, rule_id, tier, pending.generation, escalation_id, ns)


def _too_long(name, limit):
    return CallRejected(INVALID, "%s is longer than %d characters" % (name, limit), name)


def _bad_path(name, value, max_path):
    if len(value) > max_path:
        return _too_long(name, max_path)
    return CallRejected(INVALID, path_problem(name, value), name)


def _parse_input(text):
    """input_json parsed by json.loads, or CallRejected naming the field."""
    try:
        return json.loads(text)
    except RecursionError:
        raise CallRejected(INVALID, "input_json is nested too deeply", "input_json") from None
    except ValueError as e:
        raise CallRejected(INVALID, "input_json is not valid JSON: %s" % e, "input_json") from None


def _json_type(value):
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


