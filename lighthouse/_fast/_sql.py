"""Whether the SQL a database client is told to run only reads: the `sql_read_only`
matcher key of shell rules (see _rulespec.COMMAND_TESTS) and the `sql_input_read_only`
key of tool rules, written once for both engines: the pure one imports this source, the
compiled one cimports the same source compiled by Cython (_sql_c, typed by _sql_c.pxd).
The answer errs towards "not read-only", which keeps the rule's ask: a statement
is read-only when every statement of the text starts with a reading keyword (SELECT, SHOW,
EXPLAIN, DESCRIBE, WITH, VALUES, TABLE, USE), no word anywhere writes, locks, runs
a program or a file (INSERT, DELETE, DROP, COPY ... TO PROGRAM, INTO OUTFILE, CALL, DO,
FOR UPDATE, ...), every function called is a known side-effect-free built-in (a user
function, `pg_read_file`, `lo_export`, `dblink`, `pg_sleep` are not), and the client's
own commands are the listing ones (`\\d`, `\\l` in psql; `.tables`, `.schema` in sqlite3;
never `\\!`, `\\copy`, `\\o`, `\\g`, `.shell`, `.output`). Text that is unknown (built
from a variable), unterminated or longer than MAX_SQL is not read-only.
"""

from __future__ import annotations

import re

__all__ = ["MAX_SQL", "SQL_FIELDS", "sql_read_only", "statement_read_only", "input_sql",
           "compile_read_only", "test_read_only", "test_input_read_only"]

# SQL text longer than this is not classified (not read-only: the rule's ask stands).
MAX_SQL = 16384

_PG = frozenset({"psql", "pgcli", "usql", "cockroach"})
_MY = frozenset({"mysql", "mariadb", "mycli"})
_LITE = frozenset({"sqlite3", "litecli"})

# Client options that run or write something beside the statement given: a script file,
# an init command, an output or log file.
_REJECT_OPTIONS = {
    "pg": ("-f", "--file", "-o", "--output", "-L", "--log-file"),
    "my": ("--init-command", "--tee", "-T", "--pager", "--plugin-dir", "--load-data-local-dir",
           "--local-infile", "--execute-file", "--source"),
    "lite": ("-cmd", "-init", "--cmd", "--init"),
}

_FIRST = frozenset({"select", "show", "explain", "describe", "desc", "with", "values", "table", "use"})
_FORBIDDEN = frozenset({
    "insert", "update", "delete", "merge", "upsert", "drop", "create", "alter", "truncate",
    "grant", "revoke", "copy", "call", "do", "execute", "exec", "prepare", "deallocate",
    "lock", "unlock", "into", "outfile", "dumpfile", "load", "attach", "detach", "vacuum",
    "reindex", "cluster", "refresh", "listen", "notify", "set", "comment", "security",
    "begin", "commit", "rollback", "savepoint", "start", "import", "handler", "kill",
    "shutdown", "flush", "reset", "purge", "install", "uninstall", "rename", "optimize",
    "repair", "program", "system", "source", "pragma", "returning"})
# Words that may stand before "(" without being a function call.
_KEYWORDS = frozenset({
    "select", "from", "join", "in", "exists", "any", "all", "some", "values", "over", "filter",
    "within", "as", "on", "using", "and", "or", "not", "when", "then", "else", "where", "with",
    "lateral", "union", "intersect", "except", "by", "having", "is", "like", "ilike", "between",
    "case", "distinct", "row", "array", "table", "limit", "offset", "group", "order",
    "partition", "rows", "range", "explain", "analyze", "verbose", "format", "costs",
    "buffers", "timing", "summary", "interval", "date", "time", "timestamp", "numeric",
    "decimal", "varchar", "char", "int", "integer", "bigint", "float", "double", "real",
    "boolean", "text", "json", "jsonb", "uuid", "select_list"})
# Built-in functions without side effects (PostgreSQL, MySQL, SQLite).
_FUNCTIONS = frozenset({
    "count", "sum", "avg", "min", "max", "coalesce", "nullif", "greatest", "least", "lower",
    "upper", "length", "char_length", "character_length", "octet_length", "substring",
    "substr", "trim", "ltrim", "rtrim", "btrim", "concat", "concat_ws", "round", "floor",
    "ceil", "ceiling", "abs", "mod", "power", "sqrt", "exp", "ln", "log", "sign", "trunc",
    "now", "current_timestamp", "current_date", "localtimestamp", "date_trunc", "date_part",
    "extract", "to_char", "to_date", "to_timestamp", "to_number", "cast", "convert", "age",
    "make_date", "make_interval", "version", "current_database", "current_schema",
    "current_setting", "pg_size_pretty", "pg_total_relation_size", "pg_relation_size",
    "pg_database_size", "pg_table_size", "pg_indexes_size", "pg_column_size",
    "pg_backend_pid", "pg_postmaster_start_time", "pg_is_in_recovery",
    "pg_last_wal_receive_lsn", "pg_get_viewdef", "pg_get_indexdef", "pg_get_constraintdef",
    "pg_get_functiondef", "pg_typeof", "obj_description", "col_description",
    "has_table_privilege", "has_schema_privilege", "has_database_privilege",
    "string_agg", "array_agg", "json_agg", "jsonb_agg", "json_object_agg",
    "jsonb_object_agg", "json_build_object", "jsonb_build_object", "json_build_array",
    "jsonb_build_array", "to_json", "to_jsonb", "row_to_json", "jsonb_pretty",
    "json_extract_path_text", "jsonb_extract_path_text", "jsonb_array_length",
    "json_array_length", "jsonb_typeof", "json_typeof", "jsonb_each", "json_each",
    "jsonb_object_keys", "json_object_keys", "jsonb_array_elements", "json_array_elements",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "lag", "lead",
    "first_value", "last_value", "nth_value", "ntile", "percentile_cont", "percentile_disc",
    "mode", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
    "bool_and", "bool_or", "every", "bit_and", "bit_or", "unnest", "generate_series",
    "split_part", "position", "strpos", "left", "right", "lpad", "rpad", "repeat", "reverse",
    "md5", "sha256", "encode", "decode", "quote_ident", "quote_literal", "regexp_replace",
    "regexp_match", "regexp_matches", "regexp_split_to_array", "array_length", "array_to_string",
    "string_to_array", "cardinality", "array_position", "date_format", "from_unixtime",
    "unix_timestamp", "datediff", "timestampdiff", "date_add", "date_sub", "str_to_date",
    "group_concat", "ifnull", "isnull", "if", "instr", "locate", "database", "schema", "user",
    "current_user", "session_user", "connection_id", "found_rows", "row_count", "uuid",
    "typeof", "datetime", "julianday", "strftime", "unixepoch", "printf", "quote", "hex",
    "json_extract", "json_array", "json_object", "json_group_array", "json_group_object",
    "total", "random", "likelihood", "zeroblob", "glob", "table_info", "index_list",
    "index_info", "foreign_key_list", "pragma_table_info", "pragma_index_list",
    "format", "initcap", "translate", "ascii", "chr", "char", "to_hex", "width_bucket",
    "date_bin", "justify_interval", "clock_timestamp", "statement_timestamp",
    "transaction_timestamp", "timeofday", "isfinite", "num_nulls", "num_nonnulls",
    "sqlite_version", "changes", "total_changes", "last_insert_rowid", "replace"})
# What may stand before "(" in a statement that only reads: side-effect-free built-ins
# and keywords.
_KNOWN_CALLS = _FUNCTIONS | _KEYWORDS
# The client's own commands that only list or format.
_PSQL_META = re.compile(r"^\\(d[A-Za-z]*[+S]*|l\+?|x|conninfo|timing|encoding|dconfig\+?)$")
_MYSQL_META = frozenset({"\\G", "\\g"})
_SQLITE_DOT = frozenset({".tables", ".schema", ".indexes", ".indices", ".headers", ".mode",
                         ".dbinfo", ".databases", ".show", ".width", ".timer", ".fullschema",
                         ".stats", ".nullvalue", ".separator", ".help"})

# psql interpolates its variables (`:name`, `:'name'`) into the text it sends.
_PSQL_VARIABLE = re.compile(r"(?<!:):(?!:)\s*(''|quoted_name|[A-Za-z_{])")
# A dollar-quote's tag (`$$`, `$body$`), matched where it stands: a slice of the rest of
# the text for each `$` would make a text of many `$` cost the square of its length.
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def _word_end(text, i, n):
    """The end of the word that starts at i (an ASCII letter or "_", then letters,
    digits, "_", "$" and "."), or i when none starts there. A character test, in the
    compiled build a C loop (a Python regex costs hundreds of instructions a match)."""
    if i < n:
        c = text[i]
        if "a" <= c <= "z" or "A" <= c <= "Z" or c == "_":
            i += 1
            while i < n:
                c = text[i]
                if "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_" or c == "$" or c == ".":
                    i += 1
                else:
                    break
    return i


def _words(text):
    """The words of a text, left to right (each run _word_end reads, from a character
    that is not inside an earlier word): one pass over the text."""
    out = []
    n = len(text)
    i = 0
    while i < n:
        j = _word_end(text, i, n)
        if j > i:
            out.append(text[i:j])
            i = j
        else:
            i += 1
    return out


# What may open a quote, a dollar quote or a comment, by family: _strip finds each with
# str.find and copies the text between them in slices.
_OPENERS = {"pg": ("'", '"', "`", "$", "--", "/*"), "my": ("'", '"', "`", "#", "--", "/*"),
            "lite": ("'", '"', "`", "--", "/*")}


def _strip(text, family):
    """The text with string literals emptied and comments removed, or None when a quote
    or comment is not closed. Identifiers in double quotes (and backquotes) become a
    plain name, so that `"delete"` is not read as the keyword. Each opener's next place
    is looked for again only once the text before it has been read past (and a MySQL
    string's next backslash likewise), so the searches cover the text once each: time
    linear in it."""
    openers = _OPENERS[family]
    count = len(openers)
    at = [text.find(o) for o in openers]
    n = len(text)
    escapes = family == "my"
    escape = 0          # the next backslash from where a string is read (-1: none)
    out = []
    run = 0
    while True:
        k = n
        w = -1
        for x in range(count):
            p = at[x]
            if 0 <= p < run:
                p = text.find(openers[x], run)
                at[x] = p
            if 0 <= p < k:
                k = p
                w = x
        if w < 0:
            break
        out.append(text[run:k])
        o = openers[w]
        if o == "'" or o == '"' or o == "`":
            j = k + 1
            e = text.find(o, j)         # the next quote from j (each looked for once)
            while True:
                if escapes:
                    if 0 <= escape < j:
                        escape = text.find("\\", j)
                    if escape >= 0 and (e < 0 or escape < e):
                        j = escape + 2
                        if 0 <= e < j:
                            e = text.find(o, j)
                        continue
                if e < 0:
                    return None
                if e + 1 < n and text[e + 1] == o:
                    j = e + 2
                    e = text.find(o, j)
                    continue
                j = e
                break
            out.append("''" if o == "'" else " quoted_name ")
            run = j + 1
        elif o == "$":
            d = _DOLLAR_TAG.match(text, k)
            if d is None:
                out.append(o)
                run = k + 1
                continue
            tag = d.group(0)
            j = text.find(tag, k + len(tag))
            if j < 0:
                return None
            out.append("''")
            run = j + len(tag)
        elif o == "/*":
            j = text.find("*/", k + 2)
            if j < 0:
                return None
            out.append(" ")
            run = j + 2
        else:                                   # "--" or "#": to the line's end
            j = text.find("\n", k)
            run = n if j < 0 else j
    out.append(text[run:])
    return "".join(out)


def statement_read_only(text, family="pg"):
    """Whether SQL text (one or more statements, with the client's own commands on lines
    of their own) only reads; family: "pg", "my" or "lite"."""
    if not text or len(text) > MAX_SQL or "\x00" in text:
        return False
    if type(text) is not str and isinstance(text, str):
        text = str.__str__(text)        # a str subclass is read by its value
    return _body_read_only(_strip(text, family), family)


def _body_read_only(body, family):
    """statement_read_only of a text whose _strip is ``body``."""
    if body is None:
        return False
    if family == "pg" and ":" in body and _PSQL_VARIABLE.search(body):
        return False
    statements = []
    listed = False          # a client command that lists (\\dt, .tables) was seen
    for line in body.split("\n"):
        s = line.strip()
        if s.startswith("\\") and family in ("pg", "my"):
            cmd = s.split()[0].rstrip(";")
            if family == "pg" and (not _PSQL_META.match(cmd) or len(s.split()) > 2):
                return False
            if family == "my" and cmd not in _MYSQL_META:
                return False
            listed = True
            continue
        if s.startswith(".") and family == "lite":
            if s.split()[0] not in _SQLITE_DOT or len(s.split()) > 3:
                return False
            listed = True
            continue
        if "\\" in s and family in ("pg", "my"):
            # a client command after a statement on the same line (`SELECT 1 \g file`)
            head, _, meta = s.partition("\\")
            if family == "pg" or ("\\" + meta).split()[0] not in _MYSQL_META:
                return False
            s = head
        statements.append(s)
    seen = listed
    for stmt in " ".join(statements).split(";"):
        stmt = stmt.lower()
        words = _words(stmt)
        if not words:
            continue
        seen = True
        if words[0] not in _FIRST or not _FORBIDDEN.isdisjoint(words):
            return False
        if "(" in stmt:
            for run in _called(stmt):
                name = run.lstrip("0123456789$.")
                if name and name not in _KNOWN_CALLS:
                    return False
    return seen


# The characters of a word (_word_end): a name called is made of them.
_RUN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$."


def _called(text):
    """The runs of word characters a call's "(" follows (after any whitespace), each
    whole: the name called is the run from its first letter or underscore. Each "(" is
    found by str.find and the text between two of them is read once (a regex tried at
    every character cost hundreds of instructions each, and a run not followed by "("
    had to be matched possessively to stay linear)."""
    out = []
    start = 0
    p = text.find("(")
    while p >= 0:
        head = text[start:p].rstrip()
        run = head[len(head.rstrip(_RUN_CHARS)):]
        if run:
            out.append(run)
        start = p + 1
        p = text.find("(", start)
    return out


def _family(prog):
    if prog in _PG:
        return "pg"
    if prog in _MY:
        return "my"
    if prog in _LITE:
        return "lite"
    return None


# Variables a client may be given on the line; any other (PAGER, PSQLRC, EDITOR, ...)
# can run a program or a startup script beside the statement.
_SAFE_ENV = ("PG", "MYSQL_PWD", "MYSQL_HOST", "MYSQL_TCP_PORT", "TZ", "LANG", "LC_")


def sql_read_only(sc):
    """Whether a database client's command (a SimpleCommand) runs only reading SQL that
    is known in full: its -c/-e text or inline statement, nothing read from a file or an
    unknown stdin, none of the client's options that run or write something else."""
    family = _family(sc.program)
    if family is None or sc.dynamic or not sc.code:
        return False
    for name in sc.env:
        if not name.startswith(_SAFE_ENV) or name in ("PGPASSFILE", "PGSERVICEFILE", "PAGER"):
            return False
    reject = _REJECT_OPTIONS[family]
    for a in sc.args:
        if a in reject or a.startswith("--") and a.split("=", 1)[0] in reject:
            return False
        if family == "pg" and a.startswith("-f") and a != "-f":
            return False
    for op, _ in sc.redirects:
        if op == "<":
            return False
    return statement_read_only(sc.code, family)


def compile_read_only(value):
    if not isinstance(value, bool):
        raise ValueError("sql_read_only must be true or false")
    return value


def test_read_only(want, sc):
    return sql_read_only(sc) == want


# The fields of a database tool's input that hold the SQL it runs, in the order asked.
SQL_FIELDS = ("sql", "query", "statement", "statements", "queries", "sql_query")
# The words a statement (or a batch of them) starts with, in the dialects of the
# databases such tools front: text starting otherwise is not SQL (a search phrase). The
# reading and writing keywords, less those that only stand inside a statement, and the
# statements of other dialects.
_STATEMENT_WORDS = (_FIRST | _FORBIDDEN | frozenset({
    "abort", "analyse", "analyze", "backup", "bulk", "check", "checkpoint", "checksum", "close",
    "dbcc", "declare", "discard", "download", "end", "export", "fetch", "get", "go", "if", "list",
    "move", "open", "print", "put", "raiserror", "reconfigure", "release", "remove", "replace",
    "restore", "sp_configure", "throw", "undrop", "unlisten", "unload", "upload", "while",
    "xp_cmdshell"})) - frozenset({"into", "outfile", "dumpfile", "program", "returning"})


def input_sql(tool_input):
    """The SQL a database tool's input asks to run: the text of its first SQL field
    (SQL_FIELDS; a list of statements is one batch), None when the input has none, and
    "" (never read-only) for a field that is neither text, a list of texts nor an object
    (a document database's filter, which is not SQL)."""
    if not isinstance(tool_input, dict):
        return None
    for name in SQL_FIELDS:
        value = tool_input.get(name)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ";\n".join(value)
        if not isinstance(value, str):
            return "" if not isinstance(value, dict) else None
        return value if type(value) is str else str.__str__(value)
    return None


def _starts_statement(body):
    """Whether a stripped SQL text starts as a statement does (not a search phrase)."""
    head = body.lstrip(" \t\r\n(;")
    if head[:1] in ("\\", "."):
        return True                     # a client command (`\\copy`, `.shell`)
    end = _word_end(head, 0, len(head))
    return end > 0 and head[:end].lower() in _STATEMENT_WORDS


def test_input_read_only(want, tool_input):
    """A tool rule's `sql_input_read_only`: whether the SQL of the input only reads, read
    as PostgreSQL and as MySQL (their quoting and comments differ; a statement counts as
    reading only when it does in both). An input without SQL, or whose text does not
    start as a statement does (a search phrase), matches neither value; text that cannot
    be read (an unclosed quote, over MAX_SQL) does not only read."""
    text = input_sql(tool_input)
    if text is None:
        return False
    if not text or len(text) > MAX_SQL or "\x00" in text:
        return want is False
    body = _strip(text, "pg")
    if body is not None and not _starts_statement(body):
        return False
    read_only = _body_read_only(body, "pg")
    if read_only and ("\\" in text or "#" in text or "$" in text or ":" in text):
        # the characters the two readings treat apart (MySQL's backslash escapes and #
        # comments, PostgreSQL's dollar quotes, psql's :variables and \commands): a text
        # without them reads the same in both
        read_only = _body_read_only(_strip(text, "my"), "my")
    return read_only == want
