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
the program as the command names it, every argument of the programs in
:data:`EXACT_PROGRAMS` (``rm``'s targets, ``chmod``'s mode, ``kill``'s pids ...), the
value of an option that says where a command acts (:data:`LITERAL_OPTIONS`:
``kubectl --context=staging``, ``aws --profile=prod``, ``docker --host=...``,
``gcloud --project=...``), the arguments after a subcommand that switches environment
(:data:`LITERAL_SUBCOMMANDS`: ``terraform workspace select prod``), and the words an
expert said must match exactly (``literals``, from ExpertAnswer.exact: a Bash call's
arguments or option values equal to one of them).

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

Shapes are computed for the calls that escalate only (after the rules), never for the
calls the fast tiers settle. A Bash call is shaped from the simple commands the rule
engine already parsed for it (``Engine.parsed``, handed on with the escalation) by the
shape kernel of ``lighthouse._fast`` (compiled, ``_shape_c``, with its pure twin
``_shape_py``), so that a call reaching the pattern tier costs no second parse; without
that parse (another caller, a windowed input) the call is parsed here.
``bench/patterns.py`` measures the cost against a tier-0 hit.
"""

from __future__ import annotations

import re
from hashlib import blake2b

from .. import _fast
from .._fast._errors import ShellError
from .._fast._shape_py import _resolve, command_parts
from .._fast._shape_shared import (COMMAND_WORDS, EXACT_PROGRAMS, LITERAL_OPTIONS, LITERAL_SUBCOMMANDS, MAX_COMMANDS,
                                   MAX_INPUT, MAX_SHAPE, PATH_CLASSES, SUBCOMMAND_PROGRAMS, NoShape, where)
from .._fast._shell_shared import normpath
from .._fast._shell_shared import DYN

__all__ = ["Shape", "NoShape", "call_shape", "shape_text", "why_no_shape", "command_shape", "command_parts", "classify",
           "EXACT_PROGRAMS", "MAX_COMMANDS", "MAX_SHAPE", "MAX_INPUT", "FILE_TOOLS", "SUBCOMMAND_PROGRAMS",
           "COMMAND_WORDS", "LITERAL_OPTIONS", "LITERAL_SUBCOMMANDS", "analyse_call", "display",
           "shapes_workspaces"]

#: Tools whose input names one file: the shape is the tool and the path's class.
FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "Read": "file_path",
              "NotebookEdit": "notebook_path", "NotebookRead": "notebook_path"}

_EXT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@%+,=-]{0,63}\Z")


class Shape:
    """A call's shape: ``tool``, ``text`` (the commands' shapes joined by ``;`` or, for a
    command reading a pipe, ``|``; or the file tool's), and ``key``, a 16-byte BLAKE2b
    digest of both: the pattern's key in the patterns file (computed when first asked
    for: a lookup goes by the text)."""

    __slots__ = ("tool", "text", "_key")

    def __init__(self, tool, text):
        self.tool = tool
        self.text = text
        self._key = None

    @classmethod
    def of(cls, tool, text):
        return cls(tool, text)

    @property
    def key(self):
        if self._key is None:
            data = ("%s\n%s" % (self.tool, self.text)).encode("utf-8", "surrogatepass")
            self._key = blake2b(data, digest_size=16).digest()
        return self._key

    def __eq__(self, other):
        if not isinstance(other, Shape):
            return NotImplemented
        return self.tool == other.tool and self.text == other.text

    def __hash__(self):
        return hash((self.tool, self.text))

    def __repr__(self):
        return "Shape(%r, %r)" % (self.tool, self.text)


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


def shapes_workspaces():
    """The dict (cwd, home) -> normalized workspace ("" for none) of the workspaces seen
    (emptied in place when it grows past its bound): what the pattern index's own fast
    path (PatternIndex.shaping) reads, as :func:`shape_text`'s does."""
    return _WORKSPACES


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


def classify(arg, cwd, home, ws, key=True):
    """The class of one argument (see the module docstring), by the shape kernel in use.
    Raises NoShape for an argument the analysis could not know. ``key``: a ``KEY=VALUE``
    argument keeps its key and has its value classed."""
    return _fast.shape.classify(arg, cwd, home, ws, key)


def _exact(arg):
    return _fast.shape.exact(arg)


def command_shape(sc, ws, home, spec=None):
    """The shape text of one SimpleCommand (see :func:`command_parts`: the reference's).
    Raises NoShape."""
    p = command_parts(sc, ws, home, spec)
    return " ".join(p["env"] + [p["program"]] + p["subcommand"] + p["flags"] + p["args"] + p["redirects"])


def _file_shape(tool, tool_input, cwd, home):
    field = FILE_TOOLS[tool]
    path = tool_input.get(field)
    if not isinstance(path, str) or not path or len(path) > MAX_INPUT or "\x00" in path:
        raise NoShape("no %s" % field)
    full = _resolve(path, cwd, home)
    if full is None:
        raise NoShape("another user's home")
    w = where(full, cwd, home)
    if w in ("unknown", "stdio") or DYN in path:
        raise NoShape("a path the shape cannot class")
    base = {"workspace": cwd, "home": home or ""}.get(w, "")
    rel = full[len(base.rstrip("/")) + 1:] if base and full.startswith(base.rstrip("/") + "/") else full
    if any(part.startswith(".") for part in rel.split("/")) or full == cwd:
        return _exact(full if w not in ("workspace",) else "<ws-root>/" + rel)
    name = full.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    if ext and not _EXT_RE.match(ext):
        raise NoShape("an unusual file name")
    return "%s/*%s" % (PATH_CLASSES[w], "." + ext if ext else "")


def display(tool, text):
    """A shape as people read it: a Bash shape is its commands (``pytest <ws-path>``),
    another tool's is the tool and its path or URL (``Write <ws-path>/*.py``)."""
    return text if tool == "Bash" else "%s %s" % (tool, text)


def call_shape(tool, tool_input, cwd="", home="", specs=None, parsed=None, literals=None):
    """The :class:`Shape` of a tool call, or None when it has none (see the module
    docstring). ``specs``: a callable giving a program's ProgramSpec (the running rules'
    knowledge of which options take a value), or None. ``parsed``: for a Bash call, the
    simple commands the rule engine parsed it into in ``cwd`` with ``home``
    (``Validator.parsed``), or None to parse it here. ``literals``: a frozenset of words
    kept exactly (a Bash call's; other tools have none)."""
    text = shape_text(tool, tool_input, cwd, home, specs, parsed, literals)
    return None if text is None else Shape(tool, text)


def shape_text(tool, tool_input, cwd="", home="", specs=None, parsed=None, literals=None):
    """The text of the call's shape (:func:`call_shape`), or None: what the pattern tier
    looks up, without the Shape object or its digest."""
    home = home or ""
    if parsed is not None and tool == "Bash" and type(tool_input) is dict and cwd \
            and _WORKSPACES.get((cwd, home)) == cwd:
        # The common case, first: a Bash call the engine parsed, in a workspace seen
        # before (and already normalized, so the parse was made in it).
        command = tool_input.get("command")
        if isinstance(command, str) and 0 < len(command) <= MAX_INPUT:
            if literals:
                return _fast.shape.bash_shape(parsed, cwd, home, specs, None, literals)
            return _fast.shape.bash_shape(parsed, cwd, home, specs)
    try:
        return _shape_text(tool, tool_input, cwd, home, specs, parsed, literals)
    except NoShape:
        return None


def why_no_shape(tool, tool_input, cwd="", home="", specs=None):
    """(shape text, None) or (None, why the call has no shape)."""
    try:
        return _shape_text(tool, tool_input, cwd, home, specs), None
    except NoShape as e:
        return None, str(e)


def analyse_call(tool, tool_input, cwd, home, specs=None):
    """(workspace, [SimpleCommand]) of a Bash call that has a shape, for tools that need
    the parts of its commands (``lighthouse patterns promote``). Raises NoShape."""
    _shape_text(tool, tool_input, cwd, home, specs)
    cwd = _workspace(cwd, home or "")
    return cwd, _fast.shell.analyze(tool_input["command"], cwd, home or None)


def _shape_text(tool, tool_input, cwd, home, specs, parsed=None, literals=None):
    home = home or ""
    if not isinstance(tool_input, dict):
        raise NoShape("a tool input that is not an object")
    ws = _workspace(cwd, home) if isinstance(cwd, str) else ""
    if not ws:
        raise NoShape("no proper workspace (cwd %r)" % (cwd or "")[:128])
    if tool == "Bash":
        command = tool_input.get("command")
        if not isinstance(command, str) or not command or len(command) > MAX_INPUT:
            raise NoShape("no command, or one over %d characters" % MAX_INPUT)
        if parsed is None or cwd != ws:
            # No parse of the engine's (or one made in the unnormalized cwd): parse here.
            try:
                parsed = _fast.shell.analyze(command, ws, home or None)
            except ShellError as e:     # LimitError included
                raise NoShape("the shell analysis failed: %s" % e) from None
        why = []
        text = _fast.shape.bash_shape(parsed, ws, home, specs, why, literals or None)
        if text is None:
            raise NoShape(why[0])
        return text
    if tool in FILE_TOOLS:
        return _file_shape(tool, tool_input, ws, home)
    if tool == "WebFetch":
        url = tool_input.get("url")
        if not isinstance(url, str) or len(url) > MAX_INPUT:
            raise NoShape("no url")
        c = classify(url, ws, home, ws)
        if not c.startswith("<url:"):
            raise NoShape("a url the shape cannot class")
        return c
    raise NoShape("the %s tool has no shape" % tool[:64])
