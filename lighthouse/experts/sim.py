"""Simulated experts, for tests and benchmarks: scripted verdicts after a latency drawn
from a distribution.

A :class:`SimulatedExpert` is both a judge function for the SDK
(``ExpertAgent(SimulatedExpert(...), server)``: a connected expert) and an in-process
:class:`~lighthouse.experts.base.Expert` (``LighthouseServer(experts=[...])``).

Latency specs: ``"0.5"`` or ``"fixed:0.5"`` (seconds), ``"uniform:0.2,2"``,
``"lognormal:MEDIAN,SIGMA"``. Script: a verdict word for every call, a dict mapping a
substring of the call's summary (the Bash command, the file path) to a verdict (first
match wins, ``"*"`` the default), or a callable ``request -> verdict | ExpertAnswer``.
Each answer's reason says how long the expert slept (``slept 812.3 ms``), which
bench/experts.py reads to tell the expert's own time from the server's overhead.

    python -m lighthouse.experts.sim --server 127.0.0.1:50051 --id sim-1 --verdict ask \\
        --latency uniform:0.2,2
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import sys
from time import perf_counter

from .base import ExpertAnswer
from .history import summarize

__all__ = ["SimulatedExpert", "Latency", "SLEPT_RE"]

SLEPT_RE = re.compile(r"slept ([0-9.]+) ms")


class Latency:
    """A latency distribution parsed from a spec (see the module docstring)."""

    def __init__(self, spec="0", rng=None):
        self.spec = str(spec)
        self.rng = rng or random.Random()
        kind, _, args = self.spec.partition(":") if ":" in self.spec else ("fixed", "", self.spec)
        try:
            values = [float(x) for x in args.split(",")]
        except ValueError:
            raise ValueError("latency %r: numbers expected" % spec) from None
        if kind == "fixed" and len(values) == 1:
            self._draw = lambda: values[0]
        elif kind == "uniform" and len(values) == 2 and values[0] <= values[1]:
            self._draw = lambda: self.rng.uniform(values[0], values[1])
        elif kind == "lognormal" and len(values) == 2 and values[0] > 0:
            mu = math.log(values[0])
            self._draw = lambda: self.rng.lognormvariate(mu, values[1])
        else:
            raise ValueError("latency %r: use SECONDS, fixed:S, uniform:LOW,HIGH or lognormal:MEDIAN,SIGMA" % spec)
        if any(v < 0 for v in values):
            raise ValueError("latency %r: negative" % spec)

    def draw(self):
        return max(0.0, self._draw())


class SimulatedExpert:
    """A scripted expert. ``name``: its id; ``verdict``: the script (see the module
    docstring); ``latency``: a spec or a Latency; ``confidence``, ``reusable``, ``scope``
    ("call" or "shape"), ``exact`` (words kept literal in a learned shape): of every
    answer; ``person``: it stands for a person; ``tools``,
    ``categories``, ``capacity``: what it serves as an in-process
    expert. ``seen`` keeps the last requests it was asked (bounded)."""

    def __init__(self, name="sim", verdict="ask", latency="0", *, confidence=1.0, reusable=False, tools=(),
                 categories=(), capacity=64, seed=None, keep=256, scope="call", person=False, exact=()):
        self.name = name
        self.script = verdict
        self.latency = latency if isinstance(latency, Latency) else Latency(latency, random.Random(seed))
        self.confidence = confidence
        self.reusable = reusable
        self.scope = scope
        self.exact = tuple(exact)
        self.person = person
        self.tools = tuple(tools)
        self.categories = frozenset(categories)
        self.capacity = capacity
        self.load = 0
        self.calls = 0
        self.seen = []
        self._keep = keep

    def serves(self, tool, category):
        import fnmatch
        if self.tools and not any(fnmatch.fnmatchcase(tool, g) for g in self.tools):
            return False
        return not self.categories or "*" in self.categories or category in self.categories

    def _verdict(self, request):
        s = self.script
        if callable(s):
            return s(request)
        if isinstance(s, dict):
            summary = summarize(request.tool, request.tool_input)
            for needle, v in s.items():
                if needle != "*" and needle in summary:
                    return v
            return s.get("*", "ask")
        return s

    async def __call__(self, request):
        self.calls += 1
        self.seen.append(request)
        if len(self.seen) > self._keep:
            del self.seen[0]
        delay = self.latency.draw()
        t0 = perf_counter()
        await asyncio.sleep(delay)
        slept = (perf_counter() - t0) * 1000
        v = self._verdict(request)
        if isinstance(v, ExpertAnswer):
            return v
        return ExpertAnswer(v, "%s says %s (slept %.1f ms)" % (self.name, v, slept), self.confidence,
                            self.reusable, self.name, self.scope, self.exact)

    async def judge(self, request):
        """The in-process Expert interface."""
        self.load += 1
        try:
            return await self(request)
        finally:
            self.load -= 1


def main(argv=None):
    from ..server.app import run_loop
    from ..server.runtime import apply_gc_policy
    from .agent import ExpertAgent

    p = argparse.ArgumentParser(prog="python -m lighthouse.experts.sim", description=__doc__.splitlines()[0])
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--id", default="sim", help="expert id (several: sim-1, sim-2, ... with --count)")
    p.add_argument("--count", type=int, default=1, help="experts to connect")
    p.add_argument("--verdict", default="ask", choices=("allow", "ask", "deny"))
    p.add_argument("--latency", default="uniform:0.2,2")
    p.add_argument("--confidence", type=float, default=1.0)
    p.add_argument("--reusable", action="store_true")
    p.add_argument("--scope", default="call", choices=("call", "shape"),
                   help="what each answer holds for: this call, or every call of its shape (patterns)")
    p.add_argument("--max-concurrent", type=int, default=64)
    p.add_argument("--tools", action="append", default=[])
    p.add_argument("--categories", action="append", default=[])
    p.add_argument("--token", default=None)
    args = p.parse_args(argv)

    async def run():
        agents = []
        for i in range(args.count):
            name = args.id if args.count == 1 else "%s-%d" % (args.id, i + 1)
            sim = SimulatedExpert(name, args.verdict, args.latency, confidence=args.confidence,
                                  reusable=args.reusable, scope=args.scope)
            agents.append(ExpertAgent(sim, args.server, expert_id=name, tools=args.tools,
                                      categories=args.categories, max_concurrent=args.max_concurrent,
                                      token=args.token))
        # From here on this process only answers escalations: the collector's pauses
        # would be the experts' answers' (a full collection of the start-up's objects,
        # run during the load, took 24-99 ms in bench/experts.py's runs). Before the
        # agents connect, so that no collection here delays an escalation.
        apply_gc_policy()
        await asyncio.gather(*(a.run() for a in agents))

    try:
        run_loop(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
