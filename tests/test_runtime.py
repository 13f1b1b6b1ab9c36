"""The server process's garbage collector and event loop (lighthouse.server.runtime): the
thresholds and the freeze applied as ``lighthouse serve`` starts, the freezes that follow
the open streams, and the collector pauses and loop lag it exports."""

import asyncio
import gc
import json
import subprocess
import sys
import time

import grpc
import pytest

from lighthouse.metrics import Stats, merge_snapshots
from lighthouse.server.config import GC_THRESHOLDS, ConfigError, ServerConfig, check_config, parse_gc_thresholds
from lighthouse.server.runtime import FREEZE_MIN_STREAMS, RuntimeWatch
from lighthouse.v1 import validation_pb2 as pb, validation_pb2_grpc as pb_grpc
from serverkit import WS, ServerProcess, sample, scrape


@pytest.fixture
def gc_state():
    """Leave the test process's collector thresholds as they were (what a test froze stays
    frozen: gc.unfreeze() after such freezes crashed CPython 3.11 in a later collection)."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def _until(probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    return probe()


@pytest.mark.parametrize("args, thresholds", [((), GC_THRESHOLDS), (("--gc-thresholds", "7000,15,150"), (7000, 15, 150))])
def test_serve_sets_the_gc_thresholds_and_freezes_what_start_up_made(args, thresholds):
    """The real server process, as `lighthouse serve` starts it: the thresholds asked for
    (or the default, not CPython's 700,10,10) are in force, start-up's objects (policy,
    rules, modules) are frozen out of the collector's reach, and its loop lag is sampled."""
    with ServerProcess("--no-policy", "--no-audit", *args) as srv:
        srv.wait_ready()
        m = _until(lambda: (lambda s: s if sample(s, "lighthouse_event_loop_lag_seconds_count") >= 3 else None)(
            scrape(srv.metrics_port)))
        assert m is not None, srv.log()
        got = tuple(int(sample(m, "lighthouse_gc_threshold", -1, generation=str(g))) for g in range(3))
        assert got == thresholds != (700, 10, 10)
        assert sample(m, "lighthouse_gc_frozen_objects") > 10_000
        for g in "012":
            assert ("lighthouse_gc_pause_seconds_count", (("generation", g),)) in m


@pytest.mark.parametrize("follow", [True, False])
def test_serve_freezes_again_once_many_streams_are_open(follow):
    """400 streams opened on a real server and answered once each: the server freezes
    their objects out of the collector's reach (the frozen count grows), unless started
    with --no-gc-follow-streams (no freeze after start-up's: the count only falls, as
    frozen objects are freed)."""
    streams = 400
    args = ("--no-policy", "--no-audit") + (() if follow else ("--no-gc-follow-streams",))
    with ServerProcess(*args) as srv:
        srv.wait_ready()
        # run() freezes just after the "serving" line: wait for it.
        frozen0 = _until(lambda: sample(scrape(srv.metrics_port), "lighthouse_gc_frozen_objects"))
        assert frozen0 > 0

        async def load():
            async with grpc.aio.insecure_channel(srv.address) as ch:
                stub = pb_grpc.ValidatorStub(ch)
                calls = [stub.ValidateStream(timeout=120) for _ in range(streams)]
                for i, call in enumerate(calls):
                    await call.write(pb.ToolCall(request_id="r%d" % i, agent_id="agent-%d" % i, tool="Read",
                                                 input_json=json.dumps({"file_path": WS + "/README.md"}), cwd=WS))
                for call in calls:
                    assert (await call.read()).verdict == pb.VERDICT_ALLOW
                m = await asyncio.to_thread(_until, lambda: (lambda s: s if sample(
                    s, "lighthouse_streams_open") >= streams and (not follow or sample(
                        s, "lighthouse_gc_frozen_objects") > frozen0) else None)(scrape(srv.metrics_port)))
                if not follow:
                    await asyncio.sleep(1.0)         # ten of the checks follow_streams would make
                    m = await asyncio.to_thread(scrape, srv.metrics_port)
                for call in calls:
                    await call.done_writing()
                return m

        m = asyncio.run(asyncio.wait_for(load(), 120))
        assert m is not None and sample(m, "lighthouse_streams_open") >= streams, srv.log()
        frozen = sample(m, "lighthouse_gc_frozen_objects")
        if follow:
            assert frozen > frozen0 + streams      # each stream's handler, call and buffers
        else:                                      # frozen objects freed since: fewer, never more
            assert frozen <= frozen0


@pytest.mark.parametrize("paced", [True, False])
def test_serve_collects_the_young_generations_on_a_timer(paced):
    """--gc-paced (the default): an idle server still collects its youngest generation
    about ten times a second and the middle one about twice, so that no collection
    finds more than a fraction of a second's objects; with --no-gc-paced an idle server
    allocates too little to reach the thresholds, and collects (almost) never."""
    args = ("--no-policy", "--no-audit") + (() if paced else ("--no-gc-paced",))
    with ServerProcess(*args) as srv:
        srv.wait_ready()
        _until(lambda: sample(scrape(srv.metrics_port), "lighthouse_gc_frozen_objects"))

        def counts():
            m = scrape(srv.metrics_port)
            return [sample(m, "lighthouse_gc_pause_seconds_count", generation=g) for g in "01"]

        (y0, m0), t0 = counts(), time.monotonic()
        time.sleep(2.0)
        (y1, m1), t1 = counts(), time.monotonic()
    young, middle = y1 - y0, m1 - m0
    if paced:
        # 2 s: about 16 young and 4 middle ones; a loaded machine fires the timer late.
        assert young >= 4 and middle >= 1, (young, middle, t1 - t0)
        assert young + middle <= 10 * (t1 - t0) + 10
    else:
        assert young + middle <= 3, (young, middle)


@pytest.mark.parametrize("text, message", [
    ("0,10,10", "each number must be 1-10000000"),
    ("5000,20", "three numbers"),
    ("5000,x,10", "three integers"),
])
def test_serve_refuses_bad_gc_thresholds_naming_the_option(text, message):
    proc = subprocess.run([sys.executable, "-m", "lighthouse.cli", "serve", "--gc-thresholds", text],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "--gc-thresholds" in proc.stderr and message in proc.stderr, proc.stderr
    with pytest.raises(ValueError, match=message):
        parse_gc_thresholds(text)


def test_check_config_refuses_bad_gc_thresholds():
    check_config(ServerConfig(gc_thresholds=(5000, 20, 100)))
    for bad in ((0, 10, 10), (5000, 20), ("a", 1, 1)):
        with pytest.raises(ConfigError, match="gc-thresholds"):
            check_config(ServerConfig(gc_thresholds=bad))


def test_collections_are_timed_by_generation_until_uninstalled():
    stats = Stats()
    watch = RuntimeWatch(stats)
    watch.install()
    watch.install()                      # once only
    try:
        gc.collect(0)
        gc.collect(2)
        gc.collect(2)
    finally:
        watch.uninstall()
    counts = {g: sum(h.counts) for g, h in stats.gc_pause.items()}
    assert counts["0"] >= 1 and counts["2"] >= 2
    assert stats.gc_pause["2"].sum_ns > 0
    assert watch._hook not in gc.callbacks
    gc.collect(2)
    assert sum(stats.gc_pause["2"].counts) == counts["2"]
    snap = stats.snapshot()
    assert snap["gc"]["thresholds"] == list(gc.get_threshold())
    merged = merge_snapshots([snap, snap])
    assert sum(merged["gc_pause"]["2"]["counts"]) == 2 * counts["2"]
    assert merged["gc"]["frozen"] == 2 * snap["gc"]["frozen"]


def test_freezes_follow_the_open_streams_to_new_highs_only(gc_state):
    """A freeze each time the open streams reach a quarter above the last freeze, none
    while they hold steady, fall, or come back below that: the number of freezes (and
    what they hold back) is bounded by the peak, not by time or by streams reopened."""
    stats = Stats()
    watch = RuntimeWatch(stats)
    stats.streams_open = FREEZE_MIN_STREAMS - 1
    assert watch.follow_streams() is False               # too few to bother
    stats.streams_open = 1000
    held = [[i] for i in range(2000)]                    # this test's own (tracked) objects, alive
    before = gc.get_freeze_count()
    assert watch.follow_streams() is True
    assert gc.get_freeze_count() >= before + len(held) and watch.frozen_streams == 1000
    for n in (1000, 1100, 1240, 900, 10, 1240):          # steady, fallen, or back below a new high
        stats.streams_open = n
        assert watch.follow_streams() is False
    stats.streams_open = 1250
    assert watch.follow_streams() is True and watch.frozen_streams == 1250
    for n in range(1250, 10_001, 50):                    # growing to 10,000 a little at a time
        stats.streams_open = n
        watch.follow_streams()
    assert watch.freezes <= 12 and watch.frozen_streams > 7_500
    del held
