"""What the call-shape kernels (``_shape_c`` compiled, ``_shape_py`` pure) share: the
tables of programs whose words are kept, the limits, the roots a path is classed by, and
:func:`where`. See lighthouse.patterns.shapes for what a shape is; the kernels build the
shape of a Bash call from the simple commands the shell analysis (the rule engine's own
parse, when it has it) found."""

from __future__ import annotations

from ._shell_shared import DYN

__all__ = ["SHAPE_API", "NoShape", "ProgramTable", "program_table", "program_entry", "DEFAULT_PROGRAMS",
           "EXACT_PROGRAMS", "SUBCOMMAND_PROGRAMS", "COMMAND_WORDS", "LITERAL_OPTIONS",
           "LITERAL_SUBCOMMANDS", "SUBCOMMAND_DEPTH", "NO_LITERALS", "MAX_LITERALS", "MAX_LITERAL", "MAX_COMMANDS",
           "MAX_SHAPE", "MAX_INPUT", "MAX_SUBCOMMANDS", "MEMO_SIZE", "MEMO_TEXT", "PATH_CLASSES", "where", "TMP_ROOTS",
           "STDIO_PATHS", "SYSTEM_ROOTS", "HOME_ROOTS", "lead"]

#: What both kernels export.
SHAPE_API = ("bash_shape", "classify", "path_class", "exact", "NoShape", "PatternIndex")

MAX_COMMANDS = 16          # simple commands of a call that can be shaped
MAX_SHAPE = 4096           # characters of a call's shape text
MAX_INPUT = 16384          # characters of a command line (or path) that is shaped at all
MAX_SUBCOMMANDS = 2        # leading plain words kept as the subcommand
MEMO_SIZE = 4096           # calls whose pattern-tier answer a PatternIndex remembers (then all are forgotten)
MEMO_TEXT = 1024           # characters of a shape text a remembered answer may keep (longer: not remembered)

#: Programs whose every argument is kept exactly: what they act on is what makes them
#: safe or not (``rm -rf build`` is routine, ``rm -rf src`` may not be; ``rsync --delete``
#: deletes what its source lacks), or whose first argument is a program (sed, awk).
EXACT_PROGRAMS = frozenset((
    "rm", "rmdir", "unlink", "shred", "srm", "wipe", "truncate", "dd", "mkfs", "fdisk", "sfdisk", "parted",
    "wipefs", "chmod", "chown", "chgrp", "chattr", "setfacl", "kill", "pkill", "killall", "mv", "ln",
    "mount", "umount", "crontab", "systemctl", "service", "iptables", "nft", "ufw", "passwd", "useradd",
    "userdel", "usermod", "visudo", "reboot", "shutdown", "halt", "poweroff", "rsync", "sed", "awk", "gawk",
    "mawk", "install",
))
#: Programs whose leading plain words name what they do (a subcommand, a make target, a
#: script): up to MAX_SUBCOMMANDS of them are kept exactly (``npm run build``, ``git push
#: origin``). Other programs' words are classed (``grep <word>``).
SUBCOMMAND_PROGRAMS = frozenset((
    "git", "npm", "npx", "yarn", "pnpm", "bun", "deno", "cargo", "go", "rustup", "docker", "podman", "kubectl",
    "helm", "terraform", "tofu", "pulumi", "make", "gmake", "just", "task", "pip", "pip3", "uv", "poetry",
    "pipenv", "conda", "mamba", "hatch", "tox", "nox", "gh", "glab", "aws", "gcloud", "az", "brew", "apt",
    "apt-get", "dnf", "yum", "apk", "pacman", "dotnet", "mvn", "gradle", "sbt", "bundle", "rails", "rake",
    "composer", "mix", "stack", "cabal", "bazel", "buck2", "nix", "lighthouse", "ansible-galaxy", "vagrant",
    "systemctl", "launchctl", "flutter", "dart", "swift", "xcodebuild", "ruff", "mypy", "hg", "svn", "jj",
))
#: Programs whose commands are deeper than MAX_SUBCOMMANDS words (``gcloud container
#: clusters delete NAME``, ``gcloud beta container clusters delete``, ``az network vnet
#: delete``): that many leading plain words are kept, so that the verb is never classed
#: (``describe`` and ``delete`` never share a shape; a plain resource name after a short
#: command is kept too: fewer patterns, never a wrong one).
SUBCOMMAND_DEPTH = {"gcloud": 4, "az": 3}
#: Words kept exactly wherever they appear as an argument: the names of programs that
#: destroy, run code or reach out, so that a program that runs its arguments as a
#: command (``parallel gzip ::: a``, ``entr make``) never shares a shape with the same
#: program running one of these.
COMMAND_WORDS = EXACT_PROGRAMS | frozenset((
    "sh", "bash", "zsh", "dash", "ksh", "fish", "csh", "tcsh", "busybox", "eval", "exec", "source", "env", "xargs",
    "sudo", "doas", "su", "pkexec", "python", "python2", "python3", "node", "deno", "bun", "perl", "ruby", "php",
    "lua", "osascript", "curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "sftp", "ftp", "telnet",
    "git", "docker", "kubectl", "terraform", "aws", "gcloud", "az", "cp", "tee", "tar", "zip", "unzip", "find",
    "base64", "openssl", "gpg", "history", "crontab", "at", "nohup", "setsid", "screen", "tmux",
))
#: Options whose value says where a command acts (a cluster context or namespace, a
#: cloud profile, project or subscription, a daemon's host, a database host, a stack):
#: their value is kept exactly (``kubectl --context=staging``), so that a pattern learned
#: for one environment never answers for another (``--context prod``). Each takes a
#: value (``--context prod`` as well as ``--context=prod``), whatever the rules say.
LITERAL_OPTIONS = {
    "kubectl": frozenset(("--context", "--cluster", "--namespace", "-n", "--kubeconfig", "--server", "-s",
                          "--user", "--as")),
    "oc": frozenset(("--context", "--cluster", "--namespace", "-n", "--kubeconfig", "--server", "-s")),
    "k9s": frozenset(("--context", "--cluster", "--namespace", "-n", "--kubeconfig")),
    "helm": frozenset(("--kube-context", "--namespace", "-n", "--kubeconfig")),
    "helmfile": frozenset(("--environment", "-e", "--kube-context", "--namespace", "-n")),
    "aws": frozenset(("--profile", "--region", "--endpoint-url")),
    "eksctl": frozenset(("--cluster", "--profile", "--region")),
    "gcloud": frozenset(("--project", "--account", "--configuration", "--region", "--zone")),
    "gsutil": frozenset(("-p",)),
    "az": frozenset(("--subscription", "--resource-group", "-g")),
    "docker": frozenset(("--host", "-H", "--context", "-c")),
    "podman": frozenset(("--url", "--connection", "-c")),
    "pulumi": frozenset(("--stack", "-s")),
    "ansible": frozenset(("--inventory", "-i", "--limit", "-l")),
    "ansible-playbook": frozenset(("--inventory", "-i", "--limit", "-l")),
    "vault": frozenset(("-address", "-namespace")),
    "nomad": frozenset(("-address", "-namespace")),
    "psql": frozenset(("--host", "-h", "--dbname", "-d", "--username", "-U")),
    "mysql": frozenset(("--host", "-h", "--database", "-D", "--user", "-u")),
    "redis-cli": frozenset(("-h", "-n", "-u")),
    "heroku": frozenset(("--app", "-a", "--remote", "-r")),
    "fly": frozenset(("--app", "-a")),
    "flyctl": frozenset(("--app", "-a")),
    "gh": frozenset(("--repo", "-R")),
    "glab": frozenset(("--repo", "-R")),
}
#: Subcommands (the words :data:`SUBCOMMAND_PROGRAMS` keep) whose arguments name an
#: environment to switch to (``terraform workspace select prod``, ``kubectl config
#: use-context prod``): every argument after them is kept exactly. "" stands for a program
#: whose every argument is such a name (``kubectx prod``).
LITERAL_SUBCOMMANDS = {
    "terraform": frozenset(("workspace select", "workspace new", "workspace delete")),
    "tofu": frozenset(("workspace select", "workspace new", "workspace delete")),
    "kubectl": frozenset(("config use-context", "config use", "config set-context", "config delete-context")),
    "docker": frozenset(("context use", "context rm")),
    "gcloud": frozenset(("config set", "config configurations")),
    "pulumi": frozenset(("stack select", "stack rm")),
    "az": frozenset(("account set",)),
    "kubectx": frozenset(("",)),
    "kubens": frozenset(("",)),
}
#: Words an expert may name as literals (ExpertAnswer.exact): at most this many, each of
#: at most MAX_LITERAL characters.
MAX_LITERALS = 16
MAX_LITERAL = 256
NO_LITERALS: frozenset = frozenset()

#: A path's class by where it lies (:func:`where`).
PATH_CLASSES = {"workspace": "<ws-path>", "home": "<home-path>", "system": "<sys-path>", "tmp": "<tmp-path>",
                "other": "<other-path>"}

TMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/private/tmp")
STDIO_PATHS = ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/zero",
               "/dev/random", "/dev/urandom")
SYSTEM_ROOTS = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/sys",
                "/proc", "/dev", "/var", "/opt", "/srv", "/snap", "/System", "/Library", "/Applications",
                "/private", "/run", "/root", "/efi", "/nix")
HOME_ROOTS = ("/home/", "/Users/")

# The roots as a set and as prefixes, so that `where` tests each group in one call (it runs
# for every path of every escalated call, and for every argument a call shape classes).
_TMP_SET, TMP_PREFIXES = frozenset(TMP_ROOTS), tuple(t + "/" for t in TMP_ROOTS)
_SYSTEM_SET, SYSTEM_PREFIXES = frozenset(SYSTEM_ROOTS), tuple(s + "/" for s in SYSTEM_ROOTS)
_STDIO_SET = frozenset(STDIO_PATHS)


def lead(text):
    """A shape text's lead: its text up to its first blank. For a Bash call's shape,
    the first command's first environment assignment or, without one, its program as
    the shape writes it (``./scripts/gen.sh``, ``make``): a PatternIndex finds the calls
    no active pattern can answer by it, without shaping them."""
    i = text.find(" ")
    return text if i < 0 else text[:i]


class ProgramTable(dict):
    """What the shape kernels need to know of each program, prepared once per rule
    policy (:func:`program_table`), so that shaping a command costs one dictionary lookup
    of its program (in C, in the compiled kernel) and no Python call: program ->
    (value_options, single_dash_long, literal_options, literal_subcommands or None,
    subcommand depth, exact). ``value_options`` (a frozenset) and ``single_dash_long``
    are the program's ProgramSpec's in the rules (which options take a value, whether
    ``-name`` is a long option); ``literal_options`` its :data:`LITERAL_OPTIONS`;
    ``literal_subcommands`` its :data:`LITERAL_SUBCOMMANDS` (None: none); the depth is
    how many leading plain words are kept as its subcommand (0 for the programs outside
    :data:`SUBCOMMAND_PROGRAMS`); ``exact``: whether every argument is kept exactly
    (:data:`EXACT_PROGRAMS`). A program that is not in the table is none of these
    (:func:`program_entry` gives its entry)."""

    __slots__ = ()


def _entry(program, spec):
    depth = SUBCOMMAND_DEPTH.get(program, MAX_SUBCOMMANDS) if program in SUBCOMMAND_PROGRAMS else 0
    value_options = spec.value_options if spec is not None else NO_LITERALS
    return (frozenset(value_options), bool(spec is not None and spec.single_dash_long),
            LITERAL_OPTIONS.get(program, NO_LITERALS), LITERAL_SUBCOMMANDS.get(program), depth,
            program in EXACT_PROGRAMS or program.startswith("mkfs."))


def program_entry(program):
    """The :class:`ProgramTable` entry of a program no table holds (no value options)."""
    return _entry(program, None)


def program_table(programs=None):
    """The :class:`ProgramTable` of a rule policy's program specs (``programs``: program
    -> ProgramSpec, the rule engine's ``programs``; None: the shape tables alone). Runs
    once per policy load, off the calls' path."""
    table = ProgramTable()
    for p in set(EXACT_PROGRAMS) | set(SUBCOMMAND_PROGRAMS) | set(LITERAL_OPTIONS) | set(LITERAL_SUBCOMMANDS) \
            | set(SUBCOMMAND_DEPTH):
        table[p] = _entry(p, None)
    for p, spec in (programs or {}).items():
        if type(p) is str and p:
            table[p] = _entry(p, spec)
    return table


class NoShape(Exception):
    """The call (or one of its commands) has no shape; the text says why (for tests and
    `lighthouse patterns shape`)."""


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def where(path, cwd, home):
    """Where a resolved path lies: "workspace" (under cwd), "tmp", "stdio" (/dev/null and
    the like), "home" (a home directory outside the workspace), "system", "other", or
    "unknown" (a path the analysis could not know, such as an expanded variable)."""
    if not path or DYN in path:
        return "unknown"
    if cwd and cwd != "/" and _under(path, cwd):
        return "workspace"
    if path in _STDIO_SET or path.startswith("/dev/fd/"):
        return "stdio"
    if path in _TMP_SET or path.startswith(TMP_PREFIXES):
        return "tmp"
    if path.startswith("~") or (home and _under(path, home)) or path.startswith(HOME_ROOTS) \
            or _under(path, "/root"):
        return "home"
    if path == "/" or path in _SYSTEM_SET or path.startswith(SYSTEM_PREFIXES):
        return "system"
    return "other"


#: The table of the shape tables alone (no rules' program specs): what a kernel uses for
#: a program when it is given no ProgramTable.
DEFAULT_PROGRAMS = program_table()
