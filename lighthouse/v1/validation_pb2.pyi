from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ALLOW: _ClassVar[Verdict]
    VERDICT_ASK: _ClassVar[Verdict]
    VERDICT_DENY: _ClassVar[Verdict]

class Tier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_UNSPECIFIED: _ClassVar[Tier]
    TIER_CACHE: _ClassVar[Tier]
    TIER_RULES: _ClassVar[Tier]
    TIER_POLICY: _ClassVar[Tier]
    TIER_EXPERT: _ClassVar[Tier]
    TIER_FALLBACK: _ClassVar[Tier]
    TIER_PATTERN: _ClassVar[Tier]
VERDICT_UNSPECIFIED: Verdict
VERDICT_ALLOW: Verdict
VERDICT_ASK: Verdict
VERDICT_DENY: Verdict
TIER_UNSPECIFIED: Tier
TIER_CACHE: Tier
TIER_RULES: Tier
TIER_POLICY: Tier
TIER_EXPERT: Tier
TIER_FALLBACK: Tier
TIER_PATTERN: Tier

class ToolCall(_message.Message):
    __slots__ = ("request_id", "agent_id", "session_id", "tool", "input_json", "cwd", "home", "fallback")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    HOME_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    agent_id: str
    session_id: str
    tool: str
    input_json: str
    cwd: str
    home: str
    fallback: Verdict
    def __init__(self, request_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., session_id: _Optional[str] = ..., tool: _Optional[str] = ..., input_json: _Optional[str] = ..., cwd: _Optional[str] = ..., home: _Optional[str] = ..., fallback: _Optional[_Union[Verdict, str]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("request_id", "verdict", "reason", "rule_id", "tier", "policy_generation", "escalation_id", "decision_ns", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    POLICY_GENERATION_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_NS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    verdict: Verdict
    reason: str
    rule_id: str
    tier: Tier
    policy_generation: int
    escalation_id: str
    decision_ns: int
    error: CallError
    def __init__(self, request_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[str] = ..., rule_id: _Optional[str] = ..., tier: _Optional[_Union[Tier, str]] = ..., policy_generation: _Optional[int] = ..., escalation_id: _Optional[str] = ..., decision_ns: _Optional[int] = ..., error: _Optional[_Union[CallError, _Mapping]] = ...) -> None: ...

class CallError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    field: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class ToolCallBatch(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[ToolCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[ToolCall, _Mapping]]] = ...) -> None: ...

class DecisionBatch(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ...) -> None: ...
