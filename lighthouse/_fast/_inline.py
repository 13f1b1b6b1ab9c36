"""Inline interpreter code (``python -c``, ``node -e``, ``perl -e``, ``ruby -e``, ``php -r``,
``lua -e``, ``julia -e``, ``Rscript -e``, Tcl and expect, PowerShell, Java, heredocs fed to an
interpreter, AppleScript): what it deletes, which files it writes and which shell commands
it runs.

Shared by both implementations: this runs once per inline snippet, with regexes, so it
has no compiled twin. Each implementation turns what :func:`scan` finds into simple
commands of its own.
"""

from __future__ import annotations

import re

from ._errors import LimitError

__all__ = ["CODE_WINDOW", "scan", "string_at"]

CODE_WINDOW = 2048       # characters of a string literal read in inline code
_CODE_WINDOW_MSG = "a string in inline code is longer than %d characters" % CODE_WINDOW

_STR = r"""(?:'([^'\\]*(?:\\.[^'\\]*)*)'|"([^"\\]*(?:\\.[^"\\]*)*)")"""
_STR_RE = re.compile(_STR)
_STR_LIST_RE = re.compile(r"\[\s*((?:" + _STR + r"\s*,?\s*)+)\]")
_JOIN_RE = re.compile(r"os\.path\.join\(\s*")
_JOIN_SECOND_RE = re.compile(r"[^,()]*(?:\([^()]*\)[^,()]*)*,\s*" + _STR)
# After a literal, what ends the argument it stands for: anything else (`+ x`, `% x`,
# `.format(x)`, `[1:]`) makes the literal only part of the argument.
_ARG_END = re.compile(r"\s*(?:[),;]|$)")
# In AppleScript a string is followed by words (`with administrator privileges`); `&`
# concatenates.
_APPLESCRIPT_END = re.compile(r"\s*(?!&)")
_HOME_EXPR = re.compile(
    r"""os\.path\.expanduser\(\s*['"]~([^'"]*)['"]\s*\)|Path\.home\(\)|os\.environ\[\s*['"]HOME['"]\s*\]"""
    r"""|os\.getenv\(\s*['"]HOME['"]\s*\)|os\.environ\.get\(\s*['"]HOME['"]\s*\)|os\.homedir\(\)"""
    r"""|process\.env\.HOME|ENV\[\s*['"]HOME['"]\s*\]|Dir\.home|\$ENV\{\s*HOME\s*\}|\$HOME"""
    r"""|Deno\.env\.get\(\s*['"]HOME['"]\s*\)|Bun\.env\.HOME""")
# (Every alternative starts with a literal character, so that the regex engine skips to
# the positions where one may start.)
_DELETE_CALLS = re.compile(
    r"""(shutil\.rmtree|os\.removedirs|os\.remove|os\.unlink|os\.rmdir|rmtree|remove_tree"""
    r"""|fs\.rmSync|\)\.rmSync|fs\.rmdirSync|\)\.rmdirSync|fs\.unlinkSync|\)\.unlinkSync|fs\.rm|fs\.rmdir|fs\.unlink"""
    r"""|fs\.promises\.rm|Deno\.removeSync|Deno\.remove"""
    r"""|rimraf(?:\.sync)?|FileUtils\.rm_rf|FileUtils\.rm_r|FileUtils\.rm|FileUtils\.remove_dir"""
    r"""|File\.delete|Dir\.delete|file\.remove|unlink)\s*\(?\s*""")
# families whose bare `unlink(` is the file-deleting builtin
_UNLINK_FAMILIES = frozenset({"perl", "php", "R", "Rscript"})
# julia's rm(path; recursive=true); Tcl's `file delete ?-force? PATH`; PowerShell's
# Remove-Item (and its aliases) with -Recurse
_JULIA_RM = re.compile(r"\brm\s*\(\s*")
_TCL_DELETE = re.compile(r"\bfile\s+delete\s+(?:-force\s+)?(?:--\s+)?")
_PWSH_DELETE = re.compile(r"(?i)(?:^|[;|{(\s])(?:Remove-Item|ri|rm|del|erase|rd|rmdir)\s+((?:-\w+\s+)*)")
_PWSH_RECURSE = re.compile(r"(?i)-r(?:ecurse)?\b")
# Calls that write a file named by their first argument, and opens with a write mode
_WRITE_CALLS = re.compile(
    r"""(?:writeFileSync|appendFileSync|fs\.writeFile|fs\.appendFile|fs\.promises\.writeFile"""
    r"""|file_put_contents|File\.write|IO\.write|File\.binwrite|Deno\.writeTextFile|Deno\.writeFile"""
    r"""|Bun\.write|Set-Content|Add-Content|Out-File)\s*\(?\s*(?:-(?:Path|FilePath|LiteralPath)\s+)?""")
_OPEN_CALLS = re.compile(r"""(?:\bopen|io\.open|File\.open|fopen|file)\s*\(\s*""")
_WRITE_MODE = re.compile(r"""\s*,\s*(?:mode\s*=\s*)?['"]([rwaxb+t]*[wax+][rwaxb+t]*)['"]""")
_PATH_WRITE = re.compile(r"""Path\(([^()]*(?:\([^()]*\)[^()]*)*)\)\.(write_text|write_bytes|touch)\(""")
# perl: open(FH, ">path") / open(my $fh, '>>', 'path')
_PERL_OPEN = re.compile(r"""\bopen\s*\(?\s*(?:my\s+)?[$*]?\w+\s*,\s*(?:(['"])\s*(?:>>?|\+<|\+>)\s*([^'">][^'"]*)\1"""
                        r"""|(['"])\s*(?:>>?|\+<|\+>)\s*\3\s*,\s*(['"])([^'"]+)\4)""")
# perl, ruby: system/exec/spawn without parentheses (`exec "/bin/sh"`, `system $cmd`: a
# variable's command is unknown); Tcl: exec
# and expect's spawn take the command's words up to the end of the command
_BARE_EXEC = re.compile(r"""(?:^|[;{}\s(])(?:system|exec|spawn)\s+(?=['"]|q[qx]?\s*[{(\[<|/!]|[$@])""")
_TCL_EXEC = re.compile(r"(?:^|[;\[{\s])(?:exec|spawn|open\s+\|)\s+([^\];\n}]*)")
_PWSH_EXEC = re.compile(r"(?i)(?:Start-Process|saps|start)\s+(?:-FilePath\s+)?")
# Task runners' own command calls, in the files the tools load (tasks.py, noxfile.py,
# fabfile.py, Rakefile, zx scripts): invoke/fabric `c.run("CMD")` (also `ctx`, `conn`,
# `sudo`, `local`) takes a command line; nox `session.run("PROG", "ARG", ...)` the words
# of one; rake's `sh "CMD"` a command line; zx runs a template literal
# (`$`CMD``), execa its program and argument list.
_PY_RUNNER = re.compile(r"\b(?:c|ctx|context|conn|connection|cxn)\.(?:run|sudo|local)\s*\(\s*")
_PY_RUNNER_HINTS = ("c.", "ctx.", "context.", "conn", "cxn.")
_NOX_RUN = re.compile(r"\bsession\.(?:run|run_always|run_install)\s*\(\s*")
_RAKE_SH = re.compile(r"""(?:^|[;{}\s(])sh\b[ \t]*\(?[ \t]*(?=['"]|%[qQ]?[{(\[<|])""")
_ZX_TEMPLATE = re.compile(r"\$`([^`]*)`")
_ARG_SEP = re.compile(r"\s*,\s*")
# After a literal argument of a Ruby call without parentheses: the line's end too
_RUBY_ARG_END = re.compile(r"[ \t]*(?:[),;\n}#]|$)")
# A nox argument that is not a literal (`*session.posargs`, a variable) stands for words
# the analysis does not know
_UNKNOWN_ARG = '"$NOX_ARGUMENT"'
_OPEN_BRACKETS = {"(": ")", "[": "]", "{": "}"}
MAX_EXPRESSION = 256
_KEYWORD_ARG = re.compile(r"\*{0,2}[A-Za-z_]\w*\s*=(?!=)|\)")
# An array perl interpolates into a double-quoted string (`"rm -rf @dirs"`, `"@{[ ... ]}"`)
_PERL_ARRAY = re.compile(r"@[A-Za-z_{$:]")
# Ruby's keyword arguments (`exception: true`, `chdir: "/"`) and hash arguments
_RUBY_KEYWORD_ARG = re.compile(r"[A-Za-z_]\w*:(?!:)|\*\*|\)")
# Calls looked up by a name built at run time, and code evaluated from a value that is not
# a literal: what they run cannot be read from the code (`getattr(__import__('os'),
# 'sys'+'tem')(...)`, `global[f](...)`, `obj.send(:sys + 'tem', ...)`). Per family:
# the substrings one of which every match holds (most code has none, and the regex is
# not run), and the regex.
_REFLECT = {
    "python": (("getattr", "__import__", "import_module", "eval", "exec"),
               re.compile(r"getattr\s*\(\s*(?:[\w.]*import_module|__import__|importlib|sys\.modules|os\b|"
                          r"subprocess\b|builtins|__builtins__|pty\b)|(?:__import__|import_module)\s*\(\s*"
                          r"[^'\"\s)]|\b(?:eval|exec)\s*\(\s*[^'\"\s)]")),
    "node": (("[", "Function", "eval", "constructor", "require"),
             re.compile(r"\b(?:global|globalThis|process|module)\s*\[|\brequire\s*\(\s*[^'\"`\s)]"
                        r"|\bFunction\s*\(|\beval\s*\(\s*[^'\"`\s)]|constructor\s*\.\s*constructor")),
    "php": (("eval", "assert", "create_function", "call_user_func", "$"),
            re.compile(r"\b(?:eval|assert)\s*\(\s*[^'\"\s)]|\bcreate_function\s*\(|\bcall_user_func(?:_array)?\s*\("
                       r"|\$\w+\s*\(")),
    "perl": (("eval", "&$", "&{"),
             re.compile(r"\beval\s*(?:\(\s*)?[^'\"\s({;]|&\$\w+|&\{")),
    "ruby": (("send", "const_get", "_eval", "eval"),
             re.compile(r"\b(?:send|public_send|__send__|instance_eval|class_eval|const_get)\b"
                        r"|\beval\s*\(?\s*[^'\"\s)]")),
}
_PWSH_DYNAMIC = re.compile(r"(?i)\b(?:Invoke-Expression|iex|Invoke-Command|icm)\b|&\s*\(|\[ScriptBlock\]")
_PATH_DELETE = re.compile(r"""Path\(([^()]*(?:\([^()]*\)[^()]*)*)\)\.(unlink|rmdir)\(""")
_EXEC_CALLS = re.compile(
    r"""(os\.system|os\.popen|subprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)"""
    r"""|os\.execute|io\.popen|proc_open|pcntl_exec|os\.exec[lv]p?e?|os\.spawn[lv]p?e?|os\.posix_spawnp?"""
    r"""|execSync|execFileSync|execFile|exec|spawnSync|spawn|system2|system|popen|IO\.popen|Open3\.\w+"""
    r"""|shell_exec|passthru|new\s+ProcessBuilder|execaSync|execaCommandSync|execaCommand|execa)"""
    r"""\s*\(\s*""")
# Deno's process calls (`new Deno.Command("rm", {args: [...]})`, `Deno.run({cmd: [...]})`)
# and the end of a call's only argument
_DENO_EXEC = re.compile(r"\b(?:new\s+Deno\.Command|Deno\.run)\s*\(\s*")
_CALL_END = re.compile(r"\s*\)")
# A program literal followed by a list of literal arguments (execFile('rm', ['-rf', x]),
# os.execvp('rm', [...]), pcntl_exec('/bin/rm', [...])): the command is both.
_ARGV_LIST = re.compile(r"\s*,\s*(?=\[)")
_EMPTY_LIST = re.compile(r"\[\s*\]")
# Method names that are process calls only on a process module: `.exec(` is also a
# regex method in JavaScript. Taken as process calls when the code names such a module.
_AMBIGUOUS_METHODS = {"exec", "spawn", "system", "popen"}
_PROCESS_MODULES = ("child_process", "subprocess", "Open3", "IO.popen", "Process", "Runtime", "shelljs")
_BACKTICK_CODE = re.compile(r"`([^`]*)`|qx\{([^}]*)\}|%x\{([^}]*)\}")
_APPLESCRIPT_SHELL = re.compile(r"do\s+shell\s+script\s+")
_RECURSIVE_DELETES = frozenset({
    "shutil.rmtree", "rmtree", "remove_tree", "FileUtils.rm_rf", "FileUtils.rm_r", "fs.rmSync",
    "fs.rm", "fs.promises.rm", "rimraf", "rimraf.sync", "os.removedirs", "FileUtils.remove_dir"})
# perl's quote-like operators: q{...}, qq(...), q[...], q<...>, q|...|
_PERL_Q = re.compile(r"qq?\s*([{(\[<|/!])")
_PERL_CLOSE = {"{": "}", "(": ")", "[": "]", "<": ">"}
# Substrings that every match of _DELETE_CALLS / _EXEC_CALLS contains: a scan is skipped
# when the code has none of them (the result is the same, without running the regex).
_DELETE_HINTS = ("rm", "remove", "unlink", "rimraf", "delete")
_EXEC_HINTS = ("system", "popen", "subprocess", "exec", "spawn", "Open3", "passthru", "proc_open",
               "ProcessBuilder")
_WRITE_HINTS = ("write", "Write", "append", "put_contents", "open", "Set-Content", "Add-Content",
                "Out-File", "touch")


def _holds_any(code, needles):
    """Whether code contains one of needles (a loop, not any() over a generator: the
    compiled build runs it without creating one)."""
    for needle in needles:
        if needle in code:
            return True
    return False


def _whole(code, end, text, arg_end):
    """text, when the literal that ended at code[end] is the whole argument; else None."""
    if arg_end.match(code, end) is None or "#{" in text:
        return None      # concatenated, formatted, indexed, or a Ruby interpolation
    return text


def string_at(code, pos, arg_end=_ARG_END):
    """Parse a string expression starting at code[pos] (literal, home expression,
    os.path.join of those, list of literals). Returns (text or None, is_list); None
    when the argument is not made of literals alone. Reads CODE_WINDOW characters: a
    literal or list that the window cuts is a LimitError, since the text it holds
    cannot be judged."""
    rest = code[pos:pos + CODE_WINDOW]
    m = _STR_RE.match(rest)
    if m:
        text = _whole(code, pos + m.end(), m.group(1) if m.group(1) is not None else m.group(2), arg_end)
        if text is not None:
            argv = _ARGV_LIST.match(code, pos + m.end())
            if argv is not None and not _EMPTY_LIST.match(code, argv.end()):
                items, is_list = string_at(code, argv.end(), arg_end)
                return (text + " " + items if is_list and items is not None else None), False
        return text, False
    cut = len(code) - pos > CODE_WINDOW
    m = _PERL_Q.match(rest)
    if m:
        end = rest.find(_PERL_CLOSE.get(m.group(1), m.group(1)), m.end())
        if end >= 0:
            return _whole(code, pos + end + 1, rest[m.end():end], arg_end), False
        if cut:
            raise LimitError(_CODE_WINDOW_MSG)
    m = _STR_LIST_RE.match(rest)
    if m:
        items = [a or b for a, b in _STR_RE.findall(m.group(1))]
        return _whole(code, pos + m.end(), " ".join(items), arg_end), True
    if cut and rest[:1] in ("'", '"', "["):
        raise LimitError(_CODE_WINDOW_MSG)
    m = _HOME_EXPR.match(rest)
    if m:
        tail = m.group(1) if m.lastindex and m.group(1) else ""
        return "~" + tail, False
    m = _JOIN_RE.match(rest)
    if m:
        first = string_at(code, pos + m.end())[0]
        if first is None:
            return None, False
        m2 = _JOIN_SECOND_RE.match(rest[m.end():])
        if m2:
            return first.rstrip("/") + "/" + (m2.group(1) or m2.group(2) or ""), False
        return first, False
    return None, False


def scan(family, code):
    """What inline code of an interpreter family does: (deletes, snippets, unknown,
    writes). deletes: [(recursive, target or None)] for each deletion call (None: a
    target that is not a literal); snippets: the shell code of each process call whose
    command is a literal; unknown: whether some process call runs a command that is
    not; writes: the literal paths of the files it writes."""
    deletes = []
    snippets = []
    unknown = False
    writes = []
    if _holds_any(code, _DELETE_HINTS):
        for m in _DELETE_CALLS.finditer(code):
            name = m.group(1)
            if name.startswith(")."):
                name = "fs." + name[2:]   # require('fs').rmSync(...)
            if name == "unlink" and family not in _UNLINK_FAMILIES:
                continue
            recursive = name in _RECURSIVE_DELETES or (
                family in _UNLINK_FAMILIES and "recursive" in code[m.end():m.end() + 256].split(")", 1)[0])
            deletes.append((recursive, string_at(code, m.end())[0]))
    if "Path(" in code:
        for m in _PATH_DELETE.finditer(code):
            deletes.append((True, string_at(m.group(1), 0)[0]))
    if _holds_any(code, _EXEC_HINTS):
        process_module = _holds_any(code, _PROCESS_MODULES)
        for m in _EXEC_CALLS.finditer(code):
            text = string_at(code, m.end())[0]
            if text is not None:
                text = _list_form(family, code, m.end(), text)
            if text is not None:
                snippets.append(text)
            elif not (m.group(1) in _AMBIGUOUS_METHODS and m.start() > 0
                      and (code[m.start() - 1] == "." or code[m.start() - 1].isalnum()
                           or code[m.start() - 1] == "_")
                      and not process_module):
                unknown = True
    if "Deno." in code:
        # Deno's calls take the program's arguments in an object: the program alone is
        # the command only when nothing follows it
        for m in _DENO_EXEC.finditer(code):
            text = string_at(code, m.end(), _CALL_END)[0]
            if text is not None:
                snippets.append(text)
            else:
                unknown = True
    reflect = _REFLECT.get(family)
    if reflect is not None and _reflects(code, reflect[0], reflect[1]):
        unknown = True
    if family == "python" or family == "ruby" or family == "node":
        if _runner_calls(family, code, snippets):
            unknown = True
    if family == "ruby" or family == "perl" or family == "php" or family == "julia":
        for m in _BACKTICK_CODE.finditer(code):
            snippets.append(m.group(1) or m.group(2) or m.group(3) or "")
    if (family == "ruby" or family == "perl") and ("exec" in code or "system" in code or "spawn" in code):
        for m in _BARE_EXEC.finditer(code):
            text = string_at(code, m.end())[0]
            if text is not None:
                text = _list_form(family, code, m.end(), text)
            if text is not None:
                snippets.append(text)
            else:
                unknown = True
    if family == "julia" and "rm" in code:
        for m in _JULIA_RM.finditer(code):
            call = code[m.end():m.end() + 256].split(")", 1)[0]
            deletes.append(("recursive" in call, string_at(code, m.end(), _JULIA_ARG_END)[0]))
    if family in ("tclsh", "wish", "expect"):
        for m in _TCL_EXEC.finditer(code):
            snippets.append(m.group(1).strip() or "sh")
        for m in _TCL_DELETE.finditer(code):
            deletes.append(("-force" in code[m.start():m.end()], _tcl_word(code, m.end())))
    if family in ("pwsh", "powershell"):
        for m in _PWSH_EXEC.finditer(code):
            text = string_at(code, m.end(), _PWSH_ARG_END)[0]
            if text is None:
                text = _tcl_word(code, m.end())
            if text is not None:
                snippets.append(text)
            else:
                unknown = True
        if _PWSH_DYNAMIC.search(code):
            unknown = True
        for m in _PWSH_DELETE.finditer(code):
            stmt = code[m.start():m.start() + CODE_WINDOW].split(";", 1)[0]
            deletes.append((_PWSH_RECURSE.search(stmt) is not None,
                            string_at(code, m.end(), _PWSH_ARG_END)[0] or _tcl_word(code, m.end())))
    if _holds_any(code, _WRITE_HINTS):
        writes = _writes(family, code)
    if family == "osascript":
        for m in _APPLESCRIPT_SHELL.finditer(code):
            text = string_at(code, m.end(), _APPLESCRIPT_END)[0]
            if text is not None:
                snippets.append(text)
            else:
                unknown = True
    return deletes, snippets, unknown, writes


def _list_form(family, code, pos, text):
    """A process call of perl or ruby given a list (`system "rm", "-rf", $dir`) runs its
    program with those arguments and no shell: the command of the list (_argv_at), None
    when its program is not a literal. text (the first argument's) when the call has one
    argument, or the language has no list form; None when perl puts an array's values in
    it."""
    if family != "perl" and family != "ruby":
        return text
    if family == "perl" and code.startswith('"', pos) and _PERL_ARRAY.search(text) is not None:
        return None     # "rm -rf @dirs": perl puts the array's values in the string
    m = _STR_RE.match(code, pos, pos + CODE_WINDOW)
    if m is None or _ARG_SEP.match(code, m.end()) is None:
        return text
    if family == "ruby":
        return _argv_at(code, pos, _RUBY_KEYWORD_ARG, False)
    return _argv_at(code, pos, _KEYWORD_ARG, True)


def _quoted(word):
    return "'" + word.replace("'", "'\\''") + "'"


def _argv_at(code, pos, keyword=_KEYWORD_ARG, interpolates=False):
    """The shell command of literal arguments `'PROG', 'ARG', ...` starting at code[pos],
    each quoted as one word, up to the call's end or its keyword arguments (keyword);
    None when the program is not a literal. An argument that is not a literal (or, when
    the language interpolates, a double-quoted one holding `$` or `@`) is an unknown
    word."""
    words = []
    while True:
        rest = code[pos:pos + CODE_WINDOW]
        m = _STR_RE.match(rest)
        if m is not None and _ARG_END.match(code, pos + m.end()) and not (
                interpolates and m.group(2) is not None and ("$" in m.group(2) or "@" in m.group(2))):
            words.append(_quoted(m.group(1) if m.group(1) is not None else m.group(2)))
            pos += m.end()
        elif words:
            end = _expression_end(code, pos)
            if end < 0:
                return None
            words.append(_UNKNOWN_ARG)
            pos = end
        else:
            if len(code) - pos > CODE_WINDOW and rest[:1] in ("'", '"'):
                raise LimitError(_CODE_WINDOW_MSG)
            return None     # the program itself is not a literal
        sep = _ARG_SEP.match(code, pos)
        if sep is None:
            return " ".join(words) if _ARG_END.match(code, pos) else None
        pos = sep.end()
        if keyword.match(code, pos):
            return " ".join(words)
        if len(words) > 256:
            return None


def _expression_end(code, pos):
    """Where the argument expression at code[pos] ends (a comma or the call's closing
    parenthesis outside brackets and strings), or -1 when it does not end within
    MAX_EXPRESSION characters or the brackets do not match (the call is then unknown)."""
    stack = []
    k = pos
    end = min(len(code), pos + MAX_EXPRESSION)
    while k < end:
        ch = code[k]
        if ch == "'" or ch == '"':
            m = _STR_RE.match(code, k, end)
            if m is None:
                return -1
            k = m.end()
            continue
        if ch in _OPEN_BRACKETS:
            stack.append(_OPEN_BRACKETS[ch])
        elif ch == ")" or ch == "]" or ch == "}":
            if not stack:
                return k if ch == ")" else -1
            if stack.pop() != ch:
                return -1
        elif ch == "," and not stack:
            return k
        k += 1
    return -1


def _runner_calls(family, code, snippets):
    """Task runners' command calls (_PY_RUNNER, _NOX_RUN, _RAKE_SH, _ZX_TEMPLATE) in
    code: their literal commands appended to snippets; True when one runs a command
    that is not a literal."""
    unknown = False
    if family == "python":
        if ".run" in code or ".sudo" in code or ".local" in code:
            if _holds_any(code, _PY_RUNNER_HINTS):
                for m in _PY_RUNNER.finditer(code):
                    text = string_at(code, m.end())[0]
                    if text is not None:
                        snippets.append(text)
                    else:
                        unknown = True
            if "session." in code:
                for m in _NOX_RUN.finditer(code):
                    text = _argv_at(code, m.end())
                    if text is not None:
                        snippets.append(text)
                    else:
                        unknown = True
    elif family == "ruby":
        if "sh" in code:
            for m in _RAKE_SH.finditer(code):
                text = string_at(code, m.end(), _RUBY_ARG_END)[0]
                if text is not None:
                    text = _list_form(family, code, m.end(), text)
                if text is not None:
                    snippets.append(text)
                else:
                    unknown = True
    elif family == "node":
        if "$`" in code:
            for m in _ZX_TEMPLATE.finditer(code):
                if "${" in m.group(1):
                    unknown = True
                else:
                    snippets.append(m.group(1))
    return unknown


def _reflects(code, hints, rx):
    """Whether code holds a call looked up by a built name (_REFLECT): the regex runs
    only on code holding one of the hints, from the first of them it holds."""
    first = -1
    for h in hints:
        i = code.find(h)
        if i >= 0 and (first < 0 or i < first):
            first = i
    if first < 0:
        return False
    return rx.search(code, max(0, first - 16)) is not None


# After a literal argument of julia (`rm("x"; recursive=true)`) or PowerShell (words)
_JULIA_ARG_END = re.compile(r"\s*(?:[),;]|$)")
_PWSH_ARG_END = re.compile(r"\s*(?:[\s),;|]|$)")
_PERL_HOME = re.compile(r"""^\$ENV\{\s*['"]?HOME['"]?\s*\}""")
_BARE_WORD = re.compile(r"""([^\s;\]}"'|]+)""")


def _tcl_word(code, pos):
    """A bare word at code[pos] (Tcl, PowerShell), or a quoted literal; None when it
    is a variable or a command substitution."""
    rest = code[pos:pos + CODE_WINDOW]
    m = _STR_RE.match(rest)
    if m:
        return m.group(1) if m.group(1) is not None else m.group(2)
    m = _BARE_WORD.match(rest)
    if m and not m.group(1).startswith(("$", "[", "(")):
        return m.group(1)
    return None


def _writes(family, code):
    """The literal paths inline code writes (see scan)."""
    out = []
    for m in _WRITE_CALLS.finditer(code):
        text = string_at(code, m.end())[0] if family not in ("pwsh", "powershell") \
            else (string_at(code, m.end(), _PWSH_ARG_END)[0] or _tcl_word(code, m.end()))
        if text is not None:
            out.append(text)
    if family != "perl":
        for m in _OPEN_CALLS.finditer(code):
            lit = _STR_RE.match(code[m.end():m.end() + CODE_WINDOW])
            if lit is not None and _WRITE_MODE.match(code[m.end() + lit.end():m.end() + lit.end() + 64]):
                out.append(lit.group(1) if lit.group(1) is not None else lit.group(2))
    else:
        for m in _PERL_OPEN.finditer(code):
            out.append(_PERL_HOME.sub("~", (m.group(2) or m.group(5)).strip()))
    if "Path(" in code:
        for m in _PATH_WRITE.finditer(code):
            text = string_at(m.group(1), 0)[0]
            if text is not None:
                out.append(text)
    return out

