# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Shell analysis, compiled.

The same algorithm as the pure-Python reference ``_shell_py.py``, which is the
specification: functions keep the reference's names and structure, and the two must return
the same SimpleCommands and raise ShellError on the same inputs (a differential test
checks it). Read the reference first; the comments here explain what differs for speed:

- the parser reads characters as ``Py_UCS4`` straight from the string's buffer, skips
  runs of plain text with a table lookup, and keeps literal text as slices of the source
  instead of per-character lists; a literal is only assembled from pieces when an escape
  interrupts it;
- parse-tree parts are small typed objects instead of tuples, and a word that is one
  unquoted literal (most words) is just its ``str`` rather than a list of parts;
- an expanded word is returned as its text, with the "dynamic" flag and the source
  programs passed by pointer and list, so that a plain word costs no allocation;
- reserved words and special program names are classified by one dict lookup each
  instead of chains of string comparisons;
- regular expressions only run for inline interpreter code (``python -c`` ...), as in
  the reference, and each scan is skipped when a substring every match needs is absent.

The parser's stand-alone scanners (``_shell_scan``) and the word tests ``interp_family``,
``program_name`` and ``assignment_eq`` (``_shell_shared``) are one source with the
reference, compiled as it is and cimported here.
"""

cimport cython
from lighthouse._fast._text cimport obj_eq, str_eq, str_has
from cpython.unicode cimport (PyUnicode_KIND, PyUnicode_DATA, PyUnicode_READ, Py_UNICODE_ISDIGIT,
                              PyUnicode_1BYTE_KIND, Py_UCS1)


from ._errors import LimitError, ShellError
from ._inline import CODE_WINDOW  # no-cython-lint (exported, see SHELL_API)
from ._inline_c import scan as scan_inline
from ._shell_shared_c import (MAX_LENGTH, MAX_LOOP_PASSES, MAX_LOOP_WORDS,  # no-cython-lint (exported:
                              MAX_WRAPPERS)  # no-cython-lint (see SHELL_API)
from ._shell_shared_c import join_path  # no-cython-lint (the lexical join both analysers export)
from ._side_c import (CLONERS, COMMAND_ENV, DOWNLOADERS, RUN_DOWNLOADED, SCRATCH_COPIERS, SIDE_PROGRAMS,
                      STDIN_CODE_PROGRAMS, env_commands)
# C calls into the compiled shared readers (typed by _side_c.pxd and _shell_shared_c.pxd)
from lighthouse._fast._side_c cimport _from_scratch, _runs_a_file, fetched_runs, side_effects, stdin_effects
# C calls into the parsers' shared scanners (typed by _shell_scan_c.pxd)
from lighthouse._fast._shell_scan_c cimport (ansi_c, arith_end, backtick_text, funcdef_end, heredoc_body,
                                             is_name_char, is_special_var, name_end, redirect_token,
                                             runs_commands, secret_refs, var_operand)
from ._shell_scan_c import REDIRECT_OPS
from ._shell_shared_c import interp_family, program_name as normalize_program  # no-cython-lint (exported)
from lighthouse._fast._shell_shared_c cimport (assignment_eq as _assignment_eq, interp_family as _interp_family,
                                               program_name as _program_name,
                                               check_command, find_code, help_request, printed_text, unwrap,
                                               interp_script_arg as _interp_script_arg,
                                               shell_code_arg as _shell_code_arg,
                                               shell_script_arg as _shell_script_arg)
from ._shell_shared_c import (DYN_MARK, VAR_CHANGERS, Kernel, arith_text, assign_var, assigns, brace_expand,
                              calls_itself, emit_inline, leading_assignments, run_arith, run_loop,
                              forget_vars, run_alias, run_container_exec, run_eval,
                              run_find_actions, run_function, run_parallel, run_path_lookup, run_program_path,
                              run_script_path, run_shell_code, command_env,
                              run_ssh_remote, run_stdin_shell, run_su, side_actions, stdin_secret)
from ._shell_shared_c import (ARGS_MSG, ARITH_FOR_MSG, AT_OFFSET_MSG, B64_DECODE,
                              BRACE_MSG, CALL_COST, CASE_IN_MSG, CASE_PAREN_MSG,
                              CASE_PATTERN_MSG, CD_PROGRAMS, CODE_FLAGS, COMMANDS_MSG, DEPTH_MSG,
                              DQUOTE_MSG, DYN, ENV_LISTERS, ENV_SPLIT_MSG, FIND_ACTIONS, FOR_DO_MSG,
                              HELP_TRIGGERS, LIST_MSG, MAX_ARGS, MAX_COMMANDS, MAX_DEPTH,
                              MAX_WORD, MAX_WORK, REDIRECT_MSG, SHELLS, SHELL_API, SQL_FLAGS, SQUOTE_MSG,
                              TMPDIR_ROOT, UNCLOSED_MSG, UNEXPECTED_CLOSE_MSG, UNEXPECTED_OPEN_MSG,
                              WORD_MSG, WORK_MSG, WRAPPERS, change_dir,
                              command_init, command_repr, command_tuple, decode_b64 as _decode_b64,
                              env_filter, filtered_text, piped_files, printf_output, proc_path,
                              run_written, sql_text as _sql_text, writes_runnable,
                              unknown_var)

__all__ = list(SHELL_API)

# The limits and tables live in _shell_shared (shared with the reference); each is bound
# here to a typed module global, read as a C value on the hot path.
cdef Py_ssize_t C_MAX_DEPTH = MAX_DEPTH
cdef Py_ssize_t C_MAX_COMMANDS = MAX_COMMANDS
cdef Py_ssize_t C_MAX_ARGS = MAX_ARGS
cdef Py_ssize_t C_MAX_WORD = MAX_WORD
cdef Py_ssize_t C_MAX_WORK = MAX_WORK
cdef str _DYN = DYN
cdef tuple _CD_PROGRAMS = CD_PROGRAMS
cdef Py_ssize_t C_CALL_COST = CALL_COST
cdef str _DEPTH_MSG = DEPTH_MSG
cdef str _LIST_MSG = LIST_MSG
cdef dict _REDIRECT_OPS = REDIRECT_OPS


@cython.freelist(32)
cdef class SimpleCommand:
    """One program the shell would run, with the context rules need to judge it."""

    # The reference binds these to the shared functions; a cdef class needs methods. The
    # analyser itself builds its commands with _new_sc.
    def __init__(self, *args, **kwargs):
        command_init(self, *args, **kwargs)

    def as_tuple(self):
        return command_tuple(self)

    def __repr__(self):
        return command_repr(self)


cdef SimpleCommand _new_sc(str program, list args, str cwd, bint sudo, dict env,
                           list redirects, str origin, str code, bint dynamic):
    # SimpleCommand(...) without the Python-level argument parsing of __init__.
    cdef SimpleCommand sc = SimpleCommand.__new__(SimpleCommand)
    sc.program = program
    sc.args = args
    sc.cwd = cwd
    sc.sudo = sudo
    sc.env = env
    sc.redirects = redirects
    sc.pipe_in = ()
    sc.pipeline = ()
    sc.code_from = ()
    sc.origin = origin
    sc.code = code
    sc.dynamic = dynamic
    sc.path = ""
    return sc


# ---------------------------------------------------------------- parse tree
# A word is a str when it is a single unquoted literal (the reference's
# [("lit", text, False)], or [] for ""), else a list of _Part. A tree is a list of
# pipelines; a pipeline is a list of _Cmd.

cdef enum:
    P_LIT = 0
    P_TILDE = 1
    P_VAR = 2
    P_CMD = 3
    P_PROC = 4
    P_ARITH = 5


# The internal classes below hold only strings, lists and each other, downwards: they
# cannot form reference cycles, so the cycle collector need not track them.
@cython.final
@cython.no_gc
@cython.freelist(64)
cdef class _Part:
    cdef int kind
    cdef str text        # P_LIT: the text; P_VAR: the variable name; P_ARITH: the expression
    cdef bint quoted     # P_LIT
    cdef object default  # P_VAR: the ${x:-default} text or None
    cdef list tree       # P_CMD, P_PROC; P_VAR, P_ARITH: the parts holding its substitutions


cdef inline _Part _lit(str text, bint quoted):
    cdef _Part p = _Part.__new__(_Part)
    p.kind = P_LIT
    p.text = text
    p.quoted = quoted
    return p


cdef _Part _new_tilde():
    cdef _Part p = _Part.__new__(_Part)
    p.kind = P_TILDE
    return p


cdef _Part _TILDE_PART = _new_tilde()


cdef list _segments_of(object word):
    # a word as _shell_shared's segments: unquoted literal text as str, other parts as is
    cdef _Part p
    cdef list out
    if type(word) is str:
        return [word]
    out = []
    for item in <list>word:
        p = <_Part>item
        if p.kind == P_LIT and not p.quoted:
            out.append(p.text)
        else:
            out.append(p)
    return out


def _segments_of_py(word):
    return _segments_of(word)


cdef object _brace_words(object word, bint loop=False):
    """The words bash's brace expansion makes of a parsed word, or None when it makes
    none (see _shell_shared.brace_expand)."""
    cdef _Part p
    cdef bint braces = False
    cdef list out, parts, w
    if type(word) is str:
        braces = str_has(<str>word, u"{")
    else:
        for item in <list>word:
            p = <_Part>item
            if p.kind == P_LIT and not p.quoted and str_has(p.text, u"{"):
                braces = True
                break
    if not braces:
        return None
    words = brace_expand(_segments_of(word), _TILDE_PART, loop)
    if words is None:
        return None
    out = []
    for w in words:
        if len(w) == 1 and type(w[0]) is str:
            out.append(w[0])
            continue
        parts = []
        for seg in w:
            parts.append(_lit(seg, False) if type(seg) is str else seg)
        out.append(parts)
    return out


cdef inline _Part _var(str name, object default, list subs):
    cdef _Part p = _Part.__new__(_Part)
    p.kind = P_VAR
    p.text = name
    p.default = default
    p.tree = subs
    return p


cdef inline _Part _sub(int kind, list tree):
    cdef _Part p = _Part.__new__(_Part)
    p.kind = kind
    p.tree = tree
    return p


# parse_list's stop markers for the `done` that closes a for loop's body and for the
# `;;` or `esac` that closes a case arm.
cdef Py_UCS4 _STOP_DONE = u'\x01'
cdef Py_UCS4 _STOP_ESAC = u'\x02'


@cython.final
@cython.no_gc
@cython.freelist(32)
cdef class _Cmd:
    # (readonly: what the shared handlers of _shell_shared read of a command)
    cdef readonly list words
    cdef list redirects             # [(op, word)], or None when there are none
    cdef readonly list sub          # tree of a subshell or group, or None
    cdef str funcdef                # function name when this defines a function, or None
    cdef str heredoc                # body text fed on stdin, or None
    cdef object herestring          # word fed on stdin, or None
    cdef readonly tuple loop        # (variable, words or None, body tree) of a for loop, or None
    cdef bint group                 # sub is a `{ ...; }` group, run by this same shell
    cdef list heredoc_subs          # command substitutions the shell runs in heredoc bodies, or None
    cdef _Part arith                # the P_ARITH part of a `(( ... ))` command or `for ((...))`, or None


cdef inline _Cmd _new_cmd():
    cdef _Cmd c = _Cmd.__new__(_Cmd)
    c.words = []
    return c


cdef inline bint _is_meta(Py_UCS4 c) noexcept:
    return (c == u' ' or c == u'\t' or c == u'\n' or c == u';' or c == u'&' or c == u'|'
            or c == u'(' or c == u')' or c == u'<' or c == u'>')


cdef inline bint _ends_command(Py_UCS4 c) noexcept:
    return c == u'\n' or c == u';' or c == u'&' or c == u'|' or c == u')'


cdef inline list _push(list parts, str text, bint quoted):
    # Append the pending literal, if any, creating the part list on first use.
    if parts is None:
        parts = []
    if text:
        parts.append(_lit(text, quoted))
    return parts


cdef inline str _lit_text(str s, list pieces, Py_ssize_t run, Py_ssize_t end):
    # The literal accumulated since the last part: pieces cut by escapes, then the
    # unescaped source run s[run:end].
    if pieces is None:
        if end > run:
            return s[run:end]
        return ""
    if end > run:
        pieces.append(s[run:end])
    return "".join(pieces)


# What a first word means to the parser, in one dict lookup instead of a chain of string
# comparisons: "function", clause headers, words dropped, other reserved words, "{".
cdef enum:
    KW_FUNCTION = 1
    KW_CLAUSE = 2
    KW_SKIP = 3
    KW_RESERVED = 4
    KW_GROUP = 5

cdef dict _KEYWORDS = {"function": KW_FUNCTION, "for": KW_CLAUSE, "select": KW_CLAUSE,
                       "case": KW_CLAUSE, "in": KW_SKIP, "esac": KW_SKIP, "{": KW_GROUP}
for _w in ("if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "}",
           "time", "coproc", "[[", "]]"):
    _KEYWORDS[_w] = KW_RESERVED


# ASCII characters that end a run of plain literal text in a word, and inside "...".
cdef unsigned char _WORD_STOP[128]
cdef unsigned char _DQUOTE_STOP[128]
for _c in range(128):
    _WORD_STOP[_c] = chr(_c) in " \t\n;&|()<>\\'\"`$~"
    _DQUOTE_STOP[_c] = chr(_c) in "\"\\`$"


cdef _Parser _new_parser(str src, int depth):
    if depth > C_MAX_DEPTH:
        raise LimitError(_DEPTH_MSG)
    cdef _Parser p = _Parser.__new__(_Parser)
    p.s = src
    p.n = len(src)
    p.i = 0
    p.kind = PyUnicode_KIND(src)
    p.data = PyUnicode_DATA(src)
    p.depth = depth
    p.braces = str_has(src, u"{")
    return p


@cython.final
@cython.no_gc
cdef class _Parser:
    cdef str s
    cdef Py_ssize_t n
    cdef Py_ssize_t i
    cdef int kind
    cdef void* data
    cdef int depth
    cdef bint braces   # the source holds a `{`: its words may need brace expansion
    cdef list pending  # [(cmd, delimiter, strip_tabs, expands)], or None

    cdef inline Py_UCS4 at(self, Py_ssize_t j) noexcept:
        return PyUnicode_READ(self.kind, self.data, j)

    cdef inline Py_ssize_t scan(self, Py_ssize_t i, const unsigned char* stop) noexcept:
        # Skip characters that are plain text (not in `stop`) from i on.
        cdef Py_ssize_t n = self.n
        cdef const Py_UCS1* p
        cdef Py_UCS4 c
        if self.kind == PyUnicode_1BYTE_KIND:
            p = <const Py_UCS1*>self.data
            while i < n and (p[i] >= 128 or not stop[p[i]]):
                i += 1
            return i
        while i < n:
            c = PyUnicode_READ(self.kind, self.data, i)
            if c < 128 and stop[c]:
                return i
            i += 1
        return i

    cdef int error(self, str msg) except -1:
        raise ShellError(AT_OFFSET_MSG % (msg, self.i))

    # -- lists, pipelines, commands
    cdef list parse_list(self, Py_UCS4 stop):
        cdef list tree = []
        cdef Py_UCS4 c
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                if stop:
                    if stop == _STOP_DONE:
                        self.error(UNCLOSED_MSG % "done")
                    if stop == _STOP_ESAC:
                        self.error(UNCLOSED_MSG % "esac")
                    self.error(UNCLOSED_MSG % chr(stop))
                return tree
            c = self.at(self.i)
            if c == u'\n':
                self.i += 1
                self.read_heredocs()
                continue
            if c == u';' or c == u'&':
                if (stop == _STOP_ESAC and c == u';' and self.i + 1 < self.n
                        and (self.at(self.i + 1) == u';' or self.at(self.i + 1) == u'&')):
                    # `;;` ends a case arm (`;&` and `;;&` fall through: all arms are judged)
                    self.i += 2
                    if self.i < self.n and self.at(self.i) == u'&':
                        self.i += 1
                    return tree
                self.i += 1
                continue
            if c == u'#':
                while self.i < self.n and self.at(self.i) != u'\n':
                    self.i += 1
                continue
            if c == u')':
                if stop == u')':
                    self.i += 1
                    return tree
                self.error(UNEXPECTED_CLOSE_MSG)
            if (stop == _STOP_DONE and c == u'd' and self.s.startswith("done", self.i)
                    and self.at_word_end(self.i + 4)):
                self.i += 4
                return tree
            if stop == u'}' and c == u'}' and self.at_word_end(self.i + 1):
                self.i += 1
                return tree
            if (stop == _STOP_ESAC and c == u'e' and self.s.startswith("esac", self.i)
                    and self.at_word_end(self.i + 4)):
                return tree
            tree.append(self.parse_pipeline(stop))
            if len(tree) > C_MAX_COMMANDS:
                raise LimitError(_LIST_MSG)
            self.skip_blanks()
            if self.i < self.n:
                c = self.at(self.i)
                if c == u'&' and self.i + 1 < self.n and self.at(self.i + 1) == u'&':
                    self.i += 2
                elif c == u'|' and self.i + 1 < self.n and self.at(self.i + 1) == u'|':
                    self.i += 2

    cdef inline bint at_word_end(self, Py_ssize_t j) noexcept:
        return j >= self.n or _is_meta(self.at(j))

    cdef list parse_pipeline(self, Py_UCS4 stop):
        cdef list pipe = [self.parse_command(stop)]
        while True:
            self.skip_blanks()
            if (self.i < self.n and self.at(self.i) == u'|'
                    and not (self.i + 1 < self.n and self.at(self.i + 1) == u'|')):
                self.i += 1
                if self.i < self.n and self.at(self.i) == u'&':
                    self.i += 1
                self.skip_blanks_newlines()
                pipe.append(self.parse_command(stop))
            else:
                return pipe

    cdef _Cmd parse_command(self, Py_UCS4 stop):
        cdef _Cmd cmd = _new_cmd()
        cdef Py_UCS4 c
        cdef Py_ssize_t start, k
        cdef object word, name, kw
        cdef int keyword
        cdef str text
        cdef bint digits
        cdef list leading = None   # leading_assignments' state (assignments are not brace-expanded)
        cdef object expanded
        self.skip_blanks()
        if self.i < self.n and self.at(self.i) == u'(':
            if self.i + 1 < self.n and self.at(self.i + 1) == u'(':
                end = arith_end(self.s, self.i)
                if end >= 0:
                    cmd.arith = self.arith_part(end)
                    return cmd
            self.i += 1
            cmd.sub = self.sub_list(u')')
            self.parse_redirects_only(cmd)
            return cmd
        if self.i < self.n and self.at(self.i) == u'{' and self.at_word_end(self.i + 1):
            self.i += 1
            cmd.sub = self.sub_list(u'}')
            cmd.group = True
            self.parse_redirects_only(cmd)
            return cmd
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                return cmd
            c = self.at(self.i)
            if _ends_command(c):
                if c == u'&' and self.i + 1 < self.n and self.at(self.i + 1) == u'>':
                    self.parse_redirect(cmd)
                    continue
                return cmd
            if stop == u'}' and c == u'}' and not cmd.words and self.at_word_end(self.i + 1):
                return cmd
            if c == u'(':
                if len(cmd.words) == 1 and self.peek_funcdef():
                    cmd.funcdef = _word_text(cmd.words[0])
                    cmd.words = []
                    self.skip_blanks_newlines()
                    body = self.sub_command(stop)
                    cmd.sub = [[body]]
                    return cmd
                self.error(UNEXPECTED_OPEN_MSG)
            if c == u'#':
                # a comment runs to the end of the line
                while self.i < self.n and self.at(self.i) != u'\n':
                    self.i += 1
                return cmd
            if ((c == u'<' or c == u'>')
                    and not (self.i + 1 < self.n and self.at(self.i + 1) == u'(')):
                self.parse_redirect(cmd)
                continue
            start = self.i
            word = self.parse_word()
            if self.i < self.n and self.i > start:
                c = self.at(self.i)
                if ((c == u'<' or c == u'>')
                        and not (self.i + 1 < self.n and self.at(self.i + 1) == u'(')):
                    # `2>file`: a word of digits right before the operator is its fd
                    digits = True
                    for k in range(start, self.i):
                        if not Py_UNICODE_ISDIGIT(self.at(k)):
                            digits = False
                            break
                    if digits:
                        self.parse_redirect(cmd)
                        continue
            # reserved words are unquoted literals
            if not cmd.words and type(word) is str:
                kw = _KEYWORDS.get(word)
                if kw is not None:
                    keyword = kw
                    text = <str>word
                    if keyword == KW_FUNCTION:
                        self.skip_blanks()
                        name = self.parse_word()
                        self.skip_blanks()
                        if (self.i + 1 < self.n and self.at(self.i) == u'('
                                and self.at(self.i + 1) == u')'):
                            self.i += 2
                        self.skip_blanks_newlines()
                        cmd.funcdef = _word_text(name)
                        cmd.sub = [[self.sub_command(stop)]]
                        return cmd
                    if keyword == KW_CLAUSE:
                        if text != "case":
                            return self.parse_for(cmd)
                        return self.parse_case(cmd)
                    if keyword == KW_GROUP:
                        cmd.sub = self.sub_list(u'}')
                        cmd.group = True
                        return cmd
                    if text == "time":
                        self.skip_blanks()
                        if (self.i + 1 < self.n and self.at(self.i) == u'-'
                                and self.at(self.i + 1) == u'p' and self.at_word_end(self.i + 2)):
                            self.i += 2
                    continue
            expanded = _brace_words(word) if self.braces else None
            if expanded is None:
                cmd.words.append(word)
            elif assigns(_segments_of(word)):
                if leading is None:
                    leading = [0, True]     # made when first asked (most commands never are)
                if leading_assignments(cmd.words, leading, _segments_of_py):
                    cmd.words.append(word)
                else:
                    cmd.words.extend(expanded)
            else:
                cmd.words.extend(expanded)

    cdef bint peek_funcdef(self) except -1:
        cdef Py_ssize_t j = funcdef_end(self.s, self.i)
        if j < 0:
            return False
        self.i = j
        return True

    cdef _Cmd parse_for(self, _Cmd cmd):
        # `for NAME [in WORDS]; do BODY; done`: the body is kept with the loop so that
        # it can be judged once per word.
        cdef str name = ""
        cdef list words = None
        cdef Py_UCS4 c
        cdef object word, expanded
        self.skip_blanks()
        if self.s.startswith("((", self.i):
            end = arith_end(self.s, self.i)      # for ((i = 0; i < n; i++)): no list to bind
            if end < 0:
                self.error(ARITH_FOR_MSG)
            cmd.arith = self.arith_part(end)
        elif self.i < self.n and not _is_meta(self.at(self.i)):
            name = _word_text(self.parse_word())
        self.skip_blanks()
        if self.s.startswith("in", self.i) and self.at_word_end(self.i + 2):
            self.i += 2
            words = []
            while True:
                self.skip_blanks()
                if self.i >= self.n:
                    break
                c = self.at(self.i)
                if (c == u';' or c == u'\n' or c == u'&' or c == u'|' or c == u')'
                        or c == u'(' or c == u'<' or c == u'>'):
                    break
                word = self.parse_word()
                expanded = _brace_words(word, True) if self.braces else None
                if expanded is None:
                    words.append(word)
                else:
                    words.extend(expanded)
        while self.i < self.n:
            c = self.at(self.i)
            if c == u' ' or c == u'\t' or c == u';' or c == u'\n':
                self.i += 1
            else:
                break
        if not (self.s.startswith("do", self.i) and self.at_word_end(self.i + 2)):
            self.error(FOR_DO_MSG)
        self.i += 2
        cmd.loop = (name, words, self.sub_list(_STOP_DONE))
        self.parse_redirects_only(cmd)
        return cmd

    cdef _Cmd parse_case(self, _Cmd cmd):
        # `case WORD in PATTERN) LIST ;; ... esac`: the word and the patterns are data;
        # the commands of every arm run as one group. The word and the patterns are
        # expanded first, so their substitutions run: judged as the words of a `:`.
        cdef list tree = []
        cdef list words = []
        cdef bint expands = False
        cdef object w
        cdef _Part part
        cdef _Cmd probe
        cdef Py_UCS4 c
        self.skip_blanks()
        if self.i < self.n and not _is_meta(self.at(self.i)):
            words.append(self.parse_word())
        self.skip_blanks_newlines()
        if not (self.s.startswith("in", self.i) and self.at_word_end(self.i + 2)):
            self.error(CASE_IN_MSG)
        self.i += 2
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                self.error(UNCLOSED_MSG % "esac")
            c = self.at(self.i)
            if c == u'\n':
                self.i += 1
                self.read_heredocs()
                continue
            if c == u'e' and self.s.startswith("esac", self.i) and self.at_word_end(self.i + 4):
                self.i += 4
                break
            if c == u'(':
                self.i += 1
            while True:
                self.skip_blanks()
                if self.i >= self.n:
                    self.error(CASE_PAREN_MSG)
                c = self.at(self.i)
                if c == u')':
                    self.i += 1
                    break
                if c == u'|':
                    self.i += 1
                    continue
                if _is_meta(c):
                    self.error(CASE_PATTERN_MSG % chr(c))
                words.append(self.parse_word())
            tree.extend(self.parse_list(_STOP_ESAC))
            if len(tree) > C_MAX_COMMANDS:
                raise LimitError(_LIST_MSG)
        for w in words:
            if type(w) is not str:
                for part in <list>w:
                    if (part.kind == P_CMD or part.kind == P_PROC
                            or (part.kind == P_VAR or part.kind == P_ARITH) and part.tree):
                        expands = True
        if expands:
            probe = _new_cmd()
            probe.words = [":"] + words
            tree.insert(0, [probe])
        cmd.sub = tree
        self.parse_redirects_only(cmd)
        return cmd

    cdef _Part arith_part(self, Py_ssize_t end):
        # At `((` of an arithmetic expression ending at end (see the reference).
        cdef Py_ssize_t start = self.i + 2
        cdef list subs = None
        cdef _Part p
        if runs_commands(self.s, start, end - 2):
            self.i = start
            subs = self.scan_subs(end - 2, False)
        self.i = end
        p = _Part.__new__(_Part)
        p.kind = P_ARITH
        p.text = self.s[start:end - 2]
        p.tree = subs
        return p

    cdef list scan_subs(self, Py_ssize_t end, bint brace):
        # The parts of s[i:end] that run commands when expanded as double-quoted text
        # (see the reference); with brace, stops on the `}` closing a ${...}.
        cdef list parts = []
        cdef Py_ssize_t depth = 0
        cdef Py_UCS4 c
        cdef _Part part
        self.enter()        # substitutions nest: ${a:-${b:-$(( $(...) ))}}
        while self.i < end:
            c = self.at(self.i)
            if c == u'\\':
                self.i += 2
            elif c == u'`':
                parts.append(self.parse_backtick())
            elif c == u'$':
                part = self.parse_dollar()
                if part is None:
                    self.i += 1
                elif part.kind == P_CMD or ((part.kind == P_VAR or part.kind == P_ARITH)
                                            and part.tree):
                    parts.append(part)
            elif brace and c == u'{':
                depth += 1
                self.i += 1
            elif brace and c == u'}':
                if depth == 0:
                    self.depth -= 1
                    return parts
                depth -= 1
                self.i += 1
            else:
                self.i += 1
        if brace:
            self.error(BRACE_MSG)
        self.depth -= 1
        return parts

    cdef int parse_redirects_only(self, _Cmd cmd) except -1:
        cdef Py_ssize_t j
        cdef Py_UCS4 c
        while True:
            self.skip_blanks()
            if self.i < self.n:
                c = self.at(self.i)
                if c == u'<' or c == u'>' or Py_UNICODE_ISDIGIT(c):
                    j = self.i
                    while j < self.n and Py_UNICODE_ISDIGIT(self.at(j)):
                        j += 1
                    if j < self.n and (self.at(j) == u'<' or self.at(j) == u'>'):
                        self.i = j
                        self.parse_redirect(cmd)
                        continue
            return 0

    cdef int parse_redirect(self, _Cmd cmd) except -1:
        cdef str op, raw
        cdef object target
        cdef Py_ssize_t start
        cdef str token = redirect_token(self.s, self.i)
        op = <str>_REDIRECT_OPS[token]
        self.i += len(token)
        self.skip_blanks()
        if self.i >= self.n or _ends_command(self.at(self.i)):
            self.error(REDIRECT_MSG)
        start = self.i
        target = self.parse_word()
        if op == "<<" or op == "<<-":
            if self.pending is None:
                self.pending = []
            # a delimiter without quotes or backslashes: the body is expanded
            raw = self.s[start:self.i]
            self.pending.append((cmd, _word_text(target), op == "<<-",
                                 not ("'" in raw or '"' in raw or "\\" in raw)))
        elif op == "<<<":
            cmd.herestring = target
        elif op == "<&":
            return 0
        else:
            if cmd.redirects is None:
                cmd.redirects = []
            cmd.redirects.append((op, target))
        return 0

    cdef int read_heredocs(self) except -1:
        cdef _Cmd cmd
        cdef str delim
        cdef bint strip, expands
        cdef list subs
        if self.pending is None:
            return 0
        for cmd, delim, strip, expands in self.pending:
            cmd.heredoc, self.i = heredoc_body(self.s, self.i, delim, strip)
            if expands and ("$" in cmd.heredoc or "`" in cmd.heredoc):
                subs = self.heredoc_subs(cmd.heredoc)
                if subs:
                    cmd.heredoc_subs = (cmd.heredoc_subs or []) + subs
        self.pending = None
        return 0

    cdef list heredoc_subs(self, str body):
        # The command substitutions of an unquoted heredoc body (see the reference).
        cdef _Parser p = _new_parser(body, self.depth)
        cdef list subs = p.scan_subs(p.n, False)
        cdef str name
        for name in secret_refs(body):
            subs.append(_var(name, None, None))
        return subs

    cdef void skip_blanks(self) noexcept:
        cdef Py_UCS4 c
        while self.i < self.n:
            c = self.at(self.i)
            if c == u' ' or c == u'\t':
                self.i += 1
            elif c == u'\\' and self.i + 1 < self.n and self.at(self.i + 1) == u'\n':
                self.i += 2
            else:
                return

    cdef void skip_blanks_newlines(self) noexcept:
        while True:
            self.skip_blanks()
            if self.i < self.n and self.at(self.i) == u'\n':
                self.i += 1
            else:
                return

    # -- words
    cdef object parse_word(self):
        cdef str s = self.s
        cdef list parts = None
        cdef list pieces = None
        cdef Py_ssize_t start = self.i
        cdef Py_ssize_t run = self.i
        cdef Py_ssize_t j, dollar
        cdef Py_UCS4 c, d
        cdef str text
        cdef _Part part
        while self.i < self.n:
            self.i = self.scan(self.i, _WORD_STOP)
            if self.i >= self.n:
                break
            c = self.at(self.i)
            if c == u' ' or c == u'\t' or _ends_command(c) or c == u'(':
                break
            if c == u'<' or c == u'>':
                if self.i + 1 < self.n and self.at(self.i + 1) == u'(':
                    parts = _push(parts, _lit_text(s, pieces, run, self.i), False)
                    pieces = None
                    self.i += 2
                    parts.append(_sub(P_PROC, self.sub_list(u')')))
                    run = self.i
                    continue
                break
            if c == u'\\':
                if pieces is None:
                    pieces = []
                if self.i > run:
                    pieces.append(s[run:self.i])
                if self.i + 1 < self.n:
                    d = self.at(self.i + 1)
                    if d != u'\n':
                        pieces.append(chr(d))
                    self.i += 2
                else:
                    self.i += 1
                run = self.i
                continue
            if c == u"'":
                j = s.find("'", self.i + 1)
                if j < 0:
                    self.error(SQUOTE_MSG)
                parts = _push(parts, _lit_text(s, pieces, run, self.i), False)
                pieces = None
                parts.append(_lit(s[self.i + 1:j], True))
                self.i = j + 1
                run = self.i
                continue
            if c == u'"':
                parts = _push(parts, _lit_text(s, pieces, run, self.i), False)
                pieces = None
                self.i += 1
                self.parse_dquoted(parts)
                run = self.i
                continue
            if c == u'`':
                parts = _push(parts, _lit_text(s, pieces, run, self.i), False)
                pieces = None
                parts.append(self.parse_backtick())
                run = self.i
                continue
            if c == u'$':
                if self.i + 1 < self.n and self.at(self.i + 1) == u"'":
                    parts = _push(parts, _lit_text(s, pieces, run, self.i), False)
                    pieces = None
                    text, self.i = ansi_c(self.s, self.i)
                    parts.append(_lit(text, True))
                    run = self.i
                    continue
                dollar = self.i
                part = self.parse_dollar()
                if part is not None:
                    parts = _push(parts, _lit_text(s, pieces, run, dollar), False)
                    pieces = None
                    parts.append(part)
                    run = self.i
                    continue
                # a literal '$' continues the run
                self.i += 1
                continue
            if c == u'~' and self.i == start:
                self.i += 1
                self.i = name_end(s, self.i)
                part = _Part.__new__(_Part)
                part.kind = P_TILDE
                parts = [part]
                run = self.i
                continue
            self.i += 1
        text = _lit_text(s, pieces, run, self.i)
        if parts is None:
            return text
        if text:
            parts.append(_lit(text, False))
        return parts

    cdef int parse_dquoted(self, list parts) except -1:
        cdef str s = self.s
        cdef list pieces = None
        cdef Py_ssize_t run = self.i
        cdef Py_ssize_t dollar
        cdef Py_UCS4 c, nxt
        cdef str text
        cdef _Part part
        while True:
            self.i = self.scan(self.i, _DQUOTE_STOP)
            if self.i >= self.n:
                self.error(DQUOTE_MSG)
            c = self.at(self.i)
            if c == u'"':
                text = _lit_text(s, pieces, run, self.i)
                self.i += 1
                break
            if c == u'\\' and self.i + 1 < self.n:
                nxt = self.at(self.i + 1)
                if nxt == u'$' or nxt == u'`' or nxt == u'"' or nxt == u'\\' or nxt == u'\n':
                    if pieces is None:
                        pieces = []
                    if self.i > run:
                        pieces.append(s[run:self.i])
                    if nxt != u'\n':
                        pieces.append(chr(nxt))
                    self.i += 2
                    run = self.i
                else:
                    # any other escape stays as written: the run goes on
                    self.i += 2
                continue
            if c == u'`':
                text = _lit_text(s, pieces, run, self.i)
                if text:
                    parts.append(_lit(text, True))
                pieces = None
                parts.append(self.parse_backtick())
                run = self.i
                continue
            if c == u'$':
                dollar = self.i
                part = self.parse_dollar()
                if part is not None:
                    text = _lit_text(s, pieces, run, dollar)
                    if text:
                        parts.append(_lit(text, True))
                    pieces = None
                    parts.append(part)
                    run = self.i
                    continue
                self.i += 1
                continue
            self.i += 1
        parts.append(_lit(text, True))
        return 0

    cdef _Part parse_dollar(self):
        """At '$': return a part, or None when the '$' is literal."""
        cdef str s = self.s
        cdef Py_ssize_t j = self.i + 1
        cdef Py_ssize_t k
        cdef Py_UCS4 c
        cdef str name
        cdef object default
        cdef list subs = None
        if j >= self.n:
            return None
        c = self.at(j)
        if c == u'(':
            if j + 1 < self.n and self.at(j + 1) == u'(':
                self.i = j
                end = arith_end(self.s, self.i)
                if end >= 0:
                    return self.arith_part(end)
            self.i = j + 1
            return _sub(P_CMD, self.sub_list(u')'))
        if c == u'{':
            k = s.find("}", j + 1)
            if k < 0:
                self.error(BRACE_MSG)
            if runs_commands(s, j + 1, k) or s.find("{", j + 1, k) >= 0:
                # the operand holds a substitution or a brace: find the `}` that closes
                self.i = j + 1
                subs = self.scan_subs(self.n, True)
                k = self.i
            self.i = k + 1
            name, default = var_operand(s, j + 1, k, bool(subs))
            return _var(name, default, subs)
        if is_name_char(c) and not (c >= u'0' and c <= u'9'):
            self.i = name_end(s, j)
            return _var(s[j:self.i], None, None)
        if is_special_var(c):
            self.i = j + 1
            return _var(chr(c), None, None)
        return None

    cdef _Part parse_backtick(self):
        cdef str text
        text, self.i = backtick_text(self.s, self.i)
        return _sub(P_CMD, _new_parser(text, self.depth + 1).parse_list(0))

    # Substitutions, subshells, groups and function bodies all recurse, so all of them
    # count towards MAX_DEPTH: `( ( ( ...` must not exhaust the stack.
    cdef int enter(self) except -1:
        if self.depth + 1 > C_MAX_DEPTH:
            raise LimitError(_DEPTH_MSG)
        self.depth += 1
        return 0

    cdef list sub_list(self, Py_UCS4 stop):
        self.enter()
        cdef list tree = self.parse_list(stop)
        self.depth -= 1
        return tree

    cdef _Cmd sub_command(self, Py_UCS4 stop):
        self.enter()
        cdef _Cmd cmd = self.parse_command(stop)
        self.depth -= 1
        return cmd


cdef str _word_text(object word):
    cdef _Part p
    cdef list buf
    if type(word) is str:
        return <str>word
    if len(<list>word) == 1:
        p = word[0]
        if p.kind == P_LIT:
            return p.text
    buf = []
    for p in <list>word:
        if p.kind == P_LIT:
            buf.append(p.text)
        elif p.kind == P_TILDE:
            buf.append("~")
        else:
            buf.append(_DYN)
    return "".join(buf)


# ASCII characters of a plain command line: words of these, separated by blanks, are
# unquoted literals with nothing to expand and no operator between them.
cdef unsigned char _PLAIN[128]
for _c in range(128):
    _PLAIN[_c] = chr(_c).isalnum() or chr(_c) in " \t-_./,:=+@%^"


cdef list _parse_plain(str src, int depth):
    # The tree of a plain line (one command of its words), or None when the line needs
    # the parser. Most agent commands are plain; this skips the parser's objects.
    cdef Py_ssize_t n = len(src), k
    cdef const Py_UCS1* p
    cdef list words
    cdef _Cmd cmd
    if depth > C_MAX_DEPTH or PyUnicode_KIND(src) != PyUnicode_1BYTE_KIND:
        return None
    p = <const Py_UCS1*>PyUnicode_DATA(src)
    for k in range(n):
        if p[k] >= 128 or not _PLAIN[p[k]]:
            return None
    words = src.split()
    if not words:
        return []
    if words[0] in _KEYWORDS:
        return None
    cmd = _Cmd.__new__(_Cmd)
    cmd.words = words
    return [[cmd]]


cdef list _parse(str src, int depth):
    """Parse a command line into a tree (list of pipelines of _Cmd)."""
    cdef list tree = _parse_plain(src, depth)
    cdef _Parser p
    if tree is not None:
        return tree
    p = _new_parser(src, depth)
    tree = p.parse_list(0)
    if p.pending is not None:
        p.read_heredocs()
    return tree


# ---------------------------------------------------------------- interpretation

cdef frozenset _SHELLS = SHELLS
cdef dict _SQL_FLAGS = SQL_FLAGS
cdef dict _CODE_FLAGS = CODE_FLAGS


cdef inline bint _is_assignment(str word) except -1:
    return _assignment_eq(word) >= 0


@cython.final
@cython.no_gc
cdef class _Work:
    # What one analysis has spent, shared by every context of it.
    cdef Py_ssize_t chars
    cdef Py_ssize_t args
    cdef public Py_ssize_t passes   # (public: the shared handlers count parallel's jobs)
    cdef public list writes         # the commands that write files (_shell_shared.run_written)
    cdef public set env_seen        # line variables judged (_shell_shared.command_env)
    cdef bint fetch                 # a program of _FETCH_KIND was run (analyze's gate)


@cython.final
@cython.no_gc
@cython.freelist(16)
cdef class _Ctx:
    # (public: the attributes the shared handlers of _shell_shared read and set)
    cdef public dict env      # None until the first assignment
    cdef public str cwd
    cdef object home
    cdef readonly int depth
    cdef public str origin
    cdef public list out
    cdef public bint sudo
    cdef public dict funcs
    cdef public _Work work
    cdef tuple dirs    # the pushd stack, most recent first
    cdef public dict aliases  # name -> text (None while it is being expanded)

    cpdef _Ctx child(self, str origin, int depth_inc):
        cdef _Ctx c = _Ctx.__new__(_Ctx)
        c.cwd = self.cwd
        c.home = self.home
        c.depth = self.depth + depth_inc
        c.origin = origin
        c.out = self.out
        c.sudo = self.sudo
        c.env = self.env.copy() if self.env is not None else None
        c.funcs = self.funcs
        c.work = self.work
        c.dirs = self.dirs
        c.aliases = self.aliases
        if c.depth > C_MAX_DEPTH:
            raise LimitError(_DEPTH_MSG)
        return c

    cdef inline void assign(self, str name, str value):
        if self.env is None:
            self.env = {}
        self.env[name] = value


cdef int _charge(_Work work, Py_ssize_t n) except -1:
    work.chars += n
    if work.chars > C_MAX_WORK:
        raise LimitError(WORK_MSG)
    return 0


cdef str _expand(object word, _Ctx ctx, bint* dynamic, list sources):
    """The value of a word. Sets dynamic[0] when it held unknowns; when sources is not
    None, appends the programs whose output it contains (for `sh -c "$(curl ...)"`)."""
    cdef _Part p
    cdef list buf
    cdef str name
    cdef object value, piece
    cdef _Ctx inner
    cdef list progs
    cdef Py_ssize_t size = 0
    cdef bint sub_dyn = False
    if type(word) is str:
        _charge(ctx.work, len(<str>word))
        return <str>word
    if len(<list>word) == 1:
        p = (<list>word)[0]
        if p.kind == P_LIT:
            _charge(ctx.work, len(p.text))
            return p.text
    buf = []
    for p in <list>word:
        if p.kind == P_LIT:
            buf.append(p.text)
        elif p.kind == P_TILDE:
            buf.append("~")
        elif p.kind == P_VAR:
            name = p.text
            if p.tree:
                _expand(p.tree, ctx, &sub_dyn, None)    # the operand's substitutions run
            if name == "HOME":
                buf.append("~")
            else:
                value = ctx.env.get(name, ctx) if ctx.env is not None else ctx
                if value is not ctx:
                    buf.append(value)
                    if DYN_MARK + name in ctx.env:
                        dynamic[0] = True   # assigned a value holding an unknown
                elif (name.startswith("!") and len(name) > 1 and ctx.env is not None
                        and ctx.env.get(name[1:]) in ctx.env):
                    buf.append(ctx.env[ctx.env[name[1:]]])      # ${!name}: indirection
                elif name == "PWD":
                    buf.append(ctx.cwd)
                elif name == "TMPDIR":
                    buf.append(TMPDIR_ROOT)
                elif p.default is not None:
                    buf.append(p.default)
                else:
                    buf.append(unknown_var(name))
                    dynamic[0] = True
        elif p.kind == P_ARITH:
            run_arith(_K, p.text, p.tree, ctx, None)
            buf.append(_DYN)
        else:
            inner = ctx.child("$()" if p.kind == P_CMD else "<()", 0)
            before = len(ctx.out)
            progs = _interpret(p.tree, inner, sources is not None)
            if sources is not None:
                sources.extend(progs)
            if p.kind == P_PROC:
                buf.append(proc_path(ctx.out, before))
                continue
            value = _static_output(p.tree, ctx)
            if value is None:
                buf.append(_DYN)
                dynamic[0] = True
            else:
                buf.append((<str>value).rstrip("\n"))
    for piece in buf:   # before joining: `$a$a$a...` must not allocate first
        size += len(<str>piece)
    if size > C_MAX_WORD:
        raise LimitError(WORD_MSG)
    _charge(ctx.work, size)
    return "".join(buf)


cdef list _static_argv(_Cmd cmd, _Ctx ctx):
    cdef list out = []
    cdef object w
    cdef _Part p
    cdef bint dyn = False
    cdef str value
    if cmd.sub is not None or cmd.funcdef is not None or cmd.loop is not None:
        return None
    for w in cmd.words:
        if type(w) is not str:
            for p in <list>w:
                if p.kind == P_CMD or p.kind == P_PROC or (
                        (p.kind == P_VAR or p.kind == P_ARITH) and p.tree):
                    return None     # (expanding it would run, and emit, its commands again)
        value = _expand(w, ctx, &dyn, None)
        if dyn:
            return None
        out.append(value)
    return out


cdef object _static_output(list tree, _Ctx ctx):
    if len(tree) != 1:
        return None
    cdef list pipe = tree[0]
    return _static_output_pipe(pipe, len(pipe), ctx)


cdef tuple _B64_DECODE = B64_DECODE
cdef frozenset _HELP_TRIGGERS = HELP_TRIGGERS
# The few help triggers as a tuple: the last argument of most commands (a path, a name,
# a value) differs from each in length, which str_eq answers without hashing it for a
# set lookup.
cdef tuple _HELP_TUPLE = tuple(sorted(_HELP_TRIGGERS))


cdef inline bint _help_trigger(str a) except -1:
    # a in _HELP_TRIGGERS
    cdef str t
    for t in _HELP_TUPLE:
        if str_eq(a, t):
            return True
    return False


cdef tuple _ENV_LISTERS = ENV_LISTERS


cdef object _static_output_pipe(list pipe, Py_ssize_t upto, _Ctx ctx):
    """The text the first `upto` commands of a pipeline print, when it is computable
    without running anything (echo/printf of literals, through base64 -d, xxd -r -p,
    rev), else None."""
    cdef object text = None
    cdef Py_ssize_t k
    cdef _Cmd cmd
    cdef list argv, args
    cdef str prog, a
    cdef bint dyn
    cdef str hs
    for k in range(upto):
        cmd = pipe[k]
        argv = _static_argv(cmd, ctx)
        if not argv:
            return None
        prog = _program_name(argv[0])
        args = argv[1:]
        if k > 0:
            text = filtered_text(prog, args, text)
        else:
            text = printed_text(prog, args, ctx.cwd, cmd.heredoc, argv[0])
            if text is None and cmd.herestring is not None and str_eq(prog, "base64"):
                for a in args:
                    if a in _B64_DECODE:
                        break
                else:
                    return None
                dyn = False
                hs = _expand(cmd.herestring, ctx, &dyn, None)
                if dyn:
                    return None
                text = _decode_b64(hs)
        if text is None:
            return None
    return text


# What a program name means to the interpreter, in one dict lookup instead of a chain of
# string comparisons and set lookups: its class (PC_MASK's bits) and flags above them
# (PF_*), which stand for the set lookups _run_argv makes of every command.
cdef enum:
    PC_DECLARE = 1   # export, declare, ... (first word only)
    PC_CD = 2        # cd, pushd, popd (first word only)
    PC_WRAPPER = 3   # _WRAPPERS and busybox: unwrap before anything else
    PC_EVAL = 4
    PC_SU = 5
    PC_CODE = 6      # a key of _CODE_FLAGS
    PC_SQL = 7
    PC_FIND = 8
    PC_SSH = 9
    PC_EXEC = 10
    PC_MASK = 15
    PF_SHELL = 16    # a key of _SHELLS
    PF_SIDE = 32     # a key of _SIDE_PROGRAMS (it may do something on the side)
    PF_LINE = 64     # builtin, command, alias, unalias, printf, let: read by _interpret_cmd
    PF_FETCH = 128   # a key of _FETCH_KIND (it may fetch: analyze's download-then-run reader)

cdef dict _PROG_CLASS = {"cd": PC_CD, "pushd": PC_CD, "popd": PC_CD, "busybox": PC_WRAPPER,
                         "eval": PC_EVAL, "su": PC_SU, "runuser": PC_SU, "find": PC_FIND,
                         "ssh": PC_SSH}
for _w in ("docker", "podman", "nerdctl", "docker-compose", "podman-compose", "kubectl", "oc"):
    _PROG_CLASS[_w] = PC_EXEC
for _w in ("export", "declare", "typeset", "local", "readonly"):
    _PROG_CLASS[_w] = PC_DECLARE
for _w in _CODE_FLAGS:
    _PROG_CLASS[_w] = PC_CODE
for _w in _SQL_FLAGS:
    _PROG_CLASS[_w] = PC_SQL


cdef inline int _prog_class(str prog) except -1:
    cdef object k = _PROG_CLASS.get(prog)
    return 0 if k is None else k


# wrapper -> (options taking a value, positional count consumed before the wrapped command)
cdef dict _WRAPPERS = WRAPPERS
for _w in _WRAPPERS:
    _PROG_CLASS[_w] = PC_WRAPPER


cdef list _split_words(str text):
    """Split an `env -S` string into words (quotes honoured, nothing expanded). A string
    that is not one simple command to the shell's parser (env would pass `;`, `(` and
    the like on as words) cannot be split with confidence: ShellError."""
    cdef list tree = _parse(text, C_MAX_DEPTH)
    cdef _Cmd cmd
    cdef object w
    if len(tree) == 1 and len(<list>tree[0]) == 1:
        cmd = <_Cmd>(<list>tree[0])[0]
        if (cmd.sub is None and not cmd.redirects and cmd.loop is None and cmd.funcdef is None
                and cmd.heredoc is None and cmd.herestring is None):
            return [_word_text(w) for w in cmd.words]
    raise ShellError(ENV_SPLIT_MSG % text[:80])


def _k_split(str text):
    return _split_words(text)


cdef inline tuple _unwrap(list argv, _Ctx ctx, dict env):
    """Peel wrappers off argv (_shell_shared.unwrap, a C call into its compiled build).
    Returns (argv, sudo, cwd, xargs_mode, bare, xargs_file)."""
    return unwrap(argv, ctx.cwd, env, _k_split)


cdef inline tuple _as_tuple(list items):
    return tuple(items) if items is not None else ()


cdef SimpleCommand _emit(_Ctx ctx, SimpleCommand cmd):
    cdef _Work work = ctx.work
    if len(ctx.out) >= C_MAX_COMMANDS:
        raise LimitError(COMMANDS_MSG)
    work.args += len(cmd.args) + len(cmd.redirects)
    if work.args > C_MAX_ARGS:
        raise LimitError(ARGS_MSG)
    ctx.out.append(cmd)
    return cmd


cdef SimpleCommand _run_argv(str first, list args, bint dynamic, list redirects, _Ctx ctx,
                             dict env, bint sudo_in, str origin, object stdin_code,
                             list sources, str prog, int cls, bint first_assign):
    """Emit the simple command(s) an argv ([first] + args) runs. Returns the main
    SimpleCommand or None. args becomes the SimpleCommand's own list; sources may be
    None for no sources; prog, cls and first_assign are program_name(first), its
    class and _is_assignment(first)."""
    cdef bint sudo = False
    cdef str cwd = ctx.cwd
    cdef object xargs = None
    cdef bint bare = False
    cdef bint xfile = False
    cdef list items, inner
    cdef object item
    cdef Py_ssize_t size, holes
    cdef SimpleCommand main
    cdef str a, family
    cdef str word = first           # the program as the command names it
    cdef list argv
    cdef tuple unwrapped, flags
    cdef object body
    cdef SimpleCommand sc
    cdef Py_ssize_t k
    # Most commands have no wrapper and no VAR=x prefix: skip the unwrapping loop.
    if (cls & PC_MASK) == PC_WRAPPER or first_assign:
        unwrapped = _unwrap([first] + args, ctx, env)
        argv = unwrapped[0]
        sudo = unwrapped[1]
        cwd = unwrapped[2]
        xargs = unwrapped[3]
        bare = unwrapped[4]
        xfile = unwrapped[5]
        if not argv:
            return None
        word = argv[0]
        prog = _program_name(word)
        cls = _prog_class(prog)
        args = argv[1:]
    cdef int pflags = cls & ~PC_MASK
    cls = cls & PC_MASK
    if pflags & PF_FETCH:
        ctx.work.fetch = True
    sudo = sudo or sudo_in or ctx.sudo
    if xargs is not None:
        origin = "xargs"
        # (-0 and -d: see the reference)
        items = (<str>stdin_code).replace("\0", " ").split() if stdin_code and not xfile else []
        if not items:
            dynamic = True
            if xargs:
                args = [a.replace(xargs, _DYN) for a in args]
            else:
                args.append(_DYN)
        elif xargs:
            # -I: one command per input item
            # (each command's size is charged before it is built: see the reference)
            main = None
            size = sum([len(a) for a in args])
            holes = sum([a.count(xargs) for a in args])
            for item in items:
                _charge(ctx.work, size + holes * (len(item) - len(xargs)))
                inner = [a.replace(xargs, item) for a in args]
                main = _run_argv(argv[0], inner, False, redirects, ctx, dict(env), sudo, origin,
                                 None, sources, _program_name(argv[0]),
                                 _prog_class(_program_name(argv[0])), _is_assignment(argv[0]))
            return main
        else:
            args.extend(items)
    if not bare and ctx.aliases and ctx.aliases.get(prog) is not None:
        run_alias(_K, prog, args, dynamic, redirects, ctx, sudo)
        return None
    if not bare and str_eq(prog, "parallel"):
        if run_parallel(_K, args, ctx, stdin_code, sudo, cwd):
            return None
    if ctx.env and prog in VAR_CHANGERS:
        forget_vars(prog, args, ctx.env)
    if not bare and ctx.funcs and prog in ctx.funcs:
        body = ctx.funcs[prog]
        if body is not None:
            run_function(_K, prog, body, args, dynamic, ctx)
        return None
    if args and (_help_trigger(<str>args[len(args) - 1]) or str_eq(<str>args[0], "help")) \
            and help_request(prog, args, word, env, ctx.env):
        # judged as a help request: the (help) pseudo-program, its redirects kept
        return _emit(ctx, _new_sc("(help)", [prog], cwd, sudo, env, redirects, origin, "", dynamic))
    sc = _new_sc(prog, args, cwd, sudo, env, redirects, origin, "", dynamic)
    if "/" in word:
        sc.path = word
        run_program_path(_K, ctx, word, cwd, ctx.home, sudo, origin)
    elif env or ctx.env:
        run_path_lookup(_K, ctx, word, env, ctx.env, cwd, ctx.home, sudo, origin)
    cdef dict cenv = command_env(env, ctx.env, _COMMAND_ENV, ctx.work) if ctx.env else env

    if pflags & PF_SHELL and not str_eq(prog, "busybox"):
        if cenv and not _COMMAND_ENV.isdisjoint(cenv):
            # (BASH_ENV, ENV: a file of code the shell reads first)
            _side(sc, ctx, env_commands(cenv))
        k = _shell_code_arg(args)
        if k >= 0:
            return run_shell_code(_K, sc, args[k], ctx, dynamic, sources)
        k = _shell_script_arg(args)
        if k < 0:
            sc.code = stdin_code or ""
        elif (<str>args[k]).startswith("/dev/fd/") and sources:
            sc.code_from = _as_tuple(sources)
        if not sc.code_from:
            run_script_path(_K, ctx, prog, args, k, redirects, cwd, ctx.home, sudo, origin)
        return _emit(ctx, sc)
    if str_eq(prog, "source") or str_eq(prog, "."):
        if args and (<str>args[0]).startswith("/dev/fd/") and sources:
            sc.code_from = _as_tuple(sources)
        elif args:
            run_script_path(_K, ctx, prog, args, 0, redirects, cwd, ctx.home, sudo, origin)
        return _emit(ctx, sc)
    if cls == PC_EVAL:
        return run_eval(_K, sc, ctx, dynamic, sources)
    if cls == PC_SU:
        return run_su(_K, sc, ctx)
    family = _interp_family(prog)
    flags = None
    if family is not prog:
        flags = _CODE_FLAGS.get(family)
    elif cls == PC_CODE:
        flags = _CODE_FLAGS[family]
    if flags is not None:
        k, args = find_code(family, flags, args)
        sc.args = args
        if k >= 0:
            sc.code = args[k]
            if dynamic and sources:
                sc.code_from = _as_tuple(sources)
            emit_inline(_K, family, args[k], ctx, sudo, env, cwd)
        else:
            k = _interp_script_arg(family, args)
            if k < 0:
                sc.code = stdin_code or ""
                if stdin_code:
                    emit_inline(_K, family, stdin_code, ctx, sudo, env, None)
            elif (<str>args[k]).startswith("/dev/fd/") and sources:
                sc.code_from = _as_tuple(sources)
            run_script_path(_K, ctx, family, args, k, redirects, cwd, ctx.home, sudo, origin)
        main = _emit(ctx, sc)
        if pflags & PF_SIDE:
            # an interpreter that is also a package runner (`bun x PKG`)
            _side(sc, ctx, side_effects(prog, args))
        if cenv and not _COMMAND_ENV.isdisjoint(cenv):
            _side(sc, ctx, env_commands(cenv))
        return main
    if cls == PC_SQL:
        sc.code = _sql_text(prog, args, stdin_code)
    elif cls == PC_FIND:
        if _has_word(args, _FIND_ACTIONS):
            run_find_actions(_K, sc, ctx)
    elif cls == PC_SSH:
        run_ssh_remote(_K, sc, ctx)
    elif cls == PC_EXEC:
        # container_exec runs nothing without an `exec` word (docker exec, compose exec,
        # kubectl ... exec POD -- ...): most docker and kubectl commands skip the call
        if _has_word(args, _EXEC_WORD):
            run_container_exec(_K, sc, ctx)
    main = _emit(ctx, sc)
    if pflags & PF_SIDE:
        _side(sc, ctx, side_effects(prog, args))
        if stdin_code and prog in _STDIN_CODE_PROGRAMS:
            _side(sc, ctx, stdin_effects(prog, args, stdin_code))
    if cenv and not _COMMAND_ENV.isdisjoint(cenv):
        _side(sc, ctx, env_commands(cenv))
    return main


cdef frozenset _STDIN_CODE_PROGRAMS = STDIN_CODE_PROGRAMS
cdef tuple _FIND_ACTIONS = FIND_ACTIONS
cdef tuple _EXEC_WORD = ("exec",)


cdef bint _has_word(list args, tuple words) except -1:
    # whether an argument is one of words
    cdef str a, w
    for a in args:
        for w in words:
            if str_eq(a, w):
                return True
    return False


cdef frozenset _SIDE_PROGRAMS = SIDE_PROGRAMS
cdef frozenset _COMMAND_ENV = COMMAND_ENV
# What analyze asks of every command it emitted (_side._fetches): 1 a downloader, 2 a
# cloner, which fetches with its clone or download subcommand; one lookup, a C loop.
cdef dict _FETCH_KIND = dict.fromkeys(DOWNLOADERS, 1)
for _w in CLONERS:
    _FETCH_KIND[_w] = 2
for _w in SCRATCH_COPIERS:
    _FETCH_KIND.setdefault(_w, 3)


cdef bint _fetches(SimpleCommand c) except -1:
    cdef object kind = _FETCH_KIND.get(c.program)
    cdef str a
    if kind is None:
        return False
    if <int>kind == 1:
        return True
    if <int>kind == 3:
        return _from_scratch(c)
    for a in c.args:
        if str_eq(a, "clone") or str_eq(a, "download"):
            return True
    return False


for _w in _SHELLS:
    _PROG_CLASS[_w] = <int>_PROG_CLASS.get(_w, 0) | PF_SHELL
for _w in _SIDE_PROGRAMS:
    _PROG_CLASS[_w] = <int>_PROG_CLASS.get(_w, 0) | PF_SIDE
for _w in ("builtin", "command", "alias", "unalias", "printf", "let"):
    _PROG_CLASS[_w] = <int>_PROG_CLASS.get(_w, 0) | PF_LINE
for _w in _FETCH_KIND:
    _PROG_CLASS[_w] = <int>_PROG_CLASS.get(_w, 0) | PF_FETCH


cdef inline int _side(SimpleCommand sc, _Ctx ctx, list found) except -1:
    # most programs of _SIDE_PROGRAMS do nothing on the side in a given call: the shared
    # handler is only called when there is something to run
    if found:
        side_actions(_K, sc, ctx, found)
    return 0


cdef list _stage_names(list out, Py_ssize_t before):
    # tuple(dict.fromkeys(c.program for c in out[before:])), as a list
    cdef list names = []
    cdef Py_ssize_t k
    cdef str prog
    for k in range(before, len(out)):
        prog = (<SimpleCommand>out[k]).program
        if prog not in names:
            names.append(prog)
    return names


cdef list _interpret(list tree, _Ctx ctx, bint want):
    """Walk a parse tree, emitting SimpleCommands into ctx.out. When want is set, returns
    the program names of the top-level commands it ran (for substitution context)."""
    cdef list progs = [] if want else None
    cdef list out = ctx.out
    cdef list pipe, stage_outs, stage_names, names, produced, upstream, everything
    cdef object files
    cdef tuple everything_t, upstream_t
    cdef Py_ssize_t idx, npipe, before
    cdef object stdin_code
    cdef SimpleCommand c
    cdef str p
    for pipe in tree:
        npipe = len(pipe)
        if npipe == 1:
            before = len(out)
            _interpret_cmd(pipe[0], ctx, None)
            if want:
                progs.extend(_stage_names(out, before))
            continue
        stage_outs = []
        stage_names = []
        for idx in range(npipe):
            before = len(out)
            stdin_code = None
            if idx > 0:
                stdin_code = _static_output_pipe(pipe, idx, ctx)
            _interpret_cmd(pipe[idx], ctx, stdin_code)
            names = _stage_names(out, before)
            stage_outs.append(out[before:])
            stage_names.append(names)
            if want:
                progs.extend(names)
        names = None
        produced = stage_outs[0]
        if len(produced) == 1 and (<SimpleCommand>produced[0]).program in _ENV_LISTERS:
            names = env_filter(produced, stage_outs[1])
        if names is not None:
            c = stage_outs[0][0]
            c.program = "printenv"
            c.args = names
            stage_names[0] = ["printenv"]
        everything = []
        for names in stage_names:
            for p in names:
                if p not in everything:
                    everything.append(p)
        everything_t = tuple(everything)
        files = None
        produced = stage_outs[0]
        if len(produced) == 1 and str_eq((<SimpleCommand>produced[0]).program, "cat"):
            files = piped_files(produced)
        upstream = []
        upstream_t = ()
        for idx in range(npipe):
            produced = stage_outs[idx]
            for c in produced:
                c.pipeline = everything_t
                if upstream_t:
                    c.pipe_in = upstream_t
                    if ((c.program in _SHELLS or c.program in _SQL_FLAGS
                            or _interp_family(c.program) in _CODE_FLAGS)
                            and c.code == "" and _reads_stdin_code(c)):
                        if idx == 1 and files is not None:
                            c.redirects = list(c.redirects) + [("<", f) for f in files]
                        else:
                            c.code_from = _uniq_tuple(c.code_from + upstream_t)
            for p in stage_names[idx]:
                if p not in upstream:
                    upstream.append(p)
            upstream_t = tuple(upstream)
    return progs


cdef tuple _uniq_tuple(tuple items):
    cdef list out = []
    for x in items:
        if x not in out:
            out.append(x)
    return tuple(out)


cdef bint _reads_stdin_code(SimpleCommand c) except -1:
    if c.program in _SQL_FLAGS:
        return True
    if c.program in _SHELLS:
        return _shell_script_arg(c.args) < 0 and _shell_code_arg(c.args) < 0
    return _interp_script_arg(_interp_family(c.program), c.args) < 0


cdef SimpleCommand _interpret_cmd(_Cmd cmd, _Ctx ctx, object stdin_code):
    cdef list redirects = None
    cdef list hs_sources
    cdef tuple stdin_sources = ()
    cdef list rest, sources = None
    cdef object w
    cdef tuple r
    cdef str op, value, a, first, prog0, target
    cdef object moved
    cdef object text
    cdef bint integer, nameref
    cdef object cdpath = None
    cdef bint d, any_dyn, all_assign, first_assign = False
    cdef bint redirect_dyn = False     # a redirect target holds an unknown (see the reference)
    cdef bint stdin_unseen = False     # stdin is a file or a here-string holding an unknown
    cdef list stdin_subs = None        # `< <(cmd)`: the programs whose output is stdin
    cdef list rsources
    cdef Py_ssize_t before
    cdef SimpleCommand c
    cdef Py_ssize_t k, eq, nwords
    cdef int cls
    cdef _Ctx child
    cdef SimpleCommand main
    if cmd.funcdef is not None:
        ctx.funcs[cmd.funcdef] = cmd.sub
        if calls_itself(_K, cmd.sub, cmd.funcdef):
            _emit(ctx, _new_sc("(recursive-function)", [cmd.funcdef], ctx.cwd, ctx.sudo, {},
                               [], ctx.origin, "", False))
        return None
    if cmd.heredoc_subs is not None:
        d = False
        stdin_secret(_K, ctx, _expand(cmd.heredoc_subs, ctx, &d, None))
    if cmd.arith is not None:
        run_arith(_K, cmd.arith.text, cmd.arith.tree, ctx, None)
        if cmd.loop is None:
            return None
    if cmd.redirects is not None:
        redirects = []
        for r in cmd.redirects:
            op = r[0]
            d = False
            rsources = [] if str_eq(op, "<") else None
            value = _expand(r[1], ctx, &d, rsources)
            if str_eq(op, ">") and value.isdigit() or str_eq(value, "-"):
                continue
            redirects.append((op, value))
            redirect_dyn = redirect_dyn or d
            stdin_unseen = stdin_unseen or d and str_eq(op, "<")
            if rsources and value.startswith("/dev/fd/"):
                stdin_subs = rsources
    if cmd.loop is not None:
        run_loop(_K, cmd.loop, ctx)
        if redirects:
            _emit(ctx, _new_sc("(subshell)", [], ctx.cwd, ctx.sudo, {}, redirects,
                               ctx.origin, "", False))
        return None
    if cmd.sub is not None:
        child = ctx.child("subshell", 0)
        _interpret(cmd.sub, child, False)
        if cmd.group:
            _persist(child, ctx)
        if redirects:
            _emit(ctx, _new_sc("(subshell)", [], ctx.cwd, ctx.sudo, {}, redirects,
                               ctx.origin, "", False))
        return None
    # argv is kept as its first word and the list of the others, which becomes the
    # SimpleCommand's args without a copy.
    nwords = len(cmd.words)
    first = None
    rest = []
    any_dyn = False
    all_assign = True
    for k in range(nwords):
        w = cmd.words[k]
        if type(w) is str:
            value = <str>w
            _charge(ctx.work, len(value))
        else:
            if sources is None:
                sources = []
            d = False
            value = _expand(w, ctx, &d, sources)
            if d:
                any_dyn = True
        if k == 0:
            first = value
            first_assign = _is_assignment(value)
            all_assign = first_assign
        else:
            rest.append(value)
            if all_assign and not _is_assignment(value):
                all_assign = False
    if nwords and _split_program(cmd.words[0], first):
        # an unquoted expansion in program position is word-split by the shell
        rest = first.split() + rest
        first = rest.pop(0)
        nwords = len(rest) + 1
        first_assign = _is_assignment(first)
        all_assign = first_assign
        for a in rest:
            if not _is_assignment(a):
                all_assign = False
                break
    if cmd.herestring is not None:
        d = False
        hs_sources = []
        value = _expand(cmd.herestring, ctx, &d, hs_sources)
        stdin_secret(_K, ctx, value)
        stdin_code = None if d else value
        stdin_sources = tuple(hs_sources)
        stdin_unseen = stdin_unseen or d
    if cmd.heredoc is not None:
        stdin_code = cmd.heredoc
    if nwords == 0:
        if redirects:
            _emit(ctx, _new_sc("(redirect)", [], ctx.cwd, ctx.sudo, {}, redirects,
                               ctx.origin, "", redirect_dyn))
        return None
    # plain assignments: remember for the rest of the line
    if all_assign:
        for k in range(nwords):
            a = first if k == 0 else rest[k - 1]
            eq = a.find("=")
            if ctx.env is None:
                ctx.env = {}
            assign_var(ctx.env, a[:eq].rstrip("+"), a[eq + 1:], any_dyn)
        return None
    if redirects is None:
        redirects = []
    prog0 = _program_name(first)
    if first_assign and nwords > 1:
        # `X=1 cd DIR` (see the reference)
        k = 0
        while k < nwords - 1 and _is_assignment(rest[k]):
            k += 1
        if k < nwords - 1 and rest[k] in _CD_PROGRAMS:
            for a in [first] + rest[:k]:
                if a.startswith("CDPATH="):
                    cdpath = _DYN if any_dyn else a[7:]
            first = rest[k]
            rest = rest[k + 1:]
            nwords = len(rest) + 1
            prog0 = first
    cls = _prog_class(prog0)
    if (cls & PF_LINE and nwords > 1 and (str_eq(prog0, "builtin") or str_eq(prog0, "command"))
            and rest[0] in _CD_PROGRAMS):
        first = rest.pop(0)
        nwords -= 1
        prog0 = first
        cls = _prog_class(prog0)
    if (cls & PC_MASK) == PC_DECLARE:
        integer = False     # -i: the values are arithmetic expressions
        nameref = False     # -n: the value names another variable (unknown here)
        for a in rest:
            if a.startswith("-"):
                integer = integer or "i" in a
                nameref = nameref or "n" in a
                continue
            eq = _assignment_eq(a)
            if eq >= 0:
                if ctx.env is None:
                    ctx.env = {}
                assign_var(ctx.env, a[:eq], _DYN if nameref else a[eq + 1:], any_dyn or nameref)
                if integer:
                    arith_text(_K, a[eq + 1:], ctx)
        # still a command: rules judge what is exported (HISTFILE, LD_PRELOAD, ...)
        _emit(ctx, _new_sc(prog0, rest, ctx.cwd, ctx.sudo, {}, list(redirects), ctx.origin,
                           "", False))
        return None
    if cls & PF_LINE:
        if str_eq(prog0, "alias") or str_eq(prog0, "unalias"):
            for a in rest:
                eq = a.find("=")
                if str_eq(prog0, "unalias"):
                    ctx.aliases.pop(a, None)
                elif eq > 0:
                    ctx.aliases[a[:eq]] = a[eq + 1:]
        elif str_eq(prog0, "printf") and nwords > 3 and obj_eq(rest[0], "-v"):
            # printf -v NAME FORMAT ARGS: NAME holds what it would have printed
            text = None
            for a in rest[2:]:
                if _DYN in a:
                    break
            else:
                text = printf_output(rest[2], rest[3:])
            if text is None:
                if ctx.env is not None:
                    ctx.env.pop(rest[1], None)
            else:
                ctx.assign(rest[1], text)
        elif str_eq(prog0, "let"):
            for a in rest:
                arith_text(_K, a, ctx)
    if (cls & PC_MASK) == PC_CD:
        # any_dyn: the program word is `cd` itself, so an unknown is in an argument
        moved = change_dir(prog0, rest, any_dyn, ctx.cwd, ctx.dirs,
                           ctx.env.get("OLDPWD") if ctx.env is not None else None,
                           cdpath if cdpath is not None
                           else ctx.env.get("CDPATH") if ctx.env is not None else None)
        target = (<tuple>moved)[0]
        ctx.dirs = (<tuple>moved)[1]
        if not str_eq(target, ctx.cwd):
            ctx.assign("OLDPWD", ctx.cwd)
            ctx.cwd = target
        _emit(ctx, _new_sc(prog0, rest, ctx.cwd, ctx.sudo, {}, redirects, ctx.origin,
                           "", False))
        return None
    before = len(ctx.out)
    main = _run_argv(first, rest, any_dyn or redirect_dyn, redirects, ctx, {}, False, ctx.origin, stdin_code,
                     sources, prog0, cls, first_assign)
    if (main is not None and stdin_sources and main.code == "" and not main.code_from
            and (main.program in _SHELLS or _interp_family(main.program) in _CODE_FLAGS)
            and _reads_stdin_code(main)):
        main.code_from = stdin_sources
    if stdin_subs or stdin_unseen:
        for k in range(before, len(ctx.out)):
            c = ctx.out[k]
            if (c.code == "" and not c.code_from
                    and (c.program in _SHELLS or c.program in _SQL_FLAGS
                         or _interp_family(c.program) in _CODE_FLAGS)
                    and _reads_stdin_code(c)):
                if stdin_subs:
                    c.code_from = tuple(stdin_subs)
                else:
                    c.code = DYN
                    c.dynamic = True
    if main is not None and (_writes_a_file(redirects) or str_eq(main.program, "tee")
                             or str_eq(main.program, "mkfifo")):
        if ctx.work.writes is None:
            ctx.work.writes = []
        ctx.work.writes.append((len(ctx.out), main, stdin_code))
    if (main is not None and stdin_code and main.program in _SHELLS
            and main.code == stdin_code):
        return run_stdin_shell(_K, main, stdin_code, ctx)
    return main


cdef bint _may_run_a_file(list out) except -1:
    # whether a command of out could run, source or feed a client a file (what
    # run_written looks for): most calls that write a file run none, and skip its call
    cdef SimpleCommand c
    for c in out:
        if (c.path or c.program in _SHELLS or c.program in _SQL_FLAGS
                or str_eq(c.program, "source") or str_eq(c.program, ".")
                or _interp_family(c.program) in _CODE_FLAGS):
            return True
    return False


cdef bint _writes_a_file(list redirects) except -1:
    # whether a `>`/`>>` redirect names a file (note_writes keeps what it receives)
    cdef tuple r
    if not redirects:
        return False
    for r in redirects:
        if (str_eq(<str>r[0], ">") or str_eq(<str>r[0], ">>")) and not str_eq(<str>r[1], "/dev/null"):
            return True
    return False


cdef inline void _persist(_Ctx child, _Ctx ctx) noexcept:
    ctx.cwd = child.cwd
    ctx.dirs = child.dirs
    ctx.env = child.env


cdef bint _split_program(object word, str value) except -1:
    """Whether a program word came from an unquoted-looking expansion that holds
    whitespace (`$(echo cm0gLXJm | base64 -d)`), which the shell splits into words."""
    cdef _Part p
    if type(word) is str:
        return False
    if not (" " in value or "\t" in value or "\n" in value):
        return False
    for p in <list>word:
        if p.kind == P_VAR or p.kind == P_CMD:
            return True
    return False


# The entry points the shared handlers (lighthouse._fast._shell_shared, compiled as
# _shell_shared_c) call back into; they run only for commands with a nested part.
def _k_code(str code, _Ctx ctx):
    _interpret(_parse(code, ctx.depth), ctx, False)


def _k_tree(list tree, _Ctx ctx):
    _interpret(tree, ctx, False)


def _k_run(list argv, _Ctx ctx, dict env, bint sudo, str origin, bint dynamic=False):
    cdef str first
    cdef str prog
    if not argv:
        return None     # an empty command runs nothing (Kernel.run)
    first = argv[0]
    prog = _program_name(first)
    _run_argv(first, argv[1:], dynamic, [], ctx, env, sudo, origin, "", None, prog, _prog_class(prog),
              _is_assignment(first))


def _k_make(str program, list args, str cwd, bint sudo, dict env, list redirects, str origin,
            str code, bint dynamic):
    return _new_sc(program, args, cwd, sudo, env, redirects, origin, code, dynamic)


def _k_emit(_Ctx ctx, SimpleCommand sc):
    return _emit(ctx, sc)


def _k_persist(_Ctx child, _Ctx ctx):
    _persist(child, ctx)


def _k_charge(_Ctx ctx, Py_ssize_t n):
    _charge(ctx.work, n)


def _k_word(object word, _Ctx ctx):
    cdef bint d = False
    cdef str value = _expand(word, ctx, &d, None)
    return None if d else value


def _k_subs(str text, int depth):
    cdef _Parser p
    if not runs_commands(text, 0, len(text)):
        return None
    p = _new_parser(text, depth)
    return p.scan_subs(p.n, False)


def _k_expand(object parts, _Ctx ctx):
    cdef bint d = False
    _expand(parts, ctx, &d, None)


def _k_text(object word):
    return _word_text(word)


cdef object _K = Kernel(_k_code, _k_tree, _k_run, _k_make, _k_emit, _k_persist, _k_charge, scan_inline,
                        _k_word, _k_subs, _k_expand, _k_text)


cpdef list analyze(object command, object cwd="", object home=None):
    """Analyse a command line. Raises ShellError when it cannot be analysed."""
    cdef list tree = _parse(check_command(command), 0)
    cdef list out = []
    cdef _Ctx ctx = _Ctx.__new__(_Ctx)
    ctx.env = None
    ctx.cwd = cwd or ""
    ctx.home = home
    ctx.depth = 0
    ctx.origin = ""
    ctx.out = out
    ctx.sudo = False
    ctx.funcs = {}
    ctx.work = _Work.__new__(_Work)
    ctx.dirs = ()
    ctx.aliases = {}
    _interpret(tree, ctx, False)
    if ctx.work.writes and (_may_run_a_file(out) or writes_runnable(ctx.work.writes)):
        run_written(_K, ctx, interp_family)
    cdef SimpleCommand c
    cdef object r
    # most calls run no program that may fetch (ctx.work.fetch, set by _run_argv, through
    # which every command of _FETCH_KIND's programs is emitted), most of those fetch nothing
    # (_side._fetches, typed, or _side._from_scratch: a copy from a scratch directory), and
    # most that do run no file (_side._runs_a_file): the reader runs only when all may
    if not ctx.work.fetch:
        return out
    for c in out:
        if _fetches(c):
            for r in out:
                if _runs_a_file(r):
                    for path, runner in fetched_runs(out):
                        _emit(ctx, _new_sc(RUN_DOWNLOADED, [path], (<SimpleCommand>runner).cwd,
                                           (<SimpleCommand>runner).sudo, {}, [], "download", "", False))
                    break
            break
    return out
