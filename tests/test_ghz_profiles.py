"""The ghz profiles in bench/ghz/ (ghz is not installed here, so they are checked, not
run): each parses, names a method of the service, and its call data, rendered as ghz
renders it, decodes into ToolCalls the server decides. Each ghz worker must be its own
agent: under one agent id the per-agent rate limit (2000 calls/s) would answer much of a
run with RESOURCE_EXHAUSTED."""

from __future__ import annotations

import itertools
import json
import re
import uuid

import pytest
from google.protobuf import json_format

from lighthouse import Validator
from lighthouse.server.core import CallRejected, Decider
from lighthouse.server.auth import RateLimiter
from lighthouse.v1 import validation_pb2 as pb

from conftest import ROOT

PROFILES = sorted((ROOT / "bench" / "ghz").glob("*.json"))

# The call template data ghz fills in (its CallData: www/docs/calldata.md), for the
# actions the profiles use; any other action fails the test, so that a new one is
# checked here first. WorkerID is "g<worker>c<connection>"; with --stream-dynamic-messages
# every message of a stream gets a new UUID, the rest stays the stream's.
ACTION = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")
KNOWN = {"WorkerID", "RequestNumber", "UUID"}


def render(value, fields):
    """``value`` (from the profile's data) with ghz's template actions filled in from
    ``fields`` (a dict; a callable value is called for each action)."""
    if isinstance(value, dict):
        return {k: render(v, fields) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    unknown = set(ACTION.findall(value)) - KNOWN
    assert not unknown, "template actions this test does not render: %s" % unknown
    assert "{{" not in ACTION.sub("", value), "a template action other than a field: %r" % value
    return ACTION.sub(lambda m: str(fields[m.group(1)]() if callable(fields[m.group(1)]) else fields[m.group(1)]),
                      value)


def ghz_messages(profile, worker_id, request_number, streaming):
    """The messages of one call (a unary call, or a stream of up to 6 messages cycling
    through the data) as ghz renders them for this worker and request number."""
    data = profile["data"] if isinstance(profile["data"], list) else [profile["data"]]
    if not streaming:
        raws = [data[(request_number - 1) % len(data)]]
    else:
        raws = list(itertools.islice(itertools.cycle(data), min(profile.get("stream-call-count") or len(data), 6)))
    stream_uuid = str(uuid.uuid4())
    dynamic = streaming and profile.get("stream-dynamic-messages", False)
    fields = {"WorkerID": worker_id, "RequestNumber": request_number,
              "UUID": (lambda: str(uuid.uuid4())) if dynamic or not streaming else stream_uuid}
    return [(raw, render(raw, fields)) for raw in raws]


@pytest.fixture(scope="module")
def decider():
    # The server's decision path, with the default rate limit: a ToolCall it refuses
    # would be refused in a ghz run too.
    return Decider(Validator(raw=True), rate_limiter=RateLimiter(2000.0, 4000.0))


def test_there_are_profiles():
    assert {p.name for p in PROFILES} >= {"unary.json", "unary-mixed.json", "stream.json"}


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_profile_decodes_into_valid_tool_calls_one_agent_per_worker(path, decider):
    profile = json.loads(path.read_text())
    assert profile["host"].startswith("127.0.0.1:") and profile["insecure"] is True
    package_service, method = profile["call"].rsplit(".", 1)
    service = pb.DESCRIPTOR.services_by_name[package_service.rsplit(".", 1)[1]]
    assert package_service == service.full_name and method in service.methods_by_name
    streaming = service.methods_by_name[method].client_streaming

    calls = []
    workers = ["g%dc%d" % (w, w % profile.get("connections", 1)) for w in range(3)]
    for worker, request_number in itertools.product(workers, range(1, 4)):
        ids = []
        for raw, rendered in ghz_messages(profile, worker, request_number, streaming):
            call = pb.ToolCall()
            json_format.ParseDict(rendered, call)
            try:
                decider.decide(call)
            except CallRejected as e:
                pytest.fail("%s: %r is refused: %s (%s)" % (path.name, raw, e.message, e.field))
            assert isinstance(json.loads(call.input_json), dict) and call.cwd.startswith("/")
            calls.append((worker, call))
            ids.append(call.request_id)
        # A request_id may not repeat while its call is in flight on the stream.
        assert len(set(ids)) == len(ids), "%s: request ids repeat within a stream: %s" % (path.name, ids)
    # Each worker is an agent of its own.
    agents = {w: {c.agent_id for ww, c in calls if ww == w} for w in workers}
    assert all(len(a) == 1 for a in agents.values()) and len(set().union(*agents.values())) == len(workers), agents
