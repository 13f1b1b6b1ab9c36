"""The words of a decision, in one place: verdicts, tiers, and their lighthouse.v1 enum values.

A Decision's ``verdict`` is one of :data:`VERDICTS` (anything but "allow" means the call
must not run unattended); its ``tier`` names what decided it, one of :data:`TIERS`. The
Validator in raw mode answers :data:`MISS` for a call no rule settles, which the server
turns into the fail-mode verdict.

On the wire (proto/lighthouse/v1/validation.proto) both are enums whose value 0 is
"unspecified": :data:`VERDICT_NAMES` and :data:`TIER_NAMES` are indexed by enum value,
:data:`VERDICT_CODES` and :data:`TIER_CODES` map a word to its value. The values are
written out here rather than read from the generated module, so that this module imports
nothing (the hook and the compiled hot path can import it at no cost, and without a
cycle); tests/test_vocab.py checks them against the generated module.
"""

__all__ = ["ALLOW", "ASK", "DENY", "MISS", "VERDICTS", "RAW_VERDICTS", "VERDICT_NAMES", "VERDICT_CODES",
           "CACHE", "RULES", "POLICY", "EXPERT", "FALLBACK", "PATTERN", "TIERS", "TIER_NAMES", "TIER_CODES",
           "VERDICT_UNSPECIFIED", "VERDICT_ALLOW", "VERDICT_ASK", "VERDICT_DENY",
           "TIER_UNSPECIFIED", "TIER_CACHE", "TIER_RULES", "TIER_POLICY", "TIER_EXPERT", "TIER_FALLBACK",
           "TIER_PATTERN",
           "outcome_index", "OUTCOMES", "PENDING_METADATA", "FALLBACK_METADATA"]

ALLOW, ASK, DENY = "allow", "ask", "deny"
MISS = "miss"
#: The verdicts a decision answers, from the most permissive to the strictest.
VERDICTS = (ALLOW, ASK, DENY)
#: What the rule engine answers: a verdict, or MISS when no rule settles the call (the
#: engine's own verdict codes are the indexes: allow 0, ask 1, deny 2, miss 3).
RAW_VERDICTS = VERDICTS + (MISS,)

CACHE, RULES, POLICY, EXPERT, FALLBACK, PATTERN = "cache", "rules", "policy", "expert", "fallback", "pattern"
#: The tiers that decide a call, from the fastest: the decision cache, the rule packs, a
#: policy engine and an expert (the slower tiers a server may escalate to), and the
#: fail-mode verdict when none settles it; a learned pattern (lighthouse.patterns) last, as
#: its enum value came last.
TIERS = (CACHE, RULES, POLICY, EXPERT, FALLBACK, PATTERN)

#: The initial metadata a server sends on a ValidateStream whose first event is an
#: escalation to a slower tier, before the decision: the seconds within which it answers,
#: and the verdict it answers if the slower tiers fail (the local socket's pending line,
#: for gRPC; unary clients receive initial metadata only with the answer).
PENDING_METADATA, FALLBACK_METADATA = "lighthouse-pending", "lighthouse-fallback"

# lighthouse.v1.Verdict and lighthouse.v1.Tier.
VERDICT_UNSPECIFIED, VERDICT_ALLOW, VERDICT_ASK, VERDICT_DENY = range(4)
TIER_UNSPECIFIED, TIER_CACHE, TIER_RULES, TIER_POLICY, TIER_EXPERT, TIER_FALLBACK, TIER_PATTERN = range(7)
VERDICT_NAMES = ("unspecified",) + VERDICTS     # index: enum value
TIER_NAMES = ("unspecified",) + TIERS
VERDICT_CODES = {name: code for code, name in enumerate(VERDICT_NAMES) if code}
TIER_CODES = {name: code for code, name in enumerate(TIER_NAMES) if code}

#: Outcomes (verdict, tier) counted apart, e.g. in the server's metrics: one index per
#: pair of enum values, ``verdict * len(TIER_NAMES) + tier`` (:func:`outcome_index`).
OUTCOMES = len(VERDICT_NAMES) * len(TIER_NAMES)


def outcome_index(verdict, tier):
    """The index of a (verdict, tier) pair of enum values among :data:`OUTCOMES`."""
    return verdict * len(TIER_NAMES) + tier
