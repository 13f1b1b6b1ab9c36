# Types of the compiled rule engine, for modules that want C-level access to them.

cimport cython

from lighthouse._fast._cache_c cimport DecisionCache


@cython.final
cdef class PathGlob:
    cdef readonly object anchor
    cdef readonly list segs
    cdef readonly list literal
    cdef readonly Py_ssize_t nprefix
    cdef readonly object tail
    cdef readonly Py_ssize_t minsegs
    cdef readonly int shape
    cdef int form
    cdef Py_ssize_t nsegs
    cdef unsigned char *kinds
    cdef Py_ssize_t *fixed_after
    cdef list _wilds
    cdef bint _match(self, list v) except -1


@cython.final
cdef class _PathIndex:
    cdef dict by_tail
    cdef dict by_second_abs
    cdef dict by_second_home
    cdef dict by_second_ws
    cdef list by_end
    cdef list rest
    cdef bint empty
    cdef unsigned long long bloom[16]
    cdef dict _second(self, int form)


@cython.final
cdef class _TextSet:
    cdef object literals
    cdef list by_first
    cdef list by_last
    cdef list wild
    cdef tuple needles
    cdef bint empty


@cython.final
@cython.no_gc
cdef class _Forms:
    cdef list abs_segs
    cdef list home_segs
    cdef list ws_segs
    cdef object second0
    cdef object second1
    cdef object second2
    cdef unsigned int second_bits[3]
    cdef object tail0
    cdef object tail1
    cdef object tail2
    cdef unsigned int tail_bits[3]
    cdef int ntails
    cdef int end_chars[3]
    cdef object place
    cdef str value
    cdef Py_ssize_t lens[3]
    cdef object home_last


@cython.final
cdef class GlobList:
    cdef readonly list pos
    cdef readonly list neg
    cdef readonly object mode
    cdef readonly object exact
    cdef readonly object pos_index
    cdef readonly object neg_index
    cdef bint _is_path
    cdef _TextSet _tpos
    cdef _TextSet _tneg
    cdef _PathIndex _ppos
    cdef _PathIndex _pneg
    cdef bint _match_text(self, str value) except -1
    cdef bint _match_forms(self, _Forms forms) except -1


@cython.final
cdef class ProgramSpec:
    cdef readonly frozenset value_options
    cdef readonly frozenset data_options
    cdef readonly Py_ssize_t data_positionals
    cdef readonly bint single_dash_long
    cdef readonly object writes
    cdef readonly frozenset write_options
    cdef readonly tuple write_prefixes
    cdef readonly frozenset data_unless
    cdef readonly frozenset writes_when
    cdef readonly frozenset global_options
    cdef readonly bint subcommand_dashdash
    cdef readonly tuple long_abbrev
    cdef readonly bint toolchain_selector
    cdef readonly bint bundled_first
    cdef readonly bint digit_flags
    cdef readonly object writes_if
    cdef readonly tuple chdir_options
    cdef readonly dict subcommands
    cdef readonly Py_ssize_t level
    cdef int _mode
    cdef dict _abbrev_memo


@cython.final
cdef class _Rx:
    cdef object rx
    cdef object match
    cdef tuple atoms
    cdef bint always
    cdef Py_ssize_t minlen


@cython.final
cdef class Rule:
    # Laid out in the order _match_command reads the fields, so that the few cache lines
    # a rule rejected early needs are the first ones.
    cdef unsigned int _needs
    cdef int _sudo
    cdef int _dynamic
    cdef Py_ssize_t _nsub
    cdef readonly GlobList origin
    cdef readonly list subcommand
    cdef readonly list flags_all
    cdef readonly tuple flags_any
    cdef readonly tuple flags_none
    cdef readonly object nargs_min
    cdef readonly object nargs_max
    cdef readonly GlobList args
    cdef readonly GlobList args_all
    cdef readonly GlobList paths
    cdef readonly GlobList paths_all
    cdef readonly GlobList reads
    cdef readonly object options
    cdef readonly GlobList writes
    cdef readonly GlobList redirects
    cdef readonly GlobList pipe_in
    cdef readonly GlobList pipeline
    cdef readonly GlobList code_from
    cdef readonly object code
    cdef _Rx _code_rx
    cdef readonly bint strip_literals
    cdef list _env_items
    cdef list _field_items
    cdef readonly object any_field
    cdef _Rx _any_rx
    cdef readonly int verdict
    cdef readonly object id
    cdef readonly object reason
    cdef readonly Py_ssize_t order
    cdef readonly GlobList tools
    cdef readonly GlobList programs
    cdef readonly object sudo
    cdef readonly object dynamic
    cdef readonly object env
    cdef readonly object fields
    cdef readonly object is_bash
    cdef readonly tuple tests
    cdef public bint pf         # the engine's word index stands for its path matchers

    cdef unsigned int _needs_of(self)


@cython.final
@cython.no_gc
cdef class _WordIndex:
    cdef frozenset names
    cdef frozenset segments
    cdef list by_last
    cdef list by_first
    cdef list rest
    cdef unsigned long long name_bits[64]
    cdef unsigned long long seg_bits[64]


@cython.final
@cython.no_gc
cdef class _WordCtx:
    cdef str cwd
    cdef object home
    cdef bint usable
    cdef Py_ssize_t max_len
    cdef Py_ssize_t max_slashes


@cython.final
cdef class Engine:
    cdef readonly list rules
    cdef readonly dict programs
    cdef readonly dict _bash_exact
    cdef readonly list _bash_glob
    cdef readonly list _bash_any
    cdef readonly list _tool_rules
    cdef readonly dict _prog_cache
    cdef readonly dict _tool_cache
    cdef dict _sub_cache
    cdef Py_ssize_t _sub_cache_size
    cdef tuple _parsed          # (command, cwd, home, commands) of the last Bash call parsed
    cdef tuple _option_words    # _engine_shared.option_words of the engine's specs
    cdef readonly object word_index     # _globs.word_index of path_prefilter, or None
    cdef _WordIndex _widx
    cdef _WordCtx _wctx         # the last word context made
    cdef dict _wctx_by_cwd      # word contexts by working directory
    cdef _WordCtx _word_ctx(self, str cwd, object home)
    cdef tuple _rules_for_program(self, str prog)
    cdef tuple _rules_for_command(self, str prog, list positionals)
    cdef tuple _rules_for_tool(self, object tool)
    cdef tuple _evaluate(self, object tool, object tool_input, object cwd, object home)
    cdef tuple _evaluate_bash(self, object tool_input, str cwd, object home, tuple only=*)
    cdef tuple _evaluate_tool(self, object tool, object tool_input, object cwd, object home)


@cython.final
cdef class Decision:
    cdef readonly object verdict
    cdef readonly object rule_id
    cdef readonly object reason
    cdef readonly object tier
    cdef readonly object cached
    cdef readonly object generation


@cython.final
cdef class Checker:
    cdef public object engine
    cdef public object generation
    cdef public DecisionCache cache
    cdef public object fallback
    cdef public object raw
