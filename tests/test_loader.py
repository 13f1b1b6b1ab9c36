"""Rule files: loading, overriding, and refusing bad files with file, line and reason."""

import pytest

from lighthouse import RuleError, Validator
from lighthouse.rules.loader import PACK_NAMES, load_file, load_policy, pack_paths

WS = "/home/dev/app"


def write(tmp_path, text, name="rules.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_all_packs_load_and_cover_every_category():
    policy = load_policy()
    assert len(policy.rules) > 150
    names = {p.rsplit("/", 1)[-1][:-5] for p in pack_paths()}
    for category in ("filesystem", "git", "secrets", "exfiltration", "remote-exec", "system", "cloud",
                     "database", "kubernetes", "docker", "package-install", "web", "mcp"):
        assert category in names
    assert set(PACK_NAMES) == names
    ids = [r["id"] for r in policy.rules]
    assert len(ids) == len(set(ids))
    for r in policy.rules:
        assert r["reason"] and r["verdict"] in ("allow", "ask", "deny")


def test_user_file_adds_a_rule(tmp_path):
    p = write(tmp_path, '[[rule]]\nid = "local.no-terraform"\nverdict = "deny"\nreason = "not here"\nprogram = "terraform"\n')
    v = Validator([p], cache_size=0)
    d = v.check("Bash", {"command": "terraform plan"}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("deny", "local.no-terraform")


def test_user_file_overrides_pack_rule_by_id(tmp_path):
    p = write(tmp_path, '[[rule]]\nid = "git.push-force-with-lease"\nverdict = "allow"\n'
                        'reason = "our team force-pushes feature branches with lease"\n'
                        'program = "git"\nsubcommand = ["push"]\nflags = ["--force-with-lease"]\n')
    v = Validator([p], cache_size=0)
    d = v.check("Bash", {"command": "git push --force-with-lease origin feat"}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("allow", "git.push-force-with-lease")


def test_user_file_disables_pack_rule(tmp_path):
    p = write(tmp_path, '[[rule]]\nid = "sys.sudo"\nenabled = false\n')
    base = Validator(cache_size=0).check("Bash", {"command": "sudo ls"}, cwd=WS)
    assert base.verdict == "ask"
    d = Validator([p], cache_size=0).check("Bash", {"command": "sudo ls"}, cwd=WS)
    assert d.verdict == "allow"


def test_without_packs_programs_still_read_their_argv(tmp_path):
    # packs=False drops every pack rule but keeps programs.toml, so that `-C app` is
    # read as git's option and its value, not as the subcommand.
    p = write(tmp_path, '[[rule]]\nid = "team.push"\nverdict = "deny"\nreason = "r"\nprogram = "git"\n'
                        'subcommand = ["push"]\n')
    v = Validator([p], packs=False, cache_size=0)
    assert [r["id"] for r in v.policy.rules] == ["team.push"]
    d = v.check("Bash", {"command": "git -C app push origin main"}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("deny", "team.push")
    assert v.check("Bash", {"command": "rm -rf ~"}, cwd=WS).verdict == "ask"     # no pack rule: a miss


def test_directory_of_rule_files(tmp_path):
    write(tmp_path, '[[rule]]\nid = "a.one"\nverdict = "deny"\nreason = "r"\nprogram = "aaa"\n', "a.toml")
    write(tmp_path, '[[rule]]\nid = "b.two"\nverdict = "deny"\nreason = "r"\nprogram = "bbb"\n', "b.toml")
    policy = load_policy([tmp_path], packs=False)
    assert [r["id"] for r in policy.rules] == ["a.one", "b.two"]


def test_directory_leaves_hidden_files_out(tmp_path):
    # A hidden file is an editor's swap file or a promotion not yet renamed over its
    # target: not a rule file, even when it does not load.
    write(tmp_path, '[[rule]]\nid = "a.one"\nverdict = "deny"\nreason = "r"\nprogram = "aaa"\n', "a.toml")
    write(tmp_path, '[[rule]]\nid = "a.half"\nverdict = "dany"\n', ".a.toml.promote-1-2-3.toml")
    policy = load_policy([tmp_path], packs=False)
    assert [r["id"] for r in policy.rules] == ["a.one"]
    with pytest.raises(RuleError, match="verdict"):
        load_policy([tmp_path / ".a.toml.promote-1-2-3.toml"], packs=False)


@pytest.mark.parametrize("text,line,fragment", [
    ('[[rule]]\nid = "x.y"\nverdict = "maybe"\nreason = "r"\nprogram = "ls"\n', 3, "verdict must be one of"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nprogram = "ls"\n', 1, "reason"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\ncolour = "red"\n', 6, "unknown key 'colour'"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\ncode = "(unclosed"\nprogram = "ls"\n', 5, "invalid regular expression"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nflags = []\n', 6, "non-empty list"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nargs = ["{a,b"]\n', 6, "unbalanced braces"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\npaths = ["@nosuchset"]\n', 6, "unknown set"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\n', 1, "no matcher"),
    ('[[rule]]\nid = "X Y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\n', 1, "'id'"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nfields = { sql = "drop" }\n', 1, "mixes shell matchers"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\n\n[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\n', 7, "duplicate rule id"),
    ('[[rule]\nid = "x.y"\n', 1, "TOML syntax error"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nsudo = "yes"\n', 6, "true or false"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nexamples = [{ command = "ls" }]\n', 6, "needs expect"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nexamples = [{ command = "ls", expect = "deny", rule = 1 }]\n', 6, "example rule must be a string"),
    ('[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\nprogram = "ls"\nexamples = [{ command = "ls", expect = "deny", why = "" }]\n', 6, "unknown example keys"),
    ('[programs.ls]\nvalue_opts = ["-I"]\n', 1, "unknown key 'value_opts'"),
    ('[programs.ls]\nwrites = "middle"\n', 1, "writes must be one of"),
    ('[programs.zip]\nwrites_if = [{ flags = ["-x"] }]\n', 1, "writes_if[0] writes nothing"),
    ('[programs.zip]\nwrites_if = [{ flag = ["-x"], default = "." }]\n', 1, "writes_if[0]: unknown key 'flag'"),
    ('[programs.zip]\nwrites_if = [{ positionals = "some" }]\n', 1, "positionals must be one of"),
    ('[programs.zip]\nwrites_if = ["-x"]\n', 1, "writes_if[0] must be a table"),
    ('[programs.git]\nsubcommands = { grep = { value_opts = ["-e"] } }\n', 1,
     "[programs.git.subcommands.grep]: unknown key 'value_opts'"),
    ('[programs.t]\nsubcommands = { a = { subcommands = { b = { subcommands = { c = { subcommands = '
     '{ d = { subcommands = { e = {} } } } } } } } } }\n', 1, "nest at most 4 deep"),
    ('[programs.t]\nvalue_options = ["-o", 3]\n', 1, "value_options must be a list of strings"),
    ('[other]\nx = 1\n', None, "unknown top-level table"),
])
def test_bad_rule_file_is_refused_with_file_line_reason(tmp_path, text, line, fragment):
    p = write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_file(str(p))
    err = info.value
    assert err.path == str(p)
    assert err.line == line
    assert fragment in err.reason
    assert str(err).startswith("%s:%s: " % (p, line if line else "?"))


def test_missing_rule_file_is_refused(tmp_path):
    with pytest.raises(RuleError, match="no such rule file"):
        load_policy([tmp_path / "nope.toml"])


def test_non_utf8_file_is_refused(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_bytes(b'[[rule]]\nid = "\xff"\n')
    with pytest.raises(RuleError, match="not UTF-8"):
        load_file(str(p))


def test_reload_with_bad_file_keeps_running_policy(tmp_path):
    good = write(tmp_path, '[[rule]]\nid = "local.x"\nverdict = "deny"\nreason = "r"\nprogram = "xyz"\n', "good.toml")
    v = Validator([good], cache_size=0)
    bad = write(tmp_path, '[[rule]]\nid = "local.x"\nverdict = "nope"\n', "bad.toml")
    with pytest.raises(RuleError):
        v.reload(rules=[bad])
    assert v.generation == 1
    assert v.check("Bash", {"command": "xyz"}, cwd=WS).rule_id == "local.x"


def test_catastrophic_regex_constructs_are_refused(tmp_path):
    # Backreferences and lookarounds are not linear-time; RE2 rejects them at load.
    for rx in ("(a)\\\\1", "(?=x)", "(?<!y)z"):
        p = write(tmp_path, '[[rule]]\nid = "x.y"\nverdict = "deny"\nreason = "r"\ntools = ["Write"]\nany_field = "%s"\n' % rx)
        with pytest.raises(RuleError, match="invalid regular expression"):
            load_file(str(p))


def test_escalate_false_keeps_an_ask_for_a_person(tmp_path):
    """`escalate = false` on an ask rule: only a person decides what it matches, so the
    slower tiers are not asked (Validator.escalates, for the escalation pipeline); on a
    deny or an allow it is refused with file and line, since those verdicts are final."""
    from lighthouse import Validator
    f = tmp_path / "team.toml"
    f.write_text('[[rule]]\nid = "team.prod-deploy"\nverdict = "ask"\nreason = "deploys to production"\n'
                 'program = "deploy"\nescalate = false\n\n'
                 '[[rule]]\nid = "team.staging-deploy"\nverdict = "ask"\nreason = "deploys to staging"\n'
                 'program = "deploy-staging"\n')
    v = Validator([f], packs=False, cache_size=0)
    assert v.check("Bash", {"command": "deploy app"}, cwd="/w").rule_id == "team.prod-deploy"
    assert not v.escalates("team.prod-deploy")
    assert v.escalates("team.staging-deploy") and v.escalates("")
    f.write_text('[[rule]]\nid = "team.x"\nverdict = "deny"\nreason = "r"\nprogram = "x"\nescalate = false\n')
    with pytest.raises(RuleError, match=r"team.toml:6: rule 'team.x': escalate applies to ask rules only"):
        Validator([f], packs=False)
    f.write_text('[[rule]]\nid = "team.x"\nverdict = "ask"\nreason = "r"\nprogram = "x"\nescalate = "no"\n')
    with pytest.raises(RuleError, match="escalate must be true or false"):
        Validator([f], packs=False)
