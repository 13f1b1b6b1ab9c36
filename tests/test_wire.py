"""ToolCall decoding (lighthouse._fast._wire_*): both implementations accept and refuse
what the generated protobuf code does, with the same field values, on valid, random and
corrupted messages."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lighthouse._fast import wire_implementations
from lighthouse.v1 import validation_pb2 as pb

from conftest import EXPECT_COMPILED

FIELDS = ("request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home", "fallback")
WIRES = wire_implementations()


@pytest.fixture(scope="module", params=["pure", pytest.param("compiled", marks=pytest.mark.compiled)])
def wire(request):
    if request.param not in WIRES:
        if EXPECT_COMPILED:
            pytest.fail("the compiled ToolCall decoder is expected but not importable")
        pytest.skip("compiled extension disabled by LIGHTHOUSE_NO_EXTENSIONS")
    return WIRES[request.param]


def generated(data, batch=False):
    """What the generated code makes of the bytes: field tuples, or "error"."""
    try:
        msg = (pb.ToolCallBatch if batch else pb.ToolCall).FromString(data)
    except Exception:  # noqa: BLE001 - DecodeError and friends
        return "error"
    if batch:
        return [tuple(getattr(c, f) for f in FIELDS) for c in msg.calls]
    return tuple(getattr(msg, f) for f in FIELDS)


def decoded(wire, data, batch=False):
    try:
        out = (wire.parse_tool_call_batch if batch else wire.parse_tool_call)(data)
    except wire.WireError:
        return "error"
    if batch:
        return [tuple(getattr(c, f) for f in FIELDS) for c in out]
    return tuple(getattr(out, f) for f in FIELDS)


TEXT = st.text(alphabet=st.sampled_from(list("ab{}\":/ \n") + ["é", "\u212a", "\x00", "\U0001f600"]), max_size=8)
CALLS = st.builds(pb.ToolCall, request_id=TEXT, agent_id=TEXT, session_id=TEXT, tool=TEXT, input_json=TEXT,
                  cwd=TEXT, home=TEXT, fallback=st.sampled_from([0, 1, 2, 3, 7, -1, 2 ** 31 - 1, -2 ** 31]))


@settings(max_examples=300, deadline=None)
@given(call=CALLS)
def test_valid_messages_decode_to_the_same_fields(wire, call):
    data = call.SerializeToString()
    assert decoded(wire, data) == generated(data) != "error"


@settings(max_examples=100, deadline=None)
@given(calls=st.lists(CALLS, max_size=5))
def test_valid_batches_decode_to_the_same_calls(wire, calls):
    data = pb.ToolCallBatch(calls=calls).SerializeToString()
    assert decoded(wire, data, batch=True) == generated(data, batch=True) != "error"


@pytest.mark.parametrize("data", [
    b"\x22\x02\xc3\x28",                              # tool is not UTF-8
    b"\x22\x03\xed\xa0\x80",                          # a UTF-8 surrogate
    b"\x22\x05ab",                                    # cut short
    b"\x00\x01",                                      # field number 0
    b"\x0e\x00",                                      # wire type 6
    b"\x4c",                                          # end of a group never started
    b"\x4b\x08\x01\x54",                              # group 9 closed as group 10
    b"\x40" + b"\xff" * 10 + b"\x01",                 # an eleven-byte varint
    b"\x80\x80\x80\x80\x10\x01",                      # field number 2**29
    b"\x22\x01a\x22\x01b",                            # repeated: the last value wins
    b"\x20\x05",                                      # tool sent as a varint: skipped
    b"\x42\x01\x05",                                  # fallback sent length-delimited: skipped
    b"\x40\xff\xff\xff\xff\x0f",                      # fallback 0xffffffff is int32 -1
    b"\x40\x80\x80\x80\x80\x10",                      # 2**32 is int32 0
    b"\x0b\x22\x01a\x0c",                             # a group's content is not the call's
    b"\x49" + b"\x00" * 8 + b"\x4d" + b"\x00" * 4,    # unknown fixed64 and fixed32
    b"",
])
def test_edge_cases_match_the_generated_code(wire, data):
    assert decoded(wire, data) == generated(data)


def test_corrupted_messages_match_the_generated_code(wire):
    rng = random.Random(20261126)
    seen = {"error": 0, "ok": 0}
    for k in range(4000):
        call = pb.ToolCall(request_id="r%d" % k, tool=rng.choice(["Bash", "Write", "é"]),
                           input_json='{"command": "ls -la"}', cwd="/w", fallback=rng.choice([0, 3, 7, -1]))
        data = bytearray(call.SerializeToString())
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.4 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.7:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif data:
                del data[rng.randrange(len(data))]
        batch = rng.random() < 0.3
        data = bytes(data)
        if batch and len(data) < 128:
            data = b"\x0a" + bytes((len(data),)) + data
        want = generated(data, batch)
        assert decoded(wire, data, batch) == want, data
        seen["error" if want == "error" else "ok"] += 1
    assert seen["error"] > 200 and seen["ok"] > 200


def test_the_implementations_share_the_error_type():
    errors = {name: mod.WireError for name, mod in WIRES.items()}
    assert len(set(errors.values())) == 1 and issubclass(errors["pure"], ValueError)
