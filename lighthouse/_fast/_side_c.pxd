# Types for the compiled build of _side.py (module _side_c): the per-command entry point
# and the short scans it runs, so that a command with no side effect costs a few C-level
# loops and calls instead of Python calls. The pure twin imports _side.py as it is; this
# file only changes how the same source is compiled (Cython's augmenting .pxd).
cimport cython

cdef int _R_OPTIONS, _R_POSITIONALS, _R_RUNNER, _R_CODE, _R_SSH, _R_GIT, _R_FILE_URL, _R_PACKAGE, _R_FD, _R_TRAP
cdef int _R_TAR, _R_CMAKE, _R_VARS, _R_MODULES
cdef dict _READERS
cdef dict _TRIGGERS
cdef dict _SIDE
cdef frozenset _CODE_FILE_PROGRAMS
cdef dict _TEXT_TRIGGERS
cdef frozenset _GIT_GLOBAL_VALUE, _GIT_RUNS
# the readers' tables (dict lookups and set tests as C calls)
cdef dict COMMAND_OPTIONS, TRANSPORT_OPTIONS, ARGV_RUNNERS, RUNNER_POSITIONALS, RUNNER_GLOBAL_VALUE
cdef dict PACKAGE_RUNNERS, PACKAGE_COMMANDS, GIT_COMMAND_OPTIONS, GIT_COMMAND_OPERANDS
cdef frozenset _SINGLE_DASH_LONG, _CHECKPOINT_PROGRAMS


@cython.locals(found=list, entry=tuple, trigger=tuple)
cpdef list side_effects(str prog, list args)


@cython.locals(found=list, trigger=tuple, language=str)
cpdef list stdin_effects(str prog, list args, str text)


cpdef list _read_side(str prog, list args)


@cython.locals(found=list, k=Py_ssize_t)
cdef list _read_bits(str prog, list args, int bits)


@cython.locals(a=str, n=Py_ssize_t, c=Py_UCS4)
cdef bint _names_a_stream(list args) except -1


@cython.locals(rx=object, needs=tuple, alternatives=tuple, literal=str, low=str)
cdef bint _triggered(tuple trigger, str text) except -1


@cython.locals(a=str)
cdef list _command_options(str prog, list args)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef list _command_positionals(str prog, list args)


@cython.locals(n=Py_ssize_t, j=Py_ssize_t, a=str, flags=list)
cdef tuple _tmux_options(list args, Py_ssize_t k, str values)


@cython.locals(n=Py_ssize_t, j=Py_ssize_t, literal=bint, flags=str, key=str, parts=list, text=str)
cdef list _tmux_keys(list args, Py_ssize_t k)


cdef list _argv_runner(str prog, list args)


# a package runner's options before its subcommand, asked by _argv_after and
# _package_command of every npm, pnpm, yarn, bun, uv, ... command
@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef Py_ssize_t _skip_global_options(str prog, list args) except -1


cdef list _code(str prog, list args)


cdef list _ssh_option_commands(list args)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef bint _git_side_possible(list args) except -1


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str, key=str, value=str)
cdef list _git_config_commands(list args)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t)
cdef list _git_file_reads(list args)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef object _argv_after(str prog, list args)


# git's subcommand and the commands it runs, asked of every git command
@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef Py_ssize_t _git_subcommand(list args) except -1


@cython.locals(j=Py_ssize_t, sub=str, rest=list, out=list, names=tuple)
cdef list _git_subcommand_commands(list args, Py_ssize_t k)


@cython.locals(j=Py_ssize_t, a=str, name=str)
cdef bint _option_named_after(list args, Py_ssize_t k, tuple names) except -1


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, j=Py_ssize_t, positionals=Py_ssize_t, roots=list, commands=list,
               out=list)
cdef list _fd_commands(list args)


@cython.locals(k=Py_ssize_t)
cdef list _trap_command(list args)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, p=Py_ssize_t, i=Py_ssize_t, size=Py_ssize_t, a=str, pending=list,
               members=list, out=list, reads=bint)
cdef list _tar_directory_reads(list args)


@cython.locals(a=str, path=str)
cdef list _file_urls(list args)


@cython.locals(name=str, n=Py_ssize_t)
cdef bint _named(str a, object names) except -1


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, j=Py_ssize_t, eq=Py_ssize_t, a=str)
cpdef list _option_values(list args, object names, bint bundles=*)


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cdef object _package_command(str prog, list args)


# Download, then run: typed loops and C calls, so that a call whose downloads nothing
# runs costs one pass over its commands.
cdef bint _fetches(object c) except -1


@cython.locals(a=str)
cdef bint _runs_a_file(object c) except -1


cdef bint _piped_download(object c) except -1


@cython.locals(prog=str, a=str, last=str, near=bint)
cdef bint _from_scratch(object c) except -1


@cython.locals(args=list, prog=str, files=list, dirs=list, urls=list, a=str, u=str, f=str, out_dir=str,
               names=tuple, dir_opts=tuple, given=list, remote_name=bint, pos=list, cwd=str, base=str,
               paths=list, k=Py_ssize_t)
cdef tuple _downloads(object sc)


@cython.locals(fetches=bint, runs=bint, hit=bint, first=Py_ssize_t, n=Py_ssize_t, k=Py_ssize_t,
               j=Py_ssize_t, i=Py_ssize_t, last=Py_ssize_t, fetched=set, fetched_dirs=list, out=list,
               files=list, dirs=list, prog=str, args=list, cwd=str, a=str, p=str, d=str, target=str,
               pos=list, candidates=list, src=str)
cpdef list fetched_runs(list commands)


@cython.locals(path=str, name=str, i=Py_ssize_t)
cdef str _url_basename(str url)


@cython.locals(full=str, parts=list, seg=str)
cdef str _join(str cwd, str path)
