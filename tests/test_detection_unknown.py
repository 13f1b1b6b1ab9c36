"""Issue 12, round two: writes and deletes whose target the analysis cannot see, and
shell functions' positional parameters.

A write, delete or overwrite whose target holds an unknown value (a variable never
assigned in the input, a command's output, a variable assigned from one, items piped
into xargs or parallel) is asked about (fs.write-unknown-target), while a target the
input makes known (an assignment of a literal, $TMPDIR, `mktemp`) is judged as the path
it is. A function defined and called in the same input runs with its positional
parameters bound to the call's arguments, or unknown when they cannot be known. Each
table runs on both implementations (conftest's `validator`, shared).
"""

from __future__ import annotations

import pytest

WS = "/home/dev/app"


def verdict(validator, command):
    d = validator.check("Bash", {"command": command}, cwd=WS)
    return d.verdict, d.rule_id, d.reason


# ----------------------------------------------------- unknown targets

UNKNOWN_TARGETS = [
    # (command, verdict, rule id or "")
    ('rm "$OLD_ARTIFACT"', "ask", "fs.write-unknown-target"),
    ('unlink "${LOCKFILE}"', "ask", "fs.write-unknown-target"),
    ('shred -u "$KEYFILE"', "ask", "fs.write-unknown-target"),
    ('cp -f config.example "$CONFIG_PATH"', "ask", "fs.write-unknown-target"),
    ('install -m 600 key.pem "$DEST"', "ask", "fs.write-unknown-target"),
    ('mv -f out.bin "$(cat target.txt)"', "ask", "fs.write-unknown-target"),
    ('printf "%s\\n" done >> "$STATE_FILE"', "ask", "fs.write-unknown-target"),
    ('date > "$(git config --get my.stamp)"', "ask", "fs.write-unknown-target"),
    ('> "$TRUNCATE_ME"', "ask", "fs.write-unknown-target"),
    ('uname -a | tee -a "$REPORT"', "ask", "fs.write-unknown-target"),
    ('cat paths.txt | xargs shred -u', "ask", "fs.write-unknown-target"),
    ('git ls-files -d | xargs -r unlink', "ask", "fs.write-unknown-target"),
    ('cut -d, -f2 manifest.csv | xargs -I % cp template %', "ask", "fs.write-unknown-target"),
    ('grep -l TODO -r . | parallel mv {} {}.bak', "ask", "fs.write-unknown-target"),
    ('T=$(jq -r .out cfg.json); rm -f "$T"', "ask", "fs.write-unknown-target"),
    ('export DEST="$(pwd -P)/$NAME"; cp a.txt "$DEST"', "ask", "fs.write-unknown-target"),
    ('OUT="${BASE}.bak"; mv data.db "$OUT"', "ask", "fs.write-unknown-target"),
    # a help request is still a command that writes where its output is redirected
    ('rm --help > "$NOTES"', "ask", "fs.write-unknown-target"),
    ('git help -a >> "$(cat target.txt)"', "ask", "fs.write-unknown-target"),
    # unknown targets that are still worse than unknown keep their verdict
    ('rm -rf --no-preserve-root "$TARGET"', "deny", "fs.rm-no-preserve-root"),
    ('rm -rf "$PREFIX"/*', "ask", ""),
]

ROUTINE_TARGETS = [
    'rm -rf "$TMPDIR/pytest-of-dev"',
    'OUT=dist; rm -rf "$OUT" && mkdir -p "$OUT"',
    'T=$(jq -r .out cfg.json); T=build/out.json; rm -f "$T"',
    'echo "$PATH" | tr : "\\n"',
    'printf "%s\\n" "$HOSTNAME"',
    'make -j"$(nproc)" 2> /dev/null',
    'cp "$SRC_FILE" build/',
    'mkdir -p "$(dirname build/a/b.txt)" "$OUT_DIR"',
    'touch "$STAMP"',
    'D=$(mktemp -d); cp -r tests/fixtures "$D"/ && rm -rf "$D"',
    'f=$(mktemp -t report.XXXXXX); pytest -q > "$f"; tail -5 "$f"',
    'for f in *.orig; do rm -- "$f"; done',
    'find . -name "*.pyc" | xargs rm -f',
    'git describe --tags > VERSION',
    'cp app.db "backup/app-$(date +%s).db"',
]


@pytest.mark.parametrize("command,expected,rule", UNKNOWN_TARGETS)
def test_unknown_targets_are_not_allowed(validator, command, expected, rule):
    got, rule_id, reason = verdict(validator, command)
    assert got == expected, (command, rule_id)
    if rule:
        assert rule_id == rule, command
    if rule_id == "fs.write-unknown-target":
        assert "cannot see" in reason


@pytest.mark.parametrize("command", ROUTINE_TARGETS)
def test_known_targets_stay_routine(validator, command):
    got, rule_id, _ = verdict(validator, command)
    assert got == "allow", (command, rule_id)


@pytest.mark.parametrize("command,dynamic", [
    ('echo x > "$X"', True),
    ('echo x > out.txt', False),
    ('echo "$X" > out.txt', True),
    ('X=$(cat f); echo hi > "$X"', True),
    ('X=$(cat f); X=out.txt; echo hi > "$X"', False),
    ('X=out.txt; echo hi > "$X"', False),
    ('declare Y="$(cat f)"; echo hi > "$Y"', True),
])
def test_dynamic_marks_the_command(impl, command, dynamic):
    """A redirect target or a variable assigned an unknown value makes the command
    dynamic (the mark rules read), on both analysers alike."""
    cmds = impl[1].analyze(command, WS)
    echo = [c for c in cmds if c.program == "echo"]
    assert len(echo) == 1
    assert echo[0].dynamic is dynamic


def test_mark_is_not_a_variable(impl):
    """The mark cannot be reached from the input: a name cannot hold a NUL byte."""
    cmds = impl[1].analyze('X=$(cat f); Y=build; rm -rf "$Y"', WS)
    assert [c.args for c in cmds if c.program == "rm"] == [["-rf", "build"]]
    assert not [c for c in cmds if c.program == "rm"][0].dynamic


@pytest.mark.parametrize("args,path", [
    ([], "/tmp/tmp.XXXXXXXXXX"),
    (["-d"], "/tmp/tmp.XXXXXXXXXX"),
    (["-d", "-t", "build.XXXX"], "/tmp/build.XXXX"),
    (["-p", "/home/dev"], None),
    (["--tmpdir=/srv"], None),
    (["/home/dev/x.XXX"], None),
    (["a.XXX", "b.XXX"], None),
])
def test_mktemp_path(args, path):
    from lighthouse._fast._shell_shared import mktemp_path
    got = mktemp_path(args)
    assert (got.rstrip("\n") if got is not None else None) == path


def test_mktemp_elsewhere_is_unknown(validator):
    got, rule_id, _ = verdict(validator, 'D=$(mktemp -d -p "$HOME"); rm -rf "$D"')
    assert got == "ask", rule_id


# ----------------------------------------------------- function arguments

FUNCTIONS = [
    ('wipe() { rm -rf "$1"; }; wipe ~', "deny"),
    ('wipe() { rm -rf "$1"; }; wipe /etc', "deny"),
    ('clean() { rm -rf "$2"; }; clean build ~/.ssh', "deny"),
    ('nuke() { rm -rf "$@"; }; nuke /usr', "deny"),
    ('g() { local d="$1"; rm -rf "$d"; }; g /var/lib', "deny"),
    ('outer() { inner "$1"; }; inner() { rm -rf "$1"; }; outer ~', "deny"),
    ('w() { echo key >> "$1"; }; w ~/.ssh/authorized_keys', "not-allow"),
    # arguments that cannot be known: the parameter is unknown
    ('wipe() { rm -rf "$1"; }; wipe "$(cat dir.txt)"', "ask"),
    ('wipe() { rm -rf "$@"; }; wipe build ~', "ask"),
    ('wipe() { rm -rf $*; }; wipe build', "ask"),
    ('wipe() { shift; rm -rf "$1"; }; wipe build ~', "ask"),
    ('wipe() { set -- /; rm -rf "$1"; }; wipe build', "ask"),
    ('wipe() { rm -rf "$1"; }; wipe', "ask"),
    # routine functions stay routine
    ('clean() { rm -rf "$1"; }; clean build', "allow"),
    ('t() { set -e; pytest -q "$1"; }; t tests/test_api.py', "allow"),
    ('b() { mkdir -p "$1" && cp README.md "$1/"; }; b dist', "allow"),
    ('f() { echo "$# args: $1"; }; f one', "allow"),
]


@pytest.mark.parametrize("command,expected", FUNCTIONS)
def test_function_arguments_are_bound(validator, command, expected):
    got, rule_id, _ = verdict(validator, command)
    if expected == "not-allow":
        assert got != "allow", (command, rule_id)
    else:
        assert got == expected, (command, rule_id)


def test_positional_parameters_do_not_leak(impl):
    """After the call the caller's parameters are back (unknown at the top level)."""
    cmds = impl[1].analyze('f() { :; }; f build; rm -rf "$1"', WS)
    rm = [c for c in cmds if c.program == "rm"][0]
    assert rm.dynamic


def test_function_sees_its_own_arguments(impl):
    cmds = impl[1].analyze('f() { echo "$1" "$2" "$#"; }; f a b; f c', WS)
    assert [c.args for c in cmds if c.program == "echo"] == [["a", "b", "2"], ["c", "*", "1"]]


def test_many_calls_with_many_arguments_are_bounded(validator):
    """Binding is linear in the arguments; a huge call is a limit, never an allow."""
    args = " ".join(["~"] * 4000)
    calls = "; ".join(["f " + args] * 200)
    got, _, _ = verdict(validator, 'f() { rm -rf "$1"; }; ' + calls)
    assert got != "allow"


@pytest.mark.parametrize("command,items", [
    ("find . -name '*.pyc' | xargs rm -f", ["./**/*.pyc"]),
    ("find src tests -name '*.orig' -print0 | xargs -0 rm", ["src/**/*.orig", "tests/**/*.orig"]),
    ("find build -path '*/tmp/*' | xargs rm -rf", ["build/**"]),
])
def test_name_filtered_find_feeds_known_paths(impl, command, items):
    """What a find narrowed by a name or path pattern prints is its matches under its
    roots: the fed command is judged on those, not on an unknown item."""
    rm = [c for c in impl[1].analyze(command, WS) if c.program == "rm"][0]
    assert not rm.dynamic
    assert [a for a in rm.args if not a.startswith("-")] == items


@pytest.mark.parametrize("command", [
    "find . | xargs rm -f",
    "find . -type f -mtime +3 | xargs rm",
    "find . -name '*.log' -exec cat {} + | xargs rm",
    "find . -name '*.log' -printf '%h\\n' | xargs rm -rf",
])
def test_unfiltered_find_feeds_unknown_items(impl, command):
    rm = [c for c in impl[1].analyze(command, WS) if c.program == "rm"][0]
    assert rm.dynamic


# ----------------------------------------------------- listeners, direnv

SMALLER = [
    ("nc -l 127.0.0.1 8080", "allow", "exfil.network-read"),
    ("nc -lk localhost 9000", "allow", "exfil.network-read"),
    ("nc -l ::1 9000", "allow", "exfil.network-read"),
    ("nc -l 8080", "ask", "rexec.listener-netcat-address"),
    ("nc -l 10.1.2.3 8080", "ask", "rexec.listener-netcat-address"),
    ("nc -l 127.0.0.1.nip.io 8080", "ask", "rexec.listener-netcat-address"),
    ("nc -lvnp 4444", "ask", "rexec.listener-netcat"),
    ("nc -l 127.0.0.1 8080 -e /bin/bash", "deny", "rexec.netcat-exec"),
    ("direnv allow", "ask", "rexec.direnv-allow"),
    ("cd ../svc && direnv allow .", "ask", "rexec.direnv-allow"),
    ("direnv grant ~/src/other", "ask", "rexec.direnv-allow"),
    ("direnv status", "allow", ""),
    ("direnv deny", "allow", ""),
]


@pytest.mark.parametrize("command,expected,rule", SMALLER)
def test_loopback_listener_and_direnv(validator, command, expected, rule):
    got, rule_id, _ = verdict(validator, command)
    assert got == expected, (command, rule_id)
    if rule:
        assert rule_id == rule, command


@pytest.mark.parametrize("command", [
    'X=build; read X < answer.txt; rm -rf "$X"',
    'X=build; read -r -p "dir? " X; rm -rf "$X"',
    'X=build; mapfile -t X < dirs.txt; rm -rf "$X"',
    'X=build; unset X; rm -rf "$X"',
])
def test_builtins_that_change_a_variable_make_it_unknown(validator, command):
    got, rule_id, _ = verdict(validator, command)
    assert got == "ask", (command, rule_id)


def test_read_of_another_name_keeps_the_value(validator):
    got, rule_id, _ = verdict(validator, 'X=build; read Y < answer.txt; rm -rf "$X"')
    assert got == "allow", rule_id


# ----------------------------------------------------- unknown options and subcommands

# An unknown word where a program reads its options or its subcommand could be any of
# them: read as each word a rule or the program's table names, the call must not become
# an allow when one of those readings is a call a rule asks about or denies.
UNKNOWN_OPTIONS = [
    # (command, readings a rule decides, one of which the reason names, or None)
    ('git "$SUB" --hard', None),
    ('git $(cat .mode) -f origin main', None),
    ('git push "$F" origin main', None),
    ('terraform "$ACTION" -auto-approve', None),
    ('docker "$X" prune -af --volumes', None),
    ('npm "$CMD" --force', None),
    ('gh repo "$VERB" org/app --yes', None),
    # an option whose value the program writes
    ('sort "$O" /etc/passwd', ("-o", "--output")),
    ('curl "$O" ~/.bashrc https://example.com/x', ("-o", "--output", "--alt-svc", "-D", "--dump-header",
                                                   "--trace", "--trace-ascii", "--stderr", "-c",
                                                   "--cookie-jar")),
    ('gcc "$FLAG" /usr/local/bin/tool main.c', ("-o",)),
    ('tree "$OPT" /etc/motd', ("-o",)),
    # a mode flag clustered with the option it writes through (`tar cf FILE`)
    ('tar "$OP" /etc/cron.d/job', None),
    ('tar -c "$F" /etc/profile.d/x.sh src/', ("-f", "--file")),
    # an option whose name holds the unknown
    ('sort -"$X" /etc/passwd data.txt', ("-o", "--output")),
    # an unknown at the end, in the command's head (after the subcommand and options
    # that take a value): a reading some rule denies is not an allow
    ('git reset "$MODE"', ("--hard", "--merge", "--keep")),
    ('git reset $MODE', ("--hard", "--merge", "--keep")),
    ('git -C app reset "$MODE"', ("--hard", "--merge", "--keep")),
    ('git -c core.quotepath=off reset "$(cat mode.txt)"', ("--hard", "--merge", "--keep")),
    ('git clean "$F"', None),
    ('git stash "$OP"', None),
    ('git branch "$B"', None),
]

# Unknowns that are values or trailing operands stay as they were.
UNKNOWN_VALUES_ROUTINE = [
    'git commit -m "$MSG" -- src/app.py',
    'git stash push -m "$(cat msg.txt)" src/',
    'git push origin "$(git branch --show-current)"',
    'git push -u origin "$(git rev-parse --abbrev-ref HEAD)"',
    'docker rmi $(docker images -q)',
    'docker stop $(docker ps -q)',
    'git add $(git diff --name-only)',
    'kubectl logs $(kubectl get pods -o name | head -1)',
    'sort $FLAGS data.txt',
    'tar $FLAGS out.tar src/',
    'ls $OPTS /etc',
    'curl -H "Authorization: Bearer $TOKEN" https://api.example.com/x',
    'make -j$(nproc) test',
    'sed -i "s/$OLD/$NEW/g" config.yml',
    # after a flag or an operand, a trailing unknown is an operand
    'git reset --soft "$REF"',
    'git reset -q "$(git merge-base HEAD main)"',
    'git log "$RANGE"',
    'git diff "$A"',
    # in the head, an unknown whose readings a rule only asks about (`docker rmi
    # --force`) is most often a list of operands
    'docker rmi $(docker images -q -f dangling=true)',
    'docker rm $(docker ps -aq)',
]


@pytest.mark.parametrize("command,reading", UNKNOWN_OPTIONS)
def test_an_unknown_option_or_subcommand_is_not_allowed(validator, command, reading):
    got, rule_id, reason = verdict(validator, command)
    assert got in ("ask", "deny"), (command, rule_id)
    if rule_id == "shell.unknown-option":
        assert got == "ask" and "cannot see" in reason, reason
        if reading is not None:
            assert any("could be %r" % w in reason for w in reading), reason


@pytest.mark.parametrize("command", UNKNOWN_VALUES_ROUTINE)
def test_unknown_values_and_trailing_operands_stay_routine(validator, command):
    got, rule_id, _ = verdict(validator, command)
    assert got == "allow", (command, rule_id)


def test_an_unknown_option_after_the_end_of_options_is_an_operand(validator):
    # after `--` nothing is an option: `sort -- "$O" /etc/passwd` reads two files
    got, rule_id, _ = verdict(validator, 'sort -- "$O" /etc/passwd')
    assert (got, rule_id) != ("ask", "shell.unknown-option")


def test_reading_unknown_options_is_bounded(validator):
    # Each candidate word is one more reading of the whole command: past
    # MAX_UNKNOWN_OPTION_WORK (words times candidates) the call is undecided, never an
    # allow of the words read so far.
    from lighthouse._fast._engine_shared import MAX_UNKNOWN_OPTION_WORK

    words = MAX_UNKNOWN_OPTION_WORK // 50    # git has more than 50 candidates
    d = validator.check("Bash", {"command": 'git "$SUB" ' + " ".join("f%d" % i for i in range(words))}, cwd=WS)
    assert (d.verdict, d.rule_id) == ("ask", "input.limit")
    short = validator.check("Bash", {"command": 'git "$SUB" --hard HEAD'}, cwd=WS)
    assert (short.verdict, short.rule_id) == ("ask", "shell.unknown-option")


@pytest.mark.parametrize("command,allowed", [
    ('$CMD --version', False),
    ('"$EDITOR" --help', False),
    ('"$(cat .tool)" -h', False),
    ('python3 --version', True),
    ('git --version', True),
    ('kubectl get pods --help', True),
])
def test_a_help_request_of_an_unknown_program_is_not_routine(validator, command, allowed):
    # the program's name is unknown: it could be a script of the agent's own, which runs
    # its own code whatever the flag says
    got, rule_id, _ = verdict(validator, command)
    assert (got == "allow") is allowed, (command, got, rule_id)
    if allowed:
        assert rule_id == "routine.help"


# ------------------------------- statements and code run from an unknown

# A database client or an interpreter handed statements the input does not hold (a
# variable, a command's output), directly or as the command another program runs (a
# container's exec, find -exec, parallel): the code cannot be reviewed, so it is not an
# allow; statements the input holds are judged as the text they are.
UNSEEN_CODE = [
    ('psql -c "$QUERY"', "ask", "db.dynamic-statement"),
    ('mysql -e "$(cat migrations/next.sql)" app', "ask", "db.dynamic-statement"),
    ('sqlite3 data/app.db "$STMT"', "ask", "db.dynamic-statement"),
    ('mongosh --quiet --eval "$SCRIPT"', "ask", "db.dynamic-statement"),
    ("redis-cli $REDIS_COMMAND", "ask", "db.dynamic-statement"),
    ('docker exec pg psql -U app -c "$SQL"', "ask", "db.dynamic-statement"),
    ('docker compose exec db mysql -e "$(curl -s http://internal/q)"', "ask", ""),
    ('kubectl exec deploy/api -- python3 -c "$PAYLOAD"', "ask", "rexec.dynamic-inline-code"),
    ('podman exec web node -e "$JS"', "ask", "rexec.dynamic-inline-code"),
    ('find . -maxdepth 1 -name "*.py" -exec python3 -c "$SNIPPET" {} \\;', "ask", "rexec.dynamic-inline-code"),
    # a value the call does not show written into code the interpreter or inner shell reads
    ('python3 -c "import json; print(json.load(open(\'$CONFIG\'))[\'name\'])"', "ask",
     "rexec.inline-code-with-unknown"),
    ('perl -ne "print if /$PATTERN/" app.log', "ask", "rexec.inline-code-with-unknown"),
    ('ruby -e "puts 1; $EXTRA"', "ask", "rexec.inline-code-with-unknown"),
    ('bash -c "cd $BUILD_DIR && make install"', "ask", "rexec.inline-code-with-unknown"),
    ('sh -c "echo starting; $HOOK"', "ask", ""),
    ('docker exec app sh -c "cat $LOG_FILE"', "ask", "rexec.inline-code-with-unknown"),
]

SEEN_CODE = [
    'psql -c "SELECT count(*) FROM users"',
    'docker exec pg psql -U app -c "SELECT now()"',
    'sqlite3 data/app.db "SELECT * FROM jobs LIMIT 5"',
    'redis-cli GET "$CACHE_KEY"',
    'podman exec web node -e "console.log(process.version)"',
    'find . -name "*.sql" -exec psql -f {} \\;',
    "bash -c 'for f in *.txt; do wc -l \"$f\"; done'",
    "python3 -c 'import glob; print(sorted(glob.glob(\"*.py\")))'",
    "find . -name '*.sh' -exec sh -c 'shellcheck \"$1\"' _ {} \\;",
]


@pytest.mark.parametrize("command,expected,rule", UNSEEN_CODE)
def test_unseen_statements_are_not_allowed(validator, command, expected, rule):
    v, rule_id, _ = verdict(validator, command)
    assert v == expected, (command, v, rule_id)
    if rule:
        assert rule_id == rule, (command, rule_id)


@pytest.mark.parametrize("command", SEEN_CODE)
def test_seen_statements_stay_routine(validator, command):
    v, rule_id, _ = verdict(validator, command)
    assert v == "allow", (command, v, rule_id)
