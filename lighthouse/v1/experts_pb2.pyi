from lighthouse.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExpertMessage(_message.Message):
    __slots__ = ("hello", "answer", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: ExpertHello
    answer: ExpertAnswer
    heartbeat: Heartbeat
    def __init__(self, hello: _Optional[_Union[ExpertHello, _Mapping]] = ..., answer: _Optional[_Union[ExpertAnswer, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class ExpertHello(_message.Message):
    __slots__ = ("expert_id", "tools", "categories", "max_concurrent", "software", "person")
    EXPERT_ID_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    expert_id: str
    tools: _containers.RepeatedScalarFieldContainer[str]
    categories: _containers.RepeatedScalarFieldContainer[str]
    max_concurrent: int
    software: str
    person: bool
    def __init__(self, expert_id: _Optional[str] = ..., tools: _Optional[_Iterable[str]] = ..., categories: _Optional[_Iterable[str]] = ..., max_concurrent: _Optional[int] = ..., software: _Optional[str] = ..., person: _Optional[bool] = ...) -> None: ...

class ExpertAnswer(_message.Message):
    __slots__ = ("escalation_id", "verdict", "reason", "confidence", "reusable", "error", "scope", "exact", "elapsed_us")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REUSABLE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_US_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    verdict: _validation_pb2.Verdict
    reason: str
    confidence: float
    reusable: bool
    error: str
    scope: str
    exact: _containers.RepeatedScalarFieldContainer[str]
    elapsed_us: int
    def __init__(self, escalation_id: _Optional[str] = ..., verdict: _Optional[_Union[_validation_pb2.Verdict, str]] = ..., reason: _Optional[str] = ..., confidence: _Optional[float] = ..., reusable: _Optional[bool] = ..., error: _Optional[str] = ..., scope: _Optional[str] = ..., exact: _Optional[_Iterable[str]] = ..., elapsed_us: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("unix_ms",)
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    unix_ms: int
    def __init__(self, unix_ms: _Optional[int] = ...) -> None: ...

class Escalation(_message.Message):
    __slots__ = ("welcome", "call", "withdrawn", "heartbeat", "rejected")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    WITHDRAWN_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    call: EscalatedCall
    withdrawn: Withdrawal
    heartbeat: Heartbeat
    rejected: AnswerRejected
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., call: _Optional[_Union[EscalatedCall, _Mapping]] = ..., withdrawn: _Optional[_Union[Withdrawal, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., rejected: _Optional[_Union[AnswerRejected, _Mapping]] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("expert_id", "max_concurrent", "heartbeat_interval_ms", "heartbeat_timeout_ms", "max_message_bytes")
    EXPERT_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    expert_id: str
    max_concurrent: int
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    max_message_bytes: int
    def __init__(self, expert_id: _Optional[str] = ..., max_concurrent: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., heartbeat_timeout_ms: _Optional[int] = ..., max_message_bytes: _Optional[int] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("tool", "summary", "verdict", "tier")
    TOOL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    tool: str
    summary: str
    verdict: _validation_pb2.Verdict
    tier: _validation_pb2.Tier
    def __init__(self, tool: _Optional[str] = ..., summary: _Optional[str] = ..., verdict: _Optional[_Union[_validation_pb2.Verdict, str]] = ..., tier: _Optional[_Union[_validation_pb2.Tier, str]] = ...) -> None: ...

class PolicyResult(_message.Message):
    __slots__ = ("verdict", "reason", "category", "quorum", "decided_by")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    verdict: _validation_pb2.Verdict
    reason: str
    category: str
    quorum: int
    decided_by: str
    def __init__(self, verdict: _Optional[_Union[_validation_pb2.Verdict, str]] = ..., reason: _Optional[str] = ..., category: _Optional[str] = ..., quorum: _Optional[int] = ..., decided_by: _Optional[str] = ...) -> None: ...

class RuleFired(_message.Message):
    __slots__ = ("id", "verdict", "reason", "command")
    ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    id: str
    verdict: _validation_pb2.Verdict
    reason: str
    command: int
    def __init__(self, id: _Optional[str] = ..., verdict: _Optional[_Union[_validation_pb2.Verdict, str]] = ..., reason: _Optional[str] = ..., command: _Optional[int] = ...) -> None: ...

class EscalatedCall(_message.Message):
    __slots__ = ("escalation_id", "tool", "input_json", "cwd", "home", "agent_id", "session_id", "why", "rule_id", "rule_reason", "analysis_json", "rules", "policy", "category", "quorum", "history", "deadline_ms")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    INPUT_JSON_FIELD_NUMBER: _ClassVar[int]
    CWD_FIELD_NUMBER: _ClassVar[int]
    HOME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_REASON_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_JSON_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUORUM_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MS_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    tool: str
    input_json: str
    cwd: str
    home: str
    agent_id: str
    session_id: str
    why: str
    rule_id: str
    rule_reason: str
    analysis_json: str
    rules: _containers.RepeatedCompositeFieldContainer[RuleFired]
    policy: PolicyResult
    category: str
    quorum: int
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    deadline_ms: int
    def __init__(self, escalation_id: _Optional[str] = ..., tool: _Optional[str] = ..., input_json: _Optional[str] = ..., cwd: _Optional[str] = ..., home: _Optional[str] = ..., agent_id: _Optional[str] = ..., session_id: _Optional[str] = ..., why: _Optional[str] = ..., rule_id: _Optional[str] = ..., rule_reason: _Optional[str] = ..., analysis_json: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[RuleFired, _Mapping]]] = ..., policy: _Optional[_Union[PolicyResult, _Mapping]] = ..., category: _Optional[str] = ..., quorum: _Optional[int] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., deadline_ms: _Optional[int] = ...) -> None: ...

class Withdrawal(_message.Message):
    __slots__ = ("escalation_id", "reason")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    reason: str
    def __init__(self, escalation_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AnswerRejected(_message.Message):
    __slots__ = ("escalation_id", "cause", "message")
    ESCALATION_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    escalation_id: str
    cause: str
    message: str
    def __init__(self, escalation_id: _Optional[str] = ..., cause: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
