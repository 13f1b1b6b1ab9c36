"""Learned patterns: expert answers generalised by call shape.

- :mod:`lighthouse.patterns.shapes`: a call's shape (``pytest <ws-path> -k <word>``), or
  none for a call the analysis cannot fully see.
- :mod:`lighthouse.patterns.book`: the patterns in SQLite, how answers teach and retire
  them, review (approve, retire).
- :mod:`lighthouse.patterns.tier`: the escalation pipeline's pattern stage, between the
  policy tier and the experts.
- :mod:`lighthouse.patterns.cli`: ``lighthouse patterns list|show|approve|retire|promote|shape``.
"""

from __future__ import annotations

from .book import Pattern, PatternBook, PatternError, default_patterns_path
from .shapes import Shape, call_shape, why_no_shape
from .tier import PatternTier

__all__ = ["Pattern", "PatternBook", "PatternError", "PatternTier", "Shape", "call_shape", "default_patterns_path",
           "why_no_shape"]
