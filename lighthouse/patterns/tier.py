"""The pattern tier: a stage of the escalation pipeline (kind "pattern") between the
policy tier and the experts.

It answers a call from an active learned pattern (lighthouse.patterns.book) of the call's
shape, in the call's context (a miss, or the ask of one rule), so that the call does not
go to the experts. Where it sits decides what it may answer:

- after the rules: a rule's deny is final on the fast path and never escalates, so no
  pattern sees it;
- after the policy tier: a policy answer that does not hand the call on (allow, or deny)
  ends the escalation before this tier; the tier only sees calls the policy routes to
  experts (``escalate``) or, without a policy tier, the misses and escalating asks;
- it never answers a call whose earlier tiers said deny (a policy deny handed on), a
  call without a shape, or with a verdict other than the pattern's (allow or ask);
- nor a call for which the policy asks a quorum larger than the number of agreeing
  answers that taught the pattern.

Its answers are reusable: put in the slow-tier cache like the policy's and the experts',
so that a repeated call is answered inline as a tier-0 (CACHE) hit. So that retiring a
pattern still takes effect at once, :meth:`PatternTier.attach` makes the book drop that
pattern's answers (and only those) from the pipeline's slow-tier cache whenever an active
pattern stops answering, and :meth:`PatternTier.keep_fresh` checks the file every
``refresh_interval`` for changes made by another process (``lighthouse patterns
retire``, another worker), which lookups alone would not notice while the cache answers.

The lookup (:meth:`PatternTier.lookup`) first asks the book's PatternIndex (compiled,
``lighthouse._fast``): the answers of the last :data:`MEMO_SIZE` calls by their key (a
Bash call's command, cwd and home; any other call's decision-cache key), with the rule
generation and context they were found under. A call
the tier answered before (the same call from another agent or session, or after the
slow-tier cache dropped it; the rules answer a repeated call from their decision cache
and parse nothing) costs its key and one dictionary lookup. Every change of the active
patterns (learned, retired, approved, reloaded) changes the index's epoch, so that a
remembered answer is looked up again before it is given: a retired pattern never answers
from memory. A call no active pattern can answer (none of its tool in its context, or, for
a Bash call with the engine's parse, none led by the program of its first command) is not
shaped: the index answers None at once (``skipped``). Otherwise a Bash call is shaped from
the commands the rule engine parsed for it when the escalation carries them
(``Escalation.parsed``).
:meth:`PatternTier.learner` is the hook the expert tier
calls with each expert's answer: the shape and the SQLite write run on one background
thread (``background``), so that a write waiting for the file's lock never holds up the
event loop; at most ``max_pending`` answers wait for it, and past that an answer is not
learned (counted in ``dropped``: fewer patterns, never a wrong one).

An expert's exact words (ExpertAnswer.exact) teach a pattern of the shape with those
words kept literal, checked at lookup against the call's shape with them kept literal
(lighthouse.patterns.book). An answer naming a word that does not change the call's shape
(a word that is not one of its classed arguments) teaches no pattern of its shape: it is
recorded as an answer for this call only, so that an expert who meant "only for
``prod-eu``" but wrote ``prod`` does not teach a pattern for every word there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from .._fast._shape_shared import MEMO_SIZE, MEMO_TEXT
from ..escalation import TierAnswer
from .book import LEARNED_VERDICTS, context_of
from .shapes import call_shape, shape_text, shapes_workspaces

__all__ = ["PatternTier", "MEMO_SIZE", "MEMO_TEXT", "HITS_FLUSH_INTERVAL"]

#: Seconds between two writes of the patterns' hit counts to the file.
HITS_FLUSH_INTERVAL = 1.0

log = logging.getLogger("lighthouse.patterns")


class PatternTier:
    """Learned patterns as a pipeline tier. ``book``: the PatternBook. ``specs``: what
    the shapes know of the programs of the rules in force (which options take a value):
    a ProgramTable (``RuleFacts.programs``), a callable returning a program's
    ProgramSpec, or None. ``programs``: a callable returning the ProgramTable of the
    rules in force (``RuleFactsSource.programs``, asked once per rule generation of the
    calls shaped by the index, once per call otherwise), which the server gives: a
    command is then shaped with one lookup of its program in C, where a ``specs``
    callable costs a Python call per command."""

    name = "patterns"
    kind = "pattern"

    def __init__(self, book, specs=None, *, programs=None, background=True, max_pending=256):
        self.book = book
        self._specs = specs
        self._programs = programs
        self.max_pending = int(max_pending)
        self.pending = 0                # answers waiting for the background thread
        self.dropped = 0                # answers not learned: too many waiting
        self._count = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lighthouse-patterns") if background else None
        self._shape = self._shape_text
        self._match = self._lookup
        # The index shapes the common calls itself (a Bash call with the engine's parse,
        # in a workspace seen before) as shapes.shape_text does, without its Python calls.
        book.index.shaping(shapes_workspaces(), programs, specs)

    @property
    def specs(self):
        """The program knowledge in force: the ProgramTable from ``programs``, else ``specs``."""
        return self._programs() if self._programs is not None else self._specs

    def shape(self, esc, literals=None):
        return call_shape(esc.tool, esc.tool_input, esc.cwd, esc.home, self.specs, esc.parsed, literals)

    def lookup(self, esc):
        """The active Pattern of the escalated call ``esc``'s shape in its context, or
        None: what this tier adds to a call that reaches it. A call answered before
        under the same rules, context and active patterns is answered from the book's
        PatternIndex (its key and one dictionary lookup, no shape); otherwise the shape
        is made (from the commands the rule engine parsed when ``esc.parsed`` has them)
        and looked up by the index in the book's tables (by the book, with the call
        shaped again with a pattern's literals, for the shapes with such patterns), and
        the answer is remembered."""
        return self.book.index.find(esc, self._shape, self._match)

    def forget(self):
        """Forget the answers remembered by call (the next lookup of each call shapes it)."""
        self.book.index.clear()

    def _shape_text(self, esc):
        return shape_text(esc.tool, esc.tool_input, esc.cwd, esc.home, self.specs, esc.parsed)

    def _lookup(self, esc, context, text):
        """The book's lookup of the shape ``text`` of ``esc`` in ``context`` (None: the
        escalation's), with the patterns that keep literals."""
        book = self.book
        if context is None:
            context = context_of(esc.why, esc.rule_id)
        if book._literal and esc.tool == "Bash":
            return book.match_text(context, "Bash", text, self._reshaper(esc))
        return book.match_text(context, esc.tool, text)

    def _reshaper(self, esc):
        """The call's shape text with given words kept literal (a function of the words);
        made apart from :meth:`_lookup`, whose variables would otherwise become closure
        cells on every call."""
        def reshape(words):
            return shape_text("Bash", esc.tool_input, esc.cwd, esc.home, self.specs, esc.parsed, words)
        return reshape

    async def decide(self, esc):
        if any(a.verdict == "deny" for a in esc.prior):
            return None
        p = self.lookup(esc)
        if p is None or p.verdict not in LEARNED_VERDICTS:
            return None
        quorum = max((a.quorum for a in esc.prior), default=0)
        if p.agreeing < quorum:
            return None                 # the policy wants more experts than taught the pattern
        self.book.note_hit(p)
        teachers = p.taught_by.replace(",", ", ") or "a reviewer"
        reason = "pattern #%d `%s`: %s, learned from %d answer%s of %s (first: %s)" % (
            p.id, p.text(), p.verdict, p.agreeing, "" if p.agreeing == 1 else "s", teachers, p.first_reason)
        return TierAnswer(p.verdict, reason, "pattern:%d" % p.id)

    def attach(self, forget, loop):
        """Have ``forget`` (the pipeline's slow-tier cache's ``forget``) run on ``loop``
        with the rule ids (``pattern:ID``) of the active patterns that stop answering,
        whenever some do: the cached answers of those patterns are dropped, every other
        stays. The cache's epoch makes it safe: an answer of such a pattern whose
        evaluation began before is not kept."""
        def retired(ids):
            loop.call_soon_threadsafe(forget, ["pattern:%d" % i for i in sorted(ids)])
        self.book.on_retire = retired

    async def keep_fresh(self, flush_interval=HITS_FLUSH_INTERVAL):
        """Check the patterns file for another process's changes every
        ``refresh_interval`` seconds, and write the patterns' hits counted meanwhile
        (PatternBook.flush_hits) every ``flush_interval`` seconds, both on a thread (a
        task of the server's, cancelled at shutdown; the book writes the rest as it
        closes)."""
        book = self.book
        refresh = book.refresh_interval
        step = min(max(refresh, 0.05), flush_interval) if refresh >= 0 else flush_interval
        loop = asyncio.get_running_loop()
        flushed = loop.time()
        while True:
            await asyncio.sleep(step)
            if refresh >= 0:
                await asyncio.to_thread(book.refresh)
            if loop.time() - flushed >= flush_interval:
                flushed = loop.time()
                try:
                    await asyncio.to_thread(book.flush_hits)
                except Exception:
                    log.exception("writing the patterns' hits failed (kept for the next try)")

    def learner(self, esc, votes):
        """Record the experts' answers about ``esc``: ``votes`` is a list of (expert name,
        verdict counted, scope, is a person, reason[, exact words]). In the background
        unless the tier was made with ``background=False``."""
        if self._pool is None:
            self._learn(esc, votes)
            return
        with self._count:
            if self.pending >= self.max_pending:
                self.dropped += 1
                self.book.dropped += 1
                return
            self.pending += 1
        self._pool.submit(self._learn, esc, votes).add_done_callback(self._learned)

    def _learned(self, fut):
        with self._count:
            self.pending -= 1
        if not fut.cancelled() and fut.exception() is not None:
            log.error("learning from an expert answer failed", exc_info=fut.exception())

    def close(self):
        """Finish the answers waiting to be learned (at shutdown)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _learn(self, esc, votes):
        shape = self.shape(esc)
        if shape is None:
            return
        context = context_of(esc.why, esc.rule_id)
        call = {"tool": esc.tool, "input": esc.tool_input, "cwd": esc.cwd, "home": esc.home}
        reshape = self._reshaper(esc) if esc.tool == "Bash" else None
        for vote in votes:
            name, verdict, scope, person, reason = vote[:5]
            words = frozenset(vote[5]) if len(vote) > 5 else frozenset()
            literal = self._literal_shape(esc, shape, words) if words and scope == "shape" else None
            if literal is not None:
                self.book.learn(context, literal, dict(call, exact=sorted(words)), name, verdict, scope, reason,
                                person=person, literals=words, generic=shape.text)
                continue
            if words and scope == "shape":
                # A word that changes nothing: the answer holds for this call only.
                scope = "call"
                reason = ("%s [exact words %s not all arguments of the call: learned for this call only]"
                          % (reason, ", ".join(sorted(words))))[:1024]
            self.book.learn(context, shape, call, name, verdict, scope, reason, person=person, reshape=reshape)

    def _literal_shape(self, esc, shape, words):
        """The call's Shape with ``words`` kept literal, or None when the call is not a
        Bash call or a word does not change its shape."""
        if esc.tool != "Bash":
            return None
        literal = self.shape(esc, words)
        if literal is None or literal.text == shape.text:
            return None
        for w in words:
            if len(words) > 1 and shape_text("Bash", esc.tool_input, esc.cwd, esc.home, self.specs, esc.parsed,
                                             words - {w}) == literal.text:
                return None
        return literal
