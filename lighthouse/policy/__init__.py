"""The policy tier (T2): Rego policy over the calls the rule packs do not settle.

- :func:`build_input` makes the input document of an escalated call (input.schema.json).
- :class:`Policy` compiles the default policy and users' ``--policy`` directories with
  regorus and evaluates them in-process; :class:`PolicyRunner` runs those evaluations in
  worker processes for asyncio code (regorus holds the GIL while it evaluates).
- :class:`OpaClient` asks a real OPA server through its REST Data API instead.
- :class:`lighthouse.policy.inline.InlineDecider` decides calls as a server without
  experts does (rules, policy, fail mode), synchronously: ``lighthouse check``.

Every failure is a :class:`PolicyError` (never an allow); results are validated into a
:class:`PolicyResult`.
"""

from .engine import (DEFAULT_ENTRYPOINT, Policy, PolicyCompileError, PolicyError, PolicyEvalError,
                     PolicyResult, PolicyResultError, TestResult, guard_result, parse_result)
from .input import RuleFacts, build_input
from .opa import OpaClient, OpaError, OpaTimeout
from .runner import PolicyBusy, PolicyRunner, PolicyTimeout

__all__ = ["Policy", "PolicyResult", "PolicyError", "PolicyCompileError", "PolicyEvalError",
           "PolicyResultError", "TestResult", "parse_result", "guard_result", "build_input", "RuleFacts",
           "DEFAULT_ENTRYPOINT", "OpaClient", "OpaError", "OpaTimeout", "PolicyRunner", "PolicyBusy",
           "PolicyTimeout"]
