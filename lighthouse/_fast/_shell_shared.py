"""What both shell analysers share, defined once: the limits of the analysis, the
tables of programs (wrappers and their options, shells, interpreters and their code
flags, database clients, option sets of find, ssh and container exec).

The pure analyser (_shell_py.py) imports this source; the compiled one imports the same
source compiled by Cython as _shell_shared_c (setup.py) and binds each table to a typed
module global at import, so a table or a reader is changed here and nowhere else. The argv
readers of particular programs (where a shell's -c code or an interpreter's script
argument is, the SQL a database client runs, what find, ssh, su and container exec run,
what printf prints) are here too: they run only for those programs, so they need no
compiled twin; each analyser only interprets what they return. So are the parts of
SimpleCommand that are not on the hot path (as_tuple, repr) and the API both export.
"""

from __future__ import annotations

import base64
import binascii

# Limits of the analysis. Reaching any of them raises LimitError: the call is undecided,
# never judged on the part seen before the limit. Together they bound the work of one
# analysis by a constant times the input's length, whatever the input repeats or nests.
MAX_DEPTH = 8            # nesting of substitutions, subshells, `bash -c`, eval, ...
MAX_LENGTH = 65536       # characters of a command line
MAX_COMMANDS = 512       # simple commands in a parse tree, and emitted by one analysis
MAX_WRAPPERS = 32        # wrappers (sudo, env, timeout, xargs, ...) peeled off one command
MAX_LOOP_WORDS = 16      # words of one for loop (its body is judged once per word)
MAX_LOOP_PASSES = 512    # loop bodies judged by one analysis (nested loops multiply)
MAX_ARGS = 4096          # arguments and redirects of all emitted commands together
MAX_WORD = MAX_LENGTH    # characters of one expanded word
MAX_WORK = 4 * MAX_LENGTH  # characters expanded by one analysis

DEPTH_MSG = "command nesting is deeper than %d levels" % MAX_DEPTH
LIST_MSG = "more than %d commands in one list" % MAX_COMMANDS
WRAPPERS_MSG = "more than %d wrapper programs around one command" % MAX_WRAPPERS
WORK_MSG = "analysis would expand more than %d characters" % MAX_WORK
WORD_MSG = "a word expands to more than %d characters" % MAX_WORD
COMMANDS_MSG = "command expands to more than %d simple commands" % MAX_COMMANDS
ARGS_MSG = "commands have more than %d arguments in all" % MAX_ARGS
LOOP_WORDS_MSG = "a for loop has more than %d words" % MAX_LOOP_WORDS
LOOP_PASSES_MSG = "loops would judge their bodies more than %d times" % MAX_LOOP_PASSES
LENGTH_MSG = "command is longer than %d characters" % MAX_LENGTH

# Why a command cannot be analysed (ShellError), in both analysers' words.
AT_OFFSET_MSG = "%s at offset %d"
UNCLOSED_MSG = "missing closing %r"
UNEXPECTED_CLOSE_MSG = "unexpected ')'"
UNEXPECTED_OPEN_MSG = "unexpected '('"
ARITH_FOR_MSG = "for (( ... )) is not an arithmetic expression"
FOR_DO_MSG = "expected 'do' in for loop"
CASE_IN_MSG = "expected 'in' after the case word"
CASE_PAREN_MSG = "missing ')' after a case pattern"
CASE_PATTERN_MSG = "unexpected %r in a case pattern"
ARITH_SUBST_MSG = "command substitution inside an arithmetic expression"
REDIRECT_MSG = "redirection without a target"
SQUOTE_MSG = "unterminated single quote"
DQUOTE_MSG = "unterminated double quote"
ANSI_C_MSG = "unterminated $'...' string"
BRACE_MSG = "unterminated ${...}"
BACKTICK_MSG = "unterminated backtick"
ENV_SPLIT_MSG = "env -S string %r cannot be split into words"
NOT_STR_MSG = "command must be a string"
NUL_MSG = "command contains a NUL byte"

# Marker left in a word where a value cannot be known statically ($UNSET, $(cmd), ...).
DYN = "*"

# Parts of environment variable names that hold credentials. An unknown variable so
# named expands to DYN followed by `$NAME`, so that rules can tell `echo "$GITHUB_TOKEN"`
# (printing a secret into the transcript) from `echo "$X"`.
SECRET_VAR_PARTS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "ACCESS_KEY",
                    "PRIVATE_KEY", "CREDENTIAL", "AUTH_KEY", "_PAT", "SESSION_KEY", "CLIENT_KEY")


def unknown_var(name):
    """What an unknown variable expands to in a word: DYN, or DYN + "$NAME" when its
    name looks like a credential's."""
    upper = name.upper()
    for part in SECRET_VAR_PARTS:
        if part in upper:
            return DYN + "$" + name
    return DYN

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "busybox"})
INTERPRETERS = frozenset({"python", "python2", "python3", "pypy", "pypy3", "perl", "ruby", "node",
                          "nodejs", "deno", "bun", "php", "lua", "Rscript", "R", "osascript", "julia",
                          "tclsh", "wish", "expect", "pwsh", "powershell", "groovy", "java", "jshell"})

# database client -> the options whose value is a statement to run
SQL_FLAGS = {"psql": ("-c", "--command"), "mysql": ("-e", "--execute"),
             "mariadb": ("-e", "--execute"), "mongosh": ("--eval",), "mongo": ("--eval",),
             "clickhouse-client": ("-q", "--query"), "cqlsh": ("-e", "--execute"),
             "duckdb": ("-c",), "sqlcmd": ("-Q", "-q"), "cockroach": ("-e", "--execute"),
             "usql": ("-c", "--command"), "snowsql": ("-q", "--query"),
             "trino": ("--execute",), "pgcli": (), "mycli": ("-e", "--execute"),
             "litecli": ("-e",), "sqlite3": (), "redis-cli": (), "valkey-cli": ()}

# interpreter family -> the options whose value is code to run (an empty tuple: code
# comes only from a script file or stdin)
CODE_FLAGS = {"python": ("-c",), "perl": ("-e", "-E"), "ruby": ("-e",),
              "node": ("-e", "--eval", "-p", "--print"), "php": ("-r",), "lua": ("-e",),
              "bun": ("-e", "--eval", "-p", "--print"), "deno": ("eval",), "osascript": ("-e",),
              "julia": ("-e", "--eval", "-E", "--print"), "Rscript": ("-e",), "R": ("-e",),
              "pwsh": ("-c", "-Command", "-command", "-C"),
              "powershell": ("-c", "-Command", "-command", "-C"), "expect": ("-c",),
              "groovy": ("-e",), "tclsh": (), "wish": (), "java": (), "jshell": ()}

# interpreter family -> options that take a value before the script argument
INTERP_VALUE_OPTS = {"python": frozenset({"-m", "-W", "-X", "-Q"}),
                     "node": frozenset({"-r", "--require", "--import"}),
                     "perl": frozenset({"-I", "-M"}), "ruby": frozenset({"-I", "-r"}),
                     "julia": frozenset({"-J", "--sysimage", "-L", "--load", "-t", "--threads",
                                         "--project", "-p", "--procs"}),
                     "java": frozenset({"--source", "-cp", "-classpath", "--class-path", "-p",
                                        "--module-path", "--add-modules", "-jar"}),
                     "pwsh": frozenset({"-File", "-f", "-ExecutionPolicy", "-ex", "-WorkingDirectory",
                                        "-wd", "-OutputFormat", "-of", "-InputFormat", "-if"})}
# the script argument names stdin: the code is what is piped or redirected in
STDIN_SCRIPTS = ("-", "/dev/stdin")

# shell options that take a value before the code or script argument
SHELL_VALUE_OPTS = ("-o", "+o", "-O", "+O", "--rcfile", "--init-file")

ECHO_FLAGS = ("-n", "-e", "-E", "-ne", "-en")

# wrapper -> (options taking a value, positional count consumed before the wrapped command)
WRAPPERS = {
    "sudo": (frozenset({"-u", "-g", "-p", "-C", "-D", "-h", "-r", "-t", "-U", "-T", "--user", "--group",
                        "--prompt", "--close-from", "--chdir", "--host", "--role", "--type",
                        "--other-user", "--command-timeout"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "run0": (frozenset({"-u", "--user", "-g", "--group", "-D", "--chdir"}), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string", "-P"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "nohup": (frozenset(), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "time": (frozenset({"-o", "--output", "-f", "--format"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "stdbuf": (frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}), 0),
    "ionice": (frozenset({"-c", "-n", "--class", "--classdata"}), 0),
    "setsid": (frozenset(), 0),
    "chronic": (frozenset(), 0),
    "unbuffer": (frozenset(), 0),
    "torsocks": (frozenset(), 0),
    "proxychains": (frozenset({"-f"}), 0),
    "proxychains4": (frozenset({"-f"}), 0),
    "watch": (frozenset({"-n", "--interval", "-q", "--equexit"}), 0),
    "flock": (frozenset({"-w", "--timeout", "-E", "-c"}), 1),
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "taskset": (frozenset(), 1),
    "caffeinate": (frozenset({"-t", "-w"}), 0),
    "xargs": (frozenset({"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "-e", "--max-args",
                         "--max-procs", "--delimiter", "--max-lines", "--max-chars", "--eof",
                         "--arg-file", "--replace", "--process-slot-var"}), 0),
}

# find's tests and actions that take a value
FIND_VALUE = frozenset({
    "-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-type", "-mindepth",
    "-maxdepth", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-size",
    "-user", "-group", "-perm", "-newer", "-wholename", "-iwholename", "-lname",
    "-ilname", "-links", "-inum", "-uid", "-gid", "-fstype", "-samefile",
    "-printf", "-fprint", "-fprintf", "-fls", "-context", "-used", "-regextype"})

# ssh options that take a value (the remote command follows the host)
SSH_VALUE = frozenset({"-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O",
                       "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B"})

# docker/podman exec, compose exec and kubectl exec: the programs, and the exec options
# that take a value
DOCKER_LIKE = frozenset({"docker", "podman", "nerdctl"})
COMPOSE_LIKE = frozenset({"docker-compose", "podman-compose"})
KUBE_LIKE = frozenset({"kubectl", "oc"})
EXEC_PROGRAMS = DOCKER_LIKE | COMPOSE_LIKE | KUBE_LIKE
EXEC_VALUE = frozenset({"-e", "--env", "--env-file", "-u", "--user", "-w", "--workdir", "--detach-keys",
                        "--index"})


# ------------------------------------------------ argv readers of particular programs

def decode_b64(text):
    try:
        raw = base64.b64decode("".join(text.split()), validate=False)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def find_target(root, name):
    root = root.rstrip("/") or "/"
    if name:
        return (root if root != "/" else "") + "/**/" + name
    return (root if root != "/" else "") + "/**"


def _shell_options(args):
    """Read a shell's options: (index of its first operand, or len(args); whether -c was
    given; whether -s or - says it reads its commands from stdin)."""
    k = 0
    n = len(args)
    saw_c = False
    stdin = False
    while k < n:
        a = args[k]
        if a == "--":
            k += 1
            break
        if a in SHELL_VALUE_OPTS:
            k += 2
            continue
        if a == "-s" or a == "-":
            stdin = True
        elif a.startswith("-") and not a.startswith("--") and "c" in a[1:]:
            saw_c = True
        elif not (a.startswith("-") or a.startswith("+")):
            break
        k += 1
    return min(k, n), saw_c, stdin


def shell_code_arg(args):
    """For `bash [opts] -c STRING`: index of STRING, or -1 (script/stdin)."""
    k, saw_c, _ = _shell_options(args)
    return k if saw_c and k < len(args) else -1


def shell_script_arg(args):
    """Index of the script file argument of a shell, or -1 when it reads stdin."""
    k, _, stdin = _shell_options(args)
    return k if not stdin and k < len(args) else -1


def interp_script_arg(family, args):
    """Index of the script argument of an interpreter, or -1 when it reads stdin."""
    k = 0
    n = len(args)
    value_opts = INTERP_VALUE_OPTS.get(family, ())
    if (family == "bun" or family == "deno") and n and args[0] == "run":
        k = 1       # `bun run -`, `deno run -`: the subcommand, then the script
    while k < n:
        a = args[k]
        if a in STDIN_SCRIPTS:
            return -1
        if family == "python" and a == "-m":
            return k + 1 if k + 1 < n else -1
        if a in value_opts:
            k += 2
            continue
        if a.startswith("-"):
            k += 1
            continue
        return k
    return -1


def sql_text(prog, args, stdin_code):
    """The statements a database client will run: its -c/-e text, inline positional
    SQL (sqlite3, redis-cli) or what is piped into it."""
    flags = SQL_FLAGS[prog]
    parts = []
    n = len(args)
    for k, a in enumerate(args):
        if a in flags and k + 1 < n:
            parts.append(args[k + 1])
        elif "=" in a and a.split("=", 1)[0] in flags:
            parts.append(a.split("=", 1)[1])
    if prog == "sqlite3":
        pos = [a for a in args if not a.startswith("-")]
        parts.extend(pos[1:])
    elif prog in ("redis-cli", "valkey-cli"):
        parts.append(" ".join(a for a in args if not a.startswith("-")))
    if stdin_code:
        parts.append(stdin_code)
    return "\n".join(parts)


def watch_exec(options):
    """Whether watch's options include -x/--exec (run the command without a shell)."""
    for a in options:
        if a == "--exec" or (a.startswith("-") and not a.startswith("--") and "x" in a[1:]):
            return True
    return False


def printf_output(fmt, args):
    """What `printf FMT ARGS...` prints when FMT holds at most one %s (or %b), which
    printf reuses for every argument; None for anything else."""
    one = fmt.replace("%b", "%s")
    if "%" not in one:
        return one.replace("\\n", "\n").replace("\\t", "\t")
    if one.count("%") != 1 or "%s" not in one:
        return None
    if len(one) * max(len(args), 1) > MAX_WORD:
        return None
    one = one.replace("\\n", "\n").replace("\\t", "\t")
    return "".join([one.replace("%s", a) for a in (args or [""])])


B64_DECODE = ("-d", "--decode", "-D")


def _locates_program(prog, args):
    """`which NAME`, `command -v NAME`, `type -P NAME` (or -p): prints where NAME is."""
    if len(args) == 1 and prog == "which":
        return not args[0].startswith("-")
    if len(args) == 2 and (prog == "command" and args[0] == "-v" or prog == "type" and args[0] in ("-P", "-p")):
        return not args[1].startswith("-")
    return False


def printed_text(prog, args, cwd, heredoc):
    """What the first command of a pipeline prints, when it is known without running
    anything: echo and printf of their arguments, pwd, the path `which NAME` (or
    `command -v`, `type -P`) prints, judged as NAME, cat of a heredoc; else None. (A
    base64 -d of a here-string is for the caller, which expands the word.)"""
    if prog == "echo":
        j = 0
        while j < len(args) and args[j] in ECHO_FLAGS:
            j += 1
        return " ".join(args[j:]) + "\n"
    if prog == "printf":
        return printf_output(args[0], args[1:]) if args else None
    if prog == "pwd":
        return cwd + "\n"
    if _locates_program(prog, args):
        return args[-1] + "\n"
    if prog == "cat" and not args and heredoc is not None:
        return heredoc
    return None


def filtered_text(prog, args, text):
    """What a later command of a pipeline makes of the known text piped into it, when
    that is known too: base64 -d, xxd -r, rev, cat or tee without files; else None."""
    if prog == "base64" and any(a in B64_DECODE or a == "-di" for a in args):
        return decode_b64(text)
    if prog == "xxd" and "-r" in args:
        try:
            return bytes.fromhex("".join(text.split())).decode("utf-8")
        except ValueError:
            return None
    if prog == "rev":
        return "\n".join([line[::-1] for line in text.split("\n")])
    if (prog == "cat" or prog == "tee") and all(a.startswith("-") for a in args):
        return text
    return None


def interp_code_arg(family, flags, args):
    """For `python -c CODE`, `node -e CODE`, ...: index of CODE in args, or -1. flags
    are the family's code options (CODE_FLAGS); python also takes them bundled (-Ic)."""
    for j, a in enumerate(args):
        if a in flags or (family == "python" and a.startswith("-") and not a.startswith("--")
                          and a.endswith("c") and len(a) > 2):
            return j + 1 if j + 1 < len(args) else -1
        if not a.startswith("-"):
            return -1
    return -1


def su_command_arg(args):
    """For `su -c CMD` / `runuser --command CMD`: index of CMD in args, or -1."""
    n = len(args)
    for k, a in enumerate(args):
        if (a == "-c" or a == "--command") and k + 1 < n:
            return k + 1
    return -1


def find_actions(args):
    """What `find ROOTS... EXPR` runs, in order, generated one at a time (the caller's
    command limit stops a long expression early): ("find -delete", argv of the `rm` a
    -delete amounts to) and ("find -exec", the argv of -exec/-execdir/-ok/-okdir with
    `{}` replaced), once per root; the target is the root, narrowed by -name when given."""
    roots = []
    k = 0
    n = len(args)
    while k < n and not (args[k].startswith("-") or args[k] in ("(", "!", ")")):
        roots.append(args[k])
        k += 1
    if not roots:
        roots = ["."]
    name = None
    while k < n:
        a = args[k]
        if (a == "-name" or a == "-iname") and k + 1 < n and name is None:
            name = args[k + 1]
        if a == "-delete":
            for r in roots:
                yield "find -delete", ["-r", "-f", find_target(r, name)]
        if a == "-exec" or a == "-execdir" or a == "-ok" or a == "-okdir":
            j = k + 1
            sub = []
            while j < n and args[j] not in (";", "+", "\\;"):
                sub.append(args[j])
                j += 1
            if sub:
                for r in roots:
                    target = find_target(r, name)
                    yield "find -exec", [x.replace("{}", target) for x in sub]
            k = j
        elif a in FIND_VALUE:
            k += 1
        k += 1


def ssh_remote(args):
    """The command line `ssh [options] HOST COMMAND...` runs on the remote host (its
    words joined by spaces, as ssh does), or None when there is none."""
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if a in SSH_VALUE:
            k += 2
            continue
        if a.startswith("-"):
            k += 1
            continue
        break
    if k + 1 < n:
        return " ".join(args[k + 1:])
    return None


def container_exec(prog, args):
    """For docker/podman exec, compose exec and kubectl exec: (the argv run in the
    container, the directory it runs in: -w/--workdir when absolute, else "/"), or
    None when args run nothing in a container."""
    n = len(args)
    workdir = None
    if prog in KUBE_LIKE:
        # kubectl [options] exec POD [options] -- COMMAND [args]
        if "--" not in args:
            return None
        j = args.index("--")
        if "exec" not in args[:j]:
            return None
        inner = args[j + 1:]
    else:
        if n >= 1 and args[0] == "exec":
            k = 1
        elif prog in DOCKER_LIKE and n >= 2 and args[1] == "exec" and args[0] in ("container", "compose"):
            k = 2
        else:
            return None
        while k < n and args[k].startswith("-") and args[k] != "-":
            a = args[k]
            if a in EXEC_VALUE:
                if (a == "-w" or a == "--workdir") and k + 1 < n:
                    workdir = args[k + 1]
                k += 2
                continue
            if a.startswith("--workdir="):
                workdir = a[len("--workdir="):]
            k += 1
        inner = args[k + 1:]            # args[k] is the container or service
    if not inner:
        return None
    return list(inner), (workdir if workdir and workdir.startswith("/") else "/")


# ------------------------------------------------ SimpleCommand, for both analysers

def command_init(sc, program, args, cwd, sudo=False, env=None, redirects=(), origin="", code="",
                 dynamic=False):
    """SimpleCommand(program, args, cwd, ...): the fields a caller gives, and no pipeline
    or code sources yet (the analysers fill those in)."""
    sc.program = program
    sc.args = args if type(args) is list else list(args)
    sc.cwd = cwd
    sc.sudo = sudo
    sc.env = env if env is not None else {}
    sc.redirects = list(redirects)
    sc.pipe_in = ()
    sc.pipeline = ()
    sc.code_from = ()
    sc.origin = origin
    sc.code = code
    sc.dynamic = dynamic
    sc.path = ""            # the program as the command names it, when that is a path (./tool)


def command_tuple(sc):
    """Every field of a SimpleCommand as a tuple of immutable values (for comparing)."""
    return (sc.program, tuple(sc.args), sc.cwd, sc.sudo,
            tuple(sorted(sc.env.items())), tuple(sc.redirects),
            tuple(sc.pipe_in), tuple(sc.pipeline), tuple(sc.code_from),
            sc.origin, sc.code, sc.dynamic, sc.path)


def command_repr(sc):
    extra = []
    if sc.sudo:
        extra.append("sudo")
    if sc.redirects:
        extra.append(f"redirects={sc.redirects}")
    if sc.pipe_in:
        extra.append(f"pipe_in={sc.pipe_in}")
    if sc.code_from:
        extra.append(f"code_from={sc.code_from}")
    if sc.origin:
        extra.append(f"origin={sc.origin!r}")
    if sc.dynamic:
        extra.append("dynamic")
    return f"SimpleCommand({sc.program!r}, {sc.args!r}{', ' if extra else ''}{', '.join(extra)})"


# The names both analysers export (their __all__).
SHELL_API = ("SimpleCommand", "ShellError", "LimitError", "analyze", "MAX_DEPTH", "MAX_LENGTH",
             "MAX_COMMANDS", "MAX_WRAPPERS", "MAX_LOOP_WORDS", "MAX_LOOP_PASSES", "MAX_ARGS",
             "MAX_WORD", "MAX_WORK", "CODE_WINDOW")
