"""What programs do on the side: the commands they run, the code they evaluate and the
files they read or write through their options or their own small languages (awk's
`system()`, sed's `e` and `w`, vim's `:!`, gdb's `shell`, tar's `--to-command`, ssh's
`ProxyCommand`, git's `core.pager`, `LESSOPEN`, ...). These are the functions the
GTFOBins catalogue lists for each program (shell, command, file read, file write),
written as tables of programs and the options or code forms that do each thing.

Shared by both shell analysers: :func:`side_effects` runs only for the programs of
:data:`SIDE_PROGRAMS` (or a command with one of :data:`COMMAND_ENV` in its
environment), with regexes and short linear scans, so it has no compiled twin. Each
analyser turns what it returns into simple commands of its own:

- ``(origin, "sh", text)``: shell code the program runs (analysed as such; a bare ``sh``
  is an interactive shell, which no rule allows);
- ``(origin, "argv", [prog, args...])``: a command the program runs without a shell;
- ``(origin, "code:FAMILY", text)``: inline code of an interpreter family (gdb's
  ``python``, vim's ``:lua``), judged like ``python -c``;
- ``(origin, "dyn", "")``: a command or code the program runs that is not a literal;
- ``(origin, "write", path)`` / ``(origin, "read", path)``: a file it writes or reads.

Every scan here reads each character of its input a bounded number of times.
"""

from __future__ import annotations

import re

from ._errors import LimitError
from ._inline import CODE_WINDOW
from ._prefilter import prefilter
from ._shell_shared import COMMANDS_MSG, MAX_COMMANDS, shell_quote

# the scratch tests the download readers ask of every copy and unpack: the compiled
# build calls the compiled build's (the pure source's, run by the interpreter, cost
# about a thousand instructions a call)
if __name__.endswith("_c"):
    from ._shell_shared_c import scratch_named, under_scratch
else:
    from ._shell_shared import scratch_named, under_scratch

__all__ = ["SIDE_PROGRAMS", "COMMAND_ENV", "DOWNLOADERS", "CLONERS", "RUN_DOWNLOADED", "side_effects",
           "env_commands", "fetched_runs", "SCRATCH_COPIERS", "STDIN_CODE_PROGRAMS", "stdin_effects"]

SH = "sh"
ARGV = "argv"
DYN_CODE = "dyn"
WRITE = "write"
READ = "read"

# Programs known under several names (a GNU or BSD build, a variant of the same tool):
# name -> its other names. Every table of this module keyed by a program holds each of
# its names (_with_aliases), and the rule loader gives a rule or a [programs.NAME] table
# that names one of them every other (lighthouse.rules.loader.load_policy), so what the
# tables and rules say of `tar` holds for `bsdtar` and `gtar` alike.
PROGRAM_ALIASES = {
    "tar": ("gtar", "bsdtar"),
    "awk": ("gawk", "mawk", "nawk", "busybox-awk"),
    "sed": ("gsed",),
    "make": ("gmake",),
    "mysql": ("mariadb",),
}


def program_names(name):
    """The names of program name: itself and its aliases (PROGRAM_ALIASES)."""
    return (name,) + PROGRAM_ALIASES.get(name, ())


def _with_aliases(table):
    """table (a dict or frozenset keyed by program) with each alias of a key it holds."""
    if type(table) is dict:
        out = dict(table)
        for name, value in table.items():
            for alias in PROGRAM_ALIASES.get(name, ()):
                out.setdefault(alias, value)
        return out
    return frozenset(alias for name in table for alias in program_names(name))


# program -> options whose value is a shell command line the program runs (through a
# shell, or split into words: judged as shell code either way)
COMMAND_OPTIONS = {
    "tar": ("--to-command", "--use-compress-program", "-I", "--info-script", "-F",
            "--new-volume-script", "--rsh-command"),
    "rsync": ("-e", "--rsh", "--rsync-path"),
    "zip": ("-TT", "--unzip-command"),
    "man": ("-P", "--pager", "-H", "--html"),
    "script": ("-c", "--command"),
    "scp": ("-S",),
    "sftp": ("-S",),
    "fzf": ("--preview",),
    "nodemon": ("-x", "--exec"),
    "nix-shell": ("--run", "--command"),
    "hyperfine": ("-p", "--prepare", "-c", "--cleanup", "-s", "--setup"),
    "entr": ("-s",),
    "rg": ("--pre",),
    # npm's -c is --call: `npx -c CMD`, `npm exec -c CMD` run CMD in a shell
    "npx": ("-c", "--call"),
    "npm": ("-c", "--call"),
    # the pager a client pipes its results through; the program go runs each build tool
    # or test binary through; the compressor sort runs for its temporary files
    "mysql": ("--pager",),
    "go": ("-toolexec", "--toolexec", "-exec", "--exec"),
    "sort": ("--compress-program",),
}

# Interpreters' options that load code before the program and that the script-path
# reading (_shell_shared.run_script_path, PRELOAD_OPTS: node -r, ruby -r/-I, perl -I
# before a script) does not cover: perl's `-MMODULE`, which runs `use MODULE;` (code
# after a `;`), perl's -I without a script (`perl -I/tmp -e ...`), bun's preloads. A
# module in a temporary or downloads directory, or perl code there, is code the
# analysis does not see (as the same options in PERL5OPT).
MODULE_OPTIONS = {
    "perl": ("-M", "-m", "-I"),
    "bun": ("-r", "--preload"),
}
# characters of perl's -M/-m value that make it code rather than a module and its imports
_PERL_USE_CODE = frozenset(";({`")

# program -> (subcommands whose positional arguments are shell command lines, or None
# when every positional of the program is one)
COMMAND_POSITIONALS = {
    "hyperfine": None,
    "concurrently": None,
    "tmux": ("new-session", "new", "new-window", "neww", "split-window", "splitw",
             "respawn-pane", "respawnp", "respawn-window", "respawnw", "run-shell", "run",
             "display-popup", "popup", "pipe-pane", "pipep", "if-shell", "if"),
}

# options (-> how many values they take) of the programs whose positionals are commands
_POSITIONAL_VALUE_OPTIONS = {
    "hyperfine": {"-p": 1, "--prepare": 1, "-c": 1, "--cleanup": 1, "-s": 1, "--setup": 1,
                  "-w": 1, "--warmup": 1, "-r": 1, "--runs": 1, "-m": 1, "--min-runs": 1,
                  "-M": 1, "--max-runs": 1, "-n": 1, "--command-name": 1, "-u": 1,
                  "--time-unit": 1, "--style": 1, "-S": 1, "--shell": 1, "--export-json": 1,
                  "--export-csv": 1, "--export-markdown": 1, "--export-asciidoc": 1,
                  "--export-orgmode": 1, "--output": 1, "--input": 1, "-L": 2,
                  "--parameter-list": 2, "-P": 3, "--parameter-scan": 3, "-D": 1,
                  "--parameter-step-size": 1, "--sort": 1, "--reference": 1},
    "concurrently": {"-n": 1, "--names": 1, "-c": 1, "--prefix-colors": 1, "-p": 1, "--prefix": 1,
                     "-k": 0, "--kill-others": 0, "--max-processes": 1, "-m": 1, "--success": 1,
                     "-s": 1, "--timestamp-format": 1, "-t": 1, "--prefix-length": 1, "-l": 1,
                     "--restart-tries": 1, "--restart-after": 1, "--handle-input": 0,
                     "--default-input-target": 1, "--names-separator": 1},
}
# concurrently's shorthand `RUNNER:SCRIPT` runs a package.json script with that runner
_SCRIPT_RUNNERS = frozenset({"npm", "yarn", "pnpm", "bun"})
# options of tmux's commands that take a value
_TMUX_VALUE = "sntceFxylpfT"        # (by their letters)
# tmux's own options that take a value (before the subcommand), by their letters
_TMUX_GLOBAL_VALUE = "cfLST"
# watchexec's options that take a value (without `--`, its positionals are the command)
_WATCHEXEC_VALUE = frozenset({"-e", "--exts", "-w", "--watch", "-i", "--ignore", "-f", "--filter",
                              "-s", "--signal", "-d", "--debounce", "--shell", "-E", "--env",
                              "--project-origin", "--workdir", "--on-busy-update", "--stop-signal",
                              "--stop-timeout", "--delay-run", "--poll", "--emit-events-to",
                              "--color", "--filter-file", "--ignore-file"})

# program -> (subcommands before the command, or None; options taking a value; the
# argument after which the command's argv starts, or "" for the first positional):
# programs that run a command given as an argv (`valgrind PROG ARGS`, `gdb --args PROG
# ARGS`, `poetry run PROG ARGS`).
ARGV_RUNNERS = {
    "valgrind": (None, frozenset({"--tool", "--log-file"}), ""),
    # tracers and GNU time write their -o FILE (judged through their program specs)
    "strace": (None, frozenset({"-o", "--output", "-e", "-p", "--attach", "-s", "--string-limit",
                                "-u", "--user", "-E", "--env", "-I", "-b", "-a", "-X", "-P", "-S",
                                "-U", "--trace", "--signal", "--status", "--trace-path"}), ""),
    "ltrace": (None, frozenset({"-o", "--output", "-e", "-p", "-s", "-u", "-a", "-A", "-n", "-l",
                                "--library", "-x"}), ""),
    "time": (None, frozenset({"-o", "--output", "-f", "--format"}), ""),
    "perf": (("stat", "record", "trace", "c2c", "mem", "sched", "lock", "kmem", "ftrace"),
             frozenset({"-e", "--event", "-o", "--output", "-p", "--pid", "-t", "--tid", "-r",
                        "--repeat", "-F", "--freq", "-c", "--count", "-C", "--cpu", "-G"}), ""),
    "py-spy": (("record", "top"), frozenset({"-o", "--output", "-r", "--rate", "-d",
                                              "--duration", "-f", "--format", "-p", "--pid"}), "--"),
    "gdb": (None, frozenset(), "--args"),
    "lldb": (None, frozenset(), "--"),
    "watchexec": (None, frozenset(), "--"),
    "entr": (None, frozenset(), ""),
    "screen": (None, frozenset({"-S", "-c", "-e", "-h", "-p", "-T", "-t", "-Logfile"}), ""),
    "xvfb-run": (None, frozenset({"-n", "--server-num", "-s", "--server-args", "-f",
                                  "--auth-file", "-e", "--error-file", "-p"}), ""),
    "fakeroot": (None, frozenset({"-l", "--lib", "--faked", "-s", "-i"}), ""),
    "heaptrack": (None, frozenset({"-o", "--output"}), ""),
    "catchsegv": (None, frozenset(), ""),
    "firejail": (None, frozenset(), ""),
    "mpirun": (None, frozenset({"-n", "-np", "--np", "-c", "-H", "--host", "--hostfile"}), ""),
    "mpiexec": (None, frozenset({"-n", "-np", "--np", "-c", "-H", "--host", "--hostfile"}), ""),
    "dbus-run-session": (None, frozenset({"--config-file", "--dbus-daemon"}), ""),
    "poetry": (("run",), frozenset(), ""),
    "pipenv": (("run",), frozenset(), ""),
    "pdm": (("run",), frozenset(), ""),
    "hatch": (("run",), frozenset({"-e", "--env"}), ""),
    "uv": (("run",), frozenset({"--with", "-p", "--python", "--package", "--group", "--extra",
                                "--env-file", "--directory", "--project", "--index", "-i",
                                "--index-url"}), ""),
    "bundle": (("exec",), frozenset(), ""),
    "conda": (("run",), frozenset({"-n", "--name", "-p", "--prefix"}), ""),
    "mamba": (("run",), frozenset({"-n", "--name", "-p", "--prefix"}), ""),
    "micromamba": (("run",), frozenset({"-n", "--name", "-p", "--prefix"}), ""),
    "pixi": (("run", "exec"), frozenset({"-e", "--environment"}), ""),
    "op": (("run",), frozenset({"--env-file"}), "--"),
    "doppler": (("run",), frozenset({"-p", "--project", "-c", "--config"}), "--"),
    "aws-vault": (("exec",), frozenset({"-d", "--duration"}), "--"),
    "dotenv": (None, frozenset({"-e", "-v", "-c"}), "--"),
    "direnv": (("exec",), frozenset(), ""),
    "mise": (("exec", "x"), frozenset({"-C", "--cd", "-E", "--env", "-j", "--jobs"}), "--"),
    "rtx": (("exec", "x"), frozenset({"-C", "--cd", "-j", "--jobs"}), "--"),
    "asdf": (("exec",), frozenset(), ""),
    "rbenv": (("exec",), frozenset(), ""),
    "pyenv": (("exec",), frozenset(), ""),
    "nodenv": (("exec",), frozenset(), ""),
    "npm": (("exec", "x", "exe"), frozenset({"-c", "--call", "-p", "--package", "-w", "--workspace"}), ""),
    "pnpm": (("exec",), frozenset({"-C", "--dir", "--filter", "-F"}), ""),
    "yarn": (("exec",), frozenset(), ""),
    "rye": (("run",), frozenset(), ""),
    "systemd-run": (None, frozenset({"-u", "--unit", "-p", "--property", "-E", "--setenv",
                                     "--uid", "--gid", "-M", "--machine"}), ""),
}

# fd's options that take a value (so that value is no pattern or search path), and its
# options whose following words, up to `;` or the end, are a command it runs for each
# result (-x) or once for all of them (-X)
_FD_VALUE = frozenset({"-e", "--extension", "-t", "--type", "-d", "--max-depth", "--min-depth",
                       "--exact-depth", "-E", "--exclude", "-S", "--size", "--changed-within",
                       "--changed-before", "--newer", "--older", "-o", "--owner", "-j",
                       "--threads", "--max-results", "-c", "--color", "--base-directory",
                       "--search-path", "--path-separator", "--ignore-file", "--batch-size",
                       "--format", "--max-buffer-time", "--and"})
_FD_EXEC = frozenset({"-x", "--exec", "-X", "--exec-batch"})
_FD_PLACEHOLDERS = ("{}", "{/}", "{//}", "{.}", "{/.}")

# words an ARGV_RUNNERS program takes after its subcommand before the command it runs
# (`direnv exec DIR CMD ...`)
RUNNER_POSITIONALS = {"direnv": 1}

# The options a runner's own parser reads before its subcommand that take the next word
# as their value (`yarn --cwd / dlx ...`, `npm --prefix / exec ...`, `uv --directory /
# run ...`): that word is no subcommand, and the subcommand after it still counts.
RUNNER_GLOBAL_VALUE = {
    "npm": frozenset({"--prefix", "-C", "--userconfig", "--globalconfig", "-w", "--workspace",
                      "--cache", "--loglevel", "--registry", "--tag", "--otp", "--before",
                      "--omit", "--include", "--script-shell", "--node-options"}),
    "pnpm": frozenset({"-C", "--dir", "--filter", "-F", "--registry", "--reporter",
                       "--loglevel", "--store-dir", "--virtual-store-dir", "--config-dir"}),
    "yarn": frozenset({"--cwd", "--registry", "--network-timeout", "--modules-folder",
                       "--cache-folder", "--global-folder", "--link-folder", "--mutex",
                       "--use-yarnrc", "--otp", "--proxy", "--https-proxy"}),
    "bun": frozenset({"--cwd", "-c", "--config", "--env-file", "-r", "--preload"}),
    "uv": frozenset({"--directory", "--project", "--cache-dir", "--config-file", "-p",
                     "--python", "--color"}),
    "poetry": frozenset({"-C", "--directory", "-P", "--project"}),
    "pdm": frozenset({"-p", "--project", "-c", "--config"}),
    "hatch": frozenset({"-e", "--env", "-p", "--project", "--data-dir", "--cache-dir"}),
    "pixi": frozenset({"--manifest-path", "--color"}),
    "mise": frozenset({"-C", "--cd", "-E", "--env", "-j", "--jobs"}),
    "bundle": frozenset({"--gemfile"}),
    "conda": frozenset(), "mamba": frozenset(), "micromamba": frozenset({"-r", "--root-prefix"}),
}


def _skip_global_options(prog, args):
    """The index of the first word of args that is not one of prog's options before its
    subcommand (RUNNER_GLOBAL_VALUE: their values skipped too)."""
    value_opts = RUNNER_GLOBAL_VALUE.get(prog, ())
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if not a or a[0] != "-":
            break
        k += 2 if a in value_opts else 1
    return k

# Package runners (`npx PKG ARGS`, `pnpm dlx PKG ARGS`, ...) and the packages among what they
# run whose effect the rules know under another name: a deletion package is `rm -rf`.
# (yarn, pnpm and bun also run an installed package's binary through `run BIN`, and
# yarn through `yarn BIN`)
PACKAGE_RUNNERS = {"npx": None, "bunx": None, "pnpx": None, "pnpm": ("dlx", "exec", "run"),
                   "yarn": ("dlx", "exec", "run"), "bun": ("x", "run"), "npm": ("exec", "x", "exe")}
PACKAGE_COMMANDS = {"rimraf": ["rm", "-r", "-f"], "del-cli": ["rm", "-r", "-f"], "del": ["rm", "-r", "-f"],
                    "trash": ["rm", "-r", "-f"], "trash-cli": ["rm", "-r", "-f"],
                    "rm-cli": ["rm", "-r", "-f"], "shx": [],
                    # packages that run the command or code they are given (judged as
                    # that command), or open a tunnel to this machine from the internet
                    "cross-env": ["env"], "dotenv-cli": ["dotenv"], "dotenv": ["dotenv"],
                    "concurrently": ["concurrently"], "nodemon": ["nodemon"], "tsx": ["tsx"],
                    "ts-node": ["ts-node"], "ngrok": ["ngrok"], "localtunnel": ["lt"], "lt": ["lt"]}

# Variables naming a program a build runs, in the environment or on make's command line
# (`CC=... make`, `make CC=... SHELL=...`): the compiler and the other tools of its
# toolchain, their launchers and wrappers, the shell make runs its recipes with. Their
# value is a command line, judged as one unless it names a toolchain program
# (toolchain_value).
TOOL_VARS = frozenset({
    "CC", "CXX", "CPP", "LD", "AR", "AS", "NM", "RANLIB", "STRIP", "OBJCOPY", "OBJDUMP", "FC",
    "F77", "F90", "OBJC", "OBJCXX", "HOSTCC", "HOSTCXX", "HOSTLD", "CC_FOR_BUILD", "CXX_FOR_BUILD",
    "RUSTC", "RUSTDOC", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER",
    "CMAKE_C_COMPILER_LAUNCHER", "CMAKE_CXX_COMPILER_LAUNCHER", "SHELL", "MAKESHELL"})
# programs that read those variables from their own command line (`make CC=cmd`)
VAR_PROGRAMS = frozenset({"make", "gmake", "bmake"})
# A toolchain program by its name (a cross prefix, a version suffix allowed), a compiler
# cache or distributor that runs the words after it as the compiler, and the shells a
# recipe runs in: a variable naming one of them, from a system directory or the PATH,
# runs what the build expects
_TOOLCHAIN_NAME = re.compile(
    r"(?:[A-Za-z0-9_.]+-)*(?:gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+|clang-cl|ld|ld\.[a-z]+|lld|"
    r"ar|as|nm|ranlib|strip|objcopy|objdump|gfortran|f77|f95|icc|icx|icpx|tcc|emcc|em\+\+|zig|"
    r"rustc|rustdoc|cl|link|llvm-[a-z]+|bash|sh|dash|zsh|ksh)(?:-[0-9][0-9.]*)?(?:\.exe)?")
_COMPILER_LAUNCHERS = frozenset({"ccache", "sccache", "distcc", "icecc", "buildcache"})
_SYSTEM_BIN = ("/usr/", "/bin/", "/opt/", "/sbin/", "/nix/store/", "/Library/", "/Applications/")
_SHELL_SYNTAX = frozenset(";&|`$()<>\n")
# Environment variables whose value is a command line some program runs (LESSOPEN is
# `|cmd %s` or `||cmd %s`).
COMMAND_ENV = frozenset({
    "LESSOPEN", "LESSCLOSE", "PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER", "BAT_PAGER",
    "GIT_SSH_COMMAND", "GIT_SSH", "GIT_EXTERNAL_DIFF", "GIT_EDITOR", "GIT_SEQUENCE_EDITOR",
    "EDITOR", "VISUAL", "SUDO_EDITOR", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS",
    "RSYNC_RSH", "BROWSER", "PROMPT_COMMAND", "FZF_DEFAULT_COMMAND",
    "GIT_PROXY_COMMAND", "CVS_RSH", "PERL5OPT", "NODE_OPTIONS", "RUBYOPT", "LD_PRELOAD", "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES", "BASH_ENV", "ENV"}) | TOOL_VARS | frozenset({
    "PYTHONPATH", "NODE_PATH", "PERL5LIB", "PERLLIB", "RUBYLIB"})
# Of those, the module search paths (`:`-separated directories searched before the
# interpreter's own): one in a temporary or downloads directory puts modules nobody
# reviewed before the ones the program imports by name.
_MODULE_PATH_ENV = frozenset({"PYTHONPATH", "NODE_PATH", "PERL5LIB", "PERLLIB", "RUBYLIB"})
# Environment variables that turn off TLS certificate verification, and the values that
# do: a command run with one of them set is accompanied by a (tls-verify-off) command.
TLS_OFF_ENV = {"NODE_TLS_REJECT_UNAUTHORIZED": ("0", "false"), "PYTHONHTTPSVERIFY": ("0",),
               "GIT_SSL_NO_VERIFY": None, "CURL_CA_BUNDLE": ("", "/dev/null"),
               "REQUESTS_CA_BUNDLE": ("", "/dev/null"), "NODE_NO_VERIFY": None,
               "GOINSECURE": None}
TLS_OFF = "(tls-verify-off)"
# Environment variables that set a package manager's registry or index, and the program
# whose `config set registry VALUE` sets the same: a command run with one is judged with
# that config command beside it (pkg.registry-redirect: a registry elsewhere asks).
REGISTRY_ENV = {"PIP_INDEX_URL": "pip", "PIP_EXTRA_INDEX_URL": "pip", "UV_INDEX_URL": "pip",
                "UV_EXTRA_INDEX_URL": "pip", "UV_DEFAULT_INDEX": "pip", "UV_INDEX": "pip",
                "npm_config_registry": "npm", "NPM_CONFIG_REGISTRY": "npm", "YARN_NPM_REGISTRY_SERVER": "yarn",
                "YARN_REGISTRY": "yarn", "BUN_CONFIG_REGISTRY": "bun"}
# Of those, the ones whose value is interpreter options rather than a command: code in
# them (`-M'X;system(...)'`), or a module loaded from a path (`NODE_OPTIONS='-r
# /tmp/x.js'`, `RUBYOPT=-r/tmp/x`, `PERL5OPT=-I/tmp`), is not visible to the analysis.
_OPTION_ENV = frozenset({"PERL5OPT", "NODE_OPTIONS", "RUBYOPT"})
_OPTION_ENV_RISK = re.compile(r"[;(`]|\bsystem\b|\bexec\b|\beval\b|(?:^|\s)(?:-r|--require|--import|"
                              r"--loader|--experimental-loader|-I|-M|-m)[=\s]*['\"]?(?:/|~|\.\./|\$)")
# Variables that load code into every program started with them (a shared library), and
# those that name a file of shell code a non-interactive shell reads first: the library
# is code of unknown content, the file is sourced.
_LOADER_ENV = frozenset({"LD_PRELOAD", "LD_AUDIT", "DYLD_INSERT_LIBRARIES"})
_STARTUP_ENV = frozenset({"BASH_ENV", "ENV"})
# values of the command variables that name no command (BROWSER=none npm start)
_NO_COMMAND = frozenset({"none", "0", "1", "true", "false"})

# git configuration keys (of `git -c KEY=VALUE`) whose value is a command line git
# runs; an alias runs a shell command when its value starts with `!`.
GIT_COMMAND_KEYS = frozenset({
    "core.pager", "core.sshcommand", "core.editor", "core.fsmonitor", "core.askpass",
    "core.gitproxy", "diff.external", "sequence.editor", "gpg.program", "gpg.ssh.program",
    "gpg.x509.program", "uploadpack.packobjectshook", "credential.helper"})
_GIT_COMMAND_SUFFIXES = (".textconv", ".command", ".cmd", ".clean", ".smudge", ".process",
                         ".driver", ".helper", ".program", ".tool")

# ssh -o options whose value is a command line (ProxyCommand, LocalCommand, ...)
SSH_COMMAND_OPTIONS = frozenset({"proxycommand", "localcommand", "knownhostscommand",
                                 "remotecommand"})
SSH_PROGRAMS = frozenset({"ssh", "scp", "sftp", "autossh"})
_SSH_OPTION = re.compile(r"^\s*(\w+)\s*(?:=|\s)\s*(.*)$", re.S)

# program -> (options whose value is code of the program's own language, the language,
# whether the first positional argument is that code when no such option or script file
# is given)
CODE_OPTIONS = {
    "awk": (("-e", "--source"), "awk", True),
    "mawk": ((), "awk", True), "nawk": ((), "awk", True), "busybox-awk": ((), "awk", True),
    "sed": (("-e", "--expression"), "sed", True),
    "dc": (("-e", "--expression"), "dc", False),
    "vim": (("-c", "--cmd"), "vim", False), "vi": (("-c", "--cmd"), "vim", False),
    "nvim": (("-c", "--cmd"), "vim", False), "view": (("-c", "--cmd"), "vim", False),
    "vimdiff": (("-c", "--cmd"), "vim", False), "gvim": (("-c", "--cmd"), "vim", False),
    "ex": (("-c", "--cmd"), "vim", False), "rvim": (("-c", "--cmd"), "vim", False),
    "emacs": (("--eval", "-eval", "--execute", "-execute"), "elisp", False),
    "emacsclient": (("-e", "--eval"), "elisp", False),
    "gdb": (("-ex", "--ex", "-eval-command", "--eval-command", "-iex", "--iex",
             "-init-eval-command", "--init-eval-command"), "gdb", False),
    "lldb": (("-o", "--one-line", "-O", "--one-line-before-file", "-k", "--one-line-on-crash",
              "-K"), "lldb", False),
    "make": (("--eval", "-E"), "make", False),
    "sqlite3": (("-cmd",), "sqlite", False),
    "psql": (("-c", "--command"), "psql", False),
    "mysql": (("-e", "--execute"), "mysql", False),
}
# language -> options that name a file of the program's own code (awk -f, vim -S, gdb -x,
# emacs -l, make -f, sqlite3 -init). A file that is a stream (stdin, the /dev/fd/N of a
# process substitution, a /proc path) holds code the call does not show: unknown code.
CODE_FILE_OPTIONS = {
    "awk": ("-f", "--file"),
    "sed": ("-f", "--file"),
    "dc": ("-f", "--file"),
    "vim": ("-S", "-u", "-U", "-s"),
    "elisp": ("-l", "--load", "-load", "-script", "--script", "-x"),
    "gdb": ("-x", "--x", "-command", "--command", "-ix", "--ix", "-init-command", "--init-command"),
    "lldb": ("-s", "--source", "-S", "--source-before-file", "--source-on-crash"),
    "make": ("-f", "--file", "--makefile"),
    "sqlite": ("-init",),
}
# options of those programs that take a value (so that value is not the positional code)
_CODE_VALUE_OPTIONS = {
    "awk": frozenset({"-F", "-v", "-f", "--field-separator", "--assign", "--file", "-i",
                      "--include", "-l", "--load"}),
    "sed": frozenset({"-f", "--file", "-l", "--line-length"}),
}

# URL clients that read local files through file:// URLs (GTFOBins "file read")
FILE_URL_PROGRAMS = frozenset({"curl", "wget", "http", "https", "xh", "aria2c", "lynx", "links",
                               "elinks", "w3m", "lwp-request", "GET"})
# git subcommands that read files outside the repository given as paths
# (`git diff --no-index /dev/null FILE` prints FILE; hash-object stores it)
GIT_FILE_READERS = frozenset({"diff", "hash-object", "grep", "blame", "apply", "am"})
STDIN_FILES = frozenset({"-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def is_stream(name):
    """Whether a file name given to a program is a stream whose content the call does not
    show: stdin, a file descriptor (a process substitution's /dev/fd/N) or a /proc path."""
    return name in STDIN_FILES or name.startswith("/dev/fd/") or name.startswith("/proc/")


_RUNS_COMMAND_ENV = COMMAND_ENV
COMMAND_ENV = COMMAND_ENV | frozenset(TLS_OFF_ENV) | frozenset(REGISTRY_ENV)

COMMAND_OPTIONS = _with_aliases(COMMAND_OPTIONS)
COMMAND_POSITIONALS = _with_aliases(COMMAND_POSITIONALS)
ARGV_RUNNERS = _with_aliases(ARGV_RUNNERS)
CODE_OPTIONS = _with_aliases(CODE_OPTIONS)
PACKAGE_RUNNERS = _with_aliases(PACKAGE_RUNNERS)
SSH_PROGRAMS = _with_aliases(SSH_PROGRAMS)
FILE_URL_PROGRAMS = _with_aliases(FILE_URL_PROGRAMS)

# fd under its names (Debian installs it as fdfind)
FD_PROGRAMS = frozenset({"fd", "fdfind"})

SIDE_PROGRAMS = frozenset(set(COMMAND_OPTIONS) | set(COMMAND_POSITIONALS) | set(ARGV_RUNNERS)
                          | set(CODE_OPTIONS) | SSH_PROGRAMS | FILE_URL_PROGRAMS | set(PACKAGE_RUNNERS)
                          | FD_PROGRAMS | VAR_PROGRAMS | set(MODULE_OPTIONS) | {"git", "rsync", "trap", "cmake"})

def _at(text, pos):
    """text from pos, at most CODE_WINDOW characters: what one literal is read from, so
    that a scan started at each of many positions stays linear in the whole text. A
    literal longer than the window does not match, and what it stood for is unknown."""
    return text[pos:pos + CODE_WINDOW]


_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _escape_value(m):
    if m.group(1) is not None:
        return chr(int(m.group(1), 8))
    if m.group(2) is not None:
        return chr(int(m.group(2), 16))
    return _SIMPLE_ESCAPES.get(m.group(3), m.group(3))


def _unescape(text):
    """A string literal's value: backslash escapes, octal (awk's \\176) and hex (\\x7e)
    included, so that an escaped `~` is still a `~`."""
    return _ESCAPE.sub(_escape_value, text)


def _named(a, names):
    """a in names, a tuple of option names: compared one by one, the lengths and last
    letters first (a C loop in the compiled build, where `in` on a tuple is a generic
    call comparing objects, and `==` on two str a full ordering comparison)."""
    n = len(a)
    for name in names:
        if len(name) == n and (n == 0 or name[n - 1] == a[n - 1]) and name == a:
            return True
    return False


def _option_values(args, names, bundles=True):
    """The values of the options names in args: `-x V`, `-xV`, `-abx V` (when the program
    bundles short options), `--name V`, `--name=V`, `-name=V`."""
    out = []
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        if not a or a[0] != "-":
            k += 1
            continue
        if a == "--":
            break
        if _named(a, names):
            if k + 1 < n:
                out.append(args[k + 1])
            k += 2
            continue
        eq = a.find("=")
        if eq >= 0 and _named(a[:eq], names):
            out.append(a[eq + 1:])
        elif len(a) > 2 and a[1] != "-":
            if _named(a[:2], names):
                out.append(a[2:])
            elif bundles and a[1:].isalpha():
                for j in range(2, len(a)):
                    if _named("-" + a[j], names):
                        if j + 1 < len(a):
                            out.append(a[j + 1:])
                        elif k + 1 < n:
                            out.append(args[k + 1])
                            k += 1
                        break
        k += 1
    return out


# programs whose options are words after one dash (-batch, -eval): no bundles
_SINGLE_DASH_LONG = _with_aliases(frozenset({"gdb", "lldb", "sqlite3", "emacs", "emacsclient", "dc", "man"}))


# ---------------------------------------------------------------- small languages

_AWK_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_AWK_SYSTEM = re.compile(r"\bsystem\s*\(\s*")
_AWK_GETLINE_PIPE = re.compile(r"(?<!\|)\|&?\s*getline\b")
_AWK_PIPE_OUT = re.compile(r"(?<![|&])\|&?(?![|])\s*")
_AWK_REDIRECT_OUT = re.compile(r"\bprintf?\b[^;{}\n]{0,256}?>>?\s*")
_AWK_GETLINE_IN = re.compile(r"\bgetline\b[^;{}\n<]{0,256}<\s*")
_AWK_LITERAL = re.compile(r"\x00(\d+)\x00")
_AWK_REGEX_BEFORE = frozenset("(,{};!~&|\n=:?")


def _awk_blank(code):
    """awk code with each string literal replaced by a numbered marker and each regex
    literal and comment blanked, and the list of the literals' texts."""
    out = []
    strings = []
    n = len(code)
    i = 0
    prev = "\n"          # last significant character, to tell a regex from a division
    while i < n:
        c = code[i]
        if c == '"':
            m = _AWK_STRING.match(code, i)
            if m is None:
                out.append(code[i:])
                break
            out.append("\x00%d\x00" % len(strings))
            strings.append(_unescape(m.group(1)))
            i = m.end()
            prev = '"'
            continue
        if c == "/" and prev in _AWK_REGEX_BEFORE:
            j = i + 1
            in_class = False
            while j < n and code[j] != "\n":
                d = code[j]
                if d == "\\":
                    j += 2
                    continue
                if d == "[":
                    in_class = True
                elif d == "]":
                    in_class = False
                elif d == "/" and not in_class:
                    break
                j += 1
            out.append(" ")
            i = j + 1
            prev = "/"
            continue
        if c == "#":
            j = code.find("\n", i)
            i = n if j < 0 else j
            continue
        out.append(c)
        if not c.isspace():
            prev = c
        i += 1
    return "".join(out), strings


def _literal_at(blank, strings, pos):
    m = _AWK_LITERAL.match(blank, pos)
    return strings[int(m.group(1))] if m else None


def _awk(code):
    if not any(h in code for h in ("system", "|", ">", "getline")):
        return []
    blank, strings = _awk_blank(code)
    out = []
    for m in _AWK_SYSTEM.finditer(blank):
        text = _literal_at(blank, strings, m.end())
        after = _AWK_LITERAL.match(blank, m.end())
        if text is not None and re.match(r"\s*\)", blank[after.end():after.end() + 64]):
            out.append((SH, text))
        else:
            out.append((DYN_CODE, ""))
    for m in _AWK_GETLINE_PIPE.finditer(blank):
        before = blank[max(0, m.start() - 64):m.start()].rstrip()
        lit = re.search(r"\x00(\d+)\x00$", before)
        if lit is not None and not re.search(r"[\w)\]]\s*\x00\d+\x00$", before):
            out.append((SH, strings[int(lit.group(1))]))
        else:
            out.append((DYN_CODE, ""))
    for m in _AWK_PIPE_OUT.finditer(blank):
        if blank.startswith("getline", m.end()):
            continue                            # `cmd | getline`, seen above
        text = _literal_at(blank, strings, m.end())
        after = _AWK_LITERAL.match(blank, m.end())
        if text is not None and not re.match(r"\s*[\w$(]", blank[after.end():after.end() + 8]):
            out.append((SH, text))
        else:
            out.append((DYN_CODE, ""))
    for m in _AWK_REDIRECT_OUT.finditer(blank):
        text = _literal_at(blank, strings, m.end())
        after = _AWK_LITERAL.match(blank, m.end())
        if text is not None and not re.match(r"\s*[\w$(]", blank[after.end():after.end() + 8]):
            out.append((WRITE, text))
    for m in _AWK_GETLINE_IN.finditer(blank):
        text = _literal_at(blank, strings, m.end())
        if text is not None:
            out.append((READ, text))
    return out


def _sed_skip_address(s, i, n):
    """Index after the address (or range) a sed command may start with."""
    for _ in range(2):
        while i < n and s[i] in " \t":
            i += 1
        if i < n and (s[i].isdigit() or s[i] == "$"):
            while i < n and (s[i].isdigit() or s[i] in "$~+"):
                i += 1
        elif i < n and (s[i] == "/" or (s[i] == "\\" and i + 1 < n)):
            delim = "/" if s[i] == "/" else s[i + 1]
            i += 1 if s[i] == "/" else 2
            while i < n and s[i] != delim:
                i += 2 if s[i] == "\\" else 1
            i += 1
            while i < n and s[i] in "IM":
                i += 1
        if i < n and s[i] == ",":
            i += 1
            continue
        break
    while i < n and s[i] in " \t!":
        i += 1
    return i


def _rest_of_line(s, i, n):
    j = s.find("\n", i)
    j = n if j < 0 else j
    return s[i:j].strip(), j


def _delim_end(s, i, delim):
    """Index after the next unescaped delim at or after s[i] (len(s) + 1 when none)."""
    n = len(s)
    while True:
        j = s.find(delim, i)
        if j < 0:
            return n + 1
        k = j - 1
        while k >= i and s[k] == "\\":
            k -= 1
        if (j - 1 - k) % 2 == 0:
            return j + 1
        i = j + 1


def _sed(script):
    """What a sed script runs, reads and writes: e COMMAND, e (runs the pattern space),
    s///e, w/W FILE, s///w FILE, r/R FILE."""
    if not any(h in script for h in ("e", "w", "W", "r", "R")):
        return []
    out = []
    s = script
    n = len(s)
    i = 0
    while i < n:
        while i < n and s[i] in " \t\n;{}":
            i += 1
        if i >= n:
            break
        i = _sed_skip_address(s, i, n)
        if i >= n:
            break
        c = s[i]
        i += 1
        if c in "sy" and i < n:
            delim = s[i]
            i = _delim_end(s, _delim_end(s, i + 1, delim), delim)
            flags_start = i
            while i < n and s[i] not in ";\n}w":
                i += 1
            if c == "s" and "e" in s[flags_start:i]:
                out.append((DYN_CODE, ""))
            if i < n and s[i] == "w":
                name, i = _rest_of_line(s, i + 1, n)
                out.append((WRITE, name))
        elif c == "e":
            text, i = _rest_of_line(s, i, n)
            out.append((SH, text) if text else (DYN_CODE, ""))
        elif c in "wW":
            name, i = _rest_of_line(s, i, n)
            out.append((WRITE, name))
        elif c in "rR":
            name, i = _rest_of_line(s, i, n)
            out.append((READ, name))
        elif c in "aic":
            _, i = _rest_of_line(s, i, n)      # the text to add
        elif c in ":bTtv":
            while i < n and s[i] not in ";\n}":
                i += 1                          # a label
        elif c in "qQlL":
            while i < n and (s[i].isdigit() or s[i] in " \t"):
                i += 1
    return out


def _dc(code):
    """dc's `!` runs the rest of the line as a shell command (`!<`, `!>`, `!=` compare)."""
    out = []
    i = code.find("!")
    while i >= 0:
        if code[i + 1:i + 2] in ("<", ">", "="):
            i = code.find("!", i + 2)
            continue
        text, end = _rest_of_line(code, i + 1, len(code))
        out.append((SH, text) if text else (SH, "sh"))
        i = code.find("!", end)
    return out


_VIM_RANGE = re.compile(r"^[\s:]*(?:[%.$\d,;+\-]|'[<>a-z])*\s*")
_VIM_SILENT = re.compile(r"^(?:sil(?:e(?:n(?:t)?)?)?!?|keepalt|noautocmd|noa|unsilent)\s+")
# `:r !cmd` / `:r!cmd` read a command's output; `:w !cmd` pipes to one (`:w! FILE` forces)
_VIM_FILTER = re.compile(r"^(?:r(?:e(?:a(?:d)?)?)?\s*|w(?:r(?:i(?:t(?:e)?)?)?)?\s+)!(.*)$", re.S)
_VIM_CODE = re.compile(r"^(py3?|python3?|pyx|pythonx|py3do|pydo|pyf(?:ile)?|lua|luado|perl|perldo"
                       r"|rub(?:y)?|rubydo)\b\s*(.*)$", re.S)
_VIM_TERMINAL = re.compile(r"^(?:ter(?:m(?:i(?:n(?:a(?:l)?)?)?)?)?|sh(?:e(?:l(?:l)?)?)?)\b\s*(.*)$", re.S)
_VIM_EXECUTE = re.compile(r"^(?:exe(?:c(?:u(?:t(?:e)?)?)?)?|so(?:u(?:r(?:c(?:e)?)?)?)?|luafile|rubyfile"
                          r"|perlfile)\b")
# :normal replays keys; only keys that reach a command line (:, Q, gQ) or filter (!) run code
_VIM_NORMAL = re.compile(r"^norm(?:a(?:l)?)?!?(?:\s+|$)(.*)$", re.S)
_VIM_WRITE = re.compile(r"^(?:w(?:r(?:i(?:t(?:e)?)?)?)?|sav(?:e(?:a(?:s)?)?)?|wq|x(?:it)?|up(?:d(?:a(?:t(?:e)?)?)?)?)"
                        r"!?(?:\s+|\s*>>\s*)([^\s|!>][^|]*)$")
_VIM_READ = re.compile(r"^(?:r(?:e(?:a(?:d)?)?)?)\s+([^\s|!][^|]*)$")
_SYSTEM_CALL = re.compile(r"\b(?:system|systemlist|jobstart|termopen)\s*\(\s*")
_QUOTED = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")


def _system_calls(code):
    """`system("...")` and friends in vimscript: literal shell code or unknown."""
    out = []
    for m in _SYSTEM_CALL.finditer(code):
        q = _QUOTED.match(_at(code, m.end()))
        if q is not None and re.match(r"\s*[),]", code[m.end() + q.end():m.end() + q.end() + 8]):
            out.append((SH, _unescape(q.group(1) if q.group(1) is not None else q.group(2))))
        else:
            out.append((DYN_CODE, ""))
    return out


def _vim(command):
    """One Ex command line (of `vim -c`, `--cmd` or `+`): `:!cmd`, `:%!filter`, `:r !cmd`,
    `:w !cmd`, `:terminal`, `:shell`, `:py3`/`:lua`/... code, `system()`, `:w FILE`."""
    out = list(_system_calls(command))
    rest = command
    for _ in range(64):
        rest = _VIM_RANGE.sub("", rest, count=1)
        while True:
            m = _VIM_SILENT.match(rest)
            if m is None:
                break
            rest = _VIM_RANGE.sub("", rest[m.end():], count=1)
        if rest.startswith("!"):
            out.append((SH, rest[1:].strip() or "sh"))
            return out
        m = _VIM_FILTER.match(rest)
        if m is not None:
            out.append((SH, m.group(1).strip() or "sh"))
            return out
        m = _VIM_CODE.match(rest)
        if m is not None:
            family = {"lua": "lua", "luado": "lua", "perl": "perl", "perldo": "perl"}.get(
                m.group(1), "ruby" if m.group(1).startswith("rub") else "python")
            out.append(("code:" + family, m.group(2)))
            return out
        m = _VIM_TERMINAL.match(rest)
        if m is not None:
            out.append((SH, m.group(1).strip() or "sh"))
            return out
        if _VIM_EXECUTE.match(rest):
            out.append((DYN_CODE, ""))
            return out
        m = _VIM_NORMAL.match(rest)
        if m is not None:
            if any(k in m.group(1) for k in (":", "!", "Q")):
                out.append((DYN_CODE, ""))
            return out
        bar = rest.find("|")
        head = rest if bar < 0 else rest[:bar]
        m = _VIM_WRITE.match(head.rstrip())
        if m is not None:
            out.append((WRITE, m.group(1).strip()))
        m = _VIM_READ.match(head.rstrip())
        if m is not None:
            out.append((READ, m.group(1).strip()))
        if bar < 0:
            return out
        rest = rest[bar + 1:]
    return out


_ELISP_SHELL = re.compile(r"\((?:async-)?shell-command(?:-to-string|-on-region)?\s+")
_ELISP_PROCESS = re.compile(r"\((?:call-process(?:-shell-command)?|start-process(?:-shell-command)?"
                            r"|process-lines|make-process|start-file-process)\s+")
_ELISP_DELETE_DIR = re.compile(r"\(delete-directory\s+")
_ELISP_DELETE_FILE = re.compile(r"\(delete-file\s+")
_ELISP_WRITE = re.compile(r"\((?:write-region|with-temp-file|append-to-file|copy-file|rename-file)\s+")
_ELISP_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FORM_WINDOW = 512      # characters of one process or write form read for its strings


def _elisp_form_strings(code, start):
    """The string literals of the form that starts before code[start], up to its end
    (nested forms included)."""
    depth = 1
    i = start
    n = min(len(code), start + _FORM_WINDOW)
    strings = []
    while i < n and depth > 0:
        c = code[i]
        if c == '"':
            m = _ELISP_STRING.match(code, i, n)
            if m is None:
                break
            strings.append(_unescape(m.group(1)))
            i = m.end()
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        i += 1
    return strings


def _more(out):
    """Stop a scan that has found more than the analysis can emit: the call is
    undecided, and the scan costs no more than the commands it may add."""
    if len(out) >= MAX_COMMANDS:
        raise LimitError(COMMANDS_MSG)


def _elisp(code):
    out = []
    for m in _ELISP_SHELL.finditer(code):
        q = _ELISP_STRING.match(_at(code, m.end()))
        out.append((SH, _unescape(q.group(1))) if q else (DYN_CODE, ""))
    for m in _ELISP_PROCESS.finditer(code):
        _more(out)
        strings = _elisp_form_strings(code, m.end())
        name = code[m.start() + 1:m.end()].strip()
        if name in ("start-process", "start-file-process") and strings:
            strings = strings[1:]        # the process name
        if "shell-command" in name:
            out.append((SH, strings[0]) if strings else (DYN_CODE, ""))
        elif strings:
            out.append((ARGV, strings))
        else:
            out.append((DYN_CODE, ""))
    for m in _ELISP_DELETE_DIR.finditer(code):
        q = _ELISP_STRING.match(_at(code, m.end()))
        out.append((ARGV, ["rm", "-r", "-f", _unescape(q.group(1))]) if q else (DYN_CODE, ""))
    for m in _ELISP_DELETE_FILE.finditer(code):
        q = _ELISP_STRING.match(_at(code, m.end()))
        out.append((ARGV, ["rm", "-f", _unescape(q.group(1))]) if q else (DYN_CODE, ""))
    for m in _ELISP_WRITE.finditer(code):
        _more(out)
        strings = _elisp_form_strings(code, m.end())
        if strings:
            out.append((WRITE, strings[-1]))
    return out


_GDB_SHELL = re.compile(r"^\s*(?:shell|!)\s*(.*)$", re.S)
_GDB_PIPE = re.compile(r"^\s*(?:pipe|\|)\s*[^|]*\|\s*(.*)$", re.S)
_GDB_PYTHON = re.compile(r"^\s*(?:python|py|pi|python-interactive)\b\s*(.*)$", re.S)
_GDB_OPAQUE = re.compile(r"^\s*(?:guile|gu|source|eval|define|document|python-interactive|pi)\b")
_GDB_WRITE = re.compile(r"^\s*(?:dump|append)\s+(?:binary\s+|verilog\s+|ihex\s+|srec\s+|tekhex\s+|value\s+"
                        r"|memory\s+)*(\S+)|^\s*set\s+logging\s+file\s+(\S+)")
_LLDB_SHELL = re.compile(r"^\s*(?:platform\s+shell|shell)\s+(?:-[a-z]+\s+)*(.*)$", re.S)
_LLDB_PYTHON = re.compile(r"^\s*(?:script|scr)\b\s*(.*)$", re.S)
_LLDB_OPAQUE = re.compile(r"^\s*(?:command\s+(?:source|script|regex|alias)|expr|expression|p|po)\b")


def _debugger(command, shells, python, opaque, opaque_needs, write):
    """One command of a debugger (gdb's -ex, lldb's -o): a shell escape (any of the
    ``shells`` regexes), Python code, system() calls, an opaque command (``opaque``,
    only when ``opaque_needs`` is in the text, if given) and a file written."""
    for rx in shells:
        m = rx.match(command)
        if m is not None:
            return [(SH, m.group(1).strip() or "sh")]
    m = python.match(command)
    if m is not None:
        return [("code:python", m.group(1))] if m.group(1).strip() else [(DYN_CODE, "")]
    out = _system_calls(command)
    if opaque.match(command) and (opaque_needs is None or opaque_needs in command):
        out.append((DYN_CODE, ""))
    m = write.match(command) if write is not None else None
    if m is not None:
        out.append((WRITE, m.group(1) or m.group(2)))
    return out


def _gdb(command):
    return _debugger(command, (_GDB_SHELL, _GDB_PIPE), _GDB_PYTHON, _GDB_OPAQUE, None, _GDB_WRITE)


def _lldb(command):
    return _debugger(command, (_LLDB_SHELL,), _LLDB_PYTHON, _LLDB_OPAQUE, "system", None)


_MAKE_SHELL_FN = re.compile(r"\$[({]shell\s+([^)}]*)[)}]")
_MAKE_RULE_RECIPE = re.compile(r"^[^\t=#][^=#]*?::?\s*[^;=]*;(.*)$")


def _make_recipe(line):
    line = line.strip()
    while line[:1] in ("@", "-", "+"):
        line = line[1:].lstrip()
    return line.replace("$$", "$")


def _make(text):
    """`make --eval TEXT`: the recipes it defines (after `;` on a rule line, or on lines
    starting with a tab) and its $(shell ...) calls."""
    out = [(SH, m.group(1)) for m in _MAKE_SHELL_FN.finditer(text)]
    for line in text.split("\n"):
        if line.startswith("\t"):
            out.append((SH, _make_recipe(line)))
            continue
        m = _MAKE_RULE_RECIPE.match(line)
        if m is not None:
            out.append((SH, _make_recipe(m.group(1))))
    return out


_SQLITE_SHELL = re.compile(r"^\s*\.(?:shell|system)\s+(.*)$", re.M)
_SQLITE_WRITE = re.compile(r"^\s*\.(?:output|once|save|backup|dump\s+>)\s+(?:-[a-z]+\s+)*(\S+)", re.M)
_SQLITE_READ = re.compile(r"^\s*\.(?:read|import)\s+(?:-[a-z-]+\s+)*(\S+)", re.M)
_PSQL_SHELL = re.compile(r"\\!\s*([^\n]*)")
_PSQL_OUT = re.compile(r"\\(?:o|out|g|gx|w|write)[ \t]+(\|)?[ \t]*([^\n]*)")
_PSQL_READ = re.compile(r"\\(?:i|include|ir|include_relative)[ \t]+(\S+)")
_SQL_PROGRAM = re.compile(r"\b(?:to|from)\s+program\s+'((?:[^']|'')*)'", re.I)
_SQL_OUTFILE = re.compile(r"""\binto\s+(?:out|dump)file\s+(?:'([^']*)'|"([^"]*)")""", re.I)
_SQL_READFILE = re.compile(r"""\b(?:load_file|pg_read_file|pg_read_binary_file|lo_import)\s*\(\s*"""
                           r"""(?:'([^']*)'|"([^"]*)")""", re.I)
_MYSQL_SHELL = re.compile(r"(?:^|;|\n)\s*(?:\\!|system)\s+([^;\n]*)", re.I)
_MYSQL_TEE = re.compile(r"(?:^|;|\n)\s*(?:\\T|tee)\s+([^;\s]+)", re.I)
_MYSQL_SOURCE = re.compile(r"(?:^|;|\n)\s*(?:\\\.|source)\s+([^;\s]+)", re.I)


def _sql(language, text):
    out = []
    if language == "sqlite":
        for m in _SQLITE_SHELL.finditer(text):
            out.append((SH, m.group(1).strip() or "sh"))
        for m in _SQLITE_WRITE.finditer(text):
            target = m.group(1).strip("'\"")
            if target.startswith("|"):
                out.append((SH, target[1:]))
            else:
                out.append((WRITE, target))
        for m in _SQLITE_READ.finditer(text):
            out.append((READ, m.group(1).strip("'\"")))
    elif language == "psql":
        for m in _PSQL_SHELL.finditer(text):
            out.append((SH, m.group(1).strip() or "sh"))
        for m in _PSQL_OUT.finditer(text):
            target = m.group(2).strip()
            if m.group(1):
                out.append((SH, target or "sh"))
            elif target:
                out.append((WRITE, target.strip("'\"")))
        for m in _PSQL_READ.finditer(text):
            out.append((READ, m.group(1).strip("'\"")))
    else:
        for m in _MYSQL_SHELL.finditer(text):
            out.append((SH, m.group(1).strip() or "sh"))
        for m in _MYSQL_TEE.finditer(text):
            out.append((WRITE, m.group(1).strip("'\"")))
        for m in _MYSQL_SOURCE.finditer(text):
            out.append((READ, m.group(1).strip("'\"")))
    for m in _SQL_PROGRAM.finditer(text):
        out.append((SH, m.group(1).replace("''", "'")))
    for m in _SQL_OUTFILE.finditer(text):
        out.append((WRITE, m.group(1) if m.group(1) is not None else m.group(2)))
    for m in _SQL_READFILE.finditer(text):
        out.append((READ, m.group(1) if m.group(1) is not None else m.group(2)))
    return out


def _language(language, code):
    if not code:
        return [(DYN_CODE, "")]
    if language == "awk":
        return _awk(code)
    if language == "sed":
        return _sed(code)
    if language == "dc":
        return _dc(code)
    if language == "vim":
        return _vim(code)
    if language == "elisp":
        return _elisp(code)
    if language == "gdb":
        return _gdb(code)
    if language == "lldb":
        return _lldb(code)
    if language == "make":
        return _make(code)
    return _sql(language, code)


def _code_texts(prog, args):
    """(language, [code texts]) of a program of CODE_OPTIONS: its code options' values,
    vim's `+CMD` arguments, and the positional code of awk and sed (unless a script
    file is named); a file of code that is a stream (is_stream) is the empty text, which
    is unknown."""
    options, language, positional = CODE_OPTIONS[prog]
    texts = _option_values(args, options, prog not in _SINGLE_DASH_LONG)
    if language == "vim":
        texts.extend(a[1:] for a in args if a.startswith("+") and len(a) > 1 and not a[1:].isdigit()
                     and a[1:] not in ("/", "?"))
    elif language == "sqlite":
        pos = [a for a in args if not a.startswith("-")]
        texts.extend(pos[1:])
    files = _option_values(args, CODE_FILE_OPTIONS[language], prog not in _SINGLE_DASH_LONG) \
        if language in CODE_FILE_OPTIONS else []
    for f in files:
        if is_stream(f):
            texts.append("")
            break
    if positional and not texts and not files:     # (awk's and sed's code files are their scripts)
        value_opts = _CODE_VALUE_OPTIONS.get(language, frozenset())
        k = 0
        n = len(args)
        while k < n:
            a = args[k]
            if a == "--":
                k += 1
                break
            if a in value_opts:
                k += 2
                continue
            if a.startswith("-") and len(a) > 1:
                k += 1                      # a flag, or an option with its value attached
                continue
            break
        if k < n:
            texts.append(args[k])
    return language, texts


def _argv_after(prog, args):
    """The argv an ARGV_RUNNERS program runs, or None."""
    subcommands, value_opts, marker = ARGV_RUNNERS[prog]
    n = len(args)
    k = 0
    if subcommands is not None:
        k = _skip_global_options(prog, args)
        if k >= n or not _named(args[k], subcommands):
            return None
        k += 1
        k += RUNNER_POSITIONALS.get(prog, 0)
    if marker:
        if marker not in args[k:]:
            return None
        k = args.index(marker, k) + 1
    else:
        while k < n:
            a = args[k]
            if a == "--":
                k += 1
                break
            if a in value_opts:
                k += 2
                continue
            if a.startswith("-") and len(a) > 1:
                k += 1
                continue
            break
    return list(args[k:]) or None


def _file_urls(args):
    """Local paths named by file:// URLs (`curl file:///etc/passwd`)."""
    out = []
    for a in args:
        # the scheme's colon first: most words have none at index 4, and the slice and
        # lowercase copy below are allocations
        if len(a) >= 5 and a[4] == ":" and a[:4].lower() == "file":
            path = a[5:]
            if path.startswith("//"):
                host_end = path.find("/", 2)
                path = path[host_end:] if host_end >= 0 else "/"
            out.append((READ, path.split("?", 1)[0].split("#", 1)[0] or "/"))
    return out


_GIT_GLOBAL_VALUE = frozenset({"-C", "--git-dir", "--work-tree", "--namespace", "--config-env"})


def _git_file_reads(args):
    """Paths outside the repository that git diff, hash-object, grep --no-index, ...
    read: the absolute and home-relative ones (the repository's own are routine)."""
    k = 0
    n = len(args)
    while k < n and args[k].startswith("-"):
        k += 2 if args[k] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace",
                              "--config-env") else 1
    if k >= n or args[k] not in GIT_FILE_READERS:
        return []
    return [(READ, a) for a in args[k + 1:]
            if (a.startswith("/") or a.startswith("~")) and a not in ("/dev/null", "/dev/stdin")]


def _package_command(prog, args):
    """`npx rimraf DIR`, `pnpm dlx del-cli DIR`, `npx shx rm -rf DIR`: the command a
    package runner runs when it is one the rules know under another name, else None."""
    subs = PACKAGE_RUNNERS[prog]
    k = 0
    n = len(args)
    if subs is not None:
        k = _skip_global_options(prog, args)
        if k >= n:
            return None
        if _named(args[k], subs):
            k += 1
        elif prog != "yarn" or args[k] not in PACKAGE_COMMANDS:
            return None
    while k < n:
        a = args[k]
        if not a or a[0] != "-":
            break
        k += 2 if a in ("-p", "--package", "-c", "--call") else 1
    if k >= n:
        return None
    a = args[k]
    package = a.rsplit("@", 1)[0] if a.rfind("@") > 0 else a
    prefix = PACKAGE_COMMANDS.get(package)
    if prefix is None:
        return None
    return (prefix + list(args[k + 1:])) or None


def _git_config_commands(args):
    """The command lines of `git -c KEY=VALUE` (before the subcommand) that run programs;
    `--config-env KEY=VAR` takes the value from a variable the analysis does not see."""
    out = []
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if a.startswith("--config-env"):
            spec = a[13:] if a.startswith("--config-env=") else (args[k + 1] if k + 1 < n else "")
            k += 1 if a.startswith("--config-env=") else 2
            key, eq, var = spec.partition("=")
            key = key.lower()
            if eq and (key.startswith("alias.") or key in GIT_COMMAND_KEYS
                       or key.endswith(_GIT_COMMAND_SUFFIXES)):
                out.append((SH, '"$' + var + '"'))
            continue
        if a == "-c" and k + 1 < n:
            key, eq, value = args[k + 1].partition("=")
            key = key.lower()
            k += 2
            if not eq or not value:
                continue
            if key.startswith("alias."):
                if value.startswith("!"):
                    out.append((SH, value[1:]))
                continue
            if key in GIT_COMMAND_KEYS or key.endswith(_GIT_COMMAND_SUFFIXES):
                if key == "core.fsmonitor" and value.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                    continue
                if key.endswith(".helper") and not value.startswith("!") and "/" not in value \
                        and " " not in value:
                    continue     # a named helper: git-credential-NAME
                out.append((SH, value[1:] if value.startswith("!") else value))
            continue
        if a.startswith("-"):
            k += 2 if a in ("-C", "--git-dir", "--work-tree", "--namespace", "--config-env") else 1
            continue
        break
    return out


def _ssh_option_commands(args):
    out = []
    for value in _option_values(args, ("-o",)):
        m = _SSH_OPTION.match(value)
        if m is not None and m.group(1).lower() in SSH_COMMAND_OPTIONS:
            rest = m.group(2).strip()
            if rest and rest.lower() != "none":
                out.append((SH, rest))
    return out


def toolchain_value(value):
    """Whether a program variable's value (TOOL_VARS) names a toolchain program or a
    shell, by its name or from a system directory (`gcc`, `ccache clang -m32`,
    `/usr/bin/x86_64-w64-mingw32-gcc-12`, `/bin/bash -o pipefail`), with no shell syntax
    after it: what a build expects to run. Anything else (`rm -rf ~`, `/tmp/x/gcc`,
    `gcc; curl ...`) is a command line to judge."""
    for ch in value:
        if ch in _SHELL_SYNTAX:
            return False
    words = value.split()
    k = 0
    while k < len(words) and words[k] in _COMPILER_LAUNCHERS:
        k += 1
    if k == len(words):
        return k > 0
    word = words[k]
    slash = word.rfind("/")
    if slash >= 0 and not word.startswith(_SYSTEM_BIN):
        return False
    return _TOOLCHAIN_NAME.fullmatch(word[slash + 1:]) is not None


def _scratch_dir(path):
    """Whether a directory or file named as written (absolute or `~/...`) is a temporary
    or downloads directory or lies under one (under_scratch reads a path in one)."""
    return under_scratch(path if path.endswith("/") else path + "/")


def _module_options(prog, args):
    """Unknown code for an interpreter's MODULE_OPTIONS naming a module under a temporary
    or downloads directory, or (perl's -M/-m) holding code."""
    if prog == "perl":
        return _perl_module_switches(args)
    for value in _option_values(args, MODULE_OPTIONS[prog], False):
        if _scratch_dir(value):
            return [(DYN_CODE, "")]
    return []


# perl's switches that take the rest of their word (or, for -e/-E/-I/-M/-m/-x alone,
# the next word) as their value: a cluster's letters after one of them are that value;
# -l and -0 take only the digits after them, and the cluster goes on
_PERL_VALUE_SWITCHES = frozenset("eEIMmxiCdD")


def _perl_module_switches(args):
    """perl's -M/-m values holding code and -I directories under a temporary or downloads
    directory, in every cluster perl reads (`-M'x;system(...)'`, `-wlM'x;...'`, `-I/tmp`,
    `-wI /tmp`). One pass over each word."""
    n = len(args)
    for k in range(n):
        a = args[k]
        if a == "--":
            break
        if len(a) < 2 or a[0] != "-" or a[1] == "-":
            continue
        j = 1
        while j < len(a):
            ch = a[j]
            j += 1
            if ch == "l" or ch == "0":
                while j < len(a) and "0" <= a[j] <= "9":
                    j += 1
                continue
            if ch not in _PERL_VALUE_SWITCHES:
                continue
            if ch == "M" or ch == "m" or ch == "I":
                value = a[j:] if j < len(a) else (args[k + 1] if k + 1 < n else "")
                if ch == "I":
                    if value and _scratch_dir(value):
                        return [(DYN_CODE, "")]
                else:
                    for c in value:
                        if c in _PERL_USE_CODE:
                            return [(DYN_CODE, "")]
            break
    return []


def _make_vars(args):
    """make's command-line variables of TOOL_VARS (`make CC='...' SHELL=...`, with `:=`,
    `::=`, `?=`, `+=`, `!=` too) whose value is a command line to judge."""
    out = []
    for a in args:
        if a == "--":
            break
        if a[:1] == "-":
            continue
        eq = a.find("=")
        if eq <= 0:
            continue
        name = a[:eq].rstrip(":+?!")
        if name in TOOL_VARS:
            value = a[eq + 1:]
            if value and not toolchain_value(value):
                out.append((SH, value))
    return out


def env_commands(env):
    """(origin, kind, text) for the command lines in a command's environment
    (LESSOPEN, GIT_SSH_COMMAND, PAGER, ...), and a (tls-verify-off) argv for each
    variable of TLS_OFF_ENV that turns verification off, and the config command that
    sets the registry a variable of REGISTRY_ENV names."""
    out = []
    for name, values in TLS_OFF_ENV.items():
        value = env.get(name)
        if value is not None and (value in values if values is not None else value != ""):
            out.append(("env " + name, ARGV, [TLS_OFF, name + "=" + value]))
    for name, prog in REGISTRY_ENV.items():
        value = env.get(name)
        if value:
            out.append(("env " + name, ARGV, [prog, "config", "set", "registry", value]))
    for name in _RUNS_COMMAND_ENV:
        value = env.get(name)
        if not value:
            continue
        if name in TOOL_VARS:
            if not toolchain_value(value):
                out.append(("env " + name, SH, value))
            continue
        if name in _MODULE_PATH_ENV:
            for entry in value.split(":"):
                if entry and _scratch_dir(entry):
                    out.append(("env " + name, DYN_CODE, ""))
                    break
            continue
        if name in _OPTION_ENV:
            if _OPTION_ENV_RISK.search(value):
                out.append(("env " + name, DYN_CODE, ""))
            continue
        if name in _LOADER_ENV:
            out.append(("env " + name, DYN_CODE, ""))
            continue
        if name in _STARTUP_ENV:
            out.append(("env " + name, SH, ". '" + value.replace("'", "'\\''") + "'"))
            continue
        if value.strip().lower() in _NO_COMMAND:
            continue
        if name in ("LESSOPEN", "LESSCLOSE"):
            value = value.lstrip("|-")
        out.append(("env " + name, SH, value))
    return out


# git subcommand -> its options whose value is a command git runs (through a shell, or
# on the other end of its transport as `VALUE 'REPO'`): `git clone --upload-pack=CMD`,
# `git difftool -x CMD`, `git archive --remote=R --exec=CMD`
GIT_COMMAND_OPTIONS = {
    "clone": ("-u", "--upload-pack"), "fetch": ("--upload-pack",), "pull": ("--upload-pack",),
    "ls-remote": ("--upload-pack",), "push": ("--receive-pack", "--exec"),
    "archive": ("--exec",), "difftool": ("-x", "--extcmd"), "send-pack": ("--receive-pack", "--exec"),
    "fetch-pack": ("--upload-pack", "--exec"),
    "daemon": ("--access-hook",), "instaweb": ("-d", "--httpd", "-b", "--browser"),
    "send-email": ("--sendmail-cmd", "--to-cmd", "--cc-cmd", "--header-cmd"),
}
# git subcommands whose operands are a command they run: `git submodule foreach CMD`
# (joined and run by a shell), `git bisect run CMD ARGS`
GIT_COMMAND_OPERANDS = {"submodule": "foreach", "bisect": "run"}


def _git_subcommand(args):
    """Index of git's subcommand in args (after its global options), or len(args)."""
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if not a or a[0] != "-":
            return k
        if a == "--":
            return k + 1
        k += 2 if a in _GIT_GLOBAL_VALUE or a == "-c" else 1
    return n


def _git_subcommand_commands(args, k):
    """The commands git's subcommand args[k] runs through its options or operands."""
    sub = args[k]
    out = []
    names = GIT_COMMAND_OPTIONS.get(sub)
    if names is not None:
        if _option_named_after(args, k, names):
            for v in _option_values(args[k + 1:], names, False):
                out.append((SH, v))
        return out
    rest = args[k + 1:]
    if sub == "grep":
        # -O/--open-files-in-pager: the pager's command only when attached (-OCMD, =CMD)
        for a in rest:
            if a == "--":
                break
            if a.startswith("--open-files-in-pager="):
                out.append((SH, a.partition("=")[2]))
            elif a.startswith("-O") and len(a) > 2:
                out.append((SH, a[2:]))
    else:
        word = GIT_COMMAND_OPERANDS[sub]
        j = 0
        while j < len(rest) and rest[j].startswith("-"):
            j += 1
        if j < len(rest) and rest[j] == word:
            j += 1
            while sub == "submodule" and j < len(rest) and rest[j].startswith("-"):
                j += 1      # foreach's own options (--recursive, --quiet)
            if j < len(rest):
                out.append((SH, " ".join(rest[j:])) if sub == "submodule" else (ARGV, rest[j:]))
    return out


_GIT_RUNS = frozenset(GIT_COMMAND_OPTIONS) | frozenset(GIT_COMMAND_OPERANDS) | {"grep"}


def _option_named_after(args, k, names):
    """Whether an option after args[k] (up to a `--`) starts with one of names, as each
    option _option_values(args[k + 1:], names, False) reads a value of does (`--name`,
    `--name=V`, `-xV`): most git push, pull and fetch commands name none of them, and
    skip the copy and the read (character tests, then one prefix test per name)."""
    for j in range(k + 1, len(args)):
        a = args[j]
        if len(a) < 2 or a[0] != "-":
            continue
        if len(a) == 2 and a[1] == "-":
            return False
        for name in names:
            if a[1] == name[1] and a.startswith(name):
                return True
    return False


def _git_side_possible(args):
    """Whether git's side effects can be there at all: a `-c` before the subcommand or
    a path outside the repository (most git commands have neither, and this is their
    whole cost)."""
    k = 0
    n = len(args)
    while k < n:
        a = args[k]
        if not a or a[0] != "-":
            break
        if a == "-c" or a.startswith("--config-env"):
            return True
        k += 2 if a in _GIT_GLOBAL_VALUE else 1
    for a in args:
        if a and (a[0] == "/" or a[0] == "~"):
            return True
    return False


# programs whose option names the remote shell they reach the other host through, run
# as `VALUE HOST COMMAND`: ssh with options only is that transport, not a command of its
# own (its -o ProxyCommand and the like are still read)
TRANSPORT_OPTIONS = _with_aliases({"rsync": ("-e", "--rsh"), "scp": ("-S",), "sftp": ("-S",),
                                   "tar": ("--rsh-command",)})
# programs whose --checkpoint-action=exec=COMMAND runs COMMAND
_CHECKPOINT_PROGRAMS = frozenset(program_names("tar"))
_SSH_VALUE_OPTIONS = frozenset("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w".split())
_PLAIN_WORDS = re.compile(r"[^'\"\\$`;&|<>(){}*?\[\]!#~\s]+(?:\s+[^'\"\\$`;&|<>(){}*?\[\]!#~\s]+)*")


def _ssh_transport(value):
    """The words of ``value`` when it is ssh with options only (plain words: no
    quoting or expansion), else None."""
    text = value.strip()
    if not _PLAIN_WORDS.fullmatch(text):
        return None
    words = text.split()
    if words[0].rsplit("/", 1)[-1] not in ("ssh", "autossh"):
        return None
    k = 1
    while k < len(words):
        w = words[k]
        if not w.startswith("-") or w == "--":
            return None
        k += 2 if w in _SSH_VALUE_OPTIONS else 1
    return words[1:]


def _command_options(prog, args):
    for a in args:
        if a and a[0] == "-":
            break
    else:
        return []       # (every option read below starts with "-")
    out = [(SH, v) for v in _option_values(args, COMMAND_OPTIONS[prog], prog not in _SINGLE_DASH_LONG)]
    transport = TRANSPORT_OPTIONS.get(prog)
    if transport:
        for v in _option_values(args, transport, prog not in _SINGLE_DASH_LONG):
            ssh_args = _ssh_transport(v)
            if ssh_args is not None and (SH, v) in out:
                out.remove((SH, v))
                out.extend(_ssh_option_commands(ssh_args))
    if prog in _CHECKPOINT_PROGRAMS:
        out.extend((SH, v[5:]) for v in _option_values(args, ("--checkpoint-action",)) if v.startswith("exec="))
    return out


def _command_positionals(prog, args):
    subs = COMMAND_POSITIONALS[prog]
    out = []
    if subs is None:
        value_opts = _POSITIONAL_VALUE_OPTIONS.get(prog, {})
        k = 0
        n = len(args)
        while k < n:
            a = args[k]
            if a in value_opts:
                k += 1 + value_opts[a]
                continue
            if not a.startswith("-"):
                runner, colon, script = a.partition(":")
                if colon and script and prog == "concurrently" and runner in _SCRIPT_RUNNERS:
                    a = runner + " run " + script       # `npm:dev` is `npm run dev`, in a shell
                out.append((SH, a))
            k += 1
        return out
    # tmux [-L NAME] new-session -d -s NAME 'cmd': the shell command follows the
    # subcommand's options (which take values: -s, -n, -t, -c, ...)
    n = len(args)
    k, _ = _tmux_options(args, 0, _TMUX_GLOBAL_VALUE)
    if k >= n:
        return out
    if (args[k] == "send-keys" or args[k] == "send") and prog == "tmux":
        return _tmux_keys(args, k + 1)
    if args[k] in subs:
        start = k + 1
        k, _ = _tmux_options(args, start, _TMUX_VALUE)
        if k < n:
            command = " ".join(args[k:])
            workdir = _tmux_value(args, start, k, "c")
            if workdir:
                # the command's shell starts in -c's directory
                command = "cd " + shell_quote(workdir) + " && " + command
            out.append((SH, command))
    return out


def _tmux_value(args, k, end, letter):
    """The value tmux's option letter takes among args[k:end] (its options, read as
    _tmux_options reads them: `-c DIR`, `-cDIR`, `-dc DIR`), the last one given, or ""."""
    found = ""
    while k < end:
        a = args[k]
        k += 1
        if len(a) < 2 or a[0] != "-" or a == "--":
            continue
        for j in range(1, len(a)):
            if a[j] in _TMUX_VALUE:
                value = a[j + 1:] if j < len(a) - 1 else (args[k] if k < end else "")
                if j == len(a) - 1:
                    k += 1
                if a[j] == letter:
                    found = value
                break
    return found


def _tmux_options(args, k, values):
    """(the index of the first word after tmux's options from args[k], the letters of
    its flags), reading tmux's grammar: flags bundle (`-dP`), and a letter of values
    takes the rest of its word or the next word (`-tdev`, `-2L sock`)."""
    n = len(args)
    flags = []
    while k < n:
        a = args[k]
        if a == "--":
            k += 1
            break
        if len(a) < 2 or a[0] != "-":
            break
        k += 1
        for j in range(1, len(a)):
            if a[j] in values:
                if j == len(a) - 1:
                    k += 1
                break
            flags.append(a[j])
    return k, "".join(flags)


# tmux send-keys: key names that end the line typed (it runs), and the options that take
# a value
_TMUX_ENTER = frozenset({"Enter", "KPEnter", "C-m", "C-M", "C-j", "C-J", "^M", "^J", "C-c", "C-C", "C-d", "C-D"})
_TMUX_SEND_VALUE = "tNc"


def _tmux_keys(args, k):
    """`tmux send-keys [-t PANE] KEYS...` types KEYS into a pane's shell: the text they
    make (Enter and C-m end a line, Space is a space; with -l every word is typed as it
    is) is shell code that pane runs. Keys given in hex (-H) are unknown. With -X the
    words are a copy-mode command: the pipe commands (`copy-pipe 'CMD'`) run CMD in a
    shell, the others type nothing."""
    n = len(args)
    k, flags = _tmux_options(args, k, _TMUX_SEND_VALUE)
    if "X" in flags:
        if k < n and "pipe" in args[k]:
            return [(SH, " ".join(args[k + 1:]))] if k + 1 < n else []
        return []
    if "H" in flags:
        return [(DYN_CODE, "")]
    literal = "l" in flags
    parts = []
    for j in range(k, n):
        key = args[j]
        if literal:
            parts.append(key)
        elif key in _TMUX_ENTER:
            parts.append("\n")
        elif key == "Space":
            parts.append(" ")
        else:
            parts.append(key)
    text = "".join(parts)
    return [(SH, text)] if text.strip() else []


# cmake -E TOOL: the portable commands cmake runs itself, as the programs that do the same
_CMAKE_TOOLS = {
    "rm": ("rm",), "remove": ("rm", "-f"), "remove_directory": ("rm", "-rf"),
    "copy": ("cp",), "copy_if_different": ("cp",), "copy_directory": ("cp", "-r"),
    "copy_directory_if_different": ("cp", "-r"), "rename": ("mv",), "make_directory": ("mkdir", "-p"),
    "touch": ("touch",), "touch_nocreate": ("touch", "-c"), "create_symlink": ("ln", "-s"),
    "create_hardlink": ("ln",), "tar": ("tar",), "cat": ("cat",), "echo": ("echo",),
    "echo_append": ("echo",), "compare_files": ("cmp",), "sha256sum": ("sha256sum",),
    "md5sum": ("md5sum",), "sha1sum": ("sha1sum",), "sleep": ("sleep",), "true": ("true",),
    "false": ("false",), "env": ("env",), "environment": ("env",),
}


def _cmake_tool(args):
    """`cmake -E TOOL ARGS` as the command that does the same (`cmake -E remove_directory
    D` is `rm -rf D`; `chdir DIR CMD...` runs CMD in DIR; `time CMD...` runs CMD); a
    script (`-P FILE`) read from a stream is code of unknown content."""
    n = len(args)
    for k in range(n):
        a = args[k]
        if a == "-P" and k + 1 < n and is_stream(args[k + 1]):
            return [(DYN_CODE, "")]
        if a != "-E" or k + 1 >= n:
            continue
        tool = args[k + 1]
        rest = args[k + 2:]
        if tool == "chdir":
            if len(rest) < 2:
                return []
            return [(SH, "cd " + shell_quote(rest[0]) + " && " + " ".join([shell_quote(w) for w in rest[1:]]))]
        if tool == "time":
            return [(ARGV, list(rest))] if rest else []
        prog = _CMAKE_TOOLS.get(tool)
        if prog is None:
            return []
        return [(ARGV, list(prog) + list(rest))]
    return []


def _argv_runner(prog, args):
    argv = _argv_after(prog, args)
    if argv is not None:
        if prog == "entr" and "-s" in args:
            return []               # entr -s: the command is -s's value
        return [(ARGV, argv)]
    if prog == "watchexec":
        k = 0
        n = len(args)
        while k < n and args[k].startswith("-"):
            k += 2 if args[k] in _WATCHEXEC_VALUE else 1
        if k < n:
            return [(SH, " ".join(args[k:]))]
    return []


def _fd_commands(args):
    """The commands `fd [PATTERN] [PATH...] -x CMD ARGS` runs: CMD with each placeholder
    ({}, {/}, {.}, ...) standing for what fd finds, judged as the search paths (the
    working directory when none is given); CMD gets them as its last words when it has
    no placeholder."""
    roots = []
    commands = []
    positionals = 0
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        if a in _FD_EXEC:
            j = k + 1
            while j < n and args[j] != ";":
                j += 1
            commands.append(args[k + 1:j])
            k = j + 1
            continue
        if a == "--search-path" and k + 1 < n:
            roots.append(args[k + 1])
        if a.startswith("--search-path="):
            roots.append(a.partition("=")[2])
        if a in _FD_VALUE:
            k += 2
            continue
        if not a.startswith("-") or a == "-":
            positionals += 1
            if positionals > 1:
                roots.append(a)
        k += 1
    out = []
    for argv in commands:
        if not argv:
            continue
        targets = roots or ["."]
        if any(p in a for a in argv[1:] for p in _FD_PLACEHOLDERS):
            for root in targets:
                inner = list(argv)
                for i in range(1, len(inner)):
                    for p in _FD_PLACEHOLDERS:
                        inner[i] = inner[i].replace(p, root)
                out.append((ARGV, inner))
        else:
            out.append((ARGV, list(argv) + targets))
    return out


def _trap_command(args):
    """The shell code `trap CODE SIGNAL...` runs when a signal comes or the shell exits
    (`trap - SIG`, `trap '' SIG` and the listing forms run none)."""
    k = 0
    if args and args[0] == "--":
        k = 1
    if len(args) - k < 2 or args[k].startswith("-") or args[k] == "":
        return []
    return [(SH, args[k])]


# tar's short options that take a value (the next word, or the rest of their cluster),
# its long ones that take the next word when written without "=", and the letters of
# the modes that read files into an archive (create, append, update, concatenate)
_TAR_VALUE_LETTERS = frozenset("bCfFgHIKLNTVX")
_TAR_LONG_VALUES = frozenset({
    "--file", "--directory", "--files-from", "--exclude-from", "--exclude", "--transform", "--xform",
    "--owner", "--group", "--mode", "--mtime", "--newer", "--after-date", "--newer-mtime", "--label",
    "--use-compress-program", "--to-command", "--checkpoint-action", "--format", "--blocking-factor",
    "--record-size", "--tape-length", "--volno-file", "--info-script", "--new-volume-script",
    "--rsh-command", "--suffix", "--strip-components", "--listed-incremental", "--starting-file",
    "--index-file", "--quoting-style", "--exclude-tag", "--exclude-tag-all", "--exclude-tag-under",
    "--occurrence", "--sparse-version", "--level", "--hole-detection", "--owner-map", "--group-map"})
_TAR_READ_MODES = frozenset("cruA")
_TAR_READ_LONG = frozenset({"--create", "--append", "--update", "--catenate", "--concatenate"})


# The longest directory tar's -C options may add up to (PATH_MAX), and the most
# characters of paths the members after them may name in all: past either, the call is
# undecided (-C a repeated, then many members, would otherwise cost the product of the two)
_TAR_MAX_DIRECTORY = 4096
_TAR_MAX_READS = 1 << 18
_TAR_LIMIT_MSG = "tar's -C directories and the members after them name more than the analysis reads"


def _tar_chdir(directory, to):
    """The directory a -C to `to` leaves tar in: GNU tar's -C options add up, a relative
    one is taken from the directory of the one before (`-C ~/app -C .. x` reads ~/x)."""
    if directory is None or to.startswith("/") or to.startswith("~"):
        return to
    joined = directory.rstrip("/") + "/" + to
    if len(joined) > _TAR_MAX_DIRECTORY:
        raise LimitError(_TAR_LIMIT_MSG)
    return joined


def _tar_directory_reads(args):
    """The files tar reads from the directory a -C/--directory names before them, when
    it creates, appends to or updates an archive: each relative member after it, as
    DIR/member (`tar czf k.tgz -C ~ .ssh` reads ~/.ssh, which the word `.ssh` alone does
    not say). Members before any -C are the command's own arguments already."""
    reads = False
    directory = None
    pending = []            # the options whose values the next words are, from pending[p]
    p = 0
    members = []
    n = len(args)
    k = 0
    while k < n:
        a = args[k]
        k += 1
        if p < len(pending):
            p += 1
            if pending[p - 1] == "C":
                directory = _tar_chdir(directory, a)
            continue
        if a == "--":
            members += [(directory, m) for m in args[k:]]
            break
        if a.startswith("--"):
            name, eq, value = a.partition("=")
            if name in _TAR_READ_LONG:
                reads = True
            elif name == "--directory":
                if eq:
                    directory = _tar_chdir(directory, value)
                else:
                    pending.append("C")
            elif name in _TAR_LONG_VALUES and not eq:
                pending.append(name)
            continue
        if a.startswith("-") and len(a) > 1 or k == 1:
            # a cluster: `-czf FILE`, `-C DIR`, `-CDIR`, or the first word's old style `czf FILE`
            letters = a[1:] if a.startswith("-") else a
            for i in range(len(letters)):
                ch = letters[i]
                if ch in _TAR_READ_MODES:
                    reads = True
                if ch in _TAR_VALUE_LETTERS:
                    if not a.startswith("-"):
                        pending.append(ch)          # old style: each value is a word of its own
                    elif i + 1 < len(letters):
                        if ch == "C":
                            directory = _tar_chdir(directory, letters[i + 1:])
                        break
                    else:
                        pending.append(ch)
                        break
            continue
        if directory is not None:
            members.append((directory, a))
    if not reads:
        return []
    out = []
    size = 0
    for d, m in members:
        if d is None or not m or m == "-" or m.startswith("/"):
            continue
        size += len(d) + len(m)
        if size > _TAR_MAX_READS:
            raise LimitError(_TAR_LIMIT_MSG)
        out.append((READ, d.rstrip("/") + "/" + m if d.rstrip("/") else "/" + m))
    return out


def _code(prog, args):
    language, texts = _code_texts(prog, args)
    return [item for text in texts for item in _language(language, text)]


# Which readers a program has, one bit each (a single lookup per command)
_R_OPTIONS, _R_POSITIONALS, _R_RUNNER, _R_CODE, _R_SSH, _R_GIT, _R_FILE_URL, _R_PACKAGE, _R_FD, _R_TRAP, \
    _R_TAR, _R_CMAKE, _R_VARS, _R_MODULES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


def _reader_bits():
    table = {}
    for names, bit in ((COMMAND_OPTIONS, _R_OPTIONS), (COMMAND_POSITIONALS, _R_POSITIONALS),
                       (ARGV_RUNNERS, _R_RUNNER), (CODE_OPTIONS, _R_CODE),
                       (SSH_PROGRAMS | {"rsync"}, _R_SSH), (("git",), _R_GIT),
                       (FILE_URL_PROGRAMS, _R_FILE_URL), (PACKAGE_RUNNERS, _R_PACKAGE),
                       (FD_PROGRAMS, _R_FD), (("trap",), _R_TRAP), (program_names("tar"), _R_TAR),
                       (("cmake",), _R_CMAKE), (VAR_PROGRAMS, _R_VARS), (MODULE_OPTIONS, _R_MODULES)):
        for name in names:
            table[name] = table.get(name, 0) | bit
    return table


_READERS = _reader_bits()


def _option_trigger(names):
    """A regex over the NUL-joined args that finds every spelling _option_values reads
    of the options names: `--long`, `--long=V`, `-x`, `-xV`, `-abx`, `-name=V`."""
    parts = []
    for name in names:
        if name.startswith("--") or len(name) > 2:
            parts.append("(?:^|\x00)" + re.escape(name))
        else:
            parts.append("(?:^|\x00)-[^\x00-]*" + re.escape(name[1]))
    return parts


def _whole_args(words):
    return ["(?:^|\x00)" + re.escape(w) + "(?:\x00|$)" for w in words]


# Per language: text without which its code does nothing on the side (a necessary
# condition, checked before the language is parsed)
_STDIN_TRIGGERS = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "(?:^|\x00)-(?:\x00|$)"]
_LANGUAGE_TRIGGERS = {
    "awk": ["system", "getline", "[|>]"] + _STDIN_TRIGGERS,
    "sed": ["[ewrRW]"] + _STDIN_TRIGGERS,
    "dc": ["!"],
    "vim": [""], "elisp": [""], "gdb": [""], "lldb": [""], "make": [""],
    "sqlite": ["(?i)\\.(?:shell|system|output|once|save|backup|dump|read|import)|program|outfile|dumpfile"
               "|load_file|pg_read|lo_import"],
    # (the backslash commands _sql reads: psql's \! \o \g \w \i and their long names,
    # mysql's \! \T \.; another backslash command, `\dt`, does nothing on the side)
    "psql": ["\\\\[!ogwi]|(?i)program|outfile|dumpfile|load_file|pg_read|lo_import"],
    "mysql": ["\\\\[!t.]|(?i)system|tee|source|program|outfile|dumpfile|load_file|pg_read|lo_import"],
}


def _triggers():
    """program -> (a regex that some of its side effects need to find in its NUL-joined
    args, the literals every match of it holds as _prefilter finds them, or None), for
    the programs whose code is parsed (awk, sed, vim, database clients, ...): the
    others' readers are short loops, cheaper than the regex. Derived from the tables,
    so a new entry is covered."""
    table = {}
    for prog in SIDE_PROGRAMS:
        if prog not in CODE_OPTIONS:
            continue
        parts = []
        if prog in COMMAND_OPTIONS:
            parts += _option_trigger(COMMAND_OPTIONS[prog])
            if prog in _CHECKPOINT_PROGRAMS:
                parts += _option_trigger(("--checkpoint-action",))
        if prog in COMMAND_POSITIONALS:
            parts.append("")
        if prog in ARGV_RUNNERS:
            subcommands, _, marker = ARGV_RUNNERS[prog]
            if subcommands is not None:
                parts += _whole_args(subcommands)
            elif marker:
                parts += _whole_args((marker,))
            else:
                parts.append("")
            if prog == "watchexec":
                parts.append("")
        if prog in CODE_OPTIONS:
            options, language, positional = CODE_OPTIONS[prog]
            if positional or language == "sqlite" or language in ("psql", "mysql"):
                parts += _LANGUAGE_TRIGGERS.get(language, [""])
            else:
                parts += _option_trigger(options)
                if language == "vim":
                    parts.append("(?:^|\x00)\\+")
        if prog in SSH_PROGRAMS or prog == "rsync":
            parts += _option_trigger(("-o",))
        if prog == "git":
            parts += ["(?:^|\x00)(?:-c(?:\x00|$)|--config-env|/|~)"]
        if prog in VAR_PROGRAMS:
            parts.append("(?:^|\x00)(?:" + "|".join(sorted(TOOL_VARS)) + ")[:+?!]*=")
        if prog in FILE_URL_PROGRAMS:
            parts.append("(?i)file:")
        if prog in PACKAGE_RUNNERS:
            parts.append("(?:^|\x00)(?:" + "|".join(re.escape(p) for p in PACKAGE_COMMANDS) + ")(?:\x00|$|@)")
        trigger = _compiled_trigger(parts)
        if trigger is not None:
            table[prog] = trigger
    return table


def _compiled_trigger(parts):
    """The trigger (a regex, the literals every match holds or None) that finds any of
    the regexes parts; None when one of them is empty (everything triggers)."""
    if "" in parts:
        return None
    flags = "(?i)" if any("(?i)" in p for p in parts) else ""
    pattern = flags + "|".join(p.replace("(?i)", "") for p in parts)
    needs = prefilter(pattern)
    if type(needs) is tuple:
        # a literal that holds a shorter one of its requirement adds no test
        needs = tuple(tuple(lit for lit in req if not any(o != lit and o in lit for o in req))
                      for req in needs)
    else:
        needs = None
    return re.compile(pattern), needs


_TRIGGERS = _triggers()


# The programs of CODE_OPTIONS that take a file of their code (CODE_FILE_OPTIONS): a
# stream named among their args is read past their trigger, which tests for code only
_CODE_FILE_PROGRAMS = frozenset(prog for prog, entry in CODE_OPTIONS.items() if entry[1] in CODE_FILE_OPTIONS)


# program -> (its trigger or None, its reader bits, whether it takes a file of its code),
# for every program of SIDE_PROGRAMS: what side_effects asks of a program in one lookup
_SIDE = {prog: (_TRIGGERS.get(prog), _READERS.get(prog, 0), prog in _CODE_FILE_PROGRAMS) for prog in SIDE_PROGRAMS}


def side_effects(prog, args):
    """What program prog with args runs, evaluates, reads or writes on the side, as a
    list of (origin, kind, value) (see the module's docstring)."""
    entry = _SIDE.get(prog)
    if entry is None:
        return []
    trigger = entry[0]
    if trigger is not None and not _triggered(trigger, "\x00".join(args)) \
            and not (entry[2] and _names_a_stream(args)):
        return []
    found = _read_bits(prog, args, entry[1])
    if not found:
        return found
    origin = prog + " (side)"
    return [(origin, kind, value) for kind, value in found]


# Languages whose programs read their own commands from stdin when it is not a terminal:
# a database client's statements and its dot or backslash commands, gdb's and lldb's
# commands, dc's program (vim's Ex commands in Ex mode, and the code file named `-` of
# the others, are tested by stdin_effects)
_STDIN_LANGUAGES = frozenset({"sqlite", "psql", "mysql", "gdb", "lldb", "dc"})
STDIN_CODE_PROGRAMS = frozenset(prog for prog, entry in CODE_OPTIONS.items()
                                if entry[1] in _STDIN_LANGUAGES or entry[1] in CODE_FILE_OPTIONS)
# language -> the trigger of code in that language fed on a program's stdin (None: any
# code may do something on the side)
_TEXT_TRIGGERS = {language: _compiled_trigger(_LANGUAGE_TRIGGERS.get(language, [""]))
                  for language in set(CODE_FILE_OPTIONS) | _STDIN_LANGUAGES}


def _ex_mode(prog, args):
    """Whether vim runs in Ex mode (`ex`, `-e`, `-E`, `-es`), reading commands from stdin."""
    if prog == "ex":
        return True
    for a in args:
        if a == "--":
            break
        if a[:1] == "-" and a[1:2] != "-" and a[1:].isalpha() and ("e" in a or "E" in a):
            return True
    return False


def stdin_effects(prog, args, text):
    """What a program of STDIN_CODE_PROGRAMS does with the text a heredoc, a here-string or
    a printed literal feeds its stdin, when it reads that text as its own code: the
    same (origin, kind, value) list as side_effects, read in the program's language."""
    language = CODE_OPTIONS[prog][1]
    if language not in _STDIN_LANGUAGES and not (language == "vim" and _ex_mode(prog, args)):
        for f in _option_values(args, CODE_FILE_OPTIONS[language], prog not in _SINGLE_DASH_LONG):
            if f in STDIN_FILES:
                break
        else:
            return []
    trigger = _TEXT_TRIGGERS[language]
    if trigger is not None and not _triggered(trigger, text):
        return []
    origin = prog + " (stdin)"
    found = []
    for kind, value in _language(language, text):
        found.append((origin, kind, value))
    return found


def _names_a_stream(args):
    """Whether some arg may name a stream as an option's value or attached to it (`-`,
    `/dev/fd/63`, `/proc/self/fd/0`, `-f-`, `--file=-`, `--file=/dev/stdin`): a necessary
    condition for _code_texts to find a file of code that is a stream. Most args start
    with neither `-` nor `/` and cost one character test."""
    for a in args:
        n = len(a)
        if n == 0:
            continue
        c = a[0]
        if c == "/":
            if a.startswith("/dev/") or a.startswith("/proc/"):
                return True
        elif c == "-":
            if n == 1 or (n > 2 and a[n - 1] == "-") or "/dev/" in a or "/proc/" in a:
                return True
    return False


def _triggered(trigger, text):
    """Whether a program's trigger (_triggers) finds its NUL-joined args. Most args
    lack every literal a match holds, which a few substring tests of the lowercased
    text show without the regex (a Python regex with many case-insensitive branches
    costs microseconds even on a short text). Only for ASCII text: Python's case
    folding matches some non-ASCII letters with ASCII ones (the Kelvin sign with k)."""
    rx, needs = trigger
    if needs is not None and text.isascii():
        low = text.lower()
        for alternatives in needs:
            for literal in alternatives:
                if literal in low:
                    break
            else:
                return False
    return rx.search(text) is not None


def _read_side(prog, args):
    """Every reader of prog's side effects, in a fixed order, as (kind, value) pairs,
    without the trigger that side_effects tests first."""
    return _read_bits(prog, args, _READERS.get(prog, 0))


def _read_bits(prog, args, bits):
    """_read_side with prog's reader bits given."""
    found = []
    if bits & _R_OPTIONS:
        found += _command_options(prog, args)
    if bits & _R_POSITIONALS:
        found += _command_positionals(prog, args)
    if bits & _R_RUNNER:
        found += _argv_runner(prog, args)
    if bits & _R_CODE:
        found += _code(prog, args)
    if bits & _R_SSH:
        found += _ssh_option_commands(args)
    if bits & _R_GIT:
        if _git_side_possible(args):
            found += _git_config_commands(args) + _git_file_reads(args)
        k = _git_subcommand(args)
        if k < len(args) and args[k] in _GIT_RUNS:
            found += _git_subcommand_commands(args, k)
    if bits & _R_FILE_URL:
        found += _file_urls(args)
    if bits & _R_PACKAGE:
        argv = _package_command(prog, args)
        if argv is not None:
            found.append((ARGV, argv))
    if bits & _R_FD:
        found += _fd_commands(args)
    if bits & _R_TRAP:
        found += _trap_command(args)
    if bits & _R_TAR:
        found += _tar_directory_reads(args)
    if bits & _R_CMAKE:
        found += _cmake_tool(args)
    if bits & _R_VARS:
        found += _make_vars(args)
    if bits & _R_MODULES:
        found += _module_options(prog, args)
    return found


# ---------------------------------------------------------------- download, then run

# programs that fetch files from the network; git and gh only through these subcommands
DOWNLOADERS = frozenset({"curl", "wget", "aria2c", "http", "https", "xh", "fetch"})
CLONERS = frozenset({"git", "gh"})
CLONE_SUBCOMMANDS = ("clone", "download")


def _fetches(c):
    if c.program in DOWNLOADERS:
        return True
    return c.program in CLONERS and ("clone" in c.args or "download" in c.args)
# programs that run or install a file named in their arguments
_RUNS_FILE = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "source", ".", "python",
                        "python3", "python2", "perl", "ruby", "node", "nodejs", "php", "lua",
                        "deno", "bun", "pwsh", "powershell", "Rscript", "julia", "tclsh", "expect",
                        "java", "dpkg", "rpm", "apt", "apt-get", "yum", "dnf", "zypper", "installer",
                        "msiexec", "sudo", "exec", "env", "nohup", "xdg-open", "open", "chmod"})
RUN_DOWNLOADED = "(run-downloaded)"


def _url_basename(url):
    # (the text after the scheme's "://" and before any "?", then before any "#": found,
    # not split off)
    i = url.find("://")
    path = url[i + 3:] if i >= 0 else url
    i = path.find("?")
    if i >= 0:
        path = path[:i]
    i = path.find("#")
    if i >= 0:
        path = path[:i]
    name = path.rstrip("/").rsplit("/", 1)[-1] if "/" in path else ""
    return name or "index.html"


def _join(cwd, path):
    if path.startswith("/") or path.startswith("~"):
        full = path
    else:
        full = (cwd.rstrip("/") + "/" + path) if cwd else path
    if "//" not in full and "/." not in full and not full.startswith(".") and not full.endswith("/"):
        return full             # no empty, "." or ".." part to drop: the path as it is
    parts = []
    for seg in full.split("/"):
        if seg == "..":
            if parts:
                parts.pop()
        elif seg and seg != ".":
            parts.append(seg)
    return ("/" if full.startswith("/") else "") + "/".join(parts)


def _downloads(sc):
    """The paths (joined to the command's directory) a downloader writes, and the
    directories it fills (git clone)."""
    args = sc.args
    prog = sc.program
    files = []
    dirs = []
    urls = []
    for a in args:
        if "://" in a and not a.startswith("-"):
            urls.append(a)
    out_dir = ""
    if prog == "curl" or prog == "wget" or prog == "aria2c":
        names = ("-o", "--output") if prog == "curl" else (("-O", "--output-document") if prog == "wget"
                                                            else ("-o", "--out"))
        files.extend(_option_values(args, names))
        dir_opts = ("--output-dir",) if prog == "curl" else (("-P", "--directory-prefix") if prog == "wget"
                                                             else ("-d", "--dir"))
        given = _option_values(args, dir_opts)
        if given:
            out_dir = given[-1]
        remote_name = prog != "curl"
        if not remote_name:
            for a in args:
                if a == "-O" or a == "--remote-name" or a == "--remote-name-all" or a == "-J" or (
                        a.startswith("-") and not a.startswith("--") and a.find("O", 1) >= 0):
                    remote_name = True
                    break
        if remote_name and not (prog == "wget" and files):
            for u in urls:
                files.append(_url_basename(u))
    elif prog == "http" or prog == "https" or prog == "xh":
        files.extend(_option_values(args, ("-o", "--output")))
        if "-d" in args or "--download" in args:
            for u in urls:
                files.append(_url_basename(u))
    elif prog == "fetch":
        files.extend(_option_values(args, ("-o",)))
        for u in urls:
            files.append(_url_basename(u))
    elif prog == "git" or prog == "gh":
        pos = []
        for a in args:
            if not a.startswith("-"):
                pos.append(a)
        if prog == "git":
            if pos[:1] == ["clone"] and len(pos) >= 2:
                dirs.append(pos[2] if len(pos) >= 3 else _url_basename(pos[1]).removesuffix(".git"))
        elif pos[:2] == ["repo", "clone"] and len(pos) >= 3:
            dirs.append(pos[3] if len(pos) >= 4 else pos[2].rsplit("/", 1)[-1])
        elif pos[:2] == ["release", "download"] or pos[:2] == ["run", "download"]:
            # the names come from the release: everything under its directory counts
            given = _option_values(args, ("-D", "--dir"))
            dirs.append(given[-1] if given else ".")
    for op, target in sc.redirects:
        if op == ">" or op == ">>":
            files.append(target)
    cwd = sc.cwd
    base = _join(cwd, out_dir) if out_dir else cwd
    paths = []
    for f in files:
        if f and f != "-" and f != "/dev/null" and f != "/dev/stdout":
            paths.append(_join(base, f))
    for k in range(len(dirs)):
        dirs[k] = _join(cwd, dirs[k])
    return paths, dirs


def _runs_a_file(c):
    """Whether the command runs, sources or installs a file it names (the candidates
    fetched_runs matches against what the call fetched)."""
    if c.path:
        return True
    if c.program in _RUNS_FILE:
        for a in c.args:
            if not a.startswith("-"):
                return True
    elif c.program in _SCRIPT_OPTIONS:
        return bool(_option_values(c.args, _SCRIPT_OPTIONS[c.program]))
    return False


# programs that run a file of code named by an option (`make -f FILE`, `awk -f FILE`,
# `gdb -x FILE`): a fetched one is run as `sh FILE` would be
_SCRIPT_OPTIONS = _with_aliases({
    "make": ("-f", "--file", "--makefile"), "gmake": ("-f", "--file", "--makefile"),
    "awk": ("-f", "--file"), "gawk": ("-f", "--file"), "mawk": ("-f",), "sed": ("-f", "--file"),
    "just": ("-f", "--justfile"), "gdb": ("-x", "--command"), "vim": ("-S", "-u"), "nvim": ("-S", "-u"),
    "psql": ("-f", "--file"), "sqlite3": ("-init",),
})


# programs that copy, move or link files: a source under a scratch or downloads
# directory (under_scratch: what earlier calls may have put there unreviewed) makes
# the copy as unseen as a download
_COPIERS = frozenset({"cp", "mv", "install", "ln", "rsync"})


def _from_scratch(c):
    """Whether c copies, moves, links or unpacks a file from a scratch or downloads
    directory (`cp /tmp/x/tool bin/`, `tar xzf /tmp/t.tgz`): what it writes is taken
    as fetched. For a copier, a source (a word other than the last); for an unpacker,
    any word (the archive)."""
    prog = c.program
    near = scratch_named(c.cwd)     # (else only a word naming one can resolve there)
    if prog in _COPIERS:
        last = None
        for a in c.args:
            if not a.startswith("-"):
                if last is not None and (near or scratch_named(last)) \
                        and under_scratch(_join(c.cwd, last)):
                    return True
                last = a
        return False
    if prog in _EXTRACTORS:
        for a in c.args:
            if not a.startswith("-") and (near or scratch_named(a)) \
                    and under_scratch(_join(c.cwd, a)):
                return True
    return False


def _piped_download(c):
    for p in c.pipe_in:
        if p in DOWNLOADERS or p in CLONERS:
            return True
    return False


# programs that unpack an archive or a compressed file -> their options naming the
# directory it lands in (the working directory without one)
_EXTRACTORS = _with_aliases({
    "tar": ("-C", "--directory"), "unzip": ("-d",), "7z": ("-o",), "7za": ("-o",),
    "gunzip": (), "unxz": (), "bunzip2": (), "unzstd": (), "cpio": ("-D", "--directory"),
    "ar": (), "unrar": (),
})
# what _from_scratch may answer True for (the compiled analyser asks it only of these)
SCRATCH_COPIERS = _COPIERS | frozenset(_EXTRACTORS)


def _names_fetched(c, fetched):
    cwd = c.cwd
    for a in c.args:
        if a.startswith("--file="):
            a = a[7:]
        elif a.startswith("-"):
            continue
        if _join(cwd, a) in fetched:
            return True
    return False


def fetched_runs(commands):
    """Commands of one call that run, source or install a file fetched earlier in the
    same call (`curl -o x URL && chmod +x x && ./x`, `wget URL/a.run && sh a.run`,
    `git clone URL && ./repo/install.sh`): [(path, the command that runs it)]. Linear in
    the commands and their arguments."""
    # Nothing is fetched before the first command that downloads or reads a download
    # from a pipe, and only a command from there on that names a file to run can match.
    fetches = False
    first = -1
    runs = False
    n = len(commands)
    for k in range(n):
        c = commands[k]
        if first < 0:
            if _fetches(c) or _from_scratch(c):
                fetches = True
                first = k
            elif _piped_download(c):
                first = k
        elif not fetches and (_fetches(c) or _from_scratch(c)):
            fetches = True
        if first >= 0 and not runs and _runs_a_file(c):
            runs = True
        if fetches and runs:
            break
    if not (fetches and runs):
        return []
    fetched = set()
    fetched_dirs = []
    out = []
    for k in range(first, n):
        c = commands[k]
        if _fetches(c):
            files, dirs = _downloads(c)
            fetched.update(files)
            fetched_dirs.extend(dirs)
            continue
        prog = c.program
        args = c.args
        cwd = c.cwd
        if _piped_download(c):
            # `curl URL | tee tool`, `curl URL | gunzip > tool`: what it writes is fetched
            if prog == "tee":
                for a in args:
                    if not a.startswith("-"):
                        fetched.add(_join(cwd, a))
            for op, target in c.redirects:
                if op == ">" or op == ">>":
                    fetched.add(_join(cwd, target))
        if prog in _EXTRACTORS and (_piped_download(c) or _names_fetched(c, fetched) or _from_scratch(c)):
            # a fetched archive unpacked: what lands in its directory is fetched too
            into = _option_values(args, _EXTRACTORS[prog], prog != "7z" and prog != "7za")
            fetched_dirs.append(_join(cwd, into[-1] if into else "."))
            continue
        if prog in _COPIERS and len(args) >= 2:
            # a fetched file (or one from a scratch directory) copied, moved or linked:
            # the copy is fetched too
            pos = []
            for a in args:
                if not a.startswith("-"):
                    pos.append(a)
            last = len(pos) - 1
            if last >= 1:
                for j in range(last):
                    src = _join(cwd, pos[j])
                    if src in fetched or under_scratch(src):
                        target = _join(cwd, pos[last])
                        fetched.add(target)
                        for i in range(last):
                            fetched.add(target + "/" + pos[i].rsplit("/", 1)[-1])
                        if src not in fetched:
                            fetched_dirs.append(target)     # (a directory's copy: all below it)
                        break
            continue
        if not fetched and not fetched_dirs:
            continue
        candidates = []
        if c.path:
            candidates.append(c.path)
        if prog in _RUNS_FILE:
            for a in args:
                if not a.startswith("-"):
                    candidates.append(a)
        elif prog in _SCRIPT_OPTIONS:
            candidates.extend(_option_values(args, _SCRIPT_OPTIONS[prog]))
        for a in candidates:
            p = _join(cwd, a)
            hit = p in fetched
            if not hit:
                for d in fetched_dirs[:16]:
                    if p == d or p.startswith(d + "/"):
                        hit = True
                        break
            if hit:
                if prog == "chmod":
                    continue            # making it executable is not running it
                out.append((p, c))
                break
    return out
