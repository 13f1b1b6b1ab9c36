"""The public Python API: Validator, Decision, reload, raw mode, fallback, home."""

import threading

import lighthouse
from lighthouse import Validator

WS = "/home/dev/app"


def test_public_api_shape():
    v = Validator()
    d = v.check("Bash", {"command": "rm -rf ~"}, cwd=WS)
    assert isinstance(d, lighthouse.Decision)
    assert (d.verdict, d.tier, d.cached) == ("deny", "rules", False)
    assert d.rule_id == "fs.rm-home" and "home" in d.reason.lower()
    assert d.to_dict()["verdict"] == "deny"
    assert v.generation == 1 and v.rule_count > 100


def test_miss_uses_fallback_or_raw(make_validator):
    cmd = {"command": "frobnicate --all"}
    assert make_validator(cache_size=0).check("Bash", cmd, cwd=WS).verdict == "ask"
    d = make_validator(cache_size=0, fallback="deny").check("Bash", cmd, cwd=WS)
    assert (d.verdict, d.tier, d.rule_id) == ("deny", "fallback", "")
    d = make_validator(cache_size=0, raw=True).check("Bash", cmd, cwd=WS)
    assert (d.verdict, d.tier) == ("miss", "rules")
    assert "frobnicate" in d.reason


def test_chain_needs_every_command_allowed(validator):
    assert validator.check("Bash", {"command": "ls && frobnicate"}, cwd=WS).verdict == "ask"
    assert validator.check("Bash", {"command": "ls && git status"}, cwd=WS).verdict == "allow"
    assert validator.check("Bash", {"command": "ls; sudo ls; rm -rf /"}, cwd=WS).verdict == "deny"


def test_explicit_home_is_used_for_tilde(make_validator):
    v = make_validator(cache_size=0, home="/opt/agent")
    assert v.check("Bash", {"command": "cat ~/.ssh/id_rsa"}, cwd="/opt/agent/work").verdict == "deny"
    assert v.check("Read", {"file_path": "/opt/agent/.aws/credentials"}, cwd="/opt/agent/work").verdict == "deny"


def test_paths_resolve_against_cwd(validator):
    assert validator.check("Bash", {"command": "rm -rf build"}, cwd=WS).verdict == "allow"
    assert validator.check("Bash", {"command": "rm -rf etc"}, cwd="/").verdict == "deny"
    assert validator.check("Bash", {"command": "rm -rf ../../.."}, cwd=WS).verdict == "deny"


def test_reload_under_concurrent_checks_never_fails(tmp_path):
    v = Validator(cache_size=64)
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nid = "local.x"\nverdict = "deny"\nreason = "r"\nprogram = "xyz"\n')
    errors = []
    stop = threading.Event()

    def worker():
        try:
            while not stop.is_set():
                d = v.check("Bash", {"command": "git status"}, cwd=WS)
                assert d.verdict == "allow"
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        v.reload(rules=[rules])
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors
    assert v.generation == 6
    assert v.check("Bash", {"command": "xyz"}, cwd=WS).verdict == "deny"


def test_explain_lists_commands_and_matching_rules():
    v = Validator(cache_size=0)
    out = v.explain("Bash", {"command": "cd / && sudo rm -rf etc"}, cwd=WS)
    assert out["decision"]["verdict"] == "deny"
    progs = [c["program"] for c in out["commands"]]
    assert progs == ["cd", "rm"]
    rm = out["commands"][1]
    assert rm["sudo"] and rm["cwd"] == "/"
    assert {"fs.rm-system", "sys.sudo"} <= {m["id"] for m in rm["matches"]}


# ---------------------------------------------------------------- input bounds

WRITE = "/home/dev/app/src/notes.txt"
SECRET = "AKIA" + "ABCDEFGHIJKLMNOP"


def test_what_lies_past_the_window_never_yields_allow(make_validator):
    v = make_validator(cache_size=0, window=1000, max_input=10_000)
    assert v.check("Write", {"file_path": WRITE, "content": "x" * 1000}, cwd=WS).verdict == "allow"
    # A secret past the window is not seen, but the call is not allowed either.
    d = v.check("Write", {"file_path": WRITE, "content": "x" * 1000 + SECRET}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "input.windowed")
    assert "longer than 1000 characters" in d.reason and "[rule files.write-workspace]" in d.reason
    # A deny or ask on the window stands.
    d = v.check("Write", {"file_path": WRITE, "content": SECRET + "x" * 2000}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "files.write-secret-content")
    d = v.check("Write", {"file_path": "/etc/passwd", "content": "x" * 2000}, cwd=WS)
    assert d.verdict == "deny" and d.rule_id != "input.windowed"
    # Any string counts, nested ones too.
    edit = {"old_string": "a", "new_string": "b" * 1000}
    assert v.check("MultiEdit", {"file_path": WRITE, "edits": [edit]}, cwd=WS).verdict == "allow"
    edit["new_string"] += "b"
    d = v.check("MultiEdit", {"file_path": WRITE, "edits": [edit]}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "input.windowed")


def test_past_the_hard_limit_the_answer_is_deny(make_validator):
    v = make_validator(cache_size=0, window=1000, max_input=10_000)
    for tool_input in ({"file_path": WRITE, "content": "x" * 10_000},
                       {"file_path": WRITE, "content": "x", "junk": [1] * 10_000},
                       {"command": "ls", "description": "y" * 10_000}):
        d = v.check("Write" if "file_path" in tool_input else "Bash", tool_input, cwd=WS)
        assert (d.verdict, d.rule_id) == ("deny", "input.too-large")
        assert d.reason == "the input is too large to judge (over 10000 characters)"


def test_a_write_at_the_hard_limit_is_judged_on_the_window(make_validator):
    """The rules read the window whatever the input's size (bench/worst_case.py and
    bench/large.py measure what that costs)."""
    v = make_validator(cache_size=0)
    large = {"file_path": WRITE, "content": "x = 1\n" * ((v.max_input - 100) // 6)}
    d = v.check("Write", large, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "input.windowed")


def test_past_the_value_limit_the_answer_is_deny(make_validator):
    """Each value costs the rules work, so an input of more than MAX_VALUES values is
    not judged, however short its JSON text."""
    from lighthouse.bounds import MAX_VALUES
    v = make_validator(cache_size=0)
    at = {"items": [1] * (MAX_VALUES - 2)}          # the dict, the list and its items
    d = v.check("mcp__srv__tool", at, cwd=WS)
    assert d.rule_id != "input.too-large"
    for past in ({"items": [1] * (MAX_VALUES - 1)}, {"k%d" % k: 1 for k in range(MAX_VALUES)},
                 {"edits": [{"a": 1}] * (MAX_VALUES // 2)}):
        d = v.check("mcp__srv__tool", past, cwd=WS)
        assert (d.verdict, d.rule_id) == ("deny", "input.too-large")
        assert d.reason == "the input is too large to judge (over %d values)" % MAX_VALUES


def test_explain_reports_a_limit_instead_of_failing():
    """A path past the engine's limits is undecided; explaining the call says why
    rather than raising."""
    from lighthouse.explain import explain
    v = Validator(cache_size=0)
    deep = WS + "/" + "a/" * 200 + ".env"
    for tool, tool_input in (("Bash", {"command": "cat " + deep}), ("Read", {"file_path": deep})):
        out = explain(v, tool, tool_input, cwd=WS)
        assert out["decision"]["rule_id"] == "input.limit"
        assert "128 segments" in out["error"]
