"""What a Write, Edit or NotebookEdit adds that will run later: the code inside scripts,
build files, CI workflows, package lifecycle hooks, git hooks, files tools load by
themselves (conftest.py, sitecustomize.py, Rakefile, ...) and notebook cells, judged as
the commands they are.

A Write of `scripts/clean.sh` holding `rm -rf ~`, a `package.json` whose `postinstall`
pipes a download into `sh`, a Dockerfile `RUN curl ... | sh`, a workflow step that does
the same or a notebook cell running `!curl ... | sh` is not judged by its path alone:
the next call (`npm install`, `make test`, `pytest`, a push that starts CI, running the
notebook) runs it where the analysis cannot see it. A notebook cell's `!` lines and
command magics (`%pip`, `%run`) are shell commands, `%%bash` and `%%script` cells the
programs they name, `%%writefile PATH` a write of PATH, the rest Python. Shared by both rule
engines (it runs once per Write/Edit of such a file, so it is plain Python); each engine
judges the extracted code with its own shell analysis and rules
(`Engine.evaluate_content`) and combines that verdict with its path rules':

- a deny or an ask from the content stands (the path rules may still make it a deny);
- content that cannot be judged (over MAX_CONTENT, or a limit of the shell analysis) is
  undecided, never an allow;
- content whose commands no rule covers, or that rules allow, leaves the decision to the
  path rules (a benign script stays an allow).

Dockerfile RUN lines run inside the image being built, not on this machine: only the
rule families that matter there (CONTAINER_RULES: code fetched and run, secrets read or
sent) judge them, so `rm -rf /var/lib/apt/lists/*` stays routine.
"""

from __future__ import annotations

import json
import re

from ._engine_shared import ASK, DENY, MISS
from ._shell_shared import shell_quote

__all__ = ["MAX_CONTENT", "MAX_CONTENT_LINES", "CONTENT_TOOLS", "CONTAINER_RULES", "file_kind", "written_text",
           "embedded_code", "content_verdict", "combine"]

# New text (a Write's content, an Edit's new strings) longer than this, in a file that
# runs later, is not judged: the call is undecided (ask), never allowed.
MAX_CONTENT = 32768
CONTENT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
# An Edit fragment that does not parse as a whole is judged line by line, up to this many
# lines; past it the call is undecided.
MAX_CONTENT_LINES = 256
# Rule families that judge a Dockerfile's RUN lines (rule id prefixes).
CONTAINER_RULES = ("rexec.", "exfil.", "secrets.", "cloud.metadata", "pkg.install-from-url")

CONTENT_LIMIT_MSG = "new content of a file that runs later is longer than %d characters" % MAX_CONTENT
CONTENT_LINES_MSG = ("new content of a file that runs later does not parse and has more than %d lines"
                     % MAX_CONTENT_LINES)
CONTENT_MSG = "the %s written runs later: %s"

_SHELL_EXT = (".sh", ".bash", ".zsh", ".ksh", ".dash", ".command")
_SHELL_RC = frozenset({".bashrc", ".bash_profile", ".bash_login", ".profile", ".zshrc", ".zprofile",
                       ".zshenv", ".zlogin", ".kshrc", ".envrc", "bashrc", "zshrc", "profile"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh"})
_INTERPRETERS = {"python": "python3", "python3": "python3", "python2": "python3",
                 "node": "node", "nodejs": "node", "zx": "node", "tsx": "node", "ts-node": "node",
                 "perl": "perl", "ruby": "ruby"}
_WORKFLOW_FILES = frozenset({".gitlab-ci.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml",
                             ".travis.yml", "Jenkinsfile"})
_LIFECYCLE = ("preinstall", "install", "postinstall", "preuninstall", "uninstall", "postuninstall",
              "prepare", "prepublish", "prepublishOnly", "prepack", "postpack", "pretest", "test",
              "posttest", "prebuild", "build", "postbuild", "prestart", "start", "dependencies")
_SCRIPT_RE = re.compile(r'"(%s)"\s*:\s*"((?:[^"\\]|\\.)*)"' % "|".join(_LIFECYCLE))
_RUN_KEY = re.compile(r"^(\s*)(?:-\s+)?(?:run|command|script|before_script|after_script|commands|"
                      r"install|before_install|after_success|pre_build|build|post_build|cmds|cmd)"
                      r"\s*:\s*(.*)$")
_LIST_ITEM = re.compile(r"^(\s*)-\s+(.*)$")
_GH_EXPR = re.compile(r"\$\{\{[^}]*\}\}")
_MAKE_VAR = re.compile(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]")
_MAKE_SHELL = re.compile(r"\$\(shell\s+")


def written_text(tool, tool_input):
    """The text a Write, Edit, MultiEdit or NotebookEdit adds (None when there is none;
    a notebook's markdown cell and a deleted cell add no code)."""
    if tool == "Write":
        text = tool_input.get("content")
    elif tool == "Edit":
        text = tool_input.get("new_string")
    elif tool == "NotebookEdit":
        if tool_input.get("cell_type") == "markdown" or tool_input.get("edit_mode") == "delete":
            return None
        text = tool_input.get("new_source")
        if isinstance(text, list):
            for x in text:
                if not isinstance(x, str):
                    break
            else:
                text = "".join(text)    # a cell's source as notebook files hold it: lines
    else:
        edits = tool_input.get("edits")
        if not isinstance(edits, list):
            return None
        parts = []
        for e in edits:
            if isinstance(e, dict) and isinstance(e.get("new_string"), str):
                parts.append(e["new_string"])
        text = "\n".join(parts)
    return text if isinstance(text, str) else None


def _space_end(text, k):
    """The index past the whitespace (regex \\s) at text[k:]."""
    n = len(text)
    while k < n and text[k].isspace():
        k += 1
    return k


def _word_end(text, k):
    """The index past the word (regex \\S+) at text[k:]."""
    n = len(text)
    while k < n and not text[k].isspace():
        k += 1
    return k


def _base_name(text, start, end):
    """text[start:end] past its last "/" (its rsplit("/", 1)[-1], without the split)."""
    slash = text.rfind("/", start, end)
    return text[slash + 1 if slash >= 0 else start:end]


def _shebang_kind(text):
    # What `^#!\s*(\S+)(?:\s+(?:-\S+\s+)*(\S+))?` matches, read by character tests
    # (the regex cost microseconds a call): the program, and for env the first word after
    # its options (`-S`, `-i`), or the last of them when no word follows
    if text[:2] != "#!":
        return None
    i = _space_end(text, 2)
    j = _word_end(text, i)
    if j == i:
        return None
    prog = _base_name(text, i, j)
    k = _space_end(text, j)
    if prog == "env" and j < k < len(text):
        while True:
            e = _word_end(text, k)
            after = _space_end(text, e)
            if text[k] != "-" or e - k < 2 or after == e or after == len(text):
                break
            k = after
        prog = _base_name(text, k, e)
    prog = prog.rstrip("0123456789.") if prog.startswith("python") else prog
    if prog in _SHELLS:
        return "shell"
    if prog in _INTERPRETERS or prog == "python":
        return _INTERPRETERS.get(prog, "python3")
    return None


# File name -> kind, and name extension -> kind.
# Code that tools run by themselves: Python that pytest, nox, invoke, doit or the
# interpreter's startup imports; Ruby that rake, bundler, vagrant or CocoaPods evaluate;
# Perl that builds a module; Node configuration files that build and test tools load;
# task runners' recipes (just, Task, tox).
_PYTHON_RUN = ("setup.py", "conftest.py", "noxfile.py", "fabfile.py", "dodo.py", "tasks.py",
               "sitecustomize.py", "usercustomize.py")
_RUBY_RUN = ("Rakefile", "rakefile", "Gemfile", "Guardfile", "Vagrantfile", "Capfile", "Podfile",
             "Fastfile", "Dangerfile", "config.ru")
_NODE_RUN = ("gulpfile.js", "Gulpfile.js", "Gruntfile.js", "gruntfile.js", ".eslintrc.js",
             ".eslintrc.cjs", ".prettierrc.js", ".prettierrc.cjs", ".mocharc.js", ".mocharc.cjs",
             ".babelrc.js", ".stylelintrc.js", ".lintstagedrc.js")
_NODE_CONFIG_EXT = (".config.js", ".config.cjs", ".config.mjs", ".config.ts", ".config.mts",
                    ".config.cts")
# (their last extensions: a name ending otherwise is none of them)
_NODE_CONFIG_LAST = frozenset(e[e.rfind("."):] for e in _NODE_CONFIG_EXT)
_BY_NAME = dict([(n, "shell") for n in _SHELL_RC] + [(n, "workflow") for n in _WORKFLOW_FILES] + [
    ("package.json", "package.json"), ("Dockerfile", "dockerfile"), ("Containerfile", "dockerfile"),
    ("Makefile", "makefile"), ("makefile", "makefile"), ("GNUmakefile", "makefile"),
    ("Makefile.PL", "perl"), ("Build.PL", "perl"), ("justfile", "justfile"),
    ("Justfile", "justfile"), (".justfile", "justfile"), ("Taskfile.yml", "workflow"),
    ("Taskfile.yaml", "workflow"), ("Taskfile.dist.yml", "workflow"), ("tox.ini", "tox.ini"),
    ("CMakeLists.txt", "cmake")]
    + [(n, "python3") for n in _PYTHON_RUN] + [(n, "ruby") for n in _RUBY_RUN]
    + [(n, "node") for n in _NODE_RUN])
_BY_EXT = dict([(e, "shell") for e in _SHELL_EXT] + [
    (".dockerfile", "dockerfile"), (".Dockerfile", "dockerfile"), (".mk", "makefile"),
    (".ipynb", "notebook"), (".cmake", "cmake")])
_WORKFLOW_DIRS = ("/.github/workflows/", "/.github/actions/", "/.circleci/", "/.buildkite/")
_HOOK_DIRS = ("/.git/hooks/", "/.husky/", "/.githooks/")


def file_kind(path, text):
    """What kind of code a file holds, by its path (and a shebang): "shell", "python3",
    "node", "perl", "ruby", "dockerfile", "makefile", "justfile", "tox.ini", "workflow",
    "package.json", "notebook", "cmake", or
    None for a file that does not run later by itself. (It runs for every Write and
    Edit: the common answer, None, costs a few lookups.)"""
    if "\\" in path:
        path = path.replace("\\", "/")
    name = path[path.rfind("/") + 1:]
    kind = _BY_NAME.get(name)
    if kind is not None:
        return kind
    dot = name.rfind(".")
    ext = ""
    if dot >= 0:
        ext = name[dot:]
        kind = _BY_EXT.get(ext)
        if kind is not None:
            return kind
    if name.startswith("Dockerfile."):
        return "dockerfile"
    if ext in _NODE_CONFIG_LAST and name.endswith(_NODE_CONFIG_EXT):
        return "node"
    if "/." in path:
        for d in _WORKFLOW_DIRS:
            if d in path:
                return "workflow"
        for d in _HOOK_DIRS:
            if d in path:
                return _shebang_kind(text) or "shell"
    return _shebang_kind(text)


def _heredoc(interpreter, text):
    # The body ends at a line equal to the tag, so a tag no line equals is free;
    # a set of the lines keeps this linear when the text holds many tried tags.
    lines = set(text.split("\n"))
    tag = "LIGHTHOUSE_EOF"
    k = 0
    while tag in lines:
        k += 1
        tag = "LIGHTHOUSE_EOF_%d" % k
    return "%s - <<'%s'\n%s\n%s\n" % (interpreter, tag, text, tag)


def _dockerfile_runs(text):
    out = []
    lines = text.replace("\\\r\n", "").replace("\\\n", " ").split("\n")
    for line in lines:
        s = line.strip()
        if s[:4].upper() != "RUN " and s[:4].upper() != "RUN\t":
            continue
        body = s[4:].strip()
        while body.startswith("--"):          # RUN --mount=... --network=...
            body = body.partition(" ")[2].strip()
        if body.startswith("["):
            try:
                argv = json.loads(body)
            except ValueError:
                argv = None
            if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
                body = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
        out.append(body)
    return out


# make's own defaults for the variables recipes use most.
_MAKE_DEFAULTS = {"MAKE": "make", "CC": "cc", "CXX": "c++", "CPP": "cc -E", "RM": "rm -f",
                  "AR": "ar", "LD": "ld", "AS": "as", "INSTALL": "install", "SHELL": "/bin/sh",
                  "CURDIR": "."}
_MAKE_ASSIGN = re.compile(r"^(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:{1,3}|\+|!)?=\s*(.*)$")


def _make_recipes(text):
    """The recipe lines of a Makefile as shell code: `@`/`-`/`+` prefixes dropped, `$$`
    made `$`, `$(shell ...)` a command substitution, variables the Makefile assigns (or
    make's defaults) replaced by their values, other variables left unknown."""
    lines = text.replace("\\\n", " ").split("\n")
    values = dict(_MAKE_DEFAULTS)
    for line in lines:
        if not line.startswith("\t"):
            m = _MAKE_ASSIGN.match(line.strip())
            if m is not None:
                values[m.group(1)] = m.group(2).strip()

    def value(m):
        v = values.get(m.group(1))
        return "${%s}" % m.group(1) if v is None or "$" in v else v

    out = []
    for line in lines:
        if not line.startswith("\t"):
            continue
        s = line[1:].lstrip("@+- \t")
        s = _MAKE_SHELL.sub("$(", s)
        s = s.replace("$$", "\x00")
        s = _MAKE_VAR.sub(value, s)
        out.append(s.replace("\x00", "$"))
    return out


_JUST_EXPR = re.compile(r"\{\{[^}]*\}\}")


def _just_recipes(text):
    """The recipe lines of a justfile (the indented lines under a recipe's header) as
    shell code: `@`/`-` prefixes dropped, `{{...}}` expressions left unknown."""
    out = []
    for line in text.split("\n"):
        if line[:1] not in (" ", "\t") or not line.strip() or line.lstrip().startswith("#"):
            continue
        s = line.strip().lstrip("@-")
        out.append(_JUST_EXPR.sub("${JUST_EXPRESSION}", s))
    return out


_INI_COMMANDS = re.compile(r"^(?:commands|commands_pre|commands_post)\s*=\s*(.*)$")
_TOX_SUBST = re.compile(r"\{([^{}]*)\}")


def _tox_subst(m):
    name = m.group(1)
    if name == "homedir":
        return "~"
    if name in ("toxinidir", "tox_root"):
        return "."
    return "${TOX_SUBSTITUTION}"


def _tox_commands(text):
    """The commands of a tox.ini (`commands =`, `commands_pre`, `commands_post`, with
    their indented continuation lines) as shell code: `{homedir}` is the home,
    `{toxinidir}` the project, other substitutions unknown."""
    out = []
    lines = text.split("\n")
    i = 0
    n = len(lines)
    while i < n:
        m = _INI_COMMANDS.match(lines[i].strip())
        i += 1
        if m is None or lines[i - 1][:1] in (" ", "\t"):
            continue
        block = [m.group(1)]
        while i < n and lines[i][:1] in (" ", "\t"):
            block.append(lines[i].strip())
            i += 1
        for line in block:
            line = line.lstrip("-").strip()
            if line and not line.startswith("#"):
                out.append(_TOX_SUBST.sub(_tox_subst, line))
    return out


# CMake's calls that run commands at configure or build time, and the keywords that end
# a COMMAND's words
_CMAKE_CALL = re.compile(r"\b(execute_process|add_custom_command|add_custom_target|exec_program)\s*\(", re.I)
_CMAKE_WORD = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s()"#\\]+(?:\\.[^\s()"#\\]*)*)', re.S)
_CMAKE_BRACKET = re.compile(r"\[=*\[")
_CMAKE_KEYWORDS = frozenset({
    "COMMAND", "WORKING_DIRECTORY", "TIMEOUT", "RESULT_VARIABLE", "RESULTS_VARIABLE", "OUTPUT_VARIABLE",
    "ERROR_VARIABLE", "INPUT_FILE", "OUTPUT_FILE", "ERROR_FILE", "OUTPUT_QUIET", "ERROR_QUIET",
    "COMMAND_ECHO", "OUTPUT_STRIP_TRAILING_WHITESPACE", "ERROR_STRIP_TRAILING_WHITESPACE", "ENCODING",
    "ECHO_OUTPUT_VARIABLE", "ECHO_ERROR_VARIABLE", "COMMAND_ERROR_IS_FATAL", "OUTPUT", "DEPENDS",
    "BYPRODUCTS", "MAIN_DEPENDENCY", "IMPLICIT_DEPENDS", "COMMENT", "DEPFILE", "JOB_POOL", "VERBATIM",
    "APPEND", "USES_TERMINAL", "COMMAND_EXPAND_LISTS", "SOURCES", "ALL", "TARGET", "PRE_BUILD",
    "PRE_LINK", "POST_BUILD", "ARGS", "RETURN_VALUE"})
_CMAKE_VAR = re.compile(r"\$ENV\{(\w+)\}|\$\{[^}]*\}")
_CMAKE_UNKNOWN = "${CMAKE_VALUE}"       # what the file computes: an unknown shell value
_CMAKE_UNKNOWN_COMMAND = 'sh -c "${CMAKE_VALUE}"'
# Words a build tool's shell reads as operators in a custom command's line
_CMAKE_OPERATORS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>>", "2>&1", "&>"})


# CMake's variables that name its own tools and the toolchain's
_CMAKE_PROGRAMS = {"CMAKE_COMMAND": "cmake", "CMAKE_CTEST_COMMAND": "ctest", "CMAKE_CPACK_COMMAND": "cpack",
                   "CMAKE_C_COMPILER": "cc", "CMAKE_CXX_COMPILER": "c++", "CMAKE_MAKE_PROGRAM": "make",
                   "Python_EXECUTABLE": "python3", "Python3_EXECUTABLE": "python3",
                   "PYTHON_EXECUTABLE": "python3"}


def _cmake_value(m):
    if m.group(1):
        return "${%s}" % m.group(1)
    return _CMAKE_PROGRAMS.get(m.group(0)[2:-1], _CMAKE_UNKNOWN)


def _cmake_args(text, k):
    """(The words of a call's arguments from text[k] (just after its parenthesis), as
    (quoted, value) pairs, or None when it holds a bracket argument; the index after its
    closing parenthesis), or None when the call does not close. One pass over the
    characters."""
    words = []
    depth = 1
    n = len(text)
    while k < n:
        c = text[k]
        if c == " " or c == "\t" or c == "\n" or c == "\r":
            k += 1
        elif c == "#":
            end = text.find("\n", k)
            k = n if end < 0 else end
        elif c == "(":
            depth += 1
            k += 1
        elif c == ")":
            depth -= 1
            k += 1
            if depth == 0:
                return words, k
        elif c == "[" and _CMAKE_BRACKET.match(text, k) and words is not None:
            words = None
            k += 1
        else:
            m = _CMAKE_WORD.match(text, k)
            if m is None:
                return None
            if words is None:
                k = m.end()
                continue
            quoted = m.group(1) is not None
            words.append((quoted, _CMAKE_VAR.sub(_cmake_value, m.group(1) if quoted else m.group(2))))
            k = m.end()
    return None


def _cmake_code(text):
    """text without its comments (`#` to the line's end, outside a quoted argument; a
    bracket comment `#[[...]]` to its close), in one pass."""
    out = []
    k = 0
    start = 0
    n = len(text)
    quoted = False
    while k < n:
        c = text[k]
        if c == "\\":
            k += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "#" and not quoted:
            out.append(text[start:k])
            m = _CMAKE_BRACKET.match(text, k + 1)
            if m is not None:
                close = "]" + "=" * (m.end() - m.start() - 2) + "]"
                end = text.find(close, m.end())
                k = n if end < 0 else end + len(close)
            else:
                end = text.find("\n", k)
                k = n if end < 0 else end
            start = k
            continue
        k += 1
    out.append(text[start:])
    return "".join(out)


def _cmake_commands(text):
    """The commands a CMakeLists.txt (or a .cmake file) runs at configure or build time,
    as shell lines (each word quoted; `$ENV{X}` is the variable X, other variables
    unknown): execute_process's COMMANDs as one pipeline (what it runs), the COMMANDs of
    add_custom_command and add_custom_target one after the other (a build tool runs each
    through a shell: `|`, `&&`, `>` are operators there), and exec_program's program
    and ARGS. A call that does not close, or holds a bracket argument, is a command of
    unknown content."""
    out = []
    text = _cmake_code(text)
    end = 0
    for m in _CMAKE_CALL.finditer(text):
        if m.start() < end:
            continue            # a name inside the last call's arguments: read with them
        call = _cmake_args(text, m.end())
        if call is None:
            # no later call can close either: the rest of the file is of unknown content
            out.append(_CMAKE_UNKNOWN_COMMAND)
            break
        words, end = call
        if words is None:
            out.append(_CMAKE_UNKNOWN_COMMAND)
            continue
        name = m.group(1).lower()
        if name == "exec_program":
            # exec_program(PROGRAM [DIR] [ARGS "a b"] ...): ARGS is one string of words
            line = [_shell_word(words[0][1])] if words else []
            in_args = False
            for quoted, word in words[1:]:
                if not quoted and word.upper() in _CMAKE_KEYWORDS:
                    in_args = word.upper() == "ARGS"
                elif in_args:
                    line.append(word)
            if line:
                out.append(" ".join(line))
            continue
        commands = []
        line = None
        for quoted, word in words:
            if not quoted and word.upper() in _CMAKE_KEYWORDS:
                if line:
                    commands.append(" ".join(line))
                line = [] if word.upper() == "COMMAND" else None
            elif line is not None:
                line.append(word if not quoted and word in _CMAKE_OPERATORS and name != "execute_process"
                            else _shell_word(word))
        if line:
            commands.append(" ".join(line))
        if name == "execute_process" and commands:
            out.append(" | ".join(commands))
        else:
            out.extend(commands)
    return out


def _shell_word(word):
    """word as one shell word: single-quoted, with each `${NAME}` in it left to expand."""
    out = []
    for part in _SHELL_VAR_PART.split(word):
        if part:
            out.append(part if part.startswith("${") else shell_quote(part))
    return "".join(out) or "''"


_SHELL_VAR_PART = re.compile(r"(\$\{\w+\})")


def _workflow_steps(text):
    out = []
    lines = text.split("\n")
    i = 0
    n = len(lines)
    while i < n:
        m = _RUN_KEY.match(lines[i])
        i += 1
        if m is None:
            continue
        indent = len(m.group(1))
        value = m.group(2).strip()
        if value and value[0] in "|>":
            block = []
            while i < n and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            out.append("\n".join(b.strip() for b in block))
        elif value:
            if value[0] in "'\"" and value[-1:] == value[0] and len(value) > 1:
                value = value[1:-1]
            if not value.startswith("["):
                out.append(value)
        else:
            # a YAML list of commands under the key
            while i < n:
                item = _LIST_ITEM.match(lines[i])
                if item is None or len(item.group(1)) < indent:
                    if lines[i].strip():
                        break
                    i += 1
                    continue
                v = item.group(2).strip()
                if v[:1] in "'\"" and v[-1:] == v[0] and len(v) > 1:
                    v = v[1:-1]
                out.append(v)
                i += 1
    return [_GH_EXPR.sub("${GITHUB_EXPRESSION}", s) if "${{" in s else s for s in out]


def _package_scripts(text):
    out = []
    for m in _SCRIPT_RE.finditer(text):
        value = m.group(2)
        if "\\" not in value:
            out.append(value)          # what json.loads reads it as, or keeps on its error
            continue
        try:
            out.append(json.loads('"%s"' % value))
        except ValueError:
            out.append(value)
    return out


# IPython's cell magics that run the cell as a program, and the line magics that run a
# command (`%pip install X` is `pip install X`).
_SHELL_CELL = re.compile(r"^%%(?:bash|sh|zsh|system|script\s+(?:\S*/)?(?:ba|z|da|k)?sh)\b")
_PROGRAM_CELL = re.compile(r"^%%(perl|ruby|script\s+(?:\S*/)?(python3?|node|perl|ruby))\b")
_WRITEFILE_CELL = re.compile(r"^%%writefile(?:\s+-a)?\s+(\S+)\s*$")
_COMMAND_MAGIC = re.compile(r"^%(pip|conda|mamba|cd|system|sx|sc|run|mkdir|rm|rmdir|cp|mv|cat|"
                            r"less|man|ls|ll|bash|sh)\b(.*)$")
_SHELL_ASSIGN = re.compile(r"^[\w\s,()\[\]]+=\s*!(.*)$")


def _notebook_cell(src):
    """A notebook code cell as shell code: its `!` lines and command magics as commands,
    the Python around them as python3 code, and the cell magics that run the cell by
    another program (`%%bash`, `%%script perl`) or write it to a file (`%%writefile`)
    as those commands."""
    lines = src.split("\n")
    first = lines[0].strip()
    body = "\n".join(lines[1:])
    if first.startswith("%%"):
        if _SHELL_CELL.match(first):
            return body
        m = _PROGRAM_CELL.match(first)
        if m is not None:
            prog = m.group(2) or m.group(1)
            return _heredoc("python3" if prog.startswith("python") else prog, body)
        m = _WRITEFILE_CELL.match(first)
        if m is not None:
            return _heredoc("cat > %s" % m.group(1), body)
        lines = lines[1:]               # %%time, %%capture, ...: the cell still runs as Python
    shell, python = [], []
    for line in lines:
        s = line.strip()
        if s.startswith("!"):
            shell.append(s[1:].lstrip("!"))
        elif s.startswith("%"):
            m = _COMMAND_MAGIC.match(s)
            if m is not None:
                cmd = m.group(1)
                shell.append(("python3" if cmd == "run" else "" if cmd in ("system", "sx", "sc") else cmd)
                             + m.group(2))
        else:
            m = _SHELL_ASSIGN.match(s)
            if m is not None:
                shell.append(m.group(1))
            else:
                python.append(line)
    code = "\n".join(shell)
    if "\n".join(python).strip():
        code += "\n" + _heredoc("python3", "\n".join(python))
    return code


def _notebook_file(text):
    """The code cells of a notebook's JSON (a Write of a whole .ipynb), each as shell
    code; a notebook that is not JSON is judged as one cell."""
    try:
        nb = json.loads(text)
    except ValueError:
        return [_notebook_cell(text)]
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return []
    out = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source")
        if isinstance(src, list):
            src = "".join(x for x in src if isinstance(x, str))
        if isinstance(src, str) and src.strip():
            out.append(_notebook_cell(src))
    return out


def embedded_code(kind, text):
    """(shell code to judge, rule id prefixes that judge it, or () for all) of a file's
    new text, or None when it holds nothing that runs."""
    if kind == "shell":
        return (text, ()) if text.strip() else None
    if kind in ("python3", "node", "perl", "ruby"):
        return (_heredoc(kind, text), ()) if text.strip() else None
    if kind == "notebook":
        code = "\n".join(c for c in _notebook_file(text) if c.strip())
        return (code, ()) if code else None
    if kind == "notebook-cell":
        code = _notebook_cell(text)
        return (code, ()) if code.strip() else None
    if kind == "dockerfile":
        parts, only = _dockerfile_runs(text), CONTAINER_RULES
    elif kind == "makefile":
        parts, only = _make_recipes(text), ()
    elif kind == "workflow":
        parts, only = _workflow_steps(text), ()
    elif kind == "justfile":
        parts, only = _just_recipes(text), ()
    elif kind == "tox.ini":
        parts, only = _tox_commands(text), ()
    elif kind == "cmake":
        parts, only = _cmake_commands(text), ()
    else:
        parts, only = _package_scripts(text), ()
    parts = [p for p in parts if p.strip()]
    return ("\n".join(parts), only) if parts else None


# The lines of a shell fragment that hold no command on their own (the ends of blocks an
# Edit's new text may start or stop inside).
_BLOCK_WORDS = re.compile(r"^(?:(?:then|else|elif|fi|do|done|esac|;;|\{|\}|\(|\)|in)\s*;?\s*)*$")


def content_verdict(engine, tool, tool_input, cwd, home):
    """The verdict of what a Write/Edit/MultiEdit adds to a file that runs later, as
    (verdict, rule id, reason), or None when the content leaves the decision to the path
    rules. engine.evaluate_content(code, cwd, home, only) judges shell code."""
    path = tool_input.get("notebook_path" if tool == "NotebookEdit" else "file_path")
    if type(path) is not str or not path:
        return None
    text = written_text(tool, tool_input)
    if not text:
        return None
    kind = "notebook-cell" if tool == "NotebookEdit" else file_kind(path, text)
    if kind is None:
        return None
    if len(text) > MAX_CONTENT:
        return (MISS, "content.limit", CONTENT_LIMIT_MSG)
    found = embedded_code(kind, text)
    if found is None:
        return None
    code, only = found
    result = engine.evaluate_content(code, cwd or "", home, only)
    if result[1] == "shell.unparsed" and kind in ("shell", "makefile", "workflow", "package.json",
                                                  "justfile", "tox.ini"):
        # a fragment (an Edit inside an if-block) or a construct the analysis does not
        # parse: judge it line by line; a line that still does not parse is undecided
        result = None
        lines = code.split("\n")
        if len(lines) > MAX_CONTENT_LINES:
            return (MISS, "content.limit", CONTENT_LINES_MSG)
        for line in lines:
            if not line.strip() or line.lstrip().startswith("#") or _BLOCK_WORDS.match(line.strip()):
                continue
            r = engine.evaluate_content(line, cwd or "", home, only)
            if r[0] == DENY:
                result = r
                break
            if r[0] == ASK or r[0] == MISS and r[1] in ("shell.unparsed", "input.limit"):
                if result is None or result[0] != ASK:
                    result = r
        if result is None:
            return None
    verdict, rule_id, reason = result
    if verdict == DENY or verdict == ASK:
        return (verdict, rule_id, CONTENT_MSG % (_NAMES[kind], reason))
    if verdict == MISS and rule_id in ("shell.unparsed", "input.limit"):
        return (MISS, "content." + rule_id.split(".", 1)[1], CONTENT_MSG % (_NAMES[kind], reason))
    return None


_NAMES = {"shell": "shell script", "python3": "Python script", "node": "Node script",
          "perl": "Perl script", "ruby": "Ruby script", "dockerfile": "Dockerfile RUN step",
          "makefile": "Makefile recipe", "workflow": "CI workflow step",
          "justfile": "justfile recipe", "tox.ini": "tox command",
          "package.json": "package.json lifecycle script", "notebook": "notebook's code",
          "notebook-cell": "notebook cell", "cmake": "CMake build command"}


def combine(content, path_result):
    """The call's verdict from the content's (None when it leaves it to the paths) and
    the path rules': a deny from either, else the content's ask or undecided, else the
    path rules' answer."""
    if content is None or path_result[0] == DENY:
        return path_result
    if content[0] == DENY:
        return content
    if path_result[0] == ASK and content[0] == MISS:
        return path_result
    return content
