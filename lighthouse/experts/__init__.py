"""Experts: the slow tier after the policy tier (see lighthouse.experts.base)."""

from .base import VERDICTS, Expert, ExpertAnswer, ExpertError, ExpertRequest, check_expert_answer

__all__ = ["Expert", "ExpertAnswer", "ExpertError", "ExpertRequest", "check_expert_answer", "VERDICTS"]
