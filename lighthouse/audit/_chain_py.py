"""The hash chain over a commit's records, pure Python: the readable reference of
lighthouse.audit._chain_c (which lighthouse.audit._chain picks when it is built), with
the reference RowMaker (lighthouse.audit.record's). tests/test_audit_chain.py checks the
two against each other."""

from __future__ import annotations

import hashlib

from .record import RowMaker, seal

__all__ = ["chain_rows", "RowMaker"]

_sha256 = hashlib.sha256


def chain_rows(rows, seq, prev):
    """Chain ``rows`` after the record ``seq`` whose raw hash (32 bytes) is ``prev``.

    ``rows``: (INDEXED values, :func:`~lighthouse.audit.record.encode_tail`) pairs, as
    :func:`~lighthouse.audit.record.make_row` gives them. Returns ``(out, seq, prev)``:
    ``out`` the store's rows, each ``(seq, *INDEXED values, canonical text, hex hash)``
    with ``hash(n) = SHA-256(raw hash(n-1) || canonical(n))``, then the last seq and raw
    hash (``seq`` and ``prev`` again for no rows). A canonical text that is not ASCII
    raises UnicodeEncodeError."""
    if prev.__class__ is not bytes:
        raise TypeError("prev must be bytes, not %s" % type(prev).__name__)
    if seq < 0:
        raise ValueError("seq must not be negative, got %d" % seq)
    if len(prev) != 32:
        raise ValueError("prev must be a raw SHA-256 hash (32 bytes), got %d bytes" % len(prev))
    out = []
    append = out.append
    for indexed, tail in rows:
        if tail.__class__ is not str:
            raise TypeError("a row's tail must be str, not %s" % type(tail).__name__)
        seq += 1
        text = seal(seq, tail)
        prev = _sha256(prev + text.encode("ascii")).digest()
        append((seq,) + tuple(indexed) + (text, prev.hex()))
    return out, seq, prev
