"""Which implementation is loaded, and that a missing compiled module is noticed."""

import os
import subprocess
import sys

import pytest

import lighthouse
from lighthouse import _fast

from conftest import EXPECT_COMPILED, IMPLS, ROOT


def test_compiled_module_loaded_when_expected():
    # Fails loudly when the Cython build silently went missing.
    if EXPECT_COMPILED:
        assert _fast.COMPILED, "compiled extension expected but the pure twin was loaded"
        assert "compiled" in IMPLS
        assert lighthouse.IMPLEMENTATION == "compiled"
        assert _fast.engine.__name__.endswith("_engine_c")
        assert _fast.shell.__name__.endswith("_shell_c")
        assert _fast.wire.__name__.endswith("_wire_c")
        assert _fast.shape.__name__.endswith("_shape_c")
        assert set(_fast.shape_implementations()) == {"pure", "compiled"}
        for name in _fast.shape.__all__:
            assert hasattr(_fast.shape, name) and hasattr(_fast.shape_implementations()["pure"], name)
        # the shared argv readers and the handlers of what a command runs besides itself
        # run compiled in the compiled build, from the same source
        from lighthouse._fast import _shell_shared, _shell_shared_c
        assert _fast.shell.run_find_actions is _shell_shared_c.run_find_actions
        assert _fast.shell.side_actions is _shell_shared_c.side_actions
        assert type(_shell_shared_c.find_actions) is not type(_shell_shared.find_actions)
        assert type(_shell_shared_c.side_actions) is not type(_shell_shared.side_actions)
        assert _shell_shared_c.SHELL_API == _shell_shared.SHELL_API
        # so does the content of files that run later (lighthouse._fast._content)
        from lighthouse._fast import _content, _content_c, _engine_c
        assert _engine_c.content_verdict is _content_c.content_verdict
        assert type(_content_c.file_kind) is not type(_content.file_kind)
        assert _content_c.MAX_CONTENT == _content.MAX_CONTENT
        # so do the readers of what programs do on the side (lighthouse._fast._side)
        from lighthouse._fast import _side, _side_c
        assert type(_side_c.side_effects) is not type(_side.side_effects)
        assert _side_c.SIDE_PROGRAMS == _side.SIDE_PROGRAMS
        # and the reader of inline interpreter code, which each analyser's Kernel hands
        # to the shared handlers
        from lighthouse._fast import _inline, _inline_c, _shell_c, _shell_py
        assert type(_inline_c.scan) is not type(_inline.scan)
        assert _shell_c.scan_inline is _inline_c.scan and _shell_py.scan_inline is _inline.scan
        # and what the engines read of a tool call besides its paths (call and input
        # checks, field text, SQL without literals), which the compiled engine cimports
        from lighthouse._fast import _engine_py, _toolinput, _toolinput_c
        assert type(_toolinput_c.input_error) is not type(_toolinput.input_error)
        assert type(_toolinput_c.strip_sql_literals) is not type(_toolinput.strip_sql_literals)
        assert _engine_py.input_error is _toolinput.input_error
        assert _engine_py.call_error is _toolinput.call_error
        # and the parsers' stand-alone scanners (arithmetic ends, redirection operators,
        # $'...' strings, heredoc bodies), which the compiled parser cimports
        from lighthouse._fast import _shell_scan, _shell_scan_c
        assert type(_shell_scan_c.ansi_c) is not type(_shell_scan.ansi_c)
        assert type(_shell_scan_c.heredoc_body) is not type(_shell_scan.heredoc_body)
        assert _shell_scan_c.REDIRECT_OPS == _shell_scan.REDIRECT_OPS
        assert _shell_py.ansi_c is _shell_scan.ansi_c and _shell_py.redirect_token is _shell_scan.redirect_token
        # and what a command's view reads with its program's spec (old-style flags,
        # conditional writes, paths under a directory option), which the compiled engine
        # cimports
        from lighthouse._fast import _view, _view_c
        assert type(_view_c.unbundle) is not type(_view.unbundle)
        assert type(_view_c.chdir_rebased) is not type(_view.chdir_rebased)
        assert _engine_c.chdir_rebased is _view_c.chdir_rebased
        assert _engine_py.unbundle is _view.unbundle and _engine_py.conditional_writes is _view.conditional_writes
    else:
        assert not _fast.COMPILED
        assert _fast.shape.__name__.endswith("_shape_py")


def _run(code, **env):
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=60, check=True).stdout.strip()


def test_env_var_selects_pure_twin():
    out = _run("import lighthouse; print(lighthouse.IMPLEMENTATION)", LIGHTHOUSE_NO_EXTENSIONS="1")
    assert out == "pure"


def test_env_var_zero_does_not_disable():
    out = _run("import lighthouse._fast as f; print(f.NO_EXTENSIONS)", LIGHTHOUSE_NO_EXTENSIONS="0")
    assert out == "False"


def test_both_implementations_export_the_same_api(impl):
    _, shell, engine = impl
    pure_shell, pure_engine = IMPLS["pure"]
    for name in ("analyze", "SimpleCommand", "ShellError", "join_path", "MAX_DEPTH", "MAX_LENGTH"):
        assert hasattr(shell, name), name
    for name in ("Engine", "Checker", "Decision", "cache_key", "glob_match", "path_forms",
                 "VERDICTS", "ALLOW", "ASK", "DENY", "MISS"):
        assert hasattr(engine, name), name
    from lighthouse._fast._shell_shared import SHELL_API
    assert list(shell.__all__) == list(SHELL_API)
    for name in SHELL_API:
        assert hasattr(shell, name), name
    assert shell.ShellError is pure_shell.ShellError
    from lighthouse._fast import _engine_shared
    assert list(engine.__all__) == list(_engine_shared.ENGINE_API)
    for name in _engine_shared.ENGINE_API:
        assert hasattr(engine, name), name
    for name in ("ALLOW", "ASK", "DENY", "MISS", "MAX_PATH_SEGMENTS", "MAX_MATCH_LENGTH",
                 "MAX_TOOL_LENGTH", "MAX_INPUT_DEPTH"):
        assert getattr(engine, name) == getattr(_engine_shared, name), name
    assert engine.VERDICTS == pure_engine.VERDICTS
    assert shell.MAX_DEPTH == pure_shell.MAX_DEPTH


def test_both_wire_decoders_export_the_same_api():
    from lighthouse._fast import wire_implementations
    wires = wire_implementations()
    assert "compiled" in wires or not EXPECT_COMPILED
    for mod in wires.values():
        for name in ("WireCall", "WireError", "parse_tool_call", "parse_tool_call_batch", "finish_decision"):
            assert hasattr(mod, name), (mod.__name__, name)
        assert sorted(mod.__all__) == sorted(wires["pure"].__all__)


@pytest.mark.skipif(not EXPECT_COMPILED, reason="pure mode: nothing compiled to profile")
def test_pgo_training_workload_runs_on_the_compiled_build():
    # `make install` profiles the extensions on this workload (tools/pgo.py); a workload
    # that no longer runs would fail the install, so it is checked here on its own.
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "pgo.py"), "--train", "--passes", "1"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "pgo: trained on" in done.stdout


def test_path_forms_agree_with_the_reference_around_normpath(impl):
    # The compiled path_forms skips normpath for a normal absolute path and for `~/`
    # before one (what normpath leaves as it is); on paths either side of that test,
    # with and without a home, its forms are the reference's, and so are its limits.
    _, _, engine = impl
    pure_engine = IMPLS["pure"][1]
    words = ["", ".", "..", "a", "./a", "a/./b", "../a", "a//b", "~", "~/", "~/a", "~/a/", "~//a", "~/./a",
             "~/a/../b", "~/..", "~/../..", "~user/x", "~/.ssh/id_rsa", "/", "//", "/a", "/a/", "/a//b",
             "/./a", "/a/..", "/a/b/c.txt", "~/" + "x/" * 300, "~/" + "x/" * 300 + "y", "/" + "y" * 5000,
             "~/" + "z" * 5000]
    cwds = ["", "/", "/home/dev/app", "/home/dev/app/", "/home/dev/./app", "rel/dir", "~/app"]
    homes = [None, "", "/home/dev", "/home/dev/", "/root", "/home/a/../dev"]
    checked = 0
    for word in words:
        for cwd in cwds:
            for home in homes:
                results = []
                for mod in (engine, pure_engine):
                    try:
                        results.append(mod.path_forms(word, cwd, home, cwd))
                    except Exception as e:  # noqa: BLE001 - both raise the same error or neither
                        results.append(type(e).__name__)
                assert results[0] == results[1], (word, cwd, home)
                checked += 1
    assert checked == len(words) * len(cwds) * len(homes)
