"""A project built, tested or run where it may have been put unreviewed.

`bash /tmp/x.sh` asks because nobody reviewed the script; `make` in /tmp/x runs that
directory's Makefile just as unreviewed, and so do `npm test` (the package file's
scripts), `cargo build` (build.rs), `pytest` (conftest.py) and their kind. Where the
command works is the call's cwd, the directory an earlier `cd`/`pushd` moved to (in the
same shell: a brace group's `cd` holds, a subshell's ends with it), or the directory or
build file a directory option names (`make -C`, `npm --prefix`, `mvn -f`, `cargo
--manifest-path`), in every spelling the programs' option parsers accept. The matcher
key is `workdir_scratch` (lighthouse._fast._rulespec.test_workdir_scratch); its rules
are rexec.project-in-scratch and rexec.project-script-in-scratch.

Each table runs on both implementations (conftest's `validator`, shared).
"""

from __future__ import annotations

import pytest

from lighthouse._fast._rulespec import _option_readings
from lighthouse._fast._rulespec import test_workdir_scratch as workdir_in_scratch

WS = "/home/dev/app"
HOME = "/home/dev"

CAUGHT = [
    # the working directory set by cd, pushd, a brace group, a downloads directory
    "cd /tmp/x && make",
    "cd /tmp/x; make install",
    "pushd /var/tmp/src && make && popd",
    "{ cd /tmp/x; } && make",
    "cd ~/Downloads/tool-1.2 && make install",
    "cd /home/dev/Downloads/tool && ./configure --prefix=$HOME/.local; make",
    "cd $HOME/Downloads/app && npm test",
    "cd /dev/shm/w && pytest",
    "cd /tmp && cd repro && npm run build",
    "cd /tmp/x && cargo run",
    "cd /tmp/x && go generate ./...",
    "cd /tmp/x && ./gradlew build",
    # a directory option, in every spelling
    "make -C /tmp/x",
    "make -C/tmp/x all",
    "make --directory=/tmp/x",
    "make --directory /var/tmp/x test",
    "make -sC /tmp/x",
    "make -dC/tmp/x",
    "make -d -C /tmp/x",
    "make -j4 -C ~/Downloads/x",
    "ninja -C /tmp/build",
    "just -d /tmp/x build",
    "task --dir /tmp/x build",
    "gradle -p /tmp/x build",
    "npm --prefix /tmp/x run build",
    "npm run build --prefix ~/Downloads/x",
    "pnpm -C /tmp/x test",
    "yarn --cwd /tmp/x run start",
    "bun --cwd /tmp/x run dev",
    "go -C /tmp/x test ./...",
    "uv run --directory /tmp/x main.py",
    "poetry -C /tmp/x run pytest",
    # a build file by its path
    "make -f /tmp/Makefile",
    "make --file=/home/dev/Downloads/x/Makefile",
    "mvn -f /tmp/x/pom.xml package",
    "cargo build --manifest-path /tmp/x/Cargo.toml",
    "cargo test --manifest-path=/var/tmp/x/Cargo.toml",
    "just --justfile /tmp/justfile",
    "task -t /tmp/Taskfile.yml",
    "rake -f /tmp/Rakefile",
    "nox -f /tmp/noxfile.py",
    "gradle -b /tmp/x/build.gradle build",
    "pytest --rootdir=/tmp/x",
    "pytest -c /tmp/x/pytest.ini",
    # tests, programs and packages whose files lie there
    "pytest /tmp/x",
    "go run /tmp/main.go",
    "go generate ~/Downloads/tool/...",
    "pip install /tmp/x",
    "pip install requests /tmp/x",
    "pip install \"$TMPDIR/x\"",
    "npm i $HOME/Downloads/x.tgz",
    "uv pip install /var/tmp/pkg",
    "cd /tmp/pkg && pip install .",
    "cd ~/Downloads && npm install ./tool.tgz",
    # find -execdir and -okdir run their command in the directory of each match
    "find /tmp/x -name Makefile -execdir make \\;",
    "find /tmp/x -okdir sh build.sh \\;",
    # runners' own working-directory options
    "parallel --wd /tmp/x make ::: a",
    "parallel --workdir=/tmp/x 'npm test' ::: 1",
    "tmux new-window -c /tmp/x make",
    "tmux split-window -h -c ~/Downloads/t 'npm test'",
    # through wrappers
    "nice make -C /tmp/x",
    "timeout 60 npm --prefix /tmp/x test",
    "env CI=1 make -C /tmp/x",
]

ROUTINE = [
    "make",
    "make -C build test",
    "make -C ../lib",
    "make -f Makefile.ci lint",
    "make -j8 all",
    "cd build && make",
    "(cd /tmp/x && ls) && make",
    "npm test",
    "npm --prefix packages/web run build",
    "cd /tmp/repro && npm view lodash version",
    "cd /tmp && ls -la",
    "cargo build --release",
    "go test ./...",
    "pytest --basetemp=/tmp/pt -q tests",
    "pytest -p no:cacheprovider tests",
    "mvn -f pom.xml -q package",
    "cd \"$(git rev-parse --show-toplevel)\" && make",
    "make -- -C /tmp/x",
    "pip install requests",
    "pip install -e .",
    "cd /tmp && pip install requests",
    "npm install --cache /tmp/npm-cache",
    "go build -o /tmp/bin/app ./cmd/app",
    "go test -coverprofile=/tmp/c.out ./...",
    "pip download -d /tmp/wheels requests==2.32.3",
    "find . -name Makefile -execdir make \\;",
    "find . -name '*.pyc' -execdir rm {} +",
    "tmux new-session -d -s w -c . 'npm run dev'",
    "parallel -j4 make -C {} ::: lib app",
]


@pytest.mark.parametrize("command", CAUGHT)
def test_project_in_scratch_asks(validator, command):
    d = validator.check("Bash", {"command": command}, cwd=WS, home=HOME)
    assert d.verdict == "ask", (command, d.rule_id, d.reason)
    assert d.rule_id in ("rexec.project-in-scratch", "rexec.project-script-in-scratch",
                         "rexec.program-from-scratch", "rexec.tests-in-scratch",
                         "pkg.install-from-scratch", "pkg.install-local-in-scratch"), (command, d.rule_id)


@pytest.mark.parametrize("command", ROUTINE)
def test_project_elsewhere_stays_allowed(validator, command):
    d = validator.check("Bash", {"command": command}, cwd=WS, home=HOME)
    assert d.verdict == "allow", (command, d.rule_id, d.reason)


@pytest.mark.parametrize("command,expected", [
    ("make install", "allow"),
    ("cd sub && make", "allow"),
    ("make -C sub test", "allow"),
    ("npm --prefix web run build", "allow"),
    ("cd /tmp/other && make", "ask"),
    ("make -C ../other", "ask"),
    ("cargo build --manifest-path ~/Downloads/x/Cargo.toml", "ask"),
])
def test_a_workspace_in_a_temporary_directory_is_the_workspace(validator, command, expected):
    """The call's cwd is the workspace, wherever it is: a workspace under /tmp builds as
    any other; a sibling directory of it in /tmp is not the workspace."""
    d = validator.check("Bash", {"command": command}, cwd="/tmp/proj", home=HOME)
    assert d.verdict == expected, (command, d.rule_id, d.reason)


@pytest.mark.parametrize("args,expected", [
    (["-C", "d"], ["d"]),
    (["-Cd"], ["", "d"]),
    (["--directory=d"], ["d"]),
    (["--directory", "d"], ["d"]),
    (["-sC", "d"], ["d"]),
    (["-dC/x"], ["", "C/x", "/x"]),
    (["-C", "-f", "F"], ["-f", "F"]),
    (["--", "-C", "d"], []),
    (["x", "--other=d", "-q"], []),
])
def test_option_readings(args, expected):
    assert _option_readings(frozenset({"-C", "--directory", "-d", "-f"}), args) == expected


class _Cmd:
    def __init__(self, cwd, args):
        self.cwd = cwd
        self.args = args


def test_unknown_directory_is_not_scratch():
    assert not workdir_in_scratch(frozenset({"-C"}), _Cmd("*", ["-C", "x"]), WS)
    assert workdir_in_scratch(frozenset(), _Cmd("~/Downloads", []), WS)
    assert workdir_in_scratch(frozenset(), _Cmd("/tmp", []), WS)
    assert not workdir_in_scratch(frozenset(), _Cmd("/tmpfoo", []), WS)
    assert not workdir_in_scratch(frozenset(), _Cmd("/tmp/ws/sub", []), "/tmp/ws")
    assert workdir_in_scratch(frozenset(), _Cmd("/tmp/wsx", []), "/tmp/ws")


def test_option_reading_is_linear():
    """A cluster of names a million letters long, and a million `-C` words: each is read
    in one pass (two slices of the cluster at most, one value a word)."""
    names = frozenset({"-C", "-d"})
    cluster = "-" + "C" * 1_000_000
    assert len(_option_readings(names, [cluster, "/tmp/x"])) == 2
    words = ["-C"] * 1_000_000
    assert len(_option_readings(names, words)) == 1_000_000
