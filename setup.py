"""Build the Cython hot path. Set LIGHTHOUSE_CYTHON_TRACE=1 for line tracing and
annotated HTML (profiling and coverage of the compiled code)."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

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
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives, annotate=TRACE))
