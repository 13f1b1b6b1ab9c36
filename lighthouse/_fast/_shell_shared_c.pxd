# Types for the compiled build of _shell_shared.py (module _shell_shared_c): the wrapper
# peeling both analysers share, which the compiled analyser calls per wrapped command
# (sudo, env, timeout, xargs, ...) as C functions. The pure twin imports _shell_shared.py
# as it is; this file only changes how the same source is compiled (Cython's augmenting
# .pxd, as _side_c.pxd does for _side.py).
cimport cython

cdef dict _WRAPPER_SPECS


@cython.locals(n=Py_ssize_t, k=Py_ssize_t, c=Py_UCS4)
cpdef Py_ssize_t assignment_eq(str word) except -2


@cython.locals(j=Py_ssize_t)
cpdef str program_name(str word)


@cython.locals(n=Py_ssize_t, k=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t, c=Py_UCS4)
cpdef str interp_family(str prog)


@cython.locals(count=Py_ssize_t, k=Py_ssize_t, c=Py_UCS4)
cdef bint _digits_and_dots(str text, Py_ssize_t start) except -1


cdef dict _WRAPPER_KIND
cdef int _W_BUSYBOX, _W_QUERY, _W_SUDO, _W_ENV, _W_XARGS, _W_NICE, _W_CHDIR, _W_ROOT, _W_WATCH


@cython.locals(sudo=bint, xfile=bint, peeled=Py_ssize_t, k=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t,
               j=Py_ssize_t, eq=Py_ssize_t, npos=Py_ssize_t, prog=str, a=str, key=str, rest=str,
               word=str, spec=tuple, kind=int, is_env=bint, is_xargs=bint, is_nice=bint, chdir=bint)
cpdef tuple unwrap(list argv, str cwd, dict env, object split_words)


# Lexical paths: a cd, an env -C or sudo -D, the shapes and the engine's path forms.
@cython.locals(full=str)
cpdef str join_path(str cwd, str path)


@cython.locals(head=str, out=list, seg=str, n=Py_ssize_t)
cpdef str normpath(str path)


# What a shell, an interpreter or a help request does with its arguments: asked of most
# commands, as C calls.
@cython.locals(k=Py_ssize_t, n=Py_ssize_t, saw_c=bint, stdin=bint, a=str)
cdef tuple _shell_options(list args)


@cython.locals(w=str, n=Py_ssize_t)
cdef bint _one_of(str word, tuple words) except -1


@cython.locals(k=Py_ssize_t, saw_c=bint)
cpdef Py_ssize_t shell_code_arg(list args) except -2


@cython.locals(k=Py_ssize_t, stdin=bint)
cpdef Py_ssize_t shell_script_arg(list args) except -2


@cython.locals(k=Py_ssize_t, n=Py_ssize_t, a=str)
cpdef Py_ssize_t interp_script_arg(str family, list args) except -2


@cython.locals(i=Py_ssize_t, n=Py_ssize_t, c=str)
cdef Py_ssize_t _cluster_code(str family, str a) except -4


@cython.locals(j=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t, eq=Py_ssize_t, a=str, bundled=bint)
cpdef tuple find_code(str family, object flags, list args)


cpdef bint help_request(str prog, list args, str path, object env, object shell_env) except -1


@cython.locals(j=Py_ssize_t)
cpdef object printed_text(str prog, list args, str cwd, object heredoc, str path=*)


# What every analysis checks of its command line first.
cdef Py_ssize_t _MAX_LENGTH


@cython.locals(text=str)
cpdef str check_command(object command)


@cython.locals(n=Py_ssize_t, k=Py_ssize_t, c=Py_UCS4)
cpdef bint scratch_named(str text) except -1


cdef frozenset _PRINTERS


# What a database client runs, and the files a call writes and runs (run_written): asked
# per client command and per command of a call that writes a file, as C calls.
@cython.locals(flags=tuple, files=tuple, parts=list, n=Py_ssize_t, k=Py_ssize_t, j=Py_ssize_t, eq=Py_ssize_t,
               a=str, name=str, value=str, pos=list)
cpdef str sql_text(str prog, list args, object stdin_code)


@cython.locals(targets=list, op=str, target=str, a=str)
cpdef list _write_targets(object sc)


cpdef object _write_text(object sc, object stdin_code)


@cython.locals(prog=str, args=list, k=Py_ssize_t, j=Py_ssize_t, a=str, name=str)
cpdef tuple _script_of(object c, str family)


@cython.locals(full=str)
cpdef object _runnable_kind(str cwd, str target)


cpdef bint _may_be_runnable(str cwd, str target) except -1
