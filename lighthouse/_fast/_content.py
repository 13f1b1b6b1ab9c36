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

import html
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
                             ".travis.yml", "Jenkinsfile", "lefthook.yml", "lefthook.yaml", ".lefthook.yml",
                             ".lefthook.yaml", "lefthook-local.yml"})
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
    if len(text) < 2 or text[0] != "#" or text[1] != "!":
        return None         # (two character tests: no slice, no string comparison)
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


# Files that tell a package manager where to fetch packages from (and, for .pypirc,
# where to upload them with their credentials): what they set is judged as the config
# command that sets the same (`npm config set registry URL`).
_REGISTRY_FILES = {".npmrc": "npm", ".yarnrc": "yarn", ".yarnrc.yml": "yarn", "bunfig.toml": "bun",
                   ".bunfig.toml": "bun", "pip.conf": "pip", "pip.ini": "pip", ".pypirc": "pip",
                   "uv.toml": "pip", "pyproject.toml": "pip", ".condarc": "conda"}
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
    ("CMakeLists.txt", "cmake"), ("build.gradle", "gradle"), ("build.gradle.kts", "gradle"),
    ("settings.gradle", "gradle"), ("settings.gradle.kts", "gradle"), ("init.gradle", "gradle"),
    ("pom.xml", "xml"), ("build.xml", "xml"), ("Directory.Build.props", "xml"),
    ("Directory.Build.targets", "xml"), ("build.rs", "rust"), ("composer.json", "json-commands"),
    ("devcontainer.json", "json-commands"), (".devcontainer.json", "json-commands"),
    (".pre-commit-config.yaml", "pre-commit"), (".pre-commit-config.yml", "pre-commit"),
    ("Procfile", "procfile"), ("Procfile.dev", "procfile")]
    + [(n, "registry:" + p) for n, p in _REGISTRY_FILES.items()]
    + [(n, "python3") for n in _PYTHON_RUN] + [(n, "ruby") for n in _RUBY_RUN]
    + [(n, "node") for n in _NODE_RUN])
_BY_EXT = dict([(e, "shell") for e in _SHELL_EXT] + [
    (".dockerfile", "dockerfile"), (".Dockerfile", "dockerfile"), (".mk", "makefile"),
    (".ipynb", "notebook"), (".cmake", "cmake"), (".gradle", "gradle"), (".kts", "gradle"),
    (".csproj", "xml"), (".fsproj", "xml"), (".vbproj", "xml"), (".targets", "xml")])
_WORKFLOW_DIRS = ("/.github/workflows/", "/.github/actions/", "/.circleci/", "/.buildkite/")
_HOOK_DIRS = ("/.git/hooks/", "/.husky/", "/.githooks/")


def file_kind(path, text):
    """What kind of code a file holds, by its path (and a shebang): "shell", "python3",
    "node", "perl", "ruby", "dockerfile", "makefile", "justfile", "tox.ini", "workflow",
    "package.json", "notebook", "cmake", "gradle", "rust" (build.rs), "xml" (Maven, Ant
    and MSBuild files), "json-commands" (composer.json, devcontainer.json), "pre-commit",
    "procfile",
    "registry:PROGRAM" (a package manager's registry settings), or
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
        if "/.cargo/" in path and (name == "config.toml" or name == "config"):
            return "registry:cargo"
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


# Build files of the JVM and Rust worlds: the commands their build runs, read from the
# calls that start a process with literal words (Gradle's commandLine/executable+args,
# ProcessBuilder, Runtime.exec, a string's .execute(); build.rs' Command::new and its
# .arg/.args). A word that is not a literal is an unknown value; a call that does not
# close ends the reading with a command of unknown content.
_UNKNOWN_WORD = '"${BUILD_VALUE}"'
_UNKNOWN_COMMAND = 'sh -c "${BUILD_VALUE}"'
_LITERAL = re.compile(r'"""(.*?)"""|"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'', re.S)
_ESCAPE = re.compile(r"\\(.)", re.S)
_INTERPOLATION = re.compile(r"\$(?:\{[^}]*\}?|[A-Za-z_][\w.]*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _literal_value(m, interpolates):
    """A string literal's value (its escapes read; `$x`/`${x}` of a double-quoted one,
    which Groovy and Kotlin interpolate, an unknown value)."""
    if m.group(1) is not None:
        value, interpolated = m.group(1), interpolates
    elif m.group(2) is not None:
        value, interpolated = m.group(2), interpolates
    else:
        value, interpolated = m.group(3), False
    if "\\" in value:
        value = _ESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(1)), value)
    if interpolated and "$" in value:
        return "\0".join(_INTERPOLATION.split(value))
    return value


def _build_items(text, k, closer, interpolates):
    """The items of a call's argument list from text[k] up to closer (")" or "]", or
    "\\n" for Groovy's call without parentheses): each a literal's value, or None for
    any other expression; and the index after the list. None when it does not close.
    One pass over the characters."""
    items = []
    n = len(text)
    item = None
    literal = True
    started = False
    depth = []
    while k < n:
        c = text[k]
        if not depth and (c == closer or c == "," or closer == "\n" and c in ";)]}"):
            if started:
                items.append(item if literal else None)
            if c != ",":
                return items, k + 1 if c == closer else k
            item, literal, started = None, True, False
            k += 1
            continue
        if c == " " or c == "\t" or c == "\r" or c == "\n" and (closer != "\n" or not started):
            k += 1
            continue
        if c == '"' or c == "'":
            m = _LITERAL.match(text, k)
            if m is None:
                return None
            if started or depth:
                literal = False
            else:
                item = _literal_value(m, interpolates)
            started = True
            k = m.end()
            continue
        started = True
        literal = False
        if c in _CLOSERS:
            depth.append(_CLOSERS[c])
        elif depth and c == depth[-1]:
            depth.pop()
        elif c == ")" or c == "]" or c == "}":
            return None
        k += 1
    if closer == "\n" and not depth:
        if started:
            items.append(item if literal else None)
        return items, n
    return None


def _words_line(items):
    """Items of an argument list as one shell line (each literal single-quoted, an
    unknown value or an interpolation left to expand as an unknown)."""
    out = []
    for item in items:
        if item is None:
            out.append(_UNKNOWN_WORD)
        elif "\0" in item:
            out.append(_UNKNOWN_WORD.join(shell_quote(p) if p else "" for p in item.split("\0")) or "''")
        else:
            out.append(shell_quote(item))
    return " ".join(out)


_GRADLE_CALL = re.compile(r"\b(commandLine|executable|args|ProcessBuilder|exec|execute)\b(\s*=)?\s*(\(?)\s*"
                          r"(?:(?:listOf|arrayOf|mutableListOf|List\.of|Arrays\.asList)\s*)?([(\[]?)")
_GRADLE_STRING_END = re.compile(r'("|\')\s*\.\s*$')


def _call_items(text, m, interpolates):
    """The argument list of the call m matched (its opener: "(", "[" or none, Groovy's
    command syntax; a list built inside the parentheses, `(listOf(...))`, its own), as
    _build_items gives it."""
    opener = m.group(4) or m.group(3)
    return _build_items(text, m.end(), _CLOSERS[opener] if opener else "\n", interpolates)


def _gradle_commands(text):
    """The commands a Gradle build script (Groovy or Kotlin) runs: each commandLine,
    ProcessBuilder(...) and exec(...) call's words, an executable with the args that
    follow it, and a string or list literal's .execute()."""
    out = []
    end = 0
    pending = None          # an executable waiting for its args
    for m in _GRADLE_CALL.finditer(text):
        if m.start() < end:
            continue
        name = m.group(1)
        if name == "execute":
            if m.group(3) != "(":
                continue
            # the receiver: a string literal or a list just before `.execute(`
            before = text[end:m.start()]
            q = _GRADLE_STRING_END.search(before)
            if q is not None:
                start = before.rfind(q.group(1), 0, q.start())
                lit = _LITERAL.match(before, start) if start >= 0 else None
                if lit is not None and lit.end() == q.start() + 1:
                    value = _literal_value(lit, q.group(1) == '"')
                    out.append(_words_line([w for w in value.split()] if "\0" not in value else [None]))
                    end = m.end()
                    continue
            out.append(_UNKNOWN_COMMAND)
            end = m.end()
            continue
        if name == "exec" and "(" not in (m.group(3), m.group(4)):
            continue                    # an exec { } block: its commandLine is read
        if name == "args" and pending is None:
            continue                    # a JavaExec's or test task's arguments
        found = _call_items(text, m, True)
        if found is None:
            out.append(_UNKNOWN_COMMAND)
            break
        items, end = found
        if m.group(4):
            # a list literal that an operator or a call goes on from (`listOf("sh") +
            # listOf("-c", CODE)`): a command of unknown content
            k = end
            while k < len(text) and text[k] in " \t":
                k += 1
            if k < len(text) and text[k] in "+-*.":
                out.append(_UNKNOWN_COMMAND)
                pending = None
                continue
        if name == "executable":
            pending = items[:1]
            out.append(_words_line(pending))
        elif name == "args":
            out[-1] = _words_line(pending + items)
            pending = None
        elif len(items) == 1 and items[0] is not None and name == "exec":
            # Runtime.exec(String) splits its one string at white space, runs no shell
            out.append(_words_line(items[0].split()))
        elif items:
            out.append(_words_line(items))
    return out


_RUST_NEW = re.compile(r"\bCommand\s*::\s*new\s*\(")
_RUST_CHAIN = re.compile(r"\s*\.\s*(arg|args|env|envs|env_remove|env_clear|current_dir|stdin|stdout|stderr)\s*\(\s*"
                         r"(?:&\s*)?(?:vec\s*!\s*)?(\[)?")


def _rust_commands(text):
    """The commands a build script (build.rs) runs: each Command::new(PROGRAM) with the
    .arg(...)/.args([...]) calls chained to it."""
    out = []
    end = 0
    for m in _RUST_NEW.finditer(text):
        if m.start() < end:
            continue
        found = _build_items(text, m.end(), ")", False)
        if found is None:
            out.append(_UNKNOWN_COMMAND)
            break
        words, end = found
        while True:
            c = _RUST_CHAIN.match(text, end)
            if c is None:
                break
            found = _build_items(text, c.end(), "]" if c.group(2) else ")", False)
            if found is None:
                out.append(_UNKNOWN_COMMAND)
                return out
            items, end = found
            if c.group(2):
                # the array is the whole argument (`.args(["-c", x].iter().chain(y))`
                # goes on to words of unknown value)
                while end < len(text) and text[end] in " \t\n\r":
                    end += 1
                if end >= len(text) or text[end] != ")":
                    out.append(_UNKNOWN_COMMAND)
                    return out
                end += 1
            if c.group(1) == "arg" or c.group(1) == "args":
                words.extend(items if c.group(1) == "args" or c.group(2) else items[:1])
        out.append(_words_line(words))
    return out


# XML build files: MSBuild's <Exec Command="..."/> (a shell line), Ant's <exec
# executable="..."> with its <arg value|line="..."/>, Maven's exec-maven-plugin
# (<executable> with <argument>s or <commandlineArgs>) and frontend-maven-plugin
# (<goal>npm</goal> with <arguments>).
# (a tag's attributes hold no `<`, as XML has it: each try stops at the next tag's start)
_XML_TAG = re.compile(r"<(/?)([A-Za-z][\w.:-]*)((?:[^<>\"']|\"[^\"<]*\"|'[^'<]*')*)(/?)>")
_XML_ATTR = re.compile(r"([\w.:-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_FRONTEND_GOALS = frozenset({"npm", "yarn", "pnpm", "npx", "bun", "corepack", "bower", "grunt", "gulp",
                             "webpack", "karma", "ember", "jspm"})


def _xml_attrs(text):
    return {a.group(1).lower(): html.unescape(a.group(2) if a.group(2) is not None else a.group(3))
            for a in _XML_ATTR.finditer(text)}


def _xml_code(text):
    """text without its comments (`<!-- ... -->`; an unclosed one to the end), in one
    pass."""
    if "<!--" not in text:
        return text
    out = []
    k = 0
    while True:
        start = text.find("<!--", k)
        if start < 0:
            out.append(text[k:])
            return "".join(out)
        out.append(text[k:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(out)
        k = end + 3


def _xml_commands(text):
    """The commands an XML build file runs (see above): one pass over its tags, its
    comments left out."""
    text = _xml_code(text)
    out = []
    ant = None              # the words of an open Ant <exec>
    maven = None            # the exec-maven-plugin's executable and arguments
    goal = None
    last = 0
    for m in _XML_TAG.finditer(text):
        closing, name, attrs, empty = m.group(1), m.group(2).lower(), m.group(3), m.group(4)
        inner = html.unescape(text[last:m.start()]).strip()
        last = m.end()
        if closing:
            if name == "exec" and ant is not None:
                out.append(" ".join(ant))
                ant = None
            elif name == "executable":
                maven = [shell_quote(inner)]
            elif name == "argument" and maven is not None:
                maven.append(shell_quote(inner))
            elif name == "commandlineargs" and maven is not None:
                maven.append(inner)
            elif name == "goal":
                goal = inner
            elif name == "arguments" and goal in _FRONTEND_GOALS and inner:
                out.append(goal + " " + inner)
            elif name == "configuration" and maven is not None:
                out.append(" ".join(maven))
                maven = None
            continue
        if name == "exec":
            if ant is not None:
                out.append(" ".join(ant))       # an <exec> left open
                ant = None
            a = _xml_attrs(attrs)
            if "command" in a:
                out.append(a["command"])        # MSBuild's Exec, Ant's old command=
            elif "executable" in a:
                ant = [shell_quote(a["executable"])]
                if empty:
                    out.append(ant[0])
                    ant = None
            else:
                out.append(_UNKNOWN_COMMAND)
        elif name == "arg" and ant is not None:
            a = _xml_attrs(attrs)
            if "line" in a:
                ant.append(a["line"])
            elif "value" in a:
                ant.append(shell_quote(a["value"]))
            else:
                ant.append(_UNKNOWN_WORD)
        elif name == "execution" or name == "plugin":
            goal = None
    if maven is not None:
        out.append(" ".join(maven))
    if ant is not None:
        out.append(" ".join(ant))
    return out


# Package-manager configuration: the keys that name a registry or an index, by file
# (`registry=`, `@scope:registry=`, `npmRegistryServer:`, `index-url =`,
# `extra-index-url`, `repository =`, Cargo's `registry`/`index` of a [source] or
# [registries] table, uv's and Poetry's `url` of an index or source table).
_REGISTRY_LINE = re.compile(r"^\s*[\"']?([^\s=\"']+?)[\"']?\s*(?:=|:(?=\s))\s*(.*)$")
_REGISTRY_KEYS = re.compile(r"(?i)(?:^|[:_.-])(?:registry|registryserver|npmregistryserver|index-url|index_url|"
                            r"extra-index-url|extra_index_url|index|repository|channel_alias|default_channels)$")
_SECTION = re.compile(r"^\s*\[+([^\[\]]*)\]")


def _registry_settings(prog, text):
    """The registry and index URLs a package manager's configuration sets, each as the
    config command that sets it (`npm config set registry URL`, `pip config set
    global.index-url URL`, `cargo config set registry URL`)."""
    out = []
    section = ""
    for line in text.split("\n"):
        s = _SECTION.match(line)
        if s is not None:
            section = s.group(1).strip().lower()
            continue
        m = _REGISTRY_LINE.match(line)
        if m is None:
            continue
        key = m.group(1)
        value = m.group(2).strip().strip(",").strip("\"'")
        if not _REGISTRY_KEYS.search(key) and not (
                key.lower() == "url" and ("index" in section or "source" in section)):
            continue
        if "://" in value:
            out.append("%s config set registry %s" % (prog, shell_quote(value)))
        elif "$" in value:
            out.append('%s config set registry "${REGISTRY_VALUE}"' % prog)     # set from the environment
    return out



# JSON files whose keys hold commands a tool runs by itself: composer's scripts (run by
# `composer install` and friends; `@name` calls another script, `Class::method` is PHP),
# a dev container's lifecycle commands (initializeCommand runs on this machine).
_JSON_COMMAND_KEYS = frozenset({"initializeCommand", "onCreateCommand", "updateContentCommand",
                                "postCreateCommand", "postStartCommand", "postAttachCommand"})


def _json_commands(text):
    """The commands of a composer.json's scripts or a devcontainer.json's lifecycle
    commands (a string, a list of words, or an object of named commands); a file that
    is not JSON is a command of unknown content."""
    try:
        doc = json.loads(text)
    except ValueError:
        return [_UNKNOWN_COMMAND]
    if not isinstance(doc, dict):
        return []
    values = [v for k, v in doc.items() if k in _JSON_COMMAND_KEYS]
    scripts = doc.get("scripts")
    if isinstance(scripts, dict):
        values.extend(scripts.values())
    out = []
    for v in values:
        if isinstance(v, dict):
            v = list(v.values())            # devcontainer: named commands run in parallel
        elif isinstance(v, list) and all(isinstance(w, str) for w in v) and v and not isinstance(scripts, dict):
            v = [_words_line(v)]            # devcontainer: one command as its words
        for c in ([v] if isinstance(v, str) else v if isinstance(v, list) else [None]):
            if not isinstance(c, str):
                out.append(_UNKNOWN_COMMAND)
            elif not c.startswith("@") and "::" not in c:
                out.append(c)
    return out


_ENTRY = re.compile(r"^\s*(?:-\s+)?entry\s*:\s*(.*)$")


def _pre_commit_entries(text):
    """The `entry:` commands of a pre-commit configuration (a local hook's entry runs as
    a command on every commit)."""
    out = []
    for line in text.split("\n"):
        m = _ENTRY.match(line)
        if m is not None:
            value = m.group(1).strip()
            if value[:1] in "'\"" and value[-1:] == value[0] and len(value) > 1:
                value = value[1:-1]
            out.append(value)
    return out


def _procfile_commands(text):
    """The commands of a Procfile (`name: command` lines, started by foreman, overmind,
    heroku local and their kind)."""
    out = []
    for line in text.split("\n"):
        name, colon, command = line.partition(":")
        if colon and name.strip() and not name.lstrip().startswith("#"):
            out.append(command.strip())
    return out


# kind -> the reader of the commands a file of that kind runs
_READERS = {"makefile": _make_recipes, "workflow": _workflow_steps, "justfile": _just_recipes,
            "tox.ini": _tox_commands, "cmake": _cmake_commands, "gradle": _gradle_commands,
            "rust": _rust_commands, "xml": _xml_commands, "package.json": _package_scripts,
            "json-commands": _json_commands, "pre-commit": _pre_commit_entries, "procfile": _procfile_commands}

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
    elif kind[:9] == "registry:":
        parts, only = _registry_settings(kind[9:], text), ()
    else:
        parts, only = _READERS[kind](text), ()
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
          "notebook-cell": "notebook cell", "cmake": "CMake build command",
          "gradle": "Gradle build command", "rust": "build.rs command", "xml": "XML build file's command",
          "json-commands": "composer or dev container command", "pre-commit": "pre-commit hook",
          "procfile": "Procfile process"}
_NAMES.update(("registry:" + p, "%s registry setting" % p) for p in ("npm", "yarn", "bun", "pip", "conda", "cargo"))


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
