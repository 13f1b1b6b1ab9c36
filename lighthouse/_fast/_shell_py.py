"""Shell analysis, pure-Python reference implementation.

A command line becomes a flat list of :class:`SimpleCommand` objects: the programs the
shell would run, with wrappers (sudo, env, timeout, xargs, ...) peeled off, quoting
removed, known variables substituted, and the code hidden in ``bash -c`` strings,
``eval``, command substitutions, heredocs, ``find -exec``, decoded base64 and inline
interpreter code (``python -c`` ...) surfaced as commands of their own.

The compiled twin in ``_shell_c.pyx`` implements the same algorithm with C types; this
module is the readable reference, and the two are tested against each other.
"""

from __future__ import annotations

from ._side import (COMMAND_ENV, RUN_DOWNLOADED, SIDE_PROGRAMS, STDIN_CODE_PROGRAMS, env_commands, fetched_runs,
                    side_effects, stdin_effects)
from ._errors import LimitError, ShellError
from ._inline import CODE_WINDOW  # noqa: F401 (exported, see SHELL_API)
from ._inline import scan as scan_inline
from ._shell_scan import (REDIRECT_OPS, ansi_c, arith_end, backtick_text, funcdef_end, heredoc_body, is_name_char,
                          is_special_var, name_end, redirect_token, runs_commands, secret_refs, var_operand)
from ._shell_shared import MAX_LENGTH, MAX_LOOP_PASSES, MAX_LOOP_WORDS, MAX_WRAPPERS  # noqa: F401 (exported, see SHELL_API)
from ._shell_shared import join_path  # noqa: F401 (the lexical join both analysers export)
from ._shell_shared import assignment_eq, interp_family
from ._shell_shared import program_name as normalize_program
from ._shell_shared import (DYN_MARK, VAR_CHANGERS, Kernel, arith_text, assign_var, assigns, brace_expand,
                            calls_itself, check_command, emit_inline, leading_assignments, run_arith, run_loop,
                            forget_vars, run_alias, run_container_exec, run_eval,
                            run_find_actions, run_function, run_parallel, run_path_lookup, run_program_path,
                            run_script_path, run_shell_code, command_env,
                            run_ssh_remote, run_stdin_shell, run_su, side_actions, stdin_secret, unwrap)
from ._shell_shared import (ARGS_MSG, ARITH_FOR_MSG, AT_OFFSET_MSG, B64_DECODE,
                            BRACE_MSG, CASE_IN_MSG, CASE_PAREN_MSG, CASE_PATTERN_MSG,
                            CD_PROGRAMS, CODE_FLAGS, COMMANDS_MSG, DEPTH_MSG,
                            DQUOTE_MSG, DYN, ENV_LISTERS, ENV_SPLIT_MSG, EXEC_PROGRAMS, FOR_DO_MSG,
                            HELP_TRIGGERS, LIST_MSG, MAX_ARGS, MAX_COMMANDS, MAX_DEPTH, MAX_WORD, MAX_WORK,
                            REDIRECT_MSG, SHELLS, SHELL_API, SQL_FLAGS, SQUOTE_MSG, TMPDIR_ROOT,
                            UNCLOSED_MSG, UNEXPECTED_CLOSE_MSG, UNEXPECTED_OPEN_MSG, WORD_MSG,
                            WORK_MSG, change_dir,
                            command_init, command_repr, command_tuple, decode_b64, env_filter,
                            filtered_text, find_code, help_request, interp_script_arg,
                            piped_files, proc_path, run_written,
                            printed_text, printf_output, shell_code_arg, shell_script_arg,
                            sql_text, unknown_var)

__all__ = list(SHELL_API)


class SimpleCommand:
    """One program the shell would run, with the context rules need to judge it."""

    __slots__ = (
        "program", "args", "cwd", "sudo", "env", "redirects", "pipe_in",
        "pipeline", "code_from", "origin", "code", "dynamic", "path",
    )

    __init__ = command_init
    as_tuple = command_tuple
    __repr__ = command_repr


# ---------------------------------------------------------------- parse tree
# A word is a list of parts: ("lit", text, quoted) | ("tilde",) | ("var", name, default, subs)
# | ("cmd", tree) | ("proc", tree) | ("arith", expression text, subs); subs are the parts
# holding the command substitutions inside a ${...} operand or an arithmetic expression.
# A tree is a list of pipelines; a pipeline is a list of _Cmd.

class _Cmd:
    __slots__ = ("words", "redirects", "sub", "funcdef", "heredoc", "herestring", "loop", "group",
                 "heredoc_subs", "arith")

    def __init__(self):
        self.words = []
        self.redirects = []      # (op, word)
        self.sub = None          # tree of a subshell or group
        self.funcdef = None      # function name when this defines a function
        self.heredoc = None      # body text fed on stdin
        self.herestring = None   # word fed on stdin
        self.loop = None         # (variable, words or None, body tree) of a for loop
        self.group = False       # sub is a `{ ...; }` group, run by this same shell
        self.heredoc_subs = None  # command substitutions the shell runs in heredoc bodies
        self.arith = None        # the ("arith", ...) part of a `(( ... ))` command


_META = " \t\n;&|()<>"
_RESERVED = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until",
             "!", "{", "}", "time", "coproc", "[[", "]]"}


class _Parser:
    def __init__(self, src, depth):
        if depth > MAX_DEPTH:
            raise LimitError(DEPTH_MSG)
        self.s = src
        self.n = len(src)
        self.i = 0
        self.depth = depth
        self.braces = "{" in src   # its words may need brace expansion
        self.pending = []  # [(cmd, delimiter, strip_tabs, expands)]

    def error(self, msg):
        raise ShellError(AT_OFFSET_MSG % (msg, self.i))

    # -- lists, pipelines, commands
    def parse_list(self, stop):
        s = self.s
        tree = []
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                if stop:
                    self.error(UNCLOSED_MSG % stop)
                return tree
            c = s[self.i]
            if c == "\n":
                self.i += 1
                self.read_heredocs()
                continue
            if c == ";" or c == "&":
                if stop == "esac" and c == ";" and self.i + 1 < self.n and s[self.i + 1] in ";&":
                    # `;;` ends a case arm (`;&` and `;;&` fall through: all arms are judged)
                    self.i += 2
                    if self.i < self.n and s[self.i] == "&":
                        self.i += 1
                    return tree
                self.i += 1
                continue
            if c == "#":
                while self.i < self.n and s[self.i] != "\n":
                    self.i += 1
                continue
            if c == ")":
                if stop == ")":
                    self.i += 1
                    return tree
                self.error(UNEXPECTED_CLOSE_MSG)
            if stop == "done" and s.startswith("done", self.i) and self.at_word_end(self.i + 4):
                self.i += 4
                return tree
            if stop == "}" and c == "}" and self.at_word_end(self.i + 1):
                self.i += 1
                return tree
            if stop == "esac" and s.startswith("esac", self.i) and self.at_word_end(self.i + 4):
                return tree
            tree.append(self.parse_pipeline(stop))
            if len(tree) > MAX_COMMANDS:
                raise LimitError(LIST_MSG)
            self.skip_blanks()
            if self.i < self.n:
                c = s[self.i]
                if c == "&" and self.i + 1 < self.n and s[self.i + 1] == "&":
                    self.i += 2
                elif c == "|" and self.i + 1 < self.n and s[self.i + 1] == "|":
                    self.i += 2

    def at_word_end(self, j):
        return j >= self.n or self.s[j] in _META

    def parse_pipeline(self, stop):
        pipe = [self.parse_command(stop)]
        s = self.s
        while True:
            self.skip_blanks()
            if self.i < self.n and s[self.i] == "|" and not (self.i + 1 < self.n and s[self.i + 1] == "|"):
                self.i += 1
                if self.i < self.n and s[self.i] == "&":
                    self.i += 1
                self.skip_blanks_newlines()
                pipe.append(self.parse_command(stop))
            else:
                return pipe

    def parse_command(self, stop):
        s = self.s
        cmd = _Cmd()
        self.skip_blanks()
        if self.i < self.n and s[self.i] == "(":
            if self.i + 1 < self.n and s[self.i + 1] == "(":
                end = arith_end(self.s, self.i)
                if end >= 0:
                    cmd.arith = self.arith_part(end)
                    return cmd
            self.i += 1
            cmd.sub = self.sub_list(")")
            self.parse_redirects_only(cmd)
            return cmd
        if self.i < self.n and s[self.i] == "{" and self.at_word_end(self.i + 1):
            self.i += 1
            cmd.sub = self.sub_list("}")
            cmd.group = True
            self.parse_redirects_only(cmd)
            return cmd
        leading = [0, True]   # leading_assignments' state: assignments are not brace-expanded
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                return cmd
            c = s[self.i]
            if c in "\n;&|)":
                if c == "&" and self.i + 1 < self.n and s[self.i + 1] == ">":
                    self.parse_redirect(cmd)
                    continue
                return cmd
            if stop == "}" and c == "}" and not cmd.words and self.at_word_end(self.i + 1):
                return cmd
            if c == "(":
                if len(cmd.words) == 1 and self.peek_funcdef():
                    cmd.funcdef = self.word_text(cmd.words[0])
                    cmd.words = []
                    self.skip_blanks_newlines()
                    body = self.sub_command(stop)
                    cmd.sub = [[body]]
                    return cmd
                self.error(UNEXPECTED_OPEN_MSG)
            if c == "#":
                # a comment runs to the end of the line
                while self.i < self.n and s[self.i] != "\n":
                    self.i += 1
                return cmd
            if c in "<>" and not (self.i + 1 < self.n and s[self.i + 1] == "("):
                self.parse_redirect(cmd)
                continue
            start = self.i
            word = self.parse_word()
            if (self.i < self.n and s[self.i] in "<>" and self.i > start
                    and s[start:self.i].isdigit() and not (self.i + 1 < self.n and s[self.i + 1] == "(")):
                self.parse_redirect(cmd)
                continue
            if not cmd.words and len(word) == 1 and word[0][0] == "lit" and not word[0][2]:
                text = word[0][1]
                if text == "function":
                    self.skip_blanks()
                    name = self.parse_word()
                    self.skip_blanks()
                    if self.s.startswith("()", self.i):
                        self.i += 2
                    self.skip_blanks_newlines()
                    cmd.funcdef = self.word_text(name)
                    cmd.sub = [[self.sub_command(stop)]]
                    return cmd
                if text in ("for", "select"):
                    return self.parse_for(cmd)
                if text == "case":
                    return self.parse_case(cmd)
                if text in ("in", "esac"):
                    continue
                if text in _RESERVED:
                    if text == "time":
                        self.skip_blanks()
                        if self.s.startswith("-p", self.i) and self.at_word_end(self.i + 2):
                            self.i += 2
                    if text == "{":
                        cmd.sub = self.sub_list("}")
                        cmd.group = True
                        return cmd
                    continue
            expanded = _brace_words(word) if self.braces else None
            if expanded is None or (_assigns(word) and leading_assignments(cmd.words, leading, _segments_of)):
                cmd.words.append(word)
            else:
                cmd.words.extend(expanded)

    def peek_funcdef(self):
        j = funcdef_end(self.s, self.i)
        if j < 0:
            return False
        self.i = j
        return True

    def parse_for(self, cmd):
        """`for NAME [in WORDS]; do BODY; done`: the body is kept with the loop so that
        it can be judged once per word."""
        s = self.s
        self.skip_blanks()
        name = ""
        if s.startswith("((", self.i):
            end = arith_end(self.s, self.i)      # for ((i = 0; i < n; i++)): no list to bind
            if end < 0:
                self.error(ARITH_FOR_MSG)
            cmd.arith = self.arith_part(end)
        elif self.i < self.n and s[self.i] not in _META:
            name = self.word_text(self.parse_word())
        self.skip_blanks()
        words = None
        if s.startswith("in", self.i) and self.at_word_end(self.i + 2):
            self.i += 2
            words = []
            while True:
                self.skip_blanks()
                if self.i >= self.n or s[self.i] in ";\n&|)(<>":
                    break
                word = self.parse_word()
                expanded = _brace_words(word, True) if self.braces else None
                words.extend((word,) if expanded is None else expanded)
        while self.i < self.n and s[self.i] in " \t;\n":
            self.i += 1
        if not (s.startswith("do", self.i) and self.at_word_end(self.i + 2)):
            self.error(FOR_DO_MSG)
        self.i += 2
        cmd.loop = (name, words, self.sub_list("done"))
        self.parse_redirects_only(cmd)
        return cmd

    def parse_case(self, cmd):
        # `case WORD in PATTERN) LIST ;; ... esac`: the word and the patterns are data;
        # the commands of every arm run as one group. The word and the patterns are
        # expanded first, so their substitutions run: judged as the words of a `:`.
        s = self.s
        words = []
        self.skip_blanks()
        if self.i < self.n and s[self.i] not in _META:
            words.append(self.parse_word())
        self.skip_blanks_newlines()
        if not (s.startswith("in", self.i) and self.at_word_end(self.i + 2)):
            self.error(CASE_IN_MSG)
        self.i += 2
        tree = []
        while True:
            self.skip_blanks()
            if self.i >= self.n:
                self.error(UNCLOSED_MSG % "esac")
            c = s[self.i]
            if c == "\n":
                self.i += 1
                self.read_heredocs()
                continue
            if s.startswith("esac", self.i) and self.at_word_end(self.i + 4):
                self.i += 4
                break
            if c == "(":
                self.i += 1
            while True:
                self.skip_blanks()
                if self.i >= self.n:
                    self.error(CASE_PAREN_MSG)
                c = s[self.i]
                if c == ")":
                    self.i += 1
                    break
                if c == "|":
                    self.i += 1
                    continue
                if c in _META:
                    self.error(CASE_PATTERN_MSG % c)
                words.append(self.parse_word())
            tree.extend(self.parse_list("esac"))
            if len(tree) > MAX_COMMANDS:
                raise LimitError(LIST_MSG)
        if any(part[0] in ("cmd", "proc") or part[0] == "var" and part[3] or part[0] == "arith" and part[2]
               for w in words for part in w):
            probe = _Cmd()
            probe.words = [[("lit", ":", False)]] + words
            tree.insert(0, [probe])
        cmd.sub = tree
        self.parse_redirects_only(cmd)
        return cmd

    def arith_part(self, end):
        """At `((` of an arithmetic expression that ends at `end` (arith_end): its part,
        with the command substitutions in it; i is left at end."""
        start = self.i + 2
        subs = []
        if runs_commands(self.s, start, end - 2):
            self.i = start
            subs = self.scan_subs(end - 2, False)
        self.i = end
        return ("arith", self.s[start:end - 2], subs)

    def scan_subs(self, end, brace):
        """The parts of s[i:end] that run commands when the shell expands it as it does
        double-quoted text (a heredoc body, an arithmetic expression, the operand of
        ${...}): command substitutions, and ${...} and $((...)) holding some. Quotes do
        not hide a substitution here (they do not inside double quotes). With brace, it
        stops on the `}` that closes a ${...} (nested braces counted): i is left on it."""
        s = self.s
        parts = []
        depth = 0
        self.enter()        # substitutions nest: ${a:-${b:-$(( $(...) ))}}
        while self.i < end:
            c = s[self.i]
            if c == "\\":
                self.i += 2
            elif c == "`":
                parts.append(self.parse_backtick())
            elif c == "$":
                part = self.parse_dollar()
                if part is None:
                    self.i += 1
                elif part[0] == "cmd" or (part[0] != "lit" and part[-1]):
                    parts.append(part)
            elif brace and c == "{":
                depth += 1
                self.i += 1
            elif brace and c == "}":
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

    def parse_redirects_only(self, cmd):
        while True:
            self.skip_blanks()
            if self.i < self.n and (self.s[self.i] in "<>" or self.s[self.i].isdigit()):
                j = self.i
                while j < self.n and self.s[j].isdigit():
                    j += 1
                if j < self.n and self.s[j] in "<>":
                    self.i = j
                    self.parse_redirect(cmd)
                    continue
            return

    def parse_redirect(self, cmd):
        s = self.s
        token = redirect_token(s, self.i)
        op = REDIRECT_OPS[token]
        self.i += len(token)
        self.skip_blanks()
        if self.i >= self.n or s[self.i] in "\n;&|)":
            self.error(REDIRECT_MSG)
        start = self.i
        target = self.parse_word()
        if op in ("<<", "<<-"):
            # a delimiter without quotes or backslashes: the body is expanded
            raw = s[start:self.i]
            expands = not ("'" in raw or '"' in raw or "\\" in raw)
            self.pending.append((cmd, self.word_text(target), op == "<<-", expands))
        elif op == "<<<":
            cmd.herestring = target
        elif op == "<&":
            return
        else:
            cmd.redirects.append((op, target))

    def read_heredocs(self):
        for cmd, delim, strip, expands in self.pending:
            cmd.heredoc, self.i = heredoc_body(self.s, self.i, delim, strip)
            if expands and ("$" in cmd.heredoc or "`" in cmd.heredoc):
                subs = self.heredoc_subs(cmd.heredoc)
                if subs:
                    cmd.heredoc_subs = (cmd.heredoc_subs or []) + subs
        self.pending = []

    def heredoc_subs(self, body):
        """The command substitutions in the body of a heredoc whose delimiter is not
        quoted: the shell expands the body before the command reads it, so they run
        whatever the command is (`cat <<EOF` too). Returned as the parts of a word, with
        the variables named like a secret's that it expands (judged by stdin_secret)."""
        p = _Parser(body, self.depth)
        subs = p.scan_subs(p.n, False)
        for name in secret_refs(body):
            subs.append(("var", name, None, None))
        return subs

    def skip_blanks(self):
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == " " or c == "\t":
                self.i += 1
            elif c == "\\" and self.i + 1 < self.n and s[self.i + 1] == "\n":
                self.i += 2
            else:
                return

    def skip_blanks_newlines(self):
        while True:
            self.skip_blanks()
            if self.i < self.n and self.s[self.i] == "\n":
                self.i += 1
            else:
                return

    # -- words
    def parse_word(self):
        s = self.s
        parts = []
        buf = []
        start = self.i
        while self.i < self.n:
            c = s[self.i]
            if c in " \t\n;&|)":
                break
            if c in "<>":
                if self.i + 1 < self.n and s[self.i + 1] == "(":
                    if buf:
                        parts.append(("lit", "".join(buf), False))
                        buf = []
                    self.i += 2
                    parts.append(("proc", self.sub_list(")")))
                    continue
                break
            if c == "(":
                break
            if c == "\\":
                if self.i + 1 < self.n:
                    if s[self.i + 1] != "\n":
                        buf.append(s[self.i + 1])
                    self.i += 2
                else:
                    self.i += 1
                continue
            if c == "'":
                j = s.find("'", self.i + 1)
                if j < 0:
                    self.error(SQUOTE_MSG)
                if buf:
                    parts.append(("lit", "".join(buf), False))
                    buf = []
                parts.append(("lit", s[self.i + 1:j], True))
                self.i = j + 1
                continue
            if c == '"':
                if buf:
                    parts.append(("lit", "".join(buf), False))
                    buf = []
                self.i += 1
                self.parse_dquoted(parts)
                continue
            if c == "`":
                if buf:
                    parts.append(("lit", "".join(buf), False))
                    buf = []
                parts.append(self.parse_backtick())
                continue
            if c == "$":
                if self.i + 1 < self.n and s[self.i + 1] == "'":
                    if buf:
                        parts.append(("lit", "".join(buf), False))
                        buf = []
                    text, self.i = ansi_c(s, self.i)
                    parts.append(("lit", text, True))
                    continue
                part = self.parse_dollar()
                if part is not None:
                    if buf:
                        parts.append(("lit", "".join(buf), False))
                        buf = []
                    parts.append(part)
                    continue
                buf.append("$")
                self.i += 1
                continue
            if c == "~" and self.i == start:
                self.i += 1
                self.i = name_end(s, self.i)
                parts.append(("tilde",))
                continue
            buf.append(c)
            self.i += 1
        if buf:
            parts.append(("lit", "".join(buf), False))
        return parts

    def parse_dquoted(self, parts):
        s = self.s
        buf = []
        while True:
            if self.i >= self.n:
                self.error(DQUOTE_MSG)
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < self.n:
                nxt = s[self.i + 1]
                if nxt in '$`"\\':
                    buf.append(nxt)
                elif nxt != "\n":
                    buf.append("\\")
                    buf.append(nxt)
                self.i += 2
                continue
            if c == "`":
                if buf:
                    parts.append(("lit", "".join(buf), True))
                    buf = []
                parts.append(self.parse_backtick())
                continue
            if c == "$":
                part = self.parse_dollar()
                if part is not None:
                    if buf:
                        parts.append(("lit", "".join(buf), True))
                        buf = []
                    parts.append(part)
                    continue
                buf.append("$")
                self.i += 1
                continue
            buf.append(c)
            self.i += 1
        parts.append(("lit", "".join(buf), True))

    def parse_dollar(self):
        """At '$': return a part, or None when the '$' is literal."""
        s = self.s
        j = self.i + 1
        if j >= self.n:
            return None
        c = s[j]
        if c == "(":
            if j + 1 < self.n and s[j + 1] == "(":
                self.i = j
                end = arith_end(self.s, self.i)
                if end >= 0:
                    return self.arith_part(end)
            self.i = j + 1
            return ("cmd", self.sub_list(")"))
        if c == "{":
            k = s.find("}", j + 1)
            if k < 0:
                self.error(BRACE_MSG)
            subs = None
            if runs_commands(s, j + 1, k) or s.find("{", j + 1, k) >= 0:
                # the operand holds a substitution or a brace: find the `}` that closes
                self.i = j + 1
                subs = self.scan_subs(self.n, True)
                k = self.i
            self.i = k + 1
            name, default = var_operand(s, j + 1, k, bool(subs))
            return ("var", name, default, subs)
        if is_name_char(c) and not ("0" <= c <= "9"):
            self.i = name_end(s, j)
            return ("var", s[j:self.i], None, None)
        if is_special_var(c):
            self.i = j + 1
            return ("var", c, None, None)
        return None

    def parse_backtick(self):
        text, self.i = backtick_text(self.s, self.i)
        return ("cmd", _Parser(text, self.depth + 1).parse_list(None))

    # Substitutions, subshells, groups and function bodies all recurse, so all of them
    # count towards MAX_DEPTH: `( ( ( ...` must not exhaust the stack.
    def enter(self):
        if self.depth + 1 > MAX_DEPTH:
            raise LimitError(DEPTH_MSG)
        self.depth += 1

    def sub_list(self, stop):
        self.enter()
        tree = self.parse_list(stop)
        self.depth -= 1
        return tree

    def sub_command(self, stop):
        self.enter()
        cmd = self.parse_command(stop)
        self.depth -= 1
        return cmd

    @staticmethod
    def word_text(word):
        return "".join(p[1] if p[0] == "lit" else "~" if p[0] == "tilde" else DYN for p in word)


_TILDE = ("tilde",)


def _segments_of(word):
    return [p[1] if p[0] == "lit" and not p[2] else p for p in word]


def _assigns(word):
    return assigns(_segments_of(word))


def _brace_words(word, loop=False):
    """The words bash's brace expansion makes of a parsed word, or None when it makes
    none."""
    if not any(p[0] == "lit" and not p[2] and "{" in p[1] for p in word):
        return None
    words = brace_expand(_segments_of(word), _TILDE, loop)
    if words is None:
        return None
    return [[("lit", seg, False) if type(seg) is str else seg for seg in w] for w in words]


def parse(src, depth=0):
    """Parse a command line into a tree (list of pipelines of _Cmd)."""
    p = _Parser(src, depth)
    tree = p.parse_list(None)
    if p.pending:
        p.read_heredocs()
    return tree


# ---------------------------------------------------------------- interpretation

def _is_assignment(word):
    return assignment_eq(word) >= 0


class _Work:
    """What one analysis has spent, shared by every context of it."""
    __slots__ = ("chars", "args", "passes", "writes", "env_seen")

    def __init__(self):
        self.chars = 0
        self.args = 0
        self.passes = 0
        self.writes = None      # the commands that write files (_shell_shared.run_written)
        self.env_seen = None    # line variables judged (_shell_shared.command_env)


def _charge(ctx, n):
    """Count n characters expanded against MAX_WORK."""
    work = ctx.work
    work.chars += n
    if work.chars > MAX_WORK:
        raise LimitError(WORK_MSG)


class _Ctx:
    __slots__ = ("env", "cwd", "home", "depth", "origin", "out", "sudo", "funcs", "work", "dirs",
                 "aliases")

    def __init__(self, cwd, home, depth, origin, out, sudo=False, work=None):
        self.env = {}
        self.cwd = cwd
        self.home = home
        self.depth = depth
        self.origin = origin
        self.out = out
        self.sudo = sudo
        self.funcs = {}
        self.work = work if work is not None else _Work()
        self.dirs = ()      # the pushd stack, most recent first
        self.aliases = {}   # name -> text (None while it is being expanded)

    def child(self, origin, depth_inc=1):
        c = _Ctx(self.cwd, self.home, self.depth + depth_inc, origin, self.out, self.sudo,
                 self.work)
        c.env = dict(self.env)
        c.funcs = self.funcs
        c.dirs = self.dirs
        c.aliases = self.aliases
        if c.depth > MAX_DEPTH:
            raise LimitError(DEPTH_MSG)
        return c


class _Word:
    """An expanded word: its value, whether it held unknowns, and the programs whose
    output it contains (for `sh -c "$(curl ...)"`)."""
    __slots__ = ("value", "dynamic", "sources")

    def __init__(self, value, dynamic, sources):
        self.value = value
        self.dynamic = dynamic
        self.sources = sources


def _expand(word, ctx):
    buf = []
    dynamic = False
    sources = []
    for part in word:
        kind = part[0]
        if kind == "lit":
            buf.append(part[1])
        elif kind == "tilde":
            buf.append("~")
        elif kind == "var":
            name, default = part[1], part[2]
            if part[3]:
                _expand(part[3], ctx)     # the operand's substitutions run
            if name == "HOME":
                buf.append("~")
            elif name in ctx.env:
                buf.append(ctx.env[name])
                if DYN_MARK + name in ctx.env:
                    dynamic = True      # assigned a value holding an unknown
            elif name.startswith("!") and len(name) > 1 and ctx.env.get(name[1:]) in ctx.env:
                buf.append(ctx.env[ctx.env[name[1:]]])      # ${!name}: indirection
            elif name == "PWD":
                buf.append(ctx.cwd)
            elif name == "TMPDIR":
                buf.append(TMPDIR_ROOT)
            elif default is not None:
                buf.append(default)
            else:
                buf.append(unknown_var(name))
                dynamic = True
        elif kind == "arith":
            run_arith(_K, part[1], part[2], ctx, None)
            buf.append(DYN)
        else:  # cmd / proc
            inner = ctx.child("$()" if kind == "cmd" else "<()", 0)
            before = len(ctx.out)
            progs = _interpret(part[1], inner)
            sources.extend(progs)
            if kind == "proc":
                buf.append(proc_path(ctx.out, before))
                continue
            value = _static_output(part[1], ctx)
            if value is None:
                buf.append(DYN)
                dynamic = True
            else:
                buf.append(value.rstrip("\n"))
    size = sum(map(len, buf))   # before joining: `$a$a$a...` must not allocate first
    if size > MAX_WORD:
        raise LimitError(WORD_MSG)
    _charge(ctx, size)
    return _Word("".join(buf), dynamic, sources)


def _static_argv(cmd, ctx):
    if cmd.sub is not None or cmd.funcdef is not None or cmd.loop is not None:
        return None
    out = []
    for w in cmd.words:
        for part in w:
            if part[0] in ("cmd", "proc") or (part[0] in ("var", "arith") and part[-1]):
                return None     # (expanding it would run, and emit, its commands again)
        ew = _expand(w, ctx)
        if ew.dynamic:
            return None
        out.append(ew.value)
    return out


def _static_output(tree, ctx, upto=None):
    """The text a pipeline prints, when it is computable without running anything
    (echo/printf of literals, through base64 -d, xxd -r -p, rev), else None."""
    if len(tree) != 1:
        return None
    pipe = tree[0] if upto is None else tree[0][:upto]
    text = None
    for k, cmd in enumerate(pipe):
        argv = _static_argv(cmd, ctx)
        if not argv:
            return None
        prog = normalize_program(argv[0])
        args = argv[1:]
        if k > 0:
            text = filtered_text(prog, args, text)
        else:
            text = printed_text(prog, args, ctx.cwd, cmd.heredoc, argv[0])
            if text is None and cmd.herestring is not None and prog == "base64" and any(
                    a in B64_DECODE for a in args):
                hs = _expand(cmd.herestring, ctx)
                if hs.dynamic:
                    return None
                text = decode_b64(hs.value)
        if text is None:
            return None
    return text


def _split_words(text):
    """Split an `env -S` string into words (quotes honoured, nothing expanded). A string
    that is not one simple command to the shell's parser (env would pass `;`, `(` and
    the like on as words) cannot be split with confidence: ShellError."""
    tree = parse(text, MAX_DEPTH)
    if len(tree) == 1 and len(tree[0]) == 1:
        cmd = tree[0][0]
        if (cmd.sub is None and not cmd.redirects and cmd.loop is None and cmd.funcdef is None
                and cmd.heredoc is None and cmd.herestring is None):
            return [_Parser.word_text(w) for w in cmd.words]
    raise ShellError(ENV_SPLIT_MSG % text[:80])


def _unwrap(argv, ctx, env):
    """Peel wrappers off argv (_shell_shared.unwrap). Returns (argv, sudo, cwd,
    xargs_mode, bare, xargs_file)."""
    return unwrap(argv, ctx.cwd, env, _split_words)


def _emit(ctx, cmd):
    if len(ctx.out) >= MAX_COMMANDS:
        raise LimitError(COMMANDS_MSG)
    work = ctx.work
    work.args += len(cmd.args) + len(cmd.redirects)
    if work.args > MAX_ARGS:
        raise LimitError(ARGS_MSG)
    ctx.out.append(cmd)
    return cmd


def _run_argv(argv, dyn_flags, redirects, ctx, env, sudo_in, origin, stdin_code, sources):
    """Emit the simple command(s) an argv runs. Returns the main SimpleCommand or None."""
    argv, sudo, cwd, xargs, bare, xfile = _unwrap(argv, ctx, env)
    sudo = sudo or sudo_in or ctx.sudo
    if not argv:
        return None
    prog = normalize_program(argv[0])
    args = list(argv[1:])
    dynamic = any(dyn_flags) if dyn_flags else False
    if xargs is not None:
        origin = "xargs"
        # (-0 and -d separate items by NUL or another character: splitting on
        # whitespace too yields more, smaller items, each judged)
        items = stdin_code.replace("\0", " ").split() if stdin_code and not xfile else []
        if not items:
            dynamic = True
            if xargs:
                args = [a.replace(xargs, DYN) for a in args]
            else:
                args.append(DYN)
        elif xargs:
            # -I: one command per input item
            # (each command's size is charged before it is built: many replacement
            # strings times a long item would otherwise be built whole first)
            main = None
            size = sum(map(len, args))
            holes = sum(a.count(xargs) for a in args)
            for item in items:
                _charge(ctx, size + holes * (len(item) - len(xargs)))
                inner = [a.replace(xargs, item) for a in args]
                main = _run_argv([argv[0]] + inner, None, redirects, ctx, dict(env), sudo,
                                 origin, None, sources)
            return main
        else:
            args.extend(items)
    if ctx.aliases and ctx.aliases.get(prog) is not None and not bare:
        run_alias(_K, prog, args, dynamic, redirects, ctx, sudo)
        return None
    if prog == "parallel" and not bare:
        if run_parallel(_K, args, ctx, stdin_code, sudo, cwd):
            return None
    if prog in VAR_CHANGERS and ctx.env:
        forget_vars(prog, args, ctx.env)
    if prog in ctx.funcs and not bare:
        body = ctx.funcs[prog]
        if body is not None:
            run_function(_K, prog, body, args, dynamic, ctx)
        return None
    if args and (args[-1] in HELP_TRIGGERS or args[0] == "help") \
            and help_request(prog, args, argv[0], env, ctx.env):
        # judged as a help request: the (help) pseudo-program, its redirects kept
        return _emit(ctx, SimpleCommand("(help)", [prog], cwd, sudo, env, redirects, origin, "", dynamic))
    sc = SimpleCommand(prog, args, cwd, sudo, env, redirects, origin, "", dynamic)
    if "/" in argv[0]:
        sc.path = argv[0]
        run_program_path(_K, ctx, argv[0], cwd, ctx.home, sudo, origin)
    elif env or ctx.env:
        run_path_lookup(_K, ctx, argv[0], env, ctx.env, cwd, ctx.home, sudo, origin)
    cenv = command_env(env, ctx.env, COMMAND_ENV, ctx.work) if ctx.env else env

    if prog in SHELLS and prog != "busybox":
        if cenv and not COMMAND_ENV.isdisjoint(cenv):
            # (BASH_ENV, ENV: a file of code the shell reads first)
            side_actions(_K, sc, ctx, env_commands(cenv))
        k = shell_code_arg(args)
        if k >= 0:
            return run_shell_code(_K, sc, args[k], ctx, dynamic, sources)
        k = shell_script_arg(args)
        if k < 0:
            sc.code = stdin_code or ""
        elif args[k].startswith("/dev/fd/") and sources:
            sc.code_from = tuple(sources)
        if not sc.code_from:
            run_script_path(_K, ctx, prog, args, k, redirects, cwd, ctx.home, sudo, origin)
        return _emit(ctx, sc)
    if prog == "source" or prog == ".":
        if args and args[0].startswith("/dev/fd/") and sources:
            sc.code_from = tuple(sources)
        elif args:
            run_script_path(_K, ctx, prog, args, 0, redirects, cwd, ctx.home, sudo, origin)
        return _emit(ctx, sc)
    if prog == "eval":
        return run_eval(_K, sc, ctx, dynamic, sources)
    if prog in ("su", "runuser"):
        return run_su(_K, sc, ctx)
    family = interp_family(prog)
    if family in CODE_FLAGS:
        k, args = find_code(family, CODE_FLAGS[family], args)
        sc.args = args
        if k >= 0:
            sc.code = args[k]
            if dynamic and sources:
                sc.code_from = tuple(sources)
            emit_inline(_K, family, args[k], ctx, sudo, env, cwd)
        else:
            k = interp_script_arg(family, args)
            if k < 0:
                sc.code = stdin_code or ""
                if stdin_code:
                    emit_inline(_K, family, stdin_code, ctx, sudo, env, None)
            elif args[k].startswith("/dev/fd/") and sources:
                sc.code_from = tuple(sources)
            run_script_path(_K, ctx, family, args, k, redirects, cwd, ctx.home, sudo, origin)
        main = _emit(ctx, sc)
        if prog in SIDE_PROGRAMS:
            # an interpreter that is also a package runner (`bun x PKG`)
            side_actions(_K, sc, ctx, side_effects(prog, args))
        if cenv and not COMMAND_ENV.isdisjoint(cenv):
            side_actions(_K, sc, ctx, env_commands(cenv))
        return main
    if prog in SQL_FLAGS:
        sc.code = sql_text(prog, args, stdin_code)
    elif prog == "find":
        run_find_actions(_K, sc, ctx)
    elif prog == "ssh":
        run_ssh_remote(_K, sc, ctx)
    elif prog in EXEC_PROGRAMS:
        run_container_exec(_K, sc, ctx)
    main = _emit(ctx, sc)
    if prog in SIDE_PROGRAMS:
        side_actions(_K, sc, ctx, side_effects(prog, args))
        if stdin_code and prog in STDIN_CODE_PROGRAMS:
            side_actions(_K, sc, ctx, stdin_effects(prog, args, stdin_code))
    if cenv and not COMMAND_ENV.isdisjoint(cenv):
        side_actions(_K, sc, ctx, env_commands(cenv))
    return main


def _interpret(tree, ctx):
    """Walk a parse tree, emitting SimpleCommands into ctx.out. Returns the program
    names of the top-level commands it ran (for pipe and substitution context)."""
    progs = []
    for pipe in tree:
        stage_cmds = []   # main SimpleCommand per stage (or None)
        stage_progs = []
        for idx, cmd in enumerate(pipe):
            before = len(ctx.out)
            stdin_code = None
            if idx > 0:
                stdin_code = _static_output([pipe], ctx, upto=idx)
            main = _interpret_cmd(cmd, ctx, stdin_code, idx > 0)
            produced = [c.program for c in ctx.out[before:]]
            names = tuple(dict.fromkeys(produced))
            stage_cmds.append((main, ctx.out[before:]))
            stage_progs.append(names)
            progs.extend(names)
        if len(pipe) > 1:
            first = stage_cmds[0][1]
            names = None
            if len(first) == 1 and first[0].program in ENV_LISTERS:
                names = env_filter(first, stage_cmds[1][1])
            if names is not None:
                stage_cmds[0][1][0].program = "printenv"
                stage_cmds[0][1][0].args = names
                stage_progs[0] = ("printenv",)
            everything = tuple(dict.fromkeys(p for names in stage_progs for p in names))
            files = piped_files(first)
            upstream = ()
            for idx, ((main, produced), names) in enumerate(zip(stage_cmds, stage_progs)):
                for c in produced:
                    c.pipeline = everything
                    if upstream:
                        c.pipe_in = upstream
                        if (c.program in SHELLS or c.program in SQL_FLAGS
                                or interp_family(c.program) in CODE_FLAGS) \
                                and c.code == "" and _reads_stdin_code(c):
                            if idx == 1 and files is not None:
                                c.redirects = list(c.redirects) + [("<", f) for f in files]
                            else:
                                c.code_from = tuple(dict.fromkeys(c.code_from + upstream))
                upstream = tuple(dict.fromkeys(upstream + names))
    return progs


def _reads_stdin_code(c):
    """Whether c reads the code it runs from its stdin (c.code is empty): a shell or an
    interpreter without a script or code argument, a database client (whose empty code
    means no statement and no file of statements on its line)."""
    if c.program in SQL_FLAGS:
        return True
    if c.program in SHELLS:
        return shell_script_arg(c.args) < 0 and shell_code_arg(c.args) < 0
    return interp_script_arg(interp_family(c.program), c.args) < 0


def _interpret_cmd(cmd, ctx, stdin_code, piped):
    if cmd.funcdef is not None:
        ctx.funcs[cmd.funcdef] = cmd.sub
        if calls_itself(_K, cmd.sub, cmd.funcdef):
            _emit(ctx, SimpleCommand("(recursive-function)", [cmd.funcdef], ctx.cwd,
                                     ctx.sudo, {}, (), ctx.origin, "", False))
        return None
    if cmd.heredoc_subs is not None:
        stdin_secret(_K, ctx, _expand(cmd.heredoc_subs, ctx).value)
    if cmd.arith is not None:
        run_arith(_K, cmd.arith[1], cmd.arith[2], ctx, None)
        if cmd.loop is None:
            return None
    redirects = []
    redirect_dyn = False    # a redirect target holds an unknown: the command is dynamic
    stdin_unseen = False    # stdin is a file or a here-string holding an unknown
    stdin_subs = ()         # `< <(cmd)`: the programs whose output is stdin
    for op, w in cmd.redirects:
        ew = _expand(w, ctx)
        if op == ">" and ew.value.isdigit() or ew.value == "-":
            continue
        redirects.append((op, ew.value))
        redirect_dyn = redirect_dyn or ew.dynamic
        stdin_unseen = stdin_unseen or ew.dynamic and op == "<"
        if op == "<" and ew.sources and ew.value.startswith("/dev/fd/"):
            stdin_subs = tuple(ew.sources)
    if cmd.loop is not None:
        run_loop(_K, cmd.loop, ctx)
        if redirects:
            _emit(ctx, SimpleCommand("(subshell)", [], ctx.cwd, ctx.sudo, {}, redirects,
                                     ctx.origin))
        return None
    if cmd.sub is not None:
        child = ctx.child("subshell", 0)
        _interpret(cmd.sub, child)
        if cmd.group:
            _persist(child, ctx)
        if redirects:
            _emit(ctx, SimpleCommand("(subshell)", [], ctx.cwd, ctx.sudo, {}, redirects,
                                     ctx.origin))
        return None
    argv = []
    dyn = []
    sources = []
    for w in cmd.words:
        ew = _expand(w, ctx)
        argv.append(ew.value)
        dyn.append(ew.dynamic)
        sources.extend(ew.sources)
    if argv and _split_program(cmd.words[0], argv[0]):
        # an unquoted expansion in program position is word-split by the shell
        words = argv[0].split()
        argv = words + argv[1:]
        dyn = [dyn[0]] * len(words) + dyn[1:]
    stdin_sources = ()
    if cmd.herestring is not None:
        hs = _expand(cmd.herestring, ctx)
        stdin_secret(_K, ctx, hs.value)
        stdin_code = None if hs.dynamic else hs.value
        stdin_sources = tuple(hs.sources)
        stdin_unseen = stdin_unseen or hs.dynamic
    if cmd.heredoc is not None:
        stdin_code = cmd.heredoc
    if not argv:
        if redirects:
            _emit(ctx, SimpleCommand("(redirect)", [], ctx.cwd, ctx.sudo, {}, redirects,
                                     ctx.origin, "", redirect_dyn))
        return None
    # plain assignments: remember for the rest of the line
    if all(_is_assignment(a) for a in argv):
        for a in argv:
            name, _, value = a.partition("=")
            assign_var(ctx.env, name.rstrip("+"), value, any(dyn))
        return None
    prog0 = normalize_program(argv[0])
    cdpath = None
    assign_dyn = False      # an assignment before cd holds an unknown (as the compiled twin reads it)
    if _is_assignment(argv[0]):
        # `X=1 cd DIR`: the assignments hold for cd only (CDPATH among them), the
        # directory change for the rest of the line
        k = 1
        while k < len(argv) and _is_assignment(argv[k]):
            k += 1
        if k < len(argv) and argv[k] in CD_PROGRAMS:
            assign_dyn = any(dyn[:k])
            for a in argv[:k]:
                if a.startswith("CDPATH="):
                    cdpath = DYN if assign_dyn else a[7:]
            argv = argv[k:]
            dyn = dyn[k:]
            prog0 = argv[0]
    if prog0 in ("builtin", "command") and len(argv) > 1 and argv[1] in CD_PROGRAMS:
        argv = argv[1:]
        dyn = dyn[1:]
        prog0 = argv[0]
    if prog0 in ("export", "declare", "typeset", "local", "readonly"):
        integer = False     # -i: the values are arithmetic expressions
        nameref = False     # -n: the value names another variable (unknown here)
        for a in argv[1:]:
            if a.startswith("-"):
                integer = integer or "i" in a
                nameref = nameref or "n" in a
            elif _is_assignment(a):
                name, _, value = a.partition("=")
                assign_var(ctx.env, name, DYN if nameref else value, any(dyn) or nameref)
                if integer:
                    arith_text(_K, value, ctx)
        # still a command: rules judge what is exported (HISTFILE, LD_PRELOAD, ...)
        _emit(ctx, SimpleCommand(prog0, argv[1:], ctx.cwd, ctx.sudo, {}, redirects, ctx.origin))
        return None
    if prog0 == "alias" or prog0 == "unalias":
        for a in argv[1:]:
            name, eq, value = a.partition("=")
            if prog0 == "unalias":
                ctx.aliases.pop(a, None)
            elif eq and name:
                ctx.aliases[name] = value
    elif prog0 == "printf" and len(argv) > 3 and argv[1] == "-v":
        # printf -v NAME FORMAT ARGS: NAME holds what it would have printed (unknown
        # when a word of it may hold an unknown value)
        text = None if any(DYN in a for a in argv[3:]) else printf_output(argv[3], argv[4:])
        if text is None:
            ctx.env.pop(argv[2], None)
        else:
            ctx.env[argv[2]] = text
    if prog0 == "let":
        for a in argv[1:]:
            arith_text(_K, a, ctx)
    if prog0 in CD_PROGRAMS:
        env = ctx.env
        cwd, ctx.dirs = change_dir(prog0, argv[1:], any(dyn[1:]) or assign_dyn, ctx.cwd, ctx.dirs,
                                   env.get("OLDPWD"), env.get("CDPATH") if cdpath is None else cdpath)
        if cwd != ctx.cwd:
            env["OLDPWD"] = ctx.cwd
            ctx.cwd = cwd
        _emit(ctx, SimpleCommand(prog0, argv[1:], ctx.cwd, ctx.sudo, {}, redirects, ctx.origin))
        return None
    env = {}
    before = len(ctx.out)
    main = _run_argv(argv, dyn + [True] if redirect_dyn else dyn, redirects, ctx, env, False,
                     ctx.origin, stdin_code, sources)
    if main is not None and stdin_sources and main.code == "" and not main.code_from \
            and (main.program in SHELLS or interp_family(main.program) in CODE_FLAGS) \
            and _reads_stdin_code(main):
        main.code_from = stdin_sources
    if stdin_subs or stdin_unseen:
        # code read from stdin that the call does not show (by the command or the one a
        # container exec runs): what a process substitution prints, as if piped from it,
        # else code of unknown content
        for c in ctx.out[before:]:
            if c.code == "" and not c.code_from and (c.program in SHELLS or c.program in SQL_FLAGS
                                                      or interp_family(c.program) in CODE_FLAGS) \
                    and _reads_stdin_code(c):
                if stdin_subs:
                    c.code_from = stdin_subs
                else:
                    c.code = DYN
                    c.dynamic = True
    if main is not None and (redirects or main.program == "tee" or main.program == "mkfifo"):
        if ctx.work.writes is None:
            ctx.work.writes = []
        ctx.work.writes.append((len(ctx.out), main, stdin_code))
    if main is not None and stdin_code and main.program in SHELLS and main.code == stdin_code:
        return run_stdin_shell(_K, main, stdin_code, ctx)
    return main


def _persist(child, ctx):
    """What a brace group or a function call leaves behind in the shell that ran it:
    its working directory, directory stack and variables."""
    ctx.cwd = child.cwd
    ctx.dirs = child.dirs
    ctx.env = child.env


def _run_code(code, ctx):
    _interpret(parse(code, ctx.depth), ctx)


def _k_run(argv, ctx, env, sudo, origin, dynamic=False):
    if not argv:
        return          # an empty command runs nothing (Kernel.run)
    _run_argv(argv, [True] if dynamic else None, [], ctx, env, sudo, origin, "", [])


def _k_word(word, ctx):
    ew = _expand(word, ctx)
    return None if ew.dynamic else ew.value


def _k_subs(text, depth):
    if not runs_commands(text, 0, len(text)):
        return None
    p = _Parser(text, depth)
    return p.scan_subs(p.n, False)


# what the shared handlers (lighthouse._fast._shell_shared) call back into
_K = Kernel(_run_code, _interpret, _k_run, SimpleCommand, _emit, _persist, _charge, scan_inline, _k_word, _k_subs,
            _expand, _Parser.word_text)


def _split_program(word, value):
    """Whether a program word came from an unquoted-looking expansion that holds
    whitespace (`$(echo cm0gLXJm | base64 -d)`), which the shell splits into words."""
    if not (" " in value or "\t" in value or "\n" in value):
        return False
    for part in word:
        if part[0] == "var" or part[0] == "cmd":
            return True
    return False


def analyze(command, cwd="", home=None):
    """Analyse a command line. Raises ShellError when it cannot be analysed."""
    tree = parse(check_command(command))
    out = []
    ctx = _Ctx(cwd or "", home, 0, "", out)
    _interpret(tree, ctx)
    if ctx.work.writes:
        run_written(_K, ctx, interp_family)
    for path, runner in fetched_runs(out):
        _emit(ctx, SimpleCommand(RUN_DOWNLOADED, [path], runner.cwd, runner.sudo, {}, (), "download"))
    return out
