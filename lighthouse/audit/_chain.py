"""The writer process's work per record: its row (:class:`RowMaker`), the hash chain of
a commit's records (:func:`chain_rows`) and an SQLite log's commit of them
(:class:`Appender`), from the compiled module
(lighthouse.audit._chain_c) unless ``LIGHTHOUSE_NO_EXTENSIONS=1`` is set or it is not
built, else from the pure twins (lighthouse.audit._chain_py, and
lighthouse.audit.record.RowMaker); ``COMPILED`` says which. Both give the same rows and
hashes, and append the same rows to a log (tests/test_audit_chain.py). Kept apart from
lighthouse._fast, whose import loads the whole compiled hot path, so that the audit
writer process loads only this."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ["chain_rows", "RowMaker", "Appender", "COMPILED", "implementations", "row_makers", "appenders"]

NO_EXTENSIONS = os.environ.get("LIGHTHOUSE_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING:
    from ._chain_py import Appender, RowMaker, chain_rows
    COMPILED = False
elif NO_EXTENSIONS:
    from ._chain_py import Appender, RowMaker, chain_rows
    COMPILED = False
else:
    try:
        from ._chain_c import Appender, RowMaker, chain_rows
        COMPILED = True
    except ImportError:
        from ._chain_py import Appender, RowMaker, chain_rows
        COMPILED = False
    else:
        # Two copies of SQLite in one process do not see each other's POSIX locks on a
        # file (closing a descriptor in one drops the other's), and the writer process
        # holds connections of both: the compiled Appender only with the same library.
        from . import _chain_c, _chain_py
        if _chain_c.SQLITE_VERSION != _chain_py.SQLITE_VERSION:
            Appender = _chain_py.Appender


def _twins(name):
    """{"pure": X, "compiled": X} of the twins' attribute ``name``, for what can be imported."""
    from . import _chain_py
    out = {"pure": getattr(_chain_py, name)}
    try:
        from . import _chain_c
    except ImportError:
        return out
    out["compiled"] = getattr(_chain_c, name)
    return out


def implementations():
    """{"pure": chain_rows, "compiled": chain_rows} for what can be imported."""
    return _twins("chain_rows")


def row_makers():
    """{"pure": RowMaker, "compiled": RowMaker} for what can be imported."""
    return _twins("RowMaker")


def appenders():
    """{"pure": Appender, "compiled": Appender} for what can be imported."""
    return _twins("Appender")
