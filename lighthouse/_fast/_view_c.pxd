# Types for the compiled build of _view.py (module _view_c): what a command's view reads
# with its program's spec, as C functions the compiled engine cimports. The pure engine
# imports _view.py as it is; this file only changes how the same source is compiled
# (Cython's augmenting .pxd, as _toolinput_c.pxd does for _toolinput.py).
cimport cython


@cython.locals(n=Py_ssize_t)
cpdef list positional_writes(str mode, list positionals, Py_ssize_t base, Py_ssize_t data)


@cython.locals(out=list, n=Py_ssize_t)
cpdef list conditional_writes(object writes_if, object flags, object options, list positionals, Py_ssize_t base,
                              Py_ssize_t data)


@cython.locals(first=str, out=list, k=Py_ssize_t, ch=Py_UCS4, f=str)
cpdef list unbundle(list args, object value_options)
