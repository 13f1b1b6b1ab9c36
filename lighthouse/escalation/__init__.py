"""The slow tiers behind the fast path: the escalation pipeline (policy, then experts,
then the fail mode), its tier interface, circuit breakers, slow-decision cache and
counters. See lighthouse.escalation.pipeline."""

from .breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from .cache import CachedDecision, SlowDecisionCache
from .pipeline import EscalationPipeline, Outcome
from .stats import EscalationStats
from .tiers import Escalation, Stage, Tier, TierAnswer, TierUndecided, check_answer

__all__ = ["EscalationPipeline", "Outcome", "Escalation", "TierAnswer", "Tier", "Stage", "check_answer",
           "TierUndecided", "CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN", "SlowDecisionCache", "CachedDecision",
           "EscalationStats"]
