"""The shell parsers' scanners that stand alone, defined once: each reads the command
line from a position and returns a position (or a text and a position), without the
parse tree either parser builds.

The pure parser (_shell_py.py) imports this source; the compiled one cimports the same
source compiled by Cython as _shell_scan_c (setup.py), typed by the augmenting
_shell_scan_c.pxd (characters as Py_UCS4, positions as C integers), so each is a C call
there and one text here. What builds parts of words (quotes, `$`, backticks, blanks
between words) stays in each parser: the two build different parse trees.
"""

from __future__ import annotations

from ._errors import ShellError
from ._shell_shared import ANSI_C_MSG, AT_OFFSET_MSG, BACKTICK_MSG, secret_name

__all__ = ["runs_commands", "arith_end", "funcdef_end", "redirect_token", "REDIRECT_OPS", "ansi_c",
           "heredoc_body", "is_name_char", "is_special_var", "name_end", "var_operand", "backtick_text",
           "secret_refs"]

# A redirection operator as written -> the operator it is judged as (`&>` and `>&`
# write stdout as `>` does, `>|` overrides noclobber, `<>` opens for writing too; `<&`
# duplicates a descriptor and names no file).
REDIRECT_OPS = {"&>>": ">>", "&>": ">", "<<<": "<<<", "<<-": "<<-", "<<": "<<", ">>": ">>", ">&": ">",
                ">|": ">", "<>": ">", "<&": "<&", ">": ">", "<": "<"}

_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "v": "\v", "f": "\f"}


def is_name_char(c):
    """Whether c may stand in a variable's name (ASCII letters, digits, `_`)."""
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_"


def is_special_var(c):
    """Whether c names a special parameter ($@, $*, $#, $?, $$, $!, $-, $0-$9)."""
    return c == "@" or c == "*" or c == "#" or c == "?" or c == "$" or c == "!" or c == "-" or "0" <= c <= "9"


def name_end(s, i):
    """The index past the run of name characters that starts at s[i]."""
    n = len(s)
    while i < n and is_name_char(s[i]):
        i += 1
    return i


def secret_refs(s):
    """The names named like a secret's (_shell_shared.secret_name) among the variables
    that the body s of a heredoc whose delimiter is not quoted expands: `$NAME` and
    `${NAME...}`, in order, once per reference (quotes do not quote in such a body; a
    backslash keeps the next character literal)."""
    names = []
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == "$" and i + 1 < n:
            j = i + 2 if s[i + 1] == "{" else i + 1
            e = name_end(s, j)
            if e > j and not ("0" <= s[j] <= "9") and secret_name(s[j:e]):
                names.append(s[j:e])
            i = e if e > j else i + 1
        else:
            i += 1
    return names


def var_operand(s, start, end, runs):
    """The name and the default of a ${...} whose operand is s[start:end]: the name is
    its leading name characters (or one special parameter first); the default what
    follows `:-`, `:=`, `-` or `=` after it, else None. runs: the operand runs commands,
    so a default has an unknown value (None)."""
    m = start
    while m < end and (is_name_char(s[m]) or (m == start and is_special_var(s[m]))):
        m += 1
    default = None
    if m < end and not runs:
        c = s[m]
        if c == ":" and m + 1 < end and (s[m + 1] == "-" or s[m + 1] == "="):
            default = s[m + 2:end]
        elif c == "-" or c == "=":
            default = s[m + 1:end]
    return s[start:m], default


def backtick_text(s, i):
    """At a backtick (s[i]): the text up to the closing one, with \\`, \\\\ and \\$
    unescaped, and the index just past the closing backtick. ShellError when it does not
    close."""
    n = len(s)
    j = i + 1
    run = j
    pieces = []
    while True:
        if j >= n:
            raise ShellError(AT_OFFSET_MSG % (BACKTICK_MSG, i))
        c = s[j]
        if c == "\\" and j + 1 < n:
            d = s[j + 1]
            if d == "`" or d == "\\" or d == "$":
                pieces.append(s[run:j])
                pieces.append(d)
                j += 2
                run = j
                continue
        if c == "`":
            break
        j += 1
    pieces.append(s[run:j])
    return "".join(pieces), j + 1


def runs_commands(s, start, end):
    """Whether s[start:end] holds a command substitution ($(...) or `...`)."""
    k = s.find("`", start, end)
    if k >= 0:
        return True
    k = s.find("$(", start, end)
    while k >= 0:
        if k + 2 >= end or s[k + 2] != "(":
            return True
        k = s.find("$(", k + 3, end)
    return False


def arith_end(s, j):
    """At `((` (s[j]): the index just past the `))` that ends it when bash reads it as an
    arithmetic expression (its parentheses, quotes skipped, close with two adjacent
    `)`), else -1: `((echo a) )` is a subshell in a subshell."""
    n = len(s)
    depth = 0
    while j < n:
        c = s[j]
        if c == "\\":
            j += 1
        elif c == "'":
            j = s.find("'", j + 1)
            if j < 0:
                return -1
        elif c == '"':
            j += 1
            while j < n and s[j] != '"':
                j += 2 if s[j] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 1:
                if j + 1 < n and s[j + 1] == ")":
                    return j + 2
                return -1
        j += 1
    return -1


def funcdef_end(s, i):
    """At `(` (s[i]) after a word: the index just past the `)` when blanks alone stand
    between them (`name ()`, a function definition), else -1."""
    n = len(s)
    j = i + 1
    while j < n and (s[j] == " " or s[j] == "\t"):
        j += 1
    if j < n and s[j] == ")":
        return j + 1
    return -1


def redirect_token(s, i):
    """The redirection operator at s[i] (a `<` or `>`, or `&` before `>`), as written: a
    key of REDIRECT_OPS, whose length is how far it reaches."""
    n = len(s)
    c0 = s[i]
    c1 = "\0"
    c2 = "\0"
    if i + 1 < n:
        c1 = s[i + 1]
    if i + 2 < n:
        c2 = s[i + 2]
    if c0 == "&" and c1 == ">":
        return "&>>" if c2 == ">" else "&>"
    if c0 == ">":
        if c1 == ">":
            return ">>"
        if c1 == "&":
            return ">&"
        return ">|" if c1 == "|" else ">"
    if c0 == "<":
        if c1 == "<":
            if c2 == "<":
                return "<<<"
            return "<<-" if c2 == "-" else "<<"
        if c1 == ">":
            return "<>"
        if c1 == "&":
            return "<&"
    return "<"


def ansi_c(s, i):
    """At `$'` (s[i]): the text of the ANSI-C quoted string, its escapes decoded, and the
    index just past its closing quote. ShellError when it does not close."""
    n = len(s)
    i += 2
    buf = []
    while True:
        if i >= n:
            raise ShellError(AT_OFFSET_MSG % (ANSI_C_MSG, i))
        c = s[i]
        if c == "'":
            return "".join(buf), i + 1
        if c == "\\" and i + 1 < n:
            e = s[i + 1]
            i += 2
            if e == "x":
                j = i
                while j < n and j < i + 2 and s[j] in "0123456789abcdefABCDEF":
                    j += 1
                if j > i:
                    buf.append(chr(int(s[i:j], 16)))
                    i = j
                else:
                    buf.append("\\x")
            elif "0" <= e <= "7":
                j = i
                while j < n and j < i + 2 and "0" <= s[j] <= "7":
                    j += 1
                buf.append(chr(int(s[i - 1:j], 8)))
                i = j
            else:
                buf.append(_ANSI_ESCAPES.get(e, e))
            continue
        buf.append(c)
        i += 1


def heredoc_body(s, i, delim, strip):
    """The body of a heredoc whose lines start at s[i]: its lines up to the one that is
    delim (after its leading tabs when strip, `<<-`) or to the end of s, each ended by a
    newline; and the index just past the delimiter's line."""
    n = len(s)
    lines = []
    while i < n:
        j = s.find("\n", i)
        if j < 0:
            j = n
        line = s[i:j]
        i = j + 1 if j + 1 < n else n
        if (line.lstrip("\t") if strip else line) == delim:
            break
        lines.append(line)
    return "\n".join(lines) + "\n", i
