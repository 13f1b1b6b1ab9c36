"""The writer process's work per record: its row (:class:`RowMaker`) and the hash chain of
a commit's records (:func:`chain_rows`), from the compiled module
(lighthouse.audit._chain_c) unless ``LIGHTHOUSE_NO_EXTENSIONS=1`` is set or it is not
built, else from the pure twins (lighthouse.audit._chain_py, and
lighthouse.audit.record.RowMaker); ``COMPILED`` says which. Both give the same rows and
hashes (tests/test_audit_chain.py). Kept apart from
lighthouse._fast, whose import loads the whole compiled hot path, so that the audit
writer process loads only this."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ["chain_rows", "RowMaker", "COMPILED", "implementations", "row_makers"]

NO_EXTENSIONS = os.environ.get("LIGHTHOUSE_NO_EXTENSIONS", "") not in ("", "0")

if TYPE_CHECKING:
    from ._chain_py import RowMaker, chain_rows
    COMPILED = False
elif NO_EXTENSIONS:
    from ._chain_py import RowMaker, chain_rows
    COMPILED = False
else:
    try:
        from ._chain_c import RowMaker, chain_rows
        COMPILED = True
    except ImportError:
        from ._chain_py import RowMaker, chain_rows
        COMPILED = False


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
