"""The escalation pipeline: what happens to a call the fast tiers did not settle.

A miss (no rule matched), or a rule's ask unless the rule says ``escalate = false``, is
asked of the slow tiers in order: the Rego policy tier, then the experts (when
configured), then the fail mode. Each escalation runs as its own task, so no call waits
behind an escalation it does not depend on, and within deadlines: each tier its own
(``policy_deadline``, 50 ms by default), all of them together ``escalation_deadline``
(30 s) from the call's arrival. What goes wrong (an exception, a timeout, an answer that
is not a well-formed TierAnswer, an open circuit) hands the call to the next tier or to
the fail mode (``fail_mode``, ask or deny; tier "fallback", the reason naming what failed
or timed out): nothing is answered allow because something failed.

- Circuit breakers, one per backend (lighthouse.escalation.breaker): an open one skips
  its tier at once.
- A bounded queue: at most ``max_queue`` evaluations at a time, and at most
  ``max_agent_queue`` started by one agent (so that one agent flooding the slow path
  with distinct calls cannot take every place from the others); a call that would need
  one more gets the fail mode at once (cause ``queue_full``).
- Coalescing: concurrent escalations of the same call (decision-cache key and policy
  generation) share one evaluation; each caller still waits no longer than its own
  deadline, and the evaluation is cancelled when no caller waits for it any more.
- Decisions a tier made (never fail-mode answers, nor decisions made after an earlier
  tier failed, nor answers the tier marked not ``reusable``) go into a SlowDecisionCache
  stamped with the policy generation, so that a repeated call is answered without
  asking a tier again.

:meth:`EscalationPipeline.escalator` adapts the pipeline to the server's
``Decider(escalator=...)`` seam (a Pending in, an EscalationResult or None out).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, replace
from time import perf_counter_ns

from .._fast import engine as _engine
from .breaker import CircuitBreaker
from .cache import CachedDecision, SlowDecisionCache
from .stats import EscalationStats
from .tiers import KINDS, STRICTNESS, Escalation, Stage, TierUndecided, check_answer, stricter

__all__ = ["EscalationPipeline", "Outcome"]

log = logging.getLogger("lighthouse.escalation")

_cache_key = _engine.cache_key
_monotonic = time.monotonic
_VERDICT_WORDS = {1: "allow", 2: "ask", 3: "deny"}      # lighthouse.v1.Verdict values


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to an escalated call. ``tier`` is "policy" or "expert" (a tier
    decided), "cache" (a tier's earlier decision, from the slow-tier cache) or
    "fallback" (the fail mode; ``cause`` says why: timeout, error, invalid,
    circuit_open, deadline, queue_full or undecided). ``category`` is the category a tier
    routed the call under when it asked for experts (``escalate``) and its answer stood,
    because no later tier decided."""

    verdict: str
    reason: str
    rule_id: str
    tier: str
    escalation_id: str = ""
    cause: str = ""
    category: str = ""


class _Evaluation:
    """One evaluation in flight, shared by the calls that coalesce on it."""

    __slots__ = ("task", "waiters", "futures", "current", "escalation_id", "tier_ns", "agent_id", "ended",
                 "begun_ns", "end_ns")

    def __init__(self, escalation_id):
        self.task = None
        self.waiters = 0
        self.futures = set()            # one per waiting caller: the task settles them as it ends
        self.current = ""               # the tier asked last, for a waiter's timeout reason
        self.escalation_id = escalation_id
        self.tier_ns = 0                # time the tiers themselves took (their backends', when known)
        self.agent_id = ""              # the agent whose call started it
        self.ended = False              # its place in the queue given back
        self.begun_ns = 0               # the arrival of the call that started it (perf_counter_ns)
        self.end_ns = 0                 # when the last tier asked returned


def _slow_key(tool, tool_input, cwd, home, agent_id, session_id):
    """The key a slow decision is cached and coalesced under, or None when the call has
    none: the call's decision-cache key and who made it. The slow tiers see the agent
    and session ids (a policy may allow one agent what it refuses another; an expert
    judges a call with its session's history), so a decision made for one agent or
    session is never another's answer."""
    try:
        key = _cache_key(tool, tool_input, cwd or "", home or "")
    except Exception:
        return None
    agent = (agent_id or "").encode("utf-8", "surrogatepass")
    session = (session_id or "").encode("utf-8", "surrogatepass")
    return b"%d:%s%d:%s%s" % (len(agent), agent, len(session), session, key)


def _seconds(s):
    return "%g ms" % round(s * 1000, 3) if s < 1 else "%g s" % round(s, 3)


class EscalationPipeline:
    """The slow tiers behind the fast path.

    ``stages``: the tiers in order, each a :class:`~lighthouse.escalation.tiers.Stage`
    or a bare Tier (then its ``kind``, ``deadline`` and ``backend`` attributes are read
    when present; the kind defaults to "policy"). Policy stages come before expert
    stages. A stage without a deadline of its own gets ``policy_deadline`` (policy) or
    only the overall deadline (expert).

    ``fail_mode``: "ask" or "deny", the verdict when the tiers fail, time out, are
    skipped or cannot be reached (a call's own stricter fallback still applies).
    ``escalation_deadline``: seconds from the call's arrival until it gets the fail mode.
    ``max_queue``: evaluations in flight at most; ``max_agent_queue`` (a quarter of
    ``max_queue`` by default): evaluations in flight started by one agent id. ``cache_size``/``cache_ttl``: the
    slow-tier cache (0 entries turns it off). ``escalate_ask(rule_id, generation)``:
    whether a rule's ask is escalated (the rule key ``escalate``); None escalates every
    ask. ``failure_threshold``, ``reset_timeout``, ``half_open_probes``: every circuit
    breaker's settings. ``clock``: the clock of the breakers and the cache (tests).
    """

    def __init__(self, stages=(), *, fail_mode="ask", escalation_deadline=30.0, policy_deadline=0.05,
                 max_queue=1024, max_agent_queue=None, cache_size=65536, cache_ttl=3600.0, escalate_ask=None,
                 failure_threshold=5, reset_timeout=5.0, half_open_probes=1, stats=None,
                 clock=time.monotonic):
        if fail_mode not in ("ask", "deny"):
            raise ValueError("fail_mode must be ask or deny, not %r" % (fail_mode,))
        if not escalation_deadline > 0:
            raise ValueError("escalation_deadline must be > 0 seconds")
        if not policy_deadline > 0:
            raise ValueError("policy_deadline must be > 0 seconds")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        if max_agent_queue is None:
            max_agent_queue = max(1, max_queue // 4)
        if max_agent_queue < 1:
            raise ValueError("max_agent_queue must be >= 1")
        self.fail_mode = fail_mode
        self.escalation_deadline = float(escalation_deadline)
        self.policy_deadline = float(policy_deadline)
        self.max_queue = int(max_queue)
        self.max_agent_queue = int(max_agent_queue)
        self._per_agent = {}            # agent id -> evaluations in flight it started
        self.escalate_ask = escalate_ask
        self.stages = tuple(self._stage(s) for s in stages)
        kinds = [s.kind for s in self.stages]
        if kinds != sorted(kinds, key=list(KINDS).index):
            raise ValueError("stages must come in the order policy, pattern, expert")
        self.breakers = {}
        self._breaker_settings = dict(failure_threshold=failure_threshold, reset_timeout=reset_timeout,
                                      half_open_probes=half_open_probes, clock=clock)
        for s in self.stages:
            if s.backend not in self.breakers:
                self.breakers[s.backend] = CircuitBreaker(s.backend, **self._breaker_settings)
        self.cache = SlowDecisionCache(cache_size, cache_ttl, clock=clock)
        self.stats = stats or EscalationStats()
        self.stats.breakers = self.breakers
        self.stats.cache = self.cache
        self._inflight = {}             # (key, generation, epoch) -> _Evaluation, for coalescing
        self._evaluations = set()       # every _Evaluation in flight
        self._id_prefix = "esc-" + secrets.token_hex(4) + "-"
        self._next_id = 0

    def _stage(self, s):
        if isinstance(s, Stage):
            stage = s
        else:
            stage = Stage(s, kind=getattr(s, "kind", "policy"), deadline=getattr(s, "deadline", None),
                          backend=getattr(s, "backend", "") or "")
        if stage.deadline is None and stage.kind == "policy":
            stage = replace(stage, deadline=self.policy_deadline)
        return stage

    # ------------------------------------------------------------------ public API

    def breaker(self, backend):
        """The circuit breaker of ``backend`` (created on first use), for a tier that
        talks to several backends (each expert endpoint) and keys them itself."""
        b = self.breakers.get(backend)
        if b is None:
            b = self.breakers[backend] = CircuitBreaker(backend, **self._breaker_settings)
        return b

    def escalates(self, why, rule_id="", generation=0):
        """Whether a call the fast tiers left as ``why`` ("miss" or "ask") is escalated."""
        if why == "miss":
            return True
        if why != "ask":
            return False
        return self.escalate_ask is None or bool(self.escalate_ask(rule_id, generation))

    def escalates_ask(self, rule_id, generation=0):
        """Whether rule ``rule_id``'s ask is escalated; counts the asks that are not (for
        the server to answer those inline, as the rule's ask, without a Pending)."""
        if self.escalates("ask", rule_id, generation):
            return True
        self.stats.rule_asks_kept += 1
        return False

    def cached(self, tool, tool_input, cwd="", home="", generation=0, why="miss", rule_id="", agent_id="",
               session_id=""):
        """The slow tiers' cached decision about this call under ``generation``, or None:
        for the server to answer a repeated call inline, as a tier-0 hit, before making
        a Pending (it then escalates with ``use_cache=False``). A call that would not be
        escalated (``why``, ``rule_id``: see :meth:`escalates`) is not looked up. Counts
        the hit (by the tier that decided) or the miss."""
        return self.lookup(tool, tool_input, cwd, home, generation, why, rule_id, agent_id, session_id)[0]

    def lookup(self, tool, tool_input, cwd="", home="", generation=0, why="miss", rule_id="", agent_id="",
               session_id=""):
        """:meth:`cached`, and the key the call is cached and coalesced under (b"" when it
        has none, None when it would not be escalated): the server keeps the key with
        its Pending and hands it to :meth:`decide`, which then does not compute it again."""
        if not self.escalates(why, rule_id, generation):
            return None, None
        key = _slow_key(tool, tool_input, cwd, home, agent_id, session_id)
        if key is None:
            return None, b""
        hit = self.cache.get(key, generation)
        if hit is not None:
            self.stats.cache_hits[hit.tier] += 1
            self.stats.answered("cache", hit.verdict)
        return hit, key

    def invalidate(self):
        """Forget the slow tiers' cached decisions: call it when the Rego policy or the
        expert configuration changes (a rule reload changes the generation, which does
        it by itself). Evaluations in flight finish, but their decisions are not stored
        and new calls do not join them."""
        self.cache.invalidate()

    async def decide(self, tool, tool_input, cwd="", home="", *, agent_id="", session_id="", why="miss",
                     rule_id="", rule_reason="", generation=0, started_ns=None, floor="allow",
                     use_cache=True, key=None, parsed=None):
        """Escalate one call; return its :class:`Outcome`, or None when the fast tiers'
        own answer stands (a rule's ask that is not escalated, or that no tier had an
        opinion on).

        ``started_ns`` (perf_counter_ns) is when the call arrived: the escalation
        deadline counts from then. ``floor`` is the call's own fail-mode verdict: a
        fail-mode answer is never less strict. ``use_cache`` False skips the cache
        lookup (the server looked already). ``key``: the call's key as :meth:`lookup`
        gave it (b"": the call has none), None to compute it here. ``parsed``: what the
        rule engine parsed a Bash call into (``Validator.parsed``), for the pattern tier;
        None to let it parse the call."""
        entered_ns = perf_counter_ns()
        stats = self.stats
        if not self.escalates(why, rule_id, generation):
            if why == "ask":
                stats.rule_asks_kept += 1
            return None
        now = _monotonic()
        elapsed = (perf_counter_ns() - started_ns) / 1e9 if started_ns is not None else 0.0
        deadline = now + self.escalation_deadline - elapsed
        if key is None:
            key = _slow_key(tool, tool_input, cwd, home, agent_id, session_id)
        key = key or None               # None: not cached nor coalesced
        cache = self.cache
        if key is not None and use_cache:
            hit = cache.get(key, generation)
            if hit is not None:
                stats.cache_hits[hit.tier] += 1
                stats.answered("cache", hit.verdict)
                return Outcome(hit.verdict, hit.reason, hit.rule_id, "cache", hit.escalation_id)
        if deadline <= now:
            return self._fail(why, rule_id, rule_reason, floor, "", [(
                "deadline", "escalation deadline of %s passed before any tier"
                % _seconds(self.escalation_deadline))])
        ckey = (key, generation, cache.epoch) if key is not None else None
        ev = self._inflight.get(ckey) if ckey is not None else None
        created = ev is None
        if ev is not None:
            stats.coalesced += 1
        else:
            if stats.queue_depth >= self.max_queue:
                stats.queue_rejected += 1
                return self._fail(why, rule_id, rule_reason, floor, "",
                                  [("queue_full", "escalation queue full (%d in flight)" % self.max_queue)])
            mine = self._per_agent.get(agent_id, 0)
            if mine >= self.max_agent_queue:
                stats.queue_rejected += 1
                return self._fail(why, rule_id, rule_reason, floor, "", [(
                    "queue_full", "escalation queue full for agent %.64r (%d in flight)" % (agent_id, mine))])
            self._per_agent[agent_id] = mine + 1
            self._next_id += 1
            ev = _Evaluation(self._id_prefix + str(self._next_id))
            ev.agent_id = agent_id
            ev.begun_ns = started_ns if started_ns is not None else entered_ns
            esc = Escalation(tool, tool_input, cwd or "", home or "", agent_id, session_id, why, rule_id,
                             rule_reason, generation, deadline, ev.escalation_id, (), key or b"", parsed)
            ev.task = asyncio.ensure_future(self._run(esc, ev, cache.epoch, ckey))
            stats.queue_depth += 1
            if stats.queue_depth > stats.queue_peak:
                stats.queue_peak = stats.queue_depth
            if ckey is not None:
                self._inflight[ckey] = ev
            self._evaluations.add(ev)
            ev.task.add_done_callback(lambda _t, ckey=ckey, ev=ev: self._done(ckey, ev, True))
        # Each caller awaits a future of its own, which the evaluation's task settles as
        # it ends (not the task itself through asyncio.shield, which would take one more
        # turn of the event loop); a caller's timeout or cancellation cancels only its own.
        fut = asyncio.get_running_loop().create_future()
        ev.futures.add(fut)
        ev.waiters += 1
        stats.in_flight += 1
        try:
            try:
                async with asyncio.timeout(deadline - _monotonic()):
                    result = await fut
                if created and ev.end_ns:
                    stats.spans["resolve"].observe(perf_counter_ns() - ev.end_ns)
            except TimeoutError:
                where = " in " + ev.current if ev.current else ""
                result = ("", None, [("deadline", "escalation deadline of %s passed%s"
                                      % (_seconds(self.escalation_deadline), where))], None, "")
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise               # this caller is cancelled
                # The evaluation was, not this caller: aclose(), or a tier's stray cancellation.
                result = ("", None, [("error", "escalation cancelled")], None, "")
            except Exception as e:      # a fault of the pipeline itself; logged by _done
                result = ("", None, [("error", "escalation failed (%s)" % type(e).__name__)], None, "")
        finally:
            stats.in_flight -= 1
            ev.waiters -= 1
            ev.futures.discard(fut)
            if ev.waiters == 0 and not ev.task.done():
                # No one waits for it any more: stop it, and let no new call join it.
                if ckey is not None and self._inflight.get(ckey) is ev:
                    del self._inflight[ckey]
                ev.task.cancel()
        if created and ev.tier_ns:
            # The escalation's overhead: its time from the call's arrival beyond the
            # tiers' own (queueing, scheduling, building the tiers' inputs, IPC).
            begun = started_ns if started_ns is not None else entered_ns
            stats.overhead.observe(max(0, perf_counter_ns() - begun - ev.tier_ns))
        return self._finish(result, why, rule_id, rule_reason, floor, ev.escalation_id)

    def escalator(self, use_cache=True):
        """The async callable ``Decider(escalator=...)`` takes: a Pending in, an
        EscalationResult (or None: the fast path's own answer stands) out. Give the
        Decider an ``escalation_timeout`` above ``escalation_deadline``, so that the
        pipeline's own deadline (whose answer names what timed out) comes first."""
        from ..server.core import EscalationResult

        decide = self.decide

        async def escalate(pending):
            why = pending.verdict
            floor = _VERDICT_WORDS.get(pending.v, "deny")
            out = await decide(pending.tool, pending.tool_input, pending.cwd, pending.home,
                               agent_id=pending.agent_id, session_id=pending.session_id, why=why,
                               rule_id=pending.rule_id, rule_reason=pending.reason,
                               generation=pending.generation, started_ns=pending.started_ns,
                               floor=floor, use_cache=use_cache, key=pending.slow_key,
                               parsed=getattr(pending, "parsed", None))
            if out is None:
                return None
            # The audit record's trail: how the pipeline settled it (the tier that answered,
            # the fail mode's cause, the category a tier routed it under).
            step = {"tier": out.tier, "verdict": out.verdict, "decided_by": out.rule_id}
            if out.cause:
                step["cause"] = out.cause
            if out.category:
                step["category"] = out.category
            return EscalationResult(out.verdict, out.reason, out.rule_id, out.tier, out.escalation_id, (step,))

        return escalate

    async def aclose(self):
        """Cancel the evaluations in flight (at shutdown): their callers get the fail
        mode at once. The pipeline stays usable."""
        tasks = [ev.task for ev in self._evaluations]
        self._inflight.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ evaluation

    def _done(self, ckey, ev, task_done=False):
        """An evaluation has ended: give its place in the queue back (once; its task does
        it as it ends, and its done callback for a task cancelled before it ran, which
        also cancels the callers' futures and logs a fault of the pipeline)."""
        if task_done:
            for f in ev.futures:
                if not f.done():
                    f.cancel()
            if not ev.task.cancelled() and ev.task.exception() is not None:
                log.error("escalation %s failed", ev.escalation_id, exc_info=ev.task.exception())
        if ev.ended:
            return
        ev.ended = True
        self.stats.queue_depth -= 1
        left = self._per_agent.get(ev.agent_id, 1) - 1
        if left > 0:
            self._per_agent[ev.agent_id] = left
        else:
            self._per_agent.pop(ev.agent_id, None)
        self._evaluations.discard(ev)
        if ckey is not None and self._inflight.get(ckey) is ev:
            del self._inflight[ckey]

    async def _run(self, esc, ev, epoch, ckey):
        """The evaluation's task: :meth:`_evaluate`, whose end (result, exception or
        cancellation) settles every waiting caller's future at once."""
        try:
            result = await self._evaluate(esc, ev, epoch)
        except asyncio.CancelledError:
            for f in ev.futures:
                if not f.done():
                    f.cancel()
            raise
        except BaseException as e:
            for f in ev.futures:
                if not f.done():
                    f.set_exception(e)
            raise
        finally:
            self._done(ckey, ev)
        for f in ev.futures:
            if not f.done():
                f.set_result(result)
        return result

    async def _evaluate(self, esc, ev, epoch):
        """Ask the tiers in order. Returns what the evaluation ended with, before each
        caller applies its own fail-mode floor (_finish): (kind of the deciding tier or
        "", its TierAnswer or None, the failures as (cause, text), an answer handed on
        by an earlier tier and its kind)."""
        stats = self.stats
        stats.spans["admit"].observe(perf_counter_ns() - ev.begun_ns)
        failures = []
        standing = None                 # (kind, answer) handed on by an earlier tier
        prior = []
        stages = self.stages
        for i, stage in enumerate(stages):
            if stage.active is not None and not stage.active():
                continue
            name = stage.name
            remaining = esc.deadline - _monotonic()
            if remaining <= 0:
                failures.append(("deadline", "escalation deadline of %s passed before %s"
                                 % (_seconds(self.escalation_deadline), name)))
                break
            breaker = self.breakers[stage.backend]
            if not breaker.acquire():
                stats.outcome(name, "circuit_open")
                failures.append(("circuit_open", "%s skipped: circuit open for %s" % (name, stage.backend)))
                continue
            own = stage.deadline is not None and stage.deadline <= remaining
            limit = stage.deadline if own else remaining
            ev.current = name
            t0 = perf_counter_ns()
            timeout = asyncio.timeout(limit)
            try:
                async with timeout:
                    raw = await stage.tier.decide(esc)
            except TimeoutError as e:
                self._spent(stage, ev, t0)
                if not timeout.expired():       # the tier's own TimeoutError: an error
                    breaker.failure()
                    stats.outcome(name, "error")
                    failures.append(("error", "%s failed (%s)" % (name, type(e).__name__)))
                    continue
                if own:
                    breaker.failure()
                    stats.outcome(name, "timeout")
                    failures.append(("timeout", "%s timed out after %s" % (name, _seconds(limit))))
                    continue
                breaker.release()       # the overall deadline ran out, not the tier's own
                stats.outcome(name, "timeout")
                failures.append(("deadline", "escalation deadline of %s passed in %s"
                                 % (_seconds(self.escalation_deadline), name)))
                break
            except TierUndecided as e:
                # Not the backend's fault (too few experts): the fail mode, breaker untouched.
                ev.end_ns = perf_counter_ns()
                stats.decision_time[KINDS[stage.kind]].observe(ev.end_ns - t0)
                breaker.release()
                stats.outcome(name, "undecided")
                failures.append(("undecided", "%s: %s" % (name, e)))
                continue
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    breaker.release()
                    raise
                # Not cancelled by anyone: a tier that let a cancellation of its own escape.
                self._spent(stage, ev, t0)
                breaker.failure()
                stats.outcome(name, "error")
                failures.append(("error", "%s failed (CancelledError)" % name))
                continue
            except Exception as e:
                self._spent(stage, ev, t0)
                breaker.failure()
                stats.outcome(name, "error")
                log.warning("escalation tier %s failed: %s: %s", name, type(e).__name__, e)
                failures.append(("error", "%s failed (%s)" % (name, type(e).__name__)))
                continue
            wall = self._spent(stage, ev, t0)
            answer, problem = check_answer(raw)
            if answer is not None and 0 < answer.elapsed_ns < wall:
                ev.tier_ns -= wall - answer.elapsed_ns     # the backend's own time, without the tier's plumbing
            if problem is not None:
                breaker.failure()
                stats.outcome(name, "invalid")
                log.warning("escalation tier %s %s", name, problem)
                failures.append(("invalid", "%s %s" % (name, problem)))
                continue
            breaker.success()
            if answer is None:
                stats.outcome(name, "no_opinion")
                continue
            if answer.escalate and any(s.active is None or s.active() for s in stages[i + 1:]):
                stats.outcome(name, "handed_on")
                standing = (stage.kind, answer)
                prior.append(answer)
                esc = replace(esc, prior=tuple(prior))
                continue
            stats.outcome(name, answer.verdict)
            if not failures:
                self._store(esc, stage.kind, answer, epoch)
            return (stage.kind, answer, failures, None, "")
        if standing is not None and not failures:
            self._store(esc, standing[0], standing[1], epoch)
            return (standing[0], standing[1], failures, None, "")
        return ("", None, failures, standing[1] if standing else None, standing[0] if standing else "")

    def _spent(self, stage, ev, t0):
        """Account for the time a stage took: its kind's duration histogram, and the
        evaluation's time inside tiers (what the overhead figure leaves out)."""
        ev.end_ns = now = perf_counter_ns()
        wall = now - t0
        stats = self.stats
        stats.decision_time[KINDS[stage.kind]].observe(wall)
        span = stats.spans.get(stage.kind)
        if span is not None:
            span.observe(wall)
        ev.tier_ns += wall
        return wall

    def _store(self, esc, kind, answer, epoch):
        if esc.key and answer.reusable:
            self.cache.put(esc.key, esc.generation,
                           CachedDecision(answer.verdict, answer.reason, answer.decided_by, kind,
                                          esc.escalation_id), epoch)

    def _finish(self, result, why, rule_id, rule_reason, floor, escalation_id):
        """One caller's Outcome from an evaluation's result."""
        kind, answer, failures, standing, standing_kind = result
        stats = self.stats
        if answer is not None:
            stats.decided[kind] += 1
            stats.answered(kind, answer.verdict)
            return Outcome(answer.verdict, answer.reason, answer.decided_by, kind, escalation_id,
                           category=answer.category if answer.escalate else "")
        if standing is not None:
            # An earlier tier answered and handed on; a later one failed. Its answer
            # stands only where it is at least as strict as the fail mode.
            verdict = stricter(stricter(self.fail_mode, floor), standing.verdict)
            if verdict == standing.verdict and STRICTNESS[verdict] > STRICTNESS[self.fail_mode]:
                stats.decided[standing_kind] += 1
                stats.answered(standing_kind, verdict)
                return Outcome(verdict, "%s (%s)" % (standing.reason, "; ".join(f[1] for f in failures)),
                               standing.decided_by, standing_kind, escalation_id, category=standing.category)
            return self._fail(why, rule_id, rule_reason, floor, escalation_id, failures,
                              "%s answered %s first" % (standing.decided_by or standing_kind, standing.verdict),
                              standing.verdict)
        if not failures:
            if why == "ask":
                return None             # no tier had an opinion: the rule's ask stands
            failures = [("undecided", "no tier decided" if self.stages else "no slow tier configured")]
        return self._fail(why, rule_id, rule_reason, floor, escalation_id, failures)

    def _fail(self, why, rule_id, rule_reason, floor, escalation_id, failures, note="", at_least="allow"):
        verdict = stricter(stricter(self.fail_mode, floor), at_least)
        cause = failures[0][0]
        stats = self.stats
        stats.fail_mode[cause] += 1
        stats.answered("fallback", verdict)
        base = rule_reason or ("no rule settles this call" if why == "miss" else "a rule asks")
        what = "; ".join(f[1] for f in failures)
        if note:
            what = note + "; " + what
        return Outcome(verdict, "%s; escalation: %s; fail-mode verdict %s" % (base, what, verdict),
                       rule_id, "fallback", escalation_id, cause)
