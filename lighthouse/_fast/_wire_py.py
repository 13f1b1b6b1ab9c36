"""Decoding of lighthouse.v1.ToolCall and ToolCallBatch from protobuf wire bytes, and the
last step of encoding a Decision (pure twin of ``_wire_c``).

The server decides most calls in a few microseconds; building a generated ToolCall
message and reading its eight fields back costs about 2 us of that on its own. These
decoders go from the bytes straight to a :class:`WireCall` with the same field names.
They accept and refuse what the generated code does (tests/test_wire.py checks them
against it on random and corrupted messages):

- fields 1-7 are strings and must be valid UTF-8; field 8 (fallback, an open enum) is
  an int32 varint, kept whatever its value;
- a field seen twice keeps its last value; unknown fields, and known fields sent with
  another wire type, are skipped, groups included;
- field number 0, wire types 6 and 7, an end-group without its start, varints longer
  than ten bytes and anything cut short are errors.
"""

from __future__ import annotations

import time

from ..errors import LighthouseError

__all__ = ["WireCall", "WireError", "parse_tool_call", "parse_tool_call_batch", "finish_decision"]

_STRING_FIELDS = {1: "request_id", 2: "agent_id", 3: "session_id", 4: "tool", 5: "input_json",
                  6: "cwd", 7: "home"}
_MAX_FIELD = (1 << 29) - 1
_MAX_GROUP_DEPTH = 64


class WireError(LighthouseError, ValueError):
    """The bytes are not a valid message."""


class WireCall:
    """A decoded ToolCall: the fields the server reads, with proto3 defaults."""

    __slots__ = ("request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home", "fallback")

    def __init__(self):
        self.request_id = self.agent_id = self.session_id = self.tool = ""
        self.input_json = self.cwd = self.home = ""
        self.fallback = 0

    def __repr__(self):
        return "WireCall(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


def _varint(data, i, end):
    result = 0
    shift = 0
    for _ in range(10):
        if i >= end:
            raise WireError("message is cut short inside a varint")
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, i
        shift += 7
    raise WireError("varint longer than ten bytes")


def _skip(data, i, end, wire, field, depth):
    """Index past the value of an unknown field whose tag has just been read."""
    if wire == 0:
        return _varint(data, i, end)[1]
    if wire == 1 or wire == 5:
        i += 8 if wire == 1 else 4
        if i > end:
            raise WireError("message is cut short inside a fixed-size field")
        return i
    if wire == 2:
        n, i = _varint(data, i, end)
        if n > end - i:
            raise WireError("field %d is longer than the message" % field)
        return i + n
    if wire == 3:
        if depth >= _MAX_GROUP_DEPTH:
            raise WireError("groups are nested too deeply")
        while True:
            tag, i = _tag(data, i, end)
            if tag & 7 == 4:
                if tag >> 3 != field:
                    raise WireError("group %d ends with the end of group %d" % (field, tag >> 3))
                return i
            i = _skip(data, i, end, tag & 7, tag >> 3, depth + 1)
    raise WireError("invalid wire type %d" % wire)


def _tag(data, i, end):
    tag, i = _varint(data, i, end)
    if tag > 0xFFFFFFFF or not 0 < tag >> 3 <= _MAX_FIELD:
        raise WireError("invalid field number %d" % (tag >> 3))
    if tag & 7 in (6, 7):
        raise WireError("invalid wire type %d" % (tag & 7))
    return tag, i


def _no_group_end(tag):
    if tag & 7 == 4:
        raise WireError("end of group %d without its start" % (tag >> 3))


def _decode(data, i, end):
    call = WireCall()
    while i < end:
        tag, i = _tag(data, i, end)
        _no_group_end(tag)
        field, wire = tag >> 3, tag & 7
        name = _STRING_FIELDS.get(field)
        if name is not None and wire == 2:
            n, i = _varint(data, i, end)
            if n > end - i:
                raise WireError("field %s is longer than the message" % name)
            try:
                setattr(call, name, bytes(data[i:i + n]).decode("utf-8"))
            except UnicodeDecodeError:
                raise WireError("field %s is not valid UTF-8" % name) from None
            i += n
        elif field == 8 and wire == 0:
            v, i = _varint(data, i, end)
            v &= 0xFFFFFFFF
            call.fallback = v - (1 << 32) if v >= 1 << 31 else v
        else:
            i = _skip(data, i, end, wire, field, 0)
    return call


def parse_tool_call(data):
    """A ToolCall's bytes to a WireCall; WireError when they are not a valid message."""
    return _decode(data, 0, len(data))


def parse_tool_call_batch(data):
    """A ToolCallBatch's bytes to the list of its calls, as WireCalls."""
    calls = []
    i, end = 0, len(data)
    while i < end:
        tag, i = _tag(data, i, end)
        _no_group_end(tag)
        if tag == (1 << 3 | 2):
            n, i = _varint(data, i, end)
            if n > end - i:
                raise WireError("a call is longer than the batch")
            calls.append(_decode(data, i, i + n))
            i += n
        else:
            i = _skip(data, i, end, tag & 7, tag >> 3, 0)
    return calls


def varint(n):
    """Base-128 varint of a non-negative int."""
    if n < 0x80:
        return bytes((n,))
    if n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def finish_decision(request_id, body, t0):
    """(serialized Decision, decision_ns): request_id (field 1), then `body` (the
    Decision's fields 2-7, pre-encoded), then decision_ns (field 8), which is the
    perf_counter_ns() time elapsed since t0 when everything before it is encoded.
    Fields are in number order with defaults omitted, as SerializeToString() writes."""
    rid = request_id.encode("utf-8")
    head = (b"\x0a" + varint(len(rid)) + rid if rid else b"") + body
    ns = time.perf_counter_ns() - t0
    return (head + b"\x40" + varint(ns) if ns > 0 else head), ns
