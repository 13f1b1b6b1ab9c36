"""Call shapes: what an escalated call looks like once its varying parts are classed.

Agents repeat themselves with small variations (``pytest tests/a.py -k foo``, then
``-k bar``). A *shape* keeps what decides whether a call is safe and replaces the rest by
a class, so that an expert's answer about one call can settle the calls shaped like it
(lighthouse.patterns.book). For a Bash call, each simple command the shell analysis sees
becomes::

    program [subcommand words] [flags, sorted; an option =its value's class]
            [arguments' classes, in order] [redirects]

joined by ``;`` (or ``|`` for a command that reads a pipe), e.g. ``cd sub ; make -j=<num> ><ws-path>``.

An argument is replaced by its class:

- a path, resolved against the command's directory: ``<ws-root>`` (the workspace
  itself), ``<ws-path>`` (inside it), ``<home-path>``, ``<sys-path>`` (under a system
  root such as /etc or /usr, and ``/`` itself), ``<tmp-path>``, ``<other-path>``; the
  standard streams (/dev/null ...) are kept as they are;
- ``<url:SCHEME://HOST[:PORT]>`` for a URL, ``<num>`` for a number, ``<ref>`` for a word
  that looks like a git revision (a hex object name, ``HEAD~2``), ``<word>`` for a plain
  word (letters, digits, ``_.:@%+,=-``, at most 64 characters) that is not the name of a
  program in :data:`COMMAND_WORDS` (those are kept);
- ``KEY=<class of VALUE>`` for ``KEY=VALUE`` (``git -c core.hooksPath=...``);
- anything else (text with spaces, quotes, globs or shell characters) is kept exactly.

A path with a hidden component inside the workspace or a home (``.git/hooks/x``,
``.env``, ``~/.ssh/id_rsa``) is kept exactly, and so is ``~user/...``.

Literals are kept exactly where they matter: the leading plain words that name a
subcommand of the programs in :data:`SUBCOMMAND_PROGRAMS` (``git push``, ``npm run
build``, ``make test``), every flag, environment assignments,
the program as the command names it, and every argument of the programs in
:data:`EXACT_PROGRAMS` (``rm``'s targets, ``chmod``'s mode, ``kill``'s pids ...).

A file tool's shape is the tool and its path's class with the file's extension
(``Write <ws-path>/*.py``); a path with a hidden component (``.git/hooks/x``,
``.github/...``, ``~/.bashrc``) is kept exactly. A WebFetch's shape is its URL's class.

**No shape** (:func:`call_shape` returns None, and the call is never answered by a
pattern) for anything the analysis cannot fully see or that runs code the shape does not
show: a parse error or a limit of the shell analysis; command or process substitution,
an unknown expansion (``$X``), code fed to an interpreter (``bash -c``, ``python -c``,
a pipe into ``sh``, ``xargs``, ``find -exec``), ``sudo``; a destructive program run in a
directory other than the call's own; a call whose working directory is not a proper
workspace (empty, relative, ``/``, the home directory or one above it, a system root);
more than :data:`MAX_COMMANDS` commands or :data:`MAX_SHAPE` characters of shape; any
other tool. Every step is linear in the call's size.

Shapes are computed in pure Python: they run only for calls that escalate (already off
the hot path, after the rules), never for the calls the fast tiers settle;
``bench/patterns.py`` measures the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from hashlib import blake2b

from .. import _fast
from .._fast._errors import ShellError
from .._fast._shell_py import normpath
from .._fast._shell_shared import DYN
from ..policy.input import where

__all__ = ["Shape", "call_shape", "why_no_shape", "command_shape", "command_parts", "classify", "EXACT_PROGRAMS",
           "MAX_COMMANDS", "MAX_SHAPE", "MAX_INPUT", "FILE_TOOLS", "SUBCOMMAND_PROGRAMS", "COMMAND_WORDS",
           "analyse_call", "display"]

MAX_COMMANDS = 16          # simple commands of a call that can be shaped
MAX_SHAPE = 4096           # characters of a call's shape text
MAX_INPUT = 16384          # characters of a command line (or path) that is shaped at all
MAX_SUBCOMMANDS = 2        # leading plain words kept as the subcommand

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
#: Tools whose input names one file: the shape is the tool and the path's class.
FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "Read": "file_path",
              "NotebookEdit": "notebook_path", "NotebookRead": "notebook_path"}

_WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@%+,=-]{0,63}\Z")
_SUB_RE = re.compile(r"[a-z][a-z0-9_:-]{0,31}\Z")
_NUM_RE = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?\Z")
_REF_RE = re.compile(r"([0-9a-f]{7,40}|HEAD([~^][0-9]{0,4}){0,4}|@\{[0-9]{1,4}\})\Z")
_URL_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,15})://([^/?#\s]{1,255})")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?\Z")
_KEY_VALUE_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]{0,63})=(.*)\Z", re.S)
_SPECIAL_RE = re.compile(r"[\s'\"`$*?\[\]{}<>|;&\\]")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_CLASSES = {"workspace": "<ws-path>", "home": "<home-path>", "system": "<sys-path>", "tmp": "<tmp-path>",
            "other": "<other-path>"}


class _NoShape(Exception):
    """The call (or one of its commands) has no shape; the text says why (for tests and
    `lighthouse patterns shape`)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A call's shape: ``tool``, ``text`` (the commands' shapes joined by ``;`` or, for a
    command reading a pipe, ``|``; or the
    file tool's), and ``key``, a 16-byte BLAKE2b digest of both, for lookup."""

    tool: str
    text: str
    key: bytes

    @classmethod
    def of(cls, tool, text):
        data = ("%s\n%s" % (tool, text)).encode("utf-8", "surrogatepass")
        return cls(tool, text, blake2b(data, digest_size=16).digest())


_WORKSPACES: dict[tuple, str] = {}   # (cwd, home) -> the normalized workspace, or "" for none
_MAX_WORKSPACES = 4096


def _workspace(cwd, home):
    """The normalized ``cwd`` when it is a directory whose inside may be classed as one
    workspace, else "" (remembered: agents work in few directories)."""
    key = (cwd, home)
    ws = _WORKSPACES.get(key)
    if ws is None:
        ws = _WORKSPACES[key] = _check_workspace(cwd, home)
        if len(_WORKSPACES) > _MAX_WORKSPACES:
            _WORKSPACES.clear()
    return ws


def _check_workspace(cwd, home):
    if not cwd or cwd[0] != "/" or DYN in cwd or len(cwd) > MAX_INPUT:
        return ""
    cwd = normpath(cwd)
    if cwd == "/" or where(cwd, "", home) == "system":
        return ""
    for h in filter(None, (home, "/root")):
        h = h.rstrip("/")
        if cwd == h or h.startswith(cwd.rstrip("/") + "/"):
            return ""
    parts = cwd.strip("/").split("/")
    if parts[0] in ("home", "Users") and len(parts) <= 2:
        return ""               # a home directory (or /home itself)
    return cwd


def _resolve(value, cwd, home):
    if value.startswith("~") and (len(value) == 1 or value[1] == "/"):
        if not home:
            return None
        value = home.rstrip("/") + value[1:]
    elif value[0] == "~":
        return None             # ~user: someone else's home
    elif value[0] != "/":
        value = cwd.rstrip("/") + "/" + value
    return normpath(value)


def _path_class(value, cwd, home, ws):
    """The class of a path argument (resolved against ``cwd``, judged against the
    workspace ``ws``). A path with a hidden component inside the workspace or a home
    (``.git/hooks/x``, ``.env``, ``~/.ssh/id_rsa``) is kept exactly, as the workspace or
    the absolute path it names: those are where code runs from and secrets live."""
    full = _resolve(value, cwd, home)
    if full is None:
        return _exact(value)        # ~user: someone's home, kept exactly
    if full == ws:
        return "<ws-root>"
    w = where(full, ws, home)
    if w == "stdio":
        return full
    if w == "unknown":
        raise _NoShape("an unknown path %r" % value)
    if w == "workspace":
        rel = full[len(ws) + 1:]
        if rel.startswith(".") or "/." in rel:
            return _exact("<ws-root>/" + rel)
    elif w == "home" and "/." in full:
        return _exact(full)
    return _CLASSES[w]


def _looks_like_path(a):
    return a[0] in "/~" or a.startswith("./") or a.startswith("../") or a in (".", "..") or "/" in a


def classify(arg, cwd, home, ws, key=True):
    """The class of one argument (see the module docstring). Raises _NoShape for an
    argument the analysis could not know. ``key``: a ``KEY=VALUE`` argument keeps its key
    and has its value classed."""
    if DYN in arg:
        raise _NoShape("an unknown expansion in %r" % arg[:64])
    if not arg:
        return "''"
    m = _URL_RE.match(arg)
    if m is not None:
        host = m.group(2).lower()
        if "@" in host or not _HOST_RE.match(host):
            return _exact(arg)
        return "<url:%s://%s>" % (m.group(1).lower(), host)
    if _NUM_RE.match(arg):
        return "<num>"
    if _REF_RE.match(arg):
        return "<ref>"
    if key:
        m = _KEY_VALUE_RE.match(arg)
        if m is not None:
            # KEY=VALUE (git -c core.hooksPath=..., make VAR=..., dd of=...): the key is
            # kept, the value classed.
            return m.group(1) + "=" + classify(m.group(2), cwd, home, ws, key=False)
    if _looks_like_path(arg):
        if _SPECIAL_RE.search(arg):
            return _exact(arg)
        return _path_class(arg, cwd, home, ws)
    if _WORD_RE.match(arg):
        return arg if arg in COMMAND_WORDS else "<word>"
    return _exact(arg)


_PLAIN_RE = re.compile(r"[\w.,:@%+=/-]+\Z")


def _exact(arg):
    """An argument kept as it is, quoted when it could be read as a class or holds
    blanks, so that no literal spells another shape."""
    if _PLAIN_RE.match(arg):
        return arg
    return "'" + arg.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _flag_items(args, spec):
    """Split argv into ([flag text], [positional]), a value option rendered with its
    value (``-k`` and ``foo`` as ("-k", "foo"))."""
    flags = []
    positionals = []
    ended = False
    k = 0
    n = len(args)
    value_options = spec.value_options if spec is not None else ()
    single_dash_long = spec is not None and spec.single_dash_long
    while k < n:
        a = args[k]
        if not ended and a == "--":
            ended = True
            flags.append(("--", None))
        elif not ended and len(a) > 1 and a[0] == "-" and not a[1].isdigit():
            if a[1] == "-" or single_dash_long:
                name, eq, val = a.partition("=")
                if not eq and name in value_options and k + 1 < n:
                    k += 1
                    val, eq = args[k], "="
                flags.append((name, val if eq else None))
            else:
                # A cluster of short flags (-rf is -r -f); a value option takes the rest
                # of the cluster or the next argument (-j4, -j 4).
                for j in range(1, len(a)):
                    f = "-" + a[j]
                    if f in value_options:
                        val = a[j + 1:]
                        if val[:1] == "=":
                            val = val[1:]
                        elif not val and k + 1 < n:
                            k += 1
                            val = args[k]
                        flags.append((f, val))
                        break
                    if not a[j].isalpha():
                        flags.append(("-" + a[j:], None))
                        break
                    flags.append((f, None))
        else:
            positionals.append(a)
        k += 1
    return flags, positionals


def command_parts(sc, ws, home, spec=None):
    """One SimpleCommand's shape as parts: {"env": [K=V], "program", "subcommand": [word],
    "flags": [flag or flag=class], "args": [class or literal], "redirects": [op+class],
    "exact": whether its arguments are kept exactly, "pipe": whether it reads a pipe}.
    ``ws``: the call's workspace; ``spec``: the program's ProgramSpec from the rules (its
    options that take a value). Raises _NoShape."""
    if sc.dynamic:
        raise _NoShape("an unknown expansion")
    if sc.origin:
        raise _NoShape("a command run through %s" % sc.origin)
    if sc.code or sc.code_from:
        raise _NoShape("code fed to %s" % sc.program)
    if sc.sudo:
        raise _NoShape("sudo")
    program = sc.program
    if not program or DYN in program or DYN in (sc.path or ""):
        raise _NoShape("an unknown program")
    cwd = sc.cwd or ws
    exact = program in EXACT_PROGRAMS or program.startswith("mkfs.")
    if exact and cwd != ws:
        raise _NoShape("%s run outside the call's directory" % program)
    env = []
    for name in sorted(sc.env):
        value = sc.env[name]
        if not _ENV_NAME_RE.match(name) or DYN in value:
            raise _NoShape("an unknown environment assignment")
        env.append("%s=%s" % (name, _exact(value)))
    flags, positionals = _flag_items(sc.args, spec)
    if program == "cd":
        # The analysis gives cd the directory it changes to as its own cwd: its shape is
        # where that lies (the commands after it are judged from there).
        if not cwd or DYN in cwd:
            raise _NoShape("cd to an unknown directory")
        positionals = [cwd]
    if exact:
        subs = []
        args = []
        for a in positionals:
            if DYN in a:
                raise _NoShape("an unknown expansion")
            args.append(_exact(a))
    else:
        n = 0
        most = MAX_SUBCOMMANDS if program in SUBCOMMAND_PROGRAMS and not sc.path else 0
        while n < len(positionals) and n < most and _SUB_RE.match(positionals[n]):
            n += 1
        subs = positionals[:n]
        args = [classify(a, cwd, home, ws) for a in positionals[n:]]
    rendered = set()
    for name, value in flags:
        if DYN in name:
            raise _NoShape("an unknown expansion")
        if value is None:
            rendered.add(_exact(name))
        elif exact:
            rendered.add("%s=%s" % (_exact(name), _exact(value)))
        else:
            rendered.add("%s=%s" % (_exact(name), classify(value, cwd, home, ws)))
    redirects = []
    for op, target in sc.redirects:
        if not target or DYN in target:
            raise _NoShape("a redirect to an unknown target")
        if target[:1] == "&" or (op in ("<&", ">&") and target.isdigit()):
            redirects.append("%s%s" % (op, _exact(target)))
        else:
            redirects.append("%s%s" % (op, _path_class(target, cwd, home, ws)))
    return {"env": env, "program": _exact(sc.path) if sc.path else _exact(program), "subcommand": subs,
            "flags": sorted(rendered), "args": args, "redirects": redirects, "exact": exact,
            "pipe": bool(sc.pipe_in)}


def command_shape(sc, ws, home, spec=None):
    """The shape text of one SimpleCommand (see :func:`command_parts`). Raises _NoShape."""
    p = command_parts(sc, ws, home, spec)
    return " ".join(p["env"] + [p["program"]] + p["subcommand"] + p["flags"] + p["args"] + p["redirects"])


def _file_shape(tool, tool_input, cwd, home):
    field = FILE_TOOLS[tool]
    path = tool_input.get(field)
    if not isinstance(path, str) or not path or len(path) > MAX_INPUT or "\x00" in path:
        raise _NoShape("no %s" % field)
    full = _resolve(path, cwd, home)
    if full is None:
        raise _NoShape("another user's home")
    w = where(full, cwd, home)
    if w in ("unknown", "stdio") or DYN in path:
        raise _NoShape("a path the shape cannot class")
    base = {"workspace": cwd, "home": home or ""}.get(w, "")
    rel = full[len(base.rstrip("/")) + 1:] if base and full.startswith(base.rstrip("/") + "/") else full
    if any(part.startswith(".") for part in rel.split("/")) or full == cwd:
        return _exact(full if w not in ("workspace",) else "<ws-root>/" + rel)
    name = full.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext and not _WORD_RE.match(ext):
        raise _NoShape("an unusual file name")
    return "%s/*%s" % (_CLASSES[w], "." + ext if ext else "")


def display(tool, text):
    """A shape as people read it: a Bash shape is its commands (``pytest <ws-path>``),
    another tool's is the tool and its path or URL (``Write <ws-path>/*.py``)."""
    return text if tool == "Bash" else "%s %s" % (tool, text)


def call_shape(tool, tool_input, cwd="", home="", specs=None):
    """The :class:`Shape` of a tool call, or None when it has none (see the module
    docstring). ``specs``: a callable giving a program's ProgramSpec (the running rules'
    knowledge of which options take a value), or None."""
    try:
        return Shape.of(tool, _shape_text(tool, tool_input, cwd, home, specs))
    except _NoShape:
        return None


def why_no_shape(tool, tool_input, cwd="", home="", specs=None):
    """(shape text, None) or (None, why the call has no shape)."""
    try:
        return _shape_text(tool, tool_input, cwd, home, specs), None
    except _NoShape as e:
        return None, str(e)


def analyse_call(tool, tool_input, cwd, home, specs=None):
    """(workspace, [SimpleCommand]) of a Bash call that has a shape, for tools that need
    the parts of its commands (``lighthouse patterns promote``). Raises _NoShape."""
    _shape_text(tool, tool_input, cwd, home, specs)
    cwd = _workspace(cwd, home or "")
    return cwd, _fast.shell.analyze(tool_input["command"], cwd, home or None)


def _shape_text(tool, tool_input, cwd, home, specs):
    home = home or ""
    if not isinstance(tool_input, dict):
        raise _NoShape("a tool input that is not an object")
    ws = _workspace(cwd, home) if isinstance(cwd, str) else ""
    if not ws:
        raise _NoShape("no proper workspace (cwd %r)" % (cwd or "")[:128])
    cwd = ws
    if tool in FILE_TOOLS:
        return _file_shape(tool, tool_input, cwd, home)
    if tool == "WebFetch":
        url = tool_input.get("url")
        if not isinstance(url, str) or len(url) > MAX_INPUT:
            raise _NoShape("no url")
        c = classify(url, cwd, home, cwd)
        if not c.startswith("<url:"):
            raise _NoShape("a url the shape cannot class")
        return c
    if tool != "Bash":
        raise _NoShape("the %s tool has no shape" % tool[:64])
    command = tool_input.get("command")
    if not isinstance(command, str) or not command or len(command) > MAX_INPUT:
        raise _NoShape("no command, or one over %d characters" % MAX_INPUT)
    try:
        commands = _fast.shell.analyze(command, cwd, home or None)
    except ShellError as e:     # LimitError included
        raise _NoShape("the shell analysis failed: %s" % e) from None
    if not commands:
        raise _NoShape("the command runs no program")
    if len(commands) > MAX_COMMANDS:
        raise _NoShape("more than %d commands" % MAX_COMMANDS)
    out = []
    size = 0
    for sc in commands:
        text = command_shape(sc, cwd, home, specs(sc.program) if specs is not None else None)
        size += len(text) + 3
        if size > MAX_SHAPE:
            raise _NoShape("a shape over %d characters" % MAX_SHAPE)
        out.append(("| " if sc.pipe_in and out else "; " if out else "") + text)
    return " ".join(out)
