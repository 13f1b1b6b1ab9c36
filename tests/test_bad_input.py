"""Bad input never raises out of check() and is never allowed."""

import pytest

WS = "/home/dev/app"

BAD_CALLS = [
    ("Bash", {"command": "x" * 200_000}),
    ("Bash", {"command": "ls\x00; rm -rf /"}),
    ("Bash", {"command": "echo \ud800 && rm -rf ~"}),
    ("Bash", {"command": "bash -c " + "'bash -c " * 40 + "rm -rf /" + "'" * 40}),
    ("Bash", {"command": "echo 'unbalanced"}),
    ("Bash", {"command": "echo \"unbalanced $(rm -rf /"}),
    ("Bash", {"command": "bash <<EOF\nrm -rf /"}),
    ("Bash", {"command": ""}),
    ("Bash", {"command": None}),
    ("Bash", {"command": ["rm", "-rf", "/"]}),
    ("Bash", {"command": 42}),
    ("Bash", {}),
    ("Bash", "rm -rf /"),
    ("Bash", None),
    ("Bash", ["rm", "-rf", "/"]),
    ("Write", {"file_path": 7, "content": None}),
    ("Write", {"file_path": "/etc/\ud800passwd", "content": "x"}),
    ("Read", {"file_path": ["/etc/shadow"]}),
    ("WebFetch", {"url": {"nested": "http://169.254.169.254/"}}),
    ("", {"command": "ls"}),
    (None, {"command": "ls"}),
    ("B" * 1000, {"command": "ls"}),
    (123, {"command": "ls"}),
    ("mcp__db__query", {"sql": [[[[[["drop table x"]]]]]]}),
]


@pytest.mark.parametrize("tool,tool_input", BAD_CALLS)
def test_bad_input_is_not_allowed_and_does_not_raise(validator, tool, tool_input):
    d = validator.check(tool, tool_input, cwd=WS)
    assert d.verdict in ("ask", "deny"), (d.verdict, d.rule_id, d.reason)
    assert d.reason


@pytest.mark.parametrize("tool,tool_input", BAD_CALLS)
def test_bad_input_raw_mode_is_miss_or_deny(shared_validator, tool, tool_input):
    v = shared_validator(cache_size=0, raw=True)
    d = v.check(tool, tool_input, cwd=WS)
    assert d.verdict in ("miss", "deny", "ask")


def test_invalid_input_reason_names_the_field(validator):
    d = validator.check("Bash", "rm -rf /", cwd=WS)
    assert d.verdict == "deny" and "tool_input" in d.reason
    d = validator.check("Bash", {"cmd": "ls"}, cwd=WS)
    assert d.verdict == "deny" and "command" in d.reason
    d = validator.check("", {"command": "ls"}, cwd=WS)
    assert d.verdict == "deny" and "tool" in d.reason
    d = validator.check("Bash", {"command": "ls"}, cwd=42)
    assert d.verdict == "deny" and "cwd" in d.reason


def test_unparseable_command_goes_to_fallback(validator):
    d = validator.check("Bash", {"command": "echo 'oops"}, cwd=WS)
    assert d.tier == "fallback" and d.verdict == "ask"
    assert "quote" in d.reason


def test_deep_json_input_does_not_crash(validator):
    deep = "x"
    for _ in range(5000):
        deep = [deep]
    d = validator.check("mcp__srv__tool", {"payload": deep}, cwd=WS)
    assert d.verdict in ("ask", "deny")


def test_cache_does_not_turn_bad_input_into_allow(make_validator):
    v = make_validator(cache_size=128)
    for _ in range(3):
        d = v.check("Bash", {"command": "echo 'oops"}, cwd=WS)
        assert d.verdict == "ask"
