"""The hot path: shell analysis, rule matching, the decision cache, the decoding of
ToolCall messages, and the shapes of escalated calls (lighthouse.patterns).

Each concern has a compiled module (``_x_c``, Cython) and a pure-Python twin (``_x_py``)
with the same API. This package picks one implementation at import: the compiled one,
unless ``LIGHTHOUSE_NO_EXTENSIONS=1`` is set or it is not built. ``COMPILED`` says which
was loaded; ``implementations()`` returns every implementation available, for tests and
benchmarks that compare them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ["engine", "shell", "wire", "shape", "COMPILED", "IMPLEMENTATION", "NO_EXTENSIONS", "implementations",
           "wire_implementations", "shape_implementations"]

NO_EXTENSIONS = os.environ.get("LIGHTHOUSE_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING:
    from . import _engine_py as engine
    from . import _shape_py as shape
    from . import _shell_py as shell
    from . import _wire_py as wire
    COMPILED = False
elif NO_EXTENSIONS:
    from . import _engine_py as engine
    from . import _shape_py as shape
    from . import _shell_py as shell
    from . import _wire_py as wire
    COMPILED = False
else:
    try:
        from . import _engine_c as engine
        from . import _shape_c as shape
        from . import _shell_c as shell
        from . import _wire_c as wire
        COMPILED = True
    except ImportError:
        from . import _engine_py as engine
        from . import _shape_py as shape
        from . import _shell_py as shell
        from . import _wire_py as wire
        COMPILED = False

IMPLEMENTATION = "compiled" if COMPILED else "pure"


def implementations():
    """{"pure": (shell, engine), "compiled": (shell, engine)} for what can be imported."""
    from . import _engine_py, _shell_py
    out = {"pure": (_shell_py, _engine_py)}
    try:
        from . import _engine_c, _shell_c
    except ImportError:
        return out
    out["compiled"] = (_shell_c, _engine_c)
    return out


def wire_implementations():
    """{"pure": module, "compiled": module} of the ToolCall decoders that can be imported."""
    from . import _wire_py
    out = {"pure": _wire_py}
    try:
        from . import _wire_c
    except ImportError:
        return out
    out["compiled"] = _wire_c
    return out


def shape_implementations():
    """{"pure": module, "compiled": module} of the call-shape kernels that can be imported
    (each takes the SimpleCommand objects of the shell analysis of the same implementation)."""
    from . import _shape_py
    out = {"pure": _shape_py}
    try:
        from . import _shape_c
    except ImportError:
        return out
    out["compiled"] = _shape_c
    return out
