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
import re
from bisect import bisect_right

from ._errors import LimitError, ShellError

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
BRACES_MSG = "brace expansion of one word makes more than %d words or %d characters" % (MAX_ARGS, MAX_WORK)

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
# What an unassigned $TMPDIR stands for: the temporary directory, judged as /tmp (so
# `rm -rf "$TMPDIR/x"` is scratch cleanup and `rm -rf "$TMPDIR"/../..` is `rm -rf /`).
TMPDIR_ROOT = "/tmp"

# Parts of environment variable names that hold credentials. An unknown variable so
# named expands to DYN followed by `$NAME`, so that rules can tell `echo "$GITHUB_TOKEN"`
# (printing a secret into the transcript) from `echo "$X"`.
SECRET_VAR_PARTS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "API_KEY", "APIKEY", "ACCESS_KEY",
                    "PRIVATE_KEY", "CREDENTIAL", "AUTH_KEY", "_PAT", "SESSION_KEY", "CLIENT_KEY")


# What an unknown variable named like a secret leaves in an expanded word.
SECRET_MARK = DYN + "$"


def secret_name(name):
    """Whether a variable's name looks like a credential's."""
    upper = name.upper()
    for part in SECRET_VAR_PARTS:
        if part in upper:
            return True
    return False


def unknown_var(name):
    """What an unknown variable expands to in a word: DYN, or DYN + "$NAME" when its
    name looks like a credential's (secret_name's test, written out: the compiled
    analyser asks it of every unknown variable)."""
    upper = name.upper()
    for part in SECRET_VAR_PARTS:
        if part in upper:
            return SECRET_MARK + name
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
             "litecli": ("-e",), "sqlite3": ("-cmd", "--cmd"), "redis-cli": (),
             "valkey-cli": ()}
# database client -> the options whose value is a file of statements to run
SQL_FILE_FLAGS = {"psql": ("-f", "--file"), "usql": ("-f", "--file"), "pgcli": (),
                  "duckdb": ("-f", "-init"), "sqlite3": ("-init", "--init"),
                  "clickhouse-client": ("--queries-file",), "sqlcmd": ("-i",),
                  "cockroach": ("-f", "--file"), "snowsql": ("-f", "--filename"),
                  "trino": ("-f", "--file"), "cqlsh": ("-f", "--file"),
                  "mongosh": ("--file", "-f"), "mysql": (), "mariadb": (), "mongo": (),
                  "mycli": (), "litecli": (), "redis-cli": (), "valkey-cli": ()}
# sqlite3's options that take a value (so that value is not the database or a statement)
_SQLITE_VALUE_OPTS = frozenset({"-cmd", "--cmd", "-init", "--init", "-separator", "--separator",
                                "-newline", "--newline", "-nullvalue", "--nullvalue", "-vfs",
                                "--vfs", "-maxsize", "--maxsize", "-mmap", "--mmap", "-heap",
                                "--heap", "-lookaside", "--lookaside", "-pagecache",
                                "--pagecache", "-escape", "--escape"})
# database client -> (the letters of its short options that take a value, those whose
# value is optional and only attached), for reading a cluster of them as the client's
# option parser does (`psql -Xqc TEXT`, `mysql -Be TEXT`; `mysql -pSECRET` is a password)
_SQL_CLUSTERS = {"psql": ("cdfhLopPTUvFR", ""), "mysql": ("eDhuSP", "p"),
                 "mariadb": ("eDhuSP", "p")}
# Where a client's file of statements is not a file the call names: the client's stdin,
# a process substitution's pipe, another process's descriptors.
_SQL_STREAMS = ("-", "/dev/stdin", "/dev/fd/", "/proc/")

# interpreter family -> the options whose value is code to run (an empty tuple: code
# comes only from a script file or stdin)
CODE_FLAGS = {"python": ("-c",), "perl": ("-e", "-E"), "ruby": ("-e",),
              "node": ("-e", "--eval", "-p", "--print"), "php": ("-r", "-B", "-R", "-E"), "lua": ("-e",),
              "bun": ("-e", "--eval", "-p", "--print"), "deno": ("eval",), "osascript": ("-e",),
              "julia": ("-e", "--eval", "-E", "--print"), "Rscript": ("-e",), "R": ("-e",),
              "pwsh": ("-c", "-Command", "-command", "-C"),
              "powershell": ("-c", "-Command", "-command", "-C"), "expect": ("-c",),
              "groovy": ("-e",), "tclsh": (), "wish": (), "java": (), "jshell": ()}

# options of a code subcommand (`deno eval`) that take a value before the code
SUBCOMMAND_CODE_VALUE_OPTS = frozenset({"--ext", "-c", "--config", "--import-map", "--lock",
                                        "--cert", "--location", "--seed",
                                        "--v8-flags", "--conditions"})

# interpreter family -> options that take a value before the script argument
# (ruby's -C/-X DIR and -E ENC, and its long options with a value, take the next word as
# their parser does; node takes the next word as the value of every option that has one,
# its own and V8's: those of V8 not listed here are read by find_code)
INTERP_VALUE_OPTS = {"python": frozenset({"-m", "-W", "-X", "-Q", "--check-hash-based-pycs"}),
                     "node": frozenset({"-r", "--require", "--import", "-C", "--conditions",
                                        "--title", "--input-type", "--loader",
                                        "--experimental-loader", "--env-file",
                                        "--env-file-if-exists", "--inspect-port", "--debug-port",
                                        "--redirect-warnings", "--report-dir", "--report-directory",
                                        "--report-filename", "--report-signal", "--diagnostic-dir",
                                        "--cpu-prof-dir", "--cpu-prof-name", "--heap-prof-dir",
                                        "--heap-prof-name", "--icu-data-dir", "--openssl-config",
                                        "--tls-cipher-list", "--tls-keylog", "--unhandled-rejections",
                                        "--dns-result-order", "--disable-warning", "--watch-path",
                                        "--test-reporter", "--test-reporter-destination",
                                        "--test-name-pattern", "--test-skip-pattern",
                                        "--experimental-policy", "--snapshot-blob", "--run",
                                        "--stack-trace-limit", "--max-old-space-size",
                                        "--max-semi-space-size", "--stack-size", "--allow-fs-read",
                                        "--allow-fs-write", "--localstorage-file",
                                        "--experimental-default-type", "--secure-heap",
                                        "--heapsnapshot-signal", "--trace-event-categories"}),
                     "perl": frozenset({"-I", "-M"}),
                     "ruby": frozenset({"-I", "-r", "-C", "-X", "-E", "--encoding",
                                        "--external-encoding", "--internal-encoding", "--enable",
                                        "--disable", "--dump"}),
                     "php": frozenset({"-d", "-c", "-z"}), "lua": frozenset({"-l"}),
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
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "taskset": (frozenset(), 1),
    "caffeinate": (frozenset({"-t", "-w"}), 0),
    # init shims, CPU and memory placement, a faked clock, another user's identity
    "tini": (frozenset({"-p", "-e"}), 0),
    "dumb-init": (frozenset({"-r", "--rewrite"}), 0),
    "with-contenv": (frozenset(), 0),
    "tsocks": (frozenset(), 0),
    "numactl": (frozenset({"-N", "-m", "-C", "-i", "-p", "--cpunodebind", "--membind",
                           "--physcpubind", "--interleave", "--preferred"}), 0),
    "cpulimit": (frozenset({"-l", "--limit"}), 0),
    "chrt": (frozenset(), 1),
    "faketime": (frozenset({"-f"}), 1),
    "gosu": (frozenset(), 1),
    "su-exec": (frozenset(), 1),
    "xargs": (frozenset({"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "-e", "--max-args",
                         "--max-procs", "--delimiter", "--max-lines", "--max-chars", "--eof",
                         "--arg-file", "--replace", "--process-slot-var"}), 0),
}
# the same table under a private name, which the compiled build types as a dict
# (_shell_shared_c.pxd), so that unwrap's lookup per peeled word is a C call
_WRAPPER_SPECS = WRAPPERS
# what unwrap does besides skipping a wrapper's options, by wrapper: one lookup, where a
# string comparison per wrapper name cost about a hundred instructions each
_W_BUSYBOX = 1      # busybox APPLET: the applet is the command
_W_QUERY = 2        # command -v/-V, builtin -v/-V: a lookup, nothing runs
_W_SUDO = 4         # sudo -l, -v, -k, ...: nothing runs
_W_ENV = 8          # NAME=value words among the options, -S/--split-string
_W_XARGS = 16       # -I/--replace/-i, -a/--arg-file
_W_NICE = 32        # -N (an adjustment)
_W_CHDIR = 64       # -C/--chdir/-D DIR
_W_ROOT = 128       # runs the command as root
_W_WATCH = 256      # runs its arguments joined with sh -c, unless -x/--exec
_WRAPPER_KIND = {"busybox": _W_BUSYBOX, "command": _W_QUERY, "builtin": _W_QUERY,
                 "sudo": _W_SUDO | _W_CHDIR | _W_ROOT, "doas": _W_ROOT, "run0": _W_CHDIR | _W_ROOT,
                 "env": _W_ENV | _W_CHDIR, "xargs": _W_XARGS, "nice": _W_NICE, "watch": _W_WATCH}

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
        if not a or (a[0] != "-" and a[0] != "+"):
            break
        if a == "--":
            k += 1
            break
        if _one_of(a, SHELL_VALUE_OPTS):
            k += 2
            continue
        if a == "-s" or a == "-":
            stdin = True
        elif a[0] == "-" and a[1] != "-" and a.find("c", 1) >= 0:
            saw_c = True
        k += 1
    return min(k, n), saw_c, stdin


def _one_of(word, words):
    """word in words, a tuple of words: compared one by one, the lengths and last letters
    first (a C loop in the compiled build, where `in` on a tuple is a generic call
    comparing objects, and `==` on two str a full ordering comparison)."""
    n = len(word)
    for w in words:
        if len(w) == n and (n == 0 or w[n - 1] == word[n - 1]) and w == word:
            return True
    return False


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
    """The statements a database client will run: its -c/-e text (`-c TEXT`, `-cTEXT`,
    `--command=TEXT`), inline positional SQL (sqlite3, redis-cli) or what is piped into
    it. A file of statements the call does not show (a name holding an unknown, the
    client's stdin of unknown content, a process substitution) adds DYN: statements of
    unknown content. A file the call names is read as a script the client runs (like
    `bash FILE`), its content unseen."""
    flags = SQL_FLAGS[prog]
    files = SQL_FILE_FLAGS[prog]
    parts = []
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        k += 1
        if not a or a[0] != "-":
            continue
        eq = a.find("=")
        if _one_of(a, flags) or _one_of(a, files):
            if k >= n:
                break
            value = args[k]
            k += 1
            name = a
        elif eq >= 0 and (_one_of(a[:eq], flags) or _one_of(a[:eq], files)):
            name = a[:eq]
            value = a[eq + 1:]
        elif len(a) > 2 and a[1] != "-":
            # `-cTEXT`, or a cluster of short options (`psql -Xqc TEXT`): the first
            # letter that takes a value takes the rest of the word, or the next word
            letters, optional = _SQL_CLUSTERS.get(prog, ("", ""))
            j = 1
            if a[:2] not in flags and a[:2] not in files:
                while j < len(a) and a[j] not in letters and a[j] not in optional:
                    j += 1
                if j >= len(a) or a[j] in optional:
                    continue
            name = "-" + a[j]
            if j + 1 < len(a):
                value = a[j + 1:]
            elif k < n:
                value = args[k]
                k += 1
            else:
                break
            if name not in flags and name not in files:
                continue
        else:
            if prog == "sqlite3" and a in _SQLITE_VALUE_OPTS:
                k += 1
            continue
        if name in flags:
            parts.append(value)
        elif (value.startswith(_SQL_STREAMS) or value.startswith(DYN)) \
                and not (stdin_code and (value == "-" or value == "/dev/stdin")):
            # a stream, or a file whose place is unknown (a glob under a known
            # directory, `db/*.sql`, is a file of the workspace)
            parts.append(DYN)       # (a known stdin is added below)
    if prog == "sqlite3":
        pos = []
        k = 0
        while k < n:
            a = args[k]
            k += 1
            if a in _SQLITE_VALUE_OPTS:
                k += 1
            elif a[:1] != "-":
                pos.append(a)
        parts.extend(pos[1:])
    elif prog in ("redis-cli", "valkey-cli"):
        parts.append(" ".join([a for a in args if not a.startswith("-")]))
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
        return one.replace("\\n", "\n").replace("\\t", "\t").replace("\\0", "\0")
    if one.count("%") != 1 or "%s" not in one:
        return None
    if len(one) * max(len(args), 1) > MAX_WORD:
        return None
    one = one.replace("\\n", "\n").replace("\\t", "\t").replace("\\0", "\0")
    return "".join([one.replace("%s", a) for a in (args or [""])])


B64_DECODE = ("-d", "--decode", "-D")

# Shell initialisation idioms: `eval "$(pyenv init -)"` and the like. A program of this
# table, called with one of its argument prefixes, prints code that only sets up the
# shell (PATH, functions, completions, an agent's socket); what it prints is trusted as
# such, so `eval` of it runs nothing further to judge. Anything after the prefix must be
# a plain word (a shell name, `-`, a flag), since some of these tools paste their
# arguments into the code they print (`zoxide init bash --cmd NAME`). An unknown
# `eval "$(...)"` is still judged as code of unknown content.
SHELL_INIT = {
    "pyenv": (("init",), ("virtualenv-init",)), "rbenv": (("init",),), "nodenv": (("init",),),
    "goenv": (("init",),), "jenv": (("init",),), "plenv": (("init",),), "phpenv": (("init",),),
    "direnv": (("hook",),), "zoxide": (("init",),), "starship": (("init",),),
    "atuin": (("init",),), "mcfly": (("init",),),
    "conda": (("shell.bash", "hook"), ("shell.zsh", "hook"), ("shell.fish", "hook"),
              ("shell.posix", "hook")),
    "micromamba": (("shell", "hook"),), "mamba": (("shell", "hook"),),
    "brew": (("shellenv",),), "fnm": (("env",),), "mise": (("activate",),), "rtx": (("activate",),),
    "opam": (("env",),), "luarocks": (("path",),), "pixi": (("shell-hook",),),
    "ssh-agent": (("-s",), ("-c",)), "dircolors": ((), ("-b",)),
    # command-line tools printing their completion script for a shell
    "gh": (("completion",),), "glab": (("completion",),), "kubectl": (("completion",),),
    "helm": (("completion",),), "docker": (("completion",),), "minikube": (("completion",),),
    "kind": (("completion",),), "flux": (("completion",),), "argocd": (("completion",),),
    "eksctl": (("completion",),), "doctl": (("completion",),), "npm": (("completion",),),
    "pnpm": (("completion",),), "pip": (("completion",),), "pip3": (("completion",),),
    "poetry": (("completions",),), "rustup": (("completions",),), "deno": (("completions",),),
    "uv": (("generate-shell-completion",),), "op": (("completion",),),
}
# Where an initialisation program may be named by path (others, `./pyenv` or
# `/tmp/brew`, could be anything and print anything).
SHELL_INIT_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/", "/opt/homebrew/bin/",
                   "/home/linuxbrew/.linuxbrew/bin/", "/opt/local/bin/", "/opt/conda/bin/",
                   "~/.pyenv/bin/", "~/.rbenv/bin/", "~/.nodenv/bin/", "~/.local/bin/",
                   "~/.cargo/bin/", "~/miniconda3/bin/", "~/anaconda3/bin/")
_INIT_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.=")


def shell_init(prog, args, path):
    """Whether `path args...` (prog: its normalized name) is a shell initialisation
    idiom of SHELL_INIT, named by a plain name or from a SHELL_INIT_DIRS directory."""
    forms = SHELL_INIT.get(prog)
    if forms is None:
        return False
    if "/" in path and not path.startswith(SHELL_INIT_DIRS):
        return False
    for prefix in forms:
        n = len(prefix)
        if tuple(args[:n]) == prefix:
            if len(args) - n > 4:
                return False
            for a in args[n:]:
                if not a or not _INIT_WORD.issuperset(a):
                    return False
            return True
    return False


def _locates_program(prog, args):
    """`which NAME`, `command -v NAME`, `type -P NAME` (or -p): prints where NAME is."""
    if len(args) == 1 and prog == "which":
        return not args[0].startswith("-")
    if len(args) == 2 and (prog == "command" and args[0] == "-v" or prog == "type" and args[0] in ("-P", "-p")):
        return not args[1].startswith("-")
    return False


# Help requests. `PROG --help` (or --version) prints and exits for any program named by
# name or from a system directory; `PROG SUB... --help`, `PROG SUB... -h` and
# `PROG help SUB...` only for the command-line tools of HELP_CLIS, whose parsers handle
# them before running anything, with subcommand words that do not hand the rest of the
# line to another program (HELP_HANDOFF: `docker run IMAGE --help` runs IMAGE). A program
# named by another path (`./x --help`, `/tmp/x --help`) is not known, so it gets no pass;
# nor does a call that sets a pager or a browser (`PAGER=... git help log`).
HELP_FLAGS = frozenset({"--help", "-help", "--version", "-version"})
# (Not the tools that run a file or a project script named by a word: `bun x.ts`,
# `dotnet app.dll`, `yarn build`, `pnpm build`, `mix task`, `deno main.ts`.)
HELP_CLIS = frozenset({
    "git", "cargo", "rustup", "go", "kubectl", "oc", "helm", "docker", "podman", "nerdctl",
    "docker-compose", "terraform", "tofu", "terragrunt", "packer", "vault", "consul", "nomad",
    "aws", "gcloud", "gsutil", "az", "gh", "glab", "npm", "pip", "pip3", "poetry", "uv", "pdm",
    "hatch", "conda", "mamba", "brew", "systemctl", "journalctl", "kubeadm", "minikube", "kind",
    "eksctl", "doctl", "flyctl", "fly", "heroku", "vercel", "netlify", "firebase", "wrangler",
    "pulumi", "argocd", "istioctl", "skaffold", "gem", "rclone", "restic", "borg",
    "ansible-galaxy", "crictl", "openssl"})
HELP_LAST = frozenset({"aws"})         # `aws s3 rm help`
# The words a help request starts or ends with: the analysers call help_request only
# for a command whose first or last argument is one of them.
HELP_TRIGGERS = HELP_FLAGS | {"-h", "help"}
HELP_HANDOFF = frozenset({"run", "exec", "x", "dlx", "shell", "ssh", "debug", "attach", "eval",
                          "script", "start", "stop", "restart", "up", "create", "plugin", "alias",
                          "test", "serve", "run-script"})
HELP_ENV = frozenset({"PAGER", "MANPAGER", "GIT_PAGER", "LESSOPEN", "LESSCLOSE", "BROWSER",
                      "MANOPT", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_EXEC_PATH"})
HELP_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/", "/sbin/", "/usr/sbin/", "/opt/homebrew/bin/",
             "/home/linuxbrew/.linuxbrew/bin/")
_HELP_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.:")
MAX_HELP_WORDS = 4


def _help_words(words):
    if len(words) > MAX_HELP_WORDS:
        return False
    for w in words:
        if not w or w[0] == "-" or w in HELP_HANDOFF or not _HELP_WORD.issuperset(w):
            return False
    return True


def help_request(prog, args, path, env, shell_env):
    """Whether `path args...` (prog: its normalized name) only asks for help or a version
    (see HELP_CLIS); env: the command's VAR=x prefixes, shell_env: the line's variables.
    A program whose name holds an unknown (`"$CMD" --version`) could be any executable,
    a script of the agent's own among them: it is not a help request."""
    if "/" in path and not path.startswith(HELP_DIRS):
        return False
    if DYN in prog or DYN in path:
        return False
    if env or shell_env and not HELP_ENV.isdisjoint(shell_env):
        return False
    last = args[-1]
    if last in HELP_FLAGS or last == "-h":
        words = args[:-1]
        if not words:
            return last != "-h" or prog in HELP_CLIS
        return prog in HELP_CLIS and _help_words(words)
    if prog not in HELP_CLIS:
        return False
    if args[0] == "help":
        return _help_words(args[1:])
    if last == "help" and prog in HELP_LAST:
        return _help_words(args[:-1])
    return False


# `env | grep ...` filtered to named variables is `printenv NAME...`: the names the
# grep keeps are judged (a secret-looking one still asks), not a dump of everything.
# A pattern keeps exactly the named variables when it is anchored to the start of the
# line and ends at `=` (`^NAME=`, `^(A|B)=`, case folded with -i); an unanchored name
# (`grep NODE_ENV`) matches anywhere in any line, so only the well-known, non-secret
# names of ENV_KNOWN pass that way. Any other grep option (-v, -A, -f, ...) keeps
# the listing a dump.
ENV_KNOWN = frozenset({"PATH", "HOME", "SHELL", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL",
                       "LC_CTYPE", "TERM", "TZ", "PWD", "EDITOR", "VISUAL", "NODE_ENV",
                       "PYTHONPATH", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV", "JAVA_HOME", "GOPATH",
                       "GOROOT", "CARGO_HOME", "RUSTUP_HOME", "NVM_DIR", "DISPLAY", "HOSTNAME",
                       "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR", "CI",
                       "DEBUG", "RAILS_ENV", "RACK_ENV", "FLASK_ENV", "DJANGO_SETTINGS_MODULE"})
_ENV_GREP_FLAGS = frozenset({"-E", "-i", "-w", "--color", "--color=never", "--color=auto",
                             "--color=always", "-P", "-e"})
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _env_names(pattern, fold, extended):
    if pattern.startswith("^"):
        body = pattern[1:]
        if not body.endswith("="):
            return None
        body = body[:-1]
        if body.startswith("(") and body.endswith(")") and (extended or False):
            names = body[1:-1].split("|")
        elif body.startswith("\\(") and body.endswith("\\)") and not extended:
            names = body[2:-2].split("\\|")
        else:
            names = [body]
    else:
        names = [pattern]
        if pattern.upper() not in ENV_KNOWN:
            return None
    out = []
    for name in names:
        if not name or not _NAME_CHARS.issuperset(name) or name[0].isdigit():
            return None
        out.append(name.upper() if fold else name)
    return out


ENV_LISTERS = ("env", "printenv")


def piped_files(first):
    """For `cat FILE... | reader` (first: what the first stage emitted), the files the
    reader's stdin is read from, as if redirected from them (`cat q.sql | psql` is `psql
    < q.sql`), when cat names only files: no option, no unknown, no stream, no glob, no
    redirect of its own; else None."""
    if len(first) != 1:
        return None
    c = first[0]
    if c.program != "cat" or c.dynamic or not c.args or c.redirects:
        return None
    for a in c.args:
        if a[:1] == "-" or "*" in a or a.startswith("/dev/") or a.startswith("/proc/"):
            return None
    return c.args


def proc_path(out, before):
    """The path a process substitution stands for (out[before:]: what its commands
    emitted): the file a plain `cat FILE` names (`psql < <(cat q.sql)` is `psql <
    q.sql`, as `cat q.sql | psql` is: piped_files), else the descriptor the shell passes,
    /dev/fd/63."""
    if len(out) != before + 1:
        return "/dev/fd/63"
    files = piped_files(out[before:])
    if files is None or len(files) != 1:
        return "/dev/fd/63"
    return join_path(out[before].cwd, files[0])


def env_filter(first, second):
    """For `env | grep PATTERN` (first, second: what the two stages emitted), the
    variable names the grep keeps, when it keeps exactly named ones; else None."""
    if len(first) != 1 or len(second) != 1:
        return None
    env, grep = first[0], second[0]
    if env.program not in ENV_LISTERS or env.args or env.redirects:
        return None
    if grep.program not in ("grep", "egrep") or grep.dynamic:
        return None
    pattern = None
    fold = False
    extended = grep.program == "egrep"
    args = grep.args
    k = 0
    while k < len(args):
        a = args[k]
        if a == "-e" and k + 1 < len(args) and pattern is None:
            pattern = args[k + 1]
            k += 2
            continue
        if a.startswith("-") and len(a) > 1:
            flags = [a] if a.startswith("--") else ["-" + c for c in a[1:]]
            for f in flags:
                if f not in _ENV_GREP_FLAGS or f == "-e":
                    return None
                fold = fold or f == "-i"
                extended = extended or f == "-E" or f == "-P"
        elif pattern is None:
            pattern = a
        else:
            return None
        k += 1
    if pattern is None:
        return None
    return _env_names(pattern, fold, extended)


def printed_text(prog, args, cwd, heredoc, path=""):
    """What the first command of a pipeline prints, when it is known without running
    anything: echo and printf of their arguments, pwd, the path `which NAME` (or
    `command -v`, `type -P`) prints, judged as NAME, cat of a heredoc, nothing to judge
    for a shell initialisation idiom (SHELL_INIT; path: the program as the command
    names it); else None. (A base64 -d of a here-string is for the caller, which
    expands the word.)"""
    if prog in SHELL_INIT:
        return "" if shell_init(prog, args, path) else None
    if prog not in _PRINTERS:
        return None
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
    if prog == "mktemp":
        return mktemp_path(args)
    if prog == "find":
        return find_output(args)
    return None


# the programs printed_text knows the output of besides SHELL_INIT's (one lookup answers
# the others, each of which cost a string comparison per program)
_PRINTERS = frozenset({"echo", "printf", "pwd", "which", "command", "type", "cat", "mktemp", "find"})

# find tests that narrow what it prints to names or paths matching a pattern
FIND_FILTERS = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename",
                          "-regex", "-iregex"})
# find actions after which it prints something other than the matching paths
FIND_PRINTERS = frozenset({"-exec", "-execdir", "-ok", "-okdir", "-delete", "-printf",
                           "-fprintf", "-fprint", "-fprint0", "-fls", "-ls", "-quit"})


def _find_roots(args):
    """find's starting points (the arguments before its first option or expression
    word) and the index of that word."""
    roots = []
    k = 0
    n = len(args)
    while k < n and not (args[k].startswith("-") or args[k] in ("(", "!", ")")):
        roots.append(args[k])
        k += 1
    return roots, k


def find_output(args):
    """What `find ROOTS... EXPR` prints when its expression narrows it to names or paths
    matching a pattern (FIND_FILTERS) and has no action of FIND_PRINTERS: the matches
    under each root, one line per root as find_target writes them (`./**/*.pyc`), so
    that `find . -name '*.pyc' | xargs rm` is judged on those paths. Without a filter
    it may print every path under its roots: unknown (None), as for any program."""
    roots, k = _find_roots(args)
    n = len(args)
    name = None
    narrowed = False
    while k < n:
        a = args[k]
        if a in FIND_PRINTERS:
            return None
        if a in FIND_FILTERS and k + 1 < n:
            narrowed = True
            if (a == "-name" or a == "-iname") and name is None:
                name = args[k + 1]
        if a in FIND_VALUE:
            k += 1
        k += 1
    if not narrowed:
        return None
    return "".join(find_target(r, name) + "\n" for r in roots or ["."])


# mktemp's options that do not say where the file goes
MKTEMP_FLAGS = frozenset({"-d", "--directory", "-q", "--quiet", "-u", "--dry-run", "-t"})


def mktemp_path(args):
    """The path `mktemp` prints, as a name in the temporary directory (TMPDIR_ROOT), when
    it makes one there: flags of MKTEMP_FLAGS and at most one template without a `/`.
    With a directory (-p, --tmpdir, a template holding `/`) it is unknown (None)."""
    template = None
    for a in args:
        if a in MKTEMP_FLAGS:
            continue
        if a[:1] == "-" or "/" in a or template is not None or not a:
            return None
        template = a
    return TMPDIR_ROOT + "/" + (template or "tmp.XXXXXXXXXX") + "\n"


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


# Single-letter options an interpreter takes bundled in one word (`perl -lne CODE`,
# `ruby -pe CODE`, `node -pe CODE`, `python3 -Sc CODE`) or with the code attached
# (`python3 -c'CODE'`, `perl -e'CODE'`): per family, the letters that take no value and
# the letters whose value is the code (the rest of the word, or the next word). Any other
# letter takes the rest of the word as its value (perl -i.bak, -F:, -Mstrict; python -W,
# -X), or the next word when it ends the word and that word is no option; perl's -l and
# -0 take the digits after them, and its -C a number or its own letters; python's -m runs
# a module (no code follows).
BUNDLED = {"python": ("bBdEhiIOPqRsSuvx", "c"),
           "perl": ("acnpsStTuUvwWXh", "eE"),
           "ruby": ("acdlnpsSvwyh", "e"),
           "node": ("ic", "ep"),
           "php": ("aehHinqsv", "r"),
           "lua": ("iEvW", "e"),
           "Rscript": ("", "e"),
           "R": ("", "e")}


def _cluster_code(family, a):
    """For one bundled option word of ``family``: the index of its code letter, -1 when
    it holds none and takes no next word, -2 when it ends with a letter that may take the
    next word as its value, -3 when it starts python's module (no code follows)."""
    plain, code = BUNDLED[family]
    i = 1
    n = len(a)
    while i < n:
        c = a[i]
        if c in code:
            if family == "node":
                # node reads -pe as -p -e: a cluster of its letters takes the next word
                for c in a[i + 1:]:
                    if c not in plain and c not in code:
                        return -1
                return n - 1
            return i
        if c in plain:
            i += 1
        elif family == "perl" and (c == "l" or c == "0" or c == "C"):
            i += 1
            if c == "C":
                # -C takes a number or its own letters; the switches go on after them
                while i < n and a[i] in "0123456789IOESiolDALa":
                    i += 1
            elif c == "0" and i < n and a[i] == "x":
                i += 1
                while i < n and a[i] in "0123456789abcdefABCDEF":
                    i += 1
            else:
                while i < n and a[i] in "01234567":
                    i += 1
        elif family == "python" and c == "m":
            return -3
        else:
            return -2 if i == n - 1 else -1
    return -1


def find_code(family, flags, args):
    """For `python -c CODE`, `node -e CODE`, `perl -lne CODE`, `python3 -c'CODE'`, ...:
    (index of CODE, args), or (-1, args) when the interpreter runs no inline code. Options
    before the code are read as the interpreter reads them: values of options that take
    one (-W ignore, -I lib, -r json) are skipped, bundled letters are read one by one, and
    code attached to its option (-c'…', --eval=…) becomes a word of its own in a new args
    list (the command is judged with it so). flags are the family's code options
    (CODE_FLAGS)."""
    value_opts = INTERP_VALUE_OPTS.get(family, ())
    bundled = family in BUNDLED
    n = len(args)
    j = 0
    while j < n:
        a = args[j]
        if a in flags:
            j += 1
            if a[0] != "-":
                # a subcommand (`deno eval`): its own options come before the code
                while j < n and args[j].startswith("-") and len(args[j]) > 1:
                    j += 2 if args[j] in SUBCOMMAND_CODE_VALUE_OPTS else 1
            return (j if j < n else -1), args
        if a == "-" or a == "--" or not a.startswith("-"):
            return -1, args
        if a in value_opts:
            if family == "python" and a == "-m":
                return -1, args
            j += 2
            continue
        eq = a.find("=")
        if eq > 0 and a[:eq] in flags:
            return j + 1, args[:j] + [a[:eq], a[eq + 1:]] + args[j + 1:]
        if family == "node" and eq < 0 and a.startswith("--") and j + 1 < n \
                and not args[j + 1].startswith("-"):
            # a V8 option takes the next word as its value (`--max-heap-size 512`): a
            # code option after it is still read (a script after a flag stays unseen here)
            j += 2
            continue
        if bundled and not a.startswith("--") and len(a) > 2:
            i = _cluster_code(family, a)
            if i >= 0:
                if i + 1 < len(a):
                    return j + 1, args[:j] + [a[:i + 1], a[i + 1:]] + args[j + 1:]
                return (j + 1 if j + 1 < n else -1), args
            if i == -3:
                return -1, args
            if i == -2 and j + 1 < n and not args[j + 1].startswith("-"):
                # the last letter's value is the next word (`ruby -wr json -e`); a next
                # word that is an option is read as one (`perl -pi -e`: -i's extension is
                # optional and attached), so that no code option is taken for a value
                j += 2
                continue
        j += 1
    return -1, args


def su_command_arg(args):
    """For `su -c CMD` / `runuser --command CMD`: index of CMD in args, or -1."""
    n = len(args)
    for k, a in enumerate(args):
        if (a == "-c" or a == "--command") and k + 1 < n:
            return k + 1
    return -1


# The words of a find expression that run something: find_actions yields only at one of
# them, so a find without any runs nothing (the compiled analyser's test before the call).
FIND_ACTIONS = ("-delete", "-exec", "-execdir", "-ok", "-okdir")


def find_actions(args):
    """What `find ROOTS... EXPR` runs, in order, generated one at a time (the caller's
    command limit stops a long expression early), as (origin, argv, root): ("find
    -delete", argv of the `rm` a -delete amounts to), ("find -exec", the argv of
    -exec/-ok with `{}` replaced) and ("find -execdir", the same of -execdir/-okdir,
    which run in the directory of each match: under the root), once per root; the target
    is the root, narrowed by -name when given."""
    roots, k = _find_roots(args)
    n = len(args)
    if not roots:
        roots = ["."]
    name = None
    while k < n:
        a = args[k]
        if (a == "-name" or a == "-iname") and k + 1 < n and name is None:
            name = args[k + 1]
        if a == "-delete":
            for r in roots:
                yield "find -delete", ["-r", "-f", find_target(r, name)], r
        if a == "-exec" or a == "-execdir" or a == "-ok" or a == "-okdir":
            origin = "find -exec" if a == "-exec" or a == "-ok" else "find -execdir"
            j = k + 1
            sub = []
            while j < n and args[j] not in (";", "+", "\\;"):
                sub.append(args[j])
                j += 1
            if sub:
                for r in roots:
                    target = find_target(r, name)
                    yield origin, [x.replace("{}", target) for x in sub], r
            k = j
        elif a in FIND_VALUE:
            k += 1
        k += 1


def arith_names(text):
    """The variable names an arithmetic expression reads (bash evaluates the value of
    each as an expression in turn)."""
    return _ARITH_NAME.findall(text)


_ARITH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# cd, pushd and popd change the working directory of the shell that runs them (and of
# every later command of it); a brace group or a function body is that same shell.
CD_PROGRAMS = ("cd", "pushd", "popd")

# What one call of a function defined in the input costs against MAX_WORK, on top of the
# words its body expands: a body that expands nothing still cannot be called without end.
CALL_COST = 64


# A variable assigned a value that holds an unknown (`X=$(cat list)`, `D="$BASE/x"`) keeps
# the value's known parts for the rules, and a mark in the same environment under the
# name prefixed with DYN_MARK (no variable can be named so: the input holds no NUL), so
# that its later uses are dynamic like the value it came from.
DYN_MARK = "\0"


def assign_var(env, name, value, dynamic):
    """Assign a variable in an analyser's environment, marking it when its value holds
    an unknown and clearing the mark when it does not."""
    env[name] = value
    if dynamic:
        env[DYN_MARK + name] = True
    elif env:
        env.pop(DYN_MARK + name, None)

# A function's positional parameters. A call with known arguments binds $1..$N and $#,
# and "$@" when it is at most one word (several would be one word here, where the shell
# gives several: `rm -rf "$@"` with `~ /` must not be judged as the path "~ /"); `$*`,
# a call with an unknown argument, and the parameters after `shift` or `set -- ...` are
# left unknown, so the body's use of them is judged as a dynamic value.
VAR_CHANGERS = frozenset({"shift", "set", "read", "mapfile", "readarray", "unset"})


def _is_positional(name):
    return name == "@" or name == "*" or name == "#" or name.isdigit()


def bind_positional(env, args, known):
    """Set a function call's positional parameters in env (the call's own copy of the
    caller's variables) and return the caller's, for restore_positional after the call."""
    saved = {}
    for name in [n for n in env if _is_positional(n)]:
        saved[name] = env.pop(name)
    if known:
        for k, a in enumerate(args):
            env[str(k + 1)] = a
        env["#"] = str(len(args))
        if len(args) <= 1:
            env["@"] = args[0] if args else ""
    return saved


def restore_positional(env, saved):
    """Put back the caller's positional parameters after a function call."""
    for name in [n for n in env if _is_positional(n)]:
        del env[name]
    env.update(saved)


def forget_vars(prog, args, env):
    """Variables a builtin of VAR_CHANGERS changes: `shift`, `set -- ...` and
    `set WORD...` the positional parameters (`set -e`, `set -o pipefail` leave them
    alone); `read`, `mapfile`, `readarray` and `unset` the names they are given (every
    operand that is a name: an option's value named so is forgotten too, which only
    makes it unknown). From there on they are unknown."""
    if prog != "shift" and prog != "set":
        for a in args:
            if a[:1] != "-" and a.isidentifier():
                env.pop(a, None)
        return
    if prog == "set" and "--" not in args and (not args or args[0][:1] in ("-", "+")):
        return
    for name in [n for n in env if _is_positional(n)]:
        del env[name]


# Lexical paths: where a relative path leads from a directory, `..` and `.` resolved
# without the file system. Both analysers (and the shapes and the engine) use these.
def join_path(cwd, path):
    """Resolve `path` against `cwd` lexically; `~` stays a home marker."""
    if not path:
        return cwd
    if path[0] == "/" or path[0] == "~":
        full = path
    elif cwd == DYN:
        return DYN      # under an unknown directory, a relative path is unknown
    else:
        full = cwd.rstrip("/") + "/" + path if cwd else path
    return normpath(full)


def normpath(path):
    """`path` with empty, `.` and `..` segments resolved lexically (`..` of `~` is /home)."""
    head = ""
    if path.startswith("~"):
        head = "~"
        path = path[1:]
    elif path.startswith("/"):
        head = "/"
    out = []
    for seg in path.split("/"):
        # (lengths first: most segments are neither "", "." nor "..")
        n = len(seg)
        if n == 0 or (n == 1 and seg[0] == "."):
            continue
        if n == 2 and seg[0] == "." and seg[1] == ".":
            if out and out[-1] != "..":
                out.pop()
            elif head == "~":
                # the parent of the (unknown) home: assume /home/<user>
                head = "/"
                out.append("home")
            elif head != "/":
                out.append("..")
            continue
        out.append(seg)
    if head == "~":
        return "~/" + "/".join(out) if out else "~"
    if head == "/":
        return "/" + "/".join(out)
    return "/".join(out) or "."


def change_dir(prog, args, dynamic, cwd, dirs, oldpwd, cdpath):
    """Where `cd`, `pushd` or `popd` with these expanded arguments leaves the shell, as
    (working directory, directory stack): DYN as the directory when it cannot be known
    (a target that held an unknown value, `cd -` without a known OLDPWD, a relative
    target while CDPATH is set, a stack rotation `pushd +N`, more operands than one).
    An unknown directory is not the workspace: relative paths under it are unknown too."""
    flags = ""
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if a == "--":
            k += 1
            break
        if len(a) > 1 and a[0] == "-" and a[1:].isalpha():
            flags += a[1:]
            k += 1
            continue
        break
    ops = args[k:]
    if prog == "popd":
        if ops:
            return DYN, dirs
        if "n" in flags:
            return cwd, dirs[1:]
        if dirs:
            return dirs[0], dirs[1:]
        return cwd, dirs
    if prog == "pushd" and not ops:
        if dirs:
            return dirs[0], (cwd,) + dirs[1:]
        return cwd, dirs
    if len(ops) > 1 or dynamic:
        target = DYN
    elif not ops:
        target = "~"
    else:
        target = ops[0]
        if target == "-" and prog == "cd":
            target = oldpwd or DYN
        elif prog == "pushd" and len(target) > 1 and target[0] in "+-" and target[1:].isdigit():
            target = DYN
        elif cdpath and target[0] not in "/~" and not (
                target == "." or target == ".." or target.startswith("./") or target.startswith("../")):
            target = DYN
    new = DYN if target == DYN else join_path(cwd, target)
    if prog == "pushd":
        if "n" in flags:
            return cwd, (new,) + dirs
        return new, (cwd,) + dirs
    return new, dirs


# A word of code that expands to an unknown value: what an argument that held one
# becomes when arguments are spliced into code (alias bodies, parallel's command).
# `$*` (the positional parameters) is never known to the analysis.
UNKNOWN_WORD = '"$*"'


def shell_quote(word):
    """word as one single-quoted shell word."""
    return "'" + word.replace("'", "'\\''") + "'"


# GNU parallel's options that take a value as the next word, and its input separators
PARALLEL_VALUE = frozenset({
    "-j", "--jobs", "-P", "--max-procs", "-S", "--sshlogin", "--sshloginfile", "--slf",
    "--joblog", "--results", "--res", "--delay", "--timeout", "-N", "-n", "--max-args",
    "-L", "--max-lines", "-l", "--colsep", "-C", "-d", "--delimiter", "-E", "--eof",
    "--tmpdir", "--tempdir", "--workdir", "--wd", "--env", "--memfree", "--load",
    "--retries", "--halt", "--tag-string", "--tagstring", "--basefile", "--bf",
    "--return", "--transfer-file", "--tf", "--blocksize", "--block", "--block-size",
    "-s", "--max-chars", "--shebang-wrap", "--termseq", "--sqlmaster", "--sqlworker",
    "--sqlandworker", "--profile", "-J", "--header", "--limit", "--rpl", "--nice", "--ssh",
    "--plus", "--seqreplace", "--bar-format"})
PARALLEL_SOURCES = (":::", "::::", ":::+", "::::+")


def parallel_jobs(args, stdin):
    """The shell command lines `parallel ARGS` runs, one per input value, with the value
    put where its replacement strings are (or appended), quoted as parallel quotes it:
    the values of `:::` lists, or the lines of stdin (known text, or None). An input
    that cannot be seen (stdin unknown, `::::` files, -a) is one unknown value
    (UNKNOWN_WORD). Without a command each value is itself a command line: None when
    one of them is unknown. The command's words are joined by spaces, as parallel does
    (so `parallel sh -c 'rm -rf {}'` runs `sh -c rm -rf ...`); with several words the
    line each would make if quoted one by one is added, so neither reading is missed."""
    n = len(args)
    k = 0
    repl = None
    quote = False
    from_file = False
    while k < n:
        a = args[k]
        if a in PARALLEL_SOURCES:
            break
        if a == "--":
            k += 1
            break
        if len(a) > 1 and a[0] == "-":
            if a in ("-q", "--quote"):
                quote = True
            elif a in ("-a", "--arg-file", "--a") or a.startswith("--arg-file="):
                from_file = True
            elif a == "-I" and k + 1 < n:
                repl = args[k + 1]
                k += 2
                continue
            elif a.startswith("-I") and len(a) > 2:
                repl = a[2:]
            elif a in ("-i", "--replace") or a.startswith("--replace="):
                repl = a.split("=", 1)[1] if "=" in a else "{}"
            if a in PARALLEL_VALUE or a in ("-a", "--arg-file", "--a"):
                k += 2
                continue
            k += 1
            continue
        break
    command = []
    while k < n and args[k] not in PARALLEL_SOURCES:
        command.append(args[k])
        k += 1
    values = []
    unknown = from_file
    while k < n:
        sep = args[k]
        k += 1
        while k < n and args[k] not in PARALLEL_SOURCES:
            if sep.startswith("::::"):
                unknown = True
            else:
                values.append(args[k])
            k += 1
    if not values and not unknown:
        if stdin is None:
            unknown = True
        else:
            values = [line for line in stdin.replace("\0", "\n").split("\n") if line.strip()]
    if not command:
        return None if unknown else values
    if quote:
        templates = [" ".join([shell_quote(w) for w in command])]
    else:
        templates = [" ".join(command)]
        if len(command) > 1 and any(_PARALLEL_PLAIN.fullmatch(w) is None for w in command):
            templates.append(" ".join([shell_quote(w) for w in command]))
    words = [shell_quote(v) for v in values]
    if unknown:
        words.append(UNKNOWN_WORD)
    marks = re.compile(re.escape(repl)) if repl else _PARALLEL_MARKS
    jobs = []
    total = 0
    for t in templates:
        count = len(marks.findall(t))
        for w in words:
            size = len(t) + 1 + max(count, 1) * len(w)
            total += size
            if size > MAX_WORD or total > MAX_WORK:
                raise LimitError(WORK_MSG)
            jobs.append(marks.sub(lambda m: w, t) if count else t + " " + w)
    return jobs


# a word that means the same quoted or not
_PARALLEL_PLAIN = re.compile(r"[A-Za-z0-9_.,:/=+@%{}-]*")
# parallel's replacement strings: {} {.} {/} {//} {/.} {#} {%} and numbered {1} {2.} ...
_PARALLEL_MARKS = re.compile(r"\{[0-9]*(?:\.|/|//|/\.)?\}|\{[#%]\}")


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


# ------------------------------------------------ wrappers (sudo, env, timeout, xargs, ...)

def assignment_eq(word):
    """The index of the '=' when word is a shell assignment (NAME=value, NAME+=value),
    else -1."""
    n = len(word)
    for k in range(n):
        c = word[k]
        if c == "=":
            return k if k > 0 else -1
        if c == "+":
            return k + 1 if k > 0 and k + 1 < n and word[k + 1] == "=" else -1
        if not (c == "_" or "a" <= c <= "z" or "A" <= c <= "Z" or (k > 0 and "0" <= c <= "9")):
            return -1
    return -1


def program_name(word):
    """`/usr/bin/rm` -> `rm` (a word ending in "/" is kept whole)."""
    if "/" not in word:
        return word
    j = word.rfind("/")
    if j < len(word) - 1:
        return word[j + 1:]
    return word


def interp_family(prog):
    """The interpreter family a program name belongs to (python3.11 and pypy3 ->
    python, nodejs, tsx and ts-node -> node, luajit -> lua, perl5.36 -> perl, ruby3.2 -> ruby), else the
    name itself: a key of CODE_FLAGS for the interpreters whose inline code is read.
    A character test: each family is asked only of names starting with its letter, and
    compared only with a name of its length (a comparison of two str is a call)."""
    n = len(prog)
    if n == 0:
        return prog
    c = prog[0]
    if c == "p" and n >= 4:
        start = -1
        if prog[1] == "y":
            if prog.startswith("python"):
                start = 6
            elif prog.startswith("pypy"):
                start = 4
        if start >= 0:
            # ^(python|pypy)[0-9.]*$ -- `$` also matches before one final newline
            end = n
            if end > start and prog[end - 1] == "\n":
                end -= 1
            k = start
            while k < end and (prog[k] == "." or "0" <= prog[k] <= "9"):
                k += 1
            if k == end:
                return "python"
        if prog[1] == "e" and prog.startswith("perl") and _digits_and_dots(prog, 4):
            return "perl"
    elif c == "n":
        if n == 6 and prog == "nodejs":
            return "node"
    elif c == "t":
        if n == 3 and prog == "tsx" or n == 7 and prog == "ts-node":
            return "node"       # (tsx and ts-node run TypeScript on node, with its -e and -p)
    elif c == "l":
        if n == 6 and prog == "luajit":
            return "lua"
    elif c == "r":
        if prog.startswith("ruby") and _digits_and_dots(prog, 4):
            return "ruby"
    return prog


def _digits_and_dots(text, start):
    """text[start:].replace(".", "").isdigit(), without the copies."""
    count = 0
    for k in range(start, len(text)):
        c = text[k]
        if c == ".":
            continue
        if not c.isdigit():
            return False
        count += 1
    return count > 0


def unwrap(argv, cwd, env, split_words):
    """Peel wrappers (WRAPPERS: sudo, env, timeout, nice, xargs, watch, busybox, ...) and
    VAR=value prefixes off argv, recording the assignments in env. Returns (argv, sudo,
    cwd, xargs_mode, bare, xargs_file): the wrapped command, whether a wrapper runs it
    as root, its directory (env -C, sudo -D), xargs' replacement string ("" without -I,
    None without xargs), whether a wrapper stood alone (bare) and whether xargs reads
    its items from a file (-a). split_words(text) is the analyser's `env -S` splitter
    (ShellError when it cannot split). Each split and each wrapper counts against MAX_WRAPPERS."""
    sudo = False
    xargs = None
    xfile = False
    peeled = 0
    while argv:
        k = 0
        n = len(argv)
        while k < n:
            eq = assignment_eq(argv[k])
            if eq < 0:
                break
            word = argv[k]
            env[word[:eq].rstrip("+")] = word[eq + 1:]
            k += 1
        if k:
            argv = argv[k:]
        if not argv:
            break
        prog = program_name(argv[0])
        kind = _WRAPPER_KIND.get(prog, 0)
        spec = None
        if not kind & _W_BUSYBOX or len(argv) == 1:
            spec = _WRAPPER_SPECS.get(prog)
            if spec is None:
                break
        peeled += 1
        if peeled > MAX_WRAPPERS:
            raise LimitError(WRAPPERS_MSG)
        if kind & _W_BUSYBOX:
            argv = argv[1:]
            continue
        value_opts = spec[0]
        npos = spec[1]
        if kind & (_W_QUERY | _W_SUDO) and len(argv) > 1:
            a = argv[1]
            if kind & _W_QUERY and a in ("-v", "-V"):
                break
            if kind & _W_SUDO and a in ("-l", "-v", "-k", "-K", "--list", "--validate"):
                break
        is_env = kind & _W_ENV
        is_xargs = kind & _W_XARGS
        is_nice = kind & _W_NICE
        chdir = kind & _W_CHDIR
        i = 1
        n = len(argv)
        while i < n:
            a = argv[i]
            if a == "--":
                i += 1
                break
            if is_env:
                eq = assignment_eq(a)
                if eq >= 0:
                    env[a[:eq]] = a[eq + 1:]
                    i += 1
                    continue
            if a.startswith("-") and len(a) > 1 and not (is_nice and a[1:].isdigit()):
                eq = a.find("=")
                key = (a[:eq] if eq >= 0 else a) if a[1] == "-" else a[:2]
                if is_env and (key == "-S" or key == "--split-string"):
                    # each split rebuilds argv: it counts as a wrapper
                    peeled += 1
                    if peeled > MAX_WRAPPERS:
                        raise LimitError(WRAPPERS_MSG)
                    rest = a.split("=", 1)[1] if "=" in a else (argv[i + 1] if i + 1 < n else "")
                    j = i + 1 if "=" in a else i + 2
                    argv = [argv[0]] + split_words(rest) + argv[j:]
                    n = len(argv)
                    i = 1
                    continue
                if chdir and (key == "-C" or key == "--chdir" or key == "-D"):
                    rest = a.split("=", 1)[1] if "=" in a else (argv[i + 1] if i + 1 < n else "")
                    cwd = join_path(cwd, rest)
                if is_xargs and (key == "-a" or key == "--arg-file"):
                    xfile = True
                if is_xargs and (key == "-I" or key == "--replace" or key == "-i"):
                    if key == "-I":
                        xargs = argv[i + 1] if len(a) == 2 and i + 1 < n else a[2:]
                    elif "=" in a:
                        xargs = a.split("=", 1)[1]
                    else:
                        xargs = "{}" if len(a) == 2 else a[2:]
                    i += 2 if key == "-I" and len(a) == 2 else 1
                    continue
                if key in value_opts and eq < 0 and (a[1] == "-" or len(a) == 2):
                    i += 2
                    continue
                i += 1
                continue
            if is_nice and a.startswith("-") and a[1:].isdigit():
                i += 1
                continue
            break
        i += npos
        if kind & _W_ROOT:
            sudo = True
        if is_xargs and xargs is None:
            xargs = ""
        if kind & _W_WATCH and i < len(argv) and not watch_exec(argv[1:i]):
            # watch runs its arguments, joined, with `sh -c` (unless -x/--exec)
            argv = ["sh", "-c", " ".join(argv[i:])]
            continue
        if i >= len(argv):
            return list(argv), sudo, cwd, None, True, False
        argv = argv[i:]
    return argv, sudo, cwd, xargs, False, xfile


# ------------------------------------------------ what a command runs besides itself
# Side actions, an alias's text, GNU parallel's jobs, find -exec, ssh's remote command, a
# container's exec and inline interpreter code: what to analyse is decided here, once for
# both analysers, and each piece is handed back to the analyser that called through its
# Kernel. These run only for the commands that have such a part (the analysers call them
# only then); the per-command path stays in the analysers.

class Kernel:
    """An analyser's entry points, as the handlers below call them.

    code(text, ctx): analyse shell code in ctx (ShellError when it does not parse);
    tree(tree, ctx): analyse a parse tree of the analyser's own in ctx;
    run(argv, ctx, env, sudo, origin, dynamic=False): analyse an argv, with no redirects,
        stdin or sources (an empty argv runs nothing: no command, no error); ``dynamic``:
        its words hold an unknown (see held_unknown);
    make(program, args, cwd, sudo, env, redirects, origin, code, dynamic): a SimpleCommand;
    emit(ctx, sc): add it to the analysis (its limits counted), returning it;
    persist(child, ctx): keep what a child shell changed (directory, variables) in ctx;
    charge(ctx, n): count n characters of work against MAX_WORK;
    scan(family, code): what inline code does (lighthouse._fast._inline.scan: the pure
        analyser hands in the module, the compiled one its compiled build, _inline_c);
    word(word, ctx): a word of the parse tree expanded, or None when it holds an unknown;
    subs(text, depth): the command substitutions a text (a variable's value read as an
        arithmetic expression) holds, as the parts the analyser expands, or None;
    expand(parts, ctx): expand those parts for what they run;
    text(word): a word's text with its quoting removed and nothing expanded.

    A context (ctx) has child(origin, depth_inc), and sudo, cwd, origin, env (None or a
    dict), funcs, aliases, out and work.passes readable and writable, depth readable. A
    command of the parse tree has words, sub and loop ((variable, words or None, body))
    readable."""

    __slots__ = ("code", "tree", "run", "make", "emit", "persist", "charge", "scan", "word", "subs", "expand",
                 "text")

    def __init__(self, code, tree, run, make, emit, persist, charge, scan, word, subs, expand, text):
        self.code = code
        self.tree = tree
        self.run = run
        self.make = make
        self.emit = emit
        self.persist = persist
        self.charge = charge
        self.scan = scan
        self.word = word
        self.subs = subs
        self.expand = expand
        self.text = text


def inline_commands(k, family, code, ctx, sudo, env):
    """What inline interpreter code would do, as simple commands (what it does is found
    by lighthouse._fast._inline): deletions as `rm`, files written as `tee FILE`,
    literal shell commands analysed, a process call whose command is not a literal as a
    dynamic `sh -c`. Returns the commands to emit; the analysed shell commands are
    emitted already."""
    origin = "inline:" + family
    deletes, snippets, unknown, writes = k.scan(family, code)
    out = []
    for recursive, target in deletes:
        out.append(k.make("rm", (["-r", "-f"] if recursive else ["-f"])
                          + [target if target is not None else DYN],
                          ctx.cwd, sudo, env, [], origin, "", target is None))
    for target in writes:
        out.append(k.make("tee", [target], ctx.cwd, sudo, env, [], origin, "", False))
    if unknown:
        out.append(k.make("sh", ["-c", DYN], ctx.cwd, sudo, env, [], origin, "", True))
    for snippet in snippets:
        child = ctx.child(origin, 1)
        child.sudo = sudo
        try:
            k.code(snippet, child)
        except LimitError:
            raise
        except ShellError:
            out.append(k.make("sh", ["-c", snippet], ctx.cwd, sudo, env, [], origin, "", True))
    return out


def emit_inline(k, family, code, ctx, sudo, env, cwd):
    """Emit inline_commands(...), each in cwd when it is not None."""
    for extra in inline_commands(k, family, code, ctx, sudo, env):
        if cwd is not None:
            extra.cwd = cwd
        k.emit(ctx, extra)


def interpret_seen(k, code, child):
    """Judge what can be seen of code only partly known (a value from $VAR or $(...) in
    it, or arguments after it that are): its command is judged as dynamic by the
    caller, and this keeps `bash -c 'rm -rf /' "$X"` from being waved through. Code that
    does not parse once its unknown parts are marked adds nothing; a limit still makes
    the whole call undecided."""
    try:
        k.code(code, child)
    except LimitError:
        raise
    except ShellError:
        pass


# MAX_LENGTH under a private name, which the compiled build types as a C integer
_MAX_LENGTH = MAX_LENGTH


def check_command(command):
    """The command line an analysis reads: a str (a subclass's own methods are not run),
    at most MAX_LENGTH characters and without a NUL byte; anything else is ShellError
    (LimitError for the length)."""
    if not isinstance(command, str):
        raise ShellError(NOT_STR_MSG)
    text = command if type(command) is str else str.__str__(command)
    if len(text) > _MAX_LENGTH:
        raise LimitError(LENGTH_MSG)
    if "\x00" in text:
        raise ShellError(NUL_MSG)
    return text


def run_arith(k, text, subs, ctx, seen):
    """Run what an arithmetic expression runs: its command substitutions (subs), and what
    the variables it names hold, since bash evaluates a variable's value as an expression
    in turn and expands the array subscripts in it (`a='x[$(cmd)]'; echo $((a))` runs
    cmd). Each name is followed once per expression (seen), the chain at most MAX_DEPTH
    deep; a value that cannot be parsed is ShellError."""
    if subs:
        k.expand(subs, ctx)
    env = ctx.env
    if not env:
        return
    for name in arith_names(text):
        value = env.get(name)
        if value is None or (seen is not None and name in seen):
            continue
        if seen is None:
            seen = set()
        seen.add(name)
        k.charge(ctx, len(value))
        child = ctx.child("arith", 1)
        run_arith(k, value, k.subs(value, child.depth), child, seen)


def arith_text(k, text, ctx):
    """Run what an expanded word evaluated as an arithmetic expression runs (a `let`
    argument, a `declare -i` value): the substitutions its array subscripts hold."""
    run_arith(k, text, k.subs(text, ctx.depth + 1), ctx, None)


def run_loop(k, loop, ctx):
    """Judge a for loop's body once per word of its list (at most MAX_LOOP_WORDS), with
    the variable bound to the word; with an unknown list, once with an unknown value.
    Each pass counts against MAX_LOOP_PASSES, so nested loops cannot multiply the work."""
    name, words, body = loop
    values = []
    if words is None:
        values = None
    else:
        for w in words:
            value = k.word(w, ctx)
            if value is None:
                values = None
                break
            values.append(value)
    if values is None:
        # unknown list: judge the body once, with the variable unknown
        if name and ctx.env is not None:
            ctx.env.pop(name, None)
        k.tree(body, ctx)
        return
    if len(values) > MAX_LOOP_WORDS:
        raise LimitError(LOOP_WORDS_MSG)
    work = ctx.work
    for value in values:
        work.passes += 1
        if work.passes > MAX_LOOP_PASSES:
            raise LimitError(LOOP_PASSES_MSG)
        if name:
            if ctx.env is None:
                ctx.env = {}
            ctx.env[name] = value
        k.tree(body, ctx)


def calls_itself(k, tree, name):
    """Whether a function body (a parse tree) calls the function `name`, at any depth of
    its subshells, groups and loops."""
    for pipe in tree or ():
        for c in pipe:
            if c.words and k.text(c.words[0]) == name:
                return True
            if c.sub is not None and calls_itself(k, c.sub, name):
                return True
            if c.loop is not None and calls_itself(k, c.loop[2], name):
                return True
    return False


def side_actions(k, sc, ctx, found):
    """Emit what a program does on the side (lighthouse._fast._side): shell code
    analysed as such, argvs run, inline code of an interpreter, unknown commands as a
    dynamic `sh -c`, files written as `tee FILE` and files read as `cat FILE`."""
    for origin, kind, value in found:
        if kind == "sh":
            child = ctx.child(origin, 1)
            child.sudo = sc.sudo
            child.cwd = sc.cwd
            try:
                k.code(value, child)
            except LimitError:
                raise
            except ShellError:
                k.emit(ctx, k.make("sh", ["-c", value], sc.cwd, sc.sudo, {}, [], origin, "", True))
        elif kind == "argv":
            child = ctx.child(origin, 1)
            child.cwd = sc.cwd
            k.run(list(value), child, {}, sc.sudo, origin, held_unknown(sc, value))
        elif kind == "dyn":
            k.emit(ctx, k.make("sh", ["-c", DYN], sc.cwd, sc.sudo, {}, [], origin, "", True))
        elif kind == "write":
            k.emit(ctx, k.make("tee", [value], sc.cwd, sc.sudo, {}, [], origin, "", False))
        elif kind == "read":
            k.emit(ctx, k.make("cat", [value], sc.cwd, sc.sudo, {}, [], origin, "", False))
        else:
            emit_inline(k, kind[len("code:"):], value, ctx, sc.sudo, {}, sc.cwd)


def stdin_secret(k, ctx, value):
    """A here-string, or the body of a heredoc whose delimiter is not quoted, expanded
    to value and fed to a command's stdin: when it holds an unknown variable named like a
    secret, the value goes where `echo "$TOKEN" | cmd` would send it (the transcript,
    a file, a host), so it is judged as the pseudo-command "(stdin)" with that text,
    which the rule on printed secrets reads as it reads echo's arguments."""
    if SECRET_MARK in value:
        k.emit(ctx, k.make("(stdin)", [value], ctx.cwd, ctx.sudo, {}, [], ctx.origin, "", False))


def run_alias(k, name, args, dynamic, redirects, ctx, sudo):
    """A name defined with `alias` earlier in the input: its text, followed by the
    arguments, is analysed as code in the same shell (its cd holds after it). Within
    its own expansion it is not expanded again, as in bash; arguments that held an
    unknown value stay unknown."""
    body = ctx.aliases[name]
    code = body + " " + " ".join([UNKNOWN_WORD if dynamic and DYN in a else shell_quote(a)
                                  for a in args])
    k.charge(ctx, CALL_COST + len(code))
    child = ctx.child("alias:" + name, 1)
    child.sudo = sudo
    ctx.aliases[name] = None
    k.code(code, child)
    ctx.aliases[name] = body
    k.persist(child, ctx)
    if redirects:
        k.emit(ctx, k.make("(redirect)", [], ctx.cwd, sudo, {}, redirects, ctx.origin, "", False))


def run_function(k, name, body, args, dynamic, ctx):
    """A function defined earlier in the input, judged at every call, in the caller's
    shell: its cd and assignments hold after it. Inside its own body it is not expanded
    again (a recursive function is flagged where it is defined). Its positional
    parameters are the call's arguments (unknown when one of them is)."""
    k.charge(ctx, CALL_COST)
    child = ctx.child("function:" + name, 1)
    if child.env is None:
        child.env = {}
    saved = bind_positional(child.env, args, not dynamic)
    ctx.funcs[name] = None
    k.tree(body, child)
    ctx.funcs[name] = body
    k.persist(child, ctx)
    restore_positional(ctx.env, saved)


def run_shell_code(k, sc, code, ctx, dynamic, sources):
    """`sh -c CODE [NAME [ARGS...]]` (sc is the shell's command): the code is analysed in
    a child shell with sc's sudo and directory, and with $0 = NAME and $1... = ARGS (the
    idiom of `find -exec sh -c '... "$1"' _ {} ';'`); a new shell does not see its
    caller's positional parameters. When the command holds an unknown value, or the code
    holds one that came from programs' output (sources), sc is emitted with the code as
    its own and what can be seen of the code is judged too, its parameters unknown.
    Returns sc when it was emitted, else None."""
    child = ctx.child(sc.program + " -c", 1)
    child.sudo = sc.sudo
    child.cwd = sc.cwd
    rest = sc.args[shell_code_arg(sc.args) + 1:]
    if child.env is None:
        child.env = {}
    bind_positional(child.env, rest[1:], not dynamic)
    if rest and not dynamic:
        child.env["0"] = rest[0]
    if dynamic or DYN in code and sources:
        sc.code_from = tuple(sources) if sources else ()
        sc.code = code
        k.emit(ctx, sc)
        interpret_seen(k, code, child)
        return sc
    k.code(code, child)
    return None


def run_eval(k, sc, ctx, dynamic, sources):
    """`eval ARGS`: the arguments, joined, analysed as code in this same shell (its cd
    and assignments hold after it). With an unknown argument, sc is emitted (its code
    from sources) and what can be seen of the code is judged. Returns sc when it was
    emitted, else None."""
    code = " ".join(sc.args)
    child = ctx.child("eval", 1)
    child.sudo = sc.sudo
    if dynamic:
        sc.code_from = tuple(sources) if sources else ()
        k.emit(ctx, sc)
        interpret_seen(k, code, child)
        k.persist(child, ctx)
        return sc
    k.code(code, child)
    k.persist(child, ctx)
    return None


def run_su(k, sc, ctx):
    """`su -c CODE` and `runuser -c CODE`: the code analysed as root; su itself is
    emitted as run by root. Returns sc."""
    i = su_command_arg(sc.args)
    if i >= 0:
        child = ctx.child("su -c", 1)
        child.sudo = True
        k.code(sc.args[i], child)
    sc.sudo = True
    return k.emit(ctx, sc)


def run_stdin_shell(k, main, stdin_code, ctx):
    """A shell fed literal code on stdin (a heredoc or here-string): the code is analysed
    in a child shell. Code that does not parse makes the shell dynamic; when all the
    code it runs was judged and the shell adds nothing of its own (adds_nothing), the
    shell's command is taken out. Returns main, or None when it was taken out."""
    child = ctx.child("stdin:" + main.program, 1)
    child.sudo = main.sudo
    try:
        k.code(stdin_code, child)
    except LimitError:
        raise
    except ShellError:
        main.dynamic = True
    else:
        if adds_nothing(main):
            ctx.out.remove(main)
            return None
    return main


# Files a call writes and then runs, sources or feeds to a database client (`echo CODE >
# x.sh && bash x.sh`, `cat > t.py <<EOF ... EOF; python3 t.py`): each analyser keeps the
# commands that write files in the analysis's work record (work.writes: (commands
# emitted before, the command, its stdin)), and run_written reads what each write puts
# in a file (note_writes, when the analysis knows it) and judges the commands that run
# the file on that text, as the same code
# typed on the line would be; what the analysis does not know is code of unknown
# content. A file's text is kept up to MAX_LENGTH characters (past it, unknown).
_NO_FILE = ("/dev/null", "/dev/stdout", "/dev/stderr", "-")


def _write_targets(sc):
    """[(op, target)] of the files sc writes: `>`/`>>` redirects to a file, tee's and
    mkfifo's arguments."""
    targets = []
    for op, target in sc.redirects:
        if (op == ">" or op == ">>") and target not in _NO_FILE:
            targets.append((op, target))
    if sc.program == "tee" or sc.program == "mkfifo":
        op = ">>" if "-a" in sc.args or "--append" in sc.args else ">"
        for a in sc.args:
            if a[:1] != "-":
                targets.append((op, a))
    return targets


def _write_text(sc, stdin_code):
    """The text sc writes (what it prints, tee's stdin) when the analysis knows it, else
    None."""
    if sc.program == "tee":
        return stdin_code
    if sc.dynamic or sc.program == "mkfifo":
        return None
    return printed_text(sc.program, sc.args, sc.cwd, stdin_code)


def note_writes(k, sc, stdin_code, ctx, when, written):
    """Record the files sc writes through `>`/`>>` redirects (and tee's arguments, and
    the pipes mkfifo makes), each with the text it receives when known (echo, printf,
    cat of a heredoc; tee of a known stdin), else None, in written: {path: ([when, ...],
    [text, ...])}, in the order of the writes (when: the commands emitted before sc's
    write). The text an append builds is charged as work (MAX_WORK), so that appends
    stay linear."""
    targets = _write_targets(sc)
    if not targets:
        return
    text = _write_text(sc, stdin_code)
    for op, target in targets:
        path = join_path(sc.cwd, target)
        entries = written.get(path)
        if entries is None:
            entries = written[path] = ([], [])
        new = text
        if op == ">>" and new is not None:
            texts = entries[1]
            new = texts[-1] + new if texts and texts[-1] is not None else None
            if new is not None:
                k.charge(ctx, len(new))
        if new is not None and len(new) > MAX_LENGTH:
            new = None
        entries[0].append(when)
        entries[1].append(new)


def _script_of(c, family):
    """The file c runs as code, reads statements from or sources (a script argument, a
    database client's -f FILE, a `<` redirect, the program itself), and the arguments
    after it (None when it comes from a redirect or a -f option); (None, None) when
    there is none."""
    prog = c.program
    args = c.args
    if c.code:
        return None, None
    k = -1
    if prog in SHELLS:
        if shell_code_arg(args) < 0:
            k = shell_script_arg(args)
    elif prog == "source" or prog == ".":
        k = 0 if args else -1
    elif family in CODE_FLAGS:
        k = interp_script_arg(family, args)
    elif prog in SQL_FILE_FLAGS:
        files = SQL_FILE_FLAGS[prog]
        name = None
        for j in range(len(args)):
            a = args[j]
            if a in files and j + 1 < len(args):
                name = args[j + 1]
            elif a.partition("=")[0] in files:
                name = a.partition("=")[2]
        if name is not None:
            return name, None
    elif c.path:
        return c.path, args
    if k >= 0:
        return args[k], args[k + 1:]
    name = None
    for op, target in c.redirects:
        if op == "<":
            name = target
    return name, None


def run_written(k, ctx, family_of):
    """Judge the commands of ctx.out that run a file the same call writes (note_writes)
    on the text written there before them (a file also written after them, or a pipe
    mkfifo made, holds code of unknown content): shell code analysed in a child shell (with
    the arguments after the script as its positional parameters, the shell's command
    taken out when it adds nothing of its own), inline code of an interpreter's family
    (family_of: the analyser's interp_family) as such, statements as the client's own;
    a file whose text is unknown makes the code of unknown content (DYN). Linear in the
    commands and the text."""
    writes = ctx.work.writes
    if not writes:
        return
    written = {}
    for when, sc, stdin_code in writes:
        note_writes(k, sc, stdin_code, ctx, when, written)
    if not written:
        return
    out = ctx.out
    taken = set()
    ran = set()
    for i in range(len(out)):
        c = out[i]
        family = family_of(c.program)
        name, rest = _script_of(c, family)
        if name is None:
            continue
        path = join_path(c.cwd, name)
        entries = written.get(path)
        if entries is None:
            continue
        ran.add(path)
        j = bisect_right(entries[0], i)
        # a write after the command (in the background, into a pipe) is of unknown text
        text = entries[1][j - 1] if j == len(entries[0]) else None
        if text is None:
            c.code = DYN
            c.dynamic = True
            continue
        c.code = text
        if i and name != c.path and out[i - 1].program == "(program-path)" and not out[i - 1].dynamic \
                and join_path(out[i - 1].cwd, out[i - 1].args[0]) == path:
            # a script whose text is known is judged on it here: not an unseen program
            # (a file run as a program is still one, whatever it was given)
            taken.add(id(out[i - 1]))
        if c.program in SQL_FLAGS:
            continue
        if family in CODE_FLAGS:
            emit_inline(k, family, text, ctx, c.sudo, c.env, c.cwd)
            continue
        child = ctx.child("written:" + c.program, 1)
        child.sudo = c.sudo
        child.cwd = c.cwd
        if child.env is None:
            child.env = {}
        bind_positional(child.env, rest or [], rest is not None and not c.dynamic)
        try:
            k.code(text, child)
        except LimitError:
            raise
        except ShellError:
            c.code = DYN
            c.dynamic = True
            continue
        if rest is not None and not c.redirects and not c.env and not c.dynamic:
            taken.add(id(c))
    # a file that runs later by itself, not run in this call: judged on what each write
    # puts in it (an append's text alone: the rest was there before)
    for when, sc, stdin_code in writes:
        text = None
        for op, target in _write_targets(sc):
            if not _may_be_runnable(sc.cwd, target):
                continue
            path = join_path(sc.cwd, target)
            if path not in ran and _runnable_kind("", path):
                if text is None:
                    text = _write_text(sc, stdin_code)
                    if text is None:
                        break
                _judge_written_file(k, ctx, path, text)
    if taken:
        out[:] = [c for c in out if id(c) not in taken]


# _content's file_kind and embedded_code, imported on first use (_content imports this
# module through _engine_shared): the compiled build's from its compiled build
_CONTENT: list = []


def _content():
    if not _CONTENT:
        if __name__.endswith("_c"):
            from ._content_c import embedded_code, file_kind
        else:
            from ._content import embedded_code, file_kind
        _CONTENT.extend((file_kind, embedded_code))
    return _CONTENT


def _runnable_kind(cwd, target):
    """The kind of code a file written at target holds by its name (_content.file_kind:
    a script, a Makefile, package.json, a workflow, a git hook), or None; None for a
    file right in the home (~/.bashrc, ~/.profile): writing there is never allowed by
    its path (the persistence and outside-workspace rules), whatever it receives."""
    full = join_path(cwd, target)
    if full[:2] == "~/" and full.find("/", 2) < 0:
        return None
    return _content()[0](full, "")


def _may_be_runnable(cwd, target):
    """Whether _runnable_kind(cwd, target) may be a kind (never False when it is one),
    without resolving the path where resolving cannot change the answer: file_kind reads
    the name and a `/.` directory (.git/hooks, .github/workflows), which a path holding
    no `/.` and not in the home keeps as it is."""
    if "/." in target or "/." in cwd or target[:2] == "~/":
        return _runnable_kind(cwd, target) is not None
    return _content()[0](target if target[:1] == "/" else "/" + target, "") is not None


def writes_runnable(writes):
    """Whether a command of writes (work.writes) writes a file that runs later by itself
    (_runnable_kind): run_written then judges the text it receives, as a Write of it is.
    (_may_be_runnable's test, written out: the compiled analyser asks it of every call
    that writes a file and runs none.)"""
    kind_of = _content()[0]
    for when, sc, stdin_code in writes:
        cwd = sc.cwd
        # (_write_targets' files, but for mkfifo's pipes, which receive no known text)
        targets = [t for o, t in sc.redirects if (o == ">" or o == ">>") and t not in _NO_FILE]
        if sc.program == "tee":
            targets += [a for a in sc.args if a[:1] != "-"]
        for target in targets:
            if "/." in target or "/." in cwd or target[:2] == "~/":
                if _runnable_kind(cwd, target) is not None:
                    return True
            elif kind_of(target if target[:1] == "/" else "/" + target, "") is not None:
                return True
    return False


def _judge_written_file(k, ctx, path, text):
    """Judge what a file that runs later by itself receives (a script, package.json's
    lifecycle scripts, a Makefile's recipes, a workflow's steps) as the commands it
    holds, as a Write of the same text is judged: `printf 'rm -rf ~' > scripts/x.sh`
    is `rm -rf ~`. A Dockerfile's RUN lines run in the image, not here: not judged. Code
    that does not parse is judged line by line (up to MAX_CONTENT_LINES); a line that
    still does not parse makes the call unparsed (undecided)."""
    kind = _runnable_kind("", path)
    found = _content()[1](kind, text) if kind is not None else None
    if found is None or found[1]:
        return
    code = found[0]
    try:
        k.code(code, ctx.child("written-file", 1))
    except ShellError:
        lines = code.split("\n")
        if len(lines) > _MAX_WRITTEN_LINES:
            raise
        for line in lines:
            if line.strip():
                k.code(line, ctx.child("written-file", 1))


# (_content.MAX_CONTENT_LINES: the lines of a Write's text judged one by one)
_MAX_WRITTEN_LINES = 256


def adds_nothing(sc):
    """Whether a shell fed literal code would be judged on nothing but that code: no
    redirect, environment, unknown value or operand of its own."""
    if sc.redirects or sc.env or sc.dynamic or sc.code_from:
        return False
    for a in sc.args:
        if not (a.startswith("-") or a.startswith("+")):
            return False
    return True


# Temporary directories: an agent writes there freely (the packs' @scratch set holds
# them), and so may anyone else or any earlier call, unreviewed.
SCRATCH_DIRS = ("/tmp/", "/var/tmp/", "/private/tmp/", "/var/folders/")
# Where a program named by its path may not be what its name says: the temporary
# directories, shared memory, open descriptors and the downloads directory (the packs'
# @program_scratch set, with DOWNLOADS_GLOBS: the rules and the analysers read one list).
PROGRAM_SCRATCH = SCRATCH_DIRS + ("/dev/shm/", "/dev/fd/", "/proc/self/fd/", "~/Downloads/")
# A home's downloads directory by its absolute path, whoever's home it is.
DOWNLOADS_GLOBS = ("/home/*/Downloads/**", "/Users/*/Downloads/**", "/root/Downloads/**")


def under_scratch(path):
    """Whether a resolved path is under PROGRAM_SCRATCH or a home's downloads directory
    by its absolute path (DOWNLOADS_GLOBS: /home/NAME/Downloads/, /Users/NAME/Downloads/,
    /root/Downloads/)."""
    if path.startswith(PROGRAM_SCRATCH):
        return True
    if path.startswith("/root/Downloads/"):
        return True
    if path.startswith("/home/"):
        start = 6
    elif path.startswith("/Users/"):
        start = 7
    else:
        return False
    k = path.find("/", start)
    return k > start and path.startswith("/Downloads/", k)
# A path can resolve under one of them only if it or the directory it is resolved
# against holds one of these names (resolving takes segments from those two only): a
# test that lets most paths skip the resolving.
SCRATCH_NAMES = ("tmp", "shm", "Downloads", "folders", "fd")


def scratch_named(text):
    """Whether text holds one of SCRATCH_NAMES: one pass over its characters, each name
    compared only where its first letter stands (t, s, D, f)."""
    n = len(text)
    for k in range(n):
        c = text[k]
        if c == "t":
            if k + 2 < n and text[k + 1] == "m" and text[k + 2] == "p":
                return True
        elif c == "s":
            if k + 2 < n and text[k + 1] == "h" and text[k + 2] == "m":
                return True
        elif c == "f":
            if k + 1 < n and text[k + 1] == "d" or text.startswith("folders", k):
                return True
        elif c == "D":
            if text.startswith("Downloads", k):
                return True
    return False


def run_program_path(k, ctx, word, cwd, home, sudo, origin):
    """A program named by a path runs what that file holds, which need not be what its
    name says: `/tmp/x/make` or `$D/make` is not make. When the path is under a scratch
    or downloads directory (PROGRAM_SCRATCH, resolved against cwd) or holds an unknown,
    the (program-path) pseudo-program is emitted before the command, with the path as its
    argument (dynamic for an unknown), so that rules judge where the program is
    (rexec.program-from-scratch, rexec.program-path-unknown, routine.program-in-workspace);
    the command itself is still judged by its name."""
    dynamic = DYN in word
    if not dynamic:
        if not scratch_named(word) and (word[:1] == "/" or word[:1] == "~" or not scratch_named(cwd)):
            return
        full = join_path(cwd, word)
        if not under_scratch(full):
            # (under the home, the same path in its ~ form: ~/Downloads; a home of "/"
            # or one under /tmp hides nothing, the absolute form was tested first)
            root = home.rstrip("/") if home else ""
            if not (root and full.startswith(root + "/")
                    and ("~" + full[len(root):]).startswith(PROGRAM_SCRATCH)):
                return
    k.emit(ctx, k.make("(program-path)", [word], cwd, sudo, {}, [], origin, "", dynamic))


# interpreter family -> its options whose value is the file it runs
SCRIPT_FILE_OPTS = {"java": ("-jar",), "pwsh": ("-File", "-file", "-f"),
                    "powershell": ("-File", "-file", "-f")}
# interpreter family -> its options whose value is a file it loads code from before its
# script, or a directory it loads modules from (`node -r FILE`, `ruby -I DIR`), the
# value attached or the next word
PRELOAD_OPTS = {"node": ("--require", "--import", "--loader", "--experimental-loader", "-r"),
                "ruby": ("-r", "-I"), "perl": ("-I",)}


def run_script_path(k, ctx, family, args, script, redirects, cwd, home, sudo, origin):
    """An interpreter runs the code of a file: its script argument (args[script], -1 for
    none), the value of its file option (SCRIPT_FILE_OPTS: `java -jar FILE`, `pwsh -File
    FILE`) or the file its stdin is redirected from, and loads the files and directories
    its options before the script name (PRELOAD_OPTS: `node -r FILE`, `ruby -I DIR`).
    Each is what runs, so one under a scratch or downloads directory is judged as a
    program run by that path (run_program_path): `python3 /tmp/x.py` as `/tmp/x.py`
    would be, `python3 /tmp` (its __main__.py) as `/tmp/`. A module (`python -m NAME`)
    names no file; a file named by an unknown is left to the interpreter's rules, as it
    was; one holding a glob or an unknown is judged by its known directory (`find /tmp
    -exec python3 {} ;` runs `/tmp/**/*.py`). One pass over the options."""
    opts = SCRIPT_FILE_OPTS.get(family, ())
    preload = PRELOAD_OPTS.get(family, ())
    if not opts and not preload and not redirects:
        # the common case, first: a script that can resolve under no scratch directory
        # (neither it nor the directory it is resolved against names one)
        if script < 0 or not scratch_named(args[script]) and not scratch_named(cwd):
            return
    words = []
    if opts or preload:
        n = len(args) if script < 0 else script
        for j in range(n):
            a = args[j]
            if a in opts or a in preload:
                if j + 1 < len(args):
                    words.append(args[j + 1])
                continue
            for o in preload:
                if a.startswith(o) and len(a) > len(o) and (o[1] != "-" or a[len(o)] == "="):
                    words.append(a[len(o) + 1:] if a[len(o)] == "=" else a[len(o):])
                    break
    if script >= 0:
        if not (family == "python" and script > 0 and args[script - 1] == "-m"):
            words.append(args[script])
    elif not opts or not words:
        for op, target in redirects:
            if op == "<":
                words.append(target)
    for word in words:
        if not word or "://" in word or not scratch_named(word) and not scratch_named(cwd):
            continue
        if DYN not in word:
            full = join_path(cwd, word)
            if not under_scratch(full) and under_scratch(full + "/"):
                # a scratch directory itself (its __main__.py)
                k.emit(ctx, k.make("(program-path)", [full + "/"], cwd, sudo, {}, [], origin, "", False))
                continue
            run_program_path(k, ctx, word, cwd, home, sudo, origin)
            continue
        known = word[:word.find(DYN)]
        known = known[:known.rfind("/") + 1]
        if known and under_scratch(join_path(cwd, known) + "/"):
            k.emit(ctx, k.make("(program-path)", [word], cwd, sudo, {}, [], origin, "", False))


# PATH values longer than this, or with more entries, are not read: a command looked up
# in one holds an unknown program (rexec.program-path-unknown).
MAX_PATH_VALUE = 4096
MAX_PATH_ENTRIES = 64


def run_path_lookup(k, ctx, name, env, shell_env, cwd, home, sudo, origin):
    """A program named by name is looked up in PATH (env: the command's assignments,
    shell_env: the line's variables): when the line sets PATH (`PATH=/tmp/x:$PATH
    make`, `export PATH=...; make`) to hold a scratch or downloads directory, the program
    may be the file there, and is judged as that path would be (run_program_path, once,
    for the first such entry). Entries holding an unknown are not judged (`$PATH` itself
    is one); a PATH too long to read makes the program unknown."""
    path = env.get("PATH") if env else None
    if path is None:
        if not shell_env:
            return
        path = shell_env.get("PATH")
        if path is None:
            return
    if len(path) > MAX_PATH_VALUE or path.count(":") >= MAX_PATH_ENTRIES:
        k.emit(ctx, k.make("(program-path)", [DYN + "/" + name], cwd, sudo, {}, [], origin, "", True))
        return
    before = len(ctx.out)
    for entry in path.split(":"):
        if DYN in entry:
            continue
        run_program_path(k, ctx, (entry or ".").rstrip("/") + "/" + name, cwd, home, sudo, origin)
        if len(ctx.out) > before:
            return


def command_env(env, shell_env, names, work):
    """The variables a command's side effects are read from (names: the analyser's
    COMMAND_ENV): the line's own (`export LD_PRELOAD=...; ls`; a plain assignment counts
    too, as a variable the environment already exports takes the new value) under the
    command's prefix assignments; env itself when the line set none of names. A line
    variable is judged once per analysis (work.env_seen), at the first command that runs
    with it: the commands its value runs see it too and must not judge it again. Constant
    work per command (at most the smaller of the two sets is walked)."""
    if len(shell_env) <= len(names):
        if names.isdisjoint(shell_env):
            return env
        items = [(n, v) for n, v in shell_env.items() if n in names]
    else:
        items = [(n, shell_env[n]) for n in names if n in shell_env]
        if not items:
            return env
    seen = work.env_seen
    if seen is None:
        seen = work.env_seen = set()
    merged = None
    for item in items:
        if item not in seen:
            seen.add(item)
            if merged is None:
                merged = {}
            merged[item[0]] = item[1]
    if merged is None:
        return env
    merged.update(env)
    return merged


def parallel_workdir(args):
    """The directory GNU parallel runs its jobs in (`--wd DIR`, `--workdir=DIR`, given
    before the command), or None: parallel's own default, or `...` (a new temporary
    directory for each job)."""
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        if a[:1] != "-" or a == "--":
            return None
        if a == "--wd" or a == "--workdir":
            value = args[k + 1] if k + 1 < n else None
            return None if value == "..." else value
        if a.startswith("--wd=") or a.startswith("--workdir="):
            value = a[a.find("=") + 1:]
            return None if value == "..." else value
        k += 2 if a in PARALLEL_VALUE else 1
    return None


def run_parallel(k, args, ctx, stdin_code, sudo, cwd):
    """GNU parallel: the command lines it runs (parallel_jobs) are analysed as code, one
    per input value, in its working directory (parallel_workdir); an input it reads from
    somewhere unseen is an unknown value. False when nothing can be said (no command and
    unknown input): the caller judges the parallel command itself."""
    jobs = parallel_jobs(args, stdin_code)
    if jobs is None:
        return False
    wd = parallel_workdir(args)
    if wd:
        cwd = join_path(cwd, wd)
    work = ctx.work
    for code in jobs:
        work.passes += 1
        if work.passes > MAX_LOOP_PASSES:
            raise LimitError(LOOP_PASSES_MSG)
        k.charge(ctx, len(code))
        child = ctx.child("parallel", 1)
        child.sudo = sudo
        child.cwd = cwd
        k.code(code, child)
    return True


def run_find_actions(k, sc, ctx):
    """What `find -delete` and `find -exec ...` run, beside find itself; -execdir's
    command runs in the root it searches (the directory of each match lies under it)."""
    for origin, argv, root in find_actions(sc.args):
        if origin == "find -delete":
            k.emit(ctx, k.make("rm", argv, sc.cwd, sc.sudo, sc.env, [], origin, "", sc.dynamic))
        elif origin == "find -execdir":
            child = ctx.child(origin, 1)
            child.cwd = join_path(sc.cwd, root)
            k.run(argv, child, dict(sc.env), sc.sudo, "find -exec", held_unknown(sc, argv))
        else:
            k.run(argv, ctx, dict(sc.env), sc.sudo, origin, held_unknown(sc, argv))


def run_ssh_remote(k, sc, ctx):
    """ssh's remote command, analysed as code in the remote home; code that does not
    parse makes the ssh command dynamic."""
    remote = ssh_remote(sc.args)
    if remote is not None:
        child = ctx.child("ssh", 1)
        child.cwd = "~"
        child.sudo = False
        try:
            k.code(remote, child)
        except LimitError:
            raise
        except ShellError:
            sc.dynamic = True


def held_unknown(sc, argv):
    """Whether an argv taken from the words of ``sc`` (a command a program runs: exec's,
    find -exec's) holds one of its unknowns: ``sc`` is dynamic and a word of the argv
    holds the unknown's stand-in. The inner command is then judged as dynamic, as the same
    words would be on the command line (`docker exec db psql -c "$Q"` like `psql -c "$Q"`)."""
    return sc.dynamic and any(DYN in a for a in argv)


def run_container_exec(k, sc, ctx):
    """docker/podman exec, compose exec and kubectl exec run their argv in a container:
    the command is judged like one on the command line (in the container's working
    directory, "/" unless -w names one), beside the exec itself."""
    found = container_exec(sc.program, sc.args)
    if found is not None:
        origin = sc.program + " exec"
        child = ctx.child(origin, 1)
        child.cwd = found[1]
        child.sudo = False
        k.run(found[0], child, {}, False, origin, held_unknown(sc, found[0]))


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
# ---------------------------------------------------------------- brace expansion
# Bash expands `{a,b}` and `{1..3}` in the unquoted text of a command's words and of a
# for loop's list, before tilde, parameter and command expansion: `rm -rf {~,/tmp/x}`
# deletes the home directory, `cat ~/.{aws,ssh}/credentials` reads two files. Both
# parsers hand a word over as segments (a str: unquoted literal text, where braces,
# commas and `~` are active; anything else: an opaque part of their own) and take back
# the words it expands to.

_SEQ = re.compile(r"(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.(-?\d+))?\Z")


def _atoms(segments):
    out = []
    for seg in segments:
        if type(seg) is str:
            out.extend(seg)
        else:
            out.append(seg)
    return out


def _sequence(text):
    """The words of a `{x..y[..step]}` sequence's inside, or None when it is not one."""
    m = _SEQ.match(text)
    if m is None:
        return None
    a, b, step = m.group(1), m.group(2), m.group(3)
    inc = abs(int(step)) if step else 1
    inc = inc or 1
    if a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        x, y = int(a), int(b)
        if abs(y - x) // inc >= MAX_ARGS:
            raise LimitError(BRACES_MSG)
        width = max(len(a), len(b)) if (a.lstrip("-")[:1] == "0" and len(a.lstrip("-")) > 1) or (
            b.lstrip("-")[:1] == "0" and len(b.lstrip("-")) > 1) else 0
        rng = range(x, y + 1, inc) if x <= y else range(x, y - 1, -inc)
        return [("%0*d" % (width, v)) if width else str(v) for v in rng]
    if a.isalpha() and b.isalpha() and len(a) == len(b) == 1:
        x, y = ord(a), ord(b)
        rng = range(x, y + 1, inc) if x <= y else range(x, y - 1, -inc)
        return [chr(v) for v in rng]
    return None


def _first_group(atoms):
    """(open, close, alternatives) of the brace expression whose `{` comes first in
    atoms, or None: one pass with a stack, so nested or unmatched braces cost linear
    time. A group is an expression when it holds a comma at its own level, or when its
    inside is a sequence (`1..3`, `a..e`, `01..10..2`)."""
    stack = []          # [open index, top-level commas]
    best = None
    for j, a in enumerate(atoms):
        if a == "{":
            stack.append((j, []))
        elif a == "," and stack:
            stack[-1][1].append(j)
        elif a == "}" and stack:
            i, commas = stack.pop()
            if best is not None and best[0] < i:
                continue
            if commas:
                bounds = [i] + commas + [j]
                best = (i, j, [atoms[bounds[k] + 1:bounds[k + 1]] for k in range(len(bounds) - 1)])
            elif j - i <= 48 and all(type(a) is str for a in atoms[i + 1:j]):
                seq = _sequence("".join(atoms[i + 1:j]))
                if seq is not None:
                    best = (i, j, [list(w) for w in seq])
    return best


def _expand_atoms(atoms):
    """The atom lists atoms expands to, left to right. Every list made is charged to a
    budget of MAX_WORK atoms, and at most MAX_ARGS words come out: past either it raises
    LimitError, so the work is linear in the input whatever it nests or repeats."""
    out = []
    budget = MAX_WORK
    pending = [atoms]
    while pending:
        w = pending.pop()
        group = _first_group(w)
        if group is None:
            if w:       # an empty word (`{,a}`) is dropped, as bash drops it
                out.append(w)
            if len(out) > MAX_ARGS:
                raise LimitError(BRACES_MSG)
            continue
        i, j, alternatives = group
        prefix, suffix = w[:i], w[j + 1:]
        made = []
        for alt in alternatives:
            budget -= len(prefix) + len(alt) + len(suffix)
            if budget < 0:
                raise LimitError(BRACES_MSG)
            made.append(prefix + alt + suffix)
        made.reverse()
        pending.extend(made)
    return out


def _segments(atoms, tilde):
    segs = []
    run = []
    k = 0
    if atoms and atoms[0] == "~":
        # a `~` or `~name` that begins a word after the expansion is a home directory
        k = 1
        while k < len(atoms) and type(atoms[k]) is str and atoms[k] in _NAME_CHARS:
            k += 1
        segs.append(tilde)
    for a in atoms[k:]:
        if type(a) is str:
            run.append(a)
            continue
        if run:
            segs.append("".join(run))
            run = []
        segs.append(a)
    if run:
        segs.append("".join(run))
    return segs


def assigns(segments):
    """Whether a word (as segments) is a variable assignment (`NAME=...`, `NAME+=...`):
    bash does not brace-expand the assignments that come before a command's name."""
    first = segments[0] if segments else None
    if type(first) is not str:
        return False
    name = first.partition("=")[0]
    if name == first:
        return False
    if name.endswith("+"):
        name = name[:-1]
    return bool(name) and name[0] not in "0123456789" and all(ch in _NAME_CHARS for ch in name)


_DIGIT_RUN = re.compile(r"\d+")


def _numbered(words):
    """Whether the words differ only in their numbers (`{1..100}`, `part{01..40}.csv`)."""
    shapes = set()
    for w in words:
        if any(type(a) is not str for a in w):
            return False
        shapes.add(_DIGIT_RUN.sub("0", "".join(w)))
        if len(shapes) > 1:
            return False
    return True


def leading_assignments(words, state, segments_of):
    """Whether every word of a command so far is an assignment (so that a brace word
    that is one too is not expanded). ``state`` is the command's [words checked, all
    assignments so far], extended from where it stopped, so a command costs linear time
    however many brace words it has."""
    k, ok = state
    while ok and k < len(words):
        ok = assigns(segments_of(words[k]))
        k += 1
    state[0], state[1] = k, ok
    return ok


def brace_expand(segments, tilde, loop=False):
    """The words (lists of segments) a word of segments expands to by bash's brace
    expansion, or None when it holds no brace expression. ``tilde`` is the parser's own
    part for a home directory, placed where an expanded word begins with `~`. Bounded:
    past MAX_ARGS words of one word it raises LimitError (the call is undecided).
    ``loop``: the word is in a for loop's list, whose body is judged once per word (at
    most MAX_LOOP_WORDS); more words than that which differ only in their digits
    (`for i in {1..100}`) are left as the one word written, a stand-in for them all, so
    that a counted loop is judged once instead of being undecided."""
    atoms = _atoms(segments)
    if "{" not in atoms:
        return None
    out = _expand_atoms(atoms)
    if len(out) == 1 and out[0] is atoms:
        return None
    if loop and len(out) > MAX_LOOP_WORDS and _numbered(out):
        return None
    return [_segments(w, tilde) for w in out]


SHELL_API = ("SimpleCommand", "ShellError", "LimitError", "analyze", "MAX_DEPTH", "MAX_LENGTH",
             "MAX_COMMANDS", "MAX_WRAPPERS", "MAX_LOOP_WORDS", "MAX_LOOP_PASSES", "MAX_ARGS",
             "MAX_WORD", "MAX_WORK", "CODE_WINDOW")
