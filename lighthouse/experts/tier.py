"""The expert tier: a stage of the escalation pipeline (kind "expert") that asks experts.

:class:`ExpertTier` turns an :class:`~lighthouse.escalation.Escalation` into an
:class:`~lighthouse.experts.base.ExpertRequest` (the policy tier's input document as the
analysis, the policy tier's answer that handed the call on, its category and quorum, the
session's recent decisions), routes it to the experts of an
:class:`~lighthouse.experts.hub.ExpertRegistry` that serve the call's tool and category,
least loaded first, and combines their answers into a
:class:`~lighthouse.escalation.TierAnswer`.

- **Quorum**: the policy's ``quorum`` (``default_quorum``, 1, without one) answers from
  distinct experts. An expert that fails (times out, disconnects, declines, answers
  garbage, has its circuit open) is replaced by the next free expert; when every
  serving expert is busy, or when an expert holding the call disconnected and no other
  serves it, the escalation waits for a free slot or a (re)connecting expert until its
  deadline.
- **Combination**: ``combine="strict"`` (default): deny > ask > allow, and the first deny
  ends the vote (no further answer could change it). ``combine="majority"``: the verdict
  most experts gave, ties going to the stricter one.
- **Distrust**: an answer below ``min_confidence`` counts as ask; an allow for a call the
  rules or the policy said deny counts as ask (both counted in
  ``lighthouse_expert_rejected_answers_total``). An expert's failure is never an answer.
- **Quorum unreachable** (too few experts serve the call, or too few answered by the
  deadline): the safe choice. If an expert answered deny, the call is denied (a deny
  needs no quorum to be safe); otherwise the tier raises
  :class:`~lighthouse.escalation.TierUndecided` and the call gets the pipeline's fail
  mode (the policy's own answer only where it is stricter), never a partial allow.
- **Learning**: with a ``learner`` (lighthouse.patterns), each expert's answer (the
  verdict it counts as, its ``scope``, whether a person gave it) is handed to it after
  the vote, whatever the vote's outcome.
- **Reuse**: the TierAnswer is ``reusable`` (cached by the pipeline for the same call
  under the same policy generation) only when every answer of the quorum said so.
- Per-expert circuit breakers (``breaker(name)``, the pipeline's
  :meth:`~lighthouse.escalation.EscalationPipeline.breaker` keyed ``expert:<name>``):
  a failing expert is skipped at once while its breaker is open.

The TierAnswer's ``decided_by`` is ``expert:<name>+<name>...`` (the Decision's rule_id);
its reason names each expert with its verdict and reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from time import perf_counter_ns

from ..escalation import TierAnswer, TierUndecided
from ..escalation.tiers import MAX_REASON, STRICTNESS
from ..policy.input import RuleFactsSource, build_input
from .base import ExpertError, ExpertRequest, check_expert_answer
from .stats import ExpertStats

__all__ = ["ExpertTier", "COMBINE", "MAX_QUORUM"]

log = logging.getLogger("lighthouse.experts")

COMBINE = ("strict", "majority")
MAX_QUORUM = 16
# The tier stops waiting for experts this long before the escalation's deadline, so that
# it can still answer with what it has (a deny) before the pipeline's own deadline.
MARGIN = 0.02
_monotonic = time.monotonic


# ExpertError causes that say nothing about the expert's answers (lighthouse.experts.llm
# raises the last three without sending a request), and those counted as they are.
_NOT_CHARGED = ("disconnected", "declined", "rate_limited", "circuit_open", "too_large")
_OUTCOMES = ("timeout", "invalid", "overrides_deny", "disconnected", "declined", "rate_limited", "circuit_open",
             "too_large")


class _Waker:
    """What the expert tier's vote waits on: one future, set by the first of the experts
    asked to end (``waker()``: an answer, a failure; ``at`` records when) or by a change
    in the registry (``poke``); ``rearm`` gives a fresh one after each wake."""

    __slots__ = ("loop", "future", "at")

    def __init__(self, loop):
        self.loop = loop
        self.future = loop.create_future()
        self.at = 0

    def __call__(self, _fut=None):
        if not self.at:
            self.at = perf_counter_ns()
        self.poke()

    def poke(self, _fut=None):
        if not self.future.done():
            self.future.set_result(None)

    def rearm(self):
        if self.future.done():
            self.future = self.loop.create_future()
        self.at = 0


class ExpertTier:
    """Experts as a pipeline tier. ``registry``: the ExpertRegistry. ``rules``: a
    callable returning the rule policy in force (its facts go into the analysis);
    ``facts``, instead: a RuleFactsSource shared with the other tiers.
    ``history``: a SessionHistory (the session's recent decisions go with each request).
    ``combine``: "strict" or "majority". ``min_confidence``: answers below it count as
    ask. ``default_quorum``: without a policy answer. ``breaker``: a callable giving the
    circuit breaker of an expert by name (None: no per-expert breakers)."""

    name = "experts"
    kind = "expert"

    def __init__(self, registry, *, rules=None, facts=None, history=None, combine="strict", min_confidence=0.0,
                 default_quorum=1, max_quorum=MAX_QUORUM, breaker=None, stats=None, learner=None):
        if combine not in COMBINE:
            raise ValueError("combine must be strict or majority, not %r" % (combine,))
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError("min_confidence must be in [0, 1]")
        if not 1 <= default_quorum <= max_quorum:
            raise ValueError("default_quorum must be from 1 to %d" % max_quorum)
        self.registry = registry
        self.stats = stats or getattr(registry, "stats", None) or ExpertStats()
        self.history = history
        self.combine = combine
        self.min_confidence = float(min_confidence)
        self.default_quorum = int(default_quorum)
        self.max_quorum = int(max_quorum)
        self._breaker = breaker
        self._facts = facts if facts is not None else RuleFactsSource(rules) if rules is not None else None
        self.learner = learner

    def rule_facts(self):
        """The RuleFacts of the rules in force (built once per policy), or None without
        ``rules``; the pattern tier reads the programs' specs from the same one."""
        return self._rule_facts()

    def _rule_facts(self):
        return self._facts() if self._facts is not None else None

    def request(self, esc):
        """The ExpertRequest for an escalation, and whether the rules or the policy said deny."""
        policy = esc.prior[-1] if esc.prior else None
        category = policy.category if policy is not None else ""
        quorum = policy.quorum if policy is not None and policy.quorum > 0 else self.default_quorum
        # The policy tier's document for this very call when it built one (the same
        # build_input of the same call and rules), else the tier builds it.
        analysis = policy.analysis if policy is not None else None
        if analysis is None:
            analysis = build_input(esc.tool, esc.tool_input, cwd=esc.cwd or "", home=esc.home or "",
                                   agent_id=esc.agent_id or "", session_id=esc.session_id or "",
                                   escalation=esc.why, rule_id=esc.rule_id or "", reason=esc.rule_reason or "",
                                   facts=self._rule_facts())
        denied = (policy is not None and policy.verdict == "deny") or any(
            isinstance(r, dict) and r.get("verdict") == "deny" for r in analysis.get("rules", ()))
        now = _monotonic()
        left = esc.deadline - now
        deadline = esc.deadline - (MARGIN if left > 5 * MARGIN else 0.0)
        history = self.history.recent(esc.session_id) if self.history is not None and esc.session_id else ()
        req = ExpertRequest(
            escalation_id=esc.escalation_id, tool=esc.tool, tool_input=esc.tool_input, cwd=esc.cwd or "",
            home=esc.home or "", agent_id=esc.agent_id or "", session_id=esc.session_id or "", why=esc.why,
            rule_id=esc.rule_id or "", rule_reason=esc.rule_reason or "", analysis=analysis,
            policy=None if policy is None else {"verdict": policy.verdict, "reason": policy.reason,
                                                "category": policy.category, "quorum": policy.quorum,
                                                "decided_by": policy.decided_by},
            category=category, quorum=quorum, history=history, deadline=deadline,
            deadline_ms=max(0, int((deadline - now) * 1000)))
        return req, denied

    async def decide(self, esc):
        begun = perf_counter_ns()
        req, denied = self.request(esc)
        quorum = req.quorum
        stats = self.stats
        tool, category = req.tool, req.category
        registry = self.registry
        if quorum > self.max_quorum:
            stats.vote(quorum, "unreachable")
            raise TierUndecided("quorum of %d is over the limit of %d experts" % (quorum, self.max_quorum))
        if not registry.serving(tool, category):
            stats.vote(quorum, "unreachable")
            raise TierUndecided("no expert serves %s calls%s" % (tool, " of category %r" % category
                                                                   if category else ""))
        answers = {}                # expert name -> ExpertAnswer
        persons = set()             # names whose answer came from a person, as it was read
        running = {}                # future of an answer -> (expert, its breaker, when asked)
        excluded = set()            # names that answered, are asking, or failed (but disconnected)
        failures = []               # "name: what went wrong"
        strict = self.combine == "strict"
        deny_early = False
        lost = False                # a connected expert holding the call disconnected
        gone = set()                # and its object
        timed_out = False
        change = None
        spans = stats.spans
        routed = False
        woke = 0                    # when the vote last saw an answer (perf_counter_ns)
        waker = _Waker(asyncio.get_running_loop())
        try:
            while True:
                need = quorum - len(answers) - len(running)
                if need > 0:
                    for e in registry.candidates(tool, category, exclude=excluded):
                        if need == 0:
                            break
                        if e in gone:
                            continue
                        br = self._breaker(e.name) if self._breaker is not None else None
                        if br is not None and not br.acquire():
                            excluded.add(e.name)
                            stats.outcome(e.name, "circuit_open")
                            failures.append("%s: circuit open" % e.name)
                            continue
                        excluded.add(e.name)
                        if failures:
                            stats.rerouted += 1
                        launched = perf_counter_ns()
                        if not routed:
                            routed = True
                            spans["route"].observe(launched - begun)
                        running[self._start(e, req, waker)] = (e, br, launched)
                        need -= 1
                if not running and len(answers) >= quorum:
                    break
                if need > 0:
                    # Not enough free experts: wait for one (a slot freed, a reconnect)
                    # while an expert not yet tried serves the call, or one that held it
                    # disconnected (it may come back on a new stream before the deadline).
                    if not lost and not registry.serving(tool, category, exclude=excluded):
                        if not running:
                            break
                    else:
                        if change is None:
                            change = registry.changed()
                            change.add_done_callback(waker.poke)
                left = req.deadline - _monotonic()
                if left <= 0:
                    failures.append("deadline passed")
                    timed_out = True
                    break
                # One future wakes the vote, set by whatever ended first (an answer as it
                # is read off its stream, in that same turn of the loop; an in-process
                # expert's task; a change in the registry): no task per expert asked, no
                # asyncio.wait and its callbacks between an answer and the vote.
                if not waker.future.done():
                    try:
                        async with asyncio.timeout(left):
                            await waker.future
                    except TimeoutError:
                        failures.append("deadline passed")
                        timed_out = True
                        break
                woke = perf_counter_ns()
                if waker.at:
                    spans["wake"].observe(woke - waker.at)
                waker.rearm()
                if change is not None and change.done():
                    change = None
                for f in [f for f in running if f.done()]:
                    e, br, asked = running.pop(f)
                    answer, error = self._result(e, br, f, asked)
                    if error is not None:
                        failures.append("%s: %s" % (e.name, error))
                        if error.cause == "disconnected" and getattr(e, "kind", "") == "agent":
                            # A connected expert may come back under its name on a new
                            # stream (a new object); this one is gone for good.
                            excluded.discard(e.name)
                            gone.add(e)
                            lost = True
                        continue
                    answers[e.name] = answer
                    if getattr(e, "person", False):
                        persons.add(e.name)
                    else:
                        persons.discard(e.name)
                    if strict and self._effective(answer, denied, count=False) == "deny":
                        deny_early = True
                if deny_early:
                    break
        finally:
            if change is not None:
                registry.forget(change)
            if running:
                # Past the deadline whether the tier's own wait or the pipeline's timeout
                # (its cancellation may come first on a busy loop) ended it.
                if not timed_out and _monotonic() >= req.deadline:
                    timed_out = True
                reason = "answered" if deny_early else "deadline" if timed_out else "cancelled"
                tasks = []
                for f, (e, br, _) in running.items():
                    withdraw = getattr(e, "withdraw", None)
                    if withdraw is not None:
                        withdraw(req.escalation_id, reason)
                    if not f.cancel() and not f.cancelled():
                        f.exception()       # settled, not seen: retrieved, so never logged
                    if isinstance(f, asyncio.Task):
                        tasks.append(f)
                    # Past the deadline the expert timed out (its breaker is charged);
                    # otherwise it was withdrawn, at no fault of its own.
                    stats.outcome(e.name, "timeout" if reason == "deadline" else "withdrawn")
                    if br is not None:
                        br.failure() if reason == "deadline" else br.release()
                if tasks:
                    await asyncio.gather(*tasks, return_exceptions=True)
        result = self._combine(req, answers, denied, failures, deny_early)
        if self.learner is not None and answers:
            self._teach(esc, answers, denied, persons)
        if woke:
            spans["vote"].observe(perf_counter_ns() - woke)
        return result

    def _teach(self, esc, answers, denied, persons):
        """Hand each expert's answer (the verdict it counts as, its scope, whether a
        person gave it, its reason, the words it says must match exactly) to the
        learner (lighthouse.patterns); a learner's failure is logged, never the call's.
        ``persons``: the names whose answer a person gave, taken from the expert that
        answered when its answer was read (not from whoever holds the name by the end of
        the vote: a person reconnecting under an ordinary expert's name makes no person
        of its answer)."""
        votes = []
        for name, a in answers.items():
            votes.append((a.expert or name, self._effective(a, denied, count=False), a.scope,
                          name in persons, a.reason, a.exact))
        try:
            self.learner(esc, votes)
        except Exception:
            log.exception("learning from escalation %s failed", esc.escalation_id)

    def _start(self, expert, req, waker):
        """Ask one expert: the future of its answer, which wakes ``waker`` as it ends.
        A connected expert's (AgentExpert.ask) is settled as its answer is read; an
        in-process expert's judge runs as a task. An expert that cannot take the call
        gives a future already failed."""
        ask = getattr(expert, "ask", None)
        if ask is not None:
            try:
                return ask(req, waker)
            except Exception as e:
                f = asyncio.get_running_loop().create_future()
                f.set_exception(e)
                waker()
                return f
        task = asyncio.ensure_future(expert.judge(req))
        task.add_done_callback(waker)
        return task

    def _result(self, expert, breaker, fut, asked):
        """(answer, None) or (None, ExpertError) of an expert's ended future, counted
        and told to its breaker; ``asked`` (perf_counter_ns): when it was asked."""
        name = expert.name
        stats = self.stats
        ns = perf_counter_ns() - asked
        error = None
        if fut.cancelled():     # an in-process judge that cancelled itself: a failure of its own
            error = asyncio.CancelledError()
        else:
            error = fut.exception()
            if error is None:
                try:
                    answer = check_expert_answer(fut.result())
                except ExpertError as e:
                    error = e
        if isinstance(error, ExpertError):
            if breaker is not None:
                # A disconnect, a refusal, or a request an expert did not send (its own
                # rate limit, circuit or size limit) is not a bad answer; a timeout or
                # garbage is.
                breaker.release() if error.cause in _NOT_CHARGED else breaker.failure()
            stats.outcome(name, error.cause if error.cause in _OUTCOMES else "error", ns)
            return None, error
        if error is not None:
            if breaker is not None:
                breaker.failure()
            log.warning("expert %s failed: %s: %s", name, type(error).__name__, error)
            stats.outcome(name, "error", ns)
            return None, ExpertError("failed (%s)" % type(error).__name__, "error")
        if breaker is not None:
            breaker.success()
        stats.outcome(name, answer.verdict, ns)
        if not answer.expert:
            answer = replace(answer, expert=name)
        return answer, None

    def _effective(self, answer, denied, count=True):
        """The verdict an answer counts as: ask below the confidence threshold, ask for
        an allow of a call the rules or the policy denied."""
        v = answer.verdict
        if v != "ask" and answer.confidence < self.min_confidence:
            if count:
                self.stats.rejected["low_confidence"] += 1
            return "ask"
        if v == "allow" and denied:
            if count:
                self.stats.rejected["overridden"] += 1
            return "ask"
        return v

    def _combine(self, req, answers, denied, failures, deny_early):
        quorum = req.quorum
        stats = self.stats
        votes = [(name, self._effective(a, denied), a) for name, a in answers.items()]
        reached = len(votes) >= quorum
        if not reached and not deny_early:
            if not any(v == "deny" for _, v, _ in votes):
                stats.vote(quorum, "unreachable")
                got = "; ".join("%s answered %s" % (n, v) for n, v, _ in votes)
                raise TierUndecided("quorum of %d not reached (%s%s)" % (
                    quorum, "; ".join(failures[-4:]) or "no expert free", "; " + got if got else ""))
        if self.combine == "majority" and reached:
            counts = {}
            for _, v, _ in votes:
                counts[v] = counts.get(v, 0) + 1
            verdict = max(counts, key=lambda v: (counts[v], STRICTNESS[v]))
        else:
            verdict = max((v for _, v, _ in votes), key=STRICTNESS.__getitem__)
        stats.vote(quorum, "deny_early" if deny_early and len(votes) < quorum
                   else "reached" if reached else "unreachable")
        names = [a.expert or n for n, _, a in votes]
        if reached:
            head = "experts (%d of quorum %d, %s): %s" % (len(votes), quorum, self.combine, verdict)
        else:
            head = "experts (quorum of %d not reached, %d answered): %s" % (quorum, len(votes), verdict)
        parts = []
        for (n, v, a), shown in zip(votes, names):
            note = "" if v == a.verdict else " (answered %s, counted as ask)" % a.verdict
            parts.append("%s: %s%s: %s" % (shown, v, note, a.reason))
        reason = (head + "; " + "; ".join(parts))[:MAX_REASON]
        # A vote the first deny cut short is not reusable: the experts not heard from
        # did not say their answer could be.
        reusable = reached and all(a.reusable for _, _, a in votes)
        return TierAnswer(verdict, reason, ("expert:" + "+".join(names))[:256], escalate=False,
                          category=req.category, quorum=len(votes), reusable=reusable)
