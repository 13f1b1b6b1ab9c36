"""What both rule engines read of a tool call besides its paths, defined once: why its
tool, input, cwd or home cannot be judged (``call_error``, asked of every call before
its cache key), why an input is malformed (``input_error``, asked of every call but
Bash), the text of its string leaves (``flatten``, for the ``fields`` and ``any_field``
regexes) and SQL text with its string literals emptied and its comments dropped
(``strip_sql_literals``, for rules with ``strip_literals``).

The pure engine (_engine_py.py) imports this source; the compiled one cimports the same
source compiled by Cython as _toolinput_c (setup.py), typed by the augmenting
_toolinput_c.pxd, so each is a C call there and one text here.
"""

from __future__ import annotations

from ._engine_shared import (CWD_MSG, EDITS_MSG, HOME_MSG, INPUT_TYPE_MSG, MAX_TOOL_LENGTH, PATH_FIELD_MSG,
                             PATH_FIELDS, REQUIRED_MSG, REQUIRED_STRINGS, TOOL_MSG)

__all__ = ["call_error", "input_error", "flatten", "strip_sql_literals"]

# typed module globals in the compiled build (_toolinput_c.pxd)
_REQUIRED = REQUIRED_STRINGS
_PATH_FIELDS = PATH_FIELDS
_MAX_TOOL_LENGTH = MAX_TOOL_LENGTH


def call_error(tool, tool_input, cwd, home):
    """Why a call cannot be judged (a deny: ``input.invalid``), or None: a tool that is
    not a non-empty string of at most MAX_TOOL_LENGTH characters, an input that is not a
    dict, a cwd or home that is neither None nor a string."""
    if not isinstance(tool, str) or not tool or len(tool) > _MAX_TOOL_LENGTH:
        return TOOL_MSG
    if not isinstance(tool_input, dict):
        return INPUT_TYPE_MSG % type(tool_input).__name__
    if cwd is not None and not isinstance(cwd, str):
        return CWD_MSG
    if home is not None and not isinstance(home, str):
        return HOME_MSG
    return None


def input_error(tool, tool_input):
    """Why a (non-Bash) tool input (a dict, checked by call_error) is malformed, or None.
    Fields Claude Code's tools always send as strings are anything else only in malformed
    input. The input's own entries are read (dict.get: a C call in the compiled build)."""
    for key in _REQUIRED.get(tool, ()):
        if not isinstance(dict.get(tool_input, key), str):
            return REQUIRED_MSG % (tool, key)
    for key in _PATH_FIELDS:
        val = dict.get(tool_input, key)
        if val is not None and not isinstance(val, str):
            return PATH_FIELD_MSG % (tool, key)
    if tool == "MultiEdit" and not isinstance(dict.get(tool_input, "edits"), list):
        return EDITS_MSG
    return None


def flatten(value):
    """All string leaves of a JSON value, newline-joined (for any_field regexes): the
    leaves in the order a stack of the values left to read gives them (the last value
    of an object or list first). An object whose values are all strings (or null), as
    most tool inputs are, is read in one pass over its values."""
    if type(value) is dict:
        out = []
        for v in dict.values(value):
            if type(v) is str:
                out.append(v)
            elif v is not None:
                break
        else:
            out.reverse()
            return "\n".join(out)
    out = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif type(v) is dict:
            stack.extend(dict.values(v))        # (a C call in the compiled build)
        elif isinstance(v, dict):
            for k in v:
                stack.append(v[k])
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif v is not None:
            out.append(str(v))
    return "\n".join(out)


def strip_sql_literals(text):
    """SQL text with string literals emptied and comments removed, so that `'%drop
    table%'` inside a literal is data, not a statement: a literal (with `''` and
    backslash escapes inside it) becomes `''`, a `--` comment is dropped up to its line's
    end, a `/* */` comment becomes one space. The places where something is dropped or
    replaced are found with str.find (no Python step per character in either build), the
    text between them copied as slices; text with none is returned as it is. Each kind of
    place is looked for again only once the text before it has been read past, so the
    searches cover the text once each: time linear in it."""
    n = len(text)
    quote = text.find("'")
    line = text.find("--")
    block = text.find("/*")
    if quote < 0 and line < 0 and block < 0:
        return text
    out = []
    run = 0
    escape = 0          # the next backslash from where a literal is read (-1: none)
    while run < n:
        if 0 <= quote < run:
            quote = text.find("'", run)
        if 0 <= line < run:
            line = text.find("--", run)
        if 0 <= block < run:
            block = text.find("/*", run)
        i = n
        if 0 <= quote < i:
            i = quote
        if 0 <= line < i:
            i = line
        if 0 <= block < i:
            i = block
        if i == n:
            break
        if run < i:
            out.append(text[run:i])
        if i == quote:
            j = i + 1
            while True:
                if 0 <= quote < j:
                    quote = text.find("'", j)
                if quote < 0:
                    j = n
                    break
                if 0 <= escape < j:
                    escape = text.find("\\", j)
                if 0 <= escape < quote:
                    j = escape + 2
                    continue
                if quote + 1 < n and text[quote + 1] == "'":
                    j = quote + 2
                    continue
                j = quote
                break
            out.append("''")
            run = j + 1
        elif i == line:
            j = text.find("\n", i)
            run = n if j < 0 else j
        else:
            j = text.find("*/", i + 2)
            out.append(" ")
            run = n if j < 0 else j + 2
    if run < n:
        out.append(text[run:n])
    return "".join(out)
