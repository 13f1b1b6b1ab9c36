from lighthouse.v1 import validation_pb2 as _validation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReloadPolicyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadPolicyResponse(_message.Message):
    __slots__ = ("policy_generation", "rule_count", "tokens_reloaded")
    POLICY_GENERATION_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_RELOADED_FIELD_NUMBER: _ClassVar[int]
    policy_generation: int
    rule_count: int
    tokens_reloaded: bool
    def __init__(self, policy_generation: _Optional[int] = ..., rule_count: _Optional[int] = ..., tokens_reloaded: _Optional[bool] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("policy_generation", "rule_count", "implementation", "decisions", "decisions_by_verdict", "decisions_by_tier", "cache_hits", "cache_misses", "cache_size", "in_flight", "errors_by_code", "uptime_seconds", "worker", "workers", "pid")
    class DecisionsByVerdictEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DecisionsByTierEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ErrorsByCodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    POLICY_GENERATION_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    IMPLEMENTATION_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_BY_VERDICT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_BY_TIER_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    CACHE_MISSES_FIELD_NUMBER: _ClassVar[int]
    CACHE_SIZE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_BY_CODE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    policy_generation: int
    rule_count: int
    implementation: str
    decisions: int
    decisions_by_verdict: _containers.ScalarMap[str, int]
    decisions_by_tier: _containers.ScalarMap[str, int]
    cache_hits: int
    cache_misses: int
    cache_size: int
    in_flight: int
    errors_by_code: _containers.ScalarMap[str, int]
    uptime_seconds: float
    worker: int
    workers: int
    pid: int
    def __init__(self, policy_generation: _Optional[int] = ..., rule_count: _Optional[int] = ..., implementation: _Optional[str] = ..., decisions: _Optional[int] = ..., decisions_by_verdict: _Optional[_Mapping[str, int]] = ..., decisions_by_tier: _Optional[_Mapping[str, int]] = ..., cache_hits: _Optional[int] = ..., cache_misses: _Optional[int] = ..., cache_size: _Optional[int] = ..., in_flight: _Optional[int] = ..., errors_by_code: _Optional[_Mapping[str, int]] = ..., uptime_seconds: _Optional[float] = ..., worker: _Optional[int] = ..., workers: _Optional[int] = ..., pid: _Optional[int] = ...) -> None: ...

class ListPatternsRequest(_message.Message):
    __slots__ = ("state", "limit")
    STATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    state: str
    limit: int
    def __init__(self, state: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListPatternsResponse(_message.Message):
    __slots__ = ("patterns",)
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    patterns: _containers.RepeatedCompositeFieldContainer[Pattern]
    def __init__(self, patterns: _Optional[_Iterable[_Union[Pattern, _Mapping]]] = ...) -> None: ...

class ReviewPatternRequest(_message.Message):
    __slots__ = ("id", "action", "note")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    action: str
    note: str
    def __init__(self, id: _Optional[int] = ..., action: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class PromotePatternRequest(_message.Message):
    __slots__ = ("id", "rules_file")
    ID_FIELD_NUMBER: _ClassVar[int]
    RULES_FILE_FIELD_NUMBER: _ClassVar[int]
    id: int
    rules_file: str
    def __init__(self, id: _Optional[int] = ..., rules_file: _Optional[str] = ...) -> None: ...

class PromotePatternResponse(_message.Message):
    __slots__ = ("rule_id", "rule_toml", "rules_file")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_TOML_FIELD_NUMBER: _ClassVar[int]
    RULES_FILE_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    rule_toml: str
    rules_file: str
    def __init__(self, rule_id: _Optional[str] = ..., rule_toml: _Optional[str] = ..., rules_file: _Optional[str] = ...) -> None: ...

class Pattern(_message.Message):
    __slots__ = ("id", "state", "tool", "shape", "context", "verdict", "agreeing", "taught_by", "first_reason", "created_unix", "activated_unix", "retired_unix", "note", "exact", "hits")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    AGREEING_FIELD_NUMBER: _ClassVar[int]
    TAUGHT_BY_FIELD_NUMBER: _ClassVar[int]
    FIRST_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_UNIX_FIELD_NUMBER: _ClassVar[int]
    RETIRED_UNIX_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    id: int
    state: str
    tool: str
    shape: str
    context: str
    verdict: _validation_pb2.Verdict
    agreeing: int
    taught_by: _containers.RepeatedScalarFieldContainer[str]
    first_reason: str
    created_unix: float
    activated_unix: float
    retired_unix: float
    note: str
    exact: _containers.RepeatedScalarFieldContainer[str]
    hits: int
    def __init__(self, id: _Optional[int] = ..., state: _Optional[str] = ..., tool: _Optional[str] = ..., shape: _Optional[str] = ..., context: _Optional[str] = ..., verdict: _Optional[_Union[_validation_pb2.Verdict, str]] = ..., agreeing: _Optional[int] = ..., taught_by: _Optional[_Iterable[str]] = ..., first_reason: _Optional[str] = ..., created_unix: _Optional[float] = ..., activated_unix: _Optional[float] = ..., retired_unix: _Optional[float] = ..., note: _Optional[str] = ..., exact: _Optional[_Iterable[str]] = ..., hits: _Optional[int] = ...) -> None: ...
