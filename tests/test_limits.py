"""Every limit of the analysis fails closed (DESIGN.md, "Shell analysis"; commit 7c15012).

For each limit and each way of reaching it, on both implementations: at the limit a
denied command is still judged and denied; one past it the call is undecided (the shell
limits answer rule ``shell.unparsed``, the path limits ``input.limit``, both through the
"ask" fallback), never allowed on the part seen before the limit. The sizes come from the
module constants, so the tests follow the limits when they change.

The costliest shapes are also decided here (not timed: bench/worst_case.py measures them),
with a timeout as a guard against a hang.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from conftest import WS

DENY_ROOT = "rm -rf /"          # denied by rule fs.rm-system


# ----------------------------------------------------------------------------- helpers

@pytest.fixture
def v(validator):
    """conftest's validator: the shipped packs without cache on the implementation under test."""
    return validator


@pytest.fixture
def limits(impl):
    """The limits of the implementation under test (the compiled module exports the same
    names as the pure twin)."""
    _, shell, engine = impl

    class L:
        pass

    lim = L()
    for name in ("MAX_DEPTH", "MAX_LENGTH", "MAX_COMMANDS", "MAX_WRAPPERS", "MAX_LOOP_WORDS",
                 "MAX_LOOP_PASSES", "MAX_ARGS", "MAX_WORD", "MAX_WORK", "CODE_WINDOW"):
        setattr(lim, name, getattr(shell, name))
    for name in ("MAX_PATH_SEGMENTS", "MAX_MATCH_LENGTH"):
        setattr(lim, name, getattr(engine, name))
    return lim


def decide(v, command, tool="Bash", key="command"):
    d = v.check(tool, {key: command}, cwd=WS)
    return d.verdict, d.rule_id


def assert_denied(v, command, rule="fs.rm-system", **kw):
    got = decide(v, command, **kw)
    assert got == ("deny", rule), (command[:200], len(command), got)


def assert_undecided(v, command, rule="shell.unparsed", **kw):
    verdict, rule_id = decide(v, command, **kw)
    assert verdict != "allow", (command[:200], len(command), verdict, rule_id)
    assert (verdict, rule_id) == ("ask", rule), (command[:200], len(command), verdict, rule_id)


@pytest.mark.compiled
def test_the_twins_share_their_limits():
    from conftest import twins
    (pure_shell, pure_engine), (shell, engine) = twins()
    for name in ("MAX_DEPTH", "MAX_LENGTH", "MAX_COMMANDS", "MAX_WRAPPERS", "MAX_LOOP_WORDS",
                 "MAX_LOOP_PASSES", "MAX_ARGS", "MAX_WORD", "MAX_WORK", "CODE_WINDOW"):
        assert getattr(shell, name) == getattr(pure_shell, name), name
    for name in ("MAX_PATH_SEGMENTS", "MAX_MATCH_LENGTH"):
        assert getattr(engine, name) == getattr(pure_engine, name), name


# ---------------------------------------------------------------------------- wrappers

# Each wrapper as written in front of a command (with the options or positional
# arguments it takes). Every one counts once against MAX_WRAPPERS.
WRAPPERS = [
    "env", "env A=1", "env -i", "env -u HOME", "command", "exec", "builtin", "nice", "nice -n 5",
    "nohup", "timeout 5", "timeout -s KILL 5", "xargs", "xargs -0",
    "sudo", "sudo -u root", "doas", "doas -u root", "run0", "stdbuf -o0", "ionice", "ionice -c 3",
    "setsid", "busybox", "chronic", "unbuffer", "torsocks", "proxychains", "caffeinate",
    "flock /tmp/lock", "chroot /", "taskset 1",
]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrappers_at_the_limit_are_peeled_and_past_it_undecided(v, limits, wrapper):
    n = limits.MAX_WRAPPERS
    assert_denied(v, (wrapper + " ") * n + DENY_ROOT)
    assert_undecided(v, (wrapper + " ") * (n + 1) + DENY_ROOT)


@pytest.mark.parametrize("runner", ["strace -f", "ltrace", "/usr/bin/time -o t.txt"])
def test_runners_nest_up_to_the_depth_limit_and_past_it_are_undecided(v, limits, runner):
    # tracers and GNU time are runners (their -o FILE is a write), not wrappers: each
    # level is a nested command, bounded by MAX_DEPTH
    n = limits.MAX_DEPTH
    assert_denied(v, (runner + " ") * n + DENY_ROOT)
    assert_undecided(v, (runner + " ") * (n + 1) + DENY_ROOT)
    assert_undecided(v, (runner + " ") * (limits.MAX_WRAPPERS + 1) + DENY_ROOT)


def test_mixed_wrappers_count_together(v, limits):
    cycle = ["sudo", "env A=1", "nice -n 5", "timeout 5", "xargs", "command", "busybox", "nohup"]
    ws = [cycle[k % len(cycle)] for k in range(limits.MAX_WRAPPERS + 1)]
    assert_denied(v, " ".join(ws[:-1]) + " " + DENY_ROOT)
    assert_undecided(v, " ".join(ws) + " " + DENY_ROOT)


def test_env_split_strings_count_as_wrappers(v, limits):
    # `env -S STRING` is two wrappers: env, and the split that rebuilds its argv.
    n = limits.MAX_WRAPPERS // 2
    assert_denied(v, "env -S " * n + DENY_ROOT)
    assert_undecided(v, "env -S " * (n + 1) + DENY_ROOT)


def test_env_split_strings_inside_a_quoted_split_string(v, limits):
    # `env -S 'env -S env -S ... CMD'`: the quoted string splits into more env -S
    n = limits.MAX_WRAPPERS // 2

    def quoted(k):
        return "env -S " + shlex.quote("env -S " * (k - 1) + DENY_ROOT)
    assert_denied(v, quoted(n))
    assert_undecided(v, quoted(n + 1))
    nested = DENY_ROOT
    for _ in range(3):
        nested = "env -S " + shlex.quote(nested)
    assert_denied(v, nested)


def test_time_is_a_reserved_word_not_a_counted_wrapper(v, limits):
    # `time time ... CMD` is skipped by the parser: any number of them still judges CMD.
    assert_denied(v, "time " * (limits.MAX_WRAPPERS * 2) + DENY_ROOT)


# ----------------------------------------------------------------------------- nesting
# Each builder nests `inner` n levels deep in one construct; every level really runs the
# inner command (test_nesting_builders_run_the_inner_command checks that with bash).

def _dollar(n, inner):
    return "echo $(" * n + inner + ")" * n


def _dollar_as_command(n, inner):
    for _ in range(n):
        inner = "$( " + inner + " )"
    return inner


def _backticks(n, inner):
    for _ in range(n):
        inner = "echo `" + inner.replace("\\", "\\\\").replace("`", "\\`").replace("$", "\\$") + "`"
    return inner


def _subshell(n, inner):
    # spaced: `((` would open an arithmetic command
    return "( " * n + inner + " )" * n


def _group(n, inner):
    return "{ " * n + inner + "; }" * n


def _shell_c(shell):
    def build(n, inner):
        for _ in range(n):
            inner = shell + " -c " + shlex.quote(inner)
        return inner
    return build


def _shell_c_ansi(n, inner):
    # bash -c $'...': each level escapes the backslashes and quotes of the one inside
    for _ in range(n):
        inner = "bash -c $'" + inner.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return inner


def _eval_quoted(n, inner):
    for _ in range(n):
        inner = "eval " + shlex.quote(inner)
    return inner


def _eval_words(n, inner):
    return "eval " * n + inner


def _stdin_shell(n, inner):
    for _ in range(n):
        inner = "echo " + shlex.quote(inner) + " | bash"
    return inner


def _function_calls(n, inner):
    # f0 runs inner; f1 calls f0; ... f(n-1) is called: n nested function calls
    defs = ["f0() { %s; }" % inner] + ["f%d() { f%d; }" % (k, k - 1) for k in range(1, n)]
    return "; ".join(defs) + "; f%d" % (n - 1)


def _function_definitions(n, inner):
    # a function defined inside the body of another: each definition is two parse levels
    # (the body command and its { } group)
    for k in range(n):
        inner = "f%d() { %s; }; f%d" % (k, inner, k)
    return inner


def _watch(n, inner):
    # watch runs its arguments with `sh -c`: each one is a nested shell
    return "watch " * n + inner


# (builder, levels allowed): the deepest nesting still analysed
NESTING = {
    "dollar-paren": (_dollar, "MAX_DEPTH"),
    "dollar-paren-as-command": (_dollar_as_command, "MAX_DEPTH"),
    "backticks": (_backticks, "MAX_DEPTH"),
    "subshell": (_subshell, "MAX_DEPTH"),
    "group": (_group, "MAX_DEPTH"),
    "bash-c": (_shell_c("bash"), "MAX_DEPTH"),
    "sh-c": (_shell_c("sh"), "MAX_DEPTH"),
    "sudo-sh-c": (_shell_c("sudo sh"), "MAX_DEPTH"),
    "bash-c-ansi-c-quoting": (_shell_c_ansi, "MAX_DEPTH"),
    "eval-quoted": (_eval_quoted, "MAX_DEPTH"),
    "eval-words": (_eval_words, "MAX_DEPTH"),
    "stdin-shell": (_stdin_shell, "MAX_DEPTH"),
    "function-calls": (_function_calls, "MAX_DEPTH"),
    "function-definitions": (_function_definitions, "MAX_DEPTH // 2"),
    "watch": (_watch, "MAX_DEPTH"),
}


def _levels(limits, expr):
    return limits.MAX_DEPTH // 2 if expr == "MAX_DEPTH // 2" else limits.MAX_DEPTH


@pytest.mark.parametrize("kind", sorted(NESTING))
def test_nesting_at_the_limit_is_judged_and_past_it_undecided(v, limits, kind):
    build, expr = NESTING[kind]
    n = _levels(limits, expr)
    assert_denied(v, build(n, DENY_ROOT))
    assert_undecided(v, build(n + 1, DENY_ROOT))


@pytest.mark.parametrize("kind", sorted(NESTING))
def test_nesting_far_past_the_limit_is_undecided(v, limits, kind):
    build, _ = NESTING[kind]
    if kind in ("bash-c", "sh-c", "sudo-sh-c", "stdin-shell", "eval-quoted", "backticks",
                "bash-c-ansi-c-quoting"):
        n = limits.MAX_DEPTH + 3        # quoting grows with each level
    else:
        n = limits.MAX_DEPTH * 8
    assert_undecided(v, build(n, DENY_ROOT))


def test_nesting_kinds_add_up(v, limits):
    # code-running levels (bash -c, eval, a function call) around parsed levels ($( ),
    # backticks, subshells, groups): the depth is the sum, whatever the kinds
    parsed = ["dollar-paren", "subshell", "group", "backticks"]
    running = ["bash-c", "eval-quoted", "sh-c", "function-calls", "stdin-shell"]

    def build(n_parsed, n_running):
        cmd = DENY_ROOT
        for k in range(n_parsed):
            cmd = NESTING[parsed[k % len(parsed)]][0](1, cmd)
        for k in range(n_running):
            cmd = NESTING[running[k % len(running)]][0](1, cmd)
        return cmd
    half = limits.MAX_DEPTH // 2
    rest = limits.MAX_DEPTH - half
    assert_denied(v, build(half, rest))
    assert_undecided(v, build(half + 1, rest))
    assert_undecided(v, build(half, rest + 1))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("kind", sorted(set(NESTING) - {"sudo-sh-c", "watch"}))
def test_nesting_builders_run_the_inner_command(tmp_path, kind):
    """The nested strings mean what the tests say: bash runs the innermost command."""
    build, _ = NESTING[kind]
    mark = tmp_path / "ran"
    subprocess.run(["bash", "-c", build(3, "touch " + shlex.quote(str(mark)))],
                   cwd=tmp_path, capture_output=True, timeout=30)
    assert mark.exists(), build(3, "touch MARK")


# ------------------------------------------------------------------------------- loops

def _words(n, last="/"):
    return " ".join(["w%d" % k for k in range(n - 1)] + [last])


def test_for_loop_words_at_the_limit_and_past_it(v, limits):
    n = limits.MAX_LOOP_WORDS
    assert_denied(v, "for d in %s; do rm -rf $d; done" % _words(n))
    assert_undecided(v, "for d in %s; do rm -rf $d; done" % _words(n + 1))
    assert_undecided(v, "for d in %s; do rm -rf $d; done" % _words(n * 10))


def test_for_loop_passes_in_sequence(v, limits):
    # loops one after another: their passes add up
    n = limits.MAX_LOOP_WORDS
    loop = "for d in %s; do a=$d; done; " % _words(n, "w")
    full, rest = divmod(limits.MAX_LOOP_PASSES, n)
    assert rest == 0
    assert_denied(v, loop * full + DENY_ROOT)
    assert_undecided(v, loop * full + "for d in w; do a=$d; done; " + DENY_ROOT)


def test_nested_for_loops_at_and_past_the_pass_limit(v, limits):
    # nested loops multiply: a outer words, b middle, c inner judge a + a*b + a*b*c bodies
    a, b, c = 2, 15, 16
    if not (a + a * b + a * b * c == limits.MAX_LOOP_PASSES and c <= limits.MAX_LOOP_WORDS):
        pytest.skip("the pass limit changed: choose other loop sizes")
    nested = ("for x in %s; do for y in %s; do for z in %s; do a=$z; done; done; done; "
              % (_words(a, "w"), _words(b, "w"), _words(c, "w")))
    assert_denied(v, nested + DENY_ROOT)
    assert_undecided(v, nested + "for q in w; do a=$q; done; " + DENY_ROOT)


def test_nested_for_loops_past_the_pass_limit_with_the_target_last(v, limits):
    w = limits.MAX_LOOP_WORDS
    cmd = "rm -rf $z"
    for var, last in (("z", "/"), ("y", "w"), ("x", "w")):
        cmd = "for %s in %s; do %s; done" % (var, _words(w, last), cmd)
    assert_undecided(v, cmd)


# ------------------------------------------------------------------------------- xargs

@pytest.mark.parametrize("n_items", [1, 16, 17, 100, 1000])
def test_xargs_judges_every_item(v, n_items):
    items = _words(n_items)
    assert_denied(v, "echo %s | xargs rm -rf" % items)
    assert_denied(v, "echo %s | xargs -n 1 rm -rf" % items)
    assert_denied(v, "echo %s | sudo xargs rm -rf" % items)


@pytest.mark.parametrize("n_items", [1, 17, 100])
def test_xargs_replace_judges_every_item(v, n_items):
    # one item per line (a quoted newline), each one xargs -I input
    lines = _words(n_items).replace(" ", "\n")
    assert_denied(v, "echo '%s' | xargs -I{} rm -rf {}" % lines)
    assert_denied(v, "echo '%s' | xargs -I X sudo rm -rf X" % lines)


def test_xargs_items_count_against_the_argument_limit(v, limits):
    items = " ".join(["x"] * limits.MAX_ARGS)
    assert_undecided(v, "echo %s / | xargs rm -rf" % items)
    assert_undecided(v, "echo %s / | xargs -I{} rm -rf {}" % items)


def test_xargs_replace_charges_each_command_before_building_it(v, limits):
    """Many replacement strings times a long item: the command one item makes is larger
    than the work limit, and the analysis stops before building it, instead of building
    it whole (tens of megabytes) and then counting it."""
    import tracemalloc
    item = "a" * (limits.MAX_LENGTH // 8)
    holes = " ".join(["{}"] * (limits.MAX_LENGTH // 8))
    command = "printf '%s\\n' | xargs -I{} echo %s" % (item, holes)
    assert len(command) < limits.MAX_LENGTH
    tracemalloc.start()
    try:
        assert_undecided(v, command)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * limits.MAX_WORK, peak


# --------------------------------------------------------------------- arguments, words

def test_arguments_at_the_limit_and_past_it(v, limits):
    # `rm -rf ITEMS... /`: -rf is the first argument
    n = limits.MAX_ARGS
    assert_denied(v, "rm -rf " + _words(n - 1))
    assert_undecided(v, "rm -rf " + _words(n))


def test_arguments_of_all_commands_count_together(v, limits):
    half = limits.MAX_ARGS // 2
    a = "ls " + " ".join(["x"] * half)
    assert_undecided(v, "%s; %s; %s" % (a, a, DENY_ROOT))


def test_redirects_count_as_arguments(v, limits):
    n = limits.MAX_ARGS
    redirects = " ".join("> o%d" % k for k in range(n + 1))
    assert_undecided(v, "echo hi %s; %s" % (redirects, DENY_ROOT))


def _doubled(n, tail):
    # a=xy, then n doublings: $a holds 2 * 2**n characters
    return "a=xy" + "; a=$a$a" * n + "; " + tail


def test_word_at_the_limit_and_past_it(v, limits):
    half = "x" * (limits.MAX_WORD // 2)
    assert_denied(v, "a=%s; echo ${a}${a}; %s" % (half, DENY_ROOT))
    assert_undecided(v, "a=%s; echo ${a}${a}x; %s" % (half, DENY_ROOT))


def test_word_doubling_past_the_limit(v, limits):
    n = (limits.MAX_WORD // 2).bit_length() - 1     # 2 * 2**n == MAX_WORD
    assert 2 * 2 ** n == limits.MAX_WORD
    # the n-th assignment word `a=` + MAX_WORD characters is one past the limit
    assert_denied(v, _doubled(n - 1, DENY_ROOT))
    assert_undecided(v, _doubled(n, DENY_ROOT))
    assert_undecided(v, _doubled(n, "echo $a; " + DENY_ROOT))


def test_expansion_work_below_and_past_the_limit(v, limits):
    half = "x" * (limits.MAX_WORD // 2)
    below = limits.MAX_WORK // limits.MAX_WORD - 1      # leaves room for `a=...` itself
    past = limits.MAX_WORK // limits.MAX_WORD + 1
    assert_denied(v, "a=%s; %s%s" % (half, "echo ${a}${a}; " * below, DENY_ROOT))
    assert_undecided(v, "a=%s; %s%s" % (half, "echo ${a}${a}; " * past, DENY_ROOT))


# ------------------------------------------------------------------------------- paths

def _deep(segments, last=".env"):
    """An absolute path of `segments` segments (as the engine counts them: the empty one
    before the leading / included), the last one `last`."""
    return "/" + "/".join(["a"] * (segments - 2) + [last])


def test_path_segments_at_the_limit_and_past_it(v, limits):
    n = limits.MAX_PATH_SEGMENTS
    at, past = _deep(n), _deep(n + 1)
    assert len(at.split("/")) == n and len(past.split("/")) == n + 1
    assert_denied(v, at, rule="secrets.read-file-tool", tool="Read", key="file_path")
    assert_undecided(v, past, rule="input.limit", tool="Read", key="file_path")
    assert_denied(v, "cat " + at, rule="secrets.read-file")
    assert_undecided(v, "cat " + past, rule="input.limit")


def test_relative_path_segments_past_the_limit(v, limits):
    deep = "/".join(["a"] * limits.MAX_PATH_SEGMENTS + [".env"])
    assert_undecided(v, deep, rule="input.limit", tool="Read", key="file_path")
    assert_undecided(v, "cat " + deep, rule="input.limit")


def test_directory_options_past_their_work_limit_are_undecided(v):
    # A directory option's value is copied into every relative path the program names
    # (`git -C DIR add a b c`): a long one over many paths is refused as a whole, never
    # judged on the paths built before the limit.
    from lighthouse._fast._rulespec import MAX_CHDIR_WORK

    d = "d" * 4000
    n = MAX_CHDIR_WORK // 4000 + 8
    assert_undecided(v, "git -C %s add %s" % (d, " ".join(["a"] * n)), rule="input.limit")
    assert_undecided(v, "git %sadd %s" % ("-C %s " % d * 15, " ".join(["a"] * 20)), rule="input.limit")
    past = "git -C %s add .env %s" % (d, " ".join(["a"] * n))
    assert_undecided(v, past, rule="input.limit")
    assert decide(v, "git -C %s add .env a" % d)[0] != "allow"


def test_path_length_at_the_limit_and_past_it(v, limits):
    n = limits.MAX_MATCH_LENGTH

    def path(length):
        p = "/" + "d" * (length - 6) + "/.env"
        assert len(p) == length
        return p
    assert_denied(v, path(n), rule="secrets.read-file-tool", tool="Read", key="file_path")
    assert_undecided(v, path(n + 1), rule="input.limit", tool="Read", key="file_path")
    assert_denied(v, "cat " + path(n), rule="secrets.read-file")
    assert_undecided(v, "cat " + path(n + 1), rule="input.limit")


@pytest.mark.parametrize("template", [
    "cat ~/.ssh/id_rsa {long}",           # the matching path before the long one
    "cat {long} ~/.ssh/id_rsa",           # and after it
    "cp ~/.ssh/id_rsa {long}",            # a read, then a path written
    "tee ~/.bashrc {long} < /dev/null",   # written paths
])
def test_a_path_past_the_length_limit_leaves_the_call_undecided_wherever_it_stands(v, limits, template):
    # every path a rule matches against is resolved before the first is matched: a
    # path past the limit makes the call undecided, never a verdict on the paths
    # before it (both twins, whatever the order of the arguments)
    long = "/" + "a" * (limits.MAX_MATCH_LENGTH + 808)
    assert_undecided(v, template.format(long=long), rule="input.limit")


def test_path_limits_apply_to_the_resolved_path(v, limits):
    # `x/..` repeated resolves away: the path judged is short
    p = WS + "/" + "x/../" * (limits.MAX_MATCH_LENGTH // 4) + ".env"
    assert len(p) > limits.MAX_MATCH_LENGTH
    assert_denied(v, p, rule="secrets.read-file-tool", tool="Read", key="file_path")
    assert_denied(v, "cat " + p, rule="secrets.read-file")


# --------------------------------------------------------------------------- inline code

def _python_system(length, quote="'", call="os.system"):
    """python3 -c running call(<a literal of `length` characters ending in rm -rf ~>)."""
    tail = "; rm -rf ~"
    body = "echo " + "x" * (length - 5 - len(tail)) + tail
    assert len(body) == length
    return "python3 -c " + shlex.quote("import os; %s(%s%s%s)" % (call, quote, body, quote))


@pytest.mark.parametrize("quote", ["'", '"'])
@pytest.mark.parametrize("call", ["os.system", "subprocess.run", "os.popen"])
def test_inline_code_literal_at_the_window_and_past_it(v, limits, quote, call):
    # the literal with its two quotes fills the window exactly
    at = limits.CODE_WINDOW - 2
    assert_denied(v, _python_system(at, quote, call), rule="fs.rm-home")
    assert_undecided(v, _python_system(at + 1, quote, call))
    assert_undecided(v, _python_system(limits.CODE_WINDOW * 4, quote, call))


def test_inline_code_list_literal_past_the_window(v, limits):
    pad = "x" * limits.CODE_WINDOW
    code = "import subprocess; subprocess.run(['bash', '-c', 'echo %s; rm -rf ~'])" % pad
    assert_undecided(v, "python3 -c " + shlex.quote(code))


def test_inline_code_of_other_interpreters_past_the_window(v, limits):
    pad = "x" * limits.CODE_WINDOW
    node = "require('child_process').execSync('echo %s; rm -rf ~')" % pad
    perl = "system('echo %s; rm -rf ~')" % pad
    assert_undecided(v, "node -e " + shlex.quote(node))
    assert_undecided(v, "perl -e " + shlex.quote(perl))


# ---------------------------------------------------------------- commands and length

@pytest.mark.parametrize("sep", ["; ", " && ", " || ", " | ", " & ", "\n"])
def test_commands_at_the_limit_and_past_it(v, limits, sep):
    n = limits.MAX_COMMANDS
    assert_denied(v, sep.join(["true"] * (n - 1) + [DENY_ROOT]))
    assert_undecided(v, sep.join(["true"] * n + [DENY_ROOT]))


def test_emitted_commands_at_the_limit_and_past_it(v, limits):
    # one command line whose substitutions emit the commands
    n = limits.MAX_COMMANDS
    assert_denied(v, "echo " + "$(true) " * (n - 2) + "$(%s)" % DENY_ROOT)
    assert_undecided(v, "echo " + "$(true) " * (n - 1) + "$(%s)" % DENY_ROOT)


def test_commands_emitted_by_a_loop_count(v, limits):
    loop = "for d in %s; do true; done; " % _words(limits.MAX_LOOP_WORDS, "w")
    loops = limits.MAX_COMMANDS // limits.MAX_LOOP_WORDS
    assert_undecided(v, loop * loops + DENY_ROOT)


def test_find_actions_past_the_command_limit_stop_at_it(impl, limits):
    # find emits one rm per root and -delete: roots times actions past the command limit
    # make the call undecided
    shell = impl[1]
    roots = " ".join("/d%d" % k for k in range(limits.MAX_COMMANDS))
    with pytest.raises(shell.LimitError):
        shell.analyze("find %s %s" % (roots, "-delete " * limits.MAX_COMMANDS), WS)
    cmds = shell.analyze("find /a /b -delete", WS)
    assert [c.program for c in cmds] == ["rm", "rm", "find"]


def test_length_at_the_limit_and_past_it(v, limits):
    n = limits.MAX_LENGTH
    for pad in ("#", " "):
        at = DENY_ROOT + ";" + pad * (n - len(DENY_ROOT) - 1)
        assert len(at) == n
        assert_denied(v, at)
        assert_undecided(v, at + pad)


def test_length_past_the_limit_with_the_denied_command_first(v, limits):
    assert_undecided(v, DENY_ROOT + "; " + "x" * limits.MAX_LENGTH)


# -------------------------------------------------------------- costly shapes, bounded

def _fill(unit, size, head):
    out, n, k = [head], len(head), 0
    while n + len(unit(k)) + 1 <= size:
        out.append(unit(k))
        n += len(unit(k)) + 1
        k += 1
    return head + " ".join(out[1:])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prog", ["mv", "cp", "rm", "rm -rf"])
def test_sixteen_thousand_arguments(v, prog):
    cmd = prog + " " + " ".join(["x"] * 16000) + " /"
    assert decide(v, cmd)[0] != "allow"


@pytest.mark.timeout(60)
def test_many_redirects_filling_the_input(v, limits):
    cmd = _fill(lambda k: "> o%d" % k, limits.MAX_LENGTH - 20, "echo hi ")
    assert decide(v, cmd)[0] != "allow"


@pytest.mark.timeout(60)
def test_doubling_forty_times(v):
    assert decide(v, _doubled(40, "echo $a"))[0] != "allow"
    assert_undecided(v, _doubled(40, DENY_ROOT))


@pytest.mark.timeout(60)
def test_eight_nested_sixteen_word_loops(v, limits):
    cmd = "rm -rf $x7"
    for k in range(8):
        cmd = "for x%d in %s; do %s; done" % (k, _words(16, "/"), cmd)
    assert_undecided(v, cmd)


@pytest.mark.timeout(60)
def test_env_split_repeated_filling_the_input(v, limits):
    cmd = "env -S " * ((limits.MAX_LENGTH - 20) // 7) + DENY_ROOT
    assert_undecided(v, cmd)


@pytest.mark.timeout(60)
def test_wrappers_filling_the_input(v, limits):
    for w in ("sudo", "env", "xargs", "timeout 1", "nice"):
        cmd = (w + " ") * ((limits.MAX_LENGTH - 20) // (len(w) + 1)) + DENY_ROOT
        assert_undecided(v, cmd)


@pytest.mark.timeout(60)
def test_nesting_filling_the_input(v, limits):
    k = (limits.MAX_LENGTH - 20) // 4
    assert_undecided(v, "( " * k + DENY_ROOT + " )" * k)
    assert_undecided(v, "{ " * k + DENY_ROOT + "; }" * k)
    third = limits.MAX_LENGTH // 3
    assert decide(v, "$(" * third + ")" * third)[0] != "allow"
    assert_undecided(v, "eval " * ((limits.MAX_LENGTH - 20) // 5) + DENY_ROOT)


# ------------------------------------------------------- files that run later (issue 12)

def _write(v, path, content):
    d = v.check("Write", {"file_path": path, "content": content}, cwd=WS)
    return d.verdict, d.rule_id


def test_script_content_at_the_limit_is_judged_and_past_it_undecided(v):
    from lighthouse._fast._content import MAX_CONTENT
    head = "#!/bin/sh\n" + DENY_ROOT + "\n"
    filler = "echo " + "a" * 200 + "\n"
    at = head + filler * ((MAX_CONTENT - len(head)) // len(filler))
    assert len(at) <= MAX_CONTENT
    assert _write(v, WS + "/scripts/x.sh", at) == ("deny", "fs.rm-system")
    past = at + "x" * (MAX_CONTENT + 1 - len(at))
    assert _write(v, WS + "/scripts/x.sh", past) == ("ask", "content.limit")


def test_unparsed_fragment_lines_at_the_limit_are_judged_and_past_it_undecided(v):
    from lighthouse._fast._content import MAX_CONTENT_LINES
    lines = ["echo 'unterminated", DENY_ROOT] + ["echo ok"] * (MAX_CONTENT_LINES - 2)
    d = v.check("Edit", {"file_path": WS + "/a.sh", "old_string": "x", "new_string": "\n".join(lines)}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("deny", "fs.rm-system"), d
    lines.append("echo ok")
    d = v.check("Edit", {"file_path": WS + "/a.sh", "old_string": "x", "new_string": "\n".join(lines)}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "content.limit"), d


def test_read_only_sql_at_the_limit_is_allowed_and_past_it_asks(v):
    from lighthouse._fast._sql import MAX_SQL
    head = "SELECT "
    sql = head + "1," * ((MAX_SQL - len(head) - 1) // 2) + "1"
    assert len(sql) <= MAX_SQL
    assert decide(v, "psql -h db.example -c '%s'" % sql) == ("allow", "db.local-client")
    sql = head + "1," * ((MAX_SQL - len(head)) // 2 + 1) + "1"
    assert len(sql) > MAX_SQL
    assert decide(v, "psql -h db.example -c '%s'" % sql) == ("ask", "db.remote-client")


# ------------------------------------------------------------------ memos per name

def _rule(rule_id, verdict, **keys):
    spec = {"id": rule_id, "verdict": verdict, "reason": rule_id, "is_bash": True, "tools": None}
    spec.update(keys)
    return spec


def test_the_rule_lists_an_engine_keeps_per_name_are_bounded(impl):
    # An engine keeps the rule list of each program and tool name it meets, at most
    # _engine_shared.MAX_RULE_LISTS of each (the agent names them); past the bound a
    # name's list is built again on each call, the same list, so the answers do not
    # change with how many names came before.
    from lighthouse._fast._engine_shared import MAX_RULE_LISTS
    _, _, engine = impl
    e = engine.Engine([
        _rule("git.allow", "allow", program=["git"]),
        _rule("py.ask", "ask", program=["py*"]),
        _rule("any.allow", "allow"),
        {"id": "read.deny", "verdict": "deny", "reason": "read.deny", "is_bash": False, "tools": ["Re*"]},
    ])
    names = ["py%d" % i for i in range(MAX_RULE_LISTS + 50)]
    for prog in names + names[:10]:
        assert [r.id for r in e.rules_for_program(prog)] == ["py.ask", "any.allow"], prog
        assert [r.id for r in e.rules_for_tool("Re" + prog)] == ["read.deny"], prog
    assert len(e._prog_cache) == MAX_RULE_LISTS and len(e._tool_cache) == MAX_RULE_LISTS
    assert [r.id for r in e.rules_for_program("git")] == ["git.allow", "any.allow"]
    assert e.rules_for_tool("Write") == ()
    last = names[-1]
    assert e.evaluate("Bash", {"command": "%s -c 1" % last}, WS, None)[:2] == (engine.ASK, "py.ask")
    assert e.evaluate("Bash", {"command": "git status"}, WS, None)[:2] == (engine.ALLOW, "git.allow")
    assert e.evaluate("Re" + last, {"file_path": "/etc/hosts"}, WS, None)[:2] == (engine.DENY, "read.deny")
    assert e.evaluate("Write", {"file_path": "x", "content": ""}, WS, None)[0] == engine.MISS
