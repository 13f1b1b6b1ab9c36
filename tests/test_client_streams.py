"""The clients' streams when gRPC's server refuses a stream as it opens, against real
servers on loopback ports.

gRPC core keeps the calls that arrive while the server's event loop is busy in a backlog
until the application takes them up, one per turn of the loop; past the backlog's bound
(``--max-pending-calls``; gRPC's own default is 1,000 to 3,000) it refuses each new one
with CANCELLED before any of its messages is read. Under a 10,000-agent load that lost
the first call of thousands of streams (bench/README.md, "Lost calls on 10,000
streams"). Here the server's backlog is one call and its event loop is held busy while
streams open, so that core refuses the extra streams the same way. The clients reopen a
stream refused before it answered anything and send its calls again, each a bounded
number of times; a call that is never answered ends as an error, never as an allow.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent import futures

import grpc
import pytest

from lighthouse.client import AsyncClient, CallError, Client
from lighthouse.server.app import ConfigError, LighthouseServer, ServerConfig, check_config
from lighthouse.v1 import validation_pb2 as pb

from serverkit import WS, ServerThread, quiet_grpc_logs, run_async

pytestmark = pytest.mark.timeout(120)

STREAMS = 8         # streams opened while the loop is held: 1 taken up, 2 in the backlog, the rest refused
HOLD = 1.0          # seconds the server's event loop is held busy


@pytest.fixture(scope="module")
def server():
    quiet_grpc_logs()
    config = ServerConfig(port=0, metrics_port=0, local_socket=False, rate_limit=0, max_pending_calls=1)
    with ServerThread(config) as s:
        yield s


def test_the_backlog_bound_is_checked_and_given_to_grpc():
    for bad in (0, -5):
        with pytest.raises(ConfigError, match="--max-pending-calls"):
            check_config(ServerConfig(max_pending_calls=bad))
    options = dict(LighthouseServer(ServerConfig(port=0, metrics_port=0, local_socket=False,
                                                 max_pending_calls=123))._grpc_options())
    assert options["grpc.server.max_pending_requests"] == 123
    assert options["grpc.server.max_pending_requests_hard_limit"] == 123
    assert ServerConfig().max_pending_calls == 20000


def hold_loop(server, seconds=HOLD):
    """Keep the server's event loop busy for ``seconds`` (as a burst of escalations or a
    starved CPU does); returns once the hold has begun."""
    started = threading.Event()

    def hold():
        started.set()
        time.sleep(seconds)

    server.loop.call_soon_threadsafe(hold)
    assert started.wait(10), "the server's event loop did not run the hold"


def outcomes(futs, timeout=30):
    """Each future's Result verdict, or the status code of its CallError."""
    out = []
    for f in futs:
        try:
            out.append(f.result(timeout).verdict)
        except CallError as e:
            out.append(e.code)
    return out


def test_without_retries_a_refused_stream_loses_its_call_as_an_error(server):
    """The refusal itself, as the load showed it: with no retries the refused streams'
    calls fail with CANCELLED (never an allow); the streams taken up are answered."""
    with Client(server.address, timeout=10, retries=0) as c:
        hold_loop(server)
        streams = [c.stream() for _ in range(STREAMS)]
        futs = [s.submit("Bash", {"command": "echo %d" % i}, cwd=WS) for i, s in enumerate(streams)]
        got = outcomes(futs)
        for s in streams:
            s.close()
    assert set(got) <= {"allow", grpc.StatusCode.CANCELLED}, got
    assert got.count(grpc.StatusCode.CANCELLED) >= 1, got
    assert got.count("allow") >= 1, got
    assert all(s.resent == 0 and s.reopened == 0 for s in streams)


def test_a_stream_refused_as_it_opens_is_reopened_and_its_call_answered(server):
    with Client(server.address, timeout=10, retries=6, backoff=0.2) as c:
        hold_loop(server)
        streams = [c.stream() for _ in range(STREAMS)]
        futs = [s.submit("Bash", {"command": "echo %d" % i}, cwd=WS) for i, s in enumerate(streams)]
        got = outcomes(futs)
        # The stream goes on after its reopening: a later call on it is answered too.
        later = [s.submit("Bash", {"command": "rm -rf ~"}, cwd=WS) for s in streams]
        got_later = outcomes(later)
        for s in streams:
            s.close()
    assert got == ["allow"] * STREAMS
    assert got_later == ["deny"] * STREAMS
    # The refusal happened (else this test would test nothing) and was made good.
    assert sum(s.reopened for s in streams) >= 1
    assert sum(s.resent for s in streams) >= 1


def test_the_async_stream_reopens_a_refused_stream_too(server):
    async def main():
        async with AsyncClient(server.address, timeout=10, retries=6, backoff=0.2) as c:
            streams = [c.stream() for _ in range(STREAMS)]
            await asyncio.get_running_loop().run_in_executor(None, hold_loop, server)
            for s in streams:
                await s.__aenter__()
            futs = [s.submit("Bash", {"command": "echo %d" % i}, cwd=WS) for i, s in enumerate(streams)]
            got = [(await asyncio.wait_for(f, 30)).verdict for f in futs]
            for s in streams:
                await s.close()
            return got, sum(s.reopened for s in streams), sum(s.resent for s in streams)

    got, reopened, resent = run_async(main(), timeout=60)
    assert got == ["allow"] * STREAMS
    assert reopened >= 1 and resent >= 1


# ------------------------------------------------------------------ bounded resending


class _ReadThenEnd:
    """A ValidateStream that reads each stream's first call and ends the stream with
    ``code`` without answering it: a server that received a call and never answered.
    ``chatter``: it first answers another request_id, so that the stream is not silent
    (the client's count of failed reopenings starts again at each answer)."""

    def __init__(self, code, chatter=False):
        self.code = code
        self.chatter = chatter
        self.reads = 0
        self.lock = threading.Lock()

    def stream(self, requests, context):
        next(requests)
        with self.lock:
            self.reads += 1
        if self.chatter:
            yield pb.Decision(request_id="another-call", verdict=pb.VERDICT_ALLOW)
        context.abort(self.code, "ended without an answer")


def _serve(servicer):
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("lighthouse.v1.Validator", {
        "ValidateStream": grpc.stream_stream_rpc_method_handler(
            servicer.stream, request_deserializer=pb.ToolCall.FromString,
            response_serializer=pb.Decision.SerializeToString)}),))
    port = srv.add_insecure_port("127.0.0.1:0")
    srv.start()
    return srv, "127.0.0.1:%d" % port


@pytest.fixture(params=[grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE], ids=lambda c: c.name)
def unanswering(request):
    servicer = _ReadThenEnd(request.param)
    srv, address = _serve(servicer)
    try:
        yield address, servicer
    finally:
        srv.stop(None)


def test_a_call_received_but_never_answered_is_resent_a_bounded_number_of_times(unanswering):
    address, servicer = unanswering
    retries = 3
    with Client(address, timeout=10, retries=retries, backoff=0.02) as c:
        with c.stream() as s:
            fut = s.submit("Bash", {"command": "echo hi"}, cwd=WS)
            with pytest.raises(CallError) as e:
                fut.result(30)
    assert e.value.code == servicer.code
    assert servicer.reads == retries + 1          # the first send and `retries` more, then an error
    assert s.resent == retries


def test_the_async_stream_bounds_its_resending_too(unanswering):
    address, servicer = unanswering

    async def main():
        async with AsyncClient(address, timeout=10, retries=2, backoff=0.02) as c:
            async with c.stream() as s:
                with pytest.raises(CallError) as e:
                    await asyncio.wait_for(s.submit("Bash", {"command": "echo hi"}, cwd=WS), 30)
            return e.value.code, s.resent

    code, resent = run_async(main(), timeout=60)
    assert code == servicer.code
    assert servicer.reads == 3 and resent == 2


def test_a_call_is_sent_a_bounded_number_of_times_even_on_a_stream_that_answers_others():
    """The stream answers something before each break (UNAVAILABLE), so the reopenings
    never run out: the call itself is still sent at most 1 + ``retries`` times."""
    servicer = _ReadThenEnd(grpc.StatusCode.UNAVAILABLE, chatter=True)
    srv, address = _serve(servicer)
    try:
        with Client(address, timeout=10, retries=2, backoff=0.02) as c:
            with c.stream() as s:
                fut = s.submit("Bash", {"command": "echo hi"}, cwd=WS)
                with pytest.raises(CallError) as e:
                    fut.result(30)
    finally:
        srv.stop(None)
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert "sent 3 times, never answered" in e.value.message
    assert servicer.reads == 3 and s.resent == 2
