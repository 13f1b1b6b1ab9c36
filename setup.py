"""Build the Cython hot path. Set LIGHTHOUSE_CYTHON_TRACE=1 for line tracing and
annotated HTML (profiling and coverage of the compiled code).

LIGHTHOUSE_PGO=generate:DIR builds the extensions instrumented to write a profile into
DIR; LIGHTHOUSE_PGO=use:DIR builds them optimised with that profile (gcc). tools/pgo.py
runs both builds around a training workload; `make install` uses it.

The same build compiles the native hook client (lighthouse/hooks/native/lighthouse-hook.c,
the Claude Code hook without a Python start-up) into an executable inside the package,
with the C compiler that builds the extensions; LIGHTHOUSE_NO_NATIVE_HOOK=1 skips it (the
hook install then writes the Python hook). A compile error fails the build."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

TRACE = os.environ.get("LIGHTHOUSE_CYTHON_TRACE", "") not in ("", "0")
macros = [("CYTHON_TRACE_NOGIL", "1")] if TRACE else []
directives = {"language_level": 3, "boundscheck": False, "wraparound": False,
              "cdivision": True, "initializedcheck": False}
if TRACE:
    directives.update(linetrace=True, profile=True)

extensions = [
    Extension("lighthouse._fast._shell_c", ["lighthouse/_fast/_shell_c.pyx"], define_macros=macros),
    Extension("lighthouse._fast._cache_c", ["lighthouse/_fast/_cache_c.pyx"], define_macros=macros),
    Extension("lighthouse._fast._engine_c", ["lighthouse/_fast/_engine_c.pyx"], define_macros=macros),
    Extension("lighthouse._fast._wire_c", ["lighthouse/_fast/_wire_c.pyx"], define_macros=macros),
    # call shapes of escalated calls (lighthouse.patterns), from the engine's parse
    Extension("lighthouse._fast._shape_c", ["lighthouse/_fast/_shape_c.pyx"], define_macros=macros),
    # the audit log's hash chain (lighthouse.audit._chain), SHA-256 from OpenSSL's libcrypto
    # (its SHA256_* functions, deprecated in OpenSSL 3 for EVP, which costs more per record),
    # and its SQLite commits through the C API of the system's libsqlite3, the library
    # Python's sqlite3 module loads (Debian's libsqlite3-dev for the header)
    Extension("lighthouse.audit._chain_c", ["lighthouse/audit/_chain_c.pyx"],
              define_macros=macros + [("OPENSSL_SUPPRESS_DEPRECATED", None)], libraries=["crypto", "sqlite3"]),
]
# Shared Python source the compiled shell analyser calls per command (argv readers of
# particular programs, static output of substitutions), compiled as it is under a name of
# its own (_shell_shared.py -> _shell_shared_c), so that the pure twin keeps importing the
# source: one text, a compiled build for the compiled twin. Python's semantics, so none of
# the directives that drop Python's index checks.
shared = [
    Extension("lighthouse._fast._shell_shared_c", ["lighthouse/_fast/_shell_shared.py"], define_macros=macros),
    # the parsers' stand-alone scanners (arithmetic and function-definition ends,
    # redirection operators, $'...' strings, heredoc bodies), cimported by the compiled parser
    Extension("lighthouse._fast._shell_scan_c", ["lighthouse/_fast/_shell_scan.py"], define_macros=macros),
    # what a Write/Edit adds to a file that runs later: its kind is looked up per call
    Extension("lighthouse._fast._content_c", ["lighthouse/_fast/_content.py"], define_macros=macros),
    Extension("lighthouse._fast._side_c", ["lighthouse/_fast/_side.py"], define_macros=macros),
    # what inline interpreter code does (python -c, node -e, ...), handed to the shared
    # handlers by the compiled analyser's Kernel (the pure one hands them _inline.py)
    Extension("lighthouse._fast._inline_c", ["lighthouse/_fast/_inline.py"], define_macros=macros),
    # what the engine reads of a tool input besides its paths (input_error, asked of every
    # call but Bash; the text of its fields; SQL without its literals)
    Extension("lighthouse._fast._toolinput_c", ["lighthouse/_fast/_toolinput.py"], define_macros=macros),
    # what a command's view reads with its program's spec (old-style flags, conditional
    # writes, paths under a directory option), cimported by the compiled engine
    Extension("lighthouse._fast._view_c", ["lighthouse/_fast/_view.py"], define_macros=macros),
    # whether the SQL a database client or tool runs only reads (the sql_read_only and
    # sql_input_read_only keys), cimported by the compiled engine
    Extension("lighthouse._fast._sql_c", ["lighthouse/_fast/_sql.py"], define_macros=macros),
]

# A shared module's augmenting .pxd is named after its compiled module (_side_c.pxd types
# _side.py), which cythonize's dependency check does not connect to the source: the
# generated C is dropped when the .pxd is newer, so an edit to it is never ignored.
for ext in shared:
    source = ext.sources[0]
    typed = ext.name.replace(".", "/") + ".pxd"
    generated = source[:-3] + ".c"
    if os.path.exists(typed) and os.path.exists(generated) and os.path.getmtime(typed) > os.path.getmtime(generated):
        os.remove(generated)

shared_directives = {k: v for k, v in directives.items()
                     if k not in ("boundscheck", "wraparound", "cdivision", "initializedcheck")}


def pgo_flags(setting):
    """(compile flags, link flags) for a LIGHTHOUSE_PGO setting."""
    mode, _, where = setting.partition(":")
    if mode not in ("generate", "use") or not where:
        raise SystemExit("LIGHTHOUSE_PGO must be generate:DIR or use:DIR, not %r" % setting)
    if mode == "generate":
        flag = "-fprofile-generate=" + where
        return [flag], [flag]
    # partial training: code the workload never ran is optimised as usual, not for size
    return ["-fprofile-use=" + where, "-fprofile-correction", "-fprofile-partial-training"], []


NATIVE_HOOK = "lighthouse/hooks/native/lighthouse-hook.c"
NATIVE_FLAGS = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"]


class BuildExt(build_ext):
    def run(self):
        super().run()
        if os.environ.get("LIGHTHOUSE_NO_NATIVE_HOOK", "") in ("", "0"):
            self.build_native_hook()

    def build_native_hook(self):
        """Compile the native hook client into lighthouse/hooks/native/lighthouse-hook (in the
        source tree for an in-place or editable build, else in the build directory)."""
        where = os.path.dirname(NATIVE_HOOK)
        out_dir = where if self.inplace else os.path.join(self.build_lib, where)
        objects = self.compiler.compile([NATIVE_HOOK], output_dir=self.build_temp, extra_postargs=NATIVE_FLAGS)
        self.compiler.link_executable(objects, "lighthouse-hook", output_dir=out_dir, libraries=["m"])

    def build_extensions(self):
        setting = os.environ.get("LIGHTHOUSE_PGO", "")
        if setting:
            cflags, ldflags = pgo_flags(setting)
            for ext in self.extensions:
                ext.extra_compile_args = list(ext.extra_compile_args or []) + cflags
                ext.extra_link_args = list(ext.extra_link_args or []) + ldflags
        super().build_extensions()


setup(ext_modules=(cythonize(extensions, compiler_directives=directives, annotate=TRACE)
                   + cythonize(shared, compiler_directives=shared_directives, annotate=TRACE)),
      cmdclass={"build_ext": BuildExt})
